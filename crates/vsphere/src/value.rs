//! vim25 values and their XML: what a getter returns and how it is written.
//!
//! Code builds values loosely (a data object is a type name and named
//! fields); the serialiser takes element order and each field's `xsi:type`
//! from the type description ([`crate::types`]), so an `int` field is
//! written `xsd:int` and a `long` one `xsd:long` without the getter
//! knowing. Every element carries `xsi:type`, as vCenter writes it.

use crate::types::{types, TypeInfo};
use fakedc_xml::{escape_attr, escape_text, Element};
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// A managed object reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MoRef {
    pub ty: String,
    pub id: String,
}

impl MoRef {
    pub fn new(ty: impl Into<String>, id: impl Into<String>) -> MoRef {
        MoRef {
            ty: ty.into(),
            id: id.into(),
        }
    }
}

/// One value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    Date(SystemTime),
    MoRef(MoRef),
    Data(Data),
    Array(Vec<Value>),
}

/// A data object: its WSDL type name and the fields that are set.
#[derive(Debug, Clone, PartialEq)]
pub struct Data {
    pub ty: &'static str,
    pub fields: Vec<(&'static str, Value)>,
}

impl Data {
    pub fn new(ty: &'static str) -> Data {
        Data {
            ty,
            fields: Vec::new(),
        }
    }

    /// Adds a field (builder style).
    pub fn with(mut self, name: &'static str, v: impl Into<Value>) -> Data {
        self.fields.push((name, v.into()));
        self
    }

    /// Adds a field when the value is set.
    pub fn opt(self, name: &'static str, v: Option<impl Into<Value>>) -> Data {
        match v {
            Some(v) => self.with(name, v),
            None => self,
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Value {
        Value::Int(v.into())
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}
impl From<MoRef> for Value {
    fn from(v: MoRef) -> Value {
        Value::MoRef(v)
    }
}
impl From<Data> for Value {
    fn from(v: Data) -> Value {
        Value::Data(v)
    }
}
impl From<SystemTime> for Value {
    fn from(v: SystemTime) -> Value {
        Value::Date(v)
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Value {
        Value::Array(v.into_iter().map(Into::into).collect())
    }
}

impl Value {
    /// Follows a dotted path into data objects (`runtime.powerState` from
    /// a `summary`); `None` when a step is unset.
    pub fn descend(&self, path: &str) -> Option<&Value> {
        let mut cur = self;
        for part in path.split('.').filter(|p| !p.is_empty()) {
            match cur {
                Value::Data(d) => cur = d.get(part)?,
                _ => return None,
            }
        }
        Some(cur)
    }
}

/// `xsd:dateTime` as vCenter writes it (UTC, microseconds).
pub fn datetime(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    format!(
        "{}.{:06}Z",
        fakedc_model::timefmt::utc_date_time_or_epoch(secs),
        d.subsec_micros()
    )
}

/// The element name of an array item and the `ArrayOfX` suffix for a
/// declared element type.
fn item_name(base: &str) -> String {
    if let Some(x) = base.strip_prefix("xsd:") {
        x.to_string()
    } else if base.starts_with("mor:") {
        "ManagedObjectReference".into()
    } else {
        base.to_string()
    }
}

fn array_type(base: &str) -> String {
    let n = item_name(base);
    let mut c = n.chars();
    match c.next() {
        Some(f) => format!("ArrayOf{}{}", f.to_ascii_uppercase(), c.as_str()),
        None => "ArrayOfAnyType".into(),
    }
}

/// The `xsi:type` of a scalar given the declared type.
fn scalar_type<'a>(ti: &TypeInfo, declared: &'a str, v: &Value) -> &'a str {
    let natural = match v {
        Value::Str(_) => "xsd:string",
        Value::Int(_) => "xsd:int",
        Value::Bool(_) => "xsd:boolean",
        Value::Date(_) => "xsd:dateTime",
        _ => "xsd:anyType",
    };
    let primitive = declared.starts_with("xsd:") && declared != "xsd:anyType";
    if primitive || (matches!(v, Value::Str(_)) && ti.is_enum(declared)) {
        declared
    } else {
        natural
    }
}

/// Writes a value as a top-level element (a `returnval`, a property's
/// `val`): arrays become one `ArrayOfX` element with items inside.
pub fn write_top(out: &mut String, tag: &str, declared: &str, v: &Value) {
    let ti = types();
    let base = declared.strip_suffix("[]").unwrap_or(declared);
    match v {
        Value::Array(items) => {
            let item = item_name(base);
            let _ = write!(out, "<{tag} xsi:type=\"{}\">", array_type(base));
            for i in items {
                write_elem(ti, out, &item, base, i);
            }
            let _ = write!(out, "</{tag}>");
        }
        _ => write_elem(ti, out, tag, base, v),
    }
}

/// Writes one element; inside data objects arrays repeat the field's
/// element.
pub fn write_elem(ti: &TypeInfo, out: &mut String, tag: &str, declared: &str, v: &Value) {
    match v {
        // An array where the declared type is anyType (a task's result)
        // needs its `ArrayOfX` wrapper to say what it holds.
        Value::Array(items) if declared == "xsd:anyType" => {
            let base = match items.first() {
                Some(Value::Data(d)) => d.ty.to_string(),
                Some(Value::MoRef(_)) => "mor:ManagedObject".into(),
                Some(Value::Int(_)) => "xsd:int".into(),
                Some(Value::Bool(_)) => "xsd:boolean".into(),
                _ => "xsd:string".into(),
            };
            write_top(out, tag, &base, v);
        }
        Value::Array(items) => {
            for i in items {
                write_elem(ti, out, tag, declared, i);
            }
        }
        Value::MoRef(m) => write_moref(out, tag, m),
        Value::Data(d) => write_data(ti, out, tag, d),
        Value::Str(s) => {
            let t = scalar_type(ti, declared, v);
            push_all(
                out,
                &[
                    "<",
                    tag,
                    " xsi:type=\"",
                    t,
                    "\">",
                    &escape_text(s),
                    "</",
                    tag,
                    ">",
                ],
            );
        }
        Value::Int(n) => {
            let t = scalar_type(ti, declared, v);
            let _ = write!(out, "<{tag} xsi:type=\"{t}\">{n}</{tag}>");
        }
        Value::Bool(b) => {
            let _ = write!(out, "<{tag} xsi:type=\"xsd:boolean\">{b}</{tag}>");
        }
        Value::Date(t) => {
            let _ = write!(
                out,
                "<{tag} xsi:type=\"xsd:dateTime\">{}</{tag}>",
                datetime(*t)
            );
        }
    }
}

/// Appends pieces in order: the writers of the elements every property
/// read is made of use this rather than `write!`, whose formatting
/// machinery showed in the per-request cost.
pub fn push_all(out: &mut String, parts: &[&str]) {
    for p in parts {
        out.push_str(p);
    }
}

/// A `ManagedObjectReference` element.
pub fn write_moref(out: &mut String, tag: &str, m: &MoRef) {
    push_all(
        out,
        &[
            "<",
            tag,
            " type=\"",
            &escape_attr(&m.ty),
            "\" xsi:type=\"ManagedObjectReference\">",
            &escape_text(&m.id),
            "</",
            tag,
            ">",
        ],
    );
}

fn write_data(ti: &TypeInfo, out: &mut String, tag: &str, d: &Data) {
    let _ = write!(out, "<{tag} xsi:type=\"{}\">", d.ty);
    match ti.fields(d.ty) {
        Some(fields) => {
            for f in fields {
                match d.get(f.name) {
                    Some(v) => write_elem(ti, out, f.name, f.base(), v),
                    None if !f.optional => {
                        tracing::debug!(ty = d.ty, field = %f.name, "required field unset")
                    }
                    None => {}
                }
            }
            if cfg!(debug_assertions) {
                for (n, _) in &d.fields {
                    debug_assert!(
                        fields.iter().any(|f| f.name == *n),
                        "{}.{n} is not in the type description",
                        d.ty
                    );
                }
            }
        }
        None => {
            // A type the description lacks (a fault base): fields as given.
            for (n, v) in &d.fields {
                write_elem(ti, out, n, "xsd:anyType", v);
            }
        }
    }
    let _ = write!(out, "</{tag}>");
}

// ---- reading request values -------------------------------------------

/// A managed object reference element (`<_this type="X">id</_this>`).
pub fn read_moref(e: &Element) -> Option<MoRef> {
    let ty = e.attr("type")?;
    let id = e.text_trim();
    if ty.is_empty() || id.is_empty() {
        return None;
    }
    Some(MoRef::new(ty, id))
}

/// Child elements by local name, whatever their namespace (vim25 bodies
/// come in `urn:vim25` or `urn:internalvim25`).
pub fn children<'a>(e: &'a Element, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
    e.children.iter().filter(move |c| c.name == name)
}

pub fn child<'a>(e: &'a Element, name: &str) -> Option<&'a Element> {
    e.children.iter().find(|c| c.name == name)
}

pub fn child_text<'a>(e: &'a Element, name: &str) -> Option<&'a str> {
    child(e, name).map(|c| c.text_trim())
}

pub fn child_bool(e: &Element, name: &str) -> Option<bool> {
    child_text(e, name).map(|t| t == "true" || t == "1")
}

/// The `xsi:type` of an element (local part).
pub fn xsi_type(e: &Element) -> Option<&str> {
    e.attrs
        .iter()
        .find(|(ns, n, _)| ns == fakedc_xml::ns::XSI && n == "type")
        .map(|(_, _, v)| v.rsplit(':').next().unwrap_or(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_objects_follow_the_description() {
        let d = Data::new("VirtualMachineRuntimeInfo")
            .with("powerState", "poweredOn")
            .with("connectionState", "connected")
            .with("maxMemoryUsage", 4096i64)
            .with("host", MoRef::new("HostSystem", "host-1"));
        let mut out = String::new();
        write_top(
            &mut out,
            "val",
            "VirtualMachineRuntimeInfo",
            &Value::Data(d),
        );
        assert_eq!(
            out,
            "<val xsi:type=\"VirtualMachineRuntimeInfo\">\
             <host type=\"HostSystem\" xsi:type=\"ManagedObjectReference\">host-1</host>\
             <connectionState xsi:type=\"VirtualMachineConnectionState\">connected</connectionState>\
             <powerState xsi:type=\"VirtualMachinePowerState\">poweredOn</powerState>\
             <maxMemoryUsage xsi:type=\"xsd:int\">4096</maxMemoryUsage></val>"
        );
        let mut out = String::new();
        write_top(
            &mut out,
            "returnval",
            "mor:ManagedEntity[]",
            &Value::Array(vec![Value::MoRef(MoRef::new("VirtualMachine", "vm-1"))]),
        );
        assert_eq!(
            out,
            "<returnval xsi:type=\"ArrayOfManagedObjectReference\">\
             <ManagedObjectReference type=\"VirtualMachine\" xsi:type=\"ManagedObjectReference\">vm-1</ManagedObjectReference></returnval>"
        );
        let mut out = String::new();
        write_top(&mut out, "val", "xsd:long", &Value::Int(5));
        assert_eq!(out, "<val xsi:type=\"xsd:long\">5</val>");
        assert_eq!(datetime(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
    }
}
