import Synchronization

/// Misbehaviour switched on by tests: API answers that fail, and webhook deliveries that go wrong. Off by default.
actor Faults {
    enum APIMode: String, Sendable {
        case error500 = "500"
        case error429 = "429"
        case hang
        /// The connection drops in the middle of the answer, before the call is carried out.
        case reset
        /// The call is carried out (and kept for its Idempotency-Key), then the connection drops in the middle of
        /// the answer: the caller cannot tell whether it happened.
        case lost
    }

    enum WebhookMode: String, Sendable {
        case drop, duplicate, delay, reorder
    }

    /// Bounds on what a test may ask for, so no value can trap (`Duration` traps past about 9e18 seconds) or tie
    /// the process up for long.
    static let countRange = 1...1000
    static let hangRange = 0.0...300.0
    static let delayMillisRange = 0...60_000
    /// How long every API call may be made to wait (`latency`), in milliseconds.
    static let latencyMillisRange = 0...10_000
    /// Armed faults of each target at once; more are refused.
    static let maxArmed = 100

    struct APIFault: Sendable {
        let pathPrefix: String
        let mode: APIMode
        var remaining: Int
        let hangSeconds: Double

        init(pathPrefix: String, mode: APIMode, remaining: Int, hangSeconds: Double) {
            self.pathPrefix = String(pathPrefix.prefix(200))
            self.mode = mode
            self.remaining = Faults.clamp(remaining, Faults.countRange)
            self.hangSeconds =
                hangSeconds.isNaN ? 30 : min(max(hangSeconds, Faults.hangRange.lowerBound), Faults.hangRange.upperBound)
        }
    }

    struct WebhookFault: Sendable {
        let mode: WebhookMode
        var remaining: Int
        let delayMillis: Int

        init(mode: WebhookMode, remaining: Int, delayMillis: Int) {
            self.mode = mode
            self.remaining = Faults.clamp(remaining, Faults.countRange)
            self.delayMillis = Faults.clamp(delayMillis, Faults.delayMillisRange)
        }
    }

    static func clamp(_ value: Int, _ range: ClosedRange<Int>) -> Int {
        min(max(value, range.lowerBound), range.upperBound)
    }

    private var api: [APIFault] = []
    private var webhooks: [WebhookFault] = []
    /// Every API call waits this long before it is answered, as calls to the real Stripe take time (0: off). Unlike
    /// the other faults it does not count down: it stays until cleared.
    /// An atomic rather than actor state, so reading it costs every call no hop to this actor.
    private nonisolated let latency = Atomic<Int>(0)

    nonisolated var latencyMillis: Int { latency.load(ordering: .relaxed) }

    /// Sets the latency of every API call (clamped to `latencyMillisRange`); 0 turns it off.
    nonisolated func setLatency(millis: Int) {
        latency.store(Self.clamp(millis, Self.latencyMillisRange), ordering: .relaxed)
    }

    /// Arms `fault`; `false` when `maxArmed` are armed already.
    @discardableResult
    func add(_ fault: APIFault) -> Bool {
        guard api.count < Self.maxArmed else { return false }
        api.append(fault)
        return true
    }

    @discardableResult
    func add(_ fault: WebhookFault) -> Bool {
        guard webhooks.count < Self.maxArmed else { return false }
        webhooks.append(fault)
        return true
    }

    /// What is armed, with the values in force after clamping.
    var armed: (api: [APIFault], webhooks: [WebhookFault]) { (api, webhooks) }

    func clear() {
        api = []
        webhooks = []
        setLatency(millis: 0)
    }

    /// The fault for this request, if one is armed for its path (and counts it down).
    func takeAPIFault(path: String) -> APIFault? {
        guard let index = api.firstIndex(where: { path.hasPrefix($0.pathPrefix) && $0.remaining > 0 }) else {
            return nil
        }
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
        if latencyMillis > 0 { counts["api latency ms"] = latencyMillis }
        return counts
    }
}
