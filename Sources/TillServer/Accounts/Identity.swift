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

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        guard Role(rawValue: role) != nil else {
            throw JWTError.claimVerificationFailure(failedClaim: nil, reason: "role")
        }
    }
}
