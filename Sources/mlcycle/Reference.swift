import ArgumentParser
import Foundation
import MLCycleData

/// `mlcycle reference`: the command reference (`docs/cli/`), written from each command's own help so it cannot
/// drift from the binary; `--check` fails when the committed pages differ (the tests run it).
struct Reference: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the command reference pages (one Markdown page per command) from the commands' own help.",
        shouldDisplay: false)

    @Option(help: "The folder to write (or check) the pages in.") var out = "docs/cli"
    @Flag(help: "Write nothing; exit 1 when a page differs from what the commands' help says now.") var check = false

    /// The pages by file name: one per command, and README.md listing them.
    static func pages() -> [(file: String, text: String)] {
        let commands = MLCycle.configuration.subcommands.filter { $0.configuration.shouldDisplay }
        var index =
            "# Command reference\n\nEvery page is written from the command's own `--help` by `mlcycle reference`"
        index +=
            " (a test checks they agree).\nOptions every reading command shares are described in [how files are read](../data-files.md).\n\n"
        index += "| command | what it does |\n|---|---|\n"
        var pages = [(file: String, text: String)]()
        for command in commands {
            let name = command._commandName
            let abstract = command.configuration.abstract
            index += "| [`mlcycle \(name)`](\(name).md) | \(abstract) |\n"
            let help = MLCycle.helpMessage(for: command, columns: 110)
            pages.append(
                (
                    "\(name).md",
                    "# mlcycle \(name)\n\n\(abstract)\n\n```text\n\(help)\(help.hasSuffix("\n") ? "" : "\n")```\n"
                ))
        }
        return [("README.md", index)] + pages
    }

    func run() throws {
        let pages = Self.pages()
        if check {
            let stale = pages.filter {
                (try? String(contentsOfFile: (out as NSString).appendingPathComponent($0.file), encoding: .utf8))
                    != $0.text
            }
            guard stale.isEmpty else {
                FileHandle.standardError.write(
                    Data(
                        "mlcycle: \(stale.map(\.file).joined(separator: ", ")) in \(out) differ from the commands' help; run `mlcycle reference --out \(out)`\n"
                            .utf8))
                throw ExitCode(1)
            }
            print("\(pages.count) pages in \(out) agree with the commands' help")
            return
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        for page in pages {
            try AtomicFile.write(Data(page.text.utf8), to: (out as NSString).appendingPathComponent(page.file))
        }
        print("wrote \(pages.count) pages in \(out)")
    }
}
