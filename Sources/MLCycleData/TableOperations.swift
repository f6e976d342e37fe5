// Sorting, group-by and joins.

// MARK: - Row keys

/// Per-row keys over some columns, comparable within and (with shared string codes) across tables.
///
/// Each key column contributes one 64-bit component per row; a last component holds the validity bits,
/// so a missing value never equals a real one.
struct RowKeys {
    let width: Int
    private(set) var components: [UInt64]
    private(set) var hashes: [UInt64]
    let rows: Int

    /// `stringCodes[k]`, when given, replaces string column k's own codes (to share codes across tables).
    init(columns: [Column], stringCodes: [[UInt32]?]? = nil) {
        let rows = columns.first?.count ?? 0
        let width = columns.count + 1
        self.rows = rows
        self.width = width
        var comps = [UInt64](repeating: 0, count: rows * width)
        for (k, col) in columns.enumerated() {
            let valid = col.validity
            func put(_ f: (Int) -> UInt64) {
                for r in 0..<rows where valid?[r] ?? true { comps[r * width + k] = f(r) }
            }
            switch col.storage {
            case .float64(let v):
                put { r in
                    let d = v[r]
                    if d == 0 { return 0 }  // -0.0 equals 0.0
                    if d.isNaN { return Double.nan.bitPattern }
                    return d.bitPattern
                }
            case .int64(let v), .date(let v), .timestamp(let v): put { UInt64(bitPattern: v[$0]) }
            case .bool(let v): put { v[$0] ? 1 : 0 }
            case .string(let codes, _):
                let shared = stringCodes?[k]
                put { UInt64(shared?[Int(codes[$0])] ?? codes[$0]) }
            }
            if let valid {
                for r in 0..<rows where valid[r] { comps[r * width + columns.count] |= 1 << UInt64(k % 64) }
            } else {
                for r in 0..<rows { comps[r * width + columns.count] |= 1 << UInt64(k % 64) }
            }
        }
        var hs = [UInt64](repeating: 0, count: rows)
        comps.withUnsafeBufferPointer { c in
            for r in 0..<rows {
                var h: UInt64 = 0xCBF2_9CE4_8422_2325
                for k in 0..<width {
                    h = (h ^ c[r * width + k]) &* 0x100_0000_01B3
                    h ^= h >> 29
                }
                hs[r] = h
            }
        }
        components = comps
        hashes = hs
    }

    /// True when no key column is missing in this row.
    func isComplete(_ r: Int, keyCount: Int) -> Bool {
        let bits = components[r * width + width - 1]
        return keyCount >= 64 || bits == (UInt64(1) << UInt64(keyCount)) - 1
    }

    func equal(_ a: Int, _ other: RowKeys, _ b: Int) -> Bool {
        for k in 0..<width where components[a * width + k] != other.components[b * other.width + k] { return false }
        return true
    }

    /// A group id per row (0, 1, … in order of first appearance) and the first row of each group.
    func groups() -> (ids: [Int], firstRows: [Int]) {
        var buckets = [UInt64: [Int]]()  // hash → group ids with that hash
        var ids = [Int](repeating: 0, count: rows)
        var firstRows = [Int]()
        for r in 0..<rows {
            let h = hashes[r]
            if let candidates = buckets[h], let g = candidates.first(where: { equal(firstRows[$0], self, r) }) {
                ids[r] = g
            } else {
                let g = firstRows.count
                firstRows.append(r)
                buckets[h, default: []].append(g)
                ids[r] = g
            }
        }
        return (ids, firstRows)
    }
}

/// Codes that make two string columns' dictionaries comparable: the same string gets the same code on both sides.
func sharedStringCodes(_ a: Column, _ b: Column) -> ([UInt32]?, [UInt32]?) {
    guard case .string(_, let da) = a.storage, case .string(_, let db) = b.storage else { return (nil, nil) }
    var interner = ByteInterner(capacity: da.count + db.count)
    let ca = da.map { interner.intern($0) }
    let cb = db.map { interner.intern($0) }
    return (ca, cb)
}

// MARK: - Sorting

/// One key of a sort.
public struct SortKey: Sendable {
    public var column: String
    public var ascending: Bool
    public init(_ column: String, ascending: Bool = true) {
        self.column = column
        self.ascending = ascending
    }
}

extension Table {
    /// Rows ordered by the keys (stable; missing values last, as in pandas).
    public func sorted(by keys: [SortKey]) throws -> Table {
        taking(try sortedIndices(by: keys))
    }

    /// The row order `sorted(by:)` would give.
    public func sortedIndices(by keys: [SortKey]) throws -> [Int] {
        let comparators: [(Int, Int) -> Int] = try keys.map { key in
            let col = try column(key.column)
            let sign = key.ascending ? 1 : -1
            let valid = col.validity
            let compareValues: (Int, Int) -> Int
            switch col.storage {
            case .float64(let v): compareValues = { v[$0] < v[$1] ? -1 : (v[$0] > v[$1] ? 1 : 0) }
            case .int64(let v), .date(let v), .timestamp(let v):
                compareValues = { v[$0] < v[$1] ? -1 : (v[$0] > v[$1] ? 1 : 0) }
            case .bool(let v): compareValues = { v[$0] == v[$1] ? 0 : (v[$1] ? -1 : 1) }
            case .string(let codes, let dict):
                let order = dict.indices.sorted { dict[$0] < dict[$1] }
                var rank = [Int](repeating: 0, count: dict.count)
                for (position, code) in order.enumerated() { rank[code] = position }
                compareValues = { rank[Int(codes[$0])] - rank[Int(codes[$1])] }
            }
            return { a, b in
                let va = valid?[a] ?? true
                let vb = valid?[b] ?? true
                if !va || !vb { return va == vb ? 0 : (va ? -1 : 1) }  // missing last, whatever the direction
                return sign * compareValues(a, b)
            }
        }
        // Merge sort on indices is stable; ties fall back to the original row order.
        return (0..<rowCount).sorted { a, b in
            for cmp in comparators {
                let c = cmp(a, b)
                if c != 0 { return c < 0 }
            }
            return a < b
        }
    }
}

// MARK: - Group-by

/// An aggregate computed per group.
public struct Aggregate: Sendable {
    public enum Function: String, Sendable, CaseIterable {
        case count, sum, mean, median, min, max
    }
    public var function: Function
    /// The column aggregated; `nil` only for `count` (rows per group).
    public var column: String?
    /// The output column's name.
    public var name: String

    public init(_ function: Function, _ column: String? = nil, as name: String? = nil) {
        self.function = function
        self.column = column
        self.name = name ?? (column.map { "\(function.rawValue)_\($0)" } ?? function.rawValue)
    }
}

extension Table {
    /// One row per distinct combination of the key columns (in order of first appearance; missing keys form
    /// their own group), with the key columns followed by the aggregates.
    public func grouped(by keys: [String], aggregates: [Aggregate]) throws -> Table {
        let keyColumns = try keys.map { try column($0) }
        let (ids, firstRows) = RowKeys(columns: keyColumns).groups()
        let groupCount = firstRows.count
        var out = keyColumns.map { $0.taking(firstRows) }
        for agg in aggregates {
            guard let colName = agg.column else {
                guard agg.function == .count else {
                    throw DataError.invalidArgument("the aggregate '\(agg.function.rawValue)' needs a column")
                }
                var counts = [Int64](repeating: 0, count: groupCount)
                for g in ids { counts[g] += 1 }
                out.append(Column(name: agg.name, storage: .int64(counts)))
                continue
            }
            let col = try column(colName)
            if agg.function == .count {
                var counts = [Int64](repeating: 0, count: groupCount)
                for r in 0..<rowCount where col.isValid(r) { counts[ids[r]] += 1 }
                out.append(Column(name: agg.name, storage: .int64(counts)))
                continue
            }
            guard col.type != .string, col.type != .bool || agg.function == .sum || agg.function == .mean,
                let values = col.doubles()
            else {
                throw DataError.invalidArgument(
                    "cannot take the \(agg.function.rawValue) of \(col.type) column '\(colName)'")
            }
            var perGroup = [[Double]](repeating: [], count: groupCount)
            for r in 0..<rowCount where col.isValid(r) { perGroup[ids[r]].append(values[r]) }
            switch agg.function {
            case .count: break
            case .sum:
                if col.type == .int64, case .int64(let iv) = col.storage {
                    var sums = [Int64](repeating: 0, count: groupCount)
                    for r in 0..<rowCount where col.isValid(r) { sums[ids[r]] &+= iv[r] }
                    out.append(Column(name: agg.name, storage: .int64(sums)))
                } else {
                    out.append(Column(name: agg.name, doubles: perGroup.map { Statistics.sum($0) }))
                }
            case .mean:
                out.append(Column(name: agg.name, doubles: perGroup.map { $0.isEmpty ? nil : Statistics.mean($0) }))
            case .median:
                out.append(
                    Column(
                        name: agg.name,
                        doubles: perGroup.map { $0.isEmpty ? nil : Statistics.quantile(sorted: $0.sorted(), 0.5) }))
            case .min, .max:
                let pick: ([Double]) -> Double? = agg.function == .min ? { $0.min() } : { $0.max() }
                let picked = perGroup.map(pick)
                let validity = picked.map { $0 != nil }
                let storage: Column.Storage
                switch col.type {
                case .int64: storage = .int64(picked.map { Int64($0 ?? 0) })
                case .date: storage = .date(picked.map { Int64($0 ?? 0) })
                case .timestamp: storage = .timestamp(picked.map { Int64($0 ?? 0) })
                default: storage = .float64(picked.map { $0 ?? 0 })
                }
                out.append(Column(name: agg.name, storage: storage, validity: validity))
            }
        }
        return try Table(columns: out)
    }
}

// MARK: - Joins

/// How a join keeps rows.
public enum JoinKind: String, Sendable, CaseIterable {
    /// Rows whose keys match on both sides.
    case inner
    /// Every left row; right columns are missing where nothing matches.
    case left
}

extension Table {
    /// Joins on equal key columns (names may differ between sides: `on: [(left, right)]`).
    ///
    /// Missing keys never match (as in SQL). A left row matching several right rows appears once per match,
    /// in left order then right order. Right columns whose names clash with left ones get `suffix`.
    public func joined(
        with right: Table, on keys: [(left: String, right: String)], kind: JoinKind = .inner,
        suffix: String = "_right"
    ) throws -> Table {
        guard !keys.isEmpty else { throw DataError.invalidArgument("a join needs at least one key column") }
        var leftKeyColumns = [Column]()
        var rightKeyColumns = [Column]()
        var leftCodes = [[UInt32]?]()
        var rightCodes = [[UInt32]?]()
        for (l, r) in keys {
            let lc = try column(l)
            let rc = try right.column(r)
            guard lc.type == rc.type else {
                throw DataError.schemaMismatch(
                    reason: "cannot join \(lc.type) column '\(l)' with \(rc.type) column '\(r)'; convert one side first"
                )
            }
            let (a, b) = sharedStringCodes(lc, rc)
            leftKeyColumns.append(lc)
            rightKeyColumns.append(rc)
            leftCodes.append(a)
            rightCodes.append(b)
        }
        let lk = RowKeys(columns: leftKeyColumns, stringCodes: leftCodes)
        let rk = RowKeys(columns: rightKeyColumns, stringCodes: rightCodes)
        var index = [UInt64: [Int]]()
        for r in 0..<right.rowCount where rk.isComplete(r, keyCount: keys.count) {
            index[rk.hashes[r], default: []].append(r)
        }
        var leftRows = [Int]()
        var rightRows = [Int]()
        leftRows.reserveCapacity(rowCount)
        rightRows.reserveCapacity(rowCount)
        for l in 0..<rowCount {
            var matched = false
            if lk.isComplete(l, keyCount: keys.count), let candidates = index[lk.hashes[l]] {
                for r in candidates where lk.equal(l, rk, r) {
                    leftRows.append(l)
                    rightRows.append(r)
                    matched = true
                }
            }
            if !matched && kind == .left {
                leftRows.append(l)
                rightRows.append(-1)
            }
        }
        let sameNameKeys = Set(keys.filter { $0.left == $0.right }.map(\.right))
        var out = columns.map { $0.taking(leftRows) }
        var used = Set(columnNames)
        for c in right.columns where !sameNameKeys.contains(c.name) {
            var name = c.name
            while used.contains(name) { name += suffix }
            used.insert(name)
            out.append(c.taking(rightRows).renamed(name))
        }
        return try Table(columns: out)
    }

    /// Joins on key columns with the same name on both sides.
    public func joined(with right: Table, on keys: [String], kind: JoinKind = .inner) throws -> Table {
        try joined(with: right, on: keys.map { ($0, $0) }, kind: kind)
    }
}
