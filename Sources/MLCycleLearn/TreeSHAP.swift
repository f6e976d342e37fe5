import Foundation
import MLCycleData

/// Exact SHAP values of a tree: the values of path-dependent TreeSHAP (Lundberg, Erion & Lee 2018, "Consistent
/// individualized feature attribution for tree ensembles", Algorithm 2). A feature left out of a coalition follows
/// both children of its splits, weighted by the training rows that went each way (the tree's `nodeCount` and
/// `leafCount`): the conditional expectation of the paper's Algorithm 1, for every coalition at once.
///
/// Computed leaf by leaf: for a leaf of value v whose path splits on the distinct features j (each with z_j, the share
/// of training rows following the path through j's splits, and o_j, 1 when the row follows all of them, else 0),
/// feature i receives v · (o_i − z_i) · ∫₀¹ Π_{j≠i} (t·o_j + (1−t)·z_j) dt — Algorithm 2's coalition weights
/// k!(d−k−1)!/d! written as the Beta integral ∫₀¹ t^k (1−t)^(d−k−1) dt (as Linear TreeSHAP, Yu et al. 2022, does).
/// The integrand is a polynomial of degree d−1, so Gauss–Legendre quadrature with ⌈d/2⌉ points gives it exactly.
/// Each leaf's path is prepared once per model; a row then costs about 1.5·d² multiplications per leaf, without the
/// algorithm's recursion, path copies and divisions.
enum TreeSHAP {
    /// Every leaf's path from the root, as the contributions need it.
    struct Paths: Sendable {
        /// Per leaf, its distinct features' entries: `entryStart[l]..<entryStart[l + 1]`.
        var entryStart: [Int32] = [0]
        /// Per entry: the feature, its zero fraction, and its splits (`splitStart[e]..<splitStart[e + 1]`).
        var feature: [Int32] = []
        var zero: [Double] = []
        var splitStart: [Int32] = [0]
        /// Per split on a path: the node, and whether the path goes left there.
        var splitNode: [Int32] = []
        var splitLeft: [Bool] = []
        /// The most distinct features on one leaf's path.
        var longest = 0

        init(_ t: BoostedTree) {
            guard !t.feature.isEmpty, let nodeCount = t.nodeCount, let leafCount = t.leafCount else {
                entryStart = [Int32](repeating: 0, count: t.leafValues.isEmpty ? 1 : 2)
                return
            }
            let leaves = leafCount.count
            var leafEntries = [[(feature: Int32, zero: Double, splits: [(Int32, Bool)])]](repeating: [], count: leaves)
            func cover(_ child: Int32) -> Double { child >= 0 ? nodeCount[Int(child)] : leafCount[Int(~child)] }
            var path = [(node: Int32, left: Bool)]()
            func walk(_ child: Int32) {
                guard child >= 0 else {
                    var entries = [(feature: Int32, zero: Double, splits: [(Int32, Bool)])]()
                    for (node, left) in path {
                        let f = t.feature[Int(node)]
                        let next = left ? t.left[Int(node)] : t.right[Int(node)]
                        let share = cover(next) / nodeCount[Int(node)]
                        if let k = entries.firstIndex(where: { $0.feature == f }) {
                            entries[k].zero *= share
                            entries[k].splits.append((node, left))
                        } else {
                            entries.append((f, share, [(node, left)]))
                        }
                    }
                    leafEntries[Int(~child)] = entries
                    return
                }
                for left in [true, false] {
                    path.append((child, left))
                    walk(left ? t.left[Int(child)] : t.right[Int(child)])
                    path.removeLast()
                }
            }
            walk(0)
            for entries in leafEntries {
                longest = max(longest, entries.count)
                for e in entries {
                    feature.append(e.feature)
                    zero.append(e.zero)
                    for (node, left) in e.splits {
                        splitNode.append(node)
                        splitLeft.append(left)
                    }
                    splitStart.append(Int32(splitNode.count))
                }
                entryStart.append(Int32(feature.count))
            }
        }
    }

    /// Gauss–Legendre rules on [0, 1] with 1…64 points, flat: rule m's points and weights are at
    /// `start(m)..<start(m) + m`. Exact for polynomials of degree up to 2m − 1.
    struct Quadrature: Sendable {
        var points: [Double] = []
        var weights: [Double] = []
        static func start(_ m: Int) -> Int { m * (m - 1) / 2 }

        init() {
            for m in 1...64 {
                var rulePoints = [Double](repeating: 0, count: m)
                var ruleWeights = [Double](repeating: 0, count: m)
                for i in 0..<((m + 1) / 2) {
                    // Newton's method on the Legendre polynomial P_m from the usual first guess.
                    var x = cos(Double.pi * (Double(i) + 0.75) / (Double(m) + 0.5))
                    var derivative = 0.0
                    for _ in 0..<100 {
                        var (p1, p2) = (1.0, 0.0)
                        for j in 1...m {
                            let p3 = p2
                            p2 = p1
                            p1 = ((2 * Double(j) - 1) * x * p2 - (Double(j) - 1) * p3) / Double(j)
                        }
                        derivative = Double(m) * (x * p1 - p2) / (x * x - 1)
                        let step = p1 / derivative
                        x -= step
                        if abs(step) < 1e-16 { break }
                    }
                    let w = 2 / ((1 - x * x) * derivative * derivative)
                    rulePoints[i] = (1 - x) / 2
                    rulePoints[m - 1 - i] = (1 + x) / 2
                    ruleWeights[i] = w / 2
                    ruleWeights[m - 1 - i] = w / 2
                }
                points += rulePoints
                weights += ruleWeights
            }
        }
    }

    static let quadrature = Quadrature()

    /// Buffers one thread reuses row after row, in one array: per split, 1 where the row goes left; then per
    /// feature on a leaf's path, its indicator, factor, prefix product and weight.
    struct Scratch {
        var buffer: [Double] = []
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

    /// Adds `scale` × the contributions of tree `t` (leaves of `width` values; its leaf paths `paths`) for row `row`
    /// of `binned` (its codes: `codes`) to `phi[f * width + c]`, with the quadrature rules `points` and `weights`.
    static func add(
        _ t: BoostedTree, paths: Paths, width: Int, codes: UnsafeBufferPointer<UInt8>, rows n: Int, row: Int,
        scale: Double, points: UnsafeBufferPointer<Double>, weights: UnsafeBufferPointer<Double>,
        into phi: UnsafeMutableBufferPointer<Double>, scratch: inout Scratch
    ) {
        guard !t.feature.isEmpty, paths.longest > 0 else { return }
        let nodes = t.feature.count
        let longest = paths.longest
        if scratch.buffer.count < nodes + 4 * longest {
            scratch.buffer = [Double](repeating: 0, count: 2 * (nodes + 4 * longest))
        }
        // Raw buffers: this runs for every leaf of every tree for each explained row.
        scratch.buffer.withUnsafeMutableBufferPointer { buffer in
            let goesLeft = buffer.baseAddress!
            let (one, factor) = (goesLeft + nodes, goesLeft + nodes + longest)
            let (prefix, weight) = (goesLeft + nodes + 2 * longest, goesLeft + nodes + 3 * longest)
            // Where the row goes at each split, as prediction decides it.
            for node in t.feature.indices {
                goesLeft[node] = t.goesLeft(node, bin: Int(codes[Int(t.feature[node]) * n + row])) ? 1 : 0
            }
            paths.withBuffers { entryStart, feature, zero, splitStart, splitNode, splitLeft in
                t.leafValues.withUnsafeBufferPointer { leafValues in
                    for leaf in 0..<(entryStart.count - 1) {
                        let first = Int(entryStart[leaf])
                        let d = Int(entryStart[leaf + 1]) - first
                        guard d > 0 else { continue }
                        var reachable = true
                        for k in 0..<d {
                            let e = first + k
                            var on = true
                            for s in Int(splitStart[e])..<Int(splitStart[e + 1])
                            where (goesLeft[Int(splitNode[s])] == 1) != splitLeft[s] {
                                on = false
                                break
                            }
                            one[k] = on ? 1 : 0
                            weight[k] = 0
                            // A path neither this row nor any training row takes adds nothing.
                            if !on && zero[e] == 0 { reachable = false }
                        }
                        guard reachable else { continue }
                        // Each feature's integral of the product of the others' factors: prefix × suffix
                        // products at each quadrature point (no division).
                        let m = (d + 1) / 2
                        let rule = Quadrature.start(m)
                        for q in 0..<m {
                            let x = points[rule + q]
                            var running = 1.0
                            for k in 0..<d {
                                factor[k] = x * one[k] + (1 - x) * zero[first + k]
                                prefix[k] = running
                                running *= factor[k]
                            }
                            var suffix = weights[rule + q]
                            for k in stride(from: d - 1, through: 0, by: -1) {
                                weight[k] += prefix[k] * suffix
                                suffix *= factor[k]
                            }
                        }
                        for k in 0..<d {
                            let change = one[k] - zero[first + k]
                            guard change != 0 else { continue }
                            let f = Int(feature[first + k]) * width
                            let w = scale * change * weight[k]
                            for c in 0..<width { phi[f + c] += w * leafValues[leaf * width + c] }
                        }
                    }
                }
            }
        }
    }
}

extension TreeSHAP.Paths {
    /// The paths' arrays as buffers, for the per-row loop.
    func withBuffers<R>(
        _ body: (
            UnsafeBufferPointer<Int32>, UnsafeBufferPointer<Int32>, UnsafeBufferPointer<Double>,
            UnsafeBufferPointer<Int32>, UnsafeBufferPointer<Int32>, UnsafeBufferPointer<Bool>
        ) -> R
    ) -> R {
        entryStart.withUnsafeBufferPointer { a in
            feature.withUnsafeBufferPointer { b in
                zero.withUnsafeBufferPointer { c in
                    splitStart.withUnsafeBufferPointer { d in
                        splitNode.withUnsafeBufferPointer { e in
                            splitLeft.withUnsafeBufferPointer { f in body(a, b, c, d, e, f) }
                        }
                    }
                }
            }
        }
    }
}

extension TreeSHAP {
    /// The contributions of `trees` (each adding `scale` × its leaf values of `width` to the outputs of its class:
    /// tree `i` to output `i % classes` when `width` is 1, to every output otherwise) for each row of `data`, the
    /// rows split across cores when there are many.
    static func contributions(
        _ trees: [BoostedTree], paths: [Paths], bins: [FeatureBins], features: [String], data: Dataset, classes: Int,
        width: Int, scale: Double, expected: [Double]
    ) throws -> Contributions {
        if let problem = trees.lazy.compactMap(problem).first { throw LearnError.unsupported(problem) }
        let binned = BinnedData(data, bins: bins, rowMajor: false)
        let n = data.rows
        let f = features.count
        let outputs = expected.count
        // Rule m = ⌈d/2⌉ ≤ 64 integrates exactly up to d = 127 distinct features on a path.
        if paths.contains(where: { $0.longest > 127 }) {
            throw LearnError.unsupported(
                "a tree of this model splits on more than 127 features on one path, more than exact contributions are "
                    + "computed for")
        }
        let quadrature = Self.quadrature
        @Sendable func explain(_ rows: Range<Int>) -> [[Double]] {
            var out = [[Double]](repeating: [Double](repeating: 0, count: rows.count * f), count: outputs)
            var phi = [Double](repeating: 0, count: f * width)
            var scratch = Scratch()
            binned.codes.withUnsafeBufferPointer { codes in
                quadrature.points.withUnsafeBufferPointer { points in
                    quadrature.weights.withUnsafeBufferPointer { weights in
                        for r in rows {
                            for (i, t) in trees.enumerated() {
                                for k in phi.indices { phi[k] = 0 }
                                phi.withUnsafeMutableBufferPointer {
                                    add(
                                        t, paths: paths[i], width: width, codes: codes, rows: n, row: r, scale: scale,
                                        points: points, weights: weights, into: $0, scratch: &scratch)
                                }
                                for c in 0..<width {
                                    let o = width == 1 ? i % classes : c
                                    let base = (r - rows.lowerBound) * f
                                    for j in 0..<f { out[o][base + j] += phi[j * width + c] }
                                }
                            }
                        }
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
            trees, paths: shapPaths.value(for: trees) { $0.map(TreeSHAP.Paths.init) }, bins: bins,
            features: schema.features.map(\.name), data: data, classes: k, width: 1, scale: 1, expected: expected)
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
            trees, paths: trees.map(TreeSHAP.Paths.init), bins: bins, features: schema.features.map(\.name), data: data,
            classes: 1, width: w, scale: 1 / count, expected: expected)
    }
}
