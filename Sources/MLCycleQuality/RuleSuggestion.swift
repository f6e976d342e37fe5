import Foundation
import MLCycleData

/// How `RuleSuggestion` widens what it saw into rules.
public struct SuggestionOptions: Sendable {
    /// Numeric and date ranges are widened by this fraction of the observed span on each side.
    public var rangeMargin: Double
    /// String columns with at most this many distinct values get an allowed set.
    public var maxAllowedValues: Int

    public init(rangeMargin: Double = 0.1, maxAllowedValues: Int = 20) {
        self.rangeMargin = rangeMargin
        self.maxAllowedValues = maxAllowedValues
    }
}

/// Infers a starting rule set from a reference table: a place to begin, to be reviewed by a person.
public enum RuleSuggestion {
    public static func suggest(from table: Table, options: SuggestionOptions = SuggestionOptions()) throws -> [Rule] {
        let profile = try Profiler.profile(table)
        var rules = [Rule]()
        rules.append(Rule(.rowCount(min: max(1, table.rowCount / 10), max: nil), severity: .error))
        for (col, p) in zip(table.columns, profile.columns) {
            rules.append(Rule(column: col.name, .type([col.type])))
            if p.missing == 0 {
                rules.append(Rule(column: col.name, .maxMissing(0)))
            } else {
                // Observed share, widened by half and rounded up to whole percent.
                let observed = Double(p.missing) / Double(max(1, p.missing + p.count))
                rules.append(
                    Rule(column: col.name, .maxMissing(min(1, (observed * 150).rounded(.up) / 100)), severity: .warning)
                )
            }
            if p.count >= 10, p.distinct == p.count, col.type == .int64 || col.type == .string {
                rules.append(Rule(column: col.name, .unique))
            }
            switch col.type {
            case .int64, .float64:
                guard let lo = p.min?.number, let hi = p.max?.number, lo.isFinite, hi.isFinite else { break }
                let margin = (hi - lo) * options.rangeMargin
                var low = lo - margin
                var high = hi + margin
                // Positive data keeps at least half its smallest value, so a "price of 1" stays out of range.
                if lo > 0 { low = max(low, lo / 2) } else if lo == 0 { low = 0 }
                if col.type == .int64 {
                    low = low.rounded(.down)
                    high = high.rounded(.up)
                } else {
                    low = round6(low, .down)
                    high = round6(high, .up)
                }
                rules.append(Rule(column: col.name, .range(min: .number(low), max: .number(high))))
            case .date:
                guard let values = col.validDoubles(), let lo = values.min(), let hi = values.max() else { break }
                let margin = ((hi - lo) * options.rangeMargin).rounded(.up)
                rules.append(
                    Rule(
                        column: col.name,
                        .range(
                            min: .date(CalendarDate.isoString(days: Int64(lo - margin))),
                            max: .date(CalendarDate.isoString(days: Int64(hi + margin))))))
            case .string:
                if p.distinct <= options.maxAllowedValues, p.distinct * 2 <= p.count,
                    case .string(let codes, let dict) = col.storage
                {
                    var used = Set<UInt32>()
                    for r in 0..<codes.count where col.isValid(r) { used.insert(codes[r]) }
                    rules.append(
                        Rule(column: col.name, .allowed(used.map { dict[Int($0)] }.sorted()), severity: .warning))
                }
            default:
                break
            }
        }
        return rules
    }

    /// Rounds to 6 significant digits in the given direction, so suggested bounds stay readable.
    static func round6(_ v: Double, _ rule: FloatingPointRoundingRule) -> Double {
        guard v != 0, v.isFinite else { return v }
        let scale = pow(10, 5 - floor(log10(abs(v))))
        return (v * scale).rounded(rule) / scale
    }
}
