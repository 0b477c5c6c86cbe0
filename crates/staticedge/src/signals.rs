//! Signals besides the drain's (TERM, QUIT, INT: `drain.rs`) and the reload's (HUP:
//! `control.rs`), following nginx's habits where they do not hurt:
//!
//! - USR1 reopens the access log, without a reload (logrotate's `postrotate`);
//! - signals whose default action would end the process, and which mean nothing to
//!   staticedge, are logged and ignored: an operator's `kill -USR2` or a stray timer
//!   signal must not take an instance down mid-request.
//!
//! Signals that report a fault (SEGV, BUS, FPE, ILL, ABRT, TRAP, SYS), a resource
//! limit the kernel enforces next with KILL (XCPU), or that cannot be caught (KILL,
//! STOP) keep their default action. PIPE is already ignored by the Rust runtime: a
//! write to a closed socket fails with EPIPE instead.

use std::sync::{Arc, Mutex};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tracing::{info, warn};

/// Signals that are logged and ignored, with their names. nginx gives USR2 and
/// WINCH a meaning (binary upgrade, stop workers) that staticedge does not have;
/// XFSZ (file size limit) is ignored so that an oversized access log fails its
/// writes (counted as `write_error`) instead of ending the process.
pub const IGNORED: [(i32, &str); 8] = [
    (libc::SIGUSR2, "SIGUSR2"),
    (libc::SIGWINCH, "SIGWINCH"),
    (libc::SIGALRM, "SIGALRM"),
    (libc::SIGVTALRM, "SIGVTALRM"),
    (libc::SIGPROF, "SIGPROF"),
    (libc::SIGIO, "SIGIO"),
    (libc::SIGPWR, "SIGPWR"),
    (libc::SIGXFSZ, "SIGXFSZ"),
];

/// What USR1 does once the proxy runs: reopen the access log at its current
/// destination. Set by the control loop when it starts.
pub type Reopen = Arc<dyn Fn() + Send + Sync>;

static REOPEN: Mutex<Option<Reopen>> = Mutex::new(None);

/// Makes USR1 call `reopen` from now on.
pub fn on_usr1(reopen: Reopen) {
    *REOPEN.lock().unwrap_or_else(|e| e.into_inner()) = Some(reopen);
}

fn usr1() {
    let reopen = REOPEN.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match reopen {
        Some(reopen) => {
            reopen();
            info!(signal = "SIGUSR1", "access log reopened (no reload)");
        }
        None => info!(
            signal = "SIGUSR1",
            "received before the access log was opened; nothing to reopen"
        ),
    }
}

/// Takes over USR1, HUP and the [`IGNORED`] signals for the rest of the process's
/// life, before anything starts (so none of them can kill a starting instance).
/// They are handled on a thread of their own. Returns an error when a handler
/// cannot be installed: the process then keeps the default actions.
pub fn install() -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("no runtime for the signal handlers: {e}"))?;
    let listen = |raw: i32, name: &'static str| {
        signal(SignalKind::from_raw(raw))
            .map(|s| (s, name))
            .map_err(|e| format!("cannot handle {name}: {e}"))
    };
    let (usr1_stream, ignored) = {
        let _entered = runtime.enter();
        // SIGHUP is the control loop's once it runs; taken over now (the handler
        // stays when this stream is dropped), one that arrives while the proxy
        // starts (a reload sent too early) is lost instead of fatal.
        drop(listen(libc::SIGHUP, "SIGHUP")?);
        let usr1_stream = listen(libc::SIGUSR1, "SIGUSR1")?.0;
        let ignored = IGNORED
            .iter()
            .map(|(raw, name)| listen(*raw, name))
            .collect::<Result<Vec<_>, _>>()?;
        (usr1_stream, ignored)
    };
    std::thread::Builder::new()
        .name("staticedge-signals".into())
        .spawn(move || runtime.block_on(handle(usr1_stream, ignored)))
        .map(|_| ())
        .map_err(|e| format!("no thread for the signal handlers: {e}"))
}

async fn handle(mut usr1_stream: Signal, ignored: Vec<(Signal, &'static str)>) {
    for (mut stream, name) in ignored {
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                warn!(
                    signal = name,
                    "signal ignored: it has no meaning to staticedge (TERM or QUIT drains, HUP reloads, USR1 reopens the access log)"
                );
            }
        });
    }
    while usr1_stream.recv().await.is_some() {
        usr1();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The operator's list of ignored signals (the log line table) names every one.
    #[test]
    fn the_docs_name_every_ignored_signal() {
        let docs = include_str!("../../../docs/observability.md");
        let row = docs
            .lines()
            .find(|l| l.contains("`signal ignored:"))
            .unwrap_or_default();
        for (_, name) in IGNORED {
            let short = name.trim_start_matches("SIG");
            assert!(
                row.contains(&format!(" {short},")) || row.contains(&format!(" {short} ")),
                "docs/observability.md does not list {name} as ignored: {row}"
            );
        }
    }
}
