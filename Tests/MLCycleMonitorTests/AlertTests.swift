import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCycleMetrics
import MLCycleQuality
import Testing

@testable import MLCycleMonitor

@Suite struct AlertTests {
    @Test func conditionsParseAndBadOnesSayWhy() throws {
        let a = try AlertCondition.parse("mape > 0.12 over 7d")
        #expect(a.metric == "mape" && a.comparison == .gt && a.threshold == 0.12 && a.over == 7 * 86_400)
        let b = try AlertCondition.parse("volume < 50% of previous 7d")
        #expect(b.metric == "volume" && b.threshold == 0.5 && b.ofPrevious == 7 * 86_400)
        let c = try AlertCondition.parse("latency_p99 > 250ms over 1h")
        #expect(abs(c.threshold - 0.25) < 1e-12 && c.over == 3600)
        let d = try AlertCondition.parse("psi(living_area_sqft) >= 0.25")
        #expect(d.metric == "psi" && d.column == "living_area_sqft" && d.comparison == .ge)
        for bad in [
            "mape", "speed > 3", "mape >> 3", "mape > lots", "psi > 0.2", "mape > 0.1 over soon",
            "volume < 0.5 of previous 7d",
        ] {
            #expect(throws: MonitorError.self, "\(bad)") { try AlertCondition.parse(bad) }
        }
    }

    /// A week of served prices with feedback: the first days are accurate, the last days 30 % off.
    func week() -> (rows: [ServedPrediction], end: Date) {
        let start = Date(timeIntervalSince1970: 1_262_304_000)  // 2010-01-01
        var rows = [ServedPrediction]()
        for day in 0..<14 {
            for i in 0..<(day < 7 ? 40 : 20) {
                let actual = 100_000.0 + Double(i) * 1000
                let off = day >= 11 ? 1.3 : 1.02
                rows.append(
                    ServedPrediction(
                        at: start.addingTimeInterval(Double(day) * 86_400 + Double(i) * 60), version: "v1",
                        latencySeconds: 0.001 * Double(i % 10 + 1), status: i == 0 ? "unavailable" : "ok",
                        prediction: i == 0 ? nil : String(actual * off), actual: String(actual)))
            }
        }
        return (rows, start.addingTimeInterval(14 * 86_400))
    }

    @Test func windowsCountAndMeasure() throws {
        let (rows, end) = week()
        let windows = Monitoring.windows(rows, size: 86_400, end: end, regression: true)
        #expect(windows.count == 14 && windows.map(\.volume).reduce(0, +) == rows.count)
        #expect(
            windows[0].volume == 40 && windows[0].unavailable == 1
                && abs(windows[0].unavailableShare - 1.0 / 40) < 1e-12)
        #expect(abs(windows[0].metrics["mape"]! - 0.02) < 1e-9 && abs(windows[13].metrics["mape"]! - 0.3) < 1e-9)
        #expect(windows[0].labelled == 39 && windows[0].latencyP50 != nil)
    }

    @Test func rulesFireOnTheNumbers() throws {
        let (rows, end) = week()
        let checker = AlertChecker(predictions: rows, regression: true, window: 86_400, drift: { _, _ in nil })
        let accuracy = try checker.check(
            name: "accuracy-drop", severity: "critical", rule: "mape > 0.12 over 3d", at: end)
        #expect(accuracy.fired && abs(accuracy.value! - 0.3) < 1e-9)
        let calm = try checker.check(
            name: "early", severity: "warning", rule: "mape > 0.12 over 3d", at: end.addingTimeInterval(-5 * 86_400))
        #expect(!calm.fired)
        let volume = try checker.check(
            name: "volume", severity: "warning", rule: "volume < 60% of previous 7d", at: end)
        #expect(volume.fired && abs(volume.value! - 0.5) < 1e-12)  // 140 rows this week, 280 the week before
        let quiet = try checker.check(name: "drift", severity: "warning", rule: "drift_share > 0.3", at: end)
        #expect(!quiet.fired && quiet.value == nil && quiet.reason.contains("nothing served"))
    }

    @Test func servedInputsDriftAgainstTheBundlesReference() throws {
        var rng = SeededGenerator(seed: 9)
        let training = try Table(columns: [
            Column(name: "area", doubles: (0..<2000).map { _ in 800 + Double(rng.next(upperBound: 2000)) }),
            Column(name: "kind", strings: (0..<2000).map { _ in ["a", "b", "c"][Int(rng.next(upperBound: 3))] }),
        ])
        let reference = ReferenceStatistics.compute(training)
        let logged = (0..<300).map { i in
            #"{"area":\#(1600 + Double(i % 50) * 40),"kind":"\#(["a", "c", "d"][i % 3])"}"#
        }
        let current = try DriftDetector.table(loggedInputs: logged, reference: reference)
        let report = try DriftDetector.compare(reference: reference, current: current)
        #expect(report.columns.map(\.name) == ["area", "kind"])
        #expect(report.columns[0].method == "wasserstein" && report.columns[0].drifted)
        #expect(report.columns[1].unseenCategories == ["d"] && report.columns[1].drifted)
        let checker = AlertChecker(predictions: [], regression: true, window: 86_400, drift: { _, _ in report })
        let psi = try checker.check(name: "area-shift", severity: "warning", rule: "psi(area) > 0.25", at: Date())
        #expect(psi.fired && abs(psi.value! - report.columns[0].tests.psi) < 1e-12)
        #expect(throws: MonitorError.self) {
            try checker.check(name: "x", severity: "warning", rule: "psi(nope) > 0.25", at: Date())
        }
    }
}

@Suite struct ServedOutputTests {
    /// Confidence per window: the mean probability of the predicted class, and the share of low-confidence answers.
    @Test func windowsAverageConfidence() {
        let t0 = Date(timeIntervalSince1970: 0)
        let rows = [
            ServedPrediction(
                at: t0, version: "v1", latencySeconds: 0.01, status: "ok", prediction: "yes", actual: nil,
                confidence: 0.9, lowConfidence: false),
            ServedPrediction(
                at: t0, version: "v1", latencySeconds: 0.01, status: "ok", prediction: "no", actual: nil,
                confidence: 0.6, lowConfidence: true),
            ServedPrediction(
                at: t0, version: "v1", latencySeconds: 0.01, status: "unavailable", prediction: nil, actual: nil),
        ]
        let w = Monitoring.summarize(rows, start: t0, end: t0.addingTimeInterval(60), regression: false)
        #expect(abs((w.confidenceMean ?? 0) - 0.75) < 1e-12 && w.lowConfidenceShare == 0.5)
    }

    /// A binary classifier's windows: precision, recall and F1 from the served labels; AUC and log-loss from the
    /// logged probability of the predicted class (so P(positive) = p or 1 − p).
    @Test func binaryWindowsHaveRecallAndAUC() {
        let t0 = Date(timeIntervalSince1970: 0)
        func row(_ said: String, _ p: Double, _ actual: String) -> ServedPrediction {
            ServedPrediction(
                at: t0, version: "v1", latencySeconds: 0.01, status: "ok", prediction: said, actual: actual,
                confidence: p)
        }
        let rows = [row("yes", 0.9, "yes"), row("yes", 0.6, "no"), row("no", 0.8, "no"), row("no", 0.7, "yes")]
        let w = Monitoring.summarize(
            rows, start: t0, end: t0.addingTimeInterval(60), regression: false, positive: "yes")
        #expect(
            w.metrics["accuracy"] == 0.5 && w.metrics["precision"] == 0.5 && w.metrics["recall"] == 0.5
                && w.metrics["f1"] == 0.5)
        // Positives score 0.9 and 0.3, negatives 0.6 and 0.2: three of four pairs in order.
        #expect(w.metrics["auc"] == 0.75)
        #expect(abs((w.metrics["logloss"] ?? 0) - -(log(0.9) + log(0.4) + log(0.8) + log(0.3)) / 4) < 1e-12)
        #expect(
            Monitoring.summarize(rows, start: t0, end: t0.addingTimeInterval(60), regression: false).metrics.keys
                .sorted() == ["accuracy"])
    }

    /// Prediction drift is the drift of a column named "prediction": the same tests on the answers.
    @Test func predictionDriftIsTheOutputColumnsDrift() throws {
        let reference = (0..<500).map { Double($0 % 50) }
        let served = (0..<80).map { Double($0 % 50) + 20 }
        let drift = try #require(
            try DriftDetector.predictionDrift(reference: .numbers(reference), served: served.map { String($0) }))
        let direct = try DriftDetector.compare(
            reference: Table(columns: [Column(name: "prediction", doubles: reference.map { Optional($0) })]),
            current: Table(columns: [Column(name: "prediction", doubles: served.map { Optional($0) })])
        ).columns[0]
        #expect(drift.method == "ks" && drift.score == direct.score && drift.drifted)
        let labels = try #require(
            try DriftDetector.predictionDrift(
                reference: .counts(["yes": 30, "no": 70]), served: Array(repeating: "yes", count: 40)))
        #expect(labels.type == "categorical" && labels.drifted)
        #expect(try DriftDetector.predictionDrift(reference: .numbers(reference), served: []) == nil)
        // As an alert metric.
        let t0 = Date(timeIntervalSince1970: 0)
        var checker = AlertChecker(predictions: [], regression: true, window: 60, drift: { _, _ in nil })
        checker.predictionDrift = { _, _ in drift }
        let check = try checker.check(name: "answers", severity: "info", rule: "prediction_psi > 0.1", at: t0)
        #expect(check.fired && check.value == drift.tests.psi)
    }

    /// Metrics per slice of labelled answers, on input columns and on the target (from feedback).
    @Test func slicesOfLabelledAnswers() throws {
        let inputs = try Table(columns: [Column(name: "kind", strings: ["a", "a", "b", "b"])])
        let slices = try Monitoring.slices(
            inputs, target: "price", predictions: ["110", "90", "200", "300"], actual: ["100", "100", "200", "200"],
            specs: [SliceSpec(column: "kind"), SliceSpec(column: "price", edges: [150]), SliceSpec(column: "derived")],
            regression: true)
        #expect(
            slices.map { "\($0.column)=\($0.value):\($0.rows)" } == [
                "kind=a:2", "kind=b:2", "price=< 150:2", "price=≥ 150:2",
            ])
        #expect(
            abs((slices[0].metrics["mape"] ?? 0) - 0.1) < 1e-12 && abs((slices[1].metrics["mape"] ?? 0) - 0.25) < 1e-12)
    }
}
