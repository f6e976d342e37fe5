import Foundation

/// An error in an expression's text, with the character position (1-based) where it was found.
public struct ExpressionError: LocalizedError, Equatable, Sendable {
    public let expression: String
    public let position: Int
    public let message: String

    public var errorDescription: String? {
        "in expression '\(expression)' at character \(position): \(message)"
    }
}

/// A small, safe expression language over a table's columns, e.g. `year_remodeled >= year_built`,
/// `price / area > 10 and not is_missing(zone)`.
///
/// Literals: numbers, `'text'` or `"text"`, `true`, `false`, `null`. Columns by name, or in backticks when the name
/// has spaces. Operators: `+ - * / %`, `== != < <= > >=` (`=` means `==`), `and or not` (also `&& || !`).
/// Functions: `abs min max log exp sqrt round if is_missing coalesce lower upper len contains year month day weekday`
/// and `days_between(a, b)` (days from date a to date b).
/// Missing values propagate (`1 + missing` is missing); `and`/`or` use three-valued logic as SQL does.
public indirect enum Expression: Sendable, CustomStringConvertible {
    case literal(Value)
    case column(String)
    case unary(String, Expression)
    case binary(String, Expression, Expression)
    case call(String, [Expression])

    public static let functions: Set<String> = [
        "abs", "min", "max", "log", "exp", "sqrt", "round", "if", "is_missing",
        "coalesce", "lower", "upper", "len", "contains", "year", "month", "day", "weekday",
        "days_between",
    ]

    /// Parses an expression; errors name the position.
    public static func parse(_ text: String) throws -> Expression {
        var parser = ExpressionParser(text: text)
        return try parser.parseAll()
    }

    /// Column names the expression reads.
    public var columns: [String] {
        switch self {
        case .literal: return []
        case .column(let c): return [c]
        case .unary(_, let e): return e.columns
        case .binary(_, let a, let b): return a.columns + b.columns
        case .call(_, let args): return args.flatMap(\.columns)
        }
    }

    public var description: String {
        switch self {
        case .literal(let v):
            if case .string(let s) = v { return "'\(s)'" }
            return v.isMissing ? "null" : v.description
        case .column(let c): return c
        case .unary(let op, let e): return "\(op) \(e)"
        case .binary(let op, let a, let b): return "(\(a) \(op) \(b))"
        case .call(let f, let args): return "\(f)(\(args.map(\.description).joined(separator: ", ")))"
        }
    }

    /// The value for every row of a table; unknown columns throw before any row is evaluated.
    public func evaluate(on table: Table) throws -> [Value] {
        for c in columns where table[c] == nil { throw DataError.columnNotFound(name: c, available: table.columnNames) }
        let cols = Dictionary(uniqueKeysWithValues: Set(columns).map { ($0, table[$0]!) })
        return try (0..<table.rowCount).map { r in try evaluate(row: r, columns: cols) }
    }

    /// Per row, whether the condition is true; false, missing and any other value count as not holding (as in SQL's
    /// WHERE).
    public func holds(on table: Table) throws -> [Bool] {
        try evaluate(on: table).map { if case .bool(true) = $0 { return true } else { return false } }
    }

    /// Per row, whether every one of `conditions` holds (every row, when there are none).
    public static func allHold(_ conditions: [String], on table: Table) throws -> [Bool] {
        var inside = [Bool](repeating: true, count: table.rowCount)
        for condition in conditions {
            for (r, holds) in try parse(condition).holds(on: table).enumerated() where !holds { inside[r] = false }
        }
        return inside
    }

    func evaluate(row r: Int, columns cols: [String: Column]) throws -> Value {
        switch self {
        case .literal(let v): return v
        case .column(let c): return cols[c]![r]
        case .unary(let op, let e):
            let v = try e.evaluate(row: r, columns: cols)
            if v.isMissing { return .missing }
            if op == "-" {
                if case .int64(let i) = v { return .int64(-i) }
                guard let d = v.doubleValue, !isText(v) else { throw typeError("'-' needs a number, got \(v)") }
                return .float64(-d)
            }
            guard case .bool(let b) = v else { throw typeError("'not' needs true/false, got \(v)") }
            return .bool(!b)
        case .binary(let op, let a, let b):
            if op == "and" || op == "or" { return try logical(op, a, b, r, cols) }
            let x = try a.evaluate(row: r, columns: cols)
            let y = try b.evaluate(row: r, columns: cols)
            if x.isMissing || y.isMissing { return .missing }
            return try Self.apply(op, x, y)
        case .call(let f, let args):
            return try call(f, args, r, cols)
        }
    }

    private func isText(_ v: Value) -> Bool {
        if case .string = v { return true }
        return false
    }

    private func typeError(_ message: String) -> DataError { .invalidArgument("expression \(description): \(message)") }

    private func logical(_ op: String, _ a: Expression, _ b: Expression, _ r: Int, _ cols: [String: Column]) throws
        -> Value
    {
        func truth(_ v: Value) throws -> Bool? {
            if v.isMissing { return nil }
            guard case .bool(let t) = v else { throw typeError("'\(op)' needs true/false values, got \(v)") }
            return t
        }
        let x = try truth(a.evaluate(row: r, columns: cols))
        if op == "and", x == false { return .bool(false) }
        if op == "or", x == true { return .bool(true) }
        let y = try truth(b.evaluate(row: r, columns: cols))
        if op == "and" {
            if y == false { return .bool(false) }
            return x == nil || y == nil ? .missing : .bool(true)
        }
        if y == true { return .bool(true) }
        return x == nil || y == nil ? .missing : .bool(false)
    }

    /// Compares or combines two present values.
    static func apply(_ op: String, _ x: Value, _ y: Value) throws -> Value {
        let (x, y) = coerceTemporal(x, y)
        switch op {
        case "==", "!=", "<", "<=", ">", ">=":
            let c: Int
            switch (x, y) {
            case (.string(let s), .string(let t)): c = s < t ? -1 : (s == t ? 0 : 1)
            case (.bool(let s), .bool(let t)): c = s == t ? 0 : (s ? 1 : -1)
            case (.int64(let s), .int64(let t)): c = s < t ? -1 : (s == t ? 0 : 1)
            default:
                guard !isString(x), !isString(y), let s = x.doubleValue, let t = y.doubleValue else {
                    throw DataError.invalidArgument("cannot compare \(describe(x)) with \(describe(y)) using '\(op)'")
                }
                c = s < t ? -1 : (s == t ? 0 : 1)
            }
            switch op {
            case "==": return .bool(c == 0)
            case "!=": return .bool(c != 0)
            case "<": return .bool(c < 0)
            case "<=": return .bool(c <= 0)
            case ">": return .bool(c > 0)
            default: return .bool(c >= 0)
            }
        default:
            if op == "+", case .string(let s) = x, case .string(let t) = y { return .string(s + t) }
            if case .int64(let s) = x, case .int64(let t) = y, op != "/" {
                switch op {
                case "+":
                    let (v, o) = s.addingReportingOverflow(t)
                    if !o { return .int64(v) }
                case "-":
                    let (v, o) = s.subtractingReportingOverflow(t)
                    if !o { return .int64(v) }
                case "*":
                    let (v, o) = s.multipliedReportingOverflow(by: t)
                    if !o { return .int64(v) }
                case "%":
                    if t == 0 { return .missing }
                    return .int64(s % t)
                default: break
                }
            }
            guard !isString(x), !isString(y), let s = x.doubleValue, let t = y.doubleValue else {
                throw DataError.invalidArgument("'\(op)' needs numbers, got \(describe(x)) and \(describe(y))")
            }
            switch op {
            case "+": return .float64(s + t)
            case "-": return .float64(s - t)
            case "*": return .float64(s * t)
            case "/": return t == 0 ? .missing : .float64(s / t)
            default: return t == 0 ? .missing : .float64(s.truncatingRemainder(dividingBy: t))
            }
        }
    }

    private static func isString(_ v: Value) -> Bool {
        if case .string = v { return true }
        return false
    }

    private static func describe(_ v: Value) -> String {
        switch v {
        case .string(let s): return "text '\(s)'"
        case .date(let d): return "date \(CalendarDate.isoString(days: d))"
        default: return v.description
        }
    }

    /// A text literal compared with a date becomes a date (`sale_date >= '2008-01-01'`).
    private static func coerceTemporal(_ x: Value, _ y: Value) -> (Value, Value) {
        func parse(_ s: String, like other: Value) -> Value? {
            FieldParsing.withBytes(s) { p, n in
                switch other {
                case .date: return FieldParsing.parseDate(p, n).map(Value.date)
                case .timestamp: return FieldParsing.parseTimestamp(p, n).map(Value.timestamp)
                default: return nil
                }
            }
        }
        switch (x, y) {
        case (.string(let s), .date), (.string(let s), .timestamp): return (parse(s, like: y) ?? x, y)
        case (.date, .string(let s)), (.timestamp, .string(let s)): return (x, parse(s, like: x) ?? y)
        case (.date(let d), .timestamp): return (.timestamp(d * CalendarDate.microsecondsPerDay), y)
        case (.timestamp, .date(let d)): return (x, .timestamp(d * CalendarDate.microsecondsPerDay))
        default: return (x, y)
        }
    }

    private func call(_ f: String, _ args: [Expression], _ r: Int, _ cols: [String: Column]) throws -> Value {
        if f == "if" {
            let c = try args[0].evaluate(row: r, columns: cols)
            if c.isMissing { return .missing }
            guard case .bool(let b) = c else { throw typeError("if() needs a true/false condition, got \(c)") }
            return try args[b ? 1 : 2].evaluate(row: r, columns: cols)
        }
        if f == "coalesce" {
            for a in args {
                let v = try a.evaluate(row: r, columns: cols)
                if !v.isMissing { return v }
            }
            return .missing
        }
        let values = try args.map { try $0.evaluate(row: r, columns: cols) }
        if f == "is_missing" { return .bool(values[0].isMissing) }
        if values.contains(where: \.isMissing) { return .missing }
        func number(_ v: Value) throws -> Double {
            guard !Self.isString(v), let d = v.doubleValue else { throw typeError("\(f)() needs a number, got \(v)") }
            return d
        }
        func text(_ v: Value) throws -> String {
            guard case .string(let s) = v else { throw typeError("\(f)() needs text, got \(v)") }
            return s
        }
        func days(_ v: Value) throws -> Int64 {
            switch v {
            case .date(let d): return d
            case .timestamp(let t):
                return t >= 0
                    ? t / CalendarDate.microsecondsPerDay
                    : (t - CalendarDate.microsecondsPerDay + 1) / CalendarDate.microsecondsPerDay
            default: throw typeError("\(f)() needs a date, got \(v)")
            }
        }
        switch f {
        case "abs":
            if case .int64(let i) = values[0], i != .min { return .int64(abs(i)) }
            return .float64(abs(try number(values[0])))
        case "min", "max":
            var best = values[0]
            for v in values.dropFirst() {
                if case .bool(let less) = try Self.apply("<", v, best), less == (f == "min") { best = v }
            }
            return best
        case "log":
            let x = try number(values[0])
            return x > 0 ? .float64(Foundation.log(x)) : .missing
        case "exp": return .float64(Foundation.exp(try number(values[0])))
        case "sqrt":
            let x = try number(values[0])
            return x >= 0 ? .float64(x.squareRoot()) : .missing
        case "round":
            let digits = values.count > 1 ? try number(values[1]) : 0
            let scale = pow(10, digits)
            return .float64((try number(values[0]) * scale).rounded(.toNearestOrEven) / scale)
        case "lower": return .string(try text(values[0]).lowercased())
        case "upper": return .string(try text(values[0]).uppercased())
        case "len": return .int64(Int64(try text(values[0]).count))
        case "contains": return .bool(try text(values[0]).contains(try text(values[1])))
        case "year": return .int64(Int64(CalendarDate.civil(days: try days(values[0])).year))
        case "month": return .int64(Int64(CalendarDate.civil(days: try days(values[0])).month))
        case "day": return .int64(Int64(CalendarDate.civil(days: try days(values[0])).day))
        case "weekday": return .int64(Int64(CalendarDate.weekday(days: try days(values[0]))))
        case "days_between": return .int64(try days(values[1]) - days(values[0]))
        default: throw typeError("unknown function \(f)()")
        }
    }
}

/// Recursive-descent parser for `Expression`.
struct ExpressionParser {
    /// How deep an expression may nest (parentheses, arguments, unary operators and operator chains each add a
    /// level): parsing and evaluating recurse once per level, and the stack is finite.
    static let maximumDepth = 256

    let text: String
    let chars: [Character]
    var i = 0
    /// The whole expression is level 0 (`parseOr` goes one deeper on entry).
    var depth = -1

    init(text: String) {
        self.text = text
        self.chars = Array(text)
    }

    func fail(_ message: String, at position: Int? = nil) -> ExpressionError {
        ExpressionError(expression: text, position: (position ?? i) + 1, message: message)
    }

    mutating func parseAll() throws -> Expression {
        let e = try parseOr()
        skipSpace()
        if i < chars.count { throw fail("unexpected '\(chars[i])'") }
        return e
    }

    /// Goes one level deeper into the expression, or fails past `maximumDepth`.
    mutating func deeper() throws {
        depth += 1
        if depth > Self.maximumDepth {
            throw fail("the expression nests deeper than \(Self.maximumDepth) levels; split it into derived columns")
        }
    }

    mutating func skipSpace() { while i < chars.count && chars[i].isWhitespace { i += 1 } }

    /// Consumes a symbol or a keyword (keywords must not run into an identifier).
    mutating func accept(_ token: String) -> Bool {
        skipSpace()
        let t = Array(token)
        guard i + t.count <= chars.count, Array(chars[i..<(i + t.count)]) == t else { return false }
        if t.last!.isLetter, i + t.count < chars.count,
            chars[i + t.count].isLetter || chars[i + t.count].isNumber || chars[i + t.count] == "_"
        {
            return false
        }
        i += t.count
        return true
    }

    // Each function restores the depth it started at: a chain `a + b + c` nests one level per operator.
    mutating func parseOr() throws -> Expression {
        let start = depth
        defer { depth = start }
        try deeper()
        var e = try parseAnd()
        while accept("or") || accept("||") {
            try deeper()
            e = .binary("or", e, try parseAnd())
        }
        return e
    }

    mutating func parseAnd() throws -> Expression {
        let start = depth
        defer { depth = start }
        var e = try parseNot()
        while accept("and") || accept("&&") {
            try deeper()
            e = .binary("and", e, try parseNot())
        }
        return e
    }

    mutating func parseNot() throws -> Expression {
        let start = depth
        defer { depth = start }
        if accept("not") {
            try deeper()
            return .unary("not", try parseNot())
        }
        skipSpace()
        if i < chars.count, chars[i] == "!", i + 1 >= chars.count || chars[i + 1] != "=" {
            i += 1
            try deeper()
            return .unary("not", try parseNot())
        }
        return try parseComparison()
    }

    mutating func parseComparison() throws -> Expression {
        let left = try parseAdditive()
        for op in ["==", "!=", "<=", ">=", "<>", "<", ">", "="] where accept(op) {
            let canonical = op == "=" ? "==" : (op == "<>" ? "!=" : op)
            return .binary(canonical, left, try parseAdditive())
        }
        return left
    }

    mutating func parseAdditive() throws -> Expression {
        let start = depth
        defer { depth = start }
        var e = try parseMultiplicative()
        while let op = ["+", "-"].first(where: { accept($0) }) {
            try deeper()
            e = .binary(op, e, try parseMultiplicative())
        }
        return e
    }

    mutating func parseMultiplicative() throws -> Expression {
        let start = depth
        defer { depth = start }
        var e = try parseUnary()
        while let op = ["*", "/", "%"].first(where: { accept($0) }) {
            try deeper()
            e = .binary(op, e, try parseUnary())
        }
        return e
    }

    mutating func parseUnary() throws -> Expression {
        let start = depth
        defer { depth = start }
        if accept("-") {
            try deeper()
            return .unary("-", try parseUnary())
        }
        if accept("+") {
            try deeper()
            return try parseUnary()
        }
        return try parsePrimary()
    }

    mutating func parsePrimary() throws -> Expression {
        skipSpace()
        guard i < chars.count else { throw fail("the expression ends where a value was expected") }
        let c = chars[i]
        if c == "(" {
            i += 1
            let e = try parseOr()
            guard accept(")") else { throw fail("expected ')'") }
            return e
        }
        if c == "'" || c == "\"" {
            let start = i
            i += 1
            var s = ""
            while i < chars.count && chars[i] != c {
                s.append(chars[i])
                i += 1
            }
            guard i < chars.count else { throw fail("the text starting here is never closed with \(c)", at: start) }
            i += 1
            return .literal(.string(s))
        }
        if c == "`" {
            let start = i
            i += 1
            var s = ""
            while i < chars.count && chars[i] != "`" {
                s.append(chars[i])
                i += 1
            }
            guard i < chars.count else { throw fail("the column name starting here is never closed with `", at: start) }
            i += 1
            return .column(s)
        }
        if c.isNumber || c == "." {
            let start = i
            while i < chars.count
                && (chars[i].isNumber || chars[i] == "." || chars[i] == "e" || chars[i] == "E"
                    || ((chars[i] == "-" || chars[i] == "+") && (chars[i - 1] == "e" || chars[i - 1] == "E")))
            { i += 1 }
            let token = String(chars[start..<i])
            if let v = Int64(token) { return .literal(.int64(v)) }
            if let d = Double(token) { return .literal(.float64(d)) }
            throw fail("'\(token)' is not a number", at: start)
        }
        if c.isLetter || c == "_" {
            let start = i
            while i < chars.count && (chars[i].isLetter || chars[i].isNumber || chars[i] == "_" || chars[i] == ".") {
                i += 1
            }
            let name = String(chars[start..<i])
            switch name.lowercased() {
            case "true": return .literal(.bool(true))
            case "false": return .literal(.bool(false))
            case "null", "missing": return .literal(.missing)
            default: break
            }
            skipSpace()
            if i < chars.count && chars[i] == "(" {
                let f = name.lowercased()
                guard Expression.functions.contains(f) else {
                    throw fail(
                        "unknown function '\(name)'; functions are \(Expression.functions.sorted().joined(separator: ", "))",
                        at: start)
                }
                i += 1
                var args = [Expression]()
                if !accept(")") {
                    repeat { args.append(try parseOr()) } while accept(",")
                    guard accept(")") else { throw fail("expected ',' or ')' in the arguments of \(f)()") }
                }
                let arity: ClosedRange<Int> =
                    switch f {
                    case "if": 3...3
                    case "min", "max", "coalesce": 1...64
                    case "round": 1...2
                    case "contains", "days_between": 2...2
                    default: 1...1
                    }
                guard arity.contains(args.count) else {
                    throw fail(
                        "\(f)() takes \(arity.lowerBound == arity.upperBound ? "\(arity.lowerBound)" : "\(arity.lowerBound) to \(arity.upperBound)") argument\(arity.upperBound == 1 ? "" : "s"), got \(args.count)",
                        at: start)
                }
                return .call(f, args)
            }
            return .column(name)
        }
        throw fail("unexpected '\(c)'")
    }
}
