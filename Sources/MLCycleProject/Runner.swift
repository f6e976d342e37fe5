import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCycleLearn
import MLCycleMetrics
import MLCyclePrep
import MLCycleQuality
import MLCycleReport
import MLCycleStore

/// The lifecycle's stages, in order.
public enum Stage: String, CaseIterable, Codable, Sendable {
    case collect, validate, profile, prepare, train, evaluate, register
}

/// What `mlcycle run` reports.
public struct RunSummary: Codable, Sendable {
    public struct StageResult: Codable, Sendable {
        public var stage: Stage
        /// ran, cached or failed
        public var status: String
        public var seconds: Double
        public var run: Int64?
        public var detail: String
    }
    public struct Candidate: Codable, Sendable {
        public var name: String
        public var learner: LearnerKind
        public var parameters: [String: String]
        public var metrics: [String: Double]
        public var fitSeconds: Double
        public var model: String
    }
    /// Which rows ranked the candidates and which tested the chosen one.
    public struct Selection: Codable, Sendable {
        /// validation or cv.
        public var method: ProjectSpec.EvaluationSection.Selection
        /// The rows the leaderboard's figures come from (validation rows, or the rows cross-validation folded).
        public var rows: Int
        public var folds: Int?
        /// The rows the tested model was fitted on.
        public var fittedOn: Int
        /// The rows the gates judged (each tested model scored once).
        public var testRows: Int

        enum CodingKeys: String, CodingKey {
            case method, rows, folds
            case fittedOn = "fitted_on"
            case testRows = "test_rows"
        }
    }
    public var project: String
    public var stages: [StageResult] = []
    /// Candidates, best first on the ranking metric, measured on the selection rows (never the test rows).
    public var leaderboard: [Candidate] = []
    public var selection: Selection?
    public var rankingMetric = ""
    public var chosen: String?
    /// The chosen candidate's tested (and registered) model: its refit, or the model the validation rows ranked.
    public var chosenModel: String?
    public var passed: Bool?
    public var gates: [EvaluationReport.Gate] = []
    public var report: String?
    public var registered: ModelVersion?
    public var alias: String?
    /// The chosen candidate against the baseline and the champion (paired, on the same rows).
    public var comparisons: [EvaluationReport.Comparison] = []
}

/// Runs a project's stages against a store, skipping each stage whose inputs (hashed) did not change since it last
/// finished, and recording every stage as a run with its parameters, metrics, logs and outputs.
public final class Runner {
    public let spec: ProjectSpec
    public let directory: String
    public let store: Store
    public var from: Stage?
    public var actor: String
    /// Called with one line per stage as it ends (the CLI prints it).
    public var progress: (String) -> Void
    /// Called while a long stage works (which candidate, which tuning trial); the CLI overwrites one terminal line.
    public var counter: @Sendable (String) -> Void = { _ in }
    /// Queue the candidates' tuning trials (and, under cross-validation, every candidate's folds) on the store for
    /// `mlcycle worker` processes instead of scoring them here: every candidate's search is queued before the first
    /// is waited on, and the scores are the ones a local run makes.
    public var trialsOnWorkers = false
    /// Labelled rows from served predictions (retraining): appended to the collected sources.
    public var feedbackRows: LabelledRows?
    /// Labelled rows the chosen candidate and the champion are compared on (retraining: the most recent ones);
    /// without them, the raw rows of the test split.
    public var comparisonRows: LabelledRows?

    public init(
        spec: ProjectSpec, directory: String, store: Store, from: Stage? = nil,
        actor: String = ProcessInfo.processInfo.environment["USER"] ?? "mlcycle",
        progress: @escaping (String) -> Void = { _ in }
    ) {
        self.spec = spec
        self.directory = directory
        self.store = store
        self.from = from
        self.actor = actor
        self.progress = progress
    }

    var summary = RunSummary(project: "")
    /// The run standing for this whole `mlcycle run` while it runs (its stage runs are tagged with it).
    var pipelineRun: Int64?
    /// The project's git commit, asked of git once per runner rather than once per stage.
    lazy var commit: String? = GitCheckout.commit(of: directory)
    var project: String { spec.problem.name }

    static func hash(_ parts: [String]) -> String {
        var h = MLCycleData.SHA256()
        for p in parts {
            h.update(Array(p.utf8))
            h.update([0])
        }
        return MLCycleData.SHA256.hexString(h.finalize())
    }

    static func fileHash(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError.fileNotFound(path: path) }
        var h = MLCycleData.SHA256()
        data.withUnsafeBytes { h.update(raw: $0) }
        return MLCycleData.SHA256.hexString(h.finalize())
    }

    func path(_ p: String) -> String { p.hasPrefix("/") ? p : (directory as NSString).appendingPathComponent(p) }

    /// Runs `body` as stage `stage` unless a finished run with the same inputs exists (and `from` does not force
    /// it); either way returns the stage's outputs.
    func stage(
        _ stage: Stage, inputs: [String], params: [String: String] = [:], detail: ([String: String]) -> String,
        _ body: (Int64) async throws -> [String: String]
    ) async throws -> [String: String] {
        let inputHash = Self.hash([stage.rawValue, MLCycleVersion.current] + inputs)
        let started = Date()
        if let cached = try await cachedRun(stage, inputs: inputs) {
            let outputs = cached.outputs
            summary.stages.append(
                .init(stage: stage, status: "cached", seconds: 0, run: cached.id, detail: detail(outputs)))
            progress(line(stage, "cached", 0, detail(outputs)))
            return outputs
        }
        let run = try await store.startRun(
            NewRun(
                project: project, stage: stage.rawValue, inputHash: inputHash, params: params,
                tags: pipelineRun.map { ["pipeline": String($0)] } ?? [:], specHash: spec.hash, gitCommit: commit))
        do {
            let outputs = try await body(run.id)
            try await store.finishRun(run.id, status: .finished, outputs: outputs)
            let seconds = Date().timeIntervalSince(started)
            summary.stages.append(
                .init(stage: stage, status: "ran", seconds: seconds, run: run.id, detail: detail(outputs)))
            progress(line(stage, "ran", seconds, detail(outputs)))
            return outputs
        } catch {
            try? await store.appendLog(run: run.id, "failed: \(error.localizedDescription)")
            try? await store.finishRun(run.id, status: .failed, outputs: [:])
            let seconds = Date().timeIntervalSince(started)
            summary.stages.append(
                .init(stage: stage, status: "failed", seconds: seconds, run: run.id, detail: error.localizedDescription)
            )
            progress(line(stage, "failed", seconds, error.localizedDescription))
            throw error
        }
    }

    /// The finished run `stage` would reuse for these inputs, unless `from` forces the stage to run.
    func cachedRun(_ stage: Stage, inputs: [String]) async throws -> RunRecord? {
        let forced = from.map { Stage.allCases.firstIndex(of: $0)! <= Stage.allCases.firstIndex(of: stage)! } ?? false
        if forced { return nil }
        let inputHash = Self.hash([stage.rawValue, MLCycleVersion.current] + inputs)
        return try await store.cachedRun(project: project, stage: stage.rawValue, inputHash: inputHash)
    }

    func line(_ stage: Stage, _ status: String, _ seconds: Double, _ detail: String) -> String {
        "\(stage.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(status.padding(toLength: 7, withPad: " ", startingAt: 0)) \(String(format: "%6.1f s", seconds))  \(detail)"
    }

    func table(_ sha: String) async throws -> Table {
        try CSVReader.read(
            string: String(decoding: try await store.artifact(sha), as: UTF8.self), name: "artefact \(sha.prefix(12))")
    }
    func put(_ table: Table) async throws -> String { try await store.putArtifact(Data(CSVWriter.string(table).utf8)) }

    /// Runs every stage and returns the summary; a stage that fails stops the run (and is recorded as failed).
    /// The run's work is done on a thread of its own: a server, watcher or worker in the same process keeps Swift's
    /// cooperative threads for its requests, database pool and leases while a model trains for minutes.
    public func run() async throws -> RunSummary {
        try await onThreadOfItsOwn(named: "mlcycle-run \(project)") { try await runStages() }
    }

    /// Records the whole run as a run of its own (stage `pipeline`, MLflow's parent run): the problem it is for as its
    /// parameters, each stage run tagged with its id, and at the end its outcome (the summary as an artefact, the
    /// verdict, the registered version) with the test metrics of the evaluated model, so a listing shows one row per
    /// `mlcycle run` with every stage it ran or reused.
    private func runStages() async throws -> RunSummary {
        summary = RunSummary(project: project)
        try await store.ensureProject(project)
        let problem = spec.problem
        let parameters: [String: String?] = [
            "task": problem.task.rawValue, "target": problem.target, "goal": problem.goal, "success": problem.success,
            "owner": problem.owner, "scope": problem.scope.isEmpty ? nil : problem.scope.joined(separator: "; "),
            "from": from?.rawValue,
        ]
        let parent = try await store.startRun(
            NewRun(
                project: project, stage: RunRecord.pipelineStage, inputHash: UUID().uuidString,
                params: parameters.compactMapValues { $0 }, specHash: spec.hash, gitCommit: commit))
        pipelineRun = parent.id
        defer { pipelineRun = nil }
        do {
            let result = try await runEveryStage()
            try await finishPipelineRun(parent.id, status: .finished)
            return result
        } catch {
            try? await store.appendLog(run: parent.id, "failed: \(error.localizedDescription)")
            try? await finishPipelineRun(parent.id, status: .failed)
            throw error
        }
    }

    /// Ends the pipeline run with what the stages came to, and the evaluated model's test metrics.
    private func finishPipelineRun(_ id: Int64, status: RunStatus) async throws {
        var outputs = ["summary": try await store.putArtifact(try JSONEncoder().encode(summary))]
        outputs["passed"] = summary.passed.map { String($0) }
        outputs["chosen"] = summary.chosen
        outputs["version"] = summary.registered.map { String($0.version) }
        outputs["alias"] = summary.alias
        if let evaluated = summary.stages.last(where: { $0.stage == .evaluate })?.run {
            outputs["evaluate_run"] = String(evaluated)
            for m in try await store.metrics(run: evaluated) where m.step == 0 {
                try await store.logMetric(run: id, name: m.name, value: m.value, step: 0)
            }
        }
        try await store.finishRun(id, status: status, outputs: outputs)
    }

    private func runEveryStage() async throws -> RunSummary {
        let target = spec.problem.target

        // collect: read and merge the sources. A database source is read first: its content's fingerprint stands for
        // it, as a file's hash does, so an unchanged query result reuses the stages after it.
        let databaseTables = try await PipelineFile.readDatabaseSources(spec.preparation)
        let reader = PipelineFile.reader(databaseTables: databaseTables)
        let sourceHashes = try spec.preparation.sources.map {
            try (databaseTables[$0.name]?.fingerprint() ?? Self.fileHash(path($0.path))) + ($0.query ?? "")
        }
        let collected = try await stage(
            .collect,
            inputs: sourceHashes + [SortedJSON.encode(spec.preparation.sources), feedbackRows?.key ?? "", "lookups"],
            detail: {
                "\($0["rows"] ?? "?") rows\($0["feedback_rows"].map { " (\($0) from feedback)" } ?? ""), dataset \($0["fingerprint"]?.prefix(12) ?? "?")"
            }
        ) { run in
            let (collectedTable, fitted) = try PreparationRun.collectFitted(
                spec.preparation, directory: directory, main: nil, reader: reader)
            var t = collectedTable
            let sourceRows = t.rowCount
            if let feedbackRows, !feedbackRows.rows.isEmpty {
                t = try Table.concatenate([t, try feedbackRows.table(like: t, target: target)])
            }
            let fingerprint = t.fingerprint()
            try await store.recordDataset(
                DatasetSnapshot(
                    fingerprint: fingerprint, rows: t.rowCount, schema: t.schema.map { "\($0.name):\($0.type)" },
                    sources: spec.preparation.sources.map { "\($0.name): \(PostgresURL.redacted($0.path))" }))
            try await store.logMetric(run: run, name: "rows", value: Double(t.rowCount), step: 0)
            var out = await ["table": try put(t), "fingerprint": fingerprint, "rows": String(t.rowCount)]
            if t.rowCount > sourceRows { out["feedback_rows"] = String(t.rowCount - sourceRows) }
            // The lookups (sources after the first) travel with the model: serving completes requests with them.
            if let fitted, !fitted.lookups.isEmpty {
                out["sources"] = try await store.putArtifact(try JSONEncoder().encode(fitted))
            }
            return out
        }
        guard let tableSHA = collected["table"], let fingerprint = collected["fingerprint"] else {
            throw StoreError.invalid("collect left no table")
        }
        let merged = try await table(tableSHA)
        var sources: FittedSources?
        if let sha = collected["sources"] {
            sources = try JSONDecoder().decode(FittedSources.self, from: try await store.artifact(sha))
        }

        // validate: rules on the sources and the merged table; an error-severity failure stops the run.
        let ruleFiles = spec.validation.sorted { $0.key < $1.key }
        _ = try await stage(
            .validate,
            inputs: [fingerprint] + sourceHashes
                + (try ruleFiles.map { "\($0.key)=\(try Self.fileHash(path($0.value)))" }),
            detail: { "\($0["rules"] ?? "0") rules, \($0["warnings"] ?? "0") warnings" }
        ) { run in
            var rules = 0
            var warnings = 0
            // Each table's report is kept (an artefact per table) for the data pages.
            var outputs = ["fingerprint": fingerprint]
            for (name, file) in ruleFiles {
                let checked: Table
                if name == "merged" {
                    checked = merged
                } else {
                    guard let source = spec.preparation.sources.first(where: { $0.name == name }) else { continue }
                    checked = try reader(source, source.isDatabase ? source.path : path(source.path))
                }
                let report = Validator.validate(checked, rules: try RuleFile.load(path: path(file)))
                outputs["report_\(name)"] = try await store.putArtifact(try JSONEncoder().encode(report))
                rules += report.results.count
                warnings += report.results.filter { !$0.passed }.count
                for r in report.results where !r.passed {
                    try await store.appendLog(
                        run: run, "\(name): \(r.severity) \(r.rule): \(r.message ?? "\(r.failingRows) failing rows")")
                }
                if !report.passed {
                    throw StoreError.invalid(
                        "validation of \(name) failed \(report.failedErrors) error rule(s): "
                            + report.results.filter { !$0.passed && $0.severity == .error }.map(\.rule).joined(
                                separator: "; "))
                }
            }
            outputs["rules"] = String(rules)
            outputs["warnings"] = String(warnings)
            return outputs
        }

        // profile: the statistics of the merged table (JSON artefact and an HTML page).
        let reports = (directory as NSString).appendingPathComponent(".mlcycle/reports")
        _ = try await stage(.profile, inputs: [fingerprint, target], detail: { _ in "profile of the merged table" }) {
            _ in
            let profile = try Profiler.profile(merged, options: ProfileOptions(target: target.isEmpty ? nil : target))
            try FileManager.default.createDirectory(atPath: reports, withIntermediateDirectories: true)
            let htmlPath = (reports as NSString).appendingPathComponent("profile-\(fingerprint.prefix(12)).html")
            try AtomicFile.write(Data(ProfileReport.html(profile, title: project).utf8), to: htmlPath)
            let e = JSONEncoder()
            e.outputFormatting = .sortedKeys
            let artifact = try await store.putArtifact(try e.encode(profile))
            try await store.attachProfile(fingerprint: fingerprint, artifact: artifact)
            return ["profile": artifact, "html": htmlPath]
        }

        // prepare: rows outside the scope are left out, the split is made, the steps are fitted on training rows.
        let prepared = try await stage(
            .prepare,
            inputs: [
                fingerprint, target, SortedJSON.encode(spec.preparation.steps),
                SortedJSON.encode(spec.preparation.split), spec.problem.scope.joined(separator: "\n"),
            ],
            detail: {
                "\($0["rows"] ?? "?") rows (\($0["validation_rows"].map { "\($0) validation, " } ?? "")\($0["test_rows"] ?? "?") test), \($0["out_of_scope"] ?? "0") out of scope"
            }
        ) { run in
            let inScope = try scopeMask(merged)
            let scoped = try merged.filtered(inScope)
            var prepSpec = spec.preparation
            prepSpec.sources = []
            if prepSpec.split == nil { prepSpec.split = SplitSpec() }
            let result = try PreparationRun.run(
                prepSpec, directory: directory, main: scoped, target: target.isEmpty ? nil : target)
            let part = try result.table.column("split")
            let count = { (p: SplitPart) in
                (0..<result.table.rowCount).filter { part.isValid($0) && part[$0].description == p.rawValue }.count
            }
            try await store.logMetric(run: run, name: "rows", value: Double(result.table.rowCount), step: 0)
            return await [
                "prepared": try put(result.table),
                "pipeline": try await store.putArtifact(try result.pipeline.jsonData()),
                "rows": String(result.table.rowCount), "test_rows": String(count(.test)),
                "validation_rows": String(count(.validation)),
                "out_of_scope": String(inScope.filter { !$0 }.count),
            ]
        }
        guard let preparedSHA = prepared["prepared"], let pipelineSHA = prepared["pipeline"] else {
            throw StoreError.invalid("prepare left no table")
        }
        let preparedTable = try await table(preparedSHA)
        let parts = try Splitter.parts(preparedTable, column: "split")
        let testTable = parts.test
        // The rows that are not test rows: what cross-validation folds, and what the chosen model is refit on.
        let developmentTable =
            parts.validation.rowCount == 0 ? parts.train : try Table.concatenate([parts.train, parts.validation])

        // train: every candidate (tuned first when it has a search space), ranked without the test rows — on the
        // validation rows, or by cross-validation on the training rows.
        let metric = spec.evaluation.metric ?? (spec.problem.task == .regression ? "mape" : "logloss")
        let selection = spec.evaluation.selection
        let folds = spec.evaluation.folds
        summary.rankingMetric = metric
        switch selection {
        case .validation:
            guard parts.validation.rowCount > 0 else {
                throw StoreError.invalid(
                    "evaluation.selection: validation needs validation rows, and the split left none; "
                        + "give split.validation a share (0.2) or rank by cross-validation (evaluation.selection: cv)")
            }
            summary.selection = .init(
                method: selection, rows: parts.validation.rowCount, folds: nil,
                fittedOn: spec.evaluation.refit ? developmentTable.rowCount : parts.train.rowCount,
                testRows: testTable.rowCount)
        case .cv:
            summary.selection = .init(
                method: selection, rows: developmentTable.rowCount, folds: folds,
                fittedOn: developmentTable.rowCount, testRows: testTable.rowCount)
        }
        let tuning = spec.tuning ?? ProjectSpec.Tuning(search: .grid, trials: nil, folds: 3, timeBudget: nil)
        // The key holds the learner's typed parameters (defaults filled in), so a change of a default or of the
        // learner itself (mlcycle's version is in every key) never reuses a stale model.
        func trainInputs(_ candidate: ProjectSpec.Candidate) throws -> [String] {
            let typed = try SortedJSON.encode(
                try candidate.learner.parameters(candidate.parameters, task: spec.problem.task))
            let (space, tuning, range) = try (
                SortedJSON.encode(candidate.space), SortedJSON.encode(spec.tuning),
                SortedJSON.encode(spec.evaluation.range)
            )
            return [
                preparedSHA, candidate.name, spec.problem.task.rawValue, target, typed, space, tuning, range,
                selection.rawValue, String(folds),
            ]
        }
        // The search a candidate runs, if any: a tuned one is cross-validated on the training rows (the validation
        // rows then rank the result); under cross-validation every candidate is one search (a single trial without a
        // space). Every trial holds the candidate's fixed parameters; the space varies the rest.
        func search(_ candidate: ProjectSpec.Candidate) -> (rows: Table, options: TuningOptions)? {
            let space = candidate.parameters.mapValues { [$0] }.merging(candidate.space) { _, searched in searched }
            let options = TuningOptions(
                target: target, task: spec.problem.task, learner: candidate.learner, space: space,
                search: tuning.search, trials: tuning.trials, timeBudget: tuning.timeBudget,
                folds: selection == .cv ? folds : max(2, tuning.folds), metric: metric)
            switch selection {
            case .validation: return candidate.space.isEmpty ? nil : (parts.train, options)
            case .cv: return (developmentTable, options)
            }
        }
        var queued = [Int: DistributedTuning.Queued]()
        func trainCandidates() async throws {
            for (index, candidate) in spec.candidates.enumerated() {
                let counter = self.counter
                let total = spec.candidates.count
                counter("train     [\(index + 1)/\(total)] \(candidate.name) (\(candidate.learner))")
                let progress: @Sendable (Int, Int) -> Void = { done, trials in
                    counter("train     [\(index + 1)/\(total)] \(candidate.name): trial \(done)/\(trials)")
                }
                // The candidate's search, scored here or by the workers it was queued for.
                func searched() async throws -> [LeaderboardEntry] {
                    guard let found = search(candidate) else { return [] }
                    if let search = queued[index] {
                        return try await DistributedTuning.collect(search) { progress($0.done, $0.total) }
                    }
                    var options = found.options
                    options.progress = progress
                    return try Tuning.run(found.rows, options: options)
                }
                let outputs = try await stage(
                    .train, inputs: try trainInputs(candidate),
                    params: candidate.parameters.merging([
                        "candidate": candidate.name, "learner": candidate.learner.rawValue,
                        "selection": selection.rawValue,
                    ]) { a, _ in a },
                    detail: {
                        "\(candidate.name): \(selection == .cv ? "cross-validated" : "validation") \(metric) \($0[metric].flatMap(Double.init).map { String(format: "%.4f", $0) } ?? "?")"
                    }
                ) { run in
                    var parameters = candidate.parameters
                    var metrics = [String: Double]()
                    var out = [String: String]()
                    let board = try await searched()
                    switch selection {
                    case .validation:
                        if let best = board.first { parameters.merge(best.parameters) { _, b in b } }
                        for (i, entry) in board.enumerated() {
                            try await store.logMetric(run: run, name: "tuning_\(metric)", value: entry.mean, step: i)
                        }
                        let (file, report) = try TrainingRun.run(
                            parts.train,
                            options: TrainingOptions(
                                target: target, task: spec.problem.task, learner: candidate.learner,
                                parameters: parameters, testTable: parts.validation,
                                range: spec.problem.task == .regression ? spec.evaluation.range : nil))
                        metrics = report.metrics
                        out["model"] = try await store.putArtifact(try file.jsonData())
                        out["fit_seconds"] = String(report.fitSeconds)
                    case .cv:
                        guard let best = board.first else {
                            throw StoreError.invalid("no trial of \(candidate.name) ran")
                        }
                        parameters.merge(best.parameters) { _, b in b }
                        metrics = best.metrics
                        metrics["\(metric)_std"] = best.std
                        out["fit_seconds"] = String(best.fitSeconds / Double(folds))
                        for (i, entry) in board.enumerated() where board.count > 1 {
                            try await store.logMetric(run: run, name: "tuning_\(metric)", value: entry.mean, step: i)
                        }
                    }
                    for (k, v) in metrics {
                        try await store.logMetric(run: run, name: k, value: v, step: 0)
                        out[k] = String(v)
                    }
                    out["parameters"] = try SortedJSON.encode(parameters)
                    return out
                }
                var metrics = [String: Double]()
                for (k, v) in outputs { if let x = Double(v), k != "fit_seconds" { metrics[k] = x } }
                summary.leaderboard.append(
                    .init(
                        name: candidate.name, learner: candidate.learner,
                        parameters: (try? JSONDecoder().decode(
                            [String: String].self, from: Data((outputs["parameters"] ?? "{}").utf8))) ?? [:],
                        metrics: metrics, fitSeconds: Double(outputs["fit_seconds"] ?? "") ?? 0,
                        model: outputs["model"] ?? ""))
            }
        }
        do {
            if trialsOnWorkers {
                guard tuning.timeBudget == nil else {
                    throw StoreError.invalid(
                        "tuning.time_budget is for trials scored here (a queued trial cannot be un-started); with workers, limit the search with tuning.trials"
                    )
                }
                for (index, candidate) in spec.candidates.enumerated() {
                    guard let (rows, options) = search(candidate),
                        try await cachedRun(.train, inputs: trainInputs(candidate)) == nil
                    else { continue }
                    queued[index] = try await DistributedTuning.queue(rows, options: options, store: store)
                }
            }
            try await trainCandidates()
        } catch {
            for search in queued.values { try? await store.cancelWork(batch: search.batch) }
            throw error
        }
        let better = { (a: Double, b: Double) in higherIsBetter.contains(metric) ? a > b : a < b }
        summary.leaderboard.sort { better($0.metrics[metric] ?? .nan, $1.metrics[metric] ?? .nan) }
        guard let chosen = summary.leaderboard.first(where: { ($0.metrics[metric] ?? .nan).isFinite }) else {
            throw StoreError.invalid("no candidate produced a \(metric)")
        }
        summary.chosen = chosen.name

        // The chosen candidate and the baseline, fitted for the test: on training + validation rows (refit, and
        // always after cross-validation, which leaves no single model), else the model the validation rows ranked.
        func testedModel(_ entry: RunSummary.Candidate) async throws -> String {
            if selection == .validation && !spec.evaluation.refit { return entry.model }
            let outputs = try await stage(
                .train,
                inputs: [
                    "final fit", preparedSHA, entry.name, spec.problem.task.rawValue, target,
                    SortedJSON.encode(entry.learner.parameters(entry.parameters, task: spec.problem.task)),
                    SortedJSON.encode(spec.evaluation.range),
                ],
                params: entry.parameters.merging([
                    "candidate": entry.name, "learner": entry.learner.rawValue, "fit": "final",
                ]) { a, _ in a },
                detail: { _ in "\(entry.name): fitted on \(developmentTable.rowCount) training + validation rows" }
            ) { _ in
                let file = try TrainingRun.fit(
                    developmentTable,
                    options: TrainingOptions(
                        target: target, task: spec.problem.task, learner: entry.learner, parameters: entry.parameters,
                        range: spec.problem.task == .regression ? spec.evaluation.range : nil))
                return ["model": try await store.putArtifact(try file.jsonData())]
            }
            guard let model = outputs["model"] else { throw StoreError.invalid("the final fit left no model") }
            return model
        }
        var best = chosen
        best.model = try await testedModel(chosen)
        summary.chosenModel = best.model
        var baseline = spec.candidates.first.flatMap { first in summary.leaderboard.first { $0.name == first.name } }
        if let b = baseline { baseline?.model = await b.name == chosen.name ? best.model : try testedModel(b) }
        let judgedOn = try whichRowsJudged(chosen: chosen.name, baseline: baseline?.name)

        // evaluate: the best candidate against the baseline and the current champion, with slices, groups and gates.
        // The champion, unless it is this very model (registered by an earlier run of the same inputs).
        var championVersion: ModelVersion?
        if let number = try await store.aliases(project)["champion"],
            let v = try await store.modelVersion(project, version: number)
        {
            var model: String?
            if let run = v.run { model = try await store.run(run)?.outputs["model"] }
            championVersion = model == best.model ? nil : v
        }
        let championGates = spec.evaluation.gates.filter { $0.contains("champion") }
        let evaluated = try await stage(
            .evaluate,
            inputs: [
                best.model, baseline?.model ?? "", testTable.fingerprint(),
                spec.evaluation.gates.joined(separator: "\n"),
                spec.evaluation.slices.joined(separator: "\n"), spec.evaluation.groups.joined(separator: "\n"), metric,
                championVersion?.bundle ?? "no champion", comparisonRows?.key ?? "", SortedJSON.encode(judgedOn),
                spec.problem.answerRules.joined(separator: "\n"),
                // What the serving bundle is made of besides the model (register builds it with this reference).
                pipelineSHA, fingerprint, collected["sources"] ?? "", spec.problem.scope.joined(separator: "\n"),
                spec.problem.scopeOtherwise.joined(separator: ","), spec.problem.required.joined(separator: ","),
            ],
            detail: { "\(best.name): \($0["passed"] == "true" ? "passes every gate" : "fails a gate")" }
        ) { run in
            let model = try ModelFile.decode(try await store.artifact(best.model))
            var options = EvaluationOptions(target: target)
            options.slices = try spec.evaluation.slices.map { try SliceSpec(parsing: $0) }
            options.groups = spec.evaluation.groups
            options.gates = spec.evaluation.gates.filter { !$0.contains("champion") }
            options.metric = metric
            options.answerScope = spec.problem.answerRules
            if let baseline { options.baseline = try ModelFile.decode(try await store.artifact(baseline.model)) }
            var report = try Evaluation.run(model: model, data: testTable, options: options)
            report.judgedOn = judgedOn
            if let share = report.metrics["review_share"] {
                let outside = testTable.rowCount - report.rows
                report.judgedOn.append(
                    "the gates judged the \(report.rows) test rows whose estimate is inside the scope (\(spec.problem.answerRules.joined(separator: "; "))); \(outside) (\(String(format: "%.1f", share * 100)) %) would be answered for review"
                )
            }
            // The bundle serving would get (register adds the evaluation, lineage and release). Confidence, as
            // serving will give it: its scale learnt on the rows the model was fitted on, then judged on the raw
            // test rows.
            var candidate = try servingBundle(
                model: model, pipeline: try FittedPipeline.decode(try await store.artifact(pipelineSHA)),
                merged: merged, sources: sources, fingerprint: fingerprint)
            var outputs = [String: String]()
            if let scale = try candidate.confidenceScale(
                training: try rawRows(merged, in: [.train, .validation]),
                relative: ConfidenceScale.relativeMetrics.contains(metric))
            {
                candidate.confidenceScale = scale
            }
            // Register builds the same bundle: it reads these rather than compute them again.
            outputs["reference"] = try await store.putArtifact(try JSONEncoder().encode(candidate.reference))
            if let scale = candidate.confidenceScale {
                outputs["confidence"] = try await store.putArtifact(try JSONEncoder().encode(scale))
            }
            let rawTest = try rawTestRows(merged)
            report.reliability = try candidate.reliability(on: rawTest)
            // What the model leans on, per input column: monitoring compares the served answers' with it. A model
            // that cannot be explained (clustering) has none.
            if spec.problem.task != .clustering {
                report.columnContributions = try? candidate.meanAbsoluteContributions(merged: rawTest)
            }
            // The champion answers with its own pipeline: both bundles score the raw test rows.
            var references = [String: [String: Double]]()
            if let championVersion {
                let champion = try ModelBundle.decode(try await store.artifact(championVersion.bundle))
                let rows = try comparisonRows.map { try $0.table(like: merged, target: target) } ?? rawTest
                let comparison = try Evaluation.compare(
                    candidate, with: champion, against: "champion v\(championVersion.version)",
                    rows: rows, metric: metric)
                try await store.appendLog(
                    run: run,
                    "champion v\(championVersion.version) compared on \(rows.rowCount) \(comparisonRows == nil ? "test" : "recent labelled") rows"
                )
                report.comparisons.append(comparison)
                references["champion"] = [metric: comparison.baseline]
                // Both measured on the same rows: the candidate's own value there is what the rule compares.
                var sameRows = report
                sameRows.metrics[metric] = comparison.candidate
                report.gates += try Evaluation.verdicts(championGates, report: sameRows, references: references)
            } else {
                report.gates += championGates.map {
                    EvaluationReport.Gate(rule: $0, passed: true, value: nil, reason: "no champion yet")
                }
            }
            for (k, v) in report.metrics { try await store.logMetric(run: run, name: k, value: v, step: 0) }
            for g in report.gates {
                try await store.appendLog(run: run, "\(g.passed ? "pass" : "FAIL") \(g.rule): \(g.reason)")
            }
            try FileManager.default.createDirectory(atPath: reports, withIntermediateDirectories: true)
            let htmlPath = (reports as NSString).appendingPathComponent("evaluation-\(project)-run\(run).html")
            try AtomicFile.write(
                Data(EvaluationReportPage.html(report, title: "\(project): \(best.name)").utf8), to: htmlPath)
            let e = JSONEncoder()
            e.outputFormatting = .sortedKeys
            outputs["evaluation"] = try await store.putArtifact(try e.encode(report))
            outputs["html"] = htmlPath
            outputs["passed"] = String(report.passed)
            return outputs
        }
        let evaluation = try JSONDecoder().decode(
            EvaluationReport.self, from: try await store.artifact(evaluated["evaluation"] ?? ""))
        summary.passed = evaluation.passed
        summary.gates = evaluation.gates
        summary.report = evaluated["html"]
        summary.comparisons = evaluation.comparisons

        // register: the bundle becomes a model version; the challenger alias only when the gates pass.
        let registered = try await stage(
            .register,
            inputs: [
                best.model, pipelineSHA, evaluated["evaluation"] ?? "", evaluated["reference"] ?? "", fingerprint,
                collected["sources"] ?? "",
                spec.problem.scope.joined(separator: "\n"), spec.problem.scopeOtherwise.joined(separator: ","),
                spec.problem.required.joined(separator: ","), SortedJSON.encode(spec.release.plan?.steps ?? []),
            ],
            detail: {
                "\(project) v\($0["version"] ?? "?")\($0["alias"].map { " → \($0)" } ?? " (not promotable: gates failed)")"
            }
        ) { run in
            var bundle = try servingBundle(
                model: ModelFile.decode(try await store.artifact(best.model)),
                pipeline: FittedPipeline.decode(try await store.artifact(pipelineSHA)), merged: merged,
                sources: sources, fingerprint: fingerprint,
                reference: try JSONDecoder().decode(
                    ReferenceStatistics.self, from: try await store.artifact(evaluated["reference"] ?? "")))
            if let scale = evaluated["confidence"] {
                bundle.confidenceScale = try JSONDecoder().decode(
                    ConfidenceScale.self, from: try await store.artifact(scale))
            }
            bundle.evaluation = evaluation
            bundle.lineage = .init(datasets: [fingerprint], specHash: spec.hash, gitCommit: commit, run: run)
            bundle.lineage.lookups = sources.map {
                Dictionary($0.lookups.map { ($0.name, $0.fingerprint) }, uniquingKeysWith: { a, _ in a })
            }
            bundle.release = .init(
                canary: spec.release.canary, shadow: spec.release.shadow, steps: spec.release.plan?.steps)
            if let unknown = spec.problem.required.first(where: { c in !bundle.inputSchema.contains { $0.name == c } })
            {
                throw StoreError.invalid(
                    "problem.required names '\(unknown)', which is not an input of the model (its inputs: \(bundle.inputSchema.map(\.name).joined(separator: ", ")))"
                )
            }
            let bundleSHA = try await store.putArtifact(try bundle.jsonData())
            let registry = ModelRegistry(store: store, approvers: spec.release.approvers)
            let version = try await registry.register(
                NewModelVersion(
                    name: project, bundle: bundleSHA, metrics: evaluation.metrics, gatesPassed: evaluation.passed,
                    gates: evaluation.gates.map { "\($0.passed ? "passed" : "failed"): \($0.rule) — \($0.reason)" },
                    run: run,
                    datasets: [fingerprint], specHash: spec.hash), by: .policy(actor))
            var out = ["bundle": bundleSHA, "version": String(version.version), "model": best.model]
            if evaluation.passed {
                let hasChampion = try await registry.version(project, alias: "champion") != nil
                let alias = !hasChampion && spec.release.autoPromote ? "champion" : "challenger"
                try await registry.promote(
                    version, to: alias, by: .policy(actor),
                    reason: alias == "champion"
                        ? "first version to pass the gates (auto-promotion)" : "passed the gates")
                out["alias"] = alias
            }
            return out
        }
        if let v = Int(registered["version"] ?? "") {
            summary.registered = try await store.modelVersion(project, version: v)
        }
        summary.alias = registered["alias"]
        return summary
    }

    /// Which rows judged what, for the evaluation report and its page.
    func whichRowsJudged(chosen: String, baseline: String?) throws -> [String] {
        guard let s = summary.selection else { return [] }
        let board = summary.leaderboard.map(\.name).joined(separator: ", ")
        var lines = [String]()
        switch s.method {
        case .validation:
            lines.append(
                "The candidates (\(board)) were ranked on \(s.rows) validation rows, which none of them was fitted on.")
        case .cv:
            lines.append(
                "The candidates (\(board)) were ranked by \(s.folds ?? 0)-fold cross-validation on \(s.rows) training rows."
            )
        }
        let others = baseline.map { $0 == chosen ? "" : " and the baseline \($0)" } ?? ""
        switch (s.method, spec.evaluation.refit) {
        case (.validation, true):
            lines.append("\(chosen)\(others): fitted again on \(s.fittedOn) training + validation rows.")
        case (.validation, false):
            lines.append("\(chosen)\(others): the models the validation rows ranked, fitted on \(s.fittedOn) rows.")
        case (.cv, _):
            lines.append("\(chosen)\(others): fitted on all \(s.fittedOn) training rows.")
        }
        lines.append(
            "The figures and gates here come from \(s.testRows) test rows that took no part in choosing or fitting, "
                + "each model scored on them once.")
        return lines
    }

    /// A stable text form of a spec part for input hashes (sorted keys: dictionaries print in random order).

    /// True for the rows every scope rule holds on (a missing result is out of scope).
    func scopeMask(_ merged: Table) throws -> [Bool] {
        // Rules on the model's answer judge served rows (and the evaluation's), not which rows are trained on.
        try MLCycleData.Expression.allHold(spec.problem.inputRules, on: merged)
    }

    /// The raw (collected, in-scope) rows the split put in the test part: what serving would have been sent.
    func rawTestRows(_ merged: Table) throws -> Table { try rawRows(merged, in: [.test]) }

    /// The raw (collected, in-scope) rows the split put in `parts`.
    func rawRows(_ merged: Table, in parts: Set<SplitPart>) throws -> Table {
        let scoped = try merged.filtered(try scopeMask(merged))
        let assigned = try Splitter.assign(scoped, spec.preparation.split ?? SplitSpec())
        return scoped.taking(assigned.indices.filter { parts.contains(assigned[$0]) })
    }

    /// The bundle serving would get for a model, before evaluation, lineage and release are added: the preparation,
    /// the scope and required inputs, the lookups, and reference statistics of the collected rows (`reference`
    /// when they are computed already).
    func servingBundle(
        model: ModelFile, pipeline: FittedPipeline, merged: Table, sources: FittedSources?, fingerprint: String,
        reference: ReferenceStatistics? = nil
    ) throws -> ModelBundle {
        let target = spec.problem.target
        var bundle = ModelBundle(
            name: project, target: target, scope: spec.problem.scope, pipeline: pipeline, model: model,
            reference: reference ?? ReferenceStatistics.compute(merged, excluding: target.isEmpty ? [] : [target]),
            evaluation: nil, lineage: .init(datasets: [fingerprint]))
        bundle.sources = sources
        bundle.scopeOtherwise = spec.problem.scopeOtherwise
        bundle.required = spec.problem.required
        return bundle
    }

    /// Canonical JSON (sorted keys) of a value, for stage keys and outputs.
}
