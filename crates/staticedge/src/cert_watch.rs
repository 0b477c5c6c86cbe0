//! Certificates renewed in place (certbot, a secrets sync), and client CA files and
//! CRLs updated in place, are picked up without a SIGHUP: the files' modification times are checked every few seconds, and a new
//! set is loaded only when every file parses and every key matches its certificate,
//! so a half-written pair is ignored until it is whole.

use crate::live::Live;
use staticedge_tls::{load_certificates, watched_files};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};
use tracing::{info, warn};

/// How often the files are looked at.
pub const INTERVAL: Duration = Duration::from_secs(3);

type Stamp = Vec<(PathBuf, Option<SystemTime>)>;

fn stamp(live: &Live) -> Stamp {
    let state = live.state.load_full();
    watched_files(&state.config.tls.certificates)
        .into_iter()
        .map(|p| {
            let m = std::fs::metadata(&p).and_then(|m| m.modified()).ok();
            (p, m)
        })
        .collect()
}

/// Runs until the process ends.
pub async fn watch(live: Live) {
    let mut applied = stamp(&live);
    let mut warned_for: Option<Stamp> = None;
    loop {
        tokio::time::sleep(INTERVAL).await;
        let now = stamp(&live);
        // Paths change only through a reload, which loads the certificates itself.
        let same_paths = now.iter().map(|x| &x.0).eq(applied.iter().map(|x| &x.0));
        if !same_paths || now == applied {
            applied = now;
            continue;
        }
        let state = live.state.load_full();
        match load_certificates(&live.config_path, &state.config.tls.certificates) {
            Ok(loaded) => {
                let serials: Vec<String> = loaded.iter().map(|c| c.info.serial.clone()).collect();
                if let Err(e) = live.renew_certificates(loaded) {
                    warn!(error = %e, "certificate files changed but cannot be used; keeping the current ones");
                    applied = now;
                    continue;
                }
                info!(serials = %serials.join(","), "certificate files changed; new certificates in use");
                applied = now;
                warned_for = None;
            }
            Err(e) => {
                if warned_for.as_ref() != Some(&now) {
                    warn!(error = %e, "certificate files changed but do not load yet; keeping the current ones");
                    warned_for = Some(now);
                }
            }
        }
    }
}
