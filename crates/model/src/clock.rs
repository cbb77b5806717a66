//! The one clock of a datacenter.
//!
//! Every time read in the model, the codecs' callers and the services goes
//! through the [`Clock`] the model holds, so a test can move time forward
//! ([`Clock::advance`], `Datacenter::advance`) instead of sleeping: a
//! boot delay, a session idle timeout, a nonce's expiry or a BITS session's
//! expiry all follow it. Only this module and the network layer's timers
//! (which must sleep in real time) call `Instant::now`/`SystemTime::now`;
//! `clippy.toml`'s `disallowed-methods` enforces it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Real time plus an offset that only grows.
#[derive(Debug, Default)]
pub struct Clock {
    /// Nanoseconds added to real time by [`Clock::advance`].
    offset_ns: AtomicU64,
}

impl Clock {
    pub fn new() -> Clock {
        Clock::default()
    }

    /// How far this clock has been advanced past real time.
    pub fn offset(&self) -> Duration {
        Duration::from_nanos(self.offset_ns.load(Ordering::Relaxed))
    }

    /// Monotonic now (for deadlines and durations).
    #[allow(clippy::disallowed_methods)] // the one monotonic read
    pub fn now(&self) -> Instant {
        Instant::now() + self.offset()
    }

    /// Time since `t` (an earlier [`Clock::now`]) on this clock.
    pub fn since(&self, t: Instant) -> Duration {
        self.now().saturating_duration_since(t)
    }

    /// Wall-clock now (for timestamps peers see).
    #[allow(clippy::disallowed_methods)] // the one wall-clock read
    pub fn wall(&self) -> SystemTime {
        SystemTime::now() + self.offset()
    }

    /// Seconds since the Unix epoch (event logs, SEL).
    pub fn unix_secs(&self) -> u64 {
        self.wall()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    /// Milliseconds since the Unix epoch (journal entries).
    pub fn unix_millis(&self) -> u64 {
        self.wall()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    /// Moves time forward by `by` (never backward: deadlines computed
    /// earlier stay ordered).
    pub fn advance(&self, by: Duration) {
        let ns = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .offset_ns
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| {
                Some(o.saturating_add(ns))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_both_reads() {
        let c = Clock::new();
        let (t0, w0) = (c.now(), c.unix_secs());
        c.advance(Duration::from_secs(3600));
        assert!(c.now() >= t0 + Duration::from_secs(3600));
        assert!(c.unix_secs() >= w0 + 3600);
        assert_eq!(c.offset(), Duration::from_secs(3600));
    }
}
