//! Zeek logs in their native tab-separated form: the `#separator`/`#fields`/`#types` header,
//! then one record per line. Records become events with Zeek's own field names
//! (`id.orig_h`, `query`, `mime_type`) plus `_path`, the log's name (`conn`, `dns`, `http`),
//! which is also what Zeek's JSON writer adds and what Sigma's `service` selects.
//!
//! Values follow the header: the unset marker (`-`) leaves the field out, the empty marker
//! (`(empty)`) is an empty value, sets and vectors become one entry per element, booleans are
//! `true`/`false`, and `\xNN` escapes are decoded. A record whose column count does not match
//! the header is quarantined with the reason.

use crate::diagnostic::{Diagnostic, DiagnosticKind, keep_raw};
use crate::read::{Sink, StreamName, Unit, archive_error};
use crate::time::parse_timestamp;
use garrison_model::{Fields, Timestamp, ValueKind};
use std::borrow::Cow;
use std::io::BufRead;
use std::sync::Arc;

/// The name of the field holding a Zeek record's log name.
pub const PATH_FIELD: &str = "_path";

/// Lines sent to a decoder at once.
const BLOCK: usize = 1 << 20;

/// A log's header: how to split and read its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZeekHeader {
    pub separator: u8,
    pub set_separator: u8,
    pub unset: String,
    pub empty: String,
    /// The log's name (`#path`), e.g. `conn`.
    pub path: String,
    pub fields: Vec<String>,
    /// Each column's type as `#types` declares it, read once.
    pub columns: Vec<Column>,
}

/// How a column's values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub kind: ValueKind,
    /// A `set[..]` or `vector[..]`: one entry per element.
    pub container: bool,
    /// A `time`: the record's timestamp when the column is `ts`.
    pub time: bool,
}

impl Column {
    fn of(type_name: &str) -> Column {
        let (container, element) = match type_name.split_once('[') {
            Some((_, element)) => (true, element.trim_end_matches(']')),
            None => (false, type_name),
        };
        let kind = match element {
            "count" | "int" | "port" => ValueKind::Integer,
            "double" | "interval" | "time" => ValueKind::Float,
            "bool" => ValueKind::Boolean,
            _ => ValueKind::Text,
        };
        Column {
            kind,
            container,
            time: element == "time",
        }
    }
}

impl Default for ZeekHeader {
    fn default() -> Self {
        ZeekHeader {
            separator: b'\t',
            set_separator: b',',
            unset: "-".into(),
            empty: "(empty)".into(),
            path: String::new(),
            fields: Vec::new(),
            columns: Vec::new(),
        }
    }
}

impl ZeekHeader {
    /// Applies one `#` directive line. Returns false for lines that are not directives.
    fn apply(&mut self, line: &str) -> bool {
        let Some(rest) = line.strip_prefix('#') else {
            return false;
        };
        if let Some(value) = rest.strip_prefix("separator ") {
            if let Some(byte) = unescape_byte(value.trim()) {
                self.separator = byte;
            }
            return true;
        }
        let mut parts = rest.split(self.separator as char);
        let key = parts.next().unwrap_or_default();
        let values: Vec<&str> = parts.collect();
        let first = values.first().copied().unwrap_or_default().to_string();
        match key {
            "set_separator" => {
                if let Some(byte) = unescape_byte(&first) {
                    self.set_separator = byte;
                }
            }
            "unset_field" => self.unset = first,
            "empty_field" => self.empty = first,
            "path" => self.path = first,
            "fields" => self.fields = values.iter().map(|v| v.to_string()).collect(),
            "types" => self.columns = values.iter().map(|v| Column::of(v)).collect(),
            _ => {}
        }
        true
    }

    fn is_ready(&self) -> bool {
        !self.fields.is_empty()
    }
}

/// `\x09` or a single character.
fn unescape_byte(text: &str) -> Option<u8> {
    if let Some(hex) = text.strip_prefix("\\x") {
        return u8::from_str_radix(hex, 16).ok();
    }
    match text.as_bytes() {
        [byte] => Some(*byte),
        _ => None,
    }
}

/// True when a stream starts like a Zeek TSV log.
pub fn looks_like_zeek(head: &[u8]) -> bool {
    head.starts_with(b"#separator ")
}

/// The log name of a Zeek file when its records do not say: `conn.log`,
/// `conn.2023-08-16-01-00-00.log`, `dns.log.gz` give `conn`, `conn` and `dns`.
pub fn path_from_file_name(name: &str) -> Option<&str> {
    let base = name.rsplit(['/', '\\', '!']).next()?;
    let stem = base.split('.').next()?;
    (!stem.is_empty() && base.contains(".log")).then_some(stem)
}

/// Reads a Zeek TSV stream into units of whole lines, each with the header in force.
pub(crate) fn read_zeek(mut reader: Box<dyn BufRead + '_>, stream: &StreamName, sink: &mut Sink) {
    let stream = Arc::new(stream.clone());
    let mut header = ZeekHeader::default();
    // The header records are read by, shared with the units; rebuilt after any directive.
    let mut current: Option<Arc<ZeekHeader>> = None;
    let mut block: Vec<u8> = Vec::new();
    let (mut block_line, mut block_offset) = (1u64, 0u64);
    let mut line = Vec::new();
    let (mut line_number, mut offset) = (0u64, 0u64);
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line).unwrap_or_else(|error| {
            archive_error(
                &stream,
                sink,
                format!("stream damaged or truncated after {offset} bytes: {error}"),
            );
            0
        });
        if read == 0 {
            break;
        }
        line_number += 1;
        if line.first() == Some(&b'#') {
            // Records read so far belong to the header before this directive.
            flush(
                &mut block,
                (block_line, block_offset),
                current.as_ref(),
                &stream,
                sink,
            );
            current = None;
            header.apply(String::from_utf8_lossy(&line).trim_end_matches(['\n', '\r']));
        } else {
            if current.is_none() && header.is_ready() {
                current = Some(Arc::new(header.clone()));
            }
            if block.is_empty() {
                (block_line, block_offset) = (line_number, offset);
            }
            block.extend_from_slice(&line);
            if !block.ends_with(b"\n") {
                block.push(b'\n');
            }
            if block.len() >= BLOCK {
                flush(
                    &mut block,
                    (block_line, block_offset),
                    current.as_ref(),
                    &stream,
                    sink,
                );
            }
        }
        offset += read as u64;
    }
    flush(
        &mut block,
        (block_line, block_offset),
        current.as_ref(),
        &stream,
        sink,
    );
}

/// Sends the block read so far as a unit read by `header`.
fn flush(
    block: &mut Vec<u8>,
    (first_line, first_offset): (u64, u64),
    header: Option<&Arc<ZeekHeader>>,
    stream: &Arc<StreamName>,
    sink: &mut Sink,
) {
    if block.is_empty() {
        return;
    }
    let data = std::mem::take(block);
    match header {
        Some(header) => (sink.unit)(Unit::Zeek {
            stream: stream.clone(),
            header: header.clone(),
            first_line,
            first_offset,
            data,
        }),
        None => archive_error(
            stream,
            sink,
            format!("Zeek records before a #fields header skipped (from line {first_line})"),
        ),
    }
}

/// Decodes one record line into `fields` (cleared first); returns its time.
pub fn decode_zeek_line(
    header: &ZeekHeader,
    line: &[u8],
    fields: &mut Fields,
) -> Result<Option<Timestamp>, String> {
    fields.clear();
    let count = memchr::memchr_iter(header.separator, line).count() + 1;
    if count != header.fields.len() {
        return Err(format!(
            "{count} columns where the #fields header names {}",
            header.fields.len()
        ));
    }
    if !header.path.is_empty() {
        fields.push(PATH_FIELD, &header.path, ValueKind::Text);
    }
    let text_column = Column::of("string");
    let mut timestamp = None;
    let raw_columns = line.split(|b| *b == header.separator);
    for (index, (name, raw)) in header.fields.iter().zip(raw_columns).enumerate() {
        if raw == header.unset.as_bytes() {
            continue;
        }
        if raw == header.empty.as_bytes() {
            fields.push(name, "", ValueKind::Text);
            continue;
        }
        let column = header.columns.get(index).copied().unwrap_or(text_column);
        if column.container {
            // Split before unescaping: an element's own separators are escaped.
            for item in raw.split(|b| *b == header.set_separator) {
                fields.push(name, &unescape(item), column.kind);
            }
            continue;
        }
        let text = unescape(raw);
        let value = match (column.kind, text.as_ref()) {
            (ValueKind::Boolean, "T") => "true",
            (ValueKind::Boolean, "F") => "false",
            (_, text) => text,
        };
        fields.push(name, value, column.kind);
        if column.time && name == "ts" {
            timestamp = parse_timestamp(value);
        }
    }
    Ok(timestamp)
}

/// Zeek escapes non-printable bytes (and the separators) as `\xNN`.
fn unescape(raw: &[u8]) -> Cow<'_, str> {
    if memchr::memmem::find(raw, b"\\x").is_none() {
        return String::from_utf8_lossy(raw);
    }
    let mut bytes = Vec::with_capacity(raw.len());
    let mut index = 0;
    while index < raw.len() {
        if raw[index] == b'\\'
            && raw.get(index + 1) == Some(&b'x')
            && let Some(hex) = raw.get(index + 2..index + 4)
            && let Some(byte) = std::str::from_utf8(hex)
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            bytes.push(byte);
            index += 4;
            continue;
        }
        bytes.push(raw[index]);
        index += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&bytes).into_owned())
}

/// The diagnostic for a record that does not fit its header.
pub(crate) fn bad_record(
    stream: &StreamName,
    line: u64,
    offset: u64,
    raw: &[u8],
    why: String,
) -> Diagnostic {
    Diagnostic {
        kind: DiagnosticKind::Zeek,
        location: stream.location(Some(line), Some(offset)),
        message: format!("Zeek record quarantined: {why}"),
        raw: Some(keep_raw(raw)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONN: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.resp_p\tlocal_orig\ttunnel_parents\n#types\ttime\tstring\taddr\tport\tbool\tset[string]\n";

    fn header() -> ZeekHeader {
        let mut header = ZeekHeader::default();
        for line in CONN.lines() {
            assert!(header.apply(line), "{line}");
        }
        header
    }

    #[test]
    fn header_directives_are_read() {
        let header = header();
        assert_eq!(header.separator, b'\t');
        assert_eq!(header.path, "conn");
        assert_eq!(header.fields[2], "id.orig_h");
        assert!(header.columns[5].container);
        assert_eq!(header.columns[0], Column::of("time"));
    }

    #[test]
    fn records_are_typed_by_the_header() {
        let mut fields = Fields::new();
        let line = b"1692161622.036086\tCnsu5m\t192.168.1.41\t53\tT\ta,b";
        let time = decode_zeek_line(&header(), line, &mut fields).unwrap();
        assert_eq!(time.unwrap().as_second(), 1692161622);
        assert_eq!(fields.value("_path"), Some("conn"));
        assert_eq!(fields.value("id.orig_h"), Some("192.168.1.41"));
        assert_eq!(fields.get("id.resp_p").unwrap().kind, ValueKind::Integer);
        assert_eq!(fields.value("local_orig"), Some("true"));
        let parents: Vec<&str> = fields.get_all("tunnel_parents").map(|f| f.value).collect();
        assert_eq!(parents, ["a", "b"]);
    }

    #[test]
    fn unset_fields_are_left_out_and_escapes_decoded() {
        let mut fields = Fields::new();
        let line = b"1692161622.0\tC1\t10.0.0.1\t-\tF\t(empty)";
        decode_zeek_line(&header(), line, &mut fields).unwrap();
        assert!(fields.get("id.resp_p").is_none());
        assert_eq!(fields.value("tunnel_parents"), Some(""));
        assert_eq!(unescape(b"a\\x09b\\x2c"), "a\tb,");
    }

    #[test]
    fn a_record_with_the_wrong_column_count_is_an_error() {
        let mut fields = Fields::new();
        let error = decode_zeek_line(&header(), b"1692161622.0\tC1", &mut fields).unwrap_err();
        assert!(error.contains("2 columns"), "{error}");
    }

    #[test]
    fn log_names_come_from_file_names() {
        assert_eq!(path_from_file_name("x.zip!conn.log"), Some("conn"));
        assert_eq!(
            path_from_file_name("/a/dns.2023-08-16-01-00-00.log.gz"),
            Some("dns")
        );
        assert_eq!(path_from_file_name("notes.txt"), None);
    }
}
