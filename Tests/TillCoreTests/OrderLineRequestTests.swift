import Testing
import TillCore

@Suite("Order lines")
struct OrderLineRequestTests {
    @Test("repeats of one product merge, first-seen order kept")
    func merge() throws {
        let lines = try OrderLineRequest.normalise([
            .init(productId: "b", quantity: 1), .init(productId: "a", quantity: 2), .init(productId: "b", quantity: 3),
        ])
        #expect(lines == [.init(productId: "b", quantity: 4), .init(productId: "a", quantity: 2)])
    }

    @Test("empty, zero and negative quantities are refused with the item named")
    func invalid() {
        #expect(throws: TillError.self) { try OrderLineRequest.normalise([]) }
        #expect(throws: TillError.invalid("items[1].quantity must be a positive integer")) {
            try OrderLineRequest.normalise([.init(productId: "a", quantity: 1), .init(productId: "b", quantity: 0)])
        }
        #expect(throws: TillError.self) { try OrderLineRequest.normalise([.init(productId: "", quantity: 1)]) }
    }

    @Test("the canonical text tells different requests apart")
    func canonical() {
        let a = OrderLineRequest.canonical([.init(productId: "ab", quantity: 1)])
        let b = OrderLineRequest.canonical([.init(productId: "a", quantity: 11)])
        #expect(a != b)
    }

    @Test("every error code maps to the contract's status", arguments: TillError.Code.allCases)
    func statuses(code: TillError.Code) {
        let expected: [TillError.Code: Int] = [
            .invalidRequest: 400, .unauthorized: 401, .forbidden: 403, .notFound: 404, .emailTaken: 409,
            .orderNotPayable: 409, .insufficientInventory: 409, .idempotencyKeyReused: 422, .invalidSignature: 400,
            .payloadTooLarge: 413, .rateLimited: 429, .tooManyPendingOrders: 429, .stripeError: 502, .busy: 503,
            .internalError: 500, .alreadySubscribed: 409, .subscriptionNotActive: 409, .paymentNotRefundable: 409,
            .paymentNotUnderReview: 409,
        ]
        #expect(code.httpStatus == expected[code])
    }
}
