//! What a connection's TLS handshake established about the client's certificate,
//! as the policy sees it: admission checks it against a route's `client_cert` and
//! `allow_client_names`, the header plan passes it to the app, the access log
//! records it.

use crate::refusal::Refusal;
use staticedge_config::Route;
use staticedge_tls::ClientIdentity;

/// The client certificate of a request's connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientCert<'a> {
    /// The certificate the handshake chose has no `client_ca`: nothing was asked,
    /// nothing is passed on (no `X-Client-Verify`).
    #[default]
    NotAsked,
    /// Asked for (`client_auth = "optional"`) and none was sent.
    Absent,
    /// Sent and verified against the certificate's `client_ca` (and CRLs).
    Verified(&'a ClientIdentity),
}

impl<'a> ClientCert<'a> {
    /// The verified identity, if there is one.
    pub fn identity(&self) -> Option<&'a ClientIdentity> {
        match self {
            ClientCert::Verified(id) => Some(id),
            _ => None,
        }
    }

    /// `X-Client-Verify` and the access log's `client_verify`: `SUCCESS` or `NONE`
    /// when client certificates were asked for, nothing when they were not.
    pub fn verify_label(&self) -> Option<&'static str> {
        match self {
            ClientCert::NotAsked => None,
            ClientCert::Absent => Some("NONE"),
            ClientCert::Verified(_) => Some("SUCCESS"),
        }
    }

    /// Whether `route` lets this client through: a route that requires a
    /// certificate needs a verified one, and one whose allow-list is set needs a name
    /// on it.
    pub fn admitted_on(&self, route: &Route) -> Result<(), Refusal> {
        if !route.requires_client_cert() {
            return Ok(());
        }
        match self.identity() {
            None => Err(Refusal::client_cert_required()),
            Some(_) if route.allow_client_names.is_empty() => Ok(()),
            Some(id) if id.matches_any(&route.allow_client_names) => Ok(()),
            Some(_) => Err(Refusal::client_cert_not_allowed()),
        }
    }
}
