import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MLCycleData
import MLCycleStore
import MLCycleUI
import NIOFoundationEssentialsCompat
import Testing

@testable import MLCycleServe

@Suite struct AuthorizationTests {
    static let tokens = AccessTokens(admin: "admin-secret", predict: "predict-secret", feedback: "feedback-secret")

    static func bearer(_ token: String?) -> HTTPFields {
        var headers = HTTPFields()
        if let token { headers[.authorization] = "Bearer \(token)" }
        return headers
    }

    /// Every route the router has is in the access table (and every entry of the table is a route), and each one
    /// answers 401 without its token, with another role's token, and not 401 with its own token or the admin's —
    /// so a route added without deciding who may call it fails here.
    @Test func everyRouteOfTheRouterNeedsTheTokenItsRoleSays() async throws {
        let (store, _) = try await servedProject()
        var server = ModelServer(
            catalog: ModelCatalog(store: store, models: [:]), log: PredictionLog(store: store))
        server.tokens = Self.tokens
        var ui = try WebUI(store: store)
        ui.monitoringPage = { _, _ in "<html></html>" }
        server.webUI = ui
        let router = server.router()
        // The UI's pages need no bearer token (a browser sends none): they act only through their own login.
        let uiRoutes = router.routes.filter { $0.path.description.hasPrefix(ModelServer.uiPrefix) }
        #expect(
            uiRoutes.count > 10 && uiRoutes.allSatisfy { ModelServer.access($0.method, $0.path.description) == .open })
        let routes = router.routes.map { ($0.path.description, $0.method) }.filter {
            !$0.0.hasPrefix(ModelServer.uiPrefix)
        }
        let paths = Set(routes.map(\.0))
        #expect(
            paths == Set(ModelServer.routeAccess.keys), "routes without an access entry, or entries without a route")
        for (path, methods) in ModelServer.routeAccess {
            for method in methods.keys {
                #expect(routes.contains { $0 == (path, method) }, "\(method) \(path) is in the table but not routed")
            }
        }
        // Only probes, counts and the UI's icon are open; nothing that writes is.
        let open = ModelServer.routeAccess.flatMap { path, methods in
            methods.filter { $0.value == .open }.map { "\($0.key) \(path)" }
        }
        #expect(
            Set(open) == [
                "GET /health", "GET /ready", "GET /metrics", "GET /ping", "GET /version", "GET /v2/health/live",
                "GET /v2/health/ready", "GET /favicon.ico",
            ])
        let app = Application(router: router)
        try await app.test(.router) { client in
            for (path, method) in routes {
                let access = ModelServer.access(method, path)
                let uri = path.replacingOccurrences(of: "{name}", with: "small")
                    .replacingOccurrences(of: "{action}", with: "promote")
                let own: String? =
                    switch access {
                    case .open: nil
                    case .predict: Self.tokens.predict
                    case .feedback: Self.tokens.feedback
                    case .admin: Self.tokens.admin
                    }
                let other = access == .predict ? Self.tokens.feedback : Self.tokens.predict
                let what = "\(method) \(path) (\(access))"
                try await client.execute(uri: uri, method: method, body: body("{}")) { r in
                    if access == .open {
                        #expect(r.status != .unauthorized, "\(what) needs no token")
                    } else {
                        #expect(r.status == .unauthorized, "\(what) without a token")
                        #expect(r.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true, "\(what)")
                    }
                }
                // HEAD is answered by the GET handler, so it needs the same token.
                if method == .get, access != .open {
                    try await client.execute(uri: uri, method: .head) {
                        #expect($0.status == .unauthorized, "HEAD \(path) without a token")
                    }
                }
                guard access != .open else { continue }
                try await client.execute(uri: uri, method: method, headers: Self.bearer(other), body: body("{}")) {
                    #expect($0.status == .unauthorized, "\(what) with another role's token")
                }
                for token in [own, Self.tokens.admin] {
                    try await client.execute(uri: uri, method: method, headers: Self.bearer(token), body: body("{}")) {
                        #expect($0.status != .unauthorized, "\(what) with its token")
                    }
                }
            }
        }
    }

    /// The roles fall back as documented: no predict token leaves scoring open; the feedback token falls back to the
    /// predict token; the admin token opens everything; admin routes are off without an admin token.
    @Test func rolesFallBackAsDocumented() {
        let predictOnly = AccessTokens(predict: "p")
        #expect(predictOnly.refusal(for: .predict, authorization: "Bearer p") == nil)
        #expect(predictOnly.refusal(for: .feedback, authorization: "Bearer p") == nil)
        #expect(predictOnly.refusal(for: .feedback, authorization: nil)?.status == 401)
        #expect(predictOnly.refusal(for: .admin, authorization: "Bearer p")?.message.contains("off") == true)
        let none = AccessTokens()
        for access in [RouteAccess.open, .predict, .feedback] {
            #expect(none.refusal(for: access, authorization: nil) == nil)
        }
        #expect(none.refusal(for: .admin, authorization: nil)?.status == 401)
        let all = Self.tokens
        for access in RouteAccess.allCases {
            #expect(all.refusal(for: access, authorization: "Bearer admin-secret") == nil, "\(access)")
        }
        #expect(all.refusal(for: .feedback, authorization: "Bearer predict-secret")?.status == 401)
        #expect(all.refusal(for: .predict, authorization: "Bearer feedback-secret")?.status == 401)
    }

    /// `Bearer` is case-insensitive (RFC 6750 §2.1 uses RFC 9110's auth-scheme); spaces around the token are
    /// allowed; other schemes, an empty token, a prefix or an extension of the token are refused.
    @Test func theBearerSchemeIsCaseInsensitiveAndTheTokenExact() {
        let t = AccessTokens(predict: "tok")
        for ok in ["Bearer tok", "bearer tok", "BEARER   tok", "BeArEr tok "] {
            #expect(t.refusal(for: .predict, authorization: ok) == nil, "\(ok)")
        }
        for bad in ["Basic tok", "Bearer", "Bearer ", "Bearer to", "Bearer tokk", "Bearertok", "tok", ""] {
            #expect(t.refusal(for: .predict, authorization: bad)?.status == 401, "\(bad)")
        }
        #expect(AccessTokens.same("abc", "abc") && !AccessTokens.same("abc", "abd") && !AccessTokens.same("ab", "abc"))
    }

    /// Tokens come from the environment or a `…_FILE` (trimmed); an empty value is no token.
    @Test func tokensAreReadFromTheEnvironmentOrAFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)")
        try "from-file\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let t = AccessTokens(environment: [
            "MLCYCLE_ADMIN_TOKEN": "a", "MLCYCLE_PREDICT_TOKEN": "", "MLCYCLE_FEEDBACK_TOKEN_FILE": file.path,
        ])
        #expect(t == AccessTokens(admin: "a", predict: nil, feedback: "from-file"))
    }

    /// A forged `actual: "abc"` for a regression model is refused, naming the field (it was stored); so is a
    /// class a classifier does not know. A number is recorded.
    @Test func feedbackIsCheckedAgainstTheModelsTarget() async throws {
        let (store, _) = try await servedProject()
        let log = PredictionLog(store: store)
        let app = Application(router: ModelServer(catalog: ModelCatalog(store: store, models: [:]), log: log).router())
        try await app.test(.router) { client in
            let id: String = try await client.execute(
                uri: "/v1/models/small/predict", method: .post, body: body(#"{"records": [{"size": 5, "kind": "a"}]}"#)
            ) { r in
                try #require(((try object(r))["predictions"] as? [[String: Any]])?.first?["id"] as? String)
            }
            for bad in [#""abc""#, "true", #""inf""#] {
                try await client.execute(
                    uri: "/v1/feedback", method: .post, body: body(#"{"prediction_id": "\#(id)", "actual": \#(bad)}"#)
                ) { r in
                    #expect(r.status == .badRequest, "\(bad)")
                    let o = try object(r)
                    #expect(o["field"] as? String == "actual" && (o["error"] as? String)?.contains("number") == true)
                }
            }
            try await client.execute(
                uri: "/v1/feedback", method: .post,
                body: body(
                    #"{"feedback": [{"prediction_id": "\#(id)", "actual": 351}, {"prediction_id": "\#(id)", "kind": "override", "value": "x"}]}"#
                )
            ) { r in
                #expect(r.status == .badRequest)
                let o = try object(r)
                #expect(o["row"] as? Int == 1 && o["field"] as? String == "value", "\(o)")
            }
            log.flush()
            #expect(try await store.feedback(predictionIDs: [id]).isEmpty, "nothing of a refused batch is recorded")
            try await client.execute(
                uri: "/v1/feedback", method: .post, body: body(#"{"prediction_id": "\#(id)", "actual": "351.5"}"#)
            ) { #expect($0.status == .ok) }
            #expect(try await store.feedback(predictionIDs: [id]).map(\.value) == ["351.5"])
        }
    }

    /// The served document says what feedback the served models take, so a client generated from it (or
    /// schemathesis) sends no value the server must refuse: a finite number when every model is a regression.
    @Test func theServedDocumentSaysWhichFeedbackValuesTheModelsTake() async throws {
        let (store, _) = try await servedProject()
        let app = Application(router: ModelServer(catalog: ModelCatalog(store: store, models: [:])).router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/openapi.json", method: .get) { r in
                let doc = try JSONValue.parse(Data(buffer: r.body))
                let properties = doc["components"]?["schemas"]?["Feedback"]?["properties"]
                for key in ["actual", "value"] {
                    #expect(properties?[key]?["type"] == "number", "\(key): \(String(describing: properties?[key]))")
                }
            }
        }
        #expect(OpenAPI.generic["components"]?["schemas"]?["Feedback"]?["properties"]?["actual"]?["oneOf"] != nil)
    }

    /// A CSV request body whose bytes are not UTF-8 is a 400 naming the line and column (it was decoded with
    /// U+FFFD in their place and scored).
    @Test func aCSVBodyThatIsNotUTF8IsRefusedByLineAndColumn() async throws {
        let (store, _) = try await servedProject()
        let app = Application(router: ModelServer(catalog: ModelCatalog(store: store, models: [:])).router())
        try await app.test(.router) { client in
            var csv = ByteBuffer(string: "size,kind\n5,a\n6,")
            csv.writeBytes([0xE9])
            csv.writeString("\n")
            try await client.execute(
                uri: "/v1/models/small/predict", method: .post, headers: [.contentType: "text/csv"], body: csv
            ) { r in
                #expect(r.status == .badRequest)
                let error = try #require(try object(r)["error"] as? String)
                #expect(error.contains("request body:3: column 2 (kind): byte 0xE9 is not UTF-8"), "\(error)")
            }
        }
    }

    /// Requests for made-up model names share one `model="(unknown)"` series: `/metrics` does not grow with them
    /// (it grew by a label per name, 27 MB after 20,000 names).
    @Test func unknownModelNamesShareOneMetricsLabel() async throws {
        let (store, _) = try await servedProject()
        let app = Application(router: ModelServer(catalog: ModelCatalog(store: store, models: [:])).router())
        try await app.test(.router) { client in
            let size: (Int) async throws -> Int = { n in
                for i in 0..<n {
                    try await client.execute(
                        uri: "/v1/models/made-up-\(UUID().uuidString)-\(i)/predict", method: .post,
                        body: body(#"{"records": [{"size": 5}]}"#)
                    ) { #expect($0.status == .notFound) }
                }
                return try await client.execute(uri: "/metrics", method: .get) { r in
                    let text = String(buffer: r.body)
                    #expect(!text.contains("made-up"))
                    return text.utf8.count
                }
            }
            let after10 = try await size(10)
            let after210 = try await size(200)
            #expect(after210 - after10 < 64, "/metrics grew from \(after10) to \(after210) bytes")
            try await client.execute(uri: "/metrics", method: .get) { r in
                #expect(
                    String(buffer: r.body).contains(
                        #"mlcycle_requests_total{model="(unknown)",version="-",code="404"} 210"#))
            }
        }
    }
}
