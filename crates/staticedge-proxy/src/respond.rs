//! A policy [`Refusal`] answered through pingora's session: the same status, headers
//! and body the connection front writes as raw bytes.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;
use staticedge_policy::Refusal;

/// Counts the refusal and writes it as the whole response.
pub async fn answer(session: &mut Session, refusal: &Refusal, request_id: &str) -> Result<()> {
    refusal.count();
    write(session, refusal, request_id).await
}

/// Writes an answer of staticedge's own as the whole response without counting it
/// as a refusal (an upstream failure is counted as an upstream error instead).
pub async fn write(session: &mut Session, refusal: &Refusal, request_id: &str) -> Result<()> {
    if refusal.close {
        session.set_keepalive(None);
    }
    let mut resp = ResponseHeader::build(refusal.status, Some(5))?;
    for (name, value) in refusal.header_fields(request_id) {
        resp.insert_header(name, value.as_ref())?;
    }
    session.write_response_header(Box::new(resp), false).await?;
    let body = Bytes::copy_from_slice(refusal.body.as_bytes());
    session.write_response_body(Some(body), true).await
}
