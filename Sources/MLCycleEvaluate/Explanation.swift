import Foundation
import MLCycleData
import MLCycleLearn
import MLCyclePrep

/// Why a model answered a row as it did: the output it starts from over the training rows, and how much each input
/// column moved it (SHAP values for tree models, `coefficient × (x − training mean)` for linear ones). The expected
/// value plus every column's contribution is the row's raw output: the estimate for regression; the log-odds of
/// `output` for a binary gradient-boosted or logistic model (a forest: its share); for three classes or more, the
/// predicted class's raw score (a forest: its share).
public struct Explanation: Sendable, Equatable {
    /// One input column's part in the answer.
    public struct Part: Sendable, Equatable {
        public var column: String
        /// The row's value of the column (as sent, or looked up).
        public var value: Value
        public var contribution: Double
    }

    /// The class whose output is explained; nil for regression.
    public var output: String?
    /// The model's expected raw output over its training rows.
    public var expected: Double
    /// Input columns, largest |contribution| first.
    public var parts: [Part]

    /// The class output `o` of `c` explains (nil for regression): a binary model's one output is its second class.
    static func output(_ o: Int, of c: Contributions, labels: [String]) -> String? {
        labels.isEmpty ? nil : c.expected.count > 1 ? labels[o] : labels[min(1, labels.count - 1)]
    }

    /// Contributions as a table, one row per explained row: `explained_class` (classification), `expected_value`,
    /// then each feature's contribution to the row's explained output, under the feature's name.
    public static func table(_ c: Contributions, labels: [String]) throws -> Table {
        let outputs = (0..<c.rows).map { c.explainedOutput(row: $0) }
        var columns = [Column]()
        if !labels.isEmpty {
            columns.append(
                Column(name: "explained_class", strings: outputs.map { output($0, of: c, labels: labels) }))
        }
        columns.append(Column(name: "expected_value", doubles: outputs.map { c.expected[$0] }))
        for (f, name) in c.features.enumerated() {
            columns.append(
                Column(name: name, doubles: outputs.enumerated().map { r, o in c.values[o][r * c.features.count + f] }))
        }
        return try Table(columns: columns)
    }
}

extension ModelBundle {
    /// The contributions of each input column (as the model bundle's input schema names them, looked-up columns
    /// included) for the rows of a merged table: the model's per-feature contributions credited through the
    /// preparation (a one-hot level to its column; a derived feature to the columns it reads, equally).
    /// With `credited: false`, per feature the model sees (after preparation).
    public func contributions(merged raw: Table, credited: Bool = true) throws -> Contributions {
        try contributions(prepared: try pipeline.transform(raw, serving: true).table, credited: credited)
    }

    /// The contributions of rows the bundle's preparation has made (`contributions(merged:credited:)`).
    func contributions(prepared: Table, credited: Bool = true) throws -> Contributions {
        let fitted = try model.model()
        let c = try fitted.contributions(try fitted.schema.encode(prepared))
        return credited ? c.credited(to: pipeline.origins(), columns: inputSchema.map(\.name)) : c
    }

    /// Each input column's mean |contribution| over the rows of a merged table (a seeded sample of at most `limit`),
    /// each row's contributions to the output its answer is explained by: how much the model leans on each column.
    /// Input columns the rows lack are taken as missing.
    public func meanAbsoluteContributions(merged raw: Table, limit: Int = 500, seed: UInt64 = 42) throws
        -> [String: Double]
    {
        var rows = raw
        if raw.rowCount > limit {
            var rng = SeededGenerator(seed: seed)
            rows = raw.taking(Array(Array(0..<raw.rowCount).shuffled(using: &rng).prefix(limit)).sorted())
        }
        for column in inputSchema where rows[column.name] == nil {
            let missing = [Double?](repeating: nil, count: rows.rowCount)
            rows = try rows.setting(
                column.type == .string
                    ? Column(name: column.name, strings: missing.map { _ in nil })
                    : Column(name: column.name, doubles: missing))
        }
        let c = try contributions(merged: rows)
        guard c.rows > 0 else { return [:] }
        var sums = [Double](repeating: 0, count: c.features.count)
        for r in 0..<c.rows {
            for (f, v) in c.row(r, output: c.explainedOutput(row: r)).enumerated() { sums[f] += abs(v) }
        }
        return Dictionary(uniqueKeysWithValues: zip(c.features, sums.map { $0 / Double(c.rows) }))
    }

    /// Each row's explanation with its `top` largest contributions (all when nil).
    public func explain(merged raw: Table, top: Int? = nil) throws -> [Explanation] {
        try explain(merged: raw, prepared: try pipeline.transform(raw, serving: true).table, top: top)
    }

    /// `explain(merged:top:)` for rows whose preparation (`prepared`) is made already.
    func explain(merged raw: Table, prepared: Table, top: Int?) throws -> [Explanation] {
        let c = try contributions(prepared: prepared)
        let labels = try model.model().labels
        let columns = c.features.map { raw[$0] }
        return (0..<c.rows).map { r in
            let o = c.explainedOutput(row: r)
            let output = Explanation.output(o, of: c, labels: labels)
            var parts = zip(c.features.indices, c.row(r, output: o)).map { f, v in
                Explanation.Part(column: c.features[f], value: columns[f]?[r] ?? .missing, contribution: v)
            }
            parts.sort { abs($0.contribution) > abs($1.contribution) }
            if let top { parts = Array(parts.prefix(max(0, top))) }
            return Explanation(output: output, expected: c.expected[o], parts: parts)
        }
    }
}
