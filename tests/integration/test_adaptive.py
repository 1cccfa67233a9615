"""`limit: auto` and priorities against the real Tornado app's backend of fixed capacity
(GET /capacity-work?ms=S: at most C handlers at a time, the others queue inside the app; POST
/capacity?c=N changes C live). The load is open (bench/loadgen -r), ten times what the backend
can serve. Assertions are on behaviour with wide margins (two shared cores): the limit moves to
the capacity and follows it, never collapses, carries over a reload; critical requests are
served while sheddable ones are shed."""
import signal
import threading
import time

import requests

from harness import assert_json_error, loadgen, policy, wait_until

S_MS = 50
WORK = f"/capacity-work?ms={S_MS}"


def set_capacity(backend, c):
    r = backend.session.post(f"{backend.url}/capacity?c={c}", timeout=5)
    assert r.status_code == 200 and r.json()["capacity"] == c, r.text


def limit_state(s):
    return requests.get(s.admin_url + "/limits", timeout=5).json()["routes"][0]["concurrency"][0]


class Watcher:
    """Samples /limits every 50 ms in a thread: (seconds since start, the limit's state)."""

    def __init__(self, s):
        self.s, self.samples, self.stop = s, [], threading.Event()
        self.start = time.monotonic()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            self.samples.append((time.monotonic() - self.start, limit_state(self.s)))
            time.sleep(0.05)

    def done(self):
        self.stop.set()
        self.thread.join(5)
        return self

    def limits(self, t0, t1):
        return sorted(state["limit"] for t, state in self.samples if t0 <= t <= t1)


def median(values):
    assert values, "no samples"
    return values[len(values) // 2]


def auto_policy(initial=40, min_=1, max_=200, room=4, extra=""):
    return policy(
        route=f"    concurrency: {{limit: auto, adaptive: {{min: {min_}, max: {max_}, initial: {initial}}}, "
        f"queue: {{size: {room}, timeout: 2s}}}}\n" + extra,
        timeout="10s",
    )


def test_the_limit_learns_the_capacity_and_follows_it(tornado_backend, start_sluice):
    set_capacity(tornado_backend, 4)
    s = start_sluice(auto_policy(initial=40), upstream=tornado_backend.address)
    watch = Watcher(s)
    run = loadgen(s.port, WORK, 7, connections=64, rate=10 * 4 * 1000 // S_MS, interval=1)
    time.sleep(3.5)
    set_capacity(tornado_backend, 12)
    res = run.wait()
    watch.done()
    assert res["errors"] == 0 and res["other"] == 0, res
    # from 40 down to the capacity (4): neither stuck high nor collapsed to 1
    first = watch.limits(1.5, 3.4)
    assert 4 <= median(first) <= 12, first
    assert min(state["limit"] for t, state in watch.samples if t >= 1.5) >= 2, watch.samples
    # the capacity tripled: the limit follows within two seconds
    second = watch.limits(5.5, 7)
    assert 12 <= median(second) <= 36, second
    # goodput near the capacity in both phases (80/s, then 240/s), most of the load shed
    assert res["shed"] > res["ok"], res
    by_second = [row["ok"] for row in run.series]
    assert min(by_second[1:3]) >= 0.6 * 80, run.series
    assert min(by_second[5:7]) >= 0.6 * 240, run.series
    # /limits and the metric tell the same current limit, and what was learned
    state = limit_state(s)
    assert set(state["adaptive"]) >= {"min", "max", "learned", "probing", "saturated", "base_ms", "rtt_ms"}, state
    assert state["adaptive"]["min"] == 1 and state["adaptive"]["max"] == 200
    assert 40 <= state["adaptive"]["base_ms"] <= 150, state
    assert s.metric("sluice_concurrency_limit", route="api", limit="concurrency") == state["limit"]


def test_a_reload_keeps_the_learned_limit(tornado_backend, start_sluice):
    set_capacity(tornado_backend, 4)
    s = start_sluice(auto_policy(initial=40), upstream=tornado_backend.address)
    loadgen(s.port, WORK, 3, connections=64, rate=800).wait()
    wait_until(lambda: limit_state(s)["in_flight"] == 0, what="sluice idle")
    learned = limit_state(s)["adaptive"]["learned"]
    assert 2 <= learned <= 16, learned

    def reload(text, reloads):
        s.config.write_text(text.format(listen=f"127.0.0.1:{s.port}", admin=f"127.0.0.1:{s.admin_port}",
                                        upstream=tornado_backend.address))
        s.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: s.metric("sluice_config_reloads_total", result="success") == reloads, what="reload")
        return limit_state(s)

    # another room, another max and initial: what was learned stays
    state = reload(auto_policy(initial=30, max_=100, room=8), 1)
    assert state["adaptive"]["learned"] == learned and state["limit"] == learned, state
    assert state["queue_size"] == 8 and state["adaptive"]["max"] == 100
    # bounds that exclude it clamp it
    state = reload(auto_policy(initial=1, max_=1, room=8), 2)
    assert state["limit"] == 1, state
    # a number instead of auto: a fixed limit again
    state = reload(policy(route="    concurrency: {limit: 7, queue: {size: 8}}\n"), 3)
    assert state["limit"] == 7 and "adaptive" not in state, state
    assert s.metric("sluice_concurrency_limit", route="api", limit="concurrency") == 7


def test_failing_exchanges_lower_the_limit(tornado_backend, start_sluice):
    s = start_sluice(auto_policy(initial=64, min_=2, room=16), upstream=tornado_backend.address)
    res = loadgen(s.port, "/status/500", 2, connections=16).wait()
    assert res["other"] > 100, res  # the 500s (hidden by sluice, still 500)
    wait_until(lambda: limit_state(s)["in_flight"] == 0, what="sluice idle")
    state = limit_state(s)
    assert 2 <= state["limit"] <= 8, state
    assert state["adaptive"]["saturated"], state


PRIORITY = (
    "    priority: {from: header:X-Priority, levels: [critical, default, sheddable], default: default}\n"
)


def test_critical_requests_are_served_under_a_flood_of_sheddable(tornado_backend, start_sluice):
    set_capacity(tornado_backend, 4)
    s = start_sluice(auto_policy(initial=8, room=12, extra=PRIORITY), upstream=tornado_backend.address)
    flood = loadgen(s.port, WORK, 6, connections=64, rate=800, headers=["X-Priority: sheddable"])
    time.sleep(1)
    critical = loadgen(s.port, WORK, 4, connections=16, rate=20, headers=["X-Priority: critical"]).wait()
    # a sheddable request during the flood: refused with Retry-After (most of them are)
    for _ in range(50):
        r = requests.get(s.url + WORK, headers={"X-Priority": "sheddable"}, timeout=10)
        if r.status_code == 503:
            break
    assert_json_error(r, 503, "queue_full", route="api")
    assert r.headers["retry-after"] == "1"
    sheddable = flood.wait()
    assert critical["errors"] == 0 and critical["other"] == 0, critical
    assert critical["ok"] >= 60, critical  # about 80 sent
    assert critical["shed"] <= max(1, 0.02 * critical["requests"]), critical
    assert critical["ok_p50_ms"] < 3 * S_MS and critical["ok_p99_ms"] < 8 * S_MS, critical
    assert sheddable["shed"] > 5 * sheddable["ok"], sheddable
    assert critical["ok_p50_ms"] < sheddable["ok_p50_ms"], (critical, sheddable)


def test_eviction_order_and_retry_after(tornado_backend, start_sluice):
    """A fixed limit of 1 and a room of 2: a full room pushes out its newest, least important
    waiter (503 queue_full, Retry-After), refuses what is not more important than anyone in it,
    and serves the most important first."""
    s = start_sluice(policy(route="    concurrency: {limit: 1, queue: {size: 2, timeout: 10s}}\n" + PRIORITY),
                     upstream=tornado_backend.address)
    results, done_at = {}, {}

    def send(name, level, path="/slow?ms=20"):
        def run():
            r = requests.get(s.url + path, headers={"X-Priority": level}, timeout=20)
            results[name], done_at[name] = r, time.monotonic()
        t = threading.Thread(target=run)
        t.start()
        return t

    def depth(n):
        wait_until(lambda: s.metric("sluice_queue_depth", route="api") == n, what=f"queue depth {n}")

    threads = [send("holder", "critical", "/slow?ms=1500")]
    wait_until(lambda: s.metric("sluice_in_flight", route="api") == 1, what="the holder in flight")
    threads.append(send("s1", "sheddable"))
    depth(1)
    threads.append(send("s2", "sheddable"))
    depth(2)
    threads.append(send("c1", "critical"))  # the room is full: s2, the newest sheddable, goes
    wait_until(lambda: "s2" in results, what="s2 pushed out")
    threads.append(send("d1", "nonsense"))  # no such level: the default; s1 goes
    wait_until(lambda: "s1" in results, what="s1 pushed out")
    r = requests.get(s.url + "/slow?ms=20", headers={"X-Priority": "sheddable"}, timeout=5)  # nobody less important
    for refused in (results["s2"], results["s1"], r):
        assert_json_error(refused, 503, "queue_full", route="api")
        assert refused.headers["retry-after"] == "1"
    for t in threads:
        t.join(20)
    assert [results[n].status_code for n in ("holder", "c1", "d1")] == [200, 200, 200]
    assert done_at["holder"] < done_at["c1"] < done_at["d1"]
