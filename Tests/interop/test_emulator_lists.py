"""The emulator's nested lists, filters, idempotency and validation, as Stripe serves them, through stripe-python:
the lists an object's `url` names (invoice lines, a charge's refunds, a subscription's items), pages of a session's
line items, beta API versions, keys kept per secret key and only for requests that ran, and enum parameters."""
import uuid

import pytest
import requests
import stripe

from test_emulator_billing import subscribe


def post(path, data, key="sk_test_interop", **headers):
    return requests.post(f"{stripe.api_base}{path}", data=data, timeout=10,
                         headers={"Authorization": f"Bearer {key}", **headers})


def test_lists_an_object_names_are_served(client):
    clock = stripe.test_helpers.TestClock.create(frozen_time=1800000000)
    customer, sub, _ = subscribe(clock=clock)
    invoice = stripe.Invoice.retrieve(sub.latest_invoice)
    lines = stripe.Invoice.list_lines(invoice.id)
    assert [line.id for line in lines.data] == [line.id for line in invoice.lines.data]
    assert lines.url == invoice.lines.url and lines.data[0].amount == 900
    items = stripe.SubscriptionItem.list(subscription=sub.id)
    assert [i.id for i in items.data] == [i.id for i in sub["items"].data] and items.url == sub["items"].url
    with pytest.raises(stripe.InvalidRequestError):
        stripe.SubscriptionItem.list()
    intent = stripe.PaymentIntent.create(amount=3000, currency="usd", payment_method="pm_card_visa", confirm=True)
    made = [stripe.Refund.create(payment_intent=intent.id, amount=100 * n).id for n in (1, 2, 3)]
    charge = stripe.Charge.retrieve(intent.latest_charge)
    assert [r.id for r in charge.refunds.auto_paging_iter()] == made[::-1]
    page = requests.get(f"{stripe.api_base}/v1/charges/{charge.id}/refunds?limit=2",
                        headers={"Authorization": "Bearer sk_test_interop"}, timeout=10).json()
    assert [r["id"] for r in page["data"]] == made[:0:-1] and page["has_more"] is True
    # Renewal: the invoice looks back on the period just ended; its line bills the one ahead.
    stripe.test_helpers.TestClock.advance(clock.id, frozen_time=1800000000 + 32 * 86400)
    renewal = [i for i in stripe.Invoice.list(subscription=sub.id).data if i.billing_reason == "subscription_cycle"][0]
    line = renewal.lines.data[0]
    assert renewal.period_end == line.period.start > renewal.period_start == 1800000000


def test_filters_keep_only_what_they_name(client):
    first = stripe.PaymentIntent.create(amount=1000, currency="usd", payment_method="pm_card_visa", confirm=True)
    other = stripe.PaymentIntent.create(amount=1000, currency="usd", payment_method="pm_card_visa", confirm=True)
    mine = stripe.Refund.create(payment_intent=first.id, amount=100)
    stripe.Refund.create(payment_intent=other.id, amount=200)
    assert [r.id for r in stripe.Refund.list(charge=first.latest_charge).data] == [mine.id]
    assert {t.type for t in stripe.BalanceTransaction.list(type="refund", limit=100).data} == {"refund"}


def test_session_line_items_are_paged(client):
    product = stripe.Product.create(name="Tea")
    prices = [stripe.Price.create(currency="usd", unit_amount=100 + n, product=product.id) for n in range(12)]
    session = stripe.checkout.Session.create(
        mode="payment", line_items=[{"price": p.id, "quantity": 1} for p in prices],
        success_url="https://shop.test/ok")
    first = stripe.checkout.Session.list_line_items(session.id)
    assert len(first.data) == 10 and first.has_more is True
    rest = stripe.checkout.Session.list_line_items(session.id, starting_after=first.data[-1].id)
    assert len(rest.data) == 2 and rest.has_more is False
    assert [i.price.id for i in first.data + rest.data] == [p.id for p in prices]
    back = stripe.checkout.Session.list_line_items(session.id, ending_before=rest.data[0].id, limit=3)
    assert [i.id for i in back.data] == [i.id for i in first.data[7:]] and back.has_more is True
    expanded = stripe.checkout.Session.retrieve(session.id, expand=["line_items"])
    assert len(expanded.line_items.data) == 10 and expanded.line_items.has_more is True
    with pytest.raises(stripe.InvalidRequestError):
        stripe.checkout.Session.list_line_items(session.id, limit=500)


def test_beta_api_versions_are_taken(client):
    answer = requests.get(f"{stripe.api_base}/v1/customers", timeout=10, headers={
        "Authorization": "Bearer sk_test_interop",
        "Stripe-Version": "2025-03-31.basil; checkout_server_update_beta=v1; custom_checkout_beta=v1"})
    assert answer.status_code == 200, answer.text
    bad = requests.get(f"{stripe.api_base}/v1/customers", timeout=10, headers={
        "Authorization": "Bearer sk_test_interop", "Stripe-Version": "2025-03-31.basil; <script>"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_stripe_version"


def test_idempotency_keys_as_stripe_keeps_them(client):
    key = str(uuid.uuid4())
    one = post("/v1/customers", "email=a%40example.com&name=Ann", **{"Idempotency-Key": key})
    # The same parameters in another order are the same request.
    again = post("/v1/customers", "name=Ann&email=a%40example.com", **{"Idempotency-Key": key})
    assert again.status_code == 200 and again.json()["id"] == one.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    # Keys belong to the account, whichever of its secret keys sends them.
    other = post("/v1/customers", "email=a%40example.com&name=Ann", key="sk_test_other", **{"Idempotency-Key": key})
    assert other.status_code == 200 and other.json()["id"] == one.json()["id"]
    # A request refused before it ran keeps nothing: once put right, the same key runs it.
    key = str(uuid.uuid4())
    missing = post("/v1/payment_intents", "amount=500&currency=usd&customer=cus_nope", **{"Idempotency-Key": key})
    assert missing.status_code == 404
    customer = stripe.Customer.create(email="b@example.com")
    # Not the same parameters, so a kept 404 would answer 400 idempotency_error; nothing was kept.
    made = post("/v1/payment_intents", f"amount=500&currency=usd&customer={customer.id}", **{"Idempotency-Key": key})
    assert made.status_code == 200, made.text
    # A decline ran: it is kept and replayed.
    key = str(uuid.uuid4())
    body = "amount=500&currency=usd&confirm=true&payment_method=pm_card_chargeDeclined"
    declined = post("/v1/payment_intents", body, **{"Idempotency-Key": key})
    replayed = post("/v1/payment_intents", body, **{"Idempotency-Key": key})
    assert declined.status_code == replayed.status_code == 402
    assert replayed.headers.get("Idempotent-Replayed") == "true"
    assert replayed.json()["error"]["payment_intent"]["id"] == declined.json()["error"]["payment_intent"]["id"]


def test_decline_names_its_charge_and_card(client):
    with pytest.raises(stripe.CardError) as caught:
        stripe.PaymentIntent.create(amount=2500, currency="usd", payment_method="pm_card_chargeDeclined", confirm=True)
    intent = stripe.PaymentIntent.retrieve(caught.value.error.payment_intent.id)
    error = intent.last_payment_error
    assert error.charge == intent.latest_charge and error.decline_code == "generic_decline"
    assert error.payment_method.object == "payment_method" and error.payment_method.card.last4 == "0002"


def test_enum_parameters_are_checked(client):
    intent = stripe.PaymentIntent.create(amount=700, currency="usd")
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.PaymentIntent.cancel(intent.id, cancellation_reason="because")
    assert caught.value.param == "cancellation_reason"
    assert stripe.PaymentIntent.retrieve(intent.id).status == "requires_payment_method"
    assert stripe.PaymentIntent.cancel(intent.id).cancellation_reason is None
    paid = stripe.PaymentIntent.create(amount=700, currency="usd", payment_method="pm_card_visa", confirm=True)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.Refund.create(payment_intent=paid.id, reason="bogus")
    assert caught.value.param == "reason"
    assert stripe.Charge.retrieve(paid.latest_charge).amount_refunded == 0
    assert stripe.Refund.create(payment_intent=paid.id, reason="duplicate").reason == "duplicate"


def test_deleting_a_test_clock_deletes_its_customers(client):
    clock = stripe.test_helpers.TestClock.create(frozen_time=1800000000)
    customer, sub, _ = subscribe(clock=clock)
    stripe.test_helpers.TestClock.delete(clock.id)
    for retrieve, id in ((stripe.Customer.retrieve, customer.id), (stripe.Subscription.retrieve, sub.id)):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            retrieve(id)
        assert caught.value.http_status == 404
