import Foundation
import MLCycleData
import MLCycleMetrics
import Testing

@testable import MLCycleEvaluate
@testable import MLCycleLearn

let learnFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/learn")

func fixtureJSON(_ name: String) throws -> [String: Any] {
    let data = try Data(contentsOf: learnFixtures.appendingPathComponent(name))
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}

func fixtureTable(_ name: String) throws -> Table {
    try CSVReader.read(path: learnFixtures.appendingPathComponent(name).path)
}

/// |a - b| ≤ relative · max(|a|, |b|) + absolute
func expectNear(
    _ a: Double, _ b: Double, relative: Double, absolute: Double = 1e-12, _ label: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(
        abs(a - b) <= relative * max(abs(a), abs(b)) + absolute, "\(label): \(a) vs scikit-learn \(b)",
        sourceLocation: sourceLocation)
}

@Suite struct LinearModelTests {
    @Test(arguments: [("ols", 0.0), ("ridge_alpha_10", 10.0)])
    func linearRegressionMatchesScikitLearn(_ name: String, _ alpha: Double) throws {
        let ref = try fixtureJSON("linear.json")
        let expected = try #require((ref["models"] as? [String: [String: Any]])?[name])
        let table = try fixtureTable("houses.csv")
        let schema = try FeatureSchema.infer(from: table, target: "Sale_Price", drop: ["Bldg_Type"])
        let y = try TargetValues.read(table, column: "Sale_Price", task: .regression).0.numbers()
        let model = try LinearRegression(alpha: alpha).fit(schema: schema, data: try schema.encode(table), target: y)
        #expect(model.design.terms.map(\.name) == ref["terms"] as? [String])
        for (ours, theirs) in zip(model.coefficients, expected["coefficients"] as? [Double] ?? []) {
            expectNear(ours, theirs, relative: 1e-6, "\(name) coefficient")
        }
        expectNear(model.intercept, expected["intercept"] as? Double ?? .nan, relative: 1e-6, "\(name) intercept")
        let predictions = model.predict(try schema.encode(table.head(10))).values
        for (ours, theirs) in zip(predictions, expected["predictions_first_10"] as? [Double] ?? []) {
            expectNear(ours, theirs, relative: 1e-9, "\(name) prediction")
        }
    }

    @Test(arguments: ["binary", "multinomial"])
    func logisticRegressionMatchesScikitLearn(_ name: String) throws {
        let ref = try fixtureJSON("logistic.json")
        let expected = try #require((ref["models"] as? [String: [String: Any]])?[name])
        let table = try fixtureTable(try #require(expected["data"] as? String))
        let target = try #require(expected["target"] as? String)
        let drop = name == "binary" ? [] : ["Sale_Price", "Central_Air"]
        let schema = try FeatureSchema.infer(from: table, target: target, drop: drop)
        let (y, labels) = try TargetValues.read(table, column: target, task: name == "binary" ? .binary : .multiclass).0
            .classes()
        #expect(labels == expected["classes"] as? [String])
        let model = try LogisticRegression().fit(
            schema: schema, data: try schema.encode(table), classes: y, labels: labels)
        #expect(model.converged)
        #expect(model.design.terms.map(\.name) == expected["terms"] as? [String])
        let coefficients = (expected["coefficients"] as? [[Double]] ?? []).flatMap { $0 }
        #expect(model.coefficients.count == coefficients.count)
        for (ours, theirs) in zip(model.coefficients, coefficients) {
            expectNear(ours, theirs, relative: 1e-6, absolute: 1e-9, "\(name) coefficient")
        }
        for (ours, theirs) in zip(model.intercepts, expected["intercepts"] as? [Double] ?? []) {
            expectNear(ours, theirs, relative: 1e-6, absolute: 1e-9, "\(name) intercept")
        }
        let p = model.predict(try schema.encode(table.head(10)))
        for (r, row) in (expected["probabilities_first_10"] as? [[Double]] ?? []).enumerated() {
            for (k, theirs) in row.enumerated() {
                expectNear(
                    p.probability(row: r, class: k), theirs, relative: 1e-7, absolute: 1e-10, "\(name) probability")
            }
        }
    }

    @Test func missingValuesAndUnseenCategoriesAreHandled() throws {
        let train = try CSVReader.read(string: "y,x,c\n1,1,a\n2,2,b\n3,3,a\n4,,b\n5,5,c\n6,6,a\n")
        let schema = try FeatureSchema.infer(from: train, target: "y")
        let y = try TargetValues.read(train, column: "y", task: .regression).0.numbers()
        let model = try LinearRegression(alpha: 0.1).fit(schema: schema, data: try schema.encode(train), target: y)
        #expect(model.design.terms.map(\.name) == ["x", "c=b", "c=c"])
        #expect(model.design.terms[0].fill == 3.4)  // the training mean of x fills its missing value
        // An unseen level and a missing value score like the reference level; nothing crashes.
        let scoring = try CSVReader.read(string: "x,c,extra\n2,zzz,1\n2,a,2\n,,3\n")
        let p = model.predict(try schema.encode(scoring)).values
        #expect(p[0] == p[1])
        #expect(p.filter { !$0.isFinite }.isEmpty)
        // A column the model needs is missing: a clear error.
        #expect(throws: LearnError.missingFeature(name: "c")) {
            try schema.encode(try CSVReader.read(string: "x\n1\n"))
        }
    }

    @Test func collinearFeaturesStillFit() throws {
        // b = 2a exactly: OLS leaves b out and still fits; ridge spreads the weight.
        let t = try CSVReader.read(string: "y,a,b,c\n1,1,2,0\n2,2,4,1\n3,3,6.0,0\n5,4,8,1\n6,5,10,0\n")
        let schema = try FeatureSchema.infer(from: t, target: "y")
        let y = try TargetValues.read(t, column: "y", task: .regression).0.numbers()
        let ols = try LinearRegression().fit(schema: schema, data: try schema.encode(t), target: y)
        #expect(ols.coefficients[1] == 0)
        // The fit is the least-squares one: regressing on a and c alone gives the same predictions.
        let reduced = try t.dropping(["b"])
        let rs = try FeatureSchema.infer(from: reduced, target: "y")
        let direct = try LinearRegression().fit(schema: rs, data: try rs.encode(reduced), target: y)
        for (p, q) in zip(ols.predict(try schema.encode(t)).values, direct.predict(try rs.encode(reduced)).values) {
            expectNear(p, q, relative: 1e-9, "prediction")
        }
        let ridge = try LinearRegression(alpha: 1).fit(schema: schema, data: try schema.encode(t), target: y)
        #expect(ridge.coefficients[0] != 0 && ridge.coefficients[1] != 0)
    }

    @Test func parametersAreChecked() {
        #expect(throws: LearnError.unknownParameter(name: "lambda", known: ["alpha"])) {
            _ = try LinearRegression(parameters: ["lambda": "1"])
        }
        #expect(throws: LearnError.self) { _ = try LinearRegression(parameters: ["alpha": "-1"]) }
        #expect(throws: LearnError.self) { _ = try LogisticRegression(parameters: ["C": "0"]) }
        #expect((try? LogisticRegression(parameters: ["C": "0.5", "max_iter": "50"]))?.c == 0.5)
    }
}

@Suite struct ModelFileTests {
    func trained() throws -> (ModelFile, Table) {
        let table = try fixtureTable("churn.csv")
        let (file, _) = try TrainingRun.run(
            table,
            options: TrainingOptions(target: "churn", task: .binary, learner: .logistic, parameters: ["C": "0.5"]))
        return (file, table)
    }

    @Test func roundTripPredictsBitForBit() throws {
        let (file, table) = try trained()
        let loaded = try ModelFile.decode(try file.jsonData())
        #expect(loaded == file)
        let a = try file.model().predictTable(table)
        let b = try loaded.model().predictTable(table)
        #expect(a.fingerprint() == b.fingerprint())
        #expect(a.columnNames == ["prediction", "probability_no", "probability_yes"])
        #expect(a.rowCount == table.rowCount)
    }

    @Test func trainingIsDeterministic() throws {
        let (a, _) = try trained()
        let (b, _) = try trained()
        #expect(a.logistic == b.logistic)
    }

    @Test func damagedAndFutureFilesAreClearErrors() throws {
        let (file, _) = try trained()
        let text = String(decoding: try file.jsonData(), as: UTF8.self)
        func reason(_ s: String) -> String {
            do {
                _ = try ModelFile.decode(Data(s.utf8), path: "m.json")
                return ""
            } catch { return error.localizedDescription }
        }
        #expect(
            reason(text.replacingOccurrences(of: "\"version\" : 1", with: "\"version\" : 99")).contains(
                "newer than this mlcycle reads"))
        #expect(reason(String(text.prefix(200))).contains("not a model file"))
        #expect(reason("{\"format\": \"something-else\", \"version\": 1}").contains("not an mlcycle model file"))
        #expect(reason(text.replacingOccurrences(of: "\"intercepts\"", with: "\"intercept_s\"")).contains("damaged"))
    }
}

@Suite struct MetricsTests {
    @Test func metricsMatchScikitLearn() throws {
        let ref = try fixtureJSON("metrics.json")
        let reg = try #require(ref["regression"] as? [String: Any])
        let r = Metrics.regression(
            actual: reg["actual"] as? [Double] ?? [], predicted: reg["predicted"] as? [Double] ?? [])
        for key in ["rmse", "mae", "mape", "r2", "within_10pct"] {
            expectNear(r[key] ?? .nan, reg[key] as? Double ?? .infinity, relative: 1e-9, key)
        }
        let bin = try #require(ref["binary"] as? [String: Any])
        let b = Metrics.binary(
            positive: bin["positive"] as? [Bool] ?? [], probability: bin["probability"] as? [Double] ?? [])
        for key in ["auc", "logloss", "accuracy", "precision", "recall", "f1"] {
            expectNear(b[key] ?? .nan, bin[key] as? Double ?? .infinity, relative: 1e-9, key)
        }
        let multi = try #require(ref["multiclass"] as? [String: Any])
        let m = Metrics.multiclass(
            actual: multi["actual"] as? [Int] ?? [], probabilities: multi["probabilities"] as? [Double] ?? [],
            classes: multi["classes"] as? Int ?? 0)
        for key in ["accuracy", "logloss", "macro_f1"] {
            expectNear(m[key] ?? .nan, multi[key] as? Double ?? .infinity, relative: 1e-9, key)
        }
    }

    @Test func aucNeedsBothClasses() {
        #expect(Metrics.rocAUC(positive: [true, true], score: [0.1, 0.9]) == nil)
        #expect(Metrics.rocAUC(positive: [false, true], score: [0.1, 0.9]) == 1)
    }
}
