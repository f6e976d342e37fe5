import Foundation
import MLCycleData

/// A gradient-boosted model in LightGBM's text model format: the file `lightgbm.Booster(model_file=…)` loads and
/// `Booster.save_model` writes. The exported model computes the same raw scores as mlcycle's for inputs encoded as
/// `features` describes:
///
/// - a numeric feature is the number itself (booleans 0 or 1, dates as days and timestamps as microseconds since
///   1970-01-01), a missing one NaN;
/// - a categorical feature is the index of its value in the feature's `levels`; a missing value, or one not in
///   `levels`, is NaN (LightGBM sends it the way mlcycle sends a missing value).
///
/// mlcycle's splits are on bins of the training values; each is written as LightGBM's raw-value split it stands
/// for (a numeric bin threshold as its upper bound, a set of category bins as the set of level indices in them).
/// The starting score is added to the first tree of each class, as LightGBM's `boost_from_average` stores it. The
/// training rows that reached each node (`internal_count`, `leaf_count`) are written too, so LightGBM's
/// `pred_contrib` and `shap.TreeExplainer` explain the exported model exactly as mlcycle explains its own.
public enum LightGBMModelText {
    /// One input column of the exported model, in order.
    public struct Feature: Codable, Sendable, Equatable {
        /// The column's name in mlcycle.
        public var name: String
        /// Its name in the LightGBM file (white space, which the format cannot hold, becomes `_`).
        public var lightgbmName: String
        public var kind: FeatureSpec.Kind
        /// Categorical: the values, in the order whose index the exported model takes.
        public var levels: [String]?

        enum CodingKeys: String, CodingKey {
            case name, kind, levels
            case lightgbmName = "lightgbm_name"
        }
    }

    /// The exported model's input columns.
    public static func features(of model: GBDTModel) -> [Feature] {
        model.schema.features.map {
            Feature(
                name: $0.name,
                lightgbmName: String($0.name.map { $0.isWhitespace ? "_" : $0 }),
                kind: $0.kind, levels: $0.kind == .categorical ? ($0.levels ?? []) : nil)
        }
    }

    /// LightGBM's objective line for the model's objective.
    static func objective(_ model: GBDTModel) -> String {
        switch model.parameters.objective {
        case .regression: return "regression"
        case .absoluteError: return "regression_l1"
        case .huber: return "huber"
        case .quantile: return "quantile"
        case .binary: return "binary sigmoid:1"
        case .multiclass: return "multiclass num_class:\(model.labels.count)"
        }
    }

    /// The model as LightGBM's text format.
    public static func text(_ model: GBDTModel) throws -> String {
        let features = Self.features(of: model)
        let names = features.map(\.lightgbmName)
        if let name = names.first(where: { $0.isEmpty || $0.contains("=") || $0.contains(":") }) {
            throw LearnError.unsupported(
                "the feature name '\(name)' cannot be written in a LightGBM model (empty, or with '=' or ':'): rename "
                    + "the column")
        }
        let starts = model.initialScores ?? [model.initialScore]
        let k = starts.count
        var trees = model.trees
        // No rounds: one leaf per class holding the starting score.
        if trees.isEmpty { trees = starts.map { _ in BoostedTree(leafValues: [0]) } }
        var out = """
            tree
            version=v4
            num_class=\(k)
            num_tree_per_iteration=\(k)
            label_index=0
            max_feature_idx=\(features.count - 1)
            objective=\(objective(model))
            feature_names=\(names.joined(separator: " "))
            feature_infos=\(zip(features, model.bins).map { info($0, $1) }.joined(separator: " "))


            """
        for (i, t) in trees.enumerated() {
            out += "Tree=\(i)\n"
            out += try tree(t, bins: model.bins, features: features, start: i < k ? starts[i] : 0)
            out += "\n\n"
        }
        out += "end of trees\n\nparameters:\n"
        let p = model.parameters
        for (key, value) in [
            ("boosting", "gbdt"), ("objective", objective(model).split(separator: " ")[0].description),
            ("num_iterations", "\(trees.count / k)"), ("learning_rate", "\(p.learningRate)"),
            ("num_leaves", "\(p.numLeaves)"), ("max_bin", "\(p.maxBin)"),
        ] {
            out += "[\(key): \(value)]\n"
        }
        out += "end of parameters\n\npandas_categorical:null\n"
        return out
    }

    /// LightGBM's `feature_infos` entry: `[min:max]` of a numeric feature's bin bounds, the indices of a
    /// categorical one's levels, `none` for a feature without values.
    static func info(_ f: Feature, _ bins: FeatureBins) -> String {
        if f.kind == .categorical {
            let count = f.levels?.count ?? 0
            return count == 0 ? "none" : (0..<count).map(String.init).joined(separator: ":")
        }
        guard let lo = bins.upperBounds.first, let hi = bins.upperBounds.last else { return "none" }
        return "[\(number(lo)):\(number(hi))]"
    }

    /// The shortest text that reads back to the same double (LightGBM parses it exactly).
    static func number(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }

    /// One tree's lines (without its `Tree=` header), with `start` added to every leaf.
    static func tree(_ t: BoostedTree, bins: [FeatureBins], features: [Feature], start: Double) throws -> String {
        let leaves = t.leafValues.map { $0 + start }
        guard !t.feature.isEmpty else {
            return """
                num_leaves=1
                num_cat=0
                split_feature=
                split_gain=
                threshold=
                decision_type=
                left_child=
                right_child=
                leaf_value=\(leaves.map(number).joined(separator: " "))
                leaf_weight=0
                leaf_count=\(t.leafCount.map { number($0.first ?? 0) } ?? "0")
                internal_value=
                internal_weight=
                internal_count=
                is_linear=0
                shrinkage=1
                """
        }
        var threshold = [String]()
        var decision = [Int]()
        var boundaries = [0]
        var words = [UInt32]()
        for node in t.feature.indices {
            let f = Int(t.feature[node])
            let set = t.categorySet[node]
            guard set >= 0 else {
                let bound = Int(t.binThreshold[node]) - 1
                let upper = bins[f].upperBounds
                // Every bin up to the last one: every value goes left.
                threshold.append(number(bound < upper.count ? upper[max(0, bound)] : .greatestFiniteMagnitude))
                // Numeric, missing values as NaN (2 << 2), sent left when bit 1 is set.
                decision.append((2 << 2) | (t.missingLeft[node] ? 2 : 0))
                continue
            }
            // The levels whose bins go left. LightGBM sends NaN (missing, or a level not known) right, as mlcycle's
            // gradient boosting always does with a categorical split.
            guard !t.missingLeft[node] else {
                throw LearnError.unsupported(
                    "a categorical split of '\(features[f].name)' sends missing values left, which LightGBM's format "
                        + "cannot say")
            }
            let levelBins = bins[f].levelBins
            // Every level has a bin of its own or the shared "other" one (≥ 1), so this is the category-set rule.
            let chosen = levelBins.indices.filter { t.goesLeft(node, bin: Int(levelBins[$0])) }
            var bitset = [UInt32](repeating: 0, count: max(1, ((chosen.last ?? 0) >> 5) + 1))
            for level in chosen { bitset[level >> 5] |= 1 << UInt32(level & 31) }
            threshold.append("\(boundaries.count - 1)")
            words += bitset
            boundaries.append(words.count)
            // Categorical (bit 0), missing values as NaN.
            decision.append(1 | (2 << 2))
        }
        // Each internal node's value: the mean of the leaves below it, weighted by training rows (as LightGBM
        // records it; its `pred_contrib` does not read it).
        let covers = t.leafCount ?? [Double](repeating: 1, count: leaves.count)
        var internalValue = [Double](repeating: 0, count: t.feature.count)
        func weighted(_ child: Int32) -> (sum: Double, count: Double) {
            if child < 0 { return (leaves[Int(~child)] * covers[Int(~child)], covers[Int(~child)]) }
            let (a, b) = (weighted(t.left[Int(child)]), weighted(t.right[Int(child)]))
            let total = (a.sum + b.sum, a.count + b.count)
            internalValue[Int(child)] = total.1 > 0 ? total.0 / total.1 : 0
            return total
        }
        _ = weighted(0)
        func line(_ key: String, _ values: [String]) -> String { "\(key)=\(values.joined(separator: " "))\n" }
        var s = line("num_leaves", ["\(leaves.count)"])
        s += line("num_cat", ["\(boundaries.count - 1)"])
        s += line("split_feature", t.feature.map { "\($0)" })
        s += line("split_gain", t.gain.map { "\(Float($0))" })
        s += line("threshold", threshold)
        s += line("decision_type", decision.map(String.init))
        s += line("left_child", t.left.map { "\($0)" })
        s += line("right_child", t.right.map { "\($0)" })
        s += line("leaf_value", leaves.map(number))
        s += line("leaf_weight", leaves.map { _ in "0" })
        if let leafCount = t.leafCount { s += line("leaf_count", leafCount.map(number)) }
        s += line("internal_value", internalValue.map(number))
        s += line("internal_weight", internalValue.map { _ in "0" })
        if let nodeCount = t.nodeCount { s += line("internal_count", nodeCount.map(number)) }
        if boundaries.count > 1 {
            s += line("cat_boundaries", boundaries.map(String.init))
            s += line("cat_threshold", words.map(String.init))
        }
        s += "is_linear=0\nshrinkage=1"
        return s
    }
}
