//! Finding input: files and folders given on the command line, walked and sniffed for the
//! formats we read. Anything else is skipped and counted, never silently ignored.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The container or format of an input file, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputKind {
    /// Windows binary event log.
    Evtx,
    /// JSON lines, or one JSON document.
    Json,
    /// A Zeek log in its tab-separated form.
    ZeekTsv,
    /// A Linux audit log (`audit.log`).
    Auditd,
    /// Syslog messages, one per line (RFC 5424, RFC 3164, or a log file of either).
    Syslog,
    /// Delimited text with a header row (CSV, TSV, Sentinel's `❖` exports).
    Delimited,
    /// Alerts of another tool, read through the registered field mapping at this position
    /// ([`crate::mapping`]): delimited text or JSON, as the mapping says.
    Mapped(u16),
    Zip,
    Gzip,
    Tar,
}

impl InputKind {
    /// The formats `--from` can name (archives are always opened by their own bytes).
    pub const RECORD_FORMATS: [InputKind; 6] = [
        InputKind::Evtx,
        InputKind::Json,
        InputKind::ZeekTsv,
        InputKind::Auditd,
        InputKind::Syslog,
        InputKind::Delimited,
    ];

    /// A `--from` name: `evtx`, `json` (also journald, Zeek JSON, cloud and Windows JSON
    /// shapes), `zeek` (TSV), `auditd`, `syslog`, `csv` (any delimiter), a shipped mapping
    /// (`ait-ads`) or a mapping file (`FILE.json`).
    pub fn from_name(name: &str) -> Result<InputKind, String> {
        let builtin = match name {
            "zeek" => Some(InputKind::ZeekTsv),
            "jsonl" | "journald" => Some(InputKind::Json),
            "csv" | "tsv" | "delimited" => Some(InputKind::Delimited),
            _ => InputKind::RECORD_FORMATS
                .into_iter()
                .find(|kind| kind.as_str() == name),
        };
        if let Some(kind) = builtin {
            return Ok(kind);
        }
        match crate::mapping::resolve(name) {
            Some(Ok(position)) => Ok(InputKind::Mapped(position)),
            Some(Err(error)) => Err(error.to_string()),
            None => Err(format!(
                "unknown format {name:?}; one of: evtx, json, zeek, auditd, syslog, csv, {}, or a mapping file (.json)",
                crate::mapping::shipped().collect::<Vec<_>>().join(", ")
            )),
        }
    }

    /// How a stream is read: as the archive it is, else as `from` when given, else as sniffed.
    pub fn chosen(sniffed: Option<InputKind>, from: Option<InputKind>) -> Option<InputKind> {
        match (sniffed, from) {
            (Some(archive), _) if archive.is_archive() => Some(archive),
            (_, Some(from)) => Some(from),
            (sniffed, None) => sniffed,
        }
    }

    pub fn is_archive(self) -> bool {
        matches!(self, InputKind::Zip | InputKind::Gzip | InputKind::Tar)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::Evtx => "evtx",
            InputKind::Json => "json",
            InputKind::ZeekTsv => "zeek-tsv",
            InputKind::Auditd => "auditd",
            InputKind::Syslog => "syslog",
            InputKind::Delimited => "csv",
            InputKind::Mapped(_) => "mapped",
            InputKind::Zip => "zip",
            InputKind::Gzip => "gzip",
            InputKind::Tar => "tar",
        }
    }
}

/// Recognises a format from a stream's first bytes (at least 262 for tar).
pub fn sniff(head: &[u8]) -> Option<InputKind> {
    if head.starts_with(b"ElfFile\0") {
        return Some(InputKind::Evtx);
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Some(InputKind::Zip);
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Some(InputKind::Gzip);
    }
    if head.len() >= 262 && &head[257..262] == b"ustar" {
        return Some(InputKind::Tar);
    }
    if crate::zeek::looks_like_zeek(head) {
        return Some(InputKind::ZeekTsv);
    }
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    match text.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | Some(b'[') => Some(InputKind::Json),
        _ if crate::auditd::looks_like_auditd(text) => Some(InputKind::Auditd),
        _ if crate::syslog::looks_like_syslog(text) => Some(InputKind::Syslog),
        _ if crate::delimited::looks_like_delimited(text) => Some(InputKind::Delimited),
        _ => None,
    }
}

/// One file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    pub path: PathBuf,
    pub kind: InputKind,
    pub size: u64,
    /// The record format named by `--from`: used for this file and, in an archive, for its
    /// members, instead of sniffing.
    pub from: Option<InputKind>,
}

/// Files found, and those passed over with the reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    pub files: Vec<InputFile>,
    pub skipped: Vec<(PathBuf, String)>,
    from: Option<InputKind>,
}

impl Discovery {
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|file| file.size).sum()
    }
}

/// Error for a path given by the user that does not exist or cannot be read at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot read input {path}: {source}")]
pub struct InputError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Walks `paths` (files or folders), sniffing every file. Files inside folders are sorted by
/// path so runs are repeatable.
pub fn discover(paths: &[PathBuf]) -> Result<Discovery, InputError> {
    discover_as(paths, None)
}

/// [`discover`], with every file that is not an archive read as `from` when given (files
/// whose first bytes are not recognised included).
pub fn discover_as(paths: &[PathBuf], from: Option<InputKind>) -> Result<Discovery, InputError> {
    let mut discovery = Discovery {
        from,
        ..Discovery::default()
    };
    for path in paths {
        let metadata = std::fs::metadata(path).map_err(|source| InputError {
            path: path.clone(),
            source,
        })?;
        if metadata.is_dir() {
            walk(path, &mut discovery);
        } else {
            classify(path, metadata.len(), &mut discovery);
        }
    }
    Ok(discovery)
}

fn walk(folder: &Path, discovery: &mut Discovery) {
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(folder) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .collect(),
        Err(error) => {
            discovery
                .skipped
                .push((folder.to_path_buf(), format!("cannot list folder: {error}")));
            return;
        }
    };
    entries.sort();
    for path in entries {
        match std::fs::metadata(&path) {
            Ok(metadata) if metadata.is_dir() => walk(&path, discovery),
            Ok(metadata) => classify(&path, metadata.len(), discovery),
            Err(error) => discovery
                .skipped
                .push((path, format!("cannot stat: {error}"))),
        }
    }
}

fn classify(path: &Path, size: u64, discovery: &mut Discovery) {
    let mut head = [0u8; 512];
    let read = File::open(path).and_then(|mut file| {
        let mut filled = 0;
        loop {
            let n = file.read(&mut head[filled..])?;
            if n == 0 || filled + n == head.len() {
                return Ok(filled + n);
            }
            filled += n;
        }
    });
    match read {
        Err(error) => discovery
            .skipped
            .push((path.to_path_buf(), format!("cannot read: {error}"))),
        Ok(0) => discovery
            .skipped
            .push((path.to_path_buf(), "empty file".to_string())),
        Ok(filled) => match InputKind::chosen(sniff(&head[..filled]), discovery.from) {
            Some(kind) => discovery.files.push(InputFile {
                path: path.to_path_buf(),
                kind,
                size,
                from: discovery.from,
            }),
            None => discovery
                .skipped
                .push((path.to_path_buf(), "not a format we read".to_string())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b"ElfFile\0xxxx"), Some(InputKind::Evtx));
        assert_eq!(sniff(b"PK\x03\x04rest"), Some(InputKind::Zip));
        assert_eq!(sniff(&[0x1f, 0x8b, 8, 0]), Some(InputKind::Gzip));
        assert_eq!(sniff(b"  \n{\"a\":1}"), Some(InputKind::Json));
        assert_eq!(sniff(b"\xEF\xBB\xBF[1]"), Some(InputKind::Json));
        assert_eq!(sniff(b"title: rule"), None);
        assert_eq!(
            sniff(b"type=EOE msg=audit(1700000000.001:5): \n"),
            Some(InputKind::Auditd)
        );
        assert_eq!(
            sniff(b"<34>1 2024-01-01T00:00:00Z host app - - - hi\n"),
            Some(InputKind::Syslog)
        );
        assert_eq!(
            sniff(
                b"Mar  1 10:00:00 host sshd[1]: Accepted password for a from 1.2.3.4 port 5 ssh2\n"
            ),
            Some(InputKind::Syslog)
        );
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(sniff(&tar), Some(InputKind::Tar));
    }

    #[test]
    fn discovery_walks_sorts_and_skips() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b.json"), "{\"a\":1}\n").unwrap();
        std::fs::write(dir.path().join("a.jsonl"), "{\"a\":1}\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
        std::fs::write(dir.path().join("empty.json"), "").unwrap();
        let discovery = discover(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = discovery
            .files
            .iter()
            .map(|f| {
                f.path
                    .strip_prefix(dir.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["a.jsonl", "sub/b.json"]);
        assert_eq!(discovery.skipped.len(), 2);
        assert!(
            discovery
                .skipped
                .iter()
                .any(|(p, why)| p.ends_with("notes.txt") && why.contains("not a format"))
        );
        assert!(discover(&[dir.path().join("missing")]).is_err());
    }
}
