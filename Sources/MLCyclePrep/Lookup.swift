import Foundation
import MLCycleData

/// A source joined onto the entity's rows by key: its records after its own steps, kept (with their fingerprint) in
/// the model bundle, so that training and every later request match rows to records with the same code and the same
/// records.
public struct Lookup: Sendable {
    /// A lookup's records are kept in the model; larger sources are refused with a message.
    public static let snapshotLimit = 100 << 20

    public let name: String
    public let keys: [JoinSpec.JoinKey]
    /// A point-in-time join: each row gets the latest record whose time (`right`) is not after the row's (`left`); a
    /// row without a time gets the latest record, and a record without a time counts as the earliest.
    public let asOf: JoinSpec.JoinKey?
    /// A row with no record is refused at serving (`unavailable`) rather than answered without the source's columns.
    public let required: Bool
    /// The records (the source after its own steps).
    public let records: Table
    /// SHA-256 of the records' CSV snapshot: the lineage names the data the model joins.
    public let fingerprint: String
    /// The columns the lookup adds to a row.
    public let added: [Added]
    /// The CSV snapshot `fingerprint` is of.
    let snapshot: String
    /// Record rows by key values, oldest first for a point-in-time join.
    let index: [[Value]: [Int]]
    /// Each record's time as a comparable number (point-in-time joins only).
    let times: [Double]

    /// A column a lookup adds: its name in the source and in the merged table (`_right` appended on a clash).
    public struct Added: Codable, Sendable, Equatable {
        public var source: String
        public var column: String
        public var type: DataType
    }

    /// Fits a lookup of `records` joined as `join` says onto rows with `leftColumns`. A key naming more than one
    /// record (without `as_of`) is an error naming both, as are keys or times of types that cannot match.
    public init(name: String, join: JoinSpec, records: Table, leftColumns: [FittedPipeline.ColumnSpec]) throws {
        let step = "join \(name)"
        func leftType(_ column: String) throws -> DataType {
            guard let spec = leftColumns.first(where: { $0.name == column }) else {
                throw PrepError.missingColumn(step: step, column: column, available: leftColumns.map(\.name))
            }
            return spec.type
        }
        guard !join.keys.isEmpty else { throw PrepError.invalid(step: step, reason: "a join needs at least one key") }
        for key in join.keys {
            let (l, r) = (try leftType(key.left), try Self.column(records, key.right, step).type)
            guard l == r else {
                throw PrepError.invalid(
                    step: step,
                    reason: "key '\(key.left)' is \(l) and the source's '\(key.right)' is \(r); convert one side in "
                        + "its steps so both are the same type")
            }
        }
        if let asOf = join.asOf {
            let (l, r) = (try leftType(asOf.left), try Self.column(records, asOf.right, step).type)
            guard (l.isTemporal && r.isTemporal) || (l.isNumeric && r.isNumeric) else {
                throw PrepError.invalid(
                    step: step,
                    reason: "as_of compares '\(asOf.left)' (\(l)) with '\(asOf.right)' (\(r)): both must be dates or "
                        + "times (parse them with parse_dates in the sources' steps) or both numbers")
            }
        }
        let snapshot = CSVWriter.string(records)
        guard snapshot.utf8.count <= Self.snapshotLimit else {
            throw PrepError.invalid(
                step: step,
                reason: "the source is \(snapshot.utf8.count >> 20) MB as CSV; a lookup kept in the model holds at "
                    + "most \(Self.snapshotLimit >> 20) MB: drop the columns the model does not need in its steps")
        }
        let sameName = Set(join.keys.filter { $0.left == $0.right }.map(\.right))
        var used = Set(leftColumns.map(\.name))
        var added = [Added]()
        for c in records.columns where !sameName.contains(c.name) {
            var column = c.name
            while used.contains(column) { column += "_right" }
            used.insert(column)
            added.append(Added(source: c.name, column: column, type: c.type))
        }
        try self.init(
            name: name, keys: join.keys, asOf: join.asOf, required: join.isRequired, records: records,
            snapshot: snapshot, fingerprint: SHA256.hex(snapshot.utf8), added: added)
    }

    /// Indexes the records; refuses two records for one key (at one time, for a point-in-time join).
    private init(
        name: String, keys: [JoinSpec.JoinKey], asOf: JoinSpec.JoinKey?, required: Bool, records: Table,
        snapshot: String, fingerprint: String, added: [Added]
    ) throws {
        let step = "join \(name)"
        let keyColumns = try keys.map { try Self.column(records, $0.right, step) }
        var times = [Double]()
        if let asOf {
            let c = try Self.column(records, asOf.right, step)
            times = (0..<records.rowCount).map { Self.instant(c[$0]) ?? -.infinity }
        }
        var index = [[Value]: [Int]]()
        for r in 0..<records.rowCount {
            let key = keyColumns.map { $0[r] }
            if key.contains(where: \.isMissing) { continue }
            index[key, default: []].append(r)
        }
        for (key, rows) in index where rows.count > 1 {
            let described = zip(keys, key).map { "\($0.right) = '\($1)'" }.joined(separator: ", ")
            if asOf == nil {
                throw PrepError.invalid(
                    step: step,
                    reason: "\(rows.count) records for \(described) (rows \(rows[0] + 1) and \(rows[1] + 1) after its "
                        + "steps); a lookup joins one record per key: add drop_duplicates on the keys to the source's "
                        + "steps, or as_of when the records are versions over time")
            }
            let sorted = rows.sorted { times[$0] < times[$1] }
            if let twin = zip(sorted, sorted.dropFirst()).first(where: { times[$0] == times[$1] }) {
                throw PrepError.invalid(
                    step: step,
                    reason: "two records for \(described) at the same time (rows \(twin.0 + 1) and \(twin.1 + 1) after "
                        + "its steps): a point-in-time join needs one version per key and time")
            }
            index[key] = sorted
        }
        self.name = name
        self.keys = keys
        self.asOf = asOf
        self.required = required
        self.records = records
        self.snapshot = snapshot
        self.fingerprint = fingerprint
        self.added = added
        self.index = index
        self.times = times
    }

    static func column(_ table: Table, _ name: String, _ step: String) throws -> Column {
        guard let c = table[name] else {
            throw PrepError.missingColumn(step: step, column: name, available: table.columnNames)
        }
        return c
    }

    /// A time or number as one comparable number (dates as microseconds, like times); nil when missing.
    static func instant(_ value: Value) -> Double? {
        switch value {
        case .date(let days): return Double(days) * 86_400_000_000
        case .missing, .string: return nil
        default: return value.doubleValue
        }
    }

    /// Per row of `table`, the record it joins, or nil (a missing key, no record, none as old as the row).
    public func matches(_ table: Table) throws -> [Int?] {
        let step = "join \(name)"
        let keyColumns = try keys.map { try Self.column(table, $0.left, step) }
        let time = try asOf.map { try Self.column(table, $0.left, step) }
        return (0..<table.rowCount).map { r in
            let key = keyColumns.map { $0[r] }
            guard !key.contains(where: \.isMissing), let rows = index[key] else { return nil }
            guard let time, let at = Self.instant(time[r]) else { return rows.last }
            // The latest record not after the row's time: rows are oldest first.
            var (lo, hi) = (0, rows.count)
            while lo < hi {
                let mid = (lo + hi) / 2
                if times[rows[mid]] <= at { lo = mid + 1 } else { hi = mid }
            }
            return lo > 0 ? rows[lo - 1] : nil
        }
    }

    /// The rows with the record each joins appended (training's join): every row for a left join, the matched ones
    /// for an inner join.
    public func join(_ table: Table, kind: JoinKind) throws -> Table {
        let matched = try matches(table)
        let rows = kind == .inner ? matched.indices.filter { matched[$0] != nil } : Array(matched.indices)
        var columns = kind == .inner ? table.columns.map { $0.taking(rows) } : table.columns
        let recordRows = rows.map { matched[$0] ?? -1 }
        for a in added { columns.append(try Self.column(records, a.source, name).taking(recordRows).renamed(a.column)) }
        return try Table(columns: columns)
    }

    /// How a row's keys read in a message (`address '12 oak street'`).
    func describeKeys(_ table: Table, row: Int) -> String {
        keys.map { "\($0.left) '\(table[$0.left].map { $0[row].description } ?? "")'" }.joined(separator: ", ")
    }
}

extension Lookup: Codable {
    enum CodingKeys: String, CodingKey {
        case name, keys, required, fingerprint, added, schema, records
        case asOf = "as_of"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(keys, forKey: .keys)
        try c.encodeIfPresent(asOf, forKey: .asOf)
        try c.encode(required, forKey: .required)
        try c.encode(fingerprint, forKey: .fingerprint)
        try c.encode(added, forKey: .added)
        try c.encode(records.columns.map { FittedPipeline.ColumnSpec(name: $0.name, type: $0.type) }, forKey: .schema)
        try c.encode(snapshot, forKey: .records)
    }

    /// Reads a lookup back; records that do not match their fingerprint are an error.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let name = try c.decode(String.self, forKey: .name)
        let fingerprint = try c.decode(String.self, forKey: .fingerprint)
        let schema = try c.decode([FittedPipeline.ColumnSpec].self, forKey: .schema)
        let snapshot = try c.decode(String.self, forKey: .records)
        guard SHA256.hex(snapshot.utf8) == fingerprint else {
            throw DecodingError.dataCorruptedError(
                forKey: .records, in: c,
                debugDescription: "the records of lookup '\(name)' do not match their fingerprint \(fingerprint)")
        }
        var options = CSVOptions()
        options.columnTypes = Dictionary(schema.map { ($0.name, $0.type) }, uniquingKeysWith: { a, _ in a })
        let records = try CSVReader.read(string: snapshot, name: "lookup \(name)", options: options)
        guard records.columnNames == schema.map(\.name) else {
            throw DecodingError.dataCorruptedError(
                forKey: .schema, in: c, debugDescription: "the records of lookup '\(name)' do not have their columns")
        }
        try self.init(
            name: name, keys: try c.decode([JoinSpec.JoinKey].self, forKey: .keys),
            asOf: try c.decodeIfPresent(JoinSpec.JoinKey.self, forKey: .asOf),
            required: try c.decode(Bool.self, forKey: .required), records: records, snapshot: snapshot,
            fingerprint: fingerprint, added: try c.decode([Added].self, forKey: .added))
    }
}

extension Lookup: Equatable {
    public static func == (a: Lookup, b: Lookup) -> Bool {
        a.name == b.name && a.keys == b.keys && a.asOf == b.asOf && a.required == b.required
            && a.fingerprint == b.fingerprint && a.added == b.added
    }
}
