import Foundation
import MLCycleData
import MLCycleMetrics
import Testing

@testable import MLCycleEvaluate
@testable import MLCycleLearn

@Suite struct GradientBoostingTests {
    func fit(
        _ train: Table, target: String, objective: GBDTParameters.Objective, parameters: [String: String] = [:],
        validation: Table? = nil
    ) throws -> (GBDTModel, FeatureSchema) {
        let schema = try FeatureSchema.infer(from: train, target: target)
        let task: Task = objective == .regression ? .regression : .binary
        let y = try TargetValues.read(train, column: target, task: task).0
        let v = try validation.map {
            (
                try schema.encode($0),
                try TargetValues.read(
                    $0, column: target, task: task,
                    labels: y.count > 0 && task == .binary ? try y.classes().labels : nil
                ).0
            )
        }
        let model = try GradientBoostedTrees(parameters: GBDTParameters(parameters: parameters, objective: objective))
            .fit(schema: schema, data: try schema.encode(train), target: y, validation: v)
        return (model, schema)
    }

    /// LightGBM 4.7 with the same parameters (num_leaves 31, learning_rate 0.1, 100 trees, min_data_in_leaf 20,
    /// max_bin 255) on the same files; mlcycle must be within 2 % of its test error.
    @Test func accuracyMatchesLightGBM() throws {
        let ref = try fixtureJSON("gbdt.json")
        let houses = try #require(ref["houses"] as? [String: Any])
        let churn = try #require(ref["churn"] as? [String: Any])

        let (reg, regSchema) = try fit(
            try fixtureTable("gbdt_houses_train.csv"), target: "Sale_Price", objective: .regression)
        let houseTest = try fixtureTable("gbdt_houses_test.csv")
        let yh = try TargetValues.read(houseTest, column: "Sale_Price", task: .regression).0.numbers()
        let rmse = Metrics.regression(actual: yh, predicted: reg.predict(try regSchema.encode(houseTest)).values)[
            "rmse"]!
        let lightgbmRMSE = try #require(houses["rmse"] as? Double)
        #expect(rmse <= lightgbmRMSE * 1.02, "RMSE \(rmse) vs LightGBM \(lightgbmRMSE)")

        let (clf, clfSchema) = try fit(try fixtureTable("gbdt_churn_train.csv"), target: "churn", objective: .binary)
        let churnTest = try fixtureTable("gbdt_churn_test.csv")
        let yc = try TargetValues.read(churnTest, column: "churn", task: .binary, labels: clf.labels).0.classes()
            .indices
        let p = clf.predict(try clfSchema.encode(churnTest))
        let logloss = Metrics.binary(
            positive: yc.map { $0 == 1 }, probability: (0..<churnTest.rowCount).map { p.probability(row: $0, class: 1) }
        )["logloss"]!
        let lightgbmLogloss = try #require(churn["logloss"] as? Double)
        #expect(logloss <= lightgbmLogloss * 1.02, "log-loss \(logloss) vs LightGBM \(lightgbmLogloss)")
        // The 51-level `state` column is split natively (many-vs-many), not one-hot.
        #expect(clf.trees.contains { !$0.categorySets.isEmpty })
    }

    /// LightGBM 4.7 multiclass (softmax, 5 classes) on the same files: within 2 % of its test log-loss.
    @Test func multiclassMatchesLightGBM() throws {
        let ref = try #require(try fixtureJSON("gbdt.json")["houses_multiclass"] as? [String: Any])
        let (_, report) = try TrainingRun.run(
            try fixtureTable("gbdt_houses_train.csv"),
            options: TrainingOptions(
                target: "Bldg_Type", task: .multiclass, learner: .gbdt,
                testTable: try fixtureTable("gbdt_houses_test.csv")))
        let lightgbm = try #require(ref["logloss"] as? Double)
        #expect(
            report.metrics["logloss"]! <= lightgbm * 1.02,
            "log-loss \(report.metrics["logloss"]!) vs LightGBM \(lightgbm)")
        #expect(report.metrics["accuracy"]! > 0.9)
        // K trees per round; probabilities of each row sum to 1 and round-trip through the model file.
        let train = try fixtureTable("gbdt_houses_train.csv")
        let (file, _) = try TrainingRun.run(
            train,
            options: TrainingOptions(
                target: "Bldg_Type", task: .multiclass, learner: .gbdt,
                parameters: ["n_estimators": "10"]))
        let model = try file.model()
        guard case .gbdt(let gbdt) = model else {
            Issue.record("not a boosted model")
            return
        }
        #expect(gbdt.trees.count == 10 * 5)
        let p = model.predict(try model.schema.encode(train.head(20)))
        for r in 0..<20 {
            expectNear(
                (0..<5).reduce(0) { $0 + p.probability(row: r, class: $1) }, 1, relative: 1e-12, "probability sum")
        }
        let loaded = try ModelFile.decode(try file.jsonData()).model()
        #expect(loaded.predict(try model.schema.encode(train.head(20))).probabilities == p.probabilities)
    }

    /// LightGBM 4.7's `regression_l1` and `quantile` (alpha 0.9) on the same files: within 2 % of its test MAE and
    /// pinball loss; the 0.9 quantile covers most test prices.
    @Test func absoluteErrorAndQuantileMatchLightGBM() throws {
        let ref = try #require(try fixtureJSON("gbdt.json")["houses"] as? [String: Any])
        let train = try fixtureTable("gbdt_houses_train.csv")
        let test = try fixtureTable("gbdt_houses_test.csv")
        let y = try TargetValues.read(test, column: "Sale_Price", task: .regression).0.numbers()
        func predictions(_ objective: String) throws -> [Double] {
            let (file, _) = try TrainingRun.run(
                train,
                options: TrainingOptions(
                    target: "Sale_Price", task: .regression, learner: .gbdt,
                    parameters: ["objective": objective], testTable: test))
            let model = try file.model()
            return model.predict(try model.schema.encode(test)).values
        }
        let l1 = try predictions("regression_l1")
        let mae = zip(l1, y).reduce(0) { $0 + abs($1.0 - $1.1) } / Double(y.count)
        let lightgbmMAE = try #require(ref["l1_mae"] as? Double)
        #expect(mae <= lightgbmMAE * 1.02, "MAE \(mae) vs LightGBM \(lightgbmMAE)")
        let q = try predictions("quantile")
        let pinball =
            zip(y, q).reduce(0) { s, pair in
                let d = pair.0 - pair.1
                return s + (d >= 0 ? 0.9 * d : -0.1 * d)
            } / Double(y.count)
        let lightgbmPinball = try #require(ref["quantile_0.9_pinball"] as? Double)
        #expect(pinball <= lightgbmPinball * 1.02, "pinball \(pinball) vs LightGBM \(lightgbmPinball)")
        let coverage = Double(zip(y, q).filter { $0 <= $1 }.count) / Double(y.count)
        #expect(coverage > 0.75 && coverage < 0.95, "coverage \(coverage)")
    }

    @Test func huberResistsOutliers() throws {
        // y = 2x with a few wild values: squared error chases them, Huber (threshold 5) mostly does not.
        var text = "x,y\n"
        for i in 0..<600 { text += "\(i % 100),\(i % 50 == 0 ? 5000 : 2 * (i % 100))\n" }
        let table = try CSVReader.read(string: text)
        let clean = (0..<100).map { Double(2 * $0) }
        func rmseOnClean(_ params: [String: String]) throws -> Double {
            let (file, _) = try TrainingRun.run(
                table,
                options: TrainingOptions(
                    target: "y", task: .regression, learner: .gbdt,
                    parameters: params.merging(["n_estimators": "200", "min_data_in_leaf": "5"]) { $1 },
                    testTable: table))
            let model = try file.model()
            let grid = try CSVReader.read(string: "x\n" + (0..<100).map(String.init).joined(separator: "\n") + "\n")
            let p = model.predict(try model.schema.encode(grid)).values
            return (zip(p, clean).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / 100).squareRoot()
        }
        let huber = try rmseOnClean(["objective": "huber", "alpha": "5"])
        let squared = try rmseOnClean([:])
        #expect(huber < squared / 2, "huber \(huber) vs squared error \(squared)")
        #expect(throws: LearnError.self) {
            _ = try GBDTParameters(parameters: ["objective": "quantile"], objective: .binary)
        }
        #expect(throws: LearnError.self) {
            _ = try GBDTParameters(parameters: ["objective": "quantile", "alpha": "1.5"], objective: .regression)
        }
    }

    /// A leaf large enough to be partitioned in two halves at once keeps the order a plain stable partition gives,
    /// for a numeric split with missing values on either side and for a categorical one.
    @Test func largeLeavesArePartitionedLikeAStablePartition() {
        let n = 210_000
        var rng = SeededGenerator(seed: 7)
        let values = (0..<n).map { _ in Double(rng.next(upperBound: UInt64(1000))) }
        let valid = (0..<n).map { _ in rng.next(upperBound: UInt64(10)) != 0 }
        let levels = (0..<n).map { _ in Int32(rng.next(upperBound: UInt64(40))) }
        let data = Dataset(rows: n, columns: [.numeric(values, valid: valid), .categorical(levels, levels: 40)])
        let bins = [
            FeatureBins.numeric(values, valid: valid, maxBin: 255),
            FeatureBins.categorical(levels, levels: 40, maxBin: 255),
        ]
        let grower = TreeGrower(binned: BinnedData(data, bins: bins), parameters: GBDTParameters())
        // Every third row, from row 10 on: a leaf whose rows lie apart, not starting at 0.
        let leaf = Array(stride(from: Int32(10), to: Int32(n), by: 3))
        var evenLevels = SIMD4<UInt64>(repeating: 0)
        for b in stride(from: 2, to: 41, by: 2) { evenLevels[b >> 6] |= 1 << UInt64(b & 63) }
        let splits = [
            SplitCandidate(feature: 0, binThreshold: 100, missingLeft: true),
            SplitCandidate(feature: 0, binThreshold: 100, missingLeft: false),
            SplitCandidate(feature: 1, categorySet: evenLevels),
        ]
        for split in splits {
            let column = grower.binned.codes[(split.feature * n)..<((split.feature + 1) * n)]
            func goesLeft(_ r: Int32) -> Bool {
                let b = Int(column[column.startIndex + Int(r)])
                if b == 0 { return split.missingLeft }
                if let set = split.categorySet { return set[b >> 6] & (1 << UInt64(b & 63)) != 0 }
                return b <= split.binThreshold
            }
            let expected = leaf.filter(goesLeft) + leaf.filter { !goesLeft($0) }
            var rows = [Int32](repeating: -1, count: 5) + leaf + [Int32](repeating: -1, count: 5)
            var scratch = [Int32](repeating: 0, count: rows.count)
            let left = grower.partition(&rows, scratch: &scratch, start: 5, count: leaf.count, split: split)
            #expect(leaf.count >= 65_536)
            #expect(left == leaf.filter(goesLeft).count)
            #expect(Array(rows[5..<(5 + leaf.count)]) == expected)
            #expect(rows.prefix(5).allSatisfy { $0 == -1 } && rows.suffix(5).allSatisfy { $0 == -1 })
        }
    }

    @Test func trainingIsDeterministicAndRoundTripsBitForBit() throws {
        let train = try fixtureTable("gbdt_churn_train.csv")
        let params = [
            "n_estimators": "30", "bagging_fraction": "0.7", "bagging_freq": "1", "feature_fraction": "0.8",
            "seed": "5",
        ]
        let (a, schema) = try fit(train, target: "churn", objective: .binary, parameters: params)
        let (b, _) = try fit(train, target: "churn", objective: .binary, parameters: params)
        #expect(a == b)
        let (c, _) = try fit(
            train, target: "churn", objective: .binary, parameters: params.merging(["seed": "6"]) { $1 })
        #expect(a != c)
        let file = ModelFile(model: .gbdt(a), learner: .gbdt, task: .binary, target: "churn", parameters: params)
        let loaded = try ModelFile.decode(try file.jsonData())
        let data = try schema.encode(train)
        #expect(try loaded.model().predict(data).probabilities == a.predict(data).probabilities)
        #expect(a.importance().contains { $0.splits > 0 && $0.gain > 0 })
    }

    @Test func missingValuesLearnTheirOwnDirection() throws {
        // y is large exactly where x is missing: the split must send missing values their own way.
        var text = "x,y\n"
        for i in 0..<400 { text += i % 4 == 0 ? ",100\n" : "\(i % 50),\(i % 50)\n" }
        let train = try CSVReader.read(string: text)
        let (model, schema) = try fit(train, target: "y", objective: .regression, parameters: ["n_estimators": "50"])
        let p = model.predict(try schema.encode(try CSVReader.read(string: "x\nNA\n10\n"))).values
        try #require(p.count == 2)
        #expect(abs(p[0] - 100) < 2, "missing → \(p[0])")
        #expect(abs(p[1] - 10) < 2, "10 → \(p[1])")
    }

    @Test func manyLevelCategoriesSplitNatively() throws {
        // 30 levels; y depends on which half of them a row's level is in.
        var text = "level,noise,y\n"
        var rng = SeededGenerator(seed: 1)
        for _ in 0..<1500 {
            let l = Int(rng.next(upperBound: 30))
            text +=
                "L\(l),\(rng.next(upperBound: 100)),\([3, 7, 11, 13, 17, 19, 23, 29, 2, 5, 8, 21, 25, 27, 0].contains(l) ? 10 : 0)\n"
        }
        let table = try CSVReader.read(string: text)
        let (model, schema) = try fit(
            table, target: "y", objective: .regression, parameters: ["n_estimators": "20", "min_data_per_group": "20"])
        let y = try TargetValues.read(table, column: "y", task: .regression).0.numbers()
        let rmse = Metrics.regression(actual: y, predicted: model.predict(try schema.encode(table)).values)["rmse"]!
        #expect(rmse < 0.7, "rmse \(rmse)")
        #expect(model.trees[0].categorySets.count >= 1)
        // A level never seen in training is treated as missing, not a crash.
        let unseen = model.predict(try schema.encode(try CSVReader.read(string: "level,noise\nL99,5\n"))).values
        #expect(unseen[0].isFinite)

        // Prediction walks the trees packed into one node array; it must give exactly what walking each tree gives
        // (categorical sets, missing values, unseen levels), for one row and for many.
        let probe = try CSVReader.read(
            string: "level,noise\nL3,5\nL99,\n,50\nL29,99\n" + (0..<5000).map { "L\($0 % 31),\($0 % 100)\n" }.joined())
        let data = try schema.encode(probe)
        let binned = BinnedData(data, bins: model.bins)
        var expected = [Double](repeating: model.initialScore, count: data.rows)
        for tree in model.trees { GBDTModel.addLeafValues(tree, binned, rows: 0..<data.rows, into: &expected) }
        #expect(model.rawScores(data) == expected)
        #expect(model.rawScores(try schema.encode(try CSVReader.read(string: "level,noise\nL99,\n"))) == [expected[1]])
    }

    @Test func earlyStoppingKeepsTheBestRound() throws {
        let train = try fixtureTable("gbdt_houses_train.csv")
        let valid = try fixtureTable("gbdt_houses_test.csv")
        let (model, _) = try fit(
            train, target: "Sale_Price", objective: .regression,
            parameters: ["n_estimators": "400", "learning_rate": "0.3", "early_stopping_rounds": "10"],
            validation: valid)
        #expect(model.trees.count < 400)
        #expect(model.bestIteration == model.trees.count)
    }

    @Test func parametersAreChecked() {
        #expect(throws: LearnError.self) {
            _ = try GBDTParameters(parameters: ["num_leaves": "1"], objective: .regression)
        }
        #expect(throws: LearnError.self) {
            _ = try GBDTParameters(parameters: ["max_bin": "300"], objective: .regression)
        }
        #expect(throws: LearnError.self) { _ = try GBDTParameters(parameters: ["leaves": "3"], objective: .regression) }
        let aliased = try? GBDTParameters(
            parameters: ["num_iterations": "7", "min_samples_leaf": "3", "eta": "0.2"], objective: .binary)
        #expect(aliased?.nEstimators == 7 && aliased?.minDataInLeaf == 3 && aliased?.learningRate == 0.2)
    }
}
