import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import StripeAPI

/// Sends every event to every endpoint that wants it, signed with that endpoint's secret, retrying failures with
/// backoff. The API call that caused the event has already answered: delivery is asynchronous, as at Stripe.
final class WebhookDeliverer: Sendable {
    struct Attempt: Codable, Sendable {
        let eventId: String
        let type: String
        let endpointId: String
        let attempt: Int
        let status: Int
    }

    private let events: AsyncStream<Event>
    private let http: HTTPClient
    private let retrySchedule: [Double]
    private let faults: Faults
    private let logger: Logger
    let log = AttemptLog()

    init(events: AsyncStream<Event>, http: HTTPClient, retrySchedule: [Double], faults: Faults, logger: Logger) {
        self.events = events
        self.http = http
        self.retrySchedule = retrySchedule
        self.faults = faults
        self.logger = logger
    }

    func run(state: EmulatorState) async {
        let held = HeldDeliveries()
        await withDiscardingTaskGroup { group in
            for await event in events {
                let payload: Data
                do { payload = try StripeJSON.encoder(pretty: true).encode(event) } catch { continue }
                for endpoint in await state.endpointsFor(event.type.rawValue) {
                    guard let secret = await state.endpointSecret(endpoint.id) else { continue }
                    let delivery = Delivery(event: event, payload: payload, endpoint: endpoint, secret: secret)
                    switch await faults.takeWebhookFault() {
                    case nil:
                        group.addTask { await self.deliver(delivery) }
                    case .some(let fault):
                        switch fault.mode {
                        case .drop:
                            logger.info("webhook dropped by fault", metadata: ["stripe.event_id": "\(event.id)"])
                        case .duplicate:
                            group.addTask { await self.deliver(delivery) }
                            group.addTask { await self.deliver(delivery) }
                        case .delay:
                            group.addTask {
                                try? await Task.sleep(for: .milliseconds(fault.delayMillis))
                                await self.deliver(delivery)
                            }
                        case .reorder:
                            // Held back; released in reverse order once the fault's count is used up.
                            let batch = await held.add(delivery, release: fault.remaining == 0)
                            for d in batch.reversed() { group.addTask { await self.deliver(d) } }
                        }
                    }
                }
            }
        }
    }

    struct Delivery: Sendable {
        let event: Event
        let payload: Data
        let endpoint: WebhookEndpoint
        let secret: String
    }

    private func deliver(_ d: Delivery) async {
        for attempt in 1...(retrySchedule.count + 1) {
            let status = await post(d)
            await log.add(
                Attempt(
                    eventId: d.event.id, type: d.event.type.rawValue, endpointId: d.endpoint.id, attempt: attempt,
                    status: status))
            if (200..<300).contains(status) { return }
            guard attempt <= retrySchedule.count else { break }
            do { try await Task.sleep(for: .seconds(retrySchedule[attempt - 1])) } catch { return }
        }
        logger.warning(
            "webhook delivery gave up",
            metadata: ["stripe.event_id": "\(d.event.id)", "webhook.endpoint": "\(d.endpoint.id)"])
    }

    /// One attempt; the HTTP status, or 0 when the endpoint could not be reached.
    private func post(_ d: Delivery) async -> Int {
        var request = HTTPClientRequest(url: d.endpoint.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        request.headers.add(name: "User-Agent", value: "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
        request.headers.add(
            name: "Stripe-Signature",
            value: WebhookSignature.header(
                payload: d.payload, secret: d.secret, timestamp: Int(Date().timeIntervalSince1970)))
        request.body = .bytes(ByteBuffer(bytes: d.payload))
        do {
            let response = try await http.execute(request, timeout: .seconds(10))
            _ = try? await response.body.collect(upTo: 1 << 20)
            return Int(response.status.code)
        } catch {
            return 0
        }
    }
}

actor AttemptLog {
    private(set) var attempts: [WebhookDeliverer.Attempt] = []
    func add(_ attempt: WebhookDeliverer.Attempt) {
        attempts.append(attempt)
        if attempts.count > 10_000 { attempts.removeFirst(attempts.count - 10_000) }
    }
}

actor HeldDeliveries {
    private var held: [WebhookDeliverer.Delivery] = []
    func add(_ delivery: WebhookDeliverer.Delivery, release: Bool) -> [WebhookDeliverer.Delivery] {
        held.append(delivery)
        guard release else { return [] }
        defer { held = [] }
        return held
    }
}
