//! The staticedge configuration: one TOML file in, one validated [`Config`] out.
//!
//! The file format (`file`: the TOML document, read key by key with positions) is
//! kept apart from the model the proxy runs on ([`model`]), which holds no type of
//! the file format. The step between them (`validate`) collects *every* problem it
//! can find (unknown keys, wrong types, invalid values, broken references), each
//! with the file, line and column an operator has to edit, instead of stopping at
//! the first one. What each key means is in `docs/configuration.md`.

pub mod error;
mod file;
pub mod host;
pub mod model;
pub mod routing;
mod validate;

pub use error::{ConfigError, ConfigErrors, Location};
pub use host::HostPattern;
pub use model::*;
pub use routing::RouteTable;

use std::path::Path;

/// Reads and validates the configuration file at `path`.
///
/// Certificate files are not read here; their contents are the TLS crate's concern
/// (it reports in the same `file:line:col` form).
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    match load_for_check(path)? {
        (config, errors) if errors.is_empty() => Ok(config),
        (_, errors) => Err(errors),
    }
}

/// Validates configuration text as if it had been read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
    match validate::parse_and_check(path, text)? {
        (config, errors) if errors.is_empty() => Ok(config),
        (_, errors) => Err(errors),
    }
}

/// Like [`load`], but when the file is valid TOML it also returns the model built so
/// far next to the problems found, so a caller (`staticedge check`) can go on
/// checking what the model refers to (certificate files) and report every problem at
/// once. Parts of the model that had problems hold their defaults. `Err` only when
/// the file could not be read or is not TOML at all (syntax errors).
pub fn load_for_check(path: &Path) -> Result<(Config, ConfigErrors), ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors::from(ConfigError::whole_file(
            path,
            format!("cannot read configuration: {e}"),
        ))
    })?;
    validate::parse_and_check(path, &text)
}
