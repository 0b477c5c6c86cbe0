//! The server name a client asks for, read from its ClientHello before the
//! handshake starts.
//!
//! rustls chooses the client certificate verifier per server configuration, not per
//! certificate, so a listener with a client-authenticating certificate must know the
//! SNI name before it hands the connection to a configuration. The front reads the
//! connection's first bytes without consuming them, asks [`peek_server_name`], reads
//! more while the answer is [`Peek::Incomplete`] (up to a bound of its own), and then
//! starts the handshake with the configuration for that name.

use rustls::server::Acceptor;

/// What the first bytes of a connection say about its ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peek {
    /// A whole ClientHello, with the server name it asks for (`None`: no SNI).
    Name(Option<String>),
    /// The ClientHello has not all arrived yet: read more and ask again.
    Incomplete,
    /// Not a ClientHello rustls accepts (plain HTTP, garbage, a malformed hello): the
    /// handshake would fail whatever configuration it got.
    NotTls,
}

/// Parses `bytes`, the start of a connection, as a ClientHello with rustls' own
/// parser (the one the handshake then runs), consuming nothing: the caller keeps the
/// bytes and replays them into the handshake.
pub fn peek_server_name(bytes: &[u8]) -> Peek {
    let mut acceptor = Acceptor::default();
    let mut rest = bytes;
    while !rest.is_empty() {
        match acceptor.read_tls(&mut rest) {
            Ok(n) if n > 0 => {}
            // rustls takes no more before it has a message: more than a ClientHello.
            _ => return Peek::NotTls,
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => {
                let name = accepted.client_hello().server_name().map(str::to_string);
                return Peek::Name(name);
            }
            Ok(None) => {}
            Err(_) => return Peek::NotTls,
        }
    }
    Peek::Incomplete
}
