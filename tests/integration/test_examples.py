"""The shipped example policies (lua-free-config/examples/) in front of the real apps they are
written for: what users copy must do what its comments say."""
import http.client
from concurrent.futures import ThreadPoolExecutor

import requests

from harness import REPO, esc

EXAMPLES = REPO / "lua-free-config" / "examples"


def example_policy(name, app_address="127.0.0.1:8000"):
    """An example file as start_sluice takes it: its listen and admin addresses and its upstream
    replaced by the test's, and no drain delay."""
    text = esc((EXAMPLES / name).read_text())
    for old, new in (("0.0.0.0:8080", "{listen}"), ("0.0.0.0:9901", "{admin}"), (app_address, "{upstream}"),
                     ("drain_delay: 5s", "drain_delay: 0ms")):
        assert old in text, f"{name} has no {old!r}"
        text = text.replace(old, new)
    return text


def get_all(port, path, threads, each, timeout):
    """`threads` clients at once, each from an address of its own (127.0.0.N: a rate limit per
    client_ip does not hold them back) and sending `each` requests one after the other on one
    connection, up to its first failure: their statuses."""
    def one(i):
        codes = []
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(f"127.0.0.{10 + i}", 0))
        try:
            for _ in range(each):
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                codes.append(response.status)
        except (OSError, http.client.HTTPException) as e:
            codes.append(type(e).__name__)
        finally:
            conn.close()
        return codes

    with ThreadPoolExecutor(threads) as pool:
        return [code for codes in pool.map(one, range(threads)) for code in codes]


def test_fastapi_example_keeps_sync_dependencies_out_of_the_anyio_deadlock(make_backend, start_sluice):
    """fastapi-sidecar.yaml keeps fewer than 40 requests inside the app: 64 clients at once on
    a sync endpoint with a pooled sync dependency (GET /pooled, holding its connection for
    200 ms before the endpoint runs) are served or shed, where the same burst sent straight to
    the app deadlocks it for good (checked last, on this test's own app). With the example's
    former limit of 64, the burst went through sluice into the app and deadlocked it the same
    way."""
    app = make_backend("fastapi")
    s = start_sluice(example_policy("fastapi-sidecar.yaml"), upstream=app.address)
    path = "/pooled?settle_ms=200"
    codes = get_all(s.port, path, 64, 1, timeout=10)
    served = codes.count(200)
    # 5 connections for 200 ms each: 25 a second; the room's 1 s sheds the rest
    assert set(codes) <= {200, 503}, codes
    assert served >= 20, codes
    assert s.metric("sluice_admission_total", route="api", decision="admitted") == served
    assert requests.get(app.url + path, timeout=5).status_code == 200  # the app still answers
    # the control: 64 at once straight to the app never complete, and it answers nothing after
    direct = get_all(app.port, path, 64, 1, timeout=3)
    assert direct.count(200) < 64, direct
    assert get_all(app.port, path, 1, 1, timeout=3) != [200]
    app.proc.kill()  # deadlocked: it would not stop on SIGTERM
