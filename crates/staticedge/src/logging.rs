//! Error and event logs through tracing (pingora's `log` records included).

use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

/// How log lines are written to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

static FORMAT: OnceLock<Format> = OnceLock::new();

/// Installs the subscriber. `STATICEDGE_LOG` (EnvFilter syntax) overrides the level;
/// pingora's per-connection errors are kept at warn so scanners do not flood the log.
pub fn init(format: Format) {
    let _ = FORMAT.set(format);
    let filter = EnvFilter::try_from_env("STATICEDGE_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,pingora_core=warn,pingora_proxy=warn,hickory_proto=warn,hickory_resolver=warn,hickory_net=warn"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        Format::Text => builder.try_init(),
        Format::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Reports why the process cannot start (a configuration problem per line, a port
/// in use) in the log format: as plain lines on standard error for people (what
/// `staticedge check` prints too), or as one JSON error event per line, so journald
/// and CloudWatch see the reason in the format they parse.
pub fn startup_error(text: &str) {
    match FORMAT.get().copied().unwrap_or(Format::Text) {
        Format::Text => eprintln!("{text}"),
        Format::Json => {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                tracing::error!(target: "staticedge", "{line}");
            }
        }
    }
}
