"""Partner access at the edge: client certificates (mutual TLS) chosen by SNI, route rules on
the verified identity, the identity headers the upstream receives, and per-route rate limits.

Real clients: curl and openssl s_client with client certificates made at test time
(harness/certs.py: `issue_client`, `write_crl`), Python's ssl/http.client where many
requests are counted. The upstream is an in-process recorder that keeps every header of
every request it receives, so a test can show what reached it, and that nothing did.
The main cases run on both request paths (`[server] request_path = "lean"` and
`"pingora"`); HTTP/2 always goes through pingora's.
"""
from __future__ import annotations

import json
import math
import re
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509

from harness import httpc, net, report, tomlw
from harness.certs import CA, bundle
from harness.load import Load
from harness.paths import CUSTOM_HOST
from harness.proxy import Proxy, check_refuses, line_of, run_cli
from harness.rawtls import RawTls, parse_response, proxy_v2
from harness.tools import curl

pytestmark = [pytest.mark.security]

OPEN_HOST = "open.example.test"           # a certificate without client_ca
PARTNER_A = "partner-a.example.test"
PARTNER_B = "partner-b.example.test"
IDENTITY = ("x-client-verify", "x-client-cert-subject", "x-client-cert-san", "x-client-cert-fingerprint")
SPOOFED = {"X-Client-Verify": "SUCCESS", "X-Client-Cert-Subject": "CN=spoofed.example.test",
           "X-Client-Cert-SAN": "DNS:spoofed.example.test",
           "X-Client-Cert-Fingerprint": "00" * 32}
PATHS = ["lean", "pingora"]


# -- the upstream: records every header of every request -------------------------------------

class HeaderRecorder:
    """An HTTP/1.1 upstream on a fresh loopback address that keeps each request's path and
    header fields (name lowercased, value, in the order received) and answers 200."""

    def __init__(self):
        self.ip = net.loopback_addr()
        self.requests: list[dict] = []
        lock = threading.Lock()
        recorded = self.requests

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Head and body leave in one write (a small second write would wait for the
            # proxy's delayed ACK: 40 ms per request on a reused upstream connection).
            wbufsize = 65536
            disable_nagle_algorithm = True

            def do_GET(self):
                fields = [(k.lower(), v) for k, v in self.headers.items()]
                with lock:
                    recorded.append({"path": self.path, "fields": fields})
                body = json.dumps({"path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, fmt, *args):
                pass

        self.server = ThreadingHTTPServer((self.ip, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def addr(self) -> str:
        return f"{self.ip}:{self.port}"

    def find(self, token: str) -> list[dict]:
        """The requests whose path contains `token`."""
        return [r for r in list(self.requests) if token in r["path"]]

    def only(self, token: str) -> dict:
        found = self.find(token)
        assert len(found) == 1, f"{len(found)} requests with {token!r} reached the upstream: {found}"
        return found[0]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def tail(self) -> str:
        return f"recorder {self.addr}: {len(self.requests)} requests, last: {self.requests[-3:]}"


def identity(rec: dict) -> dict[str, list[str]]:
    """The identity headers of one recorded request, every value of each."""
    return {h: [v for k, v in rec["fields"] if k == h] for h in IDENTITY if any(k == h for k, _ in rec["fields"])}


def expected_identity(leaf) -> dict[str, list[str]]:
    san = leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    sans = [f"DNS:{n}" for n in san.get_values_for_type(x509.DNSName)] + \
        [f"URI:{u}" for u in san.get_values_for_type(x509.UniformResourceIdentifier)]
    return {"x-client-verify": ["SUCCESS"],
            "x-client-cert-subject": [leaf.cert.subject.rfc4514_string()],
            "x-client-cert-san": [", ".join(sans)],
            "x-client-cert-fingerprint": [leaf.fingerprint]}


def tok() -> str:
    return uuid.uuid4().hex[:12]


# -- clients ----------------------------------------------------------------------------------

def curl_status(p: Proxy, host: str, path: str, *, cert=None, http2: bool = False,
                headers: dict | None = None) -> tuple[int, str, str]:
    """(curl exit code, HTTP status as curl wrote it, curl's stderr) for one request; with
    http2, the status is followed by the HTTP version used ("200 2")."""
    write_out = "%{http_code} %{http_version}" if http2 else "%{http_code}"
    args = ["-o", "/dev/null", "-w", write_out, "--cacert", p.ca_path, "--resolve", p.resolve(host),
            "--http2" if http2 else "--http1.1"]
    if cert is not None:
        args += ["--cert", cert.cert_path, "--key", cert.key_path]
    for k, v in (headers or {}).items():
        args += ["-H", f"{k}: {v}"]
    r = curl(*args, p.url(host, path), timeout=15)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def s_client(p: Proxy, host: str, path: str, cert=None) -> tuple[int, str]:
    """openssl s_client with (or without) a client certificate sending one request and
    reading until the server closes: (exit code, stdout + stderr)."""
    ip, port = p.at
    argv = ["openssl", "s_client", "-connect", f"{ip}:{port}", "-servername", host, "-CAfile", str(p.ca_path),
            "-verify_return_error", "-ign_eof"]
    if cert is not None:
        argv += ["-cert", str(cert.cert_path), "-key", str(cert.key_path)]
    req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    r = subprocess.run(argv, input=req, capture_output=True, timeout=15)
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def client_context(p: Proxy, leaf=None):
    ctx = httpc.tls_context(p.ca_path)
    if leaf is not None:
        ctx.load_cert_chain(str(leaf.cert_path), str(leaf.key_path))
    return ctx


def access_lines(path: Path, n: int, timeout: float = 5.0) -> list[dict]:
    """The access log's records once it has at least n lines (it is written asynchronously)."""
    def read():
        if not path.exists():
            return None
        recs = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
        return recs if len(recs) >= n else None
    return net.wait_until(read, timeout, what=f"{n} access log lines in {path}")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


# -- fixtures ---------------------------------------------------------------------------------

@pytest.fixture
def recorder(stack) -> HeaderRecorder:
    return stack.add(HeaderRecorder())


@pytest.fixture
def pki(workdir, ca):
    """The partners' CA and clients: partner-a and partner-b (good), one from another CA,
    an expired one and a revoked one, with a CRL naming the revoked one."""
    partners = CA.create(workdir / "partners-ca", "Partners CA")
    other = CA.create(workdir / "other-ca", "Someone else's CA")
    d = workdir / "clients"
    revoked = partners.issue_client(d, "revoked", cn="revoked.example.test", dns=["revoked.example.test"])
    return SimpleNamespace(
        ca=partners, other_ca=other,
        a=partners.issue_client(d, "partner-a", cn=PARTNER_A, org="Partner A", dns=[PARTNER_A],
                                uris=["spiffe://partners/a"]),
        b=partners.issue_client(d, "partner-b", cn=PARTNER_B, org="Partner B", dns=[PARTNER_B],
                                uris=["spiffe://partners/b"]),
        foreign=other.issue_client(d, "foreign", cn=PARTNER_A, org="Partner A", dns=[PARTNER_A]),
        expired=partners.issue_client(d, "expired", cn="expired.example.test", dns=["expired.example.test"],
                                      expired=True),
        revoked=revoked,
        crl=partners.write_crl(workdir / "partners.crl.pem", revoked=[revoked.serial]),
        server=ca.issue(workdir, "api", [CUSTOM_HOST]),          # from the session CA, like every proxy's
        open_server=ca.issue(workdir, "open", [OPEN_HOST]))


# -- required mutual TLS ----------------------------------------------------------------------

@pytest.mark.parametrize("request_path", PATHS)
def test_required_client_certificate_is_checked_in_the_handshake(new_proxy, recorder, pki, request_path):
    """client_auth = "required" with a CRL: no certificate, another CA's, an expired and a
    revoked one each fail the handshake (curl and s_client) and reach nothing; a good one is
    served, and the upstream sees the identity headers the proxy wrote, never the client's.
    A host whose certificate has no client_ca passes none of the four headers on."""
    p = (new_proxy().server(request_path=request_path)
         .certificate(pki.server, client_ca=pki.ca.cert_path, client_auth="required", client_crls=[pki.crl])
         .certificate(pki.open_server)
         .route("rec", hosts=[CUSTOM_HOST]).route("rec", hosts=[OPEN_HOST])
         .upstream("rec", recorder.addr, retries=0)
         .run())
    before = p.scrape()
    bad = {"none": None, "other_ca": pki.foreign, "expired": pki.expired, "revoked": pki.revoked}
    refused = {}
    for what, leaf in bad.items():
        t = tok()
        rc, code, err = curl_status(p, CUSTOM_HOST, f"/bad/{what}/{t}", cert=leaf)
        assert rc != 0 and code in ("", "000"), f"{what}: curl rc={rc} status={code!r}: {err}"
        src, out = s_client(p, CUSTOM_HOST, f"/bad/{what}/s-{t}", cert=leaf)
        assert re.search(r"alert", out, re.I) and " 200 " not in out, f"{what}: s_client rc={src}\n{out[-1500:]}"
        refused[what] = {"curl_rc": rc, "curl": err[-160:],
                         "s_client": (re.findall(r"[^\n:]*alert[^\n]*", out, re.I) or ["?"])[0][-120:]}
        assert recorder.find(t) == [], f"{what}: a request reached the upstream"
    after = p.scrape()
    errors = after.delta(before, "staticedge_tls_handshakes_total", result="error")
    assert errors == 2 * len(bad), f"handshake errors counted: {errors}, expected {2 * len(bad)}"

    t = tok()
    rc, code, err = curl_status(p, CUSTOM_HOST, f"/good/{t}", cert=pki.a, headers=SPOOFED)
    assert (rc, code) == (0, "200"), f"good certificate: rc={rc} status={code!r}: {err}"
    seen = identity(recorder.only(t))
    assert seen == expected_identity(pki.a), f"identity headers at the upstream: {seen}"
    src, out = s_client(p, CUSTOM_HOST, f"/good/s-{t}", cert=pki.a)
    assert "HTTP/1.1 200" in out, f"s_client with the good certificate:\n{out[-1500:]}"

    t = tok()
    rc, code, err = curl_status(p, OPEN_HOST, f"/open/{t}", headers=SPOOFED)
    assert (rc, code) == (0, "200"), f"host without mTLS: rc={rc} status={code!r}: {err}"
    assert identity(recorder.only(t)) == {}, f"spoofed identity reached the upstream: {recorder.only(t)}"

    # CRL rotation: a new CRL revoking partner-a, renamed into place; the file watch picks it up.
    t_crl = time.monotonic()
    pki.ca.write_crl(pki.crl, revoked=[pki.revoked.serial, pki.a.serial])
    net.wait_until(lambda: curl_status(p, CUSTOM_HOST, f"/crl/{tok()}", cert=pki.a)[0] != 0, 10, interval=0.25,
                   what="partner-a refused after its certificate was added to the CRL file")
    crl_seconds = time.monotonic() - t_crl
    assert curl_status(p, CUSTOM_HOST, f"/crl-b/{tok()}", cert=pki.b)[:2] == (0, "200")
    report.record("partner_access_required_mtls", request_path=request_path, refused=refused,
                  handshake_errors=errors, identity=seen, crl_rotation_seconds=round(crl_seconds, 2))


# -- optional mutual TLS, route rules ----------------------------------------------------------

@pytest.mark.parametrize("request_path", PATHS)
def test_optional_client_certificate_routes_require_and_allow_list(new_proxy, recorder, pki, workdir,
                                                                   request_path):
    """client_auth = "optional": a route with client_cert = "required" answers 403 without a
    certificate and 200 with one; an allow-list admits partner-a and refuses partner-b's
    valid certificate; a route without rules sees X-Client-Verify: NONE; an invalid
    certificate still fails the handshake; HTTP/2 carries the identity too; the access log
    and the refusal reasons say what happened."""
    log = workdir / "access.log"
    p = (new_proxy().server(request_path=request_path, access_log=str(log))
         .certificate(pki.server, client_ca=pki.ca.cert_path, client_auth="optional")
         .route("rec", hosts=[CUSTOM_HOST], client_cert="required")
         .route("rec", hosts=[CUSTOM_HOST], path_prefix="/open")
         .route("rec", hosts=[CUSTOM_HOST], path_prefix="/only-a", allow_client_names=[PARTNER_A])
         .upstream("rec", recorder.addr, retries=0)
         .run())
    before = p.scrape()
    cases = [  # (path, certificate, status wanted)
        ("/needs", None, "403"), ("/needs", pki.a, "200"), ("/needs", pki.b, "200"),
        ("/open", None, "200"),
        ("/only-a", None, "403"), ("/only-a", pki.b, "403"), ("/only-a", pki.a, "200"),
    ]
    tokens = []
    for path, leaf, want in cases:
        t = tok()
        rc, code, err = curl_status(p, CUSTOM_HOST, f"{path}/{t}", cert=leaf, headers=SPOOFED)
        who = leaf.names[0] if leaf else "no certificate"
        assert (rc, code) == (0, want), f"{path} with {who}: rc={rc} status={code!r} (want {want}): {err}"
        reached = recorder.find(t)
        assert len(reached) == (1 if want == "200" else 0), f"{path} with {who}: upstream saw {reached}"
        if reached:
            want_id = expected_identity(leaf) if leaf else {"x-client-verify": ["NONE"]}
            assert identity(reached[0]) == want_id, f"{path} with {who}: {identity(reached[0])}"
        tokens.append((t, path, leaf, want))

    rc, code, err = curl_status(p, CUSTOM_HOST, f"/open/{tok()}", cert=pki.foreign)
    assert rc != 0, f"optional mTLS took another CA's certificate: status {code!r}"

    t = tok()
    rc, code, err = curl_status(p, CUSTOM_HOST, f"/needs/h2-{t}", cert=pki.a, http2=True, headers=SPOOFED)
    assert (rc, code) == (0, "200 2"), f"HTTP/2 with a certificate: rc={rc} status and version {code!r}: {err}"
    assert identity(recorder.only(t)) == expected_identity(pki.a), recorder.only(t)
    h2_token = t

    after = p.scrape()
    assert after.delta(before, "staticedge_rejected_requests_total", reason="client_cert_required") == 2
    assert after.delta(before, "staticedge_rejected_requests_total", reason="client_cert_not_allowed") == 1

    recs = access_lines(log, len(cases) + 1)
    by_token = {t: r for r in recs for t, *_ in tokens if t in (r.get("path") or "")}
    for t, path, leaf, want in tokens:
        r = by_token.get(t)
        assert r is not None, f"no access log line for {path} {t}"
        assert str(r["status"]) == want, r
        assert r.get("client_verify") == ("SUCCESS" if leaf else "NONE"), r
        if leaf:
            assert r.get("client_subject") == leaf.cert.subject.rfc4514_string(), r
            assert r.get("client_fingerprint") == leaf.fingerprint, r
        else:
            assert r.get("client_subject") is None and r.get("client_fingerprint") is None, r
    h2 = [r for r in recs if h2_token in (r.get("path") or "")]
    assert len(h2) == 1 and h2[0].get("alpn") == "h2" and h2[0].get("client_verify") == "SUCCESS" \
        and h2[0].get("client_fingerprint") == pki.a.fingerprint, h2
    report.record("partner_access_optional_mtls", request_path=request_path,
                  sample=by_token[tokens[1][0]])


# -- rate limits ------------------------------------------------------------------------------

@pytest.mark.parametrize("request_path", PATHS)
def test_rate_limit_answers_429_past_the_burst_and_spares_other_clients(new_proxy, recorder, workdir,
                                                                        request_path):
    """requests_per_second = 1, burst = 10, key = client_ip: 30 keep-alive requests as fast as
    possible get 20 429s (fewer only by the tokens refilled while they ran), each with
    Retry-After >= 1; another client address keeps getting 200 meanwhile; the metrics and
    the access log count every 429."""
    rps, burst, n = 1, 10, 30
    log = workdir / "access.log"
    p = (new_proxy().server(request_path=request_path, access_log=str(log))
         .route("rec", hosts=[CUSTOM_HOST], rate_limit={"requests_per_second": rps, "burst": burst,
                                                         "key": "client_ip"})
         .upstream("rec", recorder.addr, retries=0)
         .run())
    src_a, src_b = net.loopback_addrs(2)
    before = p.scrape()
    conn = httpc.Conn(p.at, sni=CUSTOM_HOST, context=client_context(p), source_ip=src_a)
    statuses, retry_after, others = [], [], []
    t = tok()
    t0 = time.monotonic()
    try:
        for i in range(n):
            r = httpc.do(conn, "GET", f"/burst/{t}/{i}", CUSTOM_HOST)
            statuses.append(r.status)
            if r.status == 429:
                retry_after.append(r.header("retry-after"))
            if i % 5 == 4:
                others.append(p.get(f"/other/{t}/{i}", source_ip=src_b).status)
    finally:
        conn.close()
    elapsed = time.monotonic() - t0
    n429 = statuses.count(429)
    refills = math.floor(elapsed * rps) + 1   # tokens that may have come back while the burst ran
    assert set(statuses) <= {200, 429}, statuses
    assert n - burst - refills <= n429 <= n - burst, \
        f"{n429} x 429 of {n} in {elapsed:.2f}s (bucket {burst}, +{refills} refills): {statuses}"
    assert statuses[:burst] == [200] * burst, statuses
    assert all(v is not None and v.isdigit() and int(v) >= 1 for v in retry_after), retry_after
    assert others == [200] * (n // 5), f"the other client was refused: {others}"
    assert len(recorder.find(f"/burst/{t}/")) == n - n429, "every 200 and no 429 reached the upstream"

    after = p.scrape()
    label = CUSTOM_HOST
    assert after.delta(before, "staticedge_rate_limited_total", route=label) == n429
    assert after.delta(before, "staticedge_rejected_requests_total", reason="rate_limited") == n429
    keys = after.value("staticedge_rate_limit_keys", route=label)
    assert keys == 2, f"staticedge_rate_limit_keys{{route={label}}} = {keys} for two client addresses"
    recs = access_lines(log, n + len(others))
    logged_429 = [r for r in recs if f"/burst/{t}/" in (r.get("path") or "") and r.get("status") == 429]
    assert len(logged_429) == n429, f"{len(logged_429)} access log lines with 429 for {n429} answers"
    report.record("partner_access_rate_limit_burst", request_path=request_path, requests=n, got_429=n429,
                  seconds=round(elapsed, 3), retry_after=sorted(set(retry_after)), other_client=others)


FLOOD_WARMUP, FLOOD_SOURCES, FLOOD_SECONDS, FLOOD_WORKERS = 1_000, 10_000, 60.0, 8
# Growth allowed after the warm-up (measured: about 150 KiB). The warm-up already filled
# the limiter to its cap of 1,000 keys, so what the flood may add is allocator slack;
# at most FLOOD_WORKERS connections are open at once and each frees its buffers (about
# 27 KiB, docs/capacity.md) when it closes. 4 MiB fails on anything a connection leaves
# behind from about 400 bytes up (10,000 x 400 B). A limiter ignoring max_keys would
# add only about 1 MB here (about 100 bytes per key), which is why the key gauge is
# checked as well: it must stay at or below the cap.
FLOOD_RSS_BOUND_KIB = 4 * 1024


def flood(p: Proxy, first: int, count: int, deadline: float) -> dict:
    """`count` TLS connections, each with a PROXY header from its own 10.x.y.z address
    (numbered from `first`) and one request; returns status counts and errors."""
    ip, port = p.at
    numbers = iter(range(first, first + count))
    lock = threading.Lock()
    out: dict = {"statuses": {}, "errors": {}, "done": 0}
    req = f"GET /health HTTP/1.1\r\nHost: {CUSTOM_HOST}\r\nConnection: close\r\n\r\n".encode()

    def work():
        while time.monotonic() < deadline:
            with lock:
                i = next(numbers, None)
            if i is None:
                return
            src = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
            try:
                c = RawTls((ip, port), pp=proxy_v2(src, 40000 + i % 20000, ip, port), sni=CUSTOM_HOST,
                           ca=p.ca_path, timeout=5)
                try:
                    c.send(req)
                    status = parse_response(c.read_all(timeout=5, until_eof=False)).status
                finally:
                    c.close()
                key, bucket = status, "statuses"
            except Exception as e:  # noqa: BLE001 - counted and asserted on
                key, bucket = type(e).__name__, "errors"
            with lock:
                out[bucket][key] = out[bucket].get(key, 0) + 1
                out["done"] += 1

    threads = [threading.Thread(target=work, daemon=True) for _ in range(FLOOD_WORKERS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=max(0.0, deadline - time.monotonic()) + 10)
    return out


def test_rate_limit_keys_stay_bounded_under_a_flood_of_source_addresses(new_proxy, shared_app):
    """max_keys = 1000 with key = client_ip behind PROXY protocol: 10,000 connections from
    10,000 distinct source addresses, one request each, after a warm-up of 1,000 others:
    every request is served (each address is new), the proxy's RSS grows by less than
    FLOOD_RSS_BOUND_KIB and it tracks at most 1,000 keys."""
    p = (new_proxy().listen("pp", proxy_protocol="required")
         .route("app", hosts=[CUSTOM_HOST], rate_limit={"requests_per_second": 5, "burst": 5, "key": "client_ip",
                                                         "max_keys": 1000})
         .upstream("app", shared_app.addr, retries=0)
         .run())
    label = CUSTOM_HOST
    t0 = time.monotonic()
    warm = flood(p, 0, FLOOD_WARMUP, t0 + FLOOD_SECONDS)
    assert warm["done"] == FLOOD_WARMUP and warm["statuses"] == {200: FLOOD_WARMUP}, warm
    rss_warm = rss_kib(p.proc.pid)
    t1 = time.monotonic()
    main = flood(p, FLOOD_WARMUP, FLOOD_SOURCES, t0 + FLOOD_SECONDS)
    seconds = time.monotonic() - t1
    rss_after = rss_kib(p.proc.pid)
    keys = p.scrape().value("staticedge_rate_limit_keys", route=label)
    report.record("partner_access_flood", sources=main["done"], seconds=round(seconds, 1),
                  rate=round(main["done"] / max(seconds, 1e-6)), statuses=main["statuses"], errors=main["errors"],
                  rss_warm_kib=rss_warm, rss_after_kib=rss_after, growth_kib=rss_after - rss_warm, keys=keys)
    assert main["done"] == FLOOD_SOURCES, f"only {main['done']} of {FLOOD_SOURCES} in the time bound: {main}"
    assert main["statuses"] == {200: FLOOD_SOURCES} and not main["errors"], main
    assert rss_after - rss_warm < FLOOD_RSS_BOUND_KIB, \
        f"RSS grew {rss_after - rss_warm} KiB (warm {rss_warm} KiB, after {rss_after} KiB)"
    assert keys is not None and 0 < keys <= 1000, f"staticedge_rate_limit_keys{{route={label}}} = {keys}"


# -- reload -----------------------------------------------------------------------------------

def burst_429s(p: Proxy, leaf, source_ip: str, n: int, path: str) -> tuple[int, float]:
    """(429s among n keep-alive requests sent as fast as possible from source_ip, seconds)."""
    conn = httpc.Conn(p.at, sni=CUSTOM_HOST, context=client_context(p, leaf), source_ip=source_ip)
    t0 = time.monotonic()
    try:
        statuses = [httpc.do(conn, "GET", f"{path}/{i}", CUSTOM_HOST).status for i in range(n)]
    finally:
        conn.close()
    assert set(statuses) <= {200, 429}, statuses
    return statuses.count(429), time.monotonic() - t0


@pytest.mark.parametrize("request_path", PATHS)
def test_reload_swaps_client_ca_and_rate_limit_without_failing_a_request(new_proxy, recorder, workdir, ca,
                                                                        request_path):
    """SIGHUP from CA A to a bundle of A and B with a new burst while a CA-A client keeps
    sending: no request fails; a CA-B client that was refused before is served after; the
    changed rate limit starts fresh with its new burst (a bucket drained a moment before
    the reload would have refilled at most a token or two). Then the CA file is replaced
    in place without a signal (the certificate file watch): the CA-A client is refused."""
    ca_a, ca_b = CA.create(workdir / "ca-a", "Partners CA A"), CA.create(workdir / "ca-b", "Partners CA B")
    client_a = ca_a.issue_client(workdir / "clients", "a", cn=PARTNER_A, dns=[PARTNER_A])
    client_b = ca_b.issue_client(workdir / "clients", "b", cn=PARTNER_B, dns=[PARTNER_B])
    ca_file = bundle(workdir / "client-ca-v1.pem", ca_a)
    server = ca.issue(workdir, "api", [CUSTOM_HOST])
    limit = {"requests_per_second": 1, "burst": 5, "key": "client_ip"}
    b = (new_proxy().server(request_path=request_path)
         .certificate(server, client_ca=ca_file, client_auth="required")
         .route("rec", hosts=[CUSTOM_HOST])
         .route("rec", hosts=[CUSTOM_HOST], path_prefix="/limited", rate_limit=dict(limit))
         .upstream("rec", recorder.addr, retries=0))
    p = b.run()
    src = net.loopback_addr()
    assert curl_status(p, CUSTOM_HOST, "/before", cert=client_a)[:2] == (0, "200")
    rc, code, _ = curl_status(p, CUSTOM_HOST, "/before-b", cert=client_b)
    assert rc != 0, f"a CA-B certificate was accepted before the reload: {code}"
    n = 15
    load = Load(p.at, host=CUSTOM_HOST, path="/load", ca=p.ca_path, rate=40, workers=8, max_requests=400,
                max_seconds=6)
    load.context.load_cert_chain(str(client_a.cert_path), str(client_a.key_path))
    cfg = b.config()
    cfg["tls"]["certificate"][0]["client_ca"] = str(bundle(workdir / "client-ca-v2.pem", ca_a, ca_b))
    new_limit = dict(limit, burst=8)
    next(r for r in cfg["route"] if r.get("path_prefix") == "/limited")["rate_limit"] = new_limit
    with load:
        time.sleep(1.5)
        before_429, secs = burst_429s(p, client_a, src, n, "/limited/v1")
        t_reload = time.monotonic()
        p.reload(cfg)
        net.wait_until(lambda: curl_status(p, CUSTOM_HOST, "/after-b", cert=client_b)[:2] == (0, "200"), 10,
                       interval=0.1, what="a CA-B client served after the SIGHUP")
        applied = time.monotonic() - t_reload
        after_429, secs2 = burst_429s(p, client_a, src, n, "/limited/v2")
        time.sleep(max(0.0, load.started + 5 - time.monotonic()))
    s = load.summary()
    assert s["total"] > 100 and s["failed"] == 0, f"{s}\n{load.fail_detail()}"
    assert p.running(), p.tail()
    assert n - 5 - (math.floor(secs) + 1) <= before_429 <= n - 5, (before_429, secs)
    assert n - 8 - (math.floor(secs2) + 1) <= after_429 <= n - 8, \
        f"after the reload {after_429} x 429 of {n}: the new burst of 8 did not start fresh"
    assert curl_status(p, CUSTOM_HOST, "/after-a", cert=client_a)[:2] == (0, "200")

    bundle(workdir / "client-ca-v2.pem", ca_b)   # replaced in place: the file watch, no SIGHUP
    net.wait_until(lambda: curl_status(p, CUSTOM_HOST, "/watch-a", cert=client_a)[0] != 0, 10,
                   interval=0.5, what="the CA-A client refused after the CA file changed")
    assert curl_status(p, CUSTOM_HOST, "/watch-b", cert=client_b)[:2] == (0, "200")

    before = p.scrape()   # a CA file that is missing refuses the reload; the running settings stay
    broken = dict(cfg, tls=dict(cfg["tls"], certificate=[dict(cfg["tls"]["certificate"][0],
                                                              client_ca=str(workdir / "gone.pem"))]))
    p.reload(broken)
    net.wait_until(lambda: p.scrape().delta(before, "staticedge_config_reloads_total", result="error") == 1, 10,
                   what="the reload with a missing client_ca refused")
    assert curl_status(p, CUSTOM_HOST, "/refused-b", cert=client_b)[:2] == (0, "200")
    assert curl_status(p, CUSTOM_HOST, "/refused-a", cert=client_a)[0] != 0
    report.record("partner_access_reload", request_path=request_path, load=s, reload_applied_s=round(applied, 2),
                  burst_429_before=before_429, burst_429_after=after_429)


# -- staticedge check -------------------------------------------------------------------------

CHECK_CASES = {
    # name: (edit of the good TOML text, text on the line the error must name, the message says)
    "missing_client_ca": (lambda t, d: re.sub(r'client_ca = "[^"]+"', f'client_ca = "{d}/missing-ca.pem"', t),
                          "client_ca = ", "missing-ca.pem"),
    "missing_crl": (lambda t, d: re.sub(r'client_crls = \["[^"]+"\]', f'client_crls = ["{d}/missing.crl.pem"]', t),
                    "client_crls = ", "missing.crl.pem"),
    "route_requires_cert_without_client_ca": (
        lambda t, d: re.sub(r'\nclient_(ca|auth|crls) = [^\n]+', "", t), 'client_cert = "required"', "client"),
    "zero_rate": (lambda t, d: t.replace("requests_per_second = 50", "requests_per_second = 0"),
                  "requests_per_second = 0", "requests_per_second"),
    "negative_rate": (lambda t, d: t.replace("requests_per_second = 50", "requests_per_second = -5"),
                      "requests_per_second = -5", "requests_per_second"),
}


@pytest.fixture
def partner_config_text(new_proxy, pki, recorder) -> str:
    """A good configuration using every partner-access key (nothing is started)."""
    cfg = (new_proxy()
           .certificate(pki.server, client_ca=pki.ca.cert_path, client_auth="required", client_crls=[pki.crl])
           .route("rec", hosts=[CUSTOM_HOST], client_cert="required", allow_client_names=[PARTNER_A],
                  rate_limit={"requests_per_second": 50, "burst": 100, "key": "client_cert", "max_keys": 1000})
           .upstream("rec", recorder.addr)
           .config())
    return tomlw.dumps(cfg)


def test_check_accepts_a_partner_configuration(staticedge_bin, workdir, partner_config_text):
    path = workdir / "partner.toml"
    path.write_text(partner_config_text)
    p = run_cli(staticedge_bin, "check", "--config", path)
    assert p.returncode == 0, f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}\n{partner_config_text}"


@pytest.mark.parametrize("kind", sorted(CHECK_CASES))
def test_check_names_the_line_of_a_partner_access_mistake(staticedge_bin, workdir, partner_config_text, kind):
    edit, marker, says = CHECK_CASES[kind]
    text = edit(partner_config_text, workdir)
    assert text != partner_config_text, "the edit changed nothing"
    path = workdir / f"broken-{kind}.toml"
    line = line_of(text, marker)
    _, located = check_refuses(staticedge_bin, path, text)
    assert any(l == line and says in m for l, _, m in located), \
        f"expected {path}:{line}:col naming {says!r}, got {located}\n{text}"
