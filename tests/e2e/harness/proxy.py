"""The staticedge binary under test.

    cfg = edge_config(listen=[("127.0.2.7", 24443)], admin=("127.0.0.1", 29901),
                      certs=[leaf], routes=[...], upstreams={...})
    p = Proxy(bin, workdir, cfg).start()          # waits for /readyz 200 (or wait="healthz"/None)
    p.readyz() -> (status, json); p.status() -> dict; p.reload(new_cfg) (write + SIGHUP)
    p.signal(signal.SIGTERM); p.wait_exit(10) -> exit code; p.stderr(); p.stop()
"""
from __future__ import annotations

import copy
import os
import signal
import subprocess
import time
import tomllib
from pathlib import Path

from . import httpc, tomlw
from .procs import Managed


def edge_config(*, listen, admin, certs=(), routes=(), upstreams=None, server=None, tls=None,
                plain=None) -> dict:
    """A config per PRODUCT.md section 4, with test defaults (1 thread, no grace, no log).

    listen: [(ip, port), ...] TLS listeners; plain: [(ip, port), ...] redirect listeners;
    certs: Leaf objects (or (cert, key) paths); routes: list of route dicts;
    upstreams: {name: dict}."""
    cfg: dict = {
        "server": {"threads": 1, "grace_period": "0s", "drain_timeout": "2s", "access_log": "off"},
        "admin": {"listen": f"{admin[0]}:{admin[1]}"},
    }
    cfg["server"].update(server or {})
    t = dict(tls or {})
    cert_list = []
    for c in certs:
        cp, kp = (c.cert_path, c.key_path) if hasattr(c, "cert_path") else c
        cert_list.append({"cert": str(cp), "key": str(kp)})
    if cert_list:
        t["certificate"] = cert_list
    if t:
        cfg["tls"] = t
    listeners = [{"listen": f"{ip}:{port}"} for ip, port in listen]
    listeners += [{"listen": f"{ip}:{port}", "tls": False, "redirect_https": True} for ip, port in (plain or [])]
    cfg["listener"] = listeners
    if routes:
        cfg["route"] = [dict(r) for r in routes]
    if upstreams:
        cfg["upstream"] = copy.deepcopy(upstreams)
    return cfg


def _addr(s: str) -> tuple[str, int]:
    ip, port = s.rsplit(":", 1)
    return ip, int(port)


class Proxy:
    def __init__(self, binary: str | Path, workdir: Path, config: dict | str, name: str = "staticedge",
                 config_path: Path | None = None):
        self.binary = str(binary)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.config_path = Path(config_path) if config_path else self.workdir / f"{name}.toml"
        self.config = config
        self.parsed: dict = {}
        self.proc: Managed | None = None
        self.runs = 0
        self.write_config(config)

    # -- config -------------------------------------------------------------------------
    def write_config(self, config: dict | str | None = None) -> None:
        """Write the config file (a dict is rendered to TOML; a str is written as is, e.g. a
        deliberately broken file). admin/listener() keep using the last parsable config."""
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

    def listener(self, i: int = 0) -> tuple[str, int]:
        return _addr(self.parsed["listener"][i]["listen"])

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

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Poll /readyz until 200; returns seconds waited. Fails at once if the process exits."""
        t0 = time.monotonic()
        last = None
        while time.monotonic() - t0 < timeout:
            self._check_alive("/readyz 200")
            try:
                last = self.readyz()
                if last[0] == 200:
                    return time.monotonic() - t0
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} not ready within {timeout}s, last /readyz: {last}\n{self.tail()}")

    def wait_healthz(self, timeout: float = 30.0) -> float:
        t0 = time.monotonic()
        last = None
        while time.monotonic() - t0 < timeout:
            self._check_alive("/healthz 200")
            try:
                last = self.healthz()
                if last == 200:
                    return time.monotonic() - t0
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} /healthz not 200 within {timeout}s, last: {last}\n{self.tail()}")

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


def run_cli(binary: str | Path, *args, timeout: float = 30.0, cwd=None) -> subprocess.CompletedProcess:
    """Run `staticedge ARGS` to completion (check, --version)."""
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)
