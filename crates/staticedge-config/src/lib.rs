//! The staticedge configuration: one TOML file in, one validated [`Config`] out.
//!
//! The file format ([`file`]) is kept apart from the model the proxy runs on
//! ([`model`]); the step between them ([`validate`]) collects *every* problem it can
//! find, each with the file, line and column an operator has to edit, instead of
//! stopping at the first one.

mod duration;
pub mod error;
pub mod file;
pub mod host;
pub mod model;
mod validate;

pub use error::{ConfigError, ConfigErrors, Location};
pub use host::HostPattern;
pub use model::*;

use std::path::Path;

/// Reads and validates the configuration file at `path`.
///
/// Certificate files are only checked for existence here; their contents are the
/// TLS crate's concern (it reports in the same `file:line:col` form).
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors::from(ConfigError::whole_file(
            path,
            format!("cannot read configuration: {e}"),
        ))
    })?;
    parse(path, &text)
}

/// Validates configuration text as if it had been read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
    validate::parse_and_validate(path, text)
}
