//! Reading one HTTP/1 request header for the lean path, and deciding whether the
//! lean path may serve it. Anything unusual is left to pingora's `HttpProxy`.

use staticedge_policy::HopByHop;

/// Headers parsed on the stack; a request with more goes to the slow path.
pub(crate) const MAX_HEADERS: usize = 100;

/// Request bodies the lean path buffers whole before forwarding; larger ones take
/// the slow path, which streams them.
pub(crate) const MAX_BUFFERED_BODY: u64 = 1024 * 1024;

/// One parsed request header, borrowing the connection's read buffer.
pub(crate) struct Head<'b> {
    /// The request method.
    pub method: &'b str,
    /// Path and query (origin-form).
    pub path: &'b str,
    /// True for HTTP/1.1, false for HTTP/1.0.
    pub http11: bool,
    /// The header fields, as sent.
    pub headers: &'b [httparse::Header<'b>],
    /// Bytes of the header block, request line included.
    pub len: usize,
    /// The declared body length (0 when none).
    pub content_length: u64,
    /// The Host header, or "" when there is none.
    pub host: &'b str,
    /// Whether the client asked to close after this request.
    pub close: bool,
}

impl Head<'_> {
    /// The first value of header `name`, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    }

    /// The hop-by-hop headers of this request.
    pub fn hop_by_hop(&self) -> HopByHop {
        HopByHop::from_connection(
            self.headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case("connection"))
                .filter_map(|h| std::str::from_utf8(h.value).ok()),
        )
    }
}

/// Parses `buf` as a request the lean path can serve, or `None` for the slow path:
/// an incomplete or malformed header (pingora answers it), `CONNECT` or a target
/// that is not origin-form, `Upgrade`, `Expect`, `Transfer-Encoding`, a body over
/// [`MAX_BUFFERED_BODY`], several Host or Content-Length headers, or more than
/// [`MAX_HEADERS`] fields.
pub(crate) fn parse<'b>(
    buf: &'b [u8],
    storage: &'b mut [httparse::Header<'b>; MAX_HEADERS],
) -> Option<Head<'b>> {
    let mut req = httparse::Request::new(storage);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return None,
    };
    let (method, path, version) = (req.method?, req.path?, req.version?);
    if method == "CONNECT" || !path.starts_with('/') {
        return None;
    }
    let headers: &'b [httparse::Header<'b>] = req.headers;
    let mut host = None;
    let mut content_length = None;
    let mut close = version == 0;
    for h in headers {
        let name = h.name;
        if ["upgrade", "expect", "transfer-encoding"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            return None;
        }
        if name.eq_ignore_ascii_case("host") {
            if host.is_some() {
                return None;
            }
            host = Some(std::str::from_utf8(h.value).ok()?);
        } else if name.eq_ignore_ascii_case("content-length") {
            if content_length.is_some() {
                return None;
            }
            content_length = Some(
                std::str::from_utf8(h.value)
                    .ok()?
                    .trim()
                    .parse::<u64>()
                    .ok()?,
            );
        } else if name.eq_ignore_ascii_case("connection") {
            let tokens = std::str::from_utf8(h.value).ok()?;
            for t in tokens.split(',').map(str::trim) {
                if t.eq_ignore_ascii_case("close") {
                    close = true;
                } else if t.eq_ignore_ascii_case("keep-alive") && version == 0 {
                    close = false;
                }
            }
        }
    }
    let content_length = content_length.unwrap_or(0);
    if content_length > MAX_BUFFERED_BODY {
        return None;
    }
    Some(Head {
        method,
        path,
        http11: version == 1,
        headers,
        len,
        content_length,
        host: host.unwrap_or(""),
        close,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lean(raw: &str) -> bool {
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        parse(raw.as_bytes(), &mut storage).is_some()
    }

    #[test]
    fn plain_requests_take_the_lean_path() {
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let raw = b"POST /a?b=1 HTTP/1.1\r\nHost: api.test\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
        let head = parse(raw, &mut storage).expect("lean");
        assert_eq!(
            (head.method, head.path, head.host),
            ("POST", "/a?b=1", "api.test")
        );
        assert_eq!(
            (head.content_length, head.close, head.http11),
            (3, true, true)
        );
        assert_eq!(&raw[head.len..], b"abc");
        assert!(lean("GET / HTTP/1.0\r\nHost: a\r\n\r\n"));
    }

    #[test]
    fn http10_closes_unless_it_asks_for_keep_alive() {
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let head = parse(b"GET / HTTP/1.0\r\nHost: a\r\n\r\n", &mut storage).expect("lean");
        assert!(head.close && !head.http11);
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let head = parse(
            b"GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
            &mut storage,
        )
        .expect("lean");
        assert!(!head.close);
    }

    #[test]
    fn unusual_requests_take_the_slow_path() {
        let slow = [
            "GET / HTTP/1.1\r\nHost: a\r\n",
            "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ];
        for raw in slow {
            assert!(!lean(raw), "{raw:?} must take the slow path");
        }
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "X: 1\r\n".repeat(MAX_HEADERS + 1)
        );
        assert!(!lean(&many));
    }
}
