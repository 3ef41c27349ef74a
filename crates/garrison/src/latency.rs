//! Alert-to-incident latency across processes, for `garrison bench distributed`: the process
//! raising alerts writes when it published each, the process running report writes when each
//! alert was first in an incident it stored, and the bench joins the two files by alert id.
//!
//! Both write lines `KIND<TAB>UNIX_NANOS<TAB>ALERT_ID` (`published` or `stored`), one append
//! per batch or incident version, so a process stopped by a signal loses at most the line it
//! was writing. Times are the wall clock, which every process on one machine shares.

use crate::Failure;
use garrison_agents::team::ReportObserver;
use garrison_model::{Alert, AlertId, Incident};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

const PUBLISHED: &str = "published";
const STORED: &str = "stored";

/// A latency log a process appends to.
pub struct LatencyLog {
    file: Mutex<std::fs::File>,
    /// Alerts already written as stored (an incident's later versions hold them again).
    stored: Mutex<HashSet<AlertId>>,
}

impl LatencyLog {
    /// Appends to `path`, creating it.
    pub fn open(path: &Path) -> Result<Arc<LatencyLog>, Failure> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|error| Failure::Output(format!("{}: {error}", path.display())))?;
        Ok(Arc::new(LatencyLog {
            file: Mutex::new(file),
            stored: Mutex::default(),
        }))
    }

    /// `alerts` are being published now.
    pub fn published(&self, alerts: &[Alert]) {
        self.write(PUBLISHED, alerts.iter().map(|alert| &alert.id));
    }

    /// Writes, when report stores an incident version, the alerts no version held before.
    pub fn observer(self: &Arc<LatencyLog>) -> ReportObserver {
        let log = self.clone();
        ReportObserver(Arc::new(move |incident: &Incident| {
            log.stored(incident.alerts.iter().map(|alert| &alert.id));
        }))
    }

    /// An incident version holding `alerts` is stored now.
    fn stored<'a>(&self, alerts: impl Iterator<Item = &'a AlertId>) {
        let new: Vec<&AlertId> = {
            let mut stored = self.stored.lock().unwrap_or_else(|p| p.into_inner());
            alerts.filter(|id| stored.insert((*id).clone())).collect()
        };
        self.write(STORED, new.into_iter());
    }

    fn write<'a>(&self, kind: &str, ids: impl Iterator<Item = &'a AlertId>) {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        let mut text = String::new();
        for id in ids {
            text.push_str(&format!("{kind}\t{nanos}\t{}\n", id.0));
        }
        if text.is_empty() {
            return;
        }
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // A measurement, not the work: a failed write costs the bench a sample, says so once.
        if let Err(error) = file.write_all(text.as_bytes()) {
            tracing::warn!("latency log: {error}");
        }
    }
}

/// Alert-to-incident latencies, milliseconds, sorted: for every alert that `logs` say was
/// published and later stored in an incident, the time between. Alerts published but never
/// in an incident (dismissed by triage) have none.
pub fn latencies(logs: &[&Path]) -> Result<Vec<f64>, Failure> {
    let mut published: HashMap<String, u128> = HashMap::new();
    let mut stored: HashMap<String, u128> = HashMap::new();
    for path in logs {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            // A process that published or stored nothing wrote no file.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(Failure::Output(format!("{}: {error}", path.display()))),
        };
        for (number, line) in text.lines().enumerate() {
            let bad = || Failure::Internal(format!("{}:{}: {line:?}", path.display(), number + 1));
            let mut parts = line.splitn(3, '\t');
            let (Some(kind), Some(nanos), Some(id)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(bad());
            };
            let nanos: u128 = nanos.parse().map_err(|_| bad())?;
            let times = match kind {
                PUBLISHED => &mut published,
                STORED => &mut stored,
                _ => return Err(bad()),
            };
            // The first time counts (a redelivered batch is published once more).
            let at = times.entry(id.to_string()).or_insert(nanos);
            *at = (*at).min(nanos);
        }
    }
    let mut latencies: Vec<f64> = stored
        .iter()
        .filter_map(|(id, stored)| {
            let published = published.get(id)?;
            Some(stored.saturating_sub(*published) as f64 / 1e6)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_join_the_first_publish_and_store_of_each_alert_across_files() {
        let dir = tempfile::tempdir().unwrap();
        let raised = dir.path().join("raised.tsv");
        let report = dir.path().join("report.tsv");
        std::fs::write(
            &raised,
            "published\t1000000000\ta\npublished\t1000000000\tb\npublished\t1500000000\tc\n\
             published\t1000000000\tdismissed\npublished\t2000000000\ta\n",
        )
        .unwrap();
        std::fs::write(
            &report,
            "stored\t1250000000\ta\nstored\t1040000000\tb\nstored\t1600000000\tc\n\
             stored\t1100000000\ta\nstored\t1700000000\tcorrelated\n",
        )
        .unwrap();
        let latencies = latencies(&[&raised, &report, &dir.path().join("never written")]).unwrap();
        // a: 1.0 s to 1.1 s; b: 40 ms; c: 100 ms. Dismissed and correlated alerts have none.
        assert_eq!(latencies, vec![40.0, 100.0, 100.0]);

        std::fs::write(&report, "stored\tsoon\ta\n").unwrap();
        let Err(Failure::Internal(why)) = super::latencies(&[&report]) else {
            panic!("a line without a time is an error");
        };
        assert!(why.contains("report.tsv:1"), "{why}");
    }

    #[test]
    fn each_alert_is_written_once_when_a_version_first_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.tsv");
        let log = LatencyLog::open(&path).unwrap();
        let ids = |names: &[&str]| -> Vec<AlertId> {
            names.iter().map(|name| AlertId(name.to_string())).collect()
        };
        log.stored(ids(&["a", "b"]).iter());
        log.stored(ids(&["a", "b", "c"]).iter());
        log.stored(ids(&["a", "b", "c"]).iter());
        let text = std::fs::read_to_string(&path).unwrap();
        let written: Vec<&str> = text
            .lines()
            .map(|line| {
                assert!(line.starts_with("stored\t"), "{line}");
                line.rsplit('\t').next().unwrap()
            })
            .collect();
        assert_eq!(written, ["a", "b", "c"]);
    }
}
