//! PROXY protocol v2 headers (the binary form AWS NLB sends with `proxy_protocol_v2`).
//!
//! Pure parsing of bytes already read, so it can be unit tested and fuzzed without a
//! socket. The caller reads [`PREFIX_LEN`] bytes, asks [`header_len`] how long the
//! whole header is, reads the rest and calls [`parse`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The 12-byte signature every v2 header starts with.
pub const SIGNATURE: [u8; 12] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
];

/// Bytes needed to know whether a header is there and how long it is.
pub const PREFIX_LEN: usize = 16;

/// Longest header accepted. NLB headers are well below this (addresses plus a few
/// TLVs such as the VPC endpoint id); anything longer is not from a load balancer.
pub const MAX_HEADER_LEN: usize = PREFIX_LEN + 1024;

/// What the header says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// Sent by the load balancer itself (health checks): use the socket's addresses.
    Local,
    /// A proxied connection from `source` to `destination`.
    Proxy {
        /// The real client.
        source: SocketAddr,
        /// The address the client connected to.
        destination: SocketAddr,
    },
    /// A PROXY command for a family we do not use (UNIX sockets, UNSPEC): keep the
    /// socket's addresses, as the specification asks.
    Unknown,
}

/// Why bytes are not a valid header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The bytes do not start with the v2 signature: no header was sent.
    NoSignature,
    /// More bytes are needed (the header is this long in total).
    Incomplete(usize),
    /// A signature was sent but the rest is wrong; the connection must be closed.
    Invalid(&'static str),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::NoSignature => f.write_str("no PROXY protocol v2 signature"),
            ParseError::Incomplete(n) => write!(f, "incomplete PROXY header ({n} bytes needed)"),
            ParseError::Invalid(why) => write!(f, "invalid PROXY header: {why}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// From the first [`PREFIX_LEN`] bytes: the total header length.
pub fn header_len(prefix: &[u8]) -> Result<usize, ParseError> {
    if prefix.len() < PREFIX_LEN {
        if SIGNATURE.starts_with(prefix) || prefix.starts_with(&SIGNATURE) {
            return Err(ParseError::Incomplete(PREFIX_LEN));
        }
        return Err(ParseError::NoSignature);
    }
    if prefix[..12] != SIGNATURE {
        return Err(ParseError::NoSignature);
    }
    if prefix[12] >> 4 != 2 {
        return Err(ParseError::Invalid("version is not 2"));
    }
    let len = PREFIX_LEN + u16::from_be_bytes([prefix[14], prefix[15]]) as usize;
    if len > MAX_HEADER_LEN {
        return Err(ParseError::Invalid(
            "header longer than any load balancer sends",
        ));
    }
    Ok(len)
}

/// Parses a complete header; returns it and how many bytes it took.
pub fn parse(buf: &[u8]) -> Result<(Header, usize), ParseError> {
    let len = header_len(buf)?;
    if buf.len() < len {
        return Err(ParseError::Incomplete(len));
    }
    let body = &buf[PREFIX_LEN..len];
    let header = match buf[12] & 0x0F {
        0x0 => Header::Local,
        0x1 => match buf[13] {
            // TCP or UDP over IPv4
            0x11 | 0x12 => {
                if body.len() < 12 {
                    return Err(ParseError::Invalid("IPv4 addresses truncated"));
                }
                let src = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
                let dst = Ipv4Addr::new(body[4], body[5], body[6], body[7]);
                Header::Proxy {
                    source: SocketAddr::new(IpAddr::V4(src), port(&body[8..10])),
                    destination: SocketAddr::new(IpAddr::V4(dst), port(&body[10..12])),
                }
            }
            // TCP or UDP over IPv6
            0x21 | 0x22 => {
                if body.len() < 36 {
                    return Err(ParseError::Invalid("IPv6 addresses truncated"));
                }
                let src = ipv6(&body[0..16]);
                let dst = ipv6(&body[16..32]);
                Header::Proxy {
                    source: SocketAddr::new(IpAddr::V6(src), port(&body[32..34])),
                    destination: SocketAddr::new(IpAddr::V6(dst), port(&body[34..36])),
                }
            }
            0x00 | 0x31 | 0x32 => Header::Unknown,
            _ => return Err(ParseError::Invalid("unknown address family")),
        },
        _ => return Err(ParseError::Invalid("unknown command")),
    };
    Ok((header, len))
}

fn port(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn ipv6(b: &[u8]) -> Ipv6Addr {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(b);
    Ipv6Addr::from(octets)
}

/// Encodes a PROXY header (for tests and tools that speak to staticedge).
pub fn encode(header: &Header) -> Vec<u8> {
    let mut out = SIGNATURE.to_vec();
    match header {
        Header::Local | Header::Unknown => {
            out.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
        }
        Header::Proxy {
            source,
            destination,
        } => match (source, destination) {
            (SocketAddr::V4(s), SocketAddr::V4(d)) => {
                out.extend_from_slice(&[0x21, 0x11, 0x00, 12]);
                out.extend_from_slice(&s.ip().octets());
                out.extend_from_slice(&d.ip().octets());
                out.extend_from_slice(&s.port().to_be_bytes());
                out.extend_from_slice(&d.port().to_be_bytes());
            }
            _ => {
                let v6 = |a: &SocketAddr| match a.ip() {
                    IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                    IpAddr::V6(v6) => v6,
                };
                out.extend_from_slice(&[0x21, 0x21, 0x00, 36]);
                out.extend_from_slice(&v6(source).octets());
                out.extend_from_slice(&v6(destination).octets());
                out.extend_from_slice(&source.port().to_be_bytes());
                out.extend_from_slice(&destination.port().to_be_bytes());
            }
        },
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    #[test]
    fn round_trips_ipv4_ipv6_and_local() {
        let cases = [
            Header::Local,
            Header::Proxy {
                source: addr("203.0.113.7:51234"),
                destination: addr("10.0.1.5:443"),
            },
            Header::Proxy {
                source: addr("[2001:db8::7]:51234"),
                destination: addr("[2001:db8::1]:443"),
            },
        ];
        for h in cases {
            let bytes = encode(&h);
            assert_eq!(header_len(&bytes[..PREFIX_LEN]), Ok(bytes.len()));
            assert_eq!(parse(&bytes), Ok((h, bytes.len())), "{h:?}");
        }
    }

    #[test]
    fn tlvs_after_the_addresses_are_skipped() {
        let mut bytes = encode(&Header::Proxy {
            source: addr("203.0.113.7:1"),
            destination: addr("10.0.0.1:443"),
        });
        // an AWS VPC endpoint TLV (type 0xEA), then one more byte of padding
        let tlv = [0xEA, 0x00, 0x04, 1, 2, 3, 4];
        bytes[15] += tlv.len() as u8;
        bytes.extend_from_slice(&tlv);
        let mut with_data = bytes.clone();
        with_data.extend_from_slice(b"\x16\x03\x01"); // TLS record that follows
        let (h, used) = parse(&with_data).expect("parse");
        assert_eq!(used, bytes.len());
        assert!(matches!(h, Header::Proxy { .. }));
    }

    #[test]
    fn bad_headers_are_rejected() {
        let good = encode(&Header::Proxy {
            source: addr("203.0.113.7:1"),
            destination: addr("10.0.0.1:443"),
        });
        let mut v1 = good.clone();
        v1[12] = 0x11;
        let mut cmd = good.clone();
        cmd[12] = 0x2F;
        let mut fam = good.clone();
        fam[13] = 0x55;
        let mut short = good.clone();
        short[15] = 4;
        short.truncate(20);
        let mut huge = good.clone();
        huge[14] = 0xFF;
        let cases: [(&str, &[u8], ParseError); 7] = [
            (
                "TLS instead",
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03abcdefgh",
                ParseError::NoSignature,
            ),
            (
                "HTTP instead",
                b"GET / HTTP/1.1\r\nHost: x\r\n",
                ParseError::NoSignature,
            ),
            ("version 1", &v1, ParseError::Invalid("version is not 2")),
            ("command", &cmd, ParseError::Invalid("unknown command")),
            (
                "family",
                &fam,
                ParseError::Invalid("unknown address family"),
            ),
            (
                "truncated addresses",
                &short,
                ParseError::Invalid("IPv4 addresses truncated"),
            ),
            (
                "too long",
                &huge,
                ParseError::Invalid("header longer than any load balancer sends"),
            ),
        ];
        for (name, bytes, want) in cases {
            assert_eq!(parse(bytes).map(|x| x.0), Err(want), "{name}");
        }
        assert_eq!(parse(&good[..20]), Err(ParseError::Incomplete(good.len())));
        assert_eq!(
            header_len(&good[..5]),
            Err(ParseError::Incomplete(PREFIX_LEN))
        );
    }
}
