import Hummingbird
import NIOCore
import TillCore

public struct TillRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The caller, set by the authentication middleware.
    var identity: Identity?
    /// The client's IP address (the peer of the TCP connection; proxies' headers are not trusted).
    let remoteAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress
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
