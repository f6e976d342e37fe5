import Foundation

/// Parsers for one field's bytes, used by the CSV reader's hot loops.
///
/// They work on a pointer and a length into the (memory-mapped) file so that no `String` is made
/// for a field that turns out to be a number, a date or a boolean.
public enum FieldParsing {
    /// Bits of `classify`: which types a field's text can be read as without losing anything.
    public static let intBit: UInt8 = 1, floatBit: UInt8 = 2, dateBit: UInt8 = 4, timestampBit: UInt8 = 8,
        boolBit: UInt8 = 16
    public static let allBits: UInt8 = 31

    /// Which types the text can be read as (an int is also a float; a date is also a timestamp).
    @inlinable
    public static func classify(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt8 {
        let (s, e) = trim(p, 0, n)
        guard s < e else { return 0 }
        let c = p[s]
        // A digit, '-', '+' or '.'.
        if isDigit(c) || c == 45 || c == 43 || c == 46 {
            if parseInt(p + s, e - s) != nil { return intBit | floatBit }
            // An integer too large for int64 would be rounded as a float: keep it as text.
            if isIntegerSyntax(p, s, e) { return 0 }
            if parseDouble(p + s, e - s) != nil { return floatBit }
            if isDigit(c), e - s >= 8 {
                if parseDate(p + s, e - s) != nil { return dateBit | timestampBit }
                if parseTimestamp(p + s, e - s) != nil { return timestampBit }
            }
            return 0
        }
        if parseBool(p + s, e - s) != nil { return boolBit }
        // inf, infinity (any case) are floats
        if c == 105 || c == 73 || c == 110 || c == 78 {
            if parseDouble(p + s, e - s) != nil { return floatBit }
        }
        return 0
    }

    @inlinable
    static func isIntegerSyntax(_ p: UnsafePointer<UInt8>, _ s0: Int, _ e0: Int) -> Bool {
        let (s, e) = trim(p, s0, e0)
        guard s < e else { return false }
        var i = s
        if p[i] == 45 || p[i] == 43 { i += 1 }
        guard i < e else { return false }
        while i < e {
            if !isDigit(p[i]) { return false }
            i += 1
        }
        return true
    }

    @inlinable
    static func isDigit(_ c: UInt8) -> Bool { c &- 48 < 10 }

    @inlinable
    static func trim(_ p: UnsafePointer<UInt8>, _ s0: Int, _ e0: Int) -> (Int, Int) {
        var s = s0
        var e = e0
        while s < e, p[s] == 32 || p[s] == 9 { s += 1 }
        while e > s, p[e - 1] == 32 || p[e - 1] == 9 { e -= 1 }
        return (s, e)
    }

    /// A decimal integer that fits `Int64` and has no leading zero (so `"007"` stays text: nothing is lost).
    @inlinable
    public static func parseInt(_ p0: UnsafePointer<UInt8>, _ n0: Int) -> Int64? {
        let (s0, e) = trim(p0, 0, n0)
        var i = s0
        guard i < e else { return nil }
        var negative = false
        if p0[i] == 45 || p0[i] == 43 {
            negative = p0[i] == 45
            i += 1
        }
        guard i < e else { return nil }
        if p0[i] == 48 && e - i > 1 { return nil }  // leading zero
        var v: UInt64 = 0
        while i < e {
            let d = p0[i] &- 48
            guard d < 10 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d))
            if o1 || o2 { return nil }
            v = a
            i += 1
        }
        if negative {
            if v > UInt64(Int64.max) + 1 { return nil }
            return v == UInt64(Int64.max) + 1 ? Int64.min : -Int64(v)
        }
        return v > UInt64(Int64.max) ? nil : Int64(v)
    }

    @usableFromInline
    static let exactPowersOfTen: [Double] = (0...22).map { pow(10.0, Double($0)) }

    /// A decimal floating-point number (`1`, `-2.5`, `.5`, `1e-3`, `inf`), correctly rounded.
    ///
    /// Clinger's fast path handles the common case exactly; everything else goes to `strtod`.
    @inlinable
    public static func parseDouble(_ p0: UnsafePointer<UInt8>, _ n0: Int) -> Double? {
        let (s0, e) = trim(p0, 0, n0)
        var i = s0
        guard i < e else { return nil }
        var negative = false
        if p0[i] == 45 || p0[i] == 43 {
            negative = p0[i] == 45
            i += 1
        }
        guard i < e else { return nil }
        let c0 = p0[i]
        // inf / infinity; NaN is a missing-value token, not a number
        if c0 == 105 || c0 == 73 || c0 == 110 || c0 == 78 {
            let len = e - i
            guard len == 3 || len == 8 else { return nil }
            let word = String(decoding: UnsafeBufferPointer(start: p0 + i, count: len), as: UTF8.self).lowercased()
            guard word == "inf" || word == "infinity" else { return nil }
            return negative ? -.infinity : .infinity
        }
        if c0 == 48, i + 1 < e, isDigit(p0[i + 1]) { return nil }  // leading zero: "007.5" stays text
        var mantissa: UInt64 = 0
        var digits = 0
        var dropped = 0  // digits beyond 19 that do not fit the mantissa
        var sawDigit = false
        var exponent = 0
        while i < e, isDigit(p0[i]) {
            sawDigit = true
            if digits < 19 {
                mantissa = mantissa &* 10 &+ UInt64(p0[i] &- 48)
                if mantissa != 0 { digits += 1 }
            } else {
                dropped += 1
            }
            i += 1
        }
        exponent += dropped
        if i < e, p0[i] == 46 {
            i += 1
            while i < e, isDigit(p0[i]) {
                sawDigit = true
                if digits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(p0[i] &- 48)
                    if mantissa != 0 { digits += 1 }
                    exponent -= 1
                } else {
                    dropped += 1
                }
                i += 1
            }
        }
        guard sawDigit else { return nil }
        if i < e, p0[i] == 101 || p0[i] == 69 {
            i += 1
            var expNegative = false
            if i < e, p0[i] == 45 || p0[i] == 43 {
                expNegative = p0[i] == 45
                i += 1
            }
            guard i < e else { return nil }
            var ev = 0
            while i < e, isDigit(p0[i]) {
                if ev < 100_000 { ev = ev * 10 + Int(p0[i] &- 48) }
                i += 1
            }
            exponent += expNegative ? -ev : ev
        }
        guard i == e else { return nil }
        if dropped == 0, mantissa <= (1 << 53), exponent >= -22, exponent <= 22 {
            let m = Double(mantissa)
            let v = exponent >= 0 ? m * exactPowersOfTen[exponent] : m / exactPowersOfTen[-exponent]
            return negative ? -v : v
        }
        return slowParseDouble(p0 + s0, e - s0)
    }

    @usableFromInline
    static func slowParseDouble(_ p: UnsafePointer<UInt8>, _ n: Int) -> Double? {
        // Syntax was checked by the caller; strtod does the correctly rounded conversion.
        var buffer = [CChar](repeating: 0, count: n + 1)
        for k in 0..<n { buffer[k] = CChar(bitPattern: p[k]) }
        return buffer.withUnsafeBufferPointer { b -> Double? in
            var end: UnsafeMutablePointer<CChar>? = nil
            let v = strtod(b.baseAddress!, &end)
            guard let end, end - UnsafeMutablePointer(mutating: b.baseAddress!) == n else { return nil }
            return v
        }
    }

    @inlinable
    static func digits(_ p: UnsafePointer<UInt8>, _ s: Int, _ count: Int) -> Int? {
        var v = 0
        for k in s..<(s + count) {
            let d = p[k] &- 48
            guard d < 10 else { return nil }
            v = v * 10 + Int(d)
        }
        return v
    }

    /// A date as days since 1970-01-01: `yyyy-MM-dd` or `MM/dd/yyyy` (month and day may have one digit).
    @inlinable
    public static func parseDate(_ p0: UnsafePointer<UInt8>, _ n0: Int) -> Int64? {
        let (s, e) = trim(p0, 0, n0)
        let n = e - s
        let p = p0 + s
        if n == 10, p[4] == 45, p[7] == 45 {
            guard let y = digits(p, 0, 4), let m = digits(p, 5, 2), let d = digits(p, 8, 2) else { return nil }
            return CalendarDate.days(year: y, month: m, day: d)
        }
        if n >= 8, n <= 10 {
            // M/d/yyyy, MM/dd/yyyy
            guard let slash1 = (1...2).first(where: { p[$0] == 47 }) else { return nil }
            let dayStart = slash1 + 1
            guard let slash2 = (dayStart + 1...min(dayStart + 2, n - 1)).first(where: { p[$0] == 47 }),
                n - slash2 - 1 == 4,
                let m = digits(p, 0, slash1), let d = digits(p, dayStart, slash2 - dayStart),
                let y = digits(p, slash2 + 1, 4)
            else { return nil }
            return CalendarDate.days(year: y, month: m, day: d)
        }
        return nil
    }

    /// A timestamp as µs since the epoch (UTC): a date, or ISO 8601 `yyyy-MM-dd[T ]HH:mm[:ss[.f…]][Z|±HH:mm]`.
    @inlinable
    public static func parseTimestamp(_ p0: UnsafePointer<UInt8>, _ n0: Int) -> Int64? {
        let (s, e) = trim(p0, 0, n0)
        let n = e - s
        let p = p0 + s
        if let d = parseDate(p, n) { return d * CalendarDate.microsecondsPerDay }
        guard n >= 16, p[10] == 84 || p[10] == 32, let day = parseDate(p, 10),
            let hh = digits(p, 11, 2), p[13] == 58, let mm = digits(p, 14, 2), hh < 24, mm < 60
        else { return nil }
        var i = 16
        var seconds = 0
        var micros = 0
        if i < n, p[i] == 58 {
            guard i + 3 <= n, let ss = digits(p, i + 1, 2), ss < 60 else { return nil }
            seconds = ss
            i += 3
            if i < n, p[i] == 46 || p[i] == 44 {
                i += 1
                var scale = 100_000
                let start = i
                while i < n, isDigit(p[i]) {
                    micros += Int(p[i] &- 48) * scale
                    scale /= 10
                    i += 1
                }
                if i == start { return nil }
            }
        }
        var offsetMinutes = 0
        if i < n {
            if p[i] == 90 && i + 1 == n {  // Z
                i += 1
            } else if p[i] == 43 || p[i] == 45 {
                let sign = p[i] == 45 ? -1 : 1
                guard let oh = digits(p, i + 1, 2) else { return nil }
                var j = i + 3
                if j < n, p[j] == 58 { j += 1 }
                guard let om = digits(p, j, 2), j + 2 == n else { return nil }
                offsetMinutes = sign * (oh * 60 + om)
                i = n
            } else {
                return nil
            }
        }
        guard i == n else { return nil }
        let secondsOfDay = Int64(hh * 3600 + mm * 60 + seconds - offsetMinutes * 60)
        return day * CalendarDate.microsecondsPerDay + secondsOfDay * 1_000_000 + Int64(micros)
    }

    /// `true` / `false` in lower, upper or title case.
    @inlinable
    public static func parseBool(_ p0: UnsafePointer<UInt8>, _ n0: Int) -> Bool? {
        let (s, e) = trim(p0, 0, n0)
        let n = e - s
        guard n == 4 || n == 5 else { return nil }
        let p = p0 + s
        @inline(__always) func lower(_ c: UInt8) -> UInt8 { c | 0x20 }
        if n == 4, lower(p[0]) == 116, lower(p[1]) == 114, lower(p[2]) == 117, lower(p[3]) == 101 {
            return isOneCase(p, n) ? true : nil
        }
        if n == 5, lower(p[0]) == 102, lower(p[1]) == 97, lower(p[2]) == 108, lower(p[3]) == 115, lower(p[4]) == 101 {
            return isOneCase(p, n) ? false : nil
        }
        return nil
    }

    /// `true`, `TRUE` and `True` are booleans; `tRuE` is text.
    @usableFromInline
    static func isOneCase(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var upper = 0
        for k in 1..<n where p[k] < 97 { upper += 1 }
        return upper == 0 || upper == n - 1
    }

    /// Parses a Swift string (not a hot path: rules, JSON, tests).
    public static func withBytes<R>(_ s: String, _ body: (UnsafePointer<UInt8>, Int) -> R) -> R {
        var s = s
        return s.withUTF8 { b in
            guard let base = b.baseAddress else {
                var zero: UInt8 = 0
                return body(&zero, 0)
            }
            return body(base, b.count)
        }
    }
}
