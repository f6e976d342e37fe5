import Foundation
import MLCycleData
import MLCycleMonitor

/// Renders a monitoring pass as one self-contained HTML page: time series of volume, latency and the metric (with
/// its alert threshold), the alert rules' state, the alerts that fired, and the drift of the last window.
public enum MonitoringReportPage {
    /// An alert that fired, as the history lists it.
    public struct FiredAlert: Sendable {
        public var at: Date
        public var name: String
        public var severity: String
        public var reason: String
        public var delivery: String
        public init(at: Date, name: String, severity: String, reason: String, delivery: String) {
            self.at = at
            self.name = name
            self.severity = severity
            self.reason = reason
            self.delivery = delivery
        }
    }

    /// One retraining as the page lists it.
    public struct Retraining: Sendable {
        public var at: Date
        public var trigger: String
        public var versions: String
        public var verdict: String
        public var detail: String
        public init(at: Date, trigger: String, versions: String, verdict: String, detail: String) {
            self.at = at
            self.trigger = trigger
            self.versions = versions
            self.verdict = verdict
            self.detail = detail
        }
    }

    /// One version's own rows, for the table that sets the versions side by side.
    public struct VersionRows: Sendable {
        public var version: String
        public var aliases: [String]
        public var shadowRows: Int
        public var windows: [WindowSummary]
        public init(version: String, aliases: [String], shadowRows: Int, windows: [WindowSummary]) {
            self.version = version
            self.aliases = aliases
            self.shadowRows = shadowRows
            self.windows = windows
        }
    }

    public static func html(
        model: String, version: String, window: String, windows: [WindowSummary], drift: DriftReport?,
        checks: [AlertCheck], history: [FiredAlert], retrainings: [Retraining] = [],
        predictionDrift: ColumnDrift? = nil, slices: [SliceSummary] = [], versions: [VersionRows] = [],
        overrides: OverrideSummary? = nil, driftLeftOut: [String: String] = [:], comparison: String? = nil,
        explanationDrift: [ExplanationShift] = [], markers: [ChartMarker] = []
    ) -> String {
        var h = HTMLBuilder()
        h.page(
            title: "Monitoring: \(model)", heading: "Monitoring: \(model) \(version)",
            css: "\(ReportStyle.base)\(ReportStyle.charts)\(ReportStyle.drift)")
        let firing = checks.filter(\.fired)
        h.raw("<section id=\"verdict\" class=\"verdict \(firing.isEmpty ? "pass" : "fail")\"><b>")
        h.text(
            firing.isEmpty
                ? "No alert firing"
                : "\(firing.count) alert\(firing.count == 1 ? "" : "s") firing: \(firing.map(\.name).joined(separator: ", "))"
        )
        h.raw("</b></section>")
        let served = windows.map(\.volume).reduce(0, +)
        h.raw("<p class=\"summary\"><span><b>")
        h.text(String(served))
        h.raw("</b> predictions in ")
        h.text(String(windows.count))
        h.raw(" windows of ")
        h.text(window)
        h.raw("</span><span><b>")
        h.text(String(windows.map(\.labelled).reduce(0, +)))
        h.raw("</b> with feedback</span></p>")

        let formatter = ISO8601DateFormatter()
        // x: time, each window's value at its end; alerts and alias moves marked where they happened.
        let spans = windows.map { (start: $0.start, end: $0.end) }
        func chart(_ values: [Double], _ yLabel: String, threshold: Double? = nil, into h: inout HTMLBuilder) {
            TimeChart.draw(values, windows: spans, yLabel: yLabel, threshold: threshold, markers: markers, into: &h)
        }
        h.raw("<div class=\"grid\" id=\"series\">")
        Charts.card("Volume per window", into: &h) { h in
            chart(windows.map { Double($0.volume) }, "predictions", into: &h)
        }
        Charts.card("Latency p99 (ms)", into: &h) { h in
            chart(windows.map { ($0.latencyP99 ?? .nan) * 1000 }, "ms", into: &h)
        }
        Charts.card("Refused requests (error rate)", into: &h) { h in
            chart(windows.map(\.errorRate), "share", into: &h)
            let codes = windows.reduce(into: [String: Int]()) { all, w in
                for (k, v) in w.errors { all[k, default: 0] += v }
            }
            if !codes.isEmpty {
                h.raw("<p>")
                h.text(
                    "by status code: "
                        + codes.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
                h.raw("</p>")
            }
        }
        Charts.card("Low-confidence answers (inputs unlike training)", into: &h) { h in
            chart(windows.map(\.lowConfidenceShare), "share", into: &h)
        }
        if windows.contains(where: { $0.confidenceMean != nil }) {
            Charts.card("Mean confidence (probability of the predicted class)", into: &h) { h in
                chart(windows.map { $0.confidenceMean ?? .nan }, "probability", into: &h)
            }
        }
        Charts.card("Unavailable answers", into: &h) { h in chart(windows.map(\.unavailableShare), "share", into: &h) }
        let metric =
            windows.contains { $0.metrics["mape"] != nil }
            ? "mape" : (windows.contains { $0.metrics["accuracy"] != nil } ? "accuracy" : nil)
        if let metric {
            let threshold = checks.first { $0.rule.hasPrefix(metric + " ") }?.threshold
            Charts.card(
                "\(metric) on rows with feedback\(threshold.map { " (alert at \(ReportFormat.num($0)))" } ?? "")",
                into: &h
            ) { h in chart(windows.map { $0.metrics[metric] ?? .nan }, metric, threshold: threshold, into: &h) }
        }
        h.raw("</div>")
        if versions.count > 1 {
            versionTable(versions, into: &h)
        }
        if let comparison {
            h.raw(
                "<section class=\"card wide\" id=\"comparison\"><h2>Champion and challenger on live traffic</h2><pre>")
            h.text(comparison)
            h.raw("</pre></section>")
        }
        if let overrides {
            overrideSection(overrides, into: &h)
        }
        if !slices.isEmpty {
            let metric = slices.contains { $0.metrics["mape"] != nil } ? "mape" : "accuracy"
            h.raw("<section class=\"card wide\" id=\"slices\"><h2>")
            h.text("\(metric) by slice, last window")
            h.raw("</h2><table><thead><tr><th>column</th><th>slice</th><th>rows</th><th>")
            h.text(metric)
            h.raw("</th></tr></thead><tbody>")
            for s in slices {
                h.raw("<tr><td>")
                h.text(s.column)
                h.raw("</td><td>")
                h.text(s.value)
                h.raw("</td><td>")
                h.text(String(s.rows))
                h.raw("</td><td>")
                h.text(s.metrics[metric].map(ReportFormat.num) ?? "—")
                h.raw("</td></tr>")
            }
            h.raw("</tbody></table></section>")
        }

        h.raw(
            "<section class=\"card wide\" id=\"alerts\"><h2>Alert rules</h2><table><thead><tr><th>alert</th><th>severity</th><th>rule</th><th>value</th><th>state</th></tr></thead><tbody>"
        )
        for c in checks {
            h.raw("<tr class=\"\(c.fired ? "bad" : "ok")\"><td>")
            h.text(c.name)
            h.raw("</td><td>")
            h.text(c.severity)
            h.raw("</td><td><code>")
            h.text(c.rule)
            h.raw("</code></td><td>")
            h.text(c.value.map(ReportFormat.num) ?? "—")
            h.raw("</td><td>")
            h.text(c.fired ? "firing" : c.reason)
            h.raw("</td></tr>")
        }
        h.raw("</tbody></table></section>")
        h.raw("<section class=\"card wide\" id=\"history\"><h2>Fired alerts</h2>")
        if history.isEmpty {
            h.raw("<p>None has fired.</p>")
        } else {
            h.raw(
                "<table><thead><tr><th>at</th><th>alert</th><th>severity</th><th>why</th><th>webhook</th></tr></thead><tbody>"
            )
            for a in history {
                h.raw("<tr><td>")
                h.text(formatter.string(from: a.at))
                h.raw("</td><td>")
                h.text(a.name)
                h.raw("</td><td>")
                h.text(a.severity)
                h.raw("</td><td>")
                h.text(a.reason)
                h.raw("</td><td>")
                h.text(a.delivery)
                h.raw("</td></tr>")
            }
            h.raw("</tbody></table>")
        }
        h.raw("</section>")
        // Verdicts and reasons are sentences: wrapped and read left to right.
        h.raw("<style>#retraining td,#history td{white-space:normal;text-align:left}</style>")
        h.raw("<section class=\"card wide\" id=\"retraining\"><h2>Retraining</h2>")
        if retrainings.isEmpty {
            h.raw("<p>No retraining yet.</p>")
        } else {
            h.raw(
                "<table><thead><tr><th>at</th><th>trigger</th><th>versions</th><th>verdict</th><th>measured</th></tr></thead><tbody>"
            )
            for r in retrainings {
                h.raw("<tr class=\"\(r.verdict == "promoted" ? "ok" : "")\"><td>")
                h.text(formatter.string(from: r.at))
                h.raw("</td><td>")
                h.text(r.trigger)
                h.raw("</td><td>")
                h.text(r.versions)
                h.raw("</td><td>")
                h.text(r.verdict)
                h.raw("</td><td>")
                h.text(r.detail)
                h.raw("</td></tr>")
            }
            h.raw("</tbody></table>")
        }
        h.raw("</section>")
        if let p = predictionDrift {
            h.raw("<section class=\"card wide\" id=\"prediction-drift\"><h2>Prediction drift, last window</h2><p>")
            h.text(
                "Answers against the answers on the test rows: \(p.method) \(ReportFormat.num(p.score)) (threshold \(ReportFormat.num(p.threshold))) — \(p.drifted ? "drifted" : "no drift"); PSI \(ReportFormat.num(p.tests.psi))"
            )
            h.raw("</p>")
            DriftSections.overlay(p, into: &h)
            h.raw("</section>")
        }
        if !explanationDrift.isEmpty { explanations(explanationDrift, into: &h) }
        if let drift {
            h.raw("<h2>Drift of the last window against training</h2>")
            DriftSections.table(drift, into: &h)
            if !driftLeftOut.isEmpty {
                h.raw("<p>Left out: ")
                h.text(
                    driftLeftOut.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: "; "))
                h.raw("</p>")
            }
            h.raw("<div class=\"grid\">")
            for c in drift.columns where c.drifted {
                h.raw("<section class=\"card\"><h3>")
                h.text(c.name)
                h.raw("</h3>")
                DriftSections.overlay(c, into: &h)
                h.raw("</section>")
            }
            h.raw("</div>")
        }
        h.raw("</main></body></html>\n")
        return h.output
    }

    /// What the model leaned on in the last window against the test rows, per input column, largest change first.
    static func explanations(_ shifts: [ExplanationShift], into h: inout HTMLBuilder) {
        h.raw("<section class=\"card wide\" id=\"explanation-drift\"><h2>Explanations, last window</h2><p>")
        h.text(
            "Each input column's mean |contribution| to the answers (exact SHAP values, credited to the columns sent) "
                + "in the last window against the test rows: a model whose reasons change is one whose world changed.")
        h.raw("</p><div class=\"scroll\"><table><thead><tr><th>column</th><th>test rows</th><th>last window</th>")
        h.raw("<th>change</th></tr></thead><tbody>")
        for s in shifts {
            let change = s.change
            h.raw(change.map { abs($0) >= 0.5 } ?? (s.window > 0) ? "<tr class=\"flag\"><td>" : "<tr><td>")
            h.text(s.column)
            h.raw("</td><td>")
            h.text(ReportFormat.num(s.test))
            h.raw("</td><td>")
            h.text(ReportFormat.num(s.window))
            h.raw("</td><td>")
            h.text(change.map { ($0 >= 0 ? "+" : "") + ReportFormat.pct($0) } ?? "–")
            h.raw("</td></tr>")
        }
        h.raw("</tbody></table></div></section>")
    }

    /// Each version's own rows over the period and in its last window: volume (shadow answers counted), refused share,
    /// p99 latency, labelled rows and the metric.
    static func versionTable(_ versions: [VersionRows], into h: inout HTMLBuilder) {
        h.raw("<section class=\"card wide\" id=\"versions\"><h2>Each version on its own rows</h2>")
        h.raw(
            "<table><thead><tr><th>version</th><th>aliases</th><th>answered</th><th>as shadow</th><th>error rate</th><th>p99 ms, last window</th><th>labelled</th><th>metric, last window with feedback</th></tr></thead><tbody>"
        )
        for v in versions {
            let volume = v.windows.map(\.volume).reduce(0, +)
            let refused = v.windows.map { $0.errors.values.reduce(0, +) }.reduce(0, +)
            let labelled = v.windows.last { $0.labelled > 0 }
            let metric =
                labelled.flatMap { w in
                    w.metrics["mape"].map { "mape \(ReportFormat.num($0))" }
                        ?? w.metrics["accuracy"].map { "accuracy \(ReportFormat.num($0))" }
                } ?? "—"
            h.raw("<tr><td>")
            h.text(v.version)
            h.raw("</td><td>")
            h.text(v.aliases.joined(separator: ", "))
            h.raw("</td><td>")
            h.text(String(volume))
            h.raw("</td><td>")
            h.text(String(v.shadowRows))
            h.raw("</td><td>")
            h.text(volume + refused == 0 ? "—" : ReportFormat.num(Double(refused) / Double(volume + refused)))
            h.raw("</td><td>")
            h.text(v.windows.last?.latencyP99.map { ReportFormat.num($0 * 1000) } ?? "—")
            h.raw("</td><td>")
            h.text(String(v.windows.map(\.labelled).reduce(0, +)))
            h.raw("</td><td>")
            h.text(metric)
            h.raw("</td></tr>")
        }
        h.raw("</tbody></table></section>")
    }

    /// How people overrode the last window's answers, overall and by slice.
    static func overrideSection(_ o: OverrideSummary, into h: inout HTMLBuilder) {
        h.raw("<section class=\"card wide\" id=\"overrides\"><h2>Overrides, last window</h2><p>")
        var sentence = "People replaced \(o.overrides) of \(o.rows) answers (\(ReportFormat.num(o.rate * 100)) %)"
        if let shift = o.shift, let up = o.upShare {
            sentence +=
                ", by \(ReportFormat.num(shift * 100)) % on average; \(ReportFormat.num(up * 100)) % of them moved the estimate up"
        }
        h.text(sentence + ".")
        h.raw("</p>")
        if !o.slices.isEmpty {
            h.raw(
                "<table><thead><tr><th>column</th><th>slice</th><th>answers</th><th>overridden</th><th>rate</th><th>mean move</th></tr></thead><tbody>"
            )
            for s in o.slices.prefix(20) {
                h.raw("<tr><td>")
                h.text(s.column)
                h.raw("</td><td>")
                h.text(s.value)
                h.raw("</td><td>")
                h.text(String(s.rows))
                h.raw("</td><td>")
                h.text(String(s.overrides))
                h.raw("</td><td>")
                h.text(ReportFormat.num(s.rate))
                h.raw("</td><td>")
                h.text(s.shift.map { ReportFormat.num($0 * 100) + " %" } ?? "—")
                h.raw("</td></tr>")
            }
            h.raw("</tbody></table>")
        }
        h.raw("</section>")
    }
}
