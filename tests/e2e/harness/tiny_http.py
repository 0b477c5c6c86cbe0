"""Tiny HTTP/1.1 servers, one per address, all on one port, in one process.

    python tiny_http.py PORT IP [IP...]

Every response is 200 with `X-Served-By: <the address that answered>` and a JSON body;
`/slow?s=N` sleeps N seconds first. Prints READY once every address is bound.
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        u = urlsplit(self.path)
        if u.path == "/slow":
            time.sleep(min(float(parse_qs(u.query).get("s", ["5"])[0]), 30.0))
        addr = self.server.server_address[0]
        body = json.dumps({"addr": addr, "host": self.headers.get("Host"), "path": self.path,
                           "x_forwarded_for": self.headers.get("X-Forwarded-For")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Served-By", addr)
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, fmt, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    port = int(sys.argv[1])
    servers = [Server((ip, port), Handler) for ip in sys.argv[2:]]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("READY", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
