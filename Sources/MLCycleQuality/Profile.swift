import Foundation
import MLCycleData

/// A statistic that is a number, or a date/timestamp written as ISO text.
public enum ProfileValue: Codable, Sendable, Equatable, CustomStringConvertible {
    case number(Double)
    case text(String)

    public var number: Double? {
        if case .number(let d) = self { return d }
        return nil
    }

    public var description: String {
        switch self {
        case .number(let d): return formatDouble(d)
        case .text(let s): return s
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let d = try? c.decode(Double.self) { self = .number(d) } else { self = .text(try c.decode(String.self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .number(let d): try c.encode(d)
        case .text(let s): try c.encode(s)
        }
    }
}

/// One value and how often it occurs.
public struct ValueCount: Codable, Sendable, Equatable {
    public var value: String
    public var count: Int
}

/// Equal-width histogram with numpy's bin rule (`numpy.histogram(values, bins)`).
public struct Histogram: Codable, Sendable, Equatable {
    public var edges: [Double]
    public var counts: [Int]
}

/// The exploratory statistics of one column.
public struct ColumnProfile: Codable, Sendable {
    public var name: String
    public var type: DataType
    /// Non-missing values.
    public var count: Int
    public var missing: Int
    /// Distinct non-missing values.
    public var distinct: Int
    public var mean: ProfileValue?
    /// Sample standard deviation (ddof 1); days for dates, seconds for timestamps.
    public var std: Double?
    public var min: ProfileValue?
    public var q05: ProfileValue?
    public var q25: ProfileValue?
    public var median: ProfileValue?
    public var q75: ProfileValue?
    public var q95: ProfileValue?
    public var max: ProfileValue?
    public var zeros: Int?
    public var negatives: Int?
    /// Values below q25 − 1.5·IQR or above q75 + 1.5·IQR.
    public var outliers: Int?
    public var histogram: Histogram?
    /// The most frequent values, most frequent first (ties by value).
    public var top: [ValueCount]

    enum CodingKeys: String, CodingKey {
        case name, type, count, missing, distinct, mean, std, min, q05, q25, median, q75, q95, max
        case zeros, negatives, outliers, histogram, top
    }

    /// Every key is written, `null` where a statistic does not apply, so consumers see one shape.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(type, forKey: .type)
        try c.encode(count, forKey: .count)
        try c.encode(missing, forKey: .missing)
        try c.encode(distinct, forKey: .distinct)
        try c.encode(mean, forKey: .mean)
        try c.encode(std, forKey: .std)
        try c.encode(min, forKey: .min)
        try c.encode(q05, forKey: .q05)
        try c.encode(q25, forKey: .q25)
        try c.encode(median, forKey: .median)
        try c.encode(q75, forKey: .q75)
        try c.encode(q95, forKey: .q95)
        try c.encode(max, forKey: .max)
        try c.encode(zeros, forKey: .zeros)
        try c.encode(negatives, forKey: .negatives)
        try c.encode(outliers, forKey: .outliers)
        try c.encode(histogram, forKey: .histogram)
        try c.encode(top, forKey: .top)
    }
}

/// A symmetric matrix of pairwise statistics over some columns (`nil` where undefined).
public struct CorrelationMatrix: Codable, Sendable {
    public var columns: [String]
    public var matrix: [[Double?]]
    /// How many columns of this kind the matrix leaves out (`ProfileOptions.correlationColumns`); nil when none.
    public var columnsLeftOut: Int?

    public init(columns: [String], matrix: [[Double?]], columnsLeftOut: Int? = nil) {
        self.columns = columns
        self.matrix = matrix
        self.columnsLeftOut = columnsLeftOut
    }

    enum CodingKeys: String, CodingKey {
        case columns, matrix
        case columnsLeftOut = "columns_left_out"
    }

    public func value(_ a: String, _ b: String) -> Double? {
        guard let i = columns.firstIndex(of: a), let j = columns.firstIndex(of: b) else { return nil }
        return matrix[i][j]
    }
}

/// Pairwise associations between columns.
public struct Correlations: Codable, Sendable {
    /// Pearson correlation of numeric columns over pairwise-complete rows (pandas `corr()`).
    public var pearson: CorrelationMatrix
    /// Spearman rank correlation of numeric columns over pairwise-complete rows (pandas `corr("spearman")`).
    public var spearman: CorrelationMatrix
    /// Cramér's V of categorical columns (chi-square without continuity correction), pairwise-complete rows.
    public var cramersV: CorrelationMatrix

    enum CodingKeys: String, CodingKey {
        case pearson, spearman
        case cramersV = "cramers_v"
    }
}

/// How strongly one feature goes with the target.
public struct TargetAssociation: Codable, Sendable {
    public var column: String
    /// `pearson`, `spearman`, `cramers_v` or `correlation_ratio` (η).
    public var measure: String
    public var value: Double
}

/// The features most associated with a named target, strongest first.
public struct TargetProfile: Codable, Sendable {
    public var name: String
    public var associations: [TargetAssociation]
}

/// The exploratory profile of a table.
public struct TableProfile: Codable, Sendable {
    public var rows: Int
    public var duplicateRows: Int
    public var columns: [ColumnProfile]
    public var correlations: Correlations
    public var target: TargetProfile?

    enum CodingKeys: String, CodingKey {
        case rows
        case duplicateRows = "duplicate_rows"
        case columns, correlations, target
    }

    public func column(_ name: String) -> ColumnProfile? { columns.first { $0.name == name } }

    /// The profile as JSON (snake_case keys; undefined numbers are `null`, infinite ones "Infinity"/"-Infinity").
    ///
    /// The columns are encoded one at a time into the frame of the rest: `JSONEncoder` holds a tree of everything it
    /// encodes at once, five times the size of its output, which for 5,000 columns was 50 MB. The bytes are those of
    /// encoding the whole profile at once (a test checks it).
    public func jsonData(pretty: Bool = true) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = JSONEncoder.nonFiniteAsStrings
        var frame = self
        frame.columns = []
        let framed = try encoder.encode(frame)
        // With sorted keys, "columns" is the first member; its empty array is replaced by the columns.
        let opening = Data((pretty ? "{\n  \"columns\" : [" : "{\"columns\":[").utf8)
        guard !columns.isEmpty, framed.starts(with: opening),
            let closing = framed[opening.count...].firstIndex(of: UInt8(ascii: "]"))
        else { return columns.isEmpty ? framed : try encoder.encode(self) }
        let separator = Data((pretty ? ",\n    " : ",").utf8)
        var out = Data(framed[..<opening.count])
        for (i, column) in columns.enumerated() {
            out.append(i == 0 ? Data((pretty ? "\n    " : "").utf8) : separator)
            let encoded = try encoder.encode(column)
            if pretty {
                // Nested two levels deeper: every line after the first is indented by four more spaces.
                for (j, line) in encoded.split(separator: 10, omittingEmptySubsequences: false).enumerated() {
                    // An empty array's blank middle line stays blank, as the encoder writes it.
                    if j > 0 { out.append(contentsOf: line.isEmpty ? [10] : [10, 32, 32, 32, 32]) }
                    out.append(line)
                }
            } else {
                out.append(encoded)
            }
        }
        if pretty { out.append(Data("\n  ".utf8)) }
        out.append(framed[closing...])
        return out
    }
}
