import Foundation
import MLCycleData
import SwiftProtobuf
import Testing

@testable import MLCycleLearn
@testable import MLCycleONNX

/// Models that leave mlcycle and come back: the fixture models (Tests/Fixtures/explain: regression, binary and
/// multiclass gradient-boosted models with categorical splits and missing values) as LightGBM text read back, and as
/// ONNX tree ensembles walked node by node. ONNX Runtime itself runs the ONNX exports in Tests/Interop/exports.sh.
@Suite struct ModelExchangeTests {
    /// The committed LightGBM file of each fixture model, read as a model, scores every row as the model does.
    @Test(arguments: ["regression", "binary", "multiclass"])
    func aLightGBMFileReadsBackToTheSameScores(_ name: String) throws {
        let (model, x, _) = try SHAPReferenceTests.load(name)
        let text = try String(
            contentsOf: SHAPReferenceTests.fixtures.appendingPathComponent("\(name).txt"), encoding: .utf8)
        let read = try LightGBMModelText.read(
            text, features: LightGBMModelText.features(of: model), labels: model.labels)
        #expect(read.labels == model.labels && read.trees.count == model.trees.count)
        let (mine, theirs) = (model.rawClassScores(x), read.rawClassScores(x))
        for (a, b) in zip(mine, theirs) {
            for (u, v) in zip(a, b) { #expect(abs(u - v) <= 1e-9 * max(1, abs(u))) }
        }
        // Its covers come along, so it is explained as the model is.
        let (c, d) = (try model.contributions(x), try read.contributions(x))
        for (u, v) in zip(c.values.joined(), d.values.joined()) { #expect(abs(u - v) <= 1e-9 * max(1, abs(u))) }
        // Written again, its trees are the same (the header's value ranges come from bins, which differ).
        let again = try LightGBMModelText.text(read)
        func trees(_ text: String) -> Substring {
            text[
                (text.range(of: "Tree=0")?.lowerBound ?? text.endIndex)..<(text.range(of: "end of trees")?.lowerBound
                    ?? text.endIndex)]
        }
        #expect(trees(again) == trees(text))
    }

    @Test func whatCannotBeReadIsRefusedWithTheReason() throws {
        let (model, _, _) = try SHAPReferenceTests.load("regression")
        let text = try LightGBMModelText.text(model)
        let features = LightGBMModelText.features(of: model)
        func refusal(_ text: String, _ features: [LightGBMModelText.Feature]) -> String {
            do {
                _ = try LightGBMModelText.read(text, features: features)
                return ""
            } catch { return error.localizedDescription }
        }
        #expect(refusal(text, Array(features.dropLast())).contains("the schema lists \(features.count - 1)"))
        #expect(refusal("hello", features).contains("not a LightGBM text model"))
        #expect(
            refusal(text.replacingOccurrences(of: "objective=regression", with: "objective=lambdarank"), features)
                .contains("'lambdarank' cannot be imported"))
        var numeric = features
        for i in numeric.indices where numeric[i].kind == .categorical {
            numeric[i].kind = .numeric
            numeric[i].levels = nil
        }
        #expect(refusal(text, numeric).contains("give it kind categorical"))
        // A damaged file is an error, never a crash or a loop: a child out of range, a threshold that is not a
        // number, a child that points back up.
        func damaged(_ key: String, _ change: (inout [Substring]) -> Void) -> String {
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            guard let at = lines.firstIndex(where: { $0.hasPrefix(key + "=") }) else { return "no \(key)" }
            var values = lines[at].dropFirst(key.count + 1).split(separator: " ")
            change(&values)
            lines[at] = Substring(key + "=" + values.joined(separator: " "))
            return refusal(lines.joined(separator: "\n"), features)
        }
        #expect(damaged("left_child") { $0[0] = "99" }.contains("not one of its nodes"))
        #expect(damaged("threshold") { $0[0] = "nan" }.contains("a threshold is not a number"))
        #expect(damaged("left_child") { $0[1] = "1" }.contains("do not make a tree"))
    }

    /// Every fixture model as an ONNX tree ensemble: walked as ONNX Runtime walks it (BRANCH_LEQ, BRANCH_EQ chains,
    /// missing values by their flag), every row's summed leaf weights are the model's raw scores.
    @Test(arguments: ["regression", "binary", "multiclass"])
    func theONNXEnsembleWalksToTheSameRawScores(_ name: String) throws {
        let (model, x, _) = try SHAPReferenceTests.load(name)
        let proto = try Onnx_ModelProto(serializedBytes: try ONNXTreeEnsemble.data(model, producerVersion: "test"))
        let node = try #require(proto.graph.node.first)
        #expect(node.opType == (model.labels.isEmpty ? "TreeEnsembleRegressor" : "TreeEnsembleClassifier"))
        #expect(proto.opsetImport.contains { $0.domain == "ai.onnx.ml" && $0.version == 3 })
        let a = Dictionary(uniqueKeysWithValues: node.attribute.map { ($0.name, $0) })
        let prefix = model.labels.isEmpty ? "target" : "class"
        let trees = try #require(a["nodes_treeids"]).ints
        let ids = try #require(a["nodes_nodeids"]).ints
        let features = try #require(a["nodes_featureids"]).ints
        let modes = try #require(a["nodes_modes"]).strings.map { String(decoding: $0, as: UTF8.self) }
        let values = try #require(a["nodes_values_as_tensor"]).t.doubleData
        let yes = try #require(a["nodes_truenodeids"]).ints
        let no = try #require(a["nodes_falsenodeids"]).ints
        let tracks = try #require(a["nodes_missing_value_tracks_true"]).ints
        let leafTrees = try #require(a["\(prefix)_treeids"]).ints
        let leafNodes = try #require(a["\(prefix)_nodeids"]).ints
        let leafClasses = try #require(a["\(prefix)_ids"]).ints
        let weights = try #require(a["\(prefix)_weights_as_tensor"]).t.doubleData
        // (tree, node id) → position; ids run 0… within each tree.
        var at = [Int64: [Int64: Int]]()
        for i in trees.indices { at[trees[i], default: [:]][ids[i]] = i }
        var leaf = [Int64: [Int64: (Int, Double)]]()
        for i in leafTrees.indices {
            leaf[leafTrees[i], default: [:]][leafNodes[i]] = (Int(leafClasses[i]), weights[i])
        }
        let raw = model.rawClassScores(x)
        let k = raw.count
        var worst = 0.0
        for r in 0..<x.rows {
            var sums = [Double](repeating: 0, count: k)
            for tree in at.keys {
                var id: Int64 = 0
                while let i = at[tree]?[id], modes[i] != "LEAF" {
                    let v = Self.input(x, row: r, feature: Int(features[i]))
                    let goesTrue: Bool
                    if v.isNaN {
                        goesTrue = tracks[i] == 1
                    } else {
                        switch modes[i] {
                        case "BRANCH_LEQ": goesTrue = v <= values[i]
                        case "BRANCH_EQ": goesTrue = v == values[i]
                        case "BRANCH_LT": goesTrue = v < values[i]
                        default:
                            Issue.record("unexpected mode \(modes[i])")
                            goesTrue = false
                        }
                    }
                    id = goesTrue ? yes[i] : no[i]
                }
                let (c, w) = try #require(leaf[tree]?[id])
                sums[k == 1 ? 0 : c] += w
            }
            for c in 0..<k { worst = max(worst, abs(sums[c] - raw[c][r]) / max(1, abs(raw[c][r]))) }
        }
        #expect(worst <= 1e-12, "largest difference \(worst)")
    }

    /// A row's input as the exported models take it: the number, or the level's index; missing as NaN.
    static func input(_ x: Dataset, row r: Int, feature f: Int) -> Double {
        switch x.columns[f] {
        case .numeric(let v, let valid): return valid?[r] == false ? .nan : v[r]
        case .categorical(let codes, _): return codes[r] < 0 ? .nan : Double(codes[r])
        }
    }
}
