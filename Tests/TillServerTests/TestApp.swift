import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

@_spi(Bench) @testable import TillServer

#if canImport(Glibc)
    import Glibc
#endif

/// The databases the suites run on: SQLite always, PostgreSQL too when `TEST_DATABASE_URL` is set (CI sets it).
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    case postgres

    static let available: [Backend] =
        (ProcessInfo.processInfo.environment["TEST_DATABASE_URL"] ?? "").isEmpty ? [.sqlite] : [.sqlite, .postgres]

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
    let baseURL: String

    func call(
        _ method: HTTPRequest.Method, _ path: String, token: String? = nil, body: String? = nil,
        headers extra: [String: String] = [:]
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .init(rawValue: method.rawValue)
        request.headers.add(name: "Content-Type", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        var fields = HTTPFields()
        for header in response.headers {
            fields.append(HTTPField(name: HTTPField.Name(header.name)!, value: header.value))
        }
        return Reply(status: Int(response.status.code), headers: fields, text: String(buffer: bytes))
    }

    /// Form-encoded, for the embedded Stripe emulator under /_stripe.
    func stripe(_ method: HTTPRequest.Method, _ path: String, form: String = "", idempotencyKey: String? = nil)
        async throws -> Reply
    {
        var request = HTTPClientRequest(
            url: baseURL + "/_stripe" + path + (method == .get && !form.isEmpty ? "?" + form : ""))
        request.method = .init(rawValue: method.rawValue)
        request.headers.add(name: "Authorization", value: "Bearer sk_test_tests")
        if let idempotencyKey { request.headers.add(name: "Idempotency-Key", value: idempotencyKey) }
        if method != .get {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: form))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return Reply(status: Int(response.status.code), headers: [:], text: String(buffer: bytes))
    }

    func register(
        _ email: String = "user-\(UUID().uuidString.prefix(8))@example.com", password: String = "password-123"
    ) async throws -> (token: String, id: String) {
        let reply = try await call(
            .post, "/api/auth/register", body: #"{"email":"\#(email)","password":"\#(password)"}"#)
        #expect(reply.status == 201, "register: \(reply.text)")
        let user = reply["user"] as? [String: Any]
        return (reply.string("token"), user?["id"] as? String ?? "")
    }

    func adminToken() async throws -> String {
        let reply = try await call(
            .post, "/api/auth/login", body: #"{"email":"\#(adminEmail)","password":"\#(adminPassword)"}"#)
        #expect(reply.status == 200, "admin login: \(reply.text)")
        return reply.string("token")
    }

    func createProduct(
        admin: String, name: String = "Tea", unitAmount: Int = 1999, currency: String = "usd", inventory: Int = 10
    ) async throws -> String {
        let reply = try await call(
            .post, "/api/products", token: admin,
            body:
                #"{"name":"\#(name)","unitAmount":\#(unitAmount),"currency":"\#(currency)","inventory":\#(inventory)}"#)
        #expect(reply.status == 201, "create product: \(reply.text)")
        return reply.string("id")
    }

    func inventory(_ productId: String) async throws -> Int {
        try await call(.get, "/api/products/\(productId)").int("inventory")
    }

    func order(_ token: String, _ items: [(String, Int)], key: String? = nil) async throws -> Reply {
        let body =
            "{\"items\":[" + items.map { #"{"productId":"\#($0.0)","quantity":\#($0.1)}"# }.joined(separator: ",")
            + "]}"
        return try await call(
            .post, "/api/orders", token: token, body: body, headers: key.map { ["Idempotency-Key": $0] } ?? [:])
    }

    /// `count` orders of `items` at once, from `users` new users in turn; the statuses, in no particular order.
    func concurrentOrders(_ count: Int, of items: [(String, Int)], users: Int) async throws -> [Int] {
        var tokens: [String] = []
        for _ in 0..<users { tokens.append(try await register().token) }
        return try await withThrowingTaskGroup(of: Int.self) { group in
            for attempt in 0..<count {
                let token = tokens[attempt % tokens.count]
                group.addTask { try await self.order(token, items).status }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
    }
}

/// Starts Till on a fresh database of `backend`, on a free loopback port, through the same composition root as
/// `till serve` (so the embedded Stripe emulator, the webhook processor and the reconciler all run), runs `body`
/// against it over HTTP, then shuts it down.
func withTill<T: Sendable>(
    _ backend: Backend, logHandler: (any LogHandler)? = nil, clock: TillClock = .system,
    configure: (inout AppConfig) -> Void = { _ in }, _ body: @Sendable (API, Till) async throws -> T
) async throws -> T {
    var config = try AppConfig(values: [
        "JWT_SECRET": testJWTSecret, "ADMIN_EMAIL": adminEmail, "ADMIN_PASSWORD": adminPassword,
    ])
    let port = try freePort()
    config.port = port
    config.host = "127.0.0.1"
    config.publicBaseURL = "http://127.0.0.1:\(port)"
    config.bcryptCost = 4
    config.emulatorRetrySchedule = [0.05, 0.1, 0.2, 0.4, 0.8]
    // Suites register many users from one address; the limit itself is tested with its own setting.
    config.registrationsPerAddressPerHour = 0
    let schema = try await PostgresSchema.create(for: backend)
    config.database = schema?.config ?? .sqliteMemory
    configure(&config)
    // Everything Till logs goes through this logger, so a test can capture every line.
    var logger = logHandler.map { handler in Logger(label: "till-test") { _ in handler } } ?? Logger(label: "till-test")
    if logHandler == nil {
        logger.logLevel =
            ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
    }
    let till = try await Till.start(config: config, logger: logger, clock: clock)
    let api = API(baseURL: config.publicBaseURL)
    do {
        let result: T = try await withThrowingTaskGroup(of: Void.self) { group in
            let services = ServiceGroup(
                configuration: .init(services: [till.application()], gracefulShutdownSignals: [], logger: logger))
            group.addTask { try await services.run() }
            do {
                try await waitUntilServing(api)
                let value = try await body(api, till)
                await services.triggerGracefulShutdown()
                try await group.waitForAll()
                return value
            } catch {
                await services.triggerGracefulShutdown()
                try? await group.waitForAll()
                throw error
            }
        }
        try await schema?.drop()
        return result
    } catch {
        try? await schema?.drop()
        throw error
    }
}

func waitUntilServing(_ api: API) async throws {
    for _ in 0..<200 {
        if (try? await api.call(.get, "/healthz"))?.status == 200 { return }
        try await Task.sleep(for: .milliseconds(25))
    }
    throw CancellationError()
}

/// Ports handed to the tests of this process, one after another from a random start, so two tests running in
/// parallel never get the same one.
let nextPort = Atomic<Int>(20000 + Int.random(in: 0..<6000))

/// A loopback port nothing listens on, below the kernel's ephemeral range (32768 and up) so that client
/// connections cannot take it between this check and the server's bind.
func freePort() throws -> Int {
    for _ in 0..<500 {
        let port = 20000 + (nextPort.add(1, ordering: .relaxed).newValue - 20000) % 12000
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        if withLoopback(port, { bind(fd, $0, $1) }) == 0 { return port }
    }
    throw CancellationError()
}

/// Calls `body` with the IPv4 loopback address of `port`, for tests that use sockets directly.
func withLoopback<T>(_ port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}

/// Polls until `condition` holds (background work such as webhook settlement), failing after `seconds`.
func eventually(_ seconds: Double = 10, _ what: String = "condition", _ condition: @Sendable () async throws -> Bool)
    async throws
{
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("timed out waiting for \(what)")
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

/// A seeded random generator (SplitMix64), so that a failing random sequence can be run again from its seed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Till's clock, run ahead of the system's on demand: retries and expiries minutes or hours later, in a test.
final class ClockAhead: Sendable {
    private let offset = Mutex(0)
    var clock: TillClock { TillClock { TillClock.system.nowMillis() + self.ahead } }
    /// How far ahead it runs, in milliseconds.
    var ahead: Int {
        get { offset.withLock { $0 } }
        set { offset.withLock { $0 = newValue } }
    }
}
