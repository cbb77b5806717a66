//! The datacenter handle: scenario → model → services → network, on a
//! runtime of its own so sync tests, async tests and the CLI use it alike.

use crate::control;
use fakedc_model::{
    BootOverride, Entry, FaultRule, MachineId, Model, PowerAction, Query, Role, ServiceKind,
    Transport,
};
use fakedc_net::{CertAuthority, NetConfig, Network, Services};
use fakedc_scenario::{ParseOptions, Scenario, ScenarioError};
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Errors starting or driving a datacenter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Net(#[from] fakedc_net::NetError),
    #[error("certificates: {0}")]
    Tls(#[from] fakedc_net::tls::TlsError),
    #[error("no machine named '{0}'")]
    NoMachine(String),
    #[error("the scenario needs {needed} open files (one per endpoint plus headroom) but the limit is {limit}; raise it with `ulimit -n {needed}` (or the hard limit in /etc/security/limits.conf)")]
    FileLimit { needed: u64, limit: u64 },
    #[error("{0}")]
    Options(String),
    #[error("runtime: {0}")]
    Runtime(String),
    #[error("control API: {0}")]
    Control(String),
}

/// Where the scenario comes from.
#[derive(Clone)]
pub enum ScenarioSource {
    Default,
    /// A shipped scenario by name, or a file path.
    NameOrPath(String),
    Text {
        file: String,
        text: String,
    },
    Parsed(Arc<Scenario>),
}

type Registrar = Box<dyn FnOnce(&mut Services, &Arc<Model>) + Send>;

/// A hook that registers extra services (tests plug in their own).
pub struct ServiceRegistrar(Registrar);

/// Builds a [`Datacenter`].
pub struct Builder {
    source: ScenarioSource,
    opts: ParseOptions,
    net: NetConfig,
    control: Option<SocketAddr>,
    journal_file: Option<PathBuf>,
    certs_dir: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    builtins: bool,
    /// Start only these protocols (by registry name); `None`: all.
    only: Option<Vec<String>>,
    extra: Vec<ServiceRegistrar>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            source: ScenarioSource::Default,
            opts: crate::parse_options(),
            net: NetConfig::default(),
            control: None,
            journal_file: None,
            certs_dir: None,
            data_dir: None,
            builtins: true,
            only: None,
            extra: Vec::new(),
        }
    }
}

impl Builder {
    pub fn scenario_name(mut self, name_or_path: &str) -> Self {
        self.source = ScenarioSource::NameOrPath(name_or_path.to_string());
        self
    }

    pub fn scenario_str(mut self, text: &str) -> Self {
        self.source = ScenarioSource::Text {
            file: "<string>".into(),
            text: text.to_string(),
        };
        self
    }

    pub fn scenario(mut self, scenario: Arc<Scenario>) -> Self {
        self.source = ScenarioSource::Parsed(scenario);
        self
    }

    pub fn source(mut self, source: ScenarioSource) -> Self {
        self.source = source;
        self
    }

    /// Bind port 0 everywhere and keep the CA in memory (what tests use).
    pub fn ephemeral(mut self) -> Self {
        self.net.ephemeral = true;
        self
    }

    pub fn port_offset(mut self, offset: u16) -> Self {
        self.net.port_offset = offset;
        self
    }

    pub fn max_connections(mut self, n: usize) -> Self {
        self.net.max_connections = n;
        self
    }

    pub fn allow_non_loopback(mut self, allow: bool) -> Self {
        self.opts.allow_non_loopback = allow;
        self.net.allow_non_loopback = allow;
        self
    }

    /// Serve the control API on this address (port 0 for any).
    pub fn control(mut self, addr: SocketAddr) -> Self {
        self.control = Some(addr);
        self
    }

    /// Append every journal entry as a JSON line to this file.
    pub fn journal_file(mut self, path: PathBuf) -> Self {
        self.journal_file = Some(path);
        self
    }

    /// Where the CA lives (default `certs/`); ignored when ephemeral.
    pub fn certs_dir(mut self, dir: PathBuf) -> Self {
        self.certs_dir = Some(dir);
        self
    }

    /// Where machines' file shares and protocol state (upload sessions)
    /// live: `DIR/shares/<machine>` unless the scenario gives a `share`.
    /// Default: `./fakedc-data`, or a temporary directory removed at
    /// shutdown when ephemeral.
    pub fn data_dir(mut self, dir: PathBuf) -> Self {
        self.data_dir = Some(dir);
        self
    }

    /// Start only the services registered with [`Builder::service`].
    pub fn without_builtins(mut self) -> Self {
        self.builtins = false;
        self
    }

    /// Start only the named protocols of the registry (`"ipmi"`,
    /// `"wsman"`, see [`crate::protocols`]): a test that drives one
    /// protocol does not wait for, or fail on, the others. Endpoints of the
    /// rest are "not served".
    pub fn protocols(mut self, names: &[&str]) -> Self {
        self.only = Some(names.iter().map(|n| n.to_string()).collect());
        self
    }

    /// Registers extra services (a test's own).
    pub fn service(mut self, f: impl FnOnce(&mut Services, &Arc<Model>) + Send + 'static) -> Self {
        self.extra.push(ServiceRegistrar(Box::new(f)));
        self
    }

    /// Loads the scenario this builder points at.
    pub fn load_scenario(&self) -> Result<Arc<Scenario>, Error> {
        Ok(match &self.source {
            ScenarioSource::Default => {
                Arc::new(Scenario::load(fakedc_scenario::DEFAULT, &self.opts)?)
            }
            ScenarioSource::NameOrPath(n) => Arc::new(Scenario::load(n, &self.opts)?),
            ScenarioSource::Text { file, text } => {
                Arc::new(Scenario::parse(file, text, &self.opts)?)
            }
            ScenarioSource::Parsed(s) => s.clone(),
        })
    }

    /// Builds the model, binds every listener and returns once all are bound.
    pub fn start(self) -> Result<Datacenter, Error> {
        let scenario = self.load_scenario()?;
        let needed = scenario.endpoint_count() as u64 + 256;
        let limit = rlimit::increase_nofile_limit(needed.max(65_536)).unwrap_or(1024);
        if limit < needed {
            return Err(Error::FileLimit { needed, limit });
        }
        let ca = if self.net.ephemeral {
            CertAuthority::generate()?
        } else {
            CertAuthority::load_or_create(
                &self
                    .certs_dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("certs")),
            )?
            .0
        };
        let ca = Arc::new(ca);
        let (data_dir, temp_dir) = match (&self.data_dir, self.net.ephemeral) {
            (Some(d), _) => (d.clone(), None),
            (None, false) => (PathBuf::from("fakedc-data"), None),
            (None, true) => {
                let d = TempDir::new()
                    .map_err(|e| Error::Runtime(format!("temporary data directory: {e}")))?;
                (d.0.clone(), Some(d))
            }
        };
        let mut resolved = (*scenario).clone();
        for m in &mut resolved.machines {
            if m.share.is_none() {
                m.share = Some(data_dir.join("shares").join(&m.name));
            }
        }
        let scenario = Arc::new(resolved);
        let model = Arc::new(scenario.model());
        if let Some(path) = &self.journal_file {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| Error::Runtime(format!("journal file {}: {e}", path.display())))?;
            model.journal.set_sink(Box::new(std::io::BufWriter::new(f)));
        }
        if let Some(only) = &self.only {
            if let Some(n) = only
                .iter()
                .find(|n| !crate::protocols().iter().any(|p| p.name() == n.as_str()))
            {
                let known: Vec<_> = crate::protocols().iter().map(|p| p.name()).collect();
                return Err(Error::Options(format!(
                    "unknown protocol '{n}' (known: {})",
                    known.join(", ")
                )));
            }
        }
        let mut services = if self.builtins {
            crate::builtin_services(&model, ca.dir.as_deref(), self.only.as_deref())?
        } else {
            Services::default()
        };
        for r in self.extra {
            (r.0)(&mut services, &model);
        }
        let mut net_cfg = self.net.clone();
        net_cfg.ca = Some(ca.clone());

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(fakedc_net::threads::THREAD_NAME)
            .enable_all()
            .build()
            .map_err(|e| Error::Runtime(e.to_string()))?;
        #[allow(clippy::disallowed_methods)] // start-up time is real time
        let started = Instant::now();
        let net = rt.block_on(Network::start(model.clone(), &services, net_cfg))?;
        let net = Arc::new(net);
        let served: Vec<_> = net.endpoints().to_vec();
        let endpoints = Arc::new(endpoint_infos(&scenario, &served, &self.net));
        let core = Arc::new(Core {
            model: model.clone(),
            net: net.clone(),
            endpoints: endpoints.clone(),
        });
        let mut dc = Datacenter {
            scenario,
            model,
            net,
            core,
            endpoints,
            ca,
            control_addr: None,
            rt: Some(rt),
            #[allow(clippy::disallowed_methods)]
            startup: started.elapsed(),
            data_dir,
            _temp_dir: temp_dir,
        };
        if let Some(addr) = self.control {
            let rt = dc
                .rt
                .as_ref()
                .ok_or_else(|| Error::Runtime("no runtime".into()))?;
            let bound = rt.block_on(control::serve(
                dc.core.clone(),
                addr,
                dc.net.shutdown_token(),
            ))?;
            dc.control_addr = Some(bound);
        }
        Ok(dc)
    }
}

/// One endpoint of the datacenter, served or not.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct EndpointInfo {
    pub machine: String,
    pub role: Role,
    pub service: ServiceKind,
    pub protocol: String,
    pub transport: Transport,
    pub address: IpAddr,
    pub port: u16,
    pub tls: bool,
    /// False when this build of fakedc does not implement the service yet.
    pub served: bool,
}

fn endpoint_infos(
    scenario: &Scenario,
    served: &[fakedc_net::BoundEndpoint],
    cfg: &NetConfig,
) -> Vec<EndpointInfo> {
    let mut out = Vec::new();
    for m in &scenario.machines {
        for ep in &m.endpoints {
            let bound = served
                .iter()
                .find(|b| b.machine == m.id && b.service == ep.service);
            let port = match bound {
                Some(b) => b.addr.port(),
                None => ep.port.saturating_add(cfg.port_offset),
            };
            out.push(EndpointInfo {
                machine: m.name.clone(),
                role: m.role,
                service: ep.service,
                protocol: ep.service.protocol().to_string(),
                transport: ep.service.transport(),
                address: m.address,
                port,
                tls: ep.service.tls(),
                served: bound.is_some(),
            });
        }
    }
    out
}

/// A machine's state as the control API and tests see it.
#[derive(Debug, Clone, Serialize)]
pub struct MachineState {
    pub name: String,
    pub role: Role,
    pub address: IpAddr,
    /// off, booting, on, shutting-down, cycling.
    pub power: String,
    pub power_on: bool,
    /// Whether the OS endpoints answer.
    pub os_up: bool,
    pub boot: BootOverride,
    pub last_boot_device: fakedc_model::BootDevice,
    pub bmc: Option<String>,
    pub host: Option<String>,
    pub guid: String,
    pub serial: String,
    pub vms: Vec<VmState>,
    pub identify: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct VmState {
    pub id: String,
    pub name: String,
    pub state: String,
    pub guest: Option<String>,
}

/// The operations shared by the library handle and the control API.
pub(crate) struct Core {
    pub(crate) model: Arc<Model>,
    pub(crate) net: Arc<Network>,
    pub(crate) endpoints: Arc<Vec<EndpointInfo>>,
}

impl Core {
    pub(crate) fn id(&self, machine: &str) -> Result<MachineId, Error> {
        self.model
            .find(machine)
            .map(|m| m.id)
            .ok_or_else(|| Error::NoMachine(machine.into()))
    }

    pub(crate) fn power(&self, machine: &str, action: PowerAction, via: &str) -> Result<(), Error> {
        let id = self.id(machine)?;
        self.model.power_action(id, action, self.model.clock.now());
        self.model.journal.record(fakedc_model::Record {
            machine: machine.to_string(),
            service: via.into(),
            operation: format!(
                "power {}",
                serde_json::to_value(action)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default()
            ),
            outcome: "ok".into(),
            ..Default::default()
        });
        Ok(())
    }

    pub(crate) fn set_boot(&self, machine: &str, boot: BootOverride) -> Result<(), Error> {
        let id = self.id(machine)?;
        let c = self.model.machine(id).chassis;
        self.model
            .with_chassis(c, self.model.clock.now(), |ch| ch.set_boot(boot));
        Ok(())
    }

    pub(crate) fn add_fault(&self, rule: FaultRule) -> u64 {
        let id = self.model.faults.add(rule);
        self.net.wake();
        id
    }

    pub(crate) fn remove_fault(&self, id: u64) -> bool {
        let r = self.model.faults.remove(id);
        self.net.wake();
        r
    }

    pub(crate) fn clear_faults(&self) {
        self.model.faults.clear();
        self.net.wake();
    }

    pub(crate) fn reset(&self) {
        self.model.reset();
        self.net.wake();
        self.model.journal.record(fakedc_model::Record {
            service: "control".into(),
            operation: "reset".into(),
            outcome: "ok".into(),
            ..Default::default()
        });
    }
}

/// A running datacenter. Dropping it shuts it down.
pub struct Datacenter {
    scenario: Arc<Scenario>,
    model: Arc<Model>,
    net: Arc<Network>,
    core: Arc<Core>,
    endpoints: Arc<Vec<EndpointInfo>>,
    ca: Arc<CertAuthority>,
    control_addr: Option<SocketAddr>,
    rt: Option<tokio::runtime::Runtime>,
    startup: std::time::Duration,
    data_dir: PathBuf,
    /// Removed when the datacenter is dropped (ephemeral runs).
    _temp_dir: Option<TempDir>,
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("fakedc-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Datacenter {
    pub fn builder() -> Builder {
        Builder::default()
    }

    pub fn scenario(&self) -> &Arc<Scenario> {
        &self.scenario
    }

    /// The shared model (read and change state directly).
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The data directory (shares, protocol state).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// A machine's file share root (created on demand by the services).
    pub fn share(&self, machine: &str) -> Option<PathBuf> {
        self.model.find(machine).and_then(|m| m.share.clone())
    }

    /// How long binding every listener took.
    pub fn startup_time(&self) -> std::time::Duration {
        self.startup
    }

    pub fn endpoints(&self) -> &[EndpointInfo] {
        &self.endpoints
    }

    /// The address of a served endpoint.
    pub fn endpoint(&self, machine: &str, service: ServiceKind) -> Option<SocketAddr> {
        self.endpoints
            .iter()
            .find(|e| e.machine == machine && e.service == service && e.served)
            .map(|e| SocketAddr::new(e.address, e.port))
    }

    /// The CA certificate clients should trust.
    pub fn ca_pem(&self) -> &str {
        self.ca.pem()
    }

    pub fn ca(&self) -> &Arc<CertAuthority> {
        &self.ca
    }

    pub fn control_addr(&self) -> Option<SocketAddr> {
        self.control_addr
    }

    /// Performs a power action on a machine (a BMC acts on its host).
    pub fn power(&self, machine: &str, action: PowerAction) -> Result<(), Error> {
        self.core.power(machine, action, "library")
    }

    pub fn set_boot(&self, machine: &str, boot: BootOverride) -> Result<(), Error> {
        self.core.set_boot(machine, boot)
    }

    pub fn machine_state(&self, machine: &str) -> Result<MachineState, Error> {
        let id = self.core.id(machine)?;
        Ok(machine_state(&self.model, id))
    }

    pub fn machines(&self) -> Vec<MachineState> {
        self.model
            .machines()
            .iter()
            .map(|m| machine_state(&self.model, m.id))
            .collect()
    }

    /// Adds a fault rule; returns its id.
    pub fn add_fault(&self, rule: FaultRule) -> u64 {
        self.core.add_fault(rule)
    }

    pub fn remove_fault(&self, id: u64) -> bool {
        self.core.remove_fault(id)
    }

    pub fn faults(&self) -> Vec<FaultRule> {
        self.model.faults.list()
    }

    pub fn journal(&self, q: &Query) -> Vec<Entry> {
        self.model.journal.query(q)
    }

    /// Moves the datacenter's clock forward by `by`: due boots and
    /// shutdowns complete, listeners follow, sessions and nonces age, all
    /// without sleeping. Time never goes back.
    pub fn advance(&self, by: std::time::Duration) {
        self.model.advance(by);
        self.net.wake();
    }

    /// Back to the scenario's initial state.
    pub fn reset(&self) {
        self.core.reset()
    }

    /// Closes every listener, lets in-flight operations finish, and stops.
    pub fn shutdown(mut self) {
        self.stop();
    }

    /// Blocks until Ctrl-C or SIGTERM, then shuts down gracefully.
    pub fn run_until_signal(mut self) -> Result<(), Error> {
        if let Some(rt) = &self.rt {
            rt.block_on(async {
                #[cfg(unix)]
                {
                    let mut term =
                        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                            .map_err(|e| Error::Runtime(e.to_string()))?;
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                }
                #[cfg(not(unix))]
                {
                    let _ = tokio::signal::ctrl_c().await;
                }
                Ok::<(), Error>(())
            })?;
        }
        self.stop();
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(rt) = self.rt.take() {
            let net = self.net.clone();
            rt.block_on(async move { net.shutdown().await });
            rt.shutdown_timeout(std::time::Duration::from_secs(1));
        }
    }

    /// Runs a future on the datacenter's runtime (for probes in tests).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> Option<F::Output> {
        self.rt.as_ref().map(|rt| rt.block_on(f))
    }
}

impl Drop for Datacenter {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) fn machine_state(model: &Model, id: MachineId) -> MachineState {
    let now = model.clock.now();
    let m = model.machine(id);
    let c = model.chassis(m.chassis, now);
    let vms = model
        .vms(id)
        .into_iter()
        .map(|vm| {
            let vc = model.chassis(vm.chassis, now);
            VmState {
                id: vm.id.clone(),
                name: vm.name.clone(),
                state: vc.power.label().to_string(),
                guest: vm.guest.map(|g| model.machine(g).name.clone()),
            }
        })
        .collect();
    MachineState {
        name: m.name.clone(),
        role: m.role,
        address: m.address,
        power: c.power.label().to_string(),
        power_on: c.power.power_on(),
        os_up: c.os_up(),
        boot: c.boot,
        last_boot_device: c.last_boot_device,
        bmc: m.bmc.map(|b| model.machine(b).name.clone()),
        host: m.host.map(|h| model.machine(h).name.clone()),
        guid: c.hardware.guid_string(),
        serial: c.hardware.serial.clone(),
        vms,
        identify: c.identify_on(now),
    }
}
