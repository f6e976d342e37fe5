import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCycleLearn
import MLCyclePrep
import MLCycleProject
import Testing

/// The seed scenario: three messy sources (examples/house-prices/sources, from ../shared/data/ames-sources) merged by
/// a normalised address, cleaned and imputed by examples/house-prices/pipeline.yaml, then a gbdt. Its test share
/// within 10 % must be within 3 points of a gbdt on the clean ames.csv given the same information (the columns the
/// sources were made from: they carry no quality grades, so the full ames.csv is not the fair yardstick).
@Suite struct AmesSourcesScenarioTests {
    let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("examples/house-prices")
    let parameters = ["n_estimators": "300", "learning_rate": "0.05"]

    @Test func mergedSourcesPredictAsWellAsTheCleanTable() throws {
        let spec = try PipelineFile.load(path: examples.appendingPathComponent("pipeline.yaml").path)
        let result = try PreparationRun.run(spec, directory: examples.path, main: nil, target: "sale_price")
        // 2988 listings − 58 re-posted duplicates = 2930 houses, every one matched to its tax record; 12 impossible rows dropped.
        #expect(result.collected.rowCount == 2930)
        #expect(try result.collected.column("year_built").missingCount == 0)
        #expect(result.table.rowCount == 2918)
        #expect(try result.table.column("living_area_sqft").missingCount == 0)
        let split = try result.table.column("split")
        let isTest = (0..<split.count).map { split[$0].description == "test" }
        let train = try result.table.filtered(isTest.map { !$0 }).dropping(["split"])
        let test = try result.table.filtered(isTest).dropping(["split"])
        let merged = try TrainingRun.run(
            train,
            options: TrainingOptions(
                target: "sale_price", task: .regression, learner: .gbdt,
                parameters: parameters, testTable: test)
        ).1
        let ames = try CSVReader.read(path: examples.appendingPathComponent("ames.csv").path).selecting([
            "Sale_Price", "Gr_Liv_Area", "Bedroom_AbvGr", "Full_Bath", "Half_Bath", "Garage_Cars", "Fireplaces",
            "Neighborhood",
            "Sale_Type", "Sale_Condition", "Lot_Area", "Year_Built", "Year_Remod_Add", "Bldg_Type", "House_Style",
            "MS_Zoning",
            "Overall_Cond", "Total_Bsmt_SF", "Central_Air", "Latitude", "Longitude", "Year_Sold", "Mo_Sold",
            // The assessor's building record the tax records carry.
            "First_Flr_SF", "Second_Flr_SF", "Bsmt_Exposure", "TotRms_AbvGrd", "Kitchen_AbvGr", "Garage_Area",
            "Garage_Type", "Garage_Finish", "Foundation", "Exterior_1st", "Mas_Vnr_Area", "Heating_QC", "Exter_Cond",
            "Functional", "Lot_Frontage", "Wood_Deck_SF", "Open_Porch_SF",
        ])
        let clean = try TrainingRun.run(
            ames,
            options: TrainingOptions(
                target: "Sale_Price", task: .regression, learner: .gbdt,
                parameters: parameters, testFraction: 0.2, seed: 42)
        ).1
        let a = try #require(merged.metrics["within_10pct"])
        let b = try #require(clean.metrics["within_10pct"])
        #expect(abs(a - b) <= 0.03, "within 10 %: merged sources \(a), clean table \(b)")
    }
}
