import Foundation
import MLCycleData
import MLCycleMonitor
import MLCyclePrep
import MLCycleSources
import Yams

/// Problems found in a YAML spec, all at once, each with its line and field path.
public struct SpecFileError: LocalizedError, Sendable {
    public typealias Problem = RuleFileError.Problem
    public var file: String
    public var problems: [Problem]

    public var errorDescription: String? {
        let lines = problems.map { p in "\(file):\(p.line.map(String.init) ?? "?"): \(p.path): \(p.message)" }
        return "\(file) has \(problems.count) problem\(problems.count == 1 ? "" : "s"):\n"
            + lines.joined(separator: "\n")
    }
}

/// Reads YAML nodes into typed values, collecting every problem (with line and path) instead of stopping at one.
final class SpecReader {
    var problems = [SpecFileError.Problem]()

    func problem(_ node: Node?, _ path: String, _ message: String) {
        problems.append(.init(line: node?.mark.map { $0.line }, path: path, message: message))
    }

    /// A mapping's entries by key; unknown keys are reported.
    func mapping(_ node: Node?, _ path: String, allowed: Set<String>) -> [String: Node]? {
        guard let node else { return nil }
        guard case .mapping(let m) = node else {
            problem(node, path, "expected a mapping (key: value)")
            return nil
        }
        var out = [String: Node]()
        for (k, v) in m {
            guard let key = k.string else {
                problem(k, path, "keys must be text")
                continue
            }
            if !allowed.contains(key) {
                problem(
                    k, "\(path).\(key)", "unknown key (expected one of: \(allowed.sorted().joined(separator: ", ")))")
            }
            out[key] = v
        }
        return out
    }

    func string(_ node: Node?, _ path: String) -> String? {
        guard let node else { return nil }
        guard case .scalar(let s) = node else {
            problem(node, path, "expected a single value")
            return nil
        }
        return s.string
    }

    /// A list of text values; a single value counts as a list of one.
    func strings(_ node: Node?, _ path: String) -> [String]? {
        guard let node else { return nil }
        switch node {
        case .scalar(let s): return [s.string]
        case .sequence(let seq): return seq.enumerated().compactMap { string($1, "\(path)[\($0)]") }
        default:
            problem(node, path, "expected a list of values")
            return nil
        }
    }

    func stringMap(_ node: Node?, _ path: String) -> [String: String]? {
        guard let node else { return nil }
        guard case .mapping(let m) = node else {
            problem(node, path, "expected a mapping such as {from: to}")
            return nil
        }
        var out = [String: String]()
        for (k, v) in m { if let key = k.string, let value = string(v, "\(path).\(key)") { out[key] = value } }
        return out
    }

    func double(_ node: Node?, _ path: String, in range: ClosedRange<Double>? = nil) -> Double? {
        guard let s = string(node, path) else { return nil }
        guard let x = Double(s), x.isFinite else {
            problem(node, path, "expected a number, found '\(s)'")
            return nil
        }
        if let range, !range.contains(x) {
            problem(node, path, "\(s) is outside \(range.lowerBound)…\(range.upperBound)")
            return nil
        }
        return x
    }

    func int(_ node: Node?, _ path: String, min: Int = 0) -> Int? {
        guard let s = string(node, path) else { return nil }
        guard let x = Int(s), x >= min else {
            problem(node, path, "expected a whole number ≥ \(min), found '\(s)'")
            return nil
        }
        return x
    }

    func bool(_ node: Node?, _ path: String) -> Bool? {
        guard let s = string(node, path) else { return nil }
        switch s.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            problem(node, path, "expected true or false, found '\(s)'")
            return nil
        }
    }

    func required<T>(_ value: T?, _ node: Node?, _ path: String, _ what: String) -> T? {
        if value == nil && node == nil { problem(nil, path, "missing: \(what)") }
        return value
    }
}

/// Reads preparation pipelines from YAML.
///
/// ```yaml
/// sources:                       # optional: without it, the table given with --data is prepared
///   - name: sales
///     path: sales.csv            # relative to this file; .csv or .jsonl, or a SQLite file with query: "SELECT …"
///                                # or url: postgres://USER@HOST/DB with query: "SELECT …" (the team's database)
///     steps:
///       - drop_duplicates: [address, sale_date]
///       - text: {columns: [address], trim: true, case: lower, words: {st: street, "st.": street}}
///   - name: tax
///     path: tax_records.csv
///     join: {on: [address], kind: left}     # or on: ["address:parcel_address"]; required: true refuses a
///                                           # request with no record; as_of: "sale_date:recorded" joins each
///                                           # row to the latest record not after its time
///   - name: assessor             # a lookup read from its database at serving, not kept in the model
///     url: postgres://${PGUSER}@db/assessor
///     query: "SELECT parcel_address AS address, lot_area_sqft FROM parcels"
///     join: {on: [address]}
///     serving: live              # default: snapshot (the records travel in the model, up to 100 MB)
///     cache: {records: 10000, ttl: 60s}      # per server: most recently asked keys, re-read after ttl
/// steps:
///   - filter: "living_area_sqft > 0 or is_missing(living_area_sqft)"   # drops failing rows in training
///   - filter: {expression: "sale_price > 1000", flag: suspicious_price} # keeps them, adds a flag column
///   - parse_dates: {columns: [sale_date], formats: [yyyy-MM-dd, MM/dd/yyyy]}
///   - impute: {columns: [living_area_sqft], strategy: median, by: [neighborhood], indicator: true}
///   - encode: {columns: [condition], method: ordinal, order: [Poor, Fair, Good, Excellent]}
///   - encode: {columns: [neighborhood], method: one_hot, max_levels: 20}   # or frequency, target
///   - scale: {columns: [lot_area_sqft], method: robust}                    # standard, min_max, robust
///   - log: [lot_area_sqft]
///   - derive: {name: age, expression: "year(sale_date) - year_built"}
///   - drop: [address]
/// split: {method: random, test: 0.2, validation: 0, seed: 42}   # stratified/time/group need column:
/// ```
public enum PipelineFile {
    /// Reads CSV, JSON Lines and SQLite-query sources (the reader `mlcycle prepare` and `mlcycle run` use).
    public static let sourceReader: PreparationRun.SourceReader = reader(databaseTables: [:])

    /// The source reader, with the tables of the PostgreSQL sources read beforehand (`readDatabaseSources`), by
    /// source name.
    public static func reader(databaseTables: [String: Table]) -> PreparationRun.SourceReader {
        { source, path in
            if source.isDatabase {
                guard let table = databaseTables[source.name] else {
                    throw DataError.invalidArgument("source \(source.name): its database was not read")
                }
                return table
            }
            if let query = source.query { return try SQLiteSource.read(database: path, query: query) }
            return try PreparationRun.fileReader(source, path)
        }
    }

    /// Reads every PostgreSQL source of `spec` (`url:` with `query:`), by source name.
    public static func readDatabaseSources(_ spec: PreparationSpec) async throws -> [String: Table] {
        var tables = [String: Table]()
        for source in spec.sources where source.isDatabase {
            guard let query = source.query else {
                throw DataError.invalidArgument("source \(source.name): a database source needs query: \"SELECT …\"")
            }
            tables[source.name] = try await PostgresSource.read(url: source.path, query: query)
        }
        return tables
    }

    public static func load(path: String) throws -> PreparationSpec {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError.fileNotFound(path: path) }
        return try parse(TextEncoding.utf8Text(data, file: path), file: path)
    }

    public static func parse(_ yaml: String, file: String = "<pipeline>") throws -> PreparationSpec {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            throw SpecFileError(
                file: file, problems: [.init(line: nil, path: "(file)", message: "not valid YAML: \(error)")])
        }
        let r = SpecReader()
        var spec = PreparationSpec()
        if let top = r.mapping(root, "(file)", allowed: ["sources", "steps", "split"]) {
            spec = read(top, r)
        } else if root != nil {
            r.problem(root, "(file)", "expected 'sources', 'steps' and 'split' at the top level")
        }
        if !r.problems.isEmpty { throw SpecFileError(file: file, problems: r.problems) }
        return spec
    }

    /// A source's `serving` and `cache`: nil unless `serving: live`, which only a database source joined as a lookup
    /// can be.
    static func live(_ m: [String: Node], path: String, database: Bool, joined: Bool, _ r: SpecReader)
        -> LiveLookupSpec?
    {
        let mode = r.string(m["serving"], "\(path).serving") ?? "snapshot"
        guard mode == "live" else {
            if mode != "snapshot" { r.problem(m["serving"], "\(path).serving", "expected snapshot or live") }
            if m["cache"] != nil { r.problem(m["cache"], "\(path).cache", "a cache is for serving: live") }
            return nil
        }
        if !database || !joined {
            r.problem(
                m["serving"], "\(path).serving",
                "serving: live reads a lookup from its database: it needs url: and query:, and a source before it "
                    + "to join onto")
        }
        var spec = LiveLookupSpec()
        if let c = r.mapping(m["cache"], "\(path).cache", allowed: ["records", "ttl"]) {
            spec.cacheRecords = r.int(c["records"], "\(path).cache.records", min: 1) ?? spec.cacheRecords
            if let text = r.string(c["ttl"], "\(path).cache.ttl") {
                if let seconds = Double(text), seconds >= 0, seconds.isFinite {
                    spec.ttlSeconds = seconds
                } else if text == "0s" {
                    spec.ttlSeconds = 0
                } else if let seconds = MonitoringDuration.seconds(text) {
                    spec.ttlSeconds = seconds
                } else {
                    r.problem(
                        c["ttl"], "\(path).cache.ttl",
                        "expected a duration such as 30s, 5m or 1h, or seconds (0: no cache)")
                }
            }
        }
        return spec
    }

    /// The pipeline in an already-read mapping (also the `preparation` section of mlcycle.yaml).
    static func read(_ top: [String: Node], _ r: SpecReader, path prefix: String = "") -> PreparationSpec {
        var spec = PreparationSpec()
        if let sources = top["sources"] {
            if case .sequence(let seq) = sources {
                for (i, node) in seq.enumerated() {
                    let path = "\(prefix)sources[\(i)]"
                    guard
                        let m = r.mapping(
                            node, path, allowed: ["name", "path", "url", "query", "steps", "join", "serving", "cache"])
                    else {
                        continue
                    }
                    let name = r.string(m["name"], "\(path).name") ?? "source\(i + 1)"
                    let file: String
                    if let url = m["url"] {
                        guard let text = r.string(url, "\(path).url") else { continue }
                        guard m["path"] == nil else {
                            r.problem(url, "\(path).url", "give path (a file) or url (a database), not both")
                            continue
                        }
                        guard SourceSpec.isDatabaseURL(text) else {
                            r.problem(url, "\(path).url", "expected a postgres:// URL")
                            continue
                        }
                        guard m["query"] != nil else {
                            r.problem(url, "\(path).query", "a database source needs query: \"SELECT …\"")
                            continue
                        }
                        file = text
                    } else {
                        guard
                            let given = r.required(
                                r.string(m["path"], "\(path).path"), m["path"], "\(path).path",
                                "the file to read (or url: for a database)")
                        else { continue }
                        file = given
                    }
                    var join: JoinSpec?
                    if let j = r.mapping(
                        m["join"], "\(path).join", allowed: ["on", "kind", "required", "as_of"])
                    {
                        let keys =
                            (r.required(
                                r.strings(j["on"], "\(path).join.on"), j["on"], "\(path).join.on", "the key columns")
                            ?? []).compactMap { k -> JoinSpec.JoinKey? in
                                let pair = k.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                                    .map(String.init)
                                guard let left = pair.first, !left.isEmpty, pair.last?.isEmpty == false else {
                                    r.problem(
                                        j["on"], "\(path).join.on",
                                        "'\(k)' is not a key: write a column name, or left_column:right_column")
                                    return nil
                                }
                                return JoinSpec.JoinKey(left: left, right: pair.count > 1 ? pair[1] : left)
                            }
                        let kind = r.string(j["kind"], "\(path).join.kind") ?? "left"
                        if !["left", "inner"].contains(kind) {
                            r.problem(j["kind"], "\(path).join.kind", "expected left or inner")
                        }
                        var asOf: JoinSpec.JoinKey?
                        if let text = r.string(j["as_of"], "\(path).join.as_of") {
                            let pair = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                                .map(String.init)
                            if let left = pair.first, !left.isEmpty, pair.last?.isEmpty == false {
                                asOf = JoinSpec.JoinKey(left: left, right: pair.count > 1 ? pair[1] : left)
                            } else {
                                r.problem(
                                    j["as_of"], "\(path).join.as_of",
                                    "'\(text)' is not a time column: write a column name, or row_time:record_time")
                            }
                        }
                        join = JoinSpec(
                            keys: keys, kind: kind, required: r.bool(j["required"], "\(path).join.required"),
                            asOf: asOf)
                    }
                    spec.sources.append(
                        SourceSpec(
                            name: name, path: file, query: r.string(m["query"], "\(path).query"),
                            steps: steps(m["steps"], "\(path).steps", r), join: join,
                            live: live(m, path: path, database: SourceSpec.isDatabaseURL(file), joined: i > 0, r)))
                }
            } else {
                r.problem(sources, "\(prefix)sources", "expected a list of sources")
            }
        }
        spec.steps = steps(top["steps"], "\(prefix)steps", r)
        if let s = r.mapping(
            top["split"], "\(prefix)split", allowed: ["method", "column", "test", "validation", "seed"])
        {
            var split = SplitSpec()
            if let m = r.string(s["method"], "\(prefix)split.method") {
                if let method = SplitSpec.Method(rawValue: m) {
                    split.method = method
                } else {
                    r.problem(
                        s["method"], "\(prefix)split.method",
                        "expected one of: \(SplitSpec.Method.allCases.map(\.rawValue).joined(separator: ", "))")
                }
            }
            split.column = r.string(s["column"], "\(prefix)split.column")
            if split.method != .random && split.column == nil {
                r.problem(top["split"], "\(prefix)split.column", "a \(split.method.rawValue) split needs 'column'")
            }
            split.testFraction = r.double(s["test"], "\(prefix)split.test", in: 0...0.9) ?? 0.2
            split.validationFraction = r.double(s["validation"], "\(prefix)split.validation", in: 0...0.9) ?? 0
            split.seed = UInt64(r.int(s["seed"], "\(prefix)split.seed") ?? 42)
            spec.split = split
        }
        return spec
    }

    static let stepKinds = [
        "drop_duplicates", "filter", "text", "parse_dates", "impute", "encode", "scale", "log", "derive", "drop",
    ]

    static func steps(_ node: Node?, _ path: String, _ r: SpecReader) -> [PreparationStep] {
        guard let node else { return [] }
        guard case .sequence(let seq) = node else {
            r.problem(node, path, "expected a list of steps")
            return []
        }
        var out = [PreparationStep]()
        for (i, item) in seq.enumerated() {
            let p = "\(path)[\(i)]"
            guard case .mapping(let m) = item, m.count == 1, let (k, body) = m.first, let kind = k.string else {
                r.problem(
                    item, p, "each step is one 'kind: settings' pair, kind one of: \(stepKinds.joined(separator: ", "))"
                )
                continue
            }
            let sp = "\(p).\(kind)"
            /// Settings given as a mapping, or the shorthand of a bare list of columns / an expression.
            func settings(_ allowed: Set<String>, shorthand: String) -> [String: Node]? {
                if case .mapping = body { return r.mapping(body, sp, allowed: allowed) }
                return [shorthand: body]
            }
            switch kind {
            case "drop_duplicates":
                guard let s = settings(["keys"], shorthand: "keys") else { continue }
                let keys =
                    s["keys"].flatMap { node -> [String]? in
                        if case .scalar(let v) = node, v.string.isEmpty || v.string == "~" || v.string == "null" {
                            return []
                        }
                        return r.strings(node, "\(sp).keys")
                    } ?? []
                out.append(.dropDuplicates(keys: keys))
            case "filter":
                guard let s = settings(["expression", "flag"], shorthand: "expression"),
                    let e = r.required(
                        r.string(s["expression"], "\(sp).expression"), s["expression"], "\(sp).expression",
                        "the expression rows must satisfy")
                else { continue }
                if let problem = expressionProblem(e) { r.problem(s["expression"], "\(sp).expression", problem) }
                out.append(.filter(expression: e, flag: r.string(s["flag"], "\(sp).flag")))
            case "text":
                guard let s = settings(["columns", "trim", "case", "words", "values"], shorthand: "columns") else {
                    continue
                }
                var fold: PreparationStep.TextCase?
                if let c = r.string(s["case"], "\(sp).case") {
                    fold = PreparationStep.TextCase(rawValue: c)
                    if fold == nil { r.problem(s["case"], "\(sp).case", "expected lower or upper") }
                }
                out.append(
                    .text(
                        columns: r.required(
                            r.strings(s["columns"], "\(sp).columns"), s["columns"], "\(sp).columns", "the text columns")
                            ?? [],
                        trim: r.bool(s["trim"], "\(sp).trim") ?? true, fold: fold,
                        words: r.stringMap(s["words"], "\(sp).words") ?? [:],
                        values: r.stringMap(s["values"], "\(sp).values") ?? [:]))
            case "parse_dates":
                guard let s = settings(["columns", "formats"], shorthand: "columns") else { continue }
                let formats = r.strings(s["formats"], "\(sp).formats") ?? ["yyyy-MM-dd", "MM/dd/yyyy"]
                out.append(
                    .parseDates(
                        columns: r.required(
                            r.strings(s["columns"], "\(sp).columns"), s["columns"], "\(sp).columns", "the date columns")
                            ?? [],
                        formats: formats))
            case "impute":
                guard let s = r.mapping(body, sp, allowed: ["columns", "strategy", "value", "by", "indicator"]) else {
                    continue
                }
                var strategy = PreparationStep.ImputeStrategy.median
                switch r.string(s["strategy"], "\(sp).strategy") ?? "median" {
                case "mean": strategy = .mean
                case "median": strategy = .median
                case "most_frequent": strategy = .mostFrequent
                case "constant": strategy = .constant(r.string(s["value"], "\(sp).value") ?? "unknown")
                default: r.problem(s["strategy"], "\(sp).strategy", "expected mean, median, most_frequent or constant")
                }
                out.append(
                    .impute(
                        columns: r.required(
                            r.strings(s["columns"], "\(sp).columns"), s["columns"], "\(sp).columns",
                            "the columns to fill") ?? [],
                        strategy: strategy, groupBy: r.strings(s["by"], "\(sp).by") ?? [],
                        indicator: r.bool(s["indicator"], "\(sp).indicator") ?? false))
            case "encode":
                guard
                    let s = r.mapping(
                        body, sp, allowed: ["columns", "method", "max_levels", "order", "folds", "smoothing"])
                else { continue }
                let columns =
                    r.required(
                        r.strings(s["columns"], "\(sp).columns"), s["columns"], "\(sp).columns", "the category columns")
                    ?? []
                let method: PreparationStep.EncodeMethod
                switch r.string(s["method"], "\(sp).method") ?? "one_hot" {
                case "one_hot": method = .oneHot(maxLevels: r.int(s["max_levels"], "\(sp).max_levels", min: 1) ?? 20)
                case "ordinal":
                    guard
                        let order = r.required(
                            r.strings(s["order"], "\(sp).order"), s["order"], "\(sp).order",
                            "the levels in order, lowest first")
                    else { continue }
                    method = .ordinal(order: order)
                case "frequency": method = .frequency
                case "target":
                    method = .target(
                        folds: r.int(s["folds"], "\(sp).folds", min: 2) ?? 5,
                        smoothing: r.double(s["smoothing"], "\(sp).smoothing", in: 0...1e9) ?? 10)
                default:
                    r.problem(s["method"], "\(sp).method", "expected one_hot, ordinal, frequency or target")
                    continue
                }
                out.append(.encode(columns: columns, method: method))
            case "scale":
                guard let s = r.mapping(body, sp, allowed: ["columns", "method"]) else { continue }
                let name = r.string(s["method"], "\(sp).method") ?? "standard"
                guard let method = PreparationStep.ScaleMethod(rawValue: name) else {
                    r.problem(s["method"], "\(sp).method", "expected standard, min_max or robust")
                    continue
                }
                out.append(
                    .scale(
                        columns: r.required(
                            r.strings(s["columns"], "\(sp).columns"), s["columns"], "\(sp).columns",
                            "the numeric columns") ?? [], method: method))
            case "log":
                guard let s = settings(["columns"], shorthand: "columns") else { continue }
                out.append(.log(columns: r.strings(s["columns"], "\(sp).columns") ?? []))
            case "derive":
                guard let s = r.mapping(body, sp, allowed: ["name", "expression"]),
                    let name = r.required(
                        r.string(s["name"], "\(sp).name"), s["name"], "\(sp).name", "the new column's name"),
                    let e = r.required(
                        r.string(s["expression"], "\(sp).expression"), s["expression"], "\(sp).expression",
                        "the expression")
                else { continue }
                if let problem = expressionProblem(e) { r.problem(s["expression"], "\(sp).expression", problem) }
                out.append(.derive(name: name, expression: e))
            case "drop":
                guard let s = settings(["columns"], shorthand: "columns") else { continue }
                out.append(.drop(columns: r.strings(s["columns"], "\(sp).columns") ?? []))
            default:
                r.problem(k, p, "unknown step '\(kind)' (expected one of: \(stepKinds.joined(separator: ", ")))")
            }
        }
        return out
    }

    /// The parse error of an expression (with its character position), or nil.
    static func expressionProblem(_ text: String) -> String? {
        do {
            _ = try MLCycleData.Expression.parse(text)
            return nil
        } catch { return error.localizedDescription }
    }
}

/// Reads gate rules from YAML: `gates: ["within_10pct >= 0.80", "every slice of price_band: mape <= 0.15"]`
/// (or a bare list).
public enum GateFile {
    public static func load(path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError.fileNotFound(path: path) }
        return try parse(TextEncoding.utf8Text(data, file: path), file: path)
    }

    public static func parse(_ yaml: String, file: String = "<gates>") throws -> [String] {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            throw SpecFileError(
                file: file, problems: [.init(line: nil, path: "(file)", message: "not valid YAML: \(error)")])
        }
        let r = SpecReader()
        var list: Node? = root
        if case .some(.mapping) = root { list = r.mapping(root, "(file)", allowed: ["gates"])?["gates"] }
        let rules = r.strings(list, "gates") ?? []
        if !r.problems.isEmpty { throw SpecFileError(file: file, problems: r.problems) }
        return rules
    }
}
