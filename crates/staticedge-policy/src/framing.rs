//! Request smuggling defence: an HTTP/1 request whose body framing two servers could
//! read differently is refused with 400 before anything reaches the upstream.
//!
//! The check runs on the raw header bytes, before any engine parses them: pingora's
//! parser quietly drops Content-Length when Transfer-Encoding is present, which would
//! hide exactly the ambiguity that must be refused.

/// Why a request's framing is ambiguous.
pub type FramingError = &'static str;

/// Checks a complete raw HTTP/1 request header, and says where the first request in
/// `raw` ends (header and Content-Length body) when that is known from its header:
/// `None` for a chunked body or a header that is not complete. Bytes past the end are
/// the client's next, pipelined request. Headers that do not parse are left to the
/// engine's parser (which answers 400 itself). One parse serves both answers: this
/// runs for every HTTP/1 request.
pub fn check_raw_h1_header(raw: &[u8]) -> Result<Option<usize>, FramingError> {
    let mut headers = [httparse::EMPTY_HEADER; 256];
    let mut req = httparse::Request::new(&mut headers);
    let header_len = match req.parse(raw) {
        Ok(httparse::Status::Complete(n)) => n,
        // obs-fold and other malformed headers are refused by httparse
        Err(httparse::Error::HeaderName) | Err(httparse::Error::HeaderValue) => {
            return Err("malformed header line (obs-fold or invalid characters)")
        }
        _ => return Ok(None),
    };
    let http10 = req.version == Some(0);
    check_framing(http10, req.headers.iter().map(|h| (h.name, h.value)))?;
    let chunked = req
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("transfer-encoding"));
    if chunked {
        check_chunked_prefix(&raw[header_len..])?;
        return Ok(None);
    }
    // check_framing let at most one Content-Length through, and only digits.
    let body: Option<usize> = match req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
    {
        Some(h) => std::str::from_utf8(h.value)
            .ok()
            .and_then(|v| v.trim().parse().ok()),
        None => Some(0),
    };
    Ok(body.and_then(|b| header_len.checked_add(b)))
}

/// Checks the chunked body bytes that arrived with the header (a smuggling attempt
/// arrives in one piece): a bad chunk size is refused before the upstream is asked.
/// What has not arrived yet is the engine's to check while streaming.
pub fn check_chunked_prefix(mut body: &[u8]) -> Result<(), FramingError> {
    const BAD: FramingError = "invalid chunk size";
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n");
        let line = match line_end {
            Some(i) => &body[..i],
            None => body,
        };
        let size_part = line.split(|&b| b == b';').next().unwrap_or_default();
        let size_part = size_part.trim_ascii_end();
        if !size_part.iter().all(u8::is_ascii_hexdigit) || size_part.len() > 16 {
            return Err(BAD);
        }
        let Some(i) = line_end else { return Ok(()) };
        if size_part.is_empty() {
            return Err(BAD);
        }
        let size = u64::from_str_radix(std::str::from_utf8(size_part).map_err(|_| BAD)?, 16)
            .map_err(|_| BAD)?;
        if size == 0 {
            return Ok(()); // trailers follow; the engine parses them
        }
        let rest = &body[i + 2..];
        let Ok(size) = usize::try_from(size) else {
            return Ok(());
        };
        if rest.len() < size + 2 {
            return Ok(());
        }
        if &rest[size..size + 2] != b"\r\n" {
            return Err("chunk data longer than its size");
        }
        body = &rest[size + 2..];
    }
}

/// The framing rules over (name, value) pairs.
pub fn check_framing<'a>(
    http10: bool,
    headers: impl Iterator<Item = (&'a str, &'a [u8])>,
) -> Result<(), FramingError> {
    let mut te: Vec<&[u8]> = Vec::new();
    let mut cl: Vec<&[u8]> = Vec::new();
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("transfer-encoding") {
            te.push(value);
        } else if name.eq_ignore_ascii_case("content-length") {
            cl.push(value);
        }
    }
    if !te.is_empty() {
        if http10 {
            return Err("Transfer-Encoding on HTTP/1.0");
        }
        if !cl.is_empty() {
            return Err("both Content-Length and Transfer-Encoding");
        }
        if te.len() > 1 {
            return Err("more than one Transfer-Encoding header");
        }
        if !te[0].trim_ascii().eq_ignore_ascii_case(b"chunked") {
            return Err("Transfer-Encoding other than exactly \"chunked\"");
        }
    }
    if cl.len() > 1 {
        return Err("more than one Content-Length header");
    }
    if let Some(v) = cl.first() {
        let v = v.trim_ascii();
        if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
            return Err("Content-Length is not a plain number");
        }
    }
    Ok(())
}

/// The method and path of a raw request header, when its request line is complete:
/// what the access log records for a request refused before it was parsed.
pub fn request_line(raw: &[u8]) -> Option<(&str, &str)> {
    let mut headers = [httparse::EMPTY_HEADER; 0];
    let mut req = httparse::Request::new(&mut headers);
    // Too many headers for the empty array is fine: the request line is parsed first.
    let _ = req.parse(raw);
    Some((req.method?, req.path?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(first: &str, headers: &[&str]) -> Vec<u8> {
        let mut s = format!("{first}\r\nHost: a.test\r\n");
        for h in headers {
            s.push_str(h);
            s.push_str("\r\n");
        }
        s.push_str("\r\n");
        s.into_bytes()
    }

    #[test]
    fn a_request_ends_after_its_declared_body() {
        let request_len = |raw: &[u8]| check_raw_h1_header(raw).ok().flatten();
        let get = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(request_len(get), Some(get.len()));
        let post = b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /next";
        assert_eq!(request_len(post), Some(post.len() - 9));
        assert_eq!(
            request_len(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            None
        );
        assert_eq!(request_len(b"GET / HTTP/1.1\r\nHost: a\r\n"), None);
    }

    #[test]
    fn the_request_line_is_read_even_when_the_rest_is_not() {
        assert_eq!(
            request_line(b"GET /a?b HTTP/1.1\r\nX: 1\r\n\r\n"),
            Some(("GET", "/a?b"))
        );
        assert_eq!(
            request_line(b"POST /p HTTP/1.1\r\nHost"),
            Some(("POST", "/p"))
        );
        assert_eq!(request_line(b"GE"), None);
        assert_eq!(request_line(b""), None);
    }

    const P11: &str = "POST / HTTP/1.1";
    const P10: &str = "POST / HTTP/1.0";

    #[test]
    fn unambiguous_framing_passes() {
        let ok = [
            req(P11, &[]),
            req(P11, &["Content-Length: 12"]),
            req(P11, &["Transfer-Encoding: chunked"]),
            req(P11, &["transfer-encoding: Chunked "]),
            req(P10, &["Content-Length: 0"]),
            b"GET / HTTP/1.1\r\nHost: a".to_vec(), // incomplete: pingora decides
            [
                req(P11, &["Transfer-Encoding: chunked"]),
                b"5;ext=1\r\nhello\r\n0\r\n\r\n".to_vec(),
            ]
            .concat(),
            [
                req(P11, &["Transfer-Encoding: chunked"]),
                b"5\r\nhel".to_vec(),
            ]
            .concat(),
            [req(P11, &["Transfer-Encoding: chunked"]), b"1".to_vec()].concat(),
        ];
        for r in &ok {
            assert_eq!(
                check_raw_h1_header(r).map(|_| ()),
                Ok(()),
                "{}",
                String::from_utf8_lossy(r)
            );
        }
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        let bad = [
            req(P11, &["Content-Length: 5", "Transfer-Encoding: chunked"]),
            req(P11, &["Transfer-Encoding: chunked", "Content-Length: 5"]),
            req(P11, &["Content-Length: 5", "Content-Length: 6"]),
            req(P11, &["Content-Length: 5", "Content-Length: 5"]),
            req(P11, &["Content-Length: 5, 5"]),
            req(P11, &["Content-Length: -1"]),
            req(
                P11,
                &["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
            ),
            req(P11, &["Transfer-Encoding: gzip, chunked"]),
            req(P11, &["Transfer-Encoding: xchunked"]),
            req(P10, &["Transfer-Encoding: chunked"]),
            req(P11, &["X-A: a", " folded", "Content-Length: 0"]),
            [
                req(P11, &["Transfer-Encoding: chunked"]),
                b"zz\r\nhello\r\n0\r\n\r\n".to_vec(),
            ]
            .concat(),
            [
                req(P11, &["Transfer-Encoding: chunked"]),
                b"3\r\nhello\r\n0\r\n\r\n".to_vec(),
            ]
            .concat(),
            [
                req(P11, &["Transfer-Encoding: chunked"]),
                b"\r\nhello".to_vec(),
            ]
            .concat(),
            [
                req(P11, &["Transfer-Encoding: chunked"]),
                b"-5\r\n".to_vec(),
            ]
            .concat(),
        ];
        for r in &bad {
            assert!(
                check_raw_h1_header(r).is_err(),
                "{} must be refused",
                String::from_utf8_lossy(r)
            );
        }
    }
}
