import Foundation
import MLCycleData
import MLCycleStore
import Synchronization
import Testing

@testable import MLCycleServe

/// A prediction writer in front of a store that refuses while told to (an unreachable or locked database).
final class RefusingWriter: PredictionWriter {
    let store: SQLiteStore
    let refusing = Mutex(false)
    init(_ store: SQLiteStore) { self.store = store }
    func logPredictions(_ batch: [PredictionRecord]) async throws -> Int {
        if refusing.withLock({ $0 }) { throw StoreError.unavailable("the database is unreachable") }
        return try await store.logPredictions(batch)
    }
}

func records(_ range: Range<Int>, model: String = "m") -> [PredictionRecord] {
    range.map {
        PredictionRecord(
            id: "p\($0)", model: model, version: "v1", at: Date(timeIntervalSince1970: 1_000_000 + Double($0)),
            latencySeconds: 0.001, inputs: #"{"size":\#($0),"note":"a \"quoted\" é"}"#,
            prediction: $0 % 7 == 0 ? nil : String($0 * 10), status: $0 % 7 == 0 ? "unavailable" : "ok",
            confidence: $0 % 2 == 0 ? 0.5 : nil, lowConfidence: $0 % 3 == 0)
    }
}

func temporaryDirectory(_ name: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-\(name)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

@Suite struct PredictionSpoolTests {
    @Test func recordsComeBackAsWrittenAndATornTailIsCutOff() throws {
        let path = try temporaryDirectory("spool") + "/spool.bin"
        let written = records(0..<5)
        do {
            let spool = try PredictionSpool(path: path)
            try spool.append(Array(written[0..<2]))
            try spool.append(Array(written[2..<5]))
        }
        // A crash in the middle of an append: half a record at the end of the file.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data([40, 0, 0, 0, 1, 2, 3, 4, 123, 34]))
        try handle.close()
        let reopened = try PredictionSpool(path: path)
        #expect(reopened.pending == 5)
        #expect(try reopened.peek(3) == Array(written[0..<3]))
        try reopened.consume()
        #expect(reopened.pending == 2)
        #expect(try reopened.peek(10) == Array(written[3..<5]))
        try reopened.consume()
        // Drained: the file is empty again.
        #expect(reopened.isEmpty)
        #expect(((try FileManager.default.attributesOfItem(atPath: path))[.size] as? Int) == 0)
    }

    @Test func aDamagedRecordIsLeftOutAndTheFileSetAside() throws {
        let dir = try temporaryDirectory("spool")
        let path = dir + "/spool.bin"
        do {
            let spool = try PredictionSpool(path: path)
            try spool.append(records(0..<3))
        }
        // Flip one byte of the second record's payload: its checksum no longer matches.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let first = Int(bytes[0]) | Int(bytes[1]) << 8
        bytes[8 + first + 8 + 3] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let reopened = try PredictionSpool(path: path)
        // The records on either side of the damaged one are kept; the damaged file is kept aside for a person.
        let readable = try reopened.peek(10)
        #expect(reopened.pending == 2 && readable.map(\.id) == ["p0", "p2"] && reopened.damagedRecords == 1)
        let aside = try FileManager.default.contentsOfDirectory(atPath: dir).filter {
            $0.hasPrefix("spool.bin.damaged-")
        }
        #expect(aside.count == 1)
    }

    @Test func everyFieldComesBackReasonsIncluded() throws {
        let path = try temporaryDirectory("spool") + "/spool.bin"
        var written = records(0..<4)
        written[1].reasons = ["outside scope: Gr_Liv_Area < 4000", "Lot_Frontage was missing: imputed as in training"]
        written[2].reasons = []
        written[3].inputs = #"{"text":"line\nbreak \u0000 ünïcode 🏠"}"#
        do { try PredictionSpool(path: path).append(written) }
        #expect(try PredictionSpool(path: path).peek(10) == written)
    }

    /// A spool left by a server before the binary records (each payload one JSON object) is drained as it was.
    @Test func aSpoolOfJSONRecordsIsStillRead() throws {
        let path = try temporaryDirectory("spool") + "/spool.bin"
        let written = records(0..<3)
        var file = [UInt8]()
        for r in written {
            var object: [String: Any] = [
                "id": r.id, "model": r.model, "version": r.version, "at": r.at.timeIntervalSince1970,
                "latency": r.latencySeconds, "inputs": r.inputs, "status": r.status, "low_confidence": r.lowConfidence,
            ]
            if let p = r.prediction { object["prediction"] = p }
            if let c = r.confidence { object["confidence"] = c }
            let payload = [UInt8](try JSONSerialization.data(withJSONObject: object))
            var hash = MLCycleData.SHA256()
            hash.update(payload)
            withUnsafeBytes(of: UInt32(payload.count).littleEndian) { file.append(contentsOf: $0) }
            file += hash.finalize().prefix(4) + payload
        }
        try Data(file).write(to: URL(fileURLWithPath: path))
        let spool = try PredictionSpool(path: path)
        #expect(spool.pending == 3)
        #expect(try spool.peek(10) == written)
    }

    @Test func aSecondProcessCannotHoldTheSameSpool() throws {
        let dir = try temporaryDirectory("spool")
        let first = try PredictionLog.spool(in: dir)
        // flock locks belong to the open file: a second open in this process stands in for another server.
        #expect(throws: PredictionSpool.Busy.self) { _ = try PredictionSpool(path: first.path) }
        let second = try PredictionLog.spool(in: dir)
        #expect(first.path.hasSuffix("/prediction-spool.bin") && second.path.hasSuffix("/prediction-spool-2.bin"))
    }
}

@Suite struct PredictionLogTests {
    /// The store refuses: rows go to the spool, in order; when it takes rows again they are drained, each once.
    @Test func anUnreachableStoreLosesNothing() async throws {
        let dir = try temporaryDirectory("log")
        let store = try SQLiteStore(directory: dir)
        let writer = RefusingWriter(store)
        let log = PredictionLog(store: store, writer: writer, spool: try PredictionLog.spool(in: dir))
        log.append(records(0..<10))
        log.flush()
        #expect(log.counts.written == 10 && log.counts.spooled == 0)
        writer.refusing.withLock { $0 = true }
        log.append(records(10..<40))
        log.flush()
        log.append(records(40..<50))
        log.flush()
        var c = log.counts
        #expect(c.spooled == 40 && c.spoolPending == 40 && c.failedWrites >= 2 && c.dropped == 0)
        #expect(try await store.predictions(model: "m", since: nil, limit: 100).count == 10)
        // Back: new rows queue behind the spooled ones, and everything reaches the store in the order answered.
        writer.refusing.withLock { $0 = false }
        log.append(records(50..<60))
        log.flush()
        c = log.counts
        #expect(c.drained == 50 && c.spoolPending == 0 && c.stored == 60 && c.dropped == 0, "\(c)")
        let stored = try await store.predictions(model: "m", since: nil, limit: 100)
        #expect(stored == records(0..<60))
    }

    /// More rows than one cycle writes straight away: they are spooled first and drained in the same cycle.
    @Test func aBurstPastTheDirectLimitIsSpooledThenDrained() async throws {
        let dir = try temporaryDirectory("log")
        let store = try SQLiteStore(directory: dir)
        let log = PredictionLog(store: store, spool: try PredictionLog.spool(in: dir), directLimit: 100)
        log.append(records(0..<1_000))
        log.flush(drainBudget: nil)
        let c = log.counts
        #expect(c.spooled == 1_000 && c.drained == 1_000 && c.written == 0 && c.spoolPending == 0)
        #expect(try await store.predictions(model: "m", since: nil, limit: 2_000).count == 1_000)
    }

    /// A crash after the store committed a drained chunk but before the spool was trimmed: the next start drains it
    /// again, and the store keeps one row per id.
    @Test func drainingTwiceStoresOnce() async throws {
        let dir = try temporaryDirectory("log")
        let store = try SQLiteStore(directory: dir)
        do {
            let spool = try PredictionLog.spool(in: dir)
            try spool.append(records(0..<20))
            try await store.logPredictions(records(0..<12))  // committed, not yet trimmed from the spool
        }
        // The first spool is closed, but a process another test forks at that moment holds its lock until it
        // execs (flock follows the open file, which the child shares): wait for it rather than take a second spool.
        var spool = try PredictionLog.spool(in: dir)
        for _ in 0..<200 where !spool.path.hasSuffix("/prediction-spool.bin") {
            try await Task.sleep(for: .milliseconds(50))
            spool = try PredictionLog.spool(in: dir)
        }
        let log = PredictionLog(store: store, spool: spool)
        #expect(log.counts.spoolPending == 20)
        log.flush()
        let c = log.counts
        #expect(c.drained == 8 && c.alreadyStored == 12 && c.spoolPending == 0, "\(c)")
        #expect(try await store.predictions(model: "m", since: nil, limit: 100) == records(0..<20))
    }

    /// A stopped writer has written and drained everything, and /metrics names every count.
    @Test func stopWritesEverythingAndTheCountsArePublished() async throws {
        let dir = try temporaryDirectory("log")
        let store = try SQLiteStore(directory: dir)
        let writer = RefusingWriter(store)
        let log = PredictionLog(store: store, writer: writer, spool: try PredictionLog.spool(in: dir))
        /// Waits (up to 10 s) until the writer's counts satisfy `condition`.
        func waitFor(_ condition: (PredictionLog.Counts) -> Bool) {
            let deadline = Date().addingTimeInterval(10)
            while !condition(log.counts) && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        }
        writer.refusing.withLock { $0 = true }
        // A cycle long enough that no write counts as slow on a loaded machine (a slow one is spooled as well).
        log.start(interval: .milliseconds(250))
        log.append(records(0..<300))
        waitFor { $0.spooled == 300 }
        // The store is back: the writer drains the spool; later rows go straight to the store.
        writer.refusing.withLock { $0 = false }
        waitFor { $0.drained == 300 }
        log.append(records(300..<400))
        log.stop()
        let c = log.counts
        #expect(c.spooled == 300 && c.drained == 300 && c.written == 100 && c.queued == 0 && c.spoolPending == 0)
        #expect(try await store.predictions(model: "m", since: nil, limit: 1_000).count == 400)
        let metrics = ServerMetrics()
        log.publish(to: metrics.registry)
        let text = metrics.text()
        for name in [
            "mlcycle_prediction_log_written_total 100", "mlcycle_prediction_log_spooled_total 300",
            "mlcycle_prediction_log_drained_total 300", "mlcycle_prediction_log_failed_writes_total",
            "mlcycle_prediction_log_dropped_total 0", "mlcycle_prediction_log_spool_pending 0",
            "mlcycle_prediction_log_queue_depth 0",
        ] {
            #expect(text.contains(name), "\(name) in \(text)")
        }
    }
}

/// A prediction writer whose first write hangs (a store waiting for another writer's lock).
final class SlowFirstWriter: PredictionWriter {
    let store: SQLiteStore
    let calls = Mutex(0)
    init(_ store: SQLiteStore) { self.store = store }
    func logPredictions(_ batch: [PredictionRecord]) async throws -> Int {
        if calls.withLock({ n in
            n += 1
            return n
        }) == 1 {
            try await Task.sleep(for: .milliseconds(500))
        }
        return try await store.logPredictions(batch)
    }
}

@Suite struct PredictionLogThreadsTests {
    /// While the store thread is stuck in a write, the spool thread goes on: the stuck batch is put in the spool
    /// after a cycle (so a crash would not lose it) and so are the rows answered meanwhile; once the write ends, the
    /// spool drains and the stuck batch's copy is skipped — every row stored once.
    @Test func aSlowWriteIsSpooledAfterACycleAndStoredOnce() async throws {
        let dir = try temporaryDirectory("log-slow")
        let store = try SQLiteStore(directory: dir)
        let log = PredictionLog(store: store, writer: SlowFirstWriter(store), spool: try PredictionLog.spool(in: dir))
        func waitFor(_ condition: (PredictionLog.Counts) -> Bool) {
            let deadline = Date().addingTimeInterval(10)
            while !condition(log.counts) && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
        }
        log.start(interval: .milliseconds(20))
        log.append(records(0..<50))
        waitFor { $0.spooled >= 50 }
        log.append(records(50..<80))
        waitFor { $0.spooled >= 80 }
        let whileStuck = log.counts
        #expect(whileStuck.spooled == 80 && whileStuck.written == 0, "\(whileStuck)")
        waitFor { $0.written == 50 && $0.spoolPending == 0 }
        log.stop()
        let c = log.counts
        #expect(c.written == 50 && c.drained == 30 && c.alreadyStored == 50 && c.dropped == 0, "\(c)")
        #expect(try await store.predictions(model: "m", since: nil, limit: 1_000).count == 80)
    }
}
