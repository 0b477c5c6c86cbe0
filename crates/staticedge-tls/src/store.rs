//! SNI selection over the loaded certificates, swappable on reload.

use crate::load::{CertInfo, LoadedCert};
use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use staticedge_config::HostPattern;
use std::collections::HashMap;
use std::sync::Arc;

/// One consistent set of certificates: lookups by exact name and by wildcard suffix,
/// and the default that answers a missing or unknown SNI (the first configured).
#[derive(Debug)]
pub struct CertSet {
    exact: HashMap<String, Arc<CertifiedKey>>,
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
    infos: Vec<CertInfo>,
}

impl CertSet {
    /// Indexes certificates by their DNS SANs. The first certificate naming a host
    /// wins, so the configuration order decides overlaps. An empty set (no TLS
    /// listener) selects nothing.
    pub fn new(certs: Vec<LoadedCert>) -> Self {
        let default = certs.first().map(|c| c.key.clone());
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        for c in &certs {
            for name in &c.info.names {
                match HostPattern::parse(name) {
                    Ok(HostPattern::Exact(n)) => {
                        exact.entry(n).or_insert_with(|| c.key.clone());
                    }
                    Ok(HostPattern::Wildcard(suffix)) => {
                        wildcard.entry(suffix).or_insert_with(|| c.key.clone());
                    }
                    _ => {}
                }
            }
        }
        CertSet {
            exact,
            wildcard,
            default,
            infos: certs.into_iter().map(|c| c.info).collect(),
        }
    }

    /// The certificate for an SNI name: exact match, then a wildcard one label up,
    /// then the default. A wildcard certificate name covers exactly one label, as TLS
    /// clients check it (`staticedge_config::host` describes how this differs from a
    /// route's wildcard); looking up the parent of the first label is that rule.
    pub fn select(&self, sni: Option<&str>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = sni {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if let Some(k) = self.exact.get(&name) {
                return Some(k.clone());
            }
            if let Some((_, parent)) = name.split_once('.') {
                if let Some(k) = self.wildcard.get(parent) {
                    return Some(k.clone());
                }
            }
        }
        self.default.clone()
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
        self.current.store(Arc::new(set));
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
