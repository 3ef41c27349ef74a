//! One event prepared for rule evaluation: its values case-folded once, and its fields indexed
//! by the rule set's field ids. The buffers are reused from event to event.

use crate::expr::FieldId;
use crate::pattern::fold_case_into;
use garrison_model::Fields;
use rustc_hash::FxHashMap;

const NO_FIELD: FieldId = FieldId::MAX;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    generation: u32,
    first: u32,
    last: u32,
}

/// Reusable buffers behind [`EventView`]: the folded values and the field index.
#[derive(Debug, Default)]
pub(crate) struct ViewBuffers {
    folded: String,
    folded_ranges: Vec<(u32, u32)>,
    entry_fields: Vec<FieldId>,
    slots: Vec<Slot>,
    generation: u32,
}

impl ViewBuffers {
    pub(crate) fn new(field_count: usize) -> ViewBuffers {
        ViewBuffers {
            slots: vec![Slot::default(); field_count],
            ..ViewBuffers::default()
        }
    }

    /// Indexes and folds `fields`; returns the view to evaluate rules on.
    pub(crate) fn prepare<'a>(
        &'a mut self,
        fields: &'a Fields,
        field_ids: &FxHashMap<Box<str>, FieldId>,
    ) -> EventView<'a> {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Wrapped around: stale generations could collide, so clear them.
            self.slots
                .iter_mut()
                .for_each(|slot| *slot = Slot::default());
            self.generation = 1;
        }
        let generation = self.generation;
        self.folded.clear();
        self.folded_ranges.clear();
        self.entry_fields.clear();
        for (index, field) in fields.iter().enumerate() {
            let id = field_ids.get(field.name).copied().unwrap_or(NO_FIELD);
            self.entry_fields.push(id);
            if id != NO_FIELD {
                let slot = &mut self.slots[id as usize];
                if slot.generation != generation {
                    *slot = Slot {
                        generation,
                        first: index as u32,
                        last: index as u32,
                    };
                } else {
                    slot.last = index as u32;
                }
            }
            let start = self.folded.len();
            fold_case_into(field.value, &mut self.folded);
            self.folded_ranges
                .push((start as u32, self.folded.len() as u32));
            self.folded.push('\0');
        }
        EventView {
            fields,
            scratch: self,
        }
    }
}

/// A prepared event; see [`ViewBuffers`].
#[derive(Debug, Clone, Copy)]
pub struct EventView<'a> {
    fields: &'a Fields,
    scratch: &'a ViewBuffers,
}

impl<'a> EventView<'a> {
    #[inline]
    pub fn has(&self, field: FieldId) -> bool {
        self.scratch
            .slots
            .get(field as usize)
            .is_some_and(|slot| slot.generation == self.scratch.generation)
    }

    #[inline]
    fn folded_at(&self, index: usize) -> &'a str {
        let (start, end) = self.scratch.folded_ranges[index];
        &self.scratch.folded[start as usize..end as usize]
    }

    /// The (original, folded) values of a field; several when the field repeats.
    #[inline]
    pub fn values(&self, field: FieldId) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let slot = self
            .scratch
            .slots
            .get(field as usize)
            .copied()
            .unwrap_or_default();
        let range = if slot.generation == self.scratch.generation && slot.generation != 0 {
            slot.first as usize..slot.last as usize + 1
        } else {
            0..0
        };
        let view = *self;
        range
            .filter(move |&index| view.scratch.entry_fields[index] == field)
            .map(move |index| (view.fields.at(index).value, view.folded_at(index)))
    }

    /// Every value of the event as (field id, folded text); fields no rule names have an id
    /// past the end of the field table.
    pub fn entries(&self) -> impl Iterator<Item = (FieldId, &'a str)> + 'a {
        let view = *self;
        (0..self.fields.len())
            .map(move |index| (view.scratch.entry_fields[index], view.folded_at(index)))
    }

    /// Every (original, folded) value of the event.
    pub fn all_values(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let view = *self;
        (0..self.fields.len())
            .map(move |index| (view.fields.at(index).value, view.folded_at(index)))
    }

    /// All folded values, each followed by NUL.
    pub fn folded_text(&self) -> &'a str {
        &self.scratch.folded
    }

    /// All original values, each followed by NUL.
    pub fn original_text(&self) -> &'a str {
        self.fields.values_text()
    }

    /// The first value of a field (original text).
    pub fn first_value(&self, field: FieldId) -> Option<&'a str> {
        self.values(field).next().map(|(original, _)| original)
    }

    pub fn fields(&self) -> &'a Fields {
        self.fields
    }
}
