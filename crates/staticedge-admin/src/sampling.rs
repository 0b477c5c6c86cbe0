//! The counters behind the status page's live figures, read every few seconds into a
//! ring buffer that covers the last minutes.
//!
//! Reading the process' own Prometheus counters (not a second set of counters kept on
//! the request path) means the page and `/metrics` can never disagree, and a request
//! pays nothing for the page.

use prometheus::core::Collector;
use staticedge_metrics::METRICS;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::warn;

/// How often the counters are read.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// How far back the ring buffer reaches.
pub const HISTORY: Duration = Duration::from_secs(15 * 60);

/// A cumulative latency histogram: upper bounds in seconds, the number of
/// observations at or under each bound, and the number of all observations (those
/// over the last bound included).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buckets {
    /// Upper bounds in seconds, ascending.
    pub upper_bounds: Vec<f64>,
    /// Observations at or under the bound at the same index.
    pub cumulative: Vec<u64>,
    /// All observations.
    pub count: u64,
}

impl Buckets {
    /// The observations made after `earlier` (counters only grow; a histogram with other
    /// bounds, which never happens in one process, counts as no observations).
    pub fn since(&self, earlier: &Buckets) -> Buckets {
        if earlier.upper_bounds.is_empty() {
            return self.clone();
        }
        if self.upper_bounds != earlier.upper_bounds {
            return Buckets::default();
        }
        Buckets {
            upper_bounds: self.upper_bounds.clone(),
            cumulative: self
                .cumulative
                .iter()
                .zip(&earlier.cumulative)
                .map(|(now, then)| now.saturating_sub(*then))
                .collect(),
            count: self.count.saturating_sub(earlier.count),
        }
    }

    /// The `q` quantile (0..=1) in seconds, interpolated inside its bucket as
    /// Prometheus' `histogram_quantile` does; the last bound when it lies beyond it;
    /// `None` without observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * self.count as f64;
        let (mut lower_bound, mut lower_count) = (0.0_f64, 0_u64);
        for (&bound, &cumulative) in self.upper_bounds.iter().zip(&self.cumulative) {
            if !bound.is_finite() {
                break;
            }
            if cumulative as f64 >= rank {
                let in_bucket = cumulative.saturating_sub(lower_count) as f64;
                if in_bucket == 0.0 {
                    return Some(bound);
                }
                let share = (rank - lower_count as f64) / in_bucket;
                return Some(lower_bound + (bound - lower_bound) * share);
            }
            (lower_bound, lower_count) = (bound, cumulative);
        }
        Some(lower_bound)
    }

    /// Adds another histogram with the same bounds (one upstream's) into this one.
    fn add(&mut self, bounds: Vec<f64>, cumulative: Vec<u64>, count: u64) {
        if self.upper_bounds.is_empty() {
            *self = Buckets {
                upper_bounds: bounds,
                cumulative,
                count,
            };
        } else if self.upper_bounds == bounds {
            for (sum, c) in self.cumulative.iter_mut().zip(cumulative) {
                *sum += c;
            }
            self.count += count;
        }
    }
}

/// The counters at one moment, all cumulative since the start.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// When they were read.
    pub taken: Instant,
    /// Requests answered (every status, staticedge's own answers included).
    pub requests: u64,
    /// Of those, answered 4xx.
    pub client_errors: u64,
    /// Of those, answered 5xx.
    pub server_errors: u64,
    /// Time to the upstream's response header, every upstream together.
    pub upstream_latency: Buckets,
}

impl Sample {
    /// Reads `staticedge_requests_total` and `staticedge_upstream_duration_seconds`.
    pub fn read(taken: Instant) -> Sample {
        let mut sample = Sample {
            taken,
            requests: 0,
            client_errors: 0,
            server_errors: 0,
            upstream_latency: Buckets::default(),
        };
        for family in METRICS.requests.collect() {
            for metric in family.get_metric() {
                let count = metric.get_counter().value() as u64;
                let code = metric
                    .get_label()
                    .iter()
                    .find(|l| l.name() == "code")
                    .map(|l| l.value())
                    .unwrap_or_default();
                sample.requests += count;
                match code.as_bytes().first() {
                    Some(b'4') => sample.client_errors += count,
                    Some(b'5') => sample.server_errors += count,
                    _ => {}
                }
            }
        }
        for family in METRICS.upstream_duration.collect() {
            for metric in family.get_metric() {
                let h = metric.get_histogram();
                let buckets = h.get_bucket();
                sample.upstream_latency.add(
                    buckets.iter().map(|b| b.upper_bound()).collect(),
                    buckets.iter().map(|b| b.cumulative_count()).collect(),
                    h.get_sample_count(),
                );
            }
        }
        sample
    }
}

/// The last samples, oldest first, at most `capacity` of them.
#[derive(Debug)]
pub struct SampleRing {
    samples: Mutex<VecDeque<Sample>>,
    capacity: usize,
}

impl SampleRing {
    /// An empty ring keeping at most `capacity` samples (at least two, so that there
    /// is always an interval once it filled).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(2);
        SampleRing {
            samples: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity,
        }
    }

    /// A ring sized for [`HISTORY`] at [`SAMPLE_INTERVAL`] (one more sample than
    /// intervals, so the oldest interval still has its start).
    pub fn for_history() -> Self {
        let intervals = HISTORY.as_secs() / SAMPLE_INTERVAL.as_secs().max(1);
        SampleRing::new(intervals as usize + 1)
    }

    /// Adds a sample, forgetting the oldest when full.
    pub fn push(&self, sample: Sample) {
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        while samples.len() >= self.capacity {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    /// A copy of the samples, oldest first.
    pub fn snapshot(&self) -> Vec<Sample> {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples.iter().cloned().collect()
    }
}

/// Reads the counters into `ring` now and then every [`SAMPLE_INTERVAL`], on a thread
/// of its own for the life of the process (the thread holds only the ring).
pub fn start_sampling(ring: Arc<SampleRing>) {
    let spawned = std::thread::Builder::new()
        .name("staticedge-figures".into())
        .spawn(move || loop {
            ring.push(Sample::read(Instant::now()));
            std::thread::sleep(SAMPLE_INTERVAL);
        });
    if let Err(e) = spawned {
        warn!(error = %e, "cannot start the status page's sampling thread; its figures stay empty");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: Instant, requests: u64) -> Sample {
        Sample {
            taken: at,
            requests,
            client_errors: 0,
            server_errors: 0,
            upstream_latency: Buckets::default(),
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_samples_in_order() {
        let ring = SampleRing::new(3);
        let t0 = Instant::now();
        for i in 0..5 {
            ring.push(sample(t0 + Duration::from_secs(i * 5), i));
        }
        let kept: Vec<u64> = ring.snapshot().iter().map(|s| s.requests).collect();
        assert_eq!(kept, [2, 3, 4]);
    }

    #[test]
    fn the_history_ring_covers_fifteen_minutes_of_intervals() {
        let ring = SampleRing::for_history();
        let t0 = Instant::now();
        for i in 0..500 {
            ring.push(sample(t0 + Duration::from_secs(i * 5), i));
        }
        let kept = ring.snapshot();
        assert_eq!(kept.len(), 181);
        let span = kept[kept.len() - 1].taken - kept[0].taken;
        assert_eq!(span, HISTORY);
    }

    fn buckets(cumulative: &[u64], count: u64) -> Buckets {
        Buckets {
            upper_bounds: vec![0.001, 0.002, 0.004, 0.008],
            cumulative: cumulative.to_vec(),
            count,
        }
    }

    #[test]
    fn quantiles_interpolate_inside_their_bucket() {
        // 10 observations: 4 up to 1 ms, 4 in (1, 2] ms, 2 in (4, 8] ms.
        let b = buckets(&[4, 8, 8, 10], 10);
        let p50 = b.quantile(0.5).unwrap_or_default();
        assert!((p50 - 0.00125).abs() < 1e-9, "{p50}");
        let p99 = b.quantile(0.99).unwrap_or_default();
        assert!(p99 > 0.0075 && p99 <= 0.008, "{p99}");
        assert_eq!(buckets(&[0, 0, 0, 0], 0).quantile(0.5), None);
        // beyond the last bound: the last bound, not infinity
        assert_eq!(buckets(&[0, 0, 0, 0], 3).quantile(0.99), Some(0.008));
    }

    #[test]
    fn an_interval_counts_only_its_own_observations() {
        let earlier = buckets(&[4, 8, 8, 10], 10);
        let later = buckets(&[4, 8, 8, 30], 30);
        let between = later.since(&earlier);
        assert_eq!(between.cumulative, [0, 0, 0, 20]);
        assert_eq!(between.count, 20);
        assert!(between.quantile(0.5).unwrap_or_default() > 0.004);
        assert_eq!(later.since(&Buckets::default()), later);
    }

    #[test]
    fn a_sample_reads_the_request_and_latency_counters() {
        let before = Sample::read(Instant::now());
        METRICS
            .requests
            .with_label_values(&["sampling-test", "200"])
            .inc();
        METRICS
            .requests
            .with_label_values(&["sampling-test", "404"])
            .inc_by(2);
        METRICS
            .requests
            .with_label_values(&["sampling-test", "503"])
            .inc_by(3);
        METRICS
            .upstream_duration
            .with_label_values(&["sampling-test"])
            .observe(0.003);
        let after = Sample::read(Instant::now());
        // Other tests in this process may count too: at least ours are there.
        assert!(after.requests >= before.requests + 6);
        assert!(after.client_errors >= before.client_errors + 2);
        assert!(after.server_errors >= before.server_errors + 3);
        let latency = after.upstream_latency.since(&before.upstream_latency);
        assert!(latency.count >= 1);
        assert!(latency.quantile(0.5).is_some());
    }
}
