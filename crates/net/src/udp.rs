//! UDP endpoints: the datagram half of the network layer (IPMI's 623).
//! Receiving applies the machine's fault rules; services never bind.

use crate::{bind_error, NetError};
use fakedc_model::{FaultKind, MachineId, Model, Record, ServiceKind};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing::debug;

/// Binds a UDP socket.
pub fn bind_udp(addr: SocketAddr) -> Result<UdpSocket, NetError> {
    let std = std::net::UdpSocket::bind(addr).map_err(|e| bind_error("udp", addr, e))?;
    std.set_nonblocking(true)
        .map_err(|e| bind_error("udp", addr, e))?;
    UdpSocket::from_std(std).map_err(|e| bind_error("udp", addr, e))
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

    /// [`UdpEndpoint::recv`] of a datagram of at most `MAX` bytes, returned
    /// as its own bytes. No buffer is held while the endpoint waits: it waits
    /// for readiness, then reads into a stack buffer that no await outlives,
    /// so an idle fleet (10,000 BMCs, one endpoint each) holds no receive
    /// buffers. Longer datagrams are truncated, as `recv` truncates them.
    pub async fn recv_datagram<const MAX: usize>(&self) -> Option<(Vec<u8>, SocketAddr)> {
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                r = self.socket.readable() => if let Err(e) = r {
                    debug!(error = %e, "udp readiness error");
                    continue;
                },
            }
            let got = {
                let mut buf = [0u8; MAX];
                match self.socket.try_recv_from(&mut buf) {
                    Ok((n, peer)) => Some((buf[..n].to_vec(), peer)),
                    Err(e) => {
                        if e.kind() != std::io::ErrorKind::WouldBlock {
                            debug!(error = %e, "udp recv error");
                        }
                        None
                    }
                }
            };
            let Some((data, peer)) = got else { continue };
            if self.admit(peer).await {
                return Some((data, peer));
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
