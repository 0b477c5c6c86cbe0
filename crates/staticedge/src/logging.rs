//! Error and event logs through tracing (pingora's `log` records included).

use tracing_subscriber::EnvFilter;

/// How log lines are written to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the subscriber. `STATICEDGE_LOG` (EnvFilter syntax) overrides the level;
/// pingora's per-connection errors are kept at warn so scanners do not flood the log.
pub fn init(format: Format) {
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
