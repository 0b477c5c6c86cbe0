//! pingora's path for a request whose body is buffered (`limits.request_buffering`):
//! `request_filter` reads the whole body through pingora's session (which decodes
//! HTTP/1.1 chunks and HTTP/2 DATA frames) into a spool, refusing it with nothing
//! forwarded when it is too large, malformed, too slow or cannot be kept. The held
//! request is then sent with a Content-Length by the lean path's upstream exchange
//! (same pool, same connect retries) and its response written back through the
//! session. pingora's own proxy loop cannot be given a body read ahead of it, which
//! is why the exchange is not pingora's here.

use crate::buffering::{self, HeldBody, UpstreamBody};
use crate::lean::exchange::{self, Exchange, Failure};
use crate::lean::pool::POOL;
use crate::lean::response::client_fields;
use crate::respond;
use http::{HeaderMap, HeaderValue, Method, Request, Uri, Version};
use http_body_util::BodyExt;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::Session;
use staticedge_buffer::FrozenSpool;
use staticedge_dns::UpstreamAddrs;
use staticedge_policy::{Admitted, BodyLimit, ProxyState, Refusal};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Whether this admitted request's body is read whole before forwarding: buffering
/// applies to its framing, it has a body, it is not an upgrade, and its upstream is
/// plain HTTP (a TLS upstream keeps pingora's streaming exchange).
pub(crate) fn wanted(
    session: &mut Session,
    state: &ProxyState,
    admitted: &Admitted,
    content_length: Option<u64>,
) -> bool {
    state.config.limits.buffer.applies(content_length)
        && !admitted.upstream.upstream().tls
        && !session.is_upgrade_req()
        && !session.is_body_empty()
}

/// Reads the whole request body into a spool, `limits.body_timeout` at most between
/// reads. A read error (a malformed chunk, a reset stream, a client gone) is a 400.
pub(crate) async fn read_body(
    session: &mut Session,
    state: &ProxyState,
    limit: &mut BodyLimit,
) -> Result<FrozenSpool, Refusal> {
    let timeout = state.config.limits.buffer.body_timeout;
    let expects_continue = session
        .req_header()
        .headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if expects_continue {
        // The upstream never sees the Expect: staticedge asks for the body itself.
        let _ = session.write_continue_response().await;
    }
    let mut spool = buffering::new_spool(state);
    loop {
        match tokio::time::timeout(timeout, session.read_request_body()).await {
            Err(_) => return Err(buffering::body_timeout()),
            Ok(Err(e)) => return Err(buffering::bad_chunk(&e.to_string())),
            Ok(Ok(None)) => return Ok(spool.freeze()),
            Ok(Ok(Some(data))) => buffering::take(&mut spool, limit, &data)?,
        }
    }
}

/// The parts of the upstream request, made once and cloned per attempt.
struct RequestParts {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

impl RequestParts {
    /// From the request header as pingora's `upstream_request_filter` would leave
    /// it (`rewritten`), less its framing, which the held body replaces.
    fn new(rewritten: &RequestHeader, body: &HeldBody) -> Self {
        let mut headers = rewritten.headers.clone();
        for name in ["transfer-encoding", "connection", "expect", "upgrade"] {
            headers.remove(name);
        }
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        let target = rewritten
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .unwrap_or_else(|_| Uri::from_static("/"));
        RequestParts {
            method: rewritten.method.clone(),
            uri: target,
            headers,
        }
    }

    fn request(&self, body: &HeldBody) -> Request<UpstreamBody> {
        let mut request = Request::new(body.upstream_body());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.version_mut() = Version::HTTP_11;
        *request.headers_mut() = self.headers.clone();
        request
    }
}

/// What the held request's exchange recorded, for the access log and metrics.
#[derive(Debug, Default)]
pub(crate) struct HeldOutcome {
    /// The last address tried.
    pub addr: Option<SocketAddr>,
    /// The upstream's status (0 when none came).
    pub upstream_status: u16,
    /// When the upstream's response header came, from the first attempt.
    pub upstream_ms: Option<f64>,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// A failure kind the exchange did not count yet.
    pub uncounted_error: Option<&'static str>,
}

/// Sends the held request (headers already rewritten by the plan into `rewritten`)
/// and writes the upstream's answer (or a 502/504) to the client.
pub(crate) async fn forward(
    session: &mut Session,
    upstream: &UpstreamAddrs,
    rewritten: &RequestHeader,
    body: HeldBody,
    request_id: &str,
) -> HeldOutcome {
    let parts = RequestParts::new(rewritten, &body);
    let build = || parts.request(&body);
    // The whole body is held: resending it after a connect failure or to replace a
    // dead pooled connection is safe for any method.
    let started = Instant::now();
    match exchange::exchange(upstream, build, true).await {
        Ok(exchange) => {
            let read_timeout = upstream.upstream().read_timeout;
            relay(session, exchange, request_id, read_timeout, started).await
        }
        Err(failure) => answer_failure(session, failure, request_id).await,
    }
}

async fn answer_failure(session: &mut Session, failure: Failure, request_id: &str) -> HeldOutcome {
    let answer = Refusal::upstream_failed(failure.kind);
    if let Err(e) = respond::write(session, &answer, request_id).await {
        tracing::debug!(error = %e, "could not send the error response");
    }
    HeldOutcome {
        addr: failure.addr,
        error: Some(failure.message),
        uncounted_error: (!failure.counted).then_some(failure.kind),
        ..HeldOutcome::default()
    }
}

/// The upstream response header for the client: hop-by-hop fields dropped,
/// `X-Request-Id` added, and an HTTP/1.1 client given chunked framing when the
/// upstream declared no length.
fn client_header(
    session: &mut Session,
    response: &http::response::Parts,
    request_id: &str,
) -> Result<ResponseHeader> {
    let mut resp = ResponseHeader::build(response.status, Some(response.headers.len() + 2))?;
    for (name, value) in client_fields(&response.headers) {
        resp.append_header(name.clone(), value.clone())?;
    }
    resp.insert_header("x-request-id", request_id)?;
    let declared = response.headers.contains_key(http::header::CONTENT_LENGTH);
    if !declared && !session.is_http2() {
        if session.req_header().version == Version::HTTP_11 {
            resp.insert_header("transfer-encoding", "chunked")?;
        } else {
            session.set_keepalive(None);
        }
    }
    Ok(resp)
}

/// Writes the upstream's response to the client; the upstream connection goes back
/// to the pool once its body was read to the end.
async fn relay(
    session: &mut Session,
    exchange: Exchange,
    request_id: &str,
    read_timeout: Duration,
    started: Instant,
) -> HeldOutcome {
    let (parts, mut body) = exchange.response.into_parts();
    let mut outcome = HeldOutcome {
        addr: Some(exchange.addr),
        upstream_status: parts.status.as_u16(),
        upstream_ms: Some(staticedge_policy::round_ms(started.elapsed())),
        ..HeldOutcome::default()
    };
    let written = match client_header(session, &parts, request_id) {
        Ok(resp) => session.write_response_header(Box::new(resp), false).await,
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        outcome.error = Some(e.to_string());
        return outcome;
    }
    loop {
        let error = match tokio::time::timeout(read_timeout, body.frame()).await {
            Ok(None) => match session.write_response_body(None, true).await {
                Ok(()) => {
                    POOL.put(exchange.addr, exchange.sender);
                    return outcome;
                }
                Err(e) => e.to_string(),
            },
            Ok(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => match session.write_response_body(Some(data), false).await {
                    Ok(()) => continue,
                    Err(e) => e.to_string(),
                },
                Err(_) => continue, // trailers are not relayed
            },
            Ok(Some(Err(e))) => format!("upstream body: {e}"),
            Err(_) => format!("upstream body: nothing for {read_timeout:?}"),
        };
        // The response is cut short: the client must not reuse the connection.
        session.set_keepalive(None);
        outcome.error = Some(error);
        outcome.uncounted_error = Some("reset");
        return outcome;
    }
}
