import AsyncHTTPClient
import Foundation
import MLCycleData
import MLCycleMonitor
import MLCycleStore
import NIOCore
import NIOFoundationEssentialsCompat
import NIOHTTP1

/// An HTTP call through async-http-client's shared client (replay and webhooks); a failure to connect is an answer
/// with status 0 and the error, for the caller to report.
enum HTTPCall {
    struct Answer {
        var status: Int
        var body: Data
        var error: String?
    }

    static func send(
        _ method: HTTPMethod, _ url: URL, body: Data? = nil, headers: [String: String] = [:], timeout: Double = 30
    ) async -> Answer {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
            let bytes = try await response.body.collect(upTo: 256 << 20)
            return Answer(status: Int(response.status.code), body: Data(buffer: bytes), error: nil)
        } catch {
            return Answer(status: 0, body: Data(), error: String(describing: error))
        }
    }

    /// Waits without holding a thread (replay and webhook back-off).
    static func pause(_ seconds: Double) async {
        try? await _Concurrency.Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
    }
}

/// Replays recorded history through a running model server, in time order: each row is sent to the native predict
/// endpoint at its own time (`X-MLCycle-Time`; the server must run with `--replay-clock`), its true value follows as
/// feedback, and at each step boundary (e.g. every calendar month) the watcher runs as of that moment — so alerts,
/// retraining and promotion happen as they would have, and the server answers with whatever the champion is then.
/// Each request is keyed by its moment (`X-Request-Key`), so a canary takes the same requests in every replay.
public struct Replay {
    public struct Summary: Encodable, Sendable {
        public var rows: Int
        public var requests: Int
        public var feedback: Int
        /// Which version answered how many rows.
        public var answeredBy: [String: Int]
        public var steps: [Watcher.Step]
    }

    public var server: URL
    public var model: String
    public var table: Table
    public var timeColumn: String
    public var actualColumn: String
    /// Step length: `1M` (calendar months), `7d`, `1h`, …
    public var step: String
    public var token: String?
    /// The bearer token feedback is posted with (the server's feedback role); `token` when nil.
    public var feedbackToken: String?
    public var watcher: Watcher?
    public var progress: (String) -> Void = { _ in }

    public init(
        server: URL, model: String, table: Table, timeColumn: String, actualColumn: String, step: String = "1M",
        watcher: Watcher?
    ) {
        self.server = server
        self.model = model
        self.table = table
        self.timeColumn = timeColumn
        self.actualColumn = actualColumn
        self.step = step
        self.watcher = watcher
    }

    static let calendar = CronSchedule.calendar

    /// The first step boundary after `date`.
    func boundary(after date: Date) throws -> Date {
        if step.last == "M" {
            guard let n = Int(step.dropLast()), n > 0 else {
                throw ReplayError.invalid("--every takes a duration such as 1M, 7d or 1h; got '\(step)'")
            }
            let c = Self.calendar.dateComponents([.year, .month], from: date)
            guard let start = Self.calendar.date(from: c),
                let next = Self.calendar.date(byAdding: .month, value: n, to: start)
            else {
                throw ReplayError.invalid("cannot step months from \(date)")
            }
            return next
        }
        guard let seconds = MonitoringDuration.seconds(step) else {
            throw ReplayError.invalid("--every takes a duration such as 1M, 7d or 1h; got '\(step)'")
        }
        let day = Self.calendar.startOfDay(for: date)
        return day.addingTimeInterval((date.timeIntervalSince(day) / seconds).rounded(.down) * seconds + seconds)
    }

    public func run() async throws -> Summary {
        guard let time = table[timeColumn] else {
            throw ReplayError.invalid(
                "the file has no column '\(timeColumn)' (columns: \(table.columnNames.joined(separator: ", ")))")
        }
        guard table[actualColumn] != nil else {
            throw ReplayError.invalid("the file has no column '\(actualColumn)' for the true values")
        }
        var moments = [Date]()
        for r in 0..<table.rowCount {
            switch time[r] {
            case .date(let days): moments.append(Date(timeIntervalSince1970: Double(days) * 86_400))
            case .timestamp(let micros): moments.append(Date(timeIntervalSince1970: Double(micros) / 1e6))
            case .missing:
                throw ReplayError.invalid("row \(r + 1) has no '\(timeColumn)'; every replayed row needs its time")
            default:
                throw ReplayError.invalid(
                    "'\(timeColumn)' must hold dates or timestamps (e.g. 2008-03-15); row \(r + 1) holds '\(time[r].description)'"
                )
            }
        }
        let order = (0..<table.rowCount).sorted { (moments[$0], $0) < (moments[$1], $1) }
        let inputs = try table.dropping([actualColumn])
        let actual = try table.column(actualColumn)
        let iso = ISO8601DateFormatter()
        let predictURL = server.appendingPathComponent("v1/models").appendingPathComponent(model)
            .appendingPathComponent("predict")
        let feedbackURL = server.appendingPathComponent("v1/feedback")
        var auth = [String: String]()
        if let token { auth["Authorization"] = "Bearer \(token)" }
        var feedbackAuth = auth
        if let feedbackToken { feedbackAuth["Authorization"] = "Bearer \(feedbackToken)" }

        var summary = Summary(rows: 0, requests: 0, feedback: 0, answeredBy: [:], steps: [])
        var previous: Date?
        let first = order.first.map { moments[$0] } ?? Date()
        var next = try order.first.map { try boundary(after: moments[$0]) }
        func watch(until moment: Date) async throws {
            while let b = next, b <= moment {
                if let watcher {
                    await waitForLog(watcher.store, since: first, rows: summary.rows)
                    let s = try await watcher.step(at: b, previous: previous)
                    for n in s.notes { progress("\(iso.string(from: b)): \(n)") }
                    try await waitForRouting(watcher.store)
                    summary.steps.append(s)
                }
                previous = b
                next = try boundary(after: b)
            }
        }
        var i = 0
        while i < order.count {
            let at = moments[order[i]]
            try await watch(until: at)
            var j = i
            while j < order.count, moments[order[j]] == at { j += 1 }
            let rows = Array(order[i..<j])
            let body = Data(CSVWriter.string(inputs.taking(rows)).utf8)
            // Keyed by the moment, so a canary's share takes the same requests in every replay of the file.
            let stamp = iso.string(from: at)
            let answer = await HTTPCall.send(
                .POST, predictURL, body: body,
                headers: auth.merging([
                    "Content-Type": "text/csv", "X-MLCycle-Time": stamp, "X-Request-Key": "\(stamp) \(order[i])",
                ]) { a, _ in a })
            guard answer.status == 200 else {
                throw ReplayError.server(
                    "the server refused the rows of \(iso.string(from: at)) (HTTP \(answer.status)): \(answer.error ?? String(decoding: answer.body, as: UTF8.self))"
                )
            }
            let answered = try CSVReader.read(
                string: String(decoding: answer.body, as: UTF8.self), name: "server answer",
                options: CSVOptions(columnTypes: ["id": .string, "model_version": .string]))
            let ids = try answered.column("id")
            let versions = try answered.column("model_version")
            guard answered.rowCount == rows.count else {
                throw ReplayError.server("the server answered \(answered.rowCount) rows for \(rows.count)")
            }
            var feedback = [Feedback]()
            for (k, r) in rows.enumerated() {
                summary.answeredBy[versions[k].description, default: 0] += 1
                let truth: JSONValue
                switch actual[r] {
                case .missing: continue
                case .float64(let d): truth = .number(d)
                case .int64(let n): truth = .number(Double(n))
                case .bool(let b): truth = .bool(b)
                default: truth = .string(actual[r].description)
                }
                feedback.append(Feedback(predictionID: ids[k].description, actual: truth))
            }
            if !feedback.isEmpty {
                let sent = await HTTPCall.send(
                    .POST, feedbackURL, body: try JSONEncoder().encode(["feedback": feedback]),
                    headers: feedbackAuth.merging(["Content-Type": "application/json"]) { a, _ in a })
                guard sent.status == 200 else {
                    throw ReplayError.server(
                        "the server refused feedback (HTTP \(sent.status)): \(sent.error ?? String(decoding: sent.body, as: UTF8.self))"
                    )
                }
            }
            summary.rows += rows.count
            summary.requests += 1
            summary.feedback += feedback.count
            i = j
        }
        if let last = order.last { try await watch(until: try boundary(after: moments[last])) }
        return summary
    }

    /// Waits (up to 10 s) until the server's prediction log has stored every row sent so far: it writes in the
    /// background, and the watcher must see what was served before the step.
    func waitForLog(_ store: Store, since: Date, rows: Int) async {
        for _ in 0..<200 {
            let logged =
                (try? await store.countPredictions(PredictionFilter(model: model, since: since, shadow: false))) ?? 0
            if logged >= rows { return }
            await HTTPCall.pause(0.05)
        }
        progress("the server's prediction log has not stored every replayed row within 10 s; watching on")
    }

    /// Waits (up to 10 s) until the server routes as the store says after a step: the champion answering, the
    /// challenger beside it at the release's share. A server looks aliases and releases up again within a second.
    func waitForRouting(_ store: Store) async throws {
        let aliases = try await store.aliases(model)
        guard let champion = aliases["champion"] else { return }
        let challenger = aliases["challenger"].flatMap { $0 == champion ? nil : $0 }
        let state = try await store.release(model).flatMap { $0.version == challenger ? $0 : nil }
        let url = server.appendingPathComponent("v1/models").appendingPathComponent(model)
        for _ in 0..<100 {
            let a = await HTTPCall.send(.GET, url, headers: token.map { ["Authorization": "Bearer \($0)"] } ?? [:])
            if let d = try? JSONValue.parse(a.body), d["version"] == .string("v\(champion)") {
                let release = d["release"]
                let routed: Bool
                if let state {
                    routed =
                        release?["challenger"] == .string("v\(state.version)")
                        && release?["share"] == .number(state.share)
                } else if let challenger {
                    routed = release == nil || release?["challenger"] == .string("v\(challenger)")
                } else {
                    routed = release == nil
                }
                if routed { return }
            }
            await HTTPCall.pause(0.1)
        }
        progress("the server did not route as the store says (champion v\(champion)) within 10 s; replaying on")
    }
}

/// One row of `POST /v1/feedback`.
private struct Feedback: Encodable {
    var predictionID: String
    var actual: JSONValue
    enum CodingKeys: String, CodingKey {
        case predictionID = "prediction_id"
        case actual
    }
}

public enum ReplayError: Error, LocalizedError, Equatable {
    case invalid(String)
    case server(String)
    public var errorDescription: String? {
        switch self {
        case .invalid(let m), .server(let m): return m
        }
    }
}
