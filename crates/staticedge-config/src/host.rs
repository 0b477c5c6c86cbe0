//! Host patterns as routes and certificates write them: exact names, `*.suffix`
//! wildcards and the lone `*` catch-all. One module so that both parse names the
//! same way and so that the one difference between them is written down here:
//!
//! - a **route** `*.example.com` matches one *or more* labels in front
//!   (`a.example.com`, `a.b.example.com`): [`HostPattern::matches`];
//! - a **certificate** name `*.example.com` covers exactly *one* label
//!   (`a.example.com` only), as TLS clients check it (RFC 6125):
//!   [`HostPattern::covers_as_certificate`].
//!
//! Neither matches `example.com` itself. `docs/configuration.md` says the same for
//! operators.

use std::fmt;

/// One pattern a request's Host (or a TLS SNI name) is matched against.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostPattern {
    /// Exactly this name (stored lowercase, without a trailing dot).
    Exact(String),
    /// `*.suffix`, stored as the suffix (`*.example.com` as `example.com`). How many
    /// labels it stands for depends on who asks: see the module documentation.
    Wildcard(String),
    /// `*`: used only when no other pattern matches.
    Any,
}

impl HostPattern {
    /// Parses a pattern from the configuration; the error says what is wrong.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let lower = raw.trim().to_ascii_lowercase();
        // One trailing dot (a fully qualified name) is dropped; "*." is not "*".
        let s = match lower.strip_suffix('.') {
            Some(rest) if !rest.ends_with('*') => rest.to_string(),
            _ => lower,
        };
        if s == "*" {
            return Ok(HostPattern::Any);
        }
        let (wild, name) = match s.strip_prefix("*.") {
            Some(rest) => (true, rest.to_string()),
            None => (false, s.clone()),
        };
        if name.is_empty() {
            return Err(format!("host pattern {raw:?} is empty"));
        }
        if name.contains('*') {
            return Err(format!(
                "host pattern {raw:?}: '*' is only allowed alone or as the whole first label (\"*.example.com\")"
            ));
        }
        if name.contains(':') || name.contains('/') {
            return Err(format!(
                "host pattern {raw:?} must be a name without port or path"
            ));
        }
        if !name.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }) {
            return Err(format!("host pattern {raw:?} is not a valid DNS name"));
        }
        Ok(if wild {
            HostPattern::Wildcard(name)
        } else {
            HostPattern::Exact(name)
        })
    }

    /// Route meaning: true when `host` (already normalized with [`normalize_host`])
    /// matches; a wildcard stands for one or more labels.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(name) => host == name,
            HostPattern::Wildcard(suffix) => wildcard_matches(suffix, host),
            HostPattern::Any => true,
        }
    }

    /// Certificate meaning: true when a certificate name written as this pattern
    /// covers `name` (normalized); a wildcard stands for exactly one label, and `*`
    /// alone covers nothing (TLS clients refuse it).
    pub fn covers_as_certificate(&self, name: &str) -> bool {
        match self {
            HostPattern::Exact(n) => name == n,
            HostPattern::Wildcard(suffix) => certificate_wildcard_matches(suffix, name),
            HostPattern::Any => false,
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(n) => f.write_str(n),
            HostPattern::Wildcard(s) => write!(f, "*.{s}"),
            HostPattern::Any => f.write_str("*"),
        }
    }
}

/// Route wildcards: true when `host` has one or more labels in front of `suffix`.
pub fn wildcard_matches(suffix: &str, host: &str) -> bool {
    host.strip_suffix(suffix)
        .is_some_and(|front| front.len() > 1 && front.ends_with('.'))
}

/// Certificate wildcards: true when `name` is exactly one label in front of `suffix`.
pub fn certificate_wildcard_matches(suffix: &str, name: &str) -> bool {
    name.split_once('.')
        .is_some_and(|(label, parent)| !label.is_empty() && parent == suffix)
}

/// Lowercases a Host header value and strips its port and trailing dot, so that
/// `API.Example.com.:443` and `api.example.com` route the same way. Borrows when the
/// value is already in that form (the common case), so routing allocates nothing.
pub fn normalize_host(raw: &str) -> std::borrow::Cow<'_, str> {
    let raw = raw.trim();
    let without_port = if let Some(rest) = raw.strip_prefix('[') {
        // IPv6 literal: [::1]:443
        rest.split(']').next().unwrap_or(rest)
    } else {
        match raw.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => raw,
        }
    };
    let name = without_port.trim_end_matches('.');
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(name.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_parse_or_are_rejected() {
        let good = [
            (
                "api.example.com",
                HostPattern::Exact("api.example.com".into()),
            ),
            (
                "API.Example.COM.",
                HostPattern::Exact("api.example.com".into()),
            ),
            ("*.example.com", HostPattern::Wildcard("example.com".into())),
            ("*", HostPattern::Any),
        ];
        for (raw, want) in good {
            assert_eq!(HostPattern::parse(raw), Ok(want), "{raw}");
        }
        for bad in [
            "",
            "*.",
            "a.*.com",
            "api*.example.com",
            "a..b",
            "a.com:443",
            "a.com/x",
        ] {
            assert!(
                HostPattern::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn route_wildcards_match_any_depth_certificate_wildcards_one_label() {
        let w = HostPattern::parse("*.example.com").expect("pattern");
        // (name, as a route, as a certificate name)
        let cases = [
            ("a.example.com", true, true),
            ("a.b.example.com", true, false),
            ("x.y.z.example.com", true, false),
            ("example.com", false, false),
            ("badexample.com", false, false),
            (".example.com", false, false),
            ("a.example.org", false, false),
        ];
        for (name, route, certificate) in cases {
            assert_eq!(w.matches(name), route, "route *.example.com vs {name}");
            assert_eq!(
                w.covers_as_certificate(name),
                certificate,
                "certificate *.example.com vs {name}"
            );
        }
        let exact = HostPattern::parse("api.example.com").expect("pattern");
        assert!(exact.matches("api.example.com") && exact.covers_as_certificate("api.example.com"));
        assert!(!exact.covers_as_certificate("a.api.example.com"));
        assert!(HostPattern::Any.matches("anything.test"));
        assert!(!HostPattern::Any.covers_as_certificate("anything.test"));
    }

    #[test]
    fn hosts_normalize() {
        let cases = [
            ("API.example.com:443", "api.example.com"),
            ("api.example.com.", "api.example.com"),
            ("api.example.com", "api.example.com"),
            ("[::1]:8443", "::1"),
            ("127.0.0.1:80", "127.0.0.1"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_host(raw), want, "{raw}");
        }
    }
}
