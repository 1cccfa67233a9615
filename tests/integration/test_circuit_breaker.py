"""circuit_breaker against the real Tornado and FastAPI apps: consecutive failures (5xx,
timeouts) open it, and then requests get 503 circuit_open with Retry-After without reaching the
app; after open_for one trial decides; a client that hangs up is not the app's failure; per-key
breakers are independent; failure_rate opens it on a share of failures; a reload that keeps the
settings keeps the state; /limits, sluice_circuit_state and the log say what it is."""
import signal
import socket
import time

import requests

from harness import assert_json_error, policy, wait_until


def breaker(extra="", timeout="5s"):
    return policy(f"    circuit_breaker: {{failures: 3, open_for: 1s, half_open: 1{extra}}}\n", timeout=timeout)


def state(s):
    return s.metric("sluice_circuit_state", route="api")


def test_failures_open_it_and_a_trial_closes_it(backend, start_sluice):
    s = start_sluice(breaker(), upstream=backend.address)
    for _ in range(2):
        assert requests.get(s.url + "/status/500", timeout=5).status_code == 500
    assert requests.get(s.url + "/hello", timeout=5).status_code == 200  # a success in between
    for _ in range(3):
        assert requests.get(s.url + "/status/503", timeout=5).status_code == 503
    seen = backend.stats()["requests"]
    r = requests.get(s.url + "/hello", timeout=5)
    assert_json_error(r, 503, "circuit_open", route="api")
    assert r.headers["retry-after"] == "1"
    assert backend.stats()["requests"] == seen  # the app was spared
    assert state(s) == 1
    limits = requests.get(s.admin_url + "/limits", timeout=5).json()["routes"][0]
    assert limits["circuit_breaker"]["state"] == "open", limits
    assert "circuit opened after 3 failures in a row" in s.stderr_text()
    assert s.metric("sluice_admission_total", route="api", decision="circuit_open") == 1
    # after open_for: one trial; it succeeds and the circuit closes
    time.sleep(1.1)
    assert state(s) == 2
    assert requests.get(s.url + "/hello", timeout=5).status_code == 200
    assert state(s) == 0
    assert requests.get(s.url + "/hello", timeout=5).status_code == 200


def test_a_failed_trial_opens_it_again_and_timeouts_count(backend, start_sluice):
    s = start_sluice(breaker(timeout="400ms"), upstream=backend.address)
    for _ in range(3):
        assert requests.get(s.url + "/slow?ms=2000", timeout=5).status_code == 504  # the route's deadline
    assert_json_error(requests.get(s.url + "/hello", timeout=5), 503, "circuit_open", route="api")
    time.sleep(1.1)
    assert requests.get(s.url + "/status/502", timeout=5).status_code == 502  # the trial fails
    assert_json_error(requests.get(s.url + "/hello", timeout=5), 503, "circuit_open", route="api")
    assert "circuit opened again" in s.stderr_text()


def test_clients_that_hang_up_are_not_failures(backend, start_sluice):
    s = start_sluice(breaker(), upstream=backend.address)
    for _ in range(5):
        c = socket.create_connection(("127.0.0.1", s.port))
        c.sendall(b"GET /slow?ms=2000 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        c.close()
    wait_until(lambda: s.metric("sluice_in_flight", route="api") == 0, timeout=5, what="in_flight 0")
    assert requests.get(s.url + "/hello", timeout=5).status_code == 200
    assert state(s) == 0


def test_per_key_breakers_are_independent(backend, start_sluice):
    s = start_sluice(breaker(', per: "header:X-User"'), upstream=backend.address)
    for _ in range(3):
        requests.get(s.url + "/status/500", headers={"X-User": "a"}, timeout=5)
    assert_json_error(requests.get(s.url + "/hello", headers={"X-User": "a"}, timeout=5), 503, "circuit_open", route="api")
    assert requests.get(s.url + "/hello", headers={"X-User": "b"}, timeout=5).status_code == 200
    assert requests.get(s.url + "/hello", timeout=5).status_code == 200  # no header: the _missing key
    assert state(s) == 1
    cb = requests.get(s.admin_url + "/limits", timeout=5).json()["routes"][0]["circuit_breaker"]
    assert cb["per"] == "header:X-User" and cb["keys_not_closed"] == 1, cb


def test_failure_rate_opens_it(backend, start_sluice):
    s = start_sluice(policy("    circuit_breaker: {failures: 1000, open_for: 5s, failure_rate: 50, window: 10s, min_requests: 6}\n"),
                     upstream=backend.address)
    for path in ["/hello", "/status/500", "/hello", "/status/500", "/hello"]:
        requests.get(s.url + path, timeout=5)
    assert state(s) == 0  # 2 of 5: under min_requests
    requests.get(s.url + "/status/500", timeout=5)  # 3 of 6: 50%
    assert_json_error(requests.get(s.url + "/hello", timeout=5), 503, "circuit_open", route="api")
    assert "failures reached 50% of requests" in s.stderr_text()


def test_a_reload_with_the_same_settings_keeps_it_open(backend, start_sluice):
    s = start_sluice(policy("    circuit_breaker: {failures: 2, open_for: 30s}\n"), upstream=backend.address)
    for _ in range(2):
        requests.get(s.url + "/status/500", timeout=5)
    assert state(s) == 1
    count = s.stderr_text().count("reloaded")
    s.config.write_text(s.config.read_text() + "# touched\n")
    s.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: s.stderr_text().count("reloaded") > count, timeout=5, what="the reload")
    assert_json_error(requests.get(s.url + "/hello", timeout=5), 503, "circuit_open", route="api")
