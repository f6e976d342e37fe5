import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCycleStore

/// The models a server answers for, resolved at request time: a bundle file served under its name, or registered
/// models whose alias (default `champion`) is looked up in the store on every request — a promotion or rollback
/// takes effect on the next request, with no restart. Bundles are decoded once per content hash and kept.
public final class ModelCatalog: @unchecked Sendable {
    /// A model ready to answer: its bundle and the version that answers.
    public struct Resolved: Sendable {
        public var name: String
        /// "v3" for a registered version, "bundle" for a file.
        public var version: String
        public var bundle: ModelBundle
    }

    enum Source {
        case bundles([String: ModelBundle])
        case store(any Store, models: [String: String])
    }

    let source: Source
    private let lock = NSLock()
    private var decoded = [String: ModelBundle]()

    /// Serves one bundle file under its own name.
    public init(bundlePath: String) throws {
        guard let data = FileManager.default.contents(atPath: bundlePath) else { throw DataError.fileNotFound(path: bundlePath) }
        let bundle = try ModelBundle.decode(data, path: bundlePath)
        source = .bundles([bundle.name: bundle])
    }

    /// Serves registered models: `models` maps a name to the alias to follow (`champion` when given as NAME).
    public init(store: any Store, models: [String: String]) {
        source = .store(store, models: models)
    }

    /// Parses `NAME` or `NAME@ALIAS` arguments.
    public static func aliases(_ arguments: [String]) -> [String: String] {
        var out = [String: String]()
        for a in arguments {
            let parts = a.split(separator: "@", maxSplits: 1).map(String.init)
            out[parts[0]] = parts.count > 1 ? parts[1] : "champion"
        }
        return out
    }

    /// The names served.
    public func names() throws -> [String] {
        switch source {
        case .bundles(let b): return b.keys.sorted()
        case .store(let store, let models): return models.isEmpty ? try store.modelNames() : models.keys.sorted()
        }
    }

    /// Who answers a request for `name`: the champion, or — for the canary share of requests, sticky by `key` when
    /// one is given — the challenger; and the challenger again as a shadow when the release policy asks for one.
    public func route(_ name: String, key: String?) throws -> (answer: Resolved, shadow: Resolved?)? {
        guard let primary = try resolve(name) else { return nil }
        guard case .store = source, let policy = primary.bundle.release, policy.canary > 0 || policy.shadow,
              let challenger = try resolve(name, alias: "challenger"), challenger.version != primary.version else {
            return (primary, nil)
        }
        let draw: Double
        if let key {
            // FNV-1a of the key: the same key always lands on the same side.
            var h: UInt64 = 0xcbf29ce484222325
            for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
            draw = Double(h % 1_000_000) / 1_000_000
        } else {
            draw = Double.random(in: 0..<1)
        }
        if draw < policy.canary { return (challenger, nil) }
        return (primary, policy.shadow ? challenger : nil)
    }

    /// The model answering for `name` now, or nil if there is none (unknown name, or no version under the alias).
    public func resolve(_ name: String, alias override: String? = nil) throws -> Resolved? {
        switch source {
        case .bundles(let b):
            guard override == nil else { return nil }
            return b[name].map { Resolved(name: name, version: "bundle", bundle: $0) }
        case .store(let store, let models):
            guard models.isEmpty || models[name] != nil else { return nil }
            let alias = override ?? models[name] ?? "champion"
            guard let v = try store.aliases(name)[alias], let version = try store.modelVersion(name, version: v) else { return nil }
            lock.lock()
            let cached = decoded[version.bundle]
            lock.unlock()
            if let cached { return Resolved(name: name, version: "v\(version.version)", bundle: cached) }
            let bundle = try ModelBundle.decode(try store.artifact(version.bundle), path: "\(name) v\(version.version)")
            lock.lock()
            decoded[version.bundle] = bundle
            lock.unlock()
            return Resolved(name: name, version: "v\(version.version)", bundle: bundle)
        }
    }
}
