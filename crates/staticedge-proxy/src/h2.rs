//! HTTP/2 connections: pingora's own connection handling, with the SETTINGS of the
//! configuration current when each connection starts.
//!
//! pingora reads a proxy's `H2Options` once, when the service is built. The header
//! list limit is reloadable, so each new connection gets pingora's options with
//! `SETTINGS_MAX_HEADER_LIST_SIZE` set to `limits.max_request_header_bytes` as it is
//! now. The h2 library then refuses a larger header list itself, on that stream
//! alone: it answers `431` with no body and resets the stream (`PROTOCOL_ERROR` if
//! the client goes on sending); the connection stays open. That answer never reaches
//! staticedge's phases, so it is in neither the metrics nor the access log. A header
//! list more than four times the limit, or split over too many CONTINUATION frames,
//! closes the connection (GOAWAY `ENHANCE_YOUR_CALM`), as the h2 library's abuse
//! guard decides.

use async_trait::async_trait;
use pingora::apps::{HttpServerApp, HttpServerOptions, ReusedHttpStream};
use pingora::protocols::http::v2::server::{default_h2_options, H2Options};
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;
use staticedge_config::HeaderLimits;
use std::sync::Arc;

/// The HTTP application `A` (pingora's `HttpProxy`) for one HTTP/2 connection, with
/// that connection's options. Everything but the options is `A`'s.
pub(crate) struct H2Connection<A> {
    app: Arc<A>,
    options: H2Options,
}

impl<A: HttpServerApp> H2Connection<A> {
    /// `app`'s HTTP/2 options (pingora's bounded defaults when it has none) with the
    /// header list limit of `limits`.
    pub(crate) fn new(app: Arc<A>, limits: &HeaderLimits) -> Self {
        let mut options = app.h2_options().unwrap_or_else(default_h2_options);
        options.max_header_list_size(header_list_size(limits));
        H2Connection { app, options }
    }
}

/// `SETTINGS_MAX_HEADER_LIST_SIZE` for `limits` (the configuration caps the limit
/// far below `u32::MAX`).
fn header_list_size(limits: &HeaderLimits) -> u32 {
    u32::try_from(limits.max_request_header_bytes).unwrap_or(u32::MAX)
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> HttpServerApp for H2Connection<A> {
    async fn process_new_http(
        self: &Arc<Self>,
        session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        self.app.process_new_http(session, shutdown).await
    }

    fn h2_options(&self) -> Option<H2Options> {
        Some(self.options.clone())
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        self.app.server_options()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advertised_limit_is_the_configured_one() {
        let limits = HeaderLimits {
            max_request_header_bytes: 4096,
            ..HeaderLimits::default()
        };
        assert_eq!(header_list_size(&limits), 4096);
        let huge = HeaderLimits {
            max_request_header_bytes: usize::MAX,
            ..HeaderLimits::default()
        };
        assert_eq!(header_list_size(&huge), u32::MAX);
    }
}
