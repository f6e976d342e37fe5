import MLCycleData

/// A small table of every column type for the expressions to run on.
let table: Table = {
    let csv = """
        size,rooms,kind,built,sold,ok
        1.5,3,a,1990-01-02,2008-05-01T10:00:00,true
        ,2,b,,2010-01-01T00:00:00,false
        -4e3,,,2001-12-31,,
        """
    do { return try CSVReader.read(string: csv, name: "fuzz-table.csv") } catch { fatalError("\(error)") }
}()

/// libFuzzer's entry point: the bytes are an expression (filters, scope rules, derived columns), parsed and, when
/// it parses, evaluated on a small table. An error is a pass; a trap or a sanitizer report is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzExpression(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    guard let text = String(validating: bytes, as: UTF8.self), let e = try? Expression.parse(text) else { return 0 }
    _ = try? e.evaluate(on: table)
    _ = try? e.holds(on: table)
    return 0
}
