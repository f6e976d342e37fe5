import Foundation
import MLCycleData
import MLCycleMetrics

/// Two versions of a model on live labelled traffic: the metric of each, the challenger's difference with a 95 %
/// bootstrap interval — paired on the same requests when one of them answered as a shadow, unpaired when the
/// challenger answered requests of its own without one (a canary) — their error rates and latencies, and a verdict: `better`, `worse`,
/// or `can't tell yet` with about how many labelled rows it would take.
public struct ReleaseComparison: Codable, Sendable, Equatable {
    /// One version's rows.
    public struct Side: Codable, Sendable, Equatable {
        public var version: String
        /// Rows answered (shadow answers included) and refused requests.
        public var answered: Int
        public var refused: Int
        public var labelled: Int
        public var metric: Double?
        public var errorRate: Double?
        public var latencyP50: Double?
        public var latencyP99: Double?

        enum CodingKeys: String, CodingKey {
            case version, answered, refused, labelled, metric
            case errorRate = "error_rate"
            case latencyP50 = "latency_p50"
            case latencyP99 = "latency_p99"
        }
    }

    public enum Verdict: String, Codable, Sendable {
        case better
        case worse
        case cantTell = "can't tell yet"
    }

    public var metric: String
    public var champion: Side
    public var challenger: Side
    /// Paired on the same requests (a shadow), and on how many labelled ones.
    public var paired: Bool
    public var pairedRows: Int
    /// challenger − champion, and its 95 % interval (2.5th and 97.5th percentiles of `replicates` resamples).
    public var difference: Double?
    public var interval: [Double]?
    public var replicates: Int
    public var verdict: Verdict
    /// Labelled rows (per side; pairs when paired) the interval would need to exclude zero at today's difference.
    public var rowsNeeded: Int?
    public var explanation: String

    enum CodingKeys: String, CodingKey {
        case metric, champion, challenger, paired
        case pairedRows = "paired_rows"
        case difference, interval, replicates, verdict
        case rowsNeeded = "rows_needed"
        case explanation
    }

    /// Fewer labelled rows than this (per side, or pairs) are not judged.
    public static let minimumRows = 30

    /// One version's served rows with the ids of the requests they answered (a shadow's answer carries the id of the
    /// request it shadowed, so the two sides pair on it).
    public struct Rows: Sendable {
        public var version: String
        public var rows: [ServedPrediction]
        public var requestIDs: [String]
        public init(version: String, rows: [ServedPrediction], requestIDs: [String]) {
            self.version = version
            self.rows = rows
            self.requestIDs = requestIDs
        }
    }

    /// Compares `challenger` with `champion` on `metric` (any window metric computed from labelled rows).
    public static func compare(
        metric: String, champion: Rows, challenger: Rows, regression: Bool, positive: String? = nil,
        replicates: Int = 1000, seed: UInt64 = 7
    ) -> ReleaseComparison {
        func value(_ rows: [ServedPrediction]) -> Double? {
            Monitoring.summarize(
                rows, start: .distantPast, end: .distantFuture, regression: regression, positive: positive
            ).metrics[metric]
        }
        func labelled(_ side: Rows) -> [Int] {
            side.rows.indices.filter { side.rows[$0].status == "ok" && side.rows[$0].actual != nil }
        }
        func summary(_ side: Rows, _ labelledRows: [Int]) -> Side {
            let all = Monitoring.summarize(
                side.rows, start: .distantPast, end: .distantFuture, regression: regression, positive: positive)
            let refused = all.errors.values.reduce(0, +)
            return Side(
                version: side.version, answered: all.volume, refused: refused, labelled: labelledRows.count,
                metric: value(labelledRows.map { side.rows[$0] }),
                errorRate: all.volume + refused == 0 ? nil : all.errorRate, latencyP50: all.latencyP50,
                latencyP99: all.latencyP99)
        }
        let a = labelled(champion)
        let b = labelled(challenger)
        var out = ReleaseComparison(
            metric: metric, champion: summary(champion, a), challenger: summary(challenger, b), paired: false,
            pairedRows: 0, difference: nil, interval: nil, replicates: replicates, verdict: .cantTell, rowsNeeded: nil,
            explanation: "")
        // Requests both answered (one of them as a shadow) pair up.
        let pairs = Self.pairs(a.map { champion.requestIDs[$0] }, b.map { challenger.requestIDs[$0] }).map {
            (a[$0.0], b[$0.1])
        }
        out.paired = pairs.count >= minimumRows
        out.pairedRows = pairs.count
        let higher = higherIsBetter.contains(metric)
        let enough = out.paired || (a.count >= minimumRows && b.count >= minimumRows)
        guard enough else {
            out.rowsNeeded = minimumRows
            out.explanation =
                "too few labelled rows to judge: \(a.count) for \(champion.version), \(b.count) for \(challenger.version); at least \(minimumRows) each (or \(minimumRows) requests both answered)"
            return out
        }
        var rng = SeededGenerator(seed: seed)
        let point: Double?
        let bounds: (low: Double, high: Double, samples: Int)
        if out.paired {
            let first = pairs.map { champion.rows[$0.0] }
            let second = pairs.map { challenger.rows[$0.1] }
            point = value(second).flatMap { x in value(first).map { x - $0 } }
            bounds = Bootstrap.interval95(samples: replicates, rng: &rng) { rng in
                let draw = Bootstrap.resample(pairs.count, &rng)
                return value(draw.map { second[$0] }).flatMap { x in value(draw.map { first[$0] }).map { x - $0 } }
            }
        } else {
            let first = a.map { champion.rows[$0] }
            let second = b.map { challenger.rows[$0] }
            point = value(second).flatMap { x in value(first).map { x - $0 } }
            bounds = Bootstrap.interval95(samples: replicates, rng: &rng) { rng in
                let x = value(Bootstrap.resample(second.count, &rng).map { second[$0] })
                let y = value(Bootstrap.resample(first.count, &rng).map { first[$0] })
                return x.flatMap { x in y.map { x - $0 } }
            }
        }
        out.difference = point
        guard let point, bounds.samples >= replicates / 2 else {
            out.explanation = "\(metric) cannot be computed on these rows"
            return out
        }
        let low = bounds.low
        let high = bounds.high
        out.interval = [low, high]
        let n = out.paired ? pairs.count : min(a.count, b.count)
        let better = higher ? low > 0 : high < 0
        let worse = higher ? high < 0 : low > 0
        let direction = higher ? "higher is better" : "lower is better"
        let measured =
            "\(metric) \(Self.format(out.challenger.metric)) for \(challenger.version) against \(Self.format(out.champion.metric)) for \(champion.version): difference \(Self.format(point, signed: true)), 95 % interval [\(Self.format(low, signed: true)), \(Self.format(high, signed: true))] (\(direction); \(out.paired ? "\(pairs.count) requests both answered" : "\(a.count) and \(b.count) labelled rows of their own"))"
        if better || worse {
            out.verdict = better ? .better : .worse
            out.explanation = measured
        } else if point == 0 {
            out.explanation = "no difference measured: " + measured
        } else {
            // The interval narrows as 1/√n: it would leave zero out at about n·(half-width / |difference|)² rows.
            let half = (high - low) / 2
            let needed = Int((Double(n) * pow(half / abs(point), 2)).rounded(.up))
            out.rowsNeeded = max(needed, n + 1)
            out.explanation =
                measured
                + "; about \(out.rowsNeeded ?? 0) labelled \(out.paired ? "requests" : "rows per version") would tell at this difference"
        }
        return out
    }

    /// The requests both sides answered (a shadow answered the champion's): index pairs into `first` and `second`.
    public static func pairs(_ first: [String], _ second: [String]) -> [(Int, Int)] {
        var byRequest = [String: Int]()
        for (i, id) in first.enumerated() { byRequest[id] = i }
        return second.enumerated().compactMap { j, id in byRequest[id].map { ($0, j) } }
    }

    static func format(_ x: Double?, signed: Bool = false) -> String {
        guard let x else { return "—" }
        return String(format: signed ? "%+.4g" : "%.4g", x)
    }

    /// The comparison in a few lines, as `mlcycle compare` prints it and the monitoring page shows it.
    public var text: String {
        func ms(_ x: Double?) -> String { x.map { String(format: "%.1f ms", $0 * 1000) } ?? "—" }
        func line(_ s: Side, _ role: String) -> String {
            "\(role) \(s.version): \(s.answered) answered, \(s.refused) refused (error rate \(Self.format(s.errorRate))), p50 \(ms(s.latencyP50)), p99 \(ms(s.latencyP99)); \(s.labelled) labelled, \(metric) \(Self.format(s.metric))\n"
        }
        return line(champion, "champion  ") + line(challenger, "challenger") + "verdict: \(verdict.rawValue) — "
            + explanation + "\n"
    }
}
