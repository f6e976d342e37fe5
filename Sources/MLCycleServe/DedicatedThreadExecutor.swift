import DequeModule
import Foundation

/// Runs the jobs of the tasks that prefer it on one thread of its own, never on Swift's cooperative threads. A thread
/// that must wait for an async call (the prediction log's store thread, which waits for the store's write) starts the
/// call as a task preferring this executor: the wait then needs no cooperative thread, so it cannot deadlock when
/// every cooperative thread is itself waiting (for the log to stop, say).
package final class DedicatedThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs = Deque<UnownedJob>()
    private var stopped = false

    package init(name: String) {
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Ends the thread once the jobs enqueued so far have run.
    package func shutdown() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            guard let job = jobs.popFirst() else {
                condition.unlock()
                return
            }
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }

    /// Runs `operation` as a task on this executor and waits for its result on the calling thread, which must not be
    /// this executor's own.
    package func wait<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) throws -> T {
        let done = DispatchSemaphore(value: 0)
        let outcome = OutcomeBox<T>()
        Task(executorPreference: self) {
            do { outcome.result = .success(try await operation()) } catch { outcome.result = .failure(error) }
            done.signal()
        }
        done.wait()
        guard let result = outcome.result else { throw CancellationError() }
        return try result.get()
    }
}

/// A task's result handed to the thread that waits for it (written before the semaphore is signalled, read after).
private final class OutcomeBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}
