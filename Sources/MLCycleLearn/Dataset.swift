import Foundation
import MLCycleData

/// What a learner solves.
public enum Task: String, Codable, Sendable, CaseIterable {
    case regression, binary, multiclass, clustering
}

/// Errors of the learning stage; messages say what to change.
public enum LearnError: LocalizedError, Equatable, Sendable {
    case invalidParameter(name: String, value: String, expected: String)
    case unknownParameter(name: String, known: [String])
    case targetType(column: String, task: Task, found: DataType)
    case tooFewRows(needed: Int, found: Int)
    case tooFewClasses(column: String, found: Int)
    case missingFeature(name: String)
    case featureType(name: String, expected: String, found: DataType)
    case unsupported(String)
    case modelFile(path: String, reason: String)
    case nonFiniteValue(column: String, row: Int, value: Double)
    case valuesTooLarge(column: String, largest: Double)

    public var errorDescription: String? {
        switch self {
        case .invalidParameter(let name, let value, let expected):
            return "parameter \(name)=\(value) is invalid: expected \(expected)"
        case .unknownParameter(let name, let known):
            return "unknown parameter '\(name)'; this learner takes \(known.sorted().joined(separator: ", "))"
        case .targetType(let column, let task, let found):
            return "the target '\(column)' is \(found), which does not fit a \(task.rawValue) task"
                + (task == .regression
                    ? "; regression needs a numeric target" : "; classification needs a text, boolean or integer label")
        case .tooFewRows(let needed, let found):
            return "training needs at least \(needed) rows with a target, found \(found)"
        case .tooFewClasses(let column, let found):
            return
                "the target '\(column)' has \(found) class\(found == 1 ? "" : "es"); classification needs at least two"
        case .missingFeature(let name):
            return "the data has no column '\(name)', which the model was trained on"
        case .featureType(let name, let expected, let found):
            return "column '\(name)' is \(found) but the model was trained on it as \(expected)"
        case .unsupported(let what):
            return what
        case .modelFile(let path, let reason):
            return "\(path): \(reason)"
        case .nonFiniteValue(let column, let row, let value):
            return "column '\(column)' holds \(value) at row \(row + 1) of the training data; a learner needs finite "
                + "numbers: correct the value, leave it empty (a missing value is imputed) or drop the row"
        case .valuesTooLarge(let column, let largest):
            return "column '\(column)' holds values as large as \(largest), too large for this learner to standardise "
                + "without overflow; rescale the column (a log transform, or other units) or use a tree learner"
        }
    }
}

/// Refuses a table whose numeric `columns` hold an infinite or NaN value (a missing value is fine), naming the
/// first such column and row, so a learner never fits on — or saves a model of — a number that is not finite.
public func requireFiniteValues(in table: Table, columns: [String]) throws {
    for name in columns {
        guard let c = table[name], case .float64(let values) = c.storage else { continue }
        for r in values.indices where !values[r].isFinite && c.isValid(r) {
            throw LearnError.nonFiniteValue(column: name, row: r, value: values[r])
        }
    }
}

/// How one input column enters a model: as a number, or as a category with the levels seen in training.
public struct FeatureSpec: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case numeric, categorical }
    public var name: String
    public var kind: Kind
    /// The input column's type in training (numbers, booleans as 0/1, dates as days).
    public var sourceType: DataType
    /// Categorical levels in code order (sorted); a value not among them is treated as missing.
    public var levels: [String]?
}

/// The input schema of a model: which columns, in which order, and how each is encoded.
public struct FeatureSchema: Codable, Sendable, Equatable {
    public var features: [FeatureSpec]

    /// Every column but the target and the dropped ones: numbers, booleans, dates and timestamps as numeric
    /// features, strings as categorical ones (levels sorted, so codes do not depend on row order).
    public static func infer(from table: Table, target: String?, drop: [String] = []) throws -> FeatureSchema {
        for d in drop where table[d] == nil { throw DataError.columnNotFound(name: d, available: table.columnNames) }
        let skip = Set(drop + [target].compactMap { $0 })
        var features = [FeatureSpec]()
        for c in table.columns where !skip.contains(c.name) {
            if case .string(let codes, let dict) = c.storage {
                var used = Set<UInt32>()
                for r in 0..<codes.count where c.isValid(r) { used.insert(codes[r]) }
                features.append(
                    FeatureSpec(
                        name: c.name, kind: .categorical, sourceType: .string,
                        levels: used.map { dict[Int($0)] }.sorted()))
            } else {
                features.append(FeatureSpec(name: c.name, kind: .numeric, sourceType: c.type, levels: nil))
            }
        }
        return FeatureSchema(features: features)
    }

    /// Encodes a table's columns for a model; extra columns are ignored, a missing or mistyped one is an error.
    public func encode(_ table: Table) throws -> Dataset {
        var columns = [FeatureColumn]()
        for f in features {
            guard let c = table[f.name] else { throw LearnError.missingFeature(name: f.name) }
            switch f.kind {
            case .numeric:
                guard c.type != .string, let values = c.doubles() else {
                    throw LearnError.featureType(name: f.name, expected: f.sourceType.rawValue, found: c.type)
                }
                columns.append(.numeric(values, valid: c.validity))
            case .categorical:
                let levels = f.levels ?? []
                var index = [String: Int32]()
                for (i, l) in levels.enumerated() { index[l] = Int32(i) }
                let codes: [Int32]
                if case .string(let cs, let dict) = c.storage {
                    let mapped = dict.map { index[$0] ?? -1 }
                    codes = (0..<c.count).map { c.isValid($0) ? mapped[Int(cs[$0])] : -1 }
                } else {
                    // A column that was text in training but reads as numbers now (e.g. all digits): compare as text.
                    codes = (0..<c.count).map { c.isValid($0) ? (index[c[$0].description] ?? -1) : -1 }
                }
                columns.append(.categorical(codes, levels: levels.count))
            }
        }
        return Dataset(rows: table.rowCount, columns: columns)
    }
}

/// One encoded feature.
public enum FeatureColumn: Sendable {
    /// Values with an optional validity mask.
    case numeric([Double], valid: [Bool]?)
    /// Level codes; -1 is missing or a level not seen in training.
    case categorical([Int32], levels: Int)
}

/// Encoded features, one column per `FeatureSpec`, for learners.
public struct Dataset: Sendable {
    public let rows: Int
    public let columns: [FeatureColumn]

    public init(rows: Int, columns: [FeatureColumn]) {
        self.rows = rows
        self.columns = columns
    }

    /// The rows at `indices`.
    public func taking(_ indices: [Int]) -> Dataset {
        Dataset(
            rows: indices.count,
            columns: columns.map { col in
                switch col {
                case .numeric(let v, let valid):
                    return .numeric(indices.map { v[$0] }, valid: valid.map { m in indices.map { m[$0] } })
                case .categorical(let codes, let levels): return .categorical(indices.map { codes[$0] }, levels: levels)
                }
            })
    }
}

/// A training target: numbers for regression, class indices (into `labels`) for classification.
public enum TargetValues: Sendable, Equatable {
    case numbers([Double])
    case classes([Int32], labels: [String])

    public var count: Int {
        switch self {
        case .numbers(let v): return v.count
        case .classes(let c, _): return c.count
        }
    }

    /// Reads the target column for a task; rows whose target is missing are returned in `missingRows`.
    public static func read(_ table: Table, column: String, task: Task, labels given: [String]? = nil) throws -> (
        TargetValues, missingRows: [Int]
    ) {
        let c = try table.column(column)
        let missing = (0..<c.count).filter { !c.isValid($0) }
        switch task {
        case .regression:
            guard c.type.isNumeric || c.type == .bool, let v = c.doubles() else {
                throw LearnError.targetType(column: column, task: task, found: c.type)
            }
            return (.numbers(v), missing)
        case .binary, .multiclass:
            guard c.type == .string || c.type == .bool || c.type == .int64 else {
                throw LearnError.targetType(column: column, task: task, found: c.type)
            }
            let text = (0..<c.count).map { c.isValid($0) ? c[$0].description : "" }
            let labels = given ?? Array(Set((0..<c.count).filter { c.isValid($0) }.map { text[$0] })).sorted()
            var index = [String: Int32]()
            for (i, l) in labels.enumerated() { index[l] = Int32(i) }
            if given == nil {
                if labels.count < 2 { throw LearnError.tooFewClasses(column: column, found: labels.count) }
                if task == .binary && labels.count != 2 {
                    throw LearnError.unsupported(
                        "the target '\(column)' has \(labels.count) classes; use --task multiclass, or binary for exactly two"
                    )
                }
            }
            return (.classes(text.map { index[$0] ?? -1 }, labels: labels), missing)
        case .clustering:
            throw LearnError.unsupported("clustering has no target")
        }
    }

    /// The numbers of a regression target.
    public func numbers() throws -> [Double] {
        guard case .numbers(let v) = self else {
            throw LearnError.unsupported("this target holds classes, not numbers")
        }
        return v
    }

    /// The class indices and labels of a classification target.
    public func classes() throws -> (indices: [Int32], labels: [String]) {
        guard case .classes(let c, let labels) = self else {
            throw LearnError.unsupported("this target holds numbers, not classes")
        }
        return (c, labels)
    }

    public func taking(_ indices: [Int]) -> TargetValues {
        switch self {
        case .numbers(let v): return .numbers(indices.map { v[$0] })
        case .classes(let c, let labels): return .classes(indices.map { c[$0] }, labels: labels)
        }
    }
}

/// What a model predicts for a batch of rows.
public struct Predictions: Sendable {
    /// Regression: the predicted values. Classification: the index of the most probable class.
    public var values: [Double]
    /// Classification: per row, one probability per class (row-major, `classCount` per row).
    public var probabilities: [Double]
    public var classCount: Int

    public init(values: [Double], probabilities: [Double], classCount: Int) {
        self.values = values
        self.probabilities = probabilities
        self.classCount = classCount
    }

    public func probability(row: Int, class k: Int) -> Double { probabilities[row * classCount + k] }
}
