//! The producer side of ingestion: opening files and archives and cutting them into units of
//! work (an EVTX chunk, a batch of JSON lines, a JSON document) that workers decode.

use crate::diagnostic::{Diagnostic, DiagnosticKind, Location, keep_raw};
use crate::source::{InputFile, InputKind, sniff};
use evtx::{EvtxChunkData, EvtxParser, ParserSettings};
use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read, Seek};
use std::sync::Arc;

/// A stream's name: the file, and the member inside an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamName {
    pub path: Arc<str>,
    pub member: Option<Arc<str>>,
}

impl StreamName {
    pub(crate) fn location(&self, record: Option<u64>, offset: Option<u64>) -> Location {
        Location {
            path: self.path.clone(),
            member: self.member.clone(),
            record,
            offset,
        }
    }

    fn member_of(&self, name: &str) -> StreamName {
        StreamName {
            path: self.path.clone(),
            member: Some(match &self.member {
                Some(outer) => format!("{outer}!{name}").into(),
                None => name.into(),
            }),
        }
    }
}

/// One piece of work for a decoder thread.
pub enum Unit {
    EvtxChunk {
        stream: Arc<StreamName>,
        chunk: Box<EvtxChunkData>,
    },
    /// Complete lines of a line-oriented stream (JSON lines, syslog, audit records; an audit
    /// event's records are never split between units).
    Lines {
        stream: Arc<StreamName>,
        format: LineFormat,
        first_line: u64,
        first_offset: u64,
        data: Vec<u8>,
    },
    /// A stream of whitespace-separated JSON documents (pretty-printed objects, arrays).
    Documents {
        stream: Arc<StreamName>,
        data: Vec<u8>,
    },
    /// Whole records of delimited text, with the header they are read by.
    Delimited {
        stream: Arc<StreamName>,
        header: Arc<crate::delimited::DelimitedHeader>,
        first_line: u64,
        first_offset: u64,
        data: Vec<u8>,
    },
    /// Complete lines of a Zeek TSV log, with the header they are read by.
    Zeek {
        stream: Arc<StreamName>,
        header: Arc<crate::zeek::ZeekHeader>,
        first_line: u64,
        first_offset: u64,
        data: Vec<u8>,
    },
}

impl Unit {
    /// Bytes of input the unit carries (for progress).
    pub fn len(&self) -> usize {
        match self {
            Unit::EvtxChunk { chunk, .. } => chunk.data.len(),
            Unit::Lines { data, .. }
            | Unit::Documents { data, .. }
            | Unit::Zeek { data, .. }
            | Unit::Delimited { data, .. } => data.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the lines of a [`Unit::Lines`] hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    Json,
    /// JSON records of another tool's alerts, given the canonical fields of the registered
    /// mapping at this position.
    MappedJson(u16),
    Syslog,
    Auditd,
}

impl LineFormat {
    fn diagnostic_kind(self) -> DiagnosticKind {
        match self {
            LineFormat::Json | LineFormat::MappedJson(_) => DiagnosticKind::Json,
            LineFormat::Syslog => DiagnosticKind::Syslog,
            LineFormat::Auditd => DiagnosticKind::Auditd,
        }
    }
}

/// Counts the producer keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Archive members read.
    pub members: u64,
    /// Archive members skipped, with the reason.
    pub skipped_members: Vec<(String, String)>,
}

/// Where the producer sends its output.
pub struct Sink<'a> {
    pub unit: &'a mut dyn FnMut(Unit),
    pub diagnostic: &'a mut dyn FnMut(Diagnostic),
    pub stats: &'a mut ReadStats,
    /// The record format archive members are read as (`--from`), instead of sniffing.
    pub from: Option<InputKind>,
}

const BLOCK: usize = 1 << 20;
/// Longest JSON line accepted; longer ones are quarantined.
const MAX_LINE: usize = 64 << 20;
/// Largest pretty-printed JSON document read into memory.
const MAX_DOCUMENT: usize = 512 << 20;
/// Nesting depth of archives within archives.
const MAX_DEPTH: usize = 3;

/// Reads one input file into units.
pub fn read_file(file: &InputFile, sink: &mut Sink<'_>) {
    let stream = StreamName {
        path: file.path.to_string_lossy().into(),
        member: None,
    };
    let io_error = |error: std::io::Error, sink: &mut Sink<'_>| {
        (sink.diagnostic)(Diagnostic {
            kind: DiagnosticKind::Io,
            location: stream.location(None, None),
            message: format!("cannot read: {error}"),
            raw: None,
        });
    };
    match file.kind {
        InputKind::Evtx => match File::open(&file.path) {
            Ok(handle) => read_evtx(handle, &stream, sink),
            Err(error) => io_error(error, sink),
        },
        InputKind::Zip => match File::open(&file.path) {
            Ok(handle) => read_zip(handle, &stream, 0, sink),
            Err(error) => io_error(error, sink),
        },
        InputKind::Gzip
        | InputKind::Tar
        | InputKind::Json
        | InputKind::ZeekTsv
        | InputKind::Auditd
        | InputKind::Syslog
        | InputKind::Delimited
        | InputKind::Mapped(_) => match File::open(&file.path) {
            Ok(handle) => read_stream(
                Box::new(BufReader::with_capacity(BLOCK, handle)),
                Some(file.kind),
                &stream,
                0,
                sink,
            ),
            Err(error) => io_error(error, sink),
        },
    }
}

pub(crate) fn archive_error(stream: &StreamName, sink: &mut Sink<'_>, message: String) {
    (sink.diagnostic)(Diagnostic {
        kind: DiagnosticKind::Archive,
        location: stream.location(None, None),
        message,
        raw: None,
    });
}

/// Reads an EVTX log from anything seekable.
fn read_evtx<R: Read + Seek>(reader: R, stream: &StreamName, sink: &mut Sink<'_>) {
    let stream = Arc::new(stream.clone());
    let mut parser = match EvtxParser::from_read_seek(reader) {
        Ok(parser) => parser.with_configuration(ParserSettings::new().num_threads(1)),
        Err(error) => {
            (sink.diagnostic)(Diagnostic {
                kind: DiagnosticKind::EvtxHeader,
                location: stream.location(None, Some(0)),
                message: format!("not a readable EVTX file: {}", error_chain(&error)),
                raw: None,
            });
            return;
        }
    };
    if !parser.header().validate_checksum() {
        (sink.diagnostic)(Diagnostic {
            kind: DiagnosticKind::EvtxHeader,
            location: stream.location(None, Some(0)),
            message: "file header checksum mismatch; reading the chunks anyway".into(),
            raw: None,
        });
    }
    for chunk in parser.chunks() {
        match chunk {
            Ok(chunk) => (sink.unit)(Unit::EvtxChunk {
                stream: stream.clone(),
                chunk: Box::new(chunk),
            }),
            Err(error) => (sink.diagnostic)(Diagnostic {
                kind: DiagnosticKind::EvtxChunk,
                location: stream.location(None, None),
                message: format!("damaged chunk skipped: {}", error_chain(&error)),
                raw: None,
            }),
        }
    }
}

/// An error with its causes, one line.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn read_zip<R: Read + Seek>(reader: R, stream: &StreamName, depth: usize, sink: &mut Sink<'_>) {
    let mut archive = match zip::ZipArchive::new(reader) {
        Ok(archive) => archive,
        Err(error) => {
            return archive_error(stream, sink, format!("unreadable zip archive: {error}"));
        }
    };
    for index in 0..archive.len() {
        let mut entry = match archive.by_index(index) {
            Ok(entry) => entry,
            Err(error) => {
                archive_error(
                    stream,
                    sink,
                    format!("zip entry {index} unreadable: {error}"),
                );
                continue;
            }
        };
        if entry.is_dir() {
            continue;
        }
        let name = entry
            .name()
            .map(|name| name.into_owned())
            .unwrap_or_else(|_| format!("entry-{index}"));
        let member = stream.member_of(&name);
        read_member(&mut entry, &member, depth + 1, sink);
    }
}

/// A member of an archive: sniffed, then read by kind.
fn read_member(reader: &mut dyn Read, stream: &StreamName, depth: usize, sink: &mut Sink<'_>) {
    sink.stats.members += 1;
    read_stream(
        Box::new(BufReader::with_capacity(BLOCK, reader)),
        None,
        stream,
        depth,
        sink,
    );
}

/// Boxed readers: archives nest, and a generic reader type would nest without end.
fn read_stream(
    mut reader: Box<dyn BufRead + '_>,
    kind: Option<InputKind>,
    stream: &StreamName,
    depth: usize,
    sink: &mut Sink<'_>,
) {
    if depth > MAX_DEPTH {
        return archive_error(stream, sink, "archives nested too deeply".into());
    }
    let mut head = Vec::with_capacity(512);
    if let Err(error) = (&mut reader).take(512).read_to_end(&mut head) {
        return archive_error(stream, sink, format!("read failed: {error}"));
    }
    let kind = kind.or_else(|| InputKind::chosen(sniff(&head), sink.from));
    let chained: Box<dyn BufRead + '_> = Box::new(BufReader::with_capacity(
        BLOCK,
        Cursor::new(head).chain(reader),
    ));
    match kind {
        Some(InputKind::Json) => read_lines(chained, LineFormat::Json, stream, sink),
        Some(InputKind::Auditd) => read_lines(chained, LineFormat::Auditd, stream, sink),
        Some(InputKind::Syslog) => read_lines(chained, LineFormat::Syslog, stream, sink),
        Some(InputKind::ZeekTsv) => crate::zeek::read_zeek(chained, stream, sink),
        Some(InputKind::Delimited) => crate::delimited::read_delimited(chained, None, stream, sink),
        Some(InputKind::Mapped(position)) => match crate::mapping::get(position) {
            Some(mapping) if mapping.delimiter.is_some() => {
                crate::delimited::read_delimited(chained, Some(mapping), stream, sink)
            }
            Some(_) => read_lines(chained, LineFormat::MappedJson(position), stream, sink),
            None => archive_error(stream, sink, "no such mapping".into()),
        },
        Some(InputKind::Gzip) => read_stream(
            Box::new(BufReader::with_capacity(
                BLOCK,
                flate2::bufread::MultiGzDecoder::new(chained),
            )),
            None,
            stream,
            depth + 1,
            sink,
        ),
        Some(InputKind::Tar) => read_tar(chained, stream, depth, sink),
        Some(InputKind::Evtx) | Some(InputKind::Zip) => {
            // Both need to seek: spool the member to a temporary file.
            let spooled = tempfile::tempfile().and_then(|mut file| {
                let mut chained = chained;
                std::io::copy(&mut chained, &mut file)?;
                file.rewind()?;
                Ok(file)
            });
            match (spooled, kind) {
                (Ok(file), Some(InputKind::Evtx)) => read_evtx(file, stream, sink),
                (Ok(file), _) => read_zip(file, stream, depth, sink),
                (Err(error), _) => {
                    archive_error(stream, sink, format!("cannot spool member: {error}"))
                }
            }
        }
        None => {
            let name = stream.member.as_deref().unwrap_or(&stream.path).to_string();
            sink.stats
                .skipped_members
                .push((name, "not a format we read".into()));
        }
    }
}

fn read_tar(reader: Box<dyn BufRead + '_>, stream: &StreamName, depth: usize, sink: &mut Sink<'_>) {
    let mut archive = tar::Archive::new(reader);
    let entries = match archive.entries() {
        Ok(entries) => entries,
        Err(error) => {
            return archive_error(stream, sink, format!("unreadable tar archive: {error}"));
        }
    };
    for entry in entries {
        let mut entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                archive_error(
                    stream,
                    sink,
                    format!("tar archive damaged or truncated: {error}"),
                );
                return;
            }
        };
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map(|path| path.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "?".into());
        let member = stream.member_of(&name);
        read_member(&mut entry, &member, depth + 1, sink);
    }
}

/// Reads a line-oriented stream in blocks of whole lines. A JSON stream whose first value
/// spans several lines (pretty-printed JSON, or an array) is read as documents instead; an
/// audit log's blocks end between events.
fn read_lines(
    mut reader: Box<dyn BufRead + '_>,
    format: LineFormat,
    stream: &StreamName,
    sink: &mut Sink<'_>,
) {
    let stream = Arc::new(stream.clone());
    let mut carry: Vec<u8> = Vec::with_capacity(BLOCK);
    let mut next_line = 1u64;
    let mut next_offset = 0u64;
    let mut mode_decided = format != LineFormat::Json;
    let mut skipping_long_line = false;
    loop {
        let before = carry.len();
        carry.resize(before + BLOCK, 0);
        let read = match reader.read(&mut carry[before..]) {
            Ok(read) => read,
            Err(error) => {
                carry.truncate(before);
                archive_error(
                    &stream,
                    sink,
                    format!("stream damaged or truncated after {next_offset} bytes: {error}"),
                );
                0
            }
        };
        carry.truncate(before + read);
        let at_end = read == 0;
        if !mode_decided {
            match first_line_decision(&carry, at_end) {
                None => continue,
                Some(true) => {
                    mode_decided = true;
                }
                Some(false) => {
                    return read_documents(carry, reader, &stream, sink);
                }
            }
        }
        if skipping_long_line {
            match memchr::memchr(b'\n', &carry) {
                Some(end) => {
                    next_offset += end as u64 + 1;
                    next_line += 1;
                    carry.drain(..=end);
                    skipping_long_line = false;
                }
                None => {
                    next_offset += carry.len() as u64;
                    carry.clear();
                    if at_end {
                        return;
                    }
                    continue;
                }
            }
        }
        let cut = if at_end {
            carry.len()
        } else {
            match memchr::memrchr(b'\n', &carry) {
                Some(end) => end + 1,
                None if carry.len() > MAX_LINE => {
                    (sink.diagnostic)(Diagnostic {
                        kind: format.diagnostic_kind(),
                        location: stream.location(Some(next_line), Some(next_offset)),
                        message: format!("line longer than {MAX_LINE} bytes quarantined"),
                        raw: Some(keep_raw(&carry)),
                    });
                    next_offset += carry.len() as u64;
                    carry.clear();
                    skipping_long_line = true;
                    continue;
                }
                None => continue,
            }
        };
        let cut = if format == LineFormat::Auditd && !at_end {
            match crate::auditd::event_boundary(&carry[..cut]) {
                // One event so far: read on, unless it is absurdly long.
                0 if carry.len() < 4 * BLOCK => 0,
                0 => cut,
                boundary => boundary,
            }
        } else {
            cut
        };
        if cut > 0 {
            let rest = carry.split_off(cut);
            let data = std::mem::replace(&mut carry, rest);
            let lines = memchr::memchr_iter(b'\n', &data).count() as u64;
            let length = data.len() as u64;
            (sink.unit)(Unit::Lines {
                stream: stream.clone(),
                format,
                first_line: next_line,
                first_offset: next_offset,
                data,
            });
            next_line += lines;
            next_offset += length;
            if carry.capacity() < BLOCK {
                carry.reserve(BLOCK);
            }
        }
        if at_end {
            return;
        }
    }
}

/// `Some(true)` for JSON lines, `Some(false)` for multi-line documents, `None` when more input
/// is needed to tell.
fn first_line_decision(data: &[u8], at_end: bool) -> Option<bool> {
    let text = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let start = text.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return if at_end { Some(true) } else { None };
    };
    if text[start] == b'[' {
        return Some(false);
    }
    let line_end = memchr::memchr(b'\n', &text[start..]).map(|end| start + end);
    let line = match line_end {
        Some(end) => &text[start..end],
        None if at_end => &text[start..],
        None => return None,
    };
    let complete = serde_json::from_slice::<serde::de::IgnoredAny>(line.trim_ascii_end()).is_ok();
    if complete && crate::decode::container_key(line).is_some() {
        // One line holding many records (a CloudTrail file): its elements are the records.
        return Some(false);
    }
    Some(complete || text[start] != b'{')
}

fn read_documents(
    mut data: Vec<u8>,
    reader: Box<dyn BufRead + '_>,
    stream: &Arc<StreamName>,
    sink: &mut Sink<'_>,
) {
    let limit = (MAX_DOCUMENT + 1 - data.len().min(MAX_DOCUMENT)) as u64;
    if let Err(error) = reader.take(limit).read_to_end(&mut data) {
        archive_error(
            stream,
            sink,
            format!("stream damaged or truncated: {error}"),
        );
    }
    if data.len() > MAX_DOCUMENT {
        (sink.diagnostic)(Diagnostic {
            kind: DiagnosticKind::Json,
            location: stream.location(None, Some(0)),
            message: format!(
                "JSON document larger than {MAX_DOCUMENT} bytes; write it as JSON lines"
            ),
            raw: Some(keep_raw(&data)),
        });
        return;
    }
    (sink.unit)(Unit::Documents {
        stream: stream.clone(),
        data,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_decision() {
        assert_eq!(
            first_line_decision(b"{\"a\":1}\n{\"b\":2}\n", false),
            Some(true)
        );
        assert_eq!(
            first_line_decision(b"{\n  \"Event\": {}\n}\n", false),
            Some(false)
        );
        assert_eq!(first_line_decision(b"[{\"a\":1}]", true), Some(false));
        assert_eq!(first_line_decision(b"{\"a\":", false), None);
        assert_eq!(
            first_line_decision(b"garbage\n{\"a\":1}\n", false),
            Some(true)
        );
    }
}
