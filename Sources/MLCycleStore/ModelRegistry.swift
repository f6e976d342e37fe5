import Foundation

/// A reference to a registered model as people write it: `NAME` (its champion), `NAME@ALIAS` or `NAME:VERSION`.
public enum ModelReference: Equatable, Sendable, CustomStringConvertible {
    case name(String)
    case alias(String, alias: String)
    case version(String, version: Int)

    /// Parses `NAME`, `NAME@ALIAS` or `NAME:VERSION`; an empty name, alias or a version that is not a whole number
    /// ≥ 1 is an error that says how to write it.
    public init(parsing text: String) throws {
        let form = "write NAME, NAME@ALIAS or NAME:VERSION (e.g. house-prices, house-prices@challenger, house-prices:3)"
        if let colon = text.lastIndex(of: ":") {
            let name = String(text[..<colon])
            let number = text[text.index(after: colon)...]
            guard !name.isEmpty, !name.contains("@"), let version = Int(number), version >= 1 else {
                throw RegistryError.badReference(text, form)
            }
            self = .version(name, version: version)
        } else if let at = text.firstIndex(of: "@") {
            let name = String(text[..<at])
            let alias = String(text[text.index(after: at)...])
            guard !name.isEmpty, !alias.isEmpty, !alias.contains("@") else {
                throw RegistryError.badReference(text, form)
            }
            self = .alias(name, alias: alias)
        } else {
            guard !text.isEmpty else { throw RegistryError.badReference(text, form) }
            self = .name(text)
        }
    }

    public var name: String {
        switch self {
        case .name(let n), .alias(let n, _), .version(let n, _): return n
        }
    }

    public var description: String {
        switch self {
        case .name(let n): return n
        case .alias(let n, let a): return "\(n)@\(a)"
        case .version(let n, let v): return "\(n):\(v)"
        }
    }
}

/// Who moves an alias: a person (checked against the project's approvers) or the project's own release policy
/// (automatic promotion after a run or a retraining, which the spec allowed).
public enum RegistryActor: Equatable, Sendable {
    case person(String)
    case policy(String)

    public var name: String {
        switch self {
        case .person(let n), .policy(let n): return n
        }
    }
}

/// An alias move as the registry made it.
public struct AliasMove: Codable, Equatable, Sendable {
    public var name: String
    public var alias: String
    public var version: Int
}

/// Why the registry refused.
public enum RegistryError: LocalizedError, Equatable, Sendable {
    case badReference(String, String)
    case notFound(String)
    case gatesFailed(name: String, version: Int, failed: [String], overridable: Bool)
    case notAnApprover(who: String, approvers: [String])
    case overrideNeedsAPerson
    case noEarlierVersion(name: String, alias: String)

    public var errorDescription: String? {
        switch self {
        case .badReference(let text, let form):
            return "'\(text)' is not a model reference: \(form)"
        case .notFound(let what):
            return "not found: \(what)"
        case .gatesFailed(let name, let version, let failed, let overridable):
            return overridable
                ? "\(name) v\(version) failed its gates and cannot be promoted: \(failed.joined(separator: "; ")) (--override-gates promotes it anyway, on the record)"
                : "\(name) v\(version) failed its gates; an approval cannot override them (promote --override-gates is the explicit exception)"
        case .notAnApprover(let who, let approvers):
            return
                "\(who) is not an approver of this project (release.approvers: \(approvers.joined(separator: ", "))); use --as NAME"
        case .overrideNeedsAPerson:
            return "only a person can override failed gates, never an automatic promotion"
        case .noEarlierVersion(let name, let alias):
            return "\(name)@\(alias) has no earlier version to go back to"
        }
    }
}

/// The model registry: the one place model references are resolved and aliases move, with one rule set for every
/// caller (CLI, server admin endpoint, project runner, retraining):
/// - a version whose gates failed is promoted only by a person's explicit override, audited as such;
/// - when the project lists `release.approvers`, only they promote or approve (automatic promotions are the
///   policy's, which the spec itself allowed);
/// - rolling back is never blocked by approvers: it returns an alias to a version it already had;
/// - every move is kept in the audit log with who, why and when (the store stamps the time).
public struct ModelRegistry: Sendable {
    public let store: any RegistryStore
    /// The project's `release.approvers`; empty: anyone may promote.
    public var approvers: [String]

    public init(store: any RegistryStore, approvers: [String] = []) {
        self.store = store
        self.approvers = approvers
    }

    /// The version a reference names: `NAME:VERSION` that version, `NAME@ALIAS` what the alias points at, `NAME` its
    /// champion or, without one, its latest version.
    public func resolve(_ reference: ModelReference) async throws -> ModelVersion {
        switch reference {
        case .version(let name, let v):
            guard let version = try await store.modelVersion(name, version: v) else {
                throw RegistryError.notFound("model \(name) version \(v)")
            }
            return version
        case .alias(let name, let alias):
            if let version = try await version(name, alias: alias) { return version }
        case .name(let name):
            if let version = try await version(name, alias: "champion") { return version }
            if let latest = try await store.modelVersions(name).last { return latest }
        }
        throw RegistryError.notFound("model \(reference) (no such name or alias; see mlcycle models)")
    }

    /// Parses and resolves a reference.
    public func resolve(_ text: String) async throws -> ModelVersion {
        try await resolve(try ModelReference(parsing: text))
    }

    /// The version `alias` of `name` points at, or nil.
    public func version(_ name: String, alias: String) async throws -> ModelVersion? {
        guard let v = try await store.aliases(name)[alias] else { return nil }
        return try await store.modelVersion(name, version: v)
    }

    /// Registers the next version of a model.
    public func register(_ version: NewModelVersion, by actor: RegistryActor) async throws -> ModelVersion {
        try await store.registerModel(version, actor: actor.name)
    }

    /// Points `alias` at `version`. Failed gates refuse it unless a person overrides them (audited as
    /// "promote (gates overridden)"); a person must be among the approvers when the project lists them.
    @discardableResult
    public func promote(
        _ version: ModelVersion, to alias: String = "champion", by actor: RegistryActor, reason: String,
        overrideGates: Bool = false
    ) async throws -> AliasMove {
        try checkApprover(actor)
        var action = "promote"
        if !version.gatesPassed {
            guard overrideGates else {
                throw RegistryError.gatesFailed(
                    name: version.name, version: version.version,
                    failed: version.gates.filter { $0.hasPrefix("failed") }, overridable: true)
            }
            guard case .person = actor else { throw RegistryError.overrideNeedsAPerson }
            action = "promote (gates overridden)"
        }
        return try await move(
            version.name, alias: alias, to: version.version, by: actor, action: action, reason: reason)
    }

    /// A person's approval of a version that passed its gates: it becomes the champion. Gates cannot be overridden
    /// here (that is `promote(overrideGates:)`, on the record).
    @discardableResult
    public func approve(_ version: ModelVersion, by actor: RegistryActor, reason: String) async throws -> AliasMove {
        try checkApprover(actor)
        guard version.gatesPassed else {
            throw RegistryError.gatesFailed(
                name: version.name, version: version.version, failed: [], overridable: false)
        }
        return try await move(
            version.name, alias: "champion", to: version.version, by: actor, action: "approve", reason: reason)
    }

    /// Points `alias` back at the version it had before its last move.
    @discardableResult
    public func rollback(_ name: String, alias: String = "champion", by actor: RegistryActor, reason: String)
        async throws -> AliasMove
    {
        guard let previous = try await store.previousVersion(name, alias: alias) else {
            throw RegistryError.noEarlierVersion(name: name, alias: alias)
        }
        let aliases = try await store.aliases(name)
        let moved = try await move(name, alias: alias, to: previous, by: actor, action: "rollback", reason: reason)
        // A champion that had come up as the challenger is off trial too: a release plan would start it again.
        if alias == "champion", let current = aliases["champion"], aliases["challenger"] == current {
            try await store.setAlias(
                name, alias: "challenger", version: nil, actor: actor.name, action: "rollback", reason: reason)
        }
        return moved
    }

    private func checkApprover(_ actor: RegistryActor) throws {
        guard case .person(let who) = actor, !approvers.isEmpty, !approvers.contains(who) else { return }
        throw RegistryError.notAnApprover(who: who, approvers: approvers)
    }

    private func move(
        _ name: String, alias: String, to version: Int, by actor: RegistryActor, action: String, reason: String
    ) async throws -> AliasMove {
        try await store.setAlias(
            name, alias: alias, version: version, actor: actor.name, action: action, reason: reason)
        // A version that becomes the champion ends its own release, however it got there (the plan, an approval).
        if alias == "champion", let release = try await store.release(name), release.version == version {
            try await store.setRelease(name, nil, actor: actor.name, action: "release complete", reason: reason)
        }
        return AliasMove(name: name, alias: alias, version: version)
    }
}

/// A registered model: every version, newest first, and where its aliases point (`mlcycle models`).
public struct RegisteredModel: Codable, Sendable, Equatable {
    public struct Version: Codable, Sendable, Equatable {
        public var version: Int
        public var created: Date
        public var gatesPassed: Bool
        public var gates: [String]
        public var metrics: [String: Double]
        /// The aliases pointing at this version.
        public var aliases: [String]

        enum CodingKeys: String, CodingKey {
            case version, created, gates, metrics, aliases
            case gatesPassed = "gates_passed"
        }
    }
    public var name: String
    public var aliases: [String: Int]
    public var versions: [Version]
}

extension ModelRegistry {
    /// Every registered model with its versions (newest first) and aliases, by name.
    public func models() async throws -> [RegisteredModel] {
        var models = [RegisteredModel]()
        for name in try await store.modelNames().sorted() {
            let aliases = try await store.aliases(name)
            let versions = try await store.modelVersions(name).sorted { $0.version > $1.version }.map { v in
                RegisteredModel.Version(
                    version: v.version, created: v.created, gatesPassed: v.gatesPassed, gates: v.gates,
                    metrics: v.metrics, aliases: aliases.filter { $0.value == v.version }.keys.sorted())
            }
            models.append(RegisteredModel(name: name, aliases: aliases, versions: versions))
        }
        return models
    }
}
