import Foundation
import HTTPTypes
import Hummingbird
import Logging
import StripeAPI
import TillCore

/// `POST /api/webhooks/stripe`: verify the raw bytes, hand the event to the inbox, answer 200 once it is committed.
/// The inbox settles what it can in the same transaction; what it cannot waits, stored, for the processor, so a
/// failed settlement never fails the acknowledgement and a crash after the 200 loses nothing.
struct WebhookController {
    let inbox: WebhookInbox
    let secrets: [String]
    let clock: TillClock
    static let maxBody = 1 << 20

    struct Head: Decodable {
        let id: String
        let type: String
        let object: String?
    }

    struct Received: Encodable {
        let received: Bool
    }
    /// The answer to every stored or duplicate event, encoded once.
    static let received = try! JSONCoding.encode(Received(received: true))

    func addRoutes(to router: Router<TillRequestContext>) {
        router.post("/api/webhooks/stripe") { request, context in
            var request = request
            let body = try await request.collectBody(
                upTo: Self.maxBody, tooLarge: "A webhook body may be at most 1 MiB")
            let payload = Data(body.readableBytesView)
            do {
                try WebhookSignature.verify(
                    payload: payload, header: request.headers[HTTPField.Name("Stripe-Signature")!], secrets: secrets,
                    now: clock.nowMillis() / 1000)
            } catch {
                context.logger.warning("webhook signature rejected", metadata: ["reason": "\(error)"])
                throw TillError(.invalidSignature, "\(error)")
            }
            // What settlement needs is decoded here, on the request's own thread, so the inbox's write only stores
            // and settles. A body that is an event of a type Till acts on but cannot read is stored for the
            // processor, which records it as failed; one of any other type is ignored.
            let event = try? StripeFacts.EventFields.decode(payload)
            guard
                let head = event.map({ Head(id: $0.id, type: $0.type.rawValue, object: $0.object) })
                    ?? (try? JSONDecoder().decode(Head.self, from: payload)),
                head.object == nil || head.object == "event", head.id.hasPrefix("evt_"), !head.type.isEmpty,
                let text = String(data: payload, encoding: .utf8)
            else {
                throw TillError.invalid("The body is not a Stripe event")
            }
            let inserted = try await inbox.store(
                .init(
                    id: head.id, type: head.type, payload: text,
                    reading: event.map { .decoded(StripeFacts.from($0)) }
                        ?? (StripeFacts.actedOn.contains(head.type) ? .unread : .decoded(nil))))
            // On the request's access line rather than a line of its own: one line a delivery.
            context.accessNote?.add([
                "stripe.event_id": "\(head.id)", "stripe.event_type": "\(head.type)",
                "webhook": inserted ? "stored" : "duplicate",
            ])
            return JSONCoding.response(.ok, json: Self.received)
        }
    }
}
