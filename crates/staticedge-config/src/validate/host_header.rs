//! `route.host_header`: the Host the upstream receives. Three meanings that must not
//! be confused: the keyword `"preserve"`, the keyword `"upstream"`, or a literal
//! Host. A literal written as a plain string must be a host name with a dot (or an IP
//! address), optionally with a port, so that a typo of a keyword (`"upsteam"`,
//! `"Preserve"`) is an error with a suggestion, never a Host sent to the application.
//! A name without a dot is written as a table: `{ literal = "backend" }`.

use crate::file::{nearest, Problems, StringOrTable, Table};
use crate::host::HostPattern;
use crate::model::HostHeader;
use std::net::{IpAddr, Ipv6Addr};
use toml::Spanned;

const KEYWORDS: [&str; 2] = ["preserve", "upstream"];

/// Reads `host_header` from a route table; `"preserve"` when absent.
pub(super) fn host_header(p: &mut Problems<'_>, t: &mut Table<'_>) -> HostHeader {
    match t.string_or_table("host_header", p) {
        None => HostHeader::Preserve,
        Some(StringOrTable::String(s)) => keyword_or_literal(p, &s).unwrap_or(HostHeader::Preserve),
        Some(StringOrTable::Table(mut table)) => {
            let literal = table.required_string("literal", p);
            table.finish(p);
            literal
                .and_then(|l| checked_literal(p, &l, false))
                .unwrap_or(HostHeader::Preserve)
        }
    }
}

/// A keyword, or a literal that cannot be a typo of one.
fn keyword_or_literal(p: &mut Problems<'_>, value: &Spanned<String>) -> Option<HostHeader> {
    let raw = value.get_ref();
    match raw.as_str() {
        "preserve" => return Some(HostHeader::Preserve),
        "upstream" => return Some(HostHeader::Upstream),
        _ => {}
    }
    if let Some(keyword) = nearest(raw, &KEYWORDS) {
        p.add(
            &value.span(),
            format!("route.host_header: unknown value {raw:?}; did you mean \"{keyword}\"? (keywords are lowercase: \"preserve\" or \"upstream\"; a literal Host must be a name with a dot)"),
        );
        return None;
    }
    checked_literal(p, value, true)
}

/// A literal Host value, reported at `value` when it is not a valid `host[:port]`.
fn checked_literal(
    p: &mut Problems<'_>,
    value: &Spanned<String>,
    need_dot: bool,
) -> Option<HostHeader> {
    let raw = value.get_ref();
    let problem = match literal_problem(raw) {
        Some(problem) => Some(problem),
        None if need_dot && !host_has_dot_or_is_ip(raw) => Some(format!(
            "{raw:?} is neither \"preserve\", \"upstream\" nor a host name with a dot; for a name without a dot write host_header = {{ literal = {raw:?} }}"
        )),
        None => None,
    };
    match problem {
        Some(problem) => {
            p.add(&value.span(), format!("route.host_header: {problem}"));
            None
        }
        None => Some(HostHeader::Literal(raw.clone())),
    }
}

/// Why `raw` cannot be sent as a Host header, if it cannot.
pub(crate) fn literal_problem(raw: &str) -> Option<String> {
    if raw.is_empty() {
        return Some("the Host value is empty; write a host name like \"app.example.com\"".into());
    }
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Some(format!(
            "{raw:?} contains a space, line break or control character, which a Host header cannot carry"
        ));
    }
    if let Some((scheme, rest)) = raw.split_once("://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        return Some(format!(
            "{raw:?} is a URL ({scheme}://...); write only the host, like \"{host}\""
        ));
    }
    if raw.contains(['/', '?', '#', '@']) {
        return Some(format!("{raw:?} must be host or host:port, without a path"));
    }
    let (host, port) = split_port(raw);
    if let Some(port) = port {
        if !port.parse::<u16>().is_ok_and(|n| n > 0) {
            return Some(format!(
                "{raw:?}: port {port:?} is not a number from 1 to 65535"
            ));
        }
    }
    let valid_host = host.parse::<IpAddr>().is_ok()
        || matches!(HostPattern::parse(host), Ok(HostPattern::Exact(_)));
    (!valid_host).then(|| format!("{raw:?} is not a valid host name or IP address"))
}

/// `host` and `port` of `host[:port]`; `[v6]` keeps its brackets off.
fn split_port(raw: &str) -> (&str, Option<&str>) {
    if let Some(rest) = raw.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((v6, after)) if v6.parse::<Ipv6Addr>().is_ok() => (
                v6,
                after
                    .strip_prefix(':')
                    .or((!after.is_empty()).then_some(after)),
            ),
            _ => (raw, None),
        };
    }
    match raw.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (raw, None),
    }
}

fn host_has_dot_or_is_ip(raw: &str) -> bool {
    let (host, _) = split_port(raw);
    let host = host.trim_end_matches('.');
    host.parse::<IpAddr>().is_ok() || host.contains('.')
}

#[cfg(test)]
mod tests {
    use super::literal_problem;

    #[test]
    fn literal_hosts_are_host_and_optional_port() {
        for good in [
            "app.example.com",
            "app.example.com:8080",
            "10.0.0.5",
            "[2001:db8::1]:443",
            "backend",
        ] {
            assert_eq!(literal_problem(good), None, "{good}");
        }
        let bad = [
            ("", "empty"),
            ("app.example.com\r\nX-Evil: 1", "line break"),
            ("a b.example.com", "space"),
            (
                "https://app.example.com/x",
                "write only the host, like \"app.example.com\"",
            ),
            ("app.example.com/x", "without a path"),
            ("app.example.com:0", "port"),
            ("app.example.com:http", "port"),
            ("*.example.com", "not a valid host name"),
            ("[::1", "not a valid host name"),
        ];
        for (raw, want) in bad {
            let problem = literal_problem(raw).unwrap_or_default();
            assert!(problem.contains(want), "{raw:?}: {problem:?}");
        }
    }
}
