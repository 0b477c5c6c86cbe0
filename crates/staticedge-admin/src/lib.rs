//! The admin port: what the NLB and the operator ask an instance.
//!
//! `/healthz` (the process serves), `/readyz` (send me traffic: every reason it should
//! not is listed), `/status` (JSON facts: addresses, certificates, reloads),
//! `/metrics` (Prometheus), and `/`, a page of `/status` with the readiness verdict
//! and live figures for a person with a browser. Plain HTTP on its own port, any Host accepted, so the NLB
//! health check never depends on TLS, SNI or routing.

mod charts;
mod figures;
mod instance;
mod lifecycle;
mod page;
mod readiness;
mod sampling;
mod scrape;
mod service;
mod status;

pub use lifecycle::{Lifecycle, ProbeGate, ReloadOutcome};
pub use readiness::{readiness, Readiness};
pub use service::{AdminApp, AdminView, Gathered};
pub use status::status_json;
