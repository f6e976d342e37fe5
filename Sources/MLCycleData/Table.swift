/// A columnar table: named, typed columns of equal length.
public struct Table: Sendable {
    public private(set) var columns: [Column]
    public let rowCount: Int
    private var indexByName: [String: Int]

    /// Creates a table; every column must have the same number of rows and a unique name.
    public init(columns: [Column]) throws {
        let rows = columns.first?.count ?? 0
        var index = [String: Int]()
        for (i, c) in columns.enumerated() {
            guard c.count == rows else {
                throw DataError.lengthMismatch(column: c.name, expected: rows, found: c.count)
            }
            guard index[c.name] == nil else { throw DataError.duplicateColumn(name: c.name) }
            index[c.name] = i
        }
        self.columns = columns
        self.rowCount = rows
        self.indexByName = index
    }

    /// An empty table with no columns.
    public init() {
        columns = []
        rowCount = 0
        indexByName = [:]
    }

    public var columnCount: Int { columns.count }
    public var columnNames: [String] { columns.map(\.name) }
    /// Column names and types, in order.
    public var schema: [(name: String, type: DataType)] { columns.map { ($0.name, $0.type) } }

    /// The column with this name, or `nil`.
    public subscript(name: String) -> Column? {
        indexByName[name].map { columns[$0] }
    }

    /// The column with this name; throws a message listing the columns there are.
    public func column(_ name: String) throws -> Column {
        guard let i = indexByName[name] else { throw DataError.columnNotFound(name: name, available: columnNames) }
        return columns[i]
    }

    /// Position of a column, or `nil`.
    public func columnIndex(_ name: String) -> Int? { indexByName[name] }

    /// The values of one row, in column order.
    public func row(_ r: Int) -> [Value] { columns.map { $0[r] } }

    /// Only these columns, in this order.
    public func selecting(_ names: [String]) throws -> Table {
        try Table(columns: names.map { try column($0) })
    }

    /// Every column but these (unknown names throw).
    public func dropping(_ names: [String]) throws -> Table {
        for n in names where indexByName[n] == nil { throw DataError.columnNotFound(name: n, available: columnNames) }
        let drop = Set(names)
        return try Table(columns: columns.filter { !drop.contains($0.name) })
    }

    /// The table with `column` appended, or replacing the column of the same name.
    public func setting(_ column: Column) throws -> Table {
        var cols = columns
        if let i = indexByName[column.name] { cols[i] = column } else { cols.append(column) }
        if columns.isEmpty { return try Table(columns: [column]) }
        return try Table(columns: cols)
    }

    /// The rows at `indices`, in that order.
    public func taking(_ indices: [Int]) -> Table {
        // Safe: all columns keep equal length and unique names.
        Table(unchecked: columns.map { $0.taking(indices) }, rows: indices.count)
    }

    /// The rows where `mask` is true.
    public func filtered(_ mask: [Bool]) throws -> Table {
        guard mask.count == rowCount else {
            throw DataError.invalidArgument(
                "the row mask has \(mask.count) entries where the table has \(rowCount) rows")
        }
        var indices = [Int]()
        indices.reserveCapacity(rowCount)
        for i in 0..<rowCount where mask[i] { indices.append(i) }
        return taking(indices)
    }

    /// A contiguous range of rows.
    public func slice(_ range: Range<Int>) -> Table {
        let r = range.clamped(to: 0..<rowCount)
        return taking(Array(r))
    }

    /// The first `n` rows.
    public func head(_ n: Int) -> Table { slice(0..<max(0, n)) }

    init(unchecked columns: [Column], rows: Int) {
        self.columns = columns
        self.rowCount = rows
        var index = [String: Int]()
        for (i, c) in columns.enumerated() { index[c.name] = i }
        self.indexByName = index
    }
}

// MARK: - Sampling

extension Table {
    /// `count` rows drawn without replacement (or with, when `replace`), reproducibly for a seed; order is the draw order.
    public func sample(count: Int, seed: UInt64, replace: Bool = false) throws -> Table {
        guard count >= 0 else { throw DataError.invalidArgument("a sample size must not be negative (got \(count))") }
        guard replace || count <= rowCount else {
            throw DataError.invalidArgument(
                "cannot sample \(count) rows without replacement from a table of \(rowCount)")
        }
        var rng = SeededGenerator(seed: seed)
        if replace {
            guard rowCount > 0 || count == 0 else {
                throw DataError.invalidArgument("cannot sample from an empty table")
            }
            return taking((0..<count).map { _ in Int(rng.next(upperBound: UInt64(rowCount))) })
        }
        // Partial Fisher–Yates: the first `count` positions of a seeded shuffle.
        var indices = Array(0..<rowCount)
        for i in 0..<count {
            let j = i + Int(rng.next(upperBound: UInt64(rowCount - i)))
            indices.swapAt(i, j)
        }
        return taking(Array(indices[0..<count]))
    }

    /// A fraction of the rows (rounded to the nearest row), without replacement.
    public func sample(fraction: Double, seed: UInt64) throws -> Table {
        guard fraction >= 0, fraction <= 1 else {
            throw DataError.invalidArgument("a sample fraction must be between 0 and 1 (got \(fraction))")
        }
        return try sample(count: Int((Double(rowCount) * fraction).rounded()), seed: seed)
    }
}

/// A small, fast, seedable random number generator (SplitMix64), the same on every platform.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in `0..<upperBound` without modulo bias (Lemire's method).
    public mutating func next(upperBound: UInt64) -> UInt64 {
        precondition(upperBound > 0)
        var m = next().multipliedFullWidth(by: upperBound)
        if m.low < upperBound {
            let threshold = (0 &- upperBound) % upperBound
            while m.low < threshold { m = next().multipliedFullWidth(by: upperBound) }
        }
        return m.high
    }
}

// MARK: - Concatenation

extension Table {
    /// Stacks tables with the same column names and types (column order may differ; the first table's wins).
    public static func concatenate(_ tables: [Table]) throws -> Table {
        guard let first = tables.first else { return Table() }
        var columns = [Column]()
        for template in first.columns {
            var parts = [Column]()
            for (k, t) in tables.enumerated() {
                guard let c = t[template.name] else {
                    throw DataError.schemaMismatch(
                        reason: "table \(k + 1) has no column '\(template.name)' to concatenate")
                }
                guard c.type == template.type else {
                    throw DataError.schemaMismatch(
                        reason:
                            "column '\(template.name)' is \(template.type) in table 1 but \(c.type) in table \(k + 1); convert one before concatenating"
                    )
                }
                parts.append(c)
            }
            columns.append(Column.concatenate(parts))
        }
        for (k, t) in tables.enumerated() where t.columnCount != first.columnCount {
            throw DataError.schemaMismatch(
                reason: "table \(k + 1) has \(t.columnCount) columns where table 1 has \(first.columnCount)")
        }
        return try Table(columns: columns)
    }
}

extension Column {
    /// Joins columns of one type end to end (string dictionaries are merged).
    static func concatenate(_ parts: [Column]) -> Column {
        let name = parts[0].name
        let anyMissing = parts.contains { $0.validity != nil }
        let validity: [Bool]? =
            anyMissing ? parts.flatMap { $0.validity ?? Array(repeating: true, count: $0.count) } : nil
        let storage: Storage
        switch parts[0].storage {
        case .float64:
            storage = .float64(
                parts.flatMap {
                    if case .float64(let v) = $0.storage { return v }
                    return []
                })
        case .int64:
            storage = .int64(
                parts.flatMap {
                    if case .int64(let v) = $0.storage { return v }
                    return []
                })
        case .bool:
            storage = .bool(
                parts.flatMap {
                    if case .bool(let v) = $0.storage { return v }
                    return []
                })
        case .date:
            storage = .date(
                parts.flatMap {
                    if case .date(let v) = $0.storage { return v }
                    return []
                })
        case .timestamp:
            storage = .timestamp(
                parts.flatMap {
                    if case .timestamp(let v) = $0.storage { return v }
                    return []
                })
        case .string:
            var interner = ByteInterner()
            var codes = [UInt32]()
            for part in parts {
                guard case .string(let c, let dict) = part.storage else { continue }
                let remap = dict.map { interner.intern($0) }
                codes.append(contentsOf: c.map { remap.isEmpty ? 0 : remap[Int($0)] })
            }
            storage = .string(codes: codes, dictionary: interner.strings())
        }
        return Column(name: name, storage: storage, validity: validity)
    }
}
