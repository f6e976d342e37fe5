import Foundation

/// Model quality metrics with scikit-learn's definitions.
public enum Metrics {
    /// rmse, mae, mape, r2 and within_10pct (share of predictions within 10 % of the actual value).
    public static func regression(actual y: [Double], predicted p: [Double]) -> [String: Double] {
        let n = Double(y.count)
        guard !y.isEmpty else { return [:] }
        var se = 0.0, ae = 0.0, ape = 0.0, within = 0.0
        for i in 0..<y.count {
            let e = p[i] - y[i]
            se += e * e
            ae += abs(e)
            ape += abs(e) / max(abs(y[i]), Double.ulpOfOne) // sklearn's mean_absolute_percentage_error
            if abs(e) <= 0.1 * abs(y[i]) { within += 1 }
        }
        let mean = y.reduce(0, +) / n
        let ss = y.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        return ["rmse": (se / n).squareRoot(), "mae": ae / n, "mape": ape / n,
                "r2": ss > 0 ? 1 - se / ss : (se == 0 ? 1 : 0), "within_10pct": within / n]
    }

    /// auc, logloss, accuracy, precision, recall, f1 for a binary task; `positive` holds 1 for the positive class,
    /// `probability` the predicted probability of the positive class, `threshold` turns it into a label.
    public static func binary(positive y: [Bool], probability p: [Double], threshold: Double = 0.5) -> [String: Double] {
        guard !y.isEmpty else { return [:] }
        var tp = 0.0, fp = 0.0, tn = 0.0, fn = 0.0, loss = 0.0
        let eps = Double.ulpOfOne
        for i in 0..<y.count {
            let predicted = p[i] >= threshold
            switch (y[i], predicted) {
            case (true, true): tp += 1
            case (false, true): fp += 1
            case (false, false): tn += 1
            case (true, false): fn += 1
            }
            let q = min(max(p[i], eps), 1 - eps)
            loss -= y[i] ? log(q) : log(1 - q)
        }
        let n = Double(y.count)
        let precision = tp + fp > 0 ? tp / (tp + fp) : 0
        let recall = tp + fn > 0 ? tp / (tp + fn) : 0
        return ["auc": rocAUC(positive: y, score: p) ?? .nan, "logloss": loss / n, "accuracy": (tp + tn) / n,
                "precision": precision, "recall": recall,
                "f1": precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0]
    }

    /// Area under the ROC curve: the Mann–Whitney statistic with average ranks for ties; nil with one class only.
    public static func rocAUC(positive y: [Bool], score: [Double]) -> Double? {
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
        let positives = Double(y.filter { $0 }.count), negatives = Double(y.count) - positives
        guard positives > 0, negatives > 0 else { return nil }
        return (rankSum - positives * (positives + 1) / 2) / (positives * negatives)
    }

    /// accuracy, logloss and macro_f1 for classes 0..<k; `probabilities` row-major (k per row).
    public static func multiclass(actual y: [Int], probabilities: [Double], classes k: Int) -> [String: Double] {
        guard !y.isEmpty, k > 0 else { return [:] }
        let n = y.count
        var correct = 0.0, loss = 0.0
        var tp = [Double](repeating: 0, count: k), fp = tp, fn = tp
        let eps = Double.ulpOfOne
        for r in 0..<n {
            var best = 0
            var sum = 0.0
            for c in 0..<k { sum += probabilities[r * k + c]; if probabilities[r * k + c] > probabilities[r * k + best] { best = c } }
            if best == y[r] { correct += 1; tp[best] += 1 } else { fp[best] += 1; fn[y[r]] += 1 }
            // sklearn's log_loss clips, then renormalises each row.
            let q = min(max(probabilities[r * k + y[r]], eps), 1 - eps)
            loss -= log(q / max(sum, eps))
        }
        var f1 = 0.0
        for c in 0..<k {
            let d = 2 * tp[c] + fp[c] + fn[c]
            f1 += d > 0 ? 2 * tp[c] / d : 0
        }
        return ["accuracy": correct / Double(n), "logloss": loss / Double(n), "macro_f1": f1 / Double(k)]
    }
}
