"""Headless Chromium (Debian's `chromium` package) for looking at the admin status page.

    exe = chromium.ensure()                                   # installs it when missing
    res = chromium.run(exe, url, workdir, "--dump-dom")       # res.rc, res.stdout, res.seconds
    chromium.run(exe, url, workdir, f"--screenshot={png}", "--window-size=1200,900")

Every run is bounded (`timeout`) and stopped by pid with every descendant it started
(procs.Managed), and gets its own throw-away profile directory.
"""
from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .paths import REPO
from .procs import Managed

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars"]


def ensure(timeout: float = 600.0) -> str:
    """The chromium executable; installs the Debian package (tests/tools/apt-install.sh)
    when it is missing. Retries while another apt holds the dpkg lock. Raises on failure."""
    exe = shutil.which("chromium")
    if exe:
        return exe
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        p = subprocess.run(["bash", str(REPO / "tests" / "tools" / "apt-install.sh"), "chromium"],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           timeout=max(deadline - time.monotonic(), 10))
        exe = shutil.which("chromium")
        if p.returncode == 0 and exe:
            return exe
        last = f"rc={p.returncode}\n{p.stdout[-1500:]}\n{p.stderr[-1500:]}"
        time.sleep(10)
    raise RuntimeError(f"could not install Debian's chromium: {last}")


@dataclass
class Result:
    rc: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool


_runs = [0]


def run(exe: str, url: str, workdir: Path, *args: str, timeout: float = 60.0) -> Result:
    _runs[0] += 1
    name = f"chromium-{_runs[0]}"
    profile = Path(workdir) / f"{name}-profile"
    shutil.rmtree(profile, ignore_errors=True)
    profile.mkdir(parents=True)
    argv = [exe, *FLAGS, f"--user-data-dir={profile}", *args, url]
    m = Managed(name, argv, workdir)
    t0 = time.monotonic()
    timed_out = False
    try:
        while m.running():
            m.remember_descendants()  # so that stop() can kill helpers that outlive the browser
            if time.monotonic() - t0 > timeout:
                timed_out = True
                break
            time.sleep(0.1)
    finally:
        m.stop()
        shutil.rmtree(profile, ignore_errors=True)
    return Result(None if timed_out else m.returncode, m.stdout(), m.stderr(),
                  round(time.monotonic() - t0, 2), timed_out)
