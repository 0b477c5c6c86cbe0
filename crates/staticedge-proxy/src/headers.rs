//! The policy's [`HeaderPlan`] applied to pingora's request header.

use pingora::http::RequestHeader;
use pingora::Result;
use staticedge_policy::{HeaderPlan, HopByHop};

/// Rewrites `req` for the upstream: hop-by-hop headers (and those the client named
/// in `Connection`) and client certificate headers are removed, then the plan's
/// headers replace any the client sent.
pub fn apply_plan(req: &mut RequestHeader, plan: &HeaderPlan<'_>) -> Result<()> {
    let connection = req
        .headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let hop = HopByHop::from_connection(connection);
    // One pass over the few headers a request has; removal (two map updates in
    // pingora) only for the rare ones present.
    let doomed: Vec<http::HeaderName> = req
        .headers
        .keys()
        .filter(|k| hop.drops(k.as_str()) || HeaderPlan::is_client_cert_header(k.as_str()))
        .cloned()
        .collect();
    for name in &doomed {
        req.remove_header(name);
    }
    let prior_xff = req
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut result = Ok(());
    plan.for_each(prior_xff.as_deref(), |name, value| {
        if result.is_ok() {
            result = req.insert_header(name, value);
        }
    });
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_replaces_client_headers_and_drops_hop_by_hop() {
        let mut req = RequestHeader::build("GET", b"/x", None).expect("req");
        for (n, v) in [
            ("host", "api.example.test"),
            ("x-forwarded-for", "198.51.100.1"),
            ("x-forwarded-proto", "forged"),
            ("connection", "keep-alive, x-secret"),
            ("x-secret", "1"),
            ("proxy-authorization", "Basic Zm9v"),
            ("te", "trailers"),
            ("x-client-verify", "SUCCESS"),
            ("X-Client-Cert-Subject", "CN=forged"),
            ("accept", "*/*"),
        ] {
            req.append_header(n, v).expect("header");
        }
        let plan = HeaderPlan {
            host: "myapp.example".into(),
            client_ip: "127.0.0.9".parse().ok(),
            proto: "https",
            port: Some(443),
            forwarded_host: "api.example.test",
            request_id: "abc",
            client_cert: staticedge_policy::ClientCert::NotAsked,
        };
        apply_plan(&mut req, &plan).expect("apply");
        let all = |n: &str| {
            req.headers
                .get_all(n)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(all("host"), ["myapp.example"]);
        assert_eq!(all("x-forwarded-for"), ["198.51.100.1, 127.0.0.9"]);
        assert_eq!(all("x-forwarded-proto"), ["https"]);
        assert_eq!(all("x-forwarded-port"), ["443"]);
        assert_eq!(all("x-forwarded-host"), ["api.example.test"]);
        assert_eq!(all("x-request-id"), ["abc"]);
        assert_eq!(all("accept"), ["*/*"]);
        for gone in [
            "x-secret",
            "proxy-authorization",
            "te",
            "x-client-verify",
            "x-client-cert-subject",
        ] {
            assert!(all(gone).is_empty(), "{gone} must not be forwarded");
        }
    }
}
