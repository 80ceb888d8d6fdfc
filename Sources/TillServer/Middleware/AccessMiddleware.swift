import Foundation
import Hummingbird
import Logging
import Prometheus

/// Request counts and latency histograms by route and status, in this application's own registry, and one log
/// line a request (method, route, status, duration: never headers or bodies).
struct AccessMiddleware: RouterMiddleware {
    typealias Context = TillRequestContext
    let registry: PrometheusCollectorRegistry

    static let buckets: [Duration] = [
        .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5),
        .seconds(5),
    ]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        let route = context.endpointPath ?? "unmatched"
        let labels = [("method", request.method.rawValue), ("route", route), ("status", String(response.status.code))]
        registry.makeCounter(name: "http_requests_total", labels: labels).increment()
        registry.makeDurationHistogram(name: "http_request_duration_seconds", labels: labels, buckets: Self.buckets)
            .record(elapsed)
        context.logger.info(
            "request",
            metadata: [
                "http.method": "\(request.method.rawValue)", "http.route": "\(route)",
                "http.status": "\(response.status.code)",
                "duration_ms": "\((elapsed.seconds * 1000 * 100).rounded() / 100)",
            ])
        return response
    }
}
