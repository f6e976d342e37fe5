import Foundation
import MLCycleData
import MLCycleLearn
import MLCycleMetrics

/// What to evaluate besides the overall metrics.
public struct EvaluationOptions: Sendable {
    public var target: String
    /// Binary: the positive class (default: the minority class of the evaluation data).
    public var positive: String?
    public var slices: [SliceSpec] = []
    /// Columns whose groups are compared for fairness / bias.
    public var groups: [String] = []
    /// Gate rules, e.g. `within_10pct >= 0.80`, `auc >= baseline + 0.02`, `every slice of price_band: mape <= 0.15`.
    public var gates: [String] = []
    /// A baseline model and the current champion, each compared with the candidate on the same rows (paired bootstrap).
    public var baseline: ModelFile?
    public var champion: ModelFile?
    /// Binary: also find the threshold that reaches this precision (with the most recall), or this recall.
    public var targetPrecision: Double?
    public var targetRecall: Double?
    /// Quantile models whose predictions bound a prediction range (their empirical coverage is reported).
    public var lower: ModelFile?
    public var upper: ModelFile?
    /// The metric slices and importances are ranked by (default: mape for regression, logloss for classes).
    public var metric: String?
    public var threshold = 0.5
    public var permutationRepeats = 5
    public var bootstrapSamples = 1000
    public var seed: UInt64 = 42
    /// Scope rules on the model's answer (`prediction between 100000 and 800000`): the metrics, slices and gates
    /// judge the rows inside them — the rows the model is deployed to answer — and `review_share` is the share of
    /// rows outside (answered for review when served).
    public var answerScope: [String] = []

    public init(target: String) { self.target = target }
}

public enum EvaluationError: LocalizedError, Equatable, Sendable {
    case invalid(String)
    public var errorDescription: String? {
        switch self {
        case .invalid(let m): return m
        }
    }
}

/// The verdict on a model: metrics overall and per slice, fairness, explanations, comparison and gates.
public struct EvaluationReport: Codable, Sendable {
    public struct Slice: Codable, Sendable {
        public var column: String
        public var value: String
        public var rows: Int
        public var metrics: [String: Double]
        /// How much worse than overall on the ranking metric (positive: worse).
        public var gap: Double
        /// Whether an `every slice` gate fails on this slice.
        public var flagged: Bool
    }
    public struct Gate: Codable, Sendable {
        public var rule: String
        public var passed: Bool
        public var value: Double?
        public var reason: String

        public init(rule: String, passed: Bool, value: Double?, reason: String) {
            self.rule = rule
            self.passed = passed
            self.value = value
            self.reason = reason
        }
    }
    public struct Group: Codable, Sendable {
        public var value: String
        public var rows: Int
        public var metric: Double
        /// Regression: mean (prediction − actual) / mean actual; classes: predicted minus actual positive rate.
        public var bias: Double
        /// "over" or "under" (prediction above or below the truth on average), or "none".
        public var direction: String
    }
    public struct Fairness: Codable, Sendable {
        public var column: String
        public var metric: String
        public var groups: [Group]
        /// Worst minus best group value of the metric, and the smaller over the larger.
        public var largestGap: Double
        public var ratio: Double
    }
    public struct Importance: Codable, Sendable {
        public var feature: String
        /// Mean increase of the ranking metric's loss when the feature is shuffled (higher: more important).
        public var mean: Double
        public var std: Double
        /// Total split gain (tree models), or nil.
        public var gain: Double?
        /// Mean |contribution| (SHAP values for trees) to each row's explained output, or nil (clustering, or a
        /// model trained before contributions could be computed).
        public var shap: Double? = nil
    }
    /// How a feature's value moved the model's output, row by row: the dependence chart of its contributions.
    public struct Dependence: Codable, Sendable {
        public var feature: String
        /// `[value, contribution]` per row (numeric features; at most 500 rows).
        public var points: [[Double]]
    }
    /// A feature's contributions row by row, for a beeswarm chart: per row [contribution, where its value ranks
    /// among the rows' (0 lowest … 1 highest; −1 for a category or a missing value)].
    public struct Beeswarm: Codable, Sendable {
        public var feature: String
        public var points: [[Double]]
    }
    /// The slice the model does worst on, explained against every row: how far off its estimates are, and the
    /// features whose mean contribution there differs most from their mean over all the rows.
    public struct SliceContrast: Codable, Sendable {
        public struct Shift: Codable, Sendable {
            public var feature: String
            /// Mean contribution on the slice's rows, and over all the evaluation rows.
            public var slice: Double
            public var overall: Double
        }
        public var column: String
        public var value: String
        public var rows: Int
        /// Regression: (Σ estimate − Σ actual) / |Σ actual| on the slice (negative: under-estimated); binary: the
        /// mean predicted probability of the positive class minus its observed rate.
        public var bias: Double
        /// The five largest shifts, largest |slice − overall| first.
        public var shifts: [Shift]
    }
    public struct PartialDependence: Codable, Sendable {
        public var feature: String
        public var values: [String]
        /// Mean prediction (binary: probability of the positive class) with the feature set to each value.
        public var predictions: [Double]
    }
    public struct Comparison: Codable, Sendable {
        /// "baseline" or "champion".
        public var against: String
        public var metric: String
        public var candidate: Double
        public var baseline: Double
        /// Candidate minus baseline, and its 95 % paired-bootstrap interval.
        public var difference: Double
        public var low: Double
        public var high: Double
        public var samples: Int
    }
    public struct Ranges: Codable, Sendable {
        /// The share of rows whose actual value lies in [lower, upper].
        public var coverage: Double
        /// What the quantile models promise (upper α − lower α), when both are quantile gbdt models.
        public var nominal: Double?
        public var meanWidth: Double
    }
    public struct Curves: Codable, Sendable {
        /// ROC points (false positive rate, true positive rate) and PR points (recall, precision), binary only.
        public var roc: [[Double]]
        public var pr: [[Double]]
        /// Calibration in ten bins of predicted probability: [mean predicted, observed rate, rows].
        public var calibration: [[Double]]
    }

    public var task: Task
    public var rows: Int
    public var positiveClass: String?
    public var rankingMetric: String
    public var metrics: [String: Double]
    public var slices: [Slice]
    public var gates: [Gate]
    public var fairness: [Fairness]
    public var importance: [Importance]
    public var partialDependence: [PartialDependence]
    /// Contributions against values for the three numeric features with the largest mean |contribution|.
    public var dependence: [Dependence] = []
    /// The eight features with the largest mean |contribution|, row by row (at most 500 rows).
    public var beeswarm: [Beeswarm] = []
    /// The worst slice's contributions against every row's (regression and binary models that can be explained).
    public var worstSlice: SliceContrast?
    /// Each input column's mean |contribution| on the raw test rows (`mlcycle run`): what monitoring compares the
    /// served answers' explanations with.
    public var columnContributions: [String: Double]?
    public var comparisons: [Comparison]
    /// Binary: the threshold chosen for a target precision or recall, and what it gives.
    public var operatingPoint: Metrics.OperatingPoint?
    public var ranges: Ranges?
    /// Rows: actual; columns: predicted (binary: negative, positive).
    public var confusion: [[Int]]?
    public var labels: [String]
    public var curves: Curves?
    /// Up to 2,000 (actual, predicted) pairs for a scatter plot and residuals (regression; binary: probability).
    public var sample: [[Double]]
    /// Which rows judged what, in words (`mlcycle run`: the rows that ranked the candidates, the rows the chosen
    /// model was fitted on, the test rows these figures come from).
    public var judgedOn: [String] = []
    /// Test rows in deciles of the confidence their answers were served with, and the error of each (`mlcycle run`).
    public var reliability: ReliabilityTable?

    /// True when every gate passed (and there was at least none failing).
    public var passed: Bool { gates.allSatisfy(\.passed) }

    enum CodingKeys: String, CodingKey {
        case task, rows, metrics, slices, gates, fairness, importance, comparisons, ranges, confusion, labels, curves,
            sample, passed
        case judgedOn = "judged_on"
        case positiveClass = "positive_class"
        case rankingMetric = "ranking_metric"
        case partialDependence = "partial_dependence"
        case operatingPoint = "operating_point"
        case dependence, reliability, beeswarm
        case worstSlice = "worst_slice"
        case columnContributions = "column_contributions"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(task, forKey: .task)
        try c.encode(rows, forKey: .rows)
        try c.encodeIfPresent(positiveClass, forKey: .positiveClass)
        try c.encode(rankingMetric, forKey: .rankingMetric)
        try c.encode(metrics, forKey: .metrics)
        try c.encode(slices, forKey: .slices)
        try c.encode(gates, forKey: .gates)
        try c.encode(passed, forKey: .passed)
        try c.encode(fairness, forKey: .fairness)
        try c.encode(importance, forKey: .importance)
        try c.encode(partialDependence, forKey: .partialDependence)
        if !dependence.isEmpty { try c.encode(dependence, forKey: .dependence) }
        if !beeswarm.isEmpty { try c.encode(beeswarm, forKey: .beeswarm) }
        try c.encodeIfPresent(worstSlice, forKey: .worstSlice)
        try c.encodeIfPresent(columnContributions, forKey: .columnContributions)
        try c.encode(comparisons, forKey: .comparisons)
        try c.encodeIfPresent(operatingPoint, forKey: .operatingPoint)
        try c.encodeIfPresent(ranges, forKey: .ranges)
        try c.encodeIfPresent(confusion, forKey: .confusion)
        try c.encode(labels, forKey: .labels)
        try c.encodeIfPresent(curves, forKey: .curves)
        try c.encode(sample, forKey: .sample)
        if !judgedOn.isEmpty { try c.encode(judgedOn, forKey: .judgedOn) }
        try c.encodeIfPresent(reliability, forKey: .reliability)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        task = try c.decode(Task.self, forKey: .task)
        rows = try c.decode(Int.self, forKey: .rows)
        positiveClass = try c.decodeIfPresent(String.self, forKey: .positiveClass)
        rankingMetric = try c.decode(String.self, forKey: .rankingMetric)
        metrics = try c.decode([String: Double].self, forKey: .metrics)
        slices = try c.decode([Slice].self, forKey: .slices)
        gates = try c.decode([Gate].self, forKey: .gates)
        fairness = try c.decode([Fairness].self, forKey: .fairness)
        importance = try c.decode([Importance].self, forKey: .importance)
        partialDependence = try c.decode([PartialDependence].self, forKey: .partialDependence)
        dependence = try c.decodeIfPresent([Dependence].self, forKey: .dependence) ?? []
        beeswarm = try c.decodeIfPresent([Beeswarm].self, forKey: .beeswarm) ?? []
        worstSlice = try c.decodeIfPresent(SliceContrast.self, forKey: .worstSlice)
        columnContributions = try c.decodeIfPresent([String: Double].self, forKey: .columnContributions)
        comparisons = try c.decode([Comparison].self, forKey: .comparisons)
        ranges = try c.decodeIfPresent(Ranges.self, forKey: .ranges)
        operatingPoint = try c.decodeIfPresent(Metrics.OperatingPoint.self, forKey: .operatingPoint)
        confusion = try c.decodeIfPresent([[Int]].self, forKey: .confusion)
        labels = try c.decode([String].self, forKey: .labels)
        curves = try c.decodeIfPresent(Curves.self, forKey: .curves)
        sample = try c.decode([[Double]].self, forKey: .sample)
        judgedOn = try c.decodeIfPresent([String].self, forKey: .judgedOn) ?? []
        reliability = try c.decodeIfPresent(ReliabilityTable.self, forKey: .reliability)
    }

    init(
        task: Task, rows: Int, positiveClass: String?, rankingMetric: String, metrics: [String: Double],
        labels: [String]
    ) {
        self.task = task
        self.rows = rows
        self.positiveClass = positiveClass
        self.rankingMetric = rankingMetric
        self.metrics = metrics
        self.labels = labels
        slices = []
        gates = []
        fairness = []
        importance = []
        partialDependence = []
        sample = []
        comparisons = []
    }
}

/// Scores a model on labelled rows and builds the report.
public enum Evaluation {
    /// The truth of the evaluation rows, in the model's terms.
    struct Truth {
        var task: Task
        var values: [Double] = []  // regression
        var classes: [Int] = []  // classification (index into labels)
        var positive = 1  // binary: the positive class index
        var labels: [String] = []
    }

    public static func run(model file: ModelFile, data table: Table, options o: EvaluationOptions) throws
        -> EvaluationReport
    {
        let model = try file.model()
        guard file.task != .clustering else {
            throw EvaluationError.invalid("evaluation needs a supervised model (regression, binary or multiclass)")
        }
        guard table[o.target] != nil else {
            throw EvaluationError.invalid(
                "no column '\(o.target)' (the target) in the data; columns: \(table.columnNames.prefix(20).joined(separator: ", "))"
            )
        }
        // Rows without a target cannot be scored.
        let targetColumn = try table.column(o.target)
        var labelled = (0..<table.rowCount).filter { targetColumn.isValid($0) }
        guard !labelled.isEmpty else { throw EvaluationError.invalid("no row has a value in '\(o.target)'") }
        var t = labelled.count == table.rowCount ? table : table.taking(labelled)
        var reviewShare: Double?
        if !o.answerScope.isEmpty {
            let inScope = try answered(t, model: model, rules: o.answerScope)
            reviewShare = Double(inScope.filter { !$0 }.count) / Double(t.rowCount)
            guard inScope.contains(true) else {
                throw EvaluationError.invalid(
                    "no row's answer is inside the scope (\(o.answerScope.joined(separator: "; "))): every one would be answered for review"
                )
            }
            t = try t.filtered(inScope)
            labelled = zip(labelled, inScope).filter(\.1).map(\.0)  // rows of `t` → rows of the input, for errors
        }
        var truth = Truth(task: file.task, labels: model.labels)
        switch file.task {
        case .regression:
            truth.values = try TargetValues.read(t, column: o.target, task: .regression).0.numbers()
        case .binary, .multiclass:
            let y = try TargetValues.read(t, column: o.target, task: file.task, labels: model.labels).0.classes()
                .indices
            if let bad = y.firstIndex(of: -1) {
                throw EvaluationError.invalid(
                    "row \(labelled[bad] + 1) has class '\(try t.column(o.target)[bad])', which the model never saw (it knows: \(model.labels.joined(separator: ", ")))"
                )
            }
            truth.classes = y.map(Int.init)
            if file.task == .binary {
                if let p = o.positive {
                    guard let i = model.labels.firstIndex(of: p) else {
                        throw EvaluationError.invalid(
                            "--positive \(p) is not a class of the model (\(model.labels.joined(separator: ", ")))")
                    }
                    truth.positive = i
                } else {
                    truth.positive = truth.classes.filter { $0 == 1 }.count * 2 <= truth.classes.count ? 1 : 0
                }
            }
        case .clustering: break
        }
        let predictions = model.predict(try model.schema.encode(t))
        let metric = o.metric ?? (file.task == .regression ? "mape" : "logloss")
        let all = Array(0..<t.rowCount)
        var overall = metrics(truth, predictions, rows: all, threshold: o.threshold)
        if let reviewShare { overall["review_share"] = reviewShare }
        guard overall[metric] != nil else {
            throw EvaluationError.invalid(
                "--metric \(metric) is not a \(file.task.rawValue) metric (\(overall.keys.sorted().joined(separator: ", ")))"
            )
        }
        var report = EvaluationReport(
            task: file.task, rows: t.rowCount, positiveClass: file.task == .binary ? model.labels[truth.positive] : nil,
            rankingMetric: metric, metrics: overall, labels: model.labels)
        let loss = { (m: [String: Double]) -> Double in
            let v = m[metric] ?? .nan
            return higherIsBetter.contains(metric) ? -v : v
        }

        // Slices, worst first.
        var sliceRows = [String: [Int]]()
        for spec in o.slices {
            for (value, rows) in try spec.rows(in: t) where !rows.isEmpty {
                sliceRows[spec.column + "\u{1}" + value] = rows
                let m = metrics(truth, predictions, rows: rows, threshold: o.threshold)
                report.slices.append(
                    .init(
                        column: spec.column, value: value, rows: rows.count, metrics: m,
                        gap: loss(m) - loss(overall), flagged: false))
            }
        }
        report.slices.sort { $0.gap > $1.gap }

        // Fairness: the ranking metric and the bias sign per group.
        for column in o.groups {
            var groups = [EvaluationReport.Group]()
            for (value, rows) in try SliceSpec(column: column).rows(in: t) where !rows.isEmpty {
                let m = metrics(truth, predictions, rows: rows, threshold: o.threshold)
                let b = bias(truth, predictions, rows: rows)
                groups.append(
                    .init(
                        value: value, rows: rows.count, metric: m[metric] ?? .nan, bias: b,
                        direction: abs(b) < 1e-12 ? "none" : (b > 0 ? "over" : "under")))
            }
            let values = groups.map(\.metric).filter { $0.isFinite }
            let lo = values.min() ?? .nan
            let hi = values.max() ?? .nan
            report.fairness.append(
                .init(
                    column: column, metric: metric, groups: groups.sorted { $0.metric < $1.metric },
                    largestGap: hi - lo, ratio: hi != 0 ? lo / hi : .nan))
        }

        // Explanations: permutation importance for every feature, gain for trees, partial dependence for the top 3.
        var rng = SeededGenerator(seed: o.seed)
        let gains = gainImportance(model)
        let base = loss(overall)
        for feature in model.schema.features.map(\.name) {
            guard let column = t[feature] else { continue }
            var increases = [Double]()
            for _ in 0..<max(1, o.permutationRepeats) {
                var order = Array(0..<t.rowCount)
                order.shuffle(using: &rng)
                let shuffled = try t.setting(column.taking(order))
                let p = model.predict(try model.schema.encode(shuffled))
                increases.append(loss(metrics(truth, p, rows: all, threshold: o.threshold)) - base)
            }
            let mean = increases.reduce(0, +) / Double(increases.count)
            let sd = (increases.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(increases.count)).squareRoot()
            report.importance.append(.init(feature: feature, mean: mean, std: sd, gain: gains[feature]))
        }
        report.importance.sort { $0.mean > $1.mean }
        let pdRows = t.rowCount > 500 ? t.taking(Array(0..<t.rowCount).shuffled(using: &rng).prefix(500).sorted()) : t
        for item in report.importance.prefix(3) {
            report.partialDependence.append(
                try partialDependence(model, pdRows, feature: item.feature, positive: truth.positive, task: file.task))
        }
        if let whole = contributionSummary(model, pdRows, into: &report), file.task != .multiclass,
            let worst = report.slices.first(where: { $0.gap > 0 && $0.rows >= 5 }),
            let rows = sliceRows[worst.column + "\u{1}" + worst.value]
        {
            let sample = rows.count > 500 ? Array(rows.shuffled(using: &rng).prefix(500)).sorted() : rows
            report.worstSlice = sliceContrast(
                model, t.taking(sample), whole: whole, slice: worst, bias: bias(truth, predictions, rows: rows))
        }

        // Comparison with the baseline and the champion on the same rows: a paired bootstrap of the metric difference.
        var references = [String: [String: Double]]()
        for (name, other) in [("baseline", o.baseline), ("champion", o.champion)] {
            guard let other else { continue }
            let b = try other.model()
            guard other.task == file.task else {
                throw EvaluationError.invalid(
                    "the \(name) is a \(other.task.rawValue) model, the candidate \(file.task.rawValue)")
            }
            guard b.labels == model.labels else {
                throw EvaluationError.invalid(
                    "the \(name)'s classes \(b.labels) differ from the candidate's \(model.labels)")
            }
            let bp = b.predict(try b.schema.encode(t))
            let otherMetrics = metrics(truth, bp, rows: all, threshold: o.threshold)
            references[name] = otherMetrics
            let interval = pairedBootstrap(
                truth, predictions, bp, rows: t.rowCount, metric: metric, threshold: o.threshold,
                samples: o.bootstrapSamples, rng: &rng)
            report.comparisons.append(
                .init(
                    against: name, metric: metric, candidate: overall[metric] ?? .nan,
                    baseline: otherMetrics[metric] ?? .nan,
                    difference: (overall[metric] ?? .nan) - (otherMetrics[metric] ?? .nan),
                    low: interval.low, high: interval.high, samples: interval.samples))
        }
        let flagged: Set<String>
        (report.gates, flagged) = try gates(o.gates, report: report, references: references)
        for i in report.slices.indices
        where flagged.contains("\(report.slices[i].column)\u{1F}\(report.slices[i].value)") {
            report.slices[i].flagged = true
        }

        // Prediction ranges: the model file's calibrated range, or two quantile models given apart.
        if let range = file.range, o.lower == nil, file.task == .regression {
            let (l, h) = range.bounds(try model.schema.encode(t))
            let covered = (0..<t.rowCount).filter { truth.values[$0] >= l[$0] && truth.values[$0] <= h[$0] }.count
            report.ranges = .init(
                coverage: Double(covered) / Double(t.rowCount), nominal: range.level,
                meanWidth: zip(l, h).reduce(0) { $0 + $1.1 - $1.0 } / Double(t.rowCount))
        } else if let lower = o.lower, let upper = o.upper, file.task == .regression {
            let lo = try lower.model().predictTable(t)
            let hi = try upper.model().predictTable(t)
            let l = try lo.column("prediction").doubles() ?? []
            let h = try hi.column("prediction").doubles() ?? []
            var covered = 0
            var width = 0.0
            for r in 0..<t.rowCount {
                let a = min(l[r], h[r])
                let b = max(l[r], h[r])
                if truth.values[r] >= a && truth.values[r] <= b { covered += 1 }
                width += b - a
            }
            var nominal: Double?
            if let a = Double(lower.parameters["alpha"] ?? ""), let b = Double(upper.parameters["alpha"] ?? ""),
                lower.parameters["objective"] == "quantile", upper.parameters["objective"] == "quantile"
            {
                nominal = b - a
            }
            report.ranges = .init(
                coverage: Double(covered) / Double(t.rowCount), nominal: nominal, meanWidth: width / Double(t.rowCount))
        }

        // Confusion, curves and a sample of points for the report.
        switch file.task {
        case .regression:
            report.sample = sampleRows(t.rowCount, &rng).map { [truth.values[$0], predictions.values[$0]] }
        case .binary:
            let y = truth.classes.map { $0 == truth.positive }
            let p = (0..<t.rowCount).map { predictions.probability(row: $0, class: truth.positive) }
            if let target = o.targetPrecision {
                report.operatingPoint = Metrics.threshold(forPrecision: target, positive: y, score: p)
            }
            if let target = o.targetRecall {
                report.operatingPoint = Metrics.threshold(forRecall: target, positive: y, score: p)
            }
            report.confusion = Metrics.binaryConfusion(positive: y, probability: p, threshold: o.threshold)
            report.curves = curves(y, p)
            report.sample = sampleRows(t.rowCount, &rng).map { [y[$0] ? 1 : 0, p[$0]] }
        case .multiclass:
            report.confusion = Metrics.multiclassConfusion(
                actual: truth.classes, probabilities: predictions.probabilities, classes: model.labels.count)
        case .clustering: break
        }
        return report
    }

    /// The 95 % interval of metric(a) − metric(b) over `samples` bootstrap resamples of the same `rows` rows (paired:
    /// both sides scored on each resample), and how many resamples gave a finite difference.
    static func pairedBootstrap(
        _ truth: Truth, _ a: Predictions, _ b: Predictions, rows n: Int, metric: String, threshold: Double,
        samples: Int, rng: inout SeededGenerator
    ) -> (low: Double, high: Double, samples: Int) {
        Bootstrap.interval95(samples: samples, rng: &rng) { rng in
            let rows = Bootstrap.resample(n, &rng)
            guard let c = metrics(truth, a, rows: rows, threshold: threshold)[metric],
                let d = metrics(truth, b, rows: rows, threshold: threshold)[metric]
            else { return nil }
            return c - d
        }
    }

    /// Per row, whether the model's answer keeps inside every rule on `prediction`.
    static func answered(_ t: Table, model: FittedModel, rules: [String]) throws -> [Bool] {
        // The answers as the bundle reads them when serving.
        let answers = try ModelBundle.answers(
            try model.predictTable(t).column("prediction"), classes: !model.labels.isEmpty)
        return try MLCycleData.Expression.allHold(rules, on: answers)
    }

    /// The task's metrics on a subset of rows (indices may repeat, as in a bootstrap sample).
    static func metrics(_ truth: Truth, _ p: Predictions, rows: [Int], threshold: Double) -> [String: Double] {
        switch truth.task {
        case .regression:
            return Metrics.regression(actual: rows.map { truth.values[$0] }, predicted: rows.map { p.values[$0] })
        case .binary:
            return Metrics.binary(
                positive: rows.map { truth.classes[$0] == truth.positive },
                probability: rows.map { p.probability(row: $0, class: truth.positive) }, threshold: threshold)
        case .multiclass:
            let k = p.classCount
            var probabilities = [Double]()
            probabilities.reserveCapacity(rows.count * k)
            for r in rows { probabilities.append(contentsOf: p.probabilities[(r * k)..<(r * k + k)]) }
            return Metrics.multiclass(actual: rows.map { truth.classes[$0] }, probabilities: probabilities, classes: k)
        case .clustering:
            return [:]
        }
    }

    static func bias(_ truth: Truth, _ p: Predictions, rows: [Int]) -> Double {
        switch truth.task {
        case .regression:
            let actual = rows.reduce(0) { $0 + truth.values[$1] }
            let error = rows.reduce(0) { $0 + p.values[$1] - truth.values[$1] }
            return actual != 0 ? error / abs(actual) : error
        case .binary:
            let predicted = rows.reduce(0.0) { $0 + p.probability(row: $1, class: truth.positive) }
            let actual = Double(rows.filter { truth.classes[$0] == truth.positive }.count)
            return (predicted - actual) / Double(max(1, rows.count))
        default:
            return 0  // no single direction over several classes
        }
    }

    /// Each feature's mean |contribution| (on at most 500 rows, those of partial dependence) beside its permutation
    /// importance, and the dependence chart of the three numeric features with the largest. A model that cannot be
    /// explained (clustering; trained before contributions could be computed) has none.
    /// Returns the contributions (nil when there are none).
    @discardableResult
    static func contributionSummary(_ model: FittedModel, _ t: Table, into report: inout EvaluationReport)
        -> Contributions?
    {
        guard t.rowCount > 0, let c = try? model.contributions(try model.schema.encode(t))
        else { return nil }
        let outputs = (0..<c.rows).map { c.explainedOutput(row: $0) }
        var mean = [String: Double]()
        for (f, name) in c.features.enumerated() {
            let sum = outputs.enumerated().reduce(0.0) {
                $0 + abs(c.values[$1.element][$1.offset * c.features.count + f])
            }
            mean[name] = sum / Double(c.rows)
        }
        for i in report.importance.indices { report.importance[i].shap = mean[report.importance[i].feature] }
        let numeric = c.features.enumerated().filter { t[$0.element]?.type.isNumeric == true }
        for (f, name) in numeric.sorted(by: { (mean[$0.element] ?? 0) > (mean[$1.element] ?? 0) }).prefix(3) {
            guard let values = t[name] else { continue }
            let points = (0..<c.rows).compactMap { r -> [Double]? in
                guard values.isValid(r), let v = values[r].doubleValue else { return nil }
                return [v, c.values[outputs[r]][r * c.features.count + f]]
            }
            report.dependence.append(.init(feature: name, points: points))
        }
        for (f, name) in c.features.enumerated().sorted(by: { (mean[$0.element] ?? 0) > (mean[$1.element] ?? 0) })
            .prefix(8)
        {
            let values = t[name]
            let numbers = (0..<c.rows).map { r -> Double? in
                guard let v = values, v.type.isNumeric, v.isValid(r) else { return nil }
                return v[r].doubleValue
            }
            let ranks = Self.ranks(numbers)
            report.beeswarm.append(
                .init(
                    feature: name,
                    points: (0..<c.rows).map { r in [c.values[outputs[r]][r * c.features.count + f], ranks[r] ?? -1] }))
        }
        return c
    }

    /// Each number's place among the others, 0 (smallest) … 1 (largest), ties sharing their mean place.
    static func ranks(_ values: [Double?]) -> [Double?] {
        let order = values.enumerated().compactMap { r, v in v.map { (row: r, value: $0) } }.sorted {
            $0.value < $1.value
        }
        var out = [Double?](repeating: nil, count: values.count)
        let last = Double(max(1, order.count - 1))
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && order[j + 1].value == order[i].value { j += 1 }
            for k in i...j { out[order[k].row] = Double(i + j) / 2 / last }
            i = j + 1
        }
        return out
    }

    /// The slice's mean contributions against the whole's (`whole`: every evaluation row's, or a sample of them).
    static func sliceContrast(
        _ model: FittedModel, _ rows: Table, whole: Contributions, slice: EvaluationReport.Slice, bias: Double
    ) -> EvaluationReport.SliceContrast? {
        guard let c = try? model.contributions(try model.schema.encode(rows)), c.rows > 0, whole.rows > 0 else {
            return nil
        }
        func means(_ c: Contributions) -> [Double] {
            let k = c.features.count
            var sums = [Double](repeating: 0, count: k)
            for r in 0..<c.rows {
                let o = c.explainedOutput(row: r)
                for f in 0..<k { sums[f] += c.values[o][r * k + f] }
            }
            return sums.map { $0 / Double(c.rows) }
        }
        let (inSlice, overall) = (means(c), means(whole))
        let shifts = c.features.indices.map {
            EvaluationReport.SliceContrast.Shift(feature: c.features[$0], slice: inSlice[$0], overall: overall[$0])
        }
        return .init(
            column: slice.column, value: slice.value, rows: slice.rows, bias: bias,
            shifts: Array(shifts.sorted { abs($0.slice - $0.overall) > abs($1.slice - $1.overall) }.prefix(5)))
    }

    /// The model's own importance (split gain, for trees) of the features it split on, by name.
    static func gainImportance(_ model: FittedModel) -> [String: Double] {
        guard let gains = model.fitted.featureImportances() else { return [:] }
        var out = [String: Double]()
        for (feature, gain) in zip(model.schema.features, gains) where gain > 0 { out[feature.name] = gain }
        return out
    }

    static func partialDependence(_ model: FittedModel, _ t: Table, feature: String, positive: Int, task: Task) throws
        -> EvaluationReport.PartialDependence
    {
        let c = try t.column(feature)
        var values = [Value]()
        if c.type.isNumeric, let v = c.doubles() {
            let present = (0..<c.count).filter { c.isValid($0) }.map { v[$0] }.sorted()
            var seen = Set<Double>()
            for i in 0..<10 where !present.isEmpty {
                let q = Statistics.quantile(sorted: present, 0.05 + 0.9 * Double(i) / 9)
                if seen.insert(q).inserted { values.append(.float64(q)) }
            }
        } else {
            var counts = [String: Int]()
            for r in 0..<c.count where c.isValid(r) { counts[c[r].description, default: 0] += 1 }
            values = counts.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }.prefix(10).map {
                .string($0.key)
            }
        }
        var means = [Double]()
        for value in values {
            let constant = try Column(
                name: feature, type: c.type == .int64 ? .float64 : c.type,
                values: [Value](repeating: value, count: t.rowCount))
            let p = model.predict(try model.schema.encode(try t.setting(constant)))
            let outputs =
                task == .regression ? p.values : (0..<t.rowCount).map { p.probability(row: $0, class: positive) }
            means.append(outputs.reduce(0, +) / Double(max(1, outputs.count)))
        }
        return .init(feature: feature, values: values.map(\.description), predictions: means)
    }

    static func curves(_ y: [Bool], _ p: [Double]) -> EvaluationReport.Curves {
        let positives = Double(y.filter { $0 }.count)
        let negatives = Double(y.count) - positives
        let p = Metrics.rankable(p)
        let order = p.indices.sorted { p[$0] > p[$1] }
        var roc: [[Double]] = [[0, 0]]
        var tp = 0.0
        var fp = 0.0
        var i = 0
        while i < order.count {
            let s = p[order[i]]
            while i < order.count && p[order[i]] == s {
                if y[order[i]] { tp += 1 } else { fp += 1 }
                i += 1
            }
            roc.append([negatives > 0 ? fp / negatives : 0, positives > 0 ? tp / positives : 0])
        }
        let pr = Metrics.precisionRecallCurve(positive: y, score: p).map { [$0.recall, $0.precision] }
        var calibration = [[Double]]()
        for b in 0..<10 {
            let rows = p.indices.filter { p[$0].isFinite && min(9, max(0, Int(p[$0] * 10))) == b }
            guard !rows.isEmpty else { continue }
            calibration.append([
                rows.reduce(0) { $0 + p[$1] } / Double(rows.count),
                Double(rows.filter { y[$0] }.count) / Double(rows.count), Double(rows.count),
            ])
        }
        return .init(roc: roc, pr: pr, calibration: calibration)
    }

    static func sampleRows(_ n: Int, _ rng: inout SeededGenerator) -> [Int] {
        n <= 2000 ? Array(0..<n) : Array(Array(0..<n).shuffled(using: &rng).prefix(2000)).sorted()
    }
}
