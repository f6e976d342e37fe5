import Foundation
import MLCycleData
import MLCycleMonitor

/// Renders a drift report as one self-contained HTML page: the dataset verdict, a table of every column's
/// method, score and threshold, and per column an overlay of the reference and current distributions (inline SVG).
public enum DriftReportPage {
    public static func html(_ r: DriftReport, title: String) -> String {
        var h = HTMLBuilder()
        h.page(
            title: "Drift: \(title)", heading: "Drift: \(title)",
            css: "\(ReportStyle.base)\(ReportStyle.charts)\(ReportStyle.drift)")
        let drifted = r.columns.filter(\.drifted)
        h.raw("<section id=\"verdict\" class=\"verdict \(r.datasetDrift ? "fail" : "pass")\"><b>")
        h.text(
            r.datasetDrift
                ? "Dataset drift: \(drifted.count) of \(r.columns.count) columns drifted"
                : "No dataset drift: \(drifted.count) of \(r.columns.count) columns drifted")
        h.raw("</b> — the dataset drifts when at least ")
        h.text(ReportFormat.pct(r.driftShareThreshold))
        h.raw(" of its columns do.</section>")
        h.raw("<p class=\"summary\"><span><b>")
        h.text(String(r.referenceRows))
        h.raw("</b> reference rows</span><span><b>")
        h.text(String(r.currentRows))
        h.raw("</b> current rows</span><span><b>")
        h.text(ReportFormat.pct(r.driftShare))
        h.raw("</b> drifted</span></p>")

        DriftSections.table(r, into: &h)
        h.raw("<div class=\"grid\">")
        for c in r.columns {
            h.raw("<section class=\"card\" id=\"col-\(ReportFormat.esc(c.name))\"><h3>")
            h.text(c.name)
            h.raw("</h3>")
            DriftSections.overlay(c, into: &h)
            h.raw(
                "<p class=\"legend\"><span class=\"swatch ref\"></span>reference <span class=\"swatch cur\"></span>current — "
            )
            h.text("\(c.method) \(ReportFormat.num(c.score)) (threshold \(ReportFormat.num(c.threshold)))")
            h.raw("</p></section>")
        }
        h.raw("</div></main></body></html>\n")
        return h.output
    }

    /// One line per column, drifted first, then the verdict.
    public static func text(_ r: DriftReport) -> String {
        var out = "column                         type         method           score   threshold  drift\n"
        for c in r.columns.sorted(by: { ($0.drifted ? 0 : 1, $0.name) < ($1.drifted ? 0 : 1, $1.name) }) {
            out +=
                c.name.padding(toLength: 30, withPad: " ", startingAt: 0) + " "
                + c.type.padding(toLength: 12, withPad: " ", startingAt: 0)
                + " " + c.method.padding(toLength: 14, withPad: " ", startingAt: 0)
                + String(format: " %9.4g %9.4g  ", c.score, c.threshold) + (c.drifted ? "DRIFT" : "-")
            if !c.unseenCategories.isEmpty {
                out += "  unseen: \(c.unseenCategories.prefix(3).joined(separator: ", "))"
            }
            out += "\n"
        }
        out +=
            "\(r.columns.filter(\.drifted).count) of \(r.columns.count) columns drifted (\(String(format: "%.0f", r.driftShare * 100)) %): "
        out += r.datasetDrift ? "dataset drift\n" : "no dataset drift\n"
        return out
    }
}

/// The drift sections the drift page and the monitoring page both show: the per-column table and one overlay of
/// reference and current distributions per column.
enum DriftSections {
    /// The table of every column's method, score and threshold, drifted columns first.
    static func table(_ r: DriftReport, into h: inout HTMLBuilder) {
        h.raw(
            "<section class=\"card wide\"><h2>Columns</h2><table id=\"drift-table\"><thead><tr><th>column</th><th>type</th><th>method</th>"
        )
        h.raw(
            "<th>score</th><th>threshold</th><th>drift</th><th>PSI</th><th>KS p</th><th>missing ref → cur</th><th>unseen</th></tr></thead><tbody>"
        )
        for c in r.columns.sorted(by: { ($0.drifted ? 0 : 1, $0.name) < ($1.drifted ? 0 : 1, $1.name) }) {
            h.raw("<tr class=\"\(c.drifted ? "bad" : "ok")\"><td><a href=\"#col-\(ReportFormat.esc(c.name))\">")
            h.text(c.name)
            h.raw("</a></td><td>")
            h.text(c.type)
            h.raw("</td><td>")
            h.text(c.method)
            h.raw("</td><td>")
            h.text(ReportFormat.num(c.score))
            h.raw("</td><td>")
            h.text(ReportFormat.num(c.threshold))
            h.raw("</td><td>")
            h.text(c.drifted ? "drifted" : "—")
            h.raw("</td><td>")
            h.text(ReportFormat.num(c.tests.psi) + (c.psiLevel == "none" ? "" : " (\(c.psiLevel))"))
            h.raw("</td><td>")
            h.text(c.tests.ks.map { ReportFormat.num($0.pValue) } ?? "")
            h.raw("</td><td>")
            h.text("\(ReportFormat.pct(c.missingReference)) → \(ReportFormat.pct(c.missingCurrent))")
            h.raw("</td><td>")
            h.text(c.unseenCategories.prefix(5).joined(separator: ", "))
            h.raw("</td></tr>")
        }
        h.raw("</tbody></table></section>")
    }

    /// Side-by-side bars of each bin's share in the reference and the current data.
    static func overlay(_ c: ColumnDrift, into h: inout HTMLBuilder) {
        let w = 320.0
        let hgt = 180.0
        let pad = 24.0
        let n = max(c.bins.count, 1)
        let top = max(c.referenceShares.max() ?? 0, c.currentShares.max() ?? 0, 1e-9)
        let slot = (w - 2 * pad) / Double(n)
        h.raw("<svg viewBox=\"0 0 \(Int(w)) \(Int(hgt))\" role=\"img\"><title>")
        h.text("\(c.name): share per bin, reference and current")
        h.raw("</title><line x1=\"\(pad)\" y1=\"\(hgt - pad)\" x2=\"\(w - pad)\" y2=\"\(hgt - pad)\" class=\"axis\"/>")
        for i in 0..<c.bins.count {
            for (k, share) in [c.referenceShares[i], c.currentShares[i]].enumerated() {
                let bh = share / top * (hgt - 2 * pad)
                let x = pad + Double(i) * slot + Double(k) * slot * 0.45 + slot * 0.05
                h.raw(
                    String(
                        format: "<rect class=\"%@\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>",
                        k == 0 ? "ref" : "cur", x, hgt - pad - bh, slot * 0.45, bh))
                h.text("\(c.bins[i]): \(k == 0 ? "reference" : "current") \(ReportFormat.pct(share))")
                h.raw("</title></rect>")
            }
        }
        h.raw("<text x=\"\(pad)\" y=\"\(hgt - 6)\" class=\"tick\">")
        h.text(c.bins.first ?? "")
        h.raw("</text>")
        h.raw("<text x=\"\(w - pad)\" y=\"\(hgt - 6)\" class=\"tick\" text-anchor=\"end\">")
        h.text(c.bins.last ?? "")
        h.raw("</text></svg>")
    }
}
