"""Self-tests of the harness's peers, without staticedge: when one of these fails, the
other e2e failures are the harness's, not the proxy's."""
import subprocess
import time

import pytest

from harness import httpc, net
from harness.certs import serial_of_pem
from harness.haproxy import Backend
from harness.load import Load
from harness.paths import CUSTOM_HOST, EB_HOST

pytestmark = pytest.mark.peers


def test_ebapp_hosts_and_views(make_app):
    app = make_app("blue")
    at = (app.ip, app.port)
    r = httpc.request(at, "/whoami", host=EB_HOST, tls=False, headers={"X-Forwarded-Proto": "https"})
    assert r.status == 200 and r.header("x-served-by") == "blue"
    body = r.json()
    assert body["host"] == EB_HOST and body["colour"] == "blue" and body["x_forwarded_proto"] == "https"
    assert httpc.request(at, "/whoami", host=CUSTOM_HOST, tls=False).status == 200
    assert httpc.request(at, "/whoami", host=f"{EB_HOST}:8000", tls=False).status == 200
    bad = httpc.request(at, "/whoami", host="other.example.test", tls=False)
    assert bad.status == 400 and "Bad Request (400)" in bad.text
    assert httpc.request(at, "/whoami", host=f"{app.ip}:{app.port}", tls=False).status == 400
    assert httpc.request(at, "/status/503", host=EB_HOST, tls=False).status == 503
    t0 = time.monotonic()
    assert httpc.request(at, "/slow?s=1", host=EB_HOST, tls=False).status == 200
    assert time.monotonic() - t0 >= 1.0
    log = net.wait_until(lambda: [l for l in app.access() if l["host"] == "other.example.test"], 5,
                         what="400 in the access log")
    assert log[0]["status"] == "400"
    assert "DisallowedHost" in app.proc.stderr() or "Invalid HTTP_HOST" in app.proc.stderr()
    # keep-alive is honoured (gthread)
    c = httpc.Conn(at, tls=False)
    try:
        for _ in range(3):
            assert httpc.do(c, "GET", "/health", EB_HOST).status == 200
        assert c.requests_done == 3 and c.sock is not None
    finally:
        c.close()


def test_bind_answers_and_changes(make_bind):
    dns = make_bind()
    dns.set_a("elb-1.test", ["127.0.2.201"], ttl=5)
    dns.set_a("elb-2.test", ["127.0.2.202", "127.0.2.203"], ttl=5)
    dns.set_cname(EB_HOST, "elb-1.test", ttl=5)
    assert dns.addresses(EB_HOST) == ["127.0.2.201"]
    dns.set_cname(EB_HOST, "elb-2.test", ttl=5)
    assert dns.addresses(EB_HOST) == ["127.0.2.202", "127.0.2.203"]
    r = dns.query(EB_HOST, "A")
    assert all(rr.ttl <= 5 for rr in r.answer)
    # nsupdate (BIND's own client) works against it too
    script = f"server 127.0.0.1 {dns.port}\nupdate delete elb-1.test A\nupdate add elb-1.test 5 A 127.0.2.209\nsend\n"
    subprocess.run(["nsupdate", "-t", "2"], input=script, text=True, check=True, timeout=10)
    assert dns.addresses("elb-1.test") == ["127.0.2.209"]
    # NXDOMAIN, then an outage, then back with the data kept
    assert dns.query("nope.test").rcode() == 3
    dns.stop()
    with pytest.raises(Exception):
        dns.query(EB_HOST, timeout=0.5)
    dns.start()
    assert dns.addresses(EB_HOST) == ["127.0.2.202", "127.0.2.203"]


def test_bind_large_answer_truncates_over_udp(make_bind):
    dns = make_bind(max_udp_size=512)
    ips = [f"127.0.1.{i}" for i in range(1, 31)]
    dns.set_a("elb-big.test", ips, ttl=5)
    dns.set_cname(EB_HOST, "elb-big.test", ttl=5)
    udp = dns.query(EB_HOST, "A", payload=4096)
    assert udp.flags & 0x0200, "expected TC (truncated) over UDP"
    assert dns.addresses(EB_HOST) == sorted(ips)


def test_haproxy_health_checks(make_tiny, make_haproxy, workdir):
    ips = net.loopback_addrs(3)
    port = net.free_port(*ips)
    fe = net.loopback_addr()
    fe_port = net.free_port(fe)
    check_port = net.free_port(ips[2])
    backend = make_tiny(ips[:2], port, name="tiny-backends")
    check = make_tiny([ips[2]], check_port, name="tiny-check")
    lb = make_haproxy((fe, fe_port), [Backend("p1", (ips[0], port), (ips[2], check_port)),
                                      Backend("p2", (ips[1], port), (ips[2], check_port))])
    lb.wait_status("p1", "UP", 10)
    with Load((fe, fe_port), host="x", tls=False, path="/", rate=50, workers=4, max_requests=100,
              max_seconds=10) as load:
        load.wait_done(15)
    s = load.summary()
    assert s["failed"] == 0, s
    assert set(s["served_by"]) == set(ips[:2]), s
    assert lb.sessions("p1") > 0 and lb.sessions("p2") > 0
    check.stop()
    took = lb.wait_status("p1", "DOWN", 10)
    assert took < 5
    backend.stop()


def test_certs(ca, workdir):
    leaf = ca.issue(workdir, "a", ["a.example.test"], serial=4242)
    assert serial_of_pem(leaf.cert_path.read_bytes()) == 4242
    rsa = ca.issue(workdir, "r", ["r.example.test"], key_type="rsa")
    out = subprocess.run(["openssl", "verify", "-CAfile", str(ca.cert_path), str(leaf.cert_path), str(rsa.cert_path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    old = ca.issue(workdir, "old", ["old.example.test"], expired=True)
    out = subprocess.run(["openssl", "verify", "-CAfile", str(ca.cert_path), str(old.cert_path)],
                         capture_output=True, text=True)
    assert out.returncode != 0 and "expired" in (out.stdout + out.stderr)
