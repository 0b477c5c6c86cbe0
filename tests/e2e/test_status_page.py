"""The admin page tells the truth at a glance, seen in headless Chromium.

- ready: the page's first line is "READY" on green; it names the EC2 instance and its
  Availability Zone (from an IMDSv2 stand-in on loopback, via STATICEDGE_IMDS_URL), shows
  the traffic just sent as figures and charts (requests/s, 4xx/s, 5xx/s, upstream
  latency p50/p99; /status carries the same numbers), and "Host sent" is the Host the
  app receives (the EB name for host_header = "upstream"), not the policy's name;
- not ready (an upstream whose name never resolves, a start-up probe that fails): the
  first line is "NOT READY" on red with every reason /readyz gives, while /readyz
  answers 503, and the page has no instance line when there is no metadata service.

Screenshots are kept as tests/artifacts/status-page-ready.png and status-page-unready.png.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import chromium, httpc, net, png, report
from harness.imds import Imds
from harness.paths import CUSTOM_HOST, EB_HOST

pytestmark = pytest.mark.observability

INSTANCE_ID = "i-0feedc0ffee123456"
ZONE = "eu-west-1b"


# -- looking at the page -------------------------------------------------------------------

def page_url(p) -> str:
    ip, port = p.admin
    return f"http://{ip}:{port}/"


def banner_colour(shot: Path) -> tuple[int, int, int]:
    """The colour at the top left of the page, inside the verdict's bar."""
    _w, _h, bpp, rows = png.decode(shot)
    px = rows[12][12 * bpp:12 * bpp + 3]
    return px[0], px[1], px[2]


def rendered(p, workdir: Path, name: str) -> str:
    """The DOM Chromium rendered (what a person sees, after parsing), kept as <name>.html."""
    dom = chromium.dom(page_url(p), workdir)
    (workdir / f"{name}.html").write_text(dom)
    return dom


def visible_lines(dom: str) -> list[str]:
    """The body's text, one entry per block element, tags removed and entities decoded."""
    body = dom[dom.find("<body"):]
    body = re.sub(r"<(svg|style|title)\b.*?</\1>", " ", body, flags=re.S)
    body = re.sub(r"</(p|h1|h2|tr|div|table)>|<br\s*/?>", "\n", body)
    text = html.unescape(re.sub(r"<[^>]+>", " ", body))
    return [re.sub(r"\s+", " ", line).strip() for line in text.splitlines() if line.strip()]


def assert_self_contained(p) -> None:
    raw = httpc.request(p.admin, "/", host="admin", tls=False)
    assert raw.status == 200 and raw.header("content-type", "").startswith("text/html"), raw.status
    assert "<script" not in raw.text.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", raw.text, re.I), "no external assets"


@dataclass
class PageView:
    """The page as a person sees it: the screenshot, the verdict bar's colour, the DOM and
    its visible lines."""
    shot: Path
    banner: tuple[int, int, int]
    dom: str
    lines: list[str]


def look_at(p, workdir: Path, name: str) -> PageView:
    """Checks the raw page is self-contained, then screenshots and renders it (kept as
    tests/artifacts/<name>.png and <name>.html in the test's directory)."""
    assert_self_contained(p)
    shot = chromium.screenshot(page_url(p), workdir, name).path
    dom = rendered(p, workdir, name)
    lines = visible_lines(dom)
    print("page:", "\n  ".join(lines[:8]))
    return PageView(shot, banner_colour(shot), dom, lines)


# -- ready ---------------------------------------------------------------------------------

def send_traffic(p) -> dict[int, int]:
    """A few requests of each kind the figures count: 200s, the app's 404s and 500s."""
    seen: dict[int, int] = {}
    for path in ["/whoami"] * 12 + ["/status/404"] * 5 + ["/status/500"] * 3:
        status = p.get(path).status
        seen[status] = seen.get(status, 0) + 1
    return seen


@pytest.mark.timeout(900)   # the first use may install chromium
def test_ready_page_names_the_instance_and_draws_the_traffic(new_proxy, shared_app, shared_dns, stack, workdir,
                                                             monkeypatch):
    imds = stack.add(Imds(net.loopback_addr(), {"instance-id": INSTANCE_ID,
                                                "placement/availability-zone": ZONE}).start())
    monkeypatch.setenv("STATICEDGE_IMDS_URL", imds.url)
    p = (new_proxy()
         .upstream("eb", f"{EB_HOST}:{shared_app.port}", dns={"nameservers": [shared_dns.nameserver]})
         .route("eb", host_header="upstream")
         .run())
    assert send_traffic(p) == {200: 12, 404: 5, 500: 3}

    # /status: the verdict, the identity (looked up in the background at start), and the
    # traffic as numbers
    s = net.wait_until(lambda: (st := p.status())["instance"] and st["figures"]["last_minute"] and st, 5,
                       what="/status names the instance and has the last minute's figures")
    assert s["ready"] is True and s["reasons"] == [], s
    assert s["instance"] == {"id": INSTANCE_ID, "availability_zone": ZONE}, s["instance"]
    assert imds.asked[0] == "PUT /latest/api/token" and imds.unauthorized == 0, imds.asked
    minute = s["figures"]["last_minute"]
    assert minute["requests_per_second"] > 0 and minute["4xx_per_second"] > 0 and minute["5xx_per_second"] > 0, minute
    assert minute["upstream_p50_ms"] is not None and minute["upstream_p99_ms"] >= minute["upstream_p50_ms"], minute
    assert [r["host_sent"] for r in s["routes"]] == [EB_HOST], s["routes"]
    for kept in ("version", "uptime_seconds", "draining", "in_flight_requests", "config", "routes", "upstreams",
                 "certificates", "listeners"):
        assert kept in s, f"/status lost {kept}"

    # a line needs two sampled intervals (every 5 s) that saw traffic: more in the second
    def busy_intervals(n: int):
        history = p.status()["figures"]["history"]
        return sum(h["requests_per_second"] > 0 for h in history) >= n and history
    net.wait_until(lambda: busy_intervals(1), 15, interval=0.5, what="a sampled interval with the traffic")
    assert send_traffic(p) == {200: 12, 404: 5, 500: 3}
    history = net.wait_until(lambda: busy_intervals(2), 15, interval=0.5, what="two intervals with traffic")
    print("history:", history)

    page = look_at(p, workdir, "status-page-ready")
    r, g, b = page.banner
    assert g > 100 and g > r + 40 and g > b + 40, f"the verdict bar should be green, got {(r, g, b)}"
    dom, lines = page.dom, page.lines
    assert lines[0] == "READY: serving traffic", lines[:3]
    assert f"instance {INSTANCE_ID} · zone {ZONE}" in lines[2], lines[:4]
    assert any(l.startswith("last minute: ") and "requests/s" in l for l in lines), lines
    charts = re.findall(r"<svg class=\"chart\".*?</svg>", dom, re.S)
    assert len(charts) == 3 and all(re.search(r'<path d="M[^"]* L', c) for c in charts), \
        "three charts, each with a line through at least two samples"
    assert "no data yet" not in dom
    # the Routes row: hosts, path prefix, upstream, Host sent (the EB name, not "upstream")
    assert f"{CUSTOM_HOST} / eb {EB_HOST}" in lines, [l for l in lines if l.startswith(CUSTOM_HOST)]
    report.record("status_page_ready", screenshot=str(page.shot), banner=[r, g, b], history_points=len(history))


# -- not ready -----------------------------------------------------------------------------

@pytest.mark.timeout(900)
def test_unready_page_says_why_in_red_on_its_first_line(new_proxy, shared_app, shared_dns, workdir, monkeypatch):
    monkeypatch.setenv("STATICEDGE_IMDS_URL", "off")
    p = (new_proxy()
         .upstream("eb", f"{EB_HOST}:{shared_app.port}", dns={"nameservers": [shared_dns.nameserver]},
                   probe={"path": "/status/500", "expect_status": [200], "interval": "1s"})
         .upstream("missing", f"missing.example.test:{shared_app.port}",
                   dns={"nameservers": [shared_dns.nameserver]})
         .route("eb", host_header="upstream")
         .route("missing", hosts=["other.example.test"], host_header="preserve")
         .run(wait="healthz"))

    def settled_reasons():
        """Both reasons, once the first lookup and the first probe have finished."""
        code, body = p.readyz()
        text = " ".join(body["reasons"]) if code == 503 else ""
        return "never resolved" in text and "status 500" in text and "no lookup finished" not in text and body
    readyz = net.wait_until(settled_reasons, 20, interval=0.3, what="/readyz 503 with both reasons")
    reasons = readyz["reasons"]
    print("readyz reasons:", reasons)
    assert any("missing" in r for r in reasons) and any("probe" in r for r in reasons), reasons

    s = p.status()
    assert s["ready"] is False and s["reasons"] == reasons, (s["ready"], s["reasons"])
    assert s["instance"] is None, "no metadata service: no identity"
    assert {r["upstream"]: r["host_sent"] for r in s["routes"]} == {"eb": EB_HOST, "missing": "client's Host"}

    page = look_at(p, workdir, "status-page-unready")
    r, g, b = page.banner
    assert r > 150 and r > g + 80 and r > b + 60, f"the verdict bar should be red, got {(r, g, b)}"
    lines = page.lines
    assert lines[0] == "NOT READY: " + "; ".join(reasons), lines[:2]
    assert not any(l.startswith("instance ") or " zone " in l for l in lines[:4]), lines[:4]
    probe_rows = [l for l in lines if l.startswith(f"eb {EB_HOST}:")]
    assert probe_rows and "not passed (last: status 500" in probe_rows[0], ("the probe's state", probe_rows)
    report.record("status_page_unready", screenshot=str(page.shot), banner=[r, g, b], reasons=reasons)


# -- the access log's last failure ------------------------------------------------------------

@pytest.mark.pending_lead   # needs the binary to hand its access log to the admin port
@pytest.mark.timeout(900)
def test_a_failing_access_log_is_on_the_page(new_proxy, shared_app, shared_dns, workdir, monkeypatch):
    """/dev/full opens and refuses every write: the lines are lost, and /status and the page say
    when and why."""
    monkeypatch.setenv("STATICEDGE_IMDS_URL", "off")
    p = (new_proxy()
         .upstream("eb", f"{EB_HOST}:{shared_app.port}", dns={"nameservers": [shared_dns.nameserver]})
         .route("eb", host_header="upstream")
         .server(access_log="/dev/full")
         .run())
    assert p.status()["access_log"] == {"last_error": None, "last_error_at": None}, "nothing lost yet"
    assert p.get("/whoami").status == 200
    log = net.wait_until(lambda: p.status()["access_log"]["last_error"] and p.status()["access_log"], 5,
                         what="/status has the access log's last failure")
    assert log["last_error"].startswith("write_error") and log["last_error_at"], log
    lines = visible_lines(rendered(p, workdir, "status-page-access-log"))
    assert lines[0] == "READY: serving traffic", "a lost log line is not a reason to take the instance out"
    assert any(l.startswith("access log: last line lost at ") and "write_error" in l for l in lines[:6]), lines[:6]
