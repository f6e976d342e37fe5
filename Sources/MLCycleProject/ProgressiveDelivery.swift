import Foundation
import MLCycleEvaluate
import MLCycleLearn
import MLCycleMonitor
import MLCycleStore

/// Progressive delivery on model quality (what Flagger and Argo Rollouts do for services): the challenger's share of
/// requests climbs the plan's steps (`release.canary: {steps, every, promote_if, rollback_if}`) while the evidence
/// holds, the challenger is promoted after the last step, and it is rolled back at once when a rollback condition
/// fires — or when the evidence failed `rollback_after` checks in a row (as Flagger's analysis threshold).
/// `mlcycle watch` takes one step per pass; every move is kept in the audit log with its numbers.
public struct ProgressiveDelivery: Sendable {
    /// What one pass did.
    public struct Step: Codable, Sendable, Equatable {
        public enum Action: String, Codable, Sendable {
            /// The release began at the first step's share.
            case start
            /// The share moved up a step.
            case advance
            /// Nothing moved: the step is not over, or the evidence does not hold yet (the step lasts another `every`).
            case hold
            /// After the last step: the challenger became the champion.
            case promote
            /// After the last step, but the project wants a person's approval (`mlcycle approve`).
            case awaitApproval = "await approval"
            /// A rollback condition fired, or the evidence failed `rollback_after` checks in a row: the challenger
            /// answers nothing any more.
            case rollback
        }
        public var action: Action
        public var version: Int
        public var share: Double
        public var reason: String
        /// The conditions as measured (promote_if over the release — on the requests both versions answered when the
        /// challenger shadowed enough of them, else on the same period — rollback_if over the current step).
        public var measured: [ReleaseCondition.Measured]
    }

    public var spec: ProjectSpec
    public var store: any Store

    public init(spec: ProjectSpec, store: any Store) {
        self.spec = spec
        self.store = store
    }

    /// The actor the plan's moves are recorded under.
    public static let actor = "release plan"

    /// One pass as of `moment`: nil when the project has no plan or no challenger is on its way.
    public func step(at moment: Date) async throws -> Step? {
        let name = spec.problem.name
        guard let plan = spec.release.plan, !plan.steps.isEmpty else { return nil }
        let aliases = try await store.aliases(name)
        guard let champion = aliases["champion"], let challenger = aliases["challenger"], challenger != champion
        else {
            return nil
        }
        func percent(_ share: Double) -> String { String(format: "%g %%", share * 100) }
        guard let state = try await store.release(name), state.version == challenger else {
            let first = ReleaseState(version: challenger, step: 0, share: plan.steps[0], started: moment, since: moment)
            let reason =
                "v\(challenger) starts its release at \(percent(first.share)) of requests (champion v\(champion))"
            try await store.setRelease(
                name, first, actor: Self.actor, action: "canary \(percent(first.share))", reason: reason)
            return Step(action: .start, version: challenger, share: first.share, reason: reason, measured: [])
        }
        let regression = spec.problem.task == .regression
        // A binary classifier's metrics need its positive class, which the champion's bundle holds.
        var positive: String?
        if spec.problem.task == .binary, let version = try await store.modelVersion(name, version: champion) {
            positive = try ModelBundle.decode(
                try await store.artifact(version.bundle), path: "\(name) v\(champion)"
            ).evaluation?.positiveClass
        }
        func summary(_ version: Int, since: Date) async throws -> WindowSummary {
            let log = try await MonitoringPass.versionLog(
                store, model: name, version: version, since: since, before: moment)
            return Monitoring.summarize(
                log.served, start: since, end: moment, regression: regression, positive: positive)
        }
        // Rollback: on the challenger's rows of the current step, at once.
        func rollBack(_ reason: String, _ measured: [ReleaseCondition.Measured]) async throws -> Step {
            try await store.setAlias(
                name, alias: "challenger", version: nil, actor: Self.actor, action: "rollback", reason: reason)
            try await store.setRelease(name, nil, actor: Self.actor, action: "canary stopped", reason: reason)
            return Step(action: .rollback, version: challenger, share: 0, reason: reason, measured: measured)
        }
        if let text = plan.rollbackIf {
            let condition = try ReleaseCondition.parse(text, joiner: .or, relative: false)
            let measured = await condition.measure(
                challenger: try summary(challenger, since: state.since), champion: nil)
            if condition.holds(measured) {
                return try await rollBack(
                    "rolled back at \(percent(state.share)): "
                        + measured.filter(\.holds).map(Self.describe).joined(separator: "; "), measured)
            }
        }
        let every = MonitoringDuration.seconds(plan.every) ?? 86_400
        if moment.timeIntervalSince(state.since) < every {
            return Step(
                action: .hold, version: challenger, share: state.share,
                reason:
                    "step \(state.step + 1) of \(plan.steps.count) (\(percent(state.share))) lasts until \(ISO8601DateFormatter().string(from: state.since.addingTimeInterval(every)))",
                measured: [])
        }
        // Promotion evidence since the release started, on rows that are comparable: the requests both answered (one
        // of them as a shadow) when there are enough of them, else both versions' rows over the same period (up to
        // the champion's last answer: at 100 % without a shadow it answers nothing any more).
        let condition = try ReleaseCondition.parse(plan.promoteIf, joiner: .and)
        let first = try await MonitoringPass.versionLog(
            store, model: name, version: champion, since: state.started, before: moment)
        let second = try await MonitoringPass.versionLog(
            store, model: name, version: challenger, since: state.started, before: moment)
        let pairs = ReleaseComparison.pairs(first.records.map(\.id), second.records.map(\.id))
        let paired = pairs.count >= ReleaseComparison.minimumRows
        var championRows = first.served
        var challengerRows = second.served
        if paired {
            championRows = pairs.map { first.served[$0.0] }
            challengerRows = pairs.map { second.served[$0.1] }
        } else if let last = first.served.map(\.at).max() {
            challengerRows = challengerRows.filter { $0.at <= last }
        }
        let measured = condition.measure(
            challenger: Monitoring.summarize(
                challengerRows, start: state.started, end: moment, regression: regression, positive: positive),
            champion: Monitoring.summarize(
                championRows, start: state.started, end: moment, regression: regression, positive: positive))
        let evidence =
            paired ? "on the \(pairs.count) requests both answered" : "on each version's rows of the same period"
        let numbers = measured.map(Self.describe).joined(separator: "; ") + " (\(evidence))"
        // Labels come late: a condition that cannot be measured yet is no failed check, it is looked at again.
        if !condition.holds(measured), measured.contains(where: { $0.value == nil || $0.against == nil }) {
            return Step(
                action: .hold, version: challenger, share: state.share,
                reason:
                    "waits at \(percent(state.share)) for evidence (a metric from feedback needs \(ReleaseComparison.minimumRows) labelled rows a side): \(numbers)",
                measured: measured)
        }
        guard condition.holds(measured) else {
            // A failed check extends the step by `every`; the last one allowed rolls the challenger back.
            var held = state
            held.failedChecks += 1
            held.since = moment
            let checks = "check \(held.failedChecks) of \(plan.rollbackAfter) failed"
            if held.failedChecks >= plan.rollbackAfter {
                return try await rollBack(
                    "rolled back at \(percent(state.share)): \(plan.promoteIf) failed \(held.failedChecks) checks in a row: \(numbers)",
                    measured)
            }
            let reason = "stays at \(percent(state.share)) for another \(plan.every) (\(checks)): \(numbers)"
            try await store.setRelease(
                name, held, actor: Self.actor, action: "canary \(percent(state.share)) held", reason: reason)
            return Step(action: .hold, version: challenger, share: state.share, reason: reason, measured: measured)
        }
        let next = state.step + 1
        if next < plan.steps.count {
            var moved = state
            moved.step = next
            moved.share = plan.steps[next]
            moved.since = moment
            moved.failedChecks = 0
            let reason = "v\(challenger) \(percent(state.share)) → \(percent(moved.share)): \(numbers)"
            try await store.setRelease(
                name, moved, actor: Self.actor, action: "canary \(percent(moved.share))", reason: reason)
            return Step(action: .advance, version: challenger, share: moved.share, reason: reason, measured: measured)
        }
        guard let version = try await store.modelVersion(name, version: challenger) else {
            throw StoreError.notFound("\(name) v\(challenger)")
        }
        // A challenger released over failed gates is promoted the way it got there: by a person, on the record.
        guard spec.release.autoPromote, version.gatesPassed else {
            if state.failedChecks > 0 {
                // Waiting for a person, the check holds again: failures count in a row, as at every other step.
                var held = state
                held.failedChecks = 0
                try await store.setRelease(
                    name, held, actor: Self.actor, action: "canary \(percent(state.share)) holds",
                    reason: "v\(challenger) holds again: \(numbers)")
            }
            let how =
                version.gatesPassed
                ? "the project promotes on a person's approval: mlcycle approve \(name):\(challenger)"
                : "its gates failed, so a person promotes it: mlcycle promote \(name):\(challenger) --to champion --override-gates"
            return Step(
                action: .awaitApproval, version: challenger, share: state.share,
                reason: "v\(challenger) finished its release (\(numbers)); \(how)", measured: measured)
        }
        let reason = "v\(challenger) finished its release: \(numbers)"
        try await ModelRegistry(store: store, approvers: spec.release.approvers).promote(
            version, by: .policy(Self.actor), reason: reason)  // ends the release ("release complete")
        return Step(action: .promote, version: challenger, share: 1, reason: reason, measured: measured)
    }

    static func describe(_ m: ReleaseCondition.Measured) -> String {
        func f(_ x: Double?) -> String { x.map { String(format: "%.4g", $0) } ?? "not measured yet" }
        return "\(m.clause): \(f(m.value)) against \(f(m.against)) (\(m.holds ? "holds" : "does not hold"))"
    }
}
