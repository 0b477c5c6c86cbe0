//! The admin HTTP application served by pingora on `[admin].listen`.

use crate::lifecycle::Lifecycle;
use crate::readiness::readiness;
use crate::status::status_json;
use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use prometheus::{Encoder, TextEncoder};
use serde_json::json;
use staticedge_policy::{InFlight, SharedState};
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

/// The admin application.
pub struct AdminApp {
    view: AdminView,
}

impl AdminApp {
    /// An admin app reading `view`.
    pub fn new(view: AdminView) -> Self {
        AdminApp { view }
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
                crate::page::render(&status_json(&self.view).await).into_bytes(),
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
            "/status" => json_reply(StatusCode::OK, &status_json(&self.view).await),
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
