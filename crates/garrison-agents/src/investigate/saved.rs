//! Investigation's checkpoint: the open cases, those changed since they were last published,
//! and how far each partition of triage has got.

use super::{Case, Investigate};
use std::collections::BTreeSet;

/// Investigation's state as a checkpoint holds it: the open cases, those changed since they
/// were last published, and how far each partition has got.
#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    version: u32,
    cases: Vec<Case>,
    dirty: BTreeSet<usize>,
    watermark: crate::watermark::Watermark,
}

const SAVED_VERSION: u32 = 1;

impl Investigate {
    pub(super) fn save(&self) -> Option<Vec<u8>> {
        #[derive(serde::Serialize)]
        struct SavedRef<'a> {
            version: u32,
            cases: &'a [Case],
            dirty: &'a BTreeSet<usize>,
            watermark: &'a crate::watermark::Watermark,
        }
        serde_json::to_vec(&SavedRef {
            version: SAVED_VERSION,
            cases: &self.cases,
            dirty: &self.dirty,
            watermark: &self.watermark,
        })
        .ok()
    }

    pub(super) fn load(&mut self, state: &[u8]) -> Result<(), String> {
        let saved: Saved = serde_json::from_slice(state).map_err(|error| error.to_string())?;
        if saved.version != SAVED_VERSION {
            return Err(format!(
                "investigation state version {} (this build reads {SAVED_VERSION})",
                saved.version
            ));
        }
        if saved.dirty.iter().any(|index| *index >= saved.cases.len()) {
            return Err("a changed case that does not exist".into());
        }
        self.cases = saved.cases;
        self.held = None;
        self.dirty = saved.dirty;
        // Saved with other partitions (the deployment changed): every partition starts over.
        self.watermark = match saved.watermark.partitions() == self.config.partitions.max(1) {
            true => saved.watermark,
            false => crate::watermark::Watermark::new(self.config.partitions),
        };
        Ok(())
    }
}
