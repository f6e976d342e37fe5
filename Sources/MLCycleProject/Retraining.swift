import Foundation
import Logging
import MLCycleData
import MLCycleEvaluate
import MLCycleLearn
import MLCycleMetrics
import MLCycleMonitor
import MLCycleStore

/// Served rows whose true value came back as feedback: their logged inputs (a JSON object each) and the actual.
public struct LabelledRows: Sendable {
    public struct Row: Sendable {
        public var inputs: String
        public var actual: String
        public var at: Date
        public init(inputs: String, actual: String, at: Date) {
            self.inputs = inputs
            self.actual = actual
            self.at = at
        }
    }
    public var rows: [Row]

    public init(rows: [Row]) { self.rows = rows }

    /// A content key for stage caching (the same rows give the same key).
    public var key: String {
        var h = MLCycleData.SHA256()
        for r in rows {
            h.update(Array(r.inputs.utf8))
            h.update([0])
            h.update(Array(r.actual.utf8))
            h.update([1])
        }
        return MLCycleData.SHA256.hexString(h.finalize())
    }

    /// The rows as a table with `like`'s columns and types: each value read from the logged inputs as the sources'
    /// CSV would have been read (a column the request did not carry is missing), the target from the feedback.
    public func table(like: Table, target: String) throws -> Table {
        var csv = like.columnNames.map(Self.field).joined(separator: ",") + "\n"
        for (i, row) in rows.enumerated() {
            guard let inputs = try? JSONValue.parse(Data(row.inputs.utf8)), case .object = inputs else {
                throw StoreError.invalid("logged prediction \(i + 1) has inputs that are not a JSON object")
            }
            csv +=
                like.columnNames.map { name -> String in
                    if name == target { return Double(row.actual).map(Self.number) ?? Self.field(row.actual) }
                    switch inputs[name] ?? .null {
                    case .string(let s): return Self.field(s)
                    case .number(let d): return Self.number(d)
                    case .bool(let b): return b ? "true" : "false"
                    default: return ""
                    }
                }.joined(separator: ",") + "\n"
        }
        var types = [String: DataType]()
        for c in like.columns { types[c.name] = c.type }
        return try CSVReader.read(
            string: csv, name: "feedback rows", options: CSVOptions(columnTypes: types, threads: 1))
    }

    /// JSON (and feedback) has one number type: whole numbers are written whole, so integer columns read them back.
    static func number(_ d: Double) -> String { d.rounded() == d && abs(d) < 9e15 ? String(Int64(d)) : formatDouble(d) }

    static func field(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// What one retraining did, kept as the outputs of a `retrain` run in the store.
public struct RetrainOutcome: Codable, Sendable {
    /// "manual", "schedule 0 3 1 */3 *" or "alert accuracy-drop #12".
    public var trigger: String
    public var reason: String
    public var at: Date
    /// How far back feedback rows were taken ("12M"; nil: all of them).
    public var window: String?
    /// Labelled served rows added to training, and the most recent ones kept out to compare on.
    public var feedbackRows: Int
    public var comparisonRows: Int
    public var champion: Int?
    public var challenger: Int?
    /// The fingerprint of the collected table the new version learnt from (sources plus served rows).
    public var dataset: String?
    public var metric: String
    /// Both models' metric on the comparison rows, the difference (challenger − champion) and its 95 % interval.
    public var championValue: Double?
    public var challengerValue: Double?
    public var difference: Double?
    public var low: Double?
    public var high: Double?
    public var gatesPassed: Bool
    /// promoted, awaiting approval, kept champion, not promotable, unchanged, first champion
    public var verdict: String
    public var detail: String
    public var run: Int64?

    enum CodingKeys: String, CodingKey {
        case trigger, reason, at, window
        case feedbackRows = "feedback_rows"
        case comparisonRows = "comparison_rows"
        case champion, challenger, dataset, metric
        case championValue = "champion_value"
        case challengerValue = "challenger_value"
        case difference, low, high
        case gatesPassed = "gates_passed"
        case verdict, detail, run
    }
}

/// Retrains a project's model: re-collects its sources plus the labelled rows served within `retraining.window`,
/// keeps the most recent `retraining.holdout` share of those out, reruns the pipeline, compares the new candidate
/// with the champion on the kept-out rows (paired bootstrap) and applies the promotion policy — automatic when the
/// candidate passes its gates and beats the champion by `retraining.margin`, else it waits for `mlcycle approve`.
/// Everything is recorded: a `retrain` run with the trigger, the data, the versions compared and the verdict.
public final class Retrainer {
    public let spec: ProjectSpec
    public let directory: String
    public let store: Store
    public var actor: String
    public var progress: (String) -> Void

    public init(
        spec: ProjectSpec, directory: String, store: Store, actor: String = "mlcycle retrain",
        progress: @escaping (String) -> Void = { _ in }
    ) {
        self.spec = spec
        self.directory = directory
        self.store = store
        self.actor = actor
        self.progress = progress
    }

    /// Fewer recent labelled rows than this are not kept out to compare on.
    public static let minimumComparisonRows = 30

    /// The labelled served rows of `model` in (`since`, `before`), oldest first (shadow answers and refused requests
    /// left out; the latest actual for a prediction wins; with `overrides`, a person's override labels a row that has
    /// no actual).
    public static func labelledRows(
        _ store: Store, model: String, since: Date?, before: Date, overrides: Bool = false
    ) async throws -> LabelledRows {
        let answers = try await store.answers(
            PredictionFilter(model: model, since: since, before: before, statuses: ["ok", "review"]))
        let rows = answers.compactMap { a in
            (a.actual ?? (overrides ? a.override : nil)).map {
                LabelledRows.Row(inputs: a.record.inputs, actual: $0, at: a.record.at)
            }
        }
        return LabelledRows(rows: rows)
    }

    /// Runs one retraining as of `moment` (replays pass the replayed time).
    public func retrain(trigger: String, reason: String, at moment: Date = Date()) async throws -> RetrainOutcome {
        let name = spec.problem.name
        let policy =
            spec.retraining
            ?? ProjectSpec.Retraining(schedule: nil, on: [], window: nil, promote: "approval", margin: 0)
        let metric = spec.evaluation.metric ?? (spec.problem.task == .regression ? "mape" : "logloss")
        try await store.ensureProject(name)
        let since = try policy.window.map { w -> Date in
            guard let s = MonitoringDuration.seconds(w) else {
                throw MonitorError.invalid("retraining.window must be a duration such as 6M; got '\(w)'")
            }
            return moment.addingTimeInterval(-s)
        }
        let labelled = try await Self.labelledRows(
            store, model: name, since: since, before: moment, overrides: policy.overridesAsLabels)
        // The most recent rows judge the models; fewer than 30 are too few to judge on, so then all of them train and
        // the comparison falls back to the raw rows of the test split.
        let share = Int((Double(labelled.rows.count) * policy.holdout).rounded())
        let kept = share >= Self.minimumComparisonRows ? share : 0
        let training = LabelledRows(rows: Array(labelled.rows.prefix(labelled.rows.count - kept)))
        let comparison = LabelledRows(rows: Array(labelled.rows.suffix(kept)))
        let championBefore = try await store.aliases(name)["champion"]
        let challengerBefore = try await store.aliases(name)["challenger"]
        // The champion's fitted model (an artefact hash): the same one again means nothing changed.
        var championModel: String?
        if let number = championBefore, let run = try await store.modelVersion(name, version: number)?.run {
            championModel = try await store.run(run)?.outputs["model"]
        }

        let run = try await store.startRun(
            NewRun(
                project: name, stage: "retrain",
                inputHash: Runner.hash(["retrain", trigger, String(moment.timeIntervalSince1970)]),
                params: [
                    "trigger": trigger, "reason": reason, "window": policy.window ?? "all",
                    "promote": policy.promote, "margin": formatDouble(policy.margin),
                ],
                specHash: spec.hash, gitCommit: GitCheckout.commit(of: directory)))
        var outcome = RetrainOutcome(
            trigger: trigger, reason: reason, at: moment, window: policy.window, feedbackRows: training.rows.count,
            comparisonRows: comparison.rows.count, champion: championBefore, challenger: nil, metric: metric,
            gatesPassed: false, verdict: "failed", detail: "", run: run.id)
        do {
            try await store.appendLog(run: run.id, "\(trigger): \(reason)")
            try await store.appendLog(
                run: run.id,
                "\(labelled.rows.count) labelled served rows\(policy.window.map { " in the last \($0)" } ?? ""): \(training.rows.count) added to training, the latest \(comparison.rows.count) kept to compare on"
            )
            let runner = Runner(spec: spec, directory: directory, store: store, actor: actor, progress: progress)
            runner.feedbackRows = training
            runner.comparisonRows = comparison.rows.isEmpty ? nil : comparison
            let summary = try await runner.run()
            guard let version = summary.registered else {
                throw StoreError.invalid("the pipeline registered no version")
            }
            outcome.challenger = version.version
            outcome.dataset = version.datasets.first
            outcome.gatesPassed = version.gatesPassed
            if outcome.comparisonRows > 0,
                let c = summary.comparisons.first(where: { $0.against.hasPrefix("champion") })
            {
                outcome.championValue = c.baseline
                outcome.challengerValue = c.candidate
                outcome.difference = c.difference
                outcome.low = c.low
                outcome.high = c.high
            }
            decide(
                &outcome, version: version, policy: policy, championBefore: championBefore,
                championModel: championModel, summary: summary)
            if outcome.verdict == "promoted" {
                try await ModelRegistry(store: store, approvers: spec.release.approvers)
                    .promote(version, by: .policy(actor), reason: "retrain (\(trigger)): \(outcome.detail)")
            } else if spec.release.plan != nil, ["kept champion", "unchanged"].contains(outcome.verdict),
                try await store.aliases(name)["challenger"] == version.version, challengerBefore != version.version
            {
                // With a release plan the challenger is what is on trial: a version judged no better is not released,
                // and a release under way goes on.
                try await store.setAlias(
                    name, alias: "challenger", version: challengerBefore, actor: actor,
                    action: "retrain (not released)",
                    reason: "\(outcome.verdict): \(outcome.detail)")
            }
            try await store.appendLog(run: run.id, "\(outcome.verdict): \(outcome.detail)")
            try await store.finishRun(run.id, status: .finished, outputs: try Self.outputs(outcome))
            return outcome
        } catch {
            try? await store.appendLog(run: run.id, "failed: \(error.localizedDescription)")
            outcome.detail = error.localizedDescription
            try? await store.finishRun(run.id, status: .failed, outputs: (try? Self.outputs(outcome)) ?? [:])
            throw error
        }
    }

    /// The promotion policy, applied to what the run produced.
    func decide(
        _ o: inout RetrainOutcome, version: ModelVersion, policy: ProjectSpec.Retraining, championBefore: Int?,
        championModel: String?, summary: RunSummary
    ) {
        let f = { (x: Double?) in x.map { String(format: "%.4f", $0) } ?? "?" }
        if version.version == championBefore
            || (championModel != nil && championModel == summary.chosenModel)
        {
            o.verdict = "unchanged"
            o.detail = "the pipeline produced the champion again (no new data or spec)"
        } else if !version.gatesPassed {
            o.verdict = "not promotable"
            o.detail =
                "v\(version.version) failed its gates: "
                + summary.gates.filter { !$0.passed }.map(\.rule).joined(separator: "; ")
        } else if championBefore == nil {
            o.verdict = summary.alias == "champion" ? "first champion" : "awaiting approval"
            o.detail = "v\(version.version) passed its gates; there was no champion"
        } else if o.comparisonRows == 0 {
            // The test split's rows are no fair judge here: the champion may have learnt from them.
            o.verdict = "awaiting approval"
            o.detail =
                "v\(version.version) passed its gates, but fewer than \(Self.minimumComparisonRows) recent labelled rows could be kept out to compare it with champion v\(championBefore ?? 0) (raise retraining.window or wait for feedback); "
                + (spec.release.plan != nil
                    ? "it is the challenger, and the release plan judges it on live requests"
                    : "mlcycle approve \(spec.problem.name):\(version.version) --reason … makes it the champion")
        } else if let champion = o.championValue, let challenger = o.challengerValue {
            let gain = higherIsBetter.contains(o.metric) ? challenger - champion : champion - challenger
            let measured =
                "\(o.metric) \(f(champion)) (champion v\(championBefore ?? 0)) → \(f(challenger)) (v\(version.version)) on the \(o.comparisonRows) most recent labelled rows"
            if gain < policy.margin || gain <= 0 {
                o.verdict = "kept champion"
                o.detail = measured + "; not better by the margin \(formatDouble(policy.margin))"
            } else if policy.promote == "auto", spec.release.plan != nil {
                // Progressive delivery: the new version is the challenger, and the release plan carries it.
                o.verdict = "canary"
                o.detail = measured + "; released as the challenger: mlcycle watch takes it up the release plan's steps"
            } else if policy.promote == "auto" {
                o.verdict = "promoted"
                o.detail = measured
            } else {
                o.verdict = "awaiting approval"
                o.detail =
                    measured
                    + "; mlcycle approve \(spec.problem.name):\(version.version) --reason … makes it the champion"
            }
        } else {
            o.verdict = "awaiting approval"
            o.detail = "v\(version.version) passed its gates; no comparison with the champion could be made"
        }
    }

    static func outputs(_ o: RetrainOutcome) throws -> [String: String] {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = .sortedKeys
        return [
            "outcome": String(decoding: try e.encode(o), as: UTF8.self), "verdict": o.verdict,
            "challenger": o.challenger.map(String.init) ?? "",
        ]
    }

    /// An outcome as `outputs` wrote it; nil when it cannot be read.
    static func outcome(_ text: String) -> RetrainOutcome? {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(RetrainOutcome.self, from: Data(text.utf8))
    }

    /// The project's retrainings, newest first.
    public static func history(_ store: Store, project: String, limit: Int = 100) async throws -> [RetrainOutcome] {
        try await store.runs(project: project, limit: 100_000).filter { $0.stage == "retrain" }.prefix(limit)
            .compactMap { r in
                guard var o = r.outputs["outcome"].flatMap(outcome) else { return nil }
                o.run = r.id
                return o
            }
    }
}

/// One step of `mlcycle watch`: a monitoring pass over the champion (alerts stored and sent), a retraining when a
/// fired alert is one `retraining.on` names or the schedule came due since the last step (unless a release is under
/// way), then a step of the release plan when a challenger is on its way up.
public final class Watcher {
    public struct Step: Encodable, Sendable {
        public var at: Date
        public var monitored: MonitoringPass.Output?
        public var release: ProgressiveDelivery.Step?
        public var retrain: RetrainOutcome?
        public var notes: [String]
    }

    public let spec: ProjectSpec
    public let directory: String
    public let store: Store
    public var progress: (String) -> Void = { _ in }
    public var webhookAttempts = 4
    public var webhookPause = 0.5
    /// Where each step is logged (monitoring notes, retraining verdicts).
    public var logger = Logger(label: "mlcycle.watch")
    /// Queue retrainings on the store for `mlcycle worker` processes (one at a time per project) instead of running
    /// them in this process, which goes on monitoring; a later step reports what the worker decided.
    public var retrainOnWorkers = false
    let schedule: CronSchedule?
    /// Queued retrainings already reported, and the moment this watcher started (one that ended before, and before
    /// the previous step, is not its to report).
    var reported = Set<Int64>()
    let started = Date()

    public init(spec: ProjectSpec, directory: String, store: Store) throws {
        self.spec = spec
        self.directory = directory
        self.store = store
        schedule = try spec.retraining?.schedule.map { try CronSchedule(parsing: $0) }
    }

    /// Steps on the clock every `interval` seconds until the process is stopped, starting after `previous` (the
    /// moment of an earlier pass, if any); each step goes to `report` and to the log.
    public func run(every interval: Double, since previous: Date? = nil, report: (Step) -> Void) async throws -> Never {
        var previous = previous
        while true {
            let at = Date()
            report(try await step(at: at, previous: previous))
            previous = at
            await HTTPCall.pause(interval)
        }
    }

    /// Watches as of `moment`; `previous` is the moment of the step before (the schedule fires in between).
    public func step(at moment: Date, previous: Date?) async throws -> Step {
        let name = spec.problem.name
        var step = Step(at: moment, monitored: nil, release: nil, retrain: nil, notes: [])
        var trigger: (String, String)?
        if let v = try await store.aliases(name)["champion"],
            let version = try await store.modelVersion(name, version: v)
        {
            var pass = MonitoringPass(store: store, spec: spec)
            pass.webhookAttempts = webhookAttempts
            pass.webhookPause = webhookPause
            let output = try await pass.run(version, at: moment)
            step.monitored = output
            for f in output.fired { step.notes.append("alert \(f.name) (\(f.severity)): \(f.reason)") }
            if let f = output.fired.first(where: { spec.retraining?.on.contains($0.name) == true }) {
                trigger = ("alert \(f.name) #\(f.id)", f.reason)
            }
        } else {
            step.notes.append("\(name) has no champion to monitor")
        }
        if trigger == nil, let schedule, let previous, schedule.fires(after: previous, through: moment) {
            trigger = ("schedule \(schedule.text)", "the retraining schedule came due")
        }
        // A release under way ends first (promoted or rolled back): the alert is about the champion it may replace,
        // and a new challenger would throw away the evidence gathered so far.
        if let (what, _) = trigger, spec.release.plan != nil, let release = try await store.release(name),
            case let aliases = try await store.aliases(name), aliases["challenger"] == release.version,
            aliases["champion"] != release.version
        {
            step.notes.append(
                "retraining (\(what)) waits: v\(release.version)'s release is under way at \(String(format: "%g", release.share * 100)) %; it ends in a promotion or a rollback first"
            )
            trigger = nil
        }
        if retrainOnWorkers {
            try await queuedRetraining(trigger, since: previous ?? started, step: &step)
        } else if let (what, why) = trigger {
            let retrainer = Retrainer(spec: spec, directory: directory, store: store, progress: progress)
            let outcome = try await retrainer.retrain(trigger: what, reason: why, at: moment)
            step.retrain = outcome
            step.notes.append(
                "retrained (\(what)): v\(outcome.challenger.map(String.init) ?? "?") \(outcome.verdict) — \(outcome.detail)"
            )
        }
        // After the retraining, so a challenger it made starts its release in the same pass.
        if let release = try await ProgressiveDelivery(spec: spec, store: store).step(at: moment) {
            step.release = release
            step.notes.append("release \(release.action.rawValue): \(release.reason)")
        }
        logger.debug(
            "\(step.notes.isEmpty ? "all quiet" : step.notes.joined(separator: "; "))",
            metadata: ["model": "\(name)", "at": "\(ISO8601DateFormatter().string(from: moment))"])
        return step
    }

    /// Reports the queued retrainings that ended since `since` (the previous step), then queues `trigger`'s unless one
    /// is still queued or running.
    func queuedRetraining(_ trigger: (String, String)?, since: Date, step: inout Step) async throws {
        let batch = RetrainingWork.batch(spec.problem.name)
        let items = try await store.work(batch: batch)
        for item in items where !reported.contains(item.id) && (item.finished ?? .distantPast) >= since {
            switch item.state {
            case .done:
                reported.insert(item.id)
                guard let outcome = item.result.flatMap(Retrainer.outcome) else {
                    step.notes.append("retraining item \(item.id) is done, but its outcome cannot be read")
                    continue
                }
                step.retrain = outcome
                step.notes.append(
                    "retrained by \(item.worker ?? "a worker") (\(outcome.trigger)): v\(outcome.challenger.map(String.init) ?? "?") \(outcome.verdict) — \(outcome.detail)"
                )
            case .failed, .cancelled:
                reported.insert(item.id)
                step.notes.append(
                    "retraining item \(item.id) \(item.state.rawValue): \(item.error ?? "no reason given")")
            case .queued, .running:
                continue
            }
        }
        guard let (what, why) = trigger else { return }
        if let waiting = items.first(where: { $0.state == .queued || $0.state == .running }) {
            step.notes.append(
                "retraining (\(what)) waits: item \(waiting.id), queued earlier, is \(waiting.state.rawValue)")
            return
        }
        let work = RetrainingWork(
            directory: URL(fileURLWithPath: directory).standardizedFileURL.path, specHash: spec.hash, trigger: what,
            reason: why, at: step.at)
        let ids = try await store.enqueueWork([
            NewWorkItem(batch: batch, kind: RetrainingWork.kind, payload: try SortedJSON.encode(work))
        ])
        step.notes.append("retraining (\(what)) queued for a worker as item \(ids.first.map(String.init) ?? "?")")
    }
}
