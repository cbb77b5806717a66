//! SOAP envelopes as WCF writes them: SOAP 1.2 + WS-Addressing 1.0 (the
//! net.tcp and WSHttpBinding shape) and plain SOAP 1.1 (BasicHttpBinding),
//! replies and faults, built as [`Node`]s so one tree is written as binary
//! XML or as text.

use crate::nbfx::{guid_bytes, Node, Text};
use fakedc_xml::soap::{Envelope, Version};
use fakedc_xml::Element;

pub const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const WSA: &str = "http://www.w3.org/2005/08/addressing";
/// The action WCF puts on WS-Addressing 1.0 faults.
pub const FAULT_ACTION: &str = "http://www.w3.org/2005/08/addressing/soap/fault";
/// WCF's namespace for addressing faults under SOAP 1.1 / no addressing.
pub const NONE_ADDRESSING: &str = "http://schemas.microsoft.com/ws/2005/05/addressing/none";
pub const MEX_GET: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get";
pub const MEX_GET_RESPONSE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse";

/// What dispatch needs from a request, whichever encoding carried it.
#[derive(Debug, Clone)]
pub struct Request {
    pub version: Version,
    pub action: Option<String>,
    pub message_id: Option<String>,
    /// WS-Addressing `To`.
    pub to: Option<String>,
    /// The first header marked mustUnderstand that WCF's addressing layer
    /// does not process: (namespace, local name).
    pub not_understood: Option<(String, String)>,
    pub payload: Option<Element>,
}

impl Request {
    /// From a parsed envelope; `soap_action` is HTTP's `SOAPAction` (SOAP
    /// 1.1 carries the action there, not in a header).
    pub fn from_envelope(env: Envelope, soap_action: Option<&str>) -> Request {
        let text = |name: &str| {
            env.header(WSA, name)
                .map(|h| h.text_trim().to_string())
                .filter(|s| !s.is_empty())
        };
        let action = text("Action").or_else(|| {
            soap_action
                .map(|s| s.trim().trim_matches('"').to_string())
                .filter(|s| !s.is_empty())
        });
        let not_understood = env
            .not_understood(|h| {
                h.ns == WSA
                    && matches!(
                        &*h.name,
                        "Action"
                            | "To"
                            | "MessageID"
                            | "ReplyTo"
                            | "RelatesTo"
                            | "From"
                            | "FaultTo"
                    )
            })
            .first()
            .map(|h| (h.ns.to_string(), h.name.to_string()));
        Request {
            version: env.version,
            action,
            message_id: text("MessageID"),
            to: text("To"),
            not_understood,
            payload: env.payload().cloned(),
        }
    }

    /// The addressing-aware shape (SOAP 1.2 + WS-Addressing) or plain 1.1.
    pub fn addressed(&self) -> bool {
        self.version == Version::Soap12
    }
}

/// A SOAP fault to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `Sender` or `Receiver` (1.2 names; mapped to `Client`/`Server`).
    pub code: &'static str,
    /// (namespace, local name) of the subcode, as WCF sends for
    /// addressing faults.
    pub subcode: Option<(&'static str, &'static str)>,
    pub reason: String,
}

impl Fault {
    /// WCF's ContractFilter mismatch, word for word.
    pub fn action_not_supported(action: &str) -> Fault {
        Fault {
            code: "Sender",
            subcode: Some((WSA, "ActionNotSupported")),
            reason: format!(
                "The message with Action '{action}' cannot be processed at the receiver, due to a ContractFilter mismatch at the EndpointDispatcher. This may be because of either a contract mismatch (mismatched Actions between sender and receiver) or a binding/security mismatch between the sender and the receiver.  Check that sender and receiver have the same contract and the same binding (including security requirements, e.g. Message, Transport, None)."
            ),
        }
    }

    /// WCF's AddressFilter mismatch (a To no endpoint listens on).
    pub fn destination_unreachable(to: &str) -> Fault {
        Fault {
            code: "Sender",
            subcode: Some((WSA, "DestinationUnreachable")),
            reason: format!(
                "The message with To '{to}' cannot be processed at the receiver, due to an AddressFilter mismatch at the EndpointDispatcher.  Check that the sender and receiver's EndpointAddresses agree."
            ),
        }
    }

    /// A mustUnderstand header nobody processed, word for word.
    pub fn must_understand(ns: &str, name: &str) -> Fault {
        Fault {
            code: "MustUnderstand",
            subcode: None,
            reason: format!(
                "The header '{name}' from the namespace '{ns}' was not understood by the recipient of this message, causing the message to not be processed.  This error typically indicates that the sender of this message has enabled a communication protocol that the receiver cannot process.  Please ensure that the configuration of the client's binding is consistent with the service's binding. "
            ),
        }
    }

    /// A FaultException from an operation (no subcode).
    pub fn sender(reason: impl Into<String>) -> Fault {
        Fault {
            code: "Sender",
            subcode: None,
            reason: reason.into(),
        }
    }

    /// A malformed request body (the deserializer's complaint).
    pub fn deserialize(op: &str, what: &str) -> Fault {
        Fault {
            code: "Sender",
            subcode: None,
            reason: format!(
                "The formatter threw an exception while trying to deserialize the message: Error in deserializing body of request message for operation '{op}'. {what}"
            ),
        }
    }

    /// The name the journal records.
    pub fn name(&self) -> &str {
        self.subcode.map(|s| s.1).unwrap_or(self.code)
    }
}

fn header(action: &str, relates_to: Option<&str>) -> Node {
    let mut h = Node::new("s", "Header").child(
        Node::new("a", "Action")
            .attr("s", "mustUnderstand", "1")
            .str(action),
    );
    if let Some(id) = relates_to {
        let t = id
            .strip_prefix("urn:uuid:")
            .and_then(guid_bytes)
            .map(Text::UniqueId)
            .unwrap_or_else(|| Text::Str(id.to_string()));
        h = h.child(Node::new("a", "RelatesTo").text(t));
    }
    h
}

/// A reply envelope: SOAP 1.2 with Action and RelatesTo, or plain 1.1.
pub fn reply(req: &Request, action: &str, body: Node) -> Node {
    if req.addressed() {
        Node::new("s", "Envelope")
            .ns("s", SOAP12)
            .ns("a", WSA)
            .child(header(action, req.message_id.as_deref()))
            .child(Node::new("s", "Body").child(body))
    } else {
        Node::new("s", "Envelope")
            .ns("s", SOAP11)
            .child(Node::new("s", "Body").child(body))
    }
}

/// A fault envelope in the request's SOAP version.
pub fn fault(req: &Request, f: &Fault) -> Node {
    if req.addressed() {
        let mut code =
            Node::new("s", "Code").child(Node::new("s", "Value").str(&format!("s:{}", f.code)));
        if let Some((_, sub)) = f.subcode {
            code = code.child(
                Node::new("s", "Subcode").child(Node::new("s", "Value").str(&format!("a:{sub}"))),
            );
        }
        let body = Node::new("s", "Fault").child(code).child(
            Node::new("s", "Reason").child(
                Node::new("s", "Text")
                    .attr("xml", "lang", "en-US")
                    .str(&f.reason),
            ),
        );
        Node::new("s", "Envelope")
            .ns("s", SOAP12)
            .ns("a", WSA)
            .child(header(FAULT_ACTION, req.message_id.as_deref()))
            .child(Node::new("s", "Body").child(body))
    } else {
        let code = match f.subcode {
            Some((_, sub)) => Node::new("", "faultcode")
                .ns("a", NONE_ADDRESSING)
                .str(&format!("a:{sub}")),
            None => Node::new("", "faultcode").str(match f.code {
                "Sender" => "s:Client",
                "Receiver" => "s:Server",
                other => return fault11(other, &f.reason),
            }),
        };
        Node::new("s", "Envelope").ns("s", SOAP11).child(
            Node::new("s", "Body").child(
                Node::new("s", "Fault").child(code).child(
                    Node::new("", "faultstring")
                        .attr("xml", "lang", "en-US")
                        .str(&f.reason),
                ),
            ),
        )
    }
}

/// A SOAP 1.1 fault with a code of the envelope namespace (`s:MustUnderstand`).
fn fault11(code: &str, reason: &str) -> Node {
    Node::new("s", "Envelope").ns("s", SOAP11).child(
        Node::new("s", "Body").child(
            Node::new("s", "Fault")
                .child(Node::new("", "faultcode").str(&format!("s:{code}")))
                .child(
                    Node::new("", "faultstring")
                        .attr("xml", "lang", "en-US")
                        .str(reason),
                ),
        ),
    )
}

/// The path of an absolute URI (no query or fragment), for WCF's address
/// filter, which compares paths, not host names.
pub fn uri_path(uri: &str) -> &str {
    let rest = uri.split_once("://").map(|(_, r)| r).unwrap_or(uri);
    let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("/");
    path.split(['?', '#'])
        .next()
        .unwrap_or("/")
        .trim_end_matches('/')
}
