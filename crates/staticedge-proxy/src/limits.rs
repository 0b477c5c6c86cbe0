//! Connection limits: in total and per client address, checked when a connection is
//! accepted (after the PROXY header, so the real client counts, not the NLB).

use staticedge_metrics::METRICS;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The limits and the current counts.
#[derive(Debug)]
pub struct ConnectionLimits {
    max_total: AtomicUsize,
    max_per_ip: AtomicUsize,
    total: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// Holds one admitted connection's place; releases it when dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    limits: Arc<ConnectionLimits>,
    ip: Option<IpAddr>,
}

impl ConnectionLimits {
    /// `0` means no limit.
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(ConnectionLimits {
            max_total: AtomicUsize::new(max_total),
            max_per_ip: AtomicUsize::new(max_per_ip),
            total: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
        })
    }

    /// New limits from a reload; connections already open are not closed.
    pub fn set(&self, max_total: usize, max_per_ip: usize) {
        self.max_total.store(max_total, Ordering::Relaxed);
        self.max_per_ip.store(max_per_ip, Ordering::Relaxed);
    }

    /// Takes a place for a connection from `ip`, or `None` when a limit is reached.
    pub fn admit(self: &Arc<Self>, ip: Option<IpAddr>) -> Option<ConnectionSlot> {
        let max_total = self.max_total.load(Ordering::Relaxed);
        let total = self.total.fetch_add(1, Ordering::AcqRel) + 1;
        if max_total > 0 && total > max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let counted_ip = match (ip, self.max_per_ip.load(Ordering::Relaxed)) {
            (Some(ip), max) if max > 0 => {
                let mut m = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
                let n = m.entry(ip).or_insert(0);
                if *n >= max {
                    drop(m);
                    self.total.fetch_sub(1, Ordering::AcqRel);
                    return None;
                }
                *n += 1;
                Some(ip)
            }
            _ => None,
        };
        METRICS.downstream_connections.inc();
        Some(ConnectionSlot {
            limits: self.clone(),
            ip: counted_ip,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        METRICS.downstream_connections.dec();
        self.limits.total.fetch_sub(1, Ordering::AcqRel);
        if let Some(ip) = self.ip {
            let mut m = self.limits.per_ip.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = m.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_admit_and_release() {
        let l = ConnectionLimits::new(3, 2);
        let a: IpAddr = "203.0.113.7".parse().expect("ip");
        let b: IpAddr = "203.0.113.8".parse().expect("ip");
        let s1 = l.admit(Some(a)).expect("1");
        let _s2 = l.admit(Some(a)).expect("2");
        assert!(l.admit(Some(a)).is_none(), "per-IP limit");
        let _s3 = l.admit(Some(b)).expect("3");
        assert!(l.admit(Some(b)).is_none(), "total limit");
        drop(s1);
        assert!(l.admit(Some(a)).is_some(), "released");
        l.set(0, 0);
        assert!(l.admit(Some(a)).is_some(), "limits lifted by a reload");
        let unlimited = ConnectionLimits::new(0, 0);
        let held: Vec<_> = (0..100).filter_map(|_| unlimited.admit(Some(a))).collect();
        assert_eq!(held.len(), 100);
    }
}
