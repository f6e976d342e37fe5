import Foundation
import MLCycleData
import MLCycleQuality
import Yams

/// Problems found in a rules file, all at once, each with its line and field path.
public struct RuleFileError: LocalizedError, Sendable {
    public struct Problem: Sendable, Equatable {
        public var line: Int?
        public var path: String
        public var message: String
    }
    public var file: String
    public var problems: [Problem]

    public var errorDescription: String? {
        let lines = problems.map { p in "\(file):\(p.line.map(String.init) ?? "?"): \(p.path): \(p.message)" }
        return "the rules file has \(problems.count) problem\(problems.count == 1 ? "" : "s"):\n"
            + lines.joined(separator: "\n")
    }
}

/// Reads and writes validation rules as YAML.
///
/// ```yaml
/// rules:
///   - row_count: {min: 100}
///   - column: Sale_Price
///     type: int64            # or a list: [int64, float64], or `numeric`
///     not_null: true         # or max_missing: 0.05
///     range: {min: 10000, max: 800000}
///   - column: Neighborhood
///     allowed: [North_Ames, Old_Town]
///     severity: warning      # error (default) or warning
///   - column: Zip
///     regex: '[0-9]{5}'      # must match the whole value
///     length: {min: 5, max: 5}
///     unique: true
///   - expression: Year_Remod_Add >= Year_Built
///     name: remodelled after built
/// ```
/// An item may hold several checks for its column; each becomes its own rule with the item's severity.
public enum RuleFile {
    static let checkKeys = [
        "exists", "type", "not_null", "max_missing", "unique", "range", "allowed", "regex", "length", "row_count",
        "expression",
    ]
    static let itemKeys = Set(checkKeys + ["column", "severity", "name"])

    /// Reads a rules file.
    public static func load(path: String) throws -> [Rule] {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError.fileNotFound(path: path) }
        return try parse(TextEncoding.utf8Text(data, file: path), file: path)
    }

    /// Parses rules from YAML text; every problem is reported, not just the first.
    public static func parse(_ yaml: String, file: String = "<rules>") throws -> [Rule] {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw RuleFileError(
                file: file, problems: [.init(line: nil, path: "(file)", message: "not valid YAML: \(error)")])
        }
        var problems = [RuleFileError.Problem]()
        var rules = [Rule]()
        let items: [Node]
        switch root {
        case .some(.sequence(let s)): items = Array(s)
        case .some(.mapping(let m)):
            guard let list = m["rules"], case .sequence(let s) = list else {
                throw RuleFileError(
                    file: file,
                    problems: [
                        .init(line: root?.mark?.line, path: "rules", message: "expected a list of rules under 'rules:'")
                    ])
            }
            for key in m.keys where key.string != "rules" {
                problems.append(
                    .init(
                        line: key.mark?.line, path: key.string ?? "?",
                        message: "unknown top-level key (only 'rules' is read)"))
            }
            items = Array(s)
        case .none: items = []
        default:
            throw RuleFileError(
                file: file,
                problems: [
                    .init(line: root?.mark?.line, path: "(file)", message: "expected 'rules:' with a list of rules")
                ])
        }
        for (index, item) in items.enumerated() {
            let path = "rules[\(index)]"
            guard case .mapping(let m) = item else {
                problems.append(
                    .init(
                        line: item.mark?.line, path: path,
                        message: "each rule is a mapping such as '{column: price, not_null: true}'"))
                continue
            }
            func problem(_ node: Node?, _ field: String, _ message: String) {
                problems.append(.init(line: (node ?? item).mark?.line, path: "\(path).\(field)", message: message))
            }
            for key in m.keys where !itemKeys.contains(key.string ?? "") {
                problem(
                    key, key.string ?? "?", "unknown key; expected one of \(itemKeys.sorted().joined(separator: ", "))")
            }
            let column = m["column"]?.string
            var severity = Severity.error
            if let s = m["severity"] {
                if let v = s.string.flatMap(Severity.init(rawValue:)) {
                    severity = v
                } else {
                    problem(s, "severity", "expected 'error' or 'warning'")
                }
            }
            let name = m["name"]?.string
            // Checks in the order the file gives them.
            let checks = m.compactMap { pair in
                pair.key.string.flatMap { checkKeys.contains($0) ? ($0, pair.value) : nil }
            }
            if checks.isEmpty {
                problem(nil, "", "no check in this rule; add one of \(checkKeys.joined(separator: ", "))")
            }
            for (key, node) in checks {
                let needsColumn = key != "row_count" && key != "expression"
                if needsColumn && column == nil {
                    problem(node, key, "this check needs 'column:'")
                    continue
                }
                if !needsColumn && column != nil {
                    problem(
                        node, key, "'\(key)' applies to the whole table; remove 'column:' or put it in its own item")
                }
                guard let check = parseCheck(key, node, problem: { problem(node, key, $0) }) else { continue }
                rules.append(Rule(column: needsColumn ? column : nil, check, severity: severity, name: name))
            }
        }
        if !problems.isEmpty { throw RuleFileError(file: file, problems: problems) }
        return rules
    }

    static func parseCheck(_ key: String, _ node: Node, problem: (String) -> Void) -> Rule.Check? {
        func bounds() -> (Node?, Node?)? {
            guard case .mapping(let m) = node else {
                problem("expected {min: …, max: …}")
                return nil
            }
            for k in m.keys where k.string != "min" && k.string != "max" {
                problem("unknown key '\(k.string ?? "?")'; use min and max")
            }
            if m["min"] == nil && m["max"] == nil {
                problem("give min, max or both")
                return nil
            }
            return (m["min"], m["max"])
        }
        func int(_ n: Node?) -> Int?? {
            guard let n else { return .some(nil) }
            guard let v = n.int else {
                problem("'\(n.string ?? "")' is not a whole number")
                return nil
            }
            return .some(v)
        }
        switch key {
        case "exists":
            guard node.bool == true else {
                problem("write 'exists: true'")
                return nil
            }
            return .exists
        case "type":
            let names: [String]
            if case .sequence(let s) = node { names = s.compactMap(\.string) } else { names = [node.string ?? ""] }
            var types = [DataType]()
            for n in names {
                switch n {
                case "numeric": types += [.int64, .float64]
                case "temporal": types += [.date, .timestamp]
                default:
                    guard let t = DataType(rawValue: n) else {
                        problem(
                            "unknown type '\(n)'; types are \(DataType.allCases.map(\.rawValue).joined(separator: ", ")), numeric, temporal"
                        )
                        return nil
                    }
                    types.append(t)
                }
            }
            return .type(types)
        case "not_null":
            guard let b = node.bool else {
                problem("expected true or false")
                return nil
            }
            return b ? .maxMissing(0) : nil
        case "max_missing":
            guard let f = node.float, f >= 0, f <= 1 else {
                problem("expected a fraction between 0 and 1")
                return nil
            }
            return .maxMissing(f)
        case "unique":
            guard let b = node.bool else {
                problem("expected true or false")
                return nil
            }
            return b ? .unique : nil
        case "range":
            guard let (lo, hi) = bounds() else { return nil }
            func bound(_ n: Node?) -> RangeBound?? {
                guard let n else { return .some(nil) }
                if let d = n.float, n.string.map({ Double($0) != nil }) ?? false { return .some(.number(d)) }
                if let s = n.string, FieldParsing.withBytes(s, { FieldParsing.parseTimestamp($0, $1) }) != nil {
                    return .some(.date(s))
                }
                problem("'\(n.string ?? "")' is not a number or a date (yyyy-MM-dd)")
                return nil
            }
            guard let l = bound(lo), let h = bound(hi) else { return nil }
            return .range(min: l, max: h)
        case "allowed":
            guard case .sequence(let s) = node else {
                problem("expected a list of values")
                return nil
            }
            return .allowed(s.map { $0.string ?? "" })
        case "regex":
            guard let p = node.string else {
                problem("expected a pattern")
                return nil
            }
            do { _ = try NSRegularExpression(pattern: p) } catch {
                problem("invalid regular expression: \(error.localizedDescription)")
                return nil
            }
            return .regex(p)
        case "length":
            guard let (lo, hi) = bounds(), let l = int(lo), let h = int(hi) else { return nil }
            return .length(min: l, max: h)
        case "row_count":
            guard let (lo, hi) = bounds(), let l = int(lo), let h = int(hi) else { return nil }
            return .rowCount(min: l, max: h)
        case "expression":
            guard let text = node.string else {
                problem("expected an expression such as 'a >= b'")
                return nil
            }
            do { _ = try Expression.parse(text) } catch {
                problem(error.localizedDescription)
                return nil
            }
            return .expression(text)
        default:
            return nil
        }
    }

    /// The YAML text of rules (checks on one column with one severity share an item).
    public static func yaml(_ rules: [Rule], header: String? = nil) throws -> String {
        var items = [Node]()
        var current: (column: String?, severity: Severity, name: String?, pairs: [(Node, Node)])? = nil
        func flush() {
            guard let c = current else { return }
            var pairs = [(Node, Node)]()
            if let col = c.column { pairs.append((Node("column"), Node(col, .implicit, .plain))) }
            pairs += c.pairs
            if c.severity != .error { pairs.append((Node("severity"), Node(c.severity.rawValue))) }
            if let n = c.name { pairs.append((Node("name"), Node(n))) }
            items.append(Node(pairs))
            current = nil
        }
        for rule in rules {
            let canShare = rule.column != nil && rule.name == nil
            if !(canShare && current?.column == rule.column && current?.severity == rule.severity
                && current?.name == nil)
            {
                flush()
            }
            if current == nil { current = (rule.column, rule.severity, rule.name, []) }
            current!.pairs.append(checkNode(rule.check))
        }
        flush()
        let text = try Yams.serialize(node: Node([(Node("rules"), Node(items))]), width: 120)
        return
            (header.map {
                $0.split(separator: "\n", omittingEmptySubsequences: false).map { "# " + $0 }.joined(separator: "\n")
                    + "\n"
            } ?? "") + text
    }

    static func checkNode(_ check: Rule.Check) -> (Node, Node) {
        func flow(_ pairs: [(String, String)]) -> Node {
            Node(pairs.map { (Node($0.0), Node($0.1)) }, .implicit, .flow)
        }
        func text(_ s: String) -> Node {
            // Quote anything YAML would read as another type (numbers, booleans, null, dates).
            let plainIsString: Bool = {
                if let n = try? Yams.compose(yaml: s), case .scalar(let sc) = n {
                    return Node(sc.string).string == s && n.int == nil && n.float == nil && n.bool == nil
                        && n.null == nil && n.timestamp == nil
                }
                return false
            }()
            return Node(s, .implicit, plainIsString ? .any : .singleQuoted)
        }
        switch check {
        case .exists: return (Node("exists"), Node("true"))
        case .type(let ts):
            return (
                Node("type"),
                ts.count == 1 ? Node(ts[0].rawValue) : Node(ts.map { Node($0.rawValue) }, .implicit, .flow)
            )
        case .maxMissing(let f):
            return f == 0 ? (Node("not_null"), Node("true")) : (Node("max_missing"), Node(formatDouble(f)))
        case .unique: return (Node("unique"), Node("true"))
        case .range(let lo, let hi):
            return (
                Node("range"),
                flow([("min", lo?.description), ("max", hi?.description)].compactMap { k, v in v.map { (k, $0) } })
            )
        case .allowed(let values): return (Node("allowed"), Node(values.map(text), .implicit, .flow))
        case .regex(let p): return (Node("regex"), Node(p, .implicit, .singleQuoted))
        case .length(let lo, let hi):
            return (
                Node("length"),
                flow(
                    [("min", lo.map(String.init)), ("max", hi.map(String.init))].compactMap { k, v in v.map { (k, $0) }
                    })
            )
        case .rowCount(let lo, let hi):
            return (
                Node("row_count"),
                flow(
                    [("min", lo.map(String.init)), ("max", hi.map(String.init))].compactMap { k, v in v.map { (k, $0) }
                    })
            )
        case .expression(let e): return (Node("expression"), Node(e, .implicit, .singleQuoted))
        }
    }
}
