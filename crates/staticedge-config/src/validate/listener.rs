//! `[[listener]]`: the addresses clients connect to.

use super::values::{one_of, socket_addr};
use crate::file::{Problems, Table};
use crate::model::*;

/// Every `[[listener]]`.
pub(super) fn listeners(
    p: &mut Problems<'_>,
    tables: Vec<Table<'_>>,
    admin: &AdminSettings,
    tls: &TlsSettings,
) -> Vec<Listener> {
    let mut out: Vec<Listener> = Vec::new();
    for t in tables {
        if let Some(l) = listener(p, t, &out, admin, tls) {
            out.push(l);
        }
    }
    out
}

/// One listener, checked against those before it and the admin port.
fn listener(
    p: &mut Problems<'_>,
    mut t: Table<'_>,
    earlier: &[Listener],
    admin: &AdminSettings,
    tls: &TlsSettings,
) -> Option<Listener> {
    let listen_value = t.required_string("listen", p);
    let is_tls = t.boolean("tls", p).unwrap_or(true);
    let redirect_at = t.span().clone();
    let redirect_https = t.boolean("redirect_https", p).unwrap_or(false);
    if redirect_https && is_tls {
        p.add(&redirect_at, "listener: redirect_https needs tls = false");
    }
    let proxy_protocol = proxy_protocol(p, &mut t, is_tls);
    t.finish(p);
    let listen_value = listen_value?;
    let listen = socket_addr(p, &listen_value, "listener.listen")?;
    if earlier.iter().any(|o| o.listen == listen) || listen == admin.listen {
        p.add(
            &listen_value.span(),
            format!(
                "listener.listen: {listen} is used twice (listeners and admin.listen must differ)"
            ),
        );
    }
    if is_tls && tls.certificates.is_empty() {
        p.add(
            &listen_value.span(),
            "a TLS listener needs at least one [[tls.certificate]]",
        );
    }
    Some(Listener {
        listen,
        tls: is_tls,
        redirect_https,
        proxy_protocol,
    })
}

/// `proxy_protocol`: only TLS listeners read a PROXY header.
fn proxy_protocol(p: &mut Problems<'_>, t: &mut Table<'_>, is_tls: bool) -> ProxyProtocolMode {
    let Some(value) = t.string("proxy_protocol", p) else {
        return ProxyProtocolMode::Off;
    };
    let mode = one_of(
        p,
        &value,
        "listener.proxy_protocol",
        &[
            ("off", ProxyProtocolMode::Off),
            ("optional", ProxyProtocolMode::Optional),
            ("required", ProxyProtocolMode::Required),
        ],
    )
    .unwrap_or_default();
    if mode != ProxyProtocolMode::Off && !is_tls {
        p.add(
            &value.span(),
            "listener: proxy_protocol is only supported on TLS listeners",
        );
    }
    mode
}
