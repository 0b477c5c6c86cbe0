//! Every reason this instance should not get new traffic right now.

use crate::service::AdminView;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime};
use tokio::net::TcpStream;

/// The answer of `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Every reason not to be ready; empty means ready.
    pub reasons: Vec<String>,
}

impl Readiness {
    /// True when there is no reason against.
    pub fn is_ready(&self) -> bool {
        self.reasons.is_empty()
    }
}

/// A wildcard bind address is reached through loopback.
fn dial_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// True when a TCP connection to the listener succeeds (it proves the accept loop).
pub async fn accepting(listen: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_millis(500),
            TcpStream::connect(dial_address(listen))
        )
        .await,
        Ok(Ok(_))
    )
}

/// Checks draining, listeners (by connecting to them), certificates, upstream DNS
/// state and the probe gate. Upstream HTTP failures are deliberately not reasons.
pub async fn readiness(view: &AdminView) -> Readiness {
    let mut reasons = Vec::new();
    if view.lifecycle.is_draining() {
        reasons.push("draining: SIGTERM received".to_string());
    }
    let state = view.state.load_full();
    for l in &state.config.listeners {
        if !accepting(l.listen).await {
            reasons.push(format!(
                "listener {} is not accepting connections",
                l.listen
            ));
        }
    }
    if state.config.listeners.iter().any(|l| l.tls) {
        let certs = view.certs.current();
        let now = SystemTime::now();
        if certs.infos().iter().all(|c| c.is_expired(now)) {
            let names: Vec<String> = certs
                .infos()
                .iter()
                .map(|c| format!("{} (expired or not yet valid)", c.path))
                .collect();
            reasons.push(format!("no valid certificate: {}", names.join(", ")));
        }
    }
    for u in state.upstreams.all() {
        if let Some(problem) = u.readiness_problem() {
            reasons.push(problem);
        }
    }
    let probed: Vec<String> = state
        .config
        .upstreams
        .values()
        .filter(|u| u.probe.is_some())
        .map(|u| u.name.clone())
        .collect();
    for (name, last) in view.lifecycle.probes.waiting_for(&probed) {
        reasons.push(format!(
            "upstream {name}: start-up probe has not succeeded yet (last: {last})"
        ));
    }
    Readiness { reasons }
}
