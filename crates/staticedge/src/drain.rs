//! SIGTERM as the NLB needs it: fail readiness first, keep serving, then stop.
//!
//! pingora's own handling closes every listener (the health port too) the moment
//! SIGTERM arrives and then sleeps a fixed grace period. Here SIGTERM only flips
//! readiness to 503; traffic is served for `grace_period` while the load balancer
//! notices; then pingora is told to stop accepting, and the process exits as soon as
//! the last in-flight request finished, or when `drain_timeout` is up.
//!
//! SIGQUIT drains exactly like SIGTERM (nginx's graceful stop). pingora would read it
//! as a binary upgrade and hand its listening sockets to a new process over
//! `upgrade_sock`; staticedge never does that (a new instance is a new machine
//! behind the NLB), so our watch never returns `GracefulUpgrade`.

use async_trait::async_trait;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use staticedge_admin::Lifecycle;
use staticedge_policy::{AccessLogger, InFlight, SharedState};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, SignalKind};
use tracing::{info, warn};

/// Our `ShutdownSignalWatch` for `Server::run`.
pub struct DrainSignal {
    /// Readiness and drain flag.
    pub lifecycle: Arc<Lifecycle>,
    /// Where grace_period and drain_timeout are read at the time of SIGTERM.
    pub state: SharedState,
    /// Requests in progress.
    pub in_flight: InFlight,
    /// Flushed before the process exits.
    pub access_log: AccessLogger,
    /// Run just before the drain path exits the process (the demo removes its
    /// temporary files), since that exit skips everything after `Server::run`.
    pub before_exit: Option<BeforeExit>,
}

/// Clean-up to run before the process exits.
pub type BeforeExit = Arc<dyn Fn() + Send + Sync>;

#[async_trait]
impl ShutdownSignalWatch for DrainSignal {
    async fn recv(&self) -> ShutdownSignal {
        let (Ok(mut term), Ok(mut quit), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::quit()),
            signal(SignalKind::interrupt()),
        ) else {
            warn!("cannot install signal handlers; stopping");
            return ShutdownSignal::FastShutdown;
        };
        let received = tokio::select! {
            _ = int.recv() => {
                info!("SIGINT: stopping now");
                return ShutdownSignal::FastShutdown;
            }
            _ = term.recv() => "SIGTERM",
            _ = quit.recv() => "SIGQUIT",
        };
        let server = self.state.load().config.server.clone();
        self.lifecycle.start_draining();
        info!(
            signal = received,
            grace_period_s = server.grace_period.as_secs_f64(),
            "draining: readiness now fails; still serving for the grace period"
        );
        tokio::select! {
            _ = tokio::time::sleep(server.grace_period) => {}
            _ = int.recv() => {
                info!("SIGINT during the grace period: stopping now");
                return ShutdownSignal::FastShutdown;
            }
        }
        info!(
            drain_timeout_s = server.drain_timeout.as_secs_f64(),
            in_flight = self.in_flight.count(),
            "grace period over: listeners close; in-flight requests may finish"
        );
        exit_when_drained(
            self.in_flight.clone(),
            server.drain_timeout,
            self.access_log.clone(),
            self.before_exit.clone(),
        );
        ShutdownSignal::GracefulTerminate
    }
}

/// Watches the in-flight count on a thread of its own (pingora's shutdown path
/// blocks its runtime) and exits 0 once it is zero, or when `limit` is up. SIGINT
/// (or another SIGTERM or SIGQUIT) during the drain stops at once.
fn exit_when_drained(
    in_flight: InFlight,
    limit: Duration,
    access_log: AccessLogger,
    before_exit: Option<BeforeExit>,
) {
    let started = Instant::now();
    std::thread::spawn(move || {
        let drained = async {
            // Let pingora broadcast the shutdown and close idle connections first.
            tokio::time::sleep(Duration::from_millis(200)).await;
            loop {
                let left = in_flight.count();
                if left == 0 {
                    info!(
                        after_ms = started.elapsed().as_millis() as u64,
                        "drained; exiting"
                    );
                    return;
                }
                if started.elapsed() >= limit {
                    warn!(
                        in_flight = left,
                        "drain_timeout reached; exiting with requests still open"
                    );
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let interrupted = async {
            match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
                signal(SignalKind::quit()),
            ) {
                (Ok(mut int), Ok(mut term), Ok(mut quit)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                        _ = quit.recv() => {}
                    }
                    warn!("signal during the drain: stopping now");
                }
                _ => std::future::pending::<()>().await,
            }
        };
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(async {
                tokio::select! {
                    _ = drained => {}
                    _ = interrupted => {}
                }
            }),
            Err(e) => warn!(error = %e, "no runtime for the drain watcher; exiting now"),
        }
        access_log.flush(Duration::from_secs(1));
        if let Some(clean_up) = before_exit {
            clean_up();
        }
        std::process::exit(0);
    });
}
