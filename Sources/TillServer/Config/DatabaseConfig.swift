import Foundation

/// Where the data lives: an SQLite file (or memory) or a PostgreSQL server.
public enum DatabaseConfig: Sendable, Equatable {
    case sqlite(path: String)
    case sqliteMemory
    case postgres(PostgresSettings)

    public struct PostgresSettings: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var username: String
        public var password: String?
        public var database: String
        public var useTLS: Bool
        /// Tests give each suite its own schema.
        public var schema: String?
        public var maxConnections: Int = 20
    }

    public struct URLError: Error { let message: String }

    public init(url raw: String) throws(URLError) {
        if raw == "sqlite::memory:" || raw == "sqlite://:memory:" {
            self = .sqliteMemory
            return
        }
        if raw.hasPrefix("sqlite://") {
            let path = String(raw.dropFirst("sqlite://".count))
            guard !path.isEmpty else { throw URLError(message: "DATABASE_URL sqlite:// needs a file path") }
            self = .sqlite(path: path)
            return
        }
        guard raw.hasPrefix("postgres://") || raw.hasPrefix("postgresql://"),
            let components = URLComponents(string: raw), let host = components.host, !host.isEmpty
        else {
            throw URLError(message: "DATABASE_URL must be sqlite://PATH or postgres://user:pass@host:port/db")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard let user = components.user, !user.isEmpty, !database.isEmpty else {
            throw URLError(message: "DATABASE_URL postgres:// needs a user and a database name")
        }
        let query = Dictionary(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        var settings = PostgresSettings(
            host: host, port: components.port ?? 5432, username: user.removingPercentEncoding ?? user,
            password: components.password?.removingPercentEncoding, database: database,
            useTLS: ["require", "verify-full", "verify-ca"].contains(query["sslmode"] ?? ""),
            schema: query["search_path"])
        if let max = query["max_connections"].flatMap(Int.init), max > 0 { settings.maxConnections = max }
        self = .postgres(settings)
    }

    var redactedURL: String {
        switch self {
        case .sqlite(let path): "sqlite://\(path)"
        case .sqliteMemory: "sqlite::memory:"
        case .postgres(let s):
            "postgres://\(s.username)\(s.password == nil ? "" : ":<redacted>")@\(s.host):\(s.port)/\(s.database)"
        }
    }
}
