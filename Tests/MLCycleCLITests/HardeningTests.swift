import Foundation
import MLCycleMetrics
import Testing

/// Input tried as an attacker or a careless user would try it: each case once crashed, hung or misled mlcycle,
/// and now gets a clear error (or a well-defined answer). One test per finding.
@Suite(.serialized) struct HardeningTests {
    /// `inf` and `1e400` are numbers a CSV may hold; JSON has none for them, so the profile writes them as strings
    /// (it failed with the encoder's raw error, naming no file).
    @Test func aProfileOfInfiniteValuesIsStillJSON() async throws {
        let dir = try scratch(["inf.csv": "a,b\n1,2\ninf,3\n1e400,4\n-inf,5\n"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try await CLI.run(["profile", "inf.csv", "--json", "-"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let a = try #require((json["columns"] as? [[String: Any]])?.first)
        #expect(a["max"] as? String == "Infinity" && a["min"] as? String == "-Infinity", "\(a)")
        #expect(a["type"] as? String == "float64" && a["missing"] as? Int == 0)
        let html = try await CLI.run(["profile", "inf.csv", "--html", "inf.html"], in: dir)
        #expect(html.status == 0, "\(html.stderr)")
    }

    /// Every learner refuses an infinite feature or target before fitting, naming the column and the row (each
    /// failed to save its model with the encoder's raw error).
    @Test func learnersRefuseInfiniteValuesByColumnAndRow() async throws {
        var rows = ["x,y,label"]
        for i in 0..<40 { rows.append("\(i),\(i * 2),\(i % 2 == 0 ? "a" : "b")") }
        var badFeature = rows
        badFeature[8] = "1e400,14,b"
        var badTarget = rows
        badTarget[5] = "4,-inf,a"
        let dir = try scratch([
            "feature.csv": badFeature.joined(separator: "\n") + "\n",
            "target.csv": badTarget.joined(separator: "\n") + "\n",
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        for learner in ["linear", "tree", "forest", "gbdt"] {
            let r = try await CLI.run(
                [
                    "train", "--data", "feature.csv", "--target", "y", "--task", "regression", "--drop", "label",
                    "--learner", learner, "--out", "m.json",
                ],
                in: dir)
            #expect(r.status == 2, "\(learner): \(r.stderr)")
            #expect(r.stderr.contains("column 'x' holds inf at row 8"), "\(learner): \(r.stderr)")
            let t = try await CLI.run(
                [
                    "train", "--data", "target.csv", "--target", "y", "--task", "regression", "--drop", "label",
                    "--learner", learner, "--out", "m.json",
                ],
                in: dir)
            #expect(t.status == 2 && t.stderr.contains("column 'y' holds -inf at row 5"), "\(learner): \(t.stderr)")
        }
        for learner in ["logistic", "gbdt"] {
            let r = try await CLI.run(
                ["train", "--data", "feature.csv", "--target", "label", "--task", "binary", "--learner", learner],
                in: dir)
            #expect(r.status == 2 && r.stderr.contains("column 'x' holds inf at row 8"), "\(learner): \(r.stderr)")
        }
        let k = try await CLI.run(
            ["train", "--data", "feature.csv", "--task", "clustering", "--learner", "kmeans", "--drop", "label"],
            in: dir)
        #expect(k.status == 2 && k.stderr.contains("column 'x' holds inf at row 8"), "\(k.stderr)")
        let tune = try await CLI.run(
            [
                "tune", "--data", "feature.csv", "--target", "y", "--task", "regression", "--learner", "gbdt", "--drop",
                "label", "--space", "num_leaves=4,8",
            ], in: dir)
        #expect(tune.status == 2 && tune.stderr.contains("column 'x' holds inf at row 8"), "\(tune.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("m.json").path))
    }

    /// A ±1e308 feature is finite but overflows a linear model's standardisation: logistic regression refuses it by
    /// name (it fitted NaN coefficients, whose NaN scores then hung the precision–recall curve).
    @Test func hugeFeaturesAreRefusedByLinearModels() async throws {
        var rows = ["x,z,label"]
        for i in 0..<40 { rows.append("\(i % 2 == 0 ? "1e308" : "-1e308"),\(i),\(i % 3 == 0 ? "yes" : "no")") }
        let dir = try scratch(["huge.csv": rows.joined(separator: "\n") + "\n"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try await CLI.run(
            ["train", "--data", "huge.csv", "--target", "label", "--task", "binary", "--learner", "logistic"], in: dir)
        #expect(r.status == 2 && r.stderr.contains("column 'x' holds values as large as 1e+308"), "\(r.stderr)")
        // Trees split on order, not magnitude: they fit such a column.
        let tree = try await CLI.run(
            ["train", "--data", "huge.csv", "--target", "label", "--task", "binary", "--learner", "gbdt"], in: dir)
        #expect(tree.status == 0, "\(tree.stderr)")
    }

    /// NaN scores rank lowest and tie with each other: the curve ends (it never advanced past a NaN, growing
    /// without bound), and AUC and average precision are numbers.
    @Test func nanScoresEndThePrecisionRecallCurve() {
        let y = [true, false, true, false, true]
        let score = [0.9, .nan, .nan, 0.2, 0.6]
        let curve = Metrics.precisionRecallCurve(positive: y, score: score)
        let recalls: [Double] = [1.0 / 3, 2.0 / 3, 2.0 / 3, 1]
        #expect(curve.map(\.recall) == recalls)
        #expect(curve.last?.threshold == -.infinity && curve.last?.precision == 0.6)
        #expect(Metrics.averagePrecision(positive: y, score: score)?.isFinite == true)
        #expect(Metrics.rocAUC(positive: y, score: score)?.isFinite == true)
    }

    /// A table of 5,000 columns and 50 rows (750 KB) is profiled in bounded time and memory: the correlation
    /// matrices keep 100 columns by default (they held every pair: 61 s, 8 GB and a 1.6 GB JSON), the target's
    /// associations still cover every column, and `--correlations` says how many to keep.
    @Test func aWideTableIsProfiledWithBoundedCorrelations() async throws {
        var rng = SystemRandomNumberGenerator()
        var lines = [(["y"] + (1..<5_000).map { "c\($0)" }).joined(separator: ",")]
        for _ in 0..<50 {
            let y = Double(rng.next() % 1_000)
            // c4321 is the target plus noise: the column most associated with it, wherever it stands.
            let cells = (1..<5_000).map {
                $0 == 4_321 ? String(y + Double(rng.next() % 10)) : String(rng.next() % 1_000)
            }
            lines.append(([String(y)] + cells).joined(separator: ","))
        }
        let dir = try scratch(["wide.csv": lines.joined(separator: "\n") + "\n"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try await CLI.run(["profile", "wide.csv", "--target", "y", "--json", "wide.json"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let data = try Data(contentsOf: dir.appendingPathComponent("wide.json"))
        #expect(data.count < 16_000_000, "\(data.count) bytes (the columns' own profiles: 2 KB each)")
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let pearson = try #require((json["correlations"] as? [String: Any])?["pearson"] as? [String: Any])
        let columns = try #require(pearson["columns"] as? [String])
        #expect(columns.count == 100 && columns.first == "y" && columns.contains("c4321"), "\(columns.prefix(5))")
        #expect(pearson["columns_left_out"] as? Int == 4_900)
        let associations = try #require((json["target"] as? [String: Any])?["associations"] as? [[String: Any]])
        #expect(associations.count == 2 * 4_999, "every column is associated with the target")
        #expect(associations.first?["column"] as? String == "c4321")
        let few = try await CLI.run(["profile", "wide.csv", "--correlations", "top:3", "--json", "-"], in: dir)
        let firstThree = try #require(
            ((try JSONSerialization.jsonObject(with: Data(few.stdout.utf8)) as? [String: Any])?["correlations"]
                as? [String: Any])?["spearman"] as? [String: Any])
        #expect(firstThree["columns"] as? [String] == ["y", "c1", "c2"], "without a target: the first columns")
        let wrong = try await CLI.run(["profile", "wide.csv", "--correlations", "top:1"], in: dir)
        #expect(wrong.status != 0 && wrong.stderr.contains("correlations"), "\(wrong.stderr)")
    }

    /// A JSON Lines string with a broken surrogate pair is an error naming the file and line (it trapped on an
    /// arithmetic overflow in `profile`, `validate` and `run`).
    @Test func brokenSurrogatesInJSONLinesAreAnErrorNamingTheLine() async throws {
        let dir = try scratch([
            "s.jsonl": "{\"a\": \"ok\"}\n" + #"{"a":"\ud800\u0041"}"# + "\n",
            "rules.yaml": "rules:\n  - column: a\n    type: string\n",
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        for command in [["profile", "s.jsonl"], ["validate", "s.jsonl", "--rules", "rules.yaml"]] {
            let r = try await CLI.run(command, in: dir)
            #expect(r.status == 2 && r.stderr.contains("s.jsonl:2:") && r.stderr.contains("not \\u0041"), "\(r.stderr)")
        }
    }

    /// Bytes that are not UTF-8 are an error naming the line and column (they were replaced by U+FFFD, so two
    /// different files had the same fingerprint); `--encoding latin1` reads a Latin-1 file on purpose.
    @Test func invalidUTF8IsAnErrorNamingLineAndColumn() async throws {
        let dir = try scratch([:])
        defer { try? FileManager.default.removeItem(at: dir) }
        // "Caf\xE9" and "Caf\xE8": Latin-1 é and è, both U+FFFD when decoded as UTF-8.
        for (name, byte) in [("e1.csv", UInt8(0xE9)), ("e2.csv", UInt8(0xE8))] {
            try Data(Array("id,place\n1,ok\n2,Caf".utf8) + [byte] + Array("\n".utf8))
                .write(to: dir.appendingPathComponent(name))
        }
        for command in [["fingerprint", "e1.csv"], ["profile", "e1.csv"]] {
            let r = try await CLI.run(command, in: dir)
            #expect(r.status == 2, "\(command): \(r.stderr)")
            #expect(r.stderr.contains("e1.csv:3: column 2 (place): byte 0xE9 is not UTF-8"), "\(r.stderr)")
        }
        let one = try await CLI.run(["fingerprint", "e1.csv", "--encoding", "latin1"], in: dir)
        let two = try await CLI.run(["fingerprint", "e2.csv", "--encoding", "latin1"], in: dir)
        #expect(one.status == 0 && two.status == 0, "\(one.stderr)\(two.stderr)")
        #expect(one.stdout != two.stdout)
        let json = try await CLI.run(["profile", "e1.csv", "--encoding", "latin1", "--json", "-"], in: dir)
        #expect(json.stdout.contains("Café"), "\(json.stdout)")
        try Data(Array("{\"a\": \"ok\"}\n{\"a\": \"Caf".utf8) + [0xE9] + Array("\"}\n".utf8))
            .write(to: dir.appendingPathComponent("e.jsonl"))
        let lines = try await CLI.run(["profile", "e.jsonl"], in: dir)
        #expect(
            lines.status == 2 && lines.stderr.contains("e.jsonl:2:") && lines.stderr.contains("0xE9"), "\(lines.stderr)"
        )
        // A rules file or a project file (YAML, always UTF-8) with a Latin-1 byte: where it is, not a silent U+FFFD.
        try Data(Array("rules:\n  - column: place\n    allowed: [Caf".utf8) + [0xE9] + Array("]\n".utf8))
            .write(to: dir.appendingPathComponent("rules.yaml"))
        let rules = try await CLI.run(["validate", "e1.csv", "--rules", "rules.yaml", "--encoding", "latin1"], in: dir)
        #expect(
            rules.status == 2 && rules.stderr.contains("rules.yaml:3:18: byte 0xE9 is not UTF-8"), "\(rules.stderr)")
        try Data(Array("problem:\n  name: Caf".utf8) + [0xE9] + Array("\n".utf8))
            .write(to: dir.appendingPathComponent("mlcycle.yaml"))
        let spec = try await CLI.run(["run", "."], in: dir)
        #expect(spec.status != 0 && spec.stderr.contains("mlcycle.yaml:2:12: byte 0xE9 is not UTF-8"), "\(spec.stderr)")
    }
}
