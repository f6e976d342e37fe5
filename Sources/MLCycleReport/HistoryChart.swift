import Foundation

/// A chart of several series over one x axis (metric histories of runs side by side), as inline SVG: one colour and
/// dash per series with a legend, and each point's values on hover (its `<title>`).
public enum HistoryChart {
    /// One line: its name in the legend and its `(x, y)` points.
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public init(name: String, points: [(x: Double, y: Double)]) {
            self.name = name
            self.points = points
        }
    }

    /// Colour-blind-safe colours (Okabe–Ito), with a dash pattern each so lines differ without colour too.
    static let colours = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"]
    static let dashes = ["", "6 3", "2 3", "8 3 2 3"]

    /// The chart's SVG (its text escaped), titled for screen readers by `title`.
    public static func svg(_ series: [Series], title: String, xLabel: String, yLabel: String) -> String {
        var h = HTMLBuilder()
        let finite = series.map { s in s.points.filter { $0.x.isFinite && $0.y.isFinite } }
        let xs = finite.flatMap { $0.map(\.x) }
        let ys = finite.flatMap { $0.map(\.y) }
        let xr = (xs.min() ?? 0, xs.max() ?? 1)
        let yr = (ys.min() ?? 0, ys.max() ?? 1)
        Charts.frame(xr, yr, xLabel: xLabel, yLabel: yLabel, title: title, into: &h)
        for (index, points) in finite.enumerated() {
            let colour = colours[index % colours.count]
            let dash = dashes[index % dashes.count]
            let path = points.map { "\(ReportFormat.f1(Charts.px($0.x, xr))),\(ReportFormat.f1(Charts.py($0.y, yr)))" }
            h.raw(
                "<polyline points=\"\(path.joined(separator: " "))\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.8\"\(dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\"")/>"
            )
            for p in points {
                h.raw(
                    "<circle cx=\"\(ReportFormat.f1(Charts.px(p.x, xr)))\" cy=\"\(ReportFormat.f1(Charts.py(p.y, yr)))\" r=\"3\" fill=\"\(colour)\"><title>"
                )
                h.text("\(series[index].name): \(xLabel) \(ReportFormat.num(p.x)), \(yLabel) \(ReportFormat.num(p.y))")
                h.raw("</title></circle>")
            }
        }
        h.raw("</svg><p class=\"legend\">")
        for (index, s) in series.enumerated() {
            h.raw("<span class=\"key\" style=\"border-color:\(colours[index % colours.count])\"></span>")
            h.text(s.name)
            h.raw(" ")
        }
        h.raw("</p>")
        return h.output
    }
}
