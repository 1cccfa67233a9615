"""WebSockets through sluice against Tornado's WebSocketHandler and FastAPI's @app.websocket
(uvicorn with wsproto): the upgrade is admitted like any request, tunnelled after the 101 with
close frames, half-closes and large messages passing both ways, counted in
sluice_websocket_connections and websocket.max_connections instead of the route's concurrency
slot, closed after websocket.idle_timeout of silence, refused with a JSON 501 where not allowed,
and kept open through a drain until shutdown_timeout."""
import json
import signal
import time

import requests

from harness import assert_json_error, policy, wait_until
from wsclient import BINARY, CLOSE, TEXT, WsClient, close_code


class Response:
    """A WsClient's refused handshake, seen as assert_json_error expects a response."""

    def __init__(self, ws):
        self.status_code, self.headers, self.text = ws.status, ws.headers, ws.body.decode()

    def json(self):
        return json.loads(self.text)


def ws_metric(s):
    return s.metric("sluice_websocket_connections", route="api")


def test_echo_close_frames_and_headers(backend, start_sluice):
    s = start_sluice(policy(), upstream=backend.address)
    ws = WsClient(s.port)
    assert ws.status == 101 and ws.accept_is_valid(), (ws.status, ws.headers)
    assert ws.headers["upgrade"].lower() == "websocket" and "upgrade" in ws.headers["connection"].lower()
    assert ws.headers.get("x-request-id")
    ws.send("hello")
    assert ws.recv() == (TEXT, b"hello")
    ws.send(bytes(range(256)) * 800)  # 200 KiB up, back in one message
    assert ws.recv() == (BINARY, bytes(range(256)) * 800)
    ws.send("big:3000000")  # 3 MB down
    opcode, data = ws.recv()
    assert opcode == BINARY and data == b"y" * 3000000
    ws.send("headers")
    opcode, data = ws.recv()
    seen = json.loads(data)
    assert seen["x-forwarded-for"] == "127.0.0.1" and seen["x-request-id"] == ws.headers["x-request-id"], seen
    assert seen["upgrade"].lower() == "websocket"
    assert ws_metric(s) == 1
    # the server closes: its close frame passes, ours goes back, and the connection ends
    ws.send("close")
    opcode, data = ws.recv()
    assert opcode == CLOSE and close_code(data) == (1000, "bye"), data
    ws.close(1000)
    assert ws.at_eof()
    ws.abort()  # as a client does once the server has closed
    wait_until(lambda: ws_metric(s) == 0, timeout=5, what="the tunnel counted out")
    log = wait_until(lambda: [line for line in s.access_log() if line["path"] == "/ws"], timeout=5, what="the log line")
    assert log[0]["status"] == 101 and log[0]["decision"] == "admitted", log
    assert s.metric("sluice_in_flight", route="api") == 0


def test_client_close_and_half_close(backend, start_sluice):
    s = start_sluice(policy(), upstream=backend.address)
    ws = WsClient(s.port)
    ws.send("x")
    assert ws.recv() == (TEXT, b"x")
    ws.close(1001, "going")
    opcode, data = ws.recv()
    assert opcode == CLOSE and close_code(data)[0] == 1001, data
    assert ws.at_eof()
    ws.abort()
    # a client that only half-closes: the backend sees the end, closes, and so does sluice
    ws = WsClient(s.port)
    ws.send("y")
    assert ws.recv() == (TEXT, b"y")
    ws.shutdown_write()
    assert ws.at_eof(timeout=10)  # both sides have closed: the tunnel ends without the client's close()
    wait_until(lambda: ws_metric(s) == 0, timeout=5, what="tunnels counted out")


def test_an_open_websocket_leaves_its_concurrency_slot_and_counts_in_max_connections(backend, start_sluice):
    s = start_sluice(policy("    concurrency: {limit: 1, queue: {size: 0, timeout: 1s}}\n"
                            "    websocket: {max_connections: 2}\n"), upstream=backend.address)
    a, b = WsClient(s.port), WsClient(s.port)
    assert a.status == 101 and b.status == 101
    # both are open, yet the route's single slot is free for a plain request
    assert requests.get(s.url + "/hello", timeout=5).status_code == 200
    assert ws_metric(s) == 2
    c = WsClient(s.port)
    assert_json_error(Response(c), 503, "websocket_limit", route="api")
    a.send("still here")
    assert a.recv() == (TEXT, b"still here")
    a.abort()  # gone without a close frame
    wait_until(lambda: ws_metric(s) == 1, timeout=5, what="one tunnel left")
    d = WsClient(s.port)
    assert d.status == 101
    d.send("d")
    assert d.recv() == (TEXT, b"d")
    b.abort()
    d.abort()
    wait_until(lambda: ws_metric(s) == 0, timeout=5, what="no tunnel left")


def test_upgrades_pass_the_rate_limit_and_not_allowed_is_501(backend, start_sluice):
    s = start_sluice(policy("    rate_limits: [{name: r, rate: 1/m, burst: 1}]\n"), upstream=backend.address)
    first = WsClient(s.port)
    assert first.status == 101
    second = WsClient(s.port)
    assert_json_error(Response(second), 429, "rate_limited", route="api")
    first.abort()

    s2 = start_sluice(policy("    websocket: {allow: false}\n"), upstream=backend.address)
    refused = WsClient(s2.port)
    assert_json_error(Response(refused), 501, "websocket_not_allowed", route="api")
    log = wait_until(lambda: [line["status"] for line in s2.access_log() if line["path"] == "/ws"], timeout=5, what="the log")
    assert log == [501]


def test_idle_tunnel_is_closed_and_the_deadline_covers_only_the_upgrade(backend, start_sluice):
    s = start_sluice(policy("    websocket: {idle_timeout: 700ms}\n", timeout="300ms"), upstream=backend.address)
    ws = WsClient(s.port)
    # past the route's 300 ms deadline, the tunnel carries on while it carries something
    for _ in range(5):
        time.sleep(0.2)
        ws.send("tick")
        assert ws.recv() == (TEXT, b"tick")
    started = time.monotonic()
    assert ws.at_eof(timeout=10)
    assert 0.5 < time.monotonic() - started < 5
    wait_until(lambda: ws_metric(s) == 0, timeout=5, what="the idle tunnel counted out")


def test_an_upgrade_the_upstream_refuses_is_a_plain_response(backend, start_sluice):
    s = start_sluice(policy("    websocket: {max_connections: 1}\n"), upstream=backend.address)
    ws = WsClient(s.port, path="/hello")  # not a WebSocket endpoint: the app answers normally
    assert ws.status != 101
    wait_until(lambda: ws_metric(s) == 0, timeout=5, what="nothing counted")
    ok = WsClient(s.port)  # the one allowed connection was not used up
    assert ok.status == 101
    ok.abort()


def test_a_drain_keeps_tunnels_until_shutdown_timeout(backend, start_sluice):
    s = start_sluice(policy(top="shutdown_timeout: 1500ms\n").replace("drain_delay: 0ms", "drain_delay: 200ms"),
                     upstream=backend.address)
    ws = WsClient(s.port)
    s.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)  # past drain_delay: no new connection is accepted, the tunnel still works
    ws.send("during the drain")
    assert ws.recv() == (TEXT, b"during the drain")
    assert ws.at_eof(timeout=10)  # closed at shutdown_timeout
    assert s.proc.wait(timeout=10) == 0
    assert "WebSocket" in s.stderr_text()
