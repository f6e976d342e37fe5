import ArgumentParser
import Foundation
import MLCycleProject
import MLCycleServe
import MLCycleStore
import MLCycleUI

/// `mlcycle ui`: the web UI over a store.
struct UICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ui",
        abstract:
            "Browse a store in a web browser: projects, runs (filter, compare), models (versions, aliases, lineage, audit), monitoring.",
        discussion: """
            Opens http://HOST:PORT/ui/. Reading needs nothing; promoting, approving and rolling back need a login with \
            the admin token (MLCYCLE_ADMIN_TOKEN or MLCYCLE_ADMIN_TOKEN_FILE; without it the pages only read), and \
            follow the project's release.approvers as the CLI does. The same pages are under /ui of mlcycle serve.
            """)

    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "The project directory whose store to open (and whose monitoring rules the monitoring pages use).")
    var project: String?
    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "The port to listen on.") var port = 8090
    @Flag(help: "Mark the session cookie Secure (the UI is reached over HTTPS, through a proxy that ends TLS).")
    var secureCookies = false

    func run() async throws {
        let ui: WebUI
        do {
            let location = try storeOptions.location(project ?? ".")
            let store = try await location.open()
            var built = try WebUI(store: store, storeLabel: location.description)
            let spec = try project.map { try projectSpec($0) }
            // The admin token comes from the environment (or a file named there), never the command line.
            built.adminToken = AccessTokens(environment: ProcessInfo.processInfo.environment).admin
            built.approvers = spec?.release.approvers ?? []
            built.secureCookies = secureCookies
            let pass = MonitoringPass(store: store, spec: spec)
            built.monitoringPage = { name in
                guard let output = try await pass.runServed(name, recordAlerts: false) else { return nil }
                return try await pass.html(output)
            }
            ui = built
        } catch {
            throw reported(error)
        }
        // Written at once (print buffers when the output is not a terminal), so a script can wait for the line.
        FileHandle.standardOutput.write(
            Data("the UI of \(ui.storeLabel) is on http://\(host):\(port)\(ui.base)/\n".utf8))
        try await ui.run(host: host, port: port)
    }
}
