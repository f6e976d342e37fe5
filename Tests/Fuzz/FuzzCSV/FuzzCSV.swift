import MLCycleData

/// libFuzzer's entry point: the bytes after the first are a CSV file; the first picks the reader's options
/// (delimiter, header, threads, blank lines, encoding). A thrown error is a pass — it is the clear message a user
/// gets; a trap or a sanitizer report is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzCSV(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let mode = data[0]
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    var options = CSVOptions(
        delimiter: [",", ";", "\t", "|"][Int(mode & 3)], hasHeader: mode & 4 == 0, threads: mode & 8 == 0 ? 1 : 2,
        skipBlankLines: mode & 16 == 0)
    if mode & 32 != 0 { options.encoding = .latin1 }
    guard let table = try? CSVReader.read(bytes: bytes, name: "fuzz.csv", options: options) else { return 0 }
    // Every cell of what was read can be looked at and written out again.
    for column in table.columns {
        for row in 0..<column.count { _ = column.isValid(row) ? column[row].description : "" }
    }
    _ = CSVWriter.string(table)
    return 0
}
