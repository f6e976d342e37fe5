import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// ln Γ(x) from the C library (Foundation re-exports two overloads of `lgamma`; this picks the Double one).
@inline(__always) func logGamma(_ x: Double) -> Double {
    var sign: Int32 = 0
    return lgamma_r(x, &sign)
}

/// The two-sample statistics drift detection rests on, each defined as SciPy defines it (checked against SciPy on
/// fixtures: Tests/Fixtures/monitor). Inputs are plain arrays with missing values already removed.
public enum DriftStatistics {
    /// `scipy.stats.ks_2samp(a, b)` with its defaults (two-sided, method "auto"): the largest gap between the two
    /// empirical distribution functions, and its p-value — exact when neither sample has more than 10,000 values,
    /// otherwise from the distribution of the one-sample statistic at n = round(n₁n₂/(n₁+n₂)).
    public static func kolmogorovSmirnov(_ a: [Double], _ b: [Double]) -> (statistic: Double, pValue: Double) {
        // NaN has no place in an order (and x[i] == NaN never advances the walk below): it is left out.
        let x = a.filter { !$0.isNaN }.sorted()
        let y = b.filter { !$0.isNaN }.sorted()
        let n1 = x.count
        let n2 = y.count
        guard n1 > 0, n2 > 0 else { return (.nan, .nan) }
        // Walk both sorted samples; after each distinct value, compare F₁ and F₂ (ties move together).
        var i = 0
        var j = 0
        var maxUp = 0.0
        var maxDown = 0.0
        while i < n1 || j < n2 {
            let v = i < n1 && (j >= n2 || x[i] <= y[j]) ? x[i] : y[j]
            while i < n1 && x[i] == v { i += 1 }
            while j < n2 && y[j] == v { j += 1 }
            let gap = Double(i) / Double(n1) - Double(j) / Double(n2)
            maxUp = max(maxUp, gap)
            maxDown = max(maxDown, -gap)
        }
        var d = maxDown > maxUp ? maxDown : maxUp
        var p: Double
        if max(n1, n2) <= 10_000 {
            let g = gcd(n1, n2)
            let lcm = Double(n1 / g) * Double(n2)
            let h = Int((d * lcm).rounded(.toNearestOrEven))
            d = Double(h) / lcm
            if h == 0 { return (d, 1) }
            p = n1 == n2 ? probabilityOutsideSquare(n1, h) : probabilityOutsideInside(n1, n2, g, h)
            if !(0...1).contains(p) || p.isNaN { p = asymptoticPValue(d, n1, n2) }
        } else {
            p = asymptoticPValue(d, n1, n2)
        }
        return (d, min(max(p, 0), 1))
    }

    static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }

    /// Equal sample sizes: the share of lattice paths that leave the band |x − y| < h (Hodges).
    static func probabilityOutsideSquare(_ n: Int, _ h: Int) -> Double {
        var total = 0.0
        var k = n / h
        while k >= 0 {
            var p = 1.0
            for j in 0..<h { p = Double(n - k * h - j) * p / Double(n + k * h + j + 1) }
            total = p * (1 - total)
            k -= 1
        }
        return 2 * total
    }

    /// Unequal sizes: one minus the share of lattice paths from (0,0) to (m,n) that stay strictly inside
    /// |x/m − y/n| < h/lcm, computed directly as 1 − p column by column over a sliding window (Viehmann 2021's
    /// numerically stable form of Hodges' inside method).
    static func probabilityOutsideInside(_ m0: Int, _ n0: Int, _ g: Int, _ h: Int) -> Double {
        let (m, n) = m0 >= n0 ? (m0, n0) : (n0, m0)
        let mg = m / g
        let ng = n / g
        var minJ = 0
        var maxJ = min(Int((Double(h) / Double(mg)).rounded(.up)), n + 1)
        var currentLength = maxJ - minJ
        let length = min(2 * maxJ + 2, n + 1)
        var a = [Double](repeating: 1, count: max(length, 1))
        for k in minJ..<maxJ { a[k] = 0 }
        for i in 1...m {
            let lastMin = minJ
            let lastLength = currentLength
            minJ = min(max(Int((Double(ng * i - h) / Double(mg)).rounded(.down)) + 1, 0), n)
            maxJ = min(Int((Double(ng * i + h) / Double(mg)).rounded(.up)), n + 1)
            if maxJ <= minJ { return 1 }
            var value = minJ == 0 ? 0.0 : 1.0
            for jj in 0..<(maxJ - minJ) {
                let j = jj + minJ
                value = (a[jj + minJ - lastMin] * Double(i) + value * Double(j)) / Double(i + j)
                a[jj] = value
            }
            currentLength = maxJ - minJ
            if lastLength > currentLength {
                for k in (maxJ - minJ)..<min(maxJ - minJ + lastLength - currentLength, a.count) { a[k] = 1 }
            }
        }
        return a[maxJ - minJ - 1]
    }

    /// SciPy's large-sample route: `kstwo.sf(d, round(n₁n₂/(n₁+n₂)))`.
    static func asymptoticPValue(_ d: Double, _ n1: Int, _ n2: Int) -> Double {
        let m = Double(max(n1, n2))
        let k = Double(min(n1, n2))
        return kolmogorovSF(d, n: Int((m * k / (m + k)).rounded(.toNearestOrEven)))
    }

    /// P(Dₙ ≥ x) for the two-sided one-sample statistic, following SciPy's `kstwo.sf` (Simard & L'Ecuyer's
    /// choice of method): exact edge formulas, twice the one-sided tail where that is exact to double precision
    /// (n·x² ≥ 2.2), and the Pelz–Good expansion elsewhere (SciPy uses Durbin's matrix for n ≤ 100,000 and
    /// n·x^1.5 ≤ 1.4, where p is close to 1; the two agree there to about 1e-7).
    public static func kolmogorovSF(_ x: Double, n: Int) -> Double {
        let nd = Double(n)
        if x >= 1 { return 0 }
        if x <= 0 { return 1 }
        let t = nd * x
        if t <= 1 {
            if t <= 0.5 { return 1 }
            var logP = 0.0
            for i in 1...n { logP += log(Double(i) / nd * (2 * t - 1)) }
            return 1 - exp(logP)
        }
        if t >= nd - 1 { return 2 * pow(1 - x, nd) }
        if x >= 0.5 { return 2 * smirnovSF(n, x) }
        let nx2 = t * x
        if nx2 >= 370 { return 0 }
        if nx2 >= 2.2 { return min(max(2 * smirnovSF(n, x), 0), 1) }
        return 1 - pelzGoodCDF(n, x)
    }

    /// P(Dₙ⁺ ≥ x), the one-sided Smirnov tail, by the Birnbaum–Tingey sum (every term positive; summed in logs).
    static func smirnovSF(_ n: Int, _ x: Double) -> Double {
        let nd = Double(n)
        let last = Int((nd * (1 - x)).rounded(.down))
        var logs = [Double]()
        logs.reserveCapacity(last + 1)
        let logNFactorial = logGamma(nd + 1)
        for j in 0...max(last, 0) {
            let jd = Double(j)
            let below = 1 - x - jd / nd
            let above = x + jd / nd
            if below <= 0 && n - j > 0 { continue }
            let term =
                logNFactorial - logGamma(jd + 1) - logGamma(nd - jd + 1)
                + (n - j > 0 ? (nd - jd) * log(below) : 0) + (jd - 1) * log(above)
            logs.append(term)
        }
        guard let top = logs.max() else { return 0 }
        var sum = 0.0
        for l in logs { sum += exp(l - top) }
        return x * exp(top) * sum
    }

    /// The Pelz–Good asymptotic expansion of P(Dₙ ≤ x) (four terms in 1/√n).
    static func pelzGoodCDF(_ n: Int, _ x: Double) -> Double {
        let z = Double(n).squareRoot() * x
        let z2 = z * z
        let z3 = z2 * z
        let z4 = z2 * z2
        let z6 = z4 * z2
        let pi2 = Double.pi * Double.pi
        let pi4 = pi2 * pi2
        let pi6 = pi4 * pi2
        let qlog = -pi2 / 8 / z2
        if qlog < -708 { return 0 }
        let q = exp(qlog)
        let k1a = -z2
        let k1b = pi2 / 4
        let k2a = 6 * z6 + 2 * z4
        let k2b = (2 * z4 - 5 * z2) * pi2 / 4
        let k2c = pi4 * (1 - 2 * z2) / 16
        let k3d = pi6 * (5 - 30 * z2) / 64
        let k3c = pi4 * (-60 * z2 + 212 * z4) / 16
        let k3b = pi2 * (135 * z4 - 96 * z6) / 4
        let k3a = -30 * z6 - 90 * z4 * z4
        var k = [0.0, 0.0, 0.0, 0.0]
        let maxK = Int((16 * z / Double.pi).rounded(.up))
        for kk in stride(from: maxK, to: 0, by: -1) {
            let m = Double(2 * kk - 1)
            let m2 = m * m
            let m4 = m2 * m2
            let m6 = m4 * m2
            let power = pow(q, Double(8 * kk))
            let c = [1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6]
            for i in 0..<4 { k[i] = k[i] * power + c[i] }
        }
        let sqrt2pi = (2 * Double.pi).squareRoot()
        let divisors = [z, 6 * z4, 72 * z4 * z3, 6480 * z4 * z6]
        for i in 0..<4 { k[i] = k[i] * q * sqrt2pi / divisors[i] }
        let q2 = exp(-pi2 / 2 / z2)
        var sum2 = 0.0
        var sum3 = 0.0
        let s3z = 3.0.squareRoot() * z
        for kk in stride(from: maxK, to: 0, by: -1) {
            let kd = Double(kk)
            let k2 = kd * kd
            let qp = pow(q2, k2)
            sum2 += k2 * qp
            sum3 += (s3z + Double.pi * kd) * (s3z - Double.pi * kd) * k2 * qp
        }
        k[2] += sum2 * pi2 * sqrt2pi / (-36 * z3)
        k[3] += sum3 * pi2 * sqrt2pi / (216 * z6)
        var total = 0.0
        for i in 0..<4 { total += k[i] / pow(Double(n), Double(i) / 2) }
        return total
    }

    /// `scipy.stats.chi2_contingency` on the 2 × k table of reference and current counts (categories with no count
    /// on either side left out): the Pearson statistic (with Yates' correction when k = 2, as SciPy applies it
    /// for one degree of freedom), its p-value and the degrees of freedom.
    public static func chiSquareContingency(_ reference: [Double], _ current: [Double]) -> (
        statistic: Double, pValue: Double, dof: Int
    ) {
        var r = [Double]()
        var c = [Double]()
        for (a, b) in zip(reference, current) where a + b > 0 {
            r.append(a)
            c.append(b)
        }
        let k = r.count
        guard k >= 2 else { return (0, 1, 0) }
        let totalR = r.reduce(0, +)
        let totalC = c.reduce(0, +)
        let total = totalR + totalC
        guard totalR > 0, totalC > 0 else { return (0, 1, 0) }
        let dof = k - 1
        var statistic = 0.0
        for i in 0..<k {
            let column = r[i] + c[i]
            for (observed, rowTotal) in [(r[i], totalR), (c[i], totalC)] {
                let expected = rowTotal * column / total
                var o = observed
                if dof == 1 {
                    let direction = expected - o
                    o += min(0.5, abs(direction)) * (direction > 0 ? 1 : (direction < 0 ? -1 : 0))
                }
                statistic += (o - expected) * (o - expected) / expected
            }
        }
        return (statistic, chiSquareSF(statistic, dof: Double(dof)), dof)
    }

    /// Two-proportion z-test for a two-category column (Evidently's test for binary features): the pooled z and
    /// its two-sided p-value, 2·(1 − Φ(|z|)).
    public static func proportionZTest(reference: (hits: Double, total: Double), current: (hits: Double, total: Double))
        -> (statistic: Double, pValue: Double)
    {
        let p1 = reference.hits / reference.total
        let p2 = current.hits / current.total
        let pooled = (reference.hits + current.hits) / (reference.total + current.total)
        let se = (pooled * (1 - pooled) * (1 / reference.total + 1 / current.total)).squareRoot()
        guard se > 0 else { return (0, 1) }
        let z = (p1 - p2) / se
        return (z, erfc(abs(z) / 2.0.squareRoot()))
    }

    /// `scipy.stats.wasserstein_distance(a, b)`: the area between the two empirical distribution functions.
    public static func wasserstein(_ a: [Double], _ b: [Double]) -> Double {
        let x = a.sorted()
        let y = b.sorted()
        guard !x.isEmpty, !y.isEmpty else { return .nan }
        var all = x + y
        all.sort()
        var i = 0
        var j = 0
        var distance = 0.0
        for k in 0..<(all.count - 1) {
            let v = all[k]
            while i < x.count && x[i] <= v { i += 1 }
            while j < y.count && y[j] <= v { j += 1 }
            distance += abs(Double(i) / Double(x.count) - Double(j) / Double(y.count)) * (all[k + 1] - v)
        }
        return distance
    }

    /// `scipy.spatial.distance.jensenshannon(p, q)` (natural logarithm): each side normalised to sum to 1, then
    /// the square root of the mean Kullback–Leibler divergence of each from their average.
    public static func jensenShannon(_ p: [Double], _ q: [Double]) -> Double {
        let sp = p.reduce(0, +)
        let sq = q.reduce(0, +)
        guard sp > 0, sq > 0 else { return .nan }
        var divergence = 0.0
        for (a0, b0) in zip(p, q) {
            let a = a0 / sp
            let b = b0 / sq
            let m = (a + b) / 2
            if a > 0 { divergence += a * log(a / m) }
            if b > 0 { divergence += b * log(b / m) }
        }
        return (max(divergence, 0) / 2).squareRoot()
    }

    /// Population Stability Index over matching bins: Σ (cᵢ − rᵢ)·ln(cᵢ/rᵢ) on shares, an empty bin counted as
    /// 0.0001 of its side (as Evidently does) so that the sum stays finite.
    public static func populationStabilityIndex(_ reference: [Double], _ current: [Double], floor: Double = 0.0001)
        -> Double
    {
        let sr = reference.reduce(0, +)
        let sc = current.reduce(0, +)
        guard sr > 0, sc > 0 else { return .nan }
        var psi = 0.0
        for (a, b) in zip(reference, current) {
            let r = a > 0 ? a / sr : floor
            let c = b > 0 ? b / sc : floor
            psi += (c - r) * log(c / r)
        }
        return psi
    }

    /// P(χ²_dof ≥ x): the regularised upper incomplete gamma Q(dof/2, x/2) (series below a + 1, continued
    /// fraction above, as in Numerical Recipes' gammq).
    public static func chiSquareSF(_ x: Double, dof: Double) -> Double {
        guard x > 0 else { return 1 }
        return regularizedUpperGamma(dof / 2, x / 2)
    }

    static func regularizedUpperGamma(_ a: Double, _ x: Double) -> Double {
        let logPrefix = a * log(x) - x - logGamma(a)
        if x < a + 1 {
            var term = 1 / a
            var sum = term
            var ap = a
            for _ in 0..<10_000 {
                ap += 1
                term *= x / ap
                sum += term
                if abs(term) < abs(sum) * 1e-17 { break }
            }
            return max(0, 1 - sum * exp(logPrefix))
        }
        // Lentz's continued fraction.
        let tiny = 1e-300
        var b = x + 1 - a
        var c = 1 / tiny
        var d = 1 / b
        var h = d
        for i in 1..<10_000 {
            let an = -Double(i) * (Double(i) - a)
            b += 2
            d = an * d + b
            if abs(d) < tiny { d = tiny }
            c = b + an / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-16 { break }
        }
        return exp(logPrefix) * h
    }
}
