import Foundation
import Testing

/// The command reference in docs/cli/ is written from the commands' own help; it must agree with this binary.
@Test func theCommandReferenceAgreesWithTheCommandsHelp() async throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let r = try await CLI.run(["reference", "--check", "--out", root.appendingPathComponent("docs/cli").path])
    #expect(r.status == 0, "\(r.stderr)")
    // Every command listed in the top-level help has its page.
    let help = try await CLI.run(["--help"]).stdout
    for page in try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("docs/cli").path)
    where page != "README.md" {
        #expect(help.contains("  " + page.replacingOccurrences(of: ".md", with: "")), "\(page) is not a command")
    }
}
