import Foundation
import MLCycleData

/// Hyperparameters of `GradientBoostedTrees`, named and defaulted as in LightGBM.
public struct GBDTParameters: Codable, Sendable, Equatable {
    public enum Objective: String, Codable, Sendable, CaseIterable {
        /// Squared error.
        case regression
        /// Absolute error (LightGBM's `regression_l1`): leaves take the median residual of their rows.
        case absoluteError = "regression_l1"
        /// Huber loss with threshold `alpha`.
        case huber
        /// Pinball loss at level `alpha`: predicts that quantile (e.g. 0.9 for the top of a prediction range).
        case quantile
        case binary, multiclass

        /// Objectives that predict a number.
        public var isRegression: Bool { self != .binary && self != .multiclass }
    }
    public var objective: Objective = .regression
    public var numLeaves = 31
    public var learningRate = 0.1
    public var nEstimators = 100
    /// -1: no limit.
    public var maxDepth = -1
    public var minDataInLeaf = 20
    public var minSumHessianInLeaf = 1e-3
    public var lambdaL2 = 0.0
    public var minGainToSplit = 0.0
    public var featureFraction = 1.0
    public var baggingFraction = 1.0
    /// Re-sample rows every this many iterations (0: no bagging, as in LightGBM).
    public var baggingFreq = 0
    public var maxBin = 255
    /// Stop when the validation loss has not improved for this many rounds (0: off).
    public var earlyStoppingRounds = 0
    public var catSmooth = 10.0
    public var catL2 = 10.0
    public var maxCatThreshold = 32
    public var maxCatToOnehot = 4
    public var minDataPerGroup = 100
    public var seed: UInt64 = 0
    /// Quantile level (`quantile`) or Huber threshold (`huber`), as LightGBM's `alpha`.
    public var alpha = 0.9

    public init() {}

    /// The hyperparameters `NAME=VALUE` text may set (LightGBM's names and common aliases); ranges that depend on
    /// each other are checked after all are read.
    static var table: [Hyperparameter<GBDTParameters>] {
        func number(_ name: String, aliases: [String] = [], _ path: WritableKeyPath<GBDTParameters, Double>)
            -> Hyperparameter<GBDTParameters>
        {
            .number(name, aliases: aliases, path, expected: "a number ≥ 0") { $0 >= 0 }
        }
        func whole(_ name: String, aliases: [String] = [], _ path: WritableKeyPath<GBDTParameters, Int>)
            -> Hyperparameter<GBDTParameters>
        {
            .whole(name, aliases: aliases, path, expected: "a whole number")
        }
        let objectives: [String: Objective] = [
            "regression": .regression, "l2": .regression, "mse": .regression,
            "regression_l1": .absoluteError, "l1": .absoluteError, "mae": .absoluteError,
            "huber": .huber, "quantile": .quantile,
        ]
        return [
            number("learning_rate", aliases: ["eta"], \.learningRate),
            number("min_sum_hessian_in_leaf", \.minSumHessianInLeaf),
            number("lambda_l2", aliases: ["reg_lambda"], \.lambdaL2),
            number("min_gain_to_split", \.minGainToSplit),
            number("feature_fraction", aliases: ["colsample_bytree"], \.featureFraction),
            number("bagging_fraction", aliases: ["subsample"], \.baggingFraction),
            number("cat_smooth", \.catSmooth), number("cat_l2", \.catL2), number("alpha", \.alpha),
            whole("num_leaves", \.numLeaves),
            whole("n_estimators", aliases: ["num_iterations", "num_boost_round"], \.nEstimators),
            whole("max_depth", \.maxDepth), whole("min_data_in_leaf", aliases: ["min_samples_leaf"], \.minDataInLeaf),
            whole("bagging_freq", \.baggingFreq), whole("max_bin", \.maxBin),
            whole("early_stopping_rounds", aliases: ["early_stopping_round"], \.earlyStoppingRounds),
            whole("max_cat_threshold", \.maxCatThreshold), whole("max_cat_to_onehot", \.maxCatToOnehot),
            whole("min_data_per_group", \.minDataPerGroup),
            .seed(\.seed),
            // Only among the regression losses: the task fixes binary and multiclass.
            Hyperparameter(
                "objective", expected: "regression, regression_l1 (mae), huber or quantile for a regression task"
            ) { p, text in
                guard p.objective.isRegression, let o = objectives[text] else { return false }
                p.objective = o
                return true
            },
        ]
    }

    /// Parameters from `NAME=VALUE` text (LightGBM names and common aliases), for the task's `objective`.
    public init(parameters: [String: String], objective: Objective) throws {
        var defaults = GBDTParameters()
        defaults.objective = objective
        self = try Hyperparameters.parse(parameters, into: defaults, table: Self.table)
        func check(_ ok: Bool, _ name: String, _ value: String, _ expected: String) throws {
            if !ok { throw LearnError.invalidParameter(name: name, value: value, expected: expected) }
        }
        try check(numLeaves >= 2, "num_leaves", String(numLeaves), "at least 2")
        try check(nEstimators >= 1, "n_estimators", String(nEstimators), "at least 1")
        try check(learningRate > 0, "learning_rate", String(learningRate), "a number > 0")
        try check(maxBin >= 2 && maxBin <= 255, "max_bin", String(maxBin), "between 2 and 255")
        try check(
            featureFraction > 0 && featureFraction <= 1, "feature_fraction", String(featureFraction),
            "a fraction in (0, 1]")
        try check(
            baggingFraction > 0 && baggingFraction <= 1, "bagging_fraction", String(baggingFraction),
            "a fraction in (0, 1]")
        try check(minDataInLeaf >= 1, "min_data_in_leaf", String(minDataInLeaf), "at least 1")
        try check(
            self.objective != .quantile || (alpha > 0 && alpha < 1), "alpha", String(alpha),
            "a quantile level between 0 and 1")
        try check(self.objective != .huber || alpha > 0, "alpha", String(alpha), "a Huber threshold > 0")
    }
}

/// One regression tree as flat arrays (no per-node objects), in raw feature values.
public struct BoostedTree: Codable, Sendable, Equatable {
    /// Per internal node: the feature it splits on.
    public var feature: [Int32] = []
    /// Numeric split: values ≤ threshold go left.
    public var threshold: [Double] = []
    /// The same split in bins of the feature's `FeatureBins`: bins 1…binThreshold go left (0 for categorical splits).
    public var binThreshold: [Int32] = []
    /// Categorical split: the index into `categorySets` of the bins that go left (-1 for numeric splits).
    public var categorySet: [Int32] = []
    /// Where missing values go.
    public var missingLeft: [Bool] = []
    /// Children: ≥ 0 an internal node, < 0 the leaf `~child`.
    public var left: [Int32] = []
    public var right: [Int32] = []
    public var gain: [Double] = []
    /// Bins (of the feature's `FeatureBins`) that go left, as 256-bit sets.
    public var categorySets: [[UInt64]] = []
    public var leafValues: [Double] = []
    /// Training rows that reached each internal node and each leaf (bagged rows; a bootstrap duplicate counts
    /// again): the covers TreeSHAP weighs paths by. nil in models trained before they were recorded.
    public var nodeCount: [Double]? = nil
    public var leafCount: [Double]? = nil

    /// Whether a row whose feature is in bin `b` (0: missing) goes left at internal node `node`. Prediction's loops
    /// (`forEachLeaf`, `PackedTrees`) inline the same rule over raw buffers.
    @inline(__always)
    func goesLeft(_ node: Int, bin b: Int) -> Bool {
        if b == 0 { return missingLeft[node] }
        let set = categorySet[node]
        if set >= 0 {
            return categorySets[Int(set)].withUnsafeBufferPointer {
                b >> 6 < $0.count && $0[b >> 6] & (1 << UInt64(b & 63)) != 0
            }
        }
        return b <= Int(binThreshold[node])
    }

    /// A split on raw inputs, as exported models make it (see `LightGBMModelText` for the inputs' encoding).
    public enum RawSplit: Equatable, Sendable {
        /// Values ≤ the threshold go left.
        case numeric(Double)
        /// The indices, in the feature's levels, of the values that go left (ascending).
        case categorical([Int])
    }

    /// Internal node `node`'s split on raw inputs: a numeric bin threshold as the bin's upper bound, a set of
    /// category bins as the levels in them. Missing values go where `missingLeft` says.
    public func rawSplit(_ node: Int, bins: [FeatureBins]) -> RawSplit {
        let f = Int(feature[node])
        guard categorySet[node] >= 0 else {
            let bound = Int(binThreshold[node]) - 1
            let upper = bins[f].upperBounds
            // Every bin up to the last one: every value goes left.
            return .numeric(bound < upper.count ? upper[max(0, bound)] : .greatestFiniteMagnitude)
        }
        let levelBins = bins[f].levelBins
        // Every level has a bin of its own or the shared "other" one (≥ 1), so this is the category-set rule.
        return .categorical(levelBins.indices.filter { goesLeft(node, bin: Int(levelBins[$0])) })
    }
}

/// A fitted gradient-boosted ensemble.
public struct GBDTModel: FittedLearner {
    public var schema: FeatureSchema
    public var bins: [FeatureBins]
    public var parameters: GBDTParameters
    public var labels: [String]
    public var initialScore: Double
    /// Multiclass: the starting score of each class (0, as in LightGBM); trees are then stored round by
    /// round, one per class (`trees[round · K + class]`).
    public var initialScores: [Double]?
    public var trees: [BoostedTree]
    /// Rounds kept (early stopping keeps the best).
    public var bestIteration: Int
    /// The trees packed for prediction, built on first use and shared by copies (derived data: not saved, not
    /// compared).
    let packed = TreesDerivedCache<PackedTrees>()
    /// The trees prepared for their contributions, built on first use (derived data, as `packed`).
    let explainer = TreesDerivedCache<Result<TreeSHAP.Explainer, LearnError>>()

    enum CodingKeys: String, CodingKey {
        case schema, bins, parameters, labels, initialScore, initialScores, trees, bestIteration
    }

    /// Raw scores (before the link function) for a dataset: its values are binned once with the training bins
    /// (v ≤ upper bound of bin t ⟺ bin(v) ≤ t, so this is exactly the raw-threshold rule), then rows are scored
    /// on all cores.
    func rawScores(_ data: Dataset) -> [Double] { rawClassScores(data)[0] }

    /// Raw scores per class (`[class][row]`; one class unless multiclass).
    func rawClassScores(_ data: Dataset) -> [[Double]] {
        let binned = BinnedData(data, bins: bins, rowMajor: false)
        let n = data.rows
        let starts = initialScores ?? [initialScore]
        let k = starts.count
        let packed = self.packed.value(for: trees) { PackedTrees($0) }
        @Sendable func score(_ rows: Range<Int>) -> [[Double]] {
            var out = starts.map { [Double](repeating: $0, count: rows.count) }
            for c in 0..<k {
                packed.addLeafValues(
                    binned, rows: rows, trees: stride(from: c, to: packed.roots.count, by: k), into: &out[c])
            }
            return out
        }
        // A small request is scored on the calling thread: waking the other cores costs more than it saves.
        if n < 4096 { return score(0..<n) }
        let chunks = ProcessInfo.processInfo.activeProcessorCount * 4
        let parts = parallelMap(chunks) { part in score(slice(part, of: n, into: chunks)) }
        return (0..<k).map { c in parts.flatMap { $0[c] } }
    }

    /// Adds `tree`'s leaf value for each row in `rows` to `out[row - rows.lowerBound]`.
    static func addLeafValues(_ t: BoostedTree, _ binned: BinnedData, rows: Range<Int>, into out: inout [Double]) {
        let lo = rows.lowerBound
        out.withUnsafeMutableBufferPointer { out in
            t.leafValues.withUnsafeBufferPointer { values in
                forEachLeaf(t, binned, rows: rows) { r, leaf in out[r - lo] += values[leaf] }
            }
        }
    }

    /// Calls `body(row, leaf)` with the leaf each row in `rows` falls into.
    @inline(__always)
    static func forEachLeaf(_ t: BoostedTree, _ binned: BinnedData, rows: Range<Int>, _ body: (Int, Int) -> Void) {
        if t.feature.isEmpty {
            for r in rows { body(r, 0) }
            return
        }
        let n = binned.rows
        // Raw buffers: this loop is prediction (every row through every tree).
        binned.codes.withUnsafeBufferPointer { codes in
            t.feature.withUnsafeBufferPointer { feature in
                t.binThreshold.withUnsafeBufferPointer { threshold in
                    t.categorySet.withUnsafeBufferPointer { categorySet in
                        t.left.withUnsafeBufferPointer { left in
                            t.right.withUnsafeBufferPointer { right in
                                t.missingLeft.withUnsafeBufferPointer { missingLeft in
                                    for r in rows {
                                        var node = 0
                                        while true {
                                            let b = Int(codes[Int(feature[node]) * n + r])
                                            let goLeft: Bool
                                            if b == 0 {
                                                goLeft = missingLeft[node]
                                            } else if categorySet[node] >= 0 {
                                                goLeft =
                                                    t.categorySets[Int(categorySet[node])][b >> 6]
                                                    & (1 << UInt64(b & 63)) != 0
                                            } else {
                                                goLeft = b <= Int(threshold[node])
                                            }
                                            let next = goLeft ? left[node] : right[node]
                                            if next < 0 {
                                                body(r, Int(~next))
                                                break
                                            }
                                            node = Int(next)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    public func predict(_ data: Dataset) -> Predictions {
        parameters.objective.loss(alpha: parameters.alpha, classes: labels.count)
            .predictions(fromRawScores: rawClassScores(data))
    }

    /// Total split gain per feature.
    public func featureImportances() -> [Double]? { importance().map(\.gain) }

    /// Split-count and total-gain importance per feature.
    public func importance() -> [(feature: String, splits: Int, gain: Double)] {
        var splits = [Int](repeating: 0, count: schema.features.count)
        var gains = [Double](repeating: 0, count: schema.features.count)
        for t in trees {
            for (i, f) in t.feature.enumerated() {
                splits[Int(f)] += 1
                gains[Int(f)] += t.gain[i]
            }
        }
        return schema.features.indices.map { (schema.features[$0].name, splits[$0], gains[$0]) }
    }
}

/// Every tree of an ensemble in one array of nodes, for prediction: one 20-byte node per split instead of seven
/// parallel arrays per tree, no per-tree array retains (which cost more than the traversal when a served request
/// is one row), and one pass over flat buffers.
struct PackedTrees: Sendable {
    struct Node {
        var feature: Int32
        /// Numeric split: bins 1…threshold go left. Categorical split: −1 − (index of its 4-word bin set).
        var threshold: Int32
        /// A child ≥ 0 is a node; < 0 is the leaf `~child` (an index into `leafValues`).
        var left: Int32
        var right: Int32
        var missingLeft: Bool
    }
    var nodes: [Node] = []
    var leafValues: [Double] = []
    var categoryWords: [UInt64] = []
    /// Each tree's root, as a child reference (a tree without splits is a leaf).
    var roots: [Int32] = []

    /// Packs `trees` whose leaves hold `width` values each (a forest's class shares; 1 for boosted trees).
    init(_ trees: [BoostedTree], width: Int = 1) {
        for t in trees {
            let nodeBase = Int32(nodes.count)
            let leafBase = Int32(leafValues.count / width)
            func child(_ c: Int32) -> Int32 { c >= 0 ? nodeBase + c : ~(leafBase + ~c) }
            roots.append(t.feature.isEmpty ? ~leafBase : nodeBase)
            for i in t.feature.indices {
                var threshold = t.binThreshold[i]
                if t.categorySet[i] >= 0 {
                    threshold = -1 - Int32(categoryWords.count / 4)
                    var words = t.categorySets[Int(t.categorySet[i])]
                    words += [UInt64](repeating: 0, count: max(0, 4 - words.count))
                    categoryWords += words.prefix(4)
                }
                nodes.append(
                    Node(
                        feature: t.feature[i], threshold: threshold, left: child(t.left[i]), right: child(t.right[i]),
                        missingLeft: t.missingLeft[i]))
            }
            leafValues += t.leafValues
        }
    }

    /// Whether a row whose feature is in bin `b` (0: missing) goes left at `node` (`words`: the category sets).
    @inline(__always)
    static func goesLeft(_ node: Node, bin b: Int32, words: UnsafeBufferPointer<UInt64>) -> Bool {
        if b == 0 { return node.missingLeft }
        if node.threshold >= 0 { return b <= node.threshold }
        return words[Int(-1 - node.threshold) * 4 + Int(b >> 6)] & (1 << UInt64(b & 63)) != 0
    }

    /// Adds the leaf values of the trees in `trees` for each row in `rows` to `out[row - rows.lowerBound]`.
    func addLeafValues(_ binned: BinnedData, rows: Range<Int>, trees: StrideTo<Int>, into out: inout [Double]) {
        let n = binned.rows
        let lo = rows.lowerBound
        // Raw buffers: this loop is prediction (every row through every tree).
        out.withUnsafeMutableBufferPointer { out in
            binned.codes.withUnsafeBufferPointer { codes in
                nodes.withUnsafeBufferPointer { nodes in
                    leafValues.withUnsafeBufferPointer { leaves in
                        categoryWords.withUnsafeBufferPointer { words in
                            roots.withUnsafeBufferPointer { roots in
                                for t in trees {
                                    let root = roots[t]
                                    for r in rows {
                                        var ref = root
                                        while ref >= 0 {
                                            let node = nodes[Int(ref)]
                                            let b = Int32(codes[Int(node.feature) * n + r])
                                            ref = Self.goesLeft(node, bin: b, words: words) ? node.left : node.right
                                        }
                                        out[r - lo] += leaves[Int(~ref)]
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Holds data derived from a model's trees (its `PackedTrees`, its `TreeSHAP.Explainer`), built on first use (under
/// a lock; prediction runs on many threads). Rebuilt if the model's tree count changed since (training appends trees
/// and early stopping cuts them).
final class TreesDerivedCache<Value: Sendable>: @unchecked Sendable, Equatable {
    private let lock = NSLock()
    private var built: (trees: Int, value: Value)?

    /// The value built from `trees` (kept while the model has as many trees).
    func value(for trees: [BoostedTree], build: ([BoostedTree]) -> Value) -> Value {
        lock.lock()
        defer { lock.unlock() }
        if let built, built.trees == trees.count { return built.value }
        let value = build(trees)
        built = (trees.count, value)
        return value
    }

    /// Derived data: two models with equal trees are equal whatever their caches hold.
    static func == (a: TreesDerivedCache, b: TreesDerivedCache) -> Bool { true }
}
