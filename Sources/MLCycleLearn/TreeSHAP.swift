import Foundation
import MLCycleData

/// Exact SHAP values of a tree by path-dependent TreeSHAP (Lundberg, Erion & Lee 2018, "Consistent individualized
/// feature attribution for tree ensembles", Algorithm 2), polynomial in the tree's depth. A feature left out of a
/// coalition follows both children of its splits, weighted by the training rows that went each way (the tree's
/// `nodeCount` and `leafCount`): the conditional expectation of the paper's Algorithm 1, computed for every
/// coalition at once.
enum TreeSHAP {
    /// One split feature on the path from the root (the first element stands for no feature): the share of the
    /// training rows that follow the path through its splits (`zero`: the feature unknown), whether this row does
    /// (`one`: 1 or 0), and the share of coalitions, by size, that the path's weight holds (`weight`).
    struct PathElement {
        var feature: Int32 = -1
        var zero = 0.0
        var one = 0.0
        var weight = 0.0
    }

    /// Why a tree cannot be explained, or nil: its covers (training rows per node) must have been recorded.
    static func problem(_ t: BoostedTree) -> String? {
        guard let nodes = t.nodeCount, let leaves = t.leafCount, nodes.count == t.feature.count,
            leaves.count * max(1, t.leafValues.count / max(1, leaves.count)) == t.leafValues.count
        else {
            return "this model was trained before mlcycle recorded how many training rows reached each node, which "
                + "exact contributions need: train it again"
        }
        return nil
    }

    /// The tree's expected output `c` of `width` per leaf: its leaf values averaged over the training rows.
    static func expectedValue(_ t: BoostedTree, width: Int, output c: Int) -> Double {
        let counts = t.leafCount ?? []
        let total = counts.reduce(0, +)
        guard total > 0 else { return 0 }
        var sum = 0.0
        for (leaf, count) in counts.enumerated() { sum += count * t.leafValues[leaf * width + c] }
        return sum / total
    }

    /// The most splits on any path from the root to a leaf.
    static func depth(_ t: BoostedTree) -> Int {
        func depth(_ child: Int32) -> Int {
            child < 0 ? 0 : 1 + max(depth(t.left[Int(child)]), depth(t.right[Int(child)]))
        }
        return t.feature.isEmpty ? 0 : depth(0)
    }

    /// Adds `scale` × the contributions of tree `t` (leaves of `width` values) for row `row` of `binned` to
    /// `phi[f * width + c]`. `path` is scratch space, grown here as the tree needs.
    static func add(
        _ t: BoostedTree, width: Int, binned: BinnedData, row: Int, scale: Double,
        into phi: UnsafeMutableBufferPointer<Double>, path: inout [PathElement]
    ) {
        guard !t.feature.isEmpty, let nodeCount = t.nodeCount, let leafCount = t.leafCount else { return }
        let d = depth(t)
        let needed = (d + 2) * (d + 3) / 2
        if path.count < needed { path = [PathElement](repeating: PathElement(), count: needed) }
        let n = binned.rows
        // Raw buffers: the recursion visits every node of every tree for each explained row.
        binned.codes.withUnsafeBufferPointer { codes in
            path.withUnsafeMutableBufferPointer { p in
                /// The covers (training rows) of a child reference.
                func cover(_ child: Int32) -> Double { child >= 0 ? nodeCount[Int(child)] : leafCount[Int(~child)] }

                /// Whether row `row` goes left at `node`, as prediction decides it.
                func goesLeft(_ node: Int) -> Bool {
                    let b = Int(codes[Int(t.feature[node]) * n + row])
                    if b == 0 { return t.missingLeft[node] }
                    let set = t.categorySet[node]
                    if set >= 0 { return t.categorySets[Int(set)][b >> 6] & (1 << UInt64(b & 63)) != 0 }
                    return b <= Int(t.binThreshold[node])
                }

                /// Appends a feature to the path of `length` elements at `s`, updating the coalition weights.
                func extend(_ s: Int, _ length: Int, zero: Double, one: Double, feature: Int32) {
                    p[s + length] = PathElement(feature: feature, zero: zero, one: one, weight: length == 0 ? 1 : 0)
                    let l = Double(length + 1)
                    for i in stride(from: length - 1, through: 0, by: -1) {
                        p[s + i + 1].weight += one * p[s + i].weight * Double(i + 1) / l
                        p[s + i].weight = zero * p[s + i].weight * Double(length - i) / l
                    }
                }

                /// Removes element `k` from the path of `length` elements at `s`, undoing its weight updates.
                func unwind(_ s: Int, _ length: Int, _ k: Int) {
                    let (zero, one) = (p[s + k].zero, p[s + k].one)
                    let last = length - 1
                    let l = Double(length)
                    var next = p[s + last].weight
                    for i in stride(from: last - 1, through: 0, by: -1) {
                        if one != 0 {
                            let kept = p[s + i].weight
                            p[s + i].weight = next * l / (Double(i + 1) * one)
                            next = kept - p[s + i].weight * zero * Double(last - i) / l
                        } else {
                            p[s + i].weight = p[s + i].weight * l / (zero * Double(last - i))
                        }
                    }
                    for i in k..<last {
                        p[s + i].feature = p[s + i + 1].feature
                        p[s + i].zero = p[s + i + 1].zero
                        p[s + i].one = p[s + i + 1].one
                    }
                }

                /// The total weight the path of `length` elements at `s` would have without element `k`.
                func unwoundWeight(_ s: Int, _ length: Int, _ k: Int) -> Double {
                    let (zero, one) = (p[s + k].zero, p[s + k].one)
                    let last = length - 1
                    let l = Double(length)
                    var next = p[s + last].weight
                    var total = 0.0
                    for i in stride(from: last - 1, through: 0, by: -1) {
                        if one != 0 {
                            let w = next * l / (Double(i + 1) * one)
                            total += w
                            next = p[s + i].weight - w * zero * Double(last - i) / l
                        } else if zero != 0 {
                            total += p[s + i].weight * l / (zero * Double(last - i))
                        }
                    }
                    return total
                }

                /// Visits `child` with the caller's path (`length` elements at `from`) extended by the split that
                /// led here; the path is copied into its own segment, after the caller's `callerLength` elements.
                func visit(
                    _ child: Int32, from: Int, length: Int, callerLength: Int, zero: Double, one: Double,
                    feature: Int32
                ) {
                    let s = from + callerLength
                    for i in 0..<length { p[s + i] = p[from + i] }
                    extend(s, length, zero: zero, one: one, feature: feature)
                    var length = length + 1
                    let extended = length
                    if child < 0 {
                        let leaf = Int(~child)
                        for k in 1..<length {
                            let e = p[s + k]
                            let w = unwoundWeight(s, length, k) * (e.one - e.zero) * scale
                            for c in 0..<width { phi[Int(e.feature) * width + c] += w * t.leafValues[leaf * width + c] }
                        }
                        return
                    }
                    let node = Int(child)
                    let feature = t.feature[node]
                    let (hot, cold) = goesLeft(node) ? (t.left[node], t.right[node]) : (t.right[node], t.left[node])
                    let total = nodeCount[node]
                    var (zeroIn, oneIn) = (1.0, 1.0)
                    // A feature split on again above: its earlier split is undone, and both are taken as one.
                    if let k = (1..<length).first(where: { p[s + $0].feature == feature }) {
                        (zeroIn, oneIn) = (p[s + k].zero, p[s + k].one)
                        unwind(s, length, k)
                        length -= 1
                    }
                    visit(
                        hot, from: s, length: length, callerLength: extended, zero: cover(hot) / total * zeroIn,
                        one: oneIn, feature: feature)
                    visit(
                        cold, from: s, length: length, callerLength: extended, zero: cover(cold) / total * zeroIn,
                        one: 0, feature: feature)
                }

                visit(0, from: 0, length: 0, callerLength: 0, zero: 1, one: 1, feature: -1)
            }
        }
    }
}

extension TreeSHAP {
    /// The contributions of `trees` (each adding `scale` × its leaf values of `width` to the outputs of its class:
    /// tree `i` to output `i % classes` when `width` is 1, to every output otherwise) for each row of `data`, the
    /// rows split across cores when there are many.
    static func contributions(
        _ trees: [BoostedTree], bins: [FeatureBins], features: [String], data: Dataset, classes: Int, width: Int,
        scale: Double, expected: [Double]
    ) throws -> Contributions {
        if let problem = trees.lazy.compactMap(problem).first { throw LearnError.unsupported(problem) }
        let binned = BinnedData(data, bins: bins, rowMajor: false)
        let n = data.rows
        let f = features.count
        let outputs = expected.count
        @Sendable func explain(_ rows: Range<Int>) -> [[Double]] {
            var out = [[Double]](repeating: [Double](repeating: 0, count: rows.count * f), count: outputs)
            var phi = [Double](repeating: 0, count: f * width)
            var path = [PathElement]()
            for r in rows {
                for (i, t) in trees.enumerated() {
                    for k in phi.indices { phi[k] = 0 }
                    phi.withUnsafeMutableBufferPointer {
                        add(t, width: width, binned: binned, row: r, scale: scale, into: $0, path: &path)
                    }
                    for c in 0..<width {
                        let o = width == 1 ? i % classes : c
                        let base = (r - rows.lowerBound) * f
                        for j in 0..<f { out[o][base + j] += phi[j * width + c] }
                    }
                }
            }
            return out
        }
        let chunks = n < 64 ? 1 : ProcessInfo.processInfo.activeProcessorCount * 4
        let parts = parallelMap(chunks) { k in explain(n * k / chunks..<n * (k + 1) / chunks) }
        return Contributions(
            features: features, expected: expected, values: (0..<outputs).map { o in parts.flatMap { $0[o] } })
    }
}

extension GBDTModel {
    /// Each feature's exact SHAP contribution to each row's raw score (the log-odds for a binary model, one output
    /// per class for a multiclass one), by path-dependent TreeSHAP: `expected` plus a row's contributions is its
    /// raw score.
    public func contributions(_ data: Dataset) throws -> Contributions {
        var expected = initialScores ?? [initialScore]
        let k = expected.count
        for (i, t) in trees.enumerated() { expected[i % k] += TreeSHAP.expectedValue(t, width: 1, output: 0) }
        return try TreeSHAP.contributions(
            trees, bins: bins, features: schema.features.map(\.name), data: data, classes: k, width: 1, scale: 1,
            expected: expected)
    }
}

extension ForestModel {
    /// Each feature's exact SHAP contribution to each row's output (the mean; the share of the second class; or,
    /// for three classes or more, each class's share), by path-dependent TreeSHAP: `expected` plus a row's
    /// contributions is its output.
    public func contributions(_ data: Dataset) throws -> Contributions {
        let w = leafWidth
        let count = Double(max(1, trees.count))
        let expected = (0..<w).map { c in
            trees.reduce(0) { $0 + TreeSHAP.expectedValue($1, width: w, output: c) } / count
        }
        return try TreeSHAP.contributions(
            trees, bins: bins, features: schema.features.map(\.name), data: data, classes: 1, width: w,
            scale: 1 / count, expected: expected)
    }
}
