import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import StripeAPI

/// The receipt page at a charge's `receipt_url`, and the 3D Secure page a `redirect_to_url` or `use_stripe_sdk`
/// next action points at, where the customer completes or fails the authentication.
extension StripeEmulator {
    func addReceiptAndAuthenticationPages<Router: RouterMethods>(to router: Router) {
        router.get("receipts/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let charge = try? await self.state.charge(id) else {
                return Pages.notFound("Receipt not found", "There is no charge \(id).")
            }
            return Self.receiptPage(charge)
        }
        router.get("authenticate/:id") { _, context in
            await self.authenticationPage(context.parameters.get("id") ?? "")
        }
        router.post("authenticate/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            var request = request
            let body = (try? await request.collectBody(upTo: 16 * 1024)).map { String(buffer: $0) } ?? ""
            let succeed = FormEncoding.decode(body)["result"]?.string == "complete"
            let info = EmulatorState.RequestInfo(requestId: TestEvents.randomId("req"), idempotencyKey: nil)
            do {
                let (intent, returnURL) = try await self.state.finishAuthentication(id, succeed: succeed, info)
                if let returnURL {
                    let separator = returnURL.contains("?") ? "&" : "?"
                    let status =
                        intent.status == .succeeded || intent.status == .requiresCapture ? "succeeded" : "failed"
                    let target =
                        returnURL + separator + "payment_intent=\(intent.id)&payment_intent_client_secret="
                        + (intent.clientSecret ?? "").addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                        + "&redirect_status=\(status)"
                    return Response(status: .seeOther, headers: [.location: target])
                }
                let done = intent.status == .succeeded || intent.status == .requiresCapture
                return Pages.page(
                    .ok, title: "3D Secure",
                    body: Pages.render(
                        "authenticated.html",
                        [
                            "heading": done ? "Authentication complete" : "Authentication failed",
                            "message": done
                                ? "The payment went through. You can close this page."
                                : "The payment was not authorized. You can close this page.",
                        ]))
            } catch let error as EmulatorError {
                return Pages.notFound(
                    "Nothing to authenticate", error.body.error.message ?? "This payment needs no authentication.")
            } catch {
                return Pages.notFound("Nothing to authenticate", "This payment needs no authentication.")
            }
        }
    }

    func authenticationPage(_ id: String) async -> Response {
        guard let intent = try? await state.paymentIntent(id), intent.status == .requiresAction else {
            return Pages.notFound(
                "Nothing to authenticate", "There is no payment waiting for authentication with id \(id).")
        }
        let last4 = intent.paymentMethod.flatMap { pm in TestCard.method(pm)?.last4 } ?? "····"
        let returnURL = intent.nextAction["redirect_to_url"]?["return_url"]?.string
        return Pages.page(
            .ok, title: "3D Secure · Stripe emulator",
            body: Pages.render(
                "authenticate.html",
                [
                    "amount": Self.format(intent.amount, intent.currency), "last4": Pages.escape(last4),
                    "intent": Pages.escape(intent.id),
                ]),
            formTargets: returnURL.flatMap(Params.origin).map { [$0] } ?? [])
    }

    static func receiptPage(_ charge: Charge) -> Response {
        let card = charge.paymentMethodDetails["card"]
        let brand = card?["brand"]?.string?.capitalized ?? "Card"
        let last4 = card?["last4"]?.string ?? "····"
        let date = Date(timeIntervalSince1970: TimeInterval(charge.created)).formatted(.iso8601.year().month().day())
        let status =
            charge.refunded
            ? "Refunded" : charge.status == "succeeded" ? (charge.captured ? "Paid" : "Authorized") : "Failed"
        let description = charge.description.string.map { "<dt>Description</dt><dd>\(Pages.escape($0))</dd>" } ?? ""
        return Pages.page(
            .ok, title: "Receipt · Stripe emulator",
            body: Pages.render(
                "receipt.html",
                [
                    "amount": format(charge.amount, charge.currency), "charge": Pages.escape(charge.id), "date": date,
                    "card": Pages.escape("\(brand) •••• \(last4)"), "status": status,
                    "refunded": format(charge.amountRefunded, charge.currency), "description": description,
                ]))
    }
}
