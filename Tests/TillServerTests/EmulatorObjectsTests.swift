import Foundation
import HTTPTypes
import StripeAPI
import Testing

@testable import StripeEmulator

/// What the emulator's objects say and do beyond their shape: fees, 3D Secure, receipts, customers, expansion.
@Suite("Stripe emulator: payments in detail")
struct EmulatorObjectsTests {
    func json(_ reply: EmulatorHarness.Reply) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(reply.text.utf8))
    }

    @Test(
        "the fee is 2.9% rounded half up plus 30, never more than the amount",
        arguments: [
            (10_000, 320), (1_999, 88), (100, 33), (50, 31), (17, 17), (1, 1), (0, 0), (99_999_999, 2_900_030),
        ])
    func fee(amount: Int, fee: Int) {
        #expect(EmulatorState.fee(for: amount) == fee)
    }

    @Test("a captured charge books a balance transaction with that fee; a refund books its negative, fee 0")
    func balance() async throws {
        try await EmulatorHarness.run { stripe in
            let intent = try json(
                try await stripe.call(
                    .post, "/v1/payment_intents",
                    "amount=1999&currency=usd&payment_method=pm_card_visa&confirm=true&expand[]=latest_charge.balance_transaction"
                ))
            let txn = try #require(intent["latest_charge"]?["balance_transaction"])
            #expect(txn["fee"] == 88)
            #expect(txn["net"] == 1911)
            #expect(txn["type"] == "charge")
            let refund = try json(
                try await stripe.call(
                    .post, "/v1/refunds", "payment_intent=\(intent["id"]!.string!)&expand[]=balance_transaction"))
            #expect(refund["balance_transaction"]?["amount"] == -1999)
            #expect(refund["balance_transaction"]?["fee"] == 0)
            let manual = try json(
                try await stripe.call(
                    .post, "/v1/payment_intents",
                    "amount=500&currency=usd&payment_method=pm_card_visa&confirm=true&capture_method=manual&expand[]=latest_charge"
                ))
            #expect(manual["latest_charge"]?["balance_transaction"] == .null)  // nothing booked before capture
            let captured = try json(
                try await stripe.call(
                    .post, "/v1/payment_intents/\(manual["id"]!.string!)/capture",
                    "amount_to_capture=400&expand[]=latest_charge.balance_transaction"))
            #expect(captured["latest_charge"]?["balance_transaction"]?["amount"] == 400)
        }
    }

    @Test("3D Secure: redirect_to_url with return_url; the page completes it and redirects with Stripe's parameters")
    func redirect() async throws {
        try await EmulatorHarness.run { stripe in
            let intent = try json(
                try await stripe.call(
                    .post, "/v1/payment_intents",
                    "amount=1500&currency=usd&payment_method=pm_card_authenticationRequired&confirm=true&return_url=https%3A%2F%2Fshop.test%2Fback"
                ))
            #expect(intent["status"] == "requires_action")
            #expect(intent["next_action"]?["type"] == "redirect_to_url")
            #expect(intent["next_action"]?["redirect_to_url"]?["return_url"] == "https://shop.test/back")
            let url = try #require(intent["next_action"]?["redirect_to_url"]?["url"]?.string)
            let path = String(url.dropFirst("http://localhost:8080/_stripe".count))
            let page = try await stripe.page(path)
            #expect(page.status == 200)
            #expect(page.headers[.contentSecurityPolicy]?.contains("form-action 'self' https://shop.test") == true)
            #expect(page.text.contains("15.00 USD"))
            let response = try await stripe.client.executeRequest(
                uri: "/_stripe" + path, method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: .init(string: "result=complete"))
            #expect(response.status == .seeOther)
            let location = try #require(response.headers[.location])
            #expect(
                location.hasPrefix(
                    "https://shop.test/back?payment_intent=\(intent["id"]!.string!)&payment_intent_client_secret="))
            #expect(location.hasSuffix("&redirect_status=succeeded"))
            let paid = try json(
                try await stripe.call(.get, "/v1/payment_intents/\(intent["id"]!.string!)", "expand[]=latest_charge"))
            #expect(paid["status"] == "succeeded")
            #expect(paid["next_action"] == .null)
            #expect(
                paid["latest_charge"]?["payment_method_details"]?["card"]?["three_d_secure"]?["result"]
                    == "authenticated")
            #expect(try await stripe.page(path).status == 404)  // nothing left to authenticate
        }
    }

    @Test("3D Secure: use_stripe_sdk without return_url; failing leaves requires_payment_method with Stripe's code")
    func sdkAndFailure() async throws {
        try await EmulatorHarness.run { stripe in
            let intent = try json(
                try await stripe.call(
                    .post, "/v1/payment_intents",
                    "amount=1500&currency=usd&payment_method=pm_card_authenticationRequired&confirm=true"))
            #expect(intent["next_action"]?["type"] == "use_stripe_sdk")
            let url = try #require(intent["next_action"]?["use_stripe_sdk"]?["stripe_js"]?.string)
            let response = try await stripe.client.executeRequest(
                uri: "/_stripe" + url.dropFirst("http://localhost:8080/_stripe".count), method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded"], body: .init(string: "result=fail"))
            #expect(response.status == .ok)
            let failed = try json(try await stripe.call(.get, "/v1/payment_intents/\(intent["id"]!.string!)"))
            #expect(failed["status"] == "requires_payment_method")
            #expect(failed["last_payment_error"]?["code"] == "payment_intent_authentication_failure")
            #expect(failed["next_action"] == .null)
        }
    }

    func post(_ stripe: EmulatorHarness, _ path: String, _ form: String) async throws -> (Int, String?) {
        let response = try await stripe.client.executeRequest(
            uri: "/_stripe" + path, method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
            body: .init(string: form))
        return (Int(response.status.code), response.headers[.location])
    }

    @Test(
        "the hosted page sends a 3D Secure card to the bank's page; completing it pays the session, failing does not",
        arguments: [true, false])
    func hostedAuthentication(complete: Bool) async throws {
        try await EmulatorHarness.run { stripe in
            let session = try await stripe.session()
            let id = session.string("id")
            let card = "email=a%40b.test&cardnumber=4000+0025+0000+3155&expiry=12%2F40&cvc=123"
            let (status, location) = try await post(stripe, "/checkout/\(id)", card)
            #expect(status == 303)
            let authenticate = try #require(location)
            #expect(authenticate.hasPrefix("http://localhost:8080/_stripe/authenticate/pi_"))
            let path = String(authenticate.dropFirst("http://localhost:8080/_stripe".count))
            #expect(try await stripe.call(.get, "/v1/checkout/sessions/\(id)").string("status") == "open")
            let (answer, back) = try await post(stripe, path, complete ? "result=complete" : "result=fail")
            #expect(answer == 303)
            let returnURL = try #require(back)
            #expect(
                returnURL.hasPrefix("http://localhost:8080/_stripe/checkout/\(id)/authenticated?payment_intent=pi_"))
            let response = try await stripe.client.executeRequest(
                uri: "/_stripe" + returnURL.dropFirst("http://localhost:8080/_stripe".count), method: .get,
                headers: [:], body: nil)
            let paid = try await stripe.call(.get, "/v1/checkout/sessions/\(id)")
            if complete {
                #expect(response.status == .seeOther)
                #expect(response.headers[.location] == "http://localhost:8080/ok?s=\(id)")
                #expect(paid.string("status") == "complete")
                #expect(paid.string("payment_status") == "paid")
                #expect((paid.json?["customer_details"] as? [String: Any])?["email"] as? String == "a@b.test")
            } else {
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("unable to authenticate"))
                #expect(paid.string("status") == "open")
                #expect(paid.string("payment_status") == "unpaid")
            }
        }
    }

    @Test("a receipt_url answers a receipt page with the card and the amount")
    func receipt() async throws {
        try await EmulatorHarness.run { stripe in
            let intent = try json(
                try await stripe.call(
                    .post, "/v1/payment_intents",
                    "amount=2500&currency=eur&payment_method=pm_card_amex&confirm=true&expand[]=latest_charge"))
            let charge = try #require(intent["latest_charge"])
            #expect(charge["payment_method_details"]?["card"]?["brand"] == "amex")
            #expect(charge["payment_method_details"]?["card"]?["last4"] == "8431")
            #expect(charge["outcome"]?["seller_message"] == "Payment complete.")
            let url = try #require(charge["receipt_url"]?.string)
            let page = try await stripe.page(String(url.dropFirst("http://localhost:8080/_stripe".count)))
            #expect(page.status == 200)
            #expect(page.text.contains("25.00 EUR"))
            #expect(page.text.contains("Amex •••• 8431"))
            #expect(page.headers[.contentSecurityPolicy] != nil)
            #expect(try await stripe.page("/receipts/ch_nope").status == 404)
        }
    }

    @Test("expansions Stripe allows work, on lists too; others are Stripe's error")
    func expansion() async throws {
        try await EmulatorHarness.run { stripe in
            let customer = try json(try await stripe.call(.post, "/v1/customers", "email=a%40b.test"))
            let customerId = customer["id"]!.string!
            let intent = try json(
                try await stripe.call(
                    .post, "/v1/payment_intents",
                    "amount=700&currency=usd&customer=\(customerId)&payment_method=pm_card_visa&confirm=true&expand[]=customer"
                ))
            #expect(intent["customer"]?["email"] == "a@b.test")
            let list = try json(try await stripe.call(.get, "/v1/charges", "limit=5&expand[]=data.balance_transaction"))
            #expect(list["data"]?.arrayFirst?["balance_transaction"]?["object"] == "balance_transaction")
            let bad = try await stripe.call(
                .get, "/v1/payment_intents/\(intent["id"]!.string!)", "expand[]=latest_charge&expand[]=amount")
            #expect(bad.status == 400)
            #expect(bad.errorParam == "expand[1]")
            #expect(bad.error?["message"] as? String == "This property cannot be expanded (amount).")
            let deep = try await stripe.call(
                .get, "/v1/payment_intents/\(intent["id"]!.string!)", "expand[]=a.b.c.d.e.f")
            #expect(deep.status == 400)
        }
    }

    @Test("customers: the default payment method must be attached to them; attaching a pm_card_ shortcut makes a pm_")
    func customers() async throws {
        try await EmulatorHarness.run { stripe in
            let customer = try json(
                try await stripe.call(.post, "/v1/customers", "email=a%40b.test&metadata[userId]=u1"))
            let id = customer["id"]!.string!
            let refused = try await stripe.call(
                .post, "/v1/customers/\(id)", "invoice_settings[default_payment_method]=pm_card_visa")
            #expect(refused.status == 400)
            let method = try json(
                try await stripe.call(.post, "/v1/payment_methods/pm_card_visa/attach", "customer=\(id)"))
            let pm = try #require(method["id"]?.string)
            #expect(pm.hasPrefix("pm_") && pm != "pm_card_visa")
            #expect(method["card"]?["last4"] == "4242")
            let updated = try json(
                try await stripe.call(.post, "/v1/customers/\(id)", "invoice_settings[default_payment_method]=\(pm)"))
            #expect(updated["invoice_settings"]?["default_payment_method"] == .string(pm))
            #expect(updated["metadata"]?["userId"] == "u1")
            let paid = try json(
                try await stripe.call(
                    .post, "/v1/payment_intents",
                    "amount=300&currency=usd&customer=\(id)&payment_method=\(pm)&confirm=true"))
            #expect(paid["status"] == "succeeded")
            #expect(paid["payment_method"] == .string(pm))
            let other = try json(try await stripe.call(.post, "/v1/customers", "email=c%40d.test"))
            let stolen = try await stripe.call(
                .post, "/v1/payment_methods/\(pm)/attach", "customer=\(other["id"]!.string!)")
            #expect(stolen.status == 400)
        }
    }
}

extension JSONValue {
    var arrayFirst: JSONValue? {
        if case .array(let items) = self { return items.first }
        return nil
    }
}
