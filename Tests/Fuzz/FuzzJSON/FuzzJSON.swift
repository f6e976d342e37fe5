import Foundation
import MLCycleData

/// What a JSON value means once written: object members by name (the last of a repeated name wins, as lookups do;
/// their order is not kept by `JSONEncoder`), a non-finite number as `null` (JSON has none).
func meaning(_ value: JSONValue) -> JSONValue {
    switch value {
    case .object(let members):
        var latest = [String: JSONValue]()
        for (key, member) in members { latest[key] = meaning(member) }
        return .object(latest.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    case .array(let items): return .array(items.map(meaning))
    case .number(let d) where !d.isFinite: return .null
    default: return value
    }
}

/// libFuzzer's entry point: the bytes are a JSON text for mlcycle's JSON core (request bodies, the OpenAPI
/// document). What parses must write out and parse back to the same meaning; an error is a pass, a trap or a
/// sanitizer report a finding.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    guard let value = try? JSONValue.parse(Data(bytes: data, count: size)) else { return 0 }
    _ = value.described
    let written: Data
    do { written = try JSONEncoder().encode(value) } catch {
        fatalError("a parsed JSON value could not be written: \(error)")
    }
    guard let again = try? JSONValue.parse(written) else {
        fatalError("mlcycle wrote JSON it cannot read: \(String(decoding: written, as: UTF8.self))")
    }
    precondition(meaning(again) == meaning(value), "a JSON value changed on its way out and back: \(value) → \(again)")
    return 0
}
