import Foundation
import HummingbirdBcrypt
import JWTKit
import Logging
import NIOPosix
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
        guard Role(rawValue: role) != nil else { throw JWTError.claimVerificationFailure(failedClaim: nil, reason: "role") }
    }
}

/// Registration, login and tokens. Passwords are bcrypt-hashed off the event loops.
struct AuthService: Sendable {
    let database: any Database
    let users: UserRepository
    let keys: JWTKeyCollection
    let limiter: LoginRateLimiter
    let clock: TillClock
    let bcryptCost: UInt8
    let tokenLifetimeSeconds: Int
    let logger: Logger
    /// Checked when the email is unknown, so a login takes as long whether or not the account exists.
    let dummyHash: String

    init(database: any Database, config: AppConfig, limiter: LoginRateLimiter, clock: TillClock, logger: Logger) async {
        self.database = database
        self.users = UserRepository()
        self.keys = JWTKeyCollection()
        self.limiter = limiter
        self.clock = clock
        self.bcryptCost = config.bcryptCost
        self.tokenLifetimeSeconds = config.tokenLifetimeSeconds
        self.logger = logger
        self.dummyHash = Bcrypt.hash("till-timing-equaliser", cost: config.bcryptCost)
        await keys.add(hmac: HMACKey(from: config.jwtSecret), digestAlgorithm: .sha256)
    }

    struct Session: Encodable, Sendable {
        let token: String
        let user: UserResponse
    }

    func register(email rawEmail: String, password: String) async throws -> Session {
        let email = rawEmail.trimmingCharacters(in: .whitespaces).lowercased()
        if let problem = Validation.emailProblem(email) { throw TillError.invalid("email \(problem)") }
        if let problem = Validation.passwordProblem(password) { throw TillError.invalid("password \(problem)") }
        let hash = try await hashPassword(password)
        let user = User(
            id: IDs.make(), email: email, passwordHash: hash, role: .customer, planId: nil, creditBalance: 0,
            createdAt: clock.nowMillis())
        let inserted = try await database.withConnection { db in try await users.insert(user, on: db) }
        guard inserted else { throw TillError(.emailTaken, "An account with this email already exists") }
        logger.info("user registered", metadata: ["user.id": "\(user.id)"])
        return Session(token: try await token(for: user), user: UserResponse(user: user))
    }

    func login(email rawEmail: String, password: String, address: String?) async throws -> Session {
        let email = rawEmail.trimmingCharacters(in: .whitespaces).lowercased()
        let now = clock.nowMillis()
        if let wait = await limiter.lockedFor(LoginRateLimiter.keys(email: email, address: address), now: now) {
            throw TillError(.rateLimited, "Too many failed logins; try again in \(wait / 1000 + 1) seconds")
        }
        let user = try await database.withConnection { db in try await users.find(email: email, on: db) }
        let ok = try await verifyPassword(password, hash: user?.passwordHash ?? dummyHash)
        guard let user, ok else {
            await limiter.recordFailure(email: email, address: address, now: now)
            throw TillError(.unauthorized, "Email or password is wrong")
        }
        await limiter.recordSuccess(email: email)
        return Session(token: try await token(for: user), user: UserResponse(user: user))
    }

    func me(_ identity: Identity) async throws -> UserResponse {
        guard let user = try await database.withConnection({ db in try await users.find(id: identity.userId, on: db) })
        else { throw TillError.unauthorized }
        return UserResponse(user: user)
    }

    /// Makes sure an admin with this email and password exists (from ADMIN_EMAIL/ADMIN_PASSWORD or `till admin create`).
    func ensureAdmin(email rawEmail: String, password: String) async throws {
        let email = rawEmail.trimmingCharacters(in: .whitespaces).lowercased()
        if let problem = Validation.emailProblem(email) { throw TillError.invalid("email \(problem)") }
        if let problem = Validation.passwordProblem(password) { throw TillError.invalid("password \(problem)") }
        let hash = try await hashPassword(password)
        let now = clock.nowMillis()
        try await database.withConnection { db in
            try await users.upsertAdmin(id: IDs.make(), email: email, passwordHash: hash, now: now, on: db)
        }
    }

    /// The identity in a bearer token, or `nil` for anything not signed by this key, expired, or malformed.
    func identity(fromToken token: String) async -> Identity? {
        guard let claims = try? await keys.verify(token, as: TokenClaims.self),
            let role = Role(rawValue: claims.role)
        else { return nil }
        return Identity(userId: claims.sub.value, role: role)
    }

    func token(for user: User) async throws -> String {
        let expiry = Date(timeIntervalSince1970: Double(clock.nowMillis() / 1000 + tokenLifetimeSeconds))
        return try await keys.sign(TokenClaims(sub: .init(value: user.id), role: user.role.rawValue, exp: .init(value: expiry)))
    }

    private func hashPassword(_ password: String) async throws -> String {
        let cost = bcryptCost
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    private func verifyPassword(_ password: String, hash: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
    }
}
