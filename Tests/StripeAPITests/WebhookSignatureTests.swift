import Foundation
import StripeAPI
import Testing

struct Vectors: Decodable {
    struct Vector: Decodable {
        let name: String
        let secret: String
        let timestamp: Int
        let payload: String
        let v1: String
        let header: String
    }
    let vectors: [Vector]

    static func load() throws -> Vectors {
        // Prefer the project's shared copy (beside the repository); fall back to the one bundled with the tests.
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let shared = repo.deletingLastPathComponent().appendingPathComponent(
            "shared/fixtures/stripe-signature-vectors.json")
        let url =
            FileManager.default.fileExists(atPath: shared.path)
            ? shared
            : try #require(Bundle.module.url(forResource: "Fixtures/stripe-signature-vectors", withExtension: "json"))
        return try JSONDecoder().decode(Vectors.self, from: Data(contentsOf: url))
    }
}

@Suite("Webhook signatures")
struct WebhookSignatureTests {
    @Test("every vector checked with Stripe's SDK signs and verifies the same")
    func vectors() throws {
        let vectors = try Vectors.load().vectors
        #expect(vectors.count >= 3)
        for v in vectors {
            #expect(
                WebhookSignature.signature(payload: Data(v.payload.utf8), secret: v.secret, timestamp: v.timestamp)
                    == v.v1, "\(v.name)")
            #expect(throws: Never.self, "\(v.name)") {
                try WebhookSignature.verify(
                    payload: Data(v.payload.utf8), header: v.header, secrets: [v.secret], now: v.timestamp + 10)
            }
        }
    }

    var first: Vectors.Vector { get throws { try Vectors.load().vectors[0] } }

    func check(
        _ payload: String? = nil, header: String?? = nil, secrets: [String]? = nil, now: Int? = nil,
        tolerance: Int = 300
    ) throws -> WebhookSignature.VerificationError? {
        let v = try first
        do {
            try WebhookSignature.verify(
                payload: Data((payload ?? v.payload).utf8), header: header ?? v.header, secrets: secrets ?? [v.secret],
                tolerance: tolerance, now: now ?? v.timestamp + 10)
            return nil
        } catch {
            return error
        }
    }

    @Test("the tolerance edges: t+299 and t+300 pass, t+301 fails")
    func toleranceEdges() throws {
        let t = try first.timestamp
        #expect(try check(now: t + 299) == nil)
        #expect(try check(now: t + 300) == nil)
        #expect(try check(now: t + 301) == .outsideTolerance(timestamp: t, now: t + 301))
        #expect(try check(now: t + 1_000_000, tolerance: 0) == nil)
    }

    @Test("a timestamp far in the future is refused (Stripe's SDK accepts it; Till does not)")
    func future() throws {
        let t = try first.timestamp
        #expect(try check(now: t - 100_000) == .outsideTolerance(timestamp: t, now: t - 100_000))
    }

    @Test("a correctly signed timestamp at the ends of the integers is refused, not a crash")
    func extremeTimestamps() throws {
        let payload = Data(#"{"id":"evt_1"}"#.utf8)
        let secret = "whsec_extreme_0123456789"
        for t in [Int.min, Int.min + 1, Int.max, -1] {
            let header = WebhookSignature.header(payload: payload, secrets: [secret], timestamp: t)
            let now = 1_700_000_000
            #expect(throws: WebhookSignature.VerificationError.outsideTolerance(timestamp: t, now: now)) {
                try WebhookSignature.verify(payload: payload, header: header, secrets: [secret], now: now)
            }
        }
    }

    @Test("each kind of failure has its own error")
    func negatives() throws {
        let v = try first
        let sig = v.header.split(separator: ",")[1]
        #expect(try check(secrets: ["whsec_wrong"]) == .noMatch)
        #expect(try check(String(v.payload.dropLast()) + " ") == .noMatch)
        #expect(try check(header: "t=\(v.timestamp + 1),\(sig)") == .noMatch)
        #expect(try check(header: "t=\(v.timestamp),v0=\(v.v1)") == .noSignatures)
        #expect(try check(header: "t=\(v.timestamp), \(sig)") == .noSignatures)
        #expect(try check(header: "t=\(v.timestamp),v1=\(v.v1.uppercased())") == .noMatch)
        #expect(try check(header: "\(sig)") == .noTimestamp)
        // The first `t` is the signed one, as in Stripe's SDKs: one put after it changes nothing, one before it does.
        #expect(try check(header: "t=\(v.timestamp),t=\(v.timestamp + 1),\(sig)") == nil)
        #expect(try check(header: "t=\(v.timestamp + 1),t=\(v.timestamp),\(sig)") == .noMatch)
        #expect(try check(header: "t=x,t=\(v.timestamp),\(sig)") == .noTimestamp)
        #expect(try check(header: "") == .noHeader)
        #expect(try check(header: .some(nil)) == .noHeader)
        #expect(try check(secrets: [""]) == .noSecret)
        #expect(try check(secrets: [String(v.secret.dropFirst("whsec_".count))]) == .noMatch)
        #expect(
            try check(
                "not json",
                header: WebhookSignature.header(
                    payload: Data("not json".utf8), secret: v.secret, timestamp: v.timestamp)) == nil)
    }

    @Test("any v1 may match any configured secret (rotation)")
    func rotation() throws {
        let payload = Data(#"{"id":"evt_1"}"#.utf8)
        let header = WebhookSignature.header(
            payload: payload, secrets: ["whsec_old", "whsec_new"], timestamp: 1_800_000_000)
        for secrets in [["whsec_old"], ["whsec_new"], ["whsec_other", "whsec_new"]] {
            #expect(throws: Never.self) {
                try WebhookSignature.verify(payload: payload, header: header, secrets: secrets, now: 1_800_000_000)
            }
        }
    }

    @Test("raw bytes that are not UTF-8 are signed and verified as bytes")
    func nonUTF8() throws {
        let payload = Data([0xFF, 0xFE, 0x00, 0x7B, 0xC3])
        let header = WebhookSignature.header(payload: payload, secret: "whsec_bin", timestamp: 1_800_000_000)
        #expect(throws: Never.self) {
            try WebhookSignature.verify(payload: payload, header: header, secrets: ["whsec_bin"], now: 1_800_000_000)
        }
        var tampered = payload
        tampered[0] = 0xFD
        #expect(throws: WebhookSignature.VerificationError.noMatch) {
            try WebhookSignature.verify(payload: tampered, header: header, secrets: ["whsec_bin"], now: 1_800_000_000)
        }
    }

    /// Signatures made by stripe-python (scripts/test writes them when Python's stripe package is installed).
    @Test(
        "events signed by Stripe's Python SDK verify",
        .enabled(if: ProcessInfo.processInfo.environment["STRIPE_PYTHON_VECTORS"] != nil))
    func pythonSigned() throws {
        struct Signed: Decodable {
            let secret: String
            let timestamp: Int
            let payload: String
            let header: String
        }
        let path = try #require(ProcessInfo.processInfo.environment["STRIPE_PYTHON_VECTORS"])
        let signed = try JSONDecoder().decode([Signed].self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(signed.count >= 3)
        for s in signed {
            #expect(throws: Never.self) {
                try WebhookSignature.verify(
                    payload: Data(s.payload.utf8), header: s.header, secrets: [s.secret], now: s.timestamp + 5)
            }
        }
    }
}
