//! Durations written the way operators write them: "500ms", "15s", "1h".

use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// A duration parsed with humantime; its error names the accepted form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(s.trim())
            .map(HumanDuration)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "invalid duration {s:?} ({e}); write it like \"500ms\", \"15s\" or \"1h\""
                ))
            })
    }
}
