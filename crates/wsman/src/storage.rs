//! The Windows Storage Management API classes (`root/microsoft/windows/
//! storage`, the `MSFT_*` classes) over the shared storage model.
//!
//! On a VMM server they are the Storage Management Service's view of the
//! arrays registered with it (`[machine.options.storage] arrays`, every
//! array by default): providers, subsystems, pools, virtual disks,
//! masking sets, initiator ids and target ports, with their associations
//! and `CreateVirtualDisk`/`DeleteObject`. On a Hyper-V host they are the
//! host's disks (`MSFT_Disk`): its boot disk and every array volume whose
//! masking names the host's iSCSI initiator. The arrays' SMI-S providers
//! read and change the same objects, so a volume created over CIM-XML is a
//! virtual disk here and the other way round.

use crate::fault::Fault;
use crate::provider::{
    param, Association, Ctx, EndpointRef, Instance, MethodOutput, ResourceProvider, Value,
};
use crate::xml::Element;
use fakedc_model::storage::{derived_guid, initiator_iqn, Array, StorageError};
use fakedc_model::{MachineId, Role};

pub const STORAGE: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/microsoft/windows/storage/";

/// The storage namespace's classes and associations.
#[derive(Default)]
pub struct StorageWmi;

const CLASSES: &[&str] = &[
    "MSFT_StorageProvider",
    "MSFT_StorageSubSystem",
    "MSFT_StoragePool",
    "MSFT_VirtualDisk",
    "MSFT_PhysicalDisk",
    "MSFT_MaskingSet",
    "MSFT_InitiatorId",
    "MSFT_TargetPort",
    "MSFT_Disk",
    "MSFT_StorageProviderToStorageSubSystem",
    "MSFT_StorageSubSystemToStoragePool",
    "MSFT_StorageSubSystemToVirtualDisk",
    "MSFT_StoragePoolToVirtualDisk",
    "MSFT_StorageSubSystemToMaskingSet",
    "MSFT_MaskingSetToVirtualDisk",
    "MSFT_MaskingSetToInitiatorId",
    "MSFT_MaskingSetToTargetPort",
];

/// (association class, left role, right role).
const ASSOCS: &[(&str, &str, &str)] = &[
    (
        "MSFT_StorageProviderToStorageSubSystem",
        "StorageProvider",
        "StorageSubSystem",
    ),
    (
        "MSFT_StorageSubSystemToStoragePool",
        "StorageSubSystem",
        "StoragePool",
    ),
    (
        "MSFT_StorageSubSystemToVirtualDisk",
        "StorageSubSystem",
        "VirtualDisk",
    ),
    (
        "MSFT_StoragePoolToVirtualDisk",
        "StoragePool",
        "VirtualDisk",
    ),
    (
        "MSFT_StorageSubSystemToMaskingSet",
        "StorageSubSystem",
        "MaskingSet",
    ),
    ("MSFT_MaskingSetToVirtualDisk", "MaskingSet", "VirtualDisk"),
    ("MSFT_MaskingSetToInitiatorId", "MaskingSet", "InitiatorId"),
    ("MSFT_MaskingSetToTargetPort", "MaskingSet", "TargetPort"),
];

/// Windows ObjectIds: `{1}\\SERVER\root/Microsoft/Windows/Storage/Providers_v2\SPACES_Class.ObjectId="..."`
/// shortened to the part clients compare: the provider's id and the
/// object's.
fn object_id(array: &Array, kind: &str, id: &str) -> String {
    format!(
        "{{{}}}:{kind}:{{{}}}",
        derived_guid(&["smp", &array.name]),
        derived_guid(&[&array.name, kind, id])
    )
}

fn uri(class: &str) -> String {
    format!("{STORAGE}{class}")
}

/// Everything of one VMM server's view, built per request.
struct Built {
    items: Vec<Instance>,
    assocs: Vec<Association>,
}

fn health(i: Instance) -> Instance {
    i.with("HealthStatus", Value::Int(0))
        .with("OperationalStatus", Value::Array(vec![Value::Int(2)]))
}

fn pass_through(i: Instance, array: &Array, class: &str, ids: &str) -> Instance {
    i.with("PassThroughClass", Value::str(class))
        .with("PassThroughIds", Value::str(ids))
        .with("PassThroughNamespace", Value::str("root/cimv2"))
        .with("PassThroughServer", Value::str(&array.name))
}

fn build_array(a: &Array, host_dns: &str, b: &mut Built) {
    let prov = health(
        Instance::new(
            &uri("MSFT_StorageProvider"),
            "MSFT_StorageProvider",
            &["ObjectId"],
        )
        .with("ObjectId", Value::str(object_id(a, "PR", "provider")))
        .with("UniqueId", Value::str(derived_guid(&["smp", &a.name])))
        .with("Name", Value::str(format!("SMI-S {} provider", a.vendor)))
        .with("Manufacturer", Value::str(&a.vendor))
        .with("Version", Value::str("1.6.1"))
        .with("URI", Value::str(format!("http://{host_dns}:5988")))
        .with("CimServerName", Value::str(host_dns))
        .with("Type", Value::Int(2))
        .with("SupportsSubsystemRegistration", Value::Bool(false)),
    );
    let total: u64 = a.pools.iter().map(|p| p.capacity).sum();
    let allocated: u64 = a.volumes.iter().map(|v| v.size).sum();
    let sub = pass_through(
        health(
            Instance::new(
                &uri("MSFT_StorageSubSystem"),
                "MSFT_StorageSubSystem",
                &["ObjectId"],
            )
            .with("ObjectId", Value::str(object_id(a, "SS", &a.serial)))
            .with("UniqueId", Value::str(&a.serial))
            .with("FriendlyName", Value::str(&a.name))
            .with("Manufacturer", Value::str(&a.vendor))
            .with("Model", Value::str(&a.model))
            .with("SerialNumber", Value::str(&a.serial))
            .with("Size", Value::Int(total as i64))
            .with("AllocatedSize", Value::Int(allocated as i64)),
        ),
        a,
        "CIM_ComputerSystem",
        &a.serial,
    );
    let sub_ref = sub.epr();
    b.assocs.push(assoc(ASSOCS[0], prov.epr(), sub_ref.clone()));
    b.items.push(prov);
    let mut pool_refs = Vec::new();
    for p in &a.pools {
        let used = a.used(&p.id);
        let i = pass_through(
            health(
                Instance::new(&uri("MSFT_StoragePool"), "MSFT_StoragePool", &["ObjectId"])
                    .with("ObjectId", Value::str(object_id(a, "SP", &p.id)))
                    .with("UniqueId", Value::str(format!("{}+{}", a.serial, p.id)))
                    .with("FriendlyName", Value::str(&p.name))
                    .with("IsPrimordial", Value::Bool(false))
                    .with("Size", Value::Int(p.capacity as i64))
                    .with("AllocatedSize", Value::Int(used as i64)),
            ),
            a,
            "CIM_StoragePool",
            &format!("{}+{}", a.serial, p.id),
        );
        b.assocs.push(assoc(ASSOCS[1], sub_ref.clone(), i.epr()));
        pool_refs.push((p.id.clone(), i.epr()));
        b.items.push(i);
    }
    let mut vd_refs = Vec::new();
    for v in &a.volumes {
        let i = pass_through(
            health(
                Instance::new(&uri("MSFT_VirtualDisk"), "MSFT_VirtualDisk", &["ObjectId"])
                    .with("ObjectId", Value::str(object_id(a, "VD", &v.id)))
                    .with("UniqueId", Value::str(v.wwn.to_ascii_uppercase()))
                    .with("UniqueIdFormat", Value::Int(3))
                    .with("FriendlyName", Value::str(&v.name))
                    .with("Name", Value::str(&v.name))
                    .with("Size", Value::Int(v.size as i64))
                    .with("AllocatedSize", Value::Int(v.size as i64))
                    .with("LogicalSectorSize", Value::Int(512))
                    .with("ProvisioningType", Value::Int(2))
                    .with("Access", Value::Int(3)),
            ),
            a,
            "CIM_StorageVolume",
            &v.id,
        );
        b.assocs.push(assoc(ASSOCS[2], sub_ref.clone(), i.epr()));
        if let Some((_, pr)) = pool_refs.iter().find(|(id, _)| *id == v.pool) {
            b.assocs.push(assoc(ASSOCS[3], pr.clone(), i.epr()));
        }
        vd_refs.push((v, i.epr()));
        b.items.push(i);
    }
    let mut port_refs = Vec::new();
    for p in &a.ports {
        let i = health(
            Instance::new(&uri("MSFT_TargetPort"), "MSFT_TargetPort", &["ObjectId"])
                .with("ObjectId", Value::str(object_id(a, "TP", &p.id)))
                .with("UniqueId", Value::str(&p.iqn))
                .with("FriendlyName", Value::str(&p.id))
                .with("NodeAddress", Value::str(&p.iqn))
                .with("ConnectionType", Value::Int(3))
                .with("PortType", Value::Int(0)),
        );
        port_refs.push(i.epr());
        b.items.push(i);
    }
    let mut inits: Vec<&String> = a.volumes.iter().flat_map(|v| v.initiators.iter()).collect();
    inits.sort();
    inits.dedup();
    for iqn in inits {
        let ms = health(
            Instance::new(&uri("MSFT_MaskingSet"), "MSFT_MaskingSet", &["ObjectId"])
                .with("ObjectId", Value::str(object_id(a, "MS", iqn)))
                .with("UniqueId", Value::str(format!("SPC+{iqn}")))
                .with("FriendlyName", Value::str(format!("View for {iqn}")))
                .with("HostType", Value::Int(15)),
        );
        let init = Instance::new(&uri("MSFT_InitiatorId"), "MSFT_InitiatorId", &["ObjectId"])
            .with("ObjectId", Value::str(object_id(a, "II", iqn)))
            .with("UniqueId", Value::str(format!("HWID+{iqn}")))
            .with("InitiatorAddress", Value::str(iqn))
            .with("Type", Value::Int(2));
        b.assocs.push(assoc(ASSOCS[4], sub_ref.clone(), ms.epr()));
        b.assocs.push(assoc(ASSOCS[6], ms.epr(), init.epr()));
        for (v, r) in &vd_refs {
            if v.initiators.contains(iqn) {
                b.assocs.push(assoc(ASSOCS[5], ms.epr(), r.clone()));
            }
        }
        for r in &port_refs {
            b.assocs.push(assoc(ASSOCS[7], ms.epr(), r.clone()));
        }
        b.items.push(ms);
        b.items.push(init);
    }
    b.items.push(sub);
}

fn assoc(a: (&str, &str, &str), left: EndpointRef, right: EndpointRef) -> Association {
    Association {
        class: a.0.to_string(),
        resource_uri: uri(a.0),
        left: (a.1.to_string(), left),
        right: (a.2.to_string(), right),
    }
}

/// The disks a Windows host sees: its boot disk and the array volumes
/// masked to its initiator.
fn host_disks(ctx: &Ctx<'_>, machine: MachineId) -> Vec<Instance> {
    let m = ctx.model.machine(machine);
    let iqn = initiator_iqn(&m.dns_name);
    let disk = |n: i64, oid: String, uid: String, name: String, size: u64, bus: i64| {
        Instance::new(&uri("MSFT_Disk"), "MSFT_Disk", &["ObjectId"])
            .with("ObjectId", Value::str(oid))
            .with("UniqueId", Value::str(uid))
            .with("Number", Value::Int(n))
            .with("FriendlyName", Value::str(name))
            .with("Size", Value::Int(size as i64))
            .with("BusType", Value::Int(bus))
            .with("HealthStatus", Value::Int(0))
            .with("OperationalStatus", Value::Array(vec![Value::Int(53264)]))
            .with("IsOffline", Value::Bool(false))
            .with("IsBoot", Value::Bool(n == 0))
            .with("IsSystem", Value::Bool(n == 0))
            .with("PartitionStyle", Value::Int(if n == 0 { 2 } else { 0 }))
    };
    let mut out = vec![disk(
        0,
        format!("{{1}}\\\\{}\\disk0", m.name.to_ascii_uppercase()),
        derived_guid(&[&m.name, "boot disk"]),
        "Msft Virtual Disk".into(),
        127 << 30,
        11,
    )
    .with("SerialNumber", Value::str(""))];
    let mut n = 1;
    for id in ctx.model.storage.arrays() {
        let Some(a) = ctx.model.storage.array(id, ctx.now) else {
            continue;
        };
        for v in a.volumes.iter().filter(|v| v.initiators.contains(&iqn)) {
            out.push(
                disk(
                    n,
                    format!(
                        "{{1}}\\\\{}\\disk{{{}}}",
                        m.name.to_ascii_uppercase(),
                        derived_guid(&[&v.wwn])
                    ),
                    v.wwn.to_ascii_uppercase(),
                    format!("{} {}", a.vendor, a.model),
                    v.size,
                    9,
                )
                .with("SerialNumber", Value::str(&v.id))
                .with("Manufacturer", Value::str(&a.vendor))
                .with("Model", Value::str(&a.model))
                .with("Location", Value::str(format!("{} {}", a.name, v.name))),
            );
            n += 1;
        }
    }
    out
}

impl StorageWmi {
    fn build(&self, ctx: &Ctx<'_>) -> Built {
        let mut b = Built {
            items: Vec::new(),
            assocs: Vec::new(),
        };
        for id in ctx.model.storage.managed_by(ctx.machine) {
            let dns = ctx.model.machine(*id).dns_name.clone();
            if let Some(a) = ctx.model.storage.array(*id, ctx.now) {
                build_array(&a, &dns, &mut b);
            }
        }
        b
    }

    /// The managed array and volume a VirtualDisk/StoragePool ObjectId names.
    fn find<T>(&self, ctx: &Ctx<'_>, f: impl Fn(&mut Array) -> Option<T>) -> Option<T> {
        for id in ctx.model.storage.managed_by(ctx.machine) {
            if let Some(mut a) = ctx.model.storage.array(*id, ctx.now) {
                if let Some(t) = f(&mut a) {
                    return Some(t);
                }
            }
        }
        None
    }
}

impl ResourceProvider for StorageWmi {
    fn uri_prefix(&self) -> &str {
        STORAGE
    }

    fn cim_namespace(&self) -> &str {
        "root/microsoft/windows/storage"
    }

    fn classes(&self) -> &[&'static str] {
        CLASSES
    }

    fn instances(&self, ctx: &Ctx<'_>, class: &str) -> Result<Vec<Instance>, Fault> {
        let Some(class) = CLASSES.iter().find(|c| c.eq_ignore_ascii_case(class)) else {
            return Err(Fault::invalid_resource_uri(&uri(class)));
        };
        let role = ctx.model.machine(ctx.machine).role;
        if *class == "MSFT_Disk" {
            return Ok(if role == Role::HypervHost {
                host_disks(ctx, ctx.machine)
            } else {
                Vec::new()
            });
        }
        if role != Role::VmmServer {
            return Ok(Vec::new());
        }
        let b = self.build(ctx);
        if let Some((_, l, r)) = ASSOCS.iter().find(|(c, _, _)| c == class) {
            return Ok(b
                .assocs
                .iter()
                .filter(|a| a.class == *class)
                .map(|a| {
                    Instance::new(&a.resource_uri, class, &[l, r])
                        .with(*l, Value::Ref(a.left.1.clone()))
                        .with(*r, Value::Ref(a.right.1.clone()))
                })
                .collect());
        }
        Ok(b.items.into_iter().filter(|i| i.class == *class).collect())
    }

    fn associations(&self, ctx: &Ctx<'_>) -> Vec<Association> {
        if ctx.model.machine(ctx.machine).role != Role::VmmServer {
            return Vec::new();
        }
        self.build(ctx).assocs
    }

    fn invoke(
        &self,
        ctx: &Ctx<'_>,
        class: &str,
        method: &str,
        target: Option<&Instance>,
        input: &Element,
    ) -> Result<MethodOutput, Fault> {
        let not_supported = || Fault::action_not_supported(&format!("{STORAGE}{class}/{method}"));
        let Some(target) = target else {
            return Err(not_supported());
        };
        let pt = |n: &str| match target.get(n) {
            Some(Value::Str(s)) => s.to_string(),
            _ => String::new(),
        };
        let ids = pt("PassThroughIds");
        let server = pt("PassThroughServer");
        match (class, method) {
            (c, m)
                if c.eq_ignore_ascii_case("MSFT_StoragePool")
                    && m.eq_ignore_ascii_case("CreateVirtualDisk") =>
            {
                let name = param(input, "FriendlyName").unwrap_or_default().to_string();
                let Some(size) = param(input, "Size").and_then(|s| s.trim().parse::<u64>().ok())
                else {
                    return Ok(MethodOutput {
                        params: Vec::new(),
                        return_value: 5,
                    });
                };
                let pool_id = ids.rsplit('+').next().unwrap_or_default().to_string();
                let now = ctx.now;
                let r = self.find(ctx, |a| {
                    if !a.name.eq_ignore_ascii_case(&server) {
                        return None;
                    }
                    // The Storage Management Service waits for the array's
                    // job (New-VirtualDisk without -AsJob): run it to its end.
                    let job = a.create_volume(&pool_id, &name, size, now);
                    Some(job.map(|j| {
                        if let Some(x) = a.jobs.iter_mut().find(|x| x.id == j) {
                            x.started = now
                                .checked_sub(fakedc_model::storage::JOB_DURATION)
                                .unwrap_or(x.started);
                        }
                        a.advance(now);
                        let v = a.job_volume(&j).cloned();
                        (v, a.name.clone())
                    }))
                });
                match r {
                    Some(Ok((Some(v), array))) => {
                        let oid = self
                            .find(ctx, |a| {
                                (a.name == array).then(|| object_id(a, "VD", &v.id))
                            })
                            .unwrap_or_default();
                        Ok(MethodOutput {
                            params: vec![(
                                "CreatedVirtualDisk".into(),
                                Value::Ref(EndpointRef {
                                    resource_uri: uri("MSFT_VirtualDisk"),
                                    selectors: vec![("ObjectId".into(), oid)],
                                }),
                            )],
                            return_value: 0,
                        })
                    }
                    // Not enough room in the pool: the array's job failed.
                    Some(Ok((None, _))) => Ok(MethodOutput {
                        params: Vec::new(),
                        return_value: 4,
                    }),
                    Some(Err(StorageError::ZeroSize)) => Ok(MethodOutput {
                        params: Vec::new(),
                        return_value: 5,
                    }),
                    Some(Err(_)) | None => Ok(MethodOutput {
                        params: Vec::new(),
                        return_value: 4,
                    }),
                }
            }
            (c, m)
                if c.eq_ignore_ascii_case("MSFT_VirtualDisk")
                    && m.eq_ignore_ascii_case("DeleteObject") =>
            {
                let r = self.find(ctx, |a| {
                    a.name
                        .eq_ignore_ascii_case(&server)
                        .then(|| a.delete_volume(&ids))
                });
                Ok(MethodOutput {
                    params: Vec::new(),
                    return_value: match r {
                        Some(Ok(_)) => 0,
                        // In use: exposed to a host.
                        Some(Err(StorageError::InUse(_))) => 4,
                        _ => 5,
                    },
                })
            }
            _ => Err(not_supported()),
        }
    }
}
