//! The admin HTTP application served by pingora on `[admin].listen`.

use crate::instance::{start_lookup, InstanceLookup};
use crate::lifecycle::Lifecycle;
use crate::readiness::readiness;
use crate::sampling::{start_sampling, SampleRing};
use crate::status::status_json;
use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use prometheus::{Encoder, TextEncoder};
use serde_json::json;
use staticedge_policy::{AccessLogger, InFlight, SharedState};
use staticedge_tls::CertStore;
use std::sync::Arc;

/// Everything the admin endpoints read.
#[derive(Clone)]
pub struct AdminView {
    /// The configuration and upstreams in use.
    pub state: SharedState,
    /// The certificates in use.
    pub certs: Arc<CertStore>,
    /// Drain, reload and probe state.
    pub lifecycle: Arc<Lifecycle>,
    /// Requests in progress.
    pub in_flight: InFlight,
}

/// What the status document reads beside [`AdminView`]: samples of the request
/// counters for the live figures and the EC2 instance's identity, which the admin
/// port gathers on its own, and the access log's last failure when the binary hands
/// the logger over ([`AdminApp::with_access_log`]).
#[derive(Clone)]
pub struct Gathered {
    /// The last minutes of counter samples.
    pub(crate) samples: Arc<SampleRing>,
    /// The instance id and zone, once the metadata service answered.
    pub(crate) instance: Arc<InstanceLookup>,
    /// The access log writer, for its last failure; `None` when not handed over.
    pub(crate) access_log: Option<AccessLogger>,
}

impl Gathered {
    /// Nothing sampled and no identity, with nothing started (for tests).
    pub fn empty() -> Self {
        Gathered {
            samples: Arc::new(SampleRing::for_history()),
            instance: Arc::new(InstanceLookup::default()),
            access_log: None,
        }
    }

    /// Starts sampling the counters and the instance metadata lookup, each on a
    /// thread of its own.
    pub fn start() -> Self {
        let gathered = Gathered::empty();
        start_sampling(gathered.samples.clone());
        start_lookup(gathered.instance.clone());
        gathered
    }
}

/// The admin application.
pub struct AdminApp {
    view: AdminView,
    gathered: Gathered,
}

impl AdminApp {
    /// An admin app reading `view`; starts gathering the live figures and the
    /// instance identity (see [`Gathered::start`]).
    pub fn new(view: AdminView) -> Self {
        AdminApp {
            view,
            gathered: Gathered::start(),
        }
    }

    /// Shows `logger`'s last failure (a line lost, and why) in `/status` and on the page.
    pub fn with_access_log(mut self, logger: AccessLogger) -> Self {
        self.gathered.access_log = Some(logger);
        self
    }

    /// The status document, as `/status` serves it and the page renders it.
    async fn status(&self) -> serde_json::Value {
        status_json(&self.view, &self.gathered).await
    }
}

fn reply(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut r = Response::new(Vec::new());
    *r.status_mut() = status;
    let headers = r.headers_mut();
    if let Ok(v) = content_type.parse() {
        headers.insert(http::header::CONTENT_TYPE, v);
    }
    if let Ok(v) = body.len().to_string().parse() {
        headers.insert(http::header::CONTENT_LENGTH, v);
    }
    if let Ok(v) = "no-store".parse() {
        headers.insert(http::header::CACHE_CONTROL, v);
    }
    *r.body_mut() = body;
    r
}

fn json_reply(status: StatusCode, value: &serde_json::Value) -> Response<Vec<u8>> {
    let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
    body.push(b'\n');
    reply(status, "application/json", body)
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        let method = session.req_header().method.clone();
        if method != http::Method::GET && method != http::Method::HEAD {
            return reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                b"only GET\n".to_vec(),
            );
        }
        match path.as_str() {
            "/" => reply(
                StatusCode::OK,
                "text/html; charset=utf-8",
                crate::page::render(&self.status().await).into_bytes(),
            ),
            "/healthz" => reply(StatusCode::OK, "text/plain", b"ok\n".to_vec()),
            "/readyz" => {
                let r = readiness(&self.view).await;
                let status = if r.is_ready() {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                json_reply(
                    status,
                    &json!({"ready": r.is_ready(), "reasons": r.reasons}),
                )
            }
            "/status" => json_reply(StatusCode::OK, &self.status().await),
            "/metrics" => {
                crate::scrape::refresh(&self.view);
                let ready = readiness(&self.view).await.is_ready();
                staticedge_metrics::METRICS.ready.set(i64::from(ready));
                let mut buf = Vec::new();
                let encoder = TextEncoder::new();
                if encoder.encode(&prometheus::gather(), &mut buf).is_err() {
                    buf.clear();
                }
                reply(StatusCode::OK, encoder.format_type(), buf)
            }
            _ => reply(
                StatusCode::NOT_FOUND,
                "text/plain",
                b"not found: try /healthz /readyz /status /metrics\n".to_vec(),
            ),
        }
    }
}
