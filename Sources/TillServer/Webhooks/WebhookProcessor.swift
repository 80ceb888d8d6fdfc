import Foundation
import Logging
import ServiceLifecycle
import StripeAPI
import Synchronization
import TillCore

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
    /// With `WebhookEventRepository.retryFailed`'s pauses, an event is tried for about seven hours: a refund or
    /// dispute that came before its success waits for that success (Stripe's own retries of it take hours).
    static let maxAttempts = 20

    init(
        database: any Database, settlement: SettlementService, clock: TillClock, logger: Logger, leaseSeconds: Int = 60
    ) {
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

    /// Processes everything claimable now; returns how many events were handled. Each claimed batch goes to the
    /// applier whole, and its outcome is recorded in the same transaction. A batch that fails for another reason
    /// than a race is applied again one event at a time, so an event that cannot be applied fails alone. A batch
    /// short of the limit means the queue was empty behind it: events stored since then come with a `notify`.
    @discardableResult
    func drain() async throws -> Int {
        var handled = 0
        while true {
            let now = clock.nowMillis()
            let batch = try await database.withConnection { db in
                try await inbox.claim(
                    limit: Self.batchSize, leaseMillis: leaseMillis, now: now, kind: database.kind, on: db)
            }
            if batch.isEmpty { return handled }
            if batch.count == Self.batchSize, wakes.count > 1 { notify() }
            var items: [SettlementService.Item] = []
            for claimed in batch {
                if let event = try? StripeFacts.EventFields.decode(Data(claimed.payload.utf8)) {
                    items.append(.init(eventId: claimed.id, subject: StripeFacts.from(event)))
                } else {
                    await record(claimed.id, status: .failed, problem: "the stored payload is not a Stripe event")
                }
            }
            do {
                try await apply(items)
            } catch {
                logger.warning(
                    "a webhook batch failed; applying its events one at a time", metadata: ["error": "\(error)"])
                for item in items {
                    do {
                        try await apply([item])
                    } catch {
                        logger.error(
                            "webhook event failed",
                            metadata: ["stripe.event_id": "\(item.eventId ?? "")", "error": "\(error)"])
                        await record(item.eventId ?? "", status: .failed, problem: String(describing: error))
                    }
                }
            }
            handled += batch.count
            if batch.count < Self.batchSize { return handled }
        }
    }

    /// Applies events and records what became of each, in one transaction.
    private func apply(_ items: [SettlementService.Item]) async throws {
        guard !items.isEmpty else { return }
        let now = clock.nowMillis()
        let ids = items.map { $0.eventId ?? "" }
        let outcome = try await settlement.apply(items) { verdicts, db in
            var finished: [WebhookEventStatus: [String]] = [:]
            for (id, verdict) in zip(ids, verdicts) {
                switch verdict {
                case .processed: finished[.processed, default: []].append(id)
                case .ignored: finished[.ignored, default: []].append(id)
                case .deferred(let reason):
                    try await inbox.finish(id: id, status: .failed, error: reason, now: now, on: db)
                case .waiting(let intentId):
                    try await inbox.finish(id: id, status: .ignored, error: nil, waitsFor: intentId, now: now, on: db)
                }
            }
            for (status, ids) in finished.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                try await inbox.finish(ids: ids, status: status, now: now, on: db)
            }
        }
        if outcome.woken > 0 { notify() }
    }

    static let batchSize = 200

    func retryFailed() async throws {
        _ = try await database.withConnection { db in
            try await inbox.retryFailed(maxAttempts: Self.maxAttempts, now: clock.nowMillis(), on: db)
        }
    }

    private func record(_ id: String, status: WebhookEventStatus, problem: String?) async {
        do {
            let now = clock.nowMillis()
            try await database.withConnection { db in
                try await inbox.finish(id: id, status: status, error: problem, now: now, on: db)
            }
        } catch {
            logger.error(
                "could not record a webhook event's outcome; its lease will run out and it will be retried",
                metadata: ["stripe.event_id": "\(id)", "error": "\(error)"])
        }
    }
}
