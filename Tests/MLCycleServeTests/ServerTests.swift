import Foundation
import Hummingbird
import HummingbirdTesting
import MLCycleData
import MLCycleEvaluate
import MLCycleMonitor
import MLCycleProject
import MLCycleStore
import MLCycleUI
import NIOFoundationEssentialsCompat
import Testing

@testable import MLCycleServe

/// A registered model to serve: price = 100 + 50 · size (± 2 %) for kinds a and b, scope `size between 1 and 10`.
func servedProject(
    release: String = "",
    problem: String = #"problem: {name: small, task: regression, target: price, scope: ["size between 1 and 10"]}"#,
    preparation: String = "[{drop: [id]}]"
) async throws -> (store: SQLiteStore, dir: String) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-serve-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    var rng = SeededGenerator(seed: 5)
    var csv = "id,size,kind,price\n"
    for i in 0..<300 {
        let size = 1 + Double(rng.next(upperBound: 900)) / 100
        let noise = 1 + (Double(rng.next(upperBound: 41)) - 20) / 1000
        csv += "\(i),\(size),\(i % 3 == 0 ? "a" : "b"),\(((100 + 50 * size) * noise * 100).rounded() / 100)\n"
    }
    try csv.write(toFile: "\(dir)/houses.csv", atomically: true, encoding: .utf8)
    try """
    \(problem)
    sources: [{name: houses, path: houses.csv}]
    preparation: \(preparation)       # requests need not send what training dropped
    split: {method: random, test: 0.25, seed: 1}
    candidates: [{name: gbdt, learner: gbdt, params: {n_estimators: 60}}]
    evaluation: {range: 0.9, gates: ["mape <= 0.5"]}
    \(release)
    """.write(toFile: "\(dir)/mlcycle.yaml", atomically: true, encoding: .utf8)
    let store = try SQLiteStore(directory: "\(dir)/.mlcycle")
    _ = try await Runner(spec: try ProjectFile.load(path: "\(dir)/mlcycle.yaml"), directory: dir, store: store).run()
    return (store, dir)
}

func body(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

func object(_ response: TestResponse) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
}

@Suite struct ServerTests {
    @Test func predictionsHealthModelsAndMetrics() async throws {
        let (store, _) = try await servedProject()
        let server = ModelServer(catalog: ModelCatalog(store: store, models: [:]))
        let app = Application(router: server.router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/openapi.json", method: .get) { r in
                let o = try object(r)
                let paths = try #require(o["paths"] as? [String: Any])
                for p in [
                    "/health", "/ready", "/metrics", "/v1/models", "/v1/models/{name}", "/v1/models/small/predict",
                    "/v1/feedback",
                ] {
                    #expect(paths[p] != nil, "the OpenAPI document lacks \(p)")
                }
            }
            try await client.execute(uri: "/ready", method: .get) { r in
                #expect(r.status == .ok)
                let o = try object(r)
                #expect(o["models"] as? [String] == ["small v1"])
            }
            try await client.execute(uri: "/v1/models/small", method: .get) { r in
                let o = try object(r)
                #expect(
                    o["version"] as? String == "v1"
                        && (o["inputs"] as? [[String: Any]])?.map { $0["name"] as? String } == ["id", "size", "kind"])
            }
            let records =
                #"{"records": [{"size": 5, "kind": "a"}, {"size": 8.5, "kind": "z"}, {"size": 40, "kind": "a"}]}"#
            try await client.execute(uri: "/v1/models/small/predict", method: .post, body: body(records)) { r in
                #expect(r.status == .ok)
                let predictions = try #require(try object(r)["predictions"] as? [[String: Any]])
                #expect(predictions.count == 3)
                let first = predictions[0]
                #expect(
                    first["status"] as? String == "ok" && first["model_version"] as? String == "v1"
                        && (first["id"] as? String)?.count == 36)
                #expect(abs((first["prediction"] as? Double ?? 0) - 350) < 25)
                let confidence = try #require(first["confidence"] as? Double)
                #expect(confidence > 0 && confidence <= 1 && first["warnings"] == nil)
                #expect(first["low_confidence"] as? Bool == (confidence < Confidence.low))
                // A category the training data never had: answered, its confidence cut to a fifth at most, and why.
                let unlike = try #require(predictions[1]["confidence"] as? Double)
                #expect(predictions[1]["status"] as? String == "ok" && unlike <= Confidence.unlikeTraining)
                #expect(predictions[1]["low_confidence"] as? Bool == (unlike < Confidence.low))
                #expect((predictions[1]["warnings"] as? [String])?.first == "kind 'z' was never seen in training")
                let range = try #require(first["range"] as? [Double])
                #expect(range[0] < 350 && range[1] > 350)
                // Outside the project's scope: answered for review, with the rule that it broke.
                #expect(predictions[2]["status"] as? String == "review" && predictions[2]["prediction"] is Double)
                #expect((predictions[2]["reasons"] as? [String])?.first?.contains("outside scope") == true)
            }
            // Columnar form and CSV give the same answers.
            try await client.execute(
                uri: "/v1/models/small/predict", method: .post,
                body: body(#"{"columns": ["size", "kind"], "data": [[5, "a"]]}"#)
            ) { r in
                let p = try #require(try object(r)["predictions"] as? [[String: Any]])
                #expect(abs((p[0]["prediction"] as? Double ?? 0) - 350) < 25)
            }
            var csvHeaders = HTTPFields()
            csvHeaders[.contentType] = "text/csv"
            try await client.execute(
                uri: "/v1/models/small/predict", method: .post, headers: csvHeaders, body: body("size,kind\n5,a\n")
            ) { r in
                #expect(r.status == .ok && r.headers[.contentType] == "text/csv")
                #expect(String(buffer: r.body).hasPrefix("id,prediction,lower,upper,confidence,status,model_version\n"))
            }
            try await client.execute(uri: "/metrics", method: .get) { r in
                let text = String(buffer: r.body)
                #expect(text.contains(#"mlcycle_requests_total{model="small",version="v1",code="200"} 3"#), "\(text)")
                #expect(text.contains(#"mlcycle_request_duration_seconds_count{model="small",version="v1"} 3"#))
            }
        }
    }

    @Test func inputsUnlikeTheTrainingDataAreFlagged() async throws {
        let (store, _) = try await servedProject()
        let v = try #require(try await store.modelVersion("small", version: 1))
        let bundle = try ModelBundle.decode(try await store.artifact(v.bundle))
        let novelty = bundle.novelty(try CSVReader.read(string: "size,kind\n5,a\n12.5,a\n0.2,q\n"))
        let warnings = novelty.warnings
        #expect(warnings[0].isEmpty)
        #expect(warnings[1].count == 1 && warnings[1][0].hasPrefix("size 12.5 is outside the training range 1"))
        #expect(warnings[2].count == 2 && warnings[2][1] == "kind 'q' was never seen in training")
        let f = Confidence.unlikeTraining
        #expect(novelty.factors == [1, f, f * f])
    }

    @Test func badRequestsAreClear4xxAndNeverCrash() async throws {
        let (store, _) = try await servedProject()
        var server = ModelServer(catalog: ModelCatalog(store: store, models: [:]))
        server.maxBodyBytes = 2000
        let app = Application(router: server.router())
        try await app.test(.router) { client in
            func expect(
                _ payload: String, _ status: HTTPResponse.Status, field: String? = nil, row: Int? = nil,
                contains text: String,
                sourceLocation: SourceLocation = #_sourceLocation
            ) async throws {
                try await client.execute(uri: "/v1/models/small/predict", method: .post, body: body(payload)) { r in
                    #expect(r.status == status, "\(payload) → \(r.status)", sourceLocation: sourceLocation)
                    let o = try object(r)
                    #expect((o["error"] as? String)?.contains(text) == true, "\(o)", sourceLocation: sourceLocation)
                    if let field { #expect(o["field"] as? String == field, sourceLocation: sourceLocation) }
                    if let row { #expect(o["row"] as? Int == row, sourceLocation: sourceLocation) }
                }
            }
            try await expect("not json", .badRequest, contains: "not valid JSON")
            try await expect(#"{"rows": []}"#, .badRequest, contains: "records")
            try await expect(
                #"{"records": [{"size": 5, "kind": "a", "colour": "red"}]}"#, .badRequest, field: "colour", row: 0,
                contains: "unknown column")
            try await expect(#"{"records": [{"kind": "a"}]}"#, .badRequest, field: "size", contains: "missing column")
            try await expect(
                #"{"records": [{"size": 5, "kind": "a"}, {"size": "five", "kind": "b"}]}"#, .badRequest, field: "size",
                row: 1, contains: "must be a number")
            try await expect(
                #"{"records": [{"size": true, "kind": "a"}]}"#, .badRequest, field: "size", row: 0,
                contains: "must be a number")
            try await expect(
                #"{"records": [{"size": 5, "kind": 3}]}"#, .badRequest, field: "kind", row: 0, contains: "must be text")
            try await expect(
                #"{"columns": ["size", "kind"], "data": [[5]]}"#, .badRequest, row: 0,
                contains: "has 1 values for 2 columns")
            try await expect(#"{"records": []}"#, .badRequest, contains: "no rows")
            try await expect(
                #"{"records": [\#(String(repeating: #"{"size": 5, "kind": "a"},"#, count: 100))]}"#, .contentTooLarge,
                contains: "larger than")
            try await client.execute(uri: "/v1/models/nothing/predict", method: .post, body: body("{}")) {
                #expect($0.status == .notFound)
            }
            // A missing value is not an error: the model handles it (or the row is reported unavailable).
            try await client.execute(
                uri: "/v1/models/small/predict", method: .post,
                body: body(#"{"records": [{"size": null, "kind": "a"}]}"#)
            ) { r in
                #expect(r.status == .ok)
            }
        }
    }

    @Test func aPromotionIsPickedUpWithoutARestart() async throws {
        let (store, dir) = try await servedProject()
        // Aliases are looked up again 0.2 s after the last look (1 s by default).
        let server = ModelServer(catalog: ModelCatalog(store: store, models: ["small": "champion"], aliasRefresh: 0.2))
        let app = Application(router: server.router())
        // A second version from another split, promoted (by another process, as `mlcycle promote` does) while the
        // server runs.
        let path = "\(dir)/mlcycle.yaml"
        try (try String(contentsOfFile: path, encoding: .utf8)).replacingOccurrences(of: "seed: 1}", with: "seed: 2}")
            .write(toFile: path, atomically: true, encoding: .utf8)
        try await app.test(.router) { client in
            let request = #"{"records": [{"size": 5, "kind": "a"}]}"#
            try await client.execute(uri: "/v1/models/small/predict", method: .post, body: body(request)) { r in
                let o = try object(r)
                #expect(((o["predictions"] as? [[String: Any]])?.first?["model_version"] as? String) == "v1")
            }
            _ = try await Runner(spec: try ProjectFile.load(path: path), directory: dir, store: store).run()
            try await store.setAlias(
                "small", alias: "champion", version: 2, actor: "test", action: "promote", reason: "hot swap")
            try await Task.sleep(for: .milliseconds(250))
            try await client.execute(uri: "/v1/models/small/predict", method: .post, body: body(request)) { r in
                let o = try object(r)
                #expect(((o["predictions"] as? [[String: Any]])?.first?["model_version"] as? String) == "v2")
            }
        }
    }

    /// MLflow's scoring protocol with the payloads its documentation gives (pyfunc scoring server, 2.x).
    @Test func mlflowScoringProtocol() async throws {
        let (store, _) = try await servedProject()
        let app = Application(router: ModelServer(catalog: ModelCatalog(store: store, models: [:])).router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/ping", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/version", method: .get) {
                #expect(String(buffer: $0.body).hasPrefix("mlcycle"))
            }
            for payload in [
                #"{"dataframe_split": {"columns": ["size", "kind"], "data": [[5, "a"], [8, "b"]]}}"#,
                #"{"dataframe_records": [{"size": 5, "kind": "a"}, {"size": 8, "kind": "b"}]}"#,
                #"{"instances": [{"size": 5, "kind": "a"}, {"size": 8, "kind": "b"}]}"#,
                #"{"inputs": {"size": [5, 8], "kind": ["a", "b"]}}"#,
            ] {
                try await client.execute(uri: "/invocations", method: .post, body: body(payload)) { r in
                    #expect(r.status == .ok, "\(payload)")
                    let o = try object(r)
                    let p = try #require(o["predictions"] as? [Double], "\(o)")
                    #expect(p.count == 2 && abs(p[0] - 350) < 25 && abs(p[1] - 500) < 30)
                }
            }
            var csv = HTTPFields()
            csv[.contentType] = "text/csv"
            try await client.execute(uri: "/invocations", method: .post, headers: csv, body: body("size,kind\n5,a\n")) {
                r in
                let o = try object(r)
                #expect((o["predictions"] as? [Double])?.count == 1)
            }
            try await client.execute(
                uri: "/invocations", method: .post,
                body: body(#"{"dataframe_split": {"columns": ["size"], "data": [["x"]]}}"#)
            ) { r in
                #expect(r.status == .badRequest)
            }
        }
    }

    /// The Open Inference Protocol v2 (KServe / Triton): health, metadata and columnar tensors.
    @Test func openInferenceProtocolV2() async throws {
        let (store, _) = try await servedProject()
        let app = Application(router: ModelServer(catalog: ModelCatalog(store: store, models: [:])).router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/v2/health/live", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v2/health/ready", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v2/models/small", method: .get) { r in
                let o = try object(r)
                #expect(
                    o["versions"] as? [String] == ["v1"]
                        && (o["inputs"] as? [[String: Any]])?.first?["datatype"] as? String == "INT64")
            }
            let infer =
                #"{"id": "42", "inputs": [{"name": "size", "shape": [2], "datatype": "FP64", "data": [5, 8]}, {"name": "kind", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]}]}"#
            try await client.execute(uri: "/v2/models/small/infer", method: .post, body: body(infer)) { r in
                #expect(r.status == .ok)
                let o = try object(r)
                #expect(o["id"] as? String == "42" && o["model_version"] as? String == "v1")
                let outputs = try #require(o["outputs"] as? [[String: Any]])
                let prediction = try #require(outputs.first { $0["name"] as? String == "prediction" })
                #expect((prediction["data"] as? [Double])?.count == 2 && prediction["shape"] as? [Int] == [2])
                #expect(outputs.contains { $0["name"] as? String == "range" && $0["shape"] as? [Int] == [2, 2] })
            }
            try await client.execute(
                uri: "/v2/models/small/infer", method: .post, body: body(#"{"inputs": [{"shape": [1]}]}"#)
            ) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/v2/models/none/ready", method: .get) { #expect($0.status == .notFound) }
        }
    }

    @Test func predictionsAreLoggedThroughABoundedQueueAndFeedbackIsRecorded() async throws {
        let (store, _) = try await servedProject()
        let log = PredictionLog(store: store, capacity: 3)
        let app = Application(router: ModelServer(catalog: ModelCatalog(store: store, models: [:]), log: log).router())
        try await app.test(.router) { client in
            let ids: [String] = try await client.execute(
                uri: "/v1/models/small/predict", method: .post,
                body: body(#"{"records": [{"size": 5, "kind": "a"}, {"size": 6, "kind": "b"}]}"#)
            ) { r in
                let o = try object(r)
                return (o["predictions"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            }
            #expect(ids.count == 2)
            // The queue holds 3: two more rows fit one, the other is dropped and counted — the request still succeeds.
            try await client.execute(
                uri: "/v1/models/small/predict", method: .post,
                body: body(#"{"records": [{"size": 7, "kind": "a"}, {"size": 8, "kind": "b"}]}"#)
            ) { #expect($0.status == .ok) }
            #expect(log.counts.queued == 3 && log.counts.dropped == 1)
            try await client.execute(uri: "/metrics", method: .get) { r in
                let text = String(buffer: r.body)
                #expect(
                    text.contains("mlcycle_prediction_log_queue_depth 3")
                        && text.contains("mlcycle_prediction_log_dropped_total 1"), "\(text)")
            }
            // A row still on its way to the store takes feedback already.
            try await client.execute(
                uri: "/v1/feedback", method: .post, body: body(#"{"prediction_id": "\#(ids[0])", "actual": 351.5}"#)
            ) { r in
                #expect(r.status == .ok)
            }
            log.flush()
            let logged = try await store.predictions(model: "small", since: nil, limit: 10)
            #expect(logged.count == 3 && Set(ids).isSubset(of: Set(logged.map(\.id))))
            #expect(logged.first?.version == "v1" && logged.first?.inputs.contains("\"size\":5") == true)
            let other = try #require(logged.map(\.id).first { !ids.contains($0) })
            // Feedback, one and a batch (an agent's override too, and the older `source` name), joins back by id.
            try await client.execute(
                uri: "/v1/feedback", method: .post,
                body: body(
                    #"{"feedback": [{"prediction_id": "\#(ids[1])", "kind": "override", "value": 410}, {"prediction_id": "\#(other)", "actual": 9, "source": "override"}]}"#
                )
            ) { #expect($0.status == .ok) }
            var feedback = try await store.feedback(predictionIDs: ids + [other])
            #expect(
                feedback.map(\.value) == ["351.5", "410.0", "9.0"]
                    && feedback.map(\.kind) == [.actual, .override, .override],
                "\(feedback)")
            // A repeated actual replaces the earlier one; both stay in the store.
            try await client.execute(
                uri: "/v1/feedback", method: .post, body: body(#"{"prediction_id": "\#(ids[0])", "actual": 360}"#)
            ) { r in
                #expect(r.status == .ok)
                let o = try object(r)
                #expect(o["replaced"] as? Int == 1)
            }
            feedback = try await store.feedback(predictionIDs: [ids[0]])
            #expect(feedback.map(\.value) == ["351.5", "360.0"])
            #expect(try await store.latestActuals(for: logged.filter { $0.id == ids[0] }) == [ids[0]: "360.0"])
            // Overrides are not actuals.
            #expect(try await store.latestActuals(for: logged.filter { $0.id == ids[1] }).isEmpty)
            // An id the server never answered: 404 naming it, and nothing of the batch is kept.
            try await client.execute(
                uri: "/v1/feedback", method: .post,
                body: body(
                    #"{"feedback": [{"prediction_id": "\#(other)", "actual": 1}, {"prediction_id": "made-up", "actual": 2}]}"#
                )
            ) { r in
                #expect(r.status == .notFound)
                let o = try object(r)
                #expect((o["error"] as? String)?.contains("'made-up'") == true && o["row"] as? Int == 1, "\(o)")
            }
            #expect(try await store.feedback(predictionIDs: [other]).count == 1)
            try await client.execute(uri: "/v1/feedback", method: .post, body: body(#"{"actual": 3}"#)) { r in
                #expect(r.status == .badRequest)
                let o = try object(r)
                #expect(o["field"] as? String == "prediction_id")
            }
            try await client.execute(
                uri: "/v1/feedback", method: .post,
                body: body(#"{"prediction_id": "x", "actual": 3, "source": "guess"}"#)
            ) { #expect($0.status == .badRequest) }
        }
    }

    /// A champion (v1) and a challenger (v2) of the same project, served under its release policy.
    func championAndChallenger(_ release: String) async throws -> SQLiteStore {
        let (store, dir) = try await servedProject(release: release)
        let path = "\(dir)/mlcycle.yaml"
        try (try String(contentsOfFile: path, encoding: .utf8)).replacingOccurrences(of: "seed: 1}", with: "seed: 2}")
            .write(toFile: path, atomically: true, encoding: .utf8)
        _ = try await Runner(spec: try ProjectFile.load(path: path), directory: dir, store: store).run()
        #expect(try await store.aliases("small") == ["champion": 1, "challenger": 2])
        return store
    }

    @Test func aCanaryGetsItsShareStickyByKey() async throws {
        let store = try await championAndChallenger("release: {canary: 30%}")
        let app = Application(router: ModelServer(catalog: ModelCatalog(store: store, models: [:])).router())
        try await app.test(.router) { client in
            var challenger = 0
            let n = 1000
            for _ in 0..<n {
                try await client.execute(
                    uri: "/v1/models/small/predict", method: .post,
                    body: body(#"{"records": [{"size": 5, "kind": "a"}]}"#)
                ) { r in
                    let o = try object(r)
                    if o["model_version"] as? String == "v2" { challenger += 1 }
                }
            }
            // 30 % of 1000: the standard deviation is 14.5 requests; 5 of them either way is the tolerance.
            #expect(abs(Double(challenger) / Double(n) - 0.3) < 0.0725, "challenger answered \(challenger) of \(n)")
            // A request key always lands on the same side.
            var versions = Set<String>()
            for _ in 0..<20 {
                try await client.execute(
                    uri: "/v1/models/small/predict?key=customer-17", method: .post,
                    body: body(#"{"records": [{"size": 5, "kind": "a"}]}"#)
                ) { r in
                    let o = try object(r)
                    versions.insert(o["model_version"] as? String ?? "")
                }
            }
            #expect(versions.count == 1)
        }
    }

    @Test func aShadowScoresInTheBackgroundAndIsNeverReturned() async throws {
        let store = try await championAndChallenger("release: {shadow: true}")
        let log = PredictionLog(store: store)
        let app = Application(router: ModelServer(catalog: ModelCatalog(store: store, models: [:]), log: log).router())
        let ids: [String] = try await app.test(.router) { client in
            var ids = [String]()
            for _ in 0..<5 {
                try await client.execute(
                    uri: "/v1/models/small/predict", method: .post,
                    body: body(#"{"records": [{"size": 5, "kind": "a"}]}"#)
                ) { r in
                    let o = try object(r)
                    #expect(o["model_version"] as? String == "v1")  // the champion always answers
                    ids += (o["predictions"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                }
            }
            return ids
        }
        // The shadow's scores arrive in the log shortly after, under the same ids.
        var shadows = [PredictionRecord]()
        for _ in 0..<100 where shadows.count < 5 {
            try await Task.sleep(for: .milliseconds(20))
            log.flush()
            shadows = try await store.predictions(model: "small", since: nil, limit: 100).filter {
                $0.status == "shadow"
            }
        }
        #expect(shadows.count == 5 && shadows.allSatisfy { $0.version == "v2" })
        #expect(Set(shadows.map { String($0.id.dropLast("-shadow".count)) }) == Set(ids))
    }

    /// With a canary and a shadow, the version that does not answer a request scores a copy: every request pairs
    /// the two versions, whichever answered. The model's description names the release.
    @Test func withACanaryAndAShadowEveryRequestPairsBothVersions() async throws {
        let store = try await championAndChallenger("release: {canary: 50%, shadow: true}")
        let log = PredictionLog(store: store)
        let app = Application(router: ModelServer(catalog: ModelCatalog(store: store, models: [:]), log: log).router())
        let answered: [String: String] = try await app.test(.router) { client in
            try await client.execute(uri: "/v1/models/small", method: .get) { r in
                let release = try object(r)["release"] as? [String: Any]
                #expect(release?["challenger"] as? String == "v2" && release?["share"] as? Double == 0.5)
                #expect(release?["shadow"] as? Bool == true)
            }
            var answered = [String: String]()
            for i in 0..<40 {
                try await client.execute(
                    uri: "/v1/models/small/predict?key=k\(i)", method: .post,
                    body: body(#"{"records": [{"size": 5, "kind": "a"}]}"#)
                ) { r in
                    let o = try object(r)
                    for p in o["predictions"] as? [[String: Any]] ?? [] {
                        answered[p["id"] as? String ?? ""] = o["model_version"] as? String
                    }
                }
            }
            return answered
        }
        #expect(Set(answered.values) == ["v1", "v2"], "both versions answer a share")
        var shadows = [String: String]()
        for _ in 0..<100 where shadows.count < answered.count {
            try await Task.sleep(for: .milliseconds(20))
            log.flush()
            for r in try await store.predictions(model: "small", since: nil, limit: 1000) where r.status == "shadow" {
                shadows[String(r.id.dropLast("-shadow".count))] = r.version
            }
        }
        #expect(Set(shadows.keys) == Set(answered.keys))
        #expect(answered.allSatisfy { id, version in shadows[id] != nil && shadows[id] != version })
    }

    @Test func adminPromoteAndRollbackUnderLoadDropNoRequest() async throws {
        let store = try await championAndChallenger("")
        var server = ModelServer(catalog: ModelCatalog(store: store, models: [:]))
        server.tokens.admin = "s3cret"
        let app = Application(router: server.router())
        try await app.test(.router) { client in
            // Without the token, or with a wrong one: 401. Predictions need none (no predict token set).
            try await client.execute(
                uri: "/v1/admin/models/small/promote", method: .post, body: body(#"{"version": 2}"#)
            ) { #expect($0.status == .unauthorized) }
            var wrong = HTTPFields()
            wrong[.authorization] = "Bearer s3cre"
            try await client.execute(
                uri: "/v1/admin/models/small/promote", method: .post, headers: wrong, body: body(#"{"version": 2}"#)
            ) { #expect($0.status == .unauthorized) }
            var authorization = HTTPFields()
            authorization[.authorization] = "Bearer s3cret"
            let auth = authorization
            // Requests keep flowing on four workers while the champion moves back and forth.
            let failures = try await withThrowingTaskGroup(of: (Int, Set<String>).self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        var failed = 0
                        var versions = Set<String>()
                        for _ in 0..<60 {
                            try await client.execute(
                                uri: "/v1/models/small/predict", method: .post,
                                body: body(#"{"records": [{"size": 5, "kind": "a"}]}"#)
                            ) { r in
                                if r.status != .ok { failed += 1 }
                                let o = try object(r)
                                versions.insert(o["model_version"] as? String ?? "?")
                            }
                        }
                        return (failed, versions)
                    }
                }
                group.addTask {
                    for i in 0..<6 {
                        let path = i % 2 == 0 ? "promote" : "rollback"
                        try await client.execute(
                            uri: "/v1/admin/models/small/\(path)", method: .post, headers: auth,
                            body: body(#"{"version": 2, "reason": "load test"}"#)
                        ) { #expect($0.status == .ok) }
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    return (0, [])
                }
                var failed = 0
                var seen = Set<String>()
                for try await (f, v) in group {
                    failed += f
                    seen.formUnion(v)
                }
                return (failed, seen)
            }
            #expect(failures.0 == 0)
            #expect(failures.1.isSubset(of: ["v1", "v2"]) && !failures.1.isEmpty)
            // Six champion moves; the first rollback also takes v2 off trial (it was the challenger).
            let moves = try await store.audit(model: "small").filter { $0.reason == "load test" }
            #expect(
                moves.filter { $0.alias == "champion" }.count == 6, "\(moves.map { "\($0.action) \($0.alias ?? "")" })")
            #expect(moves.filter { $0.alias == "challenger" }.count <= 1)
            try await client.execute(
                uri: "/v1/admin/models/small/promote", method: .post, headers: auth, body: body(#"{"version": 9}"#)
            ) { #expect($0.status == .notFound) }
        }
    }
}

@Suite struct JSONValueTests {
    /// The request parser reads what Foundation reads, with the same numbers and strings.
    @Test func agreesWithFoundation() throws {
        let texts = [
            #"{"a": 1, "b": -2.5e3, "c": "x\"y\\z\n\u00e9\ud83d\ude00", "d": [true, false, null], "e": {}, "f": []}"#,
            #"[0, -0, 1e-7, 123456789012345678, 0.1, 1.7976931348623157e308, 9007199254740993]"#,
            #"  {"records": [{"size": 5, "kind": "a"}, {"size": null, "kind": "caf\u00e9"}]}  "#,
        ]
        func same(_ v: JSONValue, _ f: Any) -> Bool {
            switch v {
            case .null: return f is NSNull
            case .bool(let b): return (f as? NSNumber).map { foundationBool($0) && $0.boolValue == b } ?? false
            case .number(let d): return (f as? NSNumber).map { !foundationBool($0) && $0.doubleValue == d } ?? false
            case .string(let s): return f as? String == s
            case .array(let a): return (f as? [Any]).map { $0.count == a.count && zip(a, $0).allSatisfy(same) } ?? false
            case .object(let o):
                guard let d = f as? [String: Any], d.count == o.count else { return false }
                return o.allSatisfy { k, v in d[k].map { same(v, $0) } ?? false }
            }
        }
        for text in texts {
            let ours = try JSONValue.parse(Data(text.utf8))
            let theirs = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
            #expect(same(ours, theirs), "\(text)")
        }
    }

    @Test func malformedJSONIsAnErrorThatSaysWhere() {
        for text in [
            "", "{", #"{"a" 1}"#, "[1,]", "01", "1.", "-", #""abc"#, "tru", #"{"a": 1} x"#, "\"a\u{1}\"", #""\x""#,
            #""\ud800\u0041""#,
        ] {
            #expect(throws: (any Error).self, "\(text)") { try JSONValue.parse(Data(text.utf8)) }
        }
        #expect((try? JSONValue.parse(Data("[1, 2".utf8))) == nil)
        do { _ = try JSONValue.parse(Data(#"{"a": tru}"#.utf8)) } catch {
            #expect(error.localizedDescription.contains("at byte 6"))
        }
    }
}

@Suite struct MonitoringPassTests {
    /// Serve, log, send feedback, then one monitoring pass: windows, drift and a fired alert — stored with its numbers,
    /// its failed webhook delivery recorded, and quiet within its cool-down.
    @Test func servedPredictionsAreMonitoredAndAlertsStored() async throws {
        let (store, dir) = try await servedProject(
            release: """
                monitoring:
                  window: 1h
                  webhook: http://127.0.0.1:9/alerts
                  alerts:
                    - {name: accuracy-drop, when: "mape > 0.2 over 1h", severity: critical, cooldown: 1d}
                    - {name: busy, when: "volume > 1000 over 1h", severity: info, cooldown: 1h}
                """)
        let log = PredictionLog(store: store)
        let app = Application(router: ModelServer(catalog: ModelCatalog(store: store, models: [:]), log: log).router())
        try await app.test(.router) { client in
            let rows = (1...40).map { #"{"size": \#(1 + Double($0 % 9)), "kind": "\#($0 % 2 == 0 ? "a" : "b")"}"# }
                .joined(separator: ",")
            try await client.execute(
                uri: "/v1/models/small/predict", method: .post, body: body(#"{"records": [\#(rows)]}"#)
            ) { r in
                let predictions = try object(r)["predictions"] as? [[String: Any]]
                #expect(predictions?.count == 40)
            }
        }
        log.flush()
        // The truth is twice the estimate: MAPE 0.5.
        let logged = try await store.predictions(model: "small", since: nil, limit: 100)
        try await store.recordFeedback(
            logged.compactMap { p in
                p.prediction.flatMap(Double.init).map { FeedbackRecord(predictionID: p.id, value: String($0 * 2)) }
            })
        var pass = MonitoringPass(store: store, spec: try ProjectFile.load(path: "\(dir)/mlcycle.yaml"))
        pass.webhookAttempts = 2
        pass.webhookPause = 0.01
        let version = try #require(try await store.modelVersion("small", version: 1))
        let now = Date().addingTimeInterval(1)
        let out = try await pass.run(version, at: now)
        let last = try #require(out.windows.last)
        #expect(last.volume == 40 && last.labelled == 40 && abs((last.metrics["mape"] ?? 0) - 0.5) < 1e-9)
        #expect(out.drift?.columns.map(\.name).sorted() == ["kind", "size"])
        // Explanations: each input column's mean |contribution| in the window, as the bundle computes it on the
        // logged rows, against the test rows' (kept by the run); size carries the model.
        let bundle = try ModelBundle.decode(try await store.artifact(version.bundle))
        let test = try #require(bundle.evaluation?.columnContributions)
        let shifts = try #require(out.explanationDrift)
        #expect(Set(shifts.map(\.column)) == Set(test.keys) && shifts.first?.column == "size")
        let window = try bundle.meanAbsoluteContributions(
            merged: try DriftDetector.table(loggedInputs: logged.map(\.inputs), reference: bundle.reference))
        for shift in shifts {
            #expect(shift.test == test[shift.column] && abs(shift.window - (window[shift.column] ?? .nan)) < 1e-9)
        }
        let page = try await pass.html(out)
        #expect(page.contains("id=\"explanation-drift\""))
        #expect(out.alerts.map(\.fired) == [true, false])
        #expect(out.fired.count == 1 && out.fired[0].delivery.hasPrefix("failed after 2 attempts"))
        let stored = try await store.alerts(model: "small", limit: 10)
        #expect(
            stored.count == 1 && stored[0].name == "accuracy-drop" && abs((stored[0].value ?? 0) - 0.5) < 1e-9
                && stored[0].delivery.hasPrefix("failed"))
        // Within the cool-down the same alert stays quiet.
        let again = try await pass.run(version, at: now.addingTimeInterval(60))
        let all = try await store.alerts(model: nil, limit: 10)
        #expect(again.alerts[0].fired && again.fired.isEmpty && all.count == 1)
    }
}

@Suite struct MonitoringRouteTests {
    /// The UI's monitoring page under the server: per model, and behind a login when the server guards its log.
    @Test func theMonitoringPageIsServedPerModel() async throws {
        let (store, _) = try await servedProject()
        var server = ModelServer(catalog: ModelCatalog(store: store, models: [:]))
        let bare = Application(router: server.router())
        try await bare.test(.router) { client in
            try await client.execute(uri: "/ui/monitoring/small", method: .get) { #expect($0.status == .notFound) }
        }
        var ui = try WebUI(store: store)
        ui.monitoringPage = { name, _ in name == "small" ? "<html><h1>\(name)</h1></html>" : nil }
        server.webUI = ui
        try await Application(router: server.router()).test(.router) { client in
            try await client.execute(uri: "/ui/monitoring/small", method: .get) { r in
                #expect(r.status == .ok && r.headers[.contentType]?.hasPrefix("text/html") == true)
                #expect(String(buffer: r.body).contains("<h1>small</h1>"))
            }
            try await client.execute(uri: "/ui/monitoring/other", method: .get) { #expect($0.status == .notFound) }
        }
        ui.adminToken = "admin"
        ui.monitoringNeedsLogin = true
        server.webUI = ui
        try await Application(router: server.router()).test(.router) { client in
            try await client.execute(uri: "/ui/monitoring/small", method: .get) { r in
                #expect(r.status == .unauthorized && String(buffer: r.body).contains("log in first"))
            }
        }
    }
}

/// Foundation's JSON reader gives true and false as NSNumbers of type char ("c"); numbers never are.
private func foundationBool(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

@Suite struct ScopeAtServingTests {
    /// A row outside an input rule marked unavailable gets no estimate; outside a rule on the answer it gets the
    /// estimate for review; without a required input it is unavailable; an imputed input is named; the review queue
    /// lists what waits and a decision is recorded as an override.
    @Test func outOfScopeRowsAreAnsweredForReviewOrUnavailableAsTheRuleSays() async throws {
        let (store, _) = try await servedProject(
            problem: """
                problem:
                  name: small
                  task: regression
                  target: price
                  required: [size]
                  scope:
                    - {rule: "size between 1 and 10", otherwise: unavailable}
                    - prediction <= 550
                """,
            preparation: "[{drop: [id]}, {impute: {columns: [kind], strategy: most_frequent}}]")
        let version = try #require(try await store.modelVersion("small", version: 1))
        // The gates judge the answers inside the scope; the share outside is reported.
        #expect((version.metrics["review_share"] ?? 0) > 0 && (version.metrics["review_share"] ?? 1) < 0.3)
        let log = PredictionLog(store: store)
        let app = Application(router: ModelServer(catalog: ModelCatalog(store: store, models: [:]), log: log).router())
        try await app.test(.router) { client in
            let records =
                #"{"records": [{"size": 5, "kind": "a"}, {"size": 9.8, "kind": "a"}, {"size": 40, "kind": "a"}, {"size": null, "kind": "a"}, {"size": 5, "kind": null}]}"#
            try await client.execute(uri: "/v1/models/small/predict", method: .post, body: body(records)) { r in
                #expect(r.status == .ok, "\(String(buffer: r.body))")
                let p = try #require(try object(r)["predictions"] as? [[String: Any]])
                #expect(p.map { $0["status"] as? String } == ["ok", "review", "unavailable", "unavailable", "ok"])
                #expect(
                    p[1]["prediction"] is Double
                        && (p[1]["reasons"] as? [String]) == ["outside scope: prediction <= 550"])
                #expect(p[2]["prediction"] is NSNull)
                #expect((p[3]["reasons"] as? [String])?.first == "size is required and the row has none")
                #expect((p[4]["reasons"] as? [String]) == ["kind was missing: imputed as in training"])
            }
        }
        log.flush()
        let queue = try await store.latestPredictions(model: "small", status: "review", limit: 10)
        #expect(queue.count == 1 && queue.first?.reasons == ["outside scope: prediction <= 550"])
        let id = try #require(queue.first?.id)
        try await store.recordFeedback([FeedbackRecord(predictionID: id, value: "610", kind: .override)])
        #expect(try await store.latestFeedback(for: [id], kinds: [.override]) == [id: "610"])
    }
}
