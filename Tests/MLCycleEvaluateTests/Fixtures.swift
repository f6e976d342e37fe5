import Foundation
import MLCycleData
import Testing

/// Tests/Fixtures/evaluate (reference values and the scripts that made them).
let evaluateFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/evaluate")

func fixtureJSON(_ name: String) throws -> [String: Any] {
    let data = try Data(contentsOf: evaluateFixtures.appendingPathComponent(name))
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}

/// |a - b| ≤ relative · max(|a|, |b|) + absolute
func expectNear(
    _ a: Double, _ b: Double, relative: Double = 1e-9, absolute: Double = 1e-12, _ label: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(
        abs(a - b) <= relative * max(abs(a), abs(b)) + absolute, "\(label): \(a) vs reference \(b)",
        sourceLocation: sourceLocation)
}
