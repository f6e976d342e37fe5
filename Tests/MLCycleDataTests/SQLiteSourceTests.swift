import Foundation
import GRDB
import MLCycleData
import Testing

@testable import MLCycleSources

@Suite struct SQLiteSourceTests {
    @Test func readsAQueryIntoATable() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-sqlite-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("houses.sqlite").path
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE sales (id INTEGER, price REAL, city TEXT, sold TEXT)")
            try db.execute(
                sql:
                    "INSERT INTO sales VALUES (1, 200000.5, 'Ames', '2008-06-15'), (2, NULL, 'Boone', '2009-01-02'), (3, 90000, NULL, '2010-12-31')"
            )
        }
        let t = try SQLiteSource.read(
            database: path, query: "SELECT id, price, city, sold, id * 2 AS twice FROM sales ORDER BY id")
        #expect(t.columnNames == ["id", "price", "city", "sold", "twice"])
        #expect(t.schema.map(\.type) == [.int64, .float64, .string, .date, .int64])
        #expect(try t.column("price")[1] == .missing)
        #expect(try t.column("price")[2] == .float64(90000))
        #expect(try t.column("city")[2] == .missing)
        #expect(try t.column("twice")[2] == .int64(6))

        let e = dataError { _ = try SQLiteSource.read(database: path, query: "SELECT nope FROM sales") }
        #expect(e?.localizedDescription.contains("the query failed") == true)
        #expect(
            dataError {
                _ = try SQLiteSource.read(database: dir.appendingPathComponent("none.db").path, query: "SELECT 1")
            } != nil)
        // The database is opened read-only.
        #expect(dataError { _ = try SQLiteSource.read(database: path, query: "DELETE FROM sales") } != nil)
        #expect(
            try SQLiteSource.read(database: path, query: "SELECT count(*) AS n FROM sales").column("n")[0] == .int64(3))
    }

    @Test func dataSourcePicksTheReaderFromTheFileName() {
        guard case .jsonLines = DataSource.forFile("a.jsonl") else {
            Issue.record("jsonl")
            return
        }
        guard case .csv(_, let o) = DataSource.forFile("a.tsv"), o.delimiter == "\t" else {
            Issue.record("tsv")
            return
        }
        guard case .sqlite = DataSource.forFile("a.db", query: "SELECT 1") else {
            Issue.record("sqlite")
            return
        }
        guard case .csv(_, let c) = DataSource.forFile("a.csv"), c.delimiter == "," else {
            Issue.record("csv")
            return
        }
    }
}
