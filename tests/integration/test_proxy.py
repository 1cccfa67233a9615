"""The foundation: sluice proxies to real Tornado and FastAPI backends with its own upstream leg,
keep-alive pooling, streaming, deadlines, hang-up detection and its JSON errors."""
import hashlib
import os
import socket
import subprocess
import time

import httpx
import requests

from harness import HEAD, Backend, assert_json_error, free_port, raw_request, wait_until

ROUTE = HEAD + """
upstreams:
  app: {{address: "{upstream}", connect_timeout: 300ms, read_timeout: 10s}}
routes:
  - name: api
    upstream: app
    timeout: 5s
"""


def test_get_and_post_small_and_10mb(backend, start_sluice):
    s = start_sluice(ROUTE, upstream=backend.address)
    r = requests.get(s.url + "/hello?x=1")
    assert r.status_code == 200 and r.text == "hello\n"
    assert "x-request-id" in r.headers

    for size in (5, 10 * 1024 * 1024):
        body = os.urandom(size)
        r = requests.post(s.url + "/echo", data=body)
        assert r.status_code == 200, r.text
        assert r.json() == {"len": size, "sha256": hashlib.sha256(body).hexdigest()}

    r = requests.head(s.url + "/hello")
    assert r.status_code == 200 and r.text == ""


def test_10mb_download_streamed_exactly(backend, start_sluice):
    s = start_sluice(ROUTE, upstream=backend.address)
    total = 0
    digest = hashlib.sha256()
    with requests.get(s.url + "/big?mb=10", stream=True) as r:
        assert r.status_code == 200
        for chunk in r.iter_content(65536):
            total += len(chunk)
            digest.update(chunk)
    assert total == 10 * 1024 * 1024
    assert digest.hexdigest() == hashlib.sha256(b"x" * total).hexdigest()


def test_slow_reader_does_not_make_sluice_buffer_the_download(tornado_backend, start_sluice):
    """A client that reads nothing of a 200 MB download: with backpressure, sluice stops
    reading the upstream, so its memory stays far below the body size."""
    s = start_sluice(ROUTE, upstream=tornado_backend.address)
    sock = socket.create_connection(("127.0.0.1", s.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sock.sendall(b"GET /big?mb=200 HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(2.0)
    rss_kb = int(next(l for l in open(f"/proc/{s.proc.pid}/status") if l.startswith("VmRSS")).split()[1])
    sock.close()
    assert rss_kb < 64 * 1024, f"sluice RSS {rss_kb} KiB while a client stalls on a 200 MB body"


def test_keepalive_reuse(backend, start_sluice):
    s = start_sluice(ROUTE, upstream=backend.address)
    with requests.Session() as one_client:
        for _ in range(100):
            assert one_client.get(s.url + "/hello").status_code == 200
    for _ in range(50):  # a new client connection each time
        assert requests.get(s.url + "/hello", headers={"Connection": "close"}).status_code == 200
    st = backend.stats()
    assert st["requests"] == 150
    assert st["connections"] <= 5, st


def test_deadline_gives_504_and_cancels_the_backend_request(backend, start_sluice):
    s = start_sluice(ROUTE.replace("timeout: 5s", "timeout: 500ms"), upstream=backend.address)
    started = time.monotonic()
    r = requests.get(s.url + "/slow?ms=5000")
    elapsed = time.monotonic() - started
    assert_json_error(r, 504, "timeout", route="api")
    assert 0.45 <= elapsed < 2.5, elapsed
    wait_until(lambda: backend.stats()["cancelled"] >= 1, timeout=5, what="backend to see the abort")


def test_read_timeout_gives_504(backend, start_sluice):
    s = start_sluice(ROUTE.replace("read_timeout: 10s", "read_timeout: 300ms"), upstream=backend.address)
    started = time.monotonic()
    r = requests.get(s.url + "/slow?ms=3000")
    assert_json_error(r, 504, "timeout", route="api")
    assert time.monotonic() - started < 2.5
    assert s.metric("sluice_upstream_errors_total", route="api", kind="read_timeout") == 1


def test_refused_upstream_gives_502_without_leaking_the_address(start_sluice):
    port = free_port()
    s = start_sluice(ROUTE, upstream=f"127.0.0.1:{port}")
    r = requests.get(s.url + "/hello")
    assert_json_error(r, 502, "upstream_unavailable", route="api")
    assert "127.0.0.1" not in r.text and str(port) not in r.text
    assert s.metric("sluice_upstream_errors_total", route="api", kind="connect") == 1


def test_connect_timeout_gives_502(start_sluice):
    """A listener whose backlog is full never completes new handshakes."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    for _ in range(8):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        fillers.append(c)
    time.sleep(0.2)
    try:
        s = start_sluice(ROUTE, upstream=f"127.0.0.1:{port}")
        started = time.monotonic()
        r = requests.get(s.url + "/hello")
        elapsed = time.monotonic() - started
        assert_json_error(r, 502, "upstream_unavailable")
        assert elapsed < 3.0
        kinds = {k: s.metric("sluice_upstream_errors_total", route="api", kind=k) for k in ("connect", "connect_timeout")}
        assert kinds["connect_timeout"] == 1, kinds
    finally:
        for c in fillers:
            c.close()
        lsock.close()


def test_header_timeout_gives_408(start_sluice):
    s = start_sluice(HEAD + "client: {{header_timeout: 500ms}}\n" + ROUTE[len(HEAD):], upstream="127.0.0.1:1")
    started = time.monotonic()
    out = raw_request(s.port, b"GET /hello HTTP/1.1\r\nHost: x\r\n", read_timeout=5)
    elapsed = time.monotonic() - started
    assert out.startswith(b"HTTP/1.1 408"), out
    assert b'"code":"header_timeout"' in out and b"application/json" in out
    assert 0.4 <= elapsed < 3.0


def test_body_too_large_gives_413_json_and_never_reaches_backend(backend, start_sluice):
    s = start_sluice(HEAD + "client: {{max_body: 1MiB}}\n" + ROUTE[len(HEAD):], upstream=backend.address)
    r = requests.post(s.url + "/echo", data=b"y" * (2 * 1024 * 1024))
    assert_json_error(r, 413, "body_too_large")
    assert backend.stats()["requests"] == 0
    r = requests.post(s.url + "/echo", data=b"y" * 1000)
    assert r.status_code == 200


def test_client_hangup_cancels_the_upstream_request(backend, start_sluice):
    s = start_sluice(ROUTE.replace("timeout: 5s", "timeout: 30s"), upstream=backend.address)
    sock = socket.create_connection(("127.0.0.1", s.port))
    sock.sendall(b"GET /slow?ms=10000 HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_until(lambda: backend.stats()["in_flight"] == 1, timeout=5, what="request to reach the backend")
    hung_up = time.monotonic()
    sock.close()
    wait_until(lambda: backend.stats()["cancelled"] == 1, timeout=5, what="backend to see the cancel")
    assert time.monotonic() - hung_up < 2.0
    wait_until(lambda: s.metric("sluice_in_flight", route="api") == 0, timeout=5, what="in_flight back to 0")


def test_hide_upstream_5xx(backend, start_sluice):
    hidden = start_sluice(ROUTE + "    errors: {{hide_upstream_5xx: true}}\n", upstream=backend.address)
    r = requests.get(hidden.url + "/fail")
    assert_json_error(r, 500, "upstream_error", route="api")
    r = requests.get(hidden.url + "/status/503")
    assert_json_error(r, 503, "upstream_error")
    assert requests.get(hidden.url + "/status/404").text == "status 404\n"  # only 5xx are replaced

    shown = start_sluice(ROUTE, upstream=backend.address)
    r = requests.get(shown.url + "/fail")
    assert r.status_code == 500 and "Traceback" in r.text


def test_forwarded_headers_request_id_and_hop_by_hop(backend, start_sluice):
    s = start_sluice(ROUTE, upstream=backend.address)
    r = requests.get(
        s.url + "/headers",
        headers={
            "X-Request-Id": "abc-123.X_y",
            "X-Forwarded-For": "203.0.113.7",
            "Connection": "keep-alive, X-Secret",
            "X-Secret": "drop-me",
            "Keep-Alive": "timeout=5",
            "Proxy-Authorization": "Basic Zm9v",
            "X-Kept": "yes",
        },
    )
    seen = r.json()
    assert r.headers["x-request-id"] == "abc-123.X_y"
    assert seen["x-request-id"] == "abc-123.X_y"
    assert seen["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == f"127.0.0.1:{s.port}"
    assert 0 < int(seen["x-request-timeout-ms"]) <= 5000
    assert seen["x-kept"] == "yes"
    for hop in ("x-secret", "keep-alive", "proxy-authorization"):
        assert hop not in seen, hop

    for bad in ("has space", "x" * 300, "quote\"d"):
        r = requests.get(s.url + "/headers", headers={"X-Request-Id": bad})
        fresh = r.headers["x-request-id"]
        assert fresh != bad and len(fresh) == 32
        assert r.json()["x-request-id"] == fresh


ROUTING = HEAD + """
upstreams:
  app: {{address: "{upstream}"}}
routes:
  - {{name: exact, match: {{path: /hello}}, upstream: app}}
  - {{name: writes, match: {{path_prefix: /echo, methods: [POST]}}, upstream: app}}
  - {{name: tenant, match: {{path_prefix: /headers, headers: {{x-tenant: gold}}}}, upstream: app}}
  - {{name: hosted, match: {{path_prefix: /status, host: api.example.com}}, upstream: app}}
"""


def test_routing_first_match_and_404(backend, start_sluice):
    s = start_sluice(ROUTING, upstream=backend.address)
    assert requests.get(s.url + "/hello").status_code == 200
    assert_json_error(requests.get(s.url + "/hello/more"), 404, "no_route", route=None)
    assert requests.post(s.url + "/echo", data=b"x").status_code == 200
    assert_json_error(requests.get(s.url + "/echo"), 404, "no_route")
    assert requests.get(s.url + "/headers", headers={"x-tenant": "gold"}).status_code == 200
    assert_json_error(requests.get(s.url + "/headers", headers={"x-tenant": "lead"}), 404, "no_route")
    assert requests.get(s.url + "/status/201", headers={"Host": "api.example.com"}).status_code == 201
    assert_json_error(requests.get(s.url + "/status/201"), 404, "no_route")
    # admin endpoints are not served on the public listener
    assert_json_error(requests.get(s.url + "/metrics"), 404, "no_route")
    assert s.metric("sluice_requests_total", route="exact", code="200") == 1
    assert s.metric("sluice_requests_total", route="_none", code="404") == 5


def test_unix_socket_upstream(tmp_path, start_sluice):
    b = Backend("tornado", uds=str(tmp_path / "app.sock"))
    try:
        s = start_sluice(ROUTE, upstream=b.address)
        assert requests.get(s.url + "/hello").text == "hello\n"
        assert b.stats()["requests"] == 1
    finally:
        b.stop()


def test_http2_cleartext_clients(backend, start_sluice):
    s = start_sluice(ROUTE, upstream=backend.address)
    with httpx.Client(http1=False, http2=True) as client:
        responses = [client.get(s.url + "/hello") for _ in range(20)]
        assert all(r.status_code == 200 and r.text == "hello\n" and r.http_version == "HTTP/2" for r in responses)
        r = client.post(s.url + "/echo", content=b"z" * 100000)
        assert r.json()["len"] == 100000
        r = client.get(s.url + "/nope-but-routed/../hello")
        assert r.status_code == 200


def test_admin_endpoints_metrics_and_config(backend, start_sluice):
    policy = ROUTE.replace("upstreams:", "redis: {{address: 127.0.0.1:6399, password: s3cr3t-value}}\nupstreams:")
    s = start_sluice(policy, upstream=backend.address)
    for _ in range(7):
        requests.get(s.url + "/hello")
    assert requests.get(s.admin_url + "/healthz").status_code == 200
    assert requests.get(s.admin_url + "/readyz").status_code == 200
    assert s.metric("sluice_requests_total", route="api", code="200") == 7
    assert s.metric("sluice_upstream_duration_seconds_count", route="api") == 7
    assert s.metric("sluice_upstream_duration_seconds_bucket", route="api", le="+Inf") == 7
    config = requests.get(s.admin_url + "/config")
    assert config.headers["content-type"].startswith("application/json")
    assert config.json()["routes"][0]["name"] == "api"
    assert "s3cr3t-value" not in config.text
    assert config.json()["redis"]["password"] == "<redacted>"


def test_access_log_lines(backend, start_sluice):
    s = start_sluice(ROUTE, upstream=backend.address)
    requests.get(s.url + "/hello?q=1", headers={"X-Request-Id": "log-test-1"})
    requests.get(s.url + "/nowhere-" + "\x01".encode().hex())
    lines = wait_until(lambda: len(s.access_log()) >= 1 and s.access_log(), timeout=5, what="access log")
    line = next(l for l in lines if l["request_id"] == "log-test-1")
    assert set(line) >= {"ts", "request_id", "route", "method", "path", "status", "decision", "queue_ms", "upstream_ms",
                         "total_ms", "client_ip", "bytes"}
    assert line["route"] == "api" and line["method"] == "GET" and line["path"] == "/hello?q=1"
    assert line["status"] == 200 and line["bytes"] == 6 and line["client_ip"] == "127.0.0.1"
    assert line["total_ms"] >= line["upstream_ms"] >= 0


def test_cli_check_reports_every_error_with_position(tmp_path):
    from harness import SLUICE_BIN

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "upstreams:\n"
        "  app: {address: 127.0.0.1:8000, connect_timeout: 5 seconds}\n"
        "routes:\n"
        "  - name: api\n"
        "    upstream: nowhere\n"
        "    tiemout: 5s\n"
    )
    out = subprocess.run([SLUICE_BIN, "-t", "-c", str(bad)], capture_output=True, text=True, timeout=10)
    assert out.returncode == 1
    assert f"{bad}:2:51: connect_timeout: expected a duration" in out.stderr, out.stderr
    assert f'{bad}:5:15: route "api": unknown upstream "nowhere"' in out.stderr, out.stderr
    assert f'{bad}:6:5: unknown key "tiemout" in route' in out.stderr, out.stderr

    good = tmp_path / "good.yaml"
    good.write_text("upstreams: {app: {address: 127.0.0.1:8000}}\nroutes: [{name: a, upstream: app}]\n")
    assert subprocess.run([SLUICE_BIN, "-t", "-c", str(good)], capture_output=True, timeout=10).returncode == 0
    version = subprocess.run([SLUICE_BIN, "--version"], capture_output=True, text=True, timeout=10)
    assert version.returncode == 0 and version.stdout.startswith("sluice ")
