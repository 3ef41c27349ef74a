//! Checks every OCSF record the normalizers produce against the official schema files.
//!
//! A small loader reads the schema from `shared/data/ocsf-schema` (core plus the Windows
//! extension), resolving `extends` of classes and objects, `$include`d profiles, extension
//! object patches and dictionary types; the checker then walks each record and reports every
//! unknown attribute, missing required attribute, broken constraint, enum value outside the
//! schema and value of the wrong JSON type, with its path. `GARRISON_OCSF_DUMP=1` prints every
//! sample record (run with `--nocapture`).

#[path = "ocsf_schema/schema.rs"]
mod schema;

use garrison_ingest::Progress;
use garrison_ingest::normalize::{detection_finding, normalize, normalize_or_base};
use garrison_model::detection::{CorrelationContext, RuleInfo, RuleKind};
use garrison_model::ocsf::{OCSF_VERSION, OcsfClass, OcsfEvent};
use garrison_model::{Detection, Event, EvidenceRef, Fields, Level, RecordFormat, ValueKind};
use schema::{Checker, Schema, schema_root};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

/// An EVTX event with typical System fields and the `Name=value` data fields of `parts`
/// (each part a `|`-separated list).
fn event(channel: &str, event_id: u32, parts: &[&str]) -> Event {
    let mut fields = Fields::new();
    let event_id = event_id.to_string();
    let system = [
        ("EventID", event_id.as_str()),
        ("Version", "2"),
        ("Level", "4"),
        ("Keywords", "0x8020000000000000"),
        ("EventRecordID", "1001"),
        ("TimeCreated_SystemTime", "2024-05-01T10:00:00.1234567Z"),
        ("Execution_ProcessID", "680"),
        ("Channel", channel),
        ("Computer", "WS01.corp.local"),
    ];
    let data = parts
        .iter()
        .flat_map(|part| part.split('|'))
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').expect("Name=value"));
    for (name, value) in system.into_iter().chain(data) {
        fields.push(name, value, ValueKind::Text);
    }
    Event {
        evidence: EvidenceRef {
            path: "samples/host.evtx".into(),
            member: None,
            record_id: 1001,
            offset: 4096,
        },
        timestamp: Some("2024-05-01T10:00:00.123Z".parse().unwrap()),
        format: RecordFormat::Evtx,
        fields,
    }
}

/// Groups of fields that many samples share, used as `@name` in [`CASES`].
const GROUPS: [(&str, &str); 7] = [
    (
        "@process",
        r"ProcessGuid={p}|ProcessId=300|Image=C:\Windows\System32\cmd.exe|User=CORP\alice",
    ),
    (
        "@subject",
        "SubjectUserSid=S-1-5-21-1-1104|SubjectUserName=alice|SubjectDomainName=CORP|SubjectLogonId=0x5a4e1",
    ),
    (
        "@target",
        "TargetUserSid=S-1-5-21-1-500|TargetUserName=administrator|TargetDomainName=CORP|TargetLogonId=0x8d5e2",
    ),
    (
        "@account",
        "TargetSid=S-1-5-21-1-1337|TargetUserName=backdoor|TargetDomainName=CORP",
    ),
    (
        "@kerberos",
        "TargetUserName=alice|TargetDomainName=CORP|TargetSid=S-1-5-21-1|ServiceName=krbtgt|ServiceSid=S-1-5-21-502|IpAddress=::ffff:10.0.0.9|IpPort=49812",
    ),
    (
        "@task",
        r"TaskName=\Updater|TaskContent=<Task><Actions><Exec><Command>cmd.exe</Command><Arguments>/c calc</Arguments></Exec></Actions></Task>",
    ),
    (
        "@wfp",
        r"ProcessID=4556|Application=\device\harddiskvolume2\l.exe|SourceAddress=10.0.0.10|SourcePort=3333|DestAddress=10.0.0.100|DestPort=50000",
    ),
];

/// One sample of every mapping, one per line: `log event_id fields`, the fields written
/// `Name=value|...`, with the fields those events usually carry.
const CASES: &[&str] = &[
    r"sysmon 1 @process|CommandLine=cmd /c whoami|IntegrityLevel=High|Hashes=SHA256=AA,IMPHASH=BB|OriginalFileName=Cmd.Exe|LogonId=0x3e7|ParentProcessGuid={q}|ParentProcessId=200|ParentImage=C:\Windows\explorer.exe|ParentCommandLine=explorer.exe",
    r"sysmon 5 @process",
    r"sysmon 7 @process|ImageLoaded=C:\x.dll|Hashes=MD5=AA|Signed=false",
    r"sysmon 8 SourceProcessGuid={s}|SourceProcessId=1|SourceImage=C:\a.exe|TargetProcessGuid={t}|TargetProcessId=2|TargetImage=C:\b.exe|StartAddress=0x1|StartModule=C:\k.dll|StartFunction=LoadLibraryW",
    r"sysmon 10 SourceProcessGUID={s}|SourceProcessId=1|SourceThreadId=5|SourceImage=C:\a.exe|TargetProcessGUID={t}|TargetProcessId=2|TargetImage=C:\lsass.exe|GrantedAccess=0x1410",
    r"sysmon 25 @process|Type=Image is replaced",
    r"sysmon 2 @process|TargetFilename=C:\t.txt|CreationUtcTime=2024-05-01 10:00:00.000",
    r"sysmon 9 @process|Device=\Device\HarddiskVolume2",
    r"sysmon 11 @process|TargetFilename=C:\t.exe|CreationUtcTime=2024-05-01 10:00:00.000",
    r"sysmon 15 @process|TargetFilename=C:\t.exe:Zone.Identifier|Hash=SHA1=AA",
    r"sysmon 17 @process|EventType=CreatePipe|PipeName=\evil",
    r"sysmon 18 @process|EventType=ConnectPipe|PipeName=\evil",
    r"sysmon 23 @process|TargetFilename=C:\t.exe|Hashes=SHA256=AA",
    r"sysmon 26 @process|TargetFilename=C:\t.exe",
    r"sysmon 12 @process|EventType=CreateKey|TargetObject=HKLM\Software\Evil",
    r"sysmon 12 @process|EventType=DeleteValue|TargetObject=HKLM\Software\Evil\v",
    r"sysmon 13 @process|EventType=SetValue|TargetObject=HKLM\Software\Evil\v|Details=DWORD (0x00000001)",
    r"sysmon 14 @process|EventType=RenameKey|TargetObject=HKLM\a|NewName=HKLM\b",
    r"sysmon 3 @process|Protocol=tcp|Initiated=true|SourceIsIpv6=false|SourceIp=10.0.0.5|SourcePort=50000|DestinationIp=203.0.113.7|DestinationPort=443|DestinationPortName=https",
    r"sysmon 22 @process|QueryName=evil.example|QueryStatus=0|QueryResults=type:  5 a.example;::ffff:198.51.100.4;",
    r"security 4688 @subject|NewProcessId=0x1a4|NewProcessName=C:\w.exe|CommandLine=w|ProcessId=0x2f0|ParentProcessName=C:\cmd.exe|MandatoryLabel=S-1-16-8192|TargetUserSid=S-1-0-0",
    r"security 4689 @subject|Status=0x0|ProcessId=0x1a4|ProcessName=C:\w.exe",
    r"security 4663 @subject|ObjectType=File|ObjectName=C:\s.txt|AccessMask=0x2|ProcessId=0x4|ProcessName=C:\p.exe",
    r"security 4663 @subject|ObjectType=Key|ObjectName=\REGISTRY\MACHINE\SAM|AccessMask=0x10000|ProcessId=0x4|ProcessName=C:\p.exe",
    r"security 4657 @subject|ObjectName=\REGISTRY\MACHINE\Run|ObjectValueName=u|OperationType=%%1905|OldValueType=REG_SZ|OldValue=a|NewValueType=REG_SZ|NewValue=b|ProcessId=0x4|ProcessName=C:\p.exe",
    r"security 5145 @subject|ObjectType=File|IpAddress=10.0.0.9|IpPort=50400|ShareName=\\*\ADMIN$|RelativeTargetName=Temp\x.exe|AccessMask=0x2",
    r"security 5156 @wfp|Direction=%%14593|Protocol=6",
    r"security 5157 @wfp|Direction=%%14592|Protocol=17",
    r"security 4624 @subject|@target|LogonType=3|AuthenticationPackageName=NTLM|WorkstationName=PC9|LogonGuid={00000000-0000-0000-0000-000000000000}|ProcessId=0x0|ProcessName=-|IpAddress=10.0.0.9|IpPort=50123",
    r"security 4625 @subject|@target|Status=0xc000006d|SubStatus=0xc000006a|LogonType=10|AuthenticationPackageName=Negotiate|IpAddress=192.0.2.4",
    r"security 4634 @target|LogonType=3",
    r"security 4647 @target",
    r"security 4648 @subject|TargetUserName=administrator|TargetDomainName=CORP|TargetServerName=dc01|ProcessId=0x10|ProcessName=C:\runas.exe",
    "security 4672 @subject|PrivilegeList=SeDebugPrivilege\n\t\tSeBackupPrivilege",
    r"security 4768 @kerberos|Status=0x0",
    r"security 4769 @kerberos|Status=0x0",
    r"security 4770 @kerberos",
    r"security 4771 @kerberos|Status=0x18",
    r"security 4776 PackageName=MICROSOFT_AUTHENTICATION_PACKAGE_V1_0|TargetUserName=alice|Workstation=PC9|Status=0x0",
    r"security 4720 @subject|@account",
    r"security 4722 @subject|@account",
    r"security 4723 @subject|@account",
    r"security 4724 @subject|@account",
    r"security 4725 @subject|@account",
    r"security 4726 @subject|@account",
    r"security 4738 @subject|@account",
    r"security 4740 @subject|@account",
    r"security 4767 @subject|@account",
    r"security 4781 OldTargetUserName=guest|NewTargetUserName=svc|TargetDomainName=CORP|TargetSid=S-1-5-21-1-501",
    r"security 4728 @subject|MemberName=CN=b,DC=corp|MemberSid=S-1-5-21-1-1337|TargetUserName=Domain Admins|TargetDomainName=CORP|TargetSid=S-1-5-21-1-512",
    r"security 4732 @subject|MemberName=-|MemberSid=S-1-5-21-1-1337|TargetUserName=Administrators|TargetDomainName=Builtin|TargetSid=S-1-5-32-544",
    r"security 4731 @subject|TargetUserName=NewGroup|TargetSid=S-1-5-21-1-2000",
    r"security 4698 @subject|@task",
    r"security 4699 @subject|TaskName=\Updater",
    r"security 4700 @subject|TaskName=\Updater",
    r"security 4701 @subject|TaskName=\Updater",
    r"security 4702 @subject|@task",
    r"security 4697 @subject|ServiceName=evil|ServiceFileName=C:\evil.exe|ServiceType=0x10|ServiceStartType=3|ServiceAccount=LocalSystem",
    r"system 7045 ServiceName=PSEXESVC|ImagePath=%SystemRoot%\PSEXESVC.exe|ServiceType=user mode service|StartType=demand start|AccountName=LocalSystem",
    r"tasks 106 TaskName=\Updater|UserContext=CORP\alice",
    r"tasks 140 TaskName=\Updater|UserName=CORP\alice",
    r"tasks 141 TaskName=\Updater|UserName=CORP\alice",
    r"tasks 200 TaskName=\Updater|ActionName=C:\Windows\System32\cmd.exe|TaskInstanceId={i}",
    r"tasks 201 TaskName=\Updater|ActionName=C:\Windows\System32\cmd.exe|ResultCode=0",
];

/// The normalized record of every line of [`CASES`], and the findings.
fn samples() -> Vec<(String, OcsfEvent)> {
    let mut samples: Vec<(String, OcsfEvent)> = CASES
        .iter()
        .map(|line| {
            let mut words = line.splitn(3, ' ');
            let (log, event_id, fields) = (
                words.next().unwrap(),
                words.next().unwrap(),
                words.next().unwrap_or(""),
            );
            let channel = match log {
                "sysmon" => "Microsoft-Windows-Sysmon/Operational",
                "security" => "Security",
                "system" => "System",
                "tasks" => "Microsoft-Windows-TaskScheduler/Operational",
                other => panic!("unknown log {other}"),
            };
            let fields = GROUPS
                .iter()
                .fold(fields.to_string(), |text, (name, group)| {
                    text.replace(name, group)
                });
            let label = format!("{channel} {event_id}");
            let event = event(channel, event_id.parse().unwrap(), &[fields.as_str()]);
            let normalized = normalize(&event).unwrap_or_else(|| panic!("{label} has a class"));
            (label, normalized)
        })
        .collect();
    samples.extend(findings());
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples");
    samples.extend(normalized_files(&bundled.join("linux"), 30));
    samples.extend(normalized_files(&bundled.join("cloud"), 60));
    samples.extend(normalized_files(&bundled.join("network"), 100));
    samples.extend(normalized_files(&bundled.join("alerts"), 10));
    // Real Sentinel / Defender alerts (`❖`-separated), and the start of an AIT-ADS scenario
    // read through the shipped mapping.
    let excytin = schema_root().join("../excytin/extracted_alerts.csv");
    if excytin.is_file() {
        samples.extend(normalized_files(&excytin, 150));
    }
    let ait = schema_root().join("../ait-ads/russellmitchell_alerts.csv.gz");
    if ait.is_file() {
        let dir = tempfile::tempdir().unwrap();
        let slice = dir.path().join("russellmitchell-head.csv");
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(&ait).unwrap()),
            &mut text,
        )
        .unwrap();
        let head: Vec<&str> = text.lines().take(1001).collect();
        std::fs::write(&slice, head.join("\n") + "\n").unwrap();
        let from = garrison_ingest::InputKind::from_name("ait-ads").unwrap();
        samples.extend(read_normalized_as(
            &slice,
            Some(from),
            1000,
            |label, event| normalize(event).unwrap_or_else(|| panic!("{label} has a class")),
        ));
    }
    // Real Zeek logs of an OTRF campaign: conn, dns, http, ssl and files have classes, the
    // other logs (kerberos, x509, pe, weird, ...) are Base Events; all must validate.
    let zeek = schema_root().join(
        "../otrf/datasets/compound/LSASS_campaign_01/metasploit_logonpasswords_lsass_memory_dump_zeek_logs.zip",
    );
    if zeek.is_file() {
        samples.extend(base_or_class(&zeek, 200));
    }
    // Real Log Analytics exports of two OTRF campaigns: Entra ID audit events, SecurityEvent,
    // Event and WindowsEvent (Sysmon) rows, Syslog rows with Sysmon for Linux XML and AUOMS
    // audit events, OfficeActivity, VMConnection and Defender XDR rows; every one validates,
    // in its class or as a Base Event.
    let compound = schema_root().join("../otrf/datasets/compound");
    if compound.is_dir() {
        samples.extend(base_or_class(
            &compound.join("GoldenSAMLADFSMailAccess"),
            52,
        ));
        samples.extend(base_or_class(&compound.join("Log4Shell"), 674));
    }
    // A Windows event no mapper knows: a Base Event keeping every field.
    let unknown = event(
        "Security",
        4799,
        &["TargetUserName=Administrators|CallerProcessName=C:\\x.exe"],
    );
    samples.push((
        "Security 4799 (base)".to_string(),
        normalize_or_base(&unknown),
    ));
    samples
}

/// Every record of a file or folder of samples (at least `minimum` of them), normalized: each
/// must have a class.
fn normalized_files(path: &Path, minimum: usize) -> Vec<(String, OcsfEvent)> {
    read_normalized(path, minimum, |label, event| {
        normalize(event).unwrap_or_else(|| panic!("{label} has a class"))
    })
}

/// Every record of `path` in its class, or as a Base Event.
fn base_or_class(path: &Path, minimum: usize) -> Vec<(String, OcsfEvent)> {
    read_normalized(path, minimum, |_, event| normalize_or_base(event))
}

fn read_normalized(
    path: &Path,
    minimum: usize,
    view: impl Fn(&str, &Event) -> OcsfEvent + Sync,
) -> Vec<(String, OcsfEvent)> {
    read_normalized_as(path, None, minimum, view)
}

fn read_normalized_as(
    path: &Path,
    from: Option<garrison_ingest::InputKind>,
    minimum: usize,
    view: impl Fn(&str, &Event) -> OcsfEvent + Sync,
) -> Vec<(String, OcsfEvent)> {
    let discovery =
        garrison_ingest::discover_as(&[path.to_path_buf()], from).expect("sample files");
    let (states, summary) = garrison_ingest::run(
        &discovery.files,
        1,
        &Progress::default(),
        Vec::new,
        |records: &mut Vec<(String, OcsfEvent)>, event| {
            let label = format!("{} #{}", event.evidence.path, event.evidence.record_id);
            let normalized = view(&label, event);
            records.push((label, normalized));
        },
        |_| {},
    );
    let records: Vec<_> = states.into_iter().flatten().collect();
    assert_eq!(records.len() as u64, summary.decode.events);
    assert!(
        records.len() >= minimum,
        "{}: {} records",
        path.display(),
        records.len()
    );
    records
}

fn findings() -> Vec<(String, OcsfEvent)> {
    let rule = RuleInfo {
        id: "5f1b8a1e-0000-4000-8000-000000000001".into(),
        title: "Encoded PowerShell".into(),
        level: Level::High,
        tags: vec![
            "attack.execution".into(),
            "attack.t1059.001".into(),
            "attack.s0001".into(),
        ],
        status: Some("test".into()),
        description: Some("d".into()),
        author: Some("a".into()),
        references: vec!["https://example.org".into()],
        falsepositives: vec!["admins".into()],
        path: "rules/x.yml".into(),
        kind: RuleKind::Detection,
    };
    let evidence = |record_id| EvidenceRef {
        path: "samples/host.evtx".into(),
        member: Some("Security.evtx".into()),
        record_id,
        offset: 100,
    };
    let single = Detection {
        rule: Arc::new(rule.clone()),
        timestamp: Some("2024-05-01T10:00:00.123Z".parse().unwrap()),
        evidence: evidence(1),
        computer: Some("WS01".into()),
        channel: Some("Security".into()),
        event_id: Some(4688),
        fields: vec![("CommandLine".into(), "powershell -enc AA".into())],
        correlation: None,
    };
    let correlation = Detection {
        rule: Arc::new(RuleInfo {
            kind: RuleKind::Correlation,
            level: Level::Critical,
            tags: vec![],
            ..rule
        }),
        correlation: Some(CorrelationContext {
            group: vec![("TargetUserName".into(), "alice".into())],
            count: 2,
            first: Some("2024-05-01T09:00:00Z".parse().unwrap()),
            last: Some("2024-05-01T10:00:00Z".parse().unwrap()),
            events: vec![evidence(1), evidence(2)],
        }),
        ..single.clone()
    };
    vec![
        ("detection".to_string(), detection_finding(&single)),
        ("correlation".to_string(), detection_finding(&correlation)),
    ]
}

fn load_schema() -> Option<Schema> {
    let root = schema_root();
    if !root.join("version.json").is_file() {
        if std::env::var_os("GARRISON_REQUIRE_SHARED_DATA").is_some() {
            panic!(
                "shared datasets required but no OCSF schema at {}",
                root.display()
            );
        }
        eprintln!(
            "SKIPPED: no OCSF schema at {}; the schema checks did not run",
            root.display()
        );
        return None;
    }
    let schema = Schema::load(&root);
    assert!(
        schema.classes.len() > 50,
        "schema classes loaded: {}",
        schema.classes.len()
    );
    assert!(
        schema.objects.len() > 100,
        "schema objects loaded: {}",
        schema.objects.len()
    );
    Some(schema)
}

#[test]
fn every_normalized_record_validates_against_the_schema() {
    let Some(schema) = load_schema() else { return };
    assert_eq!(
        OCSF_VERSION, schema.version,
        "metadata.version must name the schema in use"
    );
    let mut checker = Checker::new(&schema);
    let mut classes_seen = BTreeSet::new();
    let samples = samples();
    for (label, record) in &samples {
        let before = checker.errors.len();
        let json = record.to_json();
        if std::env::var_os("GARRISON_OCSF_DUMP").is_some() {
            println!("{label}:\n{}", serde_json::to_string_pretty(&json).unwrap());
        }
        checker.check_event(&json);
        for error in &mut checker.errors[before..] {
            *error = format!("{label}: {error}");
        }
        classes_seen.insert(record.class());
    }
    assert!(
        checker.errors.is_empty(),
        "{} schema errors:\n{}",
        checker.errors.len(),
        checker.errors.join("\n")
    );
    let all: BTreeSet<OcsfClass> = OcsfClass::ALL.into_iter().collect();
    assert_eq!(
        classes_seen, all,
        "every class Garrison produces is checked"
    );
    assert!(samples.len() >= 60, "samples checked: {}", samples.len());
}

#[test]
fn every_produced_class_is_defined_with_its_uids_and_activities() {
    let Some(schema) = load_schema() else { return };
    for class in OcsfClass::ALL {
        let (name, resolved) = schema
            .class_by_uid(u64::from(class.class_uid()))
            .unwrap_or_else(|| panic!("{class:?} ({}) is not in the schema", class.class_uid()));
        assert_eq!(
            schema.classes[&name].0["caption"],
            class.name(),
            "{class:?}"
        );
        if class == OcsfClass::BaseEvent {
            assert_eq!(class.category_uid(), 0);
            assert_eq!(class.category_name(), "Uncategorized");
        } else {
            let (category_uid, caption) = &schema.categories[resolved.category.as_deref().unwrap()];
            assert_eq!(*category_uid, u64::from(class.category_uid()), "{class:?}");
            assert_eq!(caption, class.category_name(), "{class:?}");
        }
        let activities = resolved.attributes["activity_id"]["enum"]
            .as_object()
            .unwrap();
        assert!(
            activities.contains_key("0") && activities.contains_key("99"),
            "{class:?}"
        );
    }
}

#[test]
fn the_checker_finds_broken_records() {
    let Some(schema) = load_schema() else { return };
    let (_, sample) = samples()
        .into_iter()
        .find(|(label, _)| label == "Security 4624")
        .unwrap();
    let mut json = sample.to_json();
    json["not_an_ocsf_attribute"] = Value::from(1);
    json["logon_type_id"] = Value::from(6);
    json["user"]["name"] = Value::from(42);
    json["src_endpoint"]["bogus"] = Value::from("x");
    json["type_uid"] = Value::from(300299);
    json.as_object_mut().unwrap().remove("metadata");
    let mut checker = Checker::new(&schema);
    checker.check_event(&json);
    let report = checker.errors.join("\n");
    for expected in [
        "not_an_ocsf_attribute: not an attribute here",
        "logon_type_id: 6 is not in the enum",
        "user.name: 42 is not a username_t",
        "src_endpoint.bogus: not an attribute here",
        "type_uid is not class_uid * 100 + activity_id",
        "required attribute metadata is missing",
    ] {
        assert!(
            report.contains(expected),
            "expected {expected:?} in:\n{report}"
        );
    }
    let mut empty_process = sample.to_json();
    empty_process["actor"]["process"] = serde_json::json!({ "name": "x.exe" });
    let mut checker = Checker::new(&schema);
    checker.check_event(&empty_process);
    assert!(
        checker
            .errors
            .iter()
            .any(|e| e.contains("actor.process: needs at least one of")),
        "{:?}",
        checker.errors
    );
}
