import Foundation
import MLCycleData
import Testing

@testable import MLCycleLearn

/// mlcycle's contributions against shap's `TreeExplainer` on the same trees (Tests/Fixtures/explain: three
/// gradient-boosted models with numeric and categorical splits and missing values, exported to LightGBM's format,
/// explained by shap; `make_shap_fixtures.py` made them).
@Suite struct SHAPReferenceTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/explain")

    static func load(_ name: String) throws -> (GBDTModel, Dataset, Table) {
        let file = try ModelFile.load(path: fixtures.appendingPathComponent("\(name).model.json").path)
        let model = try #require(file.gbdt)
        let rows = try CSVReader.read(
            path: fixtures.appendingPathComponent("rows_\(name == "binary" ? "churn" : "houses").csv").path,
            options: CSVOptions(
                columnTypes: Dictionary(uniqueKeysWithValues: model.schema.features.map { ($0.name, $0.sourceType) })))
        return (
            model, try model.schema.encode(rows),
            try CSVReader.read(
                path: fixtures.appendingPathComponent("\(name).shap.csv").path)
        )
    }

    @Test(arguments: ["regression", "binary", "multiclass"])
    func contributionsAreShapsOnTheExportedTrees(_ name: String) throws {
        let (model, x, reference) = try Self.load(name)
        let c = try model.contributions(x)
        let raw = model.rawClassScores(x)
        #expect(reference.rowCount == x.rows * raw.count)
        // Categorical splits, and (in the house models) missing values sent left.
        #expect(model.trees.contains { !$0.categorySets.isEmpty })
        #expect(name == "binary" || model.trees.contains { $0.missingLeft.contains(true) })
        let features = model.schema.features.map(\.name)
        var worst = 0.0
        for line in 0..<reference.rowCount {
            let r = try #require(reference["row"]?[line].doubleValue).rounded()
            let o = Int(try #require(reference["output"]?[line].doubleValue))
            let row = Int(r)
            let scale = max(1, abs(raw[o][row]))
            // LightGBM's raw score of the exported model: mlcycle's own, to 1e-9.
            let lightgbm = try #require(reference["raw"]?[line].doubleValue)
            #expect(abs(lightgbm - raw[o][row]) <= 1e-9 * scale, "row \(row), output \(o)")
            #expect(abs(try #require(reference["expected"]?[line].doubleValue) - c.expected[o]) <= 1e-6 * scale)
            let mine = Array(c.row(row, output: o))
            for (f, feature) in features.enumerated() {
                let theirs = try #require(reference[feature]?[line].doubleValue)
                worst = max(worst, abs(theirs - mine[f]) / scale)
                #expect(abs(theirs - mine[f]) <= 1e-6 * scale, "row \(row), output \(o), \(feature)")
            }
        }
        print("SHAPReferenceTests \(name): largest difference from shap \(worst) (relative to the raw score)")
    }

    /// The export of each fixture model is the LightGBM file shap explained.
    @Test(arguments: ["regression", "binary", "multiclass"])
    func theExportIsTheFileShapExplained(_ name: String) throws {
        let (model, _, _) = try Self.load(name)
        let committed = try String(
            contentsOf: Self.fixtures.appendingPathComponent("\(name).txt"), encoding: .utf8)
        #expect(try LightGBMModelText.text(model) == committed)
    }
}
