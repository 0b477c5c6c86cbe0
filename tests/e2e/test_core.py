"""Issue 2, end to end: TLS termination, routing by Host/SNI, Host policy, forwarded
headers, CLI `check`, start-up failures and `staticedge demo`, with a real Django app
(DEBUG=False, strict ALLOWED_HOSTS) under gunicorn behind the real binary."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import httpc, net, procs, tomlw
from harness.edge_client import EdgeClient
from harness.paths import CUSTOM_HOST, EB_HOST
from harness.procs import Managed
from harness.proxy import Proxy, edge_config, run_cli
from harness.tools import curl, s_client_cert

pytestmark = pytest.mark.core

LITERAL_BAD_HOST = "not-allowed.example.test"


@dataclass
class Core(EdgeClient):
    proxy: Proxy
    ip: str
    port: int
    plain_port: int | None
    leaves: list
    ca_path: Path


def core_config(*, ip, port, admin, leaves, app, dns, plain_port=None, tls=None):
    routes = [
        {"hosts": ["eb.example.test"], "upstream": "eb", "host_header": "upstream"},
        {"hosts": [CUSTOM_HOST, f"*.{CUSTOM_HOST}"], "upstream": "eb", "host_header": "preserve"},
        {"hosts": ["literal.example.test"], "upstream": "eb", "host_header": LITERAL_BAD_HOST},
        {"hosts": ["byip.example.test"], "upstream": "eb-ip", "host_header": EB_HOST},
    ]
    upstreams = {
        "eb": {"address": f"{EB_HOST}:{app.port}", "dns": {"nameservers": [dns.nameserver]}},
        "eb-ip": {"address": app.addr},
    }
    return edge_config(listen=[(ip, port)], admin=admin, certs=leaves, routes=routes, upstreams=upstreams,
                       plain=[(ip, plain_port)] if plain_port else None, tls=tls)


ALL_NAMES = [CUSTOM_HOST, f"*.{CUSTOM_HOST}", "eb.example.test", "literal.example.test", "byip.example.test",
             "nobody.example.test"]


@pytest.fixture
def start_core(ca, workdir, shared_app, shared_dns, make_proxy):
    def start(*, leaves=None, tls=None, plain=False, wait="ready") -> Core:
        ip = net.loopback_addr()
        port = net.free_port(ip)
        plain_port = net.free_port(ip) if plain else None
        admin = ("127.0.0.1", net.free_port())
        if leaves is None:
            leaves = [ca.issue(workdir, "main", ALL_NAMES, serial=1001)]
        cfg = core_config(ip=ip, port=port, admin=admin, leaves=leaves, app=shared_app, dns=shared_dns,
                          plain_port=plain_port, tls=tls)
        p = make_proxy(cfg).start(wait=wait)
        return Core(p, ip, port, plain_port, leaves, ca.cert_path)
    return start


# -- Host policy -----------------------------------------------------------------------

def test_host_header_upstream_gets_200(start_core, shared_app):
    core = start_core()
    r = core.get(host="eb.example.test")
    assert r.status == 200, (r.status, r.text[:300])
    seen = r.json()
    assert seen["host"].split(":")[0] == EB_HOST, seen
    assert r.header("x-served-by") == "blue"


def test_host_header_preserve_gets_200(start_core):
    core = start_core()
    r = core.get(host=CUSTOM_HOST)
    assert r.status == 200, (r.status, r.text[:300])
    assert r.json()["host"] == CUSTOM_HOST


def test_host_header_to_ip_upstream(start_core):
    core = start_core()
    r = core.get(host="byip.example.test")
    assert r.status == 200, (r.status, r.text[:300])
    assert r.json()["host"] == EB_HOST


def test_literal_disallowed_host_400_reaches_client(start_core, shared_app):
    core = start_core()
    r = core.get(host="literal.example.test")
    assert r.status == 400, (r.status, r.text[:300])
    assert "Bad Request (400)" in r.text
    assert r.header("x-served-by") == "blue", "the 400 must be the app's, passed through"
    net.wait_until(lambda: any(l["host"] == LITERAL_BAD_HOST and l["status"] == "400"
                               for l in shared_app.access()), 5, what="app logged the 400")


# -- headers the upstream sees ---------------------------------------------------------

def test_forwarded_headers_and_generated_request_id(start_core):
    core = start_core()
    client_ip = "127.0.0.77"
    r = core.get(host=CUSTOM_HOST, source_ip=client_ip)
    assert r.status == 200, r.text[:300]
    seen = r.json()
    print("app saw:", {k: v for k, v in seen.items() if k != "headers"})
    assert seen["x_forwarded_for"] == client_ip
    assert seen["x_forwarded_proto"] == "https"
    assert seen["x_forwarded_port"] == str(core.port)
    assert seen["x_forwarded_host"] == CUSTOM_HOST
    rid = seen["x_request_id"]
    assert rid, "X-Request-Id must be generated when the client sent none"
    assert r.header("x-request-id") == rid, "the generated X-Request-Id is echoed to the client"
    r2 = core.get(host=CUSTOM_HOST, source_ip=client_ip)
    assert r2.json()["x_request_id"] != rid, "each request gets its own id"


def test_request_id_kept_and_xff_appended(start_core):
    core = start_core()
    r = core.get(host=CUSTOM_HOST, source_ip="127.0.0.78",
                 headers={"X-Request-Id": "e2e-rid-12345", "X-Forwarded-For": "203.0.113.9"})
    assert r.status == 200, r.text[:300]
    seen = r.json()
    assert seen["x_request_id"] == "e2e-rid-12345"
    assert r.header("x-request-id") == "e2e-rid-12345"
    assert [s.strip() for s in seen["x_forwarded_for"].split(",")] == ["203.0.113.9", "127.0.0.78"]


def test_hop_by_hop_headers_not_forwarded(start_core):
    """PRODUCT.md section 5 (beyond the issue's list): hop-by-hop headers stay on the client's hop."""
    core = start_core()
    r = core.get(host=CUSTOM_HOST, headers={"Connection": "keep-alive, X-Hop-Test", "X-Hop-Test": "1",
                                            "Keep-Alive": "timeout=5", "Proxy-Connection": "keep-alive",
                                            "X-End-To-End": "kept"})
    assert r.status == 200, r.text[:300]
    seen = r.json()["headers"]
    assert seen.get("x-end-to-end") == "kept"
    leaked = {h: seen[h] for h in ("x-hop-test", "keep-alive", "proxy-connection") if h in seen}
    assert not leaked, f"hop-by-hop headers reached the app: {leaked}"


def test_allow_cidrs(ca, workdir, shared_app, make_proxy):
    """PRODUCT.md section 4 (beyond the issue's list): clients outside allow_cidrs get 403."""
    ip = net.loopback_addr()
    port = net.free_port(ip)
    leaf = ca.issue(workdir, "acl", [CUSTOM_HOST])
    cfg = edge_config(listen=[(ip, port)], admin=("127.0.0.1", net.free_port()), certs=[leaf],
                      routes=[{"hosts": [CUSTOM_HOST], "upstream": "app", "host_header": "preserve",
                               "allow_cidrs": ["127.0.0.50/32"]}],
                      upstreams={"app": {"address": shared_app.addr}})
    make_proxy(cfg).start()
    ok = httpc.request((ip, port), "/whoami", host=CUSTOM_HOST, ca=ca.cert_path, source_ip="127.0.0.50")
    no = httpc.request((ip, port), "/whoami", host=CUSTOM_HOST, ca=ca.cert_path, source_ip="127.0.0.51")
    assert ok.status == 200, ok.text[:200]
    assert no.status == 403, (no.status, no.text[:200])
    assert no.header("x-served-by") is None


# -- TLS -------------------------------------------------------------------------------

def test_sni_picks_certificate(ca, workdir, start_core):
    first = ca.issue(workdir, "first", [CUSTOM_HOST, f"*.{CUSTOM_HOST}", "nobody.example.test"],
                     key_type="ec", serial=1001)
    second = ca.issue(workdir, "second", ["other.example.test"], key_type="rsa", serial=2002)
    core = start_core(leaves=[first, second])
    cases = {CUSTOM_HOST: 1001, "other.example.test": 2002, "OTHER.Example.Test": 2002,
             f"x.{CUSTOM_HOST}": 1001, "unknown.example.test": 1001, None: 1001}
    got = {name: s_client_cert(core.ip, core.port, name).serial_number for name in cases}
    print("serials by SNI:", got)
    assert got == cases


def test_http2_negotiated(start_core):
    core = start_core()
    p = curl("--http2", "--cacert", core.ca_path, "--resolve", core.resolve(), "-o", "/dev/null",
             "-w", "%{http_version} %{http_code}", core.url())
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "2 200", p.stdout
    # the app still sees the :authority as Host (route matched by :authority)
    p = curl("--http2", "--cacert", core.ca_path, "--resolve", core.resolve(), core.url())
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["host"] == f"{CUSTOM_HOST}:{core.port}"  # curl sends the port in :authority


@pytest.mark.parametrize("flags,want", [(["--tlsv1.2", "--tls-max", "1.2"], "TLSv1.2"),
                                        (["--tlsv1.3"], "TLSv1.3")])
def test_tls_versions(start_core, flags, want):
    core = start_core()
    p = curl("-v", *flags, "--cacert", core.ca_path, "--resolve", core.resolve(), "-o", "/dev/null",
             "-w", "%{http_code}", core.url())
    assert p.returncode == 0, p.stderr[-1500:]
    assert p.stdout.strip() == "200"
    assert f"SSL connection using {want}" in p.stderr
    v = ssl.TLSVersion.TLSv1_2 if want == "TLSv1.2" else ssl.TLSVersion.TLSv1_3
    r = core.get(context=httpc.tls_context(core.ca_path, min_version=v, max_version=v))
    assert r.status == 200 and r.tls_version == want


def test_min_version_13_refuses_tls12(start_core):
    core = start_core(tls={"min_version": "1.3"})
    p = curl("--tlsv1.2", "--tls-max", "1.2", "--cacert", core.ca_path, "--resolve", core.resolve(),
             "-o", "/dev/null", "-w", "%{http_code}", core.url())
    assert p.returncode != 0, f"a TLS 1.2-only client must be refused, got {p.stdout!r}"
    print("curl TLS1.2-only:", p.returncode, p.stderr.strip()[-200:])
    with pytest.raises((ssl.SSLError, ConnectionError)):
        core.get(context=httpc.tls_context(core.ca_path, max_version=ssl.TLSVersion.TLSv1_2))
    p = curl("--tlsv1.3", "--cacert", core.ca_path, "--resolve", core.resolve(), "-o", "/dev/null",
             "-w", "%{http_code}", core.url())
    assert p.returncode == 0 and p.stdout.strip() == "200", p.stderr


# -- routing misses, redirect ----------------------------------------------------------

def test_unknown_host_421_not_forwarded(start_core, shared_app):
    core = start_core()
    before = len(shared_app.access())
    r = core.get(host="nobody.example.test")
    assert r.status == 421, (r.status, r.text[:300])
    assert 0 < len(r.body) < 512, f"short text body expected, got {len(r.body)} bytes"
    assert r.header("x-served-by") is None
    # the same with h2 (:authority)
    p = curl("--http2", "--cacert", core.ca_path, "--resolve", core.resolve("nobody.example.test"),
             "-o", "/dev/null", "-w", "%{http_code}", core.url("nobody.example.test"))
    assert p.stdout.strip() == "421", (p.stdout, p.stderr)
    # a sync marker request that does reach the app: everything before it is logged by then
    assert core.get(host=CUSTOM_HOST, path="/whoami?marker-421").status == 200
    net.wait_until(lambda: any("marker-421" in l["query"] for l in shared_app.access()), 5, what="marker")
    after = shared_app.access()[before:]
    assert not [l for l in after if "nobody" in l["host"]], after


def test_plain_listener_redirects_308(start_core):
    core = start_core(plain=True)
    r = httpc.request((core.ip, core.plain_port), "/some/path", host=CUSTOM_HOST, tls=False)
    assert r.status == 308, (r.status, r.text[:200])
    assert r.header("location") == f"https://{CUSTOM_HOST}/some/path"
    p = curl("-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "-H", f"Host: {CUSTOM_HOST}",
             f"http://{core.ip}:{core.plain_port}/a/b")
    assert p.stdout.strip() == f"308 https://{CUSTOM_HOST}/a/b", p.stdout


# -- staticedge check ------------------------------------------------------------------

def _good_check_config(ca, workdir, shared_app, shared_dns) -> dict:
    leaf = ca.issue(workdir, "check", ALL_NAMES)
    ip = net.loopback_addr()
    return core_config(ip=ip, port=net.free_port(ip), admin=("127.0.0.1", net.free_port()), leaves=[leaf],
                       app=shared_app, dns=shared_dns)


def _line_of(text: str, needle: str) -> int:
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in config")


def test_check_good_config_exits_0(staticedge_bin, ca, workdir, shared_app, shared_dns):
    path = workdir / "good.toml"
    path.write_text(tomlw.dumps(_good_check_config(ca, workdir, shared_app, shared_dns)))
    p = run_cli(staticedge_bin, "check", "--config", path)
    assert p.returncode == 0, f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}"


BROKEN = {
    # name: (edit on the good TOML text, the text on the line the error must name)
    "unknown_key": (lambda t: t.replace('threads = 1', 'threads = 1\nthreadz = 2', 1), "threadz = 2"),
    "bad_duration": (lambda t: t.replace('grace_period = "0s"', 'grace_period = "15 parsecs"', 1),
                     'grace_period = "15 parsecs"'),
    "unknown_upstream": (lambda t: t.replace('upstream = "eb-ip"', 'upstream = "no-such-upstream"', 1),
                         'upstream = "no-such-upstream"'),
    "bad_socket_address": (lambda t: re.sub(r'(\[admin\]\nlisten = )"[^"]+"', r'\1"127.0.0.1:99999"', t, 1),
                           '"127.0.0.1:99999"'),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_check_broken_config_names_file_line_col(staticedge_bin, ca, workdir, shared_app, shared_dns, kind):
    edit, marker = BROKEN[kind]
    text = edit(tomlw.dumps(_good_check_config(ca, workdir, shared_app, shared_dns)))
    path = workdir / f"broken-{kind}.toml"
    path.write_text(text)
    line = _line_of(text, marker)
    p = run_cli(staticedge_bin, "check", "--config", path)
    print(f"check {kind}: rc={p.returncode}\nstderr:\n{p.stderr}")
    assert p.returncode == 1, f"rc={p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    located = re.findall(rf"^{re.escape(str(path))}:(\d+):(\d+): \S.*$", p.stderr, re.M)
    assert located, f"no `{path}:line:col: message` line on stderr:\n{p.stderr}"
    lines = {int(l) for l, _ in located}
    ok_lines = {line}
    if kind == "unknown_upstream":  # the [[route]] header is an acceptable place too
        ok_lines.add(max(i for i, l in enumerate(text.splitlines()[:line], 1) if l.strip() == "[[route]]"))
    assert lines & ok_lines, f"expected line {sorted(ok_lines)}, got {sorted(lines)}:\n{p.stderr}"


def test_check_reports_every_error(staticedge_bin, ca, workdir, shared_app, shared_dns):
    text = tomlw.dumps(_good_check_config(ca, workdir, shared_app, shared_dns))
    text = text.replace('upstream = "eb-ip"', 'upstream = "no-such-upstream"', 1)
    missing = workdir / "missing-cert.pem"
    text = re.sub(r'cert = "[^"]+"', f'cert = "{missing}"', text, 1)
    path = workdir / "two-errors.toml"
    path.write_text(text)
    p = run_cli(staticedge_bin, "check", "--config", path)
    print(p.stderr)
    assert p.returncode == 1
    located = re.findall(rf"^{re.escape(str(path))}:\d+:\d+: .*$", p.stderr, re.M)
    assert len(located) >= 2, f"both problems (unknown upstream, missing cert) expected:\n{p.stderr}"
    assert any("no-such-upstream" in l for l in located), located
    assert any("missing-cert.pem" in l for l in located), located


# -- start-up fails loudly -------------------------------------------------------------

def _run_expect_exit(staticedge_bin, workdir, cfg, name) -> tuple[int, str, float]:
    p = Proxy(staticedge_bin, workdir, cfg, name=name)
    p.start(wait=None)
    t0 = time.monotonic()
    try:
        rc = p.wait_exit(10)
    except TimeoutError:
        admin_up = net.tcp_connectable(*p.admin)
        p.stop()
        pytest.fail(f"`staticedge run` still running after 10 s (admin port answering: {admin_up})\n{p.tail()}")
    finally:
        p.stop()
    return rc, p.stdout() + p.stderr(), time.monotonic() - t0


def test_run_fails_when_port_taken(staticedge_bin, ca, workdir, shared_app, shared_dns):
    cfg = _good_check_config(ca, workdir, shared_app, shared_dns)
    ip, port = cfg["listener"][0]["listen"].rsplit(":", 1)
    blocker = socket.socket()
    blocker.bind((ip, int(port)))
    blocker.listen(1)
    try:
        rc, out, took = _run_expect_exit(staticedge_bin, workdir, cfg, "port-taken")
    finally:
        blocker.close()
    print(f"rc={rc} after {took:.1f}s:\n{out}")
    assert rc != 0
    assert f"{ip}:{port}" in out or f":{port}" in out, "the error should name the address that is taken"


@pytest.mark.parametrize("kind", ["missing", "not_pem"])
def test_run_fails_on_bad_key(staticedge_bin, ca, workdir, shared_app, shared_dns, kind):
    cfg = _good_check_config(ca, workdir, shared_app, shared_dns)
    key = workdir / f"bad-{kind}.key.pem"
    if kind == "not_pem":
        key.write_text("this is not a PEM private key\n")
    cfg["tls"]["certificate"][0]["key"] = str(key)
    rc, out, took = _run_expect_exit(staticedge_bin, workdir, cfg, f"bad-key-{kind}")
    print(f"rc={rc} after {took:.1f}s:\n{out}")
    assert rc != 0
    assert key.name in out, "the error should name the key file"


# -- staticedge demo -------------------------------------------------------------------

@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_demo_curl_line_works(staticedge_bin, workdir, stack, stop):
    demo = Managed("demo", [staticedge_bin, "demo"], workdir)

    class _Stop:
        def stop(self):
            demo.stop()

        def tail(self):
            return demo.tail()
    stack.add(_Stop())

    def curl_line():
        if not demo.running():
            raise AssertionError(f"demo exited {demo.returncode}\n{demo.tail()}")
        lines = [l for l in demo.stdout().splitlines() if l.startswith("curl ")]
        return lines
    lines = net.wait_until(curl_line, 60, interval=0.2, what="a `curl ` line on the demo's stdout")
    assert len(lines) == 1, lines
    line = lines[0]
    print("demo printed:", line)
    curlhome = workdir / "curlhome"
    curlhome.mkdir()
    (curlhome / ".curlrc").write_text('write-out = "\\nE2E_HTTP_CODE=%{http_code}\\n"\nmax-time = 15\n')
    env = {"PATH": "/usr/bin:/bin", "CURL_HOME": str(curlhome), "HOME": str(curlhome)}
    p = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=30, env=env,
                       stdin=subprocess.DEVNULL)
    print("curl:", p.returncode, p.stdout[-500:], p.stderr[-500:])
    assert p.returncode == 0, p.stderr
    assert "E2E_HTTP_CODE=200" in p.stdout
    files = [l.split()[1] for l in demo.stdout().splitlines() if l.strip().startswith("files ")]
    assert len(files) == 1 and os.path.isdir(files[0]), demo.stdout()
    demo.remember_descendants()
    kids = procs.descendants(demo.pid)
    demo.signal(stop)
    try:
        rc = demo.wait(10)
    except TimeoutError:
        pytest.fail(f"demo did not stop within 10 s of {stop.name}\n{demo.tail()}")
    net.wait_until(lambda: not [k for k in kids if procs.alive(k)], 5, what="demo's children gone")
    print(f"demo exit code {rc} after {stop.name}, children were {kids}")
    assert rc == 0, demo.tail()
    assert not os.path.exists(files[0]), f"the demo left {files[0]} behind after {stop.name}"
    p = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=30, env=env,
                       stdin=subprocess.DEVNULL)
    assert "E2E_HTTP_CODE=200" not in p.stdout, "the demo's proxy still answers after it was stopped"
