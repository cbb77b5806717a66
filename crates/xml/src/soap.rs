//! SOAP 1.1 and 1.2 envelopes: read ([`read`], [`Envelope`]), write
//! ([`EnvelopeWriter`]), and faults in both versions' shapes ([`Fault`]).
//!
//! The two versions differ in the envelope namespace, in the fault's shape
//! (1.1: unqualified `faultcode`/`faultstring`/`faultactor`/`detail`; 1.2:
//! `Code`/`Subcode`/`Reason`/`Node`/`Role`/`Detail` in the envelope
//! namespace), in how a header names its target (1.1 `actor`, 1.2 `role`)
//! and in the media type. Everything else (header blocks, one Body, the
//! mustUnderstand rule) is the same, so one reader takes both and tells the
//! caller which it was; a service that speaks only one refuses the other.
//!
//! What stays with each protocol: which header blocks it understands (WS-
//! Addressing for WS-Man and WCF, none for vim25), its fault subcodes and
//! detail elements, and which version it speaks.

mod fault;
mod writer;

pub use fault::{Fault, FaultCode};
pub use writer::{EnvelopeStart, EnvelopeWriter};

use crate::{ns, Element, Limits, Vocabulary, XmlError};

/// A header block with this `role` (SOAP 1.2) is for whoever receives it next.
pub const ROLE_NEXT: &str = "http://www.w3.org/2003/05/soap-envelope/role/next";
/// A header block with this `role` (SOAP 1.2) is for no one: never processed.
pub const ROLE_NONE: &str = "http://www.w3.org/2003/05/soap-envelope/role/none";
/// The SOAP 1.2 role of the message's final recipient (the default).
pub const ROLE_ULTIMATE_RECEIVER: &str =
    "http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver";
/// SOAP 1.1's `actor` for the next recipient.
pub const ACTOR_NEXT: &str = "http://schemas.xmlsoap.org/soap/actor/next";

/// The SOAP version, known by the envelope's namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    Soap11,
    Soap12,
}

impl Version {
    /// The envelope namespace URI.
    pub fn namespace(self) -> &'static str {
        match self {
            Version::Soap11 => ns::SOAP11,
            Version::Soap12 => ns::SOAP12,
        }
    }

    pub fn from_namespace(uri: &str) -> Option<Version> {
        match uri {
            ns::SOAP11 => Some(Version::Soap11),
            ns::SOAP12 => Some(Version::Soap12),
            _ => None,
        }
    }

    /// The HTTP `Content-Type` of a message in this version (SOAP 1.1 also
    /// sends a `SOAPAction` header; 1.2 puts the action in this type's
    /// `action` parameter).
    pub fn content_type(self) -> &'static str {
        match self {
            Version::Soap11 => "text/xml; charset=utf-8",
            Version::Soap12 => "application/soap+xml; charset=utf-8",
        }
    }

    /// How this version writes a true boolean attribute (`mustUnderstand`):
    /// 1.1 knows only `1`; 1.2 takes `true` or `1` and writes `true`.
    pub fn true_value(self) -> &'static str {
        match self {
            Version::Soap11 => "1",
            Version::Soap12 => "true",
        }
    }
}

/// Why a message is not a SOAP envelope this reader accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SoapError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// The root is not named `Envelope` at all.
    #[error("the root element is {name} ({ns}), not a SOAP Envelope")]
    NotEnvelope { ns: String, name: String },
    /// An `Envelope` in a namespace that is neither SOAP 1.1 nor 1.2.
    #[error("{0:?} is not a SOAP 1.1 or 1.2 envelope namespace")]
    UnknownVersion(String),
    #[error("the envelope has no Body")]
    NoBody,
    /// Header and Body out of order or repeated, elements where the
    /// version allows none, or a fault without its required parts.
    #[error("{0}")]
    Structure(&'static str),
}

impl SoapError {
    /// The fault a receiver answers with: `VersionMismatch` when the root is
    /// not an envelope of a known version (SOAP 1.2 §5.4.7, SOAP 1.1
    /// §4.4.1), `Sender` (1.1 `Client`) for everything else, which is the
    /// sender's malformed message. The reason is this error's text.
    pub fn to_fault(&self) -> Fault {
        let code = match self {
            SoapError::NotEnvelope { .. } | SoapError::UnknownVersion(_) => {
                FaultCode::VersionMismatch
            }
            _ => FaultCode::Sender,
        };
        Fault::new(code, self.to_string())
    }
}

/// A received envelope: its version, its header blocks and its Body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub version: Version,
    /// The children of `Header`, in order (none when there is no Header).
    pub headers: Vec<Element>,
    /// The `Body` element; its children are the payload.
    pub body: Element,
}

/// Parses and checks an envelope (see [`Envelope::from_element`]).
pub fn read(bytes: &[u8], limits: &Limits) -> Result<Envelope, SoapError> {
    read_with(bytes, limits, &Vocabulary::EMPTY)
}

/// [`read`] with the protocol's [`Vocabulary`].
pub fn read_with(bytes: &[u8], limits: &Limits, vocab: &Vocabulary) -> Result<Envelope, SoapError> {
    Envelope::from_element(crate::parse_with(bytes, limits, vocab)?)
}

impl Envelope {
    /// Checks a parsed root: an `Envelope` of either version holding an
    /// optional `Header` and then a `Body` (SOAP 1.1 allows more elements
    /// after the Body, which are ignored; 1.2 allows none). The Header's
    /// and Body's elements are moved out of the tree, not copied.
    pub fn from_element(mut root: Element) -> Result<Envelope, SoapError> {
        if root.name != "Envelope" {
            return Err(SoapError::NotEnvelope {
                ns: root.ns.into_owned(),
                name: root.name.into_owned(),
            });
        }
        let version = Version::from_namespace(&root.ns)
            .ok_or_else(|| SoapError::UnknownVersion(root.ns.to_string()))?;
        let env = version.namespace();
        let mut children = std::mem::take(&mut root.children).into_iter();
        let mut headers = Vec::new();
        let mut first = children.next();
        if let Some(h) = first.take_if(|h| h.is(env, "Header")) {
            headers = h.children;
            first = children.next();
        }
        let body = match first {
            Some(b) if b.is(env, "Body") => b,
            Some(e) if e.is(env, "Header") => {
                return Err(SoapError::Structure("the envelope has two Headers"))
            }
            Some(_) => {
                return Err(SoapError::Structure(
                    "an element other than Header before the Body",
                ))
            }
            None => return Err(SoapError::NoBody),
        };
        if version == Version::Soap12 && children.next().is_some() {
            return Err(SoapError::Structure(
                "a SOAP 1.2 envelope has nothing after its Body",
            ));
        }
        Ok(Envelope {
            version,
            headers,
            body,
        })
    }

    /// The first header block with this namespace and local name.
    pub fn header(&self, ns: &str, name: &str) -> Option<&Element> {
        self.headers.iter().find(|h| h.is(ns, name))
    }

    /// The first element of the Body: the request, the response, or a Fault.
    pub fn payload(&self) -> Option<&Element> {
        self.body.children.first()
    }

    /// Whether the Body holds a Fault.
    pub fn is_fault(&self) -> bool {
        self.payload()
            .is_some_and(|p| p.is(self.version.namespace(), "Fault"))
    }

    /// The Fault in the Body, read back into a [`Fault`]; `Ok(None)` when
    /// the Body holds something else.
    pub fn fault(&self) -> Result<Option<Fault>, SoapError> {
        match self.payload() {
            Some(p) if p.is(self.version.namespace(), "Fault") => {
                Fault::from_element(p, self.version).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Whether a header block says `mustUnderstand` (the attribute in the
    /// envelope namespace; `1` or `true`, whichever version, since accepting
    /// `true` in 1.1 costs nothing and refusing it helps no one).
    pub fn must_understand(&self, block: &Element) -> bool {
        self.envelope_attr(block, "mustUnderstand")
            .is_some_and(|v| matches!(v.trim(), "1" | "true"))
    }

    /// Whether a header block is addressed to this node, the message's
    /// final recipient: no role/actor, or the "next" one, or (1.2)
    /// `ultimateReceiver`. A block for another role (or 1.2's `none`) is
    /// not ours to process, whatever it says about mustUnderstand.
    pub fn targets_us(&self, block: &Element) -> bool {
        let (attr, ours): (&str, &[&str]) = match self.version {
            Version::Soap11 => ("actor", &[ACTOR_NEXT]),
            Version::Soap12 => ("role", &[ROLE_NEXT, ROLE_ULTIMATE_RECEIVER]),
        };
        match self.envelope_attr(block, attr) {
            None => true,
            Some(r) => ours.contains(&r.trim()),
        }
    }

    /// The header blocks addressed to us that say mustUnderstand and that
    /// `understood` does not recognise: if any, the answer must be a
    /// `MustUnderstand` fault (SOAP 1.2 §5.4.8, SOAP 1.1 §4.2.3) and nothing
    /// else may be processed. See [`EnvelopeWriter::not_understood`].
    pub fn not_understood(&self, understood: impl Fn(&Element) -> bool) -> Vec<&Element> {
        self.headers
            .iter()
            .filter(|h| self.must_understand(h) && self.targets_us(h) && !understood(h))
            .collect()
    }

    fn envelope_attr<'a>(&self, e: &'a Element, name: &str) -> Option<&'a str> {
        let env = self.version.namespace();
        e.attrs
            .iter()
            .find(|(ans, n, _)| ans == env && n == name)
            .map(|(_, _, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests;
