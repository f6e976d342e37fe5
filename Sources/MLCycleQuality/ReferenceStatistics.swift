import Foundation
import MLCycleData

/// What the training data looked like, kept in a model bundle so that drift can be measured later against it:
/// per input column, the missing share and either a sample of its numbers (all of them up to `sampleSize`, else a
/// seeded random sample, sorted) or the count of each category.
public struct ReferenceStatistics: Codable, Sendable, Equatable {
    public struct ColumnReference: Codable, Sendable, Equatable {
        public var name: String
        public var type: DataType
        public var rows: Int
        public var missing: Int
        /// Numeric, date and time columns: the values (days or microseconds for dates and times), sorted.
        public var sample: [Double]?
        /// Text and bool columns: rows per category (at most 1,000 categories; the rest under "(other)").
        public var counts: [String: Int]?
    }

    public var columns: [ColumnReference]

    public init(columns: [ColumnReference]) { self.columns = columns }

    public subscript(name: String) -> ColumnReference? { columns.first { $0.name == name } }

    /// Reference statistics of a table's columns (all but `excluding`, e.g. the target).
    public static func compute(_ table: Table, excluding: Set<String> = [], sampleSize: Int = 10_000, seed: UInt64 = 42)
        -> ReferenceStatistics
    {
        var rng = SeededGenerator(seed: seed)
        var out = [ColumnReference]()
        for c in table.columns where !excluding.contains(c.name) {
            let valid = (0..<c.count).filter { c.isValid($0) }
            var ref = ColumnReference(
                name: c.name, type: c.type, rows: c.count, missing: c.count - valid.count, sample: nil, counts: nil)
            if c.type == .string || c.type == .bool {
                var counts = [String: Int]()
                for r in valid { counts[c[r].description, default: 0] += 1 }
                if counts.count > 1000 {
                    let kept = counts.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
                        .prefix(1000)
                    var capped = Dictionary(uniqueKeysWithValues: kept.map { ($0.key, $0.value) })
                    capped["(other)"] = counts.values.reduce(0, +) - kept.reduce(0) { $0 + $1.value }
                    counts = capped
                }
                ref.counts = counts
            } else if let v = c.doubles() {
                var rows = valid
                if rows.count > sampleSize {
                    rows.shuffle(using: &rng)
                    rows = Array(rows.prefix(sampleSize))
                }
                ref.sample = rows.map { v[$0] }.sorted()
            }
            out.append(ref)
        }
        return ReferenceStatistics(columns: out)
    }
}
