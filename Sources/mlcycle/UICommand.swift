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
            let spec = try project.map { try projectSpec($0) }
            var built = try webUI(
                store: store, label: location.description, spec: spec,
                tokens: AccessTokens(environment: ProcessInfo.processInfo.environment))
            built.secureCookies = secureCookies
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

/// The web UI over a store, as `mlcycle ui` and `mlcycle serve` set it up: monitoring by a pass with the project's
/// rules (when given), actions with the admin token (from the environment) under the project's approvers.
func webUI(store: any Store, label: String, spec: ProjectSpec?, tokens: AccessTokens) throws -> WebUI {
    var ui = try WebUI(store: store, storeLabel: label)
    ui.adminToken = tokens.admin
    ui.approvers = spec?.release.approvers ?? []
    ui.monitoringNeedsLogin = tokens.predict != nil || tokens.feedback != nil
    let pass = MonitoringPass(store: store, spec: spec)
    ui.monitoringPage = { name, version in try await pass.page(name, version: version) }
    return ui
}
