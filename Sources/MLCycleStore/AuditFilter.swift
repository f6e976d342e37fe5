import Foundation

/// Which entries of the audit log a page reads: one model's, newest first, of one version (as the version moved to
/// or from) or one alias, at most so many — selected by the database on its (model, id) index.
public struct AuditFilter: Sendable, Equatable {
    public var model: String
    /// Entries that moved an alias to or from this version, or registered it.
    public var version: Int?
    public var alias: String?
    public var limit: Int

    public init(model: String, version: Int? = nil, alias: String? = nil, limit: Int) {
        self.model = model
        self.version = version
        self.alias = alias
        self.limit = limit
    }

    /// `SELECT columns FROM audit WHERE … ORDER BY id DESC LIMIT …`.
    func select(_ columns: String, _ dialect: SQLDialect) -> SQLStatement {
        var b = SQLBinder(dialect)
        var conditions = ["model = \(b.bind(.text(model)))"]
        if let version {
            let v = b.bind(.integer(version))
            conditions.append("(version = \(v) OR previous_version = \(v))")
        }
        if let alias { conditions.append("alias = \(b.bind(.text(alias)))") }
        let sql = "SELECT \(columns) FROM audit WHERE \(conditions.joined(separator: " AND ")) ORDER BY id DESC LIMIT "
        return SQLStatement(sql: sql + b.bind(.integer(max(0, limit))), values: b.values)
    }
}
