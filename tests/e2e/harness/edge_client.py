"""Client helpers shared by the suites that talk to one proxy listener over TLS."""
from __future__ import annotations

from . import httpc
from .paths import CUSTOM_HOST


class EdgeClient:
    """Mixin for a test's view of a running proxy; needs `ip`, `port` and `ca_path`."""

    @property
    def at(self):
        return (self.ip, self.port)

    def get(self, path="/whoami", host=CUSTOM_HOST, **kw) -> httpc.Resp:
        return httpc.request(self.at, path, host=host, ca=self.ca_path, **kw)

    def resolve(self, name=CUSTOM_HOST) -> str:
        """A curl --resolve value pinning `name` to the listener."""
        return f"{name}:{self.port}:{self.ip}"

    def url(self, name=CUSTOM_HOST, path="/whoami") -> str:
        return f"https://{name}:{self.port}{path}"
