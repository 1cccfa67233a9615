"""The threat demo apps (examples/threats/) really fail the way they claim, and their
instrumentation counts it; and bench/threats runs an attack directly and through sluice and
reports a policy this sluice refuses instead of crashing."""
import http.client
import json
import subprocess
import threading
import time

import pytest
from harness import PYTHON, REPO, SLUICE_BIN, free_port, stop_process, wait_until

THREATS = REPO / "examples" / "threats"


class ThreatApp:
    def __init__(self, kind, honest=False):
        self.port = free_port()
        args = [PYTHON, str(THREATS / f"{kind}_shop.py"), "--port", str(self.port)] + (["--honest"] if honest else [])
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._ready, timeout=20, what=f"{kind} threat app")

    def _ready(self):
        assert self.proc.poll() is None, "threat app exited"
        try:
            return self.call("GET", "/_threats/stats")[0] == 200
        except OSError:
            return False

    def call(self, method, path, body=None, headers=None, timeout=5.0):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            send(conn, method, path, body, headers)
            r = conn.getresponse()
            return r.status, r.read().decode(errors="replace")
        finally:
            conn.close()

    def stats(self):
        status, text = self.call("GET", "/_threats/stats")
        assert status == 200
        return json.loads(text)

    def reset(self):
        assert self.call("POST", "/_threats/reset")[0] == 200


def send(conn, method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, data, {**({"Content-Type": "application/json"} if data else {}), **(headers or {})})


def at_once(app, requests):
    """Sends each (method, path, body, headers) on its own connection, opened beforehand, all
    released together; returns the statuses in order."""
    conns = [http.client.HTTPConnection("127.0.0.1", app.port, timeout=5) for _ in requests]
    for c in conns:
        c.connect()
    barrier = threading.Barrier(len(requests))
    statuses = [None] * len(requests)

    def go(i):
        barrier.wait()
        send(conns[i], *requests[i])
        r = conns[i].getresponse()
        r.read()
        statuses[i] = r.status
        conns[i].close()

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


@pytest.fixture(scope="module", params=["tornado", "fastapi"])
def app(request):
    a = ThreatApp(request.param)
    yield a
    stop_process(a.proc, timeout=2)


def test_sequential_writes_lose_nothing_concurrent_ones_do(app):
    app.reset()
    for _ in range(5):
        assert app.call("POST", "/wallet/deposit", {"amount": 10}, {"X-User-Id": "seq"})[0] == 200
    s = app.stats()
    assert (s["lost_updates"], s["balance_error"], s["double_spends"]) == (0, 0, 0)

    assert at_once(app, [("POST", "/wallet/deposit", {"amount": 10}, {"X-User-Id": "u"})] * 30) == [200] * 30
    s = app.stats()
    assert s["lost_updates"] > 0 and s["balance_error"] > 0

    statuses = at_once(app, [("POST", "/wallet/withdraw", {"amount": 100}, {"X-User-Id": "w"})] * 20)
    assert statuses.count(200) > 1  # serialised, only one withdrawal of the 100 held would pass
    assert app.stats()["double_spends"] == statuses.count(200) - 1


def test_oversell_and_coupon_double_credit(app):
    app.reset()
    statuses = at_once(app, [("POST", "/shop/buy", {"item": "gpu"}, {"X-User-Id": f"b{i}"}) for i in range(20)])
    assert statuses.count(200) > 5
    assert app.stats()["oversold"] == statuses.count(200) - 5
    statuses = at_once(app, [("POST", "/coupons/redeem", {"code": "PROMO-X"}, {"X-User-Id": f"m{i}"}) for i in range(10)])
    assert statuses.count(200) > 1
    assert app.stats()["coupon_double_credits"] == statuses.count(200) - 1
    assert app.call("POST", "/coupons/redeem", {"code": "PROMO-X"}, {"X-User-Id": "late"})[0] == 409


def test_opposite_transfers_deadlock(app):
    app.reset()
    conns = []
    for user, to in (("dl-a", "dl-b"), ("dl-b", "dl-a")):
        c = http.client.HTTPConnection("127.0.0.1", app.port, timeout=5)
        send(c, "POST", "/wallet/transfer", {"to": to, "amount": 1}, {"X-User-Id": user})
        conns.append(c)
    wait_until(lambda: app.stats()["deadlocked"] == 2, timeout=5, what="two deadlocked transfers")
    for c in conns:
        c.close()
    time.sleep(0.2)
    assert app.stats()["in_flight"] == 2  # the clients left; the handlers never will
    assert app.call("POST", "/wallet/transfer", {"to": "dl-d", "amount": 1}, {"X-User-Id": "dl-c"})[0] == 200


def test_background_tasks_hang_and_blocking_pool(app):
    app.reset()
    for _ in range(20):
        assert app.call("POST", "/api/spawn")[0] == 202
    s = app.stats()
    assert s["background_tasks"] == 20 and s["tasks"] >= 20
    with pytest.raises(OSError):  # socket.timeout
        app.call("GET", "/api/hang", timeout=0.3)
    time.sleep(0.2)
    assert app.stats()["in_flight"] == 1
    statuses = at_once(app, [("GET", "/api/blocking?ms=300", None, None)] * 3)
    assert statuses == [200] * 3
    assert app.stats()["peak_threads_busy"] >= 3


def test_fd_leak_on_the_error_path_only(app):
    app.reset()
    before = app.stats()["fds"]
    for _ in range(3):
        assert app.call("POST", "/api/import", {"rows": 2})[0] == 200
    for _ in range(5):
        assert app.call("POST", "/api/import", {"rows": "x"})[0] == 500
    s = app.stats()
    assert s["leaked_fds"] == 5 and s["fds"] >= before + 5
    app.reset()
    assert app.stats()["fds"] <= before


def test_error_pages_leak_secrets(app):
    status, text = app.call("GET", "/api/checkout?card=4242")
    assert status == 500 and "Traceback" in text and "sk_live_threatdemo_51HxQ9a7Kq2Lm" in text
    status, text = app.call("GET", "/api/lookup?id=x")
    assert status == 400 and "Traceback" in text and "hunter2-Pr0d-DB!" in text
    assert app.call("GET", "/api/lookup?id=7")[0] == 200


@pytest.mark.parametrize("kind", ["tornado", "fastapi"])
def test_honest_app_bounds_itself_by_the_request_budget(kind):
    a = ThreatApp(kind, honest=True)
    try:
        t0 = time.monotonic()
        status, _ = a.call("GET", "/api/hang", headers={"X-Request-Timeout-Ms": "300"})
        assert status == 504 and time.monotonic() - t0 < 2
        status, text = a.call("GET", "/api/blocking?ms=5000", headers={"X-Request-Timeout-Ms": "300"})
        assert status == 200 and json.loads(text)["slept_ms"] <= 300
        s = a.stats()
        assert s["in_flight"] == 0 and s["timeouts_honoured"] == 1
    finally:
        stop_process(a.proc, timeout=2)


def test_runner_direct_and_through_sluice(tmp_path):
    refused = tmp_path / "refused.yaml"
    refused.write_text("listen: ${SLUICE_LISTEN}\nno_such_key: 1\n")
    out = subprocess.run(
        [str(REPO / "bench" / "threats"), "--sluice", SLUICE_BIN, "--only", "wallet,tracebacks", "--apps", "tornado",
         "--seconds", "1", "--policy", f"tracebacks={refused}", "--out", str(tmp_path / "report.md")],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in out.stdout.splitlines() if "| tornado |" in line}
    wallet = rows["lost update / double spend (per account)"]
    assert not wallet[2].startswith("0 lost updates")  # direct: updates lost
    assert wallet[3] == "0 lost updates, 0 double spends"  # through sluice: serialised per user
    assert rows["traceback + secrets in a 500 and a 400"][3] == "not supported by this sluice"
    assert "no_such_key" in out.stdout
    assert (tmp_path / "report.md").read_text() == out.stdout
