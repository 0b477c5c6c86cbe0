//! `limits.max_request_body_bytes` in one place: the declared length is checked
//! before anything is forwarded, and a body without one is counted as it streams.

use crate::refusal::Refusal;

/// How much request body one request may send, and how much it has sent so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct BodyLimit {
    /// The limit; 0 means none.
    max: u64,
    /// Body bytes counted so far.
    seen: u64,
}

impl BodyLimit {
    /// A limit of `max` bytes; 0 means no limit.
    pub fn new(max: u64) -> Self {
        BodyLimit { max, seen: 0 }
    }

    /// Refuses a request whose Content-Length is already over the limit, before any of
    /// its body is read.
    pub fn check_declared(&self, content_length: Option<u64>) -> Result<(), Refusal> {
        match content_length {
            Some(n) if self.max > 0 && n > self.max => Err(self.refusal()),
            _ => Ok(()),
        }
    }

    /// Counts `n` more body bytes; refuses once the total passes the limit (a chunked
    /// body, which declares no length).
    pub fn count(&mut self, n: usize) -> Result<(), Refusal> {
        self.seen = self.seen.saturating_add(n as u64);
        if self.max > 0 && self.seen > self.max {
            return Err(self.refusal());
        }
        Ok(())
    }

    fn refusal(&self) -> Refusal {
        Refusal::new(
            413,
            "body_too_large",
            format!("request body larger than {} bytes\n", self.max),
        )
        .closing()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_and_streamed_bodies_meet_the_same_limit() {
        let limit = BodyLimit::new(10);
        assert!(limit.check_declared(None).is_ok());
        assert!(limit.check_declared(Some(10)).is_ok());
        let refused = limit.check_declared(Some(11)).expect_err("over");
        assert_eq!(
            (refused.status, refused.reason, refused.close),
            (413, "body_too_large", true)
        );

        let mut streamed = BodyLimit::new(10);
        assert!(streamed.count(6).is_ok());
        assert!(streamed.count(4).is_ok());
        assert_eq!(streamed.count(1).map_err(|r| r.status), Err(413));

        let mut unlimited = BodyLimit::new(0);
        assert!(unlimited.check_declared(Some(u64::MAX)).is_ok());
        assert!(unlimited.count(usize::MAX).is_ok());
    }
}
