import Foundation
import HTTPTypes
import Hummingbird

#if canImport(Glibc)
    import Glibc
#endif

/// Sets the client's address for rate limits. `X-Forwarded-For` is believed only when the TCP peer is one of
/// `TRUSTED_PROXIES`, and then only the hops the trusted proxies themselves appended: reading from the right, the first
/// address that is not a trusted proxy is the client (anything left of it was written by the client and can be forged).
struct ClientAddressMiddleware: RouterMiddleware {
    typealias Context = TillRequestContext
    let trustedProxies: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var context = context
        let peer = context.peerAddress.map(Self.normalized)
        var client = peer
        if let peer, trustedProxies.contains(peer) {
            client = Self.client(forwardedFor: request.headers[values: .xForwardedFor], trusted: trustedProxies) ?? peer
        }
        context.remoteAddress = client.map(Self.limitKey)
        return try await next(request, context)
    }

    static func client(forwardedFor headers: [String], trusted: Set<String>) -> String? {
        let hops = headers.flatMap { $0.split(separator: ",") }.map {
            normalized(String($0).trimmingCharacters(in: .whitespaces))
        }
        for hop in hops.reversed() where !trusted.contains(hop) {
            // Not an address (a name, garbage): the hop cannot be believed.
            return AppConfig.isIPAddress(hop) ? hop : nil
        }
        return nil
    }

    /// One spelling per address: brackets and an IPv4 address's port dropped, an IPv4 address mapped into IPv6
    /// (`::ffff:10.0.0.5`, as a dual-stack socket reports it) unmapped, IPv6 in its canonical text.
    static func normalized(_ raw: String) -> String {
        var address = raw
        if address.hasPrefix("["), let end = address.firstIndex(of: "]") {
            address = String(address[address.index(after: address.startIndex)..<end])
        }
        if address.lowercased().hasPrefix("::ffff:"), AppConfig.isIPAddress(String(address.dropFirst(7))) {
            return String(address.dropFirst(7))
        }
        if address.filter({ $0 == ":" }).count == 1, let colon = address.firstIndex(of: ":") {
            return String(address[..<colon])
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, address, &v6) == 1 else { return address }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &v6, &text, socklen_t(text.count)) != nil else { return address }
        return String(cString: text)
    }

    /// The key rate limits count an address under: an IPv6 address stands for its /64, which is what one host is
    /// given, so limits cannot be dodged by walking through it.
    static func limitKey(_ address: String) -> String {
        var v6 = in6_addr()
        guard address.contains(":"), inet_pton(AF_INET6, address, &v6) == 1 else { return address }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        return stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
            .joined(separator: ":") + "::/64"
    }
}

extension HTTPField.Name {
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}
