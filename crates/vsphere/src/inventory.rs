//! The managed-object tree one SDK endpoint shows, built once from the
//! scenario: which objects exist, their ids, names and parents. Nothing
//! here holds state that changes (power, guest status): getters read the
//! model on every request ([`crate::props`]).
//!
//! Ids are stable across runs: ESXi's are the fixed `ha-*` names and the
//! `vim-cmd` vmids (a VM's 1-based position on its host, as the ESXi
//! shell numbers them); vCenter's are `group-*`, `host-N`, `vm-N` in
//! scenario order.

use crate::value::MoRef;
use fakedc_model::{MachineId, Model, Role};
use std::collections::HashMap;

/// Which product answers: ESXi's hostd or vCenter's vpxd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    HostAgent,
    VirtualCenter,
}

/// What an inventory object stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Root,
    /// A folder; the child type it holds (`VirtualMachine`, `HostSystem`…).
    Folder(&'static str),
    Datacenter,
    Cluster,
    Compute(MachineId),
    Host(MachineId),
    Pool,
    Datastore(MachineId),
    Network,
    /// A VM: its host machine and index in the host's `vms`.
    Vm(MachineId, usize),
    /// A singleton manager (PropertyCollector, SearchIndex, …).
    Manager,
}

#[derive(Debug, Clone)]
pub struct Obj {
    pub mo: MoRef,
    pub name: String,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    pub kind: Kind,
    /// Its type's bases ([`Inventory::is_a`]), an index shared by every
    /// object of the type.
    lineage: usize,
}

/// The fixed ids of one endpoint's singletons.
#[derive(Debug, Clone)]
pub struct Managers {
    pub property_collector: MoRef,
    pub view_manager: MoRef,
    pub session_manager: MoRef,
    pub search_index: MoRef,
    pub task_manager: MoRef,
    pub event_manager: MoRef,
    pub custom_fields: MoRef,
    pub file_manager: MoRef,
    pub datastore_browser: MoRef,
}

pub struct Inventory {
    pub api: Api,
    pub machine: MachineId,
    pub objs: Vec<Obj>,
    by_id: HashMap<String, usize>,
    /// Each object type of the tree and its bases, worked out once: a
    /// container view and a traversal check every object they meet
    /// against a type, and walking the description for each was a
    /// hash lookup per base per object.
    lineages: Vec<(String, Vec<&'static str>)>,
    pub root: usize,
    pub datacenter: usize,
    pub vm_folder: usize,
    pub host_folder: usize,
    pub datastore_folder: usize,
    pub network_folder: usize,
    pub network: usize,
    pub managers: Managers,
    /// Per managed host: (host, compute resource, pool, datastore).
    pub hosts: Vec<HostObjs>,
    pub instance_uuid: String,
}

#[derive(Debug, Clone, Copy)]
pub struct HostObjs {
    pub machine: MachineId,
    pub host: usize,
    pub compute: usize,
    pub pool: usize,
    pub datastore: usize,
}

/// The datastore name a host's share is mounted as (the SSH service's
/// `datastore` option, default `datastore1`), so SFTP, the ESXi shell and
/// the SDK name it alike.
pub fn datastore_name(model: &Model, machine: MachineId) -> String {
    let m = model.machine(machine);
    ["ssh", "sftp"]
        .iter()
        .find_map(|t| {
            m.options
                .get(*t)
                .and_then(|o| o.get("datastore"))
                .and_then(|d| d.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "datastore1".into())
}

/// A stable hex id from a name (FNV-1a), for VMFS-style uuids.
pub fn hash_hex(name: &str, seed: u64) -> String {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:016x}")
}

/// A stable RFC 4122-shaped uuid from a name.
pub fn uuid_of(name: &str) -> String {
    let a = hash_hex(name, 1);
    let b = hash_hex(name, 2);
    format!(
        "{}-{}-{}-{}-{}",
        &a[0..8],
        &a[8..12],
        &a[12..16],
        &b[0..4],
        &b[4..16]
    )
}

impl Inventory {
    /// The inventory of `machine`'s SDK: its own host for ESXi, the
    /// managed hosts for vCenter (`manages`, or every ESX/ESXi host).
    pub fn build(model: &Model, machine: MachineId, manages: Option<&[String]>) -> Inventory {
        let m = model.machine(machine);
        let api = if m.role == Role::Vcenter {
            Api::VirtualCenter
        } else {
            Api::HostAgent
        };
        let hosts: Vec<MachineId> = match api {
            Api::HostAgent => vec![machine],
            Api::VirtualCenter => match manages {
                Some(names) => names
                    .iter()
                    .filter_map(|n| model.find(n).map(|h| h.id))
                    .collect(),
                None => model
                    .machines()
                    .iter()
                    .filter(|h| matches!(h.role, Role::EsxiHost | Role::EsxHost))
                    .map(|h| h.id)
                    .collect(),
            },
        };
        let vc = api == Api::VirtualCenter;
        let mut inv = Inventory {
            api,
            machine,
            objs: Vec::new(),
            by_id: HashMap::new(),
            lineages: Vec::new(),
            root: 0,
            datacenter: 0,
            vm_folder: 0,
            host_folder: 0,
            datastore_folder: 0,
            network_folder: 0,
            network: 0,
            managers: managers(api),
            hosts: Vec::new(),
            instance_uuid: uuid_of(&format!("{}/instance", m.name)),
        };
        let id = |vc_id: &str, ha_id: &str| if vc { vc_id } else { ha_id }.to_string();
        inv.root = inv.add(
            MoRef::new("Folder", id("group-d1", "ha-folder-root")),
            if vc { "Datacenters" } else { "ha-folder-root" },
            None,
            Kind::Root,
        );
        let dc_name = if vc { "Datacenter" } else { "ha-datacenter" };
        inv.datacenter = inv.add(
            MoRef::new("Datacenter", id("datacenter-2", "ha-datacenter")),
            dc_name,
            Some(inv.root),
            Kind::Datacenter,
        );
        let dc = Some(inv.datacenter);
        inv.vm_folder = inv.add(
            MoRef::new("Folder", id("group-v3", "ha-folder-vm")),
            "vm",
            dc,
            Kind::Folder("VirtualMachine"),
        );
        inv.host_folder = inv.add(
            MoRef::new("Folder", id("group-h4", "ha-folder-host")),
            "host",
            dc,
            Kind::Folder("ComputeResource"),
        );
        inv.datastore_folder = inv.add(
            MoRef::new("Folder", id("group-s5", "ha-folder-datastore")),
            "datastore",
            dc,
            Kind::Folder("Datastore"),
        );
        inv.network_folder = inv.add(
            MoRef::new("Folder", id("group-n6", "ha-folder-network")),
            "network",
            dc,
            Kind::Folder("Network"),
        );
        inv.network = inv.add(
            MoRef::new("Network", id("network-7", "HaNetwork-VM Network")),
            "VM Network",
            Some(inv.network_folder),
            Kind::Network,
        );
        let cluster = if vc && !hosts.is_empty() {
            Some(inv.add(
                MoRef::new("ClusterComputeResource", "domain-c8"),
                "Cluster",
                Some(inv.host_folder),
                Kind::Cluster,
            ))
        } else {
            None
        };
        let cluster_pool = cluster.map(|c| {
            inv.add(
                MoRef::new("ResourcePool", "resgroup-9"),
                "Resources",
                Some(c),
                Kind::Pool,
            )
        });
        let mut next = 10usize;
        let mut ds_names: HashMap<String, usize> = HashMap::new();
        for h in hosts {
            let hm = model.machine(h);
            let (compute, pool) = match (cluster, cluster_pool) {
                (Some(c), Some(p)) => (c, p),
                _ => {
                    let c = inv.add(
                        MoRef::new("ComputeResource", "ha-compute-res"),
                        &hm.dns_name,
                        Some(inv.host_folder),
                        Kind::Compute(h),
                    );
                    let p = inv.add(
                        MoRef::new("ResourcePool", "ha-root-pool"),
                        "Resources",
                        Some(c),
                        Kind::Pool,
                    );
                    (c, p)
                }
            };
            let host_id = if vc {
                next += 1;
                format!("host-{next}")
            } else {
                "ha-host".into()
            };
            let host = inv.add(
                MoRef::new("HostSystem", host_id),
                &hm.dns_name,
                Some(compute),
                Kind::Host(h),
            );
            // A host's local datastore: vCenter names a second one
            // `datastore1 (1)`, as it does for real.
            let base = datastore_name(model, h);
            let n = ds_names.entry(base.clone()).or_insert(0);
            let ds_name = if *n == 0 {
                base
            } else {
                format!("{base} ({n})")
            };
            *n += 1;
            let ds_id = if vc {
                next += 1;
                format!("datastore-{next}")
            } else {
                let x = hash_hex(&hm.name, 7);
                format!(
                    "{}-{}-{}",
                    &x[0..8],
                    &x[8..16],
                    &hash_hex(&hm.name, 8)[0..4]
                )
            };
            let datastore = inv.add(
                MoRef::new("Datastore", ds_id),
                &ds_name,
                Some(inv.datastore_folder),
                Kind::Datastore(h),
            );
            for (vi, vm) in hm.vms.iter().enumerate() {
                let vm_id = if vc {
                    next += 1;
                    format!("vm-{next}")
                } else {
                    (vi + 1).to_string()
                };
                inv.add(
                    MoRef::new("VirtualMachine", vm_id),
                    &vm.name,
                    Some(inv.vm_folder),
                    Kind::Vm(h, vi),
                );
            }
            inv.hosts.push(HostObjs {
                machine: h,
                host,
                compute,
                pool,
                datastore,
            });
        }
        let ms = inv.managers.clone();
        for mo in [
            ms.property_collector,
            ms.view_manager,
            ms.session_manager,
            ms.search_index,
            ms.task_manager,
            ms.event_manager,
            ms.custom_fields,
            ms.file_manager,
            ms.datastore_browser,
        ] {
            let name = mo.ty.clone();
            inv.add(mo, &name, None, Kind::Manager);
        }
        inv.add(
            MoRef::new("ServiceInstance", "ServiceInstance"),
            "ServiceInstance",
            None,
            Kind::Manager,
        );
        inv
    }

    fn add(&mut self, mo: MoRef, name: &str, parent: Option<usize>, kind: Kind) -> usize {
        let i = self.objs.len();
        self.by_id.insert(mo.id.clone(), i);
        let lineage = match self.lineages.iter().position(|(t, _)| *t == mo.ty) {
            Some(l) => l,
            None => {
                let bases = crate::types::types().managed_bases(&mo.ty);
                self.lineages.push((mo.ty.clone(), bases));
                self.lineages.len() - 1
            }
        };
        self.objs.push(Obj {
            mo,
            name: name.to_string(),
            parent,
            children: Vec::new(),
            kind,
            lineage,
        });
        if let Some(p) = parent {
            if let Some(o) = self.objs.get_mut(p) {
                o.children.push(i);
            }
        }
        i
    }

    /// The object a reference names, if it exists with that type.
    pub fn lookup(&self, mo: &MoRef) -> Option<usize> {
        let i = *self.by_id.get(&mo.id)?;
        (self.objs[i].mo.ty == mo.ty).then_some(i)
    }

    pub fn obj(&self, i: usize) -> &Obj {
        &self.objs[i]
    }

    /// Whether object `i`'s managed type is `base` or derives from it:
    /// [`crate::types::TypeInfo::managed_is_a`] over the lineage kept for
    /// its type.
    pub fn is_a(&self, i: usize, base: &str) -> bool {
        let o = &self.objs[i];
        base == "ManagedObject" || o.mo.ty == base || self.lineages[o.lineage].1.contains(&base)
    }

    /// The host objects of a machine.
    pub fn host_of(&self, machine: MachineId) -> Option<&HostObjs> {
        self.hosts.iter().find(|h| h.machine == machine)
    }

    /// Every VM index.
    pub fn vms(&self) -> impl Iterator<Item = usize> + '_ {
        self.objs[self.vm_folder].children.iter().copied()
    }

    /// The inventory path of an object (`Datacenter/vm/web01`).
    pub fn path(&self, i: usize) -> String {
        let mut parts = Vec::new();
        let mut cur = Some(i);
        while let Some(c) = cur {
            if c == self.root {
                break;
            }
            parts.push(self.objs[c].name.as_str());
            cur = self.objs[c].parent;
        }
        parts.reverse();
        parts.join("/")
    }

    /// `SearchIndex.FindByInventoryPath`: names separated by `/` from the
    /// root folder; `%2f` stands for a `/` inside a name.
    pub fn find_path(&self, path: &str) -> Option<usize> {
        let mut cur = self.root;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let name = part.replace("%2f", "/").replace("%2F", "/");
            cur = *self.objs[cur]
                .children
                .iter()
                .find(|&&c| self.objs[c].name == name)?;
        }
        Some(cur)
    }
}

fn managers(api: Api) -> Managers {
    let vc = api == Api::VirtualCenter;
    let m = |ty: &str, vc_id: &str, ha_id: &str| MoRef::new(ty, if vc { vc_id } else { ha_id });
    Managers {
        property_collector: m(
            "PropertyCollector",
            "propertyCollector",
            "ha-property-collector",
        ),
        view_manager: m("ViewManager", "ViewManager", "ViewManager"),
        session_manager: m("SessionManager", "SessionManager", "ha-sessionmgr"),
        search_index: m("SearchIndex", "SearchIndex", "ha-searchindex"),
        task_manager: m("TaskManager", "TaskManager", "ha-taskmgr"),
        event_manager: m("EventManager", "EventManager", "ha-eventmgr"),
        custom_fields: m(
            "CustomFieldsManager",
            "CustomFieldsManager",
            "ha-customfieldsmgr",
        ),
        file_manager: m("FileManager", "FileManager", "ha-nfc-file-manager"),
        datastore_browser: m(
            "HostDatastoreBrowser",
            "datastoreBrowser-1",
            "ha-host-datastorebrowser",
        ),
    }
}
