import Foundation
import MLCycleData

/// Histogram-based gradient boosting with leaf-wise growth, as LightGBM does it.
///
/// Features are binned once (`FeatureBins`); each tree grows by repeatedly splitting the leaf whose best split
/// gains most, finding splits from per-leaf gradient/hessian histograms (the larger child's histogram is the
/// parent's minus the smaller child's). Missing values go to whichever side gains more; categorical features split
/// many-vs-many over categories sorted by gradient/hessian ratio.
public struct GradientBoostedTrees: Sendable {
    public var parameters: GBDTParameters

    public init(parameters: GBDTParameters = GBDTParameters()) { self.parameters = parameters }

    public func fit(schema: FeatureSchema, data: Dataset, target: TargetValues,
                    validation: (data: Dataset, target: TargetValues)? = nil) throws -> GBDTModel {
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
        let initial: Double
        switch p.objective {
        case .regression: initial = Statistics.mean(y)
        case .binary:
            let mean = min(max(Statistics.mean(y), 1e-15), 1 - 1e-15)
            initial = log(mean / (1 - mean))
        }
        var scores = [Double](repeating: initial, count: n)
        var gradients = [Double](repeating: 0, count: n), hessians = [Double](repeating: 0, count: n)
        let validationY = try validation.map { try Self.response($0.target, objective: p.objective, labels: labels).0 }
        var validationScores = validation.map { [Double](repeating: initial, count: $0.data.rows) }
        var model = GBDTModel(schema: schema, bins: bins, parameters: p, labels: labels, initialScore: initial, trees: [], bestIteration: 0)
        var rng = SeededGenerator(seed: p.seed)
        var bag = Array(Int32(0)..<Int32(n))
        var bestLoss = Double.infinity, bestIteration = 0

        let grower = TreeGrower(binned: binned, parameters: p)
        for iteration in 0..<p.nEstimators {
            Self.gradients(p.objective, y: y, scores: scores, gradients: &gradients, hessians: &hessians)
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
            let (tree, binTree) = grower.grow(rows: bag, gradients: gradients, hessians: hessians, features: features)
            // Every training row (bagged or not) moves by its leaf's value.
            binTree.addLeafValues(binned, tree.leafValues, to: &scores)
            model.trees.append(tree)
            if let validation, let vy = validationY {
                let columns = validation.data.columns
                for r in 0..<validation.data.rows {
                    validationScores![r] += tree.leafValues[GBDTModel.leaf(tree, columns, bins, row: r)]
                }
                let loss = Self.loss(p.objective, y: vy, scores: validationScores!)
                if loss < bestLoss - 1e-15 { bestLoss = loss; bestIteration = iteration + 1 }
                if p.earlyStoppingRounds > 0 && iteration + 1 - bestIteration >= p.earlyStoppingRounds { break }
            }
        }
        if validation != nil && p.earlyStoppingRounds > 0 {
            model.trees = Array(model.trees.prefix(max(1, bestIteration)))
        }
        model.bestIteration = model.trees.count
        return model
    }

    /// The numbers the objective fits: values for regression, 0/1 for binary (labels[1] is 1).
    static func response(_ target: TargetValues, objective: GBDTParameters.Objective, labels given: [String]? = nil) throws -> ([Double], [String]) {
        switch (objective, target) {
        case (.regression, .numbers(let v)): return (v, [])
        case (.binary, .classes(let c, let labels)):
            guard labels.count == 2 else { throw LearnError.unsupported("binary boosting needs exactly two classes, found \(labels.count)") }
            if let given, given != labels { throw LearnError.unsupported("the validation data's classes \(labels) differ from the training data's \(given)") }
            return (c.map { $0 == 1 ? 1 : 0 }, labels)
        default:
            throw LearnError.unsupported("the target does not fit the \(objective.rawValue) objective")
        }
    }

    static func gradients(_ objective: GBDTParameters.Objective, y: [Double], scores: [Double],
                          gradients: inout [Double], hessians: inout [Double]) {
        switch objective {
        case .regression:
            for r in 0..<y.count { gradients[r] = scores[r] - y[r]; hessians[r] = 1 }
        case .binary:
            for r in 0..<y.count {
                let p = 1 / (1 + exp(-scores[r]))
                gradients[r] = p - y[r]
                hessians[r] = max(p * (1 - p), 1e-16)
            }
        }
    }

    static func loss(_ objective: GBDTParameters.Objective, y: [Double], scores: [Double]) -> Double {
        var s = 0.0
        switch objective {
        case .regression:
            for r in 0..<y.count { s += (scores[r] - y[r]) * (scores[r] - y[r]) }
        case .binary:
            for r in 0..<y.count {
                let z = scores[r]
                s += (z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))) - y[r] * z
            }
        }
        return s / Double(max(1, y.count))
    }
}

/// A tree in bin space, used during training to move every training row's score.
struct BinTree {
    var feature: [Int] = []
    var binThreshold: [Int] = []
    var categorySet: [[UInt64]?] = []
    var missingLeft: [Bool] = []
    var left: [Int32] = []
    var right: [Int32] = []

    func addLeafValues(_ binned: BinnedData, _ values: [Double], to scores: inout [Double]) {
        let n = binned.rows
        if feature.isEmpty {
            for r in 0..<n { scores[r] += values[0] }
            return
        }
        binned.codes.withUnsafeBufferPointer { codes in
            for r in 0..<n {
                var node = 0
                while true {
                    let b = Int(codes[feature[node] * n + r])
                    let goLeft: Bool
                    if b == 0 { goLeft = missingLeft[node] } else if let set = categorySet[node] {
                        goLeft = set[b >> 6] & (1 << UInt64(b & 63)) != 0
                    } else { goLeft = b <= binThreshold[node] }
                    let next = goLeft ? left[node] : right[node]
                    if next < 0 { scores[r] += values[Int(~next)]; break }
                    node = Int(next)
                }
            }
        }
    }
}

/// Gradient, hessian and count sums per bin of every feature.
struct Histogram {
    var g: [Double]
    var h: [Double]
    var c: [Int32]

    init(size: Int) {
        g = [Double](repeating: 0, count: size)
        h = [Double](repeating: 0, count: size)
        c = [Int32](repeating: 0, count: size)
    }

    /// `self - other`, bin by bin (the larger child's histogram from the parent's and the smaller child's).
    func subtracting(_ other: Histogram) -> Histogram {
        var out = self
        for i in 0..<g.count { out.g[i] -= other.g[i]; out.h[i] -= other.h[i]; out.c[i] -= other.c[i] }
        return out
    }
}

/// The best split found for a leaf.
struct SplitCandidate {
    var gain = -Double.infinity
    var feature = -1
    var binThreshold = 0
    var categorySet: [UInt64]? = nil
    var missingLeft = false
    var leftG = 0.0, leftH = 0.0, leftC = 0
    /// The L2 regularisation of the children's values (larger after a many-vs-many categorical split).
    var childLambda = 0.0
}

/// Grows one tree leaf-wise from gradients and hessians.
struct TreeGrower: @unchecked Sendable {
    let binned: BinnedData
    let parameters: GBDTParameters
    let offsets: [Int]
    let totalBins: Int

    init(binned: BinnedData, parameters: GBDTParameters) {
        self.binned = binned
        self.parameters = parameters
        var o = [Int](), t = 0
        for b in binned.bins { o.append(t); t += b.count }
        offsets = o
        totalBins = t
    }

    struct Leaf {
        var start: Int, count: Int
        var sumG: Double, sumH: Double
        /// L2 regularisation of this leaf's value.
        var lambda: Double
        var depth: Int
        var histogram: Histogram?
        var best: SplitCandidate
        /// The internal node that points to this leaf, and on which side (-1 for the root).
        var parent: Int
        var isLeft: Bool
    }

    func grow(rows bag: [Int32], gradients: [Double], hessians: [Double], features: [Int]) -> (BoostedTree, BinTree) {
        let p = parameters
        var rows = bag
        var scratch = [Int32](repeating: 0, count: rows.count)
        var sumG = 0.0, sumH = 0.0
        for r in rows { sumG += gradients[Int(r)]; sumH += hessians[Int(r)] }
        let rootHist = histogram(rows: rows, start: 0, count: rows.count, gradients: gradients, hessians: hessians, features: features)
        var leaves = [Leaf(start: 0, count: rows.count, sumG: sumG, sumH: sumH, lambda: p.lambdaL2, depth: 0, histogram: rootHist,
                           best: bestSplit(rootHist, sumG: sumG, sumH: sumH, count: rows.count, features: features), parent: -1, isLeft: false)]
        var tree = BoostedTree()
        var binTree = BinTree()
        while leaves.count < p.numLeaves {
            // The leaf whose best split gains most.
            var chosen = -1
            for (i, l) in leaves.enumerated() where l.best.gain > p.minGainToSplit && (p.maxDepth < 0 || l.depth < p.maxDepth) {
                if chosen < 0 || l.best.gain > leaves[chosen].best.gain { chosen = i }
            }
            if chosen < 0 { break }
            let leaf = leaves[chosen]
            let split = leaf.best
            // Partition the leaf's rows: left ones first, stable.
            var nl = 0, nr = 0
            let f = split.feature
            binned.codes.withUnsafeBufferPointer { codes in
                let base = f * binned.rows
                for i in leaf.start..<(leaf.start + leaf.count) {
                    let r = rows[i]
                    let b = Int(codes[base + Int(r)])
                    let goLeft: Bool
                    if b == 0 { goLeft = split.missingLeft } else if let set = split.categorySet {
                        goLeft = set[b >> 6] & (1 << UInt64(b & 63)) != 0
                    } else { goLeft = b <= split.binThreshold }
                    if goLeft { rows[leaf.start + nl] = r; nl += 1 } else { scratch[nr] = r; nr += 1 }
                }
                for k in 0..<nr { rows[leaf.start + nl + k] = scratch[k] }
            }
            // The new internal node takes the leaf's place in the tree.
            let node = Int32(tree.feature.count)
            let bins = binned.bins[f]
            tree.feature.append(Int32(f))
            tree.threshold.append(split.categorySet == nil ? bins.upperBounds[split.binThreshold - 1] : 0)
            if let set = split.categorySet {
                tree.categorySet.append(Int32(tree.categorySets.count))
                tree.categorySets.append(set)
            } else {
                tree.categorySet.append(-1)
            }
            tree.missingLeft.append(split.missingLeft)
            tree.gain.append(split.gain)
            binTree.feature.append(f)
            binTree.binThreshold.append(split.binThreshold)
            binTree.categorySet.append(split.categorySet)
            binTree.missingLeft.append(split.missingLeft)
            let leftLeaf = chosen, rightLeaf = leaves.count
            tree.left.append(~Int32(leftLeaf)); tree.right.append(~Int32(rightLeaf))
            binTree.left.append(~Int32(leftLeaf)); binTree.right.append(~Int32(rightLeaf))
            if leaf.parent >= 0 {
                if leaf.isLeft { tree.left[leaf.parent] = node; binTree.left[leaf.parent] = node } else {
                    tree.right[leaf.parent] = node; binTree.right[leaf.parent] = node
                }
            }
            // Children: build the smaller one's histogram, subtract for the larger.
            let rightG = leaf.sumG - split.leftG, rightH = leaf.sumH - split.leftH
            let leftSmaller = nl <= nr
            let smallStart = leftSmaller ? leaf.start : leaf.start + nl
            let smallCount = leftSmaller ? nl : nr
            let small = histogram(rows: rows, start: smallStart, count: smallCount, gradients: gradients, hessians: hessians, features: features)
            let large = leaf.histogram!.subtracting(small)
            let leftHist = leftSmaller ? small : large, rightHist = leftSmaller ? large : small
            let leftCount = nl, rightCount = nr
            let (leftBest, rightBest) = inParallel(
                { bestSplit(leftHist, sumG: split.leftG, sumH: split.leftH, count: leftCount, features: features) },
                { bestSplit(rightHist, sumG: rightG, sumH: rightH, count: rightCount, features: features) })
            leaves[leftLeaf] = Leaf(start: leaf.start, count: nl, sumG: split.leftG, sumH: split.leftH, lambda: split.childLambda, depth: leaf.depth + 1,
                                    histogram: leftHist, best: leftBest, parent: Int(node), isLeft: true)
            leaves.append(Leaf(start: leaf.start + nl, count: nr, sumG: rightG, sumH: rightH, lambda: split.childLambda, depth: leaf.depth + 1,
                               histogram: rightHist, best: rightBest, parent: Int(node), isLeft: false))
        }
        tree.leafValues = leaves.map { -$0.sumG / ($0.sumH + $0.lambda) * p.learningRate }
        return (tree, binTree)
    }

    /// Sums of gradients, hessians and counts per bin over the rows `rows[start ..< start+count]`.
    func histogram(rows: [Int32], start: Int, count: Int, gradients: [Double], hessians: [Double], features: [Int]) -> Histogram {
        var hist = Histogram(size: totalBins)
        // Gradients in the leaf's row order, so the per-feature loops read them sequentially.
        var orderedG = [Double](repeating: 0, count: count), orderedH = [Double](repeating: 0, count: count)
        var orderedRows = [Int32](repeating: 0, count: count)
        for i in 0..<count {
            let r = Int(rows[start + i])
            orderedG[i] = gradients[r]; orderedH[i] = hessians[r]; orderedRows[i] = rows[start + i]
        }
        let og = orderedG, oh = orderedH, leafRows = orderedRows
        let n = binned.rows
        let work = count * features.count
        hist.g.withUnsafeMutableBufferPointer { g in
            hist.h.withUnsafeMutableBufferPointer { h in
                hist.c.withUnsafeMutableBufferPointer { c in
                    let gp = SendablePointer(g.baseAddress!), hp = SendablePointer(h.baseAddress!), cp = SendablePointer(c.baseAddress!)
                    let build: @Sendable (Int) -> Void = { k in
                        // Raw buffers: this is the hottest loop of training (rows × features per leaf).
                        let f = features[k]
                        let off = offsets[f]
                        binned.codes.withUnsafeBufferPointer { codes in
                            let col = codes.baseAddress! + f * n
                            og.withUnsafeBufferPointer { og in
                                oh.withUnsafeBufferPointer { oh in
                                    leafRows.withUnsafeBufferPointer { lr in
                                        for i in 0..<count {
                                            let b = off + Int(col[Int(lr[i])])
                                            gp.pointer[b] += og[i]
                                            hp.pointer[b] += oh[i]
                                            cp.pointer[b] += 1
                                        }
                                    }
                                }
                            }
                        }
                    }
                    if work >= 50_000 { parallelFor(features.count, build) } else { for k in 0..<features.count { build(k) } }
                }
            }
        }
        return hist
    }

    @inline(__always)
    func leafGain(_ g: Double, _ h: Double, _ lambda: Double) -> Double { g * g / (h + lambda) }

    /// The best split of a leaf over the given features.
    ///
    /// Row counts used by the `min_data_*` and `cat_smooth` checks are estimated from each bin's share of the
    /// hessian (round(h · n / Σh)), as LightGBM does: with log-loss, rows the model is already sure of count less.
    func bestSplit(_ hist: Histogram, sumG: Double, sumH: Double, count: Int, features: [Int]) -> SplitCandidate {
        let p = parameters
        var best = SplitCandidate()
        guard count >= 2 * p.minDataInLeaf, sumH > 0 else { return best }
        let parentGain = leafGain(sumG, sumH, p.lambdaL2)
        let countFactor = Double(count) / sumH
        @inline(__always) func rows(_ i: Int) -> Int { Int((hist.h[i] * countFactor).rounded()) }
        for f in features {
            let off = offsets[f], nb = binned.bins[f].count
            let mg = hist.g[off], mh = hist.h[off], mc = hist.c[off] > 0 ? max(1, rows(off)) : 0
            if binned.bins[f].kind == .numeric {
                for missingLeft in mc > 0 ? [false, true] : [false] {
                    var gl = missingLeft ? mg : 0, hl = missingLeft ? mh : 0, cl = missingLeft ? mc : 0
                    for t in 1..<max(1, nb - 1) {
                        gl += hist.g[off + t]; hl += hist.h[off + t]; cl += rows(off + t)
                        let cr = count - cl
                        if cl < p.minDataInLeaf || hl < p.minSumHessianInLeaf { continue }
                        if cr < p.minDataInLeaf { break }
                        let hr = sumH - hl
                        if hr < p.minSumHessianInLeaf { break }
                        let gain = leafGain(gl, hl, p.lambdaL2) + leafGain(sumG - gl, hr, p.lambdaL2) - parentGain
                        if gain > best.gain {
                            best = SplitCandidate(gain: gain, feature: f, binThreshold: t, categorySet: nil, missingLeft: missingLeft,
                                                  leftG: gl, leftH: hl, leftC: cl, childLambda: p.lambdaL2)
                        }
                    }
                }
            } else {
                // Categories (bins 1…); missing (bin 0) always goes right. As in LightGBM: few categories are tried
                // one against the rest; with more, categories with at least `cat_smooth` rows are sorted by
                // gradient/(hessian + cat_smooth) and prefixes from either end (at most half of them, and only every
                // `min_data_per_group` rows) are tried, with the larger `lambda_l2 + cat_l2` on the children.
                let present = (1..<nb).filter { hist.c[off + $0] > 0 }
                guard present.count >= 2 else { continue }
                if nb - 1 <= p.maxCatToOnehot {
                    for b in present {
                        let gl = hist.g[off + b], hl = hist.h[off + b], cl = rows(off + b)
                        let cr = count - cl, hr = sumH - hl
                        if cl < p.minDataInLeaf || hl < p.minSumHessianInLeaf || cr < p.minDataInLeaf || hr < p.minSumHessianInLeaf { continue }
                        let gain = leafGain(gl, hl, p.lambdaL2) + leafGain(sumG - gl, hr, p.lambdaL2) - parentGain
                        if gain > best.gain {
                            var set = [UInt64](repeating: 0, count: 4)
                            set[b >> 6] |= 1 << UInt64(b & 63)
                            best = SplitCandidate(gain: gain, feature: f, binThreshold: 0, categorySet: set, missingLeft: false,
                                                  leftG: gl, leftH: hl, leftC: cl, childLambda: p.lambdaL2)
                        }
                    }
                    continue
                }
                let candidates = present.filter { Double(rows(off + $0)) >= p.catSmooth }
                    .sorted { hist.g[off + $0] / (hist.h[off + $0] + p.catSmooth) < hist.g[off + $1] / (hist.h[off + $1] + p.catSmooth) }
                let used = candidates.count
                guard used >= 2 else { continue }
                let lambda = p.lambdaL2 + p.catL2
                let maxLeft = min(p.maxCatThreshold, (used + 1) / 2)
                for order in [candidates, Array(candidates.reversed())] {
                    var gl = 0.0, hl = 0.0, cl = 0, sinceLastTry = 0
                    var set = [UInt64](repeating: 0, count: 4)
                    for b in order.prefix(maxLeft) {
                        let cb = rows(off + b)
                        gl += hist.g[off + b]; hl += hist.h[off + b]; cl += cb; sinceLastTry += cb
                        set[b >> 6] |= 1 << UInt64(b & 63)
                        if cl < p.minDataInLeaf || hl < p.minSumHessianInLeaf { continue }
                        let cr = count - cl, hr = sumH - hl
                        if cr < p.minDataInLeaf || cr < p.minDataPerGroup || hr < p.minSumHessianInLeaf { break }
                        if sinceLastTry < p.minDataPerGroup { continue }
                        sinceLastTry = 0
                        let gain = leafGain(gl, hl, lambda) + leafGain(sumG - gl, hr, lambda) - parentGain
                        if gain > best.gain {
                            best = SplitCandidate(gain: gain, feature: f, binThreshold: 0, categorySet: set, missingLeft: false,
                                                  leftG: gl, leftH: hl, leftC: cl, childLambda: lambda)
                        }
                    }
                }
            }
        }
        return best
    }
}
