//! The staticedge request path on pingora.
//!
//! [`EdgeProxy`] implements pingora's `ProxyHttp`; each phase is short and calls the
//! module that owns the behaviour, so the impl reads as the life of a request:
//! route it (`staticedge_config::routing`), refuse what must not pass ([`respond`]), pick an upstream
//! address (`staticedge-dns`), rewrite the headers ([`headers`]), then count and log
//! it ([`observe`], [`access_log`]). [`Front`] owns each connection before that: limits, PROXY header, TLS, and
//! the request header deadline.

pub mod access_log;
mod edge;
pub mod framing;
mod front;
pub mod headers;
pub mod limits;
mod observe;
mod pre_tls;
pub mod respond;
mod state;

pub use access_log::AccessLogger;
pub use edge::{EdgeProxy, InFlight, RequestCtx};
pub use front::{acceptor, Front, TlsFacts};
pub use limits::ConnectionLimits;
pub use state::{ProxyState, SharedState};
