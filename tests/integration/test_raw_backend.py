"""The recording raw-socket backend (tests/fixtures/raw_backend.py), tested on its own, without
sluice, so that hostile tests can trust what it says an upstream received."""
import json
import math
import os
import socket
import sys
import threading
import time

import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
from raw_backend import CLOSE, RESET, RawBackend, reply  # noqa: E402


@pytest.fixture
def make_raw():
    made = []

    def make(responder=None):
        b = RawBackend(responder)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


def connect(b, timeout=5.0):
    return socket.create_connection((b.host, b.port), timeout=timeout)


def read_response(sock):
    """One response with a Content-Length body: (status, headers list, body). Reads no byte
    past it, so that pipelined responses can be read one after the other."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        assert byte, f"EOF inside a response head: {head!r}"
        head += byte
    lines = head[:-4].decode("latin-1").split("\r\n")
    headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:]]
    length = int(dict((n.lower(), v) for n, v in headers)["content-length"])
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        assert chunk, "EOF inside a response body"
        body += chunk
    return int(lines[0].split(" ")[1]), headers, body


def read_until_eof(sock):
    out = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return out
        out += chunk


def test_default_answer_summarises_the_request_and_keeps_the_connection(make_raw):
    b = make_raw()
    assert b.address == f"127.0.0.1:{b.port}"
    first = b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\nX-Dup: 1\r\nx-dup: 2\r\nAccept: */*\r\n\r\n"
    second = b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
    with connect(b) as s:
        s.sendall(first)
        status, headers, body = read_response(s)
        assert status == 200
        assert ("Content-Type", "application/json") in headers
        doc = json.loads(body)
        assert doc == {"method": "GET", "target": "/a?x=1", "version": "HTTP/1.1",
                       "headers": [["Host", "h"], ["X-Dup", "1"], ["x-dup", "2"], ["Accept", "*/*"]],
                       "body_len": 0, "conn": 0, "seq": 0}
        s.sendall(second)
        status, _, body = read_response(s)
        doc = json.loads(body)
        assert (doc["method"], doc["body_len"], doc["conn"], doc["seq"]) == ("POST", 5, 0, 1)
    reqs = b.requests()
    assert [(r.method, r.target, r.body) for r in reqs] == [("GET", "/a?x=1", b""), ("POST", "/b", b"hello")]
    assert reqs[0].header("X-DUP") == ["1", "2"]
    assert reqs[0].raw == first and reqs[1].raw == second
    assert b.raw() == first + second
    assert b.connections == 1


def test_every_byte_of_every_connection_is_kept_in_order(make_raw):
    b = make_raw()
    sent = []
    for i in range(3):
        data = f"GET /c{i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".encode()
        with connect(b) as s:
            s.sendall(data)
            read_until_eof(s)  # Connection: close is honoured
        sent.append(data)
    b.wait_requests(3)
    conns = b.conns()
    assert [bytes(c.data) for c in conns] == sent
    assert b.raw() == b"".join(sent)
    for c in conns:
        assert c.closed is not None and c.opened <= c.closed
    assert conns[0].opened <= conns[1].opened <= conns[2].opened
    assert b.connections == 3


def test_pipelined_requests_are_framed_one_by_one(make_raw):
    b = make_raw()
    data = (b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
            b"POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
            b"GET /3 HTTP/1.1\r\nHost: h\r\n\r\n")
    with connect(b) as s:
        s.sendall(data)
        bodies = [json.loads(read_response(s)[2]) for _ in range(3)]
    assert [d["target"] for d in bodies] == ["/1", "/2", "/3"]
    assert [d["seq"] for d in bodies] == [0, 1, 2]
    assert [r.target for r in b.requests()] == ["/1", "/2", "/3"]
    assert b"".join(r.raw for r in b.requests()) == data


def test_chunked_body_is_decoded_and_its_trailers_kept(make_raw):
    b = make_raw()
    data = (b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n"
            b"6\r\n world\r\n"
            b"0\r\nX-Trailer: t\r\n\r\n")
    with connect(b) as s:
        s.sendall(data[:40])
        time.sleep(0.05)  # a head and body split across reads
        s.sendall(data[40:])
        doc = json.loads(read_response(s)[2])
    assert doc["body_len"] == 11
    (req,) = b.requests()
    assert req.body == b"hello world"
    assert req.trailers == [("X-Trailer", "t")]
    assert req.raw == data


def test_content_length_body_arriving_slowly(make_raw):
    b = make_raw()
    with connect(b) as s:
        s.sendall(b"PUT /slow HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n01234")
        time.sleep(0.1)
        assert b.requests() == []  # not framed until the body is complete
        s.sendall(b"56789")
        read_response(s)
    assert b.requests()[0].body == b"0123456789"


def test_http10_without_keep_alive_is_closed_after_the_answer(make_raw):
    b = make_raw()
    with connect(b) as s:
        s.sendall(b"GET /old HTTP/1.0\r\n\r\n")
        data = read_until_eof(s)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert json.loads(data.partition(b"\r\n\r\n")[2])["version"] == "HTTP/1.0"


def test_unframeable_request_is_recorded_answered_400_and_closed(make_raw):
    b = make_raw()
    bad = b"GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
    with connect(b) as s:
        s.sendall(bad)
        data = read_until_eof(s)
    assert data.startswith(b"HTTP/1.1 400 ")
    (conn,) = b.conns()
    assert "Content-Length" in conn.error
    assert bytes(conn.data) == bad
    assert b.requests() == []

    with connect(b) as s:
        s.sendall(b"NOT-HTTP\r\n\r\n")
        assert read_until_eof(s).startswith(b"HTTP/1.1 400 ")
    assert "request line" in b.conns()[1].error


def test_responder_bytes_are_sent_verbatim(make_raw):
    lie = b"HTTP/1.1 999 Whatever\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nabc"
    b = make_raw(lambda req: lie if req.target == "/lie" else None)
    with connect(b) as s:
        s.sendall(b"GET /lie HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        assert read_until_eof(s) == lie
    with connect(b) as s:
        s.sendall(b"GET /fine HTTP/1.1\r\nHost: h\r\n\r\n")
        assert read_response(s)[0] == 200


def test_responder_actions_delay_then_close_mid_body(make_raw):
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
    b = make_raw(lambda req: [0.3, head, b"partial", CLOSE, b"never sent"])
    with connect(b) as s:
        t0 = time.monotonic()
        s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        data = read_until_eof(s)
        elapsed = time.monotonic() - t0
    assert data == head + b"partial"
    assert elapsed >= 0.29
    (conn,) = b.conns()
    assert conn.closed is not None


def test_responder_reset_aborts_the_connection(make_raw):
    b = make_raw(lambda req: [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab", 0.05, RESET])
    with connect(b) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        time.sleep(0.3)
        with pytest.raises(ConnectionResetError):
            while s.recv(65536):
                pass


def test_endless_output_stops_when_the_backend_closes(make_raw):
    def endless(req):
        yield b"HTTP/1.1 200 OK\r\nX-Endless: "
        while True:
            yield b"a" * 65536

    b = make_raw(endless)
    with connect(b) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        got = 0
        while got < 4 << 20:
            got += len(s.recv(65536))
        t0 = time.monotonic()
        b.close()
        assert time.monotonic() - t0 < 3
        s.settimeout(2)
        try:
            read_until_eof(s)  # the rest of what was in flight, then EOF
        except ConnectionResetError:
            pass  # or a reset: either way the backend hung up instead of writing forever
    assert all(c.closed is not None for c in b.conns())


def test_a_hanging_responder_does_not_stop_close(make_raw):
    b = make_raw(lambda req: [math.inf])
    s = connect(b)
    s.sendall(b"GET /hang HTTP/1.1\r\nHost: h\r\n\r\n")
    idle = connect(b)  # and an idle keep-alive connection
    b.wait_requests(1)
    t0 = time.monotonic()
    b.close()
    assert time.monotonic() - t0 < 3
    s.settimeout(2)
    assert read_until_eof(s) == b""
    s.close()
    idle.close()
    assert all(c.closed is not None for c in b.conns())


def test_responder_exception_is_reported_and_closes(make_raw):
    def broken(req):
        raise ValueError("test bug")

    b = make_raw(broken)
    with connect(b) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        assert read_until_eof(s) == b""
    assert len(b.errors) == 1 and isinstance(b.errors[0], ValueError)


def test_reset_forgets_closed_connections_and_keeps_live_ones(make_raw):
    b = make_raw()
    with connect(b) as s:
        s.sendall(b"GET /old HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        read_until_eof(s)
    live = connect(b)
    live.sendall(b"GET /before HTTP/1.1\r\nHost: h\r\n\r\n")
    read_response(live)
    b.wait_requests(2)
    for _ in range(100):  # the closed connection's thread records its close
        if b.conns()[0].closed is not None:
            break
        time.sleep(0.01)
    b.reset()
    assert b.connections == 1 and b.requests() == [] and b.raw() == b""
    live.sendall(b"GET /after HTTP/1.1\r\nHost: h\r\n\r\n")
    read_response(live)
    assert [r.target for r in b.requests()] == ["/after"]
    assert b.raw() == b"GET /after HTTP/1.1\r\nHost: h\r\n\r\n"
    live.close()


def test_concurrent_clients_through_requests_library(make_raw):
    b = make_raw(lambda req: reply(201, b"ok", [("X-Seen", req.target)]))
    results = []

    def client(i):
        with requests.Session() as sess:
            for j in range(5):
                r = sess.post(f"http://{b.address}/c{i}/{j}", data=b"x" * (i + j), timeout=5)
                results.append((r.status_code, r.headers["X-Seen"], r.text))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 20 and all(code == 201 and text == "ok" for code, _, text in results)
    reqs = b.wait_requests(20)
    assert sorted(r.target for r in reqs) == sorted(f"/c{i}/{j}" for i in range(4) for j in range(5))
    for r in reqs:
        i, j = map(int, r.target.split("/c")[1].split("/"))
        assert r.body == b"x" * (i + j)
    assert b.connections == 4  # each session kept its connection alive


def test_reply_builds_a_well_formed_response():
    assert reply(404, "nope", [("X-A", "1")]) == b"HTTP/1.1 404 Not Found\r\nX-A: 1\r\nContent-Length: 4\r\n\r\nnope"
    assert reply(999, b"", reason="Odd", content_length=False) == b"HTTP/1.1 999 Odd\r\n\r\n"
    assert reply(200, b"abc", [("Content-Length", "7")]) == b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nabc"
