import Foundation
import MLCycleData
import MLCycleLearn
import Testing

@testable import MLCycleEvaluate

@Suite struct ConfidenceScaleTests {
    func answer(value: Double, range: [Double]? = nil, prediction: String? = nil, probabilities: [String: Double] = [:])
        -> ModelBundle.Scored
    {
        ModelBundle.Scored(
            prediction: prediction ?? String(value), value: prediction == nil ? value : nil,
            probabilities: probabilities, range: range, status: "ok", reasons: [])
    }

    @Test func theShareOfTrainingAnswersAtLeastAsWideCountsTiesHalf() {
        let scale = ConfidenceScale(spread: .rangeWidth, quantiles: [1, 2, 2, 3, 4], rows: 5)
        #expect(scale.share(widerThan: 0.5) == 1)
        #expect(scale.share(widerThan: 1) == 0.9)
        #expect(scale.share(widerThan: 2) == 0.6)
        #expect(scale.share(widerThan: 2.5) == 0.4)
        #expect(scale.share(widerThan: 9) == 0)
    }

    @Test func spreadsAreWidthsRelativeWidthsOrDoubt() throws {
        let wide = answer(value: 200, range: [150, 250])
        #expect(ConfidenceScale(spread: .rangeWidth, quantiles: [], rows: 0).spread(of: wide) == 100)
        #expect(ConfidenceScale(spread: .relativeRangeWidth, quantiles: [], rows: 0).spread(of: wide) == 0.5)
        let sure = answer(value: 0, prediction: "yes", probabilities: ["yes": 0.75, "no": 0.25])
        #expect(ConfidenceScale(spread: .classDoubt, quantiles: [], rows: 0).spread(of: sure) == 0.25)
        #expect(ConfidenceScale(spread: .rangeWidth, quantiles: [], rows: 0).spread(of: sure) == nil)
    }

    @Test func aScaleKeepsAtMostAThousandAndOneQuantiles() throws {
        let answers = (0..<5000).map { answer(value: 10, range: [0, Double($0)]) }
        let scale = try #require(ConfidenceScale.fit(answers, spread: .rangeWidth))
        #expect(scale.rows == 5000 && scale.quantiles.count == 1001)
        #expect(
            scale.quantiles.first == 0 && scale.quantiles.last == 4999 && scale.quantiles == scale.quantiles.sorted())
    }

    @Test func theReliabilityTableGroupsRowsByConfidenceLeastFirst() throws {
        // 100 answers: confidence i/100, each off by (100 − i) from the truth 1000.
        let scored = (0..<100).map { i -> ModelBundle.Scored in
            var s = answer(value: 1000 + Double(100 - i))
            s.confidence = Double(i) / 100
            return s
        }
        let actual = Column(name: "y", doubles: [Double](repeating: 1000, count: 100))
        let table = try #require(
            ReliabilityTable.measure(scored, actual: actual, task: .regression, spread: .rangeWidth))
        #expect(table.error == "mean absolute error" && table.groups.count == 10)
        #expect(table.groups.map(\.rows) == [Int](repeating: 10, count: 10))
        #expect(table.groups[0].low == 0 && table.groups[0].high == 0.09 && table.groups[0].error == 95.5)
        #expect(table.groups[0].lowShare == 1 && table.groups[1].lowShare == 0)
        #expect(table.groups[9].error == 5.5)
        let relative = try #require(
            ReliabilityTable.measure(scored, actual: actual, task: .regression, spread: .relativeRangeWidth))
        #expect(relative.error == "mean absolute percentage error" && abs(relative.groups[9].error - 0.0055) < 1e-12)
        #expect(
            ReliabilityTable.measure(Array(scored.prefix(9)), actual: actual, task: .regression, spread: nil) == nil)
    }
}
