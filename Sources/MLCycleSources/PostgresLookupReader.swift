import Foundation
import Logging
import MLCycleData
import MLCyclePrep
import MLCycleStore
import PostgresNIO

/// Reads live lookups' records (`serving: live`) from PostgreSQL for a model server or `mlcycle predict`: one
/// connection pool per database, and per lookup a cache of the keys asked for most recently (`cache: {records,
/// ttl}`). Only the keys a request needs are read, in one query: `SELECT * FROM (query) WHERE key IN (…)`.
public final class PostgresLookupReader: LiveRecordReader, @unchecked Sendable {
    /// How long one read may take; after it the rows are answered without the lookup's records, with the reason.
    public let timeout: Duration
    /// After a failed read, how long that database is not asked again (its requests are answered at once, without
    /// its records), so a database that is down does not make every request wait `timeout`.
    public let retryAfter: Duration
    private let environment: [String: String]
    /// Seconds since 1970, for the caches' time to live.
    private let now: @Sendable () -> Double
    private let logger: Logger
    private let lock = NSLock()
    private var pools = [String: Pool]()
    private var caches = [String: Cached]()
    private var counts = Statistics()
    /// Databases that failed recently: until when they are not asked, and why.
    private var failing = [String: (until: ContinuousClock.Instant, reason: String)]()

    /// What the reader has done since it started.
    public struct Statistics: Sendable, Equatable {
        /// Keys answered from the cache, and keys read from the database.
        public var hits = 0
        public var misses = 0
        /// Queries run, and the seconds they took in all.
        public var reads = 0
        public var readSeconds = 0.0
    }

    /// A database's connection pool, running while the reader lives.
    private struct Pool {
        var client: PostgresClient
        var running: Task<Void, Never>
        var location: String
    }

    /// One lookup's cache, with the columns its query returned (rows of another shape are not mixed in).
    private struct Cached {
        var cache: RecordCache
        var columns: [FittedPipeline.ColumnSpec]?
    }

    public init(
        timeout: Duration = .seconds(5), retryAfter: Duration = .seconds(5),
        environment: [String: String] = ProcessInfo.processInfo.environment,
        now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) {
        self.timeout = timeout
        self.retryAfter = retryAfter
        self.environment = environment
        self.now = now
        var logger = Logger(label: "mlcycle.lookup.postgres")
        logger.logLevel = .critical
        self.logger = logger
    }

    deinit { for pool in pools.values { pool.running.cancel() } }

    public var statistics: Statistics { lock.withLock { counts } }

    public func records(of lookup: Lookup, keys: [[Value]]) async throws -> Table? {
        guard let live = lookup.live, !keys.isEmpty else { return nil }
        let id = [
            lookup.name, live.url, live.query, lookup.keys.map(\.right).joined(separator: ","),
            "\(live.cache.cacheRecords)", "\(live.cache.ttlSeconds)",
        ].joined(separator: "\u{1F}")
        let now = self.now()
        var (rows, missing, columns) = lock.withLock { () -> ([[Value]], [[Value]], [FittedPipeline.ColumnSpec]?) in
            // In place (the subscript's modify accessor): a copy of the cache per request would cost its size.
            let fresh = Cached(
                cache: RecordCache(capacity: live.cache.cacheRecords, ttl: live.cache.ttlSeconds), columns: nil)
            var rows = [[Value]]()
            var missing = [[Value]]()
            for key in keys {
                if let found = caches[id, default: fresh].cache.rows(key, now: now) {
                    rows += found
                } else {
                    missing.append(key)
                }
            }
            counts.hits += keys.count - missing.count
            counts.misses += missing.count
            return (rows, missing, caches[id]?.columns)
        }
        if !missing.isEmpty {
            guard let fetched = try await read(lookup, live, keys: missing) else {
                store(id, missing.map { ($0, []) }, columns: nil, now: now)
                return try Self.table(columns, rows)
            }
            let fetchedColumns = FittedPipeline.ColumnSpec.of(fetched)
            if let columns, columns != fetchedColumns, !rows.isEmpty {
                // The query's columns changed since the cached rows were read: read every key again.
                let again = try await read(lookup, live, keys: keys)
                store(
                    id, Self.grouped(again, lookup, keys: keys), columns: again.map(FittedPipeline.ColumnSpec.of),
                    now: now)
                return again
            }
            store(id, Self.grouped(fetched, lookup, keys: missing), columns: fetchedColumns, now: now)
            columns = fetchedColumns
            rows += (0..<fetched.rowCount).map { r in fetched.columns.map { $0[r] } }
        }
        return try Self.table(columns, rows)
    }

    /// Keeps each key's rows; a change in the query's columns empties the cache first.
    private func store(
        _ id: String, _ found: [([Value], [[Value]])], columns: [FittedPipeline.ColumnSpec]?, now: Double
    ) {
        lock.withLock {
            if let columns, caches[id]?.columns != columns {
                caches[id]?.cache.removeAll()
                caches[id]?.columns = columns
            }
            for (key, rows) in found { caches[id]?.cache.store(key, rows: rows, now: now) }
        }
    }

    /// Each of `keys` with its rows in `table` (none for a key the database has no record of).
    private static func grouped(_ table: Table?, _ lookup: Lookup, keys: [[Value]]) -> [([Value], [[Value]])] {
        var byKey = Dictionary(keys.map { ($0, [[Value]]()) }, uniquingKeysWith: { a, _ in a })
        if let table {
            let keyColumns = lookup.keys.map { table[$0.right] }
            for r in 0..<table.rowCount {
                let key = keyColumns.map { $0?[r] ?? .missing }
                if byKey[key] != nil { byKey[key]?.append(table.columns.map { $0[r] }) }
            }
        }
        return byKey.map { ($0.key, $0.value) }
    }

    /// Rows of `columns` as a table; nil when there are none.
    private static func table(_ columns: [FittedPipeline.ColumnSpec]?, _ rows: [[Value]]) throws -> Table? {
        guard let columns, !rows.isEmpty else { return nil }
        return try Table(
            columns: columns.enumerated().map { i, c in
                try Column(name: c.name, type: c.type, values: rows.map { $0[i] })
            })
    }

    /// Runs the lookup's query for `keys` on its database, within `timeout`.
    private func read(_ lookup: Lookup, _ live: Lookup.Live, keys: [[Value]]) async throws -> Table? {
        let (client, location) = try pool(live.url)
        let query = try Self.query(lookup, live, keys: keys)
        let started = ContinuousClock.now
        if let failed = lock.withLock({ failing[location] }), failed.until > started {
            throw PostgresSource.ReadError.connection(
                location: location, reason: "\(failed.reason) (not asked again for \(retryAfter) after a failure)")
        }
        let logger = self.logger
        let read: ReadTable
        do {
            read = try await PostgresStore.within(timeout, location: location) {
                ReadTable(
                    table: try await client.withConnection { connection in
                        try await PostgresSource.read(connection, query: query, location: location, logger: logger)
                    })
            }
        } catch {
            let reason = PostgresSource.describe(error)
            lock.withLock { failing[location] = (ContinuousClock.now + retryAfter, reason) }
            throw error
        }
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        lock.withLock {
            counts.reads += 1
            counts.readSeconds += seconds
            failing[location] = nil
        }
        return read.table
    }

    /// A read's result (`within` takes nil for a timeout).
    private struct ReadTable: Sendable { var table: Table? }

    /// The lookup's query narrowed to `keys`: the keys travel as one text array per key column, cast back to the
    /// column's type in the database.
    static func query(_ lookup: Lookup, _ live: Lookup.Live, keys: [[Value]]) throws -> PostgresQuery {
        var source = live.query.trimmingCharacters(in: .whitespacesAndNewlines)
        while source.hasSuffix(";") { source = String(source.dropLast()).trimmingCharacters(in: .whitespaces) }
        var bindings = PostgresBindings()
        var casts = [String]()
        for (i, key) in lookup.keys.enumerated() {
            let type = lookup.records[key.right]?.type ?? .string
            bindings.append(keys.map { $0[i].description })
            casts.append("u.k\(i)::\(sqlType(type))")
        }
        let columns = lookup.keys.map { "q.\(quoted($0.right))" }.joined(separator: ", ")
        let names = lookup.keys.indices.map { "k\($0)" }.joined(separator: ", ")
        let arrays = lookup.keys.indices.map { "$\($0 + 1)::text[]" }.joined(separator: ", ")
        let sql =
            "SELECT q.* FROM (\(source)) AS q WHERE (\(columns)) IN "
            + "(SELECT \(casts.joined(separator: ", ")) FROM unnest(\(arrays)) AS u(\(names)))"
        return PostgresQuery(unsafeSQL: sql, binds: bindings)
    }

    static func quoted(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    /// The PostgreSQL type a key of `type` is compared as.
    static func sqlType(_ type: DataType) -> String {
        switch type {
        case .string: return "text"
        case .int64: return "bigint"
        case .float64: return "double precision"
        case .bool: return "boolean"
        case .date: return "date"
        case .timestamp: return "timestamptz"
        }
    }

    /// The pool for `url` (`${NAME}` read from the environment), started on first use.
    private func pool(_ url: String) throws -> (PostgresClient, String) {
        let target = try PostgresURL(try StoreLocation.expand(url, environment: environment), environment: environment)
        return lock.withLock {
            if let pool = pools[target.location] { return (pool.client, pool.location) }
            let client = PostgresClient(
                configuration: target.poolConfiguration(timeout: timeout, connections: 4), backgroundLogger: logger)
            pools[target.location] = Pool(
                client: client, running: Task { await client.run() }, location: target.location)
            return (client, target.location)
        }
    }
}
