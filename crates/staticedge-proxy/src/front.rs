//! TLS termination in front of the HTTP proxy, with our own rustls configuration.
//!
//! pingora's `TlsSettings` fixes the protocol versions and panics on bad files; this
//! accept path uses a `ServerConfig` we built and checked (versions, ALPN, the SNI
//! certificate store), bounds the handshake in time, records what was negotiated,
//! and can be given a new configuration on reload without touching the socket.

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::listeners::tls::{Acceptor, TlsSettings};
use pingora::listeners::TlsAccept;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::tls::TlsRef;
use pingora::protocols::{Ssl, Stream, ALPN};
use pingora::server::ShutdownWatch;
use pingora::tls::TlsAcceptor;
use rustls::server::ResolvesServerCert;
use rustls::ServerConfig;
use staticedge_config::ProxyProtocolMode;
use staticedge_metrics::METRICS;
use std::any::Any;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tracing::debug;

/// How long a client has to finish the TLS handshake when nothing else is configured.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the handshake negotiated that requests want to know (the access log's `sni`).
#[derive(Debug, Clone)]
pub struct TlsFacts {
    /// The server name the client sent.
    pub sni: Option<String>,
}

struct CaptureFacts;

#[async_trait]
impl TlsAccept for CaptureFacts {
    async fn handshake_complete_callback(
        &self,
        tls: &TlsRef,
    ) -> Option<Arc<dyn Any + Send + Sync>> {
        Some(Arc::new(TlsFacts {
            sni: tls.server_name().map(str::to_string),
        }))
    }
}

/// An acceptor for `config` that records [`TlsFacts`] in each connection's digest.
pub fn acceptor(
    config: Arc<ServerConfig>,
    certs: Arc<dyn ResolvesServerCert>,
) -> pingora::Result<Acceptor> {
    // TlsSettings is only used to get an Acceptor that runs our callback; the rustls
    // configuration it builds is replaced by ours before any connection sees it.
    let mut settings = TlsSettings::with_callbacks(Box::new(CaptureFacts))?;
    settings.set_cert_resolver(certs);
    let mut acceptor = settings.build();
    acceptor.acceptor = TlsAcceptor::from(config);
    Ok(acceptor)
}

/// Open client connections, for the gauge.
struct ConnectionGuard;

impl ConnectionGuard {
    fn new() -> Self {
        METRICS.downstream_connections.inc();
        ConnectionGuard
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        METRICS.downstream_connections.dec();
    }
}

/// A `ServerApp` that performs the TLS handshake, then hands the decrypted stream to
/// the wrapped HTTP application for as long as the connection lives.
pub struct TlsFront<A> {
    app: Arc<A>,
    acceptor: Arc<ArcSwap<Acceptor>>,
    handshake_timeout: Duration,
    proxy_protocol: HashMap<SocketAddr, ProxyProtocolMode>,
}

impl<A> TlsFront<A> {
    /// Wraps `app`; `acceptor` is shared with the reload path, which may replace it.
    /// `proxy_protocol` gives each listen address its PROXY header mode (a listen
    /// address is fixed for the life of the process, and so is its mode).
    pub fn new(
        app: A,
        acceptor: Arc<ArcSwap<Acceptor>>,
        handshake_timeout: Duration,
        proxy_protocol: HashMap<SocketAddr, ProxyProtocolMode>,
    ) -> Self {
        TlsFront {
            app: Arc::new(app),
            acceptor,
            handshake_timeout,
            proxy_protocol,
        }
    }

    fn proxy_mode(&self, local: Option<SocketAddr>) -> ProxyProtocolMode {
        let Some(local) = local else {
            return ProxyProtocolMode::Off;
        };
        self.proxy_protocol
            .get(&local)
            .or_else(|| {
                self.proxy_protocol
                    .iter()
                    .find(|(a, _)| a.port() == local.port() && a.ip().is_unspecified())
                    .map(|(_, m)| m)
            })
            .copied()
            .unwrap_or(ProxyProtocolMode::Off)
    }
}

fn alpn_label(alpn: Option<ALPN>) -> &'static str {
    match alpn {
        Some(ALPN::H2) => "h2",
        Some(ALPN::H1) | Some(ALPN::H2H1) | None => "http/1.1",
        Some(_) => "other",
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for TlsFront<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let _open = ConnectionGuard::new();
        let acceptor = self.acceptor.load_full();
        let peer = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().cloned());
        // Listeners added with add_tcp hand out plain L4 streams.
        let local = stream
            .get_socket_digest()
            .and_then(|d| d.local_addr().and_then(|a| a.as_inet()).copied());
        let mut stream = match stream.into_any().downcast::<L4Stream>() {
            Ok(s) => *s,
            Err(_) => {
                debug!("not a TCP stream; closing");
                return None;
            }
        };
        let mode = self.proxy_mode(local);
        // One deadline covers the PROXY header and the handshake.
        let handshake = async {
            crate::pre_tls::accept_proxy_header(&mut stream, mode)
                .await
                .map_err(|e| {
                    debug!(peer = ?peer, error = %e, "PROXY header rejected; closing");
                })?;
            acceptor.tls_handshake(stream).await.map_err(|e| {
                METRICS
                    .tls_handshakes
                    .with_label_values(&["error", "", ""])
                    .inc();
                debug!(peer = ?peer, error = %e, "TLS handshake failed");
            })
        };
        let tls = match tokio::time::timeout(self.handshake_timeout, handshake).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(())) => return None,
            Err(_) => {
                METRICS
                    .tls_handshakes
                    .with_label_values(&["timeout", "", ""])
                    .inc();
                debug!(peer = ?peer, "TLS handshake timed out");
                return None;
            }
        };
        let version = tls
            .get_ssl_digest()
            .map(|d| d.version.to_string())
            .unwrap_or_default();
        METRICS
            .tls_handshakes
            .with_label_values(&["ok", &version, alpn_label(tls.selected_alpn_proto())])
            .inc();
        // The HTTP app runs its own keep-alive loop and only returns a stream for a
        // protocol switch, which must not be handshaken again.
        let mut next: Option<Stream> = Some(Box::new(tls));
        while let Some(s) = next {
            next = self.app.process_new(s, shutdown).await;
        }
        None
    }

    async fn cleanup(&self) {
        self.app.cleanup().await;
    }
}
