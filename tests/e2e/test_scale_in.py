"""Scale-in, the way an Auto Scaling group does it: the target is deregistered first and
the instance learns it is leaving only from IMDS. packer/files/lifecycle-watch runs
against a loopback IMDS stand-in and a recording `aws`; HAProxy stands in for the NLB.

The flip (IMDS target-lifecycle-state -> Terminated, HAProxy `state drain` = the
deregistration) happens while HTTP/1.1 keep-alive and HTTP/2 clients are busy on the
leaving instance. No request may fail, the proxy (not the client) must close the busy
connections, and the termination hook must be completed only after the last request
the instance was serving has finished and the process has exited.
"""
from __future__ import annotations

import signal
import subprocess
import threading
import time
from types import SimpleNamespace

import pytest

from harness import net, report
from harness.haproxy import Backend
from harness.imds import Imds
from harness.load import Load
from harness.paths import CUSTOM_HOST
from harness.scale_in import LAUNCH_HOOK, TERMINATE_HOOK, AwsRecorder, LifecycleWatch, wait_for

pytestmark = pytest.mark.lifecycle

GRACE, DRAIN = 2, 10          # seconds: the leaving instance's grace_period and drain_timeout
SLOW = 4                      # seconds: a request in flight when the flip comes
H2_CLIENTS, H2_RATE, H2_TRANSFERS = 2, 10, 140


def fleet_instance(new_proxy, name, leaf, app):
    return (new_proxy(name).certificate(leaf)
            .server(grace_period=f"{GRACE}s", drain_timeout=f"{DRAIN}s")
            .upstream("app", address=app.addr, connect_timeout="1s", retries=1, read_timeout="30s")
            .route("app", hosts=[CUSTOM_HOST], host_header="preserve")
            .run())


def h2_client(lb_at, ca_path, log_path):
    """curl over HTTP/2 with one connection reused for H2_TRANSFERS paced requests; one
    line per transfer: its duration, status, HTTP version, new connections made."""
    transfers = []
    for i in range(H2_TRANSFERS):
        transfers += [f"https://{CUSTOM_HOST}/whoami?h2={i}", "-o", "/dev/null"]
    argv = ["curl", "-sS", "--http2", "--cacert", str(ca_path),
            "--connect-to", f"{CUSTOM_HOST}:443:{lb_at[0]}:{lb_at[1]}", "--max-time", "5",
            "--rate", f"{H2_RATE}/s",
            "-w", "%{time_total} %{http_code} %{http_version} %{num_connects}\\n", *transfers]
    return subprocess.Popen(argv, stdout=open(log_path, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def h2_results(log_path):
    out = []
    for line in log_path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 4:
            out.append({"status": parts[1], "version": parts[2], "connects": int(parts[3])})
    return out


@pytest.mark.timeout(120)
def test_scale_in_drains_before_the_hook_completes(make_app, new_proxy, make_haproxy, stack, ca, workdir):
    app = make_app("blue")
    leaf = ca.issue(workdir, "edge", [CUSTOM_HOST])
    leaving = fleet_instance(new_proxy, "leaving", leaf, app)
    staying = fleet_instance(new_proxy, "staying", leaf, app)
    ip = net.loopback_addr()
    lb = make_haproxy((ip, net.free_port(ip)), [Backend(p.name, p.at, p.admin) for p in (leaving, staying)])
    for p in (leaving, staying):
        lb.wait_status(p.name, "UP", 10)
    # Every client connection opened before the flip goes to the leaving instance.
    lb.set_state("staying", "maint")

    imds = stack.add(Imds(net.loopback_addr()).start())
    aws = AwsRecorder(workdir)
    exited_at = {}

    def reap():
        leaving.proc.proc.wait()
        exited_at["t"] = time.time()

    threading.Thread(target=reap, daemon=True).start()
    watch = stack.add(LifecycleWatch(workdir, leaving, imds, aws).start())

    # Launch gate: ready -> the launch hook is completed with CONTINUE.
    wait_for(lambda: aws.hook_completions(LAUNCH_HOOK), 10, "launch hook completion")

    h2_logs = [workdir / f"h2-{i}.log" for i in range(H2_CLIENTS)]
    h2 = [h2_client(lb.frontend, ca.cert_path, path) for path in h2_logs]
    slow = {}

    def slow_request():
        try:
            r = leaving.get(f"/slow?s={SLOW}", timeout=SLOW + DRAIN)
            slow["status"] = r.status
        except Exception as e:  # noqa: BLE001
            slow["error"] = f"{type(e).__name__}: {e}"
        slow["ended"] = time.time()

    with Load(lb.frontend, host=CUSTOM_HOST, ca=ca.cert_path, rate=40, workers=6, max_requests=900,
              max_seconds=25, reuse_share=0.67) as load:
        net.wait_until(lambda: load.count_since(load.started) >= 40, 10, what="warm-up")
        lb.set_state("staying", "ready")
        lb.wait_status("staying", "UP", 10)
        slow_thread = threading.Thread(target=slow_request)
        slow_thread.start()
        time.sleep(0.5)

        # The group starts to terminate the instance: deregistration, and IMDS says so.
        t_flip = time.time()
        flip_mono = time.monotonic()
        lb.set_state("leaving", "drain")
        imds.lifecycle_state = "Terminated"

        rc_watch = watch.wait_exit(GRACE + DRAIN + 15)
        slow_thread.join(SLOW + DRAIN)
        net.wait_until(lambda: load.count_since(time.monotonic() - 1) > 0, 5, what="load still flowing")
        time.sleep(1)
    for proc in h2:
        try:
            proc.wait(timeout=H2_TRANSFERS / H2_RATE + 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("an HTTP/2 client did not finish")

    completions = aws.hook_completions(TERMINATE_HOOK)
    s = load.summary()
    closes_after_flip = [t for t in load.server_closes if t >= flip_mono]
    h2_runs = [h2_results(path) for path in h2_logs]
    report.record("scale_in.drain_on_deregistration", load=s, h2_transfers=[len(r) for r in h2_runs],
                  h2_new_connections=[sum(x["connects"] for x in r) for r in h2_runs],
                  h1_server_closes_after_flip=len(closes_after_flip), slow_request=slow,
                  proxy_exited_after_flip_s=round(exited_at.get("t", 0) - t_flip, 2),
                  hook_completed_after_flip_s=round(completions[0][0] - t_flip, 2) if completions else None)

    assert rc_watch == 0, watch.tail()
    assert leaving.proc.returncode == 0, leaving.tail()
    assert s["failed"] == 0, f"{s['failed']} of {s['total']} failed:\n{load.fail_detail()}"
    assert closes_after_flip, "the leaving proxy must close the busy keep-alive connections itself"
    for i, run in enumerate(h2_runs):
        assert len(run) == H2_TRANSFERS, f"h2 client {i}: {len(run)} transfers\n{h2_logs[i].read_text()[-800:]}"
        bad = [x for x in run if x["status"] != "200"]
        assert not bad, f"h2 client {i}: {len(bad)} failed transfers: {bad[:3]}"
        assert all(x["version"] == "2" for x in run), f"h2 client {i} did not speak HTTP/2"
        # One connection at the start, a new one after the leaving proxy's GOAWAY.
        assert sum(x["connects"] for x in run) >= 2, f"h2 client {i} was never sent away: {run[:3]}"
    assert slow.get("status") == 200, slow
    assert len(completions) == 1, aws.calls()
    t_done, args = completions[0]
    assert "--lifecycle-action-result CONTINUE" in args and f"--instance-id {imds.instance_id}" in args, args
    assert "t" in exited_at, "the leaving proxy did not exit"
    assert t_done >= slow["ended"], "the hook was completed while a request was still in flight"
    assert t_done >= exited_at["t"], "the hook was completed before the proxy exited"
    assert t_done - t_flip <= GRACE + DRAIN + 5, f"hook completed {t_done - t_flip:.1f}s after the flip"
    assert imds.unauthorized == 0, "the watcher must use IMDSv2 tokens"


# -- the launch gate and liveness, the other two jobs of lifecycle-watch -----------------

def no_proxy():
    """A proxy that never started, as LifecycleWatch sees it: an admin address nobody
    listens on and a process id nothing runs under."""
    ip = net.loopback_addr()
    return SimpleNamespace(admin=(ip, net.free_port(ip)), proc=SimpleNamespace(pid=999999))


def launch_hook_result(aws: AwsRecorder) -> str:
    """The arguments of the launch hook's completion, once lifecycle-watch has sent it."""
    done = wait_for(lambda: aws.hook_completions(LAUNCH_HOOK), 10, "launch hook completion")
    return done[0][1]


def test_launch_gate_abandons_when_the_proxy_failed(stack, workdir):
    """No proxy answers and the failure check says the service failed: ABANDON at once."""
    imds = stack.add(Imds(net.loopback_addr()).start())
    aws = AwsRecorder(workdir)
    watch = LifecycleWatch(workdir, no_proxy(), imds, aws)
    watch.env["STATICEDGE_FAILED_COMMAND"] = "true"
    stack.add(watch.start())
    assert "--lifecycle-action-result ABANDON" in launch_hook_result(aws), aws.calls()


def test_launch_gate_abandons_after_its_deadline(stack, workdir):
    imds = stack.add(Imds(net.loopback_addr()).start())
    aws = AwsRecorder(workdir)
    t0 = time.monotonic()
    stack.add(LifecycleWatch(workdir, no_proxy(), imds, aws, ready_timeout=2).start())
    time.sleep(0.8)
    assert aws.hook_completions(LAUNCH_HOOK) == [], "abandoned at once although nothing failed"
    assert "--lifecycle-action-result ABANDON" in launch_hook_result(aws), aws.calls()
    # The watcher counts whole seconds (date +%s): up to 1 s early.
    assert time.monotonic() - t0 >= 1, "abandoned before the ready timeout"


def test_liveness_reports_a_dead_proxy_but_never_unreadiness(make_app, new_proxy, stack, ca, workdir):
    """Readiness 503 (here: draining, its grace period long) is the NLB's business, not a
    reason to replace the instance; a proxy that no longer answers /healthz is."""
    app = make_app("blue")
    leaf = ca.issue(workdir, "edge", [CUSTOM_HOST])
    p = (new_proxy("p1").certificate(leaf).server(grace_period="30s", drain_timeout="2s")
         .upstream("app", address=app.addr).route("app", hosts=[CUSTOM_HOST]).run())
    imds = stack.add(Imds(net.loopback_addr()).start())
    aws = AwsRecorder(workdir)
    first = LifecycleWatch(workdir, p, imds, aws).start()
    wait_for(lambda: aws.hook_completions(LAUNCH_HOOK), 10, "launch hook completion")
    # A watcher restarted (by systemd, after a crash) does not pass the gate again.
    first.stop()
    stack.add(LifecycleWatch(workdir, p, imds, aws).start())
    time.sleep(1)
    assert len(aws.hook_completions(LAUNCH_HOOK)) == 1, aws.calls()

    def health_reports():
        return [a for _, a in aws.calls() if a.startswith("autoscaling set-instance-health")]

    p.signal(signal.SIGTERM)            # /readyz 503 "draining", /healthz still 200
    net.wait_until(lambda: p.readyz()[0] == 503, 5, what="readiness 503")
    time.sleep(2)                       # 10 polls of 0.2 s, the threshold is 3
    assert health_reports() == [], "an unready but live proxy must not be reported Unhealthy"

    p.signal(signal.SIGKILL)            # the process is gone: /healthz fails
    reports = wait_for(health_reports, 10, "set-instance-health call")
    time.sleep(1)
    assert len(health_reports()) == 1, health_reports()
    assert "--health-status Unhealthy --should-respect-grace-period" in reports[0], reports
