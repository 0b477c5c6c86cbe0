//! A route's partner access: `client_cert`, `allow_client_names` and `rate_limit`.

use super::values::one_of;
use crate::error::Location;
use crate::file::{Problems, Table};
use crate::model::*;

/// What a route asks of a request's client certificate, and where that is written
/// (for the check that the route's hosts have a `client_ca`).
pub(super) struct ClientCert {
    pub rule: ClientCertRule,
    pub allow_names: Vec<String>,
    pub at: Option<Location>,
}

/// `client_cert` and `allow_client_names` of one route.
pub(super) fn client_cert(p: &mut Problems<'_>, t: &mut Table<'_>) -> ClientCert {
    let rule_written = t.string("client_cert", p);
    let names = t.strings("allow_client_names", p);
    let mut at = rule_written.as_ref().map(|r| p.at(&r.span()));
    let rule = rule_written
        .and_then(|r| {
            one_of(
                p,
                &r,
                "route.client_cert",
                &[
                    ("required", ClientCertRule::Required),
                    ("optional", ClientCertRule::Optional),
                ],
            )
        })
        .unwrap_or_default();
    let mut allow_names = Vec::new();
    for name in names.unwrap_or_default() {
        let value = name.get_ref().trim();
        if value.is_empty() || value.bytes().any(|b| b.is_ascii_control()) {
            p.add(
                &name.span(),
                "route.allow_client_names: a name is a certificate's DNS or URI SAN or its subject CN, not empty",
            );
            continue;
        }
        at.get_or_insert_with(|| p.at(&name.span()));
        allow_names.push(value.to_ascii_lowercase());
    }
    ClientCert {
        rule,
        allow_names,
        at,
    }
}

/// `rate_limit = { requests_per_second = N, burst = N, key = "...", max_keys = N }`.
pub(super) fn rate_limit(p: &mut Problems<'_>, t: &mut Table<'_>) -> Option<RateLimit> {
    let mut r = t.table("rate_limit", p)?;
    let has_rate = r.has("requests_per_second");
    let rate: Option<u32> = r.integer_in("requests_per_second", 1..=1_000_000, p);
    if !has_rate {
        r.missing(p, "requests_per_second");
    }
    let burst: Option<u32> = r.integer_in("burst", 1..=10_000_000, p);
    let key = r
        .string("key", p)
        .map(|k| {
            one_of(
                p,
                &k,
                "route.rate_limit.key",
                &[
                    ("client_ip", RateLimitKey::ClientIp),
                    ("client_cert", RateLimitKey::ClientCert),
                    ("route", RateLimitKey::Route),
                ],
            )
        })
        .unwrap_or(Some(RateLimitKey::ClientIp));
    let max_keys: Option<usize> = r.integer_in("max_keys", 1..=10_000_000, p);
    r.finish(p);
    let requests_per_second = rate?;
    Some(RateLimit {
        requests_per_second,
        burst: burst.unwrap_or(requests_per_second),
        key: key?,
        max_keys: max_keys.unwrap_or(defaults::RATE_LIMIT_MAX_KEYS),
    })
}
