import Foundation
import PostgresNIO
import Testing

@testable import MLCycleStore

/// `mlcycle store copy`: a SQLite store into PostgreSQL, every table and artefact, verified; repeated, it copies what
/// is new; into another store's history, it is refused.
@Suite(
    .enabled(
        if: StoreKind.postgresURL != nil, "needs MLCYCLE_TEST_POSTGRES_URL (bash Tests/run.sh starts a server)"))
struct StoreCopyTests {
    /// A laptop's store with a record in every table.
    static func laptop() async throws -> SQLiteStore {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-copy-\(UUID().uuidString)")
        let store = try SQLiteStore(directory: dir.path)
        try await work(on: store, round: 0)
        return store
    }

    /// One session's records: a run with metrics and log lines, a dataset, a version, alias moves, a release,
    /// predictions with feedback, an alert, a work item.
    static func work(on store: any Store, round: Int) async throws {
        let bundle = try await store.putArtifact(Data("bundle \(round)".utf8))
        let profile = try await store.putArtifact(Data(repeating: UInt8(round), count: 3_000_000))  // several chunks
        _ = try await store.recordDataset(
            DatasetSnapshot(
                fingerprint: "f\(round)", rows: 10, schema: ["a:int", "b:string"], sources: ["a.csv"],
                created: Date(timeIntervalSince1970: 1_700_000_000.25)))
        try await store.attachProfile(fingerprint: "f\(round)", artifact: profile)
        let run = try await store.startRun(
            NewRun(project: "houses", stage: "train", inputHash: "h\(round)", params: ["alpha": "0.1"]))
        for step in 0..<3 {
            try await store.logMetric(run: run.id, name: "rmse", value: 1.5 / Double(step + 1), step: step)
        }
        try await store.appendLog(run: run.id, "line with ünïcode and \"quotes\"")
        try await store.finishRun(run.id, status: .finished, outputs: ["model": bundle])
        let version = try await store.registerModel(
            NewModelVersion(
                name: "houses", bundle: bundle, metrics: ["rmse": 0.5, "r2": 0.9], gatesPassed: round == 0,
                gates: ["r2 > 0.8"], run: run.id, datasets: ["f\(round)"], specHash: "s"), actor: "ana")
        try await store.setAlias(
            "houses", alias: "champion", version: version.version, actor: "ana", action: "promote",
            reason: "round \(round)")
        try await store.setRelease(
            "houses",
            ReleaseState(
                version: version.version, step: 1, share: 0.1, started: Date(timeIntervalSince1970: 1_700_000_000),
                since: Date(timeIntervalSince1970: 1_700_000_100)), actor: "watch", action: "canary", reason: "")
        let rows = (0..<7_000).map { (i: Int) -> PredictionRecord in
            let failed: Bool = i % 11 == 0
            let reasons: [String]? = i % 4 == 0 ? ["area out of range"] : nil
            let confidence: Double? = i % 3 == 0 ? nil : 0.5
            return PredictionRecord(
                id: "p\(round)-\(i)", model: "houses", version: "v\(version.version)",
                at: Date(timeIntervalSince1970: 1_700_000_000 + Double(i)), latencySeconds: 0.001 * Double(i % 9),
                inputs: "{\"area\": \(i)}", prediction: failed ? nil : String(100_000 + i),
                status: failed ? "error: no area" : "ok", confidence: confidence, lowConfidence: i % 5 == 0,
                reasons: reasons)
        }
        _ = try await store.logPredictions(rows)
        _ = try await store.recordFeedback(
            (0..<500).map { FeedbackRecord(predictionID: "p\(round)-\($0)", value: "\(99_000 + $0)") })
        _ = try await store.recordAlert(
            AlertRecord(
                model: "houses", name: "slow", severity: "warning", rule: "latency_p99 > 0.05", value: 0.07,
                threshold: 0.05, windowStart: Date(timeIntervalSince1970: 1_700_000_000),
                windowEnd: Date(timeIntervalSince1970: 1_700_086_400), reason: "p99 0.07 s", at: Date(),
                delivery: "logged"))
        _ = try await store.enqueueWork([NewWorkItem(batch: "b\(round)", kind: "tuning-trial", payload: "{}")])
    }

    @Test func aStoreMovesWholeVerifiedAndOnlyOnce() async throws {
        let source = try await Self.laptop()
        let url = try await PostgresTestDatabase.create()
        let target = try await PostgresStore(url: url)
        defer { target.close() }
        let first = try await StoreCopy.copy(from: source, to: target)
        #expect(first.tables.allSatisfy { $0.rows == $0.copied } && first.artifactsCopied == 2)
        let rows = Dictionary(uniqueKeysWithValues: first.tables.map { ($0.name, $0.rows) })
        #expect(rows["prediction"] == 7_000 && rows["feedback"] == 500 && rows["metric"] == 3)
        let audited = try #require(rows["audit"])  // registration, promotion, release step
        #expect(audited == (try await source.audit(model: nil)).count && audited >= 3)
        #expect(rows["run"] == 1 && rows["work_item"] == 1 && rows["alert"] == 1 && rows["release"] == 1)
        // Read through the target as any command would: the same records.
        #expect(try await target.modelVersions("houses") == (try await source.modelVersions("houses")))
        #expect(try await target.audit(model: nil) == (try await source.audit(model: nil)))
        #expect(try await target.runs(project: nil, limit: 10) == (try await source.runs(project: nil, limit: 10)))
        #expect(try await target.metrics(run: 1) == (try await source.metrics(run: 1)))
        #expect(
            try await target.predictions(model: "houses", since: nil, limit: 10_000).sorted { $0.id < $1.id }
                == (try await source.predictions(model: "houses", since: nil, limit: 10_000)).sorted { $0.id < $1.id })
        #expect(
            try await target.artifact(try #require(try await source.dataset(fingerprint: "f0")?.profileArtifact)).count
                == 3_000_000)

        // Again: nothing new. After more work on the laptop: only that.
        let again = try await StoreCopy.copy(from: source, to: target)
        #expect(again.tables.allSatisfy { $0.copied == 0 } && again.artifactsCopied == 0 && again.artifactsPresent == 2)
        try await Self.work(on: source, round: 1)
        let more = try await StoreCopy.copy(from: source, to: target)
        let copied = Dictionary(uniqueKeysWithValues: more.tables.map { ($0.name, $0.copied) })
        #expect(copied["prediction"] == 7_000 && copied["run"] == 1 && copied["metric"] == 3)
        #expect(copied["audit"] == audited)
        // Records that changed in place take the laptop's state: the alias and the release moved to version 2.
        #expect(copied["alias"] == 1 && copied["release"] == 1 && more.artifactsCopied == 2)
        #expect(try await target.aliases("houses") == ["champion": 2])
        #expect(try await target.release("houses") == (try await source.release("houses")))
        // The target's numbers go on after the copied ones.
        let next = try await target.startRun(NewRun(project: "houses", stage: "train", inputHash: "team"))
        #expect(next.id == 3)

        // Another laptop's store has its own run 1 and audit entry 1: refused, and nothing is written.
        let other = try await Self.laptop()
        let predictions = try await target.countPredictions(PredictionFilter(model: "houses"))
        await #expect {
            _ = try await StoreCopy.copy(from: other, to: target)
        } throws: { error in
            (error as? StoreError)?.localizedDescription.contains("merge two histories") == true
                || (error as? StoreError)?.localizedDescription.contains("another store's history") == true
        }
        #expect(try await target.countPredictions(PredictionFilter(model: "houses")) == predictions)
    }
}
