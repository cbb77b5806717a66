//! vim25 over SOAP 1.1, sans-IO: a request body in, the method, `_this`
//! and parameters out; a response or a vSphere fault out as bytes.
//!
//! Methods are matched by local name in `urn:vim25` or `urn:internalvim25`
//! (pyvmomi and govmomi use the first, some VMware tools the second).
//! Parsing goes through `fakedc-xml`, which refuses DTDs (so no entity is
//! ever expanded) and bounds depth, element and attribute counts.

use crate::value::{read_moref, write_top, MoRef, Value};
use fakedc_xml::soap::{self, Version};
use fakedc_xml::{escape_attr, escape_text, Element, Limits, Vocabulary};
use std::fmt::Write as _;

pub const VIM25: &str = "urn:vim25";
pub const INTERNAL: &str = "urn:internalvim25";

/// Largest request body accepted (vCenter's own limit is larger; a
/// property filter with thousands of object specs fits easily).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// Parser limits: vim25 requests are shallow but may list many objects.
pub const LIMITS: Limits = Limits {
    max_depth: 48,
    max_elements: 100_000,
    max_attributes: 32,
};

/// The vim25 namespaces and the element names the common calls are made
/// of (what pyvmomi and govmomi send for service content, login, property
/// reads and updates), shared by the parser instead of allocated per
/// element: the namespace alone was copied for every element of a request.
pub const VOCABULARY: Vocabulary = Vocabulary {
    namespaces: &[VIM25, INTERNAL],
    names: &[
        "_this",
        "RetrieveServiceContent",
        "RetrievePropertiesEx",
        "RetrieveProperties",
        "ContinueRetrievePropertiesEx",
        "WaitForUpdatesEx",
        "CreateFilter",
        "CreateContainerView",
        "Login",
        "Fetch",
        "specSet",
        "spec",
        "propSet",
        "pathSet",
        "all",
        "objectSet",
        "obj",
        "skip",
        "selectSet",
        "name",
        "path",
        "options",
        "maxObjects",
        "token",
        "version",
        "maxWaitSeconds",
        "maxObjectUpdates",
        "partialUpdates",
        "container",
        "recursive",
        "userName",
        "password",
        "locale",
        "prop",
    ],
};

/// One decoded call.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub this: MoRef,
    /// The method element: parameters are its children (by local name).
    pub body: Element,
}

/// vSphere's faults: the `xsi:type` of the detail, the message, and the
/// detail's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct VimFault {
    pub kind: &'static str,
    pub msg: String,
    pub fields: Vec<(&'static str, Value)>,
    /// `Client` for malformed requests (SOAP's own), `ServerFaultCode`
    /// for vim faults, as vCenter answers.
    pub client: bool,
}

impl VimFault {
    pub fn new(kind: &'static str, msg: impl Into<String>) -> VimFault {
        VimFault {
            kind,
            msg: msg.into(),
            fields: Vec::new(),
            client: false,
        }
    }

    pub fn with(mut self, name: &'static str, v: impl Into<Value>) -> VimFault {
        self.fields.push((name, v.into()));
        self
    }

    pub fn invalid_login() -> VimFault {
        VimFault::new(
            "InvalidLogin",
            "Cannot complete login due to an incorrect user name or password.",
        )
    }

    pub fn not_authenticated(obj: &MoRef) -> VimFault {
        VimFault::new("NotAuthenticated", "The session is not authenticated.")
            .with("object", obj.clone())
            .with("privilegeId", "System.View")
    }

    pub fn not_found(obj: &MoRef) -> VimFault {
        VimFault::new(
            "ManagedObjectNotFound",
            format!(
                "The object 'vim.{}:{}' has already been deleted or has not been completely created",
                obj.ty, obj.id
            ),
        )
        .with("obj", obj.clone())
    }

    pub fn method_not_found(obj: &MoRef, method: &str) -> VimFault {
        VimFault::new(
            "MethodNotFound",
            format!("The requested method '{method}' is not implemented by fakedc"),
        )
        .with("receiver", obj.clone())
        .with("method", method)
    }

    pub fn invalid_argument(name: &str) -> VimFault {
        VimFault::new(
            "InvalidArgument",
            format!("A specified parameter was not correct: {name}"),
        )
        .with("invalidProperty", name)
    }

    /// A type name that vim25 does not have (`propSet.type`, a view's
    /// `type`).
    pub fn invalid_type(name: &str) -> VimFault {
        VimFault::new("InvalidType", format!("Invalid type '{name}'")).with("argument", name)
    }

    pub fn invalid_property(name: &str) -> VimFault {
        VimFault::new("InvalidProperty", format!("Invalid property '{name}'")).with("name", name)
    }

    pub fn invalid_state(msg: &str) -> VimFault {
        VimFault::new(
            "InvalidState",
            format!("The operation is not allowed in the current state: {msg}"),
        )
    }

    pub fn invalid_power_state(requested: &str, existing: &str) -> VimFault {
        VimFault::new(
            "InvalidPowerState",
            "The attempted operation cannot be performed in the current state (Powered off).",
        )
        .with("requestedState", requested)
        .with("existingState", existing)
    }

    pub fn invalid_request(msg: impl Into<String>) -> VimFault {
        let mut f = VimFault::new("InvalidRequest", msg);
        f.client = true;
        f
    }
}

/// Decodes a request body.
pub fn decode(bytes: &[u8]) -> Result<Request, VimFault> {
    if bytes.len() > MAX_BODY {
        return Err(VimFault::invalid_request(format!(
            "The request is larger than {MAX_BODY} bytes"
        )));
    }
    let env = soap::read_with(bytes, &LIMITS, &VOCABULARY)
        .map_err(|e| VimFault::invalid_request(format!("Unable to parse the request: {e}")))?;
    if env.version != Version::Soap11 {
        return Err(VimFault::invalid_request(
            "vim25 is SOAP 1.1; a SOAP 1.2 envelope was sent",
        ));
    }
    // The payload is moved out of the envelope, not copied.
    let Some(body) = env.body.children.into_iter().next() else {
        return Err(VimFault::invalid_request("The SOAP Body is empty"));
    };
    if body.ns != VIM25 && body.ns != INTERNAL {
        return Err(VimFault::invalid_request(format!(
            "Unable to resolve WSDL method name {} in namespace '{}'",
            body.name, body.ns
        )));
    }
    let Some(this) = body
        .children
        .iter()
        .find(|c| c.name == "_this")
        .and_then(read_moref)
    else {
        return Err(VimFault::invalid_request(format!(
            "{}: missing or malformed _this",
            body.name
        )));
    };
    Ok(Request {
        method: body.name.to_string(),
        this,
        body,
    })
}

const ENVELOPE_START: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soapenv:Envelope xmlns:soapenc=\"http://schemas.xmlsoap.org/soap/encoding/\" xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n<soapenv:Body>\n";
const ENVELOPE_END: &str = "\n</soapenv:Body>\n</soapenv:Envelope>";

/// A response whose body is written by `f` inside
/// `<{method}Response xmlns="urn:vim25">`.
pub fn response(method: &str, f: impl FnOnce(&mut String)) -> String {
    // Most answers fit without growing (a page of properties of a few
    // dozen objects).
    let mut out = String::with_capacity(8192);
    crate::value::push_all(
        &mut out,
        &[
            ENVELOPE_START,
            "<",
            method,
            "Response xmlns=\"",
            VIM25,
            "\">",
        ],
    );
    f(&mut out);
    crate::value::push_all(&mut out, &["</", method, "Response>", ENVELOPE_END]);
    out
}

/// A response with one `returnval` of the declared type (none for
/// `None`: void methods and unset properties).
pub fn returnval(method: &str, declared: &str, v: Option<&Value>) -> String {
    response(method, |out| {
        if let Some(v) = v {
            write_top(out, "returnval", declared, v);
        }
    })
}

/// A fault envelope, as vCenter writes it (HTTP 500).
pub fn fault(f: &VimFault) -> String {
    let mut out = String::with_capacity(512);
    out.push_str(ENVELOPE_START);
    out.push_str("<soapenv:Fault>");
    let _ = write!(
        out,
        "<faultcode>{}</faultcode><faultstring>{}</faultstring>",
        if f.client {
            "soapenv:Client"
        } else {
            "ServerFaultCode"
        },
        escape_text(&f.msg)
    );
    out.push_str("<detail>");
    let _ = write!(
        out,
        "<{}Fault xmlns=\"{VIM25}\" xsi:type=\"{}\">",
        f.kind,
        escape_attr(f.kind)
    );
    let ti = crate::types::types();
    let fields = ti.fields(f.kind);
    for (n, v) in &f.fields {
        let declared = fields
            .and_then(|fs| fs.iter().find(|p| p.name == *n))
            .map(|p| p.base().to_string())
            .unwrap_or_else(|| "xsd:anyType".into());
        crate::value::write_elem(ti, &mut out, n, &declared, v);
    }
    let _ = write!(out, "</{}Fault>", f.kind);
    out.push_str("</detail></soapenv:Fault>");
    out.push_str(ENVELOPE_END);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pyvmomi_call_decodes() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soapenv:Body><RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance" versionId="8.0.3.0">ServiceInstance</_this></RetrieveServiceContent></soapenv:Body>
</soapenv:Envelope>"#;
        let r = decode(body).expect("decodes");
        assert_eq!(r.method, "RetrieveServiceContent");
        assert_eq!(r.this, MoRef::new("ServiceInstance", "ServiceInstance"));
        let internal = String::from_utf8_lossy(body).replace("urn:vim25", "urn:internalvim25");
        assert_eq!(
            decode(internal.as_bytes()).expect("internal").method,
            "RetrieveServiceContent"
        );
    }

    #[test]
    fn hostile_bodies_are_faults() {
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><X xmlns="urn:vim25">&b;</X></soapenv:Body></soapenv:Envelope>"#;
        assert_eq!(decode(bomb).expect_err("dtd").kind, "InvalidRequest");
        assert!(decode(b"<not xml").is_err());
        assert!(decode(b"").is_err());
        let deep = format!(
            "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><X xmlns=\"urn:vim25\"><_this type=\"A\">a</_this>{}{}</X></soapenv:Body></soapenv:Envelope>",
            "<a>".repeat(100),
            "</a>".repeat(100)
        );
        assert!(decode(deep.as_bytes()).is_err());
        let f = fault(&VimFault::method_not_found(
            &MoRef::new("VirtualMachine", "vm-1"),
            "Foo",
        ));
        assert!(
            f.contains("<method xsi:type=\"xsd:string\">Foo</method>"),
            "{f}"
        );
        assert!(f.contains("xsi:type=\"MethodNotFound\""));
    }
}
