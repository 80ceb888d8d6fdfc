/// Stores verified webhook events with group commit and, on SQLite, settles them in the same transaction.
///
/// Events that arrive while a write is in flight are written together in the next transaction, so concurrent
/// deliveries share one commit. On SQLite the new events are also applied in that transaction where the batch path
/// can (a success for a payment awaiting it, or an event about nothing Till knows) and stored with their outcome;
/// the rest are stored `pending` for the processor, which is woken for them. Each caller gets its answer only after the commit, so an acknowledged event
/// is never lost, and a settlement that fails never fails the storing: it is rolled back to a savepoint and left to
/// the processor.
actor WebhookInbox {
    /// What the controller read from the event.
    enum Reading: Sendable {
        case decoded(StripeFacts.Report?)
        /// Not read on arrival (the inbox does not settle, or the event could not be decoded): the processor reads
        /// the stored payload, and records the event as failed if it cannot.
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
    /// On SQLite, with one writer, settling in the inbox's transaction saves a second transaction and a re-read of
    /// every event. On PostgreSQL the processor's workers settle, on connections of their own beside the inbox's
    /// commits (settling here measured slower there), so the controller need not decode more than the event's head.
    nonisolated let settlesOnArrival: Bool
    private var queue: [Pending] = []
    private var writing = false
    static let maxBatch = 500

    init(database: any Database, settlement: SettlementService, processor: WebhookProcessor, clock: TillClock) {
        self.database = database
        self.settlement = settlement
        self.processor = processor
        self.clock = clock
        settlesOnArrival = database.kind == .sqlite
    }

    /// `true` when the event is new, `false` for a duplicate delivery; throws when it could not be stored.
    func store(_ delivery: Delivery) async throws -> Bool {
        try await withCheckedThrowingContinuation { continuation in
            queue.append(Pending(delivery: delivery, continuation: continuation))
            if !writing {
                writing = true
                Task { await self.writeAll() }
            }
        }
    }

    private func writeAll() async {
        while !queue.isEmpty {
            let batch = Array(queue.prefix(Self.maxBatch))
            queue.removeFirst(batch.count)
            var seen = Set<String>()
            let deliveries = batch.map(\.delivery).filter { seen.insert($0.id).inserted }
            do {
                let (inserted, leftOver) = try await database.transaction { db in
                    let now = clock.nowMillis()
                    let repository = WebhookEventRepository()
                    var events = deliveries.map { WebhookEventRepository.New(id: $0.id, type: $0.type, payload: $0.payload) }
                    guard settlesOnArrival else {
                        let inserted = try await repository.insert(events, now: now, on: db)
                        return (inserted, inserted.count)
                    }
                    // One writer: the events not stored yet are settled first and then stored with their outcome,
                    // so an event is written once rather than stored pending and updated.
                    let stored = try await repository.existing(deliveries.map(\.id), on: db)
                    events.removeAll { stored.contains($0.id) }
                    var items: [SettlementService.BatchItem] = []
                    for delivery in deliveries where !stored.contains(delivery.id) {
                        if case .decoded(let report) = delivery.reading { items.append(.init(eventId: delivery.id, report: report)) }
                    }
                    let outcome = try await settlement.settleInline(items, on: db)
                    let verdicts = Dictionary(
                        outcome.processed.map { ($0, "processed") } + outcome.ignored.map { ($0, "ignored") }, uniquingKeysWith: { a, _ in a })
                    for index in events.indices { events[index].status = verdicts[events[index].id] ?? "pending" }
                    let inserted = try await repository.insert(events, now: now, on: db)
                    return (inserted, inserted.count - verdicts.count)
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
        writing = false
    }
}
