"""An upstream with no header limits of its own that records the request headers it
received: the header-limit tests' witness (gunicorn behind EB stops at 8190 bytes per
field and 100 fields, Python's http.server at 100 fields, so neither could tell a request
just under staticedge's limits from one over them).

    python header_sink.py PORT IP LOGFILE

Each request appends one JSON line to LOGFILE: {"method", "path", "query", "line": bytes of
the request line, "fields": header fields, "header_bytes": the header block as received
(request line and final empty line included), "largest": the longest field value}.
Answers 200 with the same JSON. Prints READY once bound.
"""
import http.client
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# No limits below the ones under test (the request line stays at http.server's 64 KiB).
http.client._MAXHEADERS = 100_000
http.client._MAXLINE = 4 * 1024 * 1024

LOCK = threading.Lock()
LOG = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _handle(self):
        u = urlsplit(self.path)
        line = len(self.requestline)
        items = self.headers.items()
        record = {"method": self.command, "path": u.path, "query": u.query, "line": line,
                  "fields": len(items),
                  "header_bytes": line + 2 + sum(len(k) + 2 + len(v) + 2 for k, v in items) + 2,
                  "largest": max((len(v) for _, v in items), default=0)}
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        with LOCK:
            LOG.write(json.dumps(record) + "\n")
            LOG.flush()
        body = json.dumps(record).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _handle

    def log_message(self, fmt, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global LOG
    port, ip, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    LOG = open(path, "a")
    srv = Server((ip, port), Handler)
    print("READY", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
