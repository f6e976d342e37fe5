import Foundation
import Testing
import MLCycleData
import MLCycleMonitor
import MLCycleReport

@Suite struct DriftPageTests {
    @Test func thePageShowsTheVerdictTheTableAndAnOverlayPerColumn() throws {
        let reference = try Table(columns: [Column(name: "area", doubles: (0..<400).map { Double($0) }),
                                            Column(name: "kind", strings: (0..<400).map { ["a", "b", "c"][$0 % 3] })])
        let current = try Table(columns: [Column(name: "area", doubles: (0..<300).map { Double($0) + 150 }),
                                          Column(name: "kind", strings: (0..<300).map { ["a", "b", "<d>"][$0 % 3] })])
        let report = try DriftDetector.compare(reference: reference, current: current)
        let page = DriftReportPage.html(report, title: "now vs training")
        #expect(page.contains("id=\"verdict\"") && page.contains("id=\"drift-table\""))
        #expect(page.components(separatedBy: "<svg").count - 1 == 2)
        #expect(page.contains("&lt;d&gt;") && !page.contains("<d>")) // category text is escaped
        for tag in ["section", "table", "svg", "tr", "rect", "main"] {
            #expect(page.components(separatedBy: "<\(tag)").count == page.components(separatedBy: "</\(tag)>").count, "unbalanced <\(tag)>")
        }
        let text = DriftReportPage.text(report)
        #expect(text.contains("area") && text.contains(report.datasetDrift ? "dataset drift" : "no dataset drift"))
    }
}
