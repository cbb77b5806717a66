//! The resource-provider interface: how a role plugs CIM/WMI classes into the
//! engine. The engine owns the protocol (Get, Enumerate with filters and
//! Pull, Invoke, associations, faults, envelope limits); a provider only
//! lists instances from the shared model, runs methods on it and, if it has
//! any, names its associations. The Hyper-V host's WMI classes are one
//! provider; the BMC's SMASH profiles (DMTF CIM classes) are another.

use crate::fault::Fault;
use crate::message::{action, ns};
use crate::xml::{escape, Element};
use fakedc_model::{MachineId, Model, Privilege};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

/// A CIM property value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    /// Borrowed when the text is a literal (most of a Windows class's
    /// properties are): an instance is built per request, and allocating
    /// a copy of each constant was a share of every Get and Enumerate.
    Str(Cow<'static, str>),
    Int(i64),
    Bool(bool),
    /// An xs:dateTime (`2024-01-01T00:00:00Z`) or CIM interval.
    Datetime(String),
    Ref(EndpointRef),
    /// Arrays are repeated elements on the wire.
    Array(Vec<Value>),
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(Cow::Owned(s.into()))
    }

    /// A literal string value, not copied.
    pub const fn lit(s: &'static str) -> Value {
        Value::Str(Cow::Borrowed(s))
    }

    /// The text form used for WQL and selector comparisons.
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s.to_string()),
            Value::Datetime(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

/// An endpoint reference: a class's ResourceURI plus key selectors.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EndpointRef {
    pub resource_uri: String,
    pub selectors: Vec<(String, String)>,
}

impl EndpointRef {
    /// `a:Address` + `a:ReferenceParameters`, as the content of an element.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(256);
        self.write_xml(&mut out);
        out
    }

    /// [`EndpointRef::to_xml`] appended to `out` (no intermediate String).
    pub fn write_xml(&self, out: &mut String) {
        out.push_str("<a:Address>");
        out.push_str(action::ANONYMOUS);
        out.push_str("</a:Address><a:ReferenceParameters><w:ResourceURI>");
        out.push_str(&escape(&self.resource_uri));
        out.push_str("</w:ResourceURI><w:SelectorSet>");
        for (k, v) in &self.selectors {
            out.push_str(r#"<w:Selector Name=""#);
            out.push_str(&escape(k));
            out.push_str(r#"">"#);
            out.push_str(&escape(v));
            out.push_str("</w:Selector>");
        }
        out.push_str("</w:SelectorSet></a:ReferenceParameters>");
    }

    /// Reads an EPR from an element holding `a:ReferenceParameters` (or
    /// being it).
    pub fn from_element(e: &Element) -> Option<EndpointRef> {
        let rp = if e.is(ns::A, "ReferenceParameters") {
            e
        } else {
            e.find(ns::A, "ReferenceParameters")?
        };
        let uri = rp.child(ns::W, "ResourceURI")?.text_trim().to_string();
        let selectors = rp
            .child(ns::W, "SelectorSet")
            .map(|s| {
                s.children_named(ns::W, "Selector")
                    .map(|x| {
                        (
                            x.attr("Name").unwrap_or_default().to_string(),
                            x.text_trim().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(EndpointRef {
            resource_uri: uri,
            selectors,
        })
    }

    pub fn class_name(&self) -> &str {
        self.resource_uri
            .rsplit('/')
            .next()
            .unwrap_or(&self.resource_uri)
    }
}

/// One CIM instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub class: String,
    pub resource_uri: String,
    /// Key property names (selectors of the instance's EPR).
    pub keys: Vec<&'static str>,
    /// Property names are usually literals: borrowed, not copied.
    pub props: Vec<(Cow<'static, str>, Value)>,
}

impl Instance {
    pub fn new(resource_uri: &str, class: &str, keys: &[&'static str]) -> Instance {
        Instance {
            class: class.to_string(),
            resource_uri: resource_uri.to_string(),
            keys: keys.to_vec(),
            // Most classes have a dozen or more properties: one allocation
            // instead of a series of doublings.
            props: Vec::with_capacity(16),
        }
    }

    /// Adds a property (builder style).
    pub fn with(mut self, name: impl Into<Cow<'static, str>>, v: Value) -> Instance {
        self.props.push((name.into(), v));
        self
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.props
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The instance's endpoint reference (its key properties as selectors).
    pub fn epr(&self) -> EndpointRef {
        EndpointRef {
            resource_uri: self.resource_uri.clone(),
            selectors: self
                .keys
                .iter()
                .map(|k| {
                    (
                        k.to_string(),
                        self.get(k).and_then(|v| v.text()).unwrap_or_default(),
                    )
                })
                .collect(),
        }
    }

    /// Whether every selector names a property with that value (names
    /// compared case-insensitively, as WMI does; `__cimnamespace` ignored).
    pub fn matches(&self, selectors: &[(String, String)]) -> bool {
        selectors
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("__cimnamespace"))
            .all(|(n, v)| {
                self.get(n)
                    .and_then(|x| x.text())
                    .is_some_and(|x| x.eq_ignore_ascii_case(v))
            })
    }

    /// The instance as the `p:<Class>` element WinRM sends.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(256 + self.props.len() * 64);
        self.write_xml(&mut out);
        out
    }

    /// [`Instance::to_xml`] appended to `out`. Built with `push_str` rather
    /// than `write!`: this runs for every instance of every Get/Enumerate,
    /// and the formatting machinery showed up in profiles.
    pub fn write_xml(&self, out: &mut String) {
        let c = self.class.as_str();
        out.push_str("<p:");
        out.push_str(c);
        out.push_str(r#" xmlns:p=""#);
        out.push_str(&escape(&self.resource_uri));
        out.push_str(r#"" xmlns:cim=""#);
        out.push_str(ns::CIM);
        out.push_str(r#"" xsi:type="p:"#);
        out.push_str(c);
        out.push_str(r#"_Type" xml:lang="en-US">"#);
        write_props(out, &self.props);
        out.push_str("</p:");
        out.push_str(c);
        out.push('>');
    }
}

/// Writes properties as `p:` elements.
pub fn write_props<N: AsRef<str>>(out: &mut String, props: &[(N, Value)]) {
    for (n, v) in props {
        write_value(out, n.as_ref(), v);
    }
}

fn write_value(out: &mut String, n: &str, v: &Value) {
    let open = |out: &mut String| {
        out.push_str("<p:");
        out.push_str(n);
        out.push('>');
    };
    let close = |out: &mut String| {
        out.push_str("</p:");
        out.push_str(n);
        out.push('>');
    };
    match v {
        Value::Null => {
            out.push_str("<p:");
            out.push_str(n);
            out.push_str(r#" xsi:nil="true"/>"#);
        }
        Value::Str(s) => {
            open(out);
            out.push_str(&escape(s));
            close(out);
        }
        Value::Int(i) => {
            open(out);
            let _ = write!(out, "{i}");
            close(out);
        }
        Value::Bool(b) => {
            open(out);
            out.push_str(if *b { "true" } else { "false" });
            close(out);
        }
        Value::Datetime(d) => {
            open(out);
            out.push_str("<cim:Datetime>");
            out.push_str(&escape(d));
            out.push_str("</cim:Datetime>");
            close(out);
        }
        Value::Ref(r) => {
            open(out);
            r.write_xml(out);
            close(out);
        }
        Value::Array(items) => {
            for i in items {
                write_value(out, n, i);
            }
        }
    }
}

/// What a method returns: output parameters, `ReturnValue` last.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodOutput {
    pub params: Vec<(String, Value)>,
    pub return_value: i64,
}

/// An association between two instances (both ends as EPRs).
#[derive(Debug, Clone, PartialEq)]
pub struct Association {
    /// The association class (e.g. `CIM_ElementConformsToProfile`).
    pub class: String,
    pub resource_uri: String,
    /// (role name, reference) of each end.
    pub left: (String, EndpointRef),
    pub right: (String, EndpointRef),
}

/// What a provider knows about the caller.
pub struct Ctx<'a> {
    pub model: &'a Arc<Model>,
    pub machine: MachineId,
    /// The authenticated user (None only for anonymous Identify, which never
    /// reaches a provider).
    pub user: &'a str,
    pub privilege: Privilege,
    pub now: Instant,
}

/// A set of CIM classes under one ResourceURI prefix.
///
/// Default methods refuse, so a read-only provider implements two methods.
pub trait ResourceProvider: Send + Sync + 'static {
    /// ResourceURI prefix that, followed by a class name, names a class
    /// (`http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/`).
    fn uri_prefix(&self) -> &str;

    /// The CIM namespace (`root/cimv2`), matched against `__cimnamespace`
    /// selectors when a client sends one.
    fn cim_namespace(&self) -> &str;

    /// Class names served.
    fn classes(&self) -> &[&'static str];

    /// Every instance of a class, read from the model now.
    fn instances(&self, ctx: &Ctx<'_>, class: &str) -> Result<Vec<Instance>, Fault>;

    /// Runs a method on an instance (or on the class when `target` is None).
    fn invoke(
        &self,
        ctx: &Ctx<'_>,
        class: &str,
        method: &str,
        target: Option<&Instance>,
        input: &Element,
    ) -> Result<MethodOutput, Fault> {
        let _ = (ctx, target, input);
        Err(Fault::action_not_supported(&format!(
            "{}{class}/{method}",
            self.uri_prefix()
        )))
    }

    /// Changes properties of an instance (transfer Put).
    fn put(
        &self,
        ctx: &Ctx<'_>,
        class: &str,
        target: &Instance,
        body: &Element,
    ) -> Result<Instance, Fault> {
        let _ = (ctx, target, body);
        Err(Fault::action_not_supported(&format!(
            "{}/Put on {class}",
            self.uri_prefix()
        )))
    }

    /// Associations this provider knows about, for association filters.
    fn associations(&self, ctx: &Ctx<'_>) -> Vec<Association> {
        let _ = ctx;
        Vec::new()
    }

    /// Whether `class` is `filter` or one of its subclasses, for the class
    /// names of association filters (DSP0227 §8.2: a ResultClassName of
    /// CIM_LogicalDevice selects processors, memory and sensors alike).
    /// Providers that know their schema's hierarchy override it.
    fn is_a(&self, class: &str, filter: &str) -> bool {
        class.eq_ignore_ascii_case(filter)
    }
}

/// Reads a method input parameter by local name.
pub fn param<'a>(input: &'a Element, name: &str) -> Option<&'a str> {
    input
        .children
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
        .map(|c| c.text_trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_renders_and_matches() {
        let i = Instance::new("urn:x/Win32_Service", "Win32_Service", &["Name"])
            .with("Name", Value::str("WinRM"))
            .with("Started", Value::Bool(true))
            .with("Desc", Value::Null)
            .with("List", Value::Array(vec![Value::Int(1), Value::Int(2)]));
        assert!(i.matches(&[("name".into(), "winrm".into())]));
        assert!(!i.matches(&[("Name".into(), "Spooler".into())]));
        let xml = i.to_xml();
        assert!(xml.contains("<p:List>1</p:List><p:List>2</p:List>"));
        assert!(xml.contains(r#"<p:Desc xsi:nil="true"/>"#));
        assert_eq!(i.epr().selectors, vec![("Name".into(), "WinRM".into())]);
    }
}
