//! The CIM classes an array's SMI-S provider serves, over one array of
//! the shared storage model: the schema (one table drives property types,
//! keys, GetClass and the class hierarchy used by DeepInheritance and
//! association filters), the instances of root/interop (Profile
//! Registration: object manager, namespaces, registered profiles) and of
//! the implementation namespace (Array, Block Services, Masking and
//! Mapping, Job Control), and the association instances between them.
//!
//! Instances are built from the locked array on every request, never
//! cached, so there is no copy of the storage state to go stale (the same
//! rule SMASH follows for the chassis).

use crate::cimxml::{write_instance_name, write_property, Key, ObjectPath, Val};
use fakedc_model::storage::{Array, JobState};
use fakedc_xml::escape_attr;
use std::fmt::Write as _;
use std::time::Instant;

/// The interop namespace (SMI-S Profile Registration).
pub const INTEROP: &str = "root/interop";
/// The implementation namespace of the array's objects.
pub const IMPL: &str = "root/cimv2";

const I: u8 = 1;
const M: u8 = 2;
const B: u8 = 3;

/// One class of the schema: name, superclass, namespaces it lives in,
/// key properties, and every property with its CIM type (`[]` marks an
/// array).
#[derive(Debug)]
pub struct ClassDef {
    pub name: &'static str,
    pub parent: Option<&'static str>,
    ns: u8,
    pub keys: &'static [&'static str],
    pub props: &'static [(&'static str, &'static str)],
    /// Association class (its reference properties are its two ends).
    pub assoc: bool,
}

const fn abs(name: &'static str, parent: Option<&'static str>, assoc: bool) -> ClassDef {
    ClassDef {
        name,
        parent,
        ns: B,
        keys: &[],
        props: &[],
        assoc,
    }
}

const SYS_KEYS: &[&str] = &[
    "SystemCreationClassName",
    "SystemName",
    "CreationClassName",
    "DeviceID",
];
const SVC_KEYS: &[&str] = &[
    "SystemCreationClassName",
    "SystemName",
    "CreationClassName",
    "Name",
];

const fn assoc(
    name: &'static str,
    parent: Option<&'static str>,
    ns: u8,
    props: &'static [(&'static str, &'static str)],
    keys: &'static [&'static str],
) -> ClassDef {
    ClassDef {
        name,
        parent,
        ns,
        keys,
        props,
        assoc: true,
    }
}

/// The schema served (CIM 2.x names, SMI-S 1.6 usage).
pub static CLASSES: &[ClassDef] = &[
    abs("CIM_ManagedElement", None, false),
    abs(
        "CIM_ManagedSystemElement",
        Some("CIM_ManagedElement"),
        false,
    ),
    abs(
        "CIM_LogicalElement",
        Some("CIM_ManagedSystemElement"),
        false,
    ),
    abs(
        "CIM_EnabledLogicalElement",
        Some("CIM_LogicalElement"),
        false,
    ),
    abs("CIM_System", Some("CIM_EnabledLogicalElement"), false),
    abs(
        "CIM_LogicalDevice",
        Some("CIM_EnabledLogicalElement"),
        false,
    ),
    abs("CIM_StorageExtent", Some("CIM_LogicalDevice"), false),
    abs("CIM_ResourcePool", Some("CIM_LogicalElement"), false),
    abs("CIM_Service", Some("CIM_EnabledLogicalElement"), false),
    abs("CIM_WBEMService", Some("CIM_Service"), false),
    abs(
        "CIM_ServiceAccessPoint",
        Some("CIM_EnabledLogicalElement"),
        false,
    ),
    abs(
        "CIM_ProtocolEndpoint",
        Some("CIM_ServiceAccessPoint"),
        false,
    ),
    abs("CIM_ProtocolController", Some("CIM_LogicalDevice"), false),
    abs("CIM_Identity", Some("CIM_ManagedElement"), false),
    abs("CIM_Job", Some("CIM_LogicalElement"), false),
    abs("CIM_Dependency", None, true),
    abs("CIM_Component", None, true),
    abs("CIM_SystemComponent", Some("CIM_Component"), true),
    abs("CIM_HostedDependency", Some("CIM_Dependency"), true),
    abs(
        "CIM_ProtocolControllerForDevice",
        Some("CIM_Dependency"),
        true,
    ),
    ClassDef {
        name: "CIM_ComputerSystem",
        parent: Some("CIM_System"),
        ns: M,
        keys: &["CreationClassName", "Name"],
        props: &[
            ("CreationClassName", "string"),
            ("Name", "string"),
            ("ElementName", "string"),
            ("Caption", "string"),
            ("NameFormat", "string"),
            ("OperationalStatus", "uint16[]"),
            ("HealthState", "uint16"),
            ("EnabledState", "uint16"),
            ("Dedicated", "uint16[]"),
            ("OtherIdentifyingInfo", "string[]"),
            ("IdentifyingDescriptions", "string[]"),
        ],
        assoc: false,
    },
    ClassDef {
        name: "CIM_StoragePool",
        parent: Some("CIM_ResourcePool"),
        ns: M,
        keys: &["InstanceID"],
        props: &[
            ("InstanceID", "string"),
            ("PoolID", "string"),
            ("ElementName", "string"),
            ("Primordial", "boolean"),
            ("TotalManagedSpace", "uint64"),
            ("RemainingManagedSpace", "uint64"),
            ("OperationalStatus", "uint16[]"),
            ("HealthState", "uint16"),
        ],
        assoc: false,
    },
    ClassDef {
        name: "CIM_StorageVolume",
        parent: Some("CIM_StorageExtent"),
        ns: M,
        keys: SYS_KEYS,
        props: &[
            ("SystemCreationClassName", "string"),
            ("SystemName", "string"),
            ("CreationClassName", "string"),
            ("DeviceID", "string"),
            ("ElementName", "string"),
            ("Name", "string"),
            ("NameFormat", "uint16"),
            ("NameNamespace", "uint16"),
            ("BlockSize", "uint64"),
            ("NumberOfBlocks", "uint64"),
            ("ConsumableBlocks", "uint64"),
            ("Primordial", "boolean"),
            ("OperationalStatus", "uint16[]"),
            ("HealthState", "uint16"),
            ("EnabledState", "uint16"),
        ],
        assoc: false,
    },
    ClassDef {
        name: "CIM_iSCSIProtocolEndpoint",
        parent: Some("CIM_ProtocolEndpoint"),
        ns: M,
        keys: SVC_KEYS,
        props: &[
            ("SystemCreationClassName", "string"),
            ("SystemName", "string"),
            ("CreationClassName", "string"),
            ("Name", "string"),
            ("ElementName", "string"),
            ("Identifier", "string"),
            ("Role", "uint16"),
            ("ProtocolIFType", "uint16"),
            ("EnabledState", "uint16"),
            ("OperationalStatus", "uint16[]"),
        ],
        assoc: false,
    },
    ClassDef {
        name: "CIM_StorageHardwareID",
        parent: Some("CIM_Identity"),
        ns: M,
        keys: &["InstanceID"],
        props: &[
            ("InstanceID", "string"),
            ("ElementName", "string"),
            ("StorageID", "string"),
            ("IDType", "uint16"),
        ],
        assoc: false,
    },
    ClassDef {
        name: "CIM_SCSIProtocolController",
        parent: Some("CIM_ProtocolController"),
        ns: M,
        keys: SYS_KEYS,
        props: &[
            ("SystemCreationClassName", "string"),
            ("SystemName", "string"),
            ("CreationClassName", "string"),
            ("DeviceID", "string"),
            ("ElementName", "string"),
            ("Name", "string"),
        ],
        assoc: false,
    },
    ClassDef {
        name: "CIM_StorageConfigurationService",
        parent: Some("CIM_Service"),
        ns: M,
        keys: SVC_KEYS,
        props: &[
            ("SystemCreationClassName", "string"),
            ("SystemName", "string"),
            ("CreationClassName", "string"),
            ("Name", "string"),
            ("ElementName", "string"),
            ("EnabledState", "uint16"),
        ],
        assoc: false,
    },
    ClassDef {
        name: "CIM_ControllerConfigurationService",
        parent: Some("CIM_Service"),
        ns: M,
        keys: SVC_KEYS,
        props: &[
            ("SystemCreationClassName", "string"),
            ("SystemName", "string"),
            ("CreationClassName", "string"),
            ("Name", "string"),
            ("ElementName", "string"),
            ("EnabledState", "uint16"),
        ],
        assoc: false,
    },
    ClassDef {
        name: "CIM_ConcreteJob",
        parent: Some("CIM_Job"),
        ns: M,
        keys: &["InstanceID"],
        props: &[
            ("InstanceID", "string"),
            ("Name", "string"),
            ("ElementName", "string"),
            ("JobState", "uint16"),
            ("PercentComplete", "uint16"),
            ("OperationalStatus", "uint16[]"),
            ("JobStatus", "string"),
            ("ErrorCode", "uint16"),
            ("ErrorDescription", "string"),
            ("DeleteOnCompletion", "boolean"),
        ],
        assoc: false,
    },
    ClassDef {
        name: "CIM_ObjectManager",
        parent: Some("CIM_WBEMService"),
        ns: I,
        keys: SVC_KEYS,
        props: &[
            ("SystemCreationClassName", "string"),
            ("SystemName", "string"),
            ("CreationClassName", "string"),
            ("Name", "string"),
            ("ElementName", "string"),
            ("Description", "string"),
        ],
        assoc: false,
    },
    ClassDef {
        name: "CIM_ObjectManagerCommunicationMechanism",
        parent: Some("CIM_ServiceAccessPoint"),
        ns: I,
        keys: SVC_KEYS,
        props: &[
            ("SystemCreationClassName", "string"),
            ("SystemName", "string"),
            ("CreationClassName", "string"),
            ("Name", "string"),
            ("CommunicationMechanism", "uint16"),
            ("Version", "string"),
            ("FunctionalProfilesSupported", "uint16[]"),
        ],
        assoc: false,
    },
    ClassDef {
        name: "CIM_Namespace",
        parent: Some("CIM_ManagedElement"),
        ns: I,
        keys: &[
            "SystemCreationClassName",
            "SystemName",
            "ObjectManagerCreationClassName",
            "ObjectManagerName",
            "CreationClassName",
            "Name",
        ],
        props: &[
            ("SystemCreationClassName", "string"),
            ("SystemName", "string"),
            ("ObjectManagerCreationClassName", "string"),
            ("ObjectManagerName", "string"),
            ("CreationClassName", "string"),
            ("Name", "string"),
            ("ClassInfo", "uint16"),
        ],
        assoc: false,
    },
    ClassDef {
        name: "CIM_RegisteredProfile",
        parent: Some("CIM_ManagedElement"),
        ns: I,
        keys: &["InstanceID"],
        props: &[
            ("InstanceID", "string"),
            ("RegisteredOrganization", "uint16"),
            ("RegisteredName", "string"),
            ("RegisteredVersion", "string"),
            ("AdvertiseTypes", "uint16[]"),
        ],
        assoc: false,
    },
    assoc(
        "CIM_HostedStoragePool",
        Some("CIM_SystemComponent"),
        M,
        &[
            ("GroupComponent", "reference"),
            ("PartComponent", "reference"),
        ],
        &["GroupComponent", "PartComponent"],
    ),
    assoc(
        "CIM_SystemDevice",
        Some("CIM_SystemComponent"),
        M,
        &[
            ("GroupComponent", "reference"),
            ("PartComponent", "reference"),
        ],
        &["GroupComponent", "PartComponent"],
    ),
    assoc(
        "CIM_AllocatedFromStoragePool",
        Some("CIM_Dependency"),
        M,
        &[
            ("Antecedent", "reference"),
            ("Dependent", "reference"),
            ("SpaceConsumed", "uint64"),
        ],
        &["Antecedent", "Dependent"],
    ),
    assoc(
        "CIM_HostedService",
        Some("CIM_HostedDependency"),
        M,
        &[("Antecedent", "reference"), ("Dependent", "reference")],
        &["Antecedent", "Dependent"],
    ),
    assoc(
        "CIM_AffectedJobElement",
        None,
        M,
        &[
            ("AffectedElement", "reference"),
            ("AffectingElement", "reference"),
        ],
        &["AffectedElement", "AffectingElement"],
    ),
    assoc(
        "CIM_ProtocolControllerForUnit",
        Some("CIM_ProtocolControllerForDevice"),
        M,
        &[
            ("Antecedent", "reference"),
            ("Dependent", "reference"),
            ("DeviceNumber", "string"),
        ],
        &["Antecedent", "Dependent"],
    ),
    assoc(
        "CIM_ElementConformsToProfile",
        None,
        B,
        &[
            ("ConformantStandard", "reference"),
            ("ManagedElement", "reference"),
        ],
        &["ConformantStandard", "ManagedElement"],
    ),
    assoc(
        "CIM_ReferencedProfile",
        Some("CIM_Dependency"),
        I,
        &[("Antecedent", "reference"), ("Dependent", "reference")],
        &["Antecedent", "Dependent"],
    ),
    assoc(
        "CIM_NamespaceInManager",
        Some("CIM_HostedDependency"),
        I,
        &[("Antecedent", "reference"), ("Dependent", "reference")],
        &["Antecedent", "Dependent"],
    ),
];

/// The SNIA profiles registered (name, version); the first two are
/// autonomous, the rest are the Array profile's subprofiles.
pub const PROFILES: &[(&str, &str)] = &[
    ("Server", "1.6.1"),
    ("Array", "1.6.1"),
    ("Block Services", "1.6.1"),
    ("Masking and Mapping", "1.6.1"),
    ("Job Control", "1.5.0"),
    ("iSCSI Target Ports", "1.6.1"),
];

/// A class by name (CIM class names are case-insensitive).
pub fn class(name: &str) -> Option<&'static ClassDef> {
    CLASSES.iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

/// Whether a class lives in a namespace.
pub fn in_namespace(c: &ClassDef, ns: &str) -> bool {
    let bit = if ns.eq_ignore_ascii_case(INTEROP) {
        I
    } else {
        M
    };
    c.ns & bit != 0
}

/// Whether `class` is `ancestor` or derives from it.
pub fn is_a(class: &str, ancestor: &str) -> bool {
    let mut c = Some(class);
    let mut depth = 0;
    while let Some(name) = c {
        if name.eq_ignore_ascii_case(ancestor) {
            return true;
        }
        depth += 1;
        if depth > 16 {
            return false;
        }
        c = self::class(name).and_then(|d| d.parent);
    }
    false
}

/// The type of a property of a class, looked up the hierarchy.
fn prop_type(class: &str, prop: &str) -> &'static str {
    let mut c = self::class(class);
    while let Some(d) = c {
        if let Some((_, t)) = d.props.iter().find(|(n, _)| n.eq_ignore_ascii_case(prop)) {
            return t;
        }
        c = d.parent.and_then(self::class);
    }
    "string"
}

/// One instance.
#[derive(Debug, Clone)]
pub struct Inst {
    pub class: &'static ClassDef,
    pub ns: &'static str,
    pub props: Vec<(&'static str, Val)>,
}

impl Inst {
    fn new(class: &str, ns: &'static str) -> Inst {
        // Every class built here is in the schema; a missing one would be
        // a programming error caught by the tests that enumerate them all.
        let class = self::class(class).unwrap_or(&CLASSES[0]);
        Inst {
            class,
            ns,
            props: Vec::with_capacity(class.props.len()),
        }
    }

    fn s(mut self, n: &'static str, v: impl Into<String>) -> Inst {
        self.props.push((n, Val::Scalar(v.into())));
        self
    }

    fn u(mut self, n: &'static str, v: u64) -> Inst {
        self.props.push((n, Val::Scalar(v.to_string())));
        self
    }

    fn b(mut self, n: &'static str, v: bool) -> Inst {
        self.props
            .push((n, Val::Scalar(if v { "TRUE" } else { "FALSE" }.into())));
        self
    }

    fn a(mut self, n: &'static str, v: &[&str]) -> Inst {
        self.props
            .push((n, Val::Array(v.iter().map(|s| s.to_string()).collect())));
        self
    }

    fn r(mut self, n: &'static str, p: ObjectPath) -> Inst {
        self.props.push((n, Val::Ref(p)));
        self
    }

    fn null(mut self, n: &'static str) -> Inst {
        self.props.push((n, Val::Null));
        self
    }

    pub fn get(&self, n: &str) -> Option<&Val> {
        self.props
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v)
    }

    pub fn get_str(&self, n: &str) -> Option<&str> {
        match self.get(n)? {
            Val::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The instance's path (its key properties), in its namespace.
    pub fn path(&self) -> ObjectPath {
        let mut p = ObjectPath::new(self.ns, self.class.name);
        for k in self.class.keys {
            let key = match self.get(k) {
                Some(Val::Scalar(s)) => Key::Value(s.clone(), "string"),
                Some(Val::Ref(r)) => Key::Ref(Box::new(r.clone())),
                _ => Key::Value(String::new(), "string"),
            };
            p.keys.push((k.to_string(), key));
        }
        p
    }

    /// The two reference ends of an association instance.
    pub fn ends(&self) -> Vec<(&'static str, &ObjectPath)> {
        self.props
            .iter()
            .filter_map(|(n, v)| match v {
                Val::Ref(p) => Some((*n, p)),
                _ => None,
            })
            .collect()
    }

    /// INSTANCE, with only the properties of `list` when one is given.
    pub fn write(&self, out: &mut String, host: &str, list: Option<&[String]>) {
        let _ = write!(
            out,
            "<INSTANCE CLASSNAME=\"{}\">",
            escape_attr(self.class.name)
        );
        for (n, v) in &self.props {
            if list.is_some_and(|l| !l.iter().any(|x| x.eq_ignore_ascii_case(n))) {
                continue;
            }
            let ty = prop_type(self.class.name, n);
            write_property(out, n, ty.trim_end_matches("[]"), v, host);
        }
        out.push_str("</INSTANCE>");
    }

    pub fn write_name(&self, out: &mut String, host: &str) {
        write_instance_name(out, &self.path(), host);
    }
}

/// A CLASS declaration for GetClass.
pub fn write_class(out: &mut String, c: &ClassDef) {
    let _ = write!(out, "<CLASS NAME=\"{}\"", c.name);
    if let Some(p) = c.parent {
        let _ = write!(out, " SUPERCLASS=\"{p}\"");
    }
    out.push('>');
    if c.assoc {
        out.push_str(
            "<QUALIFIER NAME=\"Association\" TYPE=\"boolean\" OVERRIDABLE=\"false\"><VALUE>TRUE</VALUE></QUALIFIER>",
        );
    }
    for (n, t) in c.props {
        let key = if c.keys.contains(n) {
            "<QUALIFIER NAME=\"Key\" TYPE=\"boolean\" OVERRIDABLE=\"false\"><VALUE>TRUE</VALUE></QUALIFIER>"
        } else {
            ""
        };
        if *t == "reference" {
            let _ = write!(
                out,
                "<PROPERTY.REFERENCE NAME=\"{n}\">{key}</PROPERTY.REFERENCE>"
            );
        } else if let Some(base) = t.strip_suffix("[]") {
            let _ = write!(
                out,
                "<PROPERTY.ARRAY NAME=\"{n}\" TYPE=\"{base}\">{key}</PROPERTY.ARRAY>"
            );
        } else {
            let _ = write!(out, "<PROPERTY NAME=\"{n}\" TYPE=\"{t}\">{key}</PROPERTY>");
        }
    }
    out.push_str("</CLASS>");
}

/// One array as CIM: built per request from the locked array.
pub struct View<'a> {
    pub array: &'a Array,
    /// The array's DNS name (object manager SystemName, INSTANCEPATH HOST).
    pub host: &'a str,
    pub now: Instant,
    /// Host initiators known to the scenario (IQN, host name).
    pub initiators: &'a [(String, String)],
}

impl View<'_> {
    fn sys_name(&self) -> &str {
        &self.array.serial
    }

    pub fn system_path(&self) -> ObjectPath {
        self.system().path()
    }

    fn system(&self) -> Inst {
        let a = self.array;
        Inst::new("CIM_ComputerSystem", IMPL)
            .s("CreationClassName", "CIM_ComputerSystem")
            .s("Name", self.sys_name())
            .s("ElementName", &a.name)
            .s("Caption", format!("{} {}", a.vendor, a.model))
            .s("NameFormat", "Other")
            .a("OperationalStatus", &["2"])
            .u("HealthState", 5)
            .u("EnabledState", 2)
            .a("Dedicated", &["3", "15"])
            .a("OtherIdentifyingInfo", &[&a.serial])
            .a("IdentifyingDescriptions", &["SNIA:DNS Name"])
    }

    fn primordial(&self) -> Inst {
        let total: u64 = self.array.pools.iter().map(|p| p.capacity).sum();
        Inst::new("CIM_StoragePool", IMPL)
            .s("InstanceID", format!("{}+PRIMORDIAL", self.sys_name()))
            .s("PoolID", "PRIMORDIAL")
            .s("ElementName", "Primordial")
            .b("Primordial", true)
            .u("TotalManagedSpace", total)
            .u("RemainingManagedSpace", 0)
            .a("OperationalStatus", &["2"])
            .u("HealthState", 5)
    }

    pub fn pool(&self, p: &fakedc_model::storage::Pool) -> Inst {
        Inst::new("CIM_StoragePool", IMPL)
            .s("InstanceID", format!("{}+{}", self.sys_name(), p.id))
            .s("PoolID", &p.id)
            .s("ElementName", &p.name)
            .b("Primordial", false)
            .u("TotalManagedSpace", p.capacity)
            .u(
                "RemainingManagedSpace",
                p.capacity.saturating_sub(self.array.used(&p.id)),
            )
            .a("OperationalStatus", &["2"])
            .u("HealthState", 5)
    }

    pub fn volume(&self, v: &fakedc_model::storage::Volume) -> Inst {
        Inst::new("CIM_StorageVolume", IMPL)
            .s("SystemCreationClassName", "CIM_ComputerSystem")
            .s("SystemName", self.sys_name())
            .s("CreationClassName", "CIM_StorageVolume")
            .s("DeviceID", &v.id)
            .s("ElementName", &v.name)
            .s("Name", v.wwn.to_ascii_uppercase())
            .u("NameFormat", 2)
            .u("NameNamespace", 2)
            .u("BlockSize", 512)
            .u("NumberOfBlocks", v.size / 512)
            .u("ConsumableBlocks", v.size / 512)
            .b("Primordial", false)
            .a("OperationalStatus", &["2"])
            .u("HealthState", 5)
            .u("EnabledState", 2)
    }

    fn service(&self, class: &str, name: &str) -> Inst {
        Inst::new(class, IMPL)
            .s("SystemCreationClassName", "CIM_ComputerSystem")
            .s("SystemName", self.sys_name())
            .s("CreationClassName", class.to_string())
            .s("Name", name)
            .s("ElementName", name)
            .u("EnabledState", 2)
    }

    pub fn config_service(&self) -> Inst {
        self.service(
            "CIM_StorageConfigurationService",
            "StorageConfigurationService",
        )
    }

    pub fn controller_service(&self) -> Inst {
        self.service(
            "CIM_ControllerConfigurationService",
            "ControllerConfigurationService",
        )
    }

    fn port(&self, p: &fakedc_model::storage::TargetPort, n: usize) -> Inst {
        Inst::new("CIM_iSCSIProtocolEndpoint", IMPL)
            .s("SystemCreationClassName", "CIM_ComputerSystem")
            .s("SystemName", self.sys_name())
            .s("CreationClassName", "CIM_iSCSIProtocolEndpoint")
            .s("Name", format!("{},t,0x{:04x}", p.iqn, n + 1))
            .s("ElementName", &p.id)
            .s("Identifier", &p.iqn)
            .u("Role", 3)
            .u("ProtocolIFType", 1)
            .u("EnabledState", 2)
            .a("OperationalStatus", &["2"])
    }

    fn hardware_id(&self, iqn: &str, host: &str) -> Inst {
        Inst::new("CIM_StorageHardwareID", IMPL)
            .s("InstanceID", format!("HWID+{iqn}"))
            .s("ElementName", host)
            .s("StorageID", iqn)
            .u("IDType", 5)
    }

    /// Every initiator that sees a volume (its masking view).
    fn views(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .array
            .volumes
            .iter()
            .flat_map(|v| v.initiators.iter().cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    fn controller(&self, iqn: &str) -> Inst {
        Inst::new("CIM_SCSIProtocolController", IMPL)
            .s("SystemCreationClassName", "CIM_ComputerSystem")
            .s("SystemName", self.sys_name())
            .s("CreationClassName", "CIM_SCSIProtocolController")
            .s("DeviceID", format!("SPC+{iqn}"))
            .s("ElementName", format!("View for {iqn}"))
            .s("Name", iqn)
    }

    pub fn job(&self, j: &fakedc_model::storage::Job) -> Inst {
        let state = j.state(self.now);
        let mut i = Inst::new("CIM_ConcreteJob", IMPL)
            .s("InstanceID", format!("{}+{}", self.sys_name(), j.id))
            .s("Name", &j.name)
            .s("ElementName", &j.name)
            .u("JobState", state as u64)
            .u("PercentComplete", u64::from(j.percent(self.now)))
            .a(
                "OperationalStatus",
                match state {
                    JobState::Running => &["2", "8"],
                    JobState::Completed => &["2", "17"],
                    JobState::Exception => &["6", "17"],
                },
            )
            .s(
                "JobStatus",
                match state {
                    JobState::Running => "Running",
                    JobState::Completed => "Completed",
                    JobState::Exception => "Exception",
                },
            );
        match (&j.error, state) {
            (Some(e), JobState::Exception) => {
                i = i.u("ErrorCode", 4).s("ErrorDescription", e);
            }
            _ => i = i.null("ErrorCode").null("ErrorDescription"),
        }
        i.b("DeleteOnCompletion", false)
    }

    fn object_manager(&self) -> Inst {
        Inst::new("CIM_ObjectManager", INTEROP)
            .s("SystemCreationClassName", "CIM_ComputerSystem")
            .s("SystemName", self.host)
            .s("CreationClassName", "CIM_ObjectManager")
            .s("Name", format!("fakedc:{}", self.array.name))
            .s("ElementName", "fakedc SMI-S provider")
            .s("Description", "fakedc SMI-S provider (CIM-XML)")
    }

    fn profile(&self, name: &str, version: &str) -> Inst {
        Inst::new("CIM_RegisteredProfile", INTEROP)
            .s("InstanceID", format!("SNIA+{name}+{version}"))
            .u("RegisteredOrganization", 11)
            .s("RegisteredName", name)
            .s("RegisteredVersion", version)
            .a("AdvertiseTypes", &["3"])
    }

    fn namespace(&self, name: &str) -> Inst {
        Inst::new("CIM_Namespace", INTEROP)
            .s("SystemCreationClassName", "CIM_ComputerSystem")
            .s("SystemName", self.host)
            .s("ObjectManagerCreationClassName", "CIM_ObjectManager")
            .s("ObjectManagerName", format!("fakedc:{}", self.array.name))
            .s("CreationClassName", "CIM_Namespace")
            .s("Name", name)
            .u("ClassInfo", 0)
    }

    fn pools(&self) -> Vec<Inst> {
        let mut v = vec![self.primordial()];
        v.extend(self.array.pools.iter().map(|p| self.pool(p)));
        v
    }

    /// Instances in `ns` whose class is (or derives from) `filter`.
    pub fn instances(&self, ns: &str, filter: &str) -> Vec<Inst> {
        let interop = ns.eq_ignore_ascii_case(INTEROP);
        let mut out = Vec::new();
        let want = |c: &str| is_a(c, filter);
        if interop {
            if want("CIM_ObjectManager") {
                out.push(self.object_manager());
            }
            if want("CIM_ObjectManagerCommunicationMechanism") {
                out.push(
                    Inst::new("CIM_ObjectManagerCommunicationMechanism", INTEROP)
                        .s("SystemCreationClassName", "CIM_ComputerSystem")
                        .s("SystemName", self.host)
                        .s(
                            "CreationClassName",
                            "CIM_ObjectManagerCommunicationMechanism",
                        )
                        .s("Name", "CIM-XML")
                        .u("CommunicationMechanism", 2)
                        .s("Version", "1.0")
                        .a("FunctionalProfilesSupported", &["2", "3", "4", "5"]),
                );
            }
            if want("CIM_Namespace") {
                out.push(self.namespace(INTEROP));
                out.push(self.namespace(IMPL));
            }
            if want("CIM_RegisteredProfile") {
                out.extend(PROFILES.iter().map(|(n, v)| self.profile(n, v)));
            }
        } else {
            if want("CIM_ComputerSystem") {
                out.push(self.system());
            }
            if want("CIM_StoragePool") {
                out.extend(self.pools());
            }
            if want("CIM_StorageVolume") {
                out.extend(self.array.volumes.iter().map(|v| self.volume(v)));
            }
            if want("CIM_iSCSIProtocolEndpoint") {
                out.extend(
                    self.array
                        .ports
                        .iter()
                        .enumerate()
                        .map(|(n, p)| self.port(p, n)),
                );
            }
            if want("CIM_StorageHardwareID") {
                out.extend(self.initiators.iter().map(|(i, h)| self.hardware_id(i, h)));
            }
            if want("CIM_SCSIProtocolController") {
                out.extend(self.views().iter().map(|i| self.controller(i)));
            }
            if want("CIM_StorageConfigurationService") {
                out.push(self.config_service());
            }
            if want("CIM_ControllerConfigurationService") {
                out.push(self.controller_service());
            }
            if want("CIM_ConcreteJob") {
                out.extend(self.array.jobs.iter().map(|j| self.job(j)));
            }
        }
        for c in CLASSES.iter().filter(|c| c.assoc && c.ns != 0) {
            if in_namespace(c, ns) && c.keys.len() == 2 && want(c.name) {
                out.extend(self.associations_of(c.name, ns));
            }
        }
        out
    }

    /// Association instances of one concrete association class.
    fn associations_of(&self, class: &str, ns: &str) -> Vec<Inst> {
        let interop = ns.eq_ignore_ascii_case(INTEROP);
        let ns: &'static str = if interop { INTEROP } else { IMPL };
        let pair = |a: &str, ap: ObjectPath, b: &str, bp: ObjectPath| -> Inst {
            let c = self::class(class).unwrap_or(&CLASSES[0]);
            let mut i = Inst::new(c.name, ns);
            // Role names are the class's own two reference properties.
            let (ra, rb) = match c.props {
                [(x, _), (y, _), ..] => (*x, *y),
                _ => ("Antecedent", "Dependent"),
            };
            debug_assert!(ra.eq_ignore_ascii_case(a) && rb.eq_ignore_ascii_case(b));
            i = i.r(ra, ap).r(rb, bp);
            i
        };
        let sys = self.system_path();
        let mut out = Vec::new();
        match class {
            "CIM_HostedStoragePool" => {
                for p in self.pools() {
                    out.push(pair(
                        "GroupComponent",
                        sys.clone(),
                        "PartComponent",
                        p.path(),
                    ));
                }
            }
            "CIM_SystemDevice" => {
                for v in self.instances(IMPL, "CIM_LogicalDevice") {
                    out.push(pair(
                        "GroupComponent",
                        sys.clone(),
                        "PartComponent",
                        v.path(),
                    ));
                }
                for p in self.instances(IMPL, "CIM_iSCSIProtocolEndpoint") {
                    out.push(pair(
                        "GroupComponent",
                        sys.clone(),
                        "PartComponent",
                        p.path(),
                    ));
                }
            }
            "CIM_AllocatedFromStoragePool" => {
                let prim = self.primordial().path();
                for p in &self.array.pools {
                    out.push(
                        pair("Antecedent", prim.clone(), "Dependent", self.pool(p).path())
                            .u("SpaceConsumed", p.capacity),
                    );
                }
                for v in &self.array.volumes {
                    if let Some(p) = self.array.pool(&v.pool) {
                        out.push(
                            pair(
                                "Antecedent",
                                self.pool(p).path(),
                                "Dependent",
                                self.volume(v).path(),
                            )
                            .u("SpaceConsumed", v.size),
                        );
                    }
                }
            }
            "CIM_HostedService" => {
                out.push(pair(
                    "Antecedent",
                    sys.clone(),
                    "Dependent",
                    self.config_service().path(),
                ));
                out.push(pair(
                    "Antecedent",
                    sys.clone(),
                    "Dependent",
                    self.controller_service().path(),
                ));
            }
            "CIM_AffectedJobElement" => {
                for j in &self.array.jobs {
                    if let Some(v) = j.volume.as_ref().and_then(|v| self.array.volume(&v.id)) {
                        out.push(pair(
                            "AffectedElement",
                            self.volume(v).path(),
                            "AffectingElement",
                            self.job(j).path(),
                        ));
                    }
                }
            }
            "CIM_ProtocolControllerForUnit" => {
                for iqn in self.views() {
                    let spc = self.controller(&iqn).path();
                    for (n, v) in self
                        .array
                        .volumes
                        .iter()
                        .filter(|v| v.initiators.contains(&iqn))
                        .enumerate()
                    {
                        out.push(
                            pair(
                                "Antecedent",
                                spc.clone(),
                                "Dependent",
                                self.volume(v).path(),
                            )
                            .s("DeviceNumber", format!("{n}")),
                        );
                    }
                }
            }
            "CIM_ElementConformsToProfile" => {
                let prof = |n: &str, v: &str| self.profile(n, v).path();
                out.push(pair(
                    "ConformantStandard",
                    prof("Server", "1.6.1"),
                    "ManagedElement",
                    self.object_manager().path(),
                ));
                out.push(pair(
                    "ConformantStandard",
                    prof("Array", "1.6.1"),
                    "ManagedElement",
                    sys,
                ));
            }
            "CIM_ReferencedProfile" => {
                let array = self.profile("Array", "1.6.1").path();
                for (n, v) in PROFILES.iter().skip(2) {
                    out.push(pair(
                        "Antecedent",
                        self.profile(n, v).path(),
                        "Dependent",
                        array.clone(),
                    ));
                }
            }
            "CIM_NamespaceInManager" => {
                let om = self.object_manager().path();
                for n in [INTEROP, IMPL] {
                    out.push(pair(
                        "Antecedent",
                        om.clone(),
                        "Dependent",
                        self.namespace(n).path(),
                    ));
                }
            }
            _ => {}
        }
        out
    }

    /// Every association instance in both namespaces whose class is (or
    /// derives from) `filter` (or every one).
    pub fn all_associations(&self, filter: Option<&str>) -> Vec<Inst> {
        let mut out = Vec::new();
        for c in CLASSES.iter().filter(|c| c.assoc && c.keys.len() == 2) {
            if filter.is_some_and(|f| !is_a(c.name, f)) {
                continue;
            }
            // ElementConformsToProfile lives in both; list it once.
            let ns = if c.ns & I != 0 { INTEROP } else { IMPL };
            out.extend(self.associations_of(c.name, ns));
        }
        out
    }

    /// The instance a path names, if it exists.
    pub fn resolve(&self, p: &ObjectPath) -> Option<Inst> {
        let ns = p.namespace.as_deref().unwrap_or(IMPL);
        self.instances(ns, &p.class)
            .into_iter()
            .find(|i| i.class.name.eq_ignore_ascii_case(&p.class) && i.path().same(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy_and_schema() {
        assert!(is_a("CIM_StorageVolume", "CIM_ManagedElement"));
        assert!(is_a("cim_storagevolume", "CIM_StorageExtent"));
        assert!(!is_a("CIM_StoragePool", "CIM_LogicalDevice"));
        assert!(is_a("CIM_ProtocolControllerForUnit", "CIM_Dependency"));
        for c in CLASSES {
            if let Some(p) = c.parent {
                assert!(class(p).is_some(), "{} has unknown parent {p}", c.name);
            }
            for k in c.keys {
                assert!(c.props.iter().any(|(n, _)| n == k), "{}.{k}", c.name);
            }
        }
    }
}
