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
    /// The same target as the upstream request's URI; it reads back as `path`.
    pub uri: http::Uri,
    /// True for HTTP/1.1, false for HTTP/1.0.
    pub http11: bool,
    /// The header fields, as sent.
    pub headers: &'b [httparse::Header<'b>],
    /// Bytes of the header block, request line included.
    pub len: usize,
    /// The declared body length (0 when none).
    pub content_length: u64,
    /// Whether a Content-Length was declared.
    pub has_length: bool,
    /// The body is chunked (`Transfer-Encoding: chunked`, no Content-Length): the
    /// lean path buffers it whole before forwarding.
    pub chunked: bool,
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
/// that is not origin-form, `Upgrade`, `Expect`, a `Transfer-Encoding` other than
/// one `chunked` (or with a Content-Length), a body over
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
    // Only a target that `http::Uri` reads back byte for byte: no fragment, nothing
    // it would normalise, so routing, the log and the upstream all see one path.
    let uri: http::Uri = path.parse().ok()?;
    if uri.path_and_query().map(|p| p.as_str()) != Some(path) {
        return None;
    }
    let headers: &'b [httparse::Header<'b>] = req.headers;
    let Fields {
        host,
        content_length,
        chunked,
        close,
    } = fields(headers, version == 0)?;
    if chunked && (content_length.is_some() || version == 0) {
        return None;
    }
    let has_length = content_length.is_some();
    let content_length = content_length.unwrap_or(0);
    if content_length > MAX_BUFFERED_BODY {
        return None;
    }
    Some(Head {
        method,
        path,
        uri,
        http11: version == 1,
        headers,
        len,
        content_length,
        has_length,
        chunked,
        host: host.unwrap_or(""),
        close,
    })
}

/// What the lean path needs from the header fields, or `None` for the slow path.
struct Fields<'b> {
    host: Option<&'b str>,
    content_length: Option<u64>,
    chunked: bool,
    close: bool,
}

/// Reads Host, Content-Length and Connection; `None` for anything the lean path
/// leaves to pingora (`Upgrade`, `Expect`, a `Transfer-Encoding` other than one
/// `chunked`, repeated Host or Content-Length, a Content-Length that is not a
/// number).
fn fields<'b>(headers: &'b [httparse::Header<'b>], http10: bool) -> Option<Fields<'b>> {
    let mut f = Fields {
        host: None,
        content_length: None,
        chunked: false,
        close: http10,
    };
    for h in headers {
        let name = h.name;
        if ["upgrade", "expect"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            return None;
        }
        if name.eq_ignore_ascii_case("transfer-encoding") {
            if f.chunked || !h.value.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return None;
            }
            f.chunked = true;
        } else if name.eq_ignore_ascii_case("host") {
            if f.host.is_some() {
                return None;
            }
            f.host = Some(std::str::from_utf8(h.value).ok()?);
        } else if name.eq_ignore_ascii_case("content-length") {
            if f.content_length.is_some() {
                return None;
            }
            let text = std::str::from_utf8(h.value).ok()?;
            f.content_length = Some(text.trim().parse::<u64>().ok()?);
        } else if name.eq_ignore_ascii_case("connection") {
            for t in std::str::from_utf8(h.value).ok()?.split(',').map(str::trim) {
                if t.eq_ignore_ascii_case("close") {
                    f.close = true;
                } else if t.eq_ignore_ascii_case("keep-alive") && http10 {
                    f.close = false;
                }
            }
        }
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the lean path read from a request header, owned: for the differential test,
    /// which holds it against pingora's own parser.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct LeanHead {
        /// The method.
        method: String,
        /// Path and query.
        path: String,
        /// The Host header ("" when absent).
        host: String,
        /// The declared body length (0 when none).
        content_length: u64,
    }

    /// The lean path's reading of `raw`, or `None` when it would hand the request to
    /// pingora's path.
    fn lean_head(raw: &[u8]) -> Option<LeanHead> {
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let head = parse(raw, &mut storage)?;
        Some(LeanHead {
            method: head.method.to_string(),
            path: head.path.to_string(),
            host: head.host.to_string(),
            content_length: head.content_length,
        })
    }

    /// pingora's reading of the same bytes (its v1 server session), in the same terms:
    /// `None` when pingora refuses the header.
    fn pingora_head(raw: &[u8]) -> Option<LeanHead> {
        let runtime = tokio::runtime::Builder::new_current_thread().build().ok()?;
        pingora_head_on(&runtime, raw)
    }

    fn pingora_head_on(runtime: &tokio::runtime::Runtime, raw: &[u8]) -> Option<LeanHead> {
        use pingora::protocols::http::v1::server::HttpSession;
        runtime.block_on(async {
            let mut session = HttpSession::new(Box::new(std::io::Cursor::new(raw.to_vec())));
            session.read_request().await.ok()??;
            let req = session.req_header();
            let text = |n: &str| {
                req.headers
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string()
            };
            Some(LeanHead {
                method: req.method.as_str().to_string(),
                path: req.uri.path_and_query().map(|p| p.as_str().to_string())?,
                host: text("host"),
                content_length: text("content-length").trim().parse().unwrap_or(0),
            })
        })
    }

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
    fn whatever_the_lean_path_takes_pingora_reads_the_same() {
        let cases = [
            "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /a%20b?c=d&e HTTP/1.1\r\nHost: api.example.test:8443\r\n\r\n",
            "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length:  12 \r\n\r\n",
            "GET / HTTP/1.0\r\n\r\n",
            "get / HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost:a\r\nX:\r\n\r\n",
            "GET / HTTP/1.1\nHost: a\n\n",
            "GET /\u{e9} HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nX-A: \u{80}\u{ff}\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET //double HTTP/1.1\r\nHost: a\r\n\r\n",
        ];
        for raw in cases {
            if let Some(lean) = lean_head(raw.as_bytes()) {
                assert_eq!(Some(lean), pingora_head(raw.as_bytes()), "{raw:?}");
            }
        }
    }

    /// A bounded differential run: 20,000 seeded mutations of valid requests (bytes
    /// flipped, inserted, removed, lines duplicated); whenever the lean path takes the
    /// result, pingora must read the same method, path, Host and length.
    #[test]
    fn mutated_requests_never_split_the_two_parsers() {
        let seeds: [&[u8]; 3] = [
            b"GET /a?b=1 HTTP/1.1\r\nHost: api.example.test\r\nAccept: */*\r\n\r\n",
            b"POST /form HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc",
            b"HEAD / HTTP/1.0\r\nHost: b.test:8080\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
        ];
        let interesting = b" \t\r\n:;,/?#%\x00\x7f\x80\xffHhCcLl0123456789-";
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        let mut compared = 0;
        for _ in 0..20_000 {
            let mut raw = seeds[rng.usize(..seeds.len())].to_vec();
            for _ in 0..rng.usize(1..4) {
                let at = rng.usize(..raw.len());
                let byte = interesting[rng.usize(..interesting.len())];
                match rng.u8(..4) {
                    0 => raw[at] = byte,
                    1 => raw.insert(at, byte),
                    2 => {
                        raw.remove(at);
                    }
                    _ => {
                        let line: Vec<u8> = raw[at..]
                            .iter()
                            .take_while(|&&b| b != b'\n')
                            .copied()
                            .collect();
                        raw.splice(at..at, line);
                    }
                }
                if raw.is_empty() {
                    raw.push(b'G');
                }
            }
            if let Some(lean) = lean_head(&raw) {
                compared += 1;
                let pingora = pingora_head_on(&runtime, &raw);
                assert_eq!(Some(lean), pingora, "{:?}", String::from_utf8_lossy(&raw));
            }
        }
        assert!(
            compared > 2_000,
            "only {compared} mutations reached the lean path"
        );
    }

    #[test]
    fn unusual_requests_take_the_slow_path() {
        let slow = [
            "GET / HTTP/1.1\r\nHost: a\r\n",
            "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET /a#fragment HTTP/1.1\r\nHost: a\r\n\r\n",
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

    #[test]
    fn a_plain_chunked_body_takes_the_lean_path_to_be_buffered() {
        let raw = b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  Chunked \r\n\r\n5\r\n";
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let head = parse(raw, &mut storage).expect("lean");
        assert!(head.chunked && !head.has_length);
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let sized = parse(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
            &mut storage,
        )
        .expect("lean");
        assert!(!sized.chunked && sized.has_length);
    }
}
