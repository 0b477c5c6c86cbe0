"""Upstream apps: the Django 'ebapp' under gunicorn (gthread), tiny per-address servers, and
a body sink that records how many body bytes reached it."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from . import httpc, net
from .paths import E2E_DIR, EB_HOST
from .procs import Managed

ACCESS_FORMAT = "\t".join([
    "%(h)s", "%(m)s", "%(U)s", "%(q)s", "%(s)s", "%({host}i)s", "%({x-request-id}i)s",
    "%({x-forwarded-for}i)s",
])
ACCESS_FIELDS = ["remote", "method", "path", "query", "status", "host", "request_id", "xff"]


class EbApp:
    """The Django app of tests/e2e/ebapp under gunicorn on ip:port, answering as `colour`."""

    def __init__(self, workdir: Path, ip: str, port: int, colour: str, *, workers: int = 2,
                 threads: int = 8):
        self.workdir, self.ip, self.port, self.colour = Path(workdir), ip, port, colour
        self.workers, self.threads = workers, threads
        self.access_log = self.workdir / f"gunicorn-{colour}.access.log"
        self.proc: Managed | None = None

    @property
    def addr(self) -> str:
        return f"{self.ip}:{self.port}"

    def start(self, timeout: float = 40.0) -> "EbApp":
        self.proc = Managed(f"gunicorn-{self.colour}", [
            sys.executable, "-m", "gunicorn", "ebapp.wsgi:application",
            "--chdir", str(E2E_DIR), "--bind", self.addr,
            "--workers", str(self.workers), "--worker-class", "gthread", "--threads", str(self.threads),
            "--keep-alive", "5", "--graceful-timeout", "3", "--timeout", "60",
            "--access-logfile", str(self.access_log), "--access-logformat", ACCESS_FORMAT,
            "--error-logfile", "-", "--no-control-socket",
        ], self.workdir, env={"COLOUR": self.colour, "PYTHONDONTWRITEBYTECODE": "1"})
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.proc.running():
                raise RuntimeError(f"gunicorn {self.colour} exited {self.proc.returncode}\n{self.proc.tail()}")
            try:
                r = httpc.request((self.ip, self.port), "/health", host=EB_HOST, tls=False, timeout=2)
                if r.status == 200:
                    self.proc.remember_descendants()
                    return self
                last = r.status
            except OSError as e:
                last = e
            time.sleep(0.1)
        raise TimeoutError(f"gunicorn {self.colour} not answering on {self.addr}: {last}\n{self.proc.tail()}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def running(self) -> bool:
        return self.proc is not None and self.proc.running()

    def access(self) -> list[dict]:
        """Every request gunicorn logged so far, as dicts (see ACCESS_FIELDS)."""
        if not self.access_log.exists():
            return []
        out = []
        for line in self.access_log.read_text(errors="replace").splitlines():
            parts = line.split("\t")
            if len(parts) == len(ACCESS_FIELDS):
                out.append(dict(zip(ACCESS_FIELDS, parts)))
        return out

    def tail(self) -> str:
        return self.proc.tail() if self.proc else ""


class TinyServers:
    """harness/tiny_http.py serving every address in `ips` on one port."""

    def __init__(self, workdir: Path, ips: list[str], port: int, name: str = "tiny"):
        self.workdir, self.ips, self.port, self.name = Path(workdir), list(ips), port, name
        self.proc: Managed | None = None

    def start(self, timeout: float = 20.0) -> "TinyServers":
        self.proc = Managed(self.name, [sys.executable, str(Path(__file__).with_name("tiny_http.py")),
                                        str(self.port), *self.ips], self.workdir)
        deadline = time.monotonic() + timeout
        while "READY" not in self.proc.stdout():
            if not self.proc.running():
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}\n{self.proc.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not ready\n{self.proc.tail()}")
            time.sleep(0.05)
        for ip in self.ips:
            net.wait_tcp(ip, self.port, timeout=5)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def tail(self) -> str:
        return self.proc.tail() if self.proc else ""


class _RecordingSink:
    """A harness script (started as `script PORT IP LOG`) on a fresh loopback address that
    logs one JSON object per line of what it received: the witness of tests that must show
    what reached the upstream, or that nothing did."""

    script = ""
    log_name = ""
    what = "sink"

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.ip = net.loopback_addr()
        self.port = net.free_port(self.ip)
        self.log = self.workdir / self.log_name
        self.proc: Managed | None = None

    @property
    def addr(self) -> str:
        return f"{self.ip}:{self.port}"

    def start(self):
        script = Path(__file__).with_name(self.script)
        self.proc = Managed(self.what.replace(" ", "-"),
                            [sys.executable, str(script), str(self.port), self.ip, str(self.log)],
                            self.workdir)
        net.wait_until(lambda: "READY" in self.proc.stdout() or not self.proc.running(), 10,
                       what=self.what)
        net.wait_tcp(self.ip, self.port, timeout=5, proc=self.proc)
        return self

    def access(self) -> list[dict]:
        """Every record the sink logged so far (see its script)."""
        if not self.log.exists():
            return []
        return [json.loads(l) for l in self.log.read_text().splitlines() if l.strip()]

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()

    def tail(self) -> str:
        return self.proc.tail() if self.proc else ""


class BodySink(_RecordingSink):
    """harness/body_sink.py: an upstream that reads each body to the end before answering
    and logs how many body bytes it received and their SHA-256 (the witness of the
    body-limit and request-buffering tests)."""

    script, log_name, what = "body_sink.py", "body-sink.jsonl", "body sink"


class HeaderSink(_RecordingSink):
    """harness/header_sink.py: an upstream with no header limits of its own that logs the
    size of every request header it received (the witness of the header-limit tests)."""

    script, log_name, what = "header_sink.py", "header-sink.jsonl", "header sink"
