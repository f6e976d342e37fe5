import Foundation
import Testing

@testable import MLCycleStore

@Suite struct ModelRegistryTests {
    /// A store with `houses` v1 (gates passed) and v2 (gates failed), and a registry over it.
    func registry(approvers: [String] = []) throws -> (ModelRegistry, ModelVersion, ModelVersion) {
        let store = try freshStore()
        let bundle = try store.putArtifact(Data("bundle".utf8))
        let registry = ModelRegistry(store: store, approvers: approvers)
        let good = try registry.register(
            NewModelVersion(
                name: "houses", bundle: bundle, metrics: ["mape": 0.09], gatesPassed: true,
                gates: ["passed: mape <= 0.1"], run: nil, datasets: [], specHash: nil), by: .policy("run"))
        let bad = try registry.register(
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

    @Test func resolvingFollowsAliasesThenTheLatestVersion() throws {
        let (registry, good, bad) = try registry()
        #expect(try registry.resolve("houses").version == bad.version)  // no champion yet: the latest version
        try registry.promote(good, by: .person("ana"), reason: "first")
        #expect(try registry.resolve("houses").version == good.version)
        #expect(try registry.resolve("houses:2").version == bad.version)
        #expect(throws: RegistryError.notFound("model houses version 9")) { _ = try registry.resolve("houses:9") }
        #expect(throws: RegistryError.self) { _ = try registry.resolve("houses@challenger") }
    }

    @Test func failedGatesArePromotedOnlyByAPersonsAuditedOverride() throws {
        let (registry, _, bad) = try registry()
        #expect(throws: RegistryError.self) { try registry.promote(bad, by: .person("ana"), reason: "try") }
        #expect(throws: RegistryError.overrideNeedsAPerson) {
            try registry.promote(bad, by: .policy("retrain"), reason: "auto", overrideGates: true)
        }
        #expect(throws: RegistryError.self) { try registry.approve(bad, by: .person("ana"), reason: "looks fine") }
        let move = try registry.promote(bad, by: .person("ana"), reason: "a trial on the record", overrideGates: true)
        #expect(move == AliasMove(name: "houses", alias: "champion", version: bad.version))
        let entry = try #require(try registry.store.audit(model: "houses").first { $0.alias == "champion" })
        #expect(
            entry.actor == "ana" && entry.action == "promote (gates overridden)"
                && entry.reason == "a trial on the record")
    }

    @Test func approversGuardPromotionAndApprovalAlikeButNotPolicyOrRollback() throws {
        let (registry, good, _) = try registry(approvers: ["lead-appraiser"])
        #expect(throws: RegistryError.notAnApprover(who: "intern", approvers: ["lead-appraiser"])) {
            try registry.promote(good, by: .person("intern"), reason: "ship it")
        }
        #expect(throws: RegistryError.notAnApprover(who: "intern", approvers: ["lead-appraiser"])) {
            try registry.approve(good, by: .person("intern"), reason: "ship it")
        }
        try registry.promote(good, to: "challenger", by: .policy("mlcycle run"), reason: "passed the gates")
        try registry.approve(good, by: .person("lead-appraiser"), reason: "checked the slices")
        #expect(try registry.version("houses", alias: "champion")?.version == good.version)
        // Rolling back returns the alias to the version it had; nothing earlier is a clear refusal.
        #expect(throws: RegistryError.noEarlierVersion(name: "houses", alias: "champion")) {
            try registry.rollback("houses", by: .person("intern"), reason: "incident")
        }
        let audit = try registry.store.audit(model: "houses").filter { $0.alias != nil }
        #expect(audit.map(\.action).sorted() == ["approve", "promote"])
        #expect(audit.allSatisfy { !$0.reason.isEmpty && !$0.actor.isEmpty })
    }
}
