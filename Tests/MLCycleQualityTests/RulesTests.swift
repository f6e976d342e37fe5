import Foundation
import MLCycleData
import Testing

@testable import MLCycleProject
@testable import MLCycleQuality

let houses = try! CSVReader.read(
    string: """
        id,price,area,zone,built,remodeled,sold,code
        1,200000,1000,RL,1990,2000,2008-06-15,AB-12
        2,1,1200,RM,2005,2001,2009-01-02,AB-13
        3,150000,-5,RL,1950,,2010-12-31,XY-1
        4,320000,,FV,1960,1970,2007-03-01,AB-99
        4,90000,900,RL,2001,2001,2006-07-04,ab-14

        """, name: "houses.csv")

func result(_ rule: Rule) -> RuleResult { Validator.validate(houses, rules: [rule]).results[0] }

@Suite struct RuleTests {
    @Test func existsAndType() {
        #expect(result(Rule(column: "price", .exists)).passed)
        let missing = result(Rule(column: "prize", .exists))
        #expect(!missing.passed)
        #expect(missing.message?.contains("no column named 'prize'") == true)
        #expect(result(Rule(column: "price", .type([.int64]))).passed)
        let wrong = result(Rule(column: "price", .type([.float64])))
        #expect(!wrong.passed && wrong.message == "the column is int64")
        #expect(result(Rule(column: "sold", .type([.date, .timestamp]))).passed)
    }

    @Test func notNullAndMaxMissing() {
        let notNull = result(Rule(column: "area", .maxMissing(0)))
        #expect(!notNull.passed)
        #expect(notNull.failingRows == 1)
        #expect(notNull.examples == [RuleExample(row: 4, value: "")])
        #expect(notNull.kind == "not_null")
        #expect(result(Rule(column: "area", .maxMissing(0.2))).passed)
        #expect(!result(Rule(column: "area", .maxMissing(0.19))).passed)
    }

    @Test func unique() {
        let r = result(Rule(column: "id", .unique))
        #expect(!r.passed)
        #expect(r.failingRows == 1)
        #expect(r.examples == [RuleExample(row: 5, value: "4")])
        #expect(result(Rule(column: "code", .unique)).passed)
    }

    @Test func rangeOnNumbersAndDates() {
        let r = result(Rule(column: "price", .range(min: .number(10_000), max: .number(300_000))))
        #expect(!r.passed)
        #expect(r.failingRows == 2)
        #expect(r.examples.map(\.row) == [2, 4])
        #expect(r.examples.map(\.value) == ["1", "320000"])
        #expect(!result(Rule(column: "area", .range(min: .number(0), max: nil))).passed)
        let dates = result(Rule(column: "sold", .range(min: .date("2007-01-01"), max: .date("2010-12-31"))))
        #expect(dates.failingRows == 1 && dates.examples[0].value == "2006-07-04")
        let wrongKind = result(Rule(column: "zone", .range(min: .number(0), max: nil)))
        #expect(!wrongKind.passed && wrongKind.message?.contains("numeric or date") == true)
    }

    @Test func allowedRegexAndLength() {
        let allowed = result(Rule(column: "zone", .allowed(["RL", "RM"]), severity: .warning))
        #expect(!allowed.passed && allowed.failingRows == 1 && allowed.severity == .warning)
        #expect(allowed.examples == [RuleExample(row: 4, value: "FV")])
        let regex = result(Rule(column: "code", .regex("[A-Z]{2}-[0-9]{2}")))
        #expect(regex.failingRows == 2)  // XY-1 is too short, ab-14 is lower case
        #expect(regex.examples.map(\.row) == [3, 5])
        #expect(!result(Rule(column: "code", .regex("("))).passed)
        let length = result(Rule(column: "code", .length(min: 5, max: 5)))
        #expect(length.failingRows == 1)
        #expect(length.examples.map(\.value) == ["XY-1"])
    }

    @Test func rowCountAndCrossColumnExpression() {
        #expect(result(Rule(.rowCount(min: 1, max: 5))).passed)
        #expect(!result(Rule(.rowCount(min: 6, max: nil))).passed)
        let e = result(Rule(.expression("remodeled >= built")))
        #expect(!e.passed)
        #expect(e.failingRows == 1)  // row 3 has no remodel year: skipped, not failed
        #expect(e.examples == [RuleExample(row: 2, value: "built=2005, remodeled=2001")])
        let broken = result(Rule(.expression("remodeled >= nope")))
        #expect(!broken.passed && broken.message?.contains("no column named 'nope'") == true)
        let notBool = result(Rule(.expression("price + 1")))
        #expect(!notBool.passed && notBool.message?.contains("not true/false") == true)
    }

    @Test func reportSaysWhetherErrorsFailed() throws {
        let report = Validator.validate(
            houses,
            rules: [
                Rule(column: "zone", .allowed(["RL"]), severity: .warning),
                Rule(column: "price", .type([.int64])),
            ])
        #expect(report.passed)
        #expect(report.failedWarnings == 1 && report.failedErrors == 0)
        let failing = Validator.validate(houses, rules: [Rule(column: "id", .unique)])
        #expect(!failing.passed)
        let json = String(decoding: try JSONEncoder().encode(failing), as: UTF8.self)
        #expect(json.contains("\"failing_rows\":1"))
        #expect(json.contains("\"passed\":false"))
    }
}

@Suite struct RuleFileTests {
    @Test func parsesEveryCheck() throws {
        let rules = try RuleFile.parse(
            """
            rules:
              - row_count: {min: 3, max: 10}
              - column: price
                type: numeric
                not_null: true
                range: {min: 10000, max: 800000}
              - column: zone
                allowed: [RL, RM, FV]
                severity: warning
              - column: code
                regex: '[A-Z]{2}-[0-9]+'
                length: {max: 5}
                unique: true
              - column: area
                max_missing: 0.25
                exists: true
              - column: sold
                range: {min: 2006-01-01}
              - expression: remodeled >= built
                name: remodelled after built
            """)
        #expect(rules.count == 12)
        #expect(
            rules.map(\.kind) == [
                "row_count", "type", "not_null", "range", "allowed", "regex", "length", "unique",
                "max_missing", "exists", "range", "expression",
            ])
        #expect(rules[4].severity == .warning)
        #expect(rules[11].name == "remodelled after built")
        guard case .type(let types) = rules[1].check else {
            Issue.record("type")
            return
        }
        #expect(types == [.int64, .float64])
        guard case .range(let lo, _) = rules[10].check else {
            Issue.record("range")
            return
        }
        #expect(lo == .date("2006-01-01"))
        let report = Validator.validate(houses, rules: rules)
        #expect(!report.passed)
    }

    @Test func reportsAllProblemsWithLines() {
        do {
            _ = try RuleFile.parse(
                """
                rules:
                  - column: price
                    range: {min: low}
                  - colum: zone
                    allowed: [a]
                  - column: x
                    severity: fatal
                    not_null: true
                  - expression: a >= (b
                  - regex: '[0-9]'
                """, file: "rules.yaml")
            Issue.record("expected an error")
        } catch let e as RuleFileError {
            #expect(e.problems.count == 6)
            #expect(
                e.problems[0]
                    == .init(line: 3, path: "rules[0].range", message: "'low' is not a number or a date (yyyy-MM-dd)"))
            #expect(e.problems[1].line == 4 && e.problems[1].path == "rules[1].colum")
            #expect(e.problems[2].path == "rules[1].allowed" && e.problems[2].message == "this check needs 'column:'")
            #expect(e.problems[3].line == 7 && e.problems[3].path == "rules[2].severity")
            #expect(e.problems[4].line == 9 && e.problems[4].message.contains("at character"))
            #expect(e.problems[5].path == "rules[4].regex")
            #expect(e.localizedDescription.contains("rules.yaml:3: rules[0].range"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
        #expect(throws: RuleFileError.self) { _ = try RuleFile.parse("rules: [1, 2") }
    }

    @Test func suggestedRulesPassOnTheirOwnDataAndRoundTrip() throws {
        guard let path = sharedAmes() else { return }
        let ames = try CSVReader.read(path: path)
        let rules = try RuleSuggestion.suggest(from: ames)
        let own = Validator.validate(ames, rules: rules)
        #expect(own.results.filter { !$0.passed }.map(\.rule) == [])
        let yaml = try RuleFile.yaml(rules, header: "suggested")
        let back = try RuleFile.parse(yaml)
        #expect(back.count == rules.count)
        #expect(back.map(\.kind) == rules.map(\.kind))
        let reread = Validator.validate(ames, rules: back)
        #expect(reread.results.filter { !$0.passed }.map(\.rule) == [])
        // What was suggested: a type per column, a range for prices, an allowed set for a small category.
        #expect(back.contains { $0.column == "Sale_Price" && $0.kind == "range" })
        #expect(back.contains { $0.column == "Street" && $0.kind == "allowed" && $0.severity == .warning })
        #expect(back.contains { $0.column == "rownames" && $0.kind == "unique" })
        // A price of 1 dollar (as in the messy sales source) breaks the suggested range.
        let broken = try ames.setting(
            Column(name: "Sale_Price", ints: (0..<ames.rowCount).map { $0 == 7 ? 1 : 100_000 }))
        let verdict = Validator.validate(broken, rules: back)
        let priceRange = verdict.results.first { $0.column == "Sale_Price" && $0.kind == "range" }
        #expect(priceRange?.passed == false)
        #expect(priceRange?.failingRows == 1)
        #expect(priceRange?.examples.first == RuleExample(row: 8, value: "1"))
        #expect(!verdict.passed)
    }
}

/// ames.csv from ../shared/data or the bundled example, or nil with a note.
func sharedAmes() -> String? {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    for candidate in [
        root.deletingLastPathComponent().appendingPathComponent("shared/data/ames.csv"),
        root.appendingPathComponent("examples/house-prices/ames.csv"),
    ]
    where FileManager.default.fileExists(atPath: candidate.path) {
        return candidate.path
    }
    print("skipping: ames.csv is not in ../shared/data or examples/house-prices")
    return nil
}
