import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCycleLearn
import MLCycleMetrics

/// Renders an evaluation as one self-contained HTML page (inline CSS and SVG, no scripts) or as terminal text.
public enum EvaluationReportPage {
    public static func html(_ r: EvaluationReport, title: String) -> String {
        var h = HTMLBuilder()
        h.page(title: "Evaluation of \(title)", heading: "Evaluation: \(title)", css: "\(ProfileReport.css)\(css)")

        // Headline verdict.
        h.raw("<section id=\"verdict\" class=\"verdict \(r.gates.isEmpty ? "none" : (r.passed ? "pass" : "fail"))\"><b>")
        h.text(r.gates.isEmpty ? "No gates were set" : (r.passed ? "Passes every gate" : "Fails \(r.gates.filter { !$0.passed }.count) of \(r.gates.count) gates: not promotable"))
        h.raw("</b>")
        if !r.gates.isEmpty {
            h.raw("<ul>")
            for g in r.gates {
                h.raw("<li class=\"\(g.passed ? "ok" : "bad")\">\(g.passed ? "✔" : "✘") <code>"); h.text(g.rule); h.raw("</code> — "); h.text(g.reason); h.raw("</li>")
            }
            h.raw("</ul>")
        }
        h.raw("</section>")
        h.raw("<p class=\"summary\"><span><b>"); h.text(String(r.rows)); h.raw("</b> rows</span><span><b>"); h.text(r.task.rawValue); h.raw("</b> task</span>")
        if let p = r.positiveClass { h.raw("<span>positive class <b>"); h.text(p); h.raw("</b></span>") }
        h.raw("</p>")

        // Metrics.
        h.raw("<h2 id=\"metrics\">Metrics</h2><table><thead><tr><th>metric</th><th>value</th></tr></thead><tbody>")
        for (k, v) in r.metrics.sorted(by: { $0.key < $1.key }) { h.raw("<tr><td>"); h.text(k); h.raw("</td><td>"); h.text(num(v)); h.raw("</td></tr>") }
        h.raw("</tbody></table>")
        if !r.comparisons.isEmpty {
            h.raw("<div id=\"comparison\">")
            for c in r.comparisons {
                h.raw("<p>"); h.text("Against the \(c.against): \(c.metric) \(num(c.candidate)) vs \(num(c.baseline)), difference \(num(c.difference)) (95 % paired bootstrap interval \(num(c.low)) to \(num(c.high)), \(c.samples) samples).")
                h.raw("</p>")
            }
            h.raw("</div>")
        }
        if let op = r.operatingPoint {
            h.raw("<p id=\"threshold\">"); h.text("Chosen threshold \(num(op.threshold)): precision \(num(op.precision)), recall \(num(op.recall))."); h.raw("</p>")
        }
        if let g = r.ranges {
            h.raw("<p id=\"ranges\">"); h.text("Prediction ranges cover \(pct(g.coverage)) of the rows\(g.nominal.map { " (promised: \(pct($0)))" } ?? ""), mean width \(num(g.meanWidth)).")
            h.raw("</p>")
        }

        // Charts by task.
        h.raw("<h2 id=\"charts\">Predictions</h2><div class=\"cards\">")
        switch r.task {
        case .regression:
            card("Predicted vs actual", into: &h) { scatter(r.sample, into: &$0) }
            card("Residuals (predicted − actual)", into: &h) { histogram(r.sample.map { $0[1] - $0[0] }, into: &$0) }
        case .binary:
            if let c = r.curves {
                card("ROC curve (AUC \(num(r.metrics["auc"] ?? .nan)))", into: &h) { lines([c.roc], xLabel: "false positive rate", yLabel: "true positive rate", diagonal: true, into: &$0) }
                card("Precision–recall (AP \(num(r.metrics["pr_auc"] ?? .nan)))", into: &h) { lines([c.pr], xLabel: "recall", yLabel: "precision", diagonal: false, into: &$0) }
                card("Calibration", into: &h) { lines([c.calibration.map { [$0[0], $0[1]] }], xLabel: "mean predicted probability", yLabel: "observed rate", diagonal: true, into: &$0) }
            }
        default: break
        }
        if let m = r.confusion {
            card("Confusion matrix (rows: actual, columns: predicted)", into: &h) { h in
                let labels = r.task == .binary ? ["negative", "positive"] : r.labels
                h.raw("<table id=\"confusion\"><thead><tr><th></th>")
                for l in labels { h.raw("<th>"); h.text(l); h.raw("</th>") }
                h.raw("</tr></thead><tbody>")
                for (i, row) in m.enumerated() {
                    h.raw("<tr><th>"); h.text(i < labels.count ? labels[i] : String(i)); h.raw("</th>")
                    for v in row { h.raw("<td>"); h.text(String(v)); h.raw("</td>") }
                    h.raw("</tr>")
                }
                h.raw("</tbody></table>")
            }
        }
        h.raw("</div>")

        // Slices.
        h.raw("<h2 id=\"slices\">Slices</h2>")
        if r.slices.isEmpty { h.raw("<p>No slices were asked for (<code>--slice COLUMN</code>).</p>") } else {
            h.raw("<p>Ranked by how much worse than overall on <b>"); h.text(r.rankingMetric); h.raw("</b> (overall "); h.text(num(r.metrics[r.rankingMetric] ?? .nan)); h.raw(").</p>")
            let worst = r.slices.map { abs($0.metrics[r.rankingMetric] ?? 0) }.max() ?? 1
            h.raw("<table><thead><tr><th>column</th><th>slice</th><th>rows</th><th>\(esc(r.rankingMetric))</th><th></th><th>gap</th></tr></thead><tbody>")
            for s in r.slices {
                let v = s.metrics[r.rankingMetric] ?? .nan
                h.raw(s.flagged ? "<tr class=\"flag\">" : "<tr>")
                for cell in [s.column, s.value, String(s.rows), num(v)] { h.raw("<td>"); h.text(cell); h.raw("</td>") }
                h.raw("<td>"); bar(v.isFinite ? abs(v) / max(worst, 1e-12) : 0, warn: s.gap > 0, into: &h); h.raw("</td><td>"); h.text(num(s.gap)); h.raw("</td></tr>")
            }
            h.raw("</tbody></table>")
        }

        // Fairness.
        h.raw("<h2 id=\"fairness\">Fairness and bias</h2>")
        if r.fairness.isEmpty { h.raw("<p>No groups were compared (<code>--group COLUMN</code>).</p>") }
        for f in r.fairness {
            h.raw("<h3>"); h.text("\(f.column): \(f.metric) from \(num(f.groups.first?.metric ?? .nan)) to \(num(f.groups.last?.metric ?? .nan)) — gap \(num(f.largestGap)), ratio \(num(f.ratio))"); h.raw("</h3>")
            h.raw("<table><thead><tr><th>group</th><th>rows</th><th>\(esc(f.metric))</th><th>bias</th><th>direction</th></tr></thead><tbody>")
            for g in f.groups {
                h.raw("<tr>")
                for cell in [g.value, String(g.rows), num(g.metric), num(g.bias), g.direction] { h.raw("<td>"); h.text(cell); h.raw("</td>") }
                h.raw("</tr>")
            }
            h.raw("</tbody></table>")
        }

        // Importance and partial dependence.
        h.raw("<h2 id=\"importance\">Feature importance</h2><p>Permutation importance: how much worse <b>")
        h.text(r.rankingMetric); h.raw("</b> gets when a feature's values are shuffled (mean of repeats; gain from the trees where available).</p>")
        let top = r.importance.prefix(20)
        let largest = top.map { max(0, $0.mean) }.max() ?? 1
        h.raw("<table><thead><tr><th>feature</th><th>importance</th><th></th><th>± sd</th><th>gain</th></tr></thead><tbody>")
        for i in top {
            h.raw("<tr><td>"); h.text(i.feature); h.raw("</td><td>"); h.text(num(i.mean)); h.raw("</td><td>")
            bar(max(0, i.mean) / max(largest, 1e-12), warn: false, into: &h)
            h.raw("</td><td>"); h.text(num(i.std)); h.raw("</td><td>"); h.text(i.gain.map(num) ?? ""); h.raw("</td></tr>")
        }
        h.raw("</tbody></table><div class=\"cards\" id=\"partial-dependence\">")
        for pd in r.partialDependence {
            card("Partial dependence on \(pd.feature)", into: &h) { h in
                let numeric = pd.values.allSatisfy { Double($0) != nil }
                if numeric {
                    lines([zip(pd.values, pd.predictions).map { [Double($0)!, $1] }], xLabel: pd.feature, yLabel: "mean prediction", diagonal: false, into: &h)
                } else {
                    h.raw("<table>")
                    for (v, p) in zip(pd.values, pd.predictions) { h.raw("<tr><td>"); h.text(v); h.raw("</td><td>"); h.text(num(p)); h.raw("</td></tr>") }
                    h.raw("</table>")
                }
            }
        }
        h.raw("</div><footer>Made by mlcycle. Metrics follow scikit-learn's definitions.</footer></main></body></html>\n")
        return h.output
    }

    /// A short terminal summary: verdict, metrics, worst slices.
    public static func text(_ r: EvaluationReport) -> String {
        var lines = ["\(r.task.rawValue), \(r.rows) rows\(r.positiveClass.map { ", positive class \($0)" } ?? "")"]
        for (k, v) in r.metrics.sorted(by: { $0.key < $1.key }) { lines.append("  \(k.padding(toLength: 14, withPad: " ", startingAt: 0)) \(num(v))") }
        for c in r.comparisons { lines.append("vs \(c.against): \(c.metric) \(num(c.difference)) (95 % interval \(num(c.low)) to \(num(c.high)))") }
        if let op = r.operatingPoint { lines.append("threshold \(num(op.threshold)): precision \(num(op.precision)), recall \(num(op.recall))") }
        if let g = r.ranges { lines.append("ranges cover \(pct(g.coverage))\(g.nominal.map { " (promised \(pct($0)))" } ?? "")") }
        for s in r.slices.prefix(5) { lines.append("slice \(s.column) = \(s.value): \(r.rankingMetric) \(num(s.metrics[r.rankingMetric] ?? .nan)) on \(s.rows) rows\(s.flagged ? "  ✘" : "")") }
        for g in r.gates { lines.append("\(g.passed ? "✔" : "✘") \(g.rule): \(g.reason)") }
        if !r.gates.isEmpty { lines.append(r.passed ? "verdict: passes every gate" : "verdict: fails a gate — not promotable") }
        return lines.joined(separator: "\n")
    }

    // MARK: Charts (SVG, 320 × 220)

    static let w = 320.0, hgt = 220.0, pad = 36.0

    static func card(_ title: String, into h: inout HTMLBuilder, _ body: (inout HTMLBuilder) -> Void) {
        h.raw("<section class=\"card\"><h3>"); h.text(title); h.raw("</h3>")
        body(&h)
        h.raw("</section>")
    }

    static func frame(_ xr: (Double, Double), _ yr: (Double, Double), xLabel: String, yLabel: String, into h: inout HTMLBuilder) {
        h.raw("<svg class=\"chart\" viewBox=\"0 0 \(Int(w)) \(Int(hgt))\" role=\"img\"><rect x=\"\(pad)\" y=\"8\" width=\"\(w - pad - 8)\" height=\"\(hgt - pad - 8)\" fill=\"#fbfcfd\" stroke=\"#dde1e7\"/>")
        h.raw("<text x=\"\(pad)\" y=\"\(hgt - 20)\">"); h.text(short(xr.0)); h.raw("</text><text x=\"\(w - 8)\" y=\"\(hgt - 20)\" text-anchor=\"end\">"); h.text(short(xr.1)); h.raw("</text>")
        h.raw("<text x=\"\(pad - 3)\" y=\"\(hgt - pad)\" text-anchor=\"end\">"); h.text(short(yr.0)); h.raw("</text><text x=\"\(pad - 3)\" y=\"16\" text-anchor=\"end\">"); h.text(short(yr.1)); h.raw("</text>")
        h.raw("<text x=\"\((w + pad) / 2)\" y=\"\(hgt - 4)\" text-anchor=\"middle\">"); h.text(xLabel); h.raw("</text>")
        h.raw("<text transform=\"translate(10 \((hgt - pad) / 2)) rotate(-90)\" text-anchor=\"middle\">"); h.text(yLabel); h.raw("</text>")
    }

    static func px(_ v: Double, _ r: (Double, Double)) -> Double { pad + (v - r.0) / max(r.1 - r.0, 1e-12) * (w - pad - 8) }
    static func py(_ v: Double, _ r: (Double, Double)) -> Double { hgt - pad - (v - r.0) / max(r.1 - r.0, 1e-12) * (hgt - pad - 16) }

    static func scatter(_ points: [[Double]], into h: inout HTMLBuilder) {
        let values = points.flatMap { $0 }.filter { $0.isFinite }
        let r = (values.min() ?? 0, values.max() ?? 1)
        frame(r, r, xLabel: "actual", yLabel: "predicted", into: &h)
        h.raw("<line x1=\"\(px(r.0, r))\" y1=\"\(py(r.0, r))\" x2=\"\(px(r.1, r))\" y2=\"\(py(r.1, r))\" stroke=\"#b03a2e\" stroke-dasharray=\"4 3\"/>")
        for p in points where p[0].isFinite && p[1].isFinite {
            h.raw("<circle cx=\"\(f1(px(p[0], r)))\" cy=\"\(f1(py(p[1], r)))\" r=\"1.6\" fill=\"#2f5d9a\" fill-opacity=\"0.45\"/>")
        }
        h.raw("</svg>")
    }

    static func histogram(_ values: [Double], into h: inout HTMLBuilder) {
        let v = values.filter { $0.isFinite }
        let lo = v.min() ?? 0, hi = v.max() ?? 1
        let bins = 24
        var counts = [Int](repeating: 0, count: bins)
        for x in v { counts[min(bins - 1, Int((x - lo) / max(hi - lo, 1e-12) * Double(bins)))] += 1 }
        let top = Double(counts.max() ?? 1)
        frame((lo, hi), (0, top), xLabel: "residual", yLabel: "rows", into: &h)
        for (i, c) in counts.enumerated() {
            let x0 = px(lo + (hi - lo) * Double(i) / Double(bins), (lo, hi)), x1 = px(lo + (hi - lo) * Double(i + 1) / Double(bins), (lo, hi))
            let y = py(Double(c), (0, top))
            h.raw("<rect x=\"\(f1(x0))\" y=\"\(f1(y))\" width=\"\(f1(max(0.5, x1 - x0 - 1)))\" height=\"\(f1(hgt - pad - y))\" fill=\"#2f5d9a\"/>")
        }
        h.raw("</svg>")
    }

    static func lines(_ series: [[[Double]]], xLabel: String, yLabel: String, diagonal: Bool, dots: Bool = false, into h: inout HTMLBuilder) {
        let xs = series.flatMap { $0.map { $0[0] } }.filter { $0.isFinite }, ys = series.flatMap { $0.map { $0[1] } }.filter { $0.isFinite }
        let xr = diagonal ? (0.0, 1.0) : (xs.min() ?? 0, xs.max() ?? 1)
        let yr = diagonal ? (0.0, 1.0) : (ys.min() ?? 0, ys.max() ?? 1)
        frame(xr, yr, xLabel: xLabel, yLabel: yLabel, into: &h)
        if diagonal { h.raw("<line x1=\"\(px(0, xr))\" y1=\"\(py(0, yr))\" x2=\"\(px(1, xr))\" y2=\"\(py(1, yr))\" stroke=\"#8a91a0\" stroke-dasharray=\"4 3\"/>") }
        for (index, s) in series.enumerated() {
            let pts = s.filter { $0[0].isFinite && $0[1].isFinite }.map { "\(f1(px($0[0], xr))),\(f1(py($0[1], yr)))" }.joined(separator: " ")
            h.raw("<polyline points=\"\(pts)\" fill=\"none\" stroke=\"#2f5d9a\" stroke-width=\"1.8\"/>")
            if dots && index == 0 { // the first series' points (a single window is a point, not a line)
                for p in s where p[0].isFinite && p[1].isFinite {
                    h.raw("<circle cx=\"\(f1(px(p[0], xr)))\" cy=\"\(f1(py(p[1], yr)))\" r=\"2.5\" fill=\"#2f5d9a\"/>")
                }
            }
        }
        h.raw("</svg>")
    }

    static func bar(_ share: Double, warn: Bool, into h: inout HTMLBuilder) {
        h.raw("<svg class=\"bar\" viewBox=\"0 0 120 10\" width=\"120\" height=\"10\"><rect width=\"\(f1(120 * min(1, max(0, share))))\" height=\"10\" fill=\"\(warn ? "#c0392b" : "#2f5d9a")\"/></svg>")
    }

    static func num(_ x: Double) -> String {
        guard x.isFinite else { return x.isNaN ? "—" : (x > 0 ? "∞" : "−∞") }
        return abs(x) >= 1e5 || (abs(x) < 1e-3 && x != 0) ? String(format: "%.4g", x) : String(format: "%.4f", x).replacingOccurrences(of: #"\.?0+$"#, with: "", options: .regularExpression)
    }
    static func pct(_ x: Double) -> String { String(format: "%.1f %%", x * 100) }
    /// Axis labels: 920k, 1.2M, 0.35.
    static func short(_ x: Double) -> String {
        if abs(x) >= 1e6 { return String(format: "%.3gM", x / 1e6) }
        if abs(x) >= 1e4 { return String(format: "%.3gk", x / 1e3) }
        return String(format: "%.3g", x)
    }
    static func f1(_ x: Double) -> String { String(format: "%.1f", x) }
    static func esc(_ s: String) -> String { var h = HTMLBuilder(); h.text(s); return h.output }

    static let css = """
    .verdict{border-radius:8px;padding:10px 14px;margin:10px 0;border:1px solid}.verdict ul{margin:6px 0 0;padding-left:18px}
    .verdict.pass{background:#eaf6ee;border-color:#9fd3b0}.verdict.fail{background:#fbecea;border-color:#e6a79f}.verdict.none{background:#eef1f5;border-color:#dde1e7}
    li.bad{color:#b03a2e}tr.flag td{color:#b03a2e;font-weight:600}
    """
}
