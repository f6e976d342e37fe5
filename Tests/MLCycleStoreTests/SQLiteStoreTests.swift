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
}
