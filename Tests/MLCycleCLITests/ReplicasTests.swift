import Foundation
import MLCycleStore
import Synchronization
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Two `mlcycle serve` replicas on one PostgreSQL store behind nginx (round-robin on loopback), under load while the
/// champion is promoted and rolled back three times from the CLI: no request fails, every answer's version was the
/// champion within the second before its request or while it was answered, and every answer is in the log.
/// Debian's nginx: `MLCYCLE_TEST_NGINX`, else /usr/sbin/nginx.
let testNginx: String? = {
    let path = ProcessInfo.processInfo.environment["MLCYCLE_TEST_NGINX"] ?? "/usr/sbin/nginx"
    return FileManager.default.isExecutableFile(atPath: path) ? path : nil
}()

@Suite(
    .serialized,
    .enabled(
        if: CrashConsistencyTests.StoreKind.postgresURL != nil && testNginx != nil,
        "needs MLCYCLE_TEST_POSTGRES_URL and nginx (bash Tests/run.sh starts PostgreSQL and installs nginx)"))
struct ReplicasTests {
    /// One request as its client saw it.
    struct Exchange: Sendable {
        var sent: Date
        var received: Date
        var status: Int
        var version: String?
        var id: String?
        var upstream: String?
    }

    /// What the clients saw, and whether they go on.
    final class Record: Sendable {
        let exchanges = Mutex([Exchange]())
        let loading = Mutex(true)
    }

    /// nginx in the foreground (one process, so it runs as whoever starts it), proxying `port` to the replicas.
    static func startNginx(port: Int, replicas: [Int], in dir: URL) async throws -> Process {
        let d = dir.path
        let upstreams = replicas.map { "server 127.0.0.1:\($0);" }.joined(separator: " ")
        let config = """
            daemon off; master_process off; worker_processes 1; pid \(d)/nginx.pid; error_log \(d)/error.log;
            events { worker_connections 256; }
            http {
              access_log off;
              client_body_temp_path \(d)/body; proxy_temp_path \(d)/proxy; fastcgi_temp_path \(d)/fastcgi;
              uwsgi_temp_path \(d)/uwsgi; scgi_temp_path \(d)/scgi;
              upstream mlcycle { \(upstreams) keepalive 16; }
              server {
                listen 127.0.0.1:\(port);
                location / {
                  proxy_pass http://mlcycle; proxy_http_version 1.1; proxy_set_header Connection "";
                  add_header X-Upstream $upstream_addr always;
                }
              }
            }
            """
        try config.write(to: dir.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(testNginx))
        process.arguments = ["-p", d, "-c", "\(d)/nginx.conf", "-e", "\(d)/error.log"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try launch(process)
        if await answersHealth(port: port) { return process }
        let log = (try? String(contentsOfFile: "\(d)/error.log", encoding: .utf8)) ?? ""
        Issue.record("nginx did not start: \(log)")
        return process
    }

    /// Stops nginx: alone in its process it may linger on open keep-alive connections after SIGTERM.
    static func stopNginx(_ nginx: Process) {
        nginx.terminate()
        for _ in 0..<30 where nginx.isRunning { usleep(100_000) }
        if nginx.isRunning { kill(nginx.processIdentifier, SIGKILL) }
        nginx.waitUntilExit()
    }

    @Test func promotionsAndRollbacksUnderLoadFailNoRequestAndAnswerTheChampionOfTheirTime() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-replicas-\(UUID().uuidString)")
        #expect(try await CLI.run(["init", dir.path]).status == 0)
        let store = try await CrashConsistencyTests.StoreKind.postgres.location(project: dir)
        let trained = try await CLI.run(["run", dir.path, "--quiet", "--store", store])
        #expect(trained.status == 0, "\(trained.stderr)")
        // A second version of the same bundle: the answers tell the two apart by their version only.
        let team = try await StoreLocation(store).open()
        let first = try #require(try await team.modelVersion("prices", version: 1))
        _ = try await team.registerModel(
            NewModelVersion(
                name: "prices", bundle: first.bundle, metrics: first.metrics, gatesPassed: true, gates: [], run: nil,
                datasets: [], specHash: nil), actor: "test")
        #expect(try await team.aliases("prices")["champion"] == 1)

        var replicas = [PredictionLogLoadTests.Server]()
        for _ in 0..<2 {
            replicas.append(try await PredictionLogLoadTests.Server(store: store, arguments: ["--project", dir.path]))
        }
        let port = unusedPort()
        let nginx = try await Self.startNginx(port: port, replicas: replicas.map(\.port), in: dir)
        defer { Self.stopNginx(nginx) }

        let record = Record()
        let session = URLSession(configuration: .ephemeral)
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for c in 0..<4 {
                    group.addTask {
                        var n = 0
                        while record.loading.withLock({ $0 }) {
                            n += 1
                            var request = URLRequest(
                                url: URL(string: "http://127.0.0.1:\(port)/v1/models/prices/predict")!)
                            request.httpMethod = "POST"
                            request.timeoutInterval = 30
                            request.httpBody = Data(
                                "{\"records\": [\(PredictionLogLoadTests.row(c * 1_000_000 + n))]}".utf8)
                            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                            let sent = Date()
                            var exchange = Exchange(sent: sent, received: sent, status: 0)
                            if let (data, response) = try? await session.data(for: request),
                                let http = response as? HTTPURLResponse
                            {
                                exchange.status = http.statusCode
                                exchange.upstream = http.value(forHTTPHeaderField: "X-Upstream")
                                let answer = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
                                exchange.version = answer?["model_version"] as? String
                                exchange.id =
                                    ((answer?["predictions"] as? [[String: Any]])?.first?["id"]) as? String
                            }
                            exchange.received = Date()
                            record.exchanges.withLock { $0.append(exchange) }
                        }
                    }
                }
            }
        }
        // Three promotions of version 2 and three rollbacks to version 1, each from a CLI process of its own.
        /// Waits (up to a minute) until ten requests sent after `moment` are answered, however busy the machine is.
        func awaitTenAnswers(sentAfter moment: Date) async throws {
            for _ in 0..<600 where record.exchanges.withLock({ $0.filter { $0.sent > moment }.count }) < 10 {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        try await Task.sleep(for: .seconds(1))
        try await awaitTenAnswers(sentAfter: .distantPast)
        for round in 1...3 {
            for move in [
                [
                    "promote", "prices:2", "--to", "champion", "--override-gates", "--reason", "round \(round)",
                    "--project", dir.path, "--store", store,
                ],
                ["rollback", "prices", "--reason", "round \(round)", "--store", store],
            ] {
                let result = try await CLI.run(move)
                #expect(result.status == 0, "\(move): \(result.stderr)")
                // At least a second and a half and ten answers to requests sent after the move.
                let moved = Date()
                try await Task.sleep(for: .seconds(1.5))
                try await awaitTenAnswers(sentAfter: moved)
            }
        }
        record.loading.withLock { $0 = false }
        await load.value
        for replica in replicas {
            replica.process.terminate()  // SIGTERM: each writes its log before it exits
            await waitForExit(replica.process)
        }

        // The champion's history, from the audit log.
        let moves = try await team.audit(model: "prices").filter { $0.alias == "champion" }.sorted { $0.at < $1.at }
        #expect(moves.count == 7, "\(moves.map { ($0.action, $0.version ?? 0) })")
        func champion(at time: Date) -> Int? { moves.last { $0.at <= time }?.version }
        let seen = record.exchanges.withLock { $0 }
        let failed = seen.filter { $0.status != 200 }
        // Each champion's time (from one move to the next) had requests sent in it.
        for (move, next) in zip(moves, moves.dropFirst().map(Optional.some) + [nil]) {
            let sent = seen.filter { $0.sent >= move.at && $0.sent < (next?.at ?? .distantFuture) }.count
            #expect(sent >= 10, "only \(sent) requests sent while v\(move.version ?? 0) was champion")
        }
        #expect(failed.isEmpty, "\(failed.count) of \(seen.count) requests failed: \(failed.prefix(3))")
        // A replica hears of a move within a second: an answer may be from the champion of the second before its
        // request, or of any moment until it arrived.
        let inconsistent = seen.filter { e in
            let allowed = Set(
                [champion(at: e.sent.addingTimeInterval(-1))]
                    + moves.filter { $0.at > e.sent.addingTimeInterval(-1) && $0.at <= e.received }.map(\.version))
            return !allowed.contains(e.version.flatMap { Int($0.dropFirst()) })
        }
        #expect(inconsistent.isEmpty, "\(inconsistent.count) answers from a version that was not the champion")
        // Answers from the champion before a move though sent after it (not from one a move made while they were on
        // their way), and how long after that move they were sent.
        let late = seen.filter { e in
            let version = e.version.flatMap { Int($0.dropFirst()) }
            return version != champion(at: e.sent)
                && !moves.contains { $0.at > e.sent && $0.at <= e.received && $0.version == version }
        }
        let lag =
            late.compactMap { e in moves.last { $0.at <= e.sent }.map { e.sent.timeIntervalSince($0.at) } }.max() ?? 0
        let perReplica = Dictionary(grouping: seen.compactMap(\.upstream), by: { $0 }).mapValues(\.count)
        print(
            "ReplicasTests: \(seen.count) requests, \(failed.count) failed, per replica \(perReplica.values.sorted()); "
                + "\(late.count) answered by the champion before a move though sent up to \(String(format: "%.1f", lag * 1000)) ms after it"
        )
        #expect(Set(seen.compactMap(\.version)) == ["v1", "v2"])
        #expect(Set(seen.compactMap(\.upstream)).count == 2, "nginx did not send to both replicas")
        // Every answer is in the one log table, whichever replica gave it.
        let logged = Set(
            try await team.predictions(model: "prices", since: nil, limit: 10_000_000).filter {
                !$0.status.hasPrefix("error")
            }.map(\.id))
        #expect(logged == Set(seen.compactMap(\.id)), "answered \(seen.count), logged \(logged.count)")
        (team as? PostgresStore)?.close()
    }
}
