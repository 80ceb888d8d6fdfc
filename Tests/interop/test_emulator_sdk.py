"""The official stripe-python SDK against Till's Stripe emulator, served on its own (`till emulator`) and embedded in
`till serve`. Written from Stripe's API reference: object shapes, state machines, errors, idempotency, webhooks."""
import http.server
import json
import threading
import time
import urllib.parse
import uuid

import pytest
import requests
import stripe


def card_intent(amount=1999, currency="usd", **kwargs):
    return stripe.PaymentIntent.create(amount=amount, currency=currency, **kwargs)


# Products, prices, lists


def test_products_prices_and_lists(client):
    product = stripe.Product.create(name="Green tea", metadata={"sku": "tea-1"})
    assert product.id.startswith("prod_") and product.object == "product" and product.active is True
    price = stripe.Price.create(currency="usd", unit_amount=1999, product=product.id)
    assert price.id.startswith("price_") and price.unit_amount == 1999 and price.product == product.id
    inline = stripe.Price.create(currency="jpy", unit_amount=500, product_data={"name": "Mochi"})
    assert inline.product.startswith("prod_")
    assert stripe.Price.retrieve(price.id).id == price.id

    ids = [stripe.Product.create(name=f"P{i}").id for i in range(3)]
    page = stripe.Product.list(limit=2)
    assert page.object == "list" and page.url == "/v1/products" and page.has_more is True
    assert [p.id for p in page.data] == [ids[2], ids[1]]  # newest first
    rest = stripe.Product.list(limit=2, starting_after=ids[1])
    assert rest.data[0].id == ids[0]
    everything = [p.id for p in stripe.Product.list(limit=100).auto_paging_iter()]
    assert set(ids + [product.id]) <= set(everything)


# PaymentIntents


def test_payment_intent_succeeds(client):
    intent = card_intent(metadata={"orderId": "o1"})
    assert intent.id.startswith("pi_") and intent.object == "payment_intent"
    assert intent.status == "requires_payment_method"
    assert intent.client_secret.startswith(intent.id + "_secret_")
    assert intent.amount_received == 0 and intent.latest_charge is None
    assert intent.last_response.request_id.startswith("req_")
    confirmed = stripe.PaymentIntent.confirm(intent.id, payment_method="pm_card_visa")
    assert confirmed.status == "succeeded"
    assert confirmed.amount_received == 1999
    assert confirmed.latest_charge.startswith("ch_")
    expanded = stripe.PaymentIntent.retrieve(intent.id, expand=["latest_charge"])
    assert expanded.latest_charge.object == "charge" and expanded.latest_charge.amount == 1999
    assert expanded.latest_charge.paid is True


def test_create_and_confirm_in_one_call(client):
    intent = card_intent(payment_method="pm_card_visa", confirm=True)
    assert intent.status == "succeeded"


@pytest.mark.parametrize(
    "method,decline_code",
    [("pm_card_chargeDeclined", "generic_decline"), ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds")],
)
def test_declines(client, method, decline_code):
    intent = card_intent()
    with pytest.raises(stripe.CardError) as caught:
        stripe.PaymentIntent.confirm(intent.id, payment_method=method)
    error = caught.value
    assert error.http_status == 402
    assert error.code == "card_declined"
    assert error.error.decline_code == decline_code
    assert error.error.type == "card_error"
    assert error.request_id.startswith("req_")
    # As Stripe's: the failed charge and the intent as the decline left it, in the error.
    assert error.error.payment_intent.id == intent.id
    assert error.error.payment_intent.status == "requires_payment_method"
    assert error.error.charge.startswith("ch_")
    assert error.error.doc_url == "https://stripe.com/docs/error-codes/card-declined"
    after = stripe.PaymentIntent.retrieve(intent.id)
    assert after.status == "requires_payment_method"
    assert after.last_payment_error.code == "card_declined"
    assert after.last_payment_error.decline_code == decline_code
    # The customer tries again with a good card.
    assert stripe.PaymentIntent.confirm(intent.id, payment_method="pm_card_visa").status == "succeeded"


def test_authentication_required(client):
    intent = stripe.PaymentIntent.confirm(card_intent().id, payment_method="pm_card_authenticationRequired")
    assert intent.status == "requires_action"


def test_cancel_and_unexpected_state(client):
    intent = card_intent()
    canceled = stripe.PaymentIntent.cancel(intent.id)
    assert canceled.status == "canceled" and canceled.canceled_at
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.PaymentIntent.cancel(intent.id)
    assert caught.value.http_status == 400
    assert caught.value.code == "payment_intent_unexpected_state"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.PaymentIntent.confirm(intent.id, payment_method="pm_card_visa")
    assert caught.value.code == "payment_intent_unexpected_state"


def test_manual_capture(client):
    intent = card_intent(capture_method="manual")
    authorized = stripe.PaymentIntent.confirm(intent.id, payment_method="pm_card_visa")
    assert authorized.status == "requires_capture"
    assert authorized.amount_capturable == 1999 and authorized.amount_received == 0
    captured = stripe.PaymentIntent.capture(intent.id)
    assert captured.status == "succeeded" and captured.amount_received == 1999 and captured.amount_capturable == 0


def test_metadata_merges_and_empty_string_deletes(client):
    intent = card_intent(metadata={"a": "1", "b": "2"})
    updated = stripe.PaymentIntent.modify(intent.id, metadata={"b": "", "c": "3"})
    assert updated.metadata.to_dict() == {"a": "1", "c": "3"}


def test_lists_page_both_ways_and_filter(client):
    customer = stripe.Customer.create(email="lists@example.com")
    ids = [stripe.Product.create(name=f"L{i}", active=(i % 2 == 0)).id for i in range(5)]
    # ending_before: the page just newer than the cursor, newest first; auto-paging backwards ends.
    page = stripe.Product.list(limit=2, ending_before=ids[1])
    assert [p.id for p in page.data] == [ids[3], ids[2]] and page.has_more is True
    backwards = [p.id for p in stripe.Product.list(limit=2, ending_before=ids[0]).auto_paging_iter()]
    assert backwards == ids[1:]  # the SDK walks towards the newest, oldest first
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Product.list(starting_after=ids[0], ending_before=ids[1])
    # Filters: a product's active flag, a PaymentIntent's customer, events by a group of types, creation time.
    inactive = {p.id for p in stripe.Product.list(active=False, limit=100).auto_paging_iter()}
    assert {ids[1], ids[3]} <= inactive and not ({ids[0], ids[2], ids[4]} & inactive)
    mine = card_intent(customer=customer.id)
    card_intent()
    assert [i.id for i in stripe.PaymentIntent.list(customer=customer.id).data] == [mine.id]
    types = {e.type for e in stripe.Event.list(type="payment_intent.*", limit=100).data}
    assert types and all(t.startswith("payment_intent.") for t in types)
    assert stripe.Product.list(created={"gt": 2**40}).data == []
    assert len(stripe.Product.list(created={"gte": stripe.Product.retrieve(ids[4]).created}, limit=100).data) >= 1
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Product.list(active="maybe")


def test_list_payment_intents(client):
    first, second = card_intent(), card_intent()
    page = stripe.PaymentIntent.list(limit=1)
    assert page.data[0].id == second.id and page.has_more is True
    assert stripe.PaymentIntent.list(limit=1, starting_after=second.id).data[0].id == first.id


# Checkout Sessions


def new_session(**overrides):
    params = dict(
        mode="payment",
        line_items=[
            {"price_data": {"currency": "usd", "unit_amount": 1999, "product_data": {"name": "Tea & Cake"}}, "quantity": 2}
        ],
        success_url="http://shop.test/success?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://shop.test/cancel",
        client_reference_id="order_9",
        customer_email="ann@example.com",
        metadata={"orderId": "order_9", "paymentId": "pay_9"},
        payment_intent_data={"metadata": {"orderId": "order_9", "paymentId": "pay_9"}},
    )
    params.update(overrides)
    return stripe.checkout.Session.create(**params)


def complete(client, session_id, method="pm_card_visa"):
    return requests.post(
        f"{client.base}/v1/test_helpers/checkout/sessions/{session_id}/complete",
        data={"payment_method": method},
        headers={"Authorization": "Bearer sk_test_interop"},
        timeout=10,
    )


def test_checkout_session_shape(client):
    session = new_session()
    assert session.id.startswith("cs_") and session.object == "checkout.session"
    assert session.status == "open" and session.payment_status == "unpaid"
    assert session.payment_intent is None
    assert session.amount_total == 3998 and session.currency == "usd"
    assert session.client_reference_id == "order_9"
    assert session.url.startswith(client.base + "/checkout/")
    now = int(time.time())
    assert now + 23 * 3600 < session.expires_at <= now + 24 * 3600 + 5
    items = stripe.checkout.Session.list_line_items(session.id)
    assert items.object == "list"
    assert items.data[0].id.startswith("li_") and items.data[0].quantity == 2
    assert items.data[0].amount_total == 3998 and items.data[0].description == "Tea & Cake"
    with_price = new_session(
        line_items=[{"price": stripe.Price.create(currency="usd", unit_amount=500, product_data={"name": "X"}).id, "quantity": 1}]
    )
    assert with_price.amount_total == 500


def test_checkout_session_expiry_bounds(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        new_session(expires_at=int(time.time()) + 60)
    assert caught.value.param == "expires_at"
    assert new_session(expires_at=int(time.time()) + 3600).expires_at > time.time()


def test_pay_session_with_test_helper(client):
    session = new_session()
    response = complete(client, session.id)
    assert response.status_code == 200
    paid = stripe.checkout.Session.retrieve(session.id, expand=["payment_intent"])
    assert paid.status == "complete" and paid.payment_status == "paid"
    assert paid.payment_intent.status == "succeeded"
    assert paid.payment_intent.metadata.to_dict() == {"orderId": "order_9", "paymentId": "pay_9"}
    assert paid.customer_details.email == "ann@example.com"
    found = stripe.checkout.Session.list(payment_intent=paid.payment_intent.id)
    assert [s.id for s in found.data] == [session.id]


def test_declined_session_stays_open(client):
    session = new_session()
    response = complete(client, session.id, "pm_card_chargeDeclined")
    assert response.status_code == 402
    assert response.json()["error"]["decline_code"] == "generic_decline"
    assert stripe.checkout.Session.retrieve(session.id).status == "open"
    assert complete(client, session.id).status_code == 200


def test_expire_session(client):
    session = new_session()
    expired = stripe.checkout.Session.expire(session.id)
    assert expired.status == "expired"
    with pytest.raises(stripe.InvalidRequestError):
        stripe.checkout.Session.expire(session.id)
    assert complete(client, session.id).status_code == 400


def test_hosted_page(client):
    session = new_session()
    page = requests.get(session.url, timeout=10)
    assert page.status_code == 200 and "<form" in page.text and "39.98" in page.text
    declined = requests.post(
        session.url,
        data={"email": "ann@example.com", "cardnumber": "4000 0000 0000 0002", "expiry": "12 / 34", "cvc": "123"},
        allow_redirects=False,
        timeout=10,
    )
    assert declined.status_code == 200 and "Your card was declined." in declined.text
    paid = requests.post(
        session.url,
        data={"email": "ann@example.com", "cardnumber": "4242 4242 4242 4242", "expiry": "12 / 34", "cvc": "123"},
        allow_redirects=False,
        timeout=10,
    )
    assert paid.status_code == 303
    assert paid.headers["Location"] == f"http://shop.test/success?session_id={session.id}"
    assert stripe.checkout.Session.retrieve(session.id).payment_status == "paid"


# Refunds


def test_refunds(client):
    intent = card_intent(amount=1000, payment_method="pm_card_visa", confirm=True)
    partial = stripe.Refund.create(payment_intent=intent.id, amount=300)
    assert partial.id.startswith("re_") and partial.status == "succeeded" and partial.amount == 300
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Refund.create(payment_intent=intent.id, amount=701)
    rest = stripe.Refund.create(payment_intent=intent.id)
    assert rest.amount == 700
    charge = stripe.PaymentIntent.retrieve(intent.id, expand=["latest_charge"]).latest_charge
    assert charge.refunded is True and charge.amount_refunded == 1000
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.Refund.create(payment_intent=intent.id)
    assert caught.value.code == "charge_already_refunded"
    assert stripe.Refund.retrieve(partial.id).amount == 300
    assert {r.id for r in stripe.Refund.list(limit=10).data} >= {partial.id, rest.id}


# Errors, keys, idempotency


def test_errors(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.PaymentIntent.create(currency="usd")
    assert caught.value.http_status == 400
    assert caught.value.code == "parameter_missing" and caught.value.param == "amount"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.PaymentIntent.retrieve("pi_does_not_exist")
    assert caught.value.http_status == 404 and caught.value.code == "resource_missing"
    response = requests.get(f"{client.base}/v1/payment_intents", timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.headers["Request-Id"].startswith("req_")


def test_authentication_error_through_the_sdk(client):
    with pytest.raises(stripe.AuthenticationError):
        stripe.PaymentIntent.list(api_key="pk_test_not_a_secret_key")


def test_idempotency(client):
    key = str(uuid.uuid4())
    first = stripe.PaymentIntent.create(amount=700, currency="usd", idempotency_key=key)
    again = stripe.PaymentIntent.create(amount=700, currency="usd", idempotency_key=key)
    assert again.id == first.id
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    with pytest.raises(stripe.IdempotencyError):
        stripe.PaymentIntent.create(amount=701, currency="usd", idempotency_key=key)


# Webhooks and events


class Receiver(http.server.BaseHTTPRequestHandler):
    secret = None
    events = []
    failed = []
    failed_once = set()

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        event = stripe.Webhook.construct_event(body, self.headers["Stripe-Signature"], Receiver.secret)
        metadata = event.data.object.to_dict().get("metadata") or {}
        if metadata.get("fail_once") == "yes" and event.id not in Receiver.failed_once:
            Receiver.failed_once.add(event.id)
            Receiver.failed.append(event)
            self.send_response(500)
            self.end_headers()
            return
        Receiver.events.append(event)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Receiver.events = []
    Receiver.failed = []
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def wait_until(condition, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_webhook_endpoint_delivery(client, receiver):
    endpoint = stripe.WebhookEndpoint.create(url=receiver, enabled_events=["payment_intent.succeeded", "charge.refunded"])
    assert endpoint.id.startswith("we_") and endpoint.secret.startswith("whsec_")
    Receiver.secret = endpoint.secret
    listed = [e for e in stripe.WebhookEndpoint.list(limit=100).data if e.id == endpoint.id][0]
    assert "secret" not in listed and list(listed.enabled_events) == ["payment_intent.succeeded", "charge.refunded"]

    intent = card_intent(payment_method="pm_card_visa", confirm=True, metadata={"orderId": "o_hook"})
    stripe.Refund.create(payment_intent=intent.id)
    assert wait_until(lambda: len(Receiver.events) >= 2)
    types = sorted(e.type for e in Receiver.events)
    assert types == ["charge.refunded", "payment_intent.succeeded"]  # only what was enabled
    succeeded = [e for e in Receiver.events if e.type == "payment_intent.succeeded"][0]
    assert succeeded.id.startswith("evt_") and succeeded.data.object.id == intent.id
    assert succeeded.data.object.metadata["orderId"] == "o_hook"
    assert stripe.Event.retrieve(succeeded.id).type == "payment_intent.succeeded"
    recent = stripe.Event.list(limit=5)
    assert recent.data[0].created >= recent.data[-1].created
    assert stripe.WebhookEndpoint.delete(endpoint.id).deleted is True


def test_failed_delivery_is_retried(client, receiver):
    endpoint = stripe.WebhookEndpoint.create(url=receiver, enabled_events=["payment_intent.created"])
    Receiver.secret = endpoint.secret
    Receiver.failed_once = set()
    intent = card_intent(metadata={"fail_once": "yes"})
    # The receiver answers 500 the first time it sees this event; Stripe (and the emulator) must try again.
    assert wait_until(lambda: any(e.data.object.id == intent.id for e in Receiver.events), seconds=20)
    assert any(e.data.object.id == intent.id for e in Receiver.failed)
    stripe.WebhookEndpoint.delete(endpoint.id)
