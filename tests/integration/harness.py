"""Processes for the integration tests: real backends (Tornado, FastAPI/uvicorn), real sluice,
real redis-server, on free loopback ports, each stopped by its pid."""
import json
import os
import re
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

REPO = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
SLUICE_BIN = os.environ.get("SLUICE_BIN", str(REPO / "build" / "gateway" / "sluice"))
PYTHON = "/usr/bin/python3"
LOADGEN = os.environ.get("SLUICE_LOADGEN", str(pathlib.Path(SLUICE_BIN).parents[1] / "bench" / "loadgen"))


HEAD = "listen: {listen}\nadmin: {admin}\ndrain_delay: 0ms\n"


def esc(text):
    """Escapes braces for str.format (Sluice fills {listen}, {admin}, {upstream})."""
    return text.replace("{", "{{").replace("}", "}}")


def policy(route="", client="", upstream_opts="connect_timeout: 300ms, read_timeout: 10s", timeout="5s", top=""):
    """A policy for start_sluice: upstream `app` (the address passed as upstream=) and one
    catch-all route `api` with `timeout`; `route` is extra YAML indented under the route,
    `client` the inside of the client mapping, `top` extra top-level YAML. Plain YAML (no
    brace escaping needed)."""
    text = top
    if client:
        text += "client: {" + client + "}\n"
    text += (
        'upstreams:\n  app: {address: "@UPSTREAM@", ' + upstream_opts + "}\n"
        "routes:\n  - name: api\n    upstream: app\n    timeout: " + timeout + "\n" + route
    )
    return HEAD + esc(text).replace("@UPSTREAM@", "{upstream}")


_ports_given = set()


def measurable_memory():
    """Environment for a sluice whose memory a test measures: under ASan, freed memory is held in
    a quarantine (256 MiB by default) and would be counted; the rest of ASan's checks stay on."""
    asan = os.environ.get("ASAN_OPTIONS")
    return {"ASAN_OPTIONS": asan + ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0"} if asan else None


def free_port():
    """A loopback port nobody listens on, never one this test run handed out before: the kernel
    hands a just-closed ephemeral port out again, so two calls in a row could give the same one."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def fire_at_once(n, fn):
    """Runs fn(i) for i in range(n) in n threads released together; returns the results in order."""
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def wait_until(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Polls predicate() until it returns a truthy value; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def stop_process(proc, sig=signal.SIGTERM, timeout=10):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


class Backend:
    """A test backend process; `kind` is "tornado" or "fastapi"."""

    def __init__(self, kind, uds=None):
        self.kind = kind
        self.uds = uds
        self.port = None if uds else free_port()
        script = FIXTURES / ("tornado_app.py" if kind == "tornado" else "fastapi_app.py")
        args = [PYTHON, str(script)] + (["--uds", uds] if uds else ["--port", str(self.port)])
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.session = requests.Session()
        wait_until(self._ready, timeout=20, what=f"{kind} backend to listen")

    @property
    def address(self):
        """The address to put in sluice's `upstreams.NAME.address`."""
        return f"unix:{self.uds}" if self.uds else f"127.0.0.1:{self.port}"

    @property
    def url(self):
        """Direct URL (TCP backends only), bypassing sluice."""
        return f"http://127.0.0.1:{self.port}" if self.port else None

    def _ready(self):
        if self.proc.poll() is not None:
            self.log.seek(0)
            raise AssertionError(f"{self.kind} backend exited: {self.log.read().decode(errors='replace')}")
        if self.uds:
            return os.path.exists(self.uds)
        try:
            return self.session.get(f"http://127.0.0.1:{self.port}/stats", timeout=1).ok
        except requests.RequestException:
            return False

    def stats(self):
        if self.uds:
            out = subprocess.run(["curl", "-s", "--unix-socket", self.uds, "http://x/stats"], capture_output=True, timeout=5)
            return json.loads(out.stdout)
        return self.session.get(f"http://127.0.0.1:{self.port}/stats", timeout=5).json()

    def _post(self, path):
        if self.uds:
            subprocess.run(["curl", "-s", "-XPOST", "--unix-socket", self.uds, f"http://x{path}"], capture_output=True, timeout=5)
        else:
            self.session.post(f"http://127.0.0.1:{self.port}{path}", timeout=5)

    def reset(self):
        self._post("/stats/reset")

    def reset_peak(self):
        """max_in_flight measured from now on (requests in flight stay counted)."""
        self._post("/stats/reset-peak")

    def stop(self):
        # uvicorn 0.17 waits without end for connections still open at SIGTERM (it has no
        # graceful-shutdown timeout): a few seconds, then it is killed
        stop_process(self.proc, timeout=3)
        self.log.close()


class Sluice:
    """The real sluice binary with a policy written to a temporary file.

    The policy text may use {listen}, {admin} and {upstream} (the backend's address); HEAD
    below supplies the first two and a drain_delay of 0 so that tests stop quickly."""

    def __init__(self, policy, upstream="127.0.0.1:1", tmpdir=None, env=None):
        self.dir = pathlib.Path(tmpdir or tempfile.mkdtemp(prefix="sluice-test-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port, self.admin_port = free_port(), free_port()
        self.config = self.dir / "sluice.yaml"
        self.config.write_text(
            policy.format(listen=f"127.0.0.1:{self.port}", admin=f"127.0.0.1:{self.admin_port}", upstream=upstream)
        )
        self.stdout_path, self.stderr_path = self.dir / "stdout.log", self.dir / "stderr.log"
        self._stdout, self._stderr = open(self.stdout_path, "wb"), open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [SLUICE_BIN, "-c", str(self.config)], stdout=self._stdout, stderr=self._stderr, env={**os.environ, **(env or {})}
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_url = f"http://127.0.0.1:{self.admin_port}"
        self.stopped_by_harness = False
        try:
            wait_until(self._ready, timeout=15, what="sluice /healthz")
        except BaseException:
            self.stop(signal.SIGKILL)
            raise

    @property
    def pid(self):
        return self.proc.pid

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"sluice exited with {self.proc.returncode}: {self.stderr_text()}")
        try:
            return requests.get(self.admin_url + "/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def stderr_text(self):
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def stdout_text(self):
        return self.stdout_path.read_text(errors="replace")

    def access_log(self):
        """Parsed JSON lines of the access log (flushed by sluice every 100 ms)."""
        return [json.loads(line) for line in self.stdout_text().splitlines() if line.startswith("{")]

    access_log_lines = access_log

    def assert_running(self):
        """Fails with sluice's stderr if the process is gone."""
        if self.proc.poll() is not None:
            raise AssertionError(f"sluice exited early with {self.proc.returncode}; stderr:\n{self.stderr_text()}")

    def metrics_text(self):
        r = requests.get(self.admin_url + "/metrics", timeout=5)
        assert r.status_code == 200, r.status_code
        return r.text

    def metrics(self):
        """Prometheus text parsed into {(name, frozenset(labels.items())): value}."""
        return parse_prometheus(self.metrics_text())

    def metric(self, name, **labels):
        return self.metrics().get((name, frozenset(labels.items())), 0.0)

    def stop(self, sig=signal.SIGTERM, timeout=40):
        """Sends `sig` (if still running), waits up to `timeout` s, then SIGKILL; returns the exit code."""
        if self.proc.poll() is None:
            self.stopped_by_harness = True
        code = stop_process(self.proc, sig, timeout)
        self._stdout.close()
        self._stderr.close()
        return code

    def assert_sanitizers_clean(self):
        text = self.stderr_text()
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer"):
            assert marker not in text, f"sanitizer report in sluice's stderr:\n{text}"


ERROR_KEYS = {"status", "code", "message", "route", "request_id"}
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class RawResponse:
    """An HTTP/1.1 response read off a raw socket, shaped enough like requests.Response for
    assert_json_error (status_code, headers with lower-case names, text, json())."""

    def __init__(self, data):
        head, sep, body = data.partition(b"\r\n\r\n")
        assert sep, f"no complete response head in {data[:300]!r}"
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        assert parts[0].startswith("HTTP/1."), lines[0]
        self.status_code = int(parts[1])
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        if "content-length" in self.headers:
            body = body[: int(self.headers["content-length"])]
        self.content = body
        self.text = body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.content)


def assert_json_error(response, status, code, route="any", forbid=()):
    """Checks the shape of every answer sluice makes itself: Content-Type application/json and
    exactly {"error": {"status", "code", "message", "route", "request_id"}}, the request id being
    the one returned in X-Request-Id; never a traceback nor any string of `forbid` (addresses).
    `route="any"` skips the route check; `route=None` expects no route (null). Returns the inner
    object."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    ctype = response.headers.get("content-type", "")
    assert ctype.split(";")[0].strip() == "application/json", (ctype, response.text[:300])
    doc = response.json()
    assert set(doc) == {"error"}, doc
    body = doc["error"]
    assert set(body) == ERROR_KEYS, body
    assert body["status"] == status and type(body["status"]) is int, body
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    if route != "any":
        assert body["route"] == route, body
    rid = response.headers.get("x-request-id")
    assert rid and REQUEST_ID.match(rid), response.headers
    assert body["request_id"] == rid, (body, rid)
    for bad in ("Traceback",) + tuple(forbid):
        assert bad not in response.text, f"{bad!r} leaked in {response.text!r}"
    return body


def raw_request(port, data, read_timeout=5.0):
    """Sends raw bytes and returns everything read until the server closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as s:
        s.sendall(data)
        return read_all(s)


def read_head(sock):
    """Reads off a socket up to the end of a response head: (head, the bytes read after it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        assert piece, data
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def read_all(sock):
    """Reads until EOF, a reset, or the socket's timeout; returns the bytes read."""
    chunks = []
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except (socket.timeout, ConnectionResetError):
        pass
    return b"".join(chunks)


def parse_prometheus(text):
    """Prometheus text format -> {(name, frozenset(labels.items())): value}."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = PROM_LINE.match(line)
        assert m, f"unparsable metrics line: {line!r}"
        labels = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in PROM_LABEL.findall(m.group(2) or "")}
        out[(m.group(1), frozenset(labels.items()))] = float(m.group(3))
    return out


PROM_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
PROM_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def loadgen(port, path, seconds, connections=1, rate=None, headers=(), interval=None):
    """Starts bench/loadgen on `path` (closed loop, or `rate` requests a second, open loop; each
    of `headers` a "Name: value" string); .wait() gives its key=value summary as a dict, and with
    `interval` also .series: one dict per interval (t, ok, shed, ok_p50_ms, ok_p99_ms)."""
    argv = [LOADGEN, "-c", str(connections), "-d", str(seconds), "-p", path]
    argv += ["-r", str(rate)] if rate else []
    argv += ["-i", str(interval)] if interval else []
    for h in headers:
        argv += ["-H", h]
    proc = subprocess.Popen(argv + [f"127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    class Run:
        series = []

        def wait(self):
            out, err = proc.communicate(timeout=seconds + 30)
            assert proc.returncode == 0, err
            lines = out.splitlines()
            self.series = [{k: float(v) for k, v in (kv.split("=", 1) for kv in line.split()[1:])}
                           for line in lines if line.startswith("series ")]
            return {k: float(v) for k, v in (kv.split("=", 1) for kv in lines[-1].split())}

    return Run()


if __name__ == "__main__":
    sys.exit("this module is imported by the tests")
