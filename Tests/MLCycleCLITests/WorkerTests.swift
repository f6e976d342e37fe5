import Foundation
import MLCycleStore
import Synchronization
import Testing

/// `mlcycle tune --distributed` with `mlcycle worker` processes on one store (SQLite's file, PostgreSQL's server):
/// the leaderboard is the local search's, and a worker killed mid-candidate costs a retry, not the search.
@Suite(.serialized) struct WorkerTests {
    /// A process of the binary whose output is read as it comes.
    final class Spawned: Sendable {
        let process: Process
        private let output = Mutex("")

        init(_ arguments: [String]) throws {
            process = Process()
            process.executableURL = CLI.binary
            process.arguments = arguments
            try launch(process) {
                let pipe = Pipe()
                process.standardOutput = pipe
                process.standardError = pipe
                pipe.fileHandleForReading.readabilityHandler = { [self] handle in
                    let text = String(decoding: handle.availableData, as: UTF8.self)
                    output.withLock { $0 += text }
                }
            }
        }

        var text: String { output.withLock { $0 } }

        /// Waits (up to `seconds`) until the output contains `needle`.
        func waitFor(_ needle: String, seconds: Double = 60) async throws {
            let deadline = Date().addingTimeInterval(seconds)
            while !text.contains(needle) {
                guard Date() < deadline, process.isRunning || text.contains(needle) else {
                    Issue.record("no '\(needle)' in the output of \(process.arguments ?? []): \(text)")
                    throw CancellationError()
                }
                try await Task.sleep(for: .milliseconds(50))
            }
        }

        func finish() async -> Int32 {
            await waitForExit(process)
            return process.terminationStatus
        }
    }

    /// Runs `mlcycle worker --idle-exit 3` with these arguments again and again while `job` runs, and returns what
    /// the workers printed. A worker stops after 3 idle seconds, which on a busy machine can come before the job has
    /// queued its work; it is started again, as a deployment keeps its workers up.
    static func workers(while job: Spawned, _ arguments: [String]) async throws -> String {
        var output = ""
        for _ in 0..<200 where job.process.isRunning {
            let worker = try Spawned(["worker", "--idle-exit", "3"] + arguments)
            #expect(await worker.finish() == 0, "\(worker.text)")
            output += worker.text
        }
        return output
    }

    static let ames = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/house-prices/ames.csv").path

    @Test(arguments: CrashConsistencyTests.StoreKind.available)
    func aDistributedSearchScoresLikeALocalOneThoughAWorkerIsKilled(_ kind: CrashConsistencyTests.StoreKind)
        async throws
    {
        let dir = try scratch([:])
        let store = try await kind.location(project: dir)
        let search = [
            "tune", "--data", Self.ames, "--target", "Sale_Price", "--task", "regression", "--learner", "gbdt",
            "--drop", "rownames", "--space", "num_leaves=7,15", "--space", "learning_rate=0.1,0.05", "--folds", "2",
            "--seed", "7",
        ]
        let local = try await CLI.run(search + ["--json", dir.appendingPathComponent("local.json").path])
        #expect(local.status == 0, "\(local.stderr)")

        let tune = try Spawned(
            search + ["--distributed", "--store", store, "--json", dir.appendingPathComponent("distributed.json").path])
        try await tune.waitFor("candidates scored")
        let batch = try #require(tune.text.split(separator: ":").dropFirst().first).trimmingCharacters(in: .whitespaces)
        // The first worker is killed while it scores a candidate: the lease it held runs out (2 s) and the second
        // worker scores that candidate again. It is stopped before the store is asked what it holds, so it cannot
        // finish that candidate between the question and the kill.
        let doomed = try Spawned(["worker", "--store", store, "--lease", "2", "--name", "doomed"])
        let opened = try await StoreLocation(store).open()
        var held: [WorkItem] = []
        let deadline = Date().addingTimeInterval(60)
        while held.isEmpty, Date() < deadline, doomed.process.isRunning {
            try await Task.sleep(for: .milliseconds(50))
            kill(doomed.process.processIdentifier, SIGSTOP)
            held = try await opened.work(batch: batch).filter { $0.worker == "doomed" && $0.state == .running }
            if held.isEmpty { kill(doomed.process.processIdentifier, SIGCONT) }
        }
        #expect(held.count == 1, "the worker was not scoring when it was killed: \(doomed.text)")
        kill(doomed.process.processIdentifier, SIGKILL)
        _ = await doomed.finish()
        let survivor = try Spawned([
            "worker", "--store", store, "--lease", "2", "--idle-exit", "5", "--name", "survivor",
        ])
        #expect(await tune.finish() == 0, "\(tune.text)")
        #expect(await survivor.finish() == 0, "\(survivor.text)")

        let items = try await opened.work(batch: batch)
        // Candidates the first worker finished before it was stopped stay its own; the one it held is the survivor's.
        #expect(items.count == 4 && items.allSatisfy { $0.state == .done })
        for item in held {
            let after = items.first { $0.id == item.id }
            #expect(after?.attempts == 2 && after?.worker == "survivor")
        }
        // The same leaderboard as the local search (all but the fit times).
        func board(_ name: String) throws -> [[String: Any]] {
            let data = try Data(contentsOf: dir.appendingPathComponent(name))
            return try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        }
        let expected = try board("local.json")
        let got = try board("distributed.json")
        #expect(got.count == expected.count)
        for (a, b) in zip(expected, got) {
            for key in ["rank", "parameters", "metric", "mean", "std", "metrics"] {
                #expect(
                    (a[key] as? NSObject)?.isEqual(b[key]) == true, "\(key): \(a[key] ?? "nil") vs \(b[key] ?? "nil")")
            }
        }
        (opened as? PostgresStore)?.close()
    }

    /// `mlcycle run --workers`: every candidate's trials are queued before the first is waited on; with none of its
    /// own the run waits for a worker started elsewhere, with two of its own it starts and stops them; the leaderboard
    /// is the local run's either way.
    @Test(arguments: CrashConsistencyTests.StoreKind.available)
    func aProjectRunWithWorkersScoresLikeALocalOne(_ kind: CrashConsistencyTests.StoreKind) async throws {
        let spec = """
            problem: {name: ames-workers, task: regression, target: Sale_Price}
            sources: [{name: ames, path: \(Self.ames)}]
            preparation: [{drop: [rownames]}]
            split: {method: random, test: 0.2, seed: 3}
            candidates:
              - {name: baseline, learner: linear}
              - {name: gbdt, learner: gbdt, params: {n_estimators: 60}, space: {num_leaves: [7, 15]}}
            evaluation: {selection: cv, folds: 2, gates: ["mape <= 0.5"]}
            """
        let local = try scratch(["mlcycle.yaml": spec])
        let queued = try scratch(["mlcycle.yaml": spec])
        let own = try scratch(["mlcycle.yaml": spec])
        func summary(_ dir: URL) -> String { dir.appendingPathComponent("summary.json").path }
        let alone = try await CLI.run(["run", local.path, "--quiet", "--json", summary(local)])
        #expect(alone.status == 0, "\(alone.stderr)")

        // No worker of its own: the trials wait for one started elsewhere (another machine; here another process).
        let store = try await kind.location(project: queued)
        let run = try Spawned([
            "run", queued.path, "--store", store, "--workers", "0", "--quiet", "--json", summary(queued),
        ])
        let workerOutput = try await Self.workers(while: run, ["--store", store, "--name", "elsewhere"])
        #expect(await run.finish() == 0, "\(run.text)")
        // Three trials: the baseline's cross-validation and the gbdt's two candidates.
        #expect(workerOutput.components(separatedBy: ": done in").count - 1 == 3, "\(workerOutput)")

        let withTwo = try await CLI.run([
            "run", own.path, "--store", try await kind.location(project: own), "--workers", "2", "--quiet", "--json",
            summary(own),
        ])
        #expect(withTwo.status == 0, "\(withTwo.stderr)")

        func board(_ dir: URL) throws -> [[String: Any]] {
            let data = try Data(contentsOf: URL(fileURLWithPath: summary(dir)))
            let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            return try #require(object["leaderboard"] as? [[String: Any]])
        }
        let expected = try board(local)
        #expect(expected.count == 2)
        for dir in [queued, own] {
            let got = try board(dir)
            #expect(got.count == expected.count)
            for (a, b) in zip(expected, got) {
                for key in ["name", "parameters", "metrics"] {
                    #expect(
                        (a[key] as? NSObject)?.isEqual(b[key]) == true,
                        "\(key): \(a[key] ?? "nil") vs \(b[key] ?? "nil")")
                }
            }
        }
    }

    @Test func aFailingCandidateFailsTheSearchWithItsReason() async throws {
        let dir = try scratch(["houses.csv": housesCSV])
        let store = dir.appendingPathComponent("store").path
        // A metric a regression does not report: the worker's error is the search's.
        let tune = try Spawned([
            "tune", "--data", dir.appendingPathComponent("houses.csv").path, "--target", "price", "--task",
            "regression", "--learner", "linear", "--space", "alpha=0.1,1", "--folds", "0", "--metric", "accuracy",
            "--distributed", "--store", store,
        ])
        let workers = try await Self.workers(while: tune, ["--store", store])
        #expect(await tune.finish() == 2)
        #expect(tune.text.contains("failed") && tune.text.contains("accuracy"), "\(tune.text)")
        #expect(workers.contains("failed"), "\(workers)")
    }
}
