import Foundation

/// Model quality metrics with scikit-learn's definitions (checked against it in `Tests/Fixtures/evaluate`).
public enum Metrics {
    /// rmse, mae, mape, median_ape, r2 and within_10pct (share of predictions within 10 % of the actual value).
    public static func regression(actual y: [Double], predicted p: [Double]) -> [String: Double] {
        let n = Double(y.count)
        guard !y.isEmpty, y.count == p.count else { return [:] }
        var se = 0.0
        var ae = 0.0
        var ape = [Double](repeating: 0, count: y.count)
        for i in 0..<y.count {
            let e = p[i] - y[i]
            se += e * e
            ae += abs(e)
            ape[i] = abs(e) / max(abs(y[i]), Double.ulpOfOne)  // sklearn's mean_absolute_percentage_error
        }
        let mean = y.reduce(0, +) / n
        let ss = y.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        return [
            "rmse": (se / n).squareRoot(), "mae": ae / n, "mape": ape.reduce(0, +) / n, "median_ape": median(ape),
            "r2": ss > 0 ? 1 - se / ss : (se == 0 ? 1 : 0),
            "within_10pct": within(actual: y, predicted: p, share: 0.10),
        ]
    }

    /// The share of predictions within `share` (0.1: 10 %) of the actual value — the house-price business metric.
    public static func within(actual y: [Double], predicted p: [Double], share: Double) -> Double {
        guard !y.isEmpty else { return .nan }
        var hits = 0
        for i in 0..<y.count where abs(p[i] - y[i]) <= share * abs(y[i]) { hits += 1 }
        return Double(hits) / Double(y.count)
    }

    /// numpy's median (the mean of the two middle values for an even count).
    static func median(_ x: [Double]) -> Double {
        guard !x.isEmpty else { return .nan }
        let s = x.sorted()
        let m = s.count / 2
        return s.count % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2
    }

    /// auc, pr_auc, logloss, brier, accuracy, precision, recall, f1 for a binary task; `positive` holds true for the
    /// positive class, `probability` the predicted probability of it, and a row is predicted positive when
    /// its probability is at least `threshold`.
    public static func binary(positive y: [Bool], probability p: [Double], threshold: Double = 0.5) -> [String: Double]
    {
        guard !y.isEmpty, y.count == p.count else { return [:] }
        let c = binaryConfusion(positive: y, probability: p, threshold: threshold)
        let tn = Double(c[0][0])
        let fp = Double(c[0][1])
        let fn = Double(c[1][0])
        let tp = Double(c[1][1])
        var loss = 0.0
        var brier = 0.0
        let eps = Double.ulpOfOne
        for i in 0..<y.count {
            let q = min(max(p[i], eps), 1 - eps)
            loss -= y[i] ? log(q) : log(1 - q)
            let d = p[i] - (y[i] ? 1 : 0)
            brier += d * d
        }
        let n = Double(y.count)
        let precision = tp + fp > 0 ? tp / (tp + fp) : 0
        let recall = tp + fn > 0 ? tp / (tp + fn) : 0
        return [
            "auc": rocAUC(positive: y, score: p) ?? .nan, "pr_auc": averagePrecision(positive: y, score: p) ?? .nan,
            "logloss": loss / n, "brier": brier / n, "accuracy": (tp + tn) / n, "precision": precision,
            "recall": recall,
            "f1": precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0,
        ]
    }

    /// Counts `[[tn, fp], [fn, tp]]` (rows: actual negative, positive; columns: predicted), as scikit-learn's
    /// `confusion_matrix(labels=[False, True])`.
    public static func binaryConfusion(positive y: [Bool], probability p: [Double], threshold: Double = 0.5) -> [[Int]]
    {
        var m = [[0, 0], [0, 0]]
        for i in 0..<min(y.count, p.count) { m[y[i] ? 1 : 0][p[i] >= threshold ? 1 : 0] += 1 }
        return m
    }

    /// Scores with NaN ranked lowest (as −∞), so sorting and grouping ties terminate: NaN ≠ NaN would leave a
    /// curve's tie loop without progress and a sort without a strict order.
    public static func rankable(_ score: [Double]) -> [Double] {
        score.contains(where: \.isNaN) ? score.map { $0.isNaN ? -.infinity : $0 } : score
    }

    /// Area under the ROC curve: the Mann–Whitney statistic with average ranks for ties; nil with one class only.
    public static func rocAUC(positive y: [Bool], score: [Double]) -> Double? {
        let score = rankable(score)
        let order = score.indices.sorted { score[$0] < score[$1] }
        var rankSum = 0.0
        var i = 0
        while i < order.count {
            var j = i + 1
            while j < order.count && score[order[j]] == score[order[i]] { j += 1 }
            let rank = Double(i + j + 1) / 2
            for k in i..<j where y[order[k]] { rankSum += rank }
            i = j
        }
        let positives = Double(y.filter { $0 }.count)
        let negatives = Double(y.count) - positives
        guard positives > 0, negatives > 0 else { return nil }
        return (rankSum - positives * (positives + 1) / 2) / (positives * negatives)
    }

    /// One point of the precision–recall curve: predicting positive when the score is at least `threshold`.
    public struct OperatingPoint: Codable, Sendable, Equatable {
        public var threshold: Double
        public var precision: Double
        public var recall: Double
    }

    /// The precision–recall curve at every distinct score, highest threshold first (scikit-learn's
    /// `precision_recall_curve`, without its closing (precision 1, recall 0) point); empty without positives.
    public static func precisionRecallCurve(positive y: [Bool], score: [Double]) -> [OperatingPoint] {
        let positives = Double(y.filter { $0 }.count)
        guard positives > 0 else { return [] }
        let score = rankable(score)
        let order = score.indices.sorted { score[$0] > score[$1] }
        var points = [OperatingPoint]()
        var tp = 0.0
        var fp = 0.0
        var i = 0
        while i < order.count {
            let s = score[order[i]]
            while i < order.count && score[order[i]] == s {
                if y[order[i]] { tp += 1 } else { fp += 1 }
                i += 1
            }
            points.append(OperatingPoint(threshold: s, precision: tp / (tp + fp), recall: tp / positives))
        }
        return points
    }

    /// Average precision, Σ (Rₙ − Rₙ₋₁) Pₙ over the curve's thresholds (scikit-learn's `average_precision_score`,
    /// the PR AUC without interpolation); nil without positives.
    public static func averagePrecision(positive y: [Bool], score: [Double]) -> Double? {
        let curve = precisionRecallCurve(positive: y, score: score)
        guard !curve.isEmpty else { return nil }
        var ap = 0.0
        var previousRecall = 0.0
        for point in curve {
            ap += (point.recall - previousRecall) * point.precision
            previousRecall = point.recall
        }
        return ap
    }

    /// The operating point with the highest recall whose precision is at least `precision`; nil if none reaches it.
    public static func threshold(forPrecision target: Double, positive y: [Bool], score: [Double]) -> OperatingPoint? {
        precisionRecallCurve(positive: y, score: score).filter { $0.precision >= target }
            .max { $0.recall < $1.recall || ($0.recall == $1.recall && $0.threshold < $1.threshold) }
    }

    /// The highest threshold whose recall is at least `recall` (the best precision that still catches that share).
    public static func threshold(forRecall target: Double, positive y: [Bool], score: [Double]) -> OperatingPoint? {
        precisionRecallCurve(positive: y, score: score).first { $0.recall >= target }
    }

    /// accuracy, logloss, macro_f1 and weighted_f1 for classes 0..<k; `probabilities` row-major (k per row).
    public static func multiclass(actual y: [Int], probabilities: [Double], classes k: Int) -> [String: Double] {
        guard !y.isEmpty, k > 0, probabilities.count == y.count * k else { return [:] }
        let n = y.count
        var loss = 0.0
        let eps = Double.ulpOfOne
        for r in 0..<n {
            var sum = 0.0
            for c in 0..<k { sum += probabilities[r * k + c] }
            // sklearn's log_loss clips, then renormalises each row.
            let q = min(max(probabilities[r * k + y[r]], eps), 1 - eps)
            loss -= log(q / max(sum, eps))
        }
        let m = multiclassConfusion(actual: y, probabilities: probabilities, classes: k)
        var correct = 0.0
        var macro = 0.0
        var weighted = 0.0
        for c in 0..<k {
            let tp = Double(m[c][c])
            let support = Double(m[c].reduce(0, +))
            let predicted = Double((0..<k).reduce(0) { $0 + m[$1][c] })
            correct += tp
            let f1 = support + predicted > 0 ? 2 * tp / (support + predicted) : 0
            macro += f1
            weighted += f1 * support
        }
        return [
            "accuracy": correct / Double(n), "logloss": loss / Double(n), "macro_f1": macro / Double(k),
            "weighted_f1": weighted / Double(n),
        ]
    }

    /// Counts `m[actual][predicted]` with the most probable class as the prediction.
    public static func multiclassConfusion(actual y: [Int], probabilities: [Double], classes k: Int) -> [[Int]] {
        var m = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        for r in 0..<y.count where y[r] >= 0 && y[r] < k && (r + 1) * k <= probabilities.count {
            var best = 0
            for c in 1..<max(1, k) where probabilities[r * k + c] > probabilities[r * k + best] { best = c }
            m[y[r]][best] += 1
        }
        return m
    }
}
