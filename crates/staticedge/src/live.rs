//! The live objects of a running proxy, and how a configuration becomes them (at
//! start and on every reload).

use arc_swap::ArcSwap;
use staticedge_admin::{AdminView, Lifecycle};
use staticedge_config::{Config, ConfigErrors};
use staticedge_dns::{UpstreamAddrs, UpstreamRegistry};
use staticedge_policy::{AccessLogger, InFlight, ProxyState, SharedState};
use staticedge_proxy::{ConnectionLimits, TlsAcceptors};
use staticedge_tls::{
    check_certificates, load_certificates, CertSet, CertStore, LoadedCert, TlsPolicy,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// Handles shared by the listeners, the admin port and the control loop.
#[derive(Clone)]
pub struct Live {
    /// Where the configuration is re-read from on SIGHUP.
    pub config_path: PathBuf,
    /// Routes, upstreams, settings.
    pub state: SharedState,
    /// Certificates (SNI resolver).
    pub certs: Arc<CertStore>,
    /// The TLS acceptors (our rustls configurations) of the TLS listeners, built for
    /// the certificate set in `certs`.
    pub tls_acceptor: Arc<ArcSwap<TlsAcceptors>>,
    /// The access log writer.
    pub access_log: AccessLogger,
    /// Client connection limits (reloadable).
    pub limits: Arc<ConnectionLimits>,
    /// Drain, reload and probe state.
    pub lifecycle: Arc<Lifecycle>,
    /// Requests in progress.
    pub in_flight: InFlight,
}

/// A configuration checked all the way: parsed, certificates loaded, TLS built.
pub struct Prepared {
    /// The configuration.
    pub config: Config,
    /// Its certificates.
    pub certs: CertSet,
    /// Its TLS protocol policy.
    pub policy: TlsPolicy,
    /// Certificate problems that do not stop a start (expiring soon; at start also
    /// expired or uncovered hosts, which readiness reports): printed or logged.
    pub warnings: ConfigErrors,
}

impl Prepared {
    /// Logs the certificate warnings, one line each, when a configuration goes live
    /// (at start and on reload).
    fn log_warnings(&self) {
        for line in self.warnings.to_string().lines() {
            tracing::warn!("{line}");
        }
    }
}

/// What to do with an expired or not-yet-valid certificate, or a route host no
/// certificate covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateProblems {
    /// `check` and reloads refuse: the operator is there to fix it.
    Refuse,
    /// A start goes on and warns: the instance comes up unready (readiness says
    /// why) instead of not at all, so the fleet can still be inspected.
    Warn,
}

/// Reads and checks everything a configuration refers to; nothing live changes.
pub fn prepare(path: &Path, problems: CertificateProblems) -> Result<Prepared, ConfigErrors> {
    let (config, mut errors) = staticedge_config::load_for_check(path)?;
    // Certificates are checked even when the rest has problems: one run of
    // `staticedge check` lists everything.
    let loaded = match load_certificates(path, &config.tls.certificates) {
        Ok(loaded) => loaded,
        Err(cert_errors) => {
            errors.0.extend(cert_errors.0);
            Vec::new()
        }
    };
    let infos: Vec<_> = loaded.iter().map(|c| c.info.clone()).collect();
    let report = check_certificates(path, &config, &infos, SystemTime::now());
    let mut warnings = report.warnings;
    match problems {
        CertificateProblems::Refuse => errors.0.extend(report.errors.0),
        CertificateProblems::Warn => warnings.0.extend(report.errors.0),
    }
    if !errors.is_empty() {
        return Err(errors.sorted());
    }
    let policy = tls_policy(&config);
    Ok(Prepared {
        config,
        certs: CertSet::new(loaded),
        policy,
        warnings: warnings.sorted(),
    })
}

/// The TLS protocol choices of `config`.
pub fn tls_policy(config: &Config) -> TlsPolicy {
    TlsPolicy {
        min_version: config.tls.min_version,
        alpn: config.tls.alpn.clone(),
    }
}

/// The acceptors for the set `certs` serves and `policy`, with errors naming the file.
fn tls_acceptors(
    path: &Path,
    certs: &Arc<CertStore>,
    set: &Arc<CertSet>,
    policy: &TlsPolicy,
) -> Result<TlsAcceptors, String> {
    TlsAcceptors::new(certs, set, policy).map_err(|e| format!("{}: {e}", path.display()))
}

impl Live {
    /// Builds the live objects for the first configuration. Returns the upstream sets
    /// whose refresh loops must be started.
    pub fn start(
        config_path: &Path,
        prepared: Prepared,
    ) -> Result<(Live, Vec<Arc<UpstreamAddrs>>), String> {
        prepared.log_warnings();
        let certs = Arc::new(CertStore::new(prepared.certs));
        let tls = tls_acceptors(config_path, &certs, &certs.current(), &prepared.policy)?;
        let access_log = AccessLogger::start(prepared.config.server.access_log.clone());
        let prepared_limits = prepared.config.limits.clone();
        let (registry, fresh) =
            UpstreamRegistry::default().reconcile(prepared.config.upstreams.values());
        let state = Arc::new(ArcSwap::from_pointee(ProxyState::new(
            Arc::new(prepared.config),
            registry,
            None,
        )));
        Ok((
            Live {
                config_path: config_path.to_path_buf(),
                state,
                certs,
                tls_acceptor: Arc::new(ArcSwap::from_pointee(tls)),
                access_log,
                limits: ConnectionLimits::new(
                    prepared_limits.max_connections,
                    prepared_limits.max_connections_per_ip,
                ),
                lifecycle: Arc::new(Lifecycle::default()),
                in_flight: InFlight::default(),
            },
            fresh,
        ))
    }

    /// Re-reads the configuration and certificates and swaps them in atomically.
    /// Any problem leaves everything as it was and is returned as text (one problem per
    /// line, `file:line:col: message`).
    pub fn reload(&self) -> Result<Vec<Arc<UpstreamAddrs>>, String> {
        let prepared =
            prepare(&self.config_path, CertificateProblems::Refuse).map_err(|e| e.to_string())?;
        prepared.log_warnings();
        let old = self.state.load_full();
        if let Some(what) = old
            .config
            .restart_only()
            .first_difference(&prepared.config.restart_only())
        {
            return Err(format!(
                "{}: {what} changed; that needs a restart, so nothing was reloaded",
                self.config_path.display()
            ));
        }
        let certs = Arc::new(prepared.certs);
        let tls = tls_acceptors(&self.config_path, &self.certs, &certs, &prepared.policy)?;
        let (registry, fresh) = old.upstreams.reconcile(prepared.config.upstreams.values());
        // Commit: certificates first so a new route never meets an old certificate set.
        self.install_certificates(certs, tls);
        self.access_log
            .reopen(prepared.config.server.access_log.clone());
        self.limits.set(
            prepared.config.limits.max_connections,
            prepared.config.limits.max_connections_per_ip,
        );
        self.state.store(Arc::new(ProxyState::new(
            Arc::new(prepared.config),
            registry,
            Some(&old),
        )));
        Ok(fresh)
    }

    /// Puts a new certificate set in use with the acceptors built for it, together:
    /// a handshake never meets a set whose client certificate settings its acceptor
    /// does not have.
    fn install_certificates(&self, certs: Arc<CertSet>, tls: TlsAcceptors) {
        self.certs.replace_shared(certs);
        self.tls_acceptor.store(Arc::new(tls));
    }

    /// Certificate files renewed in place (the watch): loads them again and puts
    /// them in use with the current TLS policy. The text says what did not load.
    pub fn renew_certificates(&self, loaded: Vec<LoadedCert>) -> Result<(), String> {
        let state = self.state.load_full();
        let certs = Arc::new(CertSet::new(loaded));
        let policy = tls_policy(&state.config);
        let tls = tls_acceptors(&self.config_path, &self.certs, &certs, &policy)?;
        self.install_certificates(certs, tls);
        Ok(())
    }

    /// What the admin port reads.
    pub fn admin_view(&self) -> AdminView {
        AdminView {
            state: self.state.clone(),
            certs: self.certs.clone(),
            lifecycle: self.lifecycle.clone(),
            in_flight: self.in_flight.clone(),
        }
    }
}
