import Testing
import TillCore

@Suite("Money and currencies")
struct MoneyTests {
    @Test("codes are accepted in any case and unknown codes are refused", arguments: ["usd", "USD", "Jpy", "kwd"])
    func knownCodes(code: String) {
        #expect(Currency(code)?.code == code.lowercased())
    }

    @Test("unsupported codes are refused", arguments: ["", "us", "xxx", "usdd", "btc"])
    func unknownCodes(code: String) {
        #expect(Currency(code) == nil)
    }

    @Test(
        "minor-unit digits follow Stripe",
        arguments: [("usd", 2), ("eur", 2), ("jpy", 0), ("krw", 0), ("vnd", 0), ("kwd", 3), ("bhd", 3), ("isk", 2)])
    func digits(code: String, digits: Int) throws {
        #expect(try #require(Currency(code)).minorUnitDigits == digits)
    }

    @Test("¥500 is 500 yen, not 5")
    func yen() throws {
        let jpy = try #require(Currency("jpy"))
        #expect(Money.validateCharge(500, jpy) == nil)
        #expect(Money.validateCharge(49, jpy) != nil)  // below Stripe's ¥50 minimum
    }

    @Test("three-decimal currencies must end in zero")
    func threeDecimal() throws {
        let kwd = try #require(Currency("kwd"))
        #expect(Money.validatePrice(5000, kwd) == nil)
        #expect(Money.validatePrice(5005, kwd)?.contains("multiple of 10") == true)
    }

    @Test("ISK is sent with two decimals and must be whole krónur")
    func isk() throws {
        let isk = try #require(Currency("isk"))
        #expect(Money.validatePrice(10_000, isk) == nil)
        #expect(Money.validatePrice(10_050, isk) != nil)
    }

    @Test("zero, negative and oversized amounts are refused", arguments: [0, -1, 100_000_000])
    func bounds(amount: Int) throws {
        #expect(Money.validatePrice(amount, try #require(Currency("usd"))) != nil)
    }

    @Test("USD charges below 50 cents are refused")
    func usdMinimum() throws {
        let usd = try #require(Currency("usd"))
        #expect(Money.validateCharge(49, usd) != nil)
        #expect(Money.validateCharge(50, usd) == nil)
        #expect(Money.validatePrice(1, usd) == nil)  // a unit price may be small; the charge may not
    }

    @Test("totals are exact and overflow is reported")
    func totals() {
        #expect(Money.total([(1999, 3), (1, 1)]) == 5998)
        #expect(Money.total([(Int.max, 2)]) == nil)
        #expect(Money.total([(Int.max, 1), (1, 1)]) == nil)
    }
}
