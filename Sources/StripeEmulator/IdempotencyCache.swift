import Foundation

/// Stripe's `Idempotency-Key` rules: the same key with the same parameters replays the first answer; with other
/// parameters it is an `idempotency_error`; while the first request runs, another with its key gets a 409.
actor IdempotencyCache {
    struct Stored: Sendable {
        let fingerprint: String
        let status: Int
        let body: Data
    }

    enum Claim: Sendable {
        case proceed
        case replay(Stored)
        case mismatch
        case inFlight
    }

    private var stored: [String: Stored] = [:]
    private var running: [String: String] = [:]

    func claim(key: String, fingerprint: String) -> Claim {
        if let done = stored[key] { return done.fingerprint == fingerprint ? .replay(done) : .mismatch }
        if let other = running[key] { return other == fingerprint ? .inFlight : .mismatch }
        running[key] = fingerprint
        return .proceed
    }

    func finish(key: String, fingerprint: String, status: Int, body: Data, keep: Bool) {
        running[key] = nil
        if keep { stored[key] = Stored(fingerprint: fingerprint, status: status, body: body) }
    }
}
