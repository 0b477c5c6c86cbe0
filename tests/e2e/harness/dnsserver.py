"""BIND 9 (`named -g`) on 127.0.0.1:<port>, authoritative for a single root zone `.`.

A single root zone makes named answer a whole CNAME chain itself and never query out
(recursion is off). Records change live through dynamic updates (dnspython), which apply
before the update returns.

    dns = Bind(workdir).start()
    dns.set_cname(EB, "awseb-blue.elb.test", ttl=5); dns.set_a("awseb-blue.elb.test", ["127.0.2.5"], ttl=5)
    dns.stop(); dns.start()     # an outage; the zone and its journal survive the restart
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.update

from . import net
from .procs import Managed

NAMED = shutil.which("named") or "/usr/sbin/named"


def _fq(name: str) -> str:
    return name if name.endswith(".") else name + "."


class Bind:
    def __init__(self, workdir: Path, port: int | None = None, *, max_udp_size: int | None = None,
                 negative_ttl: int = 5):
        self.dir = Path(workdir) / "named"
        self.port = port or net.free_port("127.0.0.1")
        self.max_udp_size = max_udp_size
        self.negative_ttl = negative_ttl
        self.proc: Managed | None = None
        self.starts = 0

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _write_files(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        d = self.dir
        extra = f"max-udp-size {self.max_udp_size};" if self.max_udp_size else ""
        (d / "named.conf").write_text(f"""
options {{
    directory "{d}"; pid-file "{d}/named.pid"; session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {self.port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};
    recursion no; dnssec-validation no; notify no; allow-query {{ 127.0.0.0/8; }};
    {extra}
}};
controls {{ }};
zone "." {{ type primary; file "{d}/zone.db"; allow-update {{ 127.0.0.0/8; }}; }};
""")
        (d / "zone.db").write_text(f"""$TTL 5
.   5 IN SOA ns. hostmaster. 1 60 60 600 {self.negative_ttl}
.   5 IN NS ns.
ns. 5 IN A 127.0.0.1
""")

    def start(self, timeout: float = 20.0) -> "Bind":
        if self.starts == 0:
            self._write_files()
        self.starts += 1
        self.proc = Managed(f"named-{self.starts}", [NAMED, "-g", "-4", "-n", "1", "-c", str(self.dir / "named.conf")],
                            self.dir)
        deadline = time.monotonic() + timeout
        while True:
            if not self.proc.running():
                raise RuntimeError(f"named exited {self.proc.returncode}\n{self.proc.tail()}")
            try:
                r = self.query(".", "SOA", timeout=0.5)
                if r.rcode() == dns.rcode.NOERROR and r.answer:
                    return self
            except Exception:  # noqa: BLE001
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"named not answering on {self.nameserver}\n{self.proc.tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def running(self) -> bool:
        return self.proc is not None and self.proc.running()

    def tail(self) -> str:
        return self.proc.tail() if self.proc else ""

    # -- queries and updates -------------------------------------------------------------
    def query(self, name: str, rdtype: str = "A", *, tcp: bool = False, timeout: float = 2.0,
              payload: int | None = None) -> dns.message.Message:
        q = dns.message.make_query(_fq(name), rdtype, use_edns=payload is not None,
                                   payload=payload or 512)
        if tcp:
            return dns.query.tcp(q, "127.0.0.1", port=self.port, timeout=timeout)
        return dns.query.udp(q, "127.0.0.1", port=self.port, timeout=timeout, ignore_trailing=True,
                             raise_on_truncation=False)

    def addresses(self, name: str) -> list[str]:
        """The A addresses at the end of name's CNAME chain (over TCP, so never truncated)."""
        r = self.query(name, "A", tcp=True)
        return sorted(rd.address for rrset in r.answer if rrset.rdtype == dns.rdatatype.A for rd in rrset)

    def _update(self, upd: dns.update.UpdateMessage) -> None:
        r = dns.query.tcp(upd, "127.0.0.1", port=self.port, timeout=5)
        if r.rcode() != dns.rcode.NOERROR:
            raise RuntimeError(f"DNS update refused: {dns.rcode.to_text(r.rcode())}")

    def set_a(self, name: str, ips: list[str], ttl: int = 5) -> None:
        """Replace name's A records with `ips` in one atomic update ([] deletes them)."""
        upd = dns.update.UpdateMessage(".")
        upd.delete(_fq(name), "A")
        for ip in ips:
            upd.add(_fq(name), ttl, "A", ip)
        self._update(upd)

    def set_cname(self, name: str, target: str, ttl: int = 5) -> None:
        """Point name's CNAME at target (moves it if it exists)."""
        upd = dns.update.UpdateMessage(".")
        upd.delete(_fq(name), "CNAME")
        upd.add(_fq(name), ttl, "CNAME", _fq(target))
        self._update(upd)

    def delete(self, name: str) -> None:
        upd = dns.update.UpdateMessage(".")
        upd.delete(_fq(name))
        self._update(upd)
