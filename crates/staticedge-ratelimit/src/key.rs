//! Whose requests share a bucket.

use staticedge_config::RateLimitKey;
use std::net::IpAddr;

/// The bucket a request is counted in, built from the route's `rate_limit.key`.
///
/// Small and `Copy` (at most 33 bytes) so that looking a bucket up costs no
/// allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// The client's address (the PROXY header's source behind an NLB).
    Ip(IpAddr),
    /// The SHA-256 fingerprint of the client's verified certificate.
    Cert([u8; 32]),
    /// The whole route: every client shares one bucket.
    Route,
}

impl ClientKey {
    /// The key for one request under `kind`: `client_cert` counts a request without a
    /// verified certificate by its client address, as configured.
    pub fn for_request(
        kind: RateLimitKey,
        client_ip: IpAddr,
        cert_fingerprint: Option<[u8; 32]>,
    ) -> ClientKey {
        match (kind, cert_fingerprint) {
            (RateLimitKey::Route, _) => ClientKey::Route,
            (RateLimitKey::ClientCert, Some(fingerprint)) => ClientKey::Cert(fingerprint),
            (RateLimitKey::ClientCert, None) | (RateLimitKey::ClientIp, _) => {
                ClientKey::Ip(client_ip)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_kind_picks_its_bucket() {
        let ip: IpAddr = "192.0.2.7".parse().expect("ip");
        let fp = [7u8; 32];
        let cases = [
            (RateLimitKey::ClientIp, Some(fp), ClientKey::Ip(ip)),
            (RateLimitKey::ClientIp, None, ClientKey::Ip(ip)),
            (RateLimitKey::ClientCert, Some(fp), ClientKey::Cert(fp)),
            (RateLimitKey::ClientCert, None, ClientKey::Ip(ip)),
            (RateLimitKey::Route, Some(fp), ClientKey::Route),
            (RateLimitKey::Route, None, ClientKey::Route),
        ];
        for (kind, fingerprint, expected) in cases {
            assert_eq!(
                ClientKey::for_request(kind, ip, fingerprint),
                expected,
                "{kind:?} with {fingerprint:?}"
            );
        }
    }
}
