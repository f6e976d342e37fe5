import Foundation
import MLCycleData

/// Fitting and applying each kind of step.
enum Transforms {
    // MARK: Fit

    /// The fitted form of a step (encoders and imputers expand to one fitted step per column) and, when fitting
    /// must transform the training rows differently from new rows (out-of-fold target encoding), that table.
    static func fit(_ step: PreparationStep, on t: Table, target: String?, seed: UInt64) throws -> (
        [FittedStep], Table?
    ) {
        switch step {
        case .dropDuplicates(let keys):
            for k in keys { _ = try column(t, k, "drop_duplicates") }
            return ([.dropDuplicates(keys: keys)], nil)
        case .filter(let expression, let flag):
            _ = try parse(expression, "filter")
            return ([.filter(expression: expression, flag: flag)], nil)
        case .text(let columns, let trim, let fold, let words, let values):
            for c in columns { try requireText(t, c, "text") }
            return ([.text(columns: columns, trim: trim, fold: fold, words: words, values: values)], nil)
        case .parseDates(let columns, let formats):
            for c in columns {
                let col = try column(t, c, "parse_dates")
                if col.type != .string && col.type != .date && col.type != .timestamp {
                    throw PrepError.wrongType(step: "parse_dates", column: c, expected: "text or date", found: col.type)
                }
            }
            for f in formats where DateFormat(f) == nil {
                throw PrepError.invalid(
                    step: "parse_dates",
                    reason:
                        "format '\(f)' is not understood; use yyyy, MM, dd (or M, d) and separators, e.g. MM/dd/yyyy")
            }
            return ([.parseDates(columns: columns, formats: formats)], nil)
        case .impute(let columns, let strategy, let groupBy, let indicator):
            for g in groupBy { _ = try column(t, g, "impute") }
            return (try columns.map { try fitImpute(t, $0, strategy, groupBy, indicator) }, nil)
        case .encode(let columns, let method):
            var parts = [FittedStep]()
            var out = t
            for c in columns {
                let col = try column(t, c, "encode")
                let (levels, counts) = categories(col)
                switch method {
                case .oneHot(let maxLevels):
                    let order = levels.indices.sorted {
                        counts[$0] > counts[$1] || (counts[$0] == counts[$1] && levels[$0] < levels[$1])
                    }
                    let kept = order.prefix(max(0, maxLevels)).map { levels[$0] }.sorted()
                    parts.append(.oneHot(column: c, levels: kept, other: kept.count < levels.count))
                case .ordinal(let order):
                    let unknown = Set(levels).subtracting(order)
                    if !unknown.isEmpty {
                        throw PrepError.invalid(
                            step: "encode \(c)",
                            reason:
                                "levels \(unknown.sorted().prefix(10).joined(separator: ", ")) are not in the order \(order)"
                        )
                    }
                    parts.append(.ordinal(column: c, order: order))
                case .frequency:
                    let total = Double(col.count)
                    parts.append(
                        .frequency(
                            column: c,
                            shares: Dictionary(
                                uniqueKeysWithValues: zip(levels, counts.map { Double($0) / max(total, 1) }))))
                case .target(let folds, let smoothing):
                    guard let target else {
                        throw PrepError.invalid(
                            step: "encode \(c)",
                            reason: "target encoding needs the target column (name it with --target)")
                    }
                    let y = try targetNumbers(t, target)
                    let (fittedStep, encoded) = fitTargetEncoding(
                        col, y: y, folds: max(2, folds), smoothing: smoothing, seed: seed)
                    parts.append(fittedStep)
                    out = try out.setting(encoded)
                }
            }
            // Out-of-fold target encodings replace the columns in the training table; other encoders apply as usual.
            if case .target = method { return (parts, out) }
            return (parts, nil)
        case .scale(let columns, let method):
            return (
                try columns.map { c in
                    let v = try numbers(t, c, "scale")
                    guard !v.isEmpty else { return .scale(column: c, center: 0, scale: 1) }
                    switch method {
                    case .standard:
                        let mean = v.reduce(0, +) / Double(v.count)
                        let sd = (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count)).squareRoot()
                        return .scale(column: c, center: mean, scale: sd > 0 ? sd : 1)
                    case .minMax:
                        let lo = v.min()!
                        let hi = v.max()!
                        return .scale(column: c, center: lo, scale: hi > lo ? hi - lo : 1)
                    case .robust:
                        let s = v.sorted()
                        let iqr = Statistics.quantile(sorted: s, 0.75) - Statistics.quantile(sorted: s, 0.25)
                        return .scale(column: c, center: Statistics.quantile(sorted: s, 0.5), scale: iqr > 0 ? iqr : 1)
                    }
                }, nil
            )
        case .log(let columns):
            for c in columns { _ = try numbers(t, c, "log") }
            return ([.log(columns: columns)], nil)
        case .derive(let name, let expression):
            let e = try parse(expression, "derive \(name)")
            for c in Set(e.columns) where t.columnIndex(c) == nil {
                throw PrepError.missingColumn(step: "derive \(name)", column: c, available: t.columnNames)
            }
            return ([.derive(name: name, expression: expression)], nil)
        case .drop(let columns):
            for c in columns { _ = try column(t, c, "drop") }
            return ([.drop(columns: columns)], nil)
        }
    }

    static func fitImpute(
        _ t: Table, _ c: String, _ strategy: PreparationStep.ImputeStrategy, _ groupBy: [String], _ indicator: Bool
    ) throws -> FittedStep {
        let col = try column(t, c, "impute")
        let keys = try groupKeys(t, groupBy)
        func fill(_ rows: [Int]) throws -> FillValue? {
            if col.type == .string {
                switch strategy {
                case .constant(let v): return .text(v)
                case .mostFrequent:
                    var counts = [String: Int]()
                    for r in rows where col.isValid(r) { counts[col[r].description, default: 0] += 1 }
                    return counts.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }.map {
                        .text($0.key)
                    }
                case .mean, .median:
                    throw PrepError.wrongType(
                        step: "impute \(c)", column: c,
                        expected: "a number for mean or median (use most_frequent or constant for text)",
                        found: col.type)
                }
            }
            guard col.type.isNumeric || col.type == .bool else {
                throw PrepError.wrongType(step: "impute \(c)", column: c, expected: "a number or text", found: col.type)
            }
            let all = col.doubles() ?? []
            let v = rows.compactMap { col.isValid($0) ? all[$0] : nil }
            switch strategy {
            case .constant(let s):
                guard let x = Double(s) else {
                    throw PrepError.invalid(step: "impute \(c)", reason: "the constant '\(s)' is not a number")
                }
                return .number(x)
            case .mean: return v.isEmpty ? nil : .number(v.reduce(0, +) / Double(v.count))
            case .median: return v.isEmpty ? nil : .number(Statistics.quantile(sorted: v.sorted(), 0.5))
            case .mostFrequent:
                var counts = [Double: Int]()
                for x in v { counts[x, default: 0] += 1 }
                return counts.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }.map {
                    .number($0.key)
                }
            }
        }
        let overall = try fill(Array(0..<t.rowCount)) ?? (col.type == .string ? .text("unknown") : .number(0))
        var groups = [String: FillValue]()
        if let keys {
            var rowsByKey = [String: [Int]]()
            for (r, k) in keys.enumerated() { rowsByKey[k, default: []].append(r) }
            for (k, rows) in rowsByKey { if let f = try fill(rows) { groups[k] = f } }
        }
        return .impute(column: c, fill: overall, groupBy: groupBy, groups: groups, indicator: indicator)
    }

    static func fitTargetEncoding(_ col: Column, y: [Double?], folds: Int, smoothing: Double, seed: UInt64) -> (
        FittedStep, Column
    ) {
        let n = col.count
        let levels = (0..<n).map { col.isValid($0) ? col[$0].description : nil }
        let labelled = (0..<n).filter { y[$0] != nil }
        let prior = labelled.isEmpty ? 0 : labelled.reduce(0) { $0 + y[$1]! } / Double(labelled.count)
        func means(_ rows: [Int]) -> [String: Double] {
            var sum = [String: Double]()
            var count = [String: Double]()
            for r in rows {
                if let l = levels[r], let v = y[r] {
                    sum[l, default: 0] += v
                    count[l, default: 0] += 1
                }
            }
            var out = [String: Double]()
            for (l, s) in sum { out[l] = (s + smoothing * prior) / (count[l]! + smoothing) }
            return out
        }
        // Fold of each row from a seeded shuffle; each fold is encoded with the other folds' means.
        var order = Array(0..<n)
        var rng = SeededGenerator(seed: seed)
        order.shuffle(using: &rng)
        var fold = [Int](repeating: 0, count: n)
        for (i, r) in order.enumerated() { fold[r] = i % folds }
        var encoded = [Double?](repeating: nil, count: n)
        for k in 0..<folds {
            let m = means((0..<n).filter { fold[$0] != k })
            for r in 0..<n where fold[r] == k { encoded[r] = levels[r].map { m[$0] ?? prior } ?? prior }
        }
        return (
            .target(column: col.name, means: means(Array(0..<n)), prior: prior),
            Column(name: col.name, doubles: encoded)
        )
    }

    // MARK: Apply

    /// Applies a fitted step; the second value lists the input rows kept, when the step drops rows.
    static func apply(_ step: FittedStep, to t: Table) throws -> (Table, [Int]?) {
        switch step {
        case .dropDuplicates(let keys):
            for k in keys { _ = try column(t, k, "drop_duplicates") }
            let use = keys.isEmpty ? t : try t.selecting(keys)
            var seen = Set<[Value]>()
            var kept = [Int]()
            for r in 0..<t.rowCount where seen.insert(use.row(r)).inserted { kept.append(r) }
            return (t.taking(kept), kept)
        case .filter(let expression, let flag):
            let keep = try filterMask(t, expression: expression)
            if let flag { return (try t.setting(Column(name: flag, bools: keep.map { !$0 })), nil) }
            let kept = keep.indices.filter { keep[$0] }
            return (t.taking(kept), kept)
        case .text(let columns, let trim, let fold, let words, let values):
            var out = t
            for c in columns {
                try requireText(t, c, "text")
                let col = try column(t, c, "text")
                guard case .string(let codes, let dictionary) = col.storage else { continue }
                // Dictionary-encoded: each distinct value is cleaned once, then codes are remapped.
                let cleaned = dictionary.map { cleanText($0, trim: trim, fold: fold, words: words, values: values) }
                let strings = (0..<col.count).map { col.isValid($0) ? cleaned[Int(codes[$0])] : nil }
                out = try out.setting(Column(name: c, strings: strings))
            }
            return (out, nil)
        case .parseDates(let columns, let formats):
            var out = t
            let parsers = formats.compactMap(DateFormat.init)
            for c in columns {
                let col = try column(t, c, "parse_dates")
                if col.type == .date { continue }
                if col.type == .timestamp, case .timestamp(let us) = col.storage {
                    let days = us.map {
                        $0 >= 0
                            ? $0 / CalendarDate.microsecondsPerDay
                            : -((-$0 + CalendarDate.microsecondsPerDay - 1) / CalendarDate.microsecondsPerDay)
                    }
                    out = try out.setting(Column(name: c, storage: .date(days), validity: col.validity))
                    continue
                }
                try requireText(t, c, "parse_dates")
                var days = [Int64](repeating: 0, count: col.count)
                var valid = [Bool](repeating: false, count: col.count)
                for r in 0..<col.count where col.isValid(r) {
                    let s = col[r].description.trimmingCharacters(in: .whitespaces)
                    if let d = parsers.lazy.compactMap({ $0.parse(s) }).first {
                        days[r] = d
                        valid[r] = true
                    }
                }
                out = try out.setting(Column(name: c, storage: .date(days), validity: valid))
            }
            return (out, nil)
        case .impute(let c, let fill, let groupBy, let groups, let indicator):
            let col = try column(t, c, "impute")
            let keys = try groupKeys(t, groupBy)
            func value(_ r: Int) -> FillValue { keys.flatMap { groups[$0[r]] } ?? fill }
            var out = t
            if indicator {
                out = try out.setting(Column(name: "\(c)_was_missing", bools: (0..<col.count).map { !col.isValid($0) }))
            }
            if col.type == .string {
                let strings: [String?] = (0..<col.count).map { r in
                    if col.isValid(r) { return col[r].description }
                    if case .text(let s) = value(r) { return s }
                    if case .number(let x) = value(r) { return formatDouble(x) }
                    return nil
                }
                return (try out.setting(Column(name: c, strings: strings)), nil)
            }
            guard let all = col.doubles() else {
                throw PrepError.wrongType(step: "impute \(c)", column: c, expected: "a number", found: col.type)
            }
            var filled = all
            var integral = col.type == .int64
            for r in 0..<col.count where !col.isValid(r) {
                guard case .number(let x) = value(r) else {
                    throw PrepError.invalid(
                        step: "impute \(c)", reason: "the fill value is text but the column is \(col.type)")
                }
                filled[r] = x
                if x.rounded() != x { integral = false }
            }
            let column = integral ? Column(name: c, ints: filled.map { Int64($0) }) : Column(name: c, doubles: filled)
            return (try out.setting(column), nil)
        case .oneHot(let c, let levels, let other):
            let col = try column(t, c, "encode")
            let text = (0..<col.count).map { col.isValid($0) ? col[$0].description : nil }
            var out = try t.dropping([c])
            for level in levels {
                out = try out.setting(Column(name: "\(c)_\(level)", doubles: text.map { $0 == level ? 1 : 0 }))
            }
            if other {
                let known = Set(levels)
                // Rare training levels and levels never seen in training land in `_other`; missing stays all zero.
                out = try out.setting(
                    Column(name: "\(c)_other", doubles: text.map { $0.map { known.contains($0) ? 0 : 1 } ?? 0 }))
            }
            return (out, nil)
        case .ordinal(let c, let order):
            let col = try column(t, c, "encode")
            let rank = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, Int64($0)) })
            return (
                try t.setting(
                    Column(name: c, ints: (0..<col.count).map { col.isValid($0) ? rank[col[$0].description] : nil })),
                nil
            )
        case .frequency(let c, let shares):
            let col = try column(t, c, "encode")
            return (
                try t.setting(
                    Column(
                        name: c,
                        doubles: (0..<col.count).map { col.isValid($0) ? (shares[col[$0].description] ?? 0) : nil })),
                nil
            )
        case .target(let c, let means, let prior):
            let col = try column(t, c, "encode")
            return (
                try t.setting(
                    Column(
                        name: c,
                        doubles: (0..<col.count).map { col.isValid($0) ? (means[col[$0].description] ?? prior) : prior }
                    )), nil
            )
        case .scale(let c, let center, let scale):
            let col = try column(t, c, "scale")
            guard let v = col.doubles(), col.type.isNumeric else {
                throw PrepError.wrongType(step: "scale", column: c, expected: "a number", found: col.type)
            }
            return (
                try t.setting(
                    Column(name: c, doubles: (0..<v.count).map { col.isValid($0) ? (v[$0] - center) / scale : nil })),
                nil
            )
        case .log(let columns):
            var out = t
            for c in columns {
                let col = try column(t, c, "log")
                guard let v = col.doubles(), col.type.isNumeric else {
                    throw PrepError.wrongType(step: "log", column: c, expected: "a number", found: col.type)
                }
                out = try out.setting(
                    Column(
                        name: c,
                        doubles: (0..<v.count).map { col.isValid($0) && v[$0] >= 0 ? Foundation.log1p(v[$0]) : nil }))
            }
            return (out, nil)
        case .derive(let name, let expression):
            let values = try evaluate(expression, on: t, "derive \(name)")
            return (try t.setting(try Column.inferring(name: name, cells: values)), nil)
        case .drop(let columns):
            // Fitting checked the columns exist; new rows (a serving request) need not carry what is dropped anyway.
            return (try t.dropping(columns.filter { t.columnIndex($0) != nil }), nil)
        }
    }

    /// True where a row passes the filter (a missing result fails it, as in SQL's WHERE).
    static func filterMask(_ t: Table, expression: String) throws -> [Bool] {
        try checked(expression, on: t, "filter").holds(on: t)
    }

    // MARK: Helpers

    static func cleanText(
        _ s: String, trim: Bool, fold: PreparationStep.TextCase?, words: [String: String], values: [String: String]
    ) -> String {
        var x = trim ? s.trimmingCharacters(in: .whitespacesAndNewlines) : s
        if trim { x = x.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        switch fold {
        case .lower: x = x.lowercased()
        case .upper: x = x.uppercased()
        case nil: break
        }
        if !words.isEmpty {
            x = x.split(separator: " ", omittingEmptySubsequences: false).map { words[String($0)] ?? String($0) }
                .joined(separator: " ")
        }
        return values[x] ?? x
    }

    static func column(_ t: Table, _ name: String, _ step: String) throws -> Column {
        guard let c = t[name] else { throw PrepError.missingColumn(step: step, column: name, available: t.columnNames) }
        return c
    }

    static func requireText(_ t: Table, _ name: String, _ step: String) throws {
        let c = try column(t, name, step)
        guard c.type == .string else {
            throw PrepError.wrongType(step: step, column: name, expected: "text", found: c.type)
        }
    }

    static func numbers(_ t: Table, _ name: String, _ step: String) throws -> [Double] {
        let c = try column(t, name, step)
        guard c.type.isNumeric, let v = c.doubles() else {
            throw PrepError.wrongType(step: step, column: name, expected: "a number", found: c.type)
        }
        return (0..<v.count).compactMap { c.isValid($0) ? v[$0] : nil }
    }

    /// The target as numbers: values, 0/1 for a bool, and for two text levels 1 for the less frequent one.
    static func targetNumbers(_ t: Table, _ name: String) throws -> [Double?] {
        let c = try column(t, name, "target encoding")
        if c.type.isNumeric || c.type == .bool, let v = c.doubles() {
            return (0..<v.count).map { c.isValid($0) ? v[$0] : nil }
        }
        let (levels, counts) = categories(c)
        guard levels.count == 2 else {
            throw PrepError.invalid(
                step: "target encoding",
                reason: "the target '\(name)' has \(levels.count) levels; target encoding needs a number or two classes"
            )
        }
        let positive = counts[0] <= counts[1] ? levels[0] : levels[1]
        return (0..<c.count).map { c.isValid($0) ? (c[$0].description == positive ? 1 : 0) : nil }
    }

    /// Distinct non-missing values (as text, sorted) and how many rows hold each.
    static func categories(_ c: Column) -> ([String], [Int]) {
        var counts = [String: Int]()
        for r in 0..<c.count where c.isValid(r) { counts[c[r].description, default: 0] += 1 }
        let levels = counts.keys.sorted()
        return (levels, levels.map { counts[$0]! })
    }

    /// Each row's group key (nil without group columns); a missing value is its own group member "".
    static func groupKeys(_ t: Table, _ groupBy: [String]) throws -> [String]? {
        guard !groupBy.isEmpty else { return nil }
        let cols = try groupBy.map { try column(t, $0, "impute") }
        return (0..<t.rowCount).map { r in
            cols.map { $0.isValid(r) ? $0[r].description : "" }.joined(separator: "\u{1F}")
        }
    }

    /// Evaluates an expression; a column it reads that the table lacks is a `PrepError` naming the step.
    static func evaluate(_ expression: String, on t: Table, _ step: String) throws -> [Value] {
        try checked(expression, on: t, step).evaluate(on: t)
    }

    /// Parses an expression and checks that `t` has every column it reads (else a `PrepError` naming the step).
    static func checked(_ expression: String, on t: Table, _ step: String) throws -> MLCycleData.Expression {
        let e = try parse(expression, step)
        for c in e.columns where t.columnIndex(c) == nil {
            throw PrepError.missingColumn(step: step, column: c, available: t.columnNames)
        }
        return e
    }

    static func parse(_ expression: String, _ step: String) throws -> MLCycleData.Expression {
        do { return try MLCycleData.Expression.parse(expression) } catch let e as ExpressionError {
            throw PrepError.invalid(step: step, reason: e.localizedDescription)
        }
    }
}

/// A date format of `yyyy`, `MM`/`M`, `dd`/`d` and literal separators, e.g. `MM/dd/yyyy`.
struct DateFormat {
    enum Part {
        case year, month, day
        case literal(Character)
    }
    let parts: [Part]

    init?(_ format: String) {
        var parts = [Part]()
        var chars = Array(format)[...]
        while let c = chars.first {
            let run = chars.prefix { $0 == c }.count
            switch (c, run) {
            case ("y", 4): parts.append(.year)
            case ("M", 1), ("M", 2): parts.append(.month)
            case ("d", 1), ("d", 2): parts.append(.day)
            case ("y", _), ("M", _), ("d", _): return nil
            default: for _ in 0..<run { parts.append(.literal(c)) }
            }
            chars = chars.dropFirst(run)
        }
        guard
            parts.contains(where: {
                if case .year = $0 { return true }
                return false
            })
        else { return nil }
        self.parts = parts
    }

    /// Days since 1970-01-01, or nil when the text does not fit the format or names no real date.
    func parse(_ s: String) -> Int64? {
        var chars = Array(s)[...]
        var y = 0
        var m = 1
        var d = 1
        func number(maxDigits: Int) -> Int? {
            let digits = chars.prefix { $0.isASCII && $0.isNumber }.prefix(maxDigits)
            guard !digits.isEmpty, let v = Int(String(digits)) else { return nil }
            chars = chars.dropFirst(digits.count)
            return v
        }
        for part in parts {
            switch part {
            case .year:
                guard let v = number(maxDigits: 4) else { return nil }
                y = v
            case .month:
                guard let v = number(maxDigits: 2) else { return nil }
                m = v
            case .day:
                guard let v = number(maxDigits: 2) else { return nil }
                d = v
            case .literal(let c):
                guard chars.first == c else { return nil }
                chars = chars.dropFirst()
            }
        }
        guard chars.isEmpty else { return nil }
        return CalendarDate.days(year: y, month: m, day: d)
    }
}
