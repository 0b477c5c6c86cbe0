"""What an operator sees of a running staticedge, end to end.

- /metrics, parsed by prometheus_client's text-format parser, moves by exactly the
  traffic sent (200s over HTTP/1.1 and h2, 421s, an upstream's 500s, a connect failure);
- the JSON access log has one line per request with the right values;
- an access log on a pipe nobody reads never slows requests down;
- SIGHUP reopens a file access log (logrotate);
- the answers staticedge gives itself before a request is parsed (408 for a header too
  slow, 400 for ambiguous framing) are counted and logged like every other request;
- the series whose labels are known from the configuration are exported from the start;
- the admin status page renders in headless Chromium and shows the upstream's current
  address (the screenshot is kept as tests/artifacts/status-page.png).

The Django app (tests/e2e/ebapp, gunicorn) is the live upstream, `/status/500` its 500;
the dead upstream is a loopback address where nothing listens (retries = 0, so one
connection attempt per request)."""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import signal
import socket
import termios
import time
import uuid
from pathlib import Path

import pytest

from harness import chromium, httpc, net, report
from harness.load import Load
from harness.paths import CUSTOM_HOST, EB_HOST
from harness.promscrape import Scrape
from harness.proxy import Proxy, ProxyBuilder, dns_followed, run_cli
from harness.tools import curl

pytestmark = pytest.mark.observability

DEAD_HOST = "dead.example.test"
UNKNOWN_HOST = "nobody.example.test"
CERT_NAMES = [CUSTOM_HOST, DEAD_HOST, UNKNOWN_HOST]
STATUS_ROUTE = f"{CUSTOM_HOST}/status"      # route label: first host + path_prefix
ACCESS_FIELDS = ["time", "request_id", "client_ip", "sni", "host", "method", "path", "status", "route",
                 "upstream_addr", "upstream_ms", "duration_ms", "bytes_in", "bytes_out", "tls_version",
                 "alpn", "error"]
TLS13 = ("TLSv1_3", "TLSv1.3")   # docs/observability.md says TLSv1_3


# -- the proxy under test -------------------------------------------------------------

@pytest.fixture
def observed_proxy(ca, workdir, shared_app, new_proxy):
    """A builder per call (not started) for this module's proxy: the live app ("blue") behind
    two routes (CUSTOM_HOST, and its /status prefix) and a dead upstream (a loopback port
    where nothing listens) behind DEAD_HOST, each tried once; the access log off unless set."""
    app = shared_app
    dead_ip = net.loopback_addr()
    dead_addr = f"{dead_ip}:{net.free_port(dead_ip)}"
    leaf = ca.issue(workdir, "obs", CERT_NAMES, serial=5005)

    def new(name: str = "staticedge") -> ProxyBuilder:
        return (new_proxy(name).certificate(leaf)
                .route("app", hosts=[CUSTOM_HOST])
                .route("app", hosts=[CUSTOM_HOST], path_prefix="/status")
                .route("dead", hosts=[DEAD_HOST], host_header="upstream")
                .upstream("app", app.addr, connect_timeout="1s", retries=0)
                .upstream("dead", dead_addr, connect_timeout="1s", retries=0))
    return new


def upstream_addr(p: Proxy, name: str) -> str:
    return p.parsed["upstream"][name]["address"]


def curl_h2(p: Proxy, path="/whoami", name=CUSTOM_HOST, *extra):
    """curl --http2 through the proxy; stdout is '<status> <http version>'."""
    return curl("--http2", "--cacert", p.ca_path, "--resolve", p.resolve(name), "-o", "/dev/null",
                "-w", "%{http_code} %{http_version}", *extra, p.url(name, path))


def version_of(binary) -> str:
    out = run_cli(binary, "--version").stdout.strip()
    m = re.search(r"(\d+\.\d+\.\d+\S*)", out)
    assert m, f"no version in `staticedge --version`: {out!r}"
    return m.group(1)


def key(**labels) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in labels.items()))


def wait_requests_counted(obs: Proxy, before: Scrape, n: int, timeout: float = 5.0) -> Scrape:
    """Requests are counted in the logging phase, after the response went out: poll
    (bounded) until the scrape shows `n` more, then take one more for stable values."""
    net.wait_until(lambda: obs.scrape().delta(before, "staticedge_requests_total") >= n, timeout,
                   interval=0.1, what=f"{n} requests counted in staticedge_requests_total")
    return obs.scrape()


# -- 1. metrics ------------------------------------------------------------------------

def test_metrics_move_by_exactly_the_traffic_sent(observed_proxy, staticedge_bin):
    obs = observed_proxy().run()
    before = obs.scrape()

    # 5 x 200: four over HTTP/1.1 (http.client offers no ALPN), one over h2 (curl)
    for _ in range(4):
        r = obs.get("/whoami")
        assert r.status == 200, (r.status, r.text[:300])
        assert r.tls_version == "TLSv1.3"
    p = curl_h2(obs, "/whoami")
    assert p.returncode == 0 and p.stdout.strip() == "200 2", (p.returncode, p.stdout, p.stderr[-500:])
    # 2 x 421: a Host no route knows
    for _ in range(2):
        r = obs.get("/whoami", host=UNKNOWN_HOST)
        assert r.status == 421, (r.status, r.text[:300])
    # 3 x 500 from the app (route api.example.test/status)
    for _ in range(3):
        r = obs.get("/status/500")
        assert r.status == 500 and "status 500 from blue" in r.text, (r.status, r.text[:300])
    # 1 x connect failure to a closed port: 502
    r = obs.get("/whoami", host=DEAD_HOST)
    assert r.status == 502, (r.status, r.text[:300])

    after = wait_requests_counted(obs, before, 11)
    print("\n/metrics after the traffic (staticedge_* excerpt):\n" + "\n".join(
        l for l in after.text.splitlines() if l.startswith("staticedge_") and "_bucket" not in l))

    # the exposition itself
    assert after.content_type.startswith("text/plain") and "version=0.0.4" in after.content_type, \
        after.content_type
    types = {name: after.families[name].type for name in after.families}
    for fam, want in [("staticedge_requests", "counter"), ("staticedge_request_duration_seconds", "histogram"),
                      ("staticedge_upstream_duration_seconds", "histogram"),
                      ("staticedge_upstream_errors", "counter"), ("staticedge_rejected_requests", "counter"),
                      ("staticedge_tls_handshakes", "counter"), ("staticedge_downstream_connections", "gauge"),
                      ("staticedge_upstream_addresses", "gauge"), ("staticedge_dns_stale_seconds", "gauge"),
                      ("staticedge_certificate_expiry_timestamp_seconds", "gauge"),
                      ("staticedge_draining", "gauge"), ("staticedge_ready", "gauge"),
                      ("staticedge_build_info", "gauge"), ("process_resident_memory_bytes", "gauge"),
                      ("process_open_fds", "gauge"), ("process_cpu_seconds", "counter")]:
        assert types.get(fam) == want, f"{fam}: type {types.get(fam)!r}, want {want} (families: {sorted(types)})"

    # counters: exactly what was sent, and nothing else moved
    assert after.moved(before, "staticedge_requests_total") == {
        key(code=200, route=CUSTOM_HOST): 5,
        key(code=421, route=""): 2,
        key(code=500, route=STATUS_ROUTE): 3,
        key(code=502, route=DEAD_HOST): 1,
    }
    assert after.moved(before, "staticedge_rejected_requests_total") == {key(reason="no_route"): 2}
    assert after.moved(before, "staticedge_upstream_errors_total") == {
        key(kind="status_5xx", upstream="app"): 3,
        key(kind="connect", upstream="dead"): 1,
    }
    assert after.moved(before, "staticedge_upstream_retries_total") == {}, "retries = 0: one attempt each"
    ok_hs = {k: v for k, v in after.moved(before, "staticedge_tls_handshakes_total").items()
             if ("result", "ok") in k}
    assert ok_hs in ({key(alpn="http/1.1", result="ok", version=v): 10, key(alpn="h2", result="ok", version=v): 1}
                     for v in TLS13), ok_hs

    # histograms: one observation per request, per route / per upstream that answered
    want_count = {key(route=CUSTOM_HOST): 5, key(route=STATUS_ROUTE): 3, key(route=DEAD_HOST): 1,
                  key(route=""): 2}
    assert after.moved(before, "staticedge_request_duration_seconds_count") == want_count
    for labels, n in want_count.items():
        route = dict(labels)["route"]
        assert after.delta(before, "staticedge_request_duration_seconds_bucket", route=route, le="+Inf") == n
        assert after.delta(before, "staticedge_request_duration_seconds_sum", route=route) > 0
    assert after.moved(before, "staticedge_upstream_duration_seconds_count") == {key(upstream="app"): 8}
    assert after.delta(before, "staticedge_upstream_duration_seconds_sum", upstream="app") > 0

    # gauges and info
    version = version_of(staticedge_bin)
    [(labels, value)] = after.series("staticedge_build_info")
    assert labels["version"] == version and value == 1.0, labels
    assert set(labels) == {"version", "commit", "build_date", "target"}, labels
    assert after.value("staticedge_upstream_addresses", upstream="app") == 1
    assert after.value("staticedge_upstream_addresses", upstream="dead") == 1
    assert after.value("staticedge_dns_stale_seconds", upstream="app") == 0
    assert after.series("staticedge_dns_lookups_total", upstream="app") == [], "IP upstreams are never looked up"
    not_after = obs.certificates[0].cert.not_valid_after_utc.timestamp()
    assert after.series("staticedge_certificate_expiry_timestamp_seconds") == [({"name": CUSTOM_HOST}, not_after)]
    assert after.value("staticedge_draining") == 0
    assert after.value("staticedge_ready") == 1
    assert after.value("process_resident_memory_bytes") > 0
    assert after.value("process_open_fds") > 0
    assert after.value("process_cpu_seconds_total") >= 0
    assert abs(after.value("process_start_time_seconds") - time.time()) < 300
    # every client connection was closed: the gauge comes back to 0 (bounded)
    net.wait_until(lambda: obs.scrape().value("staticedge_downstream_connections") == 0, 5,
                   what="staticedge_downstream_connections back to 0")

    # label values are bounded: no raw Host or path became a label
    for name, labels, _ in after.samples:
        for v in labels.values():
            assert UNKNOWN_HOST not in v and "whoami" not in v and "/status/500" not in v, (name, labels)

    report.record("observability_metrics", requests=11, counters_exact=True,
                  rss_mb=round(after.value("process_resident_memory_bytes") / 2**20, 1))


def test_readiness_self_check_is_not_counted_as_a_failed_handshake(observed_proxy):
    """/readyz (and every /metrics scrape) dials the TLS listener to prove it accepts.
    That TCP connection is staticedge's own, not a client's: it must not show up in
    staticedge_tls_handshakes_total{result="error"}, or the error series counts the
    NLB's health checks instead of failed client handshakes."""
    obs = observed_proxy().run()
    before = obs.scrape()
    for _ in range(10):
        code, body = obs.readyz()
        assert code == 200, body
    time.sleep(0.5)
    after = obs.scrape()
    time.sleep(0.5)
    final = obs.scrape()   # the connection of `after`'s own readiness check has closed by now
    errors = final.delta(before, "staticedge_tls_handshakes_total", result="error")
    print(f"\nhandshake errors counted for 10 /readyz + 2 scrapes, no client traffic: {errors}")
    assert errors == 0, (f"staticedge_tls_handshakes_total{{result=\"error\"}} moved by {errors} with no client "
                         f"traffic (12 readiness self-checks): {final.moved(before, 'staticedge_tls_handshakes_total')}")
    assert after.delta(before, "staticedge_requests_total") == 0


def test_failed_handshakes_are_counted_not_logged_and_json_error_log(observed_proxy):
    """Scanners and TCP probes on the TLS port: each is counted in
    staticedge_tls_handshakes_total (a bare TCP connect-and-close as
    result="closed_early", bytes that are not TLS as result="error"), and none becomes
    an error or warning line; with --log-format json every line on standard error is
    one JSON object."""
    obs = observed_proxy().run(extra_args=("--log-format", "json"))
    r = obs.get("/whoami")
    assert r.status == 200
    before = obs.scrape()
    tcp_probes = 0
    for _ in range(5):                          # TCP probe: connect, close
        with socket.create_connection(obs.at, timeout=3):
            pass
        tcp_probes += 1
    probes = 0
    for _ in range(3):                          # plain HTTP on the TLS port
        with socket.create_connection(obs.at, timeout=3) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                s.recv(100)
            except OSError:
                pass
        probes += 1
    net.wait_until(lambda: obs.scrape().delta(before, "staticedge_tls_handshakes_total", result="error") >= probes,
                   5, what=f"{probes} failed handshakes counted")
    net.wait_until(lambda: obs.scrape().delta(before, "staticedge_tls_handshakes_total", result="closed_early") >= tcp_probes,
                   5, what=f"{tcp_probes} TCP probes counted as closed_early")
    after = obs.scrape()
    assert after.delta(before, "staticedge_tls_handshakes_total", result="error") == probes, \
        "a bare TCP connect-and-close is not a failed handshake"
    assert after.delta(before, "staticedge_tls_handshakes_total", result="ok") == 0
    r = obs.get("/whoami")
    assert r.status == 200, "still serving after the probes"
    lines = [l for l in obs.stderr().splitlines() if l.strip()]
    assert lines, "no log line at all (expected at least `staticedge starting`)"
    records = []
    for l in lines:
        try:
            rec = json.loads(l)
        except ValueError:
            raise AssertionError(f"--log-format json wrote a non-JSON line: {l!r}") from None
        assert isinstance(rec, dict) and {"timestamp", "level", "message"} <= set(rec), l
        records.append(rec)
    assert any("staticedge starting" in r_["message"] for r_ in records), lines[:5]
    loud = [r_ for r_ in records if r_["level"] in ("ERROR", "WARN")]
    assert not loud, f"failed handshakes must not be logged at warn/error: {loud[:5]}"


# -- 2. access log ---------------------------------------------------------------------

def read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def wait_lines(path: Path, n: int, timeout: float = 5.0) -> list[str]:
    """Poll (bounded) until `path` has at least n lines; then check no extra line follows."""
    net.wait_until(lambda: len(read_lines(path)) >= n, timeout, interval=0.05,
                   what=f"{n} lines in {path.name} (has {len(read_lines(path))})")
    time.sleep(0.7)     # the writer flushes every batch, at least every 0.5 s
    return read_lines(path)


def test_access_log_one_json_line_per_request(observed_proxy, workdir):
    log = workdir / "access.log"
    obs = observed_proxy().server(access_log=str(log)).run()
    t_start = dt.datetime.now(dt.timezone.utc)
    sent = {}   # request id -> what we know about it

    rid = f"obs-known-{uuid.uuid4().hex[:12]}"
    r = obs.get("/whoami?probe=1", headers={"X-Request-Id": rid}, source_ip="127.0.0.77")
    assert r.status == 200 and r.header("x-request-id") == rid, (r.status, r.headers)
    sent[rid] = dict(status=200, method="GET", path="/whoami?probe=1", client_ip="127.0.0.77", sni=CUSTOM_HOST,
                     host=CUSTOM_HOST, route=CUSTOM_HOST, upstream_addr=upstream_addr(obs, "app"), alpn="http/1.1",
                     bytes_in=0, bytes_out=len(r.body), error=None)

    r = obs.get("/whoami")
    gen = r.header("x-request-id")
    assert r.status == 200 and gen and re.fullmatch(r"[0-9a-f]{32}", gen), (r.status, r.headers)
    assert r.json()["x_request_id"] == gen, "the id the app saw is the one returned"
    sent[gen] = dict(status=200, path="/whoami", route=CUSTOM_HOST, upstream_addr=upstream_addr(obs, "app"),
                     bytes_out=len(r.body), error=None)

    rid_post = f"obs-post-{uuid.uuid4().hex[:12]}"
    r = obs.get("/whoami", method="POST", body=b"x" * 1234, headers={"X-Request-Id": rid_post})
    assert r.status == 200, (r.status, r.text[:300])
    sent[rid_post] = dict(status=200, method="POST", bytes_in=1234, bytes_out=len(r.body), route=CUSTOM_HOST)

    rid_h2 = f"obs-h2-{uuid.uuid4().hex[:12]}"
    p = curl_h2(obs, "/whoami", CUSTOM_HOST, "-H", f"X-Request-Id: {rid_h2}")
    assert p.stdout.strip() == "200 2", (p.stdout, p.stderr[-500:])
    sent[rid_h2] = dict(status=200, alpn="h2", sni=CUSTOM_HOST, route=CUSTOM_HOST, upstream_addr=upstream_addr(obs, "app"))

    rid_421 = f"obs-421-{uuid.uuid4().hex[:12]}"
    r = obs.get("/whoami", host=UNKNOWN_HOST, headers={"X-Request-Id": rid_421})
    assert r.status == 421 and r.header("x-request-id") == rid_421, (r.status, r.headers)
    sent[rid_421] = dict(status=421, sni=UNKNOWN_HOST, host=UNKNOWN_HOST, route=None, upstream_addr=None,
                         upstream_ms=None)

    rid_500 = f"obs-500-{uuid.uuid4().hex[:12]}"
    r = obs.get("/status/500", headers={"X-Request-Id": rid_500})
    assert r.status == 500, (r.status, r.text[:300])
    sent[rid_500] = dict(status=500, route=STATUS_ROUTE, upstream_addr=upstream_addr(obs, "app"), path="/status/500")

    rid_502 = f"obs-502-{uuid.uuid4().hex[:12]}"
    r = obs.get("/whoami", host=DEAD_HOST, headers={"X-Request-Id": rid_502})
    assert r.status == 502, (r.status, r.text[:300])
    sent[rid_502] = dict(status=502, route=DEAD_HOST, upstream_addr=upstream_addr(obs, "dead"), upstream_ms=None)

    lines = wait_lines(log, len(sent))
    print(f"\naccess log ({len(lines)} lines):\n" + "\n".join(lines))
    assert len(lines) == len(sent), f"{len(lines)} lines for {len(sent)} requests"
    recs = []
    for line in lines:
        rec = json.loads(line)          # each line is one complete JSON object
        assert isinstance(rec, dict)
        missing = [f for f in ACCESS_FIELDS if f not in rec]
        assert not missing, f"fields missing {missing}: {line}"
        recs.append(rec)
    by_id = {rec["request_id"]: rec for rec in recs}
    assert set(by_id) == set(sent), (sorted(by_id), sorted(sent))

    now = dt.datetime.now(dt.timezone.utc)
    for rid_, want in sent.items():
        rec = by_id[rid_]
        for k, v in want.items():
            assert rec[k] == v, f"{rid_}: {k} = {rec[k]!r}, want {v!r}\n{rec}"
        t = dt.datetime.fromisoformat(rec["time"].replace("Z", "+00:00"))
        assert rec["time"].endswith("Z") and t.tzinfo is not None, rec["time"]
        assert t_start - dt.timedelta(seconds=1) <= t <= now + dt.timedelta(seconds=1), (rec["time"], t_start, now)
        assert rec["tls_version"] in TLS13, rec
        assert isinstance(rec["duration_ms"], (int, float)) and rec["duration_ms"] >= 0, rec
        assert isinstance(rec["bytes_in"], int) and isinstance(rec["bytes_out"], int), rec
        assert isinstance(rec["status"], int), rec
        if rec["upstream_ms"] is not None:
            assert 0 < rec["upstream_ms"] <= rec["duration_ms"] + 0.01, rec
        if rec["alpn"] == "http/1.1" and rec["sni"] == CUSTOM_HOST:
            assert rec["host"] == CUSTOM_HOST, rec
    h2 = by_id[rid_h2]
    assert h2["host"] in (CUSTOM_HOST, f"{CUSTOM_HOST}:{obs.port}"), h2
    for rid_ in (rid, gen, rid_500):
        assert by_id[rid_]["upstream_ms"] is not None, by_id[rid_]
    err = by_id[rid_502]["error"]
    assert isinstance(err, str) and err, by_id[rid_502]
    for rid_ in (rid, gen, rid_post, rid_h2, rid_421, rid_500):
        assert by_id[rid_]["error"] is None, by_id[rid_]

    report.record("observability_access_log", lines=len(lines), sample=by_id[rid])


@pytest.mark.parametrize("dest", ["stdout", "off"])
def test_access_log_stdout_and_off(observed_proxy, dest):
    """`stdout` (the default) writes the JSON lines to standard output; `off` writes none,
    and neither drops a line: staticedge_access_log_dropped_total counts lines lost to a
    full queue or a failed write, so with the log off it must stay still (or the
    StaticedgeAccessLogDrops alert of docs/observability.md fires on every request)."""
    obs = observed_proxy().server(access_log=dest).run()
    before = obs.scrape()
    rids = []
    for i in range(3):
        rid_ = f"obs-{dest}-{i}-{uuid.uuid4().hex[:8]}"
        r = obs.get("/whoami", headers={"X-Request-Id": rid_})
        assert r.status == 200, (r.status, r.text[:300])
        rids.append(rid_)
    after = wait_requests_counted(obs, before, 3)

    def logged():
        return [json.loads(l)["request_id"] for l in obs.stdout().splitlines() if l.startswith("{")]
    if dest == "stdout":
        net.wait_until(lambda: len(logged()) >= 3, 5, what="3 access log lines on stdout")
        time.sleep(0.7)
        assert logged() == rids, obs.stdout()[-2000:]
    else:
        time.sleep(1.0)
        assert logged() == [], obs.stdout()[-2000:]
    dropped = obs.scrape().delta(before, "staticedge_access_log_dropped_total")
    assert dropped == 0, f"access_log = {dest!r}: staticedge_access_log_dropped_total moved by {dropped} for 3 requests"
    assert after.delta(before, "staticedge_requests_total", code="200") == 3


def test_sighup_reopens_a_rotated_access_log(observed_proxy, workdir):
    log = workdir / "access.log"
    rotated = workdir / "access.log.1"
    obs = observed_proxy().server(access_log=str(log)).run()

    def send(tag: str) -> str:
        rid_ = f"rot-{tag}-{uuid.uuid4().hex[:8]}"
        r = obs.get("/whoami", headers={"X-Request-Id": rid_})
        assert r.status == 200, (r.status, r.text[:300])
        return rid_

    def ids(path: Path) -> list[str]:
        return [json.loads(l)["request_id"] for l in read_lines(path)]

    first = [send("a") for _ in range(2)]
    wait_lines(log, 2)
    os.rename(log, rotated)                     # logrotate's move
    first.append(send("b"))                     # still to the open file, now access.log.1
    wait_lines(rotated, 3)
    assert not log.exists(), "nothing may recreate the log before the reopen"

    before = obs.scrape()
    obs.reload()                          # SIGHUP, same configuration (postrotate)
    net.wait_until(lambda: obs.scrape().delta(before, "staticedge_config_reloads_total", result="ok") == 1, 10,
                   what="the SIGHUP reload counted")
    second = [send("c") for _ in range(3)]
    wait_lines(log, 3)
    assert ids(rotated) == first, (ids(rotated), first)
    assert ids(log) == second, (ids(log), second)


def test_access_log_to_a_pipe_nobody_reads_never_blocks(observed_proxy, workdir):
    """Two ways a pipe is stuck: nobody ever opens it for reading (the writer thread's
    open() blocks), and a reader that opened it but never reads (the pipe buffer fills,
    the writer's write() blocks). Either way every request succeeds, promptly, and the
    proxy still stops on SIGTERM."""
    results = {}
    for mode in ("no-reader", "stuck-reader"):
        fifo = workdir / f"access-{mode}.fifo"
        fifo.unlink(missing_ok=True)
        os.mkfifo(fifo)
        rfd = None
        obs = None
        try:
            if mode == "stuck-reader":
                rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)   # opened, never read
            obs = observed_proxy(f"staticedge-{mode}").server(access_log=str(fifo), drain_timeout="2s").run()
            before = obs.scrape()
            n = 300
            load = Load(obs.at, host=CUSTOM_HOST, ca=obs.ca_path, rate=150, workers=6, max_requests=n,
                        max_seconds=20, timeout=5)
            load.start()
            load.wait_done(25)
            load.stop()
            s = load.summary()
            print(f"\n[{mode}] load through a stuck access log pipe: {s}")
            assert s["total"] == n and s["failed"] == 0, (s, load.fail_detail())
            assert s["seconds"] < 20, s
            assert s["p99_ms"] is not None and s["p99_ms"] < 2000, s
            after = wait_requests_counted(obs, before, n)
            assert after.delta(before, "staticedge_requests_total", code="200") == n
            dropped = after.delta(before, "staticedge_access_log_dropped_total")
            pending = None
            if rfd is not None:
                buf = bytearray(4)
                fcntl.ioctl(rfd, termios.FIONREAD, buf)
                pending = int.from_bytes(buf, "little")
                capacity = fcntl.fcntl(rfd, 1032)   # F_GETPIPE_SZ
                # the writer really is stuck: it filled the pipe and nobody drains it
                assert pending >= capacity // 2, (pending, capacity)
            # still answering after the load, and the admin port too
            r = obs.get("/whoami")
            assert r.status == 200
            # a stuck log writer must not hold up the stop either
            t0 = time.monotonic()
            obs.signal(signal.SIGTERM)
            rc = obs.wait_exit(15)
            stop_s = round(time.monotonic() - t0, 2)
            results[mode] = dict(requests=n, seconds=s["seconds"], p99_ms=s["p99_ms"], dropped=dropped,
                                 pipe_pending_bytes=pending, stop_seconds=stop_s, exit_code=rc)
            assert stop_s < 2 + 5, f"SIGTERM took {stop_s}s with drain_timeout 2s"
        finally:
            if obs is not None:
                obs.stop()                # by pid (TERM, KILL after 5 s); no-op once exited
            if rfd is not None:
                os.close(rfd)
            fifo.unlink(missing_ok=True)
    report.record("observability_access_log_stuck_pipe", **results)


# -- 3. answers given before a request is parsed; series known from the start ---------

HEADER_TIMEOUT_S = 1


def ambiguous_framing(token: str) -> dict[str, bytes]:
    """Requests whose body framing two servers could read differently (refused with 400)."""
    head = f"POST /whoami?t={token} HTTP/1.1\r\nHost: {CUSTOM_HOST}\r\n"
    return {"cl_and_te": (head + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").encode(),
            "two_cl": (head + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!").encode()}


@pytest.mark.pending_lead
def test_header_timeout_408_and_framing_400_are_counted_and_logged(observed_proxy, workdir):
    """staticedge answers 408 to a request header that does not end within
    limits.header_timeout, and 400 to ambiguous framing, before the request is parsed or
    routed. Each answer is a request like any other: one access log line with its status
    (and no route) and one count in staticedge_requests_total{route="", code}."""
    log = workdir / "access.log"
    obs = (observed_proxy().server(access_log=str(log)).limits(header_timeout=f"{HEADER_TIMEOUT_S}s").run())
    before = obs.scrape()

    c = obs.raw()                               # a header that never ends
    try:
        c.send(f"GET /whoami?t=slow HTTP/1.1\r\nHost: {CUSTOM_HOST}\r\nX-Slow: ".encode())
        t0 = time.monotonic()
        raw = c.read_all(timeout=HEADER_TIMEOUT_S + 4)
        took = time.monotonic() - t0
    finally:
        c.close()
    assert raw.startswith(b"HTTP/1.1 408 "), raw[:200]
    assert HEADER_TIMEOUT_S - 0.2 <= took <= HEADER_TIMEOUT_S + 2, took
    assert c.eof, "the connection is closed after the 408"
    for name, payload in ambiguous_framing(uuid.uuid4().hex[:8]).items():
        resp, raw, eof = obs.exchange(payload)
        assert resp is not None and resp.status == 400 and eof, (name, raw[:300], eof)
    marker = f"obs-after-{uuid.uuid4().hex[:8]}"   # a normal request, sent last
    assert obs.get(headers={"X-Request-Id": marker}).status == 200

    def four_counted():
        return obs.scrape().delta(before, "staticedge_requests_total") >= 4
    try:
        net.wait_until(four_counted, 5, interval=0.1, what="4 requests counted")
        net.wait_until(lambda: len(read_lines(log)) >= 4, 5, interval=0.05, what="4 access log lines")
    except TimeoutError:
        pass                                    # the comparisons below say what is missing
    time.sleep(0.7)                             # the writer flushes at least every 0.5 s: no line missed
    after = obs.scrape()
    recs = [json.loads(l) for l in read_lines(log)]
    print(f"\naccess log ({len(recs)} lines):\n" + "\n".join(json.dumps(r) for r in recs))
    assert after.moved(before, "staticedge_rejected_requests_total") == {
        key(reason="header_timeout"): 1, key(reason="bad_framing"): 2}
    counted = after.moved(before, "staticedge_requests_total")
    logged = sorted(r["status"] for r in recs)
    want_counted = {key(code=408, route=""): 1, key(code=400, route=""): 2, key(code=200, route=CUSTOM_HOST): 1}
    assert (counted, logged) == (want_counted, [200, 400, 400, 408]), \
        f"staticedge_requests_total moved by {counted}, want {want_counted}; access log statuses {logged}"
    for rec in recs:
        missing = [f for f in ACCESS_FIELDS if f not in rec]
        assert not missing, f"fields missing {missing}: {rec}"
        if rec["status"] != 200:
            assert rec["route"] is None and rec["upstream_addr"] is None, rec
    assert [r["request_id"] for r in recs if r["status"] == 200] == [marker], recs


@pytest.mark.pending_lead
def test_series_known_from_the_configuration_start_at_zero(new_proxy, shared_app, shared_dns):
    """Right after the start, before any reload or DNS answer is awaited, /metrics already
    has staticedge_config_reloads_total{result="ok"|"error"} at 0 and
    staticedge_dns_lookups_total{upstream, result="ok"|"error"} for every upstream given by
    name (and none for an IP address), so absent()-style alerts and rate() work at once."""
    p = (new_proxy()
         .route("eb", host_header="upstream")
         .upstream("eb", f"{EB_HOST}:{shared_app.port}", dns={"nameservers": [shared_dns.nameserver]})
         .upstream("missing", f"missing.example.test:{shared_app.port}",
                   dns={"nameservers": [shared_dns.nameserver]})
         .upstream("by-ip", shared_app.addr)
         .run(wait="healthz"))                  # not ready: "missing" never resolves
    s = p.scrape()
    print("\n" + "\n".join(l for l in s.text.splitlines()
                            if l.startswith(("staticedge_config_reloads", "staticedge_dns_lookups"))))
    absent = []
    for result in ("ok", "error"):
        v = s.value("staticedge_config_reloads_total", result=result)
        if v != 0:
            absent.append(f'staticedge_config_reloads_total{{result="{result}"}} is {v}, want 0')
        for upstream in ("eb", "missing"):
            if s.value("staticedge_dns_lookups_total", upstream=upstream, result=result) is None:
                absent.append(f'staticedge_dns_lookups_total{{upstream="{upstream}",result="{result}"}}')
    assert not absent, "series missing right after start:\n" + "\n".join(absent)
    assert s.series("staticedge_dns_lookups_total", upstream="by-ip") == [], "IP upstreams are never looked up"
    assert {l["upstream"] for l, _ in s.series("staticedge_dns_lookups_total")} == {"eb", "missing"}


# -- 4. status page in headless Chromium -----------------------------------------------

@pytest.mark.timeout(900)   # the first use may install chromium
def test_status_page_in_headless_chromium(ca, workdir, make_tiny, make_bind, new_proxy, staticedge_bin):
    ip1, ip2 = net.loopback_addrs(2)
    up_port = net.free_port(ip1, ip2)
    make_tiny([ip1, ip2], up_port)
    dns = make_bind()
    dns.set_a(EB_HOST, [ip1], ttl=2)
    p = (new_proxy().certificate(ca.issue(workdir, "page", [CUSTOM_HOST], serial=5006))
         .upstream("eb-prod", f"{EB_HOST}:{up_port}", **dns_followed(dns.nameserver))
         .route("eb-prod", host_header="upstream")
         .run())
    admin = p.admin
    r = p.get("/")
    assert r.status == 200 and r.header("x-served-by") == ip1, (r.status, r.headers)
    url = f"http://{admin[0]}:{admin[1]}/"
    addr1, addr2 = f"{ip1}:{up_port}", f"{ip2}:{up_port}"

    # the raw page: self-contained HTML, no scripts, no external assets
    raw = httpc.request(admin, "/", host="admin", tls=False)
    assert raw.status == 200 and raw.header("content-type", "").startswith("text/html"), (raw.status, raw.headers)
    html = raw.text
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I), "no external assets"

    # screenshot (1200x900, not blank), kept as the test's artifact
    shot = chromium.screenshot(url, workdir, "status-page")

    # the DOM chromium rendered: version, state, the upstream's current address, the cert
    d1 = chromium.dom(url, workdir)
    (workdir / "status-page.1.html").write_text(d1)
    version = version_of(staticedge_bin)
    assert f"staticedge {version}" in d1, d1[:1500]
    assert "serving" in d1
    assert "eb-prod" in d1 and f"{EB_HOST}:{up_port}" in d1
    assert addr1 in d1 and addr2 not in d1, d1
    assert CUSTOM_HOST in d1

    # DNS moves the upstream: the page follows it
    dns.set_a(EB_HOST, [ip2], ttl=2)
    net.wait_until(lambda: [a["addr"] for a in p.upstream_status("eb-prod")["addresses"]] == [addr2], 20,
                   what=f"/status shows {addr2}")
    d2 = chromium.dom(url, workdir)
    (workdir / "status-page.2.html").write_text(d2)
    assert addr2 in d2 and addr1 not in d2, d2
    report.record("observability_status_page", screenshot=str(shot.path), png=shot.info,
                  chromium_seconds=shot.seconds)
