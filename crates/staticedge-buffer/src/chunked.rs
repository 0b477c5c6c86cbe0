//! HTTP/1.1 chunked request bodies, decoded straight out of the connection's read
//! buffer. Chunk-size lines (with any extensions) are parsed by
//! `httparse::parse_chunk_size`; this module only keeps the state between reads and
//! bounds the lines a client may send.

use bytes::{Buf, BytesMut};

/// Longest chunk-size line or trailer line accepted.
const MAX_LINE: usize = 4096;
/// Most trailer bytes accepted (they are read and dropped, never forwarded).
const MAX_TRAILERS: usize = 16 * 1024;

/// Why a chunked body is malformed (answer 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// A chunk-size line that is not a hex size (or overflows).
    #[error("malformed chunk size")]
    Size,
    /// Chunk data not followed by CRLF.
    #[error("chunk data not followed by CRLF")]
    DataEnd,
    /// A chunk-size or trailer line, or the trailers, over their bound.
    #[error("chunk line or trailers too long")]
    TooLong,
}

/// Why decoding stopped early: the body is malformed, or the sink refused the data.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop<E> {
    /// The client's framing is wrong.
    Chunk(ChunkError),
    /// The sink's own error (body too large, disk budget exhausted ...).
    Sink(E),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailers(usize),
    Done,
}

/// The position in one chunked body between reads.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder { state: State::Size }
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> Self {
        Self::default()
    }

    /// True once the last chunk and the trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes as much of `buf` as it can: chunk data goes to `sink`, and the bytes
    /// consumed are removed from `buf`. Returns true at the end of the body (what
    /// is left in `buf` then belongs to the next request), false when more bytes
    /// are needed.
    pub fn decode<E>(
        &mut self,
        buf: &mut BytesMut,
        mut sink: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<bool, Stop<E>> {
        loop {
            let progressed = match self.state {
                State::Size => self.size(buf).map_err(Stop::Chunk)?,
                State::Data(left) => {
                    let n = (left.min(buf.len() as u64)) as usize;
                    if n > 0 {
                        sink(&buf[..n]).map_err(Stop::Sink)?;
                        buf.advance(n);
                    }
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                    n > 0 || left == 0
                }
                State::DataEnd => self.data_end(buf).map_err(Stop::Chunk)?,
                State::Trailers(seen) => self.trailer(buf, seen).map_err(Stop::Chunk)?,
                State::Done => return Ok(true),
            };
            if !progressed {
                return Ok(false);
            }
        }
    }

    fn size(&mut self, buf: &mut BytesMut) -> Result<bool, ChunkError> {
        match httparse::parse_chunk_size(buf) {
            Ok(httparse::Status::Complete((used, _))) if used > MAX_LINE => {
                Err(ChunkError::TooLong)
            }
            Ok(httparse::Status::Complete((used, size))) => {
                buf.advance(used);
                self.state = if size == 0 {
                    State::Trailers(0)
                } else {
                    State::Data(size)
                };
                Ok(true)
            }
            Ok(httparse::Status::Partial) if buf.len() > MAX_LINE => Err(ChunkError::TooLong),
            Ok(httparse::Status::Partial) => Ok(false),
            Err(_) => Err(ChunkError::Size),
        }
    }

    fn data_end(&mut self, buf: &mut BytesMut) -> Result<bool, ChunkError> {
        let want = b"\r\n";
        let have = buf.len().min(2);
        if buf[..have] != want[..have] {
            return Err(ChunkError::DataEnd);
        }
        if have < 2 {
            return Ok(false);
        }
        buf.advance(2);
        self.state = State::Size;
        Ok(true)
    }

    /// One trailer line (dropped); the empty line ends the body.
    fn trailer(&mut self, buf: &mut BytesMut, seen: usize) -> Result<bool, ChunkError> {
        let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
            if buf.len() > MAX_LINE || seen + buf.len() > MAX_TRAILERS {
                return Err(ChunkError::TooLong);
            }
            return Ok(false);
        };
        let seen = seen + end + 2;
        if seen > MAX_TRAILERS {
            return Err(ChunkError::TooLong);
        }
        buf.advance(end + 2);
        self.state = if end == 0 {
            State::Done
        } else {
            State::Trailers(seen)
        };
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `wire` fed `step` bytes at a time: the body, whether it ended, and
    /// the bytes left after it.
    fn decode_in_steps(wire: &[u8], step: usize) -> Result<(Vec<u8>, bool, Vec<u8>), ChunkError> {
        let mut decoder = ChunkedDecoder::new();
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut done = false;
        for piece in wire.chunks(step) {
            buf.extend_from_slice(piece);
            let sink = |d: &[u8]| -> Result<(), ()> {
                body.extend_from_slice(d);
                Ok(())
            };
            match decoder.decode(&mut buf, sink) {
                Ok(true) => {
                    done = true;
                    break;
                }
                Ok(false) => {}
                Err(Stop::Chunk(e)) => return Err(e),
                Err(Stop::Sink(())) => unreachable!("the sink never refuses"),
            }
        }
        Ok((body, done, buf.to_vec()))
    }

    #[test]
    fn valid_bodies_decode_whatever_the_read_sizes() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
            (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
            (b"A;ext=1\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
            (b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-Two: 2\r\n\r\n", b"abc"),
            (b"0\r\n\r\n", b""),
        ];
        for (wire, want) in cases {
            for step in [1, 2, 3, 7, wire.len()] {
                let (body, done, left) = decode_in_steps(wire, step).expect("valid");
                assert_eq!(
                    (&body[..], done),
                    (*want, true),
                    "{wire:?} in steps of {step}"
                );
                assert!(left.is_empty());
            }
        }
    }

    #[test]
    fn bytes_after_the_body_are_left_for_the_next_request() {
        let (body, done, left) =
            decode_in_steps(b"2\r\nok\r\n0\r\n\r\nGET / HTTP/1.1\r\n", 1000).expect("valid");
        assert_eq!((&body[..], done), (&b"ok"[..], true));
        assert_eq!(left, b"GET / HTTP/1.1\r\n");
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let long_line = [b"1;".as_slice(), &[b'x'; 5000], b"\r\n"].concat();
        let long_trailers = [b"0\r\n".as_slice(), &b"X: y\r\n".repeat(3000)].concat();
        let cases: &[(&[u8], ChunkError)] = &[
            (b"zz\r\nhello\r\n", ChunkError::Size),
            (b"5\r\nhelloXX0\r\n\r\n", ChunkError::DataEnd),
            (b"5\r\nhello\r\nG\r\n", ChunkError::Size),
            (b"FFFFFFFFFFFFFFFFFFFF\r\n", ChunkError::Size),
            (&long_line, ChunkError::TooLong),
            (&long_trailers, ChunkError::TooLong),
        ];
        for (wire, want) in cases {
            for step in [1, 5, wire.len()] {
                assert_eq!(
                    decode_in_steps(wire, step).map(|_| ()),
                    Err(*want),
                    "{:?} in steps of {step}",
                    String::from_utf8_lossy(&wire[..wire.len().min(40)])
                );
            }
        }
    }

    #[test]
    fn an_unfinished_body_asks_for_more() {
        let (body, done, _) = decode_in_steps(b"5\r\nhel", 100).expect("valid so far");
        assert_eq!((&body[..], done), (&b"hel"[..], false));
    }

    #[test]
    fn the_sink_can_stop_the_body() {
        let mut decoder = ChunkedDecoder::new();
        let mut buf = BytesMut::from(&b"5\r\nhello\r\n0\r\n\r\n"[..]);
        let refused = decoder.decode(&mut buf, |_| Err("too large"));
        assert_eq!(refused, Err(Stop::Sink("too large")));
    }
}
