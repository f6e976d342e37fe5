import Foundation
import MLCycleData

/// A source joined onto the entity's rows by key: its records after its own steps, kept (with their fingerprint) in
/// the model bundle, so that training and every later request match rows to records with the same code and the same
/// records. A live lookup keeps only how to read its records: serving reads the keys it needs from the database.
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
    /// How serving reads a live lookup's records; nil when they are kept in the model.
    public let live: Live?
    /// The CSV snapshot `fingerprint` is of (empty for a live lookup: only its fingerprint is kept).
    let snapshot: String
    /// Keys with more than one record at one time in records read live: their rows get no record, and a reason.
    public private(set) var ambiguous: [[Value]: String] = [:]
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

    /// A lookup read from its database at serving: where, the source's own steps (applied to every record read), and
    /// its cache.
    public struct Live: Codable, Sendable, Equatable {
        /// The database's URL as the pipeline wrote it (`${NAME}` is read from the server's environment).
        public var url: String
        public var query: String
        /// The source's fitted steps: serving cleans the records it reads as training did.
        public var steps: FittedPipeline
        public var cache: LiveLookupSpec

        public init(url: String, query: String, steps: FittedPipeline, cache: LiveLookupSpec) {
            self.url = url
            self.query = query
            self.steps = steps
            self.cache = cache
        }
    }

    /// Fits a lookup of `records` joined as `join` says onto rows with `leftColumns`. A key naming more than one
    /// record (without `as_of`) is an error naming both, as are keys or times of types that cannot match. A live
    /// lookup's steps may not rewrite its keys: serving finds records in the database by the keys as stored.
    public init(
        name: String, join: JoinSpec, records: Table, leftColumns: [FittedPipeline.ColumnSpec], live: Live? = nil
    ) throws {
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
        if let live {
            let keys = Set(join.keys.map(\.right))
            for step in live.steps.steps {
                if let key = step.columnsWritten.first(where: keys.contains) {
                    throw PrepError.invalid(
                        step: "join \(name)",
                        reason: "a live lookup finds its records in the database by '\(key)' as stored, so its steps "
                            + "may not change that key: clean it in the query instead (SELECT lower(trim(\(key))) "
                            + "AS \(key), …)")
                }
            }
        }
        let snapshot = CSVWriter.string(records)
        guard live != nil || snapshot.utf8.count <= Self.snapshotLimit else {
            throw PrepError.invalid(
                step: step,
                reason: "the source is \(snapshot.utf8.count >> 20) MB as CSV; a lookup kept in the model holds at "
                    + "most \(Self.snapshotLimit >> 20) MB: drop the columns the model does not need in its steps, or "
                    + "read it from its database at serving (serving: live)")
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
            snapshot: live == nil ? snapshot : "", fingerprint: SHA256.hex(snapshot.utf8), added: added, live: live)
    }

    /// Indexes the records; refuses two records for one key (at one time, for a point-in-time join), or, for records
    /// read live (`tolerant`), leaves such a key out of the index and names it in `ambiguous`.
    private init(
        name: String, keys: [JoinSpec.JoinKey], asOf: JoinSpec.JoinKey?, required: Bool, records: Table,
        snapshot: String, fingerprint: String, added: [Added], live: Live?, tolerant: Bool = false
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
        var ambiguous = [[Value]: String]()
        for (key, rows) in index where rows.count > 1 {
            let described = zip(keys, key).map { "\($0.right) = '\($1)'" }.joined(separator: ", ")
            if asOf == nil {
                if tolerant {
                    ambiguous[key] = "\(rows.count) \(name) records for \(described) in the database"
                    index[key] = nil
                    continue
                }
                throw PrepError.invalid(
                    step: step,
                    reason: "\(rows.count) records for \(described) (rows \(rows[0] + 1) and \(rows[1] + 1) after its "
                        + "steps); a lookup joins one record per key: add drop_duplicates on the keys to the source's "
                        + "steps, or as_of when the records are versions over time")
            }
            let sorted = rows.sorted { times[$0] < times[$1] }
            if let twin = zip(sorted, sorted.dropFirst()).first(where: { times[$0] == times[$1] }) {
                if tolerant {
                    ambiguous[key] = "two \(name) records for \(described) at the same time in the database"
                    index[key] = nil
                    continue
                }
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
        self.live = live
        self.ambiguous = ambiguous
    }

    /// This lookup over records read live: `read` is what the database returned for the keys a request needs (the
    /// source's rows before its steps; nil when it returned none). The source's steps clean them as in training;
    /// records whose columns no longer have the types training saw are an error naming the column.
    public func reading(_ read: Table?) throws -> Lookup {
        let step = "lookup \(name)"
        var columns = [Column]()
        let cleaned = try read.map { read in try live.map { try $0.steps.transform(read).table } ?? read }
        for c in records.columns {
            guard let cleaned else {
                columns.append(try Column(name: c.name, type: c.type, values: []))
                continue
            }
            let found = try Self.column(cleaned, c.name, step)
            guard found.type == c.type else {
                throw PrepError.invalid(
                    step: step,
                    reason: "the database now gives '\(c.name)' as \(found.type); the model was trained with \(c.type)")
            }
            columns.append(found)
        }
        return try Lookup(
            name: name, keys: keys, asOf: asOf, required: required, records: try Table(columns: columns),
            snapshot: "", fingerprint: fingerprint, added: added, live: live, tolerant: true)
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

    /// The distinct keys of `table`'s rows (none missing), in the order of `keys`: what a live lookup reads.
    public func keys(in table: Table) throws -> [[Value]] {
        let keyColumns = try keys.map { try Self.column(table, $0.left, "join \(name)") }
        var seen = Set<[Value]>()
        return (0..<table.rowCount).compactMap { r in
            let key = keyColumns.map { $0[r] }
            return !key.contains(where: \.isMissing) && seen.insert(key).inserted ? key : nil
        }
    }

    /// Why row `row` of `table` has no record when its key names several (records read live), or nil.
    func ambiguity(_ table: Table, row: Int) -> String? {
        guard !ambiguous.isEmpty else { return nil }
        return ambiguous[keys.map { table[$0.left]?[row] ?? .missing }]
    }

    /// How a row's keys read in a message (`address '12 oak street'`).
    func describeKeys(_ table: Table, row: Int) -> String {
        keys.map { "\($0.left) '\(table[$0.left].map { $0[row].description } ?? "")'" }.joined(separator: ", ")
    }
}

extension Lookup: Codable {
    enum CodingKeys: String, CodingKey {
        case name, keys, required, fingerprint, added, schema, records, live
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
        try c.encode(FittedPipeline.ColumnSpec.of(records), forKey: .schema)
        try c.encodeIfPresent(live, forKey: .live)
        if live == nil { try c.encode(snapshot, forKey: .records) }
    }

    /// Reads a lookup back; records that do not match their fingerprint are an error. A live lookup has none: its
    /// schema is kept, its records are read at serving.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let name = try c.decode(String.self, forKey: .name)
        let fingerprint = try c.decode(String.self, forKey: .fingerprint)
        let schema = try c.decode([FittedPipeline.ColumnSpec].self, forKey: .schema)
        let live = try c.decodeIfPresent(Live.self, forKey: .live)
        var snapshot = ""
        let records: Table
        if live != nil {
            records = try Table(columns: schema.map { try Column(name: $0.name, type: $0.type, values: []) })
        } else {
            snapshot = try c.decode(String.self, forKey: .records)
            guard SHA256.hex(snapshot.utf8) == fingerprint else {
                throw DecodingError.dataCorruptedError(
                    forKey: .records, in: c,
                    debugDescription: "the records of lookup '\(name)' do not match their fingerprint \(fingerprint)")
            }
            var options = CSVOptions()
            options.columnTypes = Dictionary(schema.map { ($0.name, $0.type) }, uniquingKeysWith: { a, _ in a })
            records = try CSVReader.read(string: snapshot, name: "lookup \(name)", options: options)
            guard records.columnNames == schema.map(\.name) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .schema, in: c,
                    debugDescription: "the records of lookup '\(name)' do not have their columns")
            }
        }
        try self.init(
            name: name, keys: try c.decode([JoinSpec.JoinKey].self, forKey: .keys),
            asOf: try c.decodeIfPresent(JoinSpec.JoinKey.self, forKey: .asOf),
            required: try c.decode(Bool.self, forKey: .required), records: records, snapshot: snapshot,
            fingerprint: fingerprint, added: try c.decode([Added].self, forKey: .added), live: live)
    }
}

extension Lookup: Equatable {
    public static func == (a: Lookup, b: Lookup) -> Bool {
        a.name == b.name && a.keys == b.keys && a.asOf == b.asOf && a.required == b.required
            && a.fingerprint == b.fingerprint && a.added == b.added && a.live == b.live
    }
}
