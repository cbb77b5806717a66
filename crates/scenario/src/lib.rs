//! Scenario files: a TOML description of a datacenter, validated with errors
//! that name the file, line and column, and expanded (fleets, role default
//! services, derived hardware identities) into [`fakedc_model::ModelParts`].
//!
//! The format is documented in the repository README; `scenarios/` holds the
//! shipped ones, embedded here so the binary works from any directory.

mod raw;

use fakedc_model::{
    Chassis, ChassisId, Compute, EndpointSpec, FaultRule, Hardware, Machine, MachineId, Model,
    ModelParts, Privilege, Role, Sensor, SensorKind, ServiceKind, Timing, User, Vm,
};
use raw::{RawFile, RawMachine, RawServiceSetting};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

/// The scenarios shipped in `scenarios/`, by name.
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "vmm-default",
        include_str!("../../../scenarios/vmm-default.toml"),
    ),
    ("bmc-lab", include_str!("../../../scenarios/bmc-lab.toml")),
    (
        "fleet-500",
        include_str!("../../../scenarios/fleet-500.toml"),
    ),
];

/// The default scenario's name.
pub const DEFAULT: &str = "vmm-default";

/// A validation or syntax error, located in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Options that change how a scenario is accepted.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// Accept machine addresses outside 127.0.0.0/8 and ::1. Off unless the
    /// user asks for it explicitly.
    pub allow_non_loopback: bool,
    /// The `[machine.options.X]` tables the protocols read and their
    /// checks, from the protocol registry (`fakedc::parse_options()`).
    /// Empty: this crate knows no protocol, so tables are taken as they
    /// are and checked when the protocols start.
    pub option_checks: Vec<OptionCheck>,
}

/// One protocol's option tables and the check of one machine's tables.
#[derive(Clone)]
pub struct OptionCheck {
    /// Its name, for error messages.
    pub protocol: &'static str,
    pub tables: &'static [&'static str],
    /// Err(table, message) for the first bad table.
    #[allow(clippy::type_complexity)]
    pub check: Arc<dyn Fn(&Machine) -> Result<(), (String, String)> + Send + Sync>,
}

impl std::fmt::Debug for OptionCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OptionCheck")
            .field("protocol", &self.protocol)
            .field("tables", &self.tables)
            .finish()
    }
}

/// A validated, expanded scenario. Build as many models from it as needed
/// (two datacenters side by side share one `Scenario`).
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub machines: Vec<Machine>,
    pub chassis: Vec<Chassis>,
    pub users: Vec<Vec<User>>,
    pub faults: Vec<FaultRule>,
    pub journal_capacity: usize,
    /// Each machine's share quota in bytes (same order as `machines`;
    /// `None` is unlimited): the machine's `quota_bytes`, or its older
    /// spelling in the `sftp`/`ssh` options table.
    pub share_quotas: Vec<Option<u64>>,
}

impl Scenario {
    /// Loads a scenario by shipped name or by path.
    pub fn load(name_or_path: &str, opts: &ParseOptions) -> Result<Scenario, ScenarioError> {
        if let Some((name, text)) = SHIPPED.iter().find(|(n, _)| *n == name_or_path) {
            return Scenario::parse(&format!("{name}.toml"), text, opts);
        }
        let text = std::fs::read_to_string(name_or_path).map_err(|e| ScenarioError {
            file: name_or_path.to_string(),
            line: 0,
            column: 0,
            message: format!(
                "cannot read scenario: {e} (shipped scenarios: {})",
                SHIPPED
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
        Scenario::parse(name_or_path, &text, opts)
    }

    /// The embedded default scenario.
    pub fn default_scenario() -> Scenario {
        match Scenario::load(DEFAULT, &ParseOptions::default()) {
            Ok(s) => s,
            // The shipped scenario is validated by a unit test; failing here
            // is a build defect, not a user error.
            Err(e) => panic!("embedded default scenario is invalid: {e}"),
        }
    }

    /// Parses and validates scenario text.
    pub fn parse(file: &str, text: &str, opts: &ParseOptions) -> Result<Scenario, ScenarioError> {
        let err_at = |span: Range<usize>, message: String| {
            let (line, column) = line_col(text, span.start);
            ScenarioError {
                file: file.to_string(),
                line,
                column,
                message,
            }
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            err_at(span, e.message().trim().to_string())
        })?;
        Builder::new(opts, &err_at).build(raw)
    }

    /// Builds a fresh model from this scenario.
    pub fn model(&self) -> Model {
        Model::new(ModelParts {
            machines: self.machines.clone(),
            chassis: self.chassis.clone(),
            users: self.users.clone(),
            faults: self.faults.clone(),
            journal_capacity: self.journal_capacity,
        })
        .with_share_quotas(&self.share_quotas)
    }

    /// Machines and services whose ports collide after adding `offset`.
    pub fn endpoint_count(&self) -> usize {
        self.machines.iter().map(|m| m.endpoints.len()).sum()
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Expands `{n}` / `{n:03}` in a fleet name pattern.
fn expand_pattern(pattern: &str, n: u32) -> Option<String> {
    let start = pattern.find("{n")?;
    let end = start + pattern[start..].find('}')?;
    let spec = &pattern[start + 2..end];
    let number = if let Some(width) = spec.strip_prefix(":0") {
        let w: usize = width.parse().ok()?;
        format!("{n:0w$}")
    } else if spec.is_empty() {
        n.to_string()
    } else {
        return None;
    };
    Some(format!(
        "{}{}{}",
        &pattern[..start],
        number,
        &pattern[end + 1..]
    ))
}

/// A stable 128-bit value from a name (FNV-1a, two seeds), shaped as an
/// RFC 4122 version-4 UUID and stored in SMBIOS byte order.
fn derived_guid(name: &str) -> [u8; 16] {
    let fnv = |seed: u64| {
        let mut h = seed;
        for b in name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        h
    };
    let a = fnv(0xcbf2_9ce4_8422_2325).to_be_bytes();
    let b = fnv(0x84222325_cbf29ce4).to_be_bytes();
    let mut u = [0u8; 16];
    u[..8].copy_from_slice(&a);
    u[8..].copy_from_slice(&b);
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    // RFC 4122 order -> SMBIOS order (first three fields little-endian).
    [
        u[3], u[2], u[1], u[0], u[5], u[4], u[7], u[6], u[8], u[9], u[10], u[11], u[12], u[13],
        u[14], u[15],
    ]
}

fn default_users(role: Role) -> Vec<User> {
    let u = |id, name: &str, password: &str, privilege| User {
        id,
        name: name.to_string(),
        password: password.to_string(),
        privilege,
        enabled: true,
        authorized_keys: Vec::new(),
    };
    match role {
        Role::Bmc => vec![
            u(2, "admin", "password", Privilege::Admin),
            u(3, "operator", "operator", Privilege::Operator),
            u(4, "user", "user", Privilege::User),
        ],
        Role::EsxHost | Role::EsxiHost => vec![u(1, "root", "VMware1!", Privilege::Admin)],
        // vCenter's SSO administrator (the vSphere SDK logs in with it).
        Role::Vcenter => vec![u(
            1,
            "administrator@vsphere.local",
            "VMware1!",
            Privilege::Admin,
        )],
        // SQL Server's own login beside the Windows account: `sa` with the
        // lab's one password (TDS logs in with either).
        Role::SqlServer => vec![
            u(1, "Administrator", "P@ssw0rd!", Privilege::Admin),
            u(2, "sa", "P@ssw0rd!", Privilege::Admin),
        ],
        _ => vec![u(1, "Administrator", "P@ssw0rd!", Privilege::Admin)],
    }
}

struct Builder<'a, F> {
    opts: &'a ParseOptions,
    err_at: &'a F,
}

/// One machine entry after fleet expansion, before linking.
struct Entry<'r> {
    name: String,
    name_span: Range<usize>,
    raw: &'r RawMachine,
    role: Role,
    address: IpAddr,
    address_span: Range<usize>,
    bmc: Option<(String, Range<usize>)>,
}

impl<'a, F> Builder<'a, F>
where
    F: Fn(Range<usize>, String) -> ScenarioError,
{
    fn new(opts: &'a ParseOptions, err_at: &'a F) -> Self {
        Builder { opts, err_at }
    }

    fn err<T>(&self, span: Range<usize>, message: String) -> Result<T, ScenarioError> {
        Err((self.err_at)(span, message))
    }

    fn role(&self, s: &Spanned<String>) -> Result<Role, ScenarioError> {
        s.get_ref()
            .parse()
            .or_else(|m: String| self.err(s.span(), m))
    }

    fn address(&self, s: &Spanned<String>) -> Result<IpAddr, ScenarioError> {
        let addr: IpAddr = match s.get_ref().parse() {
            Ok(a) => a,
            Err(_) => return self.err(s.span(), format!("'{}' is not an IP address", s.get_ref())),
        };
        if !addr.is_loopback() && !self.opts.allow_non_loopback {
            return self.err(
                s.span(),
                format!(
                    "address {addr} is not a loopback address; fakedc binds only 127.0.0.0/8 and ::1 unless --allow-non-loopback is given"
                ),
            );
        }
        Ok(addr)
    }

    fn build(&self, raw: RawFile) -> Result<Scenario, ScenarioError> {
        let defaults = raw.defaults.clone().unwrap_or_default();
        let mut entries: Vec<Entry<'_>> = Vec::new();
        for m in &raw.machine {
            entries.push(Entry {
                name: m.name.get_ref().clone(),
                name_span: m.name.span(),
                raw: m,
                role: self.role(&m.role)?,
                address: self.address(&m.address)?,
                address_span: m.address.span(),
                bmc: m.bmc.as_ref().map(|b| (b.get_ref().clone(), b.span())),
            });
        }
        for f in &raw.fleet {
            let count = *f.count.get_ref();
            if count == 0 || count > 65_000 {
                return self.err(
                    f.count.span(),
                    format!("fleet count {count} must be 1..=65000"),
                );
            }
            let role = self.role(&f.host.role)?;
            let base = self.fleet_base(&f.host.address)?;
            let bmc_base = match &f.bmc {
                Some(b) => Some(self.fleet_base(&b.address)?),
                None => None,
            };
            let start = f.start.unwrap_or(1);
            for i in 0..count {
                let n = start + i;
                let name = self.fleet_name(&f.host.name, n)?;
                let address = self.fleet_address(base, i, &f.host.address)?;
                let bmc = match (&f.bmc, bmc_base) {
                    (Some(b), Some(bb)) => {
                        let bmc_name = self.fleet_name(&b.name, n)?;
                        entries.push(Entry {
                            name: bmc_name.clone(),
                            name_span: b.name.span(),
                            raw: b,
                            role: Role::Bmc,
                            address: self.fleet_address(bb, i, &b.address)?,
                            address_span: b.address.span(),
                            bmc: None,
                        });
                        Some((bmc_name, b.name.span()))
                    }
                    _ => None,
                };
                entries.push(Entry {
                    name,
                    name_span: f.host.name.span(),
                    raw: &f.host,
                    role,
                    address,
                    address_span: f.host.address.span(),
                    bmc,
                });
            }
        }
        self.link(raw.scenario.as_ref(), &defaults, entries, &raw)
    }

    fn fleet_base(&self, s: &Spanned<String>) -> Result<u32, ScenarioError> {
        match self.address(s)? {
            IpAddr::V4(a) => Ok(u32::from(a)),
            IpAddr::V6(_) => self.err(s.span(), "fleet addresses must be IPv4".into()),
        }
    }

    fn fleet_name(&self, pattern: &Spanned<String>, n: u32) -> Result<String, ScenarioError> {
        expand_pattern(pattern.get_ref(), n).map_or_else(
            || {
                self.err(
                    pattern.span(),
                    format!(
                        "fleet name '{}' needs a pattern such as \"hv{{n:03}}\"",
                        pattern.get_ref()
                    ),
                )
            },
            Ok,
        )
    }

    fn fleet_address(
        &self,
        base: u32,
        i: u32,
        span: &Spanned<String>,
    ) -> Result<IpAddr, ScenarioError> {
        let a = base.checked_add(i).map(Ipv4Addr::from);
        match a {
            Some(a) if a.is_loopback() || self.opts.allow_non_loopback => Ok(IpAddr::V4(a)),
            _ => self.err(
                span.span(),
                "the fleet runs past the end of 127.0.0.0/8".into(),
            ),
        }
    }

    fn link(
        &self,
        meta: Option<&raw::RawScenario>,
        defaults: &raw::RawDefaults,
        entries: Vec<Entry<'_>>,
        raw: &RawFile,
    ) -> Result<Scenario, ScenarioError> {
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut by_addr: HashMap<IpAddr, usize> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            if let Some(prev) = index.insert(e.name.as_str(), i) {
                let _ = prev;
                return self.err(
                    e.name_span.clone(),
                    format!("machine '{}' is defined twice", e.name),
                );
            }
            if let Some(prev) = by_addr.insert(e.address, i) {
                return self.err(
                    e.address_span.clone(),
                    format!(
                        "machine '{}': address {} is already used by machine '{}'",
                        e.name, e.address, entries[prev].name
                    ),
                );
            }
        }

        // BMC links: host -> bmc, and the BMC shares the host's chassis.
        let mut bmc_of: Vec<Option<usize>> = vec![None; entries.len()];
        let mut host_of: Vec<Option<usize>> = vec![None; entries.len()];
        for (i, e) in entries.iter().enumerate() {
            if let Some((bmc, span)) = &e.bmc {
                let Some(&b) = index.get(bmc.as_str()) else {
                    return self.err(
                        span.clone(),
                        format!("machine '{}': bmc '{}' is not defined", e.name, bmc),
                    );
                };
                if entries[b].role != Role::Bmc {
                    return self.err(
                        span.clone(),
                        format!(
                            "machine '{}': '{}' is a {}, not a bmc",
                            e.name, bmc, entries[b].role
                        ),
                    );
                }
                if e.role == Role::Bmc {
                    return self.err(
                        span.clone(),
                        format!("machine '{}': a bmc cannot have a bmc", e.name),
                    );
                }
                if let Some(other) = host_of[b] {
                    return self.err(
                        span.clone(),
                        format!(
                            "machine '{}': bmc '{}' already manages '{}'",
                            e.name, bmc, entries[other].name
                        ),
                    );
                }
                host_of[b] = Some(i);
                bmc_of[i] = Some(b);
            }
        }

        // VM guests: a VM names its guest machine; the guest shares the
        // VM's chassis.
        let mut guest_vm: HashMap<usize, (usize, usize)> = HashMap::new(); // guest -> (host, vm idx)
        for (i, e) in entries.iter().enumerate() {
            for (vi, vm) in e.raw.vm.iter().enumerate() {
                if let Some(g) = &vm.guest {
                    let Some(&gi) = index.get(g.get_ref().as_str()) else {
                        return self.err(
                            g.span(),
                            format!(
                                "machine '{}': vm guest '{}' is not defined",
                                e.name,
                                g.get_ref()
                            ),
                        );
                    };
                    if entries[gi].role != Role::VmGuest {
                        return self.err(
                            g.span(),
                            format!(
                                "machine '{}': vm guest '{}' is a {}, not a vm-guest",
                                e.name,
                                g.get_ref(),
                                entries[gi].role
                            ),
                        );
                    }
                    if guest_vm.insert(gi, (i, vi)).is_some() {
                        return self.err(
                            g.span(),
                            format!("vm guest '{}' is used by two VMs", g.get_ref()),
                        );
                    }
                }
            }
            if !e.raw.vm.is_empty()
                && !matches!(e.role, Role::HypervHost | Role::EsxHost | Role::EsxiHost)
            {
                return self.err(
                    e.name_span.clone(),
                    format!("machine '{}': only hypervisor hosts have VMs", e.name),
                );
            }
        }

        let timing_of = |r: &RawMachine| Timing {
            boot_delay: Duration::from_millis(
                r.boot_delay_ms.or(defaults.boot_delay_ms).unwrap_or(3000),
            ),
            shutdown_delay: Duration::from_millis(
                r.shutdown_delay_ms
                    .or(defaults.shutdown_delay_ms)
                    .unwrap_or(2000),
            ),
            cycle_interval: Duration::from_millis(
                r.cycle_interval_ms
                    .or(defaults.cycle_interval_ms)
                    .unwrap_or(1000),
            ),
        };

        // Chassis: one per non-BMC machine that is not a VM guest, one per
        // bare BMC, one per VM.
        let mut chassis: Vec<Chassis> = Vec::new();
        let mut chassis_of: Vec<Option<ChassisId>> = vec![None; entries.len()];
        let mut vm_chassis: HashMap<(usize, usize), ChassisId> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            let bmc_raw = bmc_of[i].map(|b| entries[b].raw);
            let owns = match e.role {
                Role::Bmc => host_of[i].is_none(),
                Role::VmGuest => !guest_vm.contains_key(&i),
                _ => true,
            };
            // The host's shape, made once for its chassis and its VMs'
            // clock.
            let mut host_compute = None;
            if owns {
                let hw = self.hardware(e, bmc_raw)?;
                let mut c = Chassis::new(
                    hw,
                    timing_of(e.raw),
                    e.raw.power.as_deref().unwrap_or("on") != "off",
                );
                c.compute = *host_compute.insert(self.compute(e, bmc_raw)?);
                if !e.raw.sensor.is_empty() {
                    c.sensors = self.sensors(e.raw)?;
                } else if let Some(b) = bmc_raw.filter(|b| !b.sensor.is_empty()) {
                    c.sensors = self.sensors(b)?;
                }
                chassis_of[i] = Some(ChassisId(chassis.len()));
                chassis.push(c);
            }
            for (vi, vm) in e.raw.vm.iter().enumerate() {
                let name = format!("{}/{}", e.name, vm.name);
                let mut hw = self.hardware(e, None)?;
                hw.vendor = "Microsoft Corporation".into();
                hw.model = "Virtual Machine".into();
                hw.smbios_guid = derived_guid(&name);
                hw.serial = format!(
                    "VM-{:08X}",
                    u32::from_le_bytes([
                        hw.smbios_guid[0],
                        hw.smbios_guid[1],
                        hw.smbios_guid[2],
                        hw.smbios_guid[3]
                    ])
                );
                let running = vm.state.as_deref().unwrap_or("running") == "running";
                let mut c = Chassis::new(hw, timing_of(e.raw), running);
                let host_mhz = match host_compute {
                    Some(h) => h.cpu_mhz,
                    None => self.compute(e, bmc_raw)?.cpu_mhz,
                };
                c.compute = self.vm_compute(e, vm, host_mhz)?;
                vm_chassis.insert((i, vi), ChassisId(chassis.len()));
                chassis.push(c);
            }
        }
        for (i, e) in entries.iter().enumerate() {
            if chassis_of[i].is_none() {
                chassis_of[i] = match e.role {
                    Role::Bmc => host_of[i].and_then(|h| chassis_of[h]),
                    Role::VmGuest => guest_vm.get(&i).and_then(|k| vm_chassis.get(k).copied()),
                    _ => None,
                };
            }
        }

        let mut machines = Vec::with_capacity(entries.len());
        let mut users = Vec::with_capacity(entries.len());
        let mut share_quotas = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let Some(chassis_id) = chassis_of[i] else {
                return self.err(
                    e.name_span.clone(),
                    format!("machine '{}': internal error: no chassis", e.name),
                );
            };
            let endpoints = self.endpoints(e)?;
            let mut options = BTreeMap::new();
            let checks = &self.opts.option_checks;
            for (k, v) in &e.raw.options {
                // Tables are the protocols' own (`winrm` covers 5985, 5986
                // and 80; `sftp`, `ssh`, `bmc-ssh` one endpoint each).
                if !checks.is_empty() && !checks.iter().any(|c| c.tables.contains(&k.as_str())) {
                    let mut known: Vec<&str> = checks
                        .iter()
                        .flat_map(|c| c.tables.iter().copied())
                        .collect();
                    known.sort_unstable();
                    return self.err(
                        v.span(),
                        format!(
                            "machine '{}': unknown options table '{k}' (known: {})",
                            e.name,
                            known.join(", ")
                        ),
                    );
                }
                let json = serde_json::to_value(v.get_ref()).map_err(|err| {
                    (self.err_at)(
                        v.span(),
                        format!("machine '{}': options.{k}: {err}", e.name),
                    )
                })?;
                options.insert(k.clone(), json);
            }
            let vms = e
                .raw
                .vm
                .iter()
                .enumerate()
                .map(|(vi, vm)| {
                    let chassis = vm_chassis.get(&(i, vi)).copied().unwrap_or(chassis_id);
                    let guid = derived_guid(&format!("{}/{}", e.name, vm.name));
                    Vm {
                        id: vm
                            .id
                            .clone()
                            .unwrap_or_else(|| guid_text(&guid).to_uppercase()),
                        name: vm.name.clone(),
                        chassis,
                        guest: vm
                            .guest
                            .as_ref()
                            .and_then(|g| index.get(g.get_ref().as_str()))
                            .map(|&g| MachineId(g)),
                    }
                })
                .collect();
            let user_list = self.users(e)?;
            users.push(user_list);
            let machine = Machine {
                id: MachineId(i),
                name: e.name.clone(),
                role: e.role,
                address: e.address,
                dns_name: format!(
                    "{}.{}",
                    e.name,
                    meta.and_then(|m| m.domain.clone())
                        .unwrap_or_else(|| "fakedc.test".into())
                ),
                chassis: chassis_id,
                bmc: bmc_of[i].map(MachineId),
                host: host_of[i].map(MachineId),
                vm_host: guest_vm.get(&i).map(|(h, _)| MachineId(*h)),
                endpoints,
                options,
                share: e.raw.share.as_ref().map(PathBuf::from),
                vms,
            };
            for c in &self.opts.option_checks {
                if let Err((table, message)) = (c.check)(&machine) {
                    let span = e
                        .raw
                        .options
                        .get(&table)
                        .map(|v| v.span())
                        .unwrap_or(e.name_span.clone());
                    return self.err(
                        span,
                        format!("machine '{}': options.{table}: {message}", e.name),
                    );
                }
            }
            share_quotas.push(self.share_quota(e)?);
            machines.push(machine);
        }

        let mut faults = Vec::new();
        for f in &raw.fault {
            let rule: FaultRule = serde_json::to_value(f.get_ref())
                .and_then(serde_json::from_value)
                .map_err(|err| (self.err_at)(f.span(), format!("fault rule: {err}")))?;
            if let Some(m) = &rule.machine {
                if !index.contains_key(m.as_str()) {
                    return self.err(
                        f.span(),
                        format!("fault rule: machine '{m}' is not defined"),
                    );
                }
            }
            if let Some(s) = &rule.service {
                let _: ServiceKind = s
                    .parse()
                    .or_else(|m: String| self.err(f.span(), format!("fault rule: {m}")))?;
            }
            faults.push(rule);
        }

        Ok(Scenario {
            name: meta
                .and_then(|m| m.name.clone())
                .unwrap_or_else(|| "unnamed".into()),
            description: meta.and_then(|m| m.description.clone()).unwrap_or_default(),
            machines,
            chassis,
            users,
            faults,
            journal_capacity: defaults.journal_capacity.unwrap_or(100_000),
            share_quotas,
        })
    }

    /// The machine's share quota: `quota_bytes` on the machine, or the
    /// older spelling, `quota_bytes` in its `[machine.options.sftp]` or
    /// `[machine.options.ssh]` table (kept as an alias: the quota was
    /// SSH's alone before SMB and BITS counted against it). The machine
    /// has one quota, so two spellings with different values are refused.
    fn share_quota(&self, e: &Entry<'_>) -> Result<Option<u64>, ScenarioError> {
        let mut found = e.raw.quota_bytes.map(|q| (q, "quota_bytes".to_string()));
        for table in ["sftp", "ssh"] {
            let Some(v) = e.raw.options.get(table) else {
                continue;
            };
            let Some(q) = v.get_ref().get("quota_bytes") else {
                continue;
            };
            let Some(q) = q.as_integer().and_then(|q| u64::try_from(q).ok()) else {
                return self.err(
                    v.span(),
                    format!(
                        "machine '{}': options.{table}.quota_bytes must be a number of bytes",
                        e.name
                    ),
                );
            };
            match &found {
                Some((other, what)) if *other != q => {
                    return self.err(
                        v.span(),
                        format!(
                            "machine '{}': options.{table}.quota_bytes = {q} differs from {what} = {other} (the machine's share has one quota)",
                            e.name
                        ),
                    )
                }
                _ => found = Some((q, format!("options.{table}.quota_bytes"))),
            }
        }
        Ok(found.map(|(q, _)| q))
    }

    fn endpoints(&self, e: &Entry<'_>) -> Result<Vec<EndpointSpec>, ScenarioError> {
        let mut list: Vec<EndpointSpec> = e
            .role
            .default_services()
            .iter()
            .map(|&s| EndpointSpec {
                service: s,
                port: s.default_port(),
            })
            .collect();
        for (key, setting) in &e.raw.services {
            let span = setting.span();
            let service: ServiceKind = key.parse().or_else(|m: String| {
                self.err(span.clone(), format!("machine '{}': {m}", e.name))
            })?;
            if service.needs_os() == (e.role == Role::Bmc) && service != ServiceKind::BmcSsh {
                return self.err(
                    span,
                    format!(
                        "machine '{}': service '{}' does not belong on a {}",
                        e.name, key, e.role
                    ),
                );
            }
            list.retain(|x| x.service != service);
            match setting.get_ref() {
                RawServiceSetting::Enabled(false) => {}
                RawServiceSetting::Enabled(true) => list.push(EndpointSpec {
                    service,
                    port: service.default_port(),
                }),
                RawServiceSetting::Port(p) => {
                    let Ok(port) = u16::try_from(*p) else {
                        return self.err(
                            span,
                            format!("machine '{}': port {p} is out of range", e.name),
                        );
                    };
                    list.push(EndpointSpec { service, port });
                }
            }
        }
        for (i, a) in list.iter().enumerate() {
            for b in &list[..i] {
                let shareable =
                    a.service.http() && b.service.http() && a.service.tls() == b.service.tls();
                if a.port == b.port && a.service.transport() == b.service.transport() && !shareable
                {
                    let span = e
                        .raw
                        .services
                        .get(a.service.name())
                        .or(e.raw.services.get(b.service.name()))
                        .map(|s| s.span())
                        .unwrap_or(e.name_span.clone());
                    return self.err(
                        span,
                        format!(
                            "machine '{}': port {} conflict: services '{}' and '{}' both use it and cannot share it (only HTTP endpoints with the same TLS setting can)",
                            e.name, a.port, b.service, a.service
                        ),
                    );
                }
            }
        }
        list.sort_by_key(|e| (e.port, e.service));
        Ok(list)
    }

    fn hardware(&self, e: &Entry<'_>, bmc: Option<&RawMachine>) -> Result<Hardware, ScenarioError> {
        let pick = |f: fn(&RawMachine) -> Option<&String>| f(e.raw).or(bmc.and_then(f)).cloned();
        let guid = match pick(|r| r.guid.as_ref()) {
            Some(text) => parse_guid(&text).map_or_else(
                || {
                    self.err(
                        e.name_span.clone(),
                        format!("machine '{}': guid '{text}' is not a UUID", e.name),
                    )
                },
                Ok,
            )?,
            None => derived_guid(&e.name),
        };
        let serial_default = format!(
            "FDC{:08X}",
            u32::from_le_bytes([guid[0], guid[1], guid[2], guid[3]])
        );
        Ok(Hardware {
            vendor: pick(|r| r.vendor.as_ref()).unwrap_or_else(|| "Contoso Systems".into()),
            model: pick(|r| r.model.as_ref()).unwrap_or_else(|| "CS-R740".into()),
            serial: pick(|r| r.serial.as_ref()).unwrap_or(serial_default),
            smbios_guid: guid,
            asset_tag: pick(|r| r.asset_tag.as_ref()).unwrap_or_default(),
            part_number: pick(|r| r.part_number.as_ref()).unwrap_or_else(|| "0CS740A01".into()),
            bios_version: "2.19.1".into(),
            bmc_firmware: "7.10.30".into(),
        })
    }

    /// A host's processors and memory: `cpus`, `cores_per_cpu`, `cpu_mhz`
    /// and `memory_gib` on the machine or its BMC (like `vendor`), or the
    /// older spelling in the BMC's `[machine.options.smash]` table, kept as
    /// an alias (SMASH was the only front that reported them). The machine
    /// has one shape, so two spellings with different values are refused.
    fn compute(&self, e: &Entry<'_>, bmc: Option<&RawMachine>) -> Result<Compute, ScenarioError> {
        let d = Compute::SERVER;
        let cpus = self.compute_key(e, bmc, "cpus", |r| r.cpus.as_ref(), 1..=64)?;
        let cores = self.compute_key(
            e,
            bmc,
            "cores_per_cpu",
            |r| r.cores_per_cpu.as_ref(),
            1..=1024,
        )?;
        let mhz = self.compute_key(e, bmc, "cpu_mhz", |r| r.cpu_mhz.as_ref(), 1..=100_000)?;
        let gib = self.compute_key(e, bmc, "memory_gib", |r| r.memory_gib.as_ref(), 1..=1 << 24)?;
        Ok(Compute {
            cpus: cpus.map_or(d.cpus, |v| v as u32),
            cores_per_cpu: cores.map_or(d.cores_per_cpu, |v| v as u32),
            threads_per_core: d.threads_per_core,
            cpu_mhz: mhz.map_or(d.cpu_mhz, |v| v as u32),
            memory_mib: gib.map_or(d.memory_mib, |v| v * 1024),
        })
    }

    /// One of [`Self::compute`]'s keys, checked against `range` (all of
    /// them fit in `u32` but memory).
    fn compute_key(
        &self,
        e: &Entry<'_>,
        bmc: Option<&RawMachine>,
        key: &str,
        get: fn(&RawMachine) -> Option<&Spanned<u64>>,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Option<u64>, ScenarioError> {
        let mut found: Option<(u64, String)> = None;
        let mut spellings: Vec<(u64, Range<usize>, String)> = Vec::new();
        for r in std::iter::once(e.raw).chain(bmc) {
            if let Some(v) = get(r) {
                spellings.push((*v.get_ref(), v.span(), key.to_string()));
            }
            if let Some(t) = r.options.get("smash") {
                if let Some(v) = t.get_ref().get(key) {
                    let Some(n) = v.as_integer().and_then(|n| u64::try_from(n).ok()) else {
                        return self.err(
                            t.span(),
                            format!("machine '{}': options.smash.{key} must be a number", e.name),
                        );
                    };
                    spellings.push((n, t.span(), format!("options.smash.{key}")));
                }
            }
        }
        for (v, span, what) in spellings {
            if !range.contains(&v) {
                return self.err(
                    span,
                    format!(
                        "machine '{}': {what} = {v} must be {}..={}",
                        e.name,
                        range.start(),
                        range.end()
                    ),
                );
            }
            match &found {
                Some((other, first)) if *other != v => {
                    return self.err(
                        span,
                        format!(
                            "machine '{}': {what} = {v} differs from {first} = {other} (the machine has one shape)",
                            e.name
                        ),
                    )
                }
                Some(_) => {}
                None => found = Some((v, what)),
            }
        }
        Ok(found.map(|(v, _)| v))
    }

    /// A VM's virtual processors (`cpus`, default 2) and memory
    /// (`memory_mb`, default 4096), at its host's clock.
    fn vm_compute(
        &self,
        e: &Entry<'_>,
        vm: &raw::RawVm,
        host_mhz: u32,
    ) -> Result<Compute, ScenarioError> {
        let vcpus = vm.cpus.as_ref().map_or(Ok(2), |v| {
            let n = *v.get_ref();
            if (1..=1024).contains(&n) {
                Ok(n as u32)
            } else {
                self.err(
                    v.span(),
                    format!(
                        "vm '{}' of '{}': cpus = {n} must be 1..=1024",
                        vm.name, e.name
                    ),
                )
            }
        })?;
        let memory = vm.memory_mb.as_ref().map_or(Ok(4096), |v| {
            let n = *v.get_ref();
            if (1..=1 << 24).contains(&n) {
                Ok(n)
            } else {
                self.err(
                    v.span(),
                    format!(
                        "vm '{}' of '{}': memory_mb = {n} must be 1..=16777216",
                        vm.name, e.name
                    ),
                )
            }
        })?;
        Ok(Compute::vm(vcpus, host_mhz, memory))
    }

    fn sensors(&self, r: &RawMachine) -> Result<Vec<Sensor>, ScenarioError> {
        r.sensor
            .iter()
            .map(|s| {
                let kind = match s.kind.get_ref().as_str() {
                    "temperature" => SensorKind::Temperature,
                    "fan" => SensorKind::Fan,
                    "voltage" => SensorKind::Voltage,
                    "current" => SensorKind::Current,
                    "power" => SensorKind::Power,
                    other => return self.err(s.kind.span(), format!("unknown sensor kind '{other}' (temperature, fan, voltage, current, power)")),
                };
                Ok(Sensor {
                    name: s.name.clone(),
                    kind,
                    on_value: s.on,
                    off_value: s.off.unwrap_or(0.0),
                    lower_critical: s.lower_critical,
                    lower_non_critical: s.lower_non_critical,
                    upper_non_critical: s.upper_non_critical,
                    upper_critical: s.upper_critical,
                })
            })
            .collect()
    }

    fn users(&self, e: &Entry<'_>) -> Result<Vec<User>, ScenarioError> {
        if e.raw.user.is_empty() {
            return Ok(default_users(e.role));
        }
        let mut out: Vec<User> = Vec::new();
        for (i, u) in e.raw.user.iter().enumerate() {
            let privilege = match u
                .privilege
                .as_ref()
                .map(|p| p.get_ref().as_str())
                .unwrap_or("admin")
            {
                "callback" => Privilege::Callback,
                "user" => Privilege::User,
                "operator" => Privilege::Operator,
                "admin" | "administrator" => Privilege::Admin,
                other => {
                    let span = u
                        .privilege
                        .as_ref()
                        .map(|p| p.span())
                        .unwrap_or(e.name_span.clone());
                    return self.err(
                        span,
                        format!("unknown privilege '{other}' (callback, user, operator, admin)"),
                    );
                }
            };
            let id = u.id.unwrap_or(if e.role == Role::Bmc {
                i as u8 + 2
            } else {
                i as u8 + 1
            });
            if out.iter().any(|x| x.id == id || x.name == u.name) {
                return self.err(
                    e.name_span.clone(),
                    format!(
                        "machine '{}': user '{}' or id {id} given twice",
                        e.name, u.name
                    ),
                );
            }
            out.push(User {
                id,
                name: u.name.clone(),
                password: u.password.clone(),
                privilege,
                enabled: u.enabled.unwrap_or(true),
                authorized_keys: u.authorized_keys.clone(),
            });
        }
        Ok(out)
    }
}

fn parse_guid(text: &str) -> Option<[u8; 16]> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut u = [0u8; 16];
    for (i, b) in u.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some([
        u[3], u[2], u[1], u[0], u[5], u[4], u[7], u[6], u[8], u[9], u[10], u[11], u[12], u[13],
        u[14], u[15],
    ])
}

fn guid_text(g: &[u8; 16]) -> String {
    Hardware {
        vendor: String::new(),
        model: String::new(),
        serial: String::new(),
        smbios_guid: *g,
        asset_tag: String::new(),
        part_number: String::new(),
        bios_version: String::new(),
        bmc_firmware: String::new(),
    }
    .guid_string()
}

/// The directory of shipped scenarios in a source checkout, if present.
pub fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

#[cfg(test)]
mod tests;
