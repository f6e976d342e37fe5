import Foundation
import MLCycleData

#if canImport(Glibc)
    import Glibc
#endif

/// An append-only file of prediction records waiting for the store: where the prediction log puts what the store
/// cannot take now (busy, unreachable, or slower than the server), so that no answered prediction is lost.
///
/// Each record is `[payload length: UInt32 LE][first 4 bytes of the payload's SHA-256][payload]`; every append is
/// one `write` and one `fsync`. The payload is the record in binary (see `encode`); spools written before that hold
/// it as JSON, and are read as well. A torn record at the end (a crash in the middle of an
/// append, never acknowledged) is cut off when the file is opened; a damaged one (its checksum fails) is left out:
/// the file is set aside as `…damaged-TIME` for a person to look at and the readable records are kept in a fresh
/// one. Records are drained oldest first; the file is emptied once all of them are in the store. One process holds
/// a spool at a time (an exclusive `flock`); within it, the prediction log's two threads share it (one appends, one
/// drains), each call under the spool's lock.
public final class PredictionSpool: @unchecked Sendable {
    /// Another process holds this spool.
    public struct Busy: Error {}
    public let path: String
    private let fd: Int32
    /// Where the next record to drain starts, and where the file's valid records end.
    private var drainOffset: Int64 = 0
    private var end: Int64 = 0
    /// Records between `drainOffset` and `end`.
    public var pending: Int { locked { pendingCount } }
    private var pendingCount = 0

    /// Records left out because they were damaged, since the spool was opened.
    public var damagedRecords: Int { locked { damagedCount } }
    private var damagedCount = 0
    /// Held by each call: an append (write + fsync) and a drain's peek / consume do not interleave.
    private let lock = NSLock()
    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Opens (or creates) the spool at `path`; what it holds waits to be drained. Throws `Busy` when another process
    /// holds it.
    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StoreError.io("cannot open the prediction spool \(path): \(String(cString: strerror(errno)))")
        }
        // (A throw from here on deinitialises the spool, which closes the file.)
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { throw Busy() }
        try scan()
    }

    deinit { close(fd) }

    /// Finds the records from the start of the file: cuts a torn tail off, rescues the file around damaged records.
    private func scan() throws {
        let size = Int64(lseek(fd, 0, SEEK_END))
        var offset: Int64 = 0
        var count = 0
        reading: while offset < size {
            switch try readRecord(at: offset, limit: size) {
            case .record(_, let next):
                offset = next
                count += 1
            case .damaged:
                return try rescue(from: 0, size: size)
            case .torn:
                // A crash during an append left part of a record: it was never acknowledged to the log.
                forgetBlock()
                guard ftruncate(fd, off_t(offset)) == 0 else { throw failure("cut the torn record off") }
                break reading
            }
        }
        (drainOffset, end, pendingCount, peekedEnd, peekedCount) = (0, offset, count, 0, 0)
    }

    /// Keeps every readable record of a file with damage in it: the file is copied aside, the records found (each
    /// damaged stretch skipped to the next record that checks out) are written back, and the count of what was left
    /// out is kept.
    private func rescue(from start: Int64, size: Int64) throws {
        var kept = [PredictionRecord]()
        var offset = start
        var skipping = false
        while offset < size {
            if case .record(let r, let next) = try readRecord(at: offset, limit: size) {
                kept.append(r)
                offset = next
                skipping = false
            } else {
                if !skipping { damagedCount += 1 }
                skipping = true
                offset += 1
            }
        }
        let aside = path + ".damaged-\(Int(Date().timeIntervalSince1970))"
        try? FileManager.default.removeItem(atPath: aside)
        try FileManager.default.copyItem(atPath: path, toPath: aside)
        forgetBlock()
        guard ftruncate(fd, 0) == 0 else { throw failure("empty the damaged spool") }
        (drainOffset, end, pendingCount, peekedEnd, peekedCount) = (0, 0, 0, 0, 0)
        try appendLocked(kept)  // (called with the lock held from a peek, and from init)
    }

    public var isEmpty: Bool { pending == 0 }

    /// Appends records and waits until they are on disk (`fsync`).
    public func append(_ records: [PredictionRecord]) throws {
        guard !records.isEmpty else { return }
        try locked { try appendLocked(records) }
    }

    private func appendLocked(_ records: [PredictionRecord]) throws {
        forgetBlock()  // (what is cached may end in a torn tail that this append overwrites)
        var bytes = [UInt8]()
        bytes.reserveCapacity(records.count * 256)
        for r in records {
            let payload = Self.encode(r)
            withUnsafeBytes(of: UInt32(payload.count).littleEndian) { bytes.append(contentsOf: $0) }
            var hash = MLCycleData.SHA256()
            hash.update(payload)
            bytes.append(contentsOf: hash.finalize().prefix(4))
            bytes.append(contentsOf: payload)
        }
        try bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(end) + off_t(done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    // Nothing of a half-written batch counts: the file ends where it ended before.
                    _ = ftruncate(fd, off_t(end))
                    throw failure("append \(records.count) records")
                }
                done += n
            }
        }
        guard fsync(fd) == 0 else {
            _ = ftruncate(fd, off_t(end))
            throw failure("sync")
        }
        end += Int64(bytes.count)
        pendingCount += records.count
    }

    /// Up to `limit` of the oldest records not yet drained (they stay in the spool until `consume`).
    public func peek(_ limit: Int) throws -> [PredictionRecord] { try locked { try peekLocked(limit) } }

    private func peekLocked(_ limit: Int) throws -> [PredictionRecord] {
        var out = [PredictionRecord]()
        var offset = drainOffset
        while out.count < limit, offset < end {
            guard case .record(let r, let next) = try readRecord(at: offset, limit: end) else {
                // Damaged since it was written (the disk): set the file aside, keep what reads, start again.
                try rescue(from: drainOffset, size: end)
                return try peekLocked(limit)
            }
            out.append(r)
            offset = next
        }
        peekedEnd = offset
        peekedCount = out.count
        return out
    }

    /// Marks what the last `peek` returned as in the store; an emptied spool is truncated to nothing.
    public func consume() throws {
        try locked {
            drainOffset = peekedEnd
            pendingCount -= peekedCount
            peekedCount = 0
            if drainOffset >= end {
                forgetBlock()
                guard ftruncate(fd, 0) == 0 else { throw failure("empty the drained spool") }
                (drainOffset, end, pendingCount, peekedEnd) = (0, 0, 0, 0)
            }
        }
    }

    private var peekedEnd: Int64 = 0
    private var peekedCount = 0

    /// The last stretch of the file read, from `blockStart`: a drain reads a megabyte at a time, not two system calls
    /// per record. Records are never rewritten in place, so it stays right until the file is cut (`forgetBlock`).
    private var block = [UInt8]()
    private var blockStart: Int64 = 0
    private func forgetBlock() { block.removeAll(keepingCapacity: true) }

    enum Read {
        case record(PredictionRecord, next: Int64)
        /// The record runs past the end of the file (an append cut short).
        case torn
        /// The record is all there but its checksum or its JSON is wrong.
        case damaged
    }

    /// The record at `offset` and where the next one starts.
    private func readRecord(at offset: Int64, limit: Int64) throws -> Read {
        guard offset + 8 <= limit else { return .torn }
        guard try fill(offset, count: 8, limit: limit) else { return .torn }
        let h = Int(offset - blockStart)
        let length = Int(
            UInt32(block[h]) | UInt32(block[h + 1]) << 8 | UInt32(block[h + 2]) << 16 | UInt32(block[h + 3]) << 24)
        guard offset + 8 + Int64(length) <= limit else { return .torn }
        guard try fill(offset, count: 8 + length, limit: limit) else { return .torn }
        let at = Int(offset - blockStart)
        let payload = block[(at + 8)..<(at + 8 + length)]
        var hash = MLCycleData.SHA256()
        hash.update(payload)
        guard hash.finalize().prefix(4).elementsEqual(block[(at + 4)..<(at + 8)]), let record = Self.decode(payload)
        else {
            return .damaged
        }
        return .record(record, next: offset + 8 + Int64(length))
    }

    /// Makes `block` hold the file's bytes `offset..<offset + count` (reading a megabyte or up to `limit` from
    /// `offset` when it does not); false when the file ends first.
    private func fill(_ offset: Int64, count: Int, limit: Int64) throws -> Bool {
        if offset >= blockStart, offset + Int64(count) <= blockStart + Int64(block.count) { return true }
        let want = max(count, min(1 << 20, Int(limit - offset)))
        block = [UInt8](repeating: 0, count: want)
        blockStart = offset
        var done = 0
        try block.withUnsafeMutableBytes { raw in
            while done < want {
                let n = pread(fd, raw.baseAddress! + done, want - done, off_t(offset) + off_t(done))
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw failure("read") }
                if n == 0 { break }
                done += n
            }
        }
        block.removeLast(want - done)
        return done >= count
    }

    private func failure(_ what: String) -> StoreError {
        StoreError.io("prediction spool \(path): cannot \(what): \(String(cString: strerror(errno)))")
    }

    /// The first byte of a binary payload (a JSON one starts with `{`).
    static let binaryFormat: UInt8 = 1

    /// A record in binary: the format byte, then `at`, `latency` (Float64 LE); flags (1: a prediction, 2: a confidence,
    /// 4: low confidence, 8: reasons); `confidence` when flagged; `id`, `model`, `version`, `inputs`, `status`,
    /// `prediction` when flagged, as UInt32 LE lengths and UTF-8; and, when flagged, a UInt32 count of reasons, each
    /// as a string. Writing the inputs (already JSON) as JSON inside JSON had made the spool cost more than scoring.
    static func encode(_ r: PredictionRecord) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(64 + r.id.utf8.count + r.model.utf8.count + r.inputs.utf8.count + 32)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func put(_ s: String) {
            put(UInt32(s.utf8.count))
            out.append(contentsOf: s.utf8)
        }
        out.append(binaryFormat)
        put(r.at.timeIntervalSince1970.bitPattern)
        put(r.latencySeconds.bitPattern)
        let reasons = r.reasons ?? []
        let flags: UInt8 =
            (r.prediction != nil ? 1 : 0) | (r.confidence != nil ? 2 : 0) | (r.lowConfidence ? 4 : 0)
            | (r.reasons != nil ? 8 : 0)
        out.append(flags)
        if let c = r.confidence { put(c.bitPattern) }
        for text in [r.id, r.model, r.version, r.inputs, r.status] { put(text) }
        if let p = r.prediction { put(p) }
        if r.reasons != nil {
            put(UInt32(reasons.count))
            for reason in reasons { put(reason) }
        }
        return out
    }

    static func decode(_ payload: ArraySlice<UInt8>) -> PredictionRecord? {
        guard let first = payload.first else { return nil }
        if first == UInt8(ascii: "{") { return decodeJSON(Array(payload)) }
        guard first == binaryFormat else { return nil }
        var i = payload.startIndex + 1
        func take<T: FixedWidthInteger>(_: T.Type) -> T? {
            let size = MemoryLayout<T>.size
            guard payload.endIndex - i >= size else { return nil }
            var v = T.zero
            for k in 0..<size { v |= T(payload[i + k]) << (8 * k) }
            i += size
            return v
        }
        func text() -> String? {
            guard let n = take(UInt32.self).map(Int.init), payload.endIndex - i >= n else { return nil }
            defer { i += n }
            let bytes = payload[i..<(i + n)]
            let valid = bytes.withContiguousStorageIfAvailable { b in
                b.isEmpty || TextEncoding.firstInvalidUTF8(b.baseAddress!, count: b.count) == nil
            }
            return valid == true ? String(decoding: bytes, as: UTF8.self) : nil
        }
        guard let at = take(UInt64.self), let latency = take(UInt64.self), let flags = take(UInt8.self) else {
            return nil
        }
        var confidence: Double?
        if flags & 2 != 0 {
            guard let c = take(UInt64.self) else { return nil }
            confidence = Double(bitPattern: c)
        }
        guard let id = text(), let model = text(), let version = text(), let inputs = text(), let status = text()
        else { return nil }
        var prediction: String?
        if flags & 1 != 0 {
            guard let p = text() else { return nil }
            prediction = p
        }
        var reasons: [String]?
        if flags & 8 != 0 {
            guard let n = take(UInt32.self), Int(n) <= payload.endIndex - i else { return nil }
            reasons = []
            for _ in 0..<n {
                guard let reason = text() else { return nil }
                reasons?.append(reason)
            }
        }
        guard i == payload.endIndex else { return nil }
        return PredictionRecord(
            id: id, model: model, version: version, at: Date(timeIntervalSince1970: Double(bitPattern: at)),
            latencySeconds: Double(bitPattern: latency), inputs: inputs, prediction: prediction, status: status,
            confidence: confidence, lowConfidence: flags & 4 != 0, reasons: reasons)
    }

    /// A record as the spools of earlier versions wrote it: one JSON object (without reasons).
    static func decodeJSON(_ payload: [UInt8]) -> PredictionRecord? {
        guard let v = try? JSONValue.parse(Data(payload)),
            case .string(let id)? = v["id"], case .string(let model)? = v["model"],
            case .string(let version)? = v["version"], case .number(let at)? = v["at"],
            case .number(let latency)? = v["latency"], case .string(let inputs)? = v["inputs"],
            case .string(let status)? = v["status"], case .bool(let low)? = v["low_confidence"]
        else { return nil }
        var prediction: String?
        if case .string(let p)? = v["prediction"] { prediction = p }
        var confidence: Double?
        if case .number(let c)? = v["confidence"] { confidence = c }
        return PredictionRecord(
            id: id, model: model, version: version, at: Date(timeIntervalSince1970: at), latencySeconds: latency,
            inputs: inputs, prediction: prediction, status: status, confidence: confidence, lowConfidence: low)
    }
}
