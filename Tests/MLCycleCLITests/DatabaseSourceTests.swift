import Foundation
import PostgresNIO
import Testing

@testable import MLCycleStore

/// A project whose first source is a query on the team's PostgreSQL, joined with a CSV file: `mlcycle run` trains
/// from it, the dataset records the URL without its password, and caching follows the query's content — an unchanged
/// result reuses every stage, a changed row runs them again.
@Suite(
    .enabled(
        if: ProcessInfo.processInfo.environment["MLCYCLE_TEST_POSTGRES_URL"] != nil,
        "needs MLCYCLE_TEST_POSTGRES_URL (bash Tests/run.sh starts a server)"))
struct DatabaseSourceTests {
    @Test func aProjectTrainsFromAQueryAndCachesByItsContent() async throws {
        let url = try #require(ProcessInfo.processInfo.environment["MLCYCLE_TEST_POSTGRES_URL"])
        let table = "sales_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased())"
        let server = try await PostgresStore(url: url)
        defer { server.close() }
        var rows = [String]()
        var hoods = "hood,hood_index\n"
        for i in 0..<200 {
            let size = 1 + Double(i % 90) / 10
            rows.append("(\(i), \(size), 'h\(i % 4)', \((100 + 50 * size + Double(i % 4) * 7).rounded()))")
        }
        for h in 0..<4 { hoods += "h\(h),\(h * 10)\n" }
        try await server.execute(
            PostgresQuery(
                unsafeSQL: "CREATE TABLE \(table) (id integer, size double precision, hood text, price numeric)"))
        try await server.execute(
            PostgresQuery(unsafeSQL: "INSERT INTO \(table) VALUES \(rows.joined(separator: ", "))"))
        // Trust authentication ignores the password: it is here to show it is never written down.
        var withPassword = try #require(URLComponents(string: url))
        withPassword.password = "hunter2"
        let sourceURL = try #require(withPassword.string)
        let dir = try scratch([
            "hoods.csv": hoods,
            "mlcycle.yaml": """
            problem: {name: db-prices, task: regression, target: price}
            sources:
              - {name: sales, url: "\(sourceURL)", query: "SELECT * FROM \(table) ORDER BY id"}
              - {name: hoods, path: hoods.csv, join: {on: [hood], kind: left}}
            preparation: [{drop: [id]}]
            split: {method: random, test: 0.25, seed: 1}
            candidates: [{name: gbdt, learner: gbdt, params: {n_estimators: 20}}]
            """,
        ])
        let store = dir.appendingPathComponent(".mlcycle").path
        /// The run's summary line: `stages: collect cached, validate 0.1s, …`.
        func stages(_ output: String) -> [String] {
            let line = output.split(separator: "\n").first { $0.hasPrefix("stages:") } ?? ""
            return line.dropFirst("stages: ".count).split(separator: ", ").map(String.init)
        }
        let first = try await CLI.run(["run", dir.path, "--store", store])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("collect") && first.stdout.contains("200 rows"), "\(first.stdout)")
        let again = try await CLI.run(["run", dir.path, "--store", store])
        #expect(!stages(again.stdout).isEmpty && stages(again.stdout).allSatisfy { $0.hasSuffix(" cached") })
        try await server.execute(PostgresQuery(unsafeSQL: "UPDATE \(table) SET price = price + 1 WHERE id = 7"))
        let changed = try await CLI.run(["run", dir.path, "--store", store])
        #expect(stages(changed.stdout).first?.hasSuffix(" cached") == false, "\(changed.stdout)")
        #expect(stages(changed.stdout).contains { $0.hasPrefix("train") && !$0.hasSuffix(" cached") })
        // The password is in no output and nowhere in the store (runs, datasets, artefacts, bundles).
        for output in [first, again, changed] { #expect(!(output.stdout + output.stderr).contains("hunter2")) }
        let files = FileManager.default.enumerator(atPath: store)?.allObjects as? [String] ?? []
        for file in files {
            let data = FileManager.default.contents(atPath: "\(store)/\(file)") ?? Data()
            #expect(data.range(of: Data("hunter2".utf8)) == nil, "\(file) holds the password")
        }
    }
}
