"""What the recording sink scripts (body_sink.py, header_sink.py) share: the JSON-lines
log they append to, a JSON answer, and starting the server as `script PORT IP LOGFILE`
(prints READY once bound). Imported by those scripts, which run as their own processes
with this directory first on sys.path.
"""
import json
import sys
import threading
from http.server import ThreadingHTTPServer

_LOCK = threading.Lock()
_LOG = None


def log(entry: dict) -> None:
    """Appends one JSON line to the log, whole, whatever other requests do meanwhile."""
    with _LOCK:
        _LOG.write(json.dumps(entry) + "\n")
        _LOG.flush()


def answer_json(handler, record: dict) -> None:
    """Answers the request `handler` holds with 200 and `record` as JSON."""
    body = json.dumps(record).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(handler_class) -> None:
    """Serves `handler_class` on the PORT and IP of the command line, logging to LOGFILE."""
    global _LOG
    port, ip, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    _LOG = open(path, "a")
    srv = Server((ip, port), handler_class)
    print("READY", flush=True)
    srv.serve_forever()
