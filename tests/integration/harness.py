"""Processes for the integration tests: real backends (Tornado, FastAPI/uvicorn), real sluice,
real redis-server, on free loopback ports, each stopped by its pid."""
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests

REPO = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
SLUICE_BIN = os.environ.get("SLUICE_BIN", str(REPO / "build" / "gateway" / "sluice"))
PYTHON = "/usr/bin/python3"


HEAD = "listen: {listen}\nadmin: {admin}\ndrain_delay: 0ms\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        return f"unix:{self.uds}" if self.uds else f"127.0.0.1:{self.port}"

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

    def reset(self):
        if self.uds:
            subprocess.run(["curl", "-s", "-XPOST", "--unix-socket", self.uds, "http://x/stats/reset"], capture_output=True, timeout=5)
        else:
            self.session.post(f"http://127.0.0.1:{self.port}/stats/reset", timeout=5)

    def stop(self):
        stop_process(self.proc)
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
        wait_until(self._ready, timeout=15, what="sluice /healthz")

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

    def access_log(self):
        """Parsed JSON lines of the access log (flushed by sluice every 100 ms)."""
        self._stdout.flush()
        return [json.loads(line) for line in self.stdout_path.read_text().splitlines() if line.startswith("{")]

    def metrics(self):
        """Prometheus text parsed into {(name, frozenset(labels.items())): value}."""
        text = requests.get(self.admin_url + "/metrics", timeout=5).text
        out = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            name_labels, value = line.rsplit(" ", 1)
            labels = {}
            if "{" in name_labels:
                name, rest = name_labels.split("{", 1)
                for part in rest.rstrip("}").split('",'):
                    if part:
                        k, v = part.split("=", 1)
                        labels[k] = v.strip('"')
            else:
                name = name_labels
            out[(name, frozenset(labels.items()))] = float(value)
        return out

    def metric(self, name, **labels):
        return self.metrics().get((name, frozenset(labels.items())), 0.0)

    def stop(self, sig=signal.SIGTERM, timeout=40):
        code = stop_process(self.proc, sig, timeout)
        self._stdout.close()
        self._stderr.close()
        return code

    def assert_sanitizers_clean(self):
        text = self.stderr_text()
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer"):
            assert marker not in text, f"sanitizer report in sluice's stderr:\n{text}"


def assert_json_error(response, status, code, route="any"):
    """Every answer sluice makes itself is its JSON error, with the request id it returns."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()["error"]
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["message"]
    assert "Traceback" not in response.text
    if route != "any":
        assert body["route"] == route
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def raw_request(port, data, read_timeout=5.0):
    """Sends raw bytes and returns everything read until the server closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except socket.timeout:
            pass
        return b"".join(chunks)


if __name__ == "__main__":
    sys.exit("this module is imported by the tests")
