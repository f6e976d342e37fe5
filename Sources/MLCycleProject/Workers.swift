import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCycleLearn
import MLCycleStore

#if canImport(Glibc)
    import Glibc
#endif

/// One candidate of a hyperparameter search as an item of the store's work queue: the data (an artefact, read back
/// with its column types), the search's options and the candidate's number in the plan they make.
public struct TuningTrialWork: Codable, Sendable, Equatable {
    public static let kind = "tuning-trial"

    /// The SHA-256 of the data's CSV artefact.
    var data: String
    var columnTypes: [String: DataType]
    var target: String
    var task: MLCycleLearn.Task
    var learner: LearnerKind
    var space: [String: [String]]
    var search: TuningOptions.Search
    var trials: Int?
    var folds: Int
    var metric: String?
    var drop: [String]
    var seed: UInt64
    var candidate: Int
    /// The candidate's parameters as the requester planned them; a worker whose plan differs refuses the item.
    var parameters: [String: String]

    var options: TuningOptions {
        TuningOptions(
            target: target, task: task, learner: learner, space: space, search: search, trials: trials, folds: folds,
            metric: metric, drop: drop, seed: seed)
    }
}

/// A retraining `mlcycle watch` asked for, done by a worker: the project's folder (the same path on every machine — a
/// shared volume or the same checkout) and the spec the watcher read, which the worker's copy must match.
public struct RetrainingWork: Codable, Sendable, Equatable {
    public static let kind = "retraining"

    var directory: String
    /// SHA-256 of the watcher's mlcycle.yaml.
    var specHash: String
    var trigger: String
    var reason: String
    /// The moment the retraining is as of (the watcher's step; replayed time in a replay).
    var at: Date

    /// The batch a project's retrainings are queued in.
    static func batch(_ project: String) -> String { "retrain-\(project)" }
}

/// Why distributed work did not complete.
public enum WorkError: LocalizedError, Equatable {
    /// A worker reported an error for an item (the same error a local run would have met).
    case failed(item: Int64, String)
    /// An item was cancelled (by `cancelWork`, from another process) before it was done.
    case cancelled(item: Int64)
    /// A worker's result could not be read back.
    case damagedResult(item: Int64, String)
    /// A worker met an item it does not know how to do, or one planned differently than it plans it (another
    /// mlcycle version).
    case unknown(String)

    public var errorDescription: String? {
        switch self {
        case .failed(let item, let message): return "work item \(item) failed: \(message)"
        case .cancelled(let item): return "work item \(item) was cancelled before it was done"
        case .damagedResult(let item, let message):
            return "work item \(item) has a result that cannot be read: \(message)"
        case .unknown(let message): return message
        }
    }
}

/// How far a batch of queued work is.
public struct WorkProgress: Sendable, Equatable {
    /// The batch's name in the queue.
    public var batch: String
    public var total: Int
    public var done: Int
    public var running: Int
}

/// A hyperparameter search whose candidates are scored by `mlcycle worker` processes on the store (Optuna's storage
/// model): the plan is made here, each candidate is queued, and the leaderboard is the local search's — the same plan,
/// the same folds, the same seeds, so the same scores.
public enum DistributedTuning {
    /// A search queued on a store: the batch its candidates are in.
    public struct Queued: Sendable {
        public let batch: String
        let store: any Store
    }

    /// Queues the search's candidates on `store` and waits for the workers' scores; a failed candidate cancels the
    /// rest and throws. `options.timeBudget` is not used (a queued candidate cannot be un-started).
    public static func run(
        _ table: Table, options: TuningOptions, store: any Store, poll: Duration = .milliseconds(200),
        progress: (@Sendable (WorkProgress) -> Void)? = nil
    ) async throws -> [LeaderboardEntry] {
        try await collect(try await queue(table, options: options, store: store), poll: poll, progress: progress)
    }

    /// Queues the search's candidates on `store`, one item each, for `collect` to wait on.
    public static func queue(_ table: Table, options: TuningOptions, store: any Store) async throws -> Queued {
        let plan = try Tuning.plan(table, options: options)
        let data = try await store.putArtifact(Data(CSVWriter.bytes(table)))
        let types = Dictionary(table.schema.map { ($0.name, $0.type) }, uniquingKeysWith: { a, _ in a })
        let batch = "tune-\(UUID().uuidString.lowercased())"
        let items = try plan.candidates.enumerated().map { index, parameters in
            let work = TuningTrialWork(
                data: data, columnTypes: types, target: options.target, task: options.task, learner: options.learner,
                space: options.space, search: options.search, trials: options.trials, folds: options.folds,
                metric: options.metric, drop: options.drop, seed: options.seed, candidate: index,
                parameters: parameters)
            return NewWorkItem(batch: batch, kind: TuningTrialWork.kind, payload: try SortedJSON.encode(work))
        }
        _ = try await store.enqueueWork(items)
        return Queued(batch: batch, store: store)
    }

    /// Waits for a queued search's scores: its leaderboard, ranked as a local search ranks it.
    public static func collect(
        _ search: Queued, poll: Duration = .milliseconds(200), progress: (@Sendable (WorkProgress) -> Void)? = nil
    ) async throws -> [LeaderboardEntry] {
        let results = try await wait(for: search.batch, on: search.store, poll: poll, progress: progress)
        return Tuning.ranked(
            try results.map { item in
                do { return try SortedJSON.decode(LeaderboardEntry.self, item.result ?? "") } catch {
                    throw WorkError.damagedResult(item: item.id, String(describing: error))
                }
            })
    }

    /// Waits until every item of `batch` is done; a failed or cancelled one cancels the rest and throws, and so does
    /// the waiting task's cancellation.
    static func wait(
        for batch: String, on store: any Store, poll: Duration, progress: (@Sendable (WorkProgress) -> Void)?
    ) async throws -> [WorkItem] {
        var last: WorkProgress?
        do {
            while true {
                let items = try await store.work(batch: batch)
                if let bad = items.first(where: { $0.state == .failed || $0.state == .cancelled }) {
                    try? await store.cancelWork(batch: batch)
                    throw bad.state == .failed
                        ? WorkError.failed(item: bad.id, bad.error ?? "no reason given")
                        : WorkError.cancelled(item: bad.id)
                }
                let now = WorkProgress(
                    batch: batch, total: items.count, done: items.count { $0.state == .done },
                    running: items.count { $0.state == .running })
                if now != last { progress?(now) }
                last = now
                if now.done == now.total { return items }
                try await _Concurrency.Task.sleep(for: poll)
            }
        } catch is CancellationError {
            try? await store.cancelWork(batch: batch)
            throw CancellationError()
        }
    }
}

/// A process that does the store's queued work (`mlcycle worker`): tuning trials and retrainings. It claims an item
/// under a lease, renews the lease while it works (a third of the lease apart), and records the result. Killed, it
/// stops renewing, and once the lease runs out another worker claims the item again.
public struct Worker: Sendable {
    public let store: any Store
    /// How this worker is named in the queue: host and process id unless given.
    public let name: String
    /// Seconds a claim holds without renewal.
    public let lease: Double
    /// What the worker does, told as it goes (one line per item).
    public let log: @Sendable (String) -> Void

    public static let kinds = [TuningTrialWork.kind, RetrainingWork.kind]

    public init(
        store: any Store, name: String? = nil, lease: Double = 30, log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.store = store
        self.name = name ?? "\(ProcessInfo.processInfo.hostName):\(getpid())"
        self.lease = lease
        self.log = log
    }

    /// Claims and does items until `idleExit` seconds pass with none to claim (nil: until cancelled); returns how many
    /// items it finished.
    public func run(idleExit: Double? = nil, poll: Duration = .milliseconds(500)) async throws -> Int {
        var finished = 0
        var idleSince = Date()
        var cache = TrialDataCache()
        while !_Concurrency.Task.isCancelled {
            guard let item = try await store.claimWork(kinds: Self.kinds, worker: name, lease: lease) else {
                if let idleExit, Date().timeIntervalSince(idleSince) >= idleExit { break }
                try await _Concurrency.Task.sleep(for: poll)
                continue
            }
            let started = Date()
            log("item \(item.id) (\(item.kind), batch \(item.batch), attempt \(item.attempts)): started")
            let outcome: Result<String, any Error>
            do { outcome = .success(try await holdingLease(item) { try await perform(item, cache: &cache) }) } catch {
                outcome = .failure(error)
            }
            let result = try? outcome.get()
            let message: String? =
                if case .failure(let error) = outcome {
                    (error as? LocalizedError)?.errorDescription ?? String(describing: error)
                } else { nil }
            let recorded = try await store.finishWork(item.id, worker: name, result: result, error: message)
            let seconds = String(format: "%.2f s", Date().timeIntervalSince(started))
            if !recorded {
                log("item \(item.id): lease lost (claimed by another worker, or cancelled); result dropped")
            } else if let message {
                log("item \(item.id): failed after \(seconds): \(message)")
            } else {
                finished += 1
                log("item \(item.id): done in \(seconds)")
            }
            idleSince = Date()
        }
        return finished
    }

    /// Runs `body` while a task renews the item's lease.
    func holdingLease<T: Sendable>(_ item: WorkItem, _ body: () async throws -> T) async throws -> T {
        let store = store
        let (name, lease) = (name, lease)
        let renewing = _Concurrency.Task {
            while !_Concurrency.Task.isCancelled {
                try? await _Concurrency.Task.sleep(for: .seconds(lease / 3))
                if _Concurrency.Task.isCancelled { break }
                guard (try? await store.renewWorkLease(item.id, worker: name, lease: lease)) != false else { break }
            }
        }
        defer { renewing.cancel() }
        return try await body()
    }

    /// Does one item; its result as JSON.
    func perform(_ item: WorkItem, cache: inout TrialDataCache) async throws -> String {
        switch item.kind {
        case TuningTrialWork.kind:
            let work = try SortedJSON.decode(TuningTrialWork.self, item.payload)
            let (table, plan) = try await cache.tableAndPlan(work, store: store)
            guard work.candidate < plan.candidates.count, plan.candidates[work.candidate] == work.parameters else {
                throw WorkError.unknown(
                    "candidate \(work.candidate) of this search is planned differently here (another mlcycle version?)")
            }
            let options = work.options
            // On a thread of its own: Swift's cooperative threads stay free for the lease's renewal.
            let entry = try await onThreadOfItsOwn(named: "mlcycle-trial") {
                try Tuning.trial(table, options: options, plan: plan, candidate: work.candidate)
            }
            return try SortedJSON.encode(entry)
        case RetrainingWork.kind:
            let work = try SortedJSON.decode(RetrainingWork.self, item.payload)
            let spec = try ProjectFile.load(path: (work.directory as NSString).appendingPathComponent("mlcycle.yaml"))
            guard spec.hash == work.specHash else {
                throw WorkError.unknown(
                    "\(work.directory)/mlcycle.yaml on this worker is not the one the watcher read (SHA-256 \(spec.hash.prefix(12))… here, \(work.specHash.prefix(12))… there): give the workers the project's current files"
                )
            }
            let retrainer = Retrainer(
                spec: spec, directory: work.directory, store: store, actor: "mlcycle worker \(name)")
            let outcome = try await retrainer.retrain(trigger: work.trigger, reason: work.reason, at: work.at)
            return try Retrainer.outputs(outcome)["outcome"] ?? ""
        default:
            throw WorkError.unknown("no worker handles work of kind '\(item.kind)'")
        }
    }
}

/// The data and plan of the last search a worker scored for: its next candidate of the same search reads neither again.
struct TrialDataCache {
    private var key: TuningTrialWork?
    private var value: (Table, TuningPlan)?

    mutating func tableAndPlan(_ work: TuningTrialWork, store: any Store) async throws -> (Table, TuningPlan) {
        var search = work
        search.candidate = 0
        search.parameters = [:]
        if let value, key == search { return value }
        let bytes = try await store.artifact(work.data)
        var reading = CSVOptions()
        reading.columnTypes = work.columnTypes
        let table = try CSVReader.read(
            bytes: [UInt8](bytes), name: "artefact \(work.data.prefix(12))", options: reading)
        let plan = try Tuning.plan(table, options: work.options)
        key = search
        value = (table, plan)
        return (table, plan)
    }
}
