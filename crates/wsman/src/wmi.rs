//! WMI classes of a Windows host over WS-Man, read from the shared model:
//! root/cimv2 (Win32_OperatingSystem, Win32_ComputerSystem, Win32_Service)
//! on every Windows machine, and root/virtualization/v2 (Msvm_ComputerSystem
//! for the host and its VMs, Msvm_VirtualSystemManagementService,
//! Msvm_ConcreteJob) on Hyper-V hosts. `RequestStateChange` acts on a VM's
//! chassis; the network layer then opens or closes its guest's endpoints.

use crate::fault::Fault;
use crate::provider::{param, Ctx, EndpointRef, Instance, MethodOutput, ResourceProvider, Value};
use crate::xml::Element;
use fakedc_model::{ChassisId, MachineId, PowerAction, PowerState, Role, Suspension};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

pub const CIMV2: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/";
pub const VIRT: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/";

/// The Windows services every fake host lists (name, display name, state).
const SERVICES: &[(&str, &str, &str, &str)] = &[
    (
        "WinRM",
        "Windows Remote Management (WS-Management)",
        "Running",
        "Auto",
    ),
    (
        "vmms",
        "Hyper-V Virtual Machine Management",
        "Running",
        "Auto",
    ),
    (
        "BITS",
        "Background Intelligent Transfer Service",
        "Running",
        "Manual",
    ),
    ("LanmanServer", "Server", "Running", "Auto"),
    ("RpcSs", "Remote Procedure Call (RPC)", "Running", "Auto"),
    ("EventLog", "Windows Event Log", "Running", "Auto"),
    (
        "SCVMMAgent",
        "System Center Virtual Machine Manager Agent",
        "Running",
        "Auto",
    ),
    ("Spooler", "Print Spooler", "Stopped", "Disabled"),
    ("W32Time", "Windows Time", "Running", "Manual"),
];

/// `YYYY-MM-DDTHH:MM:SSZ` of a time (the model's one writer of it).
fn cim_datetime(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    fakedc_model::timefmt::date_time_z(secs)
}

/// root/cimv2.
pub struct Cimv2 {
    /// LastBootUpTime, formatted once: it never changes.
    started: String,
}

impl Cimv2 {
    /// `started` is the hosts' LastBootUpTime (when the datacenter started,
    /// on its clock).
    pub fn new(started: SystemTime) -> Self {
        Cimv2 {
            started: cim_datetime(started),
        }
    }
}

impl ResourceProvider for Cimv2 {
    fn uri_prefix(&self) -> &str {
        CIMV2
    }

    fn cim_namespace(&self) -> &str {
        "root/cimv2"
    }

    fn classes(&self) -> &[&'static str] {
        &[
            "Win32_OperatingSystem",
            "Win32_ComputerSystem",
            "Win32_Service",
        ]
    }

    fn instances(&self, ctx: &Ctx<'_>, class: &str) -> Result<Vec<Instance>, Fault> {
        let m = ctx.model.machine(ctx.machine);
        let uri = format!("{CIMV2}{class}");
        let host = m.name.to_ascii_uppercase();
        let domain = m.dns_name.split_once('.').map_or("", |(_, d)| d);
        Ok(match class {
            "Win32_OperatingSystem" => {
                // Memory as the chassis has it (the shape SMASH, Redfish
                // and Get-ComputerInfo also report), in KB as WMI counts.
                let cpu = ctx.model.compute(m.chassis);
                vec![Instance::new(&uri, class, &[])
                .with("BootDevice", Value::lit("\\Device\\HarddiskVolume1"))
                .with("BuildNumber", Value::lit("17763"))
                .with("BuildType", Value::lit("Multiprocessor Free"))
                .with("Caption", Value::lit("Microsoft Windows Server 2019 Datacenter"))
                .with("CSName", Value::str(host))
                .with("FreePhysicalMemory", Value::str((cpu.free_memory_bytes() / 1024).to_string()))
                .with("LastBootUpTime", Value::Datetime(self.started.clone()))
                .with("LocalDateTime", Value::Datetime(cim_datetime(ctx.model.clock.wall())))
                .with("Manufacturer", Value::lit("Microsoft Corporation"))
                .with("Name", Value::lit("Microsoft Windows Server 2019 Datacenter|C:\\Windows|\\Device\\Harddisk0\\Partition2"))
                .with("OSArchitecture", Value::lit("64-bit"))
                .with("OSType", Value::Int(18))
                .with("ProductType", Value::Int(3))
                .with("SerialNumber", Value::lit("00430-00000-00000-AA000"))
                .with("ServicePackMajorVersion", Value::Int(0))
                .with("Status", Value::lit("OK"))
                .with("SystemDirectory", Value::lit("C:\\Windows\\system32"))
                .with("TotalVisibleMemorySize", Value::str((cpu.visible_memory_bytes() / 1024).to_string()))
                .with("Version", Value::lit("10.0.17763"))
                .with("WindowsDirectory", Value::lit("C:\\Windows"))]
            }
            "Win32_ComputerSystem" => {
                // Only this class needs the hardware identity (not sensors
                // or the event log): read and cloned only here.
                let (hw, cpu) = ctx
                    .model
                    .with_chassis(m.chassis, ctx.now, |c| (c.hardware.clone(), c.compute));
                vec![Instance::new(&uri, class, &["Name"])
                    .with("Caption", Value::str(&host))
                    .with("DNSHostName", Value::str(&m.name))
                    .with("Domain", Value::str(domain))
                    .with("DomainRole", Value::Int(3))
                    .with("HypervisorPresent", Value::Bool(m.role == Role::HypervHost))
                    .with("Manufacturer", Value::str(&hw.vendor))
                    .with("Model", Value::str(&hw.model))
                    .with("Name", Value::str(&host))
                    .with(
                        "NumberOfLogicalProcessors",
                        Value::Int(i64::from(cpu.logical_processors())),
                    )
                    .with("NumberOfProcessors", Value::Int(i64::from(cpu.cpus)))
                    .with("PartOfDomain", Value::Bool(true))
                    .with("PrimaryOwnerName", Value::lit("Windows User"))
                    .with("Status", Value::lit("OK"))
                    .with("SystemType", Value::lit("x64-based PC"))
                    .with(
                        "TotalPhysicalMemory",
                        Value::str(cpu.visible_memory_bytes().to_string()),
                    )
                    .with("UserName", Value::Null)]
            }
            "Win32_Service" => SERVICES
                .iter()
                .filter(|(n, ..)| {
                    m.role == Role::HypervHost || (*n != "vmms" && *n != "SCVMMAgent")
                })
                .enumerate()
                .map(|(i, (name, display, state, start))| {
                    // Start-/Stop-Service change it in the model.
                    let changed = ctx.model.service_state(ctx.machine, name);
                    let state = changed.as_deref().unwrap_or(state);
                    Instance::new(&uri, class, &["Name"])
                        .with("AcceptPause", Value::Bool(false))
                        .with("AcceptStop", Value::Bool(state == "Running"))
                        .with("Caption", Value::lit(display))
                        .with("DisplayName", Value::lit(display))
                        .with(
                            "ExitCode",
                            Value::Int(if state == "Running" { 0 } else { 1077 }),
                        )
                        .with("Name", Value::lit(name))
                        .with(
                            "PathName",
                            Value::lit("C:\\Windows\\system32\\svchost.exe -k netsvcs"),
                        )
                        .with(
                            "ProcessId",
                            Value::Int(if state == "Running" {
                                1000 + 4 * i as i64
                            } else {
                                0
                            }),
                        )
                        .with("ServiceType", Value::lit("Share Process"))
                        .with("Started", Value::Bool(state == "Running"))
                        .with("StartMode", Value::lit(start))
                        .with("StartName", Value::lit("LocalSystem"))
                        .with("State", Value::str(state))
                        .with("Status", Value::lit("OK"))
                        .with("SystemName", Value::str(&host))
                })
                .collect(),
            _ => return Err(Fault::invalid_resource_uri(&uri)),
        })
    }
}

/// A `RequestStateChange` job: done when the VM reaches the state asked for.
#[derive(Debug, Clone)]
struct Job {
    id: String,
    machine: MachineId,
    chassis: ChassisId,
    vm_name: String,
    requested: i64,
    started: Instant,
    started_wall: SystemTime,
}

/// root/virtualization/v2 on Hyper-V hosts.
#[derive(Default)]
pub struct Virtualization {
    jobs: Mutex<Vec<Job>>,
}

/// Jobs kept for Msvm_ConcreteJob (oldest dropped first).
const MAX_JOBS: usize = 256;

/// Msvm_ComputerSystem.EnabledState for a chassis.
fn enabled_state(power: PowerState, suspended: Option<Suspension>) -> i64 {
    match (power, suspended) {
        (_, Some(Suspension::Saved)) => 6,
        (_, Some(Suspension::Paused)) => 9,
        (PowerState::On, None) => 2,
        (PowerState::Booting { .. } | PowerState::Cycling { .. }, None) => 10,
        (PowerState::ShuttingDown { .. }, None) => 4,
        (PowerState::Off, None) => 3,
    }
}

impl Virtualization {
    fn job_done(&self, ctx: &Ctx<'_>, j: &Job) -> bool {
        let (power, suspended, os_up) = ctx
            .model
            .with_chassis(j.chassis, ctx.now, |c| (c.power, c.suspended, c.os_up()));
        match j.requested {
            2 | 10 | 11 => os_up,
            3 | 4 => power == PowerState::Off && suspended.is_none(),
            6 => suspended == Some(Suspension::Saved),
            9 => suspended == Some(Suspension::Paused),
            _ => true,
        }
    }

    fn job_ref(id: &str) -> EndpointRef {
        EndpointRef {
            resource_uri: format!("{VIRT}Msvm_ConcreteJob"),
            selectors: vec![("InstanceID".into(), id.to_string())],
        }
    }

    fn request_state_change(
        &self,
        ctx: &Ctx<'_>,
        target: &Instance,
        input: &Element,
    ) -> Result<MethodOutput, Fault> {
        let m = ctx.model.machine(ctx.machine);
        let requested: i64 = param(input, "RequestedState")
            .ok_or_else(|| Fault::invalid_parameter("RequestedState is missing."))?
            .parse()
            .map_err(|_| Fault::invalid_parameter("RequestedState is not a number."))?;
        let name = target
            .get("Name")
            .and_then(|v| v.text())
            .unwrap_or_default();
        let Some(vm) = m
            .vms
            .iter()
            .find(|v| v.id.eq_ignore_ascii_case(&name) && ctx.model.vm_present(v))
        else {
            // The host's own Msvm_ComputerSystem cannot change state.
            return Ok(MethodOutput {
                params: vec![],
                return_value: 32775,
            });
        };
        let now = ctx.now;
        let ok = ctx.model.with_chassis(vm.chassis, now, |c| {
            let off = c.power == PowerState::Off;
            match requested {
                2 => {
                    if c.suspended.is_some() {
                        c.resume(now);
                    } else if off {
                        c.power_action(PowerAction::On, now);
                    }
                    true
                }
                3 => {
                    c.power_action(PowerAction::Off, now);
                    true
                }
                4 => {
                    c.power_action(PowerAction::Soft, now);
                    true
                }
                6 => {
                    c.save(now);
                    true
                }
                9 => {
                    c.pause(now);
                    true
                }
                10 | 11 => {
                    if off {
                        false
                    } else {
                        c.power_action(PowerAction::Reset, now);
                        true
                    }
                }
                _ => false,
            }
        });
        if !ok {
            // 32775: Invalid state for this operation; 32773 invalid parameter.
            return Ok(MethodOutput {
                params: vec![],
                return_value: if matches!(requested, 10 | 11) {
                    32775
                } else {
                    32773
                },
            });
        }
        let id = crate::message::new_uuid();
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        if jobs.len() >= MAX_JOBS {
            jobs.remove(0);
        }
        jobs.push(Job {
            id: id.clone(),
            machine: ctx.machine,
            chassis: vm.chassis,
            vm_name: vm.name.clone(),
            requested,
            started: now,
            started_wall: ctx.model.clock.wall(),
        });
        Ok(MethodOutput {
            params: vec![("Job".into(), Value::Ref(Self::job_ref(&id)))],
            return_value: 4096,
        })
    }
}

impl ResourceProvider for Virtualization {
    fn uri_prefix(&self) -> &str {
        VIRT
    }

    fn cim_namespace(&self) -> &str {
        "root/virtualization/v2"
    }

    fn classes(&self) -> &[&'static str] {
        &[
            "Msvm_ComputerSystem",
            "Msvm_VirtualSystemManagementService",
            "Msvm_ConcreteJob",
        ]
    }

    fn instances(&self, ctx: &Ctx<'_>, class: &str) -> Result<Vec<Instance>, Fault> {
        let m = ctx.model.machine(ctx.machine);
        let uri = format!("{VIRT}{class}");
        if m.role != Role::HypervHost {
            // Only the Hyper-V role registers this WMI namespace.
            return Err(Fault::invalid_resource_uri(&uri));
        }
        let host = m.name.to_ascii_uppercase();
        Ok(match class {
            "Msvm_ComputerSystem" => {
                let state_of = |id| {
                    ctx.model
                        .with_chassis(id, ctx.now, |c| enabled_state(c.power, c.suspended))
                };
                let mut out = vec![Instance::new(&uri, class, &["CreationClassName", "Name"])
                    .with("Caption", Value::lit("Hosting Computer System"))
                    .with("CreationClassName", Value::lit("Msvm_ComputerSystem"))
                    .with(
                        "Description",
                        Value::lit("Microsoft Hosting Computer System"),
                    )
                    .with("ElementName", Value::str(&host))
                    .with("EnabledState", Value::Int(state_of(m.chassis)))
                    .with("HealthState", Value::Int(5))
                    .with("Name", Value::str(&host))
                    .with("OperationalStatus", Value::Array(vec![Value::Int(2)]))];
                for vm in ctx.model.vms(ctx.machine) {
                    let state = state_of(vm.chassis);
                    out.push(
                        Instance::new(&uri, class, &["CreationClassName", "Name"])
                            .with("Caption", Value::lit("Virtual Machine"))
                            .with("CreationClassName", Value::lit("Msvm_ComputerSystem"))
                            .with("Description", Value::lit("Microsoft Virtual Machine"))
                            .with("ElementName", Value::str(&vm.name))
                            .with("EnabledState", Value::Int(state))
                            .with("HealthState", Value::Int(5))
                            .with("Name", Value::str(&vm.id))
                            .with(
                                "OnTimeInMilliseconds",
                                Value::Int(if state == 2 { 3_600_000 } else { 0 }),
                            )
                            .with("OperationalStatus", Value::Array(vec![Value::Int(2)]))
                            .with(
                                "ProcessID",
                                if state == 2 {
                                    Value::Int(4242)
                                } else {
                                    Value::Null
                                },
                            )
                            .with("RequestedState", Value::Int(12)),
                    );
                }
                out
            }
            "Msvm_VirtualSystemManagementService" => vec![Instance::new(
                &uri,
                class,
                &[
                    "CreationClassName",
                    "Name",
                    "SystemCreationClassName",
                    "SystemName",
                ],
            )
            .with("Caption", Value::lit("Virtual System Management Service"))
            .with("CreationClassName", Value::str(class))
            .with(
                "ElementName",
                Value::lit("Virtual System Management Service"),
            )
            .with("EnabledState", Value::Int(2))
            .with("Name", Value::lit("vmms"))
            .with("Started", Value::Bool(true))
            .with("SystemCreationClassName", Value::lit("Msvm_ComputerSystem"))
            .with("SystemName", Value::str(&host))],
            "Msvm_ConcreteJob" => {
                let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).clone();
                jobs.iter()
                    .filter(|j| j.machine == ctx.machine)
                    .map(|j| {
                        let done = self.job_done(ctx, j);
                        let elapsed = ctx.now.saturating_duration_since(j.started);
                        Instance::new(&uri, class, &["InstanceID"])
                            .with("Caption", Value::lit("Changing VM state"))
                            .with(
                                "Description",
                                Value::str(format!("Changing the state of {}", j.vm_name)),
                            )
                            .with("ElapsedTime", Value::Datetime(interval(elapsed)))
                            .with("ErrorCode", Value::Int(0))
                            .with("InstanceID", Value::str(&j.id))
                            .with("JobState", Value::Int(if done { 7 } else { 4 }))
                            .with("JobType", Value::Int(2))
                            .with("PercentComplete", Value::Int(if done { 100 } else { 50 }))
                            .with("StartTime", Value::Datetime(cim_datetime(j.started_wall)))
                    })
                    .collect()
            }
            _ => return Err(Fault::invalid_resource_uri(&uri)),
        })
    }

    fn invoke(
        &self,
        ctx: &Ctx<'_>,
        class: &str,
        method: &str,
        target: Option<&Instance>,
        input: &Element,
    ) -> Result<MethodOutput, Fault> {
        match (class, method, target) {
            ("Msvm_ComputerSystem", "RequestStateChange", Some(t)) => {
                self.request_state_change(ctx, t, input)
            }
            ("Msvm_ComputerSystem", "RequestStateChange", None) => Err(Fault::invalid_selectors(
                "RequestStateChange needs the Name and CreationClassName selectors of a virtual machine.",
            )),
            _ => Err(Fault::action_not_supported(&format!("{VIRT}{class}/{method}"))),
        }
    }
}

/// A CIM interval (`P0DT0H0M1.5S` as xs:duration, which WinRM sends).
fn interval(d: Duration) -> String {
    let s = d.as_secs();
    format!(
        "P{}DT{}H{}M{}.{:03}S",
        s / 86400,
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_format() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(cim_datetime(t), "2023-11-14T22:13:20Z");
        assert_eq!(cim_datetime(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_800);
        assert_eq!(cim_datetime(far), "10000-01-01T00:00:00Z");
        assert_eq!(interval(Duration::from_millis(61_500)), "P0DT0H1M1.500S");
    }
}
