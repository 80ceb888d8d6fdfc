import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import StripeAPI

/// The hosted checkout page at a session's `url`: a card form that pays the session as Stripe's page would.
extension StripeEmulator {
    func addCheckoutPage<Router: RouterMethods>(to router: Router) {
        router.get("checkout/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            return await self.checkoutPage(id: id, error: nil, email: nil)
        }
        router.post("checkout/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            var request = request
            let body = (try? await request.collectBody(upTo: 64 * 1024)).map { String(buffer: $0) } ?? ""
            let form = FormEncoding.decode(body)
            let email = form["email"]?.string?.trimmingCharacters(in: .whitespaces)
            let number = form["cardnumber"]?.string ?? ""
            if let problem = Self.cardProblem(number: number, expiry: form["expiry"]?.string ?? "", cvc: form["cvc"]?.string ?? "") {
                return await self.checkoutPage(id: id, error: problem, email: email)
            }
            let info = EmulatorState.RequestInfo(requestId: TestEvents.randomId("req"), idempotencyKey: nil)
            do {
                let session = try await self.state.completeSession(
                    id, paymentMethod: number, email: email?.isEmpty == false ? email : nil, info)
                let target = (session.successUrl ?? "/").replacingOccurrences(of: "{CHECKOUT_SESSION_ID}", with: session.id)
                return Response(status: .seeOther, headers: [.location: target])
            } catch let error as EmulatorError {
                return await self.checkoutPage(id: id, error: error.body.error.message ?? "Your card was declined.", email: email)
            } catch {
                return await self.checkoutPage(id: id, error: "Something went wrong.", email: email)
            }
        }
    }

    static func cardProblem(number: String, expiry: String, cvc: String) -> String? {
        let digits = number.filter(\.isNumber)
        if digits.count < 12 || digits.count > 19 { return "Your card number is incomplete." }
        let parts = expiry.split(separator: "/").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, let month = Int(parts[0]), (1...12).contains(month), var year = Int(parts[1]) else {
            return "Your card's expiration date is incomplete."
        }
        if year < 100 { year += 2000 }
        let now = Calendar(identifier: .gregorian).dateComponents(in: .gmt, from: Date())
        if year < now.year! || (year == now.year! && month < now.month!) { return "Your card's expiration date is in the past." }
        if !(3...4).contains(cvc.filter(\.isNumber).count) || cvc.contains(where: { !$0.isNumber }) {
            return "Your card's security code is incomplete."
        }
        return nil
    }

    func checkoutPage(id: String, error: String?, email: String?) async -> Response {
        let session: CheckoutSession
        let lines: [LineItem]
        do {
            session = try await state.session(id)
            lines = try await state.lineItems(id)
        } catch {
            return Self.html(.notFound, title: "Checkout not found", body: "<h1>Checkout not found</h1><p>There is no Checkout Session <code>\(Self.escape(id))</code>.</p>")
        }
        let currency = session.currency ?? "usd"
        let rows = lines.map { line in
            "<tr><td>\(Self.escape(line.description)) × \(line.quantity)</td><td class=\"amount\">\(Self.format(line.amountTotal, currency))</td></tr>"
        }.joined()
        let cancel = session.cancelUrl.map { "<p><a href=\"\(Self.escape($0))\" id=\"cancel\">← Back to the shop</a></p>" } ?? ""
        let summary = """
            <table class="lines">\(rows)<tr class="total"><td>Total</td><td class="amount" id="total">\(Self.format(session.amountTotal ?? 0, currency))</td></tr></table>
            """
        guard session.status == .open else {
            let message = session.status == .complete ? "This checkout is already paid." : "This checkout session has expired."
            return Self.html(.ok, title: "Checkout", body: "<h1>Checkout</h1>\(summary)<p id=\"status\" role=\"status\">\(message)</p>\(cancel)")
        }
        let errorBlock = error.map { "<p id=\"error\" class=\"error\" role=\"alert\">\(Self.escape($0))</p>" } ?? ""
        let form = """
            <h1>Pay</h1>
            \(summary)
            \(errorBlock)
            <form method="post" autocomplete="off">
              <label>Email <input type="email" name="email" id="email" value="\(Self.escape(email ?? session.customerEmail ?? ""))" required></label>
              <label>Card number <input name="cardnumber" id="cardnumber" inputmode="numeric" placeholder="4242 4242 4242 4242" required></label>
              <div class="row">
                <label>Expiry <input name="expiry" id="expiry" placeholder="MM / YY" required></label>
                <label>CVC <input name="cvc" id="cvc" inputmode="numeric" placeholder="123" required></label>
              </div>
              <button type="submit" id="pay">Pay \(Self.format(session.amountTotal ?? 0, currency))</button>
            </form>
            \(cancel)
            <p class="hint">Stripe emulator · test cards: 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined,
            4000 0000 0000 9995 has insufficient funds, 4000 0025 0000 3155 asks for authentication (approved here).</p>
            """
        return Self.html(.ok, title: "Pay · Stripe emulator", body: form)
    }

    static func html(_ status: HTTPResponse.Status, title: String, body: String) -> Response {
        let page = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title))</title>
            <style>
            body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#1a1f36}
            h1{font-size:1.4rem}table{width:100%;border-collapse:collapse;margin:1rem 0}td{padding:.4rem 0;border-bottom:1px solid #e3e8ee}
            .amount{text-align:right}.total td{font-weight:600}label{display:block;margin:.6rem 0;font-size:.9rem}
            input{display:block;width:100%;box-sizing:border-box;padding:.55rem;font-size:1rem;border:1px solid #c1c9d2;border-radius:6px}
            .row{display:flex;gap:.75rem}.row label{flex:1}button{width:100%;padding:.75rem;margin-top:.8rem;font-size:1rem;
            background:#635bff;color:#fff;border:0;border-radius:6px;cursor:pointer}.error{color:#df1b41;font-weight:600}
            .hint{color:#697386;font-size:.8rem;margin-top:2rem}
            </style></head><body>\(body)</body></html>
            """
        return Response(
            status: status,
            headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                      HTTPField.Name("X-Frame-Options")!: "DENY", HTTPField.Name("X-Content-Type-Options")!: "nosniff"],
            body: .init(byteBuffer: ByteBuffer(string: page)))
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "'", with: "&#39;")
    }

    /// An amount in a currency's major unit, for display: 1999 usd → 19.99 USD, 500 jpy → 500 JPY.
    static func format(_ amount: Int, _ currency: String) -> String {
        let zero: Set<String> = ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]
        let three: Set<String> = ["bhd", "jod", "kwd", "omr", "tnd"]
        let digits = zero.contains(currency) ? 0 : three.contains(currency) ? 3 : 2
        guard digits > 0 else { return "\(amount) \(currency.uppercased())" }
        var divisor = 1
        for _ in 0..<digits { divisor *= 10 }
        let fraction = String(abs(amount) % divisor)
        return "\(amount < 0 ? "-" : "")\(abs(amount) / divisor).\(String(repeating: "0", count: digits - fraction.count))\(fraction) \(currency.uppercased())"
    }
}
