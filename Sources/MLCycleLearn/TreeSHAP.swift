import Foundation
import MLCycleData

/// Exact SHAP values of a tree: the values of path-dependent TreeSHAP (Lundberg, Erion & Lee 2018, "Consistent
/// individualized feature attribution for tree ensembles", Algorithm 2), computed by Linear TreeSHAP (Yu, Bhattacharya
/// et al. 2022) in one pass over the tree per row. A feature left out of a coalition follows both children of its
/// splits, weighted by the training rows that went each way (the tree's `nodeCount` and `leafCount`).
///
/// For a leaf of value v whose path splits on the distinct features j — each with z_j, the share of training rows
/// following the path through j's splits, and o_j, 1 when the row follows all of them, else 0 — feature i receives
/// v · (o_i − z_i) · ∫₀¹ G(t) / (z_i + (o_i − z_i)·t) dt with G(t) = Π_j (z_j + (o_j − z_j)·t): Algorithm 2's
/// coalition weights k!(d−k−1)!/d! are the Beta integrals ∫₀¹ t^k (1−t)^(d−k−1) dt. Every polynomial is kept as its
/// values at the m Gauss–Legendre points of [0, 1] (exact for degree ≤ 2m − 1; m = ⌈d/2⌉ for the tree's longest
/// path), so products, quotients by a factor and sums are pointwise, and an integral is a weighted sum. One walk down
/// the tree multiplies each edge's factor into the path's product; on the way back the leaves' products are summed,
/// and the sum below each edge, divided by the edge's factor and integrated, is its feature's contribution. Where a
/// feature splits again further down, the deeper edge's factor replaces the one above, and the leaves below it are
/// taken back out of the upper edge's term (the same quadrature of the same values, so they cancel exactly). A row
/// costs a few vector operations of m lanes per edge, against about 1.5·d² multiplications per leaf computing each
/// leaf's integrals apart.
enum TreeSHAP {
    /// A model's trees prepared for their contributions: packed as for prediction, and per edge (two per split,
    /// `2 · node + 0` left, `+ 1` right) the share of training rows that follow the path through every split on the
    /// same feature down to that edge, and the nearest edge above on the same feature.
    struct Explainer: Sendable {
        var packed: PackedTrees
        /// Per edge: z, the product of the cover ratios of the same-feature edges from the root down to it.
        var zero: [Double] = []
        /// Per edge: the nearest edge above it that splits on the same feature, or −1.
        var ancestor: [Int32] = []
        /// Per tree: the quadrature points (⌈d/2⌉ for its longest path's d distinct features; 0 for a lone leaf).
        var points: [Int] = []
        /// The most splits in one tree.
        var largestTree = 0
        /// Per tree and leaf value (`tree · width + c`): the value averaged over the training rows.
        var expected: [Double] = []

        /// The arrays a walk reads, as buffers.
        struct Buffers {
            let nodes: UnsafeBufferPointer<PackedTrees.Node>
            let words: UnsafeBufferPointer<UInt64>
            let leafValues: UnsafeBufferPointer<Double>
            let zero: UnsafeBufferPointer<Double>
            let ancestor: UnsafeBufferPointer<Int32>
        }

        func withBuffers<R>(_ body: (Buffers) -> R) -> R {
            packed.nodes.withUnsafeBufferPointer { nodes in
                packed.categoryWords.withUnsafeBufferPointer { words in
                    packed.leafValues.withUnsafeBufferPointer { leafValues in
                        zero.withUnsafeBufferPointer { zero in
                            ancestor.withUnsafeBufferPointer { ancestor in
                                body(
                                    Buffers(
                                        nodes: nodes, words: words, leafValues: leafValues, zero: zero,
                                        ancestor: ancestor))
                            }
                        }
                    }
                }
            }
        }

        /// Prepares `trees` (leaves of `width` values); fails when a tree has no covers or too long a path.
        init(_ trees: [BoostedTree], width: Int) throws(LearnError) {
            if let problem = trees.lazy.compactMap(TreeSHAP.problem).first { throw LearnError.unsupported(problem) }
            packed = PackedTrees(trees, width: width)
            var zero = [Double](repeating: 0, count: 2 * packed.nodes.count)
            var ancestor = [Int32](repeating: -1, count: 2 * packed.nodes.count)
            var base = 0
            for t in trees {
                defer { base += t.feature.count }
                expected += (0..<width).map { TreeSHAP.expectedValue(t, width: width, output: $0) }
                largestTree = max(largestTree, t.feature.count)
                guard !t.feature.isEmpty, let nodeCount = t.nodeCount, let leafCount = t.leafCount else {
                    points.append(0)
                    continue
                }
                var longest = 0
                // The nearest edge above on each feature, while walking down.
                var last = [Int32: Int32]()
                func walk(_ node: Int, distinct: Int) {
                    let f = t.feature[node]
                    let above = last[f]
                    for side in 0..<2 {
                        let child = side == 0 ? t.left[node] : t.right[node]
                        let cover = child >= 0 ? nodeCount[Int(child)] : leafCount[Int(~child)]
                        let share = nodeCount[node] > 0 ? cover / nodeCount[node] : 0
                        let e = 2 * (base + node) + side
                        ancestor[e] = above ?? -1
                        zero[e] = (above.map { zero[Int($0)] } ?? 1) * share
                        let d = distinct + (above == nil ? 1 : 0)
                        if child >= 0 {
                            last[f] = Int32(e)
                            walk(Int(child), distinct: d)
                            last[f] = above
                        } else {
                            longest = max(longest, d)
                        }
                    }
                }
                walk(0, distinct: 0)
                // Rule m = ⌈d/2⌉ ≤ 64 integrates exactly up to d = 127 distinct features on a path.
                guard longest <= 127 else {
                    throw LearnError.unsupported(
                        "a tree of this model splits on more than 127 features on one path, more than exact "
                            + "contributions are computed for")
                }
                points.append((longest + 1) / 2)
            }
            self.zero = zero
            self.ancestor = ancestor
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
}

/// One row's walk through one tree (its polynomials as `V`'s lanes, one per quadrature point; see `TreeSHAP`).
/// Raw pointers: this runs for every edge of every tree for each explained row.
struct LinearTreeSHAPWalk<V: SIMD> where V.Scalar == Double {
    let trees: TreeSHAP.Explainer.Buffers
    /// The binned rows, feature-major (`codes[feature * rows + row]`), and the row.
    let codes: UnsafeBufferPointer<UInt8>
    let rows: Int
    let row: Int
    /// The quadrature points and weights (unused lanes: point ½, weight 0).
    let points: V
    let weights: V
    /// Leaves hold `width` values; this walk explains value `output` of each, times `scale`.
    let width: Int
    let output: Int
    let scale: Double
    /// The tree's first edge: this walk's scratch is indexed by edge − `firstEdge`.
    let firstEdge: Int
    /// Per edge of the tree: o, and 1 / the edge's factor z + (o − z)·t at each point.
    let indicator: UnsafeMutablePointer<Double>
    let inverse: UnsafeMutablePointer<V>
    /// This row's contributions to `output`, per feature.
    let phi: UnsafeMutablePointer<Double>

    /// Walks the subtree of internal node `ref` reached with the path's product `path`; returns the sum over its
    /// leaves of leaf value × the leaf's product, and adds each edge's term to its feature's contribution.
    func visit(_ ref: Int32, _ path: V) -> V {
        let (zero, ancestor) = (trees.zero, trees.ancestor)
        let node = trees.nodes[Int(ref)]
        let left = PackedTrees.goesLeft(node, bin: Int32(codes[Int(node.feature) * rows + row]), words: trees.words)
        var sum = V()
        for side in 0..<2 {
            let edge = 2 * Int(ref) + side
            let above = Int(ancestor[edge])
            let aboveIndicator = above >= 0 ? indicator[above - firstEdge] : 1
            let o = (side == 0) == left ? aboveIndicator : 0
            let z = zero[edge]
            // Neither this row nor any training row goes there: no leaf below adds anything.
            if o == 0 && z == 0 { continue }
            let factor = V(repeating: z) + (o - z) * points
            let inverseFactor = 1 / factor
            indicator[edge - firstEdge] = o
            inverse[edge - firstEdge] = inverseFactor
            var below = path * factor
            if above >= 0 { below *= inverse[above - firstEdge] }
            let child = side == 0 ? node.left : node.right
            let leaves = child >= 0 ? visit(child, below) : below * trees.leafValues[Int(~child) * width + output]
            var term = (o - z) * (leaves * inverseFactor * weights).sum()
            if above >= 0 {
                term -= (aboveIndicator - zero[above]) * (leaves * inverse[above - firstEdge] * weights).sum()
            }
            phi[Int(node.feature)] += scale * term
            sum += leaves
        }
        return sum
    }
}

extension TreeSHAP {
    /// The contributions of the explainer's trees (each adding `scale` × its leaf values of `width` to the outputs
    /// of its class: tree `i` to output `i % classes` when `width` is 1, to every output otherwise) for each row of
    /// `data`, the rows split across cores when there are many.
    static func contributions(
        _ explainer: Explainer, bins: [FeatureBins], features: [String], data: Dataset, classes: Int, width: Int,
        scale: Double, expected: [Double]
    ) -> Contributions {
        let binned = BinnedData(data, bins: bins, rowMajor: false)
        let n = data.rows
        let f = features.count
        let outputs = expected.count
        let quadrature = Self.quadrature
        let edges = 2 * explainer.largestTree
        /// Contributions of `rows`: `[output][row - rows.lowerBound][feature]`, flat.
        @Sendable func explain(_ rows: Range<Int>) -> [Double] {
            var out = [Double](repeating: 0, count: outputs * rows.count * f)
            var indicator = [Double](repeating: 0, count: max(1, edges))
            // Up to 64 lanes per edge, aligned for the widest vector.
            let inverse = UnsafeMutableRawPointer.allocate(
                byteCount: max(1, edges) * 64 * MemoryLayout<Double>.stride, alignment: 64)
            defer { inverse.deallocate() }
            explainer.withBuffers { trees in
                binned.codes.withUnsafeBufferPointer { codes in
                    out.withUnsafeMutableBufferPointer { out in
                        indicator.withUnsafeMutableBufferPointer { indicator in
                            /// Row `r`'s contributions to value `c` of tree `i`'s leaves, with `V`'s lanes.
                            func walk<V: SIMD>(_: V.Type, tree i: Int, row r: Int, value c: Int)
                            where V.Scalar == Double {
                                var points = V(repeating: 0.5)
                                var weights = V()
                                let m = explainer.points[i]
                                let start = Quadrature.start(m)
                                for k in 0..<m {
                                    points[k] = quadrature.points[start + k]
                                    weights[k] = quadrature.weights[start + k]
                                }
                                let root = explainer.packed.roots[i]
                                let o = width == 1 ? i % classes : c
                                let walk = LinearTreeSHAPWalk<V>(
                                    trees: trees, codes: codes, rows: n, row: r, points: points, weights: weights,
                                    width: width, output: c, scale: scale, firstEdge: 2 * Int(root),
                                    indicator: indicator.baseAddress!,
                                    inverse: inverse.bindMemory(to: V.self, capacity: edges),
                                    phi: out.baseAddress! + (o * rows.count + r - rows.lowerBound) * f)
                                _ = walk.visit(root, V(repeating: 1))
                            }
                            for r in rows {
                                for (i, m) in explainer.points.enumerated() where m > 0 {
                                    for c in 0..<width {
                                        // The narrowest vector that holds the tree's points.
                                        switch m {
                                        case ...2: walk(SIMD2<Double>.self, tree: i, row: r, value: c)
                                        case ...4: walk(SIMD4<Double>.self, tree: i, row: r, value: c)
                                        case ...8: walk(SIMD8<Double>.self, tree: i, row: r, value: c)
                                        case ...16: walk(SIMD16<Double>.self, tree: i, row: r, value: c)
                                        case ...32: walk(SIMD32<Double>.self, tree: i, row: r, value: c)
                                        default: walk(SIMD64<Double>.self, tree: i, row: r, value: c)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            return out
        }
        let chunks = n < 64 ? 1 : ProcessInfo.processInfo.activeProcessorCount * 4
        let parts = parallelMap(chunks) { k in explain(slice(k, of: n, into: chunks)) }
        return Contributions(
            features: features, expected: expected,
            values: (0..<outputs).map { o in
                parts.enumerated().flatMap { k, part in
                    let count = slice(k, of: n, into: chunks).count
                    return part[(o * count * f)..<((o + 1) * count * f)]
                }
            })
    }
}

extension GBDTModel {
    /// Each feature's exact SHAP contribution to each row's raw score (the log-odds for a binary model, one output
    /// per class for a multiclass one), by path-dependent TreeSHAP: `expected` plus a row's contributions is its
    /// raw score.
    public func contributions(_ data: Dataset) throws -> Contributions {
        let explainer = try self.explainer.value(for: trees) { trees in
            Result { () throws(LearnError) in try TreeSHAP.Explainer(trees, width: 1) }
        }.get()
        var expected = initialScores ?? [initialScore]
        let k = expected.count
        for (i, e) in explainer.expected.enumerated() { expected[i % k] += e }
        return TreeSHAP.contributions(
            explainer, bins: bins, features: schema.features.map(\.name), data: data, classes: k, width: 1, scale: 1,
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
        let explainer = try TreeSHAP.Explainer(trees, width: w)
        let expected = (0..<w).map { c in
            stride(from: c, to: explainer.expected.count, by: w).reduce(0) { $0 + explainer.expected[$1] } / count
        }
        return TreeSHAP.contributions(
            explainer, bins: bins, features: schema.features.map(\.name), data: data,
            classes: 1, width: w, scale: 1 / count, expected: expected)
    }
}
