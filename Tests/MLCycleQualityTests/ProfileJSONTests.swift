import Foundation
import MLCycleData
import MLCycleQuality
import Testing

@Suite struct ProfileJSONTests {
    /// A profile's JSON, written column by column, is byte for byte what encoding the whole profile at once writes.
    @Test(arguments: [true, false]) func columnByColumnIsTheWholeProfilesJSON(pretty: Bool) throws {
        let table = try Table(columns: [
            Column(name: "price", doubles: [100, 250.5, nil, .infinity, 120]),
            Column(name: "rooms", ints: [2, 3, 3, 5, 2]),
            Column(name: "a \"quoted\"\nname", strings: ["x", "line\nbreak", "x", nil, "]"]),
            Column(name: "sold", storage: .date([13_000, 13_100, 13_200, 13_300, 13_400])),
            // All missing: its `top` is an empty array, which the encoder writes over a blank line.
            Column(name: "nothing", strings: [nil, nil, nil, nil, nil]),
        ])
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = JSONEncoder.nonFiniteAsStrings
        for options in [ProfileOptions(target: "price"), ProfileOptions()] {
            let profile = try Profiler.profile(table, options: options)
            let written = try profile.jsonData(pretty: pretty)
            #expect(written == (try encoder.encode(profile)), "\(String(decoding: written, as: UTF8.self))")
            let one = try Profiler.profile(Table(columns: [table.columns[1]]), options: ProfileOptions())
            #expect(try one.jsonData(pretty: pretty) == (try encoder.encode(one)))
        }
    }
}
