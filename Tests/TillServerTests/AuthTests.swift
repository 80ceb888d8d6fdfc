import Foundation
import JWTKit
import Logging
import Testing

@_spi(Bench) @testable import TillServer

@Suite("Auth")
struct AuthTests {
    @Test("register, log in and read me", arguments: Backend.available)
    func registerLoginMe(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let reply = try await api.call(
                .post, "/api/auth/register", body: #"{"email":"Ann@Example.com","password":"secret-pass"}"#)
            #expect(reply.status == 201)
            let user = try #require(reply["user"] as? [String: Any])
            #expect(user["email"] as? String == "ann@example.com")
            #expect(user["role"] as? String == "customer")
            #expect(user["creditBalance"] as? Int == 0)
            #expect(user.keys.contains("planId"))
            #expect(!reply.text.contains("password"))

            let login = try await api.call(
                .post, "/api/auth/login", body: #"{"email":"ann@example.com","password":"secret-pass"}"#)
            #expect(login.status == 200)
            let me = try await api.call(.get, "/api/auth/me", token: login.string("token"))
            #expect(me.status == 200)
            #expect(me.string("id") == user["id"] as? String)
        }
    }

    @Test(
        "a taken email is 409 email_taken, whatever its case or Unicode form; either form signs in",
        arguments: Backend.available)
    func emailTaken(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            _ = try await api.register("dup@example.com")
            let again = try await api.call(
                .post, "/api/auth/register", body: #"{"email":"DUP@example.com","password":"password-123"}"#)
            #expect(again.status == 409)
            #expect(again.errorCode == "email_taken")
            // "josé" with a combining accent (e + U+0301), then with the composed "é" (U+00E9).
            _ = try await api.register("jose\u{301}@example.com")
            let composed = try await api.call(
                .post, "/api/auth/register", body: #"{"email":"jos\u00e9@example.com","password":"password-123"}"#)
            #expect(composed.status == 409 && composed.errorCode == "email_taken")
            let login = try await api.call(
                .post, "/api/auth/login", body: #"{"email":"jos\u00e9@example.com","password":"password-123"}"#)
            #expect(login.status == 200)
        }
    }

    @Test(
        "an account stored before emails were kept in NFC is rewritten by the migration and signs in; a twin is left",
        arguments: Backend.available)
    func emailsMigrateToNFC(backend: Backend) async throws {
        try await withTill(backend) { api, till in
            let (_, decomposed) = try await api.register("zoe-\(UUID().uuidString.prefix(6))@example.com")
            let (_, twin) = try await api.register("ana@example.com")
            // As stored before: "zoë" with a combining diaeresis, and a twin of an account that exists composed.
            _ = try await api.register("anñ@example.com")
            try await till.database.withConnection { db in
                try await db.raw(
                    "UPDATE users SET email = \(bind: "zoe\u{308}@example.com") WHERE id = \(bind: decomposed)"
                )
                .run()
                try await db.raw("UPDATE users SET email = \(bind: "ann\u{303}@example.com") WHERE id = \(bind: twin)")
                    .run()
                try await Migrations.normalizeEmails(db, till.database.kind, Logger(label: "test"))
            }
            let login = try await api.call(
                .post, "/api/auth/login", body: #"{"email":"zo\u00eb@example.com","password":"password-123"}"#)
            #expect(login.status == 200)
            let emails = try await till.database.withConnection { db in
                try await db.raw("SELECT email FROM users WHERE id = \(bind: twin)").all(
                    decodingColumn: "email", as: String.self)
            }
            // Compared as bytes: Swift's `==` holds the two forms equal.
            #expect(emails.map { Array($0.utf8) } == [Array("ann\u{303}@example.com".utf8)])
        }
    }

    @Test(
        "bad registrations are 400 with the field named",
        arguments: [
            (#"{"email":"nope","password":"password-123"}"#, "email"),
            (#"{"email":"a@b.co","password":"short"}"#, "password"),
            (#"{"email":"a@b.co"}"#, "password"),
            (#"{"email":42,"password":"password-123"}"#, "email"),
            (#"{"email":"a@b.co","password":"password-123""#, "JSON"),
            ("", "JSON"),
        ])
    func badRegistration(body: String, field: String) async throws {
        try await withTill(.sqlite) { api, _ in
            let reply = try await api.call(.post, "/api/auth/register", body: body)
            #expect(reply.status == 400)
            #expect(reply.errorCode == "invalid_request")
            #expect(reply.errorMessage?.contains(field) == true, "\(reply.text)")
        }
    }

    @Test("a wrong password is 401 and does not say whether the email exists")
    func wrongPassword() async throws {
        try await withTill(.sqlite) { api, _ in
            _ = try await api.register("known@example.com")
            let wrong = try await api.call(
                .post, "/api/auth/login", body: #"{"email":"known@example.com","password":"wrong-pass"}"#)
            let unknown = try await api.call(
                .post, "/api/auth/login", body: #"{"email":"nobody@example.com","password":"wrong-pass"}"#)
            #expect(wrong.status == 401)
            #expect(unknown.status == 401)
            #expect(wrong.errorMessage == unknown.errorMessage)
        }
    }

    @Test("repeated failed logins for one email answer 429 rate_limited, even with the right password")
    func bruteForce() async throws {
        try await withTill(.sqlite) { api, _ in
            _ = try await api.register("target@example.com", password: "right-password")
            for _ in 0..<5 {
                let reply = try await api.call(
                    .post, "/api/auth/login", body: #"{"email":"target@example.com","password":"guess-1234"}"#)
                #expect(reply.status == 401)
            }
            let locked = try await api.call(
                .post, "/api/auth/login", body: #"{"email":"target@example.com","password":"right-password"}"#)
            #expect(locked.status == 429)
            #expect(locked.errorCode == "rate_limited")
            // Another account is not locked by these failures.
            _ = try await api.register("other@example.com", password: "right-password")
            let other = try await api.call(
                .post, "/api/auth/login", body: #"{"email":"other@example.com","password":"right-password"}"#)
            #expect(other.status == 200)
        }
    }

    @Test("the configured admin exists after startup and has the admin role", arguments: Backend.available)
    func adminBootstrap(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let token = try await api.adminToken()
            let me = try await api.call(.get, "/api/auth/me", token: token)
            #expect(me.string("role") == "admin")
        }
    }

    enum Forgery: String, CaseIterable, Sendable {
        case missing, garbage, algNone, otherKey, expired, editedRole, unknownRole
    }

    @Test("forged or expired tokens are 401", arguments: Forgery.allCases)
    func forgedTokens(forgery: Forgery) async throws {
        try await withTill(.sqlite) { api, _ in
            let (valid, userId) = try await api.register()
            let token: String?
            switch forgery {
            case .missing: token = nil
            case .garbage: token = "not.a.jwt"
            case .algNone:
                token =
                    Self.b64(#"{"alg":"none","typ":"JWT"}"#) + "."
                    + Self.b64(#"{"sub":"\#(userId)","role":"admin","exp":4102444800}"#) + "."
            case .otherKey:
                token = try await Self.sign(
                    sub: userId, role: "customer", exp: Date().addingTimeInterval(3600),
                    key: "another-secret-0123456789abcdef0123456789")
            case .expired:
                token = try await Self.sign(
                    sub: userId, role: "customer", exp: Date().addingTimeInterval(-60), key: testJWTSecret)
            case .editedRole:
                let parts = valid.split(separator: ".").map(String.init)
                token =
                    parts[0] + "." + Self.b64(#"{"sub":"\#(userId)","role":"admin","exp":4102444800}"#) + "." + parts[2]
            case .unknownRole:
                token = try await Self.sign(
                    sub: userId, role: "root", exp: Date().addingTimeInterval(3600), key: testJWTSecret)
            }
            let me = try await api.call(.get, "/api/auth/me", token: token)
            #expect(me.status == 401)
            #expect(me.errorCode == "unauthorized")
            let orders = try await api.call(.get, "/api/orders", token: token)
            #expect(orders.status == 401)
            // The genuine token still works.
            #expect(try await api.call(.get, "/api/auth/me", token: valid).status == 200)
        }
    }

    @Test("a token that worked stops working when it expires, though its check was remembered")
    func rememberedTokenExpires() async throws {
        try await withTill(.sqlite) { api, _ in
            let (_, userId) = try await api.register()
            let token = try await Self.sign(
                sub: userId, role: "customer", exp: Date().addingTimeInterval(2), key: testJWTSecret)
            #expect(try await api.call(.get, "/api/auth/me", token: token).status == 200)
            #expect(try await api.call(.get, "/api/auth/me", token: token).status == 200)
            try await Task.sleep(for: .milliseconds(2300))
            let late = try await api.call(.get, "/api/auth/me", token: token)
            #expect(late.status == 401)
            #expect(late.errorCode == "unauthorized")
        }
    }

    @Test("remembered tokens serve until their expiry only, and expired ones are not kept")
    func verifiedTokensExpiry() {
        let tokens = ExpiringCache<String>()
        tokens.store("u1", for: "a", expiresAt: 100_000, now: 50_000)
        tokens.store("u2", for: "b", expiresAt: 40_000, now: 50_000)
        #expect(tokens.value(for: "a", now: 99_999) == "u1")
        #expect(tokens.value(for: "a", now: 100_000) == nil)
        #expect(tokens.value(for: "a", now: 60_000) == nil)  // dropped once seen expired
        #expect(tokens.value(for: "b", now: 30_000) == nil)
        #expect(tokens.value(for: "c", now: 30_000) == nil)
    }

    static func b64(_ text: String) -> String {
        Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func sign(sub: String, role: String, exp: Date, key: String) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: key), digestAlgorithm: .sha256)
        struct Claims: JWTPayload {
            let sub: SubjectClaim
            let role: String
            let exp: ExpirationClaim
            func verify(using algorithm: some JWTAlgorithm) throws {}
        }
        return try await keys.sign(Claims(sub: .init(value: sub), role: role, exp: .init(value: exp)))
    }
}
