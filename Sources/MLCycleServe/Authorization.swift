import Foundation
import HTTPTypes
import Hummingbird

/// Which bearer token a route needs, once tokens are set. Every route of the server is in `ModelServer.routeAccess`;
/// a route missing from it needs the admin token (closed by default), and a test checks the table against the
/// router's own list of routes, so none can be added open by accident.
public enum RouteAccess: String, Sendable, CaseIterable {
    /// Anyone: liveness and readiness probes, the version, and the Prometheus metrics (counts, no rows).
    case open
    /// The predict token, when `MLCYCLE_PREDICT_TOKEN` is set: scoring, and the served models' schemas.
    case predict
    /// The feedback token (`MLCYCLE_FEEDBACK_TOKEN`, or the predict token when that is not set), when one is set:
    /// posting actuals and overrides, and the monitoring page, which shows served inputs and outcomes.
    case feedback
    /// The admin token: moving aliases. Without `MLCYCLE_ADMIN_TOKEN` these routes are off.
    case admin
}

/// The server's bearer tokens, one per role; the admin token is accepted wherever a token is needed.
public struct AccessTokens: Sendable, Equatable {
    public var admin: String?
    public var predict: String?
    /// Falls back to `predict` when not set.
    public var feedback: String?

    public init(admin: String? = nil, predict: String? = nil, feedback: String? = nil) {
        self.admin = admin
        self.predict = predict
        self.feedback = feedback
    }

    /// The tokens from the environment, each also as a file named by `…_FILE` (for secrets mounted as files):
    /// `MLCYCLE_ADMIN_TOKEN`, `MLCYCLE_PREDICT_TOKEN`, `MLCYCLE_FEEDBACK_TOKEN`.
    public init(environment: [String: String]) {
        func token(_ name: String) -> String? {
            if let t = environment[name], !t.isEmpty { return t }
            if let file = environment[name + "_FILE"], let text = try? String(contentsOfFile: file, encoding: .utf8) {
                let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
                return t.isEmpty ? nil : t
            }
            return nil
        }
        self.init(
            admin: token("MLCYCLE_ADMIN_TOKEN"), predict: token("MLCYCLE_PREDICT_TOKEN"),
            feedback: token("MLCYCLE_FEEDBACK_TOKEN"))
    }

    /// Why a request with this `Authorization` header may not use a route of `access` (nil: it may).
    public func refusal(for access: RouteAccess, authorization: String?) -> RequestError? {
        let needed: String?
        switch access {
        case .open: return nil
        case .predict: needed = predict
        case .feedback: needed = feedback ?? predict
        case .admin:
            guard admin != nil else {
                return RequestError(
                    status: 401, "admin endpoints are off: start the server with MLCYCLE_ADMIN_TOKEN set")
            }
            needed = nil
        }
        if access != .admin && needed == nil { return nil }
        let given = Self.bearer(authorization)
        if let given, [needed, admin].contains(where: { $0.map { Self.same(given, $0) } ?? false }) { return nil }
        return RequestError(
            status: 401,
            "\(given == nil ? "missing" : "wrong") bearer token: this route needs the \(access.rawValue) token "
                + "(Authorization: Bearer …)")
    }

    /// The token of an `Authorization: Bearer …` header; the scheme is case-insensitive (RFC 6750, RFC 9110).
    static func bearer(_ header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }

    /// Compares in time that depends only on the lengths, not on where the first difference is.
    static func same(_ given: String, _ expected: String) -> Bool {
        let a = Array(given.utf8)
        let b = Array(expected.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return difference == 0
    }
}

/// Refuses, before the handler runs, a request without the token its route needs (401 with `WWW-Authenticate`).
struct AuthorizationMiddleware<Context: RequestContext>: RouterMiddleware {
    let tokens: AccessTokens

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let access = ModelServer.access(request.method, context.endpointPath)
        guard let refusal = tokens.refusal(for: access, authorization: request.headers[.authorization]) else {
            return try await next(request, context)
        }
        var response = ModelServer.error(refusal)
        response.headers[.wwwAuthenticate] = "Bearer realm=\"mlcycle\""
        return response
    }
}

extension ModelServer {
    /// Every route of the server (Hummingbird's path form) and the token each method needs. A method a path does not
    /// declare is answered 405 and needs no token.
    public static let routeAccess: [String: [HTTPRequest.Method: RouteAccess]] = [
        "/health": [.get: .open], "/ready": [.get: .open], "/metrics": [.get: .open],
        "/ping": [.get: .open], "/version": [.get: .open], "/favicon.ico": [.get: .open],
        "/v2/health/live": [.get: .open], "/v2/health/ready": [.get: .open],
        "/openapi.json": [.get: .predict], "/v1/models": [.get: .predict], "/v1/models/{name}": [.get: .predict],
        "/v1/models/{name}/predict": [.post: .predict], "/invocations": [.post: .predict],
        "/v2/models/{name}": [.get: .predict], "/v2/models/{name}/ready": [.get: .predict],
        "/v2/models/{name}/infer": [.post: .predict],
        "/v1/feedback": [.post: .feedback],
        "/v1/admin/models/{name}/{action}": [.post: .admin],
    ]

    /// Where the web UI's pages are: a browser sends no bearer token, so they need none here; the UI reads openly
    /// and acts only for a session logged in with the admin token (`WebUI`).
    public static let uiPrefix = "/ui"

    /// The token `method` on the route `path` needs: from `routeAccess`; HEAD as GET (Hummingbird answers HEAD with
    /// the GET handler); a method the path does not declare (405) needs none; the UI's pages none (they have their own
    /// login); an unknown route needs the admin token.
    static func access(_ method: HTTPRequest.Method, _ path: String?) -> RouteAccess {
        guard let path else { return .admin }
        if path == uiPrefix || path.hasPrefix(uiPrefix + "/") { return .open }
        guard let methods = routeAccess[path] else { return .admin }
        return methods[method == .head ? .get : method] ?? .open
    }
}
