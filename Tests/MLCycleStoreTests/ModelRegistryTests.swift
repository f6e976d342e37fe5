import Foundation
import Testing

@testable import MLCycleStore

@Suite struct ModelRegistryTests {
    /// A store with `houses` v1 (gates passed) and v2 (gates failed), and a registry over it.
    func registry(approvers: [String] = []) async throws -> (ModelRegistry, ModelVersion, ModelVersion) {
        let store = try freshStore()
        let bundle = try await store.putArtifact(Data("bundle".utf8))
        let registry = ModelRegistry(store: store, approvers: approvers)
        let good = try await registry.register(
            NewModelVersion(
                name: "houses", bundle: bundle, metrics: ["mape": 0.09], gatesPassed: true,
                gates: ["passed: mape <= 0.1"], run: nil, datasets: [], specHash: nil), by: .policy("run"))
        let bad = try await registry.register(
            NewModelVersion(
                name: "houses", bundle: bundle, metrics: ["mape": 0.2], gatesPassed: false,
                gates: ["failed: mape <= 0.1 — 0.2"], run: nil, datasets: [], specHash: nil), by: .policy("run"))
        return (registry, good, bad)
    }

    @Test func referencesParseInTheirThreeFormsAndBadOnesSayHowToWriteThem() throws {
        #expect(try ModelReference(parsing: "houses") == .name("houses"))
        #expect(try ModelReference(parsing: "houses@challenger") == .alias("houses", alias: "challenger"))
        #expect(try ModelReference(parsing: "house-prices:3") == .version("house-prices", version: 3))
        for bad in ["", "houses@", "@champion", ":3", "houses:0", "houses:x", "houses:-1", "a@b:2"] {
            #expect(throws: RegistryError.self, "\(bad)") { _ = try ModelReference(parsing: bad) }
        }
        #expect((try? ModelReference(parsing: "houses@"))?.description == nil)
        #expect(ModelReference.version("houses", version: 3).description == "houses:3")
    }

    @Test func resolvingFollowsAliasesThenTheLatestVersion() async throws {
        let (registry, good, bad) = try await registry()
        #expect(try await registry.resolve("houses").version == bad.version)  // no champion yet: the latest version
        try await registry.promote(good, by: .person("ana"), reason: "first")
        #expect(try await registry.resolve("houses").version == good.version)
        #expect(try await registry.resolve("houses:2").version == bad.version)
        await #expect(throws: RegistryError.notFound("model houses version 9")) {
            _ = try await registry.resolve("houses:9")
        }
        await #expect(throws: RegistryError.self) { _ = try await registry.resolve("houses@challenger") }
    }

    @Test func failedGatesArePromotedOnlyByAPersonsAuditedOverride() async throws {
        let (registry, _, bad) = try await registry()
        await #expect(throws: RegistryError.self) { try await registry.promote(bad, by: .person("ana"), reason: "try") }
        await #expect(throws: RegistryError.overrideNeedsAPerson) {
            try await registry.promote(bad, by: .policy("retrain"), reason: "auto", overrideGates: true)
        }
        await #expect(throws: RegistryError.self) {
            try await registry.approve(bad, by: .person("ana"), reason: "looks fine")
        }
        let move = try await registry.promote(
            bad, by: .person("ana"), reason: "a trial on the record", overrideGates: true)
        #expect(move == AliasMove(name: "houses", alias: "champion", version: bad.version))
        let entry = try #require(try await registry.store.audit(model: "houses").first { $0.alias == "champion" })
        #expect(
            entry.actor == "ana" && entry.action == "promote (gates overridden)"
                && entry.reason == "a trial on the record")
    }

    @Test func approversGuardPromotionAndApprovalAlikeButNotPolicyOrRollback() async throws {
        let (registry, good, _) = try await registry(approvers: ["lead-appraiser"])
        await #expect(throws: RegistryError.notAnApprover(who: "intern", approvers: ["lead-appraiser"])) {
            try await registry.promote(good, by: .person("intern"), reason: "ship it")
        }
        await #expect(throws: RegistryError.notAnApprover(who: "intern", approvers: ["lead-appraiser"])) {
            try await registry.approve(good, by: .person("intern"), reason: "ship it")
        }
        try await registry.promote(good, to: "challenger", by: .policy("mlcycle run"), reason: "passed the gates")
        try await registry.approve(good, by: .person("lead-appraiser"), reason: "checked the slices")
        #expect(try await registry.version("houses", alias: "champion")?.version == good.version)
        // Rolling back returns the alias to the version it had; nothing earlier is a clear refusal.
        await #expect(throws: RegistryError.noEarlierVersion(name: "houses", alias: "champion")) {
            try await registry.rollback("houses", by: .person("intern"), reason: "incident")
        }
        let audit = try await registry.store.audit(model: "houses").filter { $0.alias != nil }
        #expect(audit.map(\.action).sorted() == ["approve", "promote"])
        #expect(audit.allSatisfy { !$0.reason.isEmpty && !$0.actor.isEmpty })
    }
}
