import Foundation
import Hummingbird
import Logging
import Prometheus
import Synchronization

/// Request counts and latency histograms by route and status, in this application's own registry, and one log
/// line a request (method, route, status, duration: never headers or bodies).
struct AccessMiddleware: RouterMiddleware {
    typealias Context = TillRequestContext
    let metrics: RouteMetrics

    init(registry: PrometheusCollectorRegistry) {
        metrics = RouteMetrics(registry: registry)
    }

    static let buckets: [Duration] = [
        .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5),
        .seconds(5),
    ]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let start = ContinuousClock.now
        var context = context
        let logged = context.logger.logLevel <= .info
        if logged { context.accessNote = AccessNote() }
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        let route = context.endpointPath ?? "unmatched"
        let (counter, histogram) = metrics.series(
            method: request.method.rawValue, route: route, status: Int(response.status.code))
        counter.increment()
        histogram.record(elapsed)
        guard logged else { return response }
        var metadata: Logger.Metadata = [
            "http.method": "\(request.method.rawValue)", "http.route": "\(route)",
            "http.status": "\(response.status.code)",
            "duration_ms": "\((elapsed.seconds * 1000 * 100).rounded() / 100)",
        ]
        if let note = context.accessNote?.metadata { metadata.merge(note) { line, _ in line } }
        context.logger.info("request", metadata: metadata)
        return response
    }
}

/// What a route adds to its request's access line, so that a request logs one line (the webhook route: the event's
/// id and type, and whether it was new).
final class AccessNote: Sendable {
    private let fields = Mutex<Logger.Metadata?>(nil)

    var metadata: Logger.Metadata? { fields.withLock { $0 } }

    func add(_ metadata: Logger.Metadata) {
        fields.withLock { $0 = ($0 ?? [:]).merging(metadata) { _, new in new } }
    }
}

/// The counter and histogram of each (method, route, status), made once: the registry's lookup by name and labels
/// stays off the per-request path.
final class RouteMetrics: Sendable {
    struct Key: Hashable {
        let method: String
        let route: String
        let status: Int
    }

    let registry: PrometheusCollectorRegistry
    private let cache = Mutex<[Key: (Counter, DurationHistogram)]>([:])

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    func series(method: String, route: String, status: Int) -> (Counter, DurationHistogram) {
        let key = Key(method: method, route: route, status: status)
        if let found = cache.withLock({ $0[key] }) { return found }
        let labels = [("method", method), ("route", route), ("status", String(status))]
        let made = (
            registry.makeCounter(name: "http_requests_total", labels: labels),
            registry.makeDurationHistogram(
                name: "http_request_duration_seconds", labels: labels, buckets: AccessMiddleware.buckets)
        )
        cache.withLock { $0[key] = made }
        return made
    }
}
