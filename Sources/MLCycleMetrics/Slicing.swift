import Foundation
import MLCycleData

/// Why a metric or a slice could not be computed.
public enum MetricsError: LocalizedError, Equatable, Sendable {
    case invalid(String)
    public var errorDescription: String? {
        switch self {
        case .invalid(let m): return m
        }
    }
}

/// Metrics where a larger value is better (the rest are losses).
public let higherIsBetter: Set<String> = [
    "r2", "within_10pct", "auc", "pr_auc", "accuracy", "precision", "recall", "f1", "macro_f1", "weighted_f1",
]

/// A column to slice results by: its categories, or numeric bins (`edges`, or quintiles when nil).
public struct SliceSpec: Sendable, Equatable {
    public var column: String
    public var edges: [Double]?

    public init(column: String, edges: [Double]? = nil) {
        self.column = column
        self.edges = edges
    }

    /// `COLUMN` or `COLUMN:EDGE,EDGE,…` (e.g. `Sale_Price:100000,200000,500000,1000000`).
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let name = parts.first, !name.isEmpty else {
            throw MetricsError.invalid("slice '\(text)': give a column, as COLUMN or COLUMN:EDGE,EDGE,…")
        }
        column = name
        if parts.count > 1 {
            let values = parts[1].split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else {
                throw MetricsError.invalid(
                    "slice '\(text)': after the colon give bin edges as numbers, e.g. price:100000,200000")
            }
            edges = values.map { $0! }.sorted()
        }
    }

    /// The rows of each slice, labelled (`< 100000`, `[100000, 200000)`, `≥ 500000`, a category, `(missing)`),
    /// categories in sorted order; numeric slices without edges are quintiles.
    public func rows(in t: Table) throws -> [(String, [Int])] {
        let spec = self
        guard let c = t[spec.column] else {
            throw MetricsError.invalid(
                "no column '\(spec.column)' to slice by; columns: \(t.columnNames.prefix(20).joined(separator: ", "))")
        }
        let n = t.rowCount
        if c.type.isNumeric, let v = c.doubles() {
            var edges = spec.edges ?? []
            if spec.edges == nil {
                let present = (0..<n).filter { c.isValid($0) }.map { v[$0] }.sorted()
                // Quintiles (fewer bins when values repeat).
                edges = Array(Set((1..<5).map { Statistics.quantile(sorted: present, Double($0) / 5) })).sorted()
            }
            func edge(_ x: Double) -> String { x.rounded() == x && abs(x) < 1e15 ? String(Int64(x)) : formatDouble(x) }
            func label(_ i: Int) -> String {
                if edges.isEmpty { return "all" }
                if i == 0 { return "< \(edge(edges[0]))" }
                if i == edges.count { return "≥ \(edge(edges[edges.count - 1]))" }
                return "[\(edge(edges[i - 1])), \(edge(edges[i])))"
            }
            var bins = [[Int]](repeating: [], count: edges.count + 1)
            var missing = [Int]()
            for r in 0..<n {
                guard c.isValid(r) else {
                    missing.append(r)
                    continue
                }
                var i = 0
                while i < edges.count && v[r] >= edges[i] { i += 1 }
                bins[i].append(r)
            }
            return bins.enumerated().map { (label($0), $1) } + (missing.isEmpty ? [] : [("(missing)", missing)])
        }
        var byValue = [String: [Int]]()
        for r in 0..<n { byValue[c.isValid(r) ? c[r].description : "(missing)", default: []].append(r) }
        return byValue.keys.sorted().map { ($0, byValue[$0]!) }
    }
}
