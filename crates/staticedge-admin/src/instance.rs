//! Which EC2 instance and Availability Zone this is, asked once of the instance
//! metadata service (IMDSv2) in the background at start, so that a page reached
//! through an SSM port forward says which instance of the fleet it describes.
//!
//! Optional: off EC2 the lookup fails within a few seconds and the identity stays
//! absent. `STATICEDGE_IMDS_URL` points it elsewhere (a loopback stand-in in tests);
//! `off` (or an empty value) turns it off.

use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use pingora::upstreams::peer::HttpPeer;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tracing::{debug, info};

/// The environment variable naming the metadata service's base URL.
pub const IMDS_URL_VAR: &str = "STATICEDGE_IMDS_URL";

/// Where EC2's metadata service answers.
const DEFAULT_IMDS_URL: &str = "http://169.254.169.254";

/// The whole lookup (token, instance id, zone) gives up after this long.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// What the metadata service said about this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceIdentity {
    /// `i-...`
    pub instance_id: String,
    /// e.g. `us-east-1a`; `None` when only the id could be read.
    pub availability_zone: Option<String>,
}

/// The identity once the background lookup found it; empty before, and for good when
/// it failed (not on EC2, metadata service off).
#[derive(Debug, Default)]
pub struct InstanceLookup {
    found: OnceLock<InstanceIdentity>,
}

impl InstanceLookup {
    /// The identity, when known.
    pub fn identity(&self) -> Option<&InstanceIdentity> {
        self.found.get()
    }

    /// Records the identity (the first one wins).
    pub fn set(&self, identity: InstanceIdentity) {
        let _ = self.found.set(identity);
    }
}

/// The metadata service's base URL from the environment: `None` when turned off.
fn base_url() -> Option<String> {
    match std::env::var(IMDS_URL_VAR) {
        Ok(v) if v.trim().is_empty() || v.trim().eq_ignore_ascii_case("off") => None,
        Ok(v) => Some(v.trim().trim_end_matches('/').to_string()),
        Err(_) => Some(DEFAULT_IMDS_URL.to_string()),
    }
}

/// Starts the lookup on a thread of its own; `lookup` is filled when it succeeds.
pub fn start_lookup(lookup: Arc<InstanceLookup>) {
    let Some(url) = base_url() else {
        debug!("instance metadata lookup turned off ({IMDS_URL_VAR})");
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("staticedge-imds".into())
        .spawn(move || match identify_within(&url, LOOKUP_TIMEOUT) {
            Ok(identity) => {
                info!(instance_id = %identity.instance_id, availability_zone = ?identity.availability_zone, "instance identity from the metadata service");
                lookup.set(identity);
            }
            Err(e) => debug!(url = %url, error = %e, "no instance metadata (not on EC2?)"),
        });
    if let Err(e) = spawned {
        debug!(error = %e, "cannot start the instance metadata lookup");
    }
}

/// [`identify`] on a runtime of its own, giving up after `limit`.
fn identify_within(url: &str, limit: Duration) -> Result<InstanceIdentity, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("no runtime: {e}"))?;
    runtime.block_on(async {
        tokio::time::timeout(limit, identify(url))
            .await
            .map_err(|_| format!("no answer within {limit:?}"))?
    })
}

/// Where the metadata service is: its socket address and the Host to send.
fn endpoint(url: &str) -> Result<(SocketAddr, String), String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("{url}: only http:// is supported"));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| format!("{url}: no host"))?
        .clone();
    let port = authority.port_u16().unwrap_or(80);
    let addr = (authority.host().trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .map_err(|e| format!("{url}: {e}"))?
        .next()
        .ok_or_else(|| format!("{url}: no address"))?;
    Ok((addr, authority.to_string()))
}

/// IMDSv2: a session token first, then the instance id and the zone with it.
async fn identify(url: &str) -> Result<InstanceIdentity, String> {
    let (addr, host) = endpoint(url)?;
    let connector = Connector::new(None);
    let ask = |method: &'static str, path: &'static str, header: (&'static str, String)| {
        let (connector, host) = (&connector, host.clone());
        async move { one_request(connector, addr, &host, method, path, header).await }
    };
    let token = ask(
        "PUT",
        "/latest/api/token",
        ("x-aws-ec2-metadata-token-ttl-seconds", "60".into()),
    )
    .await?;
    let with_token = ("x-aws-ec2-metadata-token", token);
    let instance_id = ask("GET", "/latest/meta-data/instance-id", with_token.clone()).await?;
    let availability_zone = ask(
        "GET",
        "/latest/meta-data/placement/availability-zone",
        with_token,
    )
    .await
    .ok();
    Ok(InstanceIdentity {
        instance_id,
        availability_zone,
    })
}

/// One request; the body when the answer is 200 and a short printable token.
async fn one_request(
    connector: &Connector,
    addr: SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    (name, value): (&'static str, String),
) -> Result<String, String> {
    let mut peer = HttpPeer::new(addr, false, String::new());
    peer.options.connection_timeout = Some(Duration::from_secs(1));
    peer.options.read_timeout = Some(Duration::from_secs(2));
    peer.options.idle_timeout = Some(Duration::ZERO);
    let (mut session, _) = connector
        .get_http_session(&peer)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let mut req = RequestHeader::build(method, path.as_bytes(), None).map_err(|e| e.to_string())?;
    for (header, v) in [
        ("host", host.to_string()),
        (name, value),
        ("content-length", "0".into()),
    ] {
        req.insert_header(header, v).map_err(|e| e.to_string())?;
    }
    session
        .write_request_header(Box::new(req))
        .await
        .map_err(|e| e.to_string())?;
    session
        .finish_request_body()
        .await
        .map_err(|e| e.to_string())?;
    session
        .read_response_header()
        .await
        .map_err(|e| e.to_string())?;
    let status = session.response_header().map(|r| r.status.as_u16());
    if status != Some(200) {
        return Err(format!("{method} {path}: status {status:?}"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = session
        .read_response_body()
        .await
        .map_err(|e| e.to_string())?
    {
        body.extend_from_slice(&chunk);
        if body.len() > 1024 {
            return Err(format!("{method} {path}: answer too long"));
        }
    }
    short_token(&body).ok_or_else(|| format!("{method} {path}: not a short token"))
}

/// The answer when it is one short line of printable ASCII (ids, zones, tokens).
fn short_token(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?.trim();
    let plausible =
        !text.is_empty() && text.len() <= 256 && text.bytes().all(|b| b.is_ascii_graphic());
    plausible.then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A loopback IMDSv2 stand-in answering `answers` connections, one request each.
    fn stand_in(answers: usize) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let server = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..answers {
                let Ok((mut conn, _)) = listener.accept() else {
                    break;
                };
                let mut buf = [0u8; 2048];
                let n = conn.read(&mut buf).unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_lowercase();
                let body = if request.starts_with("put /latest/api/token") {
                    "tok-1"
                } else if !request.contains("x-aws-ec2-metadata-token: tok-1") {
                    ""
                } else if request.contains("/instance-id ") {
                    "i-0abc"
                } else {
                    "eu-west-1b"
                };
                let status = if body.is_empty() { "401 No" } else { "200 OK" };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                seen.push(request.lines().next().unwrap_or_default().to_string());
            }
            seen
        });
        (url, server)
    }

    #[test]
    fn identity_comes_from_imdsv2_with_a_token() {
        let (url, server) = stand_in(3);
        let identity = identify_within(&url, LOOKUP_TIMEOUT).expect("identity");
        assert_eq!(
            identity,
            InstanceIdentity {
                instance_id: "i-0abc".into(),
                availability_zone: Some("eu-west-1b".into()),
            }
        );
        let seen = server.join().expect("stand-in");
        assert_eq!(seen[0], "put /latest/api/token http/1.1");
        assert_eq!(
            seen[2],
            "get /latest/meta-data/placement/availability-zone http/1.1"
        );
    }

    #[test]
    fn nothing_listening_means_no_identity_quickly() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        drop(listener);
        let started = std::time::Instant::now();
        assert!(identify_within(&url, LOOKUP_TIMEOUT).is_err());
        assert!(started.elapsed() < LOOKUP_TIMEOUT);
    }

    #[test]
    fn a_silent_metadata_service_is_given_up_on_in_time() {
        // accepts the connection but never answers
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let started = std::time::Instant::now();
        let result = identify_within(&url, Duration::from_millis(300));
        assert_eq!(result, Err("no answer within 300ms".to_string()));
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(listener);
    }

    #[test]
    fn only_short_printable_answers_are_taken() {
        assert_eq!(short_token(b"i-0abc\n"), Some("i-0abc".into()));
        assert_eq!(short_token(b"<html>\n<body>"), None);
        assert_eq!(short_token(b""), None);
        assert!(endpoint("https://169.254.169.254").is_err());
        assert_eq!(
            endpoint("http://127.0.0.1:8111").map(|(a, h)| (a.port(), h)),
            Ok((8111, "127.0.0.1:8111".to_string()))
        );
    }
}
