import CoreMetrics
import Foundation
import Hummingbird
import HummingbirdTesting
import MLCycleData
import MLCycleStore
import NIOFoundationEssentialsCompat
import Testing

@testable import MLCycleServe

/// The committed `docs/openapi.json` (made from `Sources/MLCycleServe/openapi.json`) is what the server serves (with no model registered, so every path is the
/// generic one): the HTTP reference cannot drift from the server.
@Suite struct OpenAPIDocumentTests {
    /// Objects with their members sorted by key, all the way down, so two texts compare by content.
    static func canonical(_ v: JSONValue) -> JSONValue {
        switch v {
        case .object(let members): return .object(members.sorted { $0.0 < $1.0 }.map { ($0.0, canonical($0.1)) })
        case .array(let items): return .array(items.map(canonical))
        default: return v
        }
    }

    @Test func theCommittedDocumentIsWhatTheServerServes() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let committed = try JSONValue.parse(try Data(contentsOf: root.appendingPathComponent("docs/openapi.json")))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-openapi-\(UUID().uuidString)")
            .path
        let server = ModelServer(catalog: ModelCatalog(store: try SQLiteStore(directory: dir), models: [:]))
        let app = Application(router: server.router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/openapi.json", method: .get) { r in
                #expect(r.status == .ok)
                let served = try JSONValue.parse(Data(buffer: r.body))
                #expect(
                    Self.canonical(served) == Self.canonical(committed),
                    "docs/openapi.json differs from the served document: regenerate it with docs/generate.sh")
                #expect(
                    served["info"]?["version"] == .string(MLCycleVersion.current),
                    "Sources/MLCycleServe/openapi.json must name this version of mlcycle")
            }
        }
    }
}

/// What swift-metrics users record (Hummingbird's metrics middleware names its metrics with dots) lands in the
/// server's registry under names Prometheus accepts, beside mlcycle's own.
@Test func swiftMetricsLandInTheServersRegistryWithPrometheusNames() {
    let metrics = ServerMetrics()
    let factory = metrics.metricsFactory()
    CoreMetrics.Counter(label: "hb.requests", dimensions: [("http.request.method", "POST")], factory: factory)
        .increment(by: 2)
    metrics.record(model: "small", version: "v1", code: 200, seconds: 0.002, rows: 3)
    let text = metrics.text()
    #expect(text.contains(#"hb_requests{http_request_method="POST"} 2"#), "\(text)")
    #expect(text.contains(#"mlcycle_requests_total{model="small",version="v1",code="200"} 1"#))
    #expect(!text.contains("hb.requests"))
}
