//! UDP endpoints: the datagram half of the network layer (IPMI's 623).
//! Receiving applies the machine's fault rules; services never bind.
//!
//! Two ways to receive. [`UdpEndpoint::recv`] is the plain one. The hot path of a
//! request/response service (IPMI) is [`UdpEndpoint::readable`] then
//! [`UdpEndpoint::try_drain`]: one `recvmmsg` takes every datagram queued
//! (up to [`BATCH`]) into this thread's receive slots and hands each to the
//! service synchronously, and a short batch proves the queue empty, so no
//! second receive is spent learning that it would block. Answers go out with
//! [`UdpEndpoint::try_send_to`] (one `sendto`, no await) and fall back to
//! the awaited [`UdpEndpoint::send_to`] only when the socket's buffer is
//! full. The network starts every static UDP service on one of its
//! connection threads (`threads.rs`), the socket registered there, so a
//! datagram is received, answered and waited for again by one thread, with
//! no hand-off between a multi-thread runtime's workers (a futex wake and
//! an eventfd write per request, measured: a third of the server's CPU per
//! request was context switches).

use crate::{bind_error, NetError};
use fakedc_model::{FaultKind, MachineId, Model, Record, ServiceKind};
use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing::debug;

/// Datagrams one [`UdpEndpoint::try_drain`] receives at most (one
/// `recvmmsg`); a full batch means more may be queued.
pub const BATCH: usize = 8;
/// Bytes of each receive slot of [`UdpEndpoint::try_drain`]: longer
/// datagrams are truncated, as `recv` truncates them.
pub const DATAGRAM_MAX: usize = 2048;

/// Binds a UDP socket.
pub fn bind_udp(addr: SocketAddr) -> Result<UdpSocket, NetError> {
    let std = bind_udp_std(addr)?;
    UdpSocket::from_std(std).map_err(|e| bind_error("udp", addr, e))
}

/// Binds a non-blocking UDP socket not yet registered with any runtime's
/// reactor: the thread that will serve it registers it
/// (`UdpSocket::from_std` there).
pub(crate) fn bind_udp_std(addr: SocketAddr) -> Result<std::net::UdpSocket, NetError> {
    let std = std::net::UdpSocket::bind(addr).map_err(|e| bind_error("udp", addr, e))?;
    std.set_nonblocking(true)
        .map_err(|e| bind_error("udp", addr, e))?;
    Ok(std)
}

/// A datagram endpoint handed to a UDP service; receiving applies the fault
/// rules.
pub struct UdpEndpoint {
    pub socket: Arc<UdpSocket>,
    pub machine: MachineId,
    pub machine_name: String,
    pub service: ServiceKind,
    pub model: Arc<Model>,
    pub shutdown: CancellationToken,
}

impl UdpEndpoint {
    /// Receives the next datagram that the fault rules let through; `None`
    /// once fakedc shuts down.
    pub async fn recv(&self, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        loop {
            let r = tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                r = self.socket.recv_from(buf) => r,
            };
            let (n, peer) = match r {
                Ok(x) => x,
                Err(e) => {
                    // ICMP errors from earlier sends surface here on Linux;
                    // they concern one peer, not the socket.
                    debug!(error = %e, "udp recv error");
                    continue;
                }
            };
            if self.admit(peer).await {
                return Some((n, peer));
            }
        }
    }

    /// Waits until the socket may hold a datagram (readiness; the next
    /// [`Self::try_drain`] finds out). Cancel-safe; does not watch shutdown.
    pub async fn readable(&self) {
        if let Err(e) = self.socket.readable().await {
            debug!(error = %e, "udp readiness error");
        }
    }

    /// Receives the datagrams queued right now, up to [`BATCH`] in one
    /// `recvmmsg`, and calls `f` with each (truncated to [`DATAGRAM_MAX`]).
    /// Nothing is held afterwards: the receive slots belong to this thread
    /// and are reused by the next call. Fault rules are not applied here:
    /// while any exist it receives nothing and answers
    /// [`Drained::Faults`], and the caller takes [`Self::try_recv_admitted`].
    pub fn try_drain(&self, mut f: impl FnMut(&[u8], SocketAddr)) -> Drained {
        if !self.model.faults.is_empty() {
            return Drained::Faults;
        }
        SLOTS.with(|cell| {
            // Only a callback that drained again from inside `f` could find
            // the slots taken; it gets the plain path.
            let Ok(mut slots) = cell.try_borrow_mut() else {
                return Drained::Faults;
            };
            let slots = slots.get_or_insert_with(RecvSlots::new);
            let mut got = [(0usize, None::<SocketAddr>); BATCH];
            let mut short = 0usize;
            let r = self.socket.try_io(Interest::READABLE, || {
                let (n, drained) = slots.receive(&self.socket, &mut got)?;
                if drained {
                    // A short batch proves the queue empty: answering
                    // WouldBlock makes tokio clear the readiness now
                    // (only if no event came in since it was seen), which
                    // saves the receive that would otherwise learn it.
                    short = n;
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(n)
                }
            });
            let (n, more) = match r {
                Ok(n) => (n, true),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => (short, false),
                Err(e) => {
                    // ICMP errors from earlier sends surface here on Linux;
                    // they concern one peer, not the socket.
                    debug!(error = %e, "udp recv error");
                    (0, true)
                }
            };
            for (i, (len, peer)) in got.iter().take(n).enumerate() {
                if let (Some(peer), Some(buf)) = (peer, slots.bufs.get(i)) {
                    f(&buf[..(*len).min(DATAGRAM_MAX)], *peer);
                }
            }
            if more {
                Drained::More
            } else {
                Drained::Empty
            }
        })
    }

    /// One queued datagram of at most `MAX` bytes, without waiting, put
    /// through the fault rules (drops journaled, delays slept): the path
    /// [`Self::try_drain`] leaves to its caller while rules exist. `Ok(None)`:
    /// a rule dropped it; `Err(())`: nothing is queued.
    pub async fn try_recv_admitted<const MAX: usize>(
        &self,
    ) -> Result<Option<(Vec<u8>, SocketAddr)>, ()> {
        let got = {
            let mut buf = [0u8; MAX];
            match self.socket.try_recv_from(&mut buf) {
                Ok((n, peer)) => Some((buf[..n].to_vec(), peer)),
                Err(e) => {
                    if e.kind() != io::ErrorKind::WouldBlock {
                        debug!(error = %e, "udp recv error");
                        return Ok(None);
                    }
                    None
                }
            }
        };
        let Some((data, peer)) = got else {
            return Err(());
        };
        Ok(self.admit(peer).await.then_some((data, peer)))
    }

    /// Sends without waiting; false when the socket's send buffer is full
    /// (then [`Self::send_to`] waits for room). Send errors (an unreachable
    /// peer) are logged and count as sent: UDP does not retry them.
    pub fn try_send_to(&self, data: &[u8], peer: SocketAddr) -> bool {
        match self.socket.try_send_to(data, peer) {
            Ok(_) => true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(e) => {
                debug!(error = %e, %peer, "udp send failed");
                true
            }
        }
    }

    /// Applies the fault rules to a datagram from `peer`: false when a rule
    /// drops it (journaled), after any delay a rule adds.
    async fn admit(&self, peer: SocketAddr) -> bool {
        if self.model.faults.is_empty() {
            return true;
        }
        let mut delay = Duration::ZERO;
        let mut dropped = false;
        for f in self
            .model
            .faults
            .matching(&self.machine_name, self.service.name())
        {
            match f {
                FaultKind::Refuse | FaultKind::Blackhole => dropped = true,
                FaultKind::Drop { probability } => dropped |= rand::random::<f64>() < probability,
                FaultKind::Delay { ms, jitter_ms } => {
                    delay += Duration::from_millis(
                        ms + if jitter_ms > 0 {
                            rand::random::<u64>() % (jitter_ms + 1)
                        } else {
                            0
                        },
                    )
                }
                _ => {}
            }
        }
        if dropped {
            self.model.journal.record(Record {
                machine: self.machine_name.clone(),
                service: self.service.name().into(),
                peer: Some(peer),
                operation: "datagram".into(),
                outcome: "dropped by fault rule".into(),
                ..Default::default()
            });
            return false;
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        true
    }

    pub async fn send_to(&self, data: &[u8], peer: SocketAddr) {
        if let Err(e) = self.socket.send_to(data, peer).await {
            debug!(error = %e, %peer, "udp send failed");
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }
}

/// What [`UdpEndpoint::try_drain`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// The queue is empty; the readiness is cleared, so wait with
    /// [`UdpEndpoint::readable`].
    Empty,
    /// A full batch (or a receive error): call again.
    More,
    /// Fault rules exist: receive with [`UdpEndpoint::try_recv_admitted`].
    Faults,
}

thread_local! {
    /// This thread's receive slots for [`UdpEndpoint::try_drain`]: made on
    /// first use, then reused by every endpoint served on the thread, so
    /// an idle endpoint holds no buffer.
    static SLOTS: RefCell<Option<RecvSlots>> = const { RefCell::new(None) };
}

/// [`BATCH`] buffers of [`DATAGRAM_MAX`] bytes and, on Linux, the
/// `recvmmsg` headers over them.
struct RecvSlots {
    bufs: Box<[[u8; DATAGRAM_MAX]]>,
    #[cfg(target_os = "linux")]
    headers: nix::sys::socket::MultiHeaders<nix::sys::socket::SockaddrStorage>,
}

impl RecvSlots {
    fn new() -> RecvSlots {
        RecvSlots {
            bufs: vec![[0u8; DATAGRAM_MAX]; BATCH].into_boxed_slice(),
            #[cfg(target_os = "linux")]
            headers: nix::sys::socket::MultiHeaders::preallocate(BATCH, None),
        }
    }

    /// One non-blocking `recvmmsg` into the slots: each datagram's length
    /// and sender into `got`; how many came, and whether that proves the
    /// queue empty (fewer than asked for). WouldBlock when none.
    #[cfg(target_os = "linux")]
    fn receive(
        &mut self,
        socket: &UdpSocket,
        got: &mut [(usize, Option<SocketAddr>); BATCH],
    ) -> io::Result<(usize, bool)> {
        use nix::sys::socket::{recvmmsg, MsgFlags, SockaddrStorage};
        use std::io::IoSliceMut;
        use std::os::fd::AsRawFd;
        let mut slices: [[IoSliceMut<'_>; 1]; BATCH] = {
            let mut it = self.bufs.iter_mut();
            std::array::from_fn(|_| {
                [IoSliceMut::new(
                    it.next().map_or(&mut [][..], |b| &mut b[..]),
                )]
            })
        };
        let results = recvmmsg(
            socket.as_raw_fd(),
            &mut self.headers,
            slices.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        )
        .map_err(io::Error::from)?;
        let mut n = 0;
        for (slot, msg) in got.iter_mut().zip(results) {
            let addr: Option<SockaddrStorage> = msg.address;
            let peer = addr.and_then(|a| {
                a.as_sockaddr_in()
                    .map(|v4| SocketAddr::from(*v4))
                    .or_else(|| a.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6)))
            });
            *slot = (msg.bytes, peer);
            n += 1;
        }
        Ok((n, n < BATCH))
    }

    /// Elsewhere: one datagram per call, which proves nothing about the
    /// queue (the next call's WouldBlock does).
    #[cfg(not(target_os = "linux"))]
    fn receive(
        &mut self,
        socket: &UdpSocket,
        got: &mut [(usize, Option<SocketAddr>); BATCH],
    ) -> io::Result<(usize, bool)> {
        let buf = &mut self.bufs[0];
        let (n, peer) = socket.try_recv_from(&mut buf[..])?;
        got[0] = (n, Some(peer));
        Ok((1, false))
    }
}
