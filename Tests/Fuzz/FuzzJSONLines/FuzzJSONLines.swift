import MLCycleData

/// libFuzzer's entry point: the bytes are a JSON Lines file. An error is a pass (it names the line), a trap or a
/// sanitizer report a finding; what reads must write out as JSON Lines and read back with the same shape.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzJSONLines(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    guard let table = try? JSONLines.read(bytes: bytes, name: "fuzz.jsonl") else { return 0 }
    let text = JSONLines.string(table)
    guard let again = try? JSONLines.read(string: text, name: "written.jsonl") else {
        fatalError("mlcycle wrote JSON Lines it cannot read:\n\(text)")
    }
    // Rows that are all missing write as {} and read back as a row; columns that are all missing write nothing.
    precondition(again.rowCount == table.rowCount, "\(table.rowCount) rows wrote and read back as \(again.rowCount)")
    return 0
}
