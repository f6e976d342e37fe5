import Foundation
import Hummingbird
import Logging
import MLCycleData
import MLCycleEvaluate
import MLCycleLearn
import MLCyclePrep
import MLCycleSources
import MLCycleStore
import MLCycleUI
import NIOCore
import NIOFoundationEssentialsCompat
import Prometheus

/// The server's Prometheus metrics (swift-prometheus), names as documented: requests by model, version and status,
/// rows scored, latency histogram; the prediction log's counters live in the same registry, and so does what
/// Hummingbird's metrics middleware records through swift-metrics when the CLI bootstraps it.
public final class ServerMetrics: Sendable {
    /// Latency histogram bucket bounds, in seconds.
    static let buckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
    public let registry: PrometheusCollectorRegistry

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) { self.registry = registry }

    /// The `model` label of requests for a name the server does not serve: one series for all of them, so made-up
    /// names cannot grow `/metrics` (and the server's memory) without bound.
    public static let unknownModel = "(unknown)"

    /// The series one model, version and status write to: looked up in the registry once, then kept (three
    /// registry look-ups with their label arrays per request were 2.5 % of the server's time under load).
    private struct Series {
        var requests: Prometheus.Counter
        var rows: Prometheus.Counter
        var duration: Prometheus.ValueHistogram
    }
    private let series = SeriesCache()
    private final class SeriesCache: @unchecked Sendable {
        let lock = NSLock()
        var byKey = [String: Series]()  // under `lock`
    }

    func record(model: String, version: String, code: Int, seconds: Double, rows n: Int) {
        let key = "\(model)\u{0}\(version)\u{0}\(code)"
        let s =
            series.lock.withLock { series.byKey[key] }
            ?? {
                let labels = [("model", model), ("version", version)]
                let made = Series(
                    requests: registry.makeCounter(
                        descriptor: Self.name(
                            "requests", unit: "total", "Prediction requests by model, version and HTTP status."),
                        labels: labels + [("code", String(code))]),
                    rows: registry.makeCounter(
                        descriptor: Self.name("predicted_rows", unit: "total", "Rows scored."), labels: labels),
                    duration: registry.makeValueHistogram(
                        descriptor: Self.name(
                            "request_duration", unit: "seconds", "Time to answer a prediction request."),
                        labels: labels, buckets: Self.buckets))
                series.lock.withLock { series.byKey[key] = made }
                return made
            }()
        s.requests.increment()
        s.rows.increment(by: Int64(n))
        s.duration.record(seconds)
    }

    /// `mlcycle_NAME_UNIT` (`mlcycle_requests_total`), with its help line.
    static func name(_ name: String, unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "mlcycle", metricName: name, unitName: unit, helpText: help)
    }

    /// Prometheus exposition text.
    public func text() -> String { registry.emitToString() }

    /// A swift-metrics factory writing into this registry, with names and labels made valid for Prometheus
    /// (`http.server.request.duration` → `http_server_request_duration`), for `MetricsSystem.bootstrap`: what
    /// Hummingbird's metrics middleware records then appears in `/metrics` too.
    public func metricsFactory() -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.nameAndLabelSanitizer = { name, labels in
            func clean(_ s: String) -> String { String(s.map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "_" }) }
            return (clean(name), labels.map { (clean($0.0), $0.1) })
        }
        return factory
    }
}

/// The HTTP model server: native JSON and CSV prediction, model listing, health, readiness and metrics.
public struct ModelServer: Sendable {
    public let catalog: ModelCatalog
    public let metrics: ServerMetrics
    /// Where predictions are logged and feedback is recorded (nil when serving a bundle without a store).
    public let log: PredictionLog?
    /// Larger request bodies are refused with 413.
    public var maxBodyBytes = 16 << 20
    /// The bearer tokens of the roles (admin, predict, feedback); which route needs which is `routeAccess`.
    public var tokens = AccessTokens()
    /// The project's `release.approvers`: when set, only they may promote through the admin endpoint.
    public var approvers: [String] = []
    /// Where the server logs (start, stop, and each request when `logRequests` is on).
    public var logger = Logger(label: "mlcycle.serve")
    /// Logs every request (method, path, status) at info level through Hummingbird's request-log middleware.
    public var logRequests = false
    /// Reads the records of live lookups (`serving: live`) from their databases, through each lookup's cache.
    public var lookupReader: any LiveRecordReader = PostgresLookupReader()

    /// The bearer tokens from the environment (`AccessTokens(environment:)`).
    public mutating func readTokens(from environment: [String: String] = ProcessInfo.processInfo.environment) {
        tokens = AccessTokens(environment: environment)
    }
    /// The web UI, served under its base path (`/ui`) when set: its pages are read without a bearer token, and act
    /// through its own login with the admin token (the CLI sets it up with the project's monitoring pass).
    public var webUI: WebUI?
    /// When true, a native prediction request may say when it happened (`X-MLCycle-Time: 2008-03-15T00:00:00Z`) and
    /// is logged at that time — for replaying history through the server (`mlcycle serve --replay-clock`); off, the
    /// header is refused so live logs keep the server's own clock.
    public var replayClock = false

    /// The time a request asks to be logged at (`X-MLCycle-Time`), nil without the header.
    func requestedTime(_ request: Request) throws -> Date? {
        guard let text = request.headers.first(where: { $0.name.canonicalName == "x-mlcycle-time" })?.value else {
            return nil
        }
        guard replayClock else {
            throw RequestError(
                "X-MLCycle-Time is honoured only by a server started with --replay-clock (for replays); leave it out")
        }
        guard let date = ISO8601DateFormatter().date(from: text) else {
            throw RequestError("X-MLCycle-Time must be an ISO 8601 time such as 2008-03-15T00:00:00Z; got '\(text)'")
        }
        return date
    }

    public init(catalog: ModelCatalog, log: PredictionLog? = nil, metrics: ServerMetrics = ServerMetrics()) {
        self.catalog = catalog
        self.log = log
        self.metrics = metrics
    }

    /// Queues one log record per scored row (ids as returned to the client); inputs as a JSON object in the
    /// model's column order.
    func logRows(
        _ m: ModelCatalog.Resolved, _ table: Table, _ scored: [ModelBundle.Scored], ids: [String], seconds: Double,
        at: Date? = nil
    ) {
        guard let log else { return }
        log.append(records(m, table, scored, ids: ids, seconds: seconds, at: at))
    }

    /// The log's records of answered rows (inputs as JSON objects, the answering version, the latency).
    func records(
        _ m: ModelCatalog.Resolved, _ table: Table, _ scored: [ModelBundle.Scored], ids: [String], seconds: Double,
        at: Date?
    ) -> [PredictionRecord] {
        let now = at ?? Date()
        var records = [PredictionRecord]()
        records.reserveCapacity(scored.count)
        // Keys written once for many rows; a single row writes them in place.
        let names =
            scored.count < 2
            ? nil
            : table.columns.map { c -> [UInt8] in
                var j = JSONWriter(capacity: c.name.utf8.count + 3)
                j.key(c.name)
                return j.bytes
            }
        for (r, s) in scored.enumerated() {
            var inputs = JSONWriter(capacity: 32 * table.columnCount)
            inputs.raw("{")
            var first = true
            for (c, column) in table.columns.enumerated() where column.isValid(r) {
                if !first { inputs.comma() }
                first = false
                if let names { inputs.bytes.append(contentsOf: names[c]) } else { inputs.key(column.name) }
                inputs.cell(column, r)
            }
            inputs.raw("}")
            records.append(
                PredictionRecord(
                    id: ids[r], model: m.name, version: m.version, at: now, latencySeconds: seconds,
                    inputs: String(decoding: inputs.bytes, as: UTF8.self),
                    prediction: s.value.map { formatDouble($0) } ?? s.prediction, status: s.status,
                    confidence: s.prediction.flatMap { s.probabilities[$0] }, lowConfidence: s.lowConfidence,
                    reasons: s.reasons.isEmpty ? nil : s.reasons))
        }
        return records
    }

    /// Logs a refused request as one record (status `error CODE`, no inputs, no prediction).
    func logFailure(_ m: ModelCatalog.Resolved, code: Int, seconds: Double, at: Date?) {
        let when = at ?? Date()
        log?.append([
            PredictionRecord(
                id: PredictionRecord.newID(at: when), model: m.name, version: m.version, at: when,
                latencySeconds: seconds, inputs: "{}", prediction: nil, status: "error \(code)")
        ])
    }

    /// One answered request: the version that answered, the rows as read, their answers and ids.
    struct Answer {
        var model: ModelCatalog.Resolved
        var table: Table
        var scored: [ModelBundle.Scored]
        var ids: [String]
    }

    /// Scores rows for `name` as the release policy routes them (a canary share to the challenger, a shadow copy),
    /// records the metrics and logs every answered row — the one path behind the native, MLflow and v2 endpoints.
    /// `rows` reads the request for the bundle that answers; what it throws is the client's to fix (4xx).
    /// A request refused after its model was found is logged too (status `error 400`, no inputs), so monitoring can
    /// show the error rate by status code per window. `explain`, asked once the rows are read, is how many
    /// contributions each answer shows (nil or 0: none).
    func predict(
        _ name: String, key: String?, started: Date, at: Date? = nil, explain: () -> Int? = { nil },
        rows: (ModelCatalog.Resolved) throws -> Table
    ) async throws -> Answer {
        guard let (m, shadow) = try await catalog.route(name, key: key) else {
            metrics.record(
                model: ServerMetrics.unknownModel, version: "-", code: 404, seconds: Date().timeIntervalSince(started),
                rows: 0)
            throw RequestError(
                status: 404,
                "no model called '\(name)' (served: \((try? await catalog.names())?.joined(separator: ", ") ?? ""))")
        }
        let table: Table
        let scored: [ModelBundle.Scored]
        let request: Table
        do {
            request = try rows(m)
            // The logged inputs are the completed rows (the columns monitoring and retraining compare with training).
            let completed = try await m.bundle.complete(request, reading: lookupReader)
            table = completed.table
            scored = try m.bundle.score(completed, explain: explain())
        } catch let e as RequestError {
            metrics.record(
                model: name, version: m.version, code: e.status, seconds: Date().timeIntervalSince(started), rows: 0)
            logFailure(m, code: e.status, seconds: Date().timeIntervalSince(started), at: at)
            throw e
        } catch {
            // A pipeline or model refusing the rows (a missing column, a wrong type): the client's to fix.
            metrics.record(
                model: name, version: m.version, code: 400, seconds: Date().timeIntervalSince(started), rows: 0)
            logFailure(m, code: 400, seconds: Date().timeIntervalSince(started), at: at)
            throw RequestError(error.localizedDescription)
        }
        let ids = PredictionRecord.newIDs(scored.count, at: at ?? Date())
        let seconds = Date().timeIntervalSince(started)
        metrics.record(model: name, version: m.version, code: 200, seconds: seconds, rows: table.rowCount)
        guard let shadow else {
            logRows(m, table, scored, ids: ids, seconds: seconds, at: at)
            return Answer(model: m, table: table, scored: scored, ids: ids)
        }
        // The other version scores a copy: logged beside the answer (same ids + "-shadow", status "shadow", or
        // "shadow review" / "shadow unavailable"), never returned. A live request does not wait for it (it runs in
        // the background); a replayed one (its own time) has it scored first and logged in the same batch, so the
        // replay's watcher sees both.
        let server = self
        let answered = records(m, table, scored, ids: ids, seconds: seconds, at: at)
        let lookupReader = self.lookupReader
        @Sendable func shadowRecords() async -> [PredictionRecord] {
            let shadowStarted = Date()
            // The other version completes the request with its own lookups, as it would if it answered.
            guard let completed = try? await shadow.bundle.complete(request, reading: lookupReader),
                let shadowScored = try? shadow.bundle.score(completed)
            else { return [] }
            let shadowSeconds = Date().timeIntervalSince(shadowStarted)
            server.metrics.record(
                model: name, version: shadow.version + " (shadow)", code: 200, seconds: shadowSeconds,
                rows: table.rowCount)
            return server.records(
                shadow, completed.table,
                shadowScored.map {
                    var s = $0
                    s.status = s.status == "ok" ? "shadow" : "shadow \(s.status)"
                    return s
                },
                ids: ids.map { $0 + "-shadow" }, seconds: shadowSeconds, at: at)
        }
        if at != nil {
            log?.append(answered + (await shadowRecords()))
        } else {
            log?.append(answered)
            _Concurrency.Task.detached { server.log?.append(await shadowRecords()) }
        }
        return Answer(model: m, table: table, scored: scored, ids: ids)
    }

    /// Keys sorted, as every answer of the server writes them.
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    /// A typed answer as JSON (the endpoints that are not hot; predictions are written by `JSONWriter`).
    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return bytes(data, status: status, type: "application/json")
    }

    static func bytes(_ data: Data, status: HTTPResponse.Status = .ok, type: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func error(_ e: RequestError) -> Response {
        bytes(e.json, status: HTTPResponse.Status(code: e.status), type: "application/json")
    }

    /// The router with every endpoint.
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        if logRequests { router.add(middleware: LogRequestsMiddleware(.info)) }
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: AuthorizationMiddleware(tokens: tokens))
        let catalog = self.catalog
        let metrics = self.metrics
        let limit = maxBodyBytes
        let server = self
        router.get("health") { _, _ in Self.json(["status": "ok"]) }
        if let webUI {
            webUI.addRoutes(to: router)
            WebUI.addIcon(to: router)
        } else {
            for path in ["ui", "ui/**"] {
                router.get(RouterPath(path)) { _, _ in
                    Self.error(RequestError(status: 404, "the web UI needs a store: serve with --store or --project"))
                }
            }
        }
        router.get("openapi.json") { _, _ -> Response in
            let models = await catalog.loaded()
            return Self.bytes(OpenAPI.document(for: models), type: "application/json")
        }
        router.get("ready") { _, _ -> Response in
            let names = (try? await catalog.names()) ?? []
            let ready = await catalog.loaded()
            struct Readiness: Encodable {
                var status: String
                var models: [String]
            }
            return ready.isEmpty
                ? Self.json(Readiness(status: "no model loaded", models: names), status: .serviceUnavailable)
                : Self.json(Readiness(status: "ready", models: ready.map { "\($0.name) \($0.version)" }))
        }
        router.get("metrics") { _, _ -> Response in
            server.log?.publish(to: metrics.registry)
            return Self.bytes(Data(metrics.registry.emitToBuffer()), type: "text/plain; version=0.0.4")
        }
        // Admin: move an alias (promote) or move it back (rollback); the next request is answered by the new version.
        router.post("v1/admin/models/:name/:action") { request, context -> Response in
            guard case .store(let store, _) = catalog.source else {
                return Self.error(RequestError(status: 409, "a bundle served without a store has no aliases"))
            }
            let name = try context.parameters.require("name")
            let action = try context.parameters.require("action")
            var request = request
            let data = (try? await request.collectBody(upTo: 1 << 16)) ?? ByteBuffer()
            let body: AdminRequest
            do {
                body =
                    data.readableBytes == 0
                    ? AdminRequest() : try JSONDecoder().decode(AdminRequest.self, from: Data(buffer: data))
            } catch {
                return Self.error(
                    RequestError(
                        "the body must be {\"version\", \"alias\", \"reason\", \"actor\"} (all optional but version for promote)"
                    ))
            }
            let alias = body.alias ?? "champion"
            let reason = body.reason ?? "via the admin endpoint"
            let registry = ModelRegistry(store: store, approvers: server.approvers)
            let actor = RegistryActor.person(body.actor ?? "admin")
            do {
                let move: AliasMove
                switch action {
                case "promote":
                    guard let version = body.version else {
                        return Self.error(
                            RequestError("give the version to promote: {\"version\": 3}", field: "version"))
                    }
                    guard let v = try await store.modelVersion(name, version: version) else {
                        return Self.error(RequestError(status: 404, "no version \(version) of \(name)"))
                    }
                    move = try await registry.promote(v, to: alias, by: actor, reason: reason)
                case "rollback":
                    move = try await registry.rollback(name, alias: alias, by: actor, reason: reason)
                default:
                    return Self.error(
                        RequestError(status: 404, "unknown admin action '\(action)' (promote or rollback)"))
                }
                catalog.invalidate()
                return Self.json(move)
            } catch let refused as RegistryError {
                if case .notAnApprover = refused {
                    return Self.error(RequestError(status: 403, refused.localizedDescription))
                }
                return Self.error(RequestError(status: 409, refused.localizedDescription))
            } catch {
                return Self.error(RequestError(status: 500, "the store refused: \(error.localizedDescription)"))
            }
        }
        // Actuals (the eventual truth) and overrides (a person's replacement) for answered rows, one or a batch;
        // all of the batch or none of it is recorded.
        router.post("v1/feedback") { request, _ -> Response in
            guard let log = server.log else {
                return Self.error(RequestError(status: 503, "feedback needs a store: serve with --store"))
            }
            var request = request
            let data: ByteBuffer
            do { data = try await request.collectBody(upTo: limit) } catch {
                return Self.error(RequestError(status: 413, "the feedback body is too large"))
            }
            let records: [FeedbackRecord]
            do { records = try JSONDecoder().decode(FeedbackRequest.self, from: Data(buffer: data)).records } catch let
                e as RequestError
            {
                return Self.error(e)
            } catch {
                return Self.error(
                    RequestError(
                        "the body must be {\"prediction_id\", \"actual\"}, {\"prediction_id\", \"kind\": \"override\", \"value\"} or {\"feedback\": [...]}"
                    ))
            }
            do {
                // An id the server never answered (not in the store, nor on its way there) is refused by name.
                let ids = Array(Set(records.map(\.predictionID)))
                var answeredBy = try await log.answeredBy(ids)
                // Another server on the same store writes what it answered every 100 ms: an id not found yet may be
                // on its way there, so it is looked for again for a second before it is refused.
                for _ in 0..<10 where answeredBy.count < ids.count {
                    try await _Concurrency.Task.sleep(for: .milliseconds(100))
                    let missing = ids.filter { answeredBy[$0] == nil }
                    answeredBy.merge(try await log.answeredBy(missing)) { found, _ in found }
                }
                if let row = records.firstIndex(where: { answeredBy[$0.predictionID] == nil }) {
                    let unknown = records.map(\.predictionID).filter { answeredBy[$0] == nil }
                    return Self.error(
                        RequestError(
                            status: 404,
                            "no prediction has the id '\(records[row].predictionID)'\(unknown.count > 1 ? " (nor \(unknown.count - 1) more of this batch)" : ""): feedback goes to the id an answer gave; nothing of this batch was recorded",
                            field: "prediction_id", row: records.count > 1 ? row : nil))
                }
                // Each value must be one the answering model's target can take (a number for a regression).
                for (row, r) in records.enumerated() {
                    guard let model = answeredBy[r.predictionID], let m = try? await catalog.resolve(model),
                        let problem = m.bundle.outcomeProblem(r.value)
                    else { continue }
                    return Self.error(
                        RequestError(
                            "feedback\(records.count > 1 ? " \(row)" : "") for '\(r.predictionID)': \(problem); nothing of this batch was recorded",
                            field: r.kind == .actual ? "actual" : "value", row: records.count > 1 ? row : nil))
                }
                let replaced = try await log.store.recordFeedback(records)
                return Self.json(["recorded": records.count, "replaced": replaced])
            } catch {
                return Self.error(
                    RequestError(
                        status: 503, "the store could not record the feedback: \(error.localizedDescription); retry"))
            }
        }
        router.get("v1/models") { _, _ -> Response in
            struct Listed: Encodable { var name, version, task, target: String }
            var list = [Listed]()
            for name in try await catalog.names() {
                guard let m = try await catalog.resolve(name) else { continue }
                list.append(
                    Listed(name: name, version: m.version, task: m.bundle.task.rawValue, target: m.bundle.target))
            }
            return Self.json(["models": list])
        }
        router.get("v1/models/:name") { _, context -> Response in
            let name = try context.parameters.require("name")
            guard let m = try await catalog.resolve(name) else {
                return Self.error(RequestError(status: 404, "no model called '\(name)'"))
            }
            return await Self.json(Self.describe(m, release: try catalog.release(name)))
        }
        router.post("v1/models/:name/predict") { request, context -> Response in
            let started = Date()
            let name = try context.parameters.require("name")
            let key =
                request.headers.first { $0.name.canonicalName == "x-request-key" }?.value
                ?? request.uri.queryParameters.get("key").map { String($0) }
            var request = request
            let body: ByteBuffer
            do { body = try await request.collectBody(upTo: limit) } catch is NIOTooManyBytesError {
                let served = await (try? catalog.resolve(name)) != nil
                metrics.record(
                    model: served ? name : ServerMetrics.unknownModel, version: "-", code: 413,
                    seconds: Date().timeIntervalSince(started), rows: 0)
                return Self.error(
                    RequestError(
                        status: 413, "the request body is larger than \(limit >> 20) MB; send fewer rows per request"))
            }
            let csv = request.headers[.contentType]?.hasPrefix("text/csv") == true
            do {
                let asked = try RowDecoder.explainCount(
                    query: request.uri.queryParameters.get("explain").map { String($0) })
                var explain = asked
                let a = try await server.predict(
                    name, key: key, started: started, at: try server.requestedTime(request), explain: { explain }
                ) {
                    m in
                    if csv { return try RowDecoder.table(fromCSV: Array(buffer: body), bundle: m.bundle) }
                    let cells = try RowDecoder.cells(fromJSON: Data(buffer: body), strict: true)
                    explain = cells.explain ?? asked
                    return try RowDecoder.table(cells, plan: m.plan)
                }
                if csv {
                    return Self.bytes(
                        Data(Self.csv(a.scored, ids: a.ids, version: a.model.version).utf8), type: "text/csv")
                }
                var j = JSONWriter(capacity: 64 + 160 * a.scored.count)
                j.raw("{\"model\":")
                j.string(name)
                j.raw(",\"model_version\":")
                j.string(a.model.version)
                j.raw(",\"predictions\":[")
                for (r, s) in a.scored.enumerated() {
                    if r > 0 { j.comma() }
                    Self.row(s, id: a.ids[r], version: a.model.version, into: &j)
                }
                j.raw("]}")
                return Self.bytes(j.data, type: "application/json")
            } catch let e as RequestError {
                return Self.error(e)
            }
        }
        compatibility(router)
        // A method a path does not take is 405 (with Allow), not 404.
        for (path, methods) in Self.routeAccess where !path.hasPrefix("/v2/") {
            let allowed = methods.keys.sorted { $0.rawValue < $1.rawValue }
            let methods: [HTTPRequest.Method] =
                [.get, .post, .put, .delete, .patch, .trace, .options] + [HTTPRequest.Method("QUERY")].compactMap { $0 }
            for method in methods where !allowed.contains(method) {
                router.on(RouterPath(path), method: method) { _, _ -> Response in
                    var response = Self.error(
                        RequestError(
                            status: 405,
                            "\(method.rawValue) is not allowed here; use \(allowed.map(\.rawValue).joined(separator: ", "))"
                        ))
                    response.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
                    return response
                }
            }
        }
        return router
    }

    /// The request shapes clients of other servers already send: MLflow's scoring protocol (`/invocations`,
    /// `/ping`, `/version`) for the first served model, and the Open Inference Protocol v2 (`/v2/...`).
    func compatibility(_ router: Router<BasicRequestContext>) {
        let catalog = self.catalog
        let limit = maxBodyBytes
        let server = self
        @Sendable func body(_ request: Request) async throws -> ByteBuffer {
            var request = request
            do { return try await request.collectBody(upTo: limit) } catch is NIOTooManyBytesError {
                throw RequestError(
                    status: 413, "the request body is larger than \(limit >> 20) MB; send fewer rows per request")
            }
        }
        // MLflow: the first served model answers.
        router.get("ping") { _, _ in Self.bytes(Data("\n".utf8), type: "application/json") }
        router.get("version") { _, _ in Self.bytes(Data("mlcycle \(MLCycleVersion.current)".utf8), type: "text/plain") }
        router.post("invocations") { request, _ -> Response in
            let started = Date()
            do {
                guard let name = try await catalog.names().first else {
                    throw RequestError(status: 503, "no model is loaded")
                }
                let data = try await body(request)
                let csv = request.headers[.contentType]?.hasPrefix("text/csv") == true
                let a = try await server.predict(
                    name, key: request.headers.first { $0.name.canonicalName == "x-request-key" }?.value,
                    started: started
                ) { m in
                    csv
                        ? try RowDecoder.table(fromCSV: Array(buffer: data), bundle: m.bundle)
                        : try RowDecoder.table(try RowDecoder.cells(fromJSON: Data(buffer: data)), plan: m.plan)
                }
                var j = JSONWriter(capacity: 32 + 24 * a.scored.count)
                j.raw("{\"predictions\":[")
                for (r, s) in a.scored.enumerated() {
                    if r > 0 { j.comma() }
                    if let v = s.value {
                        j.number(v)
                    } else if let p = s.prediction {
                        j.string(p)
                    } else {
                        j.raw("null")
                    }
                }
                j.raw("]}")
                return Self.bytes(j.data, type: "application/json")
            } catch let e as RequestError {
                // The first model has no version under its alias (yet): not ready, rather than unknown.
                return Self.error(e.status == 404 ? RequestError(status: 503, "no model is loaded") : e)
            }
        }
        // Open Inference Protocol v2.
        router.get("v2/health/live") { _, _ in Self.json(["live": true]) }
        router.get("v2/health/ready") { _, _ -> Response in
            let ready = await !catalog.loaded().isEmpty
            return Self.json(["ready": ready], status: ready ? .ok : .serviceUnavailable)
        }
        router.get("v2/models/:name") { _, context -> Response in
            let name = try context.parameters.require("name")
            guard let m = try await catalog.resolve(name) else {
                return Self.error(RequestError(status: 404, "no model called '\(name)'"))
            }
            struct Tensor: Encodable {
                var name, datatype: String
                var shape = [-1]
            }
            struct Metadata: Encodable {
                var name: String
                var versions: [String]
                var platform = "mlcycle"
                var inputs, outputs: [Tensor]
            }
            return Self.json(
                Metadata(
                    name: name, versions: [m.version],
                    inputs: m.bundle.requestSchema.map { Tensor(name: $0.name, datatype: Self.tensorType($0.type)) },
                    outputs: [Tensor(name: "prediction", datatype: m.bundle.task == .regression ? "FP64" : "BYTES")]))
        }
        router.get("v2/models/:name/ready") { _, context -> Response in
            let name = try context.parameters.require("name")
            let ready = await (try? catalog.resolve(name)) != nil
            struct Readiness: Encodable {
                var name: String
                var ready: Bool
            }
            return Self.json(Readiness(name: name, ready: ready), status: ready ? .ok : .notFound)
        }
        router.post("v2/models/:name/infer") { request, context -> Response in
            let started = Date()
            do {
                let name = try context.parameters.require("name")
                guard try await catalog.resolve(name) != nil else {
                    throw RequestError(status: 404, "no model called '\(name)'")
                }
                let data = try await body(request)
                let o = try? RowDecoder.parse(Data(buffer: data))
                guard let o, case .array(let inputs) = o["inputs"] ?? .null else {
                    throw RequestError(
                        "give {\"inputs\": [{\"name\", \"shape\", \"datatype\", \"data\"}, …]}, one tensor per column",
                        field: "inputs")
                }
                var columns = [(String, JSONValue)]()
                for (i, t) in inputs.enumerated() {
                    guard case .string(let n) = t["name"] ?? .null, case .array = t["data"] ?? .null else {
                        throw RequestError("input \(i) needs a name and a flat data list", field: "inputs", row: i)
                    }
                    columns.append((n, t["data"]!))
                }
                let a = try await server.predict(name, key: nil, started: started) { m in
                    try RowDecoder.table(try RowDecoder.columns(columns), plan: m.plan)
                }
                let scored = a.scored
                let m = a.model
                let regression = m.bundle.task == .regression
                // JSON has no NaN: an unavailable row's number is null (JSONValue writes non-finite numbers so).
                struct Output: Encodable {
                    var name: String
                    var shape: [Int]
                    var datatype: String
                    var data: [JSONValue]
                }
                struct Inference: Encodable {
                    var modelName, modelVersion: String
                    var outputs: [Output]
                    var id: String?
                    enum CodingKeys: String, CodingKey {
                        case modelName = "model_name"
                        case modelVersion = "model_version"
                        case outputs, id
                    }
                }
                var outputs = [
                    Output(
                        name: "prediction", shape: [scored.count], datatype: regression ? "FP64" : "BYTES",
                        data: scored.map { s in regression ? .number(s.value ?? .nan) : .string(s.prediction ?? "") }),
                    Output(
                        name: "status", shape: [scored.count], datatype: "BYTES",
                        data: scored.map { .string($0.status) }),
                ]
                if scored.contains(where: { $0.range != nil }) {
                    outputs.append(
                        Output(
                            name: "range", shape: [scored.count, 2], datatype: "FP64",
                            data: scored.flatMap { ($0.range ?? [.nan, .nan]).map(JSONValue.number) }))
                }
                var id: String?
                if case .string(let given) = o["id"] ?? .null { id = given }
                return Self.json(Inference(modelName: name, modelVersion: m.version, outputs: outputs, id: id))
            } catch let e as RequestError {
                return Self.error(e)
            }
        }
    }

    static func tensorType(_ t: DataType) -> String {
        switch t {
        case .float64: return "FP64"
        case .int64: return "INT64"
        case .bool: return "BOOL"
        case .string, .date, .timestamp: return "BYTES"
        }
    }

    /// `GET /v1/models/{name}`.
    struct ModelDescription: Encodable {
        struct Input: Encodable { var name, type: String }
        /// A column the model looks up itself (a client may send it to override the record).
        struct LookedUp: Encodable { var name, type, source: String }
        struct Lineage: Encodable {
            var datasets: [String]
            var created: String
            /// The lookups' records kept in the model, by source: their fingerprints.
            var lookups: [String: String]?
        }
        var name, version, task, target: String
        /// What a client sends.
        var inputs: [Input]
        var lookedUp: [LookedUp]?
        enum CodingKeys: String, CodingKey {
            case name, version, task, target, inputs, scope, lineage, metrics, release
            case lookedUp = "looked_up"
        }
        var scope: [String]
        var lineage: Lineage
        var metrics: [String: Double]?
        /// The challenger answering a share of the requests beside this version, if one is being released.
        var release: Release?
        struct Release: Encodable { var challenger: String, share: Double, shadow: Bool }
    }

    static func describe(_ m: ModelCatalog.Resolved, release: ModelCatalog.Release? = nil) -> ModelDescription {
        ModelDescription(
            name: m.name, version: m.version, task: m.bundle.task.rawValue, target: m.bundle.target,
            inputs: m.bundle.requestSchema.map { .init(name: $0.name, type: $0.type.rawValue) },
            lookedUp: m.bundle.sources == nil
                ? nil
                : m.bundle.lookedUpColumns.map {
                    .init(name: $0.spec.name, type: $0.spec.type.rawValue, source: $0.source)
                },
            scope: m.bundle.scope,
            lineage: .init(
                datasets: m.bundle.lineage.datasets, created: m.bundle.lineage.created,
                lookups: m.bundle.lineage.lookups),
            metrics: m.bundle.evaluation?.metrics,
            release: release.map { .init(challenger: $0.challenger.version, share: $0.share, shadow: $0.shadow) })
    }

    /// One row's answer, keys sorted: `{confidence?, explanation?, id, model_version, prediction, probabilities?,
    /// range?, reasons?, status, warnings?}`; an explanation is written for an answered row only.
    static func row(
        _ s: ModelBundle.Scored, id: String, version: String, into j: inout JSONWriter
    ) {
        j.raw("{")
        if s.prediction != nil, let confidence = s.confidence {
            j.raw("\"confidence\":")
            j.number(confidence)
            j.comma()
            if let e = s.explanation {
                // {"contributions": [{column, contribution, value}], "expected", "output"?}
                j.raw("\"explanation\":{\"contributions\":[")
                for (i, part) in e.parts.enumerated() {
                    if i > 0 { j.comma() }
                    j.raw("{\"column\":")
                    j.string(part.column)
                    j.raw(",\"contribution\":")
                    j.number(part.contribution)
                    j.raw(",\"value\":")
                    j.value(part.value)
                    j.raw("}")
                }
                j.raw("],\"expected\":")
                j.number(e.expected)
                if let output = e.output {
                    j.raw(",\"output\":")
                    j.string(output)
                }
                j.raw("},")
            }
        }
        j.raw("\"id\":")
        j.string(id)
        if s.prediction != nil, s.confidence != nil {
            j.raw(",\"low_confidence\":")
            j.raw(s.lowConfidence ? "true" : "false")
        }
        j.raw(",\"model_version\":")
        j.string(version)
        j.raw(",\"prediction\":")
        if let v = s.value { j.number(v) } else if let p = s.prediction { j.string(p) } else { j.raw("null") }
        if !s.probabilities.isEmpty {
            j.raw(",\"probabilities\":{")
            for (i, (label, p)) in s.probabilities.sorted(by: { $0.key < $1.key }).enumerated() {
                if i > 0 { j.comma() }
                j.key(label)
                j.number(p)
            }
            j.raw("}")
        }
        if let r = s.range {
            j.raw(",\"range\":[")
            j.number(r[0])
            j.comma()
            j.number(r[1])
            j.raw("]")
        }
        if !s.reasons.isEmpty {
            j.raw(",\"reasons\":")
            j.strings(s.reasons)
        }
        j.raw(",\"status\":")
        j.string(s.status)
        if s.prediction != nil && !s.warnings.isEmpty {
            j.raw(",\"warnings\":")
            j.strings(s.warnings)
        }
        j.raw("}")
    }

    static func csv(_ scored: [ModelBundle.Scored], ids: [String], version: String) -> String {
        var out = "id,prediction,lower,upper,confidence,status,model_version\n"
        for (s, id) in zip(scored, ids) {
            let p = s.value.map { formatDouble($0) } ?? s.prediction ?? ""
            out +=
                "\(id),\(p),\(s.range.map { formatDouble($0[0]) } ?? ""),\(s.range.map { formatDouble($0[1]) } ?? ""),\(s.confidence.map { formatDouble($0) } ?? ""),\(s.status),\(version)\n"
        }
        return out
    }

    /// Runs the server until the process is stopped.
    public func run(host: String, port: Int) async throws {
        // Every model is decoded before the first request: a large bundle decoded on demand kept the first requests
        // waiting a quarter of a second.
        for name in await (try? catalog.names()) ?? [] { _ = try? await catalog.resolve(name) }
        let app = Application(
            router: router(), configuration: .init(address: .hostname(host, port: port)), logger: logger)
        log?.start()
        defer { log?.stop() }
        // Every replica on a shared store follows a promotion made anywhere at once.
        let catalog = self.catalog
        let logger = self.logger
        let follower = _Concurrency.Task {
            await catalog.followRegistryChanges(report: { message in logger.warning("\(message)") })
        }
        defer { follower.cancel() }
        try await app.runService()
    }
}

/// The body of `POST /v1/admin/models/{name}/{promote|rollback}`.
struct AdminRequest: Decodable {
    var version: Int?
    var alias: String?
    var reason: String?
    var actor: String?
}

/// The body of `POST /v1/feedback`: one `{prediction_id, kind?, value}` or `{"feedback": [...]}`; `kind` is
/// `actual` (the default) or `override`; `actual` may stand for `value`, and the older `source` (`ground_truth` or
/// `override`) for `kind`. An unknown field, a missing id or value, or another kind is refused naming the field and
/// the row.
struct FeedbackRequest: Decodable {
    var records: [FeedbackRecord]

    init(from decoder: any Decoder) throws {
        let top = try decoder.container(keyedBy: JSONKey.self)
        guard top.contains(JSONKey("feedback")) else {
            records = [try Self.record(decoder, row: 0)]
            return
        }
        if let extra = top.allKeys.map(\.stringValue).sorted().first(where: { $0 != "feedback" }) {
            throw RequestError("unknown field '\(extra)' beside \"feedback\"", field: extra)
        }
        var list = try top.nestedUnkeyedContainer(forKey: JSONKey("feedback"))
        var records = [FeedbackRecord]()
        while !list.isAtEnd { records.append(try Self.record(try list.superDecoder(), row: records.count)) }
        guard !records.isEmpty else { throw RequestError("\"feedback\" is empty", field: "feedback") }
        self.records = records
    }

    static func record(_ decoder: any Decoder, row i: Int) throws -> FeedbackRecord {
        let item = try decoder.container(keyedBy: JSONKey.self)
        let keys = Set(item.allKeys.map(\.stringValue))
        if let extra = keys.sorted().first(where: {
            !["prediction_id", "kind", "value", "actual", "source"].contains($0)
        }) {
            throw RequestError("unknown field '\(extra)' in feedback \(i)", field: extra, row: i)
        }
        guard let id = try? item.decode(String.self, forKey: JSONKey("prediction_id")), !id.isEmpty else {
            throw RequestError("feedback \(i) has no prediction_id", field: "prediction_id", row: i)
        }
        if keys.contains("kind") && keys.contains("source") {
            throw RequestError("feedback \(i) gives both kind and source: give kind", field: "source", row: i)
        }
        let kind: FeedbackKind
        if keys.contains("source") {
            switch try? item.decode(String.self, forKey: JSONKey("source")) {
            case "ground_truth": kind = .actual
            case "override": kind = .override
            default: throw RequestError("source must be ground_truth or override", field: "source", row: i)
            }
        } else if keys.contains("kind") {
            guard let k = (try? item.decode(String.self, forKey: JSONKey("kind"))).flatMap(FeedbackKind.init) else {
                throw RequestError("kind must be actual or override", field: "kind", row: i)
            }
            kind = k
        } else {
            kind = .actual
        }
        if keys.contains("value") && keys.contains("actual") {
            throw RequestError("feedback \(i) gives both value and actual: give one", field: "actual", row: i)
        }
        let field = keys.contains("actual") ? "actual" : "value"
        let text: String
        switch try? item.decode(JSONValue.self, forKey: JSONKey(field)) {
        case .string(let s): text = s
        case .number(let d): text = formatDouble(d)
        case .bool(let b): text = b ? "true" : "false"
        default:
            throw RequestError(
                "feedback \(i) needs a value (a number, text or true/false): the \(kind == .actual ? "actual outcome" : "value a person gave")",
                field: field, row: i)
        }
        return FeedbackRecord(predictionID: id, value: text, kind: kind)
    }
}
