//! The journal: every connection and protocol operation, bounded in memory
//! and optionally mirrored to a JSON-lines sink. Tests assert on it.

use crate::clock::Clock;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One journal record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// Monotonic sequence number; queries can ask for entries after one.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub machine: String,
    pub service: String,
    pub peer: Option<SocketAddr>,
    pub user: Option<String>,
    pub operation: String,
    pub outcome: String,
    pub latency_us: u64,
}

/// What a front end reports; the journal stamps seq and time.
#[derive(Debug, Clone, Default)]
pub struct Record {
    pub machine: String,
    pub service: String,
    pub peer: Option<SocketAddr>,
    pub user: Option<String>,
    pub operation: String,
    pub outcome: String,
    pub latency: Duration,
}

/// A query; every field narrows it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Query {
    pub machine: Option<String>,
    pub service: Option<String>,
    /// Substring match on the operation.
    pub operation: Option<String>,
    /// Only entries with `seq` greater than this.
    pub after: Option<u64>,
    /// Only entries at or after this time (ms since epoch).
    pub since_ms: Option<u64>,
    pub limit: Option<usize>,
}

impl Query {
    fn matches(&self, e: &Entry) -> bool {
        self.machine.as_ref().is_none_or(|m| *m == e.machine)
            && self.service.as_ref().is_none_or(|s| *s == e.service)
            && self
                .operation
                .as_ref()
                .is_none_or(|o| e.operation.contains(o.as_str()))
            && self.after.is_none_or(|a| e.seq > a)
            && self.since_ms.is_none_or(|t| e.time_ms >= t)
    }
}

struct Inner {
    entries: VecDeque<Entry>,
    next_seq: u64,
    sink: Option<Box<dyn Write + Send>>,
}

/// The journal. Bounded: when full the oldest entries go.
pub struct Journal {
    inner: Mutex<Inner>,
    capacity: usize,
    clock: Arc<Clock>,
}

impl Journal {
    pub fn new(capacity: usize) -> Self {
        Journal::with_clock(capacity, Arc::new(Clock::new()))
    }

    /// A journal stamping entries with `clock` (the model's).
    pub fn with_clock(capacity: usize, clock: Arc<Clock>) -> Self {
        Journal {
            clock,
            inner: Mutex::new(Inner {
                entries: VecDeque::new(),
                next_seq: 1,
                sink: None,
            }),
            capacity: capacity.max(1),
        }
    }

    /// Mirrors every future entry as one JSON line to `sink`.
    pub fn set_sink(&self, sink: Box<dyn Write + Send>) {
        if let Ok(mut g) = self.inner.lock() {
            g.sink = Some(sink);
        }
    }

    pub fn record(&self, r: Record) {
        let time_ms = self.clock.unix_millis();
        let Ok(mut g) = self.inner.lock() else {
            return;
        };
        let entry = Entry {
            seq: g.next_seq,
            time_ms,
            machine: r.machine,
            service: r.service,
            peer: r.peer,
            user: r.user,
            operation: r.operation,
            outcome: r.outcome,
            latency_us: r.latency.as_micros() as u64,
        };
        g.next_seq += 1;
        if let Some(sink) = g.sink.as_mut() {
            if let Ok(line) = serde_json::to_string(&entry) {
                if writeln!(sink, "{line}").and_then(|_| sink.flush()).is_err() {
                    tracing::warn!("journal sink write failed; disabling the sink");
                    g.sink = None;
                }
            }
        }
        if g.entries.len() >= self.capacity {
            g.entries.pop_front();
        }
        g.entries.push_back(entry);
    }

    pub fn query(&self, q: &Query) -> Vec<Entry> {
        let Ok(g) = self.inner.lock() else {
            return Vec::new();
        };
        let limit = q.limit.unwrap_or(usize::MAX);
        let mut out: Vec<Entry> = g.entries.iter().filter(|e| q.matches(e)).cloned().collect();
        if out.len() > limit {
            out.drain(..out.len() - limit);
        }
        out
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map(|g| g.entries.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&self) {
        if let Ok(mut g) = self.inner.lock() {
            g.entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_queryable() {
        let j = Journal::new(3);
        for i in 0..5 {
            j.record(Record {
                machine: format!("m{}", i % 2),
                service: "ipmi".into(),
                operation: format!("op{i}"),
                outcome: "ok".into(),
                ..Default::default()
            });
        }
        assert_eq!(j.len(), 3);
        let all = j.query(&Query::default());
        assert_eq!(all.first().map(|e| e.seq), Some(3));
        let m0 = j.query(&Query {
            machine: Some("m0".into()),
            ..Default::default()
        });
        assert_eq!(m0.len(), 2);
        let after = j.query(&Query {
            after: Some(4),
            ..Default::default()
        });
        assert_eq!(after.len(), 1);
        let limited = j.query(&Query {
            limit: Some(1),
            ..Default::default()
        });
        assert_eq!(limited[0].seq, 5);
    }
}
