import Foundation

/// A page that cannot be shown, and what to do about it: a bad query or form (400), an unknown id (404), a request
/// the page refuses (401, 403, 405). Shown as an error page with that status, never as a server error.
public struct UIError: Error, LocalizedError, Equatable, Sendable {
    public var status: Int
    public var message: String
    public init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }
    public var errorDescription: String? { message }
}

/// A query string or a urlencoded form, read strictly: at most 64 fields of at most 256 characters each, no field
/// given twice unless it is a list, every value checked before a page uses it.
struct UIQuery {
    static let maximumFields = 64, maximumValue = 256, maximumLength = 8_192

    private(set) var fields: [(name: String, value: String)] = []

    init(_ encoded: String?) throws {
        guard let encoded, !encoded.isEmpty else { return }
        guard encoded.utf8.count <= Self.maximumLength else {
            throw UIError(400, "the query is longer than \(Self.maximumLength) bytes; ask for less")
        }
        for part in encoded.split(separator: "&", omittingEmptySubsequences: true) {
            let pair = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            // A form encodes a space as '+'; a '+' itself arrives as %2B.
            func decoded(_ s: Substring) throws -> String {
                guard let text = s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding else {
                    throw UIError(400, "'\(s.prefix(40))' is not percent-encoded properly")
                }
                return text
            }
            let name = try decoded(pair[0])
            let value = pair.count > 1 ? try decoded(pair[1]) : ""
            guard value.count <= Self.maximumValue, name.count <= Self.maximumValue else {
                throw UIError(400, "'\(name.prefix(40))' is longer than \(Self.maximumValue) characters")
            }
            fields.append((name, value))
            guard fields.count <= Self.maximumFields else {
                throw UIError(400, "more than \(Self.maximumFields) fields; ask for less")
            }
        }
    }

    /// Every value of `name`, in order (empty ones left out).
    func all(_ name: String) -> [String] { fields.filter { $0.name == name && !$0.value.isEmpty }.map(\.value) }

    /// The one value of `name`, nil when absent or empty; given twice is an error.
    func one(_ name: String) throws -> String? {
        let values = all(name)
        guard values.count <= 1 else { throw UIError(400, "'\(name)' is given \(values.count) times; give it once") }
        return values.first?.trimmingCharacters(in: .whitespaces)
    }

    /// A whole number in `range`.
    func integer(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let text = try one(name) else { return nil }
        guard let n = Int(text), range.contains(n) else {
            throw UIError(
                400,
                "'\(name)' must be a whole number from \(range.lowerBound) to \(range.upperBound); got '\(text.prefix(40))'"
            )
        }
        return n
    }

    /// One of a list of values.
    func choice<T: RawRepresentable & CaseIterable>(_ name: String, _ type: T.Type) throws -> T?
    where T.RawValue == String {
        guard let text = try one(name) else { return nil }
        guard let value = T(rawValue: text) else {
            throw UIError(
                400,
                "'\(name)' must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")); got '\(text.prefix(40))'"
            )
        }
        return value
    }

    /// A day as `YYYY-MM-DD` (a date field's value), as the start of that day in UTC.
    func day(_ name: String) throws -> Date? {
        guard let text = try one(name) else { return nil }
        let parts = text.split(separator: "-").compactMap { Int($0) }
        guard text.count == 10, parts.count == 3, (1..<10_000).contains(parts[0]) else {
            throw UIError(400, "'\(name)' must be a day as YYYY-MM-DD; got '\(text.prefix(40))'")
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        let components = DateComponents(year: parts[0], month: parts[1], day: parts[2])
        guard components.isValidDate(in: calendar), let date = calendar.date(from: components) else {
            throw UIError(400, "'\(name)': \(text) is not a day of the calendar")
        }
        return date
    }
}
