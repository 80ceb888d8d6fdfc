import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The safety net under webhooks: re-reads from Stripe the payments that should have settled by now, retries the
/// refunds that must happen, and cancels orders left unpaid past `ORDER_TTL_SECONDS` (ending their sessions at
/// Stripe first, and releasing their stock). It also re-reads the live subscriptions whose period ended without Till
/// hearing of the next one, and the incomplete ones whose checkout expired.
final class Reconciler: Service, Sendable {
    struct Report: Sendable, Encodable {
        var paymentsSynced = 0
        var subscriptionsSynced = 0
        var refundsRetried = 0
        var refundsReadBack = 0
        var ordersExpired = 0
        var eventsRetried = 0
    }

    let database: any Database
    let paymentService: PaymentService
    let subscriptionService: SubscriptionService
    let settlement: SettlementService
    let clock: TillClock
    let logger: Logger
    let orderTTLMillis: Int
    /// A live payment without an expiry is re-read once it is this old.
    let staleAfterMillis: Int
    let interval: Duration
    /// Where the last pass's re-reads stopped. A pass re-reads at most a page of each, least recently changed first;
    /// a re-read that changes nothing leaves a row where it was, so without the cursor the same page of rows that
    /// never change (a checkout Stripe never made, an intent left open) would be re-read on every pass and the rows
    /// behind them never.
    private let cursors = Mutex<(payments: PageCursor?, subscriptions: PageCursor?)>((nil, nil))
    let pageSize: Int

    init(
        database: any Database, paymentService: PaymentService, subscriptionService: SubscriptionService,
        settlement: SettlementService, clock: TillClock, logger: Logger,
        orderTTLSeconds: Int, staleAfterSeconds: Int = 3600, interval: Duration = .seconds(30), pageSize: Int = 200
    ) {
        self.pageSize = pageSize
        self.database = database
        self.paymentService = paymentService
        self.subscriptionService = subscriptionService
        self.settlement = settlement
        self.clock = clock
        self.logger = logger
        self.orderTTLMillis = orderTTLSeconds * 1000
        self.staleAfterMillis = staleAfterSeconds * 1000
        self.interval = interval
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: self.interval)
                do {
                    let report = try await self.pass()
                    if report.paymentsSynced + report.subscriptionsSynced + report.refundsRetried
                        + report.refundsReadBack + report.ordersExpired > 0
                    {
                        self.logger.info(
                            "reconciliation pass",
                            metadata: [
                                "payments_synced": "\(report.paymentsSynced)",
                                "subscriptions_synced": "\(report.subscriptionsSynced)",
                                "refunds_retried": "\(report.refundsRetried)",
                                "refunds_read_back": "\(report.refundsReadBack)",
                                "orders_expired": "\(report.ordersExpired)",
                            ])
                    }
                } catch {
                    self.logger.error("reconciliation pass failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// One full pass; `till reconcile` runs exactly this.
    func pass() async throws -> Report {
        var report = Report()
        let now = clock.nowMillis()
        let payments = PaymentRepository()
        report.eventsRetried = try await database.withConnection { db in
            // With the events that waited for a PaymentIntent a payment has since learned, wherever it learned it (a
            // subscription's invoice read back, a refund's look-up) and whatever crash came between.
            try await WebhookEventRepository().retryFailed(maxAttempts: WebhookProcessor.maxAttempts, now: now, on: db)
                + WebhookEventRepository().wake(on: db)
        }
        let stale = try await database.withConnection { [cursor = cursors.withLock(\.payments)] db in
            try await payments.stale(
                before: now - staleAfterMillis, now: now / 1000, after: cursor, limit: pageSize, on: db)
        }
        cursors.withLock {
            $0.payments = next(stale.count, stale.last.map { .init(updatedAt: $0.updatedAt, id: $0.id) })
        }
        for payment in stale {
            do {
                _ = try await paymentService.sync(payment)
                report.paymentsSynced += 1
            } catch {
                logger.warning(
                    "could not re-read a payment from Stripe",
                    metadata: ["payment.id": "\(payment.id)", "error": "\(error)"])
            }
        }
        // A renewal is due at the period's end; Stripe bills it within the hour, so a period ended longer ago than
        // the staleness window without news is re-read.
        let staleSubscriptions = try await database.withConnection { [cursor = cursors.withLock(\.subscriptions)] db in
            try await SubscriptionRepository().stale(
                periodEndBefore: (now - staleAfterMillis) / 1000, now: now / 1000, after: cursor, limit: pageSize,
                on: db)
        }
        cursors.withLock {
            $0.subscriptions = next(
                staleSubscriptions.count, staleSubscriptions.last.map { .init(updatedAt: $0.updatedAt, id: $0.id) })
        }
        for subscription in staleSubscriptions {
            do {
                _ = try await subscriptionService.sync(subscription)
                report.subscriptionsSynced += 1
            } catch {
                logger.warning(
                    "could not re-read a subscription from Stripe",
                    metadata: ["subscription.id": "\(subscription.id)", "error": "\(error)"])
            }
        }
        for payment in try await database.withConnection({ db in try await payments.needingRefund(limit: 100, on: db) })
        {
            await settlement.refundInFull(payment)
            report.refundsRetried += 1
        }
        for id in try await database.withConnection({ db in try await payments.markedForRefundReads(limit: 100, on: db)
        }) {
            await settlement.readRefunds(paymentId: id)
            report.refundsReadBack += 1
        }
        try await database.withConnection { db in
            try await IdempotencyRepository().deleteOlderThan(now - 24 * 3600 * 1000, on: db)
            if database.kind == .postgres { try await AdminRepository().foldOrderCounts(on: db) }
        }
        // Every order past its time, page by page, however long the backlog: one pass leaves none behind.
        var cursor: (createdAt: Int, id: String)?
        while true {
            let page = try await database.withConnection { [cursor] db in
                try await OrderRepository().pendingOlderThan(now - orderTTLMillis, after: cursor, limit: 200, on: db)
            }
            for (_, orderId) in page {
                do {
                    if try await expire(orderId: orderId) { report.ordersExpired += 1 }
                } catch {
                    logger.warning(
                        "could not expire an order", metadata: ["order.id": "\(orderId)", "error": "\(error)"])
                }
            }
            guard page.count == 200, let last = page.last else { break }
            cursor = last
        }
        return report
    }

    /// The next pass starts after this page's last row, or from the start when this page was the last.
    private func next(_ count: Int, _ last: PageCursor?) -> PageCursor? {
        count == pageSize ? last : nil
    }

    /// Cancels one unpaid order past its time: its open sessions are ended at Stripe first.
    func expire(orderId: String) async throws -> Bool {
        guard try await paymentService.cancelOrder(id: orderId)?.status == .cancelled else { return false }
        logger.info("unpaid order expired", metadata: ["order.id": "\(orderId)"])
        return true
    }
}
