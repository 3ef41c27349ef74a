//! The spool: every record a live input accepts is appended here before the sender is told it
//! was accepted, so a crash (even `kill -9`) loses nothing acknowledged.
//!
//! A spool is a folder of segment files, one record per line, named by the sequence number of
//! their first record (`00000000000000000000.log`). One writer thread appends: requests that
//! arrive while it writes are committed together (group commit), with one `fdatasync` when the
//! durability is [`Durability::Fsync`]. Readers see only what is committed ([`SpoolEnd`]) and
//! keep their own [`Cursor`], persisted with [`Cursor::save`]. Records are cited by segment file,
//! line and byte offset, so evidence read from a spool can be read again byte for byte.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};

/// A segment is closed and a new one begun past this size.
pub const SEGMENT_BYTES: u64 = 64 << 20;
/// Append requests waiting for the writer; senders wait (backpressure) beyond this.
const QUEUE: usize = 256;

/// What a commit waits for before acknowledging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// The records are written to the operating system: a crash of Garrison loses nothing,
    /// a power cut may lose the last moments.
    Write,
    /// The records are on disk (`fdatasync`) before they are acknowledged.
    #[default]
    Fsync,
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("spool {0} is closed")]
    Closed(String),
    #[error("spool {path}: {what}")]
    Corrupt { path: String, what: String },
}

impl SpoolError {
    /// True when the same append may succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            SpoolError::Io { .. } => true,
            SpoolError::Closed(_) | SpoolError::Corrupt { .. } => false,
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// How far a spool is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpoolEnd {
    /// The segment being written (its first record's sequence number).
    pub segment: u64,
    /// Committed bytes of that segment.
    pub bytes: u64,
    /// Records committed in all, which is also the next record's sequence number.
    pub records: u64,
}

/// A committed append: the sequence numbers of its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub first: u64,
    pub count: u64,
}

struct Request {
    records: Vec<Vec<u8>>,
    done: oneshot::Sender<Result<Appended, Arc<SpoolError>>>,
}

/// The appending side of a spool (cheap to clone; one writer thread behind it).
#[derive(Clone)]
pub struct Spool {
    dir: Arc<Path>,
    requests: mpsc::Sender<Request>,
    end: watch::Receiver<SpoolEnd>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool").field("dir", &self.dir).finish()
    }
}

/// Escapes what would break the one-record-per-line layout, as rsyslog does (`#012` for a line
/// feed, `#015` for a carriage return).
pub fn escape_line(record: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !record.iter().any(|b| matches!(b, b'\n' | b'\r')) {
        return std::borrow::Cow::Borrowed(record);
    }
    let mut out = Vec::with_capacity(record.len() + 8);
    for &b in record {
        match b {
            b'\n' => out.extend_from_slice(b"#012"),
            b'\r' => out.extend_from_slice(b"#015"),
            _ => out.push(b),
        }
    }
    std::borrow::Cow::Owned(out)
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.log"))
}

/// The segments of a spool folder, by first sequence number.
pub fn segments(dir: &Path) -> Result<Vec<u64>, SpoolError> {
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(error) => return Err(io_error(dir)(error)),
    };
    for entry in entries {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".log")) else {
            continue;
        };
        if stem.len() == 20
            && let Ok(first) = stem.parse::<u64>()
        {
            found.push(first);
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// Opens the last segment for appending, cutting off a record whose write a crash interrupted
/// (it was never acknowledged). Returns the file and the spool's end.
fn recover(dir: &Path) -> Result<(File, SpoolEnd), SpoolError> {
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let segment = segments(dir)?.last().copied().unwrap_or(0);
    let path = segment_path(dir, segment);
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(&path)
        .map_err(io_error(&path))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io_error(&path))?;
    let complete = memchr::memrchr(b'\n', &bytes).map_or(0, |last| last + 1);
    if complete < bytes.len() {
        file.set_len(complete as u64).map_err(io_error(&path))?;
        file.sync_data().map_err(io_error(&path))?;
    }
    let lines = memchr::memchr_iter(b'\n', &bytes[..complete]).count() as u64;
    file.seek(SeekFrom::End(0)).map_err(io_error(&path))?;
    Ok((
        file,
        SpoolEnd {
            segment,
            bytes: complete as u64,
            records: segment + lines,
        },
    ))
}

impl Spool {
    /// Opens (or creates) the spool in `dir` and starts its writer thread.
    pub fn open(dir: &Path, durability: Durability) -> Result<Spool, SpoolError> {
        let (file, end) = recover(dir)?;
        let (requests, receiver) = mpsc::channel(QUEUE);
        let (end_sender, end_receiver) = watch::channel(end);
        let dir: Arc<Path> = Arc::from(dir);
        let writer = Writer {
            dir: dir.clone(),
            file,
            end,
            durability,
            published: end_sender,
        };
        std::thread::Builder::new()
            .name(format!(
                "spool-{}",
                dir.file_name().unwrap_or_default().to_string_lossy()
            ))
            .spawn(move || writer.run(receiver))
            .map_err(io_error(&dir))?;
        Ok(Spool {
            dir,
            requests,
            end: end_receiver,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends `records` (one line each; line breaks inside are escaped) and returns once they
    /// are committed. Waits while the writer is behind (backpressure).
    pub async fn append(&self, records: Vec<Vec<u8>>) -> Result<Appended, Arc<SpoolError>> {
        let (done, result) = oneshot::channel();
        self.requests
            .send(Request { records, done })
            .await
            .map_err(|_| Arc::new(SpoolError::Closed(self.dir.display().to_string())))?;
        result
            .await
            .map_err(|_| Arc::new(SpoolError::Closed(self.dir.display().to_string())))?
    }

    /// As [`Spool::append`], but `None` at once when the writer's queue is full (for inputs
    /// that answer "busy" rather than wait).
    pub async fn try_append(
        &self,
        records: Vec<Vec<u8>>,
    ) -> Option<Result<Appended, Arc<SpoolError>>> {
        let closed = || Arc::new(SpoolError::Closed(self.dir.display().to_string()));
        let (done, result) = oneshot::channel();
        match self.requests.try_send(Request { records, done }) {
            Ok(()) => Some(result.await.unwrap_or_else(|_| Err(closed()))),
            Err(mpsc::error::TrySendError::Full(_)) => None,
            Err(mpsc::error::TrySendError::Closed(_)) => Some(Err(closed())),
        }
    }

    /// The committed end, updated as commits land.
    pub fn end(&self) -> watch::Receiver<SpoolEnd> {
        self.end.clone()
    }

    /// True when an append would have to wait for the writer.
    pub fn is_full(&self) -> bool {
        self.requests.capacity() == 0
    }
}

struct Writer {
    dir: Arc<Path>,
    file: File,
    end: SpoolEnd,
    durability: Durability,
    published: watch::Sender<SpoolEnd>,
}

impl Writer {
    fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        let mut buffer = Vec::with_capacity(1 << 20);
        let mut batch: Vec<Request> = Vec::new();
        while let Some(first) = requests.blocking_recv() {
            batch.push(first);
            // Everything already waiting goes in the same commit.
            while batch.len() < QUEUE
                && let Ok(next) = requests.try_recv()
            {
                batch.push(next);
            }
            let result = self.commit(&batch, &mut buffer);
            // The records of one commit are numbered in request order.
            let mut next = result.as_ref().copied().unwrap_or(0);
            for request in batch.drain(..) {
                let count = request.records.len() as u64;
                let reply = match &result {
                    Ok(_) => Ok(Appended { first: next, count }),
                    Err(error) => Err(error.clone()),
                };
                next += count;
                let _ = request.done.send(reply);
            }
        }
    }

    /// Writes the batch; returns the sequence number of its first record.
    fn commit(&mut self, batch: &[Request], buffer: &mut Vec<u8>) -> Result<u64, Arc<SpoolError>> {
        if self.end.bytes >= SEGMENT_BYTES {
            self.roll().map_err(Arc::new)?;
        }
        buffer.clear();
        let mut count = 0u64;
        for request in batch {
            for record in &request.records {
                buffer.extend_from_slice(&escape_line(record));
                buffer.push(b'\n');
                count += 1;
            }
        }
        let path = segment_path(&self.dir, self.end.segment);
        let written = self
            .file
            .write_all(buffer)
            .and_then(|()| match self.durability {
                Durability::Fsync => self.file.sync_data(),
                Durability::Write => Ok(()),
            });
        if let Err(error) = written {
            // Nothing of a failed commit is acknowledged; cut what may have been written so
            // the next commit starts on a record boundary.
            let _ = self.file.set_len(self.end.bytes);
            return Err(Arc::new(io_error(&path)(error)));
        }
        let first = self.end.records;
        self.end.bytes += buffer.len() as u64;
        self.end.records += count;
        self.published.send_replace(self.end);
        if buffer.capacity() > 8 << 20 {
            *buffer = Vec::with_capacity(1 << 20);
        }
        Ok(first)
    }

    /// Closes the current segment and begins the next.
    fn roll(&mut self) -> Result<(), SpoolError> {
        let path = segment_path(&self.dir, self.end.records);
        self.file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        if self.durability == Durability::Fsync {
            File::open(&*self.dir)
                .and_then(|dir| dir.sync_all())
                .map_err(io_error(&self.dir))?;
        }
        self.end.segment = self.end.records;
        self.end.bytes = 0;
        Ok(())
    }
}

/// A reader's place in a spool: the next record to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursor {
    /// The segment (its first record's sequence number).
    pub segment: u64,
    /// Byte offset of the next record in the segment.
    pub offset: u64,
    /// Records of the segment already read.
    pub line: u64,
}

impl Cursor {
    /// The sequence number of the next record.
    pub fn record(&self) -> u64 {
        self.segment + self.line
    }

    /// The cursor saved at `path`, if any.
    pub fn load(path: &Path) -> Result<Option<Cursor>, SpoolError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io_error(path)(error)),
        };
        let numbers: Vec<u64> = text
            .split_ascii_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| SpoolError::Corrupt {
                path: path.display().to_string(),
                what: format!("cursor {text:?} is not three numbers"),
            })?;
        match numbers[..] {
            [segment, offset, line] => Ok(Some(Cursor {
                segment,
                offset,
                line,
            })),
            _ => Err(SpoolError::Corrupt {
                path: path.display().to_string(),
                what: format!("cursor {text:?} is not three numbers"),
            }),
        }
    }

    /// Saves the cursor atomically (a new file renamed over the old).
    pub fn save(&self, path: &Path, durability: Durability) -> Result<(), SpoolError> {
        let text = format!("{} {} {}\n", self.segment, self.offset, self.line);
        write_atomically(path, text.as_bytes(), durability)
    }
}

/// Writes `bytes` to `path` atomically: a new file, synced under [`Durability::Fsync`], renamed
/// over the old (a processor's cursor and what it keeps beside it).
pub fn write_atomically(
    path: &Path,
    bytes: &[u8],
    durability: Durability,
) -> Result<(), SpoolError> {
    let fresh = path.with_extension("new");
    let mut file = File::create(&fresh).map_err(io_error(&fresh))?;
    file.write_all(bytes).map_err(io_error(&fresh))?;
    if durability == Durability::Fsync {
        file.sync_data().map_err(io_error(&fresh))?;
    }
    std::fs::rename(&fresh, path).map_err(io_error(path))
}

/// Complete records read from one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The segment file, which cites the records.
    pub path: PathBuf,
    /// 1-based line of the first record in the segment.
    pub first_line: u64,
    pub first_offset: u64,
    /// The records, each ending in `\n`.
    pub data: Vec<u8>,
    pub records: u64,
    /// The cursor after these records.
    pub next: Cursor,
}

/// Reads committed records after `cursor`, about `max_bytes` of them (at least one record),
/// from one segment. `None` when the reader is at `end`.
pub fn read_chunk(
    dir: &Path,
    cursor: &Cursor,
    end: &SpoolEnd,
    max_bytes: usize,
) -> Result<Option<Chunk>, SpoolError> {
    let mut cursor = *cursor;
    loop {
        let path = segment_path(dir, cursor.segment);
        let limit = if cursor.segment == end.segment {
            end.bytes
        } else if cursor.segment > end.segment {
            return Ok(None);
        } else {
            match std::fs::metadata(&path) {
                Ok(metadata) => metadata.len(),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => 0,
                Err(error) => return Err(io_error(&path)(error)),
            }
        };
        if cursor.offset >= limit {
            if cursor.segment == end.segment {
                return Ok(None);
            }
            // A closed segment read to its end: on to the next.
            let next = segments(dir)?
                .into_iter()
                .find(|&first| first > cursor.segment)
                .unwrap_or(end.segment);
            cursor = Cursor {
                segment: next,
                offset: 0,
                line: 0,
            };
            continue;
        }
        let file = File::open(&path).map_err(io_error(&path))?;
        let mut reader = BufReader::new(file);
        reader
            .seek(SeekFrom::Start(cursor.offset))
            .map_err(io_error(&path))?;
        let mut reader = reader.take(limit - cursor.offset);
        let mut data = Vec::with_capacity(max_bytes.min((limit - cursor.offset) as usize) + 1);
        while data.len() < max_bytes {
            let read = reader
                .read_until(b'\n', &mut data)
                .map_err(io_error(&path))?;
            if read == 0 {
                break;
            }
        }
        if !data.ends_with(b"\n") {
            return Err(SpoolError::Corrupt {
                path: path.display().to_string(),
                what: format!(
                    "committed data ends inside a record at offset {}",
                    cursor.offset + data.len() as u64
                ),
            });
        }
        let records = memchr::memchr_iter(b'\n', &data).count() as u64;
        let next = Cursor {
            segment: cursor.segment,
            offset: cursor.offset + data.len() as u64,
            line: cursor.line + records,
        };
        return Ok(Some(Chunk {
            path,
            first_line: cursor.line + 1,
            first_offset: cursor.offset,
            data,
            records,
            next,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(texts: &[&str]) -> Vec<Vec<u8>> {
        texts.iter().map(|t| t.as_bytes().to_vec()).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn appends_are_numbered_read_back_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), Durability::Fsync).unwrap();
        let first = spool.append(records(&["a", "b\nc"])).await.unwrap();
        let second = spool.append(records(&["d"])).await.unwrap();
        assert_eq!((first.first, first.count), (0, 2));
        assert_eq!((second.first, second.count), (2, 1));
        let end = *spool.end().borrow();
        assert_eq!(end.records, 3);
        let chunk = read_chunk(dir.path(), &Cursor::default(), &end, 1 << 20)
            .unwrap()
            .unwrap();
        assert_eq!(chunk.data, b"a\nb#012c\nd\n");
        assert_eq!((chunk.first_line, chunk.records), (1, 3));
        assert!(
            read_chunk(dir.path(), &chunk.next, &end, 1 << 20)
                .unwrap()
                .is_none()
        );

        // A torn record (a crash inside a write) is cut off when the spool is reopened.
        drop(spool);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let segment = segment_path(dir.path(), 0);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&segment)
            .unwrap()
            .write_all(b"half a rec")
            .unwrap();
        let spool = Spool::open(dir.path(), Durability::Write).unwrap();
        assert_eq!(spool.end().borrow().records, 3);
        let appended = spool.append(records(&["e"])).await.unwrap();
        assert_eq!(appended.first, 3);
        assert_eq!(std::fs::read(&segment).unwrap(), b"a\nb#012c\nd\ne\n");

        let cursor_path = dir.path().join("cursor");
        assert_eq!(Cursor::load(&cursor_path).unwrap(), None);
        chunk.next.save(&cursor_path, Durability::Fsync).unwrap();
        assert_eq!(Cursor::load(&cursor_path).unwrap(), Some(chunk.next));
        assert_eq!(chunk.next.record(), 3);
    }

    #[test]
    fn a_reader_follows_records_into_the_next_segment() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(segment_path(dir.path(), 0), b"one\ntwo\n").unwrap();
        std::fs::write(segment_path(dir.path(), 2), b"three\n").unwrap();
        let end = SpoolEnd {
            segment: 2,
            bytes: 6,
            records: 3,
        };
        let first = read_chunk(dir.path(), &Cursor::default(), &end, 4)
            .unwrap()
            .unwrap();
        assert_eq!((first.data.as_slice(), first.records), (&b"one\n"[..], 1));
        let second = read_chunk(dir.path(), &first.next, &end, 1 << 20)
            .unwrap()
            .unwrap();
        assert_eq!(second.data, b"two\n");
        assert_eq!(second.first_line, 2);
        let third = read_chunk(dir.path(), &second.next, &end, 1 << 20)
            .unwrap()
            .unwrap();
        assert_eq!(third.path, segment_path(dir.path(), 2));
        assert_eq!(
            (third.data.as_slice(), third.first_line),
            (&b"three\n"[..], 1)
        );
        assert_eq!(third.next.record(), 3);
        assert!(
            read_chunk(dir.path(), &third.next, &end, 1 << 20)
                .unwrap()
                .is_none()
        );
    }
}
