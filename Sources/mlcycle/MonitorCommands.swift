import ArgumentParser
import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCycleMonitor
import MLCycleProject
import MLCycleReport
import MLCycleServe
import MLCycleStore

/// `mlcycle monitor`: one pass over a served model's prediction log — windows, drift of the last window against
/// the training reference, and the project's alert rules (fired ones stored and sent to the webhook).
struct Monitor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "One monitoring pass over a served model: volume, latency, answers, metrics from feedback, drift, alerts.")

    @Argument(help: "The model name: its champion is monitored and, on its own rows, the challenger when it answers.")
    var name: String
    @Option(help: "Monitor this version only (a number, or an alias such as challenger).") var version: String?
    @Option(help: "The project directory (mlcycle.yaml gives the window and the alert rules).") var project = "."
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "Window length, e.g. 1h, 1d, 7d (default: the spec's monitoring.window, else 1d).") var window:
        String?
    @Option(help: "Monitor as of this moment (ISO 8601, e.g. 2010-06-30T00:00:00Z; default: now) — for replays.")
    var now: String?
    @Option(help: "Write the result as JSON to this file ('-' for standard output).") var json: String?
    @Option(
        help: "Write an HTML page (volume, latency and metric over time, alert rules and history, drift) to this file.")
    var html: String?

    typealias Output = MonitoringPass.Output

    func run() async throws {
        try await runReportingAsyncErrors {
            let spec = try projectSpecIfPresent(project)
            let store = try await storeOptions.open(project)
            let moment = try moment(now)
            let pass = MonitoringPass(store: store, spec: spec)
            let output: Output
            if let version {
                let reference = Int(version) != nil ? "\(name):\(version)" : "\(name)@\(version)"
                output = try await pass.run(try resolveModel(reference, in: store), window: window, at: moment)
            } else if let served = try await pass.runServed(name, window: window, at: moment) {
                output = served
            } else if try await store.modelNames().contains(name) {
                throw ValidationError("\(name) has no champion: give --version to monitor a version that is not one")
            } else {
                throw ValidationError("no model called '\(name)' (mlcycle models lists them)")
            }
            if let json { try emit(try encodeJSON(output), to: json) }
            if let html { try await AtomicFile.write(Data(try pass.html(output).utf8), to: html) }
            if json != "-" { print(Self.text(output), terminator: "") }
        }
    }

    static func text(_ o: Output) -> String {
        let role = o.aliases.isEmpty ? "" : " (\(o.aliases.joined(separator: ", ")))"
        let shadow = o.shadowRows > 0 ? "; \(o.shadowRows) rows answered as a shadow" : ""
        var out = "\(o.model) \(o.version)\(role), its own rows\(shadow), windows of \(o.window):\n"
        out += "window end             volume  errors  unavail  p50 ms   p99 ms  labelled  metric\n"
        let formatter = ISO8601DateFormatter()
        for w in o.windows.suffix(10) {
            let metric =
                w.metrics["mape"].map { String(format: "mape %.4f", $0) } ?? w.metrics["accuracy"].map {
                    String(format: "accuracy %.4f", $0)
                } ?? "-"
            out +=
                formatter.string(from: w.end).padding(toLength: 22, withPad: " ", startingAt: 0)
                + String(
                    format: "%7d  %5.1f%%  %6.1f%%  %7.2f  %7.2f  %8d  ", w.volume, w.errorRate * 100,
                    w.unavailableShare * 100, (w.latencyP50 ?? .nan) * 1000, (w.latencyP99 ?? .nan) * 1000, w.labelled)
                + metric + "\n"
        }
        if let d = o.drift {
            let drifted = d.columns.filter(\.drifted).map(\.name)
            out +=
                "drift in the last window: \(drifted.count) of \(d.columns.count) inputs (\(String(format: "%.0f", d.driftShare * 100)) %)\(drifted.isEmpty ? "" : ": " + drifted.prefix(8).joined(separator: ", "))\n"
        } else {
            out += "drift in the last window: nothing served\n"
        }
        if let p = o.predictionDrift {
            out +=
                "prediction drift in the last window: \(p.method) \(String(format: "%.4g", p.score)) (threshold \(String(format: "%.4g", p.threshold))): \(p.drifted ? "drifted" : "no drift")\n"
        }
        for a in o.alerts {
            out += "\(a.fired ? "FIRED" : "ok   ")  \(a.name) (\(a.severity)): \(a.reason)\n"
        }
        if !o.driftLeftOut.isEmpty {
            out += "left out of drift: \(o.driftLeftOut.keys.sorted().joined(separator: ", "))\n"
        }
        if let v = o.overrides {
            out +=
                "overrides in the last window: \(v.overrides) of \(v.rows) answers (\(String(format: "%.1f", v.rate * 100)) %)"
                + (v.shift.map { String(format: ", mean move %+.1f %%", $0 * 100) } ?? "")
                + (v.slices.first.map {
                    ", most in \($0.column) \($0.value) (\(String(format: "%.0f", $0.rate * 100)) %)"
                } ?? "")
                + "\n"
        }
        if !o.alerts.isEmpty && !o.aliases.contains("champion") {
            out += "(alerts of a version that is not the champion are checked, not stored)\n"
        }
        for f in o.fired { out += "alert \(f.id) stored; webhook: \(f.delivery)\n" }
        for beside in o.alongside { out += "\n" + text(beside) }
        if let c = o.comparison { out += "\n" + c.text }
        return out
    }
}

/// `mlcycle compare`: the challenger against the champion on live labelled traffic.
struct Compare: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Compare two versions on live labelled traffic: the metric of each, the difference with a 95 % interval, error rates, latency and a verdict.",
        discussion: """
            Requests both versions answered (one of them as a shadow) are compared pair by pair; a canary's own \
            requests against the champion's by an unpaired bootstrap. The verdict is better, worse, or can't tell yet \
            with about how many labelled rows it would take. Exits 0 whatever the verdict.
            """)
    @Argument(help: "The model name.") var name: String
    @Option(help: "The champion's version (default: the version the champion alias points at).") var champion: Int?
    @Option(help: "The challenger's version (default: the challenger alias).") var challenger: Int?
    @Option(
        help:
            "From this moment (ISO 8601) or this long ago (e.g. 7d); default: since the challenger alias was last pointed at it."
    )
    var since: String?
    @Option(help: "Compare as of this moment (ISO 8601; default: now) — for replays.") var now: String?
    @Option(help: "The project directory (mlcycle.yaml names the metric).") var project = "."
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "Write the comparison as JSON to this file ('-' for standard output).") var json: String?

    func run() async throws {
        try await runReportingAsyncErrors {
            let moment = try moment(now)
            var start: Date?
            if let since {
                if let seconds = MonitoringDuration.seconds(since) {
                    start = moment.addingTimeInterval(-seconds)
                } else if let date = ISO8601DateFormatter().date(from: since) {
                    start = date
                } else {
                    throw ValidationError("--since takes an ISO 8601 time or a duration such as 7d; got '\(since)'")
                }
            }
            let pass = await MonitoringPass(
                store: try storeOptions.open(project), spec: try projectSpecIfPresent(project))
            let comparison = try await pass.compare(
                name, champion: champion, challenger: challenger, since: start, at: moment)
            if let json { try emit(try encodeJSON(comparison), to: json) }
            if json != "-" { print(comparison.text, terminator: "") }
        }
    }
}

/// `mlcycle review`: the rows answered for review (outside the scope), and a person's decision on one.
struct Review: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the rows answered for review (newest first), or record a person's decision on one.",
        discussion: """
            A served row outside the project's scope is answered with the estimate and status review. This lists \
            those not decided yet, with inputs, estimate and reasons; --decide ID --value V records the value a \
            person settled on as an override of the estimate (monitoring counts it; retraining learns from it only \
            with retraining.overrides_as_labels).
            """)
    @Argument(help: "The model name.") var name: String
    @Option(help: "How many rows to list.") var limit = 20
    @Flag(help: "List decided rows too.") var all = false
    @Option(help: "Record a decision on this prediction id (with --value).") var decide: String?
    @Option(help: "The value a person settled on (a number or a class label).") var value: String?
    @Option(help: "The project directory.") var project = "."
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "Write the list as JSON to this file ('-' for standard output).") var json: String?

    func run() async throws {
        try await runReportingAsyncErrors {
            guard (1...100_000).contains(limit) else {
                throw ValidationError("--limit takes 1 to 100000; got \(limit)")
            }
            let store = try await storeOptions.open(project)
            guard try await store.modelNames().contains(name) else {
                throw ValidationError("no model called '\(name)' (mlcycle models lists them)")
            }
            if let decide {
                guard let value, !value.isEmpty else {
                    throw ValidationError("--decide needs --value: the value the person settled on")
                }
                // Only a row of this model answered for review takes a decision here.
                guard
                    try await store.countPredictions(PredictionFilter(model: name, statuses: ["review"], id: decide))
                        > 0
                else {
                    throw ValidationError(
                        "\(name) answered no row for review with the id '\(decide)' (mlcycle review \(name) lists them)"
                    )
                }
                try await store.recordFeedback([FeedbackRecord(predictionID: decide, value: value, kind: .override)])
                print("\(decide): decided \(value) (recorded as an override)")
                return
            }
            guard value == nil else { throw ValidationError("--value goes with --decide ID") }
            let rows = try await store.predictions(
                PredictionFilter(
                    model: name, statuses: ["review"], withoutFeedback: all ? nil : .override, newestFirst: true,
                    limit: limit))
            if let json { try emit(try encodeJSON(rows), to: json) }
            guard json != "-" else { return }
            if rows.isEmpty { print("no row of \(name) waits for review") }
            let formatter = ISO8601DateFormatter()
            for r in rows {
                print(
                    "\(formatter.string(from: r.at))  \(r.id)  \(r.version)  estimate \(r.prediction ?? "—")  \((r.reasons ?? []).joined(separator: "; "))"
                )
                print("    \(r.inputs.count > 200 ? String(r.inputs.prefix(200)) + "…" : r.inputs)")
            }
        }
    }
}

/// `mlcycle alerts`: the alerts that fired, newest first.
struct Alerts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List fired alerts (with the numbers that fired them), newest first.")
    @Argument(help: "Only this model's alerts.") var name: String?
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "How many.") var limit = 50
    @Option(help: "Write JSON to this file ('-' for standard output).") var json: String?

    func run() async throws {
        try await runReportingAsyncErrors {
            let alerts = try await storeOptions.open().alerts(model: name, limit: limit)
            if let json { try emit(try encodeJSON(alerts), to: json) }
            guard json != "-" else { return }
            if alerts.isEmpty { print("no alert has fired\(name.map { " for \($0)" } ?? "")") }
            let formatter = ISO8601DateFormatter()
            for a in alerts {
                print(
                    "\(formatter.string(from: a.at))  \(a.severity.padding(toLength: 8, withPad: " ", startingAt: 0)) \(a.model) \(a.name): \(a.reason) [webhook: \(a.delivery)]"
                )
            }
        }
    }
}

/// `mlcycle approve`: a person lets a challenger that passed its gates become the champion (the retraining policy
/// `promote: approval` waits for this); kept in the audit log with who and why.
struct Approve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Approve a version that passed its gates: it becomes the champion; who and why go in the audit log.")
    @Argument(help: "NAME:VERSION.") var reference: String
    @Option(help: "Why (kept in the audit log).") var reason: String
    @Option(
        name: .customLong("as"),
        help: "Who approves (default: $USER); must be among release.approvers when the spec lists them.") var approver:
        String?
    @Option(help: "The project directory (its mlcycle.yaml lists the approvers).") var project = "."
    @OptionGroup var storeOptions: StoreOptions

    func run() async throws {
        try await runReportingAsyncErrors {
            guard case .version = try ModelReference(parsing: reference) else {
                throw ValidationError("give the version to approve as NAME:VERSION, e.g. house-prices:3")
            }
            let registry = try await registry(try storeOptions.open(project), project: project)
            let who = person(approver)
            let move = try await registry.approve(try await registry.resolve(reference), by: who, reason: reason)
            print("\(move.name) champion → v\(move.version) (approved by \(who.name))")
        }
    }
}

/// The moment a command acts as of: `--now` (ISO 8601, for replays) or the clock.
func moment(_ now: String?) throws -> Date {
    guard let now else { return Date() }
    guard let d = ISO8601DateFormatter().date(from: now) else {
        throw ValidationError("--now takes an ISO 8601 time such as 2010-06-30T00:00:00Z; got '\(now)'")
    }
    return d
}

/// `mlcycle retrain`: one retraining now (for cron users and people): sources plus recent labelled served rows,
/// the pipeline again, the new version against the champion on the most recent labelled rows, the promotion policy.
struct Retrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Retrain a project's model on its sources plus recent labelled served rows; compare with the champion; promote as the spec's policy says."
    )
    @Argument(help: "The model (project) name.") var name: String
    @Option(help: "Why (kept with the retraining).") var reason = "asked for by hand"
    @Option(help: "The project directory (holding mlcycle.yaml).") var project = "."
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "Retrain as of this moment (ISO 8601; default: now) — for replays.") var now: String?
    @Option(help: "Write the outcome as JSON to this file ('-' for standard output).") var json: String?

    func run() async throws {
        try await runReportingAsyncErrors {
            let spec = try projectSpec(project)
            guard spec.problem.name == name else {
                throw ValidationError(
                    "\(project)/mlcycle.yaml is the project '\(spec.problem.name)', not '\(name)'; give --project the right directory"
                )
            }
            let chatty = json != "-"
            let retrainer = await Retrainer(
                spec: spec, directory: project, store: try storeOptions.open(project),
                actor: ProcessInfo.processInfo.environment["USER"].map { "\($0) (mlcycle retrain)" }
                    ?? "mlcycle retrain",
                progress: { if chatty { print("  " + $0) } })
            let outcome = try await retrainer.retrain(trigger: "manual", reason: reason, at: try moment(now))
            if let json { try emit(try encodeJSON(outcome), to: json) }
            if chatty { print(Self.text(outcome)) }
        }
    }

    static func text(_ o: RetrainOutcome) -> String {
        "retrain (\(o.trigger)): \(o.feedbackRows) labelled served rows added, \(o.comparisonRows) recent ones to compare on\n"
            + "v\(o.challenger.map(String.init) ?? "?") — \(o.verdict): \(o.detail)"
    }
}

/// `mlcycle watch`: the long-running loop — a monitoring pass on a clock, retraining when an alert named in
/// `retraining.on` fires or the schedule comes due.
struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Watch a project's champion: monitor on a clock, fire alerts, retrain on retraining.on alerts and retraining.schedule."
    )
    @Argument(help: "The project directory (holding mlcycle.yaml).") var directory = "."
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "Time between passes, e.g. 60s, 5m, 1h.") var every = "5m"
    @Flag(help: "One pass, then exit (cron users; with --now for replays).") var once = false
    @Option(help: "With --once: act as of this moment (ISO 8601).") var now: String?
    @Option(help: "With --once and a schedule: the moment of the previous pass (the schedule fires in between).")
    var since: String?
    @Flag(
        help:
            "Queue retrainings on the store for `mlcycle worker` processes (one at a time) and go on watching; a later pass reports the worker's verdict."
    )
    var retrainOnWorkers = false

    func run() async throws {
        try await runReportingAsyncErrors {
            let spec = try projectSpec(directory)
            let watcher = try await Watcher(spec: spec, directory: directory, store: try storeOptions.open(directory))
            watcher.retrainOnWorkers = retrainOnWorkers
            guard let seconds = MonitoringDuration.seconds(every) else {
                throw ValidationError("--every takes a duration such as 60s, 5m, 1h; got '\(every)'")
            }
            let formatter = ISO8601DateFormatter()
            let show = { (step: Watcher.Step) in
                print(
                    "\(formatter.string(from: step.at))  "
                        + (step.notes.isEmpty ? "all quiet" : step.notes.joined(separator: "\n    ")))
            }
            let previous = try since.map { try moment($0) }
            if once {
                show(try await watcher.step(at: try moment(now), previous: previous))
            } else {
                try await watcher.run(every: seconds, since: previous, report: show)
            }
        }
    }
}

/// `mlcycle replay`: history through a running server, in time order, with feedback and the watcher stepping on the
/// replayed clock — the way to rehearse the whole loop on past data.
struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Replay a labelled CSV through a running server (started with --replay-clock) in time order, with feedback; optionally watch as it goes."
    )
    @Argument(help: "The CSV file of past rows with their times and true values.") var file: String
    @Option(help: "The server's address.") var url = "http://127.0.0.1:8080"
    @Option(help: "The model to call.") var model: String
    @Option(help: "The column holding each row's time (a date or timestamp).") var time: String
    @Option(help: "The column holding the true value, sent as feedback (never to predict).") var actual: String
    @Option(help: "With --watch: step length of the replayed clock, e.g. 1M (calendar months), 7d, 1h.") var every =
        "1M"
    @Option(
        help: "A project directory to watch at every step (monitoring, alerts, retraining), as mlcycle watch would.")
    var watch: String?
    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var reading: ReadingOptions
    @Option(help: "Write the summary as JSON to this file ('-' for standard output).") var json: String?

    func run() async throws {
        try await runReportingAsyncErrors {
            guard let server = URL(string: url), server.scheme != nil else {
                throw ValidationError("--url must be an address such as http://127.0.0.1:8080")
            }
            let table = try CSVReader.read(path: file, options: try reading.csvOptions())
            var watcher: Watcher?
            if let watch {
                let spec = try projectSpec(watch)
                watcher = try await Watcher(spec: spec, directory: watch, store: try storeOptions.open(watch))
            }
            let chatty = json != "-"
            var replay = MLCycleProject.Replay(
                server: server, model: model, table: table, timeColumn: time, actualColumn: actual, step: every,
                watcher: watcher)
            let tokens = AccessTokens(environment: ProcessInfo.processInfo.environment)
            replay.token = tokens.predict
            replay.feedbackToken = tokens.feedback
            replay.progress = { if chatty { print($0) } }
            let summary = try await replay.run()
            if let json { try emit(try encodeJSON(summary), to: json) }
            if chatty {
                print(
                    "replayed \(summary.rows) rows in \(summary.requests) requests, \(summary.feedback) with feedback; answered by "
                        + summary.answeredBy.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(
                            separator: ", "))
            }
        }
    }
}

/// The project's spec: DIR/mlcycle.yaml.
func projectSpec(_ directory: String) throws -> ProjectSpec {
    try ProjectFile.load(path: (directory as NSString).appendingPathComponent("mlcycle.yaml"))
}

/// The project's spec when DIR holds one (commands that also work on a bare store).
func projectSpecIfPresent(_ directory: String) throws -> ProjectSpec? {
    FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("mlcycle.yaml"))
        ? try projectSpec(directory) : nil
}
