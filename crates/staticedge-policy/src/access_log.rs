//! The access log: one JSON object per request, written off the request path.
//!
//! Requests hand a finished line to a bounded queue and move on; one thread writes.
//! When the queue is full (a stuck disk, a pipe nobody reads) the line is dropped and
//! counted, so logging can never stall traffic. A file destination is reopened on
//! request (SIGHUP), which is what logrotate expects.

use serde::Serialize;
use staticedge_config::AccessLog as Destination;
use staticedge_metrics::METRICS;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::Duration;

/// Lines that may wait for the writer before new ones are dropped: at one pass per
/// [`TICK`], up to 327,000 lines a second are written.
const QUEUE: usize = 32_768;

/// How often the writer takes the queued lines and writes them in one batch.
const TICK: Duration = Duration::from_millis(100);

/// One request, as logged.
#[derive(Debug, Serialize)]
pub struct AccessRecord<'a> {
    /// RFC 3339 time the request finished.
    pub time: String,
    /// The X-Request-Id sent upstream and returned to the client.
    pub request_id: &'a str,
    /// Client address (PROXY header or socket peer).
    pub client_ip: Option<String>,
    /// TLS server name the client asked for.
    pub sni: Option<&'a str>,
    /// Host header / :authority.
    pub host: &'a str,
    /// HTTP method.
    pub method: &'a str,
    /// Path and query.
    pub path: &'a str,
    /// Status sent to the client (0 when none was sent).
    pub status: u16,
    /// The route that matched, if any.
    pub route: Option<&'a str>,
    /// The upstream address the last attempt went to.
    pub upstream_addr: Option<String>,
    /// Milliseconds to the upstream's response header.
    pub upstream_ms: Option<f64>,
    /// Milliseconds for the whole request.
    pub duration_ms: f64,
    /// Request body bytes read from the client.
    pub bytes_in: usize,
    /// Response body bytes sent to the client.
    pub bytes_out: usize,
    /// "TLSv1_3", "TLSv1_2" or null for plain HTTP.
    pub tls_version: Option<&'a str>,
    /// "h2" or "http/1.1".
    pub alpn: &'a str,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

enum Message {
    Line(Vec<u8>),
    Reopen(Destination),
    Flush(SyncSender<()>),
}

/// The sending side; cheap to clone.
#[derive(Clone)]
pub struct AccessLogger {
    tx: Option<SyncSender<Message>>,
    /// False while the destination is "off": no line is even formatted.
    enabled: Arc<AtomicBool>,
}

impl AccessLogger {
    /// A logger that writes nothing.
    pub fn off() -> Self {
        AccessLogger {
            tx: None,
            enabled: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Starts the writer thread for `dest`.
    pub fn start(dest: Destination) -> Self {
        Self::start_with_queue(dest, QUEUE)
    }

    fn start_with_queue(dest: Destination, queue: usize) -> Self {
        let enabled = Arc::new(AtomicBool::new(dest != Destination::Off));
        let (tx, rx) = sync_channel(queue);
        let spawned = std::thread::Builder::new()
            .name("staticedge-access-log".into())
            .spawn(move || writer(rx, dest));
        match spawned {
            Ok(_) => AccessLogger {
                tx: Some(tx),
                enabled,
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot start the access log writer; access log is off");
                AccessLogger::off()
            }
        }
    }

    /// Queues one record; never blocks.
    pub fn log(&self, record: &AccessRecord<'_>) {
        let Some(tx) = &self.tx else { return };
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let Ok(mut line) = serde_json::to_vec(record) else {
            return;
        };
        line.push(b'\n');
        match tx.try_send(Message::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                METRICS.access_log_dropped.inc();
            }
        }
    }

    /// Writes out everything queued, waiting at most `limit` (a stuck destination
    /// must not hold up the exit). Called before the process exits.
    pub fn flush(&self, limit: Duration) {
        if let Some(tx) = &self.tx {
            let (done, wait) = sync_channel(1);
            if tx.try_send(Message::Flush(done)).is_ok() {
                let _ = wait.recv_timeout(limit);
            }
        }
    }

    /// Reopens (or switches to) `dest`: logrotate's SIGHUP, or a reload.
    pub fn reopen(&self, dest: Destination) {
        self.enabled
            .store(dest != Destination::Off, Ordering::Relaxed);
        if let Some(tx) = &self.tx {
            // Never wait for a stuck writer: a reload must not hang on the log.
            if tx.try_send(Message::Reopen(dest)).is_err() {
                tracing::warn!("access log writer is behind; the log was not reopened");
            }
        }
    }
}

fn open(dest: &Destination) -> Option<Box<dyn Write + Send>> {
    match dest {
        Destination::Off => None,
        // Stdout is line-buffered by itself: one write(2) per line. Batch it.
        Destination::Stdout => Some(Box::new(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stdout(),
        ))),
        Destination::File(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(f) => Some(Box::new(std::io::BufWriter::with_capacity(64 * 1024, f))),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot open the access log");
                None
            }
        },
    }
}

fn writer(rx: Receiver<Message>, dest: Destination) {
    let mut out = open(&dest);
    let handle = |msg: Message, out: &mut Option<Box<dyn Write + Send>>| match msg {
        Message::Line(line) => {
            let written = out.as_mut().is_some_and(|o| o.write_all(&line).is_ok());
            // Unwritable, or the file could not be opened: the line is lost, say so.
            if !written {
                METRICS.access_log_dropped.inc();
            }
        }
        Message::Reopen(d) => {
            if let Some(o) = out.as_mut() {
                let _ = o.flush();
            }
            *out = open(&d);
        }
        Message::Flush(done) => {
            if let Some(o) = out.as_mut() {
                let _ = o.flush();
            }
            let _ = done.try_send(());
        }
    };
    // The writer wakes on its own schedule and takes everything queued meanwhile.
    // Requests never wake it: on a busy proxy pinned to one core, a wake-up per
    // request cost two context switches and a write(2) each.
    loop {
        std::thread::sleep(TICK);
        loop {
            match rx.try_recv() {
                Ok(msg) => handle(msg, &mut out),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    if let Some(o) = out.as_mut() {
                        let _ = o.flush();
                    }
                    return;
                }
            }
        }
        if let Some(o) = out.as_mut() {
            let _ = o.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> AccessRecord<'_> {
        AccessRecord {
            time: "t".into(),
            request_id: id,
            client_ip: None,
            sni: None,
            host: "a.test",
            method: "GET",
            path: "/",
            status: 200,
            route: None,
            upstream_addr: None,
            upstream_ms: None,
            duration_ms: 0.0,
            bytes_in: 0,
            bytes_out: 0,
            tls_version: None,
            alpn: "http/1.1",
            error: None,
        }
    }

    fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect()
    }

    #[test]
    fn lines_reach_the_file_and_a_reopen_follows_a_rotation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("access.log");
        let log = AccessLogger::start(Destination::File(path.clone()));
        log.log(&record("first"));
        log.flush(Duration::from_secs(5));
        assert_eq!(lines(&path)[0]["request_id"], "first");

        // logrotate: move the file away, then ask for a reopen.
        let rotated = dir.path().join("access.log.1");
        std::fs::rename(&path, &rotated).expect("rotate");
        log.reopen(Destination::File(path.clone()));
        log.log(&record("second"));
        log.flush(Duration::from_secs(5));
        assert_eq!(lines(&rotated).len(), 1, "the old file keeps only its line");
        assert_eq!(lines(&path)[0]["request_id"], "second");
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AccessLogger::start_with_queue(Destination::File(dir.path().join("a.log")), 2);
        let before = METRICS.access_log_dropped.get();
        let started = std::time::Instant::now();
        for i in 0..50 {
            log.log(&record(&i.to_string()));
        }
        assert!(
            started.elapsed() < TICK,
            "logging never waits for the writer"
        );
        // The writer takes the queue at most once per tick: most of 50 lines in a
        // queue of 2 are dropped, and every one of them is counted.
        assert!(METRICS.access_log_dropped.get() - before >= 40);
    }

    #[test]
    fn an_unopenable_destination_counts_every_line_as_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("missing-dir").join("a.log");
        let log = AccessLogger::start(Destination::File(path));
        let before = METRICS.access_log_dropped.get();
        log.log(&record("lost"));
        log.flush(Duration::from_secs(5));
        assert!(METRICS.access_log_dropped.get() > before);
    }
}
