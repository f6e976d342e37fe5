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

        public init(name: String, lightgbmName: String, kind: FeatureSpec.Kind, levels: [String]?) {
            self.name = name
            self.lightgbmName = lightgbmName
            self.kind = kind
            self.levels = levels
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
        // No rounds: one leaf per class holding the starting score.
        let trees = model.exportedTrees
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
            let chosen: [Int]
            switch t.rawSplit(node, bins: bins) {
            case .numeric(let bound):
                threshold.append(number(bound))
                // Numeric, missing values as NaN (2 << 2), sent left when bit 1 is set.
                decision.append((2 << 2) | (t.missingLeft[node] ? 2 : 0))
                continue
            case .categorical(let levels): chosen = levels
            }
            // LightGBM sends NaN (missing, or a level not known) right, as mlcycle's gradient boosting always does
            // with a categorical split.
            guard !t.missingLeft[node] else {
                throw LearnError.unsupported(
                    "a categorical split of '\(features[f].name)' sends missing values left, which LightGBM's format "
                        + "cannot say")
            }
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

extension GBDTModel {
    /// The trees an export writes, one per class and round; a model without rounds as one leaf (0) per class.
    public var exportedTrees: [BoostedTree] {
        trees.isEmpty ? (initialScores ?? [initialScore]).map { _ in BoostedTree(leafValues: [0]) } : trees
    }
}

extension LightGBMModelText {
    /// Reads a LightGBM text model (`Booster.save_model`) whose inputs are `features`, in order (numbers as they
    /// are; a categorical feature as the index of its value in `levels`), as a gradient-boosted model that scores
    /// as LightGBM does. `labels` names a classifier's classes (default "0", "1", …).
    ///
    /// mlcycle's trees split on bins of a byte: each numeric feature's distinct thresholds become its bin bounds (at
    /// most 254), each level its own bin (at most 254 levels). Linear trees, `zero_as_missing` splits that send a
    /// zero elsewhere than its value would go, and objectives other than regression (l2, l1, huber, quantile),
    /// binary (sigmoid 1) and multiclass (softmax) are refused, each with the reason.
    public static func read(_ text: String, features: [Feature], labels: [String]? = nil) throws -> GBDTModel {
        var header = [String: String]()
        var blocks = [[String: String]]()
        var parameters = [String: String]()
        var inTrees = false
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("Tree=") {
                inTrees = true
                blocks.append([:])
                continue
            }
            if line == "end of trees" {
                inTrees = false
                continue
            }
            if line.hasPrefix("["), line.hasSuffix("]"), let colon = line.firstIndex(of: ":") {
                let key = String(line[line.index(after: line.startIndex)..<colon])
                parameters[key] = line[line.index(after: colon)..<line.index(before: line.endIndex)]
                    .trimmingCharacters(in: .whitespaces)
                continue
            }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<eq])
            let value = String(line[line.index(after: eq)...])
            if inTrees, !blocks.isEmpty {
                blocks[blocks.count - 1][key] = value
            } else if !inTrees {
                header[key] = header[key] ?? value
            }
        }
        guard header["version"] != nil || header["num_class"] != nil, !blocks.isEmpty else {
            throw LearnError.unsupported("this is not a LightGBM text model (no header or no Tree= sections)")
        }
        let objectiveWords = (header["objective"] ?? "regression").split(separator: " ").map(String.init)
        let k = Int(header["num_tree_per_iteration"] ?? header["num_class"] ?? "1") ?? 1
        var p = GBDTParameters()
        switch objectiveWords.first ?? "" {
        case "regression", "regression_l2", "l2", "mean_squared_error", "mse": p.objective = .regression
        case "regression_l1", "l1", "mean_absolute_error", "mae": p.objective = .absoluteError
        case "huber": p.objective = .huber
        case "quantile": p.objective = .quantile
        case "binary":
            if let sigmoid = objectiveWords.first(where: { $0.hasPrefix("sigmoid:") }),
                Double(sigmoid.dropFirst(8)) != 1
            {
                throw LearnError.unsupported(
                    "the binary objective's \(sigmoid) is not supported: mlcycle's probability is 1/(1+exp(-score))")
            }
            p.objective = .binary
        case "multiclass", "softmax": p.objective = .multiclass
        case let other:
            throw LearnError.unsupported(
                "the objective '\(other)' cannot be imported; mlcycle imports regression (l2, l1, huber, quantile), "
                    + "binary and multiclass models")
        }
        if let lr = parameters["learning_rate"].flatMap(Double.init) { p.learningRate = lr }
        if let leaves = parameters["num_leaves"].flatMap(Int.init) { p.numLeaves = leaves }
        if let alpha = parameters["alpha"].flatMap(Double.init) { p.alpha = alpha }
        let featureCount = (Int(header["max_feature_idx"] ?? "") ?? -1) + 1
        guard featureCount == features.count else {
            throw LearnError.unsupported(
                "the model takes \(featureCount) features and the schema lists \(features.count): list every input, "
                    + "in the model's order (its feature_names: \(header["feature_names"] ?? "?"))")
        }
        let classLabels: [String]
        if p.objective == .binary || p.objective == .multiclass {
            let count = p.objective == .binary ? 2 : k
            classLabels = labels ?? (0..<count).map(String.init)
            guard classLabels.count == count else {
                throw LearnError.unsupported("the model has \(count) classes and the schema names \(classLabels.count)")
            }
        } else {
            classLabels = []
        }

        // Each tree's arrays as LightGBM wrote them.
        struct Parsed {
            var leaves: [Double]
            var feature: [Int32]
            var threshold: [Double]
            var decision: [Int]
            var left: [Int32]
            var right: [Int32]
            var gain: [Double]
            var catBoundaries: [Int]
            var catThreshold: [UInt32]
            var leafCount: [Double]?
            var nodeCount: [Double]?
        }
        func numbers<T>(_ block: [String: String], _ key: String, _ parse: (Substring) -> T?) throws -> [T] {
            guard let line = block[key], !line.isEmpty else { return [] }
            return try line.split(separator: " ").map {
                guard let v = parse($0) else {
                    throw LearnError.unsupported("a tree's \(key) holds '\($0)', which is not a number")
                }
                return v
            }
        }
        let parsed = try blocks.enumerated().map { (i, b) -> Parsed in
            if b["is_linear"] == "1" {
                throw LearnError.unsupported(
                    "tree \(i) is a linear tree (linear_tree=true), which mlcycle cannot score")
            }
            let leaves = try numbers(b, "leaf_value") { Double($0) }
            let feature = try numbers(b, "split_feature") { Int32($0) }
            let count = feature.count
            let parsed = Parsed(
                leaves: leaves, feature: feature, threshold: try numbers(b, "threshold") { Double($0) },
                decision: try numbers(b, "decision_type") { Int($0) }, left: try numbers(b, "left_child") { Int32($0) },
                right: try numbers(b, "right_child") { Int32($0) },
                gain: try numbers(b, "split_gain") { Double($0) },
                catBoundaries: try numbers(b, "cat_boundaries") { Int($0) },
                catThreshold: try numbers(b, "cat_threshold") { UInt32($0) },
                leafCount: b["leaf_count"] == nil ? nil : try numbers(b, "leaf_count") { Double($0) },
                nodeCount: b["internal_count"] == nil ? nil : try numbers(b, "internal_count") { Double($0) })
            guard leaves.count == count + 1, parsed.threshold.count == count, parsed.decision.count == count,
                parsed.left.count == count, parsed.right.count == count,
                parsed.feature.allSatisfy({ $0 >= 0 && Int($0) < features.count })
            else {
                throw LearnError.unsupported(
                    "tree \(i) is malformed: \(count) splits and \(leaves.count) leaves, or a split on a feature "
                        + "the model does not have")
            }
            // A tree: every node but the root and every leaf is reached from exactly one split, thresholds are
            // numbers, covers (when given) one per node.
            var reached = [Int](repeating: 0, count: 2 * count + 1)
            for child in parsed.left + parsed.right {
                let slot = child >= 0 ? Int(child) : count + Int(~child)
                guard child >= 0 ? Int(child) < count && child != 0 : Int(~child) < leaves.count else {
                    throw LearnError.unsupported(
                        "tree \(i) is malformed: a child \(child) that is not one of its nodes")
                }
                reached[slot] += 1
            }
            // Reached once each, and all of them from the root: a tree (no loop away from the root).
            var seen = count == 0 ? 1 : 0
            var stack: [Int32] = count == 0 ? [] : [0]
            while let node = stack.popLast(), seen <= 2 * count + 1 {
                seen += 1
                if node >= 0 { stack += [parsed.left[Int(node)], parsed.right[Int(node)]] }
            }
            guard reached.enumerated().allSatisfy({ $0.offset == 0 ? $0.element == 0 : $0.element == 1 }),
                seen == 2 * count + 1,
                parsed.threshold.allSatisfy(\.isFinite),
                parsed.leafCount.map({ $0.count == leaves.count }) ?? true,
                parsed.nodeCount.map({ $0.count == count }) ?? true
            else {
                throw LearnError.unsupported(
                    "tree \(i) is malformed: its children do not make a tree, a threshold is not a number, or its "
                        + "counts do not match its nodes")
            }
            return parsed
        }

        // Bins: each numeric feature's distinct thresholds; each categorical level its own bin.
        var thresholds = [Set<Double>](repeating: [], count: features.count)
        for t in parsed {
            for (n, f) in t.feature.enumerated() where t.decision[n] & 1 == 0 {
                thresholds[Int(f)].insert(t.threshold[n])
            }
        }
        var bins = [FeatureBins]()
        for (f, feature) in features.enumerated() {
            if feature.kind == .categorical {
                let levels = feature.levels ?? []
                guard levels.count <= 254 else {
                    throw LearnError.unsupported(
                        "'\(feature.name)' has \(levels.count) levels; mlcycle's trees take at most 254 per feature")
                }
                bins.append(
                    FeatureBins(
                        kind: .categorical, upperBounds: [], levelBins: levels.indices.map { UInt8($0 + 1) },
                        count: levels.count + 1))
            } else {
                let bounds = thresholds[f].sorted()
                guard bounds.count <= 254 else {
                    throw LearnError.unsupported(
                        "'\(feature.name)' is split at \(bounds.count) distinct thresholds; mlcycle's trees take at "
                            + "most 254 per feature (its bins are bytes): train with max_bin ≤ 255")
                }
                bins.append(FeatureBins(kind: .numeric, upperBounds: bounds, levelBins: [], count: bounds.count + 2))
            }
        }

        let trees = try parsed.enumerated().map { (i, t) -> BoostedTree in
            var tree = BoostedTree(leafValues: t.leaves)
            tree.leafCount = t.leafCount
            tree.nodeCount = t.nodeCount
            for n in t.feature.indices {
                let f = Int(t.feature[n])
                let d = t.decision[n]
                let defaultLeft = d & 2 != 0
                let missingType = (d >> 2) & 3  // 0 none (NaN is read as 0), 1 zero, 2 NaN
                tree.feature.append(t.feature[n])
                tree.left.append(t.left[n])
                tree.right.append(t.right[n])
                tree.gain.append(n < t.gain.count ? t.gain[n] : 0)
                if d & 1 == 0 {
                    guard features[f].kind == .numeric else {
                        throw LearnError.unsupported(
                            "tree \(i) splits '\(features[f].name)' as a number; the schema says it is categorical")
                    }
                    let threshold = t.threshold[n]
                    let zeroGoesLeft = 0 <= threshold
                    if missingType == 1 && defaultLeft != zeroGoesLeft {
                        throw LearnError.unsupported(
                            "tree \(i) treats a zero in '\(features[f].name)' as missing (zero_as_missing) and sends it "
                                + "where its value would not go; mlcycle cannot score that split")
                    }
                    tree.threshold.append(threshold)
                    tree.binThreshold.append(Int32((bins[f].upperBounds.firstIndex(of: threshold) ?? 0) + 1))
                    tree.categorySet.append(-1)
                    tree.missingLeft.append(missingType == 0 ? zeroGoesLeft : defaultLeft)
                } else {
                    guard features[f].kind == .categorical else {
                        throw LearnError.unsupported(
                            "tree \(i) splits '\(features[f].name)' as a category; the schema says it is numeric: give "
                                + "it kind categorical and its levels")
                    }
                    // (Thresholds are finite, checked above; a huge one is no set's index.)
                    let index = t.threshold[n] >= 0 && t.threshold[n] < 1e9 ? Int(t.threshold[n]) : -1
                    guard index >= 0, index + 1 < t.catBoundaries.count, t.catBoundaries[index] >= 0,
                        t.catBoundaries[index] <= t.catBoundaries[index + 1],
                        t.catBoundaries[index + 1] <= t.catThreshold.count
                    else { throw LearnError.unsupported("tree \(i) has a categorical split without its category set") }
                    let words = t.catThreshold[t.catBoundaries[index]..<t.catBoundaries[index + 1]]
                    func inSet(_ category: Int) -> Bool {
                        let w = category >> 5
                        return w < words.count && words[words.startIndex + w] & (1 << UInt32(category & 31)) != 0
                    }
                    var set = [UInt64](repeating: 0, count: 4)
                    for level in 0..<(features[f].levels?.count ?? 0) where inSet(level) {
                        let b = level + 1
                        set[b >> 6] |= 1 << UInt64(b & 63)
                    }
                    tree.threshold.append(0)
                    tree.binThreshold.append(0)
                    tree.categorySet.append(Int32(tree.categorySets.count))
                    tree.categorySets.append(set)
                    // A missing value: NaN goes right with missing type NaN, else it is read as category 0.
                    tree.missingLeft.append(missingType == 2 ? false : inSet(0))
                }
            }
            return tree
        }
        let schema = FeatureSchema(
            features: features.map {
                FeatureSpec(
                    name: $0.name, kind: $0.kind, sourceType: $0.kind == .categorical ? .string : .float64,
                    levels: $0.kind == .categorical ? ($0.levels ?? []) : nil)
            })
        return GBDTModel(
            schema: schema, bins: bins, parameters: p, labels: classLabels, initialScore: 0,
            initialScores: k > 1 ? [Double](repeating: 0, count: k) : nil, trees: trees,
            bestIteration: trees.count / max(1, k))
    }
}
