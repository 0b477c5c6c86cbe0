//! The live figures in `/status` (and so on the page): requests/s, 4xx/s, 5xx/s and
//! upstream latency p50/p99, for each sampled interval and for the last minute.

use crate::sampling::{Sample, HISTORY, SAMPLE_INTERVAL};
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The span of the summary figures.
pub const SUMMARY_WINDOW: Duration = Duration::from_secs(60);

/// What happened between two samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    /// When it ended.
    pub end: Instant,
    /// Its length in seconds.
    pub seconds: f64,
    /// Requests answered per second.
    pub requests_per_second: f64,
    /// 4xx answers per second.
    pub client_errors_per_second: f64,
    /// 5xx answers per second.
    pub server_errors_per_second: f64,
    /// Median time to the upstream's response header, in ms (`None`: no upstream answered).
    pub upstream_p50_ms: Option<f64>,
    /// 99th percentile of the same, in ms.
    pub upstream_p99_ms: Option<f64>,
}

/// The figures from `start` to `end`; `None` when less than a tenth of a second apart
/// (too short for a rate worth showing).
pub fn between(start: &Sample, end: &Sample) -> Option<Interval> {
    let seconds = end.taken.checked_duration_since(start.taken)?.as_secs_f64();
    if seconds < 0.1 {
        return None;
    }
    let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 / seconds;
    let latency = end.upstream_latency.since(&start.upstream_latency);
    let ms = |q: f64| latency.quantile(q).map(|s| s * 1000.0);
    Some(Interval {
        end: end.taken,
        seconds,
        requests_per_second: rate(end.requests, start.requests),
        client_errors_per_second: rate(end.client_errors, start.client_errors),
        server_errors_per_second: rate(end.server_errors, start.server_errors),
        upstream_p50_ms: ms(0.5),
        upstream_p99_ms: ms(0.99),
    })
}

/// One interval per pair of consecutive samples, oldest first.
pub fn history(samples: &[Sample]) -> Vec<Interval> {
    samples
        .windows(2)
        .filter_map(|pair| between(&pair[0], &pair[1]))
        .collect()
}

/// The last minute up to `now` (a sample read at this moment): from the oldest stored
/// sample no older than [`SUMMARY_WINDOW`], or from the newest one when all are older.
pub fn last_minute(samples: &[Sample], now: &Sample) -> Option<Interval> {
    let start = samples
        .iter()
        .find(|s| now.taken.saturating_duration_since(s.taken) <= SUMMARY_WINDOW)
        .or_else(|| samples.last())?;
    between(start, now)
}

/// Two decimals: enough for a rate or a latency, and short in the JSON.
fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// One interval as JSON, its end as Unix seconds on the wall clock.
fn interval_json(i: &Interval, now: &Sample, wall_now: SystemTime) -> Value {
    let wall_end = wall_now
        .checked_sub(now.taken.saturating_duration_since(i.end))
        .unwrap_or(wall_now);
    json!({
        "end_unix": wall_end.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "seconds": round(i.seconds),
        "requests_per_second": round(i.requests_per_second),
        "4xx_per_second": round(i.client_errors_per_second),
        "5xx_per_second": round(i.server_errors_per_second),
        "upstream_p50_ms": i.upstream_p50_ms.map(round),
        "upstream_p99_ms": i.upstream_p99_ms.map(round),
    })
}

/// The `figures` member of `/status`: the last minute's figures (`null` in the first
/// tenth of a second) and one entry per sampled interval of the last [`HISTORY`].
pub fn figures_json(samples: &[Sample], now: &Sample, wall_now: SystemTime) -> Value {
    json!({
        "now_unix": wall_now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "sample_interval_seconds": SAMPLE_INTERVAL.as_secs(),
        "history_seconds": HISTORY.as_secs(),
        "last_minute": last_minute(samples, now).map(|i| interval_json(&i, now, wall_now)),
        "history": history(samples).iter().map(|i| interval_json(i, now, wall_now)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::Buckets;

    fn sample(at: Instant, requests: u64, c4: u64, c5: u64, fast: u64, slow: u64) -> Sample {
        Sample {
            taken: at,
            requests,
            client_errors: c4,
            server_errors: c5,
            upstream_latency: Buckets {
                upper_bounds: vec![0.001, 0.1],
                cumulative: vec![fast, fast + slow],
                count: fast + slow,
            },
        }
    }

    #[test]
    fn an_interval_gives_rates_per_second_and_latency_in_ms() {
        let t0 = Instant::now();
        let a = sample(t0, 100, 10, 1, 0, 0);
        let b = sample(t0 + Duration::from_secs(5), 150, 20, 6, 10, 0);
        let i = between(&a, &b).expect("an interval");
        assert_eq!(i.requests_per_second, 10.0);
        assert_eq!(i.client_errors_per_second, 2.0);
        assert_eq!(i.server_errors_per_second, 1.0);
        assert_eq!(i.upstream_p50_ms, Some(0.5));
        assert!(between(&a, &a).is_none(), "no rate over no time");
        assert!(between(&b, &a).is_none(), "no rate backwards");
    }

    #[test]
    fn no_upstream_answer_means_no_latency_not_zero() {
        let t0 = Instant::now();
        let a = sample(t0, 0, 0, 0, 0, 0);
        let b = sample(t0 + Duration::from_secs(5), 7, 7, 0, 0, 0);
        let i = between(&a, &b).expect("an interval");
        assert_eq!(i.upstream_p50_ms, None);
        assert_eq!(i.upstream_p99_ms, None);
    }

    #[test]
    fn the_last_minute_starts_at_the_oldest_sample_inside_it() {
        let t0 = Instant::now();
        let samples: Vec<Sample> = (0..30)
            .map(|i| sample(t0 + Duration::from_secs(i * 5), i * 10, 0, 0, 0, 0))
            .collect();
        // now = 150 s: the oldest sample within 60 s is the one at 90 s (180 requests)
        let now = sample(t0 + Duration::from_secs(150), 780, 0, 0, 0, 0);
        let i = last_minute(&samples, &now).expect("a minute");
        assert_eq!(i.seconds, 60.0);
        assert_eq!(i.requests_per_second, 10.0);
        assert!(last_minute(&[], &now).is_none());
    }

    #[test]
    fn figures_json_has_history_and_null_without_data() {
        let t0 = Instant::now();
        let wall = SystemTime::now();
        let empty = figures_json(&[], &sample(t0, 0, 0, 0, 0, 0), wall);
        assert_eq!(empty["last_minute"], Value::Null);
        assert_eq!(empty["history"], json!([]));
        let samples = [
            sample(t0, 0, 0, 0, 0, 0),
            sample(t0 + Duration::from_secs(5), 50, 5, 0, 50, 0),
        ];
        let now = sample(t0 + Duration::from_secs(6), 60, 5, 0, 60, 0);
        let f = figures_json(&samples, &now, wall);
        assert_eq!(f["history"].as_array().map(Vec::len), Some(1));
        assert_eq!(f["history"][0]["requests_per_second"], json!(10.0));
        assert_eq!(f["last_minute"]["requests_per_second"], json!(10.0));
        assert_eq!(f["last_minute"]["4xx_per_second"], json!(0.83));
        let end = f["history"][0]["end_unix"].as_u64().unwrap_or(0);
        let wall_secs = wall
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        assert!(
            end + 2 >= wall_secs && end <= wall_secs,
            "{end} vs {wall_secs}"
        );
    }
}
