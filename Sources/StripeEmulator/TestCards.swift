import StripeAPI

/// Stripe's test cards and payment methods, and what paying with each does.
enum TestCard {
    enum Outcome: Equatable {
        case succeed
        case decline(code: String, declineCode: String?, message: String)
        case requireAuthentication
    }

    struct Method {
        let id: String
        let brand: String
        let last4: String
        let outcome: Outcome
    }

    static let declined = Outcome.decline(code: "card_declined", declineCode: "generic_decline", message: "Your card was declined.")
    static let insufficientFunds = Outcome.decline(
        code: "card_declined", declineCode: "insufficient_funds", message: "Your card has insufficient funds.")

    static let methods: [String: Method] = [
        "pm_card_visa": Method(id: "pm_card_visa", brand: "visa", last4: "4242", outcome: .succeed),
        "pm_card_mastercard": Method(id: "pm_card_mastercard", brand: "mastercard", last4: "4444", outcome: .succeed),
        "pm_card_chargeDeclined": Method(id: "pm_card_chargeDeclined", brand: "visa", last4: "0002", outcome: declined),
        "pm_card_chargeDeclinedInsufficientFunds": Method(
            id: "pm_card_chargeDeclinedInsufficientFunds", brand: "visa", last4: "9995", outcome: insufficientFunds),
        "pm_card_authenticationRequired": Method(
            id: "pm_card_authenticationRequired", brand: "visa", last4: "3155", outcome: .requireAuthentication),
    ]

    static let numbers: [String: String] = [
        "4242424242424242": "pm_card_visa",
        "5555555555554444": "pm_card_mastercard",
        "4000000000000002": "pm_card_chargeDeclined",
        "4000000000009995": "pm_card_chargeDeclinedInsufficientFunds",
        "4000002500003155": "pm_card_authenticationRequired",
    ]

    /// The payment method for a `pm_...` id or a card number typed with any spacing; `nil` when unknown.
    static func method(_ raw: String) -> Method? {
        if let method = methods[raw] { return method }
        let digits = raw.filter(\.isNumber)
        return numbers[digits].flatMap { methods[$0] }
    }
}
