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
    """fastapi-sidecar.yaml keeps fewer than 40 requests inside the app: a burst of sync
    endpoints with a pooled sync dependency (GET /pooled) is served, where the same burst sent
    straight to the app deadlocks it for good (checked last, on this test's own app)."""
    app = make_backend("fastapi")
    s = start_sluice(example_policy("fastapi-sidecar.yaml"), upstream=app.address)
    codes = get_all(s.port, "/pooled", 64, 4, timeout=10)
    served = codes.count(200)
    # 64 clients at once, each within its rate limit: the room holds what the limit does not
    assert set(codes) <= {200, 503}, codes
    assert served >= 200, codes
    assert s.metric("sluice_admission_total", route="api", decision="admitted") == served
    assert requests.get(app.url + "/pooled", timeout=5).status_code == 200  # the app still answers
    # the control: 64 at once straight to the app never complete, and it answers nothing after
    direct = get_all(app.port, "/pooled", 64, 4, timeout=3)
    assert direct.count(200) < 64 * 4, direct
    assert get_all(app.port, "/pooled", 1, 1, timeout=3) != [200]
    app.proc.kill()  # deadlocked: it would not stop on SIGTERM
