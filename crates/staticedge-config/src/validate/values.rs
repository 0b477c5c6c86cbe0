//! Value kinds that several sections share: a word from a fixed set, a socket
//! address, a duration that must be above zero.

use crate::file::{nearest, quoted_list, Problems};
use std::net::SocketAddr;
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

/// An `IP:port` socket address (IPv6 in brackets).
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
                format!("{name}: invalid socket address {raw:?} ({e}); write IP:port, like \"0.0.0.0:443\" or \"[::]:443\""),
            );
            None
        }
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
