//! One lookup of one name, as a small typed result: the [`Resolve`] seam the refresh
//! loop looks names up through, and [`NameResolver`], its hickory-resolver
//! implementation used in production.

use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;
use staticedge_config::DnsSettings;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// A good answer: the addresses and how long they may be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Every address the name resolved to, with the upstream's port, sorted.
    pub addrs: Vec<SocketAddr>,
    /// The record TTL clamped to `[min_ttl, max_ttl]`: when to look again.
    pub ttl: Duration,
}

/// Why a lookup gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsError {
    /// The resolver could not be built (bad /etc/resolv.conf, say).
    Setup(String),
    /// The name does not exist or has no A/AAAA records.
    NoRecords(String),
    /// Timeout, SERVFAIL, refused, network error.
    Failed(String),
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::Setup(m) => write!(f, "resolver setup failed: {m}"),
            DnsError::NoRecords(m) => write!(f, "no address records: {m}"),
            DnsError::Failed(m) => write!(f, "lookup failed: {m}"),
        }
    }
}

impl std::error::Error for DnsError {}

/// Looks a name up once. The refresh loop ([`crate::follow_with`]) depends only on
/// this, so its scheduling can be tested against answers a test scripts in order;
/// production uses [`NameResolver`].
pub trait Resolve {
    /// The addresses of `host` with `port`, sorted and deduplicated, and how long
    /// they may be used.
    fn lookup(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = Result<Answer, DnsError>> + Send;
}

/// `ttl` clamped to the upstream's `[min_ttl, max_ttl]`: when to look again.
pub(crate) fn clamp_ttl(ttl: Duration, settings: &DnsSettings) -> Duration {
    ttl.clamp(settings.min_ttl, settings.max_ttl)
}

/// A resolver for one upstream: its own nameservers (or the system's), TTLs clamped
/// as configured.
#[derive(Clone)]
pub struct NameResolver {
    resolver: TokioResolver,
    settings: DnsSettings,
}

impl NameResolver {
    /// Builds the resolver; `nameservers` empty means /etc/resolv.conf.
    pub fn new(settings: &DnsSettings) -> Result<Self, DnsError> {
        let mut builder = if settings.nameservers.is_empty() {
            TokioResolver::builder_tokio().map_err(|e| DnsError::Setup(e.to_string()))?
        } else {
            let mut config = ResolverConfig::from_parts(None, vec![], vec![]);
            for ns in &settings.nameservers {
                config.add_name_server(name_server(*ns));
            }
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        opts.positive_min_ttl = Some(settings.min_ttl);
        opts.positive_max_ttl = Some(settings.max_ttl);
        // A name that does not exist yet must be seen as soon as it is created.
        opts.negative_max_ttl = Some(Duration::from_secs(1));
        opts.timeout = Duration::from_secs(2);
        opts.attempts = 2;
        opts.edns0 = true;
        opts.use_hosts_file = ResolveHosts::Never;
        // Names are absolute: never try search domains.
        opts.ndots = 0;
        let resolver = builder
            .build()
            .map_err(|e| DnsError::Setup(e.to_string()))?;
        Ok(NameResolver {
            resolver,
            settings: settings.clone(),
        })
    }
}

impl Resolve for NameResolver {
    /// Looks `host` up once (A and AAAA, following CNAMEs), bypassing the resolver's
    /// cache so that each scheduled lookup asks the nameservers.
    async fn lookup(&self, host: &str, port: u16) -> Result<Answer, DnsError> {
        let fqdn = if host.ends_with('.') {
            host.to_string()
        } else {
            format!("{host}.")
        };
        let started = Instant::now();
        // hickory's own text for these carries its whole query structure; an
        // operator reading /readyz or `check --resolve` wants one plain sentence.
        let lookup = self.resolver.lookup_ip(fqdn.as_str()).await.map_err(|e| {
            if e.is_nx_domain() {
                DnsError::NoRecords(format!("{host}: the name does not exist (NXDOMAIN)"))
            } else if e.is_no_records_found() {
                DnsError::NoRecords(format!("{host}: no A or AAAA records"))
            } else {
                DnsError::Failed(format!("{host}: {e}"))
            }
        })?;
        let mut addrs: Vec<SocketAddr> = lookup
            .iter()
            .map(|ip: IpAddr| SocketAddr::new(ip, port))
            .collect();
        addrs.sort();
        addrs.dedup();
        if addrs.is_empty() {
            return Err(DnsError::NoRecords(format!("{host}: empty answer")));
        }
        let ttl = clamp_ttl(
            lookup.valid_until().saturating_duration_since(started),
            &self.settings,
        );
        // The resolver's cache must not answer the next scheduled lookup.
        self.resolver.clear_cache();
        Ok(Answer { addrs, ttl })
    }
}

fn name_server(addr: SocketAddr) -> NameServerConfig {
    let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
    for c in &mut ns.connections {
        c.port = addr.port();
    }
    ns
}

/// Resolves `host:port` once with `settings`, for `staticedge check --resolve`.
pub async fn resolve_once(
    host: &str,
    port: u16,
    settings: &DnsSettings,
) -> Result<Answer, DnsError> {
    NameResolver::new(settings)?.lookup(host, port).await
}
