//! Process trees from process-creation records (Sysmon 1 by process GUID, Security 4688 by
//! process id on one host): the processes behind alerts, their ancestors and descendants.

use crate::evidence::event_image;
use garrison_model::EvidenceId;
use garrison_model::incident::ProcessNode;
use garrison_store::StoredEvent;
use std::collections::{BTreeSet, HashMap};

/// How far up and down from an alert's process the tree reaches, and its largest size.
const ANCESTORS: usize = 4;
const DESCENDANT_DEPTH: usize = 3;
const MAX_NODES: usize = 60;

/// One process start.
#[derive(Debug, Clone)]
struct Start {
    key: String,
    parent: Option<String>,
    image: String,
    command_line: Option<String>,
    process_id: Option<String>,
    evidence: EvidenceId,
}

fn present(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "-")
        .map(str::to_string)
}

/// Windows writes process ids as decimal in Sysmon and hex (`0x1a2b`) in Security events.
fn normal_pid(pid: &str) -> Option<u64> {
    let pid = pid.trim();
    match pid.strip_prefix("0x").or_else(|| pid.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => pid.parse().ok(),
    }
}

/// The key of the process an event was written by or about (`guid:` or `pid:host:n`).
pub fn process_key(event: &StoredEvent) -> Option<String> {
    if let Some(guid) = present(event.field("ProcessGuid")) {
        return Some(format!("guid:{}", guid.to_ascii_lowercase()));
    }
    let host = event.host.as_deref().unwrap_or("").to_ascii_lowercase();
    let pid = if event.event_id == Some(4688) {
        event.field("NewProcessId")
    } else {
        event.field("ProcessId")
    };
    normal_pid(pid?).map(|pid| format!("pid:{host}:{pid}"))
}

fn start_of(event: &StoredEvent) -> Option<Start> {
    let channel = event.channel.as_deref().unwrap_or("");
    let (parent, process_id) = match event.event_id {
        Some(1) if channel.contains("Sysmon") => (
            present(event.field("ParentProcessGuid"))
                .map(|guid| format!("guid:{}", guid.to_ascii_lowercase())),
            present(event.field("ProcessId")),
        ),
        Some(4688) => {
            let host = event.host.as_deref().unwrap_or("").to_ascii_lowercase();
            (
                event
                    .field("ProcessId")
                    .and_then(normal_pid)
                    .map(|pid| format!("pid:{host}:{pid}")),
                present(event.field("NewProcessId")),
            )
        }
        _ => return None,
    };
    Some(Start {
        key: process_key(event)?,
        parent,
        image: event_image(event)?.to_string(),
        command_line: present(event.field("CommandLine")),
        process_id,
        evidence: event.id,
    })
}

/// Fills the event's process keys (what the store indexes to walk trees).
pub fn index_process(event: &mut StoredEvent) {
    event.process_key = process_key(event);
    event.parent_key = start_of(event).and_then(|start| start.parent);
}

/// The starts of the processes `focus` names, with their ancestors and descendants, read from
/// the store by key (no scan of the hosts' events).
///
/// `known` remembers process starts already read (a start never changes), so rebuilding an
/// incident only asks the store again for children, which can appear later.
pub fn gather(
    store: &dyn garrison_store::EvidenceStore,
    focus: &BTreeSet<String>,
    known: &mut HashMap<String, StoredEvent>,
) -> Result<Vec<StoredEvent>, garrison_store::StoreError> {
    let mut starts: HashMap<String, StoredEvent> = HashMap::new();
    for key in focus {
        // Up: the chain of parents.
        let mut current = key.clone();
        for _ in 0..=ANCESTORS {
            if starts.len() >= MAX_NODES * 2 {
                break;
            }
            let start = match starts.get(&current).or_else(|| known.get(&current)) {
                Some(start) => start.clone(),
                None => match store.process_start(&current)? {
                    Some(start) => {
                        known.insert(current.clone(), start.clone());
                        start
                    }
                    None => break,
                },
            };
            starts.insert(current.clone(), start.clone());
            match start.parent_key {
                Some(parent) => current = parent,
                None => break,
            }
        }
        // Down: children, grandchildren...
        let mut frontier = vec![key.clone()];
        for _ in 0..DESCENDANT_DEPTH {
            let mut next = Vec::new();
            for parent in frontier {
                for child in store.process_children(&parent, MAX_NODES)? {
                    if let Some(child_key) = child.process_key.clone()
                        && !starts.contains_key(&child_key)
                        && starts.len() < MAX_NODES * 2
                    {
                        next.push(child_key.clone());
                        known.insert(child_key.clone(), child.clone());
                        starts.insert(child_key, child);
                    }
                }
            }
            frontier = next;
        }
    }
    Ok(starts.into_values().collect())
}

/// A parent-to-child edge, by the records that started each process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Spawn {
    pub parent: EvidenceId,
    pub child: EvidenceId,
}

/// The tree around `focus` (process keys of alerts), and its edges.
pub fn build(events: &[StoredEvent], focus: &BTreeSet<String>) -> (Vec<ProcessNode>, Vec<Spawn>) {
    let mut starts: HashMap<String, Start> = HashMap::new();
    for event in events {
        if let Some(start) = start_of(event) {
            starts.entry(start.key.clone()).or_insert(start);
        }
    }
    let mut children: HashMap<&str, Vec<&Start>> = HashMap::new();
    for start in starts.values() {
        if let Some(parent) = start.parent.as_deref() {
            children.entry(parent).or_default().push(start);
        }
    }
    for list in children.values_mut() {
        list.sort_by_key(|start| start.evidence);
    }
    // The processes to show: each alert's process, its ancestors and descendants.
    let mut included: BTreeSet<&str> = BTreeSet::new();
    for key in focus {
        let Some(start) = starts.get(key.as_str()) else {
            continue;
        };
        included.insert(&start.key);
        let mut current = start;
        for _ in 0..ANCESTORS {
            match current
                .parent
                .as_deref()
                .and_then(|parent| starts.get(parent))
            {
                Some(parent) => {
                    included.insert(&parent.key);
                    current = parent;
                }
                None => break,
            }
        }
        let mut frontier = vec![start.key.as_str()];
        for _ in 0..DESCENDANT_DEPTH {
            let mut next = Vec::new();
            for key in frontier {
                for child in children.get(key).into_iter().flatten() {
                    if included.len() < MAX_NODES && included.insert(&child.key) {
                        next.push(child.key.as_str());
                    }
                }
            }
            frontier = next;
        }
    }
    let mut spawns = Vec::new();
    for key in &included {
        let start = &starts[*key];
        if let Some(parent) = start.parent.as_deref().filter(|p| included.contains(p)) {
            spawns.push(Spawn {
                parent: starts[parent].evidence,
                child: start.evidence,
            });
        }
    }
    spawns.sort();
    fn node(
        start: &Start,
        included: &BTreeSet<&str>,
        children: &HashMap<&str, Vec<&Start>>,
    ) -> ProcessNode {
        ProcessNode {
            image: start.image.clone(),
            command_line: start.command_line.clone(),
            process_id: start.process_id.clone(),
            evidence: start.evidence,
            children: children
                .get(start.key.as_str())
                .into_iter()
                .flatten()
                .filter(|child| included.contains(child.key.as_str()))
                .map(|child| node(child, included, children))
                .collect(),
        }
    }
    let mut roots: Vec<&Start> = included
        .iter()
        .map(|key| &starts[*key])
        .filter(|start| {
            start
                .parent
                .as_deref()
                .is_none_or(|parent| !included.contains(parent))
        })
        .collect();
    roots.sort_by_key(|start| start.evidence);
    let tree = roots
        .into_iter()
        .map(|root| node(root, &included, &children))
        .collect();
    (tree, spawns)
}

/// Whether `child` records a process started by the process `parent` records (the check the
/// verifier repeats).
pub fn spawned_by(child: &StoredEvent, parent: &StoredEvent) -> bool {
    match (start_of(child), start_of(parent)) {
        (Some(child), Some(parent)) => child.parent.as_deref() == Some(parent.key.as_str()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sysmon(id: u64, guid: &str, parent: &str, image: &str) -> StoredEvent {
        let pid = id.to_string();
        crate::evidence::tests::sysmon_event(
            id,
            &[
                ("ProcessGuid", guid),
                ("ParentProcessGuid", parent),
                ("Image", image),
                ("ProcessId", &pid),
            ],
        )
    }

    #[test]
    fn trees_reach_ancestors_and_descendants_of_alert_processes() {
        let events = vec![
            sysmon(1, "{A}", "{ROOT}", "explorer.exe"),
            sysmon(2, "{B}", "{A}", "cmd.exe"),
            sysmon(3, "{C}", "{B}", "powershell.exe"),
            sysmon(4, "{D}", "{C}", "rundll32.exe"),
            sysmon(5, "{E}", "{A}", "notepad.exe"),
        ];
        let focus = BTreeSet::from(["guid:{c}".to_string()]);
        let (tree, spawns) = build(&events, &focus);
        assert_eq!(tree.len(), 1);
        assert_eq!(tree[0].image, "explorer.exe");
        assert_eq!(
            tree[0].children.len(),
            1,
            "notepad is not on the alert's line"
        );
        assert_eq!(tree[0].children[0].children[0].image, "powershell.exe");
        assert_eq!(
            tree[0].children[0].children[0].children[0].image,
            "rundll32.exe"
        );
        assert_eq!(spawns.len(), 3);
        assert!(spawned_by(&events[2], &events[1]));
        assert!(!spawned_by(&events[1], &events[2]));
        assert!(!spawned_by(&events[4], &events[1]));
    }

    #[test]
    fn security_4688_links_by_hex_process_ids() {
        let start = |id: u64, new: &str, creator: &str| StoredEvent {
            event_id: Some(4688),
            channel: Some("Security".into()),
            fields: vec![
                ("NewProcessId".into(), new.into()),
                ("ProcessId".into(), creator.into()),
                ("NewProcessName".into(), format!("p{id}.exe")),
            ],
            ..sysmon(id, "", "", "")
        };
        let events = vec![start(1, "0x10", "0x4"), start(2, "0x20", "0x10")];
        assert!(spawned_by(&events[1], &events[0]));
        let (tree, _) = build(&events, &BTreeSet::from(["pid:ws01:32".to_string()]));
        assert_eq!(tree[0].image, "p1.exe");
        assert_eq!(tree[0].children[0].image, "p2.exe");
    }
}
