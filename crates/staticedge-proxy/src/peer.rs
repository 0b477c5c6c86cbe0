//! The one way staticedge builds a pingora `HttpPeer` for an upstream address, so
//! requests and start-up probes connect with the same timeouts, TLS and keepalive.

use pingora::prelude::HttpPeer;
use pingora::protocols::TcpKeepalive;
use staticedge_config::Upstream;
use std::net::SocketAddr;
use std::time::Duration;

/// A peer for `addr` with `upstream`'s settings. pingora's own defaults are no
/// timeouts and unlimited idle reuse, so every option is set here.
pub fn upstream_peer(upstream: &Upstream, addr: SocketAddr) -> HttpPeer {
    let sni = if upstream.tls {
        upstream.address.host()
    } else {
        String::new()
    };
    let mut peer = HttpPeer::new(addr, upstream.tls, sni);
    let o = &mut peer.options;
    o.connection_timeout = Some(upstream.connect_timeout);
    o.total_connection_timeout = Some(upstream.connect_timeout);
    o.read_timeout = Some(upstream.read_timeout);
    o.write_timeout = Some(upstream.read_timeout);
    o.idle_timeout = Some(upstream.idle_timeout);
    o.tcp_keepalive = Some(TcpKeepalive {
        idle: Duration::from_secs(30),
        interval: Duration::from_secs(10),
        count: 3,
        #[cfg(target_os = "linux")]
        user_timeout: Duration::from_secs(0),
    });
    peer
}
