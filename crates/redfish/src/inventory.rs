//! Systems/1's hardware inventory, the resources inspection tools read
//! (Ironic through sushy: ProcessorSummary, MemorySummary, Processors,
//! EthernetInterfaces' MAC addresses, Storage drives and SimpleStorage
//! disk sizes; Ansible's `GetSystemInventory`; Metal3): Processors,
//! Memory, EthernetInterfaces, Storage with its Drives, SimpleStorage and
//! Bios, all read-only.
//!
//! CPUs and memory come from the model's `Compute` of the chassis, the
//! one shape SMASH's CIM_Processor and CIM_Memory and the host's WMI also
//! report, so the BMC's two web services and the host describe one
//! machine. The model carries no NIC or disk facts, so they come from the
//! BMC's `[machine.options.redfish]`. MAC addresses
//! are derived from the chassis GUID (locally administered), so they stay
//! the same across runs and differ between machines.

use fakedc_model::Compute;
use fakedc_net::OptionsError;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

pub const PROCESSORS: &str = "/redfish/v1/Systems/1/Processors";
pub const MEMORY: &str = "/redfish/v1/Systems/1/Memory";
pub const NICS: &str = "/redfish/v1/Systems/1/EthernetInterfaces";
pub const STORAGE: &str = "/redfish/v1/Systems/1/Storage";
pub const STORAGE_1: &str = "/redfish/v1/Systems/1/Storage/1";
/// Drives are members of Storage/1's `Drives` array (DSP0268 has no
/// collection resource at this URI).
pub const DRIVES: &str = "/redfish/v1/Systems/1/Storage/1/Drives";
pub const SIMPLE: &str = "/redfish/v1/Systems/1/SimpleStorage";
pub const SIMPLE_1: &str = "/redfish/v1/Systems/1/SimpleStorage/1";
pub const BIOS: &str = "/redfish/v1/Systems/1/Bios";

/// Most NICs a scenario may give a system.
const MAX_NICS: u64 = 16;
/// Most disks a scenario may give a system.
const MAX_DISKS: usize = 32;
/// Largest disk, in GB (a petabyte).
const MAX_DISK_GB: u64 = 1_000_000;
/// DIMM slots per CPU socket (the memory is spread over at most these).
const SLOTS_PER_CPU: u64 = 8;

/// The `[machine.options.redfish]` keys.
const KEYS: &[&str] = &["nics", "disks_gb", "update_ms"];
/// How long a firmware install takes by default (model time), after the
/// image is received: a BMC flash and restart take about this long.
const UPDATE_MS: u64 = 20_000;
/// Longest install a scenario may ask for (an hour).
const MAX_UPDATE_MS: u64 = 3_600_000;

/// What Systems/1 is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    /// The chassis's processors and memory.
    pub compute: Compute,
    pub nics: u64,
    pub disks_gb: Vec<u64>,
    /// A SimpleUpdate's install time, milliseconds of model time.
    pub update_ms: u64,
}

impl Inventory {
    /// The chassis's processors and memory; by default two NICs and two
    /// 960 GB SSDs.
    fn with_compute(c: &Compute) -> Inventory {
        Inventory {
            compute: *c,
            nics: 2,
            disks_gb: vec![960, 960],
            update_ms: UPDATE_MS,
        }
    }

    /// The inventory of a BMC's system with its chassis's `compute`;
    /// `Err` names what is wrong with its `[machine.options.redfish]`.
    pub fn of(m: &fakedc_model::Machine, compute: &Compute) -> Result<Inventory, OptionsError> {
        let err = |message: String| OptionsError::new(&m.name, "redfish", message);
        let mut inv = Inventory::with_compute(compute);
        let Some(o) = m.options.get("redfish") else {
            return Ok(inv);
        };
        let Some(o) = o.as_object() else {
            return Err(err("must be a table".into()));
        };
        if let Some(k) = o.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(err(format!(
                "unknown key '{k}' (known: {})",
                KEYS.join(", ")
            )));
        }
        if let Some(v) = o.get("nics") {
            inv.nics = v
                .as_u64()
                .filter(|n| *n <= MAX_NICS)
                .ok_or_else(|| err(format!("nics must be an integer 0..={MAX_NICS}")))?;
        }
        if let Some(v) = o.get("update_ms") {
            inv.update_ms = v
                .as_u64()
                .filter(|n| *n <= MAX_UPDATE_MS)
                .ok_or_else(|| err(format!("update_ms must be an integer 0..={MAX_UPDATE_MS}")))?;
        }
        if let Some(v) = o.get("disks_gb") {
            let bad = || {
                err(format!("disks_gb must be a list of at most {MAX_DISKS} sizes in GB, each 1..={MAX_DISK_GB}"))
            };
            let list = v
                .as_array()
                .filter(|l| l.len() <= MAX_DISKS)
                .ok_or_else(bad)?;
            inv.disks_gb = list
                .iter()
                .map(|d| d.as_u64().filter(|g| (1..=MAX_DISK_GB).contains(g)))
                .collect::<Option<Vec<u64>>>()
                .ok_or_else(bad)?;
        }
        Ok(inv)
    }

    /// The inventory for serving: a scenario that loaded was validated,
    /// so `Err` cannot happen there; a model built otherwise (tests, the
    /// fuzz target) gets the defaults.
    pub fn serving(model: &fakedc_model::Model, bmc: fakedc_model::MachineId) -> Inventory {
        let m = model.machine(bmc);
        let compute = model.compute(m.chassis);
        Inventory::of(m, &compute).unwrap_or_else(|_| Inventory::with_compute(&compute))
    }

    fn cpus(&self) -> u64 {
        u64::from(self.compute.cpus)
    }

    fn memory_gib(&self) -> u64 {
        self.compute.memory_mib / 1024
    }

    /// The DIMMs: the memory spread evenly over as many of the sockets'
    /// slots as divide it (256 GiB on 2 sockets: 16 x 16 GiB).
    fn dimms(&self) -> (u64, u64) {
        let gib = self.memory_gib();
        if gib == 0 {
            return (0, 0);
        }
        let slots = self.cpus().saturating_mul(SLOTS_PER_CPU).max(1);
        let n = (1..=slots)
            .rev()
            .find(|n| gib.is_multiple_of(*n))
            .unwrap_or(1);
        (n, gib / n * 1024)
    }

    /// `ProcessorSummary` and `MemorySummary` for ComputerSystem.
    pub fn summaries(&self, system: &mut Map<String, Value>) {
        system.insert(
            "ProcessorSummary".into(),
            json!({
                "Count": self.compute.cpus,
                "CoreCount": self.compute.cores(),
                "LogicalProcessorCount": self.compute.logical_processors(),
                "Model": self.compute.cpu_model(),
            }),
        );
        system.insert(
            "MemorySummary".into(),
            json!({ "TotalSystemMemoryGiB": self.memory_gib(), "MemoryMirroring": "None" }),
        );
        for (k, v) in [
            ("Processors", PROCESSORS),
            ("Memory", MEMORY),
            ("EthernetInterfaces", NICS),
            ("Storage", STORAGE),
            ("SimpleStorage", SIMPLE),
            ("Bios", BIOS),
        ] {
            system.insert(k.into(), json!({ "@odata.id": v }));
        }
    }
}

/// The MAC address of NIC `n` (1-based): locally administered unicast,
/// the rest a hash of the chassis GUID and the NIC's number.
pub fn mac(guid: &[u8; 16], n: u64) -> String {
    let mut h = Sha256::new();
    h.update(guid);
    h.update(n.to_le_bytes());
    let d = h.finalize();
    let b = [0x02, d[0], d[1], d[2], d[3], d[4]];
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn ok() -> Value {
    json!({ "State": "Enabled", "Health": "OK" })
}

fn members(id: &str, ty: &str, name: &str, ids: impl Iterator<Item = String>) -> Value {
    let m: Vec<Value> = ids
        .map(|i| json!({ "@odata.id": format!("{id}/{i}") }))
        .collect();
    json!({
        "@odata.id": id,
        "@odata.type": ty,
        "Name": name,
        "Members@odata.count": m.len(),
        "Members": m,
    })
}

/// The number in a member id such as `CPU2`, if it names one of `count`
/// (no leading zeros: `CPU02` is not `CPU2`).
fn numbered(id: &str, tag: &str, count: u64) -> Option<u64> {
    id.strip_prefix(tag)
        .filter(|n| !n.starts_with('0'))
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|n| (1..=count).contains(n))
}

/// What the chassis contributes to these resources.
pub struct Host<'a> {
    pub guid: &'a [u8; 16],
    pub powered: bool,
    pub vendor: &'a str,
}

/// The GET answer for an inventory path, or `None` when the path is not
/// one (the caller answers 404 or routes elsewhere). `Some(None)` is a
/// path under an inventory collection naming no member.
pub fn read(inv: &Inventory, host: &Host<'_>, path: &str) -> Option<Option<Value>> {
    let member = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('/'))
            .filter(|r| !r.is_empty() && !r.contains('/'))
    };
    Some(match path {
        PROCESSORS => Some(members(
            path,
            "#ProcessorCollection.ProcessorCollection",
            "Processors Collection",
            (1..=inv.cpus()).map(|n| format!("CPU{n}")),
        )),
        MEMORY => Some(members(
            path,
            "#MemoryCollection.MemoryCollection",
            "Memory Collection",
            (1..=inv.dimms().0).map(|n| format!("DIMM{n}")),
        )),
        NICS => Some(members(
            path,
            "#EthernetInterfaceCollection.EthernetInterfaceCollection",
            "Ethernet Interface Collection",
            (1..=inv.nics).map(|n| format!("NIC{n}")),
        )),
        STORAGE => Some(members(
            path,
            "#StorageCollection.StorageCollection",
            "Storage Collection",
            std::iter::once("1".to_string()),
        )),
        SIMPLE => Some(members(
            path,
            "#SimpleStorageCollection.SimpleStorageCollection",
            "Simple Storage Collection",
            std::iter::once("1".to_string()),
        )),
        STORAGE_1 => Some(storage(inv)),
        SIMPLE_1 => Some(simple_storage(inv, host)),
        BIOS => Some(bios(inv)),
        _ => {
            if let Some(id) = member(PROCESSORS) {
                numbered(id, "CPU", inv.cpus()).map(|n| processor(inv, host, n))
            } else if let Some(id) = member(MEMORY) {
                numbered(id, "DIMM", inv.dimms().0).map(|n| dimm(inv, n))
            } else if let Some(id) = member(NICS) {
                numbered(id, "NIC", inv.nics).map(|n| nic(host, n))
            } else if let Some(id) = member(DRIVES) {
                numbered(id, "Disk", inv.disks_gb.len() as u64).map(|n| drive(inv, host, n))
            } else {
                return None;
            }
        }
    })
}

fn processor(inv: &Inventory, host: &Host<'_>, n: u64) -> Value {
    let c = &inv.compute;
    json!({
        "@odata.id": format!("{PROCESSORS}/CPU{n}"),
        "@odata.type": "#Processor.v1_20_0.Processor",
        "Id": format!("CPU{n}"),
        "Name": format!("Processor {n}"),
        "Socket": format!("CPU {n}"),
        "ProcessorType": "CPU",
        "ProcessorArchitecture": "x86",
        "InstructionSet": "x86-64",
        "Manufacturer": "Intel(R) Corporation",
        "Model": c.cpu_model(),
        "MaxSpeedMHz": c.cpu_mhz,
        // As SMASH's CurrentClockSpeed: 0 while the host is off.
        "OperatingSpeedMHz": if host.powered { c.cpu_mhz } else { 0 },
        "TotalCores": c.cores_per_cpu,
        "TotalEnabledCores": c.cores_per_cpu,
        "TotalThreads": c.cores_per_cpu.saturating_mul(c.threads_per_core),
        "Status": ok(),
    })
}

fn dimm(inv: &Inventory, n: u64) -> Value {
    let (count, mib) = inv.dimms();
    // Slots filled in order across the sockets: A1 on CPU 1, A1 on CPU 2, ...
    let per_cpu = count.div_ceil(inv.cpus().max(1)).max(1);
    let cpu = (n - 1) / per_cpu + 1;
    let slot = (n - 1) % per_cpu + 1;
    json!({
        "@odata.id": format!("{MEMORY}/DIMM{n}"),
        "@odata.type": "#Memory.v1_20_0.Memory",
        "Id": format!("DIMM{n}"),
        "Name": format!("DIMM {n}"),
        "DeviceLocator": format!("CPU{cpu} DIMM {slot}"),
        "MemoryType": "DRAM",
        "MemoryDeviceType": "DDR4",
        "BaseModuleType": "RDIMM",
        "CapacityMiB": mib,
        "DataWidthBits": 64,
        "BusWidthBits": 72,
        "ErrorCorrection": "MultiBitECC",
        "OperatingSpeedMhz": 2933,
        "RankCount": 2,
        "Status": ok(),
    })
}

fn nic(host: &Host<'_>, n: u64) -> Value {
    let mac = mac(host.guid, n);
    json!({
        "@odata.id": format!("{NICS}/NIC{n}"),
        "@odata.type": "#EthernetInterface.v1_12_0.EthernetInterface",
        "Id": format!("NIC{n}"),
        "Name": format!("Ethernet Interface {n}"),
        "MACAddress": mac,
        "PermanentMACAddress": mac,
        "SpeedMbps": 10000,
        "FullDuplex": true,
        "AutoNeg": true,
        "InterfaceEnabled": true,
        // The link drops with the host's power (no wake-on-LAN standby).
        "LinkStatus": if host.powered { "LinkUp" } else { "LinkDown" },
        "Status": ok(),
    })
}

fn drive_model(gb: u64) -> String {
    format!("FDC-SSD-{gb}G")
}

fn drive_serial(host: &Host<'_>, n: u64) -> String {
    let g = host.guid;
    format!(
        "FDCD{:02X}{:02X}{:02X}{:02X}{n:02}",
        g[12], g[13], g[14], g[15]
    )
}

fn drive(inv: &Inventory, host: &Host<'_>, n: u64) -> Value {
    let gb = inv.disks_gb.get((n - 1) as usize).copied().unwrap_or(0);
    json!({
        "@odata.id": format!("{DRIVES}/Disk{n}"),
        "@odata.type": "#Drive.v1_20_0.Drive",
        "Id": format!("Disk{n}"),
        "Name": format!("Disk {n}"),
        "CapacityBytes": gb.saturating_mul(1_000_000_000),
        "MediaType": "SSD",
        "Protocol": "SATA",
        "Manufacturer": host.vendor,
        "Model": drive_model(gb),
        "SerialNumber": drive_serial(host, n),
        "BlockSizeBytes": 512,
        "Status": ok(),
        "Links": { "Storage": { "@odata.id": STORAGE_1 } },
    })
}

fn storage(inv: &Inventory) -> Value {
    let drives: Vec<Value> = (1..=inv.disks_gb.len())
        .map(|n| json!({ "@odata.id": format!("{DRIVES}/Disk{n}") }))
        .collect();
    json!({
        "@odata.id": STORAGE_1,
        "@odata.type": "#Storage.v1_15_0.Storage",
        "Id": "1",
        "Name": "Local Storage",
        "Drives@odata.count": drives.len(),
        "Drives": drives,
        "Status": ok(),
    })
}

fn simple_storage(inv: &Inventory, host: &Host<'_>) -> Value {
    let devices: Vec<Value> = inv
        .disks_gb
        .iter()
        .enumerate()
        .map(|(i, gb)| {
            json!({
                "Name": format!("Disk {}", i + 1),
                "Manufacturer": host.vendor,
                "Model": drive_model(*gb),
                "CapacityBytes": gb.saturating_mul(1_000_000_000),
                "Status": ok(),
            })
        })
        .collect();
    json!({
        "@odata.id": SIMPLE_1,
        "@odata.type": "#SimpleStorage.v1_3_0.SimpleStorage",
        "Id": "1",
        "Name": "Simple Storage Controller",
        "Devices": devices,
        "Status": ok(),
    })
}

/// Read-only BIOS attributes consistent with the inventory (hyper-threading
/// on when a core has two threads, as TotalThreads says). No settings object: a PATCH
/// is 405.
/// The BIOS attributes Systems/1/Bios shows, and what its attribute
/// registry says of each: (name, display name, the allowed values; empty
/// for the integer one, whose bounds are 1 to the cores per socket).
const BIOS_ATTRIBUTES: &[(&str, &str, &[&str])] = &[
    ("BootMode", "Boot Mode", &["Uefi", "Bios"]),
    (
        "ProcVirtualization",
        "Virtualization Technology",
        &["Enabled", "Disabled"],
    ),
    (
        "LogicalProc",
        "Logical Processor (Hyper-Threading)",
        &["Enabled", "Disabled"],
    ),
    ("ProcCoresEnabled", "Number of Cores per Processor", &[]),
    (
        "SriovGlobalEnable",
        "SR-IOV Global Enable",
        &["Enabled", "Disabled"],
    ),
];
/// `Bios.AttributeRegistry`: the registry's Id, as `Registries` lists it.
pub const BIOS_REGISTRY: &str = "BiosAttributeRegistry.1.0.0";
pub const REGISTRIES: &str = "/redfish/v1/Registries";
pub const REGISTRY_FILE: &str = "/redfish/v1/Registries/BiosAttributeRegistry";
/// Where the registry itself is (`MessageRegistryFile.Location.Uri`).
pub const REGISTRY_JSON: &str =
    "/redfish/v1/Registries/BiosAttributeRegistry/BiosAttributeRegistry.json";

fn bios_value(inv: &Inventory, name: &str) -> Value {
    match name {
        "BootMode" => json!("Uefi"),
        "LogicalProc" => json!(if inv.compute.threads_per_core > 1 {
            "Enabled"
        } else {
            "Disabled"
        }),
        "ProcCoresEnabled" => json!(inv.compute.cores_per_cpu),
        _ => json!("Enabled"),
    }
}

fn bios(inv: &Inventory) -> Value {
    let attrs: Map<String, Value> = BIOS_ATTRIBUTES
        .iter()
        .map(|(n, _, _)| (n.to_string(), bios_value(inv, n)))
        .collect();
    json!({
        "@odata.id": BIOS,
        "@odata.type": "#Bios.v1_2_0.Bios",
        "Id": "BIOS",
        "Name": "BIOS Configuration Current Settings",
        "AttributeRegistry": BIOS_REGISTRY,
        "Attributes": attrs,
    })
}

/// `/redfish/v1/Registries` and the BIOS attribute registry: what each
/// attribute may hold, read-only since this BIOS takes no settings (a
/// PATCH of Bios is refused). `None` when `path` is none of them.
pub fn registries(inv: &Inventory, bios_version: &str, path: &str) -> Option<Value> {
    Some(match path {
        REGISTRIES => members(
            REGISTRIES,
            "#MessageRegistryFileCollection.MessageRegistryFileCollection",
            "Registry File Collection",
            std::iter::once("BiosAttributeRegistry".to_string()),
        ),
        REGISTRY_FILE => json!({
            "@odata.id": REGISTRY_FILE,
            "@odata.type": "#MessageRegistryFile.v1_1_5.MessageRegistryFile",
            "Id": "BiosAttributeRegistry",
            "Name": "BIOS Attribute Registry File",
            "Languages": ["en"],
            "Registry": "BiosAttributeRegistry.1.0",
            "Location": [{ "Language": "en", "Uri": REGISTRY_JSON }],
        }),
        REGISTRY_JSON => {
            let attrs: Vec<Value> = BIOS_ATTRIBUTES
                .iter()
                .map(|(name, display, values)| {
                    let mut a = json!({
                        "AttributeName": name,
                        "DisplayName": display,
                        "ReadOnly": true,
                        "CurrentValue": bios_value(inv, name),
                    });
                    if values.is_empty() {
                        a["Type"] = json!("Integer");
                        a["LowerBound"] = json!(1);
                        a["UpperBound"] = json!(inv.compute.cores_per_cpu);
                        a["DefaultValue"] = json!(inv.compute.cores_per_cpu);
                    } else {
                        a["Type"] = json!("Enumeration");
                        a["DefaultValue"] = json!(values[0]);
                        a["Value"] = values
                            .iter()
                            .map(|v| json!({ "ValueName": v, "ValueDisplayName": v }))
                            .collect();
                    }
                    a
                })
                .collect();
            json!({
                "@odata.type": "#AttributeRegistry.v1_3_8.AttributeRegistry",
                "Id": BIOS_REGISTRY,
                "Name": "BIOS Attribute Registry",
                "Language": "en",
                "OwningEntity": "fakedc",
                "RegistryVersion": "1.0.0",
                "SupportedSystems": [{
                    "ProductName": "fakedc",
                    "SystemId": "fakedc",
                    "FirmwareVersion": bios_version,
                }],
                "RegistryEntries": { "Attributes": attrs },
            })
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn machine(options: Value) -> fakedc_model::Machine {
        let opts = fakedc_scenario::ParseOptions::default();
        let sc = fakedc_scenario::Scenario::parse(
            "t.toml",
            "[[machine]]\nname = \"bmc01\"\nrole = \"bmc\"\naddress = \"127.99.1.1\"\n",
            &opts,
        )
        .unwrap();
        let mut m = sc.model().machine(fakedc_model::MachineId(0)).clone();
        m.options = options
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        m
    }

    #[test]
    fn options_are_checked_and_compute_comes_from_the_chassis() {
        let inv = Inventory::of(&machine(json!({})), &Compute::SERVER).unwrap();
        assert_eq!(
            (
                inv.compute.cpus,
                inv.compute.cores_per_cpu,
                inv.compute.threads_per_core,
                inv.memory_gib()
            ),
            (2, 16, 2, 256)
        );
        let small = Compute {
            cpus: 1,
            cores_per_cpu: 8,
            threads_per_core: 2,
            cpu_mhz: 2600,
            memory_mib: 24 * 1024,
        };
        let inv = Inventory::of(
            &machine(json!({ "redfish": { "nics": 4, "disks_gb": [240] } })),
            &small,
        )
        .unwrap();
        assert_eq!(
            (
                inv.compute.cpus,
                inv.compute.cores_per_cpu,
                inv.memory_gib(),
                inv.nics,
                inv.disks_gb.clone()
            ),
            (1, 8, 24, 4, vec![240])
        );
        // 24 GiB on one socket's 8 slots: 8 x 3 GiB.
        assert_eq!(inv.dimms(), (8, 3072));
        for bad in [
            json!({ "redfish": { "nics": 17 } }),
            json!({ "redfish": { "nics": "2" } }),
            json!({ "redfish": { "disks_gb": [0] } }),
            json!({ "redfish": { "disks_gb": 960 } }),
            json!({ "redfish": { "cpus": 2 } }),
        ] {
            assert!(
                Inventory::of(&machine(bad.clone()), &Compute::SERVER).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn members_resolve_and_others_do_not() {
        let inv = Inventory::with_compute(&Compute::SERVER);
        let g = [7u8; 16];
        let host = Host {
            guid: &g,
            powered: true,
            vendor: "Contoso",
        };
        assert_eq!(inv.dimms(), (16, 16 * 1024));
        for p in [
            "/redfish/v1/Systems/1/Processors/CPU2",
            "/redfish/v1/Systems/1/Memory/DIMM16",
            "/redfish/v1/Systems/1/EthernetInterfaces/NIC2",
            "/redfish/v1/Systems/1/Storage/1/Drives/Disk2",
        ] {
            let v = read(&inv, &host, p).unwrap().unwrap();
            assert_eq!(v["@odata.id"], p);
        }
        for p in [
            "/redfish/v1/Systems/1/Processors/CPU3",
            "/redfish/v1/Systems/1/Processors/CPU0",
            "/redfish/v1/Systems/1/Processors/CPU01",
            "/redfish/v1/Systems/1/Memory/DIMM17",
            "/redfish/v1/Systems/1/EthernetInterfaces/nic1",
            "/redfish/v1/Systems/1/Storage/1/Drives/Disk3",
        ] {
            assert_eq!(read(&inv, &host, p), Some(None), "{p}");
        }
        assert_eq!(
            read(&inv, &host, "/redfish/v1/Systems/1/Storage/1/Drives"),
            None
        );
        let a = mac(&g, 1);
        assert_eq!(a.len(), 17);
        assert!(a.starts_with("02:"));
        assert_ne!(a, mac(&g, 2));
    }
}
