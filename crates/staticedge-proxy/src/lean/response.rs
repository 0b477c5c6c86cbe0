//! Writing the upstream's response back to the client on the lean path: the status
//! line and headers as bytes (hop-by-hop fields dropped, `X-Request-Id` added), then
//! the body framed for this client: as declared, chunked, or close-delimited.

use super::request::Head;
use bytes::{BufMut, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::Response;
use pingora::protocols::Stream;
use staticedge_policy::HopByHop;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// How the response body is delimited for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// HEAD, 1xx, 204, 304: a header only, whatever it declares.
    None,
    /// The upstream declared a Content-Length: forwarded as is.
    Length,
    /// No length and an HTTP/1.1 client: chunked.
    Chunked,
    /// No length and an HTTP/1.0 client: the body ends when the connection closes.
    UntilClose,
}

fn framing(method: &str, status: u16, has_length: bool, http11: bool) -> Framing {
    if method == "HEAD" || status < 200 || status == 204 || status == 304 {
        Framing::None
    } else if has_length {
        Framing::Length
    } else if http11 {
        Framing::Chunked
    } else {
        Framing::UntilClose
    }
}

/// What happened while relaying one response.
#[derive(Debug, Default)]
pub(crate) struct Relayed {
    /// The status sent to the client.
    pub status: u16,
    /// Body bytes written to the client.
    pub bytes_out: usize,
    /// The upstream body was read to its end: its connection can be reused.
    pub upstream_done: bool,
    /// Everything reached the client and the connection can carry another request.
    pub keep_alive: bool,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// Response headers that describe the upstream hop only.
const RESPONSE_HOP_BY_HOP: [&str; 4] = [
    "connection",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
];

/// The upstream response's header fields that go on to the client (both request
/// paths): hop-by-hop ones, fixed and those named in `Connection`, stay behind, and
/// so does `X-Request-Id` (the proxy's own replaces it).
pub(crate) fn client_fields(
    headers: &http::HeaderMap,
) -> impl Iterator<Item = (&http::HeaderName, &http::HeaderValue)> {
    let hop = HopByHop::from_connection(
        headers
            .get_all(http::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    headers.iter().filter(move |(name, _)| {
        let n = name.as_str();
        !(hop.drops(n) || RESPONSE_HOP_BY_HOP.contains(&n) || n == "x-request-id")
    })
}

/// The response header block for the client.
fn head_bytes(
    response: &Response<Incoming>,
    framing: Framing,
    request_id: &str,
    keep_alive: bool,
    http11_client: bool,
) -> BytesMut {
    let status = response.status();
    let mut out = BytesMut::with_capacity(512);
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(status.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.put_slice(b"\r\n");
    for (name, value) in client_fields(response.headers()) {
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"x-request-id: ");
    out.put_slice(request_id.as_bytes());
    out.put_slice(b"\r\n");
    if framing == Framing::Chunked {
        out.put_slice(b"transfer-encoding: chunked\r\n");
    }
    if !keep_alive {
        out.put_slice(b"connection: close\r\n");
    } else if !http11_client {
        out.put_slice(b"connection: keep-alive\r\n");
    }
    out.put_slice(b"\r\n");
    out
}

/// Relays `response` to the client. `keep_alive` is what the client and the drain
/// allow; a close-delimited body or any failure closes the connection anyway.
pub(crate) async fn relay(
    stream: &mut Stream,
    response: Response<Incoming>,
    request: &Head<'_>,
    request_id: &str,
    keep_alive: bool,
    read_timeout: Duration,
) -> Relayed {
    let status = response.status().as_u16();
    let has_length = response
        .headers()
        .contains_key(http::header::CONTENT_LENGTH);
    let framing = framing(request.method, status, has_length, request.http11);
    let keep_alive = keep_alive && framing != Framing::UntilClose;
    let mut out = head_bytes(&response, framing, request_id, keep_alive, request.http11);
    let mut relayed = Relayed {
        status,
        ..Relayed::default()
    };
    let mut body = response.into_body();
    if framing == Framing::None {
        relayed.upstream_done = hyper::body::Body::is_end_stream(&body);
    } else if !relay_body(
        stream,
        &mut body,
        framing,
        &mut out,
        &mut relayed,
        read_timeout,
    )
    .await
    {
        return relayed;
    }
    if framing == Framing::Chunked && relayed.upstream_done {
        out.put_slice(b"0\r\n\r\n");
    }
    let written = stream.write_all(&out).await.is_ok() && stream.flush().await.is_ok();
    relayed.keep_alive = written && keep_alive && relayed.error.is_none();
    relayed
}

/// Copies the body's frames into `out` with the client's framing, writing whenever
/// 16 KiB have gathered (a small response leaves in one write with its header).
/// False when the client went away.
async fn relay_body(
    stream: &mut Stream,
    body: &mut Incoming,
    framing: Framing,
    out: &mut BytesMut,
    relayed: &mut Relayed,
    read_timeout: Duration,
) -> bool {
    loop {
        let frame = match tokio::time::timeout(read_timeout, body.frame()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(None) => {
                relayed.upstream_done = true;
                return true;
            }
            Ok(Some(Err(e))) => {
                relayed.error = Some(format!("upstream body: {e}"));
                return true;
            }
            Err(_) => {
                relayed.error = Some(format!("upstream body: no data within {read_timeout:?}"));
                return true;
            }
        };
        // Trailers are not forwarded.
        let Some(data) = frame.into_data().ok().filter(|d| !d.is_empty()) else {
            continue;
        };
        relayed.bytes_out += data.len();
        if framing == Framing::Chunked {
            out.put_slice(format!("{:x}\r\n", data.len()).as_bytes());
            out.put_slice(&data);
            out.put_slice(b"\r\n");
        } else {
            out.put_slice(&data);
        }
        if out.len() >= 16 * 1024 {
            if stream.write_all(out).await.is_err() {
                return false;
            }
            out.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_framed_for_the_client() {
        assert_eq!(framing("HEAD", 200, true, true), Framing::None);
        assert_eq!(framing("GET", 204, false, true), Framing::None);
        assert_eq!(framing("GET", 304, true, true), Framing::None);
        assert_eq!(framing("GET", 200, true, true), Framing::Length);
        assert_eq!(framing("GET", 200, false, true), Framing::Chunked);
        assert_eq!(framing("GET", 200, false, false), Framing::UntilClose);
    }
}
