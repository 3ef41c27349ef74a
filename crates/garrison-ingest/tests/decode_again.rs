//! Evidence decoded again from its reference alone is the event ingestion produced: EVTX
//! records, JSON lines and documents, syslog and audit records.

use garrison_ingest::raw::{RawError, decode_again};
use garrison_ingest::{Progress, discover};
use garrison_model::{Event, RecordFormat};
use std::path::{Path, PathBuf};

fn ingest(paths: &[PathBuf]) -> Vec<Event> {
    let discovery = discover(paths).expect("inputs exist");
    let (states, _) = garrison_ingest::run(
        &discovery.files,
        2,
        &Progress::default(),
        Vec::new,
        |events: &mut Vec<Event>, event| events.push(event.clone()),
        |_| {},
    );
    states.into_iter().flatten().collect()
}

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
    let events = ingest(&[dir.path().to_path_buf()]);
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
    let events = ingest(&[dir.path().to_path_buf()]);
    assert_eq!(events.len(), 1);
    match decode_again(&events[0].evidence) {
        Err(RawError::Format(message)) => assert!(message.contains("header"), "{message}"),
        other => panic!("expected a format error, got {other:?}"),
    }
}

/// The shared datasets, or a loud skip (a failure where `GARRISON_REQUIRE_SHARED_DATA` is set).
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

#[test]
fn evtx_records_decode_again_to_the_same_event() {
    let Some(data) = shared_data() else { return };
    let file = data
        .join("evtx-attack-samples")
        .join("Defense Evasion")
        .join("DE_UAC_Disabled_Sysmon_12_13.evtx");
    let events = ingest(&[file]);
    assert!(events.len() >= 2, "{} events", events.len());
    assert!(
        events
            .iter()
            .all(|event| event.format == RecordFormat::Evtx)
    );
    assert_decodes_again(&events);
}
