//! One exchange with the upstream for the lean path: pick an address, reuse an idle
//! connection or open one, send the request, wait for the response header. Connect
//! failures penalize the address and try another exactly as the pingora path does;
//! a pooled connection that turns out dead is replaced by a fresh one, which is safe
//! because hyper hands the request back when it was never written.

use super::pool::{Sender, POOL};
use crate::buffering::UpstreamBody;
use hyper::body::Incoming;
use hyper::client::conn::TrySendError;
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

/// Where one request's attempts stand.
struct Attempts<'u> {
    upstream: &'u UpstreamAddrs,
    tried: Vec<SocketAddr>,
    connect_failures: u32,
    /// After a pooled connection failed under the request: new connections only.
    fresh_only: bool,
}

/// What to do after an attempt that got no response header.
enum Retry<R> {
    /// Try again with this request (on a fresh connection).
    With(R),
    /// Give up with this failure.
    No(Failure),
}

impl Attempts<'_> {
    fn name(&self) -> &str {
        self.upstream.upstream().name.as_str()
    }

    /// The next address: one not tried yet, else the same again.
    fn next_addr(&mut self) -> Result<SocketAddr, Failure> {
        let up = self.upstream;
        let addr = up
            .select(&self.tried)
            .or_else(|| up.select(&[]))
            .ok_or_else(|| Failure {
                kind: "connect",
                message: format!("upstream {}: no address left to try", self.name()),
                counted: false,
                addr: self.tried.last().copied(),
            })?;
        self.tried.push(addr);
        Ok(addr)
    }

    /// A connection to `addr` (idle from the pool, or new) and whether it was pooled;
    /// `Ok(None)` after a connect failure that leaves a retry.
    async fn connection(&mut self, addr: SocketAddr) -> Result<Option<(Sender, bool)>, Failure> {
        let settings = self.upstream.upstream();
        if !self.fresh_only {
            if let Some(sender) = POOL.take(addr, settings.idle_timeout) {
                return Ok(Some((sender, true)));
            }
        }
        match connect(addr, settings.connect_timeout).await {
            Ok(sender) => Ok(Some((sender, false))),
            Err(mut failure) => {
                self.upstream.mark_failed(addr);
                self.connect_failures += 1;
                let name = settings.name.as_str();
                METRICS
                    .upstream_errors
                    .with_label_values(&[name, failure.kind])
                    .inc();
                failure.counted = true;
                if self.connect_failures > settings.retries {
                    return Err(failure);
                }
                METRICS.upstream_retries.with_label_values(&[name]).inc();
                Ok(None)
            }
        }
    }

    /// A pooled connection that closed under the request is replaced once by a fresh
    /// one: at once when the request was never written, and for an idempotent request
    /// also when it was (nothing of the response had arrived, or hyper would have
    /// returned it). Anything else is the upstream's failure.
    fn after_send_error<R>(
        &mut self,
        mut e: TrySendError<R>,
        addr: SocketAddr,
        pooled: bool,
        rebuild: Option<R>,
    ) -> Retry<R> {
        let retry = match e.take_message() {
            Some(back) if pooled => Some(back),
            None if pooled && !self.fresh_only => rebuild,
            _ => None,
        };
        if let Some(request) = retry {
            self.tried.pop();
            self.fresh_only = true;
            return Retry::With(request);
        }
        let e = e.into_error();
        Retry::No(Failure {
            kind: if e.is_timeout() { "timeout" } else { "reset" },
            message: format!("upstream {addr}: {e}"),
            counted: false,
            addr: Some(addr),
        })
    }
}

/// Sends the request `build` makes to the upstream, retrying connect failures on
/// other addresses up to the upstream's `retries`, and waits up to `read_timeout`
/// for the response header.
pub(crate) async fn exchange(
    upstream: &UpstreamAddrs,
    build: impl Fn() -> Request<UpstreamBody>,
    idempotent: bool,
) -> Result<Exchange, Failure> {
    let read_timeout = upstream.upstream().read_timeout;
    let mut attempts = Attempts {
        upstream,
        tried: Vec::new(),
        connect_failures: 0,
        fresh_only: false,
    };
    let mut request = build();
    loop {
        let addr = attempts.next_addr()?;
        let upstream_started = Instant::now();
        let Some((mut sender, pooled)) = attempts.connection(addr).await? else {
            continue;
        };
        match tokio::time::timeout(read_timeout, sender.try_send_request(request)).await {
            Ok(Ok(response)) => {
                return Ok(Exchange {
                    response,
                    sender,
                    addr,
                    upstream_started,
                })
            }
            Ok(Err(e)) => {
                let rebuild = idempotent.then(&build);
                match attempts.after_send_error(e, addr, pooled, rebuild) {
                    Retry::With(again) => request = again,
                    Retry::No(failure) => return Err(failure),
                }
            }
            Err(_) => {
                return Err(Failure {
                    kind: "timeout",
                    message: format!("upstream {addr}: no response header within {read_timeout:?}"),
                    counted: false,
                    addr: Some(addr),
                })
            }
        }
    }
}
