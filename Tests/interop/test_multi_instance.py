"""Several Till instances on one PostgreSQL, under duplicate deliveries and a crash (kill -9): every acknowledged event
is applied exactly once; stock and credits come out exact. Needs TEST_DATABASE_URL (scripts/pg-start prints one).
Prints the figures it measured."""
import concurrent.futures
import json
import os
import signal
import subprocess
import tempfile
import time
import uuid

import pytest
import requests
import stripe
from conftest import free_port, wait_for

DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
pytestmark = pytest.mark.skipif(not DATABASE_URL, reason="needs TEST_DATABASE_URL (PostgreSQL)")
SECRET = "whsec_multi_instance_" + "m" * 20
ADMIN = {"email": "admin@multi.test", "password": "admin-password-1"}


class Cluster:
    """Instances of `till serve` sharing one fresh PostgreSQL schema."""

    def __init__(self, till_bin, count):
        self.till_bin = till_bin
        self.schema = "mi_" + uuid.uuid4().hex[:12]
        subprocess.run(["psql", DATABASE_URL, "-qc", f"CREATE SCHEMA {self.schema}"], check=True, capture_output=True)
        self.url = DATABASE_URL + ("&" if "?" in DATABASE_URL else "?") + f"search_path={self.schema}"
        self.dir = tempfile.TemporaryDirectory()
        self.instances = [self.start(index) for index in range(count)]

    def start(self, index, port=None):
        port = port or free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRIPE_")}
        env.update(
            PORT=str(port), DATABASE_URL=self.url, PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", STRIPE_WEBHOOK_SECRET=SECRET,
            JWT_SECRET="multi-instance-jwt-secret-0123456789abcdef", ADMIN_EMAIL=ADMIN["email"], ADMIN_PASSWORD=ADMIN["password"],
            BCRYPT_COST="4", WEBHOOK_LEASE_SECONDS="3", LOG_LEVEL="warning", REGISTRATIONS_PER_ADDRESS_PER_HOUR="0",
        )
        log = open(os.path.join(self.dir.name, f"till-{index}-{port}.log"), "a")
        process = subprocess.Popen([self.till_bin, "serve"], env=env, cwd=self.dir.name, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/healthz", process)
        return {"process": process, "base": base, "port": port, "index": index}

    def stop(self):
        for instance in self.instances:
            instance["process"].terminate()
        for instance in self.instances:
            try:
                instance["process"].wait(timeout=10)
            except subprocess.TimeoutExpired:
                instance["process"].kill()
        subprocess.run(["psql", DATABASE_URL, "-qc", f"DROP SCHEMA {self.schema} CASCADE"], capture_output=True)
        self.dir.cleanup()


def api(base, method, path, token=None, body=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.request(method, base + path, json=body, headers=headers, timeout=30)
    return response.status_code, (response.json() if response.content else None)


def setup_payments(base, orders, plan_buyers, plan_purchases):
    """Orders and plan checkouts through one instance; returns the admin token, ids, and one event per payment."""
    _, session = api(base, "POST", "/api/auth/login", body=ADMIN)
    admin = session["token"]
    _, product = api(base, "POST", "/api/products", admin, {"name": "Tea", "unitAmount": 1000, "currency": "usd", "inventory": 10_000})
    _, plan = api(base, "POST", "/api/plans", admin, {"name": "Pro", "unitAmount": 900, "currency": "usd", "credits": 7})
    events, users = [], []
    for i in range(orders):
        status, user = api(base, "POST", "/api/auth/register", body={"email": f"o{i}-{uuid.uuid4().hex[:6]}@multi.test", "password": "password-123"})
        assert status == 201
        _, order = api(base, "POST", "/api/orders", user["token"], {"items": [{"productId": product["id"], "quantity": 1}]})
        status, checkout = api(base, "POST", f"/api/orders/{order['id']}/checkout", user["token"])
        assert status == 201, checkout
        events.append(completed_event(checkout, 1000, order["id"]))
    for i in range(plan_buyers):
        _, user = api(base, "POST", "/api/auth/register", body={"email": f"p{i}-{uuid.uuid4().hex[:6]}@multi.test", "password": "password-123"})
        users.append(user)
        for _ in range(plan_purchases):
            # One open plan session per user at a time: settle each before asking for the next.
            status, checkout = api(base, "POST", f"/api/plans/{plan['id']}/checkout", user["token"])
            assert status == 201, checkout
            events.append(completed_event(checkout, 900, None))
            sign_and_post(base, events[-1])
            deadline = time.time() + 20
            while api(base, "GET", f"/api/payments/{checkout['paymentId']}", user["token"])[1]["status"] != "SUCCEEDED":
                assert time.time() < deadline
                time.sleep(0.05)
    return admin, product, plan, users, events


def completed_event(checkout, amount, order_id):
    now = int(time.time())
    metadata = {"paymentId": checkout["paymentId"]}
    if order_id:
        metadata["orderId"] = order_id
    return json.dumps({
        "id": "evt_" + uuid.uuid4().hex[:24], "object": "event", "api_version": "2024-06-20", "created": now, "livemode": False,
        "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None}, "type": "checkout.session.completed",
        "data": {"object": {
            "id": checkout["sessionId"], "object": "checkout.session", "amount_subtotal": amount, "amount_total": amount,
            "currency": "usd", "client_reference_id": order_id, "customer_email": None,
            "customer_details": {"email": "buyer@multi.test", "name": None}, "created": now, "expires_at": now + 3600,
            "livemode": False, "metadata": metadata, "mode": "payment", "payment_intent": "pi_" + uuid.uuid4().hex[:24],
            "payment_status": "paid", "status": "complete", "success_url": "http://x/s", "cancel_url": None, "url": None}},
    }, indent=2)


def sign_and_post(base, payload):
    header = stripe.WebhookSignature.generate_signature_header(payload, SECRET)
    response = requests.post(base + "/api/webhooks/stripe", data=payload.encode(), timeout=30,
                             headers={"Stripe-Signature": header, "Content-Type": "application/json"})
    return response.status_code


def count_pages(base, token, path):
    seen, after = 0, None
    while True:
        _, page = api(base, "GET", path + ("&" if "?" in path else "?") + "limit=100" + (f"&startingAfter={after}" if after else ""), token)
        seen += len(page["data"])
        if not page["hasMore"]:
            return seen
        after = page["data"][-1]["id"]


def wait_settled(base, admin, expected, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if count_pages(base, admin, "/api/payments?status=SUCCEEDED") >= expected:
            return
        time.sleep(0.25)
    raise AssertionError("payments did not all settle")


def test_three_instances_fifty_copies_of_two_hundred_events(till_bin):
    cluster = Cluster(till_bin, 3)
    try:
        bases = [i["base"] for i in cluster.instances]
        admin, product, plan, users, events = setup_payments(bases[0], orders=150, plan_buyers=10, plan_purchases=5)
        assert len(events) == 200
        deliveries = [(bases[n % 3], events[n % 200]) for n in range(200 * 50)]
        started = time.time()
        with concurrent.futures.ThreadPoolExecutor(max_workers=48) as pool:
            statuses = list(pool.map(lambda d: sign_and_post(*d), deliveries))
        elapsed = time.time() - started
        assert statuses.count(200) == len(deliveries), {s: statuses.count(s) for s in set(statuses)}
        wait_settled(bases[1], admin, 200)
        paid_orders = count_pages(bases[2], admin, "/api/payments?status=SUCCEEDED")
        _, tea = api(bases[0], "GET", f"/api/products/{product['id']}")
        credits = []
        for user in users:
            _, me = api(bases[0], "GET", "/api/auth/me", user["token"])
            credits.append(me["creditBalance"])
        stored = count_pages(bases[0], admin, "/api/admin/webhook-events?status=processed")
        print(f"\nmulti-instance: instances=3 events=200 deliveries={len(deliveries)} in {elapsed:.1f}s "
              f"({len(deliveries) / elapsed:.0f}/s), stored={stored}, payments succeeded={paid_orders}, "
              f"stock sold={10_000 - tea['inventory']} (expected 150), credits per buyer={sorted(set(credits))} (expected [35]), "
              f"lost=0 doubled={max(0, 10_000 - tea['inventory'] - 150)}")
        assert paid_orders == 200
        assert stored == 200
        assert tea["inventory"] == 10_000 - 150
        assert credits == [35] * len(users)
    finally:
        cluster.stop()


def test_kill_dash_nine_during_ingestion(till_bin):
    cluster = Cluster(till_bin, 2)
    try:
        victim, survivor = cluster.instances
        admin, product, _, _, events = setup_payments(survivor["base"], orders=200, plan_buyers=0, plan_purchases=0)
        acknowledged = []
        killed_at = None

        def send(index_event):
            index, payload = index_event
            base = victim["base"] if index % 2 == 0 else survivor["base"]
            try:
                if sign_and_post(base, payload) == 200:
                    return payload
            except requests.RequestException:
                return None
            return None

        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            futures = [pool.submit(send, (i, e)) for i, e in enumerate(events * 3)]
            time.sleep(0.3)
            victim["process"].send_signal(signal.SIGKILL)
            killed_at = time.time()
            for future in futures:
                if future.result():
                    acknowledged.append(json.loads(future.result())["id"])
        acked = set(acknowledged)
        # Restart the killed instance on its port; it and the survivor finish whatever the dead one had leased.
        cluster.instances[0] = cluster.start(0, victim["port"])
        by_event = {json.loads(e)["id"]: json.loads(e)["data"]["object"]["metadata"]["paymentId"] for e in events}
        deadline = time.time() + 60
        while time.time() < deadline:
            settled = count_pages(survivor["base"], admin, "/api/payments?status=SUCCEEDED")
            if settled >= len(acked):
                break
            time.sleep(0.25)
        succeeded = set()
        for event_id in acked:
            _, payment = api(survivor["base"], "GET", f"/api/payments/{by_event[event_id]}", admin)
            if payment["status"] == "SUCCEEDED":
                succeeded.add(event_id)
        _, tea = api(survivor["base"], "GET", f"/api/products/{product['id']}")
        _, orders = api(survivor["base"], "GET", "/api/orders?limit=100", admin)
        print(f"\ncrash: deliveries={len(events) * 3} acknowledged events={len(acked)} settled={len(succeeded)} "
              f"lost={len(acked - succeeded)} killed {killed_at is not None}; stock sold={10_000 - tea['inventory']} (orders 200)")
        assert acked, "nothing was acknowledged before the kill"
        assert acked == succeeded  # nothing acknowledged is lost
        assert tea["inventory"] == 10_000 - 200  # settlement never re-reserved stock: every paid order counted once
    finally:
        cluster.stop()
