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

    static func read(bytes: UnsafeBufferPointer<UInt8>, name: String) throws -> Table {
        var names = [String]()
        var columnIndex = [String: Int]()
        var cells = [[Value]]() // per column
        var rows = 0
        var lineStart = 0
        var line = 0
        let n = bytes.count
        while lineStart < n {
            line += 1
            var lineEnd = lineStart
            while lineEnd < n && bytes[lineEnd] != 10 { lineEnd += 1 }
            var scanner = JSONScanner(bytes: bytes, position: lineStart, end: lineEnd, file: name, line: line)
            scanner.skipSpace()
            if !scanner.atEnd {
                let object = try scanner.parseTopLevelObject()
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
                        throw DataError.invalidJSON(file: name, line: line, reason: "the key '\(key)' appears twice in one object")
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
        var out = ""
        let keys = table.columnNames.map { jsonString($0) }
        for r in 0..<table.rowCount {
            out += "{"
            for (i, c) in table.columns.enumerated() {
                if i > 0 { out += "," }
                out += keys[i] + ":"
                switch c[r] {
                case .missing: out += "null"
                case .float64(let v):
                    if v.isNaN { out += "NaN" } else if v.isInfinite { out += v > 0 ? "Infinity" : "-Infinity" } else { out += formatDouble(v) }
                case .int64(let v): out += String(v)
                case .bool(let v): out += v ? "true" : "false"
                case .string(let s): out += jsonString(s)
                case .date, .timestamp: out += jsonString(c[r].description)
                }
            }
            out += "}\n"
        }
        return out
    }

    /// Writes a table as JSON Lines, atomically.
    public static func write(_ table: Table, to path: String) throws {
        try AtomicFile.write(Data(string(table).utf8), to: path)
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}

/// A strict JSON scanner over one line (RFC 8259, plus Python's NaN/Infinity), with positions for errors.
struct JSONScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var position: Int
    let end: Int
    let file: String
    let line: Int

    var atEnd: Bool { position >= end }

    func error(_ what: String) -> DataError {
        .invalidJSON(file: file, line: line, reason: "\(what) at character \(position - lineStartOffset + 1)")
    }

    private var lineStartOffset: Int {
        var s = position
        while s > 0 && bytes[s - 1] != 10 { s -= 1 }
        return s
    }

    mutating func skipSpace() {
        while position < end, bytes[position] == 32 || bytes[position] == 9 || bytes[position] == 13 { position += 1 }
    }

    mutating func expect(_ c: UInt8, _ what: String) throws {
        skipSpace()
        guard position < end, bytes[position] == c else { throw error("expected \(what)") }
        position += 1
    }

    /// `{ "key": value, … }` with scalar values kept as `Value`s and nested ones as JSON text.
    mutating func parseTopLevelObject() throws -> [(String, Value)] {
        try expect(123, "'{' (each line must be one JSON object)")
        var members = [(String, Value)]()
        skipSpace()
        if position < end, bytes[position] == 125 { position += 1; return try finish(members) }
        while true {
            skipSpace()
            guard position < end, bytes[position] == 34 else { throw error("expected a quoted key") }
            let key = try parseString()
            try expect(58, "':' after the key")
            skipSpace()
            members.append((key, try parseValue()))
            skipSpace()
            guard position < end else { throw error("the object is not closed with '}'") }
            if bytes[position] == 44 { position += 1; continue }
            if bytes[position] == 125 { position += 1; break }
            throw error("expected ',' or '}'")
        }
        return try finish(members)
    }

    private mutating func finish(_ members: [(String, Value)]) throws -> [(String, Value)] {
        skipSpace()
        guard atEnd else { throw error("unexpected text after the object") }
        return members
    }

    mutating func parseValue() throws -> Value {
        guard position < end else { throw error("expected a value") }
        let c = bytes[position]
        switch c {
        case 34: return .string(try parseString())
        case 123, 91:
            let start = position
            try skipNested()
            return .string(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self))
        case 116: try literal("true"); return .bool(true)
        case 102: try literal("false"); return .bool(false)
        case 110: try literal("null"); return .missing
        case 78: try literal("NaN"); return .float64(.nan)
        case 73: try literal("Infinity"); return .float64(.infinity)
        default:
            if c == 45, position + 1 < end, bytes[position + 1] == 73 {
                position += 1
                try literal("Infinity")
                return .float64(-.infinity)
            }
            return try parseNumber()
        }
    }

    private mutating func literal(_ word: String) throws {
        for b in word.utf8 {
            guard position < end, bytes[position] == b else { throw error("expected '\(word)'") }
            position += 1
        }
    }

    private mutating func parseNumber() throws -> Value {
        let start = position
        while position < end, let b = Optional(bytes[position]), (b >= 48 && b <= 57) || b == 45 || b == 43 || b == 46 || b == 101 || b == 69 {
            position += 1
        }
        let count = position - start
        guard count > 0, let base = bytes.baseAddress else { throw error("expected a value") }
        let isInteger = !UnsafeBufferPointer(rebasing: bytes[start..<position]).contains { $0 == 46 || $0 == 101 || $0 == 69 }
        if isInteger, let v = FieldParsing.parseInt(base + start, count) { return .int64(v) }
        if let d = FieldParsing.parseDouble(base + start, count) { return .float64(d) }
        position = start
        throw error("invalid number")
    }

    mutating func parseString() throws -> String {
        position += 1 // opening quote
        var out = [UInt8]()
        while true {
            guard position < end else { throw error("unterminated string") }
            let b = bytes[position]
            if b == 34 { position += 1; break }
            if b == 92 {
                position += 1
                guard position < end else { throw error("unterminated escape") }
                let e = bytes[position]
                position += 1
                switch e {
                case 34: out.append(34)
                case 92: out.append(92)
                case 47: out.append(47)
                case 98: out.append(8)
                case 102: out.append(12)
                case 110: out.append(10)
                case 114: out.append(13)
                case 116: out.append(9)
                case 117:
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) { // surrogate pair
                        guard position + 1 < end, bytes[position] == 92, bytes[position + 1] == 117 else { throw error("unpaired surrogate") }
                        position += 2
                        let low = try hex4()
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                    out.append(contentsOf: Array(String(Character(u)).utf8))
                default: throw error("invalid escape '\\\(String(decoding: [e], as: UTF8.self))'")
                }
                continue
            }
            out.append(b)
            position += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    private mutating func hex4() throws -> UInt32 {
        guard position + 4 <= end else { throw error("short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[position]
            let d: UInt32
            switch b {
            case 48...57: d = UInt32(b - 48)
            case 97...102: d = UInt32(b - 87)
            case 65...70: d = UInt32(b - 55)
            default: throw error("invalid hex digit in \\u escape")
            }
            v = v * 16 + d
            position += 1
        }
        return v
    }

    /// Skips a nested array or object, strings included.
    private mutating func skipNested() throws {
        var depth = 0
        while position < end {
            let b = bytes[position]
            if b == 34 { _ = try parseString(); continue }
            if b == 123 || b == 91 { depth += 1 }
            if b == 125 || b == 93 {
                depth -= 1
                if depth == 0 { position += 1; return }
            }
            position += 1
        }
        throw error("unterminated array or object")
    }
}

extension Column {
    /// A column of the narrowest type that holds every cell without loss (all ints → int64, any float → float64,
    /// all booleans → bool, text that is all dates → date/timestamp, a mix of kinds → their text).
    public static func inferring(name: String, cells: [Value]) throws -> Column {
        var sawInt = false, sawFloat = false, sawBool = false, sawString = false
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
        var allDates = true, allTimestamps = true
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
        return Column(name: name, strings: cells.map { if case .string(let s) = $0 { return s }; return nil })
    }

}
