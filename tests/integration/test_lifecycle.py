"""Operating sluice: reload on SIGHUP (limits change, unchanged limiter state carries over, a
bad file keeps the old config) and drain on SIGTERM (readiness drops at once, requests in
progress finish, then exit 0)."""
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from harness import read_head, wait_until

BASE = """listen: {listen}
admin: {admin}
drain_delay: 0ms
upstreams:
  app: {{address: "{upstream}"}}
routes:
"""


def reload_with(s, routes_yaml, expect_ok=True):
    """Rewrites the policy (same listeners) and sends SIGHUP; waits for the reload counter."""
    text = s.config.read_text()
    s.config.write_text(text[: text.index("routes:\n") + len("routes:\n")] + routes_yaml)
    key = "success" if expect_ok else "failure"
    before = s.metric("sluice_config_reloads_total", result=key)
    s.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: s.metric("sluice_config_reloads_total", result=key) == before + 1, what=f"reload {key}")


def test_reload_changes_limits_without_dropping_a_request(backend, start_sluice):
    s = start_sluice(BASE + "  - {{name: r, upstream: app, rate_limits: [{{name: a, rate: 1/m, burst: 1}}]}}\n",
                     upstream=backend.address)
    assert requests.get(s.url + "/hello").status_code == 200
    assert requests.get(s.url + "/hello").status_code == 429
    with ThreadPoolExecutor(1) as pool:
        # in flight across the reload: admitted under the old config, finishes normally
        reload_with(s, "  - {name: slow, match: {path: /slow}, upstream: app}\n"
                       "  - {name: r, upstream: app, rate_limits: [{name: a, rate: 1/m, burst: 1}]}\n")
        slow = pool.submit(requests.get, s.url + "/slow?ms=1500", timeout=10)
        wait_until(lambda: backend.stats()["in_flight"] == 1, what="slow request in flight")
        reload_with(s, "  - {name: r, upstream: app, rate_limits: [{name: a, rate: 1/m, burst: 50}]}\n")
        assert slow.result().status_code == 200
    # the changed limit starts fresh with its new burst
    assert [requests.get(s.url + "/hello").status_code for _ in range(5)] == [200] * 5
    assert "reloaded" in s.stderr_text()


def test_unchanged_limits_keep_their_state_across_reload(backend, start_sluice):
    s = start_sluice(
        BASE + "  - {{name: r, upstream: app, rate_limits: [{{name: a, rate: 1/m, burst: 2}}, {{name: b, rate: 1/m, burst: 1}}]}}\n",
        upstream=backend.address,
    )
    assert requests.get(s.url + "/hello").status_code == 200
    assert requests.get(s.url + "/hello").status_code == 429  # b is spent, a has 1 left
    # b changes (fresh), a is unchanged (carries its state: one token left), a timeout changes too
    reload_with(s, "  - {name: r, upstream: app, timeout: 9s, rate_limits: [{name: a, rate: 1/m, burst: 2}, "
                   "{name: b, rate: 1/m, burst: 5}]}\n")
    assert requests.get(s.url + "/hello").status_code == 200
    r = requests.get(s.url + "/hello")
    assert r.status_code == 429 and r.headers["ratelimit-policy"].startswith('"a"')


def test_concurrency_state_carries_over(backend, start_sluice):
    route = "  - {name: r, upstream: app, concurrency: {limit: 1, queue: {size: 0}}}\n"
    s = start_sluice(BASE + route.replace("{", "{{").replace("}", "}}"), upstream=backend.address)
    with ThreadPoolExecutor(1) as pool:
        holder = pool.submit(requests.get, s.url + "/slow?ms=2000", timeout=10)
        wait_until(lambda: backend.stats()["in_flight"] == 1, what="holder in flight")
        reload_with(s, route + "  - {name: other, match: {path: /other}, upstream: app}\n")
        r = requests.get(s.url + "/hello")
        assert r.status_code == 503 and r.json()["error"]["code"] == "queue_full"  # the slot is still taken
        assert holder.result().status_code == 200
    assert requests.get(s.url + "/hello").status_code == 200
    wait_until(lambda: s.metric("sluice_in_flight", route="r") == 0, what="in_flight back to 0")
    assert backend.stats()["max_in_flight"] == 1


def test_bad_reload_keeps_the_old_config(backend, start_sluice):
    s = start_sluice(BASE + "  - {{name: r, upstream: app, rate_limits: [{{name: a, rate: 1/m, burst: 1}}]}}\n",
                     upstream=backend.address)
    assert requests.get(s.url + "/hello").status_code == 200
    reload_with(s, "  - {name: r, upstream: nowhere, timeout: soon}\n", expect_ok=False)
    err = s.stderr_text()
    assert f'{s.config}:7:' in err and "unknown upstream" in err and "reload" in err
    assert requests.get(s.url + "/hello").status_code == 429  # old limits, old state
    assert s.metric("sluice_config_reloads_total", result="success") == 0
    assert requests.get(s.admin_url + "/config").json()["routes"][0]["upstream"] == "app"


def test_the_loop_keeps_answering_while_a_reload_reads_its_file(backend, start_sluice):
    """The file is read (and upstream names resolved) off the loop: with the policy behind a FIFO
    that nothing writes yet, the reload cannot finish, and meanwhile requests and the admin API
    are answered. Once the file comes, the reload completes."""
    import os
    s = start_sluice(BASE + "  - {{name: r, upstream: app, rate_limits: [{{name: a, rate: 1/m, burst: 1}}]}}\n",
                     upstream=backend.address)
    text = s.config.read_text()
    os.unlink(s.config)
    os.mkfifo(s.config)
    s.proc.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    started = time.monotonic()
    assert requests.get(s.admin_url + "/healthz", timeout=2).status_code == 200
    assert requests.get(s.url + "/hello", timeout=2).status_code == 200
    assert requests.get(s.url + "/hello", timeout=2).status_code == 429  # the old config's limit
    assert time.monotonic() - started < 1.5
    assert s.metric("sluice_config_reloads_total", result="success") == 0
    # a second SIGHUP meanwhile is one more reload, done after the first
    s.proc.send_signal(signal.SIGHUP)
    new = text[: text.index("routes:\n") + len("routes:\n")] + "  - {name: r, upstream: app}\n"
    with open(s.config, "w") as fifo:  # the first reload's open of the FIFO returns now
        tmp = s.config.with_suffix(".new")
        tmp.write_text(new)
        os.rename(tmp, s.config)  # so that the second reload reads a plain file
        fifo.write(new)
    wait_until(lambda: s.metric("sluice_config_reloads_total", result="success") == 2, what="two reloads")
    assert [requests.get(s.url + "/hello").status_code for _ in range(3)] == [200] * 3


def test_drain_lets_requests_finish_while_readyz_says_503(backend, start_sluice):
    s = start_sluice(BASE.replace("drain_delay: 0ms", "drain_delay: 1s\nshutdown_timeout: 10s")
                     + "  - {{name: r, upstream: app}}\n", upstream=backend.address)
    assert requests.get(s.admin_url + "/readyz").status_code == 200
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(requests.get, s.url + "/slow?ms=2500", timeout=10)
        wait_until(lambda: backend.stats()["in_flight"] == 1, what="slow request in flight")
        s.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: requests.get(s.admin_url + "/readyz").status_code == 503, timeout=2, what="readyz 503")
        assert requests.get(s.admin_url + "/healthz").status_code == 200
        # within drain_delay new connections are still served
        assert requests.get(s.url + "/hello", headers={"Connection": "close"}).status_code == 200
        time.sleep(1.3)
        # after it, new connections are refused
        try:
            requests.get(s.url + "/hello", headers={"Connection": "close"}, timeout=2)
            refused = False
        except requests.ConnectionError:
            refused = True
        assert refused
        assert slow.result().status_code == 200
    assert s.proc.wait(15) == 0
    assert "stopped" in s.stderr_text()


def test_waiters_still_queued_when_shutdown_timeout_ends_get_503(backend, start_sluice):
    s = start_sluice(
        BASE.replace("drain_delay: 0ms", "drain_delay: 0ms\nshutdown_timeout: 1s")
        + "  - {{name: r, upstream: app, timeout: 30s, concurrency: {{limit: 1, queue: {{size: 4, timeout: 20s}}}}}}\n",
        upstream=backend.address,
    )
    with ThreadPoolExecutor(2) as pool:
        holder = pool.submit(requests.get, s.url + "/slow?ms=8000", timeout=15)
        wait_until(lambda: backend.stats()["in_flight"] == 1, what="holder in flight")
        waiter = pool.submit(requests.get, s.url + "/hello", timeout=15)
        wait_until(lambda: s.metric("sluice_queue_depth", route="r") == 1, what="waiter queued")
        started = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        r = waiter.result()
        assert r.status_code == 503 and r.json()["error"]["code"] == "queue_timeout"
        assert time.monotonic() - started < 5
        try:
            holder.result()
        except requests.RequestException:
            pass  # cut at exit: it outlived shutdown_timeout
    assert s.proc.wait(10) == 0
    assert "shutdown_timeout reached" in s.stderr_text()


def read_response(sock):
    """One HTTP/1.1 response with a Content-Length, read off a socket: (head, body)."""
    head, body = read_head(sock)
    length = int([line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")][0])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, body
        body += chunk
    return head, body


def test_drain_tells_keep_alive_clients_to_close_and_exits_once_idle(backend, start_sluice):
    """During the drain an HTTP/1.1 client is told `Connection: close` on its pooled connection
    (so it never races the close), an HTTP/2 client gets GOAWAY, and with nothing in flight the
    process exits right after drain_delay."""
    import socket
    import h2.config
    import h2.connection
    import h2.events
    s = start_sluice(BASE.replace("drain_delay: 0ms", "drain_delay: 1s") + "  - {{name: r, upstream: app}}\n",
                     upstream=backend.address)
    pooled = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    pooled.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    first, _ = read_response(pooled)
    assert b" 200 " in first and b"connection: close" not in first.lower()
    h2sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    h2conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    h2conn.initiate_connection()
    h2sock.sendall(h2conn.data_to_send())
    h2sock.recv(65536)

    s.proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    wait_until(lambda: requests.get(s.admin_url + "/readyz").status_code == 503, timeout=2, what="readyz 503")
    pooled.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    second, _ = read_response(pooled)
    assert b" 200 " in second and b"connection: close" in second.lower(), second
    events = []
    h2sock.settimeout(2)
    while not any(isinstance(e, h2.events.ConnectionTerminated) for e in events):
        data = h2sock.recv(65536)
        assert data, "the HTTP/2 connection closed without GOAWAY"
        events += h2conn.receive_data(data)
    assert s.proc.wait(10) == 0
    assert time.monotonic() - started < 1.8, time.monotonic() - started
    pooled.close()
    h2sock.close()


def test_a_second_signal_exits_at_once(backend, start_sluice):
    s = start_sluice(BASE.replace("drain_delay: 0ms", "drain_delay: 0ms\nshutdown_timeout: 30s")
                     + "  - {{name: r, upstream: app}}\n", upstream=backend.address)
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(requests.get, s.url + "/slow?ms=8000", timeout=15)
        wait_until(lambda: backend.stats()["in_flight"] == 1, what="slow request in flight")
        s.proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        assert s.proc.poll() is None  # draining: the request may finish
        started = time.monotonic()
        s.proc.send_signal(signal.SIGINT)
        assert s.proc.wait(3) == 1
        assert time.monotonic() - started < 1
        try:
            slow.result()
        except requests.RequestException:
            pass
    assert "second signal" in s.stderr_text()
    s.stopped_by_harness = True
