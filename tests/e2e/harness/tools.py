"""curl and openssl s_client, run as the issues say (always bounded by --max-time/timeout)."""
from __future__ import annotations

import re
import subprocess

from cryptography import x509

PEM_RE = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def curl(*args, timeout: float = 20.0) -> subprocess.CompletedProcess:
    argv = ["curl", "-sS", "--max-time", str(int(timeout) - 2 if timeout > 4 else 2), *map(str, args)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def s_client_cert(ip: str, port: int, servername: str | None, *, extra=(), timeout: float = 15.0):
    """The leaf certificate openssl s_client gets with -servername NAME (or -noservername)."""
    argv = ["openssl", "s_client", "-connect", f"{ip}:{port}", "-showcerts", *extra]
    argv += ["-servername", servername] if servername else ["-noservername"]
    p = subprocess.run(argv, input=b"", capture_output=True, timeout=timeout)
    m = PEM_RE.search(p.stdout)
    if not m:
        raise AssertionError(f"no certificate from s_client {argv}: rc={p.returncode}\n"
                             f"{p.stdout.decode(errors='replace')[-800:]}{p.stderr.decode(errors='replace')[-800:]}")
    return x509.load_pem_x509_certificate(m.group(0))
