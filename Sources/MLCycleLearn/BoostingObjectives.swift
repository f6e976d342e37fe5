import Foundation
import MLCycleData

/// A loss that gradient boosting minimises, as LightGBM's `objective/` keeps them apart from the tree learner:
/// the starting score, each row's gradient and hessian, the optional refit of a leaf from its rows' residuals, the
/// loss early stopping watches, and the link from raw scores to predictions.
///
/// The trainer and the fitted model call these once per round or per prediction call, never per row; the per-row
/// loops stay inside each objective, over plain arrays.
protocol BoostingObjective: Sendable {
    /// Raw scores per row: 1, or one per class (multiclass).
    var scoreColumns: Int { get }
    /// The starting score of each score column, from the training responses.
    func initialScores(_ y: [Double]) -> [Double]
    /// Gradient and hessian of row r for score column c at `pairs[c][2r]` and `pairs[c][2r + 1]`, from the scores
    /// at the start of the round.
    func gradients(y: [Double], scores: [[Double]], into pairs: inout [[Double]])
    /// The quantile at which a leaf's value is refit from its rows' residuals (absolute error, quantile), or nil.
    var leafRefitQuantile: Double? { get }
    /// The mean loss of raw scores against responses (what early stopping watches).
    func loss(y: [Double], scores: [[Double]]) -> Double
    /// Predictions from raw scores `[column][row]`.
    func predictions(fromRawScores raw: [[Double]]) -> Predictions
}

extension GBDTParameters.Objective {
    /// The loss behind this objective name, with the Huber threshold or quantile level `alpha`.
    func loss(alpha: Double, classes: Int) -> any BoostingObjective {
        switch self {
        case .regression: return SquaredError()
        case .absoluteError: return AbsoluteError()
        case .huber: return HuberLoss(alpha: alpha)
        case .quantile: return QuantileLoss(alpha: alpha)
        case .binary: return BinaryLogLoss()
        case .multiclass: return MulticlassLogLoss(classes: classes)
        }
    }
}

/// The shared shape of the four regression losses: one score column, the raw score is the prediction.
protocol RegressionObjective: BoostingObjective {
    /// Gradient of one row's loss at `d` = score − actual (the hessian is 1).
    func gradient(_ d: Double) -> Double
    /// One row's loss at `d` = score − actual.
    func rowLoss(_ d: Double) -> Double
}

extension RegressionObjective {
    var scoreColumns: Int { 1 }
    var leafRefitQuantile: Double? { nil }

    func gradients(y: [Double], scores: [[Double]], into pairs: inout [[Double]]) {
        // Raw buffers: every row, every round.
        scores[0].withUnsafeBufferPointer { s in
            pairs[0].withUnsafeMutableBufferPointer { out in
                for r in 0..<y.count {
                    out[2 * r] = gradient(s[r] - y[r])
                    out[2 * r + 1] = 1
                }
            }
        }
    }

    func loss(y: [Double], scores: [[Double]]) -> Double {
        let s = scores[0]
        var total = 0.0
        for r in 0..<y.count { total += rowLoss(s[r] - y[r]) }
        return total / Double(max(1, y.count))
    }

    func predictions(fromRawScores raw: [[Double]]) -> Predictions {
        Predictions(values: raw[0], probabilities: [], classCount: 0)
    }
}

/// Squared error (LightGBM's `regression`).
struct SquaredError: RegressionObjective {
    func initialScores(_ y: [Double]) -> [Double] { [Statistics.mean(y)] }
    func gradient(_ d: Double) -> Double { d }
    func rowLoss(_ d: Double) -> Double { d * d }
}

/// Absolute error (LightGBM's `regression_l1`): leaves take the median residual of their rows.
struct AbsoluteError: RegressionObjective {
    var leafRefitQuantile: Double? { 0.5 }
    func initialScores(_ y: [Double]) -> [Double] { [GradientBoostedTrees.leafPercentile(sorted: y.sorted(), 0.5)] }
    func gradient(_ d: Double) -> Double { d > 0 ? 1 : (d < 0 ? -1 : 0) }
    func rowLoss(_ d: Double) -> Double { abs(d) }
}

/// Huber loss with threshold `alpha`.
struct HuberLoss: RegressionObjective {
    var alpha: Double
    func initialScores(_ y: [Double]) -> [Double] { [Statistics.mean(y)] }
    func gradient(_ d: Double) -> Double { abs(d) <= alpha ? d : (d > 0 ? alpha : -alpha) }
    func rowLoss(_ d: Double) -> Double {
        let a = abs(d)
        return a <= alpha ? 0.5 * a * a : alpha * (a - 0.5 * alpha)
    }
}

/// Pinball loss at level `alpha`: predicts that quantile; leaves take the α-quantile of their rows' residuals.
struct QuantileLoss: RegressionObjective {
    var alpha: Double
    var leafRefitQuantile: Double? { alpha }
    func initialScores(_ y: [Double]) -> [Double] { [GradientBoostedTrees.leafPercentile(sorted: y.sorted(), alpha)] }
    func gradient(_ d: Double) -> Double { d >= 0 ? 1 - alpha : -alpha }
    // d = score − actual, so the actual's excess over the score is −d.
    func rowLoss(_ d: Double) -> Double { -d >= 0 ? alpha * -d : (alpha - 1) * -d }
}

/// Binary log-loss on one logit; `labels[1]` is the positive class.
struct BinaryLogLoss: BoostingObjective {
    var scoreColumns: Int { 1 }
    var leafRefitQuantile: Double? { nil }

    func initialScores(_ y: [Double]) -> [Double] {
        let mean = min(max(Statistics.mean(y), 1e-15), 1 - 1e-15)
        return [log(mean / (1 - mean))]
    }

    func gradients(y: [Double], scores: [[Double]], into pairs: inout [[Double]]) {
        // Raw buffers: every row, every round (a nested array's element write checks uniqueness each time).
        scores[0].withUnsafeBufferPointer { s in
            pairs[0].withUnsafeMutableBufferPointer { out in
                for r in 0..<y.count {
                    let p = 1 / (1 + exp(-s[r]))
                    out[2 * r] = p - y[r]
                    out[2 * r + 1] = max(p * (1 - p), 1e-16)
                }
            }
        }
    }

    func loss(y: [Double], scores: [[Double]]) -> Double {
        let s = scores[0]
        var total = 0.0
        for r in 0..<y.count {
            let z = s[r]
            total += (z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))) - y[r] * z
        }
        return total / Double(max(1, y.count))
    }

    func predictions(fromRawScores raw: [[Double]]) -> Predictions {
        let z = raw[0]
        var probabilities = [Double](repeating: 0, count: z.count * 2)
        var values = [Double](repeating: 0, count: z.count)
        for r in 0..<z.count {
            let p = 1 / (1 + exp(-z[r]))
            probabilities[2 * r] = 1 - p
            probabilities[2 * r + 1] = p
            values[r] = p > 0.5 ? 1 : 0
        }
        return Predictions(values: values, probabilities: probabilities, classCount: 2)
    }
}

/// Softmax cross-entropy over one score column per class (one tree per class and round, as LightGBM's
/// `multiclass`).
struct MulticlassLogLoss: BoostingObjective {
    var classes: Int
    var scoreColumns: Int { classes }
    var leafRefitQuantile: Double? { nil }

    /// All classes start at 0, as LightGBM's softmax does (starting from log class shares fits worse here).
    func initialScores(_ y: [Double]) -> [Double] { [Double](repeating: 0, count: classes) }

    /// The hessian carries LightGBM's factor K / (K − 1).
    func gradients(y: [Double], scores: [[Double]], into pairs: inout [[Double]]) {
        let probabilities = Self.softmax(scores)
        let factor = Double(classes) / Double(classes - 1)
        for c in 0..<classes {
            // Raw buffers: every row, class and round.
            probabilities[c].withUnsafeBufferPointer { p in
                pairs[c].withUnsafeMutableBufferPointer { out in
                    for r in 0..<y.count {
                        out[2 * r] = p[r] - (Int(y[r]) == c ? 1 : 0)
                        out[2 * r + 1] = max(factor * p[r] * (1 - p[r]), 1e-16)
                    }
                }
            }
        }
    }

    func loss(y: [Double], scores: [[Double]]) -> Double {
        let p = Self.softmax(scores)
        var total = 0.0
        for r in 0..<y.count { total -= log(max(p[Int(y[r])][r], 1e-15)) }
        return total / Double(max(1, y.count))
    }

    func predictions(fromRawScores raw: [[Double]]) -> Predictions {
        let p = Self.softmax(raw)
        let k = p.count
        let n = raw.first?.count ?? 0
        var probabilities = [Double](repeating: 0, count: n * k)
        var values = [Double](repeating: 0, count: n)
        for r in 0..<n {
            var best = 0
            for c in 0..<k {
                probabilities[r * k + c] = p[c][r]
                if p[c][r] > p[best][r] { best = c }
            }
            values[r] = Double(best)
        }
        return Predictions(values: values, probabilities: probabilities, classCount: k)
    }

    /// Per row, the softmax over the class scores (`scores[class][row]`), as `[class][row]`.
    static func softmax(_ scores: [[Double]]) -> [[Double]] {
        let k = scores.count
        let n = scores.first?.count ?? 0
        var out = [[Double]](repeating: [Double](repeating: 0, count: n), count: k)
        for r in 0..<n {
            var m = -Double.infinity
            for c in 0..<k { m = max(m, scores[c][r]) }
            var sum = 0.0
            for c in 0..<k {
                let e = exp(scores[c][r] - m)
                out[c][r] = e
                sum += e
            }
            for c in 0..<k { out[c][r] /= sum }
        }
        return out
    }
}
