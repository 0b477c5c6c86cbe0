//! Before the TLS handshake: the PROXY protocol v2 header an NLB (or HAProxy) may put
//! in front of the client's bytes. The client address it carries replaces the socket
//! peer, so X-Forwarded-For, the access log and allow-lists see the real client.

use pingora::protocols::l4::socket::SocketAddr as PSocketAddr;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::{GetSocketDigest, SocketDigest};
use staticedge_config::ProxyProtocolMode;
use staticedge_metrics::METRICS;
use staticedge_proxy_protocol::{header_len, parse, Header, ParseError, PREFIX_LEN};
use std::os::unix::io::AsRawFd;
use tokio::io::AsyncReadExt;

/// Reads and applies the PROXY header per `mode`. `Err` means: close the connection.
pub async fn accept_proxy_header(
    stream: &mut L4Stream,
    mode: ProxyProtocolMode,
) -> Result<Option<Header>, String> {
    if mode == ProxyProtocolMode::Off {
        return Ok(None);
    }
    let mut prefix = [0u8; PREFIX_LEN];
    // A connection closed before its first byte (a TCP health check, our own
    // readiness probe) is not a PROXY protocol error.
    let first = stream
        .read(&mut prefix)
        .await
        .map_err(|e| format!("reading the PROXY header: {e}"))?;
    if first == 0 {
        return Err("closed before sending anything".into());
    }
    stream
        .read_exact(&mut prefix[first..])
        .await
        .map_err(|e| reject("read", format!("reading the PROXY header: {e}")))?;
    let len = match header_len(&prefix) {
        Ok(len) => len,
        Err(ParseError::NoSignature) if mode == ProxyProtocolMode::Optional => {
            stream.rewind(&prefix);
            return Ok(None);
        }
        Err(ParseError::NoSignature) => {
            return Err(reject(
                "missing",
                "PROXY header required but not sent".into(),
            ))
        }
        Err(e) => return Err(reject("malformed", e.to_string())),
    };
    let mut whole = vec![0u8; len];
    whole[..PREFIX_LEN].copy_from_slice(&prefix);
    stream
        .read_exact(&mut whole[PREFIX_LEN..])
        .await
        .map_err(|e| reject("read", format!("reading the PROXY header: {e}")))?;
    let (header, _) = parse(&whole).map_err(|e| reject("malformed", e.to_string()))?;
    if let Header::Proxy { source, .. } = header {
        let digest = SocketDigest::from_raw_fd(stream.as_raw_fd());
        let _ = digest.peer_addr.set(Some(PSocketAddr::Inet(source)));
        stream.set_socket_digest(digest);
    }
    Ok(Some(header))
}

fn reject(reason: &'static str, message: String) -> String {
    METRICS
        .proxy_protocol_rejected
        .with_label_values(&[reason])
        .inc();
    message
}
