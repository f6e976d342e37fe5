import Foundation
import MLCycleData
import MLCycleSources
import PostgresNIO
import Testing

@testable import MLCycleStore

/// A pipeline source read with a query from PostgreSQL: every column takes the database's type, NULL is missing, and
/// the table's fingerprint is of its content (the same rows from a CSV file fingerprint the same).
@Suite(
    .enabled(
        if: ProcessInfo.processInfo.environment["MLCYCLE_TEST_POSTGRES_URL"] != nil,
        "needs MLCYCLE_TEST_POSTGRES_URL (bash Tests/run.sh starts a server)"))
struct PostgresSourceTests {
    let url = ProcessInfo.processInfo.environment["MLCYCLE_TEST_POSTGRES_URL"] ?? ""

    /// Makes a table of `columns` holding `rows` on the test server; returns its name.
    func table(_ columns: String, _ rows: [String]) async throws -> String {
        let name = "source_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased())"
        let server = try await PostgresStore(url: url)
        defer { server.close() }
        try await server.execute(PostgresQuery(unsafeSQL: "CREATE TABLE \(name) (\(columns))"))
        try await server.execute(PostgresQuery(unsafeSQL: "INSERT INTO \(name) VALUES \(rows.joined(separator: ", "))"))
        return name
    }

    @Test func everyTypeIsReadAsTheDatabaseDeclaresIt() async throws {
        let name = try await table(
            """
            i2 smallint, i4 integer, i8 bigint, f4 real, f8 double precision, n numeric(12, 2), b boolean,
            t text, v varchar(20), c char(3), u uuid, j jsonb, d date, ts timestamp, tz timestamptz
            """,
            [
                """
                (1, 70000, 9000000000, 1.5, 2.25, 1234567.89, true, 'Old Town', 'NAmes', 'abc',
                 '6f1c3c0e-4f9a-4c55-9a43-0d4cc2b6f3a1', '{"a": 1}', '2008-03-15', '2008-03-15 10:30:00',
                 '2008-03-15 10:30:00+02')
                """,
                "(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
            ])
        let t = try await PostgresSource.read(url: url, query: "SELECT * FROM \(name)")
        #expect(t.rowCount == 2)
        let types = Dictionary(uniqueKeysWithValues: t.schema.map { ($0.name, $0.type) })
        #expect(types["i2"] == .int64 && types["i4"] == .int64 && types["i8"] == .int64)
        #expect(types["f4"] == .float64 && types["f8"] == .float64 && types["n"] == .float64)
        #expect(types["b"] == .bool && types["d"] == .date && types["ts"] == .timestamp && types["tz"] == .timestamp)
        #expect(["t", "v", "c", "u", "j"].allSatisfy { types[$0] == .string })
        func cell(_ column: String, _ row: Int = 0) throws -> Value { try #require(t[column])[row] }
        #expect(try cell("i8") == .int64(9_000_000_000))
        #expect(try cell("f4") == .float64(1.5))
        #expect(try cell("n") == .float64(1_234_567.89))
        #expect(try cell("b") == .bool(true))
        #expect(try cell("t") == .string("Old Town"))
        #expect(try cell("c") == .string("abc"))
        #expect(try cell("u") == .string("6F1C3C0E-4F9A-4C55-9A43-0D4CC2B6F3A1"))
        #expect(
            try cell("d") == .date(Int64(Date(timeIntervalSince1970: 1_205_539_200).timeIntervalSince1970 / 86_400)))
        #expect(try cell("ts") == .timestamp(1_205_577_000 * 1_000_000))  // 2008-03-15T10:30:00Z
        #expect(try cell("tz") == .timestamp((1_205_577_000 - 7_200) * 1_000_000))  // +02 read in UTC
        #expect(try t.schema.map(\.name).allSatisfy { try cell($0, 1) == .missing })
    }

    @Test func theFingerprintIsOfTheContent() async throws {
        let name = try await table(
            "address text, living_area bigint, price double precision, sold date, pool boolean",
            ["('1 Elm St', 1200, 180000.5, '2008-01-02', false)", "('2 Oak Ave', NULL, 95000, '2009-06-30', true)"])
        let fromDatabase = try await PostgresSource.read(url: url, query: "SELECT * FROM \(name) ORDER BY address")
        let fromFile = try CSVReader.read(
            string: """
                address,living_area,price,sold,pool
                1 Elm St,1200,180000.5,2008-01-02,false
                2 Oak Ave,,95000,2009-06-30,true
                """, name: "sales.csv")
        #expect(fromDatabase.schema.map { "\($0.name):\($0.type)" } == fromFile.schema.map { "\($0.name):\($0.type)" })
        #expect(fromDatabase.fingerprint() == fromFile.fingerprint())
    }

    @Test func whatCannotBeReadSaysWhatToDo() async throws {
        await #expect {
            try await PostgresSource.read(url: url, query: "SELECT interval '1 day' AS wait")
        } throws: { error in
            (error as? PostgresSource.ReadError)?.errorDescription?.contains("wait::text") == true
        }
        await #expect {
            try await PostgresSource.read(url: url, query: "SELECT * FROM no_such_table")
        } throws: { error in
            error.localizedDescription.contains("no_such_table")
        }
        await #expect {
            try await PostgresSource.read(url: "postgres://ana:secret@127.0.0.1:1/x?sslmode=disable", query: "SELECT 1")
        } throws: { error in
            !error.localizedDescription.contains("secret") && error.localizedDescription.contains("127.0.0.1")
        }
    }
}
