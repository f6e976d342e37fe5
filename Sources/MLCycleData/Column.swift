/// The type of a column's values.
public enum DataType: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case float64, int64, bool, string, date, timestamp

    /// True for `float64` and `int64`.
    public var isNumeric: Bool { self == .float64 || self == .int64 }
    /// True for `date` and `timestamp`.
    public var isTemporal: Bool { self == .date || self == .timestamp }
    public var description: String { rawValue }
}

/// One cell of a table, for row-at-a-time access (hot loops use the column buffers instead).
public enum Value: Hashable, Sendable, CustomStringConvertible {
    case missing
    case float64(Double)
    case int64(Int64)
    case bool(Bool)
    case string(String)
    /// Days since 1970-01-01.
    case date(Int64)
    /// Microseconds since 1970-01-01T00:00:00Z.
    case timestamp(Int64)

    public var isMissing: Bool { if case .missing = self { return true } else { return false } }

    /// The value as a number where it has one (numbers, booleans as 0/1, dates as days, timestamps as microseconds).
    public var doubleValue: Double? {
        switch self {
        case .missing, .string: return nil
        case .float64(let v): return v
        case .int64(let v): return Double(v)
        case .bool(let v): return v ? 1 : 0
        case .date(let v), .timestamp(let v): return Double(v)
        }
    }

    /// The text this value is written as in CSV (empty for missing).
    public var description: String {
        switch self {
        case .missing: return ""
        case .float64(let v): return formatDouble(v)
        case .int64(let v): return String(v)
        case .bool(let v): return v ? "true" : "false"
        case .string(let s): return s
        case .date(let d): return CalendarDate.isoString(days: d)
        case .timestamp(let t): return CalendarDate.isoString(microseconds: t)
        }
    }
}

/// Shortest text that reads back to the same `Double` (`1.0`, `0.1`, `1e+300`, `inf`).
@inlinable
public func formatDouble(_ v: Double) -> String {
    if v.isNaN { return "NaN" }
    if v.isInfinite { return v > 0 ? "inf" : "-inf" }
    return v.description
}

/// A named, typed column with a validity mask for missing values.
///
/// Storage is contiguous per type; strings are dictionary-encoded (a code per row into `dictionary`).
/// The value stored at a missing row is a placeholder (0, or code 0) and must not be read as data.
public struct Column: Sendable {
    /// The typed storage of a column.
    public enum Storage: Sendable {
        case float64([Double])
        case int64([Int64])
        case bool([Bool])
        /// A code per row into `dictionary`; the dictionary holds each distinct string once.
        case string(codes: [UInt32], dictionary: [String])
        /// Days since 1970-01-01.
        case date([Int64])
        /// Microseconds since 1970-01-01T00:00:00Z.
        case timestamp([Int64])
    }

    public let name: String
    public let storage: Storage
    /// `nil` when no value is missing; otherwise `validity[row]` is false for a missing value.
    public let validity: [Bool]?

    /// Creates a column; `validity` must have one entry per row when given.
    public init(name: String, storage: Storage, validity: [Bool]? = nil) {
        self.name = name
        self.storage = storage
        if let validity, !validity.contains(false) {
            self.validity = nil
        } else {
            self.validity = validity
        }
    }

    public var count: Int {
        switch storage {
        case .float64(let v): return v.count
        case .int64(let v), .date(let v), .timestamp(let v): return v.count
        case .bool(let v): return v.count
        case .string(let codes, _): return codes.count
        }
    }

    public var type: DataType {
        switch storage {
        case .float64: return .float64
        case .int64: return .int64
        case .bool: return .bool
        case .string: return .string
        case .date: return .date
        case .timestamp: return .timestamp
        }
    }

    /// Number of missing values.
    public var missingCount: Int {
        guard let validity else { return 0 }
        var n = 0
        for v in validity where !v { n += 1 }
        return n
    }

    @inlinable
    public func isValid(_ row: Int) -> Bool { validity?[row] ?? true }

    /// The value at `row` (`.missing` where missing).
    public subscript(row: Int) -> Value {
        guard isValid(row) else { return .missing }
        switch storage {
        case .float64(let v): return .float64(v[row])
        case .int64(let v): return .int64(v[row])
        case .bool(let v): return .bool(v[row])
        case .string(let codes, let dict): return .string(dict[Int(codes[row])])
        case .date(let v): return .date(v[row])
        case .timestamp(let v): return .timestamp(v[row])
        }
    }

    /// The same column under another name.
    public func renamed(_ newName: String) -> Column {
        Column(name: newName, storage: storage, validity: validity)
    }

    /// The rows at `indices`, in that order; an index of -1 gives a missing value (used by left joins).
    public func taking(_ indices: [Int]) -> Column {
        var newValidity: [Bool]? = nil
        if validity != nil || indices.contains(-1) {
            newValidity = indices.map { $0 >= 0 && isValid($0) }
        }
        func gather<T>(_ a: [T], _ zero: T) -> [T] { indices.map { $0 >= 0 ? a[$0] : zero } }
        let s: Storage
        switch storage {
        case .float64(let v): s = .float64(gather(v, 0))
        case .int64(let v): s = .int64(gather(v, 0))
        case .bool(let v): s = .bool(gather(v, false))
        case .string(let codes, let dict): s = .string(codes: gather(codes, 0), dictionary: dict)
        case .date(let v): s = .date(gather(v, 0))
        case .timestamp(let v): s = .timestamp(gather(v, 0))
        }
        return Column(name: name, storage: s, validity: newValidity)
    }

    /// Numeric view: the value as `Double` per row (dates in days, timestamps in microseconds, booleans 0/1), `nil` for strings.
    public func doubles() -> [Double]? {
        switch storage {
        case .float64(let v): return v
        case .int64(let v), .date(let v), .timestamp(let v): return v.map { Double($0) }
        case .bool(let v): return v.map { $0 ? 1 : 0 }
        case .string: return nil
        }
    }

    /// The valid values as `Double`, missing ones skipped (`nil` for strings).
    public func validDoubles() -> [Double]? {
        guard let all = doubles() else { return nil }
        guard let validity else { return all }
        var out = [Double]()
        out.reserveCapacity(all.count)
        for i in 0..<all.count where validity[i] { out.append(all[i]) }
        return out
    }
}

// MARK: - Convenience constructors (tests, small tables, JSON)

extension Column {
    /// A float64 column from optionals (`nil` is missing).
    public init(name: String, doubles: [Double?]) {
        self.init(name: name, storage: .float64(doubles.map { $0 ?? 0 }), validity: doubles.map { $0 != nil })
    }

    /// An int64 column from optionals (`nil` is missing).
    public init(name: String, ints: [Int64?]) {
        self.init(name: name, storage: .int64(ints.map { $0 ?? 0 }), validity: ints.map { $0 != nil })
    }

    /// A bool column from optionals (`nil` is missing).
    public init(name: String, bools: [Bool?]) {
        self.init(name: name, storage: .bool(bools.map { $0 ?? false }), validity: bools.map { $0 != nil })
    }

    /// A dictionary-encoded string column from optionals (`nil` is missing).
    public init(name: String, strings: [String?]) {
        var lookup = [String: UInt32]()
        var dict = [String]()
        var codes = [UInt32]()
        codes.reserveCapacity(strings.count)
        for s in strings {
            guard let s else {
                codes.append(0)
                continue
            }
            if let c = lookup[s] {
                codes.append(c)
            } else {
                let c = UInt32(dict.count)
                lookup[s] = c
                dict.append(s)
                codes.append(c)
            }
        }
        self.init(name: name, storage: .string(codes: codes, dictionary: dict), validity: strings.map { $0 != nil })
    }

    /// A column of the given type built from cells; cells that do not fit the type throw.
    public init(name: String, type: DataType, values: [Value]) throws {
        let validity = values.map { !$0.isMissing }
        func mismatch(_ v: Value) -> DataError {
            .typeMismatch(column: name, expected: type, found: "\(v)")
        }
        switch type {
        case .float64:
            self.init(
                name: name,
                storage: .float64(
                    try values.map {
                        if $0.isMissing { return 0 }
                        if case .string = $0 { throw mismatch($0) }
                        guard let d = $0.doubleValue else { throw mismatch($0) }
                        return d
                    }), validity: validity)
        case .int64:
            self.init(
                name: name,
                storage: .int64(
                    try values.map {
                        switch $0 {
                        case .missing: return 0
                        case .int64(let v): return v
                        default: throw mismatch($0)
                        }
                    }), validity: validity)
        case .bool:
            self.init(
                name: name,
                storage: .bool(
                    try values.map {
                        switch $0 {
                        case .missing: return false
                        case .bool(let v): return v
                        default: throw mismatch($0)
                        }
                    }), validity: validity)
        case .string:
            self.init(name: name, strings: values.map { $0.isMissing ? nil : $0.description })
        case .date:
            self.init(
                name: name,
                storage: .date(
                    try values.map {
                        switch $0 {
                        case .missing: return 0
                        case .date(let v): return v
                        default: throw mismatch($0)
                        }
                    }), validity: validity)
        case .timestamp:
            self.init(
                name: name,
                storage: .timestamp(
                    try values.map {
                        switch $0 {
                        case .missing: return 0
                        case .timestamp(let v): return v
                        case .date(let d): return d * CalendarDate.microsecondsPerDay
                        default: throw mismatch($0)
                        }
                    }), validity: validity)
        }
    }
}
