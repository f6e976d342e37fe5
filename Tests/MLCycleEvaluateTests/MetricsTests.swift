import Foundation
import MLCycleMetrics
import Testing

@testable import MLCycleEvaluate

/// Every metric against scikit-learn on Tests/Fixtures/evaluate/metrics.json (make_metric_fixtures.py), to 1e-9.
@Suite struct MetricsTests {
    @Test func regressionMetricsMatchScikitLearn() throws {
        let ref = try #require(try fixtureJSON("metrics.json")["regression"] as? [String: Any])
        let y = try #require(ref["actual"] as? [Double])
        let p = try #require(ref["predicted"] as? [Double])
        let m = Metrics.regression(actual: y, predicted: p)
        for key in ["rmse", "mae", "mape", "median_ape", "r2", "within_10pct"] {
            expectNear(m[key] ?? .nan, ref[key] as? Double ?? .infinity, key)
        }
        expectNear(
            Metrics.within(actual: y, predicted: p, share: 0.2), ref["within_20pct"] as? Double ?? .infinity,
            "within_20pct")
    }

    @Test func binaryMetricsMatchScikitLearn() throws {
        let ref = try #require(try fixtureJSON("metrics.json")["binary"] as? [String: Any])
        let y = try #require(ref["positive"] as? [Bool])
        let p = try #require(ref["probability"] as? [Double])
        let m = Metrics.binary(positive: y, probability: p)
        for key in ["auc", "pr_auc", "logloss", "brier", "accuracy", "precision", "recall", "f1"] {
            expectNear(m[key] ?? .nan, ref[key] as? Double ?? .infinity, key)
        }
        let low = Metrics.binary(positive: y, probability: p, threshold: 0.3)
        for key in ["accuracy", "precision", "recall", "f1"] {
            expectNear(low[key] ?? .nan, ref["\(key)_at_0.3"] as? Double ?? .infinity, "\(key) at 0.3")
        }
        #expect(Metrics.binaryConfusion(positive: y, probability: p) == ref["confusion"] as? [[Int]])
        #expect(
            Metrics.binaryConfusion(positive: y, probability: p, threshold: 0.3) == ref["confusion_at_0.3"] as? [[Int]])
    }

    @Test func thresholdsChosenForATargetPrecisionOrRecallMatchScikitLearnsCurve() throws {
        let ref = try #require(try fixtureJSON("metrics.json")["binary"] as? [String: Any])
        let y = try #require(ref["positive"] as? [Bool])
        let p = try #require(ref["probability"] as? [Double])
        for (key, point) in [
            ("for_precision_0.8", Metrics.threshold(forPrecision: 0.8, positive: y, score: p)),
            ("for_recall_0.9", Metrics.threshold(forRecall: 0.9, positive: y, score: p)),
        ] {
            let expected = try #require(ref[key] as? [String: Double])
            let got = try #require(point, "\(key): no threshold found")
            expectNear(got.threshold, expected["threshold"] ?? .nan, "\(key) threshold")
            expectNear(got.precision, expected["precision"] ?? .nan, "\(key) precision")
            expectNear(got.recall, expected["recall"] ?? .nan, "\(key) recall")
        }
        #expect(Metrics.threshold(forPrecision: 1.01, positive: y, score: p) == nil)
        #expect(Metrics.averagePrecision(positive: y.map { _ in false }, score: p) == nil)
    }

    @Test func multiclassMetricsMatchScikitLearn() throws {
        let ref = try #require(try fixtureJSON("metrics.json")["multiclass"] as? [String: Any])
        let y = try #require(ref["actual"] as? [Int])
        let p = try #require(ref["probabilities"] as? [Double])
        let k = try #require(ref["classes"] as? Int)
        let m = Metrics.multiclass(actual: y, probabilities: p, classes: k)
        for key in ["accuracy", "logloss", "macro_f1", "weighted_f1"] {
            expectNear(m[key] ?? .nan, ref[key] as? Double ?? .infinity, key)
        }
        #expect(Metrics.multiclassConfusion(actual: y, probabilities: p, classes: k) == ref["confusion"] as? [[Int]])
    }
}
