import ServiceLifecycle

/// Closes the database and the HTTP client once everything else has shut down.
struct Closer: Service, CustomStringConvertible {
    let till: Till
    /// ServiceLifecycle logs its services: never the `Till` inside, with its keys.
    var description: String { "Closer" }

    func run() async throws {
        try? await gracefulShutdown()
        await till.close()
    }
}
