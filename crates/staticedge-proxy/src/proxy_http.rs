//! pingora's `ProxyHttp` for staticedge: a thin adapter. Each phase turns pingora's
//! session into the policy's plain types, calls `staticedge-policy`, and applies the
//! answer; no rule lives here.

use crate::buffering::{self, HeldBody};
use crate::errors::{failure_status, uncounted_upstream_error, upstream_error_kind};
use crate::tls_accept::{tls_summary, TlsFacts};
use crate::{headers, held, peer, respond};
use async_trait::async_trait;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::protocols::l4::socket::SocketAddr as PSocketAddr;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use staticedge_metrics::METRICS;
use staticedge_policy::header_limits::{
    check_h2, h2_field_size, h2_request_line_len, H2HeaderSize,
};
use staticedge_policy::{
    admit, finish, request_id, round_ms, AccessLogger, Admitted, HeaderPlan, InFlight,
    InFlightGuard, Outcome, ProxyState, Refusal, RequestFacts, RequestSummary, SharedState,
    UpstreamSummary,
};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

/// Where a request stands with the policy.
enum Verdict {
    /// Not asked yet (pingora answered before `request_filter`, e.g. a bad header).
    Pending,
    /// Refused and answered by staticedge; the route, if one had matched.
    Refused(Option<usize>),
    /// Let through: forwarded to its upstream.
    Admitted(Admitted),
}

/// Per-request state: the configuration snapshot it is served with, the policy's
/// verdict, and what the upstream attempts recorded.
pub struct RequestCtx {
    _in_flight: InFlightGuard,
    started: Instant,
    state: Arc<ProxyState>,
    verdict: Verdict,
    request_id: String,
    client_host: String,
    tried: Vec<SocketAddr>,
    connect_failures: u32,
    upstream_started: Option<Instant>,
    upstream_ms: Option<f64>,
    upstream_status: u16,
    /// A held request's upstream failure (pingora reports its own as `Error`s).
    held_error: Option<String>,
    held_uncounted: Option<&'static str>,
}

impl RequestCtx {
    fn admitted(&self) -> Result<&Admitted> {
        match &self.verdict {
            Verdict::Admitted(a) => Ok(a),
            _ => Error::e_explain(InternalError, "request was not admitted"),
        }
    }

    /// The matched route's metric and log label ("" when none matched).
    fn route_label(&self) -> &str {
        match &self.verdict {
            Verdict::Admitted(a) => self.state.routes.label(a.route),
            Verdict::Refused(Some(route)) => self.state.routes.label(*route),
            _ => "",
        }
    }

    fn upstream_summary(&self, error: Option<&Error>) -> Option<UpstreamSummary<'_>> {
        let Verdict::Admitted(a) = &self.verdict else {
            return None;
        };
        Some(UpstreamSummary {
            name: a.upstream.upstream().name.as_str(),
            addr: self.tried.last().copied(),
            status: self.upstream_status,
            ms: self.upstream_ms,
            uncounted_error: uncounted_upstream_error(error).or(self.held_uncounted),
        })
    }
}

/// The staticedge proxy application, shared by every listener.
pub struct EdgeProxy {
    state: SharedState,
    in_flight: InFlight,
    access_log: AccessLogger,
}

impl EdgeProxy {
    /// A proxy serving whatever `state` holds at the time of each request.
    pub fn new(state: SharedState, in_flight: InFlight, access_log: AccessLogger) -> Self {
        EdgeProxy {
            state,
            in_flight,
            access_log,
        }
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

fn path(req: &RequestHeader) -> &str {
    req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
}

fn content_length(req: &RequestHeader) -> Option<u64> {
    req.headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// The policy's view of the request in `session`, with `host` as read.
fn request_facts<'a>(session: &'a Session, host: &'a str) -> RequestFacts<'a> {
    let req = session.req_header();
    RequestFacts {
        method: req.method.as_str(),
        host,
        path: path(req),
        client_ip: client_ip(session),
        local: inet(session.server_addr()),
        tls: session.digest().is_some_and(|d| d.ssl_digest.is_some()),
        content_length: content_length(req),
        request_id: req
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        client_cert: session
            .digest()
            .and_then(|d| d.ssl_digest.as_ref())
            .and_then(|s| s.extension.get::<TlsFacts>())
            .map(TlsFacts::client_cert)
            .unwrap_or_default(),
    }
}

/// The header limits of an HTTP/2 request (HTTP/1 headers were checked on their raw
/// bytes by the front). The h2 library already refused lists over the size that was
/// advertised when the connection started; this adds the field count and the path,
/// and holds the request to the limits of its own configuration snapshot (a reload
/// may have lowered them since).
fn h2_header_limits(session: &Session, state: &ProxyState) -> Result<(), Refusal> {
    if !session.is_http2() {
        return Ok(());
    }
    let req = session.req_header();
    let pseudo = [
        (":method", req.method.as_str().len()),
        (":scheme", req.uri.scheme_str().map_or(0, str::len)),
        (
            ":authority",
            req.uri.authority().map_or(0, |a| a.as_str().len()),
        ),
        (":path", path(req).len()),
    ];
    let list_size = pseudo
        .iter()
        .map(|(name, len)| h2_field_size(name.len(), *len))
        .chain(
            req.headers
                .iter()
                .map(|(name, value)| h2_field_size(name.as_str().len(), value.len())),
        )
        .sum();
    let size = H2HeaderSize {
        request_line: h2_request_line_len(req.method.as_str(), path(req)),
        list_size,
        fields: req.headers.len(),
    };
    check_h2(&state.config.limits.headers, &size)
}

impl EdgeProxy {
    /// Serves an admitted request whose body is buffered: reads it whole (or refuses
    /// it with nothing forwarded), then forwards it on the lean path's exchange.
    /// Always answers: `Ok(true)`.
    async fn serve_held(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let Verdict::Admitted(admitted) = &mut ctx.verdict else {
            return Ok(false);
        };
        let route = admitted.route;
        let limit = &mut admitted.body_limit;
        let spool = match held::read_body(session, &ctx.state, limit).await {
            Ok(spool) => spool,
            Err(refusal) => {
                let refusal = refusal.on_route(route);
                ctx.verdict = Verdict::Refused(refusal.route);
                respond::answer(session, &refusal, &ctx.request_id).await?;
                if buffering::lingers(&refusal) {
                    let drain = session.drain_request_body();
                    let _ = tokio::time::timeout(buffering::LINGER, drain).await;
                }
                return Ok(true);
            }
        };
        let mut rewritten = session.req_header().clone();
        self.upstream_request_filter(session, &mut rewritten, ctx)
            .await?;
        let upstream = ctx.admitted()?.upstream.clone();
        let body = HeldBody::Spool(spool);
        let outcome = held::forward(session, &upstream, &rewritten, body, &ctx.request_id).await;
        ctx.tried.extend(outcome.addr);
        ctx.upstream_status = outcome.upstream_status;
        ctx.upstream_ms = outcome.upstream_ms;
        ctx.held_error = outcome.error;
        ctx.held_uncounted = outcome.uncounted_error;
        Ok(true)
    }
}

#[async_trait]
impl ProxyHttp for EdgeProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            _in_flight: self.in_flight.enter(),
            started: Instant::now(),
            state: self.state.load_full(),
            verdict: Verdict::Pending,
            request_id: String::new(),
            client_host: String::new(),
            tried: Vec::new(),
            connect_failures: 0,
            upstream_started: None,
            upstream_ms: None,
            upstream_status: 0,
            held_error: None,
            held_uncounted: None,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        ctx.client_host = request_host(session.req_header());
        let verdict = {
            let facts = request_facts(session, &ctx.client_host);
            ctx.request_id = request_id(facts.request_id);
            h2_header_limits(session, &ctx.state).and_then(|()| admit(&ctx.state, &facts))
        };
        let keepalive = ctx
            .state
            .keepalive(session.get_keepalive().is_some(), false);
        session.set_keepalive(keepalive.map(|d| d.as_secs()));
        match verdict {
            Ok(admitted) => {
                let declared = content_length(session.req_header());
                let hold = held::wanted(session, &ctx.state, &admitted, declared);
                ctx.verdict = Verdict::Admitted(admitted);
                if hold {
                    return self.serve_held(session, ctx).await;
                }
                Ok(false)
            }
            Err(refusal) => {
                ctx.verdict = Verdict::Refused(refusal.route);
                respond::answer(session, &refusal, &ctx.request_id).await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let upstream = ctx.admitted()?.upstream.clone();
        // Prefer an address not tried yet; with one address (or all tried), the same
        // one again: a retry after a stale pooled connection must not become a 500.
        let addr = upstream
            .select(&ctx.tried)
            .or_else(|| upstream.select(&[]))
            .ok_or_else(|| {
                Error::explain(
                    ConnectNoRoute,
                    format!(
                        "upstream {}: no address left to try",
                        upstream.upstream().name
                    ),
                )
            })?;
        ctx.tried.push(addr);
        ctx.upstream_started = Some(Instant::now());
        Ok(Box::new(peer::upstream_peer(upstream.upstream(), addr)))
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        let Verdict::Admitted(admitted) = &ctx.verdict else {
            return e;
        };
        let Some(addr) = ctx.tried.last() else {
            return e;
        };
        let addrs = &admitted.upstream;
        addrs.mark_failed(*addr);
        ctx.connect_failures += 1;
        let name = addrs.upstream().name.as_str();
        METRICS
            .upstream_errors
            .with_label_values(&[name, upstream_error_kind(&e)])
            .inc();
        // Nothing reached the upstream: safe to try another address, any method.
        if ctx.connect_failures <= addrs.upstream().retries {
            METRICS.upstream_retries.with_label_values(&[name]).inc();
            e.set_retry(true);
        }
        e
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let facts = request_facts(session, &ctx.client_host);
        let plan = HeaderPlan::new(&ctx.state, ctx.admitted()?, &facts, &ctx.request_id);
        headers::apply_plan(upstream_request, &plan)
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        // Content-Length was checked by admission; this counts bodies without one.
        if let (Some(chunk), Verdict::Admitted(admitted)) = (body, &mut ctx.verdict) {
            if let Err(refusal) = admitted.body_limit.count(chunk.len()) {
                refusal.count();
                return Error::e_explain(HTTPStatus(refusal.status), refusal.body);
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
        ctx.upstream_ms = ctx.upstream_started.map(|t| round_ms(t.elapsed()));
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

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        _ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let code = failure_status(e);
        if code > 0 {
            if let Err(write) = session.respond_error(code).await {
                tracing::debug!(error = %write, "could not send the error response");
            }
        }
        FailToProxy {
            error_code: code,
            // The connection's state after a failure is unknown: never reuse it.
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        let req = session.req_header();
        let outcome = Outcome {
            status: session
                .response_written()
                .map(|r| r.status.as_u16())
                .unwrap_or(0),
            route: ctx.route_label(),
            request: RequestSummary {
                method: req.method.as_str(),
                path: path(req),
                host: &ctx.client_host,
                request_id: &ctx.request_id,
                client_ip: client_ip(session),
            },
            tls: tls_summary(session.digest(), session.is_http2()),
            upstream: ctx.upstream_summary(e),
            elapsed: ctx.started.elapsed(),
            bytes_in: session.body_bytes_read(),
            bytes_out: session.body_bytes_sent(),
            error: e.map(|e| e.to_string()).or_else(|| ctx.held_error.clone()),
        };
        finish(&outcome, &self.access_log);
        METRICS.request_path.with_label_values(&["pingora"]).inc();
    }
}
