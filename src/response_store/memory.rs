//! The store's memory tier: a bounded map in insertion order (the oldest entry is evicted
//! first; an expired one at the front goes as soon as something new comes). With a disk
//! behind it, it holds only what the disk writer has not committed yet, deletions included
//! (a tombstone), so reads see every write at once.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::Stored;
use crate::config::ResponsesSettings;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_entries: u64,
    pub max_bytes: u64,
}

impl Limits {
    pub fn of(s: &ResponsesSettings) -> Self {
        Limits { max_entries: s.max_entries, max_bytes: s.max_bytes }
    }

    /// In front of a disk: enough for what a stalled writer has queued.
    pub fn pending() -> Self {
        Limits { max_entries: 65_536, max_bytes: 512 << 20 }
    }
}

enum Slot {
    Live { entry: Arc<Stored>, size: u64 },
    Deleted,
}

pub enum Lookup {
    Found(Arc<Stored>),
    /// Deleted, and the disk may not know yet.
    Deleted,
    Unknown,
}

pub struct Memory {
    slots: HashMap<String, (u64, Slot)>,
    /// Ids with the sequence number they were written at, oldest first (stale pairs skipped).
    order: VecDeque<(u64, String)>,
    bytes: u64,
    next: u64,
    limits: Limits,
}

impl Memory {
    pub fn new(limits: Limits) -> Self {
        Memory { slots: HashMap::new(), order: VecDeque::new(), bytes: 0, next: 0, limits }
    }

    fn insert(&mut self, id: String, slot: Slot) -> u64 {
        let seq = self.next;
        self.next += 1;
        if let Slot::Live { size, .. } = &slot {
            self.bytes += size;
        }
        self.order.push_back((seq, id.clone()));
        if let Some((_, Slot::Live { size, .. })) = self.slots.insert(id, (seq, slot)) {
            self.bytes -= size;
        }
        seq
    }

    /// Keeps `entry`; returns its write's sequence number.
    pub fn put(&mut self, entry: Arc<Stored>) -> u64 {
        let size = entry.size() as u64;
        let now = entry.created;
        let seq = self.insert(entry.id.clone(), Slot::Live { entry, size });
        self.evict(now);
        seq
    }

    /// Forgets `id`; with `tombstone`, remembers that it is gone until the disk has it.
    pub fn delete(&mut self, id: &str, tombstone: bool) -> u64 {
        if tombstone {
            return self.insert(id.to_string(), Slot::Deleted);
        }
        if let Some((_, Slot::Live { size, .. })) = self.slots.remove(id) {
            self.bytes -= size;
        }
        self.next
    }

    pub fn get(&self, id: &str) -> Lookup {
        match self.slots.get(id) {
            Some((_, Slot::Live { entry, .. })) => Lookup::Found(entry.clone()),
            Some((_, Slot::Deleted)) => Lookup::Deleted,
            None => Lookup::Unknown,
        }
    }

    /// The disk committed the write `seq` of `id` (a put or a deletion): drop it here unless
    /// a later one came.
    pub fn committed(&mut self, id: &str, seq: u64) {
        if self.slots.get(id).is_some_and(|(s, _)| *s == seq)
            && let Some((_, Slot::Live { size, .. })) = self.slots.remove(id)
        {
            self.bytes -= size;
        }
    }

    /// Slots held: entries and tombstones.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Live entries and their bytes (tombstones are neither).
    pub fn live(&self) -> (u64, u64) {
        let n = self.slots.values().filter(|(_, slot)| matches!(slot, Slot::Live { .. })).count();
        (n as u64, self.bytes)
    }

    fn evict(&mut self, now: u64) {
        while let Some((seq, id)) = self.order.front().cloned() {
            let current = self.slots.get(&id).map(|(s, slot)| (*s == seq, slot));
            let drop_it = match current {
                None | Some((false, _)) => true, // stale pair: nothing to remove
                Some((true, slot)) => {
                    let expired = matches!(slot, Slot::Live { entry, .. } if entry.expires <= now);
                    let over = self.slots.len() as u64 > self.limits.max_entries || self.bytes > self.limits.max_bytes;
                    if !(expired || over) {
                        break;
                    }
                    if let Some((_, Slot::Live { size, .. })) = self.slots.remove(&id) {
                        self.bytes -= size;
                    }
                    true
                }
            };
            if drop_it {
                self.order.pop_front();
            }
        }
    }
}
