import Foundation
import MLCycleData

/// A table after preparation, with the rows a serving-mode run would have dropped in training and why.
public struct PreparedTable: Sendable {
    public var table: Table
    /// Row index → reasons (serving mode only: duplicates are kept, failed filters are reported here).
    public var rowIssues: [Int: [String]]
}

/// A value a missing cell is filled with.
public enum FillValue: Codable, Sendable, Equatable {
    case number(Double)
    case text(String)
}

/// A fitted preparation step: the spec plus every statistic learned from training rows.
public enum FittedStep: Codable, Sendable, Equatable {
    case dropDuplicates(keys: [String])
    case filter(expression: String, flag: String?)
    case text(
        columns: [String], trim: Bool, fold: PreparationStep.TextCase?, words: [String: String],
        values: [String: String])
    case parseDates(columns: [String], formats: [String])
    /// `fill` overall; with `groupBy`, `groups[key]` first (key: the group's values joined by U+001F).
    case impute(column: String, fill: FillValue, groupBy: [String], groups: [String: FillValue], indicator: Bool)
    case oneHot(column: String, levels: [String], other: Bool)
    case ordinal(column: String, order: [String])
    case frequency(column: String, shares: [String: Double])
    case target(column: String, means: [String: Double], prior: Double)
    case scale(column: String, center: Double, scale: Double)
    case log(columns: [String])
    case derive(name: String, expression: String)
    case drop(columns: [String])
}

/// The fitted pipeline that travels in a model bundle: training and serving apply exactly the same steps.
public struct FittedPipeline: Codable, Sendable, Equatable {
    public static let formatName = "mlcycle-pipeline"
    public static let formatVersion = 1
    public var format = FittedPipeline.formatName
    public var version = FittedPipeline.formatVersion
    public var steps: [FittedStep]
    /// The columns (and types) the pipeline was fitted on, in order.
    public var inputSchema: [ColumnSpec]
    /// The columns it produces.
    public var outputSchema: [ColumnSpec]

    public struct ColumnSpec: Codable, Sendable, Equatable {
        public var name: String
        public var type: DataType

        /// A table's columns: names and types, in order.
        public static func of(_ table: Table) -> [ColumnSpec] {
            table.columns.map { .init(name: $0.name, type: $0.type) }
        }

        public init(name: String, type: DataType) {
            self.name = name
            self.type = type
        }
    }

    /// Applies the fitted steps. In serving mode no row is dropped: duplicates stay and rows failing a filter are
    /// listed in `rowIssues`. A column the pipeline needs that is absent is an error naming it; an unseen category
    /// follows each encoder's documented fallback.
    public func transform(_ table: Table, serving: Bool = false) throws -> PreparedTable {
        var t = table
        var issues = [Int: [String]]()
        var rowIds = Array(0..<table.rowCount)  // for issue reporting: current row → input row
        for step in steps {
            if serving {
                switch step {
                case .dropDuplicates: continue
                case .filter(let expression, nil):
                    // A filter on a column serving rows do not carry (the target, say) is a training-only check.
                    let columns = (try? MLCycleData.Expression.parse(expression).columns) ?? []
                    if columns.contains(where: { t.columnIndex($0) == nil }) { continue }
                    let keep = try Transforms.filterMask(t, expression: expression)
                    for (r, ok) in keep.enumerated() where !ok {
                        issues[rowIds[r], default: []].append("fails '\(expression)'")
                    }
                    continue
                default: break
                }
            }
            let (next, kept) = try Transforms.apply(step, to: t)
            if let kept { rowIds = kept.map { rowIds[$0] } }
            t = next
        }
        return PreparedTable(table: t, rowIssues: issues)
    }

    /// Encodes as JSON (sorted keys, so the same pipeline always gives the same bytes).
    public func jsonData() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try e.encode(self)
    }

    /// Decodes a fitted pipeline, refusing other formats and newer versions with a clear message.
    public static func decode(_ data: Data, path: String = "pipeline") throws -> FittedPipeline {
        if let problem = FileFormat.problem(data, name: formatName, what: "fitted pipeline", newest: formatVersion) {
            throw PrepError.invalid(step: path, reason: problem)
        }
        do { return try JSONDecoder().decode(FittedPipeline.self, from: data) } catch {
            throw PrepError.invalid(step: path, reason: "damaged fitted pipeline: \(error)")
        }
    }
}

/// Fits preparation steps on training rows.
public enum PreparationPipeline {
    /// Fits `steps` one after another on `table` (the training rows), each on the output of the steps before it,
    /// and returns the fitted pipeline with the prepared training table. Target encoding is fitted out of fold
    /// here, so the training rows' encodings never use their own targets; `transform` on new rows uses all of them.
    public static func fit(_ steps: [PreparationStep], on table: Table, target: String? = nil, seed: UInt64 = 42) throws
        -> (FittedPipeline, Table)
    {
        var t = table
        var fitted = [FittedStep]()
        for step in steps {
            let (parts, trainingTable) = try Transforms.fit(step, on: t, target: target, seed: seed)
            fitted.append(contentsOf: parts)
            if let trainingTable {
                t = trainingTable
            } else {
                for part in parts { t = try Transforms.apply(part, to: t).0 }
            }
        }
        let pipeline = FittedPipeline(
            steps: fitted, inputSchema: FittedPipeline.ColumnSpec.of(table),
            outputSchema: FittedPipeline.ColumnSpec.of(t))
        return (pipeline, t)
    }
}

extension FittedPipeline {
    /// A pipeline without steps: rows of `columns` pass through as they are (an imported model's).
    public init(passingThrough columns: [ColumnSpec]) {
        self.init(steps: [], inputSchema: columns, outputSchema: columns)
    }

    /// For each column the pipeline leaves, the input columns it was made from, each with its share (summing to 1):
    /// a column rewritten in place is its own; a one-hot level, an imputation's `_was_missing` flag and an encoding
    /// are their column's; a derived column or a filter's flag splits equally between the columns its expression
    /// reads (and theirs in turn). With `imputeGroups`, an imputed column is made from its `group_by` columns too,
    /// equally (its fill depends on them).
    public func origins(imputeGroups: Bool = false) -> [String: [String: Double]] {
        var map = [String: [String: Double]]()
        for c in inputSchema { map[c.name] = [c.name: 1] }
        func of(_ column: String) -> [String: Double] { map[column] ?? [column: 1] }
        func mix(_ columns: [String]) -> [String: Double] {
            var out = [String: Double]()
            let unique = Array(Set(columns))
            for c in unique {
                for (input, share) in of(c) { out[input, default: 0] += share / Double(unique.count) }
            }
            return out
        }
        func reads(_ expression: String) -> [String] {
            (try? MLCycleData.Expression.parse(expression).columns) ?? []
        }
        for step in steps {
            switch step {
            case .derive(let name, let e), .filter(let e, let name?):
                map[name] = mix(reads(e))
            case .impute(let c, _, let by, _, let indicator):
                if imputeGroups && !by.isEmpty { map[c] = mix([c] + by) }
                if indicator { map["\(c)_was_missing"] = of(c) }
            case .oneHot(let c, let levels, let other):
                let origin = of(c)
                for name in levels.map({ "\(c)_\($0)" }) + (other ? ["\(c)_other"] : []) { map[name] = origin }
                map[c] = nil
            case .drop(let columns):
                for c in columns { map[c] = nil }
            case .filter(_, nil), .dropDuplicates, .text, .parseDates, .ordinal, .frequency, .target, .scale, .log:
                continue
            }
        }
        return map
    }
}
