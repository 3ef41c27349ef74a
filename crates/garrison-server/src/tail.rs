//! Following a log file as it grows: lines are spooled as they are completed, rotation by
//! rename (the old file is read to its end first, even when the rename happened while Garrison
//! was down) and by truncation is followed, and the read position is saved after every append
//! with the spool's record count, so a restart neither skips nor repeats a line.

use crate::intake::Intake;
use crate::spool::{Durability, Spool};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How often a file at its end is looked at again.
const POLL: Duration = Duration::from_millis(200);
/// Bytes of lines spooled in one append at most.
const BATCH_BYTES: usize = 1 << 20;

/// Where the follower is: which file (device and inode), how far, and how many records the
/// spool held once that far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub device: u64,
    pub inode: u64,
    pub offset: u64,
    pub spooled: u64,
}

impl Position {
    pub fn load(path: &Path) -> Option<Position> {
        let text = std::fs::read_to_string(path).ok()?;
        let numbers: Vec<u64> = text
            .split_ascii_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        match numbers[..] {
            [device, inode, offset, spooled] => Some(Position {
                device,
                inode,
                offset,
                spooled,
            }),
            _ => None,
        }
    }

    fn save(&self, path: &Path, durability: Durability) -> std::io::Result<()> {
        use std::io::Write;
        let fresh = path.with_extension("new");
        let mut file = File::create(&fresh)?;
        writeln!(
            file,
            "{} {} {} {}",
            self.device, self.inode, self.offset, self.spooled
        )?;
        if durability == Durability::Fsync {
            file.sync_data()?;
        }
        std::fs::rename(fresh, path)
    }
}

/// The file being read.
struct Open {
    reader: BufReader<File>,
    device: u64,
    inode: u64,
    offset: u64,
}

impl Open {
    fn at(file: File, offset: u64) -> std::io::Result<Open> {
        let metadata = file.metadata()?;
        let mut reader = BufReader::with_capacity(256 << 10, file);
        reader.seek(SeekFrom::Start(offset))?;
        Ok(Open {
            reader,
            device: metadata.dev(),
            inode: metadata.ino(),
            offset,
        })
    }

    /// Complete lines from the offset on, about `BATCH_BYTES` of them, and their byte length.
    /// With `to_end`, a last line without its line feed counts too (the file is finished).
    fn lines(&mut self, to_end: bool) -> std::io::Result<(Vec<Vec<u8>>, u64)> {
        let (mut lines, mut used, mut line) = (Vec::new(), 0u64, Vec::new());
        while (used as usize) < BATCH_BYTES {
            line.clear();
            let read = self.reader.read_until(b'\n', &mut line)?;
            if read == 0 {
                break;
            }
            if !line.ends_with(b"\n") && !to_end {
                // Not finished yet: read again from its start next time.
                self.reader.seek(SeekFrom::Start(self.offset + used))?;
                break;
            }
            used += read as u64;
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            if !text.is_empty() {
                lines.push(text.to_vec());
            }
        }
        Ok((lines, used))
    }
}

/// The file in `dir` with this device and inode (a rotated file renamed beside the path).
fn find_rotated(path: &Path, device: u64, inode: u64) -> Option<PathBuf> {
    let dir = path.parent()?;
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.dev() == device && m.ino() == inode && m.is_file())
        })
}

/// Follows `path` into `spool` until shutdown (runs on its own thread).
pub fn follow(
    path: PathBuf,
    position_file: PathBuf,
    spool: Spool,
    intake: Intake,
    durability: Durability,
    runtime: tokio::runtime::Handle,
) {
    let mut follower = Follower {
        path,
        position_file,
        spool,
        intake,
        durability,
        runtime,
        open: None,
        skip: 0,
    };
    if let Err(error) = follower.run() {
        tracing::error!(
            "garrison serve: {}: {error}; no longer following {}",
            follower.intake.input,
            follower.path.display()
        );
    }
}

struct Follower {
    path: PathBuf,
    position_file: PathBuf,
    spool: Spool,
    intake: Intake,
    durability: Durability,
    runtime: tokio::runtime::Handle,
    open: Option<Open>,
    /// Lines already spooled before a crash kept their position from being saved.
    skip: u64,
}

impl Follower {
    fn stopping(&self) -> bool {
        *self.intake.shutdown.borrow()
    }

    fn run(&mut self) -> Result<(), String> {
        self.resume()?;
        while !self.stopping() {
            let Some(open) = self.open.as_mut() else {
                // The file is not there (yet).
                std::thread::sleep(POLL);
                if let Ok(file) = File::open(&self.path) {
                    self.open = Some(Open::at(file, 0).map_err(|e| e.to_string())?);
                    self.save()?;
                }
                continue;
            };
            let (lines, used) = open
                .lines(false)
                .map_err(|e| format!("{}: {e}", self.path.display()))?;
            if used > 0 {
                self.spool_lines(lines, used)?;
                continue;
            }
            // At the end: has the file been rotated or truncated?
            match std::fs::metadata(&self.path) {
                Ok(now) if now.dev() == open.device && now.ino() == open.inode => {
                    if now.len() < open.offset {
                        tracing::warn!(
                            "garrison serve: {}: {} was truncated; reading it again from its start",
                            self.intake.input,
                            self.path.display()
                        );
                        let file = File::open(&self.path).map_err(|e| e.to_string())?;
                        self.open = Some(Open::at(file, 0).map_err(|e| e.to_string())?);
                        self.save()?;
                        continue;
                    }
                }
                Ok(_) => {
                    // Renamed away: finish the old file (a last line without its line feed
                    // included), then begin the new one.
                    loop {
                        let open = self.open.as_mut().expect("open");
                        let (lines, used) = open.lines(true).map_err(|e| e.to_string())?;
                        if used == 0 {
                            break;
                        }
                        self.spool_lines(lines, used)?;
                    }
                    let file = File::open(&self.path).map_err(|e| e.to_string())?;
                    self.open = Some(Open::at(file, 0).map_err(|e| e.to_string())?);
                    self.save()?;
                    continue;
                }
                Err(_) => {}
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }

    /// Finds where the last run stopped.
    fn resume(&mut self) -> Result<(), String> {
        let spooled = self.spool.end().borrow().records;
        let Some(saved) = Position::load(&self.position_file) else {
            self.open = File::open(&self.path)
                .ok()
                .map(|file| Open::at(file, 0))
                .transpose()
                .map_err(|e| e.to_string())?;
            // Saved at once: a file rotated before its first line is read is still found.
            return self.save();
        };
        self.skip = spooled.saturating_sub(saved.spooled);
        let same = std::fs::metadata(&self.path)
            .is_ok_and(|m| m.dev() == saved.device && m.ino() == saved.inode);
        let file_path = match same {
            true => Some(self.path.clone()),
            false => find_rotated(&self.path, saved.device, saved.inode),
        };
        match file_path {
            Some(file_path) => {
                let file =
                    File::open(&file_path).map_err(|e| format!("{}: {e}", file_path.display()))?;
                self.open = Some(Open::at(file, saved.offset).map_err(|e| e.to_string())?);
            }
            None => {
                tracing::warn!(
                    "garrison serve: {}: the file last read is gone; lines written to it after the last run are lost",
                    self.intake.input
                );
                self.skip = 0;
                self.open = File::open(&self.path)
                    .ok()
                    .map(|file| Open::at(file, 0))
                    .transpose()
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// Spools `lines` (the next `used` bytes), then saves the position.
    fn spool_lines(&mut self, mut lines: Vec<Vec<u8>>, used: u64) -> Result<(), String> {
        let skipped = (self.skip as usize).min(lines.len());
        if skipped > 0 {
            lines.drain(..skipped);
            self.skip -= skipped as u64;
        }
        let count = lines.len() as u64;
        if count > 0 {
            self.runtime
                .block_on(self.spool.append(lines))
                .map_err(|error| error.to_string())?;
            self.intake
                .stats
                .accepted
                .fetch_add(count, Ordering::Relaxed);
        }
        if let Some(open) = self.open.as_mut() {
            open.offset += used;
        }
        self.save()
    }

    fn save(&self) -> Result<(), String> {
        let Some(open) = &self.open else {
            return Ok(());
        };
        Position {
            device: open.device,
            inode: open.inode,
            offset: open.offset,
            spooled: self.spool.end().borrow().records.saturating_sub(self.skip),
        }
        .save(&self.position_file, self.durability)
        .map_err(|error| {
            format!(
                "cannot save the position {}: {error}",
                self.position_file.display()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::{InputStats, Quarantine};
    use std::io::Write;
    use std::sync::Arc;

    fn spooled_lines(dir: &Path) -> Vec<String> {
        std::fs::read_to_string(dir.join("00000000000000000000.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn wait_for(dir: &Path, count: usize) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let lines = spooled_lines(dir);
            if lines.len() >= count || std::time::Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_running_follower_reads_through_rename_and_truncation() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let spool_dir = dir.path().join("spool");
        let spool = Spool::open(&spool_dir, Durability::Write).unwrap();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let intake = Intake {
            input: Arc::from("app"),
            stats: Arc::new(InputStats::default()),
            quarantine: Arc::new(Quarantine::new(&dir.path().join("q.jsonl"))),
            shutdown: stopped,
        };
        let mut file = std::fs::File::create(&path).unwrap();
        writeln!(file, "one").unwrap();
        write!(file, "two, half").unwrap();
        let (thread_path, position) = (path.clone(), spool_dir.join("position"));
        let handle = runtime.handle().clone();
        let follower = std::thread::spawn(move || {
            follow(
                thread_path,
                position,
                spool,
                intake,
                Durability::Write,
                handle,
            )
        });
        assert_eq!(wait_for(&spool_dir, 1), ["one"]);
        // A line is taken only once it is finished.
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(spooled_lines(&spool_dir), ["one"]);
        writeln!(file, " done").unwrap();
        assert_eq!(wait_for(&spool_dir, 2), ["one", "two, half done"]);
        // Rotation by rename: the last line of the old file, without its line feed, is kept.
        write!(file, "three").unwrap();
        std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
        let mut file = std::fs::File::create(&path).unwrap();
        writeln!(file, "four").unwrap();
        assert_eq!(
            wait_for(&spool_dir, 4),
            ["one", "two, half done", "three", "four"]
        );
        // Rotation by truncation (copytruncate): read again from the start. (Seen when the
        // file is shorter than the position at a look; lines written before the look that make
        // it as long again are not told apart from old ones, as with every follower by offset.)
        file.set_len(0).unwrap();
        std::thread::sleep(Duration::from_millis(600));
        let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        writeln!(file, "five").unwrap();
        assert_eq!(
            wait_for(&spool_dir, 5),
            ["one", "two, half done", "three", "four", "five"]
        );
        stop.send(true).unwrap();
        follower.join().unwrap();
        let saved = Position::load(&dir.path().join("spool/position")).unwrap();
        assert_eq!((saved.offset, saved.spooled), (5, 5));
    }
}
