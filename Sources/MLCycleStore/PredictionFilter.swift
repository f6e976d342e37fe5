import Foundation

/// Which rows of the prediction log a query reads. Every condition is applied by the database, on its indexes
/// (model, version, status and time), so a query never loads rows it then throws away.
public struct PredictionFilter: Sendable, Equatable {
    public var model: String
    /// One version only (e.g. "v3").
    public var version: String?
    /// From this moment on (inclusive).
    public var since: Date?
    /// Before this moment (exclusive).
    public var before: Date?
    /// Only rows with one of these statuses (`ok`, `review`, `shadow`, …).
    public var statuses: [String]?
    /// Only the row with this id.
    public var id: String?
    /// `false` leaves out the answers of a shadow version (status `shadow…`); `true` keeps only those.
    public var shadow: Bool?
    /// Only rows with no feedback of this kind (e.g. the review queue: no override yet).
    public var withoutFeedback: FeedbackKind?
    /// Newest first (default: oldest first).
    public var newestFirst: Bool
    /// At most this many rows (nil: every row that matches).
    public var limit: Int?

    public init(
        model: String, version: String? = nil, since: Date? = nil, before: Date? = nil, statuses: [String]? = nil,
        id: String? = nil, shadow: Bool? = nil, withoutFeedback: FeedbackKind? = nil, newestFirst: Bool = false,
        limit: Int? = nil
    ) {
        self.model = model
        self.version = version
        self.since = since
        self.before = before
        self.statuses = statuses
        self.id = id
        self.shadow = shadow
        self.withoutFeedback = withoutFeedback
        self.newestFirst = newestFirst
        self.limit = limit
    }

    /// The id of the request a row answered, in SQL: a shadow answer's id is the request's with "-shadow" after it.
    static let requestID = "CASE WHEN p.id LIKE '%-shadow' THEN substr(p.id, 1, length(p.id) - 7) ELSE p.id END"

    /// `SELECT columns FROM prediction p WHERE … ORDER BY … LIMIT …` for this filter (a count: no order, no limit).
    func select(_ columns: String, _ dialect: SQLDialect, count: Bool = false) -> SQLStatement {
        var binder = SQLBinder(dialect)
        func bind(_ value: SQLValue) -> String { binder.bind(value) }
        var conditions = ["p.model = \(bind(.text(model)))"]
        if let version { conditions.append("p.version = \(bind(.text(version)))") }
        if let since { conditions.append("p.at >= \(bind(.real(since.timeIntervalSince1970)))") }
        if let before { conditions.append("p.at < \(bind(.real(before.timeIntervalSince1970)))") }
        if let statuses {
            let marks = statuses.map { bind(.text($0)) }
            conditions.append(marks.isEmpty ? "1 = 0" : "p.status IN (\(marks.joined(separator: ", ")))")
        }
        if let id { conditions.append("p.id = \(bind(.text(id)))") }
        if let shadow { conditions.append("\(shadow ? "" : "NOT ")p.status LIKE 'shadow%'") }
        if let withoutFeedback {
            conditions.append(
                "NOT EXISTS (SELECT 1 FROM feedback f WHERE f.prediction_id = \(Self.requestID) AND f.kind = '\(withoutFeedback.rawValue)')"
            )
        }
        var sql = "SELECT \(columns) FROM prediction p WHERE \(conditions.joined(separator: " AND "))"
        if count { return SQLStatement(sql: sql, values: binder.values) }
        let direction = newestFirst ? " DESC" : ""
        let order = ["p.at\(direction)", "p.\(dialect.predictionSequence)\(direction)"]
        sql += " ORDER BY \(order.joined(separator: ", "))"
        if let limit { sql += " LIMIT \(bind(.integer(max(0, limit))))" }
        return SQLStatement(sql: sql, values: binder.values)
    }

    /// The latest feedback value of `kind` on the request a row answered, as a correlated subquery.
    static func latestFeedback(_ kind: FeedbackKind, _ dialect: SQLDialect) -> String {
        """
        (SELECT f.actual FROM feedback f WHERE f.prediction_id = \(requestID) AND f.kind = '\(kind.rawValue)' \
        ORDER BY f.at DESC, f.\(dialect.feedbackSequence) DESC LIMIT 1) AS "\(kind == .actual ? "actual" : "override")"
        """
    }
}

/// A logged prediction with the latest feedback on the request it answered (a shadow answer's feedback is its
/// request's), joined by the database.
public struct AnsweredPrediction: Sendable, Equatable, Decodable {
    public var record: PredictionRecord
    /// The latest actual (the eventual truth).
    public var actual: String?
    /// The latest override (a person's replacement of the answer).
    public var override: String?

    public init(record: PredictionRecord, actual: String? = nil, override: String? = nil) {
        self.record = record
        self.actual = actual
        self.override = override
    }

    enum CodingKeys: String, CodingKey { case actual, override }

    /// Reads the record's columns and the two feedback columns from one flat row.
    public init(from decoder: any Decoder) throws {
        record = try PredictionRecord(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        actual = try c.decodeIfPresent(String.self, forKey: .actual)
        override = try c.decodeIfPresent(String.self, forKey: .override)
    }
}
