"""Small builders shared by the DNS and lifecycle tests."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import httpc, net
from .paths import CUSTOM_HOST, EB_HOST
from .proxy import Proxy, edge_config


@dataclass
class Edge:
    proxy: Proxy
    ip: str
    port: int
    ca_path: Path

    @property
    def at(self):
        return (self.ip, self.port)

    def get(self, path="/whoami", host=CUSTOM_HOST, **kw) -> httpc.Resp:
        return httpc.request(self.at, path, host=host, ca=self.ca_path, **kw)


def dns_upstream(port: int, nameserver: str, name: str = EB_HOST, **dns_opts) -> dict:
    """An upstream on `name:port` resolved through the test's BIND, TTL clamp [1s, 60s]."""
    dns = {"nameservers": [nameserver], "min_ttl": "1s", "max_ttl": "60s"}
    dns.update(dns_opts)
    return {"address": f"{name}:{port}", "connect_timeout": "1s", "retries": 1, "dns": dns}


def new_edge(make_proxy, leaf, ca_path, *, upstreams: dict, routes=None, server=None, tls=None,
             name="staticedge", ip=None, port=None, admin=None, wait="ready") -> Edge:
    ip = ip or net.loopback_addr()
    port = port or net.free_port(ip)
    admin = admin or ("127.0.0.1", net.free_port())
    if routes is None:
        first = next(iter(upstreams))
        routes = [{"hosts": [CUSTOM_HOST], "upstream": first, "host_header": "upstream"}]
    cfg = edge_config(listen=[(ip, port)], admin=admin, certs=[leaf], routes=routes, upstreams=upstreams,
                      server=server, tls=tls)
    p = make_proxy(cfg, name=name)
    p.start(wait=wait)
    return Edge(p, ip, port, ca_path)
