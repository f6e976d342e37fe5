import Foundation
import HTTPTypes
import Hummingbird
import MLCycleStore
import NIOCore

/// Promote, approve and roll back from the UI: POST forms only, from a logged-in session, each with its CSRF token,
/// through the same `ModelRegistry` rules as the CLI (approvers, gates, overrides on the record).
extension WebUI {
    /// Who is looking at a page: whether actions are on here, and the session and its CSRF token when logged in.
    struct Viewer: Sendable {
        var actionsOn = false
        var session: String?
        var csrf: String?
    }

    /// The viewer of the request being answered (set around each page's work).
    @TaskLocal static var viewer = Viewer()

    func viewer(_ request: Request) -> Viewer {
        guard let sessions else { return Viewer() }
        let value = request.cookies[UISession.cookie]?.value
        guard let value, sessions.isValid(value) else { return Viewer(actionsOn: true) }
        return Viewer(actionsOn: true, session: value, csrf: sessions.csrf(for: value))
    }

    /// The viewer's values for the templates.
    static func viewerValues(_ viewer: Viewer) -> [String: Any] {
        ["actionsOn": viewer.actionsOn, "loggedIn": viewer.session != nil, "csrf": viewer.csrf ?? ""]
    }

    /// The action forms of a page, as `actionforms` shows them.
    struct ActionForm {
        var action: String
        var title: String
        var button: String
        var model: String
        var version: Int?
        var askAlias = false
        var alias = "champion"
        var override = false

        var values: [String: Any] {
            [
                "action": action, "title": title, "button": button, "model": model, "version": version as Any,
                "askAlias": askAlias, "alias": alias, "override": override,
            ]
        }
    }

    /// The values `actionforms` needs: the forms, what they do in words, and where to come back after logging in.
    func actionValues(_ forms: [ActionForm], verbs: String, here: String) -> [String: Any] {
        ["forms": forms.map(\.values), "hasForms": !forms.isEmpty, "verbs": verbs, "here": Self.queryValue(here)]
    }

    /// The latest move on the record, for the page an action comes back to.
    func notice(_ query: UIQuery, model: String) async throws -> String? {
        guard let done = try query.one("done"), ["promote", "approve", "rollback"].contains(done) else { return nil }
        guard let entry = try await store.audit(AuditFilter(model: model, limit: 1)).first else { return nil }
        let target = entry.version.map { "v\($0)" } ?? "nothing"
        return
            "Done: \(entry.action) — \(entry.alias ?? "") now points at \(target) (by \(entry.actor): \(entry.reason))."
    }

    static func redirect(_ location: String, cookie: Cookie? = nil) -> Response {
        var headers = HTTPFields()
        headers[.location] = location
        securityHeaders(&headers)
        var response = Response(status: .seeOther, headers: headers)
        if let cookie { response.setCookie(cookie) }
        return response
    }

    /// Refuses a POST whose `Origin` is another site's (SameSite=Strict keeps the session cookie off it too).
    static func checkOrigin(_ request: Request) throws {
        guard let origin = request.headers[.origin], origin != "null" else { return }
        let host = request.head.authority ?? request.headers[HTTPField.Name("Host")!] ?? ""
        guard let url = URL(string: origin), let originHost = url.host else {
            throw UIError(403, "the request came from another site (Origin: \(origin.prefix(60)))")
        }
        let originAuthority = originHost + (url.port.map { ":\($0)" } ?? "")
        guard originAuthority == host || originHost == host else {
            throw UIError(403, "the request came from another site (Origin: \(origin.prefix(60)))")
        }
    }

    /// A form's fields (at most 16 KB).
    static func form(_ request: Request) async throws -> UIQuery {
        var request = request
        let buffer: ByteBuffer
        do { buffer = try await request.collectBody(upTo: 16_384) } catch {
            throw UIError(413, "the form is larger than 16 KB")
        }
        return try UIQuery(String(buffer: buffer))
    }

    /// Where to go after logging in: a page of this UI, never another site.
    func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix(base + "/") || next == base, !next.contains("//"), !next.contains("\\")
        else { return base + "/" }
        return next
    }

    func loginPage(_ query: UIQuery, problem: String? = nil) throws -> Rendered {
        render(
            "login",
            [
                "actionsOn": sessions != nil, "next": safeNext(try query.one("next")), "problem": problem as Any,
            ], status: problem == nil ? .ok : .unauthorized)
    }

    func logIn(_ request: Request) async throws -> Response {
        try Self.checkOrigin(request)
        guard let sessions else { throw UIError(403, "actions are off: start the server with MLCYCLE_ADMIN_TOKEN set") }
        let form = try await Self.form(request)
        guard let token = try form.one("token"), sessions.isAdminToken(token) else {
            return Self.response(try loginPage(form, problem: "That is not this server's admin token."))
        }
        let cookie = Cookie(
            name: UISession.cookie, value: sessions.issue(), maxAge: Int(UISession.lifetime), path: base,
            secure: secureCookies, httpOnly: true, sameSite: .strict)
        return Self.redirect(safeNext(try form.one("next")), cookie: cookie)
    }

    /// The checks every action passes first: actions on, the same site, a session, its CSRF token.
    func authorize(_ request: Request, _ form: UIQuery) throws {
        guard sessions != nil else {
            throw UIError(403, "actions are off: start the server with MLCYCLE_ADMIN_TOKEN set")
        }
        try Self.checkOrigin(request)
        let viewer = viewer(request)
        guard let session = viewer.session else {
            throw UIError(401, "log in with the admin token first (\(base)/login); your session may have ended")
        }
        guard let sessions, sessions.isValidCSRF(try form.one("csrf"), for: session) else {
            throw UIError(403, "this form is stale or was not made by this page: reload the page and send it again")
        }
    }

    func logOut(_ request: Request) async throws -> Response {
        let form = try await Self.form(request)
        try authorize(request, form)
        let cookie = Cookie(
            name: UISession.cookie, value: "", maxAge: 0, path: base, secure: secureCookies, httpOnly: true,
            sameSite: .strict)
        return Self.redirect(base + "/", cookie: cookie)
    }

    /// Runs one action from its form and comes back to the page it concerns.
    func act(_ action: String, _ request: Request) async throws -> Response {
        let form = try await Self.form(request)
        try authorize(request, form)
        guard let model = try form.one("model") else { throw UIError(400, "the form names no model") }
        guard let who = try form.one("who"), who.count <= 64 else {
            throw UIError(400, "say who you are (at most 64 characters): the audit trail keeps it")
        }
        guard let reason = try form.one("reason") else { throw UIError(400, "say why: the audit trail keeps it") }
        let alias = try form.one("alias") ?? "champion"
        guard alias.count <= 64, alias.allSatisfy({ $0.isLetter || $0.isNumber || "_.-".contains($0) }) else {
            throw UIError(400, "an alias is letters, digits, '_', '.' and '-' (at most 64)")
        }
        let registry = ModelRegistry(store: store, approvers: approvers)
        let actor = RegistryActor.person(who)
        let path = "\(base)/models/\(Self.segment(model))"
        func version() async throws -> ModelVersion {
            guard let text = try form.one("version"), let number = Int(text), number > 0 else {
                throw UIError(400, "the form names no version")
            }
            guard let found = try await store.modelVersion(model, version: number) else {
                throw UIError(404, "model '\(model)' has no version \(number)")
            }
            return found
        }
        do {
            switch action {
            case "promote":
                let v = try await version()
                try await registry.promote(
                    v, to: alias, by: actor, reason: reason, overrideGates: try form.one("override_gates") == "yes")
                afterMove?()
                return Self.redirect("\(path)/\(v.version)?done=promote")
            case "approve":
                let v = try await version()
                try await registry.approve(v, by: actor, reason: reason)
                afterMove?()
                return Self.redirect("\(path)/\(v.version)?done=approve")
            default:
                guard try await store.modelNames().contains(model) else {
                    throw UIError(404, "no model called '\(model)' is registered")
                }
                try await registry.rollback(model, alias: alias, by: actor, reason: reason)
                afterMove?()
                return Self.redirect("\(path)?done=rollback")
            }
        } catch let refused as RegistryError {
            switch refused {
            case .notAnApprover: throw UIError(403, refused.localizedDescription)
            case .notFound: throw UIError(404, refused.localizedDescription)
            case .gatesFailed(let name, let version, let failed, true):
                throw UIError(
                    409,
                    "\(name) v\(version) failed its gates (\(failed.joined(separator: "; "))): tick 'Promote although its gates failed' to promote it anyway, on the record"
                )
            default: throw UIError(409, refused.localizedDescription)
            }
        }
    }
}
