import Foundation
import MLCycleData

/// What a preparation pipeline does, as declared (in YAML, read by MLCycleProject): sources to merge, then steps.
public struct PreparationSpec: Codable, Sendable, Equatable {
    /// Tables to read and merge, in order: the first is the main table (when empty, the table given to `fit`
    /// is), each later one is prepared by its own steps and joined onto what came before.
    public var sources: [SourceSpec]
    /// Steps applied, in order, to the merged table.
    public var steps: [PreparationStep]
    /// How rows are split into training, validation and test parts (fit statistics come from training rows only).
    public var split: SplitSpec?

    public init(sources: [SourceSpec] = [], steps: [PreparationStep] = [], split: SplitSpec? = nil) {
        self.sources = sources
        self.steps = steps
        self.split = split
    }
}

/// One table to read, with its own clean-up steps and how it joins onto the tables before it.
public struct SourceSpec: Codable, Sendable, Equatable {
    public var name: String
    /// A CSV or JSON Lines file, or a SQLite database with `query`, relative to the pipeline file; or a PostgreSQL
    /// database's `postgres://` URL with `query` (`${NAME}` is read from the environment when it is read).
    public var path: String
    /// A SQL query, when `path` is a database.
    public var query: String?

    /// The source is a PostgreSQL database (`url:` in the pipeline).
    public var isDatabase: Bool { Self.isDatabaseURL(path) }

    /// `text` names a PostgreSQL database.
    public static func isDatabaseURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }
    public var steps: [PreparationStep]
    /// nil for the first source.
    public var join: JoinSpec?
    /// A lookup read from its database at serving (`serving: live`) instead of kept in the model.
    public var live: LiveLookupSpec?

    public init(
        name: String, path: String, query: String? = nil, steps: [PreparationStep] = [], join: JoinSpec? = nil,
        live: LiveLookupSpec? = nil
    ) {
        self.name = name
        self.path = path
        self.query = query
        self.steps = steps
        self.join = join
        self.live = live
    }
}

/// How a live lookup is cached at serving: the records of the keys asked for most recently, each for `ttlSeconds`.
public struct LiveLookupSpec: Codable, Sendable, Equatable {
    /// The most keys whose records are kept (least recently used go first).
    public var cacheRecords: Int
    /// How long a key's records (or their absence) are used before the database is asked again; 0: every request.
    public var ttlSeconds: Double

    public static let defaultCacheRecords = 10_000
    public static let defaultTTLSeconds = 60.0

    enum CodingKeys: String, CodingKey {
        case cacheRecords = "cache_records"
        case ttlSeconds = "ttl_seconds"
    }

    public init(cacheRecords: Int = defaultCacheRecords, ttlSeconds: Double = defaultTTLSeconds) {
        self.cacheRecords = cacheRecords
        self.ttlSeconds = ttlSeconds
    }
}

/// Join keys (same name on both sides, or `left:right` pairs) and kind.
public struct JoinSpec: Codable, Sendable, Equatable {
    public var keys: [JoinKey]
    public var kind: String  // "left" or "inner"
    /// Whether a row with no record is refused at serving (`unavailable`); nil: when the join is inner.
    public var required: Bool?
    /// A point-in-time join: each row gets the latest record whose time (`right`) is not after the row's (`left`).
    public var asOf: JoinKey?

    enum CodingKeys: String, CodingKey {
        case keys, kind, required
        case asOf = "as_of"
    }

    /// Whether a row with no record is refused at serving.
    public var isRequired: Bool { required ?? (kind == "inner") }

    public struct JoinKey: Codable, Sendable, Equatable {
        public var left: String
        public var right: String
        public init(left: String, right: String) {
            self.left = left
            self.right = right
        }
    }

    public init(keys: [JoinKey], kind: String = "left", required: Bool? = nil, asOf: JoinKey? = nil) {
        self.keys = keys
        self.kind = kind
        self.required = required
        self.asOf = asOf
    }
}

/// How rows are divided for training and testing.
public struct SplitSpec: Codable, Sendable, Equatable {
    public enum Method: String, Codable, Sendable, CaseIterable {
        /// Rows at random.
        case random
        /// At random within each class of `column` (classification), so every part keeps the class shares.
        case stratified
        /// By time: the earliest rows (by `column`) train, the latest test.
        case time
        /// Whole groups of `column` (e.g. a house sold twice) go to one part, so no group leaks across.
        case group
    }
    public var method: Method
    /// The class column (stratified), time column (time) or group column (group).
    public var column: String?
    public var validationFraction: Double
    public var testFraction: Double
    public var seed: UInt64

    public init(
        method: Method = .random, column: String? = nil, validationFraction: Double = 0, testFraction: Double = 0.2,
        seed: UInt64 = 42
    ) {
        self.method = method
        self.column = column
        self.validationFraction = validationFraction
        self.testFraction = testFraction
        self.seed = seed
    }
}

/// One preparation step. Steps that remove rows (`dropDuplicates`, `filter` without `flag`) act when a pipeline
/// is fitted or applied to a training set; a pipeline applied for serving keeps every row and reports those rows
/// in `PreparedTable.rowIssues` instead.
public enum PreparationStep: Codable, Sendable, Equatable {
    /// Drop rows repeating an earlier row: entirely (`keys` empty) or on the key columns. The first is kept.
    case dropDuplicates(keys: [String])
    /// Keep rows where `expression` is true; with `flag`, keep every row and add a bool column `flag` that is
    /// true where the expression is not (e.g. `living_area_sqft > 0 and sale_price > 1000`).
    case filter(expression: String, flag: String?)
    /// Clean text columns: trim spaces, fold case, replace whole words (`st.` → `street`), map whole values.
    case text(columns: [String], trim: Bool, fold: TextCase?, words: [String: String], values: [String: String])
    /// Parse text columns as dates, trying each format (`yyyy-MM-dd`, `MM/dd/yyyy`, `dd.MM.yyyy`, …) in turn.
    case parseDates(columns: [String], formats: [String])
    /// Fill missing values; with `indicator`, add `<column>_was_missing`.
    case impute(columns: [String], strategy: ImputeStrategy, groupBy: [String], indicator: Bool)
    /// Turn categories into numbers.
    case encode(columns: [String], method: EncodeMethod)
    /// Rescale numeric columns.
    case scale(columns: [String], method: ScaleMethod)
    /// Replace x by log(1 + x) (x ≥ 0; a negative value becomes missing).
    case log(columns: [String])
    /// A new column from an expression over the others (see `Expression`).
    case derive(name: String, expression: String)
    /// Remove columns.
    case drop(columns: [String])

    public enum TextCase: String, Codable, Sendable { case lower, upper }

    public enum ImputeStrategy: Codable, Sendable, Equatable {
        case mean, median, mostFrequent
        /// A fixed value (text columns: the default is the level `unknown`).
        case constant(String)
    }

    public enum EncodeMethod: Codable, Sendable, Equatable {
        /// A 0/1 column per level for the `maxLevels` most frequent levels; the rest (and unseen levels) go to
        /// `<column>_other`.
        case oneHot(maxLevels: Int)
        /// Levels in the given order become 0, 1, 2, …; an unseen level becomes missing.
        case ordinal(order: [String])
        /// The level's share of training rows (0 for an unseen level).
        case frequency
        /// The smoothed mean target of the level, computed out of fold (`folds`) on training rows so a row never
        /// sees its own target; an unseen level gets the overall mean.
        case target(folds: Int, smoothing: Double)
    }

    public enum ScaleMethod: String, Codable, Sendable, CaseIterable {
        /// (x − mean) / standard deviation (population, as scikit-learn's StandardScaler).
        case standard
        /// (x − min) / (max − min).
        case minMax = "min_max"
        /// (x − median) / (q75 − q25), as scikit-learn's RobustScaler.
        case robust
    }

    /// Whether the step may remove rows (then it only acts on training data).
    public var removesRows: Bool {
        switch self {
        case .dropDuplicates: return true
        case .filter(_, let flag): return flag == nil
        default: return false
        }
    }
}

/// Errors of preparation: a missing column, a wrong type, a bad expression, an impossible split.
public enum PrepError: LocalizedError, Equatable, Sendable {
    case missingColumn(step: String, column: String, available: [String])
    case wrongType(step: String, column: String, expected: String, found: DataType)
    case invalid(step: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case .missingColumn(let step, let column, let available):
            return
                "\(step): no column '\(column)' (columns: \(available.prefix(30).joined(separator: ", "))\(available.count > 30 ? ", …" : ""))"
        case .wrongType(let step, let column, let expected, let found):
            return "\(step): column '\(column)' is \(found), expected \(expected)"
        case .invalid(let step, let reason):
            return "\(step): \(reason)"
        }
    }
}
