//! Sans-IO CIM-XML (DMTF DSP0201 encoding, DSP0200 operations): the
//! request decoder a CIM client's `<CIM><MESSAGE><SIMPLEREQ>` goes
//! through, and the writers for the answers (instances, names, paths,
//! `ERROR`).
//!
//! The XML is read by `fakedc-xml`'s bounded tree: a DOCTYPE (so any
//! entity declaration) is refused before anything is expanded, and depth,
//! element and attribute counts are capped. Everything a peer sends is
//! checked here; nothing indexes without a check.

use fakedc_xml::{escape_attr, escape_text};
use fakedc_xml::{Element, Limits, XmlError};
use std::fmt::Write as _;

/// Largest request body read (a CIM client's biggest request is a
/// method call with a few arrays; 4 MiB is far beyond it).
pub const MAX_BODY: usize = 4 << 20;
/// Most items in one VALUE.ARRAY or reference array.
pub const MAX_ARRAY: usize = 10_000;
/// Longest MESSAGE ID echoed back.
const MAX_ID: usize = 64;

/// Tree limits for a CIM-XML request.
pub fn limits() -> Limits {
    Limits {
        max_depth: 32,
        max_elements: 50_000,
        max_attributes: 16,
    }
}

/// A CIM object path: namespace (if given), class, keys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectPath {
    pub namespace: Option<String>,
    pub class: String,
    pub keys: Vec<(String, Key)>,
}

/// A key binding's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// Text with its VALUETYPE (`string`, `numeric`, `boolean`).
    Value(String, &'static str),
    Ref(Box<ObjectPath>),
}

impl ObjectPath {
    pub fn new(namespace: &str, class: &str) -> ObjectPath {
        ObjectPath {
            namespace: Some(namespace.to_string()),
            class: class.to_string(),
            keys: Vec::new(),
        }
    }

    pub fn key(&self, name: &str) -> Option<&str> {
        self.keys.iter().find_map(|(k, v)| match v {
            Key::Value(s, _) if k.eq_ignore_ascii_case(name) => Some(s.as_str()),
            _ => None,
        })
    }

    /// Same object: class and key names compared without case, values
    /// exactly, namespaces only when both carry one.
    pub fn same(&self, other: &ObjectPath) -> bool {
        if let (Some(a), Some(b)) = (&self.namespace, &other.namespace) {
            if !a
                .trim_matches('/')
                .eq_ignore_ascii_case(b.trim_matches('/'))
            {
                return false;
            }
        }
        self.class.eq_ignore_ascii_case(&other.class)
            && self.keys.len() == other.keys.len()
            && self.keys.iter().all(|(k, v)| {
                other.keys.iter().any(|(k2, v2)| {
                    k.eq_ignore_ascii_case(k2)
                        && match (v, v2) {
                            (Key::Value(a, _), Key::Value(b, _)) => a == b,
                            (Key::Ref(a), Key::Ref(b)) => a.same(b),
                            _ => false,
                        }
                })
            })
    }
}

/// An input parameter (IPARAMVALUE or PARAMVALUE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    Null,
    Value(String),
    Array(Vec<String>),
    Ref(ObjectPath),
    RefArray(Vec<ObjectPath>),
    ClassName(String),
    InstanceName(ObjectPath),
    /// Anything else (an INSTANCE, a CLASS): not used by what is served.
    Other(String),
}

impl Param {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Param::Value(s) | Param::ClassName(s) => Some(s),
            _ => None,
        }
    }
}

/// The call of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// IMETHODCALL: an intrinsic operation in a namespace.
    Intrinsic {
        name: String,
        namespace: String,
        params: Vec<(String, Param)>,
    },
    /// METHODCALL: an extrinsic method on an instance or class path.
    Extrinsic {
        name: String,
        target: ObjectPath,
        params: Vec<(String, Param)>,
    },
}

impl Call {
    pub fn name(&self) -> &str {
        match self {
            Call::Intrinsic { name, .. } | Call::Extrinsic { name, .. } => name,
        }
    }

    pub fn param(&self, name: &str) -> Option<&Param> {
        let params = match self {
            Call::Intrinsic { params, .. } | Call::Extrinsic { params, .. } => params,
        };
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, p)| p)
    }
}

/// A decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub message_id: String,
    pub call: Call,
}

/// Why a request was refused before any operation ran; each maps to the
/// DSP0200 `CIMError` header of a 400 (or 501) answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("request-not-well-formed: {0}")]
    Xml(#[from] XmlError),
    #[error("request-not-valid: {0}")]
    Invalid(String),
    #[error("multiple-requests-unsupported")]
    MultiReq,
}

impl DecodeError {
    /// The `CIMError` header value and HTTP status.
    pub fn header(&self) -> (&'static str, u16) {
        match self {
            DecodeError::Xml(_) => ("request-not-well-formed", 400),
            DecodeError::Invalid(_) => ("request-not-valid", 400),
            DecodeError::MultiReq => ("multiple-requests-unsupported", 501),
        }
    }
}

fn invalid(s: impl Into<String>) -> DecodeError {
    DecodeError::Invalid(s.into())
}

fn child<'a>(e: &'a Element, name: &str) -> Option<&'a Element> {
    e.children.iter().find(|c| c.name == name)
}

fn need<'a>(e: &'a Element, name: &str) -> Result<&'a Element, DecodeError> {
    child(e, name).ok_or_else(|| invalid(format!("{} without {name}", e.name)))
}

fn attr<'a>(e: &'a Element, name: &str) -> Result<&'a str, DecodeError> {
    e.attr(name)
        .ok_or_else(|| invalid(format!("{} without {name} attribute", e.name)))
}

/// Decodes a request body.
pub fn decode(body: &[u8]) -> Result<Request, DecodeError> {
    let root = fakedc_xml::parse(body, &limits())?;
    if root.name != "CIM" {
        return Err(invalid(format!("root element {} is not CIM", root.name)));
    }
    let msg = need(&root, "MESSAGE")?;
    let id = attr(msg, "ID")?;
    if id.is_empty() || id.len() > MAX_ID {
        return Err(invalid("MESSAGE ID must be 1..=64 characters"));
    }
    if child(msg, "MULTIREQ").is_some() {
        return Err(DecodeError::MultiReq);
    }
    let req = child(msg, "SIMPLEREQ").ok_or_else(|| invalid("MESSAGE without SIMPLEREQ"))?;
    let call = if let Some(m) = child(req, "IMETHODCALL") {
        let ns = namespace(need(m, "LOCALNAMESPACEPATH")?)?;
        Call::Intrinsic {
            name: attr(m, "NAME")?.to_string(),
            namespace: ns,
            params: params(m, "IPARAMVALUE")?,
        }
    } else if let Some(m) = child(req, "METHODCALL") {
        let target = if let Some(p) = child(m, "LOCALINSTANCEPATH") {
            let mut path = instance_name(need(p, "INSTANCENAME")?)?;
            path.namespace = Some(namespace(need(p, "LOCALNAMESPACEPATH")?)?);
            path
        } else if let Some(p) = child(m, "LOCALCLASSPATH") {
            let ns = namespace(need(p, "LOCALNAMESPACEPATH")?)?;
            ObjectPath::new(&ns, attr(need(p, "CLASSNAME")?, "NAME")?)
        } else {
            return Err(invalid(
                "METHODCALL without LOCALINSTANCEPATH or LOCALCLASSPATH",
            ));
        };
        Call::Extrinsic {
            name: attr(m, "NAME")?.to_string(),
            target,
            params: params(m, "PARAMVALUE")?,
        }
    } else {
        return Err(invalid("SIMPLEREQ without IMETHODCALL or METHODCALL"));
    };
    if call.name().is_empty() || call.name().len() > 128 {
        return Err(invalid("method NAME must be 1..=128 characters"));
    }
    Ok(Request {
        message_id: id.to_string(),
        call,
    })
}

fn namespace(e: &Element) -> Result<String, DecodeError> {
    let parts: Vec<&str> = e
        .children
        .iter()
        .filter(|c| c.name == "NAMESPACE")
        .map(|c| c.attr("NAME").unwrap_or_default())
        .collect();
    if parts.is_empty() || parts.iter().any(|p| p.is_empty()) {
        return Err(invalid("empty namespace"));
    }
    Ok(parts.join("/"))
}

fn params(m: &Element, tag: &str) -> Result<Vec<(String, Param)>, DecodeError> {
    let mut out = Vec::new();
    for p in m.children.iter().filter(|c| c.name == tag) {
        out.push((attr(p, "NAME")?.to_string(), param(p)?));
    }
    Ok(out)
}

fn param(p: &Element) -> Result<Param, DecodeError> {
    let Some(c) = p.children.first() else {
        return Ok(Param::Null);
    };
    Ok(match c.name.as_ref() {
        "VALUE" => Param::Value(c.text.clone()),
        "VALUE.ARRAY" => {
            if c.children.len() > MAX_ARRAY {
                return Err(invalid("array too long"));
            }
            Param::Array(
                c.children
                    .iter()
                    .filter(|v| v.name == "VALUE")
                    .map(|v| v.text.clone())
                    .collect(),
            )
        }
        "VALUE.REFERENCE" => Param::Ref(reference(c)?),
        "VALUE.REFARRAY" => {
            if c.children.len() > MAX_ARRAY {
                return Err(invalid("array too long"));
            }
            Param::RefArray(
                c.children
                    .iter()
                    .filter(|v| v.name == "VALUE.REFERENCE")
                    .map(reference)
                    .collect::<Result<_, _>>()?,
            )
        }
        "CLASSNAME" => Param::ClassName(attr(c, "NAME")?.to_string()),
        "INSTANCENAME" => Param::InstanceName(instance_name(c)?),
        other => Param::Other(other.to_string()),
    })
}

/// VALUE.REFERENCE: INSTANCEPATH, LOCALINSTANCEPATH, INSTANCENAME or a
/// class path.
fn reference(v: &Element) -> Result<ObjectPath, DecodeError> {
    let c = v
        .children
        .first()
        .ok_or_else(|| invalid("empty VALUE.REFERENCE"))?;
    match c.name.as_ref() {
        "INSTANCEPATH" => {
            let nsp = need(c, "NAMESPACEPATH")?;
            let mut p = instance_name(need(c, "INSTANCENAME")?)?;
            p.namespace = Some(namespace(need(nsp, "LOCALNAMESPACEPATH")?)?);
            Ok(p)
        }
        "LOCALINSTANCEPATH" => {
            let mut p = instance_name(need(c, "INSTANCENAME")?)?;
            p.namespace = Some(namespace(need(c, "LOCALNAMESPACEPATH")?)?);
            Ok(p)
        }
        "INSTANCENAME" => instance_name(c),
        "CLASSNAME" => Ok(ObjectPath {
            namespace: None,
            class: attr(c, "NAME")?.to_string(),
            keys: Vec::new(),
        }),
        other => Err(invalid(format!("{other} in VALUE.REFERENCE"))),
    }
}

fn instance_name(e: &Element) -> Result<ObjectPath, DecodeError> {
    let class = attr(e, "CLASSNAME")?.to_string();
    let mut keys = Vec::new();
    for kb in e.children.iter().filter(|c| c.name == "KEYBINDING") {
        let name = attr(kb, "NAME")?.to_string();
        let v = kb
            .children
            .first()
            .ok_or_else(|| invalid("empty KEYBINDING"))?;
        let key = match v.name.as_ref() {
            "KEYVALUE" => Key::Value(
                v.text.clone(),
                match v.attr("VALUETYPE").unwrap_or("string") {
                    "numeric" => "numeric",
                    "boolean" => "boolean",
                    _ => "string",
                },
            ),
            "VALUE.REFERENCE" => Key::Ref(Box::new(reference(v)?)),
            other => return Err(invalid(format!("{other} in KEYBINDING"))),
        };
        keys.push((name, key));
    }
    // A single unnamed KEYVALUE directly under INSTANCENAME is allowed by
    // the DTD for single-key classes; its key name is not known here.
    if keys.is_empty() {
        if let Some(v) = child(e, "KEYVALUE") {
            keys.push((String::new(), Key::Value(v.text.clone(), "string")));
        }
    }
    Ok(ObjectPath {
        namespace: None,
        class,
        keys,
    })
}

// ---- writing ----

/// A property value on the way out.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Scalar(String),
    Array(Vec<String>),
    Ref(ObjectPath),
}

pub fn write_localnamespace(out: &mut String, ns: &str) {
    out.push_str("<LOCALNAMESPACEPATH>");
    for p in ns.split('/').filter(|p| !p.is_empty()) {
        let _ = write!(out, "<NAMESPACE NAME=\"{}\"/>", escape_attr(p));
    }
    out.push_str("</LOCALNAMESPACEPATH>");
}

pub fn write_instance_name(out: &mut String, p: &ObjectPath, host: &str) {
    let _ = write!(
        out,
        "<INSTANCENAME CLASSNAME=\"{}\">",
        escape_attr(&p.class)
    );
    for (k, v) in &p.keys {
        let _ = write!(out, "<KEYBINDING NAME=\"{}\">", escape_attr(k));
        match v {
            Key::Value(s, t) => {
                let _ = write!(
                    out,
                    "<KEYVALUE VALUETYPE=\"{t}\">{}</KEYVALUE>",
                    escape_text(s)
                );
            }
            Key::Ref(r) => {
                out.push_str("<VALUE.REFERENCE>");
                write_instance_path(out, r, host);
                out.push_str("</VALUE.REFERENCE>");
            }
        }
        out.push_str("</KEYBINDING>");
    }
    out.push_str("</INSTANCENAME>");
}

/// INSTANCEPATH (host + namespace + name); a path without namespace is
/// written as a bare INSTANCENAME.
pub fn write_instance_path(out: &mut String, p: &ObjectPath, host: &str) {
    match &p.namespace {
        Some(ns) => {
            let _ = write!(
                out,
                "<INSTANCEPATH><NAMESPACEPATH><HOST>{}</HOST>",
                escape_text(host)
            );
            write_localnamespace(out, ns);
            out.push_str("</NAMESPACEPATH>");
            write_instance_name(out, p, host);
            out.push_str("</INSTANCEPATH>");
        }
        None => write_instance_name(out, p, host),
    }
}

/// One PROPERTY / PROPERTY.ARRAY / PROPERTY.REFERENCE.
pub fn write_property(out: &mut String, name: &str, ty: &str, v: &Val, host: &str) {
    match v {
        Val::Ref(r) => {
            let _ = write!(
                out,
                "<PROPERTY.REFERENCE NAME=\"{}\" REFERENCECLASS=\"{}\"><VALUE.REFERENCE>",
                escape_attr(name),
                escape_attr(&r.class)
            );
            write_instance_path(out, r, host);
            out.push_str("</VALUE.REFERENCE></PROPERTY.REFERENCE>");
        }
        Val::Array(items) => {
            let _ = write!(
                out,
                "<PROPERTY.ARRAY NAME=\"{}\" TYPE=\"{ty}\"><VALUE.ARRAY>",
                escape_attr(name)
            );
            for i in items {
                let _ = write!(out, "<VALUE>{}</VALUE>", escape_text(i));
            }
            out.push_str("</VALUE.ARRAY></PROPERTY.ARRAY>");
        }
        Val::Scalar(s) => {
            let _ = write!(
                out,
                "<PROPERTY NAME=\"{}\" TYPE=\"{ty}\"><VALUE>{}</VALUE></PROPERTY>",
                escape_attr(name),
                escape_text(s)
            );
        }
        Val::Null => {
            let _ = write!(
                out,
                "<PROPERTY NAME=\"{}\" TYPE=\"{ty}\"/>",
                escape_attr(name)
            );
        }
    }
}

/// The envelope around one response body (`inner` is what goes inside
/// SIMPLERSP).
pub fn message(id: &str, inner: &str) -> String {
    let mut out = String::with_capacity(inner.len() + 200);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n");
    let _ = write!(
        out,
        "<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"><MESSAGE ID=\"{}\" PROTOCOLVERSION=\"1.0\"><SIMPLERSP>",
        escape_attr(id)
    );
    out.push_str(inner);
    out.push_str("</SIMPLERSP></MESSAGE></CIM>");
    out
}

/// An ERROR element (inside IMETHODRESPONSE or METHODRESPONSE).
pub fn error(code: u32, description: &str) -> String {
    format!(
        "<ERROR CODE=\"{code}\" DESCRIPTION=\"{}\"/>",
        escape_attr(description)
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// What pywbemcli 1.4 sends first (storage.md, verified capture).
    pub const OPEN_ENUM: &str = r#"<?xml version="1.0" encoding="utf-8" ?>
<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1001" PROTOCOLVERSION="1.0"><SIMPLEREQ><IMETHODCALL NAME="OpenEnumerateInstances"><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="interop"/></LOCALNAMESPACEPATH><IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="CIM_RegisteredProfile"/></IPARAMVALUE><IPARAMVALUE NAME="DeepInheritance"><VALUE>FALSE</VALUE></IPARAMVALUE><IPARAMVALUE NAME="MaxObjectCount"><VALUE>1000</VALUE></IPARAMVALUE></IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>"#;

    #[test]
    fn decodes_an_intrinsic_call() {
        let r = decode(OPEN_ENUM.as_bytes()).unwrap();
        assert_eq!(r.message_id, "1001");
        let Call::Intrinsic {
            name, namespace, ..
        } = &r.call
        else {
            panic!("not intrinsic")
        };
        assert_eq!(name, "OpenEnumerateInstances");
        assert_eq!(namespace, "root/interop");
        assert_eq!(
            r.call.param("classname"),
            Some(&Param::ClassName("CIM_RegisteredProfile".into()))
        );
    }

    #[test]
    fn decodes_a_method_call_with_references() {
        let x = r#"<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="7" PROTOCOLVERSION="1.0"><SIMPLEREQ><METHODCALL NAME="CreateOrModifyElementFromStoragePool"><LOCALINSTANCEPATH><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="cimv2"/></LOCALNAMESPACEPATH><INSTANCENAME CLASSNAME="CIM_StorageConfigurationService"><KEYBINDING NAME="Name"><KEYVALUE VALUETYPE="string">S</KEYVALUE></KEYBINDING></INSTANCENAME></LOCALINSTANCEPATH><PARAMVALUE NAME="Size" PARAMTYPE="uint64"><VALUE>1024</VALUE></PARAMVALUE><PARAMVALUE NAME="InPool" PARAMTYPE="reference"><VALUE.REFERENCE><INSTANCENAME CLASSNAME="CIM_StoragePool"><KEYBINDING NAME="InstanceID"><KEYVALUE>P</KEYVALUE></KEYBINDING></INSTANCENAME></VALUE.REFERENCE></PARAMVALUE><PARAMVALUE NAME="LUNames"><VALUE.ARRAY><VALUE>a</VALUE><VALUE>b</VALUE></VALUE.ARRAY></PARAMVALUE></METHODCALL></SIMPLEREQ></MESSAGE></CIM>"#;
        let r = decode(x.as_bytes()).unwrap();
        let Call::Extrinsic { target, .. } = &r.call else {
            panic!()
        };
        assert_eq!(target.namespace.as_deref(), Some("root/cimv2"));
        assert_eq!(target.key("name"), Some("S"));
        assert_eq!(r.call.param("Size"), Some(&Param::Value("1024".into())));
        let Some(Param::Ref(p)) = r.call.param("InPool") else {
            panic!()
        };
        assert_eq!(p.key("InstanceID"), Some("P"));
        assert_eq!(
            r.call.param("LUNames"),
            Some(&Param::Array(vec!["a".into(), "b".into()]))
        );
    }

    #[test]
    fn refuses_entities_and_garbage() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE CIM [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><CIM>&b;</CIM>"#;
        assert!(matches!(decode(bomb.as_bytes()), Err(DecodeError::Xml(_))));
        assert!(matches!(
            decode(b"<CIM><MESSAGE ID=\"1\"/></CIM>"),
            Err(DecodeError::Invalid(_))
        ));
        assert!(decode(b"\xff\xfe").is_err());
        assert_eq!(
            decode(b"<CIM><MESSAGE ID=\"1\"><MULTIREQ/></MESSAGE></CIM>"),
            Err(DecodeError::MultiReq)
        );
    }

    #[test]
    fn writes_paths_and_properties() {
        let mut p = ObjectPath::new("root/cimv2", "CIM_X");
        p.keys
            .push(("Name".into(), Key::Value("a<b".into(), "string")));
        let mut out = String::new();
        write_property(&mut out, "R", "reference", &Val::Ref(p.clone()), "h");
        assert!(out.contains("<NAMESPACE NAME=\"root\"/><NAMESPACE NAME=\"cimv2\"/>"));
        assert!(out.contains("a&lt;b"));
        assert!(p.same(&p.clone()));
    }
}
