import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCycleLearn
import MLCycleONNX
import MLCyclePrep

/// `mlcycle export`: a model written in a format other tools run, with a JSON file beside it saying how a row
/// becomes the exported model's inputs.
public enum ModelExport {
    /// The formats a model can be exported to.
    public enum Format: String, CaseIterable, Sendable {
        /// LightGBM's text model format (gradient-boosted models).
        case lightgbm
        /// ONNX: one ai.onnx.ml tree-ensemble operator (gradient-boosted models), for ONNX Runtime.
        case onnx
    }

    /// What is written beside an exported model (`<out>.preparation.json`): the inputs it takes, in order, and, for
    /// a bundle, the fitted preparation that turns a row of the input schema into them.
    public struct Preparation: Codable, Sendable, Equatable {
        public var format = "mlcycle-export"
        public var version = 1
        /// The model exported, as the command named it.
        public var model: String
        /// The exported model's file and format.
        public var file: String
        public var exportedAs: String
        public var task: Task
        public var target: String
        /// Classification: the classes in the exported model's output order (binary: its score is the log-odds of
        /// the second).
        public var labels: [String]
        /// The exported model's inputs, in order.
        public var features: [LightGBMModelText.Feature]
        /// A bundle: the columns a row carries before preparation.
        public var inputSchema: [FittedPipeline.ColumnSpec]?
        /// A bundle: its fitted preparation (mlcycle's pipeline JSON), input schema to `features`.
        public var preparation: FittedPipeline?
        /// What the exported model does not do that mlcycle does with it.
        public var notExported: [String]

        enum CodingKeys: String, CodingKey {
            case format, version, model, file, task, target, labels, features, preparation
            case exportedAs = "exported_as"
            case inputSchema = "input_schema"
            case notExported = "not_exported"
        }
    }

    /// Why a model cannot be exported.
    public enum ExportError: LocalizedError, Equatable {
        case learner(String, format: Format)

        public var errorDescription: String? {
            switch self {
            case .learner(let learner, let format):
                return
                    "--format \(format.rawValue) exports gradient-boosted models (learner gbdt); this model's learner "
                    + "is \(learner): train it with learner gbdt to export it"
            }
        }
    }

    /// Where the preparation of a model exported to `out` is written: `model.txt` → `model.preparation.json`.
    public static func preparationPath(for out: String) -> String {
        ((out as NSString).deletingPathExtension) + ".preparation.json"
    }

    /// Writes `saved` (named `reference`) to `out` in `format`, and its preparation beside it; returns that path.
    @discardableResult
    public static func write(_ saved: SavedModel, reference: String, format: Format, to out: String) throws -> String {
        let file = saved.modelFile
        guard let gbdt = file.gbdt else { throw ExportError.learner(file.learner.rawValue, format: format) }
        var preparation = Preparation(
            model: reference, file: (out as NSString).lastPathComponent, exportedAs: format.rawValue, task: file.task,
            target: file.target, labels: gbdt.labels, features: LightGBMModelText.features(of: gbdt),
            notExported: [])
        if file.range != nil { preparation.notExported.append("the prediction range (lower, upper)") }
        if case .bundle(let bundle, _) = saved {
            preparation.inputSchema = bundle.inputSchema
            preparation.preparation = bundle.pipeline
            if !bundle.scope.isEmpty {
                preparation.notExported.append("the scope rules (\(bundle.scope.joined(separator: "; ")))")
            }
            if let lookups = bundle.sources?.lookups, !lookups.isEmpty {
                preparation.notExported.append(
                    "the lookups (\(lookups.map(\.name).joined(separator: ", "))): a row carries their columns, "
                        + "merged, as input_schema lists them")
            }
        }
        let model: Data
        switch format {
        case .lightgbm: model = Data(try LightGBMModelText.text(gbdt).utf8)
        case .onnx:
            model = try ONNXTreeEnsemble.data(gbdt, producerVersion: MLCycleVersion.current)
            preparation.notExported.append(
                "full precision in the answers: ONNX's tree ensembles answer 32-bit floats (the same estimates to "
                    + "about 1e-7 relative)")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let path = preparationPath(for: out)
        try AtomicFile.write(model, to: out)
        try AtomicFile.write(try encoder.encode(preparation), to: path)
        return path
    }
}
