//! The connection-level front of the proxy, before any HTTP is parsed: connection
//! limits, the PROXY protocol header, TLS termination with our own rustls
//! configuration, and a deadline for each whole HTTP/1 request header.
//!
//! pingora's `TlsSettings` fixes the protocol versions and panics on bad files, and
//! pingora only times each single read (a slowloris client trickling one byte per
//! minute holds a connection forever). This accept path fixes both, records what the
//! handshake negotiated, and takes a new TLS configuration on reload without touching
//! the listening socket.

use crate::limits::{ConnectionLimits, ConnectionSlot};
use crate::state::SharedState;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::BytesMut;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora::listeners::tls::{Acceptor, TlsSettings};
use pingora::listeners::TlsAccept;
use pingora::protocols::http::ServerSession;
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
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::debug;

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

/// Deadlines of the front, read from the live configuration for each connection.
#[derive(Debug, Clone, Copy)]
struct FrontTimeouts {
    /// PROXY header plus TLS handshake.
    handshake: Duration,
    /// From the first byte of a request header to its end.
    header: Duration,
    /// How long an idle keep-alive connection waits for the next request.
    keepalive: Duration,
}

impl FrontTimeouts {
    fn from(state: &SharedState) -> Self {
        let s = state.load();
        FrontTimeouts {
            handshake: s.config.limits.handshake_timeout,
            header: s.config.limits.header_timeout,
            keepalive: s.config.server.keepalive_timeout,
        }
    }
}

/// A `ServerApp` that owns each client connection and hands it to the HTTP proxy.
pub struct Front<A> {
    app: Arc<A>,
    /// `None` for a plain-HTTP listener.
    tls: Option<Arc<ArcSwap<Acceptor>>>,
    state: SharedState,
    limits: Arc<ConnectionLimits>,
}

impl<A> Front<A> {
    /// Wraps `app`. `tls` is shared with the reload path, which may replace it;
    /// `state` gives each connection its listener's settings and the deadlines.
    pub fn new(
        app: A,
        tls: Option<Arc<ArcSwap<Acceptor>>>,
        state: SharedState,
        limits: Arc<ConnectionLimits>,
    ) -> Self {
        Front {
            app: Arc::new(app),
            tls,
            state,
            limits,
        }
    }

    /// The PROXY header mode of the listener a connection arrived on (listen sockets
    /// and their modes are restart-only, so the live configuration always has it).
    fn proxy_mode(&self, local: Option<SocketAddr>) -> ProxyProtocolMode {
        self.state
            .load()
            .listener_for(local)
            .map(|l| l.proxy_protocol)
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

/// Why a request header was not read.
enum HeaderWait {
    /// The client closed (or errored) between requests: nothing to answer.
    Closed,
    /// The client started a header and did not finish it in time.
    TooSlow,
}

/// Reads until the end of an HTTP/1 header (or 64 KiB), returning the bytes for
/// pingora to parse. The first byte may take `idle`; the rest of the header must
/// follow within `header` of it. An idle keep-alive connection waits for that first
/// byte with no buffer at all (TLS has already buffered the request when it
/// arrives, so the split costs no system call); the rest goes into one growing
/// buffer.
async fn read_header(
    stream: &mut Stream,
    idle: Duration,
    header: Duration,
) -> Result<BytesMut, HeaderWait> {
    const LIMIT: usize = 64 * 1024;
    let mut first = [0u8; 1];
    match tokio::time::timeout(idle, stream.read(&mut first)).await {
        Ok(Ok(1)) => {}
        _ => return Err(HeaderWait::Closed),
    }
    let mut buf = BytesMut::with_capacity(1024);
    buf.extend_from_slice(&first);
    let deadline = tokio::time::Instant::now() + header;
    let mut scanned: usize = 0;
    loop {
        if buf[scanned.saturating_sub(3)..]
            .windows(4)
            .any(|w| w == b"\r\n\r\n")
        {
            return Ok(buf);
        }
        if buf.len() >= LIMIT {
            // Too long to pre-read: pingora enforces its own header size limit.
            return Ok(buf);
        }
        scanned = buf.len();
        if buf.capacity() - buf.len() < 256 {
            buf.reserve(4096);
        }
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => return Err(HeaderWait::Closed),
            Err(_) => return Err(HeaderWait::TooSlow),
        }
    }
}

/// How much of a new TLS connection the first read takes: a whole ClientHello,
/// post-quantum key shares included, in one system call.
const CLIENT_HELLO_READ: usize = 4096;

const TIMEOUT_408: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

impl<A: HttpServerApp + Send + Sync + 'static> Front<A> {
    /// The HTTP/1 keep-alive loop (what pingora does) with a header deadline on
    /// every request of the connection.
    async fn serve_http1(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
        timeouts: FrontTimeouts,
    ) {
        let mut idle = timeouts.header;
        let mut carried: Option<HttpPersistentSettings> = None;
        loop {
            // An idle keep-alive connection is closed as soon as the drain begins.
            let mut stopping = shutdown.clone();
            let read = tokio::select! {
                r = read_header(&mut stream, idle, timeouts.header) => r,
                _ = stopping.wait_for(|stop| *stop) => Err(HeaderWait::Closed),
            };
            let header = match read {
                Ok(h) => h,
                Err(HeaderWait::Closed) => return,
                Err(HeaderWait::TooSlow) => {
                    METRICS
                        .rejected
                        .with_label_values(&["header_timeout"])
                        .inc();
                    let _ = stream.write_all(TIMEOUT_408).await;
                    let _ = stream.flush().await;
                    return;
                }
            };
            if let Err(why) = crate::framing::check_raw_h1_header(&header) {
                METRICS.rejected.with_label_values(&["bad_framing"]).inc();
                let body = format!("bad request: {why}\n");
                let response = format!(
                    "HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.flush().await;
                return;
            }
            let mut session = ServerSession::new_http1(stream);
            match carried.take() {
                Some(settings) => settings.apply_to_session(&mut session),
                None => {
                    let keepalive = (!*shutdown.borrow()).then_some(timeouts.keepalive.as_secs());
                    session.set_keepalive(keepalive);
                }
            }
            session.set_pipelined_prefix(header);
            let Some(reused) = self.app.process_new_http(session, shutdown).await else {
                return;
            };
            let (next, settings) = reused.consume();
            stream = next;
            carried = settings;
            idle = timeouts.keepalive;
            if *shutdown.borrow() {
                return;
            }
        }
    }
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> ServerApp for Front<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let digest = stream.get_socket_digest();
        let peer = digest
            .as_ref()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).copied());
        let local = digest
            .as_ref()
            .and_then(|d| d.local_addr().and_then(|a| a.as_inet()).copied());
        let mut stream = match stream.into_any().downcast::<L4Stream>() {
            Ok(s) => *s,
            Err(_) => {
                debug!("not a TCP stream; closing");
                return None;
            }
        };
        let mode = self.proxy_mode(local);
        let timeouts = FrontTimeouts::from(&self.state);
        // One deadline covers the PROXY header and the handshake. The handshake's
        // state is large (rustls and pingora futures, ~6 KiB) and only needed until
        // it ends, so it lives in its own allocation instead of widening this
        // future, which every idle keep-alive connection keeps.
        let accept = Box::pin(async {
            let header = crate::pre_tls::accept_proxy_header(&mut stream, mode)
                .await
                .map_err(|e| {
                    debug!(peer = ?peer, error = %e, "PROXY header rejected; closing");
                })?;
            let client = match header {
                Some(staticedge_proxy_protocol::Header::Proxy { source, .. }) => Some(source),
                _ => peer,
            };
            let Some(slot) = self.limits.admit(client.map(|a| a.ip())) else {
                METRICS
                    .rejected
                    .with_label_values(&["connection_limit"])
                    .inc();
                debug!(client = ?client, "connection limit reached; closing");
                return Err(());
            };
            let stream: Stream = match &self.tls {
                None => Box::new(stream),
                Some(tls) => {
                    // A connection closed before its first byte (a TCP health check,
                    // our own readiness probe) is not a failed handshake. The socket
                    // is read without a buffer under it, so this one read takes the
                    // whole ClientHello and hands it back to rustls.
                    let mut first = BytesMut::with_capacity(CLIENT_HELLO_READ);
                    match stream.read_buf(&mut first).await {
                        Ok(n) if n > 0 => stream.rewind(&first),
                        _ => {
                            METRICS
                                .tls_handshakes
                                .with_label_values(&["closed_early", "", ""])
                                .inc();
                            return Err(());
                        }
                    }
                    let acceptor = tls.load_full();
                    let tls_stream = acceptor.tls_handshake(stream).await.map_err(|e| {
                        METRICS
                            .tls_handshakes
                            .with_label_values(&["error", "", ""])
                            .inc();
                        debug!(peer = ?peer, error = %e, "TLS handshake failed");
                    })?;
                    let version = tls_stream
                        .get_ssl_digest()
                        .map(|d| d.version.to_string())
                        .unwrap_or_default();
                    METRICS
                        .tls_handshakes
                        .with_label_values(&[
                            "ok",
                            &version,
                            alpn_label(tls_stream.selected_alpn_proto()),
                        ])
                        .inc();
                    Box::new(tls_stream)
                }
            };
            Ok::<(Stream, ConnectionSlot), ()>((stream, slot))
        });
        let (stream, _slot) = match tokio::time::timeout(timeouts.handshake, accept).await {
            Ok(Ok(x)) => x,
            Ok(Err(())) => return None,
            Err(_) => {
                if self.tls.is_some() {
                    METRICS
                        .tls_handshakes
                        .with_label_values(&["timeout", "", ""])
                        .inc();
                }
                debug!(peer = ?peer, "handshake timed out");
                return None;
            }
        };
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            // h2: pingora's own connection handling (idle timeout, stream limits).
            let mut next = Some(stream);
            while let Some(s) = next {
                next = self.app.process_new(s, shutdown).await;
            }
        } else {
            Box::pin(self.serve_http1(stream, shutdown, timeouts)).await;
        }
        None
    }

    async fn cleanup(&self) {
        self.app.http_cleanup().await;
    }
}
