//! Request body buffering: the whole body of a request is read and checked before the
//! upstream request begins, so a refused request never reaches the upstream, not even
//! in part.
//!
//! - [`Spool`] keeps up to a configured number of bytes in memory and spills the rest
//!   to a temporary file that is unlinked at creation (`tempfile::tempfile_in`), so
//!   nothing is left on disk after the request, a crash or SIGINT.
//! - [`DiskBudget`] bounds the bytes spilled across all requests: a write reserves
//!   its bytes first, and a spool gives its reservation back when dropped.
//! - [`ChunkedDecoder`] reads an HTTP/1.1 chunked body out of a connection's read
//!   buffer (chunk sizes by `httparse::parse_chunk_size`).
//! - [`SpoolBody`] sends a finished spool as an `http_body::Body` with an exact size,
//!   as many times as a retry needs.
//!
//! No pingora or hyper types: the proxy crate drives these from its connections.

mod budget;
mod chunked;
mod spool;

pub use budget::DiskBudget;
pub use chunked::{ChunkError, ChunkedDecoder, Stop};
pub use spool::{FrozenSpool, Spool, SpoolBody, SpoolError, SpoolSettings};
