import Foundation
import MLCycleData
import MLCycleLearn
import MLCycleMonitor
import MLCyclePrep
import MLCycleStore
import Testing

@testable import MLCycleProject

@Suite struct ProjectSpecTests {
    let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("examples")

    @Test func theHousePriceSpecReadsInFull() throws {
        let spec = try ProjectFile.load(path: examples.appendingPathComponent("house-prices/mlcycle.yaml").path)
        #expect(
            spec.problem.name == "house-prices" && spec.problem.task == .regression
                && spec.problem.target == "sale_price")
        #expect(spec.problem.scope.first == "prediction >= 100000 and prediction <= 800000")
        #expect(spec.problem.scope.last?.hasPrefix("(building_type == 'OneFam' or") == true)
        #expect(spec.problem.scopeOtherwise == ["review", "review"] && spec.problem.required.count == 3)
        #expect(spec.preparation.sources.map(\.name) == ["sales", "tax", "neighborhoods"])
        #expect(spec.preparation.steps.count == 10 && spec.preparation.split?.testFraction == 0.2)
        #expect(spec.candidates.map(\.learner.rawValue) == ["linear", "forest", "gbdt"])
        #expect(spec.evaluation.gates.first == "mape <= 0.10" && spec.evaluation.range == 0.9)
        #expect(spec.release.canary == 0.1 && !spec.release.autoPromote && spec.release.approvers == ["lead-appraiser"])
        #expect(spec.release.plan?.steps == [0.1, 0.5, 1] && spec.release.plan?.promoteIf == "mape <= champion")
        #expect(spec.release.shadow)
        #expect(spec.monitoring?.alerts.map(\.name) == ["accuracy-drop", "drift", "reviews"])
        #expect(spec.retraining?.on == ["accuracy-drop"] && spec.retraining?.schedule == "0 3 1 */3 *")
        #expect(spec.hash.count == 64)
        // Candidates are ranked on a validation part the split leaves by default (60/20/20), and refit after.
        #expect(spec.evaluation.selection == .validation && spec.evaluation.refit)
        #expect(spec.preparation.split?.validationFraction == 0.2)
    }

    /// The tutorial's `test-houses.yaml` writes the project's own test houses (the rows no version learnt from), in
    /// the project's order, less the rows its preparation filters out: a replay of them is a replay of unseen houses.
    @Test func theTestHousesPipelineWritesTheProjectsTestRows() throws {
        let dir = examples.appendingPathComponent("house-prices").path
        let spec = try ProjectFile.load(path: "\(dir)/mlcycle.yaml")
        let storeDir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-houses-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: storeDir) }
        let runner = Runner(spec: spec, directory: dir, store: try SQLiteStore(directory: storeDir))
        let merged = try PreparationRun.collect(
            spec.preparation, directory: dir, main: nil, reader: PipelineFile.sourceReader)
        let raw = try runner.rawTestRows(merged)
        func values(_ t: Table, _ name: String, _ rows: [Int]) throws -> [String] {
            let c = try t.column(name)
            return rows.map { c.isValid($0) ? c[$0].description : "" }
        }
        let price = try values(raw, "sale_price", Array(0..<raw.rowCount)).map { Double($0) ?? 0 }
        let area = try values(raw, "living_area_sqft", Array(0..<raw.rowCount))
        let kept = (0..<raw.rowCount).filter { price[$0] > 1000 && (area[$0].isEmpty || (Double(area[$0]) ?? 0) > 0) }
        let pipeline = try PipelineFile.load(path: "\(dir)/test-houses.yaml")
        let houses = try PreparationRun.run(
            pipeline, directory: dir, main: nil, target: "sale_price", reader: PipelineFile.sourceReader
        ).table
        let split = try houses.column("split")
        let test = (0..<houses.rowCount).filter { split[$0].description == "test" }
        #expect(test.count == 552 && kept.count == 552, "\(test.count) test houses, \(kept.count) kept test rows")
        for name in ["address", "sale_price", "living_area_sqft", "neighborhood", "building_type"] {
            #expect(try values(houses, name, test) == values(raw, name, kept), "\(name)")
        }
    }

    @Test func selectionNeedsRowsToRankOnAndSaysHow() throws {
        let base = """
            problem: {name: p, task: regression, target: y}
            sources: [{path: data.csv}]
            candidates: [{learner: linear}]

            """
        let cv = try ProjectFile.parse(base + "evaluation: {selection: cv, folds: 4, refit: false}")
        #expect(cv.evaluation.selection == .cv && cv.evaluation.folds == 4 && !cv.evaluation.refit)
        #expect((cv.preparation.split?.validationFraction ?? 0) == 0)  // cross-validation folds every non-test row
        let given = try ProjectFile.parse(base + "split: {test: 0.25, validation: 0.15}")
        #expect(given.preparation.split?.validationFraction == 0.15 && given.preparation.split?.testFraction == 0.25)
        expectRefused(
            base,
            [
                ("split: {validation: 0}", "mlcycle.yaml:4: split.validation"),
                ("evaluation: {selection: test}", "expected validation or cv"),
                ("evaluation: {selection: cv, folds: 1}", "evaluation.folds"),
                ("split: {test: 0.5, validation: 0.5}", "leave no rows to train on"),
            ])
    }

    @Test func scopeRulesAreCheckableWhenServing() throws {
        let base = """
            sources: [{path: data.csv}]
            candidates: [{learner: linear}]

            """
        let spec = try ProjectFile.parse(
            base
                + #"problem: {name: p, task: regression, target: y, required: [a], scope: ["a > 0", {rule: "prediction between 1 and 9", otherwise: unavailable}]}"#
        )
        #expect(spec.problem.scope == ["a > 0", "prediction >= 1 and prediction <= 9"])
        #expect(spec.problem.scopeOtherwise == ["review", "unavailable"] && spec.problem.required == ["a"])
        #expect(
            spec.problem.answerRules == ["prediction >= 1 and prediction <= 9"] && spec.problem.inputRules == ["a > 0"])
        expectRefused(
            base,
            [
                (
                    #"problem: {name: p, task: regression, target: y, scope: ["y between 1 and 9"]}"#,
                    "reads the target y"
                ),
                (
                    #"problem: {name: p, task: regression, target: y, scope: ["prediction > a"]}"#,
                    "reads prediction only"
                ),
                (
                    #"problem: {name: p, task: regression, target: y, scope: [{rule: "a > 0", otherwise: drop}]}"#,
                    "review or unavailable"
                ),
            ])
    }

    @Test func aCanaryPlanReadsAndABadOneSaysWhatToFix() throws {
        let base = """
            problem: {name: p, task: regression, target: y}
            sources: [{path: data.csv}]
            candidates: [{learner: linear}]

            """
        let plan = try ProjectFile.parse(
            base
                + #"release: {canary: {steps: [5%, 25%, 100%], every: 12h, promote_if: "mape <= champion + 0.005 and error_rate < 0.01", rollback_if: "error_rate > 0.02 or latency_p99 > 500ms"}}"#
        )
        #expect(plan.release.plan?.steps == [0.05, 0.25, 1] && plan.release.canary == 0.05)
        #expect(plan.release.plan?.every == "12h" && plan.release.plan?.rollbackIf?.hasPrefix("error_rate") == true)
        let condition = try ReleaseCondition.parse(try #require(plan.release.plan?.promoteIf), joiner: .and)
        #expect(condition.clauses.map(\.againstChampion) == [true, false] && condition.clauses[0].threshold == 0.005)
        expectRefused(
            base,
            [
                (#"release: {canary: {steps: [50%, 25%, 100%], promote_if: "mape <= champion"}}"#, "rising shares"),
                (#"release: {canary: {steps: [5%, 50%], promote_if: "mape <= champion"}}"#, "end at 100%"),
                (#"release: {canary: {steps: [5%, 100%]}}"#, "release.canary.promote_if"),
                (#"release: {canary: {steps: [5%, 100%], promote_if: "speed <= champion"}}"#, "unknown metric 'speed'"),
                (
                    #"release: {canary: {steps: [5%, 100%], promote_if: "mape <= champion", rollback_if: "mape > champion"}}"#,
                    "compare with a value here"
                ),
                (#"release: {canary: {steps: [5%, 100%], promote_if: "mape <= champion", every: soon}}"#, "every"),
            ])
    }

    @Test func aLiveLookupReadsAndAMisplacedOneSaysWhatToFix() throws {
        let base = """
            problem: {name: p, task: regression, target: y}
            candidates: [{learner: linear}]

            """
        let spec = try ProjectFile.parse(
            base + #"""
                sources:
                  - {path: data.csv}
                  - {name: tax, url: "postgres://u@db/x", query: "SELECT * FROM t", join: {on: [a]}, serving: live, cache: {records: 500, ttl: 5m}}
                  - {name: other, url: "postgres://u@db/x", query: "SELECT * FROM o", join: {on: [a]}, serving: live}
                  - {name: kept, path: k.csv, join: {on: [a]}, serving: snapshot}
                """#)
        #expect(spec.preparation.sources[1].live == LiveLookupSpec(cacheRecords: 500, ttlSeconds: 300))
        #expect(spec.preparation.sources[2].live == LiveLookupSpec())
        #expect(spec.preparation.sources[0].live == nil && spec.preparation.sources[3].live == nil)
        expectRefused(
            base,
            [
                ("sources: [{path: data.csv}, {path: b.csv, join: {on: [a]}, serving: live}]", "needs url: and query:"),
                (#"sources: [{url: "postgres://u@db/x", query: "SELECT 1", serving: live}]"#, "a source before it"),
                ("sources: [{path: data.csv}, {path: b.csv, join: {on: [a]}, serving: fresh}]", "snapshot or live"),
                ("sources: [{path: data.csv}, {path: b.csv, join: {on: [a]}, cache: {ttl: 1m}}]", "for serving: live"),
                (
                    #"sources: [{path: a.csv}, {url: "postgres://u@db/x", query: "q", join: {on: [a]}, serving: live, cache: {ttl: soon}}]"#,
                    "sources[1].cache.ttl"
                ),
            ])
    }

    @Test func aBadSpecGetsEveryProblemWithLineAndPath() throws {
        let yaml = """
            problem:
              name: p
              task: regresion
            sources:
              - path: data.csv
            candidates:
              - learner: xgb
            evaluation:
              gates: [within_10pct 0.8]
            monitoring:
              alerts:
                - {when: "mape > 0.1", severity: loud, cooldown: soon}
            retraining:
              schedule: "every day"
              on: [nothing]
            colour: blue
            """
        do {
            _ = try ProjectFile.parse(yaml, file: "mlcycle.yaml")
            Issue.record("a bad spec was accepted")
        } catch let e as SpecFileError {
            let text = e.localizedDescription
            for expected in [
                "mlcycle.yaml:3: problem.task", "problem.target", "mlcycle.yaml:7: candidates[0].learner",
                "mlcycle.yaml:9: evaluation.gates[0]", "mlcycle.yaml:12: monitoring.alerts[0].severity",
                "monitoring.alerts[0].cooldown", "mlcycle.yaml:14: retraining.schedule", "retraining.on",
                "mlcycle.yaml:16: (file).colour",
            ] {
                #expect(text.contains(expected), "missing '\(expected)' in:\n\(text)")
            }
            #expect(e.problems.count >= 9)
        }
    }
}

extension ProjectSpecTests {
    /// Found by FuzzSpec: an empty join key (`""`, `":"`, `"a:"`) crashed the reader.
    @Test func anEmptyJoinKeyIsRefusedWithItsPath() {
        let base = """
            problem: {name: p, task: regression, target: y}
            sources:
              - {name: a, path: a.csv}

            """
        expectRefused(
            base,
            [
                ("  - {name: b, path: b.csv, join: {on: [':']}}", "sources[1].join.on"),
                ("  - {name: b, path: b.csv, join: {on: ['']}}", "is not a key"),
                ("  - {name: b, path: b.csv, join: {on: ['id:']}}", "left_column:right_column"),
                ("  - {name: b, path: b.csv, join: {on: [':id']}}", "is not a key"),
            ])
    }
}

/// Each of `cases` (YAML after `base`) is refused when read, with a message containing its text.
func expectRefused(_ base: String, _ cases: [(String, String)]) {
    for (yaml, expected) in cases {
        do {
            _ = try ProjectFile.parse(base + yaml, file: "mlcycle.yaml")
            Issue.record("accepted \(yaml)")
        } catch let e as SpecFileError {
            #expect(e.localizedDescription.contains(expected), "\(yaml): \(e.localizedDescription)")
        } catch {
            Issue.record("\(yaml): \(error)")
        }
    }
}
