import Foundation
import MLCycleData
import MLCycleMonitor
import MLCycleProject
import Testing

@testable import MLCycleStore

/// The windows a monitoring pass reads are summed up by the database; they must be what `Monitoring.windows` computes
/// from the same rows, on both stores.
@Suite struct PredictionWindowsTests {
    static let end = Date(timeIntervalSince1970: 1_800_000_000)
    static let hour = 3600.0

    /// A log over six hours of one version beside another version's rows: answers, reviews, unavailable rows,
    /// refusals, a shadow's answers, ties in latency, low confidence, repeated feedback (the latest wins), overrides,
    /// rows exactly on a window's edge, and an hour with refusals only.
    static func log(model: String, regression: Bool) -> (rows: [PredictionRecord], feedback: [FeedbackRecord]) {
        var rows = [PredictionRecord]()
        var feedback = [FeedbackRecord]()
        var generator = SeededGenerator(seed: regression ? 7 : 11)
        for i in 0..<240 {
            let hourBack = Double(i % 6)
            // Every 40th row sits on the start of its hour; the rest inside it.
            let offset = i % 40 == 0 ? 0 : Double.random(in: 0..<1, using: &generator) * hour * 0.999
            let at = end.addingTimeInterval(-(hourBack + 1) * hour + offset)
            let latency = i % 9 == 0 ? 0.005 : 0.001 + Double.random(in: 0..<1, using: &generator) * 0.02
            let status: String
            switch i % 12 {
            case 0: status = "error 400"
            case 1: status = "review"
            case 2: status = "unavailable"
            case 3: status = "shadow"
            case 4: status = "shadow review"
            case 5: status = "error 422"
            default: status = "ok"
            }
            // The fifth hour back has refusals only.
            let finalStatus = hourBack == 4 ? "error 400" : status
            let id = finalStatus.hasPrefix("shadow") ? "r\(i)-shadow" : "r\(i)"
            let truth = 100_000 + Double.random(in: 0..<1, using: &generator) * 200_000
            let prediction: String?
            let confidence: Double?
            if finalStatus == "unavailable" || finalStatus.hasPrefix("error") {
                prediction = nil
                confidence = nil
            } else if regression {
                prediction = String(truth * (0.8 + Double.random(in: 0..<1, using: &generator) * 0.4))
                confidence = nil
            } else {
                prediction = Double.random(in: 0..<1, using: &generator) < 0.5 ? "yes" : "no"
                // A tie in probabilities now and then.
                confidence = i % 7 == 0 ? 0.75 : 0.5 + Double.random(in: 0..<1, using: &generator) * 0.5
            }
            rows.append(
                PredictionRecord(
                    id: id, model: model, version: "v1", at: at, latencySeconds: latency, inputs: "{}",
                    prediction: prediction, status: finalStatus, confidence: confidence, lowConfidence: i % 5 == 0))
            // The other version's rows must not count.
            rows.append(
                PredictionRecord(
                    id: "o\(i)", model: model, version: "v2", at: at, latencySeconds: 9, inputs: "{}",
                    prediction: "1", status: "ok"))
            let request = "r\(i)"
            if i % 5 != 2 {
                let actual =
                    regression ? String(truth) : (Double.random(in: 0..<1, using: &generator) < 0.5 ? "yes" : "no")
                if i % 4 == 0 {
                    feedback.append(
                        FeedbackRecord(
                            predictionID: request, value: regression ? "1" : "no", at: at.addingTimeInterval(10)))
                }
                feedback.append(FeedbackRecord(predictionID: request, value: actual, at: at.addingTimeInterval(20)))
            }
            if i % 6 == 1 {
                let override = regression ? String(truth * 1.05) : "yes"
                feedback.append(
                    FeedbackRecord(
                        predictionID: request, value: override, kind: .override, at: at.addingTimeInterval(30)))
            }
        }
        return (rows, feedback)
    }

    @Test(arguments: StoreKind.available, [true, false])
    func theDatabasesWindowsAreTheRowsWindows(_ kind: StoreKind, regression: Bool) async throws {
        let store = try await TestStore.make(kind).store
        let model = regression ? "houses" : "churn"
        let (rows, feedback) = Self.log(model: model, regression: regression)
        try await store.logPredictions(rows)
        try await store.recordFeedback(feedback)
        let positive: String? = regression ? nil : "yes"
        let (summed, shadowRows, _) = try await MonitoringPass.windows(
            store, model: model, version: 1, size: Self.hour, end: Self.end, regression: regression,
            positive: positive, limit: 30)
        let log = try await MonitoringPass.versionLog(
            store, model: model, version: 1, since: Self.end.addingTimeInterval(-30 * Self.hour), before: Self.end)
        let fromRows = Monitoring.windows(
            log.served, size: Self.hour, end: Self.end, regression: regression, positive: positive, limit: 30)
        #expect(summed.count == 6 && fromRows.count == 6)
        #expect(shadowRows == log.shadowRows && shadowRows > 0)
        #expect(fromRows.contains { $0.volume == 0 && !$0.errors.isEmpty })
        #expect(fromRows.filter { $0.labelled > 0 }.count >= 4)
        for (a, b) in zip(summed, fromRows) {
            #expect(a.start == b.start && a.end == b.end)
            #expect(a.volume == b.volume && a.errors == b.errors && a.unavailable == b.unavailable)
            #expect(a.review == b.review && a.labelled == b.labelled && a.overrides == b.overrides)
            #expect(a.versions == b.versions)
            #expect(Set(a.metrics.keys) == Set(b.metrics.keys), "\(a.metrics.keys) vs \(b.metrics.keys)")
            for (name, value) in b.metrics {
                #expect(close(a.metrics[name], value), "\(name): \(a.metrics[name] ?? .nan) vs \(value)")
            }
            let pairs: [(String, Double?, Double?)] = [
                ("error rate", a.errorRate, b.errorRate), ("unavailable share", a.unavailableShare, b.unavailableShare),
                ("review share", a.reviewShare, b.reviewShare), ("p50", a.latencyP50, b.latencyP50),
                ("p95", a.latencyP95, b.latencyP95), ("p99", a.latencyP99, b.latencyP99),
                ("prediction mean", a.predictionMean, b.predictionMean),
                ("confidence mean", a.confidenceMean, b.confidenceMean),
                ("low confidence share", a.lowConfidenceShare, b.lowConfidenceShare),
                ("override rate", a.overrideRate, b.overrideRate), ("override shift", a.overrideShift, b.overrideShift),
            ]
            for (name, x, y) in pairs {
                #expect(x == nil && y == nil || y.map { close(x, $0) } == true, "\(name): \(x as Any) vs \(y as Any)")
            }
        }
        // Binary windows measure AUC and log-loss; regression windows the median error.
        #expect(summed.contains { $0.metrics[regression ? "median_ape" : "auc"] != nil })
        // Spans may overlap (an alert rule over six hours beside one over two): each row counts in every span it is in.
        let spans = [6.0, 2.0, 6.0].map {
            PredictionWindows.Bound(start: Self.end.addingTimeInterval(-$0 * Self.hour), end: Self.end)
        }
        let (_, _, overlapping) = try await MonitoringPass.windows(
            store, model: model, version: 1, size: Self.hour, end: Self.end, regression: regression,
            positive: positive, spans: spans)
        #expect(overlapping.count == spans.count)
        for (a, bound) in zip(overlapping, spans) {
            let b = Monitoring.summarize(
                log.served, start: bound.start, end: bound.end, regression: regression, positive: positive)
            #expect(a.volume == b.volume && a.labelled == b.labelled && a.errors == b.errors)
            for (name, value) in b.metrics { #expect(close(a.metrics[name], value), "\(name)") }
        }
    }

    @Test(arguments: StoreKind.available)
    func aVersionWithoutRowsHasNoWindows(_ kind: StoreKind) async throws {
        let store = try await TestStore.make(kind).store
        let (windows, shadowRows, _) = try await MonitoringPass.windows(
            store, model: "none", version: 1, size: Self.hour, end: Self.end, regression: true, positive: nil)
        #expect(windows.isEmpty && shadowRows == 0)
    }

    func close(_ a: Double?, _ b: Double) -> Bool {
        guard let a else { return false }
        return abs(a - b) <= 1e-9 * max(1, abs(b))
    }
}
