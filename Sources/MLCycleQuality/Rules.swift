import Foundation
import MLCycleData

/// How bad a failed rule is: an `error` stops a pipeline (exit code 1), a `warning` is reported.
public enum Severity: String, Codable, Sendable, CaseIterable {
    case error, warning
}

/// A bound of a range rule: a number, or a date/timestamp as ISO text.
public enum RangeBound: Sendable, Equatable, CustomStringConvertible {
    case number(Double)
    case date(String)

    public var description: String {
        switch self {
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : formatDouble(d)
        case .date(let s): return s
        }
    }
}

/// One data-quality rule.
public struct Rule: Sendable {
    public enum Check: Sendable {
        /// The column is present.
        case exists
        /// The column's type is one of these.
        case type([DataType])
        /// At most this fraction of values is missing (0: none).
        case maxMissing(Double)
        /// No value occurs twice (missing values are not compared).
        case unique
        /// Every value lies in `[min, max]` (either bound may be absent).
        case range(min: RangeBound?, max: RangeBound?)
        /// Every value is one of these (compared as text).
        case allowed([String])
        /// Every text value matches this regular expression as a whole.
        case regex(String)
        /// Every text value has between `min` and `max` characters.
        case length(min: Int?, max: Int?)
        /// The table has between `min` and `max` rows.
        case rowCount(min: Int?, max: Int?)
        /// The expression is true for every row (rows where it is missing are skipped).
        case expression(String)
    }

    /// The column the rule is about (`nil` for table-level rules: row count, expression).
    public var column: String?
    public var check: Check
    public var severity: Severity
    /// An optional human name shown in reports.
    public var name: String?

    public init(column: String? = nil, _ check: Check, severity: Severity = .error, name: String? = nil) {
        self.column = column
        self.check = check
        self.severity = severity
        self.name = name
    }

    /// Short machine name of the check (`not_null`, `range`, …).
    public var kind: String {
        switch check {
        case .exists: return "exists"
        case .type: return "type"
        case .maxMissing(let f): return f == 0 ? "not_null" : "max_missing"
        case .unique: return "unique"
        case .range: return "range"
        case .allowed: return "allowed"
        case .regex: return "regex"
        case .length: return "length"
        case .rowCount: return "row_count"
        case .expression: return "expression"
        }
    }

    /// What the rule asks for, in words.
    public var summary: String {
        let subject = column.map { "'\($0)'" } ?? "table"
        switch check {
        case .exists: return "\(subject) exists"
        case .type(let ts): return "\(subject) is \(ts.map(\.rawValue).joined(separator: " or "))"
        case .maxMissing(let f):
            return f == 0
                ? "\(subject) has no missing values" : "\(subject) has at most \(formatDouble(f * 100))% missing"
        case .unique: return "\(subject) values are unique"
        case .range(let lo, let hi): return "\(subject) in [\(lo?.description ?? "-inf"), \(hi?.description ?? "inf")]"
        case .allowed(let set):
            return "\(subject) in {\(set.prefix(10).joined(separator: ", "))\(set.count > 10 ? ", …" : "")}"
        case .regex(let p): return "\(subject) matches /\(p)/"
        case .length(let lo, let hi):
            return "\(subject) length in [\(lo.map(String.init) ?? "0"), \(hi.map(String.init) ?? "inf")]"
        case .rowCount(let lo, let hi):
            return "row count in [\(lo.map(String.init) ?? "0"), \(hi.map(String.init) ?? "inf")]"
        case .expression(let e): return e
        }
    }
}

/// A failing row shown as an example: its 1-based row number (header excluded) and the value(s) involved.
public struct RuleExample: Codable, Sendable, Equatable {
    public var row: Int
    public var value: String
}

/// The outcome of one rule.
public struct RuleResult: Codable, Sendable {
    public var rule: String
    public var kind: String
    public var column: String?
    public var severity: Severity
    public var passed: Bool
    public var failingRows: Int
    /// Up to five failing rows.
    public var examples: [RuleExample]
    /// What was found, in words (e.g. the observed type or missing fraction).
    public var message: String?

    enum CodingKeys: String, CodingKey {
        case rule, kind, column, severity, passed
        case failingRows = "failing_rows"
        case examples, message
    }
}

/// The outcome of a rule set on a table.
public struct ValidationReport: Codable, Sendable {
    public var rows: Int
    public var results: [RuleResult]
    /// True when no error-severity rule failed.
    public var passed: Bool { !results.contains { !$0.passed && $0.severity == .error } }
    public var failedErrors: Int { results.filter { !$0.passed && $0.severity == .error }.count }
    public var failedWarnings: Int { results.filter { !$0.passed && $0.severity == .warning }.count }

    enum CodingKeys: String, CodingKey { case rows, passed, errors, warnings, results }

    public init(rows: Int, results: [RuleResult]) {
        self.rows = rows
        self.results = results
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        rows = try c.decode(Int.self, forKey: .rows)
        results = try c.decode([RuleResult].self, forKey: .results)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(rows, forKey: .rows)
        try c.encode(passed, forKey: .passed)
        try c.encode(failedErrors, forKey: .errors)
        try c.encode(failedWarnings, forKey: .warnings)
        try c.encode(results, forKey: .results)
    }
}

/// Checks rules against a table.
public enum Validator {
    public static let exampleLimit = 5

    /// Runs every rule; a rule that cannot run (unknown column, wrong type for the check, bad regex) fails with a
    /// message saying why, so one bad rule never hides the others.
    public static func validate(_ table: Table, rules: [Rule]) -> ValidationReport {
        let results = parallelMap(rules.count) { i in check(rules[i], on: table) }
        return ValidationReport(rows: table.rowCount, results: results)
    }

    static func check(_ rule: Rule, on table: Table) -> RuleResult {
        var result = RuleResult(
            rule: rule.name ?? rule.summary, kind: rule.kind, column: rule.column, severity: rule.severity,
            passed: true, failingRows: 0, examples: [], message: nil)
        func fail(_ message: String, rows: [Int] = [], values: (Int) -> String = { _ in "" }) {
            result.passed = false
            result.failingRows = rows.count
            result.examples = rows.prefix(exampleLimit).map { RuleExample(row: $0 + 1, value: values($0)) }
            result.message = message
        }
        // Table-level rules
        switch rule.check {
        case .rowCount(let lo, let hi):
            if let lo, table.rowCount < lo { fail("the table has \(table.rowCount) rows, fewer than \(lo)") }
            if let hi, table.rowCount > hi { fail("the table has \(table.rowCount) rows, more than \(hi)") }
            return result
        case .expression(let text):
            do {
                let e = try Expression.parse(text)
                let values = try e.evaluate(on: table)
                var failing = [Int]()
                for (r, v) in values.enumerated() {
                    switch v {
                    case .missing, .bool(true): continue
                    case .bool(false): failing.append(r)
                    default: throw DataError.invalidArgument("the expression gives \(v), not true/false")
                    }
                }
                let involved = Array(Set(e.columns)).sorted()
                if !failing.isEmpty {
                    fail("\(failing.count) of \(table.rowCount) rows break the rule", rows: failing) { r in
                        involved.map { "\($0)=\(table[$0]![r])" }.joined(separator: ", ")
                    }
                }
            } catch {
                fail("the rule cannot be checked: \(error.localizedDescription)")
            }
            return result
        default: break
        }
        guard let name = rule.column else {
            fail("this rule needs a column")
            return result
        }
        guard let col = table[name] else {
            fail("no column named '\(name)'; columns are: \(table.columnNames.prefix(20).joined(separator: ", "))")
            return result
        }
        let text: (Int) -> String = { col[$0].description }
        switch rule.check {
        case .exists, .rowCount, .expression:
            break
        case .type(let types):
            if !types.contains(col.type) { fail("the column is \(col.type)") }
        case .maxMissing(let fraction):
            let missing = (0..<col.count).filter { !col.isValid($0) }
            let observed = col.count == 0 ? 0 : Double(missing.count) / Double(col.count)
            if observed > fraction {
                fail("\(missing.count) of \(col.count) values are missing (\(percent(observed)))", rows: missing) { _ in
                    ""
                }
            }
        case .unique:
            var firstRow = [Value: Int]()
            var failing = [Int]()
            for r in 0..<col.count where col.isValid(r) {
                let v = col[r]
                if firstRow[v] != nil { failing.append(r) } else { firstRow[v] = r }
            }
            if !failing.isEmpty { fail("\(failing.count) values repeat an earlier one", rows: failing, values: text) }
        case .range(let lo, let hi):
            do {
                guard col.type.isNumeric || col.type.isTemporal, let values = col.doubles() else {
                    throw DataError.invalidArgument(
                        "a range needs a numeric or date column, and '\(name)' is \(col.type)")
                }
                let low = try lo.map { try boundValue($0, for: col) }
                let high = try hi.map { try boundValue($0, for: col) }
                var failing = [Int]()
                for r in 0..<values.count where col.isValid(r) {
                    let v = values[r]
                    if let low, v < low {
                        failing.append(r)
                    } else if let high, v > high {
                        failing.append(r)
                    } else if v.isNaN {
                        failing.append(r)
                    }
                }
                if !failing.isEmpty {
                    fail("\(failing.count) values are outside the range", rows: failing, values: text)
                }
            } catch {
                fail(error.localizedDescription)
            }
        case .allowed(let set):
            let allowed = Set(set)
            let failing = rowsFailing(col) { !allowed.contains($0) }
            if !failing.isEmpty {
                fail("\(failing.count) values are not in the allowed set", rows: failing, values: text)
            }
        case .regex(let pattern):
            do {
                let regex = try NSRegularExpression(pattern: pattern)
                guard col.type == .string else {
                    throw DataError.invalidArgument("a regex needs a string column, and '\(name)' is \(col.type)")
                }
                let failing = rowsFailing(col) { s in
                    let range = NSRange(s.startIndex..., in: s)
                    guard let m = regex.firstMatch(in: s, options: [.anchored], range: range) else { return true }
                    return m.range.length != range.length
                }
                if !failing.isEmpty { fail("\(failing.count) values do not match", rows: failing, values: text) }
            } catch let e as DataError {
                fail(e.localizedDescription)
            } catch {
                fail("the regular expression /\(pattern)/ is invalid: \(error.localizedDescription)")
            }
        case .length(let lo, let hi):
            guard col.type == .string else {
                fail("a length rule needs a string column, and '\(name)' is \(col.type)")
                break
            }
            let failing = rowsFailing(col) { s in
                let n = s.count
                return (lo.map { n < $0 } ?? false) || (hi.map { n > $0 } ?? false)
            }
            if !failing.isEmpty {
                fail("\(failing.count) values have a length outside the bounds", rows: failing, values: text)
            }
        }
        return result
    }

    /// Rows whose value (as text) makes `isBad` true; for strings each distinct value is tested once.
    static func rowsFailing(_ col: Column, _ isBad: (String) -> Bool) -> [Int] {
        var failing = [Int]()
        if case .string(let codes, let dict) = col.storage {
            let bad = dict.map(isBad)
            for r in 0..<codes.count where col.isValid(r) && bad[Int(codes[r])] { failing.append(r) }
        } else {
            for r in 0..<col.count where col.isValid(r) && isBad(col[r].description) { failing.append(r) }
        }
        return failing
    }

    static func boundValue(_ b: RangeBound, for col: Column) throws -> Double {
        switch (b, col.type) {
        case (.number(let d), .int64), (.number(let d), .float64): return d
        case (.date(let s), .date):
            guard let d = FieldParsing.withBytes(s, { FieldParsing.parseDate($0, $1) }) else {
                throw DataError.invalidArgument("'\(s)' is not a date (use yyyy-MM-dd)")
            }
            return Double(d)
        case (.date(let s), .timestamp):
            guard let t = FieldParsing.withBytes(s, { FieldParsing.parseTimestamp($0, $1) }) else {
                throw DataError.invalidArgument("'\(s)' is not a timestamp (use yyyy-MM-ddTHH:mm:ss)")
            }
            return Double(t)
        default:
            throw DataError.invalidArgument("the bound \(b) does not fit \(col.type) column '\(col.name)'")
        }
    }

    static func percent(_ f: Double) -> String { String(format: "%.2f%%", f * 100) }
}
