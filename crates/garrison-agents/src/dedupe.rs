//! Which messages a consumer already handled, so a redelivered one is acknowledged without
//! being handled twice. Bounded: the oldest ids are forgotten first (redeliveries come soon
//! after the first delivery, not hours later).

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

#[derive(Debug)]
pub struct SeenSet<T> {
    set: HashSet<T>,
    order: VecDeque<T>,
    capacity: usize,
}

impl<T: Copy + Eq + Hash> SeenSet<T> {
    pub fn new(capacity: usize) -> SeenSet<T> {
        SeenSet {
            set: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn contains(&self, id: &T) -> bool {
        self.set.contains(id)
    }

    /// Remembers `id`; false when it was already known.
    pub fn insert(&mut self, id: T) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        true
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_up_to_capacity_forgetting_the_oldest() {
        let mut seen = SeenSet::new(3);
        assert!(seen.insert(1));
        assert!(!seen.insert(1));
        seen.insert(2);
        seen.insert(3);
        seen.insert(4);
        assert_eq!(seen.len(), 3);
        assert!(!seen.contains(&1));
        assert!(seen.contains(&2) && seen.contains(&4));
    }
}
