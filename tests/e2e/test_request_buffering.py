"""Request buffering: a body without a Content-Length (HTTP/1.1 chunked, HTTP/2 without
content-length) is read whole and checked before the upstream request begins, then sent
with a Content-Length. A body refused for its size (413), its framing (400), a stall (408)
or a full spill budget (503) never reaches the upstream, not even in part.

The witness is harness/body_sink.py: it logs every request it sees (its header, then how
many body bytes arrived and their SHA-256), so "the upstream saw nothing" is a fact read
from its log. Runs on whichever request path STATICEDGE_REQUEST_PATH selects.
"""
from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from harness import net, report
from harness.paths import CUSTOM_HOST
from harness.rawtls import parse_response

pytestmark = pytest.mark.security

MAX_BODY = 2 * 1024 * 1024
MiB = 1024 * 1024


def tok() -> str:
    return uuid.uuid4().hex[:16]


def seen(sink, token: str) -> list[dict]:
    """What the body sink logged for requests carrying `token` in their query."""
    return [l for l in sink.access() if token in l["query"]]


def pattern(n: int, seed: int = 0) -> bytes:
    """`n` bytes that differ from any other test's, so byte-exactness means something."""
    block = hashlib.sha256(f"{seed}".encode()).digest() * 2048  # 64 KiB
    return (block * (n // len(block) + 1))[:n]


def settle(proxy, sink) -> None:
    """A small request that must reach the sink: whatever was sent before it has been
    handled (or dropped) by then."""
    t = "sentinel" + tok()
    r = proxy.get(f"/whoami?t={t}", timeout=5)
    assert r.status == 200, (r.status, r.body[:200])
    net.wait_until(lambda: seen(sink, t), 5, what="sentinel request in the sink's log")


def ended(sink, token: str) -> dict:
    """The sink's "end" record of the request with `token` (waits for it)."""
    net.wait_until(lambda: [l for l in seen(sink, token) if l["event"] == "end"], 10,
                   what=f"the sink finished reading {token}")
    return [l for l in seen(sink, token) if l["event"] == "end"][0]


@pytest.fixture
def buffered(new_proxy, make_body_sink, workdir):
    """A started proxy in front of a body sink, with buffering settings suited to tests
    (a 1 s body timeout, 64 KiB in memory, spills into the test's own directory)."""
    def start(**limits):
        sink = make_body_sink()
        spool_dir = workdir / "buffer"
        spool_dir.mkdir(exist_ok=True)
        settings = dict(max_request_body_bytes=MAX_BODY, request_buffer_memory=64 * 1024,
                        request_buffer_dir=str(spool_dir), body_timeout="1s")
        settings.update(limits)
        proxy = (new_proxy().route("app").upstream("app", sink.addr, connect_timeout="1s", retries=0)
                 .limits(**settings).run())
        return proxy, sink, spool_dir
    return start


def curl_upload(proxy, workdir: Path, token: str, body: bytes, *, http2: bool = False) -> str:
    """Uploads `body` with curl without a Content-Length: HTTP/1.1 chunked, or HTTP/2
    from a pipe (`-T -`, size unknown). Returns curl's status code ("000" on failure)."""
    f = workdir / f"up-{token}.bin"
    f.write_bytes(body)
    base = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20",
            "--cacert", str(proxy.ca_path), "--resolve", proxy.resolve()]
    url = proxy.url(path=f"/upload?t={token}")
    if http2:
        argv = base + ["--http2", "-X", "POST", "-T", "-", url]
    else:
        argv = base + ["--http1.1", "-H", "Transfer-Encoding: chunked", "--data-binary", f"@{f}", url]
    with open(f, "rb") as stdin:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=stdin)
    return p.stdout.strip()[-3:] or "000"


def raw_chunked(proxy, token: str, wire: bytes, *, stall_after: bool = False):
    """Sends a chunked request whose body bytes are `wire` on a raw TLS connection; with
    `stall_after`, sends nothing more (no last chunk). Returns the parsed answer or None."""
    c = proxy.raw()
    try:
        c.send((f"POST /upload?t={token} HTTP/1.1\r\nHost: {CUSTOM_HOST}\r\n"
                f"Transfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n").encode())
        for i in range(0, len(wire), 256 * 1024):
            try:
                c.send(wire[i:i + 256 * 1024])
            except OSError:
                break
        raw = c.read_all(timeout=8)
    finally:
        c.close()
    return parse_response(raw) if raw.startswith(b"HTTP/") else None


def chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def test_chunked_bodies_are_buffered_whole_or_refused_with_nothing_forwarded(buffered, workdir):
    proxy, sink, _ = buffered()
    m0 = proxy.scrape()
    # just under the limit (the limit itself), by curl: forwarded whole with a Content-Length
    t_ok, body = tok(), pattern(MAX_BODY, 1)
    assert curl_upload(proxy, workdir, t_ok, body) == "200"
    got = ended(sink, t_ok)
    start = [l for l in seen(sink, t_ok) if l["event"] == "start"][0]
    assert (start["cl"], start["te"]) == (str(MAX_BODY), None), start
    assert (got["received"], got["sha256"]) == (MAX_BODY, hashlib.sha256(body).hexdigest()), got

    # a small chunked body on a raw connection, several chunks and a trailer
    t_small = tok()
    r = raw_chunked(proxy, t_small, chunk(b"hello ") + chunk(b"world") + b"0\r\nX-T: 1\r\n\r\n")
    assert r is not None and r.status == 200, r
    assert ended(sink, t_small)["sha256"] == hashlib.sha256(b"hello world").hexdigest()

    # one byte over the limit: 413, and the upstream saw nothing
    t_over = tok()
    assert curl_upload(proxy, workdir, t_over, pattern(MAX_BODY + 1, 2)) == "413"
    # a bad chunk size after 1 MiB of good chunks: 400
    t_bad = tok()
    good = b"".join(chunk(pattern(64 * 1024, i)) for i in range(17))
    r = raw_chunked(proxy, t_bad, good + b"zz\r\nhello\r\n0\r\n\r\n")
    bad_status = r.status if r else None
    # a client that stops mid-body: 408 after body_timeout (1 s)
    t_stall = tok()
    started = time.monotonic()
    r = raw_chunked(proxy, t_stall, chunk(pattern(300 * 1024, 3)), stall_after=True)
    stall_status, stall_s = (r.status if r else None), time.monotonic() - started

    settle(proxy, sink)
    m1 = proxy.scrape()
    reached = {name: seen(sink, t) for name, t in
               (("over", t_over), ("bad_chunk", t_bad), ("stall", t_stall)) if seen(sink, t)}
    report.record("buffering_h1", bad_status=bad_status, stall_status=stall_status,
                  stall_seconds=round(stall_s, 2), reached=sorted(reached))
    assert bad_status == 400, bad_status
    assert stall_status == 408 and 0.9 <= stall_s < 5, (stall_status, stall_s)
    assert not reached, f"refused bodies reached the upstream: {reached}"
    assert m1.delta(m0, "staticedge_rejected_requests_total", reason="body_too_large") >= 1
    assert m1.delta(m0, "staticedge_rejected_requests_total", reason="bad_chunk") >= 1
    assert m1.delta(m0, "staticedge_rejected_requests_total", reason="body_timeout") >= 1


def test_http2_bodies_without_length_are_buffered_or_refused(buffered, workdir):
    proxy, sink, _ = buffered()
    # just under the limit: forwarded whole with a Content-Length
    t_ok, body = tok(), pattern(MAX_BODY, 4)
    assert curl_upload(proxy, workdir, t_ok, body, http2=True) == "200"
    start = [l for l in seen(sink, t_ok) if l["event"] == "start"][0]
    got = ended(sink, t_ok)
    assert (start["cl"], start["te"]) == (str(MAX_BODY), None), start
    assert got["sha256"] == hashlib.sha256(body).hexdigest(), got
    # one byte over: 413
    t_over = tok()
    assert curl_upload(proxy, workdir, t_over, pattern(MAX_BODY + 1, 5), http2=True) == "413"
    # a stall mid-body: 408 after body_timeout
    t_stall = tok()
    argv = ["curl", "-v", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", "--http2",
            "--cacert", str(proxy.ca_path), "--resolve", proxy.resolve(), "-X", "POST", "-T", "-",
            proxy.url(path=f"/upload?t={t_stall}")]
    started = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(pattern(200 * 1024, 6))
    p.stdin.flush()
    # nothing more for 3 s (body_timeout is 1 s); curl 7.88 only ends the exchange once
    # its own upload has ended, so the pipe is closed then
    time.sleep(3)
    p.stdin.close()
    p.stdin = None
    try:
        out, err = p.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    stall_s = time.monotonic() - started
    stall_status = out.decode()[-3:]
    (workdir / "curl-h2-stall.stderr").write_bytes(err)
    settle(proxy, sink)
    reached = {name: seen(sink, t) for name, t in (("over", t_over), ("stall", t_stall)) if seen(sink, t)}
    report.record("buffering_h2", stall_status=stall_status, stall_seconds=round(stall_s, 2),
                  reached=sorted(reached))
    assert stall_status == "408" and stall_s < 6, (stall_status, stall_s)
    assert "HTTP/2 408" in (workdir / "curl-h2-stall.stderr").read_text(), "the answer was not a 408"
    assert not reached, f"refused bodies reached the upstream: {reached}"


def test_buffering_all_holds_sized_bodies_too_and_off_streams(buffered, workdir):
    proxy, sink, _ = buffered(request_buffering="all")
    # a Content-Length body over the lean path's 1 MiB: held whole, then forwarded exactly
    t_big, body = tok(), pattern(3 * MiB // 2, 10)
    f = workdir / "sized.bin"
    f.write_bytes(body)
    p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20",
                        "--cacert", str(proxy.ca_path), "--resolve", proxy.resolve(), "--http1.1",
                        "--data-binary", f"@{f}", proxy.url(path=f"/upload?t={t_big}")],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert p.stdout.strip() == "200", (p.stdout, p.stderr)
    assert ended(sink, t_big)["sha256"] == hashlib.sha256(body).hexdigest()
    # a Content-Length body whose client stalls: 408, nothing forwarded
    t_stall = tok()
    c = proxy.raw()
    try:
        c.send((f"POST /upload?t={t_stall} HTTP/1.1\r\nHost: {CUSTOM_HOST}\r\nContent-Length: 100000\r\n\r\n")
               .encode() + b"s" * 1000)
        raw = c.read_all(timeout=5)
    finally:
        c.close()
    r = parse_response(raw) if raw.startswith(b"HTTP/") else None
    settle(proxy, sink)
    assert r is not None and r.status == 408, raw[:200]
    assert not seen(sink, t_stall), seen(sink, t_stall)

    # "off": a chunked body streams as it arrives (the upstream sees chunked framing)
    cfg = dict(proxy.config)
    cfg["limits"] = {**cfg["limits"], "request_buffering": "off"}
    proxy.reload(cfg)
    t_off = tok()
    net.wait_until(lambda: curl_upload(proxy, workdir, t_off, b"streamed") == "200" and
                   [l for l in seen(sink, t_off) if l["event"] == "start" and l["te"] == "chunked"], 10,
                   what="after the reload, chunked bodies stream")


def _spool_fds(pid: int, spool_dir: Path) -> list[str]:
    """The proxy's open files in the buffer directory (unlinked ones read "(deleted)")."""
    out = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(str(spool_dir)):
            out.append(target)
    return out


def test_spilled_body_is_byte_exact_and_leaves_no_file_even_after_sigint(buffered, workdir):
    proxy, sink, spool_dir = buffered(max_request_body_bytes=8 * MiB)
    t, body = tok(), pattern(6 * MiB, 7)
    assert curl_upload(proxy, workdir, t, body) == "200"
    got = ended(sink, t)
    assert (got["received"], got["sha256"]) == (len(body), hashlib.sha256(body).hexdigest()), got
    assert list(spool_dir.iterdir()) == [], "the buffer directory must stay empty"
    assert _spool_fds(proxy.proc.pid, spool_dir) == [], "the spool file is closed after the request"

    # mid-upload: the body is spilled to an unlinked file; SIGINT leaves nothing behind
    c = proxy.raw()
    t2 = tok()
    c.send((f"POST /upload?t={t2} HTTP/1.1\r\nHost: {CUSTOM_HOST}\r\nTransfer-Encoding: chunked\r\n\r\n")
           .encode() + chunk(pattern(MiB, 8)))
    net.wait_until(lambda: _spool_fds(proxy.proc.pid, spool_dir), 5, what="a spool file while uploading")
    open_files = _spool_fds(proxy.proc.pid, spool_dir)
    proxy.signal(signal.SIGINT)
    code = proxy.wait_exit(10)
    c.close()
    report.record("buffering_spill", open_files=open_files, exit=code)
    assert all(f.endswith("(deleted)") for f in open_files), open_files
    assert list(spool_dir.iterdir()) == [], "nothing left in the buffer directory after SIGINT"
    assert not seen(sink, t2), "the interrupted upload reached the upstream"


def _spool_bytes(pid: int, spool_dir: Path) -> int:
    """Bytes in the proxy's open spool files right now."""
    total = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd).startswith(str(spool_dir)):
                total += os.stat(fd).st_size
        except OSError:
            continue
    return total


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.mark.timeout(120)
def test_many_concurrent_uploads_with_a_low_spill_cap_answer_200_or_503(new_proxy, make_body_sink, workdir):
    """200 concurrent 5 MiB chunked uploads, 64 KiB each in memory and 40 MiB of disk for
    all: every upload is answered 200 or 503, memory and disk stay bounded, no file is left."""
    sink = make_body_sink()
    spool_dir = workdir / "buffer"
    spool_dir.mkdir()
    proxy = (new_proxy().listen(tls=False).route("app").upstream("app", sink.addr, retries=0)
             .limits(max_request_body_bytes=8 * MiB, request_buffer_memory=64 * 1024,
                     request_buffer_dir=str(spool_dir), request_buffer_disk_total=40 * MiB,
                     body_timeout="10s", max_connections=1000)
             .run())
    ip, port = proxy.at
    pid = proxy.proc.pid
    body_chunk = chunk(pattern(256 * 1024, 9))
    n_uploads, chunks_per_upload = 200, 20  # 5 MiB each
    statuses: list[str] = []
    lock = threading.Lock()

    def upload(i: int) -> None:
        status = "none"
        try:
            with socket.create_connection((ip, port), timeout=30) as s:
                s.sendall((f"POST /upload?t=load{i} HTTP/1.1\r\nHost: {CUSTOM_HOST}\r\n"
                           f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode())
                try:
                    for _ in range(chunks_per_upload):
                        s.sendall(body_chunk)
                    s.sendall(b"0\r\n\r\n")
                except OSError:
                    pass
                raw = b""
                try:
                    while True:
                        got = s.recv(65536)
                        if not got:
                            break
                        raw += got
                except OSError:
                    pass
                status = raw[9:12].decode() if raw.startswith(b"HTTP/1.1 ") else f"none:{len(raw)}"
        except OSError as e:
            status = f"error:{e.__class__.__name__}"
        with lock:
            statuses.append(status)

    peak_rss, peak_files, peak_disk = _rss_kib(pid), 0, 0
    rss_before = peak_rss
    started = time.monotonic()
    threads = [threading.Thread(target=upload, args=(i,), daemon=True) for i in range(n_uploads)]
    for th in threads:
        th.start()
    while any(th.is_alive() for th in threads) and time.monotonic() - started < 90:
        peak_rss = max(peak_rss, _rss_kib(pid))
        files = _spool_fds(pid, spool_dir)
        peak_files = max(peak_files, len(files))
        peak_disk = max(peak_disk, _spool_bytes(pid, spool_dir))
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    counts: dict[str, int] = {}
    for s in statuses:
        counts[s] = counts.get(s, 0) + 1
    m = proxy.scrape()
    report.record("buffering_load", uploads=n_uploads, seconds=round(elapsed, 1), statuses=counts,
                  rss_before_mib=round(rss_before / 1024, 1), peak_rss_mib=round(peak_rss / 1024, 1),
                  peak_spool_files=peak_files, peak_spool_mib=round(peak_disk / MiB, 1),
                  buffer_full=m.total("staticedge_rejected_requests_total", reason="buffer_full"))
    print(f"[buffering] {n_uploads} uploads in {elapsed:.1f}s: {counts}, RSS {rss_before // 1024} -> "
          f"peak {peak_rss // 1024} MiB, peak spool files {peak_files}")
    assert len(statuses) == n_uploads, f"{n_uploads - len(statuses)} uploads never finished"
    assert set(counts) <= {"200", "503"}, counts
    assert counts.get("200", 0) >= 1 and counts.get("503", 0) >= 1, counts
    assert peak_rss - rss_before < 200 * 1024, f"RSS grew by {(peak_rss - rss_before) // 1024} MiB"
    assert peak_disk <= 40 * MiB, f"{peak_disk} bytes spilled at once, over the 40 MiB cap"
    assert list(spool_dir.iterdir()) == []
    net.wait_until(lambda: not _spool_fds(pid, spool_dir), 5, what="every spool file closed")
    completed = [l for l in sink.access() if l["event"] == "end" and l["query"].startswith("t=load")]
    assert all(l["received"] == 20 * 256 * 1024 and l["complete"] for l in completed), \
        [l for l in completed if l["received"] != 20 * 256 * 1024][:3]
    assert len(completed) == counts.get("200", 0), (len(completed), counts)
