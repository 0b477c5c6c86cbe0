"""A bounded load generator: threads sending requests, each bounded in count and time.

    with Load(("127.0.2.9", 443), host="api.example.test", ca=ca_path, rate=80) as load:
        ... change things ...
    s = load.summary()          # total, failed, rate, by served_by, errors
    load.failures()             # the failed records

Half the workers reuse one keep-alive connection, the other half open a fresh TLS
connection per request. `served_by` is the response's X-Served-By header (the ebapp's
colour, or the tiny server's address).

A request that fails on a *reused* connection before any response byte arrived (the
server closed the idle connection as we sent) is retried once on a fresh connection, as
HTTP clients do for idempotent requests (RFC 9112 section 9.3.1); it is counted in
`retried`, not in `failed`. Every other error or unexpected status is a failure.
Keep-alive connections that the server closed while idle (or ended with Connection:
close) are counted in `server_closes` (timestamps) and the summary.
"""
from __future__ import annotations

import collections
import http.client
import ssl
import threading
import time
from dataclasses import dataclass

from . import httpc

_NO_RESPONSE_ERRORS = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                       ssl.SSLEOFError, ssl.SSLZeroReturnError, http.client.CannotSendRequest)


@dataclass
class Rec:
    t0: float
    t1: float
    worker: int
    reused: bool
    status: int | None = None
    error: str | None = None
    served_by: str | None = None
    retried: bool = False
    ok: bool = False


class Load:
    def __init__(self, connect_to, *, host: str, path: str = "/whoami", sni: str | None = None,
                 ca=None, tls: bool = True, rate: float = 80.0, workers: int = 8,
                 max_requests: int = 6000, max_seconds: float = 90.0, reuse_share: float = 0.5,
                 timeout: float = 10.0, expect_status=(200,), source_ip: str | None = None,
                 retry_reused_close: bool = True):
        self.connect_to = connect_to
        self.host, self.path = host, path
        self.sni = sni if sni is not None else (host if tls else None)
        self.tls = tls
        self.context = httpc.tls_context(ca) if (tls and ca) else httpc.tls_context(verify=False)
        self.rate, self.workers = rate, workers
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.n_reuse = int(round(workers * reuse_share))
        self.timeout = timeout
        self.expect_status = set(expect_status)
        self.source_ip = source_ip
        self.retry_reused_close = retry_reused_close
        self.records: list[Rec] = []
        self.server_closes: list[float] = []   # when a reused connection was found closed by the server
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._count = 0
        self.started = self.ended = None

    # -- control ----------------------------------------------------------------------
    def start(self) -> "Load":
        self.started = time.monotonic()
        for i in range(self.workers):
            t = threading.Thread(target=self._run, args=(i, i < self.n_reuse), daemon=True,
                                 name=f"load-{i}")
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> "Load":
        self._stop.set()
        for t in self._threads:
            t.join(timeout=self.timeout + 5)
        self.ended = time.monotonic()
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def wait_done(self, timeout: float) -> None:
        for t in self._threads:
            t.join(timeout=timeout)
        self.ended = time.monotonic()

    # -- workers ----------------------------------------------------------------------
    def _take(self) -> bool:
        with self._lock:
            if self._count >= self.max_requests:
                return False
            self._count += 1
            return True

    def _new_conn(self):
        return httpc.Conn(self.connect_to, sni=self.sni, context=self.context, tls=self.tls,
                          timeout=self.timeout, source_ip=self.source_ip)

    def _run(self, worker: int, reuse: bool) -> None:
        interval = self.workers / self.rate
        deadline = self.started + self.max_seconds
        next_t = time.monotonic() + (worker * interval / self.workers)
        conn = None
        try:
            while not self._stop.is_set() and time.monotonic() < deadline and self._take():
                now = time.monotonic()
                if next_t > now:
                    if self._stop.wait(next_t - now):
                        break
                next_t = max(next_t + interval, time.monotonic() - interval)
                if conn is not None and (not reuse or conn.sock is None or conn.dropped()):
                    if reuse:  # the server closed (or said Connection: close on) a keep-alive connection
                        with self._lock:
                            self.server_closes.append(time.monotonic())
                    conn.close()
                    conn = None
                was_reused = conn is not None
                if conn is None:
                    conn = self._new_conn()
                rec = Rec(t0=time.monotonic(), t1=0.0, worker=worker, reused=was_reused)
                try:
                    self._one(conn, rec)
                except _NO_RESPONSE_ERRORS as e:
                    conn.close()
                    if was_reused and self.retry_reused_close:
                        rec.retried = True
                        conn = self._new_conn()
                        try:
                            self._one(conn, rec)
                        except Exception as e2:  # noqa: BLE001
                            rec.error = f"{type(e2).__name__}: {e2} (after retry of {type(e).__name__})"
                            conn.close()
                    else:
                        rec.error = f"{type(e).__name__}: {e}"
                except Exception as e:  # noqa: BLE001
                    rec.error = f"{type(e).__name__}: {e}"
                    conn.close()
                rec.t1 = time.monotonic()
                rec.ok = rec.error is None and rec.status in self.expect_status
                with self._lock:
                    self.records.append(rec)
                if not reuse and conn is not None:
                    conn.close()
                    conn = None
        finally:
            if conn is not None:
                conn.close()

    def _one(self, conn, rec: Rec) -> None:
        r = httpc.do(conn, "GET", self.path, self.host)
        rec.status = r.status
        rec.served_by = r.header("x-served-by")
        rec.error = None

    # -- results ----------------------------------------------------------------------
    def snapshot(self) -> list[Rec]:
        with self._lock:
            return list(self.records)

    def failures(self) -> list[Rec]:
        return [r for r in self.snapshot() if not r.ok]

    def served_by(self, since: float | None = None, until: float | None = None) -> collections.Counter:
        return collections.Counter(r.served_by for r in self.snapshot() if r.ok
                                   and (since is None or r.t0 >= since) and (until is None or r.t0 < until))

    def last_start(self, served_by: str) -> float | None:
        ts = [r.t0 for r in self.snapshot() if r.served_by == served_by]
        return max(ts) if ts else None

    def first_start(self, served_by: str, after: float = 0.0) -> float | None:
        ts = [r.t0 for r in self.snapshot() if r.served_by == served_by and r.t0 >= after]
        return min(ts) if ts else None

    def count_since(self, since: float) -> int:
        return sum(1 for r in self.snapshot() if r.t0 >= since)

    def summary(self) -> dict:
        recs = self.snapshot()
        end = self.ended or time.monotonic()
        dur = max(end - (self.started or end), 1e-6)
        fails = [r for r in recs if not r.ok]
        errs = collections.Counter((r.error or f"status {r.status}") for r in fails)
        lat = sorted(r.t1 - r.t0 for r in recs if r.ok)
        return {
            "total": len(recs),
            "ok": len(recs) - len(fails),
            "failed": len(fails),
            "retried_on_reused_close": sum(1 for r in recs if r.retried),
            "reused": sum(1 for r in recs if r.reused),
            "keepalive_closed_by_server": len(self.server_closes),
            "seconds": round(dur, 2),
            "rate": round(len(recs) / dur, 1),
            "served_by": dict(collections.Counter(r.served_by for r in recs if r.ok)),
            "errors": dict(errs.most_common(8)),
            "p50_ms": round(lat[len(lat) // 2] * 1000, 1) if lat else None,
            "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 1) if lat else None,
        }

    def fail_detail(self, limit: int = 10) -> str:
        base = self.started or 0.0
        return "\n".join(f"  t=+{r.t0 - base:.2f}s worker={r.worker} reused={r.reused} retried={r.retried} "
                         f"status={r.status} error={r.error}" for r in self.failures()[:limit])
