//! `ProxyHttp` for staticedge: each phase delegates to the module that owns it.

use crate::access_log::AccessLogger;
use crate::framing;
use crate::headers::{self, ClientFacts};
use crate::observe;
use crate::respond;
use crate::state::{ProxyState, SharedState};
use async_trait::async_trait;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::protocols::l4::socket::SocketAddr as PSocketAddr;
use pingora::proxy::{ProxyHttp, Session};
use staticedge_config::{Route, Upstream};
use staticedge_dns::UpstreamAddrs;
use staticedge_metrics::METRICS;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counts requests in progress; the drain waits for it to reach zero.
#[derive(Debug)]
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        InFlight(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Per-request state, filled in phase by phase.
pub struct RequestCtx {
    _in_flight: InFlight,
    pub(crate) started: Instant,
    state: Option<Arc<ProxyState>>,
    route: Option<usize>,
    upstream: Option<Arc<UpstreamAddrs>>,
    pub(crate) tried: Vec<SocketAddr>,
    connect_failures: u32,
    upstream_started: Option<Instant>,
    pub(crate) upstream_ms: Option<f64>,
    pub(crate) upstream_status: u16,
    pub(crate) request_id: String,
    pub(crate) client_host: String,
    max_body: u64,
    body_seen: u64,
}

impl RequestCtx {
    /// The matched route's metric and log label (no allocation per request).
    pub(crate) fn route_label(&self) -> Option<&str> {
        let state = self.state.as_ref()?;
        Some(state.routes.label(self.route?))
    }

    pub(crate) fn upstream_name(&self) -> Option<&str> {
        self.upstream.as_ref().map(|u| u.upstream().name.as_str())
    }
}

/// The staticedge proxy application, shared by every listener.
pub struct EdgeProxy {
    state: SharedState,
    in_flight: Arc<AtomicUsize>,
    access_log: AccessLogger,
}

impl EdgeProxy {
    /// A proxy serving whatever `state` holds at the time of each request.
    pub fn new(state: SharedState, in_flight: Arc<AtomicUsize>, access_log: AccessLogger) -> Self {
        EdgeProxy {
            state,
            in_flight,
            access_log,
        }
    }

    fn route_and_upstream<'s>(
        state: &'s ProxyState,
        ctx: &RequestCtx,
    ) -> Option<(&'s Route, &'s Upstream)> {
        let route = &state.routes.routes()[ctx.route?];
        let upstream = state.config.upstreams.get(&route.upstream)?;
        Some((route, upstream))
    }
}

fn inet(addr: Option<&PSocketAddr>) -> Option<SocketAddr> {
    addr.and_then(|a| a.as_inet()).copied()
}

fn client_ip(session: &Session) -> Option<IpAddr> {
    inet(session.client_addr()).map(|a| a.ip())
}

/// Host from the Host header (HTTP/1.1) or the :authority (h2).
fn request_host(req: &RequestHeader) -> String {
    req.headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default()
}

fn is_tls(session: &Session) -> bool {
    session.digest().is_some_and(|d| d.ssl_digest.is_some())
}

fn missing(what: &str) -> Box<Error> {
    Error::explain(InternalError, format!("request context has no {what}"))
}

/// An answer staticedge gives itself, counted by reason.
async fn reject(
    session: &mut Session,
    reason: &'static str,
    status: u16,
    body: &str,
    headers: &[(&'static str, &str)],
) -> Result<bool> {
    METRICS.rejected.with_label_values(&[reason]).inc();
    respond::text(session, status, body, headers).await?;
    Ok(true)
}

#[async_trait]
impl ProxyHttp for EdgeProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            _in_flight: InFlight::enter(&self.in_flight),
            started: Instant::now(),
            state: None,
            route: None,
            upstream: None,
            tried: Vec::new(),
            connect_failures: 0,
            upstream_started: None,
            upstream_ms: None,
            upstream_status: 0,
            request_id: String::new(),
            client_host: String::new(),
            max_body: 0,
            body_seen: 0,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let state = self.state.load_full();
        ctx.state = Some(state.clone());
        let req = session.req_header();
        ctx.request_id = headers::request_id(
            req.headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok()),
        );
        ctx.client_host = request_host(req);
        let path = req
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        if session.get_keepalive().is_some() {
            session.set_keepalive(Some(state.config.server.keepalive_timeout.as_secs()));
        }
        let id = ("x-request-id", ctx.request_id.as_str());

        let max_body = state.config.limits.max_request_body_bytes;
        if max_body > 0
            && framing::content_length(session.req_header()).is_some_and(|n| n > max_body)
        {
            session.set_keepalive(None);
            let body = format!("request body larger than {max_body} bytes\n");
            return reject(session, "body_too_large", 413, &body, &[id]).await;
        }
        ctx.max_body = max_body;

        let listener = state.listener_for(inet(session.server_addr()));
        if listener.is_some_and(|l| !l.tls && l.redirect_https) {
            let host = ctx.client_host.split(':').next().unwrap_or_default();
            if host.is_empty() {
                return reject(session, "bad_request", 400, "missing Host header\n", &[id]).await;
            }
            let location = format!("https://{host}{path}");
            return reject(
                session,
                "redirect",
                308,
                "redirecting to https\n",
                &[("location", location.as_str()), id],
            )
            .await;
        }

        let Some((index, route)) = state.routes.find(&ctx.client_host, &path) else {
            return reject(
                session,
                "no_route",
                421,
                "misdirected request: no route for this host\n",
                &[id],
            )
            .await;
        };
        ctx.route = Some(index);
        if !route.allow_cidrs.is_empty() {
            let allowed = client_ip(session)
                .is_some_and(|ip| route.allow_cidrs.iter().any(|net| net.contains(&ip)));
            if !allowed {
                return reject(session, "forbidden", 403, "forbidden\n", &[id]).await;
            }
        }
        match state.upstreams.get(&route.upstream) {
            Some(u) if u.is_resolved() => ctx.upstream = Some(u.clone()),
            _ => {
                let body = format!(
                    "upstream {} has no address yet (DNS has not answered)\n",
                    route.upstream
                );
                return reject(
                    session,
                    "unresolved",
                    503,
                    &body,
                    &[id, ("retry-after", "1")],
                )
                .await;
            }
        }
        Ok(false)
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let state = ctx.state.clone().ok_or_else(|| missing("state"))?;
        let (_, upstream) =
            Self::route_and_upstream(&state, ctx).ok_or_else(|| missing("route"))?;
        let addrs = ctx.upstream.as_ref().ok_or_else(|| missing("upstream"))?;
        // Prefer an address not tried yet; with one address (or all tried), the same
        // one again: a retry after a stale pooled connection must not become a 500.
        let addr = addrs
            .select(&ctx.tried)
            .or_else(|| addrs.select(&[]))
            .ok_or_else(|| {
                Error::explain(
                    ConnectNoRoute,
                    format!("upstream {}: no address left to try", upstream.name),
                )
            })?;
        ctx.tried.push(addr);
        ctx.upstream_started = Some(Instant::now());
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
        o.tcp_keepalive = Some(pingora::protocols::TcpKeepalive {
            idle: Duration::from_secs(30),
            interval: Duration::from_secs(10),
            count: 3,
            #[cfg(target_os = "linux")]
            user_timeout: Duration::from_secs(0),
        });
        Ok(Box::new(peer))
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        if let (Some(addrs), Some(addr)) = (&ctx.upstream, ctx.tried.last()) {
            addrs.mark_failed(*addr);
            ctx.connect_failures += 1;
            let name = addrs.upstream().name.as_str();
            METRICS
                .upstream_errors
                .with_label_values(&[name, observe::upstream_error_kind(&e)])
                .inc();
            // Nothing reached the upstream: safe to try another address, any method.
            if ctx.connect_failures <= addrs.upstream().retries {
                METRICS.upstream_retries.with_label_values(&[name]).inc();
                e.set_retry(true);
            }
        }
        e
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let state = ctx.state.clone().ok_or_else(|| missing("state"))?;
        let (route, upstream) =
            Self::route_and_upstream(&state, ctx).ok_or_else(|| missing("route"))?;
        let host = headers::upstream_host(&route.host_header, &ctx.client_host, upstream);
        let facts = ClientFacts {
            client_ip: client_ip(session),
            client_host: &ctx.client_host,
            proto: if is_tls(session) { "https" } else { "http" },
            listener_port: inet(session.server_addr()).map(|a| a.port()),
            request_id: &ctx.request_id,
        };
        headers::rewrite_request(upstream_request, &facts, &host)
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        // Content-Length was checked up front; this catches chunked bodies.
        if let Some(chunk) = body {
            ctx.body_seen += chunk.len() as u64;
            if ctx.max_body > 0 && ctx.body_seen > ctx.max_body {
                METRICS
                    .rejected
                    .with_label_values(&["body_too_large"])
                    .inc();
                return Error::e_explain(
                    HTTPStatus(413),
                    format!("request body larger than {} bytes", ctx.max_body),
                );
            }
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.upstream_status = upstream_response.status.as_u16();
        if let Some(t) = ctx.upstream_started {
            ctx.upstream_ms = Some((t.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0);
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        upstream_response.insert_header("x-request-id", ctx.request_id.as_str())?;
        Ok(())
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        observe::finish(session, e, ctx, &self.access_log);
    }
}
