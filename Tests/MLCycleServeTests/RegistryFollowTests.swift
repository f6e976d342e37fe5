import Foundation
import MLCycleStore
import Synchronization
import Testing

@testable import MLCycleServe

/// Replicas on one PostgreSQL store follow an alias moved by another process through the store's notifications, not
/// at their next timed look.
@Suite(
    .enabled(
        if: ProcessInfo.processInfo.environment["MLCYCLE_TEST_POSTGRES_URL"] != nil,
        "needs MLCYCLE_TEST_POSTGRES_URL (bash Tests/run.sh starts a server)"))
struct RegistryFollowTests {
    @Test func aPromotionElsewhereReachesTheCatalogAtOnce() async throws {
        let url = try #require(ProcessInfo.processInfo.environment["MLCYCLE_TEST_POSTGRES_URL"])
        let (local, _) = try await servedProject()
        let trained = try #require(try await local.modelVersion("small", version: 1))
        let team = try await PostgresStore(url: url)
        defer { team.close() }
        let name = "follow-\(UUID().uuidString.prefix(8).lowercased())"
        let sha = try await team.putArtifact(try await local.artifact(trained.bundle))
        for _ in 0..<2 {
            _ = try await team.registerModel(
                NewModelVersion(
                    name: name, bundle: sha, metrics: [:], gatesPassed: true, gates: [], run: nil, datasets: [],
                    specHash: nil), actor: "test")
        }
        try await team.setAlias(name, alias: "champion", version: 1, actor: "test", action: "promote", reason: "")
        // Timed look-ups an hour apart: only the notification can bring the move in time.
        let catalog = ModelCatalog(store: team, models: [name: "champion"], aliasRefresh: 3600)
        #expect(try await catalog.resolve(name)?.version == "v1")
        let (subscribed, standing) = AsyncStream<Void>.makeStream()
        let follower = Task { await catalog.followRegistryChanges(listening: { standing.yield() }) }
        defer { follower.cancel() }
        var waiting = subscribed.makeAsyncIterator()
        _ = await waiting.next()
        #expect(try await catalog.resolve(name)?.version == "v1")  // looked up again, and trusted for an hour

        let ops = try await PostgresStore(url: url)
        defer { ops.close() }
        try await ops.setAlias(name, alias: "champion", version: 2, actor: "ops", action: "promote", reason: "better")
        var version = try await catalog.resolve(name)?.version
        for _ in 0..<100 where version != "v2" {
            try await Task.sleep(for: .milliseconds(100))
            version = try await catalog.resolve(name)?.version
        }
        #expect(version == "v2", "the catalog still answers with \(version ?? "nothing") after the promotion")
    }
}
