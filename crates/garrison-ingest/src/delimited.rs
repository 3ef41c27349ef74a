//! Delimited text (CSV, TSV, Microsoft Sentinel's `❖`-separated exports): a header row names
//! the columns, each following record is one event. Quoted values follow RFC 4180 (`""` is a
//! quote; delimiters and line breaks inside quotes belong to the value), and the delimiter may
//! be any text, which is why this is not the `csv` crate (it takes one byte). A record's id is
//! the line number it starts on, header included; a record whose column count differs from the
//! header's is quarantined with that line number.

use crate::diagnostic::{Diagnostic, DiagnosticKind, keep_raw};
use crate::mapping::Mapping;
use crate::read::{Sink, StreamName, Unit, archive_error};
use crate::time::parse_timestamp;
use garrison_model::{Fields, RecordFormat, Timestamp, ValueKind};
use std::borrow::Cow;
use std::io::BufRead;
use std::sync::Arc;

/// Delimiters recognised from a header row, most specific first.
const DELIMITERS: [&str; 5] = ["\u{2756}", "\t", ",", ";", "|"];

/// Bytes of records per unit of work.
const BLOCK: usize = 1 << 20;

/// How a stream's records are read: column names, delimiter, and what they are.
#[derive(Debug)]
pub struct DelimitedHeader {
    pub names: Vec<String>,
    pub delimiter: Vec<u8>,
    pub format: RecordFormat,
    pub mapping: Option<Arc<Mapping>>,
}

impl DelimitedHeader {
    fn new(names: Vec<String>, delimiter: Vec<u8>, mapping: Option<Arc<Mapping>>) -> Self {
        let has = |name: &str| names.iter().any(|n| n == name);
        let format = if mapping.is_some() {
            RecordFormat::MappedAlert
        } else if has("AlertName") && has("AlertSeverity") && has("SystemAlertId") {
            RecordFormat::SentinelAlert
        } else {
            RecordFormat::Csv
        };
        DelimitedHeader {
            names,
            delimiter,
            format,
            mapping,
        }
    }
}

/// A plausible column name: short, printable, no quotes needed beyond the optional pair.
fn column_name(text: &str) -> bool {
    let text = text.trim().trim_matches('"');
    !text.is_empty()
        && text.len() <= 64
        && text.chars().all(|c| {
            c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | ' ' | '@' | '/' | '(' | ')')
        })
}

/// The title line the Windows DHCP Server writes above its audit log's column header
/// (`DhcpSrvLog-*.log`, `DhcpV6SrvLog-*.log`), after a table of event ids.
const DHCP_SERVER_TITLE: &str = "DHCP Service Activity Log";

/// The start of the column header of a Windows DHCP Server audit log.
const DHCP_SERVER_HEADER: &[u8] = b"ID,Date,Time,";

/// Whether `head` is the start of a Windows DHCP Server audit log.
pub fn is_dhcp_server_log(head: &[u8]) -> bool {
    let first = head
        .split(|b| *b == b'\n')
        .find(|line| !line.trim_ascii().is_empty());
    first.is_some_and(|line| String::from_utf8_lossy(line).contains(DHCP_SERVER_TITLE))
}

/// The time of a Windows DHCP Server audit record: `Date` as `MM/DD/YY` and `Time`, in the
/// server's local time, which the log does not name; read as UTC.
fn dhcp_server_time(fields: &Fields) -> Option<Timestamp> {
    let (date, time) = (fields.value("Date")?, fields.value("Time")?);
    let mut parts = date.trim().split('/');
    let (month, day, year) = (parts.next()?, parts.next()?, parts.next()?);
    let year: i16 = match year.len() {
        2 => 2000 + year.parse::<i16>().ok()?,
        _ => year.parse().ok()?,
    };
    let text = format!(
        "{year:04}-{:02}-{:02}T{}",
        month.parse::<u8>().ok()?,
        day.parse::<u8>().ok()?,
        time.trim()
    );
    let civil: jiff::civil::DateTime = text.parse().ok()?;
    civil
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|zoned| zoned.timestamp())
}

/// The delimiter of a header row, when `head` starts with one. A header longer than `head`
/// is judged by its complete columns.
pub fn header_delimiter(head: &[u8]) -> Option<&'static str> {
    let (line, complete) = match memchr::memchr(b'\n', head) {
        Some(end) => (&head[..end], true),
        None => (head, false),
    };
    let line = match std::str::from_utf8(line) {
        Ok(text) => text,
        Err(error) if !complete => std::str::from_utf8(&line[..error.valid_up_to()]).ok()?,
        Err(_) => return None,
    };
    let line = line.trim_end_matches('\r').trim_start_matches('\u{feff}');
    DELIMITERS.into_iter().find(|delimiter| {
        let mut columns: Vec<&str> = line.split(delimiter).collect();
        if !complete {
            columns.pop();
        }
        columns.len() >= 3 && columns.iter().all(|column| column_name(column))
    })
}

/// Whether `head` looks like delimited text with a header row (or a Windows DHCP Server
/// audit log, whose header follows a preamble).
pub fn looks_like_delimited(head: &[u8]) -> bool {
    header_delimiter(head).is_some() || is_dhcp_server_log(head)
}

/// Splits the record at the start of `data` into `out` (values unquoted); returns the bytes the
/// record takes, line end included, and the line breaks inside it.
pub fn split_record<'a>(
    data: &'a [u8],
    delimiter: &[u8],
    out: &mut Vec<Cow<'a, str>>,
) -> (usize, u64) {
    out.clear();
    let mut position = 0;
    let mut breaks = 0u64;
    loop {
        // One field.
        let (value, next) = if data.get(position) == Some(&b'"') {
            let mut value = Vec::new();
            let mut at = position + 1;
            loop {
                match memchr::memchr(b'"', &data[at..]) {
                    Some(quote) => {
                        value.extend_from_slice(&data[at..at + quote]);
                        at += quote + 1;
                        if data.get(at) == Some(&b'"') {
                            value.push(b'"');
                            at += 1;
                        } else {
                            break;
                        }
                    }
                    None => {
                        // Unterminated: the rest is the value.
                        value.extend_from_slice(&data[at..]);
                        at = data.len();
                        break;
                    }
                }
            }
            breaks += value.iter().filter(|b| **b == b'\n').count() as u64;
            (Cow::Owned(String::from_utf8_lossy(&value).into_owned()), at)
        } else {
            let rest = &data[position..];
            let line_end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
            let end = memchr::memmem::find(&rest[..line_end], delimiter).unwrap_or(line_end);
            let raw = &rest[..end];
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            (String::from_utf8_lossy(raw), position + end)
        };
        out.push(value);
        position = next;
        // What follows the field: a delimiter, the end of the record, or stray text.
        let rest = &data[position..];
        if rest.starts_with(delimiter) {
            position += delimiter.len();
            continue;
        }
        match memchr::memchr(b'\n', rest) {
            Some(end) => return (position + end + 1, breaks),
            None => return (data.len(), breaks),
        }
    }
}

/// Reads a delimited stream: its header row, then units of whole records.
pub(crate) fn read_delimited(
    mut reader: Box<dyn BufRead + '_>,
    mapping: Option<Arc<Mapping>>,
    stream: &StreamName,
    sink: &mut Sink,
) {
    let stream = Arc::new(stream.clone());
    let mut header_line = Vec::new();
    if let Err(error) = reader.read_until(b'\n', &mut header_line) {
        return archive_error(&stream, sink, format!("stream unreadable: {error}"));
    }
    // A Windows DHCP Server log explains its event ids before its column header.
    let (mut line_number, mut offset) = (1u64, header_line.len() as u64);
    if is_dhcp_server_log(&header_line) {
        loop {
            header_line.clear();
            match reader.read_until(b'\n', &mut header_line) {
                Ok(0) => return,
                Ok(read) => {
                    line_number += 1;
                    offset += read as u64;
                }
                Err(error) => {
                    return archive_error(&stream, sink, format!("stream unreadable: {error}"));
                }
            }
            if header_line.starts_with(DHCP_SERVER_HEADER) {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&header_line);
    let text = text
        .trim_end_matches(['\n', '\r'])
        .trim_start_matches('\u{feff}');
    let delimiter = mapping
        .as_ref()
        .and_then(|m| m.delimiter.clone())
        .or_else(|| header_delimiter(&header_line).map(str::to_string))
        .or_else(|| {
            let mut with_end = header_line.clone();
            with_end.push(b'\n');
            header_delimiter(&with_end).map(str::to_string)
        });
    let Some(delimiter) = delimiter else {
        (sink.diagnostic)(Diagnostic {
            kind: DiagnosticKind::Delimited,
            location: stream.location(Some(1), Some(0)),
            message: "no header row naming the columns".into(),
            raw: Some(keep_raw(&header_line)),
        });
        return;
    };
    let mut names = Vec::new();
    split_record(text.as_bytes(), delimiter.as_bytes(), &mut names);
    let names: Vec<String> = names.iter().map(|n| n.trim().to_string()).collect();
    let header = Arc::new(DelimitedHeader::new(names, delimiter.into_bytes(), mapping));
    let mut block: Vec<u8> = Vec::new();
    let (mut block_line, mut block_offset) = (line_number + 1, offset);
    let mut in_quotes = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = match reader.read_until(b'\n', &mut line) {
            Ok(read) => read,
            Err(error) => {
                archive_error(
                    &stream,
                    sink,
                    format!("stream damaged or truncated after {offset} bytes: {error}"),
                );
                0
            }
        };
        if read == 0 {
            break;
        }
        line_number += 1;
        if block.is_empty() {
            (block_line, block_offset) = (line_number, offset);
        }
        block.extend_from_slice(&line);
        offset += read as u64;
        // A quote toggles; `""` toggles twice. Units end only between records, unless a stray
        // quote kept one open for four blocks: memory stays bounded, the record is cut.
        in_quotes ^= line.iter().filter(|b| **b == b'"').count() % 2 == 1;
        if (!in_quotes && block.len() >= BLOCK) || block.len() >= 4 * BLOCK {
            flush(
                &mut block,
                (block_line, block_offset),
                &header,
                &stream,
                sink,
            );
        }
    }
    flush(
        &mut block,
        (block_line, block_offset),
        &header,
        &stream,
        sink,
    );
}

fn flush(
    block: &mut Vec<u8>,
    (first_line, first_offset): (u64, u64),
    header: &Arc<DelimitedHeader>,
    stream: &Arc<StreamName>,
    sink: &mut Sink,
) {
    if block.is_empty() {
        return;
    }
    (sink.unit)(Unit::Delimited {
        stream: stream.clone(),
        header: header.clone(),
        first_line,
        first_offset,
        data: std::mem::take(block),
    });
}

/// Names of a time column, tried in order when no mapping names one.
const TIME_COLUMNS: [&str; 7] = [
    "TimeGenerated",
    "@timestamp",
    "timestamp",
    "time",
    "Time",
    "ts",
    "date",
];

/// Writes one record's values into `fields` (cleared first) under the header's names; JSON
/// text of Sentinel's object columns is expanded. Returns the record's time.
pub fn record_fields(
    header: &DelimitedHeader,
    values: &[Cow<'_, str>],
    fields: &mut Fields,
) -> Option<Timestamp> {
    fields.clear();
    for (name, value) in header.names.iter().zip(values) {
        if value.is_empty() {
            continue;
        }
        fields.push(name, value, ValueKind::Text);
        if header.format == RecordFormat::SentinelAlert
            && matches!(name.as_str(), "Entities" | "ExtendedProperties")
        {
            crate::cloud::expand_json_text(name, value, fields);
        }
    }
    match &header.mapping {
        Some(mapping) => {
            mapping.apply(fields);
            fields.value(&mapping.time).and_then(parse_timestamp)
        }
        None => TIME_COLUMNS
            .iter()
            .find_map(|name| fields.value(name).and_then(parse_timestamp))
            .or_else(|| dhcp_server_time(fields)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str, delimiter: &str) -> (Vec<String>, usize, u64) {
        let mut out = Vec::new();
        let (used, breaks) = split_record(text.as_bytes(), delimiter.as_bytes(), &mut out);
        (out.iter().map(|v| v.to_string()).collect(), used, breaks)
    }

    #[test]
    fn quoted_values_follow_rfc_4180() {
        let text = "a,\"b,\"\"c\"\"\",d\r\nnext";
        let (values, used, breaks) = split(text, ",");
        assert_eq!(values, ["a", "b,\"c\"", "d"]);
        assert_eq!(&text[used..], "next");
        assert_eq!(breaks, 0);
        let (values, used, breaks) = split("x\u{2756}\"two\nlines\"\u{2756}\nrest", "\u{2756}");
        assert_eq!(values, ["x", "two\nlines", ""]);
        assert_eq!(breaks, 1);
        assert_eq!(&"x\u{2756}\"two\nlines\"\u{2756}\nrest"[used..], "rest");
    }

    #[test]
    fn windows_dhcp_server_logs_are_recognised_and_timed() {
        let head = b"\t\tMicrosoft DHCP Service Activity Log\r\n\r\nEvent ID  Meaning\r\n00\tThe log was started.\r\n";
        assert!(is_dhcp_server_log(head));
        assert!(looks_like_delimited(head));
        assert!(!is_dhcp_server_log(b"ID,Date,Time\n"));
        let header = DelimitedHeader::new(
            [
                "ID",
                "Date",
                "Time",
                "Description",
                "IP Address",
                "Host Name",
            ]
            .map(String::from)
            .to_vec(),
            b",".to_vec(),
            None,
        );
        let values: Vec<Cow<str>> = ["10", "11/20/26", "07:00:05", "Assign", "10.20.1.21", "WS01"]
            .map(Cow::from)
            .to_vec();
        let mut fields = Fields::new();
        let time = record_fields(&header, &values, &mut fields);
        assert_eq!(time, Some("2026-11-20T07:00:05Z".parse().unwrap()));
        assert_eq!(fields.value("IP Address"), Some("10.20.1.21"));
    }

    #[test]
    fn headers_are_recognised_by_their_delimiter() {
        assert_eq!(
            header_delimiter(b"time,name,ip,host,short,time_label,event_label\n1,2"),
            Some(",")
        );
        assert_eq!(
            header_delimiter("TenantId\u{2756}TimeGenerated\u{2756}AlertName\n".as_bytes()),
            Some("\u{2756}")
        );
        assert_eq!(header_delimiter(b"ts\tuid\tid.orig_h\n"), Some("\t"));
        // A sentence with commas is no header.
        assert_eq!(header_delimiter(b"Hello, world, again!\n"), None);
        assert_eq!(header_delimiter(b"a,b\n"), None);
        // A header longer than the bytes sniffed: its complete columns decide.
        assert_eq!(
            header_delimiter("TenantId\u{2756}TimeGenerated\u{2756}Display".as_bytes()),
            None
        );
        assert_eq!(
            header_delimiter("TenantId\u{2756}TimeGenerated\u{2756}Alert\u{2756}Displ".as_bytes()),
            Some("\u{2756}")
        );
    }
}
