import MLCycleData

/// Pearson and Spearman correlations of numeric columns and Cramér's V of categorical ones,
/// each over the rows where both columns are present (pandas' pairwise-complete rule).
struct PairwiseStatistics: @unchecked Sendable {
    let columns: [Column]
    let numeric: [Profiler.NumericColumn?]
    let options: ProfileOptions

    func compute() -> Correlations {
        let numericIndices = columns.indices.filter { columns[$0].type.isNumeric && numeric[$0] != nil }
        let numericColumns = numericIndices.map { numeric[$0]! }
        // Average ranks over all rows, for columns with no missing value (the common case).
        let fullRanks: [[Double]?] = parallelMap(numericColumns.count) { k in
            numericColumns[k].validity == nil ? Self.averageRanks(numericColumns[k], keepingRowsOf: nil) : nil
        }
        let m = numericColumns.count
        let pairs = Self.upperTriangle(m)
        let values = parallelMap(pairs.count) { k -> (Double?, Double?) in
            let (i, j) = pairs[k]
            let a = numericColumns[i], b = numericColumns[j]
            let pearson = Self.pearson(a.values, b.values, a.validity, b.validity)
            let ra = fullRanks[i] ?? Self.averageRanks(a, keepingRowsOf: b.validity)
            let rb = fullRanks[j] ?? Self.averageRanks(b, keepingRowsOf: a.validity)
            let spearman = Self.pearson(ra, rb, a.validity, b.validity)
            return (pearson, spearman)
        }
        var pearson = identity(m), spearman = identity(m)
        for (k, (i, j)) in pairs.enumerated() {
            pearson[i][j] = values[k].0; pearson[j][i] = values[k].0
            spearman[i][j] = values[k].1; spearman[j][i] = values[k].1
        }
        // A column with fewer than two values has no defined correlation, not even with itself (as in pandas).
        for i in 0..<m {
            let c = numericColumns[i]
            let count = c.order.count
            let constant = count < 2 || c.values[Int(c.order[0])] == c.values[Int(c.order[count - 1])]
            if constant { pearson[i][i] = nil; spearman[i][i] = nil }
        }
        let names = numericIndices.map { columns[$0].name }

        let categorical = columns.indices.filter {
            guard Profiler.isCategorical(columns[$0]) else { return false }
            let levels = Self.usedLevels(columns[$0])
            return levels >= 1 && levels <= options.maxCategoricalLevels
        }
        let cpairs = Self.upperTriangle(categorical.count)
        let vs = parallelMap(cpairs.count) { k in Self.cramersV(columns[categorical[cpairs[k].0]], columns[categorical[cpairs[k].1]]) }
        var cramers = identity(categorical.count)
        for (k, (i, j)) in cpairs.enumerated() { cramers[i][j] = vs[k]; cramers[j][i] = vs[k] }
        for i in 0..<categorical.count where Self.usedLevels(columns[categorical[i]]) < 2 { cramers[i][i] = nil }
        return Correlations(pearson: CorrelationMatrix(columns: names, matrix: pearson),
                            spearman: CorrelationMatrix(columns: names, matrix: spearman),
                            cramersV: CorrelationMatrix(columns: categorical.map { columns[$0].name }, matrix: cramers))
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
        for r in 0..<codes.count where c.isValid(r) && !seen[Int(codes[r])] { seen[Int(codes[r])] = true; n += 1 }
        return n
    }

    /// Pearson's r over rows valid in both (two-pass, so it stays accurate for large offsets); nil when undefined.
    static func pearson(_ x: [Double], _ y: [Double], _ vx: [Bool]?, _ vy: [Bool]?) -> Double? {
        let n = x.count
        return x.withUnsafeBufferPointer { x in
            y.withUnsafeBufferPointer { y in
                // Raw buffers: this loop runs columns² / 2 times over every row.
                let both: (Int) -> Bool
                switch (vx, vy) {
                case (nil, nil): both = { _ in true }
                case (let a?, nil): both = { a[$0] }
                case (nil, let b?): both = { b[$0] }
                case (let a?, let b?): both = { a[$0] && b[$0] }
                }
                var count = 0
                var sx = 0.0, sy = 0.0
                for r in 0..<n where both(r) { sx += x[r]; sy += y[r]; count += 1 }
                guard count > 1 else { return nil }
                let mx = sx / Double(count), my = sy / Double(count)
                var sxy = 0.0, sxx = 0.0, syy = 0.0
                for r in 0..<n where both(r) {
                    let dx = x[r] - mx, dy = y[r] - my
                    sxy += dx * dy; sxx += dx * dx; syy += dy * dy
                }
                guard sxx > 0, syy > 0 else { return nil }
                return Swift.max(-1, Swift.min(1, sxy / (sxx * syy).squareRoot()))
            }
        }
    }

    /// Average ranks (1-based, ties share their mean rank) of a column's valid values, counting only rows where
    /// `keepingRowsOf` is true too; other rows get 0 and are never read.
    static func averageRanks(_ c: Profiler.NumericColumn, keepingRowsOf other: [Bool]?) -> [Double] {
        var ranks = [Double](repeating: 0, count: c.values.count)
        var kept = [Int32]()
        kept.reserveCapacity(c.order.count)
        if let other { for r in c.order where other[Int(r)] { kept.append(r) } } else { kept = c.order }
        var i = 0
        while i < kept.count {
            var j = i + 1
            let v = c.values[Int(kept[i])]
            while j < kept.count && c.values[Int(kept[j])] == v { j += 1 }
            let rank = Double(i + j + 1) / 2 // mean of ranks i+1 … j
            for k in i..<j { ranks[Int(kept[k])] = rank }
            i = j
        }
        return ranks
    }

    /// Cramér's V = sqrt(χ² / (n · (min(r, c) − 1))), χ² without continuity correction, over rows where both are
    /// present and categories that occur there (as `scipy.stats.contingency.association(method="cramer")`).
    static func cramersV(_ a: Column, _ b: Column) -> Double? {
        guard let (ca, la) = Profiler.categoryCodes(a), let (cb, lb) = Profiler.categoryCodes(b) else { return nil }
        var table = [Int](repeating: 0, count: la * lb)
        var n = 0
        for r in 0..<ca.count where a.isValid(r) && b.isValid(r) {
            table[Int(ca[r]) * lb + Int(cb[r])] += 1
            n += 1
        }
        guard n > 0 else { return nil }
        var rowSums = [Int](repeating: 0, count: la), colSums = [Int](repeating: 0, count: lb)
        for i in 0..<la { for j in 0..<lb { rowSums[i] += table[i * lb + j]; colSums[j] += table[i * lb + j] } }
        let rowsUsed = rowSums.filter { $0 > 0 }.count, colsUsed = colSums.filter { $0 > 0 }.count
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
