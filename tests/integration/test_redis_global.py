"""Global (Redis-backed) limits against a real redis-server: a rate limit and a concurrency limit
shared by several sluice instances, the Redis key layout, slot leases that come back when an
instance dies, `on_error` (local | allow | deny) while Redis is down, slow or refuses the password,
reconnection after Redis restarts, the redis_* metrics and /readyz, and how few commands a
request costs at steady state (token leasing)."""
import json
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from harness import HEAD, assert_json_error, esc, fire_at_once, free_port, wait_until
from redis_server import RedisServer

# ---------------------------------------------------------------------------------------------
# policy text


def redis_yaml(address, on_error="deny", instances=1, timeout="25ms", prefix="sluice:", slot_lease=None, password=None,
               database=0):
    text = f"redis:\n  address: {address}\n  database: {database}\n  timeout: {timeout}\n  prefix: \"{prefix}\"\n"
    text += f"  on_error: {on_error}\n  instances: {instances}\n"
    if slot_lease:
        text += f"  slot_lease: {slot_lease}\n"
    if password is not None:
        text += f"  password: \"{password}\"\n"
    return text


def route(name="api", body="", timeout="5s", match=None):
    text = f"  - name: {name}\n"
    if match:
        text += f"    match: {match}\n"
    return text + f"    upstream: app\n    timeout: {timeout}\n" + body


def conc(limit, size=0, qtimeout="5s"):
    return f"    concurrency: {{limit: {limit}, scope: global, queue: {{size: {size}, timeout: {qtimeout}}}}}\n"


def rate_limits(*limits):
    """rate_limits(("g", "100/s", 10), ("u", "1/m", 1, "header:X-User"))"""
    text = "    rate_limits:\n"
    for lim in limits:
        name, rate, burst = lim[:3]
        per = f', per: "{lim[3]}"' if len(lim) > 3 else ""
        text += f"      - {{name: {name}, rate: {rate}, burst: {burst}{per}, scope: global}}\n"
    return text


def config(redis, *routes):
    text = (
        redis
        + 'upstreams:\n  app: {address: "@UPSTREAM@", connect_timeout: 300ms, read_timeout: 30s, keepalive: 64, max_connections: 256}\n'
        + "routes:\n"
        + "".join(routes)
    )
    return HEAD + esc(text).replace("@UPSTREAM@", "{upstream}")


# ---------------------------------------------------------------------------------------------
# metrics, readiness, requests


def msum(s, name, **labels):
    """Sum of every series of `name` whose labels include `labels` (0 if none)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in s.metrics().items() if n == name and want <= set(ls))


def redis_up(s):
    values = [v for (n, _), v in s.metrics().items() if n == "sluice_redis_up"]
    assert values, "sluice_redis_up is missing from /metrics"
    return values[0]


def fallbacks(s, mode):
    return msum(s, "sluice_redis_fallback_total", mode=mode)


def all_fallbacks(s):
    return msum(s, "sluice_redis_fallback_total")


def redis_errors(s, kind=None):
    return msum(s, "sluice_redis_errors_total", **({"kind": kind} if kind else {}))


def readyz(s):
    r = requests.get(s.admin_url + "/readyz", timeout=5)
    return r.status_code, r.json()


def get(url, timeout=15, **kw):
    return requests.get(url, timeout=timeout, **kw)


def timed(url, timeout=15, **kw):
    started = time.monotonic()
    try:
        r = requests.get(url, timeout=timeout, **kw)
        return r.status_code, time.monotonic() - started, r
    except requests.RequestException as e:
        return type(e).__name__, time.monotonic() - started, None


class Rec:
    __slots__ = ("inst", "sent", "recv", "status", "headers", "text")

    def __init__(self, inst, sent, recv, status, headers, text):
        self.inst, self.sent, self.recv, self.status, self.headers, self.text = inst, sent, recv, status, headers, text


def hammer(urls, seconds, threads_per_url=4):
    """Requests back to back on every url (threads_per_url threads each, released together) for
    `seconds`; returns [Rec] with send/receive times (time.monotonic)."""
    out, lock = [], threading.Lock()
    barrier = threading.Barrier(len(urls) * threads_per_url)

    def run(inst, url):
        with requests.Session() as sess:
            barrier.wait()
            stop = time.monotonic() + seconds
            while time.monotonic() < stop:
                sent = time.monotonic()
                try:
                    r = sess.get(url, timeout=10)
                    rec = Rec(inst, sent, time.monotonic(), r.status_code, r.headers, r.text)
                except requests.RequestException as e:
                    rec = Rec(inst, sent, time.monotonic(), type(e).__name__, {}, "")
                with lock:
                    out.append(rec)

    ts = [threading.Thread(target=run, args=(i, u)) for i, u in enumerate(urls) for _ in range(threads_per_url)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def statuses(recs):
    counts = {}
    for r in recs:
        counts[r.status] = counts.get(r.status, 0) + 1
    return counts


class BackToBack:
    """Client threads, each sending GET url back to back on its own session until stop();
    `out` collects (name, status or exception name, time.monotonic() of the answer)."""

    def __init__(self):
        self.out, self.lock, self.done, self.threads = [], threading.Lock(), threading.Event(), []

    def add(self, name, url, threads, timeout=30):
        def run():
            with requests.Session() as sess:
                while not self.done.is_set():
                    try:
                        code = sess.get(url, timeout=timeout).status_code
                    except requests.RequestException as e:
                        code = type(e).__name__
                    with self.lock:
                        self.out.append((name, code, time.monotonic()))

        for _ in range(threads):
            t = threading.Thread(target=run)
            t.start()
            self.threads.append(t)

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join()

    def codes(self):
        return [c for _, c, _ in self.out]


def statuses_of(codes):
    return {c: codes.count(c) for c in set(codes)}


def stderr_line(s, *any_of):
    """A line of sluice's stderr mentioning redis and one of `any_of` (case-insensitive)."""
    for line in s.stderr_text().splitlines():
        low = line.lower()
        if "redis" in low and any(w.lower() in low for w in any_of):
            return line
    return None


def reload_sluice(s, app, text):
    """Writes `text` (a config() template) as s's policy, sends SIGHUP, waits for the reload."""
    count = s.stderr_text().count("reloaded")
    s.config.write_text(text.format(listen=f"127.0.0.1:{s.port}", admin=f"127.0.0.1:{s.admin_port}", upstream=app.address))
    s.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: s.stderr_text().count("reloaded") > count, timeout=5, what="the reload")


def redis_client_ids(redis):
    """Ids of the clients connected to `redis`, but the redis-cli asking."""
    return {line.split()[0] for line in redis.cli("CLIENT", "LIST").splitlines() if line and "cmd=client" not in line}


def wait_redis_down(s, url=None, timeout=6):
    """Waits for sluice_redis_up == 0, sending a request each round (so that a sluice that only
    notices a dead connection when it next uses it gets the chance)."""

    def down():
        if url:
            try:
                requests.get(url, timeout=5)
            except requests.RequestException:
                pass
        return redis_up(s) == 0

    wait_until(down, timeout=timeout, interval=0.05, what="sluice_redis_up == 0")


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture
def redis():
    r = RedisServer()
    yield r
    r.stop()


@pytest.fixture
def app(tornado_backend):
    tornado_backend.reset()
    return tornado_backend


# ---------------------------------------------------------------------------------------------
# global rate limits


def test_global_rate_limit_shared_by_three_instances_admits_rate_times_t_plus_burst(redis, app, start_sluice):
    rate, burst, seconds = 100, 10, 7.0
    # on_error deny: a fallback can never pass for the global limit here
    # a Redis timeout generous for a loaded machine: this test is about counting, not timeouts
    policy = config(redis_yaml(redis.address, on_error="deny", instances=3, timeout="500ms"),
                    route(body=rate_limits(("g", f"{rate}/s", burst))))
    instances = [start_sluice(policy, upstream=app.address) for _ in range(3)]
    for s in instances:
        wait_until(lambda: redis_up(s) == 1, timeout=5, what="sluice_redis_up == 1")

    out = hammer([s.url + "/hello" for s in instances], seconds, threads_per_url=4)
    counts = statuses(out)
    oks = [r for r in out if r.status == 200]
    t0 = min(r.sent for r in out)
    elapsed = max(r.recv for r in oks) - t0
    expected = rate * elapsed + burst
    per_instance = [sum(1 for r in oks if r.inst == i) for i in range(3)]
    print(f"\nglobal rate: {len(out)} requests, {counts}, admitted {len(oks)} per instance {per_instance}, "
          f"elapsed {elapsed:.2f}s, rate*elapsed+burst = {expected:.1f} ({len(oks) / expected:.3f}x)")
    assert set(counts) <= {200, 429}, counts
    assert counts.get(429, 0) > len(oks), "each instance must have been offered more than the rate"
    assert len(oks) >= 0.95 * expected, (len(oks), expected)
    assert len(oks) <= 1.01 * expected + 2, (len(oks), expected)
    assert app.stats()["requests"] == len(oks)

    # a global 429 looks like a local one, on every instance
    for i in range(3):
        limited = next((r for r in out if r.inst == i and r.status == 429), None)
        assert limited is not None, f"instance {i} never answered 429: {statuses([r for r in out if r.inst == i])}"
        assert int(limited.headers["retry-after"]) == 1, dict(limited.headers)
        assert limited.headers["ratelimit-policy"] == f'"g";q={rate};w=1', dict(limited.headers)
        assert limited.headers["ratelimit"].startswith('"g";r=0;t='), dict(limited.headers)
        body = json.loads(limited.text)["error"]
        assert body["code"] == "rate_limited" and body["status"] == 429 and body["route"] == "api", body

    for s in instances:
        assert all_fallbacks(s) == 0
        assert s.metric("sluice_admission_total", route="api", decision="rate_limited") > 0
    keys = redis.keys("sluice:*")
    assert any(k.startswith("sluice:{api:g:_route}") for k in keys), keys


def test_global_rate_limit_per_key_and_key_names(redis, app, start_sluice):
    policy = config(
        redis_yaml(redis.address, on_error="deny", prefix="tp:"),
        route(body=rate_limits(("u", "1/m", 1, "header:X-User"))),
    )
    a, b = start_sluice(policy, upstream=app.address), start_sluice(policy, upstream=app.address)
    alice, bob = {"X-User": "alice"}, {"X-User": "bob"}

    assert get(a.url + "/hello", headers=alice).status_code == 200
    r = get(b.url + "/hello", headers=alice)  # the same key on another instance: the one token is gone
    assert_json_error(r, 429, "rate_limited", route="api")
    assert 58 <= int(r.headers["retry-after"]) <= 60, r.headers
    assert r.headers["ratelimit-policy"] == '"u";q=1;w=60', r.headers
    assert r.headers["ratelimit"].startswith('"u";r=0;t='), r.headers
    assert get(b.url + "/hello", headers=bob).status_code == 200  # another key is independent
    assert get(a.url + "/hello", headers=bob).status_code == 429
    assert get(a.url + "/hello", headers=alice).status_code == 429
    assert app.stats()["requests"] == 2

    keys = redis.keys("*")
    assert keys and all(k.startswith("tp:") for k in keys), keys
    for user in ("alice", "bob"):
        assert any(k.startswith("tp:{api:u:" + user + "}") for k in keys), keys


# ---------------------------------------------------------------------------------------------
# global concurrency


def test_global_concurrency_slots_are_a_zset_of_leases_on_the_redis_clock(redis, app, start_sluice):
    lease_ms = 5000
    s = start_sluice(
        config(redis_yaml(redis.address, on_error="deny", slot_lease="5s"), route(body=conc(2, size=0), timeout="20s")),
        upstream=app.address,
    )
    key = "sluice:{api:concurrency:_route}"
    with ThreadPoolExecutor(2) as pool:
        holders = [pool.submit(timed, s.url + "/slow?ms=1500") for _ in range(2)]
        wait_until(lambda: app.stats()["in_flight"] == 2, timeout=5, what="two requests at the backend")
        assert redis.cli("TYPE", key).strip() == "zset", redis.keys("*")
        now = redis.time_ms()
        flat = redis.cli("ZRANGE", key, "0", "-1", "WITHSCORES").split()
        members = dict(zip(flat[0::2], (float(x) for x in flat[1::2])))
        assert len(members) == 2, members
        for slot, expiry in members.items():
            assert now < expiry <= now + lease_ms + 1000, (slot, expiry, now)
        r = get(s.url + "/hello")  # limit reached, no waiting room
        assert_json_error(r, 503, "queue_full", route="api")
        assert int(r.headers["retry-after"]) >= 1
        assert [h.result()[0] for h in holders] == [200, 200]
    # released slots leave the set at once (no waiting for their lease to run out)
    wait_until(lambda: int(redis.cli("ZCOUNT", key, str(redis.time_ms()), "+inf")) == 0, timeout=2,
               what="the released slots to leave the ZSET")
    assert get(s.url + "/hello").status_code == 200


def test_global_concurrency_waiting_room_across_three_instances(redis, backend, start_sluice):
    app = backend  # Tornado and FastAPI
    policy = config(redis_yaml(redis.address, on_error="deny", instances=3), route(body=conc(4, size=20, qtimeout="20s"), timeout="30s"))
    instances = [start_sluice(policy, upstream=app.address) for _ in range(3)]
    started = time.monotonic()
    results = fire_at_once(24, lambda i: timed(instances[i % 3].url + "/slow?ms=400", timeout=40))
    elapsed = time.monotonic() - started
    st = app.stats()
    print(f"\nwaiting room: 24 requests over 3 instances in {elapsed:.2f}s (>= 2.4s ideal); backend {st}")
    assert [c for c, _, _ in results] == [200] * 24, [c for c, _, _ in results]
    assert st["max_in_flight"] <= 4, st
    assert st["requests"] == 24
    # waiters learn of slots freed elsewhere by polling (<= ~50 ms), not at the lease's end
    assert elapsed < 8.0, elapsed
    for s in instances:
        assert all_fallbacks(s) == 0
        wait_until(lambda: s.metric("sluice_in_flight", route="api") == 0, what="in_flight back to 0")
        assert s.metric("sluice_queue_depth", route="api") == 0


def test_slots_of_a_killed_instance_come_back_after_the_lease(redis, make_backend, start_sluice):
    app = make_backend("tornado")  # its own: the killed instance's requests linger there
    lease = 2.0
    policy = config(redis_yaml(redis.address, on_error="deny", instances=2, slot_lease="2s"), route(body=conc(4, size=0), timeout="30s"))
    a, b = start_sluice(policy, upstream=app.address), start_sluice(policy, upstream=app.address)
    key = "sluice:{api:concurrency:_route}"

    pool = ThreadPoolExecutor(4)
    try:
        holders = [pool.submit(timed, a.url + "/slow?ms=5000", 20) for _ in range(4)]
        wait_until(lambda: app.stats()["in_flight"] == 4, timeout=5, what="A's four requests at the backend")
        r = get(b.url + "/hello")
        assert_json_error(r, 503, "queue_full", route="api")  # the limit is global
        assert "retry-after" in r.headers
        assert int(redis.cli("ZCARD", key)) == 4

        a.stop(signal.SIGKILL)
        killed = time.monotonic()
        codes = []

        def b_admits():
            code = timed(b.url + "/hello", 5)[0]
            codes.append(code)
            return code == 200

        wait_until(b_admits, timeout=lease + 3.0, interval=0.1, what="B to admit after A's slot leases ran out")
        took = time.monotonic() - killed
        print(f"\nkilled instance: B admitted {took:.2f}s after A's SIGKILL (slot_lease {lease}s); B saw {codes}")
        assert set(codes) <= {200, 503}, codes
        for h in holders:
            h.result()  # A's clients got a connection error; nothing to check
    finally:
        pool.shutdown(wait=True)
    # all four of A's slots expired, not just one
    results = fire_at_once(4, lambda i: timed(b.url + "/slow?ms=300")[0])
    assert results == [200] * 4, results
    wait_until(lambda: int(redis.cli("ZCOUNT", key, str(redis.time_ms()), "+inf")) == 0, timeout=2, what="no live slot left")


def test_an_instance_under_steady_load_lets_another_have_its_share(redis, make_backend, start_sluice):
    """A hands each freed slot straight to its own next waiter, so under steady load it would keep
    every slot of the limit forever and B's waiters would only time out. Told by Redis that B
    waits, A gives back what it holds above its share (limit / instances) and B gets slots while
    A's load goes on."""
    app = make_backend("tornado")
    policy = config(redis_yaml(redis.address, on_error="deny", instances=2),
                    route(body=conc(2, size=20, qtimeout="10s"), timeout="30s"))
    a, b = start_sluice(policy, upstream=app.address), start_sluice(policy, upstream=app.address)
    load = BackToBack()
    try:
        load.add("a", a.url + "/slow?ms=100", 4)
        wait_until(lambda: len(load.out) >= 10, timeout=10, what="A's requests flowing")
        b_started = time.monotonic()
        load.add("b", b.url + "/slow?ms=100", 4)
        time.sleep(4.0)
        stopped = time.monotonic()
    finally:
        load.stop()
    during = [(n, c) for n, c, at in load.out if b_started <= at < stopped]
    a_ok, b_ok = during.count(("a", 200)), during.count(("b", 200))
    st = app.stats()
    print(f"\nshares while both were loaded: A {a_ok} answered, B {b_ok}; backend {st}")
    assert st["max_in_flight"] <= 2, st
    assert set(load.codes()) <= {200}, statuses_of(load.codes())
    # a share of 1 slot each, 100 ms a request: about 10/s each; B must not wait for A to stop
    assert b_ok >= 8 and a_ok >= 8, (a_ok, b_ok)
    for s in (a, b):
        wait_until(lambda: s.metric("sluice_in_flight", route="api") == 0, what="in_flight back to 0")


def test_a_slot_redis_lost_is_not_passed_on(redis, make_backend, start_sluice):
    """FLUSHALL (like a restart without persistence) drops the slot A keeps handing from request to
    request in its room; A's next renewal learns it, so A stops passing it on and acquires anew.
    Without that, A would run on a slot Redis no longer counts, next to the one its room's poll or
    B gets: two in flight for good with a limit of 1."""
    app = make_backend("tornado")
    policy = config(redis_yaml(redis.address, on_error="deny", instances=2, slot_lease="1500ms"),
                    route(body=conc(1, size=10, qtimeout="10s"), timeout="20s"))
    a, b = start_sluice(policy, upstream=app.address), start_sluice(policy, upstream=app.address)
    key = "sluice:{api:concurrency:_route}"
    load = BackToBack()
    try:
        load.add("a", a.url + "/slow?ms=100", 3, timeout=15)
        wait_until(lambda: len(load.out) >= 5, timeout=10, what="A's requests flowing")
        assert int(redis.cli("ZCARD", key)) == 1
        assert redis.cli("FLUSHALL").strip() == "OK"
        # Until A's next renewal (every 0.5 s) finds its slot gone, any acquire gets a second slot
        # (A's own room polls); from then on A stops passing the lost one on.
        wait_until(lambda: int(redis.cli("ZCARD", key)) == 1, timeout=5, what="A's new slot in redis")
        time.sleep(1.5)
        app.reset_peak()
        load.add("b", b.url + "/slow?ms=100", 3, timeout=15)
        time.sleep(3.0)
    finally:
        load.stop()
    codes = load.codes()
    st = app.stats()
    print(f"\nslot lost to FLUSHALL: codes {statuses_of(codes)}, backend {st}")
    assert st["max_in_flight"] == 1, st
    assert set(codes) <= {200, 503} and codes.count(200) > 10, statuses_of(codes)
    for s in (a, b):
        wait_until(lambda: s.metric("sluice_in_flight", route="api") == 0, what="in_flight back to 0")


# ---------------------------------------------------------------------------------------------
# Redis unavailable: on_error


def test_redis_down_on_error_local_enforces_the_instance_share(redis, app, start_sluice):
    policy = config(
        redis_yaml(redis.address, on_error="local", instances=2),
        route("conc", conc(4, size=0), timeout="10s", match="{path_prefix: /slow}"),
        route("rl", rate_limits(("g", "40/s", 4))),
    )
    s = start_sluice(policy, upstream=app.address)
    wait_until(lambda: redis_up(s) == 1, timeout=5, what="sluice_redis_up == 1")
    assert get(s.url + "/slow?ms=10").status_code == 200
    assert get(s.url + "/hello").status_code == 200

    redis.kill()
    wait_redis_down(s, s.url + "/hello")
    before = fallbacks(s, "local")

    # concurrency: ceil(4 / 2) = 2 locally
    app.reset()
    results = fire_at_once(6, lambda i: timed(s.url + "/slow?ms=800"))
    codes = sorted(c for c, _, _ in results)
    assert codes == [200, 200, 503, 503, 503, 503], codes
    assert app.stats()["max_in_flight"] == 2, app.stats()
    assert fallbacks(s, "local") >= before + 6

    # rate: 40/s / 2 = 20/s locally
    out = hammer([s.url + "/hello"], 2.5, threads_per_url=2)
    counts = statuses(out)
    oks = [r for r in out if r.status == 200]
    elapsed = max(r.recv for r in oks) - min(r.sent for r in out)
    print(f"\nlocal fallback rate: {counts} in {elapsed:.2f}s; 20/s share -> {20 * elapsed:.1f} + burst")
    assert set(counts) <= {200, 429}, counts
    assert 0.9 * 20 * elapsed <= len(oks) <= 1.01 * 20 * elapsed + 4 + 4 + 2, (len(oks), elapsed)
    s.assert_running()


def test_redis_down_on_error_allow_admits(redis, app, start_sluice):
    s = start_sluice(
        config(redis_yaml(redis.address, on_error="allow", instances=3), route(body=rate_limits(("g", "1/m", 1)))),
        upstream=app.address,
    )
    wait_until(lambda: redis_up(s) == 1, timeout=5, what="sluice_redis_up == 1")
    assert get(s.url + "/hello").status_code == 200
    assert get(s.url + "/hello").status_code == 429
    redis.kill()
    wait_redis_down(s)
    before = fallbacks(s, "allow")
    codes = [get(s.url + "/hello").status_code for _ in range(10)]
    assert codes == [200] * 10, codes
    assert fallbacks(s, "allow") >= before + 10
    assert fallbacks(s, "deny") == 0 and fallbacks(s, "local") == 0


@pytest.mark.parametrize("mode", ["local", "allow", "deny"])
def test_unreachable_redis_at_start(mode, app, start_sluice):
    port = free_port()  # nothing listens there
    s = start_sluice(
        config(redis_yaml(f"127.0.0.1:{port}", on_error=mode, instances=3), route(body=rate_limits(("g", "300/s", 30)))),
        upstream=app.address,
    )
    line = wait_until(lambda: stderr_line(s, "refused", "error", "unavailable", "unreachable", "down", "fail", "cannot"), timeout=5,
                      what="a diagnostic about redis on stderr")
    print(f"\nstderr ({mode}): {line}")
    status, body = readyz(s)
    assert body["redis"]["up"] is False, body
    assert isinstance(body["redis"]["error"], str) and body["redis"]["error"], body
    if mode != "deny":
        assert status == 200, (status, body)
    assert redis_up(s) == 0
    assert redis_errors(s, "connect") > 0

    for _ in range(5):
        r = get(s.url + "/hello")
        if mode == "deny":
            assert_json_error(r, 503, "redis_unavailable", route="api", forbid=(f"127.0.0.1:{port}",))
            assert int(r.headers["retry-after"]) >= 1, r.headers
        else:
            assert r.status_code == 200, (r.status_code, r.text)
    assert fallbacks(s, mode) >= 5
    s.assert_running()


def test_redis_host_names_are_resolved_off_the_event_loop(redis, app, start_sluice):
    """A host name is looked up (at each connect) on a resolver thread, not by hiredis on the
    event loop: a name that resolves connects; one that does not is a clear error while requests
    go on being served under on_error."""
    s = start_sluice(config(redis_yaml(f"localhost:{redis.port}", on_error="deny"), route(body=rate_limits(("g", "1/m", 1)))),
                     upstream=app.address)
    wait_until(lambda: redis_up(s) == 1, timeout=5, what="the connection through the name localhost")
    assert get(s.url + "/hello").status_code == 200
    assert get(s.url + "/hello").status_code == 429  # the bucket is in Redis
    assert redis.keys("sluice:*")

    bad = start_sluice(config(redis_yaml("no-such-host.invalid:6379", on_error="allow"), route(body=rate_limits(("g", "1/m", 1)))),
                       upstream=app.address)
    wait_until(lambda: redis_errors(bad, "connect") > 0, timeout=5, what="a failed lookup")
    status, body = readyz(bad)
    assert status == 200 and body["redis"]["up"] is False, body
    assert "no-such-host.invalid" in body["redis"]["error"] and "resolve" in body["redis"]["error"], body
    # reconnects keep looking the name up; requests are answered all the while (allow)
    slowest = max(timed(bad.url + "/hello")[1] for _ in range(20))
    assert slowest < 2.0, slowest
    assert fallbacks(bad, "allow") >= 20
    bad.assert_running()


def test_wrong_password_starts_reports_and_falls_back(app, start_sluice):
    r = RedisServer(password="right-horse-battery")
    try:
        s = start_sluice(
            config(redis_yaml(r.address, on_error="local", password="wrong-staple"), route(body=rate_limits(("g", "300/s", 30)))),
            upstream=app.address,
        )
        line = wait_until(lambda: stderr_line(s, "wrongpass", "invalid password", "auth"), timeout=5,
                          what="an auth error about redis on stderr")
        print(f"\nstderr: {line}")
        status, body = readyz(s)
        assert status == 200, (status, body)
        assert body["redis"]["up"] is False, body
        assert isinstance(body["redis"]["error"], str) and body["redis"]["error"], body
        for _ in range(5):
            assert get(s.url + "/hello").status_code == 200
        assert redis_up(s) == 0
        assert redis_errors(s, "auth") > 0
        assert fallbacks(s, "local") >= 5
        assert r.keys("*") == []
        s.assert_running()
    finally:
        r.stop()


def test_right_password_from_the_environment(app, start_sluice):
    r = RedisServer(password="right-horse-battery")
    try:
        s = start_sluice(
            config(redis_yaml(r.address, on_error="deny", password="${REDIS_PASSWORD}"), route(body=rate_limits(("g", "1/m", 1)))),
            upstream=app.address,
            env={"REDIS_PASSWORD": "right-horse-battery"},
        )
        wait_until(lambda: redis_up(s) == 1, timeout=5, what="sluice_redis_up == 1")
        status, body = readyz(s)
        assert status == 200 and body["redis"]["up"] is True, (status, body)
        assert get(s.url + "/hello").status_code == 200
        assert get(s.url + "/hello").status_code == 429
        assert any(k.startswith("sluice:{api:g:_route}") for k in r.keys("*")), r.keys("*")
        assert redis_errors(s, "auth") == 0
    finally:
        r.stop()


# ---------------------------------------------------------------------------------------------
# Redis dies, restarts, stalls


def test_redis_killed_under_load_and_restarted(redis, app, start_sluice):
    s = start_sluice(
        config(
            redis_yaml(redis.address, on_error="local", instances=1, timeout="25ms"),
            route(body=conc(16, size=32, qtimeout="1s") + rate_limits(("g", "300/s", 50)), timeout="2s"),
        ),
        upstream=app.address,
    )
    wait_until(lambda: redis_up(s) == 1, timeout=5, what="sluice_redis_up == 1")
    done = threading.Event()
    out, lock = [], threading.Lock()

    def load():
        with requests.Session() as sess:
            while not done.is_set():
                started = time.monotonic()
                try:
                    code = sess.get(s.url + "/hello", timeout=10).status_code
                except requests.RequestException as e:
                    code = type(e).__name__
                with lock:
                    out.append((code, time.monotonic() - started))

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: redis.keys("sluice:*"), timeout=5, what="sluice's keys in redis")
        n = len(out)
        wait_until(lambda: len(out) >= n + 50, timeout=10, what="load before the kill")

        redis.kill()
        killed = time.monotonic()
        wait_until(lambda: redis_up(s) == 0, timeout=5, interval=0.05, what="sluice_redis_up == 0 after the kill")
        down_after = time.monotonic() - killed
        n = len(out)
        wait_until(lambda: len(out) >= n + 50, timeout=10, what="load while redis is down")
        errors_while_down = redis_errors(s)

        redis.restart()
        restarted = time.monotonic()
        wait_until(lambda: redis_up(s) == 1, timeout=4, interval=0.05, what="sluice_redis_up == 1 after the restart")
        up_after = time.monotonic() - restarted
        wait_until(lambda: redis.keys("sluice:*"), timeout=4, what="sluice's keys in the restarted redis")
        n = len(out)
        wait_until(lambda: len(out) >= n + 50, timeout=10, what="load after the restart")
    finally:
        done.set()
        for t in threads:
            t.join()
    codes = {}
    for c, _ in out:
        codes[c] = codes.get(c, 0) + 1
    slowest = max(t for _, t in out)
    print(f"\nredis kill/restart: {codes}; down seen after {down_after:.2f}s, up again {up_after:.2f}s after restart; "
          f"slowest request {slowest:.3f}s")
    assert set(codes) <= {200, 429}, codes
    assert slowest < 2.5, slowest
    assert errors_while_down > 0
    assert fallbacks(s, "local") > 0
    s.assert_running()


def test_slow_redis_never_holds_a_request_much_past_the_timeout(redis, app, start_sluice):
    s = start_sluice(
        config(
            redis_yaml(redis.address, on_error="local", instances=1, timeout="50ms"),
            route(body=conc(20, size=20, qtimeout="2s") + rate_limits(("g", "10/s", 5)), timeout="5s"),
        ),
        upstream=app.address,
    )
    wait_until(lambda: redis_up(s) == 1, timeout=5, what="sluice_redis_up == 1")
    assert get(s.url + "/hello").status_code == 200
    fb0, timeouts0 = fallbacks(s, "local"), redis_errors(s, "timeout")

    sleeper = redis.cli_background("DEBUG", "SLEEP", "2")
    asleep = time.monotonic()
    try:
        wait_until(lambda: not redis.ping(timeout=0.05), timeout=1, interval=0.01, what="redis to be asleep")
        results = []

        def client():
            while time.monotonic() < asleep + 1.6:
                results.append(timed(s.url + "/hello", 10)[:2])

        ts = [threading.Thread(target=client) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    finally:
        out, err = sleeper.communicate(timeout=10)
    assert out.strip() == b"OK", (out, err)
    slowest = max(t for _, t in results)
    codes = {c for c, _ in results}
    print(f"\nDEBUG SLEEP 2: {len(results)} requests during the sleep, codes {codes}, slowest {slowest:.3f}s")
    assert codes <= {200, 429}, results
    assert slowest < 1.0, slowest
    assert fallbacks(s, "local") > fb0
    assert redis_errors(s, "timeout") > timeouts0
    wait_until(lambda: redis_up(s) == 1, timeout=5, interval=0.05, what="sluice_redis_up == 1 after the sleep")
    s.assert_running()


# ---------------------------------------------------------------------------------------------
# cost


def test_leasing_needs_far_fewer_than_one_command_per_request(redis, app, start_sluice):
    s = start_sluice(
        config(redis_yaml(redis.address, on_error="deny", instances=1), route(body=rate_limits(("g", "5000/s", 500)))),
        upstream=app.address,
    )
    wait_until(lambda: redis_up(s) == 1, timeout=5, what="sluice_redis_up == 1")
    for _ in range(20):  # steady state: connection up, scripts loaded
        assert get(s.url + "/hello").status_code == 200
    cmds0 = msum(s, "sluice_redis_commands_total")
    rtt0 = msum(s, "sluice_redis_roundtrip_seconds_count")
    redis.cli("CONFIG", "RESETSTAT")

    n = 1000
    with requests.Session() as sess0, requests.Session() as sess1:
        sessions = [sess0, sess1]
        codes = fire_at_once(2, lambda i: [sessions[i].get(s.url + "/hello", timeout=10).status_code for _ in range(n // 2)])
    codes = [c for part in codes for c in part]
    stats = redis.commandstats()
    ours = {"config", "info"}
    sent = sum(calls for cmd, calls in stats.items() if cmd not in ours)
    per_request = sent / n
    print(f"\ncommands per request: {sent} / {n} = {per_request:.3f}  ({stats})")
    assert codes == [200] * n, {c: codes.count(c) for c in set(codes)}
    assert per_request < 0.5, (per_request, stats)

    text = s.metrics_text()
    assert "# TYPE sluice_redis_roundtrip_seconds histogram" in text
    assert msum(s, "sluice_redis_commands_total") > cmds0
    assert msum(s, "sluice_redis_roundtrip_seconds_count") > rtt0
    assert all_fallbacks(s) == 0


# ---------------------------------------------------------------------------------------------
# reload


def test_reload_moves_global_limits_to_another_redis_and_back_to_local(redis, app, start_sluice):
    other = RedisServer()
    try:
        body = route(body=rate_limits(("g", "1/m", 1)))
        s = start_sluice(config(redis_yaml(redis.address, on_error="deny"), body), upstream=app.address)
        assert get(s.url + "/hello").status_code == 200
        assert get(s.url + "/hello").status_code == 429
        assert redis.keys("sluice:*")

        def reload(text):
            reload_sluice(s, app, text)

        # another Redis: a new connection, the bucket there is full
        reload(config(redis_yaml(other.address, on_error="deny"), body))
        wait_until(lambda: redis_up(s) == 1, timeout=5, what="the connection to the new redis")
        assert get(s.url + "/hello").status_code == 200
        assert get(s.url + "/hello").status_code == 429
        assert other.keys("sluice:*")

        # no redis: block any more: the limit is local, no Redis metrics, /readyz without redis
        reload(HEAD + esc('upstreams:\n  app: {address: "@U@"}\nroutes:\n  - name: api\n    upstream: app\n'
                          "    rate_limits: [{name: g, rate: 1/m, burst: 1}]\n").replace("@U@", "{upstream}"))
        assert get(s.url + "/hello").status_code == 200
        assert get(s.url + "/hello").status_code == 429
        assert "sluice_redis_up" not in s.metrics_text()
        status, body_json = readyz(s)
        assert status == 200 and "redis" not in body_json, body_json
        s.assert_running()
    finally:
        other.stop()


def test_reload_of_timeout_and_password_keeps_the_connection(redis, app, start_sluice):
    """A reload that changes only redis.timeout and the password keeps the connection, so nothing
    queued on it is lost; the timeout applies at once, the password at the next connection. An
    acquire that times out is taken back in Redis once it runs there."""
    body = route(body=conc(5, size=0))
    s = start_sluice(config(redis_yaml(redis.address, on_error="deny", timeout="2s"), body), upstream=app.address)
    wait_until(lambda: redis_up(s) == 1, timeout=5, what="sluice_redis_up == 1")
    assert get(s.url + "/hello").status_code == 200
    clients = redis_client_ids(redis)
    assert len(clients) == 1, redis.cli("CLIENT", "LIST")

    # this Redis has no password: the new one is only tried at the next connection
    reload_sluice(s, app, config(redis_yaml(redis.address, on_error="deny", timeout="100ms", password="rotated"), body))
    assert redis_client_ids(redis) == clients, redis.cli("CLIENT", "LIST")
    assert redis_up(s) == 1

    # the new 100 ms bound applies: with the old 2 s, the request would wait out the sleep and pass
    timeouts = redis_errors(s, "timeout")
    sleeper = redis.cli_background("DEBUG", "SLEEP", "1")
    try:
        time.sleep(0.2)
        r = get(s.url + "/hello")
        assert_json_error(r, 503, "redis_unavailable", route="api")
        assert redis_errors(s, "timeout") == timeouts + 1
    finally:
        sleeper.wait(10)
    # the acquire ran once Redis woke up; the ZREM sent behind it took the slot back
    key = "sluice:{api:concurrency:_route}"
    wait_until(lambda: int(redis.cli("ZCARD", key)) == 0, timeout=3, what="the timed-out acquire's slot to go")
    assert get(s.url + "/hello").status_code == 200

    # the next connection authenticates with the reloaded password, which this Redis refuses
    auth_errors = redis_errors(s, "auth")
    redis.cli("CLIENT", "KILL", "ID", next(iter(clients)).split("=")[1])
    wait_until(lambda: redis_errors(s, "auth") > auth_errors, timeout=5, what="an AUTH refusal")
    assert redis_up(s) == 0
    assert readyz(s)[1]["redis"]["up"] is False
    s.assert_running()


def test_reload_to_another_database_leaves_no_kept_slot_behind(redis, app, start_sluice):
    """A slot kept for reuse (20 ms after its request) when a reload moves to another database
    is released in the old one: its ZREM is written before the old connection closes."""
    body = route(body=conc(5, size=0))
    s = start_sluice(config(redis_yaml(redis.address, on_error="deny", slot_lease="60s"), body), upstream=app.address)
    wait_until(lambda: redis_up(s) == 1, timeout=5, what="sluice_redis_up == 1")
    key = "sluice:{api:concurrency:_route}"
    text = config(redis_yaml(redis.address, on_error="deny", slot_lease="60s", database=1), body)
    s.config.write_text(text.format(listen=f"127.0.0.1:{s.port}", admin=f"127.0.0.1:{s.admin_port}", upstream=app.address))
    count = s.stderr_text().count("reloaded")
    assert get(s.url + "/hello").status_code == 200
    s.proc.send_signal(signal.SIGHUP)  # at once, while the slot is likely still kept
    wait_until(lambda: s.stderr_text().count("reloaded") > count, timeout=5, what="the reload")
    wait_until(lambda: redis_up(s) == 1, timeout=5, what="the connection to database 1")
    assert int(redis.cli("-n", "0", "ZCARD", key)) == 0  # not left for its 60 s lease
    with ThreadPoolExecutor(1) as pool:
        holder = pool.submit(timed, s.url + "/slow?ms=1000")
        wait_until(lambda: app.stats()["in_flight"] == 1, timeout=5, what="a request at the backend")
        assert int(redis.cli("-n", "1", "ZCARD", key)) == 1  # the slot is in database 1 now
        assert holder.result()[0] == 200


def test_slots_held_across_a_reload_to_another_database_are_released_there(redis, app, start_sluice):
    """Requests that hold slots when a reload moves to another database finish under the old
    config: their slots are renewed and released in the old database (by the old connection,
    kept for one slot_lease), not left there until their lease runs out."""
    body = route(body=conc(5, size=0), timeout="20s")
    old = config(redis_yaml(redis.address, on_error="deny", slot_lease="4s"), body)
    s = start_sluice(old, upstream=app.address)
    wait_until(lambda: redis_up(s) == 1, timeout=5, what="sluice_redis_up == 1")
    key = "sluice:{api:concurrency:_route}"
    with ThreadPoolExecutor(1) as pool:
        holder = pool.submit(timed, s.url + "/slow?ms=2000")
        wait_until(lambda: app.stats()["in_flight"] == 1, timeout=5, what="the request at the backend")
        assert int(redis.cli("-n", "0", "ZCARD", key)) == 1
        reload_sluice(s, app, config(redis_yaml(redis.address, on_error="deny", slot_lease="4s", database=1), body))
        wait_until(lambda: redis_up(s) == 1, timeout=5, what="the connection to database 1")
        assert get(s.url + "/hello").status_code == 200  # new requests: database 1
        assert holder.result()[0] == 200
    # released in database 0 as the request ended (its lease there had seconds left)
    wait_until(lambda: int(redis.cli("-n", "0", "ZCARD", key)) == 0, timeout=1, what="the old slot released")
    assert len(redis_client_ids(redis)) == 2  # the old connection, kept for one slot_lease
    assert redis_up(s) == 1
    wait_until(lambda: len(redis_client_ids(redis)) == 1, timeout=8, what="the old connection closed")
    assert redis_up(s) == 1 and get(s.url + "/hello").status_code == 200
    s.assert_running()
