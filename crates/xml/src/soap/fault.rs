//! SOAP faults, written in either version's shape and read back from both.

use super::{SoapError, Version};
use crate::{escape_text, ns, Element};

/// The fault codes both versions define (SOAP 1.2 §5.4.6; 1.1 §4.4.1 has
/// the same set under other names and without `DataEncodingUnknown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultCode {
    /// The root was not an envelope of a version the node speaks.
    VersionMismatch,
    /// A header block for us said mustUnderstand and was not understood.
    MustUnderstand,
    /// SOAP 1.2 only; written as `Client` in 1.1, which has no such code.
    DataEncodingUnknown,
    /// The message was wrong (1.1 `Client`): resending it will fail again.
    Sender,
    /// The receiver failed (1.1 `Server`): the same message may work later.
    Receiver,
}

impl FaultCode {
    /// The code's local name in `version` (the prefix is the envelope's).
    pub fn local_name(self, version: Version) -> &'static str {
        match (self, version) {
            (FaultCode::VersionMismatch, _) => "VersionMismatch",
            (FaultCode::MustUnderstand, _) => "MustUnderstand",
            (FaultCode::DataEncodingUnknown, Version::Soap12) => "DataEncodingUnknown",
            (FaultCode::Sender, Version::Soap12) => "Sender",
            (FaultCode::Receiver, Version::Soap12) => "Receiver",
            (FaultCode::DataEncodingUnknown | FaultCode::Sender, Version::Soap11) => "Client",
            (FaultCode::Receiver, Version::Soap11) => "Server",
        }
    }

    /// The code a local name stands for, in either version's spelling.
    pub fn from_local_name(name: &str) -> Option<FaultCode> {
        Some(match name {
            "VersionMismatch" => FaultCode::VersionMismatch,
            "MustUnderstand" => FaultCode::MustUnderstand,
            "DataEncodingUnknown" => FaultCode::DataEncodingUnknown,
            "Sender" | "Client" => FaultCode::Sender,
            "Receiver" | "Server" => FaultCode::Receiver,
            _ => return None,
        })
    }
}

/// A fault, independent of the version it is written in.
///
/// Codes are QNames written as text (`w:TimedOut`); the tree does not keep
/// prefix bindings, so the writer's caller declares the prefixes its
/// subcodes use (on the envelope, [`super::EnvelopeWriter::with`]) and the
/// reader keeps them as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: FaultCode,
    /// SOAP 1.2 subcodes, outermost first (each nests in the previous).
    /// SOAP 1.1 has none: a 1.1 writer drops them; see `code_11`.
    pub subcodes: Vec<String>,
    /// What a SOAP 1.1 `faultcode` says instead of the envelope's own code,
    /// as services put their specific code there (vim25 `ServerFaultCode`,
    /// WCF `a:ActionNotSupported`, dotted `s:Client.Authentication`).
    /// Ignored by the 1.2 writer.
    pub code_11: Option<String>,
    /// The human-readable reason (1.2 `Reason/Text`, 1.1 `faultstring`).
    pub reason: String,
    /// The reason's `xml:lang` (required in 1.2; written in 1.1 too, where
    /// it is allowed). Empty: not written.
    pub lang: String,
    /// SOAP 1.2 `Node`: which node failed. 1.1 has no place for it.
    pub node: Option<String>,
    /// SOAP 1.2 `Role`, 1.1 `faultactor`: the role the node was acting in.
    pub role: Option<String>,
    /// The detail element's content, as XML written verbatim: the caller
    /// builds it, escaping what it puts in, and declares what it prefixes.
    /// `Some("")` writes an empty detail element, `None` none.
    pub detail: Option<String>,
}

impl Fault {
    /// A fault with a reason in `en-US`, as Windows and vCenter send them.
    pub fn new(code: FaultCode, reason: impl Into<String>) -> Fault {
        Fault {
            code,
            subcodes: Vec::new(),
            code_11: None,
            reason: reason.into(),
            lang: "en-US".into(),
            node: None,
            role: None,
            detail: None,
        }
    }

    pub fn sender(reason: impl Into<String>) -> Fault {
        Fault::new(FaultCode::Sender, reason)
    }

    pub fn receiver(reason: impl Into<String>) -> Fault {
        Fault::new(FaultCode::Receiver, reason)
    }

    /// Appends a (SOAP 1.2) subcode, nested inside those already there.
    pub fn with_subcode(mut self, qname: impl Into<String>) -> Fault {
        self.subcodes.push(qname.into());
        self
    }

    pub fn with_code_11(mut self, qname: impl Into<String>) -> Fault {
        self.code_11 = Some(qname.into());
        self
    }

    pub fn with_detail(mut self, xml: impl Into<String>) -> Fault {
        self.detail = Some(xml.into());
        self
    }

    /// Writes `<{prefix}:Fault>…</{prefix}:Fault>` in `version`'s shape;
    /// `prefix` must be bound to `version`'s envelope namespace.
    pub fn write(&self, version: Version, prefix: &str, out: &mut String) {
        let tag = |out: &mut String, close: bool, name: &str| {
            out.push('<');
            if close {
                out.push('/');
            }
            out.push_str(prefix);
            out.push(':');
            out.push_str(name);
            out.push('>');
        };
        tag(out, false, "Fault");
        match version {
            Version::Soap12 => self.write_12(prefix, out, &tag),
            Version::Soap11 => self.write_11(prefix, out),
        }
        tag(out, true, "Fault");
    }

    fn write_12(&self, prefix: &str, out: &mut String, tag: &dyn Fn(&mut String, bool, &str)) {
        tag(out, false, "Code");
        tag(out, false, "Value");
        out.push_str(prefix);
        out.push(':');
        out.push_str(self.code.local_name(Version::Soap12));
        tag(out, true, "Value");
        for sub in &self.subcodes {
            tag(out, false, "Subcode");
            tag(out, false, "Value");
            out.push_str(&escape_text(sub));
            tag(out, true, "Value");
        }
        for _ in &self.subcodes {
            tag(out, true, "Subcode");
        }
        tag(out, true, "Code");
        tag(out, false, "Reason");
        out.push('<');
        out.push_str(prefix);
        out.push_str(":Text");
        push_lang(out, &self.lang);
        out.push('>');
        out.push_str(&escape_text(&self.reason));
        tag(out, true, "Text");
        tag(out, true, "Reason");
        for (name, value) in [("Node", &self.node), ("Role", &self.role)] {
            if let Some(v) = value {
                tag(out, false, name);
                out.push_str(&escape_text(v));
                tag(out, true, name);
            }
        }
        if let Some(d) = &self.detail {
            tag(out, false, "Detail");
            out.push_str(d);
            tag(out, true, "Detail");
        }
    }

    /// SOAP 1.1's children are unqualified, as the 1.1 schema has them.
    fn write_11(&self, prefix: &str, out: &mut String) {
        out.push_str("<faultcode>");
        match &self.code_11 {
            Some(c) => out.push_str(&escape_text(c)),
            None => {
                out.push_str(prefix);
                out.push(':');
                out.push_str(self.code.local_name(Version::Soap11));
            }
        }
        out.push_str("</faultcode><faultstring");
        push_lang(out, &self.lang);
        out.push('>');
        out.push_str(&escape_text(&self.reason));
        out.push_str("</faultstring>");
        if let Some(r) = &self.role {
            out.push_str("<faultactor>");
            out.push_str(&escape_text(r));
            out.push_str("</faultactor>");
        }
        if let Some(d) = &self.detail {
            out.push_str("<detail>");
            out.push_str(d);
            out.push_str("</detail>");
        }
    }

    /// A whole envelope holding only this fault (prefix `s`, no headers).
    pub fn to_envelope(&self, version: Version) -> String {
        super::EnvelopeWriter::new(version).finish_fault(self)
    }

    /// Reads a `Fault` element of `version`. Codes are matched by local
    /// name, whatever their prefix (the tree does not keep bindings).
    /// SOAP 1.2 requires `Code/Value`; a reason may be missing (empty
    /// here). A SOAP 1.1 `faultcode` that is not one of the four standard
    /// codes is kept in `code_11`, with `code` taken from its first dotted
    /// part when that is standard (`Client.Auth` is `Sender`) and from a
    /// `Server`/`Client` prefix of the name (vim25's `ServerFaultCode`),
    /// else `Receiver`. The detail's children come back as
    /// [`Element::to_xml`] writes them: the same tree, not the same bytes.
    pub fn from_element(fault: &Element, version: Version) -> Result<Fault, SoapError> {
        match version {
            Version::Soap12 => Fault::from_12(fault),
            Version::Soap11 => Fault::from_11(fault),
        }
    }

    fn from_12(fault: &Element) -> Result<Fault, SoapError> {
        let env = ns::SOAP12;
        let code_el = fault
            .child(env, "Code")
            .ok_or(SoapError::Structure("a SOAP 1.2 Fault without a Code"))?;
        let value = code_el
            .child(env, "Value")
            .ok_or(SoapError::Structure("a fault Code without a Value"))?;
        let code = FaultCode::from_local_name(local(value.text_trim()))
            .filter(|c| c.local_name(Version::Soap12) == local(value.text_trim()))
            .ok_or(SoapError::Structure("not a SOAP 1.2 fault code"))?;
        let mut subcodes = Vec::new();
        let mut at = code_el;
        while let Some(sub) = at.child(env, "Subcode") {
            let v = sub
                .child(env, "Value")
                .ok_or(SoapError::Structure("a fault Subcode without a Value"))?;
            subcodes.push(v.text_trim().to_string());
            at = sub;
        }
        let text = fault
            .child(env, "Reason")
            .and_then(|r| r.child(env, "Text"));
        Ok(Fault {
            code,
            subcodes,
            code_11: None,
            reason: text.map(|t| t.text.clone()).unwrap_or_default(),
            lang: text.map(lang_of).unwrap_or_default(),
            node: fault.child(env, "Node").map(|e| e.text.clone()),
            role: fault.child(env, "Role").map(|e| e.text.clone()),
            detail: fault.child(env, "Detail").map(children_xml),
        })
    }

    fn from_11(fault: &Element) -> Result<Fault, SoapError> {
        // Unqualified as the schema says; some stacks qualify them with the
        // envelope namespace, which costs nothing to accept.
        let part = |name: &str| {
            fault
                .children
                .iter()
                .find(|c| c.name == name && (c.ns.is_empty() || c.ns == ns::SOAP11))
        };
        let faultcode = part("faultcode")
            .ok_or(SoapError::Structure("a SOAP 1.1 Fault without a faultcode"))?
            .text_trim();
        let name = local(faultcode);
        let (code, code_11) = match FaultCode::from_local_name(name) {
            Some(c) if faultcode.contains(':') && c.local_name(Version::Soap11) == name => {
                (c, None)
            }
            _ => {
                let first = name.split('.').next().unwrap_or(name);
                let code = FaultCode::from_local_name(first)
                    .filter(|c| c.local_name(Version::Soap11) == first)
                    .unwrap_or(if name.starts_with("Client") {
                        FaultCode::Sender
                    } else {
                        FaultCode::Receiver
                    });
                (code, Some(faultcode.to_string()))
            }
        };
        let string = part("faultstring");
        Ok(Fault {
            code,
            subcodes: Vec::new(),
            code_11,
            reason: string.map(|s| s.text.clone()).unwrap_or_default(),
            lang: string.map(lang_of).unwrap_or_default(),
            node: None,
            role: part("faultactor").map(|e| e.text.clone()),
            detail: part("detail").map(children_xml),
        })
    }
}

fn push_lang(out: &mut String, lang: &str) {
    if !lang.is_empty() {
        out.push_str(" xml:lang=\"");
        out.push_str(&crate::escape_attr(lang));
        out.push('"');
    }
}

/// The local part of a QName's text.
fn local(qname: &str) -> &str {
    qname.rsplit_once(':').map_or(qname, |(_, l)| l)
}

fn lang_of(e: &Element) -> String {
    e.attrs
        .iter()
        .find(|(ans, n, _)| ans == ns::XML && n == "lang")
        .map(|(_, _, v)| v.clone())
        .unwrap_or_default()
}

fn children_xml(e: &Element) -> String {
    let mut out = String::new();
    for c in &e.children {
        c.write_xml(&mut out);
    }
    out
}
