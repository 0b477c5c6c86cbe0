//! The configuration a request is served with, swapped whole on reload.

use arc_swap::ArcSwap;
use staticedge_config::{Config, Listener, RouteTable};
use staticedge_dns::UpstreamRegistry;
use staticedge_ratelimit::RateLimiters;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Everything the request path reads, from one configuration. A request loads it once
/// and keeps that snapshot to the end, so a reload never mixes two configurations in
/// one request.
#[derive(Debug)]
pub struct ProxyState {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Routes indexed for matching.
    pub routes: RouteTable,
    /// Live address sets of the upstreams.
    pub upstreams: UpstreamRegistry,
    /// The routes' rate limiters, indexed like `routes`.
    pub rate_limits: RateLimiters,
}

/// The live state shared by every listener and the reload path.
pub type SharedState = Arc<ArcSwap<ProxyState>>;

impl ProxyState {
    /// Builds the state for `config` with the given upstream address sets. The
    /// rate limiters of `previous` (the state being replaced on a reload) are kept
    /// where a route's limit did not change, so a reload does not hand every client
    /// a fresh burst.
    pub fn new(
        config: Arc<Config>,
        upstreams: UpstreamRegistry,
        previous: Option<&ProxyState>,
    ) -> Self {
        let routes = RouteTable::new(config.routes.clone());
        let rate_limits = RateLimiters::new(&routes, previous.map(|p| &p.rate_limits));
        ProxyState {
            routes,
            config,
            upstreams,
            rate_limits,
        }
    }

    /// The listener a connection arrived on, from its local address (a listener on
    /// 0.0.0.0 sees the concrete local IP, so the port decides then).
    pub fn listener_for(&self, local: Option<SocketAddr>) -> Option<&Listener> {
        let local = local?;
        let listeners = &self.config.listeners;
        listeners
            .iter()
            .find(|l| l.listen == local)
            .or_else(|| listeners.iter().find(|l| l.listen.port() == local.port()))
    }

    /// How long the connection may wait for the client's next request after this
    /// one: the configured keep-alive when the client wants another request and the
    /// instance is not draining; `None` closes the connection after the answer.
    pub fn keepalive(&self, client_wants_more: bool, draining: bool) -> Option<Duration> {
        (client_wants_more && !draining).then_some(self.config.server.keepalive_timeout)
    }
}
