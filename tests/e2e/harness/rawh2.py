"""A byte-exact HTTP/2 client over TLS for requests real clients will not send: nghttp2 (curl,
nghttp) refuses to send a header block over 64 KiB, so a 100 KiB header field needs this.

Header fields go out as HPACK literals without indexing and without Huffman coding, split
over HEADERS and CONTINUATION frames of at most 16 KiB. Of each answer only what the tests
judge is read: the server's SETTINGS, and per stream the `:status` (the first field of a
response header block; statuses outside HPACK's static table are Huffman-coded digits,
decoded here), RST_STREAM or GOAWAY.

    c = RawH2((ip, port), sni="api.example.test", ca=ca_path)
    r = c.request("GET", "/whoami?t=x", "api.example.test", [("x-big", "a" * 102400)])
    r.status, r.reset, c.goaway, c.settings[SETTINGS_MAX_HEADER_LIST_SIZE]
"""
from __future__ import annotations

import socket
import ssl
import struct
import time
from dataclasses import dataclass

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, CONTINUATION = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7, 0x9
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
SETTINGS_MAX_HEADER_LIST_SIZE = 0x6
MAX_FRAME = 16384

# HPACK static table entries 8-14 are ":status" with these values.
STATIC_STATUS = {8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500}
# HPACK Huffman codes of the digits (RFC 7541 appendix B): enough for a status.
HUFFMAN_DIGITS = {"00000": "0", "00001": "1", "00010": "2", "011001": "3", "011010": "4",
                  "011011": "5", "011100": "6", "011101": "7", "011110": "8", "011111": "9"}


@dataclass
class Answer:
    status: int | None = None   # :status of the response, if one came
    reset: int | None = None    # RST_STREAM error code, if the stream was reset
    end: bool = False           # the stream ended (END_STREAM or a reset)


def _int(value: int, prefix_bits: int, first: int = 0) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out, value = bytearray([first | limit]), value - limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_int(data: bytes, i: int, prefix_bits: int) -> tuple[int, int]:
    limit = (1 << prefix_bits) - 1
    value = data[i] & limit
    i += 1
    if value < limit:
        return value, i
    shift = 0
    while True:
        b = data[i]
        i += 1
        value += (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def _literal(name: str, value: str) -> bytes:
    n, v = name.encode(), value.encode()
    return b"\x00" + _int(len(n), 7) + n + _int(len(v), 7) + v


def _status_from_block(block: bytes) -> int | None:
    """The :status of a response header block: its first representation (after any
    dynamic table size updates)."""
    i = 0
    while i < len(block) and block[i] & 0xE0 == 0x20:      # dynamic table size update
        _, i = _read_int(block, i, 5)
    if i >= len(block):
        return None
    b = block[i]
    if b & 0x80:
        idx, _ = _read_int(block, i, 7)
        return STATIC_STATUS.get(idx)
    idx, i = _read_int(block, i, 6 if b & 0x40 else 4)
    if idx not in STATIC_STATUS:
        return None
    huffman = bool(block[i] & 0x80)
    n, i = _read_int(block, i, 7)
    raw = block[i:i + n]
    if not huffman:
        return int(raw.decode())
    bits, digits, code = "".join(f"{x:08b}" for x in raw), "", ""
    for bit in bits:
        code += bit
        if code in HUFFMAN_DIGITS:
            digits, code = digits + HUFFMAN_DIGITS[code], ""
    return int(digits) if digits and set(code) <= {"1"} else None


class RawH2:
    """One HTTP/2 connection over TLS (ALPN h2), requests one at a time."""

    def __init__(self, addr, *, sni: str, ca, timeout: float = 10.0):
        self.timeout = timeout
        ctx = ssl.create_default_context(cafile=str(ca))
        ctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection(addr, timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname=sni)
        assert self.sock.selected_alpn_protocol() == "h2", self.sock.selected_alpn_protocol()
        self.buf = b""
        self.settings: dict[int, int] = {}
        self.goaway: int | None = None
        self.closed = False
        self.next_stream = 1
        self.sock.sendall(PREFACE + self._frame(SETTINGS, 0, 0, b""))

    @staticmethod
    def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
        return struct.pack("!I", len(payload))[1:] + bytes([kind, flags]) + struct.pack("!I", stream) + payload

    def _read_frame(self, deadline: float):
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                got = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                return None
            except (ssl.SSLError, OSError):
                got = b""
            if not got:
                self.closed = True
                return None
            self.buf += got
        n = int.from_bytes(self.buf[:3], "big")
        kind, flags = self.buf[3], self.buf[4]
        stream = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
        payload, self.buf = self.buf[9:9 + n], self.buf[9 + n:]
        return kind, flags, stream, payload

    def request(self, method: str, path: str, authority: str, fields=()) -> Answer:
        """Sends one request (no body) and waits for its status or reset."""
        stream = self.next_stream
        self.next_stream += 2
        block = b"".join(_literal(k, v) for k, v in
                         [(":method", method), (":scheme", "https"), (":authority", authority), (":path", path),
                          *fields])
        pieces = [block[i:i + MAX_FRAME] for i in range(0, len(block), MAX_FRAME)] or [b""]
        out = bytearray()
        for n, piece in enumerate(pieces):
            last = END_HEADERS if n == len(pieces) - 1 else 0
            kind, flags = (HEADERS, END_STREAM | last) if n == 0 else (CONTINUATION, last)
            out += self._frame(kind, flags, stream, piece)
        try:
            self.sock.sendall(bytes(out))
        except OSError:
            self.closed = True
        return self._wait(stream)

    def _wait(self, stream: int) -> Answer:
        answer = Answer()
        deadline = time.monotonic() + self.timeout
        while not answer.end and self.goaway is None:
            frame = self._read_frame(deadline)
            if frame is None:
                break
            kind, flags, sid, payload = frame
            if kind == SETTINGS and not flags & ACK:
                for i in range(0, len(payload) - 5, 6):
                    key, value = struct.unpack("!HI", payload[i:i + 6])
                    self.settings[key] = value
                self.sock.sendall(self._frame(SETTINGS, ACK, 0, b""))
            elif kind == PING and not flags & ACK:
                self.sock.sendall(self._frame(PING, ACK, 0, payload))
            elif kind == GOAWAY:
                self.goaway = struct.unpack("!I", payload[4:8])[0]
            elif sid == stream and kind == HEADERS:
                if answer.status is None:
                    answer.status = _status_from_block(payload)
                answer.end = bool(flags & END_STREAM)
            elif sid == stream and kind == DATA:
                answer.end = bool(flags & END_STREAM)
            elif sid == stream and kind == RST_STREAM:
                answer.reset = struct.unpack("!I", payload[:4])[0]
                answer.end = True
        return answer

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    stop = close  # a test's stack stops it at teardown
