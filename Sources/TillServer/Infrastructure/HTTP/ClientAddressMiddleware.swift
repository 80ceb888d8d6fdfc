import Foundation
import HTTPTypes
import Hummingbird

/// Sets the client's address for rate limits. `X-Forwarded-For` is believed only when the TCP peer is one of
/// `TRUSTED_PROXIES`, and then only the hops the trusted proxies themselves appended: reading from the right, the first
/// address that is not a trusted proxy is the client (anything left of it was written by the client and can be forged).
struct ClientAddressMiddleware: RouterMiddleware {
    typealias Context = TillRequestContext
    let trustedProxies: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !trustedProxies.isEmpty, let peer = context.peerAddress, trustedProxies.contains(peer) else {
            return try await next(request, context)
        }
        var context = context
        context.remoteAddress = Self.client(forwardedFor: request.headers[values: .xForwardedFor], trusted: trustedProxies) ?? peer
        return try await next(request, context)
    }

    static func client(forwardedFor headers: [String], trusted: Set<String>) -> String? {
        let hops = headers.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        for hop in hops.reversed() where !hop.isEmpty {
            if !trusted.contains(hop) { return hop.count <= 64 ? hop : nil }
        }
        return nil
    }
}

extension HTTPField.Name {
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}
