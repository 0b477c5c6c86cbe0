//! Any bytes from the network: parsing never panics, and what parses re-encodes to
//! a header that parses to the same addresses.
#![no_main]
use libfuzzer_sys::fuzz_target;
use staticedge_proxy_protocol::{encode, header_len, parse, Header, PREFIX_LEN};

fuzz_target!(|data: &[u8]| {
    if data.len() >= PREFIX_LEN {
        let _ = header_len(&data[..PREFIX_LEN]);
    }
    if let Ok((header, used)) = parse(data) {
        assert!(used <= data.len());
        if let Header::Proxy { .. } = header {
            let again = encode(&header);
            assert_eq!(parse(&again).map(|(h, _)| h), Ok(header));
        }
    }
});
