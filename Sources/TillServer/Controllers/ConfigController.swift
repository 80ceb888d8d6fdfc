import Hummingbird

/// `GET /api/config`: what a client needs to talk to Stripe.
struct ConfigController {
    struct Body: Encodable {
        let publishableKey: String
        let stripeMode: String
        let stripeApiBase: String?
    }

    let publishableKey: String
    let stripeMode: String
    let stripeAPIBase: String?

    func addRoutes(to router: Router<TillRequestContext>) {
        let body = Body(publishableKey: publishableKey, stripeMode: stripeMode, stripeApiBase: stripeAPIBase)
        router.get("/api/config") { _, _ in try JSONCoding.response(.ok, body) }
    }
}
