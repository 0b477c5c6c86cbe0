"""Request header limits end to end: a header over `limits.max_request_header_bytes`, more
fields than `max_request_headers`, a request line over `max_request_line_bytes`, over
HTTP/1.1 (raw TLS sockets and curl) and HTTP/2 (nghttp): the right status (431, 414), and
the upstream saw nothing; a request just under each limit still gets 200; HTTP/2 advertises
the limit in SETTINGS_MAX_HEADER_LIST_SIZE; a reload lowering the limits takes effect.

nghttp2 (curl, nghttp) will not send a header block over 64 KiB at all, so the 100 KiB field
over HTTP/2 goes out through harness/rawh2.py; curl --http2 sends a 40 KiB one.

The upstream is harness/header_sink.py, which has no header limits of its own (gunicorn and
Python's http.server stop at 100 fields) and logs every request it received. Every request
carries a unique token in its query; before a "saw nothing" assertion a sentinel request is
awaited in that log, so the absence is not just a slow log write.

Needs: curl and nghttp2-client (Debian)."""
from __future__ import annotations

import copy
import json
import re
import subprocess
import uuid

import pytest

from harness import net, report
from harness.paths import CUSTOM_HOST
from harness.proxy import Proxy
from harness.rawh2 import SETTINGS_MAX_HEADER_LIST_SIZE, RawH2
from harness.upstreams import HeaderSink

pytestmark = pytest.mark.security

HEADER_BYTES, HEADERS, LINE_BYTES = 32 * 1024, 100, 8 * 1024


@pytest.fixture
def sink(stack, workdir) -> HeaderSink:
    return stack.add(HeaderSink(workdir)).start()


@pytest.fixture
def limited(new_proxy, sink, workdir) -> Proxy:
    """A proxy in front of the header sink with the default header limits and an access log."""
    return (new_proxy().route("app", hosts=[CUSTOM_HOST]).upstream("app", sink.addr, retries=0)
            .server(access_log=str(workdir / "access.log")).run())


def tok() -> str:
    return uuid.uuid4().hex[:16]


def seen(sink: HeaderSink, token: str) -> list[dict]:
    return [r for r in sink.access() if token in r["query"]]


def settle(proxy: Proxy, sink: HeaderSink) -> None:
    """A request that must reach the upstream, awaited in its log."""
    t = "sentinel" + tok()
    assert h1(proxy, f"/s?t={t}")[0] == 200
    net.wait_until(lambda: seen(sink, t), 5, what="sentinel request in the upstream log")


def access_log(workdir) -> list[dict]:
    path = workdir / "access.log"
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()] if path.exists() else []


# -- clients ---------------------------------------------------------------------------------

def h1_header(target: str, fields: list[str] = ()) -> bytes:
    """The request header h1() sends: request line, Host, Connection: close, `fields`."""
    head = f"GET {target} HTTP/1.1\r\nHost: {CUSTOM_HOST}\r\nConnection: close\r\n"
    return (head + "".join(f"{f}\r\n" for f in fields) + "\r\n").encode()


def h1(proxy: Proxy, target: str, fields: list[str] = ()) -> tuple[int | None, bool, dict]:
    """One HTTP/1.1 request on a fresh raw TLS connection: (status, server closed, headers)."""
    head = h1_header(target, fields)
    resp, raw, eof = proxy.exchange(head, timeout=10)
    assert resp is not None, f"no answer to a {len(head)}-byte header"
    return resp.status, eof, resp.headers


def h1_curl(proxy: Proxy, workdir, target: str, fields: list[str]) -> int:
    """curl --http1.1 with `fields` from a file (-H @file): the status it saw."""
    f = workdir / f"curl-headers-{tok()}.txt"
    f.write_text("".join(f"{x}\n" for x in fields))
    ip, port = proxy.at
    p = subprocess.run(["curl", "-sS", "--http1.1", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
                        "--cacert", str(proxy.ca_path), "--resolve", f"{CUSTOM_HOST}:{port}:{ip}",
                        "-H", f"@{f}", f"https://{CUSTOM_HOST}:{port}{target}"],
                       capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert p.stdout.strip().isdigit(), (p.stdout, p.stderr)
    return int(p.stdout.strip())


def h2(proxy: Proxy, targets: list[str], fields: list[str] = ()) -> tuple[list[int], str]:
    """nghttp: every target on one HTTP/2 connection with `fields`; the statuses (in stream
    order) and nghttp's verbose frame log."""
    ip, port = proxy.at
    args = ["nghttp", "-nv", "--timeout=10", "-H", f":authority: {CUSTOM_HOST}"]
    for f in fields:
        args += ["-H", f]
    args += [f"https://{ip}:{port}{t}" for t in targets]
    p = subprocess.run(args, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    statuses = [int(s) for s in re.findall(r":status: (\d{3})", p.stdout)]
    return statuses, p.stdout + p.stderr


def h2_raw(proxy: Proxy, requests: list[tuple[str, list]]) -> tuple[list, RawH2]:
    """Each (path, fields) in turn on one byte-exact HTTP/2 connection: the answers and the
    (closed) connection, which holds the server's SETTINGS and any GOAWAY."""
    c = RawH2(proxy.at, sni=CUSTOM_HOST, ca=proxy.ca_path)
    try:
        answers = [c.request("GET", path, CUSTOM_HOST, fields) for path, fields in requests]
    finally:
        c.close()
    return answers, c


def h2_curl(proxy: Proxy, workdir, target: str, fields: list[str]) -> tuple[int, str]:
    """curl --http2 with `fields` from a file: (the status it saw, its stderr)."""
    f = workdir / f"curl-headers-{tok()}.txt"
    f.write_text("".join(f"{x}\n" for x in fields))
    ip, port = proxy.at
    p = subprocess.run(["curl", "-sS", "--http2", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
                        "--cacert", str(proxy.ca_path), "--resolve", f"{CUSTOM_HOST}:{port}:{ip}",
                        "-H", f"@{f}", f"https://{CUSTOM_HOST}:{port}{target}"],
                       capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    return int(p.stdout.strip() or 0), p.stderr


def advertised_header_list_size(log: str) -> int | None:
    m = re.search(r"recv SETTINGS frame.*?\n(?:.*\n)*?.*SETTINGS_MAX_HEADER_LIST_SIZE\(0x06\):(\d+)", log)
    return int(m.group(1)) if m else None


def goaway_received(log: str) -> bool:
    return "recv GOAWAY" in log


def big_field(n: int) -> str:
    return "x-big: " + "a" * n


def many_fields(n: int) -> list[str]:
    return [f"x-f{i:03d}: {i}" for i in range(n)]


# -- tests -----------------------------------------------------------------------------------

def test_oversized_headers_are_refused_and_never_forwarded(limited, sink, workdir):
    proxy = limited
    m0 = proxy.scrape()
    refused: dict[str, tuple] = {}

    # HTTP/1.1, raw: one 100 KiB field, 200 fields, a 10 KiB request line
    t = tok(); refused["h1_100k_field"] = (t, h1(proxy, f"/r?t={t}", [big_field(100 * 1024)]))
    t = tok(); refused["h1_200_fields"] = (t, h1(proxy, f"/r?t={t}", many_fields(200)))
    t = tok(); refused["h1_10k_line"] = (t, h1(proxy, f"/r?t={t}&pad={'p' * 10 * 1024}"))
    for name, (_, (status, closed, headers)) in refused.items():
        want = 414 if "line" in name else 431
        assert status == want, (name, status)
        assert closed and headers.get("connection") == "close", (name, closed, headers)
    # HTTP/1.1, curl (a real client still sending when the answer comes)
    t = tok(); refused["curl_100k_field"] = (t, h1_curl(proxy, workdir, f"/r?t={t}", [big_field(100 * 1024)]))
    t = tok(); refused["curl_200_fields"] = (t, h1_curl(proxy, workdir, f"/r?t={t}", many_fields(200)))
    assert (refused["curl_100k_field"][1], refused["curl_200_fields"][1]) == (431, 431), refused

    # HTTP/2, byte-exact: a 100 KiB field is refused by the h2 library (431, no body) on its
    # stream; the next request on the same connection gets through
    t, t_next = tok(), tok()
    (big, nxt), conn = h2_raw(proxy, [(f"/r?t={t}", [("x-big", "a" * 100 * 1024)]), (f"/r?t={t_next}", [])])
    assert (big.status, nxt.status, conn.goaway) == (431, 200, None), (big, nxt, conn.goaway)
    assert conn.settings.get(SETTINGS_MAX_HEADER_LIST_SIZE) == HEADER_BYTES, conn.settings
    refused["h2_100k_field"] = (t, big.status)
    # curl --http2 with a 40 KiB field (nghttp2 sends up to 64 KiB)
    t = tok()
    status, err = h2_curl(proxy, workdir, f"/r?t={t}", [big_field(40 * 1024)])
    assert status == 431, (status, err[-1000:])
    refused["curl_h2_40k_field"] = (t, status)

    # HTTP/2 with nghttp: 200 fields, a 10 KiB path (a request line over the limit upstream)
    h2_runs = {}
    for name, fields, pad in (("h2_200_fields", many_fields(200), ""),
                              ("h2_10k_line", [], "&pad=" + "p" * 10 * 1024)):
        t = tok()
        statuses, log = h2(proxy, [f"/r?t={t}{pad}"], fields)
        h2_runs[name] = (t, statuses, log)
        assert statuses == [414 if "line" in name else 431], (name, statuses, log[-2000:])
        assert not goaway_received(log), (name, log[-2000:])
        refused[name] = (t, statuses)
    # the connection is kept: a refused stream, then a good one on the same connection
    t_bad, t_good = tok(), tok()
    statuses, log = h2(proxy, [f"/r?t={t_bad}&pad={'p' * 10 * 1024}", f"/r?t={t_good}"])
    assert sorted(statuses) == [200, 414], (statuses, log[-2000:])
    assert advertised_header_list_size(log) == HEADER_BYTES, log[:3000]
    refused["h2_kept_connection"] = (t_bad, statuses)

    settle(proxy, sink)
    assert seen(sink, t_good) and seen(sink, t_next)
    reached = {name: seen(sink, t) for name, (t, _) in refused.items() if seen(sink, t)}
    assert not reached, f"refused requests reached the upstream: {reached}"

    m1 = proxy.scrape()
    moved = {r: m1.delta(m0, "staticedge_rejected_requests_total", reason=r)
             for r in ("header_too_large", "too_many_headers", "request_line_too_long")}
    report.record("header_limits_refused", statuses={k: v[1] for k, v in refused.items()}, rejected=moved)
    # HTTP/2 lists over the advertised size are refused by the h2 library itself (see
    # docs/security.md): neither counted nor logged
    assert moved == {"header_too_large": 2, "too_many_headers": 3, "request_line_too_long": 3}, moved
    def refusals_logged():
        return sorted(l["status"] for l in access_log(workdir) if l["status"] in (414, 431))
    want_logged = [414] * 3 + [431] * 5
    net.wait_until(lambda: len(refusals_logged()) >= len(want_logged), 5, what="the refusals in the access log")
    assert refusals_logged() == want_logged
    logged = access_log(workdir)
    h2_logged = [l for l in logged if h2_runs["h2_200_fields"][0] in l.get("path", "")]
    assert [l["status"] for l in h2_logged] == [431], h2_logged


def test_requests_just_under_each_limit_are_forwarded(limited, sink):
    proxy = limited
    under = {}
    # HTTP/1.1: the whole header at exactly the limit; 100 fields (with Host and Connection);
    # a request line at the limit
    t = tok()
    value_len = HEADER_BYTES - len(h1_header(f"/u?t={t}", [big_field(0)]))
    under["h1_header_at_limit"] = (t, h1(proxy, f"/u?t={t}", [big_field(value_len)])[0])
    t = tok(); under["h1_100_fields"] = (t, h1(proxy, f"/u?t={t}", many_fields(HEADERS - 2))[0])
    t = tok()
    line_pad = LINE_BYTES - len(f"GET /u?t={t}&pad= HTTP/1.1")
    under["h1_line_at_limit"] = (t, h1(proxy, f"/u?t={t}&pad={'p' * line_pad}")[0])
    # HTTP/2 (nghttp adds accept, accept-encoding and user-agent): just under each
    t = tok(); under["h2_31k_field"] = (t, h2(proxy, [f"/u?t={t}"], [big_field(HEADER_BYTES - 1024)])[0])
    t = tok(); under["h2_98_fields"] = (t, h2(proxy, [f"/u?t={t}"], many_fields(HEADERS - 5))[0])
    t = tok()
    h2_line_pad = LINE_BYTES - len(f"GET /u?t={t}&pad= HTTP/1.1")
    under["h2_path_at_limit"] = (t, h2(proxy, [f"/u?t={t}&pad={'p' * h2_line_pad}"])[0])
    report.record("header_limits_under", statuses={k: v[1] for k, v in under.items()})
    assert {k: v[1] for k, v in under.items()} == {
        "h1_header_at_limit": 200, "h1_100_fields": 200, "h1_line_at_limit": 200,
        "h2_31k_field": [200], "h2_98_fields": [200], "h2_path_at_limit": [200]}
    records = {k: seen(sink, t) for k, (t, _) in under.items()}
    assert all(len(r) == 1 for r in records.values()), records
    assert records["h1_header_at_limit"][0]["largest"] == value_len
    assert records["h1_100_fields"][0]["fields"] >= HEADERS
    assert records["h1_line_at_limit"][0]["line"] == LINE_BYTES


def test_a_reload_lowering_the_limits_takes_effect(limited, sink, stack):
    proxy = limited
    t = tok()
    assert h1(proxy, f"/b?t={t}", [big_field(8 * 1024)])[0] == 200
    assert h2(proxy, [f"/b?t={t}-h2"], [big_field(8 * 1024)])[0] == [200]
    _, log = h2(proxy, ["/b"])
    assert advertised_header_list_size(log) == HEADER_BYTES
    # an HTTP/2 connection opened before the reload keeps its advertised 32 KiB
    early = RawH2(proxy.at, sni=CUSTOM_HOST, ca=proxy.ca_path)
    stack.add(early)
    assert early.request("GET", f"/b?t={tok()}", CUSTOM_HOST).status == 200

    hash0 = proxy.status()["config"]["hash"]
    m0 = proxy.scrape()
    cfg = copy.deepcopy(proxy.config)
    cfg["limits"] = {"max_request_header_bytes": 4096, "max_request_headers": 20, "max_request_line_bytes": 1024}
    proxy.reload(cfg)
    net.wait_until(lambda: proxy.status()["config"]["hash"] != hash0, 5, what="the reload applied")

    after = {}
    t = tok(); after["h1_8k_field"] = (t, h1(proxy, f"/a?t={t}", [big_field(8 * 1024)])[0])
    t = tok(); after["h1_30_fields"] = (t, h1(proxy, f"/a?t={t}", many_fields(30))[0])
    t = tok(); after["h1_2k_line"] = (t, h1(proxy, f"/a?t={t}&pad={'p' * 2048}")[0])
    t = tok(); after["h2_8k_field"] = (t, h2(proxy, [f"/a?t={t}"], [big_field(8 * 1024)])[0])
    t = tok(); after["h2_30_fields"] = (t, h2(proxy, [f"/a?t={t}"], many_fields(30))[0])
    t = tok(); after["h2_2k_path"] = (t, h2(proxy, [f"/a?t={t}&pad={'p' * 2048}"])[0])
    _, log = h2(proxy, ["/a"])
    # ...and is held to the new limit by staticedge's own check (431 with its body, counted)
    t = tok()
    on_early = early.request("GET", f"/a?t={t}", CUSTOM_HOST, [("x-big", "a" * 8 * 1024)])
    after["h2_early_connection_8k_field"] = (t, [on_early.status])
    report.record("header_limits_reload", statuses={k: v[1] for k, v in after.items()},
                  advertised=advertised_header_list_size(log))
    assert {k: v[1] for k, v in after.items()} == {
        "h1_8k_field": 431, "h1_30_fields": 431, "h1_2k_line": 414,
        "h2_8k_field": [431], "h2_30_fields": [431], "h2_2k_path": [414],
        "h2_early_connection_8k_field": [431]}
    assert advertised_header_list_size(log) == 4096, log[:3000]
    assert early.goaway is None
    m1 = proxy.scrape()
    moved = {r: m1.delta(m0, "staticedge_rejected_requests_total", reason=r)
             for r in ("header_too_large", "too_many_headers", "request_line_too_long")}
    # HTTP/1: one of each; HTTP/2: the fields and the path on new connections, the 8 KiB
    # field on the early one (on new connections the h2 library refuses it, uncounted)
    assert moved == {"header_too_large": 2, "too_many_headers": 2, "request_line_too_long": 2}, moved
    settle(proxy, sink)
    reached = {k: seen(sink, t) for k, (t, _) in after.items() if seen(sink, t)}
    assert not reached, reached
