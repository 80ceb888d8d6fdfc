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

    /// A page of Stripe's list, newest first: `limit` objects after the object `startingAfter`, or the `limit`
    /// objects just before (newer than) `endingBefore`, of those `include` keeps and created in `query.created`.
    func page(_ query: ListQuery, where include: (T) -> Bool = { _ in true }) throws(EmulatorError) -> (
        items: [T], hasMore: Bool
    ) where T: Dated {
        let newestFirst = order.reversed()[...]
        func position(_ id: String, _ param: String) throws(EmulatorError) -> ReversedCollection<[String]>.Index {
            guard let index = newestFirst.firstIndex(of: id) else {
                throw EmulatorError.notFound("object", id, param: param)
            }
            return index
        }
        func kept(_ id: String) -> T? {
            guard let item = boxes[id]?.value, query.createdFrom <= item.created && item.created <= query.createdTo,
                include(item)
            else { return nil }
            return item
        }
        if let before = query.endingBefore {
            // The page closest to the cursor among the newer objects: walked from the cursor towards the newest.
            let newer = newestFirst[..<(try position(before, "ending_before"))]
            var items: [T] = []
            for id in newer.reversed() {
                guard let item = kept(id) else { continue }
                if items.count == query.limit { return (items.reversed(), true) }
                items.append(item)
            }
            return (items.reversed(), false)
        }
        var ids = newestFirst
        if let after = query.startingAfter {
            ids = ids[ids.index(after: try position(after, "starting_after"))...]
        }
        var items: [T] = []
        for id in ids {
            guard let item = kept(id) else { continue }
            if items.count == query.limit { return (items, true) }
            items.append(item)
        }
        return (items, false)
    }
}

/// An object with Stripe's `created` (seconds), which lists filter on.
protocol Dated {
    var created: Int { get }
}

extension PaymentIntent: Dated {}
extension CheckoutSession: Dated {
    var created: Int { typed.created }
}
extension Product: Dated {}
extension Price: Dated {}
extension Refund: Dated {}
extension Charge: Dated {}
extension Customer: Dated {}
extension PaymentMethod: Dated {}
extension BalanceTransaction: Dated {}
extension Event: Dated {}
extension WebhookEndpoint: Dated {}
extension Subscription: Dated {}
extension Invoice: Dated {}
extension InvoicePayment: Dated {}
extension TestClock: Dated {}

/// What every list takes: `limit`, one cursor (`starting_after` or `ending_before`) and `created` (a timestamp, or
/// `created[gt|gte|lt|lte]`).
struct ListQuery: Sendable {
    var limit = 10
    var startingAfter: String?
    var endingBefore: String?
    /// `created` bounds, both included (an empty range when `from` is past `to`).
    var createdFrom = Int.min
    var createdTo = Int.max

    init() {}

    init(_ params: FormNode) throws(EmulatorError) {
        limit = try Params.limit(params["limit"])
        startingAfter = try Params.string(params["starting_after"], param: "starting_after")
        endingBefore = try Params.string(params["ending_before"], param: "ending_before")
        if startingAfter != nil, endingBefore != nil {
            throw .invalid(
                "ending_before", "You may only specify one of these parameters: ending_before, starting_after.",
                code: "parameter_invalid_string")
        }
        guard let node = params["created"] else { return }
        if node.string != nil {
            createdFrom = try Params.integer(node, param: "created")
            createdTo = createdFrom
            return
        }
        guard case .object(let pairs) = node else {
            throw .invalid("created", "Invalid created: a timestamp or a range", code: "parameter_invalid_integer")
        }
        for (key, value) in pairs {
            let bound = try Params.integer(value, param: "created[\(key)]")
            switch key {
            // Past either end of the integers nothing can match: the range is made empty (from past to).
            case "gt" where bound == Int.max, "lt" where bound == Int.min: (createdFrom, createdTo) = (Int.max, Int.min)
            case "gt": createdFrom = max(createdFrom, bound + 1)
            case "gte": createdFrom = max(createdFrom, bound)
            case "lt": createdTo = min(createdTo, bound - 1)
            case "lte": createdTo = min(createdTo, bound)
            default:
                throw .invalid(
                    "created[\(key)]", "Received unknown parameter: created[\(key)]", code: "parameter_unknown")
            }
        }
    }
}

extension ListQuery {
    /// A page of a list kept in its own order (a session's or an invoice's lines, a subscription's items), as Stripe
    /// serves them: `limit` items after the item `startingAfter`, or the `limit` just before `endingBefore`.
    func page<T>(of items: [T], id: (T) -> String?) throws(EmulatorError) -> (items: [T], hasMore: Bool) {
        func position(_ cursor: String, _ param: String) throws(EmulatorError) -> Int {
            guard let index = items.firstIndex(where: { id($0) == cursor }) else {
                throw .notFound("object", cursor, param: param)
            }
            return index
        }
        if let before = endingBefore {
            let end = try position(before, "ending_before")
            let start = max(0, end - limit)
            return (Array(items[start..<end]), start > 0)
        }
        var start = 0
        if let after = startingAfter { start = try position(after, "starting_after") + 1 }
        let end = min(items.count, start + limit)
        return (Array(items[start..<end]), end < items.count)
    }
}
