//! The CIM operations (DSP0200) over one array: intrinsic operations
//! (instances, names, associations, classes) and the SMI-S extrinsic
//! methods that change the storage model. Sans-IO: the model and the time
//! come in, a CIM-XML answer and a journal line go out.

use crate::cim::{self, Inst, View, IMPL, INTEROP};
use crate::cimxml::{error, message, write_instance_path, Call, ObjectPath, Param, Request};
use fakedc_model::storage::{initiator_iqn, Array, StorageError};
use fakedc_model::{MachineId, Model, Privilege, Role};
use fakedc_xml::escape_attr;
use std::fmt::Write as _;
use std::time::Instant;

/// CIM status codes (DSP0200 table 2).
pub mod code {
    pub const FAILED: u32 = 1;
    pub const ACCESS_DENIED: u32 = 2;
    pub const INVALID_NAMESPACE: u32 = 3;
    pub const INVALID_PARAMETER: u32 = 4;
    pub const INVALID_CLASS: u32 = 5;
    pub const NOT_FOUND: u32 = 6;
    pub const NOT_SUPPORTED: u32 = 7;
    pub const METHOD_NOT_FOUND: u32 = 17;
    pub const INVALID_ENUMERATION_CONTEXT: u32 = 21;
    pub const FILTERED_ENUMERATION_NOT_SUPPORTED: u32 = 25;
    pub const CONTINUATION_ON_ERROR_NOT_SUPPORTED: u32 = 26;
}

/// A CIM error: code and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CimError(pub u32, pub String);

fn err(code: u32, d: impl Into<String>) -> CimError {
    CimError(code, d.into())
}

/// What one request did: the full response message and the journal's
/// outcome text.
pub struct Answer {
    pub xml: String,
    pub outcome: String,
}

/// The intrinsic operations served (for `/about`).
pub const INTRINSIC: &[&str] = &[
    "EnumerateInstances",
    "EnumerateInstanceNames",
    "GetInstance",
    "Associators",
    "AssociatorNames",
    "References",
    "ReferenceNames",
    "GetClass",
    "EnumerateClasses",
    "EnumerateClassNames",
    "OpenEnumerateInstances",
    "PullInstancesWithPath",
    "CloseEnumeration",
];

/// Most instances one Open/Pull answer carries, whatever the client asks.
const MAX_PULL: usize = 10_000;

/// The extrinsic methods served, per class.
pub const METHODS: &[(&str, &str)] = &[
    (
        "CIM_StorageConfigurationService",
        "CreateOrModifyElementFromStoragePool",
    ),
    ("CIM_StorageConfigurationService", "ReturnToStoragePool"),
    ("CIM_ControllerConfigurationService", "ExposePaths"),
    ("CIM_ControllerConfigurationService", "HidePaths"),
];

/// Runs one decoded request against the array served by `machine`.
pub fn handle(
    model: &Model,
    machine: MachineId,
    privilege: Privilege,
    req: &Request,
    now: Instant,
) -> Answer {
    let m = model.machine(machine);
    let host = m.dns_name.clone();
    let mut initiators: Vec<(String, String)> = model
        .machines()
        .iter()
        .filter(|h| h.role == Role::HypervHost)
        .map(|h| (initiator_iqn(&h.dns_name), h.name.clone()))
        .collect();
    let Some(mut array) = model.storage.array(machine, now) else {
        return answer_error(
            req,
            err(code::FAILED, "this machine serves no storage array"),
        );
    };
    run(&mut array, &host, &mut initiators, privilege, req, now)
}

/// Runs one decoded request against an array (the sans-IO core of
/// [`handle`]; `initiators` are the scenario's host initiators, to which
/// those already in the array's masking are added).
pub fn run(
    array: &mut Array,
    host: &str,
    initiators: &mut Vec<(String, String)>,
    privilege: Privilege,
    req: &Request,
    now: Instant,
) -> Answer {
    for v in &array.volumes {
        for i in &v.initiators {
            if !initiators.iter().any(|(x, _)| x == i) {
                initiators.push((i.clone(), String::new()));
            }
        }
    }
    match &req.call {
        Call::Intrinsic {
            name, namespace, ..
        } => {
            let view = View {
                array,
                host,
                now,
                initiators,
            };
            let r = intrinsic(&view, name, namespace, &req.call);
            let (inner, outcome) = match r {
                Ok((body, n)) => (
                    format!(
                        "<IMETHODRESPONSE NAME=\"{}\">{body}</IMETHODRESPONSE>",
                        escape_attr(name)
                    ),
                    format!("ok ({n})"),
                ),
                Err(e) => (
                    format!(
                        "<IMETHODRESPONSE NAME=\"{}\">{}</IMETHODRESPONSE>",
                        escape_attr(name),
                        error(e.0, &e.1)
                    ),
                    format!("CIM error {}: {}", e.0, e.1),
                ),
            };
            Answer {
                xml: message(&req.message_id, &inner),
                outcome,
            }
        }
        Call::Extrinsic {
            name,
            target,
            params: _,
        } => {
            let r = extrinsic(
                array, host, initiators, privilege, name, target, &req.call, now,
            );
            let (inner, outcome) = match r {
                Ok((rv, out)) => {
                    let mut s = format!(
                        "<METHODRESPONSE NAME=\"{}\"><RETURNVALUE PARAMTYPE=\"uint32\"><VALUE>{rv}</VALUE></RETURNVALUE>",
                        escape_attr(name)
                    );
                    s.push_str(&out);
                    s.push_str("</METHODRESPONSE>");
                    (s, format!("ReturnValue {rv}"))
                }
                Err(e) => (
                    format!(
                        "<METHODRESPONSE NAME=\"{}\">{}</METHODRESPONSE>",
                        escape_attr(name),
                        error(e.0, &e.1)
                    ),
                    format!("CIM error {}: {}", e.0, e.1),
                ),
            };
            Answer {
                xml: message(&req.message_id, &inner),
                outcome,
            }
        }
    }
}

fn answer_error(req: &Request, e: CimError) -> Answer {
    let tag = match req.call {
        Call::Intrinsic { .. } => "IMETHODRESPONSE",
        Call::Extrinsic { .. } => "METHODRESPONSE",
    };
    Answer {
        xml: message(
            &req.message_id,
            &format!(
                "<{tag} NAME=\"{}\">{}</{tag}>",
                escape_attr(req.call.name()),
                error(e.0, &e.1)
            ),
        ),
        outcome: format!("CIM error {}: {}", e.0, e.1),
    }
}

/// The namespace as served (`root/interop` or `root/cimv2`), or
/// CIM_ERR_INVALID_NAMESPACE.
fn check_ns(ns: &str) -> Result<&'static str, CimError> {
    let n = ns.trim_matches('/');
    if n.eq_ignore_ascii_case(INTEROP) {
        Ok(INTEROP)
    } else if n.eq_ignore_ascii_case(IMPL) {
        Ok(IMPL)
    } else {
        Err(err(
            code::INVALID_NAMESPACE,
            format!("Namespace {ns} does not exist"),
        ))
    }
}

fn check_class(name: &str, ns: &str) -> Result<&'static cim::ClassDef, CimError> {
    cim::class(name)
        .filter(|c| cim::in_namespace(c, ns))
        .ok_or_else(|| {
            err(
                code::INVALID_CLASS,
                format!("Class {name} does not exist in namespace {ns}"),
            )
        })
}

fn bool_param(call: &Call, name: &str, default: bool) -> Result<bool, CimError> {
    match call.param(name) {
        None | Some(Param::Null) => Ok(default),
        Some(Param::Value(v)) => match v.trim().to_ascii_uppercase().as_str() {
            "TRUE" => Ok(true),
            "FALSE" => Ok(false),
            _ => Err(err(
                code::INVALID_PARAMETER,
                format!("{name}: '{v}' is not a boolean"),
            )),
        },
        Some(_) => Err(err(
            code::INVALID_PARAMETER,
            format!("{name} must be a boolean VALUE"),
        )),
    }
}

fn class_param<'a>(call: &'a Call, name: &str) -> Result<Option<&'a str>, CimError> {
    match call.param(name) {
        None | Some(Param::Null) => Ok(None),
        Some(Param::ClassName(c)) | Some(Param::Value(c)) => Ok(Some(c.as_str())),
        Some(_) => Err(err(
            code::INVALID_PARAMETER,
            format!("{name} must be a CLASSNAME"),
        )),
    }
}

fn string_param<'a>(call: &'a Call, name: &str) -> Result<Option<&'a str>, CimError> {
    match call.param(name) {
        None | Some(Param::Null) => Ok(None),
        Some(Param::Value(c)) => Ok(Some(c.as_str())),
        Some(_) => Err(err(
            code::INVALID_PARAMETER,
            format!("{name} must be a string VALUE"),
        )),
    }
}

fn property_list(call: &Call) -> Result<Option<Vec<String>>, CimError> {
    match call.param("PropertyList") {
        None | Some(Param::Null) => Ok(None),
        Some(Param::Array(v)) => Ok(Some(v.clone())),
        Some(_) => Err(err(
            code::INVALID_PARAMETER,
            "PropertyList must be a VALUE.ARRAY",
        )),
    }
}

/// An object path parameter, defaulting its namespace to the request's.
fn path_param(call: &Call, name: &str, ns: &str) -> Result<ObjectPath, CimError> {
    let mut p = match call.param(name) {
        Some(Param::InstanceName(p)) | Some(Param::Ref(p)) => p.clone(),
        Some(Param::ClassName(_)) => {
            return Err(err(
                code::NOT_SUPPORTED,
                format!("{name}: class-level operations are not supported"),
            ))
        }
        _ => {
            return Err(err(
                code::INVALID_PARAMETER,
                format!("{name} must be an INSTANCENAME"),
            ))
        }
    };
    if p.namespace.is_none() {
        p.namespace = Some(ns.to_string());
    }
    Ok(p)
}

fn intrinsic(
    view: &View<'_>,
    name: &str,
    ns: &str,
    call: &Call,
) -> Result<(String, usize), CimError> {
    let op = INTRINSIC
        .iter()
        .find(|o| o.eq_ignore_ascii_case(name))
        .copied();
    let Some(op) = op else {
        return Err(err(
            code::NOT_SUPPORTED,
            format!("{name} is not implemented by this provider"),
        ));
    };
    let ns = check_ns(ns)?;
    let host = view.host;
    let mut out = String::from("<IRETURNVALUE>");
    let n;
    match op {
        "EnumerateInstances" | "EnumerateInstanceNames" => {
            let class = class_param(call, "ClassName")?
                .ok_or_else(|| err(code::INVALID_PARAMETER, "ClassName is required"))?;
            let c = check_class(class, ns)?;
            bool_param(call, "DeepInheritance", true)?;
            let list = property_list(call)?;
            let items = view.instances(ns, c.name);
            n = items.len();
            out.reserve(items.len() * 1200);
            for i in &items {
                if op == "EnumerateInstances" {
                    out.push_str("<VALUE.NAMEDINSTANCE>");
                    i.write_name(&mut out, host);
                    i.write(&mut out, host, list.as_deref());
                    out.push_str("</VALUE.NAMEDINSTANCE>");
                } else {
                    i.write_name(&mut out, host);
                }
            }
        }
        "OpenEnumerateInstances" | "PullInstancesWithPath" | "CloseEnumeration" => {
            // The enumeration context is the position itself
            // (`smis1:<namespace>:<class>:<offset>`), so no state lives on
            // the server between Open and Pull and nothing needs expiring;
            // a changed array between pulls shows as on a real provider
            // without snapshot semantics.
            let (class, offset) = if op == "OpenEnumerateInstances" {
                if string_param(call, "FilterQuery")?.is_some() {
                    return Err(err(
                        code::FILTERED_ENUMERATION_NOT_SUPPORTED,
                        "FilterQuery is not supported",
                    ));
                }
                if bool_param(call, "ContinueOnError", false)? {
                    return Err(err(
                        code::CONTINUATION_ON_ERROR_NOT_SUPPORTED,
                        "ContinueOnError is not supported",
                    ));
                }
                let class = class_param(call, "ClassName")?
                    .ok_or_else(|| err(code::INVALID_PARAMETER, "ClassName is required"))?;
                (check_class(class, ns)?.name, 0usize)
            } else {
                let ctx = string_param(call, "EnumerationContext")?.unwrap_or_default();
                let bad = || {
                    err(
                        code::INVALID_ENUMERATION_CONTEXT,
                        "The enumeration context is not valid",
                    )
                };
                let mut parts = ctx.splitn(4, ':');
                let (Some("smis1"), Some(cns), Some(cls), Some(off)) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return Err(bad());
                };
                if !cns.eq_ignore_ascii_case(ns) {
                    return Err(bad());
                }
                let c = cim::class(cls)
                    .filter(|c| cim::in_namespace(c, ns))
                    .ok_or_else(bad)?;
                (c.name, off.parse::<usize>().map_err(|_| bad())?)
            };
            if op == "CloseEnumeration" {
                // DSP0200: CloseEnumeration answers without a return value.
                let _ = offset;
                return Ok((String::new(), 0));
            }
            let list = property_list(call)?;
            let (items, total) = {
                let max = match string_param(call, "MaxObjectCount")? {
                    None => 0,
                    Some(v) => v.trim().parse::<usize>().map_err(|_| {
                        err(code::INVALID_PARAMETER, "MaxObjectCount must be a uint32")
                    })?,
                };
                let all = view.instances(ns, class);
                let total = all.len();
                let end = offset.saturating_add(max.min(MAX_PULL)).min(total);
                let items: Vec<Inst> = all
                    .into_iter()
                    .skip(offset)
                    .take(end.saturating_sub(offset))
                    .collect();
                (items, total)
            };
            n = items.len();
            for i in &items {
                out.push_str("<VALUE.INSTANCEWITHPATH>");
                write_instance_path(&mut out, &i.path(), host);
                i.write(&mut out, host, list.as_deref());
                out.push_str("</VALUE.INSTANCEWITHPATH>");
            }
            out.push_str("</IRETURNVALUE>");
            {
                let next = offset + n;
                let end = next >= total;
                let _ = write!(
                    out,
                    "<PARAMVALUE NAME=\"EndOfSequence\" PARAMTYPE=\"boolean\"><VALUE>{}</VALUE></PARAMVALUE><PARAMVALUE NAME=\"EnumerationContext\" PARAMTYPE=\"string\">",
                    if end { "TRUE" } else { "FALSE" }
                );
                if !end {
                    let _ = write!(out, "<VALUE>smis1:{ns}:{class}:{next}</VALUE>");
                }
                out.push_str("</PARAMVALUE>");
            }
            return Ok((out, n));
        }
        "GetInstance" => {
            let p = path_param(call, "InstanceName", ns)?;
            check_class(&p.class, ns)?;
            let list = property_list(call)?;
            let i = view.resolve(&p).ok_or_else(|| {
                err(
                    code::NOT_FOUND,
                    format!("No instance of {} with those keys", p.class),
                )
            })?;
            i.write(&mut out, host, list.as_deref());
            n = 1;
        }
        "Associators" | "AssociatorNames" | "References" | "ReferenceNames" => {
            let p = path_param(call, "ObjectName", ns)?;
            check_class(&p.class, ns)?;
            if view.resolve(&p).is_none() {
                return Err(err(
                    code::NOT_FOUND,
                    format!("No instance of {} with those keys", p.class),
                ));
            }
            let refs = op.starts_with("Reference");
            let assoc = if refs {
                class_param(call, "ResultClass")?
            } else {
                class_param(call, "AssocClass")?
            };
            let result_class = if refs {
                None
            } else {
                class_param(call, "ResultClass")?
            };
            for c in [assoc, result_class].into_iter().flatten() {
                if cim::class(c).is_none() {
                    return Err(err(
                        code::INVALID_PARAMETER,
                        format!("Class {c} does not exist"),
                    ));
                }
            }
            let role = string_param(call, "Role")?;
            let result_role = string_param(call, "ResultRole")?;
            let list = property_list(call)?;
            let mut found: Vec<Inst> = Vec::new();
            for a in view.all_associations(assoc) {
                let ends = a.ends();
                for (i, (r, end)) in ends.iter().enumerate() {
                    if !end.same(&p) || role.is_some_and(|x| !x.eq_ignore_ascii_case(r)) {
                        continue;
                    }
                    if refs {
                        found.push(a.clone());
                        break;
                    }
                    for (j, (r2, other)) in ends.iter().enumerate() {
                        if i == j || result_role.is_some_and(|x| !x.eq_ignore_ascii_case(r2)) {
                            continue;
                        }
                        if let Some(o) = view.resolve(other) {
                            if result_class.is_none_or(|rc| cim::is_a(o.class.name, rc)) {
                                found.push(o);
                            }
                        }
                    }
                }
            }
            n = found.len();
            for i in &found {
                if op.ends_with("Names") {
                    out.push_str("<OBJECTPATH>");
                    write_instance_path(&mut out, &i.path(), host);
                    out.push_str("</OBJECTPATH>");
                } else {
                    out.push_str("<VALUE.OBJECTWITHPATH>");
                    write_instance_path(&mut out, &i.path(), host);
                    i.write(&mut out, host, list.as_deref());
                    out.push_str("</VALUE.OBJECTWITHPATH>");
                }
            }
        }
        "GetClass" => {
            let class = class_param(call, "ClassName")?
                .ok_or_else(|| err(code::INVALID_PARAMETER, "ClassName is required"))?;
            let c = check_class(class, ns)?;
            cim::write_class(&mut out, c);
            n = 1;
        }
        _ => {
            // EnumerateClasses / EnumerateClassNames.
            let base = class_param(call, "ClassName")?;
            if let Some(b) = base {
                check_class(b, ns)?;
            }
            let deep = bool_param(call, "DeepInheritance", false)?;
            let mut count = 0;
            for c in cim::CLASSES.iter().filter(|c| cim::in_namespace(c, ns)) {
                let matches = match base {
                    None => deep || c.parent.is_none(),
                    Some(b) => {
                        if deep {
                            !c.name.eq_ignore_ascii_case(b) && cim::is_a(c.name, b)
                        } else {
                            c.parent.is_some_and(|p| p.eq_ignore_ascii_case(b))
                        }
                    }
                };
                if !matches {
                    continue;
                }
                count += 1;
                if op == "EnumerateClassNames" {
                    let _ = write!(out, "<CLASSNAME NAME=\"{}\"/>", c.name);
                } else {
                    cim::write_class(&mut out, c);
                }
            }
            n = count;
        }
    }
    out.push_str("</IRETURNVALUE>");
    Ok((out, n))
}

fn ref_out(out: &mut String, name: &str, p: &ObjectPath, host: &str) {
    let _ = write!(
        out,
        "<PARAMVALUE NAME=\"{name}\" PARAMTYPE=\"reference\"><VALUE.REFERENCE>"
    );
    write_instance_path(out, p, host);
    out.push_str("</VALUE.REFERENCE></PARAMVALUE>");
}

fn strings(call: &Call, name: &str) -> Result<Vec<String>, CimError> {
    match call.param(name) {
        None | Some(Param::Null) => Ok(Vec::new()),
        Some(Param::Array(v)) => Ok(v.clone()),
        Some(Param::Value(v)) => Ok(vec![v.clone()]),
        Some(_) => Err(err(
            code::INVALID_PARAMETER,
            format!("{name} must be a string array"),
        )),
    }
}

#[allow(clippy::too_many_arguments)]
fn extrinsic(
    array: &mut Array,
    host: &str,
    initiators: &[(String, String)],
    privilege: Privilege,
    name: &str,
    target: &ObjectPath,
    call: &Call,
    now: Instant,
) -> Result<(u32, String), CimError> {
    let ns = check_ns(target.namespace.as_deref().unwrap_or(IMPL))?;
    let c = check_class(&target.class, ns)?;
    let Some((_, method)) = METHODS
        .iter()
        .find(|(k, m)| cim::is_a(c.name, k) && m.eq_ignore_ascii_case(name))
    else {
        return Err(err(
            code::METHOD_NOT_FOUND,
            format!("{} has no method {name}", c.name),
        ));
    };
    {
        let view = View {
            array,
            host,
            now,
            initiators,
        };
        if target.keys.is_empty() || view.resolve(target).is_none() {
            return Err(err(
                code::NOT_FOUND,
                format!("No instance of {} with those keys", target.class),
            ));
        }
    }
    if privilege < Privilege::Operator {
        return Err(err(
            code::ACCESS_DENIED,
            format!("{method} needs operator or administrator rights"),
        ));
    }
    let mut out = String::new();
    match *method {
        "CreateOrModifyElementFromStoragePool" => {
            let et = match string_param(call, "ElementType")? {
                None => 2,
                Some(v) => v
                    .trim()
                    .parse::<u16>()
                    .map_err(|_| err(code::INVALID_PARAMETER, "ElementType must be a uint16"))?,
            };
            if call.param("TheElement").is_some_and(|p| *p != Param::Null) {
                // Modifying an existing element is not built.
                return Ok((1, out));
            }
            if et != 2 && et != 5 {
                return Ok((1, out));
            }
            let Some(size) = string_param(call, "Size")? else {
                return Ok((5, out));
            };
            let size: u64 = size
                .trim()
                .parse()
                .map_err(|_| err(code::INVALID_PARAMETER, "Size must be a uint64"))?;
            let pool = match call.param("InPool") {
                None | Some(Param::Null) => array
                    .pools
                    .first()
                    .map(|p| p.id.clone())
                    .ok_or_else(|| err(code::FAILED, "the array has no pool"))?,
                Some(Param::Ref(p)) => {
                    let id = p.key("InstanceID").unwrap_or_default();
                    let prefix = format!("{}+", array.serial);
                    let pid = id.strip_prefix(&prefix).unwrap_or_default();
                    array
                        .pool(pid)
                        .filter(|p| p.id == pid)
                        .map(|p| p.id.clone())
                        .ok_or_else(|| {
                            err(
                                code::INVALID_PARAMETER,
                                format!("InPool {id} is not a concrete pool of this array"),
                            )
                        })?
                }
                Some(_) => {
                    return Err(err(code::INVALID_PARAMETER, "InPool must be a reference"));
                }
            };
            let capacity = array.pool(&pool).map(|p| p.capacity).unwrap_or(0);
            if size > capacity {
                // SMI-S: Size Not Supported, with the closest size offered.
                let free = capacity.saturating_sub(array.used(&pool));
                let _ = write!(
                    out,
                    "<PARAMVALUE NAME=\"Size\" PARAMTYPE=\"uint64\"><VALUE>{free}</VALUE></PARAMVALUE>"
                );
                return Ok((4097, out));
            }
            let element_name = string_param(call, "ElementName")?.unwrap_or_default();
            if element_name.len() > 256 {
                return Err(err(code::INVALID_PARAMETER, "ElementName is too long"));
            }
            let job = array
                .create_volume(&pool, element_name, size, now)
                .map_err(storage_err)?;
            let view = View {
                array,
                host,
                now,
                initiators,
            };
            let j = array
                .jobs
                .iter()
                .find(|j| j.id == job)
                .ok_or_else(|| err(code::FAILED, "job vanished"))?;
            ref_out(&mut out, "Job", &view.job(j).path(), host);
            let _ = write!(
                out,
                "<PARAMVALUE NAME=\"Size\" PARAMTYPE=\"uint64\"><VALUE>{size}</VALUE></PARAMVALUE>"
            );
            Ok((4096, out))
        }
        "ReturnToStoragePool" => {
            let id = match call.param("TheElement") {
                Some(Param::Ref(p)) if cim::is_a(&p.class, "CIM_StorageVolume") => p
                    .key("DeviceID")
                    .map(str::to_string)
                    .ok_or_else(|| err(code::INVALID_PARAMETER, "TheElement without DeviceID"))?,
                _ => {
                    return Err(err(
                        code::INVALID_PARAMETER,
                        "TheElement must reference a CIM_StorageVolume",
                    ))
                }
            };
            match array.delete_volume(&id) {
                Ok(_) => Ok((0, out)),
                Err(StorageError::NoVolume(v)) => {
                    Err(err(code::NOT_FOUND, format!("No volume {v}")))
                }
                Err(_) => Ok((4, out)),
            }
        }
        _ => {
            // ExposePaths / HidePaths.
            let expose = method.eq_ignore_ascii_case("ExposePaths");
            let lus = strings(call, "LUNames")?;
            let inits = strings(call, "InitiatorPortIDs")?;
            if lus.is_empty() || inits.is_empty() {
                // Creating an empty view (no LUs) is not built.
                return Ok((5, out));
            }
            if let Some(bad) = inits.iter().find(|i| i.is_empty() || i.len() > 223) {
                return Err(err(
                    code::INVALID_PARAMETER,
                    format!("'{bad}' is not an iSCSI name"),
                ));
            }
            array
                .set_exposure(&lus, &inits, expose)
                .map_err(storage_err)?;
            out.push_str(
                "<PARAMVALUE NAME=\"ProtocolControllers\" PARAMTYPE=\"reference\"><VALUE.REFARRAY>",
            );
            if expose {
                for i in &inits {
                    let mut p = ObjectPath::new(IMPL, "CIM_SCSIProtocolController");
                    let kv = |s: &str| crate::cimxml::Key::Value(s.to_string(), "string");
                    p.keys = vec![
                        ("SystemCreationClassName".into(), kv("CIM_ComputerSystem")),
                        ("SystemName".into(), kv(&array.serial)),
                        ("CreationClassName".into(), kv("CIM_SCSIProtocolController")),
                        (
                            "DeviceID".into(),
                            kv(&format!("SPC+{}", i.to_ascii_lowercase())),
                        ),
                    ];
                    out.push_str("<VALUE.REFERENCE>");
                    write_instance_path(&mut out, &p, host);
                    out.push_str("</VALUE.REFERENCE>");
                }
            }
            out.push_str("</VALUE.REFARRAY></PARAMVALUE>");
            Ok((0, out))
        }
    }
}

fn storage_err(e: StorageError) -> CimError {
    match e {
        StorageError::NoPool(_) | StorageError::NoVolume(_) => err(code::NOT_FOUND, e.to_string()),
        StorageError::ZeroSize => err(code::INVALID_PARAMETER, e.to_string()),
        StorageError::TooManyVolumes | StorageError::InUse(_) => err(code::FAILED, e.to_string()),
    }
}
