import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import StripeAPI

extension StripeEmulator {
    /// Adds the API (`/v1/...`), the hosted checkout page (`/checkout/:id`) and the fault switches
    /// (`/_emulator/...`) to `router`, which may be a group under a prefix.
    public func addRoutes<Router: RouterMethods>(to router: Router) {
        let v1 = router.group("v1")
        // PaymentIntents
        v1.post("payment_intents") { r, c in
            await self.api(r, c) { call in try await self.state.createPaymentIntent(call.params, call.info) }
        }
        v1.get("payment_intents") { r, c in
            await self.api(r, c) { call in
                let customer = try Params.string(call.params["customer"], param: "customer")
                return try await self.list(call, "/v1/payment_intents") { query in
                    try await self.state.intents.page(query) { customer == nil || $0.customer.string == customer }
                }
            }
        }
        v1.get("payment_intents/:id") { r, c in
            await self.api(r, c) { call in
                try await self.state.paymentIntent(call.id)
            }
        }
        v1.post("payment_intents/:id") { r, c in
            await self.api(r, c) { call in try await self.state.updatePaymentIntent(call.id, call.params) }
        }
        v1.post("payment_intents/:id/confirm") { r, c in
            await self.api(r, c) { call in try await self.state.confirmPaymentIntent(call.id, call.params, call.info) }
        }
        v1.post("payment_intents/:id/cancel") { r, c in
            await self.api(r, c) { call in try await self.state.cancelPaymentIntent(call.id, call.params, call.info) }
        }
        v1.post("payment_intents/:id/capture") { r, c in
            await self.api(r, c) { call in try await self.state.capturePaymentIntent(call.id, call.params, call.info) }
        }
        // Checkout Sessions
        v1.post("checkout/sessions") { r, c in
            await self.api(r, c) { call in
                try await self.state.createSession(call.params, call.info)
            }
        }
        v1.get("checkout/sessions") { r, c in
            await self.api(r, c) { call in
                let status = try Params.oneOf(call.params["status"], ["open", "complete", "expired"], param: "status")
                let customer = try Params.string(call.params["customer"], param: "customer")
                let intent = try Params.string(call.params["payment_intent"], param: "payment_intent")
                return try await self.list(call, "/v1/checkout/sessions") { query in
                    try await self.state.sessions(query) { session in
                        (intent == nil || session.paymentIntent?.id == intent)
                            && (status == nil || session.status?.rawValue == status)
                            && (customer == nil || session.customer.string == customer)
                    }
                }
            }
        }
        v1.get("checkout/sessions/:id") { r, c in
            await self.api(r, c) { call in try await self.state.session(call.id)
            }
        }
        v1.get("checkout/sessions/:id/line_items") { r, c in
            await self.api(r, c) { call in
                let lines = try await self.state.lineItems(call.id)
                return try await self.list(call, "/v1/checkout/sessions/\(call.id)/line_items") { query in
                    try query.page(of: lines, id: \.id)
                }
            }
        }
        v1.post("checkout/sessions/:id/expire") { r, c in
            await self.api(r, c) { call in try await self.state.expireSession(call.id, call.info) }
        }
        v1.post("test_helpers/checkout/sessions/:id/complete") { r, c in
            await self.api(r, c) { call in
                try await self.state.completeSession(
                    call.id, paymentMethod: call.params["payment_method"]?.string ?? "pm_card_visa",
                    email: call.params["email"]?.string, call.info)
            }
        }
        // Catalog
        v1.post("products") { r, c in await self.api(r, c) { call in try await self.state.createProduct(call.params) } }
        v1.get("products") { r, c in
            await self.api(r, c) { call in
                let active = try Params.bool(call.params["active"], param: "active")
                return try await self.list(call, "/v1/products") { query in
                    try await self.state.products.page(query) { active == nil || $0.active == active }
                }
            }
        }
        v1.get("products/:id") { r, c in await self.api(r, c) { call in try await self.state.product(call.id) } }
        v1.post("prices") { r, c in await self.api(r, c) { call in try await self.state.createPrice(call.params) } }
        v1.get("prices") { r, c in
            await self.api(r, c) { call in
                let active = try Params.bool(call.params["active"], param: "active")
                let product = try Params.string(call.params["product"], param: "product")
                return try await self.list(call, "/v1/prices") { query in
                    try await self.state.prices.page(query) { price in
                        (active == nil || price.active == active) && (product == nil || price.product.id == product)
                    }
                }
            }
        }
        v1.get("prices/:id") { r, c in await self.api(r, c) { call in try await self.state.price(call.id) } }
        // Refunds and charges
        v1.post("refunds") { r, c in
            await self.api(r, c) { call in try await self.state.createRefund(call.params, call.info) }
        }
        v1.get("refunds") { r, c in
            await self.api(r, c) { call in
                let intent = try Params.string(call.params["payment_intent"], param: "payment_intent")
                let charge = try Params.string(call.params["charge"], param: "charge")
                return try await self.list(call, "/v1/refunds") { query in
                    try await self.state.refunds.page(query) { refund in
                        (intent == nil || refund.paymentIntent == intent) && (charge == nil || refund.charge == charge)
                    }
                }
            }
        }
        v1.get("refunds/:id") { r, c in await self.api(r, c) { call in try await self.state.refund(call.id) } }
        v1.get("charges/:id") { r, c in await self.api(r, c) { call in try await self.state.charge(call.id) } }
        // The list a charge's `refunds.url` names.
        v1.get("charges/:id/refunds") { r, c in
            await self.api(r, c) { call in
                _ = try await self.state.charge(call.id)
                return try await self.list(call, "/v1/charges/\(call.id)/refunds") { query in
                    try await self.state.refunds.page(query) { $0.charge == call.id }
                }
            }
        }
        v1.get("charges") { r, c in
            await self.api(r, c) { call in
                let intent = try Params.string(call.params["payment_intent"], param: "payment_intent")
                let customer = try Params.string(call.params["customer"], param: "customer")
                return try await self.list(call, "/v1/charges") { query in
                    try await self.state.charges.page(query) { charge in
                        (intent == nil || charge.paymentIntent == intent)
                            && (customer == nil || charge.customer.string == customer)
                    }
                }
            }
        }
        // Customers, payment methods, balance transactions
        v1.post("customers") { r, c in
            await self.api(r, c) { call in try await self.state.createCustomer(call.params, call.info) }
        }
        v1.get("customers") { r, c in
            await self.api(r, c) { call in
                try await self.list(call, "/v1/customers") { query in
                    try await self.state.customers(
                        query, email: call.params["email"]?.string)
                }
            }
        }
        v1.get("customers/:id") { r, c in await self.api(r, c) { call in try await self.state.customer(call.id) } }
        v1.post("customers/:id") { r, c in
            await self.api(r, c) { call in try await self.state.updateCustomer(call.id, call.params, call.info) }
        }
        v1.get("payment_methods/:id") { r, c in
            await self.api(r, c) { call in try await self.state.paymentMethod(call.id) }
        }
        v1.get("payment_methods") { r, c in
            await self.api(r, c) { call in
                try await self.list(call, "/v1/payment_methods") { query in
                    try await self.state.paymentMethods.page(query) { method in
                        (call.params["customer"]?.string).map { method.customer == $0 } ?? true
                    }
                }
            }
        }
        v1.get("customers/:id/payment_methods") { r, c in
            await self.api(r, c) { call in
                _ = try await self.state.customer(call.id)
                return try await self.list(call, "/v1/customers/\(call.id)/payment_methods") { query in
                    try await self.state.paymentMethods.page(query) {
                        $0.customer == call.id
                    }
                }
            }
        }
        v1.post("payment_methods/:id/attach") { r, c in
            await self.api(r, c) { call in try await self.state.attachPaymentMethod(call.id, call.params, call.info) }
        }
        v1.get("balance_transactions/:id") { r, c in
            await self.api(r, c) { call in try await self.state.balanceTransaction(call.id) }
        }
        v1.get("balance_transactions") { r, c in
            await self.api(r, c) { call in
                let source = try Params.string(call.params["source"], param: "source")
                let type = try Params.string(call.params["type"], param: "type")
                return try await self.list(call, "/v1/balance_transactions") { query in
                    try await self.state.balanceTransactions.page(query) { txn in
                        (source == nil || txn.source == source) && (type == nil || txn.type == type)
                    }
                }
            }
        }  // Events and webhook endpoints
        v1.get("events") { r, c in
            await self.api(r, c) { call in
                let types = try EventTypeFilter(call.params)
                return try await self.list(call, "/v1/events") { query in
                    try await self.state.events.page(query) { types.matches($0.type.rawValue) }
                }
            }
        }
        v1.get("events/:id") { r, c in await self.api(r, c) { call in try await self.state.event(call.id) } }
        v1.post("webhook_endpoints") { r, c in
            await self.api(r, c) { call in try await self.state.createWebhookEndpoint(call.params) }
        }
        v1.get("webhook_endpoints") { r, c in
            await self.api(r, c) { call in
                try await self.list(call, "/v1/webhook_endpoints") { query in
                    let page = try await self.state.endpoints.page(query)
                    return (
                        page.items.map {
                            var e = $0
                            e.secret = nil
                            return e
                        }, page.hasMore
                    )
                }
            }
        }
        v1.get("webhook_endpoints/:id") { r, c in
            await self.api(r, c) { call in try await self.state.webhookEndpoint(call.id) }
        }
        v1.delete("webhook_endpoints/:id") { r, c in
            await self.api(r, c) { call in try await self.state.deleteWebhookEndpoint(call.id) }
        }

        addBillingRoutes(to: v1)

        addCheckoutPage(to: router)
        addReceiptAndAuthenticationPages(to: router)
        addFaultRoutes(to: router)
        addClockRoute(to: router)
        addPortalPage(to: router)
    }

    /// Stripe's answer to a URL it does not serve, with any method: a 404 in Stripe's error body, after the key is
    /// checked, as for every API call. Add it to the router that holds the emulator's routes (`prefix` is the path
    /// they are mounted under): the router answers a path it does not know, and a known path asked with another
    /// method, before any route runs.
    public func unrecognizedURLs<Context: RequestContext>(mountedAt prefix: String = "", context: Context.Type)
        -> UnrecognizedURLMiddleware<Context>
    {
        UnrecognizedURLMiddleware(emulator: self, apiPrefix: prefix + "/v1/")
    }

    public struct UnrecognizedURLMiddleware<Context: RequestContext>: RouterMiddleware {
        let emulator: StripeEmulator
        let apiPrefix: String

        public func handle(
            _ request: Request, context: Context, next: (Request, Context) async throws -> Response
        ) async throws -> Response {
            guard request.uri.path.hasPrefix(apiPrefix) else { return try await next(request, context) }
            do {
                return try await next(request, context)
            } catch let error as HTTPError where error.status == .notFound || error.status == .methodNotAllowed {
                return await emulator.api(request, context) { _ -> DeletedObject in
                    throw EmulatorError(
                        status: 404, type: "invalid_request_error",
                        message:
                            "Unrecognized request URL (\(request.method.rawValue): \(request.uri.path)). The Stripe emulator serves the resources listed in API.md."
                    )
                }
            }
        }
    }

    struct Call: Sendable {
        let id: String
        let params: FormNode
        let expand: [String]
        let info: EmulatorState.RequestInfo
    }

    /// Stripe's envelope around every API call: the key, `Request-Id`, `Idempotency-Key`, armed faults, and errors
    /// in Stripe's body and status.
    func api<Context: RequestContext, Output: Encodable & Sendable>(
        _ request: Request, _ context: Context, _ body: @Sendable (Call) async throws -> Output
    ) async -> Response {
        let requestId = TestEvents.randomId("req")
        guard Self.hasSecretKey(request) else {
            let message =
                Self.hasLiveKey(request)
                ? "The Stripe emulator takes test keys only (sk_test_...): a live key is never used against it."
                : "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
            return respond(
                401, requestId, EmulatorError(status: 401, type: "invalid_request_error", message: message).body)
        }
        if let version = request.headers[HTTPField.Name("Stripe-Version")!], !Self.isAPIVersion(version) {
            return respond(
                400, requestId,
                EmulatorError.invalid(
                    "Stripe-Version", "Invalid Stripe API version: \(String(version.prefix(40)))",
                    code: "invalid_stripe_version"
                ).body)
        }
        let latency = faults.latencyMillis
        if latency > 0 { try? await Task.sleep(for: .milliseconds(latency)) }
        // Faults and idempotency name API paths (`/v1/...`) whatever prefix the emulator is mounted under.
        let apiPath =
            request.uri.path.range(of: "/v1/").map { String(request.uri.path[$0.lowerBound...]) } ?? request.uri.path
        var answerLost = false
        if let fault = await faults.takeAPIFault(path: apiPath) {
            switch fault.mode {
            case .lost:
                answerLost = true
            case .error500:
                return respond(
                    500, requestId,
                    StripeError.Body(
                        error: .init(type: "api_error", message: "An unexpected error occurred (emulator fault).")))
            case .error429:
                return respond(
                    429, requestId,
                    StripeError.Body(
                        error: .init(
                            type: "invalid_request_error", code: "rate_limit",
                            message: "Too many requests hit the API too quickly (emulator fault).")))
            case .hang:
                try? await Task.sleep(for: .seconds(fault.hangSeconds))
                return respond(
                    500, requestId,
                    StripeError.Body(error: .init(type: "api_error", message: "The request hung (emulator fault).")))
            case .reset:
                return Self.brokenAnswer()
            }
        }
        let response = await carryOut(request, context, requestId: requestId, apiPath: apiPath, body)
        return answerLost ? Self.brokenAnswer() : response
    }

    /// The call itself, once the envelope let it through: its form, its Idempotency-Key, and its answer.
    private func carryOut<Context: RequestContext, Output: Encodable & Sendable>(
        _ request: Request, _ context: Context, requestId: String, apiPath: String,
        _ body: @Sendable (Call) async throws -> Output
    ) async -> Response {
        var buffer: ByteBuffer
        do {
            var request = request
            buffer = try await request.collectBody(upTo: 1 << 20)
        } catch {
            return respond(
                413, requestId,
                EmulatorError.invalid("body", "The request body is too large.", code: "parameter_invalid_string").body)
        }
        let text =
            request.method == .get || request.method == .delete
            ? (request.uri.query ?? "") : (buffer.readString(length: buffer.readableBytes) ?? "")
        let params: FormNode
        do {
            params = try FormEncoding.decode(text, limits: .standard)
        } catch {
            return respond(400, requestId, EmulatorError.form(error).body)
        }
        if let param = Params.overlong(params) {
            return respond(
                400, requestId,
                EmulatorError.invalid(
                    param, "Invalid string: must be at most \(Params.maximumStringLength) characters long",
                    code: "string_length_too_long"
                ).body)
        }
        let key = request.method == .post ? request.headers[HTTPField.Name("Idempotency-Key")!] : nil
        if let key, key.utf8.count > 255 {
            return respond(
                400, requestId,
                EmulatorError.invalid(
                    "Idempotency-Key", "Idempotency-Key must be at most 255 characters long.",
                    code: "parameter_invalid_string"
                ).body)
        }
        let call = Call(
            id: context.parameters.get("id") ?? "", params: params,
            expand: params["expand"]?.array?.compactMap(\.string) ?? [],
            info: .init(requestId: requestId, idempotencyKey: key))

        // A digest, not the form itself: the cache keeps up to 10,000 of them. Of the API path, like faults: a call
        // is the same under `/_stripe` over HTTP and unprefixed in the process. The pairs are sorted, so the same
        // parameters sent in another order are the same request, as at Stripe.
        let form = params.flattened().sorted { $0.0 < $1.0 }.map { $0.0 + "=" + $0.1 }.joined(separator: "&")
        let fingerprint = Data(SHA256.hash(data: Data((apiPath + "?" + form).utf8)))
        if let key {
            switch await idempotency.claim(key: key, fingerprint: fingerprint) {
            case .proceed: break
            case .replay(let stored):
                // Encoding the kept object again cannot fail where its first encoding succeeded; if it ever did,
                // the answer is Stripe's 500, never an empty success.
                guard let body = try? stored.answer.bytes() else {
                    return respond(
                        500, requestId,
                        StripeError.Body(error: .init(type: "api_error", message: "The answer could not be replayed.")))
                }
                return raw(stored.status, requestId, body, replayed: true)
            case .mismatch:
                return respond(
                    400, requestId,
                    StripeError.Body(
                        error: .init(
                            type: "idempotency_error",
                            message:
                                "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '\(key)' if you meant to execute a different request."
                        )))
            case .inFlight:
                return respond(
                    409, requestId,
                    StripeError.Body(
                        error: .init(
                            type: "idempotency_error", code: "idempotency_key_in_use",
                            message:
                                "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): \(key). Please try again later."
                        )))
            }
        }
        let status: Int
        let json: Data
        var kept: IdempotencyCache.Answer?
        do {
            let output = try await body(call)
            if call.expand.isEmpty {
                json = try StripeJSON.encode(output)
                kept = .object(output)
            } else {
                json = try StripeJSON.encode(try await state.expand(.from(output), call.expand))
            }
            status = 200
        } catch let error as EmulatorError {
            status = error.status
            json = (try? StripeJSON.encode(error.body)) ?? Data()
        } catch {
            logger.error("emulator error", metadata: ["error": "\(error)"])
            status = 500
            json =
                (try? StripeJSON.encode(
                    StripeError.Body(error: .init(type: "api_error", message: "\(error)")))) ?? Data()
        }
        if let key {
            // Stripe keeps the answer of a request that ran: a success, or a card's decline (402). A request refused
            // before it ran (a parameter that failed validation, an object that does not exist) keeps nothing, so
            // the same key can be used again once it is put right.
            await idempotency.finish(
                key: key, fingerprint: fingerprint, status: status, answer: kept ?? .json(json),
                keep: status == 200 || status == 402)
        }
        return raw(status, requestId, json, replayed: false)
    }

    /// Headers that promise a body that never fully comes: the server drops the connection mid-answer.
    static func brokenAnswer() -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: ResponseBody(contentLength: 1024) { writer in
                try await writer.write(ByteBuffer(string: #"{"id":"#))
                throw ConnectionReset()
            })
    }

    func list<T: Encodable & Sendable>(
        _ call: Call, _ url: String, _ page: (ListQuery) async throws -> (items: [T], hasMore: Bool)
    ) async throws -> StripeList<T> {
        let result = try await page(try ListQuery(call.params))
        return StripeList(data: result.items, hasMore: result.hasMore, url: url)
    }

    /// A test secret (or restricted) key, as a Bearer token or Basic user. A live key is refused: a payment made
    /// with one must never be taken by a stand-in (a live deployment pointed at the emulator by mistake).
    static func hasSecretKey(_ request: Request) -> Bool {
        guard let key = key(request) else { return false }
        return key.hasPrefix("sk_test_") || key.hasPrefix("rk_test_")
    }

    /// A dated API version (`2025-03-31`, `2025-03-31.basil`), with any betas the SDKs add
    /// (`2025-03-31.basil; checkout_server_update_beta=v1`): the shape, not that Stripe released it.
    static func isAPIVersion(_ text: String) -> Bool {
        guard text.utf8.count <= 200 else { return false }
        var parts = text.split(separator: ";", omittingEmptySubsequences: false)
        let version = parts.removeFirst()
        return isDatedVersion(version)
            && parts.allSatisfy { beta in
                let pair = beta.drop { $0 == " " }.split(separator: "=", omittingEmptySubsequences: false)
                return pair.count == 2 && pair.allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy(isBetaByte) }
            }
    }

    private static func isBetaByte(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == UInt8(ascii: "_")
    }

    private static func isDatedVersion(_ text: Substring) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count >= 10, bytes.count <= 40, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-")
        else { return false }
        let digits = [0, 1, 2, 3, 5, 6, 8, 9].allSatisfy { bytes[$0] >= 0x30 && bytes[$0] <= 0x39 }
        let name = bytes[10...]
        return digits
            && (name.isEmpty
                || (name.first == UInt8(ascii: ".") && name.count > 1
                    && name.dropFirst().allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || $0 == UInt8(ascii: "_") }))
    }

    static func hasLiveKey(_ request: Request) -> Bool {
        guard let key = key(request) else { return false }
        return key.hasPrefix("sk_live_") || key.hasPrefix("rk_live_")
    }

    private static func key(_ request: Request) -> Substring? {
        guard let header = request.headers[.authorization] else { return nil }
        if header.hasPrefix("Bearer ") { return header.dropFirst(7) }
        if header.hasPrefix("Basic "), let data = Data(base64Encoded: String(header.dropFirst(6))),
            let user = String(data: data, encoding: .utf8)
        {
            return Substring(user)
        }
        return nil
    }

    func respond(_ status: Int, _ requestId: String, _ body: some Encodable) -> Response {
        raw(status, requestId, (try? StripeJSON.encode(body)) ?? Data(), replayed: false)
    }

    func raw(_ status: Int, _ requestId: String, _ body: Data, replayed: Bool) -> Response {
        var headers: HTTPFields = [.contentType: "application/json", HTTPField.Name("Request-Id")!: requestId]
        headers[.cacheControl] = "no-cache, no-store"
        // The version every answer is shaped by, whatever the request asked for.
        headers[HTTPField.Name("Stripe-Version")!] = StripeConfiguration.pinnedAPIVersion
        if replayed { headers[HTTPField.Name("Idempotent-Replayed")!] = "true" }
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Thrown mid-response by the `reset` and `lost` faults, so the connection closes without a complete answer.
struct ConnectionReset: Error {}

/// `GET /v1/events`' `type` (a name, or a group with `*` as a wildcard: `charge.*`) and `types[]` (up to 20 names).
struct EventTypeFilter: Sendable {
    let patterns: [String]

    init(_ params: FormNode) throws(EmulatorError) {
        if params["type"] != nil, params["types"] != nil {
            throw .invalid(
                "types", "You may only specify one of these parameters: type, types.", code: "parameter_invalid_string")
        }
        if let type = try Params.string(params["type"], param: "type") {
            patterns = [type]
        } else if let node = params["types"] {
            guard let list = node.array, list.count <= 20 else {
                throw .invalid(
                    "types", "types must be a list of at most 20 event types.", code: "parameter_invalid_string")
            }
            var names: [String] = []
            for (index, item) in list.enumerated() {
                guard let name = try Params.string(item, param: "types[\(index)]") else { continue }
                names.append(name)
            }
            patterns = names
        } else {
            patterns = []
        }
    }

    func matches(_ type: String) -> Bool {
        patterns.isEmpty
            || patterns.contains { pattern in
                guard let star = pattern.firstIndex(of: "*") else { return pattern == type }
                return type.hasPrefix(pattern[..<star]) && type.hasSuffix(pattern[pattern.index(after: star)...])
                    && type.count >= pattern.count - 1
            }
    }
}
