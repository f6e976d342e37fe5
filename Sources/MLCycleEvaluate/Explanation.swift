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
}

extension ModelBundle {
    /// The contributions of each input column (as the model bundle's input schema names them, looked-up columns
    /// included) for the rows of a merged table: the model's per-feature contributions credited through the
    /// preparation (a one-hot level to its column; a derived feature to the columns it reads, equally).
    public func contributions(merged raw: Table) throws -> Contributions {
        let prepared = try pipeline.transform(raw, serving: true).table
        let fitted = try model.model()
        let data = try fitted.schema.encode(prepared)
        return try fitted.contributions(data).credited(to: pipeline.origins(), columns: inputSchema.map(\.name))
    }

    /// Each row's explanation with its `top` largest contributions (all when nil).
    public func explain(merged raw: Table, top: Int? = nil) throws -> [Explanation] {
        let c = try contributions(merged: raw)
        let labels = try model.model().labels
        let columns = c.features.map { raw[$0] }
        return (0..<c.rows).map { r in
            // One output, or the class with the highest raw output (the predicted one).
            var o = 0
            if c.expected.count > 1 {
                let outputs = c.expected.indices.map { c.expected[$0] + c.row(r, output: $0).reduce(0, +) }
                o = outputs.indices.max { outputs[$0] < outputs[$1] } ?? 0
            }
            let output: String? =
                labels.isEmpty ? nil : c.expected.count > 1 ? labels[o] : labels[min(1, labels.count - 1)]
            var parts = zip(c.features.indices, c.row(r, output: o)).map { f, v in
                Explanation.Part(column: c.features[f], value: columns[f]?[r] ?? .missing, contribution: v)
            }
            parts.sort { abs($0.contribution) > abs($1.contribution) }
            if let top { parts = Array(parts.prefix(max(0, top))) }
            return Explanation(output: output, expected: c.expected[o], parts: parts)
        }
    }
}
