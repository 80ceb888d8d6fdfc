import Foundation
import Hummingbird
import NIOCore
import StripeAPI

/// `/_emulator/faults`: switch misbehaviour on for tests. Off unless asked for.
///
/// `POST /_emulator/faults` with JSON, one of:
/// - `{"target": "api", "path": "/v1/checkout/sessions", "mode": "500" | "429" | "hang" | "reset" | "lost", "count": 2, "hangSeconds": 30}`
///   (`reset` drops the connection before the call is carried out, `lost` after it)
/// - `{"target": "webhooks", "mode": "drop" | "duplicate" | "delay" | "reorder", "count": 3, "delayMillis": 2000}`
/// - `{"target": "latency", "delayMillis": 150}`: every API call waits that long before it is answered (as calls to
///   the real Stripe take time) until cleared; 0 turns it off.
/// Values are clamped: `count` to 1-1000, `hangSeconds` to 0-300, `delayMillis` to 0-60000 (0-10000 for latency);
/// at most 100 faults of each target are armed at once. `DELETE /_emulator/faults` clears them; `GET /_emulator/faults` lists what is armed;
/// `GET /_emulator/deliveries` lists webhook delivery attempts.
extension StripeEmulator {
    struct FaultRequest: Decodable {
        let target: String
        let mode: String?
        let count: Int?
        let path: String?
        let hangSeconds: Double?
        let delayMillis: Int?
    }

    func addFaultRoutes<Router: RouterMethods>(to router: Router) {
        let group = router.group("_emulator")
        group.post("faults") { request, _ in
            var request = request
            let body = try await request.collectBody(upTo: 64 * 1024)
            guard let fault = try? JSONDecoder().decode(FaultRequest.self, from: Data(body.readableBytesView)) else {
                return Self.json(400, ["error": "expected {target, mode?, count?, path?, hangSeconds?, delayMillis?}"])
            }
            let count = fault.count ?? 1
            switch fault.target {
            case "latency":
                guard let millis = fault.delayMillis else {
                    return Self.json(400, ["error": "latency needs delayMillis"])
                }
                self.faults.setLatency(millis: millis)
            case "api":
                guard let mode = fault.mode.flatMap(Faults.APIMode.init(rawValue:)) else {
                    return Self.json(400, ["error": "api mode is 500, 429, hang, reset or lost"])
                }
                let path = fault.path ?? "/v1/"
                let prefix = path.range(of: "/v1/").map { String(path[$0.lowerBound...]) } ?? path
                guard
                    await self.faults.add(
                        .init(pathPrefix: prefix, mode: mode, remaining: count, hangSeconds: fault.hangSeconds ?? 30))
                else { return Self.json(400, ["error": "at most \(Faults.maxArmed) api faults can be armed"]) }
            case "webhooks":
                guard let mode = fault.mode.flatMap(Faults.WebhookMode.init(rawValue:)) else {
                    return Self.json(400, ["error": "webhook mode is drop, duplicate, delay or reorder"])
                }
                guard await self.faults.add(.init(mode: mode, remaining: count, delayMillis: fault.delayMillis ?? 1000))
                else {
                    return Self.json(400, ["error": "at most \(Faults.maxArmed) webhook faults can be armed"])
                }
            default:
                return Self.json(400, ["error": "target is api, webhooks or latency"])
            }
            return Self.json(200, await self.faults.summary)
        }
        group.get("faults") { _, _ in Self.json(200, await self.faults.summary) }
        group.delete("faults") { _, _ in
            await self.faults.clear()
            return Self.json(200, [String: Int]())
        }
        group.get("deliveries") { _, _ in Self.json(200, await self.deliverer.log.attempts) }
    }

    static func json(_ status: Int, _ value: some Encodable) -> Response {
        Response(
            status: .init(code: status), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: (try? JSONEncoder().encode(value)) ?? Data())))
    }
}
