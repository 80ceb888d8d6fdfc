import DequeModule
import SQLKit
import Synchronization
import TillCore

/// Stores verified webhook events with group commit, and settles them in the same transaction.
///
/// Events that arrive while a write is in flight are written together in the next transaction, so concurrent
/// deliveries share one commit. The new events go through the settlement applier in that transaction and are stored
/// with their outcome; those it defers (a refund before its success) are stored `pending` for the processor, which
/// is woken for them. Each caller gets its answer only after the commit,
/// so an acknowledged event is never lost, and a settlement that fails never fails the storing: the transaction is
/// rolled back and the group stored `pending` in a second one, for the processor.
final class WebhookInbox: Sendable {
    /// What the controller read from the event.
    enum Reading: Sendable {
        case decoded(StripeFacts.Subject?)
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
    /// Transactions writing at once. SQLite has one writer. On PostgreSQL two batches commit side by side: more lanes
    /// make smaller batches, and PostgreSQL's cost is per statement (docs/performance.md has the figures).
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
                let written: Written
                do {
                    written = try await database.transaction { db in try await write(deliveries, settling: true, on: db)
                    }
                } catch {
                    if !(error is Conflict || error is SettlementService.Conflict) {
                        settlement.logger.warning(
                            "settling webhook events on arrival failed; the processor will",
                            metadata: ["error": "\(error)"])
                    }
                    written = try await database.transaction { db in
                        try await write(deliveries, settling: false, on: db)
                    }
                }
                if written.pending > 0 || (written.outcome?.woken ?? 0) > 0 { processor.notify() }
                if let outcome = written.outcome, outcome.leavesWork {
                    // Money that must go back, declines to read: at Stripe after the commit, without holding up the
                    // acknowledgements.
                    Task { [settlement, processor] in
                        if await settlement.afterCommit(outcome) > 0 { processor.notify() }
                    }
                }
                let inserted = written.ids
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

    /// A copy of an event was stored by another transaction between the check and the insert: what was settled for
    /// it in this transaction must not stand.
    struct Conflict: Error {}

    struct Written {
        /// The ids stored now.
        var ids: Set<String>
        /// How many of them wait for the processor.
        var pending: Int
        /// What settling them left to do after the commit.
        var outcome: SettlementService.Outcome?
    }

    /// Settles the events not stored yet (when `settling`), through the one applier, then stores them with their
    /// outcome, so an event is written once rather than stored pending and updated. Events the applier defers are
    /// stored `pending` for the processor. Throws when settling goes wrong (a payment changed meanwhile, or, on
    /// PostgreSQL, a copy of an event stored by another transaction first): the caller rolls back and stores the
    /// group again without settling, all `pending`. (A savepoint would avoid the second transaction, but on SQLite it
    /// copies every page the settlement touches into a statement journal, on every batch, for a case that is rare.)
    private func write(_ deliveries: [Delivery], settling: Bool, on db: any SQLDatabase) async throws -> Written {
        let now = clock.nowMillis()
        let repository = WebhookEventRepository()
        let stored = try await repository.existing(deliveries.map(\.id), on: db)
        var events = deliveries.filter { !stored.contains($0.id) }.map {
            (delivery: $0, row: WebhookEventRepository.New(id: $0.id, type: $0.type, payload: $0.payload))
        }
        var settled = 0
        var settledOutcome: SettlementService.Outcome?
        let readable = events.indices.compactMap { index -> (Int, SettlementService.Item)? in
            guard settling, case .decoded(let report) = events[index].delivery.reading else { return nil }
            return (index, SettlementService.Item(eventId: events[index].delivery.id, subject: report))
        }
        if !readable.isEmpty {
            let outcome = try await settlement.apply(readable.map(\.1), on: db)
            for ((index, _), verdict) in zip(readable, outcome.verdicts) {
                switch verdict {
                case .processed: events[index].row.status = .processed
                case .ignored: events[index].row.status = .ignored
                case .waiting(let intentId):
                    events[index].row.status = .ignored
                    events[index].row.waitsFor = intentId
                case .deferred: continue
                }
                settled += 1
            }
            settledOutcome = outcome
        }
        let inserted = try await repository.insert(events.map(\.row), now: now, on: db)
        if settled > 0, inserted.count < events.count { throw Conflict() }
        return Written(ids: inserted, pending: inserted.count - settled, outcome: settledOutcome)
    }
}
