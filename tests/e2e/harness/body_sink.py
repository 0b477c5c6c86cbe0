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
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from sink_script import answer_json, log, serve

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
        answer_json(self, {"received": received})

    do_GET = do_POST = do_PUT = _handle

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    serve(Handler)
