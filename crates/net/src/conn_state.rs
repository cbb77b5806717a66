//! Per-connection protocol state as a type map.
//!
//! Why a map and not one slot: several services can share one connection
//! (WinRM and BITS on a Windows host's port 80, SMASH and Redfish on a
//! BMC's 443), and an NTLM context authenticates the connection for the
//! service that ran the handshake. One `Box<dyn Any>` slot let the second
//! service overwrite the first's context; here each (type, key) pair has
//! its own entry, the key being the protocol's name.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

type Key = (TypeId, &'static str);

/// The state services keep with one TCP connection.
#[derive(Default)]
pub struct ConnState {
    map: Mutex<HashMap<Key, Box<dyn Any + Send>>>,
    /// Set by [`ConnState::reset_on_close`].
    reset: AtomicBool,
    /// Set by [`ConnState::last_writes`].
    last_writes: AtomicBool,
}

impl std::fmt::Debug for ConnState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.map.lock().map(|m| m.len()).unwrap_or(0);
        write!(f, "ConnState({n} entries)")
    }
}

impl ConnState {
    /// Runs `f` on the `T` stored under `key`, made with `Default` on first
    /// use. The lock is held only for `f`: never await inside it.
    pub fn with<T: Any + Send + Default, R>(
        &self,
        key: &'static str,
        f: impl FnOnce(&mut T) -> R,
    ) -> R {
        let mut g = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let slot = g
            .entry((TypeId::of::<T>(), key))
            .or_insert_with(|| Box::new(T::default()));
        match slot.downcast_mut::<T>() {
            Some(t) => f(t),
            // Unreachable: the entry's TypeId is T's. A fresh value keeps it total.
            None => f(&mut T::default()),
        }
    }

    /// Takes the `T` under `key` out (for state held across awaits); put it
    /// back with [`ConnState::put`]. A fresh `T` when there is none.
    pub fn take<T: Any + Send + Default>(&self, key: &'static str) -> Box<T> {
        let mut g = self.map.lock().unwrap_or_else(|p| p.into_inner());
        g.remove(&(TypeId::of::<T>(), key))
            .and_then(|b| b.downcast::<T>().ok())
            .unwrap_or_default()
    }

    /// Stores `value` under `key`, replacing what was there.
    pub fn put<T: Any + Send>(&self, key: &'static str, value: Box<T>) {
        let mut g = self.map.lock().unwrap_or_else(|p| p.into_inner());
        g.insert((TypeId::of::<T>(), key), value);
    }

    /// Ends the connection with a reset (RST, SO_LINGER 0) instead of a
    /// FIN when the service drops its stream. Why: a device that refuses a
    /// connection it already accepted resets it (a BIG-IP iRule's `reject`
    /// does), and clients tell a reset from a close (curl: 56, not 52).
    pub fn reset_on_close(&self) {
        self.reset.store(true, Ordering::Relaxed);
    }

    /// Whether [`ConnState::reset_on_close`] was called.
    pub fn resets(&self) -> bool {
        self.reset.load(Ordering::Relaxed)
    }

    /// Says that what the service writes next is the last it sends before
    /// it shuts its sending side down or drops the stream: the accepted
    /// TCP stream then sends it with MSG_MORE, so that the kernel holds it
    /// until the FIN and sends both in one segment. Why: a proxy that has
    /// read a member's last bytes and its end of stream together (a
    /// `Connection: close` answer) otherwise sends the client a data
    /// segment and then a lone FIN, and the client is woken twice; HAProxy
    /// merges them the same way. Only promise this when the shutdown or
    /// the drop follows the write at once: held bytes wait for it.
    pub fn last_writes(&self) {
        self.last_writes.store(true, Ordering::Relaxed);
    }

    /// Whether [`ConnState::last_writes`] was called.
    pub fn writes_are_last(&self) -> bool {
        self.last_writes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Debug, PartialEq)]
    struct Auth(u32);

    #[test]
    fn two_keys_of_one_type_do_not_collide() {
        let s = ConnState::default();
        s.with::<Auth, _>("wsman", |a| a.0 = 1);
        s.with::<Auth, _>("bits", |a| a.0 = 2);
        assert_eq!(s.with::<Auth, _>("wsman", |a| a.0), 1);
        let b = s.take::<Auth>("bits");
        assert_eq!(*b, Auth(2));
        assert_eq!(s.with::<Auth, _>("bits", |a| a.0), 0);
        s.put("bits", Box::new(Auth(7)));
        assert_eq!(s.with::<Auth, _>("bits", |a| a.0), 7);
        s.with::<u64, _>("wsman", |n| *n += 5);
        assert_eq!(s.with::<Auth, _>("wsman", |a| a.0), 1);
    }
}
