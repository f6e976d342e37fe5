import Foundation
import MLCycleMetrics

/// A release plan's condition: clauses joined by `and` (`promote_if: "mape <= champion and error_rate < 0.01"`) or
/// by `or` (`rollback_if: "error_rate > 0.02 or latency_p99 > 500ms"`). A clause is `METRIC OP VALUE` — the metrics
/// and units of alert rules — or, in `promote_if`, `METRIC OP champion [+|- X]`: the challenger against the
/// champion on the same period.
public struct ReleaseCondition: Sendable, Equatable {
    public enum Joiner: String, Sendable { case and, or }

    public struct Clause: Sendable, Equatable {
        public var text: String
        public var metric: String
        public var comparison: AlertCondition.Comparison
        /// Against a fixed value, or the champion's value plus `offset`.
        public var threshold: Double
        public var againstChampion: Bool
    }

    public var joiner: Joiner
    public var clauses: [Clause]

    public static func parse(_ text: String, joiner: Joiner, relative: Bool = true) throws -> ReleaseCondition {
        func fail(_ why: String) -> MonitorError {
            MonitorError.invalid(
                "release condition '\(text)': \(why) (e.g. \"mape <= champion\", \"error_rate > 0.02 or latency_p99 > 500ms\")"
            )
        }
        let parts = text.components(separatedBy: " \(joiner.rawValue) ").map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty, !parts.contains(where: \.isEmpty) else {
            throw fail("expected METRIC OP VALUE\(relative ? " or METRIC OP champion" : "")")
        }
        var clauses = [Clause]()
        for part in parts {
            let words = part.split(separator: " ").map(String.init)
            if words.count >= 3, words[2] == "champion" {
                guard relative else { throw fail("'\(part)': compare with a value here, not with the champion") }
                guard AlertCondition.windowMetrics.contains(words[0]) else {
                    throw fail("unknown metric '\(words[0])'")
                }
                guard let comparison = AlertCondition.Comparison(rawValue: words[1]) else {
                    throw fail("expected >, >=, < or <= after \(words[0])")
                }
                var offset = 0.0
                if words.count > 3 {
                    guard words.count == 5, ["+", "-"].contains(words[3]), let x = Double(words[4]) else {
                        throw fail("'\(part)': expected champion + X or champion - X")
                    }
                    offset = words[3] == "+" ? x : -x
                }
                clauses.append(
                    Clause(
                        text: part, metric: words[0], comparison: comparison, threshold: offset, againstChampion: true))
            } else {
                let c: AlertCondition
                do { c = try AlertCondition.parse(part) } catch {
                    throw fail("'\(part)': \(error.localizedDescription)")
                }
                guard c.column == nil, c.over == nil, c.ofPrevious == nil else {
                    throw fail(
                        "'\(part)': a release condition is measured on the release's own rows: no column, over or of previous"
                    )
                }
                clauses.append(
                    Clause(
                        text: part, metric: c.metric, comparison: c.comparison, threshold: c.threshold,
                        againstChampion: false))
            }
        }
        return ReleaseCondition(joiner: joiner, clauses: clauses)
    }

    /// One clause measured: its value (nil: not measurable yet), what it is held against, and whether it holds.
    public struct Measured: Codable, Sendable, Equatable {
        public var clause: String
        public var value: Double?
        public var against: Double?
        public var holds: Bool
    }

    /// Measures each clause on `challenger`'s rows (and `champion`'s for the relative ones); a clause that cannot
    /// be measured does not hold, and a metric from feedback needs `minimumLabelled` labelled rows a side.
    public func measure(
        challenger: WindowSummary, champion: WindowSummary?,
        minimumLabelled: Int = ReleaseComparison.minimumRows
    ) -> [Measured] {
        clauses.map { c in
            let fromFeedback = AlertCondition.feedbackMetrics.contains(c.metric)
            func read(_ w: WindowSummary?) -> Double? {
                guard let w, !fromFeedback || w.labelled >= minimumLabelled else { return nil }
                return AlertChecker.metric(c.metric, w)
            }
            let value = read(challenger)
            let against = c.againstChampion ? read(champion).map { $0 + c.threshold } : c.threshold
            guard let value, let against else {
                return Measured(clause: c.text, value: value, against: against, holds: false)
            }
            let holds: Bool
            switch c.comparison {
            case .gt: holds = value > against
            case .ge: holds = value >= against
            case .lt: holds = value < against
            case .le: holds = value <= against
            }
            return Measured(clause: c.text, value: value, against: against, holds: holds)
        }
    }

    /// Whether the measured clauses make the condition hold (all of them for `and`, one for `or`).
    public func holds(_ measured: [Measured]) -> Bool {
        joiner == .and ? measured.allSatisfy(\.holds) : measured.contains(where: \.holds)
    }
}
