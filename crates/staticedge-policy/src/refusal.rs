//! Answers staticedge gives itself instead of asking an upstream, rendered in one
//! place so every engine (and the connection front, before any engine) writes the
//! same status, headers and plain-text body a person with curl can read.

use staticedge_metrics::METRICS;
use std::borrow::Cow;

/// A request the policy will not forward, with everything needed to answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The status code sent to the client.
    pub status: u16,
    /// The `staticedge_rejected_requests_total{reason}` label.
    pub reason: &'static str,
    /// A short plain-text body saying why.
    pub body: String,
    /// `Location`, for redirects.
    pub location: Option<String>,
    /// `Retry-After` in seconds, when trying again soon can succeed.
    pub retry_after: Option<u32>,
    /// Whether the connection must close after the answer (the rest of the request
    /// cannot be trusted or is not worth reading).
    pub close: bool,
    /// The route matched before the refusal, if any (the metric and log label).
    pub route: Option<usize>,
}

impl Refusal {
    /// A refusal that keeps the connection open and names no route.
    pub fn new(status: u16, reason: &'static str, body: impl Into<String>) -> Self {
        Refusal {
            status,
            reason,
            body: body.into(),
            location: None,
            retry_after: None,
            close: false,
            route: None,
        }
    }

    /// The request header did not arrive within the header deadline.
    pub fn header_timeout() -> Self {
        Refusal::new(
            408,
            "header_timeout",
            "request header not received in time\n",
        )
        .closing()
    }

    /// The request's body framing is ambiguous (a smuggling attempt or a broken client).
    pub fn bad_framing(why: &str) -> Self {
        Refusal::new(400, "bad_framing", format!("bad request: {why}\n")).closing()
    }

    /// The request line is longer than `limits.max_request_line_bytes` (`max`).
    pub fn request_line_too_long(max: usize) -> Self {
        Refusal::new(
            414,
            "request_line_too_long",
            format!("request line longer than {max} bytes\n"),
        )
        .closing()
    }

    /// The request header is larger than `limits.max_request_header_bytes` (`max`).
    pub fn header_too_large(max: usize) -> Self {
        Refusal::new(
            431,
            "header_too_large",
            format!("request header larger than {max} bytes\n"),
        )
        .closing()
    }

    /// The request has more header fields than `limits.max_request_headers` (`max`).
    pub fn too_many_headers(max: usize) -> Self {
        Refusal::new(
            431,
            "too_many_headers",
            format!("more than {max} request header fields\n"),
        )
        .closing()
    }

    /// The route needs a verified client certificate and the connection has none.
    /// The connection stays open: another request on it may go to a route that
    /// needs none.
    pub fn client_cert_required() -> Self {
        Refusal::new(
            403,
            "client_cert_required",
            "forbidden: this route needs a client certificate\n",
        )
    }

    /// The connection's verified client certificate has none of the names on the
    /// route's `allow_client_names`.
    pub fn client_cert_not_allowed() -> Self {
        Refusal::new(
            403,
            "client_cert_not_allowed",
            "forbidden: this client certificate is not allowed on this route\n",
        )
    }

    /// The route's rate limit is used up for this client: 429, with the whole
    /// seconds until the next request would pass.
    pub fn rate_limited(retry_after: u32) -> Self {
        let mut r = Refusal::new(429, "rate_limited", "too many requests\n");
        r.retry_after = Some(retry_after);
        r
    }

    /// The answer when the upstream gave no response header (`kind` as in
    /// `staticedge_upstream_errors_total`): 504 or 502 ([`crate::gateway_status`]),
    /// connection closed. Written by both request paths; counted as an upstream
    /// error, not as a refusal.
    pub fn upstream_failed(kind: &str) -> Self {
        let text = format!("upstream failed: {kind}\n");
        Refusal::new(crate::gateway_status(kind), "upstream", text).closing()
    }

    /// The connection closes after this answer.
    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    /// The connection stays open after this answer: an HTTP/2 stream refused on its
    /// own, whose connection carries other requests.
    pub fn keeping(mut self) -> Self {
        self.close = false;
        self
    }

    /// Records the route that matched before the refusal.
    pub fn on_route(mut self, route: usize) -> Self {
        self.route = Some(route);
        self
    }

    /// Counts the refusal in `staticedge_rejected_requests_total`; engines call it once
    /// when they send the answer.
    pub fn count(&self) {
        METRICS.rejected.with_label_values(&[self.reason]).inc();
    }

    /// The header fields of the answer, in the order they are written. Engines add
    /// their own framing (`Connection`, `Date`) as their protocol requires.
    pub fn header_fields<'a>(
        &'a self,
        request_id: &'a str,
    ) -> impl Iterator<Item = (&'static str, Cow<'a, str>)> {
        let fixed = [
            ("content-type", Cow::Borrowed("text/plain; charset=utf-8")),
            ("content-length", Cow::Owned(self.body.len().to_string())),
            ("x-request-id", Cow::Borrowed(request_id)),
        ];
        let location = self
            .location
            .as_deref()
            .map(|l| ("location", Cow::Borrowed(l)));
        let retry = self
            .retry_after
            .map(|s| ("retry-after", Cow::Owned(s.to_string())));
        fixed.into_iter().chain(location).chain(retry)
    }

    /// The whole answer as HTTP/1.1 bytes, for a connection no engine owns yet.
    pub fn to_http1(&self, request_id: &str) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\n",
            self.status,
            reason_phrase(self.status)
        );
        for (name, value) in self.header_fields(request_id) {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(&value);
            out.push_str("\r\n");
        }
        if self.close {
            out.push_str("connection: close\r\n");
        }
        out.push_str("\r\n");
        out.push_str(&self.body);
        out.into_bytes()
    }
}

/// The reason phrase of the statuses staticedge answers itself.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        308 => "Permanent Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http1_rendering_frames_the_body_and_closes_when_asked() {
        let r = Refusal::bad_framing("both Content-Length and Transfer-Encoding");
        let text = String::from_utf8(r.to_http1("abc")).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("header end");
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("\r\nconnection: close"), "{head}");
        assert!(head.contains("\r\nx-request-id: abc"), "{head}");
        assert!(head.contains(&format!("\r\ncontent-length: {}", body.len())));
        assert_eq!(
            body,
            "bad request: both Content-Length and Transfer-Encoding\n"
        );
    }

    #[test]
    fn header_limit_answers_name_their_status_and_limit() {
        let text = |r: Refusal| String::from_utf8(r.to_http1("id")).expect("utf-8");
        let line = text(Refusal::request_line_too_long(8192));
        assert!(line.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{line}");
        assert!(line.ends_with("\r\n\r\nrequest line longer than 8192 bytes\n"));
        let big = text(Refusal::header_too_large(32768));
        assert!(
            big.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{big}"
        );
        assert!(big.contains("\r\nconnection: close\r\n"), "{big}");
        let h2 = Refusal::too_many_headers(100).keeping();
        assert!(!text(h2).contains("connection: close"));
    }

    #[test]
    fn optional_fields_appear_only_when_set() {
        let mut r = Refusal::new(503, "unresolved", "no address\n");
        let names = |r: &Refusal| r.header_fields("id").map(|(n, _)| n).collect::<Vec<_>>();
        assert_eq!(
            names(&r),
            ["content-type", "content-length", "x-request-id"]
        );
        r.retry_after = Some(1);
        r.location = Some("https://a.test/".into());
        assert_eq!(
            names(&r),
            [
                "content-type",
                "content-length",
                "x-request-id",
                "location",
                "retry-after"
            ]
        );
        let keep = String::from_utf8(r.to_http1("id")).expect("utf-8");
        assert!(!keep.contains("connection: close"), "{keep}");
    }
}
