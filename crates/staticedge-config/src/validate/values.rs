//! Value kinds that several sections share: a word from a fixed set, a socket
//! address, a duration that must be above zero.

use crate::file::{nearest, quoted_list, Problems};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use toml::Spanned;

/// The value paired with `value` in `options`, or a problem naming the choices (and
/// the nearest one when `value` looks like a typo of it).
pub(super) fn one_of<T: Copy>(
    p: &mut Problems<'_>,
    value: &Spanned<String>,
    name: &str,
    options: &[(&'static str, T)],
) -> Option<T> {
    let raw = value.get_ref().as_str();
    if let Some((_, v)) = options.iter().find(|(word, _)| *word == raw) {
        return Some(*v);
    }
    let words: Vec<&str> = options.iter().map(|(w, _)| *w).collect();
    let hint = match nearest(raw, &words) {
        Some(near) => format!("did you mean `{near}`?"),
        None => format!("expected one of {}", quoted_list(&words)),
    };
    p.add(
        &value.span(),
        format!("{name}: unknown value `{raw}`; {hint}"),
    );
    None
}

/// An `IP:port` socket address (IPv6 in brackets). The message says what to write
/// for the usual slips: IPv6 without brackets, a missing port, a host name.
pub(super) fn socket_addr(
    p: &mut Problems<'_>,
    value: &Spanned<String>,
    name: &str,
) -> Option<SocketAddr> {
    let raw = value.get_ref().trim();
    match raw.parse::<SocketAddr>() {
        Ok(addr) => Some(addr),
        Err(e) => {
            p.add(
                &value.span(),
                format!(
                    "{name}: invalid socket address {raw:?} ({e}); {}",
                    socket_addr_hint(raw)
                ),
            );
            None
        }
    }
}

/// What to write instead of `raw`, which is not an `IP:port`.
fn socket_addr_hint(raw: &str) -> String {
    if !raw.starts_with('[') {
        if let Some((host, port)) = raw.rsplit_once(':') {
            if host.parse::<Ipv6Addr>().is_ok() && port.parse::<u16>().is_ok() {
                return format!("an IPv6 address needs brackets: write \"[{host}]:{port}\"");
            }
            if host.parse::<IpAddr>().is_err() && port.parse::<u16>().is_ok() {
                return format!("host names are not accepted here: write an IP address, like \"0.0.0.0:{port}\"");
            }
        }
    }
    match raw
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(IpAddr::V4(ip)) => format!("the port is missing: write \"{ip}:443\""),
        Ok(IpAddr::V6(ip)) => format!("the port is missing: write \"[{ip}]:443\""),
        Err(_) => "write IP:port, like \"0.0.0.0:443\" or \"[::]:443\"".to_string(),
    }
}

/// `value` when it is above zero, `default` when absent; zero is reported.
pub(super) fn positive(
    p: &mut Problems<'_>,
    value: Option<Spanned<Duration>>,
    name: &str,
    default: Duration,
) -> Duration {
    match value {
        None => default,
        Some(d) if !d.get_ref().is_zero() => *d.get_ref(),
        Some(d) => {
            p.add(&d.span(), format!("{name} must be above 0"));
            default
        }
    }
}

/// `value` or `default` when absent.
pub(super) fn or_default(value: Option<Spanned<Duration>>, default: Duration) -> Duration {
    value.map(|d| *d.get_ref()).unwrap_or(default)
}
