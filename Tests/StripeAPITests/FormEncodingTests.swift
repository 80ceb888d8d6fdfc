import Foundation
import StripeAPI
import Testing

@Suite("Form encoding")
struct FormEncodingTests {
    static let session = CheckoutSessionCreateParams(
        lineItems: [
            .init(
                priceData: .init(currency: "usd", unitAmount: 1999, productData: .init(name: "Tea & Cake for two")),
                quantity: 2),
            .init(price: "price_123", quantity: 1),
        ],
        successUrl: "https://shop.example.com/checkout/success?session_id={CHECKOUT_SESSION_ID}",
        cancelUrl: "https://shop.example.com/checkout/cancel?orderId=o/1",
        clientReferenceId: "order_1",
        customerEmail: "ann+shop@example.com",
        expiresAt: 1_700_001_800,
        metadata: ["paymentId": "pay_1", "orderId": "order_1"],
        paymentIntentData: .init(metadata: ["orderId": "order_1", "paymentId": "pay_1"]),
        expand: ["payment_intent"])

    @Test("a Checkout Session create encodes exactly as Stripe expects")
    func goldenCheckoutSession() throws {
        let expected = [
            "mode=payment",
            "line_items[0][price_data][currency]=usd",
            "line_items[0][price_data][unit_amount]=1999",
            "line_items[0][price_data][product_data][name]=Tea%20%26%20Cake%20for%20two",
            "line_items[0][quantity]=2",
            "line_items[1][price]=price_123",
            "line_items[1][quantity]=1",
            "success_url=https%3A%2F%2Fshop.example.com%2Fcheckout%2Fsuccess%3Fsession_id%3D%7BCHECKOUT_SESSION_ID%7D",
            "cancel_url=https%3A%2F%2Fshop.example.com%2Fcheckout%2Fcancel%3ForderId%3Do%2F1",
            "client_reference_id=order_1",
            "customer_email=ann%2Bshop%40example.com",
            "expires_at=1700001800",
            "metadata[orderId]=order_1",
            "metadata[paymentId]=pay_1",
            "payment_intent_data[metadata][orderId]=order_1",
            "payment_intent_data[metadata][paymentId]=pay_1",
            "expand[0]=payment_intent",
        ].joined(separator: "&")
        let actual = try FormEncoding.encode(Self.session)
        #expect(actual.split(separator: "&") == expected.split(separator: "&"))
    }

    @Test("the same parameters encode the same way every time")
    func deterministic() throws {
        let first = try FormEncoding.encode(Self.session)
        for _ in 0..<20 { #expect(try FormEncoding.encode(Self.session) == first) }
    }

    struct Mixed: Encodable {
        let flag: Bool
        let off: Bool
        let skipped: String?
        let cleared: String
        let unicode: String
        let list: [String]
    }

    @Test("booleans, nil, empty strings, non-ASCII and plain arrays")
    func scalars() throws {
        let text = try FormEncoding.encode(
            Mixed(flag: true, off: false, skipped: nil, cleared: "", unicode: "é+/:&{}~", list: ["a", "b"]))
        #expect(text == "flag=true&off=false&cleared=&unicode=%C3%A9%2B%2F%3A%26%7B%7D~&list[0]=a&list[1]=b")
    }

    @Test("encode then decode gives back the same tree")
    func roundTrip() throws {
        let node = try FormEncoder().encode(Self.session)
        #expect(FormEncoding.decode(FormEncoding.encode(node)) == node)
        let decoded = FormEncoding.decode(try FormEncoding.encode(Self.session))
        #expect(decoded["line_items"]?[0]?["price_data"]?["product_data"]?["name"]?.string == "Tea & Cake for two")
        #expect(decoded["success_url"]?.string == Self.session.successUrl)
        #expect(decoded["metadata"]?.stringDictionary == ["orderId": "order_1", "paymentId": "pay_1"])
        #expect(decoded["line_items"]?[0]?["quantity"]?.int == 2)
        #expect(decoded["expand"]?.array?.count == 1)
    }

    @Test("the decoder reads what other clients send: percent-encoded brackets, + for space, a[] arrays")
    func decodeOtherClients() {
        let node = FormEncoding.decode(
            "metadata%5Bnote%5D=hello+world&expand[]=a&expand[]=b&enabled_events[0]=*&empty=")
        #expect(node["metadata"]?["note"]?.string == "hello world")
        #expect(node["expand"]?.array?.compactMap(\.string) == ["a", "b"])
        #expect(node["enabled_events"]?[0]?.string == "*")
        #expect(node["empty"]?.string == "")
    }

    @Test("malformed escapes stay as text; a key without = has an empty value; later keys keep their order")
    func decodeMalformed() {
        let node = FormEncoding.decode("a=%41%c3%a9%zz%4&b&c=100%25&d=%&e=%2&f=x=y&g[x]=1&g[y]=2&g[x]=3")
        #expect(node["a"]?.string == "Aé%zz%4")
        #expect(node["b"]?.string == "")
        #expect(node["c"]?.string == "100%")
        #expect(node["d"]?.string == "%")
        #expect(node["e"]?.string == "%2")
        #expect(node["f"]?.string == "x=y")
        #expect(node["g"]?["x"]?.string == "3")
        #expect(node["g"]?["y"]?.string == "2")
        guard case .object(let pairs) = node else {
            Issue.record("not an object")
            return
        }
        #expect(pairs.map(\.0) == ["a", "b", "c", "d", "e", "f", "g"])
    }
}
