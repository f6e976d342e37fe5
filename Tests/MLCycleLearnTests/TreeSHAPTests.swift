import Foundation
import MLCycleData
import Testing

@testable import MLCycleLearn

/// Exact SHAP values of tree models: they add up to each row's output, and equal the Shapley values computed from
/// every coalition of features with the paper's path-dependent expectation (Algorithm 1), on models with numeric
/// and categorical splits and missing values.
@Suite struct TreeSHAPTests {
    /// Rows with a numeric feature that is sometimes missing, two more numbers, and a category (sometimes missing);
    /// the target mixes them with interactions. `kind`: "regression", "binary" or "multiclass".
    static func table(rows: Int, kind: String) throws -> Table {
        var rng = SeededGenerator(seed: 7)
        var csv = "x1,x2,x3,c,y\n"
        let levels = ["north", "south", "east", "west", "centre", "harbour"]
        for _ in 0..<rows {
            let x1 = Double.random(in: 0..<10, using: &rng)
            let x2 = Double.random(in: -5..<5, using: &rng)
            let x3 = Int.random(in: 0..<4, using: &rng)
            let level = Int.random(in: 0..<levels.count, using: &rng)
            let missing1 = Double.random(in: 0..<1, using: &rng) < 0.1
            let missingC = Double.random(in: 0..<1, using: &rng) < 0.05
            let value =
                2 * (missing1 ? 4 : x1) + x2 * Double(x3) + [3.0, -2, 0, 5, -4, 1][level]
                + Double.random(in: -1..<1, using: &rng)
            let y: String
            switch kind {
            case "binary": y = value > 10 ? "yes" : "no"
            case "multiclass": y = value < 5 ? "low" : value < 14 ? "mid" : "high"
            default: y = String(value)
            }
            csv += "\(missing1 ? "" : String(x1)),\(x2),\(x3),\(missingC ? "" : levels[level]),\(y)\n"
        }
        return try CSVReader.read(string: csv)
    }

    static func data(_ kind: String, rows: Int = 400) throws -> (FeatureSchema, Dataset, TargetValues) {
        let t = try table(rows: rows, kind: kind)
        let schema = try FeatureSchema.infer(from: t, target: "y")
        let task: Task = kind == "regression" ? .regression : kind == "binary" ? .binary : .multiclass
        return (schema, try schema.encode(t), try TargetValues.read(t, column: "y", task: task).0)
    }

    static func gbdt(_ kind: String, _ parameters: [String: String] = [:]) throws -> (GBDTModel, Dataset) {
        let (schema, x, y) = try data(kind)
        let objective: GBDTParameters.Objective =
            kind == "regression" ? .regression : kind == "binary" ? .binary : .multiclass
        let model = try GradientBoostedTrees(
            parameters: GBDTParameters(
                parameters: ["n_estimators": "30", "num_leaves": "8", "min_data_in_leaf": "5"].merging(parameters) {
                    $1
                }, objective: objective)
        ).fit(schema: schema, data: x, target: y, validation: nil)
        return (model, x)
    }

    /// `expected` plus each row's contributions, per output.
    static func sums(_ c: Contributions, rows: Int) -> [[Double]] {
        c.expected.indices.map { o in (0..<rows).map { r in c.expected[o] + c.row(r, output: o).reduce(0, +) } }
    }

    @Test(arguments: ["regression", "binary", "multiclass"])
    func gradientBoostingContributionsAddUpToTheRawScore(_ kind: String) throws {
        let (model, x) = try Self.gbdt(kind)
        #expect(model.trees.contains { !$0.categorySets.isEmpty }, "the category is split on")
        let c = try model.contributions(x)
        let raw = model.rawClassScores(x)
        #expect(c.expected.count == raw.count && c.features == ["x1", "x2", "x3", "c"])
        for (o, sum) in Self.sums(c, rows: x.rows).enumerated() {
            for r in 0..<x.rows { #expect(abs(sum[r] - raw[o][r]) <= 1e-9 * max(1, abs(raw[o][r]))) }
        }
    }

    @Test(arguments: ["regression", "binary", "multiclass"])
    func forestContributionsAddUpToTheOutput(_ kind: String) throws {
        let (schema, x, y) = try Self.data(kind)
        let model = try RandomForest(parameters: ForestParameters(parameters: ["n_estimators": "20"], single: false))
            .fit(schema: schema, data: x, target: y)
        let c = try model.contributions(x)
        let p = model.predict(x)
        let w = model.leafWidth
        for (o, sum) in Self.sums(c, rows: x.rows).enumerated() {
            for r in 0..<x.rows {
                let output =
                    kind == "regression"
                    ? p.values[r] : kind == "binary" ? p.probabilities[2 * r + 1] : p.probabilities[r * w + o]
                #expect(abs(sum[r] - output) <= 1e-9)
            }
        }
    }

    /// Shapley values from their definition: every coalition S of the other features, weighted |S|!(M−|S|−1)!/M!,
    /// with E[f | S] as the paper's Algorithm 1 takes it (features outside S follow both children by cover).
    @Test func contributionsAreTheShapleyValuesOfEveryCoalition() throws {
        let (model, x) = try Self.gbdt("regression", ["n_estimators": "8", "num_leaves": "12"])
        let binned = BinnedData(x, bins: model.bins, rowMajor: false)
        let m = model.schema.features.count
        func expectation(_ t: BoostedTree, row: Int, known: Set<Int>) -> Double {
            func cover(_ c: Int32) -> Double { c >= 0 ? t.nodeCount![Int(c)] : t.leafCount![Int(~c)] }
            func go(_ c: Int32) -> Double {
                if c < 0 { return t.leafValues[Int(~c)] }
                let node = Int(c)
                let feature = Int(t.feature[node])
                guard known.contains(feature) else {
                    return (cover(t.left[node]) * go(t.left[node]) + cover(t.right[node]) * go(t.right[node]))
                        / t.nodeCount![node]
                }
                let b = Int(binned.codes[feature * binned.rows + row])
                let left: Bool
                if b == 0 {
                    left = t.missingLeft[node]
                } else if t.categorySet[node] >= 0 {
                    left = t.categorySets[Int(t.categorySet[node])][b >> 6] & (1 << UInt64(b & 63)) != 0
                } else {
                    left = b <= Int(t.binThreshold[node])
                }
                return go(left ? t.left[node] : t.right[node])
            }
            return t.feature.isEmpty ? t.leafValues[0] : go(0)
        }
        func factorial(_ k: Int) -> Double { k <= 1 ? 1 : Double(k) * factorial(k - 1) }
        let c = try model.contributions(x)
        var empty = model.initialScore
        for t in model.trees { empty += expectation(t, row: 0, known: []) }
        #expect(abs(empty - c.expected[0]) <= 1e-9)
        for r in stride(from: 0, to: x.rows, by: 37) {
            for i in 0..<m {
                var phi = 0.0
                for mask in 0..<(1 << m) where mask & (1 << i) == 0 {
                    let s = Set((0..<m).filter { mask & (1 << $0) != 0 })
                    let weight = factorial(s.count) * factorial(m - s.count - 1) / factorial(m)
                    for t in model.trees {
                        phi += weight * (expectation(t, row: r, known: s.union([i])) - expectation(t, row: r, known: s))
                    }
                }
                #expect(abs(phi - c.row(r)[c.row(r).startIndex + i]) <= 1e-9, "row \(r), feature \(i)")
            }
        }
    }

    /// The Shapley values of each leaf's game, from their definition: for a leaf of value v whose path splits on
    /// the distinct features j (o_j: the row follows all of j's splits; z_j: the share of training rows that do),
    /// feature i gets v · (o_i − z_i) · Σ_S |S|!(d−|S|−1)!/d! · Π_{j∈S} o_j · Π_{j∉S, j≠i} z_j, the sum over the
    /// subsets S of the other features gathered by size (every term is ≥ 0, so deep paths lose no precision).
    static func leafByLeaf(_ model: GBDTModel, _ x: Dataset, row: Int) -> [Double] {
        let binned = BinnedData(x, bins: model.bins, rowMajor: false)
        var phi = [Double](repeating: 0, count: model.schema.features.count)
        func logFactorial(_ k: Int) -> Double { lgamma(Double(k) + 1) }
        for t in model.trees where !t.feature.isEmpty {
            func cover(_ c: Int32) -> Double { c >= 0 ? t.nodeCount![Int(c)] : t.leafCount![Int(~c)] }
            func leaf(_ value: Double, _ path: [(feature: Int, o: Double, z: Double)]) {
                let d = path.count
                for (i, own) in path.enumerated() where own.o != own.z {
                    // sizes[k]: Σ over subsets S of size k of the other features of Π_{S} o · Π_{not S} z.
                    var sizes = [1.0]
                    for (j, other) in path.enumerated() where j != i {
                        var next = [Double](repeating: 0, count: sizes.count + 1)
                        for (k, w) in sizes.enumerated() {
                            next[k] += w * other.z
                            next[k + 1] += w * other.o
                        }
                        sizes = next
                    }
                    var sum = 0.0
                    for (k, w) in sizes.enumerated() where w != 0 {
                        sum += w * exp(logFactorial(k) + logFactorial(d - k - 1) - logFactorial(d))
                    }
                    phi[own.feature] += value * (own.o - own.z) * sum
                }
            }
            func walk(_ c: Int32, _ path: [(feature: Int, o: Double, z: Double)]) {
                guard c >= 0 else { return leaf(t.leafValues[Int(~c)], path) }
                let node = Int(c)
                let f = Int(t.feature[node])
                let b = Int(binned.codes[f * binned.rows + row])
                for child in [t.left[node], t.right[node]] {
                    let followed = (child == t.left[node]) == t.goesLeft(node, bin: b)
                    var next = path
                    let share = cover(child) / t.nodeCount![node]
                    if let k = next.firstIndex(where: { $0.feature == f }) {
                        next[k].o *= followed ? 1 : 0
                        next[k].z *= share
                    } else {
                        next.append((f, followed ? 1 : 0, share))
                    }
                    walk(child, next)
                }
            }
            walk(0, [])
        }
        return phi
    }

    /// Deep trees, where the walk needs its widest vectors: a boosted model grown to 400 leaves on 80 features,
    /// with a chain of 70 distinct features (then 5 of them again) added as a fourth tree, whose longest path needs
    /// 35 quadrature points. The contributions add up to the raw score and equal each leaf's Shapley values.
    @Test func deepTreesAgreeWithEachLeafsShapleyValues() throws {
        var rng = SeededGenerator(seed: 11)
        let columns = (0..<80).map { "x\($0)" }
        var csv = (columns + ["y"]).joined(separator: ",") + "\n"
        for _ in 0..<800 {
            let xs = columns.map { _ in Double.random(in: 0..<1, using: &rng) }
            let y = xs.enumerated().reduce(0) { $0 + sin(Double($1.offset) + 6 * $1.element) }
            csv += (xs.map { String($0) } + [String(y)]).joined(separator: ",") + "\n"
        }
        let table = try CSVReader.read(string: csv)
        let schema = try FeatureSchema.infer(from: table, target: "y")
        let x = try schema.encode(table)
        var model = try GradientBoostedTrees(
            parameters: GBDTParameters(
                parameters: [
                    "n_estimators": "3", "num_leaves": "400", "min_data_in_leaf": "1", "learning_rate": "0.5",
                ],
                objective: .regression)
        ).fit(
            schema: schema, data: x, target: try TargetValues.read(table, column: "y", task: .regression).0,
            validation: nil)
        // The chain: node k splits on feature k % 70 (k < 75) at its middle bin; its left child is a leaf.
        var chain = BoostedTree()
        let nodes = 75
        for k in 0..<nodes {
            let f = k % 70
            chain.feature.append(Int32(f))
            chain.threshold.append(0.5)
            chain.binThreshold.append(Int32(model.bins[f].count / 2))
            chain.categorySet.append(-1)
            chain.missingLeft.append(k % 2 == 0)
            chain.left.append(~Int32(k))
            chain.right.append(k + 1 < nodes ? Int32(k + 1) : ~Int32(nodes))
            chain.gain.append(1)
            chain.nodeCount = (chain.nodeCount ?? []) + [Double(1000 - 10 * k)]
            chain.leafCount = (chain.leafCount ?? []) + [10]
            chain.leafValues.append(Double.random(in: -1..<1, using: &rng))
        }
        chain.leafCount?.append(Double(1000 - 10 * nodes))
        chain.leafValues.append(0.25)
        model.trees.append(chain)
        let c = try model.contributions(x)
        let raw = model.rawScores(x)
        for r in stride(from: 0, to: x.rows, by: 97) {
            #expect(abs(Self.sums(c, rows: x.rows)[0][r] - raw[r]) <= 1e-9 * max(1, abs(raw[r])), "row \(r)")
            for (f, expected) in Self.leafByLeaf(model, x, row: r).enumerated() {
                #expect(abs(c.row(r)[c.row(r).startIndex + f] - expected) <= 1e-9, "row \(r), feature \(f)")
            }
        }
        let explainer = try TreeSHAP.Explainer(model.trees, width: 1)
        #expect(explainer.points.last == 35 && explainer.points.dropLast().allSatisfy { $0 > 2 })
    }

    @Test func aModelWithoutCoversSaysToRetrain() throws {
        var (model, x) = try Self.gbdt("regression")
        model.trees[0].nodeCount = nil
        #expect {
            try model.contributions(x)
        } throws: { "\($0.localizedDescription)".contains("train it again") }
    }
}

/// Linear models' contributions, and contributions credited from features to the columns they were made from.
@Suite struct LinearContributionsTests {
    @Test(arguments: ["regression", "binary", "multiclass"])
    func linearContributionsAddUpToTheScore(_ kind: String) throws {
        let (schema, x, y) = try TreeSHAPTests.data(kind)
        let learner: LearnerParameters = kind == "regression" ? .linear(.init()) : .logistic(.init())
        let model = try learner.fit(schema: schema, data: x, target: y)
        let c = try model.contributions(x)
        let raw = model.rawScores(x)
        #expect(c.features == ["x1", "x2", "x3", "c"] && c.expected.count == (kind == "multiclass" ? 3 : 1))
        for (o, sum) in TreeSHAPTests.sums(c, rows: x.rows).enumerated() {
            for r in 0..<x.rows { #expect(abs(sum[r] - raw[o][r]) <= 1e-9 * max(1, abs(raw[o][r]))) }
        }
        // A numeric feature's contribution is its coefficient times its distance from the training mean; a missing
        // value (filled with the mean) contributes nothing.
        if case .linear(let m) = model {
            let mean = try #require(m.design.terms[0].mean)
            guard case .numeric(let v, let valid) = x.columns[0] else { return }
            for r in 0..<x.rows {
                let expected = (valid?[r] ?? true) ? m.coefficients[0] * (v[r] - mean) : 0
                #expect(abs(c.row(r)[c.row(r).startIndex] - expected) <= 1e-9 * max(1, abs(expected)))
            }
        }
    }

    @Test func creditingSplitsAFeatureBetweenItsColumnsAndKeepsTheSum() throws {
        let c = Contributions(
            features: ["area", "cond_Good", "cond_Fair", "per_room"], expected: [10],
            values: [[1, 2, 3, 4, -1, -2, -3, -4]])
        let credited = c.credited(
            to: ["cond_Good": ["cond": 1], "cond_Fair": ["cond": 1], "per_room": ["area": 0.5, "rooms": 0.5]],
            columns: ["rooms", "cond", "area"])
        #expect(credited.features == ["rooms", "cond", "area"])
        #expect(credited.values == [[2, 5, 3, -2, -5, -3]])
        #expect(credited.expected == [10])
    }
}
