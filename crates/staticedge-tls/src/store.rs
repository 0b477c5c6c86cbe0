//! SNI selection over the loaded certificates, swappable on reload.

use crate::client_auth::ClientAuth;
use crate::load::{CertInfo, LoadedCert};
use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use staticedge_config::HostPattern;
use std::collections::HashMap;
use std::sync::Arc;

/// Which certificate answers an SNI name, by index in configuration order: exact
/// DNS SAN first, then a wildcard SAN one label up. The first certificate naming a
/// host wins, so the configuration order decides overlaps. Shared by the handshake
/// ([`CertSet`]) and the checks, so both pick the same certificate.
#[derive(Debug, Default)]
pub(crate) struct SniIndex {
    exact: HashMap<String, usize>,
    wildcard: HashMap<String, usize>,
}

impl SniIndex {
    /// Indexes the DNS SANs of each certificate (`names[i]` are certificate `i`'s).
    pub(crate) fn new<'a>(names: impl IntoIterator<Item = &'a [String]>) -> Self {
        let mut index = SniIndex::default();
        for (i, cert_names) in names.into_iter().enumerate() {
            for name in cert_names {
                match HostPattern::parse(name) {
                    Ok(HostPattern::Exact(n)) => {
                        index.exact.entry(n).or_insert(i);
                    }
                    Ok(HostPattern::Wildcard(suffix)) => {
                        index.wildcard.entry(suffix).or_insert(i);
                    }
                    _ => {}
                }
            }
        }
        index
    }

    /// The certificate naming `sni`, if one does. A wildcard certificate name covers
    /// exactly one label, as TLS clients check it (`staticedge_config::host`
    /// describes how this differs from a route's wildcard); looking up the parent of
    /// the first label is that rule.
    pub(crate) fn find(&self, sni: &str) -> Option<usize> {
        let name = sni.trim_end_matches('.').to_ascii_lowercase();
        if let Some(i) = self.exact.get(&name) {
            return Some(*i);
        }
        let (_, parent) = name.split_once('.')?;
        self.wildcard.get(parent).copied()
    }

    /// The certificate whose wildcard SAN is `*.{suffix}`, if one has it.
    pub(crate) fn wildcard(&self, suffix: &str) -> Option<usize> {
        self.wildcard.get(suffix).copied()
    }
}

/// One consistent set of certificates: lookups by exact name and by wildcard suffix,
/// the default that answers a missing or unknown SNI (the first configured), and
/// each certificate's client authentication.
#[derive(Debug)]
pub struct CertSet {
    index: SniIndex,
    keys: Vec<Arc<CertifiedKey>>,
    client_auth: Vec<Option<ClientAuth>>,
    infos: Vec<CertInfo>,
}

impl CertSet {
    /// Indexes certificates by their DNS SANs. The first certificate naming a host
    /// wins, so the configuration order decides overlaps. An empty set (no TLS
    /// listener) selects nothing.
    pub fn new(certs: Vec<LoadedCert>) -> Self {
        let index = SniIndex::new(certs.iter().map(|c| c.info.names.as_slice()));
        let mut keys = Vec::with_capacity(certs.len());
        let mut client_auth = Vec::with_capacity(certs.len());
        let mut infos = Vec::with_capacity(certs.len());
        for c in certs {
            keys.push(c.key);
            client_auth.push(c.client_auth);
            infos.push(c.info);
        }
        CertSet {
            index,
            keys,
            client_auth,
            infos,
        }
    }

    /// The index (configuration order) of the certificate for an SNI name: exact
    /// match, then a wildcard one label up, then the first certificate. `None` only
    /// when the set is empty.
    pub fn select_index(&self, sni: Option<&str>) -> Option<usize> {
        let named = sni.and_then(|name| self.index.find(name));
        named.or_else(|| (!self.keys.is_empty()).then_some(0))
    }

    /// The certificate for an SNI name, by the rule of [`CertSet::select_index`].
    pub fn select(&self, sni: Option<&str>) -> Option<Arc<CertifiedKey>> {
        self.select_index(sni).map(|i| self.keys[i].clone())
    }

    /// Certificate `index` and its client authentication, when it has a client CA:
    /// what a client-authenticating server configuration is built from.
    pub fn client_auth(&self, index: usize) -> Option<(&Arc<CertifiedKey>, &ClientAuth)> {
        let client = self.client_auth.get(index)?.as_ref()?;
        Some((&self.keys[index], client))
    }

    /// True when some certificate asks for client certificates. Only then must a
    /// handshake's server name be known before it starts, to pick the configuration.
    pub fn has_client_auth(&self) -> bool {
        self.client_auth.iter().any(Option::is_some)
    }

    /// Descriptions of every certificate, in configuration order.
    pub fn infos(&self) -> &[CertInfo] {
        &self.infos
    }
}

/// The live certificate set behind every TLS listener.
#[derive(Debug)]
pub struct CertStore {
    current: ArcSwap<CertSet>,
}

impl CertStore {
    /// A store serving `set`.
    pub fn new(set: CertSet) -> Self {
        CertStore {
            current: ArcSwap::from_pointee(set),
        }
    }

    /// Replaces the set; handshakes that start afterwards see the new one.
    pub fn replace(&self, set: CertSet) {
        self.replace_shared(Arc::new(set));
    }

    /// Replaces the set with one already shared with the acceptors built for it
    /// (client authentication per certificate), so both describe the same set.
    pub fn replace_shared(&self, set: Arc<CertSet>) {
        self.current.store(set);
    }

    /// The set in use now.
    pub fn current(&self) -> Arc<CertSet> {
        self.current.load_full()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.load().select(hello.server_name())
    }
}
