"""A loopback stand-in for the EC2 instance metadata service (IMDSv2 only).

    imds = Imds(ip).start()
    imds.url                          # http://ip:port, for STATICEDGE_IMDS_URL
    imds.lifecycle_state = "Terminated"   # what autoscaling/target-lifecycle-state answers

PUT /latest/api/token hands out a token; every GET must carry it in
X-aws-ec2-metadata-token (401 otherwise, as IMDSv2 with http_tokens = required does).
Answers instance-id and autoscaling/target-lifecycle-state; everything else is 404.
"""
from __future__ import annotations

import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import net


class Imds:
    def __init__(self, ip: str, instance_id: str = "i-0123456789abcdef0"):
        self.ip, self.port = ip, net.free_port(ip)
        self.instance_id = instance_id
        self.lifecycle_state = "InService"
        self.tokens: set[str] = set()
        self.state_reads = 0
        self.unauthorized = 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}"

    def start(self) -> "Imds":
        imds = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, code: int, body: str = "") -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self):
                if self.path != "/latest/api/token" or not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    return self._send(400)
                token = secrets.token_hex(16)
                imds.tokens.add(token)
                self._send(200, token)

            def do_GET(self):
                if self.headers.get("X-aws-ec2-metadata-token") not in imds.tokens:
                    imds.unauthorized += 1
                    return self._send(401)
                if self.path == "/latest/meta-data/instance-id":
                    return self._send(200, imds.instance_id)
                if self.path == "/latest/meta-data/autoscaling/target-lifecycle-state":
                    imds.state_reads += 1
                    return self._send(200, imds.lifecycle_state)
                self._send(404)

        self._server = ThreadingHTTPServer((self.ip, self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True, name="imds").start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
