//! Request buffering shared by both request paths: a body is read whole, counted
//! against `limits.max_request_body_bytes` and spooled before the upstream request
//! begins, so a refused body (too large, malformed, too slow, no room to keep it)
//! never reaches the upstream, not even in part. The buffered body is then sent with
//! a Content-Length, and resent as is when a connect attempt fails.

use bytes::Bytes;
use http_body_util::{Either, Full};
use staticedge_buffer::{DiskBudget, FrozenSpool, Spool, SpoolBody, SpoolError, SpoolSettings};
use staticedge_policy::{BodyLimit, ProxyState, Refusal};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// After a body is refused part-way, how long (and how many bytes) the rest the
/// client is still sending is read and dropped before the connection closes. Closing
/// with unread bytes would reset the connection, and the client could lose the
/// answer before reading it (nginx's lingering close).
pub(crate) const LINGER: Duration = Duration::from_secs(1);
/// See [`LINGER`].
pub(crate) const LINGER_BYTES: usize = 16 * 1024 * 1024;

/// Whether a refusal of a body part-way should linger: not for a stalled client,
/// which sends nothing more.
pub(crate) fn lingers(refusal: &Refusal) -> bool {
    refusal.status != 408
}

/// Bytes spilled to disk by every buffered request of the process, capped by
/// `limits.request_buffer_disk_total` of the configuration each request is served
/// with.
static DISK: LazyLock<Arc<DiskBudget>> = LazyLock::new(|| Arc::new(DiskBudget::new()));

/// The body of an upstream request on the lean exchange: bytes read with the header
/// (a Content-Length body), or a buffered body of unknown size up front.
pub(crate) type UpstreamBody = Either<Full<Bytes>, SpoolBody>;

/// An empty spool for one request, with the settings of `state`.
pub(crate) fn new_spool(state: &ProxyState) -> Spool {
    let settings = &state.config.limits.buffer;
    Spool::new(SpoolSettings {
        memory: settings.memory,
        dir: settings.dir.clone(),
        disk_cap: settings.disk_total,
        budget: DISK.clone(),
    })
}

/// Counts `data` against the body limit, then keeps it.
pub(crate) fn take(spool: &mut Spool, limit: &mut BodyLimit, data: &[u8]) -> Result<(), Refusal> {
    limit.count(data.len())?;
    spool.write(data).map_err(|e| no_room(&e))
}

/// A body that could not be kept: 503, try again shortly.
fn no_room(e: &SpoolError) -> Refusal {
    if let SpoolError::Io(io) = e {
        tracing::error!(error = %io, "request buffer file failed");
    }
    let mut refusal = Refusal::new(
        503,
        "buffer_full",
        "request body cannot be buffered now; try again\n",
    )
    .closing();
    refusal.retry_after = Some(5);
    refusal
}

/// A chunked body whose framing is wrong: 400, the connection cannot continue.
pub(crate) fn bad_chunk(why: &str) -> Refusal {
    Refusal::new(400, "bad_chunk", format!("bad request body: {why}\n")).closing()
}

/// A client that stopped sending its body for `limits.body_timeout`: 408.
pub(crate) fn body_timeout() -> Refusal {
    Refusal::new(408, "body_timeout", "request body not received in time\n").closing()
}

/// A request body held whole, ready to be sent (and sent again after a failed
/// connect).
#[derive(Debug, Clone)]
pub(crate) enum HeldBody {
    /// A Content-Length body read with the header.
    Bytes(Bytes),
    /// A body buffered by a spool.
    Spool(FrozenSpool),
}

impl HeldBody {
    /// Its length: the Content-Length the upstream sees.
    pub(crate) fn len(&self) -> u64 {
        match self {
            HeldBody::Bytes(b) => b.len() as u64,
            HeldBody::Spool(s) => s.len(),
        }
    }

    /// A body for one upstream attempt, from the first byte.
    pub(crate) fn upstream_body(&self) -> UpstreamBody {
        match self {
            HeldBody::Bytes(b) => Either::Left(Full::new(b.clone())),
            HeldBody::Spool(s) => Either::Right(s.body()),
        }
    }
}
