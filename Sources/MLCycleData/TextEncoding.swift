import Foundation

/// How the bytes of a text file are read: UTF-8 (the default; a byte sequence that is not UTF-8 is an error naming
/// where it is) or Latin-1 (ISO 8859-1: every byte is the character of that number, for files written so on purpose).
public enum TextEncoding: String, Sendable, CaseIterable {
    case utf8
    case latin1

    /// The offset of the first byte of `[start, count)` that does not begin a well-formed UTF-8 sequence (RFC 3629:
    /// no overlong forms, no surrogates, nothing above U+10FFFF), or nil when all of it is UTF-8.
    // Hand-written: the 8-byte ASCII step keeps the check to a small share of a CSV read (stdlib validation reports
    // no position).
    public static func firstInvalidUTF8(_ p: UnsafePointer<UInt8>, count n: Int, from start: Int = 0) -> Int? {
        var i = start
        while i < n {
            if i + 8 <= n, UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                i += 8
                continue
            }
            let lead = p[i]
            if lead < 0x80 {
                i += 1
                continue
            }
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            let following: Int
            switch lead {
            case 0xC2...0xDF: following = 1
            case 0xE0:
                following = 2
                low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: following = 2
            case 0xED:
                following = 2
                high = 0x9F
            case 0xF0:
                following = 3
                low = 0x90
            case 0xF1...0xF3: following = 3
            case 0xF4:
                following = 3
                high = 0x8F
            default: return i
            }
            guard i + following < n, p[i + 1] >= low, p[i + 1] <= high else { return i }
            for k in stride(from: 2, through: following, by: 1) where p[i + k] & 0xC0 != 0x80 { return i }
            i += following + 1
        }
        return nil
    }

    /// The bytes of a file that must be UTF-8 (a YAML file) as text, or an error naming the line and column of the
    /// first byte that is not UTF-8 (never a silent U+FFFD).
    public static func utf8Text(_ data: Data, file: String) throws -> String {
        let bytes = [UInt8](data)
        return try bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress,
                let bad = firstInvalidUTF8(base, count: buffer.count)
            else { return String(decoding: buffer, as: UTF8.self) }
            let before = buffer[..<bad]
            let line = before.count { $0 == 10 } + 1
            let column = bad - ((before.lastIndex(of: 10) ?? -1) + 1) + 1
            throw DataError.notUTF8Text(file: file, line: line, column: column, byte: buffer[bad])
        }
    }

    /// Latin-1 bytes as UTF-8: bytes below 0x80 as they are, the others as two bytes.
    public static func latin1ToUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count + bytes.count / 16)
        for b in bytes {
            if b < 0x80 {
                out.append(b)
            } else {
                out.append(0xC0 | (b >> 6))
                out.append(0x80 | (b & 0x3F))
            }
        }
        return out
    }
}
