"""The NLB contract, end to end, with HAProxy (mode tcp, httpchk /readyz,
inter 1s fall 2 rise 2) standing in for the NLB in front of staticedge instances, and
the Django app behind them. Load is >= 50 req/s, bounded, over fresh and reused
connections. Measured numbers go to tests/artifacts/e2e-summary.jsonl."""
from __future__ import annotations

import copy
import re
import signal
import threading
import time

import pytest

from harness import httpc, net, report, tomlw
from harness.certs import serial_of_der
from harness.haproxy import Backend
from harness.load import Load
from harness.paths import CUSTOM_HOST, EB_HOST
from harness.promscrape import Scrape
from harness.proxy import ProxyBuilder

pytestmark = pytest.mark.lifecycle

GRACE, DRAIN = 4, 6            # seconds: grace_period and drain_timeout of the roll tests
MIN_RATE = 50
CHANGED = "changed.example.test"


def app_upstream(app, **extra) -> dict:
    u = {"address": app.addr, "connect_timeout": "1s", "retries": 1}
    u.update(extra)
    return u


def instance(new_proxy, name: str, leaf, upstreams: dict, *, routes=None, server=None) -> ProxyBuilder:
    """One fleet instance (not started): `leaf`, `upstreams` {name: settings with "address"},
    `routes` (default: CUSTOM_HOST to "app", Host preserved), grace and drain of the roll tests."""
    b = new_proxy(name).certificate(leaf).server(grace_period=f"{GRACE}s", drain_timeout=f"{DRAIN}s")
    b.server(**(server or {}))
    for up, settings in upstreams.items():
        b.upstream(up, **settings)
    for r in routes or [{"hosts": [CUSTOM_HOST], "upstream": "app", "host_header": "preserve"}]:
        r = dict(r)
        b.route(r.pop("upstream"), **r)
    return b


def backend_of(p, extra="") -> Backend:
    return Backend(p.name, p.at, p.admin, extra)


def frontend():
    ip = net.loopback_addr()
    return (ip, net.free_port(ip))


def handshake_serial(at, sni, ca_path) -> int:
    r = httpc.request(at, "/whoami", host=sni, ca=ca_path)
    return serial_of_der(r.peer_cert_der)


def serial_is(value, n: int) -> bool:
    """/status may show a serial as hex (with or without colons or 0x) or as decimal."""
    v = str(value or "").lower().replace(":", "")
    v = v[2:] if v.startswith("0x") else v
    try:
        return int(v, 16) == n or (v.isdigit() and int(v) == n)
    except ValueError:
        return False


def no_failures(load: Load, what: str):
    s = load.summary()
    assert s["failed"] == 0, f"{what}: {s['failed']} of {s['total']} failed:\n{load.fail_detail()}\n{s}"
    return s


# -- admin endpoints -----------------------------------------------------------------------

def test_admin_endpoints(make_app, new_proxy, ca, workdir):
    """The admin port: /healthz, /readyz, /metrics, /status with the agreed keys; any Host;
    Content-Length and keep-alive."""
    app = make_app("blue")
    leaf = ca.issue(workdir, "edge", [CUSTOM_HOST], serial=0x5151)
    p = instance(new_proxy, "p1", leaf, {"app": app_upstream(app)}).run()
    c = httpc.Conn(p.admin, tls=False)
    try:
        for path, host in (("/healthz", "healthcheck"), ("/readyz", "10.0.0.1:9901"), ("/metrics", "x"),
                           ("/status", "whatever.example")):
            r = httpc.do(c, "GET", path, host)
            assert r.status == 200, (path, r.status, r.text[:200])
            assert r.header("content-length") is not None, f"{path} without Content-Length"
            if path == "/healthz":
                assert r.text.strip() == "ok", r.text
            if path == "/readyz":
                assert r.json() == {"ready": True, "reasons": []}
            if path == "/metrics":
                m = Scrape.parse(r.text, r.header("content-type", ""))
                assert m.value("staticedge_ready") == 1 and m.value("staticedge_draining") == 0, r.text[-2000:]
                assert m.value("staticedge_upstream_addresses", upstream="app") == 1, r.text[-2000:]
            if path == "/status":
                st = r.json()
        assert c.requests_done == 4, "the admin port should allow keep-alive"
    finally:
        c.close()
    print("status:", st)
    for k in ("version", "uptime_seconds", "draining", "config", "routes", "upstreams", "certificates", "listeners"):
        assert k in st, f"/status lacks {k}"
    assert st["draining"] is False
    assert {"source", "hash", "last_reload"} <= set(st["config"])
    assert st["config"]["source"] == str(p.config_path)
    (u,) = st["upstreams"]
    assert u["name"] == "app" and u["addresses"][0]["addr"] == app.addr
    (cert,) = st["certificates"]
    assert CUSTOM_HOST in cert["names"] and serial_is(cert["serial"], 0x5151) and cert["days_left"] >= 9
    (lst,) = st["listeners"]
    assert lst["listen"] == "%s:%d" % p.at and lst["tls"] is True
    assert lst.get("accepting") is True, f"listeners[].accepting expected: {lst}"


# -- rolling replacement -----------------------------------------------------------------

@pytest.mark.timeout(240)
def test_rolling_replacement_zero_failures(make_app, new_proxy, make_haproxy, ca, workdir):
    app = make_app("blue")
    leaf = ca.issue(workdir, "edge", [CUSTOM_HOST])
    ups = {"app": app_upstream(app)}
    p1 = instance(new_proxy, "p1", leaf, ups).run()
    p2 = instance(new_proxy, "p2", leaf, ups).run()
    lb = make_haproxy(frontend(), [backend_of(p1), backend_of(p2)])
    for p in (p1, p2):
        lb.wait_status(p.name, "UP", 10)
    phases = []
    with Load(lb.frontend, host=CUSTOM_HOST, ca=ca.cert_path, rate=80, workers=8, max_requests=9000,
              max_seconds=110) as load:
        net.wait_until(lambda: load.count_since(load.started) >= 100, 15, what="warm-up")
        for p in (p1, p2):
            t_term = time.monotonic()
            p.signal(signal.SIGTERM)
            down_after = lb.wait_status(p.name, "DOWN", GRACE + 2)
            accepting = p.running() and net.tcp_connectable(*p.at)
            try:
                rc = p.wait_exit(GRACE + DRAIN + 5)
            except TimeoutError:
                pytest.fail(f"{p.name} still running {GRACE + DRAIN + 5}s after SIGTERM\n{p.tail()}")
            exited_after = time.monotonic() - t_term
            p.start(wait="ready")
            lb.wait_status(p.name, "UP", 15)
            up_after = time.monotonic() - t_term
            phases.append({"instance": p.name, "down_after_s": round(down_after, 2),
                           "accepting_when_down": accepting, "exit_code": rc,
                           "exited_after_s": round(exited_after, 2), "back_up_after_s": round(up_after, 2)})
            assert accepting, f"{p.name} must still accept when HAProxy marks it down"
            assert rc == 0, f"{p.name} exited {rc} after SIGTERM\n{p.tail()}"
            assert exited_after <= GRACE + DRAIN + 1
            net.wait_until(lambda: load.count_since(time.monotonic() - 1) > 0, 5, what="load still flowing")
            time.sleep(1)
    s = load.summary()
    report.record("lifecycle.rolling_replacement", phases=phases, **s)
    no_failures(load, "rolling replacement")
    assert s["rate"] >= MIN_RATE, s


# -- reload ------------------------------------------------------------------------------

def test_reload_under_load_route_and_certificate(make_app, new_proxy, make_haproxy, ca, workdir):
    blue, green = make_app("blue"), make_app("green")
    names = [CUSTOM_HOST, CHANGED]
    v1_leaf = ca.issue(workdir, "v1", names, serial=1111)
    live = ca.issue(workdir, "live", names, serial=1111)     # the files the config points at
    v1_leaf.write_to(live.cert_path, live.key_path)
    ups = {"blue": app_upstream(blue), "green": app_upstream(green)}
    routes_v1 = [{"hosts": [CUSTOM_HOST], "upstream": "blue", "host_header": "preserve"},
                 {"hosts": [CHANGED], "upstream": "blue", "host_header": EB_HOST}]
    p = instance(new_proxy, "p1", live, ups, routes=routes_v1).run()
    lb = make_haproxy(frontend(), [backend_of(p)])
    lb.wait_status("p1", "UP", 10)
    at = p.at
    assert handshake_serial(at, CUSTOM_HOST, ca.cert_path) == 1111
    assert p.get(host=CHANGED).header("x-served-by") == "blue"
    hash_before = p.status()["config"]["hash"]

    with Load(lb.frontend, host=CUSTOM_HOST, ca=ca.cert_path, rate=80, workers=8, max_requests=3000,
              max_seconds=40) as load:
        net.wait_until(lambda: load.count_since(load.started) >= 100, 15, what="warm-up")
        v2_leaf = ca.issue(workdir, "v2", names, serial=2222)
        v2_leaf.write_to(live.cert_path, live.key_path)          # rotated in place
        cfg = copy.deepcopy(p.config)
        cfg["route"][1]["upstream"] = "green"                     # changed route
        t_hup = time.monotonic()
        p.reload(cfg)
        net.wait_until(lambda: handshake_serial(at, CUSTOM_HOST, ca.cert_path) == 2222, 5,
                       what="new handshakes get the rotated certificate")
        t_cert = time.monotonic() - t_hup
        net.wait_until(lambda: p.get(host=CHANGED)
                       .header("x-served-by") == "green", 5, what="changed route goes to green")
        t_route = time.monotonic() - t_hup
        time.sleep(3)
    s = load.summary()
    st = p.status()
    report.record("lifecycle.reload_under_load", cert_switched_s=round(t_cert, 2),
                  route_switched_s=round(t_route, 2), last_reload=st["config"].get("last_reload"), **s)
    no_failures(load, "reload under load")
    dropped = [round(t - t_hup, 2) for t in load.server_closes if t >= t_hup - 0.5]
    assert not dropped, f"the reload closed keep-alive connections (s after SIGHUP): {dropped}"
    assert s["rate"] >= MIN_RATE, s
    assert st["config"]["hash"] != hash_before
    assert handshake_serial(lb.frontend, CUSTOM_HOST, ca.cert_path) == 2222
    assert any(serial_is(c.get("serial"), 2222) for c in st["certificates"]), st["certificates"]


def test_bad_reload_keeps_old_config(make_app, new_proxy, ca, workdir):
    app = make_app("blue")
    leaf = ca.issue(workdir, "edge", [CUSTOM_HOST, CHANGED], serial=3333)
    routes = [{"hosts": [CUSTOM_HOST], "upstream": "app", "host_header": "preserve"},
              {"hosts": [CHANGED], "upstream": "app", "host_header": EB_HOST}]
    p = instance(new_proxy, "p1", leaf, {"app": app_upstream(app)}, routes=routes).run()
    at = p.at
    good = copy.deepcopy(p.config)
    hash0 = p.status()["config"]["hash"]
    before = p.scrape()

    def old_config_serves():
        assert p.readyz()[0] == 200
        assert p.get(host=CUSTOM_HOST).status == 200
        assert p.get(host=CHANGED).status == 200
        assert handshake_serial(at, CUSTOM_HOST, ca.cert_path) == 3333
        assert p.status()["config"]["hash"] == hash0

    def reload_error(previous=None):
        lr = p.status()["config"].get("last_reload") or {}
        err = lr.get("error")
        return lr if err and err != previous else None

    # 1. a syntax error (the changed-route host is dropped in it, so a partial apply would show)
    broken = copy.deepcopy(good)
    broken["route"] = broken["route"][:1]
    text = tomlw.dumps(broken) + 'garbage = "unterminated\n'  # a TOML syntax error
    garbage_line = len(text.splitlines())
    p.reload(text)
    lr1 = net.wait_until(reload_error, 10, what="/status shows the reload error")
    print("after syntax error:", lr1)
    assert p.running()
    old_config_serves()
    assert re.match(rf"{re.escape(str(p.config_path))}:{garbage_line}:\d+: \S", lr1["error"]), \
        f"the error should name the file and the line of the syntax error ({garbage_line}): {lr1['error']}"

    # 2. a missing certificate file
    missing = copy.deepcopy(good)
    missing["route"] = missing["route"][:1]
    missing["tls"]["certificate"][0]["cert"] = str(workdir / "no-such-cert.pem")
    p.reload(missing)
    lr2 = net.wait_until(lambda: reload_error(lr1["error"]), 10, what="/status shows the second reload error")
    print("after missing cert:", lr2)
    cert_line = next(i for i, l in enumerate(p.config_path.read_text().splitlines(), 1) if "no-such-cert.pem" in l)
    assert re.match(rf"{re.escape(str(p.config_path))}:{cert_line}:\d+: .*no-such-cert\.pem", lr2["error"]), \
        f"the error should name the file, the certificate's line ({cert_line}) and the missing file: {lr2['error']}"
    assert p.running()
    old_config_serves()
    after = p.scrape()
    assert after.moved(before, "staticedge_config_reloads_total") == {(("result", "error"),): 2}, \
        after.moved(before, "staticedge_config_reloads_total")
    report.record("lifecycle.bad_reload", syntax_error=lr1, missing_cert=lr2)


# -- readiness reasons -------------------------------------------------------------------

def test_readyz_names_expired_certificate(make_app, new_proxy, ca, workdir):
    app = make_app("blue")
    expired = ca.issue(workdir, "expired", [CUSTOM_HOST], expired=True)
    p = instance(new_proxy, "p1", expired, {"app": app_upstream(app)}).run(wait="healthz")
    code, body = net.wait_until(lambda: (lambda r: r if r[0] == 503 else None)(p.readyz()), 5,
                                what="/readyz 503")
    print("readyz with an expired certificate:", code, body)
    assert body["ready"] is False
    assert any("certificate" in r.lower() for r in body["reasons"]), body
    assert p.healthz() == 200


def test_readyz_names_draining_and_keeps_serving_in_grace(make_app, new_proxy, ca, workdir):
    app = make_app("blue")
    leaf = ca.issue(workdir, "edge", [CUSTOM_HOST])
    p = instance(new_proxy, "p1", leaf, {"app": app_upstream(app)},
                 server={"grace_period": "5s", "drain_timeout": "3s"}).run()
    t0 = time.monotonic()
    p.signal(signal.SIGTERM)
    code, body = net.wait_until(lambda: (lambda r: r if r[0] == 503 else None)(p.readyz()), 1.0, interval=0.02,
                                what="/readyz 503 at once after SIGTERM")
    took = time.monotonic() - t0
    print(f"readyz {took:.2f}s after SIGTERM:", code, body)
    assert any("draining" in r.lower() for r in body["reasons"]), body
    assert p.healthz() == 200
    # keeps serving new connections during the grace period
    served = 0
    while time.monotonic() < t0 + 4:
        assert p.get(host=CUSTOM_HOST).status == 200
        served += 1
        time.sleep(0.25)
    rc = p.wait_exit(5 + 3 + 3)
    report.record("lifecycle.readyz_draining", readyz_503_after_s=round(took, 3), served_in_grace=served,
                  exit_code=rc, exited_after_s=round(time.monotonic() - t0, 2))
    assert rc == 0


# -- start-up gate -----------------------------------------------------------------------

@pytest.mark.timeout(180)
def test_startup_gate_probe(make_app, new_proxy, make_haproxy, ca, workdir):
    app = make_app("blue")
    leaf = ca.issue(workdir, "edge", [CUSTOM_HOST])
    plain_ups = {"app": app_upstream(app)}
    gated_ups = {"app": app_upstream(app, probe={"path": "/health", "host": "rejected.example.test",
                                                  "expect_status": [200], "interval": "1s"})}
    ok = instance(new_proxy, "ok", leaf, plain_ups).run()
    gate = instance(new_proxy, "gate", leaf, gated_ups).run(wait="healthz")
    lb = make_haproxy(frontend(), [backend_of(ok), backend_of(gate)])
    lb.wait_status("ok", "UP", 10)
    lb.wait_status("gate", "DOWN", 10)        # HAProxy starts servers UP; no client traffic before this
    assert lb.sessions("gate") == 0
    with Load(lb.frontend, host=CUSTOM_HOST, ca=ca.cert_path, rate=50, workers=4, max_requests=400,
              max_seconds=6) as load:
        load.wait_done(15)
    s_before = load.summary()
    code, body = gate.readyz()
    probes = [l for l in app.access() if l["path"] == "/health"]
    print("gate readyz:", code, body, "probes seen by the app:", len(probes))
    assert code == 503, body
    assert lb.sessions("gate") == 0, "HAProxy sent traffic to an unready instance"
    assert s_before["failed"] == 0, s_before
    assert any(l["host"] == "rejected.example.test" and l["status"] == "400" for l in probes), \
        "the probe should reach the app with the configured Host (and get 400)"

    # fix the probe's Host and reload: it turns ready and gets traffic
    cfg = copy.deepcopy(gate.config)
    cfg["upstream"]["app"]["probe"]["host"] = EB_HOST
    t_hup = time.monotonic()
    gate.reload(cfg)
    net.wait_until(lambda: gate.readyz()[0] == 200, 10, what="ready after the probe's Host is fixed")
    ready_after = time.monotonic() - t_hup
    lb.wait_status("gate", "UP", 10)
    with Load(lb.frontend, host=CUSTOM_HOST, ca=ca.cert_path, rate=50, workers=4, max_requests=200,
              max_seconds=6) as load:
        load.wait_done(15)
    assert lb.sessions("gate") > 0
    assert load.summary()["failed"] == 0, load.summary()

    # after the first success, probe failures do not make it unready
    app.stop()
    t_stop = time.monotonic()
    not_ready = []
    while time.monotonic() < t_stop + 5:
        c, b = gate.readyz()
        if c != 200:
            not_ready.append((c, b))
        time.sleep(0.25)
    state = lb.status("gate")
    report.record("lifecycle.startup_gate", ready_after_fix_s=round(ready_after, 2),
                  probes_while_unready=len(probes), not_ready_after_app_stop=len(not_ready), haproxy=state)
    assert not not_ready, f"app down must not make a ready instance unready: {not_ready[:3]}"
    assert state == "UP", state


# -- long request during drain -----------------------------------------------------------

def test_long_request_during_drain_completes(make_app, new_proxy, ca, workdir):
    app = make_app("blue")
    leaf = ca.issue(workdir, "edge", [CUSTOM_HOST])
    grace, drain = 3, 10
    p = instance(new_proxy, "p1", leaf, {"app": app_upstream(app, read_timeout="30s")},
                 server={"grace_period": f"{grace}s", "drain_timeout": f"{drain}s"}).run()
    result = {}

    def slow():
        t = time.monotonic()
        try:
            r = p.get("/slow?s=5", timeout=20)
            result.update(status=r.status, body=r.text[:200])
        except Exception as e:  # noqa: BLE001
            result.update(error=f"{type(e).__name__}: {e}")
        result["took"] = time.monotonic() - t
        result["done_at"] = time.monotonic()

    t_term = time.monotonic()
    p.signal(signal.SIGTERM)
    time.sleep(grace - 0.7)
    th = threading.Thread(target=slow)
    th.start()
    time.sleep(0.7 + 1.5)   # grace is over: no new connections now
    late = None
    try:
        late = p.get(host=CUSTOM_HOST, timeout=3).status
    except Exception as e:  # noqa: BLE001
        late = f"{type(e).__name__}"
    th.join(25)
    try:
        rc = p.wait_exit(drain + 5)
    except TimeoutError:
        pytest.fail(f"still running after drain_timeout\n{p.tail()}")
    exited = time.monotonic() - t_term
    report.record("lifecycle.long_request_in_drain", slow_request=result, new_connection_after_grace=late,
                  exit_code=rc, exited_after_s=round(exited, 2))
    assert result.get("status") == 200, result
    assert result["took"] >= 5
    assert rc == 0
    assert result["done_at"] - t_term <= exited + 0.5
    assert late != 200, "after grace_period the proxy must stop accepting new connections"
