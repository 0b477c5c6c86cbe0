"""What an operator's habits do to a running staticedge: nginx's signals (USR1 reopens the
access log, QUIT drains, stray signals are logged and ignored), `staticedge reload` whose
exit code is the reload's verdict, `--version` that tells builds apart, start-up errors in
the JSON log format, and an access log the process cannot write (refused by `check`,
counted by reason when it happens anyway). Each runs the real binary."""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness import net, report, tomlw
from harness.paths import CUSTOM_HOST
from harness.proxy import run_cli

pytestmark = pytest.mark.core

# Signals staticedge logs and ignores (crates/staticedge/src/signals.rs, IGNORED).
IGNORED = ["SIGUSR2", "SIGWINCH", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGIO", "SIGPWR", "SIGXFSZ"]


def proxy_for(new_proxy, shared_app, name="staticedge", **server):
    return (new_proxy(name)
            .upstream("app", shared_app.addr, retries=0, read_timeout="30s")
            .route("app", hosts=[CUSTOM_HOST], host_header="preserve")
            .server(**server))


def access_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def paths_in(path: Path) -> list[str]:
    return [line["path"] for line in access_lines(path)]


def last_reload(p) -> dict:
    return p.status()["config"]["last_reload"]


def reloads(p) -> dict:
    """staticedge_config_reloads_total by result."""
    return {labels["result"]: v for labels, v in p.scrape().series("staticedge_config_reloads_total")}


# -- signals ---------------------------------------------------------------------------

def test_usr1_reopens_the_access_log_without_a_reload(new_proxy, shared_app, workdir):
    log = workdir / "access.log"
    p = proxy_for(new_proxy, shared_app, access_log=str(log)).run()
    assert p.get("/whoami?before-rotation").status == 200
    net.wait_until(lambda: "/whoami?before-rotation" in paths_in(log), 5, what="the first line in the log")
    reload_before, counts_before = last_reload(p), reloads(p)

    rotated = workdir / "access.log.1"
    os.rename(log, rotated)          # logrotate's move; the proxy still writes to the moved file
    p.signal(signal.SIGUSR1)
    net.wait_until(lambda: "access log reopened" in p.stderr(), 5, what="the reopen in the log")
    assert p.running(), p.tail()
    assert p.get("/whoami?after-rotation").status == 200
    new_paths = net.wait_until(lambda: paths_in(log), 5, what="a new access.log with the next request")

    assert new_paths == ["/whoami?after-rotation"], new_paths
    assert paths_in(rotated) == ["/whoami?before-rotation"], "the rotated file keeps only the old line"
    assert last_reload(p) == reload_before, "USR1 is not a reload"
    assert reloads(p) == counts_before, "no reload was counted"
    assert p.readyz()[0] == 200
    report.record("operator.usr1_reopen", rotated=paths_in(rotated), new=new_paths)


def test_quit_drains_like_term(new_proxy, shared_app):
    grace = 2
    p = proxy_for(new_proxy, shared_app, grace_period=f"{grace}s", drain_timeout="15s").run()
    result = {}

    def slow():
        try:
            r = p.get("/slow?s=4", timeout=20)
            result.update(status=r.status)
        except Exception as e:  # noqa: BLE001
            result.update(error=f"{type(e).__name__}: {e}")
        result["done"] = time.monotonic()

    th = threading.Thread(target=slow)
    th.start()
    time.sleep(0.5)                  # the request is in flight
    t_quit = time.monotonic()
    p.signal(signal.SIGQUIT)
    code, body = net.wait_until(lambda: (lambda r: r if r[0] == 503 else None)(p.readyz()), 2, interval=0.05,
                                what="/readyz 503 after SIGQUIT")
    assert body["ready"] is False and any("draining" in r.lower() for r in body["reasons"]), body
    assert p.get("/whoami?in-grace").status == 200, "still serving during the grace period"
    th.join(20)
    rc = p.wait_exit(20)
    exited = time.monotonic() - t_quit
    report.record("operator.quit_drain", slow_request=result.get("status"), exit_code=rc,
                  exited_after_s=round(exited, 2))
    assert result.get("status") == 200, result
    assert rc == 0, f"SIGQUIT must drain and exit 0, got {rc}\n{p.tail()}"
    assert result["done"] <= time.monotonic()
    assert exited >= grace, "the grace period was honoured"
    assert "SIGQUIT" in p.stderr()


def test_usr2_and_other_stray_signals_are_logged_and_ignored(new_proxy, shared_app):
    p = proxy_for(new_proxy, shared_app).run()
    for name in IGNORED:
        p.signal(getattr(signal, name))
        time.sleep(0.1)
    net.wait_until(lambda: all(name in p.stderr() for name in IGNORED), 5,
                   what="a log line for every ignored signal")
    assert p.running(), p.tail()
    assert p.readyz()[0] == 200
    assert p.get().status == 200
    ignored_lines = [l for l in p.stderr().splitlines() if "signal ignored" in l]
    assert len(ignored_lines) >= len(IGNORED), ignored_lines
    report.record("operator.ignored_signals", signals=IGNORED, lines=len(ignored_lines))


# -- staticedge reload -------------------------------------------------------------------

def test_reload_command_exit_code_is_the_reload_verdict(new_proxy, shared_app, staticedge_bin, workdir):
    pid_file = workdir / "staticedge.pid"
    p = proxy_for(new_proxy, shared_app).run(extra_args=("--pid-file", str(pid_file)))
    assert pid_file.read_text().strip() == str(p.proc.pid)
    good = copy.deepcopy(p.config)

    def reload_cmd(*how):
        return run_cli(staticedge_bin, "reload", "--config", p.config_path, *how, "--timeout", "10")

    # a good change: exit 0, and it is served
    changed = copy.deepcopy(good)
    changed["upstream"]["app"]["read_timeout"] = "31s"
    p.write_config(changed)
    hash_before = p.status()["config"]["hash"]
    r = reload_cmd("--pid", str(p.proc.pid))
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "reloaded" in r.stdout
    assert p.status()["config"]["hash"] != hash_before

    # a restart-only change: refused, exit 1 with the reason
    restart_only = copy.deepcopy(changed)
    restart_only["server"]["threads"] = 2
    p.write_config(restart_only)
    r = reload_cmd("--pid-file", str(pid_file))
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "threads" in r.stderr and "restart" in r.stderr, r.stderr

    # a broken file: refused, exit 1 with file:line
    p.write_config(p.config_path.read_text() + '\nbroken = "unterminated\n')
    r = reload_cmd("--pid", str(p.proc.pid))
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert re.search(rf"{re.escape(str(p.config_path))}:\d+:\d+: ", r.stderr), r.stderr

    # back to good: 0 again, and the proxy served throughout
    p.write_config(good)
    r = reload_cmd("--pid", str(p.proc.pid))
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert p.get().status == 200
    assert reloads(p) == {"ok": 2.0, "error": 2.0}

    # no process: exit 1, says so
    p.stop()
    assert not pid_file.exists(), "the pid file is removed at exit"
    r = reload_cmd("--pid", str(p.proc.pid))
    assert r.returncode == 1 and str(p.proc.pid) in r.stderr, (r.stdout, r.stderr)
    report.record("operator.reload_command", refused_reason=r.stderr.strip()[:200])

    # a start that fails leaves no pid file behind
    bad = workdir / "bad.toml"
    bad.write_text('[server]\nthreads = "many"\n')
    r = run_cli(staticedge_bin, "run", "--config", bad, "--pid-file", pid_file)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert not pid_file.exists(), "a failed start removes its pid file"


# -- version and start-up errors --------------------------------------------------------

def test_version_names_commit_date_and_target(new_proxy, shared_app, staticedge_bin):
    out = run_cli(staticedge_bin, "--version").stdout.strip()
    m = re.fullmatch(r"staticedge (\d+\.\d+\.\d+\S*) \(commit ([0-9a-f]{7,40}|unknown), "
                     r"built (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ), (\S+-\S+)\)", out)
    assert m, out
    version, commit, built, target = m.groups()
    assert os.uname().machine in target and "linux" in target, target
    p = proxy_for(new_proxy, shared_app).run()
    series = p.scrape().series("staticedge_build_info")
    assert series == [({"version": version, "commit": commit, "build_date": built, "target": target}, 1.0)], series
    report.record("operator.version", version=out)


@pytest.mark.pending_lead
def test_startup_errors_follow_the_log_format(new_proxy, shared_app, staticedge_bin, workdir):
    # a configuration problem
    bad = workdir / "bad.toml"
    bad.write_text('[server]\nthreads = "many"\n')
    text = run_cli(staticedge_bin, "run", "--config", bad)
    assert text.returncode == 1
    lines = text.stderr.splitlines()
    assert lines and all(l.startswith(f"{bad}:") for l in lines), "plain file:line:col lines: " + text.stderr
    assert any(l.startswith(f"{bad}:2:") for l in lines), text.stderr
    js = run_cli(staticedge_bin, "--log-format", "json", "run", "--config", bad)
    assert js.returncode == 1
    events = [json.loads(line) for line in js.stderr.splitlines() if line.strip()]
    assert events and all(e["level"] == "ERROR" for e in events), js.stderr
    assert any(e["message"].startswith(f"{bad}:2:") for e in events), events

    # a port in use
    p = proxy_for(new_proxy, shared_app).run()
    taken = copy.deepcopy(p.config)
    taken["admin"]["listen"] = "%s:%d" % (p.admin[0], net.free_port())
    second = workdir / "taken.toml"
    second.write_text(tomlw.dumps(taken))
    js = run_cli(staticedge_bin, "--log-format", "json", "run", "--config", second)
    assert js.returncode == 1
    events = [json.loads(line) for line in js.stderr.splitlines() if line.strip()]
    assert any("cannot listen" in e["message"] for e in events), js.stderr


# -- an access log the process cannot write ----------------------------------------------

def as_nobody(*argv) -> list[str]:
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", *map(str, argv)]


def test_check_fails_when_the_access_log_directory_is_not_writable(new_proxy, staticedge_bin, workdir):
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed to run check as another user")
    # Everything the check reads must be readable by the other user: its own copy.
    box = workdir / "nobody"
    box.mkdir()
    cfg = new_proxy("unwritable").config()
    for i, c in enumerate(cfg["tls"]["certificate"]):
        for key in ("cert", "key"):
            copied = box / f"{i}-{key}.pem"
            shutil.copy(c[key], copied)
            copied.chmod(0o644)
            c[key] = str(copied)
    logdir = box / "logs"
    logdir.mkdir(mode=0o755)                      # root's: not writable by nobody
    cfg["server"]["access_log"] = str(logdir / "access.log")
    path = box / "staticedge.toml"
    path.write_text(tomlw.dumps(cfg))
    for d in [box, *box.parents]:
        if not os.stat(d).st_mode & 0o001:
            pytest.fail(f"{d} is not searchable by other users; the test cannot run as nobody there")
    r = subprocess.run(as_nobody(staticedge_bin, "check", "--config", path), capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "server.access_log" in r.stderr and "not writable" in r.stderr, r.stderr

    # the same directory made writable for it: OK
    os.chown(logdir, 65534, 65534)
    r = subprocess.run(as_nobody(staticedge_bin, "check", "--config", path), capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, (r.stdout, r.stderr)

    # a directory that does not exist yet is a warning (systemd's LogsDirectory= creates
    # it when the service starts, after a check run before the first start)
    cfg["server"]["access_log"] = str(box / "missing" / "access.log")
    path.write_text(tomlw.dumps(cfg))
    r = run_cli(staticedge_bin, "check", "--config", path)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert re.search(rf"{re.escape(str(path))}: warning: server.access_log: directory .*missing does not exist",
                     r.stderr), r.stderr


@pytest.mark.parametrize("where, reason", [("/dev/full", "write_error"), ("missing-dir/access.log", "open_error")])
def test_access_log_failures_are_counted_by_reason(new_proxy, shared_app, workdir, where, reason):
    dest = where if where.startswith("/") else str(workdir / where)
    p = proxy_for(new_proxy, shared_app, access_log=dest).run()
    before = p.scrape()
    reasons = {l["reason"] for l, _ in before.series("staticedge_access_log_dropped_total")}
    assert reasons == {"queue_full", "open_error", "write_error"}, reasons
    n = 5
    for i in range(n):
        assert p.get(f"/whoami?{i}").status == 200
    after = net.wait_until(
        lambda: (lambda s: s if s.delta(before, "staticedge_access_log_dropped_total", reason=reason) >= n
                 else None)(p.scrape()), 5, what=f"{n} lines counted as {reason}")
    assert after.delta(before, "staticedge_access_log_dropped_total") == n, "all counted, under one reason"
    report.record("operator.access_log_failure", dest=where, reason=reason, dropped=n)


@pytest.mark.pending_lead
def test_status_shows_the_last_access_log_failure(new_proxy, shared_app, workdir):
    """Needs the binary to hand its AccessLogger to the admin port (AdminApp::with_access_log)."""
    dest = workdir / "missing-dir" / "access.log"
    p = proxy_for(new_proxy, shared_app, access_log=str(dest)).run()
    assert p.get().status == 200
    doc = net.wait_until(lambda: (p.status().get("access_log") or {}).get("last_error"), 5,
                         what="/status access_log.last_error")
    assert doc.startswith("open_error: cannot open ") and str(dest) in doc, doc
    assert p.status()["access_log"]["last_error_at"], p.status()["access_log"]
