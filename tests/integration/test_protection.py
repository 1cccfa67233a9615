"""The protections of the threat analyses, against the real Tornado and FastAPI apps: multi-key
concurrency from the JSON body (per: [json:from, json:to]) serialises transfers that share an
account, so none is lost and opposite transfers cannot deadlock (over HTTP/1.1 the body is read
before admission); nested limits keep one client's hung requests from taking the route; and
hold_aborted keeps counting work the app still does after its client got a 504."""
import json
import random
import time
import uuid

import requests

from harness import fire_at_once, policy, wait_until

TRANSFER_LIMIT = "    concurrency: {limit: 1, per: [json:from, json:to], queue: {size: 100, timeout: 20s}}\n"


def transfer(url, src, dst, lock=False):
    body = json.dumps({"from": src, "to": dst, "amount": 1, "lock": lock})
    return requests.post(url + "/transfer", data=body, headers={"Content-Type": "application/json"}, timeout=30)


def balance(url, account):
    return requests.get(url + f"/racy?key={account}", timeout=5).json()["count"]


def test_transfers_sharing_an_account_are_never_lost_nor_deadlocked(backend, start_sluice):
    accounts = [f"acct-{uuid.uuid4().hex[:8]}-{i}" for i in range(3)]
    moves = [(accounts[i % 3], accounts[(i + 1 + i % 2) % 3]) for i in range(24)]
    random.Random(7).shuffle(moves)
    direct = f"http://127.0.0.1:{backend.port}" if backend.port else None
    if direct:
        # without a gate: opposite transfers that lock their accounts in order deadlock (the app
        # gives up after 2 s with a 500), and overlapping ones lose updates
        codes = [r.status_code for r in fire_at_once(2, lambda i: transfer(direct, accounts[i], accounts[1 - i], lock=True))]
        assert 500 in codes, codes
        # the moves net to zero, so any balance left is a lost update; on two loaded cores one
        # round of 24 may happen not to overlap within the handler's 5 ms window: up to 5 rounds
        for _ in range(5):
            fire_at_once(len(moves), lambda i: transfer(direct, *moves[i]))
            if any(balance(direct, a) != 0 for a in accounts):
                break
        assert any(balance(direct, a) != 0 for a in accounts), "no update was lost without a gate"
        accounts = [a + "-gated" for a in accounts]
        moves = [(a + "-gated", b + "-gated") for a, b in moves]

    s = start_sluice(policy(TRANSFER_LIMIT, timeout="30s"), upstream=backend.address)
    results = fire_at_once(len(moves), lambda i: transfer(s.url, *moves[i], lock=True))
    assert [r.status_code for r in results] == [200] * len(moves), [r.text[:100] for r in results if r.status_code != 200]
    expected = {a: 0 for a in accounts}
    for src, dst in moves:
        expected[src] -= 1
        expected[dst] += 1
    assert {a: balance(s.url, a) for a in accounts} == expected
    # one slot per account, read from the body (over HTTP/1.1: read before admission), not one
    # shared `_missing` key
    (limit,) = requests.get(s.admin_url + "/limits", timeout=5).json()["routes"][0]["concurrency"]
    assert limit["per"] == "[json:from, json:to]" and limit["keys"] >= 3, limit


def test_a_client_with_hung_requests_leaves_others_their_place(backend, start_sluice):
    s = start_sluice(policy("""    concurrency:
      - {name: per-client, limit: 2, per: "header:X-Client", queue: {size: 0}}
      - {name: route, limit: 4, queue: {size: 8, timeout: 5s}}
""", timeout="10s"), upstream=backend.address)
    backend.reset()

    def one(i):
        if i < 8:  # the hog: eight slow requests at once
            return requests.get(s.url + "/slow?ms=2500", headers={"X-Client": "hog"}, timeout=30).status_code
        time.sleep(0.5)
        started = time.monotonic()
        code = requests.get(s.url + "/hello", headers={"X-Client": f"user-{i}"}, timeout=30).status_code
        return code, time.monotonic() - started

    out = fire_at_once(12, one)
    hog, users = out[:8], out[8:]
    assert hog.count(200) == 2 and hog.count(503) == 6, hog  # two places for the hog, the rest refused
    assert all(code == 200 and took < 1.5 for code, took in users), users
    assert backend.stats()["max_in_flight"] <= 4


def test_hold_aborted_counts_the_work_the_app_still_does(backend, start_sluice):
    held = "    concurrency: {limit: 1, queue: {size: 4, timeout: 10s}, hold_aborted: 10s}\n"
    s = start_sluice(policy(held, timeout="400ms"), upstream=backend.address)
    backend.reset()
    started = time.monotonic()
    assert requests.get(s.url + "/slow?ms=1500", timeout=5).status_code == 504
    assert s.metric("sluice_aborted_in_flight", route="api") == 1
    # the app still runs the first: the next waits for it instead of running beside it (it
    # times out too, after its 400 ms waiting)
    assert requests.get(s.url + "/hello", timeout=5).status_code == 504
    wait_until(lambda: s.metric("sluice_aborted_in_flight", route="api") == 0, timeout=5, what="the held work done")
    assert time.monotonic() - started >= 1.4
    assert requests.get(s.url + "/hello", timeout=5).status_code == 200
    assert backend.stats()["max_in_flight"] == 1

    # without hold_aborted the slot is freed at the 504: the next request runs at once, beside
    # the work the app still does for the first
    s2 = start_sluice(policy("    concurrency: {limit: 1, queue: {size: 4, timeout: 10s}}\n", timeout="400ms"),
                      upstream=backend.address)
    assert requests.get(s2.url + "/slow?ms=1500", timeout=5).status_code == 504
    started = time.monotonic()
    assert requests.get(s2.url + "/hello", timeout=5).status_code == 200
    assert time.monotonic() - started < 0.5
    assert s2.metric("sluice_aborted_in_flight", route="api") == 0


def test_a_fair_route_wide_rate_limit_keeps_the_share_of_a_modest_client(tornado_backend, start_sluice):
    """rate 40/s for the route, 16 greedy client addresses hammering it, one client asking 2/s:
    with fair: client_ip the modest client gets (nearly) everything it asks, without it next to
    nothing; the route still passes no more than its rate. (Admission alone: one app is enough.)"""
    import http.client
    import threading

    def attack(s, stop, counts, lock):
        def one(i):
            conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5, source_address=(f"127.0.0.{2 + i}", 0))
            n = 0
            while not stop.is_set():
                conn.request("GET", "/hello")
                resp = conn.getresponse()
                resp.read()
                n += resp.status == 200
            conn.close()
            with lock:
                counts.append(n)

        return [threading.Thread(target=one, args=(i,)) for i in range(16)]

    def modest(s, seconds):
        ok = total = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5, source_address=("127.0.0.100", 0))
            conn.request("GET", "/hello")
            resp = conn.getresponse()
            resp.read()
            conn.close()
            ok += resp.status == 200
            total += 1
            time.sleep(0.5)
        return ok, total

    results = {}
    for fair in ("", ", fair: client_ip"):
        s = start_sluice(policy(f"    rate_limits: [{{name: route, rate: 40/s, burst: 20{fair}}}]\n"), upstream=tornado_backend.address)
        stop, counts, lock = threading.Event(), [], threading.Lock()
        threads = attack(s, stop, counts, lock)
        for t in threads:
            t.start()
        time.sleep(1.0)  # the attack has drained the bucket
        ok, total = modest(s, 4.0)
        stop.set()
        for t in threads:
            t.join()
        results[fair] = (ok, total, sum(counts))
    ok, total, greedy = results[", fair: client_ip"]
    assert ok >= total - 1, results
    assert greedy + ok <= 40 * 6 + 20 + 10, results  # the route never passed more than its rate
    ok_unfair, total_unfair, _ = results[""]
    assert ok_unfair <= total_unfair // 2, results  # without fair, the greedy ones take it
