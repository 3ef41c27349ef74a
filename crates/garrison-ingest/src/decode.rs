//! The worker side of ingestion: turning units into events. One [`Decoder`] per thread reuses
//! its events and buffers from record to record.
//!
//! Events are handed over in runs of up to [`BATCH`] (and at the end of every unit) rather
//! than one by one: decoding a record and detecting on it want different code and tables in
//! the cache, and alternating them per record evicts each other's. Decoding a run, then
//! detecting on it, keeps a rule set's automata warm from one event to the next.

use crate::diagnostic::{Diagnostic, DiagnosticKind, keep_raw};
use crate::json::{Naming, flatten_json};
use crate::read::{LineFormat, StreamName, Unit, error_chain};
use crate::shapes::decode_json_record;
use crate::zeek;
use evtx::ParserSettings;
use garrison_model::{Event, EvidenceRef, Fields, RecordFormat, ValueKind};
use std::sync::Arc;

/// Most events decoded before they are handed over.
const BATCH: usize = 16;

const EVTX_FILE_HEADER: u64 = 4096;
const EVTX_CHUNK_SIZE: u64 = 65536;
const EVTX_RECORD_HEADER: u64 = 24;

/// Counts one decoder keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    pub events: u64,
    pub quarantined: u64,
    pub damaged_chunks: u64,
}

impl DecodeStats {
    pub fn add(&mut self, other: &DecodeStats) {
        self.events += other.events;
        self.quarantined += other.quarantined;
        self.damaged_chunks += other.damaged_chunks;
    }
}

/// Decodes units into events; one per thread.
pub struct Decoder {
    /// The event being decoded.
    event: Event,
    /// Decoded events not yet handed over (the first `ready`), and spare buffers after them.
    pending: Vec<Event>,
    ready: usize,
    scratch: Fields,
    settings: Arc<ParserSettings>,
    pub stats: DecodeStats,
}

fn blank_event() -> Event {
    Event {
        evidence: EvidenceRef {
            path: "".into(),
            member: None,
            record_id: 0,
            offset: 0,
        },
        timestamp: None,
        format: RecordFormat::Json,
        fields: Fields::with_capacity(48, 2048),
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder {
            event: blank_event(),
            pending: Vec::new(),
            ready: 0,
            scratch: Fields::with_capacity(48, 2048),
            settings: Arc::new(ParserSettings::new().num_threads(1)),
            stats: DecodeStats::default(),
        }
    }

    fn set_evidence(&mut self, stream: &StreamName, record_id: u64, offset: u64) {
        let evidence = &mut self.event.evidence;
        if !Arc::ptr_eq(&evidence.path, &stream.path) {
            evidence.path = stream.path.clone();
        }
        evidence.member.clone_from(&stream.member);
        evidence.record_id = record_id;
        evidence.offset = offset;
    }

    /// Hands the decoded event (fields already written) to `on_event`, with its evidence,
    /// format and time.
    fn emit(
        &mut self,
        stream: &StreamName,
        (record_id, offset): (u64, u64),
        format: RecordFormat,
        timestamp: Option<garrison_model::Timestamp>,
        on_event: &mut dyn FnMut(&Event),
    ) {
        self.set_evidence(stream, record_id, offset);
        self.event.format = format;
        self.event.timestamp = timestamp;
        self.hand_over(on_event);
    }

    /// Queues the decoded event, handing the queue over when full; the next event is decoded
    /// into the buffers of one already handed over.
    fn hand_over(&mut self, on_event: &mut dyn FnMut(&Event)) {
        self.stats.events += 1;
        if self.ready == self.pending.len() {
            self.pending.push(blank_event());
        }
        std::mem::swap(&mut self.event, &mut self.pending[self.ready]);
        self.ready += 1;
        if self.ready == BATCH {
            self.flush(on_event);
        }
    }

    /// Hands every queued event over, in decoding order.
    fn flush(&mut self, on_event: &mut dyn FnMut(&Event)) {
        for event in &self.pending[..self.ready] {
            on_event(event);
        }
        self.ready = 0;
    }

    fn quarantine(&mut self, report: &mut dyn FnMut(Diagnostic), diagnostic: Diagnostic) {
        self.stats.quarantined += 1;
        report(diagnostic);
    }

    /// Decodes a unit, calling `on_event` for every event and `report` for every problem.
    /// Every event of the unit has been handed over when it returns.
    pub fn decode(
        &mut self,
        unit: Unit,
        on_event: &mut dyn FnMut(&Event),
        report: &mut dyn FnMut(Diagnostic),
    ) {
        self.decode_unit(unit, on_event, report);
        self.flush(on_event);
    }

    fn decode_unit(
        &mut self,
        unit: Unit,
        on_event: &mut dyn FnMut(&Event),
        report: &mut dyn FnMut(Diagnostic),
    ) {
        match unit {
            Unit::EvtxChunk { stream, mut chunk } => {
                self.decode_evtx_chunk(&stream, &mut chunk, on_event, report)
            }
            Unit::Lines {
                stream,
                format,
                first_line,
                first_offset,
                data,
            } => match format {
                LineFormat::Json => self.decode_lines(
                    &stream,
                    (first_line, first_offset),
                    &data,
                    None,
                    on_event,
                    report,
                ),
                LineFormat::MappedJson(position) => {
                    let mapping = crate::mapping::get(position);
                    self.decode_lines(
                        &stream,
                        (first_line, first_offset),
                        &data,
                        mapping.as_deref(),
                        on_event,
                        report,
                    )
                }
                LineFormat::Syslog => {
                    self.decode_syslog(&stream, first_line, first_offset, &data, on_event, report)
                }
                LineFormat::Auditd => {
                    self.decode_auditd(&stream, first_line, first_offset, &data, on_event, report)
                }
            },
            Unit::Documents { stream, data } => {
                self.decode_documents(&stream, &data, on_event, report)
            }
            Unit::Delimited {
                stream,
                header,
                first_line,
                first_offset,
                data,
            } => self.decode_delimited(
                &stream,
                &header,
                (first_line, first_offset),
                &data,
                on_event,
                report,
            ),
            Unit::Zeek {
                stream,
                header,
                first_line,
                first_offset,
                data,
            } => self.decode_zeek(
                &stream,
                &header,
                (first_line, first_offset),
                &data,
                on_event,
                report,
            ),
        }
    }

    fn decode_evtx_chunk(
        &mut self,
        stream: &StreamName,
        chunk_data: &mut evtx::EvtxChunkData,
        on_event: &mut dyn FnMut(&Event),
        report: &mut dyn FnMut(Diagnostic),
    ) {
        let chunk_number = chunk_data.number.unwrap_or(0);
        let chunk_offset = EVTX_FILE_HEADER + chunk_number * EVTX_CHUNK_SIZE;
        let mut chunk = match chunk_data.parse(self.settings.clone()) {
            Ok(chunk) => chunk,
            Err(error) => {
                self.stats.damaged_chunks += 1;
                report(Diagnostic {
                    kind: DiagnosticKind::EvtxChunk,
                    location: stream.location(None, Some(chunk_offset)),
                    message: format!(
                        "damaged chunk {chunk_number} skipped: {}",
                        error_chain(&error)
                    ),
                    raw: None,
                });
                return;
            }
        };
        for record in chunk.iter() {
            let record = match record {
                Ok(record) => record,
                Err(error) => {
                    self.quarantine(
                        report,
                        Diagnostic {
                            kind: DiagnosticKind::EvtxRecord,
                            location: stream.location(None, Some(chunk_offset)),
                            message: format!(
                                "record in chunk {chunk_number} skipped: {}",
                                error_chain(&error)
                            ),
                            raw: None,
                        },
                    );
                    continue;
                }
            };
            let record_id = record.event_record_id;
            let timestamp = record.timestamp;
            let offset = chunk_offset + record.binxml_offset.saturating_sub(EVTX_RECORD_HEADER);
            let json = match record.into_json_bytes() {
                Ok(json) => json.data,
                Err(error) => {
                    self.quarantine(
                        report,
                        Diagnostic {
                            kind: DiagnosticKind::EvtxRecord,
                            location: stream.location(Some(record_id), Some(offset)),
                            message: format!("record cannot be rendered: {}", error_chain(&error)),
                            raw: None,
                        },
                    );
                    continue;
                }
            };
            self.event.fields.clear();
            if let Err(error) = flatten_json(&json, Naming::WindowsEvent, &mut self.event.fields) {
                self.quarantine(
                    report,
                    Diagnostic {
                        kind: DiagnosticKind::EvtxRecord,
                        location: stream.location(Some(record_id), Some(offset)),
                        message: format!("record rendering is not valid JSON: {error}"),
                        raw: Some(keep_raw(&json)),
                    },
                );
                continue;
            }
            // Cite the EventRecordID Windows shows; exported or filtered logs renumber the
            // record headers but keep it. The offset pins the record either way.
            let shown_id = self
                .event
                .fields
                .value(garrison_model::event::windows::EVENT_RECORD_ID)
                .and_then(|id| id.parse().ok())
                .unwrap_or(record_id);
            self.set_evidence(stream, shown_id, offset);
            // The event's own creation time; the record header's time is when the record was
            // written, which can differ (or be zero) in forwarded and exported logs.
            self.event.timestamp = self
                .event
                .fields
                .value(garrison_model::event::windows::TIME_CREATED)
                .and_then(crate::time::parse_timestamp)
                .or(Some(timestamp));
            self.event.format = RecordFormat::Evtx;
            self.hand_over(on_event);
        }
    }

    /// One JSON record: its shape recognised, or with `mapping`, another tool's alert given
    /// the mapping's canonical fields.
    fn decode_json_value(
        &mut self,
        stream: &StreamName,
        (record_id, offset): (u64, u64),
        bytes: &[u8],
        mapping: Option<&crate::mapping::Mapping>,
        on_event: &mut dyn FnMut(&Event),
        report: &mut dyn FnMut(Diagnostic),
    ) {
        let decoded = match mapping {
            None => decode_json_record(bytes, &mut self.event.fields, &mut self.scratch),
            Some(mapping) => {
                self.event.fields.clear();
                flatten_json(bytes, Naming::Dotted, &mut self.event.fields).map(|()| {
                    mapping.apply(&mut self.event.fields);
                    let time = self.event.fields.value(&mapping.time);
                    (
                        RecordFormat::MappedAlert,
                        time.and_then(crate::time::parse_timestamp),
                    )
                })
            }
        };
        match decoded {
            Ok((format, timestamp)) => {
                if format == RecordFormat::Zeek && self.event.fields.get(zeek::PATH_FIELD).is_none()
                {
                    let name = stream.member.as_deref().unwrap_or(&stream.path);
                    if let Some(path) = zeek::path_from_file_name(name) {
                        self.event
                            .fields
                            .push(zeek::PATH_FIELD, path, ValueKind::Text);
                    }
                }
                self.emit(stream, (record_id, offset), format, timestamp, on_event);
            }
            Err(error) => self.quarantine(
                report,
                Diagnostic {
                    kind: DiagnosticKind::Json,
                    location: stream.location(Some(record_id), Some(offset)),
                    message: format!("invalid JSON record: {error}"),
                    raw: Some(keep_raw(bytes)),
                },
            ),
        }
    }

    /// Zeek TSV lines: `#` lines (such as `#close`) are skipped but counted as lines, so a
    /// record's id is its line number in the file, header included.
    fn decode_zeek(
        &mut self,
        stream: &StreamName,
        header: &zeek::ZeekHeader,
        (first_line, first_offset): (u64, u64),
        data: &[u8],
        on_event: &mut dyn FnMut(&Event),
        report: &mut dyn FnMut(Diagnostic),
    ) {
        for_each_line(
            data,
            first_line,
            first_offset,
            |line_number, offset, line| {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.is_empty() || line[0] == b'#' {
                    return;
                }
                match zeek::decode_zeek_line(header, line, &mut self.event.fields) {
                    Ok(timestamp) => {
                        self.emit(
                            stream,
                            (line_number, offset),
                            RecordFormat::Zeek,
                            timestamp,
                            on_event,
                        );
                    }
                    Err(why) => {
                        let diagnostic = zeek::bad_record(stream, line_number, offset, line, why);
                        self.quarantine(report, diagnostic);
                    }
                }
            },
        );
    }

    fn decode_lines(
        &mut self,
        stream: &StreamName,
        (first_line, first_offset): (u64, u64),
        data: &[u8],
        mapping: Option<&crate::mapping::Mapping>,
        on_event: &mut dyn FnMut(&Event),
        report: &mut dyn FnMut(Diagnostic),
    ) {
        for_each_line(
            data,
            first_line,
            first_offset,
            |line_number, offset, line| {
                let line = if line_number == 1 {
                    line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line)
                } else {
                    line
                };
                let line = line.trim_ascii();
                if line.is_empty() {
                    return;
                }
                self.decode_json_value(
                    stream,
                    (line_number, offset),
                    line,
                    mapping,
                    on_event,
                    report,
                );
            },
        );
    }

    /// Records of delimited text: one event per record, numbered by the line it starts on.
    fn decode_delimited(
        &mut self,
        stream: &StreamName,
        header: &crate::delimited::DelimitedHeader,
        (first_line, first_offset): (u64, u64),
        data: &[u8],
        on_event: &mut dyn FnMut(&Event),
        report: &mut dyn FnMut(Diagnostic),
    ) {
        let mut values = Vec::with_capacity(header.names.len());
        let (mut position, mut line) = (0usize, first_line);
        while position < data.len() {
            let (used, breaks) =
                crate::delimited::split_record(&data[position..], &header.delimiter, &mut values);
            let record = &data[position..position + used];
            let offset = first_offset + position as u64;
            let blank = record.trim_ascii().is_empty();
            if !blank && values.len() != header.names.len() {
                let diagnostic = Diagnostic {
                    kind: DiagnosticKind::Delimited,
                    location: stream.location(Some(line), Some(offset)),
                    message: format!(
                        "record has {} columns, the header {}",
                        values.len(),
                        header.names.len()
                    ),
                    raw: Some(keep_raw(record)),
                };
                self.quarantine(report, diagnostic);
            } else if !blank {
                let timestamp =
                    crate::delimited::record_fields(header, &values, &mut self.event.fields);
                self.emit(stream, (line, offset), header.format, timestamp, on_event);
            }
            position += used.max(1);
            line += 1 + breaks;
        }
    }

    fn decode_syslog(
        &mut self,
        stream: &StreamName,
        first_line: u64,
        first_offset: u64,
        data: &[u8],
        on_event: &mut dyn FnMut(&Event),
        report: &mut dyn FnMut(Diagnostic),
    ) {
        let now = garrison_model::Timestamp::now();
        for_each_line(
            data,
            first_line,
            first_offset,
            |line_number, offset, line| {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.trim_ascii().is_empty() {
                    return;
                }
                let text = String::from_utf8_lossy(line);
                match crate::syslog::parse_line(&text, now, &mut self.event.fields) {
                    Ok(timestamp) => {
                        let format = crate::syslog::format_of(&self.event.fields);
                        self.emit(
                            stream,
                            (line_number, offset),
                            format,
                            Some(timestamp),
                            on_event,
                        );
                    }
                    Err(why) => self.quarantine(
                        report,
                        Diagnostic {
                            kind: DiagnosticKind::Syslog,
                            location: stream.location(Some(line_number), Some(offset)),
                            message: format!("syslog line {line_number} quarantined: {why}"),
                            raw: Some(keep_raw(line)),
                        },
                    ),
                }
            },
        );
    }

    fn decode_auditd(
        &mut self,
        stream: &StreamName,
        first_line: u64,
        first_offset: u64,
        data: &[u8],
        on_event: &mut dyn FnMut(&Event),
        report: &mut dyn FnMut(Diagnostic),
    ) {
        let mut bad = Vec::new();
        crate::auditd::group_events(
            data,
            first_line,
            first_offset,
            |event| {
                let timestamp = event.write_fields(&mut self.event.fields);
                self.emit(
                    stream,
                    (event.first_line, event.first_offset),
                    RecordFormat::Auditd,
                    timestamp,
                    on_event,
                );
            },
            |line_number, offset, line, why| {
                bad.push(crate::auditd::bad_line(
                    stream,
                    line_number,
                    offset,
                    line,
                    why,
                ))
            },
        );
        for diagnostic in bad {
            self.quarantine(report, diagnostic);
        }
    }

    fn decode_documents(
        &mut self,
        stream: &StreamName,
        data: &[u8],
        on_event: &mut dyn FnMut(&Event),
        report: &mut dyn FnMut(Diagnostic),
    ) {
        let text = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        let mut values =
            serde_json::Deserializer::from_slice(text).into_iter::<&serde_json::value::RawValue>();
        let mut record_id = 0u64;
        loop {
            let start = values.byte_offset();
            let value = match values.next() {
                None => break,
                Some(Ok(value)) => value,
                Some(Err(error)) => {
                    self.quarantine(
                        report,
                        Diagnostic {
                            kind: DiagnosticKind::Json,
                            location: stream.location(Some(record_id + 1), Some(start as u64)),
                            message: format!(
                                "invalid JSON document, rest of stream skipped: {error}"
                            ),
                            raw: Some(keep_raw(&text[start..])),
                        },
                    );
                    break;
                }
            };
            let raw = value.get().as_bytes();
            let offset = start as u64 + (raw.as_ptr() as u64 - text[start..].as_ptr() as u64);
            let array = match container_key(raw) {
                Some(key) => container_elements(raw, key),
                None => raw,
            };
            if array.first() == Some(&b'[') {
                match serde_json::from_slice::<Vec<&serde_json::value::RawValue>>(array) {
                    Ok(elements) => {
                        for element in elements {
                            record_id += 1;
                            let element_offset =
                                element.get().as_ptr() as u64 - text.as_ptr() as u64;
                            self.decode_json_value(
                                stream,
                                (record_id, element_offset),
                                element.get().as_bytes(),
                                None,
                                on_event,
                                report,
                            );
                        }
                    }
                    Err(error) => {
                        record_id += 1;
                        self.quarantine(
                            report,
                            Diagnostic {
                                kind: DiagnosticKind::Json,
                                location: stream.location(Some(record_id), Some(offset)),
                                message: format!("invalid JSON array: {error}"),
                                raw: Some(keep_raw(raw)),
                            },
                        );
                    }
                }
            } else {
                record_id += 1;
                self.decode_json_value(stream, (record_id, offset), raw, None, on_event, report);
            }
        }
    }
}

/// Keys under which one JSON document carries many records: CloudTrail's `Records`, Azure
/// Monitor's `records`, Microsoft Graph's `value`.
const CONTAINER_KEYS: [&str; 3] = ["Records", "records", "value"];

/// The container key of a JSON object whose first key is one (Graph's `@odata.context` may
/// come first), else `None`.
pub(crate) fn container_key(object: &[u8]) -> Option<&'static str> {
    let rest = object
        .trim_ascii_start()
        .strip_prefix(b"{")?
        .trim_ascii_start();
    if rest.starts_with(b"\"@odata.") {
        return Some("value");
    }
    CONTAINER_KEYS.into_iter().find(|key| {
        rest.strip_prefix(b"\"")
            .and_then(|rest| rest.strip_prefix(key.as_bytes()))
            .is_some_and(|rest| rest.starts_with(b"\""))
    })
}

/// The array under `key` in a container object, as its bytes within `object`; the object
/// itself when it holds no such array (it is then read as one record).
fn container_elements<'a>(object: &'a [u8], key: &str) -> &'a [u8] {
    let parsed: Result<std::collections::HashMap<String, &serde_json::value::RawValue>, _> =
        serde_json::from_slice(object);
    match parsed {
        Ok(map) => match map.get(key) {
            Some(array) if array.get().starts_with('[') => {
                let bytes = array.get().as_bytes();
                let start = bytes.as_ptr() as usize - object.as_ptr() as usize;
                &object[start..start + bytes.len()]
            }
            _ => object,
        },
        Err(_) => object,
    }
}

/// Calls `each(line number, byte offset, line)` for every line of a block of whole lines
/// (without the `\n`), numbering from `first_line` and offsetting from `first_offset`.
pub(crate) fn for_each_line<'a>(
    data: &'a [u8],
    first_line: u64,
    first_offset: u64,
    mut each: impl FnMut(u64, u64, &'a [u8]),
) {
    let mut line_number = first_line;
    let mut start = 0usize;
    while start < data.len() {
        let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |at| start + at);
        each(line_number, first_offset + start as u64, &data[start..end]);
        line_number += 1;
        start = end + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields_of(event: &Event) -> Vec<(String, String)> {
        event
            .fields
            .iter()
            .map(|field| (field.name.to_string(), field.value.to_string()))
            .collect()
    }

    /// Events reach the caller in runs, decoded into recycled buffers: each must still be
    /// exactly its own record, in order, and all of a unit's before `decode` returns.
    #[test]
    fn events_handed_over_in_runs_are_whole_and_in_order() {
        let records = 2 * BATCH + 5;
        let mut lines = String::new();
        for n in 0..records {
            if n == BATCH + 1 {
                lines.push_str("{\"broken\": \n");
            } else if n % 2 == 0 {
                let wide: Vec<String> =
                    (0..12).map(|k| format!("\"f{k}\": \"v{n}-{k}\"")).collect();
                lines.push_str(&format!("{{\"n\": \"{n}\", {}}}\n", wide.join(", ")));
            } else {
                lines.push_str(&format!("{{\"n\": \"{n}\"}}\n"));
            }
        }
        let stream = Arc::new(StreamName {
            path: "runs.jsonl".into(),
            member: None,
        });
        let mut decoder = Decoder::new();
        let mut seen: Vec<(u64, Vec<(String, String)>)> = Vec::new();
        let mut problems = Vec::new();
        decoder.decode(
            Unit::Lines {
                stream,
                format: LineFormat::Json,
                first_line: 1,
                first_offset: 0,
                data: lines.into_bytes(),
            },
            &mut |event| seen.push((event.evidence.record_id, fields_of(event))),
            &mut |problem| problems.push(problem.location.record),
        );
        assert_eq!(
            seen.len(),
            records - 1,
            "every good record, none left queued"
        );
        assert_eq!(problems, vec![Some(BATCH as u64 + 2)]);
        assert_eq!(decoder.stats.events, records as u64 - 1);
        for (position, (line, fields)) in seen.iter().enumerate() {
            let n = if position < BATCH + 1 {
                position
            } else {
                position + 1
            };
            assert_eq!(*line, n as u64 + 1, "line numbers in order");
            let mut expected = vec![("n".to_string(), n.to_string())];
            if n % 2 == 0 {
                expected.extend((0..12).map(|k| (format!("f{k}"), format!("v{n}-{k}"))));
            }
            assert_eq!(fields, &expected, "record {n} has only its own fields");
        }
    }
}
