import Foundation
import Testing

@testable import MLCycleData

@Suite struct TableTests {
    let sales = try! Table(columns: [
        Column(name: "city", strings: ["Ames", "Boone", "Ames", nil, "Boone", "Ames"]),
        Column(name: "kind", strings: ["house", "flat", "flat", "house", "flat", "house"]),
        Column(name: "price", doubles: [200, 120, nil, 90, 150, 260]),
        Column(name: "rooms", ints: [5, 2, 3, 4, nil, 6]),
    ])

    @Test func constructionChecksLengthsAndNames() {
        #expect(
            dataError { _ = try Table(columns: [Column(name: "a", ints: [1]), Column(name: "b", ints: [1, 2])]) }
                == .lengthMismatch(column: "b", expected: 1, found: 2))
        #expect(
            dataError { _ = try Table(columns: [Column(name: "a", ints: [1]), Column(name: "a", ints: [2])]) }
                == .duplicateColumn(name: "a"))
        let e = dataError { _ = try sales.column("Price") }
        #expect(e?.localizedDescription.contains("did you mean price") == true)
    }

    @Test func filterTakeSliceSelect() throws {
        let expensive = try sales.filtered([true, false, false, false, true, true])
        #expect(expensive.rowCount == 3)
        #expect(try expensive.column("price")[2] == .float64(260))
        let taken = sales.taking([5, 0])
        #expect(try taken.column("rooms")[0] == .int64(6))
        #expect(sales.slice(4..<100).rowCount == 2)
        #expect(try sales.selecting(["rooms", "city"]).columnNames == ["rooms", "city"])
        #expect(try sales.dropping(["kind"]).columnCount == 3)
        #expect(dataError { _ = try sales.filtered([true]) } != nil)
    }

    @Test func sortIsStableWithMissingLast() throws {
        let byPrice = try sales.sorted(by: [SortKey("price")])
        #expect(try byPrice.column("price").validDoubles() == [90, 120, 150, 200, 260])
        #expect(try byPrice.column("price")[5] == .missing)
        let desc = try sales.sorted(by: [SortKey("city"), SortKey("rooms", ascending: false)])
        #expect(try desc.column("city")[0] == .string("Ames"))
        #expect(try desc.column("rooms")[0] == .int64(6))
        #expect(try desc.column("rooms")[2] == .int64(3))
        #expect(try desc.column("city")[5] == .missing)
        // Boone rows: rooms 2 and missing; missing stays last even in descending order.
        #expect(try desc.column("rooms")[4] == .missing)
    }

    @Test func samplingIsReproducible() throws {
        let a = try sales.sample(count: 4, seed: 42)
        let b = try sales.sample(count: 4, seed: 42)
        let c = try sales.sample(count: 4, seed: 43)
        #expect(a.fingerprint() == b.fingerprint())
        #expect(Set(a.row(0).map(\.description) + a.row(1).map(\.description)).count > 1)
        #expect(a.fingerprint() != c.fingerprint() || a.rowCount == 0)
        #expect(try sales.sample(fraction: 0.5, seed: 1).rowCount == 3)
        #expect(try sales.sample(count: 20, seed: 1, replace: true).rowCount == 20)
        #expect(dataError { _ = try sales.sample(count: 7, seed: 1) } != nil)
        // Every row at most once without replacement.
        let all = try sales.sample(count: 6, seed: 9)
        #expect(Set((0..<6).map { all.row($0).map(\.description).joined(separator: "|") }).count == 6)
    }

    @Test func concatenationMergesDictionaries() throws {
        let other = try Table(columns: [
            Column(name: "kind", strings: ["castle"]),
            Column(name: "city", strings: ["Boone"]),
            Column(name: "price", doubles: [999]),
            Column(name: "rooms", ints: [40]),
        ])
        let all = try Table.concatenate([sales, other])
        #expect(all.rowCount == 7)
        #expect(all.columnNames == sales.columnNames)
        #expect(try all.column("kind")[6] == .string("castle"))
        #expect(try all.column("city")[6] == .string("Boone"))
        #expect(try all.column("price")[2] == .missing)
        let wrong = try Table(columns: [
            Column(name: "city", ints: [1]), Column(name: "kind", strings: ["x"]),
            Column(name: "price", doubles: [1]), Column(name: "rooms", ints: [1]),
        ])
        #expect(dataError { _ = try Table.concatenate([sales, wrong]) } != nil)
    }

    @Test func groupByAggregates() throws {
        let g = try sales.grouped(
            by: ["city"],
            aggregates: [
                Aggregate(.count), Aggregate(.count, "price"), Aggregate(.sum, "price"), Aggregate(.mean, "price"),
                Aggregate(.median, "price"), Aggregate(.min, "rooms"), Aggregate(.max, "rooms"),
                Aggregate(.sum, "rooms"),
            ])
        #expect(g.rowCount == 3)  // Ames, Boone, and the missing city
        #expect(try g.column("city")[0] == .string("Ames"))
        #expect(try g.column("count")[0] == .int64(3))
        #expect(try g.column("count_price")[0] == .int64(2))
        #expect(try g.column("sum_price")[0] == .float64(460))
        #expect(try g.column("mean_price")[1] == .float64(135))
        #expect(try g.column("median_price")[0] == .float64(230))
        #expect(try g.column("min_rooms")[0] == .int64(3))
        #expect(try g.column("max_rooms")[1] == .int64(2))
        #expect(try g.column("sum_rooms")[0] == .int64(14))
        #expect(try g.column("city")[2] == .missing)
        let two = try sales.grouped(by: ["city", "kind"], aggregates: [Aggregate(.count)])
        #expect(two.rowCount == 4)
        #expect(dataError { _ = try sales.grouped(by: ["city"], aggregates: [Aggregate(.mean, "kind")]) } != nil)
    }

    @Test func innerAndLeftJoinsOnSeveralKeys() throws {
        let info = try Table(columns: [
            Column(name: "town", strings: ["Ames", "Ames", "Boone", nil]),
            Column(name: "kind", strings: ["house", "flat", "flat", "house"]),
            Column(name: "tax", doubles: [1.5, 1.1, 0.9, 7]),
        ])
        let inner = try sales.joined(with: info, on: [("city", "town"), ("kind", "kind")], kind: .inner)
        #expect(inner.rowCount == 5)
        #expect(inner.columnNames == ["city", "kind", "price", "rooms", "town", "tax"])
        #expect(try inner.column("tax")[0] == .float64(1.5))
        #expect(try inner.column("tax")[1] == .float64(0.9))
        let left = try sales.joined(with: info, on: [("city", "town"), ("kind", "kind")], kind: .left)
        #expect(left.rowCount == 6)
        // The row with a missing city never matches, not even the missing town.
        #expect(try left.column("tax")[3] == .missing)
        let byName = try sales.joined(with: try info.selecting(["kind", "tax"]), on: ["kind"])
        #expect(byName.rowCount == 3 * 2 + 3 * 2)  // each sales row matches two info rows of its kind
        #expect(byName.columnNames == ["city", "kind", "price", "rooms", "tax"])
        #expect(dataError { _ = try sales.joined(with: info, on: [("rooms", "kind")]) } != nil)
    }

    @Test func duplicateRows() throws {
        let t = try csv("a,b\n1,x\n2,y\n1,x\n,z\n,z\n1,X\n")
        #expect(t.duplicateMask() == [false, false, true, false, true, false])
        #expect(t.duplicateRowCount() == 2)
    }
}

@Suite struct FingerprintTests {
    @Test func sha256MatchesStandardVectors() {
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(
            SHA256.hex(Array(repeating: UInt8(ascii: "a"), count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func fingerprintDependsOnContentNotOnFormatting() throws {
        let a = try csv("x,s\n1.0,a\n2,b\n")
        let b = try csv("\"x\",\"s\"\r\n1,\"a\"\r\n2.00,b")
        #expect(a.fingerprint() == b.fingerprint())
        let c = try csv("x,s\n1.0,a\n2,c\n")
        #expect(a.fingerprint() != c.fingerprint())
        let d = try csv("x,s\n2,b\n1.0,a\n")
        #expect(a.fingerprint() != d.fingerprint())
        let e = try csv("y,s\n1.0,a\n2,b\n")
        #expect(a.fingerprint() != e.fingerprint())
        #expect(a.fingerprint().count == 64)
    }
}

@Suite struct JSONLinesTests {
    @Test func readsTypesAndMissingKeys() throws {
        let t = try JSONLines.read(
            string: """
                {"id": 1, "price": 2.5, "name": "a \\"q\\" \\u00e9", "ok": true, "day": "2008-06-15", "tags": [1, {"x": 2}]}
                {"id": 2, "price": 3, "ok": false, "day": "2009-01-01", "extra": null}

                {"id": 3, "price": null, "name": "c", "ok": null, "day": null}
                """)
        #expect(t.rowCount == 3)
        #expect(t.columnNames == ["id", "price", "name", "ok", "day", "tags", "extra"])
        #expect(t.schema.map(\.type) == [.int64, .float64, .string, .bool, .date, .string, .float64])
        #expect(try t.column("name")[0] == .string("a \"q\" é"))
        #expect(try t.column("name")[1] == .missing)
        #expect(try t.column("tags")[0] == .string("[1, {\"x\": 2}]"))
        #expect(try t.column("price")[1] == .float64(3))
    }

    @Test func roundTripsThroughTheWriter() throws {
        let t = try csv("i,f,s,b,d\n1,0.5,\"x\ny\",true,2008-01-02\n,,,,\n3,-1e-7,\"q\"\"\",false,1969-12-31\n")
        let back = try JSONLines.read(string: JSONLines.string(t))
        #expect(back.fingerprint() == t.fingerprint())
    }

    @Test func errorsNameTheLine() {
        let e = dataError { _ = try JSONLines.read(string: "{\"a\": 1}\n{\"a\": }\n", name: "x.jsonl") }
        guard case .invalidJSON(let file, let line, let reason) = e else {
            Issue.record("expected invalidJSON, got \(String(describing: e))")
            return
        }
        #expect(file == "x.jsonl" && line == 2)
        #expect(reason.contains("character"))
        #expect(dataError { _ = try JSONLines.read(string: "[1,2]\n") } != nil)
        #expect(dataError { _ = try JSONLines.read(string: "{\"a\": 1, \"a\": 2}\n") } != nil)
        #expect(dataError { _ = try JSONLines.read(string: "{\"a\": 1} x\n") } != nil)
    }

    /// A lone high surrogate followed by another escape is an error naming the line, never a trap; so are lone
    /// surrogates of either kind. A proper pair decodes.
    @Test func badSurrogatesAreErrorsNotTraps() throws {
        for bad in [
            #"{"a":"\ud800\u0041"}"#, #"{"a":"\ud800\uffff"}"#, #"{"a":"\ud800"}"#, #"{"a":"\udc00"}"#,
            #"{"a":"\ud800x"}"#,
        ] {
            let e = dataError { _ = try JSONLines.read(string: "{\"a\": \"ok\"}\n" + bad + "\n", name: "s.jsonl") }
            guard case .invalidJSON(let file, let line, let reason) = e else {
                Issue.record("expected invalidJSON for \(bad), got \(String(describing: e))")
                continue
            }
            #expect(file == "s.jsonl" && line == 2 && reason.contains("surrogate"), "\(reason)")
            #expect(throws: (any Error).self) { _ = try JSONValue.parse(Data(bad.utf8)) }
        }
        let pair = try JSONLines.read(string: #"{"a":"\ud83c\udfe0"}"# + "\n")
        #expect(try pair.column("a")[0] == .string("🏠"))
        #expect(try JSONValue.parse(Data(#"{"a":"\ud83c\udfe0"}"#.utf8))["a"] == .string("🏠"))
    }

    /// A string holding bytes that are not UTF-8 (Latin-1 é, an overlong '/', a surrogate, a cut sequence) is an
    /// error (a request body; a JSON Lines file is checked by the CLI's tests); real UTF-8 reads (it was replaced by U+FFFD).
    @Test func stringsThatAreNotUTF8AreErrors() throws {
        for bad: [UInt8] in [[0xE9], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xE2, 0x82], [0xF4, 0x90, 0x80, 0x80]] {
            let body = Array(#"{"a":"x"#.utf8) + bad + Array(#"y"}"#.utf8)
            #expect(throws: (any Error).self) { _ = try JSONValue.parse(Data(body)) }
            let escaped = Array(#"{"a":"\n"#.utf8) + bad + Array(#""}"#.utf8)
            #expect(throws: (any Error).self) { _ = try JSONValue.parse(Data(escaped)) }
        }
        #expect(try JSONValue.parse(Data(#"{"a":"Café 🏠"}"#.utf8))["a"] == .string("Café 🏠"))
        for good in ["é", "€", "🏠", "\u{10FFFF}", "\u{D7FF}"] {
            let bytes = Array(good.utf8)
            #expect(
                bytes.withUnsafeBufferPointer { TextEncoding.firstInvalidUTF8($0.baseAddress!, count: $0.count) } == nil
            )
        }
    }

    /// One writer for both: JSON Lines keeps NaN and infinities as Python writes them (and reads them back); an
    /// HTTP answer writes them as null.
    @Test func nonFiniteNumbersFollowTheWritersPolicy() throws {
        let t = try Table(columns: [Column(name: "x", doubles: [.nan, .infinity, -.infinity, 1.5])])
        let text = JSONLines.string(t)
        #expect(text == "{\"x\":NaN}\n{\"x\":Infinity}\n{\"x\":-Infinity}\n{\"x\":1.5}\n")
        let back = try JSONLines.read(string: text).column("x").doubles() ?? []
        #expect(back.count == 4 && back[0].isNaN && back[1] == .infinity && back[2] == -.infinity && back[3] == 1.5)
        var http = JSONWriter()
        http.number(.nan)
        http.comma()
        http.number(.infinity)
        #expect(String(decoding: http.bytes, as: UTF8.self) == "null,null")
        #expect(throws: (any Error).self) { _ = try JSONValue.parse(Data("NaN".utf8)) }
    }
}

@Suite struct FieldParsingTests {
    @Test func doublesAreCorrectlyRounded() {
        var rng = SeededGenerator(seed: 3)
        let fixed = [
            "0.1", "1e-7", "-2.5E+10", "123456789012345678901234", "0.30000000000000004", "1.7976931348623157e308",
            "4.9e-324", ".5", "5.", "+3", "inf", "-Infinity", "2.2250738585072011e-308",
        ]
        var samples = fixed
        for _ in 0..<2000 {
            let mantissa = rng.next() >> UInt64(rng.next(upperBound: 60))
            let exponent = Int(rng.next(upperBound: 80)) - 40
            samples.append("\(mantissa)e\(exponent)")
            samples.append("\(Double(bitPattern: rng.next() & 0x7FEF_FFFF_FFFF_FFFF))")
        }
        for s in samples {
            let ours = FieldParsing.withBytes(s) { FieldParsing.parseDouble($0, $1) }
            let reference = Double(s) ?? (s.lowercased().hasSuffix("infinity") ? -Double.infinity : nil)
            #expect(ours == reference, "\(s)")
        }
        for bad in ["", "-", "1e", "1.2.3", "abc", "0x10", "NaN", "007", "1,5"] {
            #expect(FieldParsing.withBytes(bad) { FieldParsing.parseDouble($0, $1) } == nil, "\(bad)")
        }
    }

    @Test func datesAndTimestamps() {
        func date(_ s: String) -> Int64? { FieldParsing.withBytes(s) { FieldParsing.parseDate($0, $1) } }
        func ts(_ s: String) -> Int64? { FieldParsing.withBytes(s) { FieldParsing.parseTimestamp($0, $1) } }
        #expect(date("1970-01-01") == 0)
        #expect(date("2000-02-29") == 11_016)
        #expect(date("2001-02-29") == nil)
        #expect(date("12/31/1969") == -1)
        #expect(date("2/29/2000") == 11_016)
        #expect(date("31/12/2000") == nil)
        #expect(ts("1970-01-01T00:00:01Z") == 1_000_000)
        #expect(ts("1970-01-01 01:00:00+01:00") == 0)
        #expect(ts("1970-01-01T00:00:00.25") == 250_000)
        #expect(ts("1970-01-01T24:00:00") == nil)
        #expect(CalendarDate.isoString(days: 11_016) == "2000-02-29")
        #expect(CalendarDate.civil(days: -719_468).year == 0)
        #expect(CalendarDate.weekday(days: 0) == 3)  // Thursday
    }
}
