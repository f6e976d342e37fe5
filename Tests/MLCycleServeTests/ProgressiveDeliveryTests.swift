import Foundation
import MLCycleData
import MLCycleProject
import MLCycleServe
import MLCycleStore
import Testing

/// Days of traffic replayed through the server's router: each request goes to the version the catalog routes it to
/// (the release step read from the store), is logged with that version's answer, and gets its actual; the watcher
/// steps at the end of each day. The champion says 23 % too little (the market moved); the challenger is within
/// 2 % of `level` times the price, and refuses `refused` of its requests. Without `labelled`, no actual comes back.
private func replayRelease(
    refused: Double, level: Double = 1, labelled: Bool = true, days: Int = 5, requests: Int = 400,
    autoPromote: Bool = true, gatesPassed: Bool = true
) async throws -> (
    steps: [ProgressiveDelivery.Step], store: SQLiteStore, shares: [Double], watcher: Watcher
) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-release-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    var csv = "size,price\n"
    for i in 0..<200 { csv += "\(1 + Double(i % 50) / 5),\(100 + 50 * (1 + Double(i % 50) / 5))\n" }
    try csv.write(toFile: "\(dir)/houses.csv", atomically: true, encoding: .utf8)
    try """
    problem: {name: rel, task: regression, target: price}
    sources: [{name: houses, path: houses.csv}]
    split: {method: random, test: 0.25, seed: 1}
    candidates: [{name: linear, learner: linear}]
    evaluation: {metric: mape}
    release:
      auto_promote: \(autoPromote)
      canary: {steps: [10%, 50%, 100%], every: 1d, promote_if: "mape <= champion", rollback_if: "error_rate > 0.05"}
    """.write(toFile: "\(dir)/mlcycle.yaml", atomically: true, encoding: .utf8)
    let store = try SQLiteStore(directory: "\(dir)/.mlcycle")
    let spec = try ProjectFile.load(path: "\(dir)/mlcycle.yaml")
    _ = try await Runner(spec: spec, directory: dir, store: store).run()
    let v1 = try #require(try await store.modelVersion("rel", version: 1))
    // Without auto_promote the first version waits as challenger: a person makes it the champion.
    try await store.setAlias(
        "rel", alias: "champion", version: v1.version, actor: "test", action: "alias", reason: "test")
    let v2 = try await store.registerModel(
        NewModelVersion(
            name: "rel", bundle: v1.bundle, metrics: v1.metrics, gatesPassed: gatesPassed, gates: [], run: nil,
            datasets: [],
            specHash: nil),
        actor: "test")
    try await store.setAlias(
        "rel", alias: "challenger", version: v2.version, actor: "test", action: "alias", reason: "test")
    let catalog = ModelCatalog(store: store, models: [:], aliasRefresh: 0)
    let watcher = try Watcher(spec: spec, directory: dir, store: store)
    var rng = SeededGenerator(seed: 9)
    let start = Date(timeIntervalSince1970: 1_780_000_000)
    var steps = [ProgressiveDelivery.Step]()
    var shares = [Double]()
    if let s = try await watcher.step(at: start, previous: nil).release { steps.append(s) }
    for day in 0..<days {
        var rows = [PredictionRecord]()
        var feedback = [FeedbackRecord]()
        var answeredByChallenger = 0
        for i in 0..<requests {
            let id = "d\(day)-\(i)"
            let at = start.addingTimeInterval(Double(day) * 86_400 + Double(i) * 86_400 / Double(requests))
            guard let (m, _) = try await catalog.route("rel", key: id) else { continue }
            let price = 100 + Double(rng.next(upperBound: 500))
            let challenger = m.version == "v\(v2.version)"
            if challenger { answeredByChallenger += 1 }
            if challenger && Double(rng.next(upperBound: 1000)) < refused * 1000 {
                rows.append(
                    PredictionRecord(
                        id: id, model: "rel", version: m.version, at: at, latencySeconds: 0.001, inputs: "{}",
                        prediction: nil, status: "error 400"))
                continue
            }
            let said =
                challenger ? price * (level + (Double(rng.next(upperBound: 41)) - 20) / 1000) : price * 0.77
            rows.append(
                PredictionRecord(
                    id: id, model: "rel", version: m.version, at: at, latencySeconds: 0.001,
                    inputs: #"{"size":\#(price / 50 - 2)}"#, prediction: String(said), status: "ok"))
            if labelled { feedback.append(FeedbackRecord(predictionID: id, value: String(price))) }
        }
        try await store.logPredictions(rows)
        try await store.recordFeedback(feedback)
        shares.append(Double(answeredByChallenger) / Double(requests))
        let moment = start.addingTimeInterval(Double(day + 1) * 86_400 + 1)
        if let s = try await watcher.step(at: moment, previous: nil).release { steps.append(s) }
    }
    return (steps, store, shares, watcher)
}

@Suite struct ProgressiveDeliveryTests {
    /// A better challenger climbs 10 % → 50 % → 100 % a day at a time and becomes the champion; every step is audited
    /// with its numbers, and the traffic it answered follows the step.
    @Test func aBetterChallengerClimbsToChampion() async throws {
        let (steps, store, shares, _) = try await replayRelease(refused: 0)
        #expect(
            steps.map(\.action) == [.start, .advance, .advance, .promote],
            "\(steps.map { "\($0.action.rawValue): \($0.reason)" })")
        #expect(steps.map(\.share) == [0.1, 0.5, 1, 1])
        #expect(try await store.aliases("rel")["champion"] == 2)
        #expect(try await store.release("rel") == nil)
        // The share of requests the challenger answered each day: about the step's share, then all of them.
        #expect(abs(shares[0] - 0.1) < 0.05 && abs(shares[1] - 0.5) < 0.08 && shares[2] == 1, "\(shares)")
        #expect(shares[3] == 1, "\(shares)")  // v2 is the champion now: it answers everything
        let audit = try await store.audit(model: "rel").filter { $0.actor == ProgressiveDelivery.actor }
        #expect(audit.map(\.action) == ["canary 10 %", "canary 50 %", "canary 100 %", "promote", "release complete"])
        #expect(audit.dropFirst().allSatisfy { $0.reason.contains("mape <= champion: ") })
    }

    /// With `auto_promote: false` a challenger that finished its plan answers everything and waits; a person's
    /// approval makes it the champion and ends its release, so the watcher (and a retraining) no longer waits on it.
    @Test func aFinishedReleaseWaitsForApprovalAndTheApprovalEndsIt() async throws {
        let (steps, store, _, watcher) = try await replayRelease(refused: 0, autoPromote: false)
        #expect(
            steps.map(\.action) == [.start, .advance, .advance, .awaitApproval, .awaitApproval, .awaitApproval],
            "\(steps.map { "\($0.action.rawValue): \($0.reason)" })")
        #expect(steps.last?.reason.contains("mlcycle approve rel:2") == true)
        #expect(try await store.aliases("rel")["champion"] == 1)
        #expect(try await store.release("rel")?.share == 1)
        let v2 = try #require(try await store.modelVersion("rel", version: 2))
        try await ModelRegistry(store: store).approve(v2, by: .person("lead"), reason: "agents checked it")
        #expect(try await store.aliases("rel")["champion"] == 2)
        #expect(try await store.release("rel") == nil)
        let after = try await watcher.step(at: Date(timeIntervalSince1970: 1_781_000_000), previous: nil)
        #expect(after.release == nil)
        #expect(try await store.audit(model: "rel").suffix(2).map(\.action) == ["approve", "release complete"])
        // Rolled back after its approval, v2 is off trial: the plan does not start it again.
        try await ModelRegistry(store: store).rollback("rel", by: .person("lead"), reason: "agents complain")
        #expect(try await store.aliases("rel")["champion"] == 1)
        #expect(try await store.aliases("rel")["challenger"] == nil)
        let later = try await watcher.step(at: Date(timeIntervalSince1970: 1_781_100_000), previous: nil)
        #expect(later.release == nil)
        #expect(try await store.release("rel") == nil)
    }

    /// A challenger a person released over failed gates is not promoted by the plan: it waits for a person.
    @Test func aChallengerReleasedOverFailedGatesWaitsForAPerson() async throws {
        let (steps, store, _, _) = try await replayRelease(refused: 0, days: 3, gatesPassed: false)
        #expect(steps.map(\.action) == [.start, .advance, .advance, .awaitApproval], "\(steps.map(\.reason))")
        #expect(steps.last?.reason.contains("mlcycle promote rel:2 --to champion --override-gates") == true)
        #expect(try await store.aliases("rel")["champion"] == 1)
    }

    /// A challenger that refuses a fifth of its requests is rolled back at the first look: the champion keeps all
    /// the traffic.
    @Test func aWorseChallengerIsRolledBackAtOnce() async throws {
        let (steps, store, shares, _) = try await replayRelease(refused: 0.2, days: 2)
        #expect(steps.map(\.action) == [.start, .rollback], "\(steps.map(\.reason))")
        #expect(steps.last?.reason.contains("error_rate > 0.05") == true)
        let aliases = try await store.aliases("rel")
        #expect(aliases["challenger"] == nil && aliases["champion"] == 1)
        #expect(shares[1] == 0)
    }

    /// A challenger that answers every request but is further off than the champion (30 % too little against 23 %)
    /// is held at its step for another day at each failed check, and rolled back at the third in a row.
    @Test func aChallengerThatNeverWinsIsRolledBackAfterThreeFailedChecks() async throws {
        let (steps, store, shares, _) = try await replayRelease(refused: 0, level: 0.7, days: 4)
        #expect(steps.map(\.action) == [.start, .hold, .hold, .rollback], "\(steps.map(\.reason))")
        #expect(steps[1].reason.contains("check 1 of 3 failed") && steps[2].reason.contains("check 2 of 3 failed"))
        #expect(steps[3].reason.contains("failed 3 checks in a row"))
        #expect(try await store.aliases("rel")["challenger"] == nil)
        #expect(try await store.release("rel") == nil)
        #expect(shares[0] > 0 && shares[3] == 0, "\(shares)")
        let audit = try await store.audit(model: "rel").filter { $0.actor == ProgressiveDelivery.actor }
        #expect(
            audit.map(\.action) == [
                "canary 10 %", "canary 10 % held", "canary 10 % held", "rollback", "canary stopped",
            ])
    }

    /// Before the actuals come back, the promotion condition cannot be measured: the challenger waits at its step, and
    /// no check counts as failed.
    @Test func aChallengerWaitsForLateActualsWithoutFailingChecks() async throws {
        let (steps, store, _, _) = try await replayRelease(refused: 0, labelled: false, days: 4)
        #expect(steps.map(\.action) == [.start, .hold, .hold, .hold, .hold], "\(steps.map(\.reason))")
        #expect(steps.dropFirst().allSatisfy { $0.reason.contains("waits at 10 % for evidence") })
        #expect(try await store.release("rel")?.failedChecks == 0)
        #expect(try await store.aliases("rel")["challenger"] == 2)
    }
}
