//! The connection-level front of the proxy, before any HTTP is parsed: connection
//! limits, the PROXY protocol header, TLS termination with our own rustls
//! configuration, and a deadline and size limits for each whole HTTP/1 request
//! header.
//!
//! pingora's `TlsSettings` fixes the protocol versions and panics on bad files, and
//! pingora only times each single read (a slowloris client trickling one byte per
//! minute holds a connection forever). This accept path fixes both, records what the
//! handshake negotiated, and takes a new TLS configuration on reload without touching
//! the listening socket.

use crate::h2::H2Connection;
use crate::lean::{self, Lean, Next};
use crate::limits::{ConnectionLimits, ConnectionSlot};
use crate::tls_accept::{TlsAcceptors, TlsFacts};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::{BufMut, BytesMut};
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::l4::socket::SocketAddr as PSocketAddr;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::{Ssl, Stream, ALPN};
use pingora::server::ShutdownWatch;
use staticedge_config::{HeaderLimits, ProxyProtocolMode, RequestPath};
use staticedge_metrics::METRICS;
use staticedge_policy::header_limits::{H1Header, H1HeaderScan};
use staticedge_policy::{
    finish, framing, request_id, AccessLogger, ClientCert, InFlight, Outcome, Refusal,
    RequestSummary, SharedState, TlsSummary,
};
use staticedge_tls::{peek_server_name, Peek};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tracing::debug;

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
    tls: Option<Arc<ArcSwap<TlsAcceptors>>>,
    state: SharedState,
    limits: Arc<ConnectionLimits>,
    access_log: AccessLogger,
    in_flight: InFlight,
}

impl<A> Front<A> {
    /// Wraps `app`. `tls` is shared with the reload path, which may replace it;
    /// `state` gives each connection its listener's settings and the deadlines;
    /// `access_log` and `in_flight` serve the answers the front gives itself and the
    /// requests of the lean path.
    pub fn new(
        app: A,
        tls: Option<Arc<ArcSwap<TlsAcceptors>>>,
        state: SharedState,
        limits: Arc<ConnectionLimits>,
        access_log: AccessLogger,
        in_flight: InFlight,
    ) -> Self {
        Front {
            app: Arc::new(app),
            tls,
            state,
            limits,
            access_log,
            in_flight,
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
#[derive(Debug, PartialEq, Eq)]
enum HeaderWait {
    /// The client closed (or errored) between requests, or the drain began while the
    /// connection was idle: nothing to answer.
    Closed,
    /// The client started a header and did not finish it in time.
    TooSlow,
    /// The header passed one of `limits` (414 or 431), with the bytes read so far.
    TooLarge(Refusal, BytesMut),
}

/// The most one read of a request header takes from the connection.
const HEADER_READ_MAX: usize = 16 * 1024;

/// Reads until the end of an HTTP/1 header, returning the bytes for the engine to
/// parse. The first byte may take `idle`; the rest of the header must follow within
/// `header` of it. An idle keep-alive connection waits for that first byte with no
/// buffer at all (TLS has already buffered the request when it arrives, so the split
/// costs no system call); the rest goes into one growing buffer. Bytes a client sent
/// past its previous request (`carried`, pipelining) start the next header without
/// waiting. A header that passes one of `limits` is refused as soon as it does: no
/// read goes past `max_request_header_bytes`, so the buffer never holds more.
async fn read_header<S: AsyncRead + Unpin>(
    stream: &mut S,
    idle: Duration,
    header: Duration,
    carried: BytesMut,
    limits: HeaderLimits,
) -> Result<BytesMut, HeaderWait> {
    let mut buf = carried;
    if buf.is_empty() {
        let mut first = [0u8; 1];
        match tokio::time::timeout(idle, stream.read(&mut first)).await {
            Ok(Ok(1)) => {}
            _ => return Err(HeaderWait::Closed),
        }
        buf.reserve(1024);
        buf.extend_from_slice(&first);
    }
    let deadline = tokio::time::Instant::now() + header;
    let mut scan = H1HeaderScan::new(limits);
    loop {
        match scan.advance(&buf) {
            Ok(H1Header::Complete(_)) => return Ok(buf),
            Ok(H1Header::Incomplete) => {}
            Err(refusal) => return Err(HeaderWait::TooLarge(refusal, buf)),
        }
        // One byte past the limit is enough to know the header is over it.
        let room = (limits.max_request_header_bytes + 1)
            .saturating_sub(buf.len())
            .clamp(1, HEADER_READ_MAX);
        if buf.capacity() - buf.len() < 256 {
            buf.reserve(room.min(4096));
        }
        let mut window = (&mut buf).limit(room);
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut window)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => return Err(HeaderWait::Closed),
            Err(_) => return Err(HeaderWait::TooSlow),
        }
    }
}

/// The next request header of a keep-alive connection, or why there is none. An
/// idle connection is closed as soon as the drain begins.
async fn next_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    idle: Duration,
    header: Duration,
    shutdown: &ShutdownWatch,
    carried: BytesMut,
    limits: HeaderLimits,
) -> Result<BytesMut, HeaderWait> {
    let mut stopping = shutdown.clone();
    tokio::select! {
        r = read_header(stream, idle, header, carried, limits) => r,
        _ = stopping.wait_for(|stop| *stop) => Err(HeaderWait::Closed),
    }
}

/// How much of a new TLS connection the first read takes: a whole ClientHello,
/// post-quantum key shares included, in one system call.
const CLIENT_HELLO_READ: usize = 4096;

/// The most a ClientHello may take before its server name is known, when the name
/// decides the handshake's configuration (client certificates per certificate).
/// A longer one fails the handshake: serving it with another configuration could
/// skip the client certificate its name requires.
const CLIENT_HELLO_MAX: usize = 16 * 1024;

/// Reads until the ClientHello in `first` shows its server name (`None`: it sent
/// none). `Err` says why the handshake cannot go on.
async fn read_server_name(
    stream: &mut L4Stream,
    first: &mut BytesMut,
) -> Result<Option<String>, &'static str> {
    loop {
        match peek_server_name(first) {
            Peek::Name(name) => return Ok(name),
            Peek::NotTls => return Err("not a TLS ClientHello"),
            Peek::Incomplete if first.len() >= CLIENT_HELLO_MAX => {
                return Err("ClientHello too large")
            }
            Peek::Incomplete => {}
        }
        first.reserve(CLIENT_HELLO_READ);
        match stream.read_buf(first).await {
            Ok(n) if n > 0 => {}
            _ => return Err("closed during the ClientHello"),
        }
    }
}

/// What a connection knows about its client once it is accepted: what the access
/// log of an answer written by the front itself (408, framing 400) records.
#[derive(Debug, Default)]
pub(crate) struct ConnectionFacts {
    /// The client: from the PROXY header when one was accepted, else the socket peer.
    pub client_ip: Option<IpAddr>,
    /// The local address the connection arrived on.
    pub local: Option<SocketAddr>,
    /// The negotiated TLS version; `None` on a plain listener.
    pub tls_version: Option<String>,
    /// What the handshake recorded: the server name the client sent, its
    /// certificate. `None` on a plain listener.
    pub tls: Option<TlsFacts>,
}

impl ConnectionFacts {
    /// The connection's TLS facts for an HTTP/1 request's outcome.
    pub fn tls_summary(&self) -> TlsSummary<'_> {
        TlsSummary {
            version: self.tls_version.as_deref(),
            sni: self.tls.as_ref().and_then(|t| t.sni.as_deref()),
            alpn: "http/1.1",
            client_cert: self.client_cert(),
        }
    }

    /// The client certificate the handshake verified, in the policy's terms.
    pub fn client_cert(&self) -> ClientCert<'_> {
        self.tls
            .as_ref()
            .map(|t| t.client_cert())
            .unwrap_or_default()
    }
}

/// What the next request starts from: the bytes read past the last one. An empty
/// rest is replaced by a buffer with no allocation: a split-off rest shares the last
/// request's whole buffer, which an idle keep-alive connection would otherwise hold
/// (and fill) until its next request, about 1 KiB per idle connection.
fn carry(rest: BytesMut) -> BytesMut {
    if rest.is_empty() {
        BytesMut::new()
    } else {
        rest
    }
}

/// How long, at most, a connection closed after the front's own answer (408, 400,
/// 414, 431) keeps reading what its client still sends.
const LINGER_TIME: Duration = Duration::from_secs(2);

/// How much, at most, a closing connection reads and discards (more than the
/// largest request header the limits allow).
const LINGER_BYTES: usize = 1024 * 1024;

/// After an answer that closes the connection: end our side (FIN, and TLS
/// close_notify), then read and discard what the client still sends for a moment.
/// Closing a socket with unread bytes in it sends a TCP reset, which can destroy the
/// answer before the client reads it: a client still sending an oversized header
/// would see "connection reset" instead of its 431. nginx calls this lingering close.
/// Reads for at most `time` and `max_bytes`; the lean path uses it too, with its own
/// bounds, after a body refused part-way.
pub(crate) async fn linger(stream: &mut Stream, time: Duration, max_bytes: usize) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let deadline = tokio::time::Instant::now() + time;
    let mut sink = vec![0u8; 16 * 1024];
    let mut discarded = 0;
    while discarded < max_bytes {
        match tokio::time::timeout_at(deadline, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => discarded += n,
            _ => return,
        }
    }
}

/// `staticedge_tls_handshakes_total{result,version,alpn}`.
fn count_handshake(result: &str, version: &str, alpn: &str) {
    METRICS
        .tls_handshakes
        .with_label_values(&[result, version, alpn])
        .inc();
}

impl<A: HttpServerApp + Send + Sync + 'static> Front<A> {
    /// Answers a request the front refuses before any engine sees it (408, framing
    /// 400, header limits 414 and 431), counts and logs it like any other answer, and
    /// closes the connection after a short [`linger`].
    async fn refuse(
        &self,
        mut stream: Stream,
        refusal: Refusal,
        raw: &[u8],
        conn: &ConnectionFacts,
    ) {
        let started = Instant::now();
        refusal.count();
        let id = request_id(None);
        let _ = stream.write_all(&refusal.to_http1(&id)).await;
        let _ = stream.flush().await;
        linger(&mut stream, LINGER_TIME, LINGER_BYTES).await;
        let (method, path) = framing::request_line(raw).unwrap_or_default();
        let outcome = Outcome {
            status: refusal.status,
            request: RequestSummary {
                method,
                path,
                request_id: &id,
                client_ip: conn.client_ip,
                ..RequestSummary::default()
            },
            tls: conn.tls_summary(),
            elapsed: started.elapsed(),
            error: Some(refusal.body.trim_end().to_string()),
            ..Outcome::default()
        };
        finish(&outcome, &self.access_log);
    }

    /// The request on the lean path when the configuration says so; what it does not
    /// serve comes back as `SlowPath` for pingora's `HttpProxy`.
    async fn lean_first(
        &self,
        stream: &mut Stream,
        header: BytesMut,
        conn: &ConnectionFacts,
        shutdown: &ShutdownWatch,
    ) -> Next {
        let state = self.state.load_full();
        if state.config.server.request_path != RequestPath::Lean {
            return Next::SlowPath(header);
        }
        let lean = Lean {
            state: &state,
            conn,
            access_log: &self.access_log,
            in_flight: &self.in_flight,
            draining: *shutdown.borrow(),
        };
        // Boxed: the lean path's state (two header arrays, the upstream exchange)
        // exists only while a request is served, instead of widening the future
        // every idle keep-alive connection keeps.
        Box::pin(lean::serve(&lean, stream, header)).await
    }

    /// The HTTP/1 keep-alive loop (what pingora does) with a header deadline and the
    /// header limits on every request of the connection, and the framing check
    /// before any parse.
    async fn serve_http1(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
        timeouts: FrontTimeouts,
        conn: ConnectionFacts,
    ) {
        let mut idle = timeouts.header;
        let mut carried: Option<HttpPersistentSettings> = None;
        let mut pipelined = BytesMut::new();
        loop {
            let limits = self.state.load().config.limits.headers;
            let next = next_request(
                &mut stream,
                idle,
                timeouts.header,
                shutdown,
                pipelined,
                limits,
            );
            let header = match next.await {
                Ok(h) => h,
                Err(HeaderWait::Closed) => return,
                Err(HeaderWait::TooSlow) => {
                    return self
                        .refuse(stream, Refusal::header_timeout(), &[], &conn)
                        .await;
                }
                Err(HeaderWait::TooLarge(refusal, raw)) => {
                    return self.refuse(stream, refusal, &raw, &conn).await;
                }
            };
            let request_end = match framing::check_raw_h1_header(&header) {
                Ok(end) => end,
                Err(why) => {
                    return self
                        .refuse(stream, Refusal::bad_framing(why), &header, &conn)
                        .await
                }
            };
            idle = timeouts.keepalive;
            pipelined = BytesMut::new();
            let header = match self.lean_first(&mut stream, header, &conn, shutdown).await {
                Next::KeepAlive(rest) if !*shutdown.borrow() => {
                    pipelined = carry(rest);
                    continue;
                }
                Next::KeepAlive(_) | Next::Close => return,
                Next::SlowPath(header) => header,
            };
            // pingora's session takes exactly one request: bytes of a pipelined next
            // request wait here for the next turn of the loop. The lean path hands
            // back the bytes it was given, so the end found above still holds.
            let mut header = header;
            if let Some(end) = request_end.filter(|&end| end < header.len()) {
                pipelined = header.split_off(end);
            }
            let mut session = ServerSession::new_http1(stream);
            match carried.take() {
                Some(settings) => settings.apply_to_session(&mut session),
                None => {
                    let state = self.state.load();
                    let keepalive = state.keepalive(true, *shutdown.borrow());
                    session.set_keepalive(keepalive.map(|d| d.as_secs()));
                }
            }
            session.set_pipelined_prefix(header);
            let Some(reused) = self.app.process_new_http(session, shutdown).await else {
                return;
            };
            let (next, settings) = reused.consume();
            stream = next;
            carried = settings;
            if *shutdown.borrow() {
                return;
            }
        }
    }

    /// The TLS handshake on an accepted connection. A connection closed before its
    /// first byte (a TCP health check, our own readiness probe) is not a failed
    /// handshake. The socket is read without a buffer under it, so this one read
    /// takes the whole ClientHello and hands it back to rustls.
    async fn tls_handshake(
        tls: &ArcSwap<TlsAcceptors>,
        mut stream: L4Stream,
        conn: &mut ConnectionFacts,
    ) -> Result<Stream, ()> {
        let mut first = BytesMut::with_capacity(CLIENT_HELLO_READ);
        match stream.read_buf(&mut first).await {
            Ok(n) if n > 0 => {}
            _ => {
                count_handshake("closed_early", "", "");
                return Err(());
            }
        }
        let acceptors = tls.load_full();
        // Read only when the name decides the configuration; otherwise every name
        // gets the one acceptor.
        let sni = if acceptors.by_server_name() {
            read_server_name(&mut stream, &mut first)
                .await
                .map_err(|why| {
                    count_handshake("error", "", "");
                    debug!(client = ?conn.client_ip, why, "TLS handshake failed");
                })?
        } else {
            None
        };
        stream.rewind(&first);
        let acceptor = acceptors.for_server_name(sni.as_deref());
        let tls_stream = acceptor.tls_handshake(stream).await.map_err(|e| {
            count_handshake("error", "", "");
            debug!(client = ?conn.client_ip, error = %e, "TLS handshake failed");
        })?;
        let digest = tls_stream.get_ssl_digest();
        let version = digest
            .as_ref()
            .map(|d| d.version.to_string())
            .unwrap_or_default();
        count_handshake("ok", &version, alpn_label(tls_stream.selected_alpn_proto()));
        conn.tls = digest
            .as_ref()
            .and_then(|d| d.extension.get::<TlsFacts>())
            .cloned();
        conn.tls_version = Some(version);
        Ok(Box::new(tls_stream))
    }

    /// Everything before HTTP: the PROXY header, the connection limits and the TLS
    /// handshake, under one deadline. `Err` means: close the connection.
    async fn accept(
        &self,
        mut stream: L4Stream,
        (peer, local): (Option<SocketAddr>, Option<SocketAddr>),
        mode: ProxyProtocolMode,
    ) -> Result<(Stream, ConnectionSlot, ConnectionFacts), ()> {
        let header = crate::pre_tls::accept_proxy_header(&mut stream, mode)
            .await
            .map_err(|e| {
                debug!(peer = ?peer, error = %e, "PROXY header rejected; closing");
            })?;
        let client = match header {
            Some(staticedge_proxy_protocol::Header::Proxy { source, .. }) => Some(source),
            _ => peer,
        };
        let mut conn = ConnectionFacts {
            client_ip: client.map(|a| a.ip()),
            local,
            ..ConnectionFacts::default()
        };
        let Some(slot) = self.limits.admit(conn.client_ip) else {
            METRICS
                .rejected
                .with_label_values(&["connection_limit"])
                .inc();
            debug!(client = ?client, "connection limit reached; closing");
            return Err(());
        };
        let stream: Stream = match &self.tls {
            None => Box::new(stream),
            Some(tls) => Self::tls_handshake(tls, stream, &mut conn).await?,
        };
        Ok((stream, slot, conn))
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
        let inet = |a: Option<&PSocketAddr>| a.and_then(|a| a.as_inet()).copied();
        let peer = digest.as_ref().and_then(|d| inet(d.peer_addr()));
        let local = digest.as_ref().and_then(|d| inet(d.local_addr()));
        let Ok(stream) = stream.into_any().downcast::<L4Stream>() else {
            debug!("not a TCP stream; closing");
            return None;
        };
        let mode = self.proxy_mode(local);
        let timeouts = FrontTimeouts::from(&self.state);
        // The handshake's state is large (rustls and pingora futures, several KiB)
        // and only needed until it ends, so it lives in its own allocation instead of
        // widening this future, which every idle keep-alive connection keeps.
        let accept = Box::pin(self.accept(*stream, (peer, local), mode));
        let (stream, _slot, conn) = match tokio::time::timeout(timeouts.handshake, accept).await {
            Ok(Ok(accepted)) => accepted,
            Ok(Err(())) => return None,
            Err(_) => {
                if self.tls.is_some() {
                    count_handshake("timeout", "", "");
                }
                debug!(peer = ?peer, "handshake timed out");
                return None;
            }
        };
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            // h2: pingora's own connection handling (idle timeout, stream limits), with
            // the header list limit of the configuration current at this connection.
            let limits = self.state.load().config.limits.headers;
            let h2 = Arc::new(H2Connection::new(self.app.clone(), &limits));
            let mut next = Some(stream);
            while let Some(s) = next {
                next = h2.process_new(s, shutdown).await;
            }
        } else {
            Box::pin(self.serve_http1(stream, shutdown, timeouts, conn)).await;
        }
        None
    }

    async fn cleanup(&self) {
        self.app.http_cleanup().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    const IDLE: Duration = Duration::from_secs(60);
    const HEADER: Duration = Duration::from_secs(10);
    const LIMITS: HeaderLimits = HeaderLimits {
        max_request_header_bytes: 32 * 1024,
        max_request_headers: 100,
        max_request_line_bytes: 8 * 1024,
    };

    #[tokio::test(start_paused = true)]
    async fn a_whole_header_is_returned_with_what_follows_it() {
        let (mut client, mut server) = tokio::io::duplex(1024);
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody")
            .await
            .expect("write");
        let got = read_header(&mut server, IDLE, HEADER, BytesMut::new(), LIMITS)
            .await
            .expect("header");
        assert_eq!(&got[..], b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody");
    }

    #[tokio::test(start_paused = true)]
    async fn a_header_trickled_past_its_deadline_is_too_slow() {
        let (mut client, mut server) = tokio::io::duplex(1024);
        let trickle = tokio::spawn(async move {
            for b in b"GET / HTTP/1.1\r\nHost: a" {
                client.write_all(&[*b]).await.expect("write");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            client
        });
        let got = read_header(&mut server, IDLE, HEADER, BytesMut::new(), LIMITS).await;
        assert_eq!(got.err(), Some(HeaderWait::TooSlow));
        drop(trickle);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_that_never_starts_is_closed_quietly() {
        let (_client, mut server) = tokio::io::duplex(1024);
        let got = read_header(&mut server, IDLE, HEADER, BytesMut::new(), LIMITS).await;
        assert_eq!(
            got.err(),
            Some(HeaderWait::Closed),
            "no 408 for an idle client"
        );
    }

    #[test]
    fn an_empty_rest_does_not_keep_the_last_request_buffer() {
        let mut last = BytesMut::with_capacity(1024);
        last.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        let len = last.len();
        let rest = last.split_off(len);
        assert!(rest.capacity() > 0, "a split-off rest shares the buffer");
        assert_eq!(carry(rest).capacity(), 0);
        let mut two = BytesMut::from(&b"GET /a HTTP/1.1\r\n\r\nGET /b"[..]);
        let next = two.split_off(19);
        assert_eq!(&carry(next)[..], b"GET /b", "pipelined bytes are kept");
    }

    /// `raw` read by `read_header` from a slice, which shows how much was taken.
    async fn read_from_slice(raw: &[u8]) -> (Result<BytesMut, HeaderWait>, usize) {
        let mut rest = raw;
        let got = read_header(&mut rest, IDLE, HEADER, BytesMut::new(), LIMITS).await;
        (got, raw.len() - rest.len())
    }

    fn refused_status(got: &Result<BytesMut, HeaderWait>) -> Option<u16> {
        match got {
            Err(HeaderWait::TooLarge(refusal, _)) => Some(refusal.status),
            _ => None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_header_over_the_limit_is_refused_without_reading_the_rest() {
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(1024 * 1024));
        let (got, taken) = read_from_slice(long.as_bytes()).await;
        assert_eq!(refused_status(&got), Some(431));
        assert_eq!(
            taken,
            LIMITS.max_request_header_bytes + 1,
            "read one byte past"
        );
        let line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(100 * 1024));
        let (got, taken) = read_from_slice(line.as_bytes()).await;
        assert_eq!(refused_status(&got), Some(414));
        assert!(taken <= 8 * 1024 + 2 + HEADER_READ_MAX, "took {taken}");
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "X: 1\r\n".repeat(101));
        let (got, _) = read_from_slice(many.as_bytes()).await;
        assert_eq!(refused_status(&got), Some(431));
    }

    #[tokio::test(start_paused = true)]
    async fn a_header_at_the_limit_is_read_whole() {
        let head = "GET / HTTP/1.1\r\nX: \r\n\r\n";
        let value = "a".repeat(LIMITS.max_request_header_bytes - head.len());
        let at_limit = format!("GET / HTTP/1.1\r\nX: {value}\r\n\r\nbody");
        let (got, _) = read_from_slice(at_limit.as_bytes()).await;
        let got = got.expect("within the limit");
        assert!(got.starts_with(&at_limit.as_bytes()[..LIMITS.max_request_header_bytes]));
    }

    #[tokio::test(start_paused = true)]
    async fn the_drain_closes_an_idle_keep_alive_connection() {
        let (_client, mut server) = tokio::io::duplex(1024);
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let waiting = tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let r = next_request(
                &mut server,
                IDLE,
                HEADER,
                &shutdown,
                BytesMut::new(),
                LIMITS,
            )
            .await;
            (r, started.elapsed())
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.send(true).expect("send");
        let (r, waited) = waiting.await.expect("join");
        assert_eq!(r.err(), Some(HeaderWait::Closed));
        assert!(
            waited < IDLE,
            "closed at the drain, not at the idle timeout"
        );
    }
}
