/// Stores verified webhook events with group commit: events that arrive while a write is in flight are written
/// together in the next transaction, so concurrent deliveries share one commit. Each caller gets its answer only
/// after its event is committed, so an acknowledged event is never lost.
actor WebhookInbox {
    struct Pending {
        let id: String
        let type: String
        let payload: String
        let continuation: CheckedContinuation<Bool, any Error>
    }

    let database: any Database
    let clock: TillClock
    private var queue: [Pending] = []
    private var writing = false
    static let maxBatch = 500

    init(database: any Database, clock: TillClock) {
        self.database = database
        self.clock = clock
    }

    /// `true` when the event is new, `false` for a duplicate delivery; throws when it could not be stored.
    func store(id: String, type: String, payload: String) async throws -> Bool {
        try await withCheckedThrowingContinuation { continuation in
            queue.append(Pending(id: id, type: type, payload: payload, continuation: continuation))
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
            let now = clock.nowMillis()
            do {
                var seen = Set<String>()
                let rows = batch.filter { seen.insert($0.id).inserted }
                let inserted = try await database.transaction { db in
                    try await WebhookEventRepository().insert(rows.map { ($0.id, $0.type, $0.payload) }, now: now, on: db)
                }
                var answered = Set<String>()
                for pending in batch {
                    // Only the first delivery of an id in the batch counts as new.
                    pending.continuation.resume(returning: inserted.contains(pending.id) && answered.insert(pending.id).inserted)
                }
            } catch {
                for pending in batch { pending.continuation.resume(throwing: error) }
            }
        }
        writing = false
    }
}
