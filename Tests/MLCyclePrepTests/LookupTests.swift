import Foundation
import MLCycleData
import Testing

@testable import MLCyclePrep
@testable import MLCycleProject

private func table(_ csv: String) throws -> Table { try CSVReader.read(string: csv) }

/// A database as a live lookup sees it: the query's rows, of which each read returns those with the asked keys.
private final class FakeDatabase: LiveRecordReader, @unchecked Sendable {
    var rows: Table
    var failure: (any Error)?
    private(set) var asked = [[[Value]]]()

    init(_ rows: Table) { self.rows = rows }

    func records(of lookup: Lookup, keys: [[Value]]) async throws -> Table? {
        asked.append(keys)
        if let failure { throw failure }
        let wanted = Set(keys)
        let keyColumns = lookup.keys.map { rows[$0.right]! }
        let found = (0..<rows.rowCount).filter { r in wanted.contains(keyColumns.map { $0[r] }) }
        return found.isEmpty ? nil : rows.taking(found)
    }
}

/// Lookups: the join training does and serving repeats, point in time where a source keeps versions.
@Suite struct LookupTests {
    static let houseProject = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/house-prices").path

    /// Each sale joins the assessment in force on its date: the latest one not after it, never a later one.
    @Test func aPointInTimeJoinNeverSeesTheFuture() throws {
        let sales = try table(
            """
            address,sold
            1 elm,2008-03-01
            1 elm,2010-07-15
            1 elm,2005-01-01
            2 oak,2010-01-01
            2 oak,
            3 ash,2010-01-01
            """
        )
        let assessments = try table(
            """
            address,recorded,value
            1 elm,2009-12-31,200
            1 elm,2007-06-30,150
            1 elm,2010-07-15,250
            2 oak,2011-01-01,90
            2 oak,2009-01-01,80
            """
        )
        // Dates as dates (the CSV reader infers them from ISO text).
        #expect(sales["sold"]?.type == .date && assessments["recorded"]?.type == .date)
        let lookup = try Lookup(
            name: "assessments",
            join: JoinSpec(
                keys: [.init(left: "address", right: "address")], asOf: .init(left: "sold", right: "recorded")),
            records: assessments, leftColumns: FittedPipeline.ColumnSpec.of(sales))
        let joined = try lookup.join(sales, kind: .left)
        let values = try joined.column("value")
        // 2008-03-01 → the 2007 record; 2010-07-15 → the record of that very day; 2005 → none yet; 2 oak in 2010 →
        // the 2009 record (the 2011 one is the future); 2 oak without a date → the latest; 3 ash has no record.
        #expect((0..<values.count).map { values[$0].description } == ["150", "250", "", "80", "90", ""])
        #expect(joined.columnNames == ["address", "sold", "recorded", "value"])
        let inner = try lookup.join(sales, kind: .inner)
        #expect(inner.rowCount == 4)
        // Two versions at the same time cannot be told apart.
        let twins = try table("address,recorded,value\n1 elm,2009-12-31,200\n1 elm,2009-12-31,201\n")
        #expect(throws: PrepError.self) {
            try Lookup(
                name: "assessments",
                join: JoinSpec(
                    keys: [.init(left: "address", right: "address")], asOf: .init(left: "sold", right: "recorded")),
                records: twins, leftColumns: FittedPipeline.ColumnSpec.of(sales))
        }
    }

    /// Without `as_of` a key names one record; two are an error that names both rows and the way out.
    @Test func aKeyWithTwoRecordsIsAnErrorNamingThem() throws {
        let records = try table("address,value\n1 elm,1\n2 oak,2\n1 elm,3\n")
        do {
            _ = try Lookup(
                name: "tax", join: JoinSpec(keys: [.init(left: "address", right: "address")]), records: records,
                leftColumns: [.init(name: "address", type: .string)])
            Issue.record("two records for one key were accepted")
        } catch {
            let message = error.localizedDescription
            #expect(
                message.contains("address = '1 elm'") && message.contains("rows 1 and 3")
                    && message.contains("drop_duplicates"), "\(message)")
        }
        // Keys of different types cannot match: the message says which.
        #expect(throws: PrepError.self) {
            try Lookup(
                name: "tax", join: JoinSpec(keys: [.init(left: "address", right: "value")]), records: records,
                leftColumns: [.init(name: "address", type: .string)])
        }
    }

    /// The house project's sources: training's merge through lookups is the merge of the table join (a separate
    /// implementation), and a lookup read back from its JSON matches the same records.
    @Test func theHouseSourcesMergeAsTheTableJoinDoes() throws {
        let project = try ProjectFile.load(path: "\(Self.houseProject)/mlcycle.yaml")
        let (merged, sources) = try PreparationRun.collectFitted(
            project.preparation, directory: Self.houseProject, main: nil)
        let fitted = try #require(sources)
        #expect(fitted.entity == "sales" && fitted.lookups.map(\.name) == ["tax", "neighborhoods"])
        let sales = try CSVReader.read(path: "\(Self.houseProject)/sources/sales.csv")
        let entity = try fitted.entitySteps.transform(sales).table
        var reference = entity
        for (source, key) in [("tax_records", "address"), ("neighborhoods", "neighborhood")] {
            let spec = try #require(project.preparation.sources.first { $0.path.contains(source) })
            let records = try PreparationPipeline.fit(
                spec.steps, on: try CSVReader.read(path: "\(Self.houseProject)/sources/\(source).csv")
            ).1
            reference = try reference.joined(with: records, on: [key], kind: .left)
        }
        #expect(merged.columnNames == reference.columnNames)
        #expect(CSVWriter.string(merged) == CSVWriter.string(reference))

        let data = try JSONEncoder().encode(fitted)
        let back = try JSONDecoder().decode(FittedSources.self, from: data)
        #expect(back == fitted)
        #expect(try back.lookups[0].matches(entity) == (try fitted.lookups[0].matches(entity)))
        // A changed record no longer matches the fingerprint the lineage holds.
        let text = String(decoding: data, as: UTF8.self)
        let damaged = text.replacingOccurrences(of: "Residential_Low_Density", with: "Residential_Low_Densitz")
        #expect(damaged != text)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(FittedSources.self, from: Data(damaged.utf8)) }
    }

    /// A listing as an agent's app sends it (no tax or neighbourhood columns, no listing id, no price) is
    /// completed into the row training merged for the same listing.
    @Test func aListingIsCompletedIntoTheMergedRow() throws {
        let project = try ProjectFile.load(path: "\(Self.houseProject)/mlcycle.yaml")
        let fitted = try #require(
            try PreparationRun.collectFitted(project.preparation, directory: Self.houseProject, main: nil).sources)
        let sales = try CSVReader.read(path: "\(Self.houseProject)/sources/sales.csv").taking(Array(0..<300))
        let request = try sales.dropping(["listing_id", "sale_price"])
        #expect(request.columnCount == 11)
        let completed = try fitted.complete(request)
        // The reference: the same rows through the entity's steps and the table join, price left out.
        var reference = try fitted.entitySteps.transform(sales, serving: true).table.dropping(["sale_price"])
        for lookup in fitted.lookups {
            reference = try reference.joined(
                with: lookup.records, on: lookup.keys.map { ($0.left, $0.right) }, kind: .left)
        }
        #expect(completed.table.columnNames == reference.columnNames)
        #expect(CSVWriter.string(completed.table) == CSVWriter.string(reference))
        #expect(completed.unavailable.isEmpty)
        let unmatched = (0..<reference.rowCount).filter { !(reference["lot_area_sqft"]?.isValid($0) ?? false) }
        #expect(unmatched.allSatisfy { completed.notes[$0].contains { $0.hasPrefix("no tax record for address") } })

        // An agent who knows the lot area sends it: the sent value is used, and the answer says so.
        let first = request.taking([0])
        let record = try #require(completed.table["lot_area_sqft"]?[0].doubleValue)
        let sent = try first.setting(Column(name: "lot_area_sqft", doubles: [record + 1000]))
        let withLot = try fitted.complete(sent)
        #expect(withLot.table["lot_area_sqft"]?[0].doubleValue == record + 1000)
        #expect(withLot.notes[0].contains { $0.contains("lot_area_sqft") && $0.contains("was sent and used") })
        #expect(withLot.table.columnNames == completed.table.columnNames)

        // An address with no tax record: answered without the tax columns, or refused where the lookup is required.
        let unknown = try first.setting(Column(name: "address", strings: ["1 nowhere lane"]))
        let open = try fitted.complete(unknown)
        #expect(open.unavailable.isEmpty && !(open.table["zoning"]?.isValid(0) ?? true))
        #expect(open.notes[0] == ["no tax record for address '1 nowhere lane': its columns are missing"])
        var strict = project.preparation
        strict.sources[1].join?.required = true
        let required = try #require(
            try PreparationRun.collectFitted(strict, directory: Self.houseProject, main: nil).sources)
        #expect(try required.complete(unknown).unavailable[0]?.first?.contains("no tax record") == true)
    }

    /// The tax source read live: the answer is the snapshot's, only the rows' distinct addresses are asked for, the
    /// source's steps clean what is read, and a database that cannot be read leaves the rows without its columns.
    @Test func aLiveLookupCompletesAsTheSnapshotDoes() async throws {
        let project = try ProjectFile.load(path: "\(Self.houseProject)/mlcycle.yaml")
        var spec = project.preparation
        // The address is cleaned in the query (a live lookup's steps may not change its key); another step stays.
        spec.sources[1].steps = [.text(columns: ["zoning"], trim: true, fold: nil, words: [:], values: [:])]
        let taxRows = try CSVReader.read(path: "\(Self.houseProject)/sources/tax_records.csv")
        let lowered = try taxRows.setting(
            Column(
                name: "address",
                strings: (0..<taxRows.rowCount).map {
                    taxRows["address"]?[$0].description.trimmingCharacters(in: .whitespaces).lowercased()
                }))
        let reader: PreparationRun.SourceReader = { source, path in
            source.name == "tax" ? lowered : try PreparationRun.fileReader(source, path)
        }
        let snapshot = try #require(
            try PreparationRun.collectFitted(spec, directory: Self.houseProject, main: nil, reader: reader).sources)
        spec.sources[1].path = "postgres://assessor@db/tax"
        spec.sources[1].query = "SELECT * FROM tax_records"
        spec.sources[1].live = LiveLookupSpec(cacheRecords: 100, ttlSeconds: 30)
        let live = try #require(
            try PreparationRun.collectFitted(spec, directory: Self.houseProject, main: nil, reader: reader).sources)
        #expect(live.lookups[0].fingerprint == snapshot.lookups[0].fingerprint)

        // The model keeps how to read the records, not the records.
        let data = try JSONEncoder().encode(live)
        #expect(data.count < 20_000 && !String(decoding: data, as: UTF8.self).contains("31770"))
        let back = try JSONDecoder().decode(FittedSources.self, from: data)
        #expect(back == live && back.lookups[0].records.rowCount == 0)
        #expect(back.lookups[0].records.columnNames == snapshot.lookups[0].records.columnNames)

        let request = try CSVReader.read(path: "\(Self.houseProject)/sources/sales.csv").taking(Array(0..<300))
            .dropping(["listing_id", "sale_price"])
        let database = FakeDatabase(lowered)
        let completed = try await back.complete(request, reading: database)
        let expected = try snapshot.complete(request)
        #expect(CSVWriter.string(completed.table) == CSVWriter.string(expected.table))
        #expect(completed.notes == expected.notes)
        let addresses = try #require(expected.table["address"])
        #expect(database.asked.count == 1 && database.asked[0].count == Set((0..<300).map { addresses[$0] }).count)
        // Without a reader, the path says what it lacks.
        #expect(throws: PrepError.self) { try back.complete(request) }

        // Two records for one address in the database: that row has no record, and the answer says why.
        let taxAddresses = try #require(lowered["address"])
        let (twin, taxRow) = try #require(
            (0..<300).lazy.compactMap { r in
                (0..<lowered.rowCount).first { taxAddresses[$0] == addresses[r] }.map { (r, $0) }
            }.first)
        database.rows = lowered.taking(Array(0..<lowered.rowCount) + [taxRow])
        let doubled = try await back.complete(request, reading: database)
        #expect(doubled.notes[twin].contains { $0.hasPrefix("2 tax records for address = ") }, "\(doubled.notes[twin])")

        // A database that cannot be read: the rows are answered without the tax columns, with the reason.
        database.failure = PrepError.invalid(step: "test", reason: "connection refused")
        let down = try await back.complete(request, reading: database)
        #expect(!(down.table["zoning"]?.isValid(0) ?? true))
        #expect(down.notes[0].contains { $0.hasPrefix("tax could not be read (") && $0.contains("connection refused") })

        // A live lookup whose steps change its key is refused at training.
        spec.sources[1].steps = [.text(columns: ["address"], trim: true, fold: .lower, words: [:], values: [:])]
        #expect {
            try PreparationRun.collectFitted(spec, directory: Self.houseProject, main: nil, reader: reader)
        } throws: { "\($0.localizedDescription)".contains("clean it in the query") }
    }
}
