//! fakedc's model: the one place where machine state lives.
//!
//! Every front end (IPMI, SMASH, WinRM, the control API, the network layer
//! that opens and closes a host's listeners) reads and changes this state;
//! none of them keeps a copy. This crate knows nothing about sockets, async
//! runtimes or any wire protocol, so it can be tested with plain unit tests
//! and time passed in.
//!
//! Locking: identity (`Machine`) is immutable after build; each chassis and
//! each machine's user table has its own mutex, so thousands of BMCs do not
//! contend on one lock.

pub mod chassis;
pub mod clock;
pub mod fault;
pub mod identity;
pub mod journal;
pub mod log;
pub mod quota;
pub mod service;
pub mod storage;
pub mod table;
pub mod timefmt;

pub use chassis::{
    BootDevice, BootOverride, Chassis, Compute, Hardware, PowerAction, PowerState, Sensor,
    SensorKind, Suspension, Timing, VirtualMedia,
};
pub use clock::Clock;
pub use fault::{FaultKind, FaultRule, Faults};
pub use identity::WebServer;
pub use journal::{Entry, Journal, Query, Record};
pub use log::{EventKind, EventLog, LogEntry};
pub use quota::{Quota, QuotaFull};
pub use service::{Role, ServiceKind, Transport};
pub use storage::Storage;

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Index of a machine in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct MachineId(pub usize);

/// Index of a chassis (physical server or VM) in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ChassisId(pub usize);

/// A user's privilege, in IPMI's order (other protocols map onto it: a
/// read-only SMASH user is `User`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Privilege {
    Callback = 1,
    User = 2,
    Operator = 3,
    Admin = 4,
}

impl Privilege {
    pub fn from_level(level: u8) -> Option<Privilege> {
        Some(match level {
            1 => Privilege::Callback,
            2 => Privilege::User,
            3 => Privilege::Operator,
            4 => Privilege::Admin,
            _ => return None,
        })
    }
}

/// An account on a machine (BMC user slot, Windows or ESXi account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Slot number (IPMI user id, 1-based; slot 1 is the anonymous user on
    /// real BMCs, so scenario users start at 2).
    pub id: u8,
    pub name: String,
    /// Kept in memory only; never journaled or logged.
    #[serde(skip_serializing)]
    pub password: String,
    pub privilege: Privilege,
    pub enabled: bool,
    /// SSH public keys (OpenSSH one-line format) this user may log in with.
    #[serde(default)]
    pub authorized_keys: Vec<String>,
}

/// A virtual machine on a hypervisor host. Its power lives in its own
/// chassis; a VM with a guest machine brings that guest's endpoints up.
#[derive(Debug, Clone, Serialize)]
pub struct Vm {
    pub id: String,
    pub name: String,
    pub chassis: ChassisId,
    pub guest: Option<MachineId>,
}

/// One endpoint a machine serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EndpointSpec {
    pub service: ServiceKind,
    /// The port before any offset.
    pub port: u16,
}

/// Immutable identity of a machine.
#[derive(Debug, Clone)]
pub struct Machine {
    pub id: MachineId,
    pub name: String,
    pub role: Role,
    pub address: IpAddr,
    /// DNS name used in certificates.
    pub dns_name: String,
    pub chassis: ChassisId,
    /// For hosts: the BMC that manages this host.
    pub bmc: Option<MachineId>,
    /// For BMCs: the host they manage (`None` for a bare BMC lab entry).
    pub host: Option<MachineId>,
    /// For VM guests: the hypervisor host their VM runs on.
    pub vm_host: Option<MachineId>,
    pub endpoints: Vec<EndpointSpec>,
    /// Per-service options from the scenario, opaque here; each protocol
    /// service deserializes its own.
    pub options: BTreeMap<String, serde_json::Value>,
    /// Root of the machine's file share, if it has one.
    pub share: Option<PathBuf>,
    pub vms: Vec<Vm>,
}

impl Machine {
    pub fn endpoint(&self, service: ServiceKind) -> Option<EndpointSpec> {
        self.endpoints
            .iter()
            .copied()
            .find(|e| e.service == service)
    }
}

type Watcher = Box<dyn Fn(ChassisId) + Send + Sync>;

/// The whole datacenter's state.
pub struct Model {
    machines: Vec<Machine>,
    by_name: HashMap<String, MachineId>,
    chassis: Vec<Mutex<Chassis>>,
    /// Machines whose OS endpoints follow each chassis.
    chassis_machines: Vec<Vec<MachineId>>,
    users: Vec<Mutex<Vec<User>>>,
    initial_chassis: Vec<Chassis>,
    initial_users: Vec<Vec<User>>,
    initial_faults: Vec<FaultRule>,
    pub journal: Journal,
    pub faults: Faults,
    /// The one clock (see [`Clock`]); shared with the journal and every
    /// chassis's event log.
    pub clock: Arc<Clock>,
    /// Storage arrays' pools, volumes and masking (SMI-S and the VMM
    /// server's Storage Management Service both read and change them).
    pub storage: Storage,
    watchers: Mutex<Vec<Watcher>>,
    /// Windows services started or stopped at run time (PowerShell's
    /// Start-/Stop-Service), by machine and lower-case service name; WMI's
    /// Win32_Service reads it, so both fronts agree. A service not listed
    /// is in its default state.
    services: Mutex<HashMap<(MachineId, String), String>>,
    /// One quota per machine's share, by machine index: SFTP, SMB and
    /// BITS write into the same directory, so they count against one
    /// limit ([`Model::share_quota`]).
    quotas: Vec<Arc<Quota>>,
}

/// Everything needed to build a model; produced by the scenario crate.
pub struct ModelParts {
    pub machines: Vec<Machine>,
    pub chassis: Vec<Chassis>,
    /// One user table per machine, same order as `machines`.
    pub users: Vec<Vec<User>>,
    pub faults: Vec<FaultRule>,
    pub journal_capacity: usize,
}

/// The account name without a Windows domain (`HV01\Administrator`,
/// `.\Administrator`, `Administrator@lab.test` → `Administrator`).
pub fn bare_windows_user(name: &str) -> &str {
    let u = name.rsplit('\\').next().unwrap_or(name);
    match u.split_once('@') {
        Some((n, _)) if !n.is_empty() => n,
        _ => u,
    }
}

impl Model {
    pub fn new(parts: ModelParts) -> Model {
        let mut by_name = HashMap::new();
        let mut chassis_machines = vec![Vec::new(); parts.chassis.len()];
        for m in &parts.machines {
            by_name.insert(m.name.clone(), m.id);
            if let Some(v) = chassis_machines.get_mut(m.chassis.0) {
                v.push(m.id);
            }
        }
        let faults = Faults::default();
        for f in &parts.faults {
            faults.add(f.clone());
        }
        let clock = Arc::new(Clock::new());
        let mut chassis = parts.chassis;
        for c in &mut chassis {
            c.log.set_clock(clock.clone());
        }
        let parts = ModelParts { chassis, ..parts };
        Model {
            quotas: parts
                .machines
                .iter()
                .map(|_| Arc::new(Quota::new(None)))
                .collect(),
            storage: Storage::new(&parts.machines),
            by_name,
            chassis_machines,
            chassis: parts.chassis.iter().cloned().map(Mutex::new).collect(),
            users: parts.users.iter().cloned().map(Mutex::new).collect(),
            initial_chassis: parts.chassis,
            initial_users: parts.users,
            initial_faults: parts.faults,
            machines: parts.machines,
            journal: Journal::with_clock(parts.journal_capacity, clock.clone()),
            faults,
            clock,
            watchers: Mutex::new(Vec::new()),
            services: Mutex::new(HashMap::new()),
        }
    }

    /// Sets each machine's share quota (bytes, by machine index; `None`
    /// or a missing entry is unlimited). The scenario crate calls it with
    /// the machines' `quota_bytes`; a model built without it has no quotas.
    pub fn with_share_quotas(mut self, limits: &[Option<u64>]) -> Model {
        for (q, limit) in self.quotas.iter_mut().zip(limits) {
            *q = Arc::new(Quota::new(*limit));
        }
        self
    }

    /// The machine's share quota: every protocol that writes into the
    /// machine's share reserves and releases through this one.
    pub fn share_quota(&self, id: MachineId) -> Arc<Quota> {
        self.quotas
            .get(id.0)
            .cloned()
            .unwrap_or_else(|| Arc::new(Quota::new(None)))
    }

    pub fn machines(&self) -> &[Machine] {
        &self.machines
    }

    pub fn machine(&self, id: MachineId) -> &Machine {
        &self.machines[id.0]
    }

    pub fn find(&self, name: &str) -> Option<&Machine> {
        self.by_name.get(name).map(|id| &self.machines[id.0])
    }

    /// Registers a callback run after any chassis changes through this model
    /// (power, boot). The network layer uses it to wake its listeners.
    pub fn on_change(&self, f: impl Fn(ChassisId) + Send + Sync + 'static) {
        if let Ok(mut w) = self.watchers.lock() {
            w.push(Box::new(f));
        }
    }

    fn lock_chassis(&self, id: ChassisId) -> MutexGuard<'_, Chassis> {
        // A poisoned lock means a panic elsewhere while holding it; the data
        // is plain state, so keep serving it.
        self.chassis[id.0]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on a chassis after applying due transitions; notifies
    /// watchers if the state changed.
    pub fn with_chassis<R>(
        &self,
        id: ChassisId,
        now: Instant,
        f: impl FnOnce(&mut Chassis) -> R,
    ) -> R {
        let (r, changed) = {
            let mut c = self.lock_chassis(id);
            c.advance(now);
            let before = c.generation;
            let r = f(&mut c);
            (r, c.generation != before)
        };
        if changed {
            self.notify(id);
        }
        r
    }

    /// Moves the clock forward by `by` and tells every watcher, so due
    /// transitions (a boot finishing, a shutdown completing) take effect
    /// and listeners follow without anyone sleeping.
    pub fn advance(&self, by: std::time::Duration) {
        self.clock.advance(by);
        for i in 0..self.chassis.len() {
            self.notify(ChassisId(i));
        }
    }

    fn notify(&self, id: ChassisId) {
        if let Ok(w) = self.watchers.lock() {
            for f in w.iter() {
                f(id);
            }
        }
    }

    /// A copy of a chassis's state, advanced to `now`.
    pub fn chassis(&self, id: ChassisId, now: Instant) -> Chassis {
        self.with_chassis(id, now, |c| c.clone())
    }

    /// A chassis's processors and memory. They never change while running,
    /// so no time is advanced to read them.
    pub fn compute(&self, id: ChassisId) -> Compute {
        self.lock_chassis(id).compute
    }

    pub fn chassis_count(&self) -> usize {
        self.chassis.len()
    }

    /// The machines whose OS endpoints follow a chassis.
    pub fn machines_on(&self, id: ChassisId) -> &[MachineId] {
        self.chassis_machines
            .get(id.0)
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    }

    pub fn power_action(&self, machine: MachineId, action: PowerAction, now: Instant) {
        let c = self.machine(machine).chassis;
        self.with_chassis(c, now, |ch| ch.power_action(action, now));
    }

    /// Whether a machine's endpoint for `service` should answer now: BMC
    /// services always (standby power); OS services only while the OS is up.
    pub fn endpoint_up(&self, machine: MachineId, service: ServiceKind, now: Instant) -> bool {
        let m = self.machine(machine);
        if !service.needs_os() || !m.role.has_os() {
            return true;
        }
        self.with_chassis(m.chassis, now, |c| c.os_up())
    }

    /// When the machine's chassis next changes by itself.
    pub fn next_transition(&self, machine: MachineId, now: Instant) -> Option<Instant> {
        let c = self.machine(machine).chassis;
        self.with_chassis(c, now, |ch| ch.next_transition())
    }

    /// The VMs still registered on a host: the scenario's `[[machine.vm]]`
    /// less those destroyed since ([`Chassis::removed`]). Every front that
    /// lists a host's VMs goes through here, so a VM destroyed over the
    /// vSphere SDK is gone from `vim-cmd`, WMI and the others at once.
    pub fn vms(&self, machine: MachineId) -> Vec<&Vm> {
        self.machine(machine)
            .vms
            .iter()
            .filter(|v| !self.lock_chassis(v.chassis).removed)
            .collect()
    }

    /// Whether a VM is still registered (not destroyed).
    pub fn vm_present(&self, vm: &Vm) -> bool {
        !self.lock_chassis(vm.chassis).removed
    }

    /// The user table of a machine.
    pub fn users(&self, machine: MachineId) -> MutexGuard<'_, Vec<User>> {
        self.users[machine.0]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The enabled user a login name means on this machine, by the one
    /// rule of its kind: Windows roles match account names in any case
    /// and accept `DOMAIN\user` and `user@domain` (the domain part is not
    /// checked: every machine is its own domain); BMCs and ESX/ESXi match
    /// the exact name, as their user tables do. Every protocol that logs
    /// in (WinRM, BITS, SMASH, SSH, IPMI) goes through here, so one
    /// account spelled one way works everywhere on a host or nowhere.
    pub fn find_user(&self, machine: MachineId, name: &str) -> Option<User> {
        let role = self.machine(machine).role;
        let windows = role.is_windows();
        let name = if windows {
            bare_windows_user(name)
        } else {
            name
        };
        self.users(machine)
            .iter()
            .find(|u| {
                u.enabled
                    && if windows {
                        u.name.eq_ignore_ascii_case(name)
                    } else {
                        u.name == name
                    }
            })
            .cloned()
    }

    /// Checks a login name (see [`Model::find_user`]) and password.
    pub fn authenticate(&self, machine: MachineId, name: &str, password: &str) -> Option<User> {
        self.find_user(machine, name)
            .filter(|u| u.password == password)
    }

    /// A Windows service's run-time state (`Running`/`Stopped`), if it
    /// was changed since the scenario started.
    pub fn service_state(&self, machine: MachineId, name: &str) -> Option<String> {
        self.services
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(machine, name.to_ascii_lowercase()))
            .cloned()
    }

    /// Records a Windows service's new state.
    pub fn set_service_state(&self, machine: MachineId, name: &str, state: &str) {
        self.services
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((machine, name.to_ascii_lowercase()), state.to_string());
    }

    /// Puts every chassis, user table and fault rule back to the scenario's
    /// initial state. The journal is kept (it records the reset).
    pub fn reset(&self) {
        self.services
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        for (i, init) in self.initial_chassis.iter().enumerate() {
            *self.lock_chassis(ChassisId(i)) = init.clone();
        }
        for (i, init) in self.initial_users.iter().enumerate() {
            *self.users(MachineId(i)) = init.clone();
        }
        self.storage.reset();
        self.faults.clear();
        for f in &self.initial_faults {
            self.faults.add(f.clone());
        }
        for i in 0..self.chassis.len() {
            self.notify(ChassisId(i));
        }
    }
}

#[cfg(test)]
mod user_tests {
    use super::bare_windows_user;

    #[test]
    fn windows_domains_are_stripped() {
        assert_eq!(bare_windows_user("HV01\\Administrator"), "Administrator");
        assert_eq!(bare_windows_user("admin@lab.test"), "admin");
        assert_eq!(bare_windows_user(".\\root"), "root");
        assert_eq!(bare_windows_user("root"), "root");
        assert_eq!(bare_windows_user("@x"), "@x");
    }
}
