import Foundation
import MLCycleData

/// Hyperparameters of `RandomForest` (and of a single `decision tree`), named and defaulted as in scikit-learn.
public struct ForestParameters: Codable, Sendable, Equatable {
    public var nEstimators = 100
    /// -1: grow until leaves are pure or `min_samples_leaf` stops them.
    public var maxDepth = -1
    public var minSamplesLeaf = 1
    /// Features tried per split: a fraction of them, or nil for scikit-learn's default (all for regression,
    /// √features for classification).
    public var maxFeatures: Double?
    public var bootstrap = true
    /// A split must lower the squared error (Gini for two classes) by at least this much per training row.
    public var minImpurityDecrease = 0.0
    public var maxBin = 255
    public var seed: UInt64 = 0

    public init() {}

    /// Parameters from `NAME=VALUE` text; `single` makes it one tree on all rows and features (the `tree` learner).
    public init(parameters: [String: String], single: Bool) throws {
        if single { nEstimators = 1; bootstrap = false; maxFeatures = 1 }
        for (k, v) in parameters {
            func int(_ min: Int) throws -> Int {
                guard let x = Int(v), x >= min else { throw LearnError.invalidParameter(name: k, value: v, expected: "a whole number ≥ \(min)") }
                return x
            }
            switch k {
            case "n_estimators" where !single: nEstimators = try int(1)
            case "max_depth": maxDepth = try int(-1)
            case "min_samples_leaf", "min_data_in_leaf": minSamplesLeaf = try int(1)
            case "max_bin": maxBin = try int(2); if maxBin > 255 { throw LearnError.invalidParameter(name: k, value: v, expected: "at most 255") }
            case "seed", "random_state":
                guard let x = UInt64(v) else { throw LearnError.invalidParameter(name: k, value: v, expected: "a whole number ≥ 0") }
                seed = x
            case "bootstrap" where !single:
                guard let b = Bool(v.lowercased()) else { throw LearnError.invalidParameter(name: k, value: v, expected: "true or false") }
                bootstrap = b
            case "min_impurity_decrease":
                guard let x = Double(v), x >= 0 else { throw LearnError.invalidParameter(name: k, value: v, expected: "a number ≥ 0") }
                minImpurityDecrease = x
            case "max_features":
                if v == "sqrt" { maxFeatures = nil } else {
                    guard let x = Double(v), x > 0, x <= 1 else { throw LearnError.invalidParameter(name: k, value: v, expected: "a fraction in (0, 1] or sqrt") }
                    maxFeatures = x
                }
            default:
                let known = ["max_depth", "min_samples_leaf", "min_impurity_decrease", "max_features", "max_bin", "seed"] + (single ? [] : ["n_estimators", "bootstrap"])
                throw LearnError.unknownParameter(name: k, known: known)
            }
        }
    }
}

/// Random forest (bootstrap rows, a random subset of features per split, trees grown deep on both cores) and,
/// with one tree on all rows and features, the CART decision tree. Splits minimise squared error — for a 0/1 label
/// that is exactly the Gini criterion — over the same binned histograms as the boosting engine.
public struct RandomForest: Sendable {
    public var parameters: ForestParameters

    public init(parameters: ForestParameters = ForestParameters()) { self.parameters = parameters }

    public func fit(schema: FeatureSchema, data: Dataset, target: TargetValues) throws -> ForestModel {
        let p = parameters
        let n = data.rows
        guard n >= 2 else { throw LearnError.tooFewRows(needed: 2, found: n) }
        let objective: GBDTParameters.Objective
        switch target {
        case .numbers: objective = .regression
        case .classes(_, let labels):
            guard labels.count == 2 else { throw LearnError.unsupported("forests and trees handle regression and two classes so far; use --learner logistic for \(labels.count) classes") }
            objective = .binary
        }
        let (y, labels) = try GradientBoostedTrees.response(target, objective: objective)
        let bins: [FeatureBins] = parallelMap(data.columns.count) { f in
            switch data.columns[f] {
            case .numeric(let v, let valid): return FeatureBins.numeric(v, valid: valid, maxBin: p.maxBin)
            case .categorical(let c, let levels): return FeatureBins.categorical(c, levels: levels, maxBin: p.maxBin)
            }
        }
        let binned = BinnedData(data, bins: bins)
        // Squared error as boosting from zero: gradient -y, hessian 1, no shrinkage, no L2 → a leaf's value is its mean.
        var tree = GBDTParameters()
        tree.numLeaves = Int.max
        tree.maxDepth = p.maxDepth
        tree.minDataInLeaf = p.minSamplesLeaf
        tree.minSumHessianInLeaf = 0
        tree.learningRate = 1
        tree.lambdaL2 = 0
        tree.catL2 = 0
        tree.minDataPerGroup = 1
        tree.catSmooth = 1
        tree.minGainToSplit = p.minImpurityDecrease * Double(n)
        var pairs = [Double](repeating: 1, count: 2 * n)
        for r in 0..<n { pairs[2 * r] = -y[r] }
        let featureCount = bins.count
        let perSplit: Int? = {
            if let f = p.maxFeatures { return f >= 1 ? nil : max(1, Int((Double(featureCount) * f).rounded())) }
            return objective == .binary ? max(1, Int(Double(featureCount).squareRoot())) : nil
        }()
        let grower = TreeGrower(binned: binned, parameters: tree)
        let allFeatures = Array(0..<featureCount)
        let gradients = pairs
        // Trees on both cores; each from its own seed, drawn from one master generator, so the forest does not
        // depend on scheduling. (Seeding tree t with seed + t·γ would not do: γ is SplitMix64's own increment, so
        // tree t would replay tree 0's draws shifted by t.)
        var master = SeededGenerator(seed: p.seed)
        let seeds = (0..<p.nEstimators).map { _ in master.next() }
        let grown: [(BoostedTree, [Bool])] = parallelMap(p.nEstimators) { t in
            var rng = SeededGenerator(seed: seeds[t])
            var bag: [Int32]
            var inBag = [Bool](repeating: !p.bootstrap, count: n)
            if p.bootstrap {
                bag = (0..<n).map { _ in Int32(rng.next(upperBound: UInt64(n))) }.sorted()
                for r in bag { inBag[Int(r)] = true }
            } else {
                bag = Array(Int32(0)..<Int32(n))
            }
            let g = grower.grow(rows: bag, gradients: gradients, features: allFeatures, featuresPerSplit: perSplit, seed: rng.next())
            return (g.tree, inBag)
        }
        var model = ForestModel(schema: schema, bins: bins, parameters: p, labels: labels, trees: grown.map(\.0), oobScore: nil)
        if p.bootstrap && p.nEstimators > 1 { model.oobScore = Self.outOfBagScore(model, binned: binned, y: y, inBag: grown.map(\.1), objective: objective) }
        return model
    }

    /// R² (regression) or accuracy (classification) of each row's average over the trees that did not see it.
    static func outOfBagScore(_ model: ForestModel, binned: BinnedData, y: [Double], inBag: [[Bool]], objective: GBDTParameters.Objective) -> Double? {
        let n = y.count
        var sum = [Double](repeating: 0, count: n), votes = [Int](repeating: 0, count: n)
        for (t, tree) in model.trees.enumerated() {
            var values = [Double](repeating: 0, count: n)
            GBDTModel.addLeafValues(tree, binned, rows: 0..<n, into: &values)
            for r in 0..<n where !inBag[t][r] { sum[r] += values[r]; votes[r] += 1 }
        }
        let scored = (0..<n).filter { votes[$0] > 0 }
        guard scored.count > 1 else { return nil }
        if objective == .binary {
            let correct = scored.filter { (sum[$0] / Double(votes[$0]) > 0.5) == (y[$0] == 1) }.count
            return Double(correct) / Double(scored.count)
        }
        let mean = scored.reduce(0) { $0 + y[$1] } / Double(scored.count)
        var ss = 0.0, se = 0.0
        for r in scored { let e = sum[r] / Double(votes[r]) - y[r]; se += e * e; ss += (y[r] - mean) * (y[r] - mean) }
        return ss > 0 ? 1 - se / ss : nil
    }
}

/// A fitted forest (or single tree): the average of its trees' leaf values — means, or class-1 shares.
public struct ForestModel: Codable, Sendable, Equatable {
    public var schema: FeatureSchema
    public var bins: [FeatureBins]
    public var parameters: ForestParameters
    public var labels: [String]
    public var trees: [BoostedTree]
    /// Out-of-bag R² or accuracy (bootstrap forests only).
    public var oobScore: Double?

    public func predict(_ data: Dataset) -> Predictions {
        let binned = BinnedData(data, bins: bins)
        let n = data.rows
        let chunks = n < 4096 ? 1 : ProcessInfo.processInfo.activeProcessorCount * 4
        let parts = parallelMap(chunks) { k -> [Double] in
            let lo = n * k / chunks, hi = n * (k + 1) / chunks
            var out = [Double](repeating: 0, count: hi - lo)
            for tree in trees { GBDTModel.addLeafValues(tree, binned, rows: lo..<hi, into: &out) }
            return out.map { $0 / Double(trees.count) } // each leaf holds its rows' mean (-Σ(-y) / count)
        }
        let values = parts.flatMap { $0 }
        if labels.isEmpty { return Predictions(values: values, probabilities: [], classCount: 0) }
        var probabilities = [Double](repeating: 0, count: 2 * n)
        for r in 0..<n {
            let p1 = min(1, max(0, values[r]))
            probabilities[2 * r] = 1 - p1
            probabilities[2 * r + 1] = p1
        }
        return Predictions(values: values.map { $0 > 0.5 ? 1 : 0 }, probabilities: probabilities, classCount: 2)
    }
}
