import Foundation
import GRDB
import MLCycleData
import PostgresNIO

/// Moves a laptop's store (SQLite) into the team's (PostgreSQL): every table row for row — runs, metrics and logs
/// with their numbers, datasets, models, aliases, releases, the audit log, the prediction log, feedback, alerts, the
/// work queue — and every artefact, read back and verified by its SHA-256.
///
/// The copy keeps every record's key (a run's number, an audit entry's), so it goes into an empty store, or into one
/// that holds an earlier copy of the same store (a copy stopped halfway, or a laptop that went on working after a
/// first copy): what is there already is skipped, and records that change in place (a run's status, an alias, a
/// release, an alert's delivery) take the source's state. A target that holds records the source does not, or
/// records of the same key that were made otherwise — another store's history — is refused before anything is
/// written. Afterwards each table of the target is compared with the source's, row count and SHA-256 of its rows in
/// key order; any difference is an error.
public enum StoreCopy {
    /// What a copy did and found, table by table.
    public struct Report: Sendable, Equatable {
        public struct Table: Sendable, Equatable {
            public var name: String
            /// Rows in the source (and, verified, in the target).
            public var rows: Int
            /// Rows the target did not have yet.
            public var copied: Int
            /// SHA-256 of the table's rows in key order, the same on both sides.
            public var sha256: String
        }

        public var tables: [Table]
        /// Artefacts copied, and those the target had already.
        public var artifactsCopied: Int
        public var artifactsPresent: Int
    }

    /// Copies `source` into `target`; `progress` hears one line per table.
    public static func copy(
        from source: SQLiteStore, to target: PostgresStore, progress: @Sendable (String) -> Void = { _ in }
    ) async throws -> Report {
        // Nothing is written into a store whose records are not all the source's.
        var removed = [String: [Row]]()
        for table in tables {
            // A table the target holds nothing of needs no look (a first copy reads the source once, to copy it).
            if try await target.execute("SELECT 1 FROM \(unescaped: table.name) LIMIT 1").isEmpty { continue }
            let comparison = try await compare(table, source, target)
            if table.mirrored {
                removed[table.name] = comparison.targetOnlyRows
            } else if let key = comparison.targetOnly {
                throw StoreError.invalid(
                    "the target store has a \(table.name) record the source does not (\(key)): store copy moves a store into an empty one, or repeats a copy of the same store; it does not merge two histories"
                )
            }
            if let key = comparison.differing {
                throw StoreError.invalid(
                    "the target store's \(table.name) record \(key) differs from the source's: it holds another store's history; copy into an empty database"
                )
            }
        }
        var counts = [String: Int]()
        // Metrics have no key of their own: a run's are copied whole (in one statement), for runs without any in the
        // target.
        let runsBefore = Set(
            try await target.execute("SELECT DISTINCT run FROM metric").map { try $0.decode(Int64.self) })
        var artifactsCopied = 0
        var artifactsPresent = 0
        for table in tables {
            if table.name == "artifact" {
                (artifactsCopied, artifactsPresent) = try await copyArtifacts(source, target)
                counts[table.name] = artifactsCopied
            } else {
                try await delete(removed[table.name] ?? [], of: table, from: target)
                counts[table.name] = try await copyRows(table, source, target, skipRuns: runsBefore)
            }
            progress("\(table.name): \(counts[table.name] ?? 0) copied")
        }
        // Identity keys continue after the copied ones.
        for table in tables where table.generatedID {
            try await target.execute(
                PostgresQuery(
                    unsafeSQL: """
                        SELECT setval(pg_get_serial_sequence('\(table.name)', 'id'),
                                      COALESCE((SELECT max(id) FROM \(table.name)), 0) + 1, false)
                        """))
        }
        var report = Report(tables: [], artifactsCopied: artifactsCopied, artifactsPresent: artifactsPresent)
        for table in tables {
            let comparison = try await compare(table, source, target)
            guard comparison.sourceRows == comparison.targetRows, comparison.sourceHash == comparison.targetHash,
                comparison.targetOnly == nil, comparison.differing == nil
            else {
                throw StoreError.invalid(
                    "after the copy, \(table.name) differs: \(comparison.sourceRows) rows in the source, \(comparison.targetRows) in the target"
                )
            }
            report.tables.append(
                Report.Table(
                    name: table.name, rows: comparison.sourceRows, copied: counts[table.name] ?? 0,
                    sha256: comparison.sourceHash))
        }
        return report
    }

    // MARK: Tables

    enum Kind { case text, integer, real, boolean, json }

    /// A table as both stores hold it: its columns (SQLite's and PostgreSQL's names are the same) and the columns
    /// that order it (its key; all columns for one without a key).
    struct CopiedTable {
        var name: String
        var columns: [(String, Kind)]
        var key: [String]
        /// Its `id` is PostgreSQL's identity (given by the copy, `OVERRIDING SYSTEM VALUE`).
        var generatedID = false
        /// SQLite's expression for a column it names differently (feedback's id is its rowid).
        var sqliteExpression: [String: String] = [:]
        /// For a record that changes in place, the columns that tell who made it (the rest take the source's state);
        /// nil: the record never changes, and every column must match.
        var identity: [String]? = nil
        /// A record the source deleted (an alias, a finished release) is deleted from the target too.
        var mirrored = false

        var unique: Bool { name != "metric" }

        /// Where the column `name` is in a row.
        func index(_ name: String) -> Int { columns.firstIndex { $0.0 == name } ?? 0 }
        var keyIndexes: [Int] { key.map(index) }
    }

    static let tables: [CopiedTable] = [
        CopiedTable(name: "project", columns: [("name", .text), ("created", .real)], key: ["name"]),
        CopiedTable(
            name: "dataset",
            columns: [
                ("fingerprint", .text), ("rows", .integer), ("schema", .json), ("sources", .json),
                ("profile_artifact", .text), ("created", .real),
            ], key: ["fingerprint"], identity: ["rows", "schema", "sources", "created"]),
        CopiedTable(
            name: "artifact", columns: [("sha256", .text), ("size", .integer), ("created", .real)], key: ["sha256"]),
        CopiedTable(
            name: "run",
            columns: [
                ("id", .integer), ("project", .text), ("stage", .text), ("status", .text), ("started", .real),
                ("ended", .real), ("input_hash", .text), ("params", .json), ("tags", .json), ("outputs", .json),
                ("spec_hash", .text), ("git_commit", .text), ("mlcycle_version", .text), ("host", .text),
                ("pid", .integer),
            ], key: ["id"], generatedID: true, identity: ["project", "stage", "started", "input_hash", "host", "pid"]),
        CopiedTable(
            name: "metric",
            columns: [("run", .integer), ("name", .text), ("step", .integer), ("at", .real), ("value", .real)],
            key: ["run", "name", "step", "at", "value"]),
        CopiedTable(
            name: "run_log", columns: [("run", .integer), ("seq", .integer), ("line", .text), ("at", .real)],
            key: ["run", "seq"]),
        CopiedTable(
            name: "model_version",
            columns: [
                ("name", .text), ("version", .integer), ("bundle", .text), ("metrics", .json),
                ("gates_passed", .boolean), ("gates", .json), ("run", .integer), ("datasets", .json),
                ("spec_hash", .text), ("created", .real),
            ], key: ["name", "version"]),
        CopiedTable(
            name: "alias", columns: [("name", .text), ("alias", .text), ("version", .integer)], key: ["name", "alias"],
            identity: [], mirrored: true),
        CopiedTable(
            name: "audit",
            columns: [
                ("id", .integer), ("at", .real), ("actor", .text), ("action", .text), ("model", .text),
                ("version", .integer), ("alias", .text), ("previous_version", .integer), ("reason", .text),
            ], key: ["id"], generatedID: true),
        CopiedTable(
            name: "prediction",
            columns: [
                ("id", .text), ("model", .text), ("version", .text), ("at", .real), ("latency", .real),
                ("inputs", .text), ("prediction", .text), ("status", .text), ("confidence", .real),
                ("low_confidence", .boolean), ("reasons", .json),
            ], key: ["id"]),
        CopiedTable(
            name: "feedback",
            columns: [("id", .integer), ("prediction_id", .text), ("actual", .text), ("kind", .text), ("at", .real)],
            key: ["id"], generatedID: true, sqliteExpression: ["id": "rowid"]),
        CopiedTable(
            name: "release",
            columns: [
                ("name", .text), ("version", .integer), ("step", .integer), ("share", .real), ("started", .real),
                ("since", .real), ("failed_checks", .integer),
            ], key: ["name"], identity: [], mirrored: true),
        CopiedTable(
            name: "alert",
            columns: [
                ("id", .integer), ("model", .text), ("name", .text), ("severity", .text), ("rule", .text),
                ("value", .real), ("threshold", .real), ("window_start", .real), ("window_end", .real),
                ("reason", .text), ("at", .real), ("delivery", .text),
            ], key: ["id"], generatedID: true, identity: ["model", "name", "window_start", "at"]),
        CopiedTable(
            name: "work_item",
            columns: [
                ("id", .integer), ("batch", .text), ("kind", .text), ("payload", .text), ("state", .text),
                ("attempts", .integer), ("worker", .text), ("lease_until", .real), ("result", .text),
                ("error", .text), ("created", .real), ("finished", .real),
            ], key: ["id"], generatedID: true, identity: ["batch", "kind", "payload", "created"]),
    ]

    // MARK: Reading both sides in key order

    /// A value as both databases give it back.
    enum Value: Equatable, Sendable {
        case null
        case text(String)
        case integer(Int64)
        case real(Double)
        case boolean(Bool)

        /// Its text in a row's canonical form.
        var canonical: String {
            switch self {
            case .null: return "\u{0}"
            case .text(let s): return s
            case .integer(let i): return String(i)
            case .real(let d): return "\(d)"
            case .boolean(let b): return b ? "t" : "f"
            }
        }
    }

    typealias Row = [Value]

    /// JSON text in one form whatever spacing and key order it was stored with (PostgreSQL's `jsonb` re-renders it).
    static func canonicalJSON(_ text: String) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed),
            let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed])
        else { return text }
        return String(decoding: data, as: UTF8.self)
    }

    static let pageSize = 5_000

    /// One page of `table` from SQLite, after the key `after` (nil: from the start; the page number for a table
    /// without a unique key).
    static func sqlitePage(_ table: CopiedTable, _ store: SQLiteStore, after: Row?, page: Int) async throws -> [Row] {
        let select = table.columns.map { name, _ in table.sqliteExpression[name] ?? name }.joined(separator: ", ")
        let order = table.key.map { table.sqliteExpression[$0] ?? $0 }
        var sql = "SELECT \(select) FROM \(table.name)"
        var arguments = StatementArguments()
        if table.unique, let after {
            sql += " WHERE (\(order.joined(separator: ", "))) > (\(order.map { _ in "?" }.joined(separator: ", ")))"
            for index in table.keyIndexes { arguments += [databaseValue(after[index])] }
        }
        sql += " ORDER BY \(order.joined(separator: ", ")) LIMIT \(pageSize)"
        if !table.unique { sql += " OFFSET \(page * pageSize)" }
        let statement = sql
        let values = arguments
        return try await store.read { db in
            try GRDB.Row.fetchAll(db, sql: statement, arguments: values).map { row in
                table.columns.indices.map { value(row, $0, table.columns[$0].1) }
            }
        }
    }

    /// A column of a SQLite row as the copy compares it (a value of another type than its column's: null, which the
    /// comparison then reports as a difference).
    static func value(_ row: GRDB.Row, _ index: Int, _ kind: Kind) -> Value {
        // SQLite's storage classes read by hand: GRDB's `fromDatabaseValue` here crashes the Swift 6.3
        // optimizer (an ownership-verifier assertion in a release build).
        let stored: DatabaseValue = row[index]
        switch (kind, stored.storage) {
        case (_, .null): return .null
        case (.text, .string(let s)): return .text(s)
        case (.json, .string(let s)): return .text(canonicalJSON(s))
        case (.integer, .int64(let i)): return .integer(i)
        case (.real, .double(let d)): return .real(d)
        case (.real, .int64(let i)): return .real(Double(i))
        case (.boolean, .int64(let i)): return .boolean(i != 0)
        default: return .null
        }
    }

    static func databaseValue(_ value: Value) -> DatabaseValue {
        switch value {
        case .null: return .null
        case .text(let s): return s.databaseValue
        case .integer(let i): return i.databaseValue
        case .real(let d): return d.databaseValue
        case .boolean(let b): return b.databaseValue
        }
    }

    /// The same page from PostgreSQL (text keys in byte order, as SQLite orders them).
    static func postgresPage(_ table: CopiedTable, _ store: PostgresStore, after: Row?, page: Int) async throws -> [Row]
    {
        let select = table.columns.map { name, kind in kind == .json ? "\(name)::text" : name }.joined(separator: ", ")
        let order = table.key.map { name in
            table.columns.first { $0.0 == name }?.1 == .text ? "\(name) COLLATE \"C\"" : name
        }
        var bindings = PostgresBindings()
        var sql = "SELECT \(select) FROM \(table.name)"
        if table.unique, let after {
            var marks = [String]()
            for index in table.keyIndexes {
                append(after[index], to: &bindings)
                marks.append("$\(bindings.count)")
            }
            sql += " WHERE (\(order.joined(separator: ", "))) > (\(marks.joined(separator: ", ")))"
        }
        sql += " ORDER BY \(order.joined(separator: ", ")) LIMIT \(pageSize)"
        if !table.unique { sql += " OFFSET \(page * pageSize)" }
        return try await store.execute(PostgresQuery(unsafeSQL: sql, binds: bindings)).map { row in
            var values = Row()
            for (cell, column) in zip(row, table.columns) {
                switch column.1 {
                case .text: values.append(try cell.decode(String?.self).map(Value.text) ?? .null)
                case .json: values.append(try cell.decode(String?.self).map { .text(canonicalJSON($0)) } ?? .null)
                case .integer: values.append(try cell.decode(Int64?.self).map(Value.integer) ?? .null)
                case .real: values.append(try cell.decode(Double?.self).map(Value.real) ?? .null)
                case .boolean: values.append(try cell.decode(Bool?.self).map(Value.boolean) ?? .null)
                }
            }
            return values
        }
    }

    static func append(_ value: Value, to bindings: inout PostgresBindings) {
        switch value {
        case .null: bindings.appendNull()
        case .text(let s): bindings.append(s)
        case .integer(let i): bindings.append(i)
        case .real(let d): bindings.append(d)
        case .boolean(let b): bindings.append(b)
        }
    }

    /// Both sides of a table side by side: their row counts and hashes, and the first key the target has that the
    /// source does not, or has with other values.
    struct Comparison {
        var sourceRows = 0
        var targetRows = 0
        var sourceHash = ""
        var targetHash = ""
        var targetOnly: String?
        /// The target's rows the source lacks (kept for a mirrored table, whose deleted records are deleted).
        var targetOnlyRows = [Row]()
        var differing: String?
    }

    /// Reads a side page by page.
    struct Pages {
        let next: (Row?, Int) async throws -> [Row]
        var buffer = [Row]()
        var position = 0
        var page = 0
        var exhausted = false
        var last: Row?

        init(_ next: @escaping (Row?, Int) async throws -> [Row]) { self.next = next }

        mutating func peek() async throws -> Row? {
            if position == buffer.count && !exhausted {
                buffer = try await next(last, page)
                page += 1
                position = 0
                exhausted = buffer.count < StoreCopy.pageSize
            }
            return position < buffer.count ? buffer[position] : nil
        }

        mutating func advance() {
            last = buffer[position]
            position += 1
        }
    }

    /// Merges both sides in key order (a table without a unique key is compared as a sorted list of rows).
    static func compare(_ table: CopiedTable, _ source: SQLiteStore, _ target: PostgresStore) async throws
        -> Comparison
    {
        let keyIndexes = table.keyIndexes
        let identityIndexes = (table.identity ?? table.columns.map(\.0)).map(table.index)
        func keyText(_ row: Row) -> String { keyIndexes.map { row[$0].canonical }.joined(separator: ", ") }
        func precedes(_ a: Row, _ b: Row) -> Bool {
            for i in keyIndexes where a[i] != b[i] {
                switch (a[i], b[i]) {
                case (.null, _): return true
                case (_, .null): return false
                case (.text(let x), .text(let y)): return Array(x.utf8).lexicographicallyPrecedes(Array(y.utf8))
                case (.integer(let x), .integer(let y)): return x < y
                case (.real(let x), .real(let y)): return x < y
                case (.boolean(let x), .boolean(let y)): return !x && y
                default: return a[i].canonical < b[i].canonical
                }
            }
            return false
        }
        var left = Pages { try await sqlitePage(table, source, after: $0, page: $1) }
        var right = Pages { try await postgresPage(table, target, after: $0, page: $1) }
        var sourceHash = MLCycleData.SHA256()
        var targetHash = MLCycleData.SHA256()
        var result = Comparison()
        func line(_ row: Row) -> [UInt8] { Array((row.map(\.canonical).joined(separator: "\u{1F}") + "\n").utf8) }
        while true {
            let a = try await left.peek()
            let b = try await right.peek()
            if a == nil && b == nil { break }
            if let a, b == nil || precedes(a, b!) {
                sourceHash.update(line(a))
                result.sourceRows += 1
                left.advance()
            } else if let b, a == nil || precedes(b, a!) {
                result.targetOnly = result.targetOnly ?? keyText(b)
                if table.mirrored { result.targetOnlyRows.append(b) }
                targetHash.update(line(b))
                result.targetRows += 1
                right.advance()
            } else if let a, let b {
                if identityIndexes.contains(where: { a[$0] != b[$0] }) {
                    result.differing = result.differing ?? keyText(a)
                }
                sourceHash.update(line(a))
                targetHash.update(line(b))
                result.sourceRows += 1
                result.targetRows += 1
                left.advance()
                right.advance()
            }
        }
        result.sourceHash = MLCycleData.SHA256.hexString(sourceHash.finalize())
        result.targetHash = MLCycleData.SHA256.hexString(targetHash.finalize())
        return result
    }

    // MARK: Writing

    /// Inserts the source's rows the target lacks, page by page; returns how many it inserted.
    static func copyRows(_ table: CopiedTable, _ source: SQLiteStore, _ target: PostgresStore, skipRuns: Set<Int64>)
        async throws -> Int
    {
        var pages = Pages { try await sqlitePage(table, source, after: $0, page: $1) }
        let names = table.columns.map(\.0)
        // A record that changes in place takes the source's state; one that never changes is left as it is.
        let changing = names.filter { !table.key.contains($0) }
        let conflict =
            table.name == "metric"
            ? ""
            : table.identity == nil || changing.isEmpty
                ? " ON CONFLICT (\(table.key.joined(separator: ", "))) DO NOTHING"
                : """
                 ON CONFLICT (\(table.key.joined(separator: ", "))) DO UPDATE
                SET \(changing.map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", "))
                WHERE (\(changing.map { "\(table.name).\($0)" }.joined(separator: ", ")))
                      IS DISTINCT FROM (\(changing.map { "EXCLUDED.\($0)" }.joined(separator: ", ")))
                """
        let overriding = table.generatedID ? " OVERRIDING SYSTEM VALUE" : ""
        var inserted = 0
        var batch = [Row]()
        func flush() async throws {
            guard !batch.isEmpty else { return }
            var bindings = PostgresBindings()
            var tuples = [String]()
            for row in batch {
                var marks = [String]()
                for (value, column) in zip(row, table.columns) {
                    append(value, to: &bindings)
                    marks.append(column.1 == .json ? "$\(bindings.count)::jsonb" : "$\(bindings.count)")
                }
                tuples.append("(\(marks.joined(separator: ", ")))")
            }
            let rows = try await target.execute(
                PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO \(table.name) (\(names.joined(separator: ", ")))\(overriding)
                        VALUES \(tuples.joined(separator: ", "))\(conflict) RETURNING 1
                        """, binds: bindings))
            inserted += rows.count
            batch.removeAll(keepingCapacity: true)
        }
        let metrics = table.name == "metric"
        let runIndex = table.index("run")
        while let row = try await pages.peek() {
            pages.advance()
            if metrics, case .integer(let run) = row[runIndex], skipRuns.contains(run) { continue }
            // PostgreSQL takes at most 65,535 parameters in one statement; a run's metrics go in one statement.
            if (batch.count + 1) * table.columns.count > 60_000,
                !metrics || batch.last.map({ $0[runIndex] != row[runIndex] }) == true
            {
                try await flush()
            }
            batch.append(row)
        }
        try await flush()
        return inserted
    }

    /// Deletes `rows` (by their keys) from the target's `table`.
    static func delete(_ rows: [Row], of table: CopiedTable, from target: PostgresStore) async throws {
        for row in rows {
            var bindings = PostgresBindings()
            var conditions = [String]()
            for (name, index) in zip(table.key, table.keyIndexes) {
                append(row[index], to: &bindings)
                conditions.append("\(name) = $\(bindings.count)")
            }
            try await target.execute(
                PostgresQuery(
                    unsafeSQL: "DELETE FROM \(table.name) WHERE \(conditions.joined(separator: " AND "))",
                    binds: bindings))
        }
    }

    /// Copies the artefacts the target lacks, each read back verified from the source and stored whole; keeps each
    /// one's creation time.
    static func copyArtifacts(_ source: SQLiteStore, _ target: PostgresStore) async throws -> (
        copied: Int, present: Int
    ) {
        let listed = try await source.read { db in
            try GRDB.Row.fetchAll(db, sql: "SELECT sha256, created FROM artifact ORDER BY sha256").map {
                (sha: $0[0] as String, created: $0[1] as Double)
            }
        }
        let present = Set(try await target.execute("SELECT sha256 FROM artifact").map { try $0.decode(String.self) })
        var copied = 0
        for (sha, created) in listed where !present.contains(sha) {
            let data = try await source.artifact(sha)
            let stored = try await target.putArtifact(data)
            guard stored == sha else { throw StoreError.corruptArtifact(sha256: sha, path: "the copy in the target") }
            try await target.execute("UPDATE artifact SET created = \(created) WHERE sha256 = \(sha)")
            copied += 1
        }
        return (copied, listed.count - copied)
    }
}
