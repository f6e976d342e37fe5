import Foundation
import MLCycleData
import Testing

@testable import MLCycleMonitor

/// Tests/Fixtures/monitor/drift.json, written by make_drift_fixtures.py beside it (SciPy's answers).
var driftFixture: [String: Any] {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/monitor/drift.json")
    return (try? JSONSerialization.jsonObject(with: Data(contentsOf: url))) as? [String: Any] ?? [:]
}

/// |a − b| ≤ relative · max(|a|, |b|) + absolute
func expectNear(
    _ a: Double, _ b: Double, relative: Double = 1e-9, absolute: Double = 1e-12, _ label: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(
        abs(a - b) <= relative * max(abs(a), abs(b)) + absolute, "\(label): \(a) vs scipy \(b)",
        sourceLocation: sourceLocation)
}

@Suite struct DriftStatisticsTests {
    let numeric = driftFixture["numeric"] as? [[String: Any]] ?? []
    let categorical = driftFixture["categorical"] as? [[String: Any]] ?? []

    @Test func fixturesArePresent() {
        #expect(numeric.count == 6 && categorical.count == 3)
    }

    @Test func numericStatisticsAgreeWithSciPy() throws {
        for c in numeric {
            let name = c["name"] as? String ?? "?"
            let r = try #require(c["reference"] as? [Double])
            let cur = try #require(c["current"] as? [Double])
            let ks = try #require(c["ks"] as? [String: Double])
            let ours = DriftStatistics.kolmogorovSmirnov(r, cur)
            expectNear(ours.statistic, ks["statistic"]!, "\(name) KS statistic")
            expectNear(ours.pValue, ks["p_value"]!, absolute: 1e-12, "\(name) KS p-value")
            expectNear(DriftStatistics.wasserstein(r, cur), c["wasserstein"] as! Double, "\(name) Wasserstein")
            let bins = try #require(c["bins"] as? [String: [Double]])
            expectNear(
                DriftStatistics.jensenShannon(bins["reference"]!, bins["current"]!), c["jensen_shannon"] as! Double,
                "\(name) Jensen–Shannon")
            expectNear(
                DriftStatistics.populationStabilityIndex(bins["reference"]!, bins["current"]!), c["psi"] as! Double,
                "\(name) PSI")
            // The report bins the same way the fixture script does.
            let report = try DriftDetector.compare(
                reference: try Table(columns: [Column(name: "x", doubles: r)]),
                current: try Table(columns: [Column(name: "x", doubles: cur)]))
            let column = try #require(report.columns.first)
            expectNear(column.tests.psi, c["psi"] as! Double, "\(name) report PSI")
            expectNear(
                column.tests.wassersteinNormed!,
                (c["wasserstein"] as! Double) / max(c["reference_std"] as! Double, 0.001), "\(name) normed Wasserstein")
        }
    }

    @Test func categoricalStatisticsAgreeWithSciPy() throws {
        for c in categorical {
            let name = c["name"] as? String ?? "?"
            let r = try #require(c["reference"] as? [String])
            let cur = try #require(c["current"] as? [String])
            let report = try DriftDetector.compare(
                reference: try Table(columns: [Column(name: "x", strings: r)]),
                current: try Table(columns: [Column(name: "x", strings: cur)]))
            let column = try #require(report.columns.first)
            #expect(column.type == "categorical")
            let chi2 = try #require(c["chi2"] as? [String: Double])
            expectNear(column.tests.chi2!.statistic, chi2["statistic"]!, "\(name) chi-square")
            expectNear(column.tests.chi2!.pValue, chi2["p_value"]!, absolute: 1e-14, "\(name) chi-square p-value")
            expectNear(column.tests.jensenShannon, c["jensen_shannon"] as! Double, "\(name) Jensen–Shannon")
            expectNear(column.tests.psi, c["psi"] as! Double, "\(name) PSI")
            if let z = c["z"] as? [String: Double] {
                expectNear(column.tests.z!.statistic, z["statistic"]!, "\(name) z")
                expectNear(column.tests.z!.pValue, z["p_value"]!, absolute: 1e-14, "\(name) z p-value")
                #expect(column.method == "z")
            }
            if name == "unseen" { #expect(column.unseenCategories == ["d"]) }
        }
    }

    @Test func theOneSampleTailAgreesWithSciPy() throws {
        for c in try #require(driftFixture["kstwo"] as? [[String: Any]]) {
            let n = c["n"] as! Int
            let x = c["x"] as! Double
            let ours = DriftStatistics.kolmogorovSF(x, n: n)
            // Exact routes to 1e-9; where SciPy uses Durbin's matrix and this the Pelz–Good expansion, 1e-6.
            let durbin = n <= 100_000 && Double(n) * pow(x, 1.5) <= 1.4 && Double(n) * x * x < 2.2
            expectNear(
                ours, c["sf"] as! Double, relative: durbin ? 1e-6 : 1e-9, absolute: 1e-13, "kstwo.sf(\(x), \(n))")
        }
    }
}

@Suite struct DriftReportTests {
    func table(_ columns: [Column]) throws -> Table { try Table(columns: columns) }

    @Test func methodsFollowEvidentlysDefaultsAndRulesOverrideThem() throws {
        var rng = SeededGenerator(seed: 3)
        func uniform() -> Double { Double(rng.next(upperBound: 1_000_000)) / 1_000_000 }
        let small = try table([
            Column(name: "n", doubles: (0..<500).map { _ in uniform() }),
            Column(name: "k", strings: (0..<500).map { _ in ["a", "b", "c"][Int(rng.next(upperBound: 3))] }),
            Column(name: "b", strings: (0..<500).map { _ in uniform() < 0.5 ? "y" : "n" }),
        ])
        let shifted = try table([
            Column(name: "n", doubles: (0..<500).map { _ in uniform() + 0.3 }),
            Column(name: "k", strings: (0..<500).map { _ in ["a", "b", "c"][Int(rng.next(upperBound: 3))] }),
            Column(name: "b", strings: (0..<500).map { _ in uniform() < 0.5 ? "y" : "n" }),
        ])
        let report = try DriftDetector.compare(reference: small, current: shifted)
        #expect(report.columns.map(\.method) == ["ks", "chi2", "z"])
        #expect(report.columns[0].drifted && !report.columns[1].drifted)
        #expect(abs(report.driftShare - Double(report.columns.filter(\.drifted).count) / 3) < 1e-12)

        var big = [Double]()
        var bigShifted = [Double]()
        for _ in 0..<3000 {
            big.append(uniform())
            bigShifted.append(uniform() * 1.05)
        }
        let large = try DriftDetector.compare(
            reference: try table([
                Column(name: "n", doubles: big), Column(name: "k", strings: big.map { $0 < 0.5 ? "lo" : "hi" }),
            ]),
            current: try table([
                Column(name: "n", doubles: bigShifted),
                Column(name: "k", strings: bigShifted.map { $0 < 0.5 ? "lo" : "hi" }),
            ]))
        #expect(large.columns.map(\.method) == ["wasserstein", "jensen_shannon"])
        #expect(!large.columns[0].drifted)  // a 5 % stretch is under 0.1 of a standard deviation

        var options = DriftOptions()
        options.rules["n"] = DriftRule(method: .psi, threshold: 0.001)
        let strict = try DriftDetector.compare(
            reference: try table([Column(name: "n", doubles: big)]),
            current: try table([Column(name: "n", doubles: bigShifted)]), options: options)
        #expect(strict.columns[0].method == "psi" && strict.columns[0].threshold == 0.001 && strict.columns[0].drifted)
    }

    @Test func missingValuesAndBadInputAreReported() throws {
        let reference = try table([Column(name: "x", doubles: (0..<100).map { Double($0) })])
        let current = try table([Column(name: "x", doubles: (0..<100).map { $0 % 4 == 0 ? nil : Double($0) })])
        let report = try DriftDetector.compare(reference: reference, current: current)
        #expect(report.columns[0].missingReference == 0 && abs(report.columns[0].missingCurrent - 0.25) < 1e-12)
        #expect(throws: MonitorError.self) {
            try DriftDetector.compare(reference: reference, current: current, columns: ["y"])
        }
        var options = DriftOptions()
        options.rules["x"] = DriftRule(method: .chi2)
        #expect(throws: MonitorError.self) {
            try DriftDetector.compare(reference: reference, current: current, options: options)
        }
    }
}

@Suite struct DriftThresholdTests {
    /// The spec's `monitoring.drift` thresholds replace the default test's threshold, per column, keeping its method.
    @Test func aColumnThresholdKeepsTheMethodAndMovesTheLine() throws {
        let reference = try Table(columns: [Column(name: "x", doubles: (0..<2000).map { Double($0 % 100) })])
        let current = try Table(columns: [Column(name: "x", doubles: (0..<200).map { Double($0 % 100) + 15 })])
        let plain = try DriftDetector.compare(reference: reference, current: current)
        let column = try #require(plain.columns.first)
        #expect(column.method == "wasserstein" && column.drifted && column.threshold == 0.1)
        var options = DriftOptions()
        options.thresholds = ["x": 0.9]
        let relaxed = try #require(
            try DriftDetector.compare(reference: reference, current: current, options: options).columns.first)
        #expect(
            relaxed.method == "wasserstein" && !relaxed.drifted && relaxed.threshold == 0.9
                && relaxed.score == column.score)
        // The PSI's usual reading rides along, in the JSON too.
        #expect(column.psiLevel == (column.tests.psi < 0.1 ? "none" : column.tests.psi < 0.25 ? "moderate" : "major"))
        let json = String(decoding: try JSONEncoder().encode(column), as: UTF8.self)
        #expect(json.contains("\"psi_level\":\"\(column.psiLevel)\"") && json.contains("\"tests\""))
    }
}
