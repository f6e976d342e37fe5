import Foundation
import Testing

@testable import MLCycleData

@Suite struct ExpressionTests {
    let table = try! csv(
        """
        built,remodeled,price,area,zone,sold
        1990,2000,200000,1000,RL,2008-06-15
        2005,2001,150000,,RM,2009-01-02
        1950,,90000,900,,2010-12-31

        """)

    @Test func evaluatesArithmeticComparisonsAndFunctions() throws {
        #expect(
            try Expression.parse("remodeled >= built").evaluate(on: table) == [.bool(true), .bool(false), .missing])
        #expect(try Expression.parse("price / area").evaluate(on: table) == [.float64(200), .missing, .float64(100)])
        #expect(try Expression.parse("year(sold) - built").evaluate(on: table) == [.int64(18), .int64(4), .int64(60)])
        #expect(try Expression.parse("if(is_missing(area), 0, area * 2)").evaluate(on: table)[1] == .int64(0))
        #expect(
            try Expression.parse("lower(zone) == 'rl' or contains(zone, 'M')").evaluate(on: table) == [
                .bool(true), .bool(true), .missing,
            ])
        #expect(
            try Expression.parse("sold >= '2009-01-01'").evaluate(on: table) == [
                .bool(false), .bool(true), .bool(true),
            ])
        #expect(try Expression.parse("max(built, remodeled, 1995)").evaluate(on: table)[0] == .int64(2000))
        #expect(try Expression.parse("round(price / 3, 2)").evaluate(on: table)[0] == .float64(66666.67))
        #expect(try Expression.parse("-price % 7 != 0 && !(built < 1900)").evaluate(on: table)[0] == .bool(true))
        #expect(try Expression.parse("coalesce(remodeled, built)").evaluate(on: table)[2] == .int64(1950))
    }

    @Test func andOrUseThreeValuedLogic() throws {
        let e = try Expression.parse("remodeled > 0 and false")
        #expect(try e.evaluate(on: table)[2] == .bool(false))  // missing and false is false
        let o = try Expression.parse("remodeled > 0 or true")
        #expect(try o.evaluate(on: table)[2] == .bool(true))  // missing or true is true
        let m = try Expression.parse("remodeled > 0 and true")
        #expect(try m.evaluate(on: table)[2] == .missing)
    }

    @Test func parseErrorsPointAtThePosition() {
        func error(_ text: String) -> ExpressionError? {
            do {
                _ = try Expression.parse(text)
                return nil
            } catch let e as ExpressionError { return e } catch { return nil }
        }
        #expect(error("a >= (b + 1")?.position == 12)
        #expect(error("a >= (b + 1")?.message == "expected ')'")
        #expect(error("price $ 2")?.position == 7)
        #expect(error("name == 'open")?.position == 9)
        #expect(error("foo(a)")?.message.contains("unknown function 'foo'") == true)
        #expect(error("if(a, b)")?.message.contains("takes 3 arguments") == true)
        #expect(error("a >=")?.message.contains("ends where a value was expected") == true)
    }

    /// Found by fuzzing (Tests/Fuzz): 700 opening parentheses overflowed the parser's stack.
    @Test func deepNestingIsAnErrorNotAStackOverflow() throws {
        let limit = ExpressionParser.maximumDepth
        for text in [
            String(repeating: "(", count: 100_000) + "1", String(repeating: "not ", count: 100_000) + "true",
            String(repeating: "-", count: 100_000) + "1",
            Array(repeating: "price", count: 100_000).joined(separator: " + "),
            Array(repeating: "true", count: 100_000).joined(separator: " or "),
            String(repeating: "max(", count: 10_000) + "1" + String(repeating: ")", count: 10_000),
        ] {
            #expect(throws: ExpressionError.self) { try Expression.parse(text) }
        }
        // Up to the limit (`limit` operators in a chain, `limit` parentheses), they parse and evaluate.
        let sum = Array(repeating: "price", count: limit + 1).joined(separator: " + ")
        #expect(try Expression.parse(sum).evaluate(on: table)[0] == .int64(200_000 * Int64(limit + 1)))
        #expect(throws: ExpressionError.self) { try Expression.parse(sum + " + price") }
        let nested = String(repeating: "(", count: limit) + "area" + String(repeating: ")", count: limit)
        #expect(try Expression.parse(nested).evaluate(on: table)[0] == .int64(1000))
        let error = #expect(throws: ExpressionError.self) { try Expression.parse("(" + nested + ")") }
        #expect(error?.message.contains("nests deeper than \(limit) levels") == true)
    }

    @Test func typeAndColumnErrorsAreClear() {
        #expect(
            dataError { _ = try Expression.parse("nope > 1").evaluate(on: table) }
                == .columnNotFound(name: "nope", available: table.columnNames))
        let e = dataError { _ = try Expression.parse("zone + 1").evaluate(on: table) }
        #expect(e?.localizedDescription.contains("needs numbers") == true)
    }
}
