import Foundation
import MLCycleData

/// Which part of a split a row belongs to.
public enum SplitPart: String, Codable, Sendable, CaseIterable {
    case train, validation, test
}

/// Divides rows into training, validation and test parts; the same spec on the same table always gives the same
/// parts, so a split is recorded by its spec (method, column, fractions, seed) alone.
public enum Splitter {
    public static func assign(_ table: Table, _ spec: SplitSpec) throws -> [SplitPart] {
        let n = table.rowCount
        guard spec.testFraction >= 0, spec.validationFraction >= 0, spec.testFraction + spec.validationFraction < 1
        else {
            throw PrepError.invalid(
                step: "split",
                reason:
                    "test (\(spec.testFraction)) and validation (\(spec.validationFraction)) fractions must be ≥ 0 and leave rows to train on"
            )
        }
        var parts = [SplitPart](repeating: .train, count: n)
        var rng = SeededGenerator(seed: spec.seed)
        /// Marks the first test share of `rows` as test and the next validation share as validation.
        func cut(_ rows: [Int]) {
            let nTest = Int((Double(rows.count) * spec.testFraction).rounded())
            let nValidation = Int((Double(rows.count) * spec.validationFraction).rounded())
            for (i, r) in rows.enumerated() {
                if i < nTest { parts[r] = .test } else if i < nTest + nValidation { parts[r] = .validation }
            }
        }
        func requireColumn() throws -> Column {
            guard let name = spec.column else {
                throw PrepError.invalid(step: "split", reason: "a \(spec.method.rawValue) split needs 'column'")
            }
            guard let c = table[name] else {
                throw PrepError.missingColumn(step: "split", column: name, available: table.columnNames)
            }
            return c
        }
        switch spec.method {
        case .random:
            var rows = Array(0..<n)
            rows.shuffle(using: &rng)
            cut(rows)
        case .stratified:
            // Each class is shuffled and cut on its own, so every part keeps the class shares (missing: a class too).
            let c = try requireColumn()
            var byClass = [String: [Int]]()
            for r in 0..<n { byClass[c.isValid(r) ? c[r].description : "", default: []].append(r) }
            for key in byClass.keys.sorted() {
                var rows = byClass[key]!
                rows.shuffle(using: &rng)
                cut(rows)
            }
        case .time:
            // The latest rows are the test part, the ones before them validation: train on the past only.
            let c = try requireColumn()
            guard c.type.isNumeric || c.type.isTemporal, let t = c.doubles() else {
                throw PrepError.wrongType(
                    step: "split", column: c.name, expected: "a date, time or number", found: c.type)
            }
            let missing = (0..<n).filter { !c.isValid($0) }.count
            if missing > 0 {
                throw PrepError.invalid(
                    step: "split",
                    reason:
                        "\(missing) rows have no '\(c.name)'; a time split needs every row's time (impute or filter them first)"
                )
            }
            let newestFirst = (0..<n).sorted { t[$0] > t[$1] || (t[$0] == t[$1] && $0 > $1) }
            cut(newestFirst)
        case .group:
            // Whole groups go to one part: groups in random order fill the test part, then validation, by rows.
            let c = try requireColumn()
            var byGroup = [String: [Int]]()
            for r in 0..<n { byGroup[c.isValid(r) ? c[r].description : "", default: []].append(r) }
            var groups = byGroup.keys.sorted()
            groups.shuffle(using: &rng)
            let testRows = Double(n) * spec.testFraction
            let validationRows = Double(n) * spec.validationFraction
            var inTest = 0.0
            var inValidation = 0.0
            for g in groups {
                let rows = byGroup[g]!
                if inTest + Double(rows.count) / 2 <= testRows {
                    for r in rows { parts[r] = .test }
                    inTest += Double(rows.count)
                } else if inValidation + Double(rows.count) / 2 <= validationRows {
                    for r in rows { parts[r] = .validation }
                    inValidation += Double(rows.count)
                }
            }
        }
        return parts
    }
}

extension Splitter {
    /// The rows a split column (`train`, `validation`, `test`) puts in each part, in row order, without that column.
    public static func parts(_ table: Table, column: String) throws -> (
        train: Table, validation: Table, test: Table
    ) {
        guard let part = table[column] else {
            throw PrepError.missingColumn(step: "split", column: column, available: table.columnNames)
        }
        let names = (0..<table.rowCount).map { part.isValid($0) ? part[$0].description : "" }
        let rest = try table.dropping([column])
        func rows(_ p: SplitPart) -> Table { rest.taking(names.indices.filter { names[$0] == p.rawValue }) }
        // A row the column marks neither validation nor test trains.
        let train = rest.taking(
            names.indices.filter { names[$0] != SplitPart.validation.rawValue && names[$0] != SplitPart.test.rawValue })
        return (train, rows(.validation), rows(.test))
    }

    /// The rows a split column (as `mlcycle prepare` writes it: `train`, `validation`, `test`) marks `test`, and the
    /// rest, both without that column.
    public static func byColumn(_ table: Table, column: String) throws -> (train: Table, test: Table) {
        guard let part = table[column] else {
            throw PrepError.missingColumn(step: "split", column: column, available: table.columnNames)
        }
        let isTest = (0..<table.rowCount).map { part.isValid($0) && part[$0].description == SplitPart.test.rawValue }
        return (
            try table.filtered(isTest.map { !$0 }).dropping([column]), try table.filtered(isTest).dropping([column])
        )
    }
}
