import Foundation
import MLCycleData

/// A calibrated prediction range for regression: two boosted quantile models, widened (or narrowed) by the
/// conformal adjustment measured on rows neither model saw (conformalized quantile regression, Romano et al. 2019),
/// so a `level` range covers about that share of new rows even where boosted quantiles alone come out too narrow.
public struct PredictionRange: Codable, Sendable, Equatable {
    /// The promised coverage, e.g. 0.9.
    public var level: Double
    public var lower: GBDTModel
    public var upper: GBDTModel
    /// Added to the upper bound and subtracted from the lower one.
    public var adjustment: Double
    /// Calibration rows the adjustment was measured on.
    public var calibrationRows: Int

    /// Fits the two quantile models on all but a seeded `calibrationFraction` of the rows, then measures how far
    /// outside the raw range the held-out rows fall and keeps the ⌈(n + 1)·level⌉-th smallest of those distances.
    public static func fit(
        schema: FeatureSchema, data: Dataset, target y: [Double], level: Double,
        parameters base: GBDTParameters, calibrationFraction: Double = 0.2, seed: UInt64 = 42
    ) throws -> PredictionRange {
        guard level > 0 && level < 1 else {
            throw LearnError.invalidParameter(
                name: "range", value: String(level), expected: "a coverage between 0 and 1, e.g. 0.9")
        }
        let n = data.rows
        let calibrationCount = Int((Double(n) * calibrationFraction).rounded())
        guard calibrationCount >= 20, n - calibrationCount >= 20 else {
            throw LearnError.tooFewRows(needed: 100, found: n)
        }
        var rng = SeededGenerator(seed: seed)
        var order = Array(0..<n)
        order.shuffle(using: &rng)
        let calibration = Array(order[..<calibrationCount]).sorted()
        let fitting = Array(order[calibrationCount...]).sorted()
        func quantileModel(_ alpha: Double) throws -> GBDTModel {
            var p = base
            p.objective = .quantile
            p.alpha = alpha
            return try GradientBoostedTrees(parameters: p).fit(
                schema: schema, data: data.taking(fitting),
                target: .numbers(fitting.map { y[$0] }))
        }
        let lower = try quantileModel((1 - level) / 2)
        let upper = try quantileModel((1 + level) / 2)
        let held = data.taking(calibration)
        let lo = lower.predict(held).values
        let hi = upper.predict(held).values
        var scores = calibration.indices.map { i in
            max(min(lo[i], hi[i]) - y[calibration[i]], y[calibration[i]] - max(lo[i], hi[i]))
        }
        scores.sort()
        let k = min(scores.count, Int((Double(scores.count + 1) * level).rounded(.up)))
        return PredictionRange(
            level: level, lower: lower, upper: upper, adjustment: scores[max(0, k - 1)],
            calibrationRows: calibrationCount)
    }

    /// The range for each row.
    public func bounds(_ data: Dataset) -> (lower: [Double], upper: [Double]) {
        let lo = lower.predict(data).values
        let hi = upper.predict(data).values
        return (zip(lo, hi).map { min($0, $1) - adjustment }, zip(lo, hi).map { max($0, $1) + adjustment })
    }
}
