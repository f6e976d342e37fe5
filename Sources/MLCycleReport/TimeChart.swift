import Foundation

/// A mark on a time chart where something happened: an alert fired, an alias moved.
public struct ChartMarker: Sendable, Equatable {
    public enum Kind: String, Sendable { case alert, move }
    public var at: Date
    public var kind: Kind
    public var label: String
    public init(at: Date, kind: Kind, label: String) {
        self.at = at
        self.kind = kind
        self.label = label
    }
}

/// Series over time, as inline SVG: dates on the x axis, each point's window and value on hover (its `<title>`),
/// a threshold as a dashed line, and markers (alerts red, alias moves green) where they happened.
enum TimeChart {
    /// How a chart writes its dates (UTC): days, or hours when it spans under three days.
    static func dates(span: TimeInterval) -> DateFormatter {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = span < 3 * 86_400 ? "yyyy-MM-dd HH:mm" : "yyyy-MM-dd"
        return f
    }

    /// One line through each window's value at the window's end; `windows` are the `(start, end)` of each point.
    static func draw(
        _ values: [Double], windows: [(start: Date, end: Date)], yLabel: String, threshold: Double? = nil,
        markers: [ChartMarker] = [], into h: inout HTMLBuilder
    ) {
        let w = Charts.w
        let hgt = Charts.hgt
        let pad = Charts.pad
        let times = windows.map { $0.end.timeIntervalSince1970 }
        let first = windows.first.map { $0.start.timeIntervalSince1970 } ?? 0
        let xr = (first, max(times.last ?? 1, first + 1))
        let finite = values.filter(\.isFinite) + (threshold.map { [$0] } ?? [])
        var yr = (finite.min() ?? 0, finite.max() ?? 1)
        if yr.0 == yr.1 { yr = (yr.0 - 1, yr.1 + 1) }
        let span = xr.1 - xr.0
        let tick = dates(span: span)
        let moment = dates(span: 0)
        h.raw("<svg class=\"chart\" viewBox=\"0 0 \(Int(w)) \(Int(hgt))\" role=\"img\"><title>")
        h.text(
            "\(yLabel) per window, \(tick.string(from: Date(timeIntervalSince1970: xr.0))) to \(tick.string(from: Date(timeIntervalSince1970: xr.1)))"
        )
        h.raw(
            "</title><rect x=\"\(pad)\" y=\"8\" width=\"\(w - pad - 8)\" height=\"\(hgt - pad - 8)\" fill=\"#fbfcfd\" stroke=\"#dde1e7\"/>"
        )
        // Three dates under the axis: the first window's start, the middle, the last window's end.
        for (x, anchor) in [(xr.0, "start"), ((xr.0 + xr.1) / 2, "middle"), (xr.1, "end")] {
            h.raw("<text x=\"\(ReportFormat.f1(Charts.px(x, xr)))\" y=\"\(hgt - 20)\" text-anchor=\"\(anchor)\">")
            h.text(tick.string(from: Date(timeIntervalSince1970: x)))
            h.raw("</text>")
        }
        Charts.yAxis(yr, yLabel, into: &h)
        for marker in markers {
            let t = marker.at.timeIntervalSince1970
            guard t >= xr.0 && t <= xr.1 else { continue }
            let x = ReportFormat.f1(Charts.px(t, xr))
            let colour = marker.kind == .alert ? "#c0392b" : "#1e7b3a"
            h.raw(
                "<line class=\"marker \(marker.kind.rawValue)\" x1=\"\(x)\" y1=\"8\" x2=\"\(x)\" y2=\"\(hgt - pad)\" stroke=\"\(colour)\" stroke-width=\"1.5\" stroke-dasharray=\"3 2\"><title>"
            )
            h.text("\(moment.string(from: marker.at)) UTC: \(marker.label)")
            h.raw("</title></line>")
        }
        if let threshold {
            h.raw(
                "<line x1=\"\(pad)\" y1=\"\(ReportFormat.f1(Charts.py(threshold, yr)))\" x2=\"\(w - 8)\" y2=\"\(ReportFormat.f1(Charts.py(threshold, yr)))\" stroke=\"#b03a2e\" stroke-dasharray=\"5 3\"><title>"
            )
            h.text("alert threshold \(ReportFormat.num(threshold))")
            h.raw("</title></line>")
        }
        let points = zip(times, values).filter { $0.1.isFinite }
        h.raw("<polyline points=\"")
        h.raw(
            points.map { "\(ReportFormat.f1(Charts.px($0.0, xr))),\(ReportFormat.f1(Charts.py($0.1, yr)))" }
                .joined(separator: " "))
        h.raw("\" fill=\"none\" stroke=\"#2f5d9a\" stroke-width=\"1.8\"/>")
        for (index, value) in values.enumerated() where value.isFinite {
            h.raw(
                "<circle cx=\"\(ReportFormat.f1(Charts.px(times[index], xr)))\" cy=\"\(ReportFormat.f1(Charts.py(value, yr)))\" r=\"3\" fill=\"#2f5d9a\"><title>"
            )
            h.text(
                "\(tick.string(from: windows[index].start)) – \(tick.string(from: windows[index].end)): \(ReportFormat.num(value))"
            )
            h.raw("</title></circle>")
        }
        h.raw("</svg>")
        let shown = markers.filter { $0.at.timeIntervalSince1970 >= xr.0 && $0.at.timeIntervalSince1970 <= xr.1 }
        if !shown.isEmpty {
            h.raw("<p class=\"legend\">")
            if shown.contains(where: { $0.kind == .alert }) {
                h.raw("<span style=\"color:#c0392b\">┆ alert fired</span> ")
            }
            if shown.contains(where: { $0.kind == .move }) {
                h.raw("<span style=\"color:#1e7b3a\">┆ alias moved</span>")
            }
            h.raw("</p>")
        }
    }
}
