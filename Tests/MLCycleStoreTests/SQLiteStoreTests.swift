import Foundation
import GRDB
import MLCycleData
import Testing

@testable import MLCycleStore

func freshStore() throws -> SQLiteStore {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-store-\(UUID().uuidString)").path
    return try SQLiteStore(directory: dir)
}

@Suite struct SQLiteStoreTests {
    /// A store made before feedback had a kind keeps its feedback: ground truth becomes `actual`, an override stays
    /// one; predictions are read per version, and the ids in the log are found.
    @Test func feedbackKindsMigrateAndPredictionsAreReadPerVersion() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-old-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        do {
            let old = try DatabasePool(path: "\(dir)/store.sqlite")
            try SQLiteStore.migrator.migrate(old, upTo: "v4")
            try await old.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO prediction (id, model, version, at, latency, inputs, prediction, status)
                        VALUES ('a', 'm', 'v1', 1, 0.001, '{}', '1', 'ok'), ('b', 'm', 'v2', 2, 0.001, '{}', '2', 'ok');
                        INSERT INTO feedback (prediction_id, actual, source, at)
                        VALUES ('a', '10', 'ground_truth', 3), ('b', '20', 'override', 4);
                        """)
            }
        }
        let store = try SQLiteStore(directory: dir)
        let feedback = try await store.feedback(predictionIDs: ["a", "b"])
        #expect(feedback.map(\.kind) == [.actual, .override] && feedback.map(\.value) == ["10", "20"])
        #expect(try await store.predictions(model: "m", version: "v2", since: nil, limit: 10).map(\.id) == ["b"])
        #expect(try await store.predictions(model: "m", since: nil, limit: 10).count == 2)
        #expect(try await store.predictionModels(["a", "zzz", "b"]) == ["a": "m", "b": "m"])
        #expect(try await store.recordFeedback([FeedbackRecord(predictionID: "a", value: "11")]) == 1)
        #expect(
            try await store.latestActuals(for: try store.predictions(model: "m", since: nil, limit: 10)) == ["a": "11"])
    }

    @Test func runsRecordParamsMetricsLogsAndAreFoundByTheirInputs() async throws {
        let store = try freshStore()
        let run = try await store.startRun(
            NewRun(
                project: "houses", stage: "train", inputHash: "abc", params: ["learner": "gbdt"], tags: ["why": "test"],
                specHash: "s1", gitCommit: "deadbeef"))
        #expect(
            run.status == .running && run.params["learner"] == "gbdt" && run.gitCommit == "deadbeef"
                && run.mlcycleVersion == MLCycleVersion.current)
        for step in 0..<3 { try await store.logMetric(run: run.id, name: "rmse", value: 10 - Double(step), step: step) }
        try await store.appendLog(run: run.id, "fitting")
        try await store.appendLog(run: run.id, "done")
        // Not finished yet: no cache hit.
        #expect(try await store.cachedRun(project: "houses", stage: "train", inputHash: "abc") == nil)
        try await store.finishRun(run.id, status: .finished, outputs: ["model": "m1"])
        let done = try #require(try await store.run(run.id))
        #expect(done.status == .finished && done.ended != nil && done.outputs == ["model": "m1"])
        #expect(try await store.metrics(run: run.id).map(\.value) == [10, 9, 8])
        #expect(try await store.logs(run: run.id) == ["fitting", "done"])
        #expect(try await store.cachedRun(project: "houses", stage: "train", inputHash: "abc")?.id == run.id)
        #expect(try await store.cachedRun(project: "houses", stage: "train", inputHash: "other") == nil)
        await #expect(throws: StoreError.self) { try await store.finishRun(999, status: .finished, outputs: [:]) }
    }

    @Test func artefactsAreContentAddressedAndVerifiedOnRead() async throws {
        let store = try freshStore()
        let data = Data("a model bundle".utf8)
        let sha = try await store.putArtifact(data)
        #expect(try await sha == store.putArtifact(data))  // the same content is stored once, under the same name
        #expect(try await store.artifact(sha) == data)
        // Damage the file on disk: reading it is a clear error, never the wrong bytes.
        try Data("tampered".utf8).write(to: URL(fileURLWithPath: store.artifactPath(sha)))
        await #expect(throws: StoreError.corruptArtifact(sha256: sha, path: store.artifactPath(sha))) {
            _ = try await store.artifact(sha)
        }
        await #expect(throws: StoreError.self) { _ = try await store.artifact(String(repeating: "0", count: 64)) }
    }

    /// A temporary artefact file left by a process that was killed mid-write is removed when the store is next
    /// recovered; one of a process still running (this one) is kept, as its rename may still come.
    @Test func temporaryArtefactsOfDeadProcessesAreRemoved() async throws {
        let store = try freshStore()
        let sha = try await store.putArtifact(Data("kept".utf8))
        let folder = (store.artifactPath(sha) as NSString).deletingLastPathComponent
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let orphan = "\(folder)/.\(sha).\(gone.processIdentifier).\(UUID().uuidString).tmp"
        let live = "\(folder)/.\(sha).\(getpid()).\(UUID().uuidString).tmp"
        for path in [orphan, live] {
            #expect(FileManager.default.createFile(atPath: path, contents: Data("half".utf8)))
        }
        _ = try await store.recoverAbandonedRuns()
        #expect(!FileManager.default.fileExists(atPath: orphan))
        #expect(FileManager.default.fileExists(atPath: live))
        #expect(try await store.artifact(sha) == Data("kept".utf8))
        #expect(try await store.integrityProblems() == [])
    }

    @Test func registryVersionsAliasesRollbackAndAnAppendOnlyAudit() async throws {
        let store = try freshStore()
        let bundle = try await store.putArtifact(Data("bundle".utf8))
        func register(_ mape: Double) async throws -> ModelVersion {
            try await store.registerModel(
                NewModelVersion(
                    name: "houses", bundle: bundle, metrics: ["mape": mape], gatesPassed: true,
                    gates: ["passed: mape <= 0.1"], run: nil, datasets: ["fp"], specHash: "s"), actor: "ana")
        }
        let v1 = try await register(0.10)
        let v2 = try await register(0.09)
        #expect(v1.version == 1 && v2.version == 2 && v2.metrics["mape"] == 0.09)
        try await store.setAlias(
            "houses", alias: "champion", version: 1, actor: "ana", action: "promote", reason: "first")
        try await store.setAlias(
            "houses", alias: "champion", version: 2, actor: "bo", action: "promote", reason: "better mape")
        #expect(try await store.aliases("houses") == ["champion": 2])
        #expect(try await store.previousVersion("houses", alias: "champion") == 1)
        try await store.setAlias(
            "houses", alias: "champion", version: 1, actor: "bo", action: "rollback", reason: "complaints")
        #expect(try await store.aliases("houses")["champion"] == 1)
        await #expect(throws: StoreError.self) {
            try await store.setAlias("houses", alias: "champion", version: 7, actor: "x", action: "promote", reason: "")
        }
        let audit = try await store.audit(model: "houses")
        #expect(audit.map(\.action) == ["register", "register", "promote", "promote", "rollback"])
        #expect(audit[3].actor == "bo" && audit[3].previousVersion == 1 && audit[3].reason == "better mape")
        // Append-only: the database itself refuses to change or remove an entry.
        #expect(throws: (any Error).self) {
            try store.pool.write { try $0.execute(sql: "UPDATE audit SET actor = 'mallory'") }
        }
        #expect(throws: (any Error).self) { try store.pool.write { try $0.execute(sql: "DELETE FROM audit") } }
        #expect(try await store.audit(model: "houses").count == 5)
        await #expect(throws: StoreError.self) {
            _ = try await store.registerModel(
                NewModelVersion(
                    name: "x", bundle: "nope", metrics: [:], gatesPassed: false, gates: [], run: nil,
                    datasets: [], specHash: nil), actor: "a")
        }
    }

    @Test func concurrentWritersOnOneStoreLoseNothing() async throws {
        let store = try freshStore()
        // Two independent connections (as two processes have), each registering versions and logging metrics at once.
        let a = try SQLiteStore(directory: store.directory)
        let b = try SQLiteStore(directory: store.directory)
        let bundle = try await a.putArtifact(Data("b".utf8))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for s in [a, b] {
                group.addTask {
                    let run = try await s.startRun(NewRun(project: "p", stage: "train", inputHash: "h"))
                    for i in 0..<40 {
                        try await s.logMetric(run: run.id, name: "loss", value: Double(i), step: i)
                        _ = try await s.registerModel(
                            NewModelVersion(
                                name: "m", bundle: bundle, metrics: [:], gatesPassed: true, gates: [], run: run.id,
                                datasets: [], specHash: nil), actor: "w")
                    }
                    try await s.finishRun(run.id, status: .finished, outputs: [:])
                }
            }
            try await group.waitForAll()
        }
        #expect(try await store.modelVersions("m").map(\.version) == Array(1...80))  // no version number given twice
        #expect(try await store.runs(project: "p", limit: 10).allSatisfy { $0.status == .finished })
        var counts = [Int]()
        for run in try await store.runs(project: "p", limit: 10) {
            counts.append(try await store.metrics(run: run.id).count)
        }
        #expect(counts == [40, 40])
    }

    @Test func runsOfAProcessThatDiedAreMarkedFailed() async throws {
        let store = try freshStore()
        // A process that has already exited: its pid names nobody.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        let dead = try await store.startRun(
            NewRun(project: "p", stage: "train", inputHash: "h", pid: p.processIdentifier))
        let alive = try await store.startRun(NewRun(project: "p", stage: "train", inputHash: "h"))
        #expect(try await store.recoverAbandonedRuns() == [dead.id])
        #expect(try await store.run(dead.id)?.status == .failed)
        #expect(try await store.logs(run: dead.id).first?.contains("ended without finishing") == true)
        #expect(try await store.run(alive.id)?.status == .running)  // this process is alive
        // A failed run is never a cache hit.
        #expect(try await store.cachedRun(project: "p", stage: "train", inputHash: "h") == nil)
    }
}
