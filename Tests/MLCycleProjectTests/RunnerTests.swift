import Foundation
import GRDB
import MLCycleData
import MLCycleEvaluate
import MLCycleQuality
import Testing

@testable import MLCycleProject
@testable import MLCycleStore

/// A small project in a temporary folder: price = 100 + 50 · size (± 2 %), with a linear baseline and a gbdt.
func smallProject(gates: [String] = ["within_10pct >= 0.9"], autoPromote: Bool = true) throws -> String {
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
    release: {auto_promote: \(autoPromote)}
    """.write(toFile: "\(dir)/mlcycle.yaml", atomically: true, encoding: .utf8)
    return dir
}

@Suite struct RunnerTests {
    @Test func aProjectRunsEndToEndAndASecondRunIsCached() throws {
        let dir = try smallProject()
        let spec = try ProjectFile.load(path: "\(dir)/mlcycle.yaml")
        let store = try SQLiteStore(directory: "\(dir)/.mlcycle")
        var lines = [String]()
        let first = try Runner(spec: spec, directory: dir, store: store, progress: { lines.append($0) }).run()
        #expect(first.stages.map(\.status).allSatisfy { $0 == "ran" })
        #expect(
            first.stages.map(\.stage) == [
                .collect, .validate, .profile, .prepare, .train, .train, .evaluate, .register,
            ])
        #expect(lines.count == 8)
        #expect(first.leaderboard.count == 2 && first.rankingMetric == "mape")
        #expect(first.passed == true && first.alias == "champion")  // the first version to pass, auto-promoted
        let v1 = try #require(first.registered)
        #expect(v1.version == 1 && v1.gatesPassed && v1.datasets.count == 1)
        // The dataset snapshot knows its rows, schema, sources and profile.
        let snapshot = try #require(try store.dataset(fingerprint: v1.datasets[0]))
        #expect(
            snapshot.rows == 300 && snapshot.schema.contains("price:float64")
                && snapshot.sources == ["houses: houses.csv"])
        #expect(try store.artifact(try #require(snapshot.profileArtifact)).count > 100)
        #expect(try store.aliases("small") == ["champion": 1])
        #expect(FileManager.default.fileExists(atPath: try #require(first.report)))
        // The bundle is in the store, verified, and scores raw rows (no target) like training did.
        let bundle = try MLCycleEvaluate.ModelBundle.decode(try store.artifact(v1.bundle))
        #expect(bundle.lineage.datasets == v1.datasets && bundle.reference["size"]?.sample?.count == 300)
        let scored = try bundle.score(try CSVReader.read(string: "id,size,kind\n1,5,a\n2,8,b"))
        #expect(scored.map(\.status) == ["ok", "ok"])
        #expect(abs((scored[0].value ?? 0) - 350) < 35)

        // Nothing changed: every stage is reused, no new version.
        let second = try Runner(spec: spec, directory: dir, store: store).run()
        #expect(second.stages.allSatisfy { $0.status == "cached" })
        #expect(try store.modelVersions("small").count == 1)
        // --from train re-runs training and what follows (same inputs, same models: the same bundle is not registered twice).
        let forced = try Runner(spec: spec, directory: dir, store: store, from: .train).run()
        #expect(forced.stages.filter { $0.status == "ran" }.map(\.stage) == [.train, .train, .evaluate, .register])
        #expect(forced.stages.prefix(4).allSatisfy { $0.status == "cached" })
    }

    @Test func failedGatesRegisterAVersionThatCannotBePromoted() throws {
        let dir = try smallProject(gates: ["mape <= 0.0001"])
        let store = try SQLiteStore(directory: "\(dir)/.mlcycle")
        let summary = try Runner(spec: try ProjectFile.load(path: "\(dir)/mlcycle.yaml"), directory: dir, store: store)
            .run()
        #expect(summary.passed == false && summary.alias == nil)
        let v = try #require(summary.registered)
        #expect(!v.gatesPassed && v.gates.first?.hasPrefix("failed: mape <= 0.0001") == true)
        #expect(try store.aliases("small").isEmpty)
        #expect(try store.audit(model: "small").map(\.action) == ["register"])
    }

    @Test func aFailingValidationStopsTheRunAndIsRecorded() throws {
        let dir = try smallProject()
        try "rules:\n  - row_count: {min: 100000}\n".write(
            toFile: "\(dir)/rules.yaml", atomically: true, encoding: .utf8)
        let yaml =
            try String(contentsOfFile: "\(dir)/mlcycle.yaml", encoding: .utf8) + "\nvalidation: {houses: rules.yaml}\n"
        try yaml.write(toFile: "\(dir)/mlcycle.yaml", atomically: true, encoding: .utf8)
        let store = try SQLiteStore(directory: "\(dir)/.mlcycle")
        #expect(throws: StoreError.self) {
            _ = try Runner(spec: try ProjectFile.load(path: "\(dir)/mlcycle.yaml"), directory: dir, store: store).run()
        }
        let runs = try store.runs(project: "small", limit: 10)
        #expect(runs.first?.stage == "validate" && runs.first?.status == .failed)
        #expect(try store.logs(run: try #require(runs.first?.id)).contains { $0.contains("100000") })
        #expect(try store.modelNames().isEmpty)
    }

    @Test func aChallengerIsComparedWithTheChampionOnTheSameRawRows() throws {
        let dir = try smallProject(gates: ["within_10pct >= 0.9", "mape <= champion + 0.01"])
        let store = try SQLiteStore(directory: "\(dir)/.mlcycle")
        let first = try Runner(spec: try ProjectFile.load(path: "\(dir)/mlcycle.yaml"), directory: dir, store: store)
            .run()
        #expect(first.alias == "champion")
        #expect(first.gates.first { $0.rule.contains("champion") }?.reason == "no champion yet")
        // Another split gives new models: the best must be compared with champion v1, which answers with its own pipeline.
        let path = "\(dir)/mlcycle.yaml"
        try (try String(contentsOfFile: path, encoding: .utf8)).replacingOccurrences(of: "seed: 1}", with: "seed: 2}")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let second = try Runner(spec: try ProjectFile.load(path: path), directory: dir, store: store).run()
        let evaluateRun = try #require(second.stages.last { $0.stage == .evaluate }?.run)
        let artifact = try #require(try store.run(evaluateRun)?.outputs["evaluation"])
        let evaluation = try JSONDecoder().decode(EvaluationReport.self, from: try store.artifact(artifact))
        let comparison = try #require(evaluation.comparisons.first { $0.against == "champion v1" })
        #expect(
            comparison.metric == "mape" && comparison.samples == 1000 && comparison.low <= comparison.difference
                && comparison.difference <= comparison.high)
        let gate = try #require(second.gates.first { $0.rule == "mape <= champion + 0.01" })
        #expect(gate.value == comparison.candidate)
        #expect(second.alias == (second.passed == true ? "challenger" : nil))
    }

    @Test func aSourceCanBeASQLiteQuery() throws {
        let dir = try smallProject()
        let queue = try DatabaseQueue(path: "\(dir)/extra.sqlite")
        try queue.write { db in
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
        let summary = try Runner(spec: try ProjectFile.load(path: path), directory: dir, store: store).run()
        let fingerprint = try #require(summary.registered?.datasets.first)
        let snapshot = try #require(try store.dataset(fingerprint: fingerprint))
        #expect(snapshot.schema.contains("premium:float64") && snapshot.sources.contains("kinds: extra.sqlite"))
    }
}
