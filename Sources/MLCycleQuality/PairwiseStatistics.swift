import MLCycleData

/// Pearson and Spearman correlations of numeric columns and Cramér's V of categorical ones,
/// each over the rows where both columns are present (pandas' pairwise-complete rule).
struct PairwiseStatistics: @unchecked Sendable {
    let columns: [Column]
    let numeric: [Profiler.NumericColumn?]
    let options: ProfileOptions

    func compute() -> Correlations {
        let numericAll = columns.indices.filter { columns[$0].type.isNumeric && numeric[$0] != nil }
        // Columns with no missing value (the common case) are centred once, values and average ranks both,
        // so each pair of them costs one dot product.
        let centredAll: [Int: Centred] = Dictionary(
            uniqueKeysWithValues: zip(
                numericAll,
                parallelMap(numericAll.count) { k -> Centred? in
                    let c = numeric[numericAll[k]]!
                    return c.validity == nil ? Centred(values: c.values, ranks: c.ranks) : nil
                }
            )
            .compactMap { i, c in c.map { (i, $0) } })
        /// Pearson's and Spearman's r of two numeric columns (indices into `columns`).
        @Sendable func pair(_ i: Int, _ j: Int) -> (Double?, Double?) {
            if let a = centredAll[i], let b = centredAll[j] {
                return (
                    Self.correlation(a.values, a.mean, a.sumOfSquares, b.values, b.mean, b.sumOfSquares),
                    Self.correlation(a.ranks, a.rankMean, a.rankSumOfSquares, b.ranks, b.rankMean, b.rankSumOfSquares)
                )
            }
            return Self.pearsonAndSpearman(numeric[i]!, numeric[j]!)
        }
        let numericIndices = chosen(numericAll) { t, i in pair(t, i).0.map(abs) }
        let m = numericIndices.count
        let pairs = Self.upperTriangle(m)
        let values = parallelMap(pairs.count) { k in pair(numericIndices[pairs[k].0], numericIndices[pairs[k].1]) }
        var pearson = identity(m)
        var spearman = identity(m)
        for (k, (i, j)) in pairs.enumerated() {
            pearson[i][j] = values[k].0
            pearson[j][i] = values[k].0
            spearman[i][j] = values[k].1
            spearman[j][i] = values[k].1
        }
        // A column with fewer than two values has no defined correlation, not even with itself (as in pandas).
        for i in 0..<m {
            if numeric[numericIndices[i]]!.isConstant {
                pearson[i][i] = nil
                spearman[i][i] = nil
            }
        }
        let names = numericIndices.map { columns[$0].name }

        let categoricalAll = columns.indices.filter {
            guard Profiler.isCategorical(columns[$0]) else { return false }
            let levels = Self.usedLevels(columns[$0])
            return levels >= 1 && levels <= options.maxCategoricalLevels
        }
        let categorical = chosen(categoricalAll) { t, i in Self.cramersV(columns[t], columns[i]) }
        let cpairs = Self.upperTriangle(categorical.count)
        let vs = parallelMap(cpairs.count) { k in
            Self.cramersV(columns[categorical[cpairs[k].0]], columns[categorical[cpairs[k].1]])
        }
        var cramers = identity(categorical.count)
        for (k, (i, j)) in cpairs.enumerated() {
            cramers[i][j] = vs[k]
            cramers[j][i] = vs[k]
        }
        for i in 0..<categorical.count where Self.usedLevels(columns[categorical[i]]) < 2 { cramers[i][i] = nil }
        let leftOut = { (kept: Int, of: Int) in kept < of ? of - kept : nil }
        return Correlations(
            pearson: CorrelationMatrix(
                columns: names, matrix: pearson, columnsLeftOut: leftOut(m, numericAll.count)),
            spearman: CorrelationMatrix(
                columns: names, matrix: spearman, columnsLeftOut: leftOut(m, numericAll.count)),
            cramersV: CorrelationMatrix(
                columns: categorical.map { columns[$0].name }, matrix: cramers,
                columnsLeftOut: leftOut(categorical.count, categoricalAll.count)))
    }

    /// The columns (indices into `columns`) a matrix covers: all of `candidates` when they are no more than
    /// `options.correlationColumns`; else the target, when it is one of them, and the columns most associated with
    /// it by `strength(target, column)`; else the first ones in the table's order. All pairs of n columns take n²
    /// values, so a 5,000-column table would otherwise take gigabytes.
    func chosen(_ candidates: [Int], strength: @Sendable (Int, Int) -> Double?) -> [Int] {
        guard let limit = options.correlationColumns, candidates.count > limit else { return candidates }
        guard let name = options.target, let t = candidates.first(where: { columns[$0].name == name }) else {
            return Array(candidates.prefix(limit))
        }
        let others = candidates.filter { $0 != t }
        let strengths = parallelMap(others.count) { k in strength(t, others[k]) ?? -1 }
        let strongest = others.indices.sorted {
            strengths[$0] > strengths[$1] || (strengths[$0] == strengths[$1] && $0 < $1)
        }
        return ([t] + strongest.prefix(limit - 1).map { others[$0] }).sorted()
    }

    /// Pearson's and Spearman's r of two numeric columns over the rows where both are present.
    static func pearsonAndSpearman(_ a: Profiler.NumericColumn, _ b: Profiler.NumericColumn) -> (Double?, Double?) {
        let both = bothValid(a.validity, b.validity, count: a.values.count)
        return (pearson(a.values, b.values, both), spearman(a, b, both))
    }

    /// Index pairs (i, j) with i < j < m.
    static func upperTriangle(_ m: Int) -> [(Int, Int)] {
        var pairs = [(Int, Int)]()
        for i in 0..<m { for j in (i + 1)..<m { pairs.append((i, j)) } }
        return pairs
    }

    private func identity(_ m: Int) -> [[Double?]] {
        (0..<m).map { i in (0..<m).map { j in i == j ? 1.0 : nil } }
    }

    static func usedLevels(_ c: Column) -> Int {
        guard let (codes, levels) = Profiler.categoryCodes(c) else { return 0 }
        var seen = [Bool](repeating: false, count: levels)
        var n = 0
        for r in 0..<codes.count where c.isValid(r) && !seen[Int(codes[r])] {
            seen[Int(codes[r])] = true
            n += 1
        }
        return n
    }

    /// A complete column's mean and sum of squared deviations, for values and for average ranks.
    struct Centred: @unchecked Sendable {
        let values: [Double], mean: Double, sumOfSquares: Double
        let ranks: [Double], rankMean: Double, rankSumOfSquares: Double

        init(values v: [Double], ranks r: [Double]) {
            values = v
            ranks = r
            (mean, sumOfSquares) = Self.moments(v)
            (rankMean, rankSumOfSquares) = Self.moments(r)
        }

        static func moments(_ v: [Double]) -> (Double, Double) {
            guard !v.isEmpty else { return (0, 0) }
            let mean = Statistics.mean(v)
            var ss = 0.0
            for x in v { ss += (x - mean) * (x - mean) }
            return (mean, ss)
        }
    }

    /// r of two complete columns from their means and sums of squares: one pass over the rows.
    static func correlation(_ x: [Double], _ mx: Double, _ sxx: Double, _ y: [Double], _ my: Double, _ syy: Double)
        -> Double?
    {
        guard x.count > 1, sxx > 0, syy > 0 else { return nil }
        // Raw buffers: this runs once per pair of columns over every row.
        let sxy = x.withUnsafeBufferPointer { x in
            y.withUnsafeBufferPointer { y in
                var s0 = 0.0
                var s1 = 0.0
                var r = 0
                while r + 1 < x.count {
                    s0 += (x[r] - mx) * (y[r] - my)
                    s1 += (x[r + 1] - mx) * (y[r + 1] - my)
                    r += 2
                }
                if r < x.count { s0 += (x[r] - mx) * (y[r] - my) }
                return s0 + s1
            }
        }
        return Swift.max(-1, Swift.min(1, sxy / (sxx * syy).squareRoot()))
    }

    /// Rows where both columns are present.
    static func bothValid(_ a: [Bool]?, _ b: [Bool]?, count: Int) -> [Bool] {
        switch (a, b) {
        case (nil, nil): return [Bool](repeating: true, count: count)
        case (let a?, nil): return a
        case (nil, let b?): return b
        case (let a?, let b?): return zip(a, b).map { $0 && $1 }
        }
    }

    /// Pearson's r over the rows in `mask` (two-pass, so it stays accurate for large offsets); nil when undefined.
    static func pearson(_ x: [Double], _ y: [Double], _ mask: [Bool]) -> Double? {
        x.withUnsafeBufferPointer { x in
            y.withUnsafeBufferPointer { y in
                mask.withUnsafeBufferPointer { both in
                    // Raw buffers: this loop runs once per pair of columns over every row.
                    let n = x.count
                    var count = 0
                    var sx = 0.0
                    var sy = 0.0
                    for r in 0..<n where both[r] {
                        sx += x[r]
                        sy += y[r]
                        count += 1
                    }
                    guard count > 1 else { return nil }
                    let mx = sx / Double(count)
                    let my = sy / Double(count)
                    var sxy = 0.0
                    var sxx = 0.0
                    var syy = 0.0
                    for r in 0..<n where both[r] {
                        let dx = x[r] - mx
                        let dy = y[r] - my
                        sxy += dx * dy
                        sxx += dx * dx
                        syy += dy * dy
                    }
                    guard sxx > 0, syy > 0 else { return nil }
                    return Swift.max(-1, Swift.min(1, sxy / (sxx * syy).squareRoot()))
                }
            }
        }
    }

    /// Average ranks (1-based, ties share their mean rank) of a column's valid values, counting only rows where
    /// `keepingRowsOf` is true too; other rows get 0 and are never read.
    /// Spearman's ρ over the rows where both columns are present, from each column's own average ranks.
    ///
    /// Dropping the rows where the other column is missing lowers a row's rank by the number of dropped values
    /// below it plus half the dropped values equal to it, and leaves the k kept ranks with mean (k + 1) / 2;
    /// so one sequential pass suffices, with a table lookup for the shift.
    static func spearman(_ a: Profiler.NumericColumn, _ b: Profiler.NumericColumn, _ both: [Bool]) -> Double? {
        let sa = RankShift(a, droppedWhereMissing: b.validity)
        let sb = RankShift(b, droppedWhereMissing: a.validity)
        return a.ranks.withUnsafeBufferPointer { ar in
            b.ranks.withUnsafeBufferPointer { br in
                both.withUnsafeBufferPointer { both in
                    // Raw buffers: one pass over every row per pair of numeric columns.
                    var k = 0
                    for r in 0..<ar.count where both[r] { k += 1 }
                    guard k > 1 else { return nil }
                    let mean = Double(k + 1) / 2
                    var sxy = 0.0
                    var sxx = 0.0
                    var syy = 0.0
                    for r in 0..<ar.count where both[r] {
                        let x = ar[r] - sa.shift(ar[r]) - mean
                        let y = br[r] - sb.shift(br[r]) - mean
                        sxy += x * y
                        sxx += x * x
                        syy += y * y
                    }
                    guard sxx > 0, syy > 0 else { return nil }
                    return Swift.max(-1, Swift.min(1, sxy / (sxx * syy).squareRoot()))
                }
            }
        }
    }

    /// How much a column's average ranks drop when some of its rows are left out, looked up by rank.
    ///
    /// Ranks are monotone in value, so "dropped values below / equal to v" is "dropped ranks below / equal to
    /// rank(v)". The distinct dropped ranks are kept sorted with their counts, and a bucket table over the rank
    /// range finds the first candidate in O(1), so a lookup reads a few cache-resident entries.
    struct RankShift {
        private var unique: [Double] = []  // distinct dropped ranks, ascending
        private var before: [Int] = []  // dropped ranks below unique[i]
        private var count: [Int] = []  // dropped ranks equal to unique[i]
        private var bucketStart: [Int32] = []
        private var scale = 0.0
        private var total = 0

        init(_ c: Profiler.NumericColumn, droppedWhereMissing other: [Bool]?) {
            guard let other else { return }
            var dropped = [Double]()
            for r in 0..<c.ranks.count where !other[r] && (c.validity?[r] ?? true) { dropped.append(c.ranks[r]) }
            guard !dropped.isEmpty else { return }
            dropped.sort()
            total = dropped.count
            var i = 0
            while i < dropped.count {
                var j = i + 1
                while j < dropped.count && dropped[j] == dropped[i] { j += 1 }
                unique.append(dropped[i])
                before.append(i)
                count.append(j - i)
                i = j
            }
            let buckets = Swift.min(1 << 16, Swift.max(1, c.ranks.count))
            scale = Double(buckets) / Double(c.ranks.count + 1)
            bucketStart = [Int32](repeating: Int32(unique.count), count: buckets + 1)
            var u = unique.count - 1
            for bucket in stride(from: buckets, through: 0, by: -1) {
                // First unique rank whose bucket is >= this bucket.
                while u >= 0 && Int(unique[u] * scale) >= bucket { u -= 1 }
                bucketStart[bucket] = Int32(u + 1)
            }
        }

        @inline(__always)
        func shift(_ rank: Double) -> Double {
            if total == 0 { return 0 }
            var i = Int(bucketStart[Swift.min(Int(rank * scale), bucketStart.count - 1)])
            while i < unique.count && unique[i] < rank { i += 1 }
            guard i < unique.count else { return Double(total) }
            return Double(before[i]) + (unique[i] == rank ? Double(count[i]) / 2 : 0)
        }
    }

    /// Average ranks from a sort order; `sortedValue(k)` is the value at position k of that order.
    static func averageRanks(order: [Int32], sortedValue: (Int) -> Double, rows: Int, keepingRowsOf other: [Bool]?)
        -> [Double]
    {
        var ranks = [Double](repeating: 0, count: rows)
        // Walk the column in sorted order; only the rank writes jump around.
        ranks.withUnsafeMutableBufferPointer { ranks in
            order.withUnsafeBufferPointer { order in
                var runStart = 0  // position (among kept rows) where the current run of ties starts
                var runRows = [Int32]()  // rows in the current run
                var kept = 0
                var runValue = 0.0
                func closeRun() {
                    let rank = Double(runStart + kept + 1) / 2  // mean of ranks runStart+1 … kept
                    for r in runRows { ranks[Int(r)] = rank }
                    runRows.removeAll(keepingCapacity: true)
                    runStart = kept
                }
                for k in 0..<order.count {
                    let row = order[k]
                    if let other, !other[Int(row)] { continue }
                    let v = sortedValue(k)
                    if !runRows.isEmpty && v != runValue { closeRun() }
                    runValue = v
                    runRows.append(row)
                    kept += 1
                }
                if !runRows.isEmpty { closeRun() }
            }
        }
        return ranks
    }

    /// Cramér's V = sqrt(χ² / (n · (min(r, c) − 1))), χ² without continuity correction, over rows where both are
    /// present and categories that occur there (as `scipy.stats.contingency.association(method="cramer")`).
    static func cramersV(_ a: Column, _ b: Column) -> Double? {
        guard let (ca, la) = Profiler.categoryCodes(a), let (cb, lb) = Profiler.categoryCodes(b) else { return nil }
        var table = [Int](repeating: 0, count: la * lb)
        var n = 0
        table.withUnsafeMutableBufferPointer { t in
            ca.withUnsafeBufferPointer { ca in
                cb.withUnsafeBufferPointer { cb in
                    // Raw buffers: one pass over every row per pair of categorical columns.
                    if a.validity == nil && b.validity == nil {
                        for r in 0..<ca.count { t[Int(ca[r]) &* lb &+ Int(cb[r])] &+= 1 }
                        n = ca.count
                    } else {
                        let both = bothValid(a.validity, b.validity, count: ca.count)
                        both.withUnsafeBufferPointer { both in
                            for r in 0..<ca.count where both[r] {
                                t[Int(ca[r]) &* lb &+ Int(cb[r])] &+= 1
                                n &+= 1
                            }
                        }
                    }
                }
            }
        }
        guard n > 0 else { return nil }
        var rowSums = [Int](repeating: 0, count: la)
        var colSums = [Int](repeating: 0, count: lb)
        for i in 0..<la {
            for j in 0..<lb {
                rowSums[i] += table[i * lb + j]
                colSums[j] += table[i * lb + j]
            }
        }
        let rowsUsed = rowSums.filter { $0 > 0 }.count
        let colsUsed = colSums.filter { $0 > 0 }.count
        let k = Swift.min(rowsUsed, colsUsed)
        guard k > 1 else { return nil }
        var chi2 = 0.0
        for i in 0..<la where rowSums[i] > 0 {
            for j in 0..<lb where colSums[j] > 0 {
                let expected = Double(rowSums[i]) * Double(colSums[j]) / Double(n)
                let d = Double(table[i * lb + j]) - expected
                chi2 += d * d / expected
            }
        }
        return Swift.min(1, (chi2 / Double(n) / Double(k - 1)).squareRoot())
    }
}
