import Foundation

/// A cron schedule in the classic five fields — minute, hour, day of month, month, day of week — read in UTC:
/// `0 3 1 */3 *` is 03:00 on the first of January, April, July and October. A field is `*`, a number, a range
/// `a-b`, a step `*/n` or `a-b/n`, or a comma list of these; months and weekdays are numbers (Sunday is 0 or 7).
/// As in cron, when both the day of month and the day of week are restricted, a day matching either one fires.
public struct CronSchedule: Sendable, Equatable {
    public let text: String
    let minutes: Set<Int>, hours: Set<Int>, days: Set<Int>, months: Set<Int>, weekdays: Set<Int>
    let anyDay: Bool, anyWeekday: Bool

    public init(parsing text: String) throws {
        let fields = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard fields.count == 5 else {
            throw MonitorError.invalid(
                "schedule '\(text)': expected cron's five fields (minute hour day-of-month month day-of-week), e.g. \"0 3 1 */3 *\""
            )
        }
        func field(_ k: Int, _ name: String, _ range: ClosedRange<Int>) throws -> Set<Int> {
            var values = Set<Int>()
            for part in fields[k].split(separator: ",", omittingEmptySubsequences: false) {
                let pieces = part.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                var step = 1
                if pieces.count == 2 {
                    guard let n = Int(pieces[1]), n > 0 else {
                        throw MonitorError.invalid(
                            "schedule '\(text)': the \(name) step '\(pieces[1])' is not a positive number")
                    }
                    step = n
                }
                var low = range.lowerBound
                var high = range.upperBound
                if pieces[0] != "*" {
                    let bounds = pieces[0].split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map {
                        Int($0)
                    }
                    guard let first = bounds.first ?? nil, bounds.allSatisfy({ $0 != nil }) else {
                        throw MonitorError.invalid(
                            "schedule '\(text)': the \(name) field '\(fields[k])' is not *, a number, a range a-b or a step */n"
                        )
                    }
                    low = first
                    high = bounds.count == 2 ? (bounds[1] ?? first) : (pieces.count == 2 ? range.upperBound : first)
                }
                guard range.contains(low), range.contains(high), low <= high else {
                    throw MonitorError.invalid(
                        "schedule '\(text)': the \(name) must lie in \(range.lowerBound)-\(range.upperBound); got '\(part)'"
                    )
                }
                values.formUnion(stride(from: low, through: high, by: step))
            }
            return values
        }
        self.text = text
        minutes = try field(0, "minute", 0...59)
        hours = try field(1, "hour", 0...23)
        days = try field(2, "day of month", 1...31)
        months = try field(3, "month", 1...12)
        weekdays = Set(try field(4, "day of week", 0...7).map { $0 % 7 })
        anyDay = fields[2].hasPrefix("*")
        anyWeekday = fields[4].hasPrefix("*")
    }

    /// A Gregorian calendar in UTC (schedules and replays step in UTC).
    public static let calendar: Calendar = {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC") ?? TimeZone(secondsFromGMT: 0) ?? c.timeZone
        return c
    }()

    func dayMatches(_ date: Date) -> Bool {
        let c = Self.calendar.dateComponents([.day, .month, .weekday], from: date)
        guard let day = c.day, let month = c.month, let weekday = c.weekday, months.contains(month) else {
            return false
        }
        let byDay = days.contains(day)
        let byWeekday = weekdays.contains(weekday - 1)
        if anyDay && anyWeekday { return true }
        if anyDay { return byWeekday }
        if anyWeekday { return byDay }
        return byDay || byWeekday
    }

    /// The first moment the schedule fires strictly after `date` (within the next eight years; nil if never, as for
    /// `0 0 31 2 *`).
    public func next(after date: Date) -> Date? {
        let cal = Self.calendar
        let start = cal.startOfDay(for: date)
        let sortedHours = hours.sorted()
        let sortedMinutes = minutes.sorted()
        for offset in 0..<(366 * 8) {
            guard let day = cal.date(byAdding: .day, value: offset, to: start), dayMatches(day) else { continue }
            for h in sortedHours {
                for m in sortedMinutes {
                    let moment = day.addingTimeInterval(Double(h * 3600 + m * 60))
                    if moment > date { return moment }
                }
            }
        }
        return nil
    }

    /// True when the schedule fires in (`after`, `through`].
    public func fires(after: Date, through: Date) -> Bool {
        guard let n = next(after: after) else { return false }
        return n <= through
    }
}
