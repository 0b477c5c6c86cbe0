"""The staticedge binary under test: one builder for its configuration, one handle on the
running process with its addresses and clients.

    p = (new_proxy()                                  # the conftest fixture: a ProxyBuilder
         .upstream("app", app.addr, retries=0)
         .route("app", hosts=[CUSTOM_HOST], host_header="preserve")
         .run())                                      # starts it, waits for /readyz 200
    p.at, p.listeners["main"], p.admin                # (ip, port) of each listener, the admin port
    p.get("/whoami")                                  # HTTPS through the first listener, trusting the test CA
    p.scrape(), p.readyz(), p.status(), p.reload(cfg), p.signal(SIGTERM), p.wait_exit(10)

Without `.listen()`, the proxy gets one TLS listener named "main" on a fresh loopback
address; without `.certificate()`, a certificate for api.example.test from the test CA.
Defaults that keep tests quick: one thread, no grace period, a 2 s drain, no access log.
`.build()` gives the handle without starting it (a start that must fail); `.config()`
the configuration dict alone (for `staticedge check`).
"""
from __future__ import annotations

import copy
import os
import re
import signal
import subprocess
import time
import tomllib
from pathlib import Path
from typing import Callable

from . import httpc, net, tomlw
from .paths import CUSTOM_HOST
from .procs import Managed
from .promscrape import Scrape
from .rawtls import RawTls, parse_response

TEST_SERVER_DEFAULTS = {"threads": 1, "grace_period": "0s", "drain_timeout": "2s", "access_log": "off"}
# `make test` runs the suites once per request path (docs/architecture.md): the
# engine every proxy of a run uses, unless a test sets its own.
if os.environ.get("STATICEDGE_REQUEST_PATH"):
    TEST_SERVER_DEFAULTS["request_path"] = os.environ["STATICEDGE_REQUEST_PATH"]


def _addr(s: str) -> tuple[str, int]:
    ip, port = s.rsplit(":", 1)
    return ip, int(port)


class ProxyBuilder:
    """Collects one proxy's configuration; `.run()` starts it and returns its `Proxy`.

    Every setter returns the builder, so a test reads as the configuration it needs.
    Addresses are taken when a listener is added, so they are known before the start."""

    def __init__(self, binary: str | Path, workdir: Path, *, name: str = "staticedge",
                 trust: Path | None = None, issue: Callable[[str, list[str]], object] | None = None,
                 register: Callable[["Proxy"], "Proxy"] | None = None):
        self.binary, self.workdir, self.name = binary, Path(workdir), name
        self._trust = trust
        self._issue = issue
        self._register = register or (lambda p: p)
        self._listeners: list[tuple[str, dict]] = []
        self._admin: tuple[str, int] | None = None
        self._certs: list = []
        self._cert_keys: dict[int, dict] = {}   # index in _certs -> extra keys of its block
        self._routes: list[dict] = []
        self._upstreams: dict[str, dict] = {}
        self._server: dict = dict(TEST_SERVER_DEFAULTS)
        self._limits: dict = {}
        self._tls: dict = {}

    # -- configuration ------------------------------------------------------------------
    def listen(self, label: str = "main", *, ip: str | None = None, port: int | None = None, tls: bool = True,
               proxy_protocol: str | None = None, redirect_https: bool = False) -> "ProxyBuilder":
        """A listener, reachable as `proxy.listeners[label]`; a fresh loopback address by default."""
        if any(label == known for known, _ in self._listeners):
            raise ValueError(f"two listeners labelled {label!r}")
        ip = ip or net.loopback_addr()
        port = port or net.free_port(ip)
        entry: dict = {"listen": f"{ip}:{port}"}
        if not tls:
            entry["tls"] = False
        if redirect_https:
            entry["redirect_https"] = True
        if proxy_protocol is not None:
            entry["proxy_protocol"] = proxy_protocol
        self._listeners.append((label, entry))
        return self

    def certificate(self, *leaves, **keys) -> "ProxyBuilder":
        """Certificates served (harness.certs.Leaf, or (cert, key) paths). Extra keys go into
        each of these `[[tls.certificate]]` blocks as written, paths as strings, e.g.
        `client_ca=ca.cert_path, client_auth="required", client_crls=[crl_path]`."""
        for leaf in leaves:
            self._cert_keys[len(self._certs)] = {
                k: [str(x) for x in v] if isinstance(v, (list, tuple)) else str(v) if isinstance(v, Path) else v
                for k, v in keys.items()}
            self._certs.append(leaf)
        return self

    def trust(self, ca_path: Path) -> "ProxyBuilder":
        """The root the handle's clients verify against (default: the session's test CA)."""
        self._trust = Path(ca_path)
        return self

    def route(self, upstream: str, *, hosts=(CUSTOM_HOST,), host_header: str = "preserve",
              **extra) -> "ProxyBuilder":
        self._routes.append({"hosts": list(hosts), "upstream": upstream, "host_header": host_header, **extra})
        return self

    def upstream(self, name: str, address: str, **settings) -> "ProxyBuilder":
        """`[upstream.NAME]` with `address` ("ip:port" or "name:port") and any other keys."""
        self._upstreams[name] = {"address": address, **copy.deepcopy(settings)}
        return self

    def server(self, **settings) -> "ProxyBuilder":
        self._server.update(settings)
        return self

    def limits(self, **settings) -> "ProxyBuilder":
        self._limits.update(settings)
        return self

    def tls(self, **settings) -> "ProxyBuilder":
        self._tls.update(settings)
        return self

    # -- results ------------------------------------------------------------------------
    def _fill_defaults(self) -> None:
        if not self._listeners:
            self.listen()
        if self._admin is None:
            self._admin = ("127.0.0.1", net.free_port())
        wants_tls = any(entry.get("tls", True) for _, entry in self._listeners)
        if wants_tls and not self._certs and self._issue is not None:
            self._certs.append(self._issue(self.name, [CUSTOM_HOST]))

    def config(self) -> dict:
        """The configuration as a dict (written as TOML by the handle)."""
        self._fill_defaults()
        cfg: dict = {"server": dict(self._server), "admin": {"listen": "%s:%d" % self._admin}}
        tls = dict(self._tls)
        certs = []
        for i, c in enumerate(self._certs):
            cert, key = (c.cert_path, c.key_path) if hasattr(c, "cert_path") else c
            certs.append({"cert": str(cert), "key": str(key), **copy.deepcopy(self._cert_keys.get(i, {}))})
        if certs:
            tls["certificate"] = certs
        if tls:
            cfg["tls"] = tls
        if self._limits:
            cfg["limits"] = dict(self._limits)
        cfg["listener"] = [dict(entry) for _, entry in self._listeners]
        if self._routes:
            cfg["route"] = copy.deepcopy(self._routes)
        if self._upstreams:
            cfg["upstream"] = copy.deepcopy(self._upstreams)
        return cfg

    def build(self) -> "Proxy":
        """The handle, configuration written, process not started."""
        cfg = self.config()
        listeners = {label: _addr(entry["listen"]) for label, entry in self._listeners}
        return self._register(Proxy(self.binary, self.workdir, cfg, name=self.name, listeners=listeners,
                                    ca_path=self._trust, certificates=list(self._certs)))

    def run(self, wait: str | None = "ready", timeout: float = 30.0, extra_args=()) -> "Proxy":
        """Build and start; wait for /readyz 200 ("ready"), /healthz 200 ("healthz") or nothing (None)."""
        return self.build().start(wait=wait, timeout=timeout, extra_args=extra_args)


class Proxy:
    """A staticedge process: its configuration file, its addresses, and clients for them.

    The process can be started again after it exited (a rolling replacement)."""

    def __init__(self, binary: str | Path, workdir: Path, config: dict | str, *, name: str,
                 listeners: dict[str, tuple[str, int]], ca_path: Path | None, certificates: list):
        self.binary = str(binary)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.config_path = self.workdir / f"{name}.toml"
        self.config = config
        self.parsed: dict = {}
        self.proc: Managed | None = None
        self.runs = 0
        self.listeners = listeners              # label -> (ip, port), in configuration order
        self.ca_path = Path(ca_path) if ca_path else None
        self.certificates = certificates
        self.write_config(config)

    # -- config -------------------------------------------------------------------------
    def write_config(self, config: dict | str | None = None) -> None:
        """Write the config file (a dict is rendered to TOML; a str is written as is, e.g. a
        deliberately broken file). `admin` keeps using the last parsable config."""
        if config is not None:
            self.config = config
        text = self.config if isinstance(self.config, str) else tomlw.dumps(self.config)
        if isinstance(self.config, dict):
            self.parsed = self.config
        else:
            try:
                self.parsed = tomllib.loads(self.config)
            except tomllib.TOMLDecodeError:
                pass
        tmp = self.config_path.with_name(self.config_path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.config_path)

    @property
    def admin(self) -> tuple[str, int]:
        return _addr(self.parsed["admin"]["listen"])

    @property
    def at(self) -> tuple[str, int]:
        """(ip, port) of the first listener."""
        return next(iter(self.listeners.values()))

    @property
    def ip(self) -> str:
        return self.at[0]

    @property
    def port(self) -> int:
        return self.at[1]

    # -- process ------------------------------------------------------------------------
    def start(self, wait: str | None = "ready", timeout: float = 30.0, extra_args=()) -> "Proxy":
        self.runs += 1
        self.proc = Managed(f"{self.name}-{self.runs}",
                            [self.binary, "run", "--config", str(self.config_path), *extra_args],
                            self.workdir, env={"RUST_BACKTRACE": "1"})
        if wait == "ready":
            self.wait_ready(timeout)
        elif wait == "healthz":
            self.wait_healthz(timeout)
        return self

    def _check_alive(self, what: str) -> None:
        if self.proc is None or not self.proc.running():
            rc = self.proc.returncode if self.proc else None
            raise RuntimeError(f"{self.name} exited (code {rc}) while waiting for {what}\n{self.tail()}")

    def _wait_admin(self, what: str, probe: Callable[[], object], ok: Callable[[object], bool],
                    timeout: float) -> float:
        """Poll an admin endpoint until `ok`; seconds waited. Fails at once if the process exits."""
        t0 = time.monotonic()
        last = None
        while time.monotonic() - t0 < timeout:
            self._check_alive(what)
            try:
                last = probe()
                if ok(last):
                    return time.monotonic() - t0
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise TimeoutError(f"{self.name}: no {what} within {timeout}s, last: {last}\n{self.tail()}")

    def wait_ready(self, timeout: float = 30.0) -> float:
        return self._wait_admin("/readyz 200", self.readyz, lambda r: r[0] == 200, timeout)

    def wait_healthz(self, timeout: float = 30.0) -> float:
        return self._wait_admin("/healthz 200", self.healthz, lambda c: c == 200, timeout)

    def signal(self, sig: int) -> None:
        self.proc.signal(sig)

    def reload(self, config: dict | str | None = None) -> None:
        """Write the config (if given) and send SIGHUP."""
        if config is not None:
            self.write_config(config)
        self.signal(signal.SIGHUP)

    def wait_exit(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def running(self) -> bool:
        return self.proc is not None and self.proc.running()

    def stop(self) -> int | None:
        return self.proc.stop() if self.proc else None

    def stderr(self) -> str:
        return self.proc.stderr() if self.proc else ""

    def stdout(self) -> str:
        return self.proc.stdout() if self.proc else ""

    def tail(self, n: int = 40) -> str:
        return self.proc.tail(n) if self.proc else ""

    # -- admin endpoints ----------------------------------------------------------------
    def admin_get(self, path: str, timeout: float = 3.0):
        return httpc.get_json(*self.admin, path, timeout=timeout)

    def healthz(self) -> int:
        return self.admin_get("/healthz")[0]

    def readyz(self):
        return self.admin_get("/readyz")

    def status(self) -> dict:
        code, body = self.admin_get("/status")
        if code != 200 or not isinstance(body, dict):
            raise AssertionError(f"/status answered {code}: {body!r}")
        return body

    def upstream_status(self, name: str) -> dict:
        for u in self.status().get("upstreams", []):
            if u.get("name") == name:
                return u
        raise KeyError(name)

    def scrape(self) -> Scrape:
        """GET /metrics, parsed."""
        return Scrape.get(self.admin)

    # -- clients of the listeners -------------------------------------------------------
    def _listener(self, listener: str | None) -> tuple[str, int]:
        return self.at if listener is None else self.listeners[listener]

    def get(self, path: str = "/whoami", host: str = CUSTOM_HOST, *, listener: str | None = None,
            **kw) -> httpc.Resp:
        """One HTTPS request on a fresh connection (SNI = host), verified against the test CA."""
        return httpc.request(self._listener(listener), path, host=host, ca=self.ca_path, **kw)

    def resolve(self, name: str = CUSTOM_HOST, listener: str | None = None) -> str:
        """A curl --resolve value pinning `name` to the listener."""
        ip, port = self._listener(listener)
        return f"{name}:{port}:{ip}"

    def url(self, name: str = CUSTOM_HOST, path: str = "/whoami", listener: str | None = None) -> str:
        return f"https://{name}:{self._listener(listener)[1]}{path}"

    def raw(self, listener: str | None = None, *, pp: bytes = b"", sni: str | None = CUSTOM_HOST,
            **kw) -> RawTls:
        """A raw TLS connection (bytes in, bytes out), optionally after a PROXY header `pp`."""
        return RawTls(self._listener(listener), pp=pp, sni=sni, ca=self.ca_path, **kw)

    def exchange(self, payload: bytes, listener: str | None = None, *, pp: bytes = b"",
                 sni: str | None = CUSTOM_HOST, timeout: float = 5.0, **kw):
        """`payload` on a fresh raw TLS connection: (parsed response or None, raw bytes, server closed)."""
        c = self.raw(listener, pp=pp, sni=sni, **kw)
        try:
            c.send(payload)
            raw = c.read_all(timeout=timeout)
        finally:
            c.close()
        return (parse_response(raw) if raw else None), raw, c.eof


def dns_followed(nameserver: str, **dns_opts) -> dict:
    """Settings of an upstream whose name is looked up through the test's BIND: TTLs clamped
    to [1 s, 60 s], a 1 s connect timeout and one retry.
    Use as `.upstream("eb-prod", f"{EB_HOST}:{port}", **dns_followed(dns.nameserver))`."""
    return {"connect_timeout": "1s", "retries": 1,
            "dns": {"nameservers": [nameserver], "min_ttl": "1s", "max_ttl": "60s", **dns_opts}}


def run_cli(binary: str | Path, *args, timeout: float = 30.0, cwd=None) -> subprocess.CompletedProcess:
    """Run `staticedge ARGS` to completion (check, --version)."""
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)


def line_of(text: str, needle: str) -> int:
    """The 1-based number of the first line of `text` that contains `needle`."""
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in the configuration")


def located(stderr: str, path) -> list[tuple[int, int, str]]:
    """The `path:line:col: message` lines of check's output, as (line, col, message)."""
    return [(int(l), int(c), m) for l, c, m in
            re.findall(rf"^{re.escape(str(path))}:(\d+):(\d+): (\S.*)$", stderr, re.M)]


def check_refuses(binary: str | Path, path: Path, text: str) -> tuple[subprocess.CompletedProcess, list]:
    """Writes `text` to `path`, runs `staticedge check` on it, asserts that it fails,
    and returns the run and its located problems."""
    path.write_text(text)
    p = run_cli(binary, "check", "--config", path)
    print(f"check {path.name}: rc={p.returncode}\nstderr:\n{p.stderr}")
    assert p.returncode == 1, f"rc={p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p, located(p.stderr, path)
