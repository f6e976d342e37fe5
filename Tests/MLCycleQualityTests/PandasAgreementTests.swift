import Foundation
import MLCycleData
import Testing

@testable import MLCycleQuality

/// Profiles the fixture CSVs and compares every statistic with the values pandas, numpy and scipy computed
/// (Tests/Fixtures/profile/make_fixtures.py wrote them).
@Suite struct PandasAgreementTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/profile")

    static var referenceFiles: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: fixtures.path)) ?? [])
            .filter { $0.hasSuffix(".reference.json") }.sorted()
    }

    @Test func fixturesArePresent() {
        #expect(Self.referenceFiles.count >= 2, "run Tests/Fixtures/profile/make_fixtures.py")
    }

    @Test(arguments: PandasAgreementTests.referenceFiles)
    func profileMatchesPandas(_ referenceFile: String) throws {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent(referenceFile))
        let ref = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let source = try #require(ref["source"] as? String)
        let table = try CSVReader.read(path: Self.fixtures.appendingPathComponent(source).path)
        let targetName = (ref["target"] as? [String: Any])?["name"] as? String
        let profile = try Profiler.profile(table, options: ProfileOptions(target: targetName))

        #expect(profile.rows == ref["rows"] as? Int)
        #expect(profile.duplicateRows == ref["duplicate_rows"] as? Int)

        let columns = try #require(ref["columns"] as? [String: [String: Any]])
        for (name, expected) in columns {
            let ours = try #require(profile.column(name), "no profile for \(name)")
            let kind = expected["kind"] as? String
            #expect(ours.count == expected["count"] as? Int, "\(name).count")
            #expect(ours.missing == expected["missing"] as? Int, "\(name).missing")
            #expect(ours.distinct == expected["distinct"] as? Int, "\(name).distinct")
            switch kind {
            case "numeric":
                #expect(ours.type.isNumeric, "\(name) should be numeric, is \(ours.type)")
                let stats: [(String, ProfileValue?)] = [
                    ("mean", ours.mean), ("min", ours.min), ("q05", ours.q05), ("q25", ours.q25),
                    ("median", ours.median), ("q75", ours.q75), ("q95", ours.q95), ("max", ours.max),
                ]
                for (key, value) in stats { expectClose(value?.number, expected[key], "\(name).\(key)") }
                expectClose(ours.std, expected["std"], "\(name).std")
                #expect(ours.zeros == expected["zeros"] as? Int, "\(name).zeros")
                #expect(ours.negatives == expected["negatives"] as? Int, "\(name).negatives")
                #expect(ours.outliers == expected["iqr_outliers"] as? Int, "\(name).iqr_outliers")
                if let h = expected["histogram"] as? [String: Any] {
                    #expect(ours.histogram?.counts == h["counts"] as? [Int], "\(name).histogram.counts")
                    let edges = h["edges"] as? [Double] ?? []
                    #expect(ours.histogram?.edges.count == edges.count)
                    for (a, b) in zip(ours.histogram?.edges ?? [], edges) {
                        expectClose(a, b, "\(name).histogram.edges")
                    }
                }
            case "categorical":
                #expect(ours.type == .string || ours.type == .bool, "\(name) should be categorical, is \(ours.type)")
                let counts = expected["value_counts"] as? [String: Int] ?? [:]
                #expect(!ours.top.isEmpty || counts.isEmpty)
                for top in ours.top { #expect(counts[top.value] == top.count, "\(name): count of \(top.value)") }
                // Our first entry is a most frequent value.
                if let first = ours.top.first { #expect(first.count == counts.values.max()) }
            case "date":
                #expect(ours.type == .date, "\(name) should be a date column, is \(ours.type)")
                #expect(ours.min?.description == expected["min"] as? String, "\(name).min")
                #expect(ours.max?.description == expected["max"] as? String, "\(name).max")
                if expected["median_days_since_epoch"] == nil {
                    #expect(ours.median?.description == expected["median"] as? String, "\(name).median")
                }
            default:
                Issue.record("unknown kind \(String(describing: kind)) for \(name)")
            }
        }

        compareMatrix(profile.correlations.pearson, ref["pearson"], "pearson")
        compareMatrix(profile.correlations.spearman, ref["spearman"], "spearman")
        compareMatrix(profile.correlations.cramersV, ref["cramers_v"], "cramers_v")

        if let target = ref["target"] as? [String: Any], let ourTarget = profile.target {
            for measure in ["pearson", "spearman"] {
                for (column, value) in target[measure] as? [String: Any] ?? [:] {
                    let ours = ourTarget.associations.first { $0.column == column && $0.measure == measure }?.value
                    expectClose(ours, value, "target \(measure) \(column)")
                }
            }
            for (column, value) in target["eta"] as? [String: Any] ?? [:] {
                let ours = ourTarget.associations.first { $0.column == column && $0.measure == "correlation_ratio" }?
                    .value
                expectClose(ours, value, "target eta \(column)")
            }
        }
    }

    func compareMatrix(_ ours: CorrelationMatrix, _ reference: Any?, _ label: String) {
        guard let ref = reference as? [String: Any], let names = ref["columns"] as? [String],
            let rows = ref["matrix"] as? [[Any]]
        else {
            Issue.record("reference has no \(label) matrix")
            return
        }
        for name in names { #expect(ours.columns.contains(name), "\(label): \(name) missing from our matrix") }
        for (i, a) in names.enumerated() {
            for (j, b) in names.enumerated() {
                expectClose(ours.value(a, b), rows[i][j], "\(label)[\(a), \(b)]")
            }
        }
    }
}

/// Agreement to 1e-9 relative (1e-12 absolute near zero); JSON null must be our nil.
func expectClose(_ ours: Double?, _ reference: Any?, _ label: String, sourceLocation: SourceLocation = #_sourceLocation)
{
    let expected = reference as? Double ?? (reference as? Int).map(Double.init)
    guard let expected else {
        #expect(
            ours == nil || ours!.isNaN, "\(label): expected null, got \(String(describing: ours))",
            sourceLocation: sourceLocation)
        return
    }
    guard let ours else {
        Issue.record("\(label): expected \(expected), got nil", sourceLocation: sourceLocation)
        return
    }
    let tolerance = 1e-9 * max(abs(ours), abs(expected)) + 1e-12
    #expect(
        abs(ours - expected) <= tolerance, "\(label): \(ours) vs pandas \(expected)", sourceLocation: sourceLocation)
}
