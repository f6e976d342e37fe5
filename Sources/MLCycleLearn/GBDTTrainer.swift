import CPrefetch
import Foundation
import MLCycleData

/// Histogram-based gradient boosting with leaf-wise growth, as LightGBM does it.
///
/// Features are binned once (`FeatureBins`); each tree grows by repeatedly splitting the leaf whose best split
/// gains most, finding splits from per-leaf gradient/hessian histograms (the larger child's histogram is the
/// parent's minus the smaller child's). Missing values go to whichever side gains more; categorical features split
/// many-vs-many over categories sorted by gradient/hessian ratio.
public struct GradientBoostedTrees: Learner {
    public var parameters: GBDTParameters

    public init(parameters: GBDTParameters = GBDTParameters()) { self.parameters = parameters }

    public func fit(_ training: TrainingSet) throws -> GBDTModel {
        try fit(
            schema: training.schema, data: training.data, target: try training.requiredTarget(),
            validation: training.validation)
    }

    public func fit(
        schema: FeatureSchema, data: Dataset, target: TargetValues,
        validation: (data: Dataset, target: TargetValues)? = nil
    ) throws -> GBDTModel {
        let p = parameters
        let n = data.rows
        guard n >= 2 else { throw LearnError.tooFewRows(needed: 2, found: n) }
        let (y, labels) = try Self.response(target, objective: p.objective)
        let bins: [FeatureBins] = parallelMap(data.columns.count) { f in
            switch data.columns[f] {
            case .numeric(let v, let valid): return FeatureBins.numeric(v, valid: valid, maxBin: p.maxBin)
            case .categorical(let c, let levels): return FeatureBins.categorical(c, levels: levels, maxBin: p.maxBin)
            }
        }
        let binned = BinnedData(data, bins: bins)
        let objective = p.objective.loss(alpha: p.alpha, classes: labels.count)
        // One score per row and class: K columns for multiclass (one tree per class and round), one otherwise.
        let k = objective.scoreColumns
        let initial = objective.initialScores(y)
        var scores = initial.map { [Double](repeating: $0, count: n) }
        // Gradient and hessian of row r at [2r] and [2r + 1]: the histogram loop reads both with one cache miss.
        var gradientPairs = [[Double]](repeating: [Double](repeating: 0, count: 2 * n), count: k)
        let validationY = try validation.map { try Self.response($0.target, objective: p.objective, labels: labels).0 }
        var validationScores = validation.map { v in initial.map { [Double](repeating: $0, count: v.data.rows) } }
        let validationBinned = validation.map { BinnedData($0.data, bins: bins) }
        var model = GBDTModel(
            schema: schema, bins: bins, parameters: p, labels: labels, initialScore: initial[0],
            initialScores: k > 1 ? initial : nil, trees: [], bestIteration: 0)
        var rng = SeededGenerator(seed: p.seed)
        var bag = Array(Int32(0)..<Int32(n))
        var bestLoss = Double.infinity
        var bestIteration = 0

        let grower = TreeGrower(binned: binned, parameters: p)
        for iteration in 0..<p.nEstimators {
            if p.baggingFreq > 0 && p.baggingFraction < 1 && iteration % p.baggingFreq == 0 {
                let keep = max(1, Int((Double(n) * p.baggingFraction).rounded()))
                var all = Array(Int32(0)..<Int32(n))
                for i in 0..<keep { all.swapAt(i, i + Int(rng.next(upperBound: UInt64(n - i)))) }
                bag = Array(all[0..<keep]).sorted()
            }
            var features = Array(0..<bins.count)
            if p.featureFraction < 1 {
                let keep = max(1, Int((Double(bins.count) * p.featureFraction).rounded()))
                for i in 0..<keep { features.swapAt(i, i + Int(rng.next(upperBound: UInt64(bins.count - i)))) }
                features = Array(features[0..<keep]).sorted()
            }
            // The round's starting scores drive all K trees of the round (multiclass: through their softmax).
            objective.gradients(y: y, scores: scores, into: &gradientPairs)
            for c in 0..<k {
                var grown = grower.grow(rows: bag, gradients: gradientPairs[c], features: features)
                if let level = objective.leafRefitQuantile {
                    // Absolute error and quantile: a leaf's value is the median / α-quantile of its rows' residuals
                    // (LightGBM renews these leaves the same way), shrunk by the learning rate.
                    for (leaf, range) in grown.leafRanges.enumerated() where !range.isEmpty {
                        let residuals = range.map { y[Int(grown.rows[$0])] - scores[0][Int(grown.rows[$0])] }.sorted()
                        grown.tree.leafValues[leaf] = p.learningRate * Self.leafPercentile(sorted: residuals, level)
                    }
                }
                let tree = grown.tree
                // Every training row moves by its leaf's value: bagged rows from the partition, the others by traversal.
                // Large bags in two halves at once: each row is in one place of `rows`, so the halves write apart.
                let placed = grown.rows
                let ranges = grown.leafRanges
                let tasks = cores(for: placed.count, from: 65_536)
                scores[c].withUnsafeMutableBufferPointer { scores in
                    let target = SendablePointer(scores.baseAddress!)
                    parallelFor(tasks) { k in
                        let part = slice(k, of: placed.count, into: tasks)
                        placed.withUnsafeBufferPointer { rows in
                            for (leaf, range) in ranges.enumerated() {
                                let v = tree.leafValues[leaf]
                                for i in range.clamped(to: part) { target.pointer[Int(rows[i])] += v }
                            }
                        }
                    }
                }
                if bag.count < n {
                    var inBag = [Bool](repeating: false, count: n)
                    for r in bag { inBag[Int(r)] = true }
                    grown.binTree.addLeafValues(binned, tree.leafValues, to: &scores[c], skipping: inBag)
                }
                model.trees.append(tree)
                if let validationBinned {
                    GBDTModel.addLeafValues(
                        tree, validationBinned, rows: 0..<validationBinned.rows, into: &validationScores![c])
                }
            }
            if let vy = validationY, let vs = validationScores {
                let loss = objective.loss(y: vy, scores: vs)
                if loss < bestLoss - 1e-15 {
                    bestLoss = loss
                    bestIteration = iteration + 1
                }
                if p.earlyStoppingRounds > 0 && iteration + 1 - bestIteration >= p.earlyStoppingRounds { break }
            }
        }
        if validation != nil && p.earlyStoppingRounds > 0 {
            model.trees = Array(model.trees.prefix(max(1, bestIteration) * k))
        }
        model.bestIteration = model.trees.count / k
        return model
    }

    /// The numbers the objective fits: values for regression, 0/1 for binary (labels[1] is 1), class indices for multiclass.
    static func response(_ target: TargetValues, objective: GBDTParameters.Objective, labels given: [String]? = nil)
        throws -> ([Double], [String])
    {
        switch (objective, target) {
        case (let o, .numbers(let v)) where o.isRegression: return (v, [])
        case (.binary, .classes(let c, let labels)):
            guard labels.count == 2 else {
                throw LearnError.unsupported("binary boosting needs exactly two classes, found \(labels.count)")
            }
            if let given, given != labels {
                throw LearnError.unsupported(
                    "the validation data's classes \(labels) differ from the training data's \(given)")
            }
            return (c.map { $0 == 1 ? 1 : 0 }, labels)
        case (.multiclass, .classes(let c, let labels)):
            guard labels.count >= 3 else {
                throw LearnError.unsupported(
                    "multiclass boosting needs at least three classes; use the binary objective")
            }
            if let given, given != labels {
                throw LearnError.unsupported(
                    "the validation data's classes \(labels) differ from the training data's \(given)")
            }
            if c.contains(where: { $0 < 0 }) {
                throw LearnError.unsupported("a class label is missing from the training classes")
            }
            return (c.map(Double.init), labels)
        default:
            throw LearnError.unsupported("the target does not fit the \(objective.rawValue) objective")
        }
    }

    /// LightGBM's percentile for leaf outputs: counted from the largest value, at position (1 − α)·n, interpolating
    /// toward the next smaller value. (numpy's linear rule, counted from the smallest, sits lower for high α: on the
    /// house fixture it gave a 10 % higher pinball loss at α = 0.9.)
    static func leafPercentile(sorted x: [Double], _ alpha: Double) -> Double {
        let n = x.count
        guard n > 1 else { return x.first ?? 0 }
        let position = (1 - alpha) * Double(n)
        let k = Int(position)
        if k < 1 { return x[n - 1] }
        if k >= n { return x[0] }
        let v1 = x[n - k]
        let v2 = x[n - k - 1]  // the k-th and (k+1)-th largest
        return v1 - (v1 - v2) * (position - Double(k))
    }

}

/// A tree in bin space, used during training to move every training row's score.
struct BinTree {
    var feature: [Int] = []
    var binThreshold: [Int] = []
    var categorySet: [SIMD4<UInt64>?] = []
    var missingLeft: [Bool] = []
    var left: [Int32] = []
    var right: [Int32] = []

    /// Adds each row's leaf value to its score, for the rows not marked in `skipping`.
    func addLeafValues(_ binned: BinnedData, _ values: [Double], to scores: inout [Double], skipping: [Bool]) {
        let n = binned.rows
        if feature.isEmpty {
            for r in 0..<n where !skipping[r] { scores[r] += values[0] }
            return
        }
        binned.codes.withUnsafeBufferPointer { codes in
            for r in 0..<n where !skipping[r] {
                var node = 0
                while true {
                    let b = Int(codes[feature[node] * n + r])
                    let goLeft: Bool
                    if b == 0 {
                        goLeft = missingLeft[node]
                    } else if let set = categorySet[node] {
                        goLeft = set[b >> 6] & (1 << UInt64(b & 63)) != 0
                    } else {
                        goLeft = b <= binThreshold[node]
                    }
                    let next = goLeft ? left[node] : right[node]
                    if next < 0 {
                        scores[r] += values[Int(~next)]
                        break
                    }
                    node = Int(next)
                }
            }
        }
    }
}

/// Histograms of gradient and hessian sums per bin of every feature, interleaved (`h[2·bin]`, `h[2·bin + 1]`) so
/// one bin's pair shares a cache line, handed out and taken back while a tree grows so a leaf's histogram costs no
/// allocation. No counts are kept: like LightGBM, a bin's row count is estimated from its hessian.
final class HistogramPool: @unchecked Sendable {
    /// Doubles per histogram: two per bin.
    let size: Int
    private var free: [UnsafeMutablePointer<Double>] = []
    private var made: [UnsafeMutablePointer<Double>] = []

    init(bins: Int) { size = 2 * bins }

    /// A histogram whose contents are undefined (the caller clears the features it fills).
    func take() -> UnsafeMutablePointer<Double> {
        if let h = free.popLast() { return h }
        let h = UnsafeMutablePointer<Double>.allocate(capacity: max(size, 1))
        made.append(h)
        return h
    }

    func give(_ h: UnsafeMutablePointer<Double>) { free.append(h) }

    deinit { for h in made { h.deallocate() } }
}

/// The best split found for a leaf.
struct SplitCandidate {
    var gain = -Double.infinity
    var feature = -1
    var binThreshold = 0
    var categorySet: SIMD4<UInt64>? = nil
    var missingLeft = false
    var leftG = 0.0, leftH = 0.0, leftC = 0
    /// The L2 regularisation of the children's values (larger after a many-vs-many categorical split).
    var childLambda = 0.0

    /// Whether a row in `bin` of the split's feature goes to the left child.
    func sendsLeft(bin b: Int) -> Bool {
        if b == 0 { return missingLeft }
        if let set = categorySet { return set[b >> 6] & (1 << UInt64(b & 63)) != 0 }
        return b <= binThreshold
    }
}

/// Grows one tree leaf-wise from gradients and hessians.
struct TreeGrower: @unchecked Sendable {
    let binned: BinnedData
    let parameters: GBDTParameters
    let offsets: [Int]
    /// `offsets` as the histogram loop reads them.
    let offsets32: [Int32]
    let totalBins: Int

    init(binned: BinnedData, parameters: GBDTParameters) {
        self.binned = binned
        self.parameters = parameters
        var o = [Int]()
        var t = 0
        for b in binned.bins {
            o.append(t)
            t += b.count
        }
        offsets = o
        offsets32 = o.map { Int32($0) }
        totalBins = t
    }

    struct Leaf {
        var start: Int, count: Int
        var sumG: Double, sumH: Double
        /// L2 regularisation of this leaf's value.
        var lambda: Double
        var depth: Int
        /// Its histogram while it may still be split (from the grower's pool).
        var histogram: UnsafeMutablePointer<Double>?
        var best: SplitCandidate
        /// The features with a split this leaf's size limits allow: the only ones its children search.
        var searched: [Int]
        /// The internal node that points to this leaf, and on which side (-1 for the root).
        var parent: Int
        var isLeft: Bool
    }

    /// A grown tree, its bin-space twin, and which of the bagged rows ended in which leaf
    /// (`rows[range]` for each leaf's range).
    struct Grown {
        var tree: BoostedTree
        var binTree: BinTree
        var rows: [Int32]
        var leafRanges: [Range<Int>]
    }

    /// Grows a tree on the bagged rows. With `num_leaves` unlimited (`Int.max`), leaves are split depth-first until
    /// no split gains, and histograms are dropped as soon as they are used.
    func grow(rows bag: [Int32], gradients: [Double], features: [Int]) -> Grown {
        let p = parameters
        let depthFirst = p.numLeaves == Int.max
        var rows = bag
        var scratch = [Int32](repeating: 0, count: rows.count)
        var sumG = 0.0
        var sumH = 0.0
        for r in rows {
            sumG += gradients[2 * Int(r)]
            sumH += gradients[2 * Int(r) + 1]
        }
        let pool = HistogramPool(bins: totalBins)
        let rootHist = pool.take()
        histogram(
            into: rootHist, rows: rows, start: 0, count: rows.count, gradients: gradients, features: features,
            pool: pool)
        let (rootBest, rootSearched) = bestSplit(
            rootHist, sumG: sumG, sumH: sumH, count: rows.count, features: features)
        var leaves = [
            Leaf(
                start: 0, count: rows.count, sumG: sumG, sumH: sumH, lambda: p.lambdaL2, depth: 0, histogram: rootHist,
                best: rootBest, searched: rootSearched, parent: -1, isLeft: false)
        ]
        var pending = [0]  // leaves that may still split
        var tree = BoostedTree()
        var nodeCount = [Double]()
        var binTree = BinTree()
        func splittable(_ l: Leaf) -> Bool {
            l.best.gain > p.minGainToSplit && (p.maxDepth < 0 || l.depth < p.maxDepth)
        }
        pending = pending.filter { splittable(leaves[$0]) }
        while leaves.count < p.numLeaves, !pending.isEmpty {
            // Depth-first when unlimited; otherwise the leaf whose best split gains most (leaf-wise, as LightGBM).
            var slot = pending.count - 1
            if !depthFirst {
                for k in 0..<pending.count where leaves[pending[k]].best.gain > leaves[pending[slot]].best.gain {
                    slot = k
                }
            }
            let chosen = pending.remove(at: slot)
            let leaf = leaves[chosen]
            leaves[chosen].histogram = nil
            leaves[chosen].searched = []
            let split = leaf.best
            // Partition the leaf's rows: left ones first, stable.
            let f = split.feature
            let nl = partition(&rows, scratch: &scratch, start: leaf.start, count: leaf.count, split: split)
            let nr = leaf.count - nl
            // The new internal node takes the leaf's place in the tree.
            let node = Int32(tree.feature.count)
            let bins = binned.bins[f]
            tree.feature.append(Int32(f))
            tree.threshold.append(split.categorySet == nil ? bins.upperBounds[split.binThreshold - 1] : 0)
            tree.binThreshold.append(Int32(split.binThreshold))
            if let set = split.categorySet {
                tree.categorySet.append(Int32(tree.categorySets.count))
                tree.categorySets.append([set[0], set[1], set[2], set[3]])
            } else {
                tree.categorySet.append(-1)
            }
            tree.missingLeft.append(split.missingLeft)
            tree.gain.append(split.gain)
            nodeCount.append(Double(leaf.count))
            binTree.feature.append(f)
            binTree.binThreshold.append(split.binThreshold)
            binTree.categorySet.append(split.categorySet)
            binTree.missingLeft.append(split.missingLeft)
            let leftLeaf = chosen
            let rightLeaf = leaves.count
            tree.left.append(~Int32(leftLeaf))
            tree.right.append(~Int32(rightLeaf))
            binTree.left.append(~Int32(leftLeaf))
            binTree.right.append(~Int32(rightLeaf))
            if leaf.parent >= 0 {
                if leaf.isLeft {
                    tree.left[leaf.parent] = node
                    binTree.left[leaf.parent] = node
                } else {
                    tree.right[leaf.parent] = node
                    binTree.right[leaf.parent] = node
                }
            }
            // Children: build the smaller one's histogram, subtract it from the parent's for the larger. Neither
            // is needed when the tree is complete or neither child could be split (as in LightGBM).
            let rightG = leaf.sumG - split.leftG
            let rightH = leaf.sumH - split.leftH
            let childDepth = leaf.depth + 1
            let mayGrow = leaves.count + 1 < p.numLeaves && (p.maxDepth < 0 || childDepth < p.maxDepth)
            let searched = leaf.searched
            var leftBest = SplitCandidate()
            var rightBest = SplitCandidate()
            var leftSearched = [Int]()
            var rightSearched = [Int]()
            var leftHist: UnsafeMutablePointer<Double>? = nil
            var rightHist: UnsafeMutablePointer<Double>? = nil
            if mayGrow && max(nl, nr) >= 2 * p.minDataInLeaf && !searched.isEmpty, let parentHist = leaf.histogram {
                let leftSmaller = nl <= nr
                let small = pool.take()
                histogram(
                    into: small, rows: rows, start: leftSmaller ? leaf.start : leaf.start + nl,
                    count: leftSmaller ? nl : nr, gradients: gradients, features: searched, pool: pool)
                subtract(small, from: parentHist, features: searched)
                let (l, r) = leftSmaller ? (small, parentHist) : (parentHist, small)
                (leftHist, rightHist) = (l, r)
                let leftCount = nl
                let rightCount = nr
                let sums = (split.leftG, split.leftH, rightG, rightH)
                let left = SendablePointer(l)
                let right = SendablePointer(r)
                if totalBins >= 65_536 {
                    ((leftBest, leftSearched), (rightBest, rightSearched)) = inParallel(
                        { bestSplit(left.pointer, sumG: sums.0, sumH: sums.1, count: leftCount, features: searched) },
                        { bestSplit(right.pointer, sumG: sums.2, sumH: sums.3, count: rightCount, features: searched) })
                } else {  // too little work to be worth waking a second thread
                    (leftBest, leftSearched) = bestSplit(
                        l, sumG: sums.0, sumH: sums.1, count: leftCount, features: searched)
                    (rightBest, rightSearched) = bestSplit(
                        r, sumG: sums.2, sumH: sums.3, count: rightCount, features: searched)
                }
            } else if let parentHist = leaf.histogram {
                pool.give(parentHist)
            }
            leaves[leftLeaf] = Leaf(
                start: leaf.start, count: nl, sumG: split.leftG, sumH: split.leftH, lambda: split.childLambda,
                depth: childDepth, histogram: leftHist, best: leftBest, searched: leftSearched, parent: Int(node),
                isLeft: true)
            leaves.append(
                Leaf(
                    start: leaf.start + nl, count: nr, sumG: rightG, sumH: rightH, lambda: split.childLambda,
                    depth: childDepth, histogram: rightHist, best: rightBest, searched: rightSearched,
                    parent: Int(node), isLeft: false))
            for child in [leftLeaf, rightLeaf] {
                if splittable(leaves[child]) {
                    pending.append(child)
                } else if let h = leaves[child].histogram {
                    pool.give(h)
                    leaves[child].histogram = nil
                    leaves[child].searched = []
                }
            }
        }
        tree.leafValues = leaves.map { -$0.sumG / ($0.sumH + $0.lambda) * p.learningRate }
        tree.nodeCount = nodeCount
        tree.leafCount = leaves.map { Double($0.count) }
        return Grown(
            tree: tree, binTree: binTree, rows: rows, leafRanges: leaves.map { $0.start..<($0.start + $0.count) })
    }

    /// Reorders `rows[start ..< start+count]` so the rows `split` sends left come first, both sides in their
    /// order; returns how many went left. Large leaves are cut in two halves partitioned at once.
    func partition(_ rows: inout [Int32], scratch: inout [Int32], start: Int, count: Int, split: SplitCandidate) -> Int
    {
        // Which side each bin goes to (1: left), so a row costs a table look-up and no unpredictable branch.
        let side = (0..<256).map { split.sendsLeft(bin: $0) ? UInt8(1) : 0 }
        let tasks = cores(for: count, from: 65_536)
        // The parts, as positions in `rows` (each part's right rows go to the same positions, less `start`, in
        // `scratch`).
        let parts = (0..<tasks).map { k in
            let part = slice(k, of: count, into: tasks)
            return (start + part.lowerBound)..<(start + part.upperBound)
        }
        let offset = split.feature * binned.rows
        let codes = binned.codes
        return rows.withUnsafeMutableBufferPointer { rowsBuffer in
            scratch.withUnsafeMutableBufferPointer { scratchBuffer in
                let rows = SendablePointer(rowsBuffer.baseAddress!)
                let scratch = SendablePointer(scratchBuffer.baseAddress!)
                // Each part puts its left rows at its own start and its right rows in `scratch` at the same offset;
                // raw pointers because every split walks all of its leaf's rows.
                let lefts: [Int] = parallelMap(tasks) { k in
                    let (lo, hi) = (parts[k].lowerBound, parts[k].upperBound)
                    return codes.withUnsafeBufferPointer { codes in
                        side.withUnsafeBufferPointer { side in
                            let column = codes.baseAddress! + offset
                            var nl = 0
                            var nr = 0
                            for i in lo..<hi {
                                let r = rows.pointer[i]
                                let left = Int(side[Int(column[Int(r)])])
                                // Written to both places; only the side it belongs to advances (no branch).
                                rows.pointer[lo + nl] = r
                                scratch.pointer[lo - start + nr] = r
                                nl += left
                                nr += 1 - left
                            }
                            return nl
                        }
                    }
                }
                var nl = 0
                for (part, left) in zip(parts, lefts) {
                    let lo = part.lowerBound
                    if lo != start + nl { (rows.pointer + start + nl).update(from: rows.pointer + lo, count: left) }
                    nl += left
                }
                var placed = start + nl
                for (part, left) in zip(parts, lefts) {
                    let nr = part.count - left
                    (rows.pointer + placed).update(from: scratch.pointer + (part.lowerBound - start), count: nr)
                    placed += nr
                }
                return nl
            }
        }
    }

    /// Fills `out` with the sums of gradients and hessians per bin of `features` over the rows
    /// `rows[start ..< start+count]` (`gradients` holds pairs); other features' bins are left as they were.
    ///
    /// Row-wise, as LightGBM does with many features: each row's bins are contiguous, so a row costs one random
    /// read for its gradient pair and one for its bins; large leaves are split across cores, each summing into its
    /// own histogram, then added up.
    func histogram(
        into out: UnsafeMutablePointer<Double>, rows: [Int32], start: Int, count: Int, gradients: [Double],
        features: [Int], pool: HistogramPool
    ) {
        let featureCount = binned.bins.count
        let active = features.map { Int32($0) }
        let binOffsets = offsets32
        let tasks = cores(for: count * features.count, from: 200_000)
        // The first part sums straight into `out`, the others into histograms from the pool, added in at the end.
        var targets = [SendablePointer(out)]
        for _ in 1..<tasks { targets.append(SendablePointer(pool.take())) }
        for t in targets { clear(t.pointer, features: features) }
        let parts = targets
        parallelFor(tasks) { k in
            let out = parts[k].pointer
            let part = slice(k, of: count, into: tasks)
            let (lo, hi) = (start + part.lowerBound, start + part.upperBound)
            // Raw buffers: this is the hottest loop of training (rows × features per leaf).
            rows.withUnsafeBufferPointer { rows in
                gradients.withUnsafeBufferPointer { gh in
                    binned.rowCodes.withUnsafeBufferPointer { codes in
                        active.withUnsafeBufferPointer { active in
                            binOffsets.withUnsafeBufferPointer { offsets in
                                // Rows of a leaf lie far apart in memory: prefetch the gradient pair and bins of the
                                // row `distance` ahead, so the cache misses overlap instead of stalling each row.
                                let distance = 16
                                for i in lo..<hi {
                                    if i + distance < hi {
                                        let ahead = Int(rows[i + distance])
                                        mlcycle_prefetch(gh.baseAddress! + 2 * ahead)
                                        mlcycle_prefetch(codes.baseAddress! + ahead * featureCount)
                                    }
                                    let r = Int(rows[i])
                                    let gr = gh[2 * r]
                                    let hr = gh[2 * r + 1]
                                    let rowBins = codes.baseAddress! + r * featureCount
                                    for f in active {
                                        let b = 2 * (Int(offsets[Int(f)]) + Int(rowBins[Int(f)]))
                                        out[b] += gr
                                        out[b + 1] += hr
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        for t in parts.dropFirst() {
            for f in features {
                for i in sums(of: f) { out[i] += t.pointer[i] }
            }
            pool.give(t.pointer)
        }
    }

    /// Where feature `f`'s gradient and hessian sums lie in a histogram.
    func sums(of f: Int) -> Range<Int> { 2 * offsets[f]..<2 * (offsets[f] + binned.bins[f].count) }

    /// Zeroes the bins of `features` in a histogram.
    func clear(_ h: UnsafeMutablePointer<Double>, features: [Int]) {
        for f in features {
            let range = sums(of: f)
            (h + range.lowerBound).update(repeating: 0, count: range.count)
        }
    }

    /// `large -= small` over the bins of `features`: the larger child's histogram from its parent's.
    func subtract(_ small: UnsafeMutablePointer<Double>, from large: UnsafeMutablePointer<Double>, features: [Int]) {
        for f in features {
            for i in sums(of: f) { large[i] -= small[i] }
        }
    }

    @inline(__always)
    func leafGain(_ g: Double, _ h: Double, _ lambda: Double) -> Double { g * g / (h + lambda) }

    /// The best split of a leaf over the given features, and the features on which some split meets the
    /// `min_data_in_leaf` and `min_sum_hessian_in_leaf` limits (the only ones its children search: they hold a
    /// subset of its rows, so a feature no split of the parent could use cannot split them either).
    ///
    /// Row counts used by the `min_data_*` and `cat_smooth` checks are estimated from each bin's share of the
    /// hessian (round(h · n / Σh)), as LightGBM does: with log-loss, rows the model is already sure of count less.
    func bestSplit(_ gh: UnsafePointer<Double>, sumG: Double, sumH: Double, count: Int, features: [Int]) -> (
        SplitCandidate, searched: [Int]
    ) {
        let p = parameters
        var best = SplitCandidate()
        guard count >= 2 * p.minDataInLeaf, sumH > 0 else { return (best, []) }
        let parentGain = leafGain(sumG, sumH, p.lambdaL2)
        let countFactor = Double(count) / sumH
        var searched = [Int]()
        searched.reserveCapacity(features.count)
        // A categorical feature's levels present in the leaf, those tried in groups, and their sort keys (by bin).
        var present = [Int](repeating: 0, count: 256)
        var candidates = [Int](repeating: 0, count: 256)
        var ratio = [Double](repeating: 0, count: 256)
        do {
            @inline(__always) func g(_ i: Int) -> Double { gh[2 * i] }
            @inline(__always) func h(_ i: Int) -> Double { gh[2 * i + 1] }
            @inline(__always) func rows(_ i: Int) -> Int { Int(gh[2 * i + 1] * countFactor + 0.5) }  // hessians are ≥ 0
            for f in features {
                var usable = false  // some split of this feature meets the size limits
                defer { if usable { searched.append(f) } }
                let off = offsets[f]
                let nb = binned.bins[f].count
                let mg = g(off)
                let mh = h(off)
                let mc = h(off) > 0 ? max(1, rows(off)) : 0
                if binned.bins[f].kind == .numeric {
                    // Counts are summed as whole numbers in doubles and indices step unchecked: this loop runs for
                    // every bin of every searched feature of every leaf, and the overflow and conversion checks
                    // were a third of its instructions.
                    let minData = Double(p.minDataInLeaf)
                    let total = Double(count)
                    let sums = gh + 2 &* off
                    let last = max(1, nb - 1)
                    for pass in 0..<(mc > 0 ? 2 : 1) {
                        let missingLeft = pass == 1
                        var gl = missingLeft ? mg : 0
                        var hl = missingLeft ? mh : 0
                        var cl = missingLeft ? Double(mc) : 0
                        var t = 1
                        while t < last {
                            let gt = sums[2 &* t]
                            let ht = sums[2 &* t &+ 1]
                            t &+= 1
                            // An empty bin moves nothing left: the split before it, already tried, is the same one.
                            if ht == 0 && gt == 0 { continue }
                            gl += gt
                            hl += ht
                            // The bin's rows estimated from its hessian, rounded by adding and taking away 1.5·2⁵²
                            // (no libm call; ties go to even, where LightGBM's rounding goes up: a product of two
                            // doubles landing on an exact half is the only case where they differ).
                            cl += (ht * countFactor + 0x1.8p52) - 0x1.8p52
                            if cl < minData || hl < p.minSumHessianInLeaf { continue }
                            if total - cl < minData { break }
                            let hr = sumH - hl
                            if hr < p.minSumHessianInLeaf { break }
                            usable = true
                            let gain = leafGain(gl, hl, p.lambdaL2) + leafGain(sumG - gl, hr, p.lambdaL2) - parentGain
                            if gain > best.gain {
                                best = SplitCandidate(
                                    gain: gain, feature: f, binThreshold: t - 1, categorySet: nil,
                                    missingLeft: missingLeft, leftG: gl, leftH: hl, leftC: Int(cl),
                                    childLambda: p.lambdaL2)
                            }
                        }
                    }
                } else {
                    // Categories (bins 1…); missing (bin 0) always goes right. As in LightGBM: few categories are tried
                    // one against the rest; with more, categories with at least `cat_smooth` rows are sorted by
                    // gradient/(hessian + cat_smooth) and prefixes from either end (at most half of them, and only every
                    // `min_data_per_group` rows) are tried, with the larger `lambda_l2 + cat_l2` on the children.
                    var presentCount = 0
                    for b in 1..<nb where h(off + b) > 0 {
                        present[presentCount] = b
                        presentCount += 1
                    }
                    guard presentCount >= 2 else { continue }
                    if nb - 1 <= p.maxCatToOnehot {
                        for b in present[0..<presentCount] {
                            let gl = g(off + b)
                            let hl = h(off + b)
                            let cl = rows(off + b)
                            let cr = count - cl
                            let hr = sumH - hl
                            if cl < p.minDataInLeaf || hl < p.minSumHessianInLeaf || cr < p.minDataInLeaf
                                || hr < p.minSumHessianInLeaf
                            {
                                continue
                            }
                            usable = true
                            let gain = leafGain(gl, hl, p.lambdaL2) + leafGain(sumG - gl, hr, p.lambdaL2) - parentGain
                            if gain > best.gain {
                                var set = SIMD4<UInt64>(repeating: 0)
                                set[b >> 6] |= 1 << UInt64(b & 63)
                                best = SplitCandidate(
                                    gain: gain, feature: f, binThreshold: 0, categorySet: set, missingLeft: false,
                                    leftG: gl, leftH: hl, leftC: cl, childLambda: p.lambdaL2)
                            }
                        }
                        continue
                    }
                    // Which groups are tried here depends on the order and spacing of the levels, which a child's rows
                    // change: a feature with two levels present stays searched.
                    usable = true
                    var used = 0
                    for b in present[0..<presentCount] where Double(rows(off + b)) >= p.catSmooth {
                        candidates[used] = b
                        ratio[b] = g(off + b) / (h(off + b) + p.catSmooth)
                        used += 1
                    }
                    guard used >= 2 else { continue }
                    candidates[0..<used].sort { ratio[$0] < ratio[$1] }
                    let lambda = p.lambdaL2 + p.catL2
                    let maxLeft = min(p.maxCatThreshold, (used + 1) / 2)
                    for pass in 0..<2 {
                        let reversed = pass == 1
                        var gl = 0.0
                        var hl = 0.0
                        var cl = 0
                        var sinceLastTry = 0
                        var set = SIMD4<UInt64>(repeating: 0)
                        for j in 0..<maxLeft {
                            let b = candidates[reversed ? used - 1 - j : j]
                            let cb = rows(off + b)
                            gl += g(off + b)
                            hl += h(off + b)
                            cl += cb
                            sinceLastTry += cb
                            set[b >> 6] |= 1 << UInt64(b & 63)
                            if cl < p.minDataInLeaf || hl < p.minSumHessianInLeaf { continue }
                            let cr = count - cl
                            let hr = sumH - hl
                            if cr < p.minDataInLeaf || cr < p.minDataPerGroup || hr < p.minSumHessianInLeaf { break }
                            if sinceLastTry < p.minDataPerGroup { continue }
                            sinceLastTry = 0
                            let gain = leafGain(gl, hl, lambda) + leafGain(sumG - gl, hr, lambda) - parentGain
                            if gain > best.gain {
                                best = SplitCandidate(
                                    gain: gain, feature: f, binThreshold: 0, categorySet: set, missingLeft: false,
                                    leftG: gl, leftH: hl, leftC: cl, childLambda: lambda)
                            }
                        }
                    }
                }
            }
        }
        return (best, searched)
    }
}

/// How many tasks to cut `work` into: one per core from `threshold` on, else one (waking other cores costs more than
/// a small piece of work saves).
func cores(for work: Int, from threshold: Int) -> Int {
    work >= threshold ? max(1, ProcessInfo.processInfo.activeProcessorCount) : 1
}
