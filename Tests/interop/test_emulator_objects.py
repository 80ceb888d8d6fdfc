"""Stripe's objects, whole, through the official stripe-python SDK: card details on charges, receipts that answer,
3D Secure by next_action (use_stripe_sdk and redirect_to_url), automatic payment methods, customers and payment
methods, balance transactions with the emulator's fee (2.9% + 30), and expansions."""
import urllib.parse

import pytest
import requests
import stripe


def test_card_details_outcome_and_receipt(client):
    intent = stripe.PaymentIntent.create(amount=1999, currency="usd", payment_method="pm_card_mastercard", confirm=True,
                                         expand=["latest_charge"])
    charge = intent.latest_charge
    card = charge.payment_method_details.card
    assert charge.payment_method_details.type == "card"
    assert (card.brand, card.last4, card.network, card.funding) == ("mastercard", "4444", "mastercard", "credit")
    assert 1 <= card.exp_month <= 12 and card.exp_year > 2025
    assert card.checks.cvc_check == "pass"
    assert charge.outcome.network_status == "approved_by_network"
    assert charge.outcome.type == "authorized" and charge.outcome.risk_level == "normal"
    assert charge.outcome.seller_message == "Payment complete."
    assert charge.billing_details.address.country is None
    page = requests.get(charge.receipt_url, timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "19.99 USD" in page.text and "4444" in page.text
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]


def test_declined_charge_outcome(client):
    intent = stripe.PaymentIntent.create(amount=500, currency="usd")
    with pytest.raises(stripe.CardError):
        stripe.PaymentIntent.confirm(intent.id, payment_method="pm_card_chargeDeclinedInsufficientFunds")
    charge = stripe.Charge.retrieve(stripe.PaymentIntent.retrieve(intent.id).latest_charge)
    assert charge.status == "failed" and charge.outcome.network_status == "declined_by_network"
    assert charge.outcome.reason == "insufficient_funds" and charge.outcome.type == "issuer_declined"
    assert charge.balance_transaction is None


def test_balance_transaction_fee(client):
    intent = stripe.PaymentIntent.create(amount=10000, currency="usd", payment_method="pm_card_visa", confirm=True)
    charge = stripe.Charge.retrieve(intent.latest_charge, expand=["balance_transaction"])
    txn = charge.balance_transaction
    assert txn.object == "balance_transaction" and txn.source == charge.id and txn.type == "charge"
    assert txn.fee == 320 and txn.net == 9680  # 2.9% of 100.00 + 0.30
    assert txn.fee_details[0].type == "stripe_fee"
    assert stripe.BalanceTransaction.retrieve(txn.id).amount == 10000
    refund = stripe.Refund.create(payment_intent=intent.id, amount=2500, expand=["balance_transaction"])
    assert refund.balance_transaction.amount == -2500 and refund.balance_transaction.type == "refund"
    assert refund.destination_details.type == "card"


def test_3ds_use_stripe_sdk(client):
    intent = stripe.PaymentIntent.create(amount=1500, currency="usd", payment_method="pm_card_authenticationRequired",
                                         confirm=True)
    assert intent.status == "requires_action"
    assert intent.next_action.type == "use_stripe_sdk"
    url = intent.next_action.use_stripe_sdk.stripe_js
    page = requests.get(url, timeout=10)
    assert page.status_code == 200 and "Complete authentication" in page.text
    done = requests.post(url, data={"result": "complete"}, timeout=10)
    assert done.status_code == 200 and "Authentication complete" in done.text
    paid = stripe.PaymentIntent.retrieve(intent.id, expand=["latest_charge"])
    assert paid.status == "succeeded" and paid.next_action is None
    assert paid.latest_charge.payment_method_details.card.three_d_secure.result == "authenticated"


@pytest.mark.parametrize("result,status", [("complete", "succeeded"), ("fail", "failed")])
def test_3ds_redirect_to_url(client, result, status):
    intent = stripe.PaymentIntent.create(amount=1500, currency="usd", payment_method="pm_card_authenticationRequired",
                                         confirm=True, return_url="https://shop.test/return?order=7")
    assert intent.next_action.type == "redirect_to_url"
    redirect = intent.next_action.redirect_to_url
    assert redirect.return_url == "https://shop.test/return?order=7"
    answer = requests.post(redirect.url, data={"result": result}, allow_redirects=False, timeout=10)
    assert answer.status_code == 303
    target = urllib.parse.urlparse(answer.headers["Location"])
    query = urllib.parse.parse_qs(target.query)
    assert target.netloc == "shop.test" and query["order"] == ["7"]
    assert query["payment_intent"] == [intent.id] and query["redirect_status"] == [status]
    after = stripe.PaymentIntent.retrieve(intent.id)
    if result == "complete":
        assert after.status == "succeeded"
    else:
        assert after.status == "requires_payment_method"
        assert after.last_payment_error.code == "payment_intent_authentication_failure"


def test_return_url_must_be_http(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.PaymentIntent.create(amount=100, currency="usd", payment_method="pm_card_visa", confirm=True,
                                    return_url="javascript:alert(1)")
    assert caught.value.code == "url_invalid" and caught.value.param == "return_url"


def test_automatic_payment_methods(client):
    default = stripe.PaymentIntent.create(amount=100, currency="usd")
    assert default.automatic_payment_methods.enabled is True
    assert default.payment_method_types == ["card"]
    explicit = stripe.PaymentIntent.create(amount=100, currency="usd",
                                           automatic_payment_methods={"enabled": True, "allow_redirects": "never"})
    assert explicit.automatic_payment_methods.allow_redirects == "never"
    assert stripe.PaymentIntent.retrieve(explicit.id).automatic_payment_methods.enabled is True
    typed = stripe.PaymentIntent.create(amount=100, currency="usd", payment_method_types=["card"])
    assert typed.automatic_payment_methods is None and typed.payment_method_types == ["card"]
    asynchronous = stripe.PaymentIntent.create(amount=100, currency="usd", capture_method="automatic_async",
                                               payment_method="pm_card_visa", confirm=True)
    assert asynchronous.capture_method == "automatic_async" and asynchronous.status == "succeeded"


def test_customers_and_payment_methods(client):
    customer = stripe.Customer.create(email="jenny@example.com", metadata={"userId": "u1"})
    assert customer.id.startswith("cus_") and customer.invoice_settings.default_payment_method is None
    card = stripe.PaymentMethod.retrieve("pm_card_visa")
    assert card.card.brand == "visa" and card.card.last4 == "4242" and card.customer is None
    attached = stripe.PaymentMethod.attach("pm_card_visa", customer=customer.id)
    assert attached.id.startswith("pm_") and attached.id != "pm_card_visa" and attached.customer == customer.id
    assert stripe.PaymentMethod.retrieve(attached.id).card.last4 == "4242"
    updated = stripe.Customer.modify(customer.id, invoice_settings={"default_payment_method": attached.id},
                                     metadata={"plan": "pro"})
    assert updated.invoice_settings.default_payment_method == attached.id
    assert updated.metadata.to_dict() == {"userId": "u1", "plan": "pro"}
    assert stripe.Customer.retrieve(customer.id).email == "jenny@example.com"
    listed = stripe.Customer.list(email="jenny@example.com", limit=100)
    assert customer.id in [c.id for c in listed.data]
    intent = stripe.PaymentIntent.create(amount=700, currency="usd", customer=customer.id, payment_method=attached.id,
                                         confirm=True, expand=["customer", "latest_charge"])
    assert intent.status == "succeeded" and intent.customer.email == "jenny@example.com"
    assert intent.latest_charge.payment_method == attached.id
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Customer.modify(customer.id, invoice_settings={"default_payment_method": "pm_card_mastercard"})


def test_expansions(client):
    session = stripe.checkout.Session.create(
        mode="payment", success_url="https://shop.test/ok?s={CHECKOUT_SESSION_ID}",
        line_items=[{"price_data": {"currency": "usd", "unit_amount": 1200, "product_data": {"name": "Tea"}}, "quantity": 2}])
    requests.post(f"{client.base}/v1/test_helpers/checkout/sessions/{session.id}/complete",
                  data={"payment_method": "pm_card_visa"}, headers={"Authorization": "Bearer sk_test_interop"}, timeout=10)
    full = stripe.checkout.Session.retrieve(session.id, expand=["payment_intent.latest_charge", "line_items"])
    assert full.payment_intent.latest_charge.amount == 2400
    assert full.line_items.data[0].quantity == 2
    assert full.total_details.amount_tax == 0 and full.automatic_tax.enabled is False
    assert full.customer_details.address.country == "US"
    charges = stripe.Charge.list(limit=3, expand=["data.balance_transaction"])
    assert all(c.balance_transaction is None or c.balance_transaction.object == "balance_transaction" for c in charges.data)
    assert any(c.balance_transaction is not None for c in charges.data)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.PaymentIntent.retrieve(full.payment_intent.id, expand=["nope"])
    assert "cannot be expanded" in str(caught.value)


def test_hosted_page_3ds_and_customer_lists(client):
    session = stripe.checkout.Session.create(
        mode="payment", success_url="https://shop.test/ok?s={CHECKOUT_SESSION_ID}",
        line_items=[{"price_data": {"currency": "usd", "unit_amount": 900, "product_data": {"name": "Tea"}}, "quantity": 1}])
    card = {"email": "a@b.test", "cardnumber": "4000 0025 0000 3155", "expiry": "12/40", "cvc": "123"}
    to_bank = requests.post(session.url, data=card, allow_redirects=False, timeout=10)
    assert to_bank.status_code == 303 and "/authenticate/pi_" in to_bank.headers["Location"]
    assert stripe.checkout.Session.retrieve(session.id).status == "open"
    back = requests.post(to_bank.headers["Location"], data={"result": "complete"}, allow_redirects=False, timeout=10)
    assert back.status_code == 303 and f"/checkout/{session.id}/authenticated" in back.headers["Location"]
    done = requests.get(back.headers["Location"], allow_redirects=False, timeout=10)
    assert done.status_code == 303 and done.headers["Location"] == f"https://shop.test/ok?s={session.id}"
    paid = stripe.checkout.Session.retrieve(session.id, expand=["payment_intent.latest_charge"])
    assert paid.status == "complete" and paid.customer_details.email == "a@b.test"
    assert paid.payment_intent.latest_charge.payment_method_details.card.three_d_secure.result == "authenticated"

    customer = stripe.Customer.create(email="lists@example.com")
    attached = stripe.PaymentMethod.attach("pm_card_mastercard", customer=customer.id)
    stripe.Customer.modify(customer.id, invoice_settings={"default_payment_method": attached.id})
    expanded = stripe.Customer.retrieve(customer.id, expand=["invoice_settings.default_payment_method"])
    assert expanded.invoice_settings.default_payment_method.card.brand == "mastercard"
    assert [m.id for m in stripe.PaymentMethod.list(customer=customer.id).data] == [attached.id]
    assert [m.id for m in stripe.Customer.list_payment_methods(customer.id).data] == [attached.id]
