"""Child processes with logs in files, stopped by pid: TERM, then KILL after 5 s.

Descendants (gunicorn workers, a demo's upstream...) are recorded before the stop and
killed by pid afterwards if they outlived their parent.
"""
from __future__ import annotations

import os
import signal as signals
import subprocess
import time
from pathlib import Path

_ALL: list["Managed"] = []  # every process started in this session, for a last-resort sweep


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, ppid) of a pid, or None when it no longer exists."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rest = data[data.rindex(")") + 2:].split()
    return rest[0], int(rest[1])


def alive(pid: int) -> bool:
    """True while pid exists and is not a zombie (PID 1 may reap late)."""
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st:
                children.setdefault(st[1], []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


class Managed:
    """A started child process. stdout/stderr go to files in `logdir`."""

    def __init__(self, name: str, argv: list[str], logdir: Path, env: dict | None = None,
                 cwd: str | Path | None = None, stdin=subprocess.DEVNULL):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = self.logdir / f"{name}.stdout"
        self.stderr_path = self.logdir / f"{name}.stderr"
        full_env = dict(os.environ)
        if env:
            full_env.update({k: str(v) for k, v in env.items()})
        self._out = open(self.stdout_path, "ab")
        self._err = open(self.stderr_path, "ab")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdout=self._out, stderr=self._err, stdin=stdin,
                                     env=full_env, cwd=cwd, start_new_session=True)
        self.pid = self.proc.pid
        self.stopped = False
        self._known_desc: set[int] = set()
        _ALL.append(self)

    # -- state ------------------------------------------------------------------------
    @property
    def returncode(self):
        return self.proc.returncode

    def poll(self):
        return self.proc.poll()

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float) -> int:
        """Wait for exit; raise TimeoutError (process left running) after `timeout`."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"{self.name} (pid {self.pid}) still running after {timeout}s") from None

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.remember_descendants()
            os.kill(self.pid, sig)

    def remember_descendants(self) -> None:
        if self.proc.poll() is None:
            self._known_desc.update(descendants(self.pid))

    # -- logs -------------------------------------------------------------------------
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def tail(self, n: int = 40) -> str:
        lines = []
        for label, text in (("stdout", self.stdout()), ("stderr", self.stderr())):
            t = text.splitlines()[-n:]
            if t:
                lines.append(f"--- {self.name} {label} (last {len(t)} lines, {self.logdir}) ---")
                lines.extend(t)
        return "\n".join(lines)

    # -- stop -------------------------------------------------------------------------
    def stop(self, sig: int = signals.SIGTERM, grace: float = 5.0) -> int | None:
        """Send `sig` by pid, KILL after `grace` s, then KILL leftover descendants by pid."""
        if self.proc.poll() is None:
            self.remember_descendants()
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(self.pid, signals.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        self.kill_leftovers()
        self.stopped = True
        for f in (self._out, self._err):
            try:
                f.close()
            except Exception:
                pass
        return self.proc.returncode

    def leftovers(self) -> list[int]:
        return [p for p in sorted(self._known_desc) if alive(p)]

    def kill_leftovers(self, grace: float = 5.0) -> list[int]:
        """KILL (by pid) descendants that outlived the parent; returns those that had to be killed."""
        left = self.leftovers()
        for p in left:
            try:
                os.kill(p, signals.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(alive(p) for p in left):
            time.sleep(0.05)
        for p in left:
            if alive(p):
                try:
                    os.kill(p, signals.SIGKILL)
                except ProcessLookupError:
                    pass
        return left


def sweep() -> list[str]:
    """Stop every process this session started that is still running (session teardown)."""
    out = []
    for m in _ALL:
        if m.proc.poll() is None or m.leftovers():
            out.append(f"{m.name} pid {m.pid}")
            m.stop()
    return out
