//! Build facts for `staticedge --version`, `/status` and `staticedge_build_info`:
//! the git commit (or `unknown` outside a checkout or without git), the build date
//! (`SOURCE_DATE_EPOCH` when set, for reproducible builds; else now) and the target
//! triple. Nothing here touches the network.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// Rebuild when HEAD moves (a commit, a checkout), so the commit shown is current.
fn watch_head() {
    for what in ["HEAD", "refs/heads", "packed-refs"] {
        if let Some(path) = git(&["rev-parse", "--git-path", what]) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}

fn build_time() -> SystemTime {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) => match s.trim().parse::<u64>() {
            Ok(secs) => UNIX_EPOCH + Duration::from_secs(secs),
            Err(_) => panic!("SOURCE_DATE_EPOCH must be seconds since 1970, got {s:?}"),
        },
        Err(_) => SystemTime::now(),
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-changed=build.rs");
    watch_head();
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let date = humantime::format_rfc3339_seconds(build_time());
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=STATICEDGE_COMMIT={commit}");
    println!("cargo:rustc-env=STATICEDGE_BUILD_DATE={date}");
    println!("cargo:rustc-env=STATICEDGE_TARGET={target}");
}
