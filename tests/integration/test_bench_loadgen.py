"""bench/loadgen, the overload scenario's load generator, counted against what sluice and the
backend saw: its figures go into bench/RESULTS.md, so they must be right."""
import pathlib
import socket
import subprocess

from harness import SLUICE_BIN, policy, wait_until

LOADGEN = str(pathlib.Path(SLUICE_BIN).parent.parent / "bench" / "loadgen")


def run_loadgen(*args):
    out = subprocess.run([LOADGEN, *args], capture_output=True, text=True, timeout=60)
    return out.returncode, out.stdout, out.stderr


def test_loadgen_counts_match_sluice_and_the_backend(tornado_backend, start_sluice):
    tornado_backend.reset()
    s = start_sluice(
        policy(route="    concurrency: {limit: 4, queue: {size: 4, timeout: 2s}}\n"),
        upstream=tornado_backend.address,
    )
    code, out, err = run_loadgen("-c", "32", "-d", "2", "-p", "/slow?ms=50", f"127.0.0.1:{s.port}")
    assert code == 0, err
    kv = {k: float(v) for k, v in (pair.split("=") for pair in out.split())}
    assert kv["errors"] == 0 and kv["other"] == 0, out
    assert kv["requests"] == kv["ok"] + kv["shed"], out
    assert kv["ok"] > 0 and kv["shed"] > 0, out  # 32 connections against 4 slots + 4 places
    assert 1.9 <= kv["seconds"] <= 5, out
    # an admitted request waits for the backend's 50 ms: no latency below that is possible
    assert 50 <= kv["ok_p50_ms"] <= kv["ok_p99_ms"], out

    # sluice counted the same responses, plus at most the 32 in flight when loadgen stopped
    wait_until(lambda: s.metric("sluice_in_flight", route="api") == 0, timeout=10, what="sluice idle")
    ok = s.metric("sluice_requests_total", route="api", code="200")
    shed = s.metric("sluice_requests_total", route="api", code="503")
    assert kv["ok"] <= ok <= kv["ok"] + 32, (out, ok)
    assert kv["shed"] <= shed <= kv["shed"] + 32, (out, shed)
    assert tornado_backend.stats()["max_in_flight"] <= 4


def test_loadgen_rejects_bad_arguments_and_reports_refused_connections():
    for args in (["127.0.0.1"], ["-c", "0", "127.0.0.1:1"], ["localhost:80"], ["127.0.0.1:70000"], []):
        code, _, err = run_loadgen(*args)
        assert code == 2 and "usage" in err, (args, err)
    code, _, err = run_loadgen("-p", "/" + "a" * 2000, "127.0.0.1:1")
    assert code == 2 and "too long" in err, err
    # nothing listens on the port: every connection fails and is counted, nothing crashes
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        code, out, err = run_loadgen("-c", "2", "-d", "1", f"127.0.0.1:{port}")
    assert code == 0, err
    kv = dict(pair.split("=") for pair in out.split())
    assert kv["requests"] == "0" and int(kv["errors"]) > 0, out


def test_loadgen_open_loop_rate_series_and_headers(tornado_backend, start_sluice, tmp_path):
    """-r sends at the rate whatever the answers, -i splits the responses by interval, -o writes
    each response, -H adds a header (here: the only way to the route; without it, 404)."""
    s = start_sluice(
        policy(route="    match: {headers: {x-bench: yes}}\n    concurrency: {limit: 2, queue: {size: 2, timeout: 2s}}\n"),
        upstream=tornado_backend.address,
    )
    each = tmp_path / "responses"
    code, out, err = run_loadgen("-c", "32", "-d", "2", "-r", "200", "-i", "0.5", "-H", "X-Bench: yes", "-p", "/slow?ms=50",
                                 "-o", str(each), f"127.0.0.1:{s.port}")
    assert code == 0, err
    lines = out.splitlines()
    series = [dict(pair.split("=") for pair in line.split()[1:]) for line in lines if line.startswith("series ")]
    kv = {k: float(v) for k, v in (pair.split("=") for pair in lines[-1].split())}
    # 200/s for 2 s, whatever sluice answers (most are shed: 2 slots of 50 ms serve 40/s)
    assert 360 <= kv["requests"] + kv["unsent"] <= 402, out
    assert kv["unsent"] <= 10 and kv["errors"] == 0 and kv["other"] == 0, out
    assert 40 <= kv["ok"] <= 100 and kv["shed"] >= 200, out
    assert [float(row["t"]) for row in series] == [0.5, 1.0, 1.5, 2.0], out
    assert sum(int(row["ok"]) for row in series) == kv["ok"] and sum(int(row["shed"]) for row in series) == kv["shed"], out
    assert all(50 <= float(row["ok_p50_ms"]) <= float(row["ok_p99_ms"]) for row in series if int(row["ok"])), out
    rows = [line.split() for line in each.read_text().splitlines()]
    assert len(rows) == kv["requests"], (len(rows), out)
    assert sum(r[2] == "o" for r in rows) == kv["ok"] and sum(r[2] == "s" for r in rows) == kv["shed"], out
    assert all(0 <= int(r[0]) <= 2100 for r in rows) and all(int(r[1]) >= 50000 for r in rows if r[2] == "o"), rows[:5]
    # without the header: no route
    code, out, err = run_loadgen("-c", "4", "-d", "0.5", "-r", "40", f"127.0.0.1:{s.port}")
    kv = {k: float(v) for k, v in (pair.split("=") for pair in out.split())}
    assert code == 0 and kv["ok"] == 0 and kv["other"] >= 15, out
    for bad in (["-H", "no colon"], ["-H", "X: a\r\nY: b"], ["-r", "-1"]):
        code, _, err = run_loadgen(*bad, "127.0.0.1:1")
        assert code == 2 and "usage" in err, (bad, err)
