//! From the file to the model: reads each section, fills in defaults and collects
//! every problem (unknown keys, wrong types, invalid values, broken references).
//!
//! One module per part of the file; each reads its keys from a [`Table`] and returns
//! model types only, so nothing of the file format leaks into [`Config`].

mod access;
mod buffer;
mod host_header;
mod listener;
mod route;
mod server;
mod tls;
mod upstream;
mod values;

pub(crate) use upstream::parse_upstream_address;

use crate::error::ConfigErrors;
use crate::file::{self, Problems, Table};
use crate::model::*;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Reads `text` (the content of `path`) into a model and every problem found in it.
/// `Err` only for a TOML syntax error, after which nothing else can be read.
pub(crate) fn parse_and_check(
    path: &Path,
    text: &str,
) -> Result<(Config, ConfigErrors), ConfigErrors> {
    let mut p = Problems::new(path, text);
    let Some(root) = file::parse(&mut p, text) else {
        return Err(p.into_errors());
    };
    let config = build(&mut p, root);
    Ok((config, p.into_errors()))
}

/// The sections in the order later ones need earlier ones: listeners check against
/// the admin port and the certificates, routes against the upstreams.
fn build(p: &mut Problems<'_>, mut root: Table<'_>) -> Config {
    let source = ConfigSource {
        path: p.path().to_path_buf(),
        sha256: hex(&Sha256::digest(p.text().as_bytes())),
    };
    let server_table = section(&mut root, "server", p);
    let server = server::server(p, server_table);
    let admin_table = section(&mut root, "admin", p);
    let admin = server::admin(p, admin_table);
    let tls_table = section(&mut root, "tls", p);
    let tls = tls::tls(p, tls_table);
    if !root.has("listener") {
        p.add(&(0..0), "no [[listener]]: at least one is needed");
    }
    let listener_tables = root.tables("listener", p);
    let listeners = listener::listeners(p, listener_tables, &admin, &tls);
    let upstream_tables = root.named_tables("upstream", p);
    let upstreams = upstream::upstreams(p, upstream_tables);
    let route_tables = root.tables("route", p);
    let routes = route::routes(p, route_tables, &upstreams);
    let limits_table = section(&mut root, "limits", p);
    let limits = server::limits(p, limits_table);
    root.finish(p);
    Config {
        source,
        server,
        admin,
        tls,
        listeners,
        routes,
        upstreams,
        limits,
    }
}

/// A top-level `[section]`, or an empty one when the file has none.
fn section<'i>(root: &mut Table<'i>, key: &'static str, p: &mut Problems<'_>) -> Table<'i> {
    root.table(key, p).unwrap_or_else(|| Table::absent(key))
}

/// Relative paths in the file are relative to the file's directory.
fn resolve_path(p: &Problems<'_>, raw: &str) -> PathBuf {
    let path = PathBuf::from(raw);
    if path.is_absolute() {
        path
    } else {
        p.path().parent().unwrap_or(Path::new(".")).join(path)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
