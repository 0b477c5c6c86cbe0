//! `[limits]` keys of request buffering: `request_buffering`, `request_buffer_memory`,
//! `request_buffer_dir`, `request_buffer_disk_total` and `body_timeout`.

use super::values::{one_of, positive};
use crate::file::{Problems, Table};
use crate::model::*;
use std::path::PathBuf;

/// Largest `request_buffer_memory`: more per request would let a few hundred
/// uploads take the instance's memory.
const MAX_BUFFER_MEMORY: i64 = 64 * 1024 * 1024;

/// The request buffering settings of `[limits]`, taken out of `t`.
pub(super) fn request_buffer(p: &mut Problems<'_>, t: &mut Table<'_>) -> RequestBuffer {
    let mode = t
        .string("request_buffering", p)
        .and_then(|v| {
            one_of(
                p,
                &v,
                "limits.request_buffering",
                &[
                    ("unsized", RequestBuffering::Unsized),
                    ("all", RequestBuffering::All),
                    ("off", RequestBuffering::Off),
                ],
            )
        })
        .unwrap_or_default();
    let memory = t
        .integer_in("request_buffer_memory", 0..=MAX_BUFFER_MEMORY, p)
        .unwrap_or(defaults::REQUEST_BUFFER_MEMORY);
    let disk_total = t
        .integer_in("request_buffer_disk_total", 0..=i64::MAX, p)
        .unwrap_or(defaults::REQUEST_BUFFER_DISK_TOTAL);
    let body_timeout = t.duration("body_timeout", p);
    let body_timeout = positive(
        p,
        body_timeout,
        "limits.body_timeout",
        defaults::BODY_TIMEOUT,
    );
    let dir = buffer_dir(p, t, mode);
    RequestBuffer {
        mode,
        memory,
        dir,
        disk_total,
        body_timeout,
    }
}

/// `request_buffer_dir`: an absolute path to a directory that exists (checked when
/// buffering is on, so a typo shows at `check` or reload, not at the first upload).
fn buffer_dir(p: &mut Problems<'_>, t: &mut Table<'_>, mode: RequestBuffering) -> PathBuf {
    let Some(value) = t.string("request_buffer_dir", p) else {
        return default_buffer_dir();
    };
    let dir = PathBuf::from(value.get_ref());
    let problem = if !dir.is_absolute() {
        Some("must be an absolute path")
    } else if mode != RequestBuffering::Off && !dir.is_dir() {
        Some("is not an existing directory")
    } else {
        None
    };
    if let Some(problem) = problem {
        p.add(
            &value.span(),
            format!("limits.request_buffer_dir: {} {problem}", value.get_ref()),
        );
        return default_buffer_dir();
    }
    dir
}

/// The systemd unit's `StateDirectory` (the first, when it names several), else the
/// system's temporary directory.
fn default_buffer_dir() -> PathBuf {
    std::env::var_os(defaults::REQUEST_BUFFER_DIR_ENV)
        .and_then(|v| {
            let text = v.to_string_lossy().into_owned();
            text.split(':')
                .next()
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(std::env::temp_dir)
}
