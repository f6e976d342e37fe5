import ArgumentParser
import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCycleMonitor
import MLCycleProject
import MLCycleReport
import MLCycleStore

/// `mlcycle monitor`: one pass over a served model's prediction log — windows, drift of the last window against
/// the training reference, and the project's alert rules (fired ones stored and sent to the webhook).
struct Monitor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One monitoring pass over a served model: volume, latency, answers, metrics from feedback, drift, alerts.")

    @Argument(help: "The model name (its champion is monitored).") var name: String
    @Option(help: "The project directory (mlcycle.yaml gives the window and the alert rules).") var project = "."
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "Window length, e.g. 1h, 1d, 7d (default: the spec's monitoring.window, else 1d).") var window: String?
    @Option(help: "Monitor as of this moment (ISO 8601, e.g. 2010-06-30T00:00:00Z; default: now) — for replays.") var now: String?
    @Option(help: "Write the result as JSON to this file ('-' for standard output).") var json: String?
    @Option(help: "Write an HTML page (volume, latency and metric over time, alert rules and history, drift) to this file.") var html: String?

    typealias Output = MonitoringPass.Output

    func run() throws {
        try runReportingErrors {
            let specPath = (project as NSString).appendingPathComponent("mlcycle.yaml")
            let spec = FileManager.default.fileExists(atPath: specPath) ? try ProjectFile.load(path: specPath) : nil
            let store = try storeOptions.open(project)
            let moment = try now.map { text -> Date in
                guard let d = ISO8601DateFormatter().date(from: text) else { throw ValidationError("--now takes an ISO 8601 time such as 2010-06-30T00:00:00Z; got '\(text)'") }
                return d
            } ?? Date()
            let output = try MonitoringPass(store: store, spec: spec).run(try resolveModel(name, in: store), window: window, at: moment)
            if let json { try emit(try encodeJSON(output), to: json) }
            if let html {
                let history = try store.alerts(model: output.model, limit: 200).map {
                    MonitoringReportPage.FiredAlert(at: $0.at, name: $0.name, severity: $0.severity, reason: $0.reason, delivery: $0.delivery)
                }
                let page = MonitoringReportPage.html(model: output.model, version: output.version, window: output.window, windows: output.windows,
                                                     drift: output.drift, checks: output.alerts, history: history)
                try AtomicFile.write(Data(page.utf8), to: html)
            }
            if json != "-" { print(Self.text(output), terminator: "") }
        }
    }

    static func text(_ o: Output) -> String {
        var out = "\(o.model) \(o.version), windows of \(o.window):\n"
        out += "window end             volume  unavail  p50 ms   p99 ms  labelled  metric\n"
        let formatter = ISO8601DateFormatter()
        for w in o.windows.suffix(10) {
            let metric = w.metrics["mape"].map { String(format: "mape %.4f", $0) } ?? w.metrics["accuracy"].map { String(format: "accuracy %.4f", $0) } ?? "-"
            out += formatter.string(from: w.end).padding(toLength: 22, withPad: " ", startingAt: 0)
                + String(format: "%7d  %6.1f%%  %7.2f  %7.2f  %8d  ", w.volume, w.unavailableShare * 100, (w.latencyP50 ?? .nan) * 1000, (w.latencyP99 ?? .nan) * 1000, w.labelled)
                + metric + "\n"
        }
        if let d = o.drift {
            let drifted = d.columns.filter(\.drifted).map(\.name)
            out += "drift in the last window: \(drifted.count) of \(d.columns.count) inputs (\(String(format: "%.0f", d.driftShare * 100)) %)\(drifted.isEmpty ? "" : ": " + drifted.prefix(8).joined(separator: ", "))\n"
        } else {
            out += "drift in the last window: nothing served\n"
        }
        for a in o.alerts {
            out += "\(a.fired ? "FIRED" : "ok   ")  \(a.name) (\(a.severity)): \(a.reason)\n"
        }
        for f in o.fired { out += "alert \(f.id) stored; webhook: \(f.delivery)\n" }
        return out
    }
}

/// `mlcycle alerts`: the alerts that fired, newest first.
struct Alerts: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List fired alerts (with the numbers that fired them), newest first.")
    @Argument(help: "Only this model's alerts.") var name: String?
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "How many.") var limit = 50
    @Option(help: "Write JSON to this file ('-' for standard output).") var json: String?

    func run() throws {
        try runReportingErrors {
            let alerts = try storeOptions.open().alerts(model: name, limit: limit)
            if let json { try emit(try encodeJSON(alerts), to: json) }
            guard json != "-" else { return }
            if alerts.isEmpty { print("no alert has fired\(name.map { " for \($0)" } ?? "")") }
            let formatter = ISO8601DateFormatter()
            for a in alerts {
                print("\(formatter.string(from: a.at))  \(a.severity.padding(toLength: 8, withPad: " ", startingAt: 0)) \(a.model) \(a.name): \(a.reason) [webhook: \(a.delivery)]")
            }
        }
    }
}

/// `mlcycle approve`: a person lets a challenger that passed its gates become the champion (the retraining policy
/// `promote: approval` waits for this); kept in the audit log with who and why.
struct Approve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Approve a version that passed its gates: it becomes the champion; who and why go in the audit log.")
    @Argument(help: "NAME:VERSION.") var reference: String
    @Option(help: "Why (kept in the audit log).") var reason: String
    @Option(name: .customLong("as"), help: "Who approves (default: $USER); must be among release.approvers when the spec lists them.") var approver: String?
    @Option(help: "The project directory (its mlcycle.yaml lists the approvers).") var project = "."
    @OptionGroup var storeOptions: StoreOptions

    func run() throws {
        try runReportingErrors {
            let specPath = (project as NSString).appendingPathComponent("mlcycle.yaml")
            let spec = FileManager.default.fileExists(atPath: specPath) ? try ProjectFile.load(path: specPath) : nil
            let who = approver ?? ProcessInfo.processInfo.environment["USER"] ?? "unknown"
            if let approvers = spec?.release.approvers, !approvers.isEmpty, !approvers.contains(who) {
                throw StoreError.invalid("\(who) is not an approver of this project (release.approvers: \(approvers.joined(separator: ", "))); use --as NAME")
            }
            guard reference.contains(":") else { throw ValidationError("give the version to approve as NAME:VERSION, e.g. house-prices:3") }
            let store = try storeOptions.open(project)
            let v = try resolveModel(reference, in: store)
            guard v.gatesPassed else { throw StoreError.invalid("\(v.name) v\(v.version) failed its gates; an approval cannot override them (promote --override-gates is the explicit exception)") }
            try store.setAlias(v.name, alias: "champion", version: v.version, actor: who, action: "approve", reason: reason)
            print("\(v.name) champion → v\(v.version) (approved by \(who))")
        }
    }
}
