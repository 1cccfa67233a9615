"""A real redis-server for the integration tests: on a free 127.0.0.1 port, no persistence,
optionally with a password; killed, restarted (on the same port) and stopped by its own pid."""
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


class RedisServer:
    """redis-server --save "" --appendonly no --port P --bind 127.0.0.1 [--requirepass X].

    `debug_commands` adds `--enable-debug-command local` (Redis 7 refuses DEBUG otherwise), so a
    test can freeze the server with `cli("DEBUG", "SLEEP", "2")`."""

    def __init__(self, password=None, port=None, debug_commands=True, start_timeout=10.0):
        self.password = password
        self.port = port or free_port()
        self.debug_commands = debug_commands
        self.start_timeout = start_timeout
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="sluice-redis-"))
        self.log_path = self.dir / "redis.log"
        self.proc = None
        self._log = None
        self.start()

    @property
    def address(self):
        """The value for sluice's `redis.address`."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def args(self):
        args = [REDIS_SERVER, "--save", "", "--appendonly", "no", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.dir)]
        if self.debug_commands:
            args += ["--enable-debug-command", "local"]
        if self.password is not None:
            args += ["--requirepass", self.password]
        return args

    def start(self, timeout=None):
        """Starts redis-server (on self.port) and waits until it answers PING."""
        assert self.proc is None or self.proc.poll() is not None, "redis-server already running"
        timeout = self.start_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        self.dir.mkdir(parents=True, exist_ok=True)
        while True:
            if self._log is not None:
                self._log.close()
            self._log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(self.args(), stdout=self._log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break  # exited: e.g. the port is still held; try again until the deadline
                if self.ping():
                    return self
                time.sleep(0.02)
            else:
                self._kill_proc()
                raise AssertionError(f"redis-server on port {self.port} did not answer PING in {timeout}s:\n{self.log_text()}")
            if time.monotonic() >= deadline:
                raise AssertionError(f"redis-server on port {self.port} exited with {self.proc.returncode}:\n{self.log_text()}")
            time.sleep(0.1)

    def log_text(self):
        if self._log is not None and not self._log.closed:
            self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def ping(self, timeout=0.5):
        """True if the server answers PING (speaking RESP on a raw socket, AUTH first if needed)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
                payload = b""
                if self.password is not None:
                    payload += resp_command("AUTH", self.password)
                payload += resp_command("PING")
                s.sendall(payload)
                data = b""
                want = 2 if self.password is not None else 1
                while data.count(b"\r\n") < want:
                    chunk = s.recv(4096)
                    if not chunk:
                        return False
                    data += chunk
                return data.endswith(b"+PONG\r\n")
        except OSError:
            return False

    def cli(self, *args, timeout=10):
        """Runs `redis-cli -h 127.0.0.1 -p P [-a X] ARGS...`; returns its stdout (str)."""
        cmd = [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.port)]
        if self.password is not None:
            cmd += ["-a", self.password, "--no-auth-warning"]
        cmd += [str(a) for a in args]
        out = subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        return out.stdout.decode(errors="replace")

    def cli_background(self, *args):
        """Starts redis-cli ARGS... without waiting (e.g. DEBUG SLEEP); returns the Popen."""
        cmd = [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.port)]
        if self.password is not None:
            cmd += ["-a", self.password, "--no-auth-warning"]
        cmd += [str(a) for a in args]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)

    def keys(self, pattern="*"):
        """All key names matching `pattern` (SCAN, via redis-cli --scan)."""
        out = self.cli("--scan", "--pattern", pattern)
        return sorted(line for line in out.splitlines() if line)

    def time_ms(self):
        """The Redis server's clock, in milliseconds (TIME)."""
        sec, usec = self.cli("TIME").split()
        return int(sec) * 1000 + int(usec) // 1000

    def commandstats(self):
        """INFO commandstats as {command: calls}."""
        out = {}
        for line in self.cli("INFO", "commandstats").splitlines():
            line = line.strip()
            if not line.startswith("cmdstat_"):
                continue
            name, _, rest = line.partition(":")
            fields = dict(kv.split("=", 1) for kv in rest.split(",") if "=" in kv)
            out[name[len("cmdstat_"):]] = int(fields.get("calls", 0))
        return out

    def _kill_proc(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def kill(self):
        """SIGKILL (own pid only); waits for it to be gone."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def restart(self, timeout=None):
        """Starts again on the same port (after kill() or stop())."""
        if self.running():
            self.kill()
        return self.start(timeout)

    def stop(self):
        """SIGTERM, then SIGKILL if it lingers; own pid only."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self._kill_proc()
        if self._log is not None:
            self._log.close()
            self._log = None
        shutil.rmtree(self.dir, ignore_errors=True)


def resp_command(*args):
    """One command in RESP (an array of bulk strings)."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out
