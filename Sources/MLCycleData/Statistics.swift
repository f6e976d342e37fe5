import Foundation

/// Basic statistics shared by the data layer, profiling and later stages; definitions follow numpy/pandas.
public enum Statistics {
    /// Sum with Neumaier compensation (accurate for long columns of mixed magnitude).
    public static func sum(_ values: [Double]) -> Double {
        values.withUnsafeBufferPointer { sum($0) }
    }

    public static func sum(_ values: UnsafeBufferPointer<Double>) -> Double {
        var s = 0.0
        var c = 0.0
        for v in values {
            let t = s + v
            if abs(s) >= abs(v) { c += (s - t) + v } else { c += (v - t) + s }
            s = t
        }
        return s + c
    }

    /// Arithmetic mean (`nan` for no values).
    public static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? .nan : sum(values) / Double(values.count)
    }

    /// Sample variance with `ddof` delta degrees of freedom (pandas' default is 1), two-pass.
    public static func variance(_ values: [Double], ddof: Int = 1) -> Double {
        let n = values.count
        guard n > ddof else { return .nan }
        let m = mean(values)
        var s = 0.0
        var c = 0.0
        for v in values {
            let d = (v - m) * (v - m)
            let t = s + d
            if abs(s) >= abs(d) { c += (s - t) + d } else { c += (d - t) + s }
            s = t
        }
        return (s + c) / Double(n - ddof)
    }

    public static func standardDeviation(_ values: [Double], ddof: Int = 1) -> Double {
        variance(values, ddof: ddof).squareRoot()
    }

    /// Quantile of sorted values with linear interpolation (numpy's and pandas' default method).
    public static func quantile(sorted values: [Double], _ q: Double) -> Double {
        values.withUnsafeBufferPointer { quantile(sorted: $0, q) }
    }

    public static func quantile(sorted values: UnsafeBufferPointer<Double>, _ q: Double) -> Double {
        let n = values.count
        guard n > 0 else { return .nan }
        let lower = quantilePosition(count: n, q).lower
        return quantile(count: n, around: values[lower], lower + 1 < n ? values[lower + 1] : nil, q)
    }

    /// Where the `q` quantile of `n` sorted values sits: its position q(n−1) and the index below it.
    public static func quantilePosition(count n: Int, _ q: Double) -> (position: Double, lower: Int) {
        let position = q * Double(n - 1)
        return (position, Int(position.rounded(.down)))
    }

    /// The `q` quantile of `n` sorted values from the value at its lower index (`a`) and the next one (`b`, nil past
    /// the end), interpolated as numpy does: what a database sorting the values can hand over.
    public static func quantile(count n: Int, around a: Double, _ b: Double?, _ q: Double) -> Double {
        let (position, lower) = quantilePosition(count: n, q)
        guard lower < n - 1, let b else { return a }
        let gamma = position - Double(lower)
        // numpy's _lerp: interpolate from the nearer end so the result stays inside [a, b].
        return gamma >= 0.5 ? b - (b - a) * (1 - gamma) : a + (b - a) * gamma
    }
}
