//! Typed WS-Management messages: the SOAP 1.2 envelope's addressing and
//! WS-Man headers as a [`Request`], and the writer for responses.
//!
//! The envelope itself (reading it, framing an answer) is
//! [`fakedc_xml::soap`]'s; what is WS-Man's is here: the WS-Addressing
//! 2004/08 and WS-Man header blocks, the namespaces a response declares,
//! Identify. Everything is sans-IO: bytes in, typed request or [`Fault`] out.

use crate::fault::Fault;
use crate::xml::soap::{self, EnvelopeStart, EnvelopeWriter, Version};
use crate::xml::{escape, escape_text, Element, Limits, Vocabulary};
use std::sync::LazyLock;
use std::time::Duration;

/// Namespace URIs (matched by URI: clients choose their own prefixes).
pub mod ns {
    pub const S: &str = fakedc_xml::ns::SOAP12;
    pub const A: &str = fakedc_xml::ns::WSA_2004;
    pub const W: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd";
    pub const P: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd";
    pub const N: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration";
    pub const X: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer";
    pub const B: &str = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd";
    pub const WSMID: &str = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd";
    pub const RSP: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell";
    pub const F: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault";
    pub const CIM: &str = "http://schemas.dmtf.org/wbem/wscim/1/common";
    pub const XSI: &str = fakedc_xml::ns::XSI;
    pub const CFG: &str = "http://schemas.microsoft.com/wbem/wsman/1/config";
}

/// Action URIs.
pub mod action {
    pub const GET: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get";
    pub const PUT: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put";
    pub const CREATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create";
    pub const DELETE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete";
    pub const ENUMERATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate";
    pub const PULL: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull";
    pub const RELEASE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Release";
    pub const COMMAND: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command";
    pub const SEND: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send";
    pub const RECEIVE: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive";
    pub const SIGNAL: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal";
    pub const ANONYMOUS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";
}

/// The WS-Man namespaces and element names requests are made of, shared by
/// the parser rather than allocated per element (allocation was a large
/// share of the per-request cost); the SOAP and addressing ones are
/// `fakedc_xml`'s own.
pub const VOCABULARY: Vocabulary = Vocabulary {
    namespaces: &[
        ns::W,
        ns::P,
        ns::N,
        ns::X,
        ns::B,
        ns::WSMID,
        ns::RSP,
        ns::F,
        ns::CIM,
        ns::CFG,
    ],
    names: &[
        "ResourceURI",
        "MaxEnvelopeSize",
        "OperationTimeout",
        "Locale",
        "DataLocale",
        "SessionId",
        "SelectorSet",
        "Selector",
        "OptionSet",
        "Option",
        "Enumerate",
        "OptimizeEnumeration",
        "MaxElements",
        "EnumerationMode",
        "EnumerationContext",
        "Filter",
        "Pull",
        "Release",
        "Name",
        "Dialect",
        "Identify",
    ],
};

/// The largest envelope a request may be, whatever it says (Windows'
/// default MaxEnvelopeSizekb is 500).
pub const MAX_REQUEST: usize = 512 * 1024;

/// A parsed request envelope.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub action: Option<String>,
    pub message_id: Option<String>,
    pub resource_uri: Option<String>,
    /// Selectors in order (name, value); a selector whose value is an
    /// endpoint reference keeps its text (usually empty).
    pub selectors: Vec<(String, String)>,
    pub options: Vec<(String, String)>,
    pub max_envelope_size: Option<usize>,
    pub operation_timeout: Option<Duration>,
    /// The whole `s:Body` element.
    pub body: Element,
    /// Whether the body is `wsmid:Identify`.
    pub identify: bool,
}

impl Request {
    pub fn selector(&self, name: &str) -> Option<&str> {
        self.selectors
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first element of the body, if any.
    pub fn body_first(&self) -> Option<&Element> {
        self.body.children.first()
    }

    /// A short name for the journal: the action's last segment and the
    /// class (`Enumerate Win32_Service`), or `Identify`.
    pub fn journal_name(&self) -> String {
        if self.identify {
            return "Identify".into();
        }
        let act = self
            .action
            .as_deref()
            .and_then(|a| a.rsplit('/').next())
            .unwrap_or("?");
        let class = self
            .resource_uri
            .as_deref()
            .and_then(|u| u.rsplit('/').next())
            .unwrap_or("");
        let mut op = String::with_capacity(act.len() + 1 + class.len());
        op.push_str(act);
        op.push(' ');
        op.push_str(class);
        op
    }
}

/// Parses an envelope. The XML errors become the faults Windows sends for
/// them; missing headers are checked by the dispatcher, which knows which
/// ones each operation needs.
pub fn parse_request(bytes: &[u8]) -> Result<Request, Fault> {
    if bytes.len() > MAX_REQUEST {
        return Err(Fault::encoding_limit("the request envelope is too large"));
    }
    let env = soap::read_with(bytes, &Limits::default(), &VOCABULARY).map_err(Fault::from_soap)?;
    if env.version != Version::Soap12 {
        return Err(Fault::schema("the root element is not a SOAP 1.2 Envelope"));
    }
    let soap::Envelope {
        mut headers, body, ..
    } = env;
    let mut r = Request {
        identify: body
            .children
            .first()
            .is_some_and(|e| e.is(ns::WSMID, "Identify")),
        body,
        ..Default::default()
    };
    for e in &mut headers {
        match (e.ns.as_ref(), e.name.as_ref()) {
            (ns::A, "Action") => r.action = Some(take_trimmed(e)),
            (ns::A, "MessageID") => r.message_id = Some(take_trimmed(e)),
            (ns::W, "ResourceURI") => r.resource_uri = Some(take_trimmed(e)),
            (ns::W, "SelectorSet") => {
                for s in e.children_named(ns::W, "Selector") {
                    r.selectors.push((
                        s.attr("Name").unwrap_or_default().to_string(),
                        s.text_trim().to_string(),
                    ));
                }
            }
            (ns::W, "OptionSet") => {
                for o in e.children_named(ns::W, "Option") {
                    r.options.push((
                        o.attr("Name").unwrap_or_default().to_string(),
                        o.text_trim().to_string(),
                    ));
                }
            }
            (ns::W, "MaxEnvelopeSize") => {
                r.max_envelope_size = Some(
                    e.text_trim()
                        .parse()
                        .map_err(|_| Fault::schema("MaxEnvelopeSize is not a number"))?,
                );
            }
            (ns::W, "OperationTimeout") => {
                r.operation_timeout = Some(
                    parse_duration(e.text_trim())
                        .ok_or_else(|| Fault::schema("OperationTimeout is not an xs:duration"))?,
                );
            }
            _ => {}
        }
    }
    Ok(r)
}

/// An element's trimmed text, moved out of the (discarded) tree rather
/// than copied when there is nothing to trim, as there nearly never is.
fn take_trimmed(e: &mut Element) -> String {
    let text = std::mem::take(&mut e.text);
    match text.trim() {
        t if t.len() == text.len() => text,
        t => t.to_string(),
    }
}

/// Parses the xs:duration forms clients send (`PT20S`, `PT60.000S`,
/// `PT1M`, `P0DT0H0M5S`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let rest = s.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut secs = 0f64;
    let mut num = String::new();
    for (part, is_time) in [(date, false), (time, true)] {
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
                continue;
            }
            let v: f64 = num.parse().ok()?;
            num.clear();
            secs += v * match (c, is_time) {
                ('Y', false) => 365.0 * 86400.0,
                ('M', false) => 30.0 * 86400.0,
                ('D', false) => 86400.0,
                ('H', true) => 3600.0,
                ('M', true) => 60.0,
                ('S', true) => 1.0,
                _ => return None,
            };
        }
        if !num.is_empty() {
            return None;
        }
    }
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return None;
    }
    Some(Duration::from_secs_f64(secs))
}

/// A new message id in the form Windows uses (upper-case, version 4).
pub fn new_uuid() -> String {
    let mut s = String::with_capacity(36);
    push_uuid(&mut s);
    s
}

/// [`new_uuid`] appended to `out`; hex digits written directly, since a
/// `format!` with sixteen arguments per response showed up in profiles.
fn push_uuid(out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut b: [u8; 16] = rand::random();
    b[6] &= 0x0f;
    b[8] = (b[8] & 0x3f) | 0x80;
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        if i == 6 {
            // The version nibble replaces the byte's high nibble.
            out.push('4');
        } else {
            out.push(HEX[usize::from(byte >> 4)] as char);
        }
        out.push(HEX[usize::from(byte & 0x0f)] as char);
    }
}

/// The attributes every response envelope carries besides `xmlns:s`: the
/// language and the prefixes responses and faults use.
const RESPONSE_ATTRS: &[(&str, &str)] = &[
    ("xml:lang", "en-US"),
    ("xmlns:a", ns::A),
    ("xmlns:x", ns::X),
    ("xmlns:n", ns::N),
    ("xmlns:w", ns::W),
    ("xmlns:p", ns::P),
    ("xmlns:rsp", ns::RSP),
    ("xmlns:b", ns::B),
    ("xmlns:xsi", ns::XSI),
    ("xmlns:cim", ns::CIM),
];

/// The start tag of every response, rendered once.
static RESPONSE_START: LazyLock<EnvelopeStart> =
    LazyLock::new(|| EnvelopeStart::new(Version::Soap12, "s", RESPONSE_ATTRS));

/// The start tag of every fault: the response's, and WS-Eventing's prefix.
static FAULT_START: LazyLock<EnvelopeStart> = LazyLock::new(|| {
    let mut attrs = RESPONSE_ATTRS.to_vec();
    attrs.push(("xmlns:e", "http://schemas.xmlsoap.org/ws/2004/08/eventing"));
    EnvelopeStart::new(Version::Soap12, "s", &attrs)
});

/// A response envelope with the prefixes WS-Man answers use declared, and
/// room for a body of `capacity` bytes.
pub(crate) fn writer(capacity: usize) -> EnvelopeWriter {
    RESPONSE_START.writer(capacity)
}

/// A fault envelope (see [`writer`]).
pub(crate) fn fault_writer() -> EnvelopeWriter {
    FAULT_START.writer(0)
}

/// `a:MessageID` with a new id.
pub(crate) fn push_message_id(out: &mut String) {
    out.push_str("<a:MessageID>uuid:");
    push_uuid(out);
    out.push_str("</a:MessageID>");
}

/// `a:RelatesTo` echoing the request's MessageID verbatim, when there was
/// one (every answer, fault or not, carries it).
pub(crate) fn push_relates_to(out: &mut String, relates_to: Option<&str>) {
    if let Some(r) = relates_to {
        out.push_str("<a:RelatesTo>");
        out.push_str(&escape_text(r));
        out.push_str("</a:RelatesTo>");
    }
}

/// Writes a response envelope: `a:To` anonymous, `a:Action`, a new
/// `a:MessageID` and `a:RelatesTo` echoing the request's MessageID verbatim.
pub fn response(action: &str, relates_to: Option<&str>, extra_headers: &str, body: &str) -> String {
    let mut w = response_writer(action, "", relates_to, body.len() + extra_headers.len());
    w.header().push_str(extra_headers);
    w.finish(body)
}

/// [`response`]'s envelope up to its Body, for a caller that writes the
/// Body straight into it: `a:Action` is `action` followed by `suffix`
/// (`Response` after a request's action, without a copy joining them),
/// with room for `capacity` more bytes.
pub fn response_writer(
    action: &str,
    suffix: &str,
    relates_to: Option<&str>,
    capacity: usize,
) -> EnvelopeWriter {
    let mut w = writer(capacity);
    w.header_text("a:To", action::ANONYMOUS, false);
    let out = w.header();
    out.push_str(r#"<a:Action s:mustUnderstand="true">"#);
    out.push_str(&escape_text(action));
    out.push_str(&escape_text(suffix));
    out.push_str("</a:Action>");
    push_message_id(out);
    push_relates_to(out, relates_to);
    w
}

/// The Identify answer. Windows tells anonymous callers nothing about its
/// OS version.
pub fn identify_response(vendor: &str, version: &str) -> String {
    identify_response_with(
        vendor,
        version,
        &["http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos"],
    )
}

/// An Identify answer with the security profiles a service accepts (a BMC
/// lists Basic and Digest over HTTPS).
pub fn identify_response_with(vendor: &str, version: &str, security_profiles: &[&str]) -> String {
    let mut w = EnvelopeWriter::with(Version::Soap12, "s", &[("xmlns:wsmid", ns::WSMID)]);
    // An empty Header, as Windows sends.
    w.header();
    w.finish_with(|out| {
        out.push_str("<wsmid:IdentifyResponse><wsmid:ProtocolVersion>");
        out.push_str(ns::W);
        out.push_str("</wsmid:ProtocolVersion><wsmid:ProductVendor>");
        out.push_str(&escape(vendor));
        out.push_str("</wsmid:ProductVendor><wsmid:ProductVersion>");
        out.push_str(&escape(version));
        out.push_str("</wsmid:ProductVersion><wsmid:SecurityProfiles>");
        for p in security_profiles {
            out.push_str("<wsmid:SecurityProfileName>");
            out.push_str(&escape(p));
            out.push_str("</wsmid:SecurityProfileName>");
        }
        out.push_str("</wsmid:SecurityProfiles></wsmid:IdentifyResponse>");
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("PT20S"), Some(Duration::from_secs(20)));
        assert_eq!(parse_duration("PT60.000S"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("PT1M"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("P0DT0H0M5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("PT"), Some(Duration::ZERO));
        assert_eq!(parse_duration("20"), None);
        assert_eq!(parse_duration("PTxS"), None);
        assert_eq!(parse_duration("PT5"), None);
    }

    #[test]
    fn uuids_have_the_windows_form() {
        for _ in 0..200 {
            let u = new_uuid();
            assert_eq!(u.len(), 36, "{u}");
            for (i, c) in u.chars().enumerate() {
                match i {
                    8 | 13 | 18 | 23 => assert_eq!(c, '-', "{u}"),
                    14 => assert_eq!(c, '4', "{u}"),
                    19 => assert!("89AB".contains(c), "{u}"),
                    _ => assert!(c.is_ascii_hexdigit() && !c.is_ascii_lowercase(), "{u}"),
                }
            }
        }
    }

    fn captures(name: &str) -> Vec<String> {
        let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).unwrap();
        text.split("<?xml")
            .filter(|s| !s.trim().is_empty())
            .map(|s| format!("<?xml{s}"))
            .collect()
    }

    #[test]
    fn pywinrm_capture_parses() {
        let msgs = captures("pywinrm-run_cmd-requests.xml");
        assert_eq!(msgs.len(), 5);
        let create = parse_request(msgs[0].as_bytes()).unwrap();
        assert_eq!(create.action.as_deref(), Some(action::CREATE));
        assert_eq!(
            create.resource_uri.as_deref(),
            Some("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd")
        );
        assert_eq!(create.option("WINRS_CODEPAGE"), Some("437"));
        assert_eq!(create.max_envelope_size, Some(153600));
        assert_eq!(create.operation_timeout, Some(Duration::from_secs(20)));
        assert_eq!(
            create.message_id.as_deref(),
            Some("uuid:66c25155-03fb-4b89-ba7f-647712899f4a")
        );
        let cmd = parse_request(msgs[1].as_bytes()).unwrap();
        assert_eq!(
            cmd.selector("ShellId"),
            Some("4E500537-D714-48E4-8CAB-B46D5ADB9375")
        );
        let line = cmd.body.find(ns::RSP, "CommandLine").unwrap();
        assert_eq!(line.child(ns::RSP, "Command").unwrap().text, "ipconfig");
        assert_eq!(line.child(ns::RSP, "Arguments").unwrap().text, "/all");
        let recv = parse_request(msgs[2].as_bytes()).unwrap();
        let ds = recv.body.find(ns::RSP, "DesiredStream").unwrap();
        assert_eq!(
            ds.attr("CommandId"),
            Some("9D44070C-5385-4C49-AF7A-D27C7C3F4DCD")
        );
    }

    #[test]
    fn go_capture_parses_cdata() {
        let msgs = captures("go-winrm-requests.xml");
        assert_eq!(msgs.len(), 5);
        let cmd = parse_request(msgs[1].as_bytes()).unwrap();
        let c = cmd.body.find(ns::RSP, "Command").unwrap();
        assert!(c.text.starts_with("echo aGVsbG8K >> \"%TEMP%\\winrmcp-"));
        assert_eq!(
            parse_request(msgs[0].as_bytes()).unwrap().operation_timeout,
            Some(Duration::from_secs(60))
        );
        let del = parse_request(msgs[4].as_bytes()).unwrap();
        assert_eq!(del.action.as_deref(), Some(action::DELETE));
    }

    /// Mutated captures never panic the parser, and every refusal renders
    /// as a well-formed fault (what the fuzz target checks, in miniature).
    #[test]
    fn mutations_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let seeds: Vec<Vec<u8>> = captures("pywinrm-run_cmd-requests.xml")
            .into_iter()
            .chain(captures("go-winrm-requests.xml"))
            .map(String::into_bytes)
            .collect();
        for i in 0..3000 {
            let mut m = seeds[i % seeds.len()].clone();
            for _ in 0..rng.gen_range(1..8) {
                let at = rng.gen_range(0..m.len());
                match rng.gen_range(0..3) {
                    0 => m[at] = rng.gen(),
                    1 => {
                        m.remove(at);
                    }
                    _ => m.insert(at, b"<&>;\"'"[rng.gen_range(0..6)]),
                }
            }
            if let Err(f) = parse_request(&m) {
                let xml = f.to_xml(Some("uuid:1"), "m");
                assert!(crate::xml::parse(xml.as_bytes(), &Limits::default()).is_ok());
            }
        }
    }
}
