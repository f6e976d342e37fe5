import DequeModule
import Foundation

/// Runs the jobs of the tasks that prefer it on one thread of its own, never on Swift's cooperative threads.
///
/// Two uses: a thread that must wait for an async call (the prediction log's store thread) starts the call as a task
/// preferring this executor, so the wait needs no cooperative thread and cannot deadlock when every cooperative
/// thread is itself waiting; and minutes of CPU-bound work (a training run) run here, so the servers, lease
/// renewals and database pools of the same process keep the cooperative threads (two on a two-core machine).
package final class DedicatedThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs = Deque<UnownedJob>()
    private var stopped = false
    private var finished = false

    /// Starts the thread; `stackSize` as a cooperative thread's (deep trees recurse).
    package init(name: String, stackSize: Int = 8 << 20) {
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.stackSize = stackSize
        thread.start()
    }

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        if finished {
            // A job that arrives after the thread ended (a task resuming after `shutdown`) runs on the global pool.
            condition.unlock()
            globalConcurrentExecutor.enqueue(ExecutorJob(job))
            return
        }
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
                finished = true
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

/// Runs `operation` with its task's jobs on a thread of its own (see `DedicatedThreadExecutor`), which ends after it.
package func onThreadOfItsOwn<T>(
    named name: String, isolation: isolated (any Actor)? = #isolation, _ operation: () async throws -> T
) async throws -> T {
    let executor = DedicatedThreadExecutor(name: name)
    defer { executor.shutdown() }
    return try await withTaskExecutorPreference(executor, isolation: isolation, operation: operation)
}

/// A task's result handed to the thread that waits for it (written before the semaphore is signalled, read after).
private final class OutcomeBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}
