//! Outbound connections from a machine's own address.
//!
//! Why: the load balancer dials its pool members and the VMM server dials
//! its hosts, and the peer must see the *machine's* address (127.77.0.2),
//! not whatever address the OS would pick (127.0.0.1): services journal,
//! authorize and answer by the peer address, as real ones do. So the
//! socket is bound to `local:0` before connecting, with
//! IP_BIND_ADDRESS_NO_PORT so that the port is picked at connect.
//!
//! Why the loopback check here and not only in the scenario validator:
//! a target comes from peer input or scenario options at run time, and
//! fakedc must never reach a real machine by accident. Outside loopback is
//! refused before any socket exists unless the network was started with
//! [`NetConfig::allow_non_loopback`](crate::NetConfig) (the CLI's
//! `--allow-non-loopback`).

use crate::NetHandle;
use fakedc_model::{MachineId, Record, ServiceKind};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};

/// Connects to `target` from `local` (an ephemeral port on it), within
/// `timeout`. Loopback only: a non-loopback `local` or `target` is refused
/// with `PermissionDenied` before any packet is sent. Services use
/// [`NetHandle::connect_from`], which takes the machine's address, honours
/// `allow_non_loopback` and journals the connection.
pub async fn connect_from(
    local: IpAddr,
    target: SocketAddr,
    timeout: Duration,
) -> io::Result<TcpStream> {
    dial(local, target, timeout, false).await
}

fn is_loopback(ip: IpAddr) -> bool {
    // `::ffff:127.0.0.1` is loopback too.
    ip.to_canonical().is_loopback()
}

pub(crate) async fn dial(
    local: IpAddr,
    target: SocketAddr,
    timeout: Duration,
    allow_non_loopback: bool,
) -> io::Result<TcpStream> {
    if !allow_non_loopback {
        for (what, ip) in [("target", target.ip()), ("local address", local)] {
            if !is_loopback(ip) {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "refusing to connect from {local} to {target}: the {what} {ip} is not a \
                         loopback address (fakedc only talks to loopback unless started with \
                         --allow-non-loopback)"
                    ),
                ));
            }
        }
    }
    if local.is_ipv4() != target.is_ipv4() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot connect from {local} to {target}: address families differ"),
        ));
    }
    let sock = match local {
        IpAddr::V4(_) => TcpSocket::new_v4(),
        IpAddr::V6(_) => TcpSocket::new_v6(),
    }?;
    // The port is chosen at connect, where the kernel only needs the
    // 4-tuple to be unique, instead of at bind, where it must find a port
    // no socket on the address holds. Why: once the address's ports sit in
    // TIME_WAIT (a load balancer that closes first towards its members,
    // ~28,000 connections a minute), bind's search costs milliseconds per
    // connection (4.3 ms of CPU measured, against 29 us with this) and
    // then fails. Best effort: a kernel without it (before 4.2) binds as
    // before.
    #[cfg(target_os = "linux")]
    let _ =
        nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::IpBindAddressNoPort, &true);
    sock.bind(SocketAddr::new(local, 0)).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot bind {local} to connect to {target}: {e}"),
        )
    })?;
    let stream = match tokio::time::timeout(timeout, sock.connect(target)).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connecting from {local} to {target} timed out after {timeout:?}"),
            ))
        }
    };
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

impl NetHandle {
    /// Connects to `target` from `machine`'s own address on behalf of its
    /// `service` (the journal entry's service; the machine must be up for
    /// it: a dark host dials nothing), within `timeout`. Loopback targets
    /// only unless [`NetConfig::allow_non_loopback`](crate::NetConfig).
    /// Journaled as `dial` with the target as peer, like the listeners
    /// journal `connect`.
    pub async fn connect_from(
        &self,
        machine: MachineId,
        service: ServiceKind,
        target: SocketAddr,
        timeout: Duration,
    ) -> io::Result<TcpStream> {
        let model = &self.shared.model;
        let m = model.machines().get(machine.0).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no machine with id {}", machine.0),
            )
        })?;
        let journal = |outcome: String| {
            model.journal.record(Record {
                machine: m.name.clone(),
                service: service.name().into(),
                peer: Some(target),
                operation: "dial".into(),
                outcome,
                ..Default::default()
            })
        };
        if !model.endpoint_up(machine, service, model.clock.now()) {
            journal("refused: machine is down".into());
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                format!(
                    "machine '{}' is down: it cannot connect to {target}",
                    m.name
                ),
            ));
        }
        match dial(
            m.address,
            target,
            timeout,
            self.shared.cfg.allow_non_loopback,
        )
        .await
        {
            Ok(s) => {
                let from = s
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_else(|_| m.address.to_string());
                journal(format!("connected from {from}"));
                Ok(s)
            }
            Err(e) => {
                journal(format!("failed: {e}"));
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The source port is left to connect (IP_BIND_ADDRESS_NO_PORT), and
    /// the connection still comes from the machine's address.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn dials_from_the_address_with_the_port_chosen_at_connect() {
        let member = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = member.local_addr().unwrap();
        let local: IpAddr = "127.93.0.77".parse().unwrap();
        let s = connect_from(local, target, Duration::from_secs(3))
            .await
            .unwrap();
        let (_c, seen) = member.accept().await.unwrap();
        assert_eq!(seen, s.local_addr().unwrap());
        assert_eq!(seen.ip(), local);
        let no_port =
            nix::sys::socket::getsockopt(&s, nix::sys::socket::sockopt::IpBindAddressNoPort)
                .unwrap();
        assert!(
            no_port,
            "IP_BIND_ADDRESS_NO_PORT is set on the dialled socket"
        );
    }
}
