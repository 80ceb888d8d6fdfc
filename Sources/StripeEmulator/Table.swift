import StripeAPI

/// Objects of one kind, by id, remembering the order they were created in; lists are newest first.
///
/// Each object sits in a box of its own and the dictionary holds the reference: a Checkout Session is over a
/// kilobyte inline, and a dictionary of inline structs moves every one of them each time it grows and keeps up to
/// as much again in spare capacity.
struct Table<T: Sendable>: Sendable {
    private final class Box: Sendable {
        let value: T
        init(_ value: T) { self.value = value }
    }

    private var boxes: [String: Box] = [:]
    private var order: [String] = []

    subscript(id: String) -> T? {
        get { boxes[id]?.value }
        set {
            if let newValue {
                if boxes.updateValue(Box(newValue), forKey: id) == nil { order.append(id) }
            } else if boxes.removeValue(forKey: id) != nil {
                order.removeAll { $0 == id }
            }
        }
    }

    var count: Int { boxes.count }

    /// Every object, in no particular order.
    var values: some Sequence<T> { boxes.values.lazy.map(\.value) }

    /// Every object with its id, in no particular order.
    var entries: some Sequence<(id: String, value: T)> { boxes.lazy.map { (id: $0.key, value: $0.value.value) } }

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
            guard let item = boxes[id]?.value, include(item) else { continue }
            if items.count == limit {
                hasMore = true
                break
            }
            items.append(item)
        }
        return (items, hasMore)
    }
}
