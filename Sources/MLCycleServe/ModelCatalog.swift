import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCycleStore

/// The models a server answers for, resolved at request time: a bundle file served under its name, or registered
/// models whose alias (default `champion`) is looked up in the store — again at most `aliasRefresh` seconds after
/// the last look (1 s by default; reading the store on every request cost more than scoring a row), and at once
/// after `invalidate()`, which the admin endpoints call. A promotion or rollback so takes effect without a restart.
/// When a look is due, the first request makes it and the requests arriving meanwhile are answered as before: 64
/// connections all reading the store at once each second had made the slowest 1 % of answers 124–250 ms.
/// Bundles are decoded once per content hash and kept.
public final class ModelCatalog: @unchecked Sendable {
    /// A model ready to answer: its bundle and the version that answers.
    public struct Resolved: Sendable {
        public var name: String
        /// "v3" for a registered version, "bundle" for a file.
        public var version: String
        /// The decoded bundle and its plan, shared by every copy: a request copies `Resolved` several times, and
        /// copying the whole `ModelBundle` each time was 3 % of the server's time under single-row load.
        let loaded: Loaded
        public var bundle: ModelBundle { loaded.bundle }
        /// What a request for this bundle may and must carry.
        public var plan: RequestPlan { loaded.plan }

        init(name: String, version: String, _ loaded: Loaded) {
            self.name = name
            self.version = version
            self.loaded = loaded
        }
    }

    /// A bundle decoded once, with its request plan.
    final class Loaded: Sendable {
        let bundle: ModelBundle
        let plan: RequestPlan

        init(_ bundle: ModelBundle) {
            self.bundle = bundle
            plan = RequestPlan(bundle)
        }
    }

    enum Source {
        case bundles([String: Resolved])
        case store(any Store, models: [String: String])
    }

    let source: Source
    private let lock = NSLock()
    /// Bundles by content hash, decoded once, with their request plans.
    private var decoded = [String: Loaded]()
    /// "name@alias" → what it resolved to, and when (seconds since the reference date).
    private var resolved = [String: Lookup]()
    private struct Lookup {
        var model: Resolved?
        var at: Double
    }
    /// The keys (`name@alias`, `release name`, `names`) whose store look is under way, and since when: other
    /// requests keep the answer of the last look meanwhile, unless the look has taken longer than `lookDeadline`.
    private var looking = [String: Double]()
    /// Moves on at each `invalidate()`: a look begun before it does not keep its (older) answer.
    private var generation = 0
    /// How long an alias lookup is trusted before the store is asked again, in seconds (0: every request).
    public let aliasRefresh: Double
    private var cachedNames: (names: [String], at: Double)?
    /// Releases under way by model name, and when they were read.
    private var releases = [String: (state: ReleaseState?, at: Double)]()

    /// Forgets every alias lookup: the next request asks the store (after a promotion or rollback).
    public func invalidate() {
        lock.lock()
        resolved.removeAll()
        releases.removeAll()
        cachedNames = nil
        looking.removeAll()
        generation += 1
        lock.unlock()
    }

    /// With a store that announces registry moves (PostgreSQL), forgets every lookup the moment any process moves
    /// an alias or a release, rather than up to `aliasRefresh` seconds later. A lost subscription is tried again every
    /// `retry` seconds (the timed look-ups cover the gap); `listening` is called each time the subscription stands.
    /// Returns when cancelled, or at once for other stores.
    public func followRegistryChanges(
        retry: Double = 1, listening: @Sendable () -> Void = {}, report: @Sendable (String) -> Void = { _ in }
    ) async {
        guard case .store(let store, _) = source, let feed = store as? any RegistryChangeFeed else { return }
        while !Task.isCancelled {
            do {
                try await feed.followRegistryChanges(
                    listening: { [self] in
                        invalidate()
                        listening()
                    }, changed: { [self] _ in invalidate() })
            } catch {
                if Task.isCancelled { return }
                report("the store's registry notifications stopped (\(error.localizedDescription)); subscribing again")
            }
            try? await Task.sleep(for: .seconds(retry))
        }
    }

    /// The answer for `key`: `recent` (the last look's answer, and when it was got) while it is fresh, or while
    /// another request has been looking for less than `lookDeadline`; else `fetch()`'s, handed to `keep` unless an
    /// `invalidate()` came while it was fetched. With `aliasRefresh` 0 every call fetches.
    private func cached<T>(
        _ key: String, _ recent: (value: T, at: Double)?, fetch: () async throws -> T, keep: (T, Double) -> Void
    ) async throws -> T {
        let now = Date().timeIntervalSinceReferenceDate
        let decision: (keep: T?, generation: Int) = lock.withLock {
            if aliasRefresh > 0, let recent {
                if now - recent.at < aliasRefresh { return (recent.value, generation) }
                if let since = looking[key], now - since < lookDeadline { return (recent.value, generation) }
                looking[key] = now
            }
            return (nil, generation)
        }
        if let kept = decision.keep { return kept }
        // Clears this look's mark (not a newer one's); its answer is kept only if nothing was invalidated meanwhile.
        func finish() -> Bool {
            lock.withLock {
                if looking[key] == now { looking[key] = nil }
                return generation == decision.generation
            }
        }
        let value: T
        do { value = try await fetch() } catch {
            _ = finish()
            throw error
        }
        if finish() { keep(value, now) }
        return value
    }

    /// How long the other requests wait on one look before one of them looks again (a store that hangs).
    private var lookDeadline: Double { max(5, 5 * aliasRefresh) }

    /// Serves one bundle file under its own name.
    public init(bundlePath: String) throws {
        guard let data = FileManager.default.contents(atPath: bundlePath) else {
            throw DataError.fileNotFound(path: bundlePath)
        }
        let bundle = try ModelBundle.decode(data, path: bundlePath)
        source = .bundles([
            bundle.name: Resolved(name: bundle.name, version: "bundle", Loaded(bundle))
        ])
        aliasRefresh = 0
    }

    /// Serves registered models: `models` maps a name to the alias to follow (`champion` when given as NAME);
    /// aliases are looked up again `aliasRefresh` seconds after the last look.
    public init(store: any Store, models: [String: String], aliasRefresh: Double = 1) {
        source = .store(store, models: models)
        self.aliasRefresh = aliasRefresh
    }

    /// Parses `NAME` or `NAME@ALIAS` arguments (a server follows aliases, so `NAME:VERSION` is refused).
    public static func aliases(_ arguments: [String]) throws -> [String: String] {
        var out = [String: String]()
        for a in arguments {
            switch try ModelReference(parsing: a) {
            case .name(let name): out[name] = "champion"
            case .alias(let name, let alias): out[name] = alias
            case .version(let name, _):
                throw RegistryError.badReference(
                    a, "a server follows an alias; serve \(name) or \(name)@ALIAS and point the alias at the version")
            }
        }
        return out
    }

    /// The names served.
    public func names() async throws -> [String] {
        switch source {
        case .bundles(let b): return b.keys.sorted()
        case .store(let store, let models):
            guard models.isEmpty else { return models.keys.sorted() }
            let recent = lock.withLock { cachedNames }
            return try await cached("names", recent.map { ($0.names, $0.at) }, fetch: { try await store.modelNames() })
            {
                names, at in lock.withLock { cachedNames = (names, at) }
            }
        }
    }

    /// Every served model that resolves now (a name whose alias points nowhere, or whose lookup fails, is left out).
    public func loaded() async -> [Resolved] {
        var models = [Resolved]()
        for name in (try? await names()) ?? [] {
            if let model = try? await resolve(name) { models.append(model) }
        }
        return models
    }

    /// A challenger being released beside the champion: who, the share of requests it answers, and whether the
    /// version that does not answer a request scores a copy.
    public struct Release: Sendable {
        public var champion: Resolved
        public var challenger: Resolved
        public var share: Double
        public var shadow: Bool
    }

    /// The release under way for `name`, if a challenger is served beside the champion. The policy is the
    /// challenger's (the spec it was trained with), else the champion's; a progressive release sets the share (the
    /// step `mlcycle watch` has reached, read from the store).
    public func release(_ name: String) async throws -> Release? {
        guard case .store(let store, _) = source, let primary = try await resolve(name),
            let challenger = try await resolve(name, alias: "challenger"), challenger.version != primary.version,
            let policy = challenger.bundle.release ?? primary.bundle.release
        else {
            return nil
        }
        let share = try await releaseShare(name, challenger: challenger.version, store) ?? policy.canary
        guard share > 0 || policy.shadow else { return nil }
        return Release(champion: primary, challenger: challenger, share: share, shadow: policy.shadow)
    }

    /// Who answers a request for `name`: the champion, or — for the canary share of requests, sticky by `key` when
    /// one is given — the challenger; and, when the release policy asks for a shadow, the other of the two scores a
    /// copy (so every request of a release pairs the two versions, at any share).
    public func route(_ name: String, key: String?) async throws -> (answer: Resolved, shadow: Resolved?)? {
        guard let release = try await release(name) else { return try await resolve(name).map { ($0, nil) } }
        let draw: Double
        if let key {
            // FNV-1a of the key: the same key always lands on the same side.
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            draw = Double(h % 1_000_000) / 1_000_000
        } else {
            draw = Double.random(in: 0..<1)
        }
        if draw < release.share { return (release.challenger, release.shadow ? release.champion : nil) }
        return (release.champion, release.shadow ? release.challenger : nil)
    }

    /// The share of a release under way for `challenger` ("v4"), looked up again after `aliasRefresh` seconds.
    private func releaseShare(_ name: String, challenger: String, _ store: any Store) async throws -> Double? {
        let recent = lock.withLock { releases[name] }
        let state = try await cached(
            "release \(name)", recent.map { ($0.state, $0.at) }, fetch: { try await store.release(name) }
        ) {
            state, at in lock.withLock { releases[name] = (state, at) }
        }
        guard let state, "v\(state.version)" == challenger else { return nil }
        return state.share
    }

    /// The model answering for `name` now, or nil if there is none (unknown name, or no version under the alias).
    public func resolve(_ name: String, alias override: String? = nil) async throws -> Resolved? {
        switch source {
        case .bundles(let b):
            guard override == nil else { return nil }
            return b[name]
        case .store(let store, let models):
            guard models.isEmpty || models[name] != nil else { return nil }
            let alias = override ?? models[name] ?? "champion"
            let key = "\(name)@\(alias)"
            let recent = lock.withLock { resolved[key] }
            return try await cached(
                key, recent.map { ($0.model, $0.at) }, fetch: { try await lookUp(store, name: name, alias: alias) }
            ) { answer, at in lock.withLock { resolved[key] = Lookup(model: answer, at: at) } }
        }
    }

    private func lookUp(_ store: any Store, name: String, alias: String) async throws -> Resolved? {
        guard let v = try await store.aliases(name)[alias], let version = try await store.modelVersion(name, version: v)
        else {
            return nil
        }
        let cached = lock.withLock { decoded[version.bundle] }
        if let cached { return Resolved(name: name, version: "v\(version.version)", cached) }
        let loaded = Loaded(
            try ModelBundle.decode(try await store.artifact(version.bundle), path: "\(name) v\(version.version)"))
        lock.withLock { decoded[version.bundle] = loaded }
        return Resolved(name: name, version: "v\(version.version)", loaded)
    }
}
