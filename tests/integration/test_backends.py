"""The test backends themselves, hit directly (no sluice): the sluice tests trust what these
report (connections, cancellations, in-flight counts, byte counts), so that contract is checked
here first. If one of these fails, a sluice test's verdict means nothing."""
import hashlib
import os
import socket
import threading
import time

import requests

from harness import RawResponse, read_all, wait_until


def test_plain_endpoints(backend):
    u = backend.url
    r = requests.get(u + "/hello")
    assert r.status_code == 200 and r.text == "hello\n"
    body = os.urandom(100_000)
    assert requests.post(u + "/echo", data=body).json() == {"len": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    seen = requests.get(u + "/headers", headers={"X-Mixed-Case": "v"}).json()
    assert seen["x-mixed-case"] == "v" and all(k == k.lower() for k in seen)
    info = requests.get(u + "/request?b=2&a=1&sp=a%20b&plus=x+y&flag").json()
    assert info == {"method": "GET", "path": "/request", "query": "b=2&a=1&sp=a%20b&plus=x+y&flag", "body_len": 0}
    assert requests.put(u + "/request", data=b"abc").json()["method"] == "PUT"
    r = requests.get(u + "/status/418")
    assert r.status_code == 418 and r.text == "status 418\n"
    r = requests.get(u + "/fail")
    assert r.status_code == 500 and "Traceback" in r.text
    r = requests.head(u + "/hello")
    assert r.status_code == 200 and r.text == ""


def test_big_streams_exact_bytes_and_stalls(backend):
    with requests.get(backend.url + "/big?mb=3", stream=True) as r:
        assert sum(len(c) for c in r.iter_content(65536)) == 3 * 1024 * 1024
    started = time.monotonic()
    with requests.get(backend.url + "/big?mb=1&stall_ms=400", stream=True) as r:
        assert sum(len(c) for c in r.iter_content(65536)) == 1024 * 1024
    assert time.monotonic() - started >= 0.35


def test_slow_sleeps_and_counts_a_client_disconnect(backend):
    started = time.monotonic()
    assert requests.get(backend.url + "/slow?ms=300").status_code == 200
    assert time.monotonic() - started >= 0.28
    assert backend.stats()["cancelled"] == 0
    sock = socket.create_connection(("127.0.0.1", backend.port))
    sock.sendall(b"GET /slow?ms=5000 HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_until(lambda: backend.stats()["in_flight"] == 1, timeout=5, what="slow request in flight")
    sock.close()
    wait_until(lambda: backend.stats()["cancelled"] == 1, timeout=3, what="backend to count the disconnect")
    wait_until(lambda: backend.stats()["in_flight"] == 0, timeout=3, what="in_flight back to 0")


def test_big_counts_a_client_that_leaves_mid_download(backend):
    sock = socket.create_connection(("127.0.0.1", backend.port))
    sock.sendall(b"GET /big?mb=200 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert len(sock.recv(65536)) > 0
    sock.close()
    wait_until(lambda: backend.stats()["cancelled"] == 1, timeout=5, what="backend to count the disconnect")
    wait_until(lambda: backend.stats()["in_flight"] == 0, timeout=5, what="in_flight back to 0")


def test_stats_count_connections_requests_and_not_themselves(backend):
    for _ in range(3):
        backend.stats()
    assert backend.stats() == {"in_flight": 0, "max_in_flight": 0, "requests": 0, "connections": 0, "cancelled": 0}
    with requests.Session() as one:
        for _ in range(10):
            one.get(backend.url + "/hello")
    for _ in range(4):
        requests.get(backend.url + "/hello", headers={"Connection": "close"})
    st = backend.stats()
    assert st["requests"] == 14 and st["connections"] == 5, st

    backend.reset()
    threads = [threading.Thread(target=requests.get, args=(backend.url + "/slow?ms=600",)) for _ in range(3)]
    for t in threads:
        t.start()
    wait_until(lambda: backend.stats()["in_flight"] == 3, timeout=5, what="3 in flight")
    for t in threads:
        t.join()
    st = backend.stats()
    assert st["max_in_flight"] == 3 and st["in_flight"] == 0, st


def test_racy_loses_updates_when_hit_concurrently(backend):
    n = 20
    barrier = threading.Barrier(n)

    def hit():
        barrier.wait()
        requests.post(backend.url + "/racy?key=r1", timeout=10)

    threads = [threading.Thread(target=hit) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert requests.get(backend.url + "/racy?key=r1").json()["count"] < n
    for _ in range(3):
        requests.post(backend.url + "/racy?key=r2")
    assert requests.get(backend.url + "/racy?key=r2").json()["count"] == 3


def test_unix_socket_backends(make_backend, tmp_path):
    for kind in ("tornado", "fastapi"):
        path = str(tmp_path / f"{kind}.sock")
        b = make_backend(kind, uds=path)
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(path)
            s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            r = RawResponse(read_all(s))
        assert r.status_code == 200 and r.text == "hello\n"
        assert b.stats()["requests"] == 1
        b.reset()
        assert b.stats()["requests"] == 0
