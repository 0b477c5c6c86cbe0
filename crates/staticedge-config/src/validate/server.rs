//! `[server]`, `[admin]` and `[limits]`: process-wide settings.

use super::values::{one_of, or_default, positive, socket_addr};
use crate::file::{Problems, Table};
use crate::model::*;
use std::net::SocketAddr;

/// `[server]`.
pub(super) fn server(p: &mut Problems<'_>, mut t: Table<'_>) -> ServerSettings {
    let threads = t.integer_in("threads", 1..=1024, p).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let grace_period = or_default(t.duration("grace_period", p), defaults::GRACE_PERIOD);
    let drain_timeout = or_default(t.duration("drain_timeout", p), defaults::DRAIN_TIMEOUT);
    let access_log = match t.string("access_log", p) {
        None => AccessLog::Stdout,
        Some(s) => match s.get_ref().as_str() {
            "stdout" => AccessLog::Stdout,
            "off" => AccessLog::Off,
            path => AccessLog::File(super::resolve_path(p, path)),
        },
    };
    let keepalive_timeout = keepalive_timeout(p, &mut t);
    let request_path = t
        .string("request_path", p)
        .and_then(|v| {
            one_of(
                p,
                &v,
                "server.request_path",
                &[
                    ("lean", RequestPath::Lean),
                    ("pingora", RequestPath::Pingora),
                ],
            )
        })
        .unwrap_or_default();
    t.finish(p);
    ServerSettings {
        threads,
        grace_period,
        drain_timeout,
        access_log,
        keepalive_timeout,
        request_path,
    }
}

/// Must stay below the NLB's fixed idle timeout, or the NLB drops connections we
/// still consider open.
fn keepalive_timeout(p: &mut Problems<'_>, t: &mut Table<'_>) -> std::time::Duration {
    let Some(k) = t.duration("keepalive_timeout", p) else {
        return defaults::KEEPALIVE_TIMEOUT;
    };
    let d = *k.get_ref();
    if d.is_zero() || d >= defaults::NLB_IDLE_TIMEOUT {
        p.add(
            &k.span(),
            "server.keepalive_timeout must be above 0 and below the NLB's 350s idle timeout",
        );
    }
    d
}

/// `[admin]`.
pub(super) fn admin(p: &mut Problems<'_>, mut t: Table<'_>) -> AdminSettings {
    let default = || {
        defaults::ADMIN_LISTEN
            .parse()
            .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 9901)))
    };
    let listen = t
        .string("listen", p)
        .and_then(|s| socket_addr(p, &s, "admin.listen"))
        .unwrap_or_else(default);
    t.finish(p);
    AdminSettings { listen }
}

/// `[limits]`.
pub(super) fn limits(p: &mut Problems<'_>, mut t: Table<'_>) -> Limits {
    let header_timeout = t.duration("header_timeout", p);
    let handshake_timeout = t.duration("handshake_timeout", p);
    let limits = Limits {
        max_request_body_bytes: t
            .integer_in("max_request_body_bytes", 0..=i64::MAX, p)
            .unwrap_or(defaults::MAX_REQUEST_BODY_BYTES),
        buffer: super::buffer::request_buffer(p, &mut t),
        header_timeout: positive(
            p,
            header_timeout,
            "limits.header_timeout",
            defaults::HEADER_TIMEOUT,
        ),
        handshake_timeout: positive(
            p,
            handshake_timeout,
            "limits.handshake_timeout",
            defaults::HANDSHAKE_TIMEOUT,
        ),
        max_connections: t
            .integer_in("max_connections", 0..=10_000_000, p)
            .unwrap_or(defaults::MAX_CONNECTIONS),
        max_connections_per_ip: t
            .integer_in("max_connections_per_ip", 0..=10_000_000, p)
            .unwrap_or(defaults::MAX_CONNECTIONS_PER_IP),
        h2_max_concurrent_streams: t
            .integer_in("h2_max_concurrent_streams", 1..=10_000, p)
            .unwrap_or(defaults::H2_MAX_CONCURRENT_STREAMS),
        headers: header_limits(p, &mut t),
    };
    t.finish(p);
    limits
}

/// The request header limits of `[limits]`. A request line limit above the whole
/// header's could never apply, so it is reported at the line limit.
fn header_limits(p: &mut Problems<'_>, t: &mut Table<'_>) -> HeaderLimits {
    let bytes_range = 1024..=defaults::MAX_REQUEST_HEADER_BYTES_CEILING as i64;
    let max_request_header_bytes = t
        .integer_in("max_request_header_bytes", bytes_range.clone(), p)
        .unwrap_or(defaults::MAX_REQUEST_HEADER_BYTES);
    let max_request_headers = t
        .integer_in(
            "max_request_headers",
            1..=defaults::MAX_REQUEST_HEADERS_CEILING as i64,
            p,
        )
        .unwrap_or(defaults::MAX_REQUEST_HEADERS);
    let line_default = defaults::MAX_REQUEST_LINE_BYTES.min(max_request_header_bytes);
    let max_request_line_bytes = match t.spanned_integer_in::<usize>(
        "max_request_line_bytes",
        256..=defaults::MAX_REQUEST_HEADER_BYTES_CEILING as i64,
        p,
    ) {
        None => line_default,
        Some(n) if *n.get_ref() > max_request_header_bytes => {
            p.add(
                &n.span(),
                format!(
                    "limits.max_request_line_bytes ({}) cannot be above limits.max_request_header_bytes ({max_request_header_bytes}): the request line is part of the header",
                    n.get_ref()
                ),
            );
            line_default
        }
        Some(n) => n.into_inner(),
    };
    HeaderLimits {
        max_request_header_bytes,
        max_request_headers,
        max_request_line_bytes,
    }
}
