"""A deliberately vulnerable shop on Tornado (Debian's python3-tornado), for sluice's threat
report (bench/threats). Do not copy its handlers: each one is a classic failure.

  /usr/bin/python3 examples/threats/tornado_shop.py --port 8000 [--honest] [--max-fds 1024]

Binds 127.0.0.1 only. The user is the X-User-Id header (as an auth proxy would set it); bodies
are JSON. The failure each endpoint shows (the code is in shop.py unless said otherwise):

  POST /wallet/deposit  {"amount": n}           lost update: read, await, write
  POST /wallet/withdraw {"amount": n}           double spend: check the balance, await, pay out
  POST /wallet/transfer {"to": u, "amount": n}  deadlock: sender's lock then receiver's, so
                                                alice->bob with bob->alice hangs both forever;
                                                and the receiver's own deposits lose updates
  POST /shop/buy        {"item": i, "qty": n}   oversell: check stock, await payment, decrement
  POST /coupons/redeem  {"code": "PROMO-..."}   a single-use coupon credited twice via two accounts
  POST /api/spawn                               an unbounded 3 s background task per request
  GET  /api/hang                                a Future never resolved: the handler hangs forever
  GET  /api/blocking?ms=N                       a blocking call on the default executor (here:
                                                run_in_executor, min(32, cpus + 4) threads)
  GET  /api/sync-ping                           5 ms on that same executor (a legitimate user)
  POST /api/import      {"rows": "x"}           an fd leaked on the error path (500)
  GET  /api/checkout?card=C                     debug=True: the 500 page shows the API key
  GET  /api/lookup?id=x                         debug=True: the 400 page shows the DB password
  GET  /api/ping                                a cheap legitimate request
  GET  /_threats/stats                          instrumentation (JSON, see shop.Shop.stats)
  POST /_threats/reset                          fresh shop state and counters

--honest: every handler is bounded by sluice's X-Request-Timeout-Ms (504 when it runs out).
--max-fds: the process's fd limit (default 1024, a common container default), so that a leak
exhausts it within the run."""
import json
import os
import sys

import tornado.ioloop
import tornado.web

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shop import Shop, Timeout, budget_s, command_line  # noqa: E402

shop = Shop()


class Base(tornado.web.RequestHandler):
    def budget(self):
        return budget_s(self.request.headers.get("X-Request-Timeout-Ms"))

    def user(self):
        return self.request.headers.get("X-User-Id", "anonymous")

    def body(self):
        try:
            doc = json.loads(self.request.body or b"{}")
        except ValueError:
            raise tornado.web.HTTPError(400, "body is not JSON")
        if not isinstance(doc, dict):
            raise tornado.web.HTTPError(400, "body is not a JSON object")
        return doc

    async def answer(self, name, coro):
        try:
            status, doc = await shop.run(name, coro, self.budget())
        except Timeout as e:
            status, doc = 504, {"error": str(e)}
        self.set_status(status)
        self.finish(doc)


class Deposit(Base):
    async def post(self):
        await self.answer("deposit", shop.deposit(self.user(), int(self.body().get("amount", 0))))


class Withdraw(Base):
    async def post(self):
        await self.answer("withdraw", shop.withdraw(self.user(), int(self.body().get("amount", 0))))


class Transfer(Base):
    async def post(self):
        doc = self.body()
        await self.answer("transfer", shop.transfer(self.user(), str(doc.get("to", "")), int(doc.get("amount", 0))))


class Buy(Base):
    async def post(self):
        doc = self.body()
        await self.answer("buy", shop.buy(self.user(), str(doc.get("item", "")), int(doc.get("qty", 1))))


class Redeem(Base):
    async def post(self):
        await self.answer("redeem", shop.redeem(self.user(), str(self.body().get("code", ""))))


class Spawn(Base):
    async def post(self):
        await self.answer("spawn", shop.spawn())


class Hang(Base):
    async def get(self):
        await self.answer("hang", shop.hang())


class Ping(Base):
    async def get(self):
        await self.answer("ping", shop.ping())


class Blocking(Base):
    """Tornado runs sync code on the event loop; the usual fix, run_in_executor, moves it to a
    small pool that a few slow calls exhaust for every handler that needs it."""

    async def get(self):
        seconds = int(self.get_argument("ms", "2000")) / 1000
        await self.pooled("blocking", seconds)

    async def pooled(self, name, seconds):
        loop = tornado.ioloop.IOLoop.current()
        status, doc = await loop.run_in_executor(None, shop.blocking, name, seconds, self.budget())
        self.set_status(status)
        self.finish(doc)


class SyncPing(Blocking):
    async def get(self):
        await self.pooled("sync-ping", 0.005)


class Import(Base):
    async def post(self):
        await self.answer("import", shop.import_rows(self.body().get("rows", 0)))


class Checkout(Base):
    async def get(self):
        await self.answer("checkout", shop.checkout(self.get_argument("card", "")))


class Lookup(Base):
    async def get(self):
        try:
            await self.answer("lookup", shop.lookup(self.get_argument("id", "")))
        except LookupError as e:
            raise tornado.web.HTTPError(400, str(e))  # debug=True prints the chain, message included


class Stats(tornado.web.RequestHandler):
    def get(self):
        self.write(shop.stats())


class Reset(tornado.web.RequestHandler):
    def post(self):
        shop.reset()
        self.write({"ok": True})


def make_app():
    return tornado.web.Application(
        [
            (r"/wallet/deposit", Deposit),
            (r"/wallet/withdraw", Withdraw),
            (r"/wallet/transfer", Transfer),
            (r"/shop/buy", Buy),
            (r"/coupons/redeem", Redeem),
            (r"/api/spawn", Spawn),
            (r"/api/hang", Hang),
            (r"/api/blocking", Blocking),
            (r"/api/sync-ping", SyncPing),
            (r"/api/import", Import),
            (r"/api/checkout", Checkout),
            (r"/api/lookup", Lookup),
            (r"/api/ping", Ping),
            (r"/_threats/stats", Stats),
            (r"/_threats/reset", Reset),
        ],
        debug=True,  # the mistake: tracebacks in error pages...
        autoreload=False,  # ...without the reloader, which would restart the app mid-run
    )


def main():
    args = command_line(shop, __doc__, 8000)
    make_app().listen(args.port, "127.0.0.1")
    tornado.ioloop.PeriodicCallback(shop.sample, 50).start()
    tornado.ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
