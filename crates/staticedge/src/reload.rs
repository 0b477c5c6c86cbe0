//! `staticedge reload`: SIGHUP to the running proxy, then its verdict as the exit code.
//!
//! A bare `kill -HUP` always succeeds, so `systemctl reload` and a fleet's config
//! rollout reported success for a reload the proxy refused. This command sends the
//! signal, waits until the proxy has finished that reload (its
//! `staticedge_config_reloads_total` moved past the value read before the signal;
//! the result is recorded in `/status` before it is counted), and exits 0 when it
//! was applied, 1 with every reason when it was refused or could not be confirmed.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Which process to signal and where to read its verdict.
pub struct Target {
    /// The configuration file the proxy re-reads; its `[admin] listen` is where the
    /// verdict is read unless `admin` is given.
    pub config: PathBuf,
    /// The proxy's process id (systemd: `$MAINPID`).
    pub pid: Option<i32>,
    /// A file holding the process id (`staticedge run --pid-file`).
    pub pid_file: Option<PathBuf>,
    /// The admin address, when it cannot be read from the configuration file.
    pub admin: Option<SocketAddr>,
    /// How long to wait for the verdict.
    pub timeout: Duration,
}

/// Sends SIGHUP and reports the result: 0 applied, 1 refused or unconfirmed.
pub fn run(target: &Target) -> ExitCode {
    match reload(target) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(reasons) => {
            for line in reasons.lines() {
                eprintln!("{line}");
            }
            ExitCode::from(1)
        }
    }
}

fn reload(target: &Target) -> Result<String, String> {
    let pid = process_id(target)?;
    let admin = match target.admin {
        Some(admin) => admin,
        None => match admin_in(&target.config) {
            Ok(admin) => admin,
            Err(problems) => {
                // The proxy reads the same file and will refuse it; the signal still
                // goes out so that it logs and records the refusal (and reopens its
                // access log, as any SIGHUP does).
                send_hangup(pid)?;
                return Err(format!("{REFUSED}\n{problems}"));
            }
        },
    };
    let admin = reachable(admin);
    let before = reload_count(admin);
    send_hangup(pid)?;
    let before = before
        .map_err(|e| format!("sent SIGHUP to process {pid}, but cannot confirm the reload: {e}"))?;
    let deadline = Instant::now() + target.timeout;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        if !process_alive(pid) {
            return Err(format!("process {pid} exited during the reload"));
        }
        if matches!(reload_count(admin), Ok(n) if n > before) {
            return verdict(admin);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "sent SIGHUP to process {pid}, but http://{admin}/status shows no reload result within {}s",
                target.timeout.as_secs()
            ));
        }
    }
}

/// The first line of a refusal.
const REFUSED: &str = "reload refused; the previous configuration keeps serving:";

fn process_id(target: &Target) -> Result<i32, String> {
    if let Some(pid) = target.pid {
        return positive(pid);
    }
    let Some(file) = &target.pid_file else {
        return Err(
            "which process? give --pid (systemd: --pid $MAINPID) or --pid-file (as given to `staticedge run --pid-file`)"
                .into(),
        );
    };
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read the pid file {}: {e}", file.display()))?;
    text.trim()
        .parse::<i32>()
        .map_err(|_| {
            format!(
                "{}: expected a process id, found {:?}",
                file.display(),
                text.trim()
            )
        })
        .and_then(positive)
}

fn positive(pid: i32) -> Result<i32, String> {
    if pid > 0 {
        Ok(pid)
    } else {
        Err(format!("{pid} is not a process id"))
    }
}

/// An unspecified address (`0.0.0.0`, `[::]`) is reached on loopback.
fn reachable(configured: SocketAddr) -> SocketAddr {
    let ip = match configured.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, configured.port())
}

/// The configuration's `[admin] listen`. A file with problems still gives it when
/// it is valid TOML (the proxy will refuse the reload and say why); a file that
/// cannot be read or parsed gives its problems instead.
fn admin_in(config: &Path) -> Result<SocketAddr, String> {
    staticedge_config::load_for_check(config)
        .map(|(c, _)| c.admin.listen)
        .map_err(|problems| problems.to_string())
}

fn send_hangup(pid: i32) -> Result<(), String> {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    if unsafe { libc::kill(pid, libc::SIGHUP) } == 0 {
        Ok(())
    } else {
        Err(format!(
            "cannot send SIGHUP to process {pid}: {}",
            std::io::Error::last_os_error()
        ))
    }
}

fn process_alive(pid: i32) -> bool {
    // SAFETY: as above; signal 0 only checks that the process exists.
    let exists = unsafe { libc::kill(pid, 0) } == 0;
    exists || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Reloads finished so far, applied or refused.
fn reload_count(admin: SocketAddr) -> Result<u64, String> {
    let body = get(admin, "/metrics")?;
    Ok(count_reloads(&body))
}

fn count_reloads(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("staticedge_config_reloads_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// The last reload's result from `/status`.
fn verdict(admin: SocketAddr) -> Result<String, String> {
    let body = get(admin, "/status")?;
    let status: Value = serde_json::from_str(&body)
        .map_err(|e| format!("http://{admin}/status is not JSON: {e}"))?;
    let config = &status["config"];
    let last = &config["last_reload"];
    match last["result"].as_str() {
        Some("ok") => Ok(format!(
            "reloaded {} (sha256 {})",
            config["source"].as_str().unwrap_or("?"),
            config["hash"].as_str().unwrap_or("?")
        )),
        _ => Err(format!(
            "{REFUSED}\n{}",
            last["error"].as_str().unwrap_or("(no reason recorded)")
        )),
    }
}

/// One GET to the admin port; the body as text when it answers 200.
fn get(admin: SocketAddr, path: &str) -> Result<String, String> {
    let fail = |e: std::io::Error| format!("cannot read http://{admin}{path}: {e}");
    let timeout = Duration::from_secs(5);
    let mut conn = TcpStream::connect_timeout(&admin, timeout).map_err(fail)?;
    conn.set_read_timeout(Some(timeout)).map_err(fail)?;
    conn.set_write_timeout(Some(timeout)).map_err(fail)?;
    conn.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .map_err(fail)?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some((code, body)) = complete_response(&raw)? {
            if code != 200 {
                return Err(format!("http://{admin}{path} answered {code}"));
            }
            return Ok(String::from_utf8_lossy(body).into_owned());
        }
        match conn.read(&mut chunk).map_err(fail)? {
            0 => return Err(format!("http://{admin}{path}: the answer ended early")),
            n => raw.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The status and body once `raw` holds a whole response framed by
/// `Content-Length` (what the admin port sends), `None` while more is to come.
fn complete_response(raw: &[u8]) -> Result<Option<(u16, &[u8])>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(raw) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("not an HTTP answer: {e}")),
    };
    let length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        })
        .ok_or("an answer without Content-Length")?;
    let code = response.code.unwrap_or(0);
    Ok(raw.get(head..head + length).map(|body| (code, body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_is_complete_at_its_content_length() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n";
        assert_eq!(complete_response(&head[..10]), Ok(None));
        assert_eq!(complete_response(&[&head[..], b"abc"].concat()), Ok(None));
        let whole = [&head[..], b"abcde"].concat();
        assert_eq!(complete_response(&whole), Ok(Some((200, &b"abcde"[..]))));
    }

    #[test]
    fn reloads_are_counted_over_both_results() {
        let metrics = "# HELP staticedge_config_reloads_total x\n\
            staticedge_config_reloads_total{result=\"error\"} 2\n\
            staticedge_config_reloads_total{result=\"ok\"} 3\n\
            staticedge_config_reloads_totally 9\n";
        assert_eq!(count_reloads(metrics), 5);
    }

    #[test]
    fn an_unspecified_admin_address_is_reached_on_loopback() {
        let at = |a: &str| reachable(a.parse().expect("an address")).to_string();
        assert_eq!(at("0.0.0.0:9901"), "127.0.0.1:9901");
        assert_eq!(at("[::]:9"), "[::1]:9");
        assert_eq!(at("10.0.0.5:9901"), "10.0.0.5:9901");
    }

    #[test]
    fn no_process_named_is_an_error_that_says_how() {
        let t = Target {
            config: PathBuf::from("/nonexistent.toml"),
            pid: None,
            pid_file: None,
            admin: None,
            timeout: Duration::from_secs(1),
        };
        assert!(process_id(&t).unwrap_err().contains("--pid $MAINPID"));
        let t = Target { pid: Some(0), ..t };
        assert!(process_id(&t).is_err());
    }
}
