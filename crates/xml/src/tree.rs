//! A small, bounded XML tree built with quick-xml's namespace reader.
//!
//! SOAP messages are small documents whose elements are matched by namespace
//! URI and local name (prefixes differ between clients), so a tree of owned
//! elements is the simplest correct model. The parser is iterative (no
//! recursion, so 10,000-deep nesting cannot blow the stack), refuses DOCTYPE
//! outright (no DTD, no entity expansion: only the five predefined entities
//! and character references are resolved), and enforces depth, element
//! count and attribute count limits before allocating. Text is never larger
//! than the input (nothing expands), so the caller bounds it by bounding the
//! message (WS-Man: 512 KiB). Element and attribute names and namespace
//! prefixes are checked against XML's name rules and namespace URIs have
//! their references resolved, two things quick-xml leaves to its caller, so
//! every tree it returns can be written back ([`Element::to_xml`]).

use crate::escape::{escape_attr, escape_text};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::PrefixDeclaration;
use quick_xml::Reader;
use std::borrow::Cow;
use std::fmt::Write as _;

/// Limits on what a peer may make the parser build.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_depth: usize,
    pub max_elements: usize,
    pub max_attributes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 64,
            max_elements: 20_000,
            max_attributes: 64,
        }
    }
}

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("the message is not valid UTF-8")]
    Utf8,
    #[error("DTDs and entity declarations are not accepted")]
    Doctype,
    #[error("unknown entity reference &{0};")]
    Entity(String),
    #[error("XML nesting deeper than {0} levels")]
    TooDeep(usize),
    #[error("more than {0} XML elements")]
    TooManyElements(usize),
    #[error("more than {0} attributes on one element")]
    TooManyAttributes(usize),
    #[error("undeclared namespace prefix {0}")]
    UnknownPrefix(String),
    #[error("no root element")]
    Empty,
    #[error("malformed XML: {0}")]
    Malformed(String),
}

/// An element: namespace URI, local name, attributes by local name, child
/// elements and the concatenated text of its direct text/CDATA children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Namespace URI; the well-known ones are borrowed, not copied, since
    /// every request names the same dozen.
    pub ns: Cow<'static, str>,
    /// Local name; the WS-Man header and body names are borrowed too.
    pub name: Cow<'static, str>,
    /// (namespace URI or empty, local name, value)
    pub attrs: Vec<(Cow<'static, str>, Cow<'static, str>, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    /// Whether the element has this namespace and local name. The local
    /// name is compared first: it is short and tells elements apart, where
    /// namespace URIs are long and mostly shared by siblings. A namespace
    /// borrowed from the same string as `ns` (the protocol's vocabulary
    /// constant) is equal without comparing bytes.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.name == name && (std::ptr::eq(self.ns.as_ref(), ns) || self.ns == ns)
    }

    /// The first child with this namespace and local name.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, name))
    }

    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, name))
    }

    /// An attribute by local name, whatever its namespace.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(_, n, _)| n == name)
            .map(|(_, _, v)| v.as_str())
    }

    /// Text with surrounding whitespace removed.
    pub fn text_trim(&self) -> &str {
        self.text.trim()
    }

    /// Finds a descendant (depth first) with this namespace and name.
    ///
    /// The walk keeps the children left at each level above the current
    /// one, so nothing is allocated until it descends below a child, and
    /// the usual lookups (a Body's first element) allocate nothing.
    pub fn find(&self, ns: &str, name: &str) -> Option<&Element> {
        if self.is(ns, name) {
            return Some(self);
        }
        let mut above: Vec<std::slice::Iter<'_, Element>> = Vec::new();
        let mut level = self.children.iter();
        loop {
            match level.next() {
                Some(e) if e.is(ns, name) => return Some(e),
                Some(e) if !e.children.is_empty() => {
                    above.push(std::mem::replace(&mut level, e.children.iter()));
                }
                Some(_) => {}
                None => level = above.pop()?,
            }
        }
    }
}

impl Element {
    /// The element as XML, for echoing a received element (a fault's
    /// detail, a vim25 object) into another document. Prefixes are not kept
    /// by the tree, so each element whose namespace differs from its
    /// parent's declares it as the default namespace (`xmlns="…"`), and each
    /// namespaced attribute gets a prefix of its own (`a0`, `a1`, … on that
    /// element; `xml:` needs none). The text comes before the children,
    /// since the tree keeps one concatenated text per element: parsing the
    /// output gives back an equal tree, not the same bytes. A QName inside
    /// a value (`xsi:type="xsd:int"`) keeps its prefix text, but not the
    /// declaration that bound it, which the tree does not keep.
    ///
    /// The root is written without a namespace declaration when its
    /// namespace is empty, so embed it only where no default namespace is
    /// in scope (the SOAP writers here never declare one).
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write_xml(&mut out);
        out
    }

    /// [`Element::to_xml`] appended to `out`. Iterative, like the parser:
    /// a tree built by hand may be deeper than any parsed one.
    pub fn write_xml(&self, out: &mut String) {
        enum Step<'a> {
            Open(&'a Element, &'a str),
            Close(&'a Element),
        }
        let mut stack = vec![Step::Open(self, "")];
        while let Some(step) = stack.pop() {
            let (e, parent_ns) = match step {
                Step::Open(e, parent_ns) => (e, parent_ns),
                Step::Close(e) => {
                    out.push_str("</");
                    out.push_str(&e.name);
                    out.push('>');
                    continue;
                }
            };
            out.push('<');
            out.push_str(&e.name);
            if e.ns != parent_ns {
                out.push_str(" xmlns=\"");
                out.push_str(&escape_attr(&e.ns));
                out.push('"');
            }
            for (i, (ans, name, value)) in e.attrs.iter().enumerate() {
                out.push(' ');
                if ans == crate::ns::XML {
                    out.push_str("xml:");
                } else if !ans.is_empty() {
                    let _ = write!(out, "xmlns:a{i}=\"{}\" a{i}:", escape_attr(ans));
                }
                out.push_str(name);
                out.push_str("=\"");
                out.push_str(&escape_attr(value));
                out.push('"');
            }
            if e.children.is_empty() && e.text.is_empty() {
                out.push_str("/>");
                continue;
            }
            out.push('>');
            out.push_str(&escape_text(&e.text));
            stack.push(Step::Close(e));
            stack.extend(e.children.iter().rev().map(|c| Step::Open(c, &e.ns)));
        }
    }
}

/// Namespace URIs and local names a parse shares instead of allocating a
/// copy per element: a SOAP service's requests name the same few dozen over
/// and over, and allocating them was a large share of WS-Man's per-request
/// cost. Purely an optimisation: an element whose name is not listed gets
/// an owned copy and compares the same.
#[derive(Debug, Clone, Copy, Default)]
pub struct Vocabulary {
    pub namespaces: &'static [&'static str],
    pub names: &'static [&'static str],
}

impl Vocabulary {
    /// Nothing beyond the SOAP and XML names every parse shares.
    pub const EMPTY: Vocabulary = Vocabulary {
        namespaces: &[],
        names: &[],
    };
}

/// Shared by every parse: the SOAP envelopes, WS-Addressing (SOAP headers
/// of WS-Man and WCF alike), XML Schema instance and the `xml:` namespace.
const BASE: Vocabulary = Vocabulary {
    namespaces: &[
        crate::ns::SOAP12,
        crate::ns::SOAP11,
        crate::ns::WSA_2004,
        crate::ns::WSA,
        crate::ns::XSI,
        crate::ns::XSD,
        crate::ns::XML,
    ],
    names: &[
        "Envelope",
        "Header",
        "Body",
        "Fault",
        "mustUnderstand",
        "role",
        "actor",
        "lang",
        "type",
        "nil",
        "To",
        "ReplyTo",
        "Address",
        "Action",
        "MessageID",
        "RelatesTo",
    ],
};

/// A local name, shared when the vocabulary lists it and checked when it
/// does not: quick-xml does not check names (it takes `s:`, `s:a:b`,
/// `a/b`), and a tree holding one could not be written back. Listed names
/// are names, so the check costs nothing on the names a service expects.
/// Prefixes are checked where they are declared (see [`parse_with`]).
fn intern_name(name: &str, vocab: &Vocabulary) -> Result<Cow<'static, str>, XmlError> {
    match listed(BASE.names.iter().chain(vocab.names), name) {
        Some(k) => Ok(Cow::Borrowed(k)),
        None if ncname(name) => Ok(Cow::Owned(name.to_string())),
        None => Err(XmlError::Malformed(format!("{name:?} is not an XML name"))),
    }
}

/// The entry of `list` equal to `s`. Entries of another length, first or
/// last byte (namespace URIs share their start) are passed over without a
/// call to compare them, which most are: this runs for every element and
/// attribute name of every message.
fn listed<'k>(
    mut list: impl Iterator<Item = &'k &'static str>,
    s: &str,
) -> Option<&'k &'static str> {
    let b = s.as_bytes();
    let (first, last) = (*b.first()?, *b.last()?);
    list.find(|k| {
        let kb = k.as_bytes();
        kb.len() == b.len() && kb[0] == first && kb[kb.len() - 1] == last && kb == b
    })
}

/// A namespace URI from its raw declaration, shared when the vocabulary
/// lists it. Listed URIs hold no references, so only an unlisted one is
/// scanned for them (see [`ns_name`]). Called once per declaration, not
/// per element (see [`Scopes`]).
fn intern(raw: &str, vocab: &Vocabulary) -> Result<Cow<'static, str>, XmlError> {
    if raw.is_empty() {
        return Ok(Cow::Borrowed(""));
    }
    match listed(BASE.namespaces.iter().chain(vocab.namespaces), raw) {
        Some(k) => Ok(Cow::Borrowed(k)),
        None => Ok(Cow::Owned(ns_name(raw)?.into_owned())),
    }
}

/// Parses a whole document into its root element.
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Element, XmlError> {
    parse_with(bytes, limits, &Vocabulary::EMPTY)
}

/// The `xmlns` namespace, which only the `xmlns` prefix may name.
const XMLNS: &str = "http://www.w3.org/2000/xmlns/";

/// Most namespace declarations in scope at once (quick-xml's own default):
/// each costs a scan per prefixed name, so a peer may not declare
/// thousands.
const MAX_BINDINGS: usize = 128;

/// A declared namespace: interned, or why its references do not resolve.
type Declared = Result<Cow<'static, str>, XmlError>;

/// The namespace declarations in scope, innermost last.
///
/// The parser keeps its own instead of quick-xml's `NsReader`, which reads
/// every start tag's attributes a second time to find declarations, keeps
/// the raw URIs and leaves each element to intern its URI again. Here a
/// tag is scanned for declarations only when its attribute text contains
/// `xmlns` at all (in a SOAP request, the Envelope's), and a declared URI
/// is resolved and interned once, where it is declared, and shared by every
/// element that uses it. The rules are the Namespaces in XML ones quick-xml
/// applies: `xml` and `xmlns` are bound already and may not be rebound
/// (nor may another prefix name their URIs), `xmlns=""` takes the default
/// namespace away, and a prefix declared empty (`xmlns:p=""`, not allowed
/// by Namespaces 1.0) is unknown wherever it is used.
#[derive(Default)]
struct Scopes {
    /// (where its prefix is in `prefixes`, empty for the default
    /// namespace; its namespace, or None when declared empty). A URI whose references do not resolve keeps
    /// its error, reported only if an element or attribute uses it.
    bindings: Vec<(std::ops::Range<usize>, Option<Declared>)>,
    /// The bindings' prefixes, end to end (one buffer, not a String each).
    prefixes: String,
    /// `bindings.len()` when each open element started.
    marks: Vec<usize>,
}

impl Scopes {
    /// Opens an element's scope with the declarations among its attributes.
    fn open(&mut self, s: &BytesStart<'_>, vocab: &Vocabulary) -> Result<(), XmlError> {
        self.marks.push(self.bindings.len());
        if !s.attributes_raw().contains("xmlns") {
            return Ok(());
        }
        // Malformed attributes are reported by the caller's own pass.
        for a in s.attributes().with_checks(false) {
            let Ok(a) = a else { break };
            let Some(decl) = a.key.as_namespace_binding() else {
                continue;
            };
            let raw: &str = &a.value;
            let prefix = match decl {
                PrefixDeclaration::Default => "",
                PrefixDeclaration::Named("xml") if raw == crate::ns::XML => continue,
                PrefixDeclaration::Named(p @ ("xml" | "xmlns")) => {
                    return Err(XmlError::Malformed(format!(
                        "the prefix {p:?} cannot be bound to {raw:?}"
                    )))
                }
                PrefixDeclaration::Named(p) if raw == crate::ns::XML || raw == XMLNS => {
                    return Err(XmlError::Malformed(format!(
                        "the prefix {p:?} cannot be bound to {raw:?}"
                    )))
                }
                PrefixDeclaration::Named(p) => p,
            };
            if self.bindings.len() >= MAX_BINDINGS {
                return Err(XmlError::Malformed(format!(
                    "more than {MAX_BINDINGS} namespace declarations in scope"
                )));
            }
            let ns = (!raw.is_empty()).then(|| intern(raw, vocab));
            let at = self.prefixes.len();
            self.prefixes.push_str(prefix);
            self.bindings.push((at..self.prefixes.len(), ns));
        }
        Ok(())
    }

    /// Closes the innermost element's scope.
    fn close(&mut self) {
        if let Some(m) = self.marks.pop() {
            self.bindings.truncate(m);
            let end = self.bindings.last().map_or(0, |(r, _)| r.end);
            self.prefixes.truncate(end);
        }
    }

    /// The namespace of a qualified name and its local part: `element`
    /// names without a prefix take the default namespace, attributes none.
    fn resolve<'n>(
        &self,
        qname: &'n str,
        element: bool,
    ) -> Result<(Cow<'static, str>, &'n str), XmlError> {
        let (prefix, local) = match qname.split_once(':') {
            Some((p, l)) => (Some(p), l),
            None => (None, qname),
        };
        let found = |p: &str| {
            self.bindings
                .iter()
                .rev()
                .find(|(r, _)| self.prefixes.get(r.clone()) == Some(p))
        };
        let ns = match prefix {
            None if !element => Cow::Borrowed(""),
            None => match found("") {
                Some((_, Some(ns))) => ns.clone()?,
                _ => Cow::Borrowed(""),
            },
            Some("xml") => Cow::Borrowed(crate::ns::XML),
            Some("xmlns") => Cow::Borrowed(XMLNS),
            Some(p) => match found(p) {
                Some((_, Some(ns))) => ns.clone()?,
                _ => return Err(XmlError::UnknownPrefix(p.to_string())),
            },
        };
        Ok((ns, local))
    }
}

/// [`parse`], sharing `vocab`'s names (see [`Vocabulary`], whose entries
/// must be XML names: a listed name is not checked again).
pub fn parse_with(bytes: &[u8], limits: &Limits, vocab: &Vocabulary) -> Result<Element, XmlError> {
    let text = std::str::from_utf8(bytes).map_err(|_| XmlError::Utf8)?;
    let mut reader = Reader::from_str(text);
    let cfg = reader.config_mut();
    cfg.check_end_names = true;
    cfg.expand_empty_elements = false;
    let mut scopes = Scopes::default();
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError::Malformed(e.to_string()))?;
        match event {
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Start(ref s) | Event::Empty(ref s) => {
                scopes.open(s, vocab)?;
                let qname = s.name();
                let (ns, local) = scopes.resolve(qname.as_ref(), true)?;
                if root.is_some() {
                    return Err(XmlError::Malformed("content after the root element".into()));
                }
                count += 1;
                if count > limits.max_elements {
                    return Err(XmlError::TooManyElements(limits.max_elements));
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep(limits.max_depth));
                }
                let mut el = Element {
                    ns,
                    name: intern_name(local, vocab)?,
                    ..Default::default()
                };
                for a in s.attributes() {
                    let a = a.map_err(|e| XmlError::Malformed(e.to_string()))?;
                    match a.key.as_namespace_binding() {
                        // Every prefix in use was declared, so checking
                        // declarations checks them all (`xml` needs none).
                        Some(PrefixDeclaration::Named(p)) if !ncname(p) => {
                            return Err(XmlError::Malformed(format!(
                                "{p:?} is not a namespace prefix"
                            )))
                        }
                        Some(_) => continue,
                        None => {}
                    }
                    if el.attrs.len() >= limits.max_attributes {
                        return Err(XmlError::TooManyAttributes(limits.max_attributes));
                    }
                    let (ans, local) = scopes.resolve(a.key.as_ref(), false)?;
                    let value = attr_value(&a.value)?;
                    el.attrs.push((ans, intern_name(local, vocab)?, value));
                }
                if matches!(event, Event::Empty(_)) {
                    scopes.close();
                    attach(&mut stack, &mut root, el);
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                scopes.close();
                let el = stack
                    .pop()
                    .ok_or_else(|| XmlError::Malformed("unexpected end tag".into()))?;
                attach(&mut stack, &mut root, el);
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => {
                        return Err(XmlError::Malformed("text outside the root element".into()))
                    }
                }
            }
            Event::CData(c) => {
                let raw = c.into_inner();
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&raw),
                    None => {
                        return Err(XmlError::Malformed("CDATA outside the root element".into()))
                    }
                }
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => return Err(XmlError::Malformed("invalid character reference".into())),
                    }
                } else {
                    let name = r.into_inner();
                    match predefined(&name) {
                        Some(s) => s.to_string(),
                        None => return Err(XmlError::Entity(name.into_owned())),
                    }
                };
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&resolved),
                    None => {
                        return Err(XmlError::Malformed(
                            "reference outside the root element".into(),
                        ))
                    }
                }
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed("unclosed element".into()));
    }
    root.ok_or(XmlError::Empty)
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

fn predefined(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        _ => return None,
    })
}

/// XML 1.0 (fifth edition) `Name` without colons. Names are nearly always
/// ASCII, checked byte by byte; others by the spec's character ranges.
fn ncname(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_ascii() {
        return b
            .first()
            .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'));
    }
    let mut chars = s.chars();
    chars.next().is_some_and(name_start) && chars.all(|c| name_start(c) || name_char(c))
}

fn name_start(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

fn name_char(c: char) -> bool {
    matches!(c,
        '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// A namespace URI as declared: quick-xml hands over the raw `xmlns`
/// attribute value, but the namespace is the value with its references
/// resolved (`xmlns="urn:a&amp;b"` is `urn:a&b`), which is also what
/// [`Element::to_xml`] escapes it back from. Nearly every URI has nothing
/// to resolve and is not copied.
fn ns_name(raw: &str) -> Result<Cow<'_, str>, XmlError> {
    if raw.bytes().any(|b| matches!(b, b'&' | b'<')) {
        attr_value(raw).map(Cow::Owned)
    } else {
        Ok(Cow::Borrowed(raw))
    }
}

/// Resolves the predefined entities and character references of an
/// attribute value; anything else is refused, and so is a literal `<`
/// (not well-formed, though quick-xml lets it through).
fn attr_value(raw: &str) -> Result<String, XmlError> {
    match raw.bytes().find(|b| matches!(b, b'&' | b'<')) {
        None => return Ok(raw.to_string()),
        Some(b'<') => return Err(XmlError::Malformed("'<' in an attribute value".into())),
        Some(_) if raw.contains('<') => {
            return Err(XmlError::Malformed("'<' in an attribute value".into()))
        }
        Some(_) => {}
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after
            .find(';')
            .ok_or_else(|| XmlError::Malformed("unterminated reference".into()))?;
        let name = &after[..end];
        if let Some(num) = name.strip_prefix('#') {
            let code = match num.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16),
                None => num.parse(),
            }
            .map_err(|_| XmlError::Malformed("invalid character reference".into()))?;
            out.push(
                char::from_u32(code)
                    .ok_or_else(|| XmlError::Malformed("invalid character reference".into()))?,
            );
        } else {
            out.push_str(predefined(name).ok_or_else(|| XmlError::Entity(name.to_string()))?);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Element, XmlError> {
        parse(s.as_bytes(), &Limits::default())
    }

    #[test]
    fn namespaces_by_uri_not_prefix() {
        let a = p(r#"<x:a xmlns:x="urn:n"><x:b k="v">t&amp;u</x:b></x:a>"#).unwrap();
        let b = p(r#"<a xmlns="urn:n"><b k="v">t&amp;u</b></a>"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.child("urn:n", "b").unwrap().text, "t&u");
        assert_eq!(a.child("urn:n", "b").unwrap().attr("k"), Some("v"));
    }

    #[test]
    fn cdata_is_text() {
        let e = p(r#"<a><![CDATA[echo <x> & "y"]]></a>"#).unwrap();
        assert_eq!(e.text, r#"echo <x> & "y""#);
    }

    #[test]
    fn doctype_and_entities_refused() {
        assert_eq!(
            p(r#"<!DOCTYPE a [<!ENTITY x "boom">]><a>&x;</a>"#),
            Err(XmlError::Doctype)
        );
        assert_eq!(p("<a>&x;</a>"), Err(XmlError::Entity("x".into())));
        assert_eq!(p("<a b='&x;'/>"), Err(XmlError::Entity("x".into())));
        assert_eq!(p("<a>&#65;&#x42;</a>").unwrap().text, "AB");
    }

    #[test]
    fn limits() {
        let deep = "<a>".repeat(10_000) + &"</a>".repeat(10_000);
        assert_eq!(p(&deep), Err(XmlError::TooDeep(64)));
        assert_eq!(
            parse(b"<a>\xff</a>", &Limits::default()),
            Err(XmlError::Utf8)
        );
        assert!(matches!(p("<a><b></a>"), Err(XmlError::Malformed(_))));
        assert!(matches!(p("<a></a><b/>"), Err(XmlError::Malformed(_))));
        assert_eq!(p(""), Err(XmlError::Empty));
        assert!(matches!(p("<q:a/>"), Err(XmlError::UnknownPrefix(_))));
    }

    #[test]
    fn to_xml_gives_back_the_same_tree() {
        let doc = concat!(
            r#"<x:a xmlns:x="urn:n" xmlns:y="urn:y" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" k="v &amp; &quot;w&quot;" y:k="2" xml:lang="en">"#,
            "t&lt;1&gt; &#13;\n",
            r#"<x:b/><y:c xsi:nil="true">in y<d xmlns="">no ns</d></y:c><x:b>again</x:b><e xmlns="urn:n2"><x:f/></e></x:a>"#
        );
        let a = p(doc).unwrap();
        let out = a.to_xml();
        let b = p(&out).unwrap();
        assert_eq!(a, b, "{out}");
        assert_eq!(b.text, "t<1> \r\n");
        assert_eq!(b.attrs.len(), 3);
        let d = b.find("", "d").unwrap();
        assert_eq!(d.text, "no ns");
        // Depth first, in document order: `b` (empty) before the second
        // `b`, a descendant before a later sibling, the root itself first.
        assert_eq!(b.find("urn:n", "b").unwrap().text, "");
        let nested = p(r#"<r><a><t>1</t></a><t>2</t><a><a><t>3</t></a></a></r>"#).unwrap();
        assert_eq!(nested.find("", "t").unwrap().text, "1");
        assert_eq!(nested.children[2].find("", "t").unwrap().text, "3");
        assert!(nested.find("", "r").is_some_and(|r| r.children.len() == 3));
        assert!(nested.find("", "x").is_none());
        // Deeper than the parser would build: written without recursion.
        let mut deep = Element {
            name: "leaf".into(),
            ..Default::default()
        };
        for _ in 0..100_000 {
            deep = Element {
                name: "n".into(),
                children: vec![deep],
                ..Default::default()
            };
        }
        let out = deep.to_xml();
        assert!(out.starts_with("<n><n>") && out.ends_with("</n></n>"));
        // Dropping a 100,000-deep tree recurses in Drop; unwind it first.
        let mut e = deep;
        while let Some(c) = e.children.pop() {
            e = c;
        }
    }

    /// Billion laughs and XXE never get as far as a declaration.
    #[test]
    fn billion_laughs_and_external_entities_refused() {
        let laughs = format!(
            r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">{}]><lolz>&lol9;</lolz>"#,
            (1..10)
                .map(|i| format!(
                    "<!ENTITY lol{i} \"{}\">",
                    format!(
                        "&lol{};",
                        if i == 1 {
                            String::new()
                        } else {
                            (i - 1).to_string()
                        }
                    )
                    .repeat(10)
                ))
                .collect::<String>()
        );
        assert_eq!(p(&laughs), Err(XmlError::Doctype));
        assert_eq!(
            p(r#"<!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><a>&xxe;</a>"#),
            Err(XmlError::Doctype)
        );
        assert_eq!(
            p(r#"<!DOCTYPE a SYSTEM "http://127.0.0.1:1/a.dtd"><a/>"#),
            Err(XmlError::Doctype)
        );
        assert_eq!(p("<a>&lol9;</a>"), Err(XmlError::Entity("lol9".into())));
    }

    /// Namespace scopes: a declaration holds for its element and what is
    /// inside it, wherever it stands among the attributes; `xmlns=""`
    /// takes the default away, a prefix declared empty is unknown, `xml`
    /// is bound already and neither it nor `xmlns` may be rebound.
    #[test]
    fn namespace_scopes() {
        let e = p(r#"<p:a q:k="1" xmlns:q="urn:q" xmlns:p="urn:p" xmlns="urn:d"><b xmlns:p="urn:p2"><p:c/></b><p:c/><d xmlns=""/><xml:e/></p:a>"#).unwrap();
        assert_eq!((e.ns.as_ref(), e.attrs[0].0.as_ref()), ("urn:p", "urn:q"));
        let b = &e.children[0];
        assert_eq!(
            (b.ns.as_ref(), b.children[0].ns.as_ref()),
            ("urn:d", "urn:p2")
        );
        assert_eq!(e.children[1].ns, "urn:p");
        assert_eq!(e.children[2].ns, "");
        assert_eq!(e.children[3].ns, crate::ns::XML);
        assert_eq!(
            p(r#"<a xmlns:p="urn:p"><b/></a><p:c/>"#).map(|_| ()),
            Err(XmlError::UnknownPrefix("p".into()))
        );
        assert_eq!(
            p(r#"<a><b xmlns:p="urn:p"/><p:c/></a>"#),
            Err(XmlError::UnknownPrefix("p".into()))
        );
        assert_eq!(
            p(r#"<a xmlns:p=""><p:c/></a>"#),
            Err(XmlError::UnknownPrefix("p".into()))
        );
        // A declaration nothing uses is not resolved.
        assert!(p(r#"<a xmlns:p="urn:&x;"/>"#).is_ok());
        assert!(p(r#"<a xmlns:xml="http://www.w3.org/XML/1998/namespace"/>"#).is_ok());
        for bad in [
            r#"<a xmlns:xml="urn:x"/>"#,
            r#"<a xmlns:xmlns="urn:x"/>"#,
            r#"<a xmlns:p="http://www.w3.org/2000/xmlns/"/>"#,
            r#"<a xmlns:p="http://www.w3.org/XML/1998/namespace"/>"#,
        ] {
            assert!(matches!(p(bad), Err(XmlError::Malformed(_))), "{bad}");
        }
        let many: String = (0..200)
            .map(|i| format!(r#" xmlns:p{i}="urn:{i}""#))
            .collect();
        assert!(matches!(
            p(&format!("<a{many}/>")),
            Err(XmlError::Malformed(_))
        ));
    }

    /// A namespace is its declaration's value with references resolved,
    /// however it was escaped; a raw `<` in any attribute and a name XML
    /// does not allow are malformed.
    #[test]
    fn namespace_values_are_unescaped() {
        let a = p(r#"<x:a xmlns:x="urn:a&amp;b&#x3C;"/>"#).unwrap();
        let b = p(r#"<a xmlns="urn:a&#38;b&lt;"/>"#).unwrap();
        assert_eq!(a.ns, "urn:a&b<");
        assert_eq!(a, b);
        assert_eq!(p(&a.to_xml()), Ok(a));
        assert!(matches!(
            p(r#"<a xmlns="urn:<x>"/>"#),
            Err(XmlError::Malformed(_))
        ));
        assert!(matches!(p(r#"<a b="<"/>"#), Err(XmlError::Malformed(_))));
        assert!(matches!(
            p(r#"<s:a:b xmlns:s="u"/>"#),
            Err(XmlError::Malformed(_))
        ));
        assert!(matches!(
            p(r#"<a s:b:c="1" xmlns:s="u"/>"#),
            Err(XmlError::Malformed(_))
        ));
        assert_eq!(
            p(r#"<a xmlns="urn:&x;"/>"#),
            Err(XmlError::Entity("x".into()))
        );
    }
}
