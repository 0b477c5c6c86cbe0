#!/usr/bin/env python3
"""Instruction counts per request under callgrind, for the three proxies.

`bash tests/bench/run.sh --profile` runs this instead of bench.py. Each proxy runs
under `valgrind --tool=callgrind` (nginx as one process: `master_process off`),
gets a warm-up, has its counters zeroed, serves an exact number of requests
(h2load -n, or the handshake client with a fixed count), and is dumped. Instruction
counts are repeatable whatever else the machine is doing, unlike seconds.

Writes results/profile.md (work/profile.md with --quick): instructions per request
for each proxy and scenario, and for staticedge its cost by category, top
functions, allocation sites and memcpy callers per scenario (keep-alive scenarios as
the difference of two dumps, so per request without handshakes). The callgrind
files stay in work/profile/ for callgrind_annotate or kcachegrind.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

HERE = bench.HERE


def vg(out):
    return ["valgrind", "--tool=callgrind", "--quiet", f"--callgrind-out-file={out}",
            "--separate-threads=no", "--dump-instr=no", "--vgdb=yes"]


def start_under_callgrind(procs, ports, name, d, args, up_port, cert_kind="ecdsa"):
    port, _, cmd, out_log, err_log = bench.proxy_command(name, d, ports, args, up_port,
                                                         cert_kind, single_process=True)
    out = os.path.join(d, "callgrind.out")
    errlog = os.path.join(d, "stderr.log")
    p = procs.start(name, vg(out) + cmd, bench.PROXY_CPU, out_log, err_log)
    run = bench.Running(name, p, port, d)
    # Under valgrind start-up takes seconds; the first TLS handshake is the real check.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError(f"{name} under callgrind exited:\n{bench.tail(errlog)}")
        r = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                            "--resolve", f"{bench.HOST}:{port}:127.0.0.1", "--max-time", "5",
                            f"https://{bench.HOST}:{port}/small"],
                           capture_output=True, text=True)
        if r.stdout == "200":
            break
        time.sleep(0.5)
    else:
        raise RuntimeError(f"{name} under callgrind never answered:\n{bench.tail(errlog)}")
    return run, out


def load_cmd(scenario, port, n, args):
    url = f"https://127.0.0.1:{port}/small"
    if scenario == "a":
        return ["h2load", "--h1", "-t1", "-c50", "-n", str(n), "-H", f":authority: {bench.HOST}",
                url]
    if scenario == "d":
        return ["h2load", "-t1", "-c50", "-m10", "-n", str(n), "-H",
                f":authority: {bench.HOST}", url]
    if scenario == "c13e":
        per = max(1, n // 2)
        return [sys.executable, os.path.join(HERE, "hsclient.py"), "--port", str(port),
                "--tls", "1.3", "--duration", "600", "--workers", "2",
                "--max-per-worker", str(per)]
    raise ValueError(scenario)


def answered(scenario, text):
    if scenario == "c13e":
        import json
        return json.loads(text.strip().splitlines()[-1])["requests"]
    m = re.search(r"status codes: (\d+) 2xx", text)
    return int(m.group(1)) if m else 0


def total_ir(path):
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    return None


def cg(op, run):
    subprocess.run(["callgrind_control"] + op + [str(run.proc.pid)], capture_output=True,
                   timeout=120)


def dump_file(out):
    """The newest dump: callgrind_control -d writes <out>.<n>, n counting dumps."""
    d = os.path.dirname(out)
    cands = [f for f in os.listdir(d) if re.fullmatch(re.escape(os.path.basename(out)) +
                                                      r"\.\d+", f)]
    cands.sort(key=lambda f: int(f.rsplit(".", 1)[1]))
    return os.path.join(d, cands[-1]) if cands else None


def parse_callgrind(path):
    """Reads a callgrind dump (events: Ir) directly: self cost per function (with its
    file), and per function its callers with the inclusive cost and count of the
    calls. (callgrind_annotate 3.19 counts the in-progress calls of a mid-run dump as
    self cost of thread_start and friends, so it is not used.)"""
    names = {"fl": {}, "fn": {}}
    selfcost, callers, files = {}, {}, {}
    fn = file = cfn = None
    pending_call = None

    def name(kind, rest):
        rest = rest.strip()
        m = re.match(r"^\((\d+)\)(?: (.*))?$", rest)
        if not m:
            return rest
        if m.group(2) is not None:
            names[kind][m.group(1)] = m.group(2)
        return names[kind].get(m.group(1), rest)

    with open(path, errors="replace") as f:
        for line in f:
            c = line[:1]
            if c.isdigit() or c in "+-*":
                parts = line.split()
                if len(parts) < 2:
                    continue
                cost = int(parts[1])
                if pending_call is not None:
                    count = pending_call
                    pending_call = None
                    d = callers.setdefault(cfn, {})
                    old = d.get(fn, (0, 0))
                    d[fn] = (old[0] + cost, old[1] + count)
                else:
                    selfcost[fn] = selfcost.get(fn, 0) + cost
                continue
            key, _, rest = line.partition("=")
            if key in ("fl", "fi", "fe"):
                f_name = name("fl", rest)
                if key == "fl":
                    file = f_name
            elif key == "fn":
                fn = name("fn", rest)
                files.setdefault(fn, file or "")
            elif key in ("cfi", "cfl"):
                name("fl", rest)
            elif key == "cfn":
                cfn = name("fn", rest)
            elif key == "calls":
                pending_call = int(rest.split()[0])
    return selfcost, callers, files


CATEGORIES = [
    ("memcpy / memset", r"\bmem(cpy|move|set)|__memcpy|__memset|__memmove"),
    # glibc's malloc (nginx, HAProxy) and jemalloc (staticedge's global allocator).
    ("allocator (malloc, free, realloc)", r"^(malloc|free|realloc|calloc|cfree|_int_\w+|"
     r"_rjem_\w+|do_rallocx|\w*je_\w+|tikv_jemalloc\w*|"
     r"malloc_consolidate|unlink_chunk.*|tcache_\w+|__rdl_\w+|__rust_(alloc|dealloc|realloc)"
     r"|__rustc::__r\w+|_mid_memalign|__libc_\w+alloc\w*)$"),
    ("crypto primitives (aws-lc-rs and ring: AES-GCM, SHA-2, X25519, P-256, RSA)",
     r"\bring(_core)?\b|ring::|ring_core|aws_lc"),
    ("rustls (records, handshake state machine)", r"rustls"),
    ("access log (serde_json, time and number formatting)",
     r"serde_json|access_log|humantime|chrono|\btime::|zmij|itoa|ryu|AccessLog"),
    ("metrics (prometheus)", r"prometheus"),
    ("HTTP/2 (h2 crate)", r"\bh2::"),
    ("HTTP header maps and parsing (http, httparse)", r"\bhttp::|httparse|HeaderMap"),
    ("pingora", r"pingora"),
    ("staticedge", r"staticedge"),
    ("tokio runtime, timers, channels", r"tokio"),
    ("tracing", r"tracing"),
]


def category(file, fn):
    for name, pat in CATEGORIES:
        if re.search(pat, fn):
            return name
    for name, pat in CATEGORIES:
        if re.search(pat, file):
            return name
    if file.startswith("./") or file == "???":
        return "libc (syscall wrappers, locks, other)"
    if file.startswith("/rustc/"):
        return "Rust std/core"
    return "other"


def diff_profile(dumps):
    """Self costs and callers of the last dump minus the first."""
    parsed = [parse_callgrind(d) for d in dumps]
    selfcost, callers, files = parsed[-1]
    if len(parsed) == 2:
        s0, c0, _ = parsed[0]
        selfcost = {k: v - s0.get(k, 0) for k, v in selfcost.items()}
        callers = {fn: {c: (v[0] - c0.get(fn, {}).get(c, (0, 0))[0],
                            v[1] - c0.get(fn, {}).get(c, (0, 0))[1]) for c, v in cs.items()}
                   for fn, cs in callers.items()}
    return selfcost, callers, files


def profile_tables(dumps, requests, n):
    selfcost, callers, files = diff_profile(dumps)
    total = sum(selfcost.values())
    cats = {}
    for fn, v in selfcost.items():
        c = category(files.get(fn, ""), fn)
        cats[c] = cats.get(c, 0) + v
    out = {"total": total / requests,
           "categories": sorted(((v / requests, 100.0 * v / total, c) for c, v in cats.items()),
                                reverse=True),
           "self": sorted(((v / requests, 100.0 * v / total, fn) for fn, v in selfcost.items()),
                          reverse=True)[:n]}
    allocs = {}
    for fn, cs in callers.items():
        if fn in ("__rustc::__rust_alloc", "__rust_alloc", "__rustc::__rust_alloc_zeroed"):
            for c, v in cs.items():
                allocs[c] = allocs.get(c, 0) + v[1]
    out["allocs_per_req"] = sum(allocs.values()) / requests
    out["alloc_sites"] = sorted(((v / requests, fn) for fn, v in allocs.items()),
                                reverse=True)[:15]
    memcpy = {}
    for fn, cs in callers.items():
        if re.search(r"__memcpy|__memmove|^memcpy", fn):
            for c, v in cs.items():
                memcpy[c] = memcpy.get(c, 0) + v[0]
    out["memcpy_sites"] = sorted(((v / requests, c) for c, v in memcpy.items()),
                                 reverse=True)[:8]
    return out


def short(fn, width=110):
    fn = re.sub(r"::h[0-9a-f]{16}$", "", fn)
    return fn if len(fn) <= width else fn[:width - 1] + "…"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--certs", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--proxies", default="staticedge,nginx,haproxy")
    ap.add_argument("--scenarios", default="a,d,c13e")
    ap.add_argument("--requests", type=int, default=10000)
    ap.add_argument("--handshakes", type=int, default=400)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    if args.quick:
        args.requests, args.handshakes = 1000, 50
    work = os.path.join(args.work, "profile")
    os.makedirs(work, exist_ok=True)
    procs = bench.Procs(os.path.join(args.work, "pids"))
    ports = bench.Ports(18000 + (os.getpid() % 50) * 20)
    results = {}
    tops = {}
    try:
        ud = os.path.join(work, "upstream")
        for t in ("tmp-body", "tmp-proxy", "tmp-fcgi", "tmp-uwsgi", "tmp-scgi"):
            os.makedirs(os.path.join(ud, t), exist_ok=True)
        with open(os.path.join(ud, "big.bin"), "wb") as f:
            f.write(b"0123456789abcdef" * (bench.BIG // 16))
        up_port = ports.take()
        with open(os.path.join(ud, "nginx.conf"), "w") as f:
            f.write(bench.upstream_conf(ud, up_port))
        up = procs.start("upstream", ["nginx", "-c", os.path.join(ud, "nginx.conf"), "-p", ud,
                                      "-e", os.path.join(ud, "error.log")], bench.CLIENT_CPU,
                         os.path.join(ud, "stderr.log"))
        if not bench.wait_port(up_port, up, 15):
            raise RuntimeError("upstream nginx did not start")
        for sc in args.scenarios.split(","):
            n = args.handshakes if sc == "c13e" else args.requests
            for px in args.proxies.split(","):
                d = os.path.join(work, f"{sc}-{px}")
                for fn in (os.listdir(d) if os.path.isdir(d) else []):
                    if os.path.isfile(os.path.join(d, fn)):
                        os.unlink(os.path.join(d, fn))
                bench.log(f"callgrind: {px} {sc} ({n} requests)")
                run, out = start_under_callgrind(procs, ports, px, d, args, up_port)
                try:
                    rc, _, _ = bench.run_client(procs, "warmup",
                                                load_cmd(sc, run.port, max(50, n // 10), args),
                                                600, os.path.join(d, "warmup.out"))
                    cg(["-z"], run)
                    # Keep-alive scenarios: two loads of n/5 and n requests, each with its
                    # 50 new connections; the difference is the cost of 4n/5 requests with
                    # no handshake in it. Handshakes: one load, every request is one.
                    sizes = [n] if sc.startswith("c") else [max(1, n // 5), n]
                    dumps, answered_n = [], []
                    for i, k in enumerate(sizes):
                        out_i = os.path.join(d, f"load{i}.out")
                        bench.run_client(procs, "load", load_cmd(sc, run.port, k, args), 900,
                                         out_i)
                        answered_n.append(answered(sc, open(out_i, errors="replace").read()))
                        cg(["-d"], run)
                        dumps.append(dump_file(out))
                finally:
                    procs.stop(run.proc, signal.SIGINT if px == "staticedge" else signal.SIGTERM,
                               wait=30)
                irs = [total_ir(f) if f else None for f in dumps]
                if len(sizes) == 1:
                    ok, ir = answered_n[0], irs[0]
                else:
                    ok = answered_n[1] - answered_n[0]
                    ir = irs[1] - irs[0] if None not in irs else None
                results[(sc, px)] = {"ir": ir, "requests": ok, "answered": answered_n,
                                     "ir_per_req": ir / ok if ir and ok else None}
                bench.log(f"  {px} {sc}: {answered_n} answered, "
                          f"{bench.fmt(results[(sc, px)]['ir_per_req'], 0)} instructions/request")
                if px == "staticedge" and None not in dumps and ok:
                    tops[sc] = profile_tables(dumps, ok, args.top)
    finally:
        procs.stop_all()

    lines = ["# Instructions per request under callgrind", "",
             "Each proxy runs under `valgrind --tool=callgrind` on the benchmark's configuration "
             "(nginx as a single process), counters zeroed after a warm-up. Keep-alive scenarios "
             "(a: HTTP/1.1, d: HTTP/2, 50 connections, 2-byte body) are measured as the "
             "difference of two loads (n/5 and n requests, each opening its 50 connections), "
             "so no handshake is in the per-request figure; c13e is one full TLS 1.3 ECDSA "
             "handshake plus one request per connection. User-space instructions only (no "
             "kernel time, cache misses or waiting); repeatable whatever else the machine does. "
             "Valgrind's virtual CPU hides ADX, AVX-512 and SHA-NI, so ring and OpenSSL take "
             "slower portable paths for X25519, P-256 and SHA-2 under it: the c13e crypto counts "
             "are not those of a native run (bench.py's CPU time is).",
             "",
             "| scenario | " + " | ".join(args.proxies.split(",")) + " | staticedge / nginx |",
             "|---|" + "---|" * (len(args.proxies.split(",")) + 1)]
    for sc in args.scenarios.split(","):
        row = [bench.fmt((results.get((sc, px)) or {}).get("ir_per_req"), 0)
               for px in args.proxies.split(",")]
        se = (results.get((sc, "staticedge")) or {}).get("ir_per_req")
        ng = (results.get((sc, "nginx")) or {}).get("ir_per_req")
        ratio = f"{se / ng:.2f}" if se and ng else "-"
        lines.append(f"| {sc} | " + " | ".join(row) + f" | {ratio} |")
    for sc, t in tops.items():
        lines += ["", f"## staticedge, scenario {sc}", "",
                  f"{t['total']:,.0f} instructions per request (self costs summed); "
                  f"{t['allocs_per_req']:.1f} heap allocations (`__rust_alloc` calls) per request.",
                  "", "By category (self cost):", "",
                  "| instructions/request | % | category |", "|---|---|---|"]
        lines += [f"| {per:,.0f} | {pct:.1f} | {c} |" for per, pct, c in t["categories"]
                  if pct >= 0.5]
        lines += ["", "Top functions (self cost):", "",
                  "| instructions/request | % | function |", "|---|---|---|"]
        lines += [f"| {per:,.0f} | {pct:.1f} | `{short(fn)}` |" for per, pct, fn in t["self"]]
        lines += ["", "Where the allocations are made (calls per request, by caller):", "",
                  "| allocations/request | caller |", "|---|---|"]
        lines += [f"| {per:.1f} | `{short(fn)}` |" for per, fn in t["alloc_sites"]]
        lines += ["", "Who calls memcpy (instructions per request):", "",
                  "| instructions/request | caller |", "|---|---|"]
        lines += [f"| {per:,.0f} | `{short(fn)}` |" for per, fn in t["memcpy_sites"]]
    md = "\n".join(lines) + "\n"
    # run.sh passes results/ for a full profile and work/ for --quick.
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, "profile.md"), "w") as f:
        f.write(md)
    print(md)
    bench.log(f"wrote {args.results}/profile.md (callgrind files in {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
