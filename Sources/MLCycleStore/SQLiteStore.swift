import Foundation
import GRDB
import MLCycleData

#if canImport(Glibc)
    import Glibc
#endif

/// The embedded store: one SQLite database (`store.sqlite`, WAL mode, so readers never block the writer and two
/// processes can share it) plus content-addressed artefact files under `artifacts/`, in one directory (by default
/// `.mlcycle/` in the project). Every write is a transaction; a busy database is waited on, not failed.
public final class SQLiteStore: Store, @unchecked Sendable {
    public let directory: String
    let pool: DatabasePool

    /// Opens (creating and migrating as needed) the store in `directory`.
    public init(directory: String) throws {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(
                atPath: (directory as NSString).appendingPathComponent("artifacts"), withIntermediateDirectories: true)
        } catch {
            throw StoreError.invalid("cannot create the store folder \(directory): \(error.localizedDescription)")
        }
        var config = Configuration()
        config.busyMode = .timeout(30)
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA foreign_keys = ON") }
        // Two processes opening a new store at the same moment would both switch the file to WAL (SQLite answers the
        // second with "locked", without waiting) and both apply the first migration: opening and migrating hold an
        // exclusive lock on `open.lock`, and a "locked" answer is retried after a short pause, for up to 30 s.
        let path = (directory as NSString).appendingPathComponent("store.sqlite")
        let lock = open((directory as NSString).appendingPathComponent("open.lock"), O_CREAT | O_RDWR, 0o644)
        if lock >= 0 { _ = flock(lock, LOCK_EX) }
        defer {
            if lock >= 0 {
                _ = flock(lock, LOCK_UN)
                close(lock)
            }
        }
        var attempt = 0
        while true {
            do {
                let pool = try DatabasePool(path: path, configuration: config)
                try Self.migrator.migrate(pool)
                self.pool = pool
                break
            } catch let e as DatabaseError
                where (e.resultCode == .SQLITE_BUSY || e.resultCode == .SQLITE_LOCKED) && attempt < 300
            {
                attempt += 1
                Thread.sleep(forTimeInterval: 0.05 + Double(attempt % 5) * 0.02)
            } catch {
                throw StoreError.opening(path, Self.storeError(error))
            }
        }
    }

    /// Schema versions, applied in order and recorded in the database (`grdb_migrations`). Plain SQL that PostgreSQL
    /// also reads, but for the auto-increment keys and the audit log's guard triggers.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE project (name TEXT PRIMARY KEY, created DOUBLE PRECISION NOT NULL);
                    CREATE TABLE dataset (fingerprint TEXT PRIMARY KEY, rows INTEGER NOT NULL, schema TEXT NOT NULL,
                                          sources TEXT NOT NULL, profile_artifact TEXT, created DOUBLE PRECISION NOT NULL);
                    CREATE TABLE run (id INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL REFERENCES project(name),
                                      stage TEXT NOT NULL, status TEXT NOT NULL, started DOUBLE PRECISION NOT NULL, ended DOUBLE PRECISION,
                                      input_hash TEXT NOT NULL, params TEXT NOT NULL, tags TEXT NOT NULL, outputs TEXT NOT NULL,
                                      spec_hash TEXT, git_commit TEXT, mlcycle_version TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL);
                    CREATE INDEX run_cache ON run(project, stage, input_hash, status);
                    CREATE TABLE metric (run INTEGER NOT NULL REFERENCES run(id), name TEXT NOT NULL, value DOUBLE PRECISION NOT NULL,
                                         step INTEGER NOT NULL, at DOUBLE PRECISION NOT NULL);
                    CREATE INDEX metric_run ON metric(run);
                    CREATE TABLE run_log (run INTEGER NOT NULL REFERENCES run(id), seq INTEGER NOT NULL, line TEXT NOT NULL, at DOUBLE PRECISION NOT NULL);
                    CREATE INDEX run_log_run ON run_log(run, seq);
                    CREATE TABLE artifact (sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, created DOUBLE PRECISION NOT NULL);
                    CREATE TABLE model_version (name TEXT NOT NULL, version INTEGER NOT NULL, bundle TEXT NOT NULL REFERENCES artifact(sha256),
                                                metrics TEXT NOT NULL, gates_passed BOOLEAN NOT NULL, gates TEXT NOT NULL,
                                                run INTEGER REFERENCES run(id), datasets TEXT NOT NULL, spec_hash TEXT,
                                                created DOUBLE PRECISION NOT NULL, PRIMARY KEY (name, version));
                    CREATE TABLE alias (name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,
                                        PRIMARY KEY (name, alias), FOREIGN KEY (name, version) REFERENCES model_version(name, version));
                    CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at DOUBLE PRECISION NOT NULL, actor TEXT NOT NULL,
                                        action TEXT NOT NULL, model TEXT, version INTEGER, alias TEXT, previous_version INTEGER, reason TEXT NOT NULL);
                    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                    """)
        }
        m.registerMigration("v2") { db in
            try db.execute(
                sql: """
                    CREATE TABLE prediction (id TEXT PRIMARY KEY, model TEXT NOT NULL, version TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
                                             latency DOUBLE PRECISION NOT NULL, inputs TEXT NOT NULL, prediction TEXT, status TEXT NOT NULL);
                    CREATE INDEX prediction_model_at ON prediction(model, at);
                    CREATE TABLE feedback (prediction_id TEXT NOT NULL, actual TEXT NOT NULL, source TEXT NOT NULL, at DOUBLE PRECISION NOT NULL);
                    CREATE INDEX feedback_prediction ON feedback(prediction_id);
                    """)
        }
        m.registerMigration("v3") { db in
            try db.execute(
                sql: """
                    CREATE TABLE alert (id INTEGER PRIMARY KEY AUTOINCREMENT, model TEXT NOT NULL, name TEXT NOT NULL, severity TEXT NOT NULL,
                                        rule TEXT NOT NULL, value DOUBLE PRECISION, threshold DOUBLE PRECISION NOT NULL,
                                        window_start DOUBLE PRECISION NOT NULL, window_end DOUBLE PRECISION NOT NULL, reason TEXT NOT NULL,
                                        at DOUBLE PRECISION NOT NULL, delivery TEXT NOT NULL);
                    CREATE INDEX alert_model_name ON alert(model, name, at);
                    """)
        }
        m.registerMigration("v4") { db in
            try db.execute(
                sql: """
                    ALTER TABLE prediction ADD COLUMN confidence DOUBLE PRECISION;
                    ALTER TABLE prediction ADD COLUMN low_confidence INTEGER NOT NULL DEFAULT 0;
                    """)
        }
        // Feedback has a kind (actual or override), and each version's rows are read on their own.
        m.registerMigration("v5") { db in
            try db.execute(
                sql: """
                    ALTER TABLE feedback RENAME COLUMN source TO kind;
                    UPDATE feedback SET kind = 'actual' WHERE kind <> 'override';
                    CREATE INDEX feedback_prediction_kind ON feedback(prediction_id, kind, at);
                    CREATE INDEX prediction_model_version_at ON prediction(model, version, at);
                    """)
        }
        // Progressive releases: one under way per model.
        m.registerMigration("v6") { db in
            try db.execute(
                sql: """
                    CREATE TABLE release (name TEXT PRIMARY KEY, version INTEGER NOT NULL, step INTEGER NOT NULL,
                                          share DOUBLE PRECISION NOT NULL, started DOUBLE PRECISION NOT NULL,
                                          since DOUBLE PRECISION NOT NULL);
                    """)
        }
        // Why a row was answered for review (or not at all), and the review queue read by status.
        m.registerMigration("v7") { db in
            try db.execute(
                sql: """
                    ALTER TABLE prediction ADD COLUMN reasons TEXT;
                    CREATE INDEX prediction_model_status_at ON prediction(model, status, at);
                    """)
        }
        // A release rolls back after its promotion condition failed so many checks in a row.
        m.registerMigration("v8") { db in
            try db.execute(sql: "ALTER TABLE release ADD COLUMN failed_checks INTEGER NOT NULL DEFAULT 0")
        }
        // The work queue `mlcycle worker` takes from.
        m.registerMigration("v9") { db in
            try db.execute(
                sql: """
                    CREATE TABLE work_item (id INTEGER PRIMARY KEY AUTOINCREMENT, batch TEXT NOT NULL, kind TEXT NOT NULL,
                                            payload TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
                                            worker TEXT, lease_until DOUBLE PRECISION, result TEXT, error TEXT,
                                            created DOUBLE PRECISION NOT NULL, finished DOUBLE PRECISION);
                    CREATE INDEX work_item_claim ON work_item(kind, state, id);
                    CREATE INDEX work_item_batch ON work_item(batch, id);
                    """)
        }
        // A project's runs listed newest first, a page at a time.
        m.registerMigration("v10") { db in try db.execute(sql: "CREATE INDEX run_project_id ON run(project, id)") }
        // A model's audit trail read newest first, a page at a time.
        m.registerMigration("v11") { db in try db.execute(sql: "CREATE INDEX audit_model_id ON audit(model, id)") }
        return m
    }

    // MARK: Helpers

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do { return try await pool.write(body) } catch { throw Self.storeError(error) }
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do { return try await pool.read(body) } catch { throw Self.storeError(error) }
    }

    /// SQLite's errors as the store's: a unique violation, a busy database and damage are told apart.
    static func storeError(_ error: any Error) -> any Error {
        switch error {
        case let e as DatabaseError:
            let message = e.message ?? e.description
            switch e.extendedResultCode {
            case .SQLITE_CONSTRAINT_UNIQUE, .SQLITE_CONSTRAINT_PRIMARYKEY: return StoreError.conflict(message)
            default: break
            }
            switch e.resultCode {
            case .SQLITE_BUSY, .SQLITE_LOCKED: return StoreError.busy(message)
            case .SQLITE_CORRUPT, .SQLITE_NOTADB: return StoreError.damaged(message)
            case .SQLITE_CANTOPEN, .SQLITE_IOERR, .SQLITE_FULL: return StoreError.unavailable(message)
            default: return StoreError.database(code: "SQLite \(e.extendedResultCode.rawValue)", message: message)
            }
        case let e as RowDecodingError: return StoreError.damaged(String(describing: e))
        case let e as DecodingError: return StoreError.damaged(String(describing: e))
        default: return error
        }
    }

    // MARK: Projects and datasets

    public func ensureProject(_ name: String) async throws {
        try await write { db in try Self.ensureProject(db, name) }
    }

    static func ensureProject(_ db: Database, _ name: String) throws {
        try db.execute(
            sql: "INSERT INTO project (name, created) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            arguments: [name, Date().timeIntervalSince1970])
    }

    @discardableResult
    public func recordDataset(_ s: DatasetSnapshot) async throws -> DatasetSnapshot {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO dataset (fingerprint, rows, schema, sources, profile_artifact, created) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (fingerprint) DO NOTHING
                    """,
                arguments: [
                    s.fingerprint, s.rows, storedJSON(s.schema), storedJSON(s.sources), s.profileArtifact,
                    s.created.timeIntervalSince1970,
                ])
            return try DatasetSnapshot.fetchOne(
                db, sql: "SELECT * FROM dataset WHERE fingerprint = ?", arguments: [s.fingerprint]) ?? s
        }
    }

    public func dataset(fingerprint: String) async throws -> DatasetSnapshot? {
        try await read { db in
            try DatasetSnapshot.fetchOne(
                db, sql: "SELECT * FROM dataset WHERE fingerprint = ?", arguments: [fingerprint])
        }
    }

    public func attachProfile(fingerprint: String, artifact: String) async throws {
        try await write { db in
            try db.execute(
                sql: "UPDATE dataset SET profile_artifact = ? WHERE fingerprint = ?",
                arguments: [artifact, fingerprint])
            if db.changesCount == 0 { throw StoreError.notFound("dataset \(fingerprint)") }
        }
    }

    // MARK: Runs

    public func startRun(_ n: NewRun) async throws -> RunRecord {
        try await write { db in
            try Self.ensureProject(db, n.project)
            try db.execute(
                sql: """
                    INSERT INTO run (project, stage, status, started, input_hash, params, tags, outputs, spec_hash, git_commit, mlcycle_version, host, pid)
                    VALUES (?, ?, 'running', ?, ?, ?, ?, '{}', ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    n.project, n.stage, Date().timeIntervalSince1970, n.inputHash, storedJSON(n.params),
                    storedJSON(n.tags), n.specHash, n.gitCommit, n.mlcycleVersion, n.host, n.pid,
                ])
            let id = db.lastInsertedRowID
            guard let run = try RunRecord.fetchOne(db, sql: "SELECT * FROM run WHERE id = ?", arguments: [id]) else {
                throw StoreError.notFound("the new run \(id)")
            }
            return run
        }
    }

    public func logMetric(run: Int64, name: String, value: Double, step: Int) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO metric (run, name, value, step, at) VALUES (?, ?, ?, ?, ?)",
                arguments: [run, name, value, step, Date().timeIntervalSince1970])
        }
    }

    public func appendLog(run: Int64, _ line: String) async throws {
        try await write { db in try Self.appendLog(db, run: run, line) }
    }

    static func appendLog(_ db: Database, run: Int64, _ line: String) throws {
        try db.execute(
            sql: """
                INSERT INTO run_log (run, seq, line, at)
                VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM run_log WHERE run = ?), ?, ?)
                """,
            arguments: [run, run, line, Date().timeIntervalSince1970])
    }

    public func finishRun(_ id: Int64, status: RunStatus, outputs: [String: String]) async throws {
        try await write { db in
            try db.execute(
                sql: "UPDATE run SET status = ?, ended = ?, outputs = ? WHERE id = ?",
                arguments: [status.rawValue, Date().timeIntervalSince1970, storedJSON(outputs), id])
            if db.changesCount == 0 { throw StoreError.notFound("run \(id)") }
        }
    }

    public func run(_ id: Int64) async throws -> RunRecord? {
        try await read { db in try RunRecord.fetchOne(db, sql: "SELECT * FROM run WHERE id = ?", arguments: [id]) }
    }

    public func projects() async throws -> [String] {
        try await read { db in try String.fetchAll(db, sql: "SELECT name FROM project ORDER BY name") }
    }

    public func runs(_ filter: RunFilter) async throws -> [RunRecord] {
        let statement = filter.select("*", .sqlite)
        return try await read { db in
            try RunRecord.fetchAll(db, sql: statement.sql, arguments: Self.arguments(statement))
        }
    }

    public func countRuns(_ filter: RunFilter) async throws -> Int {
        try await count(filter.select("COUNT(*)", .sqlite, count: true))
    }

    /// The number a `SELECT COUNT(*)` statement answers.
    func count(_ statement: SQLStatement) async throws -> Int {
        try await read { db in try Int.fetchOne(db, sql: statement.sql, arguments: Self.arguments(statement)) ?? 0 }
    }

    public func metrics(run: Int64) async throws -> [MetricPoint] {
        try await read { db in
            try MetricPoint.fetchAll(
                db, sql: "SELECT name, value, step, at FROM metric WHERE run = ? ORDER BY name, step", arguments: [run])
        }
    }

    public func logs(run: Int64) async throws -> [String] {
        try await read { db in
            try String.fetchAll(db, sql: "SELECT line FROM run_log WHERE run = ? ORDER BY seq", arguments: [run])
        }
    }

    public func cachedRun(project: String, stage: String, inputHash: String) async throws -> RunRecord? {
        try await read { db in
            try RunRecord.fetchOne(
                db,
                sql: """
                    SELECT * FROM run WHERE project = ? AND stage = ? AND input_hash = ? AND status = 'finished' ORDER BY id DESC LIMIT 1
                    """, arguments: [project, stage, inputHash])
        }
    }

    public func recoverAbandonedRuns() async throws -> [Int64] {
        let host = ProcessInfo.processInfo.hostName
        let abandoned: [Int64] = try await write { db in
            // A run is abandoned when its process is gone (same host only: another machine's runs are not ours).
            let running = try Row.fetchAll(
                db, sql: "SELECT id, pid FROM run WHERE status = 'running' AND host = ?", arguments: [host])
            var ids = [Int64]()
            for row in running {
                let id: Int64 = row["id"]
                let pid: Int32 = row["pid"]
                guard !Self.processAlive(pid) else { continue }
                try db.execute(
                    sql: "UPDATE run SET status = 'failed', ended = ? WHERE id = ? AND status = 'running'",
                    arguments: [Date().timeIntervalSince1970, id])
                try Self.appendLog(
                    db, run: id, "marked failed: its process (pid \(pid)) ended without finishing the run")
                ids.append(id)
            }
            return ids
        }
        // Artefact files a killed process was still writing: never renamed into place, never referenced.
        for orphan in AtomicFile.orphans(in: (directory as NSString).appendingPathComponent("artifacts")) {
            try? FileManager.default.removeItem(atPath: orphan)
        }
        return abandoned
    }

    /// What SQLite's `PRAGMA integrity_check` finds wrong with the database file: empty when it is sound.
    public func integrityProblems() async throws -> [String] {
        try await read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }.filter { $0 != "ok" }
    }

    static func processAlive(_ pid: Int32) -> Bool {
        if pid == ProcessInfo.processInfo.processIdentifier { return true }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    // MARK: Artefacts

    func artifactPath(_ sha: String) -> String {
        (directory as NSString).appendingPathComponent("artifacts/\(sha.prefix(2))/\(sha)")
    }

    @discardableResult
    public func putArtifact(_ data: Data) async throws -> String {
        let sha = MLCycleData.SHA256.hex(data)
        let path = artifactPath(sha)
        if !FileManager.default.fileExists(atPath: path) {
            do {
                try FileManager.default.createDirectory(
                    atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try AtomicFile.write(data, to: path)  // temp file + rename: a reader never sees half a file
            } catch {
                throw StoreError.io("cannot write the artefact \(path): \(error.localizedDescription)")
            }
        }
        try await write { db in
            try db.execute(
                sql: "INSERT INTO artifact (sha256, size, created) VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
                arguments: [sha, data.count, Date().timeIntervalSince1970])
        }
        return sha
    }

    public func artifact(_ sha: String) async throws -> Data {
        let path = artifactPath(sha)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StoreError.notFound("artefact \(sha) (\(path))")
        }
        guard MLCycleData.SHA256.hex(data) == sha else { throw StoreError.corruptArtifact(sha256: sha, path: path) }
        return data
    }

    // MARK: Models, aliases, audit

    public func registerModel(_ v: NewModelVersion, actor: String) async throws -> ModelVersion {
        try await write { db in
            guard
                try Bool.fetchOne(
                    db, sql: "SELECT EXISTS (SELECT 1 FROM artifact WHERE sha256 = ?)", arguments: [v.bundle]) == true
            else {
                throw StoreError.invalid("the bundle \(v.bundle) is not a stored artefact; put it first")
            }
            let next =
                try Int.fetchOne(
                    db, sql: "SELECT COALESCE(MAX(version), 0) + 1 FROM model_version WHERE name = ?",
                    arguments: [v.name]) ?? 1
            try db.execute(
                sql: """
                    INSERT INTO model_version (name, version, bundle, metrics, gates_passed, gates, run, datasets, spec_hash, created)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    v.name, next, v.bundle, storedJSON(v.metrics), v.gatesPassed, storedJSON(v.gates), v.run,
                    storedJSON(v.datasets), v.specHash, Date().timeIntervalSince1970,
                ])
            try Self.audit(
                db, actor: actor, action: "register", model: v.name, version: next, alias: nil, previous: nil,
                reason: v.gatesPassed ? "gates passed" : "gates failed")
            guard
                let stored = try ModelVersion.fetchOne(
                    db, sql: "SELECT * FROM model_version WHERE name = ? AND version = ?", arguments: [v.name, next])
            else { throw StoreError.notFound("model \(v.name) v\(next)") }
            return stored
        }
    }

    static func audit(
        _ db: Database, actor: String, action: String, model: String?, version: Int?, alias: String?, previous: Int?,
        reason: String
    ) throws {
        try db.execute(
            sql: """
                INSERT INTO audit (at, actor, action, model, version, alias, previous_version, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [Date().timeIntervalSince1970, actor, action, model, version, alias, previous, reason])
    }

    public func modelNames() async throws -> [String] {
        try await read { db in try String.fetchAll(db, sql: "SELECT DISTINCT name FROM model_version ORDER BY name") }
    }

    public func modelVersions(_ name: String) async throws -> [ModelVersion] {
        try await read { db in
            try ModelVersion.fetchAll(
                db, sql: "SELECT * FROM model_version WHERE name = ? ORDER BY version", arguments: [name])
        }
    }

    public func newestModelVersions(_ name: String, offset: Int, limit: Int) async throws -> [ModelVersion] {
        try await read { db in
            try ModelVersion.fetchAll(
                db, sql: "SELECT * FROM model_version WHERE name = ? ORDER BY version DESC LIMIT ? OFFSET ?",
                arguments: [name, max(0, limit), max(0, offset)])
        }
    }

    public func modelVersionCount(_ name: String) async throws -> Int {
        try await read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM model_version WHERE name = ?", arguments: [name]) ?? 0
        }
    }

    public func modelVersion(_ name: String, version: Int) async throws -> ModelVersion? {
        try await read { db in
            try ModelVersion.fetchOne(
                db, sql: "SELECT * FROM model_version WHERE name = ? AND version = ?", arguments: [name, version])
        }
    }

    public func setAlias(_ name: String, alias: String, version: Int?, actor: String, action: String, reason: String)
        async throws
    {
        try await write { db in
            let previous = try Int.fetchOne(
                db, sql: "SELECT version FROM alias WHERE name = ? AND alias = ?", arguments: [name, alias])
            if let version {
                guard
                    try Bool.fetchOne(
                        db, sql: "SELECT EXISTS (SELECT 1 FROM model_version WHERE name = ? AND version = ?)",
                        arguments: [name, version]) == true
                else {
                    throw StoreError.notFound("model \(name) version \(version)")
                }
                try db.execute(
                    sql: """
                        INSERT INTO alias (name, alias, version) VALUES (?, ?, ?) ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version
                        """, arguments: [name, alias, version])
            } else {
                try db.execute(sql: "DELETE FROM alias WHERE name = ? AND alias = ?", arguments: [name, alias])
            }
            try Self.audit(
                db, actor: actor, action: action, model: name, version: version, alias: alias, previous: previous,
                reason: reason)
        }
    }

    public func aliases(_ name: String) async throws -> [String: Int] {
        try await read { db in
            var out = [String: Int]()
            for r in try Row.fetchAll(db, sql: "SELECT alias, version FROM alias WHERE name = ?", arguments: [name]) {
                out[r["alias"]] = r["version"]
            }
            return out
        }
    }

    public func previousVersion(_ name: String, alias: String) async throws -> Int? {
        try await read { db in
            try Int.fetchOne(
                db,
                sql: """
                    SELECT previous_version FROM audit WHERE model = ? AND alias = ? AND version IS NOT NULL ORDER BY id DESC LIMIT 1
                    """, arguments: [name, alias])
        }
    }

    public func audit(model: String?) async throws -> [AuditEntry] {
        try await read { db in
            try AuditEntry.fetchAll(
                db, sql: "SELECT * FROM audit WHERE (? IS NULL OR model = ?) ORDER BY id", arguments: [model, model])
        }
    }

    public func audit(_ filter: AuditFilter) async throws -> [AuditEntry] {
        let statement = filter.select("*", .sqlite)
        return try await read { db in
            try AuditEntry.fetchAll(db, sql: statement.sql, arguments: Self.arguments(statement))
        }
    }

    // MARK: Predictions and feedback

    @discardableResult
    public func logPredictions(_ batch: [PredictionRecord]) async throws -> Int {
        guard !batch.isEmpty else { return 0 }
        // One transaction; rows go 90 to a statement (990 parameters: under the 999 of SQLite before 3.32),
        // prepared once per connection and reused (measured faster than a record insert per row: the log's hot path);
        // a row whose id is stored already is skipped, so a batch written twice (a spool drained again) is stored once.
        let rowsPerStatement = 90
        @Sendable func sql(_ rows: Int) -> String {
            "INSERT INTO prediction (id, model, version, at, latency, inputs, prediction, status, confidence, "
                + "low_confidence, reasons) VALUES "
                + Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: rows).joined(separator: ", ")
                + " ON CONFLICT (id) DO NOTHING"
        }
        return try await write { db in
            var start = 0
            var inserted = 0
            while start < batch.count {
                let rows = min(rowsPerStatement, batch.count - start)
                let statement = try db.cachedStatement(sql: sql(rows))
                var arguments = StatementArguments()
                for p in batch[start..<start + rows] {
                    arguments += [
                        p.id, p.model, p.version, p.at.timeIntervalSince1970, p.latencySeconds, p.inputs,
                        p.prediction, p.status, p.confidence, p.lowConfidence ? 1 : 0,
                        p.reasons.flatMap { $0.isEmpty ? nil : storedJSON($0) },
                    ]
                }
                try statement.execute(arguments: arguments)
                inserted += db.changesCount
                start += rows
            }
            return inserted
        }
    }

    @discardableResult
    public func recordFeedback(_ batch: [FeedbackRecord]) async throws -> Int {
        guard !batch.isEmpty else { return 0 }
        return try await write { db in
            let earlier = try db.cachedStatement(
                sql: "SELECT COUNT(*) FROM feedback WHERE prediction_id = ? AND kind = ?")
            let insert = try db.cachedStatement(
                sql: "INSERT INTO feedback (prediction_id, actual, kind, at) VALUES (?, ?, ?, ?)")
            var replaced = 0
            for f in batch {
                if try Int.fetchOne(earlier, arguments: [f.predictionID, f.kind.rawValue]) ?? 0 > 0 { replaced += 1 }
                try insert.execute(arguments: [f.predictionID, f.value, f.kind.rawValue, f.at.timeIntervalSince1970])
            }
            return replaced
        }
    }

    /// The prediction table's columns under the names of `PredictionRecord`'s properties.
    static let predictionColumns =
        "id, model, version, at, latency AS latency_seconds, inputs, prediction, status, confidence, low_confidence, reasons"

    public func predictions(_ filter: PredictionFilter) async throws -> [PredictionRecord] {
        let statement = filter.select(Self.predictionColumns, .sqlite)
        return try await read { db in
            try PredictionRecord.fetchAll(db, sql: statement.sql, arguments: Self.arguments(statement))
        }
    }

    public func answers(_ filter: PredictionFilter) async throws -> [AnsweredPrediction] {
        let columns = [
            Self.predictionColumns, PredictionFilter.latestFeedback(.actual, .sqlite),
            PredictionFilter.latestFeedback(.override, .sqlite),
        ]
        let statement = filter.select(columns.joined(separator: ", "), .sqlite)
        return try await read { db in
            try AnsweredPrediction.fetchAll(db, sql: statement.sql, arguments: Self.arguments(statement))
        }
    }

    public func countPredictions(_ filter: PredictionFilter) async throws -> Int {
        try await count(filter.select("COUNT(*)", .sqlite, count: true))
    }

    public func predictionWindows(_ query: PredictionWindows) async throws -> [PredictionWindowAggregate] {
        guard !query.bounds.isEmpty else { return [] }
        let counts = query.countsStatement(.sqlite)
        let totals = query.totalsStatement(.sqlite)
        return try await read { db in
            query.aggregates(
                counts: try PredictionWindowCount.fetchAll(db, sql: counts.sql, arguments: Self.arguments(counts)),
                totals: try PredictionWindowTotals.fetchAll(db, sql: totals.sql, arguments: Self.arguments(totals)))
        }
    }

    static func arguments(_ statement: SQLStatement) -> StatementArguments {
        StatementArguments(
            statement.values.map { value -> any DatabaseValueConvertible in
                switch value {
                case .text(let v): return v
                case .real(let v): return v
                case .integer(let v): return v
                }
            })
    }

    public func predictionModels(_ ids: [String]) async throws -> [String: String] {
        guard !ids.isEmpty else { return [:] }
        return try await read { db in
            let rows = try Self.inChunks(ids) { chunk, marks in
                try Row.fetchAll(
                    db, sql: "SELECT id, model FROM prediction WHERE id IN (\(marks))",
                    arguments: StatementArguments(chunk))
            }
            return Dictionary(rows.map { ($0["id"] as String, $0["model"] as String) }) { a, _ in a }
        }
    }

    public func release(_ name: String) async throws -> ReleaseState? {
        try await read { db in
            try ReleaseState.fetchOne(db, sql: "SELECT * FROM release WHERE name = ?", arguments: [name])
        }
    }

    public func setRelease(_ name: String, _ state: ReleaseState?, actor: String, action: String, reason: String)
        async throws
    {
        try await write { db in
            let previous = try Int.fetchOne(db, sql: "SELECT version FROM release WHERE name = ?", arguments: [name])
            if let state {
                try db.execute(
                    sql: """
                        INSERT INTO release (name, version, step, share, started, since, failed_checks)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (name) DO UPDATE SET version = excluded.version, step = excluded.step,
                          share = excluded.share, started = excluded.started, since = excluded.since,
                          failed_checks = excluded.failed_checks
                        """,
                    arguments: [
                        name, state.version, state.step, state.share, state.started.timeIntervalSince1970,
                        state.since.timeIntervalSince1970, state.failedChecks,
                    ])
            } else {
                try db.execute(sql: "DELETE FROM release WHERE name = ?", arguments: [name])
            }
            // A step moves the share, not an alias: the entry names no alias (rollbacks read alias moves).
            try Self.audit(
                db, actor: actor, action: action, model: name, version: state?.version ?? previous, alias: nil,
                previous: previous, reason: reason)
        }
    }

    public func recordAlert(_ alert: AlertRecord) async throws -> Int {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO alert (model, name, severity, rule, value, threshold, window_start, window_end, reason, at, delivery)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    alert.model, alert.name, alert.severity, alert.rule, alert.value, alert.threshold,
                    alert.windowStart.timeIntervalSince1970, alert.windowEnd.timeIntervalSince1970, alert.reason,
                    alert.at.timeIntervalSince1970, alert.delivery,
                ])
            return Int(db.lastInsertedRowID)
        }
    }

    public func setAlertDelivery(_ id: Int, _ delivery: String) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE alert SET delivery = ? WHERE id = ?", arguments: [delivery, id])
        }
    }

    public func alerts(model: String?, limit: Int) async throws -> [AlertRecord] {
        try await read { db in
            try AlertRecord.fetchAll(
                db, sql: "SELECT * FROM alert WHERE (? IS NULL OR model = ?) ORDER BY at DESC, id DESC LIMIT ?",
                arguments: [model, model, limit])
        }
    }

    public func feedback(predictionIDs: [String]) async throws -> [FeedbackRecord] {
        guard !predictionIDs.isEmpty else { return [] }
        return try await read { db in
            try Self.inChunks(predictionIDs) { chunk, marks in
                try FeedbackRecord.fetchAll(
                    db,
                    sql: """
                        SELECT prediction_id AS "predictionID", actual AS value, kind, at FROM feedback
                        WHERE prediction_id IN (\(marks)) ORDER BY at, rowid
                        """,
                    arguments: StatementArguments(chunk))
            }
        }
    }

    /// Runs `fetch` on `ids` 500 at a time (with the `?, ?, …` placeholders for an `IN (…)`), under SQLite's limit on
    /// a statement's parameters, and joins what each chunk gave in order.
    static func inChunks<T>(_ ids: [String], _ fetch: (_ chunk: [String], _ marks: String) throws -> [T]) rethrows
        -> [T]
    {
        var out = [T]()
        for start in stride(from: 0, to: ids.count, by: 500) {
            let chunk = Array(ids[start..<min(start + 500, ids.count)])
            out += try fetch(chunk, chunk.map { _ in "?" }.joined(separator: ","))
        }
        return out
    }
}

/// The store's records read from SQLite rows through their `Codable` conformance: columns are the properties' names
/// in snake case, times are seconds since 1970, lists and dictionaries are JSON text. A value that does not decode
/// (damaged JSON, an unknown status) is `StoreError.damaged`, never a silent default.
extension SQLiteStore {
    // MARK: The work queue

    public func enqueueWork(_ items: [NewWorkItem]) async throws -> [Int64] {
        try await write { db in
            let now = Date().timeIntervalSince1970
            return try items.map { item in
                try db.execute(
                    sql: "INSERT INTO work_item (batch, kind, payload, state, created) VALUES (?, ?, ?, 'queued', ?)",
                    arguments: [item.batch, item.kind, item.payload, now])
                return db.lastInsertedRowID
            }
        }
    }

    public func claimWork(kinds: [String], worker: String, lease: Double) async throws -> WorkItem? {
        guard !kinds.isEmpty else { return nil }
        return try await write { db in
            let now = Date().timeIntervalSince1970
            let marks = Array(repeating: "?", count: kinds.count).joined(separator: ", ")
            // An item whose workers kept dying is failed rather than claimed once more.
            try db.execute(
                sql: """
                    UPDATE work_item SET state = 'failed', finished = ?,
                           error = 'its worker stopped renewing the lease ' || attempts || ' times (killed, or out of memory)'
                    WHERE state = 'running' AND lease_until < ? AND attempts >= ?
                    """,
                arguments: [now, now, WorkItem.maximumAttempts])
            // One statement: it takes the write lock before it looks, so no other process claims between its look and
            // its change.
            var arguments: StatementArguments = [worker, now + lease]
            arguments += StatementArguments(kinds)
            arguments += [now]
            return try WorkItem.fetchOne(
                db,
                sql: """
                    UPDATE work_item SET state = 'running', worker = ?, lease_until = ?, attempts = attempts + 1
                    WHERE id = (SELECT id FROM work_item
                                WHERE kind IN (\(marks)) AND (state = 'queued' OR (state = 'running' AND lease_until < ?))
                                ORDER BY id LIMIT 1)
                    RETURNING *
                    """,
                arguments: arguments)
        }
    }

    public func renewWorkLease(_ id: Int64, worker: String, lease: Double) async throws -> Bool {
        try await write { db in
            try db.execute(
                sql: "UPDATE work_item SET lease_until = ? WHERE id = ? AND worker = ? AND state = 'running'",
                arguments: [Date().timeIntervalSince1970 + lease, id, worker])
            return db.changesCount == 1
        }
    }

    public func finishWork(_ id: Int64, worker: String, result: String?, error: String?) async throws -> Bool {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE work_item SET state = ?, result = ?, error = ?, finished = ?
                    WHERE id = ? AND worker = ? AND state = 'running'
                    """,
                arguments: [
                    error == nil ? "done" : "failed", result, error, Date().timeIntervalSince1970, id, worker,
                ])
            return db.changesCount == 1
        }
    }

    public func work(batch: String) async throws -> [WorkItem] {
        try await read { db in
            try WorkItem.fetchAll(db, sql: "SELECT * FROM work_item WHERE batch = ? ORDER BY id", arguments: [batch])
        }
    }

    public func cancelWork(batch: String) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE work_item SET state = 'cancelled', finished = ?
                    WHERE batch = ? AND state IN ('queued', 'running')
                    """,
                arguments: [Date().timeIntervalSince1970, batch])
        }
    }
}

public protocol SQLiteRecord: FetchableRecord, Decodable {}

extension SQLiteRecord {
    /// Columns are the properties' names in snake case.
    public static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy { .convertFromSnakeCase }
    /// Times are stored as seconds since 1970.
    public static var databaseDateDecodingStrategy: DatabaseDateDecodingStrategy { .timeIntervalSince1970 }
}

extension DatasetSnapshot: SQLiteRecord {}
extension RunRecord: SQLiteRecord {}
extension MetricPoint: SQLiteRecord {}
extension ModelVersion: SQLiteRecord {}
extension AuditEntry: SQLiteRecord {}
extension PredictionRecord: SQLiteRecord {}
extension AnsweredPrediction: SQLiteRecord {}
// Their columns are named by their coding keys as they are (not snake case).
extension PredictionWindowCount: FetchableRecord {}
extension PredictionWindowTotals: FetchableRecord {}
extension FeedbackRecord: SQLiteRecord {}
extension ReleaseState: SQLiteRecord {}
extension AlertRecord: SQLiteRecord {}
extension WorkItem: SQLiteRecord {}
