import Crypto
import Foundation

/// Stripe's webhook signature: `Stripe-Signature: t=TIMESTAMP,v1=HEX[,v1=HEX...]`, where each `v1` is the lowercase hex
/// HMAC-SHA256 of `"{t}.{raw body}"` keyed with the whole secret string (`whsec_` included).
public enum WebhookSignature {
    public enum VerificationError: Error, Equatable, Sendable, CustomStringConvertible {
        /// The header is missing or empty.
        case noHeader
        /// No secret to check against.
        case noSecret
        /// No `t=` element, or it is not a whole number.
        case noTimestamp
        /// No `v1=` element (a `v0` alone, or keys with stray spaces, do not count).
        case noSignatures
        /// No `v1` matches any secret.
        case noMatch
        /// The timestamp is more than the tolerance away from now, in the past or in the future.
        case outsideTolerance(timestamp: Int, now: Int)

        public var description: String {
            switch self {
            case .noHeader: "No Stripe-Signature header"
            case .noSecret: "No webhook secret configured"
            case .noTimestamp: "Unable to extract a timestamp from the Stripe-Signature header"
            case .noSignatures: "No signatures found with expected scheme v1"
            case .noMatch: "No signatures found matching the expected signature for payload"
            case .outsideTolerance(let t, let now): "Timestamp \(t) outside the tolerance zone (now \(now))"
            }
        }
    }

    public static let defaultTolerance = 300

    /// Checks `payload` (the exact bytes received) against `header` with any of `secrets`. A tolerance of 0 or less
    /// turns the time check off, as in Stripe's libraries. Unlike them, a timestamp too far in the future is refused.
    /// Returns the signed timestamp.
    @discardableResult
    public static func verify(
        payload: some DataProtocol, header: String?, secrets: [String], tolerance: Int = defaultTolerance,
        now: Int = Int(Date().timeIntervalSince1970)
    ) throws(VerificationError) -> Int {
        guard let header, !header.isEmpty else { throw .noHeader }
        let keys = secrets.filter { !$0.isEmpty }
        guard !keys.isEmpty else { throw .noSecret }
        var timestamp: Int?
        var sawTimestamp = false
        var signatures: [[UInt8]] = []
        // One pass over the header's bytes: elements split at ",", each a key and a value split at the first "=".
        let bytes = Array(header.utf8)
        var start = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: ",")) ?? bytes.count
            if let eq = bytes[start..<end].firstIndex(of: UInt8(ascii: "=")) {
                let key = bytes[start..<eq]
                let value = bytes[(eq + 1)..<end]
                if key.elementsEqual("t".utf8) {
                    // The first `t` counts, as in Stripe's SDKs (a later one is ignored, a malformed first refuses).
                    if !sawTimestamp { timestamp = Int(String(decoding: value, as: UTF8.self)) }
                    sawTimestamp = true
                } else if key.elementsEqual("v1".utf8) {
                    signatures.append(lowercaseHex(value) ?? [])  // not lowercase hex: can never match
                }
            }
            start = end + 1
        }
        guard let timestamp else { throw .noTimestamp }
        guard !signatures.isEmpty else { throw .noSignatures }
        var matched = false
        for secret in keys {
            let expected = Array(mac(timestamp: timestamp, payload: payload, secret: secret))
            for candidate in signatures where constantTimeEquals(candidate, expected) {
                matched = true
            }
        }
        guard matched else { throw .noMatch }
        // Signed timestamps are any integer (`t=-9223372036854775808` included): no subtraction that can trap.
        let (difference, overflow) = now.subtractingReportingOverflow(timestamp)
        if tolerance > 0, overflow || difference.magnitude > tolerance.magnitude {
            throw .outsideTolerance(timestamp: timestamp, now: now)
        }
        return timestamp
    }

    /// The lowercase hex `v1` signature of `payload` at `timestamp`.
    public static func signature(payload: some DataProtocol, secret: String, timestamp: Int) -> String {
        mac(timestamp: timestamp, payload: payload, secret: secret).map {
            hexDigits[Int($0 >> 4)] + hexDigits[Int($0 & 0xF)]
        }.joined()
    }

    /// A complete `Stripe-Signature` header value, one `v1` per secret (as Stripe sends during a rotation).
    public static func header(payload: some DataProtocol, secrets: [String], timestamp: Int) -> String {
        (["t=\(timestamp)"] + secrets.map { "v1=" + signature(payload: payload, secret: $0, timestamp: timestamp) })
            .joined(separator: ",")
    }

    public static func header(payload: some DataProtocol, secret: String, timestamp: Int) -> String {
        header(payload: payload, secrets: [secret], timestamp: timestamp)
    }

    private static let hexDigits = (0..<16).map { String($0, radix: 16) }

    /// HMAC-SHA256 of `"<timestamp>.<payload>"`, fed in two parts rather than copying the payload into one buffer
    /// first.
    private static func mac(timestamp: Int, payload: some DataProtocol, secret: String) -> HMAC<SHA256>.MAC {
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: Data(secret.utf8)))
        hmac.update(data: Data("\(timestamp).".utf8))
        hmac.update(data: payload)
        return hmac.finalize()
    }

    private static func lowercaseHex(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        guard text.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var index = text.startIndex
        while index < text.endIndex {
            guard let high = nibble(text[index]), let low = nibble(text[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    private static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
