"""Routing: the first matching route wins; `path` (exact, query excluded, dot segments
normalised) vs `path_prefix`; methods, host (port ignored, case-insensitive) and header
conditions; a request no route takes gets 404 `no_route` (route null); admin paths are never
served on the public listener."""
import requests

from harness import HEAD, assert_json_error, esc, raw_request, wait_until

ROUTING = HEAD + esc("""
upstreams:
  app: {address: "@UP@"}
routes:
  - {name: exact, match: {path: /hello}, upstream: app}
  - {name: writes, match: {path_prefix: /echo, methods: [POST]}, upstream: app}
  - {name: tenant, match: {path_prefix: /headers, headers: {x-tenant: gold}}, upstream: app}
  - {name: hosted, match: {path_prefix: /status, host: api.example.com}, upstream: app}
""").replace("@UP@", "{upstream}")


def test_routing_conditions_and_404(backend, start_sluice):
    s = start_sluice(ROUTING, upstream=backend.address)
    assert requests.get(s.url + "/hello").text == "hello\n"
    assert requests.get(s.url + "/hello?with=query").text == "hello\n"  # query excluded from `path`
    assert_json_error(requests.get(s.url + "/hello/more"), 404, "no_route", route=None)
    assert_json_error(requests.get(s.url + "/hellox"), 404, "no_route", route=None)
    assert requests.post(s.url + "/echo", data=b"x").json()["len"] == 1
    assert_json_error(requests.get(s.url + "/echo"), 404, "no_route", route=None)  # method not allowed by the route
    assert requests.get(s.url + "/headers", headers={"x-tenant": "gold"}).json()["x-tenant"] == "gold"
    assert requests.get(s.url + "/headers", headers={"X-TENANT": "gold"}).status_code == 200  # names case-insensitive
    assert_json_error(requests.get(s.url + "/headers", headers={"x-tenant": "lead"}), 404, "no_route", route=None)
    assert_json_error(requests.get(s.url + "/headers"), 404, "no_route", route=None)
    assert requests.get(s.url + "/status/201", headers={"Host": "api.example.com"}).status_code == 201
    assert requests.get(s.url + "/status/202", headers={"Host": "API.Example.COM:8443"}).status_code == 202  # port ignored
    assert_json_error(requests.get(s.url + "/status/201"), 404, "no_route", route=None)
    assert_json_error(requests.get(s.url + "/status/201", headers={"Host": "evil.example.com"}), 404, "no_route")
    assert s.metric("sluice_requests_total", route="exact", code="200") == 2
    assert s.metric("sluice_requests_total", route="hosted", code="201") == 1
    assert s.metric("sluice_requests_total", route="hosted", code="202") == 1
    assert backend.stats()["requests"] == 7  # no unmatched request reached the backend


def test_first_match_wins_and_method_mismatch_falls_through(backend, start_sluice):
    s = start_sluice(HEAD + esc("""
upstreams:
  app: {address: "@UP@"}
routes:
  - {name: reads, match: {path_prefix: /request, methods: [GET, HEAD]}, upstream: app}
  - {name: narrow, match: {path: /request}, upstream: app}
  - {name: prefix, match: {path_prefix: /req}, upstream: app}
  - {name: rest, upstream: app}
""").replace("@UP@", "{upstream}"), upstream=backend.address)
    assert requests.get(s.url + "/request").json()["method"] == "GET"  # reads (also matches narrow, prefix, rest)
    assert requests.post(s.url + "/request").json()["method"] == "POST"  # not reads: falls to narrow
    assert requests.put(s.url + "/request/x").status_code in (404, 405)  # prefix (backend has no /request/x)
    assert requests.get(s.url + "/hello").text == "hello\n"  # rest
    m = s.metrics()

    def count(route):
        return sum(v for (name, labels), v in m.items() if name == "sluice_requests_total" and ("route", route) in labels)

    assert (count("reads"), count("narrow"), count("prefix"), count("rest")) == (1, 1, 1, 1)
    log = wait_until(lambda: len(s.access_log()) >= 4 and s.access_log(), timeout=5, what="4 access log lines")
    log = [(line["route"], line["method"], line["path"]) for line in log]
    assert ("narrow", "POST", "/request") in log and ("reads", "GET", "/request") in log, log


def test_dot_segments_are_normalised_for_matching(backend, start_sluice):
    s = start_sluice(ROUTING, upstream=backend.address)
    for path in (b"/x/../hello", b"/./hello", b"/a/b/../../hello"):
        raw_request(s.port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert s.metric("sluice_requests_total", route="_none", code="404") == 0
    assert sum(v for (name, labels), v in s.metrics().items()
               if name == "sluice_requests_total" and ("route", "exact") in labels) == 3


def test_admin_paths_are_not_served_on_the_public_listener(backend, start_sluice):
    s = start_sluice(ROUTING, upstream=backend.address)
    for path in ("/metrics", "/healthz", "/readyz", "/config", "/limits"):
        r = requests.get(s.url + path)
        assert_json_error(r, 404, "no_route", route=None)
        assert "sluice_" not in r.text
    assert s.metric("sluice_requests_total", route="_none", code="404") == 5
    assert backend.stats()["requests"] == 0
