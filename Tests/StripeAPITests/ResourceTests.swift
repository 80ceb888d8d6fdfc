import Foundation
import StripeAPI
import Testing

@Suite("Stripe objects")
struct ResourceTests {
    @Test("every trigger event type encodes and decodes to its typed object", arguments: TestEvents.supportedTypes)
    func roundTrip(type: String) throws {
        let event = try TestEvents.make(type: type, options: .init(orderId: "order_1", amount: 500, currency: "jpy"))
        let json = try StripeJSON.encoder().encode(event)
        let decoded = try Event.decode(json)
        #expect(decoded.id == event.id)
        #expect(decoded.id.hasPrefix("evt_"))
        #expect(decoded.type.rawValue == type)
        #expect(decoded.rawJSON == json)
        let object = try #require(JSONSerialization.jsonObject(with: json) as? [String: Any])
        #expect(object["object"] as? String == "event")
        #expect(object["api_version"] as? String == StripeConfiguration.pinnedAPIVersion)
        #expect(object["livemode"] as? Bool == false)
        let data = try #require((object["data"] as? [String: Any])?["object"] as? [String: Any])
        switch decoded.data.object {
        case .checkoutSession(let s):
            #expect(s.amountTotal == 500)
            #expect(s.metadata["orderId"] == "order_1")
            #expect(s.clientReferenceId == "order_1")
            #expect(data.keys.contains("payment_intent"))  // null, but present, as Stripe sends it
            #expect(data["customer_details"] is [String: Any])
        case .paymentIntent(let pi):
            #expect(pi.amount == 500)
            #expect(pi.clientSecret?.hasPrefix(pi.id + "_secret_") == true)
            if type == "payment_intent.payment_failed" { #expect(pi.lastPaymentError?.code == "card_declined") }
            if type == "payment_intent.succeeded" { #expect(pi.amountReceived == 500) }
        case .charge(let c):
            #expect(c.paymentIntent?.hasPrefix("pi_") == true)
            if type == "charge.refunded" { #expect(c.refunded && c.amountRefunded == 500) }
        case .dispute(let d):
            #expect(d.charge.hasPrefix("ch_"))
            #expect(d.reason == "fraudulent")
        case .refund(let r):
            #expect(r.amount == 500)
        case .other(let objectType, let id):
            // Billing objects travel whole in the event's raw JSON and are read with their types.
            let raw = try StripeJSON.encoder().encode(try #require(decoded.data.rawObject))
            switch objectType {
            case "invoice":
                let invoice = try StripeJSON.decoder().decode(Invoice.self, from: raw)
                #expect(invoice.id == id && invoice.amountDue == 500 && invoice.currency == "jpy")
                #expect(invoice.subscription?.hasPrefix("sub_") == true)
                #expect(invoice.status == (type == "invoice.paid" ? .paid : .open))
            case "subscription":
                let sub = try StripeJSON.decoder().decode(Subscription.self, from: raw)
                #expect(sub.id == id && sub.customer.hasPrefix("cus_"))
                #expect(sub.status == (type == "customer.subscription.deleted" ? .canceled : .active))
                #expect((sub.currentPeriodEnd ?? 0) > (sub.currentPeriodStart ?? .max))
            default:
                Issue.record("decoded as other: \(objectType)")
            }
        }
    }

    @Test("unknown enum values and object types decode without failing")
    func unknowns() throws {
        let json = #"""
            {"id":"evt_1","object":"event","api_version":"2099-01-01","created":1,"livemode":false,"pending_webhooks":1,
             "type":"quote.accepted","data":{"object":{"id":"qt_1","object":"quote","amount_total":100}},"request":null}
            """#
        let event = try Event.decode(Data(json.utf8))
        #expect(event.type == .unknown("quote.accepted"))
        #expect(event.type.rawValue == "quote.accepted")
        guard case .other(let type, let id) = event.data.object else {
            Issue.record("expected other")
            return
        }
        #expect(type == "quote")
        #expect(id == "qt_1")

        let intent = #"""
            {"id":"pi_1","object":"payment_intent","amount":5,"amount_capturable":0,"amount_received":0,"currency":"usd",
             "status":"requires_teleportation","capture_method":"automatic","confirmation_method":"automatic",
             "payment_method_types":["card"],"metadata":{},"created":1,"livemode":false,"brand_new_field":{"x":1},
             "latest_charge":{"id":"ch_1","object":"charge","amount":5,"amount_captured":5,"amount_refunded":0,
               "currency":"usd","captured":true,"paid":true,"refunded":false,"disputed":false,"status":"succeeded",
               "metadata":{},"created":1,"livemode":false}}
            """#
        let pi = try JSONDecoder().decode(PaymentIntent.self, from: Data(intent.utf8))
        #expect(pi.status == .unknown("requires_teleportation"))
        #expect(pi.latestCharge?.id == "ch_1")  // expanded object
        #expect(pi.latestCharge?.object?.amountCaptured == 5)
        #expect(pi.clientSecret == nil)  // missing key reads as nil
    }

    @Test("a list decodes with has_more and url")
    func list() throws {
        let json = #"{"object":"list","data":[],"has_more":true,"url":"/v1/refunds"}"#
        let list = try JSONDecoder().decode(StripeList<Refund>.self, from: Data(json.utf8))
        #expect(list.hasMore)
        #expect(list.url == "/v1/refunds")
    }
}
