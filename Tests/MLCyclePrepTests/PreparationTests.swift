import Foundation
import MLCycleData
import Testing

@testable import MLCyclePrep
@testable import MLCycleProject

private func table(_ csv: String) throws -> Table { try CSVReader.read(string: csv) }

private func doubles(_ t: Table, _ name: String) throws -> [Double?] {
    let c = try t.column(name)
    let v = c.doubles() ?? []
    return (0..<c.count).map { c.isValid($0) ? v[$0] : nil }
}

private func strings(_ t: Table, _ name: String) throws -> [String?] {
    let c = try t.column(name)
    return (0..<c.count).map { c.isValid($0) ? c[$0].description : nil }
}

@Suite struct TransformerTests {
    let houses = """
        id,area,hood,kind,cond,price
        1,100,north,A,Good,10
        2,,north,A,Fair,12
        3,300,north,B,Poor,30
        4,400,south,A,Good,40
        5,,south,B,Excellent,50
        6,600,south,,Good,60
        """

    @Test func imputationUsesTrainingStatisticsOnlyAndGroupsWhenAsked() throws {
        let train = try table(houses)
        let (fitted, prepared) = try PreparationPipeline.fit(
            [.impute(columns: ["area"], strategy: .median, groupBy: ["hood"], indicator: true)], on: train)
        // north: median of 100, 300 = 200; south: median of 400, 600 = 500.
        #expect(try doubles(prepared, "area") == [100, 200, 300, 400, 500, 600])
        #expect(try strings(prepared, "area_was_missing") == ["false", "true", "false", "false", "true", "false"])
        // New rows: an unseen group falls back to the overall median (350), never to statistics of the new rows.
        let new = try table("id,area,hood,kind,cond,price\n7,,east,A,Good,1\n8,,north,A,Good,1\n9,9999,north,A,Good,1")
        #expect(try doubles(try fitted.transform(new).table, "area") == [350, 200, 9999])
        let (_, mean) = try PreparationPipeline.fit(
            [.impute(columns: ["area"], strategy: .mean, groupBy: [], indicator: false)], on: train)
        #expect(try doubles(mean, "area") == [100, 350, 300, 400, 350, 600])
        let (_, text) = try PreparationPipeline.fit(
            [.impute(columns: ["kind"], strategy: .constant("unknown"), groupBy: [], indicator: false)], on: train)
        #expect(try strings(text, "kind").last == "unknown")
        let (_, frequent) = try PreparationPipeline.fit(
            [.impute(columns: ["kind"], strategy: .mostFrequent, groupBy: [], indicator: false)], on: train)
        #expect(try strings(frequent, "kind").last == "A")
        #expect(throws: PrepError.self) {
            _ = try PreparationPipeline.fit(
                [.impute(columns: ["kind"], strategy: .mean, groupBy: [], indicator: false)], on: train)
        }
    }

    @Test func encodersAndTheirFallbacksForUnseenLevels() throws {
        let train = try table(houses)
        let (oneHot, hot) = try PreparationPipeline.fit(
            [.encode(columns: ["cond"], method: .oneHot(maxLevels: 2))], on: train)
        // Good (3 rows) and then Excellent/Fair/Poor tie at 1: alphabetical → Excellent is kept; the rest go to other.
        #expect(
            hot.columnNames.contains("cond_Good") && hot.columnNames.contains("cond_Excellent")
                && hot.columnNames.contains("cond_other"))
        #expect(try doubles(hot, "cond_other") == [0, 1, 1, 0, 0, 0])
        let unseen = try oneHot.transform(try table("id,area,hood,kind,cond,price\n9,1,north,A,Superb,1")).table
        #expect(try doubles(unseen, "cond_other") == [1])
        #expect(try doubles(unseen, "cond_Good") == [0])

        let order = ["Poor", "Fair", "Good", "Excellent"]
        let (ordinal, ranked) = try PreparationPipeline.fit(
            [.encode(columns: ["cond"], method: .ordinal(order: order))], on: train)
        #expect(try doubles(ranked, "cond") == [2, 1, 0, 2, 3, 2])
        #expect(
            try doubles(
                try ordinal.transform(try table("id,area,hood,kind,cond,price\n9,1,north,A,Superb,1")).table, "cond")
                == [nil])
        #expect(throws: PrepError.self) {
            _ = try PreparationPipeline.fit([.encode(columns: ["cond"], method: .ordinal(order: ["Good"]))], on: train)
        }

        let (_, frequency) = try PreparationPipeline.fit([.encode(columns: ["hood"], method: .frequency)], on: train)
        #expect(try doubles(frequency, "hood") == [0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    }

    @Test func targetEncodingIsOutOfFoldOnTrainingRows() throws {
        // Each level's target is unique to it: an in-fold encoding would leak the row's own target exactly.
        var csv = "level,y\n"
        for i in 0..<200 { csv += "L\(i % 20),\(Double(i % 20) * 10 + Double(i % 7))\n" }
        let train = try table(csv)
        let (fitted, prepared) = try PreparationPipeline.fit(
            [.encode(columns: ["level"], method: .target(folds: 5, smoothing: 0))], on: train, target: "y")
        guard case .target(_, let means, let prior) = try #require(fitted.steps.first) else {
            Issue.record("expected a target step")
            return
        }
        let y = try doubles(train, "y")
        let encoded = try doubles(prepared, "level")
        // Out of fold: the training rows' encodings differ from the full-data means they would get in-fold.
        let levels = try strings(train, "level")
        let differing = (0..<200).filter { abs((encoded[$0] ?? 0) - (means[levels[$0]!] ?? 0)) > 1e-9 }.count
        #expect(differing > 100)
        // Full-data means for new rows (mean of that level's targets), the prior for unseen levels.
        let l3 = (0..<200).filter { levels[$0] == "L3" }.map { y[$0]! }
        #expect(abs((means["L3"] ?? 0) - l3.reduce(0, +) / Double(l3.count)) < 1e-9)
        let new = try fitted.transform(try table("level,y\nL3,0\nL99,0")).table
        #expect(try doubles(new, "level") == [means["L3"], prior])
    }

    @Test func scalersMatchScikitLearnsDefinitions() throws {
        let train = try table("x\n1\n2\n3\n4\n100")
        let (_, standard) = try PreparationPipeline.fit([.scale(columns: ["x"], method: .standard)], on: train)
        let mean = 22.0
        let sd = ((441.0 + 400 + 361 + 324 + 6084) / 5).squareRoot()  // population sd, as StandardScaler
        #expect(try doubles(standard, "x").map { $0! } == [1, 2, 3, 4, 100].map { ($0 - mean) / sd })
        let (_, minMax) = try PreparationPipeline.fit([.scale(columns: ["x"], method: .minMax)], on: train)
        #expect(try doubles(minMax, "x").first == 0 && (try doubles(minMax, "x")).last == 1)
        let (_, robust) = try PreparationPipeline.fit([.scale(columns: ["x"], method: .robust)], on: train)
        #expect(try doubles(robust, "x") == [-1, -0.5, 0, 0.5, 48.5])  // median 3, IQR 4 − 2
        let (_, logged) = try PreparationPipeline.fit([.log(columns: ["x"])], on: try table("x\n0\n-1\n9"))
        #expect(try doubles(logged, "x") == [0, nil, log(10)])
        #expect(throws: PrepError.self) {
            _ = try PreparationPipeline.fit([.scale(columns: ["name"], method: .standard)], on: try table("name\na"))
        }
    }

    @Test func cleaningDedupFilterTextAndDates() throws {
        let raw = try table(
            """
            address,sold,price,area
            12 Oak St.,2008-06-15,150000,1200
            12 OAK  STREET ,06/15/2008,150000,1200
            3 Elm Ave,01/02/2009,1,900
            4 Pine Rd,2009-13-01,200000,-5
            """)
        let steps: [PreparationStep] = [
            .text(
                columns: ["address"], trim: true, fold: .lower,
                words: ["st.": "street", "ave": "avenue", "rd": "road"],
                values: ["4 pine road": "4 pine road (corner)"]),
            .parseDates(columns: ["sold"], formats: ["yyyy-MM-dd", "MM/dd/yyyy"]),
            .dropDuplicates(keys: ["address", "sold"]),
            .filter(expression: "price > 1000", flag: nil),
            .filter(expression: "area > 0", flag: "bad_area"),
        ]
        let (fitted, prepared) = try PreparationPipeline.fit(steps, on: raw)
        #expect(try strings(prepared, "address") == ["12 oak street", "4 pine road (corner)"])
        let (_, dropped) = try PreparationPipeline.fit([.drop(columns: ["area"])], on: raw)
        #expect(dropped.columnNames == ["address", "sold", "price"])
        // 2009-13-01 names no real date: missing, not a guess.
        #expect(try strings(prepared, "sold") == ["2008-06-15", nil])
        #expect(try strings(prepared, "bad_area") == ["false", "true"])
        // Serving keeps every row and says why a training run would have dropped it.
        let served = try fitted.transform(raw, serving: true)
        #expect(served.table.rowCount == 4)
        #expect(served.rowIssues[2]?.first?.contains("price > 1000") == true)
        #expect(throws: PrepError.self) { _ = try fitted.transform(try raw.dropping(["price"])) }
    }

    @Test func derivedColumnsAndExpressionErrorsWithPositions() throws {
        let t = try table("sold,built,price,area\n2010-05-01,1990,200000,2000\n2009-01-31,2009,100000,0")
        let (_, derived) = try PreparationPipeline.fit(
            [
                .derive(name: "age", expression: "year(sold) - built"),
                .derive(name: "per_sqft", expression: "price / area"),
                .derive(name: "new_build", expression: "if(year(sold) - built <= 1, 'yes', 'no')"),
            ], on: t)
        let (_, spans) = try PreparationPipeline.fit(
            [.derive(name: "days", expression: "days_between(listed, sold)")],
            on: try table("listed,sold\n2010-01-01,2010-03-01\n2012-02-28,2012-03-01"))
        #expect(try doubles(spans, "days") == [59, 2])
        #expect(try doubles(derived, "age") == [20, 0])
        #expect(try doubles(derived, "per_sqft") == [100, nil])  // division by zero is missing
        #expect(try strings(derived, "new_build") == ["no", "yes"])
        do {
            _ = try PreparationPipeline.fit([.derive(name: "bad", expression: "price / (area")], on: t)
            Issue.record("a bad expression was accepted")
        } catch let e as PrepError {
            #expect(e.localizedDescription.contains("at character"))
        }
        #expect(throws: PrepError.self) {
            _ = try PreparationPipeline.fit([.derive(name: "x", expression: "nope * 2")], on: t)
        }
    }

    @Test func fittedPipelineRoundTripsAndRefusesOtherFormats() throws {
        let (fitted, _) = try PreparationPipeline.fit(
            [
                .impute(columns: ["area"], strategy: .median, groupBy: ["hood"], indicator: true),
                .encode(columns: ["cond"], method: .oneHot(maxLevels: 3)),
            ], on: try table(houses))
        let back = try FittedPipeline.decode(try fitted.jsonData())
        #expect(back == fitted)
        let newer = String(decoding: try fitted.jsonData(), as: UTF8.self).replacingOccurrences(
            of: "\"version\" : 1", with: "\"version\" : 7")
        #expect(throws: PrepError.self) { _ = try FittedPipeline.decode(Data(newer.utf8)) }
        #expect(throws: PrepError.self) { _ = try FittedPipeline.decode(Data("{\"format\": \"other\"}".utf8)) }
    }
}

@Suite struct SplitTests {
    @Test func everySplitKindIsReproducibleAndKeepsItsPromise() throws {
        var csv = "id,label,day,group\n"
        for i in 0..<1000 { csv += "\(i),\(i % 10 == 0 ? "rare" : "common"),\(1000 - i),g\(i / 4)\n" }
        let t = try table(csv)
        let random = try Splitter.assign(
            t, SplitSpec(method: .random, validationFraction: 0.1, testFraction: 0.2, seed: 1))
        #expect(random.filter { $0 == .test }.count == 200 && random.filter { $0 == .validation }.count == 100)
        #expect(
            try Splitter.assign(t, SplitSpec(method: .random, validationFraction: 0.1, testFraction: 0.2, seed: 1))
                == random)
        #expect(
            try Splitter.assign(t, SplitSpec(method: .random, validationFraction: 0.1, testFraction: 0.2, seed: 2))
                != random)

        let stratified = try Splitter.assign(
            t, SplitSpec(method: .stratified, column: "label", testFraction: 0.2, seed: 1))
        let rareTest = (0..<1000).filter { $0 % 10 == 0 && stratified[$0] == .test }.count
        #expect(rareTest == 20)  // exactly 20 % of the 100 rare rows

        let time = try Splitter.assign(t, SplitSpec(method: .time, column: "day", testFraction: 0.2))
        // day = 1000 − id: the latest days are the lowest ids.
        #expect((0..<200).allSatisfy { time[$0] == .test } && (200..<1000).allSatisfy { time[$0] == .train })

        let grouped = try Splitter.assign(t, SplitSpec(method: .group, column: "group", testFraction: 0.25, seed: 3))
        for g in 0..<250 {
            #expect(Set((0..<4).map { grouped[g * 4 + $0] }).count == 1, "group g\(g) is split across parts")
        }
        #expect(abs(grouped.filter { $0 == .test }.count - 250) <= 4)

        #expect(throws: PrepError.self) { _ = try Splitter.assign(t, SplitSpec(method: .time, testFraction: 0.2)) }
        #expect(throws: PrepError.self) {
            _ = try Splitter.assign(t, SplitSpec(method: .random, validationFraction: 0.5, testFraction: 0.5))
        }
    }
}

@Suite struct PipelineFileTests {
    @Test func aPipelineFileReadsIntoSteps() throws {
        let spec = try PipelineFile.parse(
            """
            steps:
              - filter: "price > 1000"
              - impute: {columns: [area], strategy: median, by: [hood], indicator: true}
              - encode: {columns: [cond], method: ordinal, order: [Poor, Fair, Good]}
              - log: [area]
            split: {method: stratified, column: label, test: 0.25, seed: 7}
            """)
        #expect(
            spec.steps == [
                .filter(expression: "price > 1000", flag: nil),
                .impute(columns: ["area"], strategy: .median, groupBy: ["hood"], indicator: true),
                .encode(columns: ["cond"], method: .ordinal(order: ["Poor", "Fair", "Good"])),
                .log(columns: ["area"]),
            ])
        #expect(spec.split == SplitSpec(method: .stratified, column: "label", testFraction: 0.25, seed: 7))
    }

    @Test func everyProblemIsReportedWithItsLineAndPath() throws {
        do {
            _ = try PipelineFile.parse(
                """
                steps:
                  - impute: {columns: [area], strategy: average}
                  - derive: {name: x, expression: "a + (b"}
                  - explode: [a]
                split: {method: time}
                extra: 1
                """, file: "p.yaml")
            Issue.record("a bad pipeline was accepted")
        } catch let e as SpecFileError {
            let text = e.localizedDescription
            #expect(e.problems.count == 5, "\(text)")
            #expect(text.contains("p.yaml:2: steps[0].impute.strategy"))
            #expect(text.contains("p.yaml:3: steps[1].derive.expression") && text.contains("at character"))
            #expect(text.contains("p.yaml:4: steps[2]") && text.contains("unknown step 'explode'"))
            #expect(text.contains("split.column"))
            #expect(text.contains("p.yaml:6: (file).extra"))
        }
    }
}

/// What each prepared column was made from, for crediting a model's contributions to the columns a client sent.
@Suite struct PipelineOriginsTests {
    @Test func featuresAreTracedToTheColumnsTheyWereMadeFrom() throws {
        let train = try CSVReader.read(
            string: "area,rooms,hood,cond,price\n100,2,north,Good,10\n,3,south,Fair,20\n300,4,north,Good,30\n")
        let (fitted, prepared) = try PreparationPipeline.fit(
            [
                .impute(columns: ["area"], strategy: .median, groupBy: ["hood"], indicator: true),
                .encode(columns: ["cond"], method: .oneHot(maxLevels: 5)),
                .derive(name: "per_room", expression: "area / rooms"),
                .derive(name: "twice", expression: "per_room + per_room + rooms"),
                .drop(columns: ["hood"]),
            ], on: train, target: "price")
        let origins = fitted.origins()
        #expect(origins["area"] == ["area": 1] && origins["area_was_missing"] == ["area": 1])
        #expect(origins["cond_Good"] == ["cond": 1] && origins["cond_Fair"] == ["cond": 1] && origins["cond"] == nil)
        #expect(origins["per_room"] == ["area": 0.5, "rooms": 0.5])
        // Split equally between per_room and rooms, per_room in turn between area and rooms.
        #expect(origins["twice"] == ["area": 0.25, "rooms": 0.75])
        #expect(origins["hood"] == nil)
        // Every prepared column is traced.
        #expect(Set(prepared.columnNames).isSubset(of: Set(origins.keys)))
        // Counting what an imputation's fill depends on: the group column too.
        #expect(fitted.origins(imputeGroups: true)["area"] == ["area": 0.5, "hood": 0.5])
    }
}
