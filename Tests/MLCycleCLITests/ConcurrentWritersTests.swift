import Foundation
import Testing

@testable import MLCycleStore

/// Two processes writing to one store at once, as two people on a team do: each command succeeds and the store holds
/// every write (SQLite's file shared by two processes, PostgreSQL's server by two clients).
@Suite(.serialized) struct ConcurrentWritersTests {
    /// Runs commands one after the other (two of these started with `async let` run beside each other).
    static func oneAfterAnother(_ commands: [[String]]) async throws -> [CLI.Result] {
        var results = [CLI.Result]()
        for command in commands { results.append(try await CLI.run(command)) }
        return results
    }

    @Test(arguments: CrashConsistencyTests.StoreKind.available)
    func twoProcessesWriteToOneStoreAtOnce(_ kind: CrashConsistencyTests.StoreKind) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-two-\(UUID().uuidString)")
        #expect(try await CLI.run(["init", dir.path]).status == 0)
        let store = try await kind.location(project: dir)
        // Two runs of the project started together: both finish, each version number is given once.
        let run = ["run", dir.path, "--quiet", "--store", store]
        async let first = Self.oneAfterAnother([run])
        async let second = Self.oneAfterAnother([run])
        for result in try await first + second { #expect(result.status == 0, "\(result.stderr)") }
        let opened = try await StoreLocation(store).open()
        let name = try #require(try await opened.modelNames().first)
        let versions = try await opened.modelVersions(name).map(\.version).sorted()
        #expect(!versions.isEmpty && versions == Array(1...versions.count), "\(versions)")
        #expect(try await opened.runs(project: nil, limit: 1_000).allSatisfy { $0.status != .running })
        // Two people moving the challenger alias in turns, eight times each: every move is in the audit log.
        func moves(_ who: String) -> [[String]] {
            (0..<8).map {
                [
                    "promote", "\(name):\(versions[0])", "--to", "challenger", "--reason", "\(who) \($0)",
                    "--override-gates", "--project", dir.path, "--store", store,
                ]
            }
        }
        async let ana = Self.oneAfterAnother(moves("ana"))
        async let ben = Self.oneAfterAnother(moves("ben"))
        for result in try await ana + ben { #expect(result.status == 0, "\(result.stderr)") }
        let reasons = Set(moves("ana").map { $0[5] } + moves("ben").map { $0[5] })
        let audit = try await opened.audit(model: name).filter {
            $0.alias == "challenger" && reasons.contains($0.reason)
        }
        #expect(audit.count == 16 && Set(audit.map(\.reason)) == reasons)
        (opened as? PostgresStore)?.close()
    }
}
