"""A deliberately vulnerable shop on FastAPI under uvicorn (Debian's python3-fastapi and
python3-uvicorn), for sluice's threat report (bench/threats). Do not copy its handlers: each
one is a classic failure.

  /usr/bin/python3 examples/threats/fastapi_shop.py --port 8001 [--honest] [--max-fds 1024]

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
  GET  /api/blocking?ms=N                       a sync `def` handler: FastAPI runs it on anyio's
                                                thread pool (40 threads), which a few slow calls
                                                exhaust for every sync handler
  GET  /api/sync-ping                           a 5 ms sync handler (a legitimate user)
  POST /api/import      {"rows": "x"}           an fd leaked on the error path (500)
  GET  /api/checkout?card=C                     FastAPI(debug=True): the 500 shows the API key
  GET  /api/lookup?id=x                         the handler echoes its exception and traceback in
                                                a 400: the DB password
  GET  /api/ping                                a cheap legitimate request
  GET  /_threats/stats                          instrumentation (JSON, see shop.Shop.stats)
  POST /_threats/reset                          fresh shop state and counters

--honest: every handler is bounded by sluice's X-Request-Timeout-Ms (504 when it runs out).
--max-fds: the process's fd limit (default 1024, a common container default), so that a leak
exhausts it within the run."""
import asyncio
import os
import sys
import traceback

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shop import Shop, Timeout, budget_s, command_line  # noqa: E402

shop = Shop()
app = FastAPI(debug=True)  # the mistake: a 500 answers with the traceback


def budget(request):
    return budget_s(request.headers.get("x-request-timeout-ms"))


def user(request):
    return request.headers.get("x-user-id", "anonymous")


async def body(request):
    try:
        doc = await request.json()
    except ValueError:
        raise HTTPException(400, "body is not JSON")
    if not isinstance(doc, dict):
        raise HTTPException(400, "body is not a JSON object")
    return doc


async def answer(request, name, coro):
    try:
        status, doc = await shop.run(name, coro, budget(request))
    except Timeout as e:
        status, doc = 504, {"error": str(e)}
    return JSONResponse(doc, status_code=status)


@app.post("/wallet/deposit")
async def deposit(request: Request):
    return await answer(request, "deposit", shop.deposit(user(request), int((await body(request)).get("amount", 0))))


@app.post("/wallet/withdraw")
async def withdraw(request: Request):
    return await answer(request, "withdraw", shop.withdraw(user(request), int((await body(request)).get("amount", 0))))


@app.post("/wallet/transfer")
async def transfer(request: Request):
    doc = await body(request)
    return await answer(request, "transfer", shop.transfer(user(request), str(doc.get("to", "")), int(doc.get("amount", 0))))


@app.post("/shop/buy")
async def buy(request: Request):
    doc = await body(request)
    return await answer(request, "buy", shop.buy(user(request), str(doc.get("item", "")), int(doc.get("qty", 1))))


@app.post("/coupons/redeem")
async def redeem(request: Request):
    return await answer(request, "redeem", shop.redeem(user(request), str((await body(request)).get("code", ""))))


@app.post("/api/spawn")
async def spawn(request: Request):
    return await answer(request, "spawn", shop.spawn())


@app.get("/api/hang")
async def hang(request: Request):
    return await answer(request, "hang", shop.hang())


@app.get("/api/ping")
async def ping(request: Request):
    return await answer(request, "ping", shop.ping())


@app.get("/api/blocking")
def blocking(request: Request, ms: int = 2000):
    """`def`, not `async def`: FastAPI runs it on anyio's thread pool, one thread per call."""
    status, doc = shop.blocking("blocking", ms / 1000, budget(request))
    return JSONResponse(doc, status_code=status)


@app.get("/api/sync-ping")
def sync_ping(request: Request):
    status, doc = shop.blocking("sync-ping", 0.005, None)
    return JSONResponse(doc, status_code=status)


@app.post("/api/import")
async def import_rows(request: Request):
    return await answer(request, "import", shop.import_rows((await body(request)).get("rows", 0)))


@app.get("/api/checkout")
async def checkout(request: Request, card: str = ""):
    return await answer(request, "checkout", shop.checkout(card))


@app.get("/api/lookup")
async def lookup(request: Request, id: str = ""):
    try:
        return await answer(request, "lookup", shop.lookup(id))
    except LookupError as e:  # "helpful" error reporting: the exception and its traceback
        return PlainTextResponse(f"bad request: {e}\n{traceback.format_exc()}", status_code=400)


@app.get("/_threats/stats")
async def stats():
    return JSONResponse(shop.stats())


@app.post("/_threats/reset")
async def reset():
    shop.reset()
    return {"ok": True}


@app.on_event("startup")
async def start_sampler():
    async def sample():
        while True:
            shop.sample()
            await asyncio.sleep(0.05)

    app.state.sampler = asyncio.get_running_loop().create_task(sample())


def main():
    args = command_line(shop, __doc__, 8001)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
