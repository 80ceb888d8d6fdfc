import Foundation
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
        var funding = "credit"
        var country = "US"
        var number = ""
        /// Refunds of its charges fail after they are made (Stripe's 4000000000005126).
        var refundFails = false

        /// Test cards expire in December, a few years on (Stripe's test methods always have a future expiry).
        static var expMonth: Int { 12 }
        static var expYear: Int { Calendar(identifier: .gregorian).dateComponents(in: .gmt, from: Date()).year! + 4 }

        /// The same card gives the same fingerprint, as at Stripe.
        var fingerprint: String {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in (number.isEmpty ? id : number).utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
            return String((0..<16).map { i in alphabet[Int((hash >> UInt64((i * 4) % 60)) & 0x3F) % alphabet.count] })
        }

        var displayBrand: String { brand == "amex" ? "american_express" : brand }
    }

    static let declined = Outcome.decline(
        code: "card_declined", declineCode: "generic_decline", message: "Your card was declined.")
    static let insufficientFunds = Outcome.decline(
        code: "card_declined", declineCode: "insufficient_funds", message: "Your card has insufficient funds.")

    static let methods: [String: Method] = [
        "pm_card_visa": Method(
            id: "pm_card_visa", brand: "visa", last4: "4242", outcome: .succeed, number: "4242424242424242"),
        "pm_card_visa_debit": Method(
            id: "pm_card_visa_debit", brand: "visa", last4: "5556", outcome: .succeed, funding: "debit",
            number: "4000056655665556"),
        "pm_card_mastercard": Method(
            id: "pm_card_mastercard", brand: "mastercard", last4: "4444", outcome: .succeed, number: "5555555555554444"),
        "pm_card_amex": Method(
            id: "pm_card_amex", brand: "amex", last4: "8431", outcome: .succeed, number: "378282246310005"),
        "pm_card_chargeDeclined": Method(
            id: "pm_card_chargeDeclined", brand: "visa", last4: "0002", outcome: declined, number: "4000000000000002"),
        "pm_card_chargeDeclinedInsufficientFunds": Method(
            id: "pm_card_chargeDeclinedInsufficientFunds", brand: "visa", last4: "9995", outcome: insufficientFunds,
            number: "4000000000009995"),
        // Attaches to a customer like any card; every charge on it is then declined (Stripe's 4000000000000341).
        "pm_card_chargeCustomerFail": Method(
            id: "pm_card_chargeCustomerFail", brand: "visa", last4: "0341", outcome: declined,
            number: "4000000000000341"),
        "pm_card_refundFail": Method(
            id: "pm_card_refundFail", brand: "visa", last4: "5126", outcome: .succeed, number: "4000000000005126",
            refundFails: true),
        "pm_card_authenticationRequired": Method(
            id: "pm_card_authenticationRequired", brand: "visa", last4: "3155", outcome: .requireAuthentication,
            number: "4000002500003155"),
    ]

    static let numbers: [String: String] = Dictionary(uniqueKeysWithValues: methods.values.map { ($0.number, $0.id) })

    /// The payment method for a `pm_card_...` id or a card number typed with any spacing; `nil` when unknown.
    static func method(_ raw: String) -> Method? {
        if let method = methods[raw] { return method }
        let digits = raw.filter(\.isNumber)
        return numbers[digits].flatMap { methods[$0] }
    }

    /// `payment_method.card`, as Stripe shows a card.
    static func card(_ m: Method) -> JSONValue {
        [
            "brand": .string(m.brand),
            "checks": ["address_line1_check": nil, "address_postal_code_check": nil, "cvc_check": "pass"],
            "country": .string(m.country), "display_brand": .string(m.displayBrand), "exp_month": .int(Method.expMonth),
            "exp_year": .int(Method.expYear), "fingerprint": .string(m.fingerprint), "funding": .string(m.funding),
            "generated_from": nil, "last4": .string(m.last4),
            "networks": ["available": [.string(m.brand)], "preferred": nil],
            "three_d_secure_usage": ["supported": true], "wallet": nil, "regulated_status": "unregulated",
        ]
    }

    static let emptyAddress: JSONValue = [
        "city": nil, "country": nil, "line1": nil, "line2": nil, "postal_code": nil, "state": nil,
    ]

    static func billingDetails(email: String?) -> JSONValue {
        [
            "address": emptyAddress, "email": email.map(JSONValue.string) ?? nil, "name": nil, "phone": nil,
            "tax_id": nil,
        ]
    }

    /// `charge.payment_method_details` for a card payment of `amount`; `threeDSecure` when the customer authenticated.
    static func paymentMethodDetails(_ m: Method, amount: Int, threeDSecure: Bool) -> JSONValue {
        [
            "card": [
                "amount_authorized": .int(amount), "authorization_code": "123456", "brand": .string(m.brand),
                "checks": ["address_line1_check": nil, "address_postal_code_check": nil, "cvc_check": "pass"],
                "country": .string(m.country), "exp_month": .int(Method.expMonth), "exp_year": .int(Method.expYear),
                "extended_authorization": ["status": "disabled"], "fingerprint": .string(m.fingerprint),
                "funding": .string(m.funding), "incremental_authorization": ["status": "unavailable"],
                "installments": nil,
                "last4": .string(m.last4), "mandate": nil, "multicapture": ["status": "unavailable"],
                "network": .string(m.brand),
                "network_token": ["used": false],
                "overcapture": ["maximum_amount_capturable": .int(amount), "status": "unavailable"],
                "three_d_secure": threeDSecure
                    ? [
                        "authentication_flow": "challenge", "electronic_commerce_indicator": "05",
                        "exemption_indicator": nil,
                        "result": "authenticated", "result_reason": nil,
                        "transaction_id": .string(UUID().uuidString.lowercased()), "version": "2.2.0",
                    ] : nil,
                "wallet": nil, "regulated_status": "unregulated",
                "network_transaction_id": .string(String(TestEvents.randomToken(15).uppercased())),
                "transaction_link_id": nil,
            ],
            "type": "card",
        ]
    }

    /// `charge.outcome`: what the network and Radar said.
    static func outcome(_ outcome: Outcome) -> JSONValue {
        switch outcome {
        case .succeed, .requireAuthentication:
            [
                "advice_code": nil, "network_advice_code": nil, "network_decline_code": nil,
                "network_status": "approved_by_network", "reason": nil, "risk_level": "normal", "risk_score": 32,
                "seller_message": "Payment complete.", "type": "authorized",
            ]
        case .decline(_, let declineCode, _):
            [
                "advice_code": "try_again_later", "network_advice_code": nil, "network_decline_code": nil,
                "network_status": "declined_by_network", "reason": declineCode.map(JSONValue.string) ?? nil,
                "risk_level": "normal", "risk_score": 41,
                "seller_message": declineCode == "generic_decline" || declineCode == nil
                    ? "The bank did not return any further details with this decline."
                    : .string("The bank returned the decline code `\(declineCode!)`."),
                "type": "issuer_declined",
            ]
        }
    }
}
