import Foundation
import MLCycleData
import MLCycleQuality

/// How one column's drift is judged: the method and its threshold (a p-value below it, or a distance above it,
/// means drift).
public struct DriftRule: Sendable, Equatable {
    /// The same method with another threshold (nil keeps this one).
    public func with(threshold: Double?) -> DriftRule {
        guard let threshold else { return self }
        var r = self
        r.threshold = threshold
        return r
    }

    public enum Method: String, Sendable, CaseIterable {
        case ks, chi2, z, wasserstein
        case jensenShannon = "jensen_shannon"
        case psi
        /// p-value tests drift below the threshold; distances drift above it.
        public var isTest: Bool { self == .ks || self == .chi2 || self == .z }
        public var defaultThreshold: Double {
            switch self {
            case .ks, .chi2, .z: return 0.05
            case .wasserstein, .jensenShannon: return 0.1
            case .psi: return 0.25
            }
        }
    }
    public var method: Method
    public var threshold: Double

    public init(method: Method, threshold: Double? = nil) {
        self.method = method
        self.threshold = threshold ?? method.defaultThreshold
    }
}

/// Options for a drift report; defaults follow Evidently's.
public struct DriftOptions: Sendable {
    /// A rule per column name, overriding the default choice.
    public var rules: [String: DriftRule] = [:]
    /// A threshold per column name for its default test (a p-value for KS / chi-square / z, a distance otherwise);
    /// the spec's `monitoring.drift`.
    public var thresholds: [String: Double] = [:]
    /// The dataset drifts when at least this share of its columns drift.
    public var driftShare = 0.5
    /// Reference-quantile bins for PSI and Jensen–Shannon on numeric columns.
    public var bins = 10
    public init() {}
}

/// One column's drift: the tests that apply to its type, the verdict by the chosen method, missing-value shift and
/// categories never seen in the reference.
public struct ColumnDrift: Encodable, Sendable {
    public struct Test: Encodable, Sendable {
        public var statistic: Double
        public var pValue: Double
        enum CodingKeys: String, CodingKey {
            case statistic
            case pValue = "p_value"
        }
    }
    public struct Tests: Encodable, Sendable {
        public var ks: Test?
        public var chi2: Test?
        public var z: Test?
        public var psi: Double
        public var wasserstein: Double?
        /// Wasserstein distance divided by the reference's standard deviation (floored at 0.001), as Evidently norms it.
        public var wassersteinNormed: Double?
        public var jensenShannon: Double
        enum CodingKeys: String, CodingKey {
            case ks, chi2, z, psi, wasserstein
            case wassersteinNormed = "wasserstein_normed"
            case jensenShannon = "jensen_shannon"
        }
    }
    public var name: String
    /// "numeric" or "categorical".
    public var type: String
    public var drifted: Bool
    public var method: String
    public var threshold: Double
    /// The value the verdict was taken on (a p-value or a distance).
    public var score: Double
    public var tests: Tests
    public var missingReference: Double
    public var missingCurrent: Double
    public var unseenCategories: [String]
    /// Histogram for the report's overlay: bin labels and each side's share.
    public var bins: [String]
    public var referenceShares: [Double]
    public var currentShares: [Double]
    /// The usual reading of the PSI, whatever test decides: below 0.1 "none", below 0.25 "moderate", else "major".
    public var psiLevel: String

    /// The PSI's usual reading.
    public static func level(psi: Double) -> String { psi < 0.1 ? "none" : psi < 0.25 ? "moderate" : "major" }

    enum CodingKeys: String, CodingKey {
        case name, type, drifted, method, threshold, score, tests, bins
        case psiLevel = "psi_level"
        case missingReference = "missing_reference"
        case missingCurrent = "missing_current"
        case unseenCategories = "unseen_categories"
        case referenceShares = "reference_shares"
        case currentShares = "current_shares"
    }
}

/// A drift report: per column, and the dataset verdict from the share of drifted columns.
public struct DriftReport: Encodable, Sendable {
    public var driftShare: Double
    public var datasetDrift: Bool
    public var driftShareThreshold: Double
    public var referenceRows: Int
    public var currentRows: Int
    public var columns: [ColumnDrift]
    enum CodingKeys: String, CodingKey {
        case driftShare = "drift_share"
        case datasetDrift = "dataset_drift"
        case driftShareThreshold = "drift_share_threshold"
        case referenceRows = "reference_rows"
        case currentRows = "current_rows"
        case columns
    }
}

/// Errors a drift comparison reports.
public enum MonitorError: Error, LocalizedError, Equatable {
    case invalid(String)
    public var errorDescription: String? {
        switch self {
        case .invalid(let m): return m
        }
    }
}

/// What a model answered on its test rows, the reference for prediction drift: numbers (regression) or the count of
/// each predicted label (classes).
public enum PredictionReference: Sendable, Equatable {
    case numbers([Double])
    case counts([String: Int])
}

/// Compares a current table with a reference, column by column.
public enum DriftDetector {
    /// The drift of served answers (the output distribution) against the answers on the test rows, by the tests an
    /// input column named "prediction" would get; nil when there is nothing to compare.
    public static func predictionDrift(
        reference: PredictionReference, served: [String], options: DriftOptions = DriftOptions()
    ) throws -> ColumnDrift? {
        let ref: Column
        let cur: Column
        switch reference {
        case .numbers(let values):
            let current = served.compactMap(Double.init)
            guard !values.isEmpty, !current.isEmpty else { return nil }
            ref = Column(name: "prediction", doubles: values.map { Optional($0) })
            cur = Column(name: "prediction", doubles: current.map { Optional($0) })
        case .counts(let counts):
            guard counts.values.reduce(0, +) > 0, !served.isEmpty else { return nil }
            var values = [String?]()
            for (label, n) in counts.sorted(by: { $0.key < $1.key }) {
                values += repeatElement(Optional(label), count: n)
            }
            ref = Column(name: "prediction", strings: values)
            cur = Column(name: "prediction", strings: served.map { Optional($0) })
        }
        return try compare(reference: try Table(columns: [ref]), current: try Table(columns: [cur]), options: options)
            .columns.first
    }

    /// The default rule for a column, as Evidently picks it: with at most 1,000 reference values, KS for numbers
    /// (more than 5 distinct values), a z-test for two categories and chi-square for more; with more, the normed
    /// Wasserstein distance for numbers and Jensen–Shannon for categories (threshold 0.1).
    public static func defaultRule(numeric: Bool, referenceCount: Int, categories: Int) -> DriftRule {
        if referenceCount <= 1000 {
            if numeric { return DriftRule(method: .ks) }
            return DriftRule(method: categories <= 2 ? .z : .chi2)
        }
        return DriftRule(method: numeric ? .wasserstein : .jensenShannon)
    }

    /// Compares `current` with `reference` on `columns` (default: every column both have).
    public static func compare(
        reference: Table, current: Table, columns: [String]? = nil, options: DriftOptions = DriftOptions()
    ) throws -> DriftReport {
        let names = columns ?? reference.columnNames.filter { current[$0] != nil }
        guard !names.isEmpty else {
            throw MonitorError.invalid("the reference and current tables share no column to compare")
        }
        for n in names {
            if reference[n] == nil {
                throw MonitorError.invalid(
                    "no column '\(n)' in the reference (it has: \(reference.columnNames.joined(separator: ", ")))")
            }
            if current[n] == nil {
                throw MonitorError.invalid(
                    "no column '\(n)' in the current data (it has: \(current.columnNames.joined(separator: ", ")))")
            }
        }
        for (n, _) in options.rules where !names.contains(n) {
            throw MonitorError.invalid("a drift rule names '\(n)', which is not among the compared columns")
        }
        let results = try parallelMap(names.count) { i in
            Result { try column(names[i], reference[names[i]]!, current[names[i]]!, options) }
        }
        .map { try $0.get() }
        let drifted = results.filter(\.drifted).count
        let share = Double(drifted) / Double(results.count)
        return DriftReport(
            driftShare: share, datasetDrift: share >= options.driftShare, driftShareThreshold: options.driftShare,
            referenceRows: reference.rowCount, currentRows: current.rowCount, columns: results)
    }

    /// A column's present values as numbers (dates as days); nil for text and booleans, which drift as categories.
    static func numbers(_ c: Column) -> [Double]? {
        c.type == .bool ? nil : c.validDoubles()
    }

    static func labels(_ c: Column) -> [String] {
        (0..<c.count).filter { c.isValid($0) }.map { c[$0].description }
    }

    static func column(_ name: String, _ ref: Column, _ cur: Column, _ options: DriftOptions) throws -> ColumnDrift {
        let missingRef = ref.count == 0 ? 0 : Double(ref.missingCount) / Double(ref.count)
        let missingCur = cur.count == 0 ? 0 : Double(cur.missingCount) / Double(cur.count)
        let refNumbers = numbers(ref)
        let curNumbers = numbers(cur)
        let distinct = refNumbers.map { Set($0).count } ?? 0
        let numeric = refNumbers != nil && curNumbers != nil && distinct > 5
        if let r = refNumbers, r.isEmpty {
            throw MonitorError.invalid("column '\(name)' has no value in the reference")
        }

        if numeric, let r = refNumbers, let c = curNumbers {
            guard !c.isEmpty else { throw MonitorError.invalid("column '\(name)' has no value in the current data") }
            // Bins at the reference's deciles (distinct edges); a value equal to an edge falls in the lower bin.
            let sorted = r.sorted()
            var edges = [Double]()
            for k in 1..<options.bins {
                let e = Statistics.quantile(sorted: sorted, Double(k) / Double(options.bins))
                if edges.last != e { edges.append(e) }
            }
            func counts(_ v: [Double]) -> [Double] {
                var out = [Double](repeating: 0, count: edges.count + 1)
                for x in v {
                    var lo = 0
                    var hi = edges.count
                    while lo < hi {
                        let mid = (lo + hi) / 2
                        if edges[mid] < x { lo = mid + 1 } else { hi = mid }
                    }
                    out[lo] += 1
                }
                return out
            }
            let rc = counts(r)
            let cc = counts(c)
            let ks = DriftStatistics.kolmogorovSmirnov(r, c)
            let w = DriftStatistics.wasserstein(r, c)
            let mean = r.reduce(0, +) / Double(r.count)
            let std = (r.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(r.count)).squareRoot()
            let tests = ColumnDrift.Tests(
                ks: .init(statistic: ks.statistic, pValue: ks.pValue),
                psi: DriftStatistics.populationStabilityIndex(rc, cc),
                wasserstein: w, wassersteinNormed: w / max(std, 0.001),
                jensenShannon: DriftStatistics.jensenShannon(rc, cc))
            let rule =
                options.rules[name]
                ?? defaultRule(numeric: true, referenceCount: r.count, categories: distinct).with(
                    threshold: options.thresholds[name])
            var labels = [String]()
            for i in 0...edges.count {
                func label(_ x: Double) -> String { String(format: "%.6g", x) }
                let lo = i == 0 ? "" : label(edges[i - 1])
                let hi = i == edges.count ? "" : label(edges[i])
                labels.append(i == 0 ? "≤ \(hi)" : (i == edges.count ? "> \(lo)" : "\(lo)–\(hi)"))
            }
            return try verdict(name, "numeric", rule, tests, missingRef, missingCur, [], labels, rc, cc)
        }

        // Categorical: counts over the categories seen on either side, the reference's first.
        let r = labels(ref)
        let c = labels(cur)
        guard !r.isEmpty else { throw MonitorError.invalid("column '\(name)' has no value in the reference") }
        guard !c.isEmpty else { throw MonitorError.invalid("column '\(name)' has no value in the current data") }
        var index = [String: Int]()
        var categories = [String]()
        for v in r + c where index[v] == nil {
            index[v] = categories.count
            categories.append(v)
        }
        var rc = [Double](repeating: 0, count: categories.count)
        var cc = rc
        for v in r { rc[index[v]!] += 1 }
        for v in c { cc[index[v]!] += 1 }
        let referenceSet = Set(r)
        let unseen = categories.filter { !referenceSet.contains($0) }
        let chi = DriftStatistics.chiSquareContingency(rc, cc)
        var z: ColumnDrift.Test?
        if categories.count == 2 {
            let t = DriftStatistics.proportionZTest(
                reference: (rc[0], Double(r.count)), current: (cc[0], Double(c.count)))
            z = .init(statistic: t.statistic, pValue: t.pValue)
        }
        let tests = ColumnDrift.Tests(
            chi2: .init(statistic: chi.statistic, pValue: chi.pValue), z: z,
            psi: DriftStatistics.populationStabilityIndex(rc, cc), jensenShannon: DriftStatistics.jensenShannon(rc, cc))
        let rule =
            options.rules[name]
            ?? defaultRule(numeric: false, referenceCount: r.count, categories: Set(r).count).with(
                threshold: options.thresholds[name])
        return try verdict(name, "categorical", rule, tests, missingRef, missingCur, unseen, categories, rc, cc)
    }

    static func verdict(
        _ name: String, _ type: String, _ rule: DriftRule, _ t: ColumnDrift.Tests, _ missingRef: Double,
        _ missingCur: Double,
        _ unseen: [String], _ labels: [String], _ rc: [Double], _ cc: [Double]
    ) throws -> ColumnDrift {
        let score: Double?
        switch rule.method {
        case .ks: score = t.ks?.pValue
        case .chi2: score = t.chi2?.pValue
        case .z: score = t.z?.pValue ?? t.chi2?.pValue
        case .wasserstein: score = t.wassersteinNormed
        case .jensenShannon: score = t.jensenShannon
        case .psi: score = t.psi
        }
        guard let score else {
            throw MonitorError.invalid(
                "column '\(name)' is \(type): the \(rule.method.rawValue) test does not apply to it")
        }
        let drifted = rule.method.isTest ? score < rule.threshold : score > rule.threshold
        let sr = max(rc.reduce(0, +), 1)
        let sc = max(cc.reduce(0, +), 1)
        return ColumnDrift(
            name: name, type: type, drifted: drifted,
            method: rule.method == .z && t.z == nil ? "chi2" : rule.method.rawValue,
            threshold: rule.threshold, score: score, tests: t, missingReference: missingRef, missingCurrent: missingCur,
            unseenCategories: unseen, bins: labels, referenceShares: rc.map { $0 / sr },
            currentShares: cc.map { $0 / sc },
            psiLevel: ColumnDrift.level(psi: t.psi))
    }
}

extension DriftDetector {
    /// Compares current rows with the reference statistics a model bundle carries (a sample of each numeric input,
    /// the count of each category): the drift of served inputs against training, without the training data.
    public static func compare(reference: ReferenceStatistics, current: Table, options: DriftOptions = DriftOptions())
        throws -> DriftReport
    {
        var columns = [Column]()
        var kept = [String]()
        // A column's sample holds its present values only, so columns with missing values are shorter: each is
        // padded with missing values (which every test drops) to one length; missing rates come from the statistics.
        let shared = reference.columns.filter { current[$0.name] != nil }
        let length = shared.map { $0.sample?.count ?? $0.counts?.values.reduce(0, +) ?? 0 }.max() ?? 0
        for ref in shared {
            if let sample = ref.sample {
                columns.append(
                    Column(
                        name: ref.name,
                        doubles: sample.map { Optional($0) } + [Double?](repeating: nil, count: length - sample.count)))
            } else if let counts = ref.counts {
                var values = [String?]()
                values.reserveCapacity(length)
                for (label, n) in counts.sorted(by: { $0.key < $1.key }) {
                    values += repeatElement(Optional(label), count: n)
                }
                columns.append(
                    Column(name: ref.name, strings: values + [String?](repeating: nil, count: length - values.count)))
            } else {
                continue
            }
            kept.append(ref.name)
        }
        guard !kept.isEmpty else {
            throw MonitorError.invalid("the reference statistics share no column with the current rows")
        }
        // The current side as numbers where the reference holds numbers (dates as days, as the reference keeps them).
        var currentColumns = [Column]()
        for name in kept {
            let c = current[name]!
            if reference[name]?.sample != nil, numbers(c) == nil {
                throw MonitorError.invalid(
                    "column '\(name)' is numeric in training but \(c.type.rawValue) in the current rows")
            }
            currentColumns.append(c)
        }
        var report = try compare(
            reference: try Table(columns: columns), current: try Table(columns: currentColumns), options: options)
        for i in report.columns.indices {
            if let ref = reference[report.columns[i].name], ref.rows > 0 {
                report.columns[i].missingReference = Double(ref.missing) / Double(ref.rows)
            }
        }
        report.referenceRows = reference.columns.map(\.rows).max() ?? 0
        return report
    }

    /// The served inputs the prediction log kept (one JSON object per row), as a table of the reference's columns
    /// that the rows carry, with the reference's types; a value of the wrong type is a missing value.
    public static func table(loggedInputs: [String], reference: ReferenceStatistics) throws -> Table {
        let parsed = loggedInputs.map { (try? JSONValue.parse(Data($0.utf8))) ?? .null }
        var columns = [Column]()
        // Columns no served row carries (e.g. an ID the pipeline drops) are left out.
        for ref in reference.columns where parsed.contains(where: { $0[ref.name] != nil }) {
            if ref.sample != nil {
                let values: [Double?] = parsed.map { row in
                    switch row[ref.name] ?? .null {
                    case .number(let d): return d
                    case .bool(let b): return b ? 1 : 0
                    case .string(let s):
                        let v = FieldParsing.withBytes(s) { p, n in
                            ref.type == .timestamp ? FieldParsing.parseTimestamp(p, n) : FieldParsing.parseDate(p, n)
                        }
                        return v.map(Double.init)
                    default: return nil
                    }
                }
                columns.append(Column(name: ref.name, doubles: values))
            } else {
                columns.append(
                    Column(
                        name: ref.name,
                        strings: parsed.map { row in
                            switch row[ref.name] ?? .null {
                            case .string(let s): return s
                            case .bool(let b): return b ? "true" : "false"
                            case .number(let d): return formatDouble(d)
                            default: return nil
                            }
                        }))
            }
        }
        return try Table(columns: columns)
    }
}

/// One input column's mean |contribution| to the answers of the last monitoring window against the test rows': a
/// model whose reasons change is one whose world changed.
public struct ExplanationShift: Encodable, Sendable, Equatable {
    public var column: String
    /// Mean |contribution| on the test rows, and in the window.
    public var test: Double
    public var window: Double
    /// window / test − 1 (nil when the test rows' is 0).
    public var change: Double? { test > 0 ? window / test - 1 : nil }

    public init(column: String, test: Double, window: Double) {
        self.column = column
        self.test = test
        self.window = window
    }

    enum CodingKeys: String, CodingKey { case column, test, window, change }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(column, forKey: .column)
        try c.encode(test, forKey: .test)
        try c.encode(window, forKey: .window)
        try c.encodeIfPresent(change, forKey: .change)
    }
}
