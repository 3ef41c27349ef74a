//! How far each partition of triage has got in alert time. Alerts of different partitions
//! reach investigation out of time order (a partition whose owner died comes back later), so
//! investigation may close an incident only once every partition has moved past it.

use crate::messages::alert_partition;
use garrison_model::{Alert, Timestamp};

/// The newest alert time each partition has brought; none yet: it may still bring anything.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Watermark {
    partitions: u32,
    newest: Vec<Option<Timestamp>>,
}

impl Watermark {
    /// For triage cut into `partitions` (0 or 1: not cut, and nothing to track).
    pub fn new(partitions: u32) -> Watermark {
        Watermark {
            partitions,
            newest: match partitions {
                0 | 1 => Vec::new(),
                count => vec![None; count as usize],
            },
        }
    }

    /// The partitions tracked (1: triage is not cut).
    pub fn partitions(&self) -> u32 {
        self.partitions.max(1)
    }

    /// True when triage is cut into partitions.
    pub fn tracks(&self) -> bool {
        !self.newest.is_empty()
    }

    /// Notes an alert its partition's triage passed on.
    pub fn observe(&mut self, alert: &Alert) {
        let Some(at) = alert.timestamp.filter(|_| self.tracks()) else {
            return;
        };
        let newest = &mut self.newest[alert_partition(alert, self.partitions) as usize];
        *newest = Some(newest.map_or(at, |newest| newest.max(at)));
    }

    /// The time every partition has reached: the oldest of their newest, none while one has
    /// brought nothing.
    pub fn reached(&self) -> Option<Timestamp> {
        self.newest
            .iter()
            .copied()
            .collect::<Option<Vec<Timestamp>>>()
            .and_then(|newest| newest.into_iter().min())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(host: &str, second: i64) -> Alert {
        serde_json::from_value(serde_json::json!({
            "id": format!("al-{host}-{second}"),
            "rule": {"id": "r", "title": "r", "level": "high", "tags": []},
            "timestamp": Timestamp::from_second(second).unwrap(),
            "source": {"path": "s", "record_id": 1, "offset": 0},
            "evidence": "ev-0000000000000001",
            "host": host,
            "user": null, "channel": null, "event_id": null, "fields": [], "entities": []
        }))
        .unwrap()
    }

    #[test]
    fn the_slowest_partition_holds_the_mark() {
        let mut mark = Watermark::new(2);
        let hosts: Vec<String> = (0..40).map(|i| format!("h{i}")).collect();
        let (a, b) = {
            let part = |host: &String| alert_partition(&alert(host, 0), 2);
            let a = hosts.iter().find(|h| part(h) == 0).unwrap().clone();
            let b = hosts.iter().find(|h| part(h) == 1).unwrap().clone();
            (a, b)
        };
        mark.observe(&alert(&a, 1_000));
        assert_eq!(mark.reached(), None, "partition 1 may still bring anything");
        mark.observe(&alert(&b, 500));
        assert_eq!(mark.reached(), Some(Timestamp::from_second(500).unwrap()));
        mark.observe(&alert(&b, 2_000));
        mark.observe(&alert(&b, 100));
        assert_eq!(mark.reached(), Some(Timestamp::from_second(1_000).unwrap()));
        assert!(!Watermark::new(1).tracks());
    }
}
