//! The system event log of a chassis: what happened, not how a protocol
//! encodes it. IPMI turns entries into SEL records, SMASH into CIM_LogEntry.

use crate::chassis::BootDevice;
use crate::clock::Clock;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Arc;

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum EventKind {
    PowerOn,
    PowerOff {
        soft: bool,
    },
    SoftShutdownRequested,
    Reset,
    Nmi,
    BootStarted {
        device: BootDevice,
    },
    OsBooted,
    LogCleared,
    /// A raw 13-byte IPMI SEL record body (after id and type) added by a
    /// client with Add SEL Entry; kept opaque.
    Raw {
        record_type: u8,
        body: [u8; 13],
    },
}

/// One log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LogEntry {
    /// 1-based record id, never reused until the log is cleared.
    pub id: u16,
    /// Seconds since the Unix epoch.
    pub timestamp: u64,
    pub kind: EventKind,
}

/// A bounded event log. Real SELs hold a few hundred to a few thousand
/// records; when full the oldest record goes (like most BMCs' circular mode).
#[derive(Debug, Clone)]
pub struct EventLog {
    /// Where timestamps come from (the model's clock; a private clock
    /// for a log made outside a model).
    clock: Arc<Clock>,
    entries: VecDeque<LogEntry>,
    next_id: u16,
    capacity: usize,
    /// Entries ever pushed, never reset: lets a reader (a BMC's PEF) find
    /// the entries added since it last looked, across wrap-around and clears.
    added: u64,
    /// Unix time of the last add and the last erase (IPMI SEL info reports both).
    pub last_add: u64,
    pub last_erase: u64,
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog {
            clock: Arc::new(Clock::new()),
            entries: VecDeque::new(),
            next_id: 1,
            capacity: 512,
            added: 0,
            last_add: 0,
            last_erase: 0,
        }
    }
}

impl EventLog {
    /// Takes timestamps from `clock` from now on.
    pub fn set_clock(&mut self, clock: Arc<Clock>) {
        self.clock = clock;
    }

    pub fn push(&mut self, kind: EventKind) -> u16 {
        let timestamp = self.clock.unix_secs();
        if self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        let id = self.next_id;
        self.next_id = self
            .next_id
            .checked_add(1)
            .filter(|&n| n < 0xFFFF)
            .unwrap_or(1);
        self.entries.push_back(LogEntry {
            id,
            timestamp,
            kind,
        });
        self.last_add = timestamp;
        self.added += 1;
        id
    }

    /// How many entries were ever pushed (clears do not reset it): the
    /// entries pushed after a reader saw `n` are the last
    /// `min(added() - n, entries().len())`.
    pub fn added(&self) -> u64 {
        self.added
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.next_id = 1;
        self.last_erase = self.clock.unix_secs();
    }

    pub fn entries(&self) -> &VecDeque<LogEntry> {
        &self.entries
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn get(&self, id: u16) -> Option<&LogEntry> {
        self.entries.iter().find(|e| e.id == id)
    }
}
