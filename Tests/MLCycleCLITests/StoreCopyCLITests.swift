import Foundation
import Testing

/// `mlcycle store copy` as a user runs it: a trained project's store into PostgreSQL, then the team's commands
/// read it there.
@Suite(.serialized) struct StoreCopyCLITests {
    @Test func aProjectsStoreMovesIntoPostgreSQLAndIsReadThere() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-copy-\(UUID().uuidString)")
        #expect(try await CLI.run(["init", dir.path]).status == 0)
        #expect(try await CLI.run(["run", dir.path, "--quiet"]).status == 0)
        let folder = dir.appendingPathComponent(".mlcycle").path

        // Wrong way round, or no store at all: a usage error that says what to give.
        let backwards = try await CLI.run(["store", "copy", "--from", "postgres://u@h/db", "--to", folder])
        #expect(backwards.status != 0 && backwards.stderr.contains("--from takes a store folder"))
        let empty = try await CLI.run(["store", "copy", "--from", dir.path, "--to", "postgres://u@127.0.0.1:1/db"])
        #expect(empty.status != 0 && empty.stderr.contains("no store"), "\(empty.stderr)")
        guard CrashConsistencyTests.StoreKind.postgresURL != nil else { return }

        let url = try await CrashConsistencyTests.StoreKind.postgres.location(project: dir)
        let copy = try await CLI.run(["store", "copy", "--from", folder, "--to", url])
        #expect(copy.status == 0, "\(copy.stderr)")
        #expect(copy.stdout.contains("every table verified"))
        let local = try await CLI.run(["models", "--store", folder])
        let team = try await CLI.run(["models", "--store", url])
        #expect(team.status == 0 && team.stdout == local.stdout, "\(team.stdout) vs \(local.stdout)")
        let runs = try await CLI.run(["runs", "--store", url])
        #expect(runs.stdout == (try await CLI.run(["runs", "--store", folder])).stdout)
        let again = try await CLI.run(["store", "copy", "--from", folder, "--to", url])
        #expect(again.status == 0 && again.stdout.contains("0 artefacts copied"), "\(again.stdout)")
    }
}
