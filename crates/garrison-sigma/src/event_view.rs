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
    /// Field ids of recently seen field-name sequences: events of one kind (one EVTX template,
    /// one shipper format) repeat their names, so most events skip the name lookups.
    layouts: Vec<Layout>,
    next_layout: usize,
}

/// A field-name sequence and the field ids of its entries.
#[derive(Debug, Default)]
struct Layout {
    names: String,
    /// Whether the names were looked up lower-cased.
    folded: bool,
    ids: Vec<FieldId>,
}

/// Layouts remembered per thread.
const LAYOUTS: usize = 16;

impl ViewBuffers {
    pub(crate) fn new(field_count: usize) -> ViewBuffers {
        ViewBuffers {
            slots: vec![Slot::default(); field_count],
            ..ViewBuffers::default()
        }
    }

    /// Indexes and folds `fields`; returns the view to evaluate rules on. With `fold_names`,
    /// fields are found by their lower-cased names (rules for such records name fields in
    /// lower case).
    pub(crate) fn prepare<'a>(
        &'a mut self,
        fields: &'a Fields,
        field_ids: &FxHashMap<Box<str>, FieldId>,
        fold_names: bool,
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
        self.resolve_layout(fields, field_ids, fold_names);
        for (index, &id) in self.entry_fields.iter().enumerate() {
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
        }
        let text = fields.values_text();
        if text.is_ascii() {
            // Nearly every event: the folded text is the original lower-cased in one pass,
            // each value at its original offsets.
            self.folded.push_str(text);
            self.folded.make_ascii_lowercase();
            self.folded_ranges.extend((0..fields.len()).map(|index| {
                let range = fields.value_range(index);
                (range.start as u32, range.end as u32)
            }));
        } else {
            for field in fields.iter() {
                let start = self.folded.len();
                fold_case_into(field.value, &mut self.folded);
                self.folded_ranges
                    .push((start as u32, self.folded.len() as u32));
                self.folded.push('\0');
            }
        }
        EventView {
            fields,
            scratch: self,
        }
    }

    /// Fills `entry_fields` with the field id of each entry, from a remembered layout when the
    /// event's names are one seen recently.
    fn resolve_layout(
        &mut self,
        fields: &Fields,
        field_ids: &FxHashMap<Box<str>, FieldId>,
        fold_names: bool,
    ) {
        let names = fields.names_signature();
        let count = fields.len();
        if let Some(layout) = self.layouts.iter().find(|layout| {
            layout.ids.len() == count && layout.folded == fold_names && layout.names == names
        }) {
            self.entry_fields.clear();
            self.entry_fields.extend_from_slice(&layout.ids);
            return;
        }
        self.entry_fields.clear();
        if fold_names {
            let mut lower = String::new();
            self.entry_fields.extend(fields.iter().map(|field| {
                lower.clear();
                lower.push_str(field.name);
                lower.make_ascii_lowercase();
                field_ids.get(lower.as_str()).copied().unwrap_or(NO_FIELD)
            }));
        } else {
            self.entry_fields.extend(
                fields
                    .iter()
                    .map(|field| field_ids.get(field.name).copied().unwrap_or(NO_FIELD)),
            );
        }
        if self.layouts.len() < LAYOUTS {
            self.layouts.push(Layout::default());
        }
        let layout = &mut self.layouts[self.next_layout];
        self.next_layout = (self.next_layout + 1) % LAYOUTS;
        layout.names.clear();
        layout.names.push_str(names);
        layout.folded = fold_names;
        layout.ids.clear();
        layout.ids.extend_from_slice(&self.entry_fields);
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

    pub fn fields(&self) -> &'a Fields {
        self.fields
    }
}
