import Foundation

/// Which runs a listing reads, in which order and which page of them. Every condition is applied by the database
/// (project and id are indexed), so a page of the newest runs reads that page only, however many runs are stored.
public struct RunFilter: Sendable, Equatable {
    /// How a listing orders its runs.
    public enum Order: String, Sendable, CaseIterable {
        case newest, oldest, longest, shortest
    }

    public var project: String?
    /// One stage only (`train`, `evaluate`, `pipeline`, …).
    public var stage: String?
    public var status: RunStatus?
    /// Only runs whose `learner` parameter is this (the training runs of one learner).
    public var learner: String?
    /// Started at this moment or later.
    public var since: Date?
    /// Started before this moment.
    public var before: Date?
    /// Only runs of the `mlcycle run` whose pipeline run this is (its stages, tagged `pipeline`).
    public var pipeline: Int64?
    public var order: Order
    /// Runs to skip before the first one listed.
    public var offset: Int
    /// At most this many (nil: all).
    public var limit: Int?

    public init(
        project: String? = nil, stage: String? = nil, status: RunStatus? = nil, learner: String? = nil,
        since: Date? = nil, before: Date? = nil, pipeline: Int64? = nil, order: Order = .newest, offset: Int = 0,
        limit: Int? = nil
    ) {
        self.project = project
        self.stage = stage
        self.status = status
        self.learner = learner
        self.since = since
        self.before = before
        self.pipeline = pipeline
        self.order = order
        self.offset = offset
        self.limit = limit
    }

    /// `SELECT columns FROM run WHERE … ORDER BY … LIMIT … OFFSET …` for this filter (a count: no order, no page).
    func select(_ columns: String, _ dialect: SQLDialect, count: Bool = false) -> SQLStatement {
        var b = SQLBinder(dialect)
        var conditions = [String]()
        if let project { conditions.append("project = \(b.bind(.text(project)))") }
        if let stage { conditions.append("stage = \(b.bind(.text(stage)))") }
        if let status { conditions.append("status = \(b.bind(.text(status.rawValue)))") }
        if let learner { conditions.append("\(dialect.jsonText("params", "learner", &b)) = \(b.bind(.text(learner)))") }
        if let since { conditions.append("started >= \(b.bind(.real(since.timeIntervalSince1970)))") }
        if let before { conditions.append("started < \(b.bind(.real(before.timeIntervalSince1970)))") }
        if let pipeline {
            conditions.append("\(dialect.jsonText("tags", "pipeline", &b)) = \(b.bind(.text(String(pipeline))))")
        }
        var sql = "SELECT \(columns) FROM run"
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        if count { return SQLStatement(sql: sql, values: b.values) }
        // A running run's duration is counted to now, so it sorts among the longest.
        func duration() -> String { "(COALESCE(ended, \(b.bind(.real(Date().timeIntervalSince1970)))) - started)" }
        switch order {
        case .newest: sql += " ORDER BY id DESC"
        case .oldest: sql += " ORDER BY id"
        case .longest: sql += " ORDER BY \(duration()) DESC, id DESC"
        case .shortest: sql += " ORDER BY \(duration()), id DESC"
        }
        sql += " LIMIT \(b.bind(.integer(max(0, limit ?? Int(Int32.max)))))"
        sql += " OFFSET \(b.bind(.integer(max(0, offset))))"
        return SQLStatement(sql: sql, values: b.values)
    }
}
