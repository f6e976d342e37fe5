import Foundation
import MLCycleData

/// A fitted model of any learner.
public enum FittedModel: Sendable, Equatable {
    case linear(LinearRegressionModel)
    case logistic(LogisticRegressionModel)
    case gbdt(GBDTModel)
    case forest(ForestModel)
    case kmeans(KMeansModel)

    /// The fitted model behind the fitted-model contract.
    public var fitted: any FittedLearner {
        switch self {
        case .linear(let m): return m
        case .logistic(let m): return m
        case .gbdt(let m): return m
        case .forest(let m): return m
        case .kmeans(let m): return m
        }
    }

    public var schema: FeatureSchema { fitted.schema }

    /// Class labels (classification), empty for regression.
    public var labels: [String] { fitted.labels }

    public func predict(_ data: Dataset) -> Predictions { fitted.predict(data) }

    /// Predictions for a table's rows, in order: `prediction` (the value, or the label) and, for classification,
    /// `probability_<label>` per class. Columns the model does not use (such as the target) are ignored.
    public func predictTable(_ table: Table) throws -> Table {
        let data = try schema.encode(table)
        if case .kmeans(let m) = self {
            let (clusters, distances) = m.assign(data)
            return try Table(columns: [
                Column(name: "prediction", ints: clusters.map { Int64($0) }),
                Column(name: "distance", doubles: distances.map { $0.squareRoot() }),
            ])
        }
        let p = predict(data)
        let labels = self.labels  // once, not per row (it goes through the fitted-model contract)
        if labels.isEmpty { return try Table(columns: [Column(name: "prediction", doubles: p.values.map { $0 })]) }
        var columns = [Column(name: "prediction", strings: p.values.map { labels[Int($0)] })]
        for (k, label) in labels.enumerated() {
            columns.append(
                Column(
                    name: "probability_\(label)", doubles: (0..<table.rowCount).map { p.probability(row: $0, class: k) }
                ))
        }
        return try Table(columns: columns)
    }
}

/// The versioned JSON file a fitted model is saved in.
///
/// ```json
/// {"format": "mlcycle-model", "version": 1, "learner": "linear", "task": "regression", "target": "Sale_Price",
///  "parameters": {"alpha": "1"}, "created": "2026-11-24T23:00:00Z", "mlcycle_version": "0.1.0",
///  "linear": {"schema": {...}, "design": {...}, "coefficients": [...], "intercept": 1.5}}
/// ```
/// Exactly one of the learner keys (`linear`, `logistic`, `gbdt`, `forest` — which also holds a single `tree` —,
/// `kmeans`) is present, and for regression optionally `range` (two quantile models and a conformal adjustment); `target` is empty for clustering. Numbers are written with the shortest
/// text that reads back to the same double, so a loaded model predicts bit for bit what the saved one did.
public struct ModelFile: Codable, Sendable, Equatable {
    public static let formatName = "mlcycle-model"
    public static let currentVersion = 1

    public var format: String
    public var version: Int
    public var learner: LearnerKind
    public var task: Task
    public var target: String
    public var parameters: [String: String]
    public var created: String
    public var mlcycleVersion: String
    public var linear: LinearRegressionModel?
    public var logistic: LogisticRegressionModel?
    public var gbdt: GBDTModel?
    /// Random forest or single decision tree.
    public var forest: ForestModel?
    public var kmeans: KMeansModel?
    /// Regression: a calibrated prediction range (`train --range 0.9`), or nil.
    public var range: PredictionRange?

    enum CodingKeys: String, CodingKey {
        case format, version, learner, task, target, parameters, created
        case mlcycleVersion = "mlcycle_version"
        case linear, logistic, gbdt, forest, kmeans, range
    }

    public init(
        model: FittedModel, learner: LearnerKind, task: Task, target: String, parameters: [String: String],
        mlcycleVersion: String = MLCycleVersion.current
    ) {
        format = Self.formatName
        version = Self.currentVersion
        self.learner = learner
        self.task = task
        self.target = target
        self.parameters = parameters
        created = CalendarDate.isoString(microseconds: Int64(Date().timeIntervalSince1970) * 1_000_000)
        self.mlcycleVersion = mlcycleVersion
        switch model {
        case .linear(let m): linear = m
        case .logistic(let m): logistic = m
        case .gbdt(let m): gbdt = m
        case .forest(let m): forest = m
        case .kmeans(let m): kmeans = m
        }
    }

    /// Predictions as `FittedModel.predictTable` gives them, plus `lower` and `upper` when the file holds a range.
    public func predictTable(_ table: Table) throws -> Table {
        let model = try self.model()
        var out = try model.predictTable(table)
        if let range {
            let (lo, hi) = range.bounds(try model.schema.encode(table))
            out = try out.setting(Column(name: "lower", doubles: lo)).setting(Column(name: "upper", doubles: hi))
        }
        return out
    }

    /// The model inside.
    public func model() throws -> FittedModel {
        if let linear { return .linear(linear) }
        if let logistic { return .logistic(logistic) }
        if let gbdt { return .gbdt(gbdt) }
        if let forest { return .forest(forest) }
        if let kmeans { return .kmeans(kmeans) }
        throw LearnError.modelFile(path: "model", reason: "the file holds no model for learner '\(learner)'")
    }

    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// Writes the model atomically.
    public func write(to path: String) throws {
        try AtomicFile.write(try jsonData(), to: path)
    }

    /// Reads a model file; a file that is not one, is damaged, or comes from a newer mlcycle is a clear error.
    public static func load(path: String) throws -> ModelFile {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError.fileNotFound(path: path) }
        return try decode(data, path: path)
    }

    public static func decode(_ data: Data, path: String = "model") throws -> ModelFile {
        if let problem = FileFormat.problem(data, name: formatName, what: "model file", newest: currentVersion) {
            throw LearnError.modelFile(path: path, reason: problem)
        }
        do {
            let file = try JSONDecoder().decode(ModelFile.self, from: data)
            _ = try file.model()
            return file
        } catch let e as LearnError {
            throw LearnError.modelFile(path: path, reason: e.localizedDescription)
        } catch {
            throw LearnError.modelFile(path: path, reason: "the model is damaged: \(error)")
        }
    }
}
