//! Ingestion end to end: files, archives and damaged input through the pipeline, and raw
//! records read back from their evidence references (and decoded again: the same event).

use garrison_ingest::raw::{RawError, RawRecord, decode_again, read_raw_record};
use garrison_ingest::{Diagnostic, DiagnosticKind, IngestSummary, Progress, discover};
use garrison_model::{Event, RecordFormat};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

struct Collected {
    events: Vec<Event>,
    diagnostics: Vec<Diagnostic>,
    summary: IngestSummary,
    skipped: usize,
}

fn collect(paths: &[PathBuf]) -> Collected {
    let discovery = discover(paths).expect("inputs exist");
    let diagnostics = Mutex::new(Vec::new());
    let (states, summary) = garrison_ingest::run(
        &discovery.files,
        2,
        &Progress::default(),
        Vec::new,
        |events: &mut Vec<Event>, event| events.push(event.clone()),
        |diagnostic| diagnostics.lock().unwrap().push(diagnostic),
    );
    let mut events: Vec<Event> = states.into_iter().flatten().collect();
    events.sort_by(|a, b| {
        (&a.evidence.path, &a.evidence.member, a.evidence.offset).cmp(&(
            &b.evidence.path,
            &b.evidence.member,
            b.evidence.offset,
        ))
    });
    Collected {
        events,
        diagnostics: diagnostics.into_inner().unwrap(),
        summary,
        skipped: discovery.skipped.len(),
    }
}

/// The shared datasets: `$GARRISON_SHARED_DATA`, else `../shared/data` next to the workspace.
/// Absent data skips the test loudly, unless `GARRISON_REQUIRE_SHARED_DATA` is set (as `.ci/run`
/// does), where it fails.
fn shared_data() -> Option<PathBuf> {
    let path = std::env::var_os("GARRISON_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    if path.is_dir() {
        return Some(path);
    }
    if std::env::var_os("GARRISON_REQUIRE_SHARED_DATA").is_some() {
        panic!("shared datasets required but absent at {}", path.display());
    }
    eprintln!(
        "SKIPPED: no shared datasets at {}; tests on real data did not run",
        path.display()
    );
    None
}

const GOOD: &str = r#"{"EventID":4625,"Channel":"Security","Hostname":"WS01","SourceName":"Microsoft-Windows-Security-Auditing","@timestamp":"2026-11-20T09:00:00Z","TargetUserName":"alice"}"#;

#[test]
fn json_lines_quarantine_bad_lines_and_keep_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let content =
        format!("{GOOD}\n\n{{\"broken\": \n[1,2]\n{GOOD}\r\n{{\"plain\": {{\"a\": [1, 2]}}}}");
    std::fs::write(&path, &content).unwrap();
    let collected = collect(std::slice::from_ref(&path));
    assert_eq!(collected.events.len(), 3);
    assert_eq!(collected.summary.decode.events, 3);
    assert_eq!(collected.summary.decode.quarantined, 2);
    let lines: Vec<u64> = collected
        .events
        .iter()
        .map(|e| e.evidence.record_id)
        .collect();
    assert_eq!(lines, [1, 5, 6]);
    assert_eq!(collected.events[0].format, RecordFormat::FlatWindows);
    assert_eq!(collected.events[0].computer(), Some("WS01"));
    assert_eq!(collected.events[2].format, RecordFormat::Json);
    assert_eq!(
        collected.events[2]
            .fields
            .get_all("plain.a")
            .map(|f| f.value)
            .collect::<Vec<_>>(),
        ["1", "2"]
    );
    let mut quarantined: Vec<_> = collected
        .diagnostics
        .iter()
        .filter(|d| d.kind == DiagnosticKind::Json)
        .collect();
    quarantined.sort_by_key(|d| d.location.record);
    assert_eq!(quarantined.len(), 2);
    assert_eq!(quarantined[0].location.record, Some(3));
    assert_eq!(quarantined[0].raw.as_deref(), Some(&b"{\"broken\":"[..]));
    assert_eq!(quarantined[1].location.record, Some(4));
    assert!(
        quarantined[1].message.contains("object"),
        "{}",
        quarantined[1].message
    );
    // Every event's evidence reads back to its own line.
    for event in &collected.events {
        let raw = read_raw_record(&event.evidence).unwrap();
        let RawRecord::Json(bytes) = raw else {
            panic!("JSON expected")
        };
        let start = event.evidence.offset as usize;
        assert_eq!(&content.as_bytes()[start..start + bytes.len()], &bytes[..]);
    }
}

#[test]
fn pretty_printed_documents_and_arrays() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("one.json"),
        "{\n  \"Event\": {\n    \"System\": {\"EventID\": 1, \"Channel\": \"Microsoft-Windows-Sysmon/Operational\", \"Computer\": \"ws\",\n      \"TimeCreated\": {\"#attributes\": {\"SystemTime\": \"2025-01-01T00:00:00Z\"}}},\n    \"EventData\": {\"Image\": \"C:\\\\x.exe\"}\n  }\n}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("many.json"), format!("[{GOOD},\n {GOOD}]")).unwrap();
    let collected = collect(&[dir.path().to_path_buf()]);
    assert_eq!(collected.events.len(), 3);
    let sysmon = collected
        .events
        .iter()
        .find(|e| e.format == RecordFormat::EvtxJson)
        .unwrap();
    assert_eq!(sysmon.event_id(), Some(1));
    assert_eq!(sysmon.field("Image"), Some("C:\\x.exe"));
    assert_eq!(
        sysmon.timestamp,
        Some("2025-01-01T00:00:00Z".parse().unwrap())
    );
    let array: Vec<_> = collected
        .events
        .iter()
        .filter(|e| e.evidence.path.ends_with("many.json"))
        .collect();
    assert_eq!(
        array
            .iter()
            .map(|e| e.evidence.record_id)
            .collect::<Vec<_>>(),
        [1, 2]
    );
    let RawRecord::Json(second) = read_raw_record(&array[1].evidence).unwrap() else {
        panic!()
    };
    assert_eq!(second, GOOD.as_bytes());
}

#[test]
fn container_documents_give_one_event_per_element() {
    let dir = tempfile::tempdir().unwrap();
    let record = |name: &str| {
        format!(
            r#"{{"eventVersion":"1.09","eventTime":"2026-11-20T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","userIdentity":{{"type":"Root"}}}}"#
        )
    };
    // CloudTrail's file (one line, gzipped as S3 delivers it), a Graph export (pretty, with
    // `@odata.context` first) and an Azure Monitor blob (`records`).
    let trail = format!(
        "{{\"Records\":[{},{}]}}\n",
        record("CreateUser"),
        record("DeleteUser")
    );
    std::fs::write(dir.path().join("trail.json.gz"), gzip(trail.as_bytes())).unwrap();
    std::fs::write(
        dir.path().join("signins.json"),
        "{\n  \"@odata.context\": \"https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns\",\n  \"value\": [\n    {\"createdDateTime\": \"2026-11-20T10:00:00Z\", \"userPrincipalName\": \"a@corp.example\", \"appDisplayName\": \"Azure Portal\", \"status\": {\"errorCode\": 0}}\n  ]\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("azure.json"),
        r#"{"records":[{"time":"2026-11-20T10:00:00Z","category":"AuditLogs","operationName":"Add user","properties":{"activityDisplayName":"Add user","result":"success"}}]}"#,
    )
    .unwrap();
    // An object that merely starts with `value` is one record.
    std::fs::write(dir.path().join("plain.json"), r#"{"value":3,"name":"x"}"#).unwrap();
    let collected = collect(&[dir.path().to_path_buf()]);
    assert!(
        collected.diagnostics.is_empty(),
        "{:?}",
        collected.diagnostics
    );
    let formats: Vec<(String, u64, RecordFormat)> = collected
        .events
        .iter()
        .map(|e| {
            let name = e.evidence.path.rsplit('/').next().unwrap().to_string();
            (name, e.evidence.record_id, e.format)
        })
        .collect();
    assert_eq!(
        formats,
        [
            ("azure.json".to_string(), 1, RecordFormat::EntraAudit),
            ("plain.json".to_string(), 1, RecordFormat::Json),
            ("signins.json".to_string(), 1, RecordFormat::EntraSignIn),
            ("trail.json.gz".to_string(), 1, RecordFormat::CloudTrail),
            ("trail.json.gz".to_string(), 2, RecordFormat::CloudTrail),
        ]
    );
    // Each element is read back by its offset, through the gzip layer.
    let second = &collected.events[4];
    assert_eq!(second.field("eventName"), Some("DeleteUser"));
    let RawRecord::Json(raw) = read_raw_record(&second.evidence).unwrap() else {
        panic!()
    };
    assert_eq!(raw, record("DeleteUser").as_bytes());
}

fn write_zip(path: &Path, members: &[(&str, &[u8])]) {
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    for (name, bytes) in members {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn tar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, *bytes).unwrap();
    }
    builder.into_inner().unwrap()
}

#[test]
fn archives_of_every_kind() {
    let dir = tempfile::tempdir().unwrap();
    let lines = format!("{GOOD}\n{GOOD}\n");
    write_zip(
        &dir.path().join("bundle.Zip"),
        &[
            ("a/events.json", lines.as_bytes()),
            ("notes.txt", b"not events"),
            ("inner.json.gz", &gzip(lines.as_bytes())),
        ],
    );
    std::fs::write(dir.path().join("events.jsonl.gz"), gzip(lines.as_bytes())).unwrap();
    std::fs::write(
        dir.path().join("set.tar.gz"),
        gzip(&tar(&[("x/events.json", lines.as_bytes())])),
    )
    .unwrap();
    let collected = collect(&[dir.path().to_path_buf()]);
    // zip: 2 + 2 (nested gzip), gzip: 2, tar.gz: 2.
    assert_eq!(collected.events.len(), 8, "{:?}", collected.diagnostics);
    assert!(
        collected.diagnostics.is_empty(),
        "{:?}",
        collected.diagnostics
    );
    assert_eq!(collected.summary.read.skipped_members.len(), 1);
    assert!(
        collected.summary.read.skipped_members[0]
            .0
            .ends_with("notes.txt")
    );
    let members: Vec<_> = collected
        .events
        .iter()
        .filter_map(|e| e.evidence.member.as_deref())
        .collect();
    assert!(members.contains(&"a/events.json"));
    assert!(members.contains(&"x/events.json"));
    assert!(members.contains(&"inner.json.gz"));
    for event in &collected.events {
        let RawRecord::Json(bytes) = read_raw_record(&event.evidence).unwrap() else {
            panic!()
        };
        assert_eq!(bytes, GOOD.as_bytes(), "{}", event.evidence);
    }
}

#[test]
fn truncated_archives_keep_what_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = String::new();
    for _ in 0..2000 {
        lines.push_str(GOOD);
        lines.push('\n');
    }
    let compressed = gzip(lines.as_bytes());
    let path = dir.path().join("cut.jsonl.gz");
    std::fs::write(&path, &compressed[..compressed.len() / 2]).unwrap();
    let collected = collect(&[path]);
    assert!(
        !collected.events.is_empty(),
        "events before the cut are kept"
    );
    assert!(collected.events.len() < 2000);
    assert!(
        collected
            .diagnostics
            .iter()
            .any(|d| d.kind == DiagnosticKind::Archive && d.message.contains("truncated")),
        "{:?}",
        collected.diagnostics
    );
    // The line cut in half is quarantined, not dropped.
    assert!(collected.summary.decode.quarantined <= 1);
}

#[test]
fn unknown_files_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rule.yml"), "title: x").unwrap();
    std::fs::write(dir.path().join("e.jsonl"), format!("{GOOD}\n")).unwrap();
    let collected = collect(&[dir.path().to_path_buf()]);
    assert_eq!(collected.events.len(), 1);
    assert_eq!(collected.skipped, 1);
}

#[test]
fn real_evtx_files_decode_with_citable_records() {
    let Some(data) = shared_data() else { return };
    let path = data
        .join("evtx-attack-samples/AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx");
    let collected = collect(std::slice::from_ref(&path));
    let mut parser = evtx::EvtxParser::from_path(&path).unwrap();
    let expected = parser.records().filter(|r| r.is_ok()).count();
    assert_eq!(collected.events.len(), expected);
    assert!(expected > 100);
    assert!(
        collected.diagnostics.is_empty(),
        "{:?}",
        collected.diagnostics
    );
    for event in collected.events.iter().step_by(97) {
        assert_eq!(event.format, RecordFormat::Evtx);
        assert_eq!(
            event.channel(),
            Some("Microsoft-Windows-Sysmon/Operational")
        );
        assert!(event.event_id().is_some());
        assert!(event.timestamp.is_some());
        assert_eq!(
            event.field("EventRecordID"),
            Some(event.evidence.record_id.to_string().as_str())
        );
        let RawRecord::EvtxXml(xml) = read_raw_record(&event.evidence).unwrap() else {
            panic!()
        };
        assert!(
            xml.contains(&format!(
                "<EventRecordID>{}</EventRecordID>",
                event.evidence.record_id
            )),
            "{xml}"
        );
    }
}

#[test]
fn damaged_evtx_chunks_are_reported_and_the_rest_is_read() {
    let Some(data) = shared_data() else { return };
    let original =
        std::fs::read(data.join(
            "evtx-attack-samples/AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx",
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let intact = collect(&[data
        .join("evtx-attack-samples/AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx")]);
    // Smash the second chunk's header magic and cut the file inside its last chunk.
    let mut damaged = original.clone();
    damaged[4096 + 65536..4096 + 65536 + 8].copy_from_slice(b"XXXXXXXX");
    damaged.truncate(original.len() - 30_000);
    let path = dir.path().join("damaged.evtx");
    std::fs::write(&path, &damaged).unwrap();
    let collected = collect(std::slice::from_ref(&path));
    assert!(!collected.events.is_empty());
    assert!(collected.events.len() < intact.events.len());
    let chunk_problems = collected
        .diagnostics
        .iter()
        .filter(|d| d.kind == DiagnosticKind::EvtxChunk)
        .count();
    assert!(chunk_problems >= 1, "{:?}", collected.diagnostics);
    // Records outside the damaged chunks are all there.
    let intact_ids: std::collections::HashSet<u64> =
        intact.events.iter().map(|e| e.evidence.record_id).collect();
    assert!(
        collected
            .events
            .iter()
            .all(|e| intact_ids.contains(&e.evidence.record_id))
    );
}

#[test]
fn otrf_zipped_json_lines_decode_as_windows_events() {
    let Some(data) = shared_data() else { return };
    let path =
        data.join("otrf/datasets/atomic/windows/execution/host/psh_powershell_httplistener.zip");
    let collected = collect(&[path]);
    assert_eq!(collected.events.len(), 110);
    assert!(
        collected
            .events
            .iter()
            .all(|e| e.format == RecordFormat::FlatWindows)
    );
    let first = &collected.events[0];
    assert_eq!(first.event_id(), Some(1102));
    assert_eq!(first.computer(), Some("WORKSTATION5"));
    assert!(first.evidence.member.as_deref().unwrap().ends_with(".json"));
}

/// Regression: EVTX times must be the event's own `TimeCreated`, not the record header's write
/// time (which differs in forwarded and exported logs, and can be zero).
#[test]
fn evtx_times_are_the_events_creation_times() {
    let Some(data) = shared_data() else { return };
    let path = data
        .join("evtx-attack-samples/Persistence/Network_Service_Guest_added_to_admins_4732.evtx");
    let collected = collect(&[path]);
    assert!(!collected.events.is_empty());
    for event in &collected.events {
        let created = event
            .field("TimeCreated_SystemTime")
            .expect("EVTX events carry TimeCreated");
        assert_eq!(
            event.timestamp,
            Some(created.parse().unwrap()),
            "record {}",
            event.evidence.record_id
        );
        assert!(event.timestamp.unwrap().as_second() > 0, "no 1601 times");
    }
}

#[test]
fn zeek_logs_tsv_through_gzip_and_json_read_back_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let tsv = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n\
               #path\tdns\n#fields\tts\tuid\tid.orig_h\tquery\tanswers\n\
               #types\ttime\tstring\taddr\tstring\tvector[string]\n\
               1795687200.25\tC1\t10.1.1.5\texample.org\t93.184.216.34,a\\x2cb\n\
               1795687201.25\tC2\t10.1.1.5\n\
               #close\t2026-11-26-11-00-00\n";
    std::fs::write(dir.path().join("dns.log.gz"), gzip(tsv.as_bytes())).unwrap();
    std::fs::write(
        dir.path().join("conn.log"),
        "{\"ts\":1795687202.5,\"uid\":\"C3\",\"id.orig_h\":\"10.1.1.5\",\"id.resp_p\":443}\n",
    )
    .unwrap();
    let collected = collect(&[dir.path().to_path_buf()]);
    assert_eq!(collected.events.len(), 2, "{:?}", collected.diagnostics);
    assert!(
        collected
            .events
            .iter()
            .all(|e| e.format == RecordFormat::Zeek)
    );
    let conn = &collected.events[0];
    assert_eq!(conn.field("_path"), Some("conn"), "named after its file");
    assert_eq!(conn.timestamp.unwrap().as_millisecond(), 1_795_687_202_500);
    let dns = &collected.events[1];
    assert_eq!(dns.field("_path"), Some("dns"));
    assert_eq!(dns.evidence.record_id, 8, "line number, header included");
    let answers: Vec<&str> = dns.fields.get_all("answers").map(|f| f.value).collect();
    assert_eq!(
        answers,
        ["93.184.216.34", "a,b"],
        "an escaped separator stays inside"
    );
    let RawRecord::Line(line) = read_raw_record(&dns.evidence).unwrap() else {
        panic!("a Zeek record reads back as its line");
    };
    assert!(line.starts_with(b"1795687200.25\tC1\t"), "{line:?}");
    // The short record is quarantined with its line number.
    let bad: Vec<&Diagnostic> = collected
        .diagnostics
        .iter()
        .filter(|d| d.kind == DiagnosticKind::Zeek)
        .collect();
    assert_eq!(bad.len(), 1, "{:?}", collected.diagnostics);
    assert_eq!(bad[0].location.record, Some(9));
    assert_eq!(collected.summary.decode.quarantined, 1);
}

/// Evidence decoded again from its reference alone is the event ingestion produced.
fn assert_decodes_again(events: &[Event]) {
    for event in events {
        let again = decode_again(&event.evidence)
            .unwrap_or_else(|error| panic!("{}: {error}", event.evidence));
        assert_eq!(&again, event, "{}", event.evidence);
    }
}

#[test]
fn text_records_decode_again_to_the_same_event() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("events.jsonl"),
        concat!(
            r#"{"EventID":4625,"Channel":"Security","Hostname":"WS01","@timestamp":"2026-11-20T09:00:00Z","TargetUserName":"alice"}"#,
            "\n",
            r#"{"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","eventTime":"2026-11-20T09:01:00Z","userIdentity":{"type":"IAMUser","userName":"bob"},"sourceIPAddress":"203.0.113.9"}"#,
            "\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("doc.json"),
        "{\n  \"Event\": {\n    \"System\": {\"EventID\": 1, \"Channel\": \"Microsoft-Windows-Sysmon/Operational\", \"Computer\": \"ws\",\n      \"TimeCreated\": {\"#attributes\": {\"SystemTime\": \"2025-01-01T00:00:00Z\"}}},\n    \"EventData\": {\"Image\": \"C:\\\\x.exe\"}\n  }\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("auth.log"),
        "Nov 20 09:00:01 web01 sshd[811]: Failed password for invalid user admin from 198.51.100.7 port 52114 ssh2\n\
         Nov 20 09:00:05 web01 sudo: alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/cat /etc/shadow\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("audit.log"),
        "type=SYSCALL msg=audit(1763629200.123:42): arch=c000003e syscall=59 success=yes exit=0 pid=4242 ppid=1 uid=0 comm=\"curl\" exe=\"/usr/bin/curl\"\n\
         type=EXECVE msg=audit(1763629200.123:42): argc=2 a0=\"curl\" a1=\"http://203.0.113.5/x\"\n",
    )
    .unwrap();
    let events = collect(&[dir.path().to_path_buf()]).events;
    let formats: Vec<RecordFormat> = events.iter().map(|event| event.format).collect();
    assert_eq!(events.len(), 6, "{events:#?}");
    for format in [
        RecordFormat::FlatWindows,
        RecordFormat::Json,
        RecordFormat::EvtxJson,
        RecordFormat::Syslog,
        RecordFormat::Auditd,
    ] {
        assert!(
            formats.contains(&format),
            "{format:?} not among {formats:?}"
        );
    }
    assert_decodes_again(&events);
}

#[test]
fn zeek_records_are_not_decoded_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("conn.log"),
        "#separator \\x09\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\n1763629200.000000\tCx1\t10.0.0.5\t52000\t203.0.113.5\t443\ttcp\n",
    )
    .unwrap();
    let events = collect(&[dir.path().to_path_buf()]).events;
    assert_eq!(events.len(), 1);
    match decode_again(&events[0].evidence) {
        Err(RawError::Format(message)) => assert!(message.contains("header"), "{message}"),
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn evtx_records_decode_again_to_the_same_event() {
    let Some(data) = shared_data() else { return };
    let file = data
        .join("evtx-attack-samples")
        .join("Defense Evasion")
        .join("DE_UAC_Disabled_Sysmon_12_13.evtx");
    let events = collect(&[file]).events;
    assert!(events.len() >= 2, "{} events", events.len());
    assert!(
        events
            .iter()
            .all(|event| event.format == RecordFormat::Evtx)
    );
    assert_decodes_again(&events);
}
