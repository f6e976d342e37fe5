/// Assigns a dense code to each distinct byte string, without making a `String` per lookup.
///
/// The CSV reader dictionary-encodes string columns with it straight from the file's bytes;
/// a `String` is made once per distinct value, at the end.
struct ByteInterner {
    private var slots: [Int32]
    private var mask: Int
    private var arena: [UInt8] = []
    private var offsets: [Int] = [0]
    private var hashes: [UInt64] = []

    init(capacity: Int = 64) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: -1, count: size)
        mask = size - 1
    }

    var count: Int { hashes.count }

    /// The code of these bytes, adding them if new.
    mutating func intern(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt32 {
        let h = hashBytes(p, n)
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let e = Int(slots[slot])
            if e < 0 { break }
            if hashes[e] == h, offsets[e + 1] - offsets[e] == n, equalsStored(e, p, n) { return UInt32(e) }
            slot = (slot + 1) & mask
        }
        let code = hashes.count
        hashes.append(h)
        arena.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
        offsets.append(arena.count)
        slots[slot] = Int32(code)
        if hashes.count * 2 > slots.count { grow() }
        return UInt32(code)
    }

    /// The code of a Swift string's UTF-8 bytes, adding it if new.
    mutating func intern(_ s: String) -> UInt32 {
        var s = s
        return s.withUTF8 { b in
            guard let base = b.baseAddress else {
                var zero: UInt8 = 0
                return intern(&zero, 0)
            }
            return intern(base, b.count)
        }
    }

    private func equalsStored(_ e: Int, _ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        arena.withUnsafeBufferPointer { a in
            let start = offsets[e]
            for k in 0..<n where a[start + k] != p[k] { return false }
            return true
        }
    }

    private mutating func grow() {
        let size = slots.count * 2
        slots = Array(repeating: -1, count: size)
        mask = size - 1
        for (e, h) in hashes.enumerated() {
            var slot = Int(truncatingIfNeeded: h) & mask
            while slots[slot] >= 0 { slot = (slot + 1) & mask }
            slots[slot] = Int32(e)
        }
    }

    /// Calls `body` with the bytes of entry `e`.
    func withBytes<R>(_ e: Int, _ body: (UnsafePointer<UInt8>, Int) -> R) -> R {
        arena.withUnsafeBufferPointer { a in
            var zero: UInt8 = 0
            let n = offsets[e + 1] - offsets[e]
            guard let base = a.baseAddress, n > 0 else { return body(&zero, 0) }
            return body(base + offsets[e], n)
        }
    }

    /// Every entry as a `String`, in code order (invalid UTF-8 is repaired with U+FFFD).
    func strings() -> [String] {
        arena.withUnsafeBufferPointer { a in
            (0..<hashes.count).map { e in
                String(decoding: UnsafeBufferPointer(rebasing: a[offsets[e]..<offsets[e + 1]]), as: UTF8.self)
            }
        }
    }
}

/// A fast 64-bit hash of a byte string (8 bytes per step; not cryptographic).
@inline(__always)
func hashBytes(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
    var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: n)
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i + 8 <= n {
        let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        h = (h ^ w) &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 31
        i += 8
    }
    var tail: UInt64 = 0
    var shift: UInt64 = 0
    while i < n {
        tail |= UInt64(p[i]) << shift
        shift += 8
        i += 1
    }
    h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
    h ^= h >> 29
    h = h &* 0xBF58_476D_1CE4_E5B9
    h ^= h >> 32
    return h
}
