import Foundation
import HummingbirdBcrypt
import JWTKit
import Logging
import NIOPosix
import Synchronization
import TillCore

/// Registration, login and tokens. Passwords are bcrypt-hashed off the event loops.
struct AuthService: Sendable {
    let database: any Database
    let users: UserRepository
    let keys: JWTKeyCollection
    let limiter: LoginRateLimiter
    let registrations: RegistrationLimiter
    /// bcrypt runs on a small thread pool: registrations and logins each get a bounded share of its queue.
    let registrationHashing = HashingGate(capacity: 8)
    let loginHashing = HashingGate(capacity: 64)
    /// Users' current roles and the time their tokens must be issued after (`nil`: no such user), for
    /// `roleCacheMillis`.
    let roles = ExpiringCache<Access?>()
    let roleCacheMillis: Int
    /// The subjects (and issue times) of tokens that passed verification, until the tokens' own expiry.
    let verifiedTokens = ExpiringCache<Verified>()

    struct Access: Sendable {
        let role: Role
        let tokensValidAfter: Int
    }

    struct Verified: Sendable {
        let userId: String
        /// Milliseconds; 0 for a token that does not say.
        let issuedAt: Int
    }
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
        self.registrations = RegistrationLimiter(perHour: config.registrationsPerAddressPerHour)
        self.roleCacheMillis = config.roleCacheMillis
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

    func register(email rawEmail: String, password: String, address: String?) async throws -> Session {
        let email = Validation.normalizedEmail(rawEmail)
        if let problem = Validation.emailProblem(email) { throw TillError.invalid("email \(problem)") }
        if let problem = Validation.passwordProblem(password) { throw TillError.invalid("password \(problem)") }
        if let wait = registrations.admit(address: address, now: clock.nowMillis()) {
            throw TillError(
                .rateLimited, "Too many registrations from this address; try again later",
                retryAfterSeconds: wait / 1000 + 1)
        }
        // A taken email is refused before any hashing: the answer is the same 409 as after it, for no CPU.
        if try await database.withConnection({ db in try await users.find(email: email, on: db) }) != nil {
            throw Self.emailTaken
        }
        let hash = try await registrationHashing.run { try await hashPassword(password) }
        let user = User(
            id: IDs.make(), email: email, passwordHash: hash, role: .customer, planId: nil, creditBalance: 0,
            createdAt: clock.nowMillis())
        let inserted = try await database.withConnection { db in try await users.insert(user, on: db) }
        guard inserted else { throw Self.emailTaken }
        logger.info("user registered", metadata: ["user.id": "\(user.id)"])
        return Session(token: try await token(for: user), user: UserResponse(user: user))
    }

    static let emailTaken = TillError(.emailTaken, "An account with this email already exists")

    func login(email rawEmail: String, password: String, address: String?) async throws -> Session {
        let email = Validation.normalizedEmail(rawEmail)
        // No account has an email that is not valid: refused before it could become a limiter key of any size.
        guard Validation.emailProblem(email) == nil, password.utf8.count <= 1024 else {
            throw TillError(.unauthorized, "Email or password is wrong")
        }
        // Counted before bcrypt: 200 guesses at once get 5 checks, not 200.
        if let wait = limiter.admit(email: email, address: address, now: clock.nowMillis()) {
            let seconds = wait / 1000 + 1
            throw TillError(
                .rateLimited, "Too many login attempts; try again in \(seconds) seconds", retryAfterSeconds: seconds)
        }
        // bcrypt stops at a NUL byte: such a password could match a stored one that shares its beginning.
        guard !password.utf8.contains(0) else { throw TillError(.unauthorized, "Email or password is wrong") }
        // The token is dated from before the account is read: a promotion (or a new password) that commits while
        // bcrypt checks the old password makes the token older than the account's tokens_valid_after, so refused.
        let readAt = clock.nowMillis()
        let user = try await database.withConnection { db in try await users.find(email: email, on: db) }
        let ok = try await loginHashing.run {
            try await verifyPassword(password, hash: user?.passwordHash ?? dummyHash)
        }
        guard let user, ok else { throw TillError(.unauthorized, "Email or password is wrong") }
        limiter.succeeded(email: email, address: address)
        return Session(token: try await token(for: user, at: readAt), user: UserResponse(user: user))
    }

    func me(_ identity: Identity) async throws -> UserResponse {
        guard let user = try await database.withConnection({ db in try await users.find(id: identity.userId, on: db) })
        else { throw TillError.unauthorized }
        return UserResponse(user: user)
    }

    /// Makes sure an admin with this email and password exists (from ADMIN_EMAIL/ADMIN_PASSWORD or `till admin create`).
    func ensureAdmin(email rawEmail: String, password: String) async throws {
        let email = Validation.normalizedEmail(rawEmail)
        if let problem = Validation.emailProblem(email) { throw TillError.invalid("email \(problem)") }
        if let problem = Validation.passwordProblem(password) { throw TillError.invalid("password \(problem)") }
        let existing = try await database.withConnection { db in try await users.find(email: email, on: db) }
        // At every start with ADMIN_EMAIL: nothing to change, and the admin's tokens stay valid.
        if let existing, existing.role == .admin, try await verifyPassword(password, hash: existing.passwordHash) {
            return
        }
        let hash = try await hashPassword(password)
        let now = clock.nowMillis()
        try await database.withConnection { db in
            try await users.upsertAdmin(id: IDs.make(), email: email, passwordHash: hash, now: now, on: db)
        }
        // This instance forgets the old role at once; others within `roleCacheMillis`.
        if let existing {
            roles.remove(existing.id)
            // Instances started with different ADMIN_PASSWORDs would sign the admin out at every start.
            logger.warning(
                "an existing account was made an admin or given a new password; its earlier sessions end",
                metadata: ["user.id": "\(existing.id)"])
        }
    }

    /// The identity in a bearer token, or `nil` for anything not signed by this key, expired, or malformed, and for
    /// a user who no longer exists. The role is the one the database holds now (cached for five seconds), not the one
    /// in the token: a demoted admin loses the admin routes within seconds, not when the token expires.
    func identity(fromToken token: String) async throws -> Identity? {
        // Expiry as JWTKit checks it: against the system's clock.
        let wallNow = Int(Date().timeIntervalSince1970 * 1000)
        let verified: Verified
        if let known = verifiedTokens.value(for: token, now: wallNow) {
            verified = known
        } else {
            guard let claims = try? await keys.verify(token, as: TokenClaims.self) else { return nil }
            let issuedAt = claims.iat.map { Self.millis($0.value) } ?? 0
            verified = Verified(userId: claims.sub.value, issuedAt: issuedAt)
            verifiedTokens.store(verified, for: token, expiresAt: Self.millis(claims.exp.value), now: wallNow)
        }
        let userId = verified.userId
        let now = clock.nowMillis()
        let access: Access?
        if let cached = roles.value(for: userId, now: now) {
            access = cached
        } else {
            let user = try await database.withConnection { db in try await users.find(id: userId, on: db) }
            access = user.map { Access(role: $0.role, tokensValidAfter: $0.tokensValidAfter) }
            roles.store(access, for: userId, expiresAt: now + roleCacheMillis, now: now)
        }
        guard let access, verified.issuedAt >= access.tokensValidAfter else { return nil }
        return Identity(userId: userId, role: access.role)
    }

    /// A token for `user`, issued `at` (default now); never dated before the account's tokens_valid_after as read
    /// (another instance's clock may have set it ahead of ours).
    func token(for user: User, at time: Int? = nil) async throws -> String {
        let now = max(time ?? clock.nowMillis(), user.tokensValidAfter)
        let expiry = Date(timeIntervalSince1970: Double(now / 1000 + tokenLifetimeSeconds))
        return try await keys.sign(
            TokenClaims(
                sub: .init(value: user.id), role: user.role.rawValue, exp: .init(value: expiry),
                iat: .init(value: Date(timeIntervalSince1970: Double(now) / 1000))))
    }

    /// A claim's time in milliseconds, bounded so that no token's date can overflow.
    static func millis(_ date: Date) -> Int {
        let ms = date.timeIntervalSince1970 * 1000
        return ms.isFinite ? Int(min(max(ms.rounded(.up), 0), Double(Int.max / 2))) : 0
    }

    private func hashPassword(_ password: String) async throws -> String {
        let cost = bcryptCost
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    private func verifyPassword(_ password: String, hash: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
    }
}
