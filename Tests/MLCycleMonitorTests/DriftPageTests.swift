import Foundation
import MLCycleData
import MLCycleMonitor
import MLCycleReport
import Testing

@Suite struct DriftPageTests {
    @Test func thePageShowsTheVerdictTheTableAndAnOverlayPerColumn() throws {
        let reference = try Table(columns: [
            Column(name: "area", doubles: (0..<400).map { Double($0) }),
            Column(name: "kind", strings: (0..<400).map { ["a", "b", "c"][$0 % 3] }),
        ])
        let current = try Table(columns: [
            Column(name: "area", doubles: (0..<300).map { Double($0) + 150 }),
            Column(name: "kind", strings: (0..<300).map { ["a", "b", "<d>"][$0 % 3] }),
        ])
        let report = try DriftDetector.compare(reference: reference, current: current)
        let page = DriftReportPage.html(report, title: "now vs training")
        #expect(page.contains("id=\"verdict\"") && page.contains("id=\"drift-table\""))
        #expect(page.components(separatedBy: "<svg").count - 1 == 2)
        #expect(page.contains("&lt;d&gt;") && !page.contains("<d>"))  // category text is escaped
        for tag in ["section", "table", "svg", "tr", "rect", "main"] {
            #expect(
                page.components(separatedBy: "<\(tag)").count == page.components(separatedBy: "</\(tag)>").count,
                "unbalanced <\(tag)>")
        }
        let text = DriftReportPage.text(report)
        #expect(text.contains("area") && text.contains(report.datasetDrift ? "dataset drift" : "no dataset drift"))
    }
}

@Suite struct MonitoringPageTests {
    /// Every time axis reads in dates, every point says its window and value on hover, and alerts and alias moves are
    /// marked where they happened (and only within the charts' span).
    @Test func timeAxesAreDatedAndMarkWhereAlertsFiredAndAliasesMoved() throws {
        let (rows, end) = AlertTests().week()
        let windows = Monitoring.windows(rows, size: 86_400, end: end, regression: true)
        let first = try #require(windows.first)
        let middle = windows[windows.count / 2].end
        let page = MonitoringReportPage.html(
            model: "prices", version: "v2", window: "1d", windows: windows, drift: nil, checks: [], history: [],
            markers: [
                ChartMarker(at: middle, kind: .alert, label: "alert accuracy-drop: mape 0.2"),
                ChartMarker(at: middle.addingTimeInterval(3_600), kind: .move, label: "promote: champion → v2 (ann)"),
                ChartMarker(at: first.start.addingTimeInterval(-86_400 * 30), kind: .move, label: "long before"),
            ])
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd"
        let charts = page.components(separatedBy: "<svg").count - 1
        #expect(charts >= 5)
        #expect(page.components(separatedBy: ">\(f.string(from: first.start))</text>").count - 1 == charts)
        #expect(page.components(separatedBy: "class=\"marker alert\"").count - 1 == charts)
        #expect(page.components(separatedBy: "class=\"marker move\"").count - 1 == charts)
        #expect(!page.contains("long before") && page.contains("promote: champion → v2 (ann)"))
        let volume = "\(f.string(from: first.start)) – \(f.string(from: first.end)): \(first.volume)</title>"
        #expect(page.contains(volume), "each point's window and value on hover")
    }

    @Test func thePageShowsSeriesRulesHistoryAndDrift() throws {
        let (rows, end) = AlertTests().week()
        let windows = Monitoring.windows(rows, size: 86_400, end: end, regression: true)
        let checker = AlertChecker(predictions: rows, regression: true, window: 86_400, drift: { _, _ in nil })
        let checks = [
            try checker.check(name: "accuracy-drop", severity: "critical", rule: "mape > 0.12 over 3d", at: end),
            try checker.check(name: "quiet", severity: "warning", rule: "volume < 10% of previous 7d", at: end),
        ]
        let reference = try Table(columns: [Column(name: "area", doubles: (0..<400).map { Double($0) })])
        let current = try Table(columns: [Column(name: "area", doubles: (0..<300).map { Double($0) + 250 })])
        let drift = try DriftDetector.compare(reference: reference, current: current)
        let page = MonitoringReportPage.html(
            model: "prices", version: "v2", window: "1d", windows: windows, drift: drift, checks: checks,
            history: [
                .init(
                    at: end, name: "accuracy-drop", severity: "critical", reason: "mape is 0.3 <high>",
                    delivery: "sent (attempt 1)")
            ])
        #expect(page.contains("1 alert firing: accuracy-drop"))
        #expect(
            page.contains("id=\"series\"") && page.contains("id=\"alerts\"") && page.contains("id=\"history\"")
                && page.contains("id=\"drift-table\""))
        #expect(page.contains("mape on rows with feedback (alert at 0.12)"))
        #expect(page.contains("&lt;high&gt;"))
        #expect(page.components(separatedBy: "<svg").count - 1 == 7)  // six series and the drifted column's overlay
        #expect(
            page.contains("Refused requests (error rate)") && page.contains("id=\"retraining\"")
                && page.contains("No retraining yet."))
        for tag in ["section", "table", "svg", "tr", "main"] {
            #expect(
                page.components(separatedBy: "<\(tag)").count == page.components(separatedBy: "</\(tag)>").count,
                "unbalanced <\(tag)>")
        }
        // With prediction drift, slices and a retraining.
        let answers = try #require(
            try DriftDetector.predictionDrift(
                reference: .numbers((0..<300).map(Double.init)), served: (0..<50).map { String($0 * 9) }))
        let full = MonitoringReportPage.html(
            model: "prices", version: "v2", window: "1d", windows: windows, drift: drift, checks: checks, history: [],
            retrainings: [
                .init(
                    at: end, trigger: "alert accuracy-drop #3", versions: "champion v1 vs v2", verdict: "promoted",
                    detail: "mape 0.2 → 0.1")
            ],
            predictionDrift: answers,
            slices: [SliceSummary(column: "kind", value: "a", rows: 3, metrics: ["mape": 0.25])])
        #expect(
            full.contains("id=\"prediction-drift\"") && full.contains("id=\"slices\"")
                && full.contains("alert accuracy-drop #3") && full.contains("mape 0.2 → 0.1"))
        #expect(full.components(separatedBy: "<svg").count - 1 == 8)
        for tag in ["section", "table", "svg", "tr"] {
            #expect(
                full.components(separatedBy: "<\(tag)").count == full.components(separatedBy: "</\(tag)>").count,
                "unbalanced <\(tag)>")
        }
    }
}
