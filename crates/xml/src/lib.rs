//! XML for fakedc's SOAP services (WS-Management today; vSphere's vim25,
//! WSUS and WCF next): a bounded tree reader, escaping, and SOAP envelopes.
//!
//! - [`parse`] builds an [`Element`] tree with namespaces resolved to URIs
//!   (clients pick their own prefixes), refusing DTDs outright, so no entity
//!   is ever expanded (billion laughs, external entities), and within
//!   [`Limits`] on depth, elements and attributes. It is iterative, so
//!   nesting cannot exhaust the stack.
//! - [`escape`], [`escape_text`], [`escape_attr`] for writers.
//! - [`soap`]: a SOAP 1.1/1.2 envelope reader (header blocks, Body,
//!   mustUnderstand and roles), an envelope writer, and faults in both
//!   versions' shapes, written and read back.
//!
//! Sans-IO and clock-free: bytes in, trees out; strings out. Protocol
//! vocabularies (WS-Man headers, vim25 types) stay in their crates, which
//! may hand the parser a [`Vocabulary`] of the names they expect so those
//! are shared rather than allocated per element.

mod escape;
pub mod soap;
mod tree;

pub use escape::{escape, escape_attr, escape_text};
pub use tree::{parse, parse_with, Element, Limits, Vocabulary, XmlError};

/// Namespace URIs every SOAP service meets.
pub mod ns {
    /// SOAP 1.2 envelope (WS-Man, WCF's `BasicHttpBinding` with SOAP 1.2).
    pub const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
    /// SOAP 1.1 envelope (vim25, WSUS, WCF's `BasicHttpBinding`).
    pub const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
    /// WS-Addressing, the August 2004 submission WS-Management uses.
    pub const WSA_2004: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
    /// WS-Addressing 1.0 (W3C), what WCF writes.
    pub const WSA: &str = "http://www.w3.org/2005/08/addressing";
    pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
    pub const XSD: &str = "http://www.w3.org/2001/XMLSchema";
    /// The `xml:` prefix's namespace (`xml:lang`); bound without a declaration.
    pub const XML: &str = "http://www.w3.org/XML/1998/namespace";
}
