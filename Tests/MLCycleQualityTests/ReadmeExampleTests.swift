import Foundation
import MLCycleData
import MLCycleQuality
import Testing

/// The example of docs/library.md ("Using the libraries from Swift"), run on the bundled data, so the page stays true.
@Test func readmeLibraryExampleRuns() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let table = try CSVReader.read(path: root.appendingPathComponent("examples/house-prices/ames.csv").path)
    let recent = try table.filtered(
        try Expression.parse("Year_Sold >= 2008").evaluate(on: table).map { $0 == .bool(true) })
    let byArea = try recent.grouped(
        by: ["Neighborhood"], aggregates: [Aggregate(.count), Aggregate(.median, "Sale_Price")])
    let profile = try Profiler.profile(table, options: ProfileOptions(target: "Sale_Price"))
    let report = Validator.validate(table, rules: [Rule(column: "Sale_Price", .range(min: .number(10_000), max: nil))])
    #expect(table.fingerprint().count == 64)
    #expect(recent.rowCount == 1_611)  // sales of 2008, 2009 and 2010
    #expect(byArea.rowCount == 26)
    #expect(profile.duplicateRows == 0)
    #expect(report.passed)
    // Total of the group counts is the number of recent sales.
    #expect(try byArea.column("count").doubles()?.reduce(0, +) == 1_611)
}
