import Foundation
import Logging
import PostgresNIO

/// The team store's schema: numbered migrations, applied in order in one transaction that holds an advisory lock, so
/// two processes starting at once migrate once (the second waits, then finds nothing left to do). The tables are
/// SQLite's, with PostgreSQL's types: identity keys, `jsonb` for lists and dictionaries, `bytea` artefact chunks.
enum PostgresSchema {
    /// Migration `n` is `migrations[n - 1]`; a released migration is never edited, only followed by a new one.
    static let migrations: [String] = [
        """
        CREATE TABLE project (name TEXT PRIMARY KEY, created DOUBLE PRECISION NOT NULL);
        CREATE TABLE dataset (fingerprint TEXT PRIMARY KEY, rows BIGINT NOT NULL, schema JSONB NOT NULL,
                              sources JSONB NOT NULL, profile_artifact TEXT, created DOUBLE PRECISION NOT NULL);
        CREATE TABLE run (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, project TEXT NOT NULL REFERENCES project(name),
                          stage TEXT NOT NULL, status TEXT NOT NULL, started DOUBLE PRECISION NOT NULL, ended DOUBLE PRECISION,
                          input_hash TEXT NOT NULL, params JSONB NOT NULL, tags JSONB NOT NULL, outputs JSONB NOT NULL,
                          spec_hash TEXT, git_commit TEXT, mlcycle_version TEXT NOT NULL, host TEXT NOT NULL,
                          pid INTEGER NOT NULL);
        CREATE INDEX run_cache ON run(project, stage, input_hash, status);
        CREATE INDEX run_running ON run(host) WHERE status = 'running';
        CREATE TABLE metric (run BIGINT NOT NULL REFERENCES run(id), name TEXT NOT NULL, value DOUBLE PRECISION NOT NULL,
                             step INTEGER NOT NULL, at DOUBLE PRECISION NOT NULL);
        CREATE INDEX metric_run ON metric(run, name, step);
        CREATE TABLE run_log (run BIGINT NOT NULL REFERENCES run(id), seq INTEGER NOT NULL, line TEXT NOT NULL,
                              at DOUBLE PRECISION NOT NULL, PRIMARY KEY (run, seq));
        CREATE TABLE artifact (sha256 TEXT PRIMARY KEY, size BIGINT NOT NULL, created DOUBLE PRECISION NOT NULL);
        CREATE TABLE artifact_chunk (sha256 TEXT NOT NULL REFERENCES artifact(sha256), seq INTEGER NOT NULL,
                                     data BYTEA NOT NULL, PRIMARY KEY (sha256, seq));
        CREATE TABLE model_version (name TEXT NOT NULL, version INTEGER NOT NULL,
                                    bundle TEXT NOT NULL REFERENCES artifact(sha256), metrics JSONB NOT NULL,
                                    gates_passed BOOLEAN NOT NULL, gates JSONB NOT NULL, run BIGINT REFERENCES run(id),
                                    datasets JSONB NOT NULL, spec_hash TEXT, created DOUBLE PRECISION NOT NULL,
                                    PRIMARY KEY (name, version));
        CREATE TABLE alias (name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (name, alias),
                            FOREIGN KEY (name, version) REFERENCES model_version(name, version));
        CREATE TABLE audit (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at DOUBLE PRECISION NOT NULL,
                            actor TEXT NOT NULL, action TEXT NOT NULL, model TEXT, version INTEGER, alias TEXT,
                            previous_version INTEGER, reason TEXT NOT NULL);
        CREATE INDEX audit_model ON audit(model, alias, id);
        CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
        CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
          FOR EACH ROW EXECUTE FUNCTION audit_append_only();
        CREATE TABLE prediction (id TEXT PRIMARY KEY, model TEXT NOT NULL, version TEXT NOT NULL,
                                 at DOUBLE PRECISION NOT NULL, latency DOUBLE PRECISION NOT NULL, inputs TEXT NOT NULL,
                                 prediction TEXT, status TEXT NOT NULL, confidence DOUBLE PRECISION,
                                 low_confidence BOOLEAN NOT NULL DEFAULT false, reasons JSONB);
        CREATE INDEX prediction_model_at ON prediction(model, at);
        CREATE INDEX prediction_model_version_at ON prediction(model, version, at);
        CREATE INDEX prediction_model_status_at ON prediction(model, status, at);
        CREATE TABLE feedback (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, prediction_id TEXT NOT NULL,
                               actual TEXT NOT NULL, kind TEXT NOT NULL, at DOUBLE PRECISION NOT NULL);
        CREATE INDEX feedback_prediction_kind ON feedback(prediction_id, kind, at);
        CREATE TABLE release (name TEXT PRIMARY KEY, version INTEGER NOT NULL, step INTEGER NOT NULL,
                              share DOUBLE PRECISION NOT NULL, started DOUBLE PRECISION NOT NULL,
                              since DOUBLE PRECISION NOT NULL, failed_checks INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE alert (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, model TEXT NOT NULL, name TEXT NOT NULL,
                            severity TEXT NOT NULL, rule TEXT NOT NULL, value DOUBLE PRECISION,
                            threshold DOUBLE PRECISION NOT NULL, window_start DOUBLE PRECISION NOT NULL,
                            window_end DOUBLE PRECISION NOT NULL, reason TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
                            delivery TEXT NOT NULL);
        CREATE INDEX alert_model_name ON alert(model, name, at)
        """,
        // 2: the work queue `mlcycle worker` takes from.
        """
        CREATE TABLE work_item (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, batch TEXT NOT NULL,
                                kind TEXT NOT NULL, payload TEXT NOT NULL, state TEXT NOT NULL,
                                attempts INTEGER NOT NULL DEFAULT 0, worker TEXT, lease_until DOUBLE PRECISION,
                                result TEXT, error TEXT, created DOUBLE PRECISION NOT NULL, finished DOUBLE PRECISION);
        CREATE INDEX work_item_claim ON work_item(kind, state, id);
        CREATE INDEX work_item_batch ON work_item(batch, id)
        """,
        // 3: a project's runs listed newest first, a page at a time.
        "CREATE INDEX run_project_id ON run(project, id)",
        // 4: a model's audit trail read newest first, a page at a time.
        "CREATE INDEX audit_model_id ON audit(model, id)",
    ]

    /// The key of the advisory lock migrations hold (any fixed number; the same in every mlcycle).
    static let migrationLock: Int64 = 0x6d6c_6379_636c_6531

    /// Applies the migrations this database lacks; returns their numbers.
    @discardableResult
    static func migrate(_ client: PostgresClient, logger: Logger) async throws -> [Int] {
        do {
            // A store whose schema is current (every server and worker opening it after the first) needs no lock:
            // migrations only ever add versions, so one read is enough, and openings do not queue behind each other.
            if try await upToDate(client, logger: logger) { return [] }
            return try await PostgresStore.transaction(client, logger: logger) { connection in
                try await connection.rows("SELECT pg_advisory_xact_lock(\(migrationLock))", logger)
                try await connection.rows(
                    """
                    CREATE TABLE IF NOT EXISTS mlcycle_migration (version INTEGER PRIMARY KEY,
                                                                  applied DOUBLE PRECISION NOT NULL)
                    """, logger)
                var applied = Set<Int>()
                for try await version in try await connection.query(
                    "SELECT version FROM mlcycle_migration", logger: logger
                ).decode(Int.self) {
                    applied.insert(version)
                }
                if let newest = applied.max(), newest > migrations.count {
                    throw StoreError.invalid(
                        "the store's schema is version \(newest), newer than this mlcycle knows (\(migrations.count)): upgrade mlcycle"
                    )
                }
                var done = [Int]()
                for (index, sql) in migrations.enumerated() where !applied.contains(index + 1) {
                    for statement in statements(sql) {
                        try await connection.rows(PostgresQuery(unsafeSQL: statement), logger)
                    }
                    try await connection.rows(
                        "INSERT INTO mlcycle_migration (version, applied) VALUES (\(index + 1), \(PostgresStore.now()))",
                        logger)
                    done.append(index + 1)
                }
                return done
            }
        } catch {
            throw PostgresStore.storeError(error)
        }
    }

    /// Whether the store holds every migration this mlcycle knows (false when it has none, or no migration table).
    static func upToDate(_ client: PostgresClient, logger: Logger) async throws -> Bool {
        try await client.withConnection { connection in
            let exists = try await connection.query(
                "SELECT to_regclass('mlcycle_migration') IS NOT NULL", logger: logger
            ).decode(Bool.self)
            for try await present in exists where !present { return false }
            var applied = Set<Int>()
            for try await version in try await connection.query(
                "SELECT version FROM mlcycle_migration", logger: logger
            ).decode(Int.self) {
                applied.insert(version)
            }
            // A newer schema (a later mlcycle) goes the locked way, which refuses it with what to do.
            return applied == Set(1...migrations.count)
        }
    }

    /// A migration's statements (the extended protocol takes one at a time): split at `;` ending a line, outside
    /// `$$` bodies.
    static func statements(_ sql: String) -> [String] {
        var out = [String]()
        var current = ""
        var inBody = false
        for line in sql.split(separator: "\n", omittingEmptySubsequences: false) {
            current += line + "\n"
            if line.components(separatedBy: "$$").count % 2 == 0 { inBody.toggle() }
            if !inBody, line.hasSuffix(";") {
                out.append(String(current.dropLast(2)))
                current = ""
            }
        }
        if !current.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { out.append(current) }
        return out
    }

    // The columns of each record under its properties' names (row_to_json's keys are the select's names).
    static let datasetColumns =
        #"fingerprint, rows, schema, sources, profile_artifact AS "profileArtifact", created"#
    static let runColumns = #"""
        id, project, stage, status, started, ended, input_hash AS "inputHash", params, tags, outputs,
        spec_hash AS "specHash", git_commit AS "gitCommit", mlcycle_version AS "mlcycleVersion", host, pid
        """#
    static let modelVersionColumns = #"""
        name, version, bundle, metrics, gates_passed AS "gatesPassed", gates, run, datasets, spec_hash AS "specHash",
        created
        """#
    static let workItemColumns = #"""
        id, batch, kind, payload, state, attempts, worker, lease_until AS "leaseUntil", result, error, created, finished
        """#
    static let predictionColumns = #"""
        id, model, version, at, latency AS "latencySeconds", inputs, prediction, status, confidence,
        low_confidence AS "lowConfidence", reasons
        """#
}
