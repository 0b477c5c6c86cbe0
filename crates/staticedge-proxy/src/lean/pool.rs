//! Upstream HTTP/1 connections of the lean path, kept idle between requests and
//! shared by every connection of the process: a mutex around a map of short
//! stacks, without pingora's per-release task, LRU and oneshot.

use crate::buffering::UpstreamBody;
use hyper::client::conn::http1::SendRequest;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// The request body type the lean path sends (buffered whole).
pub(crate) type Sender = SendRequest<UpstreamBody>;

/// Idle connections kept per upstream address; enough for the concurrency a busy
/// instance carries (HTTP/2 clients multiplex hundreds of streams), so connections
/// are not closed on release and reopened on the next request.
const IDLE_PER_ADDRESS: usize = 1024;

struct Idle {
    sender: Sender,
    since: Instant,
}

/// The idle upstream connections, by address.
#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<HashMap<SocketAddr, Vec<Idle>>>,
}

/// The process-wide pool.
pub(crate) static POOL: LazyLock<Pool> = LazyLock::new(Pool::default);

impl Pool {
    /// The most recently used live connection to `addr` idle for less than
    /// `max_idle`; older or closed ones are dropped on the way.
    pub fn take(&self, addr: SocketAddr, max_idle: Duration) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let stack = idle.get_mut(&addr)?;
        while let Some(c) = stack.pop() {
            if c.since.elapsed() < max_idle && c.sender.is_ready() {
                return Some(c.sender);
            }
        }
        None
    }

    /// Keeps `sender` for the next request to `addr`, if it can take one.
    pub fn put(&self, addr: SocketAddr, sender: Sender) {
        if !sender.is_ready() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let stack = idle.entry(addr).or_default();
        if stack.len() < IDLE_PER_ADDRESS {
            stack.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }
}
