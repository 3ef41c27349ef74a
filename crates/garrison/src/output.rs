//! Writing detections: JSON lines (one detection per line), CSV, or an aligned table.

use garrison_model::{Detection, Timestamp};
use serde_json::{Map, Value, json};
use std::io::{self, Write};

/// Output format of `garrison hunt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
    Table,
}

fn time_text(timestamp: Option<Timestamp>) -> String {
    timestamp.map(|t| t.to_string()).unwrap_or_default()
}

fn fields_object(fields: &[(String, String)]) -> Value {
    let mut object = Map::new();
    for (name, value) in fields {
        match object.get_mut(name) {
            None => {
                object.insert(name.clone(), Value::String(value.clone()));
            }
            Some(Value::Array(values)) => values.push(Value::String(value.clone())),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, Value::String(value.clone())]);
            }
        }
    }
    Value::Object(object)
}

/// The JSON form of one detection.
pub fn detection_json(detection: &Detection) -> Value {
    let mut source = json!({
        "path": &*detection.evidence.path,
        "record_id": detection.evidence.record_id,
        "offset": detection.evidence.offset,
    });
    if let Some(member) = &detection.evidence.member {
        source["member"] = Value::String(member.to_string());
    }
    let mut value = json!({
        "timestamp": time_text(detection.timestamp),
        "rule": {
            "id": detection.rule.id,
            "title": detection.rule.title,
            "level": detection.rule.level.as_str(),
            "tags": detection.rule.tags,
        },
        "source": source,
        "computer": detection.computer,
        "channel": detection.channel,
        "event_id": detection.event_id,
        "fields": fields_object(&detection.fields),
    });
    if let Some(correlation) = &detection.correlation {
        value["correlation"] = json!({
            "group": fields_object(&correlation.group),
            "count": correlation.count,
            "first": time_text(correlation.first),
            "last": time_text(correlation.last),
            "events": correlation.events.iter().map(|evidence| {
                let mut event = json!({"path": &*evidence.path, "record_id": evidence.record_id, "offset": evidence.offset});
                if let Some(member) = &evidence.member {
                    event["member"] = Value::String(member.to_string());
                }
                event
            }).collect::<Vec<_>>(),
        });
    }
    value
}

fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Writes all detections in `format`.
pub fn write_detections(
    out: &mut dyn Write,
    format: Format,
    detections: &[Detection],
) -> io::Result<()> {
    match format {
        Format::Jsonl => {
            for detection in detections {
                serde_json::to_writer(&mut *out, &detection_json(detection))?;
                out.write_all(b"\n")?;
            }
        }
        Format::Csv => {
            writeln!(
                out,
                "timestamp,level,rule_id,rule_title,computer,channel,event_id,path,record_id,fields"
            )?;
            for detection in detections {
                let fields: Vec<String> = detection
                    .fields
                    .iter()
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect();
                let cells = [
                    time_text(detection.timestamp),
                    detection.rule.level.to_string(),
                    detection.rule.id.clone(),
                    detection.rule.title.clone(),
                    detection.computer.clone().unwrap_or_default(),
                    detection.channel.clone().unwrap_or_default(),
                    detection
                        .event_id
                        .map(|id| id.to_string())
                        .unwrap_or_default(),
                    detection.evidence.stream_name(),
                    detection.evidence.record_id.to_string(),
                    fields.join("; "),
                ];
                let line: Vec<String> = cells.iter().map(|cell| csv_cell(cell)).collect();
                writeln!(out, "{}", line.join(","))?;
            }
        }
        Format::Table => write_table(out, detections)?,
    }
    out.flush()
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

fn write_table(out: &mut dyn Write, detections: &[Detection]) -> io::Result<()> {
    let rows: Vec<[String; 6]> = detections
        .iter()
        .map(|detection| {
            [
                time_text(detection.timestamp).chars().take(23).collect(),
                detection.rule.level.to_string(),
                truncate(detection.computer.as_deref().unwrap_or("-"), 24),
                detection
                    .event_id
                    .map(|id| id.to_string())
                    .unwrap_or_else(|| "-".into()),
                truncate(&detection.rule.title, 60),
                format!(
                    "{}#{}",
                    truncate(&detection.evidence.stream_name(), 48),
                    detection.evidence.record_id
                ),
            ]
        })
        .collect();
    let header = ["TIME", "LEVEL", "COMPUTER", "EVENT", "RULE", "SOURCE"];
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    writeln!(out, "{}", line(&header.map(String::from)))?;
    for row in &rows {
        writeln!(out, "{}", line(row))?;
    }
    Ok(())
}

/// Prints `value` as pretty JSON on standard output.
pub fn print_json(value: &impl serde::Serialize) -> Result<(), crate::Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|error| crate::Failure::Internal(error.to_string()))?;
    println!("{text}");
    Ok(())
}
