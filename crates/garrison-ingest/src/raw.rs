//! Reading an original record again from its [`EvidenceRef`]: the EVTX record rendered as XML,
//! or the JSON line / document exactly as stored. Evidence stays citable and checkable.

use crate::Diagnostic;
use crate::decode::Decoder;
use crate::read::{LineFormat, StreamName, Unit};
use crate::source::{InputKind, sniff};
use evtx::{EvtxChunkData, ParserSettings};
use garrison_model::{Event, EvidenceRef};
use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read, Seek, SeekFrom};
use std::sync::Arc;

/// The original record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawRecord {
    /// An EVTX record, rendered as the XML Windows shows.
    EvtxXml(String),
    /// A JSON line or document, byte for byte.
    Json(Vec<u8>),
    /// A line of a text log (Zeek TSV, syslog), byte for byte, without its line end; for an
    /// audit event, the lines of its records, joined by `\n`.
    Line(Vec<u8>),
}

/// Why a record could not be read again.
#[derive(Debug, thiserror::Error)]
pub enum RawError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Format(String),
}

impl RawError {
    /// True when trying again later could succeed (the file may be back).
    pub fn is_retryable(&self) -> bool {
        matches!(self, RawError::Io { .. })
    }
}

const EVTX_FILE_HEADER: u64 = 4096;
const EVTX_CHUNK_SIZE: u64 = 65536;
const EVTX_RECORD_HEADER: u64 = 24;

/// Reads the record `evidence` points to.
pub fn read_raw_record(evidence: &EvidenceRef) -> Result<RawRecord, RawError> {
    read_record(evidence).map(|(record, _)| record)
}

/// What kind of text stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Text {
    /// JSON, EVTX: not a text log.
    None,
    Zeek,
    Auditd,
    Syslog,
}

fn read_record(evidence: &EvidenceRef) -> Result<(RawRecord, Text), RawError> {
    let io = |source| RawError::Io {
        path: evidence.path.to_string(),
        source,
    };
    let file = File::open(&*evidence.path).map_err(io)?;
    let members: Vec<&str> = evidence
        .member
        .as_deref()
        .map(|member| member.split('!').collect())
        .unwrap_or_default();
    let stream = open_stream(Box::new(BufReader::new(file)), &members, evidence)?;
    read_from_stream(stream, evidence)
}

/// Follows archive members (and gzip layers) down to the record's own stream.
fn open_stream<'a>(
    reader: Box<dyn BufRead + 'a>,
    members: &[&str],
    evidence: &EvidenceRef,
) -> Result<Box<dyn BufRead + 'a>, RawError> {
    let mut reader = reader;
    let mut head = Vec::with_capacity(512);
    (&mut reader)
        .take(512)
        .read_to_end(&mut head)
        .map_err(|source| RawError::Io {
            path: evidence.path.to_string(),
            source,
        })?;
    let kind = sniff(&head);
    let chained: Box<dyn BufRead + 'a> = Box::new(BufReader::new(Cursor::new(head).chain(reader)));
    match (kind, members.split_first()) {
        (Some(InputKind::Gzip), _) => open_stream(
            Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(
                chained,
            ))),
            members,
            evidence,
        ),
        (Some(InputKind::Zip), Some((name, rest))) => {
            let mut spooled = spool(chained, evidence)?;
            let mut archive = zip::ZipArchive::new(&mut spooled)
                .map_err(|error| RawError::Format(format!("unreadable zip archive: {error}")))?;
            let mut member = archive
                .by_name(name)
                .map_err(|_| RawError::NotFound(format!("member {name} not in the archive")))?;
            let mut bytes = Vec::new();
            member
                .read_to_end(&mut bytes)
                .map_err(|source| RawError::Io {
                    path: evidence.path.to_string(),
                    source,
                })?;
            open_stream(Box::new(Cursor::new(bytes)), rest, evidence)
        }
        (Some(InputKind::Tar), Some((name, rest))) => {
            let mut archive = tar::Archive::new(chained);
            let entries = archive
                .entries()
                .map_err(|error| RawError::Format(format!("unreadable tar archive: {error}")))?;
            for entry in entries {
                let mut entry = entry
                    .map_err(|error| RawError::Format(format!("damaged tar archive: {error}")))?;
                let path = entry
                    .path()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if path == *name {
                    let mut bytes = Vec::new();
                    entry
                        .read_to_end(&mut bytes)
                        .map_err(|source| RawError::Io {
                            path: evidence.path.to_string(),
                            source,
                        })?;
                    return open_stream(Box::new(Cursor::new(bytes)), rest, evidence);
                }
            }
            Err(RawError::NotFound(format!(
                "member {name} not in the archive"
            )))
        }
        (_, Some((name, _))) => Err(RawError::NotFound(format!(
            "member {name} named, but the stream is not an archive"
        ))),
        (_, None) => Ok(chained),
    }
}

fn spool(mut reader: Box<dyn BufRead + '_>, evidence: &EvidenceRef) -> Result<File, RawError> {
    let io = |source| RawError::Io {
        path: evidence.path.to_string(),
        source,
    };
    let mut file = tempfile::tempfile().map_err(io)?;
    std::io::copy(&mut reader, &mut file).map_err(io)?;
    file.rewind().map_err(io)?;
    Ok(file)
}

fn read_from_stream(
    mut stream: Box<dyn BufRead + '_>,
    evidence: &EvidenceRef,
) -> Result<(RawRecord, Text), RawError> {
    let io = |source| RawError::Io {
        path: evidence.path.to_string(),
        source,
    };
    let head = stream.fill_buf().map_err(io)?;
    if head.starts_with(b"ElfFile\0") {
        return Ok((read_evtx_record(stream, evidence)?, Text::None));
    }
    let audit_log = crate::auditd::looks_like_auditd(head);
    let text = if audit_log {
        Text::Auditd
    } else if crate::zeek::looks_like_zeek(head) {
        Text::Zeek
    } else if !head.trim_ascii_start().starts_with(b"{")
        && !head.trim_ascii_start().starts_with(b"[")
        && crate::syslog::looks_like_syslog(head)
    {
        Text::Syslog
    } else {
        Text::None
    };
    let text_log = text != Text::None;
    // JSON: skip to the offset, then read one value.
    std::io::copy(
        &mut (&mut stream).take(evidence.offset),
        &mut std::io::sink(),
    )
    .map_err(io)?;
    let mut rest = Vec::new();
    if audit_log {
        return Ok((read_audit_event(stream, evidence)?, text));
    }
    if text_log {
        stream.read_until(b'\n', &mut rest).map_err(io)?;
        let line = rest.strip_suffix(b"\n").unwrap_or(&rest);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Err(RawError::NotFound(format!(
                "no record at offset {}",
                evidence.offset
            )));
        }
        return Ok((RawRecord::Line(line.to_vec()), text));
    }
    stream.read_to_end(&mut rest).map_err(io)?;
    let mut values =
        serde_json::Deserializer::from_slice(&rest).into_iter::<&serde_json::value::RawValue>();
    match values.next() {
        Some(Ok(value)) => Ok((RawRecord::Json(value.get().as_bytes().to_vec()), text)),
        Some(Err(error)) => {
            // A quarantined line is still its bytes up to the end of the line.
            let end = memchr::memchr(b'\n', &rest).unwrap_or(rest.len());
            if end == 0 {
                return Err(RawError::Format(format!(
                    "no record at offset {}: {error}",
                    evidence.offset
                )));
            }
            Ok((RawRecord::Json(rest[..end].to_vec()), text))
        }
        None => Err(RawError::NotFound(format!(
            "no record at offset {}",
            evidence.offset
        ))),
    }
}

/// Records of one audit event may interleave with others': the lines sharing the first
/// line's serial among the next few hundred.
fn read_audit_event(
    stream: Box<dyn BufRead + '_>,
    evidence: &EvidenceRef,
) -> Result<RawRecord, RawError> {
    const WINDOW: usize = 512;
    let mut lines = stream.split(b'\n');
    let first = match lines.next() {
        Some(Ok(line)) => line,
        Some(Err(source)) => {
            return Err(RawError::Io {
                path: evidence.path.to_string(),
                source,
            });
        }
        None => {
            return Err(RawError::NotFound(format!(
                "no record at offset {}",
                evidence.offset
            )));
        }
    };
    let key = |line: &[u8]| {
        let text = std::str::from_utf8(line).ok()?;
        let header = crate::auditd::parse_header(text)?;
        Some((header.node.map(str::to_string), header.serial))
    };
    let wanted = key(&first).ok_or_else(|| {
        RawError::NotFound(format!("no audit record at offset {}", evidence.offset))
    })?;
    let mut out = first.strip_suffix(b"\r").unwrap_or(&first).to_vec();
    for line in lines.take(WINDOW).map_while(Result::ok) {
        if key(&line).as_ref() == Some(&wanted) {
            out.push(b'\n');
            out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(&line));
        }
    }
    Ok(RawRecord::Line(out))
}

/// The chunk holding the EVTX record at `evidence`'s offset, and that offset in the chunk.
fn evtx_chunk(
    stream: Box<dyn BufRead + '_>,
    evidence: &EvidenceRef,
) -> Result<(EvtxChunkData, u64), RawError> {
    let io = |source| RawError::Io {
        path: evidence.path.to_string(),
        source,
    };
    let mut file = spool(stream, evidence)?;
    if evidence.offset < EVTX_FILE_HEADER {
        return Err(RawError::NotFound(format!(
            "offset {} is inside the file header",
            evidence.offset
        )));
    }
    let chunk_number = (evidence.offset - EVTX_FILE_HEADER) / EVTX_CHUNK_SIZE;
    let mut data = vec![0u8; EVTX_CHUNK_SIZE as usize];
    file.seek(SeekFrom::Start(
        EVTX_FILE_HEADER + chunk_number * EVTX_CHUNK_SIZE,
    ))
    .map_err(io)?;
    file.read_exact(&mut data).map_err(io)?;
    let mut chunk_data = EvtxChunkData::new(data, false)
        .map_err(|error| RawError::Format(format!("damaged chunk {chunk_number}: {error}")))?;
    chunk_data.number = Some(chunk_number);
    let offset_in_chunk = evidence.offset - EVTX_FILE_HEADER - chunk_number * EVTX_CHUNK_SIZE;
    Ok((chunk_data, offset_in_chunk))
}

fn evtx_not_found(evidence: &EvidenceRef) -> RawError {
    RawError::NotFound(format!(
        "no record {} at offset {}",
        evidence.record_id, evidence.offset
    ))
}

fn read_evtx_record(
    stream: Box<dyn BufRead + '_>,
    evidence: &EvidenceRef,
) -> Result<RawRecord, RawError> {
    let (mut chunk_data, offset_in_chunk) = evtx_chunk(stream, evidence)?;
    let mut chunk = chunk_data
        .parse(Arc::new(ParserSettings::new().num_threads(1)))
        .map_err(|error| RawError::Format(format!("damaged chunk: {error}")))?;
    for record in chunk.iter().flatten() {
        if record.binxml_offset.saturating_sub(EVTX_RECORD_HEADER) == offset_in_chunk {
            let xml = record
                .into_xml()
                .map_err(|error| RawError::Format(format!("record cannot be rendered: {error}")))?;
            return Ok(RawRecord::EvtxXml(xml.data));
        }
    }
    Err(evtx_not_found(evidence))
}

/// The record `evidence` points to, decoded again the way it was when read (for its OCSF
/// form). A Zeek TSV record needs its file's header and is not decoded alone.
pub fn decode_again(evidence: &EvidenceRef) -> Result<Event, RawError> {
    let stream_name = Arc::new(StreamName {
        path: evidence.path.clone(),
        member: evidence.member.clone(),
    });
    let mut found = None;
    let mut problem = None;
    let mut decoder = Decoder::new();
    let mut on_event = |event: &Event| {
        if found.is_none() && event.evidence.offset == evidence.offset {
            found = Some(event.clone());
        }
    };
    let mut report = |diagnostic: Diagnostic| {
        problem.get_or_insert(diagnostic.message);
    };
    let (record, text) = read_record(evidence)?;
    let unit = match record {
        RawRecord::EvtxXml(_) => {
            let file = File::open(&*evidence.path).map_err(|source| RawError::Io {
                path: evidence.path.to_string(),
                source,
            })?;
            let members: Vec<&str> = evidence
                .member
                .as_deref()
                .map(|member| member.split('!').collect())
                .unwrap_or_default();
            let stream = open_stream(Box::new(BufReader::new(file)), &members, evidence)?;
            let (chunk, _) = evtx_chunk(stream, evidence)?;
            Unit::EvtxChunk {
                stream: stream_name,
                chunk: Box::new(chunk),
            }
        }
        RawRecord::Json(bytes) => {
            // One line, however the document was laid out.
            let value: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|error| RawError::Format(format!("the record is not JSON: {error}")))?;
            let mut data =
                serde_json::to_vec(&value).map_err(|error| RawError::Format(error.to_string()))?;
            data.push(b'\n');
            Unit::Lines {
                stream: stream_name,
                format: LineFormat::Json,
                first_line: evidence.record_id,
                first_offset: evidence.offset,
                data,
            }
        }
        RawRecord::Line(mut data) => {
            let format = match text {
                Text::Auditd => LineFormat::Auditd,
                Text::Syslog => LineFormat::Syslog,
                Text::Zeek | Text::None => {
                    return Err(RawError::Format(
                        "a Zeek record is decoded with its file's header, not alone".into(),
                    ));
                }
            };
            data.push(b'\n');
            Unit::Lines {
                stream: stream_name,
                format,
                first_line: evidence.record_id,
                first_offset: evidence.offset,
                data,
            }
        }
    };
    decoder.decode(unit, &mut on_event, &mut report);
    found.ok_or_else(|| match problem {
        Some(message) => RawError::Format(format!("the record does not decode: {message}")),
        None => evtx_not_found(evidence),
    })
}
