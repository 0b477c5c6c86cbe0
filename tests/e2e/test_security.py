"""What staticedge refuses, end to end: PROXY protocol v2 (raw client and HAProxy send-proxy-v2), allow-lists
on the PROXY address, slowloris (slowhttptest, 1,000 slow-header connections), oversized
bodies, request smuggling (raw sockets over TLS) and the TLS posture (sslyze's JSON).

Every request that must not reach the upstream carries a unique token in its query; the
Django app's gunicorn access log (or, for bodies, harness/body_sink.py's log of the body
bytes it read) is the upstream's record of what it saw. Before a "saw nothing" assertion a
sentinel request is sent through the same proxy and awaited in that log, so the absence is
not just a slow log write.

Needs: slowhttptest and nghttp2-client (Debian), sslyze (PyPI, tests/requirements.txt).
The slowloris test raises this process's RLIMIT_NOFILE soft limit (up to the hard limit)
before it starts the proxy and slowhttptest, which inherit it."""
from __future__ import annotations

import json
import re
import resource
import shutil
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from harness import httpc, net, report
from harness.haproxy import Backend
from harness.paths import CUSTOM_HOST, EB_HOST
from harness.procs import Managed
from harness.proxy import Proxy, ProxyBuilder
from harness.rawtls import IntermediateCA, malformed_proxy_v2, parse_response, proxy_v2, proxy_v2_local
from harness.upstreams import EbApp

pytestmark = pytest.mark.security

ALLOW_HOST = "allow.example.test"
NAMES = [CUSTOM_HOST, ALLOW_HOST]
ALLOWED_V4 = "203.0.113.0/24"
ALLOWED_V6 = "2001:db8:1::/48"
SLOWHTTPTEST = shutil.which("slowhttptest") or "/usr/bin/slowhttptest"


# -- fixtures and helpers ------------------------------------------------------------------

@pytest.fixture(scope="module")
def sec_app(session_dir):
    """One Django app for the module; tokens keep each test's requests apart."""
    ip = net.loopback_addr()
    app = EbApp(session_dir / "security-app", ip, net.free_port(ip), "sec").start()
    yield app
    app.stop()


def tok() -> str:
    return uuid.uuid4().hex[:16]


def seen(app, token: str) -> list[dict]:
    """What the upstream logged for requests carrying `token` in their path or query."""
    return [l for l in app.access() if token in l["path"] or token in l["query"]]


@pytest.fixture
def guarded_proxy(new_proxy, ca, workdir):
    """A builder per call (not started) for a proxy in front of `app`: one TLS listener per
    PROXY protocol mode in `modes` (labelled by the mode), CUSTOM_HOST open to everyone,
    ALLOW_HOST only to clients in ALLOWED_V4 / ALLOWED_V6 (Host rewritten to EB_HOST)."""
    def new(app, modes=("off",), leaf=None) -> ProxyBuilder:
        b = new_proxy().certificate(leaf or ca.issue(workdir, "edge", NAMES))
        ip = net.loopback_addr()
        for mode in modes:
            b.listen(mode, ip=ip, proxy_protocol=mode)
        return (b.route("app", hosts=[ALLOW_HOST], host_header=EB_HOST, allow_cidrs=[ALLOWED_V4, ALLOWED_V6])
                .route("app", hosts=[CUSTOM_HOST])
                .upstream("app", app.addr, connect_timeout="1s", retries=0))
    return new


def whoami(proxy: Proxy, mode="off", *, pp=b"", host=CUSTOM_HOST, token=None, **kw):
    """GET /whoami?t=TOKEN on a fresh raw TLS connection to listener `mode`, after `pp`."""
    token = token or tok()
    req = (f"GET /whoami?t={token} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").encode()
    resp, raw, _ = proxy.exchange(req, mode, pp=pp, sni=host, **kw)
    assert resp is not None, f"no response to {req!r}"
    return resp


def settle(proxy: Proxy, app, mode="off") -> None:
    """A request that must reach the upstream, awaited in its log: whatever was sent
    before it has been handled (or dropped) by then."""
    t = "sentinel" + tok()
    if mode == "required":
        r = whoami(proxy, mode, pp=proxy_v2("203.0.113.250", 1, "127.0.0.1", 443), token=t)
    else:
        r = proxy.get(f"/whoami?t={t}", listener=mode, timeout=5)
    assert r.status == 200, (r.status, getattr(r, "body", b"")[:200])
    net.wait_until(lambda: seen(app, t), 5, what="sentinel request in the upstream log")


def xff(resp) -> str | None:
    assert resp.status == 200, (resp.status, resp.body[:300])
    return json.loads(resp.body)["x_forwarded_for"]


# -- 1. PROXY protocol v2 -------------------------------------------------------------------

def test_proxy_v2_client_address_from_header(guarded_proxy, sec_app):
    proxy = guarded_proxy(sec_app, modes=("required",)).run()
    ip, port = proxy.listeners["required"]
    src = net.loopback_addr()

    # PROXY for 203.0.113.7: the header and the ClientHello in one segment (as an NLB), and apart
    for coalesce in (True, False):
        r = whoami(proxy, "required", pp=proxy_v2("203.0.113.7", 51234, ip, port), coalesce=coalesce, source_ip=src)
        assert xff(r) == "203.0.113.7", (coalesce, r.body[:300])
    # with an AWS VPC endpoint TLV after the addresses
    tlv = b"\xea\x00\x0d\x01vpce-0abc123"
    r = whoami(proxy, "required", pp=proxy_v2("203.0.113.7", 51234, ip, port, tlvs=tlv), source_ip=src)
    assert xff(r) == "203.0.113.7"
    # LOCAL (NLB health checks): the socket's address
    r = whoami(proxy, "required", pp=proxy_v2_local(), source_ip=src)
    assert xff(r) == src, r.body[:300]
    # IPv6 source
    r = whoami(proxy, "required", pp=proxy_v2("2001:db8::7", 40000, "2001:db8::1", 443), source_ip=src)
    assert xff(r) == "2001:db8::7", r.body[:300]
    # keep-alive: a second request on the same connection keeps the PROXY address
    c = proxy.raw("required", pp=proxy_v2("203.0.113.8", 1, ip, port), source_ip=src)
    try:
        for i in range(2):
            last = "close" if i else "keep-alive"
            c.send(f"GET /whoami?t=ka{i} HTTP/1.1\r\nHost: {CUSTOM_HOST}\r\nConnection: {last}\r\n\r\n".encode())
            resp = parse_response(c.read_all(timeout=5, until_eof=bool(i)))
            assert xff(resp) == "203.0.113.8", (i, resp.body[:300])
    finally:
        c.close()


def test_proxy_v2_malformed_or_missing_header_closes(guarded_proxy, sec_app):
    proxy = guarded_proxy(sec_app, modes=("required", "optional", "off")).run()
    before_log = len(sec_app.access())
    m0 = proxy.scrape()
    bad = malformed_proxy_v2()
    outcomes = {}
    for mode in ("required", "optional"):
        for name, pp in bad.items():
            with pytest.raises(OSError) as ei:
                proxy.raw(mode, pp=pp, timeout=5).close()
            outcomes[f"{mode}/{name}"] = type(ei.value).__name__
    # missing header on the "required" listener: a plain TLS client is closed
    for _ in range(3):
        with pytest.raises(OSError):
            proxy.raw("required", timeout=5).close()
    # a header on an "off" listener is not TLS: the handshake fails
    with pytest.raises(OSError):
        proxy.raw("off", pp=proxy_v2("203.0.113.7", 1, "127.0.0.1", 443), timeout=5).close()
    m1 = proxy.scrape()
    malformed = m1.delta(m0, "staticedge_proxy_protocol_rejected_total", reason="malformed")
    missing = m1.delta(m0, "staticedge_proxy_protocol_rejected_total", reason="missing")
    report.record("security_proxy_v2_rejects", malformed_closed=malformed, missing_closed=missing,
                  outcomes=outcomes)
    assert malformed == 2 * len(bad), m1
    assert missing == 3, m1
    # the listeners still work, and nothing of the above reached the upstream: the only
    # new lines in its log are these two requests
    src = net.loopback_addr()
    assert xff(whoami(proxy, "optional", source_ip=src)) == src, "no header: the socket's address"
    settle(proxy, sec_app, "off")
    assert len(sec_app.access()[before_log:]) == 2, sec_app.access()[before_log:]


def test_proxy_v2_optional_listener(guarded_proxy, sec_app):
    proxy = guarded_proxy(sec_app, modes=("optional",)).run()
    ip, port = proxy.listeners["optional"]
    src = net.loopback_addr()
    # a plain TLS client (no header): the socket's address
    r = whoami(proxy, "optional", source_ip=src)
    assert xff(r) == src
    r2 = httpc.request(proxy.listeners["optional"], "/whoami", host=CUSTOM_HOST, ca=proxy.ca_path, source_ip=src)
    assert r2.status == 200 and r2.json()["x_forwarded_for"] == src
    # with a header: the header's address
    r = whoami(proxy, "optional", pp=proxy_v2("203.0.113.7", 2, ip, port), source_ip=src)
    assert xff(r) == "203.0.113.7"
    r = whoami(proxy, "optional", pp=proxy_v2("2001:db8::7", 2, "2001:db8::1", port), source_ip=src)
    assert xff(r) == "2001:db8::7"


def test_allow_cidrs_act_on_proxy_address(guarded_proxy, sec_app):
    proxy = guarded_proxy(sec_app, modes=("required", "optional")).run()
    ip, port = proxy.listeners["required"]
    src = net.loopback_addr()
    m0 = proxy.scrape()

    def via(pp, mode="required"):
        t = tok()
        return t, whoami(proxy, mode, pp=pp, host=ALLOW_HOST, token=t, source_ip=src)

    allowed, denied = [], []
    for pp in (proxy_v2("203.0.113.7", 1, ip, port), proxy_v2("203.0.113.200", 1, ip, port),
               proxy_v2("2001:db8:1::5", 1, "2001:db8::1", port)):
        t, r = via(pp)
        assert r.status == 200, (r.status, r.body[:300])
        assert json.loads(r.body)["host"] == EB_HOST
        allowed.append(t)
    for pp, mode in ((proxy_v2("198.51.100.9", 1, ip, port), "required"),
                     (proxy_v2("203.0.114.7", 1, ip, port), "required"),
                     (proxy_v2("2001:db8:2::5", 1, "2001:db8::1", port), "required"),
                     (proxy_v2_local(), "required"),      # the socket's 127.x address
                     (b"", "optional")):                   # no header: the socket's 127.x address
        t, r = via(pp, mode)
        assert r.status == 403, (mode, pp[:16], r.status, r.body[:300])
        denied.append(t)
    settle(proxy, sec_app, "optional")
    for t in allowed:
        assert seen(sec_app, t), t
    for t in denied:
        assert not seen(sec_app, t), (t, seen(sec_app, t))
    m1 = proxy.scrape()
    forbidden = m1.delta(m0, "staticedge_rejected_requests_total", reason="forbidden")
    assert forbidden == len(denied), m1


def test_haproxy_send_proxy_v2_end_to_end(guarded_proxy, make_haproxy, sec_app):
    proxy = guarded_proxy(sec_app, modes=("required",)).run()
    lb_ip = net.loopback_addr()
    lb = make_haproxy((lb_ip, net.free_port(lb_ip)),
                      [Backend("p1", proxy.listeners["required"], proxy.admin, extra="send-proxy-v2")])
    lb.wait_status("p1", "UP", timeout=15)
    # (the harness's own TCP probe of the frontend already went through as an empty connection)
    m0 = proxy.scrape()
    client = net.loopback_addr()
    for _ in range(3):
        r = httpc.request(lb.frontend, "/whoami", host=CUSTOM_HOST, ca=proxy.ca_path, source_ip=client, timeout=5)
        assert r.status == 200, (r.status, r.text[:300])
        assert r.json()["x_forwarded_for"] == client, r.json()
    # the allow-list sees the client's 127.x address, not HAProxy's, and refuses it
    r = httpc.request(lb.frontend, "/whoami", host=ALLOW_HOST, ca=proxy.ca_path, source_ip=client, timeout=5)
    assert r.status == 403, (r.status, r.text[:300])
    # every connection HAProxy opened for these requests carried a valid PROXY header.
    # (reason="read" is left out: each /readyz dials every listener and closes without a
    # byte, and HAProxy's health check asks /readyz every second.)
    m1 = proxy.scrape()
    counts = {r: m1.delta(m0, "staticedge_proxy_protocol_rejected_total", reason=r) for r in ("malformed", "missing", "read")}
    report.record("security_haproxy_pp2", rejected_during=counts)
    assert counts["malformed"] == 0 and counts["missing"] == 0, m1
    assert lb.sessions("p1") >= 4


# -- 2. slowloris ---------------------------------------------------------------------------

def _raise_nofile(want: int = 65536) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _read_slowhttptest_csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    lines = [l for l in path.read_text(errors="replace").splitlines() if l.strip()]
    if not lines:
        return []
    head = [h.strip().lower() for h in lines[0].split(",")]
    out = []
    for l in lines[1:]:
        parts = [p.strip() for p in l.split(",")]
        if len(parts) == len(head):
            try:
                out.append({h: float(p) if p.replace(".", "", 1).isdigit() else p for h, p in zip(head, parts)})
            except ValueError:
                pass
    return out


HEADER_TIMEOUT_S = 8
SLOW_RATE = 100          # new slow connections per second: all 1,000 open after ~10 s
SLOW_FOLLOWUP_S = 2      # a new header line every 2 s: no single read ever waits long


@pytest.mark.timeout(150)
def test_slowloris_header_deadline(guarded_proxy, workdir, sec_app):
    """1,000 slowloris connections that each send a header line every 2 s (so per-read
    timeouts never fire) are closed by the whole-header deadline, while a normal client
    gets 200 within 1 s throughout."""
    nofile = _raise_nofile()          # the proxy (started below) and slowhttptest inherit it
    assert nofile >= 4096, f"RLIMIT_NOFILE {nofile}: 1,000 slow connections need more descriptors"
    proxy = (guarded_proxy(sec_app, modes=("off",)).server(threads=2)
             .limits(header_timeout=f"{HEADER_TIMEOUT_S}s", handshake_timeout="5s", max_connections=50000).run())
    ip, port = proxy.listeners["off"]
    m0 = proxy.scrape()
    prefix = workdir / "slowhttptest"
    max_len = 60
    t_start = time.monotonic()
    slow = Managed("slowhttptest", [
        SLOWHTTPTEST, "-H", "-c", "1000", "-r", str(SLOW_RATE), "-i", str(SLOW_FOLLOWUP_S), "-l", str(max_len),
        "-x", "24", "-p", "3", "-t", "GET", "-u", f"https://{ip}:{port}/whoami", "-g", "-o", str(prefix), "-v", "1",
    ], workdir)
    probes = []
    try:
        time.sleep(2.0)
        for i in range(10):
            t = time.monotonic()
            open_before = proxy.scrape().total("staticedge_downstream_connections")
            p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "--max-time", "2", "--cacert", str(proxy.ca_path),
                                "--resolve", f"{CUSTOM_HOST}:{port}:{ip}",
                                "-w", "%{http_code} %{time_total} %{time_connect} %{time_appconnect}",
                                f"https://{CUSTOM_HOST}:{port}/whoami?t=slowloris-probe{i}"],
                               capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
            code, total, t_conn, t_tls = (p.stdout.split() + ["", "", "", ""])[:4]
            probes.append({"at_s": round(t - t_start, 1), "status": code, "open": open_before,
                           "seconds": float(total) if code not in ("", "000") else None,
                           "connect_s": t_conn, "tls_s": t_tls, "error": p.stderr.strip()[-200:]})
            time.sleep(max(0.0, 1.4 - (time.monotonic() - t)))
        peak_open = max(p["open"] for p in probes)
        slow.wait(max_len + 15)
        attack_s = time.monotonic() - t_start
    finally:
        slow.stop()
    m1 = proxy.scrape()
    timeouts = m1.delta(m0, "staticedge_rejected_requests_total", reason="header_timeout")
    handshakes = m1.delta(m0, "staticedge_tls_handshakes_total", result="ok")
    rows = _read_slowhttptest_csv(Path(str(prefix) + ".csv"))
    out = re.sub(r"\x1b\[[0-9;]*m", "", slow.stdout())
    closed_max = max((r["closed"] for r in rows if isinstance(r.get("closed"), float)), default=0)
    connected_max = max((r["connected"] for r in rows if isinstance(r.get("connected"), float)), default=0)
    unavailable = [r["seconds"] for r in rows if r.get("service available") == 0]
    report.record("security_slowloris", slow_connections=1000, rate=SLOW_RATE, followup_s=SLOW_FOLLOWUP_S,
                  header_timeout_s=HEADER_TIMEOUT_S, attack_s=round(attack_s, 1), probes=probes,
                  peak_open_connections=peak_open, header_timeouts=timeouts, tls_handshakes_ok=handshakes,
                  slowhttptest_closed=closed_max, slowhttptest_connected_max=connected_max,
                  slowhttptest_unavailable_s=unavailable,
                  slowhttptest_exit=re.findall(r"Exit status:\s*(.*)", out))
    assert handshakes >= 950, f"slowhttptest did not get its connections up: {handshakes} handshakes\n{slow.tail()}"
    assert peak_open >= 500, f"the attack never held many connections open (peak {peak_open})"
    # a normal client, during the attack (each probe ran while >= 100 slow connections were open)
    assert [p["status"] for p in probes] == ["200"] * 10, probes
    assert all(p["seconds"] is not None and p["seconds"] < 1.0 for p in probes), probes
    assert all(p["open"] >= 100 for p in probes), probes
    assert not unavailable, f"slowhttptest's own probe found the service unavailable at {unavailable} s"
    # the slow connections were closed by the header deadline, not by the client: slowhttptest
    # stopped early because the server had closed every connection
    assert timeouts >= 950, f"only {timeouts} header_timeout closes for 1,000 slow connections"
    assert "No open connections left" in out, out[-1500:]
    assert attack_s < max_len, attack_s
    assert m1.total("staticedge_downstream_connections") <= 5, "slow connections still open"


# -- 3. oversized bodies -------------------------------------------------------------------

MAX_BODY = 1024


def test_oversized_body_413_and_never_forwarded(guarded_proxy, workdir, make_body_sink):
    sink = make_body_sink()
    proxy = guarded_proxy(sink).limits(max_request_body_bytes=MAX_BODY).run()
    ip, port = proxy.at
    m0 = proxy.scrape()

    def post_cl(n: int, with_body: bool):
        t = tok()
        head = (f"POST /whoami?t={t} HTTP/1.1\r\nHost: {CUSTOM_HOST}\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {n}\r\nConnection: close\r\n\r\n").encode()
        c = proxy.raw()
        try:
            c.send(head + (b"x" * n if with_body else b""))
            raw = c.read_all(timeout=5)
        finally:
            c.close()
        return t, parse_response(raw)

    # within the limit: forwarded whole (control)
    t_ok, r = post_cl(1000, True)
    assert r.status == 200 and json.loads(r.body) == {"received": 1000}, (r.status, r.body[:300])
    # 4 KiB announced: 413 from the header alone (the client has not sent the body yet)...
    t_big1, r = post_cl(4096, False)
    assert r.status == 413, (r.status, r.body[:300])
    # ...and with the body in the same write as the header
    t_big2, r = post_cl(4096, True)
    assert r.status == 413, (r.status, r.body[:300])
    # curl over HTTP/1.1, the way a real client uploads
    t_big3 = tok()
    body_file = workdir / "4k.bin"
    body_file.write_bytes(b"y" * 4096)
    p = subprocess.run(["curl", "-sS", "--http1.1", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                        "--cacert", str(proxy.ca_path), "--resolve", f"{CUSTOM_HOST}:{port}:{ip}",
                        "--data-binary", f"@{body_file}", f"https://{CUSTOM_HOST}:{port}/whoami?t={t_big3}"],
                       capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert p.stdout.strip() == "413", (p.stdout, p.stderr)
    # HTTP/2 (nghttp: curl 7.88 reports the early 413 + RST_STREAM(NO_ERROR) that RFC 9113
    # section 8.1 allows as "Stream error in the HTTP/2 framing layer", so it cannot judge this)
    h2_tokens = []
    for size in (4096, 65536):
        t = tok()
        h2_tokens.append(t)
        f = workdir / f"h2-{size}.bin"
        f.write_bytes(b"w" * size)
        p = subprocess.run(["nghttp", "-nv", "--timeout=5", "-d", str(f), "-H", f":authority: {CUSTOM_HOST}",
                            f"https://{ip}:{port}/whoami?t={t}"],
                           capture_output=True, text=True, timeout=15, stdin=subprocess.DEVNULL)
        statuses = re.findall(r":status: (\d{3})", p.stdout)
        assert statuses == ["413"], (size, statuses, p.stdout[-1500:], p.stderr[-500:])
        resets = re.findall(r"RST_STREAM frame.*\n\s*\(error_code=(\w+)", p.stdout)
        assert all(r.startswith("NO_ERROR") for r in resets), (size, resets)

    # chunked (no Content-Length): checked while streaming
    def post_chunked(sizes, pause):
        t = tok()
        c = proxy.raw()
        raw = b""
        try:
            c.send((f"POST /whoami?t={t} HTTP/1.1\r\nHost: {CUSTOM_HOST}\r\nTransfer-Encoding: chunked\r\n"
                    f"Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n").encode())
            for n in sizes:
                if pause:
                    time.sleep(pause)
                try:
                    c.send(b"%x\r\n" % n + b"z" * n + b"\r\n")
                except OSError:
                    break
            try:
                c.send(b"0\r\n\r\n")
            except OSError:
                pass
            raw = c.read_all(timeout=5)
        except OSError:
            pass
        finally:
            c.close()
        return t, (parse_response(raw) if raw.startswith(b"HTTP/") else None)

    t_chunk_ok, r = post_chunked([300, 300], 0.05)
    assert r is not None and r.status == 200 and json.loads(r.body) == {"received": 600}, r
    chunked = {}
    for name, sizes, pause in (("streamed", [512] * 8, 0.1), ("one_write", [4096], 0)):
        t, r = post_chunked(sizes, pause)
        chunked[name] = (t, r.status if r else None)

    settle(proxy, sink)
    assert seen(sink, t_ok) and seen(sink, t_chunk_ok)
    for t in (t_big1, t_big2, t_big3, *h2_tokens):
        assert not seen(sink, t), ("a request refused on its Content-Length reached the upstream", seen(sink, t))
    for name, (t, _) in chunked.items():  # the header went upstream: wait for the sink's verdict on the body
        net.wait_until(lambda: [l for l in seen(sink, t) if l["event"] == "end"] or not seen(sink, t), 5,
                       what=f"{name}: the body sink finished reading")
    upstream = {name: seen(sink, t) for name, (t, _) in chunked.items()}
    report.record("security_oversized_body", chunked_status={k: v[1] for k, v in chunked.items()},
                  chunked_upstream=upstream)
    for name, (t, status) in chunked.items():
        assert status is None or not 200 <= status < 300, (name, status)
        received = max((l.get("received", 0) for l in upstream[name]), default=0)
        assert received <= MAX_BODY, f"{name}: the upstream received {received} body bytes (limit {MAX_BODY})"
        assert not [l for l in upstream[name] if l.get("complete")], (name, upstream[name])
    m1 = proxy.scrape()
    too_large = m1.delta(m0, "staticedge_rejected_requests_total", reason="body_too_large")
    assert too_large >= 7, m1


# -- 4. request smuggling -------------------------------------------------------------------

def _smuggled(t: str) -> str:
    return f"GET /whoami?t={t}-smuggled HTTP/1.1\r\nHost: {CUSTOM_HOST}\r\n\r\n"


def smuggling_cases(t: str) -> dict[str, bytes]:
    H = f"Host: {CUSTOM_HOST}\r\n"
    post = f"POST /whoami?t={t} HTTP/1.1\r\n" + H
    inner = _smuggled(t)
    chunk_body = "0\r\n\r\n" + inner
    cases = {
        "cl_then_te": post + f"Content-Length: {len(chunk_body)}\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk_body,
        "te_then_cl": post + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + chunk_body,
        "duplicate_cl_same": post + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
        "conflicting_cl": post + f"Content-Length: 5\r\nContent-Length: {5 + len(inner)}\r\n\r\nhello" + inner,
        "cl_list": post + "Content-Length: 5, 5\r\n\r\nhello",
        "cl_plus_sign": post + "Content-Length: +5\r\n\r\nhello",
        "te_gzip_chunked": post + "Transfer-Encoding: gzip, chunked\r\n\r\n" + chunk_body,
        "te_xchunked": post + "Transfer-Encoding: xchunked\r\n\r\n" + chunk_body,
        "te_twice": post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk_body,
        "te_space_before_colon": post + "Transfer-Encoding : chunked\r\n\r\n" + chunk_body,
        "te_on_http10": f"POST /whoami?t={t} HTTP/1.0\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n" + chunk_body,
        "obs_fold": post + "X-Folded: a\r\n  b\r\nContent-Length: 0\r\n\r\n",
        "obs_fold_te": post + "X-A: 1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n" + chunk_body,
        "bad_chunk_size": post + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        "chunk_longer_than_size": post + "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n" + inner,
    }
    return {k: v.encode() for k, v in cases.items()}


def test_request_smuggling_400_and_nothing_forwarded(guarded_proxy, sec_app):
    proxy = guarded_proxy(sec_app).run()
    m0 = proxy.scrape()
    # control: an unambiguous POST on the same path is forwarded
    t_ok = tok()
    r, _, _ = proxy.exchange((f"POST /whoami?t={t_ok} HTTP/1.1\r\nHost: {CUSTOM_HOST}\r\nContent-Length: 5\r\n"
                          f"Connection: close\r\n\r\nhello").encode())
    assert r is not None and r.status == 200, r
    results, tokens = {}, {}
    for name in smuggling_cases("x"):
        t = tok()
        tokens[name] = t
        resp, raw, eof = proxy.exchange(smuggling_cases(t)[name])
        results[name] = (resp.status if resp else None, eof, resp.more if resp else None)
    settle(proxy, sec_app)
    reached = {name: seen(sec_app, t) for name, t in tokens.items() if seen(sec_app, t)}
    m1 = proxy.scrape()
    bad_framing = m1.delta(m0, "staticedge_rejected_requests_total", reason="bad_framing")
    report.record("security_smuggling", results={k: v[0] for k, v in results.items()},
                  reached_upstream=sorted(reached), bad_framing=bad_framing)
    assert seen(sec_app, t_ok)
    wrong = {k: v for k, v in results.items() if v[0] != 400 or v[2]}
    assert not wrong, f"not a lone 400: {wrong}"
    assert not reached, f"reached the upstream: {reached}"
    not_closed = [k for k, v in results.items() if not v[1]]
    assert not not_closed, f"connection left open after the 400: {not_closed}"


# -- 5. TLS posture (sslyze) ----------------------------------------------------------------

def _sslyze(workdir: Path, name: str, ip: str, port: int, ca_file: Path, *extra) -> dict:
    out = workdir / f"sslyze-{name}.json"
    argv = [sys.executable, "-m", "sslyze", "--mozilla_config=disable", "--quiet", f"--json_out={out}",
            f"--sni={CUSTOM_HOST}", "--sslv2", "--sslv3", "--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3",
            *extra, f"{ip}:{port}"]
    p = Managed(f"sslyze-{name}", argv, workdir)
    try:
        rc = p.wait(90)
    finally:
        p.stop()
    assert rc == 0, f"sslyze exited {rc}\n{p.tail()}"
    doc = json.loads(out.read_text())
    results = doc["server_scan_results"]
    assert len(results) == 1 and results[0]["scan_status"] == "COMPLETED", json.dumps(results)[:2000]
    return results[0]["scan_result"]


def _accepted(scan: dict, cmd: str) -> list[dict]:
    r = scan[cmd]
    assert r["status"] == "COMPLETED", (cmd, r.get("error_reason"), r.get("error_trace"))
    return r["result"]["accepted_cipher_suites"]


FS_AEAD_12 = re.compile(r"^TLS_ECDHE_(ECDSA|RSA)_WITH_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)$")


def test_tls_posture_sslyze(guarded_proxy, workdir, sec_app):
    pki = IntermediateCA(workdir / "pki")
    leaf = pki.issue("edge", NAMES)
    proxy = guarded_proxy(sec_app, leaf=leaf).trust(pki.root_path).run()
    ip, port = proxy.at
    # a working request through the served chain, trusting only the root
    r = httpc.request((ip, port), "/whoami", host=CUSTOM_HOST, ca=pki.root_path)
    assert r.status == 200
    t0 = time.monotonic()
    scan = _sslyze(workdir, "default", ip, port, pki.root_path, "--reneg", "--compression", "--certinfo",
                   f"--certinfo_ca_file={pki.root_path}", "--fallback", "--heartbleed", "--openssl_ccs",
                   "--robot")
    took = time.monotonic() - t0
    offered = {cmd: [s["cipher_suite"]["name"] for s in _accepted(scan, cmd)]
               for cmd in ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites",
                           "tls_1_1_cipher_suites", "tls_1_2_cipher_suites", "tls_1_3_cipher_suites")}
    reneg = scan["session_renegotiation"]["result"]
    compression = scan["tls_compression"]["result"]
    cert = scan["certificate_info"]["result"]["certificate_deployments"][0]
    chain = cert["received_certificate_chain"]
    report.record("security_sslyze_default", seconds=round(took, 1), offered=offered, renegotiation=reneg,
                  compression=compression, chain_len=len(chain),
                  heartbleed=scan["heartbleed"]["result"], ccs=scan["openssl_ccs_injection"]["result"],
                  robot=scan["robot"]["result"], fallback=scan["tls_fallback_scsv"]["result"])
    for cmd in ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites", "tls_1_1_cipher_suites"):
        assert offered[cmd] == [], (cmd, offered[cmd])
    assert offered["tls_1_2_cipher_suites"], "TLS 1.2 not offered with min_version 1.2"
    assert offered["tls_1_3_cipher_suites"], "TLS 1.3 not offered"
    for s in _accepted(scan, "tls_1_2_cipher_suites"):
        name = s["cipher_suite"]["name"]
        assert FS_AEAD_12.match(name), f"TLS 1.2 suite not forward-secret AEAD: {name}"
        assert s.get("ephemeral_key"), f"no ephemeral key for {name}"
    for s in _accepted(scan, "tls_1_3_cipher_suites"):
        assert s["cipher_suite"]["name"] in ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                             "TLS_CHACHA20_POLY1305_SHA256"), s["cipher_suite"]["name"]
    # renegotiation: none initiated by the client, none insecure
    assert reneg["is_vulnerable_to_client_renegotiation_dos"] is False, reneg
    assert reneg["supports_secure_renegotiation"] is True, reneg
    assert compression["supports_compression"] is False, compression
    assert scan["heartbleed"]["result"]["is_vulnerable_to_heartbleed"] is False
    assert scan["openssl_ccs_injection"]["result"]["is_vulnerable_to_ccs_injection"] is False
    # a complete chain: leaf + intermediate served, in order, verified against the root alone
    assert len(chain) == 2, [c["subject"]["rfc4514_string"] for c in chain]
    assert cert["received_chain_has_valid_order"] is True
    assert cert["received_chain_contains_anchor_certificate"] is False   # the root is not sent
    assert CUSTOM_HOST in chain[0]["subject_alternative_name"]["dns_names"]
    assert chain[1]["subject"]["rfc4514_string"] == pki.intermediate.subject.rfc4514_string()
    custom = [v for v in cert["path_validation_results"] if v["trust_store"]["path"] == str(pki.root_path)]
    assert custom, [v["trust_store"] for v in cert["path_validation_results"]]
    assert all(v["was_validation_successful"] for v in custom), custom
    assert len(custom[0]["verified_certificate_chain"]) == 3
    s = subprocess.run(["openssl", "s_client", "-connect", f"{ip}:{port}", "-servername", CUSTOM_HOST,
                        "-CAfile", str(pki.root_path), "-verify_return_error", "-brief"],
                       input=b"", capture_output=True, timeout=15)
    text = (s.stdout + s.stderr).decode(errors="replace")
    assert s.returncode == 0 and "Verification: OK" in text, text[-800:]


def test_tls_min_version_13_only_offers_13(guarded_proxy, ca, workdir, sec_app):
    proxy = guarded_proxy(sec_app).tls(min_version="1.3").run()
    ip, port = proxy.at
    scan = _sslyze(workdir, "tls13", ip, port, ca.cert_path, "--compression")
    offered = {cmd: [s["cipher_suite"]["name"] for s in _accepted(scan, cmd)]
               for cmd in ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites",
                           "tls_1_1_cipher_suites", "tls_1_2_cipher_suites", "tls_1_3_cipher_suites")}
    report.record("security_sslyze_min13", offered=offered)
    for cmd in ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites", "tls_1_1_cipher_suites",
                "tls_1_2_cipher_suites"):
        assert offered[cmd] == [], (cmd, offered[cmd])
    assert offered["tls_1_3_cipher_suites"], offered
    assert scan["tls_compression"]["result"]["supports_compression"] is False
    # and a TLS 1.2-only client is refused
    ctx = httpc.tls_context(ca.cert_path, max_version=ssl.TLSVersion.TLSv1_2)
    with pytest.raises(OSError):
        httpc.request((ip, port), "/whoami", host=CUSTOM_HOST, context=ctx, timeout=5)
