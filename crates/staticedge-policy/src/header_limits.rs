//! How large a request header may be: `limits.max_request_header_bytes`,
//! `max_request_headers` and `max_request_line_bytes`. A request over one of them is
//! answered `431` (`414` for the request line) and never forwarded.
//!
//! HTTP/1 is checked on the raw bytes while they arrive ([`H1HeaderScan`]), so the
//! connection front refuses a header as soon as it passes a limit instead of reading
//! all of it first. HTTP/2 headers are checked once decoded ([`check_h2`]): the h2
//! library refuses lists over the size advertised in `SETTINGS_MAX_HEADER_LIST_SIZE`
//! itself; this check adds the field count, the path (as the request line it becomes
//! upstream), and the size for connections that started before a reload lowered it.

use crate::Refusal;
use staticedge_config::HeaderLimits;

/// What [`H1HeaderScan::advance`] found in the bytes read so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H1Header {
    /// The header has not ended yet and is within every limit so far.
    Incomplete,
    /// The header ends after this many bytes (its final empty line included).
    Complete(usize),
}

/// An HTTP/1 request header checked against [`HeaderLimits`] as its bytes arrive.
/// Each call to [`H1HeaderScan::advance`] looks only at the bytes added since the
/// last one, so a header read in many pieces is scanned once.
///
/// The header ends at the first `\r\n\r\n` (what the front waits for); every line
/// end before it, `\n` or `\r\n`, ends a line, and each line after the request line
/// counts as one field.
#[derive(Debug, Clone)]
pub struct H1HeaderScan {
    limits: HeaderLimits,
    /// Bytes of the buffer already looked at.
    scanned: usize,
    /// Where the line being read starts.
    line_start: usize,
    /// Whether the request line has ended.
    request_line_done: bool,
    /// Header fields (lines after the request line) seen so far.
    fields: usize,
}

impl H1HeaderScan {
    /// A scan of a new request header under `limits`.
    pub fn new(limits: HeaderLimits) -> Self {
        H1HeaderScan {
            limits,
            scanned: 0,
            line_start: 0,
            request_line_done: false,
            fields: 0,
        }
    }

    /// Looks at the bytes of `buf` past those already scanned (`buf` only ever grows
    /// between calls). `Err` as soon as a limit is passed: the request line is longer
    /// than allowed (414), the header has more fields or more bytes than allowed
    /// (431), even before it ends.
    pub fn advance(&mut self, buf: &[u8]) -> Result<H1Header, Refusal> {
        while let Some(at) = buf[self.scanned..].iter().position(|&b| b == b'\n') {
            let end = self.scanned + at;
            self.scanned = end + 1;
            if let Some(done) = self.line_ended(buf, end)? {
                return Ok(done);
            }
        }
        self.scanned = buf.len();
        if !self.request_line_done && line_len(buf, self.line_start, buf.len()) > self.max_line() {
            return Err(Refusal::request_line_too_long(self.max_line()));
        }
        if buf.len() > self.limits.max_request_header_bytes {
            return Err(Refusal::header_too_large(
                self.limits.max_request_header_bytes,
            ));
        }
        Ok(H1Header::Incomplete)
    }

    fn max_line(&self) -> usize {
        self.limits.max_request_line_bytes
    }

    /// A line ended with the `\n` at `end`: the end of the header, a limit passed,
    /// or (`None`) go on.
    fn line_ended(&mut self, buf: &[u8], end: usize) -> Result<Option<H1Header>, Refusal> {
        let start = std::mem::replace(&mut self.line_start, end + 1);
        let header_end = end >= 3 && &buf[end - 3..=end] == b"\r\n\r\n";
        if header_end {
            let len = end + 1;
            if len > self.limits.max_request_header_bytes {
                return Err(Refusal::header_too_large(
                    self.limits.max_request_header_bytes,
                ));
            }
            return Ok(Some(H1Header::Complete(len)));
        }
        if !self.request_line_done {
            self.request_line_done = true;
            if line_len(buf, start, end) > self.max_line() {
                return Err(Refusal::request_line_too_long(self.max_line()));
            }
            return Ok(None);
        }
        self.fields += 1;
        if self.fields > self.limits.max_request_headers {
            return Err(Refusal::too_many_headers(self.limits.max_request_headers));
        }
        if end + 1 > self.limits.max_request_header_bytes {
            return Err(Refusal::header_too_large(
                self.limits.max_request_header_bytes,
            ));
        }
        Ok(None)
    }
}

/// The length of the line `buf[start..end]` without a `\r` before its end.
fn line_len(buf: &[u8], start: usize, end: usize) -> usize {
    let line = &buf[start..end];
    line.strip_suffix(b"\r").unwrap_or(line).len()
}

/// The size of one HTTP/2 header field as `SETTINGS_MAX_HEADER_LIST_SIZE` counts it
/// (RFC 9113, section 6.5.2): name and value plus 32 bytes of overhead. Pseudo-headers
/// (`:method`, `:path`, ...) count the same way, with their colon.
pub fn h2_field_size(name_len: usize, value_len: usize) -> usize {
    name_len + value_len + 32
}

/// The sizes of one decoded HTTP/2 request header, in the terms of the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H2HeaderSize {
    /// The request line the upstream receives for it, `METHOD PATH HTTP/1.1`
    /// (HTTP/2 has none of its own): see [`h2_request_line_len`].
    pub request_line: usize,
    /// The sum of [`h2_field_size`] over every field, pseudo-headers included.
    pub list_size: usize,
    /// The regular fields (pseudo-headers not counted).
    pub fields: usize,
}

/// The length of the HTTP/1.1 request line an HTTP/2 request becomes upstream:
/// method, space, path, and ` HTTP/1.1`.
pub fn h2_request_line_len(method: &str, path: &str) -> usize {
    method.len() + 1 + path.len() + " HTTP/1.1".len()
}

/// Checks a decoded HTTP/2 request header: a path that would make a request line over
/// the limit is 414, too many fields or too large a list 431. The answer is on that
/// stream alone; the connection stays open.
pub fn check_h2(limits: &HeaderLimits, size: &H2HeaderSize) -> Result<(), Refusal> {
    if size.request_line > limits.max_request_line_bytes {
        return Err(Refusal::request_line_too_long(limits.max_request_line_bytes).keeping());
    }
    if size.fields > limits.max_request_headers {
        return Err(Refusal::too_many_headers(limits.max_request_headers).keeping());
    }
    if size.list_size > limits.max_request_header_bytes {
        return Err(Refusal::header_too_large(limits.max_request_header_bytes).keeping());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeaderLimits = HeaderLimits {
        max_request_header_bytes: 1024,
        max_request_headers: 10,
        max_request_line_bytes: 100,
    };

    fn scan_whole(raw: &[u8]) -> Result<H1Header, Refusal> {
        H1HeaderScan::new(LIMITS).advance(raw)
    }

    /// `raw` fed in pieces of `step` bytes: the first verdict that is not Incomplete,
    /// and how many bytes had arrived then.
    fn scan_in_pieces(raw: &[u8], step: usize) -> (Result<H1Header, Refusal>, usize) {
        let mut scan = H1HeaderScan::new(LIMITS);
        let mut end = 0;
        loop {
            end = (end + step).min(raw.len());
            match scan.advance(&raw[..end]) {
                Ok(H1Header::Incomplete) if end < raw.len() => continue,
                verdict => return (verdict, end),
            }
        }
    }

    fn request(target_len: usize, fields: usize, value_len: usize) -> Vec<u8> {
        let mut s = format!("GET /{} HTTP/1.1\r\n", "a".repeat(target_len - 1));
        for i in 0..fields {
            s.push_str(&format!("x-{i:03}: {}\r\n", "v".repeat(value_len)));
        }
        s.push_str("\r\n");
        s.into_bytes()
    }

    fn status(verdict: Result<H1Header, Refusal>) -> u16 {
        match verdict {
            Ok(H1Header::Complete(_)) => 200,
            Ok(H1Header::Incomplete) => 0,
            Err(r) => r.status,
        }
    }

    #[test]
    fn a_header_within_every_limit_is_complete_at_its_end() {
        let raw = [request(10, 3, 5), b"body".to_vec()].concat();
        assert_eq!(
            scan_whole(&raw),
            Ok(H1Header::Complete(raw.len() - 4)),
            "the body is not part of the header"
        );
        for step in [1, 2, 7, 100] {
            assert_eq!(
                scan_in_pieces(&raw, step).0,
                Ok(H1Header::Complete(raw.len() - 4))
            );
        }
        assert_eq!(
            scan_whole(b"GET / HTTP/1.1\r\nHost: a"),
            Ok(H1Header::Incomplete)
        );
    }

    #[test]
    fn each_limit_is_exact() {
        // request line: "GET " + target + " HTTP/1.1" = 13 + target bytes
        assert_eq!(status(scan_whole(&request(87, 1, 1))), 200);
        assert_eq!(status(scan_whole(&request(88, 1, 1))), 414);
        assert_eq!(status(scan_whole(&request(10, 10, 1))), 200);
        assert_eq!(status(scan_whole(&request(10, 11, 1))), 431);
        // 26 (request line, 11-byte target) + 2 x (7 + 489 + 2) + 2 = 1024 exactly
        assert_eq!(request(11, 2, 489).len(), 1024);
        assert_eq!(status(scan_whole(&request(11, 2, 489))), 200);
        assert_eq!(status(scan_whole(&request(12, 2, 489))), 431);
        for step in [1, 64] {
            assert_eq!(status(scan_in_pieces(&request(11, 2, 489), step).0), 200);
            assert_eq!(status(scan_in_pieces(&request(12, 2, 489), step).0), 431);
        }
    }

    #[test]
    fn a_long_request_line_is_refused_before_it_ends() {
        let raw = request(10_000, 1, 1);
        let (verdict, read) = scan_in_pieces(&raw, 16);
        assert_eq!(status(verdict), 414);
        assert!(read <= 100 + 16 + 16, "refused after {read} bytes");
    }

    #[test]
    fn a_large_header_is_refused_once_the_limit_is_passed() {
        let raw = request(10, 1, 100_000);
        let (verdict, read) = scan_in_pieces(&raw, 100);
        assert_eq!(status(verdict), 431);
        assert!(read <= 1024 + 100, "refused after {read} bytes");
        let many = request(10, 200, 1);
        let (verdict, read) = scan_in_pieces(&many, 10);
        assert_eq!(status(verdict), 431);
        assert!(read < 200, "refused after {read} bytes of {}", many.len());
    }

    #[test]
    fn bare_line_feeds_end_lines_and_count_as_fields() {
        let raw = b"GET / HTTP/1.1\nA: 1\nB: 2\r\n\r\n";
        assert_eq!(scan_whole(raw), Ok(H1Header::Complete(raw.len())));
        let many = format!("GET / HTTP/1.1\n{}\r\n\r\n", "A: 1\n".repeat(11));
        assert_eq!(status(scan_whole(many.as_bytes())), 431);
    }

    #[test]
    fn refusals_carry_their_status_reason_and_close() {
        let line = scan_whole(&request(200, 1, 1)).expect_err("414");
        assert_eq!((line.status, line.reason), (414, "request_line_too_long"));
        let count = scan_whole(&request(10, 11, 1)).expect_err("431");
        assert_eq!((count.status, count.reason), (431, "too_many_headers"));
        let bytes = scan_whole(&request(10, 1, 2000)).expect_err("431");
        assert_eq!((bytes.status, bytes.reason), (431, "header_too_large"));
        assert!(line.close && count.close && bytes.close);
    }

    #[test]
    fn h2_headers_are_checked_by_line_size_and_count_and_keep_the_connection() {
        let size = |request_line, list_size, fields| H2HeaderSize {
            request_line,
            list_size,
            fields,
        };
        let status = |s: H2HeaderSize| check_h2(&LIMITS, &s).map_err(|r| (r.status, r.reason));
        assert_eq!(status(size(100, 1024, 10)), Ok(()));
        assert_eq!(
            status(size(101, 10, 1)),
            Err((414, "request_line_too_long"))
        );
        assert_eq!(status(size(10, 10, 11)), Err((431, "too_many_headers")));
        assert_eq!(status(size(10, 1025, 1)), Err((431, "header_too_large")));
        let refused = check_h2(&LIMITS, &size(10, 1025, 1)).expect_err("431");
        assert!(!refused.close, "an HTTP/2 refusal keeps the connection");
        assert_eq!(h2_field_size(":method".len(), 3), 42);
        assert_eq!(h2_request_line_len("GET", "/a"), "GET /a HTTP/1.1".len());
    }
}
