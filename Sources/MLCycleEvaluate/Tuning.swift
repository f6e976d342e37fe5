import Foundation
import MLCycleData
import MLCycleLearn
import MLCycleMetrics

/// How to search hyperparameters.
public struct TuningOptions: Sendable {
    public enum Search: String, Codable, Sendable, CaseIterable { case grid, random }
    public var target: String
    public var task: Task
    public var learner: LearnerKind
    /// Candidate values per parameter (`num_leaves: ["15", "31", "63"]`); fixed ones have one value.
    public var space: [String: [String]]
    public var search: Search
    /// At most this many trials (random search: how many to draw; grid: cut short after this many).
    public var trials: Int?
    /// Stop starting new trials after this many seconds.
    public var timeBudget: Double?
    /// k-fold cross-validation with k ≥ 2; 0 or 1: one seeded 80/20 validation split.
    public var folds: Int
    /// The metric to rank by (default: rmse for regression, logloss for classification).
    public var metric: String?
    public var drop: [String]
    public var seed: UInt64
    /// Called after each tried parameter set with (done, total), e.g. for a progress counter.
    public var progress: (@Sendable (Int, Int) -> Void)?

    public init(
        target: String, task: Task, learner: LearnerKind, space: [String: [String]], search: Search = .grid,
        trials: Int? = nil, timeBudget: Double? = nil, folds: Int = 5, metric: String? = nil, drop: [String] = [],
        seed: UInt64 = 42,
        progress: (@Sendable (Int, Int) -> Void)? = nil
    ) {
        self.progress = progress
        self.target = target
        self.task = task
        self.learner = learner
        self.space = space
        self.search = search
        self.trials = trials
        self.timeBudget = timeBudget
        self.folds = folds
        self.metric = metric
        self.drop = drop
        self.seed = seed
    }
}

/// One tried parameter set and how it scored across the folds.
public struct LeaderboardEntry: Codable, Sendable {
    public var rank: Int
    public var parameters: [String: String]
    public var metric: String
    public var mean: Double
    public var std: Double
    /// Every metric the task reports, averaged over the folds.
    public var metrics: [String: Double]
    public var fitSeconds: Double

    enum CodingKeys: String, CodingKey {
        case rank, parameters, metric, mean, std, metrics
        case fitSeconds = "fit_seconds"
    }
}

/// What a search tries, in order, and how it scores them: the candidates, the metric, and the rows each fold holds out.
/// The same table and options always make the same plan, so a worker on another machine scores a candidate exactly
/// as the local search would.
public struct TuningPlan: Sendable {
    public var candidates: [[String: String]]
    public var metric: String
    /// Row numbers held out by each fold (one part: a single validation split).
    var parts: [[Int]]
}

/// Grid or random search over hyperparameters, each candidate scored by cross-validation; returns a leaderboard,
/// best first.
public enum Tuning {

    public static func run(_ table: Table, options o: TuningOptions) throws -> [LeaderboardEntry] {
        let plan = try plan(table, options: o)
        let started = Date()
        var entries = [LeaderboardEntry]()
        for index in plan.candidates.indices {
            if let budget = o.timeBudget, Date().timeIntervalSince(started) > budget, !entries.isEmpty { break }
            entries.append(try trial(table, options: o, plan: plan, candidate: index))
            o.progress?(entries.count, plan.candidates.count)
        }
        return ranked(entries)
    }

    /// The candidates of the search space (every combination, or seeded draws) and the seeded folds; checks every
    /// candidate against the learner's parameters and the data for values no learner can fit on, before any fit.
    public static func plan(_ table: Table, options o: TuningOptions) throws -> TuningPlan {
        // An empty space is one trial of the learner's defaults (cross-validating a single candidate).
        guard o.space.values.allSatisfy({ !$0.isEmpty }) else {
            throw LearnError.unsupported(
                "a parameter of the search space has no values; give each at least one (--space num_leaves=15,31,63)")
        }
        let metric = o.metric ?? (o.task == .regression ? "rmse" : (o.task == .clustering ? "inertia" : "logloss"))
        let names = o.space.keys.sorted()
        var candidates: [[String: String]]
        var rng = SeededGenerator(seed: o.seed)
        switch o.search {
        case .grid:
            candidates = [[:]]
            for name in names {
                candidates = candidates.flatMap { c in o.space[name]!.map { c.merging([name: $0]) { $1 } } }
            }
            if let t = o.trials { candidates = Array(candidates.prefix(t)) }
        case .random:
            let count = o.trials ?? 10
            var seen = Set<[String: String]>()
            candidates = []
            var attempts = 0
            let total = names.reduce(1) { $0 * o.space[$1]!.count }
            while candidates.count < min(count, total) && attempts < count * 50 {
                attempts += 1
                let c = Dictionary(
                    uniqueKeysWithValues: names.map {
                        ($0, o.space[$0]![Int(rng.next(upperBound: UInt64(o.space[$0]!.count)))])
                    })
                if seen.insert(c).inserted { candidates.append(c) }
            }
        }
        // Every candidate's text is checked against the learner's parameters before the first fit, and the data
        // for values no learner can fit on (row numbers are the table's, before the folds renumber them).
        try requireFiniteValues(in: table, columns: table.columnNames.filter { !o.drop.contains($0) })
        for candidate in candidates { _ = try o.learner.parameters(candidate, task: o.task) }
        // Folds: a seeded shuffle cut into k parts (or one 20 % validation part).
        let order = TrainingRun.seededOrder(table.rowCount, &rng)
        let k = max(1, o.folds)
        let parts: [[Int]] =
            k >= 2
            ? (0..<k).map { f in order.indices.filter { $0 % k == f }.map { order[$0] }.sorted() }
            : [Array(order[0..<max(1, table.rowCount / 5)]).sorted()]
        guard parts.allSatisfy({ !$0.isEmpty && $0.count < table.rowCount }) else {
            throw LearnError.tooFewRows(needed: max(2, k), found: table.rowCount)
        }
        return TuningPlan(candidates: candidates, metric: metric, parts: parts)
    }

    /// The plan's candidate number `candidate`, scored by cross-validation over the plan's folds (rank 0: `ranked`
    /// numbers a leaderboard).
    public static func trial(_ table: Table, options o: TuningOptions, plan: TuningPlan, candidate: Int) throws
        -> LeaderboardEntry
    {
        let parameters = plan.candidates[candidate]
        let metric = plan.metric
        var scores = [Double]()
        var sums = [String: Double]()
        var fitSeconds = 0.0
        for validation in plan.parts {
            let held = Set(validation)
            let trainRows = (0..<table.rowCount).filter { !held.contains($0) }
            let (_, report) = try TrainingRun.run(
                table.taking(trainRows),
                options: TrainingOptions(
                    target: o.target, task: o.task, learner: o.learner, parameters: parameters, drop: o.drop,
                    testTable: table.taking(validation), seed: o.seed))
            guard let value = report.metrics[metric] else {
                throw LearnError.unsupported(
                    "the metric '\(metric)' is not reported for this task; choose one of \(report.metrics.keys.sorted().joined(separator: ", "))"
                )
            }
            scores.append(value)
            for (name, v) in report.metrics { sums[name, default: 0] += v }
            fitSeconds += report.fitSeconds
        }
        let mean = scores.reduce(0, +) / Double(scores.count)
        let std = scores.count > 1 ? Statistics.standardDeviation(scores) : 0
        return LeaderboardEntry(
            rank: 0, parameters: parameters, metric: metric, mean: mean, std: std,
            metrics: sums.mapValues { $0 / Double(plan.parts.count) }, fitSeconds: fitSeconds)
    }

    /// Scored candidates best first by their metric, ranked from 1.
    public static func ranked(_ entries: [LeaderboardEntry]) -> [LeaderboardEntry] {
        guard let metric = entries.first?.metric else { return [] }
        let ascending = !MLCycleMetrics.higherIsBetter.contains(metric)
        var entries = entries
        entries.sort { ascending ? $0.mean < $1.mean : $0.mean > $1.mean }
        for i in entries.indices { entries[i].rank = i + 1 }
        return entries
    }
}
