"""The access log as a user runs Till (default configuration): one line a request, a webhook's line names its event."""
import hashlib
import hmac
import json
import os
import time
import urllib.request

import pytest

from conftest import Server

SECRET = "whsec_access_log_" + "s" * 24


@pytest.fixture(scope="module")
def till(till_bin):
    server = Server(till_bin, "embedded", {"STRIPE_WEBHOOK_SECRET": SECRET})
    yield server
    server.stop()


def post_event(server, event):
    payload = json.dumps(event).encode()
    stamp = int(time.time())
    signature = hmac.new(SECRET.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        server.root + "/api/webhooks/stripe",
        data=payload,
        headers={"Content-Type": "application/json", "Stripe-Signature": f"t={stamp},v1={signature}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
    return signature


def log_lines(server, needle, count, seconds=5):
    """The server's log lines holding `needle`, once there are `count` of them (the log is written in batches)."""
    path = os.path.join(server.dir.name, "server.log")
    deadline = time.time() + seconds
    while True:
        with open(path) as log:
            found = [line for line in log if needle in line]
        if len(found) >= count or time.time() > deadline:
            return found
        time.sleep(0.05)


def test_a_webhook_delivery_logs_one_line_naming_its_event(till):
    event = {
        "id": "evt_access_log_1", "object": "event", "type": "customer.created", "api_version": "2024-06-20",
        "created": int(time.time()), "livemode": False, "pending_webhooks": 1,
        "data": {"object": {"id": "cus_access_log", "object": "customer"}},
    }
    signature = post_event(till, event)
    post_event(till, event)
    lines = log_lines(till, "evt_access_log_1", 2)
    assert len(lines) == 2, lines
    assert all("http.route=/api/webhooks/stripe" in line and "http.status=200" in line for line in lines)
    assert all("stripe.event_type=customer.created" in line for line in lines)
    assert "webhook=stored" in lines[0] and "webhook=duplicate" in lines[1]
    # Neither the signature nor the secret reaches the log.
    text = open(os.path.join(till.dir.name, "server.log")).read()
    assert signature not in text and SECRET not in text


def test_any_request_logs_one_line(till):
    with urllib.request.urlopen(till.root + "/api/products?limit=1&probe=access-log-1", timeout=10):
        pass
    time.sleep(0.3)
    lines = log_lines(till, "http.route=/api/products ", 1)
    assert len(lines) == 1, lines
    assert "probe=access-log-1" not in lines[0]  # the query stays out of the log
