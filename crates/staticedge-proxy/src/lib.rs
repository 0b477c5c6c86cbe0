//! The staticedge request path on pingora.
//!
//! [`EdgeProxy`] implements pingora's `ProxyHttp`; each phase is short and calls the
//! module that owns the behaviour, so the impl reads as the life of a request:
//! route it ([`routing`]), refuse what must not pass ([`respond`]), pick an upstream
//! address (`staticedge-dns`), rewrite the headers ([`headers`]), then count and log
//! it ([`observe`], [`access_log`]). [`TlsFront`] terminates TLS in front of it.

pub mod access_log;
mod edge;
pub mod headers;
mod observe;
mod pre_tls;
pub mod respond;
pub mod routing;
mod state;
mod tls_front;

pub use access_log::AccessLogger;
pub use edge::{EdgeProxy, InFlight, RequestCtx};
pub use routing::RouteTable;
pub use state::{ProxyState, SharedState};
pub use tls_front::{acceptor, TlsFacts, TlsFront, DEFAULT_HANDSHAKE_TIMEOUT};
