//! The validated configuration the proxy runs on. Everything here has already been
//! checked: names resolve to upstreams, durations are in range, defaults are filled in.

use crate::error::Location;
use crate::host::HostPattern;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Lowest TLS version a client may negotiate (`tls.min_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinVersion {
    /// TLS 1.2 and 1.3 are offered.
    Tls12,
    /// Only TLS 1.3 is offered.
    Tls13,
}

/// Whether a PROXY protocol v2 header precedes the TLS handshake
/// (`listener.proxy_protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyProtocolMode {
    /// No header is expected (the default).
    #[default]
    Off,
    /// A header is used when present.
    Optional,
    /// A connection without a header is closed.
    Required,
}

/// Where a configuration came from, so `/status` can tell which file and version runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSource {
    /// The file it was read from.
    pub path: PathBuf,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
}

/// A whole validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where it came from.
    pub source: ConfigSource,
    /// Process-wide settings.
    pub server: ServerSettings,
    /// The admin (health, metrics) port.
    pub admin: AdminSettings,
    /// TLS protocol settings and certificates.
    pub tls: TlsSettings,
    /// The addresses clients connect to.
    pub listeners: Vec<Listener>,
    /// Routes, in file order.
    pub routes: Vec<Route>,
    /// Upstreams by name.
    pub upstreams: BTreeMap<String, Upstream>,
    /// Protection limits.
    pub limits: Limits,
}

/// `[limits]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body; bigger ones get 413. 0 means no limit.
    pub max_request_body_bytes: u64,
    /// Which request bodies are read whole before the upstream request begins.
    pub buffer: RequestBuffer,
    /// The whole HTTP/1 request header must arrive within this (slowloris).
    pub header_timeout: Duration,
    /// PROXY header plus TLS handshake must finish within this.
    pub handshake_timeout: Duration,
    /// Client connections in total; 0 means no limit.
    pub max_connections: usize,
    /// Client connections per client IP; 0 means no limit.
    pub max_connections_per_ip: usize,
    /// Concurrent HTTP/2 streams per connection.
    pub h2_max_concurrent_streams: u32,
    /// How large a request header may be (431 and 414 beyond).
    pub headers: HeaderLimits,
}

/// The request header limits of `[limits]`: a request over one of them is answered
/// `431` (`414` for the request line) and never forwarded. Named like their keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderLimits {
    /// `max_request_header_bytes`: the whole HTTP/1 header block, request line and
    /// final empty line included; on HTTP/2 the header list as
    /// `SETTINGS_MAX_HEADER_LIST_SIZE` counts it (each field's name and value plus 32).
    pub max_request_header_bytes: usize,
    /// `max_request_headers`: header fields, the request line and HTTP/2
    /// pseudo-headers not counted.
    pub max_request_headers: usize,
    /// `max_request_line_bytes`: the HTTP/1 request line without its line end.
    pub max_request_line_bytes: usize,
}

impl Default for HeaderLimits {
    fn default() -> Self {
        HeaderLimits {
            max_request_header_bytes: defaults::MAX_REQUEST_HEADER_BYTES,
            max_request_headers: defaults::MAX_REQUEST_HEADERS,
            max_request_line_bytes: defaults::MAX_REQUEST_LINE_BYTES,
        }
    }
}

impl Config {
    /// The settings a reload cannot change without a restart, as a comparable value.
    pub fn restart_only(&self) -> RestartOnly {
        RestartOnly {
            threads: self.server.threads,
            h2_max_concurrent_streams: self.limits.h2_max_concurrent_streams,
            admin_listen: self.admin.listen,
            listeners: {
                // Order does not matter, only the set of sockets and their modes.
                let mut l: Vec<_> = self
                    .listeners
                    .iter()
                    .map(|l| (l.listen, l.tls, l.proxy_protocol))
                    .collect();
                l.sort_by_key(|x| x.0);
                l
            },
        }
    }
}

/// Settings fixed for the life of the process (listen sockets, thread counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartOnly {
    threads: usize,
    h2_max_concurrent_streams: u32,
    admin_listen: SocketAddr,
    listeners: Vec<(SocketAddr, bool, ProxyProtocolMode)>,
}

impl RestartOnly {
    /// Names the first restart-only setting that differs, for the reload error message.
    pub fn first_difference(&self, other: &RestartOnly) -> Option<&'static str> {
        if self.threads != other.threads {
            Some("server.threads")
        } else if self.h2_max_concurrent_streams != other.h2_max_concurrent_streams {
            Some("limits.h2_max_concurrent_streams")
        } else if self.admin_listen != other.admin_listen {
            Some("admin.listen")
        } else if self.listeners != other.listeners {
            Some("listener (listen, tls, proxy_protocol)")
        } else {
            None
        }
    }
}

/// Where access log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLog {
    /// One JSON line per request on standard output.
    Stdout,
    /// No access log.
    Off,
    /// Appended to this file (reopened on SIGUSR1, what logrotate sends, and on SIGHUP).
    File(PathBuf),
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    /// Worker threads for the proxy.
    pub threads: usize,
    /// After SIGTERM: readiness fails at once, traffic is still served this long.
    pub grace_period: Duration,
    /// Then: listeners close; in-flight requests get this long.
    pub drain_timeout: Duration,
    /// Access log destination.
    pub access_log: AccessLog,
    /// How long an idle client keep-alive connection is kept (below the NLB's 350 s).
    pub keepalive_timeout: Duration,
    /// Which engine serves HTTP/1 requests.
    pub request_path: RequestPath,
}

/// `[server] request_path`: the engine that serves HTTP/1 requests. Both apply the
/// same policy; the switch is the operator's way back if the lean path misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RequestPath {
    /// Common requests on staticedge's own lean path, the rest on pingora's.
    #[default]
    Lean,
    /// Every request through pingora's `HttpProxy`.
    Pingora,
}

/// `[admin]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    /// Plain-HTTP address of /healthz, /readyz, /metrics, /status.
    pub listen: SocketAddr,
}

/// An ALPN protocol offered to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// HTTP/2.
    H2,
    /// HTTP/1.1.
    Http11,
}

/// `[tls]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSettings {
    /// Lowest protocol version accepted.
    pub min_version: MinVersion,
    /// ALPN protocols in preference order.
    pub alpn: Vec<Alpn>,
    /// Certificates; the first answers a missing or unknown SNI.
    pub certificates: Vec<CertificateFiles>,
}

/// One `[[tls.certificate]]` entry: paths, plus where it was written for errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// Where `cert = ...` is in the configuration.
    pub cert_at: Location,
    /// PEM private key.
    pub key: PathBuf,
    /// Where `key = ...` is in the configuration.
    pub key_at: Location,
    /// Client certificates asked for in handshakes that select this certificate
    /// (`client_ca`, `client_auth`, `client_crls`); `None`: none are asked for.
    pub client_auth: Option<ClientAuthFiles>,
}

/// `[[tls.certificate]] client_auth`: what a handshake for this certificate does
/// with the client's certificate. Client authentication is part of the handshake,
/// before any request names a route, so it is set per certificate (per SNI name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMode {
    /// A client without a valid certificate fails the handshake.
    Required,
    /// A client may send none (routes decide); one it sends must be valid.
    Optional,
}

/// The client certificate settings of one `[[tls.certificate]]`, with where each
/// path is written so file problems point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuthFiles {
    /// `client_auth`: "required" (the default once `client_ca` is set) or "optional".
    pub mode: ClientAuthMode,
    /// `client_ca`: PEM file of the CA certificates client certificates must chain to.
    pub ca: PathBuf,
    /// Where `client_ca = ...` is in the configuration.
    pub ca_at: Location,
    /// `client_crls`: PEM certificate revocation lists of those CAs.
    pub crls: Vec<PathBuf>,
    /// Where each of `crls` is written, in the same order.
    pub crls_at: Vec<Location>,
}

/// One `[[listener]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Socket address to bind.
    pub listen: SocketAddr,
    /// TLS (default) or plain HTTP.
    pub tls: bool,
    /// Plain listener only: answer every request with a 308 to https.
    pub redirect_https: bool,
    /// PROXY protocol v2 handling (TLS listeners).
    pub proxy_protocol: ProxyProtocolMode,
}

/// What Host header the upstream receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostHeader {
    /// The client's Host, unchanged.
    Preserve,
    /// The upstream's DNS name (what an Elastic Beanstalk app has in ALLOWED_HOSTS).
    Upstream,
    /// This exact value, already checked to be a valid `host[:port]`.
    Literal(String),
}

/// One `[[route]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Host patterns this route serves.
    pub hosts: Vec<HostPattern>,
    /// Where each of `hosts` is written, in the same order, for problems found
    /// later (a host no certificate covers).
    pub hosts_at: Vec<Location>,
    /// Path prefix; the longest matching one wins among a host's routes.
    pub path_prefix: String,
    /// Name of the upstream in [`Config::upstreams`].
    pub upstream: String,
    /// Host header policy.
    pub host_header: HostHeader,
    /// Client networks allowed; empty means everyone.
    pub allow_cidrs: Vec<ipnet::IpNet>,
    /// `client_cert`: whether a request needs a verified client certificate.
    pub client_cert: ClientCertRule,
    /// `allow_client_names`: identities allowed (lowercase), matched against the
    /// certificate's DNS and URI SANs, then its subject CN; empty means any verified
    /// certificate. A non-empty list implies `client_cert = "required"`.
    pub allow_client_names: Vec<String>,
    /// Where `client_cert` (or else `allow_client_names`) is written, when it is:
    /// `check` points there when the route's hosts have no `client_ca`.
    pub client_cert_at: Option<Location>,
    /// `rate_limit`: the most requests this route takes, per key.
    pub rate_limit: Option<RateLimit>,
}

impl Route {
    /// Whether a request on this route must come with a verified client certificate.
    pub fn requires_client_cert(&self) -> bool {
        self.client_cert == ClientCertRule::Required || !self.allow_client_names.is_empty()
    }
}

/// `[[route]] client_cert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientCertRule {
    /// No certificate needed (the default); one that was verified is still passed on.
    #[default]
    Optional,
    /// 403 without a verified client certificate.
    Required,
}

/// `[[route]] rate_limit`: a token bucket per key (GCRA): `burst` requests at once,
/// refilled at `requests_per_second`. Per instance: a fleet of N instances behind
/// the NLB admits about N times this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained rate, requests per second (at least 1).
    pub requests_per_second: u32,
    /// Requests a key may make at once before the rate applies (at least 1).
    pub burst: u32,
    /// What one bucket counts.
    pub key: RateLimitKey,
    /// The most keys tracked at once; the least recently seen is forgotten first, so
    /// a flood of client addresses cannot grow memory without bound.
    pub max_keys: usize,
}

/// `rate_limit.key`: whose requests share a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateLimitKey {
    /// One bucket per client IP (the PROXY header's source behind an NLB).
    ClientIp,
    /// One bucket per verified client certificate (SHA-256 fingerprint); requests
    /// without one are counted by client IP.
    ClientCert,
    /// One bucket for the whole route.
    Route,
}

/// How an upstream is addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamAddress {
    /// A fixed socket address.
    Ip(SocketAddr),
    /// A DNS name, re-resolved by TTL.
    Name {
        /// Lowercase, no trailing dot.
        host: String,
        /// TCP port.
        port: u16,
    },
}

impl UpstreamAddress {
    /// The host part as written (name or IP), for Host headers and SNI.
    pub fn host(&self) -> String {
        match self {
            UpstreamAddress::Ip(a) => a.ip().to_string(),
            UpstreamAddress::Name { host, .. } => host.clone(),
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        match self {
            UpstreamAddress::Ip(a) => a.port(),
            UpstreamAddress::Name { port, .. } => *port,
        }
    }
}

impl std::fmt::Display for UpstreamAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamAddress::Ip(a) => write!(f, "{a}"),
            UpstreamAddress::Name { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// `[upstream.NAME]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    /// The key in `[upstream.NAME]`.
    pub name: String,
    /// Where it is.
    pub address: UpstreamAddress,
    /// Where `address = ...` is written, for errors found later (`check --resolve`).
    pub address_at: Location,
    /// HTTPS to the upstream (SNI = its name, certificate verified).
    pub tls: bool,
    /// TCP (and TLS) connect deadline.
    pub connect_timeout: Duration,
    /// Deadline for each read from the upstream.
    pub read_timeout: Duration,
    /// Pooled keep-alive connections idle longer than this are closed.
    pub idle_timeout: Duration,
    /// Further attempts when nothing reached the upstream yet.
    pub retries: u32,
    /// Name following.
    pub dns: DnsSettings,
    /// Optional start-up gate.
    pub probe: Option<Probe>,
}

impl Upstream {
    /// An upstream at `address` (`name:port` or `IP:port`) with every other setting at
    /// its documented default: what a one-line `[upstream.NAME]` section gives.
    pub fn with_defaults(name: &str, address: &str) -> Result<Self, String> {
        Ok(Upstream {
            name: name.to_string(),
            address: crate::validate::parse_upstream_address(address)?,
            address_at: Location { line: 1, col: 1 },
            tls: false,
            connect_timeout: defaults::CONNECT_TIMEOUT,
            read_timeout: defaults::READ_TIMEOUT,
            idle_timeout: defaults::IDLE_TIMEOUT,
            retries: defaults::RETRIES,
            dns: DnsSettings {
                min_ttl: defaults::MIN_TTL,
                max_ttl: defaults::MAX_TTL,
                serve_stale_for: defaults::SERVE_STALE_FOR,
                nameservers: Vec::new(),
            },
            probe: None,
        })
    }
}

/// `[upstream.NAME.dns]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSettings {
    /// Lower clamp of the record TTL.
    pub min_ttl: Duration,
    /// Upper clamp of the record TTL.
    pub max_ttl: Duration,
    /// How long the last good answer is used while DNS fails.
    pub serve_stale_for: Duration,
    /// Nameservers; empty means /etc/resolv.conf.
    pub nameservers: Vec<SocketAddr>,
}

/// `[upstream.NAME.probe]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Request path.
    pub path: String,
    /// Host header; `None` means the upstream's DNS name.
    pub host: Option<String>,
    /// Statuses that count as success.
    pub expect_status: Vec<u16>,
    /// Time between probes.
    pub interval: Duration,
}

/// `[limits] request_buffer*` and `body_timeout`: request bodies read and checked
/// whole before the upstream request begins, so a refused body never reaches the
/// upstream, not even in part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestBuffer {
    /// Which bodies are buffered.
    pub mode: RequestBuffering,
    /// Bytes of one body kept in memory; the rest spills to a file.
    pub memory: usize,
    /// Where spilled bodies go (as files unlinked at creation).
    pub dir: PathBuf,
    /// Bytes spilled across all requests at once; over it: 503 with Retry-After.
    pub disk_total: u64,
    /// Longest wait for the next bytes of a body being buffered; then 408.
    pub body_timeout: Duration,
}

impl RequestBuffer {
    /// Whether a body of `content_length` (`None`: chunked, or HTTP/2 without one)
    /// is buffered.
    pub fn applies(&self, content_length: Option<u64>) -> bool {
        match self.mode {
            RequestBuffering::Off => false,
            RequestBuffering::All => content_length != Some(0),
            RequestBuffering::Unsized => content_length.is_none(),
        }
    }
}

/// `[limits] request_buffering`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RequestBuffering {
    /// Bodies without a Content-Length (HTTP/1.1 chunked, HTTP/2 without one).
    #[default]
    Unsized,
    /// Every body: a slow upload never ties up an application worker.
    All,
    /// None: bodies stream to the upstream as they arrive.
    Off,
}

/// Defaults, in one place so the docs and the code agree.
pub mod defaults {
    use std::time::Duration;
    /// `[server] grace_period`: long enough for the bundled NLB health check (an
    /// interval of 10 s, 2 failures to mark the target unhealthy) to see the 503 of
    /// `/readyz`, plus one interval for a check already under way: 10 s x 2 + 10 s.
    pub const GRACE_PERIOD: Duration = Duration::from_secs(30);
    /// `[server] drain_timeout`.
    pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);
    /// `[server] keepalive_timeout`.
    pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(60);
    /// The NLB's fixed TCP idle timeout; client keep-alive must stay below it.
    pub const NLB_IDLE_TIMEOUT: Duration = Duration::from_secs(350);
    /// `[admin] listen`.
    pub const ADMIN_LISTEN: &str = "0.0.0.0:9901";
    /// `[upstream.*] connect_timeout`.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
    /// `[upstream.*] read_timeout`.
    pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
    /// `[upstream.*] idle_timeout`: below the EB load balancer's 60 s.
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(50);
    /// `[upstream.*] retries`.
    pub const RETRIES: u32 = 1;
    /// `[upstream.*.dns] min_ttl`.
    pub const MIN_TTL: Duration = Duration::from_secs(1);
    /// `[upstream.*.dns] max_ttl`.
    pub const MAX_TTL: Duration = Duration::from_secs(60);
    /// `[upstream.*.dns] serve_stale_for`.
    pub const SERVE_STALE_FOR: Duration = Duration::from_secs(3600);
    /// `[limits] max_request_body_bytes`: 10 MiB.
    pub const MAX_REQUEST_BODY_BYTES: u64 = 10 * 1024 * 1024;
    /// `[limits] request_buffer_memory`: 64 KiB.
    pub const REQUEST_BUFFER_MEMORY: usize = 64 * 1024;
    /// `[limits] request_buffer_disk_total`: 1 GiB.
    pub const REQUEST_BUFFER_DISK_TOTAL: u64 = 1024 * 1024 * 1024;
    /// `[limits] body_timeout`.
    pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
    /// `[limits] request_buffer_dir` when set: the systemd unit's `StateDirectory`,
    /// which systemd passes in this variable.
    pub const REQUEST_BUFFER_DIR_ENV: &str = "STATE_DIRECTORY";
    /// `[limits] header_timeout`.
    pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
    /// `[limits] handshake_timeout`.
    pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
    /// `[limits] max_connections`.
    pub const MAX_CONNECTIONS: usize = 50_000;
    /// `[limits] max_connections_per_ip`: off; behind an NLB without client IP
    /// preservation every client would share one address.
    pub const MAX_CONNECTIONS_PER_IP: usize = 0;
    /// `[limits] h2_max_concurrent_streams`.
    pub const H2_MAX_CONCURRENT_STREAMS: u32 = 100;
    /// `[limits] max_request_header_bytes`: 32 KiB, nginx's 4 x 8 KiB buffers.
    pub const MAX_REQUEST_HEADER_BYTES: usize = 32 * 1024;
    /// `[limits] max_request_headers`: gunicorn's and Python's 100.
    pub const MAX_REQUEST_HEADERS: usize = 100;
    /// `[limits] max_request_line_bytes`: 8 KiB, nginx's one buffer.
    pub const MAX_REQUEST_LINE_BYTES: usize = 8 * 1024;
    /// The most `max_request_header_bytes` and `max_request_line_bytes` may be set
    /// to: 512 KiB, half of what pingora's HTTP/1 parser takes at all, and the most
    /// the connection front buffers for one request header.
    pub const MAX_REQUEST_HEADER_BYTES_CEILING: usize = 512 * 1024;
    /// The most `max_request_headers` may be set to: pingora's HTTP/1 parser refuses
    /// more than 256 fields with a 400 of its own.
    pub const MAX_REQUEST_HEADERS_CEILING: usize = 256;
    /// `rate_limit.max_keys`: 100,000 keys, about 12 MiB per route at most.
    pub const RATE_LIMIT_MAX_KEYS: usize = 100_000;
    /// `[upstream.*.probe] interval`.
    pub const PROBE_INTERVAL: Duration = Duration::from_secs(10);
}
