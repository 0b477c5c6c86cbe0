#!/usr/bin/env python3
"""staticedge next to nginx and HAProxy: one run, same conditions, per-request CPU.

Started by run.sh, which installs the peers, makes the certificates and raises the
file limit. This file runs the rounds, measures and writes the reports.

Layout of one run:
- an upstream nginx (one worker, CPU 0) answers /small (2 bytes) and /big (16 KiB);
- for every round, every scenario, every proxy (the order rotates each round): a
  fresh proxy process pinned to CPU 1, a warm-up, then the measured load from CPU 0;
  the proxy's utime+stime (every thread; nginx master + worker) is read from
  /proc/PID/stat before and after the measured load;
- peak RSS is VmHWM of that fresh process (nginx: master + worker);
- results/latest.json and results/latest.md (or work/quick.* with --quick).
"""

import argparse
import datetime as dt
import json
import os
import platform
import re
import select
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PROXIES = ["staticedge", "nginx", "haproxy"]
HOST = "bench.test"
# The Host the upstream must receive: staticedge's host_header = "upstream" sends the
# upstream address's host, which for an IP address is the IP.
UPSTREAM_HOST = "127.0.0.1"
BIG = 16 * 1024

SCENARIOS = [
    {"id": "a", "title": "(a) HTTPS keep-alive, 50 conns, 2 B body", "kind": "wrk",
     "path": "/small", "body": 2, "cert": "ecdsa"},
    {"id": "b", "title": "(b) HTTPS keep-alive, 50 conns, 16 KiB body", "kind": "wrk",
     "path": "/big", "body": BIG, "cert": "ecdsa"},
    {"id": "c13e", "title": "(c) new conn per request, TLS 1.3 ECDSA P-256", "kind": "hs",
     "tls": "1.3", "cert": "ecdsa"},
    {"id": "c13r", "title": "(c) new conn per request, TLS 1.3 RSA-2048", "kind": "hs",
     "tls": "1.3", "cert": "rsa"},
    {"id": "c12e", "title": "(c) new conn per request, TLS 1.2 ECDSA P-256", "kind": "hs",
     "tls": "1.2", "cert": "ecdsa"},
    # Each proxy verifies a client certificate (required) and forwards its subject and
    # fingerprint to the upstream, as a partner-facing host does.
    {"id": "c13m", "title": "(c) new conn per request, TLS 1.3 ECDSA, client certificate",
     "kind": "hs", "tls": "1.3", "cert": "ecdsa", "client_cert": True},
    {"id": "d", "title": "(d) HTTP/2, 50 conns x 10 streams, 2 B body", "kind": "h2",
     "path": "/small", "cert": "ecdsa"},
    {"id": "e", "title": "(e) idle keep-alive TLS connections held open", "kind": "idle",
     "cert": "ecdsa"},
]

FULL = {"rounds": 3, "ka_s": 10, "ka_warm_s": 1, "hs_s": 6, "hs_warm_s": 1,
        "h2_s": 10, "h2_warm_s": 1, "idle_conns": 10000, "deadline_s": 14 * 60}
QUICK = {"rounds": 1, "ka_s": 3, "ka_warm_s": 1, "hs_s": 2, "hs_warm_s": 1,
         "h2_s": 3, "h2_warm_s": 1, "idle_conns": 2000, "deadline_s": 6 * 60}


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------- /proc readings

def proc_ticks(pid):
    """utime + stime of the whole process (all threads, live and exited)."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    rest = s[s.rindex(")") + 2:].split()
    return int(rest[11]) + int(rest[12])


def proc_sys_ticks(pid):
    """stime alone (kernel time: syscalls, TCP, TLS record writes)."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    return int(s[s.rindex(")") + 2:].split()[12])


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def ctx_switches(pid):
    vol = invol = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0, 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        vol += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        invol += int(line.split()[1])
        except OSError:
            pass
    return vol, invol


def cpu_busy_ticks(cpu):
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                v = [int(x) for x in line.split()[1:]]
                # user + nice + system: irq/softirq time (loopback packet processing)
                # is not charged to any process, so it is left out of both sides.
                return v[0] + v[1] + v[2]
    return 0


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        out = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        s = f.read()
                    if int(s[s.rindex(")") + 2:].split()[1]) == pid:
                        out.append(int(d))
                except OSError:
                    pass
        return out


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


# ---------------------------------------------------------------- processes

class Procs:
    """Every process this run starts, so that each is stopped by pid at the end."""

    def __init__(self, piddir):
        self.piddir = piddir
        os.makedirs(piddir, exist_ok=True)
        self.live = {}

    def start(self, name, cmd, cpu, stdout, stderr=None, stdin=None):
        out = open(stdout, "ab") if isinstance(stdout, str) else stdout
        err = open(stderr, "ab") if isinstance(stderr, str) else (stderr or subprocess.STDOUT)
        p = subprocess.Popen(["taskset", "-c", str(cpu)] + cmd, stdout=out, stderr=err,
                             stdin=stdin if stdin is not None else subprocess.DEVNULL,
                             start_new_session=True)
        self.live[p.pid] = (name, p)
        # "pid starttime": run.sh's cleanup only kills a pid whose start time still
        # matches, so a recycled pid is never hit.
        try:
            with open(f"/proc/{p.pid}/stat") as f:
                start = f.read().rsplit(")", 1)[1].split()[19]
        except OSError:
            start = "0"
        with open(os.path.join(self.piddir, f"{p.pid}.pid"), "w") as f:
            f.write(f"{p.pid} {start}\n")
        return p

    def stop(self, p, sig=signal.SIGTERM, wait=5.0):
        if p.poll() is None:
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=5)
        self.live.pop(p.pid, None)
        try:
            os.unlink(os.path.join(self.piddir, f"{p.pid}.pid"))
        except OSError:
            pass

    def stop_all(self):
        for _, (_, p) in list(self.live.items()):
            self.stop(p, wait=3.0)


def run_client(procs, name, cmd, timeout, stdout):
    """Runs a load generator on the client CPU; returns (rc, client_cpu_s, wall_s)."""
    t0 = time.monotonic()
    with open(stdout, "wb") as out:
        p = procs.start(name, cmd, CLIENT_CPU, out)
        deadline = t0 + timeout
        ru = None
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                p.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                log(f"{name}: over its {timeout:.0f} s bound; killing")
                os.killpg(p.pid, signal.SIGKILL)
                _, status, ru = os.wait4(p.pid, 0)
                p.returncode = -9
                break
            time.sleep(0.02)
        procs.live.pop(p.pid, None)
        try:
            os.unlink(os.path.join(procs.piddir, f"{p.pid}.pid"))
        except OSError:
            pass
    wall = time.monotonic() - t0
    return p.returncode, ru.ru_utime + ru.ru_stime, wall


def port_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class Ports:
    def __init__(self, base):
        self.next = base

    def take(self):
        for _ in range(2000):
            p = self.next
            self.next += 1
            if self.next > 19999:
                self.next = 18000
            if port_free(p):
                return p
        raise RuntimeError("no free port in 18000-19999")


def wait_port(port, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def http_get(url, timeout=2.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


# ---------------------------------------------------------------- configurations

def upstream_conf(d, port):
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/tmp-body; proxy_temp_path {d}/tmp-proxy;
  fastcgi_temp_path {d}/tmp-fcgi; uwsgi_temp_path {d}/tmp-uwsgi; scgi_temp_path {d}/tmp-scgi;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location = /small {{ default_type text/plain; return 200 "ok"; }}
    location = /big {{ default_type application/octet-stream; alias {d}/big.bin; }}
    # Connections the proxies open to the upstream: read around each measured window.
    location = /accepts {{ stub_status; }}
  }}
}}
"""


def nginx_conf(d, port, cert, key, up, client_ca=None):
    user = "user root;\n" if os.geteuid() == 0 else ""
    tls = f"""ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;"""
    if client_ca:
        tls += f"""
    ssl_client_certificate {client_ca};
    ssl_verify_client on;"""
    identity = """
      proxy_set_header X-Client-Verify $ssl_client_verify;
      proxy_set_header X-Client-Cert-Subject $ssl_client_s_dn;
      proxy_set_header X-Client-Cert-Fingerprint $ssl_client_fingerprint;""" if client_ca else ""
    return f"""{user}worker_processes 1;
worker_rlimit_nofile 19000;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 16000; }}
http {{
  client_body_temp_path {d}/tmp-body; proxy_temp_path {d}/tmp-proxy;
  fastcgi_temp_path {d}/tmp-fcgi; uwsgi_temp_path {d}/tmp-uwsgi; scgi_temp_path {d}/tmp-scgi;
  log_format bench '$remote_addr [$time_iso8601] "$request" $status $body_bytes_sent '
                   '$request_time $upstream_addr $upstream_response_time $ssl_server_name '
                   '$ssl_protocol $ssl_session_reused $request_id';
  access_log {d}/access.log bench buffer=64k flush=1s;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  map $http_x_request_id $reqid {{ default $http_x_request_id; "" $request_id; }}
  upstream app {{
    server 127.0.0.1:{up};
    keepalive 128;
    keepalive_requests 10000000;
    keepalive_timeout 50s;
  }}
  server {{
    listen 127.0.0.1:{port} ssl http2 default_server backlog=4096;
    {tls}
    return 421;
  }}
  server {{
    listen 127.0.0.1:{port} ssl http2;
    server_name {HOST};
    {tls}
    location / {{
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host {UPSTREAM_HOST};
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Forwarded-Port $server_port;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Request-Id $reqid;{identity}
      add_header X-Request-Id $reqid always;
    }}
  }}
}}
"""


def haproxy_conf(d, port, pem, up, client_ca=None):
    verify = f" ca-file {client_ca} verify required" if client_ca else ""
    identity = """
  http-request set-header X-Client-Verify %[ssl_c_verify]
  http-request set-header X-Client-Cert-Subject %{+Q}[ssl_c_s_dn]
  http-request set-header X-Client-Cert-Fingerprint %[ssl_c_der,sha2(256),hex]""" if client_ca else ""
    return f"""global
  nbthread 1
  maxconn 11000
  no strict-limits
  log stdout format raw local0
  ssl-default-bind-options ssl-min-ver TLSv1.2

defaults
  mode http
  log global
  option httplog
  option http-keep-alive
  timeout connect 2s
  timeout client 120s
  timeout server 60s
  timeout http-request 10s
  timeout http-keep-alive 120s

frontend fe
  bind 127.0.0.1:{port} ssl crt {pem} alpn h2,http/1.1{verify}
  unique-id-format %{{+X}}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid
  http-request set-header X-Request-Id %[unique-id] unless {{ req.hdr(x-request-id) -m found }}
  http-request set-var(txn.reqid) req.hdr(x-request-id)
  acl host_ok req.hdr(host),field(1,:) -i {HOST}
  http-request return status 421 content-type text/plain string "misdirected" unless host_ok
  option forwardfor
  http-request set-header X-Forwarded-Proto https
  http-request set-header X-Forwarded-Port %[dst_port]
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-response set-header X-Request-Id %[var(txn.reqid)]{identity}
  default_backend app

backend app
  http-reuse always
  http-request set-header Host {UPSTREAM_HOST}
  server up 127.0.0.1:{up} pool-max-conn 128 pool-purge-delay 50s
"""


def staticedge_conf(d, port, admin, cert, key, up, client_ca=None):
    client_auth = f'client_ca = "{client_ca}"\n' if client_ca else ""
    return f"""# written by tests/bench/bench.py
[server]
threads = 1
access_log = "{d}/access.log"
keepalive_timeout = "120s"
request_path = "{os.environ.get("STATICEDGE_REQUEST_PATH", "lean")}"

[admin]
listen = "127.0.0.1:{admin}"

[tls]
min_version = "1.2"

[[tls.certificate]]
cert = "{cert}"
key = "{key}"
{client_auth}
[[listener]]
listen = "127.0.0.1:{port}"

[[route]]
hosts = ["{HOST}"]
upstream = "app"
host_header = "upstream"

[upstream.app]
address = "127.0.0.1:{up}"
"""


class Running:
    """One fresh proxy process."""

    def __init__(self, name, proc, port, d, admin=None):
        self.name, self.proc, self.port, self.dir, self.admin = name, proc, port, d, admin
        self.extra = []

    def pids(self):
        return [self.proc.pid] + self.extra


def proxy_command(name, d, ports, args, up_port, cert_kind, single_process=False,
                  client_cert=False):
    """Writes `name`'s configuration into `d` and says how to run it: (port, admin port
    or None, command, stdout, stderr). Shared with profile.py, which runs the same
    command under callgrind; `single_process` keeps nginx in one process for that.
    `client_cert`: the proxy requires a client certificate from the bench client CA."""
    client_ca = os.path.join(args.certs, "client-ca.crt") if client_cert else None
    os.makedirs(d, exist_ok=True)
    port = ports.take()
    cert = os.path.join(args.certs, f"{cert_kind}.crt")
    key = os.path.join(args.certs, f"{cert_kind}.key")
    pem = os.path.join(args.certs, f"{cert_kind}.pem")
    errlog = os.path.join(d, "stderr.log")
    if name == "staticedge":
        admin = ports.take()
        cfg = os.path.join(d, "staticedge.toml")
        with open(cfg, "w") as f:
            f.write(staticedge_conf(d, port, admin, cert, key, up_port, client_ca))
        return port, admin, [args.bin, "run", "--config", cfg], errlog, None
    if name == "nginx":
        for t in ("tmp-body", "tmp-proxy", "tmp-fcgi", "tmp-uwsgi", "tmp-scgi"):
            os.makedirs(os.path.join(d, t), exist_ok=True)
        cfg = os.path.join(d, "nginx.conf")
        conf = nginx_conf(d, port, cert, key, up_port, client_ca)
        if single_process:
            conf = conf.replace("daemon off;", "daemon off;\nmaster_process off;")
        with open(cfg, "w") as f:
            f.write(conf)
        cmd = ["nginx", "-c", cfg, "-p", d, "-e", os.path.join(d, "error.log")]
        return port, None, cmd, errlog, None
    cfg = os.path.join(d, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(haproxy_conf(d, port, pem, up_port, client_ca))
    return port, None, ["haproxy", "-db", "-f", cfg], os.path.join(d, "access.log"), errlog


def start_proxy(procs, ports, name, d, cert_kind, args, up_port, client_cert=False):
    port, admin, cmd, out, err = proxy_command(name, d, ports, args, up_port, cert_kind,
                                               client_cert=client_cert)
    errlog = os.path.join(d, "stderr.log")
    p = procs.start(name, cmd, PROXY_CPU, out, err)
    run = Running(name, p, port, d, admin)
    if name == "staticedge":
        deadline = time.monotonic() + 30
        ready = False
        while time.monotonic() < deadline and p.poll() is None:
            try:
                if http_get(f"http://127.0.0.1:{admin}/readyz", 1.0)[0] == 200:
                    ready = True
                    break
            except OSError:
                pass
            time.sleep(0.1)
        if not ready or not wait_port(port, p, 10):
            raise RuntimeError(f"staticedge did not become ready:\n{tail(errlog)}")
    elif name == "nginx":
        if not wait_port(port, p, 15):
            raise RuntimeError(f"nginx did not start:\n{tail(errlog)}{tail(d + '/error.log')}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not children(p.pid):
            time.sleep(0.05)
        run.extra = children(p.pid)
        if len(run.extra) != 1:
            raise RuntimeError(f"nginx: expected one worker, found {run.extra}")
    elif not wait_port(port, p, 15):
        raise RuntimeError(f"haproxy did not start:\n{tail(errlog)}")
    # Refuse to measure a proxy whose threads are not all on the proxy CPU.
    for pid in run.pids():
        aff = os.sched_getaffinity(pid)
        if aff != {PROXY_CPU}:
            raise RuntimeError(f"{name} pid {pid} affinity {aff}, expected {{{PROXY_CPU}}}")
    return run


def stop_proxy(procs, run):
    # staticedge: SIGINT stops at once (SIGTERM would start the drain); the others
    # stop at once on SIGTERM.
    procs.stop(run.proc, signal.SIGINT if run.name == "staticedge" else signal.SIGTERM)


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def staticedge_metrics(run):
    out = {}
    try:
        _, body = http_get(f"http://127.0.0.1:{run.admin}/metrics", 2.0)
    except OSError:
        return out
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^(staticedge_requests_total|staticedge_access_log_dropped_total)"
                     r"(\{[^}]*\})?\s+([0-9.eE+-]+)$", line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0) + float(m.group(3))
    return out


# ---------------------------------------------------------------- load generators

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(text):
    r = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+),", text)
    if m:
        r["requests"] = int(m.group(1))
        r["duration_s"] = float(m.group(2)) * UNITS[m.group(3)] / 1000.0
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    r["rps"] = float(m.group(1)) if m else None
    for p in ("50", "99"):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        r[f"p{p}_ms"] = float(m.group(1)) * UNITS[m.group(2)] if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    r["errors"] = sum(int(x) for x in m.groups()) if m else 0
    return r


def parse_h2load(text, logfile):
    r = {}
    m = re.search(r"finished in ([\d.]+)(\w+), ([\d.]+) req/s", text)
    if m:
        r["duration_s"] = float(m.group(1)) * UNITS.get(m.group(2), 1000.0) / 1000.0
        r["rps"] = float(m.group(3))
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", text)
    if m:
        g = [int(x) for x in m.groups()]
        r["requests"] = g[3]
        r["errors"] = g[4] + g[5] + g[6]
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    r["non2xx"] = sum(int(x) for x in m.groups()[1:]) if m else 0
    lat = []
    try:
        with open(logfile) as f:
            for line in f:
                parts = line.split("\t")
                if len(parts) >= 3:
                    lat.append(int(parts[2]) / 1000.0)
    except OSError:
        pass
    lat.sort()
    r["p50_ms"] = pct(lat, 50)
    r["p99_ms"] = pct(lat, 99)
    return r


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    i = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * len(sorted_vals))) - 1))
    return sorted_vals[i]


def client_cmd(sc, run, args, cfg, warm):
    url = f"https://127.0.0.1:{run.port}"
    if sc["kind"] == "wrk":
        d = cfg["ka_warm_s"] if warm else cfg["ka_s"]
        return ["wrk", "-t1", "-c50", f"-d{d}s", "--latency", "-H", f"Host: {HOST}",
                url + sc["path"]]
    if sc["kind"] == "h2":
        d = cfg["h2_warm_s"] if warm else cfg["h2_s"]
        cmd = ["h2load", "-t1", "-c50", "-m10", "-D", str(d), "-H", f":authority: {HOST}"]
        if not warm:
            cmd += ["--log-file", os.path.join(run.dir, "h2load.log")]
        return cmd + [url + sc["path"]]
    if sc["kind"] == "hs":
        d = cfg["hs_warm_s"] if warm else cfg["hs_s"]
        cmd = [sys.executable, os.path.join(HERE, "hsclient.py"), "--port", str(run.port),
               "--tls", sc["tls"], "--duration", str(d), "--workers", str(args.hs_workers),
               "--cert", os.path.join(args.certs, f"{sc['cert']}.crt")]
        if sc.get("client_cert"):
            cmd += ["--client-cert", os.path.join(args.certs, "client.crt"),
                    "--client-key", os.path.join(args.certs, "client.key")]
        if warm:
            cmd.append("--probe-resume")
        return cmd
    raise ValueError(sc["kind"])


def readings(pids, up_pids):
    """The counters read just before and just after a measured load."""
    return {
        "cpu": sum(proc_ticks(p) for p in pids),
        "sys": sum(proc_sys_ticks(p) for p in pids),
        "upstream": sum(proc_ticks(p) for p in up_pids),
        "ctx": sum(sum(ctx_switches(p)) for p in pids),
        "busy": cpu_busy_ticks(PROXY_CPU),
        "load": loadavg(),
    }


def upstream_accepts(upstream):
    """Connections the upstream has accepted so far (nginx stub_status), or None.

    Each reading opens one connection of its own; upstream_new_conns subtracts it."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{upstream.port}/accepts", timeout=5) as r:
            return int(r.read().decode().splitlines()[2].split()[0])
    except (OSError, ValueError, IndexError):
        return None


def measure_load(procs, sc, run, args, cfg, upstream):
    """Warm-up, then the measured load with CPU readings around it."""
    warm_out = os.path.join(run.dir, "warmup.out")
    warm_bound = 60 + 2 * max(cfg["ka_warm_s"], cfg["hs_warm_s"], cfg["h2_warm_s"])
    rc, _, _ = run_client(procs, "warmup", client_cmd(sc, run, args, cfg, True), warm_bound,
                          warm_out)
    warm_text = open(warm_out, errors="replace").read()
    if rc != 0:
        raise RuntimeError(f"warm-up failed (rc {rc}):\n{warm_text[-2000:]}")
    warm_requests = 0
    probe = without_cert = None
    if sc["kind"] == "wrk":
        warm_requests = parse_wrk(warm_text).get("requests", 0)
    elif sc["kind"] == "h2":
        warm_requests = parse_h2load(warm_text, "/nonexistent").get("requests", 0)
    else:
        w = json.loads(warm_text.strip().splitlines()[-1])
        warm_requests = w["requests"] + 2
        probe = w.get("probe")
        without_cert = w.get("without_client_cert")

    out = os.path.join(run.dir, "load.out")
    cmd = client_cmd(sc, run, args, cfg, False)
    dur = {"wrk": cfg["ka_s"], "h2": cfg["h2_s"], "hs": cfg["hs_s"]}[sc["kind"]]
    pids = run.pids()
    up_pids = upstream.pids()
    time.sleep(0.3)
    accepts_before = upstream_accepts(upstream)
    before = readings(pids, up_pids)
    rc, client_cpu, wall = run_client(procs, "load", cmd, dur + 60, out)
    after = readings(pids, up_pids)
    accepts_after = upstream_accepts(upstream)
    delta = {k: after[k] - before[k] for k in ("cpu", "sys", "upstream", "ctx", "busy")}
    text = open(out, errors="replace").read()
    if rc != 0:
        raise RuntimeError(f"load generator failed (rc {rc}):\n{text[-2000:]}")
    if sc["kind"] == "wrk":
        r = parse_wrk(text)
    elif sc["kind"] == "h2":
        r = parse_h2load(text, os.path.join(run.dir, "h2load.log"))
        try:
            os.unlink(os.path.join(run.dir, "h2load.log"))
        except OSError:
            pass
    else:
        j = json.loads(text.strip().splitlines()[-1])
        r = {"requests": j["requests"], "rps": j["rps"], "p50_ms": j["p50_ms"],
             "p99_ms": j["p99_ms"], "errors": j["errors"], "non2xx": j["wrong"],
             "resumed": j["resumed"], "first_error": j["first_error"],
             "duration_s": j["elapsed_s"]}
        r["resume_probe"] = probe
        if sc.get("client_cert"):
            r["without_client_cert"] = without_cert
    n = r.get("requests") or 0
    cpu_s = delta["cpu"] / CLK_TCK
    r.update({
        "cpu_s": cpu_s,
        "cpu_us_per_req": cpu_s * 1e6 / n if n else None,
        "sys_us_per_req": delta["sys"] / CLK_TCK * 1e6 / n if n else None,
        "proxy_cpu_pct": 100.0 * cpu_s / wall,
        "client_cpu_pct": 100.0 * client_cpu / wall,
        "upstream_cpu_pct": 100.0 * delta["upstream"] / CLK_TCK / wall,
        "other_on_proxy_cpu_pct": max(0.0, 100.0 * (delta["busy"] - delta["cpu"]) / CLK_TCK / wall),
        "ctx_switches_per_req": delta["ctx"] / n if n else None,
        "loadavg": [before["load"], after["load"]],
        "window_s": wall,
        "warmup_requests": warm_requests,
        # New upstream connections during the measured window (after warm-up): a pool
        # that keeps enough idle connections for the concurrency shows about 0.
        "upstream_new_conns": (accepts_after - accepts_before - 1
                               if accepts_before is not None and accepts_after is not None
                               else None),
    })
    return r


def measure_idle(procs, sc, run, args, cfg, upstream):
    # Warm the proxy (buffers, upstream pool) so the baseline is a steady state.
    rc, _, _ = run_client(procs, "warmup", ["wrk", "-t1", "-c10", "-d1s", "-H", f"Host: {HOST}",
                                            f"https://127.0.0.1:{run.port}/small"], 30,
                          os.path.join(run.dir, "warmup.out"))
    if rc != 0:
        raise RuntimeError("idle warm-up failed")
    time.sleep(1.0)
    pids = run.pids()
    before = sum(proc_status(p, "VmRSS") for p in pids)
    c0 = sum(proc_ticks(p) for p in pids)
    n = cfg["idle_conns"]
    p = procs.start("idle", [sys.executable, os.path.join(HERE, "idle.py"), "--port",
                             str(run.port), "--count", str(n), "--open-timeout", "90",
                             "--hold", "60"],
                    CLIENT_CPU, subprocess.PIPE, os.path.join(run.dir, "idle.err"),
                    stdin=subprocess.PIPE)
    t0 = time.monotonic()

    def line(timeout):
        rl, _, _ = select.select([p.stdout], [], [], timeout)
        if not rl:
            return None
        s = p.stdout.readline()
        return json.loads(s) if s else None

    first = line(120)
    if not first or "opened" not in first:
        procs.stop(p, signal.SIGKILL)
        raise RuntimeError(f"idle client failed: {first} {tail(os.path.join(run.dir, 'idle.err'))}")
    open_s = time.monotonic() - t0
    c1 = sum(proc_ticks(x) for x in pids)
    time.sleep(1.0)
    after = sum(proc_status(x, "VmRSS") for x in pids)
    p.stdin.write(b"close\n")
    p.stdin.flush()
    second = line(30) or {}
    try:
        p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    procs.stop(p)
    opened = first["opened"]
    return {
        "requests": opened,
        "opened": opened, "failed": first["failed"], "timed_out": first["timed_out"],
        "first_error": first.get("first_error"),
        "alive_at_close": second.get("alive_at_close"),
        "rss_before_kib": before, "rss_after_kib": after,
        "rss_per_conn_kib": (after - before) / opened if opened else None,
        "open_s": open_s,
        "cpu_us_per_conn_open": (c1 - c0) / CLK_TCK * 1e6 / opened if opened else None,
        "errors": first["failed"] + first["timed_out"],
    }


# ---------------------------------------------------------------- summary

def stats(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "n": len(vals)}


SUMMARY_KEYS = ["cpu_us_per_req", "sys_us_per_req", "rps", "p50_ms", "p99_ms", "peak_rss_kib",
                "rss_per_conn_kib",
                "cpu_us_per_conn_open", "ctx_switches_per_req", "client_cpu_pct",
                "proxy_cpu_pct", "other_on_proxy_cpu_pct", "threads", "upstream_new_conns"]
RATIO_KEYS = ["cpu_us_per_req", "p99_ms", "peak_rss_kib", "rss_per_conn_kib"]


def summarize(records, rounds):
    summary, ratios = {}, {}
    for sc in SCENARIOS:
        sid = sc["id"]
        recs = [r for r in records if r["scenario"] == sid]
        if not recs:
            continue
        summary[sid] = {}
        for px in PROXIES:
            mine = [r for r in recs if r["proxy"] == px]
            summary[sid][px] = {k: stats([r.get(k) for r in mine]) for k in SUMMARY_KEYS}
        ratios[sid] = {}
        for key in RATIO_KEYS:
            per = {"staticedge/nginx": [], "haproxy/nginx": [], "staticedge/haproxy": []}
            for rnd in range(1, rounds + 1):
                by = {r["proxy"]: r.get(key) for r in recs if r["round"] == rnd}
                for pair in per:
                    a, b = pair.split("/")
                    if by.get(a) is not None and by.get(b):
                        per[pair].append(by[a] / by[b])
            ratios[sid][key] = {pair: dict(stats(v) or {}, rounds=v) if v else None
                                for pair, v in per.items()}
    return summary, ratios


def targets(ratios):
    def med(sid, key, pair):
        try:
            return ratios[sid][key][pair]["median"]
        except (KeyError, TypeError):
            return None

    t = [
        ("(a) CPU/req <= nginx", med("a", "cpu_us_per_req", "staticedge/nginx"), 1.0),
        ("(a) p99 latency <= nginx", med("a", "p99_ms", "staticedge/nginx"), 1.0),
        ("(b) CPU/req <= 0.9 x nginx", med("b", "cpu_us_per_req", "staticedge/nginx"), 0.9),
        ("(c) TLS 1.3 ECDSA handshake CPU <= 0.7 x nginx",
         med("c13e", "cpu_us_per_req", "staticedge/nginx"), 0.7),
        ("(c) TLS 1.3 RSA-2048 handshake CPU <= 0.85 x nginx",
         med("c13r", "cpu_us_per_req", "staticedge/nginx"), 0.85),
        ("(d) HTTP/2 CPU/req <= 1.2 x nginx", med("d", "cpu_us_per_req", "staticedge/nginx"), 1.2),
        ("(e) RSS per idle connection <= nginx",
         med("e", "rss_per_conn_kib", "staticedge/nginx"), 1.0),
    ]
    for sc in SCENARIOS:
        t.append((f"peak RSS {sc['id']} <= nginx",
                  med(sc["id"], "peak_rss_kib", "staticedge/nginx"), 1.0))
    return [{"target": name, "ratio": r, "limit": lim,
             "met": (r is not None and r <= lim),
             "by": (None if r is None else r / lim)} for name, r, lim in t]


def fmt(v, nd=1):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{nd}f}"


def cell(st, nd=1, scale=1.0):
    if not st:
        return "-"
    m, lo, hi = st["median"] * scale, st["min"] * scale, st["max"] * scale
    if st["n"] == 1:
        return fmt(m, nd)
    return f"{fmt(m, nd)} ({fmt(lo, nd)}–{fmt(hi, nd)})"


def markdown(doc):
    s, r = doc["summary"], doc["ratios"]
    meta = doc["meta"]
    out = [f"# staticedge vs nginx vs HAProxy — {meta['mode']} run, {meta['finished']}", ""]
    out.append(f"{meta['rounds']} round(s); proxies alternate within each round; medians with "
               "(min–max) over rounds; ratios are computed within each round, then the median "
               "(min–max) is shown. CPU = the proxy's utime+stime (all threads; nginx master + "
               f"worker) on CPU {meta['proxy_cpu']} during the measured window, per request. "
               f"Access logs on for all three; staticedge metrics on (always). "
               f"Machine: {meta['machine']['cpu_model']}, {meta['machine']['nproc']} CPUs, "
               f"kernel {meta['machine']['kernel']}.")
    v = meta["versions"]
    out += ["", f"Versions: {v.get('staticedge')} (commit {v.get('staticedge_commit')}, binary "
            f"built {v.get('staticedge_binary_built')}); {v.get('nginx')}; "
            f"{(v.get('haproxy') or '').split(' - ')[0]}; {(v.get('wrk') or '').split(' [')[0]}; "
            f"{v.get('h2load')}; handshake and idle clients: Python {v.get('python')} with "
            f"{v.get('openssl_python')}. Command: `{meta.get('command')}`; run took "
            f"{meta.get('elapsed_s')} s." + (f" TRUNCATED: {meta['truncated']}"
                                             if meta.get("truncated") else "")]
    out.append("")
    out.append("| scenario | proxy | CPU µs/req | vs nginx | req/s | p50 ms | p99 ms "
               "| peak RSS MiB |")
    out.append("|---|---|---|---|---|---|---|---|")
    for sc in SCENARIOS:
        sid = sc["id"]
        if sid not in s or sc["kind"] == "idle":
            continue
        for px in PROXIES:
            st = s[sid][px]
            ratio = "1" if px == "nginx" else cell(
                (r[sid]["cpu_us_per_req"] or {}).get(f"{px}/nginx"), 2)
            out.append(f"| {sc['title']} | {px} | {cell(st['cpu_us_per_req'])} | {ratio} | "
                       f"{cell(st['rps'], 0)} | {cell(st['p50_ms'], 2)} | "
                       f"{cell(st['p99_ms'], 2)} | {cell(st['peak_rss_kib'], 1, 1 / 1024)} |")
    if "e" in s:
        out += ["", f"(e) {meta['idle_conns']:,} idle keep-alive TLS connections "
                "(one request each, then held open):", "",
                "| proxy | RSS KiB per connection | vs nginx | peak RSS MiB | "
                "CPU µs per new connection (handshake + 1 request) |",
                "|---|---|---|---|---|"]
        for px in PROXIES:
            st = s["e"][px]
            ratio = "1" if px == "nginx" else cell(
                (r["e"]["rss_per_conn_kib"] or {}).get(f"{px}/nginx"), 2)
            out.append(f"| {px} | {cell(st['rss_per_conn_kib'], 1)} | {ratio} | "
                       f"{cell(st['peak_rss_kib'], 1, 1 / 1024)} | "
                       f"{cell(st['cpu_us_per_conn_open'], 0)} |")
    out += ["", "Targets (docs/benchmarks.md; median of per-round ratios, lower is better):", "",
            "| target | staticedge ratio | limit | met |", "|---|---|---|---|"]
    for t in doc["targets"]:
        met = "-" if t["ratio"] is None else ("yes" if t["met"] else
                                              f"**no** ({t['by']:.2f}x the limit)")
        out.append(f"| {t['target']} | {fmt(t['ratio'], 2)} | {t['limit']} | {met} |")
    out += ["", "Checks:", ""]
    for c in doc["checks"]:
        out.append(f"- {c}")
    out += ["", "Context per scenario (median): the load generator's CPU (its core also runs "
            "the upstream), the proxy's CPU, other processes on the proxy's core, the part of "
            "the proxy's CPU spent in the kernel, context switches per request (all threads), "
            "threads, and the connections the proxy opened to the upstream during the "
            "measured window (after warm-up; about 0 means its pool kept up):", "",
            "| scenario | proxy | client CPU % | proxy CPU % | other on proxy CPU % | "
            "kernel µs/req | ctx sw/req | threads | new upstream conns |",
            "|---|---|---|---|---|---|---|---|---|"]
    for sc in SCENARIOS:
        sid = sc["id"]
        if sid not in s or sc["kind"] == "idle":
            continue
        for px in PROXIES:
            st = s[sid][px]
            out.append(f"| {sid} | {px} | {cell(st['client_cpu_pct'], 0)} | "
                       f"{cell(st['proxy_cpu_pct'], 0)} | "
                       f"{cell(st['other_on_proxy_cpu_pct'], 0)} | "
                       f"{cell(st['sys_us_per_req'], 1)} | "
                       f"{cell(st['ctx_switches_per_req'], 2)} | {cell(st['threads'], 0)} | "
                       f"{cell(st['upstream_new_conns'], 0)} |")
    out.append("")
    return "\n".join(out)


def checks(records):
    out = []
    hs = [r for r in records if r["scenario"].startswith("c")]
    if hs:
        resumed = sum(r.get("resumed", 0) for r in hs)
        total = sum(r.get("requests", 0) for r in hs)
        probes = [r.get("resume_probe") for r in hs if r.get("resume_probe")]
        caught = sum(1 for p in probes if p.get("offered_session_reused"))
        out.append(f"full handshakes: {resumed} of {total:,} measured connections were resumed "
                   f"(session_reused checked on every connection); control probe: offering the "
                   f"previous session was resumed in {caught} of {len(probes)} runs, so the "
                   "check does see resumption when it happens")
    mtls = [r for r in records if "without_client_cert" in r]
    if mtls:
        served = [f"{r['proxy']}/round {r['round']}" for r in mtls
                  if not str(r["without_client_cert"]).startswith("refused")]
        out.append("client certificates (c13m): a connection without one was " + (
            f"refused by every proxy in all {len(mtls)} runs" if not served
            else "SERVED by " + ", ".join(served) + ": that run did not require one"))
    errs = [(r["scenario"], r["proxy"], r["round"], r.get("errors", 0), r.get("non2xx", 0))
            for r in records if r.get("errors") or r.get("non2xx")]
    out.append("errors or non-2xx answers: " + (
        "none" if not errs else "; ".join(f"{s}/{p}/round {n}: {e} errors, {x} non-2xx"
                                          for s, p, n, e, x in errs)))
    logs = [r for r in records if r.get("log_coverage") is not None]
    if logs:
        lo = min(r["log_coverage"] for r in logs)
        drops = sum(r.get("access_log_dropped", 0) or 0 for r in records)
        out.append(f"access log on for all three: lines written / requests answered >= "
                   f"{lo:.3f} in every run; staticedge access_log_dropped_total = {drops:.0f}")
    idle = [r for r in records if r["scenario"] == "e"]
    if idle:
        out.append("idle connections opened: " + ", ".join(
            f"{r['proxy']} r{r['round']} {r['opened']}/{r.get('alive_at_close')} alive at close"
            for r in idle))
    pooled = [r for r in records if r["proxy"] == "staticedge"
              and r.get("upstream_new_conns") is not None]
    if pooled:
        worst = max(pooled, key=lambda r: r["upstream_new_conns"])
        out.append(f"new upstream connections opened by staticedge in a measured window (after "
                   f"warm-up): at most {worst['upstream_new_conns']} ({worst['scenario']}, round "
                   f"{worst['round']}) over {len(pooled)} runs")
    busy = [r for r in records if (r.get("other_on_proxy_cpu_pct") or 0) > 10]
    out.append("foreign load on the proxy core above 10 %: " + (
        "none" if not busy else ", ".join(
            f"{r['scenario']}/{r['proxy']}/r{r['round']} {r['other_on_proxy_cpu_pct']:.0f}%"
            for r in busy)))
    return out


# ---------------------------------------------------------------- main

def versions(args):
    def cmd(c):
        try:
            p = subprocess.run(c, capture_output=True, text=True, timeout=10)
            return (p.stdout + p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return None
    def git(*a):
        try:
            return subprocess.run(["git", "-C", HERE] + list(a), capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    commit = git("rev-parse", "--short", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", ":/crates"))
    return {"staticedge": cmd([args.bin, "--version"]),
            "staticedge_commit": commit + (" (crates/ modified)" if dirty else ""),
            "staticedge_binary_built": dt.datetime.fromtimestamp(
                os.path.getmtime(args.bin), dt.timezone.utc).isoformat(timespec="seconds"),
            "nginx": cmd(["nginx", "-v"]),
            "haproxy": cmd(["haproxy", "-v"]), "wrk": cmd(["wrk", "-v"]),
            "h2load": cmd(["h2load", "--version"]),
            "python": platform.python_version(),
            "openssl_python": __import__("ssl").OPENSSL_VERSION}


def machine():
    model = None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
            "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


PROXY_CPU = 1
CLIENT_CPU = 0


def main():
    global PROXY_CPU, CLIENT_CPU
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--certs", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--scenarios", help="comma-separated ids (a,b,c13e,c13r,c12e,c13m,d,e)")
    ap.add_argument("--proxies", help="comma-separated subset of staticedge,nginx,haproxy")
    ap.add_argument("--hs-workers", type=int, default=3)
    ap.add_argument("--proxy-cpu", type=int, default=1)
    ap.add_argument("--client-cpu", type=int, default=0)
    args = ap.parse_args()
    PROXY_CPU, CLIENT_CPU = args.proxy_cpu, args.client_cpu
    cfg = dict(QUICK if args.quick else FULL)
    if args.rounds:
        cfg["rounds"] = args.rounds
    scen = [s for s in SCENARIOS if not args.scenarios or s["id"] in args.scenarios.split(",")]
    proxies = [p for p in PROXIES if not args.proxies or p in args.proxies.split(",")]

    procs = Procs(os.path.join(args.work, "pids"))
    ports = Ports(18000 + (os.getpid() % 50) * 20)
    started = time.monotonic()
    doc = {"meta": {"mode": "quick" if args.quick else "full", "rounds": cfg["rounds"],
                    "config": cfg, "proxy_cpu": PROXY_CPU, "client_cpu": CLIENT_CPU,
                    "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "machine": machine(), "versions": versions(args),
                    "idle_conns": cfg["idle_conns"], "hs_workers": args.hs_workers,
                    "command": "make bench" + (" (run.sh --quick)" if args.quick else "")},
           "records": []}
    log(f"versions: {doc['meta']['versions']}")

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    try:
        # The upstream: nginx, one worker, on the client CPU.
        ud = os.path.join(args.work, "upstream")
        os.makedirs(ud, exist_ok=True)
        for t in ("tmp-body", "tmp-proxy", "tmp-fcgi", "tmp-uwsgi", "tmp-scgi"):
            os.makedirs(os.path.join(ud, t), exist_ok=True)
        with open(os.path.join(ud, "big.bin"), "wb") as f:
            f.write((b"0123456789abcdef" * (BIG // 16)))
        up_port = ports.take()
        with open(os.path.join(ud, "nginx.conf"), "w") as f:
            f.write(upstream_conf(ud, up_port))
        up = procs.start("upstream", ["nginx", "-c", os.path.join(ud, "nginx.conf"), "-p", ud,
                                      "-e", os.path.join(ud, "error.log")], CLIENT_CPU,
                         os.path.join(ud, "stderr.log"))
        if not wait_port(up_port, up, 15):
            raise RuntimeError(f"upstream nginx did not start:\n{tail(ud + '/stderr.log')}")
        time.sleep(0.2)
        upstream = Running("upstream", up, up_port, ud)
        upstream.extra = children(up.pid)
        assert http_get(f"http://127.0.0.1:{up_port}/small")[1] == b"ok"
        assert len(http_get(f"http://127.0.0.1:{up_port}/big")[1]) == BIG

        for rnd in range(1, cfg["rounds"] + 1):
            order = proxies[(rnd - 1) % len(proxies):] + proxies[:(rnd - 1) % len(proxies)]
            for sc in scen:
                for px in order:
                    if time.monotonic() - started > cfg["deadline_s"]:
                        raise TimeoutError(f"over the {cfg['deadline_s']} s bound of the run; "
                                           f"stopped in round {rnd}")
                    d = os.path.join(args.work, f"r{rnd}-{sc['id']}-{px}")
                    if os.path.isdir(d):
                        for fn in os.listdir(d):
                            fp = os.path.join(d, fn)
                            if os.path.isfile(fp):
                                os.unlink(fp)
                    run = start_proxy(procs, ports, px, d, sc["cert"], args, up_port,
                                      sc.get("client_cert", False))
                    try:
                        if sc["kind"] == "idle":
                            rec = measure_idle(procs, sc, run, args, cfg, upstream)
                        else:
                            rec = measure_load(procs, sc, run, args, cfg, upstream)
                        rec["peak_rss_kib"] = sum(proc_status(p, "VmHWM") for p in run.pids())
                        rec["threads"] = sum(proc_status(p, "Threads") for p in run.pids())
                        if px == "staticedge":
                            time.sleep(0.6)  # the log writer flushes every batch
                            m = staticedge_metrics(run)
                            rec["access_log_dropped"] = m.get(
                                "staticedge_access_log_dropped_total")
                            rec["staticedge_requests_total"] = m.get("staticedge_requests_total")
                    finally:
                        stop_proxy(procs, run)
                    if sc["kind"] != "idle":
                        answered = (rec.get("requests") or 0) + rec.get("warmup_requests", 0)
                        lines = count_lines(os.path.join(d, "access.log"))
                        rec["log_lines"] = lines
                        rec["log_coverage"] = lines / answered if answered else None
                    rec.update({"round": rnd, "scenario": sc["id"], "proxy": px})
                    doc["records"].append(rec)
                    log(f"r{rnd} {sc['id']:5} {px:10} "
                        + (f"cpu/req {fmt(rec.get('cpu_us_per_req'))} us  "
                           f"rps {fmt(rec.get('rps'), 0)}  p99 {fmt(rec.get('p99_ms'), 2)} ms  "
                           if sc["kind"] != "idle" else
                           f"opened {rec['opened']}  "
                           f"rss/conn {fmt(rec['rss_per_conn_kib'], 2)} KiB  ")
                        + f"peak {rec['peak_rss_kib'] / 1024:.1f} MiB  "
                        f"client {fmt(rec.get('client_cpu_pct'), 0)}%  "
                        f"other {fmt(rec.get('other_on_proxy_cpu_pct'), 0)}%  "
                        f"load {loadavg():.2f}")
    except TimeoutError as e:
        log(str(e))
        doc["meta"]["truncated"] = str(e)
    finally:
        procs.stop_all()

    doc["meta"]["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    doc["meta"]["elapsed_s"] = round(time.monotonic() - started, 1)
    doc["summary"], doc["ratios"] = summarize(doc["records"], cfg["rounds"])
    doc["targets"] = targets(doc["ratios"])
    doc["checks"] = checks(doc["records"])
    os.makedirs(args.results, exist_ok=True)
    stem = "quick" if args.quick else "latest"
    with open(os.path.join(args.results, f"{stem}.json"), "w") as f:
        json.dump(doc, f, indent=1)
    md = markdown(doc)
    with open(os.path.join(args.results, f"{stem}.md"), "w") as f:
        f.write(md)
    print(md)
    log(f"wrote {args.results}/{stem}.json and {stem}.md in {doc['meta']['elapsed_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
