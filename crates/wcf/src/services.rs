//! The operations behind the contracts, over the shared model: the VMM
//! server manages every Hyper-V/ESX host and VM of the datacenter, so a VM
//! started here is the same chassis WMI's `RequestStateChange` starts, and
//! its guest's endpoints follow its power.

use crate::contract::{self, Contract, Op, Ty, Val};
use crate::nbfx;
use crate::soap::Fault;
use fakedc_model::{ChassisId, Model, PowerAction, PowerState, Role};
use fakedc_xml::Element;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The VMM version the server reports (System Center 2019 VMM UR2).
pub const PRODUCT_VERSION: &str = "10.19.2445.0";
pub const PRODUCT_NAME: &str = "System Center Virtual Machine Manager 2019";

/// Jobs kept (oldest dropped first) and agents remembered.
const MAX_JOBS: usize = 256;
const MAX_AGENTS: usize = 1024;

#[derive(Debug, Clone)]
struct Job {
    id: String,
    name: String,
    chassis: ChassisId,
    /// The state that completes it: true = OS up, false = powered off.
    want_up: bool,
}

#[derive(Debug, Clone, Default)]
struct Agent {
    percent: i64,
    message: String,
}

/// Per-process state of the VMM services (jobs, WinPE registrations).
pub struct Vmm {
    model: Arc<Model>,
    jobs: Mutex<Vec<Job>>,
    agents: Mutex<HashMap<String, Agent>>,
}

/// A parameter's value from the request body.
fn param<'a>(payload: &'a Element, name: &str) -> Option<&'a str> {
    payload
        .children
        .iter()
        .find(|c| c.name == name && (c.ns == contract::NS || c.ns.is_empty()))
        .map(|c| c.text.as_str())
}

impl Vmm {
    pub fn new(model: Arc<Model>) -> Vmm {
        Vmm {
            model,
            jobs: Mutex::new(Vec::new()),
            agents: Mutex::new(HashMap::new()),
        }
    }

    /// Runs one operation. `machine` is the VMM server answering.
    pub fn call(
        &self,
        c: &Contract,
        op: &Op,
        payload: Option<&Element>,
        machine: fakedc_model::MachineId,
    ) -> Result<Val, Fault> {
        let empty = Element::default();
        let p = payload.unwrap_or(&empty);
        if payload.is_some_and(|e| e.name != op.name || e.ns != contract::NS) {
            return Err(Fault::deserialize(
                op.name,
                &format!(
                    "Expecting element '{}' from namespace '{}'.. Encountered 'Element'  with name '{}', namespace '{}'. ",
                    op.name,
                    contract::NS,
                    p.name,
                    p.ns
                ),
            ));
        }
        let mut args: Vec<String> = Vec::new();
        for (name, ty) in op.params {
            let v = param(p, name).unwrap_or_default().trim().to_string();
            if *ty == Ty::Int && !v.is_empty() && v.parse::<i64>().is_err() {
                return Err(Fault::deserialize(
                    op.name,
                    &format!("The value '{v}' cannot be parsed as the type 'Int32'."),
                ));
            }
            args.push(v);
        }
        let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
        let now = self.model.clock.now();
        match (c.name, op.name) {
            ("ITimeSync", "GetTime") => Ok(Val::DateTime(nbfx::ticks_from_unix_millis(
                self.model.clock.unix_millis() as i64,
            ))),
            ("IVirtualManagerService", "GetServerInfo") => {
                let m = self.model.machine(machine);
                Ok(Val::Struct(vec![
                    Val::Str(m.name.to_ascii_uppercase()),
                    Val::Str(m.dns_name.clone()),
                    Val::Str(PRODUCT_NAME.into()),
                    Val::Str(PRODUCT_VERSION.into()),
                ]))
            }
            ("IVirtualManagerService", "GetHosts") => Ok(Val::Array(
                self.model
                    .machines()
                    .iter()
                    .filter_map(|m| {
                        let ty = match m.role {
                            Role::HypervHost => "HyperV",
                            Role::EsxHost | Role::EsxiHost => "VMWareESX",
                            _ => return None,
                        };
                        let power = self.model.with_chassis(m.chassis, now, |c| c.power);
                        Some(Val::Struct(vec![
                            Val::Str(m.dns_name.clone()),
                            Val::Str(ty.into()),
                            Val::Str(
                                if power == PowerState::Off {
                                    "Off"
                                } else {
                                    "On"
                                }
                                .into(),
                            ),
                            Val::Int(self.model.vms(m.id).len() as i64),
                        ]))
                    })
                    .collect(),
            )),
            ("IVirtualManagerService", "GetVirtualMachines") => {
                let mut out = Vec::new();
                for m in self.model.machines() {
                    for vm in self.model.vms(m.id) {
                        out.push(Val::Struct(vec![
                            Val::Str(m.name.clone()),
                            Val::Str(vm.id.clone()),
                            Val::Str(vm.name.clone()),
                            Val::Str(self.status(vm.chassis, now).into()),
                        ]));
                    }
                }
                Ok(Val::Array(out))
            }
            (
                "IVirtualManagerService",
                "StartVirtualMachine" | "StopVirtualMachine" | "ShutdownVirtualMachine",
            ) => {
                let name = arg(0);
                let vm = self
                    .model
                    .machines()
                    .iter()
                    .flat_map(|m| self.model.vms(m.id))
                    .find(|v| v.name.eq_ignore_ascii_case(name) || v.id.eq_ignore_ascii_case(name))
                    .ok_or_else(|| {
                        Fault::sender(format!(
                            "Unable to find the specified virtual machine {name}. (Error ID: 801)"
                        ))
                    })?;
                let (action, want_up, job_name) = match op.name {
                    "StartVirtualMachine" => (PowerAction::On, true, "Start virtual machine"),
                    "StopVirtualMachine" => (PowerAction::Off, false, "Stop virtual machine"),
                    _ => (PowerAction::Soft, false, "Shut down virtual machine"),
                };
                self.model.with_chassis(vm.chassis, now, |ch| {
                    if action == PowerAction::On && ch.suspended.is_some() {
                        ch.resume(now);
                    } else {
                        ch.power_action(action, now);
                    }
                });
                let job = Job {
                    id: new_guid(),
                    name: job_name.into(),
                    chassis: vm.chassis,
                    want_up,
                };
                let v = self.job_val(&job, now);
                let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
                if jobs.len() >= MAX_JOBS {
                    jobs.remove(0);
                }
                jobs.push(job);
                Ok(v)
            }
            ("IVirtualManagerService", "GetJob") => {
                let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
                let j = jobs
                    .iter()
                    .find(|j| j.id.eq_ignore_ascii_case(arg(0)))
                    .cloned()
                    .ok_or_else(|| {
                        Fault::sender(format!(
                            "The job {} was not found. (Error ID: 1730)",
                            arg(0)
                        ))
                    })?;
                drop(jobs);
                Ok(self.job_val(&j, now))
            }
            ("IWinPEAgent", "RegisterMachine") => {
                let guid = arg(0).to_ascii_lowercase();
                let host = self.machine_by_guid(&guid, now).ok_or_else(|| {
                    Fault::sender(format!("The SMBIOS GUID {guid} does not match any computer managed by this VMM server."))
                })?;
                let mut a = self.agents.lock().unwrap_or_else(|p| p.into_inner());
                if a.len() >= MAX_AGENTS && !a.contains_key(&guid) {
                    return Err(Fault::sender("Too many Windows PE agents are registered."));
                }
                a.insert(guid, Agent::default());
                Ok(Val::Str(host))
            }
            ("IWinPEAgent", "ReportProgress") => {
                let guid = arg(0).to_ascii_lowercase();
                let mut a = self.agents.lock().unwrap_or_else(|p| p.into_inner());
                Ok(Val::Bool(match a.get_mut(&guid) {
                    Some(ag) => {
                        ag.percent = arg(1).parse::<i64>().unwrap_or(0).clamp(0, 100);
                        ag.message = arg(2).chars().take(1024).collect();
                        true
                    }
                    None => false,
                }))
            }
            ("IWinPEAgent", "GetCommand") => {
                let guid = arg(0).to_ascii_lowercase();
                let a = self.agents.lock().unwrap_or_else(|p| p.into_inner());
                Ok(Val::Str(
                    match a.get(&guid) {
                        None => "Register",
                        Some(ag) if ag.percent >= 100 => "Reboot",
                        Some(_) => "Continue",
                    }
                    .into(),
                ))
            }
            ("IPxeAuthorization", "IsBootAllowed") => Ok(Val::Bool(
                self.machine_by_guid(&arg(0).to_ascii_lowercase(), now)
                    .is_some(),
            )),
            _ => Err(Fault::sender(format!(
                "The operation '{}' is not implemented.",
                op.name
            ))),
        }
    }

    /// VMM's VM status names.
    fn status(&self, chassis: ChassisId, now: Instant) -> &'static str {
        use fakedc_model::Suspension;
        self.model
            .with_chassis(chassis, now, |c| match (c.power, c.suspended) {
                (_, Some(Suspension::Saved)) => "Saved",
                (_, Some(Suspension::Paused)) => "Paused",
                (PowerState::On, None) => "Running",
                (PowerState::Booting { .. } | PowerState::Cycling { .. }, None) => "Starting",
                (PowerState::ShuttingDown { .. }, None) => "Stopping",
                (PowerState::Off, None) => "PowerOff",
            })
    }

    fn job_val(&self, j: &Job, now: Instant) -> Val {
        let done = self.model.with_chassis(j.chassis, now, |c| {
            if j.want_up {
                c.os_up()
            } else {
                c.power == PowerState::Off
            }
        });
        Val::Struct(vec![
            Val::Str(j.id.clone()),
            Val::Str(j.name.clone()),
            Val::Int(if done { 100 } else { 50 }),
            Val::Str(if done { "Completed" } else { "Running" }.into()),
        ])
    }

    /// The DNS name of the machine whose chassis has this SMBIOS GUID.
    fn machine_by_guid(&self, guid: &str, now: Instant) -> Option<String> {
        if guid.is_empty() {
            return None;
        }
        self.model
            .machines()
            .iter()
            .filter(|m| m.role != Role::Bmc)
            .find_map(|m| {
                let g = self
                    .model
                    .with_chassis(m.chassis, now, |c| c.hardware.guid_string());
                g.eq_ignore_ascii_case(guid).then(|| m.dns_name.clone())
            })
    }
}

/// A random GUID (RFC 4122 v4 text).
pub fn new_guid() -> String {
    let b: [u8; 16] = rand::random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
        u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
        (u16::from_be_bytes([b[8], b[9]]) & 0x3fff) | 0x8000,
        u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]])
    )
}
