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
    @Test func feedbackKindsMigrateAndPredictionsAreReadPerVersion() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-old-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        do {
            let old = try DatabasePool(path: "\(dir)/store.sqlite")
            try SQLiteStore.migrator.migrate(old, upTo: "v4")
            try old.write { db in
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
        let feedback = try store.feedback(predictionIDs: ["a", "b"])
        #expect(feedback.map(\.kind) == [.actual, .override] && feedback.map(\.value) == ["10", "20"])
        #expect(try store.predictions(model: "m", version: "v2", since: nil, limit: 10).map(\.id) == ["b"])
        #expect(try store.predictions(model: "m", since: nil, limit: 10).count == 2)
        #expect(try store.predictionModels(["a", "zzz", "b"]) == ["a": "m", "b": "m"])
        #expect(try store.recordFeedback([FeedbackRecord(predictionID: "a", value: "11")]) == 1)
        #expect(try store.latestActuals(for: try store.predictions(model: "m", since: nil, limit: 10)) == ["a": "11"])
    }

    @Test func runsRecordParamsMetricsLogsAndAreFoundByTheirInputs() throws {
        let store = try freshStore()
        let run = try store.startRun(
            NewRun(
                project: "houses", stage: "train", inputHash: "abc", params: ["learner": "gbdt"], tags: ["why": "test"],
                specHash: "s1", gitCommit: "deadbeef"))
        #expect(
            run.status == .running && run.params["learner"] == "gbdt" && run.gitCommit == "deadbeef"
                && run.mlcycleVersion == MLCycleVersion.current)
        for step in 0..<3 { try store.logMetric(run: run.id, name: "rmse", value: 10 - Double(step), step: step) }
        try store.appendLog(run: run.id, "fitting")
        try store.appendLog(run: run.id, "done")
        #expect(try store.cachedRun(project: "houses", stage: "train", inputHash: "abc") == nil)  // not finished yet
        try store.finishRun(run.id, status: .finished, outputs: ["model": "m1"])
        let done = try #require(try store.run(run.id))
        #expect(done.status == .finished && done.ended != nil && done.outputs == ["model": "m1"])
        #expect(try store.metrics(run: run.id).map(\.value) == [10, 9, 8])
        #expect(try store.logs(run: run.id) == ["fitting", "done"])
        #expect(try store.cachedRun(project: "houses", stage: "train", inputHash: "abc")?.id == run.id)
        #expect(try store.cachedRun(project: "houses", stage: "train", inputHash: "other") == nil)
        #expect(throws: StoreError.self) { try store.finishRun(999, status: .finished, outputs: [:]) }
    }

    @Test func artefactsAreContentAddressedAndVerifiedOnRead() throws {
        let store = try freshStore()
        let data = Data("a model bundle".utf8)
        let sha = try store.putArtifact(data)
        #expect(sha == "\(try store.putArtifact(data))")  // the same content is stored once, under the same name
        #expect(try store.artifact(sha) == data)
        // Damage the file on disk: reading it is a clear error, never the wrong bytes.
        try Data("tampered".utf8).write(to: URL(fileURLWithPath: store.artifactPath(sha)))
        #expect(throws: StoreError.corruptArtifact(sha256: sha, path: store.artifactPath(sha))) {
            _ = try store.artifact(sha)
        }
        #expect(throws: StoreError.self) { _ = try store.artifact(String(repeating: "0", count: 64)) }
    }

    /// A temporary artefact file left by a process that was killed mid-write is removed when the store is next
    /// recovered; one of a process still running (this one) is kept, as its rename may still come.
    @Test func temporaryArtefactsOfDeadProcessesAreRemoved() throws {
        let store = try freshStore()
        let sha = try store.putArtifact(Data("kept".utf8))
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
        _ = try store.recoverAbandonedRuns()
        #expect(!FileManager.default.fileExists(atPath: orphan))
        #expect(FileManager.default.fileExists(atPath: live))
        #expect(try store.artifact(sha) == Data("kept".utf8))
        #expect(try store.integrityProblems() == [])
    }

    @Test func registryVersionsAliasesRollbackAndAnAppendOnlyAudit() throws {
        let store = try freshStore()
        let bundle = try store.putArtifact(Data("bundle".utf8))
        func register(_ mape: Double) throws -> ModelVersion {
            try store.registerModel(
                NewModelVersion(
                    name: "houses", bundle: bundle, metrics: ["mape": mape], gatesPassed: true,
                    gates: ["passed: mape <= 0.1"], run: nil, datasets: ["fp"], specHash: "s"), actor: "ana")
        }
        let v1 = try register(0.10)
        let v2 = try register(0.09)
        #expect(v1.version == 1 && v2.version == 2 && v2.metrics["mape"] == 0.09)
        try store.setAlias("houses", alias: "champion", version: 1, actor: "ana", action: "promote", reason: "first")
        try store.setAlias(
            "houses", alias: "champion", version: 2, actor: "bo", action: "promote", reason: "better mape")
        #expect(try store.aliases("houses") == ["champion": 2])
        #expect(try store.previousVersion("houses", alias: "champion") == 1)
        try store.setAlias(
            "houses", alias: "champion", version: 1, actor: "bo", action: "rollback", reason: "complaints")
        #expect(try store.aliases("houses")["champion"] == 1)
        #expect(throws: StoreError.self) {
            try store.setAlias("houses", alias: "champion", version: 7, actor: "x", action: "promote", reason: "")
        }
        let audit = try store.audit(model: "houses")
        #expect(audit.map(\.action) == ["register", "register", "promote", "promote", "rollback"])
        #expect(audit[3].actor == "bo" && audit[3].previousVersion == 1 && audit[3].reason == "better mape")
        // Append-only: the database itself refuses to change or remove an entry.
        #expect(throws: (any Error).self) {
            try store.pool.write { try $0.execute(sql: "UPDATE audit SET actor = 'mallory'") }
        }
        #expect(throws: (any Error).self) { try store.pool.write { try $0.execute(sql: "DELETE FROM audit") } }
        #expect(try store.audit(model: "houses").count == 5)
        #expect(throws: StoreError.self) {
            _ = try store.registerModel(
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
        let bundle = try a.putArtifact(Data("b".utf8))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for s in [a, b] {
                group.addTask {
                    let run = try s.startRun(NewRun(project: "p", stage: "train", inputHash: "h"))
                    for i in 0..<40 {
                        try s.logMetric(run: run.id, name: "loss", value: Double(i), step: i)
                        _ = try s.registerModel(
                            NewModelVersion(
                                name: "m", bundle: bundle, metrics: [:], gatesPassed: true, gates: [], run: run.id,
                                datasets: [], specHash: nil), actor: "w")
                    }
                    try s.finishRun(run.id, status: .finished, outputs: [:])
                }
            }
            try await group.waitForAll()
        }
        #expect(try store.modelVersions("m").map(\.version) == Array(1...80))  // no version number given twice
        #expect(try store.runs(project: "p", limit: 10).allSatisfy { $0.status == .finished })
        #expect(try store.runs(project: "p", limit: 10).map { try store.metrics(run: $0.id).count } == [40, 40])
    }

    @Test func runsOfAProcessThatDiedAreMarkedFailed() throws {
        let store = try freshStore()
        // A process that has already exited: its pid names nobody.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        let dead = try store.startRun(NewRun(project: "p", stage: "train", inputHash: "h", pid: p.processIdentifier))
        let alive = try store.startRun(NewRun(project: "p", stage: "train", inputHash: "h"))
        #expect(try store.recoverAbandonedRuns() == [dead.id])
        #expect(try store.run(dead.id)?.status == .failed)
        #expect(try store.logs(run: dead.id).first?.contains("ended without finishing") == true)
        #expect(try store.run(alive.id)?.status == .running)  // this process is alive
        // A failed run is never a cache hit.
        #expect(try store.cachedRun(project: "p", stage: "train", inputHash: "h") == nil)
    }
}
