//! The TLS side of accepting a connection: which rustls configuration a handshake
//! runs with, and what it established that requests want to know (the SNI name for
//! the access log, the client certificate for the policy and the app).
//!
//! Client authentication is set per certificate, and rustls asks for a client
//! certificate before any certificate is chosen by name, so a certificate with a
//! `client_ca` gets a configuration of its own. When any certificate has one, the
//! front reads the ClientHello's server name first ([`staticedge_tls::peek_server_name`])
//! and hands the handshake to the acceptor of the certificate that name selects, by
//! the same rule the certificate itself is chosen. Without client authentication
//! there is one acceptor and nothing is peeked.

use async_trait::async_trait;
use pingora::listeners::tls::{Acceptor, TlsSettings};
use pingora::listeners::TlsAccept;
use pingora::protocols::tls::TlsRef;
use pingora::protocols::Digest;
use pingora::tls::TlsAcceptor;
use rustls::server::ResolvesServerCert;
use rustls::ServerConfig;
use staticedge_policy::{ClientCert, TlsSummary};
use staticedge_tls::{
    build_client_auth_config, build_server_config, CertSet, CertStore, ClientIdentity, TlsPolicy,
};
use std::any::Any;
use std::sync::Arc;

/// What the handshake established that requests want to know, kept in the
/// connection's TLS digest.
#[derive(Debug, Clone, Default)]
pub struct TlsFacts {
    /// The server name the client sent.
    pub sni: Option<String>,
    /// Whether the chosen certificate asks for client certificates.
    pub client_asked: bool,
    /// The client certificate the handshake verified.
    pub client: Option<Arc<ClientIdentity>>,
}

impl TlsFacts {
    /// The client certificate in the policy's terms.
    pub fn client_cert(&self) -> ClientCert<'_> {
        match (&self.client, self.client_asked) {
            (Some(id), _) => ClientCert::Verified(id),
            (None, true) => ClientCert::Absent,
            (None, false) => ClientCert::NotAsked,
        }
    }
}

/// The handshake callback: records [`TlsFacts`] in the connection's digest.
struct CaptureFacts {
    client_asked: bool,
}

#[async_trait]
impl TlsAccept for CaptureFacts {
    async fn handshake_complete_callback(
        &self,
        tls: &TlsRef,
    ) -> Option<Arc<dyn Any + Send + Sync>> {
        let client = self
            .client_asked
            .then(|| tls.peer_certificate_der())
            .flatten()
            .and_then(ClientIdentity::from_der)
            .map(Arc::new);
        Some(Arc::new(TlsFacts {
            sni: tls.server_name().map(str::to_string),
            client_asked: self.client_asked,
            client,
        }))
    }
}

/// The TLS facts of a request's connection, in the policy's terms. The front put
/// them into pingora's TLS digest at the handshake; this is the one place that reads
/// them back.
pub fn tls_summary(digest: Option<&Digest>, h2: bool) -> TlsSummary<'_> {
    let ssl = digest.and_then(|d| d.ssl_digest.as_ref());
    let facts = ssl.and_then(|s| s.extension.get::<TlsFacts>());
    TlsSummary {
        version: ssl.map(|s| s.version.as_ref()),
        sni: facts.and_then(|f| f.sni.as_deref()),
        alpn: if h2 { "h2" } else { "http/1.1" },
        client_cert: facts.map(TlsFacts::client_cert).unwrap_or_default(),
    }
}

/// An acceptor for `config` that records [`TlsFacts`] in each connection's digest
/// (with the client certificate when `client_asked`).
fn acceptor(
    config: Arc<ServerConfig>,
    certs: Arc<dyn ResolvesServerCert>,
    client_asked: bool,
) -> pingora::Result<Acceptor> {
    // TlsSettings is only used to get an Acceptor that runs our callback; the rustls
    // configuration it builds is replaced by ours before any connection sees it.
    let mut settings = TlsSettings::with_callbacks(Box::new(CaptureFacts { client_asked }))?;
    settings.set_cert_resolver(certs);
    let mut acceptor = settings.build();
    acceptor.acceptor = TlsAcceptor::from(config);
    Ok(acceptor)
}

/// The acceptors of the certificates with client authentication, and the set they
/// were built from (which answers "which certificate for this name").
struct ByCertificate {
    certs: Arc<CertSet>,
    /// Index = the certificate's position in `certs`; `None`: no client auth.
    acceptors: Vec<Option<Acceptor>>,
}

/// Every acceptor of the TLS listeners for one certificate set and TLS policy,
/// swapped whole when either changes (reload, certificate files renewed).
pub struct TlsAcceptors {
    default: Acceptor,
    by_certificate: Option<ByCertificate>,
}

impl TlsAcceptors {
    /// Builds the acceptors for `certs`, the set `store` is about to serve, and
    /// `policy`: the default one answers from `store`, those of certificates with
    /// client authentication each serve their one certificate. Build them again
    /// whenever the store's set is replaced.
    pub fn new(
        store: &Arc<CertStore>,
        certs: &Arc<CertSet>,
        policy: &TlsPolicy,
    ) -> Result<Self, String> {
        let config = build_server_config(store.clone(), policy)
            .map_err(|e| format!("TLS settings rejected: {e}"))?;
        let default =
            acceptor(config, store.clone(), false).map_err(|e| format!("TLS acceptor: {e}"))?;
        let by_certificate = if certs.has_client_auth() {
            let mut acceptors = Vec::new();
            for index in 0..certs.infos().len() {
                let Some((key, client)) = certs.client_auth(index) else {
                    acceptors.push(None);
                    continue;
                };
                let config = build_client_auth_config(key.clone(), client, policy)
                    .map_err(|e| format!("TLS settings with client_ca rejected: {e}"))?;
                let one = acceptor(config, store.clone(), true)
                    .map_err(|e| format!("TLS acceptor: {e}"))?;
                acceptors.push(Some(one));
            }
            Some(ByCertificate {
                certs: certs.clone(),
                acceptors,
            })
        } else {
            None
        };
        Ok(TlsAcceptors {
            default,
            by_certificate,
        })
    }

    /// Whether the server name decides the acceptor: only then is the ClientHello
    /// peeked at.
    pub fn by_server_name(&self) -> bool {
        self.by_certificate.is_some()
    }

    /// The acceptor for a ClientHello naming `sni` (the one acceptor when no
    /// certificate asks for client certificates, whatever the name).
    pub fn for_server_name(&self, sni: Option<&str>) -> &Acceptor {
        self.by_certificate
            .as_ref()
            .and_then(|b| {
                let index = b.certs.select_index(sni)?;
                b.acceptors.get(index)?.as_ref()
            })
            .unwrap_or(&self.default)
    }
}
