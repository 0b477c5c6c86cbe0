//! The staticedge request policy, free of any HTTP engine.
//!
//! An engine (today pingora's `HttpProxy`, driven by `staticedge-proxy`) parses a
//! request into [`RequestFacts`] and asks [`admit`] whether it may pass. A
//! [`Refusal`] is answered as it says, rendered the same way by every engine; an
//! [`Admitted`] request is forwarded with the edits of its [`HeaderPlan`], and
//! whatever happened ends as one [`Outcome`] that [`finish`] turns into metrics and
//! the access log line. Nothing here takes a socket or an engine's types, so every
//! rule is unit tested on its own and a second engine cannot disagree with the
//! first.

pub mod access_log;
mod admit;
mod body_limit;
mod client_cert;
mod facts;
pub mod framing;
pub mod header_limits;
mod in_flight;
mod outcome;
mod plan;
mod refusal;
mod state;

pub use access_log::AccessLogger;
pub use admit::{admit, Admitted};
pub use body_limit::BodyLimit;
pub use client_cert::ClientCert;
pub use facts::RequestFacts;
pub use in_flight::{InFlight, InFlightGuard};
pub use outcome::{
    finish, gateway_status, round_ms, Outcome, RequestSummary, TlsSummary, UpstreamSummary,
};
pub use plan::{request_id, upstream_host, HeaderPlan, HopByHop};
pub use refusal::Refusal;
pub use state::{ProxyState, SharedState};
