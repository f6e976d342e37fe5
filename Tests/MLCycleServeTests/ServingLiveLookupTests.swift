import Foundation
import Hummingbird
import HummingbirdTesting
import MLCycleData
import MLCycleEvaluate
import MLCyclePrep
import MLCycleProject
import PostgresNIO
import Testing

@testable import MLCycleServe
@testable import MLCycleSources
@testable import MLCycleStore

/// The house project with its tax records in PostgreSQL, read live at serving: answers are the snapshot model's,
/// each address is read once and then cached, a changed record is seen after the cache's time to live, and a
/// database that is down leaves the rows without its columns, with the reason.
/// Seconds the test sets.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 1_000_000.0
    var seconds: Double {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}

@Suite(
    .serialized,
    .enabled(
        if: ProcessInfo.processInfo.environment["MLCYCLE_TEST_POSTGRES_URL"] != nil,
        "needs MLCYCLE_TEST_POSTGRES_URL (bash Tests/run.sh starts a server)"))
struct ServingLiveLookupTests {
    /// The server's estimates for `rows`.
    static func estimates(_ client: some TestClientProtocol, _ rows: Table) async throws -> [Double?] {
        try await client.execute(
            uri: "/v1/models/houses/predict", method: .post, body: try ServingLookupTests.records(rows)
        ) { r in
            #expect(r.status == .ok)
            return try #require(try object(r)["predictions"] as? [[String: Any]]).map { $0["prediction"] as? Double }
        }
    }

    /// The example's tax records as a table on the test server (columns of the types the CSV reader gives them).
    static func taxTable(_ url: String) async throws -> (name: String, columns: [String]) {
        let tax = try CSVReader.read(
            path: ServingLookupTests.example.appendingPathComponent("sources/tax_records.csv").path)
        let name = "tax_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased())"
        func literal(_ v: Value) -> String {
            switch v {
            case .missing: return "NULL"
            case .string(let s): return "'" + s.replacingOccurrences(of: "'", with: "''") + "'"
            case .date, .timestamp: return "'\(v)'"
            default: return v.description
            }
        }
        let server = try await PostgresStore(url: url)
        defer { server.close() }
        let columns = tax.columns.map {
            "\(PostgresLookupReader.quoted($0.name)) \(PostgresLookupReader.sqlType($0.type))"
        }
        try await server.execute(PostgresQuery(unsafeSQL: "CREATE TABLE \(name) (\(columns.joined(separator: ", ")))"))
        let rows = (0..<tax.rowCount).map { r in "(" + tax.columns.map { literal($0[r]) }.joined(separator: ", ") + ")"
        }
        try await server.execute(PostgresQuery(unsafeSQL: "INSERT INTO \(name) VALUES \(rows.joined(separator: ", "))"))
        return (name, tax.columnNames)
    }

    @Test func listingsAreAnsweredWithRecordsReadLive() async throws {
        let url = try #require(ProcessInfo.processInfo.environment["MLCYCLE_TEST_POSTGRES_URL"])
        let (table, columns) = try await Self.taxTable(url)
        // The address is cleaned in the query: a live lookup's steps may not change its key.
        let select = (["lower(trim(address)) AS address"] + columns.dropFirst()).joined(separator: ", ")
        // The port from the environment, as a deployment names its database.
        let port = try #require(URLComponents(string: url)?.port)
        setenv("MLCYCLE_TEST_TAX_PORT", "\(port)", 1)
        let sourceURL = url.replacingOccurrences(of: ":\(port)/", with: ":${MLCYCLE_TEST_TAX_PORT}/")
        let (store, live, dir) = try await ServingLookupTests.trained(
            tax: """
                  - name: tax
                    url: "\(sourceURL)"
                    query: "SELECT \(select) FROM \(table)"
                    join: {on: [address], kind: left}
                    serving: live
                    cache: {records: 5000, ttl: 1s}

                """)
        let (_, snapshot, _) = try await ServingLookupTests.trained()
        let tax = try #require(live.sources?.lookups.first { $0.name == "tax" })
        #expect(tax.live?.url == sourceURL && tax.records.rowCount == 0)
        // Trained on the same records as the snapshot model: the lineage's fingerprints agree.
        #expect(live.lineage.lookups == snapshot.lineage.lookups)

        let listings = try CSVReader.read(path: "\(dir)/sources/sales.csv").taking(Array(0..<200))
            .selecting(ServingLookupTests.listingFields)
        let expected = try snapshot.score(listings).map(\.value)
        // The cache's clock is the test's: a slow machine does not age the records between two requests.
        let clock = TestClock()
        // A patient time limit: a loaded CI machine has taken more than the default 5 s to open the first connection.
        let reader = PostgresLookupReader(timeout: .seconds(60), now: { clock.seconds })
        var server = ModelServer(catalog: ModelCatalog(store: store, models: [:]))
        server.lookupReader = reader
        let app = Application(router: server.router())
        try await app.test(.router) { client in
            let first = try await Self.estimates(client, listings)
            #expect(first.count == 200 && zip(first, expected).allSatisfy(ServingLookupTests.sameEstimate))
            // One read, of each distinct address once (as the entity's steps clean it).
            let cleaned = try #require(try snapshot.complete(listings).table["address"])
            let distinct = Set((0..<cleaned.count).filter { cleaned.isValid($0) }.map { cleaned[$0] }).count
            #expect(reader.statistics.reads == 1 && reader.statistics.misses == distinct)
            // Asked again within the time to live: every address from the cache.
            let again = try await Self.estimates(client, listings)
            #expect(
                again == first && reader.statistics.reads == 1 && reader.statistics.hits == reader.statistics.misses)

            // The first listing's record changes in the database: seen once its cached copy is older than 1 s, and
            // answered as the snapshot model answers the listing with that lot area sent.
            let listing = listings.taking([0])
            let lot = try #require(try snapshot.complete(listing).table["lot_area_sqft"]?[0].doubleValue)
            let database = try await PostgresStore(url: url)
            defer { database.close() }
            try await database.execute(
                PostgresQuery(
                    unsafeSQL: "UPDATE \(table) SET lot_area_sqft = \(Int(lot) + 5000) WHERE lower(trim(address)) = "
                        + "'\(try #require(try snapshot.complete(listing).table["address"]?[0].description))'"))
            clock.seconds += 1.1
            let changed = try await Self.estimates(client, listing)
            let sent = try snapshot.score(try listing.setting(Column(name: "lot_area_sqft", ints: [Int64(lot) + 5000])))
            #expect(changed.count == 1 && ServingLookupTests.sameEstimate(changed[0], sent[0].value))
            #expect(changed[0] != first[0])
        }

        // A batch (`mlcycle predict` with the bundle file) reads the records live too.
        let bundleFile = "\(dir)/live-bundle.json"
        try live.jsonData().write(to: URL(fileURLWithPath: bundleFile))
        try CSVWriter.write(listings.taking(Array(1..<200)), to: "\(dir)/listings.csv")
        let scorer = try await BatchScorer.load(bundleFile) { store }
        _ = try await scorer.score(file: "\(dir)/listings.csv", csvOptions: CSVOptions(), to: "\(dir)/scored.csv")
        let batch = try CSVReader.read(path: "\(dir)/scored.csv").column("prediction")
        #expect((0..<batch.count).map { batch[$0].doubleValue } == Array(expected[1...]))

        // The database down: the tax columns are missing, building_type (required) with them, and the answer says why.
        var down = ModelServer(catalog: ModelCatalog(store: store, models: [:]))
        down.lookupReader = PostgresLookupReader(
            timeout: .seconds(2), environment: ["MLCYCLE_TEST_TAX_PORT": "1"])
        try await Application(router: down.router()).test(.router) { client in
            try await client.execute(
                uri: "/v1/models/houses/predict", method: .post,
                body: try ServingLookupTests.records(listings.taking([0]))
            ) { r in
                #expect(r.status == .ok)
                let answer = try #require((try object(r)["predictions"] as? [[String: Any]])?.first)
                #expect(answer["status"] as? String == "unavailable")
                let reasons = answer["reasons"] as? [String] ?? []
                #expect(reasons.contains { $0.hasPrefix("tax could not be read (") }, "\(answer)")
            }
        }
    }
}
