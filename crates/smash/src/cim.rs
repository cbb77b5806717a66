//! The DMTF SMASH profiles as CIM classes over the shared model.
//!
//! Two [`ResourceProvider`]s with the same ResourceURI prefix: one for
//! `root/interop` (Profile Registration: what the BMC conforms to) and one
//! for `root/cimv2` (the managed server). Every call rebuilds the instances
//! from a snapshot of the BMC's chassis, so SMASH never keeps a copy of
//! power, boot, sensors or the log: an IPMI power-off shows here at once.
//!
//! Association classes are listed once ([`Assoc`]) and serve both as
//! enumerable instances (with their own properties, e.g. PlatformGUID or
//! IsNext) and as the engine's association-filter edges.

use fakedc_model::timefmt::xs_datetime;
use fakedc_model::{
    BootDevice, BootOverride, Chassis, EventKind, MachineId, PowerAction, PowerState, Privilege,
    Sensor, SensorKind,
};
use fakedc_wsman::provider::{param, MethodOutput};
use fakedc_wsman::xml::Element;
use fakedc_wsman::{Association, Ctx, EndpointRef, Fault, Instance, ResourceProvider, Value};
use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// ResourceURI prefix of every DMTF CIM class.
pub const PREFIX: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/";
pub const INTEROP: &str = "root/interop";
pub const CIMV2: &str = "root/cimv2";

/// Classes served in `root/interop`.
pub const INTEROP_CLASSES: &[&str] = &[
    "CIM_RegisteredProfile",
    "CIM_ElementConformsToProfile",
    "CIM_ReferencedProfile",
];

/// Classes served in `root/cimv2`.
/// (class, superclass) in the DMTF CIM Schema for every class served and
/// its ancestors, so association filters naming a superclass
/// (`ResultClassName=CIM_LogicalDevice`, `AssociationClassName=CIM_Component`)
/// find the subclasses' instances as on a real CIMOM.
const SUPERCLASS: &[(&str, &str)] = &[
    ("CIM_ManagedSystemElement", "CIM_ManagedElement"),
    ("CIM_LogicalElement", "CIM_ManagedSystemElement"),
    ("CIM_EnabledLogicalElement", "CIM_LogicalElement"),
    ("CIM_System", "CIM_EnabledLogicalElement"),
    ("CIM_ComputerSystem", "CIM_System"),
    ("CIM_LogicalDevice", "CIM_EnabledLogicalElement"),
    ("CIM_Processor", "CIM_LogicalDevice"),
    ("CIM_StorageExtent", "CIM_LogicalDevice"),
    ("CIM_Memory", "CIM_StorageExtent"),
    ("CIM_Sensor", "CIM_LogicalDevice"),
    ("CIM_NumericSensor", "CIM_Sensor"),
    ("CIM_Service", "CIM_EnabledLogicalElement"),
    ("CIM_PowerManagementService", "CIM_Service"),
    ("CIM_BootService", "CIM_Service"),
    ("CIM_Log", "CIM_EnabledLogicalElement"),
    ("CIM_RecordLog", "CIM_Log"),
    ("CIM_SoftwareIdentity", "CIM_LogicalElement"),
    ("CIM_PhysicalElement", "CIM_ManagedSystemElement"),
    ("CIM_PhysicalPackage", "CIM_PhysicalElement"),
    ("CIM_PhysicalFrame", "CIM_PhysicalPackage"),
    ("CIM_Chassis", "CIM_PhysicalFrame"),
    ("CIM_RecordForLog", "CIM_ManagedElement"),
    ("CIM_LogEntry", "CIM_RecordForLog"),
    ("CIM_SettingData", "CIM_ManagedElement"),
    ("CIM_BootConfigSetting", "CIM_SettingData"),
    ("CIM_BootSourceSetting", "CIM_SettingData"),
    ("CIM_Capabilities", "CIM_ManagedElement"),
    ("CIM_PowerManagementCapabilities", "CIM_Capabilities"),
    ("CIM_RegisteredProfile", "CIM_ManagedElement"),
    // Associations.
    ("CIM_SystemComponent", "CIM_Component"),
    ("CIM_SystemDevice", "CIM_SystemComponent"),
    ("CIM_OrderedComponent", "CIM_Component"),
    ("CIM_SystemPackaging", "CIM_Dependency"),
    ("CIM_ComputerSystemPackage", "CIM_SystemPackaging"),
    ("CIM_HostedDependency", "CIM_Dependency"),
    ("CIM_HostedService", "CIM_HostedDependency"),
    (
        "CIM_AssociatedPowerManagementService",
        "CIM_ServiceAvailableToElement",
    ),
    ("CIM_UseOfLog", "CIM_Dependency"),
    ("CIM_ReferencedProfile", "CIM_Dependency"),
    ("CIM_ElementSoftwareIdentity", "CIM_Dependency"),
];

/// `class` is `ancestor` or derives from it (see [`SUPERCLASS`]).
pub fn is_a(class: &str, ancestor: &str) -> bool {
    let mut c = class;
    // The chain is at most a few levels; the bound guards a table mistake.
    for _ in 0..=SUPERCLASS.len() {
        if c.eq_ignore_ascii_case(ancestor) {
            return true;
        }
        match SUPERCLASS.iter().find(|(k, _)| k.eq_ignore_ascii_case(c)) {
            Some((_, parent)) => c = parent,
            None => return false,
        }
    }
    false
}

pub const CIMV2_CLASSES: &[&str] = &[
    "CIM_ComputerSystem",
    "CIM_ComputerSystemPackage",
    "CIM_Chassis",
    "CIM_SoftwareIdentity",
    "CIM_ElementSoftwareIdentity",
    "CIM_Processor",
    "CIM_Memory",
    "CIM_SystemDevice",
    "CIM_PowerManagementService",
    "CIM_AssociatedPowerManagementService",
    "CIM_PowerManagementCapabilities",
    "CIM_ElementCapabilities",
    "CIM_HostedService",
    "CIM_BootService",
    "CIM_BootConfigSetting",
    "CIM_BootSourceSetting",
    "CIM_OrderedComponent",
    "CIM_ElementSettingData",
    "CIM_NumericSensor",
    "CIM_RecordLog",
    "CIM_LogEntry",
    "CIM_UseOfLog",
    "CIM_LogManagesRecord",
];

/// (DSP number, RegisteredName, RegisteredVersion) of every profile served.
pub const PROFILES: &[(&str, &str, &str)] = &[
    ("DSP1033", "Profile Registration", "1.0.0"),
    ("DSP1004", "Base Server", "1.0.0"),
    ("DSP1027", "Power State Management", "1.0.0"),
    ("DSP1012", "Boot Control", "1.0.0"),
    ("DSP1011", "Physical Asset", "1.0.0"),
    ("DSP1023", "Software Inventory", "1.0.0"),
    ("DSP1022", "CPU", "1.0.0"),
    ("DSP1026", "System Memory", "1.0.0"),
    ("DSP1009", "Sensors", "1.0.0"),
    ("DSP1010", "Record Log", "1.0.0"),
];

/// DSP1027 PowerState values the model can perform, and how.
///
/// The model has one power cycle and one reset, so the soft and graceful
/// variants map onto the nearest action (a graceful off is the model's soft
/// shutdown, which ends in power off).
pub fn power_action_for(state: i64) -> Option<PowerAction> {
    Some(match state {
        2 => PowerAction::On,
        5 | 9 | 15 | 16 => PowerAction::Cycle,
        6 => PowerAction::Off,
        8 | 12 | 13 => PowerAction::Soft,
        10 | 14 => PowerAction::Reset,
        11 => PowerAction::Nmi,
        _ => return None,
    })
}

/// Every PowerState value [`power_action_for`] accepts.
pub const POWER_STATES_SUPPORTED: &[i64] = &[2, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16];

/// DSP1027 return codes of RequestPowerStateChange.
pub mod rc {
    pub const OK: i64 = 0;
    pub const NOT_SUPPORTED: i64 = 1;
    pub const INVALID_PARAMETER: i64 = 5;
    /// DSP1012 (ChangeBootOrder, SetBootConfigRole): "Invalid Reference".
    pub const INVALID_REFERENCE: i64 = 4;
}

/// Boot sources: (StructuredBootString, ElementName, model device).
pub const BOOT_SOURCES: &[(&str, &str, BootDevice)] = &[
    ("CIM:Hard-Disk:1", "Hard Disk", BootDevice::Disk),
    ("CIM:CD/DVD:1", "CD/DVD", BootDevice::Cdrom),
    ("CIM:Network:1", "Network (PXE)", BootDevice::Pxe),
];

/// The boot order a boot override means: the overridden source first, the
/// rest in the default order (disk, CD/DVD, network). IPMI keeps a single
/// device, so that is all the order can say.
pub fn boot_order(boot: BootOverride) -> Vec<usize> {
    let mut order: Vec<usize> = (0..BOOT_SOURCES.len()).collect();
    if let Some(k) = BOOT_SOURCES.iter().position(|s| s.2 == boot.device) {
        order.retain(|&i| i != k);
        order.insert(0, k);
    }
    order
}

/// CIM_ElementSettingData.IsNext of the boot configuration: 1 "Is Next"
/// (persistent override, or the default order), 3 "Is Next For Single Use"
/// (a one-time override, what `ipmitool chassis bootdev pxe` sets).
pub fn is_next(boot: BootOverride) -> i64 {
    if boot.device != BootDevice::None && !boot.persistent {
        3
    } else {
        1
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    Interop,
    Cimv2,
}

impl Ns {
    fn name(self) -> &'static str {
        match self {
            Ns::Interop => INTEROP,
            Ns::Cimv2 => CIMV2,
        }
    }
}

/// An association instance: class, both ends, own properties.
struct Assoc {
    ns: Ns,
    class: &'static str,
    left: (&'static str, EndpointRef),
    right: (&'static str, EndpointRef),
    props: Vec<(Cow<'static, str>, Value)>,
}

impl Assoc {
    fn instance(&self) -> Instance {
        let mut i = Instance::new(&uri(self.class), self.class, &[])
            .with(self.left.0, Value::Ref(self.left.1.clone()))
            .with(self.right.0, Value::Ref(self.right.1.clone()));
        i.props.extend(self.props.iter().cloned());
        i
    }
}

/// Everything the BMC serves, built from one chassis snapshot.
struct Built {
    items: Vec<(Ns, Instance)>,
    assocs: Vec<Assoc>,
}

impl Built {
    /// The instance an EPR names, if any (any namespace).
    fn resolve(&self, r: &EndpointRef) -> Option<&Instance> {
        let class = r
            .resource_uri
            .get(..PREFIX.len())
            .filter(|p| p.eq_ignore_ascii_case(PREFIX))
            .map(|_| &r.resource_uri[PREFIX.len()..])?;
        if r.selectors.is_empty() {
            return None;
        }
        self.items
            .iter()
            .map(|(_, i)| i)
            .find(|i| i.class.eq_ignore_ascii_case(class) && i.matches(&r.selectors))
    }
}

fn uri(class: &str) -> String {
    format!("{PREFIX}{class}")
}

/// An EPR carrying its namespace, since associations cross namespaces.
fn epr(i: &Instance, ns: Ns) -> EndpointRef {
    let mut e = i.epr();
    e.selectors
        .push(("__cimnamespace".to_string(), ns.name().to_string()));
    e
}

fn s(v: impl Into<String>) -> Value {
    Value::str(v)
}

fn ints(v: &[i64]) -> Value {
    Value::Array(v.iter().map(|&x| Value::Int(x)).collect())
}

/// One of the two providers.
pub struct SmashProvider {
    ns: Ns,
    /// Snapshots by (BMC, request time), shared by both providers: one
    /// request asks for instances many times (association walks resolve
    /// every end), and the engine gives every call of a request the same
    /// `now`, so they all see one snapshot built once.
    cache: Arc<Mutex<VecDeque<Snapshot>>>,
}

/// A cached build: which BMC, at which request time.
type Snapshot = (MachineId, Instant, Arc<Built>);

/// Snapshots kept (a few requests in flight at once).
const CACHED_SNAPSHOTS: usize = 16;

impl SmashProvider {
    /// Both providers (interop first), sharing the snapshot cache.
    pub fn pair() -> Vec<Arc<dyn ResourceProvider>> {
        let cache = Arc::new(Mutex::new(VecDeque::new()));
        vec![
            Arc::new(SmashProvider {
                ns: Ns::Interop,
                cache: cache.clone(),
            }),
            Arc::new(SmashProvider {
                ns: Ns::Cimv2,
                cache,
            }),
        ]
    }

    fn build(&self, ctx: &Ctx<'_>) -> Arc<Built> {
        {
            let g = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((_, _, b)) = g
                .iter()
                .find(|(m, at, _)| *m == ctx.machine && *at == ctx.now)
            {
                return b.clone();
            }
        }
        let b = Arc::new(self.build_now(ctx));
        let mut g = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if g.len() >= CACHED_SNAPSHOTS {
            g.pop_front();
        }
        g.push_back((ctx.machine, ctx.now, b.clone()));
        b
    }

    fn build_now(&self, ctx: &Ctx<'_>) -> Built {
        let model = ctx.model;
        let bmc = model.machine(ctx.machine);
        let sys_name = bmc
            .host
            .map(|h| model.machine(h).name.clone())
            .unwrap_or_else(|| bmc.name.clone());
        let c = model.chassis(bmc.chassis, ctx.now);
        build(&sys_name, &c)
    }
}

/// EnabledState of the managed system (CIM_EnabledLogicalElement).
fn enabled_state(p: PowerState) -> i64 {
    match p {
        PowerState::On => 2,
        PowerState::Off => 3,
        PowerState::ShuttingDown { .. } => 4,
        PowerState::Booting { .. } | PowerState::Cycling { .. } => 10,
    }
}

/// DSP1027 PowerState of the managed system: 2 On, 8 Off - Soft (the BMC
/// still has standby power, so "off" is never G3 mechanical off).
fn power_state(p: PowerState) -> i64 {
    if p.power_on() {
        2
    } else {
        8
    }
}

fn requested_power_state(a: Option<PowerAction>) -> i64 {
    match a {
        None => 0,
        Some(PowerAction::On) => 2,
        Some(PowerAction::Off) => 6,
        Some(PowerAction::Soft) => 8,
        Some(PowerAction::Cycle) => 9,
        Some(PowerAction::Reset) => 10,
        Some(PowerAction::Nmi) => 11,
    }
}

fn requested_state(a: Option<PowerAction>) -> i64 {
    match a {
        None => 12,
        Some(PowerAction::On) => 2,
        Some(PowerAction::Off) => 3,
        Some(PowerAction::Soft) => 4,
        Some(PowerAction::Cycle) => 10,
        Some(PowerAction::Reset) => 11,
        Some(PowerAction::Nmi) => 5,
    }
}

/// What DSP1027 clients may request now: power on while off, everything
/// else while on.
fn available_power_states(p: PowerState) -> Vec<i64> {
    if p.power_on() {
        POWER_STATES_SUPPORTED
            .iter()
            .copied()
            .filter(|&s| s != 2)
            .collect()
    } else {
        vec![2, 5, 9]
    }
}

/// The SMBIOS system UUID as the 32 hex digits BMCs report in
/// PlatformGUID: RFC 4122 field order (the SMBIOS little-endian first three
/// fields swapped), uppercase — equal to `ipmitool mc guid` without dashes.
pub fn platform_guid(c: &Chassis) -> String {
    c.hardware
        .guid_string()
        .replace('-', "")
        .to_ascii_uppercase()
}

/// CIM_LogEntry text and PerceivedSeverity of an event.
fn event_text(k: &EventKind) -> (String, i64) {
    match k {
        EventKind::PowerOn => ("System power on".into(), 2),
        EventKind::PowerOff { soft: false } => ("System power off (hard)".into(), 2),
        EventKind::PowerOff { soft: true } => ("System power off (soft, S5)".into(), 2),
        EventKind::SoftShutdownRequested => ("Soft shutdown requested (power button)".into(), 2),
        EventKind::Reset => ("System reset".into(), 3),
        EventKind::Nmi => ("Diagnostic interrupt (NMI)".into(), 5),
        EventKind::BootStarted { device } => (format!("Boot started from {}", device.label()), 2),
        EventKind::OsBooted => ("Operating system booted".into(), 2),
        EventKind::LogCleared => ("Log cleared".into(), 2),
        EventKind::Raw { record_type, .. } => {
            (format!("SEL record of type 0x{record_type:02X}"), 1)
        }
    }
}

fn sensor_type(k: SensorKind) -> (i64, i64) {
    // (SensorType, BaseUnits)
    match k {
        SensorKind::Temperature => (2, 2),
        SensorKind::Voltage => (3, 5),
        SensorKind::Current => (4, 6),
        SensorKind::Fan => (5, 19),
        SensorKind::Power => (13, 7),
    }
}

/// Readings are integers scaled by 10^UnitModifier: whole units when every
/// value of the sensor is whole, hundredths otherwise.
fn unit_modifier(s: &Sensor) -> i32 {
    let all = [
        Some(s.on_value),
        Some(s.off_value),
        s.lower_critical,
        s.lower_non_critical,
        s.upper_non_critical,
        s.upper_critical,
    ];
    if all.iter().flatten().all(|v| v.fract() == 0.0) {
        0
    } else {
        -2
    }
}

fn scaled(v: f64, modifier: i32) -> i64 {
    let x = v * 10f64.powi(-modifier);
    if x.is_finite() {
        x.round().clamp(i64::MIN as f64, i64::MAX as f64) as i64
    } else {
        0
    }
}

/// (CurrentState, HealthState) from the thresholds.
fn sensor_state(s: &Sensor, r: f64) -> (&'static str, i64) {
    if s.upper_critical.is_some_and(|t| r >= t) {
        ("Upper Critical", 25)
    } else if s.lower_critical.is_some_and(|t| r <= t) {
        ("Lower Critical", 25)
    } else if s.upper_non_critical.is_some_and(|t| r >= t) {
        ("Upper Non-Critical", 15)
    } else if s.lower_non_critical.is_some_and(|t| r <= t) {
        ("Lower Non-Critical", 15)
    } else {
        ("Normal", 5)
    }
}

fn build(sys_name: &str, c: &Chassis) -> Built {
    let hw = &c.hardware;
    let inv = &c.compute;
    let mut items: Vec<(Ns, Instance)> = Vec::new();
    let mut assocs: Vec<Assoc> = Vec::new();
    // Devices and services are keyed by their system and class plus one
    // own key: DeviceID for devices, Name for services.
    let scoped = |class: &str, key: &'static str, id: String| {
        Instance::new(
            &uri(class),
            class,
            &[
                "SystemCreationClassName",
                "SystemName",
                "CreationClassName",
                key,
            ],
        )
        .with("SystemCreationClassName", s("CIM_ComputerSystem"))
        .with("SystemName", s(sys_name))
        .with("CreationClassName", s(class))
        .with(key, s(id))
    };
    let dev = |class: &str, id: String| scoped(class, "DeviceID", id);
    let svc = |class: &str, name: &str| scoped(class, "Name", name.to_string());
    let ok = |i: Instance| {
        i.with("EnabledState", Value::Int(2))
            .with("HealthState", Value::Int(5))
            .with("OperationalStatus", ints(&[2]))
    };

    // Base Server.
    let cs = Instance::new(
        &uri("CIM_ComputerSystem"),
        "CIM_ComputerSystem",
        &["CreationClassName", "Name"],
    )
    .with("CreationClassName", s("CIM_ComputerSystem"))
    .with("Name", s(sys_name))
    .with("ElementName", s(sys_name))
    .with("Caption", s(format!("{} {}", hw.vendor, hw.model)))
    .with("Dedicated", ints(&[0]))
    .with("EnabledState", Value::Int(enabled_state(c.power)))
    .with(
        "RequestedState",
        Value::Int(requested_state(c.last_power_event)),
    )
    .with("EnabledDefault", Value::Int(2))
    .with("HealthState", Value::Int(5))
    .with("OperationalStatus", ints(&[2]))
    .with("IdentifyingDescriptions", Value::Array(vec![s("CIM:GUID")]))
    .with(
        "OtherIdentifyingInfo",
        Value::Array(vec![s(hw.guid_string())]),
    );
    let cs_ref = epr(&cs, Ns::Cimv2);

    // Physical Asset.
    let tag = if hw.asset_tag.is_empty() {
        hw.serial.clone()
    } else {
        hw.asset_tag.clone()
    };
    let chassis = Instance::new(
        &uri("CIM_Chassis"),
        "CIM_Chassis",
        &["CreationClassName", "Tag"],
    )
    .with("CreationClassName", s("CIM_Chassis"))
    .with("Tag", s(tag))
    .with("ElementName", s("System Chassis"))
    .with("Manufacturer", s(&hw.vendor))
    .with("Model", s(&hw.model))
    .with("SerialNumber", s(&hw.serial))
    .with("PartNumber", s(&hw.part_number))
    .with("SKU", s(&hw.part_number))
    .with("Version", s("A00"))
    .with("PackageType", Value::Int(3))
    .with("ChassisPackageType", Value::Int(23))
    .with("CanBeFRUed", Value::Bool(true))
    .with("HealthState", Value::Int(5))
    .with("OperationalStatus", ints(&[2]));
    assocs.push(Assoc {
        ns: Ns::Cimv2,
        class: "CIM_ComputerSystemPackage",
        left: ("Antecedent", epr(&chassis, Ns::Cimv2)),
        right: ("Dependent", cs_ref.clone()),
        props: vec![("PlatformGUID".into(), s(platform_guid(c)))],
    });

    // Software Inventory.
    let mut software = Vec::new();
    for (id, name, version, class) in [
        ("SoftwareIdentity:BIOS", "BIOS", &hw.bios_version, 11),
        ("SoftwareIdentity:BMC", "BMC Firmware", &hw.bmc_firmware, 10),
    ] {
        let mut parts = version.split('.').map(|p| p.parse::<i64>().ok());
        let mut i = Instance::new(
            &uri("CIM_SoftwareIdentity"),
            "CIM_SoftwareIdentity",
            &["InstanceID"],
        )
        .with("InstanceID", s(id))
        .with("ElementName", s(name))
        .with("VersionString", s(version.as_str()))
        .with("Manufacturer", s(&hw.vendor))
        .with("Classifications", ints(&[class]))
        .with("IsEntity", Value::Bool(true));
        for n in ["MajorVersion", "MinorVersion", "RevisionNumber"] {
            if let Some(Some(v)) = parts.next() {
                i = i.with(n, Value::Int(v));
            }
        }
        assocs.push(Assoc {
            ns: Ns::Cimv2,
            class: "CIM_ElementSoftwareIdentity",
            left: ("Antecedent", epr(&i, Ns::Cimv2)),
            right: ("Dependent", cs_ref.clone()),
            props: vec![("ElementSoftwareStatus".into(), ints(&[2, 6]))],
        });
        software.push(i);
    }

    // CPU and System Memory.
    let mut devices = Vec::new();
    for n in 1..=inv.cpus {
        devices.push(ok(dev("CIM_Processor", format!("CPU{n}"))
            .with("ElementName", s(format!("CPU {n}")))
            .with("Family", Value::Int(179))
            .with("MaxClockSpeed", Value::Int(i64::from(inv.cpu_mhz)))
            .with(
                "CurrentClockSpeed",
                Value::Int(if c.power.power_on() {
                    i64::from(inv.cpu_mhz)
                } else {
                    0
                }),
            )
            .with("ExternalBusClockSpeed", Value::Int(100))
            .with(
                "NumberOfEnabledCores",
                Value::Int(i64::from(inv.cores_per_cpu)),
            )
            .with("CPUStatus", Value::Int(1))));
    }
    devices.push(ok(dev("CIM_Memory", "Memory:System".into())
        .with("ElementName", s("System Memory"))
        .with("BlockSize", Value::Int(1 << 20))
        .with(
            "NumberOfBlocks",
            Value::Int(i64::try_from(inv.memory_mib).unwrap_or(i64::MAX)),
        )
        .with(
            "ConsumableBlocks",
            Value::Int(i64::try_from(inv.memory_mib).unwrap_or(i64::MAX)),
        )
        .with("Volatile", Value::Bool(true))
        .with("Access", Value::Int(3))));

    // Sensors.
    for (n, sensor) in c.sensors.iter().enumerate() {
        let m = unit_modifier(sensor);
        let r = sensor.reading(c.power.power_on());
        let (ty, units) = sensor_type(sensor.kind);
        let (state, health) = sensor_state(sensor, r);
        let th = |v: Option<f64>| v.map_or(Value::Null, |v| Value::Int(scaled(v, m)));
        let mut supported = Vec::new();
        for (i, t) in [
            sensor.lower_non_critical,
            sensor.upper_non_critical,
            sensor.lower_critical,
            sensor.upper_critical,
        ]
        .iter()
        .enumerate()
        {
            if t.is_some() {
                supported.push(i as i64);
            }
        }
        devices.push(
            dev("CIM_NumericSensor", format!("Sensor.{}", n + 1))
                .with("ElementName", s(&sensor.name))
                .with("SensorType", Value::Int(ty))
                .with("BaseUnits", Value::Int(units))
                .with("UnitModifier", Value::Int(i64::from(m)))
                .with("RateUnits", Value::Int(0))
                .with("CurrentReading", Value::Int(scaled(r, m)))
                .with("CurrentState", s(state))
                .with(
                    "PossibleStates",
                    Value::Array(
                        [
                            "Normal",
                            "Upper Non-Critical",
                            "Upper Critical",
                            "Lower Non-Critical",
                            "Lower Critical",
                        ]
                        .iter()
                        .map(|x| s(*x))
                        .collect(),
                    ),
                )
                .with("LowerThresholdNonCritical", th(sensor.lower_non_critical))
                .with("UpperThresholdNonCritical", th(sensor.upper_non_critical))
                .with("LowerThresholdCritical", th(sensor.lower_critical))
                .with("UpperThresholdCritical", th(sensor.upper_critical))
                .with("SupportedThresholds", ints(&supported))
                .with("EnabledState", Value::Int(2))
                .with("HealthState", Value::Int(health))
                .with(
                    "OperationalStatus",
                    ints(&[if health == 5 { 2 } else { 3 }]),
                ),
        );
    }
    for d in &devices {
        assocs.push(Assoc {
            ns: Ns::Cimv2,
            class: "CIM_SystemDevice",
            left: ("GroupComponent", cs_ref.clone()),
            right: ("PartComponent", epr(d, Ns::Cimv2)),
            props: Vec::new(),
        });
    }

    // Power State Management.
    let pms = ok(svc("CIM_PowerManagementService", "PowerManagementService")
        .with("ElementName", s("Power Management Service")));
    let pmc = Instance::new(
        &uri("CIM_PowerManagementCapabilities"),
        "CIM_PowerManagementCapabilities",
        &["InstanceID"],
    )
    .with("InstanceID", s("PowerManagementCapabilities:1"))
    .with("ElementName", s("Power Management Capabilities"))
    .with("PowerChangeCapabilities", ints(&[3, 4, 8]))
    .with("PowerStatesSupported", ints(POWER_STATES_SUPPORTED))
    .with(
        "RequestedPowerStatesSupported",
        ints(POWER_STATES_SUPPORTED),
    );
    assocs.push(Assoc {
        ns: Ns::Cimv2,
        class: "CIM_AssociatedPowerManagementService",
        left: ("ServiceProvided", epr(&pms, Ns::Cimv2)),
        right: ("UserOfService", cs_ref.clone()),
        props: vec![
            ("PowerState".into(), Value::Int(power_state(c.power))),
            (
                "RequestedPowerState".into(),
                Value::Int(requested_power_state(c.last_power_event)),
            ),
            (
                "AvailableRequestedPowerStates".into(),
                ints(&available_power_states(c.power)),
            ),
        ],
    });
    assocs.push(Assoc {
        ns: Ns::Cimv2,
        class: "CIM_ElementCapabilities",
        left: ("ManagedElement", epr(&pms, Ns::Cimv2)),
        right: ("Capabilities", epr(&pmc, Ns::Cimv2)),
        props: Vec::new(),
    });

    // Boot Control.
    let boot_svc = ok(svc("CIM_BootService", "BootService").with("ElementName", s("Boot Service")));
    let bcs = Instance::new(
        &uri("CIM_BootConfigSetting"),
        "CIM_BootConfigSetting",
        &["InstanceID"],
    )
    .with("InstanceID", s("BootConfigSetting:1"))
    .with("ElementName", s("Boot Configuration"));
    let bcs_ref = epr(&bcs, Ns::Cimv2);
    let order = boot_order(c.boot);
    let mut sources = Vec::new();
    for (k, (structured, name, device)) in BOOT_SOURCES.iter().enumerate() {
        let src = Instance::new(
            &uri("CIM_BootSourceSetting"),
            "CIM_BootSourceSetting",
            &["InstanceID"],
        )
        .with("InstanceID", s(format!("BootSourceSetting:{structured}")))
        .with("ElementName", s(*name))
        .with("StructuredBootString", s(*structured))
        .with("BootString", s(device.label()))
        .with("FailThroughSupported", Value::Int(1));
        let seq = order
            .iter()
            .position(|&i| i == k)
            .map_or(0, |p| p as i64 + 1);
        assocs.push(Assoc {
            ns: Ns::Cimv2,
            class: "CIM_OrderedComponent",
            left: ("GroupComponent", bcs_ref.clone()),
            right: ("PartComponent", epr(&src, Ns::Cimv2)),
            props: vec![("AssignedSequence".into(), Value::Int(seq))],
        });
        sources.push(src);
    }
    assocs.push(Assoc {
        ns: Ns::Cimv2,
        class: "CIM_ElementSettingData",
        left: ("ManagedElement", cs_ref.clone()),
        right: ("SettingData", bcs_ref.clone()),
        props: vec![
            ("IsDefault".into(), Value::Int(1)),
            ("IsCurrent".into(), Value::Int(1)),
            ("IsNext".into(), Value::Int(is_next(c.boot))),
        ],
    });
    for service in [&pms, &boot_svc] {
        assocs.push(Assoc {
            ns: Ns::Cimv2,
            class: "CIM_HostedService",
            left: ("Antecedent", cs_ref.clone()),
            right: ("Dependent", epr(service, Ns::Cimv2)),
            props: Vec::new(),
        });
    }

    // Record Log.
    let log_id = "RecordLog:SEL";
    let log = ok(
        Instance::new(&uri("CIM_RecordLog"), "CIM_RecordLog", &["InstanceID"])
            .with("InstanceID", s(log_id))
            .with("ElementName", s("System Event Log"))
            .with(
                "MaxNumberOfRecords",
                Value::Int(i64::try_from(c.log.capacity()).unwrap_or(i64::MAX)),
            )
            .with(
                "CurrentNumberOfRecords",
                Value::Int(i64::try_from(c.log.entries().len()).unwrap_or(i64::MAX)),
            )
            .with("OverwritePolicy", Value::Int(2))
            .with("LogState", Value::Int(2)),
    );
    let log_ref = epr(&log, Ns::Cimv2);
    assocs.push(Assoc {
        ns: Ns::Cimv2,
        class: "CIM_UseOfLog",
        left: ("Antecedent", log_ref.clone()),
        right: ("Dependent", cs_ref.clone()),
        props: Vec::new(),
    });
    let mut entries = Vec::new();
    for e in c.log.entries() {
        let (text, severity) = event_text(&e.kind);
        let i = Instance::new(&uri("CIM_LogEntry"), "CIM_LogEntry", &["InstanceID"])
            .with("InstanceID", s(format!("LogEntry:SEL:{}", e.id)))
            .with("LogInstanceID", s(log_id))
            .with("LogName", s("System Event Log"))
            .with("RecordID", s(e.id.to_string()))
            .with(
                "CreationTimeStamp",
                Value::Datetime(xs_datetime(e.timestamp)),
            )
            .with("ElementName", s(text.clone()))
            .with("Message", s(text))
            .with("PerceivedSeverity", Value::Int(severity));
        assocs.push(Assoc {
            ns: Ns::Cimv2,
            class: "CIM_LogManagesRecord",
            left: ("Log", log_ref.clone()),
            right: ("Record", epr(&i, Ns::Cimv2)),
            props: Vec::new(),
        });
        entries.push(i);
    }

    // Profile Registration: every profile, its central instances, and the
    // component profiles Base Server references.
    let mut central: Vec<(&str, Vec<EndpointRef>)> = vec![
        ("DSP1004", vec![cs_ref.clone()]),
        ("DSP1027", vec![epr(&pms, Ns::Cimv2)]),
        ("DSP1012", vec![epr(&boot_svc, Ns::Cimv2)]),
        ("DSP1011", vec![epr(&chassis, Ns::Cimv2)]),
        (
            "DSP1023",
            software.iter().map(|i| epr(i, Ns::Cimv2)).collect(),
        ),
        ("DSP1010", vec![log_ref.clone()]),
    ];
    for (dsp, class) in [
        ("DSP1022", "CIM_Processor"),
        ("DSP1026", "CIM_Memory"),
        ("DSP1009", "CIM_NumericSensor"),
    ] {
        let members = devices
            .iter()
            .filter(|d| d.class == class)
            .map(|d| epr(d, Ns::Cimv2))
            .collect();
        central.push((dsp, members));
    }
    let mut profiles = Vec::new();
    for (dsp, name, version) in PROFILES {
        profiles.push((
            *dsp,
            Instance::new(
                &uri("CIM_RegisteredProfile"),
                "CIM_RegisteredProfile",
                &["InstanceID"],
            )
            .with("InstanceID", s(format!("DMTF:{dsp}:{name}:{version}")))
            .with("RegisteredOrganization", Value::Int(2))
            .with("RegisteredName", s(*name))
            .with("RegisteredVersion", s(*version))
            .with("AdvertiseTypes", ints(&[2]))
            .with("ElementName", s(*name)),
        ));
    }
    let profile_ref = |dsp: &str| {
        profiles
            .iter()
            .find(|(d, _)| *d == dsp)
            .map(|(_, i)| epr(i, Ns::Interop))
    };
    for (dsp, refs) in &central {
        let Some(p) = profile_ref(dsp) else { continue };
        for r in refs {
            assocs.push(Assoc {
                ns: Ns::Interop,
                class: "CIM_ElementConformsToProfile",
                left: ("ConformantStandard", p.clone()),
                right: ("ManagedElement", r.clone()),
                props: Vec::new(),
            });
        }
    }
    if let Some(base) = profile_ref("DSP1004") {
        for (dsp, _, _) in PROFILES {
            if *dsp == "DSP1004" || *dsp == "DSP1033" {
                continue;
            }
            if let Some(p) = profile_ref(dsp) {
                assocs.push(Assoc {
                    ns: Ns::Interop,
                    class: "CIM_ReferencedProfile",
                    left: ("Antecedent", p),
                    right: ("Dependent", base.clone()),
                    props: Vec::new(),
                });
            }
        }
    }

    items.extend(profiles.into_iter().map(|(_, i)| (Ns::Interop, i)));
    items.push((Ns::Cimv2, cs));
    items.push((Ns::Cimv2, chassis));
    items.extend(software.into_iter().map(|i| (Ns::Cimv2, i)));
    items.extend(devices.into_iter().map(|i| (Ns::Cimv2, i)));
    items.push((Ns::Cimv2, pms));
    items.push((Ns::Cimv2, pmc));
    items.push((Ns::Cimv2, boot_svc));
    items.push((Ns::Cimv2, bcs));
    items.extend(sources.into_iter().map(|i| (Ns::Cimv2, i)));
    items.push((Ns::Cimv2, log));
    items.extend(entries.into_iter().map(|i| (Ns::Cimv2, i)));
    Built { items, assocs }
}

/// Changing power, boot or the log needs operator or admin; a `user`
/// account reads only (as its IPMI privilege says).
fn require_operator(ctx: &Ctx<'_>, what: &str) -> Result<(), Fault> {
    if ctx.privilege >= Privilege::Operator {
        Ok(())
    } else {
        Err(Fault::access_denied().with_message(format!(
            "Access is denied: user '{}' has {:?} privilege; {what} needs Operator or Administrator.",
            ctx.user, ctx.privilege
        )))
    }
}

/// Method parameters named `name` holding endpoint references.
fn ref_params(input: &Element, name: &str) -> Vec<Option<EndpointRef>> {
    input
        .children
        .iter()
        .filter(|c| c.name.eq_ignore_ascii_case(name))
        .map(EndpointRef::from_element)
        .collect()
}

fn ret(v: i64) -> MethodOutput {
    MethodOutput {
        params: Vec::new(),
        return_value: v,
    }
}

impl SmashProvider {
    fn request_power_state_change(
        &self,
        ctx: &Ctx<'_>,
        built: &Built,
        input: &Element,
    ) -> Result<MethodOutput, Fault> {
        require_operator(ctx, "RequestPowerStateChange")?;
        let Some(state) = param(input, "PowerState").and_then(|v| v.parse::<i64>().ok()) else {
            return Ok(ret(rc::INVALID_PARAMETER));
        };
        // The managed element, when given, must be this BMC's system.
        if let Some(r) = ref_params(input, "ManagedElement").into_iter().next() {
            let ok = r
                .as_ref()
                .and_then(|r| built.resolve(r))
                .is_some_and(|i| i.class == "CIM_ComputerSystem");
            if !ok {
                return Ok(ret(rc::INVALID_PARAMETER));
            }
        }
        let Some(action) = power_action_for(state) else {
            // 3, 4, 7 (sleep, hibernate) and 17 (INIT) are DSP1027 values
            // the model cannot perform; anything else is not a PowerState.
            return Ok(ret(if (1..=17).contains(&state) && state != 1 {
                rc::NOT_SUPPORTED
            } else {
                rc::INVALID_PARAMETER
            }));
        };
        ctx.model.power_action(ctx.machine, action, ctx.now);
        Ok(ret(rc::OK))
    }

    fn request_state_change(&self, ctx: &Ctx<'_>, input: &Element) -> Result<MethodOutput, Fault> {
        require_operator(ctx, "RequestStateChange")?;
        let Some(state) = param(input, "RequestedState").and_then(|v| v.parse::<i64>().ok()) else {
            return Ok(ret(rc::INVALID_PARAMETER));
        };
        let action = match state {
            2 => PowerAction::On,
            3 => PowerAction::Off,
            4 => PowerAction::Soft,
            5 => return Ok(ret(rc::OK)),
            10 => PowerAction::Cycle,
            11 => PowerAction::Reset,
            6..=9 => return Ok(ret(rc::NOT_SUPPORTED)),
            _ => return Ok(ret(rc::INVALID_PARAMETER)),
        };
        ctx.model.power_action(ctx.machine, action, ctx.now);
        Ok(ret(rc::OK))
    }

    fn change_boot_order(
        &self,
        ctx: &Ctx<'_>,
        built: &Built,
        input: &Element,
    ) -> Result<MethodOutput, Fault> {
        require_operator(ctx, "ChangeBootOrder")?;
        let mut devices = Vec::new();
        for r in ref_params(input, "Source") {
            let Some(src) = r.as_ref().and_then(|r| built.resolve(r)) else {
                return Ok(ret(rc::INVALID_REFERENCE));
            };
            let structured = src.get("StructuredBootString").and_then(Value::text);
            let Some(d) = BOOT_SOURCES
                .iter()
                .find(|s| Some(s.0) == structured.as_deref())
                .map(|s| s.2)
            else {
                return Ok(ret(rc::INVALID_REFERENCE));
            };
            devices.push(d);
        }
        let device = devices.first().copied().unwrap_or(BootDevice::None);
        let chassis = ctx.model.machine(ctx.machine).chassis;
        ctx.model.with_chassis(chassis, ctx.now, |c| {
            let b = c.boot;
            c.set_boot(BootOverride { device, ..b });
        });
        Ok(ret(rc::OK))
    }

    fn set_boot_config_role(
        &self,
        ctx: &Ctx<'_>,
        built: &Built,
        input: &Element,
    ) -> Result<MethodOutput, Fault> {
        require_operator(ctx, "SetBootConfigRole")?;
        let cfg = ref_params(input, "BootConfigSetting").into_iter().next();
        let ok = cfg
            .flatten()
            .as_ref()
            .and_then(|r| built.resolve(r))
            .is_some_and(|i| i.class == "CIM_BootConfigSetting");
        if !ok {
            return Ok(ret(rc::INVALID_REFERENCE));
        }
        let persistent = match param(input, "Role").and_then(|v| v.parse::<i64>().ok()) {
            Some(0) => true,
            Some(1) => false,
            _ => return Ok(ret(rc::INVALID_PARAMETER)),
        };
        let chassis = ctx.model.machine(ctx.machine).chassis;
        ctx.model.with_chassis(chassis, ctx.now, |c| {
            let b = c.boot;
            c.set_boot(BootOverride { persistent, ..b });
        });
        Ok(ret(rc::OK))
    }

    fn clear_log(&self, ctx: &Ctx<'_>) -> Result<MethodOutput, Fault> {
        require_operator(ctx, "ClearLog")?;
        let chassis = ctx.model.machine(ctx.machine).chassis;
        ctx.model.with_chassis(chassis, ctx.now, |c| {
            c.log.clear();
            c.log.push(EventKind::LogCleared);
        });
        Ok(ret(rc::OK))
    }
}

impl ResourceProvider for SmashProvider {
    fn uri_prefix(&self) -> &str {
        PREFIX
    }

    fn cim_namespace(&self) -> &str {
        self.ns.name()
    }

    fn is_a(&self, class: &str, filter: &str) -> bool {
        is_a(class, filter)
    }

    fn classes(&self) -> &[&'static str] {
        match self.ns {
            Ns::Interop => INTEROP_CLASSES,
            Ns::Cimv2 => CIMV2_CLASSES,
        }
    }

    fn instances(&self, ctx: &Ctx<'_>, class: &str) -> Result<Vec<Instance>, Fault> {
        if !self.classes().iter().any(|c| c.eq_ignore_ascii_case(class)) {
            return Err(Fault::invalid_resource_uri(&uri(class)));
        }
        let b = self.build(ctx);
        let mut out: Vec<Instance> = b
            .items
            .iter()
            .filter(|(ns, i)| *ns == self.ns && i.class.eq_ignore_ascii_case(class))
            .map(|(_, i)| i.clone())
            .collect();
        out.extend(
            b.assocs
                .iter()
                .filter(|a| a.ns == self.ns && a.class.eq_ignore_ascii_case(class))
                .map(Assoc::instance),
        );
        Ok(out)
    }

    fn invoke(
        &self,
        ctx: &Ctx<'_>,
        class: &str,
        method: &str,
        _target: Option<&Instance>,
        input: &Element,
    ) -> Result<MethodOutput, Fault> {
        let b = self.build(ctx);
        match (class, method) {
            ("CIM_PowerManagementService", "RequestPowerStateChange") => {
                self.request_power_state_change(ctx, &b, input)
            }
            ("CIM_ComputerSystem", "RequestStateChange") => self.request_state_change(ctx, input),
            ("CIM_BootConfigSetting", "ChangeBootOrder") => self.change_boot_order(ctx, &b, input),
            ("CIM_BootService", "SetBootConfigRole") => self.set_boot_config_role(ctx, &b, input),
            ("CIM_RecordLog", "ClearLog") => self.clear_log(ctx),
            _ => Err(
                Fault::action_not_supported(&format!("{PREFIX}{class}/{method}")).with_message(
                    format!("The method {method} is not supported by class {class} on this BMC."),
                ),
            ),
        }
    }

    fn associations(&self, ctx: &Ctx<'_>) -> Vec<Association> {
        let b = self.build(ctx);
        b.assocs
            .iter()
            .filter(|a| a.ns == self.ns)
            .map(|a| Association {
                class: a.class.to_string(),
                resource_uri: uri(a.class),
                left: (a.left.0.to_string(), a.left.1.clone()),
                right: (a.right.0.to_string(), a.right.1.clone()),
            })
            .collect()
    }
}

#[cfg(test)]
fn find_in(b: &Built, class: &str) -> Option<Instance> {
    b.items
        .iter()
        .map(|(_, i)| i)
        .find(|i| i.class == class)
        .cloned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use fakedc_model::{Hardware, Timing};

    fn chassis(power_on: bool) -> Chassis {
        Chassis::new(
            Hardware {
                vendor: "Contoso".into(),
                model: "R1".into(),
                serial: "S1".into(),
                smbios_guid: [
                    0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc,
                    0xdd, 0xee, 0xff,
                ],
                asset_tag: String::new(),
                part_number: "P1".into(),
                bios_version: "2.19.1".into(),
                bmc_firmware: "7.10.30".into(),
            },
            Timing::default(),
            power_on,
        )
    }

    #[test]
    fn platform_guid_is_rfc4122_order_without_dashes() {
        assert_eq!(
            platform_guid(&chassis(true)),
            "00112233445566778899AABBCCDDEEFF"
        );
    }

    #[test]
    fn power_state_map_covers_every_supported_value() {
        for s in POWER_STATES_SUPPORTED {
            assert!(power_action_for(*s).is_some(), "{s}");
        }
        for s in [0, 1, 3, 4, 7, 17, 18, -1] {
            assert!(power_action_for(s).is_none(), "{s}");
        }
        assert_eq!(power_action_for(8), Some(PowerAction::Soft));
        assert_eq!(power_action_for(6), Some(PowerAction::Off));
        assert_eq!(power_action_for(11), Some(PowerAction::Nmi));
    }

    #[test]
    fn boot_order_follows_the_override() {
        let pxe = BootOverride {
            device: BootDevice::Pxe,
            persistent: false,
            efi: false,
        };
        assert_eq!(boot_order(pxe), vec![2, 0, 1]);
        assert_eq!(is_next(pxe), 3);
        assert_eq!(boot_order(BootOverride::default()), vec![0, 1, 2]);
        assert_eq!(is_next(BootOverride::default()), 1);
        let bios = BootOverride {
            device: BootDevice::Bios,
            persistent: true,
            efi: false,
        };
        assert_eq!(boot_order(bios), vec![0, 1, 2]);
        assert_eq!(is_next(bios), 1);
    }

    #[test]
    fn build_has_every_class_and_consistent_references() {
        let mut c = chassis(true);
        c.power_action(PowerAction::Cycle, fakedc_model::Clock::new().now());
        let b = build("hv01", &c);
        for class in CIMV2_CLASSES.iter().chain(INTEROP_CLASSES) {
            let direct = b.items.iter().any(|(_, i)| i.class == *class);
            let assoc = b.assocs.iter().any(|a| a.class == *class);
            assert!(direct || assoc, "{class} has no instance");
        }
        // Every association end resolves to an instance.
        for a in &b.assocs {
            for end in [&a.left.1, &a.right.1] {
                assert!(b.resolve(end).is_some(), "{} {end:?}", a.class);
            }
        }
        let cs = find_in(&b, "CIM_ComputerSystem").unwrap();
        assert_eq!(cs.get("EnabledState"), Some(&Value::Int(10)));
        assert_eq!(cs.get("RequestedState"), Some(&Value::Int(10)));
        let entries = b
            .items
            .iter()
            .filter(|(_, i)| i.class == "CIM_LogEntry")
            .count();
        assert_eq!(entries, c.log.entries().len());
        let profiles = b
            .items
            .iter()
            .filter(|(ns, i)| *ns == Ns::Interop && i.class == "CIM_RegisteredProfile")
            .count();
        assert_eq!(profiles, PROFILES.len());
    }

    #[test]
    fn sensor_scaling_and_state() {
        let s = Sensor::default_set();
        let v = s.iter().find(|x| x.name == "12V").unwrap();
        assert_eq!(unit_modifier(v), -2);
        assert_eq!(scaled(v.on_value, -2), 1210);
        let t = s.iter().find(|x| x.name == "Inlet Temp").unwrap();
        assert_eq!(unit_modifier(t), 0);
        assert_eq!(sensor_state(t, 50.0), ("Upper Critical", 25));
        assert_eq!(sensor_state(t, 43.0), ("Upper Non-Critical", 15));
        assert_eq!(sensor_state(t, 20.0), ("Normal", 5));
        assert_eq!(scaled(f64::NAN, 0), 0);
    }
}
