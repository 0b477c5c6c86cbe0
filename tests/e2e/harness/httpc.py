"""HTTP(S) to a chosen ip:port with a chosen SNI and Host, over http.client.

The TCP target, SNI and Host are independent, like curl's --connect-to: that is how the
tests reach a proxy on 127.0.x.y:port for a name such as api.example.test.
"""
from __future__ import annotations

import http.client
import json
import select
import socket
import ssl
from dataclasses import dataclass, field


def tls_context(ca_path=None, *, verify: bool = True, min_version=None, max_version=None,
                alpn=None) -> ssl.SSLContext:
    if verify:
        ctx = ssl.create_default_context(cafile=str(ca_path) if ca_path else None)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if min_version is not None:
        ctx.minimum_version = min_version
    if max_version is not None:
        ctx.maximum_version = max_version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


class Conn(http.client.HTTPSConnection):
    """A keep-alive connection to connect_to=(ip, port); TLS with SNI `sni` unless tls=False."""

    def __init__(self, connect_to, *, sni=None, context=None, tls=True, timeout=10.0, source_ip=None):
        ip, port = connect_to
        super().__init__(sni or ip, port, timeout=timeout, context=context or tls_context(verify=False),
                         source_address=(source_ip, 0) if source_ip else None)
        self.connect_to = (ip, port)
        self.sni = sni
        self.use_tls = tls
        self.requests_done = 0

    def connect(self):
        sock = socket.create_connection(self.connect_to, self.timeout, self.source_address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.use_tls:
            sock = self._context.wrap_socket(sock, server_hostname=self.sni)
        self.sock = sock
        self.requests_done = 0

    def dropped(self) -> bool:
        """True when the server closed (or sent something unasked) while idle: like urllib3's
        is_connection_dropped, checked before a connection is reused."""
        if self.sock is None:
            return True
        try:
            r, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(r)

    def peer_cert_der(self) -> bytes | None:
        if self.sock is None or not self.use_tls:
            return None
        return self.sock.getpeercert(binary_form=True)


@dataclass
class Resp:
    status: int
    headers: dict
    body: bytes
    raw_headers: list = field(default_factory=list)
    tls_version: str | None = None
    alpn: str | None = None
    peer_cert_der: bytes | None = None

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    def json(self):
        return json.loads(self.body)

    def header(self, name: str, default=None):
        return self.headers.get(name.lower(), default)


def do(conn: Conn, method: str, path: str, host: str | None, headers: dict | None = None,
       body: bytes | None = None) -> Resp:
    h = {}
    if host is not None:
        h["Host"] = host
    h.update(headers or {})
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for k, v in h.items():
        conn.putheader(k, v)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    r = conn.getresponse()
    data = r.read()
    conn.requests_done += 1
    sock = conn.sock
    tls_version = alpn = der = None
    if isinstance(sock, ssl.SSLSocket):
        tls_version, alpn, der = sock.version(), sock.selected_alpn_protocol(), sock.getpeercert(True)
    if r.will_close:
        conn.close()
    return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data, r.getheaders(),
                tls_version, alpn, der)


def request(connect_to, path: str = "/", *, host: str | None = None, sni: str | None = None,
            ca=None, tls: bool = True, method: str = "GET", headers: dict | None = None,
            body: bytes | None = None, timeout: float = 10.0, source_ip: str | None = None,
            context: ssl.SSLContext | None = None) -> Resp:
    """One request on a fresh connection. sni defaults to host (without port)."""
    if sni is None and host is not None and tls:
        sni = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if tls and context is None:
        context = tls_context(ca) if ca else tls_context(verify=False)
    c = Conn(connect_to, sni=sni, context=context, tls=tls, timeout=timeout, source_ip=source_ip)
    try:
        return do(c, method, path, host, headers, body)
    finally:
        c.close()


def get_json(ip: str, port: int, path: str, timeout: float = 3.0):
    """(status, parsed JSON or text) from a plain-HTTP endpoint, e.g. the admin port."""
    r = request((ip, port), path, host="admin", tls=False, timeout=timeout)
    try:
        return r.status, r.json()
    except ValueError:
        return r.status, r.text
