import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import StripeAPI
import Testing

@testable import StripeEmulator

/// The emulator served on its own router under `/_stripe`, driven in memory (no sockets, no webhook delivery).
struct EmulatorHarness {
    let client: any TestClientProtocol
    let emulator: StripeEmulator

    struct Reply {
        let status: Int
        let headers: HTTPFields
        let text: String

        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] }
        var error: [String: Any]? { json?["error"] as? [String: Any] }
        var errorCode: String? { error?["code"] as? String }
        var errorParam: String? { error?["param"] as? String }
        func string(_ key: String) -> String { json?[key] as? String ?? "" }

        /// Stripe's error shape: `{"error": {"type": ..., "message": ...}}` with `type` one of Stripe's.
        var isStripeError: Bool {
            guard let error, let type = error["type"] as? String, error["message"] is String else { return false }
            return ["invalid_request_error", "card_error", "idempotency_error", "api_error"].contains(type)
        }
    }

    static func run(_ test: @Sendable (EmulatorHarness) async throws -> Void) async throws {
        let emulator = StripeEmulator(configuration: .init(baseURL: "http://localhost:8080/_stripe"))
        let router = Router()
        router.add(middleware: emulator.unrecognizedURLs(mountedAt: "/_stripe", context: BasicRequestContext.self))
        emulator.addRoutes(to: router.group("_stripe"))
        let app = Application(router: router)
        try await app.test(.router) { client in try await test(EmulatorHarness(client: client, emulator: emulator)) }
    }

    /// A request as Stripe's SDKs send it: form-encoded, the key as a Bearer token; GET and DELETE in the query.
    @discardableResult
    func call(_ method: HTTPRequest.Method, _ path: String, _ form: String = "", headers extra: HTTPFields = [:])
        async throws -> Reply
    {
        var headers: HTTPFields = [
            .authorization: "Bearer sk_test_harness", .contentType: "application/x-www-form-urlencoded",
        ]
        headers.append(contentsOf: extra)
        let inQuery = method == .get || method == .delete
        let uri = "/_stripe" + path + (inQuery && !form.isEmpty ? "?" + form : "")
        let response = try await client.executeRequest(
            uri: uri, method: method, headers: headers, body: inQuery ? nil : ByteBuffer(string: form))
        return Reply(status: Int(response.status.code), headers: response.headers, text: String(buffer: response.body))
    }

    /// A page or file, as a browser asks for it (no key).
    func page(_ path: String) async throws -> Reply {
        let response = try await client.executeRequest(uri: "/_stripe" + path, method: .get, headers: [:], body: nil)
        return Reply(status: Int(response.status.code), headers: response.headers, text: String(buffer: response.body))
    }

    func session(_ extra: String = "") async throws -> Reply {
        try await call(
            .post, "/v1/checkout/sessions",
            "mode=payment&success_url=http%3A%2F%2Flocalhost%3A8080%2Fok%3Fs%3D%7BCHECKOUT_SESSION_ID%7D"
                + "&line_items[0][price_data][currency]=usd&line_items[0][price_data][unit_amount]=1999"
                + "&line_items[0][price_data][product_data][name]=Tea&line_items[0][quantity]=1" + extra)
    }
}

@Suite("Stripe emulator: no request can crash it")
struct EmulatorHardeningTests {
    // MARK: Amounts

    @Test("unit_amount near Int.max is amount_too_large, not an overflow trap in unit × quantity")
    func hugeUnitAmount() async throws {
        try await EmulatorHarness.run { stripe in
            let price = try await stripe.call(
                .post, "/v1/prices", "currency=usd&unit_amount=9223372036854775807&product_data[name]=X")
            #expect(price.status == 400)
            #expect(price.errorCode == "amount_too_large")
            #expect(price.errorParam == "unit_amount")
            let session = try await stripe.call(
                .post, "/v1/checkout/sessions",
                "mode=payment&success_url=https%3A%2F%2Fshop.test%2Fok&line_items[0][price_data][currency]=usd"
                    + "&line_items[0][price_data][unit_amount]=9223372036854775807&line_items[0][price_data][product_data][name]=X"
                    + "&line_items[0][quantity]=2")
            #expect(session.status == 400)
            #expect(session.errorCode == "amount_too_large")
            #expect(session.errorParam == "line_items[0][price_data][unit_amount]")
        }
    }

    @Test("a line total or a session total past Stripe's maximum is amount_too_large; the maximum itself is accepted")
    func totals() async throws {
        try await EmulatorHarness.run { stripe in
            let price = try await stripe.call(
                .post, "/v1/prices", "currency=usd&unit_amount=60000000&product_data[name]=X")
            #expect(price.status == 200)
            let priceId = price.string("id")
            let line = try await stripe.call(
                .post, "/v1/checkout/sessions",
                "mode=payment&success_url=https%3A%2F%2Fshop.test%2Fok&line_items[0][price]=\(priceId)&line_items[0][quantity]=2"
            )
            #expect(line.status == 400)
            #expect(line.errorCode == "amount_too_large")
            #expect(line.errorParam == "line_items[0][quantity]")
            let sum = try await stripe.call(
                .post, "/v1/checkout/sessions",
                "mode=payment&success_url=https%3A%2F%2Fshop.test%2Fok&line_items[0][price]=\(priceId)&line_items[0][quantity]=1"
                    + "&line_items[1][price]=\(priceId)&line_items[1][quantity]=1")
            #expect(sum.status == 400)
            #expect(sum.errorCode == "amount_too_large")
            #expect(sum.errorParam == "line_items")
            let atMaximum = try await stripe.call(.post, "/v1/payment_intents", "amount=99999999&currency=usd")
            #expect(atMaximum.status == 200)
            let over = try await stripe.call(.post, "/v1/payment_intents", "amount=100000000&currency=usd")
            #expect(over.errorCode == "amount_too_large")
            #expect(over.error?["message"] as? String == "Amount must be no more than 999999.99 USD")
        }
    }

    @Test(
        "amounts that are not integers are parameter_invalid_integer, with the param named",
        arguments: ["12.5", "1e3", "NaN", "-Infinity", "0x10", "99999999999999999999999"])
    func nonIntegers(value: String) async throws {
        try await EmulatorHarness.run { stripe in
            let intent = try await stripe.call(.post, "/v1/payment_intents", "amount=\(value)&currency=usd")
            #expect(intent.status == 400)
            #expect(intent.errorCode == "parameter_invalid_integer")
            #expect(intent.errorParam == "amount")
            let inline = try await stripe.call(
                .post, "/v1/checkout/sessions",
                "mode=payment&success_url=https%3A%2F%2Fshop.test%2Fok&line_items[0][price_data][currency]=usd"
                    + "&line_items[0][price_data][unit_amount]=\(value)&line_items[0][price_data][product_data][name]=X&line_items[0][quantity]=1"
            )
            #expect(inline.errorCode == "parameter_invalid_integer")
            #expect(inline.errorParam == "line_items[0][price_data][unit_amount]")
            let nested = try await stripe.call(.post, "/v1/payment_intents", "amount[x]=\(value)&currency=usd")
            #expect(nested.errorCode == "parameter_invalid_integer")
        }
    }

    @Test("a charge below Stripe's minimum for its currency is amount_too_small (TillCore's table)")
    func minimums() async throws {
        try await EmulatorHarness.run { stripe in
            let low = try await stripe.call(.post, "/v1/payment_intents", "amount=49&currency=usd")
            #expect(low.status == 400)
            #expect(low.errorCode == "amount_too_small")
            #expect(low.error?["message"] as? String == "Amount must be at least 0.50 USD")
            #expect(try await stripe.call(.post, "/v1/payment_intents", "amount=50&currency=usd").status == 200)
            #expect(
                try await stripe.call(.post, "/v1/payment_intents", "amount=49&currency=jpy").errorCode
                    == "amount_too_small")
            let intent = try await stripe.call(.post, "/v1/payment_intents", "amount=500&currency=gbp")
            let lowered = try await stripe.call(.post, "/v1/payment_intents/\(intent.string("id"))", "amount=29")
            #expect(lowered.errorCode == "amount_too_small")
            let session = try await stripe.call(
                .post, "/v1/checkout/sessions",
                "mode=payment&success_url=https%3A%2F%2Fshop.test%2Fok&line_items[0][price_data][currency]=usd"
                    + "&line_items[0][price_data][unit_amount]=10&line_items[0][price_data][product_data][name]=X&line_items[0][quantity]=4"
            )
            #expect(session.errorCode == "amount_too_small")
            #expect(session.errorParam == "line_items")
        }
    }

    @Test("a currency Stripe does not support is refused")
    func unknownCurrency() async throws {
        try await EmulatorHarness.run { stripe in
            let intent = try await stripe.call(.post, "/v1/payment_intents", "amount=100&currency=xyz")
            #expect(intent.status == 400)
            #expect(intent.errorParam == "currency")
            // Zero-decimal and three-decimal currencies come from TillCore's Currency.
            #expect(StripeEmulator.format(500, "jpy") == "500 JPY")
            #expect(StripeEmulator.format(1230, "kwd") == "1.230 KWD")
            #expect(StripeEmulator.format(-5, "usd") == "-0.05 USD")
        }
    }

    // MARK: Form bodies

    @Test(
        "keys nested 10 levels deep are accepted; 11 are a 400 in Stripe's shape (a deep body used to overflow the stack)"
    )
    func nesting() async throws {
        try await EmulatorHarness.run { stripe in
            // A parameter the emulator ignores (nested metadata is refused on its own grounds).
            let ten = "extra" + (1...10).map { "[k\($0)]" }.joined()
            let ok = try await stripe.call(.post, "/v1/products", "name=Tea&\(ten)=x")
            #expect(ok.status == 200)
            let eleven = try await stripe.call(.post, "/v1/products", "name=Tea&\(ten)[k11]=x")
            #expect(eleven.status == 400)
            #expect(eleven.isStripeError)
            #expect(eleven.errorParam?.hasPrefix("extra[k1]") == true)
            let deep = "a" + String(repeating: "[]", count: 200_000) + "=1"
            let refused = try await stripe.call(.post, "/v1/products", deep)
            #expect(refused.status == 400)
            #expect(refused.isStripeError)
            #expect(refused.errorCode == "parameter_invalid_string")
        }
        #expect(throws: FormEncoding.DecodingError.self) {
            try FormEncoding.decode("a" + String(repeating: "[x]", count: 11) + "=1", limits: .standard)
        }
        // The lenient decoder keeps the extra levels as text instead of recursing.
        let lenient = FormEncoding.decode("a" + String(repeating: "[]", count: 100_000) + "=1")
        #expect(lenient["a"] != nil)
    }

    @Test("more than 1000 pairs in one body are a 400")
    func tooManyPairs() async throws {
        try await EmulatorHarness.run { stripe in
            let many = (0...1000).map { "metadata[k\($0)]=v" }.joined(separator: "&")
            let reply = try await stripe.call(.post, "/v1/products", "name=Tea&" + many)
            #expect(reply.status == 400)
            #expect(reply.isStripeError)
            let fine = (0..<50).map { "metadata[k\($0)]=v" }.joined(separator: "&")
            #expect(try await stripe.call(.post, "/v1/products", "name=Tea&" + fine).status == 200)
        }
    }

    // MARK: Faults

    @Test("fault values are clamped: hangSeconds 1e19 (which trapped in Duration) becomes 300, counts 1...1000")
    func faultClamps() async throws {
        let hang = Faults.APIFault(pathPrefix: "/v1/", mode: .hang, remaining: Int.max, hangSeconds: 1e19)
        #expect(hang.hangSeconds == 300)
        #expect(hang.remaining == 1000)
        #expect(Faults.APIFault(pathPrefix: "/v1/", mode: .hang, remaining: -4, hangSeconds: -1).hangSeconds == 0)
        #expect(Faults.APIFault(pathPrefix: "/v1/", mode: .hang, remaining: -4, hangSeconds: .infinity).remaining == 1)
        #expect(Faults.WebhookFault(mode: .delay, remaining: 1, delayMillis: Int.max).delayMillis == 60_000)
        try await EmulatorHarness.run { stripe in
            let body = #"{"target":"api","path":"/v1/products","mode":"hang","count":1,"hangSeconds":1e19}"#
            let response = try await stripe.client.executeRequest(
                uri: "/_stripe/_emulator/faults", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: body))
            #expect(response.status == .ok)
            let armed = await stripe.emulator.faults.armed.api
            #expect(armed.map(\.hangSeconds) == [300])
        }
    }

    @Test("latency: every API call waits delayMillis (clamped to 0...10000) until the faults are cleared")
    func latency() async throws {
        try await EmulatorHarness.run { stripe in
            func arm(_ body: String) async throws -> Int {
                let response = try await stripe.client.executeRequest(
                    uri: "/_stripe/_emulator/faults", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: body))
                return Int(response.status.code)
            }
            #expect(try await arm(#"{"target":"latency","delayMillis":9223372036854775807}"#) == 200)
            #expect(stripe.emulator.faults.latencyMillis == 10_000)
            #expect(try await arm(#"{"target":"latency"}"#) == 400)
            #expect(try await arm(#"{"target":"latency","delayMillis":-5}"#) == 200)
            #expect(stripe.emulator.faults.latencyMillis == 0)
            #expect(try await arm(#"{"target":"latency","delayMillis":60}"#) == 200)
            let start = ContinuousClock.now
            #expect(try await stripe.session().status == 200)
            #expect(ContinuousClock.now - start >= .milliseconds(60))
            _ = try await stripe.client.executeRequest(
                uri: "/_stripe/_emulator/faults", method: .delete, headers: [:], body: nil)
            #expect(stripe.emulator.faults.latencyMillis == 0)
        }
    }

    // MARK: URLs and pages

    @Test(
        "success_url, cancel_url and webhook url must be http or https: url_invalid with the param",
        arguments: [
            "javascript:alert(document.cookie)", "JavaScript:alert(1)", "data:text/html,<script>alert(1)</script>",
            "ftp://shop.test/x",
            "//shop.test/x", "/relative", "http://", "https:///nohost", "http://shop.test/a b",
        ])
    func urls(url: String) async throws {
        let encoded = formEscape(url)
        try await EmulatorHarness.run { stripe in
            let cancel = try await stripe.session("&cancel_url=\(encoded)")
            #expect(cancel.status == 400)
            #expect(cancel.errorCode == "url_invalid")
            #expect(cancel.errorParam == "cancel_url")
            let success = try await stripe.call(
                .post, "/v1/checkout/sessions",
                "mode=payment&success_url=\(encoded)&line_items[0][price_data][currency]=usd&line_items[0][price_data][unit_amount]=1"
                    + "&line_items[0][price_data][product_data][name]=X&line_items[0][quantity]=1")
            #expect(success.errorCode == "url_invalid")
            #expect(success.errorParam == "success_url")
            let endpoint = try await stripe.call(.post, "/v1/webhook_endpoints", "url=\(encoded)&enabled_events[]=*")
            #expect(endpoint.errorCode == "url_invalid")
            #expect(endpoint.errorParam == "url")
        }
    }

    @Test("the hosted page carries a strict CSP, nosniff and DENY, with no inline script or style; its CSS is a file")
    func pageHeaders() async throws {
        try await EmulatorHarness.run { stripe in
            let session = try await stripe.session("&cancel_url=https%3A%2F%2Fshop.test%2Fcancel")
            #expect(session.status == 200)
            let page = try await stripe.page("/checkout/\(session.string("id"))")
            #expect(page.status == 200)
            let csp = try #require(page.headers[.contentSecurityPolicy])
            #expect(csp.contains("default-src 'none'"))
            #expect(csp.contains("style-src 'self'"))
            #expect(csp.contains("frame-ancestors 'none'"))
            #expect(csp.contains("form-action 'self' http://localhost:8080"))  // where paying redirects to
            #expect(!csp.contains("unsafe-inline"))
            #expect(page.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
            #expect(page.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
            #expect(!page.text.contains("<script"))
            #expect(!page.text.contains("<style"))
            #expect(!page.text.contains(" style="))
            #expect(page.text.contains(#"<link rel="stylesheet" href="../assets/emulator.css">"#))
            #expect(page.text.contains(#"href="https://shop.test/cancel""#))
            #expect(page.text.contains("19.99 USD"))
            let css = try await stripe.page("/assets/emulator.css")
            #expect(css.status == 200)
            #expect(css.headers[.contentType]?.hasPrefix("text/css") == true)
            #expect(css.text.contains("font-family"))
            #expect(try await stripe.page("/assets/..%2F..%2Fetc%2Fpasswd").status == 404)
            let missing = try await stripe.page("/checkout/cs_test_nope")
            #expect(missing.status == 404)
            #expect(missing.headers[.contentSecurityPolicy] != nil)
        }
    }

    // MARK: Routes

    @Test("a URL Stripe does not serve, or a known one with another method, is Stripe's 404 with a Request-Id")
    func unrecognizedURLs() async throws {
        try await EmulatorHarness.run { stripe in
            for (method, path) in [
                (HTTPRequest.Method.get, "/v1/nothing_here"), (.post, "/v1/nothing/here"),
                (.put, "/v1/payment_intents"),
                (.delete, "/v1/payment_intents/pi_x"), (.patch, "/v1/customers/cus_x"),
                (.get, "/v1/payment_intents/pi_x/confirm"), (.post, "/v1/events"),
            ] {
                let reply = try await stripe.call(method, path)
                #expect(reply.status == 404 && reply.isStripeError, "\(method) \(path): \(reply.text)")
                #expect((reply.error?["message"] as? String)?.contains("(\(method.rawValue): /_stripe\(path))") == true)
                #expect(reply.headers[HTTPField.Name("Request-Id")!]?.hasPrefix("req_") == true)
            }
            // A live key is refused: nothing made with one may be taken by a stand-in.
            let live = try await stripe.client.executeRequest(
                uri: "/_stripe/v1/payment_intents", method: .post,
                headers: [.authorization: "Bearer sk_live_51abc", .contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "amount=1000&currency=usd"))
            #expect(live.status == .unauthorized && String(buffer: live.body).contains("test keys only"))
            // The key is checked first, as for every API call.
            let response = try await stripe.client.executeRequest(
                uri: "/_stripe/v1/payment_intents", method: .put, headers: [:], body: nil)
            #expect(response.status == .unauthorized)
            // Outside /v1, the router's own answer.
            #expect(try await stripe.page("/nothing").status == 404)
        }
    }

    // MARK: Time

    @Test("a session past its expires_at expires once, whether read or swept (it recursed without end and crashed)")
    func sessionExpiresOnItsOwn() async throws {
        try await EmulatorHarness.run { stripe in
            let read = try await stripe.session()
            let swept = try await stripe.session()
            let paid = try await stripe.session()
            _ = try await stripe.call(
                .post, "/v1/test_helpers/checkout/sessions/\(paid.string("id"))/complete", "payment_method=pm_card_visa"
            )
            #expect(try await stripe.call(.post, "/_emulator/clock/advance", #"{"seconds": 86400}"#).status == 200)
            let after = try await stripe.call(.get, "/v1/checkout/sessions/\(read.string("id"))")
            #expect(after.status == 200 && after.string("status") == "expired" && after.json?["url"] is NSNull)
            await stripe.emulator.state.sweepExpiredSessions()
            let sweptAfter = try await stripe.call(.get, "/v1/checkout/sessions/\(swept.string("id"))")
            #expect(sweptAfter.string("status") == "expired")
            #expect(
                try await stripe.call(.get, "/v1/checkout/sessions/\(paid.string("id"))").string("status") == "complete"
            )
            let expired = try await stripe.call(.get, "/v1/events", "type=checkout.session.expired&limit=100")
            #expect((expired.json?["data"] as? [Any])?.count == 2)
            let again = try await stripe.call(.post, "/v1/checkout/sessions/\(read.string("id"))/expire")
            #expect(again.status == 400 && again.errorCode == "checkout_session_unexpected_state")
        }
    }

    // MARK: Idempotency

    @Test(
        "metadata beyond Stripe's limits or a string over 5,000 characters is refused; a refused request leaves nothing"
    )
    func metadataLimits() async throws {
        try await EmulatorHarness.run { stripe in
            let keys = (0..<51).map { "&metadata[k\($0)]=v" }.joined()
            for (extra, param) in [
                (keys, "metadata"), ("&metadata[\(String(repeating: "k", count: 41))]=v", "metadata"),
                ("&metadata[k]=\(String(repeating: "v", count: 501))", "metadata[k]"),
                ("&metadata=abc", "metadata"), ("&metadata[k][x]=1", "metadata[k]"),
                ("&payment_intent_data[metadata]=abc", "metadata"),
            ] {
                let refused = try await stripe.session(extra)
                #expect(refused.status == 400 && refused.isStripeError && refused.errorParam == param, "\(param)")
            }
            #expect(await stripe.emulator.state.products.count == 0)
            #expect(await stripe.emulator.state.prices.count == 0)
            #expect(await stripe.emulator.state.sessions.count == 0)
            let fifty = (0..<50).map { "&metadata[k\($0)]=v" }.joined()
            #expect(try await stripe.session(fifty).status == 200)
            let long = try await stripe.call(
                .post, "/v1/customers", "description=\(String(repeating: "d", count: 5001))")
            #expect(long.status == 400 && long.errorParam == "description")
            // One character with 6,000 combining marks is 6,001 code points: too long as well.
            let marks = try await stripe.call(
                .post, "/v1/customers", "description=a\(String(repeating: "%CC%81", count: 6000))")
            #expect(marks.status == 400 && marks.errorParam == "description")
            #expect(await stripe.emulator.state.customers.count == 0)
            let intent = try await stripe.call(.post, "/v1/payment_intents", "amount=100&currency=usd&confirm=maybe")
            #expect(intent.status == 400 && intent.errorCode == "parameter_invalid_boolean")
            #expect(await stripe.emulator.state.intents.count == 0)
        }
    }

    @Test("a malformed Stripe-Version or an Idempotency-Key over 255 characters is refused; answers name the version")
    func versionAndKey() async throws {
        try await EmulatorHarness.run { stripe in
            let bad = try await stripe.call(
                .get, "/v1/products", headers: [HTTPField.Name("Stripe-Version")!: "yesterday"])
            #expect(bad.status == 400 && bad.errorCode == "invalid_stripe_version")
            let sdk = try await stripe.call(
                .get, "/v1/products", headers: [HTTPField.Name("Stripe-Version")!: "2026-10-28.endive"])
            #expect(sdk.status == 200)
            #expect(sdk.headers[HTTPField.Name("Stripe-Version")!] == StripeConfiguration.pinnedAPIVersion)
            let long = try await stripe.call(
                .post, "/v1/products", "name=Tea",
                headers: [HTTPField.Name("Idempotency-Key")!: String(repeating: "k", count: 256)])
            #expect(long.status == 400 && long.isStripeError)
            #expect(await stripe.emulator.state.products.count == 0)
        }
    }

    @Test("an event carries request {id, idempotency_key}: the call's, or both null when no call caused it")
    func eventRequest() async throws {
        try await EmulatorHarness.run { stripe in
            let customer = try await stripe.call(
                .post, "/v1/customers", "email=a%40b.c", headers: [HTTPField.Name("Idempotency-Key")!: "cus-1"])
            let events = try await stripe.call(.get, "/v1/events?type=customer.created")
            let event = try #require((events.json?["data"] as? [[String: Any]])?.first)
            let request = try #require(event["request"] as? [String: Any])
            #expect(request["id"] as? String == customer.headers[HTTPField.Name("Request-Id")!])
            #expect(request["idempotency_key"] as? String == "cus-1")
            await stripe.emulator.state.record("invoice.created", .other(type: "invoice", id: "in_1"), nil)
            let renewal = try await stripe.call(.get, "/v1/events?type=invoice.created")
            let automatic = try #require(
                (renewal.json?["data"] as? [[String: Any]])?.first?["request"] as? [String: Any])
            #expect(automatic["id"] is NSNull && automatic["idempotency_key"] is NSNull)
        }
    }

    @Test("a replay answers the first answer byte for byte, though the object changed since")
    func replayIsTheFirstAnswer() async throws {
        try await EmulatorHarness.run { stripe in
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "cus-replay"]
            let first = try await stripe.call(.post, "/v1/customers", "email=a%40b.c&metadata[k]=v", headers: key)
            let id = try #require(first.json?["id"] as? String)
            let updated = try await stripe.call(.post, "/v1/customers/\(id)", "email=z%40y.x")
            #expect(updated.json?["email"] as? String == "z@y.x")
            let replay = try await stripe.call(.post, "/v1/customers", "email=a%40b.c&metadata[k]=v", headers: key)
            #expect(replay.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(replay.text == first.text)
            #expect(replay.json?["email"] as? String == "a@b.c")
        }
    }

    @Test("idempotency answers expire after 24 hours and at most `capacity` are kept")
    func idempotencyExpiry() async throws {
        let clock = ManualClock()
        let cache = IdempotencyCache(capacity: 3, now: { clock.now })
        #expect(await cache.claim(key: "k", fingerprint: Data("a".utf8)) == .proceed)
        await cache.finish(key: "k", fingerprint: Data("a".utf8), status: 200, answer: .json(Data()), keep: true)
        #expect(await cache.claim(key: "k", fingerprint: Data("b".utf8)) == .mismatch)
        clock.now += 24 * 3600 - 1
        #expect(await cache.claim(key: "k", fingerprint: Data("a".utf8)) == .replayed)
        clock.now += 2
        #expect(await cache.claim(key: "k", fingerprint: Data("b".utf8)) == .proceed)  // a day later the key is free
        await cache.finish(key: "k", fingerprint: Data("b".utf8), status: 200, answer: .json(Data()), keep: true)
        for key in ["k1", "k2", "k3"] {
            #expect(await cache.claim(key: key, fingerprint: Data("x".utf8)) == .proceed)
            await cache.finish(key: key, fingerprint: Data("x".utf8), status: 200, answer: .json(Data()), keep: true)
        }
        #expect(await cache.count == 3)
        #expect(await cache.claim(key: "k", fingerprint: Data("c".utf8)) == .proceed)  // the oldest went first
        #expect(await cache.claim(key: "k3", fingerprint: Data("x".utf8)) == .replayed)
    }
}

final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Double = 1_000_000
    var now: Double {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}

extension IdempotencyCache.Claim {
    static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.proceed, .proceed), (.mismatch, .mismatch), (.inFlight, .inFlight), (.replay, .replay): true
        default: false
        }
    }
    static var replayed: Self { .replay(.init(fingerprint: Data(), status: 0, answer: .json(Data()), storedAt: 0)) }
}

/// A form value percent-encoded as Stripe's SDKs send it.
func formEscape(_ text: String) -> String {
    text.addingPercentEncoding(
        withAllowedCharacters: CharacterSet(
            charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")) ?? ""
}
