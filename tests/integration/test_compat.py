"""Application traffic the README's compatibility table promises, against the real Tornado and
FastAPI apps: large uploads and downloads at once, byte-identical, with sluice's memory bounded
by its buffers rather than by the bodies (bench/transfers measures 100 MiB and 1 GiB),
server-sent events delivered as the app sends them, and HTTP/1.0 clients. (WebSockets:
test_websocket.py; HEAD and HTTP/2: test_proxy.py and test_hostile.py.)"""
import concurrent.futures
import hashlib
import http.client
import json
import socket
import sys
import time

from harness import FIXTURES, measurable_memory, policy, read_head, wait_until

sys.path.insert(0, str(FIXTURES))
import blob  # noqa: E402

MiB = 1 << 20


def peak_rss_kib(pid):
    return int(next(line for line in open(f"/proc/{pid}/status") if line.startswith("VmHWM")).split()[1])


def upload(port, mb):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", "/upload", body=blob.chunks(mb), headers={"Content-Length": str(mb * MiB)})
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def download(port, mb):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", f"/blob?mb={mb}")
        r = conn.getresponse()
        digest, got = hashlib.sha256(), 0
        while piece := r.read(65536):
            digest.update(piece)
            got += len(piece)
        return r.status, got, digest.hexdigest()
    finally:
        conn.close()


def test_uploads_and_downloads_at_once_are_identical_and_memory_stays_bounded(backend, start_sluice):
    """3 uploads and 4 downloads of 32 MiB at once: every byte arrives, and sluice grows by its
    buffers (64 KiB per upload piece, response_buffer per download), not by the 224 MiB that
    pass (before bodies were streamed, one 100 MB upload took sluice to 109 MB)."""
    s = start_sluice(policy(client="max_body: 64MiB"), upstream=backend.address, env=measurable_memory())
    idle = peak_rss_kib(s.pid)
    mb = 32
    with concurrent.futures.ThreadPoolExecutor(7) as pool:
        ups = [pool.submit(upload, s.port, mb) for _ in range(3)]
        downs = [pool.submit(download, s.port, mb) for _ in range(4)]
        want = blob.sha256(mb)
        for f in ups:
            assert f.result() == (200, {"len": mb * MiB, "sha256": want})
        for f in downs:
            assert f.result() == (200, mb * MiB, want)
    grown = peak_rss_kib(s.pid) - idle
    assert grown < 16 * 1024, f"sluice's peak RSS grew by {grown} KiB for 224 MiB of transfers"
    assert s.metric("sluice_requests_total", route="api", code="200") == 7


def test_server_sent_events_arrive_as_the_app_sends_them(backend, start_sluice):
    """Each event reaches the client when the app flushes it, not when the response ends; the
    stream holds its concurrency slot while it lasts (COOKBOOK 8: give streams their own route)."""
    s = start_sluice(policy(route="    concurrency: {limit: 4}\n"), upstream=backend.address)
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    started = time.monotonic()
    conn.request("GET", "/events?n=3&interval_ms=600", headers={"Accept": "text/event-stream"})
    r = conn.getresponse()
    assert r.status == 200 and r.getheader("content-type").startswith("text/event-stream")
    arrivals, text = [], b""
    while len(arrivals) < 3:
        line = r.fp.readline()
        assert line, text
        text += line
        if line.startswith(b"data: "):
            arrivals.append((line.strip().decode(), time.monotonic() - started))
            if len(arrivals) == 1:
                assert s.metric("sluice_in_flight", route="api") == 1
    conn.close()
    assert [a for a, _ in arrivals] == ["data: event 0", "data: event 1", "data: event 2"]
    assert arrivals[0][1] < 0.5, arrivals  # the first event did not wait for the others
    assert 0.5 < arrivals[1][1] - arrivals[0][1] < 1.5, arrivals
    assert 0.5 < arrivals[2][1] - arrivals[1][1] < 1.5, arrivals
    wait_until(lambda: s.metric("sluice_in_flight", route="api") == 0, what="the stream's slot back")


def http10(port, request):
    """Sends an HTTP/1.0 request on a fresh connection; (head, body, closed by sluice)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(request)
        head, body = read_head(c)
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
                      None)
        while length is None or len(body) < length:
            piece = c.recv(65536)
            if not piece:
                return head, body, True
            body += piece
        c.settimeout(0.5)
        try:
            closed = c.recv(1) == b""
        except socket.timeout:
            closed = False
        return head, body, closed


def test_http10_clients(backend, start_sluice):
    """HTTP/1.0: answered and closed (or kept alive when asked), a body of unknown length ends
    with the connection, HEAD has no body, and the upstream still gets a Host."""
    s = start_sluice(policy(), upstream=backend.address)
    head, body, closed = http10(s.port, b"GET /hello HTTP/1.0\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and body == b"hello\n" and closed, (head, body, closed)
    head, body, closed = http10(s.port, b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert b"connection: keep-alive" in head.lower() and body == b"hello\n" and not closed, (head, closed)
    # a stream without a length: HTTP/1.0 has no chunked encoding, the close ends it
    head, body, closed = http10(s.port, b"GET /events?n=2&interval_ms=100 HTTP/1.0\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"transfer-encoding" not in head.lower(), head
    assert body.count(b"data: event") == 2 and closed, body
    head, body, closed = http10(s.port, b"HEAD /hello HTTP/1.0\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and body == b"" and closed, (head, body)
    head, body, _ = http10(s.port, b"GET /headers HTTP/1.0\r\n\r\n")
    assert json.loads(body)["host"] == backend.address, body
