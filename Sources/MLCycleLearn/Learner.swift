import Foundation
import MLCycleData

/// The learners mlcycle has: the one list that `--learner`, the project spec, model files and training use.
public enum LearnerKind: String, CaseIterable, Codable, Sendable {
    case linear, logistic, tree, forest, gbdt, kmeans

    /// The names, in order, for messages and help.
    public static var names: [String] { allCases.map(\.rawValue) }

    /// Refuses a task this learner does not solve, saying which learner does.
    public func check(task: Task) throws {
        switch (self, task) {
        case (.kmeans, .clustering), (.linear, .regression), (.logistic, .binary), (.logistic, .multiclass),
            (.tree, .regression), (.tree, .binary), (.tree, .multiclass), (.forest, .regression), (.forest, .binary),
            (.forest, .multiclass), (.gbdt, .regression), (.gbdt, .binary), (.gbdt, .multiclass):
            return
        case (.kmeans, _), (_, .clustering):
            throw LearnError.unsupported("clustering is --task clustering --learner kmeans")
        case (.linear, _):
            throw LearnError.unsupported(
                "the linear learner is for regression; use --learner logistic for classification")
        case (.logistic, _):
            throw LearnError.unsupported(
                "the logistic learner is for classification; use --learner linear for regression")
        default:
            throw LearnError.unsupported("the \(rawValue) learner does not solve a \(task.rawValue) task")
        }
    }

    /// Parses `NAME=VALUE` text into this learner's typed hyperparameters for `task`: an unknown name or a value
    /// of the wrong kind is a `LearnError` that lists what the learner takes.
    public func parameters(_ text: [String: String], task: Task) throws -> LearnerParameters {
        try check(task: task)
        switch self {
        case .linear: return .linear(try LinearRegression.Parameters(text))
        case .logistic: return .logistic(try LogisticRegression.Parameters(text))
        case .tree: return .tree(try ForestParameters(parameters: text, single: true))
        case .forest: return .forest(try ForestParameters(parameters: text, single: false))
        case .gbdt: return .gbdt(try GBDTParameters(parameters: text, objective: GBDTParameters.Objective(task: task)))
        case .kmeans: return .kmeans(try KMeans.Parameters(text))
        }
    }
}

/// A learner's typed hyperparameters, one case per `LearnerKind`.
public enum LearnerParameters: Codable, Sendable, Equatable {
    case linear(LinearRegression.Parameters)
    case logistic(LogisticRegression.Parameters)
    case tree(ForestParameters)
    case forest(ForestParameters)
    case gbdt(GBDTParameters)
    case kmeans(KMeans.Parameters)

    public var kind: LearnerKind {
        switch self {
        case .linear: return .linear
        case .logistic: return .logistic
        case .tree: return .tree
        case .forest: return .forest
        case .gbdt: return .gbdt
        case .kmeans: return .kmeans
        }
    }

    /// Whether the fit watches held-out rows (gradient boosting with early stopping).
    public var watchesValidation: Bool {
        if case .gbdt(let p) = self { return p.earlyStoppingRounds > 0 }
        return false
    }

    /// Fits the learner these parameters belong to. `target` is nil for clustering; `validation` is used by
    /// learners that watch held-out rows.
    public func fit(
        schema: FeatureSchema, data: Dataset, target: TargetValues?,
        validation: (data: Dataset, target: TargetValues)? = nil
    ) throws -> FittedModel {
        let training = TrainingSet(schema: schema, data: data, target: target, validation: validation)
        switch self {
        case .linear(let p): return .linear(try LinearRegression(parameters: p).fit(training))
        case .logistic(let p): return .logistic(try LogisticRegression(parameters: p).fit(training))
        case .tree(let p), .forest(let p): return .forest(try RandomForest(parameters: p).fit(training))
        case .gbdt(let p): return .gbdt(try GradientBoostedTrees(parameters: p).fit(training))
        case .kmeans(let p): return .kmeans(try KMeans(parameters: p).fit(training))
        }
    }
}

/// What a learner is fitted on: encoded rows, their target (nil for clustering), and rows to watch, if any.
public struct TrainingSet {
    public var schema: FeatureSchema
    public var data: Dataset
    public var target: TargetValues?
    public var validation: (data: Dataset, target: TargetValues)?

    public init(
        schema: FeatureSchema, data: Dataset, target: TargetValues?,
        validation: (data: Dataset, target: TargetValues)? = nil
    ) {
        self.schema = schema
        self.data = data
        self.target = target
        self.validation = validation
    }

    /// The target, which a supervised learner needs.
    func requiredTarget() throws -> TargetValues {
        guard let target else {
            throw LearnError.unsupported("this learner needs a target; only kmeans clusters without one")
        }
        return target
    }
}

/// A learning algorithm (scikit-learn's estimator): typed hyperparameters in, a fitted model out.
public protocol Learner: Sendable {
    associatedtype Parameters: Codable, Sendable, Equatable
    associatedtype Model: FittedLearner
    var parameters: Parameters { get }
    init(parameters: Parameters)
    func fit(_ training: TrainingSet) throws -> Model
}

/// A fitted model: it predicts, names its classes, reports what it learnt from each feature, and is `Codable`
/// (the model file holds it).
public protocol FittedLearner: Codable, Sendable, Equatable {
    /// The input columns and how each is encoded.
    var schema: FeatureSchema { get }
    /// Class labels (classification), empty otherwise.
    var labels: [String] { get }
    func predict(_ data: Dataset) -> Predictions
    /// Built-in importance per feature of `schema` (total split gain for trees), or nil where the learner has none
    /// (evaluation then measures permutation importance).
    func featureImportances() -> [Double]?
}

extension FittedLearner {
    public func featureImportances() -> [Double]? { nil }
}

// MARK: - Hyperparameters from text

/// One hyperparameter a learner takes: its name, aliases, what it expects, and how its text sets the typed value.
public struct Hyperparameter<Parameters> {
    public let name: String
    public let aliases: [String]
    /// What a valid value looks like, for the error message.
    public let expected: String
    let apply: (inout Parameters, String) -> Bool

    init(_ name: String, aliases: [String] = [], expected: String, apply: @escaping (inout Parameters, String) -> Bool)
    {
        self.name = name
        self.aliases = aliases
        self.expected = expected
        self.apply = apply
    }

    /// A number with a validity check.
    static func number(
        _ name: String, aliases: [String] = [], _ path: WritableKeyPath<Parameters, Double>,
        expected: String, valid: @escaping (Double) -> Bool
    ) -> Self {
        Self(name, aliases: aliases, expected: expected) { p, text in
            guard let x = Double(text), x.isFinite, valid(x) else { return false }
            p[keyPath: path] = x
            return true
        }
    }

    /// A whole number with a validity check.
    static func whole(
        _ name: String, aliases: [String] = [], _ path: WritableKeyPath<Parameters, Int>,
        expected: String, valid: @escaping (Int) -> Bool = { _ in true }
    ) -> Self {
        Self(name, aliases: aliases, expected: expected) { p, text in
            guard let x = Int(text), valid(x) else { return false }
            p[keyPath: path] = x
            return true
        }
    }

    /// A random seed (a whole number ≥ 0).
    static func seed(_ path: WritableKeyPath<Parameters, UInt64>) -> Self {
        Self("seed", aliases: ["random_state"], expected: "a whole number ≥ 0") { p, text in
            guard let x = UInt64(text) else { return false }
            p[keyPath: path] = x
            return true
        }
    }
}

/// Parsing of hyperparameter text: the one place `NAME=VALUE` becomes typed parameters.
public enum Hyperparameters {
    /// Applies `text` to `defaults` through `table`: an unknown name lists the names the learner takes, a value it
    /// refuses says what it expects.
    static func parse<P>(_ text: [String: String], into defaults: P, table: [Hyperparameter<P>]) throws -> P {
        var p = defaults
        for (name, value) in text {
            guard let h = table.first(where: { $0.name == name || $0.aliases.contains(name) }) else {
                throw LearnError.unknownParameter(name: name, known: table.map(\.name))
            }
            guard h.apply(&p, value) else {
                throw LearnError.invalidParameter(name: name, value: value, expected: h.expected)
            }
        }
        return p
    }
}

extension GBDTParameters.Objective {
    /// The task's own objective (squared error for regression).
    public init(task: Task) {
        switch task {
        case .binary: self = .binary
        case .multiclass: self = .multiclass
        case .regression, .clustering: self = .regression
        }
    }
}
