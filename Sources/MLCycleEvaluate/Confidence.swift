import Foundation
import MLCycleData
import MLCycleLearn

/// How wide the training rows' answers were, kept in a model bundle to turn an answer's spread into a confidence:
/// a regression's calibrated range width (relative to the estimate where the project's metric is relative), a
/// classifier's doubt (1 − the probability of the predicted class).
public struct ConfidenceScale: Codable, Sendable, Equatable {
    public enum Spread: String, Codable, Sendable {
        /// upper − lower of the calibrated range.
        case rangeWidth = "range_width"
        /// (upper − lower) / |estimate|: for targets judged by relative error (mape, within 10 %).
        case relativeRangeWidth = "relative_range_width"
        /// 1 − the probability of the predicted class.
        case classDoubt = "class_doubt"
    }

    /// Metrics that judge a regression by its relative error: its confidence comes from the relative width.
    public static let relativeMetrics: Set<String> = ["mape", "median_ape", "within_10pct"]

    public var spread: Spread
    /// The training rows' spreads, sorted (at most 1,001 evenly spaced order statistics of them).
    public var quantiles: [Double]
    /// How many training rows the quantiles summarise.
    public var rows: Int

    public init(spread: Spread, quantiles: [Double], rows: Int) {
        self.spread = spread
        self.quantiles = quantiles
        self.rows = rows
    }

    /// The spread of one answer in this scale's terms, or nil when it has none (no range, no probabilities).
    public func spread(of s: ModelBundle.Scored) -> Double? {
        switch spread {
        case .rangeWidth, .relativeRangeWidth:
            guard let r = s.range, r.count == 2, r[0].isFinite, r[1].isFinite else { return nil }
            let width = abs(r[1] - r[0])
            guard spread == .relativeRangeWidth else { return width }
            guard let v = s.value, v != 0, v.isFinite else { return nil }
            return width / abs(v)
        case .classDoubt:
            guard let p = s.prediction, let q = s.probabilities[p], q.isFinite else { return nil }
            return 1 - q
        }
    }

    /// The share of training rows whose answer was at least as wide as `spread` (ties count half): 1 for an answer
    /// tighter than any in training, near 0 for one wider than all of them.
    public func share(widerThan spread: Double) -> Double {
        guard !quantiles.isEmpty, spread.isFinite else { return spread.isNaN ? 1 : 0 }
        let below = Self.firstIndex(in: quantiles) { $0 >= spread }
        let above = Self.firstIndex(in: quantiles) { $0 > spread }
        return (Double(quantiles.count - above) + 0.5 * Double(above - below)) / Double(quantiles.count)
    }

    /// The first index whose element satisfies `predicate` (false then true along the sorted array).
    static func firstIndex(in sorted: [Double], where predicate: (Double) -> Bool) -> Int {
        var lo = 0
        var hi = sorted.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if predicate(sorted[mid]) { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    /// The scale of a set of answers' spreads (nil when none has one).
    public static func fit(_ scored: [ModelBundle.Scored], spread: Spread) -> ConfidenceScale? {
        let scale = ConfidenceScale(spread: spread, quantiles: [], rows: 0)
        let spreads = scored.compactMap { scale.spread(of: $0) }.sorted()
        guard !spreads.isEmpty else { return nil }
        let kept =
            spreads.count <= 1001
            ? spreads : (0...1000).map { spreads[Int((Double($0) / 1000 * Double(spreads.count - 1)).rounded())] }
        return ConfidenceScale(spread: spread, quantiles: kept, rows: spreads.count)
    }
}

/// How a served answer's confidence is made: the share of training answers at least as wide as it (1 without a
/// scale), times a factor for each input unlike the training data.
public enum Confidence {
    /// Below this an answer has low confidence (`low_confidence: true`, counted by monitoring).
    public static let low = 0.1
    /// Per number outside the training range or category never seen in training.
    public static let unlikeTraining = 0.2
    /// Per category seen in fewer than `rareRows` training rows.
    public static let rare = 0.5
    public static let rareRows = 10
    /// Per input that was missing and imputed.
    public static let imputed = 0.8
}

/// Test rows grouped by the confidence of their answers, with the error of each group: confidence is honest when
/// the error falls as confidence rises.
public struct ReliabilityTable: Codable, Sendable, Equatable {
    public struct Group: Codable, Sendable, Equatable {
        public var rows: Int
        /// The lowest and highest confidence in the group, and its mean.
        public var low: Double
        public var high: Double
        public var confidence: Double
        public var error: Double
        /// The share of the group's answers with low confidence.
        public var lowShare: Double

        enum CodingKeys: String, CodingKey {
            case rows, low, high, confidence, error
            case lowShare = "low_share"
        }
    }

    /// What `error` is: "mean absolute percentage error", "mean absolute error" or "error rate".
    public var error: String
    /// How spread was measured (see `ConfidenceScale.Spread`), or nil when confidence comes from the inputs only.
    public var spread: ConfidenceScale.Spread?
    /// Deciles of the answered rows by confidence, least confident first.
    public var groups: [Group]

    /// The answered rows of `scored` with the truth in `actual`, in `count` groups by confidence (least confident
    /// first); nil when fewer than `count` rows were answered.
    public static func measure(
        _ scored: [ModelBundle.Scored], actual: Column, task: Task, spread: ConfidenceScale.Spread?, count: Int = 10
    ) -> ReliabilityTable? {
        let relative = spread == .relativeRangeWidth
        let truth = actual.doubles()
        var rows = [(confidence: Double, error: Double)]()
        for (r, s) in scored.enumerated() {
            guard let c = s.confidence, actual.isValid(r) else { continue }
            if task == .regression {
                guard let v = s.value, let y = truth?[r], v.isFinite, y.isFinite, !relative || y != 0 else { continue }
                rows.append((c, relative ? abs(v - y) / abs(y) : abs(v - y)))
            } else {
                guard let p = s.prediction else { continue }
                rows.append((c, p == actual[r].description ? 0 : 1))
            }
        }
        guard rows.count >= count else { return nil }
        rows.sort { $0.confidence < $1.confidence }
        let groups = (0..<count).map { g -> Group in
            let part = rows[(g * rows.count / count)..<((g + 1) * rows.count / count)]
            let n = Double(part.count)
            return Group(
                rows: part.count, low: part.first?.confidence ?? .nan, high: part.last?.confidence ?? .nan,
                confidence: part.reduce(0) { $0 + $1.confidence } / n, error: part.reduce(0) { $0 + $1.error } / n,
                lowShare: Double(part.filter { $0.confidence < Confidence.low }.count) / n)
        }
        let name =
            task == .regression ? (relative ? "mean absolute percentage error" : "mean absolute error") : "error rate"
        return ReliabilityTable(error: name, spread: spread, groups: groups)
    }
}

extension ModelBundle {
    /// Learns the confidence scale from training rows (a seeded sample of at most 5,000): the spread of each of
    /// their answers. `relative` makes a regression's spread its range width relative to the estimate. Nil for a
    /// regression without a calibrated range, or a clustering.
    public func confidenceScale(training raw: Table, relative: Bool, seed: UInt64 = 42) throws -> ConfidenceScale? {
        let spread: ConfidenceScale.Spread
        switch task {
        case .regression: spread = relative ? .relativeRangeWidth : .rangeWidth
        case .binary, .multiclass: spread = .classDoubt
        case .clustering: return nil
        }
        var rows = raw
        if raw.rowCount > 5000 {
            var rng = SeededGenerator(seed: seed)
            var order = Array(0..<raw.rowCount)
            order.shuffle(using: &rng)
            rows = raw.taking(Array(order.prefix(5000)).sorted())
        }
        var unscaled = self
        unscaled.confidenceScale = nil
        return ConfidenceScale.fit(try unscaled.score(merged: rows), spread: spread)
    }

    /// The reliability table of this bundle's confidence on labelled raw rows (which carry the target).
    public func reliability(on raw: Table) throws -> ReliabilityTable? {
        guard let actual = raw[target] else { return nil }
        return ReliabilityTable.measure(
            try score(merged: raw), actual: actual, task: task, spread: confidenceScale?.spread)
    }
}
