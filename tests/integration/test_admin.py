"""The admin API (own listener): health, readiness, Prometheus metrics with the names DESIGN.md
fixes, the effective config with secrets redacted, live limits; and the JSON access log on
stdout, one line per request."""
import json
import os
import pathlib
import re
import socket
import subprocess
import time

import requests

from harness import HEAD, SLUICE_BIN, esc, free_port, loadgen, parse_prometheus, policy, wait_until


def series(metrics, name, **labels):
    """All (labels dict, value) of `name` whose labels include `labels`."""
    want = set(labels.items())
    return [(dict(ls), v) for (n, ls), v in metrics.items() if n == name and want <= set(ls)]


def test_health_readiness_and_unknown_admin_paths(start_sluice):
    s = start_sluice(policy(), upstream="127.0.0.1:1")
    assert requests.get(s.admin_url + "/healthz").status_code == 200
    assert requests.get(s.admin_url + "/readyz").status_code == 200
    assert requests.get(s.admin_url + "/no-such-admin-path").status_code == 404
    limits = requests.get(s.admin_url + "/limits")
    assert limits.status_code == 200 and limits.headers["content-type"].startswith("application/json")
    assert limits.json()["routes"][0]["route"] == "api"


def test_request_counts_and_upstream_duration_histogram(backend, start_sluice):
    s = start_sluice(policy(), upstream=backend.address)
    for _ in range(7):
        assert requests.get(s.url + "/hello").status_code == 200
    for _ in range(3):
        assert requests.get(s.url + "/status/418").status_code == 418
    r = requests.get(s.admin_url + "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain"), r.headers
    m = parse_prometheus(r.text)
    # sluice's own families, and the standard process_* ones (same names as every Prometheus client)
    assert all(name.startswith(("sluice_", "process_")) for name, _ in m), sorted(
        {n for n, _ in m if not n.startswith(("sluice_", "process_"))})
    assert m[("sluice_requests_total", frozenset({"route": "api", "code": "200"}.items()))] == 7
    assert m[("sluice_requests_total", frozenset({"route": "api", "code": "418"}.items()))] == 3
    assert s.metric("sluice_admission_total", route="api", decision="admitted") == 10
    assert s.metric("sluice_in_flight", route="api") == 0

    assert "# TYPE sluice_upstream_duration_seconds histogram" in r.text
    buckets = series(m, "sluice_upstream_duration_seconds_bucket", route="api")
    les = sorted(buckets, key=lambda b: float(b[0]["le"]))
    assert len(les) >= 5 and les[-1][0]["le"] == "+Inf", les
    counts = [v for _, v in les]
    assert counts == sorted(counts), f"buckets not cumulative: {les}"
    assert counts[-1] == 10
    assert s.metric("sluice_upstream_duration_seconds_count", route="api") == 10
    total = s.metric("sluice_upstream_duration_seconds_sum", route="api")
    assert 0 < total < 10, total


def test_upstream_errors_are_counted_by_kind(start_sluice):
    port = free_port()
    s = start_sluice(policy(), upstream=f"127.0.0.1:{port}")
    for _ in range(4):
        assert requests.get(s.url + "/hello").status_code == 502
    m = s.metrics()
    errors = series(m, "sluice_upstream_errors_total", route="api")
    assert sum(v for _, v in errors) == 4, errors
    assert all("kind" in labels for labels, _ in errors), errors
    assert s.metric("sluice_requests_total", route="api", code="502") == 4


def test_metric_names_of_design_md_are_exported(backend, start_sluice):
    """The local (non-Redis) metric families of DESIGN.md, each with its TYPE line."""
    s = start_sluice(policy(route="    concurrency: {limit: 2, queue: {size: 2, timeout: 1s}}\n"), upstream=backend.address)
    requests.get(s.url + "/hello")
    text = requests.get(s.admin_url + "/metrics").text
    for name, kind in (("sluice_requests_total", "counter"), ("sluice_admission_total", "counter"),
                       ("sluice_in_flight", "gauge"), ("sluice_queue_depth", "gauge"),
                       ("sluice_queue_wait_seconds", "histogram"), ("sluice_upstream_duration_seconds", "histogram"),
                       ("sluice_upstream_errors_total", "counter"), ("sluice_config_reloads_total", "counter"),
                       ("sluice_request_duration_seconds", "histogram"), ("sluice_websocket_connections", "gauge"),
                       ("sluice_aborted_in_flight", "gauge"), ("sluice_build_info", "gauge"),
                       ("process_resident_memory_bytes", "gauge"), ("process_virtual_memory_bytes", "gauge"),
                       ("process_cpu_seconds_total", "counter"), ("process_open_fds", "gauge"),
                       ("process_max_fds", "gauge"), ("process_start_time_seconds", "gauge")):
        assert re.search(rf"^# TYPE {name} {kind}$", text, re.M), f"{name} ({kind}) missing from /metrics"


def proc_status_kib(pid, field):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def test_build_info_and_process_metrics_describe_the_sluice_process(start_sluice):
    started = time.time()
    s = start_sluice(policy())
    version = subprocess.run([SLUICE_BIN, "--version"], capture_output=True, text=True).stdout.split()[1]
    m = s.metrics()
    assert m[("sluice_build_info", frozenset({"version": version}.items()))] == 1
    rss = s.metric("process_resident_memory_bytes")
    vm_rss = proc_status_kib(s.pid, "VmRSS") * 1024
    assert 0.5 * vm_rss < rss < 2 * vm_rss, (rss, vm_rss)
    vm_size = proc_status_kib(s.pid, "VmSize") * 1024  # the scrape's own buffers may come and go
    assert abs(s.metric("process_virtual_memory_bytes") - vm_size) < 4 << 20, (s.metric("process_virtual_memory_bytes"), vm_size)
    assert started - 2 <= s.metric("process_start_time_seconds") <= time.time() + 1
    soft = int(next(line for line in pathlib.Path(f"/proc/{s.pid}/limits").read_text().splitlines()
                    if line.startswith("Max open files")).split()[3])
    assert s.metric("process_max_fds") == soft
    # each open client connection is one more descriptor in sluice
    fds = len(os.listdir(f"/proc/{s.pid}/fd"))
    assert abs(s.metric("process_open_fds") - fds) <= 1, (s.metric("process_open_fds"), fds)
    conns = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(5)]
    try:
        wait_until(lambda: s.metric("process_open_fds") >= fds + 5, timeout=5, what="5 more open fds")
    finally:
        for c in conns:
            c.close()
    cpu_before = s.metric("process_cpu_seconds_total")
    assert cpu_before >= 0
    run = loadgen(s.port, "/hello", 1.0, connections=4)
    run.wait()
    cpu_after = s.metric("process_cpu_seconds_total")
    assert cpu_before < cpu_after < cpu_before + 2.5, (cpu_before, cpu_after)


def test_request_duration_runs_to_the_last_byte_sent(backend, start_sluice):
    """sluice_request_duration_seconds: arrival to the response's last byte, so a response whose
    head comes at once and whose body stalls counts its whole life, unlike the upstream's
    duration (to the head)."""
    s = start_sluice(policy(), upstream=backend.address)
    r = requests.get(s.url + "/big?mb=1&stall_ms=700")
    assert r.status_code == 200 and len(r.content) == 1 << 20
    assert requests.get(s.url + "/hello").status_code == 200
    assert s.metric("sluice_request_duration_seconds_count", route="api") == 2
    total = s.metric("sluice_request_duration_seconds_sum", route="api")
    assert 0.7 <= total < 5, total
    assert s.metric("sluice_upstream_duration_seconds_sum", route="api") < 0.5
    # the stalled one is above 0.5 s, the other below
    assert s.metric("sluice_request_duration_seconds_bucket", route="api", le="0.5") == 1
    assert s.metric("sluice_request_duration_seconds_bucket", route="api", le="+Inf") == 2
    # requests sluice refuses itself count too (a bad one under _none)
    assert requests.get(s.url + "/a%00b").status_code == 400
    assert s.metric("sluice_request_duration_seconds_count", route="_none") == 1


def test_config_is_json_with_routes_and_redacted_secrets(backend, start_sluice):
    secret = "s3cr3t-value-xyz"
    text = HEAD + esc("""
redis: {address: 127.0.0.1:6399, password: "${SLUICE_TEST_REDIS_PASSWORD}"}
upstreams:
  app: {address: "@UP@", read_timeout: 7s}
routes:
  - {name: first, match: {path_prefix: /a}, upstream: app, timeout: 3s}
  - {name: second, upstream: app}
""").replace("@UP@", "{upstream}")
    s = start_sluice(text, upstream=backend.address, env={"SLUICE_TEST_REDIS_PASSWORD": secret})
    r = requests.get(s.admin_url + "/config")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    config = r.json()
    assert [route["name"] for route in config["routes"]] == ["first", "second"]
    assert config["routes"][0]["upstream"] == "app"
    assert secret not in r.text
    assert config["redis"]["password"] == "<redacted>"
    for path in ("/config", "/limits", "/metrics"):
        assert secret not in requests.get(s.admin_url + path).text
    assert secret not in s.stderr_text() and secret not in s.stdout_text()


def test_access_log_one_json_line_per_request(backend, start_sluice):
    s = start_sluice(HEAD + esc("""
upstreams:
  app: {address: "@UP@"}
routes:
  - {name: api, match: {path_prefix: /hello}, upstream: app}
  - {name: other, match: {path_prefix: /echo}, upstream: app}
""").replace("@UP@", "{upstream}"), upstream=backend.address)
    requests.get(s.url + "/hello?q=1", headers={"X-Request-Id": "log-test-1"})
    requests.post(s.url + "/echo", data=b"abc", headers={"X-Request-Id": "log-test-2"})
    requests.get(s.url + "/nowhere", headers={"X-Request-Id": "log-test-3"})
    for i in range(5):
        requests.get(s.url + "/hello", headers={"X-Request-Id": f"many-{i}"})
    lines = wait_until(lambda: len(s.access_log()) >= 8 and s.access_log(), timeout=5, what="8 access log lines")
    raw = [line for line in s.stdout_text().splitlines() if line.strip()]
    assert all(json.loads(line) for line in raw), "stdout has non-JSON lines"
    assert len(lines) == 8, lines
    by_id = {line["request_id"]: line for line in lines}
    assert len(by_id) == 8
    keys = {"ts", "request_id", "route", "method", "path", "status", "decision", "queue_ms", "upstream_ms",
            "total_ms", "client_ip", "bytes"}
    for line in lines:
        assert set(line) >= keys, keys - set(line)

    a = by_id["log-test-1"]
    assert a["route"] == "api" and a["method"] == "GET" and a["path"] == "/hello?q=1"
    assert a["status"] == 200 and a["bytes"] == 6 and a["client_ip"] == "127.0.0.1"
    assert a["decision"] == "admitted"
    assert a["total_ms"] >= a["upstream_ms"] >= 0 and a["queue_ms"] >= 0
    assert isinstance(a["ts"], str) and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", a["ts"]), a["ts"]
    b = by_id["log-test-2"]
    assert b["route"] == "other" and b["method"] == "POST" and b["status"] == 200
    c = by_id["log-test-3"]
    assert c["route"] is None and c["status"] == 404 and c["path"] == "/nowhere"
