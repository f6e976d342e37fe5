import Crypto

/// SHA-256 for fingerprints and artefact names: swift-crypto's (BoringSSL's assembly on Linux) behind the small
/// interface the fingerprints use.
public struct SHA256 {
    private var hasher = Crypto.SHA256()

    public init() {}

    /// Adds bytes to the message.
    public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        let done: Void? = bytes.withContiguousStorageIfAvailable { update(raw: UnsafeRawBufferPointer($0)) }
        if done == nil { Array(bytes).withUnsafeBytes { update(raw: $0) } }
    }

    /// Adds raw bytes.
    public mutating func update(raw bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
    }

    /// Adds a value's little-endian bytes.
    public mutating func update<T: FixedWidthInteger>(integer v: T) {
        withUnsafeBytes(of: v.littleEndian) { update(raw: $0) }
    }

    /// The digest; the hasher should not be used afterwards.
    public mutating func finalize() -> [UInt8] { Array(hasher.finalize()) }

    /// Hex digest of some bytes.
    public static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var h = SHA256()
        h.update(bytes)
        return hexString(h.finalize())
    }

    public static func hexString(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in digest {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
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
                    if let valid, !valid[r] {
                        block.append(0)
                    } else {
                        block.append(1)
                        write(r, &block)
                    }
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
                emit(v.count) { r, b in put(v[r].isNaN ? Double.nan.bitPattern : (v[r] == 0 ? 0 : v[r].bitPattern), &b)
                }
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
