import Foundation

public enum OrderStatus: String, Sendable, Codable, CaseIterable {
    case pending = "PENDING"
    case paid = "PAID"
    case partiallyRefunded = "PARTIALLY_REFUNDED"
    case refunded = "REFUNDED"
    case cancelled = "CANCELLED"
}

public enum Role: String, Sendable, Codable, CaseIterable {
    case customer
    case admin
}
