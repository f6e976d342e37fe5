import Foundation
import MLCycleData

/// Reads a live lookup's records (`serving: live`) for the keys a request needs: the server's database connection
/// and cache.
public protocol LiveRecordReader: Sendable {
    /// The source's rows (as its query returns them, before its steps) whose keys are among `keys` (each in the
    /// order of `lookup.keys`); nil when there are none.
    func records(of lookup: Lookup, keys: [[Value]]) async throws -> Table?
}

/// A pipeline's sources as fitted in training: the entity source (what a request describes) with its own steps, and
/// each later source as a lookup. Serving completes a request with them into the row training merged.
public struct FittedSources: Codable, Sendable, Equatable {
    /// The first source's name.
    public var entity: String
    /// The first source's own steps (address clean-up, text steps); their input is what a request carries.
    public var entitySteps: FittedPipeline
    public var lookups: [Lookup]

    public init(entity: String, entitySteps: FittedPipeline, lookups: [Lookup]) {
        self.entity = entity
        self.entitySteps = entitySteps
        self.lookups = lookups
    }

    /// The columns a lookup fills in: name in the merged table, type, and the source it comes from.
    public var lookedUp: [(column: String, type: DataType, source: String)] {
        lookups.flatMap { lookup in lookup.added.map { ($0.column, $0.type, lookup.name) } }
    }

    /// A request completed into merged rows.
    public struct Completed: Sendable {
        /// The rows as training's merge made them (entity columns, then each lookup's).
        public var table: Table
        /// Per row, what the answer should say: a sent value that differs from the record, a record not found.
        public var notes: [[String]]
        /// Rows that cannot be answered, with why (a required lookup without a record, an entity filter).
        public var unavailable: [Int: [String]]

        /// Rows that needed no completing.
        public init(table: Table, notes: [[String]]? = nil, unavailable: [Int: [String]] = [:]) {
            self.table = table
            self.notes = notes ?? [[String]](repeating: [], count: table.rowCount)
            self.unavailable = unavailable
        }
    }

    /// Completes request rows: the entity's steps (serving mode: no row is dropped), then each lookup in order. A
    /// looked-up column the client sent wins over the record, and the answer says so when the two differ; a row
    /// with no record gets the source's columns missing (named in `notes`), or is unavailable where the lookup is
    /// required. A live lookup needs `complete(_:reading:)`.
    public func complete(_ request: Table) throws -> Completed {
        var completing = try Completing(self, request)
        for lookup in lookups {
            if lookup.live != nil {
                throw PrepError.invalid(
                    step: "join \(lookup.name)",
                    reason: "its records are read from its database at serving (serving: live); this path has no "
                        + "connection to it")
            }
            try completing.join(lookup, records: lookup)
        }
        return completing.completed
    }

    /// Completes request rows as `complete(_:)` does, reading live lookups' records for the rows' keys from `reader`.
    /// Records that cannot be read leave the rows without them, with the reason (unavailable where required).
    public func complete(_ request: Table, reading reader: any LiveRecordReader) async throws -> Completed {
        var completing = try Completing(self, request)
        for lookup in lookups {
            guard lookup.live != nil else {
                try completing.join(lookup, records: lookup)
                continue
            }
            let records: Lookup
            var failure: String?
            do {
                let keys = try lookup.keys(in: completing.table)
                records = try lookup.reading(keys.isEmpty ? nil : try await reader.records(of: lookup, keys: keys))
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                records = try lookup.reading(nil)
                failure = "\(lookup.name) could not be read (\(error.localizedDescription))"
            }
            try completing.join(lookup, records: records, failure: failure)
        }
        return completing.completed
    }

    /// A request part-way through completing: the entity's steps applied, lookups joined one after another.
    private struct Completing {
        let request: Table
        var table: Table
        var notes: [[String]]
        var unavailable: [Int: [String]]

        init(_ sources: FittedSources, _ request: Table) throws {
            let n = request.rowCount
            // Columns the entity's steps read and the request left out (a listing without an address) go in
            // missing, so each row meets the steps as a training row with those values missing did.
            var read = Set(
                sources.entitySteps.steps.flatMap { step -> [String] in
                    switch step {
                    case .filter(_, nil), .dropDuplicates, .drop: return []
                    default: return step.columnsRead
                    }
                })
            for lookup in sources.lookups {
                read.formUnion(lookup.keys.map(\.left))
                if let asOf = lookup.asOf { read.insert(asOf.left) }
            }
            var filled = request
            for spec in sources.entitySteps.inputSchema where read.contains(spec.name) && request[spec.name] == nil {
                filled = try filled.setting(
                    Column(name: spec.name, type: spec.type, values: [Value](repeating: .missing, count: n)))
            }
            let prepared = try sources.entitySteps.transform(filled, serving: true)
            let lookedUpColumns = Set(sources.lookedUp.map(\.column))
            self.request = request
            table = try prepared.table.selecting(prepared.table.columnNames.filter { !lookedUpColumns.contains($0) })
            unavailable = prepared.rowIssues
            notes = [[String]](repeating: [], count: n)
        }

        var completed: Completed { Completed(table: table, notes: notes, unavailable: unavailable) }

        /// Joins `lookup`'s columns from `records` (the lookup itself, or its records read live); `failure` is why
        /// a live lookup's records could not be read.
        mutating func join(_ lookup: Lookup, records: Lookup, failure: String? = nil) throws {
            let n = table.rowCount
            let matched = try records.matches(table)
            for (r, record) in matched.enumerated() where record == nil {
                let why =
                    failure ?? records.ambiguity(table, row: r)
                    ?? "no \(lookup.name) record for \(lookup.describeKeys(table, row: r))"
                if lookup.required {
                    unavailable[r, default: []].append("\(why) (required)")
                } else {
                    notes[r].append("\(why): its columns are missing")
                }
            }
            var columns = table.columns
            for a in lookup.added {
                let record = try Lookup.column(records.records, a.source, lookup.name)
                let sent = request[a.column]
                let values = (0..<n).map { r -> Value in
                    let found = matched[r].map { record[$0] } ?? .missing
                    guard let sent, sent.isValid(r) else { return found }
                    if !found.isMissing, FittedSources.differ(found, sent[r]) {
                        notes[r].append(
                            "\(a.column) \(sent[r]) was sent and used (the \(lookup.name) record has \(found))")
                    }
                    // A whole number sent for an integer column (JSON has one kind of number) is that integer.
                    if a.type == .int64, case .float64(let x) = sent[r], x == x.rounded(), abs(x) < 9e15 {
                        return .int64(Int64(x))
                    }
                    return sent[r]
                }
                columns.append(try Column(name: a.column, type: a.type, values: values))
            }
            table = try Table(columns: columns)
        }
    }

    /// Whether two values differ (numbers, dates and times as numbers: a sent 8450 is the record's 8450.0).
    static func differ(_ a: Value, _ b: Value) -> Bool {
        if let x = Lookup.instant(a), let y = Lookup.instant(b) { return x != y }
        return a != b
    }
}

extension FittedStep {
    /// The columns this step reads.
    public var columnsRead: [String] {
        func reads(_ expression: String) -> [String] { (try? MLCycleData.Expression.parse(expression).columns) ?? [] }
        switch self {
        case .dropDuplicates(let keys): return keys
        case .filter(let e, _), .derive(_, let e): return reads(e)
        case .text(let cs, _, _, _, _), .parseDates(let cs, _), .log(let cs): return cs
        case .impute(let c, _, let by, _, _): return [c] + by
        case .oneHot(let c, _, _), .ordinal(let c, _), .frequency(let c, _), .target(let c, _, _), .scale(let c, _, _):
            return [c]
        case .drop: return []
        }
    }

    /// The columns this step writes (new or rewritten).
    public var columnsWritten: [String] {
        switch self {
        case .dropDuplicates, .drop: return []
        case .filter(_, let flag): return flag.map { [$0] } ?? []
        case .derive(let name, _): return [name]
        case .text(let cs, _, _, _, _), .parseDates(let cs, _), .log(let cs): return cs
        case .impute(let c, _, _, _, _), .oneHot(let c, _, _), .ordinal(let c, _), .frequency(let c, _),
            .target(let c, _, _), .scale(let c, _, _):
            return [c]
        }
    }
}
