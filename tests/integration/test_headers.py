"""Headers sluice adds, keeps and removes on the way to the backend: X-Request-Id (the client's
when well-formed, else a fresh one, always returned), X-Forwarded-For/-Proto/-Host,
X-Request-Timeout-Ms, and hop-by-hop headers (only those) dropped."""
import re

import requests

from harness import REQUEST_ID, assert_json_error, policy


def seen_by_backend(s, headers=None):
    r = requests.get(s.url + "/headers", headers=headers or {})
    assert r.status_code == 200, r.text[:300]
    return r, r.json()


def test_well_formed_request_id_is_passed_on_and_returned(backend, start_sluice):
    s = start_sluice(policy(), upstream=backend.address)
    for rid in ("abc-123.X_y", "a", "Z" * 128, "0f8fad5b-d9cb-469f-a165-70867728950e"):
        r, seen = seen_by_backend(s, {"X-Request-Id": rid})
        assert r.headers["x-request-id"] == rid
        assert seen["x-request-id"] == rid
    # returned with any upstream status, and on sluice's own answers
    r = requests.get(s.url + "/no-such-endpoint", headers={"X-Request-Id": "mine-1"})
    assert r.status_code == 404 and r.headers["x-request-id"] == "mine-1"  # the backend's own 404
    s2 = start_sluice(policy(), upstream="127.0.0.1:1")
    r = requests.get(s2.url + "/hello", headers={"X-Request-Id": "mine-2"})
    assert assert_json_error(r, 502, "upstream_unavailable")["request_id"] == "mine-2"


def test_malformed_or_missing_request_id_is_replaced_by_a_fresh_one(backend, start_sluice):
    s = start_sluice(policy(), upstream=backend.address)
    fresh_ids = []
    for bad in ("has space", "x" * 129, "x" * 300, 'quote"d', "semi;colon", "é-accent", None):
        headers = {} if bad is None else {"X-Request-Id": bad.encode("utf-8")}
        r, seen = seen_by_backend(s, headers)
        fresh = r.headers["x-request-id"]
        assert fresh != bad and REQUEST_ID.match(fresh), (bad, fresh)
        assert seen["x-request-id"] == fresh, (bad, seen.get("x-request-id"))
        fresh_ids.append(fresh)
    assert len(set(fresh_ids)) == len(fresh_ids), fresh_ids


def test_forwarded_headers(backend, start_sluice):
    s = start_sluice(policy(timeout="5s"), upstream=backend.address)
    _, seen = seen_by_backend(s)
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == f"127.0.0.1:{s.port}"
    assert 0 < int(seen["x-request-timeout-ms"]) <= 5000

    _, seen = seen_by_backend(s, {"X-Forwarded-For": "203.0.113.7, 198.51.100.2", "Host": "shop.example.com",
                                  "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"})
    assert seen["x-forwarded-for"] == "203.0.113.7, 198.51.100.2, 127.0.0.1"  # appended
    assert seen["x-forwarded-host"] == "shop.example.com"
    assert seen["x-forwarded-proto"] == "http"  # what sluice saw, not what the client claims


def test_request_timeout_ms_is_the_budget_left(backend, start_sluice):
    s = start_sluice(policy(timeout="1500ms"), upstream=backend.address)
    _, seen = seen_by_backend(s)
    assert re.fullmatch(r"\d+", seen["x-request-timeout-ms"]), seen["x-request-timeout-ms"]
    assert 500 < int(seen["x-request-timeout-ms"]) <= 1500
    _, seen = seen_by_backend(s, {"X-Request-Timeout-Ms": "999999"})  # a client cannot raise it
    assert int(seen["x-request-timeout-ms"]) <= 1500


def test_hop_by_hop_headers_are_dropped_and_end_to_end_ones_kept(backend, start_sluice):
    s = start_sluice(policy(), upstream=backend.address)
    _, seen = seen_by_backend(s, {
        "Connection": "keep-alive, X-Secret, X-Other-Secret",
        "X-Secret": "drop-me",
        "X-Other-Secret": "drop-me-too",
        "Keep-Alive": "timeout=5",
        "Proxy-Authorization": "Basic Zm9v",
        "Proxy-Connection": "keep-alive",
        "TE": "trailers",
        "Trailer": "X-Checksum",
        # kept: end to end
        "Authorization": "Bearer tok",
        "Cookie": "session=abc",
        "User-Agent": "sluice-tests/1",
        "Accept": "application/json",
        "X-Kept": "yes",
    })
    for hop in ("x-secret", "x-other-secret", "keep-alive", "proxy-authorization", "proxy-connection", "te", "trailer"):
        assert hop not in seen, (hop, seen)
    assert seen.get("connection", "keep-alive").lower() in ("keep-alive", "close"), seen  # sluice's own, if any
    assert seen["authorization"] == "Bearer tok"
    assert seen["cookie"] == "session=abc"
    assert seen["user-agent"] == "sluice-tests/1"
    assert seen["accept"] == "application/json"
    assert seen["x-kept"] == "yes"


def test_upgrade_header_is_not_forwarded(backend, start_sluice):
    s = start_sluice(policy(), upstream=backend.address)
    r = requests.get(s.url + "/headers", headers={"Upgrade": "foo/1", "X-Kept": "yes"})
    assert r.status_code == 200, r.text[:300]
    seen = r.json()
    assert "upgrade" not in seen, seen
    assert seen["x-kept"] == "yes"
