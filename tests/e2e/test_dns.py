"""The proxy follows an Elastic Beanstalk name (a CNAME chain to A records with TTL 5 s)
served by a real BIND, end to end and under load, with zero failed requests: blue/green
swap, scale out and in, a 30 s DNS outage, NXDOMAIN at start, a 30-record answer over TCP,
a dead address still in DNS.

Measured numbers are printed and appended to tests/artifacts/e2e-summary.jsonl."""
from __future__ import annotations

import re
import time

import pytest

from harness import net, report
from harness.load import Load
from harness.paths import CUSTOM_HOST, EB_HOST
from harness.proxy import Proxy, dns_followed, run_cli

pytestmark = pytest.mark.dns

TTL = 5
SWITCH_LIMIT = TTL + 2          # "within TTL + 2 s"
MIN_RATE = 50                   # requests/s through the proxy
ELB_BLUE = "awseb-e-blue0001-1234567890.us-east-1.elb.amazonaws.com"
ELB_GREEN = "awseb-e-green002-1234567890.us-east-1.elb.amazonaws.com"
ELB = "awseb-e-scale003-1234567890.us-east-1.elb.amazonaws.com"


@pytest.fixture
def follow_name(new_proxy):
    """Starts a proxy whose one route goes to EB_HOST:port, looked up through `dns`."""
    def start(dns, port: int, wait: str = "ready") -> Proxy:
        return (new_proxy()
                .upstream("eb-prod", f"{EB_HOST}:{port}", **dns_followed(dns.nameserver))
                .route("eb-prod", host_header="upstream")
                .run(wait=wait))
    return start


def sleep_until(t: float) -> None:
    while (d := t - time.monotonic()) > 0:
        time.sleep(min(d, 0.2))


def assert_no_failures(load: Load, what: str) -> None:
    s = load.summary()
    assert s["failed"] == 0, f"{what}: {s['failed']} of {s['total']} requests failed:\n{load.fail_detail()}\n{s}"


def test_blue_green_cname_swap(make_app, make_bind, follow_name, ca):
    blue_ip, green_ip = net.loopback_addrs(2)
    port = net.free_port(blue_ip, green_ip)
    blue = make_app("blue", blue_ip, port)
    make_app("green", green_ip, port)
    dns = make_bind()
    dns.set_a(ELB_BLUE, [blue_ip], ttl=TTL)
    dns.set_a(ELB_GREEN, [green_ip], ttl=TTL)
    dns.set_cname(EB_HOST, ELB_BLUE, ttl=TTL)
    p = follow_name(dns, port)

    with Load(p.at, host=CUSTOM_HOST, ca=ca.cert_path, rate=80, workers=8, max_requests=4000,
              max_seconds=45) as load:
        net.wait_until(lambda: load.served_by().get("blue", 0) >= 100, 15, what="100 requests on blue")
        t_swap = time.monotonic()
        dns.set_cname(EB_HOST, ELB_GREEN, ttl=TTL)
        sleep_until(t_swap + SWITCH_LIMIT + 3)
        t_stop_blue = time.monotonic()
        blue.stop()
        sleep_until(t_stop_blue + 5)
    s = load.summary()
    last_blue = load.last_start("blue")
    first_green = load.first_start("green", after=t_swap)
    switch = (last_blue - t_swap) if last_blue and last_blue > t_swap else 0.0
    after = load.served_by(since=t_swap + SWITCH_LIMIT)
    report.record("dns.blue_green", switch_over_s=round(switch, 2),
                  first_green_s=round(first_green - t_swap, 2) if first_green else None,
                  after_blue_stopped=dict(load.served_by(since=t_stop_blue)), **s)
    assert_no_failures(load, "blue/green swap")
    assert s["rate"] >= MIN_RATE, f"load ran at {s['rate']} req/s, needs >= {MIN_RATE}"
    assert switch <= SWITCH_LIMIT, f"blue still answered {switch:.2f}s after the swap"
    assert set(after) == {"green"}, f"after TTL+2 s every request must land on green: {after}"
    assert load.served_by(since=t_stop_blue).get("green", 0) > 50


def test_scale_out_and_in(make_tiny, make_bind, follow_name, ca):
    a = net.loopback_addrs(4)
    port = net.free_port(*a)
    old = make_tiny(a[:2], port, name="tiny-old")
    make_tiny(a[2:], port, name="tiny-new")
    dns = make_bind()
    dns.set_a(ELB, a[:2], ttl=TTL)
    dns.set_cname(EB_HOST, ELB, ttl=TTL)
    p = follow_name(dns, port)

    with Load(p.at, host=CUSTOM_HOST, ca=ca.cert_path, rate=80, workers=8, max_requests=5000,
              max_seconds=45) as load:
        net.wait_until(lambda: sum(load.served_by().values()) >= 100, 15, what="warm-up")
        t_out = time.monotonic()
        dns.set_a(ELB, a, ttl=TTL)                      # scale out: 2 -> 4
        sleep_until(t_out + SWITCH_LIMIT + 3)
        t_in = time.monotonic()
        dns.set_a(ELB, a[2:], ttl=TTL)                  # scale in: the first two leave
        sleep_until(t_in + SWITCH_LIMIT + 2)
        t_kill = time.monotonic()
        old.stop()                                      # the departed addresses die
        sleep_until(t_kill + 3)
    s = load.summary()
    new_first = {ip: load.first_start(ip, after=t_out) for ip in a[2:]}
    out_lat = {ip: round(t - t_out, 2) if t else None for ip, t in new_first.items()}
    last_old = max((load.last_start(ip) or 0) for ip in a[:2])
    in_lat = round(max(last_old - t_in, 0.0), 2)
    report.record("dns.scale_out_in", scale_out_first_request_s=out_lat, scale_in_last_request_s=in_lat,
                  between=dict(load.served_by(since=t_out + SWITCH_LIMIT, until=t_in)),
                  after_in=dict(load.served_by(since=t_in + SWITCH_LIMIT)), **s)
    assert_no_failures(load, "scale out/in")
    assert s["rate"] >= MIN_RATE
    for ip, t in out_lat.items():
        assert t is not None and t <= SWITCH_LIMIT, f"new address {ip} got its first request after {t}s"
    between = load.served_by(since=t_out + SWITCH_LIMIT, until=t_in)
    assert set(between) == set(a), f"all four addresses should share the load: {between}"
    assert in_lat <= SWITCH_LIMIT, f"a removed address still got requests {in_lat}s after removal"
    assert set(load.served_by(since=t_in + SWITCH_LIMIT)) == set(a[2:])


@pytest.mark.timeout(240)
def test_dns_outage_30s(make_tiny, make_bind, follow_name, ca):
    a1, a2 = net.loopback_addrs(2)
    port = net.free_port(a1, a2)
    make_tiny([a1, a2], port)
    dns = make_bind()
    dns.set_a(ELB, [a1], ttl=TTL)
    dns.set_cname(EB_HOST, ELB, ttl=TTL)
    p = follow_name(dns, port)
    readyz_bad = []
    mid_status = None
    with Load(p.at, host=CUSTOM_HOST, ca=ca.cert_path, rate=60, workers=6, max_requests=6000,
              max_seconds=90) as load:
        net.wait_until(lambda: sum(load.served_by().values()) >= 60, 15, what="warm-up")
        t_down = time.monotonic()
        dns.stop()
        while time.monotonic() < t_down + 30:
            code, body = p.readyz()
            if code != 200:
                readyz_bad.append((round(time.monotonic() - t_down, 1), code, body))
            if mid_status is None and time.monotonic() > t_down + 15:
                mid_status = p.upstream_status("eb-prod")
            time.sleep(0.5)
        dns.start()
        t_up = time.monotonic()
        dns.set_a(ELB, [a2], ttl=TTL)
        t_change = time.monotonic()
        net.wait_until(lambda: load.first_start(a2, after=t_change), 40, interval=0.2,
                       what="the change after the outage followed")
        followed = load.first_start(a2, after=t_change) - t_change
        sleep_until(t_change + followed + 3)  # then everything should be on a2
    s = load.summary()
    report.record("dns.outage", outage_s=round(t_up - t_down, 1), followed_after_outage_s=round(followed, 2),
                  readyz_non_200=len(readyz_bad), status_mid_outage=mid_status, **s)
    assert_no_failures(load, "30 s DNS outage")
    assert not readyz_bad, f"/readyz must stay 200 through the outage: {readyz_bad[:5]}"
    assert mid_status is not None
    assert mid_status.get("last_error"), f"/status should show the DNS failure: {mid_status}"
    assert mid_status.get("stale_since"), f"/status should show since when the answer is stale: {mid_status}"
    assert [x["addr"] for x in mid_status.get("addresses", [])] == [f"{a1}:{port}"], mid_status
    assert followed <= 20, f"change after the outage followed only after {followed:.1f}s"
    late_a1 = load.served_by(since=t_change + followed + 1).get(a1, 0)
    assert late_a1 == 0, f"a1 (gone from DNS) got {late_a1} requests after a2 took over"


def test_nxdomain_at_start_then_appears(make_tiny, make_bind, follow_name):
    a1 = net.loopback_addr()
    port = net.free_port(a1)
    make_tiny([a1], port)
    dns = make_bind(negative_ttl=TTL)
    p = follow_name(dns, port, wait="healthz")

    def unready_reasons():
        code, body = p.readyz()
        return (code, body) if code == 503 and isinstance(body, dict) and body.get("reasons") else None
    code, body = net.wait_until(unready_reasons, 10, what="/readyz 503 with reasons")
    print("readyz while unresolved:", code, body)
    assert body.get("ready") is False
    assert any("eb-prod" in r and "resolved" in r.lower() for r in body["reasons"]), body
    r = p.get()
    print("request while unresolved:", r.status, r.text[:200])
    assert r.status == 503 and "eb-prod" in r.text
    time.sleep(1)
    t_add = time.monotonic()
    dns.set_a(ELB, [a1], ttl=TTL)
    dns.set_cname(EB_HOST, ELB, ttl=TTL)

    def works():
        try:
            return p.get(timeout=3).status == 200
        except OSError:
            return False
    net.wait_until(works, SWITCH_LIMIT + 5, interval=0.2, what="requests succeed after the record appears")
    took = time.monotonic() - t_add
    net.wait_until(lambda: p.readyz()[0] == 200, 5, what="ready once resolved")
    report.record("dns.nxdomain_then_appears", first_success_s=round(took, 2))
    assert took <= SWITCH_LIMIT, f"first success {took:.2f}s after the record appeared"


def test_large_answer_30_records_tcp_fallback(make_tiny, make_bind, follow_name, ca, staticedge_bin):
    ips = [f"127.0.1.{i}" for i in range(1, 31)]
    port = net.free_port(*ips)
    make_tiny(ips, port, name="tiny-30")
    dns = make_bind(max_udp_size=512)
    dns.set_a(ELB, ips, ttl=TTL)
    dns.set_cname(EB_HOST, ELB, ttl=TTL)
    udp = dns.query(EB_HOST, "A", payload=4096)
    assert udp.flags & 0x0200, "the answer must not fit in UDP (TC set), so the proxy needs TCP"
    p = follow_name(dns, port)
    st = p.upstream_status("eb-prod")
    with Load(p.at, host=CUSTOM_HOST, ca=ca.cert_path, rate=100, workers=8, max_requests=600,
              max_seconds=30) as load:
        load.wait_done(40)
    s = load.summary()
    report.record("dns.large_answer", addresses_in_status=len(st.get("addresses", [])), **s)
    assert_no_failures(load, "30 A records")
    assert sorted(x["addr"] for x in st["addresses"]) == sorted(f"{ip}:{port}" for ip in ips)
    missing = set(ips) - set(s["served_by"])
    assert not missing, f"addresses that got no request: {sorted(missing)}; counts {s['served_by']}"
    # `staticedge check --resolve` resolves it too and prints every address and a TTL
    c = run_cli(staticedge_bin, "check", "--config", p.config_path, "--resolve")
    out = c.stdout + c.stderr
    print(out)
    assert c.returncode == 0, out
    assert all(re.search(rf"\b{re.escape(ip)}\b", out) for ip in ips), "check --resolve must print every address"
    assert re.search(r"ttl", out, re.I), "check --resolve must print TTLs"


def test_dead_address_still_in_dns(make_tiny, make_bind, follow_name, ca):
    live, dead = net.loopback_addrs(2)
    port = net.free_port(live, dead)
    make_tiny([live], port)                  # nothing listens on `dead`: connections are refused
    dns = make_bind()
    dns.set_a(ELB, [live, dead], ttl=TTL)
    dns.set_cname(EB_HOST, ELB, ttl=TTL)
    p = follow_name(dns, port)
    with Load(p.at, host=CUSTOM_HOST, ca=ca.cert_path, rate=50, workers=4, max_requests=200,
              max_seconds=20) as load:
        load.wait_done(30)
    s = load.summary()
    code, _ = p.readyz()
    report.record("dns.dead_address", readyz=code, **s)
    assert_no_failures(load, "one dead address")
    assert s["total"] == 200
    assert set(s["served_by"]) == {live}
    assert code == 200


def test_check_resolve_names_a_missing_name_in_one_sentence(make_bind, new_proxy, staticedge_bin):
    """A name that does not exist: `check --resolve` says so at the upstream's address
    line, as one sentence an operator can act on, not the resolver's query structure."""
    dns = make_bind()
    p = (new_proxy()
         .upstream("eb-prod", f"{EB_HOST}:80", **dns_followed(dns.nameserver))
         .route("eb-prod", host_header="upstream")
         .build())
    c = run_cli(staticedge_bin, "check", "--config", p.config_path, "--resolve")
    out = c.stdout + c.stderr
    assert c.returncode == 1, out
    line = re.search(rf"^{re.escape(str(p.config_path))}:(\d+):(\d+): upstream\.eb-prod\.address: (.*)$", out, re.M)
    assert line, out
    assert line.group(3) == f"no address records: {EB_HOST}: the name does not exist (NXDOMAIN)", line.group(3)
    assert "Query" not in out and "{" not in out, out
