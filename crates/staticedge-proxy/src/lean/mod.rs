//! The lean HTTP/1 request path: the common request (a method, an origin-form path,
//! a Content-Length body or none) served straight from the connection front's
//! keep-alive loop, without pingora's `HttpProxy`. The header is parsed once
//! (httparse, on the stack), the policy decides, the upstream request goes out
//! through a pooled hyper HTTP/1 client connection, and the response is written back
//! as bytes. A chunked request body is read whole first (decoded, counted against
//! the body limit and spooled, see `crate::buffering`), so a refused body never
//! reaches the upstream. Anything else (`Upgrade`, `CONNECT`, `Expect`, large
//! Content-Length bodies, TLS upstreams) takes the slow path, pingora's `HttpProxy`, with the
//! header bytes untouched. Both paths share the same policy, answers and outcome
//! record, so they cannot disagree on a rule.

pub(crate) mod exchange;
pub(crate) mod pool;
mod request;
pub(crate) mod response;

use crate::buffering::{self, HeldBody, UpstreamBody};
use crate::front::{linger, ConnectionFacts};
use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue, Request};
use pingora::protocols::Stream;
use request::{parse, Head, MAX_HEADERS};
use staticedge_buffer::{ChunkedDecoder, FrozenSpool, Stop};
use staticedge_metrics::METRICS;
use staticedge_policy::{
    admit, finish, request_id, round_ms, AccessLogger, Admitted, BodyLimit, HeaderPlan, InFlight,
    Outcome, ProxyState, Refusal, RequestFacts, RequestSummary, UpstreamSummary,
};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the front's keep-alive loop does after the lean path had a request.
pub(crate) enum Next {
    /// Answered; the bytes already read past this request start the next one.
    KeepAlive(BytesMut),
    /// Answered (or the client went away); close the connection.
    Close,
    /// Not for the lean path: these bytes go to pingora's `HttpProxy` as they came.
    SlowPath(BytesMut),
}

/// What a lean request needs from its connection and the process.
pub(crate) struct Lean<'a> {
    pub state: &'a ProxyState,
    pub conn: &'a ConnectionFacts,
    pub access_log: &'a AccessLogger,
    pub in_flight: &'a InFlight,
    pub draining: bool,
}

/// Reads until `buf` holds `want` bytes, waiting at most `timeout` for each read.
/// `Err(None)`: the client went away; `Err(Some(_))`: it stalled (408).
async fn read_to(
    stream: &mut Stream,
    buf: &mut BytesMut,
    want: usize,
    timeout: Duration,
) -> Result<(), Option<Refusal>> {
    while buf.len() < want {
        buf.reserve(want - buf.len());
        match tokio::time::timeout(timeout, stream.read_buf(buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => return Err(None),
            Err(_) => return Err(Some(buffering::body_timeout())),
        }
    }
    Ok(())
}

/// A request body as read: held whole, or refused part-way.
type ReadBody = Result<HeldBody, Refusal>;

/// Reads the body of the request whose header is the first `head_len` bytes of
/// `buf` (a Content-Length of `body_len`, or chunked), leaving the header in `buf`.
/// Returns the body and the bytes after it; `None` when the client went away.
async fn read_body(
    lean: &Lean<'_>,
    stream: &mut Stream,
    buf: &mut BytesMut,
    (head_len, body_len, chunked): (usize, usize, bool),
    admitted: &mut Admitted,
) -> Option<(ReadBody, BytesMut)> {
    if chunked {
        let mut rest = buf.split_off(head_len);
        let limit = &mut admitted.body_limit;
        return match read_chunked(lean.state, stream, &mut rest, limit).await {
            Ok(spool) => Some((Ok(HeldBody::Spool(spool)), rest)),
            Err(None) => None,
            Err(Some(refusal)) => Some((Err(refusal.on_route(admitted.route)), rest)),
        };
    }
    let timeout = lean.state.config.limits.buffer.body_timeout;
    match read_to(stream, buf, head_len + body_len, timeout).await {
        Ok(()) => {
            let leftover = buf.split_off(head_len + body_len);
            Some((
                Ok(HeldBody::Bytes(buf.split_off(head_len).freeze())),
                leftover,
            ))
        }
        Err(None) => None,
        Err(Some(refusal)) => {
            let rest = buf.split_off(head_len);
            Some((Err(refusal.on_route(admitted.route)), rest))
        }
    }
}

/// Reads, decodes and spools a chunked body whose first bytes are in `buf`, under
/// `limits.body_timeout` between reads. Leaves in `buf` the bytes after the body.
/// `Err(None)`: the client went away; `Err(Some(_))`: the refusal to answer.
async fn read_chunked(
    state: &ProxyState,
    stream: &mut Stream,
    buf: &mut BytesMut,
    limit: &mut BodyLimit,
) -> Result<FrozenSpool, Option<Refusal>> {
    let mut spool = buffering::new_spool(state);
    let mut decoder = ChunkedDecoder::new();
    let timeout = state.config.limits.buffer.body_timeout;
    loop {
        match decoder.decode(buf, |data| buffering::take(&mut spool, limit, data)) {
            Ok(true) => return Ok(spool.freeze()),
            Ok(false) => {}
            Err(Stop::Chunk(e)) => return Err(Some(buffering::bad_chunk(&e.to_string()))),
            Err(Stop::Sink(refusal)) => return Err(Some(refusal)),
        }
        buf.reserve(64 * 1024);
        match tokio::time::timeout(timeout, stream.read_buf(buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => return Err(None),
            Err(_) => return Err(Some(buffering::body_timeout())),
        }
    }
}

/// The policy's view of a parsed request on this connection.
fn facts<'a>(lean: &Lean<'a>, head: &'a Head<'a>) -> RequestFacts<'a> {
    RequestFacts {
        method: head.method,
        host: head.host,
        path: head.path,
        client_ip: lean.conn.client_ip,
        local: lean.conn.local,
        tls: lean.conn.tls_version.is_some(),
        content_length: head.has_length.then_some(head.content_length),
        request_id: head.header("x-request-id"),
        client_cert: lean.conn.client_cert(),
    }
}

/// Serves the request at the start of `buf` on the lean path, or hands it back.
/// The policy decides on the header alone, so a refused request (a body over the
/// limit, say) is answered before its body is read.
pub(crate) async fn serve(lean: &Lean<'_>, stream: &mut Stream, mut buf: BytesMut) -> Next {
    // On the heap: the request's future stays small (it is moved into a box per
    // request, and idle connections keep its size).
    let mut storage = Box::new([httparse::EMPTY_HEADER; MAX_HEADERS]);
    let Some(head) = parse(&buf, &mut storage) else {
        return Next::SlowPath(buf);
    };
    if head.chunked && !lean.state.config.limits.buffer.applies(None) {
        // Buffering is off: pingora's path streams the body.
        return Next::SlowPath(buf);
    }
    let (head_len, body_len, chunked) = (head.len, head.content_length as usize, head.chunked);
    let _in_flight = lean.in_flight.enter();
    let started = Instant::now();
    let request_facts = facts(lean, &head);
    let id = request_id(request_facts.request_id);
    let keep_alive = lean.state.keepalive(!head.close, lean.draining).is_some();
    let mut admitted = match admit(lean.state, &request_facts) {
        Ok(a) if !a.upstream.upstream().tls => a,
        // A TLS upstream: pingora's connector handles it.
        Ok(_) => return Next::SlowPath(buf),
        Err(refusal) => {
            // With the body still on its way, the connection cannot carry another
            // request: close after the answer.
            let whole = !chunked && buf.len() >= head_len + body_len;
            let refusal = if keep_alive && whole {
                refusal
            } else {
                refusal.closing()
            };
            refusal.count();
            let written = write_all(stream, &refusal.to_http1(&id)).await;
            Record::new(lean, &head, &id, started).finish_refused(&refusal);
            if !written || refusal.close {
                return Next::Close;
            }
            return Next::KeepAlive(buf.split_off(head_len + body_len));
        }
    };
    let framing = (head_len, body_len, chunked);
    let Some((body, leftover)) = read_body(lean, stream, &mut buf, framing, &mut admitted).await
    else {
        return Next::Close;
    };
    // Frozen, so header values reach the upstream request as slices of it, not copies.
    let header_bytes = buf.freeze();
    let mut storage = Box::new([httparse::EMPTY_HEADER; MAX_HEADERS]);
    let Some(head) = parse(&header_bytes, &mut storage) else {
        return Next::Close; // parsed a moment ago: unreachable in practice
    };
    let request_facts = facts(lean, &head);
    let record = Record::new(lean, &head, &id, started);
    let body = match body {
        Ok(body) => body,
        Err(refusal) => {
            // Nothing was forwarded; the rest of the body cannot be trusted: close.
            refusal.count();
            if write_all(stream, &refusal.to_http1(&id)).await && buffering::lingers(&refusal) {
                // The rest of the body the client is still sending is read and
                // dropped for a moment, so it can read the answer.
                linger(stream, buffering::LINGER, buffering::LINGER_BYTES).await;
            }
            record.finish_refused(&refusal);
            return Next::Close;
        }
    };
    let message = Message {
        head: &head,
        header_bytes: &header_bytes,
        body,
    };
    let keep = forward(
        lean,
        stream,
        message,
        &admitted,
        &request_facts,
        keep_alive,
        record,
    )
    .await;
    next(keep, leftover)
}

/// Writes and flushes (TLS holds written bytes until flushed); false on failure.
async fn write_all(stream: &mut Stream, bytes: &[u8]) -> bool {
    stream.write_all(bytes).await.is_ok() && stream.flush().await.is_ok()
}

fn next(keep: bool, leftover: BytesMut) -> Next {
    if keep {
        Next::KeepAlive(leftover)
    } else {
        Next::Close
    }
}

/// The access log and metrics of one lean request, filled in as it goes.
struct Record<'a> {
    lean: &'a Lean<'a>,
    request: RequestSummary<'a>,
    started: Instant,
}

impl<'a> Record<'a> {
    fn new(lean: &'a Lean<'a>, head: &'a Head<'a>, id: &'a str, started: Instant) -> Self {
        Record {
            lean,
            request: RequestSummary {
                method: head.method,
                path: head.path,
                host: head.host,
                request_id: id,
                client_ip: lean.conn.client_ip,
            },
            started,
        }
    }

    fn finish(&self, outcome: Outcome<'_>) {
        METRICS.request_path.with_label_values(&["lean"]).inc();
        let outcome = Outcome {
            request: self.request,
            tls: self.lean.conn.tls_summary(),
            elapsed: self.started.elapsed(),
            ..outcome
        };
        finish(&outcome, self.lean.access_log);
    }

    /// A refusal is answered before any body is read: no bytes in.
    fn finish_refused(&self, refusal: &Refusal) {
        let route = refusal
            .route
            .map_or("", |r| self.lean.state.routes.label(r));
        self.finish(Outcome {
            status: refusal.status,
            route,
            ..Outcome::default()
        });
    }
}

/// The header a plan names, as a constant: a custom name built per request
/// allocates, one from `from_static` does not.
fn plan_header_name(name: &'static str) -> HeaderName {
    match name {
        "host" => http::header::HOST,
        "x-forwarded-for" => HeaderName::from_static("x-forwarded-for"),
        "x-forwarded-proto" => HeaderName::from_static("x-forwarded-proto"),
        "x-forwarded-port" => HeaderName::from_static("x-forwarded-port"),
        "x-forwarded-host" => HeaderName::from_static("x-forwarded-host"),
        "x-request-id" => HeaderName::from_static("x-request-id"),
        other => HeaderName::from_static(other),
    }
}

/// The upstream request: the client's method, path and headers less the hop-by-hop
/// ones and those the plan replaces, plus the plan's headers. Values that come from
/// the client's header are slices of its bytes, not copies. A chunked body goes out
/// whole with a Content-Length.
fn upstream_request(
    head: &Head<'_>,
    header_bytes: &Bytes,
    plan: &HeaderPlan<'_>,
    body: &HeldBody,
) -> Request<UpstreamBody> {
    let hop = head.hop_by_hop();
    let shared = |text: &str| -> Option<HeaderValue> {
        // A slice of the header bytes when `text` is one, else a copy.
        let bytes = if header_bytes.as_ptr_range().contains(&text.as_ptr()) {
            header_bytes.slice_ref(text.as_bytes())
        } else {
            Bytes::copy_from_slice(text.as_bytes())
        };
        HeaderValue::from_maybe_shared(bytes).ok()
    };
    let mut request = Request::new(body.upstream_body());
    *request.method_mut() = http::Method::from_bytes(head.method.as_bytes()).unwrap_or_default();
    *request.uri_mut() = head.uri.clone();
    let headers = request.headers_mut();
    headers.reserve(head.headers.len() + 6);
    for h in head.headers {
        if h.name.eq_ignore_ascii_case("connection")
            || h.name.eq_ignore_ascii_case("transfer-encoding")
            || hop.drops(h.name)
            || HeaderPlan::replaces(h.name)
        {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_maybe_shared(header_bytes.slice_ref(h.value)),
        ) {
            headers.append(name, value);
        }
    }
    if head.chunked {
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    plan.for_each(head.header("x-forwarded-for"), |name, value| {
        if let Some(value) = shared(value) {
            headers.insert(plan_header_name(name), value);
        }
    });
    request
}

/// The upstream half of one lean request's outcome.
fn upstream_summary<'a>(
    admitted: &'a Admitted,
    addr: Option<std::net::SocketAddr>,
    status: u16,
    ms: Option<f64>,
    uncounted_error: Option<&'static str>,
) -> UpstreamSummary<'a> {
    UpstreamSummary {
        name: admitted.upstream.upstream().name.as_str(),
        addr,
        status,
        ms,
        uncounted_error,
    }
}

/// Answers 504 or 502 for an upstream that gave no response header, records it,
/// and closes: false.
async fn answer_failure(
    stream: &mut Stream,
    record: &Record<'_>,
    admitted: &Admitted,
    failure: exchange::Failure,
    outcome: Outcome<'_>,
) -> bool {
    let answer = Refusal::upstream_failed(failure.kind);
    write_all(stream, &answer.to_http1(record.request.request_id)).await;
    let uncounted = (!failure.counted).then_some(failure.kind);
    record.finish(Outcome {
        status: answer.status,
        upstream: Some(upstream_summary(admitted, failure.addr, 0, None, uncounted)),
        error: Some(failure.message),
        ..outcome
    });
    false
}

/// One admitted request as read: its parsed header, the header's bytes (which the
/// parsed fields point into) and its body.
struct Message<'a> {
    head: &'a Head<'a>,
    header_bytes: &'a Bytes,
    body: HeldBody,
}

/// Forwards an admitted request and relays the answer; true when the connection
/// can carry another request.
async fn forward(
    lean: &Lean<'_>,
    stream: &mut Stream,
    message: Message<'_>,
    admitted: &Admitted,
    facts: &RequestFacts<'_>,
    keep_alive: bool,
    record: Record<'_>,
) -> bool {
    let Message {
        head,
        header_bytes,
        body,
    } = message;
    let route = lean.state.routes.label(admitted.route);
    let bytes_in = body.len() as usize;
    let plan = HeaderPlan::new(lean.state, admitted, facts, record.request.request_id);
    let build = || upstream_request(head, header_bytes, &plan, &body);
    let idempotent = matches!(
        head.method,
        "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" | "TRACE"
    );
    let exchange = match exchange::exchange(&admitted.upstream, build, idempotent).await {
        Ok(exchange) => exchange,
        Err(failure) => {
            let outcome = Outcome {
                route,
                bytes_in,
                ..Outcome::default()
            };
            return answer_failure(stream, &record, admitted, failure, outcome).await;
        }
    };
    let upstream_status = exchange.response.status().as_u16();
    let ms = round_ms(exchange.upstream_started.elapsed());
    let relayed = response::relay(
        stream,
        exchange.response,
        head,
        record.request.request_id,
        keep_alive,
        admitted.upstream.upstream().read_timeout,
    )
    .await;
    if relayed.upstream_done {
        pool::POOL.put(exchange.addr, exchange.sender);
    }
    let uncounted = relayed.error.is_some().then_some("reset");
    let addr = Some(exchange.addr);
    record.finish(Outcome {
        status: relayed.status,
        route,
        upstream: Some(upstream_summary(
            admitted,
            addr,
            upstream_status,
            Some(ms),
            uncounted,
        )),
        bytes_in,
        bytes_out: relayed.bytes_out,
        error: relayed.error,
        ..Outcome::default()
    });
    relayed.keep_alive
}
