import os
import pathlib
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def till_bin():
    """The till executable built by `swift build` (scripts/test builds it first)."""
    path = pathlib.Path(os.environ.get("TILL_BIN", ROOT / ".build" / "debug" / "till"))
    assert path.exists(), f"{path} not found: run swift build first"
    return str(path)


def free_port():
    """A free loopback port below the kernel's ephemeral range, so client connections cannot take it first."""
    import random
    for _ in range(200):
        port = random.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port")


def wait_for(url, process, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


class Server:
    def __init__(self, till_bin, mode, extra_env=None):
        self.mode = mode
        self.port = free_port()
        self.dir = tempfile.TemporaryDirectory()
        self.log = open(os.path.join(self.dir.name, "server.log"), "w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRIPE_")}
        if mode == "standalone":
            args = [till_bin, "emulator", "--port", str(self.port), "--fast-retries"]
            self.base = f"http://127.0.0.1:{self.port}"
            health = self.base + "/_emulator/faults"
        else:
            args = [till_bin, "serve"]
            env.update(
                PORT=str(self.port),
                DATABASE_URL=f"sqlite://{self.dir.name}/till.sqlite",
                PUBLIC_BASE_URL=f"http://127.0.0.1:{self.port}",
                JWT_SECRET="interop-jwt-secret-0123456789abcdef0123456789",
            )
            self.base = f"http://127.0.0.1:{self.port}/_stripe"
            self.root = f"http://127.0.0.1:{self.port}"
            health = f"http://127.0.0.1:{self.port}/healthz"
        env.update(extra_env or {})
        self.process = subprocess.Popen(args, env=env, cwd=self.dir.name, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(health, self.process)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        self.dir.cleanup()


@pytest.fixture(scope="module", params=["standalone", "embedded"])
def emulator(request, till_bin):
    server = Server(till_bin, request.param)
    yield server
    server.stop()


@pytest.fixture
def client(emulator):
    """stripe-python pointed at the emulator (standalone, then embedded), as the SDK suites use it."""
    import stripe
    stripe.api_key = "sk_test_interop"
    stripe.api_base = emulator.base
    stripe.max_network_retries = 0
    return emulator


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test item, so fixtures can tell a failed test (and save a screenshot)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)
