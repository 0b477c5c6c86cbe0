//! The pingora engine of staticedge: the connection front and pingora's `HttpProxy`
//! driven by the request policy of `staticedge-policy`.
//!
//! [`Front`] owns each connection first: limits, the PROXY header, TLS, the request
//! header deadline and the framing check; answers it gives itself are rendered and
//! recorded by the policy like any other. It then hands HTTP to [`EdgeProxy`], whose
//! `ProxyHttp` phases are thin: each turns pingora's session into the policy's plain
//! types ([`staticedge_policy::RequestFacts`]), asks the policy, and applies the
//! answer ([`respond`], [`headers`]) or opens the upstream connection ([`peer`]).

mod buffering;
mod errors;
mod front;
mod h2;
pub mod headers;
mod held;
mod lean;
pub mod limits;
pub mod peer;
mod pre_tls;
mod proxy_http;
pub mod respond;
mod tls_accept;

pub use front::Front;
pub use limits::ConnectionLimits;
pub use peer::upstream_peer;
pub use proxy_http::{EdgeProxy, RequestCtx};
pub use tls_accept::{tls_summary, TlsAcceptors, TlsFacts};
