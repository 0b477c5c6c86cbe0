"""A loopback stand-in for the EC2 instance metadata service (IMDSv2 only), the one every
e2e test uses: the proxy's status page asks it who and where the instance is, and
packer/files/lifecycle-watch asks it whether the Auto Scaling group is taking the
instance out.

    imds = Imds(ip).start()
    imds = Imds(ip, {"placement/availability-zone": "eu-west-1b"}).start()   # more answers
    imds.url                              # http://ip:port, for STATICEDGE_IMDS_URL
    imds.lifecycle_state = "Terminated"   # what autoscaling/target-lifecycle-state answers
    imds.asked                            # ["PUT /latest/api/token", "GET /latest/meta-data/instance-id", ...]
    imds.unauthorized                     # GETs without a valid token (answered 401)

PUT /latest/api/token (with X-aws-ec2-metadata-token-ttl-seconds) hands out a token; every
GET must carry one in X-aws-ec2-metadata-token, or it is answered 401, as IMDSv2 with
http_tokens = required does. A GET of /latest/meta-data/<path> answers `answers[path]`
(instance-id and autoscaling/target-lifecycle-state by default); any other path is 404.
"""
from __future__ import annotations

import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import net

META_DATA = "/latest/meta-data/"
TOKEN_PATH = "/latest/api/token"
LIFECYCLE_STATE = "autoscaling/target-lifecycle-state"


class Imds:
    """The metadata service of one instance, answering from `answers` (keys are paths below
    /latest/meta-data/), which a test may change while it runs."""

    def __init__(self, ip: str, answers: dict[str, str] | None = None):
        self.ip, self.port = ip, net.free_port(ip)
        self.answers: dict[str, str] = {"instance-id": "i-0123456789abcdef0", LIFECYCLE_STATE: "InService",
                                        **(answers or {})}
        self.tokens: set[str] = set()
        self.asked: list[str] = []
        self.unauthorized = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}"

    @property
    def instance_id(self) -> str:
        return self.answers["instance-id"]

    @property
    def lifecycle_state(self) -> str:
        return self.answers[LIFECYCLE_STATE]

    @lifecycle_state.setter
    def lifecycle_state(self, state: str) -> None:
        self.answers[LIFECYCLE_STATE] = state

    def _new_token(self) -> str:
        token = secrets.token_hex(16)
        with self._lock:
            self.tokens.add(token)
        return token

    def _answer(self, method: str, path: str, token: str | None, ttl: str | None) -> tuple[int, str]:
        """The status and body for one request, recorded in `asked` (and `unauthorized`)."""
        with self._lock:
            self.asked.append(f"{method} {path}")
            if method == "GET" and token not in self.tokens:
                self.unauthorized += 1
                return 401, ""
        if method == "PUT":
            return (200, self._new_token()) if path == TOKEN_PATH and ttl else (400, "")
        answer = self.answers.get(path[len(META_DATA):]) if path.startswith(META_DATA) else None
        return (404, "") if answer is None else (200, answer)

    def start(self) -> "Imds":
        imds = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _reply(self, method: str) -> None:
                code, body = imds._answer(method, self.path, self.headers.get("X-aws-ec2-metadata-token"),
                                          self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"))
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self):
                self._reply("PUT")

            def do_GET(self):
                self._reply("GET")

        self._server = ThreadingHTTPServer((self.ip, self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True, name="imds").start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
