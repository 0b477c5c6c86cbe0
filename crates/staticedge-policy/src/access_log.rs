//! The access log: one JSON object per request, written off the request path.
//!
//! Requests hand a finished line to a bounded queue and move on; one thread writes.
//! When the queue is full (a stuck disk, a pipe nobody reads) the line is dropped and
//! counted, so logging can never stall traffic. Every line lost is counted with its
//! reason (`staticedge_access_log_dropped_total{reason}`), and the last failure is
//! kept for the status page ([`AccessLogger::last_error`]). A file destination is
//! reopened on request (SIGUSR1, SIGHUP), which is what logrotate expects.

use serde::{Serialize, Serializer};
use staticedge_config::AccessLog as Destination;
use staticedge_metrics::METRICS;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Lines that may wait for the writer before new ones are dropped: at one pass per
/// [`TICK`], up to 327,000 lines a second are written.
const QUEUE: usize = 32_768;

/// How often the writer takes the queued lines and writes them in one batch.
const TICK: Duration = Duration::from_millis(100);

/// Queued lines are written with one `write(2)` per this many bytes at most.
const BATCH: usize = 64 * 1024;

/// A line's usual length: the buffer it is written into starts this large, so the
/// JSON is written without growing it.
const LINE_CAPACITY: usize = 512;

/// One request, as logged. Fields borrow or are plain values: nothing is formatted
/// into a `String` of its own before the line itself (the log is on every request).
#[derive(Debug, Serialize)]
pub struct AccessRecord<'a> {
    /// RFC 3339 time the request finished, in milliseconds.
    #[serde(serialize_with = "rfc3339_millis")]
    pub time: SystemTime,
    /// The X-Request-Id sent upstream and returned to the client.
    pub request_id: &'a str,
    /// Client address (PROXY header or socket peer).
    pub client_ip: Option<IpAddr>,
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
    pub upstream_addr: Option<SocketAddr>,
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
    pub error: Option<&'a str>,
    /// "SUCCESS" or "NONE" when the connection's certificate asks for client
    /// certificates; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_verify: Option<&'a str>,
    /// The verified client certificate's subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_subject: Option<&'a str>,
    /// The verified client certificate's SHA-256 fingerprint, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_fingerprint: Option<&'a str>,
}

/// Writes the time straight into the line (no intermediate `String`).
fn rfc3339_millis<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*t))
}

enum Message {
    Line(Vec<u8>),
    Reopen(Destination),
    Flush(SyncSender<()>),
}

/// Why an access log line was lost: the `reason` label of
/// `staticedge_access_log_dropped_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The queue was full: the writer is behind, or its destination does not take
    /// lines (a pipe nobody reads, a stuck disk).
    QueueFull,
    /// The destination could not be opened (no such directory, no permission).
    OpenError,
    /// Writing failed (disk full, file size limit, I/O error).
    WriteError,
}

impl DropReason {
    /// Every reason, in the order of `staticedge_metrics::ACCESS_LOG_DROP_REASONS`.
    pub const ALL: [DropReason; 3] = [
        DropReason::QueueFull,
        DropReason::OpenError,
        DropReason::WriteError,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::OpenError => "open_error",
            DropReason::WriteError => "write_error",
        }
    }

    fn count(self, lines: u64) {
        METRICS
            .access_log_dropped
            .with_label_values(&[self.label()])
            .inc_by(lines);
    }
}

/// The last failure, shared by the request path (queue full) and the writer.
#[derive(Default)]
struct Failures {
    last: Mutex<Option<(SystemTime, String)>>,
    /// Unix second of the last queue-full note: the request path notes one per
    /// second at most, so a stuck destination costs no lock per request.
    queue_full_noted_at: AtomicU64,
}

impl Failures {
    fn note(&self, reason: DropReason, what: String) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        *last = Some((SystemTime::now(), format!("{}: {what}", reason.label())));
    }

    fn note_queue_full(&self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if self.queue_full_noted_at.swap(now, Ordering::Relaxed) != now {
            self.note(
                DropReason::QueueFull,
                format!("{QUEUE} lines waiting; the destination does not take them fast enough"),
            );
        }
    }
}

/// The sending side; cheap to clone.
#[derive(Clone)]
pub struct AccessLogger {
    tx: Option<SyncSender<Message>>,
    /// False while the destination is "off": no line is even formatted.
    enabled: Arc<AtomicBool>,
    failures: Arc<Failures>,
}

impl AccessLogger {
    /// A logger that writes nothing.
    pub fn off() -> Self {
        AccessLogger {
            tx: None,
            enabled: Arc::new(AtomicBool::new(false)),
            failures: Arc::default(),
        }
    }

    /// Starts the writer thread for `dest`.
    pub fn start(dest: Destination) -> Self {
        Self::start_with_queue(dest, QUEUE)
    }

    fn start_with_queue(dest: Destination, queue: usize) -> Self {
        let enabled = Arc::new(AtomicBool::new(dest != Destination::Off));
        let failures = Arc::new(Failures::default());
        let (tx, rx) = sync_channel(queue);
        let writer_failures = failures.clone();
        // Opened on the writer's thread: opening a pipe nobody reads blocks.
        let spawned = std::thread::Builder::new()
            .name("staticedge-access-log".into())
            .spawn(move || Writer::open(dest, writer_failures).run(rx));
        match spawned {
            Ok(_) => AccessLogger {
                tx: Some(tx),
                enabled,
                failures,
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
        let mut line = Vec::with_capacity(LINE_CAPACITY);
        if serde_json::to_writer(&mut line, record).is_err() {
            return;
        }
        line.push(b'\n');
        match tx.try_send(Message::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                DropReason::QueueFull.count(1);
                self.failures.note_queue_full();
            }
            Err(TrySendError::Disconnected(_)) => {
                DropReason::WriteError.count(1);
                self.failures
                    .note(DropReason::WriteError, "the writer thread stopped".into());
            }
        }
    }

    /// The last time a line was lost and why (`"open_error: /var/log/x.log: Permission
    /// denied (os error 13)"`: the reason label, then what failed), for the status
    /// page. Kept after the destination recovers; the time says how old it is.
    pub fn last_error(&self) -> Option<(SystemTime, String)> {
        self.failures
            .last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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

    /// Reopens (or switches to) `dest`: logrotate's SIGUSR1 or SIGHUP, or a reload.
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

/// Where the writer's lines go now.
enum Sink {
    /// Nothing is written, nothing is lost: the log is off.
    Off,
    /// An open destination.
    Open(Box<dyn Write + Send>),
    /// The destination could not be opened: every line is lost, for this reason.
    Unopenable(String),
}

/// The writer thread's side: collects queued lines into a batch and writes it
/// with as few `write(2)` calls as possible, counting every line it cannot write.
struct Writer {
    dest: Destination,
    sink: Sink,
    batch: Vec<u8>,
    failures: Arc<Failures>,
}

impl Writer {
    fn open(dest: Destination, failures: Arc<Failures>) -> Writer {
        let mut w = Writer {
            dest: Destination::Off,
            sink: Sink::Off,
            batch: Vec::with_capacity(BATCH),
            failures,
        };
        w.switch_to(dest);
        w
    }

    fn switch_to(&mut self, dest: Destination) {
        self.sink = match &dest {
            Destination::Off => Sink::Off,
            Destination::Stdout => Sink::Open(Box::new(std::io::stdout())),
            Destination::File(path) => match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                Ok(f) => Sink::Open(Box::new(f)),
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "cannot open the access log; its lines are dropped and counted");
                    let why = format!("cannot open {}: {e}", path.display());
                    self.failures.note(DropReason::OpenError, why.clone());
                    Sink::Unopenable(why)
                }
            },
        };
        self.dest = dest;
    }

    fn handle(&mut self, msg: Message) {
        match msg {
            Message::Line(line) => match &self.sink {
                Sink::Off => {}
                Sink::Unopenable(why) => {
                    DropReason::OpenError.count(1);
                    self.failures.note(DropReason::OpenError, why.clone());
                }
                Sink::Open(_) => {
                    self.batch.extend_from_slice(&line);
                    if self.batch.len() >= BATCH {
                        self.write_batch();
                    }
                }
            },
            Message::Reopen(dest) => {
                self.write_batch();
                self.switch_to(dest);
            }
            Message::Flush(done) => {
                self.write_batch();
                let _ = done.try_send(());
            }
        }
    }

    /// Writes the batch; lines not (completely) written are counted as lost, and
    /// how many is returned.
    fn write_batch(&mut self) -> usize {
        let mut lost = 0;
        if self.batch.is_empty() {
            return lost;
        }
        if let Sink::Open(out) = &mut self.sink {
            let (written, error) = write_some(out.as_mut(), &self.batch);
            let error = error.or_else(|| out.flush().err());
            if let Some(e) = error {
                lost = self.batch[written..]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count();
                DropReason::WriteError.count(lost as u64);
                let dest = match &self.dest {
                    Destination::File(p) => p.display().to_string(),
                    _ => "stdout".to_string(),
                };
                self.failures
                    .note(DropReason::WriteError, format!("write to {dest}: {e}"));
            }
        }
        self.batch.clear();
        lost
    }

    fn run(mut self, rx: Receiver<Message>) {
        // The writer wakes on its own schedule and takes everything queued meanwhile.
        // Requests never wake it: on a busy proxy pinned to one core, a wake-up per
        // request cost two context switches and a write(2) each.
        loop {
            std::thread::sleep(TICK);
            loop {
                match rx.try_recv() {
                    Ok(msg) => self.handle(msg),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        self.write_batch();
                        return;
                    }
                }
            }
            self.write_batch();
        }
    }
}

/// Writes as much of `bytes` as the destination takes: how many bytes were written,
/// and the error that stopped it, if any.
fn write_some(out: &mut dyn Write, bytes: &[u8]) -> (usize, Option<std::io::Error>) {
    let mut written = 0;
    while written < bytes.len() {
        match out.write(&bytes[written..]) {
            Ok(0) => return (written, Some(std::io::ErrorKind::WriteZero.into())),
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (written, Some(e)),
        }
    }
    (written, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> AccessRecord<'_> {
        AccessRecord {
            time: UNIX_EPOCH,
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
            client_verify: None,
            client_subject: None,
            client_fingerprint: None,
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

    fn dropped(reason: DropReason) -> u64 {
        METRICS
            .access_log_dropped
            .with_label_values(&[reason.label()])
            .get()
    }

    #[test]
    fn drop_reasons_are_the_exported_labels() {
        let labels: Vec<&str> = DropReason::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels, staticedge_metrics::ACCESS_LOG_DROP_REASONS);
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AccessLogger::start_with_queue(Destination::File(dir.path().join("a.log")), 2);
        let before = dropped(DropReason::QueueFull);
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
        assert!(dropped(DropReason::QueueFull) - before >= 40);
        let (_, why) = log.last_error().expect("the drop is remembered");
        assert!(why.starts_with("queue_full: "), "{why}");
    }

    #[test]
    fn an_unopenable_destination_counts_every_line_as_an_open_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("missing-dir").join("a.log");
        let log = AccessLogger::start(Destination::File(path.clone()));
        let before = dropped(DropReason::OpenError);
        log.log(&record("lost"));
        log.log(&record("lost too"));
        log.flush(Duration::from_secs(5));
        assert!(dropped(DropReason::OpenError) - before >= 2);
        let (at, why) = log.last_error().expect("the failure is remembered");
        assert!(why.starts_with("open_error: cannot open "), "{why}");
        assert!(why.contains(&path.display().to_string()), "{why}");
        assert!(at <= SystemTime::now());
    }

    #[test]
    fn a_failing_write_counts_its_lines_as_write_errors() {
        // /dev/full opens, and every write to it fails with ENOSPC.
        let log = AccessLogger::start(Destination::File("/dev/full".into()));
        let before = dropped(DropReason::WriteError);
        for i in 0..3 {
            log.log(&record(&i.to_string()));
        }
        log.flush(Duration::from_secs(5));
        // Other tests count write errors too, at the same time: at least these three.
        assert!(dropped(DropReason::WriteError) - before >= 3);
        let (_, why) = log.last_error().expect("the failure is remembered");
        assert!(
            why.starts_with("write_error: write to /dev/full: "),
            "{why}"
        );
    }

    #[test]
    fn a_pipe_nobody_reads_does_not_block_the_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("access.fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let (started, wait) = std::sync::mpsc::channel();
        let dest = Destination::File(fifo.clone());
        std::thread::spawn(move || {
            let log = AccessLogger::start(dest);
            log.log(&record("queued"));
            let _ = started.send(log);
        });
        let returned = wait.recv_timeout(Duration::from_secs(2));
        // A reader lets the writer's open() return, whichever thread waits in it.
        let _reader = std::fs::File::open(&fifo);
        assert!(returned.is_ok(), "start and log return at once");
    }

    #[test]
    fn a_healthy_log_has_no_last_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AccessLogger::start(Destination::File(dir.path().join("a.log")));
        log.log(&record("fine"));
        log.flush(Duration::from_secs(5));
        assert_eq!(log.last_error(), None);
    }

    #[test]
    fn a_partial_write_loses_only_the_lines_not_written() {
        /// Takes `room` bytes, then fails.
        struct Short {
            room: usize,
        }
        impl Write for Short {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                if self.room == 0 {
                    return Err(std::io::ErrorKind::StorageFull.into());
                }
                let n = buf.len().min(self.room);
                self.room -= n;
                Ok(n)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut w = Writer::open(Destination::Off, Arc::default());
        w.sink = Sink::Open(Box::new(Short { room: 7 }));
        w.batch.extend_from_slice(b"first\nsecond\nthird\n");
        // "first\n" (6 bytes) went out, one byte of "second" did: two lines lost.
        assert_eq!(w.write_batch(), 2);
        assert!(w.batch.is_empty());
    }
}
