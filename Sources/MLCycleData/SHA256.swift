/// SHA-256 (FIPS 180-4), so that the core library can fingerprint data without a crypto dependency.
public struct SHA256: Sendable {
    private var state: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
    private var buffer = [UInt8]()
    private var length: UInt64 = 0

    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    public init() { buffer.reserveCapacity(64) }

    /// Adds bytes to the message.
    public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        let done: Void? = bytes.withContiguousStorageIfAvailable { update(raw: UnsafeRawBufferPointer($0)) }
        if done == nil { Array(bytes).withUnsafeBytes { update(raw: $0) } }
    }

    /// Adds raw bytes; whole 64-byte blocks are compressed straight from the caller's memory.
    public mutating func update(raw bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        length &+= UInt64(bytes.count)
        var i = 0
        if !buffer.isEmpty {
            let take = min(64 - buffer.count, bytes.count)
            buffer.append(contentsOf: UnsafeRawBufferPointer(start: base, count: take))
            i = take
            if buffer.count == 64 {
                buffer.withUnsafeBytes { compress($0.baseAddress!) }
                buffer.removeAll(keepingCapacity: true)
            }
        }
        while i + 64 <= bytes.count {
            compress(base + i)
            i += 64
        }
        if i < bytes.count { buffer.append(contentsOf: UnsafeRawBufferPointer(start: base + i, count: bytes.count - i)) }
    }

    /// Adds a value's little-endian bytes.
    public mutating func update<T: FixedWidthInteger>(integer v: T) {
        withUnsafeBytes(of: v.littleEndian) { update($0) }
    }

    /// The digest; the hasher should not be used afterwards.
    public mutating func finalize() -> [UInt8] {
        let bitLength = length &* 8
        var padding: [UInt8] = [0x80]
        let fill = (56 - (buffer.count + 1) % 64 + 64) % 64
        padding.append(contentsOf: repeatElement(0, count: fill))
        withUnsafeBytes(of: bitLength.bigEndian) { padding.append(contentsOf: $0) }
        let savedLength = length
        update(padding)
        length = savedLength
        var out = [UInt8]()
        for s in state { withUnsafeBytes(of: s.bigEndian) { out.append(contentsOf: $0) } }
        return out
    }

    /// Hex digest of some bytes.
    public static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var h = SHA256()
        h.update(bytes)
        return hexString(h.finalize())
    }

    public static func hexString(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in digest { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    private mutating func compress(_ block: UnsafeRawPointer) {
        @inline(__always) func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
        var s = (state[0], state[1], state[2], state[3], state[4], state[5], state[6], state[7])
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
            for i in 0..<16 { w[i] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
            for i in 16..<64 {
                let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
                let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            Self.k.withUnsafeBufferPointer { k in
                var (a, b, c, d, e, f, g, h) = s
                for i in 0..<64 {
                    let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                    let ch = (e & f) ^ (~e & g)
                    let t1 = h &+ s1 &+ ch &+ k[i] &+ w[i]
                    let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                    let maj = (a & b) ^ (a & c) ^ (b & c)
                    let t2 = s0 &+ maj
                    h = g; g = f; f = e; e = d &+ t1; d = c; c = b; b = a; a = t1 &+ t2
                }
                s = (s.0 &+ a, s.1 &+ b, s.2 &+ c, s.3 &+ d, s.4 &+ e, s.5 &+ f, s.6 &+ g, s.7 &+ h)
            }
        }
        state[0] = s.0; state[1] = s.1; state[2] = s.2; state[3] = s.3
        state[4] = s.4; state[5] = s.5; state[6] = s.6; state[7] = s.7
    }
}

extension Table {
    /// A stable content fingerprint: SHA-256 (hex) over a canonical form of names, types and values in row order.
    ///
    /// It does not depend on how the table was read (CSV quoting, number formatting, dictionary order),
    /// only on what it holds; any changed value, name, type or row order changes it.
    public func fingerprint() -> String {
        var h = SHA256()
        h.update(Array("mlcycle-table-v1".utf8))
        h.update(integer: UInt64(columnCount))
        h.update(integer: UInt64(rowCount))
        for c in columns {
            let name = Array(c.name.utf8)
            h.update(integer: UInt64(name.count))
            h.update(name)
            let type = Array(c.type.rawValue.utf8)
            h.update(integer: UInt64(type.count))
            h.update(type)
            // Per row: a validity byte, then the value's bytes. Rows go through a block buffer so the hasher
            // is fed in large pieces, with one typed loop per storage kind (no per-row dispatch).
            var block = [UInt8]()
            block.reserveCapacity(1 << 16 + 64)
            let valid = c.validity
            func emit(_ count: Int, _ write: (Int, inout [UInt8]) -> Void) {
                for r in 0..<count {
                    if let valid, !valid[r] { block.append(0) } else { block.append(1); write(r, &block) }
                    if block.count >= 1 << 16 {
                        block.withUnsafeBytes { h.update(raw: $0) }
                        block.removeAll(keepingCapacity: true)
                    }
                }
                block.withUnsafeBytes { h.update(raw: $0) }
            }
            @inline(__always) func put(_ v: UInt64, _ b: inout [UInt8]) {
                withUnsafeBytes(of: v.littleEndian) { b.append(contentsOf: $0) }
            }
            switch c.storage {
            case .float64(let v):
                emit(v.count) { r, b in put(v[r].isNaN ? Double.nan.bitPattern : (v[r] == 0 ? 0 : v[r].bitPattern), &b) }
            case .int64(let v), .date(let v), .timestamp(let v):
                emit(v.count) { r, b in put(UInt64(bitPattern: v[r]), &b) }
            case .bool(let v):
                emit(v.count) { r, b in b.append(v[r] ? 1 : 0) }
            case .string(let codes, let dict):
                // Each distinct string's length-prefixed bytes, encoded once.
                let encoded: [[UInt8]] = dict.map { str in
                    var e = [UInt8]()
                    withUnsafeBytes(of: UInt64(str.utf8.count).littleEndian) { e.append(contentsOf: $0) }
                    e.append(contentsOf: str.utf8)
                    return e
                }
                encoded.withUnsafeBufferPointer { enc in
                    emit(codes.count) { r, b in b.append(contentsOf: enc[Int(codes[r])]) }
                }
            }
        }
        return SHA256.hexString(h.finalize())
    }
}
