//! The one network layer of fakedc: the only code that binds sockets.
//!
//! For every endpoint of every machine whose service is registered, it binds
//! a TCP listener or UDP socket on the machine's own loopback address,
//! applies TLS, connection limits and fault rules, opens and closes a host's
//! OS listeners as the model's power state changes, and shuts down
//! gracefully. Protocol services receive accepted connections, datagrams or
//! HTTP requests; they never bind.
//!
//! Services that need more than the static listeners do it through this
//! layer too, so the loopback rule, the journal and shutdown still hold:
//! TLS started mid-connection ([`ConnInfo::tls_upgrade`], `tls.rs`),
//! connections dialled from a machine's own address ([`NetHandle::connect_from`],
//! `dial.rs`) and listeners bound and released at run time
//! ([`NetHandle::bind`], `dynamic.rs`).

pub mod auth;
pub mod client;
pub mod conn_state;
pub mod dial;
pub mod dynamic;
pub mod fault_io;
pub mod http;
pub mod probe;
pub mod protocol;
pub mod threads;
pub mod tls;
pub mod udp;
pub mod url;

pub use conn_state::ConnState;
pub use dial::connect_from;
pub use dynamic::DynamicEndpoint;
pub use http::{full, Body, HttpRequest, HttpResponse, HttpService};
pub use probe::ProbeVerdict;
pub use protocol::{Mount, OptionsError, ProbeReport, ProbeTarget, Protocol, StartCtx, StartError};
pub use tls::CertAuthority;
pub use udp::{bind_udp, UdpEndpoint};

use fakedc_model::{FaultKind, MachineId, Model, Record, ServiceKind, Transport};
use fault_io::{FaultyStream, StreamFaults};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info_span, warn, Instrument};

/// Connections a listener accepts in one go once one is ready (see the
/// accept loop in `Supervisor::run`); bounded so that a flood cannot
/// starve the loop's power and shutdown checks.
const ACCEPT_BATCH: usize = 32;

/// A boxed future, as services return them.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A byte stream (plain TCP or TLS) handed to a TCP service.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}
pub type BoxIo = Box<dyn Io>;

/// What a service knows about the connection it serves.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub machine: MachineId,
    pub machine_name: String,
    /// The machine's role: which product answers (see
    /// [`fakedc_model::WebServer`]) and whose user-matching rule applies.
    pub role: fakedc_model::Role,
    pub service: ServiceKind,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub tls: bool,
    /// Cancelled when fakedc shuts down: finish the operation in flight and
    /// close.
    pub closing: CancellationToken,
    /// Per-connection protocol state (an NTLM context lives with its TCP
    /// connection), one entry per protocol and type; shared by every
    /// service on the connection.
    pub state: Arc<ConnState>,
    /// The machine's DNS name: the name its certificate carries, for TLS
    /// started mid-connection ([`ConnInfo::tls_upgrade`]).
    pub dns_name: String,
    /// The scenario CA, for TLS started mid-connection; `None` when the
    /// network was started without one.
    pub ca: Option<Arc<CertAuthority>>,
    /// The running network layer, for services that dial out from their
    /// machine's address or bind endpoints at run time (RPC dynamic ports,
    /// load-balancer virtual servers). `None` only in a `ConnInfo` made by
    /// hand outside [`Network`].
    pub net: Option<NetHandle>,
}

impl ConnInfo {
    /// Starts TLS on this connection's stream with the machine's
    /// certificate (see [`tls::upgrade`]): TDS after PRELOGIN, RDP after
    /// X.224, net.tcp after its upgrade request.
    pub async fn tls_upgrade(&self, io: BoxIo) -> io::Result<BoxIo> {
        tls::upgrade(io, self, self.upgrade_ca()?).await
    }

    /// [`ConnInfo::tls_upgrade`] keeping the stream's own type, for a
    /// service that wraps the stream in a framing adapter and must reach it
    /// after the handshake (TDS: see [`tls::upgrade_stream`]).
    pub async fn tls_upgrade_stream<S>(
        &self,
        io: S,
    ) -> io::Result<tokio_rustls::server::TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        tls::upgrade_stream(io, self, self.upgrade_ca()?).await
    }

    fn upgrade_ca(&self) -> io::Result<&CertAuthority> {
        self.ca.as_deref().ok_or_else(|| {
            io::Error::other(format!(
                "machine '{}': TLS upgrade without a CA configured",
                self.machine_name
            ))
        })
    }

    /// The running network layer; an error only for a `ConnInfo` made by
    /// hand (tests).
    pub fn net(&self) -> io::Result<&NetHandle> {
        self.net
            .as_ref()
            .ok_or_else(|| io::Error::other("this connection has no network handle"))
    }
}

/// An accepted connection.
pub struct Conn {
    pub io: BoxIo,
    pub info: Arc<ConnInfo>,
}

/// A stream service (SSH, TDS, SMB...).
pub trait TcpService: Send + Sync + 'static {
    fn serve(self: Arc<Self>, conn: Conn) -> BoxFuture<()>;
}

/// A datagram service (IPMI). `run` is called once per bound endpoint and
/// runs until the endpoint's shutdown token is cancelled.
pub trait UdpService: Send + Sync + 'static {
    fn run(self: Arc<Self>, endpoint: UdpEndpoint) -> BoxFuture<()>;
}

/// What is registered for a service kind.
#[derive(Clone)]
pub enum Handler {
    Tcp(Arc<dyn TcpService>),
    Udp(Arc<dyn UdpService>),
    Http(Arc<http::Router>),
}

/// The registry of implemented services. A kind with no handler is "not
/// served": nothing is bound for it and `check` says so.
#[derive(Clone, Default)]
pub struct Services {
    map: HashMap<ServiceKind, Handler>,
    started: Vec<StartHook>,
}

/// Called once the network is up (see [`Services::on_start`]).
pub type StartHook = Arc<dyn Fn(NetHandle) + Send + Sync>;

impl Services {
    /// Runs `hook` with the network's handle once every static endpoint is
    /// bound, inside the network's runtime. Why: a protocol whose endpoints
    /// come from its own state (the load balancer's persisted virtual
    /// servers) or that runs background work (health monitors) needs the
    /// handle before any peer connects, and `Protocol::start` runs before
    /// the network exists.
    pub fn on_start(&mut self, hook: StartHook) -> &mut Self {
        self.started.push(hook);
        self
    }

    pub fn tcp(&mut self, kind: ServiceKind, service: Arc<dyn TcpService>) -> &mut Self {
        self.map.insert(kind, Handler::Tcp(service));
        self
    }

    pub fn udp(&mut self, kind: ServiceKind, service: Arc<dyn UdpService>) -> &mut Self {
        self.map.insert(kind, Handler::Udp(service));
        self
    }

    /// Registers an HTTP service under a path prefix of a kind's port.
    /// Several services can share one port; the longest prefix wins.
    pub fn http(
        &mut self,
        kind: ServiceKind,
        prefix: &str,
        service: Arc<dyn HttpService>,
    ) -> &mut Self {
        let mut router = match self.map.get(&kind) {
            Some(Handler::Http(r)) => (**r).clone(),
            _ => http::Router::default(),
        };
        router.add(prefix, kind, service);
        self.map.insert(kind, Handler::Http(Arc::new(router)));
        self
    }

    pub fn serves(&self, kind: ServiceKind) -> bool {
        self.map.contains_key(&kind)
    }

    pub fn get(&self, kind: ServiceKind) -> Option<&Handler> {
        self.map.get(&kind)
    }
}

/// How to bind.
#[derive(Clone)]
pub struct NetConfig {
    /// Added to every port (ignored with `ephemeral`).
    pub port_offset: u16,
    /// Bind port 0 everywhere (tests).
    pub ephemeral: bool,
    /// Concurrent connections per endpoint; more are closed at once.
    pub max_connections: usize,
    pub ca: Option<Arc<CertAuthority>>,
    /// How long in-flight operations may take to finish at shutdown.
    pub shutdown_grace: Duration,
    /// Let services dial addresses outside loopback
    /// ([`NetHandle::connect_from`]). The CLI's `--allow-non-loopback`
    /// (which already lets the scenario use such addresses) is the only
    /// thing that should set it: fakedc is a test double and must not reach
    /// real machines by accident.
    pub allow_non_loopback: bool,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            port_offset: 0,
            ephemeral: false,
            max_connections: 256,
            ca: None,
            shutdown_grace: Duration::from_secs(3),
            allow_non_loopback: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot bind {transport} {addr}: permission denied for port {port} (ports below 1024 need root or CAP_NET_BIND_SERVICE: run as root, grant it with `setcap cap_net_bind_service=+ep $(which fakedc)`, or shift every port with --port-offset N, or use --ephemeral)")]
    Permission {
        transport: &'static str,
        addr: SocketAddr,
        port: u16,
    },
    #[error("cannot bind {transport} {addr}: address already in use (another fakedc or service holds it; try --port-offset N or --ephemeral)")]
    InUse {
        transport: &'static str,
        addr: SocketAddr,
    },
    #[error("cannot bind {transport} {addr}: {source}")]
    Other {
        transport: &'static str,
        addr: SocketAddr,
        source: io::Error,
    },
    #[error("machine '{machine}' port {port}: {what}")]
    Clash {
        machine: String,
        port: u16,
        what: String,
    },
    #[error("port {port} + offset {offset} is above 65535")]
    PortRange { port: u16, offset: u16 },
    #[error("machine '{machine}' serves TLS but no CA is configured")]
    NoCa { machine: String },
    #[error("TLS for machine '{machine}': {source}")]
    Tls {
        machine: String,
        source: tls::TlsError,
    },
    #[error("no machine with id {0}")]
    UnknownMachine(usize),
    #[error("the network layer is shutting down")]
    ShuttingDown,
    #[error("machine '{machine}': {what}")]
    Unsupported { machine: String, what: String },
}

fn bind_error(transport: &'static str, addr: SocketAddr, e: io::Error) -> NetError {
    match e.kind() {
        io::ErrorKind::PermissionDenied => NetError::Permission {
            transport,
            addr,
            port: addr.port(),
        },
        io::ErrorKind::AddrInUse => NetError::InUse { transport, addr },
        _ => NetError::Other {
            transport,
            addr,
            source: e,
        },
    }
}

/// Binds a TCP listener (with SO_REUSEADDR so a host's listener can be
/// re-bound on the same port after a power cycle).
pub fn bind_tcp(addr: SocketAddr) -> Result<TcpListener, NetError> {
    let sock = match addr.ip() {
        IpAddr::V4(_) => TcpSocket::new_v4(),
        IpAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| bind_error("tcp", addr, e))?;
    sock.set_reuseaddr(true)
        .map_err(|e| bind_error("tcp", addr, e))?;
    sock.bind(addr).map_err(|e| bind_error("tcp", addr, e))?;
    sock.listen(1024).map_err(|e| bind_error("tcp", addr, e))
}

/// One bound endpoint.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BoundEndpoint {
    pub machine: MachineId,
    pub service: ServiceKind,
    pub addr: SocketAddr,
}

/// The running network layer.
pub struct Network {
    shutdown: CancellationToken,
    tasks: TaskTracker,
    conns: TaskTracker,
    endpoints: Vec<BoundEndpoint>,
    wake: watch::Sender<u64>,
    grace: Duration,
    shared: Arc<Shared>,
    /// Stops the connection threads when the network is dropped.
    _threads: threads::ConnThreads,
}

/// Shared by every supervisor task, static or dynamic, and by every
/// [`NetHandle`].
struct Shared {
    model: Arc<Model>,
    cfg: NetConfig,
    shutdown: CancellationToken,
    /// Supervisor tasks (and UDP service runs): shutdown waits for them.
    tasks: TaskTracker,
    conns: TaskTracker,
    wake: watch::Receiver<u64>,
    /// Endpoints bound at run time and not yet released.
    dynamic: std::sync::Mutex<Vec<(u64, BoundEndpoint)>>,
    /// The endpoints bound at start, for [`NetHandle::resolve`].
    bound: std::sync::OnceLock<Vec<BoundEndpoint>>,
    next_dynamic: std::sync::atomic::AtomicU64,
    /// The runtime the network started on: dynamic endpoints are bound and
    /// run there whichever thread asks.
    runtime: tokio::runtime::Handle,
    /// Where accepted connections are served (`threads.rs`).
    conn_pool: threads::ConnPool,
}

/// A cloneable handle on the running network layer, for services: bind
/// endpoints at run time ([`NetHandle::bind`]) and dial out from a
/// machine's address ([`NetHandle::connect_from`]). Reached through
/// [`ConnInfo::net`] or [`Network::handle`]; it keeps the layer's shared
/// state alive, not its listeners (shutdown still closes everything).
#[derive(Clone)]
pub struct NetHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for NetHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetHandle").finish_non_exhaustive()
    }
}

impl NetHandle {
    /// Whether dialling outside loopback is allowed
    /// ([`NetConfig::allow_non_loopback`]).
    pub fn allow_non_loopback(&self) -> bool {
        self.shared.cfg.allow_non_loopback
    }

    /// The model the network serves.
    pub fn model(&self) -> &Arc<Model> {
        &self.shared.model
    }

    /// Where the scenario's `address:port` is really listening: the bound
    /// address of the static endpoint of the machine at that address whose
    /// configured port it is (ephemeral networks bind port 0, a port offset
    /// shifts every port), else the port shifted by the offset. Why: a
    /// load balancer's pool member is configured as `127.10.0.21:80`, as on
    /// a real network, and must reach that guest's web site wherever this
    /// run bound it.
    pub fn resolve(&self, target: SocketAddr) -> SocketAddr {
        let shared = &self.shared;
        if let Some(m) = shared
            .model
            .machines()
            .iter()
            .find(|m| m.address == target.ip())
        {
            let bound = shared.bound.get().map(Vec::as_slice).unwrap_or(&[]);
            for ep in m.endpoints.iter().filter(|e| e.port == target.port()) {
                if let Some(b) = bound
                    .iter()
                    .find(|b| b.machine == m.id && b.service == ep.service)
                {
                    return b.addr;
                }
            }
        }
        if shared.cfg.ephemeral {
            return target;
        }
        match target.port().checked_add(shared.cfg.port_offset) {
            Some(p) => SocketAddr::new(target.ip(), p),
            None => target,
        }
    }

    /// Cancelled when shutdown starts: background work started by a
    /// [`Services::on_start`] hook ends with it.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shared.shutdown.clone()
    }
}

impl Network {
    /// Binds every endpoint of every machine whose service is registered.
    /// Returns once all are bound: that is what "ready" means.
    pub async fn start(
        model: Arc<Model>,
        services: &Services,
        cfg: NetConfig,
    ) -> Result<Network, NetError> {
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let conns = TaskTracker::new();
        let (wake, wake_rx) = watch::channel(0u64);
        let (conn_pool, conn_threads) = threads::start();
        {
            let wake = wake.clone();
            model.on_change(move |_| {
                wake.send_modify(|g| *g = g.wrapping_add(1));
            });
        }
        let shared = Arc::new(Shared {
            model: model.clone(),
            cfg: cfg.clone(),
            shutdown: shutdown.clone(),
            tasks: tasks.clone(),
            conns: conns.clone(),
            wake: wake_rx,
            dynamic: std::sync::Mutex::new(Vec::new()),
            bound: std::sync::OnceLock::new(),
            next_dynamic: std::sync::atomic::AtomicU64::new(0),
            runtime: tokio::runtime::Handle::current(),
            conn_pool,
        });
        let mut endpoints = Vec::new();
        let mut pending = Vec::new();
        let mut pending_udp = Vec::new();
        for m in model.machines() {
            // Endpoints of this machine on one port and transport share a
            // listener when they can (HTTP routes by path); the scenario
            // validator refuses the rest, so a clash here is a bug.
            let mut groups: Vec<(u16, Transport, Vec<ServiceKind>, Handler)> = Vec::new();
            for ep in &m.endpoints {
                let Some(handler) = services.get(ep.service) else {
                    continue;
                };
                let t = ep.service.transport();
                match groups.iter_mut().find(|g| g.0 == ep.port && g.1 == t) {
                    None => groups.push((ep.port, t, vec![ep.service], handler.clone())),
                    Some(g) => {
                        let merged = match (&g.3, handler) {
                            (Handler::Http(a), Handler::Http(b))
                                if ep.service.tls() == g.2[0].tls() =>
                            {
                                let mut r = (**a).clone();
                                r.merge(b).map_err(|prefix| NetError::Clash {
                                    machine: m.name.clone(),
                                    port: ep.port,
                                    what: format!(
                                        "'{}' and '{}' both route {prefix}",
                                        g.2[0], ep.service
                                    ),
                                })?;
                                Handler::Http(Arc::new(r))
                            }
                            _ => {
                                return Err(NetError::Clash {
                                    machine: m.name.clone(),
                                    port: ep.port,
                                    what: format!(
                                        "'{}' and '{}' cannot share a listener",
                                        g.2[0], ep.service
                                    ),
                                })
                            }
                        };
                        g.2.push(ep.service);
                        g.3 = merged;
                    }
                }
            }
            for (cfg_port, transport, kinds, handler) in groups {
                let kind = kinds[0];
                let port = if cfg.ephemeral {
                    0
                } else {
                    cfg_port
                        .checked_add(cfg.port_offset)
                        .ok_or(NetError::PortRange {
                            port: cfg_port,
                            offset: cfg.port_offset,
                        })?
                };
                let addr = SocketAddr::new(m.address, port);
                match (transport, &handler) {
                    (Transport::Udp, Handler::Udp(svc)) => {
                        let sock = udp::bind_udp_std(addr)?;
                        let local = sock.local_addr().map_err(|e| bind_error("udp", addr, e))?;
                        endpoints.push(BoundEndpoint {
                            machine: m.id,
                            service: kind,
                            addr: local,
                        });
                        let (svc, model, shutdown) = (svc.clone(), model.clone(), shutdown.clone());
                        let (machine, machine_name) = (m.id, m.name.clone());
                        let span = info_span!("listener", proto = kind.name(), addr = %local, machine = %m.name);
                        // Served on a connection thread, the socket
                        // registered with that thread's reactor.
                        let serve = async move {
                            let (socket, _watched) = match tokio::net::UdpSocket::from_std(sock) {
                                Ok(s) => {
                                    let watched = threads::spin::watch_uncounted(&s);
                                    (s, watched)
                                }
                                Err(e) => {
                                    warn!(error = %e, machine = %machine_name, "udp endpoint not served: cannot register its socket");
                                    return;
                                }
                            };
                            let endpoint = UdpEndpoint {
                                socket: Arc::new(socket),
                                machine,
                                machine_name,
                                service: kind,
                                model,
                                shutdown,
                            };
                            svc.run(endpoint).await;
                        }
                        .instrument(span);
                        pending_udp.push(Box::pin(serve) as BoxFuture<()>);
                    }
                    (Transport::Tcp, Handler::Tcp(_) | Handler::Http(_)) => {
                        let tls = kind.tls();
                        if tls && cfg.ca.is_none() {
                            // Leaves are made lazily on first handshake;
                            // only the CA's presence is checked here.
                            return Err(NetError::NoCa {
                                machine: m.name.clone(),
                            });
                        }
                        let listener = bind_tcp(addr)?;
                        let local = listener
                            .local_addr()
                            .map_err(|e| bind_error("tcp", addr, e))?;
                        for k in &kinds {
                            endpoints.push(BoundEndpoint {
                                machine: m.id,
                                service: *k,
                                addr: local,
                            });
                        }
                        let sup = Supervisor::new(
                            &shared,
                            m,
                            kinds,
                            local,
                            tls,
                            handler.clone(),
                            shutdown.clone(),
                        );
                        let span = info_span!("listener", proto = kind.name(), addr = %local, machine = %m.name);
                        pending.push(Box::pin(sup.run(listener).instrument(span)));
                    }
                    _ => {
                        warn!(
                            service = kind.name(),
                            "handler does not match the service transport; not served"
                        );
                    }
                }
            }
        }
        for f in pending {
            tasks.spawn(f);
        }
        for f in pending_udp {
            match shared.conn_pool.next() {
                Some(h) => tasks.spawn_on(f, h),
                None => tasks.spawn(f),
            };
        }
        // Closed means "wait() may finish once empty"; dynamic endpoints
        // still spawn their supervisors here later, and shutdown waits for
        // them too.
        tasks.close();
        let _ = shared.bound.set(endpoints.clone());
        for hook in &services.started {
            hook(NetHandle {
                shared: shared.clone(),
            });
        }
        Ok(Network {
            shutdown,
            tasks,
            conns,
            endpoints,
            wake,
            grace: cfg.shutdown_grace,
            shared,
            _threads: conn_threads,
        })
    }

    /// The endpoints bound at start (see [`Network::dynamic_endpoints`]
    /// for those bound since).
    pub fn endpoints(&self) -> &[BoundEndpoint] {
        &self.endpoints
    }

    /// The endpoints bound at run time and not yet released.
    pub fn dynamic_endpoints(&self) -> Vec<BoundEndpoint> {
        self.handle().dynamic_endpoints()
    }

    /// A handle for binding endpoints at run time and dialling out.
    pub fn handle(&self) -> NetHandle {
        NetHandle {
            shared: self.shared.clone(),
        }
    }

    /// Re-evaluates every listener now (after fault rules change).
    pub fn wake(&self) {
        self.wake.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// A token cancelled when shutdown starts.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Closes every listener, lets in-flight operations finish (up to the
    /// grace period), then returns.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        self.tasks.wait().await;
        self.conns.close();
        if tokio::time::timeout(self.grace, self.conns.wait())
            .await
            .is_err()
        {
            warn!("connections still open after the shutdown grace period; dropping them");
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Keeps one TCP endpoint's listener open exactly while it should be:
/// the same task for endpoints bound at start and at run time, so both
/// follow the host's power and the fault rules alike.
struct Supervisor {
    shared: Arc<Shared>,
    /// Ends the supervisor: the network's shutdown token for static
    /// endpoints, a child of it for a dynamic one (cancelled on release).
    stop: CancellationToken,
    machine: MachineId,
    machine_name: String,
    dns_name: String,
    /// The first endpoint kind on this listener (journal entries of the
    /// listener itself name it).
    service: ServiceKind,
    /// Every endpoint kind sharing the listener.
    kinds: Vec<ServiceKind>,
    addr: SocketAddr,
    tls: bool,
    handler: Handler,
    limit: Arc<Semaphore>,
}

impl Supervisor {
    fn new(
        shared: &Arc<Shared>,
        m: &fakedc_model::Machine,
        kinds: Vec<ServiceKind>,
        addr: SocketAddr,
        tls: bool,
        handler: Handler,
        stop: CancellationToken,
    ) -> Supervisor {
        Supervisor {
            shared: shared.clone(),
            stop,
            machine: m.id,
            machine_name: m.name.clone(),
            dns_name: m.dns_name.clone(),
            service: kinds[0],
            kinds,
            addr,
            tls,
            handler,
            limit: Arc::new(Semaphore::new(shared.cfg.max_connections.max(1))),
        }
    }

    /// The fault rules of every kind on the listener.
    fn faults(&self) -> Vec<FaultKind> {
        let f = &self.shared.model.faults;
        let mut v = f.matching(&self.machine_name, self.service.name());
        for k in &self.kinds[1..] {
            v.extend(f.matching(&self.machine_name, k.name()));
        }
        v
    }

    /// Open while any kind on it is up and not every kind is refused.
    fn should_listen(&self, now: Instant) -> bool {
        let model = &self.shared.model;
        self.kinds.iter().any(|k| {
            model.endpoint_up(self.machine, *k, now)
                && !model
                    .faults
                    .matching(&self.machine_name, k.name())
                    .iter()
                    .any(|f| matches!(f, FaultKind::Refuse))
        })
    }

    fn journal(&self, peer: Option<SocketAddr>, operation: &str, outcome: &str) {
        self.shared.model.journal.record(Record {
            machine: self.machine_name.clone(),
            service: self.service.name().into(),
            peer,
            operation: operation.into(),
            outcome: outcome.into(),
            ..Default::default()
        });
    }

    async fn run(self, first: TcpListener) {
        let mut listener = Some(first);
        // Connections of the current listener; cancelled when the host goes
        // dark (a powered-off host drops its connections).
        let mut epoch = CancellationToken::new();
        let mut wake = self.shared.wake.clone();
        loop {
            let now = self.shared.model.clock.now();
            let want = self.should_listen(now);
            let mut retry = None;
            if want && listener.is_none() {
                match bind_tcp(self.addr) {
                    Ok(l) => {
                        debug!("listener open");
                        self.journal(None, "listen", "open");
                        listener = Some(l);
                    }
                    Err(e) => {
                        warn!(error = %e, "re-bind failed; retrying");
                        retry = Some(Duration::from_millis(200));
                    }
                }
            } else if !want && listener.is_some() {
                debug!("listener closed (host down or refuse rule)");
                self.journal(None, "listen", "closed");
                listener = None;
                epoch.cancel();
                epoch = CancellationToken::new();
            }
            let next = self.shared.model.next_transition(self.machine, now);
            let sleep_for = match (next, retry) {
                (Some(t), Some(r)) => t.saturating_duration_since(now).min(r),
                (Some(t), None) => t.saturating_duration_since(now),
                (None, Some(r)) => r,
                (None, None) => Duration::from_secs(3600),
            };
            tokio::select! {
                _ = self.stop.cancelled() => break,
                r = wake.changed() => { if r.is_err() { break; } }
                _ = tokio::time::sleep(sleep_for) => {}
                accepted = async { match &listener { Some(l) => l.accept().await, None => std::future::pending().await } } => {
                    match accepted {
                        Ok((stream, peer)) => {
                            self.accepted(stream, peer, &epoch);
                            // Accept batching: take what else is queued
                            // before going round the loop, whose power,
                            // fault and timer set-up is per wake-up, not per
                            // connection (a burst of new connections was
                            // paying it once each).
                            if let Some(l) = &listener {
                                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                                for _ in 0..ACCEPT_BATCH {
                                    match l.poll_accept(&mut cx) {
                                        std::task::Poll::Ready(Ok((stream, peer))) => {
                                            self.accepted(stream, peer, &epoch)
                                        }
                                        _ => break,
                                    }
                                }
                            }
                        }
                        Err(e) => {
                            // EMFILE and friends: back off instead of spinning.
                            warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            }
        }
        epoch.cancel();
    }

    fn accepted(&self, stream: TcpStream, peer: SocketAddr, epoch: &CancellationToken) {
        let Ok(permit) = self.limit.clone().try_acquire_owned() else {
            self.journal(Some(peer), "connect", "closed: connection limit reached");
            return;
        };
        let faults = self.faults();
        let mut sf = StreamFaults::default();
        let mut blackhole = false;
        for f in &faults {
            match f {
                FaultKind::Blackhole => blackhole = true,
                FaultKind::Delay { ms, jitter_ms } => {
                    sf.delay = Some((
                        Duration::from_millis(*ms),
                        Duration::from_millis(*jitter_ms),
                    ))
                }
                FaultKind::ResetAfter { bytes } => sf.reset_after = Some(*bytes),
                FaultKind::Drop { probability } if rand::random::<f64>() < *probability => {
                    self.journal(Some(peer), "connect", "dropped by fault rule");
                    let _ = stream.set_zero_linger();
                    return;
                }
                _ => {}
            }
        }
        let _ = stream.set_nodelay(true);
        if sf.reset_after.is_some() {
            // Dropping the socket then sends RST, not FIN: a reset.
            let _ = stream.set_zero_linger();
        }
        // A listener bound to one address (every machine's is) accepts on
        // that address only: no getsockname per connection.
        let local = if self.addr.ip().is_unspecified() {
            stream.local_addr().unwrap_or(self.addr)
        } else {
            self.addr
        };
        self.journal(
            Some(peer),
            "connect",
            if blackhole { "blackholed" } else { "accepted" },
        );
        let info = Arc::new(ConnInfo {
            machine: self.machine,
            machine_name: self.machine_name.clone(),
            role: self.shared.model.machine(self.machine).role,
            service: self.service,
            peer,
            local,
            tls: self.tls,
            closing: self.shared.shutdown.clone(),
            state: Arc::new(ConnState::default()),
            dns_name: self.dns_name.clone(),
            ca: self.shared.cfg.ca.clone(),
            net: Some(NetHandle {
                shared: self.shared.clone(),
            }),
        });
        let tls_cfg = if self.tls {
            match self
                .shared
                .cfg
                .ca
                .as_ref()
                .map(|ca| ca.server_config(&self.dns_name, local.ip()))
            {
                Some(Ok(c)) => Some(c),
                Some(Err(e)) => {
                    warn!(error = %e, "cannot make a certificate; closing");
                    return;
                }
                None => return,
            }
        } else {
            None
        };
        let handler = self.handler.clone();
        let epoch = epoch.clone();
        let span = info_span!("conn", %peer);
        // Served on a connection thread (`threads.rs`): the socket leaves
        // this runtime's reactor here and joins that thread's there.
        let target = threads::moves(self.service)
            .then(|| self.shared.conn_pool.next().cloned())
            .flatten();
        let moving = match &target {
            Some(_) => match stream.into_std() {
                Ok(s) => Err(s),
                Err(e) => {
                    warn!(error = %e, "cannot move a connection to its thread; closing");
                    return;
                }
            },
            None => Ok(stream),
        };
        let serve_conn = async move {
                let _permit = permit;
                let (stream, _watched) = match moving {
                    Ok(s) => (s, None),
                    Err(std) => match TcpStream::from_std(std) {
                        Ok(s) => {
                            let watched = threads::spin::watch(&s);
                            (s, Some(watched))
                        }
                        Err(e) => {
                            warn!(error = %e, "cannot register a connection on its thread; closing");
                            return;
                        }
                    },
                };
                let mut stream = FaultyStream::new(stream, sf).reset_when(
                    info.state.clone(),
                    |s: &TcpStream| {
                        let _ = s.set_zero_linger();
                    },
                );
                if blackhole {
                    let mut sink = [0u8; 4096];
                    tokio::select! {
                        _ = epoch.cancelled() => {}
                        _ = info.closing.cancelled() => {}
                        _ = async { while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {} } => {}
                    }
                    return;
                }
                let io: BoxIo = match tls_cfg {
                    Some(cfg) => match tls::accept(stream, cfg).await {
                        Ok(s) => Box::new(s),
                        Err(e) => {
                            debug!(error = %e, "TLS handshake failed");
                            return;
                        }
                    },
                    None => Box::new(stream),
                };
                let conn = Conn { io, info };
                let serve = match handler {
                    Handler::Tcp(svc) => svc.serve(conn),
                    Handler::Http(router) => http::serve(router, conn),
                    Handler::Udp(_) => return,
                };
                tokio::select! {
                    _ = serve => {}
                    _ = epoch.cancelled() => { debug!("connection dropped: host went dark"); }
                }
            }
            .instrument(span);
        match target {
            Some(h) => self.shared.conns.spawn_on(serve_conn, &h),
            None => self.shared.conns.spawn(serve_conn),
        };
    }
}

/// One request's journal entry in the making: services fill in the user
/// and operation as they learn them and record the outcome once, with the
/// latency since `start`.
pub struct RequestJournal<'a> {
    pub model: &'a Model,
    pub conn: &'a ConnInfo,
    pub user: Option<String>,
    pub op: String,
    pub start: Instant,
}

impl RequestJournal<'_> {
    pub fn record(&self, outcome: &str) {
        self.model.journal.record(Record {
            machine: self.conn.machine_name.clone(),
            service: self.conn.service.name().into(),
            peer: Some(self.conn.peer),
            user: self.user.clone(),
            operation: self.op.clone(),
            outcome: outcome.into(),
            latency: self.model.clock.since(self.start),
        });
    }
}
