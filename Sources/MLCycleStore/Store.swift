import Foundation
import MLCycleData

/// Where served predictions are written: a store, or anything else that takes them in batches.
public protocol PredictionWriter: Sendable {
    /// Appends served predictions (one transaction per batch); a prediction whose id is stored already is skipped.
    /// Returns how many were new.
    @discardableResult
    func logPredictions(_ batch: [PredictionRecord]) async throws -> Int
}

/// Tracking: projects, dataset snapshots and runs with their parameters, metrics and logs (MLflow's tracking store).
public protocol TrackingStore: Sendable {
    /// Creates the project if needed.
    func ensureProject(_ name: String) async throws

    /// Records a dataset snapshot (once per fingerprint) and returns it.
    @discardableResult
    func recordDataset(_ snapshot: DatasetSnapshot) async throws -> DatasetSnapshot
    func dataset(fingerprint: String) async throws -> DatasetSnapshot?
    /// Links a stored profile (an artefact) to a dataset snapshot.
    func attachProfile(fingerprint: String, artifact: String) async throws

    /// Starts a run (status `running`) and returns it with its id.
    func startRun(_ run: NewRun) async throws -> RunRecord
    func logMetric(run: Int64, name: String, value: Double, step: Int) async throws
    func appendLog(run: Int64, _ line: String) async throws
    func finishRun(_ id: Int64, status: RunStatus, outputs: [String: String]) async throws
    func run(_ id: Int64) async throws -> RunRecord?
    /// Every project's name, in order.
    func projects() async throws -> [String]
    /// The runs `filter` picks, in its order, one page of them (filtered, ordered and paged by the database).
    func runs(_ filter: RunFilter) async throws -> [RunRecord]
    /// How many runs `filter` picks (its page aside).
    func countRuns(_ filter: RunFilter) async throws -> Int
    func metrics(run: Int64) async throws -> [MetricPoint]
    func logs(run: Int64) async throws -> [String]
    /// The newest finished run of `stage` in `project` whose inputs hashed to `inputHash` (for caching), or nil.
    func cachedRun(project: String, stage: String, inputHash: String) async throws -> RunRecord?
    /// Marks runs left `running` by a process of this host that no longer exists as `failed` (returns their ids), and
    /// removes what such processes left half-written.
    func recoverAbandonedRuns() async throws -> [Int64]
}

/// Artefacts: bytes content-addressed by SHA-256, stored once and verified on every read.
public protocol ArtifactStore: Sendable {
    /// Stores bytes under their SHA-256 (written atomically; the same content is stored once) and returns the hash.
    @discardableResult
    func putArtifact(_ data: Data) async throws -> String
    /// The bytes stored under `sha256`, verified against it.
    func artifact(_ sha256: String) async throws -> Data
}

/// The model registry's records: versions, aliases, progressive releases and the append-only audit log. People and
/// policies move aliases through `ModelRegistry`, which checks approvers and gates first.
public protocol RegistryStore: Sendable {
    /// Registers the next version of model `name`.
    func registerModel(_ version: NewModelVersion, actor: String) async throws -> ModelVersion
    func modelNames() async throws -> [String]
    func modelVersions(_ name: String) async throws -> [ModelVersion]
    /// The versions of `name`, newest first, one page of them (read by the database on its (name, version) key).
    func newestModelVersions(_ name: String, offset: Int, limit: Int) async throws -> [ModelVersion]
    /// How many versions `name` has.
    func modelVersionCount(_ name: String) async throws -> Int
    func modelVersion(_ name: String, version: Int) async throws -> ModelVersion?
    /// Points `alias` of model `name` at `version` (nil removes it), recording who, why and what it pointed at before.
    func setAlias(_ name: String, alias: String, version: Int?, actor: String, action: String, reason: String)
        async throws
    func aliases(_ name: String) async throws -> [String: Int]
    /// The alias history is in the audit log; this is the version an alias pointed at before its latest move.
    func previousVersion(_ name: String, alias: String) async throws -> Int?
    func audit(model: String?) async throws -> [AuditEntry]
    /// The newest entries `filter` picks, newest first.
    func audit(_ filter: AuditFilter) async throws -> [AuditEntry]

    /// Where a progressive release of `name` stands (nil: none under way).
    func release(_ name: String) async throws -> ReleaseState?
    /// Sets (nil: ends) the release of `name` and records the step in the audit log, in one transaction.
    func setRelease(_ name: String, _ state: ReleaseState?, actor: String, action: String, reason: String)
        async throws
}

/// The serving record: the prediction log, the feedback on it and the alerts monitoring fired.
public protocol ServingRecordStore: PredictionWriter {
    /// Records actuals and overrides for earlier predictions, in one transaction; an earlier record of the same kind
    /// for the same prediction stays as history (the latest wins). Returns how many replaced an earlier one.
    @discardableResult
    func recordFeedback(_ batch: [FeedbackRecord]) async throws -> Int
    /// The logged predictions `filter` picks (filtered, ordered and limited by the database).
    func predictions(_ filter: PredictionFilter) async throws -> [PredictionRecord]
    /// The logged predictions `filter` picks, each with the latest actual and override of the request it answered,
    /// joined by the database.
    func answers(_ filter: PredictionFilter) async throws -> [AnsweredPrediction]
    /// How many logged predictions `filter` picks (its limit aside).
    func countPredictions(_ filter: PredictionFilter) async throws -> Int
    /// One version's log in consecutive windows, each summed up by the database (no row is loaded here).
    func predictionWindows(_ query: PredictionWindows) async throws -> [PredictionWindowAggregate]
    /// The model that answered each of `ids` found in the prediction log (id → model name).
    func predictionModels(_ ids: [String]) async throws -> [String: String]
    /// Every feedback record of the predictions `predictionIDs`, oldest first.
    func feedback(predictionIDs: [String]) async throws -> [FeedbackRecord]

    /// Keeps a fired alert (with the numbers that fired it); returns its id.
    func recordAlert(_ alert: AlertRecord) async throws -> Int
    /// Records how the alert's webhook delivery went ("sent", "failed after 4 attempts: …", "no webhook").
    func setAlertDelivery(_ id: Int, _ delivery: String) async throws
    /// Fired alerts, newest first (all models when nil).
    func alerts(model: String?, limit: Int) async throws -> [AlertRecord]
}

/// Work that any process on the store may do (`mlcycle worker`): a queue of items, each claimed by one worker at a
/// time under a lease the worker renews while it works. A worker that dies stops renewing; when its lease runs out the
/// item is claimed again by another (up to `WorkItem.maximumAttempts` claims), so no item is lost or done twice at once.
public protocol WorkQueue: Sendable {
    /// Adds items to the queue; returns their ids, in order.
    func enqueueWork(_ items: [NewWorkItem]) async throws -> [Int64]
    /// Claims the oldest item of one of `kinds` that is queued, or whose lease ran out, for `lease` seconds; nil when
    /// there is none. Two workers claiming at once never get the same item.
    func claimWork(kinds: [String], worker: String, lease: Double) async throws -> WorkItem?
    /// Extends the lease of an item `worker` holds; false when it no longer holds it (the lease ran out and another
    /// worker claimed the item, or the item was cancelled).
    func renewWorkLease(_ id: Int64, worker: String, lease: Double) async throws -> Bool
    /// Records the result (`error` nil: done) or the error (failed) of an item `worker` holds; false when it no longer
    /// holds it, and then nothing is recorded.
    func finishWork(_ id: Int64, worker: String, result: String?, error: String?) async throws -> Bool
    /// A batch's items, in id order.
    func work(batch: String) async throws -> [WorkItem]
    /// Cancels a batch's items that are not done or failed (their workers' next renewal answers false).
    func cancelWork(batch: String) async throws
}

/// An item to add to the work queue: what kind of work (the worker's handler), the batch it belongs to (its
/// requester waits for the batch) and the work itself as JSON.
public struct NewWorkItem: Sendable, Equatable {
    public var batch: String
    public var kind: String
    public var payload: String

    public init(batch: String, kind: String, payload: String) {
        self.batch = batch
        self.kind = kind
        self.payload = payload
    }
}

/// An item of the work queue and where it stands.
public struct WorkItem: Codable, Sendable, Equatable {
    /// How many times an item is claimed before a lost lease fails it (a worker killed twice by the same item).
    public static let maximumAttempts = 3

    public enum State: String, Codable, Sendable { case queued, running, done, failed, cancelled }

    public var id: Int64
    public var batch: String
    public var kind: String
    public var payload: String
    public var state: State
    /// How many times it was claimed.
    public var attempts: Int
    /// The worker that holds (or last held) it.
    public var worker: String?
    public var leaseUntil: Date?
    public var result: String?
    public var error: String?
    public var created: Date
    public var finished: Date?
}

/// Where the lifecycle's records live, in five roles: tracking, the registry, artefacts, the serving record and the
/// work queue.
///
/// The contract is in Swift types, not SQL: `SQLiteStore` is the embedded default. Every call is `async`: a store
/// may be a server across the network, and no thread waits on it.
public protocol Store: TrackingStore, ArtifactStore, RegistryStore, ServingRecordStore, WorkQueue {}

/// A store that tells its readers when the registry moves in any process: an alias pointed elsewhere, a release
/// step taken (PostgreSQL's LISTEN/NOTIFY). Servers use it to follow a promotion at once instead of at their next look.
public protocol RegistryChangeFeed: Sendable {
    /// Listens until cancelled (or until the connection is lost, which throws): calls `listening` once the
    /// subscription stands (a change made before that was missed: look everything up again), then `changed` with the
    /// model's name on every alias or release move.
    func followRegistryChanges(listening: @Sendable () -> Void, changed: @Sendable (String) -> Void) async throws
}

/// Where a progressive release stands: the version on its way up, its step of the plan and share of requests, when
/// the release started and when the current step did (the moments of the watcher, replayed time in a replay).
public struct ReleaseState: Codable, Sendable, Equatable {
    public var version: Int
    public var step: Int
    public var share: Double
    public var started: Date
    public var since: Date
    /// Checks of the promotion condition that failed in a row (reset when the share moves up).
    public var failedChecks: Int

    public init(version: Int, step: Int, share: Double, started: Date, since: Date, failedChecks: Int = 0) {
        self.version = version
        self.step = step
        self.share = share
        self.started = started
        self.since = since
        self.failedChecks = failedChecks
    }
}

/// A fired alert as stored.
public struct AlertRecord: Codable, Sendable, Equatable {
    public var id: Int
    public var model: String
    public var name: String
    public var severity: String
    public var rule: String
    public var value: Double?
    public var threshold: Double
    public var windowStart: Date
    public var windowEnd: Date
    public var reason: String
    public var at: Date
    public var delivery: String

    public init(
        id: Int = 0, model: String, name: String, severity: String, rule: String, value: Double?, threshold: Double,
        windowStart: Date, windowEnd: Date, reason: String, at: Date, delivery: String
    ) {
        self.id = id
        self.model = model
        self.name = name
        self.severity = severity
        self.rule = rule
        self.value = value
        self.threshold = threshold
        self.windowStart = windowStart
        self.windowEnd = windowEnd
        self.reason = reason
        self.at = at
        self.delivery = delivery
    }
}

extension ServingRecordStore {
    /// The logged predictions of `model` (of `version` only, e.g. "v3", when given) from `since` on, oldest first.
    public func predictions(model: String, version: String? = nil, since: Date?, limit: Int) async throws
        -> [PredictionRecord]
    {
        try await predictions(PredictionFilter(model: model, version: version, since: since, limit: limit))
    }

    /// The latest logged predictions of `model` with `status` (e.g. `review`), newest first.
    public func latestPredictions(model: String, status: String, limit: Int) async throws -> [PredictionRecord] {
        try await predictions(PredictionFilter(model: model, statuses: [status], newestFirst: true, limit: limit))
    }

    /// The latest feedback value of `kinds` for each of `predictionIDs` that has one, by prediction id (a repeated
    /// actual replaces the earlier one; with both kinds, the later record wins).
    public func latestFeedback(for predictionIDs: [String], kinds: Set<FeedbackKind> = [.actual]) async throws
        -> [String: String]
    {
        var latest = [String: String]()
        // Feedback comes ordered by time: the latest wins.
        for f in try await feedback(predictionIDs: predictionIDs) where kinds.contains(f.kind) {
            latest[f.predictionID] = f.value
        }
        return latest
    }

    /// The eventual truth fed back for each of `records` that has one, by prediction id (overrides left out).
    public func latestActuals(for records: [PredictionRecord]) async throws -> [String: String] {
        try await latestFeedback(for: records.map(\.id))
    }
}

extension TrackingStore {
    /// The newest runs first (of `project` only, when given).
    public func runs(project: String?, limit: Int) async throws -> [RunRecord] {
        try await runs(RunFilter(project: project, limit: limit))
    }
}

/// One served prediction, as logged.
public struct PredictionRecord: Codable, Sendable, Equatable {
    /// A time-ordered UUID (version 7, RFC 9562: the first 48 bits are the Unix time in milliseconds), as the server
    /// gives each answered row.
    public var id: String
    public var model: String
    public var version: String
    public var at: Date
    public var latencySeconds: Double
    /// The row's inputs, as JSON.
    public var inputs: String
    /// The prediction (value or label) as text, nil when unavailable.
    public var prediction: String?
    public var status: String
    /// Classifiers: the probability of the predicted class.
    public var confidence: Double?
    /// The inputs were unlike the training data (a number outside its range, an unseen category): answered with low
    /// confidence.
    public var lowConfidence: Bool
    /// Why the row was answered for review or not answered (`outside scope: …`), or which inputs were imputed.
    public var reasons: [String]? = nil

    public init(
        id: String, model: String, version: String, at: Date, latencySeconds: Double, inputs: String,
        prediction: String?, status: String,
        confidence: Double? = nil, lowConfidence: Bool = false, reasons: [String]? = nil
    ) {
        self.reasons = reasons
        self.confidence = confidence
        self.lowConfidence = lowConfidence
        self.id = id
        self.model = model
        self.version = version
        self.at = at
        self.latencySeconds = latencySeconds
        self.inputs = inputs
        self.prediction = prediction
        self.status = status
    }

    /// A new id: a version 7 UUID in lowercase, `0190f3a2-5c1e-7b3d-9a4f-…`. Ids made later sort later (to the
    /// millisecond), so the store's primary-key index grows at its end rather than at random pages: on a log of
    /// 800,000 rows, random version 4 ids made its writes fall behind under load.
    public static func newID(at date: Date = Date()) -> String {
        var random = SystemRandomNumberGenerator()
        return newID(at: date, using: &random)
    }

    /// `count` new ids for the rows of one request: the system's generator seeds a SplitMix64 sequence for their 74
    /// random bits each (two system calls per id had been 2.7 % of the server's time under 1000-row requests).
    public static func newIDs(_ count: Int, at date: Date = Date()) -> [String] {
        var system = SystemRandomNumberGenerator()
        var random = SplitMix64(seed: system.next())
        return (0..<count).map { _ in newID(at: date, using: &random) }
    }

    static func newID<R: RandomNumberGenerator>(at date: Date, using rng: inout R) -> String {
        let random = (rng.next(), rng.next())
        let millis = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        let high = (millis << 16) | 0x7000 | (random.0 & 0x0FFF)  // 48-bit time, version 7, 12 random bits
        let low = (random.1 & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000  // variant 10, 62 random bits
        return String(unsafeUninitializedCapacity: 36) { out in
            var i = 0
            func put(_ value: UInt64, nibbles: Int) {
                for k in stride(from: nibbles - 1, through: 0, by: -1) {
                    let nibble = UInt8((value >> (4 * UInt64(k))) & 0xF)
                    out[i] = nibble < 10 ? 48 + nibble : 87 + nibble  // 0-9, a-f
                    i += 1
                }
            }
            put(high >> 32, nibbles: 8)
            out[i] = UInt8(ascii: "-")
            i += 1
            put((high >> 16) & 0xFFFF, nibbles: 4)
            out[i] = UInt8(ascii: "-")
            i += 1
            put(high & 0xFFFF, nibbles: 4)
            out[i] = UInt8(ascii: "-")
            i += 1
            put(low >> 48, nibbles: 4)
            out[i] = UInt8(ascii: "-")
            i += 1
            put(low & 0xFFFF_FFFF_FFFF, nibbles: 12)
            return i
        }
    }
}

/// Steele, Lea and Flood's SplitMix64: a fast sequence of well-mixed 64-bit values from one seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// What a feedback record says about a prediction.
public enum FeedbackKind: String, Codable, Sendable, CaseIterable {
    /// The eventual truth (the sale price): monitoring and retraining learn from it.
    case actual
    /// A person replaced the estimate (the agent's listing price): a record and metrics of its own, a label only
    /// where the spec says so (`retraining.overrides_as_labels`).
    case override
}

/// The true outcome of a prediction (`kind: actual`), or a person's replacement of it (`kind: override`).
public struct FeedbackRecord: Codable, Sendable, Equatable {
    public var predictionID: String
    /// The value (a number, a class label, true/false) as text.
    public var value: String
    public var kind: FeedbackKind
    public var at: Date

    public init(predictionID: String, value: String, kind: FeedbackKind = .actual, at: Date = Date()) {
        self.predictionID = predictionID
        self.value = value
        self.kind = kind
        self.at = at
    }
}

public enum RunStatus: String, Codable, Sendable, CaseIterable {
    case running, finished, failed, skipped
}

public struct DatasetSnapshot: Codable, Sendable, Equatable {
    public var fingerprint: String
    public var rows: Int
    /// Column names and types, as `name:type`.
    public var schema: [String]
    /// Where the rows came from (files, queries, the pipeline that merged them).
    public var sources: [String]
    /// The artefact holding the profile (JSON), if one was made.
    public var profileArtifact: String?
    public var created: Date

    public init(
        fingerprint: String, rows: Int, schema: [String], sources: [String], profileArtifact: String? = nil,
        created: Date = Date()
    ) {
        self.fingerprint = fingerprint
        self.rows = rows
        self.schema = schema
        self.sources = sources
        self.profileArtifact = profileArtifact
        self.created = created
    }
}

/// What a run is started with.
public struct NewRun: Sendable {
    public var project: String
    public var stage: String
    public var inputHash: String
    public var params: [String: String]
    public var tags: [String: String]
    public var specHash: String?
    public var gitCommit: String?
    public var mlcycleVersion: String
    public var host: String
    public var pid: Int32

    public init(
        project: String, stage: String, inputHash: String, params: [String: String] = [:], tags: [String: String] = [:],
        specHash: String? = nil, gitCommit: String? = nil, mlcycleVersion: String = MLCycleVersion.current,
        host: String = ProcessInfo.processInfo.hostName, pid: Int32 = ProcessInfo.processInfo.processIdentifier
    ) {
        self.project = project
        self.stage = stage
        self.inputHash = inputHash
        self.params = params
        self.tags = tags
        self.specHash = specHash
        self.gitCommit = gitCommit
        self.mlcycleVersion = mlcycleVersion
        self.host = host
        self.pid = pid
    }
}

public struct RunRecord: Codable, Sendable, Equatable {
    public var id: Int64
    public var project: String
    public var stage: String
    public var status: RunStatus
    public var started: Date
    public var ended: Date?
    public var inputHash: String
    public var params: [String: String]
    public var tags: [String: String]
    /// What the stage produced (artefact hashes, model versions, …), by name.
    public var outputs: [String: String]
    public var specHash: String?
    public var gitCommit: String?
    public var mlcycleVersion: String
    public var host: String
    public var pid: Int32
}

extension RunRecord {
    /// The stage of the run that stands for a whole `mlcycle run` (MLflow's parent run): its stage runs carry its id
    /// as the tag `pipeline`.
    public static let pipelineStage = "pipeline"
}

public struct MetricPoint: Codable, Sendable, Equatable {
    public var name: String
    public var value: Double
    public var step: Int
    public var at: Date
}

public struct NewModelVersion: Sendable {
    public var name: String
    /// The artefact holding the model bundle.
    public var bundle: String
    public var metrics: [String: Double]
    public var gatesPassed: Bool
    /// Gate verdicts as `rule → reason`, passed ones prefixed with "passed: ".
    public var gates: [String]
    public var run: Int64?
    public var datasets: [String]
    public var specHash: String?

    public init(
        name: String, bundle: String, metrics: [String: Double], gatesPassed: Bool, gates: [String], run: Int64?,
        datasets: [String], specHash: String?
    ) {
        self.name = name
        self.bundle = bundle
        self.metrics = metrics
        self.gatesPassed = gatesPassed
        self.gates = gates
        self.run = run
        self.datasets = datasets
        self.specHash = specHash
    }
}

public struct ModelVersion: Codable, Sendable, Equatable {
    public var name: String
    public var version: Int
    public var bundle: String
    public var metrics: [String: Double]
    public var gatesPassed: Bool
    public var gates: [String]
    public var run: Int64?
    public var datasets: [String]
    public var specHash: String?
    public var created: Date
}

public struct AuditEntry: Codable, Sendable, Equatable {
    public var id: Int64
    public var at: Date
    public var actor: String
    /// register, promote, rollback, approve, alias, delete, …
    public var action: String
    public var model: String?
    public var version: Int?
    public var alias: String?
    public var previousVersion: Int?
    public var reason: String
}

/// A list or dictionary as a JSON column holds it (keys sorted, so equal values are equal text in both databases).
func storedJSON<T: Encodable>(_ value: T) -> String {
    let e = JSONEncoder()
    e.outputFormatting = .sortedKeys
    return String(decoding: (try? e.encode(value)) ?? Data("null".utf8), as: UTF8.self)
}

/// Why a store call failed. Database errors keep their kind, so a caller can tell a conflict it may ignore, a busy or
/// unreachable database it may retry, and damaged records it must repair.
public enum StoreError: LocalizedError, Equatable, Sendable {
    case notFound(String)
    case corruptArtifact(sha256: String, path: String)
    case invalid(String)
    /// A write broke a uniqueness rule: the record is stored already.
    case conflict(String)
    /// The database stayed locked or busy longer than the store waits: try again later.
    case busy(String)
    /// The database could not be reached, or the connection was lost: the call did not take effect; try again.
    case unavailable(String)
    /// A stored record cannot be read back (a damaged JSON column, an unknown status): the store was changed by hand
    /// or damaged.
    case damaged(String)
    /// A file beside the store (the prediction spool, an artefact file) could not be read or written.
    case io(String)
    /// Any other database error, with the database's own code (SQLite's extended result code, PostgreSQL's SQLSTATE).
    case database(code: String, message: String)

    /// `error` met while opening the store at `path`, naming the file (a message of the store's own kinds keeps its
    /// kind).
    static func opening(_ path: String, _ error: any Error) -> any Error {
        guard let e = error as? StoreError else { return error }
        switch e {
        case .busy(let m): return StoreError.busy("\(path): \(m)")
        case .unavailable(let m): return StoreError.unavailable("\(path): \(m)")
        case .damaged(let m): return StoreError.damaged("\(path): \(m)")
        case .database(let code, let m): return StoreError.database(code: code, message: "\(path): \(m)")
        case .invalid(let m): return StoreError.invalid("\(path): \(m)")
        default: return e
        }
    }

    public var errorDescription: String? {
        switch self {
        case .notFound(let what): return "not found: \(what)"
        case .corruptArtifact(let sha, let path):
            return
                "the artefact \(sha.prefix(12))… at \(path) does not match its SHA-256: it was changed or damaged; restore it or re-run the stage that made it"
        case .invalid(let message): return message
        case .conflict(let message): return "store: already stored: \(message)"
        case .busy(let message): return "store: the database is busy (\(message)); try again"
        case .unavailable(let message): return "store: the database cannot be reached (\(message)); try again"
        case .damaged(let message): return "store: a stored record is damaged: \(message)"
        case .io(let message): return message
        case .database(let code, let message): return "store: \(message) (\(code))"
        }
    }
}
