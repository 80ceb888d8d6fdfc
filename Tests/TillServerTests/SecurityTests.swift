import Foundation
import HTTPTypes
import Logging
import StripeAPI
import Testing
import TillCore

@_spi(Bench) @testable import TillServer

/// Keeps every log line in memory, for checking that no secret reaches the log.
final class CapturingLogHandler: LogHandler, @unchecked Sendable {
    let lock = NSLock()
    private var lines: [String] = []
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        lock.withLock { lines.append("\(event.level) \(event.message) \(all)") }
    }

    var text: String { lock.withLock { lines.joined(separator: "\n") } }
}

@Suite("Security")
struct SecurityTests {
    @Test("the OpenAPI document lists exactly the routes the router serves")
    func openAPIMatchesRoutes() async throws {
        try await withTill(.sqlite) { api, till in
            let document = try await api.call(.get, "/openapi.json")
            #expect(document.status == 200)
            let paths = Set(
                (document["paths"] as? [String: [String: Any]] ?? [:]).flatMap { path, ops in
                    ops.keys.map { "\($0.uppercased()) \(path)" }
                })
            let served = Set(
                till.router().routes.compactMap { route -> String? in
                    let path = "\(route.path)".replacingOccurrences(of: ":id", with: "{id}")
                    let normalised = path.hasPrefix("/") ? path : "/" + path
                    if normalised.hasPrefix("/_stripe") || normalised.hasPrefix("/assets")
                        || normalised == "/openapi.json"
                    {
                        return nil
                    }
                    return "\(route.method) \(normalised)"
                })
            #expect(
                paths == served,
                "only in the document: \(paths.subtracting(served)); only served: \(served.subtracting(paths))")
            // Every error code Till answers is in the document's Error schema.
            let schemas = (document["components"] as? [String: Any])?["schemas"] as? [String: Any]
            let error = ((schemas?["Error"] as? [String: Any])?["properties"] as? [String: Any])?["error"]
            let code = ((error as? [String: Any])?["properties"] as? [String: Any])?["code"] as? [String: Any]
            #expect(Set(code?["enum"] as? [String] ?? []) == Set(TillError.Code.allCases.map(\.rawValue)))
        }
    }

    @Test("every route with an id answers 404 to a user who does not own it", arguments: Backend.available)
    func notFoundMatrix(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let (owner, _, _, order) = try await api.orderSetup()
            let orderId = order.string("id")
            let paymentId = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: owner).string(
                "paymentId")
            let (stranger, _) = try await api.register()
            let routes: [(HTTPRequest.Method, String)] = [
                (.get, "/api/orders/\(orderId)"), (.post, "/api/orders/\(orderId)/cancel"),
                (.post, "/api/orders/\(orderId)/checkout"), (.post, "/api/orders/\(orderId)/payment-intent"),
                (.get, "/api/orders/\(orderId)/payment"), (.get, "/api/payments/\(paymentId)"),
                (.post, "/api/payments/\(paymentId)/sync"),
            ]
            for (method, path) in routes {
                let reply = try await api.call(method, path, token: stranger)
                #expect(reply.status == 404, "\(method) \(path): \(reply.text)")
                #expect(!reply.text.contains(orderId) && !reply.text.contains(paymentId))
            }
            #expect(try await api.orderStatus(owner, orderId) == "PENDING")
        }
    }

    @Test("customers get 403 on every admin route")
    func adminRoutes() async throws {
        try await withTill(.sqlite) { api, _ in
            let (customer, _) = try await api.register()
            let routes: [(HTTPRequest.Method, String, String?)] = [
                (.post, "/api/products", #"{"name":"x","unitAmount":100,"currency":"usd","inventory":1}"#),
                (.patch, "/api/products/any", #"{"name":"y"}"#),
                (.post, "/api/plans", #"{"name":"x","unitAmount":900,"currency":"usd","credits":1}"#),
                (.post, "/api/payments/any/refund", #"{"amount":1}"#),
                (.get, "/api/admin/webhook-events", nil), (.post, "/api/admin/webhook-events/evt_1/replay", nil),
            ]
            for (method, path, body) in routes {
                let reply = try await api.call(method, path, token: customer, body: body)
                #expect(reply.status == 403, "\(method) \(path)")
                #expect(reply.errorCode == "forbidden")
            }
        }
    }

    @Test("no secret, token, password or card number reaches a response or a log line over a full flow")
    func noSecretsLeak() async throws {
        let handler = CapturingLogHandler()
        let secret = "whsec_leakcheck_" + String(repeating: "s", count: 24)
        try await withTill(.sqlite, logHandler: handler, configure: { $0.stripeWebhookSecrets = [secret] }) {
            api, till in
            let (user, admin, _, order) = try await api.orderSetup()
            let orderId = order.string("id")
            let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            let hosted = try await api.call(.get, "/_stripe/checkout/\(checkout.string("sessionId"))")
            #expect(hosted.status == 200)
            let paid = try await api.call(
                .post, "/_stripe/checkout/\(checkout.string("sessionId"))",
                body: "email=ann%40example.com&cardnumber=4242+4242+4242+4242&expiry=12+%2F+34&cvc=123",
                headers: ["Content-Type": "application/x-www-form-urlencoded"])
            #expect(paid.status == 200, "the hosted page redirects to the success page (followed)")
            try await api.waitForOrder(user, orderId, toBe: "PAID")
            var responses: [String] = []
            for path in ["/api/auth/me", "/api/orders", "/api/payments", "/api/orders/\(orderId)/payment"] {
                responses.append(try await api.call(.get, path, token: user).text)
            }
            responses.append(try await api.call(.get, "/api/admin/webhook-events", token: admin).text)
            responses.append(try await api.call(.get, "/api/config").text)
            _ = try await api.call(
                .post, "/api/auth/login", body: #"{"email":"admin@till.test","password":"wrong-password-9"}"#)
            _ = try await api.deliver(
                try TestEvents.make(type: "charge.refunded", options: .init()), secret: "whsec_wrong")
            let logs = handler.text
            #expect(!logs.isEmpty)
            for needle in [
                user, admin, secret, testJWTSecret, adminPassword, "wrong-password-9", "password-123",
                "4242424242424242", "4242 4242", "$2b$", "sk_test_till_emulator",
            ] {
                #expect(!logs.contains(needle), "log contains \(needle.prefix(12))…")
                for response in responses {
                    #expect(!response.contains(needle), "a response contains \(needle.prefix(12))…")
                }
            }
            _ = till
        }
    }

    @Test("the webhook endpoint answers only 400 or 413 to garbage, and stores nothing")
    func webhookFuzz() async throws {
        try await withTill(.sqlite) { api, till in
            let admin = try await api.adminToken()
            let secret = till.webhookSecrets[0]
            let now = Int(Date().timeIntervalSince1970)
            func sign(_ body: String) -> String {
                WebhookSignature.header(payload: Data(body.utf8), secret: secret, timestamp: now)
            }
            let nested = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
            let valid = String(
                decoding: try StripeJSON.encoder().encode(
                    try TestEvents.make(type: "payment_intent.succeeded", options: .init())), as: UTF8.self)
            var cases: [(String, [String: String])] = [
                ("{}", [:]), (valid, [:]), (valid, ["Stripe-Signature": ""]), (valid, ["Stripe-Signature": "garbage"]),
                (valid, ["Stripe-Signature": "t=abc,v1=00"]), (valid, ["Stripe-Signature": "t=\(now)"]),
                (valid, ["Stripe-Signature": "v1=" + String(repeating: "a", count: 64)]),
                (valid, ["Stripe-Signature": sign(valid).uppercased()]),
                (valid, ["Stripe-Signature": sign(valid + " ")]),
                (nested, ["Stripe-Signature": sign(nested)]),
                (String(valid.prefix(40)), ["Stripe-Signature": sign(String(valid.prefix(40)))]),
                ("null", ["Stripe-Signature": sign("null")]), ("[]", ["Stripe-Signature": sign("[]")]),
                (#"{"id":"evt_1"}"#, ["Stripe-Signature": sign(#"{"id":"evt_1"}"#)]),
                (#"{"id":5,"type":"x"}"#, ["Stripe-Signature": sign(#"{"id":5,"type":"x"}"#)]),
                (
                    #"{"id":"not_an_event","type":"x","object":"event"}"#,
                    ["Stripe-Signature": sign(#"{"id":"not_an_event","type":"x","object":"event"}"#)]
                ),
            ]
            for _ in 0..<40 {
                let length = Int.random(in: 0...300)
                let junk = String(decoding: (0..<length).map { _ in UInt8.random(in: 0...255) }, as: UTF8.self)
                cases.append(
                    (
                        junk,
                        Bool.random()
                            ? ["Stripe-Signature": sign(junk)] : ["Stripe-Signature": "t=\(now),v1=\(junk.count)"]
                    ))
            }
            var statuses: [Int] = []
            for (body, headers) in cases {
                statuses.append(try await api.call(.post, "/api/webhooks/stripe", body: body, headers: headers).status)
            }
            let huge = String(repeating: "{", count: (1 << 20) + 10)
            statuses.append(
                try await api.call(.post, "/api/webhooks/stripe", body: huge, headers: ["Stripe-Signature": sign(huge)])
                    .status)
            #expect(statuses.allSatisfy { $0 == 400 || $0 == 413 }, "\(statuses)")
            #expect(statuses.last == 413)
            #expect(try await api.call(.get, "/api/admin/webhook-events", token: admin).data.isEmpty)
        }
    }
}
