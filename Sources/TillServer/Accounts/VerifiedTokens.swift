import Foundation
import Synchronization

/// Tokens whose signature and claims were checked, with their subject and expiry, so that a client's next requests
/// with the same token skip the HMAC and the JSON decoding of JWTKit (3% of a checkout's server CPU before; see
/// docs/performance.md). An entry serves only until the token's own expiry, checked against the clock JWTKit uses;
/// only tokens that passed verification are kept, and the table is bounded.
final class VerifiedTokens: Sendable {
    let maxEntries = 100_000
    private let entries = Mutex<[String: (userId: String, expiresAt: Double)]>([:])

    /// The subject of a token verified before and not expired now.
    func subject(of token: String, now: Double = Date().timeIntervalSince1970) -> String? {
        entries.withLock { entries in
            guard let entry = entries[token] else { return nil }
            guard now < entry.expiresAt else {
                entries[token] = nil
                return nil
            }
            return entry.userId
        }
    }

    func store(_ token: String, userId: String, expiresAt: Date, now: Double = Date().timeIntervalSince1970) {
        let expiry = expiresAt.timeIntervalSince1970
        guard now < expiry else { return }
        entries.withLock { entries in
            entries.makeRoom(limit: maxEntries) { now < $0.expiresAt }
            entries[token] = (userId, expiry)
        }
    }
}
