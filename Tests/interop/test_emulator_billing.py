"""Stripe Billing through the official stripe-python SDK, against the emulator standalone and embedded: customers on
test clocks, recurring prices, Checkout in subscription mode, subscriptions, invoices, invoice payments, renewals by
advancing a test clock or the emulator's own clock, failed renewals and the retry schedule, Customer Portal sessions."""
import pytest
import requests
import stripe

DAY = 86400


def subscribe(card="pm_card_visa", interval="month", clock=None):
    product = stripe.Product.create(name="Pro")
    price = stripe.Price.create(currency="usd", unit_amount=900, product=product.id,
                                recurring={"interval": interval, "interval_count": 1})
    assert price.type == "recurring" and price.recurring.interval == interval
    customer = stripe.Customer.create(email="jenny@example.com", **({"test_clock": clock.id} if clock else {}))
    session = stripe.checkout.Session.create(
        mode="subscription", customer=customer.id, line_items=[{"price": price.id, "quantity": 1}],
        subscription_data={"metadata": {"userId": "u1"}}, success_url="https://shop.test/ok",
        cancel_url="https://shop.test/no")
    assert session.mode == "subscription" and session.subscription is None
    page = requests.get(session.url, timeout=10)
    assert "then 9.00 USD every " + interval in page.text
    done = requests.post(f"{stripe.api_base}/v1/test_helpers/checkout/sessions/{session.id}/complete",
                         data={"payment_method": card}, headers={"Authorization": "Bearer sk_test_interop"}, timeout=10)
    assert done.status_code == 200, done.text
    session = stripe.checkout.Session.retrieve(session.id)
    return customer, stripe.Subscription.retrieve(session.subscription), session


def test_subscribe_and_read_back(client):
    clock = stripe.test_helpers.TestClock.create(frozen_time=1800000000, name="interop")
    assert clock.object == "test_helpers.test_clock" and clock.status == "ready"
    customer, sub, session = subscribe(clock=clock)
    assert session.status == "complete" and session.payment_status == "paid"
    assert customer.test_clock == clock.id
    assert sub.status == "active" and sub.customer == customer.id and sub.metadata["userId"] == "u1"
    item = sub["items"].data[0]
    assert item.current_period_start == 1800000000 and item.current_period_end > item.current_period_start
    assert item.price.recurring.interval == "month"
    assert [s.id for s in stripe.Subscription.list(customer=customer.id).data] == [sub.id]
    assert stripe.Subscription.list(customer=customer.id, status="canceled").data == []
    invoices = stripe.Invoice.list(subscription=sub.id).data
    assert len(invoices) == 1
    invoice = stripe.Invoice.retrieve(invoices[0].id)
    assert invoice.status == "paid" and invoice.amount_paid == 900 and invoice.customer == customer.id
    assert invoice.parent.subscription_details.subscription == sub.id
    assert invoice.billing_reason == "subscription_create"
    assert [i.id for i in stripe.Invoice.list(customer=customer.id).data] == [invoice.id]
    payments = stripe.InvoicePayment.list(invoice=invoice.id).data
    assert len(payments) == 1 and payments[0].status == "paid"
    intent = stripe.PaymentIntent.retrieve(payments[0].payment.payment_intent)
    assert intent.status == "succeeded" and intent.amount == 900
    events = [e.type for e in stripe.Event.list(limit=100).data]
    for t in ["customer.subscription.created", "invoice.created", "invoice.finalized", "invoice.paid",
              "checkout.session.completed"]:
        assert t in events


def test_test_clock_renewal_and_failed_card(client):
    clock = stripe.test_helpers.TestClock.create(frozen_time=1800000000)
    customer, sub, _ = subscribe(clock=clock)
    end = sub["items"].data[0].current_period_end
    stripe.test_helpers.TestClock.advance(clock.id, frozen_time=end + 60)
    assert stripe.test_helpers.TestClock.retrieve(clock.id).frozen_time == end + 60
    renewed = stripe.Subscription.retrieve(sub.id)
    assert renewed.status == "active" and renewed["items"].data[0].current_period_start == end
    assert len(stripe.Invoice.list(subscription=sub.id).data) == 2

    failing = stripe.PaymentMethod.attach("pm_card_chargeCustomerFail", customer=customer.id)
    stripe.Customer.modify(customer.id, invoice_settings={"default_payment_method": failing.id})
    stripe.Subscription.modify(sub.id, default_payment_method="")  # falls back to the customer's default
    end2 = stripe.Subscription.retrieve(sub.id)["items"].data[0].current_period_end
    stripe.test_helpers.TestClock.advance(clock.id, frozen_time=end2 + 60)
    assert stripe.Subscription.retrieve(sub.id).status == "past_due"
    invoice = stripe.Invoice.list(subscription=sub.id, limit=1).data[0]
    assert invoice.status == "open" and invoice.attempt_count == 1 and invoice.next_payment_attempt == end2 + 3 * DAY
    stripe.test_helpers.TestClock.advance(clock.id, frozen_time=end2 + 8 * DAY)
    gone = stripe.Subscription.retrieve(sub.id)
    assert gone.status == "canceled" and gone.ended_at == end2 + 7 * DAY
    assert stripe.Invoice.retrieve(invoice.id).attempt_count == 4
    failed = [e for e in stripe.Event.list(limit=100, type="invoice.payment_failed").data]
    assert len(failed) == 4


def test_own_clock_cancel_at_period_end_and_delete(client):
    _, ending, _ = subscribe(interval="day")
    _, deleted, _ = subscribe(interval="day")
    sub = stripe.Subscription.modify(ending.id, cancel_at_period_end=True)
    assert sub.cancel_at_period_end is True and sub.cancel_at == sub["items"].data[0].current_period_end
    gone = stripe.Subscription.cancel(deleted.id)
    assert gone.status == "canceled"
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Subscription.cancel(deleted.id)
    moved = requests.post(client.base + "/_emulator/clock/advance", json={"seconds": 2 * DAY},
                          headers={"Authorization": "Bearer sk_test_interop"}, timeout=30)
    assert moved.status_code == 200 and moved.json()["now"] > 0
    ended = stripe.Subscription.retrieve(ending.id)
    assert ended.status == "canceled" and ended.ended_at == sub.cancel_at
    assert len(stripe.Invoice.list(subscription=ending.id).data) == 1
    assert len(stripe.Invoice.list(subscription=deleted.id).data) == 1
    bad = requests.post(client.base + "/_emulator/clock/advance", json={"seconds": -1},
                        headers={"Authorization": "Bearer sk_test_interop"}, timeout=10)
    assert bad.status_code == 400


def test_portal_session(client):
    customer, sub, _ = subscribe()
    with pytest.raises(stripe.InvalidRequestError) as error:
        stripe.billing_portal.Session.create(customer=customer.id, return_url="javascript:alert(1)")
    assert error.value.code == "url_invalid"
    portal = stripe.billing_portal.Session.create(customer=customer.id, return_url="https://shop.test/account")
    assert portal.object == "billing_portal.session" and portal.customer == customer.id
    assert portal.return_url == "https://shop.test/account"
    page = requests.get(portal.url, timeout=10)
    assert page.status_code == 200 and "Cancel at period end" in page.text
    assert "default-src 'none'" in page.headers["Content-Security-Policy"] and "<script" not in page.text
    requests.post(f"{portal.url}/subscriptions/{sub.id}/cancel", timeout=10, allow_redirects=False)
    assert stripe.Subscription.retrieve(sub.id).cancel_at_period_end is True
    requests.post(f"{portal.url}/subscriptions/{sub.id}/resume", timeout=10, allow_redirects=False)
    assert stripe.Subscription.retrieve(sub.id).cancel_at_period_end is False
    requests.post(f"{portal.url}/payment-method", data={"cardnumber": "5555 5555 5555 4444"}, timeout=10,
                  allow_redirects=False)
    pm = stripe.Customer.retrieve(customer.id).invoice_settings.default_payment_method
    assert stripe.PaymentMethod.retrieve(pm).card.last4 == "4444"
    assert stripe.Subscription.retrieve(sub.id).default_payment_method == pm


def test_create_subscription_through_the_api(client):
    product = stripe.Product.create(name="Pro")
    price = stripe.Price.create(currency="usd", unit_amount=1500, product=product.id, recurring={"interval": "week"})
    customer = stripe.Customer.create(email="api@example.com")
    method = stripe.PaymentMethod.attach("pm_card_visa", customer=customer.id)
    stripe.Customer.modify(customer.id, invoice_settings={"default_payment_method": method.id})
    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": price.id}], metadata={"planId": "p1"},
                                     expand=["latest_invoice"])
    assert sub.status == "active" and sub.latest_invoice.status == "paid" and sub.latest_invoice.amount_paid == 1500
    failing = stripe.PaymentMethod.attach("pm_card_chargeCustomerFail", customer=customer.id)
    with pytest.raises(stripe.CardError):
        stripe.Subscription.create(customer=customer.id, items=[{"price": price.id}], default_payment_method=failing.id)
