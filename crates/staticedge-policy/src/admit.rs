//! Admission: the ladder of checks a request passes before anything is sent
//! upstream. Each step is a small function over plain types; the first refusal
//! answers the request. The order is part of the contract (docs/security.md): a
//! body that is too large is refused before anything else is looked at, and a
//! client outside a route's allow-list learns nothing about the upstream.

use crate::body_limit::BodyLimit;
use crate::facts::RequestFacts;
use crate::refusal::Refusal;
use crate::state::ProxyState;
use staticedge_config::Route;
use staticedge_dns::UpstreamAddrs;
use staticedge_metrics::METRICS;
use staticedge_ratelimit::ClientKey;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// A request the policy lets through, with what the engine needs to forward it.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The index of the route that matched, in the state's route table.
    pub route: usize,
    /// The route's upstream, resolved; its settings are `upstream.upstream()`.
    pub upstream: Arc<UpstreamAddrs>,
    /// The body limit, to apply while the body streams.
    pub body_limit: BodyLimit,
}

/// Runs the admission ladder for one request against one configuration snapshot.
pub fn admit(state: &ProxyState, facts: &RequestFacts<'_>) -> Result<Admitted, Refusal> {
    let body_limit = BodyLimit::new(state.config.limits.max_request_body_bytes);
    body_limit.check_declared(facts.content_length)?;
    redirect_plain_http(state, facts)?;
    let (route_index, route) = find_route(state, facts)?;
    let on_route = |r: Refusal| r.on_route(route_index);
    check_allow_cidrs(route, facts).map_err(on_route)?;
    facts.client_cert.admitted_on(route).map_err(on_route)?;
    check_rate_limit(state, route_index, facts).map_err(on_route)?;
    let upstream = resolved_upstream(state, route).map_err(on_route)?;
    Ok(Admitted {
        route: route_index,
        upstream,
        body_limit,
    })
}

/// A plain-HTTP listener with `redirect_https` answers every request with a 308 to
/// the same host and path over https (400 when there is no Host to redirect to).
fn redirect_plain_http(state: &ProxyState, facts: &RequestFacts<'_>) -> Result<(), Refusal> {
    let listener = state.listener_for(facts.local);
    if !listener.is_some_and(|l| !l.tls && l.redirect_https) {
        return Ok(());
    }
    let host = facts.host.split(':').next().unwrap_or_default();
    if host.is_empty() {
        return Err(Refusal::new(400, "bad_request", "missing Host header\n"));
    }
    let mut redirect = Refusal::new(308, "redirect", "redirecting to https\n");
    redirect.location = Some(format!("https://{host}{}", facts.path));
    Err(redirect)
}

/// The route for the request's Host and path; 421 when none matches, so a client
/// that reused a connection for another name learns it reached the wrong server.
fn find_route<'s>(
    state: &'s ProxyState,
    facts: &RequestFacts<'_>,
) -> Result<(usize, &'s Route), Refusal> {
    state.routes.find(facts.host, facts.path).ok_or_else(|| {
        Refusal::new(
            421,
            "no_route",
            "misdirected request: no route for this host\n",
        )
    })
}

/// A route's `allow_cidrs`: when set, only clients inside one of them pass (403).
fn check_allow_cidrs(route: &Route, facts: &RequestFacts<'_>) -> Result<(), Refusal> {
    if route.allow_cidrs.is_empty() {
        return Ok(());
    }
    let allowed = facts
        .client_ip
        .is_some_and(|ip| route.allow_cidrs.iter().any(|net| net.contains(&ip)));
    if allowed {
        Ok(())
    } else {
        Err(Refusal::new(403, "forbidden", "forbidden\n"))
    }
}

/// The route's `rate_limit`, after the client checks so a refused client costs no
/// partner a token. Over the limit: 429, counted per route.
fn check_rate_limit(
    state: &ProxyState,
    route_index: usize,
    facts: &RequestFacts<'_>,
) -> Result<(), Refusal> {
    let Some(limiter) = state.rate_limits.get(route_index) else {
        return Ok(());
    };
    let key = ClientKey::for_request(
        limiter.limit().key,
        facts.client_ip.unwrap_or(Ipv4Addr::UNSPECIFIED.into()),
        facts
            .client_cert
            .identity()
            .map(|id| id.fingerprint_bytes()),
    );
    limiter.check(key).map_err(|wait| {
        METRICS
            .rate_limited
            .with_label_values(&[state.routes.label(route_index)])
            .inc();
        Refusal::rate_limited(wait.retry_after_secs())
    })
}

/// The route's upstream once DNS has answered for it; before that, 503 with
/// Retry-After, naming the upstream, since a retry a moment later can succeed.
fn resolved_upstream(state: &ProxyState, route: &Route) -> Result<Arc<UpstreamAddrs>, Refusal> {
    match state.upstreams.get(&route.upstream) {
        Some(u) if u.is_resolved() => Ok(u.clone()),
        _ => {
            let mut r = Refusal::new(
                503,
                "unresolved",
                format!(
                    "upstream {} has no address yet (DNS has not answered)\n",
                    route.upstream
                ),
            );
            r.retry_after = Some(1);
            Err(r)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ClientCert;
    use staticedge_dns::UpstreamRegistry;
    use std::path::Path;

    /// A configuration with a plain listener on 8080, a redirecting one on 8081, an
    /// IP upstream (resolved at once) and a name upstream (never resolved here).
    pub(crate) fn state() -> ProxyState {
        let text = r#"
[limits]
max_request_body_bytes = 1000

[admin]
listen = "127.0.0.1:9901"

[[listener]]
listen = "127.0.0.1:8080"
tls = false

[[listener]]
listen = "127.0.0.1:8081"
tls = false
redirect_https = true

[[route]]
hosts = ["api.example.test"]
upstream = "app"
host_header = "upstream"

[[route]]
hosts = ["admin.example.test"]
upstream = "app"
host_header = "preserve"
allow_cidrs = ["10.0.0.0/8"]

[[route]]
hosts = ["dns.example.test"]
upstream = "by-name"
host_header = "upstream"

[[route]]
hosts = ["partners.example.test"]
upstream = "app"
allow_client_names = ["partner-a.example.test"]

[[route]]
hosts = ["mtls.example.test"]
upstream = "app"
client_cert = "required"

[[route]]
hosts = ["limited.example.test"]
upstream = "app"
rate_limit = { requests_per_second = 1, burst = 2 }

[upstream.app]
address = "127.0.0.1:9000"

[upstream.by-name]
address = "app.internal.test:80"
"#;
        let config = staticedge_config::parse(Path::new("policy-test.toml"), text)
            .unwrap_or_else(|e| panic!("test configuration: {e}"));
        let (registry, _) = UpstreamRegistry::default().reconcile(config.upstreams.values());
        ProxyState::new(Arc::new(config), registry, None)
    }

    pub(crate) fn facts<'a>(host: &'a str, port: u16) -> RequestFacts<'a> {
        RequestFacts {
            method: "GET",
            host,
            path: "/x?y=1",
            client_ip: "127.0.0.9".parse().ok(),
            local: format!("127.0.0.1:{port}").parse().ok(),
            tls: false,
            content_length: None,
            request_id: None,
            client_cert: ClientCert::NotAsked,
        }
    }

    fn refused(state: &ProxyState, facts: RequestFacts<'_>) -> (u16, &'static str, Option<usize>) {
        let r = admit(state, &facts).expect_err("must be refused");
        (r.status, r.reason, r.route)
    }

    #[test]
    fn a_routed_resolved_request_is_admitted() {
        let s = state();
        let a = admit(&s, &facts("api.example.test", 8080)).expect("admitted");
        assert_eq!(s.routes.label(a.route), s.routes.label(0));
        assert_eq!(a.upstream.upstream().name, "app");
    }

    #[test]
    fn every_refusal_of_the_ladder() {
        let s = state();
        let big = RequestFacts {
            content_length: Some(1001),
            ..facts("api.example.test", 8080)
        };
        assert_eq!(refused(&s, big), (413, "body_too_large", None));
        assert_eq!(
            refused(&s, facts("api.example.test", 8081)),
            (308, "redirect", None)
        );
        assert_eq!(refused(&s, facts("", 8081)), (400, "bad_request", None));
        assert_eq!(
            refused(&s, facts("other.test", 8080)),
            (421, "no_route", None)
        );
        assert_eq!(
            refused(&s, facts("admin.example.test", 8080)),
            (403, "forbidden", Some(1))
        );
        assert_eq!(
            refused(&s, facts("dns.example.test", 8080)),
            (503, "unresolved", Some(2))
        );
    }

    #[test]
    fn refusals_carry_what_the_answer_needs() {
        let s = state();
        let redirect = admit(&s, &facts("api.example.test:8081", 8081)).expect_err("308");
        assert_eq!(
            redirect.location.as_deref(),
            Some("https://api.example.test/x?y=1")
        );
        let unresolved = admit(&s, &facts("dns.example.test", 8080)).expect_err("503");
        assert_eq!(unresolved.retry_after, Some(1));
        assert!(unresolved.body.contains("by-name"), "{}", unresolved.body);
        let big = RequestFacts {
            content_length: Some(5000),
            ..facts("api.example.test", 8080)
        };
        assert!(admit(&s, &big).expect_err("413").close);
    }

    #[test]
    fn the_body_limit_comes_before_everything_else() {
        let s = state();
        let big_and_unrouted = RequestFacts {
            content_length: Some(1001),
            ..facts("nowhere.test", 8081)
        };
        assert_eq!(refused(&s, big_and_unrouted).0, 413);
    }

    #[test]
    fn allow_lists_admit_clients_inside_them() {
        let s = state();
        let inside = RequestFacts {
            client_ip: "10.1.2.3".parse().ok(),
            ..facts("admin.example.test", 8080)
        };
        assert!(admit(&s, &inside).is_ok());
        let unknown = RequestFacts {
            client_ip: None,
            ..facts("admin.example.test", 8080)
        };
        assert_eq!(refused(&s, unknown).0, 403);
    }

    /// A client certificate for `names` (DNS SANs), as the handshake would verify it.
    pub(crate) fn identity(names: &[&str]) -> staticedge_tls::ClientIdentity {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = rcgen::generate_simple_self_signed(names).expect("rcgen");
        staticedge_tls::ClientIdentity::from_der(cert.cert.der()).expect("identity")
    }

    #[test]
    fn routes_that_require_a_client_certificate_refuse_without_one() {
        let s = state();
        let partner_a = identity(&["partner-a.example.test"]);
        let partner_b = identity(&["partner-b.example.test"]);
        let with = |host, client_cert| RequestFacts {
            client_cert,
            ..facts(host, 8080)
        };
        for host in ["partners.example.test", "mtls.example.test"] {
            for none in [ClientCert::NotAsked, ClientCert::Absent] {
                let (status, reason, _) = refused(&s, with(host, none));
                assert_eq!((status, reason), (403, "client_cert_required"), "{host}");
            }
        }
        let verified_a = with("partners.example.test", ClientCert::Verified(&partner_a));
        assert!(admit(&s, &verified_a).is_ok());
        let verified_b = with("partners.example.test", ClientCert::Verified(&partner_b));
        assert_eq!(
            refused(&s, verified_b),
            (403, "client_cert_not_allowed", Some(3))
        );
        let any_verified = with("mtls.example.test", ClientCert::Verified(&partner_b));
        assert!(
            admit(&s, &any_verified).is_ok(),
            "no allow-list: any verified"
        );
        let open = with("api.example.test", ClientCert::Absent);
        assert!(admit(&s, &open).is_ok(), "other routes need none");
    }

    #[test]
    fn a_rate_limit_refuses_with_retry_after_per_client() {
        let s = state();
        let label = s.routes.label(5).to_string();
        let counted = || METRICS.rate_limited.with_label_values(&[&label]).get();
        let before = counted();
        let from = |ip: &str| RequestFacts {
            client_ip: ip.parse().ok(),
            ..facts("limited.example.test", 8080)
        };
        assert!(admit(&s, &from("192.0.2.1")).is_ok());
        assert!(admit(&s, &from("192.0.2.1")).is_ok(), "burst of 2");
        let over = admit(&s, &from("192.0.2.1")).expect_err("429");
        assert_eq!(
            (over.status, over.reason, over.route),
            (429, "rate_limited", Some(5))
        );
        assert_eq!(over.retry_after, Some(1));
        assert!(!over.close, "the connection stays usable");
        assert!(
            admit(&s, &from("192.0.2.2")).is_ok(),
            "another client's bucket"
        );
        assert_eq!(counted(), before + 1);
    }

    #[test]
    fn a_reload_keeps_the_buckets_of_unchanged_limits() {
        let old = state();
        let from = RequestFacts {
            client_ip: "192.0.2.9".parse().ok(),
            ..facts("limited.example.test", 8080)
        };
        assert!(admit(&old, &from).is_ok());
        assert!(admit(&old, &from).is_ok());
        let (registry, _) = UpstreamRegistry::default().reconcile(old.config.upstreams.values());
        let reloaded = ProxyState::new(old.config.clone(), registry, Some(&old));
        assert_eq!(refused(&reloaded, from).0, 429, "the bucket came along");
    }
}
