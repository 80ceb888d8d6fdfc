import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import StripeAPI
import Testing

@_spi(Bench) @testable import TillServer

/// Till calls its embedded emulator in the process; what it gets back must be what the same call gets over HTTP.
@Suite("Calls to the embedded emulator in the process")
struct InProcessTransportTests {
    @Test("the same answers as over HTTP: objects, idempotent replays, key and route errors; other URLs refused")
    func sameAsHTTP() async throws {
        try await withTill(.sqlite) { api, till in
            let emulator = try #require(till.emulator)
            let base = api.baseURL + "/_stripe"
            let inProcess = emulator.inProcessTransport()
            let http = StripeTransport.http(.shared)
            func request(_ method: String, _ path: String, form: String? = nil, key: String? = nil, auth: Bool = true)
                -> StripeTransport.Request
            {
                var headers = HTTPHeaders()
                if auth { headers.add(name: "Authorization", value: "Bearer sk_test_transport") }
                if let key { headers.add(name: "Idempotency-Key", value: key) }
                if form != nil { headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded") }
                return .init(
                    method: method, url: base + path, headers: headers, body: form.map { ByteBuffer(string: $0) },
                    timeout: 5)
            }
            func json(_ response: StripeTransport.Response) throws -> [String: Any] {
                try #require(
                    JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
            }

            let form = "email=ann%40example.com&metadata[note]=tea+%26+cake"
            let created = try await inProcess.send(request("POST", "/v1/customers", form: form, key: "k-1"))
            #expect(created.status == 200)
            #expect(created.headers.first(name: "Request-Id")?.hasPrefix("req_") == true)
            let customer = try json(created)
            let id = try #require(customer["id"] as? String)
            #expect(customer["email"] as? String == "ann@example.com")
            #expect((customer["metadata"] as? [String: String])?["note"] == "tea & cake")

            // The same key over HTTP replays the answer made in the process: one emulator, one cache.
            let replayed = try await http.send(request("POST", "/v1/customers", form: form, key: "k-1"))
            #expect(replayed.headers.first(name: "Idempotent-Replayed") == "true")
            #expect(try json(replayed)["id"] as? String == id)
            let reused = try await inProcess.send(
                request("POST", "/v1/customers", form: "email=bob%40example.com", key: "k-1"))
            #expect(reused.status == 400)
            #expect((try json(reused)["error"] as? [String: Any])?["type"] as? String == "idempotency_error")

            let viaHTTP = try await http.send(request("GET", "/v1/customers/\(id)"))
            let inside = try await inProcess.send(request("GET", "/v1/customers/\(id)"))
            #expect(inside.status == 200)
            #expect(NSDictionary(dictionary: try json(inside)) == NSDictionary(dictionary: try json(viaHTTP)))

            for (method, path, auth) in [("GET", "/v1/customers/\(id)", false), ("GET", "/v1/no_such_thing", true)] {
                let a = try await inProcess.send(request(method, path, auth: auth))
                let b = try await http.send(request(method, path, auth: auth))
                #expect(a.status == b.status)
                #expect(a.status >= 400)
            }

            var foreign = request("GET", "/v1/customers/\(id)")
            foreign.url = "https://api.stripe.com/v1/customers/\(id)"
            await #expect(throws: (any Error).self) { try await inProcess.send(foreign) }
        }
    }
}
