//! What the upstream sees (docs/configuration.md, "What the upstream receives"): the
//! Host it expects, `X-Forwarded-*` and `X-Request-Id`, and no hop-by-hop headers.
//!
//! The plan is data, not an edit of some engine's header type: pingora's engine
//! applies it to a `RequestHeader`, a byte-level engine applies it while copying
//! header lines (drop what [`HopByHop::drops`] or [`HeaderPlan::replaces`] names, then
//! write [`HeaderPlan::for_each`]'s fields).

use crate::admit::Admitted;
use crate::client_cert::ClientCert;
use crate::facts::RequestFacts;
use crate::state::ProxyState;
use staticedge_config::{HostHeader, Upstream};
use std::net::IpAddr;

/// Headers that only describe one hop and are never forwarded. `Connection`,
/// `Upgrade` and `Transfer-Encoding` are the engine's to manage with the framing.
const HOP_BY_HOP: [&str; 6] = [
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "proxy-authenticate",
    "proxy-authorization",
];

/// The headers a plan sets; any the client sent under these names are replaced.
const SET: [&str; 6] = [
    "host",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-host",
    "x-request-id",
];

/// The client certificate headers: set only when the connection's certificate asks
/// for client certificates, and removed from every request a client sends, so the
/// app can trust that staticedge wrote them.
const CLIENT_CERT: [&str; 4] = [
    "x-client-verify",
    "x-client-cert-subject",
    "x-client-cert-san",
    "x-client-cert-fingerprint",
];

/// The header fields staticedge sets on a request it forwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderPlan<'a> {
    /// The Host the route's policy chose.
    pub host: String,
    /// The client, appended to `X-Forwarded-For`.
    pub client_ip: Option<IpAddr>,
    /// `X-Forwarded-Proto`: "https" or "http".
    pub proto: &'static str,
    /// `X-Forwarded-Port`: the listener's port.
    pub port: Option<u16>,
    /// `X-Forwarded-Host`: the Host the client asked for.
    pub forwarded_host: &'a str,
    /// `X-Request-Id`, also returned to the client.
    pub request_id: &'a str,
    /// The client certificate, for `X-Client-Verify` and `X-Client-Cert-*`.
    pub client_cert: ClientCert<'a>,
}

impl<'a> HeaderPlan<'a> {
    /// The plan for an admitted request.
    pub fn new(
        state: &ProxyState,
        admitted: &Admitted,
        facts: &RequestFacts<'a>,
        request_id: &'a str,
    ) -> Self {
        let route = &state.routes.routes()[admitted.route];
        HeaderPlan {
            host: upstream_host(&route.host_header, facts.host, admitted.upstream.upstream()),
            client_ip: facts.client_ip,
            proto: if facts.tls { "https" } else { "http" },
            port: facts.local.map(|a| a.port()),
            forwarded_host: facts.host,
            request_id,
            client_cert: facts.client_cert,
        }
    }

    /// Whether a header the client sent under `name` is replaced (or removed) by the
    /// plan: what it sets, and the client certificate headers, always.
    pub fn replaces(name: &str) -> bool {
        SET.iter().any(|s| s.eq_ignore_ascii_case(name)) || Self::is_client_cert_header(name)
    }

    /// Whether `name` is one of the client certificate headers, which no client may
    /// send: an engine that edits a parsed header removes these before applying
    /// [`HeaderPlan::for_each`] (which sets them only when there is something to say).
    pub fn is_client_cert_header(name: &str) -> bool {
        name.len() >= 15
            && name.as_bytes()[..9].eq_ignore_ascii_case(b"x-client-")
            && CLIENT_CERT.iter().any(|s| s.eq_ignore_ascii_case(name))
    }

    /// `X-Forwarded-For`: the client's own list (when it sent one) with the client
    /// appended, as every proxy in a chain does.
    pub fn forwarded_for(&self, prior: Option<&str>) -> Option<String> {
        let ip = self.client_ip?;
        Some(match prior.map(str::trim) {
            Some(prior) if !prior.is_empty() => format!("{prior}, {ip}"),
            _ => ip.to_string(),
        })
    }

    /// Calls `set(name, value)` for each header the upstream request carries, in
    /// order. `prior_xff` is the client's `X-Forwarded-For`, if any.
    pub fn for_each(&self, prior_xff: Option<&str>, mut set: impl FnMut(&'static str, &str)) {
        set("host", &self.host);
        if let Some(xff) = self.forwarded_for(prior_xff) {
            set("x-forwarded-for", &xff);
        }
        set("x-forwarded-proto", self.proto);
        if let Some(port) = self.port {
            set("x-forwarded-port", &port.to_string());
        }
        set("x-forwarded-host", self.forwarded_host);
        set("x-request-id", self.request_id);
        if let Some(verify) = self.client_cert.verify_label() {
            set("x-client-verify", verify);
        }
        if let Some(id) = self.client_cert.identity() {
            set("x-client-cert-subject", &id.subject);
            set("x-client-cert-san", &id.sans);
            set("x-client-cert-fingerprint", &id.fingerprint);
        }
    }
}

/// The hop-by-hop headers of one request: the fixed list plus those the client
/// named in `Connection`.
#[derive(Debug, Clone, Default)]
pub struct HopByHop {
    named: Vec<String>,
}

impl HopByHop {
    /// Reads the request's `Connection` header values.
    pub fn from_connection<'v>(values: impl Iterator<Item = &'v str>) -> Self {
        let named = values
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty() && t != "close" && t != "keep-alive" && t != "upgrade")
            .collect();
        HopByHop { named }
    }

    /// Whether the header `name` stays on the client's hop.
    pub fn drops(&self, name: &str) -> bool {
        HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
            || self.named.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// The Host value sent upstream for a route's policy.
pub fn upstream_host(policy: &HostHeader, client_host: &str, upstream: &Upstream) -> String {
    match policy {
        HostHeader::Preserve => client_host.to_string(),
        HostHeader::Upstream => upstream.address.host(),
        HostHeader::Literal(s) => s.clone(),
    }
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
    use crate::admit::admit;
    use crate::admit::tests::{facts, state};

    fn plan_for(host: &'static str, tls: bool) -> Vec<(&'static str, String)> {
        let s = state();
        let f = RequestFacts {
            tls,
            ..facts(host, 8080)
        };
        let admitted = admit(&s, &f).expect("admitted");
        let plan = HeaderPlan::new(&s, &admitted, &f, "req-1");
        let mut out = Vec::new();
        plan.for_each(Some("198.51.100.1"), |n, v| out.push((n, v.to_string())));
        out
    }

    #[test]
    fn the_plan_sets_every_forwarded_header() {
        let got = plan_for("api.example.test", true);
        let want = [
            ("host", "127.0.0.1"),
            ("x-forwarded-for", "198.51.100.1, 127.0.0.9"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-port", "8080"),
            ("x-forwarded-host", "api.example.test"),
            ("x-request-id", "req-1"),
        ];
        let got: Vec<(&str, &str)> = got.iter().map(|(n, v)| (*n, v.as_str())).collect();
        assert_eq!(got, want);
        for (name, _) in want {
            assert!(HeaderPlan::replaces(name), "{name}");
            assert!(HeaderPlan::replaces(&name.to_ascii_uppercase()), "{name}");
        }
        assert!(!HeaderPlan::replaces("accept"));
    }

    #[test]
    fn plain_listeners_forward_http() {
        let plain = plan_for("api.example.test", false);
        let proto = plain.iter().find(|(k, _)| *k == "x-forwarded-proto");
        assert_eq!(proto.map(|(_, v)| v.as_str()), Some("http"));
    }

    #[test]
    fn forwarded_for_appends_or_starts_the_list() {
        let plan = HeaderPlan {
            host: "h".into(),
            client_ip: "203.0.113.7".parse().ok(),
            proto: "https",
            port: None,
            forwarded_host: "a.test",
            request_id: "r",
            client_cert: ClientCert::NotAsked,
        };
        assert_eq!(plan.forwarded_for(None).as_deref(), Some("203.0.113.7"));
        assert_eq!(
            plan.forwarded_for(Some("  ")).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            plan.forwarded_for(Some("198.51.100.1 ")).as_deref(),
            Some("198.51.100.1, 203.0.113.7")
        );
        let unknown = HeaderPlan {
            client_ip: None,
            ..plan.clone()
        };
        assert_eq!(unknown.forwarded_for(Some("198.51.100.1")), None);
        let mut names = Vec::new();
        plan.for_each(None, |n, _| names.push(n));
        assert!(!names.contains(&"x-forwarded-port"), "no port, no header");
    }

    #[test]
    fn hop_by_hop_headers_and_those_named_in_connection_are_dropped() {
        let hop = HopByHop::from_connection(["keep-alive, X-Secret", "close, upgrade"].into_iter());
        for dropped in [
            "x-secret",
            "X-SECRET",
            "proxy-authorization",
            "te",
            "trailer",
            "keep-alive",
        ] {
            assert!(hop.drops(dropped), "{dropped}");
        }
        for kept in ["accept", "upgrade", "close", "connection-id"] {
            assert!(!hop.drops(kept), "{kept}");
        }
    }

    #[test]
    fn host_policy_chooses_the_host_the_app_expects() {
        let u = Upstream::with_defaults("eb", "myapp.eba-abc123.us-east-1.elasticbeanstalk.com:80")
            .expect("valid");
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
    fn request_ids_are_kept_when_sane() {
        assert_eq!(request_id(Some("req-123")), "req-123");
        for bad in [None, Some(""), Some("has space"), Some("\u{7f}")] {
            assert_eq!(request_id(bad).len(), 32, "{bad:?}");
        }
        assert_ne!(request_id(None), request_id(None));
    }

    #[test]
    fn client_certificate_headers_only_when_asked() {
        let s = state();
        let id = crate::admit::tests::identity(&["partner-a.example.test"]);
        let headers = |client_cert| {
            let f = RequestFacts {
                client_cert,
                ..facts("api.example.test", 8080)
            };
            let admitted = admit(&s, &f).expect("admitted");
            let plan = HeaderPlan::new(&s, &admitted, &f, "req-1");
            let mut out = Vec::new();
            plan.for_each(None, |n, v| out.push((n, v.to_string())));
            out.retain(|(n, _)| HeaderPlan::is_client_cert_header(n));
            out
        };
        assert!(headers(ClientCert::NotAsked).is_empty());
        assert_eq!(
            headers(ClientCert::Absent),
            [("x-client-verify", "NONE".to_string())]
        );
        let verified = headers(ClientCert::Verified(&id));
        let names: Vec<&str> = verified.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "x-client-verify",
                "x-client-cert-subject",
                "x-client-cert-san",
                "x-client-cert-fingerprint"
            ]
        );
        assert_eq!(verified[0].1, "SUCCESS");
        assert_eq!(verified[3].1, id.fingerprint);
        for sent in [
            "X-Client-Verify",
            "x-client-cert-san",
            "X-CLIENT-CERT-FINGERPRINT",
        ] {
            assert!(
                HeaderPlan::replaces(sent),
                "{sent} from a client is never forwarded"
            );
        }
        assert!(!HeaderPlan::is_client_cert_header("x-client-id"));
    }
}
