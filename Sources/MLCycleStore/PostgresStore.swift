import Foundation
import Logging
import MLCycleData
import NIOCore
import NIOSSL
import PostgresNIO

#if canImport(Glibc)
    import Glibc
#endif

/// The team store: every record and every artefact in one PostgreSQL database, which several machines use at once
/// (data scientists training, servers logging, a watcher retraining). A connection pool of postgres-nio; migrations
/// numbered like SQLite's, applied once under an advisory lock however many processes start together; artefacts in
/// a table of 1 MiB chunks keyed by their SHA-256, so a team needs nothing but the database.
///
/// Rows are read as JSON (`row_to_json`) and mapped onto the store's `Codable` records; lists and dictionaries are
/// `jsonb` columns, times are seconds since 1970 (as in SQLite, so a store copies across unchanged).
public final class PostgresStore: Store, RegistryChangeFeed, @unchecked Sendable {
    /// The database, as `postgres://USER@HOST:PORT/DATABASE` (the password never appears here).
    public let location: String
    let client: PostgresClient
    private let running: Task<Void, Never>
    let logger: Logger

    /// Connects to `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=MODE]`; `PGPASSWORD` is read when
    /// the URL has no password) and migrates the schema. The URL's `sslmode` is libpq's: `disable`, `allow` and
    /// `prefer` (the default: TLS when the server offers it, unverified), `require` (TLS, unverified), `verify-ca` and
    /// `verify-full` (TLS with the system's trusted certificates; `verify-full` checks the host name too).
    public init(url: String, connectTimeout: Duration = .seconds(15)) async throws {
        let target = try PostgresURL(url)
        location = target.location
        let configuration = target.poolConfiguration(timeout: connectTimeout, connections: 10)
        var quiet = Logger(label: "mlcycle.store.postgres")
        quiet.logLevel = .critical
        let logger = quiet
        self.logger = logger
        // One connection first: the pool retries a refused or rejected connection for a minute and keeps the
        // reason in its log, while this answers at once with it.
        try await Self.probe(target, timeout: connectTimeout, logger: logger)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        running = Task { await client.run() }
        do {
            // The probe above already failed fast on a server that is down; this bound is for one that stops
            // answering, generous because a loaded machine (a training run beside it) may be slow to schedule us.
            try await Self.within(.seconds(120), location: target.location) {
                try await PostgresSchema.migrate(client, logger: logger)
            }
        } catch {
            running.cancel()
            throw error
        }
    }

    deinit { running.cancel() }

    /// Opens and closes one connection to `target`; a failure is the store's error, naming the server.
    static func probe(_ target: PostgresURL, timeout: Duration, logger: Logger) async throws {
        do {
            let connection = try await PostgresConnection.connect(
                configuration: try target.connectionConfiguration(timeout: timeout), id: 0, logger: logger)
            try await connection.close()
        } catch {
            switch storeError(error) {
            case StoreError.unavailable(let why):
                throw StoreError.unavailable("PostgreSQL at \(target.location): \(why)")
            case StoreError.database(let code, let message):
                throw StoreError.database(code: code, message: "PostgreSQL at \(target.location): \(message)")
            case let other: throw other
            }
        }
    }

    /// Ends the pool's connections (a process that exits needs not call it).
    public func close() { running.cancel() }

    /// Runs `body`, or fails with `.unavailable` after `limit`: a pool that cannot connect keeps retrying otherwise.
    @discardableResult
    package static func within<T: Sendable>(
        _ limit: Duration, location: String, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw StoreError.unavailable("no answer from PostgreSQL at \(location) within \(limit)")
            }
            return value
        }
    }

    // MARK: Queries

    /// Runs a statement, its errors as the store's.
    @discardableResult
    func execute(_ query: PostgresQuery) async throws -> [PostgresRow] {
        do { return try await client.query(query, logger: logger).collect() } catch {
            throw Self.storeError(error)
        }
    }

    /// Runs `body` in one transaction on one connection (rolled back when it throws, or when the connection is lost).
    func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await Self.transaction(client, logger: logger, body)
    }

    /// BEGIN, `body`, COMMIT on one pooled connection. Not postgres-nio's `withTransaction`: its ROLLBACK on a
    /// connection the server already closed never returns; here a closed connection is left alone (the server rolled
    /// the transaction back when it dropped it) and the pool replaces it.
    static func transaction<T: Sendable>(
        _ client: PostgresClient, logger: Logger, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        do {
            return try await client.withConnection { connection in
                try await connection.rows("BEGIN", logger)
                do {
                    let value = try await body(connection)
                    try await connection.rows("COMMIT", logger)
                    return value
                } catch {
                    // A connection whose ROLLBACK fails is lost (the server dropped it, and the pool may not know
                    // yet): closed here, so that the pool never hands it to the next call.
                    if !connection.isClosed {
                        do { _ = try await connection.rows("ROLLBACK", logger) } catch { try? await connection.close() }
                    }
                    throw error
                }
            }
        } catch {
            throw storeError(error)
        }
    }

    /// The records `select` returns, each row mapped through `Decodable` (the select's columns named as `T`'s
    /// properties).
    func records<T: Decodable>(_ type: T.Type, _ select: PostgresQuery) async throws -> [T] {
        try await jsonRecords(
            T.self, PostgresQuery(unsafeSQL: "SELECT row_to_json(r)::text FROM (\(select.sql)) r", binds: select.binds))
    }

    /// The records a data-modifying statement's `RETURNING` clause gives (such a statement may not be a subquery).
    func returnedRecords<T: Decodable>(_ type: T.Type, _ statement: PostgresQuery) async throws -> [T] {
        try await jsonRecords(
            T.self,
            PostgresQuery(
                unsafeSQL: "WITH r AS (\(statement.sql)) SELECT row_to_json(r)::text FROM r", binds: statement.binds))
    }

    /// Runs a query whose one column is each row as JSON text, and decodes the rows.
    private func jsonRecords<T: Decodable>(_ type: T.Type, _ query: PostgresQuery) async throws -> [T] {
        var out = [T]()
        for row in try await execute(query) {
            let json: String
            do { json = try row.decode(String.self) } catch { throw StoreError.damaged(String(describing: error)) }
            do { out.append(try Self.decoder.decode(T.self, from: Data(json.utf8))) } catch {
                throw StoreError.damaged("\(T.self): \(error) in \(json.prefix(300))")
            }
        }
        return out
    }

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .secondsSince1970
        return d
    }()

    /// PostgreSQL's errors as the store's: a unique violation, a lock or serialization conflict, a lost connection
    /// and damage are told apart, with the SQLSTATE kept for the rest.
    package static func storeError(_ error: any Error) -> any Error {
        if error is StoreError || error is CancellationError { return error }
        // The pool's own errors (it could not connect, it was shut down) are of a module postgres-nio keeps internal.
        if String(reflecting: type(of: error)).contains("ConnectionPoolError") {
            return StoreError.unavailable("the connection pool: \(error)")
        }
        guard let e = error as? PSQLError else { return error }
        let message = e.serverInfo?[.message] ?? String(describing: e.code)
        let detail = e.serverInfo?[.detail].map { ": \($0)" } ?? ""
        if e.code == .server, let state = e.serverInfo?[.sqlState] {
            switch state {
            case "23505": return StoreError.conflict(message + detail)
            case "40001", "40P01", "55P03", "53300": return StoreError.busy(message)
            case "XX001", "XX002", "22P02": return StoreError.damaged(message + detail)
            case _ where state.hasPrefix("08") || state.hasPrefix("57P"): return StoreError.unavailable(message)
            default: return StoreError.database(code: state, message: message + detail)
            }
        }
        switch e.code {
        case .sslUnsupported:
            return StoreError.unavailable(
                "the server does not offer TLS, which the URL's sslmode requires (sslmode=prefer uses it when offered)")
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed,
            .failedToAddSSLHandler:
            let underlying = e.underlying.map { ": \($0)" } ?? ""
            return StoreError.unavailable("\(e.code)\(underlying)")
        default: return StoreError.database(code: "\(e.code)", message: message)
        }
    }

    static func now() -> Double { Date().timeIntervalSince1970 }

    // MARK: Projects and datasets

    public func ensureProject(_ name: String) async throws {
        try await execute(
            "INSERT INTO project (name, created) VALUES (\(name), \(Self.now())) ON CONFLICT (name) DO NOTHING")
    }

    @discardableResult
    public func recordDataset(_ s: DatasetSnapshot) async throws -> DatasetSnapshot {
        try await execute(
            """
            INSERT INTO dataset (fingerprint, rows, schema, sources, profile_artifact, created)
            VALUES (\(s.fingerprint), \(s.rows), \(storedJSON(s.schema))::jsonb, \(storedJSON(s.sources))::jsonb,
                    \(s.profileArtifact), \(s.created.timeIntervalSince1970))
            ON CONFLICT (fingerprint) DO NOTHING
            """)
        return try await dataset(fingerprint: s.fingerprint) ?? s
    }

    public func dataset(fingerprint: String) async throws -> DatasetSnapshot? {
        try await records(
            DatasetSnapshot.self,
            "SELECT \(unescaped: PostgresSchema.datasetColumns) FROM dataset WHERE fingerprint = \(fingerprint)"
        ).first
    }

    public func attachProfile(fingerprint: String, artifact: String) async throws {
        let updated = try await execute(
            "UPDATE dataset SET profile_artifact = \(artifact) WHERE fingerprint = \(fingerprint) RETURNING 1")
        if updated.isEmpty { throw StoreError.notFound("dataset \(fingerprint)") }
    }

    // MARK: Runs

    public func startRun(_ n: NewRun) async throws -> RunRecord {
        try await ensureProject(n.project)
        let started = Self.now()
        let rows = try await execute(
            """
            INSERT INTO run (project, stage, status, started, input_hash, params, tags, outputs, spec_hash, git_commit,
                             mlcycle_version, host, pid)
            VALUES (\(n.project), \(n.stage), 'running', \(started), \(n.inputHash), \(storedJSON(n.params))::jsonb,
                    \(storedJSON(n.tags))::jsonb, '{}'::jsonb, \(n.specHash), \(n.gitCommit), \(n.mlcycleVersion),
                    \(n.host), \(n.pid))
            RETURNING id
            """)
        guard let row = rows.first, let id = try? row.decode(Int64.self), let run = try await run(id) else {
            throw StoreError.notFound("the new run")
        }
        return run
    }

    public func logMetric(run: Int64, name: String, value: Double, step: Int) async throws {
        try await execute(
            "INSERT INTO metric (run, name, value, step, at) VALUES (\(run), \(name), \(value), \(step), \(Self.now()))"
        )
    }

    public func appendLog(run: Int64, _ line: String) async throws {
        try await transaction { connection in try await Self.appendLog(connection, run: run, line, self.logger) }
    }

    /// Appends a log line within a transaction. The run's row is locked first, so two lines appended at once get
    /// consecutive numbers.
    static func appendLog(_ connection: PostgresConnection, run: Int64, _ line: String, _ logger: Logger) async throws {
        try await connection.rows("SELECT 1 FROM run WHERE id = \(run) FOR UPDATE", logger)
        try await connection.rows(
            """
            INSERT INTO run_log (run, seq, line, at)
            VALUES (\(run), (SELECT COALESCE(MAX(seq), 0) + 1 FROM run_log WHERE run = \(run)), \(line), \(now()))
            """, logger)
    }

    public func finishRun(_ id: Int64, status: RunStatus, outputs: [String: String]) async throws {
        let updated = try await execute(
            """
            UPDATE run SET status = \(status.rawValue), ended = \(Self.now()), outputs = \(storedJSON(outputs))::jsonb
            WHERE id = \(id) RETURNING 1
            """)
        if updated.isEmpty { throw StoreError.notFound("run \(id)") }
    }

    public func run(_ id: Int64) async throws -> RunRecord? {
        try await records(RunRecord.self, "SELECT \(unescaped: PostgresSchema.runColumns) FROM run WHERE id = \(id)")
            .first
    }

    public func projects() async throws -> [String] {
        try await execute("SELECT name FROM project ORDER BY name").map { try $0.decode(String.self) }
    }

    public func runs(_ filter: RunFilter) async throws -> [RunRecord] {
        try await records(RunRecord.self, Self.query(filter.select(PostgresSchema.runColumns, .postgres)))
    }

    public func countRuns(_ filter: RunFilter) async throws -> Int {
        try await count(filter.select("COUNT(*)", .postgres, count: true))
    }

    /// The number a `SELECT COUNT(*)` statement answers.
    func count(_ statement: SQLStatement) async throws -> Int {
        let rows = try await execute(Self.query(statement))
        guard let row = rows.first else { return 0 }
        do { return try row.decode(Int.self) } catch { throw StoreError.damaged(String(describing: error)) }
    }

    public func metrics(run: Int64) async throws -> [MetricPoint] {
        try await records(
            MetricPoint.self, "SELECT name, value, step, at FROM metric WHERE run = \(run) ORDER BY name, step")
    }

    public func logs(run: Int64) async throws -> [String] {
        try await execute("SELECT line FROM run_log WHERE run = \(run) ORDER BY seq").map { try $0.decode(String.self) }
    }

    public func cachedRun(project: String, stage: String, inputHash: String) async throws -> RunRecord? {
        try await records(
            RunRecord.self,
            """
            SELECT \(unescaped: PostgresSchema.runColumns) FROM run
            WHERE project = \(project) AND stage = \(stage) AND input_hash = \(inputHash) AND status = 'finished'
            ORDER BY id DESC LIMIT 1
            """
        ).first
    }

    public func recoverAbandonedRuns() async throws -> [Int64] {
        let host = ProcessInfo.processInfo.hostName
        // Only this host's runs: another machine's processes are not ours to judge.
        let running = try await execute(
            "SELECT id, pid FROM run WHERE status = 'running' AND host = \(host) ORDER BY id")
        var abandoned = [Int64]()
        for row in running {
            let (id, pid) = try row.decode((Int64, Int32).self)
            guard !SQLiteStore.processAlive(pid) else { continue }
            // Marked and explained in one transaction: a failed run always says why.
            let marked = try await transaction { connection in
                let changed = try await connection.rows(
                    """
                    UPDATE run SET status = 'failed', ended = \(Self.now()) WHERE id = \(id) AND status = 'running'
                    RETURNING 1
                    """, self.logger)
                guard !changed.isEmpty else { return false }
                try await Self.appendLog(
                    connection, run: id, "marked failed: its process (pid \(pid)) ended without finishing the run",
                    self.logger)
                return true
            }
            if marked { abandoned.append(id) }
        }
        return abandoned
    }

    // MARK: Artefacts

    /// Artefacts are stored in chunks of this many bytes (one row each): a large bundle is neither one huge value
    /// nor one huge message.
    static let chunkSize = 1 << 20

    @discardableResult
    public func putArtifact(_ data: Data) async throws -> String {
        let sha = MLCycleData.SHA256.hex(data)
        try await transaction { connection in
            // The artefact's row first: a second writer of the same content waits here, then finds it stored.
            let inserted = try await connection.rows(
                """
                INSERT INTO artifact (sha256, size, created) VALUES (\(sha), \(data.count), \(Self.now()))
                ON CONFLICT (sha256) DO NOTHING RETURNING 1
                """, self.logger
            )
            guard !inserted.isEmpty else { return }
            var seq = 0
            var start = data.startIndex
            repeat {
                let end = min(start + Self.chunkSize, data.endIndex)
                let chunk = ByteBuffer(bytes: data[start..<end])
                try await connection.rows(
                    "INSERT INTO artifact_chunk (sha256, seq, data) VALUES (\(sha), \(seq), \(chunk))", self.logger)
                seq += 1
                start = end
            } while start < data.endIndex
        }
        return sha
    }

    public func artifact(_ sha: String) async throws -> Data {
        let size = try await execute("SELECT size FROM artifact WHERE sha256 = \(sha)")
        guard let row = size.first else { throw StoreError.notFound("artefact \(sha)") }
        let expected = try row.decode(Int64.self)
        var data = Data(capacity: Int(expected))
        do {
            // Chunk by chunk as they arrive (the rows are streamed, not collected first).
            let rows = try await client.query(
                "SELECT data FROM artifact_chunk WHERE sha256 = \(sha) ORDER BY seq", logger: logger)
            for try await chunk in rows.decode(ByteBuffer.self) { data.append(contentsOf: chunk.readableBytesView) }
        } catch { throw Self.storeError(error) }
        guard MLCycleData.SHA256.hex(data) == sha else {
            throw StoreError.corruptArtifact(sha256: sha, path: "\(location) artifact_chunk")
        }
        return data
    }

    // MARK: Models, aliases, audit

    public func registerModel(_ v: NewModelVersion, actor: String) async throws -> ModelVersion {
        let number: Int = try await transaction { connection in
            guard
                try await !connection.rows(
                    "SELECT 1 FROM artifact WHERE sha256 = \(v.bundle)", self.logger
                ).isEmpty
            else {
                throw StoreError.invalid("the bundle \(v.bundle) is not a stored artefact; put it first")
            }
            // Two registrations of one name at once: the second waits for the first's number.
            try await connection.lock("model", v.name, self.logger)
            let rows = try await connection.rows(
                """
                INSERT INTO model_version (name, version, bundle, metrics, gates_passed, gates, run, datasets, spec_hash,
                                           created)
                SELECT \(v.name), COALESCE(MAX(version), 0) + 1, \(v.bundle), \(storedJSON(v.metrics))::jsonb,
                       \(v.gatesPassed), \(storedJSON(v.gates))::jsonb, \(v.run), \(storedJSON(v.datasets))::jsonb,
                       \(v.specHash), \(Self.now())
                FROM model_version WHERE name = \(v.name)
                RETURNING version
                """, self.logger
            )
            guard let row = rows.first else { throw StoreError.notFound("the new version of \(v.name)") }
            let next = try row.decode(Int.self)
            try await Self.audit(
                connection, logger: self.logger, actor: actor, action: "register", model: v.name, version: next,
                alias: nil, previous: nil, reason: v.gatesPassed ? "gates passed" : "gates failed")
            return next
        }
        guard let version = try await modelVersion(v.name, version: number) else {
            throw StoreError.notFound("model \(v.name) v\(number)")
        }
        return version
    }

    static func audit(
        _ connection: PostgresConnection, logger: Logger, actor: String, action: String, model: String?,
        version: Int?, alias: String?, previous: Int?, reason: String
    ) async throws {
        try await connection.rows(
            """
            INSERT INTO audit (at, actor, action, model, version, alias, previous_version, reason)
            VALUES (\(now()), \(actor), \(action), \(model), \(version), \(alias), \(previous), \(reason))
            """, logger)
    }

    public func modelNames() async throws -> [String] {
        try await execute("SELECT DISTINCT name FROM model_version ORDER BY name").map { try $0.decode(String.self) }
    }

    public func modelVersions(_ name: String) async throws -> [ModelVersion] {
        try await records(
            ModelVersion.self,
            """
            SELECT \(unescaped: PostgresSchema.modelVersionColumns) FROM model_version WHERE name = \(name)
            ORDER BY version
            """)
    }

    public func newestModelVersions(_ name: String, offset: Int, limit: Int) async throws -> [ModelVersion] {
        try await records(
            ModelVersion.self,
            """
            SELECT \(unescaped: PostgresSchema.modelVersionColumns) FROM model_version WHERE name = \(name)
            ORDER BY version DESC LIMIT \(max(0, limit)) OFFSET \(max(0, offset))
            """)
    }

    public func modelVersionCount(_ name: String) async throws -> Int {
        try await count(SQLStatement(sql: "SELECT COUNT(*) FROM model_version WHERE name = $1", values: [.text(name)]))
    }

    public func modelVersion(_ name: String, version: Int) async throws -> ModelVersion? {
        try await records(
            ModelVersion.self,
            """
            SELECT \(unescaped: PostgresSchema.modelVersionColumns) FROM model_version
            WHERE name = \(name) AND version = \(version)
            """
        ).first
    }

    public func setAlias(_ name: String, alias: String, version: Int?, actor: String, action: String, reason: String)
        async throws
    {
        try await transaction { connection in
            // The alias's row (or its absence) is held through the move, so two moves at once are audited in order.
            try await connection.lock("alias", name, self.logger)
            let previous = try await connection.rows(
                "SELECT version FROM alias WHERE name = \(name) AND alias = \(alias)", self.logger
            ).first.map { try $0.decode(Int.self) }
            if let version {
                guard
                    try await !connection.rows(
                        "SELECT 1 FROM model_version WHERE name = \(name) AND version = \(version)", self.logger
                    ).isEmpty
                else { throw StoreError.notFound("model \(name) version \(version)") }
                try await connection.rows(
                    """
                    INSERT INTO alias (name, alias, version) VALUES (\(name), \(alias), \(version))
                    ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version
                    """, self.logger)
            } else {
                try await connection.rows(
                    "DELETE FROM alias WHERE name = \(name) AND alias = \(alias)", self.logger)
            }
            try await Self.audit(
                connection, logger: self.logger, actor: actor, action: action, model: name, version: version,
                alias: alias, previous: previous, reason: reason)
            try await connection.rows("SELECT pg_notify(\(Self.registryChannel), \(name))", self.logger)
        }
    }

    public func aliases(_ name: String) async throws -> [String: Int] {
        var out = [String: Int]()
        for row in try await execute("SELECT alias, version FROM alias WHERE name = \(name)") {
            let (alias, version) = try row.decode((String, Int).self)
            out[alias] = version
        }
        return out
    }

    public func previousVersion(_ name: String, alias: String) async throws -> Int? {
        try await execute(
            """
            SELECT previous_version FROM audit WHERE model = \(name) AND alias = \(alias) AND version IS NOT NULL
            ORDER BY id DESC LIMIT 1
            """
        ).first.flatMap { try $0.decode(Int?.self) }
    }

    public func audit(model: String?) async throws -> [AuditEntry] {
        try await records(
            AuditEntry.self,
            """
            SELECT id, at, actor, action, model, version, alias, previous_version AS "previousVersion", reason
            FROM audit WHERE (\(model)::text IS NULL OR model = \(model)) ORDER BY id
            """)
    }

    public func audit(_ filter: AuditFilter) async throws -> [AuditEntry] {
        try await records(
            AuditEntry.self,
            Self.query(
                filter.select(
                    #"id, at, actor, action, model, version, alias, previous_version AS "previousVersion", reason"#,
                    .postgres)))
    }

    public func release(_ name: String) async throws -> ReleaseState? {
        try await records(
            ReleaseState.self,
            """
            SELECT version, step, share, started, since, failed_checks AS "failedChecks" FROM release
            WHERE name = \(name)
            """
        ).first
    }

    public func setRelease(_ name: String, _ state: ReleaseState?, actor: String, action: String, reason: String)
        async throws
    {
        try await transaction { connection in
            try await connection.lock("release", name, self.logger)
            let previous = try await connection.rows(
                "SELECT version FROM release WHERE name = \(name)", self.logger
            ).first.map { try $0.decode(Int.self) }
            if let state {
                try await connection.rows(
                    """
                    INSERT INTO release (name, version, step, share, started, since, failed_checks)
                    VALUES (\(name), \(state.version), \(state.step), \(state.share),
                            \(state.started.timeIntervalSince1970), \(state.since.timeIntervalSince1970),
                            \(state.failedChecks))
                    ON CONFLICT (name) DO UPDATE SET version = excluded.version, step = excluded.step,
                      share = excluded.share, started = excluded.started, since = excluded.since,
                      failed_checks = excluded.failed_checks
                    """, self.logger)
            } else {
                try await connection.rows("DELETE FROM release WHERE name = \(name)", self.logger)
            }
            // A step moves the share, not an alias: the entry names no alias (rollbacks read alias moves).
            try await Self.audit(
                connection, logger: self.logger, actor: actor, action: action, model: name,
                version: state?.version ?? previous, alias: nil, previous: previous, reason: reason)
            try await connection.rows("SELECT pg_notify(\(Self.registryChannel), \(name))", self.logger)
        }
    }

    /// The channel an alias or release move is announced on, with the model's name (sent when the move commits).
    static let registryChannel = "mlcycle_alias"

    public func followRegistryChanges(listening: @Sendable () -> Void, changed: @Sendable (String) -> Void)
        async throws
    {
        do {
            try await client.withConnection { connection in
                try await connection.listen(on: Self.registryChannel) { notifications in
                    listening()
                    for try await notification in notifications { changed(notification.payload) }
                }
            }
        } catch {
            throw Self.storeError(error)
        }
    }

    // MARK: Predictions, feedback, alerts

    /// Rows per INSERT statement: 11 parameters each, well under PostgreSQL's 65,535.
    static let predictionRowsPerStatement = 500

    @discardableResult
    public func logPredictions(_ batch: [PredictionRecord]) async throws -> Int {
        guard !batch.isEmpty else { return 0 }
        return try await transaction { connection in
            var inserted = 0
            var start = 0
            while start < batch.count {
                let rows = batch[start..<min(start + Self.predictionRowsPerStatement, batch.count)]
                var binds = PostgresBindings(capacity: rows.count * 11)
                var values = [String]()
                values.reserveCapacity(rows.count)
                for (i, p) in rows.enumerated() {
                    let b = i * 11
                    values.append(
                        "($\(b + 1), $\(b + 2), $\(b + 3), $\(b + 4), $\(b + 5), $\(b + 6), $\(b + 7), $\(b + 8), "
                            + "$\(b + 9), $\(b + 10), $\(b + 11)::jsonb)")
                    binds.append(p.id)
                    binds.append(p.model)
                    binds.append(p.version)
                    binds.append(p.at.timeIntervalSince1970)
                    binds.append(p.latencySeconds)
                    binds.append(p.inputs)
                    binds.append(p.prediction)
                    binds.append(p.status)
                    binds.append(p.confidence)
                    binds.append(p.lowConfidence)
                    binds.append(p.reasons.flatMap { $0.isEmpty ? nil : storedJSON($0) })
                }
                let query = PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO prediction (id, model, version, at, latency, inputs, prediction, status, confidence,
                                                low_confidence, reasons)
                        VALUES \(values.joined(separator: ", ")) ON CONFLICT (id) DO NOTHING RETURNING 1
                        """, binds: binds)
                inserted += try await connection.rows(query, self.logger).count
                start += rows.count
            }
            return inserted
        }
    }

    @discardableResult
    public func recordFeedback(_ batch: [FeedbackRecord]) async throws -> Int {
        guard !batch.isEmpty else { return 0 }
        return try await transaction { connection in
            var replaced = 0
            for f in batch {
                let earlier = try await connection.rows(
                    "SELECT 1 FROM feedback WHERE prediction_id = \(f.predictionID) AND kind = \(f.kind.rawValue) LIMIT 1",
                    self.logger)
                if !earlier.isEmpty { replaced += 1 }
                try await connection.rows(
                    """
                    INSERT INTO feedback (prediction_id, actual, kind, at)
                    VALUES (\(f.predictionID), \(f.value), \(f.kind.rawValue), \(f.at.timeIntervalSince1970))
                    """, self.logger)
            }
            return replaced
        }
    }

    public func predictions(_ filter: PredictionFilter) async throws -> [PredictionRecord] {
        try await records(PredictionRecord.self, Self.query(filter.select(PostgresSchema.predictionColumns, .postgres)))
    }

    public func answers(_ filter: PredictionFilter) async throws -> [AnsweredPrediction] {
        let columns = [
            PostgresSchema.predictionColumns, PredictionFilter.latestFeedback(.actual, .postgres),
            PredictionFilter.latestFeedback(.override, .postgres),
        ]
        return try await records(
            AnsweredPrediction.self, Self.query(filter.select(columns.joined(separator: ", "), .postgres)))
    }

    public func countPredictions(_ filter: PredictionFilter) async throws -> Int {
        try await count(filter.select("COUNT(*)", .postgres, count: true))
    }

    public func predictionWindows(_ query: PredictionWindows) async throws -> [PredictionWindowAggregate] {
        guard !query.bounds.isEmpty else { return [] }
        return query.aggregates(
            counts: try await records(PredictionWindowCount.self, Self.query(query.countsStatement(.postgres))),
            totals: try await records(PredictionWindowTotals.self, Self.query(query.totalsStatement(.postgres))))
    }

    /// A built statement as postgres-nio's query, its values bound in order.
    static func query(_ statement: SQLStatement) -> PostgresQuery {
        var binds = PostgresBindings(capacity: statement.values.count)
        for value in statement.values {
            switch value {
            case .text(let v): binds.append(v)
            case .real(let v): binds.append(v)
            case .integer(let v): binds.append(v)
            }
        }
        return PostgresQuery(unsafeSQL: statement.sql, binds: binds)
    }

    public func predictionModels(_ ids: [String]) async throws -> [String: String] {
        guard !ids.isEmpty else { return [:] }
        var out = [String: String]()
        for row in try await execute("SELECT id, model FROM prediction WHERE id = ANY(\(ids))") {
            let (id, model) = try row.decode((String, String).self)
            out[id] = model
        }
        return out
    }

    public func feedback(predictionIDs: [String]) async throws -> [FeedbackRecord] {
        guard !predictionIDs.isEmpty else { return [] }
        return try await records(
            FeedbackRecord.self,
            """
            SELECT prediction_id AS "predictionID", actual AS value, kind, at FROM feedback
            WHERE prediction_id = ANY(\(predictionIDs)) ORDER BY at, id
            """)
    }

    public func recordAlert(_ alert: AlertRecord) async throws -> Int {
        let rows = try await execute(
            """
            INSERT INTO alert (model, name, severity, rule, value, threshold, window_start, window_end, reason, at,
                               delivery)
            VALUES (\(alert.model), \(alert.name), \(alert.severity), \(alert.rule), \(alert.value), \(alert.threshold),
                    \(alert.windowStart.timeIntervalSince1970), \(alert.windowEnd.timeIntervalSince1970),
                    \(alert.reason), \(alert.at.timeIntervalSince1970), \(alert.delivery))
            RETURNING id
            """)
        guard let row = rows.first else { throw StoreError.notFound("the new alert") }
        return Int(try row.decode(Int64.self))
    }

    public func setAlertDelivery(_ id: Int, _ delivery: String) async throws {
        try await execute("UPDATE alert SET delivery = \(delivery) WHERE id = \(id)")
    }

    public func alerts(model: String?, limit: Int) async throws -> [AlertRecord] {
        try await records(
            AlertRecord.self,
            """
            SELECT id, model, name, severity, rule, value, threshold, window_start AS "windowStart",
                   window_end AS "windowEnd", reason, at, delivery
            FROM alert WHERE (\(model)::text IS NULL OR model = \(model)) ORDER BY at DESC, id DESC LIMIT \(limit)
            """)
    }
}

extension PostgresStore {
    // MARK: The work queue

    public func enqueueWork(_ items: [NewWorkItem]) async throws -> [Int64] {
        try await transaction { connection in
            var ids = [Int64]()
            for item in items {
                let rows = try await connection.rows(
                    """
                    INSERT INTO work_item (batch, kind, payload, state, created)
                    VALUES (\(item.batch), \(item.kind), \(item.payload), 'queued', \(Self.now())) RETURNING id
                    """, self.logger)
                guard let row = rows.first else { throw StoreError.notFound("the new work item") }
                ids.append(try row.decode(Int64.self))
            }
            return ids
        }
    }

    public func claimWork(kinds: [String], worker: String, lease: Double) async throws -> WorkItem? {
        guard !kinds.isEmpty else { return nil }
        let now = Self.now()
        // An item whose workers kept dying is failed rather than claimed once more.
        try await execute(
            """
            UPDATE work_item SET state = 'failed', finished = \(now),
                   error = 'its worker stopped renewing the lease ' || attempts || ' times (killed, or out of memory)'
            WHERE state = 'running' AND lease_until < \(now) AND attempts >= \(WorkItem.maximumAttempts)
            """)
        // SKIP LOCKED: a worker claiming at the same moment passes over the row this one locked and takes the next.
        return try await returnedRecords(
            WorkItem.self,
            """
            UPDATE work_item SET state = 'running', worker = \(worker), lease_until = \(now + lease),
                   attempts = attempts + 1
            WHERE id = (SELECT id FROM work_item
                        WHERE kind = ANY(\(kinds)) AND (state = 'queued' OR (state = 'running' AND lease_until < \(now)))
                        ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING \(unescaped: PostgresSchema.workItemColumns)
            """
        ).first
    }

    public func renewWorkLease(_ id: Int64, worker: String, lease: Double) async throws -> Bool {
        try await !execute(
            """
            UPDATE work_item SET lease_until = \(Self.now() + lease)
            WHERE id = \(id) AND worker = \(worker) AND state = 'running' RETURNING 1
            """
        ).isEmpty
    }

    public func finishWork(_ id: Int64, worker: String, result: String?, error: String?) async throws -> Bool {
        try await !execute(
            """
            UPDATE work_item SET state = \(error == nil ? "done" : "failed"), result = \(result), error = \(error),
                   finished = \(Self.now())
            WHERE id = \(id) AND worker = \(worker) AND state = 'running' RETURNING 1
            """
        ).isEmpty
    }

    public func work(batch: String) async throws -> [WorkItem] {
        try await records(
            WorkItem.self,
            "SELECT \(unescaped: PostgresSchema.workItemColumns) FROM work_item WHERE batch = \(batch) ORDER BY id")
    }

    public func cancelWork(batch: String) async throws {
        try await execute(
            """
            UPDATE work_item SET state = 'cancelled', finished = \(Self.now())
            WHERE batch = \(batch) AND state IN ('queued', 'running')
            """)
    }
}

/// A `postgres://` URL taken apart: where to connect, as whom, and with which TLS.
package struct PostgresURL {
    var host: String
    var port: Int
    var user: String
    var password: String?
    var database: String
    var tls: PostgresClient.Configuration.TLS
    /// TLS settings from `sslmode` (nil: `disable`), and whether a connection without TLS is refused.
    var tlsConfiguration: TLSConfiguration?
    var tlsRequired: Bool
    /// The URL without its password, for messages.
    package var location: String

    /// The settings of a pool of at most `connections` connections to this server (closed after a minute idle).
    package func poolConfiguration(timeout: Duration, connections: Int) -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: tls)
        configuration.options.connectTimeout = timeout
        configuration.options.maximumConnections = connections
        configuration.options.connectionIdleTimeout = .seconds(60)
        return configuration
    }

    /// The settings of one connection (not a pool) to this server.
    package func connectionConfiguration(timeout: Duration) throws -> PostgresConnection.Configuration {
        var tls = PostgresConnection.Configuration.TLS.disable
        if let tlsConfiguration {
            let context = try NIOSSLContext(configuration: tlsConfiguration)
            tls = tlsRequired ? .require(context) : .prefer(context)
        }
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: tls)
        configuration.options.connectTimeout = .seconds(max(1, timeout.components.seconds))
        return configuration
    }

    package init(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let form = "write postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require|verify-full]"
        guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? "") else {
            throw StoreError.invalid("'\(Self.redacted(text))' is not a PostgreSQL URL: \(form)")
        }
        guard let host = url.host, !host.isEmpty else {
            throw StoreError.invalid("the store URL names no host: \(form)")
        }
        self.host = host
        port = url.port ?? 5432
        user = url.user ?? environment["PGUSER"] ?? environment["USER"] ?? "postgres"
        password = url.password ?? environment["PGPASSWORD"]
        let path = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
        database = path.isEmpty ? user : path
        let mode = url.queryItems?.first { $0.name == "sslmode" }?.value ?? "prefer"
        var config = TLSConfiguration.makeClientConfiguration()
        switch mode {
        case "disable": tlsConfiguration = nil
        case "allow", "prefer", "require": config.certificateVerification = .none
        case "verify-ca": config.certificateVerification = .noHostnameVerification
        case "verify-full": break
        default:
            throw StoreError.invalid(
                "sslmode '\(mode)' is not one of disable, allow, prefer, require, verify-ca, verify-full")
        }
        if mode != "disable" { tlsConfiguration = config }
        tlsRequired = !["disable", "allow", "prefer"].contains(mode)
        if let tlsConfiguration {
            tls = tlsRequired ? .require(tlsConfiguration) : .prefer(tlsConfiguration)
        } else {
            tls = .disable
        }
        location = "postgres://\(user)@\(host):\(port)/\(database)"
    }

    /// `text` with any password replaced by `***`.
    package static func redacted(_ text: String) -> String {
        guard var url = URLComponents(string: text), url.password != nil else { return text }
        url.password = "***"
        return url.string ?? "postgres://…"
    }
}

extension PostgresConnection {
    /// Runs a statement and reads all its rows: an error PostgreSQL sends with the rows (a unique violation, a lock
    /// not granted) is thrown here, not lost with unread rows.
    @discardableResult
    func rows(_ query: PostgresQuery, _ logger: Logger) async throws -> [PostgresRow] {
        try await self.query(query, logger: logger).collect()
    }

    /// Holds, until the transaction ends, the lock on `name` of `kind` (a model's version numbers, its aliases, its
    /// release), so two writers of the same thing take turns.
    func lock(_ kind: String, _ name: String, _ logger: Logger) async throws {
        try await rows("SELECT pg_advisory_xact_lock(hashtext(\("mlcycle-" + kind)), hashtext(\(name)))", logger)
    }
}
