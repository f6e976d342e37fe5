import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCycleLearn
import MLCycleMetrics

/// Renders an evaluation as one self-contained HTML page (inline CSS and SVG, no scripts) or as terminal text.
public enum EvaluationReportPage {
    public static func html(_ r: EvaluationReport, title: String) -> String {
        var h = HTMLBuilder()
        h.page(
            title: "Evaluation of \(title)", heading: "Evaluation: \(title)",
            css: "\(ReportStyle.base)\(ReportStyle.charts)")

        // Headline verdict.
        h.raw(
            "<section id=\"verdict\" class=\"verdict \(r.gates.isEmpty ? "none" : (r.passed ? "pass" : "fail"))\"><b>")
        h.text(
            r.gates.isEmpty
                ? "No gates were set"
                : (r.passed
                    ? "Passes every gate"
                    : "Fails \(r.gates.filter { !$0.passed }.count) of \(r.gates.count) gates: not promotable"))
        h.raw("</b>")
        if !r.gates.isEmpty {
            h.raw("<ul>")
            for g in r.gates {
                h.raw("<li class=\"\(g.passed ? "ok" : "bad")\">\(g.passed ? "✔" : "✘") <code>")
                h.text(g.rule)
                h.raw("</code> — ")
                h.text(g.reason)
                h.raw("</li>")
            }
            h.raw("</ul>")
        }
        h.raw("</section>")
        h.raw("<p class=\"summary\"><span><b>")
        h.text(String(r.rows))
        h.raw("</b> rows</span><span><b>")
        h.text(r.task.rawValue)
        h.raw("</b> task</span>")
        if let p = r.positiveClass {
            h.raw("<span>positive class <b>")
            h.text(p)
            h.raw("</b></span>")
        }
        h.raw("</p>")
        if !r.judgedOn.isEmpty {
            h.raw("<h2 id=\"rows\">Which rows judged what</h2><ul>")
            for line in r.judgedOn {
                h.raw("<li>")
                h.text(line)
                h.raw("</li>")
            }
            h.raw("</ul>")
        }

        // Metrics.
        h.raw("<h2 id=\"metrics\">Metrics</h2><table><thead><tr><th>metric</th><th>value</th></tr></thead><tbody>")
        for (k, v) in r.metrics.sorted(by: { $0.key < $1.key }) {
            h.raw("<tr><td>")
            h.text(k)
            h.raw("</td><td>")
            h.text(ReportFormat.num(v))
            h.raw("</td></tr>")
        }
        h.raw("</tbody></table>")
        if !r.comparisons.isEmpty {
            h.raw("<div id=\"comparison\">")
            for c in r.comparisons {
                h.raw("<p>")
                h.text(
                    "Against the \(c.against): \(c.metric) \(ReportFormat.num(c.candidate)) vs \(ReportFormat.num(c.baseline)), difference \(ReportFormat.num(c.difference)) (95 % paired bootstrap interval \(ReportFormat.num(c.low)) to \(ReportFormat.num(c.high)), \(c.samples) samples)."
                )
                h.raw("</p>")
            }
            h.raw("</div>")
        }
        if let op = r.operatingPoint {
            h.raw("<p id=\"threshold\">")
            h.text(
                "Chosen threshold \(ReportFormat.num(op.threshold)): precision \(ReportFormat.num(op.precision)), recall \(ReportFormat.num(op.recall))."
            )
            h.raw("</p>")
        }
        if let g = r.ranges {
            h.raw("<p id=\"ranges\">")
            h.text(
                "Prediction ranges cover \(ReportFormat.pct(g.coverage)) of the rows\(g.nominal.map { " (promised: \(ReportFormat.pct($0)))" } ?? ""), mean width \(ReportFormat.num(g.meanWidth))."
            )
            h.raw("</p>")
        }

        if let t = r.reliability { reliability(t, into: &h) }

        // Charts by task.
        h.raw("<h2 id=\"charts\">Predictions</h2><div class=\"cards\">")
        switch r.task {
        case .regression:
            Charts.card("Predicted vs actual", into: &h) { Charts.scatter(r.sample, into: &$0) }
            Charts.card("Residuals (predicted − actual)", into: &h) {
                Charts.histogram(r.sample.map { $0[1] - $0[0] }, into: &$0)
            }
        case .binary:
            if let c = r.curves {
                Charts.card("ROC curve (AUC \(ReportFormat.num(r.metrics["auc"] ?? .nan)))", into: &h) {
                    Charts.lines(
                        [c.roc], xLabel: "false positive rate", yLabel: "true positive rate", diagonal: true, into: &$0)
                }
                Charts.card("Precision–recall (AP \(ReportFormat.num(r.metrics["pr_auc"] ?? .nan)))", into: &h) {
                    Charts.lines([c.pr], xLabel: "recall", yLabel: "precision", diagonal: false, into: &$0)
                }
                Charts.card("Calibration", into: &h) {
                    Charts.lines(
                        [c.calibration.map { [$0[0], $0[1]] }], xLabel: "mean predicted probability",
                        yLabel: "observed rate", diagonal: true, into: &$0)
                }
            }
        default: break
        }
        if let m = r.confusion {
            Charts.card("Confusion matrix (rows: actual, columns: predicted)", into: &h) { h in
                let labels = r.task == .binary ? ["negative", "positive"] : r.labels
                h.raw("<table id=\"confusion\"><thead><tr><th></th>")
                for l in labels {
                    h.raw("<th>")
                    h.text(l)
                    h.raw("</th>")
                }
                h.raw("</tr></thead><tbody>")
                for (i, row) in m.enumerated() {
                    h.raw("<tr><th>")
                    h.text(i < labels.count ? labels[i] : String(i))
                    h.raw("</th>")
                    for v in row {
                        h.raw("<td>")
                        h.text(String(v))
                        h.raw("</td>")
                    }
                    h.raw("</tr>")
                }
                h.raw("</tbody></table>")
            }
        }
        h.raw("</div>")

        // Slices.
        h.raw("<h2 id=\"slices\">Slices</h2>")
        if r.slices.isEmpty {
            h.raw("<p>No slices were asked for (<code>--slice COLUMN</code>).</p>")
        } else {
            h.raw("<p>Ranked by how much worse than overall on <b>")
            h.text(r.rankingMetric)
            h.raw("</b> (overall ")
            h.text(ReportFormat.num(r.metrics[r.rankingMetric] ?? .nan))
            h.raw(").</p>")
            let worst = r.slices.map { abs($0.metrics[r.rankingMetric] ?? 0) }.max() ?? 1
            h.raw(
                "<table><thead><tr><th>column</th><th>slice</th><th>rows</th><th>\(ReportFormat.esc(r.rankingMetric))</th><th></th><th>gap</th></tr></thead><tbody>"
            )
            for s in r.slices {
                let v = s.metrics[r.rankingMetric] ?? .nan
                h.raw(s.flagged ? "<tr class=\"flag\">" : "<tr>")
                for cell in [s.column, s.value, String(s.rows), ReportFormat.num(v)] {
                    h.raw("<td>")
                    h.text(cell)
                    h.raw("</td>")
                }
                h.raw("<td>")
                Charts.bar(v.isFinite ? abs(v) / max(worst, 1e-12) : 0, warn: s.gap > 0, into: &h)
                h.raw("</td><td>")
                h.text(ReportFormat.num(s.gap))
                h.raw("</td></tr>")
            }
            h.raw("</tbody></table>")
        }

        // Fairness.
        h.raw("<h2 id=\"fairness\">Fairness and bias</h2>")
        if r.fairness.isEmpty { h.raw("<p>No groups were compared (<code>--group COLUMN</code>).</p>") }
        for f in r.fairness {
            h.raw("<h3>")
            h.text(
                "\(f.column): \(f.metric) from \(ReportFormat.num(f.groups.first?.metric ?? .nan)) to \(ReportFormat.num(f.groups.last?.metric ?? .nan)) — gap \(ReportFormat.num(f.largestGap)), ratio \(ReportFormat.num(f.ratio))"
            )
            h.raw("</h3>")
            h.raw(
                "<table><thead><tr><th>group</th><th>rows</th><th>\(ReportFormat.esc(f.metric))</th><th>bias</th><th>direction</th></tr></thead><tbody>"
            )
            for g in f.groups {
                h.raw("<tr>")
                for cell in [
                    g.value, String(g.rows), ReportFormat.num(g.metric), ReportFormat.num(g.bias), g.direction,
                ] {
                    h.raw("<td>")
                    h.text(cell)
                    h.raw("</td>")
                }
                h.raw("</tr>")
            }
            h.raw("</tbody></table>")
        }

        // Importance and partial dependence.
        h.raw("<h2 id=\"importance\">Feature importance</h2><p>Permutation importance: how much worse <b>")
        h.text(r.rankingMetric)
        h.raw(
            "</b> gets when a feature's values are shuffled (mean of repeats; gain from the trees where available). "
                + "Mean |SHAP|: the feature's average contribution to a row's output, either way (exact SHAP values for "
                + "trees, coefficient × (value − training mean) for linear models).</p>"
        )
        let top = r.importance.prefix(20)
        let largest = top.map { max(0, $0.mean) }.max() ?? 1
        h.raw(
            "<table><thead><tr><th>feature</th><th>importance</th><th></th><th>± sd</th><th>gain</th>"
                + "<th>mean |SHAP|</th></tr></thead><tbody>"
        )
        for i in top {
            h.raw("<tr><td>")
            h.text(i.feature)
            h.raw("</td><td>")
            h.text(ReportFormat.num(i.mean))
            h.raw("</td><td>")
            Charts.bar(max(0, i.mean) / max(largest, 1e-12), warn: false, into: &h)
            h.raw("</td><td>")
            h.text(ReportFormat.num(i.std))
            h.raw("</td><td>")
            h.text(i.gain.map(ReportFormat.num) ?? "")
            h.raw("</td><td>")
            h.text(i.shap.map(ReportFormat.num) ?? "")
            h.raw("</td></tr>")
        }
        h.raw("</tbody></table><div class=\"cards\" id=\"partial-dependence\">")
        for pd in r.partialDependence {
            Charts.card("Partial dependence on \(pd.feature)", into: &h) { h in
                let numeric = pd.values.allSatisfy { Double($0) != nil }
                if numeric {
                    Charts.lines(
                        [zip(pd.values, pd.predictions).map { [Double($0)!, $1] }], xLabel: pd.feature,
                        yLabel: "mean prediction", diagonal: false, into: &h)
                } else {
                    h.raw("<table>")
                    for (v, p) in zip(pd.values, pd.predictions) {
                        h.raw("<tr><td>")
                        h.text(v)
                        h.raw("</td><td>")
                        h.text(ReportFormat.num(p))
                        h.raw("</td></tr>")
                    }
                    h.raw("</table>")
                }
            }
        }
        if !r.beeswarm.isEmpty {
            Charts.card("Contributions row by row (blue: low value, red: high, grey: a category)", into: &h) { h in
                Charts.beeswarm(r.beeswarm.map { ($0.feature, $0.points) }, into: &h)
            }
        }
        if let w = r.worstSlice { worstSlice(w, task: r.task, into: &h) }
        // Dependence of the contributions: one point per row, the feature's value against its contribution.
        for d in r.dependence {
            Charts.card("Contributions of \(d.feature)", into: &h) { h in
                Charts.points(d.points, xLabel: d.feature, yLabel: "contribution", into: &h)
            }
        }
        h.raw(
            "</div><footer>Made by mlcycle. Metrics follow scikit-learn's definitions.</footer></main></body></html>\n")
        return h.output
    }

    /// The worst slice in words and a table: how far off it is, and the features that move its estimates away from
    /// the others'.
    static func worstSlice(_ w: EvaluationReport.SliceContrast, task: Task, into h: inout HTMLBuilder) {
        Charts.card("Why \(w.column) = \(w.value) is off", into: &h) { h in
            let direction =
                task == .regression
                ? (w.bias < 0
                    ? "under-estimated by \(ReportFormat.pct(-w.bias))"
                    : "over-estimated by \(ReportFormat.pct(w.bias))")
                : (w.bias < 0
                    ? "given \(ReportFormat.num(-w.bias)) less probability than its rate"
                    : "given \(ReportFormat.num(w.bias)) more probability than its rate")
            let names = w.shifts.prefix(2).map(\.feature)
            h.raw("<p>")
            h.text(
                "The worst slice (\(w.rows) rows) is \(direction), mainly through \(names.joined(separator: " and ")): "
                    + "its mean contributions against those of every row:")
            h.raw(
                "</p><table><thead><tr><th>feature</th><th>slice</th><th>all rows</th><th>difference</th></tr></thead><tbody>"
            )
            for s in w.shifts {
                h.raw("<tr><td>")
                h.text(s.feature)
                for v in [s.slice, s.overall, s.slice - s.overall] {
                    h.raw("</td><td>")
                    h.text(ReportFormat.num(v))
                }
                h.raw("</td></tr>")
            }
            h.raw("</tbody></table>")
        }
    }

    /// The test rows in deciles of confidence, each with its error: honest confidence has the error fall as it rises.
    static func reliability(_ t: ReliabilityTable, into h: inout HTMLBuilder) {
        h.raw("<h2 id=\"reliability\">Confidence</h2><p>")
        h.text(
            "Each answer's confidence comes from "
                + (t.spread == nil
                    ? "how unlike the training data its inputs are"
                    : "how wide its "
                        + (t.spread == .classDoubt ? "doubt (1 − the probability of its class)" : "calibrated range")
                        + " is against the training rows' answers, and how unlike the training data its inputs are")
                + ". The test rows in ten groups by confidence, least confident first:")
        h.raw("</p><table id=\"reliability-table\"><thead><tr><th>confidence</th><th>rows</th><th>")
        h.text(t.error)
        h.raw("</th><th>low confidence</th></tr></thead><tbody>")
        for g in t.groups {
            h.raw("<tr><td>")
            h.text("\(ReportFormat.num(g.low))–\(ReportFormat.num(g.high))")
            h.raw("</td><td>")
            h.text(String(g.rows))
            h.raw("</td><td>")
            h.text(
                t.spread == .relativeRangeWidth || t.error == "error rate"
                    ? ReportFormat.pct(g.error) : ReportFormat.num(g.error))
            h.raw("</td><td>")
            h.text(ReportFormat.pct(g.lowShare))
            h.raw("</td></tr>")
        }
        h.raw("</tbody></table>")
    }

    /// A short terminal summary: verdict, metrics, worst slices.
    public static func text(_ r: EvaluationReport) -> String {
        var lines = ["\(r.task.rawValue), \(r.rows) rows\(r.positiveClass.map { ", positive class \($0)" } ?? "")"]
        for (k, v) in r.metrics.sorted(by: { $0.key < $1.key }) {
            lines.append("  \(k.padding(toLength: 14, withPad: " ", startingAt: 0)) \(ReportFormat.num(v))")
        }
        for c in r.comparisons {
            lines.append(
                "vs \(c.against): \(c.metric) \(ReportFormat.num(c.difference)) (95 % interval \(ReportFormat.num(c.low)) to \(ReportFormat.num(c.high)))"
            )
        }
        if let op = r.operatingPoint {
            lines.append(
                "threshold \(ReportFormat.num(op.threshold)): precision \(ReportFormat.num(op.precision)), recall \(ReportFormat.num(op.recall))"
            )
        }
        if let g = r.ranges {
            lines.append(
                "ranges cover \(ReportFormat.pct(g.coverage))\(g.nominal.map { " (promised \(ReportFormat.pct($0)))" } ?? "")"
            )
        }
        if let t = r.reliability, let least = t.groups.first, let most = t.groups.last {
            lines.append(
                "confidence: \(t.error) \(ReportFormat.num(least.error)) in the least confident tenth, \(ReportFormat.num(most.error)) in the most confident"
            )
        }
        for s in r.slices.prefix(5) {
            lines.append(
                "slice \(s.column) = \(s.value): \(r.rankingMetric) \(ReportFormat.num(s.metrics[r.rankingMetric] ?? .nan)) on \(s.rows) rows\(s.flagged ? "  ✘" : "")"
            )
        }
        for g in r.gates { lines.append("\(g.passed ? "✔" : "✘") \(g.rule): \(g.reason)") }
        if !r.gates.isEmpty {
            lines.append(r.passed ? "verdict: passes every gate" : "verdict: fails a gate — not promotable")
        }
        return lines.joined(separator: "\n")
    }

    // MARK: Charts (SVG, 320 × 220)

}
