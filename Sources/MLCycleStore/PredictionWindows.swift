import Foundation

/// Consecutive time windows of one version's prediction log, to be summed up by the database: what a monitoring pass
/// reads instead of the rows themselves, so a month of a busy model's log never has to fit in memory.
///
/// A shadow answer counts as one of the version's answers (`shadow` as `ok`, `shadow review` as `review`, …), joined
/// with the feedback of the request it shadowed; every row is joined with the latest actual and override.
public struct PredictionWindows: Sendable, Equatable {
    public var model: String
    /// The version (e.g. "v3").
    public var version: String
    /// The windows' bounds `[start, end)`, oldest first.
    public var bounds: [Bound]
    /// What the labelled rows are measured with: a regression's errors, or a classifier's hits (and, for a binary
    /// classifier, its positive class for precision, recall, AUC and log-loss).
    public var task: Task

    public struct Bound: Sendable, Equatable {
        public var start: Date
        public var end: Date
        public init(start: Date, end: Date) {
            self.start = start
            self.end = end
        }
    }

    public enum Task: Sendable, Equatable {
        case regression
        case classification(positive: String?)
    }

    public init(model: String, version: String, bounds: [Bound], task: Task) {
        self.model = model
        self.version = version
        self.bounds = bounds
        self.task = task
    }

    /// The latency quantiles each window reports (positions of the sorted latencies, interpolated by the caller).
    public static let latencyQuantiles = [0.5, 0.95, 0.99]
    /// The absolute percentage error's floor (scikit-learn's), and the share that counts as "within".
    static let epsilon = Double.ulpOfOne
    static let withinShare = 0.10

    /// The statement counting each window's rows per status (a shadow's statuses read as the answers they stand for).
    func countsStatement(_ dialect: SQLDialect) -> SQLStatement {
        var binder = SQLBinder(dialect)
        let sql = """
            \(windowsTable(&binder))
            SELECT w.k AS "window", \(Self.status) AS status, COUNT(*) AS count,
                   SUM(CASE WHEN p.status LIKE 'shadow%' THEN 1 ELSE 0 END) AS shadow
            FROM prediction p JOIN w ON p.at >= w.lo AND p.at < w.hi
            WHERE \(conditions(&binder))
            GROUP BY w.k, \(Self.status)
            """
        return SQLStatement(sql: sql, values: binder.values)
    }

    /// The statement summing up each window: latency quantile positions, answers, confidence, overrides, and the
    /// labelled rows' errors (regression) or hits and ranks (classification). SQLite looks each row's latest feedback
    /// up on the feedback index (a join with a ranked feedback table is far slower there, as it cannot index it);
    /// PostgreSQL hash-joins it. Each ranking sorts only the two columns it needs (SQLite sorts whole rows).
    func totalsStatement(_ dialect: SQLDialect) -> SQLStatement {
        var b = SQLBinder(dialect)
        let greatest = dialect.numberedPlaceholders ? "GREATEST" : "MAX"
        let least = dialect.numberedPlaceholders ? "LEAST" : "MIN"
        let eps = b.bind(.real(Self.epsilon))
        // Quantile positions `q × (n − 1)` are computed in double precision, as the caller does.
        let positions = Self.latencyQuantiles.enumerated().map { i, q -> String in
            let q = b.bind(.real(q))
            return """
                MAX(CASE WHEN rank = floor(\(q) * (n - 1)) THEN latency END) AS lat\(i)_a,
                MAX(CASE WHEN rank = floor(\(q) * (n - 1)) + 1 THEN latency END) AS lat\(i)_b
                """
        }.joined(separator: ",\n")
        let window = windowsTable(&b)
        let whereClause = conditions(&b)
        let half = b.bind(.real(0.5))
        let labelled: String
        let ranked: String
        let rankedColumns: String
        let sums: String
        switch task {
        case .regression:
            let within = b.bind(.real(Self.withinShare))
            labelled = """
                CASE WHEN status = 'ok' AND pv IS NOT NULL AND av IS NOT NULL THEN 1 ELSE 0 END AS lab,
                CASE WHEN status = 'ok' AND pv IS NOT NULL AND av IS NOT NULL
                     THEN abs(pv - av) / \(greatest)(abs(av), \(eps)) END AS ape
                """
            ranked = """
                m AS (SELECT k, AVG(av) AS av_mean FROM x WHERE lab = 1 GROUP BY k),
                ap AS (
                  SELECT k, ape, ROW_NUMBER() OVER (PARTITION BY k ORDER BY ape) - 1 AS rank,
                         COUNT(*) OVER (PARTITION BY k) AS n
                  FROM x WHERE lab = 1
                ),
                aq AS (
                  SELECT k, MAX(CASE WHEN rank = floor(\(half) * (n - 1)) THEN ape END) AS ape_a,
                         MAX(CASE WHEN rank = floor(\(half) * (n - 1)) + 1 THEN ape END) AS ape_b
                  FROM ap GROUP BY k
                ),
                """
            rankedColumns = "aq.ape_a AS ape_a, aq.ape_b AS ape_b"
            sums = """
                SUM(CASE WHEN answered = 1 AND ov IS NOT NULL AND pv IS NOT NULL AND pv <> 0 THEN 1 ELSE 0 END) AS shift_n,
                SUM(CASE WHEN answered = 1 AND ov IS NOT NULL AND pv IS NOT NULL AND pv <> 0 THEN (ov - pv) / abs(pv) END)
                    AS shift_sum,
                SUM(lab) AS lab_n,
                SUM(CASE WHEN lab = 1 THEN (pv - av) * (pv - av) END) AS se,
                SUM(CASE WHEN lab = 1 THEN abs(pv - av) END) AS ae,
                SUM(ape) AS ape_sum,
                SUM(CASE WHEN lab = 1 AND abs(pv - av) <= \(within) * abs(av) THEN 1 ELSE 0 END) AS within_n,
                SUM(CASE WHEN lab = 1 THEN (av - m.av_mean) * (av - m.av_mean) END) AS ss
                """
        case .classification(let positive):
            // Without a positive class only hits are counted; the comparisons below then match nothing.
            let p = b.bind(.text(positive ?? ""))
            // The positive class's probability clipped as the log-loss clips it.
            let one = b.bind(.real(1 - Self.epsilon))
            labelled = """
                CASE WHEN status = 'ok' AND actual IS NOT NULL AND prediction IS NOT NULL THEN 1 ELSE 0 END AS lab,
                CASE WHEN status = 'ok' AND actual IS NOT NULL AND prediction IS NOT NULL AND confidence IS NOT NULL
                     THEN 1 ELSE 0 END AS scored,
                CASE WHEN actual = \(p) THEN 1 ELSE 0 END AS ypos,
                CASE WHEN prediction = \(p) THEN 1 ELSE 0 END AS said,
                CASE WHEN prediction = \(p) THEN confidence ELSE 1 - confidence END AS prob,
                \(least)(\(greatest)(CASE WHEN prediction = \(p) THEN confidence ELSE 1 - confidence END, \(eps)), \(one)) AS q
                """
            ranked = """
                -- No mean of the actuals to join for a classifier: an empty table keeps the query's shape.
                m AS (SELECT k FROM x WHERE 1 = 0),
                pr AS (
                  SELECT k, ypos, RANK() OVER (PARTITION BY k ORDER BY prob) AS prob_rank,
                         COUNT(*) OVER (PARTITION BY k, prob) AS prob_ties
                  FROM x WHERE scored = 1
                ),
                aq AS (
                  SELECT k, SUM(CASE WHEN ypos = 1 THEN prob_rank + \(half) * (prob_ties - 1) END) AS positive_rank_sum
                  FROM pr GROUP BY k
                ),
                """
            rankedColumns = "aq.positive_rank_sum AS positive_rank_sum"
            sums = """
                SUM(lab) AS lab_n,
                SUM(CASE WHEN lab = 1 AND actual = prediction THEN 1 ELSE 0 END) AS right_n,
                SUM(CASE WHEN lab = 1 AND ypos = 1 AND said = 1 THEN 1 ELSE 0 END) AS tp,
                SUM(CASE WHEN lab = 1 AND ypos = 0 AND said = 1 THEN 1 ELSE 0 END) AS fp,
                SUM(CASE WHEN lab = 1 AND ypos = 1 AND said = 0 THEN 1 ELSE 0 END) AS fn,
                SUM(scored) AS scored_n,
                SUM(scored * ypos) AS scored_positive_n,
                SUM(CASE WHEN scored = 1 THEN -(CASE WHEN ypos = 1 THEN ln(q) ELSE ln(1 - q) END) END) AS loss_sum
                """
        }
        // Each row in each window it falls in (the windows may overlap: a rule's span covers several), with its
        // latest actual and override.
        let rows: String
        if dialect.numberedPlaceholders {
            // PostgreSQL: each window's rows read on the (model, version, at) index, the latest feedback of the rows
            // in range hash-joined (DISTINCT ON) — per `EXPLAIN ANALYZE` on 1 M rows, 4× faster than a lookup per
            // row and a join of every row with every window.
            rows = """
                fb AS (
                  SELECT DISTINCT ON (f.prediction_id, f.kind) f.prediction_id AS id, f.kind AS kind, f.actual AS value
                  FROM feedback f
                  WHERE f.prediction_id IN (SELECT \(PredictionFilter.requestID) FROM prediction p WHERE \(whereClause))
                  ORDER BY f.prediction_id, f.kind, f.at DESC, f.id DESC
                ),
                latest AS (
                  SELECT id, MAX(CASE WHEN kind = 'actual' THEN value END) AS actual,
                         MAX(CASE WHEN kind = 'override' THEN value END) AS override
                  FROM fb GROUP BY id
                ),
                r AS (
                  SELECT w.k AS k, p.at AS at, p.latency AS latency, p.status AS status, p.prediction AS prediction,
                         p.confidence AS confidence, p.low AS low, l.actual AS actual, l.override AS override
                  FROM w CROSS JOIN LATERAL (
                    SELECT p.at, p.latency, \(Self.status) AS status, p.prediction, p.confidence,
                           CASE WHEN p.low_confidence THEN 1 ELSE 0 END AS low, \(PredictionFilter.requestID) AS request
                    FROM prediction p WHERE \(whereClause) AND p.at >= w.lo AND p.at < w.hi
                  ) p
                  LEFT JOIN latest l ON l.id = p.request
                ),
                """
        } else {
            // SQLite: the lookups on the feedback index, once a row: `v` is materialized, else its columns are inlined
            // and the lookup repeated at every use of `actual`.
            rows = """
                v AS MATERIALIZED (
                  SELECT p.at AS at, p.latency AS latency, \(Self.status) AS status, p.prediction AS prediction,
                         p.confidence AS confidence, CASE WHEN p.low_confidence THEN 1 ELSE 0 END AS low,
                         \(PredictionFilter.latestFeedback(.actual, dialect)),
                         \(PredictionFilter.latestFeedback(.override, dialect))
                  FROM prediction p
                  WHERE \(whereClause)
                ),
                r AS (SELECT w.k AS k, v.* FROM v JOIN w ON v.at >= w.lo AND v.at < w.hi),
                """
        }
        let sql = """
            \(window),
            \(rows)
            n AS MATERIALIZED (
              SELECT r.*,
                     CASE WHEN status LIKE 'error %' THEN 1 ELSE 0 END AS err,
                     CASE WHEN status IN ('ok', 'review') THEN 1 ELSE 0 END AS answered,
                     \(Self.number("prediction", dialect)) AS pv,
                     \(Self.number("actual", dialect)) AS av,
                     \(Self.number("override", dialect)) AS ov
              FROM r
            ),
            x AS (SELECT n.*, \(labelled) FROM n),
            lat AS (
              SELECT k, latency, ROW_NUMBER() OVER (PARTITION BY k ORDER BY latency) - 1 AS rank,
                     COUNT(*) OVER (PARTITION BY k) AS n
              FROM x WHERE err = 0
            ),
            lq AS (SELECT k, \(positions) FROM lat GROUP BY k),
            \(ranked)
            s AS (
              SELECT x.k AS "window",
                     SUM(1 - err) AS lat_n,
                     SUM(CASE WHEN status = 'ok' AND pv IS NOT NULL THEN 1 ELSE 0 END) AS pred_n,
                     SUM(CASE WHEN status = 'ok' THEN pv END) AS pred_sum,
                     SUM(answered) AS answered_n,
                     SUM(CASE WHEN answered = 1 AND confidence IS NOT NULL THEN 1 ELSE 0 END) AS confidence_n,
                     SUM(CASE WHEN answered = 1 THEN confidence END) AS confidence_sum,
                     SUM(answered * low) AS low_n,
                     SUM(CASE WHEN answered = 1 AND override IS NOT NULL THEN 1 ELSE 0 END) AS override_n,
                     \(sums)
              FROM x LEFT JOIN m ON m.k = x.k
              GROUP BY x.k
            )
            SELECT s.*, lq.lat0_a AS lat0_a, lq.lat0_b AS lat0_b, lq.lat1_a AS lat1_a, lq.lat1_b AS lat1_b,
                   lq.lat2_a AS lat2_a, lq.lat2_b AS lat2_b, \(rankedColumns)
            FROM s LEFT JOIN lq ON lq.k = s."window" LEFT JOIN aq ON aq.k = s."window"
            """
        return SQLStatement(sql: sql, values: b.values)
    }

    /// A row's status with a shadow's read as the answer it stands for ("shadow" is "ok"; "shadow review" is
    /// "review").
    static let status =
        "CASE WHEN p.status = 'shadow' THEN 'ok' WHEN p.status LIKE 'shadow%' THEN substr(p.status, 8) ELSE p.status END"

    /// A text column as a number where it is one, else NULL. SQLite has no regular expressions: there a text made of
    /// digits, signs, points and exponents counts (the server only logs numbers a regression's values are made of).
    static func number(_ column: String, _ dialect: SQLDialect) -> String {
        let test =
            dialect.numberedPlaceholders
            ? "\(column) ~ '^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$'"
            : "\(column) GLOB '*[0-9]*' AND \(column) NOT GLOB '*[^0-9eE.+-]*'"
        return "CASE WHEN \(test) THEN CAST(\(column) AS DOUBLE PRECISION) END"
    }

    /// `WITH w(k, lo, hi) AS (VALUES …)`: the windows as a table the log is joined to.
    func windowsTable(_ b: inout SQLBinder) -> String {
        let rows = bounds.enumerated().map { k, bound in
            "(\(k), \(b.bind(.real(bound.start.timeIntervalSince1970))), \(b.bind(.real(bound.end.timeIntervalSince1970))))"
        }
        return "WITH w(k, lo, hi) AS (VALUES \(rows.joined(separator: ", ")))"
    }

    /// The version's rows within the outermost bounds (so the database reads them by its (model, version, at) index).
    func conditions(_ b: inout SQLBinder) -> String {
        let first = bounds.map(\.start).min() ?? Date(timeIntervalSince1970: 0)
        let last = bounds.map(\.end).max() ?? first
        return """
            p.model = \(b.bind(.text(model))) AND p.version = \(b.bind(.text(version))) \
            AND p.at >= \(b.bind(.real(first.timeIntervalSince1970))) AND p.at < \(b.bind(.real(last.timeIntervalSince1970)))
            """
    }
}

/// How many rows of one window had one status (errors as `error KIND`), and how many of those a shadow answered.
public struct PredictionWindowCount: Sendable, Equatable, Decodable {
    public var window: Int
    public var status: String
    public var count: Int
    public var shadow: Int
}

/// One window's sums as the database computed them; the caller turns them into metrics. Regression fields are nil for
/// a classifier and the other way round.
public struct PredictionWindowTotals: Sendable, Decodable {
    /// The window's index in the query's bounds.
    public var window: Int
    /// Rows that were not errors, and the sorted latencies around each quantile's position (`a` at ⌊q(n−1)⌋, `b`
    /// after it), in the order of `PredictionWindows.latencyQuantiles`.
    public var latencyCount: Int
    public var latencyAround: [(a: Double?, b: Double?)] { [(lat0A, lat0B), (lat1A, lat1B), (lat2A, lat2B)] }
    var lat0A: Double?
    var lat0B: Double?
    var lat1A: Double?
    var lat1B: Double?
    var lat2A: Double?
    var lat2B: Double?
    /// `ok` rows whose answer is a number, and those numbers' sum.
    public var predictionCount: Int
    public var predictionSum: Double?
    /// Answers given (`ok` or `review`): with a confidence, its sum, flagged low, overridden.
    public var answeredCount: Int
    public var confidenceCount: Int
    public var confidenceSum: Double?
    public var lowConfidenceCount: Int
    public var overrideCount: Int
    /// Regression: numeric overrides of non-zero answers, and the sum of their relative moves.
    public var shiftCount: Int?
    public var shiftSum: Double?
    /// Labelled `ok` rows.
    public var labelledCount: Int?
    /// Regression: squared, absolute and absolute-percentage error sums, rows within 10 %, the actuals' sum of squared
    /// deviations, and the sorted percentage errors around the median.
    public var squaredError: Double?
    public var absoluteError: Double?
    public var percentageErrorSum: Double?
    public var withinCount: Int?
    public var actualSquaredDeviation: Double?
    public var percentageErrorAroundMedian: (a: Double?, b: Double?) { (apeA, apeB) }
    var apeA: Double?
    var apeB: Double?
    /// Classification: hits, true and false positives, false negatives; labelled rows with a confidence, the positives
    /// among them, the sum of their average ranks by the positive class's probability, and their log-loss sum.
    public var rightCount: Int?
    public var truePositives: Int?
    public var falsePositives: Int?
    public var falseNegatives: Int?
    public var scoredCount: Int?
    public var scoredPositiveCount: Int?
    public var positiveRankSum: Double?
    public var lossSum: Double?

    enum CodingKeys: String, CodingKey {
        case window
        case latencyCount = "lat_n"
        case lat0A = "lat0_a"
        case lat0B = "lat0_b"
        case lat1A = "lat1_a"
        case lat1B = "lat1_b"
        case lat2A = "lat2_a"
        case lat2B = "lat2_b"
        case predictionCount = "pred_n"
        case predictionSum = "pred_sum"
        case answeredCount = "answered_n"
        case confidenceCount = "confidence_n"
        case confidenceSum = "confidence_sum"
        case lowConfidenceCount = "low_n"
        case overrideCount = "override_n"
        case shiftCount = "shift_n"
        case shiftSum = "shift_sum"
        case labelledCount = "lab_n"
        case squaredError = "se"
        case absoluteError = "ae"
        case percentageErrorSum = "ape_sum"
        case withinCount = "within_n"
        case actualSquaredDeviation = "ss"
        case apeA = "ape_a"
        case apeB = "ape_b"
        case rightCount = "right_n"
        case truePositives = "tp"
        case falsePositives = "fp"
        case falseNegatives = "fn"
        case scoredCount = "scored_n"
        case scoredPositiveCount = "scored_positive_n"
        case positiveRankSum = "positive_rank_sum"
        case lossSum = "loss_sum"
    }
}

/// One window of the log, summed up by the database.
public struct PredictionWindowAggregate: Sendable {
    public var bound: PredictionWindows.Bound
    /// Rows per status (a shadow's read as the answers they stand for; errors as `error KIND`).
    public var statuses: [String: Int]
    /// Rows answered as a shadow (counted in `statuses` as the answers they stand for).
    public var shadowRows: Int
    /// Nil when the window has no rows.
    public var totals: PredictionWindowTotals?
}

extension PredictionWindows {
    /// Every window with its counts and totals, oldest first.
    func aggregates(counts: [PredictionWindowCount], totals: [PredictionWindowTotals]) -> [PredictionWindowAggregate] {
        var out = bounds.map { PredictionWindowAggregate(bound: $0, statuses: [:], shadowRows: 0, totals: nil) }
        for c in counts where out.indices.contains(c.window) {
            out[c.window].statuses[c.status, default: 0] += c.count
            out[c.window].shadowRows += c.shadow
        }
        for t in totals where out.indices.contains(t.window) { out[t.window].totals = t }
        return out
    }
}
