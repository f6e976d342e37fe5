import Foundation
import MLCycleData
import MLCycleMonitor
import MLCycleProject
import MLCycleStore
import Testing

/// A project whose sources say price = 100 + 50 · size, served for 60 days while the market paid 130 + 65 · size
/// (30 % more): its champion v1 is registered, and 200 served rows with their true prices are in the log.
func shiftedProject(retraining: String, alerts: String = "", served: Int = 200) async throws -> (
    store: SQLiteStore, dir: String, spec: ProjectSpec, now: Date
) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-retrain-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    var rng = SeededGenerator(seed: 11)
    func size() -> Double { 1 + Double(rng.next(upperBound: 900)) / 100 }
    func noise() -> Double { 1 + (Double(rng.next(upperBound: 41)) - 20) / 1000 }
    var csv = "size,kind,price\n"
    for i in 0..<300 {
        let s = size()
        csv += "\(s),\(i % 3 == 0 ? "a" : "b"),\(((100 + 50 * s) * noise()).rounded())\n"
    }
    try csv.write(toFile: "\(dir)/houses.csv", atomically: true, encoding: .utf8)
    try """
    problem: {name: shift, task: regression, target: price}
    sources: [{name: houses, path: houses.csv}]
    split: {method: random, test: 0.25, seed: 1}
    candidates: [{name: linear, learner: linear}]
    evaluation: {gates: ["mape <= 0.2"]}
    release: {auto_promote: true}
    \(alerts)
    \(retraining)
    """.write(toFile: "\(dir)/mlcycle.yaml", atomically: true, encoding: .utf8)
    let store = try SQLiteStore(directory: "\(dir)/.mlcycle")
    let spec = try ProjectFile.load(path: "\(dir)/mlcycle.yaml")
    _ = try await Runner(spec: spec, directory: dir, store: store).run()
    let now = Date(timeIntervalSince1970: 1_780_000_000)
    var predictions = [PredictionRecord]()
    var feedback = [FeedbackRecord]()
    for i in 0..<served {
        let s = size()
        let kind = i % 3 == 0 ? "a" : "b"
        let id = "p\(i)"
        predictions.append(
            PredictionRecord(
                id: id, model: "shift", version: "v1",
                at: now.addingTimeInterval(-60 * 86_400 + Double(i) * 86_400 * 60 / Double(served)),
                latencySeconds: 0.001, inputs: #"{"size":\#(s),"kind":"\#(kind)"}"#, prediction: String(100 + 50 * s),
                status: "ok"))
        feedback.append(FeedbackRecord(predictionID: id, value: String(((130 + 65 * s) * noise()).rounded())))
    }
    try await store.logPredictions(predictions)
    try await store.recordFeedback(feedback)
    return (store, dir, spec, now)
}

@Suite struct RetrainingTests {
    /// The new version learns the new prices from the served rows, is judged on the latest quarter of them against
    /// the champion, wins by more than the margin and is promoted; all of it recorded.
    @Test func aBetterChallengerIsPromotedAutomatically() async throws {
        let (store, dir, spec, now) = try await shiftedProject(
            retraining: "retraining: {window: 90d, holdout: 0.25, promote: auto, margin: 0.02}")
        let outcome = try await Retrainer(spec: spec, directory: dir, store: store).retrain(
            trigger: "manual", reason: "test", at: now)
        #expect(outcome.feedbackRows == 150 && outcome.comparisonRows == 50)
        #expect(outcome.champion == 1 && outcome.challenger == 2 && outcome.gatesPassed)
        let champion = try #require(outcome.championValue)
        let challenger = try #require(outcome.challengerValue)
        // The champion is ~23 % low on the new prices (1/1.3); the challenger learnt them (a linear model of mixed data).
        #expect(champion > 0.2 && challenger < champion - 0.02)
        #expect(abs(try #require(outcome.difference) - (challenger - champion)) < 1e-12)
        #expect(outcome.verdict == "promoted")
        #expect(try await store.aliases("shift")["champion"] == 2)
        let audit = try #require(try await store.audit(model: "shift").last)
        #expect(audit.action == "promote" && audit.version == 2 && audit.reason.hasPrefix("retrain (manual)"))
        // The collected table holds the 300 source rows and the 150 served ones.
        let collect = try await #require(
            try store.runs(project: "shift", limit: 50).first {
                $0.stage == "collect" && $0.outputs["feedback_rows"] != nil
            })
        #expect(collect.outputs["rows"] == "450" && collect.outputs["feedback_rows"] == "150")
        #expect(outcome.dataset == collect.outputs["fingerprint"])
        let history = try await Retrainer.history(store, project: "shift")
        #expect(
            history.count == 1 && history[0].verdict == "promoted" && history[0].run == outcome.run
                && history[0].trigger == "manual")
        let runID = try #require(outcome.run)
        let run = try #require(try await store.run(runID))
        #expect(run.stage == "retrain" && run.status == .finished && run.params["trigger"] == "manual")
        // Nothing new since: the pipeline gives the champion again.
        let again = try await Retrainer(spec: spec, directory: dir, store: store).retrain(
            trigger: "manual", reason: "again", at: now)
        #expect(again.verdict == "unchanged")
        #expect(try await store.aliases("shift")["champion"] == 2)
    }

    @Test func approvalPolicyWaitsAndMarginKeepsTheChampion() async throws {
        let waiting = try await shiftedProject(retraining: "retraining: {window: 90d, promote: approval}")
        let o = try await Retrainer(spec: waiting.spec, directory: waiting.dir, store: waiting.store).retrain(
            trigger: "manual", reason: "test", at: waiting.now)
        #expect(o.verdict == "awaiting approval" && o.detail.contains("mlcycle approve shift:2"))
        #expect(try await waiting.store.aliases("shift") == ["champion": 1, "challenger": 2])

        let strict = try await shiftedProject(retraining: "retraining: {window: 90d, promote: auto, margin: 5}")
        let k = try await Retrainer(spec: strict.spec, directory: strict.dir, store: strict.store).retrain(
            trigger: "manual", reason: "test", at: strict.now)
        #expect(k.verdict == "kept champion" && k.detail.contains("not better by the margin 5"))
        #expect(try await strict.store.aliases("shift")["champion"] == 1)
    }

    /// Too few recent rows to judge on: all of them train, and the new version waits for a person.
    @Test func fewRecentRowsAreNotAFairJudge() async throws {
        let p = try await shiftedProject(retraining: "retraining: {promote: auto}", served: 60)
        let o = try await Retrainer(spec: p.spec, directory: p.dir, store: p.store).retrain(
            trigger: "manual", reason: "test", at: p.now)
        #expect(o.feedbackRows == 60 && o.comparisonRows == 0 && o.championValue == nil)
        #expect(o.verdict == "awaiting approval" && o.detail.contains("fewer than 30 recent labelled rows"))
        #expect(try await p.store.aliases("shift")["champion"] == 1)
    }

    /// The served rows outside the window are not used.
    @Test func theWindowBoundsTheFeedbackRows() async throws {
        let p = try await shiftedProject(retraining: "retraining: {window: 30d, holdout: 0.5, promote: auto}")
        let o = try await Retrainer(spec: p.spec, directory: p.dir, store: p.store).retrain(
            trigger: "manual", reason: "test", at: p.now)
        #expect(o.feedbackRows == 50 && o.comparisonRows == 50)
    }

    /// `mlcycle watch`'s step: an alert named in retraining.on retrains; so does the schedule coming due.
    @Test func alertsAndTheScheduleTriggerRetraining() async throws {
        let p = try await shiftedProject(
            retraining: "retraining: {on: [accuracy-drop], schedule: \"0 3 * * *\", window: 90d, promote: auto}",
            alerts:
                "monitoring: {window: 1d, alerts: [{name: accuracy-drop, when: \"mape > 0.1 over 30d\", severity: critical, cooldown: 30d}]}"
        )
        let watcher = try Watcher(spec: p.spec, directory: p.dir, store: p.store)
        let step = try await watcher.step(at: p.now, previous: nil)
        #expect(step.monitored?.fired.map(\.name) == ["accuracy-drop"])
        let retrain = try #require(step.retrain)
        #expect(retrain.trigger.hasPrefix("alert accuracy-drop #") && retrain.verdict == "promoted")
        // The alert is in its cool-down a minute later; 03:00 UTC does not fall in (now, now + 1 min].
        let later = p.now.addingTimeInterval(60)
        let quiet = try await watcher.step(at: later, previous: p.now)
        #expect(quiet.retrain == nil && quiet.monitored?.fired.isEmpty == true)
        // The next 03:00 UTC after `later` comes due.
        let due = try #require(CronSchedule(parsing: "0 3 * * *").next(after: later))
        let scheduled = try await watcher.step(at: due, previous: later)
        #expect(scheduled.retrain?.trigger == "schedule 0 3 * * *")
    }

    /// With retraining on workers, the watcher queues the retraining and goes on watching; a trigger while it waits
    /// queues nothing more; a worker retrains as the watcher would have, and the next step reports its verdict. A
    /// worker whose copy of the project differs from the watcher's refuses the item.
    @Test func aWatcherQueuesRetrainingForAWorker() async throws {
        let p = try await shiftedProject(
            retraining: "retraining: {on: [accuracy-drop], schedule: \"0 3 * * *\", window: 90d, promote: auto}",
            alerts:
                "monitoring: {window: 1d, alerts: [{name: accuracy-drop, when: \"mape > 0.1 over 30d\", severity: critical, cooldown: 30d}]}"
        )
        let watcher = try Watcher(spec: p.spec, directory: p.dir, store: p.store)
        watcher.retrainOnWorkers = true
        let first = try await watcher.step(at: p.now, previous: nil)
        #expect(first.monitored?.fired.map(\.name) == ["accuracy-drop"] && first.retrain == nil)
        #expect(first.notes.contains { $0.hasPrefix("retraining (alert accuracy-drop #") && $0.contains("queued") })
        #expect(try await p.store.aliases("shift")["champion"] == 1)
        // The schedule comes due while the retraining is still queued: it waits.
        let later = p.now.addingTimeInterval(60)
        let due = try #require(CronSchedule(parsing: "0 3 * * *").next(after: later))
        let waiting = try await watcher.step(at: due, previous: later)
        #expect(
            waiting.notes.contains { $0.hasPrefix("retraining (schedule 0 3 * * *) waits: item") }, "\(waiting.notes)")

        #expect(try await Worker(store: p.store, name: "w1").run(idleExit: 0.2, poll: .milliseconds(50)) == 1)
        #expect(try await p.store.aliases("shift")["champion"] == 2)
        let after = due.addingTimeInterval(60)
        let reported = try await watcher.step(at: after, previous: due)
        let outcome = try #require(reported.retrain)
        #expect(outcome.trigger.hasPrefix("alert accuracy-drop #") && outcome.verdict == "promoted")
        #expect(reported.notes.contains { $0.hasPrefix("retrained by w1 (alert accuracy-drop #") }, "\(reported.notes)")
        #expect(try await Retrainer.history(p.store, project: "shift").map(\.verdict) == ["promoted"])
        // Reported once.
        let quiet = try await watcher.step(at: after.addingTimeInterval(60), previous: after)
        #expect(quiet.retrain == nil)

        // The project changes on the watcher's side only: the worker refuses to retrain from its own, older files.
        let next = try #require(CronSchedule(parsing: "0 3 * * *").next(after: after))
        try (String(contentsOfFile: "\(p.dir)/mlcycle.yaml", encoding: .utf8) + "\n# edited\n").write(
            toFile: "\(p.dir)/mlcycle.yaml", atomically: true, encoding: .utf8)
        let queued = try await watcher.step(at: next, previous: after)
        #expect(queued.notes.contains { $0.hasPrefix("retraining (schedule 0 3 * * *) queued") }, "\(queued.notes)")
        #expect(try await Worker(store: p.store, name: "w2").run(idleExit: 0.2, poll: .milliseconds(50)) == 0)
        let refused = try await watcher.step(at: next.addingTimeInterval(60), previous: next)
        #expect(
            refused.notes.contains { $0.contains("failed") && $0.contains("is not the one the watcher read") },
            "\(refused.notes)")
    }

    /// Served inputs (JSON) read back with the sources' column types: whole numbers into integer columns, text with
    /// commas and quotes intact, absent values missing, the target from feedback.
    @Test func labelledRowsReadBackWithTheSourceTypes() throws {
        let like = try Table(columns: [
            Column(name: "rooms", ints: [3]), Column(name: "note", strings: ["x"]),
            Column(name: "area", doubles: [1.5]),
            Column(name: "price", ints: [100]),
        ])
        let rows = LabelledRows(rows: [
            .init(inputs: #"{"rooms":4,"note":"big, \"sunny\"","area":2.25}"#, actual: "250000.0", at: Date()),
            .init(inputs: #"{"rooms":2}"#, actual: "99", at: Date()),
        ])
        let t = try rows.table(like: like, target: "price")
        #expect(t.columns.map(\.type) == [.int64, .string, .float64, .int64])
        #expect(
            try t.column("rooms")[0] == .int64(4) && t.column("note")[0] == .string("big, \"sunny\"")
                && t.column("area")[0] == .float64(2.25))
        #expect(try t.column("price")[0] == .int64(250_000) && t.column("price")[1] == .int64(99))
        #expect(try t.column("note")[1].isMissing && t.column("area")[1].isMissing)
        #expect(rows.key != LabelledRows(rows: Array(rows.rows.prefix(1))).key)
    }
}
