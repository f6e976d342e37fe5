import Foundation
import MLCycleData

/// How one feature's values map to histogram bins (a `UInt8`): bin 0 is missing, 1… are values.
///
/// Numeric features get up to `maxBin` bins with equal counts of training values (each distinct value its own
/// bin when there are few); categorical ones a bin per level, the most frequent `maxBin - 1` levels, the rest sharing
/// one "other" bin.
public struct FeatureBins: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case numeric, categorical }
    public var kind: Kind
    /// Numeric: bin b (1-based) holds values v with upper[b-2] < v ≤ upper[b-1]; the last bin is unbounded above.
    public var upperBounds: [Double]
    /// Categorical: the bin of each level code.
    public var levelBins: [UInt8]
    /// Number of bins including the missing bin 0.
    public var count: Int

    static func numeric(_ values: [Double], valid: [Bool]?, maxBin: Int, sampleLimit: Int = 200_000) -> FeatureBins {
        var sample = [Double]()
        sample.reserveCapacity(min(values.count, sampleLimit))
        let step = max(1, values.count / sampleLimit)
        var r = 0
        while r < values.count {
            if valid?[r] ?? true { sample.append(values[r]) }
            r += step
        }
        sample.sort()
        // Distinct values with their counts.
        var distinct = [Double]()
        var counts = [Int]()
        for v in sample {
            if let last = distinct.last, last == v {
                counts[counts.count - 1] += 1
            } else {
                distinct.append(v)
                counts.append(1)
            }
        }
        var upper = [Double]()
        if distinct.count <= maxBin {
            for i in 0..<max(0, distinct.count - 1) { upper.append((distinct[i] + distinct[i + 1]) / 2) }
        } else {
            // Greedy equal-frequency bins over distinct values: close a bin once it holds its share of what is left.
            var remaining = sample.count
            var binsLeft = maxBin
            var inBin = 0
            for i in 0..<(distinct.count - 1) {
                inBin += counts[i]
                let target = Double(remaining) / Double(binsLeft)
                if Double(inBin) >= target && binsLeft > 1 {
                    upper.append((distinct[i] + distinct[i + 1]) / 2)
                    remaining -= inBin
                    binsLeft -= 1
                    inBin = 0
                }
            }
        }
        return FeatureBins(kind: .numeric, upperBounds: upper, levelBins: [], count: upper.count + 2)
    }

    static func categorical(_ codes: [Int32], levels: Int, maxBin: Int) -> FeatureBins {
        var counts = [Int](repeating: 0, count: levels)
        for c in codes where c >= 0 { counts[Int(c)] += 1 }
        let capacity = max(1, min(maxBin, 255) - 1)
        let byFrequency = (0..<levels).sorted { counts[$0] > counts[$1] || (counts[$0] == counts[$1] && $0 < $1) }
        var bins = [UInt8](repeating: 0, count: levels)
        let own = min(levels, levels > capacity + 1 ? capacity : levels)
        for (rank, level) in byFrequency.enumerated() {
            bins[level] = UInt8(rank < own ? rank + 1 : own + 1)  // the rarest levels share an "other" bin
        }
        let used = levels > own ? own + 1 : own
        return FeatureBins(kind: .categorical, upperBounds: [], levelBins: bins, count: used + 1)
    }

    /// The bin of a numeric value.
    @inline(__always)
    func bin(_ v: Double) -> UInt8 {
        var lo = 0
        var hi = upperBounds.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if upperBounds[mid] < v { lo = mid + 1 } else { hi = mid }
        }
        return UInt8(lo + 1)
    }
}

/// A dataset turned into bins, one column of `UInt8` per feature (feature-major), for histogram building.
struct BinnedData {
    let rows: Int
    let bins: [FeatureBins]
    /// `codes[f * rows + r]` (feature-major: partitioning a leaf reads one feature).
    let codes: [UInt8]
    /// `rowCodes[r * features + f]` (row-major: building a histogram reads all of a row's bins at once).
    let rowCodes: [UInt8]

    /// `rowMajor: false` skips `rowCodes` (prediction reads `codes` only). Fewer than 1024 rows are binned on the
    /// calling thread: waking other cores costs more than it saves (a served request is often one row).
    init(_ data: Dataset, bins: [FeatureBins], rowMajor: Bool = true) {
        rows = data.rows
        self.bins = bins
        var codes = [UInt8](repeating: 0, count: data.rows * bins.count)
        let n = data.rows
        codes.withUnsafeMutableBufferPointer { out in
            let base = SendablePointer(out.baseAddress!)
            let binFeature: @Sendable (Int) -> Void = { f in
                let o = base.pointer + f * n
                switch data.columns[f] {
                case .numeric(let v, let valid):
                    for r in 0..<n { o[r] = (valid?[r] ?? true) ? bins[f].bin(v[r]) : 0 }
                case .categorical(let c, _):
                    let map = bins[f].levelBins
                    for r in 0..<n { o[r] = c[r] >= 0 && Int(c[r]) < map.count ? map[Int(c[r])] : 0 }
                }
            }
            if n < 1024 { for f in 0..<bins.count { binFeature(f) } } else { parallelFor(bins.count, binFeature) }
        }
        self.codes = codes
        let features = bins.count
        guard rowMajor else {
            rowCodes = []
            return
        }
        var rowCodes = [UInt8](repeating: 0, count: data.rows * features)
        rowCodes.withUnsafeMutableBufferPointer { out in
            codes.withUnsafeBufferPointer { codes in
                for f in 0..<features {
                    for r in 0..<n { out[r * features + f] = codes[f * n + r] }
                }
            }
        }
        self.rowCodes = rowCodes
    }
}

/// A raw pointer handed to parallel tasks that write disjoint parts of its memory.
struct SendablePointer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { pointer = p }
}
