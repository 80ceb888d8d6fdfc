import Foundation

public enum OrderStatus: String, Sendable, Codable, CaseIterable {
    case pending = "PENDING"
    case paid = "PAID"
    case partiallyRefunded = "PARTIALLY_REFUNDED"
    case refunded = "REFUNDED"
    case cancelled = "CANCELLED"

    /// Paid for (refunds included): these never go back to pending or cancelled.
    public var isPaid: Bool { [.paid, .partiallyRefunded, .refunded].contains(self) }

    /// The order's status once `amountRefunded` of its `amount` has gone back.
    public static func afterRefund(_ amountRefunded: Int, of amount: Int) -> OrderStatus {
        amountRefunded >= amount ? .refunded : amountRefunded > 0 ? .partiallyRefunded : .paid
    }
}
