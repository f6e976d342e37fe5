import Foundation
import GRDB
import MLCycleData
import MLCycleEvaluate
import MLCycleLearn
import MLCycleMetrics
import MLCyclePrep
import MLCycleQuality
import Testing

@testable import MLCycleProject
@testable import MLCycleStore

/// A small project in a temporary folder: price = 100 + 50 · size (± 2 %), with a linear baseline and a gbdt.
func smallProject(
    gates: [String] = ["within_10pct >= 0.9"], autoPromote: Bool = true, selection: String = ""
) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-project-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    var rng = SeededGenerator(seed: 5)
    var csv = "id,size,kind,price\n"
    for i in 0..<300 {
        let size = 1 + Double(rng.next(upperBound: 900)) / 100
        let noise = 1 + (Double(rng.next(upperBound: 41)) - 20) / 1000
        csv += "\(i),\(size),\(i % 3 == 0 ? "a" : "b"),\(((100 + 50 * size) * noise * 100).rounded() / 100)\n"
    }
    try csv.write(toFile: "\(dir)/houses.csv", atomically: true, encoding: .utf8)
    try """
    problem: {name: small, task: regression, target: price, success: "\(gates[0])"}
    sources:
      - {name: houses, path: houses.csv}
    preparation:
      - drop: [id]
    split: {method: random, test: 0.25, seed: 1}
    candidates:
      - {name: baseline, learner: linear}
      - {name: gbdt, learner: gbdt, params: {n_estimators: 40}}
    evaluation:
      gates: [\(gates.map { "\"\($0)\"" }.joined(separator: ", "))]
      slices: [kind]
    \(selection)
    release: {auto_promote: \(autoPromote)}
    """.write(toFile: "\(dir)/mlcycle.yaml", atomically: true, encoding: .utf8)
    return dir
}

@Suite struct RunnerTests {
    @Test func aProjectRunsEndToEndAndASecondRunIsCached() async throws {
        let dir = try smallProject()
        let spec = try ProjectFile.load(path: "\(dir)/mlcycle.yaml")
        let store = try SQLiteStore(directory: "\(dir)/.mlcycle")
        var lines = [String]()
        let first = try await Runner(spec: spec, directory: dir, store: store, progress: { lines.append($0) }).run()
        #expect(first.stages.map(\.status).allSatisfy { $0 == "ran" })
        // Two candidates, then the chosen one's final fit (the linear baseline wins: price is linear in size).
        #expect(
            first.stages.map(\.stage) == [
                .collect, .validate, .profile, .prepare, .train, .train, .train, .evaluate, .register,
            ])
        #expect(lines.count == 9)
        #expect(first.chosen == "baseline")
        // 300 rows: 75 test (split.test 0.25), 60 validation (the default 0.2), 165 train; refit on 225.
        let selection = try #require(first.selection)
        #expect(
            selection.method == .validation && selection.rows == 60 && selection.fittedOn == 225
                && selection.testRows == 75)
        #expect(first.leaderboard.count == 2 && first.rankingMetric == "mape")
        #expect(first.passed == true && first.alias == "champion")  // the first version to pass, auto-promoted
        let v1 = try #require(first.registered)
        #expect(v1.version == 1 && v1.gatesPassed && v1.datasets.count == 1)
        // The dataset snapshot knows its rows, schema, sources and profile.
        let snapshot = try #require(try await store.dataset(fingerprint: v1.datasets[0]))
        #expect(
            snapshot.rows == 300 && snapshot.schema.contains("price:float64")
                && snapshot.sources == ["houses: houses.csv"])
        #expect(try await store.artifact(try #require(snapshot.profileArtifact)).count > 100)
        #expect(try await store.aliases("small") == ["champion": 1])
        #expect(FileManager.default.fileExists(atPath: try #require(first.report)))
        // The bundle is in the store, verified, and scores raw rows (no target) like training did.
        let bundle = try MLCycleEvaluate.ModelBundle.decode(try await store.artifact(v1.bundle))
        #expect(bundle.lineage.datasets == v1.datasets && bundle.reference["size"]?.sample?.count == 300)
        let scored = try bundle.score(try CSVReader.read(string: "id,size,kind\n1,5,a\n2,8,b"))
        #expect(scored.map(\.status) == ["ok", "ok"])
        #expect(abs((scored[0].value ?? 0) - 350) < 35)

        // Nothing changed: every stage is reused, no new version.
        let second = try await Runner(spec: spec, directory: dir, store: store).run()
        #expect(second.stages.allSatisfy { $0.status == "cached" })
        #expect(try await store.modelVersions("small").count == 1)
        // --from train re-runs training and what follows (same inputs, same models: the same bundle is not registered twice).
        let forced = try await Runner(spec: spec, directory: dir, store: store, from: .train).run()
        #expect(
            forced.stages.filter { $0.status == "ran" }.map(\.stage) == [.train, .train, .train, .evaluate, .register])
        #expect(forced.stages.prefix(4).allSatisfy { $0.status == "cached" })
    }

    /// The prepared table of the last run, split into its parts (as the runner split it).
    static func preparedParts(_ store: SQLiteStore, project: String) async throws -> (
        train: MLCycleData.Table, validation: MLCycleData.Table, test: MLCycleData.Table
    ) {
        let prepare = try #require(try await store.runs(project: project, limit: 50).first { $0.stage == "prepare" })
        let sha = try #require(prepare.outputs["prepared"])
        let prepared = try CSVReader.read(string: String(decoding: try await store.artifact(sha), as: UTF8.self))
        return try Splitter.parts(prepared, column: "split")
    }

    @Test func candidatesAreRankedOnValidationRowsAndOnlyTheChosenOneMeetsTheTestRows() async throws {
        let dir = try smallProject()
        let store = try SQLiteStore(directory: "\(dir)/.mlcycle")
        let summary = try await Runner(
            spec: try ProjectFile.load(path: "\(dir)/mlcycle.yaml"), directory: dir, store: store
        ).run()
        let parts = try await Self.preparedParts(store, project: "small")
        #expect(parts.validation.rowCount == 60 && parts.test.rowCount == 75 && parts.train.rowCount == 165)
        // Each leaderboard figure is that candidate fitted on the training rows and measured on the validation rows.
        for entry in summary.leaderboard {
            let (_, onValidation) = try TrainingRun.run(
                parts.train,
                options: TrainingOptions(
                    target: "price", task: .regression, learner: entry.learner, parameters: entry.parameters,
                    testTable: parts.validation))
            let (_, onTest) = try TrainingRun.run(
                parts.train,
                options: TrainingOptions(
                    target: "price", task: .regression, learner: entry.learner, parameters: entry.parameters,
                    testTable: parts.test))
            #expect(entry.metrics["mape"] == onValidation.metrics["mape"], "\(entry.name)")
            #expect(entry.metrics["mape"] != onTest.metrics["mape"], "\(entry.name) was ranked on the test rows")
        }
        // The chosen candidate was fitted again on training + validation rows, and that model was tested.
        let chosen = try #require(summary.leaderboard.first)
        #expect(summary.chosenModel != nil && summary.chosenModel != chosen.model)
        let tested = try ModelFile.decode(try await store.artifact(try #require(summary.chosenModel)))
        let evaluation = try #require(
            try await store.runs(project: "small", limit: 50).first { $0.stage == "evaluate" }?.outputs["evaluation"])
        let report = try JSONDecoder().decode(EvaluationReport.self, from: try await store.artifact(evaluation))
        #expect(report.rows == 75)
        let predicted = try tested.predictTable(parts.test).column("prediction").doubles() ?? []
        let actual = try parts.test.column("price").doubles() ?? []
        let mape = try #require(report.metrics["mape"])
        #expect(abs(Metrics.regression(actual: actual, predicted: predicted)["mape"]! - mape) < 1e-12)
        #expect(report.judgedOn.count == 3 && report.judgedOn[0].contains("60 validation rows"))
        #expect(report.judgedOn[1].contains("225 training + validation rows") && report.judgedOn[2].contains("75 test"))
    }

    @Test func withoutRefitTheModelTheValidationRowsRankedIsTested() async throws {
        let dir = try smallProject(selection: "  refit: false")
        let store = try SQLiteStore(directory: "\(dir)/.mlcycle")
        let summary = try await Runner(
            spec: try ProjectFile.load(path: "\(dir)/mlcycle.yaml"), directory: dir, store: store
        ).run()
        #expect(summary.stages.filter { $0.stage == .train }.count == 2)
        #expect(summary.chosenModel == summary.leaderboard.first?.model && summary.selection?.fittedOn == 165)
    }

    @Test func selectionByCrossValidationFoldsTheTrainingRows() async throws {
        let dir = try smallProject(selection: "  selection: cv\n  folds: 3")
        let store = try SQLiteStore(directory: "\(dir)/.mlcycle")
        let summary = try await Runner(
            spec: try ProjectFile.load(path: "\(dir)/mlcycle.yaml"), directory: dir, store: store
        ).run()
        // No validation part under cv: 225 training rows are folded; the chosen candidate is fitted on all of them.
        let parts = try await Self.preparedParts(store, project: "small")
        #expect(parts.validation.rowCount == 0 && parts.train.rowCount == 225)
        let selection = try #require(summary.selection)
        #expect(selection.method == .cv && selection.folds == 3 && selection.rows == 225 && selection.fittedOn == 225)
        let baseline = try #require(summary.leaderboard.first { $0.name == "baseline" })
        let board = try Tuning.run(
            parts.train,
            options: TuningOptions(
                target: "price", task: .regression, learner: .linear, space: [:], folds: 3, metric: "mape"))
        #expect(baseline.metrics["mape"] == board[0].metrics["mape"] && baseline.metrics["mape_std"] == board[0].std)
    }

    @Test func failedGatesRegisterAVersionThatCannotBePromoted() async throws {
        let dir = try smallProject(gates: ["mape <= 0.0001"])
        let store = try SQLiteStore(directory: "\(dir)/.mlcycle")
        let summary = try await Runner(
            spec: try ProjectFile.load(path: "\(dir)/mlcycle.yaml"), directory: dir, store: store
        )
        .run()
        #expect(summary.passed == false && summary.alias == nil)
        let v = try #require(summary.registered)
        #expect(!v.gatesPassed && v.gates.first?.hasPrefix("failed: mape <= 0.0001") == true)
        #expect(try await store.aliases("small").isEmpty)
        #expect(try await store.audit(model: "small").map(\.action) == ["register"])
    }

    @Test func aFailingValidationStopsTheRunAndIsRecorded() async throws {
        let dir = try smallProject()
        try "rules:\n  - row_count: {min: 100000}\n".write(
            toFile: "\(dir)/rules.yaml", atomically: true, encoding: .utf8)
        let yaml =
            try String(contentsOfFile: "\(dir)/mlcycle.yaml", encoding: .utf8) + "\nvalidation: {houses: rules.yaml}\n"
        try yaml.write(toFile: "\(dir)/mlcycle.yaml", atomically: true, encoding: .utf8)
        let store = try SQLiteStore(directory: "\(dir)/.mlcycle")
        await #expect(throws: StoreError.self) {
            _ = try await Runner(spec: try ProjectFile.load(path: "\(dir)/mlcycle.yaml"), directory: dir, store: store)
                .run()
        }
        let runs = try await store.runs(project: "small", limit: 10)
        #expect(runs.first?.stage == "validate" && runs.first?.status == .failed)
        #expect(try await store.logs(run: try #require(runs.first?.id)).contains { $0.contains("100000") })
        #expect(try await store.modelNames().isEmpty)
    }

    @Test func aChallengerIsComparedWithTheChampionOnTheSameRawRows() async throws {
        let dir = try smallProject(gates: ["within_10pct >= 0.9", "mape <= champion + 0.01"])
        let store = try SQLiteStore(directory: "\(dir)/.mlcycle")
        let first = try await Runner(
            spec: try ProjectFile.load(path: "\(dir)/mlcycle.yaml"), directory: dir, store: store
        )
        .run()
        #expect(first.alias == "champion")
        #expect(first.gates.first { $0.rule.contains("champion") }?.reason == "no champion yet")
        // Another split gives new models: the best must be compared with champion v1, which answers with its own pipeline.
        let path = "\(dir)/mlcycle.yaml"
        try (try String(contentsOfFile: path, encoding: .utf8)).replacingOccurrences(of: "seed: 1}", with: "seed: 2}")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let second = try await Runner(spec: try ProjectFile.load(path: path), directory: dir, store: store).run()
        let evaluateRun = try #require(second.stages.last { $0.stage == .evaluate }?.run)
        let artifact = try #require(try await store.run(evaluateRun)?.outputs["evaluation"])
        let evaluation = try JSONDecoder().decode(EvaluationReport.self, from: try await store.artifact(artifact))
        let comparison = try #require(evaluation.comparisons.first { $0.against == "champion v1" })
        #expect(
            comparison.metric == "mape" && comparison.samples == 1000 && comparison.low <= comparison.difference
                && comparison.difference <= comparison.high)
        let gate = try #require(second.gates.first { $0.rule == "mape <= champion + 0.01" })
        #expect(gate.value == comparison.candidate)
        #expect(second.alias == (second.passed == true ? "challenger" : nil))
    }

    @Test func aSourceCanBeASQLiteQuery() async throws {
        let dir = try smallProject()
        let queue = try DatabaseQueue(path: "\(dir)/extra.sqlite")
        try await queue.write { db in
            try db.execute(
                sql:
                    "CREATE TABLE kinds (kind TEXT, premium REAL); INSERT INTO kinds VALUES ('a', 1.5), ('b', 1.0), ('c', 9.0)"
            )
        }
        let path = "\(dir)/mlcycle.yaml"
        try (try String(contentsOfFile: path, encoding: .utf8)).replacingOccurrences(
            of: "  - {name: houses, path: houses.csv}",
            with: """
                  - {name: houses, path: houses.csv}
                  - {name: kinds, path: extra.sqlite, query: "SELECT kind, premium FROM kinds WHERE premium < 5", join: {on: [kind], kind: left}}
                """
        ).write(toFile: path, atomically: true, encoding: .utf8)
        let store = try SQLiteStore(directory: "\(dir)/.mlcycle")
        let summary = try await Runner(spec: try ProjectFile.load(path: path), directory: dir, store: store).run()
        let fingerprint = try #require(summary.registered?.datasets.first)
        let snapshot = try #require(try await store.dataset(fingerprint: fingerprint))
        #expect(snapshot.schema.contains("premium:float64") && snapshot.sources.contains("kinds: extra.sqlite"))
    }
}
