import Foundation

/// What became of a stored webhook event.
public enum WebhookEventStatus: String, Sendable, Codable, CaseIterable {
    /// Stored, waiting for the processor.
    case pending
    /// Leased by a processor.
    case processing
    /// Applied.
    case processed
    /// About nothing Till knows, or of a type Till does not act on.
    case ignored
    /// Applying it failed; retried later, up to a limit.
    case failed
}
