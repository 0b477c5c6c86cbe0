"""What the request path writes itself, against a scripted upstream: framing of every
kind of response, pipelining, connection reuse, and peers that go away mid-message.

`make test` runs the whole e2e suite once per request path (`lean`, then `pingora`,
see docs/architecture.md); these cases matter most for the lean path, which frames
responses itself, but both must pass them.
"""
from __future__ import annotations

import socket
import threading
import time

import pytest

from harness import net
from harness.paths import CUSTOM_HOST

pytestmark = pytest.mark.core


class ScriptedUpstream:
    """An HTTP/1.1 upstream on loopback whose answer depends on the path; counts the
    connections it accepted and records each request it read."""

    def __init__(self):
        self.ip = net.loopback_addr()
        self.sock = socket.create_server((self.ip, 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.requests: list[tuple[str, str, dict]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self):
        self._stop.set()
        self.sock.close()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._conn, args=(conn,), daemon=True).start()

    def _conn(self, conn: socket.socket):
        buf = b""
        conn.settimeout(10)
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
                length = int(headers.get("content-length", "0"))
                while len(buf) < length:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                buf = buf[length:]
                self.requests.append((method, path, headers))
                if not self._answer(conn, method, path):
                    return
        except OSError:
            return
        finally:
            conn.close()

    def _answer(self, conn: socket.socket, method: str, path: str) -> bool:
        """Writes the scripted answer; False when the connection closes after it."""
        if path == "/nolen":
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n" + b"x" * 5000)
            return False
        if path == "/204":
            conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
            return True
        if path == "/304":
            conn.sendall(b"HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n")
            return True
        if path == "/short":
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" + b"y" * 50)
            return False
        if path == "/silent":
            time.sleep(3)
            return False
        if path == "/close-after":
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            return False
        body = b"" if method == "HEAD" else b"hello"
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-path: " + path.encode() + b"\r\n\r\n" + body)
        return True


@pytest.fixture
def scripted():
    up = ScriptedUpstream()
    yield up
    up.close()


@pytest.fixture
def proxy(new_proxy, scripted):
    return (new_proxy("reqpath").listen(tls=False)
            .route("scripted", hosts=[CUSTOM_HOST])
            .upstream("scripted", f"{scripted.ip}:{scripted.port}", read_timeout="1s", retries=0)
            .run())


def connect(proxy) -> socket.socket:
    s = socket.create_connection(proxy.at, timeout=10)
    return s


def request(method: str, path: str, *, version: str = "1.1", extra: str = "", body: bytes = b"") -> bytes:
    length = f"content-length: {len(body)}\r\n" if body else ""
    return f"{method} {path} HTTP/{version}\r\nhost: {CUSTOM_HOST}\r\n{extra}{length}\r\n".encode() + body


class Reader:
    """Reads HTTP/1 responses off a socket, honouring their framing."""

    def __init__(self, sock: socket.socket):
        self.sock, self.buf = sock, b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def response(self, method: str = "GET") -> tuple[int, dict, bytes]:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise EOFError(f"closed before a response header: {self.buf!r}")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
        if method == "HEAD" or status in (204, 304):
            return status, headers, b""
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(self.buf) < n:
                if not self._fill():
                    raise EOFError(f"body short: {len(self.buf)} of {n}")
            body, self.buf = self.buf[:n], self.buf[n:]
            return status, headers, body
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    if not self._fill():
                        raise EOFError("chunked body cut")
                size_line, self.buf = self.buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    if not self._fill():
                        raise EOFError("chunk cut")
                body, self.buf = body + self.buf[:size], self.buf[size + 2:]
                if size == 0:
                    return status, headers, body
        while self._fill():
            pass
        body, self.buf = self.buf, b""
        return status, headers, body


def test_keep_alive_requests_reuse_one_upstream_connection(proxy, scripted):
    with connect(proxy) as s:
        r = Reader(s)
        for i in range(100):
            s.sendall(request("GET", f"/n{i}"))
            status, headers, body = r.response()
            assert (status, body, headers.get("x-path")) == (200, b"hello", f"/n{i}")
    assert len(scripted.requests) == 100
    assert scripted.accepted <= 2, f"{scripted.accepted} upstream connections for 100 keep-alive requests"


def test_pipelined_requests_are_answered_in_order(proxy):
    with connect(proxy) as s:
        s.sendall(request("GET", "/first") + request("GET", "/second") + request("GET", "/third"))
        r = Reader(s)
        assert [r.response()[1].get("x-path") for _ in range(3)] == ["/first", "/second", "/third"]


@pytest.mark.parametrize("method,path,status", [("HEAD", "/h", 200), ("GET", "/204", 204), ("GET", "/304", 304)])
def test_bodiless_responses_keep_the_connection_usable(proxy, method, path, status):
    with connect(proxy) as s:
        r = Reader(s)
        s.sendall(request(method, path))
        got, headers, body = r.response(method)
        assert (got, body) == (status, b"")
        if method == "HEAD":
            assert headers.get("content-length") == "5", headers
        # The next answer on the same connection is framed right: no stray bytes.
        s.sendall(request("GET", "/after"))
        assert r.response()[1].get("x-path") == "/after"


def test_close_delimited_upstream_body_reaches_http11_and_http10_clients(proxy):
    with connect(proxy) as s:
        s.sendall(request("GET", "/nolen"))
        status, headers, body = Reader(s).response()
        assert (status, len(body)) == (200, 5000), headers
    with connect(proxy) as s:
        s.sendall(request("GET", "/nolen", version="1.0"))
        status, headers, body = Reader(s).response()
        assert (status, len(body)) == (200, 5000), headers


def test_upstream_closing_its_idle_connection_costs_the_client_nothing(proxy, scripted):
    with connect(proxy) as s:
        r = Reader(s)
        for i in range(5):
            s.sendall(request("GET", "/close-after"))
            status, _, body = r.response()
            assert (status, body) == (200, b"ok"), i
            time.sleep(0.2)  # the upstream's close arrives before the next request
    assert scripted.accepted == 5


def test_upstream_closing_mid_body_closes_the_client_connection(proxy):
    with connect(proxy) as s:
        s.sendall(request("GET", "/short"))
        r = Reader(s)
        with pytest.raises(EOFError):
            r.response()
    # The proxy is still fine.
    with connect(proxy) as s:
        s.sendall(request("GET", "/ok"))
        assert Reader(s).response()[0] == 200


def test_client_closing_mid_body_sends_nothing_upstream(proxy, scripted):
    with connect(proxy) as s:
        s.sendall(b"POST /upload HTTP/1.1\r\nhost: " + CUSTOM_HOST.encode() + b"\r\ncontent-length: 1000\r\n\r\n" + b"z" * 10)
        time.sleep(0.3)
    time.sleep(0.3)
    assert ("POST", "/upload") not in [(m, p) for m, p, _ in scripted.requests], "a cut request was forwarded whole"
    with connect(proxy) as s:
        s.sendall(request("POST", "/after", body=b"abc"))
        assert Reader(s).response()[0] == 200
    assert ("POST", "/after") in [(m, p) for m, p, _ in scripted.requests]


def test_an_upstream_that_does_not_answer_in_time_is_504(proxy):
    with connect(proxy) as s:
        s.sendall(request("GET", "/silent"))
        status, _, body = Reader(s).response()
        assert status == 504, body


def test_request_bodies_and_forwarded_headers_reach_the_upstream(proxy, scripted):
    with connect(proxy) as s:
        s.sendall(request("POST", "/form", body=b"a=1&b=2",
                          extra="x-forwarded-for: 198.51.100.1\r\nconnection: keep-alive, x-secret\r\nx-secret: 1\r\n"))
        assert Reader(s).response()[0] == 200
    method, path, headers = scripted.requests[-1]
    assert (method, path, headers.get("content-length")) == ("POST", "/form", "7")
    assert headers["x-forwarded-for"].startswith("198.51.100.1, 127.")
    assert headers["x-forwarded-proto"] == "http"
    assert "x-secret" not in headers and "x-request-id" in headers
