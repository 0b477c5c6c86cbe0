"""Fixtures for staticedge's end-to-end tests (see harness/ for the pieces).

Markers are declared in pytest.ini; select with `-m dns` etc. The binary comes from
$STATICEDGE_BIN (default: target/debug/staticedge); a missing binary is an error, never a skip.

Fixtures:
  workdir          a fresh directory per test under tests/artifacts/e2e/<test>/ (logs, configs;
                   <test>@<pid>/ while another running session uses that one)
  session_dir      this pytest session's own directory (tests/artifacts/e2e/_session-<pid>/)
  staticedge_bin   path of the binary
  ca               session test CA (ca.cert_path for --cacert); ca.issue(dir, stem, names, ...)
  stack            per-test registry: stack.add(obj) -> obj; every obj.stop() runs at teardown
                   (LIFO, also on failure), and their log tails are printed when a test fails
  new_proxy(name="staticedge")     -> harness.proxy.ProxyBuilder; .run() -> started Proxy
  make_app(colour, ip=None, port=None) -> started harness.upstreams.EbApp (gunicorn)
  make_tiny(ips, port)             -> started harness.upstreams.TinyServers
  make_body_sink()                 -> started harness.upstreams.BodySink
  make_bind(**kw)                  -> started harness.dnsserver.Bind
  make_haproxy(frontend, backends) -> started harness.haproxy.HAProxy
  shared_app       session-scoped ebapp "blue" (never stop it; tell requests apart by path or Host)
  shared_dns       session-scoped BIND: EB_HOST -> CNAME -> A shared_app's address
"""
from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import net, procs  # noqa: E402
from harness.certs import CA  # noqa: E402
from harness.dnsserver import Bind  # noqa: E402
from harness.haproxy import HAProxy  # noqa: E402
from harness.paths import ARTIFACTS, EB_HOST, REPO  # noqa: E402
from harness.proxy import ProxyBuilder  # noqa: E402
from harness.upstreams import BodySink, EbApp, TinyServers  # noqa: E402

E2E_ARTIFACTS = ARTIFACTS / "e2e"


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def pytest_sessionfinish(session, exitstatus):
    left = procs.sweep()
    if left:
        print(f"\n[e2e] stopped leftover processes at session end: {left}")


@pytest.fixture(scope="session")
def staticedge_bin() -> Path:
    p = Path(os.environ.get("STATICEDGE_BIN", REPO / "target" / "debug" / "staticedge"))
    if not (p.is_file() and os.access(p, os.X_OK)):
        pytest.fail(f"staticedge binary not found at {p} (set STATICEDGE_BIN or build it: make build)",
                    pytrace=False)
    return p


@pytest.fixture(scope="session")
def session_dir() -> Path:
    """This session's own directory (session CA, shared app and DNS): a second pytest
    session started meanwhile makes its own instead of wiping this one. Directories of
    sessions whose process is gone (theirs and their <test>@<pid> workdirs) are removed."""
    for old in [*E2E_ARTIFACTS.glob("_session*"), *E2E_ARTIFACTS.glob("*@*")]:
        pid = re.split(r"[-@]", old.name)[-1]
        if not (pid.isdigit() and procs.alive(int(pid))):
            shutil.rmtree(old, ignore_errors=True)
    d = E2E_ARTIFACTS / f"_session-{os.getpid()}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return d


def _pid_of(path: Path) -> int | None:
    """The pytest process that owns a directory (its .session file), if it still runs."""
    try:
        pid = int((path / ".session").read_text())
    except (OSError, ValueError):
        return None
    return pid if procs.alive(pid) else None


@pytest.fixture
def workdir(request) -> Path:
    """A fresh directory per test, tests/artifacts/e2e/<test>/; while another pytest
    session that is still running owns that one, <test>@<pid>/ instead, so two sessions
    never write into each other's logs."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])[:120]
    d = E2E_ARTIFACTS / name
    if _pid_of(d) not in (None, os.getpid()):
        d = E2E_ARTIFACTS / f"{name}@{os.getpid()}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    (d / ".session").write_text(str(os.getpid()))
    return d


@pytest.fixture(scope="session")
def ca(session_dir) -> CA:
    return CA.create(session_dir / "ca")


class Stack:
    def __init__(self):
        self.items = []

    def add(self, obj):
        self.items.append(obj)
        return obj

    def tails(self) -> str:
        out = []
        for o in self.items:
            t = getattr(o, "tail", None)
            if t:
                try:
                    out.append(t())
                except Exception as e:  # noqa: BLE001
                    out.append(f"(no log for {o!r}: {e})")
        return "\n".join(x for x in out if x)

    def close(self) -> list[str]:
        errors = []
        for o in reversed(self.items):
            try:
                o.stop()
            except Exception as e:  # noqa: BLE001
                errors.append(f"stopping {o!r}: {e}")
        return errors


@pytest.fixture
def stack(request):
    s = Stack()
    yield s
    failed = any(getattr(getattr(request.node, f"rep_{w}", None), "failed", False) for w in ("setup", "call"))
    if failed:
        print("\n===== peer logs (tails) =====")
        print(s.tails())
    errors = s.close()
    assert not errors, errors


@pytest.fixture
def new_proxy(stack, staticedge_bin, workdir, ca):
    """A ProxyBuilder per call; the proxy it starts trusts and is issued from the session CA
    (unless told otherwise) and is stopped at teardown."""
    def new(name: str = "staticedge") -> ProxyBuilder:
        return ProxyBuilder(staticedge_bin, workdir, name=name, trust=ca.cert_path,
                            issue=lambda stem, names: ca.issue(workdir, stem, names), register=stack.add)
    return new


@pytest.fixture
def make_app(stack, workdir):
    def make(colour: str, ip: str | None = None, port: int | None = None, **kw) -> EbApp:
        ip = ip or net.loopback_addr()
        port = port or net.free_port(ip)
        app = stack.add(EbApp(workdir, ip, port, colour, **kw))
        return app.start()
    return make


@pytest.fixture
def make_tiny(stack, workdir):
    def make(ips, port: int, name: str = "tiny") -> TinyServers:
        return stack.add(TinyServers(workdir, ips, port, name=name)).start()
    return make


@pytest.fixture
def make_body_sink(stack, workdir):
    def make() -> BodySink:
        return stack.add(BodySink(workdir)).start()
    return make


@pytest.fixture
def make_bind(stack, workdir):
    def make(**kw) -> Bind:
        return stack.add(Bind(workdir, **kw)).start()
    return make


@pytest.fixture
def make_haproxy(stack, workdir):
    def make(frontend, backends, **kw) -> HAProxy:
        return stack.add(HAProxy(workdir, frontend, backends, **kw)).start()
    return make


@pytest.fixture(scope="session")
def shared_app(session_dir):
    ip = net.loopback_addr()
    app = EbApp(session_dir, ip, net.free_port(ip), "blue").start()
    yield app
    app.stop()


@pytest.fixture(scope="session")
def shared_dns(session_dir, shared_app):
    d = Bind(session_dir).start()
    d.set_a("awseb-e-core-1.us-east-1.elb.amazonaws.com", [shared_app.ip], ttl=5)
    d.set_cname(EB_HOST, "awseb-e-core-1.us-east-1.elb.amazonaws.com", ttl=5)
    yield d
    d.stop()
