//! WS-Management faults in the shapes Windows sends: SOAP 1.2 code and
//! subcode, the fault action, a readable reason, and `f:WSManFault` with the
//! Windows error code clients switch on (pywinrm retries Receive on
//! 2150858793, for instance).

use crate::message::{new_uuid, ns};
use crate::xml::{escape, XmlError};
use std::fmt::Write as _;

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
    /// `s:Sender` or `s:Receiver`.
    pub code: &'static str,
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
        code: &'static str,
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
            "s:Sender",
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
            "s:Sender",
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
            "s:Sender",
            "a:MessageInformationHeaderRequired",
            ADDRESSING_FAULT_ACTION,
            code::MESSAGE_INFORMATION_HEADER_REQUIRED,
            format!("A required header property ({what}) was missing."),
        )
    }

    pub fn invalid_selectors(message: impl Into<String>) -> Fault {
        Fault::new(
            "s:Sender",
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
            "s:Receiver",
            "w:TimedOut",
            WSMAN_FAULT_ACTION,
            code::OPERATION_TIMEDOUT,
            "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.",
        )
    }

    pub fn encoding_limit(message: impl Into<String>) -> Fault {
        Fault::new(
            "s:Sender",
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
            "s:Sender",
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
            "s:Sender",
            "w:AccessDenied",
            WSMAN_FAULT_ACTION,
            code::ACCESS_DENIED,
            "Access is denied.",
        )
    }

    pub fn invalid_enumeration_context() -> Fault {
        Fault::new(
            "s:Receiver",
            "n:InvalidEnumerationContext",
            ENUMERATION_FAULT_ACTION,
            code::INVALID_ENUMERATION_CONTEXT,
            "The supplied enumeration context is invalid.",
        )
    }

    pub fn cannot_process_filter(message: impl Into<String>) -> Fault {
        Fault::new(
            "s:Sender",
            "w:CannotProcessFilter",
            WSMAN_FAULT_ACTION,
            code::CANNOT_PROCESS_FILTER,
            "The requested filter could not be processed.",
        )
        .with_message(message)
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Fault {
        Fault::new(
            "s:Sender",
            "w:InvalidParameter",
            WSMAN_FAULT_ACTION,
            code::INVALID_PARAMETER,
            "The parameter is incorrect.",
        )
        .with_message(message)
    }

    pub fn quota_limit(message: impl Into<String>) -> Fault {
        Fault::new(
            "s:Sender",
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

    /// The fault envelope.
    pub fn to_xml(&self, relates_to: Option<&str>, machine: &str) -> String {
        let mut out = String::with_capacity(1536);
        let _ = write!(
            out,
            r#"<s:Envelope xml:lang="en-US" xmlns:s="{}" xmlns:a="{}" xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" xmlns:n="{}" xmlns:w="{}" xmlns:p="{}"><s:Header><a:Action>{}</a:Action><a:MessageID>uuid:{}</a:MessageID><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"#,
            ns::S,
            ns::A,
            ns::N,
            ns::W,
            ns::P,
            self.action,
            new_uuid()
        );
        if let Some(r) = relates_to {
            let _ = write!(out, "<a:RelatesTo>{}</a:RelatesTo>", escape(r));
        }
        let _ = write!(
            out,
            r#"</s:Header><s:Body><s:Fault><s:Code><s:Value>{}</s:Value><s:Subcode><s:Value>{}</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">{}</s:Text></s:Reason><s:Detail>"#,
            self.code,
            self.subcode,
            escape(&self.reason)
        );
        if let Some(d) = self.detail {
            let _ = write!(out, "<w:FaultDetail>{d}</w:FaultDetail>");
        }
        if let Some(c) = self.wsman_code {
            let _ = write!(
                out,
                r#"<f:WSManFault xmlns:f="{}" Code="{c}" Machine="{}"><f:Message>{}</f:Message></f:WSManFault>"#,
                ns::F,
                escape(machine),
                escape(&self.message)
            );
        }
        out.push_str("</s:Detail></s:Fault></s:Body></s:Envelope>");
        out
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
    }
}
