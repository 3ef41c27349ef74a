//! Our scenario generator: the telemetry of a small environment (workstations, a file server, a
//! domain controller, their users, and the identity provider they sign in through), benign
//! background activity, and one multi-step intrusion across identity and endpoint sources.
//!
//! Output is what shippers write: Windows events as flat NXLog-style JSON lines (Sysmon,
//! Security, System) and identity events as Okta System Log JSON lines. Records come in time
//! order and are generated second by second, so memory stays flat however long the run; the
//! same seed gives the same telemetry. Everything is invented: `corp.example`, documentation
//! address ranges, made-up hashes.

mod intrusion;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use std::collections::VecDeque;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    /// Workstations (each with its user); a file server and a domain controller are added.
    pub workstations: usize,
    pub start: Timestamp,
    pub duration: SignedDuration,
    /// Background events per second, all sources together.
    pub events_per_second: f64,
    /// Whether the intrusion happens (it starts 40% into the run).
    pub intrusion: bool,
    /// For load tests: an intrusion every this long instead (each from its own address, against
    /// the next workstation's user).
    pub intrusion_every: Option<SignedDuration>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            seed: 7,
            workstations: 4,
            start: "2026-11-24T08:00:00Z".parse().expect("valid time"),
            duration: SignedDuration::from_mins(30),
            events_per_second: 2.0,
            intrusion: true,
            intrusion_every: None,
        }
    }
}

/// Which file a record belongs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Windows,
    Identity,
}

impl Stream {
    pub fn file_name(self) -> &'static str {
        match self {
            Stream::Windows => "windows.jsonl",
            Stream::Identity => "okta.jsonl",
        }
    }
}

/// One generated record.
#[derive(Debug, Clone)]
pub struct Record {
    pub stream: Stream,
    pub at: Timestamp,
    pub line: String,
}

/// One identity provider record's particulars.
struct IdentityEvent<'a> {
    event_type: &'a str,
    message: &'a str,
    user: &'a str,
    ip: &'a str,
    result: &'a str,
    reason: Option<&'a str>,
}

/// What [`write_to_dir`] wrote: each file with its record count, and the intrusion's cast.
#[derive(Debug, Clone)]
pub struct Written {
    pub files: Vec<(std::path::PathBuf, u64)>,
    pub story: Option<Story>,
}

/// The intrusion's cast, for people reading the demo's output.
#[derive(Debug, Clone)]
pub struct Story {
    pub victim: String,
    pub workstation: String,
    pub server: String,
    pub attacker_ip: &'static str,
    pub steps: Vec<&'static str>,
}

const DOMAIN: &str = "corp.example";
const ATTACKER_IP: &str = "203.0.113.66";
const C2_IP: &str = "198.51.100.77";
const C2_DOMAIN: &str = "cdn-update.example.net";
const FIRST_NAMES: &[&str] = &[
    "dana", "erik", "fatima", "george", "hana", "ivan", "julia", "kofi", "lena", "marco", "nora",
    "omar",
];

#[derive(Debug, Clone)]
struct Host {
    name: String,
    ip: String,
    user: Option<String>,
}

/// The generator: an iterator of records in time order.
pub struct Generator {
    scenario: Scenario,
    rng: fastrand::Rng,
    hosts: Vec<Host>,
    users: Vec<String>,
    second: i64,
    pending: VecDeque<Record>,
    intrusion: Vec<Record>,
    record_numbers: Vec<u64>,
    story: Option<Story>,
}

fn iso(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

impl Generator {
    pub fn new(scenario: Scenario) -> Generator {
        let mut rng = fastrand::Rng::with_seed(scenario.seed);
        let workstations = scenario.workstations.clamp(1, FIRST_NAMES.len());
        let mut hosts = Vec::new();
        let mut users = Vec::new();
        for (i, name) in FIRST_NAMES.iter().take(workstations).enumerate() {
            users.push(name.to_string());
            hosts.push(Host {
                name: format!("WS{:02}.{DOMAIN}", i + 1),
                ip: format!("10.30.1.{}", 21 + i),
                user: Some(name.to_string()),
            });
        }
        hosts.push(Host {
            name: format!("FS01.{DOMAIN}"),
            ip: "10.30.0.20".into(),
            user: None,
        });
        hosts.push(Host {
            name: format!("DC01.{DOMAIN}"),
            ip: "10.30.0.10".into(),
            user: None,
        });
        let record_numbers = vec![1000 + rng.u64(0..50_000); hosts.len()];
        let mut generator = Generator {
            scenario,
            rng,
            hosts,
            users,
            second: 0,
            pending: VecDeque::new(),
            intrusion: Vec::new(),
            record_numbers,
            story: None,
        };
        if generator.scenario.intrusion {
            let mut records = Vec::new();
            match generator.scenario.intrusion_every {
                None => {
                    let offset = (generator.scenario.duration.as_secs() * 2 / 5).max(60);
                    records.extend(generator.plan_intrusion(offset, 0));
                }
                Some(every) => {
                    let every = every.as_secs().max(1);
                    let mut offset = 0;
                    let mut victim = 0;
                    while offset < generator.scenario.duration.as_secs() {
                        records.extend(generator.plan_intrusion(offset, victim));
                        offset += every;
                        victim += 1;
                    }
                }
            }
            records.sort_by_key(|record| record.at);
            records.reverse();
            generator.intrusion = records;
        }
        generator
    }

    /// The intrusion's cast (none without one).
    pub fn story(&self) -> Option<&Story> {
        self.story.as_ref()
    }

    fn guid(&mut self) -> String {
        format!(
            "{{{:08X}-{:04X}-{:04X}-{:04X}-{:012X}}}",
            self.rng.u32(..),
            self.rng.u16(..),
            self.rng.u16(..),
            self.rng.u16(..),
            self.rng.u64(..) & 0xFFFF_FFFF_FFFF
        )
    }

    fn hash(&mut self) -> String {
        (0..4)
            .map(|_| format!("{:016X}", self.rng.u64(..)))
            .collect()
    }

    /// A Windows record on host `host` (index) with its EventData fields.
    fn windows(
        &mut self,
        host: usize,
        at: Timestamp,
        channel: &str,
        source: &str,
        event_id: u32,
        data: Value,
    ) -> Record {
        self.record_numbers[host] += 1;
        let mut record = json!({
            "@timestamp": iso(at),
            "EventTime": at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
            "Hostname": self.hosts[host].name,
            "Channel": channel,
            "SourceName": source,
            "EventID": event_id,
            "RecordNumber": self.record_numbers[host],
        });
        if let (Value::Object(record), Value::Object(data)) = (&mut record, data) {
            record.extend(data);
        }
        Record {
            stream: Stream::Windows,
            at,
            line: record.to_string(),
        }
    }

    fn process(
        &mut self,
        host: usize,
        at: Timestamp,
        user: &str,
        parent: (&str, &str),
        image: &str,
        command_line: &str,
    ) -> (Record, String) {
        let guid = self.guid();
        let hash = self.hash();
        let pid = self.rng.u32(1000..20000);
        let record = self.windows(
            host,
            at,
            "Microsoft-Windows-Sysmon/Operational",
            "Microsoft-Windows-Sysmon",
            1,
            json!({
                "UtcTime": at.strftime("%Y-%m-%d %H:%M:%S%.3f").to_string(),
                "ProcessGuid": guid,
                "ProcessId": pid,
                "Image": image,
                "OriginalFileName": image.rsplit('\\').next().unwrap_or(image),
                "CommandLine": command_line,
                "CurrentDirectory": "C:\\Windows\\system32\\",
                "User": user,
                "IntegrityLevel": "Medium",
                "Hashes": format!("SHA256={hash}"),
                "ParentProcessGuid": parent.0,
                "ParentImage": parent.1,
            }),
        );
        (record, guid)
    }

    fn okta(&mut self, at: Timestamp, event: IdentityEvent<'_>) -> Record {
        let IdentityEvent {
            event_type,
            message,
            user,
            ip,
            result,
            reason,
        } = event;
        let uuid = self.guid().trim_matches(['{', '}']).to_lowercase();
        let (country, city) = if ip.starts_with("203.0.113.") {
            ("Narnia", "Cair Paravel")
        } else {
            ("France", "Lyon")
        };
        let record = json!({
            "uuid": uuid,
            "published": iso(at),
            "eventType": event_type,
            "displayMessage": message,
            "severity": if result == "SUCCESS" { "INFO" } else { "WARN" },
            "actor": {"type": "User", "alternateId": format!("{user}@{DOMAIN}"), "displayName": user},
            "client": {
                "ipAddress": ip,
                "geographicalContext": {"country": country, "city": city},
                "userAgent": {"rawUserAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"},
            },
            "outcome": {"result": result, "reason": reason},
        });
        Record {
            stream: Stream::Identity,
            at,
            line: record.to_string(),
        }
    }

    /// One benign record at `at`.
    fn background(&mut self, at: Timestamp) -> Record {
        let host = self.rng.usize(..self.hosts.len());
        let user = self.hosts[host]
            .user
            .clone()
            .unwrap_or_else(|| "svc_backup".to_string());
        let account = format!("CORP\\{user}");
        match self.rng.u8(..100) {
            0..=29 => {
                const APPS: &[(&str, &str)] = &[
                    (
                        "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
                        "\"chrome.exe\" --type=renderer",
                    ),
                    (
                        "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE",
                        "\"OUTLOOK.EXE\"",
                    ),
                    (
                        "C:\\Windows\\System32\\notepad.exe",
                        "notepad.exe report.txt",
                    ),
                    (
                        "C:\\Windows\\System32\\RuntimeBroker.exe",
                        "RuntimeBroker.exe -Embedding",
                    ),
                    (
                        "C:\\Windows\\System32\\SearchProtocolHost.exe",
                        "SearchProtocolHost.exe Global\\UsGthrFltPipeMssGthrPipe1",
                    ),
                    (
                        "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE",
                        "\"EXCEL.EXE\" budget.xlsx",
                    ),
                ];
                let (image, command) = APPS[self.rng.usize(..APPS.len())];
                let parent = self.guid();
                self.process(
                    host,
                    at,
                    &account,
                    (&parent, "C:\\Windows\\explorer.exe"),
                    image,
                    command,
                )
                .0
            }
            30..=54 => {
                let guid = self.guid();
                let source_ip = self.hosts[host].ip.clone();
                let source_port = self.rng.u16(49152..65535);
                let destination = format!("192.0.2.{}", self.rng.u8(1..250));
                self.windows(
                    host,
                    at,
                    "Microsoft-Windows-Sysmon/Operational",
                    "Microsoft-Windows-Sysmon",
                    3,
                    json!({
                        "ProcessGuid": guid,
                        "Image": "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
                        "User": account,
                        "Protocol": "tcp",
                        "Initiated": "true",
                        "SourceIp": source_ip,
                        "SourcePort": source_port,
                        "DestinationIp": destination,
                        "DestinationPort": 443,
                        "DestinationHostname": "www.example.com",
                    }),
                )
            }
            55..=69 => {
                let guid = self.guid();
                const NAMES: &[&str] = &[
                    "www.example.com",
                    "outlook.office365.com",
                    "teams.microsoft.com",
                    "update.example.org",
                ];
                let name = NAMES[self.rng.usize(..NAMES.len())];
                self.windows(
                    host,
                    at,
                    "Microsoft-Windows-Sysmon/Operational",
                    "Microsoft-Windows-Sysmon",
                    22,
                    json!({
                        "ProcessGuid": guid,
                        "Image": "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
                        "User": account,
                        "QueryName": name,
                        "QueryStatus": "0",
                        "QueryResults": "::ffff:192.0.2.10;",
                    }),
                )
            }
            70..=84 => {
                let server = self.hosts.len() - 2 + self.rng.usize(..2);
                let source_ip = self.hosts[host].ip.clone();
                let logon_id = format!("0x{:x}", self.rng.u32(0x10000..0xffffff));
                self.windows(
                    server,
                    at,
                    "Security",
                    "Microsoft-Windows-Security-Auditing",
                    4624,
                    json!({
                        "TargetUserName": user,
                        "TargetDomainName": "CORP",
                        "TargetLogonId": logon_id,
                        "LogonType": 3,
                        "LogonProcessName": "Kerberos",
                        "AuthenticationPackageName": "Kerberos",
                        "IpAddress": source_ip,
                        "WorkstationName": "-",
                    }),
                )
            }
            _ => {
                let user = self.users[self.rng.usize(..self.users.len())].clone();
                let ip = format!("10.30.1.{}", self.rng.u8(21..40));
                if self.rng.u8(..10) == 0 {
                    self.okta(
                        at,
                        IdentityEvent {
                            event_type: "user.authentication.auth_via_mfa",
                            message: "Authentication of user via MFA",
                            user: &user,
                            ip: &ip,
                            result: "SUCCESS",
                            reason: None,
                        },
                    )
                } else {
                    self.okta(
                        at,
                        IdentityEvent {
                            event_type: "user.session.start",
                            message: "User login to Okta",
                            user: &user,
                            ip: &ip,
                            result: "SUCCESS",
                            reason: None,
                        },
                    )
                }
            }
        }
    }

    /// Fills `pending` with the next second's records, in time order.
    fn next_second(&mut self) -> bool {
        if self.second >= self.scenario.duration.as_secs() {
            return false;
        }
        let second_start = self.scenario.start + SignedDuration::from_secs(self.second);
        let rate = self.scenario.events_per_second.max(0.0);
        let mut count = rate.floor() as usize;
        if self.rng.f64() < rate.fract() {
            count += 1;
        }
        let mut records: Vec<Record> = (0..count)
            .map(|_| {
                let at = second_start + SignedDuration::from_nanos(self.rng.i64(0..1_000_000_000));
                self.background(at)
            })
            .collect();
        let second_end = second_start + SignedDuration::from_secs(1);
        while self
            .intrusion
            .last()
            .is_some_and(|record| record.at < second_end)
        {
            records.extend(self.intrusion.pop());
        }
        records.sort_by_key(|record| record.at);
        self.pending.extend(records);
        self.second += 1;
        true
    }
}

impl Iterator for Generator {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            if let Some(record) = self.pending.pop_front() {
                return Some(record);
            }
            if !self.next_second() {
                // Whatever of the intrusion falls after the end still happens.
                return self.intrusion.pop();
            }
        }
    }
}

/// Writes the scenario's telemetry into `dir` (one file per stream); returns the files and the
/// number of records in each.
pub fn write_to_dir(scenario: Scenario, dir: &std::path::Path) -> std::io::Result<Written> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let mut generator = Generator::new(scenario);
    let story = generator.story().cloned();
    let mut outputs = Vec::new();
    let mut writers = Vec::new();
    for stream in [Stream::Windows, Stream::Identity] {
        let path = dir.join(stream.file_name());
        writers.push(std::io::BufWriter::new(std::fs::File::create(&path)?));
        outputs.push((path, 0u64));
    }
    for record in generator.by_ref() {
        let index = match record.stream {
            Stream::Windows => 0,
            Stream::Identity => 1,
        };
        writers[index].write_all(record.line.as_bytes())?;
        writers[index].write_all(b"\n")?;
        outputs[index].1 += 1;
    }
    for mut writer in writers {
        writer.flush()?;
    }
    Ok(Written {
        files: outputs,
        story,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_telemetry_in_time_order_with_the_intrusion() {
        let scenario = Scenario {
            duration: SignedDuration::from_mins(20),
            ..Scenario::default()
        };
        let first: Vec<Record> = Generator::new(scenario.clone()).collect();
        let second: Vec<Record> = Generator::new(scenario.clone()).collect();
        assert_eq!(first.len(), second.len());
        assert!(first.iter().zip(&second).all(|(a, b)| a.line == b.line));
        assert!(first.windows(2).all(|pair| pair[0].at <= pair[1].at));
        let background = (20 * 60) as f64 * scenario.events_per_second;
        assert!((first.len() as f64) > background * 0.9, "{}", first.len());
        let lines: Vec<&str> = first.iter().map(|record| record.line.as_str()).collect();
        for marker in [
            "comsvcs.dll, MiniDump",
            "PSEXESVC",
            "deny_push",
            "\"EventID\":1102",
            ATTACKER_IP,
        ] {
            assert!(lines.iter().any(|line| line.contains(marker)), "{marker}");
        }
        let identity = first
            .iter()
            .filter(|record| record.stream == Stream::Identity)
            .count();
        assert!(identity > 12);
        let other: Vec<Record> = Generator::new(Scenario {
            seed: 8,
            ..scenario
        })
        .collect();
        assert_ne!(
            other[0].line, first[0].line,
            "another seed, other telemetry"
        );
    }

    #[test]
    fn records_are_json_in_the_shipper_shapes() {
        for record in Generator::new(Scenario::default()).take(500) {
            let value: Value = serde_json::from_str(&record.line).unwrap();
            match record.stream {
                Stream::Windows => {
                    assert!(value["Hostname"].as_str().unwrap().ends_with(DOMAIN));
                    assert!(value["EventID"].is_u64() && value["RecordNumber"].is_u64());
                    assert!(value["@timestamp"].as_str().unwrap().ends_with('Z'));
                }
                Stream::Identity => {
                    assert!(value["eventType"].is_string() && value["published"].is_string());
                    assert!(
                        value["actor"]["alternateId"]
                            .as_str()
                            .unwrap()
                            .contains('@')
                    );
                }
            }
        }
    }

    #[test]
    fn no_intrusion_means_only_background() {
        let records: Vec<Record> = Generator::new(Scenario {
            intrusion: false,
            ..Scenario::default()
        })
        .collect();
        assert!(
            !records
                .iter()
                .any(|record| record.line.contains(ATTACKER_IP))
        );
    }
}
