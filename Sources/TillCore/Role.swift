import Foundation

public enum Role: String, Sendable, Codable, CaseIterable {
    case customer
    case admin
}
