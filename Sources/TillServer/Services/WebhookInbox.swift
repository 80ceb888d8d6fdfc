import DequeModule
import SQLKit
import Synchronization

/// Stores verified webhook events with group commit, and settles them in the same transaction.
///
/// Events that arrive while a write is in flight are written together in the next transaction, so concurrent
/// deliveries share one commit. The new events are applied in that transaction where the batch path can (a success
/// for a payment awaiting it, or an event about nothing Till knows) and stored with their outcome; the rest are
/// stored `pending` for the processor, which is woken for them. Each caller gets its answer only after the commit,
/// so an acknowledged event is never lost, and a settlement that fails never fails the storing: the transaction is
/// rolled back and the group stored `pending` in a second one, for the processor.
final class WebhookInbox: Sendable {
    /// What the controller read from the event.
    enum Reading: Sendable {
        case decoded(StripeFacts.Report?)
        /// Not an event Till can read: it is stored for the processor, which records it as failed.
        case unread
    }

    struct Delivery: Sendable {
        let id: String
        let type: String
        let payload: String
        let reading: Reading
    }

    private struct Pending {
        let delivery: Delivery
        let continuation: CheckedContinuation<Bool, any Error>
    }

    let database: any Database
    let settlement: SettlementService
    let processor: WebhookProcessor
    let clock: TillClock
    /// Transactions writing at once. SQLite has one writer. On PostgreSQL two batches commit side by side (1, 2 and
    /// 4 measured 2,781, 2,947 and 2,478 events/s: more lanes make smaller batches, and PostgreSQL's cost is per
    /// statement).
    let lanes: Int
    /// Deliveries waiting for a writer, and how many writers are running.
    private let state = Mutex<(queue: Deque<Pending>, writers: Int)>(([], 0))
    static let maxBatch = 500

    /// The writers run on a thread of their own (shared by the inboxes of a process, as in tests). A delivery joins
    /// the queue under a lock, without a hop to that thread.
    static let executor = ThreadExecutor(name: "till-inbox")

    init(database: any Database, settlement: SettlementService, processor: WebhookProcessor, clock: TillClock) {
        self.database = database
        self.settlement = settlement
        self.processor = processor
        self.clock = clock
        lanes = database.kind == .sqlite ? 1 : 2
    }

    /// `true` when the event is new, `false` for a duplicate delivery; throws when it could not be stored.
    func store(_ delivery: Delivery) async throws -> Bool {
        try await withCheckedThrowingContinuation { continuation in
            let start = state.withLock { state in
                state.queue.append(Pending(delivery: delivery, continuation: continuation))
                guard state.writers < lanes else { return false }
                state.writers += 1
                return true
            }
            if start { Task(executorPreference: Self.executor) { await self.writeAll() } }
        }
    }

    /// The next group, or nil (and one writer fewer) when the queue is empty.
    private func nextBatch() -> [Pending]? {
        state.withLock { state in
            guard !state.queue.isEmpty else {
                state.writers -= 1
                return nil
            }
            let batch = Array(state.queue.prefix(Self.maxBatch))
            state.queue.removeFirst(batch.count)
            return batch
        }
    }

    private func writeAll() async {
        while let batch = nextBatch() {
            var seen = Set<String>()
            let deliveries = batch.map(\.delivery).filter { seen.insert($0.id).inserted }
            do {
                let (inserted, leftOver): (Set<String>, Int)
                do {
                    (inserted, leftOver) = try await database.transaction { db in try await write(deliveries, settling: true, on: db) }
                } catch {
                    if !(error is SettlementService.BatchConflict) {
                        settlement.logger.warning("settling webhook events on arrival failed; the processor will", metadata: ["error": "\(error)"])
                    }
                    (inserted, leftOver) = try await database.transaction { db in try await write(deliveries, settling: false, on: db) }
                }
                if leftOver > 0 { processor.notify() }
                var answered = Set<String>()
                for pending in batch {
                    // Only the first delivery of an id in the batch counts as new.
                    let id = pending.delivery.id
                    pending.continuation.resume(returning: inserted.contains(id) && answered.insert(id).inserted)
                }
            } catch {
                for pending in batch { pending.continuation.resume(throwing: error) }
            }
        }
    }

    /// Settles the events not stored yet where the batch path can (when `settling`), then stores them with their
    /// outcome, so an event is written once rather than stored pending and updated. Throws when settling goes wrong
    /// (a payment changed meanwhile, or, on PostgreSQL, a copy of an event stored by another transaction first):
    /// the caller rolls back and stores the group again without settling, all `pending` for the processor. (A
    /// savepoint would avoid the second transaction, but on SQLite it copies every page the settlement touches into
    /// a statement journal, on every batch, for a case that is rare.) Returns the ids stored and how many of them
    /// are pending.
    private func write(_ deliveries: [Delivery], settling: Bool, on db: any SQLDatabase) async throws -> (Set<String>, Int) {
        let now = clock.nowMillis()
        let repository = WebhookEventRepository()
        let stored = try await repository.existing(deliveries.map(\.id), on: db)
        let fresh = deliveries.filter { !stored.contains($0.id) }
        var events = fresh.map { WebhookEventRepository.New(id: $0.id, type: $0.type, payload: $0.payload) }
        var items: [SettlementService.BatchItem] = []
        for delivery in fresh where settling {
            if case .decoded(let report) = delivery.reading { items.append(.init(eventId: delivery.id, report: report)) }
        }
        var settled = 0
        if !items.isEmpty {
            let outcome = try await settlement.applyBatch(items, on: db)
            let verdicts = Dictionary(
                outcome.processed.map { ($0, "processed") } + outcome.ignored.map { ($0, "ignored") }, uniquingKeysWith: { a, _ in a })
            for index in events.indices { events[index].status = verdicts[events[index].id] ?? "pending" }
            settled = verdicts.count
        }
        let inserted = try await repository.insert(events, now: now, on: db)
        // A copy stored by another transaction since the check: what was settled for it must not stand.
        if settled > 0, inserted.count < events.count { throw SettlementService.BatchConflict() }
        return (inserted, inserted.count - settled)
    }
}
