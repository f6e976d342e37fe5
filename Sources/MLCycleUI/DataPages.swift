import Foundation
import MLCycleQuality
import MLCycleReport
import MLCycleStore

/// The data pages: the tables runs collected, each with its columns, profile and validation reports.
extension WebUI {
    /// How many of the newest collect (and validate) runs the data pages look through.
    static let dataRunsRead = 500

    func datasetsPage(_ query: UIQuery) async throws -> Rendered {
        let project = try query.one("project")
        if let project, try await !store.projects().contains(project) {
            throw UIError(404, "no project called '\(project)' has run on this store")
        }
        let collected = try await store.runs(
            RunFilter(project: project, stage: "collect", status: .finished, limit: Self.dataRunsRead))
        var seen = Set<String>()
        var rows = [[String: Any]]()
        for run in collected {
            guard let fingerprint = run.outputs["fingerprint"], seen.insert(fingerprint).inserted,
                let snapshot = try await store.dataset(fingerprint: fingerprint)
            else { continue }
            rows.append([
                "fingerprint": fingerprint, "short": String(fingerprint.prefix(12)), "project": run.project,
                "rows": snapshot.rows, "columns": snapshot.schema.count, "created": UIFormat.time(snapshot.created),
                "createdSort": snapshot.created.timeIntervalSince1970, "profile": snapshot.profileArtifact != nil,
            ])
        }
        return render(
            "datasets",
            [
                "project": project as Any, "projectPath": project.map(Self.segment) as Any, "datasets": rows,
                "hasDatasets": !rows.isEmpty,
            ])
    }

    func snapshot(_ fingerprint: String) async throws -> DatasetSnapshot {
        guard fingerprint.count <= 128, let snapshot = try await store.dataset(fingerprint: fingerprint) else {
            throw UIError(404, "no dataset has the fingerprint '\(fingerprint.prefix(40))'")
        }
        return snapshot
    }

    func profile(_ snapshot: DatasetSnapshot) async throws -> TableProfile? {
        guard let sha = snapshot.profileArtifact else { return nil }
        return try JSONDecoder().decode(TableProfile.self, from: try await store.artifact(sha))
    }

    func datasetPage(_ fingerprint: String, _ query: UIQuery) async throws -> Rendered {
        let snapshot = try await snapshot(fingerprint)
        let profile = try await profile(snapshot)
        let profiled = Dictionary((profile?.columns ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let columns = snapshot.schema.map { entry -> [String: Any] in
            let parts = entry.split(separator: ":", maxSplits: 1).map(String.init)
            let name = parts.first ?? entry
            var row: [String: Any] = ["name": name, "type": parts.count > 1 ? parts[1] : ""]
            if let c = profiled[name] {
                let share = c.count + c.missing > 0 ? Double(c.missing) / Double(c.count + c.missing) : 0
                row["profiled"] =
                    [
                        "missing": "\(c.missing) (\(UIFormat.number(share * 100)) %)", "missingSort": c.missing,
                        "distinct": c.distinct, "mean": c.mean?.description ?? "", "min": c.min?.description ?? "",
                        "max": c.max?.description ?? "",
                    ] as [String: Any]
            }
            return row
        }
        // The validation reports the validate runs kept for this table.
        var reports = [[String: Any]]()
        let validated = try await store.runs(RunFilter(stage: "validate", limit: Self.dataRunsRead))
        for run in validated where run.outputs["fingerprint"] == fingerprint {
            for (key, sha) in run.outputs.sorted(by: { $0.key < $1.key }) where key.hasPrefix("report_") {
                let report = try JSONDecoder().decode(ValidationReport.self, from: try await store.artifact(sha))
                reports.append([
                    "table": String(key.dropFirst("report_".count)), "run": run.id, "when": UIFormat.time(run.started),
                    "verdict": report.passed
                        ? (report.failedWarnings > 0 ? "passed, \(report.failedWarnings) warnings" : "passed")
                        : "\(report.failedErrors) errors",
                    "kind": report.passed ? "pass" : "fail",
                    "results": report.results.map { r -> [String: Any] in
                        [
                            "rule": r.rule, "severity": r.severity.rawValue, "result": r.passed ? "passed" : "failed",
                            "kind": r.passed ? "pass" : "fail", "failing": r.failingRows, "message": r.message ?? "",
                        ]
                    },
                ])
            }
            if reports.count >= 10 { break }
        }
        return render(
            "dataset",
            [
                "fingerprint": fingerprint, "short": String(fingerprint.prefix(12)), "rows": snapshot.rows,
                "created": UIFormat.time(snapshot.created), "sources": snapshot.sources, "profile": profile != nil,
                "columns": columns, "reports": reports,
            ])
    }

    /// The profile's own page (the report `mlcycle profile` writes), as the store keeps it.
    func profileReport(_ fingerprint: String) async throws -> Rendered {
        let snapshot = try await snapshot(fingerprint)
        guard let profile = try await profile(snapshot) else {
            throw UIError(404, "no profile was made of the dataset \(fingerprint.prefix(12))")
        }
        return Rendered(html: ProfileReport.html(profile, title: "dataset \(fingerprint.prefix(12))"))
    }
}
