import Foundation

/// Reads and writes JSON Lines: one JSON object per line, one key per column.
///
/// Numbers keep their kind (all integers → int64, any fraction → float64); strings that are all ISO dates
/// become date/timestamp columns (as the writer writes them); `null` or an absent key is missing;
/// nested arrays and objects are kept as their JSON text in a string column.
public enum JSONLines {
    /// Reads a JSON Lines file.
    public static func read(path: String) throws -> Table {
        let file = try MappedFile(path: path)
        return try read(bytes: file.bytes, name: path)
    }

    /// Reads JSON Lines text held in memory.
    public static func read(string: String, name: String = "<string>") throws -> Table {
        let bytes = Array(string.utf8)
        return try bytes.withUnsafeBufferPointer { try read(bytes: $0, name: name) }
    }

    /// Reads JSON Lines bytes held in memory (a request body); bytes that are not UTF-8 are an error naming the line.
    public static func read(bytes: [UInt8], name: String = "<bytes>") throws -> Table {
        try bytes.withUnsafeBufferPointer { try read(bytes: $0, name: name) }
    }

    static func read(bytes: UnsafeBufferPointer<UInt8>, name: String) throws -> Table {
        var names = [String]()
        var columnIndex = [String: Int]()
        var cells = [[Value]]()  // per column
        var rows = 0
        var lineStart = 0
        var line = 0
        let n = bytes.count
        while lineStart < n {
            line += 1
            var lineEnd = lineStart
            while lineEnd < n && bytes[lineEnd] != 10 { lineEnd += 1 }
            let object = try Self.object(bytes, from: lineStart, to: lineEnd, file: name, line: line)
            if let object {
                for (key, value) in object {
                    let c: Int
                    if let existing = columnIndex[key] {
                        c = existing
                    } else {
                        c = names.count
                        columnIndex[key] = c
                        names.append(key)
                        cells.append(Array(repeating: .missing, count: rows))
                    }
                    if cells[c].count > rows {
                        throw DataError.invalidJSON(
                            file: name, line: line, reason: "the key '\(key)' appears twice in one object")
                    }
                    cells[c].append(value)
                }
                rows += 1
                for c in 0..<cells.count where cells[c].count < rows { cells[c].append(.missing) }
            }
            lineStart = lineEnd + 1
        }
        return try Table(columns: zip(names, cells).map { try Column.inferring(name: $0, cells: $1) })
    }

    /// The JSON Lines text of a table; missing values are `null`, non-finite floats `NaN`/`Infinity` (as Python writes them).
    public static func string(_ table: Table) -> String {
        var out = JSONWriter(capacity: 64 * table.rowCount, nonFinite: .pythonLiterals)
        for r in 0..<table.rowCount {
            out.raw("{")
            for (i, c) in table.columns.enumerated() {
                if i > 0 { out.comma() }
                out.key(c.name)
                out.cell(c, r)
            }
            out.raw("}\n")
        }
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// Writes a table as JSON Lines, atomically.
    public static func write(_ table: Table, to path: String) throws {
        try AtomicFile.write(Data(string(table).utf8), to: path)
    }

    /// One line's object — `{ "key": value, … }` — with scalars as `Value`s (integers exact as int64) and nested
    /// arrays and objects as their JSON text; nil for a blank line. Errors name the file, line and character.
    static func object(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int, file: String, line: Int)
        throws -> [(String, Value)]?
    {
        var p = JSONParser(bytes, from: start, to: end, nonFiniteLiterals: true)
        func failure(_ message: String, at offset: Int) -> DataError {
            .invalidJSON(file: file, line: line, reason: "\(message) at character \(offset - start + 1)")
        }
        do {
            p.skipSpace()
            if p.atEnd { return nil }
            guard p.b[p.i] == UInt8(ascii: "{") else {
                throw p.fail("expected '{' (each line must be one JSON object)")
            }
            p.i += 1
            var members = [(String, Value)]()
            p.skipSpace()
            if !p.atEnd, p.b[p.i] == UInt8(ascii: "}") {
                p.i += 1
            } else {
                while true {
                    p.skipSpace()
                    guard !p.atEnd, p.b[p.i] == 34 else { throw p.fail("expected a quoted key") }
                    let key = try p.string()
                    p.skipSpace()
                    guard !p.atEnd, p.b[p.i] == UInt8(ascii: ":") else { throw p.fail("expected ':' after the key") }
                    p.i += 1
                    p.skipSpace()
                    members.append((key, try cell(&p)))
                    p.skipSpace()
                    guard !p.atEnd else { throw p.fail("the object is not closed with '}'") }
                    if p.b[p.i] == UInt8(ascii: ",") {
                        p.i += 1
                        continue
                    }
                    if p.b[p.i] == UInt8(ascii: "}") {
                        p.i += 1
                        break
                    }
                    throw p.fail("expected ',' or '}'")
                }
            }
            p.skipSpace()
            guard p.atEnd else { throw p.fail("unexpected text after the object") }
            return members
        } catch let f as JSONParser.Failure {
            throw failure(f.message, at: f.offset)
        }
    }

    /// A member's value as a cell.
    private static func cell(_ p: inout JSONParser) throws -> Value {
        guard !p.atEnd else { throw p.fail("expected a value") }
        let c = p.b[p.i]
        switch c {
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            if c == UInt8(ascii: "-"), p.i + 1 < p.n, p.b[p.i + 1] == UInt8(ascii: "I") { break }
            let start = p.i
            let (range, isInteger) = try p.numberToken()
            let base = p.b.baseAddress! + range.lowerBound
            if isInteger, let v = FieldParsing.parseInt(base, range.count) { return .int64(v) }
            if let d = FieldParsing.parseDouble(base, range.count) { return .float64(d) }
            p.i = start
            throw p.fail("invalid number")
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let start = p.i
            _ = try p.value(depth: 1)
            return .string(String(decoding: UnsafeBufferPointer(rebasing: p.b[start..<p.i]), as: UTF8.self))
        default: break
        }
        switch try p.value(depth: 1) {
        case .null: return .missing
        case .bool(let v): return .bool(v)
        case .number(let d): return .float64(d)
        case .string(let s): return .string(s)
        case .array, .object: return .missing  // handled above
        }
    }
}

extension Column {
    /// A column of the narrowest type that holds every cell without loss (all ints → int64, any float → float64,
    /// all booleans → bool, text that is all dates → date/timestamp, a mix of kinds → their text).
    public static func inferring(name: String, cells: [Value]) throws -> Column {
        var sawInt = false
        var sawFloat = false
        var sawBool = false
        var sawString = false
        for v in cells {
            switch v {
            case .int64: sawInt = true
            case .float64: sawFloat = true
            case .bool: sawBool = true
            case .string: sawString = true
            default: break
            }
        }
        let kinds = [sawInt || sawFloat, sawBool, sawString].filter { $0 }.count
        if kinds == 0 { return try Column(name: name, type: .float64, values: cells) }
        if kinds > 1 { return Column(name: name, strings: cells.map { $0.isMissing ? nil : $0.description }) }
        if sawBool { return try Column(name: name, type: .bool, values: cells) }
        if sawFloat {
            return Column(name: name, doubles: cells.map { $0.doubleValue })
        }
        if sawInt { return try Column(name: name, type: .int64, values: cells) }
        // Strings: dates written by the writer come back as dates.
        var allDates = true
        var allTimestamps = true
        for case .string(let s) in cells {
            FieldParsing.withBytes(s) { p, n in
                if allDates && FieldParsing.parseDate(p, n) == nil { allDates = false }
                if allTimestamps && FieldParsing.parseTimestamp(p, n) == nil { allTimestamps = false }
            }
            if !allDates && !allTimestamps { break }
        }
        if allDates || allTimestamps {
            let values: [Value] = cells.map { cell in
                guard case .string(let s) = cell else { return .missing }
                return FieldParsing.withBytes(s) { p, n in
                    allDates ? .date(FieldParsing.parseDate(p, n)!) : .timestamp(FieldParsing.parseTimestamp(p, n)!)
                }
            }
            return try Column(name: name, type: allDates ? .date : .timestamp, values: values)
        }
        return Column(
            name: name,
            strings: cells.map {
                if case .string(let s) = $0 { return s }
                return nil
            })
    }

}
