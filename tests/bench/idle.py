#!/usr/bin/env python3
"""Opens N keep-alive TLS connections, one request on each, then holds them idle.

Protocol with the caller (bench.py): prints one JSON line when every connection is
open (or the open phase ran out of time), then waits for a line on stdin (or
--hold seconds) and closes everything, printing a second JSON line.
"""

import argparse
import asyncio
import json
import resource
import ssl
import sys
import time

REQ = b"GET /small HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: staticedge-bench\r\n\r\n"


async def open_one(args, ctx, sem, conns, stats):
    async with sem:
        try:
            r, w = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", args.port, ssl=ctx,
                                        server_hostname="bench.test"), 10)
            w.write(REQ)
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v.strip())
            await asyncio.wait_for(r.readexactly(length), 10)
            if not head.startswith(b"HTTP/1.1 200"):
                stats["bad_status"] += 1
            conns.append((r, w))
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                ssl.SSLError, ValueError) as e:
            stats["failed"] += 1
            stats["first_error"] = stats["first_error"] or repr(e)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--open-timeout", type=float, default=90.0)
    ap.add_argument("--hold", type=float, default=60.0)
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, args.count + 1000) if hard != resource.RLIM_INFINITY else args.count + 1000
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < args.count + 100:
        print(json.dumps({"error": f"RLIMIT_NOFILE hard limit {hard} too low"}), flush=True)
        return 2

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    sem = asyncio.Semaphore(args.concurrency)
    conns = []
    stats = {"failed": 0, "bad_status": 0, "first_error": None}
    t0 = time.monotonic()
    tasks = [asyncio.ensure_future(open_one(args, ctx, sem, conns, stats))
             for _ in range(args.count)]
    done, pending = await asyncio.wait(tasks, timeout=args.open_timeout)
    for t in pending:
        t.cancel()
    print(json.dumps({"opened": len(conns), "failed": stats["failed"],
                      "bad_status": stats["bad_status"], "timed_out": len(pending),
                      "first_error": stats["first_error"],
                      "open_s": round(time.monotonic() - t0, 2)}), flush=True)

    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), args.hold)
    except asyncio.TimeoutError:
        pass
    # Still open at the end? A proxy that dropped idle connections shows up here.
    await asyncio.sleep(0.2)
    alive = sum(1 for r, w in conns if not r.at_eof() and not w.is_closing())
    for _, w in conns:
        w.transport.abort()
    print(json.dumps({"closed": len(conns), "alive_at_close": alive}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
