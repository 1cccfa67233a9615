"""What clients can do to sluice: send their head too slowly (408, also when trickling bytes),
send too large a body (413, sized or chunked, never reaching the backend), or hang up while
their request is at the backend (the upstream request is aborted)."""
import socket
import threading
import time

import requests

from harness import RawResponse, assert_json_error, policy, read_all, wait_until

MiB = 1024 * 1024


def test_header_timeout_gives_408(start_sluice):
    s = start_sluice(policy(client="header_timeout: 500ms"), upstream="127.0.0.1:1")
    with socket.create_connection(("127.0.0.1", s.port), timeout=6) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n")  # no blank line: the head never ends
        data = read_all(sock)
        elapsed = time.monotonic() - started
    r = RawResponse(data)
    assert_json_error(r, 408, "header_timeout")
    assert 0.4 <= elapsed < 3.0, elapsed


def test_header_timeout_covers_the_whole_head_not_each_read(start_sluice):
    """Slowloris: a byte every 150 ms keeps the socket busy but the head never completes; the
    timeout bounds the whole head, so the client gets 408 about header_timeout after it began."""
    s = start_sluice(policy(client="header_timeout: 1s"), upstream="127.0.0.1:1")
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=6)
    head = b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 100
    started = time.monotonic()
    answered = threading.Event()
    received = []

    def reader():
        received.append(read_all(sock))
        answered.set()

    t = threading.Thread(target=reader)
    t.start()
    try:
        for i in range(len(head)):
            if answered.is_set() or time.monotonic() - started > 5:
                break
            try:
                sock.send(head[i : i + 1])
            except OSError:
                break
            time.sleep(0.15)
        answered.wait(6)
        elapsed = time.monotonic() - started
    finally:
        sock.close()
        t.join(7)
    assert answered.is_set() and received and received[0], "no answer to a trickled head after 5 s"
    assert elapsed < 3.5, f"answered only after {elapsed:.1f}s: the timeout is restarted by each read"
    assert_json_error(RawResponse(received[0]), 408, "header_timeout")


def test_body_too_large_gives_413_json_and_never_reaches_backend(backend, start_sluice):
    s = start_sluice(policy(client="max_body: 1MiB"), upstream=backend.address)
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (2 * MiB)
    r = post_raw(s.port, head, (b"y" * (64 * 1024) for _ in range(32)))
    assert_json_error(r, 413, "body_too_large")
    assert backend.stats()["requests"] == 0
    r = requests.post(s.url + "/echo", data=b"y" * 1000)
    assert r.status_code == 200 and r.json()["len"] == 1000


def test_max_body_boundary_with_content_length(backend, start_sluice):
    s = start_sluice(policy(client="max_body: 1MiB"), upstream=backend.address)
    r = requests.post(s.url + "/echo", data=b"y" * MiB)
    assert r.status_code == 200 and r.json()["len"] == MiB, r.text[:200]
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (MiB + 1)
    r = post_raw(s.port, head, [b"y" * (MiB + 1)])
    assert_json_error(r, 413, "body_too_large")
    assert backend.stats()["requests"] == 1


def post_raw(port, head, blocks):
    """Sends `head` then each of `blocks` on a raw socket, reading the response concurrently: sluice
    answers a body that is too large before it is all sent, and closes. (A client that reads only
    after sending everything, as `requests` does, can get a reset instead of the answer: libh2o
    2.2 closes without lingering.) Returns a RawResponse."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    received = []
    t = threading.Thread(target=lambda: received.append(read_all(sock)))
    t.start()
    try:
        sock.sendall(head)
        for block in blocks:
            sock.sendall(block)
    except OSError:
        pass  # sluice stopped reading and closed: its answer is what counts
    t.join(15)
    sock.close()
    return RawResponse(received[0] if received else b"")


def post_chunked(port, total, block=64 * 1024):
    """POSTs `total` bytes to /echo with Transfer-Encoding: chunked (see post_raw)."""

    def chunks():
        sent = 0
        while sent < total:
            n = min(block, total - sent)
            yield b"%x\r\n" % n + b"z" * n + b"\r\n"
            sent += n
        yield b"0\r\n\r\n"

    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    return post_raw(port, head, chunks())


def test_chunked_body_too_large_gives_413(backend, start_sluice):
    s = start_sluice(policy(client="max_body: 1MiB"), upstream=backend.address)
    r = post_chunked(s.port, 3 * MiB)
    assert_json_error(r, 413, "body_too_large")
    # a chunked body under the limit passes
    r = post_chunked(s.port, 512 * 1024)
    assert r.status_code == 200 and r.json()["len"] == 512 * 1024, r.text[:200]


def test_chunked_body_of_exactly_max_body_passes(backend, start_sluice):
    """max_body is the largest body allowed (as with Content-Length), also for chunked bodies."""
    s = start_sluice(policy(client="max_body: 1MiB"), upstream=backend.address)
    r = post_chunked(s.port, MiB)
    assert r.status_code == 200 and r.json()["len"] == MiB, (r.status_code, r.text[:200])
    r = post_chunked(s.port, MiB + 1)
    assert_json_error(r, 413, "body_too_large")


def test_client_hangup_cancels_the_upstream_request(backend, start_sluice):
    s = start_sluice(policy(timeout="30s"), upstream=backend.address)
    sock = socket.create_connection(("127.0.0.1", s.port))
    sock.sendall(b"GET /slow?ms=5000 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)
    wait_until(lambda: backend.stats()["in_flight"] == 1, timeout=5, what="request to reach the backend")
    hung_up = time.monotonic()
    sock.close()
    wait_until(lambda: backend.stats()["cancelled"] == 1, timeout=5, what="backend to see the cancel")
    assert time.monotonic() - hung_up < 2.0
    wait_until(lambda: s.metric("sluice_in_flight", route="api") == 0, timeout=5, what="in_flight back to 0")
    assert requests.get(s.url + "/hello").text == "hello\n"


def test_pipelined_requests_are_answered_in_order_one_at_a_time(backend, start_sluice):
    """A request pipelined while the one before is at the backend (the client socket turns
    readable while sluice serves the first) is read and answered after it, on the same connection."""
    s = start_sluice(policy(timeout="30s"), upstream=backend.address)
    backend.reset()
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    sock.sendall(b"GET /slow?ms=400 HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_until(lambda: backend.stats()["in_flight"] == 1, timeout=5, what="the first request at the backend")
    sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello?two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = read_all(sock)
    sock.close()
    answers = data.split(b"HTTP/1.1 ")[1:]
    assert len(answers) == 3, data
    assert [a[:3] for a in answers] == [b"200"] * 3, data
    assert answers[0].endswith(b"slow\n") and answers[1].endswith(b"hello\n") and answers[2].endswith(b"hello\n"), data
    st = backend.stats()
    assert st["requests"] == 3 and st["max_in_flight"] == 1, st
    # the connection after it: a new one works as ever
    assert requests.get(s.url + "/hello").text == "hello\n"
