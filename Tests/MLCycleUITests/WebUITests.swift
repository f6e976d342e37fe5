import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MLCycleProject
import MLCycleStore
import NIOCore
import Testing

@testable import MLCycleUI

/// The web UI over real stores: a project run by the runner (the regression template), and stores written by hand
/// for paging and bad input.
@Suite(.serialized) struct WebUITests {
    /// A store in a fresh folder, with the regression template run on it once and a second version registered (its
    /// bundle the first's), so that there are whole runs, stage runs, two versions and aliases to show.
    static let project: (store: SQLiteStore, directory: String) = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-ui-\(UUID().uuidString)").path
        _ = try? ProjectTemplate.regression.write(to: dir)
        // Rules on the merged table, so that a validation report is kept.
        let spec = "\(dir)/mlcycle.yaml"
        let text = (try? String(contentsOfFile: spec, encoding: .utf8)) ?? ""
        try? text.replacingOccurrences(of: "validation: {}", with: "validation: {merged: rules.yaml}")
            .write(toFile: spec, atomically: true, encoding: .utf8)
        try? """
        rules:
          - column: price
            not_null: true
          - column: area_sqft
            range: {min: 400, max: 3000}
            severity: warning
            name: usual areas
        """.write(toFile: "\(dir)/rules.yaml", atomically: true, encoding: .utf8)
        return ((try? SQLiteStore(directory: "\(dir)/.mlcycle"))!, dir)
    }()

    static func trainedProject() async throws -> SQLiteStore {
        let (store, dir) = project
        if try await store.modelNames().isEmpty {
            let spec = try ProjectFile.load(path: "\(dir)/mlcycle.yaml")
            _ = try await Runner(spec: spec, directory: dir, store: store).run()
        }
        return store
    }

    static func ui(_ store: any Store) throws -> (WebUI, Router<BasicRequestContext>) {
        var ui = try WebUI(store: store, storeLabel: "test store")
        let pass = MonitoringPass(store: store, spec: nil)
        ui.monitoringPage = { name, version in try await pass.page(name, version: version) }
        let router = Router()
        ui.addRoutes(to: router)
        return (ui, router)
    }

    /// The links of a page that stay in the UI (`href="/ui…"`), unescaped.
    static func links(_ html: String) -> [String] {
        html.matches(of: /href="(\/ui[^"]*)"/).map { String($0.1).replacingOccurrences(of: "&amp;", with: "&") }
    }

    @Test func everyPageIsReachedFromTheProjectsPageByLinks() async throws {
        let store = try await Self.trainedProject()
        let (_, router) = try Self.ui(store)
        let (seen, bodies) = try await Application(router: router).test(.router) { client in
            var seen = Set<String>()
            var queue = ["/ui"]
            var bodies = [String: String]()
            while let uri = queue.first, seen.count < 120 {
                queue.removeFirst()
                guard seen.insert(uri).inserted else { continue }
                let (status, policy, body) = try await client.execute(uri: uri, method: .get) { response in
                    (response.status, response.headers[.contentSecurityPolicy], String(buffer: response.body))
                }
                #expect(status == .ok, "\(uri): \(body.prefix(600))")
                #expect(policy?.contains("frame-ancestors 'none'") == true)
                bodies[uri] = body
                queue += Self.links(body).filter { !$0.contains("/static/") && !seen.contains($0) }
            }
            return (seen, bodies)
        }
        let pages = Set(seen.map { String($0.split(separator: "?")[0]) })
        let fingerprint = try #require(try await store.modelVersion("prices", version: 1)?.datasets.first)
        for expected in [
            "/ui", "/ui/projects/prices", "/ui/runs", "/ui/models", "/ui/models/prices", "/ui/models/prices/1",
            "/ui/monitoring/prices", "/ui/data", "/ui/data/\(fingerprint)", "/ui/data/\(fingerprint)/profile",
        ] {
            #expect(pages.contains(expected), "\(expected) is not linked: \(pages.sorted())")
        }
        #expect(pages.contains { $0.hasPrefix("/ui/runs/") }, "no run page is linked")
        // The project page states the problem and its verdict, from the whole run's record.
        let project = try #require(bodies["/ui/projects/prices"])
        #expect(project.contains("Success metric") && project.contains("Current verdict"), "\(project)")
        // The monitoring page carries the way back and a link to each version's own page.
        let monitoring = try #require(bodies["/ui/monitoring/prices"])
        #expect(monitoring.contains("<b>served (champion, challenger)</b>"), "\(monitoring.prefix(2000))")
        #expect(monitoring.contains("<a href=\"/ui/monitoring/prices?version=1\">v1</a>"), "\(monitoring.prefix(2000))")
        #expect(monitoring.contains("<a href=\"/ui/models/prices\">model prices</a>"))
        // A whole run lists its seven stages, each linked to its own run.
        let pipeline = try #require(try await store.runs(RunFilter(stage: "pipeline")).first)
        let run = try #require(bodies["/ui/runs/\(pipeline.id)"])
        for stage in ["collect", "validate", "profile", "prepare", "train", "evaluate", "register"] {
            #expect(run.contains("<td>\(stage)</td>"), "\(stage) missing from the whole run's page")
        }
        // The dataset's page shows its columns and the validation report of the run that checked it.
        let dataset = try #require(bodies["/ui/data/\(fingerprint)"])
        #expect(
            dataset.contains("area_sqft") && dataset.contains("usual areas") && dataset.contains("<td>warning</td>"))
        // The version links the evaluation report its run kept, explanations and all.
        let report = try #require(bodies.first { $0.key.hasSuffix("/report") }?.value)
        #expect(report.contains("<svg") && report.lowercased().contains("shap"))
        // The version page draws its lineage and links the run that made it.
        let version = try #require(bodies["/ui/models/prices/1"])
        #expect(version.contains("<svg class=\"lineage\"") && version.contains("Audit trail"))
    }

    @Test func comparingTwoTrainingRunsMarksTheParametersThatDiffer() async throws {
        let store = try await Self.trainedProject()
        let (_, router) = try Self.ui(store)
        let training = try await store.runs(RunFilter(stage: "train", order: .oldest))
        let pair = try #require(Array(training.prefix(2)).count == 2 ? Array(training.prefix(2)) : nil)
        #expect(pair[0].params["learner"] != pair[1].params["learner"])
        try await Application(router: router).test(.router) { client in
            try await client.execute(uri: "/ui/compare?run=\(pair[0].id)&run=\(pair[1].id)", method: .get) { r in
                let body = String(buffer: r.body)
                #expect(r.status == .ok, "\(body.prefix(500))")
                let rows = body.matches(
                    of: /<tr( class="differs")?><th scope="row">(?:<span[^>]*>≠ <\/span>)?([a-z_]+)<\/th>/
                )
                .map { (String($0.2), $0.1 != nil) }
                let differs = Dictionary(rows, uniquingKeysWith: { a, _ in a })
                #expect(differs["learner"] == true, "\(rows)")
                #expect(differs["selection"] == false, "\(rows)")
            }
        }
    }

    @Test func runsArePagedFilteredAndEscaped() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-ui-\(UUID().uuidString)").path
        let store = try SQLiteStore(directory: dir)
        let odd = "<script>alert(1)</script>"
        for i in 0..<120 {
            let run = try await store.startRun(
                NewRun(
                    project: i % 2 == 0 ? "houses" : odd, stage: "train", inputHash: "\(i)",
                    params: ["learner": i % 3 == 0 ? "gbdt" : "linear"]))
            try await store.finishRun(run.id, status: .finished, outputs: [:])
        }
        let (_, router) = try Self.ui(store)
        try await Application(router: router).test(.router) { client in
            try await client.execute(uri: "/ui/runs?page=3", method: .get) { r in
                let body = String(buffer: r.body)
                #expect(r.status == .ok)
                #expect(body.matches(of: /name="run" value="\d+"/).count == 20)
                #expect(body.contains("page 3 of 3") && body.contains("Runs 101–120 of 120"))
                #expect(!body.contains("<script>alert") && body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            }
            try await client.execute(uri: "/ui/runs?project=houses&learner=gbdt", method: .get) { r in
                let body = String(buffer: r.body)
                #expect(
                    body.contains("of 20,") || body.contains("of 20 "), "\(body.matches(of: /Runs [^<]*/).map(\.0))")
            }
            try await client.execute(uri: "/ui/", method: .get) { r in
                let body = String(buffer: r.body)
                #expect(r.status == .ok && !body.contains("<script>alert"))
            }
        }
    }

    @Test func badInputToEveryRouteIsAFourHundredPageNeverAFiveHundred() async throws {
        let store = try await Self.trainedProject()
        let (_, router) = try Self.ui(store)
        let long = String(repeating: "x", count: 300)
        let many = (0..<100).map { "f\($0)=1" }.joined(separator: "&")
        let cases: [(String, HTTPRequest.Method, Int)] = [
            ("/ui/runs/abc", .get, 404), ("/ui/runs/999999", .get, 404), ("/ui/runs/-1", .get, 404),
            ("/ui/runs/99999999999999999999999", .get, 404), ("/ui/projects/nope", .get, 404),
            ("/ui/models/nope", .get, 404), ("/ui/models/prices/0", .get, 404), ("/ui/models/prices/v99", .get, 404),
            ("/ui/models/prices/abc", .get, 404), ("/ui/monitoring/nope", .get, 404),
            ("/ui/data/nope", .get, 404), ("/ui/data/\(long)", .get, 400), ("/ui/data/nope/profile", .get, 404),
            ("/ui/data?project=nope", .get, 404), ("/ui/artefacts/nope", .get, 404),
            ("/ui/artefacts/\(String(repeating: "a", count: 64))", .get, 404), ("/ui/runs/1/report", .get, 404),
            ("/ui/runs?page=0", .get, 400), ("/ui/runs?page=abc", .get, 400),
            ("/ui/runs?page=99999999999999999999", .get, 400), ("/ui/runs?page=999", .get, 404),
            ("/ui/runs?status=bogus", .get, 400), ("/ui/runs?stage=x", .get, 400), ("/ui/runs?order=x", .get, 400),
            ("/ui/runs?since=2020-13-45", .get, 400), ("/ui/runs?since=yesterday", .get, 400),
            ("/ui/runs?since=2021-01-02&until=2021-01-01", .get, 400), ("/ui/runs?project=a&project=b", .get, 400),
            ("/ui/runs?learner=\(long)", .get, 400), ("/ui/runs?%zz=1", .get, 400), ("/ui/runs?\(many)", .get, 400),
            ("/ui/compare", .get, 400), ("/ui/compare?run=1", .get, 400), ("/ui/compare?run=1&run=x", .get, 400),
            ("/ui/compare?run=1&run=1", .get, 400), ("/ui/compare?run=1&run=99999", .get, 404),
            ("/ui/compare?" + (1...11).map { "run=\($0)" }.joined(separator: "&"), .get, 400),
            ("/ui/models/prices?page=0", .get, 400), ("/ui/models/prices?page=50", .get, 404),
            ("/ui/runs", .post, 405), ("/ui/models/prices", .delete, 405), ("/ui/compare", .put, 405),
        ]
        try await Application(router: router).test(.router) { client in
            for (uri, method, status) in cases {
                try await client.execute(uri: uri, method: method) { r in
                    let body = String(buffer: r.body)
                    #expect(r.status.code == status, "\(method) \(uri): \(r.status) \(body.prefix(300))")
                    #expect(body.contains("class=\"problem\""), "\(uri) has no error page")
                }
            }
        }
    }
}

/// Promote, approve and roll back from the UI: refused without a login, a CSRF token or from another site; done, and
/// on the record, with them.
@Suite(.serialized) struct WebUIActionTests {
    static let token = "ui-test-admin-token"

    /// A store with two versions of `prices` (the second registered from the first's bundle, gates failed).
    static func store() async throws -> SQLiteStore {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-ui-\(UUID().uuidString)").path
        let store = try SQLiteStore(directory: dir)
        let bundle = try await store.putArtifact(Data("{}".utf8))
        let registry = ModelRegistry(store: store)
        let first = try await registry.register(
            NewModelVersion(
                name: "prices", bundle: bundle, metrics: ["mape": 0.08], gatesPassed: true, gates: ["passed: mape"],
                run: nil, datasets: [], specHash: nil), by: .policy("test"))
        _ = try await registry.register(
            NewModelVersion(
                name: "prices", bundle: bundle, metrics: ["mape": 0.2], gatesPassed: false,
                gates: ["failed: mape <= 0.1"], run: nil, datasets: [], specHash: nil), by: .policy("test"))
        try await registry.promote(first, by: .policy("test"), reason: "first")
        return store
    }

    static func router(_ store: any Store, approvers: [String] = []) throws -> Router<BasicRequestContext> {
        var ui = try WebUI(store: store)
        ui.adminToken = token
        ui.approvers = approvers
        let router = Router()
        ui.addRoutes(to: router)
        return router
    }

    static func form(_ fields: [String: String]) -> ByteBuffer {
        ByteBuffer(
            string: fields.map { "\($0.key)=\(WebUI.queryValue($0.value).replacingOccurrences(of: "%20", with: "+"))" }
                .joined(separator: "&"))
    }

    static func headers(cookie: String? = nil, origin: String? = nil) -> HTTPFields {
        var h = HTTPFields()
        h[.contentType] = "application/x-www-form-urlencoded"
        if let cookie { h[.cookie] = "\(UISession.cookie)=\(cookie)" }
        if let origin { h[.origin] = origin }
        return h
    }

    @Test func aPromotionNeedsALoginAndItsFormsTokenAndIsOnTheRecord() async throws {
        let store = try await Self.store()
        let router = try Self.router(store)
        try await Application(router: router).test(.router) { client in
            // Without a login: refused, and the page only offers to log in.
            let refused = try await client.execute(
                uri: "/ui/actions/promote", method: .post, headers: Self.headers(),
                body: Self.form(["model": "prices", "version": "2", "who": "ann", "reason": "try", "csrf": "x"])
            ) { $0.status }
            #expect(refused == .unauthorized)
            #expect(
                try await client.execute(uri: "/ui/actions/promote", method: .get) { $0.status } == .methodNotAllowed)
            let anonymous = try await client.execute(uri: "/ui/models/prices/2", method: .get) {
                String(buffer: $0.body)
            }
            #expect(anonymous.contains("Log in") && !anonymous.contains("name=\"csrf\""))

            // A wrong token is refused; the right one sets a strict, HttpOnly session cookie for the UI only.
            let wrong = try await client.execute(
                uri: "/ui/login", method: .post, headers: Self.headers(), body: Self.form(["token": "nope"])
            ) { $0.status }
            #expect(wrong == .unauthorized)
            let setCookie = try await client.execute(
                uri: "/ui/login", method: .post, headers: Self.headers(),
                body: Self.form(["token": Self.token, "next": "/ui/models/prices/2"])
            ) { r -> String in
                #expect(r.status == .seeOther && r.headers[.location] == "/ui/models/prices/2")
                return r.headers[.setCookie] ?? ""
            }
            #expect(
                setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict")
                    && setCookie.contains("Path=/ui"))
            let session = try #require(setCookie.split(separator: ";").first?.split(separator: "=", maxSplits: 1).last)
                .description

            // The page now has the forms, with the session's CSRF token.
            let page = try await client.execute(
                uri: "/ui/models/prices/2", method: .get, headers: Self.headers(cookie: session)
            ) { String(buffer: $0.body) }
            let csrf = try #require(page.firstMatch(of: /name="csrf" value="([0-9a-f]{64})"/)).1.description
            #expect(page.contains("override_gates"))

            let fields = ["model": "prices", "version": "2", "who": "ann", "reason": "better on new data"]
            // A forged or missing CSRF token, another site, or failed gates without the override: refused.
            for (headers, extra, expected) in [
                (
                    Self.headers(cookie: session), ["csrf": String(repeating: "0", count: 64)],
                    HTTPResponse.Status.forbidden
                ),
                (Self.headers(cookie: session), [:], .forbidden),
                (Self.headers(cookie: session, origin: "https://evil.example"), ["csrf": csrf], .forbidden),
                (Self.headers(cookie: session), ["csrf": csrf], .conflict),
            ] {
                let status = try await client.execute(
                    uri: "/ui/actions/promote", method: .post, headers: headers,
                    body: Self.form(fields.merging(extra) { a, _ in a })
                ) { $0.status }
                #expect(status == expected, "\(extra) \(headers)")
                #expect(try await store.aliases("prices")["champion"] == 1)
            }
            // With the override: promoted, audited, and the page says so.
            let done = try await client.execute(
                uri: "/ui/actions/promote", method: .post, headers: Self.headers(cookie: session),
                body: Self.form(fields.merging(["csrf": csrf, "override_gates": "yes"]) { a, _ in a })
            ) { r -> String in
                #expect(r.status == .seeOther)
                return r.headers[.location] ?? ""
            }
            #expect(done == "/ui/models/prices/2?done=promote")
            #expect(try await store.aliases("prices")["champion"] == 2)
            let entry = try #require(try await store.audit(model: "prices").last)
            #expect(entry.actor == "ann" && entry.reason == "better on new data" && entry.action.hasPrefix("promote"))
            let after = try await client.execute(uri: done, method: .get, headers: Self.headers(cookie: session)) {
                String(buffer: $0.body)
            }
            #expect(after.contains("class=\"notice\"") && after.contains("champion now points at v2"))

            // Rolled back from the model page's form.
            let back = try await client.execute(
                uri: "/ui/actions/rollback", method: .post, headers: Self.headers(cookie: session),
                body: Self.form([
                    "model": "prices", "alias": "champion", "who": "bob", "reason": "complaints", "csrf": csrf,
                ])
            ) { $0.status }
            #expect(back == .seeOther)
            #expect(try await store.aliases("prices")["champion"] == 1)
        }
    }

    @Test func onlyTheProjectsApproversPromote() async throws {
        let store = try await Self.store()
        let router = try Self.router(store, approvers: ["lead"])
        try await Application(router: router).test(.router) { client in
            let cookie = try await client.execute(
                uri: "/ui/login", method: .post, headers: Self.headers(), body: Self.form(["token": Self.token])
            ) { $0.headers[.setCookie] ?? "" }
            let session = try #require(cookie.split(separator: ";").first?.split(separator: "=", maxSplits: 1).last)
                .description
            let csrf = UISession(adminToken: Self.token).csrf(for: session)
            for (who, status) in [("ann", HTTPResponse.Status.forbidden), ("lead", .seeOther)] {
                let got = try await client.execute(
                    uri: "/ui/actions/promote", method: .post, headers: Self.headers(cookie: session),
                    body: Self.form([
                        "model": "prices", "version": "1", "alias": "challenger", "who": who, "reason": "r",
                        "csrf": csrf,
                    ])
                ) { $0.status }
                #expect(got == status, "\(who)")
            }
            #expect(try await store.aliases("prices")["challenger"] == 1)
        }
    }
}
