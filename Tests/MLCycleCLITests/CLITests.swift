import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the real `mlcycle` binary (built next to this test bundle) and captures what it prints.
struct CLI {
    static let binary: URL? = {
        let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [
            bundleDir, bundleDir.deletingLastPathComponent(), Bundle.main.bundleURL.deletingLastPathComponent(),
        ]
        .map { $0.appendingPathComponent("mlcycle") }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `mlcycle` with these arguments and waits for it on a thread of its own (see `offThePool`).
    static func run(_ arguments: [String], in directory: URL? = nil) async throws -> Result {
        let binary = try #require(binary, "the mlcycle binary was not built next to the tests")
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let (out, err) = try launch(process) {
            let (out, err) = (Pipe(), Pipe())
            process.standardOutput = out
            process.standardError = err
            return (out, err)
        }
        let (stdout, stderr) = await offThePool {
            let stdout = out.fileHandleForReading.readDataToEndOfFile()
            let stderr = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (stdout, stderr)
        }
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }
}

/// Held while a test opens a child's pipes and starts it.
private let launching = NSLock()

/// Opens a child's pipes (`prepare`) and starts it while no other test does. Foundation on Linux keeps a child from
/// inheriting the parent's descriptors by listing those open just before it spawns; a pipe, or the socket that tells
/// Foundation a child has exited, opened by another thread in that moment leaks into this child, and the test that
/// owns it then waits for an end of file (its child's output, its child's exit) until this child exits — forever
/// when the two tests wait on each other.
func launch<T>(_ process: Process, prepare: () -> T) throws -> T {
    try launching.withLock {
        let prepared = prepare()
        try process.run()
        return prepared
    }
}

/// Starts a child whose output needs no pipe of its own (see `launch(_:prepare:)`).
func launch(_ process: Process) throws { try launch(process) {} }

/// Runs blocking work (reading a child process's pipes, waiting for it to exit) on a thread of its own. The tests
/// share one process whose cooperative pool has a thread per core (two in CI): a test blocking one of them for a
/// minute-long CLI run starves the in-process servers and load loops of the other tests running beside it.
func offThePool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: work()) }.start()
    }
}

/// Whether `GET /health` on this local port answers within ten seconds (a server or proxy starting), asked from a
/// thread of its own.
func answersHealth(port: Int) async -> Bool {
    await offThePool {
        for _ in 0..<100 {
            if (try? Data(contentsOf: URL(string: "http://127.0.0.1:\(port)/health")!)) != nil { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return false
    }
}

/// The next port `unusedPort()` tries; each is handed out once in this process.
private let nextPort = Atomic<Int>(Int.random(in: 20_000..<28_000))

/// A loopback port for a child server or proxy: below Linux's ephemeral range (32768 up), where the kernel places
/// outgoing connections and the tests' port-0 servers, never handed out twice in this process, and free when asked.
/// (A random port in that range once met an in-process server: nginx could not listen, its health check was answered
/// by that server, and every request after it stopped failed.)
func unusedPort() -> Int {
    while true {
        let port = 20_000 + (nextPort.add(1, ordering: .relaxed).newValue - 20_000) % 12_000
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { continue }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        if bound { return port }
    }
}

/// Waits for a child process to exit without holding a cooperative thread.
func waitForExit(_ process: Process) async {
    await offThePool { process.waitUntilExit() }
}

/// A fresh temporary folder with some files in it.
func scratch(_ files: [String: String]) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    for (name, text) in files {
        try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }
    return dir
}

let housesCSV = """
    id,price,area,zone,built,remodeled
    1,200000,1000,RL,1990,2000
    2,1,1200,RM,2005,2001
    3,150000,,RL,1950,1960

    """

@Suite(.serialized) struct CLITests {
    @Test func profileWritesTheContractedJSON() async throws {
        let dir = try scratch(["houses.csv": housesCSV])
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try await CLI.run(["profile", "houses.csv", "--target", "price", "--json", "-"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(json["rows"] as? Int == 3)
        #expect(json["duplicate_rows"] as? Int == 0)
        let columns = try #require(json["columns"] as? [[String: Any]])
        #expect(columns.map { $0["name"] as? String } == ["id", "price", "area", "zone", "built", "remodeled"])
        for key in [
            "name", "type", "count", "missing", "distinct", "mean", "std", "min", "q05", "q25", "median", "q75", "q95",
            "max", "top",
        ] {
            #expect(columns.allSatisfy { $0.keys.contains(key) }, "every column has \(key)")
        }
        let area = columns[2]
        #expect(area["missing"] as? Int == 1)
        #expect(area["mean"] as? Double == 1100)
        #expect(columns[3]["mean"] is NSNull)
        #expect((columns[3]["top"] as? [[String: Any]])?.first?["value"] as? String == "RL")
        #expect(json["correlations"] != nil)
        #expect((json["target"] as? [String: Any])?["name"] as? String == "price")
    }

    @Test func profileWritesHTMLAndAHumanSummary() async throws {
        let dir = try scratch(["houses.csv": housesCSV])
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try await CLI.run(
            ["profile", "houses.csv", "--html", "report.html", "--json", "profile.json"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("houses.csv: 3 rows, 6 columns, 0 duplicate rows"))
        let html = try String(contentsOf: dir.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("<svg"))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("profile.json").path))
    }

    @Test func validateExitCodes() async throws {
        let dir = try scratch([
            "houses.csv": housesCSV,
            "ok.yaml":
                "rules:\n  - column: price\n    type: int64\n  - column: zone\n    allowed: [RL]\n    severity: warning\n",
            "bad.yaml": "rules:\n  - column: price\n    range: {min: 10000}\n  - expression: remodeled >= built\n",
            "broken.yaml": "rules:\n  - column: price\n    range: {min: cheap}\n",
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        let ok = try await CLI.run(["validate", "houses.csv", "--rules", "ok.yaml"], in: dir)
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        #expect(ok.stdout.contains("0 errors, 1 warnings"))

        let bad = try await CLI.run(["validate", "houses.csv", "--rules", "bad.yaml", "--json", "-"], in: dir)
        #expect(bad.status == 1)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(bad.stdout.utf8)) as? [String: Any])
        #expect(report["passed"] as? Bool == false)
        #expect(report["errors"] as? Int == 2)
        let results = try #require(report["results"] as? [[String: Any]])
        #expect(results[0]["failing_rows"] as? Int == 1)
        #expect((results[0]["examples"] as? [[String: Any]])?.first?["row"] as? Int == 2)
        #expect(
            (results[1]["examples"] as? [[String: Any]])?.first?["value"] as? String == "built=2005, remodeled=2001")

        let broken = try await CLI.run(["validate", "houses.csv", "--rules", "broken.yaml"], in: dir)
        #expect(broken.status == 2)
        #expect(broken.stderr.contains("broken.yaml:3: rules[0].range"))
    }

    @Test func suggestedRulesValidateTheirOwnData() async throws {
        let dir = try scratch(["houses.csv": housesCSV])
        defer { try? FileManager.default.removeItem(at: dir) }
        let s = try await CLI.run(["suggest-rules", "houses.csv", "--out", "rules.yaml"], in: dir)
        #expect(s.status == 0, "\(s.stderr)")
        let yaml = try String(contentsOf: dir.appendingPathComponent("rules.yaml"), encoding: .utf8)
        #expect(yaml.contains("column: price"))
        let v = try await CLI.run(["validate", "houses.csv", "--rules", "rules.yaml"], in: dir)
        #expect(v.status == 0, "\(v.stdout)")
    }

    @Test func badInputIsOneClearLineAndExitCode2() async throws {
        let dir = try scratch(["ragged.csv": "a,b\n1,2\n3\n", "quote.csv": "a,b\n1,\"x\n"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let ragged = try await CLI.run(["profile", "ragged.csv"], in: dir)
        #expect(ragged.status == 2)
        #expect(
            ragged.stderr
                == "mlcycle: error: ragged.csv:3: the row has 1 field where the header has 2; check for a missing or extra delimiter, or quote fields that contain one\n"
        )
        let quote = try await CLI.run(["profile", "quote.csv"], in: dir)
        #expect(quote.status == 2)
        #expect(quote.stderr.contains("quote.csv:2: column 2 (b): a quoted field is never closed"))
        let missing = try await CLI.run(["profile", "nope.csv"], in: dir)
        #expect(missing.status == 2 && missing.stderr.contains("nope.csv: no such file"))
        let target = try await CLI.run(["profile", "ragged.csv", "--type", "a=bogus"], in: dir)
        #expect(target.status != 0 && target.stderr.contains("--type takes COLUMN=TYPE"))
    }

    @Test func fingerprintIsStable() async throws {
        let dir = try scratch(["a.csv": "x,y\n1,2\n", "b.jsonl": "{\"x\": 1, \"y\": 2}\n"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = try await CLI.run(["fingerprint", "a.csv"], in: dir)
        let b = try await CLI.run(["fingerprint", "b.jsonl"], in: dir)
        #expect(a.status == 0 && b.status == 0)
        #expect(a.stdout.prefix(64) == b.stdout.prefix(64))
        let j = try await CLI.run(["fingerprint", "a.csv", "--json", "-"], in: dir)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any])
        #expect(parsed["fingerprint"] as? String == String(a.stdout.prefix(64)))
        #expect(parsed["rows"] as? Int == 1)
        #expect((parsed["columns"] as? [[String: Any]])?.first?["type"] as? String == "int64")
    }

    @Test func prepareFitsOnTrainingRowsAndAppliesTheFittedPipeline() async throws {
        var csv = "id,area,hood,price\n"
        for i in 0..<100 {
            csv += "\(i),\(i % 9 == 0 ? "" : String(100 + i)),\(i % 2 == 0 ? "north" : "south"),\(1000 * (i + 1))\n"
        }
        let dir = try scratch([
            "houses.csv": csv, "new.csv": "id,area,hood,price\n200,,north,5\n201,50,east,1\n",
            "pipeline.yaml": """
            steps:
              - filter: "price > 1000"
              - impute: {columns: [area], strategy: median, by: [hood], indicator: true}
              - encode: {columns: [hood], method: one_hot}
            split: {method: random, test: 0.25, seed: 3}
            """,
            "bad.yaml": "steps:\n  - impute: {columns: [area], strategy: average}\n  - nope: 1\n",
        ])
        let r = try await CLI.run(
            [
                "prepare", "--data", "houses.csv", "--pipeline", "pipeline.yaml", "--target", "price",
                "--out", "prepared.csv", "--fitted", "fitted.json",
            ], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("100 rows collected → 99 prepared (75 train, 24 test)"), "\(r.stdout)")
        let prepared = try String(contentsOf: dir.appendingPathComponent("prepared.csv"), encoding: .utf8)
        #expect(prepared.hasPrefix("id,area,price,area_was_missing,hood_north,hood_south,split\n"))
        let applied = try await CLI.run(
            ["prepare", "--apply", "fitted.json", "--data", "new.csv", "--out", "-"], in: dir)
        #expect(applied.status == 0, "\(applied.stderr)")
        // Serving keeps the row that fails the filter and says so; an unseen neighbourhood has no one-hot column set.
        #expect(applied.stdout.split(separator: "\n").count == 3)
        #expect(applied.stdout.contains("201,50,1,false,0.0,0.0"), "\(applied.stdout)")
        #expect(applied.stderr.contains("row 1: fails 'price > 1000'"), "\(applied.stderr)")
        let bad = try await CLI.run(
            ["prepare", "--data", "houses.csv", "--pipeline", "bad.yaml", "--out", "x.csv"], in: dir)
        #expect(bad.status == 2)
        #expect(
            bad.stderr.contains("bad.yaml:2: steps[0].impute.strategy") && bad.stderr.contains("bad.yaml:3: steps[1]"),
            "\(bad.stderr)")
        let trained = try await CLI.run(
            [
                "train", "--data", "prepared.csv", "--split-column", "split", "--target", "price",
                "--task", "regression", "--learner", "linear", "--json", "-",
            ], in: dir)
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(trained.stdout.contains("\"test_rows\" : 24"))
    }

    @Test func trainAndPredictFollowTheContract() async throws {
        var rows = "id,area,zone,price\n"
        for i in 0..<60 {
            rows += "\(i),\(500 + i * 20),\(["A", "B", "C"][i % 3]),\(1000 + i * 40 + (i % 3) * 300 + (i % 7))\n"
        }
        let dir = try scratch(["houses.csv": rows, "new.csv": "zone,area,unused\nB,700,x\nQ,900,y\n"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let t = try await CLI.run(
            [
                "train", "--data", "houses.csv", "--target", "price", "--task", "regression", "--learner", "linear",
                "--drop", "id", "--param", "alpha=0.01", "--seed", "7", "--out", "model.json", "--json", "-",
            ], in: dir)
        #expect(t.status == 0, "\(t.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(t.stdout.utf8)) as? [String: Any])
        let metrics = try #require(report["metrics"] as? [String: Double])
        // The contracted metrics are all there (evaluation adds median_ape beside them).
        #expect(Set(metrics.keys).isSuperset(of: ["rmse", "mae", "mape", "r2", "within_10pct"]))
        #expect((metrics["r2"] ?? 0) > 0.99)
        #expect(report["train_rows"] as? Int == 48 && report["test_rows"] as? Int == 12)
        #expect(report["fit_seconds"] is Double && report["predict_seconds"] is Double)

        let p = try await CLI.run(
            ["predict", "--model", "model.json", "--data", "new.csv", "--out", "predictions.csv"], in: dir)
        #expect(p.status == 0, "\(p.stderr)")
        let out = try String(contentsOf: dir.appendingPathComponent("predictions.csv"), encoding: .utf8)
        let lines = out.split(separator: "\n")
        #expect(lines.first == "prediction")
        #expect(lines.count == 3)  // one row per input row, in order

        let bad = try await CLI.run(
            ["predict", "--model", "houses.csv", "--data", "new.csv", "--out", "x.csv"], in: dir)
        #expect(bad.status == 2 && bad.stderr.contains("not a model file"))
        let unknown = try await CLI.run(
            [
                "train", "--data", "houses.csv", "--target", "price", "--task", "regression", "--learner", "linear",
                "--param", "lambda=1",
            ], in: dir)
        #expect(unknown.status == 2 && unknown.stderr.contains("unknown parameter 'lambda'"))
        let missing = try await CLI.run(
            ["predict", "--model", "model.json", "--data", "houses.csv", "--out", "-"], in: dir)
        #expect(missing.status == 0)  // extra columns (id, price) are ignored

        // Large files stream through in blocks: 100-byte blocks give the same output as one block.
        let whole = try await CLI.run(
            ["predict", "--model", "model.json", "--data", "houses.csv", "--out", "whole.csv"], in: dir)
        let blocks = try await CLI.run(
            [
                "predict", "--model", "model.json", "--data", "houses.csv", "--out", "blocks.csv", "--block-bytes",
                "100",
            ], in: dir)
        #expect(whole.status == 0 && blocks.status == 0, "\(blocks.stderr)")
        let a = try String(contentsOf: dir.appendingPathComponent("whole.csv"), encoding: .utf8)
        let b = try String(contentsOf: dir.appendingPathComponent("blocks.csv"), encoding: .utf8)
        #expect(a == b && a.split(separator: "\n").count == 61)
        // A bad value in a later block names its line in the file; nothing is written.
        try (rows + "60,lots,A,1000\n").write(
            to: dir.appendingPathComponent("bad.csv"), atomically: true, encoding: .utf8)
        let failed = try await CLI.run(
            ["predict", "--model", "model.json", "--data", "bad.csv", "--out", "bad-out.csv", "--block-bytes", "100"],
            in: dir)
        #expect(failed.status == 2 && failed.stderr.contains("bad.csv:62: column 2 (area)"), "\(failed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("bad-out.csv").path))
    }

    /// 80 rows of a number (every ninth missing), a category and a price that depends on both.
    static let eightyHouses = (0..<80).reduce("id,area,zone,price\n") { rows, i in
        rows
            + "\(i),\(i % 9 == 0 ? "" : String(500 + i * 20)),\(["A", "B", "C"][i % 3]),\(1000 + i * 40 + (i % 3) * 300)\n"
    }

    /// A folder holding `eightyHouses` as houses.csv and, for each learner, a model of price trained on them
    /// (`LEARNER.json`).
    static func trainedHouses(_ learners: [String] = ["gbdt"]) async throws -> URL {
        let dir = try scratch(["houses.csv": Self.eightyHouses])
        for learner in learners {
            let t = try await CLI.run(
                [
                    "train", "--data", "houses.csv", "--target", "price", "--task", "regression", "--learner", learner,
                    "--drop", "id", "--param", learner == "gbdt" ? "min_data_in_leaf=5" : "alpha=0.1", "--out",
                    "\(learner).json",
                ], in: dir)
            #expect(t.status == 0, "\(t.stderr)")
        }
        return dir
    }

    @Test func exportWritesALightGBMModelAndItsInputs() async throws {
        let dir = try await Self.trainedHouses(["gbdt", "linear"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let exported = try await CLI.run(
            ["export", "gbdt.json", "--format", "lightgbm", "--out", "model.txt"], in: dir)
        #expect(exported.status == 0 && exported.stdout.contains("model.preparation.json"), "\(exported.stderr)")
        let text = try String(contentsOf: dir.appendingPathComponent("model.txt"), encoding: .utf8)
        #expect(text.hasPrefix("tree\nversion=v4\nnum_class=1\n") && text.contains("feature_names=area zone\n"))
        let inputs = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: dir.appendingPathComponent("model.preparation.json")))
                as? [String: Any])
        let features = inputs["features"] as? [[String: Any]] ?? []
        #expect(features.map { $0["name"] as? String } == ["area", "zone"])
        #expect(
            features.last?["kind"] as? String == "categorical"
                && features.last?["levels"] as? [String] == ["A", "B", "C"])
        #expect(inputs["model"] as? String == "gbdt.json" && inputs["preparation"] == nil)
        // A learner LightGBM's format cannot hold is refused with what to do.
        let refused = try await CLI.run(["export", "linear.json", "--format", "lightgbm", "--out", "x.txt"], in: dir)
        #expect(refused.status == 2 && refused.stderr.contains("train it with learner gbdt"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("x.txt").path))
    }

    /// A model exported to LightGBM's format comes back with `mlcycle import lightgbm` (its preparation file as the
    /// schema) as a registered version that answers as the model did; the same model exports to ONNX.
    @Test func anExportedModelImportsBackAsARegisteredVersion() async throws {
        let dir = try await Self.trainedHouses()
        defer { try? FileManager.default.removeItem(at: dir) }
        let exported = try await CLI.run(
            ["export", "gbdt.json", "--format", "lightgbm", "--out", "model.txt"], in: dir)
        #expect(exported.status == 0, "\(exported.stderr)")
        let imported = try await CLI.run(
            [
                "import", "lightgbm", "model.txt", "--name", "houses", "--schema", "model.preparation.json", "--data",
                "houses.csv", "--store", ".mlcycle",
            ], in: dir)
        #expect(
            imported.status == 0 && imported.stdout.contains("houses:1 (regression, 2 inputs)"), "\(imported.stderr)")
        for (model, out) in [("gbdt.json", "trained.csv"), ("houses", "imported.csv")] {
            let p = try await CLI.run(
                ["predict", "--model", model, "--data", "houses.csv", "--out", out, "--store", ".mlcycle"], in: dir)
            #expect(p.status == 0, "\(p.stderr)")
        }
        func estimates(_ file: String) throws -> [Double] {
            try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8).split(separator: "\n").dropFirst()
                .map { Double($0.split(separator: ",", omittingEmptySubsequences: false)[0]) ?? .nan }
        }
        let (a, b) = (try estimates("trained.csv"), try estimates("imported.csv"))
        #expect(a.count == 80 && b.count == 80 && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-9 * abs($0) })
        // The imported version is evaluated on the rows given, and its reference statistics are theirs.
        let shown = try await CLI.run(["model", "houses:1", "--store", ".mlcycle"], in: dir)
        #expect(shown.status == 0 && shown.stdout.contains("imported from model.txt"), "\(shown.stdout)\(shown.stderr)")
        // A schema that does not list every input is refused with what to do.
        try #"{"features": [{"name": "area"}]}"#.write(
            to: dir.appendingPathComponent("short.json"), atomically: true, encoding: .utf8)
        let short = try await CLI.run(
            ["import", "lightgbm", "model.txt", "--name", "x", "--schema", "short.json", "--store", ".mlcycle"], in: dir
        )
        #expect(short.status == 2 && short.stderr.contains("list every input"), "\(short.stderr)")
        // ONNX: a model file with one tree-ensemble operator, and the same preparation file beside it.
        let onnx = try await CLI.run(["export", "gbdt.json", "--format", "onnx", "--out", "model.onnx"], in: dir)
        #expect(onnx.status == 0 && onnx.stdout.contains("model.preparation.json"), "\(onnx.stderr)")
        let bytes = try Data(contentsOf: dir.appendingPathComponent("model.onnx"))
        #expect(bytes.count > 100 && String(decoding: bytes, as: UTF8.self).contains("TreeEnsembleRegressor"))
    }

    @Test func explainWritesEachRowsContributions() async throws {
        let dir = try await Self.trainedHouses()
        defer { try? FileManager.default.removeItem(at: dir) }
        let e = try await CLI.run(
            ["explain", "--model", "gbdt.json", "--data", "houses.csv", "--out", "contributions.csv"], in: dir)
        #expect(e.status == 0 && e.stdout.contains("80 rows explained"), "\(e.stderr)")
        let p = try await CLI.run(
            ["predict", "--model", "gbdt.json", "--data", "houses.csv", "--out", "predictions.csv"], in: dir)
        #expect(p.status == 0)
        let text = try String(contentsOf: dir.appendingPathComponent("contributions.csv"), encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.first == "expected_value,area,zone" && lines.count == 81)
        let predictions = try String(contentsOf: dir.appendingPathComponent("predictions.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().compactMap { Double($0) }
        // The expected value plus the row's contributions is its estimate.
        for (line, prediction) in zip(lines.dropFirst(), predictions) {
            let sum = line.split(separator: ",").compactMap { Double($0) }.reduce(0, +)
            #expect(abs(sum - prediction) <= 1e-9 * prediction, "\(line)")
        }
        // In blocks, the same file.
        let blocks = try await CLI.run(
            [
                "explain", "--model", "gbdt.json", "--data", "houses.csv", "--out", "blocks.csv", "--block-bytes",
                "100",
            ], in: dir)
        #expect(blocks.status == 0)
        #expect(try String(contentsOf: dir.appendingPathComponent("blocks.csv"), encoding: .utf8) == text)
    }

    @Test func binaryTrainingReportsClassificationMetrics() async throws {
        var rows = "minutes,plan,churn\n"
        for i in 0..<120 {
            rows +=
                "\(i % 40),\(i % 5 == 0 ? "yes" : "no"),\((i % 40 > 28 || i % 5 == 0) && i % 3 != 0 ? "yes" : "no")\n"
        }
        let dir = try scratch(["churn.csv": rows])
        defer { try? FileManager.default.removeItem(at: dir) }
        let t = try await CLI.run(
            [
                "train", "--data", "churn.csv", "--target", "churn", "--task", "binary", "--learner", "logistic",
                "--out", "m.json", "--json", "-",
            ], in: dir)
        #expect(t.status == 0, "\(t.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(t.stdout.utf8)) as? [String: Any])
        #expect(
            Set((report["metrics"] as? [String: Double] ?? [:]).keys).isSuperset(of: [
                "auc", "logloss", "accuracy", "precision", "recall", "f1",
            ]))
        #expect(report["positive_class"] as? String == "yes")
        let p = try await CLI.run(["predict", "--model", "m.json", "--data", "churn.csv", "--out", "-"], in: dir)
        #expect(p.stdout.hasPrefix("prediction,probability_no,probability_yes\n"))
        #expect(p.stdout.split(separator: "\n").count == 121)
    }

    @Test func clusteringTrainsAndAssignsClusters() async throws {
        var rows = "x,y,label\n"
        for i in 0..<90 {
            let c = i % 3
            rows += "\(Double(c * 10) + Double(i % 7) * 0.1),\(Double(c * 5) - Double(i % 5) * 0.1),g\(c)\n"
        }
        let dir = try scratch(["points.csv": rows])
        defer { try? FileManager.default.removeItem(at: dir) }
        let t = try await CLI.run(
            [
                "train", "--data", "points.csv", "--task", "clustering", "--learner", "kmeans", "--drop", "label",
                "--param", "n_clusters=3", "--param", "n_init=4", "--out", "km.json", "--json", "-",
            ], in: dir)
        #expect(t.status == 0, "\(t.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(t.stdout.utf8)) as? [String: Any])
        #expect((report["metrics"] as? [String: Double])?["clusters"] == 3)
        let p = try await CLI.run(["predict", "--model", "km.json", "--data", "points.csv", "--out", "-"], in: dir)
        let lines = p.stdout.split(separator: "\n")
        #expect(lines.first == "prediction,distance")
        #expect(lines.count == 91)
        // Rows of one group share a cluster.
        let clusters = lines.dropFirst().map { $0.split(separator: ",")[0] }
        for g in 0..<3 { #expect(Set(stride(from: g, to: 90, by: 3).map { clusters[$0] }).count == 1) }
        let noTarget = try await CLI.run(
            ["train", "--data", "points.csv", "--task", "regression", "--learner", "linear"], in: dir)
        #expect(noTarget.status != 0 && noTarget.stderr.contains("--target is needed"))
    }

    @Test func tuneReturnsALeaderboard() async throws {
        var rows = "area,zone,price\n"
        for i in 0..<80 {
            rows += "\(500 + i * 20),\(["A", "B"][i % 2]),\(1000 + i * 40 + (i % 2) * 300 + (i % 7) * 11)\n"
        }
        let dir = try scratch(["houses.csv": rows])
        defer { try? FileManager.default.removeItem(at: dir) }
        let t = try await CLI.run(
            [
                "tune", "--data", "houses.csv", "--target", "price", "--task", "regression", "--learner", "linear",
                "--space", "alpha=0,10,1000", "--folds", "4", "--json", "-",
            ], in: dir)
        #expect(t.status == 0, "\(t.stderr)")
        let board = try #require(try JSONSerialization.jsonObject(with: Data(t.stdout.utf8)) as? [[String: Any]])
        #expect(board.count == 3)
        #expect(board.first?["rank"] as? Int == 1)
        #expect((board.first?["parameters"] as? [String: String])?["alpha"] == "0")
        let bad = try await CLI.run(
            [
                "tune", "--data", "houses.csv", "--target", "price", "--task", "regression", "--learner", "linear",
                "--space", "alpha",
            ], in: dir)
        #expect(bad.status != 0 && bad.stderr.contains("--space takes NAME=V1,V2"))
    }
}
