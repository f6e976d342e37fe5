import Foundation
import MLCycleData
import MLCycleLearn
import MLCyclePrep
import MLCycleQuality

/// Everything serving and monitoring need to use a model exactly as it was trained, in one versioned JSON file:
/// the fitted preparation pipeline, the fitted model (with its calibrated range, if any), the input schema and scope
/// rules, reference statistics of the training inputs (for drift), the evaluation, and the lineage.
public struct ModelBundle: Codable, Sendable {
    public static let formatName = "mlcycle-bundle"
    public static let formatVersion = 1

    public var format = ModelBundle.formatName
    public var version = ModelBundle.formatVersion
    public var name: String
    public var task: Task
    public var target: String
    /// The raw columns a request must carry (the pipeline's input, without the target).
    public var inputSchema: [FittedPipeline.ColumnSpec]
    /// Expressions every in-scope row satisfies: on the inputs (`building_type in […]`) or on the model's answer
    /// (`prediction between 100000 and 800000`).
    public var scope: [String]
    /// Per scope rule, what a row outside it gets: `review` (the estimate, flagged for a person) or `unavailable`.
    /// Absent (bundles made before reviews existed): every rule makes a row unavailable.
    public var scopeOtherwise: [String]?
    /// Inputs a row must carry to be answered (`problem.required`); one without is unavailable, never imputed.
    public var required: [String]?
    public var pipeline: FittedPipeline
    public var model: ModelFile
    public var reference: ReferenceStatistics
    public var evaluation: EvaluationReport?
    public var lineage: Lineage
    /// How a server rolls this model out against a challenger (from the project's `release` section).
    public var release: Release?
    /// The pipeline's sources as training joined them (nil for a single table): a request then carries the first
    /// source's columns and the others are looked up, from the records the model was trained against.
    public var sources: FittedSources?
    /// How wide the training rows' answers were: turns each answer's spread into its confidence (nil: confidence
    /// comes from the inputs alone).
    public var confidenceScale: ConfidenceScale?

    /// The lookups that complete a request (none for a single table).
    var lookups: FittedSources? { sources.flatMap { $0.lookups.isEmpty ? nil : $0 } }

    /// The columns a client sends: the first source's (as read, before its steps), without the target and the
    /// columns its steps drop unread; without lookups, the input schema.
    public var requestSchema: [FittedPipeline.ColumnSpec] {
        guard let lookups else { return inputSchema }
        let steps = lookups.entitySteps.steps
        let read = Set(steps.flatMap(\.columnsRead))
        let dropped = Set(steps.flatMap { step -> [String] in if case .drop(let c) = step { c } else { [] } })
        return lookups.entitySteps.inputSchema.filter {
            $0.name != target && (!dropped.contains($0.name) || read.contains($0.name))
        }
    }

    /// The columns the lookups fill in, with the source of each; a client may send them too (its value wins).
    public var lookedUpColumns: [(spec: FittedPipeline.ColumnSpec, source: String)] {
        (lookups?.lookedUp ?? []).map { (FittedPipeline.ColumnSpec(name: $0.column, type: $0.type), $0.source) }
    }

    /// Every column a request may carry: what the client sends, then what lookups would fill in.
    public var acceptedColumns: [FittedPipeline.ColumnSpec] { requestSchema + lookedUpColumns.map(\.spec) }

    public struct Release: Codable, Sendable, Equatable {
        /// Share of requests the challenger answers (0…1).
        public var canary: Double
        /// Whether the challenger also scores every request in the background (logged, never returned).
        public var shadow: Bool
        /// A progressive release's shares (`canary` is the first); the store holds the step it has reached.
        public var steps: [Double]?

        public init(canary: Double, shadow: Bool, steps: [Double]? = nil) {
            self.canary = canary
            self.shadow = shadow
            self.steps = steps
        }
    }

    public struct Lineage: Codable, Sendable, Equatable {
        /// Fingerprints of the dataset snapshots the model was trained on.
        public var datasets: [String]
        public var specHash: String?
        public var gitCommit: String?
        public var run: Int64?
        /// Fingerprints of the lookups' records kept in the model, by source name.
        public var lookups: [String: String]?
        public var mlcycleVersion: String
        public var created: String

        public init(
            datasets: [String], specHash: String? = nil, gitCommit: String? = nil, run: Int64? = nil,
            mlcycleVersion: String = MLCycleVersion.current,
            created: String = CalendarDate.isoString(microseconds: Int64(Date().timeIntervalSince1970) * 1_000_000)
        ) {
            self.datasets = datasets
            self.specHash = specHash
            self.gitCommit = gitCommit
            self.run = run
            self.mlcycleVersion = mlcycleVersion
            self.created = created
        }
    }

    public init(
        name: String, target: String, scope: [String], pipeline: FittedPipeline, model: ModelFile,
        reference: ReferenceStatistics,
        evaluation: EvaluationReport?, lineage: Lineage
    ) {
        self.name = name
        task = model.task
        self.target = target
        inputSchema = pipeline.inputSchema.filter { $0.name != target }
        self.scope = scope
        self.pipeline = pipeline
        self.model = model
        self.reference = reference
        self.evaluation = evaluation
        self.lineage = lineage
    }

    /// One scored row: the prediction (value or label), class probabilities, a range, or why there is none.
    public struct Scored: Sendable, Equatable {
        public var prediction: String?
        public var value: Double?
        public var probabilities: [String: Double]
        public var range: [Double]?
        /// "ok"; "review" (answered, outside the scope: a person should look) with `reasons`; or "unavailable" with
        /// `reasons`. An ok answer may carry reasons too (an input that was missing and imputed).
        public var status: String
        public var reasons: [String]
        /// Inputs unlike the training data (a number outside its range, a category never or rarely seen).
        public var warnings: [String] = []
        /// How sure the model is of this answer, in [0, 1] (nil without an answer): see `Confidence`.
        public var confidence: Double? = nil
        /// Confidence below `Confidence.low`.
        public var lowConfidence: Bool { (confidence ?? 1) < Confidence.low }
        /// Why, when scoring was asked to explain: the largest contributions (nil for a row without an answer).
        public var explanation: Explanation? = nil
    }

    /// Per row, how its inputs differ from the training data (reference statistics): numbers outside the training
    /// range, categories the training data never had or had in fewer than `Confidence.rareRows` rows; and the
    /// factor by which that lowers the row's confidence. Dates and times are not checked: served rows come after the
    /// training period by nature, and every one of them would be flagged.
    public func novelty(_ raw: Table) -> (warnings: [[String]], factors: [Double]) {
        var out = [[String]](repeating: [], count: raw.rowCount)
        var factors = [Double](repeating: 1, count: raw.rowCount)
        for ref in reference.columns {
            guard let c = raw[ref.name], !c.type.isTemporal else { continue }
            if let sample = ref.sample, let lo = sample.first, let hi = sample.last, let v = c.doubles(),
                c.type.isNumeric
            {
                for r in 0..<c.count where c.isValid(r) && (v[r] < lo || v[r] > hi) {
                    out[r].append(
                        "\(ref.name) \(c[r]) is outside the training range \(formatDouble(lo))–\(formatDouble(hi))")
                    factors[r] *= Confidence.unlikeTraining
                }
            } else if let counts = ref.counts, counts["(other)"] == nil {
                for r in 0..<c.count where c.isValid(r) {
                    let seen = counts[c[r].description] ?? 0
                    if seen == 0 {
                        out[r].append("\(ref.name) '\(c[r])' was never seen in training")
                        factors[r] *= Confidence.unlikeTraining
                    } else if seen < Confidence.rareRows {
                        out[r].append("\(ref.name) '\(c[r])' was seen in only \(seen) training rows")
                        factors[r] *= Confidence.rare
                    }
                }
            }
        }
        return (out, factors)
    }

    /// Why `value` cannot be an outcome of this model's target, or nil when it can: a regression's is a finite
    /// number, a classifier's one of the labels it was trained on. Feedback is checked so before it is stored.
    public func outcomeProblem(_ value: String) -> String? {
        if task == .regression {
            if let number = Double(value.trimmingCharacters(in: .whitespaces)), number.isFinite { return nil }
            return "'\(target)' is a number for this regression model; '\(value)' is not one"
        }
        let labels = (try? model.model().labels) ?? []
        guard !labels.isEmpty, !labels.contains(value) else { return nil }
        return "'\(value)' is not a class of '\(target)'; this model knows \(labels.joined(separator: ", "))"
    }

    /// Prepares raw rows with the fitted pipeline (serving mode: no row is dropped) and scores them. A row without a
    /// required input, or that a training filter would have removed, is `unavailable` with the reason, not a guess;
    /// a row outside a scope rule gets the estimate with `status: review` and the rule (or `unavailable` where the
    /// rule says so); an input that was missing and imputed is named in `reasons`. A missing input column or a wrong
    /// type is an error naming the column.
    public func score(_ raw: Table) throws -> [Scored] { try score(try complete(raw)) }

    /// A request completed by the lookups into the rows training merged (the request itself without lookups).
    public func complete(_ request: Table) throws -> FittedSources.Completed {
        guard let lookups else { return .init(table: request) }
        return try lookups.complete(request)
    }

    /// A request completed as `complete(_:)` does, live lookups read through `reader`.
    public func complete(_ request: Table, reading reader: any LiveRecordReader) async throws
        -> FittedSources.Completed
    {
        guard let lookups else { return .init(table: request) }
        return try await lookups.complete(request, reading: reader)
    }

    /// Whether a lookup of this model reads its records from a database at serving (`serving: live`).
    public var readsLive: Bool { lookups?.lookups.contains { $0.live != nil } ?? false }

    /// Scores completed rows, with what completing them found; `explain`: how many contributions each answer
    /// carries (none when nil or 0).
    public func score(_ completed: FittedSources.Completed, explain top: Int? = nil) throws -> [Scored] {
        try score(merged: completed.table, unavailable: completed.unavailable, notes: completed.notes, explain: top)
    }

    /// The columns a request must carry in every row (null for a missing value): those the answer depends on, and
    /// those a lookup finds its record by. A looked-up column never is.
    public var requiredRequestColumns: Set<String> {
        var needed = pipelineReads
        guard let lookups else { return needed }
        needed.formUnion(lookups.lookups.flatMap { $0.keys.map(\.left) + ($0.asOf.map { [$0.left] } ?? []) })
        needed.subtract(lookups.lookedUp.map(\.column))
        return needed
    }

    /// Scores rows that carry the merged columns already (training's collected rows): no lookup runs.
    /// `unavailable` and `notes` are what completing a request found, per row. `explain`: how many contributions
    /// each answer carries, the rows prepared once for both (none when nil or 0).
    public func score(
        merged raw: Table, unavailable refused: [Int: [String]] = [:], notes: [[String]]? = nil, explain top: Int? = nil
    ) throws -> [Scored] {
        for column in inputSchema where raw[column.name] == nil {
            // Columns only training filters read (e.g. the target) may be absent; the pipeline says what it needs.
            if pipelineNeeds(column.name) {
                throw PrepError.missingColumn(step: "input", column: column.name, available: raw.columnNames)
            }
        }
        let prepared = try pipeline.transform(raw, serving: true)
        var unavailable = prepared.rowIssues.merging(refused) { $1 + $0 }
        var review = [Int: [String]]()
        for column in required ?? [] {
            let c = raw[column]
            for r in 0..<raw.rowCount where !(c?.isValid(r) ?? false) {
                unavailable[r, default: []].append("\(column) is required and the row has none")
            }
        }
        let out = try model.predictTable(prepared.table)
        let labels = try model.model().labels
        let prediction = try out.column("prediction")
        // Rules on the model's answer read a table holding it; the others read the inputs.
        let answers = try Self.answers(prediction, classes: !labels.isEmpty)
        for (i, rule) in scope.enumerated() {
            let e = try MLCycleData.Expression.parse(rule)
            let table = e.columns.contains("prediction") ? answers : raw
            // A rule on a column absent at serving (an older bundle's rule on the target) is skipped.
            guard e.columns.allSatisfy({ table[$0] != nil }) else { continue }
            let otherwise = scopeOtherwise.map { i < $0.count ? $0[i] : "review" } ?? "unavailable"
            for (r, holds) in try e.holds(on: table).enumerated() where !holds {
                if otherwise == "unavailable" {
                    unavailable[r, default: []].append("outside scope: \(rule)")
                } else {
                    review[r, default: []].append("outside scope: \(rule)")
                }
            }
        }
        let imputed = imputedInputs(raw)
        let lower = out["lower"]
        let upper = out["upper"]
        let probabilities = labels.map { out["probability_\($0)"] }
        let novel = novelty(raw)
        var explanations: [Explanation]?
        if let top, top > 0 {
            do { explanations = try explain(merged: raw, prepared: prepared.table, top: top) } catch {
                throw EvaluationError.invalid(
                    "this model cannot explain its answers (\(error.localizedDescription)); ask without explain")
            }
        }
        return (0..<raw.rowCount).map { r in
            if let why = unavailable[r], !why.isEmpty {
                // What completing the row found (a lookup with no record) often explains why.
                return Scored(
                    prediction: nil, value: nil, probabilities: [:], range: nil, status: "unavailable",
                    reasons: why + (notes?[r] ?? []))
            }
            guard prediction.isValid(r) else {
                return Scored(
                    prediction: nil, value: nil, probabilities: [:], range: nil, status: "unavailable",
                    reasons: ["no prediction"])
            }
            var p = [String: Double]()
            for (k, label) in labels.enumerated() {
                if let c = probabilities[k], let v = c.doubles()?[r] { p[label] = v }
            }
            let value = labels.isEmpty ? prediction.doubles()?[r] : nil
            let range = lower.flatMap { lo in upper.map { hi in [lo.doubles()?[r] ?? .nan, hi.doubles()?[r] ?? .nan] } }
            let flagged = review[r] ?? []
            var s = Scored(
                prediction: prediction[r].description, value: value, probabilities: p, range: range,
                status: flagged.isEmpty ? "ok" : "review", reasons: flagged + (notes?[r] ?? []) + imputed[r],
                warnings: novel.warnings[r])
            let tightness = confidenceScale.map { scale in scale.spread(of: s).map(scale.share(widerThan:)) ?? 1 } ?? 1
            s.confidence = tightness * novel.factors[r] * pow(Confidence.imputed, Double(imputed[r].count))
            s.explanation = explanations?[r]
            return s
        }
    }

    /// The table scope rules on the model's answer read: one column, `prediction` (numbers, or class labels).
    public static func answers(_ prediction: Column, classes: Bool) throws -> Table {
        try Table(columns: [
            classes
                ? Column(
                    name: "prediction",
                    strings: (0..<prediction.count).map { prediction.isValid($0) ? prediction[$0].description : nil })
                : Column(
                    name: "prediction",
                    doubles: prediction.doubles()?.enumerated().map { prediction.isValid($0) ? $1 : nil } ?? [])
        ])
    }

    /// Per row, the inputs that were missing and that the pipeline imputed (as it did in training).
    func imputedInputs(_ raw: Table) -> [[String]] {
        var out = [[String]](repeating: [], count: raw.rowCount)
        for case .impute(let column, _, _, _, _) in pipeline.steps
        where inputSchema.contains(where: { $0.name == column }) {
            let c = raw[column]
            for r in 0..<raw.rowCount where !(c?.isValid(r) ?? false) {
                out[r].append("\(column) was missing: imputed as in training")
            }
        }
        return out
    }

    /// Whether a column is read by a step that runs at serving time (filters without a flag do not run there).
    public func pipelineNeeds(_ column: String) -> Bool { pipelineReads.contains(column) }

    /// The columns the model's features and the serving-time preparation steps read (a filter without a flag, or
    /// dropping duplicates, runs only in training).
    public var pipelineReads: Set<String> {
        var read = Set<String>()
        if model.task != .clustering, let schema = try? model.model().schema {
            read.formUnion(schema.features.map(\.name))
        }
        for step in pipeline.steps {
            switch step {
            case .filter(_, nil), .dropDuplicates: continue
            default: read.formUnion(step.columnsRead)
            }
        }
        return read
    }

    /// The input columns the model's features are made from, traced back through the preparation steps (a one-hot
    /// level to its column, a derived feature to the columns its expression reads): the columns its answers depend
    /// on. A column the pipeline drops, or reads only to filter training rows, is not among them.
    public var columnsTheModelReads: [String] {
        guard model.task != .clustering, let schema = try? model.model().schema else {
            let read = pipelineReads
            return inputSchema.map(\.name).filter(read.contains)
        }
        let origins = pipeline.origins(imputeGroups: true)
        let needed = Set(schema.features.flatMap { (origins[$0.name] ?? [$0.name: 1]).keys })
        return inputSchema.map(\.name).filter(needed.contains)
    }

    /// Input columns holding dates or times (typed so, or parsed to dates by the pipeline).
    public var temporalColumns: Set<String> {
        var out = Set(inputSchema.filter(\.type.isTemporal).map(\.name))
        for case .parseDates(let columns, _) in pipeline.steps { out.formUnion(columns) }
        return out
    }

    public func jsonData() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return try e.encode(self)
    }

    /// Reads a bundle; another format, a newer version or a damaged file is a clear error.
    /// `header` is the file's header when the caller has read it already.
    public static func decode(_ data: Data, path: String = "bundle", header: FileFormat? = nil) throws -> ModelBundle {
        if let problem = FileFormat.problem(
            data, header: header, name: formatName, what: "model bundle", newest: formatVersion)
        {
            throw EvaluationError.invalid("\(path): \(problem)")
        }
        do { return try JSONDecoder().decode(ModelBundle.self, from: data) } catch {
            throw EvaluationError.invalid("\(path): damaged model bundle: \(error)")
        }
    }
}

extension Evaluation {
    /// Compares two bundles on the same raw labelled rows — each applies its own pipeline, so a champion trained
    /// with another preparation is compared fairly — with a paired bootstrap of the metric difference over the rows
    /// both could score. `against` names the other side ("champion").
    public static func compare(
        _ candidate: ModelBundle, with other: ModelBundle, against: String, rows raw: Table, metric: String,
        threshold: Double = 0.5, samples: Int = 1000, seed: UInt64 = 42
    ) throws -> EvaluationReport.Comparison {
        guard candidate.task == other.task else {
            throw EvaluationError.invalid(
                "the \(against) is a \(other.task.rawValue) model, the candidate \(candidate.task.rawValue)")
        }
        let target = candidate.target
        guard let y = raw[target] else {
            throw EvaluationError.invalid("no column '\(target)' (the target) in the comparison rows")
        }
        let a = try candidate.score(merged: raw)
        let b = try other.score(merged: raw)
        let rows = (0..<raw.rowCount).filter { y.isValid($0) && a[$0].status == "ok" && b[$0].status == "ok" }
        guard rows.count >= 10 else {
            throw EvaluationError.invalid("only \(rows.count) rows could be scored by both models; too few to compare")
        }
        var truth = Truth(task: candidate.task)
        func predictions(_ s: [ModelBundle.Scored], labels: [String]) -> Predictions {
            if candidate.task == .regression {
                return Predictions(values: rows.map { s[$0].value ?? .nan }, probabilities: [], classCount: 0)
            }
            let k = labels.count
            var p = [Double](repeating: 0, count: rows.count * k)
            for (i, r) in rows.enumerated() {
                for (c, l) in labels.enumerated() { p[i * k + c] = s[r].probabilities[l] ?? 0 }
            }
            return Predictions(values: [], probabilities: p, classCount: k)
        }
        let labels = try candidate.model.model().labels
        if candidate.task == .regression {
            truth.values = rows.map { y.doubles()?[$0] ?? .nan }
        } else {
            truth.labels = labels
            truth.classes = rows.map { labels.firstIndex(of: y[$0].description) ?? -1 }
            guard !truth.classes.contains(-1) else {
                throw EvaluationError.invalid("a comparison row has a class the candidate never saw")
            }
            truth.positive = truth.classes.filter { $0 == 1 }.count * 2 <= truth.classes.count ? 1 : 0
        }
        let pa = predictions(a, labels: labels)
        let pb = predictions(b, labels: labels)
        let all = Array(0..<rows.count)
        let ma = metrics(truth, pa, rows: all, threshold: threshold)
        let mb = metrics(truth, pb, rows: all, threshold: threshold)
        guard let va = ma[metric], let vb = mb[metric] else {
            throw EvaluationError.invalid("'\(metric)' is not a \(candidate.task.rawValue) metric")
        }
        var rng = SeededGenerator(seed: seed)
        let interval = pairedBootstrap(
            truth, pa, pb, rows: all.count, metric: metric, threshold: threshold, samples: samples, rng: &rng)
        return .init(
            against: against, metric: metric, candidate: va, baseline: vb, difference: va - vb,
            low: interval.low, high: interval.high, samples: interval.samples)
    }
}
