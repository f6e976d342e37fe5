/// Proleptic Gregorian calendar arithmetic for `date` (days since 1970-01-01) and `timestamp` (µs since the epoch, UTC).
public enum CalendarDate {
    public static let microsecondsPerDay: Int64 = 86_400_000_000

    /// Days since 1970-01-01 of a calendar date, or nil when the date does not exist.
    @inlinable
    public static func days(year: Int, month: Int, day: Int) -> Int64? {
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month) else { return nil }
        // Howard Hinnant's days_from_civil.
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    @inlinable
    public static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    @inlinable
    public static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    /// The calendar date of a day number.
    public static func civil(days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (Int(m <= 2 ? y + 1 : y), Int(m), Int(d))
    }

    /// Day of the week, 0 = Monday … 6 = Sunday.
    public static func weekday(days: Int64) -> Int {
        let w = (days + 3) % 7  // 1970-01-01 was a Thursday
        return Int(w < 0 ? w + 7 : w)
    }

    /// `yyyy-MM-dd`.
    public static func isoString(days: Int64) -> String {
        let (y, m, d) = civil(days: days)
        return pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2)
    }

    /// `yyyy-MM-ddTHH:mm:ss[.ffffff]Z`.
    public static func isoString(microseconds t: Int64) -> String {
        var days = t / microsecondsPerDay
        var rest = t % microsecondsPerDay
        if rest < 0 {
            rest += microsecondsPerDay
            days -= 1
        }
        let secs = rest / 1_000_000
        let micros = rest % 1_000_000
        var s =
            isoString(days: days) + "T" + pad(Int(secs / 3600), 2) + ":" + pad(Int(secs / 60 % 60), 2) + ":"
            + pad(Int(secs % 60), 2)
        if micros != 0 { s += "." + pad(Int(micros), 6) }
        return s + "Z"
    }

    private static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(abs(v))
        let body = s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        return v < 0 ? "-" + body : body
    }
}
