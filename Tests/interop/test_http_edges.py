"""HTTP that the parser refuses, over a raw socket against a running Till: every error answer has the contract's body."""
import json
import os
import socket
import urllib.parse

import pytest

from conftest import Server


@pytest.fixture(scope="module")
def till(till_bin):
    server = Server(till_bin, "embedded")
    yield server
    server.stop()


def exchange(server, raw):
    """Sends raw bytes and reads until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(raw)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def responses(raw):
    """Splits Content-Length framed responses: [(status, headers, body)]."""
    found = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        found.append((int(lines[0].split()[1]), headers, rest[:length]))
        raw = rest[length:]
    return found


def assert_invalid_request(answer):
    status, headers, body = answer
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["error"]["code"] == "invalid_request"


def test_headers_over_the_parsers_limit(till):
    raw = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
    [answer] = responses(exchange(till, raw))
    assert_invalid_request(answer)
    assert answer[1]["connection"] == "close"


def test_a_malformed_request_line(till):
    [answer] = responses(exchange(till, b"NOT HTTP AT ALL\r\n\r\n"))
    assert_invalid_request(answer)


def test_the_answer_owed_on_the_connection_comes_first(till):
    raw = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nBROKEN LINE\r\n\r\n"
    first, second = responses(exchange(till, raw))
    assert first[0] == 200 and json.loads(first[2]) == {"status": "ok"}
    assert_invalid_request(second)


def test_a_malformed_chunk_in_a_body(till):
    raw = (
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nZZ\r\n"
    )
    [answer] = responses(exchange(till, raw))
    assert_invalid_request(answer)


def test_a_request_the_parser_reads_no_further_than_ends_the_connection(till):
    # After an Upgrade (which Till does not do) or a CONNECT the parser stops: the answer says close, and the
    # connection closes, instead of a later request waiting for the idle timeout.
    for first in (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
        b"CONNECT x:1 HTTP/1.1\r\nHost: x\r\n\r\n",
    ):
        raw = exchange(till, first + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head = raw.split(b"\r\n\r\n", 1)[0].decode().lower()
        assert "connection: close" in head
        assert raw.count(b"HTTP/1.1 ") == 1


def test_nothing_more_after_an_answer_that_closes(till):
    raw = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGARBAGE\r\n\r\n"
    [answer] = responses(exchange(till, raw))
    assert answer[0] == 200


def test_a_malformed_chunk_after_the_answer_closes_quietly(till):
    raw = b"POST /nope HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\nZZ\r\n\r\n"
    [answer] = responses(exchange(till, raw))
    assert answer[0] == 404 and json.loads(answer[2])["error"]["code"] == "not_found"


def test_an_http_1_0_request_is_answered_and_its_connection_closed(till, emulator):
    # HTTP/1.0 clients (ApacheBench, some health checkers) read an answer until the connection closes. The socket's
    # 10 s timeout fails this test if the server kept it open.
    faults = urllib.parse.urlparse(emulator.base).path + "/_emulator/faults"
    for server, path in ((till, b"/healthz"), (emulator, faults.encode())):
        raw = exchange(server, b"GET " + path + b" HTTP/1.0\r\n\r\n")
        [answer] = responses(raw)
        assert raw.startswith(b"HTTP/1.0 200 ")
        assert answer[1]["connection"] == "close" and "transfer-encoding" not in answer[1]
        json.loads(answer[2])


def test_http_1_0_keep_alive_keeps_the_connection_until_a_request_without_it(till):
    raw = exchange(
        till,
        b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /nope HTTP/1.0\r\n\r\n",
    )
    first, second = responses(raw)
    assert first[0] == 200 and first[1]["connection"] == "keep-alive"
    assert second[0] == 404 and second[1]["connection"] == "close"
    assert json.loads(second[2])["error"]["code"] == "not_found"


def test_only_the_answer_to_the_request_that_asked_to_close_says_close(till):
    raw = exchange(
        till,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    first, second = responses(raw)
    assert first[0] == 200 and "connection" not in first[1]
    assert second[0] == 404 and second[1]["connection"] == "close"


def test_head_says_the_length_get_would_send_and_the_connection_goes_on(till):
    import http.client
    connection = http.client.HTTPConnection("127.0.0.1", till.port, timeout=10)
    connection.request("HEAD", "/healthz")
    head = connection.getresponse()
    assert head.status == 200 and head.read() == b""
    connection.request("GET", "/healthz")
    get = connection.getresponse()
    body = get.read()
    assert json.loads(body) == {"status": "ok"}
    assert int(head.getheader("Content-Length")) == len(body)
    connection.close()


def test_more_connections_than_the_soft_open_file_limit_it_was_started_with(till_bin):
    # Many systems start processes with a soft limit of 1,024 open files; Till raises it to the hard limit, so a
    # burst of connections beyond the soft limit is served. Started here with a soft limit of 256.
    import resource
    import subprocess
    import tempfile

    from conftest import free_port, wait_for

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1024:
        pytest.skip("the hard open-file limit is too low to show the difference")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1024), hard))
    port = free_port()
    with tempfile.TemporaryDirectory() as work:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRIPE_")}
        env.update(PORT=str(port), DATABASE_URL=f"sqlite://{work}/till.sqlite", LOG_LEVEL="error",
                   PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
        server = subprocess.Popen(
            [till_bin, "serve"], env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)))
        try:
            wait_for(f"http://127.0.0.1:{port}/healthz", server)
            sockets = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(400)]
            for s in sockets:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answered = 0
            for s in sockets:
                data = b""
                while b"\r\n\r\n" not in data:
                    try:
                        chunk = s.recv(4096)
                    except socket.timeout:
                        break
                    if not chunk:
                        break
                    data += chunk
                answered += data.startswith(b"HTTP/1.1 200 ")
            # Every one answered while all are open (a server stuck at its soft limit accepts no more until some close).
            assert answered == 400
            for s in sockets:
                s.close()
        finally:
            server.terminate()
            server.wait(timeout=10)


def test_an_idempotency_key_that_is_not_printable_ascii_is_refused(till):
    """Bytes that are not UTF-8 would reach Till as replacement characters: `order-\\xe9` and `order-\\xe8` would be
    one key, and the second order would be answered with the first. Such a key is refused instead."""
    import requests
    token = requests.post(till.root + "/api/auth/register", timeout=10,
                          json={"email": "idem@example.com", "password": "idem-password"}).json()["token"]
    body = json.dumps({"items": [{"productId": "00000000-0000-0000-0000-000000000000", "quantity": 1}]}).encode()
    for key in (b"order-\xe9", b"order-\xe8", b"tab\there"):
        raw = (b"POST /api/orders HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
               b"Authorization: Bearer " + token.encode() + b"\r\nIdempotency-Key: " + key + b"\r\n"
               b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        [answer] = responses(exchange(till, raw))
        assert_invalid_request(answer)
        assert "Idempotency-Key" in json.loads(answer[2])["error"]["message"]
