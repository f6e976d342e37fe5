import Foundation
import MLCycleData
import MLCycleQuality
import Testing

@testable import MLCycleReport

@Suite struct ProfileReportTests {
    @Test func pageIsSelfContainedEscapedAndHasAChartPerColumn() throws {
        let table = try Table(columns: [
            Column(name: "price", doubles: [100, 250.5, nil, 400, 120]),
            Column(name: "rooms", ints: [2, 3, 3, 5, 2]),
            Column(name: "a<b&\"c\"", strings: ["x", "<script>", "x", nil, "y"]),
            Column(name: "city", strings: ["Ames", "Ames", "Boone", "Ames", "Ames"]),
            Column(name: "sold", storage: .date([13_000, 13_100, 13_200, 13_300, 13_400])),
        ])
        let profile = try Profiler.profile(table, options: ProfileOptions(target: "price"))
        let html = ProfileReport.html(profile, title: "houses <2008>")
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("houses &lt;2008&gt;"))
        #expect(html.contains("a&lt;b&amp;&quot;c&quot;"))
        #expect(!html.contains("a<b&\"c\""))
        #expect(!html.contains("<script>"))
        #expect(html.contains("&lt;script&gt;"))
        #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("<link"))
        // One chart per column, plus the Pearson, Spearman and Cramér's V heatmaps and the target bars.
        let cards = html.components(separatedBy: "<article class=\"card\"").count - 1
        #expect(cards == 5)
        #expect(html.components(separatedBy: "class=\"chart\"").count - 1 == 5)
        #expect(html.components(separatedBy: "class=\"heat\"").count - 1 == 3)
        #expect(html.contains("Associations with price"))
        #expect(html.contains("2005-08-05"))  // date histogram edges are dates
    }

    @Test func numbersAreCompact() {
        #expect(ProfileReport.number(2010) == "2010")
        #expect(ProfileReport.number(215_245) == "215,245")
        #expect(ProfileReport.number(10_150.7) == "10,151")
        #expect(ProfileReport.number(0.12345) == "0.1235")
        #expect(ProfileReport.number(-3) == "-3")
        #expect(ProfileReport.number(-93_600) == "-93,600")
        #expect(ProfileReport.color(nil, signed: true) == "#d9d9d9")
        #expect(ProfileReport.color(0, signed: true) == "#ffffff")
        #expect(ProfileReport.color(-1, signed: true) == "#3b6fb6")
        #expect(ProfileReport.color(1, signed: true) == "#c0392b")
    }
}
