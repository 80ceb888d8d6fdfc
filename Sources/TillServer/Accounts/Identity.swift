import JWTKit
import TillCore

/// Who is calling, from a verified token.
struct Identity: Sendable {
    let userId: String
    let role: Role
    var isAdmin: Bool { role == .admin }
}

struct TokenClaims: JWTPayload {
    var sub: SubjectClaim
    var role: String
    var exp: ExpirationClaim
    /// When it was issued (absent from tokens made before Till recorded it): a token older than its user's
    /// `tokens_valid_after` is refused.
    var iat: IssuedAtClaim?

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        guard Role(rawValue: role) != nil else {
            throw JWTError.claimVerificationFailure(failedClaim: nil, reason: "role")
        }
    }
}
