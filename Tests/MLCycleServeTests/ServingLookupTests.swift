import Foundation
import Hummingbird
import HummingbirdTesting
import MLCycleData
import MLCycleEvaluate
import MLCyclePrep
import MLCycleProject
import MLCycleStore
import Testing

@testable import MLCycleServe

/// The house project's three sources, trained small: a request carries what an agent knows about a listing, and
/// the model looks up the tax record and the neighbourhood itself, as training joined them.
@Suite(.serialized) struct ServingLookupTests {
    static let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/house-prices")

    /// What an agent's app sends: the listing's own fields.
    static let listingFields = [
        "address", "sale_date", "living_area_sqft", "bedrooms", "full_baths", "half_baths", "garage_cars",
        "fireplaces", "neighborhood", "sale_type", "sale_condition",
    ]

    /// The project trained (60 trees) and registered, and its champion's bundle; `tax` replaces the tax source.
    static func trained(tax: String? = nil) async throws -> (store: SQLiteStore, bundle: ModelBundle, dir: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-lookup-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: example.appendingPathComponent("sources"), to: dir.appendingPathComponent("sources"))
        var spec = try String(contentsOf: example.appendingPathComponent("mlcycle.yaml"), encoding: .utf8)
        if let tax {
            let block = try #require(spec.range(of: "  - name: tax\n"))
            let end = try #require(spec.range(of: "  - name: neighborhoods", range: block.upperBound..<spec.endIndex))
            spec.replaceSubrange(block.lowerBound..<end.lowerBound, with: tax)
        }
        // The example's sources and preparation, a small learner, gates any model passes.
        let sources = try #require(spec.range(of: "sources:")).lowerBound
        let validation = try #require(spec.range(of: "validation:")).lowerBound
        let preparation = try #require(spec.range(of: "preparation:")).lowerBound
        let split = try #require(spec.range(of: "split:")).lowerBound
        try """
        problem: {name: houses, task: regression, target: sale_price, required: [living_area_sqft, neighborhood, building_type]}
        \(spec[sources..<validation])
        \(spec[preparation..<split])
        split: {method: random, test: 0.2, seed: 42}
        candidates: [{name: gbdt, learner: gbdt, params: {n_estimators: 60}}]
        evaluation: {metric: mape, gates: ["mape <= 0.9"]}
        release: {auto_promote: true}
        """.write(to: dir.appendingPathComponent("mlcycle.yaml"), atomically: true, encoding: .utf8)
        let store = try SQLiteStore(directory: dir.appendingPathComponent(".mlcycle").path)
        _ = try await Runner(
            spec: try ProjectFile.load(path: dir.appendingPathComponent("mlcycle.yaml").path), directory: dir.path,
            store: store
        ).run()
        let version = try await ModelRegistry(store: store).resolve("houses")
        let bundle = try ModelBundle.decode(try await store.artifact(version.bundle))
        return (store, bundle, dir.path)
    }

    /// Two estimates alike to the last digit or two (one read back from JSON text), or both absent.
    static func sameEstimate(_ a: Double?, _ b: Double?) -> Bool {
        guard let a, let b else { return a == nil && b == nil }
        return abs(a - b) <= 1e-9 * abs(b)
    }

    /// Rows as the JSON `records` a client posts.
    static func records(_ table: Table) throws -> ByteBuffer {
        let rows = (0..<table.rowCount).map { r -> [String: Any] in
            var row = [String: Any]()
            for c in table.columns {
                switch c[r] {
                case .missing: row[c.name] = NSNull()
                case .int64(let v): row[c.name] = v
                case .float64(let v): row[c.name] = v
                case .bool(let v): row[c.name] = v
                case .string(let v): row[c.name] = v
                case .date, .timestamp: row[c.name] = c[r].description
                }
            }
            return row
        }
        return ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: ["records": rows]))
    }

    @Test func aListingIsAnsweredAsItsMergedRowLiveAndInABatch() async throws {
        let (store, bundle, dir) = try await Self.trained()
        #expect(bundle.requestSchema.map(\.name) == Self.listingFields)
        #expect(bundle.lineage.lookups?.keys.sorted() == ["neighborhoods", "tax"])
        let sales = try CSVReader.read(path: "\(dir)/sources/sales.csv").taking(Array(0..<200))
        let listings = try sales.selecting(Self.listingFields)
        // The merged rows, made by the table join (not the lookups) from the same listings.
        let sources = try #require(bundle.sources)
        var merged = try sources.entitySteps.transform(listings, serving: true).table
        for lookup in sources.lookups {
            merged = try merged.joined(with: lookup.records, on: lookup.keys.map { ($0.left, $0.right) }, kind: .left)
        }
        let mergedRows = merged
        let fromListings = try bundle.score(listings)
        let fromMerged = try bundle.score(merged: merged)
        #expect(fromListings.map(\.value) == fromMerged.map(\.value))
        #expect(fromListings.map(\.status) == fromMerged.map(\.status))
        #expect(fromListings.filter { $0.status == "ok" }.count > 150)

        // Live: the server answers the listings as it answers the merged rows.
        let server = ModelServer(catalog: ModelCatalog(store: store, models: [:]))
        let app = Application(router: server.router())
        try await app.test(.router) { client in
            var answers = [[Double?]]()
            for rows in [listings, mergedRows] {
                try await client.execute(uri: "/v1/models/houses/predict", method: .post, body: try Self.records(rows))
                {
                    r in
                    #expect(r.status == .ok)
                    let predictions = try #require(try object(r)["predictions"] as? [[String: Any]])
                    answers.append(predictions.map { $0["prediction"] as? Double })
                }
            }
            #expect(answers.count == 2 && answers[0] == answers[1])
            // Through JSON text and Foundation's number parsing: equal to the last digit or two.
            let direct = fromListings.map(\.value)
            let live = answers.first ?? []
            #expect(live.count == direct.count && zip(live, direct).allSatisfy(Self.sameEstimate))
            // The description separates what a client sends from what the model looks up.
            try await client.execute(uri: "/v1/models/houses", method: .get) { r in
                let o = try object(r)
                let inputs = try #require(o["inputs"] as? [[String: Any]]).compactMap { $0["name"] as? String }
                #expect(inputs == Self.listingFields)
                let lookedUp = try #require(o["looked_up"] as? [[String: Any]])
                #expect(
                    lookedUp.contains { $0["name"] as? String == "lot_area_sqft" && $0["source"] as? String == "tax" })
                #expect(
                    lookedUp.contains { $0["name"] as? String == "homes" && $0["source"] as? String == "neighborhoods" }
                )
            }
        }

        // A batch (`mlcycle predict` with the bundle file): the same estimates.
        let bundleFile = "\(dir)/bundle.json"
        try bundle.jsonData().write(to: URL(fileURLWithPath: bundleFile))
        try CSVWriter.write(listings, to: "\(dir)/listings.csv")
        let scorer = try await BatchScorer.load(bundleFile) { store }
        _ = try await scorer.score(file: "\(dir)/listings.csv", csvOptions: CSVOptions(), to: "\(dir)/scored.csv")
        let scored = try CSVReader.read(path: "\(dir)/scored.csv")
        let batch = try scored.column("prediction")
        #expect((0..<batch.count).map { batch[$0].doubleValue } == fromListings.map(\.value))
    }

    /// `mlcycle replay` sends the listings through a live server on its own clock: the logged answers are the
    /// batch's, and the log holds the completed rows (the looked-up columns monitoring and retraining read).
    @Test func replayedListingsAreAnsweredAsInABatchAndLoggedCompleted() async throws {
        let (store, bundle, dir) = try await Self.trained()
        let sales = try CSVReader.read(path: "\(dir)/sources/sales.csv").taking(Array(0..<100))
        let expected = try bundle.score(try sales.selecting(Self.listingFields))
        // A replay's time column holds dates: the listings' two date formats, parsed as training parses them.
        let dated = try PreparationPipeline.fit(
            [.parseDates(columns: ["sale_date"], formats: ["yyyy-MM-dd", "MM/dd/yyyy"])],
            on: try sales.selecting(Self.listingFields + ["sale_price"])
        ).1
        let log = PredictionLog(store: store)
        log.start()
        var server = ModelServer(catalog: ModelCatalog(store: store, models: [:]), log: log)
        server.replayClock = true
        let app = Application(router: server.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        let summary = try await app.test(.live) { client in
            let port = try #require(client.port)
            return try await Replay(
                server: try #require(URL(string: "http://127.0.0.1:\(port)")), model: "houses", table: dated,
                timeColumn: "sale_date", actualColumn: "sale_price", watcher: nil
            ).run()
        }
        log.stop()
        #expect(summary.rows == 100)
        let logged = try await store.predictions(model: "houses", since: nil, limit: 1_000)
        #expect(logged.count == 100)
        #expect(logged.compactMap(\.prediction).sorted() == expected.compactMap(\.prediction).sorted())
        #expect(logged.map(\.status).sorted() == expected.map(\.status).sorted())
        #expect(logged.allSatisfy { $0.inputs.contains("\"lot_area_sqft\"") && $0.inputs.contains("\"homes\"") })
    }

    @Test func aListingWithoutARecordOrWithASentValueSaysSo() async throws {
        let (store, bundle, dir) = try await Self.trained()
        let listing = try CSVReader.read(path: "\(dir)/sources/sales.csv").taking([0]).selecting(Self.listingFields)
        let record = try #require(try bundle.complete(listing).table["lot_area_sqft"]?[0].doubleValue)
        let server = ModelServer(catalog: ModelCatalog(store: store, models: [:]))
        let app = Application(router: server.router())
        try await app.test(.router) { client in
            // An agent who knows the lot area: the sent value is used, and the answer says so.
            let sent = try listing.setting(Column(name: "lot_area_sqft", ints: [Int64(record) + 2000]))
            try await client.execute(uri: "/v1/models/houses/predict", method: .post, body: try Self.records(sent)) {
                r in
                #expect(r.status == .ok)
                let answer = try #require((try object(r)["predictions"] as? [[String: Any]])?.first)
                let reasons = answer["reasons"] as? [String] ?? []
                #expect(
                    reasons.contains { $0.contains("lot_area_sqft") && $0.contains("was sent and used") }, "\(answer)")
            }
            // An address with no tax record: building_type (required by the problem) comes from the tax record, so
            // the row is unavailable, and the reasons say why.
            let unknown = try listing.setting(Column(name: "address", strings: ["1 Nowhere Lane"]))
            try await client.execute(uri: "/v1/models/houses/predict", method: .post, body: try Self.records(unknown)) {
                r in
                #expect(r.status == .ok)
                let answer = try #require((try object(r)["predictions"] as? [[String: Any]])?.first)
                #expect(answer["status"] as? String == "unavailable")
                let reasons = answer["reasons"] as? [String] ?? []
                #expect(reasons.contains("building_type is required and the row has none"), "\(answer)")
                #expect(reasons.contains { $0.hasPrefix("no tax record for address '1 nowhere lane'") }, "\(answer)")
            }
            // The same address, the building type sent: answered, the missing tax record named.
            let typed = try unknown.setting(Column(name: "building_type", strings: ["OneFam"]))
            try await client.execute(uri: "/v1/models/houses/predict", method: .post, body: try Self.records(typed)) {
                r in
                let answer = try #require((try object(r)["predictions"] as? [[String: Any]])?.first)
                #expect(answer["status"] as? String != "unavailable", "\(answer)")
                let reasons = answer["reasons"] as? [String] ?? []
                #expect(reasons.contains { $0.hasPrefix("no tax record for address '1 nowhere lane'") }, "\(answer)")
            }
            // An unknown column is still refused, naming what the model reads.
            let wrong = try listing.setting(Column(name: "lot_size", ints: [1]))
            try await client.execute(uri: "/v1/models/houses/predict", method: .post, body: try Self.records(wrong)) {
                #expect($0.status == .badRequest)
            }
        }
    }
}
