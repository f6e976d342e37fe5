import Foundation
import HTTPTypes
import Hummingbird
import MLCycleEvaluate
import MLCycleReport
import MLCycleStore
import NIOCore

/// The pages' content, read from the store: each builds the values its template shows.
extension WebUI {
    // MARK: Projects

    /// A project's latest whole run and its verdict, as rows and the project page show them.
    struct ProjectState {
        var latest: RunRecord?
        var verdictRun: RunRecord?
    }

    func projectState(_ name: String) async throws -> ProjectState {
        let latest = try await store.runs(RunFilter(project: name, stage: RunRecord.pipelineStage, limit: 1)).first
        let verdict = try await store.runs(
            RunFilter(project: name, stage: RunRecord.pipelineStage, status: .finished, limit: 1)
        ).first
        return ProjectState(latest: latest, verdictRun: verdict)
    }

    static func verdict(_ run: RunRecord?) -> [String: Any]? {
        guard let run, let passed = run.outputs["passed"] else { return nil }
        return [
            "kind": passed == "true" ? "pass" : "fail", "text": passed == "true" ? "gates passed" : "gates failed",
            "run": run.id, "when": UIFormat.time(run.started),
            "version": run.outputs["version"] as Any, "model": segment(run.project),
        ]
    }

    func projectsPage(_ query: UIQuery) async throws -> Rendered {
        let names = try await store.projects()
        let models = Set(try await store.modelNames())
        var rows = [[String: Any]]()
        for name in names {
            let state = try await projectState(name)
            var row: [String: Any] = [
                "name": name, "path": Self.segment(name), "goal": state.verdictRun?.params["goal"] ?? "",
            ]
            if let latest = state.latest {
                row["latest"] = [
                    "id": latest.id, "started": UIFormat.time(latest.started), "status": latest.status.rawValue,
                ]
            }
            row["verdict"] = Self.verdict(state.verdictRun)
            if models.contains(name) {
                let aliases = try await store.aliases(name).sorted { $0.key < $1.key }
                row["model"] = [
                    "name": name, "path": Self.segment(name),
                    "aliases": aliases.map { "\($0.key) v\($0.value)" }.joined(separator: ", "),
                ]
            }
            rows.append(row)
        }
        return render("projects", ["projects": rows, "any": !rows.isEmpty])
    }

    func projectPage(_ name: String, _ query: UIQuery) async throws -> Rendered {
        guard try await store.projects().contains(name) else {
            throw UIError(404, "no project called '\(name)' has run on this store")
        }
        let state = try await projectState(name)
        var values: [String: Any] = ["name": name, "path": Self.segment(name)]
        if let params = (state.verdictRun ?? state.latest)?.params {
            values["problem"] = [
                "goal": params["goal"] as Any, "success": params["success"] as Any, "task": params["task"] ?? "",
                "target": params["target"] ?? "", "owner": params["owner"] as Any, "scope": params["scope"] as Any,
            ]
        }
        values["verdict"] = Self.verdict(state.verdictRun)
        values["hasModel"] = try await store.modelNames().contains(name)
        let pipelines = try await store.runs(RunFilter(project: name, stage: RunRecord.pipelineStage, limit: 20))
        values["pipelines"] = pipelines.map(pipelineRow)
        values["hasPipelines"] = !pipelines.isEmpty
        return render("project", values)
    }

    func pipelineRow(_ run: RunRecord) -> [String: Any] {
        let took = UIFormat.took(run.started, run.ended)
        return [
            "id": run.id, "started": UIFormat.time(run.started), "startedSort": run.started.timeIntervalSince1970,
            "status": run.status.rawValue, "took": took.text, "secondsSort": took.seconds,
            "chosen": run.outputs["chosen"] ?? "", "model": Self.segment(run.project),
            "gates": run.outputs["passed"].map { $0 == "true" ? "passed" : "failed" } ?? "—",
            "version": run.outputs["version"] as Any,
        ]
    }

    /// The pager's values (none when everything fits on one page).
    static func pager(_ page: Int, of pages: Int, link: (Int) -> String) -> Any {
        guard pages > 1 else { return false }
        return [
            "page": page, "pages": pages, "previous": (page > 1 ? link(page - 1) : nil) as Any,
            "next": (page < pages ? link(page + 1) : nil) as Any,
        ] as [String: Any]
    }

    // MARK: Runs

    /// The stages a run can be of, for the filter.
    static let stages = [
        "pipeline", "collect", "validate", "profile", "prepare", "train", "evaluate", "register", "retrain",
    ]

    func runsPage(_ query: UIQuery) async throws -> Rendered {
        let project = try query.one("project")
        let stage = try query.one("stage")
        if let stage, !Self.stages.contains(stage) {
            throw UIError(
                400, "'stage' must be one of \(Self.stages.joined(separator: ", ")); got '\(stage.prefix(40))'")
        }
        let status = try query.choice("status", RunStatus.self)
        let learner = try query.one("learner")
        let since = try query.day("since")
        let until = try query.day("until")
        if let since, let until, until < since {
            throw UIError(400, "'until' (\(UIFormat.day(until))) is before 'since' (\(UIFormat.day(since)))")
        }
        let order = try query.choice("order", RunFilter.Order.self) ?? .newest
        let page = try query.integer("page", in: 1...1_000_000) ?? 1
        var filter = RunFilter(
            project: project, stage: stage, status: status, learner: learner, since: since,
            before: until.map { $0.addingTimeInterval(86_400) }, order: order)
        let total = try await store.countRuns(filter)
        let pages = max(1, (total + Self.pageSize - 1) / Self.pageSize)
        guard page <= pages else { throw UIError(404, "there are \(pages) pages of these runs, not \(page)") }
        filter.offset = (page - 1) * Self.pageSize
        filter.limit = Self.pageSize
        let runs = try await store.runs(filter)
        let projects = try await store.projects()

        // The filters as a query, for the pager's links.
        var kept = [String]()
        for (name, value) in [
            ("project", project), ("stage", stage), ("status", status?.rawValue), ("learner", learner),
            ("since", since.map(UIFormat.day)), ("until", until.map(UIFormat.day)),
            ("order", order == .newest ? nil : order.rawValue),
        ] {
            if let value { kept.append("\(name)=\(Self.queryValue(value))") }
        }
        func link(_ page: Int) -> String { "\(base)/runs?" + (kept + ["page=\(page)"]).joined(separator: "&") }
        func options(_ values: [String], _ chosen: String?) -> [[String: Any]] {
            values.map { ["value": $0, "selected": $0 == chosen] }
        }
        let first = filter.offset + 1
        return render(
            "runs",
            [
                "projects": options(projects, project), "stages": options(Self.stages, stage),
                "statuses": options(RunStatus.allCases.map(\.rawValue), status?.rawValue),
                "orders": options(RunFilter.Order.allCases.map(\.rawValue), order.rawValue),
                "learners": ["baseline", "linear", "logistic", "tree", "forest", "gbdt"],
                "learner": learner ?? "", "since": since.map(UIFormat.day) ?? "",
                "until": until.map(UIFormat.day) ?? "",
                "summary": total == 0
                    ? "No run matches."
                    : "Runs \(first)–\(first + runs.count - 1) of \(total), \(order.rawValue) first.",
                "runs": runs.map(runRow), "hasRuns": !runs.isEmpty,
                "pager": Self.pager(page, of: pages, link: link),
            ])
    }

    /// What a run was about, in a few words: a training run's candidate and learner, a whole run's choice.
    static func what(_ run: RunRecord) -> String {
        if run.stage == RunRecord.pipelineStage {
            return run.outputs["chosen"].map { "chose \($0)" + (run.outputs["version"].map { ", v\($0)" } ?? "") } ?? ""
        }
        return [run.params["candidate"], run.params["learner"].map { "(\($0))" }, run.params["fit"]]
            .compactMap { $0 }.joined(separator: " ")
    }

    func runRow(_ run: RunRecord) -> [String: Any] {
        let took = UIFormat.took(run.started, run.ended)
        return [
            "id": run.id, "project": run.project, "stage": run.stage, "what": Self.what(run),
            "status": run.status.rawValue, "started": UIFormat.time(run.started),
            "startedSort": run.started.timeIntervalSince1970, "took": took.text, "secondsSort": took.seconds,
        ]
    }

    /// The stages of a whole run as its summary (an artefact) lists them.
    struct StoredSummary: Decodable {
        struct Stage: Decodable {
            var stage: String
            var status: String
            var seconds: Double
            var run: Int64?
            var detail: String
        }
        var stages: [Stage]
    }

    func runPage(_ id: Int64, _ query: UIQuery) async throws -> Rendered {
        guard let run = try await store.run(id) else { throw UIError(404, "no run has the id \(id)") }
        let took = UIFormat.took(run.started, run.ended)
        var values: [String: Any] = [
            "id": run.id, "stage": run.stage, "status": run.status.rawValue, "project": run.project,
            "projectPath": Self.segment(run.project), "started": UIFormat.time(run.started), "took": took.text,
            "pipeline": run.tags["pipeline"].flatMap { Int64($0) } as Any, "commit": run.gitCommit as Any,
            "specHash": run.specHash as Any, "host": run.host, "pid": run.pid, "mlcycleVersion": run.mlcycleVersion,
        ]
        if let summarySHA = run.outputs["summary"],
            let summary = try? JSONDecoder().decode(StoredSummary.self, from: try await store.artifact(summarySHA))
        {
            values["stages"] = summary.stages.map {
                [
                    "stage": $0.stage, "status": $0.status, "took": UIFormat.duration($0.seconds),
                    "run": $0.run as Any, "detail": $0.detail,
                ] as [String: Any]
            }
            values["hasStages"] = !summary.stages.isEmpty
        }
        values["params"] = run.params.sorted { $0.key < $1.key }.map { ["name": $0.key, "value": $0.value] }
        values["hasParams"] = !run.params.isEmpty
        values["tags"] = run.tags.sorted { $0.key < $1.key }.map { ["name": $0.key, "value": $0.value] }
        values["hasTags"] = !run.tags.isEmpty
        let points = try await store.metrics(run: id)
        let byName = Dictionary(grouping: points, by: \.name)
        values["metrics"] = byName.keys.sorted().map { name -> [String: Any] in
            let series = byName[name] ?? []
            let last = series.max { $0.step < $1.step }?.value ?? .nan
            return ["name": name, "value": UIFormat.number(last), "sort": last, "steps": series.count]
        }
        values["hasMetrics"] = !points.isEmpty
        values["charts"] = byName.keys.sorted().filter { (byName[$0]?.count ?? 0) > 1 }.prefix(12).map { name in
            let series = HistoryChart.Series(
                name: "run \(id)", points: (byName[name] ?? []).map { (Double($0.step), $0.value) })
            return ["name": name, "svg": HistoryChart.svg([series], title: name, xLabel: "step", yLabel: name)]
        }
        values["outputs"] = run.outputs.sorted { $0.key < $1.key }.map { key, value -> [String: Any] in
            var href: String?
            if key == "version", run.stage == RunRecord.pipelineStage || run.stage == "register" {
                href = "\(base)/models/\(Self.segment(run.project))/\(value)"
            } else if key.hasSuffix("_run"), Int64(value) != nil {
                href = "\(base)/runs/\(value)"
            }
            if key == "fingerprint" {
                href = "\(base)/data/\(Self.segment(value))"  // a dataset's, not an artefact
            } else if href == nil && UIFormat.isArtefact(value) {
                href = "\(base)/artefacts/\(value)"
            }
            return [
                "name": key, "value": UIFormat.isArtefact(value) ? String(value.prefix(12)) : value,
                "href": href as Any,
            ]
        }
        values["hasOutputs"] = !run.outputs.isEmpty
        values["report"] = run.outputs["evaluation"] != nil
        let log = try await store.logs(run: id)
        values["log"] = log.suffix(2_000).map { $0 }
        values["hasLog"] = !log.isEmpty
        return render("run", values)
    }

    // MARK: Comparing runs

    func comparePage(_ query: UIQuery) async throws -> Rendered {
        let texts = query.all("run").flatMap { $0.split(separator: ",").map(String.init) }
        guard texts.count >= 2 else {
            throw UIError(400, "tick two or more runs to compare (the address names them as ?run=1&run=2)")
        }
        guard texts.count <= 10 else {
            throw UIError(400, "compare at most 10 runs at once; \(texts.count) were asked for")
        }
        var runs = [RunRecord]()
        for text in texts {
            guard let id = Int64(text.trimmingCharacters(in: .whitespaces)), id > 0 else {
                throw UIError(400, "'\(text.prefix(40))' is not a run id")
            }
            guard let run = try await store.run(id) else { throw UIError(404, "no run has the id \(id)") }
            if !runs.contains(where: { $0.id == id }) { runs.append(run) }
        }
        guard runs.count >= 2 else { throw UIError(400, "the same run twice: tick two different runs") }

        let names = Set(runs.flatMap(\.params.keys)).sorted()
        let params = names.map { name -> [String: Any] in
            let values = runs.map { $0.params[name] ?? "—" }
            return ["name": name, "values": values, "differs": Set(values).count > 1]
        }
        var histories = [String: [HistoryChart.Series]]()
        var lastValues = [[String: Double]]()
        for run in runs {
            let points = try await store.metrics(run: run.id)
            var last = [String: Double]()
            for (name, series) in Dictionary(grouping: points, by: \.name) {
                last[name] = series.max { $0.step < $1.step }?.value
                if series.count > 1 {
                    histories[name, default: []].append(
                        .init(name: "run \(run.id)", points: series.map { (Double($0.step), $0.value) }))
                }
            }
            lastValues.append(last)
        }
        let metricNames = Set(lastValues.flatMap(\.keys)).sorted()
        let metrics = metricNames.map { name -> [String: Any] in
            let reference = lastValues[0][name]
            let cells = lastValues.enumerated().map { index, values -> [String: Any] in
                guard let v = values[name] else { return ["value": "—"] }
                let delta = index > 0 ? reference.map { UIFormat.delta(v - $0) } : nil
                return ["value": UIFormat.number(v), "delta": delta as Any]
            }
            let present = lastValues.compactMap { $0[name] }
            return ["name": name, "cells": cells, "differs": Set(present).count > 1 || present.count < runs.count]
        }
        let charts = histories.keys.sorted().prefix(12).map { name in
            ["name": name, "svg": HistoryChart.svg(histories[name] ?? [], title: name, xLabel: "step", yLabel: name)]
        }
        return render(
            "compare",
            [
                "ids": runs.map { String($0.id) }.joined(separator: ", "), "first": runs[0].id,
                "runs": runs.map { ["id": $0.id, "label": "\($0.project) \($0.stage) \(Self.what($0))"] },
                "params": params, "metrics": metrics, "charts": charts, "hasCharts": !charts.isEmpty,
            ])
    }

    // MARK: Models

    func releaseText(_ release: ReleaseState?) -> String {
        guard let release else { return "" }
        return "v\(release.version): step \(release.step), \(UIFormat.number(release.share * 100)) % of requests"
    }

    func modelsPage(_ query: UIQuery) async throws -> Rendered {
        var rows = [[String: Any]]()
        for name in try await store.modelNames() {
            let aliases = try await store.aliases(name).sorted { $0.key < $1.key }
            rows.append([
                "name": name, "path": Self.segment(name), "versions": try await store.modelVersionCount(name),
                "aliases": aliases.map { ["alias": $0.key, "version": $0.value] },
                "release": releaseText(try await store.release(name)),
            ])
        }
        return render("models", ["models": rows, "hasModels": !rows.isEmpty])
    }

    /// The audit trail as rows, newest first.
    func auditRows(_ entries: [AuditEntry]) -> [[String: Any]] {
        entries.sorted { ($0.at, $0.id) > ($1.at, $1.id) }.map {
            [
                "at": UIFormat.time($0.at), "actor": $0.actor, "action": $0.action, "version": $0.version as Any,
                "previous": $0.previousVersion as Any, "alias": $0.alias ?? "", "reason": $0.reason,
            ]
        }
    }

    static func gateSummary(_ version: ModelVersion) -> (text: String, kind: String) {
        version.gates.isEmpty
            ? ("no gates", "none") : version.gatesPassed ? ("gates passed", "pass") : ("gates failed", "fail")
    }

    func modelPage(_ name: String, _ query: UIQuery) async throws -> Rendered {
        let count = try await store.modelVersionCount(name)
        guard count > 0 else { throw UIError(404, "no model called '\(name)' is registered") }
        let page = try query.integer("page", in: 1...1_000_000) ?? 1
        let pages = max(1, (count + Self.pageSize - 1) / Self.pageSize)
        guard page <= pages else { throw UIError(404, "model \(name) has \(pages) pages of versions, not \(page)") }
        let aliases = try await store.aliases(name)
        let audit = try await store.audit(AuditFilter(model: name, limit: 200))
        let shown = try await store.newestModelVersions(
            name, offset: (page - 1) * Self.pageSize, limit: Self.pageSize)
        let metricNames = Array(Set(shown.flatMap(\.metrics.keys)).sorted().prefix(6))
        var aliasRows = [[String: Any]]()
        for (alias, version) in aliases.sorted(by: { $0.key < $1.key }) {
            let moved = try await store.audit(AuditFilter(model: name, alias: alias, limit: 1)).first
            aliasRows.append([
                "alias": alias, "version": version, "since": moved.map { UIFormat.time($0.at) } ?? "",
                "actor": moved?.actor ?? "", "reason": moved?.reason ?? "",
            ])
        }
        var releaseValues: [String: Any]?
        if let release = try await store.release(name) {
            releaseValues = [
                "version": release.version, "step": release.step,
                "share": UIFormat.number(release.share * 100) + " %", "since": UIFormat.time(release.since),
                "started": UIFormat.time(release.started),
                "failedChecks": (release.failedChecks > 0 ? release.failedChecks : nil) as Any,
            ]
        }
        func link(_ page: Int) -> String { "\(base)/models/\(Self.segment(name))?page=\(page)" }
        let rollback = aliases.keys.sorted().map { alias in
            ActionForm(
                action: "rollback", title: "Roll \(alias) back to the version it had before", button: "Roll back",
                model: name, askAlias: false, alias: alias)
        }
        var values = actionValues(rollback, verbs: "roll an alias back", here: "\(base)/models/\(Self.segment(name))")
        values["notice"] = try await notice(query, model: name)
        return render(
            "model",
            values.merging([
                "name": name, "path": Self.segment(name), "aliases": aliasRows, "hasAliases": !aliasRows.isEmpty,
                "release": releaseValues as Any, "metricNames": metricNames,
                "versions": shown.map { v -> [String: Any] in
                    let gates = Self.gateSummary(v)
                    return [
                        "version": v.version, "created": UIFormat.time(v.created),
                        "createdSort": v.created.timeIntervalSince1970, "gates": gates.text, "gateKind": gates.kind,
                        "metrics": metricNames.map { m in
                            ["value": v.metrics[m].map(UIFormat.number) ?? "—", "sort": v.metrics[m] ?? .nan]
                        },
                        "aliases": aliases.filter { $0.value == v.version }.map(\.key).sorted().joined(separator: ", "),
                    ]
                },
                "pager": Self.pager(page, of: pages, link: link),
                "audit": auditRows(audit), "hasAudit": !audit.isEmpty,
            ]) { _, page in page })
    }

    func versionPage(_ name: String, _ number: Int, _ query: UIQuery) async throws -> Rendered {
        guard let version = try await store.modelVersion(name, version: number) else {
            throw UIError(404, "model '\(name)' has no version \(number)")
        }
        let aliases = try await store.aliases(name).filter { $0.value == number }.map(\.key).sorted()
        let audit = try await store.audit(AuditFilter(model: name, version: number, limit: 200))
        let gates = Self.gateSummary(version)
        let path = Self.segment(name)
        var run: LineageChart.Node?
        var evaluation: Int64?
        if let id = version.run {
            let record = try await store.run(id)
            // The evaluate stage of the whole run that registered it holds the evaluation report.
            if let parent = record?.tags["pipeline"].flatMap(Int64.init),
                let evaluated = try await store.run(parent)?.outputs["evaluate_run"].flatMap(Int64.init),
                try await store.run(evaluated)?.outputs["evaluation"] != nil
            {
                evaluation = evaluated
            }
            run = .init(
                label: "run \(id)" + (record.map { " (\($0.stage))" } ?? ""),
                detail: record.map { UIFormat.time($0.started) } ?? "", href: "\(base)/runs/\(id)")
        }
        let lineage = LineageChart.svg(
            datasets: version.datasets.map {
                .init(label: "data \($0.prefix(12))", detail: "fingerprint", href: "\(base)/data/\(Self.segment($0))")
            },
            run: run, version: .init(label: "\(name) v\(number)", detail: gates.text, href: nil),
            aliases: aliases.map { .init(label: $0, detail: "alias", href: "\(base)/models/\(path)") })
        let gateRows = version.gates.map { gate -> [String: Any] in
            let passed = gate.hasPrefix("passed: ")
            return [
                "kind": passed ? "pass" : "fail", "mark": passed ? "✓" : "✗",
                "text": passed ? String(gate.dropFirst("passed: ".count)) : gate,
            ]
        }
        var forms = [
            ActionForm(
                action: "promote", title: "Promote v\(number)", button: "Promote", model: name, version: number,
                askAlias: true, alias: "champion", override: !version.gatesPassed && !version.gates.isEmpty)
        ]
        if version.gatesPassed && !aliases.contains("champion") {
            forms.append(
                ActionForm(
                    action: "approve", title: "Approve v\(number) as the champion", button: "Approve", model: name,
                    version: number))
        }
        var values = actionValues(
            forms, verbs: "promote or approve this version", here: "\(base)/models/\(path)/\(number)")
        values["notice"] = try await notice(query, model: name)
        values["evaluation"] = evaluation
        return render(
            "version",
            values.merging([
                "name": name, "path": path, "version": number, "created": UIFormat.time(version.created),
                "aliases": aliases, "bundle": version.bundle, "bundleShort": String(version.bundle.prefix(12)),
                "specHash": version.specHash as Any, "gates": gates.text, "gateKind": gates.kind,
                "gateRows": gateRows, "hasGates": !gateRows.isEmpty, "lineage": lineage,
                "metrics": version.metrics.sorted { $0.key < $1.key }.map {
                    ["name": $0.key, "value": UIFormat.number($0.value)]
                },
                "audit": auditRows(audit), "hasAudit": !audit.isEmpty,
            ]) { _, page in page })
    }

    /// The evaluation report an evaluate run kept (metrics, slices, fairness, explanations), as `mlcycle run` writes it.
    func reportPage(_ id: Int64) async throws -> Rendered {
        guard let run = try await store.run(id), let sha = run.outputs["evaluation"] else {
            throw UIError(404, "run \(id) kept no evaluation report (only an evaluate stage does)")
        }
        let report = try JSONDecoder().decode(EvaluationReport.self, from: try await store.artifact(sha))
        return Rendered(html: EvaluationReportPage.html(report, title: "\(run.project): evaluation (run \(id))"))
    }

    /// An artefact's bytes, as a download.
    func artefact(_ sha: String) async throws -> Response {
        guard UIFormat.isArtefact(sha) else { throw UIError(404, "'\(sha.prefix(40))' is not an artefact's hash") }
        let data = try await store.artifact(sha)
        var headers = HTTPFields()
        headers[.contentType] = "application/octet-stream"
        headers[.contentDisposition] = "attachment; filename=\"\(sha.prefix(12))\""
        Self.securityHeaders(&headers)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
