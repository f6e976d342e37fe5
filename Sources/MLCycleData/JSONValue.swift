import Foundation

/// A parsed JSON value. Request bodies are parsed into this instead of Foundation's `Any` tree: a 1000-row
/// request spent most of its time in `JSONSerialization` bridging every number to `NSNumber` and casting it back.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    /// Members in document order (a repeated key keeps its last value when looked up).
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// An object's member (the last one with that key).
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.0 == key }?.1
    }

    /// How a value is named in an error message.
    public var described: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let d): return d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .string(let s): return "\"\(s.prefix(40))\""
        case .array: return "a list"
        case .object: return "an object"
        }
    }

    /// Parses a complete JSON text (RFC 8259); the error says what is wrong and at which byte.
    public static func parse(_ data: Data) throws -> JSONValue {
        try data.withUnsafeBytes { raw in
            var p = JSONParser(raw.bindMemory(to: UInt8.self))
            p.skipSpace()
            let v = try p.value(depth: 0)
            p.skipSpace()
            guard p.i == p.n else { throw p.fail("unexpected text after the JSON value") }
            return v
        }
    }
}

/// A recursive-descent JSON parser over raw bytes (the request body; nothing is copied but strings).
struct JSONParser {
    let b: UnsafeBufferPointer<UInt8>
    let n: Int
    var i = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        b = bytes
        n = bytes.count
    }

    struct Failure: Error, LocalizedError {
        var message: String
        var offset: Int
        var errorDescription: String? { "\(message) at byte \(offset)" }
    }

    func fail(_ message: String) -> Failure { Failure(message: message, offset: i) }

    mutating func skipSpace() {
        while i < n, b[i] == 32 || b[i] == 10 || b[i] == 13 || b[i] == 9 { i += 1 }
    }

    mutating func value(depth: Int) throws -> JSONValue {
        guard depth < 512 else { throw fail("nested too deeply") }
        guard i < n else { throw fail("unexpected end of the body") }
        switch b[i] {
        case UInt8(ascii: "{"):
            i += 1
            var members = [(String, JSONValue)]()
            skipSpace()
            if i < n, b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                skipSpace()
                guard i < n, b[i] == 34 else { throw fail("expected a quoted key") }
                let key = try string()
                skipSpace()
                guard i < n, b[i] == UInt8(ascii: ":") else { throw fail("expected ':' after a key") }
                i += 1
                skipSpace()
                members.append((key, try value(depth: depth + 1)))
                skipSpace()
                guard i < n else { throw fail("unexpected end of the body inside an object") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                throw fail("expected ',' or '}' in an object")
            }
        case UInt8(ascii: "["):
            i += 1
            var items = [JSONValue]()
            skipSpace()
            if i < n, b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard i < n else { throw fail("unexpected end of the body inside a list") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                throw fail("expected ',' or ']' in a list")
            }
        case 34: return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw fail("unexpected character '\(Character(Unicode.Scalar(b[i])))'")
        }
    }

    mutating func literal(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard i + count <= n, memcmp(b.baseAddress! + i, word.utf8Start, count) == 0 else { throw fail("unexpected word") }
        i += count
    }

    /// A number per RFC 8259's grammar; integers of up to 15 digits are read exactly here, others by `strtod`.
    mutating func number() throws -> Double {
        let start = i
        var negative = false
        if b[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        guard i < n, b[i] >= 48, b[i] <= 57 else { throw fail("a number needs digits") }
        if b[i] == 48, i + 1 < n, b[i + 1] >= 48, b[i + 1] <= 57 { throw fail("a number cannot start with 0") }
        var mantissa: Int64 = 0, digits = 0
        while i < n, b[i] >= 48, b[i] <= 57 {
            if digits < 18 { mantissa = mantissa * 10 + Int64(b[i] - 48) }
            digits += 1
            i += 1
        }
        var simple = digits <= 15
        if i < n, b[i] == UInt8(ascii: ".") {
            simple = false
            i += 1
            guard i < n, b[i] >= 48, b[i] <= 57 else { throw fail("a decimal point needs digits after it") }
            while i < n, b[i] >= 48, b[i] <= 57 { i += 1 }
        }
        if i < n, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            simple = false
            i += 1
            if i < n, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < n, b[i] >= 48, b[i] <= 57 else { throw fail("an exponent needs digits") }
            while i < n, b[i] >= 48, b[i] <= 57 { i += 1 }
        }
        if simple { return negative ? -Double(mantissa) : Double(mantissa) }
        // strtod needs a terminated string: copy the (short) number out.
        var text = [CChar](repeating: 0, count: i - start + 1)
        for k in 0..<(i - start) { text[k] = CChar(bitPattern: b[start + k]) }
        return strtod(text, nil)
    }

    /// A quoted string with its escapes (\uXXXX with surrogate pairs); raw control characters are refused.
    mutating func string() throws -> String {
        i += 1
        let start = i
        // The common case: no escapes, decoded in one go.
        while i < n, b[i] != 34, b[i] != 92, b[i] >= 32 { i += 1 }
        guard i < n else { throw fail("unterminated string") }
        if b[i] == 34 {
            let s = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
            i += 1
            return s
        }
        var out = Array(b[start..<i])
        while true {
            guard i < n else { throw fail("unterminated string") }
            let c = b[i]
            if c == 34 { i += 1; return String(decoding: out, as: UTF8.self) }
            if c < 32 { throw fail("a control character must be escaped inside a string") }
            if c != 92 { out.append(c); i += 1; continue }
            i += 1
            guard i < n else { throw fail("unterminated escape") }
            let e = b[i]
            i += 1
            switch e {
            case 34, 92, 47: out.append(e)
            case UInt8(ascii: "b"): out.append(8)
            case UInt8(ascii: "f"): out.append(12)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar), i + 1 < n, b[i] == 92, b[i + 1] == UInt8(ascii: "u") {
                    i += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("a high surrogate must be followed by a low one") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let u = Unicode.Scalar(scalar) else { throw fail("\\u escape is not a character") }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default: throw fail("unknown escape '\\\(Character(Unicode.Scalar(e)))'")
            }
        }
    }

    mutating func hex4() throws -> UInt32 {
        guard i + 4 <= n else { throw fail("\\u needs four hex digits") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 65...70: d = UInt32(c - 55)
            case 97...102: d = UInt32(c - 87)
            default: throw fail("\\u needs four hex digits")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }
}
