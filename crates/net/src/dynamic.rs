//! Endpoints bound and released at run time.
//!
//! Why: the RPC endpoint mapper hands out ports while it runs (a client
//! asks for an interface, the mapper answers with a port it just opened),
//! and a load balancer's virtual servers come and go with its
//! configuration; neither is in the scenario's endpoint list that
//! [`Network::start`](crate::Network::start) binds. Such an endpoint is
//! still a machine's endpoint: bound on the machine's address, closed
//! while the host is dark and re-bound on the same port when it boots,
//! subject to the fault rules and connection limit of its service kind,
//! journaled, and closed at shutdown. So a dynamic TCP endpoint runs the
//! very supervisor task a static one does (`Supervisor` in `lib.rs`),
//! under a stop token of its own (a child of the shutdown token) that its
//! guard cancels.

use crate::{
    bind_error, bind_tcp, bind_udp, BoundEndpoint, Handler, NetError, NetHandle, Shared,
    Supervisor, UdpEndpoint,
};
use fakedc_model::{MachineId, Record, ServiceKind};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tracing::{info_span, Instrument};

/// A listener (or datagram socket) bound at run time by
/// [`NetHandle::bind`]. Dropping it releases the endpoint: the listener is
/// closed and its connections are dropped, as when the host goes dark.
/// [`DynamicEndpoint::release`] does the same and returns once the port is
/// closed.
#[must_use = "dropping a DynamicEndpoint releases it at once"]
pub struct DynamicEndpoint {
    endpoint: BoundEndpoint,
    stop: CancellationToken,
    /// Resolves (with an error: the sender is dropped) once the endpoint's
    /// task has ended and its socket is closed.
    done: Option<oneshot::Receiver<()>>,
}

impl std::fmt::Debug for DynamicEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamicEndpoint")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl DynamicEndpoint {
    /// The address it is bound to (the port the OS chose for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.endpoint.addr
    }

    pub fn endpoint(&self) -> &BoundEndpoint {
        &self.endpoint
    }

    /// Closes the endpoint and waits until its socket is closed and its
    /// connections are dropped (dropping the guard closes it in the
    /// background instead).
    pub async fn release(mut self) {
        self.stop.cancel();
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }
}

impl Drop for DynamicEndpoint {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl NetHandle {
    /// Binds an endpoint of `machine` at run time, on the machine's address
    /// and `port`, serving `handler`; `tls` wraps each TCP connection in
    /// TLS with the machine's leaf, as the static TLS listeners do.
    ///
    /// - `service` is the endpoint kind it counts as: the journal names it,
    ///   fault rules on it apply, and it decides whether the endpoint
    ///   follows the host's power (OS services do; BMC services do not).
    /// - The transport is the handler's: [`Handler::Tcp`] and
    ///   [`Handler::Http`] listen on TCP; [`Handler::Udp`] binds a datagram
    ///   socket whose `run` lasts until release (datagram endpoints, like
    ///   the static ones, do not follow power: IPMI's are on standby
    ///   power).
    /// - `port` 0 lets the OS choose (read it from
    ///   [`DynamicEndpoint::addr`]); another port is shifted by the port
    ///   offset, and an ephemeral network binds port 0 for it, exactly as
    ///   static endpoints are.
    ///
    /// Journaled as `listen` `open` now and `listen` `closed: released` at
    /// release; power changes in between are journaled as for static
    /// listeners. Shutdown closes it and waits for it. Works from any
    /// thread: binding and the endpoint's task use the network's runtime.
    pub fn bind(
        &self,
        machine: MachineId,
        service: ServiceKind,
        port: u16,
        handler: Handler,
        tls: bool,
    ) -> Result<DynamicEndpoint, NetError> {
        let shared = &self.shared;
        if shared.shutdown.is_cancelled() {
            return Err(NetError::ShuttingDown);
        }
        let m = shared
            .model
            .machines()
            .get(machine.0)
            .ok_or(NetError::UnknownMachine(machine.0))?;
        let port = if shared.cfg.ephemeral || port == 0 {
            0
        } else {
            port.checked_add(shared.cfg.port_offset)
                .ok_or(NetError::PortRange {
                    port,
                    offset: shared.cfg.port_offset,
                })?
        };
        let addr = SocketAddr::new(m.address, port);
        // tokio sockets register with the runtime they are made in.
        let _rt = shared.runtime.enter();
        let stop = shared.shutdown.child_token();
        let (task, local): (crate::BoxFuture<()>, SocketAddr) = match &handler {
            Handler::Udp(svc) => {
                if tls {
                    return Err(NetError::Unsupported {
                        machine: m.name.clone(),
                        what: format!("{service} on UDP {addr} cannot serve TLS"),
                    });
                }
                let sock = Arc::new(bind_udp(addr)?);
                let local = sock.local_addr().map_err(|e| bind_error("udp", addr, e))?;
                let endpoint = UdpEndpoint {
                    socket: sock,
                    machine: m.id,
                    machine_name: m.name.clone(),
                    service,
                    model: shared.model.clone(),
                    shutdown: stop.clone(),
                };
                (svc.clone().run(endpoint), local)
            }
            Handler::Tcp(_) | Handler::Http(_) => {
                if tls && shared.cfg.ca.is_none() {
                    return Err(NetError::NoCa {
                        machine: m.name.clone(),
                    });
                }
                let listener = bind_tcp(addr)?;
                let local = listener
                    .local_addr()
                    .map_err(|e| bind_error("tcp", addr, e))?;
                let sup = Supervisor::new(
                    shared,
                    m,
                    vec![service],
                    local,
                    tls,
                    handler.clone(),
                    stop.clone(),
                );
                (Box::pin(sup.run(listener)), local)
            }
        };
        let endpoint = BoundEndpoint {
            machine: m.id,
            service,
            addr: local,
        };
        let id = shared.next_dynamic.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut d) = shared.dynamic.lock() {
            d.push((id, endpoint.clone()));
        }
        journal(shared, &m.name, service, "open");
        let (done_tx, done_rx) = oneshot::channel::<()>();
        let span = info_span!("listener", proto = service.name(), addr = %local, machine = %m.name, dynamic = true);
        let finish = {
            let shared = shared.clone();
            let name = m.name.clone();
            async move {
                // The socket is closed once `task` has returned.
                task.await;
                if let Ok(mut d) = shared.dynamic.lock() {
                    d.retain(|(i, _)| *i != id);
                }
                if !shared.shutdown.is_cancelled() {
                    journal(&shared, &name, service, "closed: released");
                }
                drop(done_tx);
            }
        };
        shared
            .tasks
            .spawn_on(finish.instrument(span), &shared.runtime);
        Ok(DynamicEndpoint {
            endpoint,
            stop,
            done: Some(done_rx),
        })
    }

    /// The endpoints bound at run time and not yet released.
    pub fn dynamic_endpoints(&self) -> Vec<BoundEndpoint> {
        self.shared
            .dynamic
            .lock()
            .map(|d| d.iter().map(|(_, e)| e.clone()).collect())
            .unwrap_or_default()
    }
}

fn journal(shared: &Shared, machine: &str, service: ServiceKind, outcome: &str) {
    shared.model.journal.record(Record {
        machine: machine.to_string(),
        service: service.name().into(),
        peer: None,
        operation: "listen".into(),
        outcome: outcome.into(),
        ..Default::default()
    });
}
