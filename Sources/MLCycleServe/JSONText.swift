import Foundation
import MLCycleData

/// A small JSON writer for the hot paths — prediction answers and the prediction log's inputs. Foundation's
/// `JSONSerialization` with sorted keys compares keys with locale-aware collation on Linux, which cost about a
/// millisecond a row; this writes bytes directly, keys in the order given.
struct JSONText {
    var bytes = [UInt8]()

    init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// A JSON string, escaped per RFC 8259.
    mutating func string(_ s: String) {
        bytes.append(34)
        for b in s.utf8 {
            switch b {
            case 34: bytes.append(92); bytes.append(34)
            case 92: bytes.append(92); bytes.append(92)
            case 10: bytes.append(92); bytes.append(110)
            case 13: bytes.append(92); bytes.append(114)
            case 9: bytes.append(92); bytes.append(116)
            case 0..<32:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [92, 117, 48, 48, hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: bytes.append(b)
            }
        }
        bytes.append(34)
    }

    /// A number; JSON has no NaN or infinity, so those are `null`.
    mutating func number(_ d: Double) {
        if d.isFinite { bytes.append(contentsOf: formatDouble(d).utf8) } else { raw("null") }
    }

    /// `"key":`
    mutating func key(_ k: String) {
        string(k)
        bytes.append(58)
    }

    mutating func comma() { bytes.append(44) }

    /// A list of strings.
    mutating func strings(_ list: [String]) {
        bytes.append(91)
        for (i, s) in list.enumerated() {
            if i > 0 { comma() }
            string(s)
        }
        bytes.append(93)
    }

    /// A table cell: a number, true/false, or text (dates as ISO text); a missing cell is `null`.
    mutating func cell(_ column: Column, _ row: Int) {
        guard column.isValid(row) else { raw("null"); return }
        switch column.storage {
        case .float64(let v): number(v[row])
        case .int64(let v): bytes.append(contentsOf: String(v[row]).utf8)
        case .bool(let v): if v[row] { raw("true") } else { raw("false") }
        default: string(column[row].description)
        }
    }

    var data: Data { Data(bytes) }
}
