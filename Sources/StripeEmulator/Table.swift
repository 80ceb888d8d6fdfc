import StripeAPI

/// Objects of one kind, by id, remembering the order they were created in; lists are newest first.
struct Table<T: Sendable>: Sendable {
    private(set) var byId: [String: T] = [:]
    private var order: [String] = []

    subscript(id: String) -> T? {
        get { byId[id] }
        set {
            if byId[id] == nil, newValue != nil { order.append(id) }
            byId[id] = newValue
            if newValue == nil { order.removeAll { $0 == id } }
        }
    }

    var count: Int { byId.count }

    /// A page of Stripe's list: newest first, `limit` (1–100, default 10), after the object `startingAfter`.
    func page(limit: Int, startingAfter: String?, where include: (T) -> Bool = { _ in true }) throws(EmulatorError) -> (
        items: [T], hasMore: Bool
    ) {
        var ids = order.reversed()[...]
        if let after = startingAfter {
            guard let index = ids.firstIndex(of: after) else {
                throw EmulatorError.notFound("object", after, param: "starting_after")
            }
            ids = ids[ids.index(after: index)...]
        }
        var items: [T] = []
        var hasMore = false
        for id in ids {
            guard let item = byId[id], include(item) else { continue }
            if items.count == limit {
                hasMore = true
                break
            }
            items.append(item)
        }
        return (items, hasMore)
    }
}
