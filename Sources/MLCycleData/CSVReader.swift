import Foundation

/// How to read a CSV file.
public struct CSVOptions: Sendable {
    /// Missing-value tokens used when none are given: empty, `NA`, `NaN`, `null`, `N/A`.
    public static let defaultMissingTokens = ["", "NA", "NaN", "null", "N/A"]

    /// The field delimiter: one ASCII character (`,` `;` `\t` `|` …).
    public var delimiter: Character
    /// Whether the first record names the columns (otherwise they are `column_1`, `column_2`, …).
    public var hasHeader: Bool
    /// Unquoted fields equal to one of these are missing; a quoted field is always a value.
    public var missingTokens: [String]
    /// Column types that override inference, by column name.
    public var columnTypes: [String: DataType]
    /// Threads to parse with; 0 uses every core.
    public var threads: Int
    /// Skip lines that are completely empty (as pandas does) instead of reading them as a record.
    public var skipBlankLines: Bool

    public init(delimiter: Character = ",", hasHeader: Bool = true,
                missingTokens: [String] = CSVOptions.defaultMissingTokens,
                columnTypes: [String: DataType] = [:], threads: Int = 0, skipBlankLines: Bool = true) {
        self.delimiter = delimiter
        self.hasHeader = hasHeader
        self.missingTokens = missingTokens
        self.columnTypes = columnTypes
        self.threads = threads
        self.skipBlankLines = skipBlankLines
    }
}

/// Reads RFC 4180 CSV into a `Table`, inferring each column's type from all of its values.
///
/// Type inference tries, in order, int64 → float64 → date → timestamp → bool → string, and picks the first
/// type that reads every non-missing value without loss (so `007` keeps a column textual, and an integer too
/// large for int64 is never rounded into a float). Files are memory-mapped and parsed on all cores.
public enum CSVReader {
    /// Reads a CSV file.
    public static func read(path: String, options: CSVOptions = CSVOptions()) throws -> Table {
        let file = try MappedFile(path: path)
        if file.bytes.isEmpty { throw DataError.emptyFile(path: path) }
        return try CSVParser(bytes: file.bytes, fileName: path, options: options).parse()
    }

    /// Reads CSV text held in memory; `name` stands for the file name in error messages.
    public static func read(string: String, name: String = "<string>", options: CSVOptions = CSVOptions()) throws -> Table {
        let file = MappedFile(copying: Array(string.utf8))
        if file.bytes.isEmpty { throw DataError.emptyFile(path: name) }
        return try CSVParser(bytes: file.bytes, fileName: name, options: options).parse()
    }
}

/// One field of a record: where its content is, and whether it was quoted (and holds doubled quotes).
struct FieldSpan {
    var start: Int = 0
    var length: Int = 0
    var quoted: Bool = false
    var escaped: Bool = false
}

/// A malformed record found while tokenizing; turned into a `DataError` with a line number by the parser.
struct TokenizeError: Error {
    enum Kind { case unexpectedAfterQuote(UInt8), unterminatedQuote }
    let kind: Kind
    let offset: Int
    let field: Int
}

struct CSVParser: @unchecked Sendable { // read-only view of the file's bytes, shared by the parsing tasks
    static let quote: UInt8 = 34, lf: UInt8 = 10, cr: UInt8 = 13

    let p: UnsafePointer<UInt8>
    let n: Int
    let fileName: String
    let options: CSVOptions
    let delimiter: UInt8
    let missing: MissingTokens

    init(bytes: UnsafeBufferPointer<UInt8>, fileName: String, options: CSVOptions) throws {
        guard let d = options.delimiter.asciiValue, d != Self.quote, d != Self.lf, d != Self.cr else {
            throw DataError.invalidArgument("the CSV delimiter must be one ASCII character other than a quote or a line break, not '\(options.delimiter)'")
        }
        self.p = bytes.baseAddress!
        self.n = bytes.count
        self.fileName = fileName
        self.options = options
        self.delimiter = d
        self.missing = MissingTokens(options.missingTokens)
    }

    // MARK: Pass 1: record boundaries (sequential; quotes decide where a record ends)

    /// Start and end offsets of every non-blank record; `end` excludes the line break.
    func scanRecords(from begin: Int) throws -> (starts: [Int], ends: [Int]) {
        var starts = [Int](), ends = [Int]()
        starts.reserveCapacity(n / 48 + 1)
        ends.reserveCapacity(n / 48 + 1)
        let delim = delimiter, quote = Self.quote, lf = Self.lf, cr = Self.cr
        let skipBlank = options.skipBlankLines
        var i = begin
        var recordStart = begin
        var fieldIndex = 0
        var fieldStart = true
        @inline(__always) func endRecord(_ end: Int) {
            if !(skipBlank && end == recordStart) {
                starts.append(recordStart)
                ends.append(end)
            }
        }
        while i < n {
            let b = p[i]
            if b == quote && fieldStart {
                let openedAt = i
                i += 1
                while true {
                    guard i < n, let q = memchr(p + i, Int32(quote), n - i) else {
                        throw DataError.unterminatedQuote(file: fileName, line: lineNumber(at: openedAt),
                                                          column: fieldIndex + 1, columnName: nil)
                    }
                    i = UnsafePointer<UInt8>(q.assumingMemoryBound(to: UInt8.self)) - p
                    if i + 1 < n && p[i + 1] == quote { i += 2; continue }
                    i += 1
                    break
                }
                fieldStart = false
                continue
            }
            if b == delim {
                fieldIndex += 1
                fieldStart = true
            } else if b == lf {
                endRecord(i > recordStart && p[i - 1] == cr ? i - 1 : i)
                recordStart = i + 1
                fieldIndex = 0
                fieldStart = true
            } else if b == cr && (i + 1 >= n || p[i + 1] != lf) { // a lone CR (old Mac files) ends a line too
                endRecord(i)
                recordStart = i + 1
                fieldIndex = 0
                fieldStart = true
            } else {
                fieldStart = false
            }
            i += 1
        }
        if recordStart < n { endRecord(n) }
        return (starts, ends)
    }

    /// 1-based line number of a byte offset (only computed for error messages).
    func lineNumber(at offset: Int) -> Int {
        var line = 1
        var i = 0
        while i < offset && i < n {
            if p[i] == Self.lf || (p[i] == Self.cr && (i + 1 >= n || p[i + 1] != Self.lf)) { line += 1 }
            i += 1
        }
        return line
    }

    // MARK: Tokenizing one record

    /// Splits the record `[s, e)` into fields; returns the number of fields (spans beyond `capacity` are not stored).
    @inline(__always)
    func tokenize(_ s: Int, _ e: Int, into spans: UnsafeMutablePointer<FieldSpan>, capacity: Int) throws(TokenizeError) -> Int {
        let delim = delimiter, quote = Self.quote
        var i = s
        var f = 0
        while true {
            var span = FieldSpan()
            if i < e && p[i] == quote {
                let contentStart = i + 1
                var j = contentStart
                var escaped = false
                while true {
                    while j < e && p[j] != quote { j += 1 }
                    guard j < e else { throw TokenizeError(kind: .unterminatedQuote, offset: i, field: f) }
                    if j + 1 < e && p[j + 1] == quote { escaped = true; j += 2; continue }
                    break
                }
                span = FieldSpan(start: contentStart, length: j - contentStart, quoted: true, escaped: escaped)
                i = j + 1
                if i < e && p[i] != delim {
                    throw TokenizeError(kind: .unexpectedAfterQuote(p[i]), offset: i, field: f)
                }
            } else {
                var j = i
                while j < e && p[j] != delim { j += 1 }
                span = FieldSpan(start: i, length: j - i, quoted: false, escaped: false)
                i = j
            }
            if f < capacity { spans[f] = span }
            f += 1
            if i >= e { break }
            i += 1 // the delimiter
        }
        return f
    }

    /// The text of a field with doubled quotes undone.
    func unescapedBytes(_ span: FieldSpan) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(span.length)
        var k = span.start
        let end = span.start + span.length
        while k < end {
            out.append(p[k])
            k += (p[k] == Self.quote && k + 1 < end && p[k + 1] == Self.quote) ? 2 : 1
        }
        return out
    }

    func fieldString(_ span: FieldSpan) -> String {
        if span.escaped { return String(decoding: unescapedBytes(span), as: UTF8.self) }
        return String(decoding: UnsafeBufferPointer(start: p + span.start, count: span.length), as: UTF8.self)
    }

    func dataError(_ error: TokenizeError, names: [String]?) -> DataError {
        let line = lineNumber(at: error.offset)
        let name = names.flatMap { error.field < $0.count ? $0[error.field] : nil }
        switch error.kind {
        case .unterminatedQuote:
            return .unterminatedQuote(file: fileName, line: line, column: error.field + 1, columnName: name)
        case .unexpectedAfterQuote(let c):
            return .unexpectedCharacterAfterQuote(file: fileName, line: line, column: error.field + 1, columnName: name,
                                                  character: String(decoding: [c], as: UTF8.self))
        }
    }

    // MARK: The whole file

    func parse() throws -> Table {
        var begin = 0
        if n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF { begin = 3 } // UTF-8 byte-order mark
        let records: (starts: [Int], ends: [Int])
        do {
            records = try scanRecords(from: begin)
        } catch DataError.unterminatedQuote(let file, let line, let column, _) {
            throw DataError.unterminatedQuote(file: file, line: line, column: column,
                                              columnName: line > 1 ? bestEffortHeader(begin).flatMap { column <= $0.count ? $0[column - 1] : nil } : nil)
        }
        guard !records.starts.isEmpty else { throw DataError.emptyFile(path: fileName) }

        // Header
        let firstCount = try fieldCount(records.starts[0], records.ends[0], names: nil)
        var spans = [FieldSpan](repeating: FieldSpan(), count: firstCount)
        do {
            _ = try spans.withUnsafeMutableBufferPointer { b throws(TokenizeError) in
                try tokenize(records.starts[0], records.ends[0], into: b.baseAddress!, capacity: firstCount)
            }
        } catch { throw dataError(error, names: nil) }
        let names: [String]
        if options.hasHeader {
            names = Self.uniqueNames(spans.map { fieldString($0) })
        } else {
            names = (1...firstCount).map { "column_\($0)" }
        }
        for key in options.columnTypes.keys where !names.contains(key) {
            throw DataError.columnNotFound(name: key, available: names)
        }
        let firstData = options.hasHeader ? 1 : 0
        let rowCount = records.starts.count - firstData
        let columnCount = names.count

        if rowCount == 0 {
            return try Table(columns: names.map { name in
                let type = options.columnTypes[name] ?? .string
                return try Column(name: name, type: type, values: [])
            })
        }

        let threadCount = options.threads > 0 ? options.threads : ProcessInfo.processInfo.activeProcessorCount
        let chunkCount = rowCount < 20_000 || threadCount == 1 ? 1 : min(threadCount * 8, rowCount / 2_000)
        let chunkBounds = (0...chunkCount).map { firstData + rowCount * $0 / chunkCount }

        // Pass 2: which type each column can be read as (skipped for columns with a given type).
        var types = names.map { options.columnTypes[$0] }
        if types.contains(where: { $0 == nil }) {
            let inferred = try inferTypes(records: records, chunkBounds: chunkBounds, names: names, fixed: types)
            for c in 0..<columnCount where types[c] == nil { types[c] = inferred[c] }
        }
        // Pass 3: convert into typed columns.
        let columns = try convert(records: records, chunkBounds: chunkBounds, names: names,
                                  types: types.map { $0 ?? .string }, rowCount: rowCount, firstData: firstData)
        return try Table(columns: columns)
    }

    private func fieldCount(_ s: Int, _ e: Int, names: [String]?) throws -> Int {
        var dummy = FieldSpan()
        do {
            return try tokenize(s, e, into: &dummy, capacity: 0)
        } catch { throw dataError(error, names: names) }
    }

    /// Header names for an error message when the header could not be read normally.
    private func bestEffortHeader(_ begin: Int) -> [String]? {
        guard options.hasHeader, let lfPtr = memchr(p + begin, Int32(Self.lf), n - begin) else { return nil }
        let end = UnsafePointer<UInt8>(lfPtr.assumingMemoryBound(to: UInt8.self)) - p
        let line = String(decoding: UnsafeBufferPointer(start: p + begin, count: end - begin), as: UTF8.self)
        return line.split(separator: Character(UnicodeScalar(delimiter)), omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"\r")) }
    }

    /// Empty names become `column_N`; a repeated name gets `.1`, `.2`, … as in pandas.
    static func uniqueNames(_ raw: [String]) -> [String] {
        var seen = Set<String>()
        var out = [String]()
        for (i, r) in raw.enumerated() {
            var name = r.isEmpty ? "column_\(i + 1)" : r
            if seen.contains(name) {
                var k = 1
                while seen.contains("\(name).\(k)") { k += 1 }
                name = "\(name).\(k)"
            }
            seen.insert(name)
            out.append(name)
        }
        return out
    }

    // MARK: Pass 2

    private func inferTypes(records: (starts: [Int], ends: [Int]), chunkBounds: [Int], names: [String], fixed: [DataType?]) throws -> [DataType] {
        let columnCount = names.count
        struct ChunkResult { var masks: [UInt8]; var sawValue: [Bool]; var error: DataError? }
        let results = ParallelSlots<ChunkResult>(chunkBounds.count - 1)
        let starts = records.starts, ends = records.ends
        parallelFor(chunkBounds.count - 1) { chunk in
            var masks = [UInt8](repeating: FieldParsing.allBits, count: columnCount)
            var saw = [Bool](repeating: false, count: columnCount)
            for c in 0..<columnCount where fixed[c] != nil { masks[c] = 0 }
            var error: DataError? = nil
            let spans = UnsafeMutablePointer<FieldSpan>.allocate(capacity: columnCount)
            defer { spans.deallocate() }
            starts.withUnsafeBufferPointer { starts in
                ends.withUnsafeBufferPointer { ends in
                    for r in chunkBounds[chunk]..<chunkBounds[chunk + 1] {
                        let count: Int
                        do throws(TokenizeError) {
                            count = try tokenize(starts[r], ends[r], into: spans, capacity: columnCount)
                        } catch let e {
                            error = dataError(e, names: names)
                            return
                        }
                        if count != columnCount {
                            error = .raggedRow(file: fileName, line: lineNumber(at: starts[r]), expected: columnCount, found: count)
                            return
                        }
                        for c in 0..<columnCount where masks[c] != 0 || !saw[c] {
                            let s = spans[c]
                            if !s.quoted && missing.matches(p + s.start, s.length) { continue }
                            saw[c] = true
                            if masks[c] != 0 { masks[c] &= FieldParsing.classify(p + s.start, s.length) }
                        }
                    }
                }
            }
            results[chunk] = ChunkResult(masks: masks, sawValue: saw, error: error)
        }
        var masks = [UInt8](repeating: FieldParsing.allBits, count: columnCount)
        var saw = [Bool](repeating: false, count: columnCount)
        for result in results.values {
            guard let result else { continue }
            if let e = result.error { throw e }
            for c in 0..<columnCount {
                masks[c] &= result.masks[c]
                saw[c] = saw[c] || result.sawValue[c]
            }
        }
        return (0..<columnCount).map { c in
            let m = masks[c]
            if !saw[c] { return .float64 } // every value missing: numeric, as pandas reads it
            if m & FieldParsing.intBit != 0 { return .int64 }
            if m & FieldParsing.floatBit != 0 { return .float64 }
            if m & FieldParsing.dateBit != 0 { return .date }
            if m & FieldParsing.timestampBit != 0 { return .timestamp }
            if m & FieldParsing.boolBit != 0 { return .bool }
            return .string
        }
    }

    // MARK: Pass 3

    private final class ColumnBuffers: @unchecked Sendable {
        let doubles: SharedBuffer<Double>?
        let ints: SharedBuffer<Int64>?
        let bools: SharedBuffer<Bool>?
        let codes: SharedBuffer<UInt32>?
        let validity: SharedBuffer<Bool>
        init(type: DataType, rows: Int) {
            doubles = type == .float64 ? SharedBuffer(count: rows, initial: 0) : nil
            ints = type == .int64 || type == .date || type == .timestamp ? SharedBuffer(count: rows, initial: 0) : nil
            bools = type == .bool ? SharedBuffer(count: rows, initial: false) : nil
            codes = type == .string ? SharedBuffer(count: rows, initial: 0) : nil
            validity = SharedBuffer(count: rows, initial: true)
        }
    }

    private func convert(records: (starts: [Int], ends: [Int]), chunkBounds: [Int], names: [String],
                         types: [DataType], rowCount: Int, firstData: Int) throws -> [Column] {
        let columnCount = names.count
        let buffers = types.map { ColumnBuffers(type: $0, rows: rowCount) }
        struct ChunkResult { var interners: [ByteInterner?]; var anyMissing: [Bool]; var error: DataError? }
        let results = ParallelSlots<ChunkResult>(chunkBounds.count - 1)
        let starts = records.starts, ends = records.ends
        parallelFor(chunkBounds.count - 1) { chunk in
            var interners: [ByteInterner?] = types.map { $0 == .string ? ByteInterner() : nil }
            var anyMissing = [Bool](repeating: false, count: columnCount)
            var error: DataError? = nil
            let spans = UnsafeMutablePointer<FieldSpan>.allocate(capacity: columnCount)
            defer { spans.deallocate() }
            starts.withUnsafeBufferPointer { starts in
                ends.withUnsafeBufferPointer { ends in
                    for r in chunkBounds[chunk]..<chunkBounds[chunk + 1] {
                        let row = r - firstData
                        let count: Int
                        do throws(TokenizeError) {
                            count = try tokenize(starts[r], ends[r], into: spans, capacity: columnCount)
                        } catch let e {
                            error = dataError(e, names: names)
                            return
                        }
                        if count != columnCount {
                            error = .raggedRow(file: fileName, line: lineNumber(at: starts[r]), expected: columnCount, found: count)
                            return
                        }
                        for c in 0..<columnCount {
                            let s = spans[c]
                            let b = buffers[c]
                            if !s.quoted && missing.matches(p + s.start, s.length) {
                                b.validity.pointer[row] = false
                                anyMissing[c] = true
                                continue
                            }
                            let fp = p + s.start
                            var ok = true
                            switch types[c] {
                            case .float64:
                                if let v = FieldParsing.parseDouble(fp, s.length) { b.doubles!.pointer[row] = v } else { ok = false }
                            case .int64:
                                if let v = FieldParsing.parseInt(fp, s.length) ?? lenientInt(fp, s.length) { b.ints!.pointer[row] = v } else { ok = false }
                            case .date:
                                if let v = FieldParsing.parseDate(fp, s.length) { b.ints!.pointer[row] = v } else { ok = false }
                            case .timestamp:
                                if let v = FieldParsing.parseTimestamp(fp, s.length) { b.ints!.pointer[row] = v } else { ok = false }
                            case .bool:
                                if let v = FieldParsing.parseBool(fp, s.length) { b.bools!.pointer[row] = v } else { ok = false }
                            case .string:
                                if s.escaped {
                                    let bytes = unescapedBytes(s)
                                    b.codes!.pointer[row] = bytes.withUnsafeBufferPointer { ub in
                                        var zero: UInt8 = 0
                                        return interners[c]!.intern(ub.baseAddress ?? withUnsafePointer(to: &zero) { $0 }, ub.count)
                                    }
                                } else {
                                    b.codes!.pointer[row] = interners[c]!.intern(fp, s.length)
                                }
                            }
                            if !ok {
                                error = .invalidValue(file: fileName, line: lineNumber(at: starts[r]), column: c + 1,
                                                      columnName: names[c], value: fieldString(s), expected: types[c])
                                return
                            }
                        }
                    }
                }
            }
            results[chunk] = ChunkResult(interners: interners, anyMissing: anyMissing, error: error)
        }
        let chunkResults = results.values.compactMap { $0 }
        for r in chunkResults { if let e = r.error { throw e } }

        var columns = [Column]()
        columns.reserveCapacity(columnCount)
        for c in 0..<columnCount {
            let b = buffers[c]
            let hasMissing = chunkResults.contains { $0.anyMissing[c] }
            let validity = hasMissing ? b.validity.toArray() : nil
            let storage: Column.Storage
            switch types[c] {
            case .float64: storage = .float64(b.doubles!.toArray())
            case .int64: storage = .int64(b.ints!.toArray())
            case .date: storage = .date(b.ints!.toArray())
            case .timestamp: storage = .timestamp(b.ints!.toArray())
            case .bool: storage = .bool(b.bools!.toArray())
            case .string:
                storage = mergeDictionaries(codes: b.codes!, chunkBounds: chunkBounds, firstData: firstData,
                                            interners: chunkResults.map { $0.interners[c]! })
            }
            columns.append(Column(name: names[c], storage: storage, validity: validity))
        }
        return columns
    }

    /// Integers with leading zeros, accepted only when the user asked for an int64 column.
    private func lenientInt(_ fp: UnsafePointer<UInt8>, _ n: Int) -> Int64? {
        let text = String(decoding: UnsafeBufferPointer(start: fp, count: n), as: UTF8.self).trimmingCharacters(in: .whitespaces)
        return Int64(text)
    }

    /// Each chunk coded its strings on its own; give them one dictionary in order of first appearance.
    private func mergeDictionaries(codes: SharedBuffer<UInt32>, chunkBounds: [Int], firstData: Int, interners: [ByteInterner]) -> Column.Storage {
        if interners.count == 1 {
            return .string(codes: codes.toArray(), dictionary: interners[0].strings())
        }
        var global = ByteInterner(capacity: interners.map(\.count).max() ?? 16)
        let remaps = interners.map { local in
            (0..<local.count).map { e in local.withBytes(e) { global.intern($0, $1) } }
        }
        parallelFor(interners.count) { chunk in
            let remap = remaps[chunk]
            for r in (chunkBounds[chunk] - firstData)..<(chunkBounds[chunk + 1] - firstData) {
                codes.pointer[r] = remap[Int(codes.pointer[r])]
            }
        }
        return .string(codes: codes.toArray(), dictionary: global.strings())
    }
}

/// The missing-value tokens as bytes, for a fast check per field.
struct MissingTokens: Sendable {
    let tokens: [[UInt8]]
    let matchesEmpty: Bool
    let maxLength: Int

    init(_ tokens: [String]) {
        self.tokens = tokens.filter { !$0.isEmpty }.map { Array($0.utf8) }
        matchesEmpty = tokens.contains("")
        maxLength = self.tokens.map(\.count).max() ?? 0
    }

    @inline(__always)
    func matches(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        if n == 0 { return matchesEmpty }
        if n > maxLength { return false }
        for t in tokens where t.count == n {
            var equal = true
            for k in 0..<n where t[k] != p[k] { equal = false; break }
            if equal { return true }
        }
        return false
    }
}
