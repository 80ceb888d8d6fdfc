"""Till on SQLite killed with kill -9 in the middle of webhook ingestion: after a restart on the same file, every event
that was acknowledged is settled, nothing twice, and the database passes SQLite's integrity check. (SQLite writes each
commit's log through Till's gathering VFS; this is what says an acknowledged event is in the file.)"""
import concurrent.futures
import json
import os
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time

import requests

from conftest import free_port, wait_for
from test_multi_instance import ADMIN, SECRET, api, count_pages, setup_payments, sign_and_post


def start(till_bin, directory, port):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIPE_")}
    env.update(
        PORT=str(port), DATABASE_URL=f"sqlite://{directory}/till.sqlite", PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        STRIPE_WEBHOOK_SECRET=SECRET, JWT_SECRET="sqlite-crash-jwt-secret-0123456789abcdef012", ADMIN_EMAIL=ADMIN["email"],
        ADMIN_PASSWORD=ADMIN["password"], BCRYPT_COST="4", LOG_LEVEL="warning", REGISTRATIONS_PER_ADDRESS_PER_HOUR="0",
    )
    log = open(os.path.join(directory, "till.log"), "a")
    process = subprocess.Popen([till_bin, "serve"], env=env, cwd=directory, stdout=log, stderr=subprocess.STDOUT)
    wait_for(f"http://127.0.0.1:{port}/healthz", process)
    return process


def test_kill_dash_nine_on_sqlite_loses_no_acknowledged_event(till_bin):
    with tempfile.TemporaryDirectory() as directory:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        process = start(till_bin, directory, port)
        try:
            admin, product, _, _, events = setup_payments(base, orders=200, plan_buyers=0, plan_purchases=0)

            answered, enough = [], threading.Event()

            def send(payload):
                try:
                    if sign_and_post(base, payload) != 200:
                        return None
                except requests.RequestException:
                    return None
                answered.append(1)
                if len(answered) >= 40:
                    enough.set()
                return json.loads(payload)["id"]

            with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
                futures = [pool.submit(send, e) for e in events * 2]
                assert enough.wait(60)
                process.send_signal(signal.SIGKILL)
                acked = {f.result() for f in futures} - {None}
            process.wait()
            process = start(till_bin, directory, port)
            by_event = {json.loads(e)["id"]: json.loads(e)["data"]["object"]["metadata"]["paymentId"] for e in events}
            deadline = time.time() + 60
            while count_pages(base, admin, "/api/payments?status=SUCCEEDED") < len(acked) and time.time() < deadline:
                time.sleep(0.25)
            settled = {e for e in acked if api(base, "GET", f"/api/payments/{by_event[e]}", admin)[1]["status"] == "SUCCEEDED"}
            _, tea = api(base, "GET", f"/api/products/{product['id']}")
            print(f"\nsqlite crash: deliveries={len(events) * 2} acknowledged events={len(acked)} settled={len(settled)}")
            assert settled == acked  # nothing acknowledged is lost
            assert tea["inventory"] == 10_000 - 200
        finally:
            process.kill()
            process.wait()
        with sqlite3.connect(os.path.join(directory, "till.sqlite")) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            # An order is paid exactly when its payment succeeded: no commit was torn.
            paid = db.execute("SELECT COUNT(*) FROM orders WHERE status = 'PAID'").fetchone()[0]
            succeeded = db.execute("SELECT COUNT(*) FROM payments WHERE status = 'SUCCEEDED'").fetchone()[0]
            assert paid == succeeded >= len(acked)
