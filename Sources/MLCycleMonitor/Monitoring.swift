import Foundation
import MLCycleData
import MLCycleMetrics

/// One served prediction as monitoring reads it (from the store's prediction log, joined with its feedback).
public struct ServedPrediction: Sendable {
    public var at: Date
    public var version: String
    public var latencySeconds: Double
    /// "ok", "review" (answered outside the scope, for a person to look at), "unavailable", or "error CODE" for a
    /// refused request (a shadow's answers count as "ok" in its own pass).
    public var status: String
    public var prediction: String?
    /// The eventual truth, when it was fed back (`kind: actual`).
    public var actual: String?
    /// The value a person replaced the estimate with (`kind: override`), when one did.
    public var override: String? = nil
    /// Classifiers: the predicted class's probability.
    public var confidence: Double?
    /// Answered with low confidence (inputs unlike the training data).
    public var lowConfidence: Bool

    public init(
        at: Date, version: String, latencySeconds: Double, status: String, prediction: String?, actual: String?,
        override: String? = nil, confidence: Double? = nil, lowConfidence: Bool = false
    ) {
        self.override = override
        self.confidence = confidence
        self.lowConfidence = lowConfidence
        self.at = at
        self.version = version
        self.latencySeconds = latencySeconds
        self.status = status
        self.prediction = prediction
        self.actual = actual
    }
}

/// What happened in one time window: volume, answers, latency and — where feedback exists — the same metrics as
/// evaluation.
public struct WindowSummary: Codable, Sendable, Equatable {
    public var start: Date
    public var end: Date
    /// Rows answered.
    public var volume: Int
    /// Refused requests by HTTP status code ("400": 3).
    public var errors: [String: Int]
    /// Refused requests over refused requests plus answered rows.
    public var errorRate: Double
    public var unavailable: Int
    public var unavailableShare: Double
    /// Rows answered for review (outside the scope), and their share of the rows answered or unavailable.
    public var review: Int
    public var reviewShare: Double
    public var latencyP50: Double?
    public var latencyP95: Double?
    public var latencyP99: Double?
    public var labelled: Int
    /// Regression: mape, mae, rmse, within_10pct, … (Metrics.regression); classification: accuracy.
    public var metrics: [String: Double]
    public var predictionMean: Double?
    /// Classifiers: the mean probability of the predicted class over answered rows.
    public var confidenceMean: Double?
    /// The share of answered rows given with low confidence (inputs unlike the training data).
    public var lowConfidenceShare: Double
    /// Answered rows a person overrode, and their share of the answered rows.
    public var overrides: Int
    public var overrideRate: Double
    /// Regression: the mean of (override − estimate) / estimate over the overridden rows (positive: moved up).
    public var overrideShift: Double?
    public var versions: [String: Int]

    enum CodingKeys: String, CodingKey {
        case start, end, volume, errors
        case errorRate = "error_rate"
        case unavailable
        case unavailableShare = "unavailable_share"
        case review
        case reviewShare = "review_share"
        case latencyP50 = "latency_p50"
        case latencyP95 = "latency_p95"
        case latencyP99 = "latency_p99"
        case labelled, metrics
        case predictionMean = "prediction_mean"
        case confidenceMean = "confidence_mean"
        case lowConfidenceShare = "low_confidence_share"
        case overrides
        case overrideRate = "override_rate"
        case overrideShift = "override_shift"
        case versions
    }
}

extension WindowSummary {
    /// A window from its counts and measured values (from rows here, or summed up by the database); the rates and
    /// shares follow from the counts. `volume` counts the rows answered or unavailable, `answered` those answered
    /// (`ok` or `review`), of which `lowConfidence` with low confidence and `overrides` overridden.
    public init(
        start: Date, end: Date, volume: Int, errors: [String: Int], unavailable: Int, review: Int,
        latency: (p50: Double?, p95: Double?, p99: Double?), labelled: Int, metrics: [String: Double],
        predictionMean: Double?, confidenceMean: Double?, answered: Int, lowConfidence: Int, overrides: Int,
        overrideShift: Double?, versions: [String: Int]
    ) {
        let failed = errors.values.reduce(0, +)
        self.init(
            start: start, end: end, volume: volume, errors: errors,
            errorRate: failed == 0 ? 0 : Double(failed) / Double(failed + volume), unavailable: unavailable,
            unavailableShare: volume == 0 ? 0 : Double(unavailable) / Double(volume), review: review,
            reviewShare: volume == 0 ? 0 : Double(review) / Double(volume),
            latencyP50: latency.p50, latencyP95: latency.p95, latencyP99: latency.p99, labelled: labelled,
            metrics: metrics, predictionMean: predictionMean, confidenceMean: confidenceMean,
            lowConfidenceShare: answered == 0 ? 0 : Double(lowConfidence) / Double(answered), overrides: overrides,
            overrideRate: answered == 0 ? 0 : Double(overrides) / Double(answered), overrideShift: overrideShift,
            versions: versions)
    }
}

/// Durations as the spec writes them: `30s`, `15m`, `1h`, `1d`, `2w`, and `6M` (months of 30 days).
public enum MonitoringDuration {
    public static func seconds(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard let unit = t.last, let n = Double(t.dropLast()), n > 0 else { return nil }
        switch unit {
        case "s": return n
        case "m": return n * 60
        case "h": return n * 3600
        case "d": return n * 86_400
        case "w": return n * 7 * 86_400
        case "M": return n * 30 * 86_400
        default: return nil
        }
    }
}

public enum Monitoring {
    /// Summarises the predictions in [start, end). `regression` picks the metrics computed on labelled rows; for a
    /// binary classifier, `positive` (its positive class) adds precision, recall and F1 from the served labels, and
    /// AUC and log-loss from the logged class probabilities.
    public static func summarize(
        _ rows: [ServedPrediction], start: Date, end: Date, regression: Bool, positive: String? = nil
    ) -> WindowSummary {
        var errors = [String: Int]()
        let inside = rows.filter { r in
            guard r.at >= start && r.at < end else { return false }
            if r.status.hasPrefix("error ") {
                errors[String(r.status.dropFirst(6)), default: 0] += 1
                return false
            }
            return true
        }
        let latencies = inside.map(\.latencySeconds).sorted()
        func q(_ p: Double) -> Double? { latencies.isEmpty ? nil : Statistics.quantile(sorted: latencies, p) }
        let unavailable = inside.filter { $0.status == "unavailable" }.count
        let review = inside.filter { $0.status == "review" }.count
        var versions = [String: Int]()
        for r in inside { versions[r.version, default: 0] += 1 }
        var metrics = [String: Double]()
        var labelled = 0
        let numbers = inside.compactMap { $0.status == "ok" ? $0.prediction.flatMap(Double.init) : nil }
        if regression {
            var y = [Double]()
            var p = [Double]()
            for r in inside where r.status == "ok" {
                if let a = r.actual.flatMap(Double.init), let v = r.prediction.flatMap(Double.init) {
                    y.append(a)
                    p.append(v)
                }
            }
            labelled = y.count
            if !y.isEmpty { metrics = Metrics.regression(actual: y, predicted: p) }
        } else {
            var right = 0
            var tp = 0
            var fp = 0
            var fn = 0
            var isPositive = [Bool]()
            var probability = [Double]()
            for r in inside where r.status == "ok" {
                guard let a = r.actual, let v = r.prediction else { continue }
                labelled += 1
                if a == v { right += 1 }
                guard let positive else { continue }
                let actual = a == positive
                let said = v == positive
                if actual && said { tp += 1 } else if said { fp += 1 } else if actual { fn += 1 }
                // The logged confidence is the predicted class's probability: the positive class's follows.
                if let c = r.confidence {
                    isPositive.append(actual)
                    probability.append(said ? c : 1 - c)
                }
            }
            if labelled > 0 { metrics["accuracy"] = Double(right) / Double(labelled) }
            if positive != nil, labelled > 0 {
                let precision = tp + fp > 0 ? Double(tp) / Double(tp + fp) : 0
                let recall = tp + fn > 0 ? Double(tp) / Double(tp + fn) : 0
                metrics["precision"] = precision
                metrics["recall"] = recall
                metrics["f1"] = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
                if isPositive.count == labelled {
                    let scored = Metrics.binary(positive: isPositive, probability: probability)
                    if let auc = scored["auc"], auc.isFinite { metrics["auc"] = auc }
                    metrics["logloss"] = scored["logloss"]
                }
            }
        }
        // Answers given (in scope or for review): confidence and overrides are about them.
        let answered = inside.filter { $0.status == "ok" || $0.status == "review" }
        let confidences = answered.compactMap(\.confidence)
        let overridden = answered.filter { $0.override != nil }
        let shifts = overridden.compactMap { relativeMove($0.override, from: $0.prediction) }
        return WindowSummary(
            start: start, end: end, volume: inside.count, errors: errors, unavailable: unavailable, review: review,
            latency: (q(0.5), q(0.95), q(0.99)), labelled: labelled, metrics: metrics,
            predictionMean: numbers.isEmpty ? nil : numbers.reduce(0, +) / Double(numbers.count),
            confidenceMean: confidences.isEmpty ? nil : confidences.reduce(0, +) / Double(confidences.count),
            answered: answered.count, lowConfidence: answered.filter(\.lowConfidence).count,
            overrides: overridden.count,
            overrideShift: regression && !shifts.isEmpty ? shifts.reduce(0, +) / Double(shifts.count) : nil,
            versions: versions)
    }

    /// Consecutive windows of `size` seconds ending at `end`, oldest first, back to the first prediction (at most
    /// `limit` windows).
    public static func windows(
        _ rows: [ServedPrediction], size: Double, end: Date, regression: Bool, positive: String? = nil, limit: Int = 366
    ) -> [WindowSummary] {
        guard let first = rows.map(\.at).min() else { return [] }
        let count = min(limit, max(1, Int((end.timeIntervalSince(first) / size).rounded(.up))))
        return (0..<count).reversed().map { k in
            let stop = end.addingTimeInterval(-Double(k) * size)
            return summarize(
                rows, start: stop.addingTimeInterval(-size), end: stop, regression: regression, positive: positive)
        }
    }
}

/// The evaluation metrics on one slice of the labelled served rows.
public struct SliceSummary: Codable, Sendable, Equatable {
    public var column: String
    public var value: String
    public var rows: Int
    public var metrics: [String: Double]
    public init(column: String, value: String, rows: Int, metrics: [String: Double]) {
        self.column = column
        self.value = value
        self.rows = rows
        self.metrics = metrics
    }
}

extension Monitoring {
    /// Metrics per slice (the spec's evaluation slices) of labelled served rows: `inputs` holds their served inputs
    /// (the target column is added from `actual`), `predictions` their answers. A slice on a column the requests do
    /// not carry (one the pipeline derives) is left out.
    public static func slices(
        _ inputs: Table, target: String, predictions: [String], actual: [String], specs: [SliceSpec], regression: Bool
    ) throws -> [SliceSummary] {
        guard inputs.rowCount == actual.count, predictions.count == actual.count, !actual.isEmpty else { return [] }
        var columns = inputs.columns.filter { $0.name != target }
        columns.append(
            regression
                ? Column(name: target, doubles: actual.map(Double.init))
                : Column(name: target, strings: actual.map { Optional($0) }))
        let table = try Table(columns: columns)
        var out = [SliceSummary]()
        for spec in specs where table[spec.column] != nil {
            for (value, rows) in try spec.rows(in: table) where !rows.isEmpty {
                var metrics = [String: Double]()
                if regression {
                    var y = [Double]()
                    var p = [Double]()
                    for r in rows {
                        if let a = Double(actual[r]), let v = Double(predictions[r]) {
                            y.append(a)
                            p.append(v)
                        }
                    }
                    if !y.isEmpty { metrics = Metrics.regression(actual: y, predicted: p) }
                } else {
                    metrics["accuracy"] =
                        Double(rows.filter { actual[$0] == predictions[$0] }.count) / Double(rows.count)
                }
                out.append(SliceSummary(column: spec.column, value: value, rows: rows.count, metrics: metrics))
            }
        }
        return out
    }
}

/// How people overrode the answers of a period: how often, how far and which way, and where (by slice) — "agents
/// adjust 12 % of estimates, mostly up, mostly in Old_Town".
public struct OverrideSummary: Codable, Sendable, Equatable {
    public struct Slice: Codable, Sendable, Equatable {
        public var column: String
        public var value: String
        public var rows: Int
        public var overrides: Int
        public var rate: Double
        public var shift: Double?
    }
    public var rows: Int
    public var overrides: Int
    public var rate: Double
    /// Regression: the mean relative move (override − estimate) / estimate, and the share of overrides that moved up.
    public var shift: Double?
    public var upShare: Double?
    /// Slices with at least one override, highest rate first.
    public var slices: [Slice]

    enum CodingKeys: String, CodingKey {
        case rows, overrides, rate, shift
        case upShare = "up_share"
        case slices
    }
}

extension Monitoring {
    /// How far a person's override moved a numeric estimate: (override − estimate) / |estimate|.
    static func relativeMove(_ override: String?, from estimate: String?) -> Double? {
        guard let o = override.flatMap(Double.init), let p = estimate.flatMap(Double.init), p != 0 else { return nil }
        return (o - p) / abs(p)
    }

    /// The overrides among answered rows: `inputs` holds their served inputs, `predictions` their answers and
    /// `overrides` what a person replaced each with (nil: kept).
    public static func overrides(
        _ inputs: Table, predictions: [String], overrides: [String?], specs: [SliceSpec], regression: Bool
    ) throws -> OverrideSummary {
        func shifts(_ rows: some Sequence<Int>) -> [Double] {
            guard regression else { return [] }
            return rows.compactMap { relativeMove(overrides[$0], from: predictions[$0]) }
        }
        func mean(_ x: [Double]) -> Double? { x.isEmpty ? nil : x.reduce(0, +) / Double(x.count) }
        let all = (0..<overrides.count).filter { overrides[$0] != nil }
        let moves = shifts(all)
        var slices = [OverrideSummary.Slice]()
        if !all.isEmpty {
            for spec in specs where inputs[spec.column] != nil {
                for (value, rows) in try spec.rows(in: inputs) where !rows.isEmpty {
                    let changed = rows.filter { overrides[$0] != nil }
                    guard !changed.isEmpty else { continue }
                    slices.append(
                        .init(
                            column: spec.column, value: value, rows: rows.count, overrides: changed.count,
                            rate: Double(changed.count) / Double(rows.count), shift: mean(shifts(changed))))
                }
            }
        }
        return OverrideSummary(
            rows: overrides.count, overrides: all.count,
            rate: overrides.isEmpty ? 0 : Double(all.count) / Double(overrides.count), shift: mean(moves),
            upShare: moves.isEmpty ? nil : Double(moves.filter { $0 > 0 }.count) / Double(moves.count),
            slices: slices.sorted { ($0.rate, $0.overrides) > ($1.rate, $1.overrides) })
    }
}
