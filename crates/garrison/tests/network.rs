//! Network sensors end to end: the bundled Zeek logs and Suricata EVE records of the Windows
//! intrusion's traffic, normalized to OCSF, hunted, and joined by the investigation to the
//! workstation that made the connections.

mod common;

use common::*;
use std::collections::BTreeMap;

fn samples() -> String {
    workspace()
        .join("samples/network")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn normalize_gives_every_sensor_record_its_class() {
    let output = garrison(&["normalize", &samples()]);
    assert!(output.status.success(), "{output:?}");
    let records = stdout_lines(&output);
    let expected = counted(&[
        // Suricata: 6 alerts, 9 DNS queries and their 9 answers, 2 HTTP requests, 15 flows
        // and 12 TLS sessions, 2 files.
        (("suricata", 2004), 6),
        (("suricata", 4001), 27),
        (("suricata", 4002), 2),
        (("suricata", 4003), 18),
        (("suricata", 4010), 2),
        // Zeek: 25 connections and 12 TLS sessions are Network Activity; dns, http, files.
        (("zeek", 4001), 37),
        (("zeek", 4002), 2),
        (("zeek", 4003), 9),
        (("zeek", 4010), 2),
    ]);
    assert_eq!(classes_by_format(&records), expected);
    let find = |predicate: &dyn Fn(&serde_json::Value) -> bool| {
        records
            .iter()
            .find(|r| predicate(r))
            .unwrap_or_else(|| panic!("no such record"))
            .clone()
    };
    // A refused RDP attempt in conn.log.
    let refused = find(&|r| r["activity_name"] == "Refuse");
    assert_eq!(refused["dst_endpoint"]["port"], 3389);
    assert_eq!(refused["connection_info"]["direction"], "Lateral");
    // The payload download, as Zeek's http.log and files.log tell it: one connection uid.
    let http = find(&|r| {
        r["metadata"]["log_format"] == "zeek" && r["http_request"]["url"]["path"] == "/updsvc.bin"
    });
    assert_eq!(
        http["http_request"]["url"]["url_string"],
        "http://cdn-update.example.net/updsvc.bin"
    );
    assert_eq!(http["http_response"]["code"], 200);
    assert_eq!(
        http["http_response"]["content_type"],
        "application/x-dosexec"
    );
    let file = find(&|r| {
        r["metadata"]["log_format"] == "zeek" && r["file"]["mime_type"] == "application/x-dosexec"
    });
    assert_eq!(file["activity_name"], "Download");
    assert_eq!(file["src_endpoint"]["ip"], "10.20.1.21");
    assert_eq!(file["actor"]["app_name"], "HTTP");
    assert_eq!(
        file["metadata"]["correlation_uid"],
        http["metadata"]["correlation_uid"]
    );
    let sha256 = file["file"]["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["algorithm"] == "SHA-256")
        .unwrap();
    assert_eq!(
        sha256["value"],
        "6f1a9c3e0b7d54a2c8e9f0132b4d6a8c0e2f4b6d8a0c2e4f6b8d0a2c4e6f8b0d"
    );
    // Suricata's alert on it: a Detection Finding with the signature, priority 1 as High.
    let alert = find(&|r| r["finding_info"]["uid"] == "1:9200002:1");
    assert_eq!(alert["severity"], "High");
    assert_eq!(alert["action"], "Allowed");
    assert!(
        alert["finding_info"]["title"]
            .as_str()
            .unwrap()
            .contains("EXE as .bin")
    );
    assert_eq!(alert["evidences"][0]["src_endpoint"]["ip"], "203.0.113.45");
    // Epoch times are read exactly.
    assert_eq!(http["time_dt"], "2026-11-20T09:12:47Z");
}

#[test]
fn suricata_alerts_and_bundled_rules_flag_the_download_and_the_beacon() {
    let output = garrison(&["hunt", &samples()]);
    assert!(output.status.success(), "{output:?}");
    let lines = stdout_lines(&output);
    // Suricata's alerts are detections of their own, named by their signature; Zeek's
    // files.log meets a bundled rule.
    let titles = titles(&lines);
    let expected: BTreeMap<String, usize> = [
        (
            "GARRISON LOCAL PowerShell User-Agent Fetching a Script over Plain HTTP",
            1,
        ),
        (
            "GARRISON LOCAL Windows Executable Downloaded with a Non-Executable Extension (EXE as .bin)",
            1,
        ),
        (
            "GARRISON LOCAL Self-Signed Certificate Presented for a Public Name (possible C2)",
            4,
        ),
        ("Windows Executable Downloaded over Plain HTTP (Zeek)", 1),
    ]
    .into_iter()
    .map(|(title, count)| (title.to_string(), count))
    .collect();
    assert_eq!(titles, expected);
    let beacon = lines
        .iter()
        .find(|l| l["rule"]["id"] == "suricata:1:9200003")
        .unwrap();
    // Priority 1 is high; the rule's ATT&CK metadata gives the tags.
    assert_eq!(beacon["rule"]["level"], "high");
    assert_eq!(
        beacon["rule"]["tags"],
        serde_json::json!(["attack.command-and-control", "attack.t1071.001"])
    );
    assert_eq!(beacon["fields"]["dest_ip"], "203.0.113.45");
}

#[test]
fn sensor_alerts_join_the_workstation_incident() {
    let windows = workspace().join("samples/windows-intrusion.jsonl");
    let report = investigate_report(&[windows.to_str().unwrap(), &samples()]);
    let incidents = report["incidents"].as_array().unwrap();
    // The sensors name no host: their alerts land in the WS01 incident through the address
    // WS01 used, and no incident of their own is opened.
    let ws01: Vec<_> = incidents
        .iter()
        .filter(|i| i["title"].as_str().unwrap().contains("WS01"))
        .collect();
    assert_eq!(ws01.len(), 1, "{report:#}");
    assert!(
        incidents
            .iter()
            .all(|i| !i["title"].as_str().unwrap().contains("unknown host")),
        "{report:#}"
    );
    let incident = ws01[0];
    let sources: Vec<&str> = incident["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    // The three Suricata signatures; the beacon's four alerts are one, with three repeats.
    assert_eq!(
        sources
            .iter()
            .filter(|t| t.starts_with("GARRISON LOCAL"))
            .count(),
        3,
        "{sources:?}"
    );
    let beacon = incident["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule_id"] == "suricata:1:9200003")
        .unwrap();
    assert_eq!(beacon["repeats"], 3, "{beacon:#}");
    assert_eq!(beacon["last_repeat"], "2026-11-20T09:20:33.03Z");
    assert!(sources.iter().any(|t| t.contains("(Zeek)")), "{sources:?}");
    // The payload's hash: Sysmon's upper-case and Zeek's lower-case SHA256 are one entity.
    let entities = incident["entities"].to_string();
    assert_eq!(
        entities
            .matches("6f1a9c3e0b7d54a2c8e9f0132b4d6a8c0e2f4b6d8a0c2e4f6b8d0a2c4e6f8b0d")
            .count(),
        1,
        "{entities}"
    );
    assert!(!entities.contains("6F1A9C3E"), "{entities}");
    let tactics = incident["tactics"].to_string();
    assert!(tactics.contains("command-and-control"), "{tactics}");
}

/// A Zeek `dhcp.log` whose leases give 10.20.1.21 to `first` for a minute, and then, after a
/// release, to `second` for a day.
fn dhcp_log(first: &str, second: &str) -> String {
    let header = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n\
        #path\tdhcp\n#fields\tts\tuids\tclient_addr\tserver_addr\tmac\thost_name\tclient_fqdn\t\
        domain\trequested_addr\tassigned_addr\tlease_time\tmsg_types\n#types\ttime\tset[string]\t\
        addr\taddr\tstring\tstring\tstring\tstring\taddr\taddr\tinterval\tvector[string]\n";
    // 2026-11-20 07:00, 07:05 and 08:00 UTC.
    let rows = [
        format!(
            "1795158000.0\tC1\t-\t10.20.1.1\t00:50:56:aa:00:07\t{first}\t-\tcorp.example\t\
             10.20.1.21\t10.20.1.21\t60.0\tREQUEST,ACK"
        ),
        "1795158300.0\tC2\t10.20.1.21\t10.20.1.1\t00:50:56:aa:00:07\t-\t-\t-\t-\t-\t-\tRELEASE"
            .to_string(),
        format!(
            "1795161600.0\tC3\t-\t10.20.1.1\t00:50:56:aa:00:21\t-\t{second}\tcorp.example\t\
             10.20.1.21\t10.20.1.21\t86400.0\tDISCOVER,OFFER,REQUEST,ACK"
        ),
    ];
    format!("{header}{}\n", rows.join("\n"))
}

#[test]
fn dhcp_leases_tie_sensor_alerts_to_the_host_that_held_the_address() {
    // The sensor data alone (no Windows events): the alerts' address resolves through the
    // DHCP server's leases, and the lease in force at the alerts' time wins over the earlier
    // one.
    let dir = tempfile::tempdir().unwrap();
    let (_, titles) =
        with_sensor_alerts(&dir, "dhcp.log", &dhcp_log("KIOSK3", "WS01.corp.example"));
    assert!(
        titles.iter().all(|t| !t.contains("unknown host")),
        "{titles:?}"
    );
}

/// Investigates the bundled Suricata records with a DHCP log written as `name` into `dir`;
/// checks the incident is on WS01.corp.example, the address's holder at the alerts' time, and
/// not on KIOSK3, its earlier holder. Returns the report and the incident titles.
fn with_sensor_alerts(
    dir: &tempfile::TempDir,
    name: &str,
    log: &str,
) -> (serde_json::Value, Vec<String>) {
    let path = dir.path().join(name);
    std::fs::write(&path, log).unwrap();
    let eve = workspace().join("samples/network/eve.json");
    let report = investigate_report(&[path.to_str().unwrap(), eve.to_str().unwrap()]);
    let titles: Vec<String> = report["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_string())
        .collect();
    assert!(
        titles.iter().any(|t| t.contains("WS01.corp.example")),
        "{titles:?}"
    );
    assert!(titles.iter().all(|t| !t.contains("KIOSK3")), "{titles:?}");
    (report, titles)
}

#[test]
fn windows_dhcp_server_logs_tie_sensor_alerts_to_hosts() {
    // The Windows DHCP Server's audit log: a preamble explaining event ids, then CSV. Its
    // times are the server's local time (read as UTC, as this sample's server keeps it).
    let log = "\t\tMicrosoft DHCP Service Activity Log\r\n\r\n\r\nEvent ID  Meaning\r\n\
        00\tThe log was started.\r\n10\tA new IP address was leased to a client.\r\n\
        12\tA lease was released by a client.\r\n\r\n\
        ID,Date,Time,Description,IP Address,Host Name,MAC Address,User Name, TransactionID, \
        QResult,Probationtime, CorrelationID,Dhcid,VendorClass(Hex),VendorClass(ASCII),\
        UserClass(Hex),UserClass(ASCII),RelayAgentInformation,DnsRegError.\r\n\
        00,11/20/26,06:59:58,Started,,,,,0,6,,,,,,,,,0\r\n\
        10,11/20/26,07:00:00,Assign,10.20.1.21,KIOSK3.corp.example,005056AA0007,,1,0,,,,,,,,,0\r\n\
        12,11/20/26,07:05:00,Release,10.20.1.21,KIOSK3.corp.example,005056AA0007,,2,0,,,,,,,,,0\r\n\
        10,11/20/26,08:00:00,Assign,10.20.1.21,WS01.corp.example,005056AA0021,,3,0,,,,,,,,,0\r\n";
    let dir = tempfile::tempdir().unwrap();
    let (report, _) = with_sensor_alerts(&dir, "DhcpSrvLog-Fri.log", log);
    assert_eq!(report["stats"]["quarantined"], 0, "{report:#}");
    // Every line after the header is a record (the four rows, the preamble skipped).
    let path = dir.path().join("DhcpSrvLog-Fri.log");
    let output = garrison(&["normalize", "-q", path.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 4);
}
