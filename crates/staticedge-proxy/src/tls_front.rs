//! TLS termination in front of the HTTP proxy, with our own rustls configuration.
//!
//! pingora's `TlsSettings` fixes the protocol versions and panics on bad files; this
//! accept path takes a `ServerConfig` we built and checked (versions, ALPN, the SNI
//! certificate store), bounds the handshake in time, and can be given a new
//! configuration on reload without touching the listening socket.

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::listeners::tls::Acceptor;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use rustls::ServerConfig;
use std::sync::Arc;
use std::time::Duration;
use tracing::debug;

/// How long a client has to finish the TLS handshake when nothing else is configured.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A `ServerApp` that performs the TLS handshake, then hands the decrypted stream to
/// the wrapped HTTP application for as long as the connection lives.
pub struct TlsFront<A> {
    app: Arc<A>,
    config: Arc<ArcSwap<ServerConfig>>,
    handshake_timeout: Duration,
}

impl<A> TlsFront<A> {
    /// Wraps `app`; `config` is shared with the reload path, which may replace it.
    pub fn new(app: A, config: Arc<ArcSwap<ServerConfig>>, handshake_timeout: Duration) -> Self {
        TlsFront {
            app: Arc::new(app),
            config,
            handshake_timeout,
        }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for TlsFront<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let acceptor = Acceptor::from_server_config(self.config.load_full());
        let peer = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().cloned());
        // Listeners added with add_tcp hand out plain L4 streams.
        let stream = match stream.into_any().downcast::<L4Stream>() {
            Ok(s) => *s,
            Err(_) => {
                debug!("not a TCP stream; closing");
                return None;
            }
        };
        let tls = match tokio::time::timeout(self.handshake_timeout, acceptor.tls_handshake(stream))
            .await
        {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                debug!(peer = ?peer, error = %e, "TLS handshake failed");
                return None;
            }
            Err(_) => {
                debug!(peer = ?peer, "TLS handshake timed out");
                return None;
            }
        };
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
