import Hummingbird
import NIOCore
import TillCore

public struct TillRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The caller, set by the authentication middleware.
    var identity: Identity?
    /// The client's IP address: the TCP peer, or what a trusted proxy says in `X-Forwarded-For`
    /// (`ClientAddressMiddleware`).
    var remoteAddress: String?
    /// The TCP peer itself.
    let peerAddress: String?
    /// What the route adds to the request's access line (set by `AccessMiddleware` when that line is logged).
    var accessNote: AccessNote?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peerAddress = source.channel.remoteAddress?.ipAddress
        remoteAddress = peerAddress
    }

    func requireIdentity() throws -> Identity {
        guard let identity else { throw TillError.unauthorized }
        return identity
    }

    func requireAdmin() throws -> Identity {
        let identity = try requireIdentity()
        guard identity.isAdmin else { throw TillError.forbidden }
        return identity
    }
}
