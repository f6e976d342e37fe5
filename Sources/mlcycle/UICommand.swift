import ArgumentParser
import Foundation
import MLCycleProject
import MLCycleStore
import MLCycleUI

/// `mlcycle ui`: the web UI over a store.
struct UICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ui",
        abstract:
            "Browse a store in a web browser: projects, runs (filter, compare), models (versions, aliases, lineage, audit), monitoring.",
        discussion: """
            Opens http://HOST:PORT/ui/. The pages only read: promoting and rolling back stay with mlcycle promote and \
            mlcycle rollback. The same pages are under /ui of mlcycle serve --project.
            """)

    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "The project directory whose store to open (and whose monitoring rules the monitoring pages use).")
    var project: String?
    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "The port to listen on.") var port = 8090

    func run() async throws {
        let ui: WebUI
        do {
            let location = try storeOptions.location(project ?? ".")
            let store = try await location.open()
            var built = try WebUI(store: store, storeLabel: location.description)
            let pass = MonitoringPass(store: store, spec: try project.map { try projectSpec($0) })
            built.monitoringPage = { name in
                guard let output = try await pass.runServed(name, recordAlerts: false) else { return nil }
                return try await pass.html(output)
            }
            ui = built
        } catch {
            throw reported(error)
        }
        print("the UI of \(ui.storeLabel) is on http://\(host):\(port)\(ui.base)/")
        fflush(stdout)
        try await ui.run(host: host, port: port)
    }
}
