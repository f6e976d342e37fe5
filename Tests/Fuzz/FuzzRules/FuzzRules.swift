import MLCycleData
import MLCycleProject
import MLCycleQuality

/// A small table the rules are checked against.
let table: Table = {
    let csv = """
        id,price,area,kind,sold
        1,100000,1500,a,2008-05-01
        2,-1,,b,2010-01-01
        2,1,40,a ,
        """
    do { return try CSVReader.read(string: csv, name: "fuzz-table.csv") } catch { fatalError("\(error)") }
}()

/// libFuzzer's entry point: the bytes are a rules file (`mlcycle validate --rules`), parsed and, when it parses,
/// checked on a small table and written back as YAML. An error is a pass; a trap or a sanitizer report a finding.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzRules(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    guard let text = String(validating: bytes, as: UTF8.self), let rules = try? RuleFile.parse(text, file: "fuzz.yaml")
    else { return 0 }
    _ = try? RuleFile.yaml(rules)
    _ = Validator.validate(table, rules: rules)
    return 0
}
