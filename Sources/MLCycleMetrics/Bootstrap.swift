import MLCycleData

/// Percentile bootstrap intervals.
public enum Bootstrap {
    /// The 2.5th and 97.5th percentiles of `statistic` over `samples` resamples (`statistic` draws its own resample
    /// from the generator it is given; a resample it cannot measure returns nil or a non-finite value and is left
    /// out), and how many resamples were measured.
    public static func interval95(
        samples: Int, rng: inout SeededGenerator, _ statistic: (inout SeededGenerator) -> Double?
    ) -> (low: Double, high: Double, samples: Int) {
        var values = [Double]()
        values.reserveCapacity(max(1, samples))
        for _ in 0..<max(1, samples) {
            if let v = statistic(&rng), v.isFinite { values.append(v) }
        }
        values.sort()
        let q = { (p: Double) in values.isEmpty ? Double.nan : Statistics.quantile(sorted: values, p) }
        return (q(0.025), q(0.975), values.count)
    }

    /// `n` row indices drawn with replacement.
    public static func resample(_ n: Int, _ rng: inout SeededGenerator) -> [Int] {
        (0..<n).map { _ in Int(rng.next(upperBound: UInt64(n))) }
    }
}
