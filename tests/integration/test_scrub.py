"""errors.scrub_tracebacks against the real Tornado (serve_traceback) and FastAPI apps: an
error answer whose body shows a stack trace is replaced by sluice's JSON error with the status
kept, 4xx included; error pages without one, large ones and successes pass unchanged; the
setting can be turned off per route."""
import requests

from harness import assert_json_error, policy

SECRETS = ("Traceback", "backend exploded", "app.py")


def test_a_traceback_in_a_4xx_or_5xx_is_withheld(backend, start_sluice):
    # hide_upstream_5xx off: what withholds the 5xx here is the traceback in it
    s = start_sluice(policy(top="errors: {hide_upstream_5xx: false}\n"), upstream=backend.address)
    for status in (400, 403, 422, 500, 502):
        r = requests.get(s.url + f"/fail?status={status}", timeout=5)
        body = assert_json_error(r, status, "upstream_error", route="api", forbid=SECRETS)
        assert "stack trace" in body["message"], body
    # the connection to the app stays usable: a normal request right after
    assert requests.get(s.url + "/hello", timeout=5).text == "hello\n"


def test_error_pages_without_a_traceback_pass_unchanged(backend, start_sluice):
    s = start_sluice(policy(top="errors: {hide_upstream_5xx: false}\n"), upstream=backend.address)
    r = requests.get(s.url + "/status/404", timeout=5)
    assert r.status_code == 404 and r.text == "status 404\n"
    # larger than what is held to look at: passed on whole, byte for byte
    r = requests.get(s.url + "/status/409?pad=300000", timeout=10)
    assert r.status_code == 409 and r.text == "status 409\n" + "z" * 300000
    r = requests.get(s.url + "/status/503?pad=65525", timeout=10)  # exactly what is held, and one more
    assert r.status_code == 503 and len(r.text) == len("status 503\n") + 65525
    assert requests.get(s.url + "/hello", timeout=5).text == "hello\n"


def test_scrubbing_can_be_turned_off_for_a_route(backend, start_sluice):
    s = start_sluice(policy(route="    errors: {scrub_tracebacks: false}\n", top="errors: {hide_upstream_5xx: false}\n"),
                     upstream=backend.address)
    r = requests.get(s.url + "/fail?status=400", timeout=5)
    assert r.status_code == 400 and "Traceback (most recent call last)" in r.text
