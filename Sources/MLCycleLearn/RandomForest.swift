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
        var defaults = ForestParameters()
        if single {
            defaults.nEstimators = 1
            defaults.bootstrap = false
            defaults.maxFeatures = 1
        }
        var table: [Hyperparameter<ForestParameters>] = [
            .whole("max_depth", \.maxDepth, expected: "a whole number ≥ -1") { $0 >= -1 },
            .whole("min_samples_leaf", aliases: ["min_data_in_leaf"], \.minSamplesLeaf, expected: "a whole number ≥ 1")
            { $0 >= 1 },
            .number("min_impurity_decrease", \.minImpurityDecrease, expected: "a number ≥ 0") { $0 >= 0 },
            Hyperparameter("max_features", expected: "a fraction in (0, 1] or sqrt") { p, text in
                if text == "sqrt" {
                    p.maxFeatures = nil
                    return true
                }
                guard let x = Double(text), x > 0, x <= 1 else { return false }
                p.maxFeatures = x
                return true
            },
            .whole("max_bin", \.maxBin, expected: "a whole number from 2 to 255") { $0 >= 2 && $0 <= 255 },
            .seed(\.seed),
        ]
        if !single {
            table.insert(.whole("n_estimators", \.nEstimators, expected: "a whole number ≥ 1") { $0 >= 1 }, at: 0)
            table.append(
                Hyperparameter("bootstrap", expected: "true or false") { p, text in
                    guard let b = Bool(text.lowercased()) else { return false }
                    p.bootstrap = b
                    return true
                })
        }
        self = try Hyperparameters.parse(parameters, into: defaults, table: table)
    }
}

/// Random forest (bootstrap rows, a random subset of features per split, trees grown deep on both cores) and,
/// with one tree on all rows and features, the CART decision tree, for regression (squared error) and any number
/// of classes (Gini), grown by `DecisionTreeGrower` over the same feature bins as the boosting engine.
public struct RandomForest: Learner {
    public var parameters: ForestParameters

    public init(parameters: ForestParameters = ForestParameters()) { self.parameters = parameters }

    public func fit(_ training: TrainingSet) throws -> ForestModel {
        try fit(schema: training.schema, data: training.data, target: try training.requiredTarget())
    }

    public func fit(schema: FeatureSchema, data: Dataset, target: TargetValues) throws -> ForestModel {
        let p = parameters
        let n = data.rows
        guard n >= 2 else { throw LearnError.tooFewRows(needed: 2, found: n) }
        let response: DecisionTreeGrower.Response
        var labels: [String] = []
        switch target {
        case .numbers(let v): response = .values(v)
        case .classes(let c, let l):
            guard l.count >= 2 else {
                throw LearnError.unsupported("a classification target needs at least two classes, found \(l.count)")
            }
            if c.contains(where: { $0 < 0 }) {
                throw LearnError.unsupported("a class label is missing from the training classes")
            }
            response = .classes(c, count: l.count)
            labels = l
        }
        let bins: [FeatureBins] = parallelMap(data.columns.count) { f in
            switch data.columns[f] {
            case .numeric(let v, let valid): return FeatureBins.numeric(v, valid: valid, maxBin: p.maxBin)
            case .categorical(let c, let levels): return FeatureBins.categorical(c, levels: levels, maxBin: p.maxBin)
            }
        }
        let binned = BinnedData(data, bins: bins)
        let featureCount = bins.count
        // scikit-learn's defaults: every feature per split for regression, √features for classification.
        let perSplit: Int = {
            if let f = p.maxFeatures { return max(1, min(featureCount, Int((Double(featureCount) * f).rounded()))) }
            return labels.isEmpty ? featureCount : max(1, Int(Double(featureCount).squareRoot()))
        }()
        let grower = DecisionTreeGrower(
            binned: binned, response: response, maxDepth: p.maxDepth,
            minSamplesLeaf: p.minSamplesLeaf, minImpurityDecrease: p.minImpurityDecrease)
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
            return (grower.grow(rows: bag, featuresPerSplit: perSplit, seed: rng.next()), inBag)
        }
        var model = ForestModel(
            schema: schema, bins: bins, parameters: p, labels: labels, trees: grown.map(\.0), oobScore: nil)
        if p.bootstrap && p.nEstimators > 1 {
            model.oobScore = Self.outOfBagScore(model, binned: binned, target: target, inBag: grown.map(\.1))
        }
        return model
    }

    /// R² (regression) or accuracy (classification) of each row's average over the trees that did not see it.
    static func outOfBagScore(_ model: ForestModel, binned: BinnedData, target: TargetValues, inBag: [[Bool]])
        -> Double?
    {
        let n = binned.rows
        let w = model.leafWidth
        var sum = [Double](repeating: 0, count: n * w)
        var votes = [Int](repeating: 0, count: n)
        for (t, tree) in model.trees.enumerated() {
            GBDTModel.forEachLeaf(tree, binned, rows: 0..<n) { r, leaf in
                guard !inBag[t][r] else { return }
                for c in 0..<w { sum[r * w + c] += tree.leafValues[leaf * w + c] }
                votes[r] += 1
            }
        }
        let scored = (0..<n).filter { votes[$0] > 0 }
        guard scored.count > 1 else { return nil }
        switch target {
        case .classes(let c, _):
            let correct = scored.filter { r in
                if w == 1 { return (sum[r] / Double(votes[r]) > 0.5) == (c[r] == 1) }
                let row = sum[(r * w)..<(r * w + w)]
                return row.firstIndex(of: row.max()!)! - r * w == Int(c[r])
            }.count
            return Double(correct) / Double(scored.count)
        case .numbers(let y):
            let mean = scored.reduce(0) { $0 + y[$1] } / Double(scored.count)
            var ss = 0.0
            var se = 0.0
            for r in scored {
                let e = sum[r] / Double(votes[r]) - y[r]
                se += e * e
                ss += (y[r] - mean) * (y[r] - mean)
            }
            return ss > 0 ? 1 - se / ss : nil
        }
    }
}

/// A fitted forest (or single tree): the average of its trees' leaf values — means, class-1 shares (two classes)
/// or per-class shares (`leafValues[leaf · K + class]`, three classes or more).
public struct ForestModel: FittedLearner {
    public var schema: FeatureSchema
    public var bins: [FeatureBins]
    public var parameters: ForestParameters
    public var labels: [String]
    public var trees: [BoostedTree]
    /// Out-of-bag R² or accuracy (bootstrap forests only).
    public var oobScore: Double?

    /// Values per leaf: one (a mean, or the share of the second class) or, for three classes or more, one per class.
    public var leafWidth: Int { labels.count > 2 ? labels.count : 1 }

    /// Total split gain per feature over the trees.
    public func featureImportances() -> [Double]? {
        var gains = [Double](repeating: 0, count: schema.features.count)
        for t in trees { for (i, f) in t.feature.enumerated() { gains[Int(f)] += t.gain[i] } }
        return gains
    }

    public func predict(_ data: Dataset) -> Predictions {
        let binned = BinnedData(data, bins: bins)
        let n = data.rows
        let w = leafWidth
        let chunks = n < 4096 ? 1 : ProcessInfo.processInfo.activeProcessorCount * 4
        let parts = parallelMap(chunks) { k -> [Double] in
            let part = slice(k, of: n, into: chunks)
            let (lo, hi) = (part.lowerBound, part.upperBound)
            var out = [Double](repeating: 0, count: (hi - lo) * w)
            for tree in trees {
                if w == 1 {
                    GBDTModel.addLeafValues(tree, binned, rows: lo..<hi, into: &out)
                } else {
                    GBDTModel.forEachLeaf(tree, binned, rows: lo..<hi) { r, leaf in
                        for c in 0..<w { out[(r - lo) * w + c] += tree.leafValues[leaf * w + c] }
                    }
                }
            }
            let count = Double(max(1, trees.count))
            return out.map { $0 / count }  // the mean over trees of each leaf's mean or class shares
        }
        let values = parts.flatMap { $0 }
        if labels.isEmpty { return Predictions(values: values, probabilities: [], classCount: 0) }
        if w > 1 {
            var predicted = [Double](repeating: 0, count: n)
            for r in 0..<n {
                var best = 0
                for c in 1..<w where values[r * w + c] > values[r * w + best] { best = c }
                predicted[r] = Double(best)
            }
            return Predictions(values: predicted, probabilities: values, classCount: w)
        }
        var probabilities = [Double](repeating: 0, count: 2 * n)
        for r in 0..<n {
            let p1 = min(1, max(0, values[r]))
            probabilities[2 * r] = 1 - p1
            probabilities[2 * r + 1] = p1
        }
        return Predictions(values: values.map { $0 > 0.5 ? 1 : 0 }, probabilities: probabilities, classCount: 2)
    }
}
