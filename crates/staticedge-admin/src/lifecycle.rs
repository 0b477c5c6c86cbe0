//! Process-wide state the admin port reports and the signal handlers change.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

/// Result of the last configuration (re)load.
#[derive(Debug, Clone)]
pub struct ReloadOutcome {
    /// When it happened.
    pub at: SystemTime,
    /// `None` when it succeeded; else every problem, one per line.
    pub error: Option<String>,
}

/// Drain state, uptime and reload history.
#[derive(Debug)]
pub struct Lifecycle {
    started: Instant,
    draining: AtomicBool,
    last_reload: Mutex<ReloadOutcome>,
    /// The start-up gate of `[upstream.*.probe]`.
    pub probes: ProbeGate,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            started: Instant::now(),
            draining: AtomicBool::new(false),
            last_reload: Mutex::new(ReloadOutcome {
                at: SystemTime::now(),
                error: None,
            }),
            probes: ProbeGate::default(),
        }
    }
}

impl Lifecycle {
    /// Marks the instance as draining: readiness fails from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// True after SIGTERM.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Seconds since start.
    pub fn uptime_seconds(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Records a reload result.
    pub fn record_reload(&self, error: Option<String>) {
        let mut r = self.last_reload.lock().unwrap_or_else(|e| e.into_inner());
        *r = ReloadOutcome {
            at: SystemTime::now(),
            error,
        };
    }

    /// The last reload result.
    pub fn last_reload(&self) -> ReloadOutcome {
        self.last_reload
            .lock()
            .map(|r| r.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }
}

/// One upstream's probe results.
#[derive(Debug, Clone, Default)]
pub struct ProbeStatus {
    /// Some probe got an expected status since start.
    pub ever_succeeded: bool,
    /// What the last probe got (status code or error).
    pub last_result: String,
    /// When the last probe finished.
    pub last_at: Option<SystemTime>,
}

/// The start-up gate: a fresh instance is ready only after each probed upstream
/// answered one probe as expected. Once open it stays open, so an upstream outage
/// later never takes the whole fleet out of the load balancer.
#[derive(Debug, Default)]
pub struct ProbeGate {
    opened: AtomicBool,
    by_upstream: Mutex<BTreeMap<String, ProbeStatus>>,
}

impl ProbeGate {
    /// Records a probe result for `upstream`.
    pub fn record(&self, upstream: &str, ok: bool, result: String) {
        staticedge_metrics::METRICS
            .probe_success
            .with_label_values(&[upstream])
            .set(i64::from(ok));
        let mut m = self.by_upstream.lock().unwrap_or_else(|e| e.into_inner());
        let s = m.entry(upstream.to_string()).or_default();
        s.ever_succeeded |= ok;
        s.last_result = result;
        s.last_at = Some(SystemTime::now());
    }

    /// The upstreams (of `probed`) still holding the gate closed, with their last
    /// result. Opens the gate for good when none is left.
    pub fn waiting_for(&self, probed: &[String]) -> Vec<(String, String)> {
        if self.opened.load(Ordering::SeqCst) {
            return Vec::new();
        }
        let m = self.by_upstream.lock().unwrap_or_else(|e| e.into_inner());
        let waiting: Vec<(String, String)> = probed
            .iter()
            .filter_map(|name| match m.get(name) {
                Some(s) if s.ever_succeeded => None,
                Some(s) => Some((name.clone(), s.last_result.clone())),
                None => Some((name.clone(), "no probe finished yet".into())),
            })
            .collect();
        if waiting.is_empty() {
            self.opened.store(true, Ordering::SeqCst);
        }
        waiting
    }

    /// All probe results, for /status.
    pub fn results(&self) -> BTreeMap<String, ProbeStatus> {
        self.by_upstream
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// True once every probed upstream succeeded once.
    pub fn is_open(&self) -> bool {
        self.opened.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_opens_once_and_stays_open() {
        let gate = ProbeGate::default();
        let probed = vec!["app".to_string()];
        assert_eq!(gate.waiting_for(&probed).len(), 1);
        gate.record("app", false, "status 400".into());
        assert_eq!(gate.waiting_for(&probed)[0].1, "status 400");
        gate.record("app", true, "status 200".into());
        assert!(gate.waiting_for(&probed).is_empty());
        gate.record("app", false, "connection refused".into());
        assert!(
            gate.waiting_for(&probed).is_empty(),
            "a later failure does not close it"
        );
        assert!(gate.is_open());
    }
}
