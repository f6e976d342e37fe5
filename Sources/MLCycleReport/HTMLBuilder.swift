import Foundation

/// Builds HTML, escaping every piece of user text.
struct HTMLBuilder {
    private(set) var output = ""

    init() { output.reserveCapacity(1 << 16) }

    mutating func raw(_ s: String) { output += s }

    /// The page's head (title, inline CSS) and its opening: `<body><main><h1>heading</h1>`.
    mutating func page(title: String, heading: String, css: String) {
        raw("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
        raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        raw("<title>")
        text(title)
        raw("</title><style>\(css)</style></head><body><main>")
        raw("<h1>")
        text(heading)
        raw("</h1>")
    }

    mutating func text(_ s: String) {
        for ch in s.unicodeScalars {
            switch ch {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            case "\"": output += "&quot;"
            case "'": output += "&#39;"
            default: output.unicodeScalars.append(ch)
            }
        }
    }
}

/// The report pages' styles: the base every page has, the charts', the drift tables'.
enum ReportStyle {
    static let base = """
        body{margin:0;background:#f6f7f9;color:#1d2330;font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
        main{max-width:1240px;margin:0 auto;padding:24px}
        h1{margin:0 0 6px;font-size:26px}h2{margin:28px 0 10px;font-size:19px;border-bottom:1px solid #dde1e7;padding-bottom:4px}
        h3{margin:0 0 8px;font-size:15px;overflow-wrap:anywhere}h3 small{color:#6b7383;font-weight:normal}
        .summary span{display:inline-block;margin-right:22px;color:#4a5262}.summary b{color:#1d2330;font-size:17px}
        table{border-collapse:collapse;background:#fff;font-size:13px}th,td{padding:4px 9px;border-bottom:1px solid #eceff3;text-align:right;white-space:nowrap}
        th{background:#eef1f5;position:sticky;top:0}td:first-child,th:first-child{text-align:left}td.warn{color:#b03a2e;font-weight:600}
        a{color:#2f5d9a;text-decoration:none}.scroll{overflow-x:auto;max-width:100%}
        .cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:14px}
        .card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:12px 14px}
        .chart{width:100%;height:auto;font-size:10px;fill:#4a5262}
        dl{display:grid;grid-template-columns:auto 1fr auto 1fr;gap:2px 10px;margin:8px 0 0;font-size:12.5px}
        dt{color:#6b7383}dd{margin:0;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
        .heatmap{display:inline-block;vertical-align:top;margin:0 18px 12px 0}.heat text{fill:#333}
        footer{margin:30px 0 10px;color:#8a91a0;font-size:12px}
        """
    static let charts = """
        .verdict{border-radius:8px;padding:10px 14px;margin:10px 0;border:1px solid}.verdict ul{margin:6px 0 0;padding-left:18px}
        .verdict.pass{background:#eaf6ee;border-color:#9fd3b0}.verdict.fail{background:#fbecea;border-color:#e6a79f}.verdict.none{background:#eef1f5;border-color:#dde1e7}
        li.bad{color:#b03a2e}tr.flag td{color:#b03a2e;font-weight:600}
        """
    static let drift = """
        .grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:12px}
        rect.ref{fill:#8da0cb}rect.cur{fill:#fc8d62}.swatch{display:inline-block;width:10px;height:10px;margin:0 4px}
        .swatch.ref{background:#8da0cb}.swatch.cur{background:#fc8d62}.legend{font-size:12px;color:#555}
        line.axis{stroke:#999}text.tick{font-size:10px;fill:#555}
        """
}

/// Inline SVG charts for the report pages (a card holding a chart, axes, scatter, histogram, lines, a share bar).
enum Charts {
    static let w = 320.0, hgt = 220.0, pad = 36.0

    static func card(_ title: String, into h: inout HTMLBuilder, _ body: (inout HTMLBuilder) -> Void) {
        h.raw("<section class=\"card\"><h3>")
        h.text(title)
        h.raw("</h3>")
        body(&h)
        h.raw("</section>")
    }

    static func frame(
        _ xr: (Double, Double), _ yr: (Double, Double), xLabel: String, yLabel: String, title: String? = nil,
        into h: inout HTMLBuilder
    ) {
        h.raw("<svg class=\"chart\" viewBox=\"0 0 \(Int(w)) \(Int(hgt))\" role=\"img\">")
        if let title {
            h.raw("<title>")
            h.text(title)
            h.raw("</title>")
        }
        h.raw(
            "<rect x=\"\(pad)\" y=\"8\" width=\"\(w - pad - 8)\" height=\"\(hgt - pad - 8)\" fill=\"#fbfcfd\" stroke=\"#dde1e7\"/>"
        )
        h.raw("<text x=\"\(pad)\" y=\"\(hgt - 20)\">")
        h.text(ReportFormat.short(xr.0))
        h.raw("</text><text x=\"\(w - 8)\" y=\"\(hgt - 20)\" text-anchor=\"end\">")
        h.text(ReportFormat.short(xr.1))
        h.raw("</text>")
        h.raw("<text x=\"\((w + pad) / 2)\" y=\"\(hgt - 4)\" text-anchor=\"middle\">")
        h.text(xLabel)
        h.raw("</text>")
        yAxis(yr, yLabel, into: &h)
    }

    /// The y axis's range at its ends and its name along it.
    static func yAxis(_ yr: (Double, Double), _ yLabel: String, into h: inout HTMLBuilder) {
        h.raw("<text x=\"\(pad - 3)\" y=\"\(hgt - pad)\" text-anchor=\"end\">")
        h.text(ReportFormat.short(yr.0))
        h.raw("</text><text x=\"\(pad - 3)\" y=\"16\" text-anchor=\"end\">")
        h.text(ReportFormat.short(yr.1))
        h.raw("</text>")
        h.raw("<text transform=\"translate(10 \((hgt - pad) / 2)) rotate(-90)\" text-anchor=\"middle\">")
        h.text(yLabel)
        h.raw("</text>")
    }

    static func px(_ v: Double, _ r: (Double, Double)) -> Double {
        pad + (v - r.0) / max(r.1 - r.0, 1e-12) * (w - pad - 8)
    }
    static func py(_ v: Double, _ r: (Double, Double)) -> Double {
        hgt - pad - (v - r.0) / max(r.1 - r.0, 1e-12) * (hgt - pad - 16)
    }

    static func scatter(_ points: [[Double]], into h: inout HTMLBuilder) {
        let values = points.flatMap { $0 }.filter { $0.isFinite }
        let r = (values.min() ?? 0, values.max() ?? 1)
        self.points(points, xLabel: "actual", yLabel: "predicted", ranges: (r, r), into: &h) { h in
            h.raw(
                "<line x1=\"\(px(r.0, r))\" y1=\"\(py(r.0, r))\" x2=\"\(px(r.1, r))\" y2=\"\(py(r.1, r))\" stroke=\"#b03a2e\" stroke-dasharray=\"4 3\"/>"
            )
        }
    }

    /// One dot per `[x, y]` point, each axis over its own values (or `ranges`); `extra` draws under the dots.
    static func points(
        _ points: [[Double]], xLabel: String, yLabel: String,
        ranges: ((Double, Double), (Double, Double))? = nil, into h: inout HTMLBuilder,
        _ extra: (inout HTMLBuilder) -> Void = { _ in }
    ) {
        let finite = points.filter { $0[0].isFinite && $0[1].isFinite }
        let xr = ranges?.0 ?? (finite.map { $0[0] }.min() ?? 0, finite.map { $0[0] }.max() ?? 1)
        let yr = ranges?.1 ?? (finite.map { $0[1] }.min() ?? 0, finite.map { $0[1] }.max() ?? 1)
        frame(xr, yr, xLabel: xLabel, yLabel: yLabel, into: &h)
        extra(&h)
        for p in finite {
            h.raw(
                "<circle cx=\"\(ReportFormat.f1(px(p[0], xr)))\" cy=\"\(ReportFormat.f1(py(p[1], yr)))\" r=\"1.6\" fill=\"#2f5d9a\" fill-opacity=\"0.45\"/>"
            )
        }
        h.raw("</svg>")
    }

    /// One row per feature, one dot per evaluation row at its contribution, coloured by where its value ranks (blue
    /// low, red high; grey −1: a category or missing), dots spread vertically so that piles show.
    static func beeswarm(_ rows: [(String, [[Double]])], into h: inout HTMLBuilder) {
        let left = 110.0
        let band = 22.0
        let height = band * Double(rows.count) + 30
        let all = rows.flatMap { $0.1.map { $0[0] } }.filter(\.isFinite)
        let lo = min(0, all.min() ?? 0)
        let hi = max(0, all.max() ?? 1)
        let x = { (v: Double) in left + (v - lo) / max(hi - lo, 1e-12) * (w - left - 8) }
        h.raw("<svg class=\"chart\" viewBox=\"0 0 \(Int(w)) \(Int(height))\" role=\"img\">")
        h.raw(
            "<line x1=\"\(ReportFormat.f1(x(0)))\" y1=\"4\" x2=\"\(ReportFormat.f1(x(0)))\" y2=\"\(ReportFormat.f1(height - 24))\" stroke=\"#999\"/>"
        )
        for (i, (feature, points)) in rows.enumerated() {
            let mid = band * Double(i) + band / 2 + 4
            h.raw("<text x=\"\(left - 4)\" y=\"\(ReportFormat.f1(mid + 3))\" text-anchor=\"end\">")
            h.text(feature.count > 18 ? String(feature.prefix(17)) + "…" : feature)
            h.raw("</text>")
            for (j, p) in points.enumerated() where p[0].isFinite {
                // A fixed spread by row number (golden-ratio steps): the same report draws the same picture.
                let dy = (Double(j) * 0.618_033_988_75).truncatingRemainder(dividingBy: 1) * (band - 6) - (band - 6) / 2
                let colour =
                    p[1] < 0
                    ? "#9aa1ad" : "rgb(\(Int(47 + p[1] * 129)),\(Int(93 - p[1] * 35)),\(Int(154 - p[1] * 108)))"
                h.raw(
                    "<circle cx=\"\(ReportFormat.f1(x(p[0])))\" cy=\"\(ReportFormat.f1(mid + dy))\" r=\"1.5\" fill=\"\(colour)\" fill-opacity=\"0.6\"/>"
                )
            }
        }
        h.raw("<text x=\"\(left)\" y=\"\(ReportFormat.f1(height - 10))\">")
        h.text(ReportFormat.short(lo))
        h.raw("</text><text x=\"\(w - 8)\" y=\"\(ReportFormat.f1(height - 10))\" text-anchor=\"end\">")
        h.text(ReportFormat.short(hi))
        h.raw(
            "</text><text x=\"\((w + left) / 2)\" y=\"\(ReportFormat.f1(height - 2))\" text-anchor=\"middle\">contribution</text></svg>"
        )
    }

    static func histogram(_ values: [Double], into h: inout HTMLBuilder) {
        let v = values.filter { $0.isFinite }
        let lo = v.min() ?? 0
        let hi = v.max() ?? 1
        let bins = 24
        var counts = [Int](repeating: 0, count: bins)
        for x in v { counts[min(bins - 1, Int((x - lo) / max(hi - lo, 1e-12) * Double(bins)))] += 1 }
        let top = Double(counts.max() ?? 1)
        frame((lo, hi), (0, top), xLabel: "residual", yLabel: "rows", into: &h)
        for (i, c) in counts.enumerated() {
            let x0 = px(lo + (hi - lo) * Double(i) / Double(bins), (lo, hi))
            let x1 = px(lo + (hi - lo) * Double(i + 1) / Double(bins), (lo, hi))
            let y = py(Double(c), (0, top))
            h.raw(
                "<rect x=\"\(ReportFormat.f1(x0))\" y=\"\(ReportFormat.f1(y))\" width=\"\(ReportFormat.f1(max(0.5, x1 - x0 - 1)))\" height=\"\(ReportFormat.f1(hgt - pad - y))\" fill=\"#2f5d9a\"/>"
            )
        }
        h.raw("</svg>")
    }

    static func lines(
        _ series: [[[Double]]], xLabel: String, yLabel: String, diagonal: Bool, dots: Bool = false,
        into h: inout HTMLBuilder
    ) {
        let xs = series.flatMap { $0.map { $0[0] } }.filter { $0.isFinite }
        let ys = series.flatMap { $0.map { $0[1] } }.filter { $0.isFinite }
        let xr = diagonal ? (0.0, 1.0) : (xs.min() ?? 0, xs.max() ?? 1)
        let yr = diagonal ? (0.0, 1.0) : (ys.min() ?? 0, ys.max() ?? 1)
        frame(xr, yr, xLabel: xLabel, yLabel: yLabel, into: &h)
        if diagonal {
            h.raw(
                "<line x1=\"\(px(0, xr))\" y1=\"\(py(0, yr))\" x2=\"\(px(1, xr))\" y2=\"\(py(1, yr))\" stroke=\"#8a91a0\" stroke-dasharray=\"4 3\"/>"
            )
        }
        for (index, s) in series.enumerated() {
            let pts = s.filter { $0[0].isFinite && $0[1].isFinite }.map {
                "\(ReportFormat.f1(px($0[0], xr))),\(ReportFormat.f1(py($0[1], yr)))"
            }.joined(separator: " ")
            h.raw("<polyline points=\"\(pts)\" fill=\"none\" stroke=\"#2f5d9a\" stroke-width=\"1.8\"/>")
            if dots && index == 0 {  // the first series' points (a single window is a point, not a line)
                for p in s where p[0].isFinite && p[1].isFinite {
                    h.raw(
                        "<circle cx=\"\(ReportFormat.f1(px(p[0], xr)))\" cy=\"\(ReportFormat.f1(py(p[1], yr)))\" r=\"2.5\" fill=\"#2f5d9a\"/>"
                    )
                }
            }
        }
        h.raw("</svg>")
    }

    static func bar(_ share: Double, warn: Bool, into h: inout HTMLBuilder) {
        h.raw(
            "<svg class=\"bar\" viewBox=\"0 0 120 10\" width=\"120\" height=\"10\"><rect width=\"\(ReportFormat.f1(120 * min(1, max(0, share))))\" height=\"10\" fill=\"\(warn ? "#c0392b" : "#2f5d9a")\"/></svg>"
        )
    }
}

/// How the report pages write numbers and shares.
enum ReportFormat {
    static func num(_ x: Double) -> String {
        guard x.isFinite else { return x.isNaN ? "—" : (x > 0 ? "∞" : "−∞") }
        return abs(x) >= 1e5 || (abs(x) < 1e-3 && x != 0)
            ? String(format: "%.4g", x)
            : String(format: "%.4f", x).replacingOccurrences(of: #"\.?0+$"#, with: "", options: .regularExpression)
    }
    static func pct(_ x: Double) -> String { String(format: "%.1f %%", x * 100) }
    /// Axis labels: 920k, 1.2M, 0.35.
    static func short(_ x: Double) -> String {
        if abs(x) >= 1e6 { return String(format: "%.3gM", x / 1e6) }
        if abs(x) >= 1e4 { return String(format: "%.3gk", x / 1e3) }
        return String(format: "%.3g", x)
    }
    static func f1(_ x: Double) -> String { String(format: "%.1f", x) }
    static func esc(_ s: String) -> String {
        var h = HTMLBuilder()
        h.text(s)
        return h.output
    }
}
