//! Host patterns as routes and certificates write them: exact names, `*.suffix`
//! wildcards and the lone `*` catch-all. One module so that the route table and the
//! certificate store agree on what "matches" means.

use std::fmt;

/// One pattern a request's Host (or a TLS SNI name) is matched against.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostPattern {
    /// Exactly this name (stored lowercase, without a trailing dot).
    Exact(String),
    /// Any name with at least one more label in front of this suffix: `*.example.com`
    /// is stored as `example.com` and matches `a.example.com` and `a.b.example.com`,
    /// not `example.com` itself.
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

    /// True when `host` (already normalized with [`normalize_host`]) matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(name) => host == name,
            HostPattern::Wildcard(suffix) => wildcard_matches(suffix, host),
            HostPattern::Any => true,
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

/// True when `host` has at least one label in front of `suffix` (`*.suffix`).
pub fn wildcard_matches(suffix: &str, host: &str) -> bool {
    host.strip_suffix(suffix)
        .is_some_and(|front| front.len() > 1 && front.ends_with('.'))
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
    fn wildcards_need_one_more_label() {
        let w = HostPattern::parse("*.example.com").unwrap();
        assert!(w.matches("a.example.com"));
        assert!(w.matches("a.b.example.com"));
        assert!(!w.matches("example.com"));
        assert!(!w.matches("badexample.com"));
        assert!(!w.matches(".example.com"));
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
