import Hummingbird
import TillCore

/// Reads `Authorization: Bearer <JWT>`. With `required`, a missing or bad token is 401; otherwise a bad token
/// leaves the request anonymous (public pages keep working with a stale token).
struct AuthMiddleware: RouterMiddleware {
    typealias Context = TillRequestContext
    let auth: AuthService
    let required: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var context = context
        if let header = request.headers[.authorization], header.count > 7,
            header.prefix(7).lowercased() == "bearer "
        {
            context.identity = try await auth.identity(fromToken: String(header.dropFirst(7)))
        }
        if required && context.identity == nil { throw TillError.unauthorized }
        return try await next(request, context)
    }
}
