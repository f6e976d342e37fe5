import DequeModule
import Foundation
import MLCycleData
import MLCycleStore
import Prometheus

/// Between serving and the store: the request path only appends to a queue (under a lock, never waiting for the
/// database). Two threads of the log's own take it from there (`start()`): every cycle (50 ms) the spool thread
/// takes what is queued and hands it to the store thread when that one is idle — one batch, one transaction — and
/// otherwise appends it to the spool file with one `fsync`; the store thread writes what it is handed and drains the
/// spool into the store, oldest first.
///
/// With a spool (`mlcycle serve` keeps one in the store folder), nothing answered is lost: a batch the store refuses
/// (busy, unreachable) goes to the spool, so does everything while the store is behind (the spool holds rows, or
/// more than `directLimit` were queued in one cycle), and a batch the store thread has been writing for longer than
/// a cycle is appended to the spool too — no answered row older than two cycles is only in memory, and after
/// `kill -9` only those are lost. A row is written by id, so one that reaches the store twice (spooled while its
/// write was slow, or drained again after a crash between the store's commit and the spool's trim) is stored once.
/// `stop()` writes and drains everything. Without a spool (tests), rows past `capacity` are dropped and counted.
public final class PredictionLog: @unchecked Sendable {
    /// The store feedback goes to.
    public let store: any Store
    /// Where predictions are written: the store, unless told otherwise.
    public let writer: any PredictionWriter
    public let spool: PredictionSpool?
    /// Most rows held in memory; past it new rows are dropped (and counted).
    public let capacity: Int
    /// Most rows a cycle writes straight to the store; more than this are spooled first (the store fell behind).
    public let directLimit: Int
    private let lock = NSLock()
    /// Where the store's async writes run while a log thread waits for them.
    private let storeExecutor = DedicatedThreadExecutor(name: "mlcycle-prediction-writes")
    private var queue = Deque<PredictionRecord>()
    private var droppedCount = 0
    private var writtenCount = 0
    private var spooledCount = 0
    private var drainedCount = 0
    private var alreadyStoredCount = 0
    private var failedWrites = 0
    private var spoolPending = 0
    /// The rows not in the store yet (queued or spooled), id → model, so feedback for a row just answered is
    /// accepted (and checked against the model that answered it).
    private var unstored = [String: String]()
    /// A batch the spool thread handed to the store thread, not taken yet.
    private var handed: (batch: [PredictionRecord], at: Date)?
    /// The batch the store thread is writing: since when, and whether a cycle spooled it meanwhile (it was slow).
    private var writing: (batch: [PredictionRecord], since: Date, spooled: Bool)?
    /// Wakes the store thread when a batch is handed to it.
    private let work = DispatchSemaphore(value: 0)

    public init(
        store: any Store, writer: (any PredictionWriter)? = nil, spool: PredictionSpool? = nil, capacity: Int? = nil,
        directLimit: Int = 20_000
    ) {
        self.store = store
        self.writer = writer ?? store
        self.spool = spool
        // With a spool the queue only has to hold one cycle's rows; without one it is all there is.
        self.capacity = capacity ?? (spool == nil ? 50_000 : 2_000_000)
        self.directLimit = directLimit
        spoolPending = spool?.pending ?? 0
        if let spool, spool.pending > 0, let left = try? spool.peek(spool.pending) {
            unstored = Dictionary(left.map { ($0.id, $0.model) }) { a, _ in a }
        }
    }

    /// Which of `ids` are answered rows still on their way to the store (in memory or in the spool), with the model
    /// that answered each.
    public func pending(_ ids: [String]) -> [String: String] {
        lock.lock()
        defer { lock.unlock() }
        var found = [String: String]()
        for id in ids { if let model = unstored[id] { found[id] = model } }
        return found
    }

    /// The model that answered each of `ids`, whether its row is stored or still on its way (unknown ids absent).
    public func answeredBy(_ ids: [String]) async throws -> [String: String] {
        pending(ids).merging(try await store.predictionModels(ids)) { a, _ in a }
    }

    /// Opens a spool in `directory` (the store folder): `prediction-spool.bin`, or, while another server holds that
    /// one, `prediction-spool-2.bin`, `-3`, …; what a stopped server left in the one it gets is drained first. The
    /// folder is created when missing (a server on a PostgreSQL store may run where no project was ever opened).
    public static func spool(in directory: String) throws -> PredictionSpool {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError.io(
                "cannot create the prediction spool's folder \(directory): \(error.localizedDescription)")
        }
        for n in 1...64 {
            let name = n == 1 ? "prediction-spool.bin" : "prediction-spool-\(n).bin"
            do {
                return try PredictionSpool(path: (directory as NSString).appendingPathComponent(name))
            } catch is PredictionSpool.Busy {
                continue
            }
        }
        throw StoreError.busy("64 servers hold the prediction spools of \(directory); stop one first")
    }

    /// Adds records; those that do not fit are dropped (and counted).
    public func append(_ records: [PredictionRecord]) { enqueue(records, atFront: false) }

    /// Queues records (at the head: a batch put back), as many as there is room for; the rest are counted as lost.
    private func enqueue(_ records: [PredictionRecord], atFront: Bool) {
        lock.lock()
        let room = max(0, capacity - queue.count)
        if atFront {
            queue.prepend(contentsOf: records.prefix(room))
        } else {
            queue.append(contentsOf: records.prefix(room))
            for r in records.prefix(room) { unstored[r.id] = r.model }
        }
        droppedCount += max(0, records.count - room)
        for r in records.dropFirst(room) { unstored[r.id] = nil }
        lock.unlock()
    }

    /// What the log has done so far.
    public struct Counts: Sendable, Equatable {
        /// Rows waiting in memory, and in the spool.
        public var queued: Int
        public var spoolPending: Int
        /// Rows written to the store straight from memory, and from the spool.
        public var written: Int
        public var drained: Int
        /// Rows put in the spool, batch writes the store refused, rows lost (the queue was full and nothing could
        /// take them).
        public var spooled: Int
        public var failedWrites: Int
        public var dropped: Int
        /// Rows the store had already (a spool drained again after a crash): skipped, not stored twice.
        public var alreadyStored: Int
        /// Rows in the store: written + drained.
        public var stored: Int { written + drained }
    }

    public var counts: Counts {
        lock.lock()
        defer { lock.unlock() }
        return Counts(
            queued: queue.count, spoolPending: spoolPending, written: writtenCount, drained: drainedCount,
            spooled: spooledCount, failedWrites: failedWrites, dropped: droppedCount, alreadyStored: alreadyStoredCount)
    }

    /// Sets the log's metrics in `registry` to their values now (at each scrape of /metrics).
    func publish(to registry: PrometheusCollectorRegistry) {
        // The counts and what was published before are read and moved on together, under the lock: two scrapes at
        // once each add their own part, never a negative one (a counter traps on that).
        lock.lock()
        defer { lock.unlock() }
        func gauge(_ name: String, _ help: String, _ value: Int) {
            registry.makeGauge(descriptor: ServerMetrics.name(name, unit: "", help)).set(Double(value))
        }
        gauge("prediction_log_queue_depth", "Predictions waiting in memory to be written to the store.", queue.count)
        gauge("prediction_log_spool_pending", "Predictions in the spool file, waiting for the store.", spoolPending)
        // Counters only rise: each is brought up to the log's own count.
        func counter(_ name: String, _ help: String, _ value: Int, _ published: inout Int) {
            registry.makeCounter(descriptor: ServerMetrics.name(name, unit: "total", help))
                .increment(by: Int64(max(0, value - published)))
            published = max(published, value)
        }
        counter(
            "prediction_log_dropped", "Predictions lost: the queue was full and the spool could not take them.",
            droppedCount, &published.dropped)
        counter(
            "prediction_log_written", "Predictions written to the store straight from memory.", writtenCount,
            &published.written)
        counter(
            "prediction_log_spooled", "Predictions put in the spool file (the store refused or fell behind).",
            spooledCount, &published.spooled)
        counter(
            "prediction_log_drained", "Predictions written to the store from the spool file.", drainedCount,
            &published.drained)
        counter(
            "prediction_log_already_stored", "Predictions the store had already (a spool drained again): skipped.",
            alreadyStoredCount, &published.alreadyStored)
        counter(
            "prediction_log_failed_writes", "Batch writes the store refused (their rows are spooled, or queued again).",
            failedWrites, &published.failed)
    }

    /// What `publish` last brought the registry's counters to.
    private var published = (dropped: 0, written: 0, spooled: 0, drained: 0, failed: 0, alreadyStored: 0)

    /// Writes on the caller's thread: what is queued now goes to the store (or the spool), then the spool drains for
    /// up to `drainBudget` seconds (nil: until it is empty or the store refuses). For a log whose threads are not
    /// running (tests), and for `stop()` once they have finished.
    public func flush(drainBudget: Double? = 0.05) {
        // Only the queue's storage changes hands under the lock; the copy into an array happens outside it.
        var taken = Deque<PredictionRecord>()
        lock.lock()
        swap(&taken, &queue)
        lock.unlock()
        if !taken.isEmpty {
            let batch = Array(taken)
            // Rows go behind what the spool holds, so the store receives them in the order they were answered.
            if let spool, !spool.isEmpty || batch.count > directLimit {
                toSpool(batch, spool)
            } else {
                if !write(batch) { if let spool { toSpool(batch, spool) } else { requeue(batch) } }
            }
        }
        if let spool { drain(spool, budget: drainBudget) }
    }

    /// Writes a batch to the store and counts it (written, already stored, or a failed write); true when stored.
    private func write(_ batch: [PredictionRecord]) -> Bool {
        do {
            let stored = try logWaiting(batch)
            lock.lock()
            writtenCount += stored
            alreadyStoredCount += batch.count - stored
            for r in batch { unstored[r.id] = nil }
            lock.unlock()
            return true
        } catch {
            lock.lock()
            failedWrites += 1
            lock.unlock()
            return false
        }
    }

    /// The writer's `logPredictions`, waited for on the log's own threads: the call runs on `storeExecutor`, so no
    /// event-loop or cooperative thread is held while the store answers, nor needed for the wait to end.
    private func logWaiting(_ batch: [PredictionRecord]) throws -> Int {
        let writer = self.writer
        return try storeExecutor.wait { try await writer.logPredictions(batch) }
    }

    private func toSpool(_ batch: [PredictionRecord], _ spool: PredictionSpool) {
        // The disk refused too (full): keep the rows in memory for the next cycle while there is room.
        if !spoolAppend(batch, spool) { requeue(batch) }
    }

    /// Appends a batch to the spool and counts it; false when the disk refused it.
    private func spoolAppend(_ batch: [PredictionRecord], _ spool: PredictionSpool) -> Bool {
        guard (try? spool.append(batch)) != nil else { return false }
        let pending = spool.pending  // read outside the log's lock: the spool's own lock is held through an fsync
        lock.lock()
        spooledCount += batch.count
        spoolPending = pending
        lock.unlock()
        return true
    }

    /// Puts a batch back at the head of the queue if there is room, else counts what is lost.
    private func requeue(_ batch: [PredictionRecord]) { enqueue(batch, atFront: true) }

    private func drain(_ spool: PredictionSpool, budget: Double?) {
        let started = Date()
        while !spool.isEmpty {
            if let budget, Date().timeIntervalSince(started) > budget { break }
            // Chunks of 1,000 rows keep a cycle short when the budget runs out (the next take is not held back).
            guard let chunk = try? spool.peek(1_000), !chunk.isEmpty else { break }
            let stored: Int
            do { stored = try logWaiting(chunk) } catch {
                // The store still refuses: the rows stay in the spool for a later cycle.
                lock.lock()
                failedWrites += 1
                lock.unlock()
                break
            }
            lock.lock()
            drainedCount += stored
            alreadyStoredCount += chunk.count - stored
            for r in chunk { unstored[r.id] = nil }
            lock.unlock()
            // Rows the spool could not let go of are drained again later: the store skips them then.
            let trimmed = (try? spool.consume()) != nil
            let pending = spool.pending
            lock.lock()
            spoolPending = pending
            lock.unlock()
            if !trimmed { break }
        }
    }

    /// One cycle of the spool thread: what is queued goes to the store thread when it is idle and the spool is
    /// empty, else to the spool (behind what it holds); a batch the store thread has been writing for `interval` or
    /// longer is appended to the spool as well, so it does not live only in memory.
    func cycle(interval: Double) {
        var taken = Deque<PredictionRecord>()
        lock.lock()
        swap(&taken, &queue)
        var slow: (batch: [PredictionRecord], since: Date)?
        if spool != nil, var w = writing, !w.spooled, Date().timeIntervalSince(w.since) >= interval {
            w.spooled = true
            writing = w
            slow = (w.batch, w.since)
        }
        let idle = handed == nil && writing == nil
        lock.unlock()
        if let (slow, since) = slow, let spool, !spoolAppend(slow, spool) {
            // Not spooled after all: the store thread spools or requeues it if its write fails.
            lock.lock()
            if var w = writing, w.since == since {
                w.spooled = false
                writing = w
            }
            lock.unlock()
        }
        guard !taken.isEmpty else { return }
        let batch = Array(taken)
        if let spool, !idle || !spool.isEmpty || batch.count > directLimit {
            toSpool(batch, spool)
        } else if idle {
            lock.lock()
            handed = (batch, Date())  // a write counts as slow from here: the next cycle spools it if unfinished
            lock.unlock()
            work.signal()
        } else {
            requeue(batch)
        }
    }

    /// The store thread: writes each batch handed to it, and drains the spool between them, until `stop`.
    private func storeLoop(interval: Double) {
        while true {
            _ = work.wait(timeout: .now() + interval)
            lock.lock()
            let batch = handed?.batch
            if let handed { writing = (handed.batch, handed.at, false) }
            handed = nil
            let done = storeStopped
            lock.unlock()
            if let batch {
                let stored = write(batch)
                lock.lock()
                let spooled = writing?.spooled ?? false
                if stored { writing = nil }
                lock.unlock()
                if !stored {
                    if let spool { if !spooled { toSpool(batch, spool) } } else { requeue(batch) }
                    lock.lock()
                    writing = nil  // after the spool has it, so a newer batch is not handed over first
                    lock.unlock()
                }
            }
            // A second at most, so a stop is seen soon; while the spool holds rows nothing is handed over.
            if let spool { drain(spool, budget: 1) }
            if done && batch == nil { return }
        }
    }

    /// Starts the spool thread (a cycle every `interval`) and the store thread, until `stop()`; then everything is
    /// written and drained. The store's writes and the spool's `fsync` block, so they stay off Swift's cooperative
    /// threads, which answer requests (two of them on two cores: one blocked by a write showed as 150 ms tails in
    /// the serving benchmark), and off each other: a slow write no longer holds the next cycle's rows in memory.
    public func start(interval: Duration = .milliseconds(50)) {
        let seconds = max(
            0.001, Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18)
        let storeThread = Thread { [self] in
            storeLoop(interval: seconds)
            storeFinished.signal()
        }
        storeThread.name = "mlcycle-prediction-store"
        storeThread.start()
        let spoolThread = Thread { [self] in
            while !stopping {
                let started = Date()
                cycle(interval: seconds)
                // The next cycle starts `interval` after this one started (a long fsync does not add a full sleep).
                let spent = Date().timeIntervalSince(started)
                if spent < seconds { usleep(UInt32((seconds - spent) * 1e6)) }
            }
            lock.lock()
            storeStopped = true
            lock.unlock()
            work.signal()
            storeFinished.wait()
            flushAll()
            finished.signal()
        }
        spoolThread.name = "mlcycle-prediction-spool"
        spoolThread.start()
    }

    /// Writes what is queued and drains the spool while the store takes rows (shutdown). Rows still only in memory
    /// after three tries (no spool, or a disk that refuses it too) are counted as dropped.
    public func flushAll() {
        var attempts = 0
        repeat {
            flush(drainBudget: nil)
            attempts += 1
        } while (counts.queued > 0 || !(spool?.isEmpty ?? true)) && attempts < 3
        lock.lock()
        droppedCount += queue.count
        for r in queue { unstored[r.id] = nil }
        queue.removeAll()
        lock.unlock()
    }

    /// Stops the threads started by `start()` after a last flush, and waits for them.
    public func stop() {
        lock.lock()
        stopFlag = true
        lock.unlock()
        finished.wait()
    }

    deinit { storeExecutor.shutdown() }

    private var stopFlag = false
    /// Tells the store thread to finish (after the batch it was handed).
    private var storeStopped = false
    /// Signalled by the store thread when it has finished, and by the spool thread after the last flush.
    private let storeFinished = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private var stopping: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopFlag
    }
}
