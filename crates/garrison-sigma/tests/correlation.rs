//! Correlation rules over rule matches: counts, distinct values, temporal proximity and order,
//! grouping, aliases, chaining and `generate`.

mod support;

use garrison_model::{Detection, Event, RecordFormat, Timestamp};
use garrison_sigma::RuleSet;
use support::*;

const FAILED_LOGON: &str = "title: Failed logon\nid: failed-logon\nname: failed_logon\nlevel: low\nlogsource:\n    product: windows\n    service: security\ndetection:\n    sel:\n        EventID: 4625\n    condition: sel\n";
const SUCCESS_LOGON: &str = "title: Logon\nid: logon\nname: logon\nlevel: informational\nlogsource:\n    product: windows\n    service: security\ndetection:\n    sel:\n        EventID: 4624\n    condition: sel\n";

fn logon_event(event_id: &str, seconds: i64, source: &str, user: &str, record: u64) -> Event {
    let mut event = event_with(
        RecordFormat::Evtx,
        &[
            ("Channel", "Security"),
            ("EventID", event_id),
            ("IpAddress", source),
            ("TargetUserName", user),
            ("Computer", "DC01"),
        ],
    );
    event.timestamp = Some(Timestamp::from_second(1_700_000_000 + seconds).unwrap());
    event.evidence.record_id = record;
    event
}

/// Runs the rules over the events like `garrison hunt`: reported single matches plus
/// correlations.
fn run(rules: &RuleSet, events: &[Event]) -> (Vec<Detection>, Vec<Detection>) {
    let mut scratch = rules.scratch();
    let mut singles = Vec::new();
    let mut sightings = Vec::new();
    for event in events {
        let mut found = Vec::new();
        rules.evaluate(event, &mut scratch, &mut found);
        for hit in &found {
            if rules.is_reported(hit.rule) {
                singles.push(rules.detection(hit, event));
            }
            if let Some(sighting) = rules.sighting(hit, event) {
                sightings.push(sighting);
            }
        }
    }
    (singles, rules.correlate(&sightings))
}

#[test]
fn event_count_per_group_within_the_timespan() {
    let correlation = "title: Brute force\nid: brute\nlevel: high\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    group-by: [IpAddress]\n    timespan: 5m\n    condition:\n        gte: 3\n";
    let rules = rules(&[FAILED_LOGON, correlation]);
    assert!(rules.errors().is_empty(), "{:?}", rules.errors());
    let events = [
        logon_event("4625", 0, "10.0.0.5", "a", 1),
        logon_event("4625", 10, "10.0.0.9", "a", 2),
        logon_event("4625", 20, "10.0.0.5", "b", 3),
        // Too late for the first window of 10.0.0.5 ...
        logon_event("4625", 400, "10.0.0.5", "c", 4),
        logon_event("4625", 410, "10.0.0.5", "d", 5),
        logon_event("4625", 420, "10.0.0.5", "e", 6),
    ];
    let (singles, correlations) = run(&rules, &events);
    // generate defaults to false: the base rule only feeds the correlation.
    assert!(singles.is_empty());
    assert_eq!(correlations.len(), 1);
    let detection = &correlations[0];
    assert_eq!(detection.rule.id, "brute");
    let context = detection.correlation.as_ref().unwrap();
    assert_eq!(
        context.group,
        [("IpAddress".to_string(), "10.0.0.5".to_string())]
    );
    assert_eq!(context.count, 3);
    assert_eq!(
        context
            .events
            .iter()
            .map(|e| e.record_id)
            .collect::<Vec<_>>(),
        [4, 5, 6]
    );
    assert_eq!(detection.evidence.record_id, 6);
}

#[test]
fn value_count_counts_distinct_values() {
    let correlation = "title: Spray\nid: spray\ncorrelation:\n    type: value_count\n    rules: [failed_logon]\n    group-by: [IpAddress]\n    timespan: 1h\n    condition:\n        gte: 3\n        field: TargetUserName\n    generate: true\n";
    let rules = rules(&[FAILED_LOGON, correlation]);
    let events = [
        logon_event("4625", 0, "10.0.0.5", "alice", 1),
        logon_event("4625", 1, "10.0.0.5", "alice", 2),
        logon_event("4625", 2, "10.0.0.5", "bob", 3),
        logon_event("4625", 3, "10.0.0.7", "carol", 4),
        logon_event("4625", 4, "10.0.0.5", "dave", 5),
    ];
    let (singles, correlations) = run(&rules, &events);
    // generate: true keeps the base rule's own detections.
    assert_eq!(singles.len(), 5);
    assert_eq!(correlations.len(), 1);
    assert_eq!(correlations[0].correlation.as_ref().unwrap().count, 3);
    assert_eq!(correlations[0].evidence.record_id, 5);
}

#[test]
fn temporal_and_temporal_ordered() {
    let temporal = "title: Fail and succeed\nid: both\ncorrelation:\n    type: temporal\n    rules: [failed_logon, logon]\n    group-by: [TargetUserName]\n    timespan: 1m\n";
    let ordered = "title: Fail then succeed\nid: ordered\ncorrelation:\n    type: temporal_ordered\n    rules: [failed_logon, logon]\n    group-by: [TargetUserName]\n    timespan: 1m\n";
    let rules = rules(&[FAILED_LOGON, SUCCESS_LOGON, temporal, ordered]);
    assert!(rules.errors().is_empty(), "{:?}", rules.errors());
    // bob: success before failure (temporal only); alice: failure then success (both);
    // carol: too far apart (neither).
    let events = [
        logon_event("4624", 0, "x", "bob", 1),
        logon_event("4625", 5, "x", "bob", 2),
        logon_event("4625", 10, "x", "alice", 3),
        logon_event("4624", 20, "x", "alice", 4),
        logon_event("4625", 100, "x", "carol", 5),
        logon_event("4624", 300, "x", "carol", 6),
    ];
    let (_, correlations) = run(&rules, &events);
    let fired: Vec<(String, String)> = correlations
        .iter()
        .map(|d| {
            (
                d.rule.id.clone(),
                d.correlation.as_ref().unwrap().group[0].1.clone(),
            )
        })
        .collect();
    assert!(fired.contains(&("both".into(), "bob".into())), "{fired:?}");
    assert!(
        fired.contains(&("both".into(), "alice".into())),
        "{fired:?}"
    );
    assert!(
        fired.contains(&("ordered".into(), "alice".into())),
        "{fired:?}"
    );
    assert!(!fired.iter().any(|(_, user)| user == "carol"), "{fired:?}");
    assert!(
        !fired.contains(&("ordered".into(), "bob".into())),
        "{fired:?}"
    );
    assert_eq!(fired.len(), 3);
}

#[test]
fn aliases_group_different_fields_together() {
    let outbound = "title: Outbound\nid: out\nname: outbound\nlogsource:\n    product: windows\n    service: security\ndetection:\n    sel:\n        EventID: 5156\n    condition: sel\n";
    let inbound = "title: Inbound\nid: in\nname: inbound\nlogsource:\n    product: windows\n    service: security\ndetection:\n    sel:\n        EventID: 5158\n    condition: sel\n";
    let correlation = "title: Round trip\nid: trip\ncorrelation:\n    type: temporal\n    rules: [outbound, inbound]\n    group-by: [peer]\n    timespan: 1m\n    aliases:\n        peer:\n            outbound: DestAddress\n            inbound: SourceAddress\n";
    let rules = rules(&[outbound, inbound, correlation]);
    assert!(rules.errors().is_empty(), "{:?}", rules.errors());
    let mut first = event_with(
        RecordFormat::Evtx,
        &[
            ("Channel", "Security"),
            ("EventID", "5156"),
            ("DestAddress", "8.8.8.8"),
        ],
    );
    first.timestamp = Some(Timestamp::from_second(1_700_000_000).unwrap());
    let mut second = event_with(
        RecordFormat::Evtx,
        &[
            ("Channel", "Security"),
            ("EventID", "5158"),
            ("SourceAddress", "8.8.8.8"),
        ],
    );
    second.timestamp = Some(Timestamp::from_second(1_700_000_010).unwrap());
    let mut other = second.clone();
    other.fields = garrison_model::Fields::new();
    for (name, value) in [
        ("Channel", "Security"),
        ("EventID", "5158"),
        ("SourceAddress", "1.1.1.1"),
    ] {
        other
            .fields
            .push(name, value, garrison_model::ValueKind::Text);
    }
    let (_, correlations) = run(&rules, &[first.clone(), other]);
    assert!(correlations.is_empty());
    let (_, correlations) = run(&rules, &[first, second]);
    assert_eq!(correlations.len(), 1);
    assert_eq!(
        correlations[0].correlation.as_ref().unwrap().group,
        [("peer".to_string(), "8.8.8.8".to_string())]
    );
}

#[test]
fn chained_correlations_and_reference_errors() {
    let burst = "title: Burst\nid: burst\nname: burst\ncorrelation:\n    type: event_count\n    rules: [failed_logon]\n    group-by: [TargetUserName]\n    timespan: 1m\n    condition:\n        gte: 2\n";
    let then_success = "title: Burst then logon\nid: burst-then-logon\ncorrelation:\n    type: temporal_ordered\n    rules: [burst, logon]\n    group-by: [TargetUserName]\n    timespan: 5m\n";
    let dangling = "title: Dangling\nid: dangling\ncorrelation:\n    type: event_count\n    rules: [no_such_rule]\n    group-by: [x]\n    timespan: 1m\n    condition:\n        gte: 1\n";
    let rules = rules(&[FAILED_LOGON, SUCCESS_LOGON, burst, then_success, dangling]);
    assert_eq!(rules.errors().len(), 1);
    assert!(rules.errors()[0].reason.contains("no_such_rule"));
    let events = [
        logon_event("4625", 0, "x", "alice", 1),
        logon_event("4625", 5, "x", "alice", 2),
        logon_event("4624", 30, "x", "alice", 3),
    ];
    let (_, correlations) = run(&rules, &events);
    // The inner correlation only feeds the outer one (generate is false).
    let ids: Vec<&str> = correlations.iter().map(|d| d.rule.id.as_str()).collect();
    assert_eq!(ids, ["burst-then-logon"]);
    assert_eq!(correlations[0].evidence.record_id, 3);
}

#[test]
fn upper_bound_counts_are_judged_when_a_window_closes() {
    // "Fewer than 3 logons per user within 10 minutes": judged on each closed window.
    let correlation = "title: Rare logon\nid: rare\ncorrelation:\n    type: event_count\n    rules: [logon]\n    group-by: [TargetUserName]\n    timespan: 10m\n    condition:\n        lt: 3\n";
    let rules = rules(&[SUCCESS_LOGON, correlation]);
    assert!(rules.errors().is_empty(), "{:?}", rules.errors());
    let events = [
        // alice: three logons in one window, then one alone much later.
        logon_event("4624", 0, "x", "alice", 1),
        logon_event("4624", 60, "x", "alice", 2),
        logon_event("4624", 120, "x", "alice", 3),
        logon_event("4624", 5000, "x", "alice", 4),
        // bob: a single logon.
        logon_event("4624", 30, "x", "bob", 5),
    ];
    let (_, correlations) = run(&rules, &events);
    let fired: Vec<(String, u64, Vec<u64>)> = correlations
        .iter()
        .map(|d| {
            let context = d.correlation.as_ref().unwrap();
            (
                context.group[0].1.clone(),
                context.count,
                context.events.iter().map(|e| e.record_id).collect(),
            )
        })
        .collect();
    assert_eq!(fired.len(), 2, "{fired:?}");
    assert!(fired.contains(&("alice".into(), 1, vec![4])), "{fired:?}");
    assert!(fired.contains(&("bob".into(), 1, vec![5])), "{fired:?}");
}
