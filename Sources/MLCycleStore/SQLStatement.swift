import Foundation

/// A value bound to a statement's placeholder.
enum SQLValue: Sendable {
    case text(String)
    case real(Double)
    case integer(Int)
}

/// What tells the two databases' SQL apart in the statements built here: their placeholders, the column that orders
/// rows stored in the same instant, and how a JSON column's field is read.
struct SQLDialect {
    /// `$1, $2, …` (PostgreSQL) rather than `?1, ?2, …` (SQLite).
    var numberedPlaceholders: Bool
    /// What orders rows logged in the same instant: SQLite's rowid (insertion order), else the id.
    var predictionSequence: String
    /// The feedback table's insertion order.
    var feedbackSequence: String

    static let sqlite = SQLDialect(numberedPlaceholders: false, predictionSequence: "rowid", feedbackSequence: "rowid")
    static let postgres = SQLDialect(numberedPlaceholders: true, predictionSequence: "id", feedbackSequence: "id")

    /// A text field of a JSON object column (`params`, `tags`), as SQL; `field` is bound.
    func jsonText(_ column: String, _ field: String, _ binder: inout SQLBinder) -> String {
        numberedPlaceholders
            ? "(\(column) ->> \(binder.bind(.text(field))))"
            : "json_extract(\(column), '$.' || json_quote(\(binder.bind(.text(field)))))"
    }
}

/// A statement's SQL and the values bound to its placeholders, in order.
struct SQLStatement {
    var sql: String
    var values: [SQLValue]
}

/// Numbered placeholders and their values: a value may be used more than once, and in any order in the text
/// (`$n` for PostgreSQL, `?n` for SQLite).
struct SQLBinder {
    let dialect: SQLDialect
    var values = [SQLValue]()
    init(_ dialect: SQLDialect) { self.dialect = dialect }
    mutating func bind(_ value: SQLValue) -> String {
        values.append(value)
        return (dialect.numberedPlaceholders ? "$" : "?") + "\(values.count)"
    }
}
