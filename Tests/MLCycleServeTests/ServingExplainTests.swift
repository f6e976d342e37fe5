import Foundation
import Hummingbird
import HummingbirdTesting
import MLCycleData
import MLCycleEvaluate
import MLCyclePrep
import Testing

@testable import MLCycleServe

/// `"explain": N` (or `?explain=N`) on a predict request: each answer carries the expected value and its N largest
/// contributions, per column the client sent or the model looked up.
@Suite struct ServingExplainTests {
    @Test func anAnswerSaysWhichColumnsMadeTheEstimate() async throws {
        let (store, bundle, dir) = try await ServingLookupTests.trained()
        let listings = try CSVReader.read(path: "\(dir)/sources/sales.csv").taking(Array(0..<20))
            .selecting(ServingLookupTests.listingFields)
        // Every column's contribution, plus the expected value, is the estimate.
        let completed = try bundle.complete(listings)
        let all = try bundle.explain(merged: completed.table)
        let scored = try bundle.score(completed)
        let inputs = Set(bundle.inputSchema.map(\.name))
        for (e, s) in zip(all, scored) {
            guard let value = s.value else { continue }  // an unavailable row (no living area)
            #expect(abs(e.expected + e.parts.map(\.contribution).reduce(0, +) - value) <= 1e-9 * value)
            #expect(e.output == nil && Set(e.parts.map(\.column)).isSubset(of: inputs))
        }
        // The looked-up lot area takes part, with the value the lookup found.
        let lot = try #require(all[0].parts.first { $0.column == "lot_area_sqft" })
        #expect(lot.value == completed.table["lot_area_sqft"]?[0] && lot.contribution != 0)

        let app = Application(router: ModelServer(catalog: ModelCatalog(store: store, models: [:])).router())
        try await app.test(.router) { client in
            let records = String(buffer: try ServingLookupTests.records(listings))
            try await client.execute(
                uri: "/v1/models/houses/predict", method: .post,
                body: ByteBuffer(string: "{\"explain\": 5, " + records.dropFirst())
            ) { r in
                #expect(r.status == .ok)
                let answers = try #require(try object(r)["predictions"] as? [[String: Any]])
                #expect(answers.count == 20)
                for (a, e) in zip(answers, all) {
                    // An unavailable row has no estimate to explain.
                    guard a["status"] as? String != "unavailable" else {
                        #expect(a["explanation"] == nil)
                        continue
                    }
                    let explanation = try #require(a["explanation"] as? [String: Any])
                    let parts = try #require(explanation["contributions"] as? [[String: Any]])
                    // The five largest, largest first, as the bundle explains the row.
                    #expect(parts.compactMap { $0["column"] as? String } == e.parts.prefix(5).map(\.column))
                    let sizes = parts.compactMap { ($0["contribution"] as? Double).map(abs) }
                    #expect(sizes.count == 5 && sizes == sizes.sorted(by: >))
                    #expect(
                        ServingLookupTests.sameEstimate(explanation["expected"] as? Double, e.expected)
                            && explanation["output"] == nil)
                }
            }
            // In the query; absent, no explanation; a bad count is a 400 naming the field.
            try await client.execute(
                uri: "/v1/models/houses/predict?explain=2", method: .post,
                body: try ServingLookupTests.records(listings.taking([0]))
            ) { r in
                let answer = try #require((try object(r)["predictions"] as? [[String: Any]])?.first)
                #expect(((answer["explanation"] as? [String: Any])?["contributions"] as? [Any])?.count == 2)
            }
            try await client.execute(
                uri: "/v1/models/houses/predict", method: .post,
                body: try ServingLookupTests.records(listings.taking([0]))
            ) { r in
                let answer = try #require((try object(r)["predictions"] as? [[String: Any]])?.first)
                #expect(answer["explanation"] == nil && answer["prediction"] != nil)
            }
            try await client.execute(
                uri: "/v1/models/houses/predict?explain=lots", method: .post,
                body: try ServingLookupTests.records(listings.taking([0]))
            ) { r in
                #expect(r.status == .badRequest)
                let error = try object(r)
                #expect(error["field"] as? String == "explain")
            }
        }
    }
}
