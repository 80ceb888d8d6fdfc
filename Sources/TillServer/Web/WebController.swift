import HTTPTypes
import Hummingbird
import NIOCore

/// Serves the pages and their assets from the bundled files, with security headers: a CSP that allows only this
/// origin's scripts and styles, no framing, no sniffing, and no referrer leaking the session id. Every file carries
/// an ETag and must be revalidated (`no-cache`), so a deploy is seen at once and an unchanged file costs a 304.
struct WebController {
    static let securityHeaders: HTTPFields = [
        HTTPField.Name("Content-Security-Policy")!:
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("X-Frame-Options")!: "DENY",
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
        .cacheControl: "no-cache",
    ]

    /// Page routes and the file each serves.
    static let pages: [(route: String, file: String)] = [
        ("/", "pages/storefront.html"), ("/checkout/success", "pages/success.html"),
        ("/checkout/cancel", "pages/cancel.html"), ("/account", "pages/account.html"),
        ("/admin", "pages/admin-dashboard.html"), ("/admin/catalog", "pages/admin-catalog.html"),
        ("/admin/orders", "pages/admin-orders.html"), ("/admin/orders/:id", "pages/admin-order.html"),
        ("/admin/payments", "pages/admin-payments.html"), ("/admin/payments/:id", "pages/admin-payment.html"),
        ("/admin/webhooks", "pages/admin-webhooks.html"),
        ("/admin/subscriptions", "pages/admin-subscriptions.html"),
        ("/admin/subscriptions/:id", "pages/admin-subscription.html"),
    ]

    var assets = WebAssets.bundled

    func addRoutes(to router: Router<TillRequestContext>) {
        for (route, file) in Self.pages {
            let asset = assets[file]
            router.get(RouterPath(route)) { request, _ in Self.respond(asset, to: request) }
        }
        for (path, asset) in assets.files where path.hasPrefix("assets/") {
            router.get(RouterPath("/" + path)) { request, _ in Self.respond(asset, to: request) }
        }
        let document = assets["openapi.json"]
        router.get("/openapi.json") { request, _ in
            Self.respond(document, to: request, headers: [.cacheControl: "no-cache"])
        }
    }

    static func respond(_ asset: WebAsset, to request: Request, headers base: HTTPFields = securityHeaders) -> Response
    {
        var headers = base
        headers[.eTag] = asset.etag
        if let tags = request.headers[.ifNoneMatch],
            tags.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == asset.etag })
        {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = asset.contentType
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: asset.body))
    }
}
