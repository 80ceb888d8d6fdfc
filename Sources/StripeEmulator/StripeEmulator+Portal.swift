import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import StripeAPI

/// The hosted Customer Portal at a `billing_portal.session`'s `url`: the customer's subscriptions, with cancel at
/// period end and resume, and the card invoices are charged to. Plain forms (no script), strict CSP.
extension StripeEmulator {
    func addPortalPage<Router: RouterMethods>(to router: Router) {
        router.get("portal/:id") { _, context in
            await self.portalPage(id: context.parameters.get("id") ?? "", notice: nil)
        }
        router.post("portal/:id/subscriptions/:sub/:action") { _, context in
            let id = context.parameters.get("id") ?? ""
            let sub = context.parameters.get("sub") ?? ""
            let action = context.parameters.get("action") ?? ""
            guard action == "cancel" || action == "resume" else {
                return Pages.notFound("Not found", "There is no portal action \(action).")
            }
            do {
                try await self.state.portalSetCancel(id, subscription: sub, atPeriodEnd: action == "cancel")
            } catch {
                return await self.portalPage(
                    id: id, notice: (error as? EmulatorError)?.body.error.message ?? "That did not work.", failed: true)
            }
            return Response(status: .seeOther, headers: [.location: "\(self.configuration.baseURL)/portal/\(id)"])
        }
        router.post("portal/:id/payment-method") { request, context in
            let id = context.parameters.get("id") ?? ""
            var request = request
            let body = (try? await request.collectBody(upTo: 64 * 1024)).map { String(buffer: $0) } ?? ""
            let number = FormEncoding.decode(body)["cardnumber"]?.string ?? ""
            do {
                _ = try await self.state.portalChangeCard(id, card: number)
            } catch {
                return await self.portalPage(
                    id: id, notice: (error as? EmulatorError)?.body.error.message ?? "That did not work.", failed: true)
            }
            return Response(status: .seeOther, headers: [.location: "\(self.configuration.baseURL)/portal/\(id)"])
        }
    }

    func portalPage(id: String, notice: String?, failed: Bool = false) async -> Response {
        guard let view = try? await state.portalView(id) else {
            return Pages.notFound("Portal not found", "There is no Customer Portal session \(id).")
        }
        let rows = view.subscriptions.map { sub in
            let ending = sub.cancelAtPeriodEnd
            return Pages.render(
                "portal-subscription.html",
                [
                    "id": Pages.escape(id), "sub": Pages.escape(sub.id), "plan": Pages.escape(sub.plan),
                    "status": Pages.escape(sub.status), "whenLabel": ending ? "Ends on" : "Renews on",
                    "when": Self.day(sub.periodEnd), "action": ending ? "resume" : "cancel",
                    "button": ending ? "Resume subscription" : "Cancel at period end",
                    "buttonClass": ending ? "" : "secondary",
                ])
        }.joined()
        let back =
            view.returnURL.map { "<p><a href=\"\(Pages.escape($0))\" id=\"return\">← Return</a></p>" } ?? ""
        let noticeBlock =
            notice.map {
                "<p id=\"notice\" class=\"\(failed ? "error" : "notice")\" role=\"alert\">\(Pages.escape($0))</p>"
            } ?? ""
        let body = Pages.render(
            "portal.html",
            [
                "id": Pages.escape(id), "customer": Pages.escape(view.customer), "notice": noticeBlock,
                "subscriptions": rows.isEmpty ? "<p id=\"none\">No active subscriptions.</p>" : rows,
                "card": Pages.escape(view.card), "back": back,
            ])
        return Pages.page(failed ? .badRequest : .ok, title: "Manage billing · Stripe emulator", body: body)
    }

    static func day(_ time: Int) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = .gmt
        formatter.dateFormat = "MMMM d, yyyy"
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(time)))
    }
}

extension EmulatorState {
    struct PortalView: Sendable {
        struct Row: Sendable {
            let id: String
            let plan: String
            let status: String
            let periodEnd: Int
            let cancelAtPeriodEnd: Bool
        }
        let customer: String
        let card: String
        let returnURL: String?
        let subscriptions: [Row]
    }

    /// What the portal page shows: the customer, their card, and their subscriptions that have not ended.
    func portalView(_ id: String) throws(EmulatorError) -> PortalView {
        let session = try portalSession(id)
        let customer = try customer(session.customer)
        let card: String
        if let pm = customer.invoiceSettings.defaultPaymentMethod, let method = paymentMethods[pm],
            let brand = method.card["brand"]?.string, let last4 = method.card["last4"]?.string
        {
            card = "\(brand.capitalized) ending in \(last4)"
        } else if let sub = subscriptions.values.first(where: { $0.customer == customer.id }),
            let pm = sub.defaultPaymentMethod, let method = paymentMethods[pm],
            let brand = method.card["brand"]?.string, let last4 = method.card["last4"]?.string
        {
            card = "\(brand.capitalized) ending in \(last4)"
        } else {
            card = "No card on file."
        }
        let rows = subscriptions.values
            .filter { $0.customer == customer.id && $0.status != .canceled && $0.status != .incompleteExpired }
            .sorted { $0.created < $1.created }
            .map { sub in
                let price = sub.items.first?["price"]
                let currency = price?["currency"]?.string ?? "usd"
                let amount = (price?["unit_amount"]?.int ?? 0)
                let name = (price?["product"]?.string).flatMap { products[$0]?.name } ?? "Subscription"
                return PortalView.Row(
                    id: sub.id,
                    plan:
                        "\(name): \(StripeEmulator.format(amount, currency)) \(Self.intervalText(price?["recurring"]))",
                    status: sub.status.rawValue, periodEnd: sub.currentPeriodEnd ?? 0,
                    cancelAtPeriodEnd: sub.cancelAtPeriodEnd)
            }
        return PortalView(
            customer: customer.email ?? customer.name ?? customer.id, card: card, returnURL: session.returnURL,
            subscriptions: rows)
    }
}
