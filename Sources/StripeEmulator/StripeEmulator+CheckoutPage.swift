import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import StripeAPI
import TillCore

/// The hosted checkout page at a session's `url`: a card form that pays the session as Stripe's page would.
extension StripeEmulator {
    func addCheckoutPage<Router: RouterMethods>(to router: Router) {
        router.get("assets/:file") { _, context in Pages.asset(context.parameters.get("file") ?? "") }
        router.get("checkout/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            return await self.checkoutPage(id: id, error: nil, email: nil)
        }
        router.get("checkout/:id/authenticated") { _, context in
            let id = context.parameters.get("id") ?? ""
            let info = EmulatorState.RequestInfo(requestId: TestEvents.randomId("req"), idempotencyKey: nil)
            guard let session = try? await self.state.completeAuthenticatedSession(id, info) else {
                return Pages.notFound("Checkout not found", "There is no Checkout Session \(id).")
            }
            if session.status == .complete { return Self.redirectToSuccess(session) }
            return await self.checkoutPage(
                id: id,
                error:
                    "We are unable to authenticate your payment method. Please choose a different payment method and try again.",
                email: nil)
        }
        router.post("checkout/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            var request = request
            let body = (try? await request.collectBody(upTo: 64 * 1024)).map { String(buffer: $0) } ?? ""
            let form = FormEncoding.decode(body)
            let email = form["email"]?.string?.trimmingCharacters(in: .whitespaces)
            let number = form["cardnumber"]?.string ?? ""
            if let problem = Self.cardProblem(
                number: number, expiry: form["expiry"]?.string ?? "", cvc: form["cvc"]?.string ?? "")
            {
                return await self.checkoutPage(id: id, error: problem, email: email)
            }
            let info = EmulatorState.RequestInfo(requestId: TestEvents.randomId("req"), idempotencyKey: nil)
            do {
                let session = try await self.state.completeSession(
                    id, paymentMethod: number, email: email?.isEmpty == false ? email : nil, info,
                    authenticateOnPage: true)
                if session.status == .open, let intentId = session.paymentIntent?.id {
                    // The card asks for 3D Secure: the bank's page, which comes back to `checkout/:id/authenticated`.
                    return Response(
                        status: .seeOther,
                        headers: [.location: "\(self.configuration.baseURL)/authenticate/\(intentId)"])
                }
                return Self.redirectToSuccess(session)
            } catch let error as EmulatorError {
                return await self.checkoutPage(
                    id: id, error: error.body.error.message ?? "Your card was declined.", email: email)
            } catch {
                return await self.checkoutPage(id: id, error: "Something went wrong.", email: email)
            }
        }
    }

    static func redirectToSuccess(_ session: CheckoutSession) -> Response {
        let target = (session.successUrl ?? "/").replacingOccurrences(of: "{CHECKOUT_SESSION_ID}", with: session.id)
        return Response(status: .seeOther, headers: [.location: target])
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
        if year < now.year! || (year == now.year! && month < now.month!) {
            return "Your card's expiration date is in the past."
        }
        if !(3...4).contains(cvc.filter(\.isNumber).count) || cvc.contains(where: { !$0.isNumber }) {
            return "Your card's security code is incomplete."
        }
        return nil
    }

    func checkoutPage(id: String, error: String?, email: String?) async -> Response {
        let session: CheckoutSession
        let lines: [LineItem]
        // A session for a customer shows the customer's email, as Stripe's page does.
        var customerEmail: String?
        do {
            session = try await state.session(id)
            lines = try await state.lineItems(id)
            if let customer = session.customer.string {
                customerEmail = try? await state.customer(customer).email
            }
        } catch {
            return Pages.notFound("Checkout not found", "There is no Checkout Session \(id).")
        }
        let currency = session.currency ?? "usd"
        let rows = lines.map { line in
            "<tr><td>\(Pages.escape(line.description)) × \(line.quantity)</td><td class=\"amount\">\(Self.format(line.amountTotal, currency))</td></tr>"
        }.joined()
        // Checked at creation to be http or https, so it cannot be a `javascript:` link.
        let cancel =
            session.cancelUrl.map { "<p><a href=\"\(Pages.escape($0))\" id=\"cancel\">← Back to the shop</a></p>" }
            ?? ""
        let total = Self.format(session.amountTotal ?? 0, currency)
        var summary = Pages.render("summary.html", ["rows": rows, "total": total])
        if session.mode == "subscription", let recurring = lines.first?.price?.recurring {
            // Stripe's page: "then $X every month" under the amount due today.
            summary +=
                "<p class=\"recurring\" id=\"recurring\">Due today \(total), then \(total) \(EmulatorState.intervalText(recurring))</p>"
        }
        guard session.status == .open else {
            let message =
                session.status == .complete ? "This checkout is already paid." : "This checkout session has expired."
            return Pages.page(
                .ok, title: "Checkout",
                body: Pages.render("checkout-closed.html", ["summary": summary, "message": message, "cancel": cancel]))
        }
        let errorBlock = error.map { "<p id=\"error\" class=\"error\" role=\"alert\">\(Pages.escape($0))</p>" } ?? ""
        let body = Pages.render(
            "checkout.html",
            [
                "summary": summary, "error": errorBlock,
                "email": Pages.escape(email ?? session.customerEmail ?? customerEmail ?? ""),
                "total": total, "cancel": cancel,
            ])
        return Pages.page(
            .ok, title: "Pay · Stripe emulator", body: body,
            formTargets: ([session.successUrl.flatMap(Params.origin), Params.origin(configuration.baseURL)]).compactMap
            { $0 })
    }

    /// An amount in a currency's major unit, for display: 1999 usd → 19.99 USD, 500 jpy → 500 JPY. The digits are
    /// TillCore's `Currency` rules.
    static func format(_ amount: Int, _ currency: String) -> String {
        let digits = Currency(currency)?.minorUnitDigits ?? 2
        let code = currency.uppercased()
        let sign = amount < 0 ? "-" : ""
        let magnitude = amount.magnitude
        guard digits > 0 else { return "\(sign)\(magnitude) \(code)" }
        var divisor: UInt = 1
        for _ in 0..<digits { divisor *= 10 }
        let fraction = String(magnitude % divisor)
        return
            "\(sign)\(magnitude / divisor).\(String(repeating: "0", count: digits - fraction.count))\(fraction) \(code)"
    }
}
