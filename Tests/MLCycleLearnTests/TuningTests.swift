import Foundation
import MLCycleData
import Testing

@testable import MLCycleEvaluate
@testable import MLCycleLearn

@Suite struct TuningTests {
    let houses = try! fixtureTable("houses.csv").dropping(["Bldg_Type"])

    @Test func gridSearchRanksEveryCandidate() throws {
        let board = try Tuning.run(
            houses,
            options: TuningOptions(
                target: "Sale_Price", task: .regression, learner: .linear,
                space: ["alpha": ["0", "1", "10", "1000"]], folds: 4))
        #expect(board.count == 4)
        #expect(board.map(\.rank) == [1, 2, 3, 4])
        #expect(zip(board, board.dropFirst()).allSatisfy { $0.mean <= $1.mean })  // rmse: lower first
        #expect(Set(board.map { $0.parameters["alpha"]! }) == ["0", "1", "10", "1000"])
        #expect(board.allSatisfy { $0.std > 0 && $0.metric == "rmse" })
        // Ranking by r2 (higher is better) puts the same candidate first.
        let byR2 = try Tuning.run(
            houses,
            options: TuningOptions(
                target: "Sale_Price", task: .regression, learner: .linear,
                space: ["alpha": ["0", "1", "10", "1000"]], folds: 4, metric: "r2"))
        #expect(byR2.first?.parameters == board.first?.parameters)
        #expect(zip(byR2, byR2.dropFirst()).allSatisfy { $0.mean >= $1.mean })
        // The same seed gives the same folds and so the same scores.
        let again = try Tuning.run(
            houses,
            options: TuningOptions(
                target: "Sale_Price", task: .regression, learner: .linear,
                space: ["alpha": ["0", "1", "10", "1000"]], folds: 4))
        #expect(again.map(\.mean) == board.map(\.mean))
    }

    @Test func randomSearchDrawsDistinctCandidatesWithinBudget() throws {
        let space = ["num_leaves": ["4", "8", "16"], "learning_rate": ["0.05", "0.1"], "n_estimators": ["20"]]
        let board = try Tuning.run(
            houses,
            options: TuningOptions(
                target: "Sale_Price", task: .regression, learner: .gbdt,
                space: space, search: .random, trials: 3, folds: 0))
        #expect(board.count == 3)
        #expect(Set(board.map(\.parameters)).count == 3)
        #expect(board.allSatisfy { $0.std == 0 })  // one validation split
        let capped = try Tuning.run(
            houses,
            options: TuningOptions(
                target: "Sale_Price", task: .regression, learner: .gbdt,
                space: space, search: .grid, timeBudget: 0, folds: 0))
        #expect(capped.count == 1)  // the budget was spent after the first candidate
    }

    @Test func badRequestsAreClearErrors() throws {
        #expect(throws: LearnError.self) {
            _ = try Tuning.run(
                houses,
                options: TuningOptions(target: "Sale_Price", task: .regression, learner: .linear, space: ["alpha": []]))
        }
        // An empty space cross-validates the learner's defaults: one trial, every metric averaged over the folds.
        let one = try Tuning.run(
            houses, options: TuningOptions(target: "Sale_Price", task: .regression, learner: .linear, space: [:]))
        #expect(one.count == 1 && one[0].parameters.isEmpty && one[0].metrics["rmse"] == one[0].mean)
        #expect(throws: LearnError.self) {
            _ = try Tuning.run(
                houses,
                options: TuningOptions(
                    target: "Sale_Price", task: .regression, learner: .linear,
                    space: ["alpha": ["1"]], metric: "auc"))
        }
        #expect(throws: LearnError.self) {
            _ = try Tuning.run(
                houses,
                options: TuningOptions(
                    target: "Sale_Price", task: .regression, learner: .linear,
                    space: ["lambda": ["1"]]))
        }
    }
}
