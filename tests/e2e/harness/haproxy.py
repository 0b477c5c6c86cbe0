"""HAProxy in `mode tcp` standing in for the NLB, health-checking each proxy's /readyz.

    lb = HAProxy(workdir, ("127.0.2.30", 24443),
                 [Backend("p1", ("127.0.2.31", 24444), ("127.0.0.1", 29901)), ...]).start()
    lb.status("p1") -> "UP" | "DOWN" | "UP 1/2" | "DOWN 1/2" | "MAINT" ...
    lb.wait_status("p1", "DOWN", timeout=10);  lb.sessions("p1") -> total sessions sent to p1
"""
from __future__ import annotations

import csv
import io
import shutil
import socket
import tempfile
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import net
from .procs import Managed

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


@dataclass
class Backend:
    name: str
    addr: tuple            # (ip, port) of the proxy's TLS listener
    check: tuple           # (ip, port) of its admin endpoint
    extra: str = ""        # extra server options, e.g. "send-proxy-v2"


class HAProxy:
    def __init__(self, workdir: Path, frontend: tuple, backends: list[Backend], *, inter: str = "1s",
                 fall: int = 2, rise: int = 2, shutdown_sessions: bool = False):
        self.dir = Path(workdir) / "haproxy"
        self.frontend, self.backends = frontend, backends
        self.inter, self.fall, self.rise = inter, fall, rise
        self.shutdown_sessions = shutdown_sessions
        # A UNIX socket path may be at most ~100 bytes and the checkout can be anywhere,
        # so the stats socket lives in a short private directory under /tmp.
        self._sock_dir = Path(tempfile.mkdtemp(prefix="se-hap-", dir="/tmp"))
        self.sock_path = self._sock_dir / "stats.sock"
        self.cfg_path = self.dir / "haproxy.cfg"
        self.proc: Managed | None = None

    def _config(self) -> str:
        servers = "\n".join(
            f"    server {b.name} {b.addr[0]}:{b.addr[1]} check addr {b.check[0]} port {b.check[1]} {b.extra}"
            for b in self.backends)
        on_down = "on-marked-down shutdown-sessions" if self.shutdown_sessions else ""
        return f"""global
    stats socket {self.sock_path} mode 600 level admin
    maxconn 4000
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check 1s
    retries 3
frontend fe_tls
    bind {self.frontend[0]}:{self.frontend[1]}
    default_backend be
backend be
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host healthcheck
    http-check expect status 200
    default-server inter {self.inter} fall {self.fall} rise {self.rise} {on_down}
{servers}
"""

    def start(self, timeout: float = 15.0) -> "HAProxy":
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cfg_path.write_text(self._config())
        chk = subprocess.run([HAPROXY, "-c", "-f", str(self.cfg_path)], capture_output=True, text=True)
        if chk.returncode != 0:
            raise RuntimeError(f"haproxy -c failed:\n{chk.stdout}{chk.stderr}")
        self.proc = Managed("haproxy", [HAPROXY, "-db", "-f", str(self.cfg_path)], self.dir)
        net.wait_tcp(*self.frontend, timeout=timeout, proc=self.proc)
        net.wait_until(lambda: self.sock_path.exists(), timeout, what="haproxy stats socket")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
        shutil.rmtree(self._sock_dir, ignore_errors=True)

    def tail(self) -> str:
        return self.proc.tail() if self.proc else ""

    def cmd(self, line: str) -> str:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(3)
        try:
            s.connect(str(self.sock_path))
            s.sendall(line.encode() + b"\n")
            chunks = []
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks).decode(errors="replace")
        finally:
            s.close()

    def stats(self) -> dict:
        text = self.cmd("show stat")
        text = text.lstrip("# ")
        rows = list(csv.DictReader(io.StringIO(text)))
        return {r["svname"]: r for r in rows if r.get("pxname") == "be"}

    def status(self, server: str) -> str:
        return self.stats()[server]["status"]

    def sessions(self, server: str) -> int:
        return int(self.stats()[server]["stot"] or 0)

    def wait_status(self, server: str, want: str, timeout: float) -> float:
        """Wait until server's status is exactly `want`; returns the seconds it took."""
        t0 = time.monotonic()
        net.wait_until(lambda: self.status(server) == want, timeout, interval=0.05,
                       what=f"haproxy {server} {want}")
        return time.monotonic() - t0

    def set_state(self, server: str, state: str) -> str:
        """'ready' | 'drain' | 'maint' (the NLB's register/deregister)."""
        return self.cmd(f"set server be/{server} state {state}")
