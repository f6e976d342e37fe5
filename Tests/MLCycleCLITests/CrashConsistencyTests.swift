import Foundation
import PostgresNIO
import Testing

@testable import MLCycleStore

/// `mlcycle run` (on SQLite and on PostgreSQL) and `mlcycle serve` killed (SIGKILL) at many points: whatever the
/// moment, the next command that opens the store finds a sound database, no run left `running`, no temporary
/// artefact file, and every registered version whole.
@Suite(.serialized) struct CrashConsistencyTests {
    /// The stores a killed run is tried on: the project's SQLite folder, and a fresh PostgreSQL database when the
    /// test server is given (`bash Tests/run.sh` starts one).
    enum StoreKind: String, CaseIterable, Sendable {
        case sqlite, postgres
        static let postgresURL = ProcessInfo.processInfo.environment["MLCYCLE_TEST_POSTGRES_URL"]
        static let available: [StoreKind] = postgresURL == nil ? [.sqlite] : [.sqlite, .postgres]

        /// Where the project's store is: its `.mlcycle` folder, or a new database on the test server.
        func location(project dir: URL) async throws -> String {
            switch self {
            case .sqlite: return dir.appendingPathComponent(".mlcycle").path
            case .postgres:
                guard let base = Self.postgresURL, var url = URLComponents(string: base) else {
                    throw StoreError.invalid("MLCYCLE_TEST_POSTGRES_URL is not set")
                }
                let name = "mlcycle_crash_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12))"
                let server = try await PostgresStore(url: base)
                defer { server.close() }
                try await server.execute(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name.lowercased())"))
                url.path = "/\(name.lowercased())"
                return url.string ?? base
            }
        }
    }

    /// What a store must look like after a kill and the next open (by a CLI command, as a user would).
    static func expectConsistent(_ store: String, after what: String) async throws {
        let runs = try await CLI.run(["runs", "--store", store, "--json", "-"])
        #expect(runs.status == 0, "\(what): \(runs.stderr)")
        let opened = try await StoreLocation(store).open()
        if let sqlite = opened as? SQLiteStore {
            #expect(try await sqlite.integrityProblems() == [], "\(what)")
            let files = FileManager.default.enumerator(atPath: "\(store)/artifacts")?.allObjects as? [String] ?? []
            let temporary = files.filter { $0.hasSuffix(".tmp") }
            #expect(temporary.isEmpty, "\(what): temporary artefact files left: \(temporary)")
        }
        let running = try await opened.runs(project: nil, limit: 1_000).filter { $0.status == .running }
        #expect(running.isEmpty, "\(what): runs left running: \(running.map(\.id))")
        for name in try await opened.modelNames() {
            for v in try await opened.modelVersions(name) {
                await #expect(throws: Never.self, "\(what): \(name) v\(v.version)") {
                    _ = try await opened.artifact(v.bundle)
                }
            }
        }
        (opened as? PostgresStore)?.close()
    }

    @Test(arguments: StoreKind.available)
    func killingARunAtAnyStageLeavesAStoreThatOpensClean(_ kind: StoreKind) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-crash-\(UUID().uuidString)")
        #expect(try await CLI.run(["init", dir.path]).status == 0)
        let store = try await kind.location(project: dir)
        // Each kill lands later in the run; a stage finished before a kill is reused by the next run, so the kills
        // walk through every stage (a debug run of this project takes about three seconds).
        for delay in [0.05, 0.15, 0.3, 0.5, 0.75, 1.0, 1.4, 1.8, 2.3, 2.9] {
            let process = Process()
            process.executableURL = CLI.binary
            process.arguments = ["run", dir.path, "--quiet", "--store", store]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try launch(process)
            try await Task.sleep(for: .seconds(delay))
            kill(process.processIdentifier, SIGKILL)
            await waitForExit(process)
            try await Self.expectConsistent(store, after: "a run killed after \(delay) s")
        }
        // The store still works: a whole run finishes and registers a version.
        let run = try await CLI.run(["run", dir.path, "--quiet", "--store", store])
        #expect(run.status == 0, "\(run.stderr)")
        try await Self.expectConsistent(store, after: "a whole run")
        let opened = try await StoreLocation(store).open()
        #expect(try await opened.modelVersions("prices").isEmpty == false)
        (opened as? PostgresStore)?.close()
    }

    @Test func killingAServerUnderLoadLeavesAStoreThatOpensClean() async throws {
        let dir = try await PredictionLogLoadTests.servedProject()
        let store = dir.appendingPathComponent(".mlcycle").path
        for (k, seconds) in [0.4, 1.1, 2.0].enumerated() {
            let server = try await PredictionLogLoadTests.Server(
                store: store, arguments: ["--log-direct-limit", "500"])
            let answers = PredictionLogLoadTests.Answers()
            await PredictionLogLoadTests.load(
                port: server.port, clients: 3, until: Date().addingTimeInterval(seconds), into: answers)
            kill(server.process.processIdentifier, SIGKILL)
            await waitForExit(server.process)
            try await Self.expectConsistent(store, after: "server kill \(k + 1) after \(seconds) s of load")
        }
        // A server started on the killed ones' store drains their spools and stops cleanly.
        let last = try await PredictionLogLoadTests.Server(store: store)
        last.process.terminate()
        await waitForExit(last.process)
        #expect(last.process.terminationStatus == 0)
        try await Self.expectConsistent(store, after: "a clean stop")
    }
}
