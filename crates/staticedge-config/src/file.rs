//! The TOML file format, exactly as operators write it (PRODUCT.md section 4).
//!
//! Every table denies unknown keys so a typo is an error, not a silently ignored
//! setting. Values that later checks must point back at are wrapped in
//! [`Spanned`] to keep their position in the file.

use crate::duration::HumanDuration;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub admin: AdminSection,
    #[serde(default)]
    pub tls: TlsSection,
    #[serde(default)]
    pub listener: Vec<Spanned<ListenerSection>>,
    #[serde(default)]
    pub route: Vec<Spanned<RouteSection>>,
    #[serde(default)]
    pub upstream: BTreeMap<String, Spanned<UpstreamSection>>,
    #[serde(default)]
    pub limits: LimitsSection,
}

/// `[limits]`: protection against slow, oversized and too many clients.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    pub max_request_body_bytes: Option<Spanned<i64>>,
    pub header_timeout: Option<Spanned<HumanDuration>>,
    pub handshake_timeout: Option<Spanned<HumanDuration>>,
    pub max_connections: Option<Spanned<i64>>,
    pub max_connections_per_ip: Option<Spanned<i64>>,
    pub h2_max_concurrent_streams: Option<Spanned<i64>>,
}

/// `[server]`: process-wide settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub threads: Option<Spanned<i64>>,
    pub grace_period: Option<HumanDuration>,
    pub drain_timeout: Option<HumanDuration>,
    pub access_log: Option<String>,
    pub keepalive_timeout: Option<Spanned<HumanDuration>>,
}

/// `[admin]`: the health and metrics port.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    pub listen: Option<std::net::SocketAddr>,
}

/// `[tls]`: protocol settings and the certificates.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub min_version: Option<MinVersion>,
    pub alpn: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub certificate: Vec<Spanned<CertificateSection>>,
}

/// Lowest TLS version a client may negotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum MinVersion {
    #[serde(rename = "1.2")]
    Tls12,
    #[serde(rename = "1.3")]
    Tls13,
}

/// `[[tls.certificate]]`: one certificate chain and its key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateSection {
    pub cert: Spanned<String>,
    pub key: Spanned<String>,
}

/// `[[listener]]`: one address clients connect to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerSection {
    pub listen: Spanned<std::net::SocketAddr>,
    pub tls: Option<bool>,
    pub redirect_https: Option<bool>,
    pub proxy_protocol: Option<ProxyProtocolMode>,
}

/// Whether a PROXY protocol v2 header precedes the TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ProxyProtocolMode {
    /// No header is expected (the default).
    #[default]
    Off,
    /// A header is used when present.
    Optional,
    /// A connection without a header is closed.
    Required,
}

/// `[[route]]`: which requests go to which upstream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    pub hosts: Vec<Spanned<String>>,
    pub path_prefix: Option<Spanned<String>>,
    pub upstream: Spanned<String>,
    pub host_header: Option<String>,
    #[serde(default)]
    pub allow_cidrs: Vec<ipnet::IpNet>,
}

/// `[upstream.NAME]`: where the application is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSection {
    pub address: Spanned<String>,
    pub tls: Option<bool>,
    pub connect_timeout: Option<HumanDuration>,
    pub read_timeout: Option<HumanDuration>,
    pub idle_timeout: Option<HumanDuration>,
    pub retries: Option<Spanned<i64>>,
    pub dns: Option<Spanned<DnsSection>>,
    pub probe: Option<Spanned<ProbeSection>>,
}

/// `[upstream.NAME.dns]`: how the upstream's name is followed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSection {
    pub min_ttl: Option<HumanDuration>,
    pub max_ttl: Option<HumanDuration>,
    pub serve_stale_for: Option<HumanDuration>,
    #[serde(default)]
    pub nameservers: Vec<Spanned<String>>,
}

/// `[upstream.NAME.probe]`: the start-up gate request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSection {
    pub path: Option<Spanned<String>>,
    pub host: Option<String>,
    pub expect_status: Option<Vec<Spanned<i64>>>,
    pub interval: Option<HumanDuration>,
}
