import Foundation
import MLCycleData

/// Each feature's exact contribution to each row's output, and the expected output they start from: for every row,
/// `expected[o]` plus the row's contributions to output `o` is the model's output `o` for the row.
///
/// The output is the model's raw score: the value for regression; for a binary gradient-boosted or logistic model
/// the log-odds of the second class, for a binary forest its share; for three classes or more one output per class
/// (raw scores, or a forest's shares).
public struct Contributions: Sendable, Equatable {
    /// The features, in the order of each row's values.
    public var features: [String]
    /// Per output (one, or one per class for a multiclass model): the expected output over the training rows.
    public var expected: [Double]
    /// Per output, per row, per feature: `values[o][r * features.count + f]`.
    public var values: [[Double]]

    public init(features: [String], expected: [Double], values: [[Double]]) {
        self.features = features
        self.expected = expected
        self.values = values
    }

    /// How many rows are explained.
    public var rows: Int { features.isEmpty ? 0 : (values.first?.count ?? 0) / features.count }

    /// The output each row is explained by: the only one, or the one with the highest raw output (the predicted
    /// class of a multiclass model).
    public func explainedOutput(row r: Int) -> Int {
        guard expected.count > 1 else { return 0 }
        let outputs = expected.indices.map { expected[$0] + row(r, output: $0).reduce(0, +) }
        return outputs.indices.max { outputs[$0] < outputs[$1] } ?? 0
    }

    /// Row `r`'s contributions to output `o`, one per feature.
    public func row(_ r: Int, output o: Int = 0) -> ArraySlice<Double> {
        values[o][(r * features.count)..<((r + 1) * features.count)]
    }

    /// The contributions credited to the columns the features were made from: `origins[feature]` gives each
    /// column's share of the feature (shares summing to 1; a feature without origins is its own column). Columns
    /// come in the order of `columns`, then any others in the order met. The sums per row do not change.
    public func credited(to origins: [String: [String: Double]], columns: [String] = []) -> Contributions {
        var order = columns
        var index = Dictionary(columns.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let shares: [[(column: Int, share: Double)]] = features.map { feature in
            let parts = origins[feature] ?? [feature: 1]
            return parts.keys.sorted().map { column in
                if index[column] == nil {
                    index[column] = order.count
                    order.append(column)
                }
                return (index[column] ?? 0, parts[column] ?? 0)
            }
        }
        let f = features.count
        let m = order.count
        let n = rows
        let values = self.values.map { output in
            var out = [Double](repeating: 0, count: n * m)
            for r in 0..<n {
                for (j, parts) in shares.enumerated() {
                    let v = output[r * f + j]
                    for part in parts { out[r * m + part.column] += v * part.share }
                }
            }
            return out
        }
        return Contributions(features: order, expected: expected, values: values)
    }
}

extension DesignMatrixSpec {
    /// Contributions of a linear score `intercepts[o] + Σ_j coefficients[o·p + j]·x_j`: each term's
    /// `coefficient × (x − its training mean)`, summed per schema feature (a categorical feature's indicators
    /// together).
    func contributions(
        _ data: Dataset, schema: FeatureSchema, coefficients: [Double], intercepts: [Double]
    ) throws -> Contributions {
        let means = try terms.map { term -> Double in
            guard let mean = term.mean else {
                throw LearnError.unsupported(
                    "this model was trained before mlcycle recorded its terms' training means, which exact "
                        + "contributions need: train it again")
            }
            return mean
        }
        let p = terms.count
        let f = schema.features.count
        let n = data.rows
        let x = matrix(data)
        var expected = [Double]()
        var values = [[Double]]()
        for (o, intercept) in intercepts.enumerated() {
            var base = intercept
            for j in 0..<p { base += coefficients[o * p + j] * means[j] }
            expected.append(base)
            var out = [Double](repeating: 0, count: n * f)
            for r in 0..<n {
                for (j, term) in terms.enumerated() {
                    out[r * f + term.feature] += coefficients[o * p + j] * (x[r * p + j] - means[j])
                }
            }
            values.append(out)
        }
        return Contributions(features: schema.features.map(\.name), expected: expected, values: values)
    }
}

extension LinearRegressionModel {
    /// Each feature's exact contribution to each row's prediction: `coefficient × (x − training mean)`.
    public func contributions(_ data: Dataset) throws -> Contributions {
        try design.contributions(data, schema: schema, coefficients: coefficients, intercepts: [intercept])
    }
}

extension LogisticRegressionModel {
    /// Each feature's exact contribution to each row's score (the log-odds of the second class for a binary model,
    /// each class's softmax score for a multinomial one): `coefficient × (x − training mean)`.
    public func contributions(_ data: Dataset) throws -> Contributions {
        try design.contributions(data, schema: schema, coefficients: coefficients, intercepts: intercepts)
    }
}

extension FittedModel {
    /// Each feature's exact contribution to each row's raw score (see `Contributions`): TreeSHAP for tree models,
    /// `coefficient × (x − training mean)` for linear ones. Clustering has none.
    public func contributions(_ data: Dataset) throws -> Contributions {
        switch self {
        case .gbdt(let m): return try m.contributions(data)
        case .forest(let m): return try m.contributions(data)
        case .linear(let m): return try m.contributions(data)
        case .logistic(let m): return try m.contributions(data)
        case .kmeans:
            throw LearnError.unsupported("a clustering model has no contributions to explain: it assigns clusters")
        }
    }

    /// Each row's raw score per output, as `contributions(_:)` explains it (`[output][row]`).
    public func rawScores(_ data: Dataset) -> [[Double]] {
        switch self {
        case .gbdt(let m): return m.rawClassScores(data)
        case .forest(let m):
            let p = m.predict(data)
            let w = m.leafWidth
            if m.labels.isEmpty { return [p.values] }
            if w == 1 { return [(0..<data.rows).map { p.probabilities[2 * $0 + 1] }] }
            return (0..<w).map { c in (0..<data.rows).map { p.probabilities[$0 * w + c] } }
        case .linear(let m): return [m.predict(data).values]
        case .logistic(let m):
            let scores = m.scores(data)
            return m.intercepts.indices.map { o in scores.map { $0[o] } }
        case .kmeans: return []
        }
    }
}
