import Foundation

/// What a customer asks to buy, validated and normalised before any stock is touched.
public struct OrderLineRequest: Sendable, Equatable {
    public let productId: String
    public let quantity: Int

    public init(productId: String, quantity: Int) {
        self.productId = productId
        self.quantity = quantity
    }

    /// Validates lines and merges repeats of one product, keeping first-seen order, so one conditional
    /// stock update per product suffices.
    public static func normalise(_ lines: [OrderLineRequest]) throws(TillError) -> [OrderLineRequest] {
        if lines.isEmpty { throw .invalid("items must hold at least one item") }
        if lines.count > 100 { throw .invalid("items may hold at most 100 items") }
        var order: [String] = []
        var quantities: [String: Int] = [:]
        for (index, line) in lines.enumerated() {
            if line.productId.isEmpty { throw .invalid("items[\(index)].productId is required") }
            if line.quantity <= 0 { throw .invalid("items[\(index)].quantity must be a positive integer") }
            if line.quantity > 10_000 { throw .invalid("items[\(index)].quantity must be at most 10000") }
            if let existing = quantities[line.productId] {
                quantities[line.productId] = existing + line.quantity
            } else {
                order.append(line.productId)
                quantities[line.productId] = line.quantity
            }
        }
        return order.map { OrderLineRequest(productId: $0, quantity: quantities[$0]!) }
    }

    /// A canonical text of the request for idempotency fingerprints: the same items in the same order give the same
    /// text whatever the JSON's spacing or key order.
    public static func canonical(_ lines: [OrderLineRequest]) -> String {
        lines.map { "\($0.productId.count):\($0.productId)x\($0.quantity)" }.joined(separator: ";")
    }
}
