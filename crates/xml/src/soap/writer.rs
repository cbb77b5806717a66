//! Writing envelopes as strings.
//!
//! A response is a fixed frame around protocol text the service builds, so
//! the writer is a string builder that owns the frame (declarations, Header
//! open and close, Body, the Fault's shape) and takes the blocks and the
//! payload as XML the caller wrote, escaped with this crate's escapers.
//! The Body is written only by the `finish` methods, which consume the
//! writer, so a header can never land after the Body.

use super::{Fault, Version};
use crate::{escape_attr, escape_text, Element};

/// Builds one envelope: `Envelope` start tag, optional header blocks, then
/// the Body through one of the `finish` methods.
#[derive(Debug, Clone)]
pub struct EnvelopeWriter {
    out: String,
    version: Version,
    prefix: &'static str,
    in_header: bool,
}

/// An `Envelope` start tag rendered once and reused for every message: a
/// service declares the same prefixes on every answer, and rendering (and
/// escaping) a dozen declarations per response cost several times what
/// copying the finished tag does.
#[derive(Debug, Clone)]
pub struct EnvelopeStart {
    version: Version,
    prefix: &'static str,
    tag: String,
}

impl EnvelopeStart {
    /// The start tag of [`EnvelopeWriter::with`].
    pub fn new(version: Version, prefix: &'static str, attrs: &[(&str, &str)]) -> EnvelopeStart {
        let mut tag = String::with_capacity(128);
        tag.push('<');
        tag.push_str(prefix);
        tag.push_str(":Envelope xmlns:");
        tag.push_str(prefix);
        tag.push_str("=\"");
        tag.push_str(version.namespace());
        tag.push('"');
        for (name, value) in attrs {
            tag.push(' ');
            tag.push_str(name);
            tag.push_str("=\"");
            tag.push_str(&escape_attr(value));
            tag.push('"');
        }
        tag.push('>');
        EnvelopeStart {
            version,
            prefix,
            tag,
        }
    }

    /// A writer that starts with this tag and has room for `capacity` more
    /// bytes (the body, when its size is known).
    pub fn writer(&self, capacity: usize) -> EnvelopeWriter {
        let mut out = String::with_capacity(self.tag.len() + 256 + capacity);
        out.push_str(&self.tag);
        EnvelopeWriter {
            out,
            version: self.version,
            prefix: self.prefix,
            in_header: false,
        }
    }
}

impl EnvelopeWriter {
    /// An envelope with the envelope namespace bound to `s` and nothing else
    /// declared.
    pub fn new(version: Version) -> EnvelopeWriter {
        EnvelopeWriter::with(version, "s", &[])
    }

    /// An envelope whose namespace is bound to `prefix` (vim25 answers with
    /// `soapenv`, WS-Man and WCF with `s`), with more attributes on the
    /// start tag: `("xmlns:a", uri)` declarations the headers and body
    /// use, and others such as `("xml:lang", "en-US")`. Values are
    /// escaped; names are the caller's constants. A service that writes
    /// the same start tag for every message keeps an [`EnvelopeStart`].
    pub fn with(version: Version, prefix: &'static str, attrs: &[(&str, &str)]) -> EnvelopeWriter {
        let start = EnvelopeStart::new(version, prefix, attrs);
        EnvelopeWriter {
            out: start.tag,
            version,
            prefix,
            in_header: false,
        }
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// The prefix bound to the envelope namespace (for `s:mustUnderstand`
    /// and the like inside blocks the caller writes).
    pub fn prefix(&self) -> &'static str {
        self.prefix
    }

    /// Reserves room for `additional` more bytes (a large body).
    pub fn reserve(&mut self, additional: usize) {
        self.out.reserve(additional);
    }

    /// The buffer inside `Header`, opened on first use, to append header
    /// blocks to (XML the caller writes and escapes).
    pub fn header(&mut self) -> &mut String {
        if !self.in_header {
            self.in_header = true;
            self.open(false, "Header");
        }
        &mut self.out
    }

    /// A header block holding text: `<qname>text</qname>`, with
    /// `mustUnderstand` in the version's spelling when asked. `qname`'s
    /// prefix must be declared on the envelope.
    pub fn header_text(&mut self, qname: &str, text: &str, must_understand: bool) -> &mut Self {
        let (prefix, yes) = (self.prefix, self.version.true_value());
        let out = self.header();
        out.push('<');
        out.push_str(qname);
        if must_understand {
            out.push(' ');
            out.push_str(prefix);
            out.push_str(":mustUnderstand=\"");
            out.push_str(yes);
            out.push('"');
        }
        out.push('>');
        out.push_str(&escape_text(text));
        out.push_str("</");
        out.push_str(qname);
        out.push('>');
        self
    }

    /// SOAP 1.2's `NotUnderstood` header block naming a block that was not
    /// understood, for a `MustUnderstand` fault (SOAP 1.2 §5.4.8). SOAP 1.1
    /// has no such block: nothing is written.
    pub fn not_understood(&mut self, block: &Element) -> &mut Self {
        if self.version == Version::Soap12 {
            let prefix = self.prefix;
            let out = self.header();
            out.push('<');
            out.push_str(prefix);
            out.push_str(":NotUnderstood qname=\"");
            if block.ns.is_empty() {
                out.push_str(&escape_attr(&block.name));
                out.push_str("\"/>");
            } else {
                out.push_str("nu:");
                out.push_str(&escape_attr(&block.name));
                out.push_str("\" xmlns:nu=\"");
                out.push_str(&escape_attr(&block.ns));
                out.push_str("\"/>");
            }
        }
        self
    }

    /// Closes the envelope around `body` (XML the caller wrote).
    pub fn finish(self, body: &str) -> String {
        self.finish_with(|out| out.push_str(body))
    }

    /// Closes the envelope, letting `body` write the Body's content straight
    /// into the buffer (no intermediate string for a large payload).
    pub fn finish_with(mut self, body: impl FnOnce(&mut String)) -> String {
        if self.in_header {
            self.open(true, "Header");
        }
        self.open(false, "Body");
        body(&mut self.out);
        self.open(true, "Body");
        self.open(true, "Envelope");
        self.out
    }

    /// Closes the envelope around a fault in this version's shape.
    pub fn finish_fault(self, fault: &Fault) -> String {
        let (version, prefix) = (self.version, self.prefix);
        self.finish_with(|out| fault.write(version, prefix, out))
    }

    fn open(&mut self, close: bool, name: &str) {
        self.out.push('<');
        if close {
            self.out.push('/');
        }
        self.out.push_str(self.prefix);
        self.out.push(':');
        self.out.push_str(name);
        self.out.push('>');
    }
}
