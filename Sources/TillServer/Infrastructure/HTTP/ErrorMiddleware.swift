import Foundation
import Hummingbird
import Logging
import TillCore

/// The one place errors become responses in the contract's shape. Anything unexpected is a 500 `internal`
/// whose detail goes to the log only.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = TillRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            // No id holds a NUL, and PostgreSQL cannot even compare one with text (SQLite can): answered here, so
            // both databases answer alike, whichever query value it is in. (The emulator under /_stripe answers as
            // Stripe would.)
            if !request.uri.path.hasPrefix("/_stripe") {
                if request.uri.path.contains("%00") { throw TillError(.notFound, "No such resource") }
                if let query = request.uri.query, query.contains("%00") {
                    throw TillError.invalid("A query value must not contain the NUL character")
                }
            }
            return try await next(request, context)
        } catch let error as TillError {
            if error.code == .internalError {
                context.logger.error("internal error", metadata: ["error": "\(error.message)"])
                return Self.response(TillError(.internalError, "Internal server error"))
            }
            return Self.response(error)
        } catch let error as HTTPError {
            return Self.response(Self.map(error))
        } catch let error where PostgresStore.isUnstorableText(error) {
            // Text that reached the database another way than the checks above.
            return Self.response(TillError.invalid("Text must not contain the NUL character"))
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(String(reflecting: error))"])
            return Self.response(TillError(.internalError, "Internal server error"))
        }
    }

    static func response(_ error: TillError) -> Response {
        var response = JSONCoding.response(.init(code: error.code.httpStatus), json: body(error))
        if let seconds = error.retryAfterSeconds { response.headers[.retryAfter] = String(max(1, seconds)) }
        return response
    }

    /// The contract's error body, `{"error": {"code", "message"}}`.
    static func body(_ error: TillError) -> Data {
        (try? JSONCoding.encode(ErrorBody(error))) ?? Data("{}".utf8)
    }

    static func map(_ error: HTTPError) -> TillError {
        switch error.status {
        case .notFound: TillError(.notFound, "No such route")
        case .contentTooLarge: TillError(.payloadTooLarge, "The request body is too large")
        case .unauthorized: TillError.unauthorized
        case .forbidden: TillError.forbidden
        case .tooManyRequests: TillError(.rateLimited, error.body ?? "Too many requests", retryAfterSeconds: 1)
        case .methodNotAllowed: TillError(.notFound, "No such route for this method")
        default:
            error.status.code < 500
                ? TillError.invalid(error.body ?? "The request is not valid")
                : TillError(.internalError, "Internal server error")
        }
    }
}
