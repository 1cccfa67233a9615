"""The foundation: sluice proxies requests to real Tornado and FastAPI backends with its own
upstream leg: bodies both ways (sized and chunked, small and 10 MB), methods and query strings
as sent, HEAD, keep-alive pooling of upstream connections, unix-socket upstreams, HTTP/2 clients,
backpressure, and clients that leave mid-download."""
import asyncio
import hashlib
import os
import socket
import threading
import time

import httpx
import requests

from harness import RawResponse, assert_json_error, policy, read_all, read_head, wait_until

MiB = 1024 * 1024


def test_get_and_post_small_and_10mb(backend, start_sluice):
    s = start_sluice(policy(), upstream=backend.address)
    r = requests.get(s.url + "/hello")
    assert r.status_code == 200 and r.text == "hello\n"
    assert r.headers["x-request-id"]

    for size in (0, 5, 10 * MiB):
        body = os.urandom(size)
        r = requests.post(s.url + "/echo", data=body)
        assert r.status_code == 200, r.text[:300]
        assert r.json() == {"len": size, "sha256": hashlib.sha256(body).hexdigest()}
    assert backend.stats()["requests"] == 4


def test_chunked_10mb_upload(backend, start_sluice):
    """A request body without Content-Length (chunked) reaches the backend byte for byte."""
    s = start_sluice(policy(), upstream=backend.address)
    blocks = [os.urandom(250_000) for _ in range(40)]  # 10 MB, under the default max_body of 10 MiB
    r = requests.post(s.url + "/echo", data=iter(blocks))  # a generator: Transfer-Encoding: chunked
    assert r.status_code == 200, r.text[:300]
    whole = b"".join(blocks)
    assert r.json() == {"len": len(whole), "sha256": hashlib.sha256(whole).hexdigest()}


def test_method_path_and_query_string_arrive_as_sent(backend, start_sluice):
    s = start_sluice(policy(), upstream=backend.address)
    query = "b=2&a=1&a=3&sp=a%20b&plus=x+y&pct=%2F%3F%26&utf=%C3%A9&empty=&flag"
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        data = b"q" * 123 if method in ("POST", "PUT", "PATCH") else None
        r = requests.request(method, s.url + "/request?" + query, data=data)
        assert r.status_code == 200, (method, r.status_code, r.text[:200])
        assert r.json() == {"method": method, "path": "/request", "query": query, "body_len": len(data or b"")}
    # the query string also selects what the backend does
    with requests.get(s.url + "/big?mb=2", stream=True) as r:
        assert sum(len(c) for c in r.iter_content(65536)) == 2 * MiB


def test_head_has_no_body_and_keeps_the_connection_usable(backend, start_sluice):
    s = start_sluice(policy(), upstream=backend.address)
    r = requests.head(s.url + "/hello")
    assert r.status_code == 200 and r.content == b""
    assert r.headers.get("content-length") in (None, "6"), r.headers
    # on one raw connection: HEAD, then GET; had sluice sent body bytes after the HEAD response,
    # they would be read as the start of the second response
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
        sock.sendall(b"HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        head, rest = read_head(sock)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert rest == b"", rest
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        second = RawResponse(read_all(sock))
        assert second.status_code == 200 and second.text == "hello\n"


def test_10mb_download_streamed_exactly(backend, start_sluice):
    s = start_sluice(policy(), upstream=backend.address)
    total = 0
    digest = hashlib.sha256()
    with requests.get(s.url + "/big?mb=10", stream=True) as r:
        assert r.status_code == 200
        for chunk in r.iter_content(65536):
            total += len(chunk)
            digest.update(chunk)
    assert total == 10 * MiB
    assert digest.hexdigest() == hashlib.sha256(b"x" * total).hexdigest()


def test_slow_reader_does_not_make_sluice_buffer_the_download(tornado_backend, start_sluice):
    """A client that reads nothing of a 200 MB download: with backpressure, sluice stops
    reading the upstream, so its memory stays far below the body size."""
    tornado_backend.reset()
    s = start_sluice(policy(), upstream=tornado_backend.address)
    sock = socket.create_connection(("127.0.0.1", s.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sock.sendall(b"GET /big?mb=200 HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(2.0)
    rss_kb = int(next(line for line in open(f"/proc/{s.pid}/status") if line.startswith("VmRSS")).split()[1])
    sock.close()
    assert rss_kb < 64 * 1024, f"sluice RSS {rss_kb} KiB while a client stalls on a 200 MB body"


def test_client_leaving_mid_download_aborts_the_upstream_request(backend, start_sluice):
    s = start_sluice(policy(timeout="30s"), upstream=backend.address)
    sock = socket.create_connection(("127.0.0.1", s.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sock.sendall(b"GET /big?mb=200 HTTP/1.1\r\nHost: x\r\n\r\n")
    got = 0
    while got < MiB:
        chunk = sock.recv(65536)
        assert chunk
        got += len(chunk)
    sock.close()
    wait_until(lambda: backend.stats()["cancelled"] >= 1, timeout=5, what="backend to see the download aborted")
    wait_until(lambda: backend.stats()["in_flight"] == 0, timeout=5, what="backend idle")
    wait_until(lambda: s.metric("sluice_in_flight", route="api") == 0, timeout=5, what="sluice_in_flight back to 0")
    assert requests.get(s.url + "/hello").text == "hello\n"


def test_keepalive_reuse(backend, start_sluice):
    """Upstream connections are pooled: hundreds of requests, from one client connection or from
    many, reach the backend over a handful of connections."""
    s = start_sluice(policy(), upstream=backend.address)
    with requests.Session() as one_client:
        for _ in range(200):
            r = one_client.get(s.url + "/hello")
            assert r.status_code == 200 and r.text == "hello\n"

    failures = []

    def client():
        with requests.Session() as sess:
            for _ in range(50):
                if sess.get(s.url + "/hello").status_code != 200:
                    failures.append(1)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for _ in range(20):  # a new client connection each time
        assert requests.get(s.url + "/hello", headers={"Connection": "close"}).status_code == 200
    assert not failures
    st = backend.stats()
    assert st["requests"] == 420, st
    assert st["connections"] <= 10, st


def test_unix_socket_upstream(make_backend, tmp_path, start_sluice):
    for kind in ("tornado", "fastapi"):
        b = make_backend(kind, uds=str(tmp_path / f"{kind}.sock"))
        s = start_sluice(policy(), upstream=b.address)
        assert requests.get(s.url + "/hello").text == "hello\n"
        body = os.urandom(3 * MiB)
        assert requests.post(s.url + "/echo", data=body).json()["sha256"] == hashlib.sha256(body).hexdigest()
        assert b.stats()["requests"] == 2, kind


def test_http2_cleartext_clients(backend, start_sluice):
    """h2c with prior knowledge (httpx + python3-h2): requests, bodies, sluice's own errors, and
    concurrent streams on one connection reaching the backend concurrently."""
    s = start_sluice(policy(), upstream=backend.address)
    with httpx.Client(http1=False, http2=True, timeout=10) as client:
        for _ in range(20):
            r = client.get(s.url + "/hello")
            assert r.status_code == 200 and r.text == "hello\n" and r.http_version == "HTTP/2"
        body = os.urandom(MiB)
        r = client.post(s.url + "/echo", content=body)
        assert r.json() == {"len": MiB, "sha256": hashlib.sha256(body).hexdigest()}
        r = client.get(s.url + "/request?a=1&b=%20")
        assert r.json()["query"] == "a=1&b=%20"
        r = client.get(s.url + "/headers", headers={"x-request-id": "h2-id-1"})
        assert r.headers["x-request-id"] == "h2-id-1" and r.json()["x-request-id"] == "h2-id-1"

    backend.reset()

    async def concurrent():
        async with httpx.AsyncClient(http1=False, http2=True, timeout=15) as client:
            return await asyncio.gather(*[client.get(s.url + "/slow?ms=800") for _ in range(6)])

    responses = asyncio.run(concurrent())
    assert all(r.status_code == 200 and r.http_version == "HTTP/2" for r in responses)
    assert backend.stats()["max_in_flight"] >= 2, backend.stats()


def test_http2_error_responses_are_sluice_json(start_sluice):
    s = start_sluice(policy(timeout="500ms"), upstream="127.0.0.1:1")
    with httpx.Client(http1=False, http2=True, timeout=10) as client:
        r = client.get(s.url + "/hello")
        assert r.http_version == "HTTP/2"
        assert_json_error(r, 502, "upstream_unavailable", route="api", forbid=("127.0.0.1",))
