//! `garrison serve` as a separate process, fed over real sockets: syslog over UDP, TCP and
//! mutual TLS, the Splunk HTTP Event Collector, the Elasticsearch bulk API and a followed file;
//! and killed with SIGKILL mid-stream, to show a restart loses and repeats nothing accepted.

mod common;

use common::served::{Served, TOKEN, http, try_http};
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn evidence_count(state: &Path) -> i64 {
    let db = rusqlite::Connection::open(state.join("garrison.sqlite3")).unwrap();
    db.query_row("SELECT count(*) FROM evidence", [], |row| row.get(0))
        .unwrap()
}

/// Incidents holding the SSH logon after a brute force (a correlation of correlations).
fn logons_after_a_brute_force(state: &Path) -> i64 {
    let db = rusqlite::Connection::open(state.join("garrison.sqlite3")).unwrap();
    db.query_row(
        "SELECT count(*) FROM incidents WHERE body LIKE '%SSH Password Logon After a Brute Force from the Same Source%'",
        [],
        |row| row.get(0),
    )
    .unwrap()
}

/// A server with one syslog TCP input on any port, its spool written without fsync.
const SYSLOG_TCP: &str = r#"version = 1
[spool]
durability = "write"
[[input]]
kind = "syslog_tcp"
address = "127.0.0.1:0"
"#;

fn summary_number(log: &str, before: &str) -> u64 {
    let line = log
        .lines()
        .find(|l| l.contains(" records -> "))
        .unwrap_or_else(|| panic!("no summary:\n{log}"));
    let at = line
        .find(before)
        .unwrap_or_else(|| panic!("no {before:?} in {line}"));
    line[..at]
        .trim_end()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn every_input_takes_telemetry_and_the_team_reports_incidents() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.log"), "").unwrap();
    let served = Served::start(
        dir.path(),
        r#"version = 1
[spool]
durability = "write"
[[input]]
kind = "syslog_udp"
address = "127.0.0.1:0"
[[input]]
kind = "syslog_tcp"
address = "127.0.0.1:0"
[[input]]
kind = "hec"
address = "127.0.0.1:0"
token_file = "hec.tokens"
[[input]]
kind = "elasticsearch"
address = "127.0.0.1:0"
token_file = "hec.tokens"
[[input]]
kind = "file"
name = "app"
path = "app.log"
"#,
    );
    // The Windows intrusion over HEC, as JSON events, in two requests.
    let windows = sample_lines("samples/windows-intrusion.jsonl");
    let hec = served.address("hec");
    for half in windows.chunks(windows.len().div_ceil(2)) {
        let body: String = half
            .iter()
            .map(|line| format!("{{\"sourcetype\":\"_json\",\"event\":{line}}}"))
            .collect();
        let (status, reply) = http(
            &hec,
            "POST",
            "/services/collector/event",
            Some(&format!("Splunk {TOKEN}")),
            body.as_bytes(),
        );
        assert_eq!(
            (status, reply.as_str()),
            (200, r#"{"text":"Success","code":0}"#)
        );
    }
    // Refusals: no token, a wrong token, a malformed batch (quarantined, nothing taken).
    let (status, reply) = http(
        &hec,
        "POST",
        "/services/collector/event",
        None,
        b"{\"event\":\"x\"}",
    );
    assert_eq!(
        (status, reply.as_str()),
        (401, r#"{"text":"Token is required","code":2}"#)
    );
    let (status, _) = http(
        &hec,
        "POST",
        "/services/collector/event",
        Some("Splunk 0123456789abcdef0124"),
        b"{\"event\":\"x\"}",
    );
    assert_eq!(status, 403);
    let (status, reply) = http(
        &hec,
        "POST",
        "/services/collector/event",
        Some(&format!("Splunk {TOKEN}")),
        b"{\"event\":\"ok\"}{\"host\":\"h\"}",
    );
    assert_eq!(
        (status, reply.as_str()),
        (
            400,
            r#"{"text":"Event field is required","code":12,"invalid-event-number":1}"#
        )
    );
    // Raw lines (HEC's /raw endpoint) go to the text spool; /health answers with its code.
    let (status, reply) = http(
        &hec,
        "POST",
        "/services/collector/raw",
        Some(&format!("Splunk {TOKEN}")),
        b"<13>Dec  2 10:00:00 web01 app: raw one\r\n<13>Dec  2 10:00:01 web01 app: raw two\n",
    );
    assert_eq!(
        (status, reply.as_str()),
        (200, r#"{"text":"Success","code":0}"#)
    );
    let (status, reply) = http(&hec, "GET", "/services/collector/health", None, b"");
    assert_eq!(
        (status, reply.as_str()),
        (200, r#"{"text":"HEC is healthy","code":17}"#)
    );
    // Winlogbeat's domain controller events over the bulk API.
    let dc = sample_lines("samples/dc01-security.winlogbeat.jsonl");
    let es = served.address("elasticsearch");
    let (status, _) = http(&es, "GET", "/", Some(&format!("ApiKey {TOKEN}")), b"");
    assert_eq!(status, 200);
    let bulk: String = dc
        .iter()
        .map(|line| format!("{{\"create\":{{\"_index\":\"winlogbeat-8\"}}}}\n{line}\n"))
        .collect();
    let (status, reply) = http(
        &es,
        "POST",
        "/_bulk",
        Some(&format!("Bearer {TOKEN}")),
        bulk.as_bytes(),
    );
    assert_eq!(status, 200, "{reply}");
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["errors"], false);
    let items = reply["items"].as_array().unwrap();
    assert_eq!(items.len(), dc.len());
    assert!(
        items
            .iter()
            .all(|item| item["create"]["status"] == 201
                && item["create"]["_index"] == "winlogbeat-8")
    );
    // The web server's auth log over TCP (line framing and one octet-counted frame).
    let auth = sample_lines("samples/linux/web01-auth.log");
    let mut tcp = TcpStream::connect(served.address("syslog-tcp")).unwrap();
    for (index, line) in auth.iter().enumerate() {
        match index {
            0 => write!(tcp, "{} {line}", line.len()).unwrap(),
            _ => writeln!(tcp, "{line}").unwrap(),
        }
    }
    drop(tcp);
    // RFC 5424 messages over UDP, and the same appended to the followed file.
    let rfc5424 = sample_lines("samples/linux/web01-syslog-5424.log");
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for line in &rfc5424 {
        udp.send_to(line.as_bytes(), served.address("syslog-udp"))
            .unwrap();
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("app.log"))
        .unwrap();
    for line in &rfc5424 {
        writeln!(file, "{line}").unwrap();
    }
    std::thread::sleep(Duration::from_millis(1500));
    let state = served.state.clone();
    let log = served.stop();

    let expected = windows.len() + 2 + dc.len() + auth.len() + 2 * rfc5424.len();
    let accepted = |name: &str| -> u64 {
        let prefix = format!("garrison serve: input {name}: ");
        let line = log.lines().find(|l| l.starts_with(&prefix)).unwrap();
        line[prefix.len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(accepted("hec"), windows.len() as u64 + 2, "{log}");
    let raw =
        std::fs::read_to_string(state.join("spool/hec/text/00000000000000000000.log")).unwrap();
    assert_eq!(
        raw,
        "<13>Dec  2 10:00:00 web01 app: raw one\n<13>Dec  2 10:00:01 web01 app: raw two\n"
    );
    assert_eq!(accepted("elasticsearch"), dc.len() as u64);
    assert_eq!(accepted("syslog-tcp"), auth.len() as u64);
    assert_eq!(accepted("syslog-udp"), rfc5424.len() as u64);
    assert_eq!(accepted("app"), rfc5424.len() as u64);
    assert_eq!(summary_number(&log, "records ->"), expected as u64, "{log}");
    assert_eq!(summary_number(&log, "events,"), expected as u64, "{log}");
    assert_eq!(evidence_count(&state), expected as i64);
    assert!(
        log.contains("input hec: ") && log.contains("1 quarantined, 2 unauthorized"),
        "{log}"
    );
    let quarantine = std::fs::read_to_string(state.join("quarantine/live.jsonl")).unwrap();
    assert!(
        quarantine.contains("HEC event 1: Event field is required"),
        "{quarantine}"
    );
    // The intrusions are found: the workstation's, and the web server's from its syslog.
    let incidents: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("garrison serve: incident "))
        .collect();
    assert!(
        incidents
            .iter()
            .any(|l| l.contains("on WS01.corp.example (alice.martin)")),
        "{log}"
    );
    assert!(
        incidents.iter().any(|l| l.contains("on web01 (deploy)")),
        "{log}"
    );
    // Correlation rules run live too: the temporal correlation of the SSH brute force and
    // the logon after it is in web01's incident.
    let db = rusqlite::Connection::open(state.join("garrison.sqlite3")).unwrap();
    let mut bodies = db.prepare("SELECT body FROM incidents").unwrap();
    let bodies: Vec<String> = bodies
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("SSH Password Logon After a Brute Force from the Same Source")),
        "no correlation alert in {} incidents",
        bodies.len()
    );
    // Evidence from a spool reads back byte for byte.
    let (path, offset): (String, i64) = db
        .query_row("SELECT path, offset FROM evidence WHERE path LIKE '%/syslog-tcp/%' ORDER BY record_id LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    let spooled = std::fs::read(&path).unwrap();
    assert_eq!(offset, 0);
    assert!(spooled.starts_with(auth[0].as_bytes()), "{path}");
}

#[test]
fn a_backlog_read_in_chunks_still_correlates_across_them() {
    // Records spooled before the server starts (as after a crash): read a megabyte at a time,
    // the SSH brute force and the logon after it in the second chunk, the correlation due only
    // once the third is read, while the chunks before it may still be with the writer.
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("state/spool/syslog-tcp");
    std::fs::create_dir_all(&spool).unwrap();
    let filler = |from: usize, bytes: usize| -> String {
        let mut text = String::new();
        let mut n = from;
        while text.len() < bytes {
            text.push_str(&format!(
                "2024-03-14T09:50:00.000000+00:00 web02 CRON[{n}]: (root) CMD (/usr/local/bin/rotate --job {n})\n"
            ));
            n += 1;
        }
        text
    };
    let auth: String = sample_lines("samples/linux/web01-auth.log")
        .iter()
        .map(|line| format!("{line}\n"))
        .collect();
    let backlog = format!(
        "{}{auth}{}{}",
        filler(0, 1 << 20),
        filler(100_000, (1 << 20) - auth.len()),
        filler(200_000, 4096)
    );
    let records = backlog.lines().count() as u64;
    std::fs::write(spool.join("00000000000000000000.log"), &backlog).unwrap();
    let served = Served::start(dir.path(), SYSLOG_TCP);
    let state = served.state.clone();
    let log = served.stop();
    assert_eq!(summary_number(&log, "records ->"), records, "{log}");
    assert_eq!(evidence_count(&state), records as i64);
    let correlated = logons_after_a_brute_force(&state);
    assert!(correlated >= 1, "no correlation alert:\n{log}");
}

#[test]
fn correlations_outlive_a_restart_of_the_server() {
    // web01's SSH log cut in two: three failed passwords read before the server stops, two
    // more and the logon after it read once it is back. The brute force and the logon after
    // it complete only if the first part's matches are remembered across the restart.
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("state/spool/syslog-tcp");
    std::fs::create_dir_all(&spool).unwrap();
    let lines = sample_lines("samples/linux/web01-auth.log");
    let segment = spool.join("00000000000000000000.log");
    std::fs::write(&segment, lines[..4].join("\n") + "\n").unwrap();
    let config = SYSLOG_TCP;
    let log = Served::start(dir.path(), config).stop();
    assert_eq!(summary_number(&log, "records ->"), 4, "{log}");
    // The rest, spooled while the server was down (as records accepted just before a crash).
    let mut spooled = std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap();
    std::io::Write::write_all(&mut spooled, (lines[4..].join("\n") + "\n").as_bytes()).unwrap();
    drop(spooled);
    let served = Served::start(dir.path(), config);
    let state = served.state.clone();
    let log = served.stop();
    assert_eq!(evidence_count(&state), lines.len() as i64, "{log}");
    let correlated = logons_after_a_brute_force(&state);
    assert!(
        correlated >= 1,
        "no correlation alert after the restart:\n{log}"
    );
    // Started again with one harmless record: the sightings are read again and correlated
    // with it, but what was raised is not raised again.
    let mut spooled = std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap();
    let cron =
        "2024-03-14T10:20:00.000000+00:00 web01 CRON[3001]: (root) CMD (/usr/local/bin/rotate)\n";
    std::io::Write::write_all(&mut spooled, cron.as_bytes()).unwrap();
    drop(spooled);
    let log = Served::start(dir.path(), config).stop();
    assert_eq!(summary_number(&log, "records ->"), 1, "{log}");
    assert_eq!(summary_number(&log, "alerts ->"), 0, "{log}");
}

fn hec_batch(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|n| format!(r#"{{"event":{{"@timestamp":"2026-12-02T10:00:00Z","message":"load {n}","seq":{n},"host":{{"name":"web01"}}}}}}"#))
        .collect()
}

/// The `seq` numbers in a spool's JSON records.
fn spooled_numbers(dir: &Path) -> Vec<u64> {
    let mut numbers = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "log") {
            for line in std::fs::read_to_string(entry.path()).unwrap().lines() {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                numbers.push(value["seq"].as_u64().unwrap());
            }
        }
    }
    numbers.sort_unstable();
    numbers
}

#[test]
fn a_killed_server_loses_and_repeats_nothing_it_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let log_file = dir.path().join("app.log");
    std::fs::write(&log_file, "").unwrap();
    let config = r#"version = 1
[[input]]
kind = "hec"
address = "127.0.0.1:0"
token_file = "hec.tokens"
[[input]]
kind = "file"
name = "app"
path = "app.log"
"#;
    let served = Served::start(dir.path(), config);
    let hec = served.address("hec");
    // Acknowledged batches, then a kill while senders are still sending.
    let mut acked = 0;
    for batch in 0..20 {
        let (status, _) = http(
            &hec,
            "POST",
            "/services/collector/event",
            Some(&format!("Splunk {TOKEN}")),
            hec_batch(batch * 50, 50).as_bytes(),
        );
        assert_eq!(status, 200);
        acked += 50;
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&log_file)
        .unwrap();
    for n in 0..300 {
        writeln!(file, "<13>Dec  2 10:00:00 web01 app: line {n}").unwrap();
    }
    let late = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = late.clone();
    let sender = std::thread::spawn(move || {
        let mut acked_late = Vec::new();
        for batch in 20..2000 {
            let body = hec_batch(batch * 50, 50);
            match try_http(
                &hec,
                "POST",
                "/services/collector/event",
                Some(&format!("Splunk {TOKEN}")),
                body.as_bytes(),
            ) {
                Some((200, _)) => acked_late.push(batch),
                _ => break,
            }
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        acked_late
    });
    // Killed mid-stream, once some of these batches are acknowledged.
    let deadline = Instant::now() + Duration::from_secs(30);
    while late.load(std::sync::atomic::Ordering::SeqCst) < 10 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    served.kill();
    let acked_late = sender.join().unwrap();
    assert!(
        acked_late.len() >= 10 && acked_late.len() < 1980,
        "the kill did not land mid-stream: {} batches",
        acked_late.len()
    );
    // While it is down: more lines, then the file is rotated and a new one begun.
    for n in 300..400 {
        writeln!(file, "<13>Dec  2 10:00:01 web01 app: line {n}").unwrap();
    }
    drop(file);
    std::fs::rename(&log_file, dir.path().join("app.log.1")).unwrap();
    let mut file = std::fs::File::create(&log_file).unwrap();
    for n in 400..450 {
        writeln!(file, "<13>Dec  2 10:00:02 web01 app: line {n}").unwrap();
    }
    drop(file);

    let served = Served::start(dir.path(), config);
    let deadline = Instant::now() + Duration::from_secs(30);
    let spool = served.state.join("spool/app");
    while Instant::now() < deadline
        && std::fs::read_to_string(spool.join("00000000000000000000.log"))
            .map_or(0, |t| t.lines().count())
            < 450
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let state = served.state.clone();
    let log = served.stop();

    // Every acknowledged HEC event is spooled exactly once.
    let numbers = spooled_numbers(&state.join("spool/hec/json"));
    let mut unique = numbers.clone();
    unique.dedup();
    assert_eq!(numbers.len(), unique.len(), "an event was spooled twice");
    for n in 0..acked {
        assert!(
            unique.binary_search(&(n as u64)).is_ok(),
            "acknowledged event {n} lost"
        );
    }
    for batch in &acked_late {
        for n in batch * 50..batch * 50 + 50 {
            assert!(
                unique.binary_search(&(n as u64)).is_ok(),
                "acknowledged event {n} lost"
            );
        }
    }
    // Every line of the followed file, across the kill and the rotation, exactly once.
    let lines: Vec<String> = std::fs::read_to_string(spool.join("00000000000000000000.log"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let expected: Vec<String> = (0..450).map(|n| format!("line {n}")).collect();
    let found: Vec<String> = lines
        .iter()
        .map(|l| l.rsplit_once("app: ").unwrap().1.to_string())
        .collect();
    assert_eq!(found, expected, "{log}");
    // And the evidence store holds each spooled record once.
    assert_eq!(evidence_count(&state), (unique.len() + 450) as i64, "{log}");
}

#[test]
fn syslog_over_tls_needs_a_client_certificate_when_an_authority_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let authority_key = rcgen::KeyPair::generate().unwrap();
    let mut authority_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    authority_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    authority_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "garrison test authority");
    let authority = authority_params.self_signed(&authority_key).unwrap();
    let issuer = rcgen::Issuer::new(authority_params, &authority_key);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let client_key = rcgen::KeyPair::generate().unwrap();
    let client = rcgen::CertificateParams::new(vec!["relay.corp.example".to_string()])
        .unwrap()
        .signed_by(&client_key, &issuer)
        .unwrap();
    std::fs::write(dir.path().join("server.pem"), server.pem()).unwrap();
    std::fs::write(dir.path().join("server.key"), server_key.serialize_pem()).unwrap();
    std::fs::write(dir.path().join("ca.pem"), authority.pem()).unwrap();
    let served = Served::start(
        dir.path(),
        "version = 1\n[[input]]\nkind = \"syslog_tcp\"\naddress = \"127.0.0.1:0\"\n[input.tls]\ncertificate = \"server.pem\"\nkey = \"server.key\"\nclient_ca = \"ca.pem\"\n",
    );
    let address = served.address("syslog-tls");
    let connect = |with_certificate: bool| -> std::io::Result<()> {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(authority.der().to_vec()))
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match with_certificate {
            true => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from(client.der().to_vec())],
                    PrivateKeyDer::try_from(client_key.serialize_der()).unwrap(),
                )
                .unwrap(),
            false => builder.with_no_client_auth(),
        };
        let connection = rustls::ClientConnection::new(
            Arc::new(config),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let mut stream = rustls::StreamOwned::new(connection, TcpStream::connect(&address)?);
        stream.write_all(b"<86>1 2026-12-02T10:00:00Z web01 sshd 2110 - - Accepted publickey for deploy from 198.51.100.7 port 50122 ssh2\n")?;
        stream.flush()?;
        stream.conn.send_close_notify();
        stream.flush()?;
        // The server's answer to a missing certificate is an alert on the next read.
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).map(|_| ())
    };
    assert!(
        connect(false).is_err(),
        "a client without a certificate was served"
    );
    connect(true).expect("a client with a certificate is served");
    std::thread::sleep(Duration::from_millis(500));
    let log = served.stop();
    assert!(
        log.contains("input syslog-tls: 1 accepted, 0 quarantined, 1 unauthorized"),
        "{log}"
    );
}

/// Publishes `payloads` to `subject` on the local NATS server, speaking its text protocol.
fn nats_publish(subject: &str, payloads: &[&str]) {
    let mut stream = TcpStream::connect("127.0.0.1:4222")
        .expect("NATS on 127.0.0.1:4222 (.ci/run starts it; see the README)");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut info = String::new();
    reader.read_line(&mut info).unwrap();
    assert!(info.starts_with("INFO "), "{info}");
    let mut out = String::from("CONNECT {\"verbose\":false,\"pedantic\":false}\r\n");
    for payload in payloads {
        out.push_str(&format!("PUB {subject} {}\r\n{payload}\r\n", payload.len()));
    }
    out.push_str("PING\r\n");
    stream.write_all(out.as_bytes()).unwrap();
    let mut pong = String::new();
    reader.read_line(&mut pong).unwrap();
    assert_eq!(pong.trim(), "PONG");
}

#[test]
fn a_nats_subject_is_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let subject = format!("garrison.test.{}", std::process::id());
    let served = Served::start(
        dir.path(),
        &format!(
            "version = 1\n[[input]]\nkind = \"nats\"\nurl = \"nats://127.0.0.1:4222\"\nsubject = \"{subject}.>\"\nqueue_group = \"garrison\"\n"
        ),
    );
    let windows = sample_lines("samples/windows-intrusion.jsonl");
    let mut payloads: Vec<&str> = windows.iter().map(String::as_str).collect();
    // Two lines of text in one message, and a pretty-printed object.
    payloads.push("<13>Dec  2 10:00:00 web01 app: one\n<13>Dec  2 10:00:01 web01 app: two");
    payloads.push("{\n  \"message\": \"pretty\",\n  \"host\": {\"name\": \"web01\"}\n}");
    nats_publish(&format!("{subject}.windows"), &payloads);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && !served.log().contains("incident ") {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let state = served.state.clone();
    let log = served.stop();
    let expected = windows.len() + 3;
    assert!(
        log.contains(&format!("input nats: {expected} accepted")),
        "{log}"
    );
    assert_eq!(evidence_count(&state), expected as i64, "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("incident ") && l.contains("on WS01.corp.example (alice.martin)")),
        "{log}"
    );
    let text =
        std::fs::read_to_string(state.join("spool/nats/text/00000000000000000000.log")).unwrap();
    assert_eq!(
        text,
        "<13>Dec  2 10:00:00 web01 app: one\n<13>Dec  2 10:00:01 web01 app: two\n"
    );
}

#[test]
fn a_second_server_on_the_same_state_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = "version = 1\n[[input]]\nkind = \"syslog_udp\"\naddress = \"127.0.0.1:0\"\n";
    let served = Served::start(dir.path(), config);
    let second = Command::new(env!("CARGO_BIN_EXE_garrison"))
        .args(["serve", "--http", "127.0.0.1:0", "--config"])
        .arg(dir.path().join("serve.toml"))
        .arg("--state")
        .arg(&served.state)
        .output()
        .unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("another garrison serve is using this state folder"),
        "{stderr}"
    );
    served.stop();
}
