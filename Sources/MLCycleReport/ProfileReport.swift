import Foundation
import MLCycleData
import MLCycleQuality

/// Renders a profile as one self-contained HTML page: inline CSS and SVG charts, no scripts, no external links.
public enum ProfileReport {
    public static func html(_ profile: TableProfile, title: String) -> String {
        var h = HTMLBuilder()
        let missingCells = profile.columns.reduce(0) { $0 + $1.missing }
        let cells = max(1, profile.rows * max(1, profile.columns.count))
        h.page(title: "Profile of \(title)", heading: "\(title)", css: ReportStyle.base)
        h.raw("<p class=\"summary\">")
        for (label, value) in [
            ("rows", number(Double(profile.rows))), ("columns", String(profile.columns.count)),
            ("duplicate rows", number(Double(profile.duplicateRows))),
            ("missing cells", "\(number(Double(missingCells))) (\(percent(Double(missingCells) / Double(cells))))"),
        ] {
            h.raw("<span><b>")
            h.text(value)
            h.raw("</b> ")
            h.text(label)
            h.raw("</span>")
        }
        h.raw("</p>")

        overview(profile, into: &h)
        if let target = profile.target, !target.associations.isEmpty { targetSection(target, into: &h) }
        h.raw("<h2>Correlations</h2>")
        for (name, matrix) in [
            ("Pearson", profile.correlations.pearson), ("Spearman", profile.correlations.spearman),
            ("Cramér's V", profile.correlations.cramersV),
        ] where matrix.columns.count >= 2 {
            h.raw("<section class=\"heatmap\"><h3>")
            h.text(name)
            h.raw("</h3>")
            heatmap(matrix, signed: name != "Cramér's V", into: &h)
            if let left = matrix.columnsLeftOut {
                h.text(
                    "\(left) more columns left out (the target and the columns most associated with it are kept, "
                        + "or the first ones): profile --correlations all to see every pair.")
            }
            h.raw("</section>")
        }
        h.raw("<h2>Columns</h2><div class=\"cards\">")
        for c in profile.columns { card(c, rows: profile.rows, into: &h) }
        h.raw(
            "</div><footer>Made by mlcycle. Statistics follow pandas: std with ddof 1, linear quantiles, pairwise-complete correlations.</footer>"
        )
        h.raw("</main></body></html>\n")
        return h.output
    }

    // MARK: Sections

    static func overview(_ p: TableProfile, into h: inout HTMLBuilder) {
        h.raw("<h2>Overview</h2><div class=\"scroll\"><table><thead><tr>")
        for head in ["column", "type", "count", "missing", "distinct", "mean", "std", "min", "median", "max"] {
            h.raw("<th>")
            h.text(head)
            h.raw("</th>")
        }
        h.raw("</tr></thead><tbody>")
        for c in p.columns {
            let missingShare = Double(c.missing) / Double(max(1, c.count + c.missing))
            let cells = [
                c.type.rawValue, number(Double(c.count)), percent(missingShare), number(Double(c.distinct)),
                stat(c.mean), c.std.map(number) ?? "", stat(c.min), stat(c.median), stat(c.max),
            ]
            h.raw("<tr><td><a href=\"#col-\(anchor(c.name))\">")
            h.text(c.name)
            h.raw("</a></td>")
            for (i, v) in cells.enumerated() {
                h.raw(i == 2 && missingShare > 0.2 ? "<td class=\"warn\">" : "<td>")
                h.text(v)
                h.raw("</td>")
            }
            h.raw("</tr>")
        }
        h.raw("</tbody></table></div>")
    }

    static func targetSection(_ t: TargetProfile, into h: inout HTMLBuilder) {
        h.raw("<h2>Associations with ")
        h.text(t.name)
        h.raw("</h2><div class=\"scroll\"><table><thead><tr>")
        h.raw("<th>column</th><th>measure</th><th>value</th><th></th></tr></thead><tbody>")
        for a in t.associations.prefix(25) {
            let width = Int((abs(a.value) * 160).rounded())
            h.raw("<tr><td>")
            h.text(a.column)
            h.raw("</td><td>")
            h.text(a.measure.replacingOccurrences(of: "_", with: " "))
            h.raw("</td><td>")
            h.text(String(format: "%+.3f", a.value))
            h.raw("</td><td>")
            h.raw(
                "<svg width=\"164\" height=\"12\" role=\"img\"><rect x=\"0\" y=\"1\" width=\"\(width)\" height=\"10\" fill=\"\(a.value < 0 ? "#3b6fb6" : "#c0392b")\"/></svg>"
            )
            h.raw("</td></tr>")
        }
        h.raw("</tbody></table></div>")
    }

    static func card(_ c: ColumnProfile, rows: Int, into h: inout HTMLBuilder) {
        h.raw("<article class=\"card\" id=\"col-\(anchor(c.name))\"><h3>")
        h.text(c.name)
        h.raw(" <small>")
        h.text(c.type.rawValue)
        h.raw("</small></h3>")
        if let hist = c.histogram {
            histogram(hist, temporal: c.type.isTemporal, into: &h)
        } else if !c.top.isEmpty {
            bars(c.top, total: c.count, into: &h)
        }
        var facts: [(String, String)] = [
            ("count", number(Double(c.count))), ("missing", number(Double(c.missing))),
            ("distinct", number(Double(c.distinct))),
        ]
        if c.mean != nil { facts.append(("mean", stat(c.mean))) }
        if let sd = c.std { facts.append(("std", number(sd))) }
        for (k, v) in [
            ("min", c.min), ("5%", c.q05), ("25%", c.q25), ("median", c.median), ("75%", c.q75), ("95%", c.q95),
            ("max", c.max),
        ] where v != nil {
            facts.append((k, stat(v)))
        }
        if let z = c.zeros { facts.append(("zeros", number(Double(z)))) }
        if let n = c.negatives { facts.append(("negatives", number(Double(n)))) }
        if let o = c.outliers { facts.append(("IQR outliers", number(Double(o)))) }
        h.raw("<dl>")
        for (k, v) in facts {
            h.raw("<dt>")
            h.text(k)
            h.raw("</dt><dd>")
            h.text(v)
            h.raw("</dd>")
        }
        h.raw("</dl></article>")
    }

    // MARK: Charts

    static func histogram(_ hist: Histogram, temporal: Bool, into h: inout HTMLBuilder) {
        let width = 320.0
        let height = 120.0
        let left = 36.0
        let bottom = 18.0
        let maxCount = max(1, hist.counts.max() ?? 1)
        let barWidth = (width - left) / Double(max(1, hist.counts.count))
        h.raw(
            "<svg class=\"chart\" viewBox=\"0 0 \(Int(width)) \(Int(height + bottom))\" role=\"img\" aria-label=\"histogram\">"
        )
        for (i, count) in hist.counts.enumerated() {
            let barHeight = height * Double(count) / Double(maxCount)
            h.raw(
                "<rect x=\(fmt(left + Double(i) * barWidth + 0.5)) y=\(fmt(height - barHeight)) width=\(fmt(max(0.5, barWidth - 1))) height=\(fmt(barHeight)) fill=\"#4a78b5\"><title>"
            )
            h.text("\(edge(hist.edges[i], temporal)) – \(edge(hist.edges[i + 1], temporal)): \(count)")
            h.raw("</title></rect>")
        }
        h.raw("<line x1=\(fmt(left)) y1=\(fmt(height)) x2=\(fmt(width)) y2=\(fmt(height)) stroke=\"#888\"/>")
        h.raw("<text x=\"\(Int(left) - 3)\" y=\"10\" text-anchor=\"end\">")
        h.text(number(Double(maxCount)))
        h.raw("</text>")
        h.raw("<text x=\"\(Int(left) - 3)\" y=\"\(Int(height))\" text-anchor=\"end\">0</text>")
        if let first = hist.edges.first, let last = hist.edges.last {
            h.raw("<text x=\"\(Int(left))\" y=\"\(Int(height + bottom - 4))\">")
            h.text(edge(first, temporal))
            h.raw("</text>")
            h.raw("<text x=\"\(Int(width))\" y=\"\(Int(height + bottom - 4))\" text-anchor=\"end\">")
            h.text(edge(last, temporal))
            h.raw("</text>")
        }
        h.raw("</svg>")
    }

    static func bars(_ top: [ValueCount], total: Int, into h: inout HTMLBuilder) {
        let rowHeight = 16.0
        let labelWidth = 130.0
        let width = 320.0
        let maxCount = max(1, top.map(\.count).max() ?? 1)
        h.raw(
            "<svg class=\"chart\" viewBox=\"0 0 \(Int(width)) \(Int(rowHeight * Double(top.count) + 2))\" role=\"img\" aria-label=\"most frequent values\">"
        )
        for (i, vc) in top.enumerated() {
            let y = Double(i) * rowHeight
            let w = (width - labelWidth - 60) * Double(vc.count) / Double(maxCount)
            let label =
                vc.value.count > 20 ? String(vc.value.prefix(19)) + "…" : (vc.value.isEmpty ? "(empty)" : vc.value)
            h.raw("<text x=\(fmt(labelWidth - 4)) y=\(fmt(y + 12)) text-anchor=\"end\">")
            h.text(label)
            h.raw("</text>")
            h.raw(
                "<rect x=\(fmt(labelWidth)) y=\(fmt(y + 2)) width=\(fmt(max(0.5, w))) height=\(fmt(rowHeight - 4)) fill=\"#4a78b5\"><title>"
            )
            h.text("\(vc.value): \(vc.count)")
            h.raw("</title></rect>")
            h.raw("<text x=\(fmt(labelWidth + w + 4)) y=\(fmt(y + 12))>")
            h.text(percent(Double(vc.count) / Double(max(1, total))))
            h.raw("</text>")
        }
        h.raw("</svg>")
    }

    static func heatmap(_ m: CorrelationMatrix, signed: Bool, into h: inout HTMLBuilder) {
        let n = m.columns.count
        let cell = n <= 12 ? 34.0 : (n <= 30 ? 20.0 : 12.0)
        let labelSpace = n <= 30 ? 130.0 : 110.0
        let size = labelSpace + cell * Double(n)
        let showValues = n <= 15
        let font = n <= 30 ? 11 : 8
        h.raw(
            "<div class=\"scroll\"><svg class=\"heat\" width=\"\(Int(size + labelSpace * 0.6))\" height=\"\(Int(size + 10))\" font-size=\"\(font)\" role=\"img\">"
        )
        for (i, name) in m.columns.enumerated() {
            let label = name.count > 18 ? String(name.prefix(17)) + "…" : name
            let y = labelSpace + Double(i) * cell + cell / 2 + 4
            h.raw("<text x=\(fmt(labelSpace - 4)) y=\(fmt(y)) text-anchor=\"end\">")
            h.text(label)
            h.raw("</text>")
            let x = labelSpace + Double(i) * cell + cell / 2 + 4
            h.raw(
                "<text transform=\"translate(\(String(format: "%.1f", x)),\(String(format: "%.1f", labelSpace - 4))) rotate(-60)\">"
            )
            h.text(label)
            h.raw("</text>")
        }
        for i in 0..<n {
            for j in 0..<n {
                let v = m.matrix[i][j]
                let x = labelSpace + Double(j) * cell
                let y = labelSpace + Double(i) * cell
                h.raw(
                    "<rect x=\(fmt(x)) y=\(fmt(y)) width=\(fmt(cell - 1)) height=\(fmt(cell - 1)) fill=\"\(color(v, signed: signed))\"><title>"
                )
                h.text("\(m.columns[i]) × \(m.columns[j]): \(v.map { String(format: "%.3f", $0) } ?? "undefined")")
                h.raw("</title></rect>")
                if showValues, let v {
                    h.raw(
                        "<text x=\(fmt(x + cell / 2)) y=\(fmt(y + cell / 2 + 4)) text-anchor=\"middle\" fill=\"\(abs(v) > 0.6 ? "#fff" : "#222")\">"
                    )
                    h.text(String(format: "%.2f", v))
                    h.raw("</text>")
                }
            }
        }
        h.raw("</svg></div>")
    }

    /// Blue for negative, white at zero, red for positive; grey where undefined.
    static func color(_ v: Double?, signed: Bool) -> String {
        guard let v, v.isFinite else { return "#d9d9d9" }
        let t = min(1, abs(v))
        let (r, g, b): (Double, Double, Double) = v < 0 && signed ? (59, 111, 182) : (192, 57, 43)
        func mix(_ c: Double) -> Int { Int((255 + (c - 255) * t).rounded()) }
        return String(format: "#%02x%02x%02x", mix(r), mix(g), mix(b))
    }

    // MARK: Formatting

    static func stat(_ v: ProfileValue?) -> String {
        switch v {
        case .none: return ""
        case .text(let s): return s
        case .number(let d): return number(d)
        }
    }

    /// Up to four significant digits; whole numbers from 10,000 on with thousands separators (years stay 2010).
    static func number(_ d: Double) -> String {
        guard d.isFinite else { return d.isNaN ? "NaN" : (d > 0 ? "∞" : "−∞") }
        if abs(d) >= 10_000 && abs(d) < 1e15 && (d == d.rounded() || abs(d) < 1e9) {
            let d = d.rounded()
            let digits = String(Int64(abs(d)))
            var out = ""
            for (i, ch) in digits.enumerated() {
                if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
                out.append(ch)
            }
            return (d < 0 ? "-" : "") + out
        }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        if abs(d) >= 1e9 || abs(d) < 1e-3 { return String(format: "%.3e", d) }
        return String(format: "%.4g", d)
    }

    static func percent(_ f: Double) -> String { String(format: f > 0 && f < 0.001 ? "%.2f%%" : "%.1f%%", f * 100) }

    static func edge(_ v: Double, _ temporal: Bool) -> String {
        temporal ? CalendarDate.isoString(days: Int64(v.rounded(.down))) : number(v)
    }

    static func fmt(_ v: Double) -> String { "\"" + String(format: "%.1f", v) + "\"" }

    static func anchor(_ name: String) -> String {
        String(name.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) ? Character($0) : "-" })
    }
}
