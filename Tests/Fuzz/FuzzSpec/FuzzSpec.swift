import MLCycleProject

/// libFuzzer's entry point: the bytes are a project file (`mlcycle.yaml`). An error is a pass (it names the key at
/// fault); a trap or a sanitizer report is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzSpec(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    guard let text = String(validating: bytes, as: UTF8.self) else { return 0 }
    _ = try? ProjectFile.parse(text, file: "fuzz.yaml")
    return 0
}
