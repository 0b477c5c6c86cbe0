"""Free ports and distinct loopback addresses, and small socket waits."""
from __future__ import annotations

import errno
import random
import socket
import threading
import time

# Ports are picked below Linux's ephemeral range (32768-60999) so that no client socket
# can grab a port between our probe and the server's bind.
_PORT_LO, _PORT_HI = 20000, 32000
_lock = threading.Lock()
_handed_out: set[int] = set()
_next_addr = [2 * 256 + 1]  # 127.0.2.1 upward; 127.0.0.x and 127.0.1.x stay free for ad-hoc use


def _can_bind(ip: str, port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((ip, port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
        finally:
            s.close()
    return True


def free_port(*ips: str) -> int:
    """A TCP+UDP port that is free on every given address (default 127.0.0.1) and that
    this session has not handed out before."""
    ips = ips or ("127.0.0.1",)
    with _lock:
        for _ in range(2000):
            p = random.randrange(_PORT_LO, _PORT_HI)
            if p in _handed_out:
                continue
            if all(_can_bind(ip, p) for ip in ips):
                _handed_out.add(p)
                return p
    raise RuntimeError(f"no free port on {ips}")


def loopback_addrs(n: int = 1) -> list[str]:
    """n loopback addresses never handed out before in this session (127.0.2.1 upward).
    Every 127/8 address binds on Linux without configuration."""
    out = []
    with _lock:
        while len(out) < n:
            v = _next_addr[0]
            _next_addr[0] += 1
            b, c = divmod(v, 256)
            if c in (0, 255):
                continue
            out.append(f"127.0.{b}.{c}" if b < 256 else f"127.{b // 256}.{b % 256}.{c}")
    return out


def loopback_addr() -> str:
    return loopback_addrs(1)[0]


def tcp_connectable(ip: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_tcp(ip: str, port: int, timeout: float = 20.0, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if tcp_connectable(ip, port):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.returncode} before {ip}:{port} accepted")
        time.sleep(0.05)
    raise TimeoutError(f"{ip}:{port} did not accept connections within {timeout}s")


def wait_until(pred, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll pred() until it returns a truthy value; return it, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = pred()
        except Exception as e:  # keep polling, remember why
            last = e
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not met within {timeout}s (last: {last!r})")
        time.sleep(interval)
