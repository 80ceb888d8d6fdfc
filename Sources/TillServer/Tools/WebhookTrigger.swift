import AsyncHTTPClient
import Foundation
import NIOCore
import StripeAPI

/// `till trigger`: builds a realistic event, signs it like Stripe, POSTs it and reports the answer.
public struct WebhookTrigger: Sendable {
    public struct Delivery: Sendable {
        public let eventId: String
        public let status: Int
        public let body: String
    }

    let url: String
    let secrets: [String]
    let http: HTTPClient

    public init(url: String, secrets: [String], http: HTTPClient = .shared) {
        self.url = url
        self.secrets = secrets
        self.http = http
    }

    /// Sends `count` distinct events of `type` (each twice with `duplicate`), one after another.
    public func send(type: String, options: TestEvents.Options, count: Int = 1, duplicate: Bool = false) async throws
        -> [Delivery]
    {
        var deliveries: [Delivery] = []
        for _ in 0..<max(count, 1) {
            let event = try TestEvents.make(type: type, options: options)
            let payload = try StripeJSON.encoder(pretty: true).encode(event)
            for _ in 0..<(duplicate ? 2 : 1) {
                deliveries.append(try await post(eventId: event.id, payload: payload))
            }
        }
        return deliveries
    }

    func post(eventId: String, payload: Data) async throws -> Delivery {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        request.headers.add(name: "User-Agent", value: "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
        request.headers.add(
            name: "Stripe-Signature",
            value: WebhookSignature.header(
                payload: payload, secrets: secrets, timestamp: Int(Date().timeIntervalSince1970)))
        request.body = .bytes(ByteBuffer(bytes: payload))
        let response = try await http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        return Delivery(eventId: eventId, status: Int(response.status.code), body: String(buffer: body))
    }
}
