import Foundation

/// How the pages write times, durations and numbers: UTC times to the minute, durations in the unit that reads best,
/// numbers with four significant decimals.
enum UIFormat {
    /// `2026-12-07 05:31`, in UTC (a format style made once: a DateFormatter per time was a quarter of a model page's
    /// time in the UI benchmark).
    static let minutes = Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC") ?? .gmt).year().month().day()
        .dateTimeSeparator(.space).time(includingFractionalSeconds: false)

    static func time(_ date: Date) -> String { String(date.formatted(minutes).prefix(16)) + " UTC" }

    static func day(_ date: Date) -> String { String(time(date).prefix(10)) }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "—" }
        if seconds < 60 { return String(format: "%.1f s", seconds) }
        if seconds < 3600 { return "\(Int(seconds) / 60) min \(Int(seconds) % 60) s" }
        return "\(Int(seconds) / 3600) h \(Int(seconds) % 3600 / 60) min"
    }

    static func number(_ x: Double) -> String {
        guard x.isFinite else { return x.isNaN ? "—" : (x > 0 ? "∞" : "−∞") }
        if x != 0 && (abs(x) >= 1e7 || abs(x) < 1e-4) { return String(format: "%.4g", x) }
        let text = String(format: "%.4f", x)
        let trimmed =
            text.contains(".") ? text.replacingOccurrences(of: #"\.?0+$"#, with: "", options: .regularExpression) : text
        return trimmed == "-0" ? "0" : trimmed
    }

    /// A difference, signed.
    static func delta(_ x: Double) -> String { (x > 0 ? "+" : x < 0 ? "−" : "±") + number(abs(x)) }

    /// A run's duration, to now while it runs.
    static func took(_ started: Date, _ ended: Date?) -> (text: String, seconds: Double) {
        let seconds = (ended ?? Date()).timeIntervalSince(started)
        return (duration(seconds) + (ended == nil ? " so far" : ""), seconds)
    }

    /// Whether a value is an artefact's hash (64 hexadecimal digits).
    static func isArtefact(_ value: String) -> Bool {
        value.utf8.count == 64 && value.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}
