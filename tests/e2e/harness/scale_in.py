"""The instance side of a scale-in, on loopback: packer/files/lifecycle-watch run against
an IMDS stand-in (harness/imds.py) and a recording stand-in for the AWS CLI.

    aws = AwsRecorder(workdir)                    # aws.path for STATICEDGE_AWS
    w = LifecycleWatch(workdir, proxy, imds, aws).start()
    aws.calls()                                   # [(wall time, "autoscaling ...")...]
"""
from __future__ import annotations

import time
from pathlib import Path

from .paths import REPO
from .procs import Managed

WATCHER = REPO / "packer" / "files" / "lifecycle-watch"
ASG, LAUNCH_HOOK, TERMINATE_HOOK = "staticedge-e2e", "staticedge-ready", "staticedge-drain"


class AwsRecorder:
    """A stand-in `aws` that appends `<wall time> <arguments>` to a file and succeeds."""

    def __init__(self, workdir: Path):
        self.path = Path(workdir) / "aws"
        self.log = Path(workdir) / "aws.calls"
        self.path.write_text(f'#!/bin/sh\necho "$(date +%s.%N) $*" >> "{self.log}"\n')
        self.path.chmod(0o755)

    def calls(self) -> list[tuple[float, str]]:
        if not self.log.exists():
            return []
        out = []
        for line in self.log.read_text().splitlines():
            t, _, args = line.partition(" ")
            out.append((float(t), args))
        return out

    def hook_completions(self, hook: str) -> list[tuple[float, str]]:
        return [(t, a) for t, a in self.calls()
                if a.startswith("autoscaling complete-lifecycle-action") and f"--lifecycle-hook-name {hook} " in a]


def stop_command(pid: int) -> str:
    """SIGTERM, then wait until the process is gone (or a zombie its parent has not reaped
    yet): what `systemctl stop` does for the watcher on an instance."""
    return (f"kill -TERM {pid}; "
            f"while [ -e /proc/{pid} ] && ! grep -q ') Z' /proc/{pid}/stat 2>/dev/null; do sleep 0.05; done")


class LifecycleWatch:
    """lifecycle-watch for one proxy, polling every `poll` seconds, with drain delay 0
    (the stand-in NLB sends no late flows)."""

    def __init__(self, workdir: Path, proxy, imds, aws: AwsRecorder, *, poll: float = 0.2,
                 drain_delay: int = 0, ready_timeout: int = 30):
        self.etc = Path(workdir) / "watch-etc"
        self.etc.mkdir(parents=True, exist_ok=True)
        (self.etc / "bootstrap.env").write_text(
            f"STATICEDGE_ASG_NAME={ASG}\nSTATICEDGE_LAUNCH_HOOK={LAUNCH_HOOK}\n"
            f"STATICEDGE_TERMINATE_HOOK={TERMINATE_HOOK}\nSTATICEDGE_DRAIN_DELAY={drain_delay}\n"
            f"STATICEDGE_READY_TIMEOUT={ready_timeout}\nSTATICEDGE_LIVENESS_FAILURES=3\n")
        admin_ip, admin_port = proxy.admin
        self.env = {
            "STATICEDGE_ETC": self.etc,
            "STATICEDGE_IMDS_URL": imds.url,
            "STATICEDGE_AWS": aws.path,
            "STATICEDGE_ADMIN_URL": f"http://{admin_ip}:{admin_port}",
            "STATICEDGE_STOP_COMMAND": stop_command(proxy.proc.pid),
            "STATICEDGE_FAILED_COMMAND": "false",
            "STATICEDGE_POLL_SECONDS": poll,
            "STATICEDGE_STATE_DIR": Path(workdir) / "watch-state",
        }
        self.workdir = Path(workdir)
        self.proc: Managed | None = None

    def start(self) -> "LifecycleWatch":
        self.proc = Managed("lifecycle-watch", ["bash", WATCHER], self.workdir, env=self.env)
        return self

    def wait_exit(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def tail(self) -> str:
        return self.proc.tail() if self.proc else ""

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()


def wait_for(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise TimeoutError(what)
