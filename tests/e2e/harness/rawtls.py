"""Byte-exact clients for the security tests: a PROXY protocol v2 encoder, a TLS client
over a plain socket (ssl.MemoryBIO, so a PROXY header and the ClientHello can leave in one
segment as an NLB sends them), a raw HTTP/1 response parser and a CA with an intermediate
(a leaf served with its chain). Metrics are read with harness/promscrape.py.

    pp = proxy_v2("203.0.113.7", 51234, "127.0.2.9", 443)     # PROXY command
    pp = proxy_v2_local()                                     # LOCAL command (NLB health checks)
    c = RawTls((ip, port), pp=pp, sni="api.example.test", ca=ca_path)   # handshakes
    c.send(b"GET / HTTP/1.1\\r\\n...");  raw = c.read_all(timeout=5);  c.close()
    resp = parse_response(raw)                                 # -> RawResp(status, headers, body)
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import re
import select
import socket
import ssl
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PP2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


# -- PROXY protocol v2 ---------------------------------------------------------------------

def proxy_v2(src_ip: str, src_port: int, dst_ip: str, dst_port: int, tlvs: bytes = b"") -> bytes:
    """A v2 PROXY-command header over TCP (IPv4 when both are v4, else IPv6)."""
    s, d = ipaddress.ip_address(src_ip), ipaddress.ip_address(dst_ip)
    if s.version == 4 and d.version == 4:
        fam, addrs = 0x11, s.packed + d.packed
    else:
        def v6(a):
            return a.packed if a.version == 6 else ipaddress.IPv6Address(f"::ffff:{a}").packed
        fam, addrs = 0x21, v6(s) + v6(d)
    body = addrs + struct.pack("!HH", src_port, dst_port) + tlvs
    return PP2_SIGNATURE + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


def proxy_v2_local() -> bytes:
    return PP2_SIGNATURE + bytes([0x20, 0x00]) + struct.pack("!H", 0)


def malformed_proxy_v2() -> dict[str, bytes]:
    """Headers that carry the v2 signature but are wrong: each must close the connection."""
    good = proxy_v2("203.0.113.7", 40000, "127.0.0.1", 443)
    v1 = bytearray(good); v1[12] = 0x11                       # version 1 in the v2 format
    cmd = bytearray(good); cmd[12] = 0x2F                     # unknown command
    fam = bytearray(good); fam[13] = 0x55                     # unknown address family
    short = bytearray(good[:16]); short[14:16] = b"\x00\x04"  # IPv4 with 4 address bytes
    short += good[16:20]
    huge = bytearray(good); huge[14:16] = b"\xff\xff"         # 64 KiB header
    huge += b"\x00" * (0xFFFF - 12)
    v6short = bytearray(proxy_v2("2001:db8::7", 1, "2001:db8::1", 443)[:16])
    v6short[14:16] = b"\x00\x0c"                              # IPv6 family, IPv4-sized body
    v6short += b"\x00" * 12
    return {"version1": bytes(v1), "command": bytes(cmd), "family": bytes(fam), "short_ipv4": bytes(short),
            "too_long": bytes(huge), "short_ipv6": bytes(v6short)}


# -- TLS over a raw socket -----------------------------------------------------------------

class RawTls:
    """A TLS client over a socket it owns. `pp` (bytes) goes out first: in the same segment
    as the ClientHello (coalesce=True, like an NLB) or on its own, 50 ms before it."""

    def __init__(self, addr, *, pp: bytes = b"", sni: str | None, ca=None, source_ip: str | None = None,
                 timeout: float = 5.0, coalesce: bool = True, alpn=("http/1.1",), verify: bool = True):
        self.timeout = timeout
        self.sock = socket.create_connection(addr, timeout, source_address=(source_ip, 0) if source_ip else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if verify:
            ctx = ssl.create_default_context(cafile=str(ca) if ca else None)
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        if alpn:
            ctx.set_alpn_protocols(list(alpn))
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname=sni)
        self.eof = False
        try:
            if pp and not coalesce:
                self.sock.sendall(pp)
                time.sleep(0.05)
                pp = b""
            self._handshake(pp)
        except BaseException:
            self.sock.close()
            raise

    def _handshake(self, pp: bytes) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass
            data = pp + self.out.read()
            pp = b""
            if data:
                self.sock.sendall(data)
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            got = self.sock.recv(65536)
            if not got:
                raise ConnectionError("server closed the connection during the TLS handshake")
            self.inc.write(got)
        rest = self.out.read()
        if rest:
            self.sock.sendall(rest)

    @property
    def version(self) -> str | None:
        return self.obj.version()

    def send(self, data: bytes) -> None:
        self.obj.write(data)
        self.sock.sendall(self.out.read())

    def read_all(self, timeout: float = 5.0, until_eof: bool = True) -> bytes:
        """Application bytes until the server closes (or `timeout`; also stops once a
        complete response with Content-Length arrived when until_eof=False)."""
        buf = bytearray()
        deadline = time.monotonic() + timeout
        while True:
            try:
                while True:
                    chunk = self.obj.read(65536)
                    if not chunk:
                        self.eof = True
                        return bytes(buf)
                    buf += chunk
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                self.eof = True
                return bytes(buf)
            if not until_eof and response_complete(bytes(buf)):
                return bytes(buf)
            left = deadline - time.monotonic()
            if left <= 0:
                return bytes(buf)
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return bytes(buf)
            try:
                got = self.sock.recv(65536)
            except (ConnectionResetError, OSError):
                got = b""
            if not got:
                self.eof = True
                self.inc.write_eof()
                try:
                    while True:
                        chunk = self.obj.read(65536)
                        if not chunk:
                            break
                        buf += chunk
                except (ssl.SSLError, ssl.SSLWantReadError):
                    pass
                return bytes(buf)
            self.inc.write(got)
            out = self.out.read()  # e.g. key updates / session tickets need no answer, but flush
            if out:
                try:
                    self.sock.sendall(out)
                except OSError:
                    pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


# -- HTTP/1 responses ------------------------------------------------------------------------

@dataclass
class RawResp:
    status: int
    reason: str
    headers: dict
    body: bytes
    raw: bytes = field(repr=False, default=b"")
    more: list = field(default_factory=list)   # further responses on the same connection

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)


_STATUS = re.compile(rb"^HTTP/1\.[01] (\d{3}) ?([^\r\n]*)\r\n")


def _dechunk(data: bytes) -> tuple[bytes, int] | None:
    out, i = bytearray(), 0
    while True:
        j = data.find(b"\r\n", i)
        if j < 0:
            return None
        size = int(data[i:j].split(b";")[0].strip() or b"0", 16)
        i = j + 2
        if size == 0:
            k = data.find(b"\r\n\r\n", i - 2)
            return (bytes(out), (k + 4) if k >= 0 else len(data))
        if len(data) < i + size + 2:
            return None
        out += data[i:i + size]
        i += size + 2


def _parse_one(raw: bytes):
    m = _STATUS.match(raw)
    if not m:
        raise ValueError(f"not an HTTP/1 response: {raw[:200]!r}")
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        raise ValueError(f"incomplete response header: {raw[:300]!r}")
    headers = {}
    for line in raw[m.end():end].split(b"\r\n"):
        if b":" in line:
            k, v = line.split(b":", 1)
            headers[k.decode().strip().lower()] = v.decode(errors="replace").strip()
    rest = raw[end + 4:]
    if headers.get("transfer-encoding", "").lower() == "chunked":
        d = _dechunk(rest)
        body, used = d if d else (rest, len(rest))
    elif "content-length" in headers:
        n = int(headers["content-length"])
        body, used = rest[:n], n
    else:
        body, used = rest, len(rest)
    return RawResp(int(m.group(1)), m.group(2).decode(errors="replace"), headers, body, raw), rest[used:]


def parse_response(raw: bytes) -> RawResp:
    first, rest = _parse_one(raw)
    while rest.startswith(b"HTTP/1."):
        try:
            nxt, rest = _parse_one(rest)
        except ValueError:
            break
        first.more.append(nxt)
    return first


def response_complete(raw: bytes) -> bool:
    try:
        end = raw.index(b"\r\n\r\n")
    except ValueError:
        return False
    try:
        r, _ = _parse_one(raw)
    except ValueError:
        return False
    if r.header("transfer-encoding", "").lower() == "chunked":
        return _dechunk(raw[end + 4:]) is not None
    if r.header("content-length") is not None:
        return len(raw) - end - 4 >= int(r.header("content-length"))
    return False


# -- a chain: root -> intermediate -> leaf ---------------------------------------------------

@dataclass
class ChainLeaf:
    cert_path: Path      # leaf + intermediate (what the proxy serves)
    key_path: Path
    leaf_only_path: Path
    intermediate_path: Path
    leaf: x509.Certificate
    intermediate: x509.Certificate


class IntermediateCA:
    """A root (pathlen 1) -> intermediate (pathlen 0) -> leaf chain, all ECDSA P-256."""

    def __init__(self, directory: Path, name: str = "staticedge e2e security root"):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.timezone.utc)
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.root = self._ca_cert(root_name, root_name, self.root_key.public_key(), self.root_key, 1, now)
        self.int_key = ec.generate_private_key(ec.SECP256R1())
        int_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name + " intermediate")])
        self.intermediate = self._ca_cert(int_name, root_name, self.int_key.public_key(), self.root_key, 0, now,
                                          issuer_pub=self.root_key.public_key())
        self.root_path = self.dir / "root.pem"
        self.root_path.write_bytes(self.root.public_bytes(serialization.Encoding.PEM))
        self.intermediate_path = self.dir / "intermediate.pem"
        self.intermediate_path.write_bytes(self.intermediate.public_bytes(serialization.Encoding.PEM))

    @staticmethod
    def _ca_cert(subject, issuer, pub, signer, pathlen, now, issuer_pub=None):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(pub)
             .serial_number(x509.random_serial_number())
             .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
             .add_extension(x509.BasicConstraints(ca=True, path_length=pathlen), critical=True)
             .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                                          key_cert_sign=True, crl_sign=True, encipher_only=False,
                                          decipher_only=False), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False))
        if issuer_pub is not None:
            b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_pub), critical=False)
        return b.sign(signer, hashes.SHA256())

    def issue(self, stem: str, names: list[str]) -> ChainLeaf:
        now = dt.datetime.now(dt.timezone.utc)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
                .issuer_name(self.intermediate.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=10))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False, key_agreement=False,
                                             key_cert_sign=False, crl_sign=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.int_key.public_key()),
                               critical=False)
                .sign(self.int_key, hashes.SHA256()))
        leaf_pem = cert.public_bytes(serialization.Encoding.PEM)
        int_pem = self.intermediate.public_bytes(serialization.Encoding.PEM)
        full = self.dir / f"{stem}.fullchain.pem"
        full.write_bytes(leaf_pem + int_pem)
        only = self.dir / f"{stem}.leaf.pem"
        only.write_bytes(leaf_pem)
        kp = self.dir / f"{stem}.key.pem"
        kp.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
        return ChainLeaf(full, kp, only, self.intermediate_path, cert, self.intermediate)
