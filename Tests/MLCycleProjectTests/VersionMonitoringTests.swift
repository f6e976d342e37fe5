import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCycleMonitor
import MLCycleProject
import MLCycleStore
import Testing

/// The shifted project (champion v1, 200 served rows paying 30 % more than it says) with a challenger v2 that knows
/// the new prices: it answered 100 requests of its own as a canary and shadowed the champion's first 100.
func projectWithAChallenger() async throws -> (store: SQLiteStore, spec: ProjectSpec, now: Date) {
    let (store, _, spec, now) = try await shiftedProject(
        retraining: "",
        alerts: #"monitoring: {alerts: [{name: busy, when: "volume > 10 over 90d", severity: warning}]}"#)
    let v1 = try #require(try await store.modelVersion("shift", version: 1))
    let v2 = try await store.registerModel(
        NewModelVersion(
            name: "shift", bundle: v1.bundle, metrics: v1.metrics, gatesPassed: true, gates: [], run: nil,
            datasets: [], specHash: nil),
        actor: "test")
    try await store.setAlias(
        "shift", alias: "challenger", version: v2.version, actor: "test", action: "alias", reason: "test")
    let champion = try await store.predictions(model: "shift", since: nil, limit: 1000)
    let truth = try await store.latestActuals(for: champion)
    var rows = [PredictionRecord]()
    var feedback = [FeedbackRecord]()
    var rng = SeededGenerator(seed: 5)
    func close(_ actual: Double) -> String { String(actual * (1 + (Double(rng.next(upperBound: 61)) - 30) / 1000)) }
    for (i, p) in champion.prefix(100).enumerated() {
        let actual = try #require(truth[p.id].flatMap(Double.init))
        var shadow = p
        shadow.id = p.id + "-shadow"
        shadow.version = "v2"
        shadow.status = "shadow"
        shadow.prediction = close(actual)
        rows.append(shadow)
        // A canary answer of its own, with its own actual.
        var canary = p
        canary.id = "canary\(i)"
        canary.version = "v2"
        canary.prediction = close(actual)
        rows.append(canary)
        feedback.append(FeedbackRecord(predictionID: canary.id, value: String(actual)))
    }
    try await store.logPredictions(rows)
    try await store.recordFeedback(feedback)
    return (store, spec, now)
}

@Suite struct VersionMonitoringTests {
    /// Each version's windows hold its own rows; a shadow's answers carry the actual of the request they shadowed;
    /// only the champion's alerts are stored.
    @Test func eachVersionIsMonitoredOnItsOwnRows() async throws {
        let (store, spec, now) = try await projectWithAChallenger()
        let pass = MonitoringPass(store: store, spec: spec)
        let output = try #require(try await pass.runServed("shift", window: "7d", at: now))
        #expect(output.version == "v1" && output.aliases == ["champion"])
        #expect(output.windows.map(\.volume).reduce(0, +) == 200)
        #expect(output.windows.allSatisfy { Set($0.versions.keys).isSubset(of: ["v1"]) })
        let challenger = try #require(output.alongside.first)
        #expect(challenger.version == "v2" && challenger.aliases == ["challenger"] && challenger.shadowRows == 100)
        #expect(challenger.windows.map(\.volume).reduce(0, +) == 200)
        // Every one of its answers is labelled: the canary's by their own feedback, the shadow's by the champion's.
        #expect(challenger.windows.map(\.labelled).reduce(0, +) == 200)
        let mapeV2 = try #require(challenger.windows.last { $0.labelled > 0 }?.metrics["mape"])
        let mapeV1 = try #require(output.windows.last { $0.labelled > 0 }?.metrics["mape"])
        #expect(mapeV2 < 0.03 && mapeV1 > 0.15, "v1 \(mapeV1), v2 \(mapeV2)")
        // The rule fires for both; only the champion's alert is stored.
        #expect(output.alerts.first?.fired == true && challenger.alerts.first?.fired == true)
        #expect(output.fired.count == 1 && challenger.fired.isEmpty)
        #expect(try await store.alerts(model: "shift", limit: 10).count == 1)
        // The comparison pairs the shadowed requests.
        let comparison = try #require(output.comparison)
        #expect(comparison.paired && comparison.pairedRows == 100 && comparison.verdict == .better)
        // The page shows both versions and the comparison.
        let html = try await pass.html(output)
        #expect(html.contains("Each version on its own rows") && html.contains("Champion and challenger"))
    }

    /// The paired difference is the metric's difference on the requests both answered, and its bootstrap interval
    /// agrees with the normal approximation for a mean of paired differences (MAPE is a mean of per-row errors).
    @Test func thePairedDifferenceAndItsIntervalAreWhatTheRowsSay() async throws {
        let (store, spec, now) = try await projectWithAChallenger()
        let pass = MonitoringPass(store: store, spec: spec)
        let c = try await pass.compare("shift", since: .distantPast, at: now)
        let champion = try await store.predictions(model: "shift", version: "v1", since: nil, limit: 1000)
        let shadow = Dictionary(
            uniqueKeysWithValues: try await store.predictions(model: "shift", version: "v2", since: nil, limit: 1000)
                .filter { $0.status == "shadow" }.map { (MonitoringPass.requestID($0.id), $0) })
        let truth = try await store.latestActuals(for: champion)
        var differences = [Double]()
        for p in champion {
            guard let s = shadow[p.id], let y = truth[p.id].flatMap(Double.init),
                let a = p.prediction.flatMap(Double.init), let b = s.prediction.flatMap(Double.init)
            else { continue }
            differences.append(abs(y - b) / abs(y) - abs(y - a) / abs(y))
        }
        #expect(differences.count == 100 && c.pairedRows == 100)
        let n = Double(differences.count)
        let mean = differences.reduce(0, +) / n
        let sd = (differences.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / (n - 1)).squareRoot()
        let point = try #require(c.difference)
        let interval = try #require(c.interval)
        #expect(abs(point - mean) < 1e-12)
        let half = 1.96 * sd / n.squareRoot()
        // A percentile bootstrap with 1,000 resamples: each end within 15 % of the half-width of the normal one.
        #expect(abs(interval[0] - (mean - half)) < 0.15 * half && abs(interval[1] - (mean + half)) < 0.15 * half)
        #expect(c.verdict == .better && c.champion.labelled == 200 && c.challenger.labelled == 200)
    }

    /// A canary's own rows against the champion's: an unpaired bootstrap; the same model on both sides is no
    /// difference the rows can tell, and the verdict says how many rows it would take.
    @Test func aCanaryIsComparedUnpairedAndTooCloseToTellSaysHowManyRows() {
        var rng = SeededGenerator(seed: 3)
        func rows(_ version: String, _ count: Int, error: Double) -> ReleaseComparison.Rows {
            var out = [ServedPrediction]()
            for _ in 0..<count {
                let y = 100 + Double(rng.next(upperBound: 100))
                let e = (Double(rng.next(upperBound: 2001)) - 1000) / 1000 * error
                out.append(
                    ServedPrediction(
                        at: Date(), version: version, latencySeconds: 0.002, status: "ok",
                        prediction: String(y * (1 + e)), actual: String(y)))
            }
            return .init(version: version, rows: out, requestIDs: (0..<count).map { "\(version)-\($0)" })
        }
        let same = ReleaseComparison.compare(
            metric: "mape", champion: rows("v1", 200, error: 0.1), challenger: rows("v2", 200, error: 0.102),
            regression: true)
        #expect(!same.paired && same.verdict == .cantTell)
        #expect((same.rowsNeeded ?? 0) > 200, "\(same.explanation)")
        let worse = ReleaseComparison.compare(
            metric: "mape", champion: rows("v1", 200, error: 0.05), challenger: rows("v2", 200, error: 0.2),
            regression: true)
        #expect(worse.verdict == .worse && (worse.interval?[0] ?? 0) > 0)
        let few = ReleaseComparison.compare(
            metric: "mape", champion: rows("v1", 10, error: 0.05), challenger: rows("v2", 10, error: 0.2),
            regression: true)
        #expect(few.verdict == .cantTell && few.interval == nil && few.explanation.contains("too few"))
    }

    /// Drift is measured on the columns the model reads: a column the preparation drops is left out, and so is a
    /// date (it moves forward by nature) unless the spec names it.
    @Test func driftLeavesOutWhatTheModelDoesNotReadAndDatesUnlessNamed() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-dated-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var csv = "size,kind,listed,note,price\n"
        for i in 0..<120 {
            let size = 1 + Double(i % 40) / 4
            csv += "\(size),\(i % 3 == 0 ? "a" : "b"),20\(10 + i % 5)-0\(1 + i % 9)-15,n\(i % 7),\(100 + 50 * size)\n"
        }
        try csv.write(toFile: "\(dir)/houses.csv", atomically: true, encoding: .utf8)
        try """
        problem: {name: dated, task: regression, target: price}
        sources: [{name: houses, path: houses.csv}]
        preparation:
          - parse_dates: {columns: [listed], formats: [yyyy-MM-dd]}
          - derive: {name: listed_year, expression: "year(listed)"}
          - drop: [listed, note]
        split: {method: random, test: 0.25, seed: 1}
        candidates: [{name: linear, learner: linear}]
        monitoring: {window: 1d}
        """.write(toFile: "\(dir)/mlcycle.yaml", atomically: true, encoding: .utf8)
        let store = try SQLiteStore(directory: "\(dir)/.mlcycle")
        var spec = try ProjectFile.load(path: "\(dir)/mlcycle.yaml")
        _ = try await Runner(spec: spec, directory: dir, store: store).run()
        let version = try #require(try await store.modelVersion("dated", version: 1))
        let bundle = try await ModelBundle.decode(try store.artifact(version.bundle), path: "v1")
        #expect(Set(bundle.columnsTheModelReads) == ["size", "kind", "listed"])
        let now = Date()
        try await store.logPredictions(
            (0..<40).map { i in
                PredictionRecord(
                    id: "d\(i)", model: "dated", version: "v1", at: now.addingTimeInterval(-Double(i) * 60),
                    latencySeconds: 0.001,
                    inputs: #"{"size":\#(1 + Double(i % 40) / 4),"kind":"a","listed":"2024-06-15","note":"n1"}"#,
                    prediction: "150", status: "ok")
            })
        let output = try await MonitoringPass(store: store, spec: spec).run(version, at: now.addingTimeInterval(1))
        #expect(Set(output.drift?.columns.map(\.name) ?? []) == ["size", "kind"])
        #expect(output.driftLeftOut["note"] == "not read by the model")
        #expect(output.driftLeftOut["listed"]?.contains("moves forward") == true)
        spec.monitoring?.driftThresholds["listed"] = 0.05
        let named = try await MonitoringPass(store: store, spec: spec).run(version, at: now.addingTimeInterval(1))
        #expect(Set(named.drift?.columns.map(\.name) ?? []) == ["size", "kind", "listed"])
    }

    /// Overrides are their own record: how often, how far, which way and where people replaced the estimates; not
    /// labels unless the spec says so, and an actual wins over an override.
    @Test func overridesAreMeasuredApartAndLabelOnlyWhenAllowed() async throws {
        var (store, _, spec, now) = try await shiftedProject(retraining: "")
        spec.evaluation.slices = ["kind"]
        let recent = try await store.predictions(
            model: "shift", since: now.addingTimeInterval(-7 * 86_400), limit: 1000)
        let moved = recent.filter { $0.inputs.contains(#""kind":"a""#) }
        try await store.recordFeedback(
            moved.map { p in
                FeedbackRecord(
                    predictionID: p.id, value: String((p.prediction.flatMap(Double.init) ?? 0) * 1.1), kind: .override)
            })
        let version = try #require(try await store.modelVersion("shift", version: 1))
        let output = try await MonitoringPass(store: store, spec: spec).run(version, window: "7d", at: now)
        let o = try #require(output.overrides)
        #expect(o.rows == recent.count && o.overrides == moved.count && !moved.isEmpty)
        #expect(abs((o.shift ?? 0) - 0.1) < 1e-9 && o.upShare == 1)
        #expect(o.slices.first?.column == "kind" && o.slices.first?.value == "a" && o.slices.first?.rate == 1)
        let last = try #require(output.windows.last)
        #expect(last.overrides == moved.count && abs(last.overrideRate - o.rate) < 1e-12)
        // The actuals still judge the model: the overrides did not replace them.
        #expect(last.labelled == recent.count)
        // A row with an override and no actual labels retraining only where the spec allows it.
        try await store.logPredictions([
            PredictionRecord(
                id: "only-override", model: "shift", version: "v1", at: now.addingTimeInterval(-60),
                latencySeconds: 0.001, inputs: #"{"size":2,"kind":"a"}"#, prediction: "200", status: "ok")
        ])
        try await store.recordFeedback([FeedbackRecord(predictionID: "only-override", value: "260", kind: .override)])
        let without = try await Retrainer.labelledRows(store, model: "shift", since: nil, before: now)
        let with = try await Retrainer.labelledRows(store, model: "shift", since: nil, before: now, overrides: true)
        #expect(with.rows.count == without.rows.count + 1)
        let truth = try await store.latestActuals(for: moved)
        let labels = Dictionary(with.rows.map { ($0.inputs, $0.actual) }, uniquingKeysWith: { a, _ in a })
        #expect(moved.allSatisfy { labels[$0.inputs] == truth[$0.id] })
    }

    /// A shadow's answer keeps what it was: one outside the scope counts as a review, under the shadowed request's id.
    @Test func aShadowAnswerForReviewStaysAReview() async throws {
        let (store, _, now) = try await projectWithAChallenger()
        try await store.logPredictions([
            PredictionRecord(
                id: "r1-shadow", model: "shift", version: "v2", at: now.addingTimeInterval(-10), latencySeconds: 0.001,
                inputs: "{}", prediction: "900", status: "shadow review", reasons: ["outside scope: prediction <= 800"])
        ])
        let log = try await MonitoringPass.versionLog(store, model: "shift", version: 2, since: nil, before: now)
        let row = try #require(log.records.first { $0.id == "r1" })
        #expect(row.status == "review" && log.shadowRows == 101)
        #expect(Monitoring.summarize(log.served, start: .distantPast, end: now, regression: true).review == 1)
    }
}
