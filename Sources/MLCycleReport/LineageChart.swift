import Foundation

/// A model version's lineage as a picture (inline SVG): the datasets it learnt from → the run that made it → the
/// version → the aliases pointing at it, each box a link where it has a page.
public enum LineageChart {
    /// A box: what it says and where it links (nil: no link).
    public struct Node: Sendable {
        public var label: String
        public var detail: String
        public var href: String?
        public init(label: String, detail: String = "", href: String? = nil) {
            self.label = label
            self.detail = detail
            self.href = href
        }
    }

    static let boxWidth = 170.0, boxHeight = 44.0, columnGap = 46.0, rowGap = 12.0

    /// The picture: one column per step, left to right, an arrow from every box of a column to every box of the next.
    public static func svg(datasets: [Node], run: Node?, version: Node, aliases: [Node]) -> String {
        let columns = [datasets, run.map { [$0] } ?? [], [version], aliases].filter { !$0.isEmpty }
        let rows = Double(columns.map(\.count).max() ?? 1)
        let width = Double(columns.count) * boxWidth + Double(columns.count - 1) * columnGap + 4
        let height = rows * boxHeight + (rows - 1) * rowGap + 4
        func top(_ row: Int, of count: Int) -> Double {
            (height - (Double(count) * boxHeight + Double(count - 1) * rowGap)) / 2 + Double(row) * (boxHeight + rowGap)
        }
        var h = HTMLBuilder()
        h.raw(
            "<svg class=\"lineage\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"lineage: data, run, model version and aliases\">"
        )
        h.raw(
            "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" fill=\"#8a91a0\"/></marker></defs>"
        )
        for (c, column) in columns.enumerated() {
            let x = 2 + Double(c) * (boxWidth + columnGap)
            if c + 1 < columns.count {
                let next = columns[c + 1]
                for r in column.indices {
                    for n in next.indices {
                        let y1 = top(r, of: column.count) + boxHeight / 2
                        let y2 = top(n, of: next.count) + boxHeight / 2
                        h.raw(
                            "<line x1=\"\(x + boxWidth)\" y1=\"\(ReportFormat.f1(y1))\" x2=\"\(x + boxWidth + columnGap - 2)\" y2=\"\(ReportFormat.f1(y2))\" stroke=\"#8a91a0\" marker-end=\"url(#arrow)\"/>"
                        )
                    }
                }
            }
            for (r, node) in column.enumerated() {
                let y = top(r, of: column.count)
                if let href = node.href {
                    h.raw("<a href=\"")
                    h.text(href)
                    h.raw("\">")
                }
                h.raw(
                    "<rect x=\"\(x)\" y=\"\(ReportFormat.f1(y))\" width=\"\(boxWidth)\" height=\"\(boxHeight)\" rx=\"6\" fill=\"#eef3fa\" stroke=\"#2f5d9a\"/>"
                )
                h.raw("<text x=\"\(x + 8)\" y=\"\(ReportFormat.f1(y + 18))\" font-size=\"12\" fill=\"#1d2330\">")
                h.text(String(node.label.prefix(26)))
                h.raw("</text><text x=\"\(x + 8)\" y=\"\(ReportFormat.f1(y + 34))\" font-size=\"10\" fill=\"#4a5262\">")
                h.text(String(node.detail.prefix(30)))
                h.raw("</text>")
                if node.href != nil { h.raw("</a>") }
            }
        }
        h.raw("</svg>")
        return h.output
    }
}
