import DequeModule
import Foundation
import MLCycleStore
import Prometheus

/// A bounded queue between serving and the store: the request path only appends (under a lock, never waiting for
/// the database); a background task writes batches. When the queue is full, new records are dropped and counted —
/// serving stays fast and the loss is visible in /metrics rather than silent.
public final class PredictionLog: @unchecked Sendable {
    public let store: any Store
    public let capacity: Int
    private let lock = NSLock()
    private var queue = Deque<PredictionRecord>()
    private var droppedCount = 0
    private var writtenCount = 0
    private var failedWrites = 0

    public init(store: any Store, capacity: Int = 50_000) {
        self.store = store
        self.capacity = capacity
    }

    /// Adds records; those that do not fit are dropped (and counted).
    public func append(_ records: [PredictionRecord]) {
        lock.lock()
        let room = max(0, capacity - queue.count)
        queue.append(contentsOf: records.prefix(room))
        droppedCount += max(0, records.count - room)
        lock.unlock()
    }

    /// (queued, dropped, written, failed batch writes).
    public var counts: (depth: Int, dropped: Int, written: Int, failed: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (queue.count, droppedCount, writtenCount, failedWrites)
    }

    /// Sets the log's metrics in `registry` to their values now (at each scrape of /metrics).
    func publish(to registry: PrometheusCollectorRegistry) {
        // The counts and what was published before are read and moved on together, under the lock: two scrapes at
        // once each add their own part, never a negative one (a counter traps on that).
        lock.lock()
        defer { lock.unlock() }
        registry.makeGauge(
            descriptor: ServerMetrics.name(
                "prediction_log_queue_depth", unit: "", "Predictions waiting to be written to the store.")
        ).set(Double(queue.count))
        // Counters only rise: each is brought up to the log's own count.
        func counter(_ name: String, _ help: String, _ value: Int, _ published: inout Int) {
            registry.makeCounter(descriptor: ServerMetrics.name(name, unit: "total", help))
                .increment(by: Int64(max(0, value - published)))
            published = max(published, value)
        }
        counter(
            "prediction_log_dropped", "Predictions not logged because the queue was full.", droppedCount,
            &published.dropped)
        counter("prediction_log_written", "Predictions written to the store.", writtenCount, &published.written)
        counter(
            "prediction_log_failed_writes",
            "Batch writes the store refused (their rows are queued again, or dropped when the queue is full).",
            failedWrites, &published.failed)
    }

    /// What `publish` last brought the registry's counters to.
    private var published = (dropped: 0, written: 0, failed: 0)

    /// Writes what is queued now (the background task calls this; tests and shutdown too).
    public func flush() {
        // Only the queue's storage changes hands under the lock; the copy into an array happens outside it.
        var taken = Deque<PredictionRecord>()
        lock.lock()
        swap(&taken, &queue)
        lock.unlock()
        guard !taken.isEmpty else { return }
        let batch = Array(taken)
        do {
            try store.logPredictions(batch)
            lock.lock()
            writtenCount += batch.count
            lock.unlock()
        } catch {
            // The store refused (busy past its timeout, disk full): put the batch back if there is room, else count it.
            lock.lock()
            failedWrites += 1
            let room = max(0, capacity - queue.count)
            queue.prepend(contentsOf: batch.prefix(room))
            droppedCount += max(0, batch.count - room)
            lock.unlock()
        }
    }

    /// Drains the queue every `interval` on a thread of its own until `stop()`, then once more. The store's writes
    /// block, so they stay off Swift's cooperative threads, which answer requests (two of them on two cores: one
    /// blocked by a write showed as 150 ms tails in the serving benchmark).
    public func start(interval: Duration = .milliseconds(100)) {
        let micros = UInt32(
            max(1_000, interval.components.seconds * 1_000_000 + interval.components.attoseconds / 1_000_000_000_000))
        let thread = Thread { [self] in
            while !stopping {
                flush()
                usleep(micros)
            }
            flush()
            finished.signal()
        }
        thread.name = "mlcycle-prediction-log"
        thread.start()
    }

    /// Stops the writer started by `start()` after a last flush, and waits for it.
    public func stop() {
        lock.lock()
        stopFlag = true
        lock.unlock()
        finished.wait()
    }

    private var stopFlag = false
    /// Signalled by the writer thread after its last flush.
    private let finished = DispatchSemaphore(value: 0)
    private var stopping: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopFlag
    }
}
