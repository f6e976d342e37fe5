import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCycleLearn
import MLCycleMetrics
import MLCycleMonitor
import MLCycleReport
import MLCycleStore
import NIOHTTP1

/// One monitoring pass over a served model (`mlcycle monitor`, and the loop of `mlcycle watch`): windows of its
/// prediction log with the metrics its feedback allows, drift of the last window against the training reference in
/// its bundle, and the project's alert rules — a fired alert is stored with its numbers (unless it fired within its
/// cool-down) and sent to the webhook.
public struct MonitoringPass: Sendable {
    public struct Output: Encodable, Sendable {
        public var model: String
        public var version: String
        public var window: String
        public var windows: [WindowSummary]
        public var drift: DriftReport?
        /// The last window's answers against the answers on the test rows (the output distribution).
        public var predictionDrift: ColumnDrift?
        /// The metrics per evaluation slice on the last window's labelled rows.
        public var slices: [SliceSummary]
        public var alerts: [AlertCheck]
        public var fired: [AlertRecord]
    }

    public var store: any Store
    public var spec: ProjectSpec?
    /// Webhook deliveries: attempts, and the first pause between them (doubled each time).
    public var webhookAttempts = 4
    public var webhookPause = 0.5

    public init(store: any Store, spec: ProjectSpec?) {
        self.store = store
        self.spec = spec
    }

    /// Monitors `version` (its bundle) as of `moment` with windows of `window` (default: the spec's, else 1d).
    /// With `recordAlerts: false` (a page view) rules are checked but nothing is stored or sent.
    public func run(_ version: ModelVersion, window: String? = nil, at moment: Date = Date(), recordAlerts: Bool = true)
        async throws -> Output
    {
        let bundle = try ModelBundle.decode(
            try store.artifact(version.bundle), path: "\(version.name) v\(version.version)")
        let windowText = window ?? spec?.monitoring?.window ?? "1d"
        guard let size = MonitoringDuration.seconds(windowText) else {
            throw MonitorError.invalid("the window must be a duration such as 1h, 1d, 7d; got '\(windowText)'")
        }
        let alertRules = spec?.monitoring?.alerts ?? []
        let spans = try alertRules.map { a -> Double in
            let c = try AlertCondition.parse(a.when)
            return (c.ofPrevious.map { 2 * $0 } ?? c.over) ?? size
        }
        let since = moment.addingTimeInterval(-max(size * 30, spans.max() ?? 0))
        let records = try store.predictions(model: version.name, since: since, limit: 10_000_000).filter {
            $0.status != "shadow" && $0.at < moment
        }
        let actual = try store.latestActuals(for: records)
        let served = records.map {
            ServedPrediction(
                at: $0.at, version: $0.version, latencySeconds: $0.latencySeconds, status: $0.status,
                prediction: $0.prediction, actual: actual[$0.id], confidence: $0.confidence,
                lowConfidence: $0.lowConfidence)
        }
        let regression = bundle.task == .regression
        var driftOptions = DriftOptions()
        driftOptions.thresholds = spec?.monitoring?.driftThresholds ?? [:]
        /// The rows answered in [start, end).
        func answered(_ start: Date, _ end: Date) -> [PredictionRecord] {
            records.filter { $0.at >= start && $0.at < end && $0.status == "ok" }
        }
        // Drift rules over the monitoring window and the page's last window ask for the same span: computed once.
        let driftBySpan = SpanMemo<DriftReport?>()
        let predictionDriftBySpan = SpanMemo<ColumnDrift?>()
        let drift: (Date, Date) throws -> DriftReport? = { start, end in
            try driftBySpan.value(start, end) {
                let inputs = answered(start, end).map(\.inputs)
                return inputs.isEmpty
                    ? nil
                    : try DriftDetector.compare(
                        reference: bundle.reference,
                        current: try DriftDetector.table(loggedInputs: inputs, reference: bundle.reference),
                        options: driftOptions)
            }
        }
        // The answers on the test rows, kept in the bundle's evaluation: the reference for prediction drift.
        let predictionReference: PredictionReference? = bundle.evaluation.flatMap { e in
            if regression {
                return e.sample.isEmpty ? nil : .numbers(e.sample.compactMap { $0.count > 1 ? $0[1] : nil })
            }
            guard let confusion = e.confusion, let width = confusion.first?.count else { return nil }
            var counts = [String: Int]()
            if e.task == .binary, let positive = e.positiveClass, width == 2,
                let negative = e.labels.first(where: { $0 != positive })
            {
                counts[negative] = confusion.reduce(0) { $0 + $1[0] }
                counts[positive] = confusion.reduce(0) { $0 + $1[1] }
            } else if width == e.labels.count {
                for (j, label) in e.labels.enumerated() { counts[label] = confusion.reduce(0) { $0 + $1[j] } }
            }
            return counts.isEmpty ? nil : .counts(counts)
        }
        let predictionDrift: (Date, Date) throws -> ColumnDrift? = { start, end in
            guard let predictionReference else { return nil }
            return try predictionDriftBySpan.value(start, end) {
                try DriftDetector.predictionDrift(
                    reference: predictionReference, served: answered(start, end).compactMap(\.prediction))
            }
        }
        var checker = AlertChecker(predictions: served, regression: regression, window: size, drift: drift)
        checker.predictionDrift = predictionDrift
        let positive = bundle.task == .binary ? bundle.evaluation?.positiveClass : nil
        checker.positive = positive
        var checks = [AlertCheck]()
        var fired = [AlertRecord]()
        let previous = try store.alerts(model: version.name, limit: 1000)
        for a in alertRules {
            let check = try checker.check(name: a.name, severity: a.severity, rule: a.when, at: moment)
            checks.append(check)
            guard check.fired, recordAlerts else { continue }
            // Within its cool-down an alert that fired already stays quiet.
            let cooldown = MonitoringDuration.seconds(a.cooldown) ?? 3600
            if let last = previous.first(where: { $0.name == a.name }), moment >= last.at,
                moment.timeIntervalSince(last.at) < cooldown
            {
                continue
            }
            var record = AlertRecord(
                model: version.name, name: a.name, severity: a.severity, rule: a.when, value: check.value,
                threshold: check.threshold,
                windowStart: check.windowStart, windowEnd: check.windowEnd, reason: check.reason, at: moment,
                delivery: spec?.monitoring?.webhook == nil ? "no webhook" : "pending")
            record.id = try store.recordAlert(record)
            if let hook = spec?.monitoring?.webhook {
                record.delivery = await Webhook.post(
                    record, to: hook, attempts: webhookAttempts, firstPause: webhookPause)
                try store.setAlertDelivery(record.id, record.delivery)
            }
            fired.append(record)
        }
        let windows = Monitoring.windows(
            served, size: size, end: moment, regression: regression, positive: positive, limit: 30)
        let lastStart = moment.addingTimeInterval(-size)
        let last = try drift(lastStart, moment)
        // Slices of the last window's labelled answers.
        let labelled = answered(lastStart, moment).filter { $0.prediction != nil && actual[$0.id] != nil }
        var slices = [SliceSummary]()
        if !labelled.isEmpty, let specs = try spec.map({ try $0.evaluation.slices.map { try SliceSpec(parsing: $0) } }),
            !specs.isEmpty
        {
            slices = try Monitoring.slices(
                try DriftDetector.table(loggedInputs: labelled.map(\.inputs), reference: bundle.reference),
                target: bundle.target,
                predictions: labelled.compactMap(\.prediction), actual: labelled.compactMap { actual[$0.id] },
                specs: specs,
                regression: regression)
        }
        return Output(
            model: version.name, version: "v\(version.version)", window: windowText, windows: windows, drift: last,
            predictionDrift: try predictionDrift(lastStart, moment), slices: slices, alerts: checks, fired: fired)
    }
}

/// Values computed once per time span within one pass.
final class SpanMemo<Value> {
    private var values = [ClosedRange<Date>: Value]()
    func value(_ start: Date, _ end: Date, _ make: () throws -> Value) rethrows -> Value {
        if let known = values[start...end] { return known }
        let made = try make()
        values[start...end] = made
        return made
    }
}

extension MonitoringPass {
    /// The monitoring page of a pass: its windows, rules and drift, with the fired alerts and the retrainings from
    /// the store.
    public func html(_ output: Output) throws -> String {
        let history = try store.alerts(model: output.model, limit: 200).map {
            MonitoringReportPage.FiredAlert(
                at: $0.at, name: $0.name, severity: $0.severity, reason: $0.reason, delivery: $0.delivery)
        }
        let retrainings = try Retrainer.history(store, project: output.model).map {
            MonitoringReportPage.Retraining(
                at: $0.at, trigger: $0.trigger,
                versions:
                    "champion \($0.champion.map { "v\($0)" } ?? "none") vs v\($0.challenger.map(String.init) ?? "?")",
                verdict: $0.verdict, detail: $0.detail)
        }
        return MonitoringReportPage.html(
            model: output.model, version: output.version, window: output.window, windows: output.windows,
            drift: output.drift, checks: output.alerts, history: history, retrainings: retrainings,
            predictionDrift: output.predictionDrift, slices: output.slices)
    }
}

/// Sends an alert to a webhook as JSON (POST), retrying with back-off; returns what happened, for the store — a
/// failure is recorded, never dropped silently.
public enum Webhook {
    public static func post(_ alert: AlertRecord, to url: String, attempts: Int = 4, firstPause: Double = 0.5) async
        -> String
    {
        guard let target = URL(string: url) else { return "failed: '\(url)' is not a URL" }
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        guard let body = try? encoder.encode(alert) else { return "failed: could not encode the alert" }
        var lastError = ""
        for attempt in 1...attempts {
            let answer = await HTTPCall.send(
                .POST, target, body: body, headers: ["Content-Type": "application/json"], timeout: 10)
            if (200..<300).contains(answer.status) { return "sent (attempt \(attempt))" }
            lastError = answer.error ?? "HTTP \(answer.status)"
            if attempt < attempts { await HTTPCall.pause(firstPause * pow(2, Double(attempt - 1))) }
        }
        return "failed after \(attempts) attempts: \(lastError)"
    }
}
