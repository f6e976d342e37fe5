import Foundation
import MLCycleData

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
    /// required.
    public func complete(_ request: Table) throws -> Completed {
        let n = request.rowCount
        // Columns the entity's steps read and the request left out (a listing without an address) go in missing, so
        // each row meets the steps as a training row with those values missing did.
        var read = Set(
            entitySteps.steps.flatMap { step -> [String] in
                switch step {
                case .filter(_, nil), .dropDuplicates, .drop: return []
                default: return step.columnsRead
                }
            })
        for lookup in lookups {
            read.formUnion(lookup.keys.map(\.left))
            if let asOf = lookup.asOf { read.insert(asOf.left) }
        }
        var filled = request
        for spec in entitySteps.inputSchema where read.contains(spec.name) && request[spec.name] == nil {
            filled = try filled.setting(
                Column(name: spec.name, type: spec.type, values: [Value](repeating: .missing, count: n)))
        }
        let prepared = try entitySteps.transform(filled, serving: true)
        var unavailable = prepared.rowIssues
        var notes = [[String]](repeating: [], count: n)
        let lookedUp = Set(lookedUp.map(\.column))
        var table = try prepared.table.selecting(prepared.table.columnNames.filter { !lookedUp.contains($0) })
        for lookup in lookups {
            let matched = try lookup.matches(table)
            for (r, record) in matched.enumerated() where record == nil {
                let why = "no \(lookup.name) record for \(lookup.describeKeys(table, row: r))"
                if lookup.required {
                    unavailable[r, default: []].append("\(why) (required)")
                } else {
                    notes[r].append("\(why): its columns are missing")
                }
            }
            var columns = table.columns
            for a in lookup.added {
                let record = try Lookup.column(lookup.records, a.source, lookup.name)
                let sent = request[a.column]
                let values = (0..<n).map { r -> Value in
                    let found = matched[r].map { record[$0] } ?? .missing
                    guard let sent, sent.isValid(r) else { return found }
                    if !found.isMissing, Self.differ(found, sent[r]) {
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
        return Completed(table: table, notes: notes, unavailable: unavailable)
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
}
