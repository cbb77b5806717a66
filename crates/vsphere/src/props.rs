//! Property getters: the value of a managed object's top-level property,
//! read from the model and the inventory on every call (never cached, so
//! a power change made over IPMI, `vim-cmd` or the SDK shows at once).
//!
//! A property the type description declares but fakedc does not compute
//! is unset (`None`): `Fetch` answers it empty and the PropertyCollector
//! leaves it out, which is what clients see for an unset optional
//! property. Unknown names never get here (the description refuses them
//! first, as `InvalidProperty`).

use crate::inventory::{uuid_of, Api, Kind};
use crate::sdk::{Sdk, State};
use crate::value::{Data, MoRef, Value};
use fakedc_model::PowerState;
use std::time::Instant;

/// What a reference resolves to.
#[derive(Debug, Clone)]
pub enum Target {
    Inv(usize),
    View(String),
    Task(usize),
    Filter(String),
    Collector(String),
}

impl Sdk {
    /// The object a reference names, or `None`: `ManagedObjectNotFound`.
    pub fn resolve(&self, st: &State, mo: &MoRef) -> Option<Target> {
        if let Some(i) = self.inv.lookup(mo) {
            return (!self.gone(i)).then_some(Target::Inv(i));
        }
        match mo.ty.as_str() {
            // Views, filters and collectors belong to the session that
            // made them: another session does not see them.
            "ContainerView" => st
                .views
                .get(&mo.id)
                .filter(|v| Some(&v.session) == st.current.as_ref())
                .map(|_| Target::View(mo.id.clone())),
            "Task" => st
                .tasks
                .iter()
                .position(|t| t.mo.id == mo.id)
                .map(Target::Task),
            "PropertyFilter" => st
                .filters
                .get(&mo.id)
                .filter(|f| Some(&f.session) == st.current.as_ref())
                .map(|_| Target::Filter(mo.id.clone())),
            "PropertyCollector" => st
                .collectors
                .get(&mo.id)
                .filter(|s| Some(*s) == st.current.as_ref())
                .map(|_| Target::Collector(mo.id.clone())),
            _ => None,
        }
    }

    /// Whether an inventory object no longer exists: a VM destroyed
    /// (`Destroy_Task` here or on another SDK over the same host). Its
    /// reference is then `ManagedObjectNotFound`, as on vCenter.
    pub fn gone(&self, i: usize) -> bool {
        match self.inv.obj(i).kind {
            Kind::Vm(h, vi) => self
                .model
                .machine(h)
                .vms
                .get(vi)
                .is_none_or(|vm| !self.model.vm_present(vm)),
            _ => false,
        }
    }

    /// Every VM still registered.
    pub fn live_vms(&self) -> impl Iterator<Item = usize> + '_ {
        self.inv.vms().filter(|v| !self.gone(*v))
    }

    /// A top-level property's value.
    pub fn get(&self, st: &State, target: &Target, prop: &str, now: Instant) -> Option<Value> {
        match target {
            Target::Inv(i) => self.get_inv(st, *i, prop, now),
            Target::View(id) => {
                let v = st.views.get(id)?;
                match prop {
                    "view" => Some(Value::Array(
                        self.view_members(v)
                            .into_iter()
                            .map(|i| Value::MoRef(self.inv.obj(i).mo.clone()))
                            .collect(),
                    )),
                    "container" => Some(self.inv.obj(v.container).mo.clone().into()),
                    "type" => Some(Value::Array(
                        v.types.iter().map(|t| Value::Str(t.clone())).collect(),
                    )),
                    "recursive" => Some(v.recursive.into()),
                    _ => None,
                }
            }
            Target::Task(i) => {
                let t = st.tasks.get(*i)?;
                match prop {
                    "info" => Some(t.info(now).into()),
                    _ => None,
                }
            }
            Target::Filter(id) => {
                let f = st.filters.get(id)?;
                match prop {
                    "partialUpdates" => Some(f.partial_updates.into()),
                    _ => None,
                }
            }
            Target::Collector(_) => None,
        }
    }

    fn get_inv(&self, st: &State, i: usize, prop: &str, now: Instant) -> Option<Value> {
        let inv = &self.inv;
        let o = inv.obj(i);
        let mors = |v: &[usize]| -> Value {
            Value::Array(
                v.iter()
                    .filter(|c| !self.gone(**c))
                    .map(|c| Value::MoRef(inv.obj(*c).mo.clone()))
                    .collect(),
            )
        };
        // ManagedEntity's common properties.
        let entity = !matches!(o.kind, Kind::Manager);
        if entity {
            match prop {
                "name" => return Some(o.name.clone().into()),
                "parent" => return o.parent.map(|p| inv.obj(p).mo.clone().into()),
                "overallStatus" | "configStatus" => return Some("green".into()),
                "alarmActionsEnabled" => return Some(true.into()),
                "effectiveRole" => return Some(vec![-1i64].into()),
                "recentTask" => {
                    return Some(Value::Array(
                        st.tasks
                            .iter()
                            .filter(|t| t.entity.as_ref() == Some(&o.mo))
                            .map(|t| Value::MoRef(t.mo.clone()))
                            .collect(),
                    ))
                }
                "customValue"
                | "value"
                | "availableField"
                | "tag"
                | "declaredAlarmState"
                | "triggeredAlarmState"
                | "permission"
                | "disabledMethod"
                | "configIssue" => return Some(Value::Array(Vec::new())),
                _ => {}
            }
        }
        match (&o.kind, prop) {
            (Kind::Root | Kind::Folder(_), "childEntity") => Some(mors(&o.children)),
            (Kind::Root, "childType") => Some(vec!["Folder", "Datacenter"].into()),
            (Kind::Folder(t), "childType") => Some(vec!["Folder", *t].into()),
            (Kind::Datacenter, "vmFolder") => Some(inv.obj(inv.vm_folder).mo.clone().into()),
            (Kind::Datacenter, "hostFolder") => Some(inv.obj(inv.host_folder).mo.clone().into()),
            (Kind::Datacenter, "datastoreFolder") => {
                Some(inv.obj(inv.datastore_folder).mo.clone().into())
            }
            (Kind::Datacenter, "networkFolder") => {
                Some(inv.obj(inv.network_folder).mo.clone().into())
            }
            (Kind::Datacenter, "datastore") => Some(mors(&inv.objs[inv.datastore_folder].children)),
            (Kind::Datacenter, "network") => Some(mors(&[inv.network])),
            (Kind::Cluster | Kind::Compute(_), "host") => Some(Value::Array(
                inv.hosts
                    .iter()
                    .filter(|h| h.compute == i)
                    .map(|h| Value::MoRef(inv.obj(h.host).mo.clone()))
                    .collect(),
            )),
            (Kind::Cluster | Kind::Compute(_), "resourcePool") => inv
                .hosts
                .iter()
                .find(|h| h.compute == i)
                .map(|h| inv.obj(h.pool).mo.clone().into()),
            (Kind::Cluster | Kind::Compute(_), "datastore") => Some(Value::Array(
                inv.hosts
                    .iter()
                    .filter(|h| h.compute == i)
                    .map(|h| Value::MoRef(inv.obj(h.datastore).mo.clone()))
                    .collect(),
            )),
            (Kind::Cluster | Kind::Compute(_), "network") => Some(mors(&[inv.network])),
            (Kind::Pool, "owner") => o.parent.map(|p| inv.obj(p).mo.clone().into()),
            (Kind::Pool, "vm") => Some(Value::Array(
                self.live_vms()
                    .filter(|v| self.vm_pool(*v) == Some(i))
                    .map(|v| Value::MoRef(inv.obj(v).mo.clone()))
                    .collect(),
            )),
            (Kind::Pool, "resourcePool") => Some(Value::Array(Vec::new())),
            (Kind::Host(m), _) => self.host_prop(i, *m, prop, now),
            (Kind::Datastore(m), _) => self.datastore_prop(i, *m, prop),
            (Kind::Network, "host") => Some(Value::Array(
                inv.hosts
                    .iter()
                    .map(|h| Value::MoRef(inv.obj(h.host).mo.clone()))
                    .collect(),
            )),
            (Kind::Network, "vm") => Some(mors(&inv.objs[inv.vm_folder].children)),
            (Kind::Network, "summary") => Some(
                Data::new("NetworkSummary")
                    .with("network", o.mo.clone())
                    .with("name", o.name.clone())
                    .with("accessible", true)
                    .with("ipPoolName", "")
                    .into(),
            ),
            (Kind::Vm(h, vi), _) => self.vm_prop(i, *h, *vi, prop, now),
            (Kind::Manager, _) => self.manager_prop(st, &o.mo, prop),
            _ => None,
        }
    }

    fn vm_pool(&self, vm: usize) -> Option<usize> {
        match self.inv.obj(vm).kind {
            Kind::Vm(h, _) => self.inv.host_of(h).map(|h| h.pool),
            _ => None,
        }
    }

    fn manager_prop(&self, st: &State, mo: &MoRef, prop: &str) -> Option<Value> {
        match (mo.ty.as_str(), prop) {
            ("ServiceInstance", "content") => Some(self.service_content().into()),
            ("ServiceInstance", "serverClock") => Some(self.model.clock.wall().into()),
            ("ServiceInstance", "capability") => Some(
                Data::new("Capability")
                    .with("provisioningSupported", self.inv.api == Api::VirtualCenter)
                    .with("multiHostSupported", self.inv.api == Api::VirtualCenter)
                    .with("userShellAccessSupported", true)
                    .into(),
            ),
            ("SessionManager", "sessionList") => Some(Value::Array(
                st.sessions
                    .values()
                    .filter(|s| s.user.is_some())
                    .map(|s| Value::Data(s.user_session()))
                    .collect(),
            )),
            ("SessionManager", "currentSession") => st
                .current
                .as_ref()
                .and_then(|k| st.sessions.get(k))
                .filter(|s| s.user.is_some())
                .map(|s| s.user_session().into()),
            ("SessionManager", "defaultLocale") => Some("en".into()),
            ("SessionManager", "supportedLocaleList") => Some(vec!["en"].into()),
            ("TaskManager", "recentTask") => Some(Value::Array(
                st.tasks
                    .iter()
                    .map(|t| Value::MoRef(t.mo.clone()))
                    .collect(),
            )),
            ("TaskManager", "maxCollector") => Some(Value::Int(32)),
            ("CustomFieldsManager", "field") => Some(Value::Array(Vec::new())),
            ("PropertyCollector", "filter") => Some(Value::Array(
                st.filters
                    .iter()
                    .filter(|(_, f)| Some(&f.session) == st.current.as_ref() && f.pc == *mo)
                    .map(|(id, _)| Value::MoRef(MoRef::new("PropertyFilter", id.clone())))
                    .collect(),
            )),
            ("EventManager", "maxCollector") => Some(Value::Int(32)),
            ("ViewManager", "viewList") => Some(Value::Array(
                st.views
                    .keys()
                    .map(|k| Value::MoRef(MoRef::new("ContainerView", k.clone())))
                    .collect(),
            )),
            ("HostDatastoreBrowser", "datastore") => Some(Value::Array(
                self.inv
                    .hosts
                    .iter()
                    .map(|h| Value::MoRef(self.inv.obj(h.datastore).mo.clone()))
                    .collect(),
            )),
            _ => None,
        }
    }

    /// `ServiceContent`: the singletons and `about`.
    pub fn service_content(&self) -> Data {
        let inv = &self.inv;
        let ms = &inv.managers;
        Data::new("ServiceContent")
            .with("rootFolder", inv.obj(inv.root).mo.clone())
            .with("propertyCollector", ms.property_collector.clone())
            .with("viewManager", ms.view_manager.clone())
            .with("about", self.about())
            .with("sessionManager", ms.session_manager.clone())
            .with("taskManager", ms.task_manager.clone())
            .with("eventManager", ms.event_manager.clone())
            .with("customFieldsManager", ms.custom_fields.clone())
            .with("searchIndex", ms.search_index.clone())
            .with("fileManager", ms.file_manager.clone())
    }

    /// `AboutInfo` of vCenter 8.0U3 or ESXi 8.0U3.
    pub fn about(&self) -> Data {
        let vc = self.inv.api == Api::VirtualCenter;
        let (name, full, build, os, line, api_type, lic) = if vc {
            (
                "VMware VirtualCenter",
                "VMware vCenter Server 8.0.3 build-24022515",
                "24022515",
                "linux-x64",
                "vpx",
                "VirtualCenter",
                "VMware VirtualCenter Server",
            )
        } else {
            (
                "VMware ESXi",
                "VMware ESXi 8.0.3 build-24022510",
                "24022510",
                "vmnix-x86",
                "embeddedEsx",
                "HostAgent",
                "VMware ESX Server",
            )
        };
        Data::new("AboutInfo")
            .with("name", name)
            .with("fullName", full)
            .with("vendor", "VMware, Inc.")
            .with("version", "8.0.3")
            .with("build", build)
            .with("localeVersion", "INTL")
            .with("localeBuild", "000")
            .with("osType", os)
            .with("productLineId", line)
            .with("apiType", api_type)
            .with("apiVersion", crate::API_VERSION)
            .opt("instanceUuid", vc.then(|| self.inv.instance_uuid.clone()))
            .with("licenseProductName", lic)
            .with("licenseProductVersion", "8.0")
    }

    fn host_prop(
        &self,
        i: usize,
        m: fakedc_model::MachineId,
        prop: &str,
        now: Instant,
    ) -> Option<Value> {
        let inv = &self.inv;
        let hm = self.model.machine(m);
        let h = inv.host_of(m)?;
        let on = self
            .model
            .endpoint_up(m, fakedc_model::ServiceKind::Ssh, now)
            || self.model.with_chassis(hm.chassis, now, |c| c.os_up());
        let (vendor, model, uuid, maintenance, cpu) =
            self.model.with_chassis(hm.chassis, now, |c| {
                (
                    c.hardware.vendor.clone(),
                    c.hardware.model.clone(),
                    c.hardware.guid_string(),
                    c.maintenance,
                    c.compute,
                )
            });
        let vms: Vec<Value> = self
            .live_vms()
            .filter(|v| matches!(inv.obj(*v).kind, Kind::Vm(hh, _) if hh == m))
            .map(|v| Value::MoRef(inv.obj(v).mo.clone()))
            .collect();
        let runtime = || {
            Data::new("HostRuntimeInfo")
                .with(
                    "connectionState",
                    if on { "connected" } else { "notResponding" },
                )
                .with("powerState", if on { "poweredOn" } else { "unknown" })
                .with("inMaintenanceMode", maintenance)
        };
        let hardware = || {
            Data::new("HostHardwareSummary")
                .with("vendor", vendor.clone())
                .with("model", model.clone())
                .with("uuid", uuid.clone())
                // The chassis's shape, as its BMC (SMASH, Redfish) reports it.
                .with(
                    "memorySize",
                    i64::try_from(cpu.memory_bytes()).unwrap_or(i64::MAX),
                )
                .with("cpuModel", cpu.cpu_model())
                .with("cpuMhz", i64::from(cpu.cpu_mhz))
                .with("numCpuPkgs", i64::from(cpu.cpus))
                .with("numCpuCores", i64::from(cpu.cores()))
                .with("numCpuThreads", i64::from(cpu.logical_processors()))
                .with("numNics", 4)
                .with("numHBAs", 2)
        };
        match prop {
            "vm" => Some(Value::Array(vms)),
            "datastore" => Some(vec![inv.obj(h.datastore).mo.clone()].into()),
            "network" => Some(vec![inv.obj(inv.network).mo.clone()].into()),
            "datastoreBrowser" => Some(inv.managers.datastore_browser.clone().into()),
            "runtime" => Some(runtime().into()),
            "summary" => Some(
                Data::new("HostListSummary")
                    .with("host", inv.obj(i).mo.clone())
                    .with("hardware", hardware())
                    .with("runtime", runtime())
                    .with(
                        "config",
                        Data::new("HostConfigSummary")
                            .with("name", hm.dns_name.clone())
                            .with("port", 443)
                            .with(
                                "product",
                                Data::new("AboutInfo")
                                    .with("name", "VMware ESXi")
                                    .with("fullName", "VMware ESXi 8.0.3 build-24022510")
                                    .with("vendor", "VMware, Inc.")
                                    .with("version", "8.0.3")
                                    .with("build", "24022510")
                                    .with("osType", "vmnix-x86")
                                    .with("productLineId", "embeddedEsx")
                                    .with("apiType", "HostAgent")
                                    .with("apiVersion", crate::API_VERSION),
                            )
                            .with("vmotionEnabled", false)
                            .with("faultToleranceEnabled", false),
                    )
                    .with(
                        "quickStats",
                        Data::new("HostListSummaryQuickStats")
                            .with("overallCpuUsage", 100)
                            .with("overallMemoryUsage", 4096)
                            .with("uptime", 86_400),
                    )
                    .with("overallStatus", "green")
                    .with("rebootRequired", false)
                    .with("managementServerIp", hm.address.to_string())
                    .into(),
            ),
            "hardware" => None,
            _ => None,
        }
    }

    fn datastore_prop(&self, i: usize, m: fakedc_model::MachineId, prop: &str) -> Option<Value> {
        let inv = &self.inv;
        let o = inv.obj(i);
        let url = format!("ds:///vmfs/volumes/{}/", o.mo.id);
        let host = inv.host_of(m)?;
        match prop {
            "summary" => Some(
                Data::new("DatastoreSummary")
                    .with("datastore", o.mo.clone())
                    .with("name", o.name.clone())
                    .with("url", url)
                    .with("capacity", 1_099_511_627_776i64)
                    .with("freeSpace", 824_633_720_832i64)
                    .with("accessible", true)
                    .with("multipleHostAccess", false)
                    .with("type", "VMFS")
                    .with("maintenanceMode", "normal")
                    .into(),
            ),
            "info" => Some(
                Data::new("DatastoreInfo")
                    .with("name", o.name.clone())
                    .with("url", url)
                    .with("freeSpace", 824_633_720_832i64)
                    .with("maxFileSize", 68_719_476_736_000i64)
                    .with("maxMemoryFileSize", 68_719_476_736_000i64)
                    .into(),
            ),
            "host" => Some(
                vec![Data::new("DatastoreHostMount")
                    .with("key", inv.obj(host.host).mo.clone())
                    .with(
                        "mountInfo",
                        Data::new("HostMountInfo")
                            .with("path", format!("/vmfs/volumes/{}", o.mo.id))
                            .with("accessMode", "readWrite")
                            .with("mounted", true)
                            .with("accessible", true),
                    )]
                .into(),
            ),
            "vm" => Some(Value::Array(
                self.live_vms()
                    .filter(|v| matches!(inv.obj(*v).kind, Kind::Vm(hh, _) if hh == m))
                    .map(|v| Value::MoRef(inv.obj(v).mo.clone()))
                    .collect(),
            )),
            "browser" => Some(inv.managers.datastore_browser.clone().into()),
            _ => None,
        }
    }

    /// A VM's power state as vSphere names it, from the model.
    pub fn vm_power(&self, h: fakedc_model::MachineId, vi: usize, now: Instant) -> &'static str {
        let Some(vm) = self.model.machine(h).vms.get(vi) else {
            return "poweredOff";
        };
        self.model.with_chassis(vm.chassis, now, |c| {
            if c.suspended.is_some() {
                "suspended"
            } else if c.power.power_on() || matches!(c.power, PowerState::Cycling { .. }) {
                "poweredOn"
            } else {
                "poweredOff"
            }
        })
    }

    fn vm_prop(
        &self,
        i: usize,
        h: fakedc_model::MachineId,
        vi: usize,
        prop: &str,
        now: Instant,
    ) -> Option<Value> {
        let inv = &self.inv;
        let o = inv.obj(i);
        let hm = self.model.machine(h);
        let vm = hm.vms.get(vi)?;
        let host = inv.host_of(h)?;
        let power = self.vm_power(h, vi, now);
        let ds = inv.obj(host.datastore);
        // Computed only for the properties that show them: a view read of
        // name + runtime.powerState over 10,000 VMs must not format
        // 10,000 paths and uuids.
        let vmx = || format!("[{}] {}/{}.vmx", ds.name, vm.name, vm.name);
        // The VM's configured processors and memory (the chassis's, as
        // Get-VM and the guest's WMI report them).
        let cpu = || self.model.compute(vm.chassis);
        let num_cpu = || i64::from(cpu().logical_processors());
        let memory_mb = || i64::try_from(cpu().memory_mib).unwrap_or(i64::MAX);
        let guest_up = vm
            .guest
            .filter(|_| matches!(prop, "guest" | "summary" | "guestHeartbeatStatus"))
            .map(|g| {
                self.model
                    .with_chassis(self.model.machine(g).chassis, now, |c| c.os_up())
            })
            .unwrap_or(false);
        let tools = match (vm.guest, guest_up) {
            (None, _) => "toolsNotInstalled",
            (Some(_), true) => "toolsOk",
            (Some(_), false) => "toolsNotRunning",
        };
        let guest_ip = || {
            vm.guest
                .filter(|_| guest_up)
                .map(|g| self.model.machine(g).address.to_string())
        };
        let guest_host = || {
            vm.guest
                .filter(|_| guest_up)
                .map(|g| self.model.machine(g).dns_name.clone())
        };
        let bios_uuid = || {
            self.model
                .with_chassis(vm.chassis, now, |c| c.hardware.guid_string())
        };
        let instance_uuid = || uuid_of(&format!("{}/{}/instance", hm.name, vm.name));
        let guest_id = if vm.guest.is_some() {
            "windows2019srv_64Guest"
        } else {
            "otherGuest64"
        };
        let runtime = || {
            Data::new("VirtualMachineRuntimeInfo")
                .with("host", inv.obj(host.host).mo.clone())
                .with("connectionState", "connected")
                .with("powerState", power)
                .with("faultToleranceState", "notConfigured")
                .with("toolsInstallerMounted", false)
                .with(
                    "maxCpuUsage",
                    num_cpu().saturating_mul(i64::from(cpu().cpu_mhz)),
                )
                .with("maxMemoryUsage", memory_mb())
                .with("numMksConnections", 0)
                .with("recordReplayState", "inactive")
                .with("onlineStandby", false)
                .with("consolidationNeeded", false)
        };
        let guest = || {
            Data::new("GuestInfo")
                .with("toolsStatus", tools)
                .with(
                    "toolsRunningStatus",
                    if guest_up {
                        "guestToolsRunning"
                    } else {
                        "guestToolsNotRunning"
                    },
                )
                .opt("guestId", vm.guest.map(|_| guest_id))
                .opt(
                    "guestFullName",
                    vm.guest.map(|_| "Microsoft Windows Server 2019 (64-bit)"),
                )
                .opt("hostName", guest_host())
                .opt("ipAddress", guest_ip())
                .with(
                    "guestState",
                    if guest_up { "running" } else { "notRunning" },
                )
        };
        match prop {
            "runtime" => Some(runtime().into()),
            "guest" => Some(guest().into()),
            "guestHeartbeatStatus" => Some(if guest_up { "green" } else { "gray" }.into()),
            "resourcePool" => Some(inv.obj(host.pool).mo.clone().into()),
            "datastore" => Some(vec![ds.mo.clone()].into()),
            "network" => Some(vec![inv.obj(inv.network).mo.clone()].into()),
            "config" => Some(
                Data::new("VirtualMachineConfigInfo")
                    .with("changeVersion", "1")
                    .with("modified", self.model.clock.wall())
                    .with("name", o.name.clone())
                    .with("guestFullName", "Microsoft Windows Server 2019 (64-bit)")
                    .with("version", "vmx-19")
                    .with("uuid", bios_uuid())
                    .with("instanceUuid", instance_uuid())
                    .with("template", false)
                    .with("guestId", guest_id)
                    .with("alternateGuestName", "")
                    .with("flags", Data::new("VirtualMachineFlagInfo"))
                    .with(
                        "defaultPowerOps",
                        Data::new("VirtualMachineDefaultPowerOpInfo"),
                    )
                    .with(
                        "files",
                        Data::new("VirtualMachineFileInfo")
                            .with("vmPathName", vmx())
                            .with("snapshotDirectory", format!("[{}] {}", ds.name, vm.name))
                            .with("logDirectory", format!("[{}] {}", ds.name, vm.name)),
                    )
                    .with(
                        "hardware",
                        Data::new("VirtualHardware")
                            .with("numCPU", num_cpu())
                            .with("memoryMB", memory_mb()),
                    )
                    .into(),
            ),
            "summary" => Some(
                Data::new("VirtualMachineSummary")
                    .with("vm", o.mo.clone())
                    .with("runtime", runtime())
                    .with(
                        "guest",
                        Data::new("VirtualMachineGuestSummary")
                            .opt("guestId", vm.guest.map(|_| guest_id))
                            .opt("hostName", guest_host())
                            .opt("ipAddress", guest_ip())
                            .with("toolsStatus", tools),
                    )
                    .with(
                        "config",
                        Data::new("VirtualMachineConfigSummary")
                            .with("name", o.name.clone())
                            .with("template", false)
                            .with("vmPathName", vmx())
                            .with("memorySizeMB", memory_mb())
                            .with("numCpu", num_cpu())
                            .with("uuid", bios_uuid())
                            .with("instanceUuid", instance_uuid())
                            .with("guestId", guest_id)
                            .with("guestFullName", "Microsoft Windows Server 2019 (64-bit)"),
                    )
                    .with(
                        "quickStats",
                        Data::new("VirtualMachineQuickStats")
                            .with("overallCpuUsage", if power == "poweredOn" { 42 } else { 0 })
                            .with(
                                "guestHeartbeatStatus",
                                if guest_up { "green" } else { "gray" },
                            ),
                    )
                    .with("overallStatus", "green")
                    .into(),
            ),
            "snapshot" | "rootSnapshot" | "layout" | "layoutEx" | "storage" | "parentVApp" => {
                if prop == "rootSnapshot" {
                    Some(Value::Array(Vec::new()))
                } else {
                    None
                }
            }
            _ => None,
        }
    }
}
