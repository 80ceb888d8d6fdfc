import HTTPTypes
import Hummingbird
import NIOCore

/// Serves the pages and their assets, with security headers: a CSP that allows only this origin's scripts and
/// styles, no framing, no sniffing, and no referrer leaking the session id.
struct WebController {
    static let securityHeaders: HTTPFields = [
        HTTPField.Name("Content-Security-Policy")!: "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("X-Frame-Options")!: "DENY",
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
        .cacheControl: "no-store",
    ]

    func addRoutes(to router: Router<TillRequestContext>) {
        let pages: [(String, String)] = [
            ("/", WebAssets.storefront), ("/checkout/success", WebAssets.success), ("/checkout/cancel", WebAssets.cancel),
            ("/account", WebAssets.account),
        ]
        for (path, html) in pages {
            router.get(RouterPath(path)) { _, _ in Self.respond(html, type: "text/html; charset=utf-8") }
        }
        let assets: [(String, String, String)] = [
            ("/assets/till.css", WebAssets.css, "text/css; charset=utf-8"),
            ("/assets/till.js", WebScripts.common, "text/javascript; charset=utf-8"),
            ("/assets/storefront.js", WebScripts.storefront, "text/javascript; charset=utf-8"),
            ("/assets/success.js", WebScripts.success, "text/javascript; charset=utf-8"),
            ("/assets/cancel.js", WebScripts.cancel, "text/javascript; charset=utf-8"),
            ("/assets/account.js", WebScripts.account, "text/javascript; charset=utf-8"),
        ]
        router.get("/openapi.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
        for (path, text, type) in assets {
            router.get(RouterPath(path)) { _, _ in Self.respond(text, type: type) }
        }
    }

    static func respond(_ text: String, type: String) -> Response {
        var headers = securityHeaders
        headers[.contentType] = type
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
