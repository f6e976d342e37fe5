import Foundation
import MLCycleLearn
import SwiftProtobuf

/// A gradient-boosted model as an ONNX model: one operator of ONNX's ai.onnx.ml domain (opset 3),
/// `TreeEnsembleRegressor` for a regression, `TreeEnsembleClassifier` for a classifier, that ONNX Runtime (and ONNX
/// Runtime Mobile) runs. It takes one input, `input`: doubles, one row per answer and one column per feature, encoded
/// as `LightGBMModelText` describes (numbers as they are, a category as the index of its level, missing as NaN).
/// A regression answers `variable` (rows × 1); a classifier `label` (its classes' names) and `probabilities`
/// (rows × classes). ONNX's tree ensembles answer in 32-bit floats: the same estimates as mlcycle's to 1e-7
/// relative. Thresholds and leaf values are kept as doubles (the operator's `…_as_tensor` attributes).
///
/// A categorical split (the levels in a set go left) becomes a chain of `BRANCH_EQ` nodes, one per level, each
/// sending its level to its own copy of the left subtree; a missing value follows the split's direction.
public enum ONNXTreeEnsemble {
    /// The ONNX IR version written (8: the format of ONNX 1.10 and later).
    public static let irVersion: Int64 = 8

    /// Why a model cannot be written as ONNX.
    public enum ExportError: LocalizedError, Equatable {
        case tooLarge(nodes: Int)

        public var errorDescription: String? {
            switch self {
            case .tooLarge(let nodes):
                return
                    "the ONNX model would have more than \(nodes) nodes: its categorical splits send many levels left, "
                    + "and each level gets its own copy of the subtree below; fewer levels (or max_cat_to_onehot) "
                    + "keep it small"
            }
        }
    }

    /// The attributes both ensembles share: one entry per node of every tree, and one per leaf.
    struct Nodes {
        var treeIDs: [Int64] = []
        var nodeIDs: [Int64] = []
        var featureIDs: [Int64] = []
        var modes: [String] = []
        var values: [Double] = []
        var trueIDs: [Int64] = []
        var falseIDs: [Int64] = []
        var missingTracksTrue: [Int64] = []
        var leafTree: [Int64] = []
        var leafNode: [Int64] = []
        var leafTarget: [Int64] = []
        var leafWeight: [Double] = []
        var limit = 20_000_000

        /// Appends a node with id `id` (its index within the tree), a leaf until the caller sets its split.
        mutating func node(tree: Int64, id: Int64) throws {
            guard nodeIDs.count < limit else { throw ExportError.tooLarge(nodes: limit) }
            treeIDs.append(tree)
            nodeIDs.append(id)
            featureIDs.append(0)
            modes.append("LEAF")
            values.append(0)
            trueIDs.append(0)
            falseIDs.append(0)
            missingTracksTrue.append(0)
        }
    }

    /// The ONNX model of `model`, serialized.
    public static func data(_ model: GBDTModel, producerVersion: String) throws -> Data {
        try proto(model, producerVersion: producerVersion).serializedData()
    }

    /// The ONNX model of `model`.
    static func proto(_ model: GBDTModel, producerVersion: String) throws -> Onnx_ModelProto {
        let starts = model.initialScores ?? [model.initialScore]
        let k = starts.count
        var nodes = Nodes()
        for (i, t) in model.exportedTrees.enumerated() {
            try emit(
                t, tree: Int64(i), target: Int64(k == 1 ? 0 : i % k), start: i < k ? starts[i] : 0,
                bins: model.bins, into: &nodes)
        }
        let classes = model.labels
        var op = Onnx_NodeProto()
        op.domain = "ai.onnx.ml"
        op.input = ["input"]
        op.name = "trees"
        var attributes: [Onnx_AttributeProto] = [
            .ints("nodes_treeids", nodes.treeIDs), .ints("nodes_nodeids", nodes.nodeIDs),
            .ints("nodes_featureids", nodes.featureIDs), .strings("nodes_modes", nodes.modes),
            .doubles("nodes_values_as_tensor", nodes.values), .ints("nodes_truenodeids", nodes.trueIDs),
            .ints("nodes_falsenodeids", nodes.falseIDs),
            .ints("nodes_missing_value_tracks_true", nodes.missingTracksTrue),
        ]
        var outputs: [Onnx_ValueInfoProto]
        if classes.isEmpty {
            op.opType = "TreeEnsembleRegressor"
            op.output = ["variable"]
            attributes += [
                .int("n_targets", 1), .string("aggregate_function", "SUM"), .string("post_transform", "NONE"),
                .ints("target_treeids", nodes.leafTree), .ints("target_nodeids", nodes.leafNode),
                .ints("target_ids", nodes.leafTarget), .doubles("target_weights_as_tensor", nodes.leafWeight),
            ]
            outputs = [.tensor("variable", type: .float, shape: [nil, 1])]
        } else {
            op.opType = "TreeEnsembleClassifier"
            op.output = ["label", "probabilities"]
            // Binary: one score, the log-odds of the second class; ONNX Runtime reads a binary classifier whose
            // leaves all name class 0 as that, and answers [1 − p, p].
            attributes += [
                .strings("classlabels_strings", classes),
                .string("post_transform", classes.count == 2 ? "LOGISTIC" : "SOFTMAX"),
                .ints("class_treeids", nodes.leafTree), .ints("class_nodeids", nodes.leafNode),
                .ints("class_ids", nodes.leafTarget), .doubles("class_weights_as_tensor", nodes.leafWeight),
            ]
            outputs = [
                .tensor("label", type: .string, shape: [nil]),
                .tensor("probabilities", type: .float, shape: [nil, Int64(classes.count)]),
            ]
        }
        op.attribute = attributes
        var graph = Onnx_GraphProto()
        graph.name = "mlcycle"
        graph.node = [op]
        graph.input = [.tensor("input", type: .double, shape: [nil, Int64(model.schema.features.count)])]
        graph.output = outputs
        var out = Onnx_ModelProto()
        out.irVersion = irVersion
        out.producerName = "mlcycle"
        out.producerVersion = producerVersion
        out.opsetImport = [.init(domain: "", version: 17), .init(domain: "ai.onnx.ml", version: 3)]
        out.graph = graph
        return out
    }

    /// Appends tree `t`'s nodes (ids 0… in the order written) and leaves, `start` added to every leaf.
    static func emit(
        _ t: BoostedTree, tree: Int64, target: Int64, start: Double, bins: [FeatureBins], into nodes: inout Nodes
    ) throws {
        var next: Int64 = 0
        // Writes the subtree at `child` and returns the id of its root.
        func write(_ child: Int32) throws -> Int64 {
            let id = next
            next += 1
            try nodes.node(tree: tree, id: id)
            let at = nodes.nodeIDs.count - 1
            if child < 0 {
                nodes.leafTree.append(tree)
                nodes.leafNode.append(id)
                nodes.leafTarget.append(target)
                nodes.leafWeight.append(t.leafValues[Int(~child)] + start)
                return id
            }
            let node = Int(child)
            nodes.featureIDs[at] = Int64(t.feature[node])
            nodes.missingTracksTrue[at] = t.missingLeft[node] ? 1 : 0
            switch t.rawSplit(node, bins: bins) {
            case .numeric(let threshold):
                nodes.modes[at] = "BRANCH_LEQ"
                nodes.values[at] = threshold
                nodes.trueIDs[at] = try write(t.left[node])
                nodes.falseIDs[at] = try write(t.right[node])
            case .categorical(let levels):
                guard let first = levels.first else {
                    // No level goes left: only a missing value can (NaN < −∞ is false; it follows the flag).
                    nodes.modes[at] = "BRANCH_LT"
                    nodes.values[at] = -.infinity
                    nodes.trueIDs[at] = try write(t.left[node])
                    nodes.falseIDs[at] = try write(t.right[node])
                    return id
                }
                // A chain: level 1 → left, else level 2 → left, …, else right. NaN fails every test and goes
                // right, unless the first node's flag sends it left.
                nodes.modes[at] = "BRANCH_EQ"
                nodes.values[at] = Double(first)
                nodes.trueIDs[at] = try write(t.left[node])
                var previous = at
                for level in levels.dropFirst() {
                    let link = next
                    next += 1
                    try nodes.node(tree: tree, id: link)
                    let l = nodes.nodeIDs.count - 1
                    nodes.falseIDs[previous] = link
                    nodes.featureIDs[l] = Int64(t.feature[node])
                    nodes.modes[l] = "BRANCH_EQ"
                    nodes.values[l] = Double(level)
                    nodes.trueIDs[l] = try write(t.left[node])
                    previous = l
                }
                nodes.falseIDs[previous] = try write(t.right[node])
            }
            return id
        }
        _ = try write(t.feature.isEmpty ? -1 : 0)
    }
}

extension Onnx_AttributeProto {
    static func ints(_ name: String, _ values: [Int64]) -> Self {
        var a = Self()
        a.name = name
        a.type = .ints
        a.ints = values
        return a
    }

    static func int(_ name: String, _ value: Int64) -> Self {
        var a = Self()
        a.name = name
        a.type = .int
        a.i = value
        return a
    }

    static func strings(_ name: String, _ values: [String]) -> Self {
        var a = Self()
        a.name = name
        a.type = .strings
        a.strings = values.map { Data($0.utf8) }
        return a
    }

    static func string(_ name: String, _ value: String) -> Self {
        var a = Self()
        a.name = name
        a.type = .string
        a.s = Data(value.utf8)
        return a
    }

    /// A one-dimensional tensor of doubles (the `…_as_tensor` attributes keep full precision).
    static func doubles(_ name: String, _ values: [Double]) -> Self {
        var t = Onnx_TensorProto()
        t.dataType = Int32(Onnx_TensorProto.DataType.double.rawValue)
        t.dims = [Int64(values.count)]
        t.doubleData = values
        var a = Self()
        a.name = name
        a.type = .tensor
        a.t = t
        return a
    }
}

extension Onnx_ValueInfoProto {
    /// A tensor of `type` whose dimensions are `shape` (nil: any number of rows).
    static func tensor(_ name: String, type: Onnx_TensorProto.DataType, shape: [Int64?]) -> Self {
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(type.rawValue)
        tensor.shape.dim = shape.map { size in
            var d = Onnx_TensorShapeProto.Dimension()
            if let size { d.dimValue = size } else { d.dimParam = "rows" }
            return d
        }
        var v = Self()
        v.name = name
        v.type.tensorType = tensor
        return v
    }
}

extension Onnx_OperatorSetIdProto {
    init(domain: String, version: Int64) {
        self.init()
        self.domain = domain
        self.version = version
    }
}
