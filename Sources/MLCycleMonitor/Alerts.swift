import Foundation

/// An alert's condition, parsed from the spec's `when`: `mape > 0.12 over 7d`, `latency_p99 > 1s over 1h`,
/// `volume < 50% of previous 7d`, `drift_share > 0.3`, `psi(living_area_sqft) > 0.25`.
public struct AlertCondition: Sendable, Equatable {
    public enum Comparison: String, Sendable {
        case gt = ">"
        case ge = ">="
        case lt = "<"
        case le = "<="
    }
    public var metric: String
    public var column: String?
    public var comparison: Comparison
    public var threshold: Double
    /// The window the metric is taken over, in seconds (nil: the monitoring window).
    public var over: Double?
    /// `of previous D`: the metric is the ratio of the last D to the D before it.
    public var ofPrevious: Double?

    /// Metrics a condition may name; drift metrics take a column in parentheses.
    public static let windowMetrics =
        [
            "volume", "error_rate", "unavailable_share", "confidence_mean", "low_confidence_share", "latency_p50",
            "latency_p95", "latency_p99", "prediction_mean", "override_rate", "review_share", "drift_share",
        ]
        + feedbackMetrics + predictionMetrics
    /// The metrics measured on rows with an actual (the evaluation metrics).
    public static let feedbackMetrics = [
        "mape", "mae", "rmse", "r2", "median_ape", "within_10pct", "accuracy", "precision", "recall", "f1", "auc",
        "logloss",
    ]
    /// The column metrics of the answers' drift against the answers on the test rows.
    public static let predictionMetrics = columnMetrics.map { "prediction_" + $0 }
    public static let columnMetrics = ["psi", "jensen_shannon", "wasserstein", "ks"]

    /// Parses a condition; the error says what is wrong and gives an example.
    public static func parse(_ text: String) throws -> AlertCondition {
        func fail(_ why: String) -> MonitorError {
            MonitorError.invalid(
                "alert condition '\(text)': \(why) (e.g. \"mape > 0.12 over 7d\", \"volume < 50% of previous 7d\", \"psi(living_area_sqft) > 0.25\")"
            )
        }
        var words = text.split(separator: " ").map(String.init)
        guard words.count >= 3 else { throw fail("expected METRIC OP VALUE") }
        var metric = words.removeFirst()
        var column: String?
        if let open = metric.firstIndex(of: "("), metric.hasSuffix(")") {
            column = String(metric[metric.index(after: open)..<metric.index(before: metric.endIndex)])
            metric = String(metric[..<open])
            guard columnMetrics.contains(metric), column?.isEmpty == false else {
                throw fail("\(metric)(…) is not a column metric; use one of \(columnMetrics.joined(separator: ", "))")
            }
        } else if !windowMetrics.contains(metric) {
            throw fail(
                "unknown metric '\(metric)'; use one of \(windowMetrics.joined(separator: ", ")) or \(columnMetrics.map { "\($0)(column)" }.joined(separator: ", "))"
            )
        }
        guard let comparison = Comparison(rawValue: words.removeFirst()) else {
            throw fail("expected >, >=, < or <= after the metric")
        }
        let value = words.removeFirst()
        let threshold: Double
        var percent = false
        if value.hasSuffix("%"), let n = Double(value.dropLast()) {
            threshold = n / 100
            percent = true
        } else if value.hasSuffix("ms"), let n = Double(value.dropLast(2)) {
            threshold = n / 1000
        } else if value.hasSuffix("s"), let n = Double(value.dropLast()) {
            threshold = n
        } else if let n = Double(value) {
            threshold = n
        } else {
            throw fail("'\(value)' is not a number")
        }
        var over: Double?
        var previous: Double?
        while !words.isEmpty {
            let w = words.removeFirst()
            if w == "over", let d = words.first.flatMap(MonitoringDuration.seconds) {
                over = d
                words.removeFirst()
            } else if w == "of", words.count >= 2, words[0] == "previous", let d = MonitoringDuration.seconds(words[1])
            {
                guard percent else { throw fail("'of previous' compares with a share, e.g. 50%") }
                previous = d
                words.removeFirst(2)
            } else {
                throw fail("unexpected '\(w)'")
            }
        }
        return AlertCondition(
            metric: metric, column: column, comparison: comparison, threshold: threshold, over: over,
            ofPrevious: previous)
    }

    func holds(_ value: Double) -> Bool {
        switch comparison {
        case .gt: return value > threshold
        case .ge: return value >= threshold
        case .lt: return value < threshold
        case .le: return value <= threshold
        }
    }
}

/// The outcome of checking one alert rule at one moment.
public struct AlertCheck: Codable, Sendable, Equatable {
    public var name: String
    public var severity: String
    public var rule: String
    public var fired: Bool
    /// The measured value (nil when it could not be measured, e.g. no labelled rows in the window).
    public var value: Double?
    public var threshold: Double
    public var windowStart: Date
    public var windowEnd: Date
    public var reason: String

    enum CodingKeys: String, CodingKey {
        case name, severity, rule, fired, value, threshold
        case windowStart = "window_start"
        case windowEnd = "window_end"
        case reason
    }
}

/// Checks alert rules against the prediction log (and a drift report for drift metrics).
public struct AlertChecker {
    public var predictions: [ServedPrediction]
    public var regression: Bool
    /// The monitoring window, in seconds, for conditions without `over`.
    public var window: Double
    /// The drift of the inputs served in [start, end) against the training reference (nil: nothing served).
    public var drift: (Date, Date) throws -> DriftReport?
    /// The drift of the answers given in [start, end) against the answers on the test rows (nil: nothing to compare).
    public var predictionDrift: (Date, Date) throws -> ColumnDrift? = { _, _ in nil }
    /// A binary classifier's positive class (precision, recall, AUC per window).
    public var positive: String?
    /// Summaries of spans computed elsewhere (by the database), used instead of summarising `predictions`.
    public var summaries: [ClosedRange<Date>: WindowSummary] = [:]

    public init(
        predictions: [ServedPrediction], regression: Bool, window: Double,
        drift: @escaping (Date, Date) throws -> DriftReport?
    ) {
        self.predictions = predictions
        self.regression = regression
        self.window = window
        self.drift = drift
    }

    /// Whether the rule reads the served rows themselves (drift of the inputs or of the answers) rather than a
    /// window's summary.
    public static func readsRows(_ rule: String) throws -> Bool {
        let metric = try AlertCondition.parse(rule).metric
        return metric == "drift_share" || AlertCondition.predictionMetrics.contains(metric)
            || AlertCondition.columnMetrics.contains(metric)
    }

    /// The spans `[start, end)` a rule looks at `now`: its window, and the previous one for `of previous`.
    public static func spans(_ rule: String, window: Double, at now: Date) throws -> [(start: Date, end: Date)] {
        let c = try AlertCondition.parse(rule)
        let start = now.addingTimeInterval(-(c.ofPrevious ?? c.over ?? window))
        guard let p = c.ofPrevious else { return [(start, now)] }
        return [(start, now), (start.addingTimeInterval(-p), start)]
    }

    func summary(_ start: Date, _ end: Date) -> WindowSummary {
        summaries[start...end]
            ?? Monitoring.summarize(predictions, start: start, end: end, regression: regression, positive: positive)
    }

    public func check(name: String, severity: String, rule: String, at now: Date) throws -> AlertCheck {
        let c = try AlertCondition.parse(rule)
        let start = try Self.spans(rule, window: window, at: now)[0].start
        var value: Double?
        var reason = ""
        switch c.metric {
        case "drift_share":
            value = try drift(start, now)?.driftShare
            if value == nil { reason = "nothing served in the window" }
        case let m where AlertCondition.predictionMetrics.contains(m):
            guard let col = try predictionDrift(start, now) else {
                reason = "no answers in the window, or no test-row answers in the bundle to compare with"
                break
            }
            value = Self.test(String(m.dropFirst("prediction_".count)), col)
            if value == nil { reason = "\(m) does not apply to \(col.type) answers" }
        case let m where AlertCondition.columnMetrics.contains(m):
            guard let report = try drift(start, now) else {
                reason = "nothing served in the window"
                break
            }
            guard let col = report.columns.first(where: { $0.name == c.column }) else {
                throw MonitorError.invalid(
                    "alert '\(name)': no input column '\(c.column ?? "")' (the model reads \(report.columns.map(\.name).joined(separator: ", ")))"
                )
            }
            value = Self.test(m, col)
            if value == nil { reason = "\(m) does not apply to \(col.type) column \(col.name)" }
        default:
            let current = summary(start, now)
            value = Self.metric(c.metric, current)
            if let p = c.ofPrevious {
                let before = summary(start.addingTimeInterval(-p), start)
                if let v = value, let b = Self.metric(c.metric, before), b > 0 {
                    value = v / b
                } else {
                    value = nil
                    reason = "nothing to compare with in the previous \(Int(p / 86_400)) days"
                }
            }
            if value == nil && reason.isEmpty {
                reason =
                    current.volume == 0
                    ? "nothing served in the window" : "no labelled rows in the window (send feedback)"
            }
        }
        let fired = value.map(c.holds) ?? false
        if let v = value {
            reason =
                "\(c.metric)\(c.column.map { "(\($0))" } ?? "") is \(String(format: "%.4g", v))\(c.ofPrevious != nil ? " of the previous window" : ""); fires when \(c.comparison.rawValue) \(String(format: "%.4g", c.threshold))"
        }
        return AlertCheck(
            name: name, severity: severity, rule: rule, fired: fired, value: value, threshold: c.threshold,
            windowStart: start, windowEnd: now, reason: reason)
    }

    /// A column metric of a column's drift: psi, jensen_shannon, wasserstein (normed) or the KS statistic.
    static func test(_ name: String, _ col: ColumnDrift) -> Double? {
        switch name {
        case "psi": return col.tests.psi
        case "jensen_shannon": return col.tests.jensenShannon
        case "wasserstein": return col.tests.wassersteinNormed
        default: return col.tests.ks?.statistic
        }
    }

    static func metric(_ name: String, _ w: WindowSummary) -> Double? {
        switch name {
        case "volume": return Double(w.volume)
        case "error_rate": return w.volume + w.errors.values.reduce(0, +) == 0 ? nil : w.errorRate
        case "unavailable_share": return w.volume == 0 ? nil : w.unavailableShare
        case "latency_p50": return w.latencyP50
        case "latency_p95": return w.latencyP95
        case "latency_p99": return w.latencyP99
        case "prediction_mean": return w.predictionMean
        case "confidence_mean": return w.confidenceMean
        case "low_confidence_share": return w.volume == 0 ? nil : w.lowConfidenceShare
        case "override_rate": return w.volume - w.unavailable == 0 ? nil : w.overrideRate
        case "review_share": return w.volume == 0 ? nil : w.reviewShare
        default: return w.metrics[name]
        }
    }
}
