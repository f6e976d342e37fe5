import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MLCycleData
import MLCycleStore
import Mustache
import NIOCore

/// The web UI: server-rendered pages over a store — projects, runs and their comparison, models with their versions,
/// aliases, lineage and audit trail — mounted under one path (`/ui`) of `mlcycle ui` or `mlcycle serve --project`.
/// Pages are Mustache templates (every value HTML-escaped by the template engine, in one place), charts inline SVG,
/// and a little plain JavaScript (sorting, refresh) that no page needs to work. Bad input to any route is a 4xx page.
public struct WebUI: Sendable {
    public let store: any Store
    /// The path the pages live under, without a trailing slash (`/ui`).
    public let base: String
    /// What the footer says the store is (a folder, or a URL without its password).
    public var storeLabel: String
    /// The monitoring page of a model (HTML) — of one version when given, else of the champion beside the
    /// challenger — or nil for an unknown model, when this process can run a monitoring pass; without it the
    /// monitoring link says how to get one.
    public var monitoringPage: (@Sendable (_ model: String, _ version: Int?) async throws -> String?)?
    /// Monitoring pages already computed, each kept for a minute: a pass reads the prediction log's windows, so a
    /// page reloaded (or refreshed by itself) in that minute costs nothing.
    let monitoringPages = MonitoringPages()
    /// The monitoring pages show served inputs and outcomes: when the server guards its prediction log with a token,
    /// they need a login too.
    public var monitoringNeedsLogin = false
    /// The project's `release.approvers`: when set, only they may promote or approve here, as with the CLI.
    public var approvers: [String] = []
    /// Called after an action moved an alias (a server reloads what it serves).
    public var afterMove: (@Sendable () -> Void)?
    /// Marks the session cookie `Secure` (when the UI is reached over HTTPS, behind a proxy that ends TLS).
    public var secureCookies = false
    /// Signs sessions and forms with the admin token; nil: actions are off (the pages only read).
    var sessions: UISession?

    /// The admin token that logs a person in to act (nil: actions are off).
    public var adminToken: String? {
        get { nil }
        set { sessions = newValue.flatMap { $0.isEmpty ? nil : UISession(adminToken: $0) } }
    }
    let templates: MustacheLibrary

    /// Rows on a page of runs or versions.
    static let pageSize = 50

    public init(store: any Store, base: String = "/ui", storeLabel: String = "") throws {
        self.store = store
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
        self.storeLabel = storeLabel
        self.templates = try Self.library()
    }

    /// The templates, compiled once from the copies built into the binary.
    static func library() throws -> MustacheLibrary {
        let sources: [String: [UInt8]] = [
            "layout": PackageResources.layout_mustache, "error": PackageResources.error_mustache,
            "projects": PackageResources.projects_mustache, "project": PackageResources.project_mustache,
            "pipelinerows": PackageResources.pipelinerows_mustache, "runs": PackageResources.runs_mustache,
            "pager": PackageResources.pager_mustache, "run": PackageResources.run_mustache,
            "compare": PackageResources.compare_mustache, "models": PackageResources.models_mustache,
            "model": PackageResources.model_mustache, "auditrows": PackageResources.auditrows_mustache,
            "version": PackageResources.version_mustache, "datasets": PackageResources.datasets_mustache,
            "dataset": PackageResources.dataset_mustache, "login": PackageResources.login_mustache,
            "actionforms": PackageResources.actionforms_mustache,
            "monitoringbar": PackageResources.monitoringbar_mustache,
        ]
        var library = MustacheLibrary()
        for (name, bytes) in sources { try library.register(String(decoding: bytes, as: UTF8.self), named: name) }
        return library
    }

    /// A rendered page: its status and HTML.
    struct Rendered {
        var status: HTTPResponse.Status = .ok
        var html: String
    }

    /// Renders `template` with `values` and what every page has (the base path, the version, the store).
    func render(_ template: String, _ values: [String: Any], status: HTTPResponse.Status = .ok) -> Rendered {
        var context = values
        context["base"] = base
        context["appVersion"] = MLCycleVersion.current
        context["store"] = storeLabel
        context["viewer"] = Self.viewerValues(Self.viewer)
        let html =
            templates.render(Self.withoutNils(context) ?? [:], withTemplate: template)
            ?? "<!DOCTYPE html><title>mlcycle</title><p>the page template '\(template)' is missing"
        return Rendered(status: status, html: html)
    }

    /// The values with every nil left out (at any depth): the template engine would print an absent value held in
    /// a dictionary of `Any` as "nil", and take it for true.
    static func withoutNils(_ value: Any) -> Any? {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            guard let wrapped = mirror.children.first?.value else { return nil }
            return withoutNils(wrapped)
        }
        if let dictionary = value as? [String: Any] { return dictionary.compactMapValues { withoutNils($0) } }
        if let array = value as? [Any] { return array.compactMap { withoutNils($0) } }
        return value
    }

    /// An error page.
    func errorPage(_ error: UIError) -> Rendered {
        let heading: String
        switch error.status {
        case 404: heading = "Not found"
        case 401, 403: heading = "Not allowed"
        case 405: heading = "Not this way"
        case 503: heading = "The store cannot be reached"
        default: heading = "That request cannot be answered"
        }
        return render(
            "error", ["heading": heading, "message": error.message], status: HTTPResponse.Status(code: error.status))
    }

    static func response(_ rendered: Rendered) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        securityHeaders(&headers)
        return Response(
            status: rendered.status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: rendered.html)))
    }

    /// What every UI answer says to the browser: run only this server's scripts, never inside another site's frame.
    static func securityHeaders(_ headers: inout HTTPFields) {
        headers[.contentSecurityPolicy] =
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        headers[.xContentTypeOptions] = "nosniff"
        if let referrer = HTTPField.Name("Referrer-Policy") { headers[referrer] = "same-origin" }
    }

    /// Runs the work of a form's POST: a refusal becomes its error page (as `page`).
    func respond(_ work: () async throws -> Response) async -> Response {
        do { return try await work() } catch { return await page { throw error } }
    }

    /// Runs a page's work; a `UIError` becomes its error page, a store that cannot answer a 503 page, anything else a
    /// 500 page that names it (a fault of mlcycle's, not of the request).
    func page(_ work: () async throws -> Rendered) async -> Response {
        do {
            return Self.response(try await work())
        } catch let error as UIError {
            return Self.response(errorPage(error))
        } catch let error as StoreError {
            switch error {
            case .notFound(let what): return Self.response(errorPage(UIError(404, "not found: \(what)")))
            case .busy, .unavailable:
                return Self.response(errorPage(UIError(503, error.localizedDescription + " (reload the page)")))
            default: return Self.response(errorPage(UIError(500, error.localizedDescription)))
            }
        } catch {
            return Self.response(errorPage(UIError(500, error.localizedDescription)))
        }
    }

    /// A path parameter, percent-decoded and checked.
    static func parameter(_ context: some RequestContext, _ name: String) throws -> String {
        guard let raw = context.parameters.get(name), let value = raw.removingPercentEncoding, !value.isEmpty,
            value.count <= UIQuery.maximumValue
        else { throw UIError(400, "the address has no proper \(name) in it") }
        return value
    }

    /// A name as one path segment of a link.
    static func segment(_ name: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#")
        return name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name
    }

    /// A name as a query value of a link.
    static func queryValue(_ name: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+#")
        return name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name
    }

    /// Adds the UI's routes under `base` to `router`: GET pages, and 405 for any other method on them.
    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        let ui = self
        let group = router.group(RouterPath(base))
        func get(
            _ path: RouterPath, refusing refused: [HTTPRequest.Method] = [.post, .put, .delete, .patch],
            _ body: @escaping @Sendable (Request, Context, UIQuery) async throws -> Rendered
        ) {
            group.get(path) { request, context in
                await Self.$viewer.withValue(ui.viewer(request)) {
                    await ui.page { try await body(request, context, try UIQuery(request.uri.query)) }
                }
            }
            for method in refused {
                group.on(path, method: method) { _, _ in
                    var response = Self.response(
                        ui.errorPage(UIError(405, "\(method.rawValue) is not allowed here: this page is only read")))
                    response.headers[.allow] = refused.contains(.post) ? "GET, HEAD" : "GET, HEAD, POST"
                    return response
                }
            }
        }
        get("") { _, _, query in try await ui.projectsPage(query) }
        get("login", refusing: [.put, .delete, .patch]) { _, _, query in try ui.loginPage(query) }
        group.post("login") { request, _ in await ui.respond { try await ui.logIn(request) } }
        group.post("logout") { request, _ in await ui.respond { try await ui.logOut(request) } }
        for action in ["promote", "approve", "rollback"] {
            group.post(RouterPath("actions/\(action)")) { request, _ in
                await Self.$viewer.withValue(ui.viewer(request)) {
                    await ui.respond { try await ui.act(action, request) }
                }
            }
            for method in [HTTPRequest.Method.get, .put, .delete, .patch] {
                group.on(RouterPath("actions/\(action)"), method: method) { _, _ in
                    var response = Self.response(
                        ui.errorPage(
                            UIError(405, "\(action) is done by sending its form (POST), never by opening an address")))
                    response.headers[.allow] = "POST"
                    return response
                }
            }
        }
        get("projects/:name") { _, context, query in
            try await ui.projectPage(try Self.parameter(context, "name"), query)
        }
        get("runs") { _, _, query in try await ui.runsPage(query) }
        get("runs/:id") { _, context, query in
            let text = try Self.parameter(context, "id")
            guard let id = Int64(text), id > 0 else { throw UIError(404, "no run has the id '\(text.prefix(40))'") }
            return try await ui.runPage(id, query)
        }
        get("runs/:id/report") { _, context, _ in
            let text = try Self.parameter(context, "id")
            guard let id = Int64(text), id > 0 else { throw UIError(404, "no run has the id '\(text.prefix(40))'") }
            return try await ui.reportPage(id)
        }
        group.get("artefacts/:sha") { _, context in
            await ui.respond { try await ui.artefact(try Self.parameter(context, "sha")) }
        }
        get("compare") { _, _, query in try await ui.comparePage(query) }
        get("models") { _, _, query in try await ui.modelsPage(query) }
        get("models/:name") { _, context, query in try await ui.modelPage(try Self.parameter(context, "name"), query) }
        get("models/:name/:version") { _, context, query in
            let name = try Self.parameter(context, "name")
            let text = try Self.parameter(context, "version")
            guard let version = Int(text.hasPrefix("v") ? String(text.dropFirst()) : text), version > 0 else {
                throw UIError(404, "model \(name) has no version '\(text.prefix(40))'")
            }
            return try await ui.versionPage(name, version, query)
        }
        get("data") { _, _, query in try await ui.datasetsPage(query) }
        get("data/:fingerprint") { _, context, query in
            try await ui.datasetPage(try Self.parameter(context, "fingerprint"), query)
        }
        get("data/:fingerprint/profile") { _, context, _ in
            try await ui.profileReport(try Self.parameter(context, "fingerprint"))
        }
        get("monitoring/:name") { _, context, query in
            let name = try Self.parameter(context, "name")
            let version = try query.integer("version", in: 1...Int(Int32.max))
            if ui.monitoringNeedsLogin && Self.viewer.session == nil {
                throw UIError(
                    401, "the monitoring page shows served inputs and outcomes: log in first (\(ui.base)/login)")
            }
            guard let monitoringPage = ui.monitoringPage else {
                throw UIError(
                    404,
                    "monitoring needs a monitoring pass over the served predictions: open the UI of a server started with mlcycle serve --project, or run mlcycle monitor"
                )
            }
            if let version, try await ui.store.modelVersion(name, version: version) == nil {
                throw UIError(404, "model '\(name)' has no version \(version)")
            }
            let key = "\(name)|\(version.map(String.init) ?? "served")"
            let (computed, html) = try await ui.monitoringPages.page(key) { try await monitoringPage(name, version) }
            guard let html else { throw UIError(404, "no model called '\(name)' is served (it has no champion)") }
            let versions = try await ui.store.newestModelVersions(name, offset: 0, limit: 20).map(\.version)
            return Rendered(html: ui.framed(html, model: name, version: version, versions: versions, at: computed))
        }
        for (file, type, bytes) in [
            ("style.css", "text/css; charset=utf-8", PackageResources.style_css),
            ("ui.js", "text/javascript; charset=utf-8", PackageResources.ui_js),
            ("icon.svg", "image/svg+xml", PackageResources.icon_svg),
        ] {
            group.get(RouterPath("static/\(file)")) { _, _ in
                var headers = HTTPFields()
                headers[.contentType] = type
                headers[.cacheControl] = "max-age=300"
                Self.securityHeaders(&headers)
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
            }
        }
    }

    /// The icon at `/favicon.ico`, where browsers ask for it whatever the page's icon link says.
    public static func addIcon<Context: RequestContext>(to router: Router<Context>) {
        router.get("favicon.ico") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "image/svg+xml", .cacheControl: "max-age=86400"],
                body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.icon_svg)))
        }
    }

    /// Serves the UI alone (`mlcycle ui`): its pages under `base`, and `/` sends a browser there.
    public func run(host: String, port: Int, logger: Logger = Logger(label: "mlcycle.ui")) async throws {
        let router = Router()
        addRoutes(to: router)
        let target = base + "/"
        router.get("/") { _, _ in Response(status: .seeOther, headers: [.location: target]) }
        router.get("health") { _, _ in "ok" }
        Self.addIcon(to: router)
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port)), logger: logger)
        try await app.runService()
    }
}

/// Monitoring pages computed in the last minute, by model and version.
actor MonitoringPages {
    static let lifetime: TimeInterval = 60
    private var pages: [String: (at: Date, html: String?)] = [:]

    /// The page kept for `key` when it is less than a minute old, else `make()`'s, kept; with the time it was made.
    func page(_ key: String, _ make: () async throws -> String?) async throws -> (Date, String?) {
        let now = Date()
        if let kept = pages[key], now.timeIntervalSince(kept.at) < Self.lifetime { return (kept.at, kept.html) }
        let html = try await make()
        if pages.count >= 64 { pages = pages.filter { now.timeIntervalSince($0.value.at) < Self.lifetime } }
        pages[key] = (now, html)
        return (now, html)
    }
}

extension WebUI {
    /// A monitoring page (a page of its own, as `mlcycle monitor --html` writes it) inside the UI: a bar with the way
    /// back, the versions to look at one by one and when it was computed; it refreshes itself every minute.
    func framed(_ page: String, model: String, version: Int?, versions: [Int], at: Date) -> String {
        let values: [String: Any] = [
            "base": base, "model": model, "modelPath": Self.segment(model), "served": version == nil,
            "versions": versions.map { ["version": $0, "current": $0 == version] as [String: Any] },
            "computed": UIFormat.time(at),
        ]
        let bar = templates.render(values, withTemplate: "monitoringbar") ?? ""
        var framed = page
        if let body = framed.range(of: "<body>") { framed.insert(contentsOf: bar, at: body.upperBound) }
        if let main = framed.range(of: "<main>") {
            framed.replaceSubrange(main, with: "<main data-refresh=\"60\">")
        }
        if let head = framed.range(of: "</head>") {
            framed.insert(contentsOf: "<script src=\"\(base)/static/ui.js\" defer></script>", at: head.lowerBound)
        }
        return framed
    }
}
