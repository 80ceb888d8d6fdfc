import Testing
import Logging

@_spi(Bench) @testable import TillServer

@Suite("Health, metrics, errors")
struct HealthTests {
    @Test("healthz and readyz answer; readyz is 503 once the database is gone", arguments: Backend.available)
    func health(backend: Backend) async throws {
        try await withTill(backend) { api, till in
            let health = try await api.call(.get, "/healthz")
            #expect(health.status == 200)
            #expect(health.string("status") == "ok")
            #expect(try await api.call(.get, "/readyz").status == 200)
            await till.database.close()
            #expect(try await api.call(.get, "/readyz").status == 503)
        }
    }

    @Test("metrics count requests by route and status, with latency histograms")
    func metrics() async throws {
        try await withTill(.sqlite) { api, _ in
            _ = try await api.call(.get, "/api/products")
            _ = try await api.call(.get, "/api/products/nope")
            let text = try await api.call(.get, "/metrics").text
            #expect(text.contains(#"http_requests_total{method="GET",route="/api/products",status="200"} 1"#))
            #expect(text.contains(#"http_requests_total{method="GET",route="/api/products/{id}",status="404"} 1"#))
            #expect(text.contains("http_request_duration_seconds_bucket"))
        }
    }

    @Test("an unknown route is 404 in the contract's error shape")
    func unknownRoute() async throws {
        try await withTill(.sqlite) { api, _ in
            let reply = try await api.call(.get, "/api/nothing-here")
            #expect(reply.status == 404)
            #expect(reply.errorCode == "not_found")
        }
    }

    @Test("HEAD is GET without the body, with its length: 200 on /healthz and a public list, 404 where GET is")
    func head() async throws {
        try await withTill(.sqlite) { api, _ in
            for path in ["/healthz", "/api/products"] {
                let reply = try await api.call(.head, path)
                #expect(reply.status == 200 && reply.text.isEmpty, "\(path)")
                // The length GET would send (RFC 9110 forbids any other), with no body.
                let get = try await api.call(.get, path)
                #expect(reply.headers[.contentLength] == String(get.text.utf8.count), "\(path)")
            }
            #expect(try await api.call(.head, "/nowhere").status == 404)
            #expect(try await api.call(.head, "/api/auth/me").status == 401)
        }
    }

    @Test("an oversized JSON body is 413 payload_too_large")
    func tooLarge() async throws {
        try await withTill(.sqlite) { api, _ in
            let big = #"{"email":"a@b.co","password":""# + String(repeating: "x", count: 100_000) + #""}"#
            let reply = try await api.call(.post, "/api/auth/register", body: big)
            #expect(reply.status == 413)
            #expect(reply.errorCode == "payload_too_large")
        }
    }

    @Test("migrations are recorded and run once", arguments: Backend.available)
    func migrationsOnce(backend: Backend) async throws {
        try await withTill(backend) { _, till in
            let again = try await Migrations.run(on: till.database, logger: .init(label: "test"))
            #expect(again.isEmpty)
            let versions = try await till.database.withConnection { db in
                try await db.raw("SELECT version FROM till_migrations").all(decodingColumn: "version", as: Int.self)
            }
            #expect(versions == Migrations.all.map(\.version))
        }
    }
}

@Suite("PostgreSQL")
struct PostgresTests {
    @Test(
        "with TEST_DATABASE_URL set, the suites really run on PostgreSQL",
        .enabled(if: Backend.available.contains(.postgres)))
    func serverAnswers() async throws {
        try await withTill(.postgres) { _, till in
            #expect(till.database.kind == .postgres)
            let version = try await till.database.withConnection { db in
                try await db.raw("SELECT version() AS v").first(decodingColumn: "v", as: String.self)
            }
            let text = try #require(version)
            #expect(text.hasPrefix("PostgreSQL"))
            print("PostgreSQL run: \(text)")
        }
    }

    @Test(
        "instances started together on a fresh database all migrate it, once (one used to exit on a duplicate type)",
        .enabled(if: Backend.available.contains(.postgres)))
    func migrateTogether() async throws {
        let schema = try #require(try await PostgresSchema.create(for: .postgres))
        let logger = Logger(label: "test")
        var databases: [any Database] = []
        for _ in 0..<4 { databases.append(try await DatabaseOpener.open(schema.config, logger: logger)) }
        let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
            for database in databases {
                group.addTask { try await Migrations.run(on: database, logger: logger) }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(applied.sorted() == Migrations.all.map(\.version))
        for database in databases { await database.close() }
        try await schema.drop()
    }
}
