"""`till trigger` signs events that the official stripe-python SDK verifies, in the shape Stripe sends."""
import http.server
import json
import subprocess
import threading

import pytest
import stripe

SECRET = "whsec_interop_" + "k" * 24
TYPES = [
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "charge.refunded",
    "charge.dispute.created",
]


class Receiver(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            event = stripe.Webhook.construct_event(body, self.headers.get("Stripe-Signature"), SECRET, tolerance=300)
        except stripe.SignatureVerificationError as error:
            self.send_response(400)
            self.end_headers()
            self.wfile.write(str(error).encode())
            return
        Receiver.received.append(event)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"received": true}')

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def receiver():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/webhook"
    server.shutdown()


def trigger(till_bin, url, *args, secret=SECRET):
    return subprocess.run(
        [till_bin, "trigger", *args, "--to", url, "--secret", secret], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("event_type", TYPES)
def test_stripe_python_verifies_trigger(till_bin, receiver, event_type):
    Receiver.received.clear()
    result = trigger(till_bin, receiver, event_type, "--order", "order_42", "--amount", "500", "--currency", "jpy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(Receiver.received) == 1
    event = Receiver.received[0]
    assert event.id.startswith("evt_")
    assert event.type == event_type
    assert event.object == "event"
    assert event.livemode is False
    assert isinstance(event.created, int)
    assert event.api_version
    obj = event.data.object
    if event_type.startswith("checkout.session"):
        assert obj.object == "checkout.session"
        assert obj.amount_total == 500 and obj.currency == "jpy"
        assert obj.metadata["orderId"] == "order_42"
        assert obj.client_reference_id == "order_42"
        assert obj.customer_details.email
        assert obj.payment_status in ("paid", "unpaid")
        assert obj.status == ("expired" if event_type.endswith("expired") else "complete")
        assert "payment_intent" in obj
    elif event_type.startswith("payment_intent"):
        assert obj.object == "payment_intent"
        assert obj.amount == 500
        assert obj.metadata["orderId"] == "order_42"
        if event_type.endswith("payment_failed"):
            assert obj.last_payment_error.code == "card_declined"
        if event_type.endswith("succeeded"):
            assert obj.amount_received == 500 and obj.status == "succeeded"
    elif event_type == "charge.refunded":
        assert obj.object == "charge" and obj.refunded is True and obj.amount_refunded == 500
        assert obj.payment_intent.startswith("pi_")
    elif event_type == "charge.dispute.created":
        assert obj.object == "dispute" and obj.charge.startswith("ch_") and obj.reason and obj.status


@pytest.mark.parametrize("event_type", ["invoice.paid", "invoice.payment_failed", "customer.subscription.updated", "customer.subscription.deleted"])
def test_billing_events_carry_the_ids_given(till_bin, receiver, event_type):
    Receiver.received.clear()
    result = trigger(
        till_bin, receiver, event_type, "--subscription", "sub_42", "--invoice", "in_42", "--customer", "cus_42",
        "--subscription-metadata", "subscriptionId=s_42", "--subscription-status", "past_due", "--cancel-at-period-end",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    event = Receiver.received[0]
    assert event.type == event_type
    obj = event.data.object
    if event_type.startswith("invoice."):
        assert obj.object == "invoice" and obj.id == "in_42" and obj.customer == "cus_42"
        assert obj.parent.subscription_details.subscription == "sub_42"
        assert obj.status == ("paid" if event_type == "invoice.paid" else "open")
    else:
        assert obj.object == "subscription" and obj.id == "sub_42" and obj.customer == "cus_42"
        assert obj.metadata["subscriptionId"] == "s_42"
        assert obj.status == ("canceled" if event_type.endswith("deleted") else "past_due")
        if event_type.endswith("updated"):
            assert obj.cancel_at_period_end is True


def test_count_and_duplicate(till_bin, receiver):
    Receiver.received.clear()
    result = trigger(till_bin, receiver, "payment_intent.succeeded", "--count", "3", "--duplicate")
    assert result.returncode == 0, result.stderr
    ids = [e.id for e in Receiver.received]
    assert len(ids) == 6
    assert len(set(ids)) == 3  # each event delivered twice, with the same id


def test_wrong_secret_is_refused(till_bin, receiver):
    Receiver.received.clear()
    result = trigger(till_bin, receiver, "charge.refunded", secret="whsec_not_the_one")
    assert result.returncode != 0
    assert "400" in result.stdout
    assert Receiver.received == []


def test_unknown_type_is_a_clear_error(till_bin, receiver):
    result = trigger(till_bin, receiver, "invoice.nonsense")
    assert result.returncode != 0
    assert "Unsupported event type" in result.stderr
