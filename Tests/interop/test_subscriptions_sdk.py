"""Till's subscription routes, driven over HTTP as an app would, with Stripe's own SDK (stripe-python) reading the
same embedded emulator behind Till: what Till says (subscription, payments, credits) must be what Stripe's objects
say (the subscription, its invoices and their invoice payments, the customer)."""
import time

import pytest
import requests
import stripe

from conftest import Server

ADMIN = {"email": "admin@sdk.test", "password": "admin-password-1"}
DAY = 86400


@pytest.fixture(scope="module")
def till(till_bin):
    server = Server(till_bin, "embedded", {"ADMIN_EMAIL": ADMIN["email"], "ADMIN_PASSWORD": ADMIN["password"],
                                           "REGISTRATIONS_PER_ADDRESS_PER_HOUR": "0"})
    stripe.api_key = "sk_test_sdk"
    stripe.api_base = server.base
    stripe.max_network_retries = 0
    yield server
    server.stop()


def api(server, method, path, token=None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, server.root + path, headers=headers, timeout=30, **kwargs)


def eventually(check, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def subscribed_user(till, plan_id, email):
    token = api(till, "POST", "/api/auth/register", json={"email": email, "password": "password-123"}).json()["token"]
    checkout = api(till, "POST", f"/api/plans/{plan_id}/checkout", token)
    assert checkout.status_code == 201, checkout.text
    body = checkout.json()
    paid = requests.post(f"{till.base}/v1/test_helpers/checkout/sessions/{body['sessionId']}/complete",
                         data={"payment_method": "pm_card_visa"}, headers={"Authorization": "Bearer sk_test_sdk"},
                         timeout=30)
    assert paid.status_code == 200, paid.text
    sub_id = body["subscriptionId"]
    eventually(lambda: api(till, "GET", f"/api/subscriptions/{sub_id}", token).json()["status"] == "ACTIVE")
    return token, sub_id


def test_till_and_stripe_agree_through_a_renewal_and_a_cancellation(till):
    admin = api(till, "POST", "/api/auth/login", json=ADMIN).json()["token"]
    plan = api(till, "POST", "/api/plans", admin,
               json={"name": "Pro", "unitAmount": 900, "currency": "usd", "credits": 50, "interval": "month"})
    assert plan.status_code == 201, plan.text
    plan = plan.json()
    price = stripe.Price.retrieve(plan["stripePriceId"])
    assert price.recurring.interval == "month" and price.unit_amount == 900 and price.type == "recurring"

    token, sub_id = subscribed_user(till, plan["id"], "sdk-renewal@example.com")
    me = api(till, "GET", "/api/auth/me", token).json()
    customer = stripe.Customer.retrieve(me["stripeCustomerId"])
    assert customer.email == "sdk-renewal@example.com" and customer.metadata["userId"] == me["id"]
    ours = api(till, "GET", f"/api/subscriptions/{sub_id}", token).json()
    theirs = stripe.Subscription.retrieve(ours["stripeSubscriptionId"])
    assert theirs.status == "active" and theirs.customer == customer.id
    assert theirs.metadata["subscriptionId"] == sub_id and theirs.metadata["planId"] == plan["id"]

    # A month passes at Stripe: one more paid invoice, one more grant.
    advanced = requests.post(f"{till.root}/_stripe/_emulator/clock/advance", json={"seconds": 32 * DAY},
                             headers={"Authorization": "Bearer sk_test_sdk"}, timeout=30)
    assert advanced.status_code == 200, advanced.text
    eventually(lambda: api(till, "GET", "/api/auth/me", token).json()["creditBalance"] == 100)
    invoices = stripe.Invoice.list(subscription=theirs.id)
    assert [i.status for i in invoices.data] == ["paid", "paid"]
    payments = eventually(lambda: [p for p in api(till, "GET", "/api/payments?limit=100", token).json()["data"]
                                   if p["kind"] == "subscription" and p["paymentIntentId"]] or None)
    payments = eventually(lambda: len(api(till, "GET", f"/api/payments?subscriptionId={sub_id}", token).json()["data"])
                          == 2 and api(till, "GET", f"/api/payments?subscriptionId={sub_id}", token).json()["data"])
    assert sorted(p["invoiceId"] for p in payments) == sorted(i.id for i in invoices.data)
    for invoice in invoices.data:
        paid = [p for p in payments if p["invoiceId"] == invoice.id][0]
        assert paid["status"] == "SUCCEEDED" and paid["amount"] == invoice.amount_paid == 900
        assert paid["currency"] == invoice.currency
        intent = stripe.InvoicePayment.list(invoice=invoice.id).data[0].payment.payment_intent
        eventually(lambda: api(till, "GET", f"/api/payments/{paid['id']}", token).json()["paymentIntentId"] == intent)
    ours = api(till, "GET", f"/api/subscriptions/{sub_id}", token).json()
    theirs = stripe.Subscription.retrieve(theirs.id)
    assert ours["currentPeriodEnd"].startswith(
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(theirs["items"].data[0].current_period_end)))

    # Cancelled at the period's end through Till: Stripe says so too; then over at the end.
    cancelled = api(till, "POST", f"/api/subscriptions/{sub_id}/cancel", token, json={"atPeriodEnd": True})
    assert cancelled.status_code == 200 and cancelled.json()["cancelAtPeriodEnd"] is True
    assert stripe.Subscription.retrieve(theirs.id).cancel_at_period_end is True
    requests.post(f"{till.root}/_stripe/_emulator/clock/advance", json={"seconds": 32 * DAY},
                  headers={"Authorization": "Bearer sk_test_sdk"}, timeout=30)
    eventually(lambda: api(till, "GET", f"/api/subscriptions/{sub_id}", token).json()["status"] == "CANCELED")
    assert stripe.Subscription.retrieve(theirs.id).status == "canceled"
    assert len(stripe.Invoice.list(subscription=theirs.id).data) == 2
    assert api(till, "GET", "/api/auth/me", token).json()["planId"] is None
    assert api(till, "GET", "/api/auth/me", token).json()["creditBalance"] == 100


def test_portal_session_is_for_the_users_customer(till):
    admin = api(till, "POST", "/api/auth/login", json=ADMIN).json()["token"]
    plan = api(till, "POST", "/api/plans", admin,
               json={"name": "Team", "unitAmount": 4900, "currency": "eur", "credits": 10, "interval": "year"}).json()
    token, _ = subscribed_user(till, plan["id"], "sdk-portal@example.com")
    portal = api(till, "POST", "/api/billing-portal", token)
    assert portal.status_code == 201, portal.text
    page = requests.get(portal.json()["url"], timeout=30)
    assert page.status_code == 200 and "Cancel" in page.text
    customer = api(till, "GET", "/api/auth/me", token).json()["stripeCustomerId"]
    subs = stripe.Subscription.list(customer=customer)
    assert len(subs.data) == 1 and subs.data[0].items.data[0].price.recurring.interval == "year"
