import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCycleLearn
import MLCycleMetrics
import MLCycleMonitor
import MLCyclePrep
import MLCycleQuality
import Yams

/// A whole project, as `mlcycle.yaml` declares it, in the order of the lifecycle.
public struct ProjectSpec: Sendable {
    public struct Problem: Sendable, Equatable {
        public var name: String
        public var owner: String?
        public var task: Task
        public var target: String
        public var goal: String?
        /// The success metric and threshold, as a gate rule (`within_10pct >= 0.80`).
        public var success: String?
        /// Row conditions (expressions) on the inputs or on the model's answer (`prediction`): rows outside an input
        /// rule are left out of training; at serving, a row outside any rule is answered for review (or unavailable).
        public var scope: [String]
        /// Per scope rule, what a served row outside it gets: `review` (the estimate, flagged) or `unavailable`.
        public var scopeOtherwise: [String] = []
        /// Inputs a served row must carry: one without is `unavailable`, never imputed.
        public var required: [String] = []

        /// The scope rules on the model's answer (they read `prediction`).
        public var answerRules: [String] { scope.filter(Self.readsPrediction) }
        /// The scope rules on the inputs.
        public var inputRules: [String] { scope.filter { !Self.readsPrediction($0) } }
        static func readsPrediction(_ rule: String) -> Bool {
            ((try? MLCycleData.Expression.parse(rule).columns) ?? []).contains("prediction")
        }
    }
    public struct Candidate: Sendable, Equatable {
        public var name: String
        public var learner: LearnerKind
        public var parameters: [String: String]
        /// Values to search per parameter (tuning), e.g. `num_leaves: [15, 31, 63]`.
        public var space: [String: [String]]
    }
    public struct Tuning: Codable, Sendable, Equatable {
        public var search: TuningOptions.Search
        public var trials: Int?
        public var folds: Int
        public var timeBudget: Double?
    }
    public struct EvaluationSection: Sendable, Equatable {
        /// How the candidates are ranked (and tuned) without looking at the test rows.
        public enum Selection: String, Codable, Sendable, CaseIterable {
            /// On the validation part of the split (`split.validation`, 0.2 of the rows unless given).
            case validation
            /// By k-fold cross-validation on the rows that are not test rows (`evaluation.folds`, 5 unless given).
            case cv
        }
        public var metric: String?
        public var slices: [String]
        public var groups: [String]
        public var gates: [String]
        public var range: Double?
        public var selection: Selection = .validation
        public var folds: Int = 5
        /// Fit the chosen candidate (and the baseline) again on training + validation rows before testing them.
        public var refit: Bool = true
    }
    public struct Release: Sendable, Equatable {
        public var approvers: [String]
        /// The challenger's share of requests (a plan's first step).
        public var canary: Double
        public var shadow: Bool
        public var autoPromote: Bool
        /// Progressive delivery: the share steps up while the evidence holds (`mlcycle watch` moves it).
        public var plan: CanaryPlan? = nil
    }
    /// `release.canary` as a plan: `{steps: [5%, 25%, 50%, 100%], every: 1d, promote_if, rollback_if}`.
    public struct CanaryPlan: Sendable, Equatable {
        /// Shares of requests, rising, the last 1 (100 %).
        public var steps: [Double]
        /// How long each step lasts at least before the share moves up.
        public var every: String
        /// `METRIC OP champion [± X]` or `METRIC OP VALUE`, joined by `and`: measured since the release started.
        public var promoteIf: String
        /// `METRIC OP VALUE`, joined by `or`: measured on the challenger's rows of the current step.
        public var rollbackIf: String?
        /// Checks of `promoteIf` that may fail in a row (each extends the step by `every`) before the challenger is
        /// rolled back.
        public var rollbackAfter = 3
    }
    public struct Monitoring: Sendable, Equatable {
        public var window: String
        /// Alert rules: a condition with a name, severity and cool-down.
        public var alerts: [Alert]
        public var driftThresholds: [String: Double]
        /// Where fired alerts are POSTed as JSON (nil: nowhere).
        public var webhook: String? = nil
    }
    public struct Alert: Sendable, Equatable {
        public var name: String
        public var when: String
        public var severity: String
        public var cooldown: String
    }
    public struct Retraining: Sendable, Equatable {
        public var schedule: String?
        public var on: [String]
        public var window: String?
        public var promote: String  // "auto" or "approval"
        public var margin: Double
        /// The most recent share of the labelled feedback rows kept out of training to compare challenger and champion.
        public var holdout: Double = 0.25
        /// A person's override labels a row that has no actual (off: retraining learns from actuals only).
        public var overridesAsLabels = false
    }

    public var problem: Problem
    public var preparation: PreparationSpec
    /// Rules files (relative to the spec) checked on each source by name, and on the merged table (`merged`).
    public var validation: [String: String]
    public var candidates: [Candidate]
    public var tuning: Tuning?
    public var evaluation: EvaluationSection
    public var release: Release
    public var monitoring: Monitoring?
    public var retraining: Retraining?
    /// Where the project's records live, as written (`${NAME}` still unexpanded, so no secret is held here): a folder
    /// or a postgres:// URL; nil: `.mlcycle/` beside the spec.
    public var store: String? = nil
    /// SHA-256 of the spec file's bytes.
    public var hash: String
}

/// Reads `mlcycle.yaml`; every problem is reported at once with its line and field path.
public enum ProjectFile {
    public static func load(path: String) throws -> ProjectSpec {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError.fileNotFound(path: path) }
        return try parse(TextEncoding.utf8Text(data, file: path), file: path)
    }

    /// The `store:` of the mlcycle.yaml in `directory`, as written; nil when there is no such file or key. Only that
    /// key is read, so a command on the store works while the rest of the spec is being edited.
    public static func storeSetting(in directory: String) throws -> String? {
        let path = (directory as NSString).appendingPathComponent("mlcycle.yaml")
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let root: Node?
        do { root = try Yams.compose(yaml: try TextEncoding.utf8Text(data, file: path)) } catch let e as DataError {
            throw e
        } catch {
            throw SpecFileError(
                file: path, problems: [.init(line: nil, path: "(file)", message: "not valid YAML: \(error)")])
        }
        guard case .mapping(let top) = root, let node = top["store"] else { return nil }
        guard case .scalar(let scalar) = node else {
            throw SpecFileError(
                file: path,
                problems: [
                    .init(
                        line: node.mark.map { $0.line }, path: "store",
                        message: "expected a folder or a postgres:// URL")
                ])
        }
        return scalar.string
    }

    public static func parse(_ yaml: String, file: String = "mlcycle.yaml") throws -> ProjectSpec {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            throw SpecFileError(
                file: file, problems: [.init(line: nil, path: "(file)", message: "not valid YAML: \(error)")])
        }
        let r = SpecReader()
        let top =
            r.mapping(
                root, "(file)",
                allowed: [
                    "problem", "sources", "validation", "preparation", "split", "candidates", "tuning",
                    "evaluation", "release", "monitoring", "retraining", "store",
                ]) ?? [:]
        if root == nil { r.problem(nil, "(file)", "the file is empty: start from `mlcycle init`") }

        // problem
        var problem = ProjectSpec.Problem(
            name: "project", owner: nil, task: .regression, target: "", goal: nil, success: nil, scope: [])
        if let p = r.mapping(
            top["problem"], "problem",
            allowed: ["name", "owner", "task", "target", "goal", "success", "scope", "required"])
        {
            problem.name =
                r.required(r.string(p["name"], "problem.name"), p["name"], "problem.name", "the project's name")
                ?? "project"
            problem.owner = r.string(p["owner"], "problem.owner")
            if let t = r.required(
                r.string(p["task"], "problem.task"), p["task"], "problem.task",
                "regression, binary, multiclass or clustering")
            {
                if let task = Task(rawValue: t) {
                    problem.task = task
                } else {
                    r.problem(
                        p["task"], "problem.task", "expected regression, binary, multiclass or clustering, found '\(t)'"
                    )
                }
            }
            problem.target = r.string(p["target"], "problem.target") ?? ""
            if problem.target.isEmpty && problem.task != .clustering {
                r.problem(p["target"] ?? top["problem"], "problem.target", "missing: the column to predict")
            }
            problem.goal = r.string(p["goal"], "problem.goal")
            problem.success = r.string(p["success"], "problem.success")
            if let s = problem.success { checkRule(s, p["success"], "problem.success", r) }
            // A rule is text, or {rule, otherwise: review | unavailable}.
            var items = [(text: String, otherwise: String, node: Node?)]()
            if case .sequence(let list) = p["scope"] {
                for (i, item) in list.enumerated() {
                    if case .mapping = item,
                        let m = r.mapping(item, "problem.scope[\(i)]", allowed: ["rule", "otherwise"])
                    {
                        let otherwise = r.string(m["otherwise"], "problem.scope[\(i)].otherwise") ?? "review"
                        if !["review", "unavailable"].contains(otherwise) {
                            r.problem(m["otherwise"], "problem.scope[\(i)].otherwise", "expected review or unavailable")
                        }
                        if let rule = r.required(
                            r.string(m["rule"], "problem.scope[\(i)].rule"), m["rule"] ?? item,
                            "problem.scope[\(i)].rule", "the condition, e.g. prediction between 100000 and 800000")
                        {
                            items.append((rule, otherwise, m["rule"]))
                        }
                    } else if let rule = r.string(item, "problem.scope[\(i)]") {
                        items.append((rule, "review", item))
                    }
                }
            } else if let rule = r.string(p["scope"], "problem.scope") {
                items.append((rule, "review", p["scope"]))
            }
            problem.scope = items.map { scopeExpression($0.text) }
            problem.scopeOtherwise = items.map(\.otherwise)
            for (i, e) in problem.scope.enumerated() {
                let path = "problem.scope[\(i)]"
                if let message = PipelineFile.expressionProblem(e) {
                    r.problem(items[i].node, path, message)
                    continue
                }
                let columns = Set((try? MLCycleData.Expression.parse(e).columns) ?? [])
                if !problem.target.isEmpty, columns.contains(problem.target) {
                    r.problem(
                        items[i].node, path,
                        "reads the target \(problem.target), which a served row does not carry: write the rule on the inputs, or on the model's answer (e.g. prediction between 100000 and 800000); to leave rows out of training, use a preparation filter"
                    )
                } else if columns.contains("prediction"), columns.count > 1 {
                    r.problem(
                        items[i].node, path,
                        "a rule on the model's answer reads prediction only: put the condition on \(columns.filter { $0 != "prediction" }.sorted().joined(separator: ", ")) in a rule of its own"
                    )
                }
            }
            problem.required = r.strings(p["required"], "problem.required") ?? []
        } else {
            r.problem(root, "problem", "missing: name, task, target, goal and success metric")
        }

        // sources, preparation, split: the pipeline file's grammar.
        var pipelineTop = [String: Node]()
        if let s = top["sources"] { pipelineTop["sources"] = s }
        if let s = top["split"] { pipelineTop["split"] = s }
        if let p = top["preparation"] {
            if case .sequence = p {
                pipelineTop["steps"] = p
            } else if let m = r.mapping(p, "preparation", allowed: ["steps"]) {
                pipelineTop["steps"] = m["steps"]
            }
        }
        var preparation = PipelineFile.read(pipelineTop, r)
        if preparation.sources.isEmpty {
            r.problem(root, "sources", "missing: at least one source (path to a CSV or JSON Lines file)")
        }

        // validation: source name (or "merged") → rules file
        var validation = [String: String]()
        if let v = top["validation"] {
            let names = Set(preparation.sources.map(\.name) + ["merged"])
            if case .mapping(let m) = v {
                for (k, node) in m {
                    guard let key = k.string else { continue }
                    if !names.contains(key) {
                        r.problem(
                            k, "validation.\(key)",
                            "no source is called '\(key)' (sources: \(names.sorted().joined(separator: ", ")))")
                    }
                    if let path = r.string(node, "validation.\(key)") { validation[key] = path }
                }
            } else {
                r.problem(v, "validation", "expected source name: rules file, e.g. 'sales: sales-rules.yaml'")
            }
        }

        // candidates
        var candidates = [ProjectSpec.Candidate]()
        if case .some(.sequence(let seq)) = top["candidates"] {
            for (i, node) in seq.enumerated() {
                let path = "candidates[\(i)]"
                guard let m = r.mapping(node, path, allowed: ["name", "learner", "params", "space"]) else { continue }
                let learners = LearnerKind.names.joined(separator: ", ")
                guard
                    let learnerName = r.required(
                        r.string(m["learner"], "\(path).learner"), m["learner"], "\(path).learner", "one of \(learners)"
                    )
                else { continue }
                guard let learner = LearnerKind(rawValue: learnerName) else {
                    r.problem(
                        m["learner"], "\(path).learner",
                        "unknown learner '\(learnerName)' (expected one of \(learners))")
                    continue
                }
                var space = [String: [String]]()
                if let sm = m["space"] {
                    if case .mapping(let entries) = sm {
                        for (k, v) in entries {
                            if let key = k.string, let values = r.strings(v, "\(path).space.\(key)") {
                                space[key] = values
                            }
                        }
                    } else {
                        r.problem(sm, "\(path).space", "expected parameter: [values], e.g. num_leaves: [15, 31, 63]")
                    }
                }
                let name = r.string(m["name"], "\(path).name") ?? learnerName
                if candidates.contains(where: { $0.name == name }) {
                    r.problem(m["name"] ?? node, "\(path).name", "two candidates are called '\(name)'; name them apart")
                }
                let parameters = r.stringMap(m["params"], "\(path).params") ?? [:]
                do { _ = try learner.parameters(parameters, task: problem.task) } catch {
                    r.problem(m["params"] ?? m["learner"], "\(path).params", error.localizedDescription)
                }
                candidates.append(.init(name: name, learner: learner, parameters: parameters, space: space))
            }
            if seq.isEmpty {
                r.problem(
                    top["candidates"], "candidates", "the list is empty: give the learners to try, the baseline first")
            }
        } else if let c = top["candidates"] {
            r.problem(c, "candidates", "expected a list of candidates, the baseline first")
        } else {
            r.problem(root, "candidates", "missing: the learners to try, the baseline first")
        }

        var tuning: ProjectSpec.Tuning?
        if let t = r.mapping(top["tuning"], "tuning", allowed: ["search", "trials", "folds", "time_budget"]) {
            let searchName = r.string(t["search"], "tuning.search") ?? "grid"
            let search = TuningOptions.Search(rawValue: searchName) ?? .grid
            if TuningOptions.Search(rawValue: searchName) == nil {
                r.problem(t["search"], "tuning.search", "expected grid or random")
            }
            tuning = .init(
                search: search, trials: r.int(t["trials"], "tuning.trials", min: 1),
                folds: r.int(t["folds"], "tuning.folds", min: 0) ?? 3,
                timeBudget: r.double(t["time_budget"], "tuning.time_budget", in: 0...1e7))
        }

        var evaluation = ProjectSpec.EvaluationSection(metric: nil, slices: [], groups: [], gates: [], range: nil)
        if let e = r.mapping(
            top["evaluation"], "evaluation",
            allowed: ["metric", "slices", "groups", "fairness", "gates", "range", "selection", "folds", "refit"])
        {
            if let s = r.string(e["selection"], "evaluation.selection") {
                if let selection = ProjectSpec.EvaluationSection.Selection(rawValue: s) {
                    evaluation.selection = selection
                } else {
                    r.problem(e["selection"], "evaluation.selection", "expected validation or cv, found '\(s)'")
                }
            }
            evaluation.folds = r.int(e["folds"], "evaluation.folds", min: 2) ?? 5
            evaluation.refit = r.bool(e["refit"], "evaluation.refit") ?? true
            evaluation.metric = r.string(e["metric"], "evaluation.metric")
            evaluation.slices = r.strings(e["slices"], "evaluation.slices") ?? []
            for (i, s) in evaluation.slices.enumerated() {
                if (try? SliceSpec(parsing: s)) == nil {
                    r.problem(e["slices"], "evaluation.slices[\(i)]", "write COLUMN or COLUMN:EDGE,EDGE,…")
                }
            }
            evaluation.groups =
                (r.strings(e["groups"], "evaluation.groups") ?? [])
                + (r.strings(e["fairness"], "evaluation.fairness") ?? [])
            evaluation.gates = r.strings(e["gates"], "evaluation.gates") ?? []
            for (i, g) in evaluation.gates.enumerated() { checkRule(g, e["gates"], "evaluation.gates[\(i)]", r) }
            evaluation.range = r.double(e["range"], "evaluation.range", in: 0.01...0.999)
        }
        // Validation selection ranks on a validation part: 60/20/20 unless the split says otherwise.
        if evaluation.selection == .validation && problem.task != .clustering {
            var split = preparation.split ?? SplitSpec()
            var validationNode: Node?
            if case .some(.mapping(let m)) = top["split"] {
                validationNode = m.first { $0.key.string == "validation" }?.value
            }
            if validationNode == nil {
                split.validationFraction = 0.2
            } else if split.validationFraction == 0 {
                r.problem(
                    validationNode, "split.validation",
                    "evaluation.selection: validation ranks the candidates on the validation rows; give them a share "
                        + "(0.2) or rank by cross-validation (evaluation.selection: cv)")
            }
            if split.testFraction + split.validationFraction >= 1 {
                r.problem(
                    top["split"], "split", "test and validation shares leave no rows to train on; lower one of them")
            }
            preparation.split = split
        }
        if let success = problem.success, !evaluation.gates.contains(success) {
            evaluation.gates.insert(success, at: 0)
        }

        var release = ProjectSpec.Release(approvers: [], canary: 0, shadow: false, autoPromote: true)
        if let rel = r.mapping(top["release"], "release", allowed: ["approvers", "canary", "shadow", "auto_promote"]) {
            release.approvers = r.strings(rel["approvers"], "release.approvers") ?? []
            func share(_ node: Node?, _ path: String) -> Double? {
                guard let c = r.string(node, path) else { return nil }
                let share = c.hasSuffix("%") ? Double(c.dropLast()).map { $0 / 100 } : Double(c)
                guard let share, share >= 0, share <= 1 else {
                    r.problem(node, path, "expected a share such as 10% or 0.1")
                    return nil
                }
                return share
            }
            if case .mapping = rel["canary"],
                let p = r.mapping(
                    rel["canary"], "release.canary",
                    allowed: ["steps", "every", "promote_if", "rollback_if", "rollback_after"])
            {
                var steps = [Double]()
                if case .sequence(let items) = p["steps"] {
                    for (i, item) in items.enumerated() {
                        if let x = share(item, "release.canary.steps[\(i)]") { steps.append(x) }
                    }
                }
                if steps.isEmpty || zip(steps, steps.dropFirst()).contains(where: { $0 >= $1 }) || steps.last != 1
                    || steps.first == 0
                {
                    r.problem(
                        p["steps"] ?? rel["canary"], "release.canary.steps",
                        "expected rising shares that end at 100%, such as [5%, 25%, 50%, 100%]")
                }
                let every = r.string(p["every"], "release.canary.every") ?? "1d"
                if !isDuration(every) {
                    r.problem(p["every"], "release.canary.every", "expected a duration such as 1h or 1d")
                }
                let promoteIf = r.string(p["promote_if"], "release.canary.promote_if") ?? ""
                if p["promote_if"] == nil {
                    r.problem(
                        rel["canary"], "release.canary.promote_if",
                        "missing: a plan needs the evidence that moves the share up, e.g. \"mape <= champion\"")
                } else {
                    do { _ = try ReleaseCondition.parse(promoteIf, joiner: .and) } catch {
                        r.problem(p["promote_if"], "release.canary.promote_if", error.localizedDescription)
                    }
                }
                let rollbackIf = r.string(p["rollback_if"], "release.canary.rollback_if")
                if let rollbackIf {
                    do { _ = try ReleaseCondition.parse(rollbackIf, joiner: .or, relative: false) } catch {
                        r.problem(p["rollback_if"], "release.canary.rollback_if", error.localizedDescription)
                    }
                }
                release.plan = .init(
                    steps: steps, every: every, promoteIf: promoteIf, rollbackIf: rollbackIf,
                    rollbackAfter: r.int(p["rollback_after"], "release.canary.rollback_after", min: 1) ?? 3)
                release.canary = steps.first ?? 0
            } else if let c = share(rel["canary"], "release.canary") {
                release.canary = c
            }
            release.shadow = r.bool(rel["shadow"], "release.shadow") ?? false
            release.autoPromote = r.bool(rel["auto_promote"], "release.auto_promote") ?? release.approvers.isEmpty
        }

        var monitoring: ProjectSpec.Monitoring?
        if let m = r.mapping(top["monitoring"], "monitoring", allowed: ["window", "alerts", "drift", "webhook"]) {
            var alerts = [ProjectSpec.Alert]()
            if case .some(.sequence(let seq)) = m["alerts"] {
                for (i, node) in seq.enumerated() {
                    let path = "monitoring.alerts[\(i)]"
                    guard let a = r.mapping(node, path, allowed: ["name", "when", "severity", "cooldown"]) else {
                        continue
                    }
                    guard
                        let when = r.required(
                            r.string(a["when"], "\(path).when"), a["when"], "\(path).when",
                            "the condition, e.g. mape > 0.12 over 7d")
                    else { continue }
                    let severity = r.string(a["severity"], "\(path).severity") ?? "warning"
                    if !["info", "warning", "critical"].contains(severity) {
                        r.problem(a["severity"], "\(path).severity", "expected info, warning or critical")
                    }
                    let cooldown = r.string(a["cooldown"], "\(path).cooldown") ?? "1h"
                    if !isDuration(cooldown) {
                        r.problem(a["cooldown"], "\(path).cooldown", "expected a duration such as 30m, 1h, 7d")
                    }
                    alerts.append(
                        .init(
                            name: r.string(a["name"], "\(path).name") ?? "alert\(i + 1)", when: when,
                            severity: severity, cooldown: cooldown))
                }
            }
            var drift = [String: Double]()
            if let d = m["drift"], case .mapping(let entries) = d {
                for (k, v) in entries {
                    if let key = k.string, let x = r.double(v, "monitoring.drift.\(key)", in: 0...1e6) {
                        drift[key] = x
                    }
                }
            }
            let window = r.string(m["window"], "monitoring.window") ?? "1d"
            if !isDuration(window) {
                r.problem(m["window"], "monitoring.window", "expected a duration such as 1h, 1d, 7d")
            }
            let webhook = r.string(m["webhook"], "monitoring.webhook")
            if let w = webhook, !(w.hasPrefix("http://") || w.hasPrefix("https://")) {
                r.problem(m["webhook"], "monitoring.webhook", "expected an http:// or https:// URL")
            }
            monitoring = .init(window: window, alerts: alerts, driftThresholds: drift, webhook: webhook)
        }

        var retraining: ProjectSpec.Retraining?
        if let t = r.mapping(
            top["retraining"], "retraining",
            allowed: ["schedule", "on", "window", "promote", "margin", "holdout", "overrides_as_labels"])
        {
            let schedule = r.string(t["schedule"], "retraining.schedule")
            if let s = schedule {
                do { _ = try CronSchedule(parsing: s) } catch {
                    r.problem(t["schedule"], "retraining.schedule", error.localizedDescription)
                }
            }
            if let w = t["window"].flatMap({ $0.string }), !isDuration(w) {
                r.problem(t["window"], "retraining.window", "expected a duration such as 90d or 6M (months of 30 days)")
            }
            let on = r.strings(t["on"], "retraining.on") ?? []
            let alertNames = Set(monitoring?.alerts.map(\.name) ?? [])
            for name in on where !alertNames.contains(name) {
                r.problem(t["on"], "retraining.on", "no alert is called '\(name)' in monitoring.alerts")
            }
            let promote = r.string(t["promote"], "retraining.promote") ?? "approval"
            if !["auto", "approval"].contains(promote) {
                r.problem(t["promote"], "retraining.promote", "expected auto or approval")
            }
            retraining = .init(
                schedule: schedule, on: on, window: r.string(t["window"], "retraining.window"), promote: promote,
                margin: r.double(t["margin"], "retraining.margin", in: 0...1e9) ?? 0,
                holdout: r.double(t["holdout"], "retraining.holdout", in: 0.05...0.9) ?? 0.25,
                overridesAsLabels: r.bool(t["overrides_as_labels"], "retraining.overrides_as_labels") ?? false)
        }

        let store = r.string(top["store"], "store")

        if !r.problems.isEmpty {
            throw SpecFileError(file: file, problems: r.problems.sorted { ($0.line ?? 0) < ($1.line ?? 0) })
        }
        var hasher = MLCycleData.SHA256()
        hasher.update(Array(yaml.utf8))
        return ProjectSpec(
            problem: problem, preparation: preparation, validation: validation, candidates: candidates, tuning: tuning,
            evaluation: evaluation, release: release, monitoring: monitoring, retraining: retraining, store: store,
            hash: MLCycleData.SHA256.hexString(hasher.finalize()))
    }

    /// `price between 100000 and 800000` → `price >= 100000 and price <= 800000`; `kind in [A, B]` → `kind == 'A' or …`.
    static func scopeExpression(_ text: String) -> String {
        let words = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        if words.count == 5, words[1] == "between", words[3] == "and" {
            return "\(words[0]) >= \(words[2]) and \(words[0]) <= \(words[4])"
        }
        if words.count >= 3, words[1] == "in", let open = text.firstIndex(of: "["), let close = text.lastIndex(of: "]"),
            open < close
        {
            let items = text[text.index(after: open)..<close].split(separator: ",").map {
                $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
            }
            return "(" + items.map { "\(words[0]) == '\($0)'" }.joined(separator: " or ") + ")"
        }
        return text
    }

    static func isDuration(_ s: String) -> Bool { MonitoringDuration.seconds(s) != nil }

    /// A gate rule must compare a metric with a number, the baseline or the champion.
    static func checkRule(_ rule: String, _ node: Node?, _ path: String, _ r: SpecReader) {
        let ops = [">=", "<=", "==", ">", "<"]
        guard ops.contains(where: { rule.contains($0) }) else {
            r.problem(node, path, "'\(rule)' has no comparison; write e.g. within_10pct >= 0.80")
            return
        }
    }
}
