import Foundation
import Logging
import ServiceLifecycle
import StripeAPI
import Synchronization

/// Applies stored webhook events: woken at once by each new event, and sweeping every second for events left by a
/// crash (their lease runs out) and for failed ones due another try. Several instances on one PostgreSQL share the
/// queue: each claims rows the others are not holding.
final class WebhookProcessor: Service, Sendable {
    let database: any Database
    let settlement: SettlementService
    let clock: TillClock
    let logger: Logger
    let inbox = WebhookEventRepository()
    /// One per worker. A new event wakes one worker, in turn; a worker that claims a full batch wakes the next one,
    /// so workers join in as the queue grows rather than all racing for each event.
    private let wakes: [WakeSignal]
    private let turn = Atomic<Int>(0)
    let leaseMillis: Int
    static let maxAttempts = 10

    init(database: any Database, settlement: SettlementService, clock: TillClock, logger: Logger, leaseSeconds: Int = 60) {
        self.leaseMillis = leaseSeconds * 1000
        self.database = database
        self.settlement = settlement
        self.clock = clock
        self.logger = logger
        // PostgreSQL takes several workers (each claims rows the others skip); SQLite has one writer anyway.
        self.wakes = (0..<(database.kind == .postgres ? 4 : 1)).map { _ in WakeSignal() }
    }

    func notify() {
        let wake = wakes[turn.wrappingAdd(1, ordering: .relaxed).oldValue % wakes.count]
        Task { await wake.signal() }
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                for worker in self.wakes.indices {
                    group.addTask {
                        // Failed events wait a second or more before another try, so worker 0 looks for them once a
                        // second, not after every wake.
                        var lastRetry = ContinuousClock.now - .seconds(1)
                        while !Task.isCancelled {
                            do {
                                try await self.drain()
                                if worker == 0, ContinuousClock.now - lastRetry >= .seconds(1) {
                                    lastRetry = .now
                                    try await self.retryFailed()
                                }
                            } catch {
                                self.logger.error("webhook processing pass failed", metadata: ["error": "\(error)"])
                            }
                            await self.wakes[worker].wait(timeout: .seconds(1))
                        }
                    }
                }
            }
        }
    }

    /// Processes everything claimable now; returns how many events were handled. Each claimed batch is settled in
    /// one transaction where it can be; the rest goes one event at a time. A batch short of the limit means the
    /// queue was empty behind it: events stored since then come with a `notify` of their own.
    @discardableResult
    func drain() async throws -> Int {
        var handled = 0
        while true {
            let now = clock.nowMillis()
            let batch = try await database.withConnection { db in
                try await inbox.claim(limit: Self.batchSize, leaseMillis: leaseMillis, now: now, kind: database.kind, on: db)
            }
            if batch.isEmpty { return handled }
            if batch.count == Self.batchSize, wakes.count > 1 { notify() }
            var items: [SettlementService.BatchItem] = []
            var undecodable = Set<String>()
            for claimed in batch {
                if let event = try? StripeFacts.EventFields.decode(Data(claimed.payload.utf8)) {
                    items.append(.init(eventId: claimed.id, report: StripeFacts.from(event)))
                } else {
                    undecodable.insert(claimed.id)
                }
            }
            let outcome = try await settlement.applyBatch(items)
            let rest = Dictionary(outcome.rest.map { ($0.eventId, $0.report) }, uniquingKeysWith: { first, _ in first })
            // In the order received: the events the batch left, one at a time, with the reports already decoded.
            for claimed in batch {
                if undecodable.contains(claimed.id) {
                    await record(claimed, status: "failed", problem: "the stored payload is not a Stripe event")
                } else if let report = rest[claimed.id] {
                    await process(claimed, report: report)
                }
            }
            handled += batch.count
            if batch.count < Self.batchSize { return handled }
        }
    }

    static let batchSize = 200

    func retryFailed() async throws {
        _ = try await database.withConnection { db in try await inbox.retryFailed(maxAttempts: Self.maxAttempts, now: clock.nowMillis(), on: db) }
    }

    private func process(_ claimed: WebhookEventRepository.Claimed, report: StripeFacts.Report?) async {
        let status: String
        let problem: String?
        do {
            status = try await handle(claimed, report: report)
            problem = nil
        } catch let deferred as SettlementService.NotYetPaid {
            status = "failed"
            problem = deferred.description
        } catch {
            status = "failed"
            problem = String(describing: error)
            logger.error("webhook event failed", metadata: ["stripe.event_id": "\(claimed.id)", "error": "\(error)"])
        }
        await record(claimed, status: status, problem: problem)
    }

    private func record(_ claimed: WebhookEventRepository.Claimed, status: String, problem: String?) async {
        do {
            let now = clock.nowMillis()
            try await database.withConnection { db in
                try await inbox.finish(id: claimed.id, status: status, error: problem, now: now, on: db)
            }
        } catch {
            logger.error("could not record a webhook event's outcome; its lease will run out and it will be retried",
                         metadata: ["stripe.event_id": "\(claimed.id)", "error": "\(error)"])
        }
    }

    /// `processed`, or `ignored` for events that are not about a payment Till knows.
    private func handle(_ claimed: WebhookEventRepository.Claimed, report: StripeFacts.Report?) async throws -> String {
        guard let report else { return "ignored" }
        guard let payment = try await settlement.payment(for: report.lookup) else {
            logger.info("webhook event for a payment Till does not know", metadata: ["stripe.event_id": "\(claimed.id)", "type": "\(claimed.type)"])
            return "ignored"
        }
        try await settlement.apply(paymentId: payment.id, facts: report.facts, details: report.details)
        return "processed"
    }
}
