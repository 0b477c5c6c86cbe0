"""Headless Chromium (Debian's `chromium` package) for looking at the admin status page.

    shot = chromium.screenshot(url, workdir, "status-page")   # a checked, non-blank PNG
    html = chromium.dom(url, workdir)                         # the DOM after parsing
    res = chromium.run(url, workdir, "--dump-dom")            # res.rc, res.stdout, res.seconds

The first run installs the package when it is missing (`ensure()`; tests that look at
the page allow for that in their timeout). Every run is bounded (`timeout`) and stopped
by pid with every descendant it started (procs.Managed), and gets its own throw-away
profile directory.
"""
from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import png
from .paths import ARTIFACTS, REPO
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
    raise RuntimeError(f"headless Chromium unavailable: could not install Debian's chromium: {last}")


@dataclass
class Result:
    rc: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool


_runs = [0]


def run(url: str, workdir: Path, *args: str, timeout: float = 60.0) -> Result:
    """One headless Chromium run on `url` with `args`, stopped after `timeout` seconds."""
    exe = ensure()
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


@dataclass
class Shot:
    """A checked screenshot: where it is kept, png.inspect's figures, how long Chromium took."""
    path: Path
    info: dict
    seconds: float


def screenshot(url: str, workdir: Path, name: str, width: int = 1200, height: int = 900,
               timeout: float = 90.0) -> Shot:
    """A screenshot of `url`, kept as tests/artifacts/<name>.png and in `workdir`. Fails the
    test (AssertionError) when Chromium does not finish, or the PNG is not `width` x
    `height` or looks blank (under 10 kB, under 16 colours, or 1% or less off the
    background)."""
    path = ARTIFACTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    res = run(url, workdir, f"--screenshot={path}", f"--window-size={width},{height}", timeout=timeout)
    assert not res.timed_out, f"chromium --screenshot did not finish in {timeout:g} s\n{res.stderr[-2000:]}"
    assert res.rc == 0 and path.is_file(), f"rc={res.rc}\n{res.stderr[-2000:]}"
    info = png.inspect(path)
    print(f"\nscreenshot {path}: {path.stat().st_size} bytes, {info}, chromium {res.seconds}s")
    assert (info["width"], info["height"]) == (width, height), info
    assert path.stat().st_size > 10_000 and info["colours"] >= 16 and info["non_background"] > 0.01, \
        f"the screenshot looks blank: {info}"
    shutil.copy(path, Path(workdir) / path.name)
    return Shot(path, info, res.seconds)


def dom(url: str, workdir: Path, timeout: float = 90.0) -> str:
    """The DOM Chromium rendered from `url` (what a person sees, after parsing); fails the
    test (AssertionError) when Chromium does not finish or exits non-zero."""
    res = run(url, workdir, "--dump-dom", timeout=timeout)
    assert not res.timed_out and res.rc == 0, f"rc={res.rc} timed_out={res.timed_out}\n{res.stderr[-2000:]}"
    return res.stdout
