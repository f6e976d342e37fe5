import Foundation
import Testing

/// `mlcycle init`, `run` and the registry commands, driven through the real binary.
@Suite(.serialized) struct ProjectCLITests {
    func newProject(_ template: String = "regression") async throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "mlcycle-cli-project-\(UUID().uuidString)")
        let r = try await CLI.run(["init", dir.path, "--template", template])
        #expect(r.status == 0, "\(r.stderr)")
        return dir
    }

    @Test func initRunTwiceAndTheRegistryCommands() async throws {
        let dir = try await newProject()
        #expect(try await CLI.run(["init", dir.path]).status == 2)  // never overwrites a project
        let first = try await CLI.run(["run", dir.path])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(
            first.stdout.contains("leaderboard") && first.stdout.contains("registered prices v1 as champion"),
            "\(first.stdout)")
        let second = try await CLI.run(["run", dir.path, "--json", "-"])
        #expect(second.status == 0)
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any])
        let statuses = (summary["stages"] as? [[String: Any]] ?? []).compactMap { $0["status"] as? String }
        // Seven stages, with one training run per candidate and the final fit of the chosen one (and the baseline).
        let candidates = (summary["leaderboard"] as? [[String: Any]])?.count ?? 0
        let finalFits = summary["chosen"] as? String == "baseline" ? 1 : 2
        #expect(statuses.count == 6 + candidates + finalFits && statuses.allSatisfy { $0 == "cached" })
        let selection = summary["selection"] as? [String: Any]
        #expect(selection?["method"] as? String == "validation" && (selection?["test_rows"] as? Int ?? 0) > 0)

        let store = dir.appendingPathComponent(".mlcycle").path
        // A second version (forced training with a different seed of the split is a new dataset split → new models).
        let spec = dir.appendingPathComponent("mlcycle.yaml")
        try (try String(contentsOf: spec, encoding: .utf8)).replacingOccurrences(of: "seed: 42", with: "seed: 7").write(
            to: spec, atomically: true, encoding: .utf8)
        let third = try await CLI.run(["run", dir.path])
        #expect(third.status == 0 && third.stdout.contains("registered prices v2 as challenger"), "\(third.stdout)")
        let models = try await CLI.run(["models", "--store", store])
        #expect(models.stdout.contains("prices: 2 versions; challenger → v2, champion → v1"), "\(models.stdout)")
        // Each version on a line of its own: number, when, its gates, its metric and the aliases on it.
        #expect(models.stdout.contains("  v2 ") && models.stdout.contains("gates passed  mape "), "\(models.stdout)")
        let listed = try await CLI.run(["models", "--store", store, "--json", "-"])
        let catalog = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        let versions = catalog.first?["versions"] as? [[String: Any]] ?? []
        #expect(catalog.first?["name"] as? String == "prices" && versions.map { $0["version"] as? Int } == [2, 1])
        #expect(
            versions.first?["aliases"] as? [String] == ["challenger"] && versions.last?["gates_passed"] as? Bool == true
        )
        #expect((versions.first?["metrics"] as? [String: Double])?["mape"] != nil && versions.first?["created"] != nil)
        #expect(
            try await CLI.run(["promote", "prices:2", "--reason", "better on fresh data", "--store", store]).stdout
                .contains(
                    "champion → v2"))
        #expect(
            try await CLI.run(["model", "prices", "--store", store]).stdout.hasPrefix(
                "prices v2 (challenger, champion)"))
        #expect(
            try await CLI.run(["rollback", "prices", "--reason", "complaints", "--store", store]).stdout.contains(
                "champion → v1"))
        let lineage = try await CLI.run(["lineage", "prices@champion", "--store", store, "--json", "-"])
        let l = try #require(try JSONSerialization.jsonObject(with: Data(lineage.stdout.utf8)) as? [String: Any])
        let model = try #require(l["model"] as? [String: Any])
        let datasets = try #require(l["datasets"] as? [[String: Any]])
        #expect(
            model["version"] as? Int == 1
                && datasets.first?["fingerprint"] as? String == (model["datasets"] as? [String])?.first)
        let audit = (l["audit"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
        #expect(audit == ["register", "promote", "rollback"], "\(audit)")
        let report = try await CLI.run([
            "report", "prices:2", "--html", dir.appendingPathComponent("r.html").path, "--store", store,
        ])
        let page = try String(contentsOf: dir.appendingPathComponent("r.html"), encoding: .utf8)
        #expect(report.status == 0 && page.contains("id=\"verdict\""))
        // Batch scoring by name: the registered bundle applies its own preparation, scope and range.
        try "id,area_sqft,rooms,district,built\n1,1500,3,north,1990\n2,50000,9,south,2000\n".write(
            to: dir.appendingPathComponent("new.csv"), atomically: true, encoding: .utf8)
        let scored = try await CLI.run([
            "predict", "--model", "prices@champion", "--store", store, "--data",
            dir.appendingPathComponent("new.csv").path, "--out", "-",
        ])
        let lines = scored.stdout.split(separator: "\n")
        #expect(
            scored.status == 0 && lines.first == "prediction,lower,upper,confidence,status,reasons" && lines.count == 3,
            "\(scored.stdout)\(scored.stderr)")
        #expect(
            lines.count == 3 && lines[1].hasSuffix(",ok,") && lines[2].contains(",review,outside scope"),
            "\(scored.stdout)")

        // A person approves the challenger (audited); the version must be named.
        let approved = try await CLI.run([
            "approve", "prices:2", "--reason", "reviewed the slices", "--as", "lead", "--project", dir.path,
        ])
        #expect(
            approved.status == 0 && approved.stdout.contains("champion → v2 (approved by lead)"), "\(approved.stderr)")
        let unnamed = try await CLI.run(["approve", "prices", "--reason", "x", "--project", dir.path])
        #expect(unnamed.status != 0 && unnamed.stderr.contains("NAME:VERSION"), "\(unnamed.stderr)")
        // One monitoring pass with nothing served yet: the rule cannot be measured and says so; nothing fires.
        let monitored = try await CLI.run([
            "monitor", "prices", "--project", dir.path, "--json", "-", "--html",
            dir.appendingPathComponent("m.html").path,
        ])
        let m = try #require(
            try JSONSerialization.jsonObject(with: Data(monitored.stdout.utf8)) as? [String: Any], "\(monitored.stderr)"
        )
        let checks = m["alerts"] as? [[String: Any]] ?? []
        #expect(m["version"] as? String == "v2" && checks.count == 1 && checks[0]["fired"] as? Bool == false)
        #expect((checks.first?["reason"] as? String)?.contains("nothing served") == true)
        #expect(
            try String(contentsOf: dir.appendingPathComponent("m.html"), encoding: .utf8).contains("No alert firing"))
        #expect(
            try await CLI.run(["alerts", "prices", "--store", store]).stdout.contains("no alert has fired for prices"))
        // A version that fails its gates is promoted only on a person's explicit, audited override.
        try (try String(contentsOf: spec, encoding: .utf8)).replacingOccurrences(of: "seed: 7", with: "seed: 11")
            .replacingOccurrences(of: "- mape <= baseline ", with: "- r2 >= 1.5\n    - mape <= baseline ").write(
                to: spec, atomically: true, encoding: .utf8)
        let failing = try await CLI.run(["run", dir.path])
        #expect(failing.stdout.contains("registered as prices v3, not promotable"), "\(failing.stdout)")
        #expect(failing.status == 3)  // a failed gate stops a CI/CD job
        let refused = try await CLI.run(["promote", "prices:3", "--reason", "trial", "--store", store])
        #expect(refused.status == 2 && refused.stderr.contains("--override-gates"))
        #expect(
            try await CLI.run(["promote", "prices:3", "--reason", "trial", "--override-gates", "--store", store]).stdout
                .contains("champion → v3"))
        let overridden = try await CLI.run(["lineage", "prices:3", "--store", store, "--json", "-"])
        let o = try #require(try JSONSerialization.jsonObject(with: Data(overridden.stdout.utf8)) as? [String: Any])
        #expect(
            (o["audit"] as? [[String: Any]] ?? []).contains { $0["action"] as? String == "promote (gates overridden)" })
        #expect(try await CLI.run(["model", "nothing", "--store", store]).status == 2)
        #expect(try await CLI.run(["run", dir.path, "--from", "nowhere"]).status != 0)
    }

    @Test func aBadSpecIsOneMessageWithEveryProblem() async throws {
        let dir = try await newProject()
        try "problem: {name: x, task: guess}\nsources: []\n".write(
            to: dir.appendingPathComponent("mlcycle.yaml"), atomically: true, encoding: .utf8)
        let r = try await CLI.run(["run", dir.path])
        #expect(r.status == 2)
        #expect(r.stderr.contains("problem.task") && r.stderr.contains("candidates"), "\(r.stderr)")
    }

    @Test func aRunKilledMidTrainLeavesAFailedRunAndNoModel() async throws {
        let dir = try await newProject()
        let spec = dir.appendingPathComponent("mlcycle.yaml")
        let text = try String(contentsOf: spec, encoding: .utf8)
        try text.replacingOccurrences(of: "n_estimators: 300", with: "n_estimators: 100000").write(
            to: spec, atomically: true, encoding: .utf8)
        let binary = try #require(CLI.binary)
        let process = Process()
        process.executableURL = binary
        process.arguments = ["run", dir.path, "--quiet"]
        try launch(process)
        // Wait until the gbdt is training (the store says so), then kill the process outright.
        let database = dir.appendingPathComponent(".mlcycle/store.sqlite").path
        var training = false
        for _ in 0..<600 where !training {
            try await Task.sleep(for: .milliseconds(100))
            let q = try await CLI.run(["runs", "--store", dir.appendingPathComponent(".mlcycle").path, "--json", "-"])
            let runs = (try? JSONSerialization.jsonObject(with: Data(q.stdout.utf8)) as? [[String: Any]]) ?? []
            training = runs.contains {
                $0["stage"] as? String == "train" && $0["status"] as? String == "running"
                    && ($0["params"] as? [String: String])?["candidate"] == "gbdt"
            }
        }
        #expect(training && FileManager.default.fileExists(atPath: database))
        kill(process.processIdentifier, SIGKILL)
        await waitForExit(process)
        // The next command that opens the store finds the dead run and marks it failed; nothing half-made is registered.
        let runs = try await CLI.run(["runs", "--store", dir.appendingPathComponent(".mlcycle").path, "--json", "-"])
        let list = try #require(try JSONSerialization.jsonObject(with: Data(runs.stdout.utf8)) as? [[String: Any]])
        #expect(
            list.first?["stage"] as? String == "train" && list.first?["status"] as? String == "failed",
            "\(list.first ?? [:])")
        #expect(try await CLI.run(["models", "--store", dir.appendingPathComponent(".mlcycle").path]).stdout.isEmpty)
        // And the project runs to the end afterwards (the finished stages before the kill are reused).
        try text.write(to: spec, atomically: true, encoding: .utf8)
        let again = try await CLI.run(["run", dir.path, "--json", "-"])
        #expect(again.status == 0, "\(again.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])
        let stages = (summary["stages"] as? [[String: Any]] ?? []).map { "\($0["stage"] ?? ""):\($0["status"] ?? "")" }
        #expect(
            stages.prefix(5) == [
                "collect:cached", "validate:cached", "profile:cached", "prepare:cached", "train:cached",
            ], "\(stages)")
        #expect((summary["registered"] as? [String: Any])?["version"] as? Int == 1)
    }

    @Test func twoProcessesRunningAtOnceShareOneStore() async throws {
        let a = try await newProject()
        let b = try await newProject("binary")
        let store = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-shared-\(UUID().uuidString)")
            .path
        let binary = try #require(CLI.binary)
        let processes = [a, b].map { dir -> Process in
            let p = Process()
            p.executableURL = binary
            p.arguments = ["run", dir.path, "--store", store, "--quiet"]
            return p
        }
        for p in processes { try launch(p) }
        for p in processes { await waitForExit(p) }
        #expect(processes.map(\.terminationStatus) == [0, 0])
        let models = try await CLI.run(["models", "--store", store])
        #expect(
            models.stdout.contains("churn: 1 version") && models.stdout.contains("prices: 1 version"),
            "\(models.stdout)")
        let runs = try await CLI.run(["runs", "--store", store, "--json", "-", "--limit", "100"])
        let list = try #require(try JSONSerialization.jsonObject(with: Data(runs.stdout.utf8)) as? [[String: Any]])
        #expect(list.allSatisfy { $0["status"] as? String == "finished" })
        // Per project: the pipeline run, seven stages with two candidates, then the final fit of the chosen one and the
        // baseline.
        for project in ["prices", "churn"] {
            let own = list.filter { $0["project"] as? String == project }
            let finals = own.filter { ($0["params"] as? [String: String])?["fit"] == "final" }.count
            #expect(own.count == 9 + finals && (1...2).contains(finals), "\(project): \(own.count) runs")
        }
    }

    /// `retrain`, `watch --once` and `replay` through the binary: the project name is checked, a manual retraining
    /// with no served rows registers the pipeline's model again and says so, a step of `watch` reports, and a replay
    /// of a file without its time column says what is missing.
    @Test func retrainWatchAndReplayCommands() async throws {
        let dir = try await newProject()
        #expect(try await CLI.run(["run", dir.path, "--quiet"]).status == 0)
        let wrong = try await CLI.run(["retrain", "other", "--project", dir.path])
        #expect(wrong.status != 0 && wrong.stderr.contains("is the project 'prices', not 'other'"), "\(wrong.stderr)")
        let retrain = try await CLI.run([
            "retrain", "prices", "--project", dir.path, "--reason", "by hand", "--json", "-",
        ])
        #expect(retrain.status == 0, "\(retrain.stderr)")
        let outcome = try #require(try JSONSerialization.jsonObject(with: Data(retrain.stdout.utf8)) as? [String: Any])
        #expect(
            outcome["trigger"] as? String == "manual" && outcome["reason"] as? String == "by hand"
                && outcome["feedback_rows"] as? Int == 0)
        #expect(outcome["verdict"] as? String == "unchanged", "\(outcome)")
        let runs = try await CLI.run(["runs", "--store", dir.appendingPathComponent(".mlcycle").path])
        #expect(runs.stdout.contains("retrain"), "\(runs.stdout)")
        let watch = try await CLI.run(["watch", dir.path, "--once", "--now", "2030-01-01T00:00:00Z"])
        #expect(watch.status == 0 && watch.stdout.hasPrefix("2030-01-01T00:00:00Z"), "\(watch.stdout)\(watch.stderr)")
        try "price,area_sqft\n1,2\n".write(
            to: dir.appendingPathComponent("past.csv"), atomically: true, encoding: .utf8)
        let replay = try await CLI.run([
            "replay", dir.appendingPathComponent("past.csv").path, "--model", "prices", "--time", "sold", "--actual",
            "price",
            "--url", "http://127.0.0.1:9",
        ])
        #expect(replay.status == 2 && replay.stderr.contains("no column 'sold'"), "\(replay.stderr)")
    }
}
