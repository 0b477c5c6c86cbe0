//! `staticedge check`: validate without running.

use crate::live::{prepare, CertificateProblems};
use staticedge_config::{AccessLog, Config, ConfigError, UpstreamAddress};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::ExitCode;

/// Prints every problem (one `file:line:col: message` line each) and exits 1, or
/// prints a summary and exits 0. With `resolve`, also looks up every upstream name.
pub fn run(path: &Path, resolve: bool) -> ExitCode {
    let prepared = match prepare(path, CertificateProblems::Refuse) {
        Ok(p) => p,
        Err(errors) => {
            eprintln!("{errors}");
            // Still say whether the access log can be written: one run, every problem.
            if let Ok((config, _)) = staticedge_config::load_for_check(path) {
                if let Some(finding) = access_log_finding(&config) {
                    eprintln!("{}", finding.text);
                }
            }
            return ExitCode::from(1);
        }
    };
    for line in prepared.warnings.to_string().lines() {
        eprintln!("{line}");
    }
    if let Some(finding) = access_log_finding(&prepared.config) {
        eprintln!("{}", finding.text);
        if finding.fatal {
            return ExitCode::from(1);
        }
    }
    let c = &prepared.config;
    println!(
        "{}: configuration and certificates OK ({} listener(s), {} route(s), {} upstream(s), {} certificate(s))",
        path.display(),
        c.listeners.len(),
        c.routes.len(),
        c.upstreams.len(),
        prepared.certs.infos().len()
    );
    if resolve && !resolve_all(path, c) {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// `check --resolve`: looks every upstream name up once and prints its addresses and
/// clamped TTL; a failure is a `file:line:col` line at the upstream's address. True
/// when every name resolved.
fn resolve_all(path: &Path, config: &Config) -> bool {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start a runtime to resolve: {e}");
            return false;
        }
    };
    let mut resolved = true;
    for u in config.upstreams.values() {
        let UpstreamAddress::Name { host, port } = &u.address else {
            println!("upstream {}: {} (fixed address)", u.name, u.address);
            continue;
        };
        match rt.block_on(staticedge_dns::resolve_once(host, *port, &u.dns)) {
            Ok(answer) => {
                let addrs: Vec<String> = answer.addrs.iter().map(|a| a.to_string()).collect();
                println!(
                    "upstream {}: {host}:{port} -> {} (ttl {}s after clamping)",
                    u.name,
                    addrs.join(", "),
                    answer.ttl.as_secs()
                );
            }
            Err(e) => {
                resolved = false;
                let message = format!("upstream.{}.address: {e}", u.name);
                eprintln!("{}", ConfigError::new(path, u.address_at, message));
            }
        }
    }
    resolved
}

/// What `check` says about a file access log: a problem, or a warning.
#[derive(Debug, PartialEq, Eq)]
struct AccessLogFinding {
    /// True when the proxy could not write the file: `check` exits 1.
    fatal: bool,
    /// One line for standard error.
    text: String,
}

/// Whether this process's user could write the configured access log file, where
/// it can tell: the file must be writable when it exists, and its directory must
/// let the file be created again after logrotate moved it away. `check` runs as
/// the service's user (and, under systemd, in its sandbox), so the answer is the
/// service's. `access(2)` answers for this user; as root it only catches a
/// read-only file system. A directory that does not exist yet is only a warning:
/// systemd's `LogsDirectory=` creates it when the service starts, after a check
/// run before the first start.
fn access_log_finding(config: &Config) -> Option<AccessLogFinding> {
    let AccessLog::File(log) = &config.server.access_log else {
        return None;
    };
    let head = format!(
        "{}: server.access_log = \"{}\"",
        config.source.path.display(),
        log.display()
    );
    let problem = |what: String| {
        Some(AccessLogFinding {
            fatal: true,
            text: format!(
                "{head}: {what}; every access log line would be dropped (counted as open_error). Make it writable by this user (uid {}; with systemd: LogsDirectory= or ReadWritePaths=), or write access_log = \"stdout\"",
                // SAFETY: getuid(2) cannot fail and touches no memory.
                unsafe { libc::getuid() },
            ),
        })
    };
    match std::fs::metadata(log) {
        // A pipe or a device is written, never created: only it matters.
        Ok(m) if !m.is_file() => {
            return writable(log)
                .err()
                .and_then(|e| problem(format!("not writable: {e}")))
        }
        Ok(_) => {
            if let Err(e) = writable(log) {
                return problem(format!("the file is not writable: {e}"));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return problem(format!("cannot inspect it: {e}")),
    }
    let dir = match log.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => writable(dir)
            .err()
            .and_then(|e| problem(format!("directory {} is not writable: {e}", dir.display()))),
        Ok(_) => problem(format!("{} is not a directory", dir.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(AccessLogFinding {
            fatal: false,
            text: format!(
                "{}: warning: server.access_log: directory {} does not exist; it must exist and be writable when the proxy starts (systemd's LogsDirectory= creates it), or every access log line is dropped (counted as open_error)",
                config.source.path.display(),
                dir.display()
            ),
        }),
        Err(e) => problem(format!("directory {}: {e}", dir.display())),
    }
}

/// `access(2)` with W_OK: whether this process's (real) user may write `path`.
fn writable(path: &Path) -> std::io::Result<()> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: c_path is a valid NUL-terminated string that outlives the call.
    if unsafe { libc::access(c_path.as_ptr(), libc::W_OK) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_logging_to(dest: &str) -> Config {
        let text = format!(
            "[server]\naccess_log = \"{dest}\"\n[[listener]]\nlisten = \"127.0.0.1:8080\"\ntls = false\n"
        );
        staticedge_config::parse(Path::new("/etc/staticedge/test.toml"), &text)
            .expect("a valid test configuration")
    }

    #[test]
    fn a_missing_log_directory_is_a_warning_that_names_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("no-such-dir").join("access.log");
        let finding =
            access_log_finding(&config_logging_to(&log.display().to_string())).expect("a finding");
        assert!(!finding.fatal, "systemd may create it at start");
        assert!(
            finding
                .text
                .starts_with("/etc/staticedge/test.toml: warning: server.access_log: directory "),
            "{}",
            finding.text
        );
        assert!(finding.text.contains("no-such-dir"), "{}", finding.text);
    }

    #[test]
    fn a_writable_directory_stdout_and_off_are_fine() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("access.log");
        assert_eq!(
            access_log_finding(&config_logging_to(&log.display().to_string())),
            None
        );
        assert_eq!(access_log_finding(&config_logging_to("stdout")), None);
        assert_eq!(access_log_finding(&config_logging_to("off")), None);
    }

    #[test]
    fn a_parent_that_is_a_file_is_a_problem_that_says_what_to_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("plain");
        std::fs::write(&file, "x").expect("write");
        let log = file.join("access.log");
        let finding =
            access_log_finding(&config_logging_to(&log.display().to_string())).expect("a finding");
        assert!(finding.fatal);
        assert!(
            finding.text.to_lowercase().contains("not a directory"),
            "{}",
            finding.text
        );
        assert!(
            finding.text.contains("access_log = \"stdout\""),
            "{}",
            finding.text
        );
    }
}
