#!/usr/bin/env python3
"""Full-handshake load: a new TLS connection per request, session resumption off.

Each connection: TCP connect, a full TLS handshake (no session is ever offered, so
the server cannot resume), one `GET` over HTTP/1.1, read the whole response, close.
Every connection is checked: not resumed (`session_reused` is False), the expected
TLS version, the expected server certificate (DER bytes), status 200 and the body
length. Several worker processes run side by side so that the proxy's half of a
handshake overlaps the client's half.

Prints one JSON object on stdout. `--probe-resume` first shows that the check
would catch resumption: it connects once, keeps the session (TLS 1.3 tickets
arrive after the response), reconnects offering it and reports whether the server
resumed. That probe is not part of the measured load.
"""

import argparse
import json
import multiprocessing as mp
import socket
import ssl
import sys
import time

REQ = "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: staticedge-bench\r\n\r\n"


def make_ctx(version, client_cert=None, client_key=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if client_cert:
        ctx.load_cert_chain(client_cert, client_key)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    if version == "1.3":
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    # No session is ever passed to wrap_socket and OpenSSL clients keep no session
    # cache of their own, so every handshake is a full one (checked per connection).
    return ctx


def read_response(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response header")
        buf += chunk
        if len(buf) > 1 << 20:
            raise ConnectionError("response header too large")
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = None
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    if length is None:
        raise ConnectionError("no content-length")
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside the body")
        body += chunk
    return status, len(body)


def one(ctx, args, session=None):
    """One connection, one request. Returns (latency_s, tls_socket_facts)."""
    t0 = time.perf_counter()
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=5)
    try:
        s = ctx.wrap_socket(raw, server_hostname=args.sni, session=session)
        s.sendall(REQ.format(path=args.path, host=args.host).encode())
        status, blen = read_response(s)
        facts = (s.session_reused, s.version(), s.getpeercert(binary_form=True),
                 status, blen, s.session)
        s.close()
    finally:
        raw.close()
    return time.perf_counter() - t0, facts


def worker(args, expected_der, deadline, q):
    ctx = make_ctx(args.tls, args.client_cert, args.client_key)
    want_version = "TLSv1.3" if args.tls == "1.3" else "TLSv1.2"
    ok = errors = resumed = wrong = 0
    lat = []
    first_error = None
    n = 0
    while time.perf_counter() < deadline and n < args.max_per_worker:
        n += 1
        try:
            dt, (reused, version, der, status, blen, _) = one(ctx, args)
        except (OSError, ssl.SSLError, ConnectionError, ValueError) as e:
            errors += 1
            first_error = first_error or repr(e)
            continue
        if reused:
            resumed += 1
        if version != want_version or (expected_der and der != expected_der) \
                or status != 200 or (args.body >= 0 and blen != args.body):
            wrong += 1
            first_error = first_error or f"unexpected: {version} status={status} body={blen}"
            continue
        ok += 1
        lat.append(dt)
    q.put({"ok": ok, "errors": errors, "resumed": resumed, "wrong": wrong,
           "lat": lat, "first_error": first_error})


def probe_resume(args):
    """Shows the check works: offering the previous session must resume it."""
    ctx = make_ctx(args.tls, args.client_cert, args.client_key)
    _, first = one(ctx, args)
    session = first[5]
    try:
        _, second = one(ctx, args, session=session)
        return {"first_reused": first[0], "offered_session_reused": second[0]}
    except (OSError, ssl.SSLError, ConnectionError) as e:
        return {"first_reused": first[0], "offered_session_reused": None, "error": repr(e)}


def probe_client_cert(args):
    """Shows the proxy really requires the client certificate: one connection without
    it must be refused (a failed handshake, or an HTTP error as nginx answers)."""
    ctx = make_ctx(args.tls)
    try:
        _, facts = one(ctx, args)
        return "served" if facts[3] == 200 else f"refused with status {facts[3]}"
    except (OSError, ssl.SSLError, ConnectionError, ValueError) as e:
        return f"refused: {type(e).__name__}"


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    i = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * len(sorted_vals))) - 1))
    return sorted_vals[i]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls", choices=["1.2", "1.3"], default="1.3")
    ap.add_argument("--sni", default="bench.test")
    ap.add_argument("--host", default="bench.test")
    ap.add_argument("--path", default="/small")
    ap.add_argument("--body", type=int, default=2, help="expected body length, -1: any")
    ap.add_argument("--cert", help="PEM of the certificate the server must present")
    ap.add_argument("--client-cert", help="PEM client certificate to present")
    ap.add_argument("--client-key", help="its private key")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--max-per-worker", type=int, default=200000)
    ap.add_argument("--probe-resume", action="store_true")
    args = ap.parse_args()

    expected_der = None
    if args.cert:
        with open(args.cert) as f:
            expected_der = ssl.PEM_cert_to_DER_cert(f.read())

    out = {}
    if args.probe_resume:
        out["probe"] = probe_resume(args)
        if args.client_cert:
            out["without_client_cert"] = probe_client_cert(args)

    q = mp.Queue()
    t0 = time.perf_counter()
    deadline = t0 + args.duration
    procs = [mp.Process(target=worker, args=(args, expected_der, deadline, q))
             for _ in range(args.workers)]
    for p in procs:
        p.start()
    results = [q.get(timeout=args.duration + 60) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    elapsed = time.perf_counter() - t0
    lat = sorted(x for r in results for x in r["lat"])
    ok = sum(r["ok"] for r in results)
    out.update({
        "requests": ok,
        "errors": sum(r["errors"] for r in results),
        "resumed": sum(r["resumed"] for r in results),
        "wrong": sum(r["wrong"] for r in results),
        "first_error": next((r["first_error"] for r in results if r["first_error"]), None),
        "elapsed_s": elapsed,
        "rps": ok / elapsed if elapsed > 0 else 0.0,
        "p50_ms": pct(lat, 50) * 1000 if lat else None,
        "p99_ms": pct(lat, 99) * 1000 if lat else None,
        "tls": args.tls,
    })
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
