//! Distributed mode against the real engines (`GARRISON_NATS_URL`, `GARRISON_POSTGRES_URL`,
//! defaulting to the local services `.ci/run` starts): the team over NATS JetStream and
//! PostgreSQL reports exactly what it reports over the in-process bus and SQLite, and the audit
//! chain it leaves in PostgreSQL verifies, and stops verifying once edited.

mod common;

use common::deployment::*;
use common::{alert_ids, garrison, workspace};
use std::path::Path;

#[test]
fn the_team_on_jetstream_and_postgresql_reports_what_it_reports_embedded() {
    let samples = workspace().join("samples");
    let state = tempfile::tempdir().unwrap();
    let embedded = investigate(&["--state", state.path().to_str().unwrap()], &samples);
    let deployment = Deployment::new();
    let config = deployment.config.to_str().unwrap();
    let distributed = investigate(&["--distributed", config], &samples);
    // The messages went through JetStream: the team's durable consumers are there, drained.
    let consumers = deployment.consumers();
    for expected in [
        "triage__alert_raised",
        "verify__incident_proposed",
        "report__incident_verified",
    ] {
        let state = consumers
            .iter()
            .find(|state| state.name == expected)
            .unwrap_or_else(|| panic!("no consumer {expected}: {consumers:?}"));
        assert_eq!((state.pending, state.unacked), (0, 0), "{state:?}");
    }
    let incidents = embedded["incidents"].as_array().unwrap();
    assert!(
        incidents.len() >= 4,
        "the samples hold several intrusions: {}",
        incidents.len()
    );
    assert_eq!(
        distributed, embedded,
        "same incidents, alerts, evidence, reasoning and stats"
    );
    // Run again on the same stores: both take up the incidents they hold the same way.
    let embedded_again = investigate(&["--state", state.path().to_str().unwrap()], &samples);
    let again = investigate(&["--distributed", config], &samples);
    assert_eq!(again, embedded_again);
    assert_eq!(
        again["incidents"].as_array().unwrap().len(),
        incidents.len()
    );

    let verify = garrison(&["audit", "verify", "--distributed", config]);
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{said}");
    let entries: u64 = said
        .split_whitespace()
        .nth(3)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("entry count in {said:?}"));
    assert!(entries >= 2 * incidents.len() as u64, "{said}");
    // An edit made in PostgreSQL is caught, and where.
    deployment.sql(&format!(
        "UPDATE {}.audit_log SET actor = 'nobody' WHERE seq = 3",
        deployment.name
    ));
    let verify = garrison(&["audit", "verify", "--distributed", config]);
    let said = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(6), "{said}");
    assert!(said.contains("TAMPERED") && said.contains('3'), "{said}");
}

#[test]
fn the_respond_role_needs_a_deployment_that_waits_for_it() {
    let deployment = Deployment::with_keys();
    let config = deployment.config.to_str().unwrap();
    let output = garrison(&["agent", "--config", config, "--role", "respond"]);
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{said}");
    assert!(said.contains("[agents] respond = true"), "{said}");
    let output = garrison(&["agent", "--config", config, "--role", "janitor"]);
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{said}");
    assert!(said.contains("respond"), "{said}");
}

#[test]
fn an_unreachable_engine_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("distributed.toml");
    std::fs::write(
        &config,
        "[nats]\nurl = \"nats://127.0.0.1:4222\"\n[postgres]\nurl = \"host=127.0.0.1 port=1 user=postgres dbname=test connect_timeout=2\"\n",
    )
    .unwrap();
    let output = garrison(&["audit", "verify", "--distributed", config.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        said.contains("PostgreSQL") || said.contains("connect"),
        "{said}"
    );
}

#[test]
fn agents_in_separate_processes_report_what_the_embedded_team_reports_and_a_standby_takes_over() {
    // Response actions as decided, without the moments they were decided at.
    let decided = |report: serde_json::Value| {
        let mut actions: Vec<serde_json::Value> = report["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|action| {
                let mut action = action.clone();
                for moment in ["proposed_at", "updated_at", "expires_at"] {
                    action.as_object_mut().unwrap().remove(moment);
                }
                action
            })
            .collect();
        actions.sort_by_key(|action| action["key"].as_str().unwrap().to_string());
        (without_actions(report), actions)
    };
    let embedded = |samples: &Path| {
        let state = tempfile::tempdir().unwrap();
        decided(investigate_with_actions(
            &["--state", state.path().to_str().unwrap()],
            samples,
        ))
    };
    let deployment = Deployment::with_keys();
    deployment.add("\n[agents]\nrespond = true\n");
    let config = deployment.config.to_str().unwrap();
    let external = |samples: &Path| {
        decided(investigate_with_actions(
            &["--distributed", config, "--external-agents"],
            samples,
        ))
    };
    let respond = deployment.agent(&["respond"], &[]);
    let owner = deployment.agent(&["triage", "investigate"], &[]);
    let verify = deployment.agent(&["verify"], &["--instances", "2"]);
    let verify_more = deployment.agent(&["verify"], &[]);
    let rest = deployment.agent(&["supervisor", "report"], &[]);
    for agent in [&respond, &owner, &verify, &verify_more, &rest] {
        agent.wait_running();
    }
    let standby = deployment.agent(&["triage", "investigate"], &[]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        standby.log().contains("standing by"),
        "one owner of stateful roles at a time: {}",
        standby.log()
    );

    // The same incidents, and the response agent process decided the same actions.
    let linux = workspace().join("samples/linux");
    let expected = embedded(&linux);
    assert!(!expected.0["incidents"].as_array().unwrap().is_empty());
    assert!(!expected.1.is_empty());
    assert_eq!(external(&linux), expected);

    // The owner of triage and investigation dies: the standby takes over, and the next
    // alerts are handled as the embedded team handles them.
    drop(owner);
    standby.wait_running();
    let cloud = workspace().join("samples/cloud");
    let expected = embedded(&cloud);
    assert!(!expected.0["incidents"].as_array().unwrap().is_empty());
    assert_eq!(external(&cloud), expected);

    // Stopped with SIGTERM, agents finish what they hold and say what they did.
    let said = rest.stop();
    assert!(
        said.contains("report: ") && said.contains(" handled"),
        "{said}"
    );
    let verified: u64 = [verify.stop(), verify_more.stop()]
        .iter()
        .map(|log| {
            log.lines()
                .find_map(|line| line.strip_prefix("agent: verify: "))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("a verify count in {log}"))
        })
        .sum();
    assert!(verified > 0);
    assert_audit_verifies(config);
}

#[test]
fn triage_partitions_are_shared_between_processes_and_taken_over() {
    let embedded = |samples: &Path| {
        let state = tempfile::tempdir().unwrap();
        without_versions(investigate(
            &["--state", state.path().to_str().unwrap()],
            samples,
        ))
    };
    let partitioned = || {
        let deployment = Deployment::with_keys();
        deployment.add("\n[agents]\npartitions = 4\nack_wait_seconds = 3\ncheckpoint_every = 2\n");
        deployment
    };

    // All partitions in one process: the same incidents as one triage agent finds.
    let together = partitioned();
    let samples = workspace().join("samples");
    let found = investigate(
        &["--distributed", together.config.to_str().unwrap()],
        &samples,
    );
    assert_eq!(without_versions(found), embedded(&samples));
    let consumers = together.consumers();
    for partition in 0..4 {
        let name = format!("triage_{partition}__alert_raised_{partition}");
        let state = consumers
            .iter()
            .find(|state| state.name == name)
            .unwrap_or_else(|| panic!("no consumer {name}: {consumers:?}"));
        assert!(state.delivered > 0, "every partition had alerts: {state:?}");
        assert_eq!((state.pending, state.unacked), (0, 0), "{state:?}");
    }
    assert!(
        !consumers
            .iter()
            .any(|state| state.name == "triage__alert_raised"),
        "no unpartitioned triage consumer"
    );

    // Two triage processes share the partitions, two each.
    let deployment = partitioned();
    let config = deployment.config.to_str().unwrap();
    let rest = deployment.agent(&["investigate", "verify", "supervisor", "report"], &[]);
    rest.wait_running();
    let first = deployment.agent(&["triage"], &["--name", "triage-a"]);
    first.wait_for(
        |log| log.matches("agent: owns ").count() >= 4,
        "4 partitions",
    );
    let second = deployment.agent(&["triage"], &["--name", "triage-b"]);
    second.wait_for(|log| log.contains("agent: owns "), "a partition");
    for _ in 0..200 {
        if first.partitions().len() == 2 && second.partitions().len() == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (a, b) = (first.partitions(), second.partitions());
    assert_eq!(
        (a.len(), b.len()),
        (2, 2),
        "{}\n{}",
        first.log(),
        second.log()
    );
    assert!(a.is_disjoint(&b), "{a:?} {b:?}");
    assert!(first.log().contains("handed over to a process that joined"));

    // Paced, so that partitions get several messages each and save their state.
    let external = |samples: &Path| {
        without_versions(investigate(
            &["--distributed", config, "--external-agents", "--pace", "1"],
            samples,
        ))
    };
    let linux = workspace().join("samples/linux");
    let expected = embedded(&linux);
    assert!(!expected["incidents"].as_array().unwrap().is_empty());
    assert_eq!(external(&linux), expected);

    // One dies: the other takes its partitions over, rebuilt from their journals.
    drop(first);
    for _ in 0..200 {
        if second.partitions().len() == 4 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(second.partitions().len(), 4, "{}", second.log());
    let cloud = workspace().join("samples/cloud");
    let expected = embedded(&cloud);
    assert!(!expected["incidents"].as_array().unwrap().is_empty());
    assert_eq!(external(&cloud), expected);

    let said = second.stop();
    let handled: u64 = said
        .lines()
        .find_map(|line| line.strip_prefix("agent: triage: "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a triage count in {said}"));
    assert!(handled > 0, "{said}");
    // A process taking the partitions over restores their saved state instead of replaying
    // their whole journals.
    let third = deployment.agent(&["triage"], &["--name", "triage-c"]);
    third.wait_for(
        |log| log.matches("agent: owns ").count() == 4,
        "4 partitions",
    );
    third.wait_for(
        |log| log.contains("restored triage."),
        "a restored partition",
    );
    drop(third);
    rest.stop();
    assert_audit_verifies(config);
}

#[test]
fn a_console_serves_the_deployments_store_and_hears_what_its_agents_announce() {
    use std::io::{BufRead, BufReader, Write};
    let samples = workspace().join("samples");
    let deployment = Deployment::with_keys();
    deployment.add("\n[agents]\nrespond = true\n");
    let config = deployment.config.to_str().unwrap();
    // An admin of the deployment and a token, kept in PostgreSQL.
    let mut add = std::process::Command::new(env!("CARGO_BIN_EXE_garrison"))
        .args([
            "user",
            "add",
            "ada",
            "--role",
            "admin",
            "--distributed",
            config,
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(add.stdin.take().unwrap(), "a long passphrase for postgres").unwrap();
    assert!(add.wait().unwrap().success());
    let token = garrison(&["token", "create", "--user", "ada", "--distributed", config]);
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).unwrap().trim().to_string();

    let local = tempfile::tempdir().unwrap();
    let mut serve = std::process::Command::new(env!("CARGO_BIN_EXE_garrison"))
        .args([
            "serve",
            "--distributed",
            config,
            "--http",
            "127.0.0.1:0",
            "--state",
        ])
        .arg(local.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (found, address) = std::sync::mpsc::channel();
    let stderr = serve.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("garrison serve: console on http://") {
                let _ = found.send(rest.split('/').next().unwrap().to_string());
            }
        }
    });
    let console = address
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("the console listens");
    // Watching: the console's live feed, and the actions announced on the bus.
    let updates = common::served::event_stream(&console, &token);
    let actions = deployment.watch_announcements("state.action");

    // The team (the respond role included) runs while both watch.
    let report = investigate_with_actions(&["--distributed", config], &samples);
    let reported: Vec<String> = report["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|incident| incident["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!reported.is_empty());
    // Every announcement left the outbox before the run ended.
    assert_eq!(deployment.count("SELECT count(*) FROM outbox"), 0);
    let mut heard: std::collections::BTreeMap<String, u64> = Default::default();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while report["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .any(|incident| {
            heard.get(incident["id"].as_str().unwrap()) != incident["version"].as_u64().as_ref()
        })
    {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let update = updates
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("the feed told of {heard:?}, not {reported:?}"));
        let version = update["version"].as_u64().unwrap();
        let newest = heard
            .entry(update["id"].as_str().unwrap().to_string())
            .or_default();
        *newest = version.max(*newest);
    }
    // Actions: each announced by the respond role, the last word on each its stored state.
    let keys = garrison_bus::KeyRing::load(&deployment.keys(), &[]).unwrap();
    let directory = garrison_agents::announce::Announcement::directory(&keys);
    let announced = actions.stop();
    let mut last: std::collections::BTreeMap<String, String> = Default::default();
    for signed in &announced {
        let envelope = directory
            .open::<garrison_agents::announce::Announcement>(signed)
            .expect("a genuine announcement");
        assert_eq!(envelope.sender.role, "respond");
        let garrison_agents::announce::Announcement::ActionChanged { action } = envelope.payload
        else {
            panic!("only actions were watched");
        };
        last.insert(action.key.clone(), action.state.as_str().to_string());
    }
    let stored: std::collections::BTreeMap<String, String> = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|action| {
            (
                action["key"].as_str().unwrap().to_string(),
                action["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(!stored.is_empty());
    assert_eq!(last, stored);

    let call = |method: &str, path: &str, body: Option<serde_json::Value>| {
        common::served::api(&console, method, path, &token, body.as_ref())
    };
    let (status, page) = call("GET", "/api/v1/incidents?superseded=true&limit=500", None);
    assert_eq!(status, 200, "{page}");
    let listed: Vec<&str> = page["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|incident| incident["id"].as_str().unwrap())
        .collect();
    for id in &reported {
        assert!(listed.contains(&id.as_str()), "{id} not in {listed:?}");
    }
    // Its agents page: the deployment's queues, drained, and an empty outbox.
    let mut queues = serde_json::Value::Null;
    for _ in 0..50 {
        queues = call("GET", "/api/v1/agents", None).1["queues"].clone();
        // Read every 2 s: a reading from before the run ended may still show work queued.
        if queues.as_array().is_some_and(|queues| {
            queues
                .iter()
                .any(|queue| queue["consumer"] == "respond__incident_verified")
                && queues.iter().all(|queue| queue["queued"] == 0)
        }) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let queues = queues.as_array().unwrap();
    let named = |name: &str| queues.iter().find(|queue| queue["consumer"] == name);
    for consumer in ["verify__incident_proposed", "respond__incident_verified"] {
        let queue = named(consumer).unwrap_or_else(|| panic!("{consumer} in {queues:?}"));
        assert_eq!(queue["queued"], 0, "{queue}");
        assert!(queue["delivered"].as_u64().unwrap() > 0, "{queue}");
    }
    for outbox in ["outbox:incident", "outbox:action"] {
        let queue = named(outbox).unwrap_or_else(|| panic!("{outbox} in {queues:?}"));
        assert_eq!(queue["queued"], 0, "{queue}");
    }
    let (status, detail) = call("GET", &format!("/api/v1/incidents/{}", reported[0]), None);
    assert_eq!(status, 200);
    assert_eq!(detail["incident"]["id"], reported[0].as_str());
    // A rule switched here is the deployment's: audited in PostgreSQL under the admin's name.
    let rule = "3a576257-e1dc-47d2-8ac4-92bb1702dc29";
    let (status, switched) = call(
        "PATCH",
        &format!("/api/v1/rules/{rule}"),
        Some(serde_json::json!({"enabled": false, "reason": "noisy here"})),
    );
    assert_eq!(status, 200, "{switched}");
    let (_, audit) = call("GET", "/api/v1/audit?action=rule_switched", None);
    assert_eq!(audit["entries"][0]["actor"], "user:ada");
    let (_, verified) = call("GET", "/api/v1/audit/verify", None);
    assert_eq!(verified["intact"], true, "{verified}");
    assert!(
        std::process::Command::new("kill")
            .arg(serve.id().to_string())
            .status()
            .unwrap()
            .success()
    );
    assert!(serve.wait().unwrap().success());
}

/// A latency log's alerts of `kind` (`published` or `stored`), with the first time of each.
fn logged(path: &Path, kind: &str) -> std::collections::HashMap<String, u128> {
    let mut times = std::collections::HashMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        let fields: Vec<&str> = line.splitn(3, '\t').collect();
        assert_eq!(fields.len(), 3, "{line}");
        if fields[0] == kind {
            let at: u128 = fields[1].parse().unwrap();
            let first = times.entry(fields[2].to_string()).or_insert(at);
            *first = (*first).min(at);
        }
    }
    times
}

#[test]
fn latency_logs_time_every_alert_from_raised_to_stored_in_one_process_and_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let linux = workspace().join("samples/linux");
    // Embedded: one log with both.
    let log = dir.path().join("embedded.tsv");
    let state = dir.path().join("state");
    let report = investigate(
        &[
            "--state",
            state.to_str().unwrap(),
            "--latency-log",
            log.to_str().unwrap(),
        ],
        &linux,
    );
    let held = alert_ids(&report);
    assert!(!held.is_empty());
    let (published, stored) = (logged(&log, "published"), logged(&log, "stored"));
    assert_eq!(
        published.len() as u64,
        report["stats"]["alerts"].as_u64().unwrap()
    );
    let stored_ids: std::collections::BTreeSet<String> = stored.keys().cloned().collect();
    assert_eq!(stored_ids, held);
    for (id, at) in &stored {
        assert!(published[id] <= *at, "{id} stored before it was raised");
    }

    // Agents as processes: the raising process logs what it raised, report what it stored.
    let deployment = Deployment::with_keys();
    let config = deployment.config.to_str().unwrap();
    let (raised, reported) = (dir.path().join("raised.tsv"), dir.path().join("report.tsv"));
    let team = deployment.agent(&["triage", "investigate", "verify"], &[]);
    let rest = deployment.agent(
        &["supervisor", "report"],
        &["--latency-log", reported.to_str().unwrap()],
    );
    team.wait_running();
    rest.wait_running();
    let report = investigate(
        &[
            "--distributed",
            config,
            "--external-agents",
            "--pace",
            "1",
            "--latency-log",
            raised.to_str().unwrap(),
        ],
        &linux,
    );
    assert_eq!(alert_ids(&report), held);
    let published = logged(&raised, "published");
    assert!(
        logged(&raised, "stored").is_empty(),
        "report runs elsewhere"
    );
    assert_eq!(
        published.len() as u64,
        report["stats"]["alerts"].as_u64().unwrap()
    );
    let stored = logged(&reported, "stored");
    assert_eq!(
        stored
            .keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        held
    );
    for (id, at) in &stored {
        assert!(published[id] <= *at, "{id} stored before it was raised");
    }
    rest.stop();
    team.stop();
}
