"""An upstream that reads every request body to the end (Content-Length or chunked) before
it answers, and records what it received: the oversized-body tests' witness.

    python body_sink.py PORT IP LOGFILE

Each request appends two JSON lines to LOGFILE: {"event": "start", "method", "path",
"query", "te", "cl"} when its header arrives, then {"event": "end", ..., "received": N,
"complete": bool, "sha256": hex of the bytes received} when the body ended or the
connection broke. Answers 200 with
{"received": N}. Prints READY once bound.
"""
import hashlib
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

LOCK = threading.Lock()
LOG = None


def log(entry: dict) -> None:
    with LOCK:
        LOG.write(json.dumps(entry) + "\n")
        LOG.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _read_body(self) -> tuple[int, bool]:
        self.digest = hashlib.sha256()
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            n = 0
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    return n, False
                try:
                    size = int(line.split(b";")[0].strip() or b"x", 16)
                except ValueError:
                    return n, False
                if size == 0:
                    while True:  # trailers
                        t = self.rfile.readline(1024)
                        if not t or t in (b"\r\n", b"\n"):
                            return n, bool(t)
                got = self.rfile.read(size)
                self.digest.update(got)
                n += len(got)
                if len(got) < size or self.rfile.read(2) != b"\r\n":
                    return n, False
        cl = int(self.headers.get("Content-Length") or 0)
        n = 0
        while n < cl:
            got = self.rfile.read(min(65536, cl - n))
            self.digest.update(got)
            if not got:
                return n, False
            n += len(got)
        return n, True

    def _handle(self):
        u = urlsplit(self.path)
        base = {"method": self.command, "path": u.path, "query": u.query,
                "te": self.headers.get("Transfer-Encoding"), "cl": self.headers.get("Content-Length")}
        log({"event": "start", **base})
        try:
            received, complete = self._read_body()
        except OSError:
            received, complete = -1, False
        log({"event": "end", **base, "received": received, "complete": complete,
             "sha256": self.digest.hexdigest(), "status": "200" if complete else ""})
        if not complete:
            self.close_connection = True
            return
        body = json.dumps({"received": received}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _handle

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
