//! `staticedge check`: validate without running.

use crate::live::{prepare, CertificateProblems};
use staticedge_config::{ConfigError, UpstreamAddress};
use std::path::Path;
use std::process::ExitCode;

/// Prints every problem (one `file:line:col: message` line each) and exits 1, or
/// prints a summary and exits 0. With `resolve`, also looks up every upstream name.
pub fn run(path: &Path, resolve: bool) -> ExitCode {
    let prepared = match prepare(path, CertificateProblems::Refuse) {
        Ok(p) => p,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(1);
        }
    };
    for line in prepared.warnings.to_string().lines() {
        eprintln!("{line}");
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
    if !resolve {
        return ExitCode::SUCCESS;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start a runtime to resolve: {e}");
            return ExitCode::from(1);
        }
    };
    let mut failed = false;
    for u in c.upstreams.values() {
        match &u.address {
            UpstreamAddress::Ip(a) => println!("upstream {}: {a} (fixed address)", u.name),
            UpstreamAddress::Name { host, port } => {
                match rt.block_on(staticedge_dns::resolve_once(host, *port, &u.dns)) {
                    Ok(answer) => {
                        let addrs: Vec<String> =
                            answer.addrs.iter().map(|a| a.to_string()).collect();
                        println!(
                            "upstream {}: {host}:{port} -> {} (ttl {}s after clamping)",
                            u.name,
                            addrs.join(", "),
                            answer.ttl.as_secs()
                        );
                    }
                    Err(e) => {
                        failed = true;
                        let problem = ConfigError::new(
                            path,
                            u.address_at,
                            format!("upstream.{}.address: {host}: {e}", u.name),
                        );
                        eprintln!("{problem}");
                    }
                }
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
