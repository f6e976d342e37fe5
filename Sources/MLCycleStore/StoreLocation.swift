import Foundation

/// Where a store is: a folder (SQLite, embedded, the default `.mlcycle/` of a project) or a PostgreSQL database (the
/// team's, `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`).
public enum StoreLocation: Sendable, Equatable, CustomStringConvertible {
    case folder(String)
    case postgres(url: String)

    /// A location as written in `--store`, `MLCYCLE_STORE` or mlcycle.yaml's `store:`; `${NAME}` is taken from the
    /// environment (so a password stays there), and a relative folder is relative to `directory`.
    public init(
        _ text: String, relativeTo directory: String = ".",
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        let expanded = try Self.expand(text, environment: environment).trimmingCharacters(in: .whitespaces)
        guard !expanded.isEmpty else {
            throw StoreError.invalid("the store location is empty: give a folder or a postgres:// URL")
        }
        if expanded.hasPrefix("postgres://") || expanded.hasPrefix("postgresql://") {
            _ = try PostgresURL(expanded, environment: environment)  // checked now, not at the first query
            self = .postgres(url: expanded)
        } else if expanded.contains("://") {
            throw StoreError.invalid(
                "store '\(PostgresURL.redacted(expanded))': only folders (SQLite) and postgres:// URLs are stores")
        } else {
            self = .folder(
                expanded.hasPrefix("/") ? expanded : (directory as NSString).appendingPathComponent(expanded))
        }
    }

    /// Replaces each `${NAME}` by the environment's value; an unset name is an error naming it.
    package static func expand(_ text: String, environment: [String: String]) throws -> String {
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "${") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                throw StoreError.invalid("store '\(text)': '${' without its closing '}'")
            }
            let name = String(rest[open.upperBound..<close])
            guard let value = environment[name] else {
                throw StoreError.invalid("store: the environment variable \(name) is not set")
            }
            out += value
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    /// The location for messages and logs: a URL's password is never shown.
    public var description: String {
        switch self {
        case .folder(let path): return path
        case .postgres(let url): return PostgresURL.redacted(url)
        }
    }

    /// Opens (creating and migrating as needed) the store, and marks the runs this host's dead processes left running
    /// as failed.
    public func open() async throws -> any Store {
        let store: any Store
        switch self {
        case .folder(let path): store = try SQLiteStore(directory: path)
        case .postgres(let url): store = try await PostgresStore(url: url)
        }
        _ = try await store.recoverAbandonedRuns()
        return store
    }
}
