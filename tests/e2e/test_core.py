"""TLS termination, routing by Host/SNI, the Host policy, forwarded headers, the CLI's
`check`, start-up failures and `staticedge demo`, end to end: a real Django app (DEBUG=False,
strict ALLOWED_HOSTS) under gunicorn behind the real binary."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest

from harness import httpc, net, procs, tomlw
from harness.paths import CUSTOM_HOST, EB_HOST
from harness.procs import Managed
from harness.proxy import Proxy, ProxyBuilder, check_refuses, line_of, located, run_cli
from harness.tools import curl, s_client_cert

pytestmark = pytest.mark.core

LITERAL_BAD_HOST = "not-allowed.example.test"
ALL_NAMES = [CUSTOM_HOST, f"*.{CUSTOM_HOST}", "eb.example.test", "literal.example.test", "byip.example.test",
             "nobody.example.test"]


@pytest.fixture
def core_proxy(new_proxy, shared_app, shared_dns) -> ProxyBuilder:
    """This module's proxy, not started and without a certificate: four routes to the shared
    app, by its EB name (looked up in the shared BIND) and by its IP address, one per Host
    policy (the upstream's name, the client's Host, a literal the app refuses, a literal it
    accepts)."""
    return (new_proxy()
            .route("eb", hosts=["eb.example.test"], host_header="upstream")
            .route("eb", hosts=[CUSTOM_HOST, f"*.{CUSTOM_HOST}"], host_header="preserve")
            .route("eb", hosts=["literal.example.test"], host_header=LITERAL_BAD_HOST)
            .route("eb-ip", hosts=["byip.example.test"], host_header=EB_HOST)
            .upstream("eb", f"{EB_HOST}:{shared_app.port}", dns={"nameservers": [shared_dns.nameserver]})
            .upstream("eb-ip", shared_app.addr))


@pytest.fixture
def core_leaf(ca, workdir):
    """A certificate for every name the routes know, and one they do not, valid long enough
    (90 days) that `check` has nothing to warn about."""
    return ca.issue(workdir, "main", ALL_NAMES, serial=1001, days=90)


@pytest.fixture
def core(core_proxy, core_leaf) -> Proxy:
    """The module's proxy, started with `core_leaf`."""
    return core_proxy.certificate(core_leaf).run()


# -- Host policy -----------------------------------------------------------------------

def test_host_header_upstream_gets_200(core):
    r = core.get(host="eb.example.test")
    assert r.status == 200, (r.status, r.text[:300])
    seen = r.json()
    assert seen["host"].split(":")[0] == EB_HOST, seen
    assert r.header("x-served-by") == "blue"


def test_host_header_preserve_gets_200(core):
    r = core.get(host=CUSTOM_HOST)
    assert r.status == 200, (r.status, r.text[:300])
    assert r.json()["host"] == CUSTOM_HOST


def test_host_header_to_ip_upstream(core):
    r = core.get(host="byip.example.test")
    assert r.status == 200, (r.status, r.text[:300])
    assert r.json()["host"] == EB_HOST


def test_literal_disallowed_host_400_reaches_client(core, shared_app):
    r = core.get(host="literal.example.test")
    assert r.status == 400, (r.status, r.text[:300])
    assert "Bad Request (400)" in r.text
    assert r.header("x-served-by") == "blue", "the 400 must be the app's, passed through"
    net.wait_until(lambda: any(l["host"] == LITERAL_BAD_HOST and l["status"] == "400"
                               for l in shared_app.access()), 5, what="app logged the 400")


# -- headers the upstream sees ---------------------------------------------------------

def test_forwarded_headers_and_generated_request_id(core):
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


def test_request_id_kept_and_xff_appended(core):
    r = core.get(host=CUSTOM_HOST, source_ip="127.0.0.78",
                 headers={"X-Request-Id": "e2e-rid-12345", "X-Forwarded-For": "203.0.113.9"})
    assert r.status == 200, r.text[:300]
    seen = r.json()
    assert seen["x_request_id"] == "e2e-rid-12345"
    assert r.header("x-request-id") == "e2e-rid-12345"
    assert [s.strip() for s in seen["x_forwarded_for"].split(",")] == ["203.0.113.9", "127.0.0.78"]


def test_hop_by_hop_headers_not_forwarded(core):
    """Hop-by-hop headers (Connection, the names it lists, Keep-Alive, Proxy-Connection) stay on
    the client's hop; end-to-end headers reach the app."""
    r = core.get(host=CUSTOM_HOST, headers={"Connection": "keep-alive, X-Hop-Test", "X-Hop-Test": "1",
                                            "Keep-Alive": "timeout=5", "Proxy-Connection": "keep-alive",
                                            "X-End-To-End": "kept"})
    assert r.status == 200, r.text[:300]
    seen = r.json()["headers"]
    assert seen.get("x-end-to-end") == "kept"
    leaked = {h: seen[h] for h in ("x-hop-test", "keep-alive", "proxy-connection") if h in seen}
    assert not leaked, f"hop-by-hop headers reached the app: {leaked}"


def test_allow_cidrs(new_proxy, shared_app):
    """A route's allow_cidrs: clients outside them get 403 and never reach the app."""
    p = (new_proxy().upstream("app", shared_app.addr)
         .route("app", allow_cidrs=["127.0.0.50/32"]).run())
    ok = p.get(source_ip="127.0.0.50")
    no = p.get(source_ip="127.0.0.51")
    assert ok.status == 200, ok.text[:200]
    assert no.status == 403, (no.status, no.text[:200])
    assert no.header("x-served-by") is None


# -- TLS -------------------------------------------------------------------------------

def test_sni_picks_certificate(ca, workdir, core_proxy):
    first = ca.issue(workdir, "first", [CUSTOM_HOST, f"*.{CUSTOM_HOST}", "nobody.example.test"],
                     key_type="ec", serial=1001)
    second = ca.issue(workdir, "second", ["other.example.test"], key_type="rsa", serial=2002)
    core = core_proxy.certificate(first, second).run()
    cases = {CUSTOM_HOST: 1001, "other.example.test": 2002, "OTHER.Example.Test": 2002,
             f"x.{CUSTOM_HOST}": 1001, "unknown.example.test": 1001, None: 1001}
    got = {name: s_client_cert(core.ip, core.port, name).serial_number for name in cases}
    print("serials by SNI:", got)
    assert got == cases


def test_http2_negotiated(core):
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
def test_tls_versions(core, flags, want):
    p = curl("-v", *flags, "--cacert", core.ca_path, "--resolve", core.resolve(), "-o", "/dev/null",
             "-w", "%{http_code}", core.url())
    assert p.returncode == 0, p.stderr[-1500:]
    assert p.stdout.strip() == "200"
    assert f"SSL connection using {want}" in p.stderr
    v = ssl.TLSVersion.TLSv1_2 if want == "TLSv1.2" else ssl.TLSVersion.TLSv1_3
    r = core.get(context=httpc.tls_context(core.ca_path, min_version=v, max_version=v))
    assert r.status == 200 and r.tls_version == want


def test_min_version_13_refuses_tls12(core_proxy, core_leaf):
    core = core_proxy.certificate(core_leaf).tls(min_version="1.3").run()
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

def test_unknown_host_421_not_forwarded(core, shared_app):
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


def test_plain_listener_redirects_308(core_proxy, core_leaf):
    core = core_proxy.certificate(core_leaf).listen("main").listen("plain", tls=False, redirect_https=True).run()
    plain = core.listeners["plain"]
    r = httpc.request(plain, "/some/path", host=CUSTOM_HOST, tls=False)
    assert r.status == 308, (r.status, r.text[:200])
    assert r.header("location") == f"https://{CUSTOM_HOST}/some/path"
    p = curl("-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "-H", f"Host: {CUSTOM_HOST}",
             f"http://{plain[0]}:{plain[1]}/a/b")
    assert p.stdout.strip() == f"308 https://{CUSTOM_HOST}/a/b", p.stdout


# -- staticedge check ------------------------------------------------------------------

@pytest.fixture
def good_config_text(core_proxy, core_leaf) -> str:
    """The module's configuration as TOML, for `check` (nothing is started)."""
    return tomlw.dumps(core_proxy.certificate(core_leaf).config())


def test_check_good_config_exits_0(staticedge_bin, workdir, good_config_text):
    path = workdir / "good.toml"
    path.write_text(good_config_text)
    p = run_cli(staticedge_bin, "check", "--config", path)
    print(f"check: rc={p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    assert p.returncode == 0, f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    # one summary line naming the file and what it holds: 1 listener, 4 routes, 2 upstreams, 1 certificate
    assert p.stdout.splitlines() == [
        f"{path}: configuration and certificates OK "
        "(1 listener(s), 4 route(s), 2 upstream(s), 1 certificate(s))"], p.stdout
    assert located(p.stderr, path) == [], p.stderr


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
def test_check_broken_config_names_file_line_col(staticedge_bin, workdir, good_config_text, kind):
    edit, marker = BROKEN[kind]
    text = edit(good_config_text)
    path = workdir / f"broken-{kind}.toml"
    line = line_of(text, marker)
    p, found = check_refuses(staticedge_bin, path, text)
    assert found, f"no `{path}:line:col: message` line on stderr:\n{p.stderr}"
    lines = {l for l, _, _ in found}
    ok_lines = {line}
    if kind == "unknown_upstream":  # the [[route]] header is an acceptable place too
        ok_lines.add(max(i for i, l in enumerate(text.splitlines()[:line], 1) if l.strip() == "[[route]]"))
    assert lines & ok_lines, f"expected line {sorted(ok_lines)}, got {sorted(lines)}:\n{p.stderr}"
    assert "OK" not in p.stdout, p.stdout


def test_check_reports_every_error(staticedge_bin, workdir, good_config_text):
    text = good_config_text.replace('upstream = "eb-ip"', 'upstream = "no-such-upstream"', 1)
    missing = workdir / "missing-cert.pem"
    text = re.sub(r'cert = "[^"]+"', f'cert = "{missing}"', text, 1)
    path = workdir / "two-errors.toml"
    path.write_text(text)
    p = run_cli(staticedge_bin, "check", "--config", path)
    print(p.stderr)
    assert p.returncode == 1
    found = [m for _, _, m in located(p.stderr, path)]
    assert len(found) >= 2, f"both problems (unknown upstream, missing cert) expected:\n{p.stderr}"
    assert any("no-such-upstream" in m for m in found), found
    assert any("missing-cert.pem" in m for m in found), found


@pytest.mark.pending_lead
def test_check_reports_unknown_key_wrong_type_and_bad_value_in_one_run(staticedge_bin, workdir,
                                                                       good_config_text):
    """An unknown key and a wrong type (the file format's errors) and an out-of-range value (a
    validation error) are all reported in one run, each as file:line:col on its own line."""
    text = good_config_text.replace("threads = 1", 'threads = "one"\nthreadz = 2', 1)
    text = text.replace('[upstream.eb-ip]\naddress = ', '[upstream.eb-ip]\nretries = 99\naddress = ', 1)
    path = workdir / "three-kinds.toml"
    path.write_text(text)
    want = {  # what, at which line, with a message saying (the message today's first-error report gives)
        "unknown key": (line_of(text, "threadz = 2"), r"threadz"),
        "wrong type": (line_of(text, 'threads = "one"'), r"threads|invalid type"),
        "invalid value": (line_of(text, "retries = 99"), r"retries"),
    }
    p = run_cli(staticedge_bin, "check", "--config", path)
    print(f"check: rc={p.returncode}\nstderr:\n{p.stderr}")
    assert p.returncode == 1, f"rc={p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    found = located(p.stderr, path)
    missing = {kind: f"line {line}, /{says}/" for kind, (line, says) in want.items()
               if not any(l == line and re.search(says, m) for l, _, m in found)}
    assert not missing, f"not reported as {path}:line:col: {missing}\nstderr:\n{p.stderr}"


# -- start-up fails loudly -------------------------------------------------------------

def _run_expect_exit(p: Proxy) -> tuple[int, str, float]:
    """Start `p`, which must exit within 10 s; (exit code, stdout + stderr, seconds)."""
    p.start(wait=None)
    t0 = time.monotonic()
    try:
        rc = p.wait_exit(10)
    except TimeoutError:
        admin_up = net.tcp_connectable(*p.admin)
        p.stop()
        pytest.fail(f"`staticedge run` still running after 10 s (admin port answering: {admin_up})\n{p.tail()}")
    return rc, p.stdout() + p.stderr(), time.monotonic() - t0


def test_run_fails_when_port_taken(core_proxy, core_leaf):
    p = core_proxy.certificate(core_leaf).build()
    ip, port = p.at
    blocker = socket.socket()
    blocker.bind((ip, port))
    blocker.listen(1)
    try:
        rc, out, took = _run_expect_exit(p)
    finally:
        blocker.close()
    print(f"rc={rc} after {took:.1f}s:\n{out}")
    assert rc == 1, out
    # the file, the address that is taken, which listener it is, and the system's reason
    assert re.search(rf"^{re.escape(str(p.config_path))}: cannot listen on {re.escape(f'{ip}:{port}')} "
                     r"\(listener\): Address already in use", out, re.M), out
    assert not net.tcp_connectable(*p.admin), "the admin port must not have been opened"


@pytest.mark.parametrize("kind", ["missing", "not_pem"])
def test_run_fails_on_bad_key(core_proxy, core_leaf, workdir, kind):
    key = workdir / f"bad-{kind}.key.pem"
    if kind == "not_pem":
        key.write_text("this is not a PEM private key\n")
    p = core_proxy.certificate((core_leaf.cert_path, key)).build()
    rc, out, took = _run_expect_exit(p)
    print(f"rc={rc} after {took:.1f}s:\n{out}")
    assert rc == 1, out
    text = p.config_path.read_text()
    found = located(out, p.config_path)
    assert [l for l, _, m in found if key.name in m], f"no {p.config_path}:line:col line naming {key.name}:\n{out}"
    assert {l for l, _, _ in found} & {line_of(text, str(key)), line_of(text, "[[tls.certificate]]")}, out


# -- staticedge demo -------------------------------------------------------------------

@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_demo_curl_line_works(staticedge_bin, workdir, stack, stop):
    demo = stack.add(Managed("demo", [staticedge_bin, "demo"], workdir))

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
