"""A minimal WebSocket client (RFC 6455) over a plain socket, so that tests see every byte: the
handshake's status and headers, frames as sent, close frames and half-closes."""
import base64
import hashlib
import os
import socket
import struct

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG = 1, 2, 8, 9, 10


class WsClient:
    def __init__(self, port, path="/ws", headers=None, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.key = base64.b64encode(os.urandom(16)).decode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {self.key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
        self.buf = b""
        head = self._read_until(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                self.headers.setdefault(name.strip().lower(), value.strip())
        self.body = b""
        if self.status != 101 and "content-length" in self.headers:
            self.body = self._read_exact(int(self.headers["content-length"]))

    def accept_is_valid(self):
        want = base64.b64encode(hashlib.sha1((self.key + GUID).encode()).digest()).decode()
        return self.headers.get("sec-websocket-accept") == want

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def _read_until(self, sep):
        while sep not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(sep)
        return head

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, payload, opcode=None):
        if isinstance(payload, str):
            payload, opcode = payload.encode(), opcode or TEXT
        opcode = opcode or BINARY
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def recv(self):
        """The next frame: (opcode, payload); a server's frames are never masked."""
        b0, b1 = self._read_exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read_exact(8))[0]
        assert not b1 & 0x80, "a server frame was masked"
        return b0 & 0x0F, self._read_exact(n)

    def close(self, code=1000, reason=""):
        self.send(struct.pack("!H", code) + reason.encode(), CLOSE)

    def at_eof(self, timeout=5.0):
        """True when the peer closes the connection within `timeout` (data before it is dropped)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionResetError:
            return True

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def abort(self):
        self.sock.close()


def close_code(payload):
    """(code, reason) of a close frame's payload."""
    return (struct.unpack("!H", payload[:2])[0], payload[2:].decode()) if len(payload) >= 2 else (None, "")
