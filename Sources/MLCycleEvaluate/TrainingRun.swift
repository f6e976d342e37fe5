import Foundation
import MLCycleData
import MLCycleLearn
import MLCycleMetrics

/// What `mlcycle train` does: split, fit on the training part, measure on the test part.
public struct TrainingOptions: Sendable {
    public var target: String
    public var task: Task
    public var learner: LearnerKind
    /// Hyperparameters as `NAME=VALUE` text; parsed once into the learner's typed parameters.
    public var parameters: [String: String]
    public var drop: [String]
    /// Share of rows held out at random for testing (ignored when `testTable` is given).
    public var testFraction: Double
    public var testTable: Table?
    public var seed: UInt64
    /// Regression: also fit a calibrated prediction range with this coverage (e.g. 0.9).
    public var range: Double?

    public init(
        target: String, task: Task, learner: LearnerKind, parameters: [String: String] = [:], drop: [String] = [],
        testFraction: Double = 0.2, testTable: Table? = nil, seed: UInt64 = 42, range: Double? = nil
    ) {
        self.range = range
        self.target = target
        self.task = task
        self.learner = learner
        self.parameters = parameters
        self.drop = drop
        self.testFraction = testFraction
        self.testTable = testTable
        self.seed = seed
    }
}

/// The outcome of a training run, as `train --json` prints it.
public struct TrainingReport: Codable, Sendable {
    public var task: Task
    public var learner: LearnerKind
    public var target: String
    public var trainRows: Int
    public var testRows: Int
    /// Rows left out because their target is missing.
    public var rowsWithoutTarget: Int
    /// The class whose precision, recall and probability are reported (binary tasks).
    public var positiveClass: String?
    public var metrics: [String: Double]
    public var fitSeconds: Double
    public var predictSeconds: Double

    enum CodingKeys: String, CodingKey {
        case task, learner, target, metrics
        case trainRows = "train_rows"
        case testRows = "test_rows"
        case rowsWithoutTarget = "rows_without_target"
        case positiveClass = "positive_class"
        case fitSeconds = "fit_seconds"
        case predictSeconds = "predict_seconds"
    }
}

public enum TrainingRun {
    /// A seeded Fisher–Yates order of `0..<n`: the same generator state always gives the same order.
    static func seededOrder(_ n: Int, _ rng: inout SeededGenerator) -> [Int] {
        var order = Array(0..<n)
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            order.swapAt(i, Int(rng.next(upperBound: UInt64(i + 1))))
        }
        return order
    }

    /// A seeded random `fraction` of the rows (at least one) to test on, and the rest, both in row order.
    static func holdOut(_ table: Table, fraction: Double, seed: UInt64) -> (train: Table, test: Table) {
        var rng = SeededGenerator(seed: seed)
        let order = seededOrder(table.rowCount, &rng)
        let cut = min(max(1, Int((Double(table.rowCount) * fraction).rounded())), order.count)
        return (table.taking(Array(order[cut...]).sorted()), table.taking(Array(order[0..<cut]).sorted()))
    }

    public static func run(_ table: Table, options o: TrainingOptions) throws -> (ModelFile, TrainingReport) {
        let parameters = try o.learner.parameters(o.parameters, task: o.task)
        try requireFinite(table, options: o)
        if let t = o.testTable { try requireFinite(t, options: o) }
        if o.task == .clustering { return try cluster(table, options: o, parameters: parameters) }
        guard o.testTable != nil || (o.testFraction > 0 && o.testFraction < 1) else {
            throw LearnError.invalidParameter(
                name: "test-fraction", value: String(o.testFraction), expected: "a number between 0 and 1")
        }
        let (labelled, missing) = try labelledRows(table, options: o)
        let train: Table
        let test: Table
        if let t = o.testTable {
            train = labelled
            test = t.taking((0..<t.rowCount).filter { (try? t.column(o.target).isValid($0)) ?? false })
        } else {
            (train, test) = holdOut(labelled, fraction: o.testFraction, seed: o.seed)
        }
        let (file, schema, fitSeconds) = try fit(train, options: o, parameters: parameters)
        let model = try file.model()
        let testData = try schema.encode(test)
        var positiveClass: String? = nil
        let predictStarted = Date()
        let predictions = model.predict(testData)
        let predictSeconds = Date().timeIntervalSince(predictStarted)

        var metrics: [String: Double]
        switch o.task {
        case .regression:
            let y = try TargetValues.read(test, column: o.target, task: .regression).0.numbers()
            metrics = Metrics.regression(actual: y, predicted: predictions.values)
        case .binary:
            let labels = model.labels
            let y = try TargetValues.read(test, column: o.target, task: .binary, labels: labels).0.classes().indices
            let trainY = try TargetValues.read(train, column: o.target, task: .binary, labels: labels).0.classes()
                .indices
            if y.contains(-1) {
                throw LearnError.unsupported("the test data has a class the training data does not have")
            }
            // The positive class is the minority class of the training data.
            let ones = trainY.filter { $0 == 1 }.count
            let positive = ones * 2 <= trainY.count ? 1 : 0
            positiveClass = labels[positive]
            metrics = Metrics.binary(
                positive: y.map { Int($0) == positive },
                probability: (0..<test.rowCount).map { predictions.probability(row: $0, class: positive) })
        case .multiclass:
            let y = try TargetValues.read(test, column: o.target, task: .multiclass, labels: model.labels).0.classes()
                .indices
            if y.contains(-1) {
                throw LearnError.unsupported(
                    "the test data has a class the training data does not have; use a larger training part or stratify")
            }
            metrics = Metrics.multiclass(
                actual: y.map(Int.init), probabilities: predictions.probabilities, classes: model.labels.count)
        case .clustering:
            throw LearnError.unsupported("clustering takes --learner kmeans")
        }
        if let range = file.range {
            let (lo, hi) = range.bounds(testData)
            let actual = try TargetValues.read(test, column: o.target, task: .regression).0.numbers()
            metrics["range_coverage"] =
                Double((0..<actual.count).filter { actual[$0] >= lo[$0] && actual[$0] <= hi[$0] }.count)
                / Double(max(1, actual.count))
            metrics["range_width"] = zip(lo, hi).reduce(0) { $0 + $1.1 - $1.0 } / Double(max(1, actual.count))
        }
        let report = TrainingReport(
            task: o.task, learner: o.learner, target: o.target, trainRows: train.rowCount, testRows: test.rowCount,
            rowsWithoutTarget: missing, positiveClass: positiveClass, metrics: metrics,
            fitSeconds: fitSeconds, predictSeconds: predictSeconds)
        return (file, report)
    }

    /// Fits on every row of `table` that has a target (no test part, nothing measured): the final fit of a model
    /// chosen elsewhere, on all the rows it may learn from.
    public static func fit(_ table: Table, options o: TrainingOptions) throws -> ModelFile {
        let parameters = try o.learner.parameters(o.parameters, task: o.task)
        try requireFinite(table, options: o)
        guard o.task != .clustering else { return try fitKMeans(table, options: o, parameters: parameters).file }
        return try fit(try labelledRows(table, options: o).labelled, options: o, parameters: parameters).file
    }

    /// Refuses an infinite or NaN value in a column the learner would read (every column but `--drop`).
    static func requireFinite(_ table: Table, options o: TrainingOptions) throws {
        try requireFiniteValues(in: table, columns: table.columnNames.filter { !o.drop.contains($0) })
    }

    /// The rows that have a target (rows without one take no part), and how many were left out.
    static func labelledRows(_ table: Table, options o: TrainingOptions) throws -> (labelled: Table, missing: Int) {
        let (_, missingTarget) = try TargetValues.read(
            table, column: o.target, task: o.task == .binary ? .multiclass : o.task)
        let missing = Set(missingTarget)
        return (table.taking((0..<table.rowCount).filter { !missing.contains($0) }), missing.count)
    }

    /// k-means on every column but `--drop`: the model file, the fitted model, its schema and the fit's seconds.
    static func fitKMeans(_ train: Table, options o: TrainingOptions, parameters: LearnerParameters) throws -> (
        file: ModelFile, model: KMeansModel, schema: FeatureSchema, seconds: Double
    ) {
        let schema = try FeatureSchema.infer(from: train, target: nil, drop: o.drop)
        let started = Date()
        guard case .kmeans(let model) = try parameters.fit(schema: schema, data: try schema.encode(train), target: nil)
        else {
            throw LearnError.unsupported("clustering is --task clustering --learner kmeans")
        }
        let file = ModelFile(
            model: .kmeans(model), learner: .kmeans, task: .clustering, target: "", parameters: o.parameters)
        return (file, model, schema, Date().timeIntervalSince(started))
    }

    /// Fits the learner (and the prediction range, if asked) on labelled training rows.
    static func fit(_ train: Table, options o: TrainingOptions, parameters: LearnerParameters) throws -> (
        file: ModelFile, schema: FeatureSchema, seconds: Double
    ) {
        let schema = try FeatureSchema.infer(from: train, target: o.target, drop: o.drop)
        let trainData = try schema.encode(train)
        let started = Date()
        let target = try TargetValues.read(train, column: o.target, task: o.task).0
        let model: FittedModel
        if parameters.watchesValidation {
            // Early stopping watches a seeded tenth of the training part; the test part stays unseen.
            // Its own stream: seeded from the split generator's first output, not seed + 1 (SplitMix64 would
            // then replay the split's draws shifted by one).
            var splitStream = SeededGenerator(seed: o.seed)
            var rng = SeededGenerator(seed: splitStream.next())
            let order = seededOrder(trainData.rows, &rng)
            let cut = max(1, trainData.rows / 10)
            let fitRows = Array(order[cut...]).sorted()
            let watchRows = Array(order[..<cut]).sorted()
            model = try parameters.fit(
                schema: schema, data: trainData.taking(fitRows), target: target.taking(fitRows),
                validation: (trainData.taking(watchRows), target.taking(watchRows)))
        } else {
            model = try parameters.fit(schema: schema, data: trainData, target: target)
        }
        // The fit's time is the learner's alone; the prediction range's models are not counted.
        let seconds = Date().timeIntervalSince(started)
        var file = ModelFile(model: model, learner: o.learner, task: o.task, target: o.target, parameters: o.parameters)
        if let level = o.range {
            guard o.task == .regression else {
                throw LearnError.unsupported("--range is for regression (a range of values)")
            }
            // The quantile models take the gbdt's own parameters when the learner is gbdt, LightGBM's defaults otherwise.
            var base = GBDTParameters()
            if case .gbdt(let own) = parameters {
                (base, base.objective, base.alpha) = (own, .regression, GBDTParameters().alpha)
            }
            base.earlyStoppingRounds = 0
            let y = try TargetValues.read(train, column: o.target, task: .regression).0.numbers()
            file.range = try PredictionRange.fit(
                schema: schema, data: trainData, target: y, level: level, parameters: base, seed: o.seed)
        }
        return (file, schema, seconds)
    }

    /// k-means on every column but `--drop` (the target option is not used): fit on the training part, report the
    /// inertia there and the mean squared distance to the nearest centre on the test part.
    static func cluster(_ table: Table, options o: TrainingOptions, parameters: LearnerParameters) throws -> (
        ModelFile, TrainingReport
    ) {
        let train: Table
        let test: Table
        if let t = o.testTable {
            (train, test) = (table, t)
        } else {
            (train, test) = holdOut(table, fraction: o.testFraction, seed: o.seed)
        }
        let (file, model, schema, fitSeconds) = try fitKMeans(train, options: o, parameters: parameters)
        let predictStarted = Date()
        let (_, distances) = model.assign(try schema.encode(test))
        let predictSeconds = Date().timeIntervalSince(predictStarted)
        let metrics = [
            "inertia": model.inertia,
            "test_mean_squared_distance": distances.reduce(0, +) / Double(max(1, distances.count)),
            "clusters": Double(model.clusterCount),
        ]
        let report = TrainingReport(
            task: .clustering, learner: .kmeans, target: "", trainRows: train.rowCount, testRows: test.rowCount,
            rowsWithoutTarget: 0, positiveClass: nil, metrics: metrics, fitSeconds: fitSeconds,
            predictSeconds: predictSeconds)
        return (file, report)
    }
}
