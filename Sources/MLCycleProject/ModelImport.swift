import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCycleLearn
import MLCyclePrep
import MLCycleQuality
import MLCycleStore
import Yams

/// `mlcycle import lightgbm`: a model trained elsewhere becomes a registered version, served, monitored, explained
/// and compared like one trained here.
public enum ModelImport {
    /// What the imported model takes and answers: the file `mlcycle export` writes beside a model
    /// (`model.preparation.json`) is one; a hand-written one lists `features` at least.
    ///
    /// ```yaml
    /// target: sale_price            # the column feedback names (default: target)
    /// labels: ["no", "yes"]         # a classifier's classes, in the model's order (default: 0, 1, …)
    /// features:                     # the model's inputs, in its order
    ///   - {name: living_area_sqft}                              # a number
    ///   - {name: neighborhood, kind: categorical, levels: [NAmes, OldTown]}   # category i is levels[i]
    /// ```
    public struct Schema: Codable, Sendable {
        public struct Feature: Codable, Sendable {
            public var name: String
            public var kind: FeatureSpec.Kind?
            public var levels: [String]?
        }

        public var target: String?
        public var labels: [String]?
        public var features: [Feature]
        /// Written by `mlcycle export` for a bundle: the columns a row carries, and the preparation that turns them
        /// into `features` (the imported version then takes the rows the exported one took).
        public var inputSchema: [FittedPipeline.ColumnSpec]?
        public var preparation: FittedPipeline?

        enum CodingKeys: String, CodingKey {
            case target, labels, features, preparation
            case inputSchema = "input_schema"
        }

        /// Reads a schema file: JSON (`.json`) or YAML.
        public static func load(path: String) throws -> Schema {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            do {
                if path.hasSuffix(".json") { return try JSONDecoder().decode(Schema.self, from: data) }
                return try YAMLDecoder().decode(Schema.self, from: String(decoding: data, as: UTF8.self))
            } catch let error as DecodingError {
                throw StoreError.invalid("\(path) is not an import schema: \(Self.describe(error))")
            }
        }

        static func describe(_ error: DecodingError) -> String {
            switch error {
            case .keyNotFound(let key, let context):
                return "'\((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))' is missing"
            case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
                let at = context.codingPath.map(\.stringValue).joined(separator: ".")
                return "\(at.isEmpty ? "" : "at '\(at)': ")\(context.debugDescription)"
            @unknown default: return "\(error)"
            }
        }

        /// The features as the LightGBM reader takes them.
        var modelFeatures: [LightGBMModelText.Feature] {
            features.map {
                LightGBMModelText.Feature(
                    name: $0.name, lightgbmName: $0.name, kind: $0.kind ?? .numeric,
                    levels: ($0.kind ?? .numeric) == .categorical ? ($0.levels ?? []) : nil)
            }
        }
    }

    /// The registered version's bundle: the model read from `text`; the schema's preparation (or none: rows carry the
    /// features themselves); with `data` (rows like the model's training rows), the reference statistics drift and
    /// confidence are measured against and, when they carry the target, an evaluation on them.
    public static func bundle(lightgbm text: String, schema: Schema, name: String, data: Table?, source: String)
        throws -> ModelBundle
    {
        let gbdt = try LightGBMModelText.read(text, features: schema.modelFeatures, labels: schema.labels)
        let task: Task =
            switch gbdt.parameters.objective {
            case .binary: .binary
            case .multiclass: .multiclass
            default: .regression
            }
        let target = schema.target ?? "target"
        let model = ModelFile(
            model: .gbdt(gbdt), learner: .gbdt, task: task, target: target,
            parameters: ["imported_from": source, "objective": gbdt.parameters.objective.rawValue])
        let columns =
            schema.inputSchema
            ?? gbdt.schema.features.map { FittedPipeline.ColumnSpec(name: $0.name, type: $0.sourceType) }
        let pipeline = schema.preparation ?? FittedPipeline(passingThrough: columns)
        var bundle = ModelBundle(
            name: name, target: target, scope: [], pipeline: pipeline, model: model,
            reference: ReferenceStatistics(columns: []), evaluation: nil, lineage: .init(datasets: []))
        guard let data else { return bundle }
        bundle.reference = ReferenceStatistics.compute(data, excluding: [target])
        bundle.confidenceScale = try bundle.confidenceScale(training: data, relative: false)
        if data[target] != nil {
            var prepared = try pipeline.transform(data, serving: true).table
            if prepared[target] == nil, let y = data[target] { prepared = try prepared.setting(y) }
            var report = try Evaluation.run(model: model, data: prepared, options: EvaluationOptions(target: target))
            report.judgedOn = ["the \(data.rowCount) rows given at import (--data)"]
            report.reliability = try bundle.reliability(on: data)
            bundle.evaluation = report
        }
        bundle.lineage.datasets = [data.fingerprint()]
        return bundle
    }

    /// Registers `bundle` as the next version of its name; an imported version has no gates (nothing judged it).
    public static func register(_ bundle: ModelBundle, source: String, store: any Store, by actor: RegistryActor)
        async throws -> ModelVersion
    {
        try await store.ensureProject(bundle.name)
        let sha = try await store.putArtifact(try bundle.jsonData())
        return try await ModelRegistry(store: store).register(
            NewModelVersion(
                name: bundle.name, bundle: sha, metrics: bundle.evaluation?.metrics ?? [:], gatesPassed: true,
                gates: ["imported from \(source): no gates judged it"], run: nil, datasets: bundle.lineage.datasets,
                specHash: nil), by: actor)
    }
}
