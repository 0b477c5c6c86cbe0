//! One exchange with the upstream for the lean path: pick an address, reuse an idle
//! connection or open one, send the request, wait for the response header. Connect
//! failures penalize the address and try another exactly as the pingora path does;
//! a pooled connection that turns out dead is replaced by a fresh one, which is safe
//! because hyper hands the request back when it was never written.

use super::pool::{Sender, POOL};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use staticedge_dns::UpstreamAddrs;
use staticedge_metrics::METRICS;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Why no response header came back.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The `staticedge_upstream_errors_total` kind.
    pub kind: &'static str,
    /// What happened, for the access log.
    pub message: String,
    /// Whether it was already counted (connect failures are, attempt by attempt).
    pub counted: bool,
    /// The address of the last attempt, if one was made.
    pub addr: Option<SocketAddr>,
}

/// A response header and the connection it came on (returned to the pool once
/// the body has been read to its end).
pub(crate) struct Exchange {
    pub response: Response<Incoming>,
    pub sender: Sender,
    pub addr: SocketAddr,
    /// When the address was chosen: the upstream time runs from here.
    pub upstream_started: Instant,
}

async fn connect(addr: SocketAddr, timeout: Duration) -> Result<Sender, Failure> {
    let fail = |kind, message| Failure {
        kind,
        message,
        counted: false,
        addr: Some(addr),
    };
    let tcp = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return Err(fail("connect", format!("connect to {addr}: {e}"))),
        Err(_) => return Err(fail("timeout", format!("connect to {addr} timed out"))),
    };
    let _ = tcp.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| fail("connect", format!("connect to {addr}: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends the request `build` makes to the upstream, retrying connect failures on
/// other addresses up to the upstream's `retries`. A pooled connection that closed
/// under the request is replaced once by a fresh one: at once when the request was
/// never written, and for an `idempotent` request also when it was (nothing of the
/// response had arrived, or hyper would have returned it).
pub(crate) async fn exchange(
    upstream: &UpstreamAddrs,
    build: impl Fn() -> Request<Full<Bytes>>,
    idempotent: bool,
) -> Result<Exchange, Failure> {
    let settings = upstream.upstream();
    let name = settings.name.as_str();
    let mut tried: Vec<SocketAddr> = Vec::new();
    let mut connect_failures = 0u32;
    let mut request = build();
    let mut fresh_only = false;
    loop {
        let Some(addr) = upstream.select(&tried).or_else(|| upstream.select(&[])) else {
            return Err(Failure {
                kind: "connect",
                message: format!("upstream {name}: no address left to try"),
                counted: false,
                addr: tried.last().copied(),
            });
        };
        tried.push(addr);
        let upstream_started = Instant::now();
        let pooled = (!fresh_only)
            .then(|| POOL.take(addr, settings.idle_timeout))
            .flatten();
        let (mut sender, pooled) = match pooled {
            Some(s) => (s, true),
            None => match connect(addr, settings.connect_timeout).await {
                Ok(s) => (s, false),
                Err(mut failure) => {
                    upstream.mark_failed(addr);
                    connect_failures += 1;
                    METRICS
                        .upstream_errors
                        .with_label_values(&[name, failure.kind])
                        .inc();
                    failure.counted = true;
                    if connect_failures > settings.retries {
                        return Err(failure);
                    }
                    METRICS.upstream_retries.with_label_values(&[name]).inc();
                    continue;
                }
            },
        };
        let sent =
            tokio::time::timeout(settings.read_timeout, sender.try_send_request(request)).await;
        match sent {
            Ok(Ok(response)) => {
                return Ok(Exchange {
                    response,
                    sender,
                    addr,
                    upstream_started,
                })
            }
            Ok(Err(mut e)) => match e.take_message() {
                // Never written: the pooled connection had closed. Same address,
                // fresh connection; nothing reached the upstream.
                Some(back) if pooled => {
                    request = back;
                    tried.pop();
                    fresh_only = true;
                    continue;
                }
                None if pooled && idempotent && !fresh_only => {
                    request = build();
                    tried.pop();
                    fresh_only = true;
                    continue;
                }
                _ => {
                    let e = e.into_error();
                    let kind = if e.is_timeout() { "timeout" } else { "reset" };
                    return Err(Failure {
                        kind,
                        message: format!("upstream {addr}: {e}"),
                        counted: false,
                        addr: Some(addr),
                    });
                }
            },
            Err(_) => {
                return Err(Failure {
                    kind: "timeout",
                    message: format!(
                        "upstream {addr}: no response header within {:?}",
                        settings.read_timeout
                    ),
                    counted: false,
                    addr: Some(addr),
                })
            }
        }
    }
}
