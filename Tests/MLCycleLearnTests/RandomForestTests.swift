import Foundation
import MLCycleData
import Testing

@testable import MLCycleEvaluate
@testable import MLCycleLearn

@Suite struct RandomForestTests {
    func run(_ name: String, learner: LearnerKind, parameters: [String: String] = [:]) throws -> TrainingReport {
        let target = name == "houses" ? "Sale_Price" : "churn"
        let (_, report) = try TrainingRun.run(
            try fixtureTable("gbdt_\(name)_train.csv"),
            options: TrainingOptions(
                target: target, task: name == "houses" ? .regression : .binary, learner: learner,
                parameters: parameters,
                testTable: try fixtureTable("gbdt_\(name)_test.csv")))
        return report
    }

    /// scikit-learn 1.9 on the same files (text one-hot, numbers mean-filled); mlcycle splits on 255 bins and
    /// categories natively, so the tolerances are stated per learner.
    @Test func accuracyMatchesScikitLearn() throws {
        let ref = try fixtureJSON("gbdt.json")
        let houses = try #require(ref["houses"] as? [String: Any])
        let churn = try #require(ref["churn"] as? [String: Any])
        func value(_ d: [String: Any], _ model: String, _ key: String) throws -> Double {
            try #require((d[model] as? [String: Double])?[key])
        }
        let sklearnForestRMSE = try value(houses, "sklearn_forest", "rmse")
        let sklearnTreeRMSE = try value(houses, "sklearn_tree", "rmse")
        let sklearnForestAccuracy = try value(churn, "sklearn_forest", "accuracy")
        let sklearnForestAUC = try value(churn, "sklearn_forest", "auc")
        let sklearnTreeAccuracy = try value(churn, "sklearn_tree", "accuracy")
        let forestRMSE = try run("houses", learner: .forest).metrics["rmse"]!
        #expect(forestRMSE <= sklearnForestRMSE * 1.02, "forest RMSE \(forestRMSE)")
        let treeRMSE = try run("houses", learner: .tree).metrics["rmse"]!
        #expect(treeRMSE <= sklearnTreeRMSE * 1.05, "tree RMSE \(treeRMSE)")
        let forest = try run("churn", learner: .forest).metrics
        #expect(forest["accuracy"]! >= sklearnForestAccuracy - 0.01)
        #expect(forest["auc"]! >= sklearnForestAUC - 0.02)
        let tree = try run("churn", learner: .tree).metrics
        #expect(tree["accuracy"]! >= sklearnTreeAccuracy - 0.03)
    }

    @Test func treesInAForestAreIndependentDrawsAndTheForestIsDeterministic() throws {
        let train = try fixtureTable("gbdt_houses_train.csv")
        let schema = try FeatureSchema.infer(from: train, target: "Sale_Price")
        let data = try schema.encode(train)
        let y = try TargetValues.read(train, column: "Sale_Price", task: .regression).0
        var p = try ForestParameters(parameters: ["n_estimators": "12", "seed": "3"], single: false)
        let a = try RandomForest(parameters: p).fit(schema: schema, data: data, target: y)
        let b = try RandomForest(parameters: p).fit(schema: schema, data: data, target: y)
        #expect(a == b)  // trees are grown in parallel, but each from its own seed
        // Bootstraps differ: no two trees are the same (seeding tree t with seed + t once made them near copies).
        for i in 0..<a.trees.count { for j in (i + 1)..<a.trees.count { #expect(a.trees[i] != a.trees[j]) } }
        let oob = try #require(a.oobScore)
        #expect(oob > 0.7 && oob < 1, "out-of-bag R² \(oob)")
        p.seed = 4
        #expect(try RandomForest(parameters: p).fit(schema: schema, data: data, target: y) != a)
        let file = ModelFile(
            model: .forest(a), learner: .forest, task: .regression, target: "Sale_Price", parameters: [:])
        #expect(try ModelFile.decode(try file.jsonData()).model().predict(data).values == a.predict(data).values)
    }

    @Test func aSingleTreeFitsItsTrainingDataAndHonoursItsLimits() throws {
        let train = try fixtureTable("gbdt_houses_train.csv")
        let schema = try FeatureSchema.infer(from: train, target: "Sale_Price")
        let data = try schema.encode(train)
        let y = try TargetValues.read(train, column: "Sale_Price", task: .regression).0
        let full = try RandomForest(parameters: try ForestParameters(parameters: [:], single: true)).fit(
            schema: schema, data: data, target: y)
        let fitted = full.predict(data).values
        let ys = try y.numbers()
        // Grown until pure (or identical features): nearly every training row is predicted exactly.
        #expect(zip(fitted, ys).filter { abs($0 - $1) < 1e-6 }.count > ys.count * 9 / 10)
        let shallow = try RandomForest(
            parameters: try ForestParameters(parameters: ["max_depth": "3", "min_samples_leaf": "30"], single: true)
        )
        .fit(schema: schema, data: data, target: y)
        #expect(shallow.trees[0].leafValues.count <= 8)
        #expect(throws: LearnError.self) { _ = try ForestParameters(parameters: ["n_estimators": "5"], single: true) }
        #expect(throws: LearnError.self) { _ = try ForestParameters(parameters: ["max_features": "2"], single: false) }
    }

    /// scikit-learn 1.9 on five building types (Gini over all classes, one-hot text): the forest's accuracy within a
    /// point and its log-loss within 25 % (across seeds both libraries' log-loss moves by ±15 %: 0.33–0.44 here,
    /// 0.38–0.43 there); the tree's accuracy within 3 points. Probabilities are per-class shares that sum to 1.
    @Test func multiclassTreesAndForestsMatchScikitLearn() throws {
        let ref = try #require(try fixtureJSON("gbdt.json")["houses_multiclass"] as? [String: Any])
        let forestRef = try #require(ref["sklearn_forest"] as? [String: Double])
        let treeRef = try #require(ref["sklearn_tree"] as? [String: Double])
        let refForestAccuracy = try #require(forestRef["accuracy"])
        let refForestLogLoss = try #require(forestRef["logloss"])
        let refTreeAccuracy = try #require(treeRef["accuracy"])
        let train = try fixtureTable("gbdt_houses_train.csv")
        let test = try fixtureTable("gbdt_houses_test.csv")
        func run(_ learner: LearnerKind) throws -> (ModelFile, TrainingReport) {
            try TrainingRun.run(
                train,
                options: TrainingOptions(target: "Bldg_Type", task: .multiclass, learner: learner, testTable: test))
        }
        let (forestFile, forest) = try run(.forest)
        let accuracy = try #require(forest.metrics["accuracy"])
        let logLoss = try #require(forest.metrics["logloss"])
        #expect(accuracy >= refForestAccuracy - 0.01)
        #expect(logLoss <= refForestLogLoss * 1.25)
        let tree = try run(.tree).1
        let treeAccuracy = try #require(tree.metrics["accuracy"])
        #expect(treeAccuracy >= refTreeAccuracy - 0.03)
        let model = try forestFile.model()
        let schema = model.schema
        let predictions = model.predict(try schema.encode(test))
        #expect(predictions.classCount == 5)
        for r in 0..<test.rowCount {
            let row = predictions.probabilities[(r * 5)..<(r * 5 + 5)]
            #expect(abs(row.reduce(0, +) - 1) < 1e-9)
            #expect(Int(predictions.values[r]) == row.firstIndex(of: row.max()!)! - r * 5)
        }
        // Serialised and loaded back: the same probabilities, bit for bit.
        #expect(
            try ModelFile.decode(try forestFile.jsonData()).model().predict(try schema.encode(test)).probabilities
                == predictions.probabilities)
    }
}
