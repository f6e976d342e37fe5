import Foundation
import MLCycleMonitor
import Testing

@Suite struct CronScheduleTests {
    let iso = ISO8601DateFormatter()
    func at(_ s: String) throws -> Date { try #require(iso.date(from: s)) }

    @Test func quarterlyAtThreeOnTheFirst() throws {
        let s = try CronSchedule(parsing: "0 3 1 */3 *")
        #expect(s.next(after: try at("2026-11-26T02:19:00Z")) == (try at("2027-01-01T03:00:00Z")))
        #expect(s.next(after: try at("2027-01-01T03:00:00Z")) == (try at("2027-04-01T03:00:00Z")))
        #expect(s.next(after: try at("2027-01-01T02:59:59Z")) == (try at("2027-01-01T03:00:00Z")))
        #expect(s.fires(after: try at("2027-03-31T00:00:00Z"), through: try at("2027-04-01T03:00:00Z")))
        #expect(!s.fires(after: try at("2027-04-01T03:00:00Z"), through: try at("2027-06-30T00:00:00Z")))
    }

    @Test func stepsListsRangesAndWeekdays() throws {
        let every15 = try CronSchedule(parsing: "*/15 * * * *")
        #expect(every15.next(after: try at("2026-11-26T10:07:00Z")) == (try at("2026-11-26T10:15:00Z")))
        let workdays = try CronSchedule(parsing: "30 8,17 * * 1-5")
        // 2026-11-27 is a Friday: 08:30, then 17:30, then Monday 08:30.
        #expect(workdays.next(after: try at("2026-11-27T09:00:00Z")) == (try at("2026-11-27T17:30:00Z")))
        #expect(workdays.next(after: try at("2026-11-27T18:00:00Z")) == (try at("2026-11-30T08:30:00Z")))
        // Sunday is 0 or 7.
        #expect(
            try CronSchedule(parsing: "0 0 * * 7").next(after: try at("2026-11-26T00:00:00Z"))
                == (try at("2026-11-29T00:00:00Z")))
        // Day of month and day of week both restricted: either one fires (cron's rule). The 1st of December 2026 is a
        // Tuesday; the first Sunday after the 26th is the 29th.
        let either = try CronSchedule(parsing: "0 0 1 * 0")
        #expect(either.next(after: try at("2026-11-26T00:00:00Z")) == (try at("2026-11-29T00:00:00Z")))
        #expect(either.next(after: try at("2026-11-29T00:00:00Z")) == (try at("2026-12-01T00:00:00Z")))
        // 5/20 starts at 5: 5, 25, 45.
        #expect(
            try CronSchedule(parsing: "5/20 * * * *").next(after: try at("2026-11-26T10:06:00Z"))
                == (try at("2026-11-26T10:25:00Z")))
        #expect(try CronSchedule(parsing: "0 0 31 2 *").next(after: try at("2026-01-01T00:00:00Z")) == nil)
    }

    @Test func badSchedulesSayWhat() {
        for (text, words) in [
            ("0 3 1 *", "five fields"), ("61 * * * *", "minute must lie in 0-59"), ("0 3 1 */0 *", "step '0'"),
            ("0 x * * *", "hour field 'x'"), ("0 0 5-2 * *", "day of month must lie"),
        ] {
            #expect {
                _ = try CronSchedule(parsing: text)
            } throws: { error in
                (error as? LocalizedError)?.errorDescription?.contains(words) == true
            }
        }
    }
}
