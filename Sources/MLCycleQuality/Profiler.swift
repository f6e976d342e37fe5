import Foundation
import MLCycleData

/// What to compute in a profile.
public struct ProfileOptions: Sendable {
    /// A column whose strongest associations with the other columns are listed.
    public var target: String?
    public var histogramBins: Int
    public var topCount: Int
    /// Categorical columns with more distinct values than this are left out of Cramér's V (IDs, free text).
    public var maxCategoricalLevels: Int
    /// How many numeric (and, apart, categorical) columns the correlation matrices cover at most; nil for all. With
    /// more, the matrices keep the target and the columns most associated with it, or the first ones without a
    /// target; the target's own associations always cover every column.
    public var correlationColumns: Int?

    public init(
        target: String? = nil, histogramBins: Int = 20, topCount: Int = 10, maxCategoricalLevels: Int = 1000,
        correlationColumns: Int? = ProfileOptions.defaultCorrelationColumns
    ) {
        self.target = target
        self.histogramBins = histogramBins
        self.topCount = topCount
        self.maxCategoricalLevels = maxCategoricalLevels
        self.correlationColumns = correlationColumns
    }

    /// The default bound of `correlationColumns`: 100 columns, 10,000 values a matrix.
    public static let defaultCorrelationColumns = 100
}

/// Computes the exploratory profile of a table; definitions match pandas (`describe`, `quantile` with linear
/// interpolation, `corr` with pairwise-complete rows) and scipy (Cramér's V).
public enum Profiler {
    public static func profile(_ table: Table, options: ProfileOptions = ProfileOptions()) throws -> TableProfile {
        if let target = options.target { _ = try table.column(target) }
        guard options.histogramBins > 0 else {
            throw DataError.invalidArgument("the number of histogram bins must be positive")
        }
        if let n = options.correlationColumns, n < 2 {
            throw DataError.invalidArgument(
                "correlations need at least 2 columns (top:2), not \(n); 'all' for every one")
        }
        let columns = table.columns
        // Per column, in parallel: the statistics, plus the sort order numeric columns need for ranks.
        let results = parallelMap(columns.count) { i in profileColumn(columns[i], options: options) }
        let pairs = PairwiseStatistics(columns: columns, numeric: results.map(\.numeric), options: options)
        // The duplicate scan is independent of the pairwise work; run both at once.
        let (duplicates, correlations) = inParallel({ table.duplicateRowCount() }, { pairs.compute() })
        var target: TargetProfile? = nil
        if let name = options.target {
            target = targetProfile(name, columns: columns, numeric: results.map(\.numeric), correlations: correlations)
        }
        return TableProfile(
            rows: table.rowCount, duplicateRows: duplicates, columns: results.map(\.profile),
            correlations: correlations, target: target)
    }

    /// A numeric column's values and order, kept for the pairwise statistics.
    struct NumericColumn: @unchecked Sendable {
        let values: [Double]
        let validity: [Bool]?
        /// Average rank of each valid row among the valid values (0 where missing).
        let ranks: [Double]
        /// Fewer than two distinct values: no correlation is defined.
        let isConstant: Bool
    }

    // MARK: One column

    static func profileColumn(_ col: Column, options: ProfileOptions) -> (
        profile: ColumnProfile, numeric: NumericColumn?
    ) {
        let missing = col.missingCount
        var p = ColumnProfile(
            name: col.name, type: col.type, count: col.count - missing, missing: missing, distinct: 0,
            mean: nil, std: nil, min: nil, q05: nil, q25: nil, median: nil, q75: nil, q95: nil, max: nil,
            zeros: nil, negatives: nil, outliers: nil, histogram: nil, top: [])
        switch col.storage {
        case .string(let codes, let dict):
            var counts = [Int](repeating: 0, count: dict.count)
            counts.withUnsafeMutableBufferPointer { cnt in
                codes.withUnsafeBufferPointer { cs in
                    if let valid = col.validity {
                        for r in 0..<cs.count where valid[r] { cnt[Int(cs[r])] += 1 }
                    } else {
                        for r in 0..<cs.count { cnt[Int(cs[r])] += 1 }
                    }
                }
            }
            p.distinct = counts.reduce(0) { $0 + ($1 > 0 ? 1 : 0) }
            p.top = topCounts(
                counts.indices.lazy.filter { counts[$0] > 0 }.map { (dict[$0], counts[$0]) }, k: options.topCount,
                less: <)
            return (p, nil)
        case .bool(let v):
            var trues = 0
            for r in 0..<v.count where v[r] && col.isValid(r) { trues += 1 }
            let falses = p.count - trues
            p.distinct = (trues > 0 ? 1 : 0) + (falses > 0 ? 1 : 0)
            p.top = [ValueCount(value: "true", count: trues), ValueCount(value: "false", count: falses)]
                .filter { $0.count > 0 }.sorted { $0.count > $1.count || ($0.count == $1.count && $0.value > $1.value) }
            if p.count > 0 { p.mean = .number(Double(trues) / Double(p.count)) }
            return (p, nil)
        case .float64, .int64, .date, .timestamp:
            return profileNumeric(col, p, options: options)
        }
    }

    static func profileNumeric(_ col: Column, _ base: ColumnProfile, options: ProfileOptions) -> (
        profile: ColumnProfile, numeric: NumericColumn?
    ) {
        var p = base
        let values = col.doubles() ?? []
        let validity = col.validity
        // Sort order of the valid rows: radix sort on order-preserving keys (exact for int64 too).
        var validRows = [Int32]()
        var keys = [UInt64]()
        keys.reserveCapacity(p.count)
        if validity != nil { validRows.reserveCapacity(p.count) }
        switch col.storage {
        case .int64(let v), .date(let v), .timestamp(let v):
            for r in 0..<v.count where validity?[r] ?? true {
                keys.append(RadixSort.key(v[r]))
                if validity != nil { validRows.append(Int32(r)) }
            }
        default:
            for r in 0..<values.count where validity?[r] ?? true {
                keys.append(RadixSort.key(values[r]))
                if validity != nil { validRows.append(Int32(r)) }
            }
        }
        var order = RadixSort.argsort(keys)
        keys = []
        if validity != nil { order = order.map { validRows[Int($0)] } }
        let sorted = order.map { values[Int($0)] }
        let isTemporal = col.type.isTemporal
        func stat(_ v: Double) -> ProfileValue? {
            if v.isNaN { return nil }
            return isTemporal ? .text(temporalText(v, col.type)) : .number(v)
        }
        // Ranks for Spearman are taken now, while the sorted values are at hand; they are not kept.
        let numeric =
            col.type.isNumeric
            ? NumericColumn(
                values: values, validity: validity,
                ranks: PairwiseStatistics.averageRanks(
                    order: order, sortedValue: { sorted[$0] }, rows: values.count, keepingRowsOf: nil),
                isConstant: sorted.count < 2 || sorted[0] == sorted[sorted.count - 1])
            : nil
        guard !sorted.isEmpty else { return (p, numeric) }

        let mean = Statistics.mean(sorted)
        p.mean = stat(mean)
        let sd = Statistics.standardDeviation(sorted)
        if !sd.isNaN { p.std = col.type == .timestamp ? sd / 1e6 : sd }
        let q = [0.05, 0.25, 0.5, 0.75, 0.95].map { Statistics.quantile(sorted: sorted, $0) }
        p.min = stat(sorted[0])
        p.max = stat(sorted[sorted.count - 1])
        p.q05 = stat(q[0])
        p.q25 = stat(q[1])
        p.median = stat(q[2])
        p.q75 = stat(q[3])
        p.q95 = stat(q[4])

        // Distinct values and the most frequent ones, from runs of equal values in sorted order.
        var distinct = 0
        var topRuns = [(Double, Int)]()  // at most k, by count descending then value ascending
        var i = 0
        let k = options.topCount
        while i < sorted.count {
            var j = i + 1
            while j < sorted.count && sorted[j] == sorted[i] { j += 1 }
            distinct += 1
            let run = (sorted[i], j - i)
            if k > 0, topRuns.count < k || run.1 > topRuns[topRuns.count - 1].1 {
                let at = topRuns.firstIndex { $0.1 < run.1 } ?? topRuns.count
                topRuns.insert(run, at: at)
                if topRuns.count > k { topRuns.removeLast() }
            }
            i = j
        }
        p.distinct = distinct
        p.top = topRuns.map {
            ValueCount(value: isTemporal ? temporalText($0.0, col.type) : valueText($0.0, col.type), count: $0.1)
        }

        if !isTemporal {
            p.zeros = lowerBound(sorted, Double.leastNonzeroMagnitude) - lowerBound(sorted, 0)
            p.negatives = lowerBound(sorted, 0)
            let iqr = q[3] - q[1]
            let low = q[1] - 1.5 * iqr
            let high = q[3] + 1.5 * iqr
            p.outliers = lowerBound(sorted, low) + (sorted.count - upperBound(sorted, high))
        }
        p.histogram = histogram(sorted: sorted, bins: options.histogramBins)
        return (p, numeric)
    }

    static func valueText(_ v: Double, _ type: DataType) -> String {
        type == .int64 ? String(Int64(v)) : formatDouble(v)
    }

    static func temporalText(_ v: Double, _ type: DataType) -> String {
        if type == .date {
            if v == v.rounded(.down) { return CalendarDate.isoString(days: Int64(v)) }
            return CalendarDate.isoString(microseconds: Int64((v * Double(CalendarDate.microsecondsPerDay)).rounded()))
        }
        return CalendarDate.isoString(microseconds: Int64(v.rounded()))
    }

    /// The `k` entries with the highest counts (ties broken by `less` on the value).
    static func topCounts<S: Sequence>(_ entries: S, k: Int, less: (String, String) -> Bool) -> [ValueCount]
    where S.Element == (String, Int) {
        entries.sorted { $0.1 > $1.1 || ($0.1 == $1.1 && less($0.0, $1.0)) }.prefix(k).map {
            ValueCount(value: $0.0, count: $0.1)
        }
    }

    /// First index with `sorted[i] >= x`.
    static func lowerBound(_ sorted: [Double], _ x: Double) -> Int {
        var lo = 0
        var hi = sorted.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sorted[mid] < x { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// First index with `sorted[i] > x`.
    static func upperBound(_ sorted: [Double], _ x: Double) -> Int {
        var lo = 0
        var hi = sorted.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sorted[mid] <= x { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// numpy's `histogram(values, bins)`: equal-width bins from min to max, each `[left, right)` but the last closed.
    static func histogram(sorted: [Double], bins: Int) -> Histogram? {
        guard var lo = sorted.first, var hi = sorted.last, lo.isFinite, hi.isFinite else { return nil }
        if lo == hi {
            lo -= 0.5
            hi += 0.5
        }
        let step = (hi - lo) / Double(bins)
        var edges = (0...bins).map { Double($0) * step + lo }  // as numpy.linspace computes them
        edges[bins] = hi
        var counts = [Int]()
        var previous = 0
        for b in 1..<bins {
            let next = lowerBound(sorted, edges[b])
            counts.append(next - previous)
            previous = next
        }
        counts.append(sorted.count - previous)
        return Histogram(edges: edges, counts: counts)
    }

    // MARK: Target

    static func targetProfile(_ name: String, columns: [Column], numeric: [NumericColumn?], correlations: Correlations)
        -> TargetProfile
    {
        guard let ti = columns.firstIndex(where: { $0.name == name }) else {
            return TargetProfile(name: name, associations: [])
        }
        let target = columns[ti]
        // Every column is associated with the target, including those the matrices leave out.
        let inMatrix = Set(correlations.pearson.columns)
        var out = [TargetAssociation]()
        for (i, c) in columns.enumerated() where i != ti {
            if target.type.isNumeric && c.type.isNumeric {
                let (pearson, spearman) =
                    inMatrix.contains(name) && inMatrix.contains(c.name)
                    ? (correlations.pearson.value(name, c.name), correlations.spearman.value(name, c.name))
                    : numeric[ti].flatMap { t in numeric[i].map { PairwiseStatistics.pearsonAndSpearman(t, $0) } }
                        ?? (nil, nil)
                if let r = pearson {
                    out.append(.init(column: c.name, measure: "pearson", value: r))
                }
                if let r = spearman {
                    out.append(.init(column: c.name, measure: "spearman", value: r))
                }
            } else if target.type.isNumeric && isCategorical(c) {
                if let eta = correlationRatio(categories: c, values: target) {
                    out.append(.init(column: c.name, measure: "correlation_ratio", value: eta))
                }
            } else if isCategorical(target) && c.type.isNumeric {
                if let eta = correlationRatio(categories: target, values: c) {
                    out.append(.init(column: c.name, measure: "correlation_ratio", value: eta))
                }
            } else if isCategorical(target) && isCategorical(c) {
                if let v = correlations.cramersV.value(name, c.name) ?? PairwiseStatistics.cramersV(target, c) {
                    out.append(.init(column: c.name, measure: "cramers_v", value: v))
                }
            }
        }
        out.sort { abs($0.value) > abs($1.value) || (abs($0.value) == abs($1.value) && $0.column < $1.column) }
        return TargetProfile(name: name, associations: out)
    }

    static func isCategorical(_ c: Column) -> Bool { c.type == .string || c.type == .bool }

    /// Category codes (strings, booleans) of a column.
    static func categoryCodes(_ c: Column) -> (codes: [UInt32], levels: Int)? {
        switch c.storage {
        case .string(let codes, let dict): return (codes, dict.count)
        case .bool(let v): return (v.map { $0 ? 1 : 0 }, 2)
        default: return nil
        }
    }

    /// η = sqrt(SS_between / SS_total) of `values` grouped by `categories`, over rows where both are present.
    public static func correlationRatio(categories: Column, values: Column) -> Double? {
        guard let (codes, levels) = categoryCodes(categories), let ys = values.doubles() else { return nil }
        var sums = [Double](repeating: 0, count: levels)
        var counts = [Int](repeating: 0, count: levels)
        var rows = [Int]()
        for r in 0..<ys.count where categories.isValid(r) && values.isValid(r) {
            rows.append(r)
            sums[Int(codes[r])] += ys[r]
            counts[Int(codes[r])] += 1
        }
        guard rows.count > 1 else { return nil }
        let mean = Statistics.mean(rows.map { ys[$0] })
        var total = 0.0
        for r in rows { total += (ys[r] - mean) * (ys[r] - mean) }
        var between = 0.0
        for g in 0..<levels where counts[g] > 0 {
            let m = sums[g] / Double(counts[g])
            between += Double(counts[g]) * (m - mean) * (m - mean)
        }
        guard total > 0 else { return nil }
        return Swift.min(1, (between / total).squareRoot())
    }
}
