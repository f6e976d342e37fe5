import Foundation
import GRDB
import Logging
import PostgresNIO
import Testing

@testable import MLCycleStore

/// The two stores the conformance suite runs against. PostgreSQL's half needs a server: `bash Tests/run.sh` starts a
/// throwaway one and sets `MLCYCLE_TEST_POSTGRES_URL`; without it only SQLite's half runs (and says so).
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres

    var testDescription: String { rawValue }

    /// The server the PostgreSQL half uses (each test gets a database of its own on it).
    static let postgresURL = ProcessInfo.processInfo.environment["MLCYCLE_TEST_POSTGRES_URL"]

    /// The stores to test here: both, or SQLite alone when no PostgreSQL server was given.
    static let available: [StoreKind] = postgresURL == nil ? [.sqlite] : [.sqlite, .postgres]
}

/// A fresh, empty store of one kind, and a way to reach its database behind the store's back (to damage a record, or
/// to drop a connection).
struct TestStore {
    let kind: StoreKind
    let store: any Store
    /// Where a second store of the same data opens: a folder, or a PostgreSQL URL.
    let location: String

    static func make(_ kind: StoreKind) async throws -> TestStore {
        switch kind {
        case .sqlite:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-conf-\(UUID().uuidString)")
                .path
            return TestStore(kind: kind, store: try SQLiteStore(directory: dir), location: dir)
        case .postgres:
            let url = try await PostgresTestDatabase.create()
            return TestStore(kind: kind, store: try await PostgresStore(url: url), location: url)
        }
    }

    /// Another store on the same data (a second process would open the same way).
    func reopen() async throws -> any Store {
        switch kind {
        case .sqlite: return try SQLiteStore(directory: location)
        case .postgres: return try await PostgresStore(url: location)
        }
    }

    /// Runs SQL on the database directly, as a person with a database shell would.
    func raw(_ sql: String) async throws {
        switch kind {
        case .sqlite:
            let queue = try DatabaseQueue(path: "\(location)/store.sqlite")
            try await queue.write { db in try db.execute(sql: sql) }
        case .postgres:
            guard let store = store as? PostgresStore else { return }
            try await store.execute(PostgresQuery(unsafeSQL: sql))
        }
    }
}

/// Databases for the PostgreSQL half: one per test, made on the test server and named at random.
enum PostgresTestDatabase {
    static func create() async throws -> String {
        guard let base = StoreKind.postgresURL, var url = URLComponents(string: base) else {
            throw StoreError.invalid("MLCYCLE_TEST_POSTGRES_URL is not set")
        }
        let name = "mlcycle_t_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16))"
        try await admin(base) { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        }
        url.path = "/\(name)"
        return url.string ?? base
    }

    /// Runs `body` with a client of the test server's own database.
    static func admin(_ url: String, _ body: @escaping @Sendable (PostgresClient) async throws -> Void) async throws {
        let target = try PostgresURL(url)
        let client = PostgresClient(
            configuration: .init(
                host: target.host, port: target.port, username: target.user, password: target.password,
                database: target.database, tls: .disable),
            backgroundLogger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await body(client)
        }
    }
}

@Suite struct StoreConformanceTests {
    init() {
        if StoreKind.postgresURL == nil {
            print(
                "StoreConformanceTests: PostgreSQL half skipped: MLCYCLE_TEST_POSTGRES_URL is not set (bash Tests/run.sh starts a server)"
            )
        }
    }

    @Test(arguments: StoreKind.available)
    func runsKeepParamsMetricsAndLogsAndAreFoundByTheirInputs(_ kind: StoreKind) async throws {
        let store = try await TestStore.make(kind).store
        let run = try await store.startRun(
            NewRun(project: "houses", stage: "train", inputHash: "abc", params: ["num_leaves": "31"], tags: ["a": "b"]))
        #expect(run.status == .running && run.params == ["num_leaves": "31"] && run.tags == ["a": "b"])
        for step in 0..<3 { try await store.logMetric(run: run.id, name: "l2", value: Double(step) / 3, step: step) }
        try await store.appendLog(run: run.id, "first")
        try await store.appendLog(run: run.id, "second")
        try await store.finishRun(run.id, status: .finished, outputs: ["model": "sha"])
        let finished = try #require(try await store.run(run.id))
        #expect(finished.status == .finished && finished.outputs == ["model": "sha"] && finished.ended != nil)
        #expect(try await store.metrics(run: run.id).map(\.value) == [0, 1.0 / 3, 2.0 / 3])
        #expect(try await store.logs(run: run.id) == ["first", "second"])
        #expect(try await store.cachedRun(project: "houses", stage: "train", inputHash: "abc")?.id == run.id)
        #expect(try await store.cachedRun(project: "houses", stage: "train", inputHash: "other") == nil)
        let other = try await store.startRun(NewRun(project: "churn", stage: "train", inputHash: "x"))
        #expect(try await store.runs(project: "houses", limit: 10).map(\.id) == [run.id])
        #expect(try await store.runs(project: nil, limit: 1).map(\.id) == [other.id])
        await #expect(throws: StoreError.notFound("run 999999")) {
            try await store.finishRun(999_999, status: .finished, outputs: [:])
        }
    }

    @Test(arguments: StoreKind.available)
    func modelVersionsArePagedNewestFirstByTheDatabase(_ kind: StoreKind) async throws {
        let store = try await TestStore.make(kind).store
        let bundle = try await store.putArtifact(Data("{}".utf8))
        for _ in 0..<7 {
            _ = try await store.registerModel(
                NewModelVersion(
                    name: "prices", bundle: bundle, metrics: [:], gatesPassed: true, gates: [], run: nil, datasets: [],
                    specHash: nil), actor: "test")
        }
        #expect(try await store.modelVersionCount("prices") == 7)
        #expect(try await store.modelVersionCount("other") == 0)
        #expect(try await store.newestModelVersions("prices", offset: 0, limit: 3).map(\.version) == [7, 6, 5])
        #expect(try await store.newestModelVersions("prices", offset: 6, limit: 3).map(\.version) == [1])
        // The audit trail, newest first, by version (moved to or from it) and by alias.
        try await store.setAlias("prices", alias: "champion", version: 3, actor: "a", action: "promote", reason: "r")
        try await store.setAlias("prices", alias: "champion", version: 5, actor: "b", action: "promote", reason: "r")
        let third = try await store.audit(AuditFilter(model: "prices", version: 3, limit: 10))
        #expect(third.map(\.action) == ["promote", "promote", "register"] && third.first?.version == 5)
        #expect(try await store.audit(AuditFilter(model: "prices", alias: "champion", limit: 1)).map(\.actor) == ["b"])
        #expect(try await store.audit(AuditFilter(model: "prices", limit: 4)).count == 4)
        #expect(try await store.audit(AuditFilter(model: "other", limit: 4)).isEmpty)
    }

    @Test(arguments: StoreKind.available)
    func runListingsAreFilteredSortedAndPagedByTheDatabase(_ kind: StoreKind) async throws {
        let store = try await TestStore.make(kind).store
        let parent = try await store.startRun(NewRun(project: "houses", stage: "pipeline", inputHash: "p"))
        var ids = [Int64]()
        for (i, learner) in ["gbdt", "linear", "gbdt", "forest"].enumerated() {
            let run = try await store.startRun(
                NewRun(
                    project: "houses", stage: "train", inputHash: "\(i)", params: ["learner": learner],
                    tags: ["pipeline": String(parent.id)]))
            try await store.finishRun(run.id, status: i == 1 ? .failed : .finished, outputs: [:])
            ids.append(run.id)
        }
        _ = try await store.startRun(
            NewRun(project: "churn", stage: "train", inputHash: "c", params: ["learner": "gbdt"]))
        #expect(try await store.projects() == ["churn", "houses"])
        let gbdt = RunFilter(project: "houses", learner: "gbdt")
        #expect(try await store.runs(gbdt).map(\.id) == [ids[2], ids[0]])
        #expect(try await store.countRuns(gbdt) == 2)
        #expect(try await store.runs(RunFilter(status: .failed)).map(\.id) == [ids[1]])
        #expect(try await store.runs(RunFilter(stage: "pipeline")).map(\.id) == [parent.id])
        #expect(try await store.runs(RunFilter(pipeline: parent.id, order: .oldest)).map(\.id) == ids)
        let page = RunFilter(project: "houses", order: .oldest, offset: 1, limit: 2)
        #expect(try await store.runs(page).map(\.id) == [ids[0], ids[1]])
        #expect(try await store.countRuns(page) == 5)
        // The running pipeline run is the longest: its time runs to now.
        #expect(try await store.runs(RunFilter(project: "houses", order: .longest, limit: 1)).map(\.id) == [parent.id])
        let started = try #require(try await store.run(ids[0])).started
        #expect(try await store.countRuns(RunFilter(project: "houses", since: started)) == 4)
        #expect(try await store.countRuns(RunFilter(project: "houses", before: started)) == 1)
        // A learner name is a bound value, never SQL.
        #expect(try await store.countRuns(RunFilter(learner: "x') OR 1=1 --")) == 0)
    }

    @Test(arguments: StoreKind.available)
    func datasetsAreRecordedOnceAndTakeTheirProfile(_ kind: StoreKind) async throws {
        let store = try await TestStore.make(kind).store
        let snapshot = DatasetSnapshot(
            fingerprint: "f1", rows: 10, schema: ["a:int", "b:string"], sources: ["a.csv"],
            created: Date(timeIntervalSince1970: 1_700_000_000.25))
        #expect(try await store.recordDataset(snapshot) == snapshot)
        var again = snapshot
        again.rows = 99
        #expect(try await store.recordDataset(again).rows == 10)
        let profile = try await store.putArtifact(Data("{}".utf8))
        try await store.attachProfile(fingerprint: "f1", artifact: profile)
        #expect(try await store.dataset(fingerprint: "f1")?.profileArtifact == profile)
        #expect(try await store.dataset(fingerprint: "nope") == nil)
        await #expect(throws: StoreError.self) { try await store.attachProfile(fingerprint: "nope", artifact: profile) }
    }

    @Test(arguments: StoreKind.available)
    func artefactsAreContentAddressedWholeAndVerified(_ kind: StoreKind) async throws {
        let store = try await TestStore.make(kind).store
        // Larger than PostgreSQL's chunk, and not a multiple of it.
        let large = Data((0..<(3 << 20) + 12_345).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 11) })
        let sha = try await store.putArtifact(large)
        #expect(try await store.putArtifact(large) == sha)
        #expect(try await store.artifact(sha) == large)
        #expect(try await store.artifact(try await store.putArtifact(Data())) == Data())
        await #expect(throws: StoreError.self) { try await store.artifact(String(repeating: "0", count: 64)) }
    }

    @Test(arguments: StoreKind.available)
    func theRegistryNumbersVersionsMovesAliasesAndAuditsEveryMove(_ kind: StoreKind) async throws {
        let store = try await TestStore.make(kind).store
        let version = NewModelVersion(
            name: "houses", bundle: String(repeating: "a", count: 64), metrics: ["mape": 0.1], gatesPassed: true,
            gates: ["passed: mape <= 0.2"], run: nil, datasets: ["f1"], specHash: "s")
        await #expect(throws: StoreError.self) { try await store.registerModel(version, actor: "ana") }
        var stored = version
        stored.bundle = try await store.putArtifact(Data("bundle".utf8))
        let v1 = try await store.registerModel(stored, actor: "ana")
        let v2 = try await store.registerModel(stored, actor: "ana")
        #expect(v1.version == 1 && v2.version == 2 && v2.metrics == ["mape": 0.1] && v2.gates == stored.gates)
        #expect(try await store.modelNames() == ["houses"])
        #expect(try await store.modelVersions("houses").map(\.version) == [1, 2])
        #expect(try await store.modelVersion("houses", version: 2) == v2)
        try await store.setAlias("houses", alias: "champion", version: 1, actor: "ana", action: "promote", reason: "r")
        try await store.setAlias("houses", alias: "champion", version: 2, actor: "ana", action: "promote", reason: "r")
        #expect(try await store.aliases("houses") == ["champion": 2])
        #expect(try await store.previousVersion("houses", alias: "champion") == 1)
        await #expect(throws: StoreError.self) {
            try await store.setAlias(
                "houses", alias: "champion", version: 7, actor: "ana", action: "promote", reason: "")
        }
        try await store.setAlias("houses", alias: "champion", version: nil, actor: "ana", action: "remove", reason: "")
        #expect(try await store.aliases("houses").isEmpty)
        let audit = try await store.audit(model: "houses")
        #expect(audit.map(\.action) == ["register", "register", "promote", "promote", "remove"])
        #expect(audit[3].previousVersion == 1 && audit[3].alias == "champion")
        #expect(try await store.audit(model: nil).count == 5)
        #expect(try await store.audit(model: "other").isEmpty)

        let state = ReleaseState(
            version: 2, step: 1, share: 0.1, started: Date(timeIntervalSince1970: 1_700_000_000),
            since: Date(timeIntervalSince1970: 1_700_000_100), failedChecks: 1)
        try await store.setRelease("houses", state, actor: "watch", action: "canary", reason: "step 1")
        #expect(try await store.release("houses") == state)
        try await store.setRelease("houses", nil, actor: "watch", action: "release complete", reason: "")
        #expect(try await store.release("houses") == nil)
        #expect(try await store.audit(model: "houses").last?.version == 2)
    }

    @Test(arguments: StoreKind.available)
    func aFilterPicksRowsAndTheDatabaseJoinsTheLatestFeedback(_ kind: StoreKind) async throws {
        let store = try await TestStore.make(kind).store
        let t0 = Date(timeIntervalSince1970: 1_780_000_000)
        func row(_ id: String, _ version: String, _ second: Double, _ status: String) -> PredictionRecord {
            PredictionRecord(
                id: id, model: "houses", version: version, at: t0.addingTimeInterval(second), latencySeconds: 0.01,
                inputs: "{}", prediction: "100", status: status)
        }
        try await store.logPredictions([
            row("a", "v1", 0, "ok"), row("b", "v1", 10, "review"), row("c", "v1", 20, "ok"),
            row("a-shadow", "v2", 0, "shadow"), row("b-shadow", "v2", 10, "shadow review"),
            row("d", "v1", 30, "unavailable"), row("e", "v1", 40, "review"),
        ])
        try await store.recordFeedback([
            FeedbackRecord(predictionID: "a", value: "90", at: t0.addingTimeInterval(100)),
            FeedbackRecord(predictionID: "a", value: "95", at: t0.addingTimeInterval(200)),
            FeedbackRecord(predictionID: "b", value: "120", kind: .override, at: t0.addingTimeInterval(100)),
            FeedbackRecord(predictionID: "c", value: "80", at: t0.addingTimeInterval(100)),
        ])
        // Time range [since, before), status and shadow filters.
        let window = PredictionFilter(
            model: "houses", version: "v1", since: t0.addingTimeInterval(10), before: t0.addingTimeInterval(30))
        #expect(try await store.predictions(window).map(\.id) == ["b", "c"])
        #expect(try await store.countPredictions(window) == 2)
        #expect(
            try await store.predictions(PredictionFilter(model: "houses", statuses: ["ok", "review"])).map(\.id)
                == ["a", "b", "c", "e"])
        #expect(try await store.countPredictions(PredictionFilter(model: "houses", shadow: false)) == 5)
        #expect(
            try await store.predictions(PredictionFilter(model: "houses", shadow: true)).map(\.id) == [
                "a-shadow", "b-shadow",
            ])
        #expect(try await store.countPredictions(PredictionFilter(model: "houses", statuses: [])) == 0)
        #expect(try await store.countPredictions(PredictionFilter(model: "houses", id: "e")) == 1)
        // The review queue: rows for review that no person decided yet, newest first.
        #expect(
            try await store.predictions(
                PredictionFilter(model: "houses", statuses: ["review"], withoutFeedback: .override, newestFirst: true)
            ).map(\.id) == ["e"])
        #expect(
            try await store.predictions(PredictionFilter(model: "houses", newestFirst: true, limit: 2)).map(\.id)
                == ["e", "d"])
        // The latest actual and override of each row's request; a shadow answer gets its request's.
        let answers = try await store.answers(PredictionFilter(model: "houses"))
        let joined = Dictionary(uniqueKeysWithValues: answers.map { ($0.record.id, [$0.actual, $0.override]) })
        #expect(joined["a"] == ["95", nil])
        #expect(joined["a-shadow"] == ["95", nil])
        #expect(joined["b"] == [nil, "120"])
        #expect(joined["b-shadow"] == [nil, "120"])
        #expect(joined["c"] == ["80", nil])
        #expect(joined["d"] == [nil, nil])
        #expect(answers.map(\.record) == (try await store.predictions(PredictionFilter(model: "houses"))))
    }

    @Test(arguments: StoreKind.available)
    func theServingRecordFiltersInTheDatabase(_ kind: StoreKind) async throws {
        let store = try await TestStore.make(kind).store
        let t0 = Date(timeIntervalSince1970: 1_780_000_000)
        var records = [PredictionRecord]()
        for i in 0..<30 {
            let model = i < 20 ? "houses" : "churn"
            let version = i % 2 == 0 ? "v1" : "v2"
            let status = i % 5 == 0 ? "review" : "ok"
            let prediction: String? = i == 3 ? nil : String(i * 1000)
            let confidence: Double? = i == 4 ? 0.75 : nil
            let reasons: [String]? = i == 5 ? ["outside scope: a"] : nil
            records.append(
                PredictionRecord(
                    id: "p\(i)", model: model, version: version, at: t0.addingTimeInterval(Double(i)),
                    latencySeconds: 0.001 * Double(i), inputs: "{\"a\":\(i)}", prediction: prediction,
                    status: status, confidence: confidence, lowConfidence: i == 6, reasons: reasons))
        }
        #expect(try await store.logPredictions(records) == 30)
        #expect(try await store.logPredictions(Array(records.prefix(5))) == 0)  // stored already: skipped
        let houses = try await store.predictions(model: "houses", version: nil, since: nil, limit: 100)
        #expect(houses == Array(records.prefix(20)))
        #expect(
            try await store.predictions(model: "houses", version: "v2", since: t0.addingTimeInterval(10), limit: 3)
                .map(\.id) == ["p11", "p13", "p15"])
        #expect(
            try await store.latestPredictions(model: "houses", status: "review", limit: 2).map(\.id) == ["p15", "p10"])
        #expect(try await store.predictionModels(["p1", "p25", "missing"]) == ["p1": "houses", "p25": "churn"])

        #expect(try await store.recordFeedback([FeedbackRecord(predictionID: "p1", value: "900", at: t0)]) == 0)
        let later = t0.addingTimeInterval(60)
        #expect(
            try await store.recordFeedback([
                FeedbackRecord(predictionID: "p1", value: "1100", at: later),
                FeedbackRecord(predictionID: "p2", value: "5", kind: .override, at: later),
            ]) == 1)
        #expect(try await store.feedback(predictionIDs: ["p1", "p2"]).map(\.value) == ["900", "1100", "5"])
        #expect(try await store.latestFeedback(for: ["p1", "p2", "p3"]) == ["p1": "1100"])
        #expect(try await store.latestFeedback(for: ["p2"], kinds: [.override]) == ["p2": "5"])

        let alert = AlertRecord(
            model: "houses", name: "drift", severity: "warning", rule: "drift_share > 0.3", value: 0.4, threshold: 0.3,
            windowStart: t0, windowEnd: later, reason: "3 of 7 inputs drifted", at: later, delivery: "pending")
        let id = try await store.recordAlert(alert)
        try await store.setAlertDelivery(id, "sent")
        var expected = alert
        expected.id = id
        expected.delivery = "sent"
        #expect(try await store.alerts(model: "houses", limit: 10) == [expected])
        #expect(try await store.alerts(model: "churn", limit: 10).isEmpty)
    }

    /// The audit log is append-only in the database itself: an UPDATE or DELETE by hand is refused.
    @Test(arguments: StoreKind.available)
    func theAuditLogRefusesChanges(_ kind: StoreKind) async throws {
        let test = try await TestStore.make(kind)
        try await test.store.ensureProject("p")
        let bundle = try await test.store.putArtifact(Data("b".utf8))
        _ = try await test.store.registerModel(
            NewModelVersion(
                name: "m", bundle: bundle, metrics: [:], gatesPassed: true, gates: [], run: nil, datasets: [],
                specHash: nil), actor: "ana")
        await #expect(throws: (any Error).self) { try await test.raw("UPDATE audit SET actor = 'mallory'") }
        await #expect(throws: (any Error).self) { try await test.raw("DELETE FROM audit") }
        #expect(try await test.store.audit(model: "m").map(\.actor) == ["ana"])
    }

    /// A run whose process died (on this host) is marked failed, with a log line saying why, and is never a cache
    /// hit; a live process's run is left running.
    @Test(arguments: StoreKind.available)
    func runsOfAProcessThatDiedAreMarkedFailed(_ kind: StoreKind) async throws {
        let store = try await TestStore.make(kind).store
        let exited = Process()
        exited.executableURL = URL(fileURLWithPath: "/bin/true")
        try exited.run()
        exited.waitUntilExit()
        let dead = try await store.startRun(
            NewRun(project: "p", stage: "train", inputHash: "h", pid: exited.processIdentifier))
        let alive = try await store.startRun(NewRun(project: "p", stage: "train", inputHash: "h"))
        let elsewhere = try await store.startRun(
            NewRun(project: "p", stage: "train", inputHash: "h", host: "another-machine", pid: exited.processIdentifier)
        )
        #expect(try await store.recoverAbandonedRuns() == [dead.id])
        #expect(try await store.run(dead.id)?.status == .failed)
        #expect(try await store.logs(run: dead.id).first?.contains("ended without finishing") == true)
        #expect(try await store.run(alive.id)?.status == .running)
        #expect(try await store.run(elsewhere.id)?.status == .running)  // another host's process is not ours to judge
        #expect(try await store.cachedRun(project: "p", stage: "train", inputHash: "h") == nil)
    }

    /// Writers at once, through two stores on the same data (as two processes would): every version number and
    /// every log line is given once.
    @Test(arguments: StoreKind.available)
    func concurrentWritersGetDistinctNumbers(_ kind: StoreKind) async throws {
        let test = try await TestStore.make(kind)
        let second = try await test.reopen()
        let bundle = try await test.store.putArtifact(Data("b".utf8))
        let run = try await test.store.startRun(NewRun(project: "p", stage: "train", inputHash: "h"))
        let version = NewModelVersion(
            name: "m", bundle: bundle, metrics: [:], gatesPassed: true, gates: [], run: nil, datasets: [],
            specHash: nil)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<8 {
                let store = i % 2 == 0 ? test.store : second
                group.addTask {
                    for j in 0..<5 {
                        _ = try await store.registerModel(version, actor: "w\(i)")
                        try await store.appendLog(run: run.id, "line \(i).\(j)")
                        try await store.logMetric(run: run.id, name: "w\(i)", value: Double(j), step: j)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await test.store.modelVersions("m").map(\.version) == Array(1...40))  // no number given twice
        #expect(Set(try await second.logs(run: run.id)).count == 40)
        #expect(try await test.store.metrics(run: run.id).count == 40)
    }

    /// The work queue: claims in order, one holder at a time, leases renewed only by their holder, an expired lease
    /// claimed again (and failed after the last attempt), results recorded only by the holder, cancelling.
    @Test(arguments: StoreKind.available)
    func theWorkQueueHandsEachItemToOneWorkerUnderALease(_ kind: StoreKind) async throws {
        let store = try await TestStore.make(kind).store
        let ids = try await store.enqueueWork(
            (0..<3).map { NewWorkItem(batch: "b", kind: "trial", payload: "{\"n\":\($0)}") })
        _ = try await store.enqueueWork([NewWorkItem(batch: "other", kind: "retrain", payload: "{}")])
        #expect(ids.count == 3 && ids == ids.sorted())
        #expect(try await store.claimWork(kinds: ["nothing"], worker: "a", lease: 60) == nil)
        let first = try #require(try await store.claimWork(kinds: ["trial"], worker: "a", lease: 60))
        #expect(first.id == ids[0] && first.state == .running && first.attempts == 1 && first.worker == "a")
        #expect(first.payload == "{\"n\":0}")
        let second = try #require(try await store.claimWork(kinds: ["trial"], worker: "b", lease: 60))
        #expect(second.id == ids[1])
        #expect(try await store.renewWorkLease(first.id, worker: "a", lease: 60))
        #expect(try await !store.renewWorkLease(first.id, worker: "b", lease: 60))
        #expect(try await !store.finishWork(first.id, worker: "b", result: "{}", error: nil))
        #expect(try await store.finishWork(first.id, worker: "a", result: "{\"score\":1}", error: nil))
        #expect(try await !store.finishWork(first.id, worker: "a", result: "{}", error: nil))  // once
        // b's lease runs out (a lease of -1 s is over at once): c claims the item again, and b has lost it.
        #expect(try await store.renewWorkLease(second.id, worker: "b", lease: -1))
        let again = try #require(try await store.claimWork(kinds: ["trial"], worker: "c", lease: 60))
        #expect(again.id == second.id && again.attempts == 2 && again.worker == "c")
        #expect(try await !store.renewWorkLease(second.id, worker: "b", lease: 60))
        #expect(try await !store.finishWork(second.id, worker: "b", result: "{}", error: nil))
        #expect(try await store.finishWork(second.id, worker: "c", result: nil, error: "no such column"))
        // The third item's workers all die: after the last attempt it is failed, not claimed a fourth time.
        for attempt in 1...WorkItem.maximumAttempts {
            let item = try #require(try await store.claimWork(kinds: ["trial"], worker: "w\(attempt)", lease: -1))
            #expect(item.id == ids[2] && item.attempts == attempt)
        }
        #expect(try await store.claimWork(kinds: ["trial"], worker: "w", lease: 60) == nil)
        let items = try await store.work(batch: "b")
        #expect(items.map(\.state) == [.done, .failed, .failed])
        #expect(items[0].result == "{\"score\":1}" && items[0].finished != nil)
        #expect(items[1].error == "no such column")
        #expect(items[2].error?.contains("stopped renewing the lease 3 times") == true)
        // Cancelling a batch: its holder's next renewal answers false.
        let other = try #require(try await store.claimWork(kinds: ["retrain", "trial"], worker: "r", lease: 60))
        try await store.cancelWork(batch: "other")
        #expect(try await !store.renewWorkLease(other.id, worker: "r", lease: 60))
        #expect(try await store.work(batch: "other").map(\.state) == [.cancelled])
    }

    /// Workers claiming at once, through two stores on the same data (as two processes would): every item is
    /// claimed exactly once.
    @Test(arguments: StoreKind.available)
    func workersClaimingAtOnceNeverShareAnItem(_ kind: StoreKind) async throws {
        let test = try await TestStore.make(kind)
        let second = try await test.reopen()
        let ids = try await test.store.enqueueWork(
            (0..<40).map { NewWorkItem(batch: "b", kind: "trial", payload: "\($0)") })
        let claimed = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for w in 0..<8 {
                let store = w % 2 == 0 ? test.store : second
                group.addTask {
                    var mine = [Int64]()
                    while let item = try await store.claimWork(kinds: ["trial"], worker: "w\(w)", lease: 60) {
                        mine.append(item.id)
                        #expect(try await store.finishWork(item.id, worker: "w\(w)", result: "{}", error: nil))
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [Int64]()) { $0 += $1 }
        }
        #expect(claimed.sorted() == ids)
        #expect(try await test.store.work(batch: "b").allSatisfy { $0.state == .done && $0.attempts == 1 })
    }

    /// A record changed by hand into something the store cannot read is an error that says so, never a default.
    @Test(arguments: StoreKind.available)
    func aDamagedRecordIsAnErrorNotADefault(_ kind: StoreKind) async throws {
        let test = try await TestStore.make(kind)
        let run = try await test.store.startRun(NewRun(project: "p", stage: "train", inputHash: "h"))
        try await test.raw("UPDATE run SET status = 'exploded' WHERE id = \(run.id)")
        await #expect(throws: StoreError.self) { _ = try await test.store.run(run.id) }
        let damaged: Bool
        do {
            _ = try await test.store.run(run.id)
            damaged = false
        } catch let error as StoreError {
            if case .damaged = error { damaged = true } else { damaged = false }
        }
        #expect(damaged)
    }

    /// Two stores opened at once on an empty database both work: the schema is created once.
    @Test(arguments: StoreKind.available)
    func migrationsFromEmptyRunOnceWhenTwoOpenTogether(_ kind: StoreKind) async throws {
        let location: String
        switch kind {
        case .sqlite:
            location =
                FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-mig-\(UUID().uuidString)")
                .path
        case .postgres: location = try await PostgresTestDatabase.create()
        }
        @Sendable func open() async throws -> any Store {
            kind == .sqlite ? try SQLiteStore(directory: location) : try await PostgresStore(url: location)
        }
        async let a = open()
        async let b = open()
        let (first, second) = try await (a, b)
        try await first.ensureProject("p")
        try await second.ensureProject("p")
        #expect(try await second.runs(project: "p", limit: 1).isEmpty)
        if kind == .postgres, let store = first as? PostgresStore {
            let rows = try await store.execute("SELECT count(*) FROM mlcycle_migration")
            #expect(try rows.first?.decode(Int.self) == PostgresSchema.migrations.count)
        }
    }
}

/// What only the PostgreSQL store has: connections that can drop, URLs, SQLSTATEs.
@Suite(
    .enabled(if: StoreKind.postgresURL != nil, "needs MLCYCLE_TEST_POSTGRES_URL (bash Tests/run.sh starts a server)"))
struct PostgresStoreTests {
    @Test func aUniqueViolationKeepsItsKind() async throws {
        let test = try await TestStore.make(.postgres)
        try await test.store.ensureProject("p")
        await #expect(throws: StoreError.self) { try await test.raw("INSERT INTO project VALUES ('p', 0)") }
        do {
            try await test.raw("INSERT INTO project VALUES ('p', 0)")
        } catch let error as StoreError {
            guard case .conflict = error else {
                Issue.record("expected a conflict, got \(error)")
                return
            }
        }
    }

    /// A connection the server drops in the middle of a transaction (a restart, a network cut): the call fails as
    /// `unavailable`, nothing of the transaction stays, and the next call works on a new connection from the pool.
    @Test func aConnectionDroppedMidTransactionRollsBackAndTheNextCallReconnects() async throws {
        let test = try await TestStore.make(.postgres)
        let store = try #require(test.store as? PostgresStore)
        try await store.ensureProject("p")
        do {
            try await store.transaction { connection in
                try await connection.rows("INSERT INTO project VALUES ('half-written', 0)", store.logger)
                try await connection.rows("SELECT pg_terminate_backend(pg_backend_pid())", store.logger)
            }
            Issue.record("a transaction went on after its connection was dropped")
        } catch let error as StoreError {
            guard case .unavailable = error else {
                Issue.record("expected unavailable, got \(error)")
                return
            }
        }
        let left = try await store.execute("SELECT count(*) FROM project WHERE name = 'half-written'")
        #expect(try left.first?.decode(Int.self) == 0)
        try await store.ensureProject("q")
        #expect(try await store.runs(project: "q", limit: 1).isEmpty)
    }

    @Test func anUnreachableServerIsAClearErrorWithoutThePassword() async throws {
        do {
            _ = try await PostgresStore(
                url: "postgres://ana:secret@127.0.0.1:1/nothing?sslmode=disable", connectTimeout: .seconds(2))
            Issue.record("a store opened on a closed port")
        } catch let error as StoreError {
            guard case .unavailable = error else {
                Issue.record("expected unavailable, got \(error)")
                return
            }
            #expect(!error.localizedDescription.contains("secret"))
        }
    }

    @Test func urlsReadLikeLibpqs() throws {
        let url = try PostgresURL("postgres://ana:s3@db.example:6543/team?sslmode=require", environment: [:])
        #expect(url.host == "db.example" && url.port == 6543 && url.user == "ana" && url.password == "s3")
        #expect(url.database == "team" && url.location == "postgres://ana@db.example:6543/team")
        #expect(try PostgresURL("postgresql://ana@h/x", environment: ["PGPASSWORD": "p"]).password == "p")
        #expect(throws: StoreError.self) { try PostgresURL("postgres://h/x?sslmode=maybe", environment: [:]) }
        #expect(throws: StoreError.self) { try PostgresURL("mysql://h/x", environment: [:]) }
        #expect(PostgresURL.redacted("postgres://ana:s3@h/x").contains("***"))
    }
}
