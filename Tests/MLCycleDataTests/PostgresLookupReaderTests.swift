import Foundation
import MLCycleData
import MLCyclePrep
import PostgresNIO
import Testing

@testable import MLCycleSources
@testable import MLCycleStore

/// The cache of a live lookup: the most recently asked keys, each for its time to live.
@Suite struct RecordCacheTests {
    @Test func theLeastRecentlyUsedKeyGoesFirst() {
        var cache = RecordCache(capacity: 2, ttl: 10)
        cache.store([.string("a")], rows: [[.int64(1)]], now: 0)
        cache.store([.string("b")], rows: [], now: 0)
        #expect(cache.rows([.string("a")], now: 1) == [[.int64(1)]])
        // b is now the least recently used: c takes its place.
        cache.store([.string("c")], rows: [[.int64(3)]], now: 1)
        #expect(cache.count == 2)
        #expect(cache.rows([.string("b")], now: 1) == nil)
        #expect(cache.rows([.string("a")], now: 1) == [[.int64(1)]])
        #expect(cache.rows([.string("c")], now: 1) == [[.int64(3)]])
        // A key with no record is kept as such (empty), and stored again it moves to the front.
        cache.store([.string("b")], rows: [], now: 2)
        #expect(cache.rows([.string("b")], now: 2) == [])
        #expect(cache.rows([.string("a")], now: 2) == nil)
        cache.removeAll()
        #expect(cache.count == 0 && cache.rows([.string("c")], now: 2) == nil)
    }

    @Test func aKeyIsUsedForItsTimeToLiveOnly() {
        var cache = RecordCache(capacity: 10, ttl: 5)
        cache.store([.int64(7)], rows: [[.string("x")]], now: 100)
        #expect(cache.rows([.int64(7)], now: 104.9) == [[.string("x")]])
        #expect(cache.rows([.int64(7)], now: 105) == nil)
        // Read again, it lives another five seconds.
        cache.store([.int64(7)], rows: [[.string("y")]], now: 105)
        #expect(cache.rows([.int64(7)], now: 109) == [[.string("y")]])
        var none = RecordCache(capacity: 10, ttl: 0)
        none.store([.int64(7)], rows: [], now: 0)
        #expect(none.count == 0)
    }
}

/// Live lookups read from PostgreSQL: only the asked keys, in one query, through the cache.
@Suite(
    .enabled(
        if: ProcessInfo.processInfo.environment["MLCYCLE_TEST_POSTGRES_URL"] != nil,
        "needs MLCYCLE_TEST_POSTGRES_URL (bash Tests/run.sh starts a server)"))
struct PostgresLookupReaderTests {
    let url = ProcessInfo.processInfo.environment["MLCYCLE_TEST_POSTGRES_URL"] ?? ""

    /// A parcels table on the test server; returns its name.
    func parcels() async throws -> String {
        let name = "parcels_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased())"
        let server = try await PostgresStore(url: url)
        defer { server.close() }
        try await server.execute(
            PostgresQuery(
                unsafeSQL: "CREATE TABLE \(name) (address text, unit integer, lot double precision, zoning text)"))
        try await server.execute(
            PostgresQuery(
                unsafeSQL: """
                    INSERT INTO \(name) VALUES ('1 elm', 1, 8450, 'RL'), ('1 elm', 2, 900, 'RM'),
                    ('2 oak', 1, 9600, 'RL'), ('3 ash', 1, NULL, 'C')
                    """))
        return name
    }

    /// The lookup training fits on the table's rows (one unit per address without `unit` in the keys), read live
    /// with `cache`.
    func lookup(_ table: String, keys: [String], cache: LiveLookupSpec, url: String? = nil) async throws -> Lookup {
        let query = "SELECT * FROM \(table)" + (keys.contains("unit") ? "" : " WHERE unit = 1")
        let records = try await PostgresSource.read(url: self.url, query: query)
        let left = keys.map { k in FittedPipeline.ColumnSpec(name: k, type: records[k]?.type ?? .string) }
        return try Lookup(
            name: "parcels", join: JoinSpec(keys: keys.map { .init(left: $0, right: $0) }), records: records,
            leftColumns: left,
            live: .init(
                url: url ?? self.url, query: query + ";",
                steps: try PreparationPipeline.fit([], on: records).0, cache: cache))
    }

    /// A reader's time limit for a database that is up: a loaded CI machine has taken more than the default 5 s to
    /// open the first connection, and these tests are about what is read and cached, not how fast.
    static let patient: Duration = .seconds(60)

    @Test func onlyTheAskedKeysAreReadAndThenCached() async throws {
        let table = try await parcels()
        let lookup = try await lookup(
            table, keys: ["address", "unit"], cache: .init(cacheRecords: 2, ttlSeconds: 3600))
        let reader = PostgresLookupReader(timeout: Self.patient)
        let keys: [[Value]] = [
            [.string("1 elm"), .int64(2)], [.string("3 ash"), .int64(1)], [.string("9 fir"), .int64(1)],
        ]
        let first = try #require(try await reader.records(of: lookup, keys: keys))
        #expect(first.rowCount == 2)
        #expect(Set((0..<2).compactMap { first["zoning"]?[$0].description }) == ["RM", "C"])
        #expect(reader.statistics.misses == 3 && reader.statistics.reads == 1 && reader.statistics.hits == 0)
        // The cache holds two keys: the first asked was the first to go.
        let again = try #require(try await reader.records(of: lookup, keys: keys))
        #expect(again.rowCount == 2)
        #expect(reader.statistics.hits == 2 && reader.statistics.misses == 4 && reader.statistics.reads == 2)
        // A key with no record is cached as such: no read.
        #expect(try await reader.records(of: lookup, keys: [[.string("9 fir"), .int64(1)]]) == nil)
        #expect(reader.statistics.reads == 2)
    }

    @Test func aChangedRecordIsSeenAfterItsTimeToLive() async throws {
        let table = try await parcels()
        let cached = try await lookup(table, keys: ["address"], cache: .init(cacheRecords: 10, ttlSeconds: 600))
        let uncached = try await lookup(table, keys: ["address"], cache: .init(cacheRecords: 10, ttlSeconds: 0))
        let reader = PostgresLookupReader(timeout: Self.patient)
        let key: [[Value]] = [[.string("2 oak")]]
        for lookup in [cached, uncached] {
            #expect(try await reader.records(of: lookup, keys: key)?["lot"]?[0] == .float64(9600))
        }
        let server = try await PostgresStore(url: url)
        defer { server.close() }
        try await server.execute(PostgresQuery(unsafeSQL: "UPDATE \(table) SET lot = 9700 WHERE address = '2 oak'"))
        #expect(try await reader.records(of: cached, keys: key)?["lot"]?[0] == .float64(9600))
        #expect(try await reader.records(of: uncached, keys: key)?["lot"]?[0] == .float64(9700))
    }

    @Test func aDatabaseThatCannotBeReachedIsAnErrorNamingIt() async throws {
        let table = try await parcels()
        let lookup = try await lookup(
            table, keys: ["address"], cache: .init(), url: "postgres://nobody@127.0.0.1:1/nothing?sslmode=disable")
        let reader = PostgresLookupReader(timeout: .seconds(2), retryAfter: .seconds(60))
        await #expect {
            _ = try await reader.records(of: lookup, keys: [[.string("1 elm")]])
        } throws: { "\($0.localizedDescription)".contains("127.0.0.1:1") }
        // Asked again at once, it is not tried: the answer says why and when.
        await #expect {
            _ = try await reader.records(of: lookup, keys: [[.string("2 oak")]])
        } throws: {
            let message = "\($0.localizedDescription)"
            return message.contains("127.0.0.1:1") && message.contains("not asked again for 60")
        }
    }
}
