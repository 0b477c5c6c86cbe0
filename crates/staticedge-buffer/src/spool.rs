//! A request body held whole: the first bytes in memory, the rest in an unlinked
//! temporary file whose size is reserved in a [`DiskBudget`] first.
//!
//! File reads and writes are plain blocking calls: a spool writes what one socket
//! read returned (at most a few hundred KiB) into the page cache, which costs less
//! than handing it to a blocking thread.

use crate::budget::DiskBudget;
use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// How much of a spilled body one read from the file returns.
const FILE_READ: u64 = 64 * 1024;

/// Why a body could not be buffered.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The disk budget shared by all requests is used up (answer 503, try later).
    #[error("request buffer disk budget exhausted")]
    DiskFull,
    /// The buffer directory or file failed.
    #[error("request buffer file: {0}")]
    Io(#[from] std::io::Error),
}

/// Where and how much a spool may buffer.
#[derive(Debug, Clone)]
pub struct SpoolSettings {
    /// Bytes kept in memory before the spool spills to a file.
    pub memory: usize,
    /// The directory the unlinked temporary file is created in.
    pub dir: PathBuf,
    /// The cap on bytes spilled across all requests sharing `budget`.
    pub disk_cap: u64,
    /// The shared account of spilled bytes.
    pub budget: Arc<DiskBudget>,
}

/// Bytes of a budget held by one spool, given back when dropped.
#[derive(Debug)]
struct Reservation {
    budget: Arc<DiskBudget>,
    bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

/// A body being buffered. Dropping it closes (and so frees) its file and returns its
/// disk reservation.
#[derive(Debug)]
pub struct Spool {
    settings: SpoolSettings,
    memory: BytesMut,
    file: Option<File>,
    on_disk: u64,
    reservation: Reservation,
}

impl Spool {
    /// An empty spool.
    pub fn new(settings: SpoolSettings) -> Self {
        let reservation = Reservation {
            budget: settings.budget.clone(),
            bytes: 0,
        };
        Spool {
            settings,
            memory: BytesMut::new(),
            file: None,
            on_disk: 0,
            reservation,
        }
    }

    /// Bytes buffered so far.
    pub fn len(&self) -> u64 {
        self.memory.len() as u64 + self.on_disk
    }

    /// True before the first byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once part of the body is in the file.
    pub fn spilled(&self) -> bool {
        self.file.is_some()
    }

    /// Appends `data`: to memory while it fits, then to the file, whose bytes are
    /// reserved in the disk budget before they are written.
    pub fn write(&mut self, data: &[u8]) -> Result<(), SpoolError> {
        let room = if self.file.is_none() {
            self.settings.memory.saturating_sub(self.memory.len())
        } else {
            0
        };
        let (in_memory, to_disk) = data.split_at(room.min(data.len()));
        self.memory.extend_from_slice(in_memory);
        if to_disk.is_empty() {
            return Ok(());
        }
        let n = to_disk.len() as u64;
        if !self.settings.budget.reserve(n, self.settings.disk_cap) {
            return Err(SpoolError::DiskFull);
        }
        self.reservation.bytes += n;
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(tempfile::tempfile_in(&self.settings.dir)?),
        };
        file.write_all(to_disk)?;
        self.on_disk += n;
        Ok(())
    }

    /// The finished body, ready to be sent (and sent again on a retry).
    pub fn freeze(self) -> FrozenSpool {
        FrozenSpool {
            inner: Arc::new(Frozen {
                memory: self.memory.freeze(),
                file: self.file,
                on_disk: self.on_disk,
                _reservation: self.reservation,
            }),
        }
    }
}

#[derive(Debug)]
struct Frozen {
    memory: Bytes,
    file: Option<File>,
    on_disk: u64,
    _reservation: Reservation,
}

/// A finished body. Clones share it; the file and the reservation go with the last.
#[derive(Debug, Clone)]
pub struct FrozenSpool {
    inner: Arc<Frozen>,
}

impl FrozenSpool {
    /// The body's length in bytes (its Content-Length).
    pub fn len(&self) -> u64 {
        self.inner.memory.len() as u64 + self.inner.on_disk
    }

    /// True for an empty body.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A body that sends these bytes from the start.
    pub fn body(&self) -> SpoolBody {
        SpoolBody {
            spool: self.clone(),
            sent: 0,
        }
    }

    /// The next piece at offset `at`, or `None` at the end.
    fn piece(&self, at: u64) -> Option<std::io::Result<Bytes>> {
        let memory = &self.inner.memory;
        let in_memory = memory.len() as u64;
        if at < in_memory {
            return Some(Ok(memory.slice(at as usize..)));
        }
        let in_file = at - in_memory;
        let file = self.inner.file.as_ref()?;
        if in_file >= self.inner.on_disk {
            return None;
        }
        let n = FILE_READ.min(self.inner.on_disk - in_file) as usize;
        let mut piece = vec![0; n];
        Some(
            file.read_exact_at(&mut piece, in_file)
                .map(|()| piece.into()),
        )
    }
}

/// A [`FrozenSpool`] sent as an `http_body::Body` of exact size.
#[derive(Debug)]
pub struct SpoolBody {
    spool: FrozenSpool,
    sent: u64,
}

impl http_body::Body for SpoolBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let piece = self.spool.piece(self.sent);
        if let Some(Ok(bytes)) = &piece {
            self.sent += bytes.len() as u64;
        }
        Poll::Ready(piece.map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.sent >= self.spool.len()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.spool.len() - self.sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body;
    use http_body_util::BodyExt;

    fn settings(dir: &std::path::Path, memory: usize, disk_cap: u64) -> SpoolSettings {
        SpoolSettings {
            memory,
            dir: dir.to_path_buf(),
            disk_cap,
            budget: Arc::new(DiskBudget::new()),
        }
    }

    fn files_in(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .map(|d| d.count())
            .unwrap_or(usize::MAX)
    }

    /// This process's open files that were created in `dir` (each test has its own).
    fn open_in(dir: &std::path::Path) -> usize {
        let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
            return usize::MAX;
        };
        fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter(|target| target.starts_with(dir))
            .count()
    }

    async fn collect(body: SpoolBody) -> Vec<u8> {
        let hint = body.size_hint().exact();
        let bytes = body.collect().await.expect("read").to_bytes().to_vec();
        assert_eq!(hint, Some(bytes.len() as u64), "size hint is the length");
        bytes
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[tokio::test]
    async fn a_small_body_stays_in_memory() {
        let dir = tempfile::tempdir().expect("dir");
        let s = settings(dir.path(), 1024, 0);
        let mut spool = Spool::new(s.clone());
        spool.write(b"hello ").expect("write");
        spool.write(b"world").expect("write");
        assert!(!spool.spilled());
        let frozen = spool.freeze();
        assert_eq!(collect(frozen.body()).await, b"hello world");
        assert_eq!(s.budget.used(), 0);
        assert_eq!(files_in(dir.path()), 0);
    }

    #[tokio::test]
    async fn a_large_body_spills_and_reads_back_exactly_twice() {
        let dir = tempfile::tempdir().expect("dir");
        let s = settings(dir.path(), 1000, 1 << 20);
        let data = pattern(300_000);
        let mut spool = Spool::new(s.clone());
        for piece in data.chunks(4093) {
            spool.write(piece).expect("write");
        }
        assert!(spool.spilled());
        assert_eq!(
            s.budget.used(),
            299_000,
            "all but the memory part is reserved"
        );
        assert_eq!(files_in(dir.path()), 0, "the file is unlinked at creation");
        let frozen = spool.freeze();
        assert_eq!(frozen.len(), 300_000);
        assert_eq!(collect(frozen.body()).await, data);
        assert_eq!(collect(frozen.body()).await, data, "a retry sends it again");
        assert_eq!(open_in(dir.path()), 1, "one file while the body is held");
        drop(frozen);
        assert_eq!(open_in(dir.path()), 0, "dropping the spool closes its file");
        assert_eq!(
            s.budget.used(),
            0,
            "dropping the spool returns its reservation"
        );
    }

    #[test]
    fn an_exhausted_budget_refuses_the_write() {
        let dir = tempfile::tempdir().expect("dir");
        let s = settings(dir.path(), 10, 100);
        let mut first = Spool::new(s.clone());
        first.write(&pattern(90)).expect("80 bytes spill");
        let mut second = Spool::new(s.clone());
        second.write(&pattern(15)).expect("5 bytes spill");
        assert!(matches!(
            second.write(&pattern(16)),
            Err(SpoolError::DiskFull)
        ));
        assert_eq!(s.budget.used(), 85);
        drop(first);
        second
            .write(&pattern(16))
            .expect("room again after the first is dropped");
        drop(second);
        assert_eq!(s.budget.used(), 0);
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("dir");
        let s = settings(&dir.path().join("absent"), 0, 100);
        let mut spool = Spool::new(s.clone());
        assert!(matches!(spool.write(b"x"), Err(SpoolError::Io(_))));
        drop(spool);
        assert_eq!(s.budget.used(), 0);
    }
}
