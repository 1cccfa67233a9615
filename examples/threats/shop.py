"""The deliberately vulnerable shop behind both threat demo apps (tornado_shop.py and
fastapi_shop.py), without any web framework: each coroutine below is one classic failure of
async Python backends, written the way it is usually written by mistake. The two apps only
adapt it to HTTP, and add the failures that belong to a framework (Tornado's debug page,
FastAPI's sync handlers on anyio's thread pool).

Every operation returns (status, JSON-able dict). `Shop.stats()` is the instrumentation both
apps serve at GET /_threats/stats: live and peak handlers, tasks, fds, RSS, busy pool threads,
and the damage done (lost updates, double spends, oversold stock, coupon double credits,
deadlocked handlers, leaked fds).

With `honest=True` the app honours sluice's `X-Request-Timeout-Ms`: every handler runs under
asyncio.wait_for with that budget (and a blocking call is given it as its own timeout), so a
request that sluice has given up on stops inside the app too: no zombie handlers, no locks held
forever. Without the header (a direct client), an honest app is as unbounded as the other."""
import argparse
import asyncio
import collections
import json
import os
import resource
import threading
import time

# Secrets that an error path must never show; the threat runner looks for them in responses.
API_KEY = "sk_live_threatdemo_51HxQ9a7Kq2Lm"
DB_PASSWORD = "hunter2-Pr0d-DB!"
DB_DSN = f"postgresql://shop:{DB_PASSWORD}@db.internal:5432/shop"
SECRETS = (API_KEY, DB_PASSWORD)

INITIAL_BALANCE = 100
INITIAL_STOCK = 5  # of every item, on first sight
COUPON_CREDIT = 50
STUCK_AFTER_S = 2.0  # a handler alive longer than this is counted as stuck
DEADLOCK_AFTER_S = 1.0  # a transfer waiting this long for its second lock is counted as deadlocked
BACKGROUND_S = 3.0  # how long each background job of /api/spawn lives
BACKGROUND_BYTES = 64 * 1024  # what each one holds meanwhile


class Timeout(Exception):
    """The X-Request-Timeout-Ms budget ran out inside an honest app (answered 504)."""


class PaymentError(Exception):
    pass


def budget_s(header_value):
    """Seconds left from an X-Request-Timeout-Ms value (50 ms kept to answer), or None."""
    if header_value and header_value.isdigit():
        return max(int(header_value) / 1000 - 0.05, 0.001)
    return None


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds():
    return len(os.listdir("/proc/self/fd"))


class Shop:
    def __init__(self, honest=False):
        self.honest = honest
        self._thread_lock = threading.Lock()
        self.reset()

    def reset(self):
        """Fresh accounts, stock, coupons and counters; leaked fds are closed. Handlers still
        stuck from before keep running (they are no longer counted)."""
        for fd in getattr(self, "leaked", []):
            os.close(fd)
        self.balances = collections.defaultdict(lambda: INITIAL_BALANCE)
        self.ledger = collections.defaultdict(lambda: INITIAL_BALANCE)  # what acknowledged operations add up to
        self.lost_updates = 0  # writes that overwrote a balance changed since it was read
        self.double_spends = 0
        self.stock = collections.defaultdict(lambda: INITIAL_STOCK)
        self.sold = collections.Counter()
        self.coupons_used = set()
        self.coupon_credits = collections.Counter()
        self.locks = collections.defaultdict(asyncio.Lock)
        self.waiting_second_lock = {}  # transfer -> since
        self.handlers = {}  # handler id -> (name, since)
        self.background = set()
        self.pending_replies = []  # futures of /api/hang, waiting for replies that never come
        self.leaked = []
        self.threads_busy = 0
        self.requests = 0
        self.timeouts_honoured = 0
        self.peak = collections.Counter()
        self._next_id = 0
        self.sample()

    # ---- instrumentation
    def sample(self):
        """Updates the peaks (called by the apps every 50 ms and at every stats read)."""
        now = {"in_flight": len(self.handlers), "tasks": len(asyncio.all_tasks()) if _loop_running() else 0,
               "background_tasks": len(self.background), "fds": open_fds(), "rss_kib": rss_kib(),
               "threads_busy": self.threads_busy}
        for k, v in now.items():
            self.peak[k] = max(self.peak[k], v)
        return now

    def stats(self):
        now = self.sample()
        t = time.monotonic()
        out = dict(now)
        out.update({f"peak_{k}": v for k, v in self.peak.items()})
        out.update({
            "stuck": sum(1 for _, since in self.handlers.values() if t - since > STUCK_AFTER_S),
            "deadlocked": sum(1 for since in self.waiting_second_lock.values() if t - since > DEADLOCK_AFTER_S),
            "lost_updates": self.lost_updates,
            "balance_error": sum(abs(self.ledger[u] - self.balances[u]) for u in set(self.ledger) | set(self.balances)),
            "double_spends": self.double_spends,
            "oversold": sum(max(0, n - INITIAL_STOCK) for n in self.sold.values()),
            "coupon_double_credits": sum(n - 1 for n in self.coupon_credits.values() if n > 1),
            "leaked_fds": len(self.leaked),
            "requests": self.requests,
            "timeouts_honoured": self.timeouts_honoured,
            "honest": self.honest,
        })
        return out

    async def run(self, name, coro, budget):
        """Runs one handler's coroutine, counted as live while it runs (however it ends). An
        honest app bounds it by the request's budget."""
        hid = self._enter(name)
        try:
            if self.honest and budget is not None:
                try:
                    return await asyncio.wait_for(coro, budget)
                except asyncio.TimeoutError:
                    self.timeouts_honoured += 1
                    raise Timeout(f"{name}: request budget of {budget:.3f}s spent")
            return await coro
        finally:
            self._leave(hid)

    def blocking(self, name, seconds, budget):
        """A blocking call (a sync DB driver, a CPU-bound step) on a pool thread: it holds the
        thread for `seconds`. An honest app passes its budget down as the call's own timeout
        (wait_for cannot stop a thread)."""
        if self.honest and budget is not None:
            seconds = min(seconds, budget)
        with self._thread_lock:
            self.threads_busy += 1
            self.peak["threads_busy"] = max(self.peak["threads_busy"], self.threads_busy)
        hid = self._enter(name)
        try:
            time.sleep(seconds)
        finally:
            self._leave(hid)
            with self._thread_lock:
                self.threads_busy -= 1
        return 200, {"slept_ms": round(seconds * 1000)}

    def _enter(self, name):
        with self._thread_lock:
            self._next_id += 1
            hid = self._next_id
            self.requests += 1
            self.handlers[hid] = (name, time.monotonic())
            self.peak["in_flight"] = max(self.peak["in_flight"], len(self.handlers))
        return hid

    def _leave(self, hid):
        with self._thread_lock:
            self.handlers.pop(hid, None)

    # ---- races on shared state
    async def deposit(self, user, amount):
        """Lost update: read, await (the database round trip), write what was read + amount."""
        balance = self.balances[user]
        await asyncio.sleep(0.01)
        self.lost_updates += self.balances[user] != balance
        self.balances[user] = balance + amount
        self.ledger[user] += amount
        return 200, {"user": user, "balance": self.balances[user]}

    async def withdraw(self, user, amount):
        """Double spend: check the balance, await, then pay out; two withdrawals both pass the check."""
        balance = self.balances[user]
        if balance < amount:
            return 409, {"error": "insufficient funds", "balance": balance}
        await asyncio.sleep(0.01)
        self.lost_updates += self.balances[user] != balance
        self.balances[user] = balance - amount
        if self.ledger[user] < amount:
            self.double_spends += 1  # serialised, this one would have been refused
        self.ledger[user] -= amount
        return 200, {"user": user, "balance": self.balances[user]}

    async def transfer(self, user, to, amount):
        """Deadlock: the sender's lock, then the receiver's. alice->bob and bob->alice at once
        each hold one and wait for the other, forever. And a cross-key lost update: the
        receiver's own deposits (no lock) interleave with the write to `to`."""
        if user == to:
            return 400, {"error": "transfer to self"}
        me = object()
        async with self.locks[user]:
            await asyncio.sleep(0.005)
            self.waiting_second_lock[me] = time.monotonic()
            try:
                await self.locks[to].acquire()
            finally:
                self.waiting_second_lock.pop(me, None)
            try:
                mine, theirs = self.balances[user], self.balances[to]
                await asyncio.sleep(0.01)
                self.lost_updates += (self.balances[user], self.balances[to]) != (mine, theirs)
                self.balances[user], self.balances[to] = mine - amount, theirs + amount
                self.ledger[user] -= amount
                self.ledger[to] += amount
            finally:
                self.locks[to].release()
        return 200, {"from": user, "to": to, "amount": amount}

    async def buy(self, user, item, qty):
        """Check-then-act oversell: every buyer sees the last items in stock before anyone's
        payment (the await) completes."""
        left = self.stock[item]
        if left < qty:
            return 409, {"error": "sold out", "item": item}
        await asyncio.sleep(0.02)  # charge the card
        self.stock[item] = left - qty
        self.sold[item] += qty
        return 200, {"user": user, "item": item, "qty": qty}

    async def redeem(self, user, code):
        """A single-use coupon, credited twice through two accounts: the used-check and the
        marking are separated by an await."""
        if not code.startswith("PROMO-"):
            return 404, {"error": "no such coupon"}
        if code in self.coupons_used:
            return 409, {"error": "coupon already used"}
        await asyncio.sleep(0.02)  # ask the promotions service
        self.coupons_used.add(code)
        self.balances[user] += COUPON_CREDIT
        self.ledger[user] += COUPON_CREDIT
        self.coupon_credits[code] += 1
        return 200, {"user": user, "credited": COUPON_CREDIT}

    # ---- unbounded work, hangs, leaks
    async def spawn(self):
        """Fire-and-forget: a background job per request (a 3 s task holding 64 KiB), never
        bounded; the response comes at once, so nothing upstream sees the work pile up."""

        async def job():
            buf = bytearray(BACKGROUND_BYTES)
            await asyncio.sleep(BACKGROUND_S)
            return len(buf)

        task = asyncio.get_running_loop().create_task(job())
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return 202, {"queued": True, "background": len(self.background)}

    async def hang(self):
        """A code path whose Future nobody ever resolves: it waits in a table of pending replies
        (as an RPC client's) for a reply that was lost. It awaits forever."""
        reply = asyncio.get_running_loop().create_future()
        self.pending_replies.append(reply)
        try:
            await reply
        finally:
            self.pending_replies.remove(reply)
        return 200, {}

    async def ping(self):
        await asyncio.sleep(0.005)
        return 200, {"pong": True}

    async def import_rows(self, rows):
        """An fd leak on an error path: a connection is taken from the 'pool' (an fd) and only
        given back on success; bad input raises before the release."""
        fd = os.open("/dev/null", os.O_RDONLY)
        self.leaked.append(fd)
        n = int(rows)  # ValueError on bad input: fd never released
        await asyncio.sleep(0.002)
        self.leaked.remove(fd)
        os.close(fd)
        return 200, {"imported": n}

    # ---- error paths that talk too much
    async def checkout(self, card):
        """A failure deep inside carries a secret in its message (a 500 with a traceback)."""
        await asyncio.sleep(0.002)
        raise PaymentError(f"payment provider refused card {card!r} for key {API_KEY}")

    async def lookup(self, item_id):
        """Bad input, reported with the query's connection string (a 400)."""
        await asyncio.sleep(0.002)
        try:
            return 200, {"id": int(item_id)}
        except ValueError as e:
            raise LookupError(f"invalid id {item_id!r} in query on {DB_DSN}") from e


def command_line(shop, doc, default_port):
    """The apps' shared command line (--port, --honest, --max-fds): applies the fd limit and
    the honest flag to `shop`, prints the listening line; returns the parsed arguments."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--honest", action="store_true", help="bound every handler by X-Request-Timeout-Ms")
    parser.add_argument("--max-fds", type=int, default=1024, help="the process's fd limit (default 1024)")
    args = parser.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(args.max_fds, hard), hard))
    shop.honest = args.honest
    print(json.dumps({"listening": args.port, "honest": args.honest}), flush=True)
    return args


def _loop_running():
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False
