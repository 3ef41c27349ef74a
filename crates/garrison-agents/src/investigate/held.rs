//! Where the alerts investigation holds are: a flood of repeats finds the alert each one
//! repeats by its id, not by reading every alert every case holds.

use super::Investigate;
use crate::messages::TriageDecision;
use garrison_model::{Alert, AlertId};
use std::collections::HashMap;

impl Investigate {
    /// Where the cases' alerts are (see `held`).
    pub(super) fn held(&mut self) -> &HashMap<AlertId, Vec<(usize, usize)>> {
        let cases = &self.cases;
        self.held.get_or_insert_with(|| {
            let mut held: HashMap<AlertId, Vec<(usize, usize)>> = HashMap::new();
            for (index, case) in cases.iter().enumerate() {
                for (position, (alert, _)) in case.alerts.iter().enumerate() {
                    held.entry(alert.id.clone())
                        .or_default()
                        .push((index, position));
                }
            }
            held
        })
    }

    /// The first open case holding alert `id` as read from the file or stream `alert` was.
    pub(super) fn case_holding(&mut self, id: &AlertId, alert: &Alert) -> Option<usize> {
        self.held();
        let places = self.held.as_ref()?.get(id)?;
        places
            .iter()
            .find(|&&(index, position)| {
                let case = &self.cases[index];
                let held = &case.alerts[position].0;
                case.superseded_by.is_none()
                    && held.source.path == alert.source.path
                    && held.source.member == alert.source.member
            })
            .map(|&(index, _)| index)
    }

    /// Adds `alert` to case `index`, keeping `held` up.
    pub(super) fn hold(&mut self, index: usize, alert: &Alert, decision: &TriageDecision) {
        let position = self.cases[index].alerts.len();
        self.cases[index]
            .alerts
            .push((alert.clone(), decision.clone()));
        if let Some(held) = &mut self.held {
            let places = held.entry(alert.id.clone()).or_default();
            let at = places.partition_point(|&(case, _)| case <= index);
            places.insert(at, (index, position));
        }
    }
}
