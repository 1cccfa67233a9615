"""Hung and failing upstreams: the route deadline (504, upstream request aborted), the
upstream read timeout before and after the response head, refused and unanswered connects (502,
never the address), and hiding upstream 5xx bodies."""
import socket
import time

import requests

from harness import assert_json_error, free_port, policy, read_head, wait_until


def test_deadline_gives_504_and_cancels_the_backend_request(backend, start_sluice):
    s = start_sluice(policy(timeout="500ms"), upstream=backend.address)
    started = time.monotonic()
    r = requests.get(s.url + "/slow?ms=5000", headers={"X-Request-Id": "deadline-1"}, timeout=10)
    elapsed = time.monotonic() - started
    body = assert_json_error(r, 504, "timeout", route="api", forbid=(str(backend.port),))
    assert body["request_id"] == "deadline-1"
    assert 0.45 <= elapsed < 2.5, elapsed
    wait_until(lambda: backend.stats()["cancelled"] >= 1, timeout=5, what="backend to see the abort")
    # the aborted exchange's connection is not handed to the next request
    assert requests.get(s.url + "/hello").text == "hello\n"
    # a 504 of a slow app is a timeout, told from a wait by upstream_ms and kind="deadline"
    log = {line["request_id"]: line for line in wait_until(lambda: len(s.access_log()) == 2 and s.access_log())}
    assert log["deadline-1"]["status"] == 504 and log["deadline-1"]["decision"] == "timeout", log
    assert log["deadline-1"]["upstream_ms"] >= 400, log
    assert s.metric("sluice_admission_total", route="api", decision="timeout") == 1
    assert s.metric("sluice_admission_total", route="api", decision="admitted") == 1  # /hello only
    assert s.metric("sluice_upstream_errors_total", route="api", kind="deadline") == 1


def test_deadline_runs_from_the_head_while_the_body_arrives(backend, start_sluice):
    """HTTP/1.1: the route's timeout starts once the request head is in, before the body
    (streamed after admission): a body sent too slowly gets the 504. That is the client's
    slowness, not the app's: not counted as kind="deadline"."""
    s = start_sluice(policy(timeout="800ms"), upstream=backend.address)
    c = socket.create_connection(("127.0.0.1", s.port))
    c.settimeout(10)
    started = time.monotonic()
    c.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
    for _ in range(6):
        time.sleep(0.25)
        try:
            c.sendall(b"x" * 5)
        except OSError:
            break
    head, _ = read_head(c)
    elapsed = time.monotonic() - started
    c.close()
    assert head.startswith(b"HTTP/1.1 504 "), head
    assert 0.7 <= elapsed < 2.5, elapsed
    line = wait_until(lambda: s.access_log(), what="the access log line")[0]
    assert line["decision"] == "timeout" and line["status"] == 504, line
    assert s.metrics()[("sluice_upstream_errors_total", frozenset({"route": "api", "kind": "deadline"}.items()))] == 0
    assert s.metric("sluice_admission_total", route="api", decision="timeout") == 1


def test_read_timeout_before_the_head_gives_504(backend, start_sluice):
    s = start_sluice(policy(timeout="10s", upstream_opts="connect_timeout: 300ms, read_timeout: 300ms"),
                     upstream=backend.address)
    started = time.monotonic()
    r = requests.get(s.url + "/slow?ms=3000", timeout=10)
    elapsed = time.monotonic() - started
    assert_json_error(r, 504, "timeout", route="api")
    assert 0.25 <= elapsed < 2.5, elapsed
    wait_until(lambda: backend.stats()["cancelled"] >= 1, timeout=5, what="backend to see the abort")
    assert s.metric("sluice_upstream_errors_total", route="api", kind="read_timeout") == 1
    # a silence shorter than read_timeout is fine
    assert requests.get(s.url + "/slow?ms=100").status_code == 200
    # the 504 counts as a timeout, not as admitted
    assert s.metric("sluice_admission_total", route="api", decision="timeout") == 1
    assert s.metric("sluice_admission_total", route="api", decision="admitted") == 1
    assert s.metrics()[("sluice_upstream_errors_total", frozenset({"route": "api", "kind": "deadline"}.items()))] == 0
    decisions = sorted((line["status"], line["decision"]) for line in wait_until(lambda: len(s.access_log()) == 2 and s.access_log()))
    assert decisions == [(200, "admitted"), (504, "timeout")], decisions


def test_read_timeout_after_the_head_cuts_the_client_connection(backend, start_sluice):
    """CONFIG.md: past the response head, a read timeout cuts the client connection (the status
    is already sent): the client gets a truncated body, not a complete-looking one."""
    s = start_sluice(policy(timeout="10s", upstream_opts="connect_timeout: 300ms, read_timeout: 300ms"),
                     upstream=backend.address)
    started = time.monotonic()
    got = 0
    truncated = False
    try:
        with requests.get(s.url + "/big?mb=2&stall_ms=4000", stream=True, timeout=10) as r:
            assert r.status_code == 200
            for chunk in r.iter_content(65536):
                got += len(chunk)
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError):
        truncated = True
    elapsed = time.monotonic() - started
    assert got < 2 * 1024 * 1024, got
    assert truncated, "the body ended without an error: a truncated body must not look complete"
    assert elapsed < 3.0, elapsed
    wait_until(lambda: backend.stats()["cancelled"] >= 1, timeout=6, what="backend to see the abort")


def test_refused_upstream_gives_502_without_leaking_the_address(start_sluice):
    port = free_port()
    s = start_sluice(policy(), upstream=f"127.0.0.1:{port}")
    for _ in range(3):
        r = requests.get(s.url + "/hello")
        assert_json_error(r, 502, "upstream_unavailable", route="api", forbid=("127.0.0.1", str(port)))
    assert str(port) not in "".join(f"{k}: {v}" for k, v in r.headers.items())
    assert s.metric("sluice_upstream_errors_total", route="api", kind="connect") == 3


def test_connect_timeout_gives_502(start_sluice):
    """A loopback listener whose accept queue is full (backlog 0, filled by connects that are
    never accepted) drops further SYNs: a connect to it neither succeeds nor is refused."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            fillers.append(c)
        time.sleep(0.2)
        probe = socket.socket()
        probe.settimeout(0.5)
        try:
            probe.connect(("127.0.0.1", port))
            raise AssertionError("the filled listener still accepted a connection: cannot test connect_timeout")
        except socket.timeout:
            pass
        finally:
            probe.close()

        s = start_sluice(policy(upstream_opts="connect_timeout: 300ms, read_timeout: 10s"), upstream=f"127.0.0.1:{port}")
        started = time.monotonic()
        r = requests.get(s.url + "/hello", timeout=10)
        elapsed = time.monotonic() - started
        assert_json_error(r, 502, "upstream_unavailable", route="api", forbid=("127.0.0.1", str(port)))
        assert 0.25 <= elapsed < 3.0, elapsed
        kinds = {k: s.metric("sluice_upstream_errors_total", route="api", kind=k) for k in ("connect", "connect_timeout")}
        assert kinds == {"connect": 0, "connect_timeout": 1}, kinds
    finally:
        for c in fillers:
            c.close()
        lsock.close()


def test_hide_upstream_5xx(backend, start_sluice):
    hidden = start_sluice(policy(route="    errors: {hide_upstream_5xx: true}\n"), upstream=backend.address)
    r = requests.get(hidden.url + "/fail", headers={"X-Request-Id": "fail-1"})
    body = assert_json_error(r, 500, "upstream_error", route="api", forbid=("backend exploded", "File \""))
    assert body["request_id"] == "fail-1"
    r = requests.get(hidden.url + "/status/503")
    assert_json_error(r, 503, "upstream_error", route="api", forbid=("status 503",))
    r = requests.get(hidden.url + "/status/404")  # only 5xx are replaced
    assert r.status_code == 404 and r.text == "status 404\n"
    assert requests.get(hidden.url + "/hello").text == "hello\n"

    # hidden is the default; errors: at the top level is every route's default
    default = start_sluice(policy(), upstream=backend.address)
    r = requests.get(default.url + "/fail")
    assert_json_error(r, 500, "upstream_error", route="api", forbid=("backend exploded", "File \""))

    shown = start_sluice(policy(top="errors: {hide_upstream_5xx: false, scrub_tracebacks: false}\n"), upstream=backend.address)
    r = requests.get(shown.url + "/fail")
    assert r.status_code == 500 and "Traceback" in r.text
    r = requests.get(shown.url + "/status/503")
    assert r.status_code == 503 and r.text == "status 503\n"
