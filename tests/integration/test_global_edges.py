"""Global limits at their edges, against a real redis-server: burst 1 and rates that do not divide
a second (3/s, 7/s, 30/s), the cost in Redis commands, a Redis paused and resumed under load with
on_error local and deny, reloads that change or remove and re-add a busy limit, and what /limits
says of a busy global limit. Each of these broke in version 1."""
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from harness import loadgen, wait_until
from redis_server import RedisServer
from test_redis_global import config, conc, redis_up, redis_yaml, reload_sluice, route, timed



@pytest.fixture
def redis():
    r = RedisServer()
    yield r
    r.stop()


@pytest.fixture
def app(tornado_backend):
    tornado_backend.reset()
    return tornado_backend


RATES = [("1/m", 1, 60), ("3/s", 3, 1), ("7/s", 7, 1), ("30/s", 30, 1), ("200/s", 200, 1)]


@pytest.mark.parametrize("burst", [1, 2, 10])
def test_global_rates_admit_rate_times_t_plus_burst(redis, app, start_sluice, burst):
    """Five global rate limits at once, each asked at least 4x its rate by its own client for
    `seconds`: each admits rate * t + burst within -5%/+1% and one token either way for the edges of
    the window, the first request on a fresh bucket passes at once, and Redis sees at most two
    script calls per batch of tokens (no refusal makes sluice ask again at once)."""
    seconds = 5
    routes = "".join(
        route(f"r{i}", f"    rate_limits: [{{name: g, rate: {rate}, burst: {burst}, scope: global}}]\n",
              match=f"{{path_prefix: /hello/r{i}}}")
        for i, (rate, _, _) in enumerate(RATES))
    # a Redis timeout well above a loaded 2-core machine's scheduling stalls: this test is about
    # the rates, and 25 ms turned a stall into 503 redis_unavailable (counted as shed by loadgen)
    s = start_sluice(config(redis_yaml(redis.address, on_error="deny", timeout="250ms"), routes), upstream=app.address)
    wait_until(lambda: redis_up(s) == 1, timeout=5, what="sluice_redis_up == 1")
    evals_before = redis.commandstats().get("evalsha", 0)
    # An open load at even intervals, 4x the limit or more: a token of a burst-1 bucket is spendable
    # for one interval only, so this measures the rate only while neither sluice's loop nor the
    # client is starved of the CPU. Closed loops on five routes (one of them 1000/s) offered ~35k
    # requests a second and oversubscribed two cores: the 1000/s route then admitted 59% of its rate
    # in a CI run, and 92% under ASan on an idle machine. This offers 2k a second, arrivals every
    # 1.25 ms on the 200/s route (whose tokens are dated 5 ms apart, 10 to a lease) and every 3.3 ms
    # on the others, against at most 1/5 of what the Tornado fixture can serve.
    runs = [loadgen(s.port, f"/hello/r{i}", seconds, connections=8 if count >= 100 else 2,
                    rate=4 * count if count >= 100 else 300)
            for i, (_, count, _) in enumerate(RATES)]
    results = [run.wait() for run in runs]
    evals = redis.commandstats().get("evalsha", 0) - evals_before
    requests_sent = sum(r["requests"] for r in results)
    admitted_total = 0
    for (rate, count, period_s), res in zip(RATES, results):
        admitted = res["ok"]
        admitted_total += admitted
        expected = count / period_s * seconds + burst
        print(f"\n{rate} burst {burst}: {res}; expected {expected:.2f}")
        assert res["other"] == 0 and res["errors"] == 0, res
        assert res["shed"] > admitted, f"{rate}: the client must ask more than the limit allows: {res}"
        assert admitted >= burst, (rate, admitted)
        # never more than the limit (+1%), and a token of a burst-1 bucket unused in its interval is
        # gone: fewer only if sluice's loop stalled past a whole interval
        assert 0.95 * expected - 1 <= admitted <= 1.01 * expected + 1, (rate, burst, admitted, expected)
        # sluice counted them too (and those answered after loadgen's window, at most one a connection)
        name = f"r{RATES.index((rate, count, period_s))}"
        counted = s.metric("sluice_admission_total", route=name, decision="rate_limited")
        unavailable = s.metric("sluice_admission_total", route=name, decision="redis_unavailable")
        assert res["shed"] <= counted <= res["shed"] + 16, (counted, unavailable, res)
    # Each lease is one script call (EVALSHA) and brings a batch of tokens (a lease lifetime's worth,
    # 50 ms, at least 1); a refused one names when the next token is due, and nothing asks again
    # before then. So at most two calls per batch of tokens: not one per request (v1 sent 12k-60k
    # a second with burst 1, and admitted nothing).
    leases_bound = sum(2 * (c / p) / max(1, int(0.05 * c / p)) for _, c, p in RATES) * seconds + 20
    print(f"script calls: {evals} for {requests_sent:.0f} requests, {admitted_total:.0f} admitted (bound {leases_bound:.0f})")
    assert evals <= leases_bound < 0.1 * requests_sent, (evals, leases_bound, requests_sent)


def test_a_fresh_key_of_a_burst_1_limit_passes_at_once(redis, app, start_sluice):
    """rate 30/s, burst 1, per key: the first request of each new key is admitted without waiting."""
    body = "    rate_limits: [{name: u, rate: 30/s, burst: 1, per: \"header:X-User\", scope: global}]\n"
    s = start_sluice(config(redis_yaml(redis.address, on_error="deny"), route(body=body)), upstream=app.address)
    wait_until(lambda: redis_up(s) == 1, timeout=5, what="sluice_redis_up == 1")
    for i in range(20):
        code, took, _ = timed(s.url + "/hello", headers={"X-User": f"user-{i}"})
        assert code == 200 and took < 1.0, (i, code, took)
    # the same key at once again: refused with a Retry-After, not held until a timeout
    code, took, r = timed(s.url + "/hello", headers={"X-User": "user-0"})
    codes = [code] + [timed(s.url + "/hello", headers={"X-User": "user-0"})[0] for _ in range(3)]
    assert 429 in codes and took < 1.0, codes


# ---- global concurrency while Redis pauses -----------------------------------------------------


def keep_busy(url, clients, stop_at):
    """`clients` threads sending GET url back to back until stop_at; returns every status."""

    def run(_):
        out = []
        with requests.Session() as sess:
            while time.monotonic() < stop_at:
                try:
                    out.append(sess.get(url, timeout=20).status_code)
                except requests.RequestException as e:
                    out.append(type(e).__name__)
        return out

    pool = ThreadPoolExecutor(clients)
    futures = [pool.submit(run, i) for i in range(clients)]
    pool.shutdown(wait=False)
    return futures


@pytest.mark.parametrize("on_error", ["local", "deny"])
def test_global_concurrency_holds_while_redis_pauses_and_resumes(redis, app, start_sluice, on_error):
    """limit 4 shared by 2 instances, 1 s requests, 6 clients per instance. Redis is stopped
    (SIGSTOP) for 2.5 s and resumed: the backend never has more than 4 in flight, neither while
    the fallback admits (it counts what the instance already runs) nor after Redis is back (what
    the fallback admitted counts there before anyone else is admitted)."""
    policy = config(redis_yaml(redis.address, on_error=on_error, instances=2, slot_lease="10s"),
                    route(body=conc(4, size=8, qtimeout="8s"), timeout="20s"))
    a = start_sluice(policy, upstream=app.address)
    b = start_sluice(policy, upstream=app.address)
    for s in (a, b):
        wait_until(lambda: redis_up(s) == 1, timeout=5, what="sluice_redis_up == 1")
    app.reset()
    stop_at = time.monotonic() + 7.5
    futures = keep_busy(a.url + "/slow?ms=1000", 6, stop_at) + keep_busy(b.url + "/slow?ms=1000", 6, stop_at)
    wait_until(lambda: app.stats()["in_flight"] == 4, timeout=5, what="4 in flight")
    time.sleep(1.2)
    os.kill(redis.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: redis_up(a) == 0 or redis_up(b) == 0, timeout=5, what="an instance sees Redis down")
        time.sleep(2.0)
    finally:
        os.kill(redis.pid, signal.SIGCONT)
    wait_until(lambda: redis_up(a) == 1 and redis_up(b) == 1, timeout=10, what="both see Redis again")
    codes = [c for f in futures for c in f.result(timeout=60)]
    stats = app.stats()
    counts = {c: codes.count(c) for c in set(codes)}
    print(f"\non_error {on_error}: {counts}, backend {stats}")
    assert stats["max_in_flight"] <= 4, stats
    assert counts.get(200, 0) >= 8, counts
    assert set(counts) <= {200, 503}, counts
    for s in (a, b):
        wait_until(lambda: s.metric("sluice_in_flight", route="api") == 0, timeout=10, what="in_flight 0")
    # and Redis counts nothing once all is done (no slot leaked by the fallback or its recovery)
    wait_until(lambda: redis.cli("ZCARD", "sluice:{api:concurrency:_route}").strip() in ("0", ""), timeout=15,
               what="no slot left in Redis")


# ---- reloads -------------------------------------------------------------------------------------


def local_conc(limit, size, qtimeout):
    return f"    concurrency: {{limit: {limit}, queue: {{size: {size}, timeout: {qtimeout}}}}}\n"


@pytest.mark.parametrize("scope", ["local", "global"])
def test_reload_changing_a_busy_limit_keeps_counting_its_requests(redis, app, start_sluice, scope):
    """limit 2, two requests running and two waiting; a reload changes only queue.timeout: the
    waiters are still served in turn, and new requests wait for the old ones (never 4 at once)."""
    def policy(qtimeout):
        body = local_conc(2, 8, qtimeout) if scope == "local" else conc(2, size=8, qtimeout=qtimeout)
        return config(redis_yaml(redis.address, on_error="deny"), route(body=body, timeout="20s"))

    s = start_sluice(policy("9s"), upstream=app.address)
    wait_until(lambda: redis_up(s) == 1, timeout=5, what="sluice_redis_up == 1")
    app.reset()
    with ThreadPoolExecutor(8) as pool:
        first = [pool.submit(timed, s.url + "/slow?ms=1200", 20) for _ in range(4)]
        wait_until(lambda: app.stats()["in_flight"] == 2, timeout=5, what="2 in flight")
        wait_until(lambda: s.metric("sluice_queue_depth", route="api") == 2, timeout=5, what="2 waiting")
        reload_sluice(s, app, policy("8s"))
        second = [pool.submit(timed, s.url + "/slow?ms=300", 20) for _ in range(4)]
        codes = [f.result()[0] for f in first + second]
    assert codes == [200] * 8, codes
    assert app.stats()["max_in_flight"] == 2, app.stats()
    wait_until(lambda: s.metric("sluice_in_flight", route="api") == 0, timeout=5, what="in_flight 0")


@pytest.mark.parametrize("scope", ["local", "global"])
def test_a_route_removed_and_added_back_keeps_counting_its_requests(redis, app, start_sluice, scope):
    body = local_conc(2, 8, "9s") if scope == "local" else conc(2, size=8, qtimeout="9s")
    with_route = config(redis_yaml(redis.address, on_error="deny"), route(body=body, timeout="20s"))
    without = config(redis_yaml(redis.address, on_error="deny"), route("other", match="{path_prefix: /nothing}"))
    s = start_sluice(with_route, upstream=app.address)
    wait_until(lambda: redis_up(s) == 1, timeout=5, what="sluice_redis_up == 1")
    app.reset()
    with ThreadPoolExecutor(8) as pool:
        first = [pool.submit(timed, s.url + "/slow?ms=2000", 20) for _ in range(2)]
        wait_until(lambda: app.stats()["in_flight"] == 2, timeout=5, what="2 in flight")
        reload_sluice(s, app, without)
        assert requests.get(s.url + "/slow?ms=1", timeout=5).status_code == 404
        reload_sluice(s, app, with_route)
        second = [pool.submit(timed, s.url + "/slow?ms=300", 20) for _ in range(3)]
        codes = [f.result()[0] for f in first + second]
    assert codes == [200] * 5, codes
    assert app.stats()["max_in_flight"] == 2, app.stats()


# ---- /limits ---------------------------------------------------------------------------------------


def test_limits_describe_a_busy_global_limit(redis, app, start_sluice):
    body = conc(3, size=4) + "    rate_limits: [{name: g, rate: 1000/s, burst: 50, scope: global}]\n"
    s = start_sluice(config(redis_yaml(redis.address, on_error="deny", instances=2), route(body=body, timeout="20s")),
                     upstream=app.address)
    wait_until(lambda: redis_up(s) == 1, timeout=5, what="sluice_redis_up == 1")
    with ThreadPoolExecutor(5) as pool:
        running = [pool.submit(timed, s.url + "/slow?ms=1500", 20) for _ in range(5)]
        wait_until(lambda: s.metric("sluice_queue_depth", route="api") == 2, timeout=5, what="3 running, 2 waiting")
        state = requests.get(s.admin_url + "/limits", timeout=5).json()["routes"][0]
        assert [f.result()[0] for f in running] == [200] * 5
    (c,) = state["concurrency"]
    assert c["scope"] == "global" and c["kind"] == "concurrency" and c["name"] == "concurrency", c
    assert c["limit"] == 3 and c["in_flight"] == 3 and c["queued"] == 2 and c["cluster_in_flight"] == 3, c
    assert c["instances"] == 2 and c["share"] == 2 and c["redis_up"] is True, c
    (g,) = state["rate_limits"]
    assert g["scope"] == "global" and g["name"] == "g" and g["rate"] == 1000 and g["burst"] == 50, g
    assert state["in_flight"] == 3 and state["queue_depth"] == 2, state
