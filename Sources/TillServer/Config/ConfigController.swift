import Hummingbird
import TillCore

/// `GET /api/config`: what a client needs to talk to Stripe.
struct ConfigController {
    struct Body: Encodable {
        let publishableKey: String
        let stripeMode: String
        let stripeApiBase: String?
        /// Currency code → digits of its minor unit, so pages format amounts by the server's one set of rules.
        let currencies: [String: Int]
    }

    let publishableKey: String
    let stripeMode: String
    let stripeAPIBase: String?

    func addRoutes(to router: Router<TillRequestContext>) {
        let body = Body(
            publishableKey: publishableKey, stripeMode: stripeMode, stripeApiBase: stripeAPIBase,
            currencies: Dictionary(uniqueKeysWithValues: Currency.all.map { ($0.code, $0.minorUnitDigits) }))
        router.get("/api/config") { _, _ in try JSONCoding.response(.ok, body) }
    }
}
