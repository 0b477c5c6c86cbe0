//! From the file format to the model: fills in defaults and collects every problem.

use crate::error::{ConfigError, ConfigErrors, Location};
use crate::file::{self, FileConfig, MinVersion};
use crate::host::HostPattern;
use crate::model::*;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// Collects errors against one file's text.
struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
    errors: ConfigErrors,
}

impl Checker<'_> {
    fn at(&self, span: std::ops::Range<usize>) -> Location {
        Location::from_offset(self.text, span.start)
    }

    fn error(&mut self, span: std::ops::Range<usize>, message: impl Into<String>) {
        let location = self.at(span);
        self.errors
            .push(ConfigError::new(self.path, location, message));
    }

    fn error_at<T>(&mut self, value: &Spanned<T>, message: impl Into<String>) {
        self.error(value.span(), message)
    }

    /// Relative paths in the file are relative to the file's directory.
    fn resolve_path(&self, raw: &str) -> PathBuf {
        let p = PathBuf::from(raw);
        if p.is_absolute() {
            p
        } else {
            self.path.parent().unwrap_or(Path::new(".")).join(p)
        }
    }
}

pub(crate) fn parse_and_check(
    path: &Path,
    text: &str,
) -> Result<(Config, ConfigErrors), ConfigErrors> {
    let raw: FileConfig = toml::from_str(text).map_err(|e| {
        let location = e
            .span()
            .map(|s| Location::from_offset(text, s.start))
            .unwrap_or(Location { line: 1, col: 1 });
        ConfigErrors::from(ConfigError::new(path, location, e.message().trim()))
    })?;
    let mut c = Checker {
        path,
        text,
        errors: ConfigErrors::default(),
    };
    let config = build(&mut c, raw);
    Ok((config, c.errors.sorted()))
}

fn dur(d: Option<crate::duration::HumanDuration>, default: Duration) -> Duration {
    d.map(|d| d.0).unwrap_or(default)
}

fn build(c: &mut Checker<'_>, raw: FileConfig) -> Config {
    let source = ConfigSource {
        path: c.path.to_path_buf(),
        sha256: hex(&Sha256::digest(c.text.as_bytes())),
    };
    let server = server(c, raw.server);
    let admin = AdminSettings {
        listen: raw.admin.listen.unwrap_or_else(|| {
            defaults::ADMIN_LISTEN
                .parse()
                .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 9901)))
        }),
    };
    let tls = tls(c, raw.tls);
    let listeners = listeners(c, raw.listener, &admin, &tls);
    let upstreams = upstreams(c, raw.upstream);
    let routes = routes(c, raw.route, &upstreams);
    let limits = limits(c, raw.limits);
    Config {
        source,
        server,
        admin,
        tls,
        listeners,
        routes,
        upstreams,
        limits,
    }
}

fn count(
    c: &mut Checker<'_>,
    v: Option<Spanned<i64>>,
    key: &str,
    range: std::ops::RangeInclusive<i64>,
    default: i64,
) -> i64 {
    match v {
        None => default,
        Some(n) if range.contains(n.get_ref()) => *n.get_ref(),
        Some(n) => {
            c.error_at(
                &n,
                format!(
                    "limits.{key} must be between {} and {}",
                    range.start(),
                    range.end()
                ),
            );
            default
        }
    }
}

fn positive(
    c: &mut Checker<'_>,
    v: Option<Spanned<crate::duration::HumanDuration>>,
    key: &str,
    default: Duration,
) -> Duration {
    match v {
        None => default,
        Some(d) if !d.get_ref().0.is_zero() => d.get_ref().0,
        Some(d) => {
            c.error_at(&d, format!("limits.{key} must be above 0"));
            default
        }
    }
}

fn limits(c: &mut Checker<'_>, l: file::LimitsSection) -> Limits {
    Limits {
        max_request_body_bytes: count(
            c,
            l.max_request_body_bytes,
            "max_request_body_bytes",
            0..=i64::MAX,
            defaults::MAX_REQUEST_BODY_BYTES as i64,
        ) as u64,
        header_timeout: positive(
            c,
            l.header_timeout,
            "header_timeout",
            defaults::HEADER_TIMEOUT,
        ),
        handshake_timeout: positive(
            c,
            l.handshake_timeout,
            "handshake_timeout",
            defaults::HANDSHAKE_TIMEOUT,
        ),
        max_connections: count(
            c,
            l.max_connections,
            "max_connections",
            0..=10_000_000,
            defaults::MAX_CONNECTIONS as i64,
        ) as usize,
        max_connections_per_ip: count(
            c,
            l.max_connections_per_ip,
            "max_connections_per_ip",
            0..=10_000_000,
            defaults::MAX_CONNECTIONS_PER_IP as i64,
        ) as usize,
        h2_max_concurrent_streams: count(
            c,
            l.h2_max_concurrent_streams,
            "h2_max_concurrent_streams",
            1..=10_000,
            defaults::H2_MAX_CONCURRENT_STREAMS as i64,
        ) as u32,
    }
}

fn server(c: &mut Checker<'_>, s: file::ServerSection) -> ServerSettings {
    let threads = match s.threads {
        None => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        Some(t) if *t.get_ref() >= 1 && *t.get_ref() <= 1024 => *t.get_ref() as usize,
        Some(t) => {
            c.error_at(&t, "server.threads must be between 1 and 1024");
            1
        }
    };
    let keepalive_timeout = match s.keepalive_timeout {
        None => defaults::KEEPALIVE_TIMEOUT,
        Some(k) => {
            let d = k.get_ref().0;
            if d.is_zero() || d >= defaults::NLB_IDLE_TIMEOUT {
                c.error_at(
                    &k,
                    "server.keepalive_timeout must be above 0 and below the NLB's 350s idle timeout",
                );
            }
            d
        }
    };
    let access_log = match s.access_log.as_deref() {
        None | Some("stdout") => AccessLog::Stdout,
        Some("off") => AccessLog::Off,
        Some(p) => AccessLog::File(c.resolve_path(p)),
    };
    ServerSettings {
        threads,
        grace_period: dur(s.grace_period, defaults::GRACE_PERIOD),
        drain_timeout: dur(s.drain_timeout, defaults::DRAIN_TIMEOUT),
        access_log,
        keepalive_timeout,
    }
}

fn tls(c: &mut Checker<'_>, t: file::TlsSection) -> TlsSettings {
    let alpn = match t.alpn {
        None => vec![Alpn::H2, Alpn::Http11],
        Some(list) => {
            let mut out = Vec::new();
            for a in list {
                match a.get_ref().as_str() {
                    "h2" => out.push(Alpn::H2),
                    "http/1.1" => out.push(Alpn::Http11),
                    other => c.error_at(
                        &a,
                        format!("tls.alpn: unknown protocol {other:?}; use \"h2\" or \"http/1.1\""),
                    ),
                }
            }
            out
        }
    };
    let mut certificates = Vec::new();
    for entry in t.certificate {
        let e = entry.into_inner();
        let cert = c.resolve_path(e.cert.get_ref());
        let key = c.resolve_path(e.key.get_ref());
        certificates.push(CertificateFiles {
            cert,
            cert_at: c.at(e.cert.span()),
            key,
            key_at: c.at(e.key.span()),
        });
    }
    TlsSettings {
        min_version: t.min_version.unwrap_or(MinVersion::Tls12),
        alpn,
        certificates,
    }
}

fn listeners(
    c: &mut Checker<'_>,
    raw: Vec<Spanned<file::ListenerSection>>,
    admin: &AdminSettings,
    tls: &TlsSettings,
) -> Vec<Listener> {
    if raw.is_empty() {
        c.error(0..0, "no [[listener]]: at least one is needed");
    }
    let mut out: Vec<Listener> = Vec::new();
    for l in raw {
        let span = l.span();
        let l = l.into_inner();
        let listen = *l.listen.get_ref();
        let is_tls = l.tls.unwrap_or(true);
        let redirect_https = l.redirect_https.unwrap_or(false);
        if redirect_https && is_tls {
            c.error(span.clone(), "listener: redirect_https needs tls = false");
        }
        let proxy_protocol = l.proxy_protocol.unwrap_or_default();
        if proxy_protocol != ProxyProtocolMode::Off && !is_tls {
            c.error(
                span.clone(),
                "listener: proxy_protocol is only supported on TLS listeners",
            );
        }
        if out.iter().any(|o| o.listen == listen) || listen == admin.listen {
            c.error_at(
                &l.listen,
                format!("listener.listen: {listen} is used twice (listeners and admin.listen must differ)"),
            );
        }
        if is_tls && tls.certificates.is_empty() {
            c.error_at(
                &l.listen,
                "a TLS listener needs at least one [[tls.certificate]]",
            );
        }
        out.push(Listener {
            listen,
            tls: is_tls,
            redirect_https,
            proxy_protocol,
        });
    }
    out
}

fn upstreams(
    c: &mut Checker<'_>,
    raw: BTreeMap<String, Spanned<file::UpstreamSection>>,
) -> BTreeMap<String, Upstream> {
    let mut out = BTreeMap::new();
    for (name, section) in raw {
        let u = section.into_inner();
        let address = match parse_upstream_address(u.address.get_ref()) {
            Ok(a) => a,
            Err(msg) => {
                c.error_at(&u.address, format!("upstream.{name}.address: {msg}"));
                UpstreamAddress::Ip(SocketAddr::from(([127, 0, 0, 1], 80)))
            }
        };
        let retries = match u.retries {
            None => defaults::RETRIES,
            Some(r) if (0..=10).contains(r.get_ref()) => *r.get_ref() as u32,
            Some(r) => {
                c.error_at(
                    &r,
                    format!("upstream.{name}.retries must be between 0 and 10"),
                );
                0
            }
        };
        let dns = match u.dns {
            None => dns_settings(c, &name, file::DnsSection::default(), 0..0),
            Some(d) => {
                let span = d.span();
                dns_settings(c, &name, d.into_inner(), span)
            }
        };
        let probe = u.probe.map(|p| probe(c, &name, p.into_inner()));
        for (key, value) in [
            ("connect_timeout", &u.connect_timeout),
            ("read_timeout", &u.read_timeout),
        ] {
            if value.is_some_and(|d| d.0.is_zero()) {
                c.error_at(&u.address, format!("upstream.{name}.{key} must be above 0"));
            }
        }
        let upstream = Upstream {
            name: name.clone(),
            address,
            address_at: c.at(u.address.span()),
            tls: u.tls.unwrap_or(false),
            connect_timeout: dur(u.connect_timeout, defaults::CONNECT_TIMEOUT),
            read_timeout: dur(u.read_timeout, defaults::READ_TIMEOUT),
            idle_timeout: dur(u.idle_timeout, defaults::IDLE_TIMEOUT),
            retries,
            dns,
            probe,
        };
        out.insert(name, upstream);
    }
    out
}

/// `name:port` or `IP:port` (`[v6]:port`); the port is required.
pub(crate) fn parse_upstream_address(raw: &str) -> Result<UpstreamAddress, String> {
    if let Ok(addr) = raw.parse::<SocketAddr>() {
        return Ok(UpstreamAddress::Ip(addr));
    }
    let Some((host, port)) = raw.rsplit_once(':') else {
        return Err(format!("{raw:?} needs a port, like \"{raw}:80\""));
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{raw:?}: port {port:?} is not a number from 1 to 65535"))?;
    if port == 0 {
        return Err(format!("{raw:?}: port 0 is not allowed"));
    }
    if host.parse::<IpAddr>().is_ok() || host.starts_with('[') {
        return Err(format!("{raw:?} is not a valid IP:port"));
    }
    match HostPattern::parse(host) {
        Ok(HostPattern::Exact(name)) => Ok(UpstreamAddress::Name { host: name, port }),
        _ => Err(format!("{raw:?}: {host:?} is not a valid DNS name")),
    }
}

fn dns_settings(
    c: &mut Checker<'_>,
    name: &str,
    d: file::DnsSection,
    span: std::ops::Range<usize>,
) -> DnsSettings {
    let min_ttl = dur(d.min_ttl, defaults::MIN_TTL);
    if min_ttl < Duration::from_millis(100) {
        c.error(
            span.clone(),
            format!("upstream.{name}.dns.min_ttl must be at least 100ms (a TTL of 0 would look the name up in a loop)"),
        );
    }
    let max_ttl = dur(d.max_ttl, defaults::MAX_TTL);
    if min_ttl > max_ttl {
        c.error(
            span,
            format!("upstream.{name}.dns: min_ttl ({min_ttl:?}) is above max_ttl ({max_ttl:?})"),
        );
    }
    let mut nameservers = Vec::new();
    for ns in d.nameservers {
        let raw = ns.get_ref().trim();
        let parsed = raw
            .parse::<SocketAddr>()
            .or_else(|_| raw.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)));
        match parsed {
            Ok(a) => nameservers.push(a),
            Err(_) => c.error_at(
                &ns,
                format!("upstream.{name}.dns.nameservers: {raw:?} is not \"IP\" or \"IP:port\""),
            ),
        }
    }
    DnsSettings {
        min_ttl,
        max_ttl,
        serve_stale_for: dur(d.serve_stale_for, defaults::SERVE_STALE_FOR),
        nameservers,
    }
}

fn probe(c: &mut Checker<'_>, name: &str, p: file::ProbeSection) -> Probe {
    let path = match p.path {
        None => "/".to_string(),
        Some(s) => {
            if !s.get_ref().starts_with('/') {
                c.error_at(
                    &s,
                    format!("upstream.{name}.probe.path must start with '/'"),
                );
            }
            s.into_inner()
        }
    };
    let mut expect_status = Vec::new();
    for s in p.expect_status.unwrap_or_default() {
        match u16::try_from(*s.get_ref()) {
            Ok(code) if (100..=599).contains(&code) => expect_status.push(code),
            _ => c.error_at(
                &s,
                format!(
                    "upstream.{name}.probe.expect_status: {} is not an HTTP status",
                    s.get_ref()
                ),
            ),
        }
    }
    if expect_status.is_empty() {
        expect_status.push(200);
    }
    Probe {
        path,
        host: p.host,
        expect_status,
        interval: dur(p.interval, defaults::PROBE_INTERVAL),
    }
}

fn routes(
    c: &mut Checker<'_>,
    raw: Vec<Spanned<file::RouteSection>>,
    upstreams: &BTreeMap<String, Upstream>,
) -> Vec<Route> {
    let mut out = Vec::new();
    let mut seen: HashMap<(HostPattern, String), Location> = HashMap::new();
    for r in raw {
        let r = r.into_inner();
        let mut hosts = Vec::new();
        if r.hosts.is_empty() {
            c.error_at(
                &r.upstream,
                "route.hosts is empty: list at least one host or \"*\"",
            );
        }
        let path_prefix = match &r.path_prefix {
            None => "/".to_string(),
            Some(p) => {
                if !p.get_ref().starts_with('/') {
                    c.error_at(p, "route.path_prefix must start with '/'");
                }
                p.get_ref().clone()
            }
        };
        for h in &r.hosts {
            match HostPattern::parse(h.get_ref()) {
                Ok(pattern) => {
                    let here = c.at(h.span());
                    let key = (pattern.clone(), path_prefix.clone());
                    if let Some(first) = seen.get(&key) {
                        c.error_at(
                            h,
                            format!(
                                "route: host {pattern} with path_prefix {path_prefix:?} is already routed at line {}",
                                first.line
                            ),
                        );
                    } else {
                        seen.insert(key, here);
                    }
                    hosts.push(pattern);
                }
                Err(msg) => c.error_at(h, format!("route.hosts: {msg}")),
            }
        }
        if !upstreams.contains_key(r.upstream.get_ref()) {
            let known: Vec<&str> = upstreams.keys().map(String::as_str).collect();
            c.error_at(
                &r.upstream,
                format!(
                    "route.upstream: no [upstream.{}] is defined (defined: {})",
                    r.upstream.get_ref(),
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
        let host_header = match r.host_header.as_deref() {
            None | Some("preserve") => HostHeader::Preserve,
            Some("upstream") => HostHeader::Upstream,
            Some(literal) => HostHeader::Literal(literal.to_string()),
        };
        out.push(Route {
            hosts,
            path_prefix,
            upstream: r.upstream.into_inner(),
            host_header,
            allow_cidrs: r.allow_cidrs,
        });
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
