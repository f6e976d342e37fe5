import Foundation
import MLCycleStore
import Synchronization
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The prediction log under load, through the real binary: `mlcycle serve` driven as fast as it answers (single
/// rows and 1000-row batches from several clients at once), stopped cleanly or killed.
@Suite(.serialized) struct PredictionLogLoadTests {
    /// A served project (the regression template's champion) in a folder of its own.
    static func servedProject() async throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-load-\(UUID().uuidString)")
        #expect(try await CLI.run(["init", dir.path]).status == 0)
        let run = try await CLI.run(["run", dir.path, "--quiet"])
        #expect(run.status == 0, "\(run.stderr)")
        return dir
    }

    final class Server {
        let process = Process()
        let port = unusedPort()
        init(store: String, arguments: [String] = []) async throws {
            process.executableURL = CLI.binary
            process.arguments = ["serve", "--store", store, "--port", String(port)] + arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try launch(process)
            if await answersHealth(port: port) { return }
            Issue.record("the server did not start")
        }

        /// A test that stopped early (a failed `#require`) leaves no server behind.
        deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    }

    /// What the clients were answered: each prediction id with the time its answer arrived.
    final class Answers: Sendable {
        let ids = Mutex([String: Date]())
        /// Set to end the load early.
        let stopped = Mutex(false)
    }

    static func row(_ i: Int) -> String {
        #"{"id": \#(i), "area_sqft": \#(600 + i % 2500), "rooms": \#(1 + i % 6), "district": "\#(["north", "south", "east"][i % 3])", "built": \#(1950 + i % 70)}"#
    }

    /// `clients` loops posting rows (every tenth request a 1000-row batch) until `until` — and, when `atLeast` is
    /// given, until that many rows are answered (for five minutes at most: a loaded machine answers slowly; a CI run
    /// with every suite at once answered 9,108 rows in two) —
    /// recording every answer.
    static func load(port: Int, clients: Int, until: Date, atLeast: Int = 0, into answers: Answers) async {
        let deadline = Date().addingTimeInterval(300)
        let more: @Sendable () -> Bool = { answers.ids.withLock { $0.count } < atLeast && Date() < deadline }
        let going: @Sendable () -> Bool = { !answers.stopped.withLock { $0 } && (Date() < until || more()) }
        let session = URLSession(configuration: .ephemeral)
        await withTaskGroup(of: Void.self) { group in
            for c in 0..<clients {
                group.addTask {
                    var n = 0
                    while going() {
                        n += 1
                        let rows = n % 10 == 0 ? 1_000 : 1
                        let body =
                            "{\"records\": ["
                            + (0..<rows).map { row(c * 1_000_000 + n * 1_000 + $0) }
                            .joined(separator: ",") + "]}"
                        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/models/prices/predict")!)
                        request.httpMethod = "POST"
                        request.timeoutInterval = 30
                        request.httpBody = Data(body.utf8)
                        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                        guard let (data, response) = try? await session.data(for: request),
                            (response as? HTTPURLResponse)?.statusCode == 200,
                            let answer = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                            let predictions = answer["predictions"] as? [[String: Any]]
                        else { continue }
                        let now = Date()
                        answers.ids.withLock { ids in
                            for p in predictions { if let id = p["id"] as? String { ids[id] = now } }
                        }
                    }
                }
            }
        }
    }

    /// The ids of the answered predictions logged in the store at `store` (a refused request is logged too, under
    /// an id no client was given: those are left out).
    static func logged(_ store: String) async throws -> Set<String> {
        let rows = try await SQLiteStore(directory: store).predictions(model: "prices", since: nil, limit: 100_000_000)
        return Set(rows.filter { !$0.status.hasPrefix("error") }.map(\.id))
    }

    @Test func everyAnsweredPredictionIsLoggedWhenTheServerStopsCleanly() async throws {
        let dir = try await Self.servedProject()
        let store = dir.appendingPathComponent(".mlcycle").path
        let server = try await Server(store: store)
        let answers = Answers()
        await Self.load(
            port: server.port, clients: 4, until: Date().addingTimeInterval(4), atLeast: 10_000, into: answers)
        server.process.terminate()  // SIGTERM: the log writes and drains everything before the process exits
        await waitForExit(server.process)
        let answered = answers.ids.withLock { Set($0.keys) }
        let ids = try await Self.logged(store)
        #expect(answered.count >= 10_000, "\(answered.count) rows answered")
        #expect(ids == answered, "answered \(answered.count), logged \(ids.count)")
    }

    @Test func afterAKillOnlyTheLastMomentIsLostAndTheSpoolDrainsOnce() async throws {
        let dir = try await Self.servedProject()
        let store = dir.appendingPathComponent(".mlcycle").path
        // A small direct limit: most cycles spool their rows first, so the kill finds rows in the spool.
        let server = try await Server(store: store, arguments: ["--log-direct-limit", "200"])
        let answers = Answers()
        let port = server.port
        async let loading: Void = Self.load(
            port: port, clients: 4, until: Date().addingTimeInterval(120), into: answers)
        // Load until the spool is in use (rows went through it to the store; a loaded machine takes longer), then
        // a moment more, then kill.
        func spooled() -> Double {
            let url = URL(string: "http://127.0.0.1:\(port)/metrics")!
            let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
            let line = text.split(separator: "\n").first { $0.hasPrefix("mlcycle_prediction_log_spooled_total ") }
            return line?.split(separator: " ").last.flatMap { Double($0) } ?? 0
        }
        let deadline = Date().addingTimeInterval(60)
        while spooled() == 0 && Date() < deadline { try await Task.sleep(for: .milliseconds(200)) }
        #expect(spooled() > 0, "the spool was not used within a minute of load")
        try await Task.sleep(for: .seconds(1))
        kill(server.process.processIdentifier, SIGKILL)
        let killed = Date()
        await waitForExit(server.process)
        answers.stopped.withLock { $0 = true }
        await loading
        let spoolPath = store + "/prediction-spool.bin"
        // A new server drains what the killed one spooled, then stops cleanly.
        let again = try await Server(store: store)
        try await Task.sleep(for: .seconds(1))
        again.process.terminate()
        await waitForExit(again.process)
        let spool = (try? FileManager.default.attributesOfItem(atPath: spoolPath))?[.size] as? Int
        #expect(spool == 0, "the spool still holds \(spool ?? -1) bytes")
        let ids = try await Self.logged(store)
        let answeredAt = answers.ids.withLock { $0 }
        let lost = answeredAt.filter { !ids.contains($0.key) }
        // Only answers from the writer's last cycle before the kill may be missing: at most 100 ms of them, plus
        // the time the client took to read its answer.
        let window = lost.values.map { killed.timeIntervalSince($0) }.max() ?? 0
        print("prediction log after kill -9: \(answeredAt.count) answered, \(lost.count) lost, window \(window) s")
        #expect(window <= 0.5, "lost answers from \(window) s before the kill")
    }
}
