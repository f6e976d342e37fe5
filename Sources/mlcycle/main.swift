import MLCycleData
import Foundation
let t0 = Date()
let t = try CSVReader.read(path: CommandLine.arguments[1])
print(t.rowCount, t.columnCount, Date().timeIntervalSince(t0))
for c in t.columns.prefix(80) { print(c.name, c.type, c.missingCount, c[0]) }
print(t.fingerprint())
