//! WS-Management faults in the shapes Windows sends: SOAP 1.2 code and
//! subcode, the fault action, a readable reason, and `f:WSManFault` with the
//! Windows error code clients switch on (pywinrm retries Receive on
//! 2150858793, for instance).

use crate::message::{self, action, ns};
use crate::xml::soap::{self, FaultCode, SoapError};
use crate::xml::{escape_attr, escape_text, XmlError};

/// WSManFault codes (Windows `ERROR_WSMAN_*` values).
pub mod code {
    pub const RESOURCE_NOT_FOUND: u32 = 2150858752;
    pub const ACTION_NOT_SUPPORTED: u32 = 2150858771;
    pub const INVALID_ENUMERATION_CONTEXT: u32 = 2150858779;
    pub const CANNOT_PROCESS_FILTER: u32 = 2150858778;
    pub const OPERATION_TIMEDOUT: u32 = 2150858793;
    pub const ENCODING_LIMIT: u32 = 2150858805;
    pub const INVALID_PARAMETER: u32 = 2150858810;
    pub const INVALID_SELECTORS: u32 = 2150858813;
    pub const SCHEMA_VALIDATION: u32 = 2150858817;
    pub const INVALID_XML: u32 = 2150858819;
    pub const MAX_ENVELOPE_SIZE_EXCEEDED: u32 = 2150858824;
    pub const MESSAGE_INFORMATION_HEADER_REQUIRED: u32 = 2150858769;
    pub const SHELL_NOT_FOUND: u32 = 2150858843;
    pub const QUOTA_MAX_SHELLS_PER_USER: u32 = 2150859236;
    pub const ACCESS_DENIED: u32 = 5;
}

const WSMAN_FAULT_ACTION: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault";
const ADDRESSING_FAULT_ACTION: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault";
const ENUMERATION_FAULT_ACTION: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/fault";

/// A fault to send back (HTTP 500 with this body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{subcode}: {message}")]
pub struct Fault {
    /// `Sender` or `Receiver`.
    pub code: FaultCode,
    /// Qualified subcode using the response's prefixes (`w:`, `a:`, `n:`).
    pub subcode: &'static str,
    pub action: &'static str,
    pub reason: String,
    pub wsman_code: Option<u32>,
    /// The longer text in `f:Message`.
    pub message: String,
    /// `w:FaultDetail` URI, when Windows sends one.
    pub detail: Option<&'static str>,
}

impl Fault {
    fn new(
        code: FaultCode,
        subcode: &'static str,
        action: &'static str,
        wsman_code: u32,
        reason: impl Into<String>,
    ) -> Fault {
        let reason = reason.into();
        Fault {
            code,
            subcode,
            action,
            message: reason.clone(),
            reason,
            wsman_code: Some(wsman_code),
            detail: None,
        }
    }

    pub fn with_message(mut self, m: impl Into<String>) -> Fault {
        self.message = m.into();
        self
    }

    pub fn invalid_resource_uri(uri: &str) -> Fault {
        let mut f = Fault::new(
            FaultCode::Sender,
            "w:DestinationUnreachable",
            ADDRESSING_FAULT_ACTION,
            code::RESOURCE_NOT_FOUND,
            "The WS-Management service cannot process the request. The resource URI is not valid or was not found.",
        )
        .with_message(format!(
            "The WS-Management service cannot process the request because the resource URI {uri} was not found."
        ));
        f.detail =
            Some("http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidResourceURI");
        f
    }

    pub fn action_not_supported(action: &str) -> Fault {
        Fault::new(
            FaultCode::Sender,
            "a:ActionNotSupported",
            ADDRESSING_FAULT_ACTION,
            code::ACTION_NOT_SUPPORTED,
            "The action is not supported by the service.",
        )
        .with_message(format!(
            "The WS-Management service does not support the action {action} for this resource."
        ))
    }

    pub fn missing_header(what: &str) -> Fault {
        Fault::new(
            FaultCode::Sender,
            "a:MessageInformationHeaderRequired",
            ADDRESSING_FAULT_ACTION,
            code::MESSAGE_INFORMATION_HEADER_REQUIRED,
            format!("A required header property ({what}) was missing."),
        )
    }

    pub fn invalid_selectors(message: impl Into<String>) -> Fault {
        Fault::new(
            FaultCode::Sender,
            "w:InvalidSelectors",
            WSMAN_FAULT_ACTION,
            code::INVALID_SELECTORS,
            "The WS-Management service cannot process the request because the request contained invalid selectors for the resource.",
        )
        .with_message(message)
    }

    pub fn shell_not_found(shell: &str) -> Fault {
        let mut f = Fault::invalid_selectors(format!(
            "The request for the Windows Remote Shell with ShellId {shell} failed because the shell was not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. Provide the correct ShellId or create a new shell and retry the operation."
        ));
        f.wsman_code = Some(code::SHELL_NOT_FOUND);
        f
    }

    pub fn timed_out() -> Fault {
        Fault::new(
            FaultCode::Receiver,
            "w:TimedOut",
            WSMAN_FAULT_ACTION,
            code::OPERATION_TIMEDOUT,
            "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.",
        )
    }

    pub fn encoding_limit(message: impl Into<String>) -> Fault {
        Fault::new(
            FaultCode::Sender,
            "w:EncodingLimit",
            WSMAN_FAULT_ACTION,
            code::ENCODING_LIMIT,
            "The WS-Management service cannot process the request because the envelope size or an encoding limit was exceeded.",
        )
        .with_message(message)
    }

    pub fn max_envelope_exceeded(limit: usize) -> Fault {
        let mut f = Fault::encoding_limit(format!(
            "The response that the WS-Management service computed exceeds the maximum envelope size that is allowed ({limit} bytes)."
        ));
        f.wsman_code = Some(code::MAX_ENVELOPE_SIZE_EXCEEDED);
        f
    }

    pub fn schema(message: impl Into<String>) -> Fault {
        Fault::new(
            FaultCode::Sender,
            "w:SchemaValidationError",
            WSMAN_FAULT_ACTION,
            code::SCHEMA_VALIDATION,
            "The SOAP XML in the message does not match the corresponding XML schema definition.",
        )
        .with_message(message)
    }

    pub fn invalid_xml(message: impl Into<String>) -> Fault {
        let mut f = Fault::schema(message);
        f.wsman_code = Some(code::INVALID_XML);
        f
    }

    pub fn access_denied() -> Fault {
        Fault::new(
            FaultCode::Sender,
            "w:AccessDenied",
            WSMAN_FAULT_ACTION,
            code::ACCESS_DENIED,
            "Access is denied.",
        )
    }

    pub fn invalid_enumeration_context() -> Fault {
        Fault::new(
            FaultCode::Receiver,
            "n:InvalidEnumerationContext",
            ENUMERATION_FAULT_ACTION,
            code::INVALID_ENUMERATION_CONTEXT,
            "The supplied enumeration context is invalid.",
        )
    }

    pub fn cannot_process_filter(message: impl Into<String>) -> Fault {
        Fault::new(
            FaultCode::Sender,
            "w:CannotProcessFilter",
            WSMAN_FAULT_ACTION,
            code::CANNOT_PROCESS_FILTER,
            "The requested filter could not be processed.",
        )
        .with_message(message)
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Fault {
        Fault::new(
            FaultCode::Sender,
            "w:InvalidParameter",
            WSMAN_FAULT_ACTION,
            code::INVALID_PARAMETER,
            "The parameter is incorrect.",
        )
        .with_message(message)
    }

    pub fn quota_limit(message: impl Into<String>) -> Fault {
        Fault::new(
            FaultCode::Sender,
            "w:QuotaLimit",
            WSMAN_FAULT_ACTION,
            code::QUOTA_MAX_SHELLS_PER_USER,
            "The WS-Management service cannot process the request. This user is allowed a maximum number of concurrent shells, which has been exceeded.",
        )
        .with_message(message)
    }

    /// Maps a parser refusal to its fault.
    pub fn from_xml(e: XmlError) -> Fault {
        match e {
            XmlError::TooDeep(_)
            | XmlError::TooManyElements(_)
            | XmlError::TooManyAttributes(_) => Fault::encoding_limit(e.to_string()),
            _ => Fault::invalid_xml(e.to_string()),
        }
    }

    /// Maps an envelope refusal to its fault: XML errors as
    /// [`Fault::from_xml`], anything that is not a SOAP 1.2 envelope or
    /// breaks its structure as a schema fault, as Windows answers them.
    pub fn from_soap(e: SoapError) -> Fault {
        match e {
            SoapError::Xml(x) => Fault::from_xml(x),
            SoapError::NotEnvelope { .. } | SoapError::UnknownVersion(_) => {
                Fault::schema("the root element is not a SOAP 1.2 Envelope")
            }
            SoapError::NoBody => Fault::schema("the envelope has no Body"),
            SoapError::Structure(m) => Fault::schema(m),
        }
    }

    /// The fault envelope, headers in the order Windows writes them
    /// (Action, MessageID, To, RelatesTo), `f:WSManFault` in the detail.
    pub fn to_xml(&self, relates_to: Option<&str>, machine: &str) -> String {
        let mut w = message::fault_writer();
        let out = w.header();
        out.push_str("<a:Action>");
        out.push_str(self.action);
        out.push_str("</a:Action>");
        message::push_message_id(out);
        out.push_str("<a:To>");
        out.push_str(action::ANONYMOUS);
        out.push_str("</a:To>");
        message::push_relates_to(out, relates_to);
        let mut detail = String::new();
        if let Some(d) = self.detail {
            detail.push_str("<w:FaultDetail>");
            detail.push_str(d);
            detail.push_str("</w:FaultDetail>");
        }
        if let Some(c) = self.wsman_code {
            detail.push_str("<f:WSManFault xmlns:f=\"");
            detail.push_str(ns::F);
            detail.push_str("\" Code=\"");
            detail.push_str(&c.to_string());
            detail.push_str("\" Machine=\"");
            detail.push_str(&escape_attr(machine));
            detail.push_str("\"><f:Message>");
            detail.push_str(&escape_text(&self.message));
            detail.push_str("</f:Message></f:WSManFault>");
        }
        w.finish_fault(&soap::Fault {
            code: self.code,
            subcodes: vec![self.subcode.to_string()],
            code_11: None,
            reason: self.reason.clone(),
            lang: "en-US".into(),
            node: None,
            role: None,
            detail: Some(detail),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{parse, Limits};

    #[test]
    fn fault_is_wellformed_and_windows_shaped() {
        let xml = Fault::timed_out().to_xml(Some("uuid:1&2"), "hv01");
        let root = parse(xml.as_bytes(), &Limits::default()).unwrap();
        let fault = root.find(ns::S, "Fault").unwrap();
        let sub = fault.find(ns::S, "Subcode").unwrap();
        assert_eq!(sub.child(ns::S, "Value").unwrap().text, "w:TimedOut");
        let wf = fault.find(ns::F, "WSManFault").unwrap();
        assert_eq!(wf.attr("Code"), Some("2150858793"));
        assert_eq!(root.find(ns::A, "RelatesTo").unwrap().text, "uuid:1&2");
        // Headers in Windows' order.
        let names: Vec<_> = root.children[0]
            .children
            .iter()
            .map(|h| h.name.as_ref())
            .collect();
        assert_eq!(names, ["Action", "MessageID", "To", "RelatesTo"]);
    }

    /// The generic SOAP reader sees the WS-Man fault as what it is.
    #[test]
    fn fault_reads_back_as_a_soap_fault() {
        let xml = Fault::invalid_resource_uri("http://x/<y>").to_xml(None, "hv01");
        let env = soap::read(xml.as_bytes(), &Limits::default()).unwrap();
        let f = env.fault().unwrap().unwrap();
        assert_eq!(f.code, FaultCode::Sender);
        assert_eq!(f.subcodes, ["w:DestinationUnreachable"]);
        assert_eq!(f.lang, "en-US");
        assert!(f.reason.contains("resource URI is not valid"));
        let detail = f.detail.unwrap();
        assert!(
            detail.contains("faultDetail/InvalidResourceURI"),
            "{detail}"
        );
        assert!(detail.contains("http://x/&lt;y&gt;"), "{detail}");
    }

    #[test]
    fn envelope_refusals_map_to_windows_faults() {
        for (input, sub, code) in [
            (&b"<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body/></s:Envelope>"[..], "w:SchemaValidationError", code::SCHEMA_VALIDATION),
            (b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"/>", "w:SchemaValidationError", code::SCHEMA_VALIDATION),
            (b"<!DOCTYPE a [<!ENTITY x \"x\">]><a/>", "w:SchemaValidationError", code::INVALID_XML),
            (b"<a><b><c/></b></a>", "w:SchemaValidationError", code::SCHEMA_VALIDATION),
        ] {
            let f = crate::message::parse_request(input).unwrap_err();
            assert_eq!((f.subcode, f.wsman_code), (sub, Some(code)), "{f}");
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        let f = crate::message::parse_request(deep.as_bytes()).unwrap_err();
        assert_eq!(f.subcode, "w:EncodingLimit");
    }
}
