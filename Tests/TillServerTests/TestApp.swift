import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
@testable import TillServer

/// The databases the suites run on: SQLite always, PostgreSQL too when `TEST_DATABASE_URL` is set (CI sets it).
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    case postgres

    static let available: [Backend] =
        ProcessInfo.processInfo.environment["TEST_DATABASE_URL"] == nil ? [.sqlite] : [.sqlite, .postgres]

    var testDescription: String { rawValue }
}

let testJWTSecret = "test-secret-0123456789abcdef0123456789abcdef"
let adminEmail = "admin@till.test"
let adminPassword = "admin-password-1"

/// A JSON answer from the app.
struct Reply: Sendable {
    let status: Int
    let headers: HTTPFields
    let text: String

    var json: [String: any Sendable] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: any Sendable] ?? [:]
    }
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    var errorMessage: String? { (json["error"] as? [String: Any])?["message"] as? String }
    var data: [[String: Any]] { json["data"] as? [[String: Any]] ?? [] }
    subscript(key: String) -> Any? { json[key] }
    func string(_ key: String) -> String { json[key] as? String ?? "" }
    func int(_ key: String) -> Int { json[key] as? Int ?? Int.min }
}

/// A client bound to one running app, with helpers for the calls tests make again and again.
struct API: Sendable {
    let client: any TestClientProtocol

    func call(
        _ method: HTTPRequest.Method, _ path: String, token: String? = nil, body: String? = nil,
        headers extra: [String: String] = [:]
    ) async throws -> Reply {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let token { headers[.authorization] = "Bearer \(token)" }
        for (name, value) in extra { headers[HTTPField.Name(name)!] = value }
        let response = try await client.execute(
            uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        return Reply(status: Int(response.status.code), headers: response.headers, text: String(buffer: response.body))
    }

    func register(_ email: String = "user-\(UUID().uuidString.prefix(8))@example.com", password: String = "password-123") async throws -> (token: String, id: String) {
        let reply = try await call(.post, "/api/auth/register", body: #"{"email":"\#(email)","password":"\#(password)"}"#)
        #expect(reply.status == 201, "register: \(reply.text)")
        let user = reply["user"] as? [String: Any]
        return (reply.string("token"), user?["id"] as? String ?? "")
    }

    func adminToken() async throws -> String {
        let reply = try await call(.post, "/api/auth/login", body: #"{"email":"\#(adminEmail)","password":"\#(adminPassword)"}"#)
        #expect(reply.status == 200, "admin login: \(reply.text)")
        return reply.string("token")
    }

    func createProduct(admin: String, name: String = "Tea", unitAmount: Int = 1999, currency: String = "usd", inventory: Int = 10) async throws -> String {
        let reply = try await call(
            .post, "/api/products", token: admin,
            body: #"{"name":"\#(name)","unitAmount":\#(unitAmount),"currency":"\#(currency)","inventory":\#(inventory)}"#)
        #expect(reply.status == 201, "create product: \(reply.text)")
        return reply.string("id")
    }

    func inventory(_ productId: String) async throws -> Int {
        try await call(.get, "/api/products/\(productId)").int("inventory")
    }

    func order(_ token: String, _ items: [(String, Int)], key: String? = nil) async throws -> Reply {
        let body = "{\"items\":[" + items.map { #"{"productId":"\#($0.0)","quantity":\#($0.1)}"# }.joined(separator: ",") + "]}"
        return try await call(.post, "/api/orders", token: token, body: body, headers: key.map { ["Idempotency-Key": $0] } ?? [:])
    }
}

/// Starts Till on a fresh database of `backend` through the same composition root as `till serve`, runs `body`
/// against it in process, then shuts it down.
func withTill<T: Sendable>(
    _ backend: Backend, configure: (inout AppConfig) -> Void = { _ in },
    _ body: @Sendable (API, Till) async throws -> T
) async throws -> T {
    var config = try AppConfig(values: [
        "JWT_SECRET": testJWTSecret, "ADMIN_EMAIL": adminEmail, "ADMIN_PASSWORD": adminPassword,
    ])
    config.bcryptCost = 4
    let schema = try await PostgresSchema.create(for: backend)
    config.database = schema?.config ?? .sqliteMemory
    configure(&config)
    var logger = Logger(label: "till-test")
    logger.logLevel = .warning
    let till = try await Till.start(config: config, logger: logger)
    do {
        let result = try await till.application(logger: logger).test(.router) { client in
            try await body(API(client: client), till)
        }
        try await schema?.drop()
        return result
    } catch {
        try? await schema?.drop()
        throw error
    }
}

/// A schema of its own for each PostgreSQL test, so tests run in parallel without seeing each other's rows.
struct PostgresSchema: Sendable {
    let name: String
    let base: DatabaseConfig.PostgresSettings

    var config: DatabaseConfig {
        var settings = base
        settings.schema = name
        settings.maxConnections = 8
        return .postgres(settings)
    }

    static func create(for backend: Backend) async throws -> PostgresSchema? {
        guard backend == .postgres, let url = ProcessInfo.processInfo.environment["TEST_DATABASE_URL"],
            case .postgres(var settings) = try DatabaseConfig(url: url)
        else { return nil }
        settings.maxConnections = 1
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let admin = try await DatabaseOpener.open(.postgres(settings), logger: Logger(label: "pg-admin"))
        try await admin.withConnection { db in try await db.raw("CREATE SCHEMA \(ident: name)").run() }
        await admin.close()
        return PostgresSchema(name: name, base: settings)
    }

    func drop() async throws {
        var settings = base
        settings.maxConnections = 1
        let admin = try await DatabaseOpener.open(.postgres(settings), logger: Logger(label: "pg-admin"))
        try await admin.withConnection { db in try await db.raw("DROP SCHEMA \(ident: name) CASCADE").run() }
        await admin.close()
    }
}
