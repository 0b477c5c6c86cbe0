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
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from sink_script import answer_json, log, serve

# No limits below the ones under test (the request line stays at http.server's 64 KiB).
http.client._MAXHEADERS = 100_000
http.client._MAXLINE = 4 * 1024 * 1024


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
        log(record)
        answer_json(self, record)

    do_GET = do_POST = _handle

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    serve(Handler)
