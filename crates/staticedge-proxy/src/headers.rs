//! What the upstream sees (PRODUCT.md section 5): the Host it expects and the
//! X-Forwarded-* / X-Request-Id headers, with hop-by-hop headers removed.

use pingora::http::RequestHeader;
use pingora::Result;
use staticedge_config::{HostHeader, Upstream};
use std::net::IpAddr;

/// Facts about the downstream request that the headers are built from.
#[derive(Debug, Clone)]
pub struct ClientFacts<'a> {
    /// The client's IP (from the PROXY header when enabled, else the socket peer).
    pub client_ip: Option<IpAddr>,
    /// The Host the client asked for, as sent.
    pub client_host: &'a str,
    /// "https" or "http".
    pub proto: &'static str,
    /// The port of the listener the request arrived on.
    pub listener_port: Option<u16>,
    /// The request id to pass on.
    pub request_id: &'a str,
}

/// Headers that only describe one hop and must not be forwarded. pingora manages
/// `Connection`, `Upgrade` and `Transfer-Encoding` framing itself.
const HOP_BY_HOP: [&str; 6] = [
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "proxy-authenticate",
    "proxy-authorization",
];

/// The Host value sent upstream for a route's policy.
pub fn upstream_host(policy: &HostHeader, client_host: &str, upstream: &Upstream) -> String {
    match policy {
        HostHeader::Preserve => client_host.to_string(),
        HostHeader::Upstream => upstream.address.host(),
        HostHeader::Literal(s) => s.clone(),
    }
}

/// Rewrites the request for the upstream.
pub fn rewrite_request(req: &mut RequestHeader, facts: &ClientFacts<'_>, host: &str) -> Result<()> {
    // Headers the client named in Connection are hop-by-hop too.
    let named: Vec<String> = req
        .headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty() && t != "close" && t != "keep-alive" && t != "upgrade")
        .collect();
    // One pass over the few headers a request has; removal (two map updates in
    // pingora) only for the rare ones present.
    let doomed: Vec<http::HeaderName> = req
        .headers
        .keys()
        .filter(|k| HOP_BY_HOP.contains(&k.as_str()) || named.iter().any(|n| n == k.as_str()))
        .cloned()
        .collect();
    for name in &doomed {
        req.remove_header(name);
    }
    req.insert_header("host", host)?;
    if let Some(ip) = facts.client_ip {
        let xff = match req
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            Some(prior) if !prior.trim().is_empty() => format!("{}, {ip}", prior.trim()),
            _ => ip.to_string(),
        };
        req.insert_header("x-forwarded-for", xff)?;
    }
    req.insert_header("x-forwarded-proto", facts.proto)?;
    if let Some(port) = facts.listener_port {
        req.insert_header("x-forwarded-port", port.to_string())?;
    }
    req.insert_header("x-forwarded-host", facts.client_host)?;
    req.insert_header("x-request-id", facts.request_id)?;
    Ok(())
}

/// The client's X-Request-Id when it is a sane token, else a new random one.
pub fn request_id(sent: Option<&str>) -> String {
    match sent {
        Some(id)
            if !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            id.to_string()
        }
        _ => format!("{:032x}", fastrand::u128(..)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn upstream() -> Upstream {
        Upstream::with_defaults("eb", "myapp.eba-abc123.us-east-1.elasticbeanstalk.com:80")
            .expect("valid")
    }

    #[test]
    fn host_policy_chooses_the_host_the_app_expects() {
        let u = upstream();
        let cases = [
            (HostHeader::Preserve, "api.example.test"),
            (
                HostHeader::Upstream,
                "myapp.eba-abc123.us-east-1.elasticbeanstalk.com",
            ),
            (HostHeader::Literal("app.internal".into()), "app.internal"),
        ];
        for (policy, want) in cases {
            assert_eq!(
                upstream_host(&policy, "api.example.test", &u),
                want,
                "{policy:?}"
            );
        }
    }

    #[test]
    fn forwarded_headers_are_set_and_hop_by_hop_removed() {
        let mut req = RequestHeader::build("GET", b"/x", None).expect("req");
        req.insert_header("host", "api.example.test").expect("h");
        req.insert_header("x-forwarded-for", "198.51.100.1")
            .expect("h");
        req.insert_header("connection", "keep-alive, x-secret")
            .expect("h");
        req.insert_header("x-secret", "1").expect("h");
        req.insert_header("proxy-authorization", "Basic Zm9v")
            .expect("h");
        req.insert_header("te", "trailers").expect("h");
        let facts = ClientFacts {
            client_ip: Some("127.0.0.9".parse().expect("ip")),
            client_host: "api.example.test",
            proto: "https",
            listener_port: Some(443),
            request_id: "abc",
        };
        rewrite_request(&mut req, &facts, "myapp.example").expect("rewrite");
        let h = |n: &str| {
            req.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        assert_eq!(h("host").as_deref(), Some("myapp.example"));
        assert_eq!(
            h("x-forwarded-for").as_deref(),
            Some("198.51.100.1, 127.0.0.9")
        );
        assert_eq!(h("x-forwarded-proto").as_deref(), Some("https"));
        assert_eq!(h("x-forwarded-port").as_deref(), Some("443"));
        assert_eq!(h("x-forwarded-host").as_deref(), Some("api.example.test"));
        assert_eq!(h("x-request-id").as_deref(), Some("abc"));
        for gone in ["x-secret", "proxy-authorization", "te"] {
            assert_eq!(h(gone), None, "{gone} must not be forwarded");
        }
    }

    #[test]
    fn request_ids_are_kept_when_sane() {
        assert_eq!(request_id(Some("req-123")), "req-123");
        for bad in [None, Some(""), Some("has space"), Some("\u{7f}")] {
            let id = request_id(bad);
            assert_eq!(id.len(), 32, "{bad:?}");
        }
        assert_ne!(request_id(None), request_id(None));
    }
}
