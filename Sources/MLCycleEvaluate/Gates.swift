import Foundation
import MLCycleMetrics

/// Gate rules: the conditions a model must meet to be promotable.
///
/// Forms: `METRIC OP NUMBER` (`within_10pct >= 0.80`, optionally followed by `on test`), `METRIC OP baseline [± NUMBER]`
/// (`auc >= baseline + 0.02`, needs a baseline model; `champion` likewise) and `every slice of COLUMN: METRIC OP NUMBER` (each slice of
/// that column, as listed with `--slice`). OP is one of `>= <= > < ==`.
extension Evaluation {
    /// The verdict of gate rules on a report; `references` holds the metrics of "baseline" and "champion".
    public static func verdicts(_ rules: [String], report: EvaluationReport, references: [String: [String: Double]])
        throws -> [EvaluationReport.Gate]
    {
        try gates(rules, report: report, references: references).0
    }

    /// The verdict of each rule, and the slices (`column` U+001F `value`) that fail an `every slice` rule.
    static func gates(_ rules: [String], report: EvaluationReport, references: [String: [String: Double]]) throws -> (
        [EvaluationReport.Gate], Set<String>
    ) {
        var out = [EvaluationReport.Gate]()
        var flagged = Set<String>()
        for rule in rules {
            var text = rule.trimmingCharacters(in: .whitespaces)
            if text.hasSuffix(" on test") { text = String(text.dropLast(8)).trimmingCharacters(in: .whitespaces) }
            if text.hasPrefix("every slice of ") {
                let rest = text.dropFirst("every slice of ".count)
                guard let colon = rest.firstIndex(of: ":") else {
                    throw bad(rule, "write 'every slice of COLUMN: METRIC OP NUMBER'")
                }
                let column = rest[..<colon].trimmingCharacters(in: .whitespaces)
                let (metric, op, limit) = try comparison(
                    String(rest[rest.index(after: colon)...]), rule: rule, references: references)
                let slices = report.slices.filter { $0.column == column }
                guard !slices.isEmpty else { throw bad(rule, "no slices of '\(column)': add --slice \(column)") }
                let failing = slices.filter { s in s.metrics[metric].map { !holds($0, op, limit) } ?? true }
                for s in failing { flagged.insert("\(s.column)\u{1F}\(s.value)") }
                let worst = slices.compactMap { $0.metrics[metric] }.max {
                    higherIsBetter.contains(metric) ? $0 > $1 : $0 < $1
                }
                out.append(
                    .init(
                        rule: rule, passed: failing.isEmpty, value: worst,
                        reason: failing.isEmpty
                            ? "all \(slices.count) slices meet \(metric) \(op) \(formatNumber(limit))"
                            : "\(failing.count) of \(slices.count) slices fail: "
                                + failing.prefix(5).map {
                                    "\($0.value) (\(formatNumber($0.metrics[metric] ?? .nan)), \($0.rows) rows)"
                                }.joined(separator: ", ")))
                continue
            }
            let (metric, op, limit) = try comparison(text, rule: rule, references: references)
            guard let value = report.metrics[metric] else {
                throw bad(
                    rule,
                    "'\(metric)' is not a metric of this model (\(report.metrics.keys.sorted().joined(separator: ", ")))"
                )
            }
            let ok = holds(value, op, limit)
            out.append(
                .init(
                    rule: rule, passed: ok, value: value,
                    reason:
                        "\(metric) is \(formatNumber(value)), \(ok ? "meets" : "misses") \(op) \(formatNumber(limit))"))
        }
        return (out, flagged)
    }

    static func comparison(_ text: String, rule: String, references: [String: [String: Double]]) throws -> (
        String, String, Double
    ) {
        let ops = [">=", "<=", "==", ">", "<"]
        guard let op = ops.first(where: { text.contains($0) }), let range = text.range(of: op) else {
            throw bad(rule, "no comparison; write e.g. 'within_10pct >= 0.80'")
        }
        let metric = text[..<range.lowerBound].trimmingCharacters(in: .whitespaces)
        var right = text[range.upperBound...].trimmingCharacters(in: .whitespaces)
        var limit = 0.0
        if let name = ["baseline", "champion"].first(where: { right.hasPrefix($0) }) {
            guard let other = references[name] else {
                throw bad(rule, "compares with the \(name): give its model (--\(name) MODEL)")
            }
            guard let b = other[metric] else { throw bad(rule, "the \(name) has no '\(metric)'") }
            limit = b
            right = right.dropFirst(name.count).replacingOccurrences(of: " ", with: "")
            if !right.isEmpty {
                guard let delta = Double(right) else {
                    throw bad(rule, "after '\(name)' write + or − a number, e.g. \(name) + 0.02")
                }
                limit += delta
            }
        } else {
            let number = right.hasSuffix("%") ? Double(right.dropLast()).map { $0 / 100 } : Double(right)
            guard let x = number else { throw bad(rule, "'\(right)' is not a number (or 'baseline + x')") }
            limit = x
        }
        return (metric, op, limit)
    }

    static func holds(_ value: Double, _ op: String, _ limit: Double) -> Bool {
        guard value.isFinite else { return false }
        switch op {
        case ">=": return value >= limit
        case "<=": return value <= limit
        case ">": return value > limit
        case "<": return value < limit
        default: return value == limit
        }
    }

    static func bad(_ rule: String, _ message: String) -> EvaluationError { .invalid("gate '\(rule)': \(message)") }

    static func formatNumber(_ x: Double) -> String { String(format: "%.4g", x) }
}
