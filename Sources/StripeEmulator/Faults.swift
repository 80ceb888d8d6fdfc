/// Misbehaviour switched on by tests: API answers that fail, and webhook deliveries that go wrong. Off by default.
actor Faults {
    enum APIMode: String, Sendable {
        case error500 = "500"
        case error429 = "429"
        case hang
        /// The connection drops in the middle of the answer.
        case reset
    }

    enum WebhookMode: String, Sendable {
        case drop, duplicate, delay, reorder
    }

    struct APIFault: Sendable {
        let pathPrefix: String
        let mode: APIMode
        var remaining: Int
        let hangSeconds: Double
    }

    struct WebhookFault: Sendable {
        let mode: WebhookMode
        var remaining: Int
        let delayMillis: Int
    }

    private var api: [APIFault] = []
    private var webhooks: [WebhookFault] = []

    func add(_ fault: APIFault) { api.append(fault) }
    func add(_ fault: WebhookFault) { webhooks.append(fault) }

    func clear() {
        api = []
        webhooks = []
    }

    /// The fault for this request, if one is armed for its path (and counts it down).
    func takeAPIFault(path: String) -> APIFault? {
        guard let index = api.firstIndex(where: { path.hasPrefix($0.pathPrefix) && $0.remaining > 0 }) else { return nil }
        api[index].remaining -= 1
        let fault = api[index]
        if fault.remaining == 0 { api.remove(at: index) }
        return fault
    }

    /// The fault for the next webhook delivery, if one is armed.
    func takeWebhookFault() -> WebhookFault? {
        guard let index = webhooks.firstIndex(where: { $0.remaining > 0 }) else { return nil }
        webhooks[index].remaining -= 1
        let fault = webhooks[index]
        if fault.remaining == 0 { webhooks.remove(at: index) }
        return fault
    }

    var summary: [String: Int] {
        var counts: [String: Int] = [:]
        for f in api { counts["api \(f.mode.rawValue) \(f.pathPrefix)", default: 0] += f.remaining }
        for f in webhooks { counts["webhook \(f.mode.rawValue)", default: 0] += f.remaining }
        return counts
    }
}
