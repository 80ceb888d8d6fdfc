import Hummingbird
import Prometheus

struct HealthController {
    let database: any Database
    let registry: PrometheusCollectorRegistry

    struct Status: Encodable {
        let status: String
    }

    func addRoutes(to router: Router<TillRequestContext>) {
        router.get("/healthz") { _, _ in try JSONCoding.response(.ok, Status(status: "ok")) }
        router.get("/readyz") { _, _ in
            await database.ping()
                ? try JSONCoding.response(.ok, Status(status: "ok"))
                : try JSONCoding.response(.serviceUnavailable, Status(status: "database unavailable"))
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
    }
}
