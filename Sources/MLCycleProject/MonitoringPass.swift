import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCycleLearn
import MLCycleMetrics
import MLCycleMonitor
import MLCycleQuality
import MLCycleReport
import MLCycleStore
import NIOHTTP1

/// One monitoring pass over a served version (`mlcycle monitor`, and the loop of `mlcycle watch`): windows of the
/// rows it answered — its own rows only, a canary's apart from the champion's, a shadow's answers joined to the
/// actual of the request they shadowed — with the metrics its feedback allows, drift of the last window against the
/// training reference in its bundle over the columns the model reads, and the project's alert rules: a champion's
/// fired alert is stored with its numbers (unless it fired within its cool-down) and sent to the webhook.
public struct MonitoringPass: Sendable {
    public struct Output: Encodable, Sendable {
        public var model: String
        public var version: String
        /// The aliases pointing at the version now (champion, challenger).
        public var aliases: [String]
        /// Rows it answered as a shadow (scored beside the other version, never returned), counted in its windows.
        public var shadowRows: Int
        public var window: String
        public var windows: [WindowSummary]
        public var drift: DriftReport?
        /// Input columns left out of drift, with why (not read by the model; a date, which moves forward by nature).
        public var driftLeftOut: [String: String]
        /// How people overrode the last window's answers.
        public var overrides: OverrideSummary?
        /// The last window's answers against the answers on the test rows (the output distribution).
        public var predictionDrift: ColumnDrift?
        /// The metrics per evaluation slice on the last window's labelled rows.
        public var slices: [SliceSummary]
        /// What the model leaned on in the last window against the test rows: each input column's mean |contribution|
        /// in both, largest change first (a model whose reasons change is one whose world changed).
        public var explanationDrift: [ExplanationShift]? = nil
        public var alerts: [AlertCheck]
        public var fired: [AlertRecord]
        /// The other versions answering beside this one (the challenger: canary or shadow), each on its own rows.
        public var alongside: [Output] = []
        /// The challenger against this version on live labelled traffic, when one answers beside it.
        public var comparison: ReleaseComparison? = nil

        enum CodingKeys: String, CodingKey {
            case model, version, aliases
            case shadowRows = "shadow_rows"
            case window, windows, drift
            case driftLeftOut = "drift_left_out"
            case overrides
            case predictionDrift = "prediction_drift"
            case slices, alerts, fired, alongside, comparison
            case explanationDrift = "explanation_drift"
        }
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

    /// Monitors the champion of `name` and, beside it, the challenger when it answered (canary or shadow) in the
    /// period; nil when `name` has no champion.
    public func runServed(_ name: String, window: String? = nil, at moment: Date = Date(), recordAlerts: Bool = true)
        async throws -> Output?
    {
        let aliases = try await store.aliases(name)
        guard let number = aliases["champion"], let champion = try await store.modelVersion(name, version: number)
        else { return nil }
        var output = try await run(champion, window: window, at: moment, recordAlerts: recordAlerts)
        if let v = aliases["challenger"], v != champion.version,
            let challenger = try await store.modelVersion(name, version: v)
        {
            let beside = try await run(challenger, window: window, at: moment, recordAlerts: recordAlerts)
            if !beside.windows.isEmpty {
                output.alongside.append(beside)
                output.comparison = try await compare(
                    name, champion: champion.version, challenger: v, since: beside.windows.first?.start, at: moment)
            }
        }
        return output
    }

    /// Monitors `version` (its bundle) as of `moment` with windows of `window` (default: the spec's, else 1d).
    /// With `recordAlerts: false` (a page view) rules are checked but nothing is stored or sent; alerts of a version
    /// that is not the champion are only checked (a challenger's rows must not set off the champion's retraining).
    public func run(_ version: ModelVersion, window: String? = nil, at moment: Date = Date(), recordAlerts: Bool = true)
        async throws -> Output
    {
        let bundle = try await ModelBundle.decode(
            try store.artifact(version.bundle), path: "\(version.name) v\(version.version)")
        let windowText = window ?? spec?.monitoring?.window ?? "1d"
        guard let size = MonitoringDuration.seconds(windowText) else {
            throw MonitorError.invalid("the window must be a duration such as 1h, 1d, 7d; got '\(windowText)'")
        }
        let aliases = try await store.aliases(version.name).filter { $0.value == version.version }.map(\.key).sorted()
        let recordAlerts = recordAlerts && aliases.contains("champion")
        let alertRules = spec?.monitoring?.alerts ?? []
        // Windows and the rules' spans are summed up by the database; rows are read only for the last window and the
        // spans of the rules on drift, which compare the inputs themselves.
        var rowSpan = size
        var ruleSpans = [(start: Date, end: Date)]()
        for a in alertRules {
            let spans = try AlertChecker.spans(a.when, window: size, at: moment)
            if try AlertChecker.readsRows(a.when) {
                rowSpan = max(rowSpan, moment.timeIntervalSince(spans.map(\.start).min() ?? moment))
            } else {
                ruleSpans += spans
            }
        }
        let since = moment.addingTimeInterval(-rowSpan)
        let log = try await Self.versionLog(
            store, model: version.name, version: version.version, since: since, before: moment)
        let records = log.records
        let actual = log.actual
        let override = log.override
        let served = log.served
        let regression = bundle.task == .regression
        var driftOptions = DriftOptions()
        driftOptions.thresholds = spec?.monitoring?.driftThresholds ?? [:]
        // Drift is measured on the columns the model reads; a date is left out unless the spec names it.
        let named = Set(driftOptions.thresholds.keys)
        let reads = Set(bundle.columnsTheModelReads)
        let temporal = bundle.temporalColumns
        var driftLeftOut = [String: String]()
        let driftReference = ReferenceStatistics(
            columns: bundle.reference.columns.filter { c in
                if named.contains(c.name) { return true }
                if !reads.contains(c.name) {
                    driftLeftOut[c.name] = "not read by the model"
                } else if temporal.contains(c.name) {
                    driftLeftOut[c.name] =
                        "a date or time, which moves forward by nature (name it in monitoring.drift to measure it)"
                }
                return driftLeftOut[c.name] == nil
            })
        /// The rows answered in [start, end).
        func answered(_ start: Date, _ end: Date) -> [PredictionRecord] {
            records.filter { $0.at >= start && $0.at < end && ($0.status == "ok" || $0.status == "review") }
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
                        reference: driftReference,
                        current: try DriftDetector.table(loggedInputs: inputs, reference: driftReference),
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
        // One query for the windows and the rules' spans: the database reads the log once.
        let (windows, shadowRows, ruleSummaries) = try await Self.windows(
            store, model: version.name, version: version.version, size: size, end: moment, regression: regression,
            positive: positive, spans: ruleSpans.map { PredictionWindows.Bound(start: $0.start, end: $0.end) })
        for s in ruleSummaries { checker.summaries[s.start...s.end] = s }
        var checks = [AlertCheck]()
        var fired = [AlertRecord]()
        let previous = try await store.alerts(model: version.name, limit: 1000)
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
            record.id = try await store.recordAlert(record)
            if let hook = spec?.monitoring?.webhook {
                record.delivery = await Webhook.post(
                    record, to: hook, attempts: webhookAttempts, firstPause: webhookPause)
                try await store.setAlertDelivery(record.id, record.delivery)
            }
            fired.append(record)
        }
        let lastStart = moment.addingTimeInterval(-size)
        let last = try drift(lastStart, moment)
        // Slices of the last window's labelled answers, and its overrides.
        let lastAnswered = answered(lastStart, moment).filter { $0.prediction != nil }
        // The metrics judge in-scope answers, as the windows do.
        let labelled = lastAnswered.filter { $0.status == "ok" && actual[$0.id] != nil }
        let sliceSpecs = try spec.map { try $0.evaluation.slices.map { try SliceSpec(parsing: $0) } } ?? []
        var slices = [SliceSummary]()
        if !labelled.isEmpty, !sliceSpecs.isEmpty {
            slices = try Monitoring.slices(
                try DriftDetector.table(loggedInputs: labelled.map(\.inputs), reference: bundle.reference),
                target: bundle.target,
                predictions: labelled.compactMap(\.prediction), actual: labelled.compactMap { actual[$0.id] },
                specs: sliceSpecs,
                regression: regression)
        }
        var overrides: OverrideSummary?
        if lastAnswered.contains(where: { override[$0.id] != nil }) {
            overrides = try Monitoring.overrides(
                try DriftDetector.table(loggedInputs: lastAnswered.map(\.inputs), reference: bundle.reference),
                predictions: lastAnswered.compactMap(\.prediction), overrides: lastAnswered.map { override[$0.id] },
                specs: sliceSpecs, regression: regression)
        }
        var output = Output(
            model: version.name, version: "v\(version.version)", aliases: aliases, shadowRows: shadowRows,
            window: windowText, windows: windows, drift: last, driftLeftOut: driftLeftOut, overrides: overrides,
            predictionDrift: try predictionDrift(lastStart, moment), slices: slices, alerts: checks, fired: fired)
        output.explanationDrift = try explanationDrift(bundle, lastAnswered.map(\.inputs))
        return output
    }

    /// The last window's mean |contribution| per input column against the test rows' (kept in the bundle's
    /// evaluation by `mlcycle run`); nil without both.
    func explanationDrift(_ bundle: ModelBundle, _ inputs: [String]) throws -> [ExplanationShift]? {
        guard let test = bundle.evaluation?.columnContributions, !test.isEmpty, !inputs.isEmpty else { return nil }
        let rows = try DriftDetector.table(loggedInputs: inputs, reference: bundle.reference)
        guard let window = try? bundle.meanAbsoluteContributions(merged: rows) else { return nil }
        return test.keys.map { column in
            let (t, w) = (test[column] ?? 0, window[column] ?? 0)
            return ExplanationShift(column: column, test: t, window: w)
        }.sorted { abs($0.window - $0.test) > abs($1.window - $1.test) }
    }

    /// The id of the request a logged row answered: a shadow answer's id is the request's with "-shadow" after it.
    public static func requestID(_ id: String) -> String {
        id.hasSuffix("-shadow") ? String(id.dropLast(7)) : id
    }

    /// One version's own rows of the prediction log, joined with their feedback.
    public struct VersionLog: Sendable {
        /// Its rows in time order; a shadow answer counts as one of its answers (status `ok`) under the id of the
        /// request it shadowed, which carries the feedback.
        public var records: [PredictionRecord]
        public var served: [ServedPrediction]
        /// The latest actual and the latest override per request id.
        public var actual: [String: String]
        public var override: [String: String]
        public var shadowRows: Int
    }

    /// The rows `version` of `model` answered in [`since`, `before`).
    public static func versionLog(_ store: any Store, model: String, version: Int, since: Date?, before: Date)
        async throws
        -> VersionLog
    {
        var shadowRows = 0
        var actual = [String: String]()
        var override = [String: String]()
        let answers = try await store.answers(
            PredictionFilter(model: model, version: "v\(version)", since: since, before: before))
        let records = answers.map { a -> PredictionRecord in
            var r = a.record
            if r.status.hasPrefix("shadow") {
                shadowRows += 1
                // "shadow" is an answer in scope; "shadow review" and "shadow unavailable" keep what they were.
                r.status = r.status == "shadow" ? "ok" : String(r.status.dropFirst(7))
                r.id = requestID(r.id)
            }
            // The database joined each row with the latest feedback on its request.
            actual[r.id] = a.actual
            override[r.id] = a.override
            return r
        }
        let served = records.map {
            ServedPrediction(
                at: $0.at, version: $0.version, latencySeconds: $0.latencySeconds, status: $0.status,
                prediction: $0.prediction, actual: actual[$0.id], override: override[$0.id], confidence: $0.confidence,
                lowConfidence: $0.lowConfidence)
        }
        return VersionLog(records: records, served: served, actual: actual, override: override, shadowRows: shadowRows)
    }

    /// Consecutive windows of `size` seconds of the version's log ending at `end`, oldest first, back to its first row
    /// (at most `limit`), summed up by the database: what `Monitoring.windows` computes from the rows, without
    /// reading them; how many of their rows a shadow answered; and the summaries of `spans` (any other periods, such
    /// as alert rules' — asked for in the same query).
    public static func windows(
        _ store: any Store, model: String, version: Int, size: Double, end: Date, regression: Bool,
        positive: String?, limit: Int = 30, spans: [PredictionWindows.Bound] = []
    ) async throws -> (windows: [WindowSummary], shadowRows: Int, spans: [WindowSummary]) {
        let count = max(0, limit)
        let bounds = (0..<count).reversed().map { k in
            let stop = end.addingTimeInterval(-Double(k) * size)
            return PredictionWindows.Bound(start: stop.addingTimeInterval(-size), end: stop)
        }
        let aggregates = try await aggregates(
            store, model: model, version: version, bounds: bounds + spans, regression: regression,
            positive: positive)
        func summary(_ a: PredictionWindowAggregate) -> WindowSummary {
            WindowSummary(a, version: "v\(version)", regression: regression, positive: positive)
        }
        let windows = aggregates.prefix(count)
        let asked = aggregates.dropFirst(count).map(summary)
        guard let first = windows.firstIndex(where: { !$0.statuses.isEmpty }) else { return ([], 0, asked) }
        let kept = windows[first...]
        return (kept.map(summary), kept.map(\.shadowRows).reduce(0, +), asked)
    }

    /// The version's rows in each of `bounds` (which may overlap), summed up by the database.
    static func aggregates(
        _ store: any Store, model: String, version: Int, bounds: [PredictionWindows.Bound], regression: Bool,
        positive: String?
    ) async throws -> [PredictionWindowAggregate] {
        guard !bounds.isEmpty else { return [] }
        return try await store.predictionWindows(
            PredictionWindows(
                model: model, version: "v\(version)", bounds: bounds,
                task: regression ? .regression : .classification(positive: positive)))
    }

    /// The challenger against the champion on live labelled traffic (`mlcycle compare`): by default the versions
    /// the aliases point at, since the challenger was last pointed at (else over the last 30 windows).
    public func compare(
        _ name: String, champion: Int? = nil, challenger: Int? = nil, since: Date? = nil, at moment: Date = Date()
    ) async throws -> ReleaseComparison {
        guard try await store.modelNames().contains(name) else {
            throw MonitorError.invalid("no model called '\(name)' (mlcycle models lists them)")
        }
        let aliases = try await store.aliases(name)
        guard let first = champion ?? aliases["champion"] else {
            throw MonitorError.invalid("\(name) has no champion: name the versions to compare")
        }
        guard let second = challenger ?? aliases["challenger"] else {
            throw MonitorError.invalid(
                "\(name) has no challenger: point the alias at a version (mlcycle promote NAME:V --alias challenger) or give --challenger"
            )
        }
        guard let championVersion = try await store.modelVersion(name, version: first) else {
            throw StoreError.notFound("\(name) v\(first)")
        }
        guard try await store.modelVersion(name, version: second) != nil else {
            throw StoreError.notFound("\(name) v\(second)")
        }
        let bundle = try ModelBundle.decode(
            try await store.artifact(championVersion.bundle), path: "\(name) v\(championVersion.version)")
        let windowSize = (spec?.monitoring?.window).flatMap(MonitoringDuration.seconds) ?? 86_400
        // A move recorded after `moment` (a replay looking back) does not bound the rows.
        let pointed = try await store.audit(model: name).last {
            $0.alias == "challenger" && $0.version == second && $0.at <= moment
        }?.at
        let start = since ?? pointed ?? moment.addingTimeInterval(-30 * windowSize)
        let regression = bundle.task == .regression
        let metric = spec?.evaluation.metric ?? (regression ? "mape" : "accuracy")
        func rows(_ v: Int) async throws -> ReleaseComparison.Rows {
            let log = try await Self.versionLog(store, model: name, version: v, since: start, before: moment)
            return .init(version: "v\(v)", rows: log.served, requestIDs: log.records.map(\.id))
        }
        return await ReleaseComparison.compare(
            metric: metric, champion: try rows(first), challenger: try rows(second), regression: regression,
            positive: bundle.task == .binary ? bundle.evaluation?.positiveClass : nil)
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
    /// The page a viewer asks for (the UI's monitoring page): of `version` alone when given, else of the champion
    /// beside the challenger; rules are checked and shown, never stored or sent. Nil for an unknown version, or a
    /// model without a champion.
    public func page(_ name: String, version: Int? = nil) async throws -> String? {
        if let version {
            guard let found = try await store.modelVersion(name, version: version) else { return nil }
            return try await html(try await run(found, recordAlerts: false))
        }
        guard let output = try await runServed(name, recordAlerts: false) else { return nil }
        return try await html(output)
    }

    /// The monitoring page of a pass: its windows, rules and drift, with the fired alerts and the retrainings from
    /// the store.
    public func html(_ output: Output) async throws -> String {
        let history = try await store.alerts(model: output.model, limit: 200).map {
            MonitoringReportPage.FiredAlert(
                at: $0.at, name: $0.name, severity: $0.severity, reason: $0.reason, delivery: $0.delivery)
        }
        let retrainings = try await Retrainer.history(store, project: output.model).map {
            MonitoringReportPage.Retraining(
                at: $0.at, trigger: $0.trigger,
                versions:
                    "champion \($0.champion.map { "v\($0)" } ?? "none") vs v\($0.challenger.map(String.init) ?? "?")",
                verdict: $0.verdict, detail: $0.detail)
        }
        let versions = ([output] + output.alongside).map {
            MonitoringReportPage.VersionRows(
                version: $0.version, aliases: $0.aliases, shadowRows: $0.shadowRows, windows: $0.windows)
        }
        // Where alerts fired and aliases moved (promotions, rollbacks, release steps), for the charts.
        let moves = try await store.audit(model: output.model).filter { $0.alias != nil }.map {
            ChartMarker(
                at: $0.at, kind: .move,
                label: "\($0.action): \($0.alias ?? "") → \($0.version.map { "v\($0)" } ?? "none") (\($0.actor))")
        }
        let markers =
            history.map { ChartMarker(at: $0.at, kind: .alert, label: "alert \($0.name): \($0.reason)") } + moves
        return MonitoringReportPage.html(
            model: output.model, version: output.version, window: output.window, windows: output.windows,
            drift: output.drift, checks: output.alerts, history: history, retrainings: retrainings,
            predictionDrift: output.predictionDrift, slices: output.slices, versions: versions,
            overrides: output.overrides, driftLeftOut: output.driftLeftOut, comparison: output.comparison?.text,
            explanationDrift: output.explanationDrift ?? [], markers: markers)
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

extension WindowSummary {
    /// A window the database summed up, with the metrics `Monitoring.summarize` computes from the rows.
    init(_ window: PredictionWindowAggregate, version: String, regression: Bool, positive: String?) {
        var errors = [String: Int]()
        var volume = 0
        for (status, count) in window.statuses {
            if status.hasPrefix("error ") {
                errors[String(status.dropFirst(6)), default: 0] += count
            } else {
                volume += count
            }
        }
        let t = window.totals
        func latency(_ i: Int) -> Double? {
            guard let t, t.latencyCount > 0, let a = t.latencyAround[i].a else { return nil }
            return Statistics.quantile(
                count: t.latencyCount, around: a, t.latencyAround[i].b, PredictionWindows.latencyQuantiles[i])
        }
        func mean(_ sum: Double?, _ count: Int?) -> Double? {
            guard let sum, let count, count > 0 else { return nil }
            return sum / Double(count)
        }
        let labelled = t?.labelledCount ?? 0
        var metrics = [String: Double]()
        if let t, labelled > 0 {
            let n = Double(labelled)
            if regression {
                let se = t.squaredError ?? 0
                let ss = t.actualSquaredDeviation ?? 0
                let (a, b) = t.percentageErrorAroundMedian
                // numpy's median: the middle value, or the mean of the two middle values.
                let median = labelled % 2 == 1 ? a : b.flatMap { b in a.map { ($0 + b) / 2 } }
                metrics = [
                    "rmse": (se / n).squareRoot(), "mae": (t.absoluteError ?? 0) / n,
                    "mape": (t.percentageErrorSum ?? 0) / n, "median_ape": median ?? .nan,
                    "r2": ss > 0 ? 1 - se / ss : (se == 0 ? 1 : 0), "within_10pct": Double(t.withinCount ?? 0) / n,
                ]
            } else {
                metrics["accuracy"] = Double(t.rightCount ?? 0) / n
                if positive != nil {
                    let tp = Double(t.truePositives ?? 0)
                    let fp = Double(t.falsePositives ?? 0)
                    let fn = Double(t.falseNegatives ?? 0)
                    let precision = tp + fp > 0 ? tp / (tp + fp) : 0
                    let recall = tp + fn > 0 ? tp / (tp + fn) : 0
                    metrics["precision"] = precision
                    metrics["recall"] = recall
                    metrics["f1"] = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
                    // AUC and log-loss when every labelled answer came with its probability.
                    if t.scoredCount == labelled {
                        let positives = Double(t.scoredPositiveCount ?? 0)
                        let negatives = n - positives
                        if positives > 0, negatives > 0, let ranks = t.positiveRankSum {
                            let auc = (ranks - positives * (positives + 1) / 2) / (positives * negatives)
                            if auc.isFinite { metrics["auc"] = auc }
                        }
                        metrics["logloss"] = (t.lossSum ?? 0) / n
                    }
                }
            }
        }
        self.init(
            start: window.bound.start, end: window.bound.end, volume: volume, errors: errors,
            unavailable: window.statuses["unavailable"] ?? 0, review: window.statuses["review"] ?? 0,
            latency: (latency(0), latency(1), latency(2)), labelled: labelled, metrics: metrics,
            predictionMean: mean(t?.predictionSum, t?.predictionCount),
            confidenceMean: mean(t?.confidenceSum, t?.confidenceCount), answered: t?.answeredCount ?? 0,
            lowConfidence: t?.lowConfidenceCount ?? 0, overrides: t?.overrideCount ?? 0,
            overrideShift: regression ? mean(t?.shiftSum, t?.shiftCount) : nil,
            versions: volume > 0 ? [version: volume] : [:])
    }
}
