import SQLKit
import TillCore

struct User: Sendable {
    let id: String
    let email: String
    let passwordHash: String
    let role: Role
    let planId: String?
    let creditBalance: Int
    let createdAt: Int
    /// The user's Stripe Customer, made the first time they pay for a subscription or open the billing portal.
    var stripeCustomerId: String?
    /// Tokens issued before this (milliseconds) are refused: set when the account is made an admin or its password
    /// is set by the operator.
    var tokensValidAfter = 0

    init(
        id: String, email: String, passwordHash: String, role: Role, planId: String?, creditBalance: Int, createdAt: Int
    ) {
        self.id = id
        self.email = email
        self.passwordHash = passwordHash
        self.role = role
        self.planId = planId
        self.creditBalance = creditBalance
        self.createdAt = createdAt
    }

    init(row: any SQLRow) throws {
        id = try row.string("id")
        email = try row.string("email")
        passwordHash = try row.string("password_hash")
        role = try row.value("role")
        planId = try row.optionalString("plan_id")
        creditBalance = try row.int("credit_balance")
        createdAt = try row.int("created_at")
        stripeCustomerId = try row.optionalString("stripe_customer_id")
        tokensValidAfter = try row.int("tokens_valid_after")
    }

    static let columns =
        "id, email, password_hash, role, plan_id, credit_balance, created_at, stripe_customer_id, tokens_valid_after"
}

/// `user` in the contract. The password hash never leaves the server.
struct UserResponse: Encodable, Sendable {
    let user: User

    enum CodingKeys: String, CodingKey { case id, email, role, planId, creditBalance, stripeCustomerId, createdAt }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(user.id, forKey: .id)
        try c.encode(user.email, forKey: .email)
        try c.encode(user.role.rawValue, forKey: .role)
        try c.encode(user.planId, forKey: .planId)
        try c.encode(user.creditBalance, forKey: .creditBalance)
        try c.encode(user.stripeCustomerId, forKey: .stripeCustomerId)
        try c.encode(Timestamps.rfc3339(user.createdAt), forKey: .createdAt)
    }
}
