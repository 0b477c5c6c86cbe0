//! Any configuration text: parsing never panics; errors always carry a position
//! inside the text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(errors) = staticedge_config::parse(Path::new("fuzz.toml"), text) {
        let lines = text.lines().count().max(1);
        for e in &errors.0 {
            assert!(e.location.line >= 1 && e.location.line <= lines + 1, "{e}");
        }
    }
});
