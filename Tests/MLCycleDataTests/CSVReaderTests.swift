import Foundation
import Testing

@testable import MLCycleData

/// Reads CSV text held in memory.
func csv(_ text: String, _ options: CSVOptions = CSVOptions()) throws -> Table {
    try CSVReader.read(string: text, name: "test.csv", options: options)
}

/// The error a throwing call raised, as a `DataError`.
func dataError(_ body: () throws -> Void) -> DataError? {
    do {
        try body()
        return nil
    } catch let e as DataError {
        return e
    } catch {
        return nil
    }
}

@Suite struct CSVReaderTests {
    @Test func quotedFieldsKeepDelimitersQuotesAndNewlines() throws {
        let t = try csv("id,text\n1,\"a, b\"\n2,\"say \"\"hi\"\"\"\n3,\"two\nlines\"\n4,plain\n")
        #expect(t.rowCount == 4)
        let text = try t.column("text")
        #expect(text[0] == .string("a, b"))
        #expect(text[1] == .string("say \"hi\""))
        #expect(text[2] == .string("two\nlines"))
        #expect(text[3] == .string("plain"))
        #expect(try t.column("id").type == .int64)
    }

    @Test func crlfAndByteOrderMarkAreHandled() throws {
        let t = try csv("\u{FEFF}a,b\r\n1,x\r\n2,\"y\r\nz\"\r\n")
        #expect(t.columnNames == ["a", "b"])
        #expect(try t.column("a")[1] == .int64(2))
        #expect(try t.column("b")[0] == .string("x"))
        #expect(try t.column("b")[1] == .string("y\r\nz"))
    }

    @Test func loneCarriageReturnsEndLines() throws {
        let t = try csv("a,b\r1,2\r3,4")
        #expect(t.rowCount == 2)
        #expect(try t.column("b")[1] == .int64(4))
    }

    @Test func raggedRowNamesLineAndCounts() {
        let e = dataError { _ = try csv("a,b,c\n1,2,3\n4,5\n6,7,8\n") }
        #expect(e == .raggedRow(file: "test.csv", line: 3, expected: 3, found: 2))
        #expect(e?.localizedDescription.contains("test.csv:3") == true)
    }

    @Test func raggedRowAfterMultilineFieldCountsPhysicalLines() {
        let e = dataError { _ = try csv("a,b\n1,\"x\ny\"\n2,3,4\n") }
        #expect(e == .raggedRow(file: "test.csv", line: 4, expected: 2, found: 3))
    }

    @Test func unterminatedQuoteNamesLineAndColumn() {
        let e = dataError { _ = try csv("a,b\n1,2\n3,\"open\n4,5\n") }
        #expect(e == .unterminatedQuote(file: "test.csv", line: 3, column: 2, columnName: "b"))
        #expect(e?.localizedDescription.contains("never closed") == true)
    }

    @Test func garbageAfterClosingQuoteIsAnError() {
        let e = dataError { _ = try csv("a,b\n1,\"x\"y\n") }
        #expect(
            e == .unexpectedCharacterAfterQuote(file: "test.csv", line: 2, column: 2, columnName: "b", character: "y"))
    }

    @Test func defaultMissingTokens() throws {
        let t = try csv("x,s\n1,a\nNA,NA\nNaN,null\nN/A,\n,\"\"\n5,\"NA\"\n")
        let x = try t.column("x")
        let s = try t.column("s")
        #expect(x.type == .int64)
        #expect(x.missingCount == 4)
        #expect(x[5] == .int64(5))
        // A quoted field is always a value: "" is the empty string and "NA" the text NA.
        #expect(s[1] == .missing && s[2] == .missing && s[3] == .missing)
        #expect(s[4] == .string(""))
        #expect(s[5] == .string("NA"))
    }

    @Test func configurableMissingTokens() throws {
        let t = try csv("x\n1\n-999\n3\n", CSVOptions(missingTokens: ["-999"]))
        #expect(try t.column("x").missingCount == 1)
        let u = try csv("x\n1\nNA\n", CSVOptions(missingTokens: [""]))
        #expect(try u.column("x").type == .string)  // NA is text now
    }

    @Test func typeInferenceTakesTheFirstLosslessType() throws {
        let t = try csv(
            """
            i,f,d,ts,b,s,zip,big,mixed_dates,allna
            1,1.5,2008-06-15,2008-06-15T10:30:00Z,true,x,02134,99999999999999999999,2008-06-15,
            -2,3,2009-01-31,2009-01-31 23:59:59.5,False,y,10001,1,06/15/2008,NA
            3,1e3,2010-12-01,2010-12-01,TRUE,3,00501,2,6/1/2010,

            """)
        #expect(try t.column("i").type == .int64)
        #expect(try t.column("f").type == .float64)
        #expect(try t.column("f")[2] == .float64(1000))
        #expect(try t.column("d").type == .date)
        #expect(try t.column("ts").type == .timestamp)
        #expect(try t.column("b").type == .bool)
        #expect(try t.column("s").type == .string)
        #expect(try t.column("zip").type == .string)  // leading zeros would be lost as a number
        #expect(try t.column("zip")[0] == .string("02134"))
        #expect(try t.column("big").type == .string)  // too large for int64, and a float would round it
        #expect(try t.column("mixed_dates").type == .date)
        let mixed = try t.column("mixed_dates")
        #expect(mixed[0] == mixed[1])
        #expect(try t.column("allna").type == .float64)
        #expect(try t.column("allna").missingCount == 3)
        let ts = try t.column("ts")
        #expect(
            ts[0]
                == .timestamp(
                    CalendarDate.days(year: 2008, month: 6, day: 15)! * CalendarDate.microsecondsPerDay + 37_800_000_000
                ))
        #expect(ts[1].description == "2009-01-31T23:59:59.500000Z")
    }

    @Test func columnTypeOverrides() throws {
        let t = try csv("zip,n\n02134,1\n10001,2\n", CSVOptions(columnTypes: ["zip": .int64, "n": .string]))
        #expect(try t.column("zip")[0] == .int64(2134))
        #expect(try t.column("n")[1] == .string("2"))
        let e = dataError { _ = try csv("a,b\n1,2\n3,x\n", CSVOptions(columnTypes: ["b": .float64])) }
        #expect(
            e == .invalidValue(file: "test.csv", line: 3, column: 2, columnName: "b", value: "x", expected: .float64))
        let unknown = dataError { _ = try csv("a\n1\n", CSVOptions(columnTypes: ["nope": .int64])) }
        #expect(unknown == .columnNotFound(name: "nope", available: ["a"]))
    }

    @Test func emptyAndHeaderOnlyFiles() throws {
        #expect(dataError { _ = try csv("") } == .emptyFile(path: "test.csv"))
        let headerOnly = try csv("a,b,c\n")
        #expect(headerOnly.rowCount == 0)
        #expect(headerOnly.columnNames == ["a", "b", "c"])
        let noNewline = try csv("a,b")
        #expect(noNewline.columnCount == 2 && noNewline.rowCount == 0)
    }

    @Test func hugeFieldIsReadWhole() throws {
        let big = String(repeating: "x,\"y\"", count: 200_000)  // 1 MB with delimiters and quotes inside
        let escaped = big.replacingOccurrences(of: "\"", with: "\"\"")
        let t = try csv("id,blob\n1,\"\(escaped)\"\n2,small\n")
        #expect(try t.column("blob")[0] == .string(big))
        #expect(try t.column("id")[1] == .int64(2))
    }

    @Test func blankLinesAreSkippedAndNamesMadeUnique() throws {
        let t = try csv("a,a,\n\n1,2,3\n\n4,5,6\n")
        #expect(t.columnNames == ["a", "a.1", "column_3"])
        #expect(t.rowCount == 2)
    }

    @Test func otherDelimitersAndNoHeader() throws {
        let t = try csv("1;2,5\n3;4\n", CSVOptions(delimiter: ";", hasHeader: false))
        #expect(t.columnNames == ["column_1", "column_2"])
        #expect(try t.column("column_2")[0] == .string("2,5"))
        #expect(dataError { _ = try csv("a\n1\n", CSVOptions(delimiter: "\"")) } != nil)
    }

    @Test func parallelParseMatchesSequentialParse() throws {
        // Large enough to be split into chunks; strings recur across chunks to exercise the dictionary merge.
        var text = "id,x,name,when,flag,note\n"
        var rng = SeededGenerator(seed: 7)
        for i in 0..<60_000 {
            let x = rng.next(upperBound: 10) == 0 ? "" : String(Double(rng.next(upperBound: 1_000_000)) / 100)
            let name = "city_\(rng.next(upperBound: 300))"
            let when = "20\(10 + rng.next(upperBound: 10))-0\(1 + rng.next(upperBound: 9))-1\(rng.next(upperBound: 9))"
            let note = rng.next(upperBound: 50) == 0 ? "\"multi\nline, \"\"quoted\"\"\"" : "n\(i % 7)"
            text += "\(i),\(x),\(name),\(when),\(i % 3 == 0),\(note)\n"
        }
        let one = try csv(text, CSVOptions(threads: 1))
        let two = try csv(text, CSVOptions(threads: 2))
        #expect(one.rowCount == 60_000)
        #expect(one.schema.map(\.type) == [.int64, .float64, .string, .date, .bool, .string])
        #expect(one.fingerprint() == two.fingerprint())
        #expect(try one.column("note").missingCount == 0)
    }

    @Test func typesAreInferredFromEveryRowNotJustTheFirstOnes() throws {
        // The reader guesses from the first rows and must fall back when a later value does not fit.
        let n = CSVParser.inferenceSampleRows + 5_000
        var text = "late_float,late_text,late_zero,late_giant,empty_then_int,empty_then_text,steady\n"
        for i in 0..<n {
            let last = i == n - 1
            text +=
                [
                    last ? "2.5" : "\(i)", last ? "x" : "\(i)", last ? "007" : "\(i)",
                    last ? "99999999999999999999" : "\(i).5",
                    i < n - 10 ? "" : "\(i)", i < n - 10 ? "" : "t\(i)", "\(i)",
                ].joined(separator: ",") + "\n"
        }
        let t = try csv(text)
        #expect(t.schema.map(\.type) == [.float64, .string, .string, .string, .int64, .string, .int64])
        #expect(try t.column("late_float")[n - 1] == .float64(2.5))
        #expect(try t.column("late_float")[3] == .float64(3))
        #expect(try t.column("late_zero")[n - 1] == .string("007"))
        #expect(try t.column("late_giant")[n - 1] == .string("99999999999999999999"))
        #expect(try t.column("empty_then_int")[n - 1] == .int64(Int64(n - 1)))
        #expect(try t.column("empty_then_int").missingCount == n - 10)
        // The same text read with one thread and no sampling shortcut gives the same table.
        #expect(try csv(text, CSVOptions(threads: 1)).fingerprint() == t.fingerprint())
    }

    @Test func errorsFromLaterChunksReportTheirLine() {
        var text = "a,b\n"
        for i in 0..<50_000 { text += "\(i),\(i)\n" }
        text += "1,2,3\n"
        let e = dataError { _ = try csv(text, CSVOptions(threads: 2)) }
        #expect(e == .raggedRow(file: "test.csv", line: 50_002, expected: 2, found: 3))
    }

    @Test func missingFileIsAClearError() {
        let e = dataError { _ = try CSVReader.read(path: "/nonexistent/data.csv") }
        #expect(e == .fileNotFound(path: "/nonexistent/data.csv"))
    }
}

@Suite struct CSVWriterTests {
    @Test func roundTripKeepsValuesAndTypes() throws {
        let t = try Table(columns: [
            Column(name: "i", ints: [1, nil, -3]),
            Column(name: "f", doubles: [0.1, 1e300, nil]),
            Column(name: "s", strings: ["plain", "a, \"b\"\nc", ""]),
            Column(name: "t", strings: ["NA", " padded ", nil]),
            Column(name: "b", bools: [true, false, nil]),
            Column(name: "d", storage: .date([0, 14_000, -1]), validity: [true, true, false]),
            Column(name: "ts", storage: .timestamp([1_500_000_000_123_456, 0, 86_400_000_000]), validity: nil),
        ])
        let text = CSVWriter.string(t)
        let back = try csv(text)
        #expect(back.schema.map(\.type) == t.schema.map(\.type))
        #expect(back.fingerprint() == t.fingerprint())
        #expect(try back.column("t")[0] == .string("NA"))
        #expect(try back.column("s")[2] == .string(""))
    }

    @Test func amesRoundTripsThroughWriterAndReader() throws {
        guard let path = sharedData("ames.csv") else { return }
        let t = try CSVReader.read(path: path)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("ames.csv").path
        try CSVWriter.write(t, to: out)
        let back = try CSVReader.read(path: out)
        #expect(back.fingerprint() == t.fingerprint())
    }
}

@Suite struct AtomicFileTests {
    @Test func replacesRegularFilesAndLeavesDevicesAlone() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-atomic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("out.txt").path
        try AtomicFile.write(Data("one".utf8), to: path)
        try AtomicFile.write(Data("two".utf8), to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "two")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["out.txt"])  // no temp file left
        // Writing to /dev/null must keep it a character device (a rename would replace it with a plain file).
        try AtomicFile.write(Data("x".utf8), to: "/dev/null")
        var st = stat()
        #expect(stat("/dev/null", &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR)
        #expect(dataError { try AtomicFile.write(Data(), to: "/nonexistent-dir/x.csv") } != nil)
    }
}

/// A file from ../shared/data, or nil (with a note) where it is absent.
func sharedData(_ name: String) -> String? {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let path = root.deletingLastPathComponent().appendingPathComponent("shared/data/\(name)").path
    if FileManager.default.fileExists(atPath: path) { return path }
    let bundled = root.appendingPathComponent("examples/house-prices/\(name)").path
    if FileManager.default.fileExists(atPath: bundled) { return bundled }
    print("skipping: \(name) is not in ../shared/data or examples/")
    return nil
}

@Suite struct CSVBlockTests {
    /// Writes text to a temporary file.
    func file(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "blocks-\(UUID().uuidString).csv"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func blocksTogetherEqualTheWholeFile() throws {
        // Quoted line breaks, doubled quotes, CRLF and a quote inside an unquoted field, at every block size.
        var text = "\u{FEFF}id,note,value\r\n"
        for i in 0..<50 {
            let note = i % 4 == 0 ? "\"two\nlines, \"\"q\"\"\"" : (i % 4 == 1 ? "5\" tall" : "plain \(i)")
            text += "\(i),\(note),\(Double(i) * 1.5)\r\n"
        }
        let path = try file(text)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let whole = try CSVReader.read(path: path)
        for size in [1, 7, 64, 333, 1 << 20] {
            var rows = 0
            var ids = [String]()
            var notes = [String]()
            try CSVReader.forEachBlock(
                path: path, options: CSVOptions(columnTypes: ["id": .int64, "note": .string, "value": .float64]),
                blockBytes: size
            ) { block, firstRow in
                #expect(firstRow == rows)
                #expect(block.columnNames == ["id", "note", "value"])
                rows += block.rowCount
                ids += (0..<block.rowCount).map { block["id"]![$0].description }
                notes += (0..<block.rowCount).map { block["note"]![$0].description }
            }
            #expect(rows == 50)
            #expect(ids == (0..<50).map { whole["id"]![$0].description })
            #expect(notes == (0..<50).map { whole["note"]![$0].description })
        }
        #expect(try CSVReader.columnNames(path: path) == ["id", "note", "value"])
    }

    @Test func anErrorInALaterBlockNamesTheFilesLine() throws {
        var text = "a,b\n"
        for i in 0..<30 { text += "\(i),\(i)\n" }
        text += "x,31\n"  // line 32
        let path = try file(text)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = dataError {
            try CSVReader.forEachBlock(path: path, options: CSVOptions(columnTypes: ["a": .int64]), blockBytes: 16) {
                _, _ in
            }
        }
        #expect(error?.localizedDescription.contains(".csv:32: column 1 (a)") == true, "\(String(describing: error))")
    }
}
