import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TillCore

/// The emulator's HTML pages: templates and the stylesheet are resource files (`Resources/`), read once through
/// `Bundle.module`; values are HTML-escaped before they are put in. Every page is sent with a strict
/// Content-Security-Policy (no inline script or style at all), `nosniff` and `X-Frame-Options: DENY`.
enum Pages {
    /// Resource files by name (`page.html`, `emulator.css`...).
    static let files: [String: String] = {
        var files: [String: String] = [:]
        for name in [
            "page.html", "checkout.html", "checkout-closed.html", "summary.html", "not-found.html", "receipt.html",
            "authenticate.html", "authenticated.html", "emulator.css", "portal.html", "portal-subscription.html",
        ] {
            let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
            if let url = Bundle.module.url(forResource: parts[0], withExtension: parts[1]),
                let text = try? String(contentsOf: url, encoding: .utf8)
            {
                files[name] = text
            }
        }
        return files
    }()

    /// Static files served under `assets/`, with their content types.
    static let assets: [String: String] = ["emulator.css": "text/css; charset=utf-8"]

    /// Fills `{{name}}` placeholders of a template in one pass (a value is never scanned for placeholders itself).
    static func render(_ name: String, _ values: [String: String]) -> String {
        let template = files[name] ?? "{{body}}"
        var out = ""
        var rest = template[...]
        while let open = rest.range(of: "{{") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                rest = rest[open.lowerBound...]
                break
            }
            out += values[String(rest[open.upperBound..<close.lowerBound])] ?? ""
            rest = rest[close.upperBound...]
        }
        return out + rest
    }

    /// The Content-Security-Policy of a page. Forms post to the page itself; `formTargets` are the origins its
    /// answer may redirect to (the `success_url` or `return_url`, already checked to be http or https).
    static func contentSecurityPolicy(formTargets: [String] = []) -> String {
        var seen: Set<String> = []
        let targets = (["'self'"] + formTargets).filter { seen.insert($0).inserted }.joined(separator: " ")
        return
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action \(targets); base-uri 'none'; frame-ancestors 'none'"
    }

    static func securityHeaders(csp: String) -> HTTPFields {
        [
            .contentSecurityPolicy: csp, HTTPField.Name("X-Frame-Options")!: "DENY",
            HTTPField.Name("X-Content-Type-Options")!: "nosniff", HTTPField.Name("Referrer-Policy")!: "no-referrer",
            .cacheControl: "no-store",
        ]
    }

    /// A whole page: `body` (already HTML) in the layout. Pages live one level under the base URL
    /// (`/checkout/:id`, `/receipts/:id`...), so the stylesheet is at `../assets/`.
    static func page(_ status: HTTPResponse.Status, title: String, body: String, formTargets: [String] = []) -> Response
    {
        let html = render("page.html", ["title": escape(title), "assets": "../assets", "body": body])
        var headers = securityHeaders(csp: contentSecurityPolicy(formTargets: formTargets))
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func notFound(_ heading: String, _ message: String) -> Response {
        page(
            .notFound, title: heading,
            body: render("not-found.html", ["heading": escape(heading), "message": escape(message)]))
    }

    static func asset(_ name: String) -> Response {
        guard let type = assets[name], let text = files[name] else {
            return notFound("Not found", "There is no file \(name).")
        }
        var headers = securityHeaders(csp: "default-src 'none'")
        headers[.contentType] = type
        headers[.cacheControl] = "public, max-age=300"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "'", with: "&#39;")
    }
}
