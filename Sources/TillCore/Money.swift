import Foundation

/// Rules for amounts, which are always `Int`s in a currency's minor unit, never floating-point numbers.
public enum Money {
    /// Why an amount is not acceptable to Stripe for a price of one unit (a product or plan price).
    public static func validatePrice(_ amount: Int, _ currency: Currency) -> String? {
        if amount <= 0 { return "must be a positive integer in the currency's minor unit" }
        if amount > currency.maximumAmount { return "must be at most \(currency.maximumAmount) for \(currency.code)" }
        if amount % currency.amountStep != 0 {
            return "must be a multiple of \(currency.amountStep) for \(currency.code)"
        }
        return nil
    }

    /// Why a total is not acceptable to Stripe as one charge.
    public static func validateCharge(_ amount: Int, _ currency: Currency) -> String? {
        if let problem = validatePrice(amount, currency) { return problem }
        if amount < currency.minimumChargeAmount {
            return "is below Stripe's minimum charge of \(currency.minimumChargeAmount) for \(currency.code)"
        }
        return nil
    }

    /// `unitAmount * quantity` summed over lines, or `nil` on overflow.
    public static func total(_ lines: [(unitAmount: Int, quantity: Int)]) -> Int? {
        var sum = 0
        for line in lines {
            let (product, overflow1) = line.unitAmount.multipliedReportingOverflow(by: line.quantity)
            if overflow1 { return nil }
            let (next, overflow2) = sum.addingReportingOverflow(product)
            if overflow2 { return nil }
            sum = next
        }
        return sum
    }
}
