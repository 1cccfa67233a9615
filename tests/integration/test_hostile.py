"""sluice as a security boundary, tried as an attacker would: request smuggling and header
injection through the path, ambiguous framing, spoofed forwarding headers, lying backends, and
resources a client or backend could make grow. Every test asserts what the backend actually
received (a raw-socket backend that records every byte), not only what the client saw."""
import json
import os
import pathlib
import socket
import sys
import time

import pytest

from harness import HEAD, RawResponse, assert_json_error, measurable_memory, raw_request, read_all, wait_until

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "fixtures"))
from raw_backend import CLOSE, RawBackend, reply  # noqa: E402


def policy(routes, client="", upstream_opts="connect_timeout: 500ms, read_timeout: 5s"):
    return HEAD + client + '\nupstreams:\n  app: {{address: "{upstream}", ' + upstream_opts + "}}\nroutes:\n" + routes


CATCH_ALL = "  - {{name: api, upstream: app}}\n"


@pytest.fixture
def raw_backend():
    b = RawBackend()
    yield b
    b.close()


def send(s, data, timeout=5.0):
    return RawResponse(raw_request(s.port, data, read_timeout=timeout))


def rss_kib(pid, field="VmRSS"):
    """Resident memory of a process in KiB; field="VmHWM" gives its peak."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field}")


# ---- the request target ----------------------------------------------------------------------

SMUGGLING_TARGETS = [
    b"/api/a%0d%0aX-Injected:%20yes",
    b"/api/a%20HTTP/1.1%0d%0aHost:%20x%0d%0a%0d%0aGET%20/admin/secret",
    b"/api/a%00b",
    b"/api/a%0ab",
    b"/api/%7f",
    b"/api/%zz",
    b"/api/%",
]


@pytest.mark.parametrize("target", SMUGGLING_TARGETS)
def test_a_decoded_control_byte_in_the_path_is_refused_and_nothing_reaches_the_backend(raw_backend, start_sluice, target):
    s = start_sluice(policy(CATCH_ALL), upstream=raw_backend.address)
    r = send(s, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_json_error(r, 400, "bad_request", route=None)
    assert r.headers.get("connection") == "close"
    time.sleep(0.2)
    assert raw_backend.raw() == b"", raw_backend.raw()
    log = wait_until(lambda: s.access_log(), timeout=3, what="a log line")
    assert log[-1]["status"] == 400 and log[-1]["request_id"] == r.headers["x-request-id"]


def test_the_target_is_forwarded_as_sent_and_routed_on_its_normalised_path(raw_backend, start_sluice):
    routes = (
        "  - {{name: hello, match: {{path: /hello}}, upstream: app, rate_limits: [{{name: hourly, rate: 1/h, burst: 1}}]}}\n"
        "  - {{name: admin, match: {{path_prefix: /admin}}, upstream: app}}\n" + CATCH_ALL
    )
    s = start_sluice(policy(routes), upstream=raw_backend.address)
    cases = [
        (b"/x/../hello?a=%20b", "hello"),  # dot segments: routed as /hello, forwarded as sent
        (b"/hello%3Fx=1", "api"),  # an encoded '?' is part of the path: not /hello, not its limit
        (b"/adm%69n/users", "admin"),
        (b"//admin", "admin"),
        (b"/api%2F..%2Fadmin", "admin"),
        (b"/%C3%A9t%C3%A9", "api"),
    ]
    for target, route in cases:
        r = send(s, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert r.status_code == 200, (target, r.status_code, r.text)
    seen = [req.target.encode("latin-1") if isinstance(req.target, str) else req.target for req in raw_backend.requests()]
    assert seen == [t for t, _ in cases], seen
    log = wait_until(lambda: len(s.access_log()) >= len(cases) and s.access_log(), timeout=3, what="log lines")
    assert [line["route"] for line in log] == [route for _, route in cases], log
    # the hello route's 1/h budget was spent by the first request only
    r = send(s, b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert_json_error(r, 429, "rate_limited", route="hello")


def test_the_access_log_shows_utf8_paths_as_utf8(raw_backend, start_sluice):
    s = start_sluice(policy(CATCH_ALL), upstream=raw_backend.address)
    send(s, "GET /été HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    send(s, b"GET /%C3%A9t%C3%A9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    send(s, b"GET /\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    log = wait_until(lambda: len(s.access_log()) >= 3 and s.access_log(), timeout=3, what="3 log lines")
    assert [line["path"] for line in log] == ["/été", "/%C3%A9t%C3%A9", "/\ufffd"]


# ---- framing ---------------------------------------------------------------------------------

BAD_HEADS = {
    "two different lengths": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhello"
    b"GET /admin/secret HTTP/1.1\r\nHost: x\r\n\r\n",
    "length and chunked": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"0\r\n\r\nGET /admin/secret HTTP/1.1\r\nHost: x\r\n\r\n",
    "chunked twice": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "bare LF": b"GET / HTTP/1.1\nHost: x\n\n",
    "no Host": b"GET / HTTP/1.1\r\n\r\n",
    "two Hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "method not a token": b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
    "5000-byte method": b"G" * 5000 + b" / HTTP/1.1\r\nHost: x\r\n\r\n",
    "CONNECT": b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n",
    "absolute form, other host": b"GET http://internal/admin HTTP/1.1\r\nHost: x\r\n\r\n",
    "asterisk form": b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    "space before colon": b"GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n",
    "NUL in a value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "bad chunk size": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(BAD_HEADS))
def test_ambiguous_or_malformed_requests_get_a_json_400_and_reach_nothing(raw_backend, start_sluice, name):
    s = start_sluice(policy(CATCH_ALL), upstream=raw_backend.address)
    r = send(s, BAD_HEADS[name])
    assert_json_error(r, 400, "bad_request", route="any")
    assert r.headers.get("connection") == "close"
    time.sleep(0.2)
    received = raw_backend.raw()
    assert b"/admin/secret" not in received
    if name != "bad chunk size":  # that one is refused while its body streams, after the head went
        assert received == b"", received
    assert wait_until(lambda: s.access_log(), timeout=3, what="a log line")[-1]["status"] == 400


def test_transfer_codings_other_than_chunked_get_501_and_unknown_expectations_417(raw_backend, start_sluice):
    s = start_sluice(policy(CATCH_ALL), upstream=raw_backend.address)
    r = send(s, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
    assert_json_error(r, 501, "bad_request")
    r = send(s, b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx")
    assert_json_error(r, 417, "bad_request")
    r = send(s, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n")
    assert_json_error(r, 505, "bad_request")
    time.sleep(0.2)
    assert raw_backend.raw() == b""


def test_a_head_over_max_header_size_gets_431(raw_backend, start_sluice):
    s = start_sluice(policy(CATCH_ALL), upstream=raw_backend.address)
    r = send(s, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 70000 + b"\r\n\r\n")
    assert_json_error(r, 431, "bad_request")
    r = send(s, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 60000 + b"\r\nConnection: close\r\n\r\n")
    assert r.status_code == 200  # a 60 KB value is fine
    assert raw_backend.requests()[-1].header("x-big") == ["v" * 60000]


def test_absolute_form_for_the_same_host_is_forwarded_in_origin_form(raw_backend, start_sluice):
    s = start_sluice(policy(CATCH_ALL), upstream=raw_backend.address)
    r = send(s, b"GET http://X:8080/a/b?c=1 HTTP/1.1\r\nHost: x:8080\r\nConnection: close\r\n\r\n")
    assert r.status_code == 200, r.text
    req = raw_backend.requests()[-1]
    assert req.target == "/a/b?c=1" and req.header("host") == ["X:8080"]


def test_a_pipelined_second_request_is_a_request_of_its_own(raw_backend, start_sluice):
    """Two requests in one write: each is parsed, routed and limited on its own, and the backend
    gets exactly those two."""
    routes = "  - {{name: secret, match: {{path_prefix: /admin}}, upstream: app, rate_limits: [{{name: r, rate: 1/h, burst: 1}}]}}\n"
    s = start_sluice(policy(routes + CATCH_ALL), upstream=raw_backend.address)
    data = (b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /admin/x HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /admin/y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    out = raw_request(s.port, data)
    assert out.count(b"HTTP/1.1 200") == 2 and out.count(b"HTTP/1.1 429") == 1, out
    assert [r.target for r in raw_backend.requests()] == ["/a", "/admin/x"]
    assert raw_backend.requests()[0].body == b"hello"


# ---- forwarding headers ----------------------------------------------------------------------


def test_repeated_x_forwarded_for_lines_are_joined(raw_backend, start_sluice):
    """A spoofed first line and a trusted ingress's appended second line (HAProxy option
    forwardfor) key the request on the address the ingress saw, not on the spoof."""
    routes = "  - {{name: api, upstream: app, rate_limits: [{{name: per-client, rate: 1/h, burst: 1, per: client_ip}}]}}\n"
    s = start_sluice(policy(routes, client="client: {{trusted_proxies: [127.0.0.1/32]}}\n"), upstream=raw_backend.address)
    codes = []
    for i in range(5):
        r = send(s, f"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.{i}\r\nX-Forwarded-For: 9.9.9.9\r\n"
                    f"Connection: close\r\n\r\n".encode())
        codes.append(r.status_code)
    assert codes == [200, 429, 429, 429, 429], codes
    assert raw_backend.requests()[0].header("x-forwarded-for") == ["1.2.3.0, 9.9.9.9, 127.0.0.1"]
    log = wait_until(lambda: len(s.access_log()) >= 5 and s.access_log(), timeout=3, what="5 lines")
    assert {line["client_ip"] for line in log} == {"9.9.9.9"}


def test_spoofing_headers_never_reach_the_app_and_a_trusted_proxy_keeps_proto_and_host(raw_backend, start_sluice):
    spoof = (b"X-Real-IP: 6.6.6.6\r\nX-Scheme: https\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n"
             b"X-Forwarded-Port: 1\r\nForwarded: for=6.6.6.6\r\nX-Original-URL: /admin\r\nX-HTTP-Method-Override: DELETE\r\n")
    s = start_sluice(policy(CATCH_ALL), upstream=raw_backend.address)
    send(s, b"GET / HTTP/1.1\r\nHost: shop\r\n" + spoof + b"Connection: close\r\n\r\n")
    got = {n.lower(): v for n, v in raw_backend.requests()[-1].headers}
    for name in ("x-real-ip", "x-scheme", "x-forwarded-port", "forwarded", "x-original-url", "x-http-method-override"):
        assert name not in got, (name, got)
    assert got["x-forwarded-proto"] == "http" and got["x-forwarded-host"] == "shop"

    trusted = start_sluice(policy(CATCH_ALL, client="client: {{trusted_proxies: [127.0.0.0/8]}}\n"), upstream=raw_backend.address)
    send(trusted, b"GET / HTTP/1.1\r\nHost: shop\r\n" + spoof + b"Connection: close\r\n\r\n")
    got = {n.lower(): v for n, v in raw_backend.requests()[-1].headers}
    assert got["x-forwarded-proto"] == "https" and got["x-forwarded-host"] == "evil"
    assert got["forwarded"] == "for=6.6.6.6"
    for name in ("x-real-ip", "x-scheme", "x-original-url", "x-http-method-override"):
        assert name not in got, (name, got)


def test_an_empty_key_header_shares_the_missing_budget(raw_backend, start_sluice):
    routes = "  - {{name: api, upstream: app, rate_limits: [{{name: k, rate: 1/h, burst: 1, per: 'header:X-Key'}}]}}\n"
    s = start_sluice(policy(routes), upstream=raw_backend.address)
    first = send(s, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    empty = send(s, b"GET / HTTP/1.1\r\nHost: x\r\nX-Key:\r\nConnection: close\r\n\r\n")
    spaces = send(s, b"GET / HTTP/1.1\r\nHost: x\r\nX-Key:    \r\nConnection: close\r\n\r\n")
    other = send(s, b"GET / HTTP/1.1\r\nHost: x\r\nX-Key: a\r\nConnection: close\r\n\r\n")
    assert (first.status_code, empty.status_code, spaces.status_code, other.status_code) == (200, 429, 429, 200)


def test_host_with_trailing_dot_or_port_matches_its_route(raw_backend, start_sluice):
    routes = "  - {{name: shop, match: {{host: api.example.com}}, upstream: app}}\n"
    s = start_sluice(policy(routes), upstream=raw_backend.address)
    for host in (b"api.example.com.", b"API.Example.Com:8080", b"api.example.com.:80"):
        r = send(s, b"GET / HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n")
        assert r.status_code == 200, (host, r.text)
    r = send(s, b"GET / HTTP/1.1\r\nHost: api.example.co\r\nConnection: close\r\n\r\n")
    assert_json_error(r, 404, "no_route")


def test_head_keeps_content_length(raw_backend, start_sluice):
    raw_backend.responder = lambda req: reply(200, b"x" * 1234) if req.method == "GET" else (
        b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
    s = start_sluice(policy(CATCH_ALL), upstream=raw_backend.address)
    out = raw_request(s.port, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, rest = out.partition(b"\r\n\r\n")
    assert b"content-length: 1234" in head.lower(), head
    assert rest.startswith(b"HTTP/1.1 200"), rest[:100]  # nothing of a body came after the HEAD answer


# ---- lying or hostile backends ---------------------------------------------------------------

LYING_RESPONSES = {
    "status 999": b"HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n",
    "unrequested 101": b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n",
    "two lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "obs-fold": b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n",
    "bare LF": b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
    "not HTTP": b"SSH-2.0-OpenSSH\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(LYING_RESPONSES))
def test_a_malformed_upstream_response_is_a_502(raw_backend, start_sluice, name):
    raw_backend.responder = lambda req: [LYING_RESPONSES[name], CLOSE]
    s = start_sluice(policy(CATCH_ALL), upstream=raw_backend.address)
    r = send(s, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert_json_error(r, 502, "upstream_error")
    assert s.metric("sluice_upstream_errors_total", route="api", kind="bad_response") == 1


def test_an_endless_response_head_is_cut_at_64kib(raw_backend, start_sluice):
    def endless(req):
        yield b"HTTP/1.1 200 OK\r\nX-Endless: "
        for _ in range(4000):
            yield b"a" * 65536
    raw_backend.responder = endless
    s = start_sluice(policy(CATCH_ALL), upstream=raw_backend.address, env=measurable_memory())
    started = time.monotonic()
    r = send(s, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=10)
    assert_json_error(r, 502, "upstream_error")
    assert time.monotonic() - started < 5
    assert rss_kib(s.pid) < 40 * 1024


def test_a_backend_that_sends_less_than_its_length_gives_a_cut_response(raw_backend, start_sluice):
    raw_backend.responder = lambda req: [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 40, CLOSE]
    s = start_sluice(policy(CATCH_ALL), upstream=raw_backend.address)
    out = raw_request(s.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0] and len(body) == 40  # the client sees the length short
    assert s.metric("sluice_upstream_errors_total", route="api", kind="reset") == 1
    # a cut response is not a plain 200: the log line and a counter say so
    line = wait_until(lambda: s.access_log(), timeout=3, what="a log line")[-1]
    assert line["status"] == 200 and line["cut"] == "reset", line
    assert s.metric("sluice_responses_cut_total", route="api", reason="reset") == 1


def test_a_stream_stalled_past_read_timeout_is_logged_as_cut(raw_backend, start_sluice):
    raw_backend.responder = lambda req: [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", 30]
    s = start_sluice(policy(CATCH_ALL, upstream_opts="read_timeout: 300ms"), upstream=raw_backend.address)
    out = raw_request(s.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"hello" in out and not out.endswith(b"0\r\n\r\n")  # no last chunk: the client sees the cut
    line = wait_until(lambda: s.access_log(), timeout=3, what="a log line")[-1]
    assert line["status"] == 200 and line["cut"] == "read_timeout", line
    assert s.metric("sluice_responses_cut_total", route="api", reason="read_timeout") == 1


def test_a_client_that_leaves_mid_body_is_logged_as_cut(raw_backend, start_sluice):
    raw_backend.responder = lambda req: [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello", 30]
    s = start_sluice(policy(CATCH_ALL), upstream=raw_backend.address)
    with socket.create_connection(("127.0.0.1", s.port)) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        c.settimeout(3)
        assert b"hello" in c.recv(4096)
    line = wait_until(lambda: s.access_log(), timeout=3, what="a log line")[-1]
    assert line["cut"] == "client_gone", line
    wait_until(lambda: s.metric("sluice_responses_cut_total", route="api", reason="client_gone") == 1, what="counted")


def test_a_slow_reader_does_not_make_sluice_buffer_the_response(raw_backend, start_sluice, tmp_path):
    """A fast backend, a client that reads nothing for a while: sluice holds a bounded amount
    (the upstream is not read while the client has not taken the last piece), never writes to
    disk, and the body arrives whole once the client reads."""
    size = 64 << 20
    block = os.urandom(1 << 16)

    def big(req):
        yield f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode()
        for _ in range(size // len(block)):
            yield block
    raw_backend.responder = big
    s = start_sluice(policy(CATCH_ALL), upstream=raw_backend.address, env=measurable_memory())
    before = rss_kib(s.pid)
    with socket.create_connection(("127.0.0.1", s.port)) as c:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        time.sleep(1.5)
        assert rss_kib(s.pid) - before < 8 * 1024, (before, rss_kib(s.pid))
        assert not [f for f in os.listdir("/tmp") if f.startswith("h2o.b.")]
        c.settimeout(20)
        got = read_all(c)
    head, _, body = got.partition(b"\r\n\r\n")
    assert len(body) == size and body[: len(block)] == block and body[-len(block):] == block


def test_a_fast_download_is_streamed_through_a_bounded_buffer(raw_backend, start_sluice):
    """256 MiB as fast as loopback goes: sluice's peak memory grows by a few hundred KiB, not by
    what the backend can push ahead of the client (29 MB with libh2o's reads)."""
    size = 256 << 20
    block = os.urandom(1 << 16)

    def big(req):
        yield f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode()
        for _ in range(size // len(block)):
            yield block
    raw_backend.responder = big
    s = start_sluice(policy(CATCH_ALL), upstream=raw_backend.address, env=measurable_memory())
    peak_before = rss_kib(s.pid, "VmHWM")
    with socket.create_connection(("127.0.0.1", s.port)) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        c.settimeout(20)
        n = 0
        while True:
            d = c.recv(1 << 20)
            if not d:
                break
            n += len(d)
    assert n > size
    assert rss_kib(s.pid, "VmHWM") - peak_before < 4 * 1024, (peak_before, rss_kib(s.pid, "VmHWM"))


# ---- resources -------------------------------------------------------------------------------


def test_two_slow_heads_get_their_own_408(raw_backend, start_sluice):
    s = start_sluice(policy(CATCH_ALL, client="client: {{header_timeout: 300ms}}\n"), upstream=raw_backend.address)
    socks = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(2)]
    for c in socks:
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        c.settimeout(5)
    answers = [RawResponse(read_all(c)) for c in socks]
    ids = set()
    for r in answers:
        body = assert_json_error(r, 408, "header_timeout", route=None)
        ids.add(body["request_id"])
    assert len(ids) == 2
    for c in socks:
        c.close()
    assert raw_backend.raw() == b""


def test_running_out_of_file_descriptors_pauses_accept_and_recovers(raw_backend, start_sluice):
    s = start_sluice(policy(CATCH_ALL), upstream=raw_backend.address)
    # a low descriptor limit for the running sluice: new connections now fail to be accepted
    import subprocess
    subprocess.run(["prlimit", f"--pid={s.pid}", "--nofile=64:"], check=True)
    held = []
    try:
        for _ in range(120):
            held.append(socket.create_connection(("127.0.0.1", s.port)))
        time.sleep(0.5)
        cpu_before = sum(int(x) for x in pathlib.Path(f"/proc/{s.pid}/stat").read_text().split()[13:15])
        time.sleep(1.0)
        cpu_after = sum(int(x) for x in pathlib.Path(f"/proc/{s.pid}/stat").read_text().split()[13:15])
        assert cpu_after - cpu_before < 30, "sluice spins while it cannot accept"  # clock ticks (1/100 s)
        assert "pausing new connections" in s.stderr_text()
    finally:
        for c in held:
            c.close()
    subprocess.run(["prlimit", f"--pid={s.pid}", "--nofile=4096:"], check=True)
    r = wait_until(lambda: send(s, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").status_code == 200,
                   timeout=10, what="accepting again")
    assert r


# ---- HTTP/2 ----------------------------------------------------------------------------------


class H2Client:
    """A bare HTTP/2 client (python3-h2) that can send what a real client never would."""

    def __init__(self, port):
        import h2.config
        import h2.connection
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        cfg = h2.config.H2Configuration(client_side=True, validate_outbound_headers=False, normalize_outbound_headers=False,
                                        validate_inbound_headers=False)
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        self.flush()

    def flush(self):
        self.sock.sendall(self.conn.data_to_send())

    def request(self, headers, end_stream=True):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, headers, end_stream=end_stream)
        return sid

    def events(self, until, timeout=5.0):
        """Reads frames until until(events) is true or the timeout; returns every event."""
        got = []
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.2)
        while time.monotonic() < deadline and not until(got):
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                break  # sluice closed after its GOAWAY while our frames were still arriving
            if not data:
                break
            got += self.conn.receive_data(data)
            try:
                self.flush()
            except (ConnectionResetError, BrokenPipeError):
                break  # read what arrived; the caller judges the events
        return got

    def close(self):
        self.sock.close()


def h2_response(client, sid, timeout=5.0):
    import h2.events
    evs = client.events(lambda e: any(isinstance(x, h2.events.StreamEnded) and x.stream_id == sid for x in e), timeout)
    headers = {}
    body = b""
    for e in evs:
        if isinstance(e, h2.events.ResponseReceived) and e.stream_id == sid:
            headers = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v for k, v in e.headers}
        if isinstance(e, h2.events.DataReceived) and e.stream_id == sid:
            body += e.data
    return headers, body


@pytest.mark.parametrize("pseudo", [
    {":method": "GET /internal/admin?x="},
    {":path": "/public HTTP/1.1 /internal"},
    {":path": "/a%0d%0aX-Injected:%20yes"},
    {":path": "http://other/admin"},
    {":authority": "a b"},
    {":method": "CONNECT"},
])
def test_http2_pseudo_headers_are_checked_like_http1(raw_backend, start_sluice, pseudo):
    s = start_sluice(policy(CATCH_ALL), upstream=raw_backend.address)
    c = H2Client(s.port)
    try:
        fields = {":method": "GET", ":scheme": "http", ":authority": "x", ":path": "/public"}
        fields.update(pseudo)
        sid = c.request(list(fields.items()))
        c.flush()
        headers, body = h2_response(c, sid)
    finally:
        c.close()
    assert headers.get(":status") == "400", (headers, body)
    doc = json.loads(body)
    assert doc["error"]["code"] == "bad_request" and doc["error"]["request_id"] == headers["x-request-id"]
    time.sleep(0.2)
    assert raw_backend.raw() == b""


def test_http2_field_values_with_control_bytes_are_refused(raw_backend, start_sluice):
    s = start_sluice(policy(CATCH_ALL), upstream=raw_backend.address)
    c = H2Client(s.port)
    try:
        sid = c.request([(":method", "GET"), (":scheme", "http"), (":authority", "x"), (":path", "/"),
                         ("x-a", "a\r\nx-injected: yes")])
        c.flush()
        headers, _ = h2_response(c, sid)
    finally:
        c.close()
    assert headers.get(":status") == "400", headers
    assert raw_backend.raw() == b""


def broken_trailers_frame(client, sid):
    """A second HEADERS on `sid` without END_STREAM (trailers must end the stream): a connection
    error. Built by hand: the h2 library refuses to send it."""
    block = client.conn.encoder.encode([("x-trailer", "1")])
    return len(block).to_bytes(3, "big") + bytes([1, 0x4]) + sid.to_bytes(4, "big") + block


@pytest.mark.parametrize("first", [
    [("X-Upper", "1")],             # refused by libh2o itself (a header name with a capital)
    [(":method", "GET /admin x")],  # refused by sluice
    [],                             # a good request
])
def test_http2_a_connection_error_read_with_a_request_leaves_no_half_answer(raw_backend, start_sluice, first):
    """A request and, in the same write, a frame that is a connection error: the client gets the
    GOAWAY and, for the request, either nothing or a whole answer; never a HEADERS promising a
    body that never comes (libh2o writes no DATA once its connection is closing). Nothing reaches
    the backend."""
    import h2.events
    s = start_sluice(policy(CATCH_ALL), upstream=raw_backend.address)
    c = H2Client(s.port)
    try:
        fields = dict([(":method", "GET"), (":scheme", "http"), (":authority", "x"), (":path", "/public")] + first)
        sid = c.request(list(fields.items()))
        sid2 = c.request([(":method", "POST"), (":scheme", "http"), (":authority", "x"), (":path", "/b")], end_stream=False)
        c.sock.sendall(c.conn.data_to_send() + broken_trailers_frame(c, sid2))
        evs = c.events(lambda e: any(isinstance(x, h2.events.ConnectionTerminated) for x in e), 5)
    finally:
        c.close()
    assert any(isinstance(e, h2.events.ConnectionTerminated) for e in evs), evs
    heads = [dict(e.headers) for e in evs if isinstance(e, h2.events.ResponseReceived) and e.stream_id == sid]
    body = b"".join(e.data for e in evs if isinstance(e, h2.events.DataReceived) and e.stream_id == sid)
    if heads:
        assert int(heads[0][b"content-length"]) == len(body), (heads, body)
        assert any(isinstance(e, h2.events.StreamEnded) and e.stream_id == sid for e in evs), evs
    time.sleep(0.3)
    assert raw_backend.raw() == b""


def test_http2_malformed_requests_get_their_whole_answer(start_sluice, raw_backend):
    """The answer to a malformed request, deferred by a loop turn, still arrives whole when the
    connection stays up, for libh2o's refusals and sluice's."""
    s = start_sluice(policy(CATCH_ALL), upstream=raw_backend.address)
    c = H2Client(s.port)
    try:
        for bad in ([("X-Upper", "1")], [(":method", "GET /admin x")]):
            fields = dict([(":method", "GET"), (":scheme", "http"), (":authority", "x"), (":path", "/public")] + bad)
            sid = c.request(list(fields.items()))
            c.flush()
            headers, body = h2_response(c, sid)
            assert headers.get(":status") == "400" and int(headers["content-length"]) == len(body), (headers, body)
            assert json.loads(body)["error"]["code"] == "bad_request"
    finally:
        c.close()
    assert raw_backend.raw() == b""


def test_http2_head_keeps_content_length(raw_backend, start_sluice):
    raw_backend.responder = lambda req: b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
    s = start_sluice(policy(CATCH_ALL), upstream=raw_backend.address)
    c = H2Client(s.port)
    try:
        sid = c.request([(":method", "HEAD"), (":scheme", "http"), (":authority", "x"), (":path", "/")])
        c.flush()
        headers, body = h2_response(c, sid)
    finally:
        c.close()
    assert headers.get(":status") == "200" and headers.get("content-length") == "1234" and body == b"", headers


def test_http2_rapid_reset_opens_nothing_upstream_and_ends_in_goaway(raw_backend, start_sluice):
    """CVE-2023-44487: streams opened and reset in the same write never reach the backend, and a
    connection that keeps doing it is sent away."""
    import h2.errors
    import h2.events
    raw_backend.responder = lambda req: [1.0, reply(200, b"ok")]
    routes = "  - {{name: api, upstream: app, concurrency: {{limit: 4, queue: {{size: 1000, timeout: 5s}}}}}}\n"
    s = start_sluice(policy(routes), upstream=raw_backend.address)
    c = H2Client(s.port)
    try:
        for _ in range(300):
            sid = c.request([(":method", "GET"), (":scheme", "http"), (":authority", "x"), (":path", "/slow")])
            c.conn.reset_stream(sid, error_code=h2.errors.ErrorCodes.CANCEL)
        c.flush()
        evs = c.events(lambda e: any(isinstance(x, h2.events.ConnectionTerminated) for x in e), timeout=5)
    finally:
        c.close()
    goaway = [e for e in evs if isinstance(e, h2.events.ConnectionTerminated)]
    assert goaway and goaway[0].error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, evs[-5:]
    time.sleep(0.5)
    assert raw_backend.connections == 0, raw_backend.raw()[:300]
    assert "GOAWAY" in s.stderr_text()
    wait_until(lambda: s.metric("sluice_in_flight", route="api") == 0, timeout=5, what="in_flight 0")


def test_request_headers_set_and_remove_per_route(raw_backend, start_sluice):
    """A route can give the app what it trusts (X-Real-IP from sluice's own view of the client) and
    take away what it must not see; other routes are not affected."""
    routes = ("  - name: app\n    match: {{path_prefix: /app}}\n    upstream: app\n"
              "    request_headers:\n      set: {{X-Real-IP: '${{client_ip}}', X-Route: '${{route}} $$5', X-Via: 'h=${{host}} id=${{request_id}}'}}\n"
              "      remove: [X-Debug, Authorization]\n" + CATCH_ALL)
    s = start_sluice(policy(routes, client="client: {{trusted_proxies: [127.0.0.1/32]}}\n"), upstream=raw_backend.address)
    send(s, b"GET /app HTTP/1.1\r\nHost: shop\r\nX-Real-IP: 6.6.6.6\r\nX-Debug: 1\r\nAuthorization: x\r\n"
            b"X-Forwarded-For: 203.0.113.7\r\nX-Request-Id: abc\r\nConnection: close\r\n\r\n")
    got = raw_backend.requests()[-1]
    assert got.header("x-real-ip") == ["203.0.113.7"]
    assert got.header("x-route") == ["app $5"]
    assert got.header("x-via") == ["h=shop id=abc"]
    assert got.header("x-debug") == [] and got.header("authorization") == []
    send(s, b"GET /other HTTP/1.1\r\nHost: shop\r\nX-Debug: 1\r\nAuthorization: x\r\nConnection: close\r\n\r\n")
    got = raw_backend.requests()[-1]
    assert got.header("x-debug") == ["1"] and got.header("authorization") == ["x"] and got.header("x-real-ip") == []
