//! The control loop: DNS refresh tasks, SIGHUP reloads and start-up probes. Runs as
//! a pingora background service so it lives exactly as long as the server. It also
//! gives SIGUSR1 (`signals.rs`) the access log to reopen.

use crate::live::Live;
use async_trait::async_trait;
use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use staticedge_config::Upstream;
use staticedge_dns::{follow, UpstreamAddrs};
use staticedge_metrics::METRICS;
use staticedge_proxy::upstream_peer;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

/// The background service.
pub struct Control {
    live: Live,
    initial: Mutex<Vec<Arc<UpstreamAddrs>>>,
}

impl Control {
    /// `initial`: the upstream sets created at start, whose loops it must start.
    pub fn new(live: Live, initial: Vec<Arc<UpstreamAddrs>>) -> Self {
        Control {
            live,
            initial: Mutex::new(initial),
        }
    }
}

/// Reopens the access log at the destination of the configuration that serves now:
/// SIGUSR1, and a refused reload (a SIGHUP must reopen the log even when
/// the configuration on disk is broken).
fn reopen_access_log(live: &Live) {
    let dest = live.state.load().config.server.access_log.clone();
    live.access_log.reopen(dest);
}

fn start_following(sets: Vec<Arc<UpstreamAddrs>>) {
    for s in sets {
        tokio::spawn(follow(Arc::downgrade(&s)));
    }
}

/// Starts one probe loop per upstream with a `[probe]`, replacing the previous ones.
fn start_probes(live: &Live, probes: &mut Vec<JoinHandle<()>>) {
    for p in probes.drain(..) {
        p.abort();
    }
    let state = live.state.load_full();
    for u in state.config.upstreams.values() {
        if u.probe.is_none() {
            continue;
        }
        if let Some(addrs) = state.upstreams.get(&u.name) {
            probes.push(tokio::spawn(probe_loop(
                live.clone(),
                u.clone(),
                Arc::downgrade(addrs),
            )));
        }
    }
}

async fn probe_loop(live: Live, upstream: Upstream, addrs: std::sync::Weak<UpstreamAddrs>) {
    let Some(probe) = upstream.probe.clone() else {
        return;
    };
    let connector = Connector::new(None);
    loop {
        let Some(set) = addrs.upgrade() else { return };
        let addr = set.select(&[]);
        drop(set);
        let result = match addr {
            None => Err("no address resolved yet".to_string()),
            Some(addr) => probe_once(&connector, &upstream, addr).await,
        };
        let (ok, text) = match result {
            Ok(code) if probe.expect_status.contains(&code) => (true, format!("status {code}")),
            Ok(code) => (
                false,
                format!("status {code} (expected {:?})", probe.expect_status),
            ),
            Err(e) => (false, e),
        };
        let was_open = live.lifecycle.probes.is_open();
        live.lifecycle
            .probes
            .record(&upstream.name, ok, text.clone());
        if !ok && !was_open {
            warn!(upstream = %upstream.name, result = %text, "start-up probe failed; staying unready");
        }
        tokio::time::sleep(if ok || was_open {
            probe.interval
        } else {
            probe.interval.min(Duration::from_secs(1))
        })
        .await;
    }
}

async fn probe_once(
    connector: &Connector,
    upstream: &Upstream,
    addr: std::net::SocketAddr,
) -> Result<u16, String> {
    let Some(probe) = &upstream.probe else {
        return Err("no probe".into());
    };
    // The same peer requests use, but a probe answers quickly and is never reused.
    let mut peer = upstream_peer(upstream, addr);
    peer.options.read_timeout = Some(upstream.connect_timeout.max(Duration::from_secs(5)));
    peer.options.idle_timeout = Some(Duration::ZERO);
    let work = async {
        let (mut session, _) = connector
            .get_http_session(&peer)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let host = probe
            .host
            .clone()
            .unwrap_or_else(|| upstream.address.host());
        let mut req =
            RequestHeader::build("GET", probe.path.as_bytes(), None).map_err(|e| e.to_string())?;
        req.insert_header("host", host).map_err(|e| e.to_string())?;
        req.insert_header("user-agent", "staticedge-probe")
            .map_err(|e| e.to_string())?;
        session
            .write_request_header(Box::new(req))
            .await
            .map_err(|e| format!("send to {addr}: {e}"))?;
        session
            .finish_request_body()
            .await
            .map_err(|e| e.to_string())?;
        session
            .read_response_header()
            .await
            .map_err(|e| format!("read from {addr}: {e}"))?;
        session
            .response_header()
            .map(|r| r.status.as_u16())
            .ok_or_else(|| "no response".to_string())
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .map_err(|_| format!("probe to {addr} timed out"))?
}

#[async_trait]
impl BackgroundService for Control {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let initial = std::mem::take(&mut *self.initial.lock().unwrap_or_else(|e| e.into_inner()));
        start_following(initial);
        let mut probes = Vec::new();
        start_probes(&self.live, &mut probes);
        tokio::spawn(crate::cert_watch::watch(self.live.clone()));
        let live = self.live.clone();
        crate::signals::on_usr1(Arc::new(move || reopen_access_log(&live)));
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                error!(error = %e, "cannot listen for SIGHUP; reloads are off");
                let _ = shutdown.changed().await;
                return;
            }
        };
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    // Each result is recorded for /status before it is counted:
                    // `staticedge reload` waits for the count, then reads the result.
                    match self.live.reload() {
                        Ok(fresh) => {
                            info!(config = %self.live.config_path.display(), "configuration reloaded");
                            self.live.lifecycle.record_reload(None);
                            METRICS.config_reloads.with_label_values(&["ok"]).inc();
                            start_following(fresh);
                            start_probes(&self.live, &mut probes);
                        }
                        Err(e) => {
                            reopen_access_log(&self.live);
                            for line in e.lines() {
                                error!("reload refused, old configuration keeps serving: {line}");
                            }
                            self.live.lifecycle.record_reload(Some(e));
                            METRICS.config_reloads.with_label_values(&["error"]).inc();
                        }
                    }
                }
                _ = shutdown.changed() => {
                    if *shutdown.borrow() { return; }
                }
            }
        }
    }
}
