//! Which rules an event is a candidate for: rule variants indexed by Windows channel and event
//! id (or, for other logs, one generic list), and per candidate list a prefilter built on first
//! use and shared by every thread.

use crate::prefilter::{BucketPrefilter, LiteralTable, Requirement};
use crate::windows::Sources;
use garrison_model::Event;
use rustc_hash::FxHashMap;
use std::sync::{Arc, OnceLock, RwLock};

/// Candidate lists for one channel.
#[derive(Debug, Default)]
pub(crate) struct ChannelIndex {
    by_event_id: FxHashMap<u32, Vec<u32>>,
    any_event_id: Vec<u32>,
}

impl ChannelIndex {
    pub(crate) fn insert(&mut self, event_ids: &Option<Vec<u32>>, variant: u32) {
        match event_ids {
            None => self.any_event_id.push(variant),
            Some(ids) => {
                for id in ids {
                    self.by_event_id.entry(*id).or_default().push(variant);
                }
            }
        }
    }
}

/// Identifies one candidate list: the channel's position in the index (or none) and the event
/// id when rules name it (or none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum BucketKey {
    Windows {
        channel: Option<u32>,
        event_id: Option<u32>,
    },
    /// Non-Windows records, by their kind's position in [`Sources`].
    Generic(u8),
}

/// The candidates of one key, with their prefilter.
#[derive(Debug)]
pub(crate) struct Bucket {
    /// Variant ids.
    pub(crate) candidates: Box<[u32]>,
    /// Positions of candidates with no literal requirement: always evaluated.
    pub(crate) always: Box<[u32]>,
    /// Positions of candidates that can match at all (not `Requirement::Never`).
    pub(crate) possible: Box<[u32]>,
    pub(crate) prefilter: BucketPrefilter,
}

/// The index proper.
#[derive(Debug, Default)]
pub(crate) struct Index {
    channels: Vec<(Box<str>, ChannelIndex)>,
    channel_ids: FxHashMap<Box<str>, u32>,
    any_channel: ChannelIndex,
    generic: [Vec<u32>; Sources::COUNT],
    buckets: RwLock<FxHashMap<BucketKey, Arc<OnceLock<Arc<Bucket>>>>>,
}

impl Index {
    pub(crate) fn channel_mut(&mut self, channel: &str) -> &mut ChannelIndex {
        let next = self.channels.len() as u32;
        let id = *self.channel_ids.entry(channel.into()).or_insert(next);
        if id == next {
            self.channels
                .push((channel.into(), ChannelIndex::default()));
        }
        &mut self.channels[id as usize].1
    }

    pub(crate) fn any_channel_mut(&mut self) -> &mut ChannelIndex {
        &mut self.any_channel
    }

    pub(crate) fn generic_mut(&mut self, position: usize) -> &mut Vec<u32> {
        &mut self.generic[position]
    }

    fn channel_id(&self, channel: &str) -> Option<u32> {
        self.channel_ids.get(channel).copied().or_else(|| {
            self.channels
                .iter()
                .position(|(name, _)| name.eq_ignore_ascii_case(channel))
                .map(|position| position as u32)
        })
    }

    /// The key of an event's candidate list.
    pub(crate) fn key(&self, event: &Event) -> BucketKey {
        if !event.format.is_windows() {
            return BucketKey::Generic(Sources::position_of(event.format) as u8);
        }
        let channel = event.channel().and_then(|channel| self.channel_id(channel));
        let event_id = event.event_id().filter(|id| {
            self.any_channel.by_event_id.contains_key(id)
                || channel.is_some_and(|c| self.channels[c as usize].1.by_event_id.contains_key(id))
        });
        BucketKey::Windows { channel, event_id }
    }

    fn candidates(&self, key: BucketKey) -> Vec<u32> {
        let mut lists: Vec<&[u32]> = Vec::new();
        match key {
            BucketKey::Generic(position) => lists.push(&self.generic[position as usize]),
            BucketKey::Windows { channel, event_id } => {
                let channel_index = channel.map(|channel| &self.channels[channel as usize].1);
                for index in channel_index.into_iter().chain([&self.any_channel]) {
                    if let Some(list) = event_id.and_then(|id| index.by_event_id.get(&id)) {
                        lists.push(list);
                    }
                    lists.push(&index.any_event_id);
                }
            }
        }
        let mut candidates: Vec<u32> = lists.concat();
        // A rule indexed under several of the lists shows up once.
        candidates.sort_unstable();
        candidates.dedup();
        candidates
    }

    /// The bucket for `key`, built (once, by whichever thread asks first) when missing. The map
    /// lock is only held to find or add the key's cell; building happens outside it, so threads
    /// building different buckets do not wait for each other.
    pub(crate) fn bucket(
        &self,
        key: BucketKey,
        requirements: &[Requirement],
        literals: &LiteralTable,
        field_count: usize,
    ) -> Arc<Bucket> {
        let cell = {
            let found = self.buckets.read().expect("bucket map").get(&key).cloned();
            match found {
                Some(cell) => cell,
                None => self
                    .buckets
                    .write()
                    .expect("bucket map")
                    .entry(key)
                    .or_default()
                    .clone(),
            }
        };
        cell.get_or_init(|| {
            let candidates = self.candidates(key);
            let requirement =
                |position: &u32| &requirements[candidates[*position as usize] as usize];
            let positions = 0..candidates.len() as u32;
            let always = positions
                .clone()
                .filter(|p| *requirement(p) == Requirement::None)
                .collect();
            let possible = positions
                .filter(|p| *requirement(p) != Requirement::Never)
                .collect();
            let prefilter = BucketPrefilter::build(
                candidates
                    .iter()
                    .map(|&variant| &requirements[variant as usize]),
                literals,
                field_count,
            );
            Arc::new(Bucket {
                candidates: candidates.into_boxed_slice(),
                always,
                possible,
                prefilter,
            })
        })
        .clone()
    }
}
