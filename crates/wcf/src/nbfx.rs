//! .NET Binary XML (MC-NBFX) with the SOAP static dictionary (MC-NBFS) and
//! in-band session strings (MC-NBFSE), sans-IO.
//!
//! The reader turns a message into a [`fakedc_xml::Element`] (the tree the
//! text SOAP services use too), so dispatch is written once for net.tcp and
//! HTTP. It accepts the literal and the dictionary form of every name and
//! both the folded (`99`) and unfolded (`98 … 01`) end of a text, since
//! Mono and .NET differ there. The writer emits what WCF emits for the
//! envelope (dictionary names, typed text records) from a [`Node`] tree.

use crate::dict;
use crate::nmf::{read_mbi31, write_mbi31};
use fakedc_model::timefmt::civil_from_days;
use fakedc_xml::Element;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Limits on what one message may make the reader build.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_depth: usize,
    pub max_elements: usize,
    pub max_attributes: usize,
    /// Strings a session dictionary may hold (per direction, per
    /// connection): WCF's MaxSessionSize.
    pub max_session_strings: usize,
    /// Bytes those strings may take.
    pub max_session_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 64,
            max_elements: 20_000,
            max_attributes: 64,
            max_session_strings: 2048,
            max_session_bytes: 256 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NbfxError {
    #[error("truncated binary XML")]
    Truncated,
    #[error("unknown record 0x{0:02x} at byte {1}")]
    UnknownRecord(u8, usize),
    #[error("unexpected record 0x{0:02x} at byte {1}")]
    Unexpected(u8, usize),
    #[error("dictionary string {0} is not defined")]
    UnknownString(u32),
    #[error("undeclared prefix '{0}'")]
    UnknownPrefix(String),
    #[error("invalid UTF-8/UTF-16 text")]
    Text,
    #[error("too deep, too many elements or attributes")]
    TooBig,
    #[error("session dictionary full")]
    SessionFull,
    #[error("unbalanced elements")]
    Unbalanced,
    #[error("{0} is not supported")]
    Unsupported(&'static str),
}

type R<T> = Result<T, NbfxError>;

/// The static table's reverse index.
fn static_ids() -> &'static HashMap<&'static str, u32> {
    static M: OnceLock<HashMap<&'static str, u32>> = OnceLock::new();
    M.get_or_init(|| {
        dict::STRINGS
            .iter()
            .enumerate()
            .map(|(i, s)| (*s, (i as u32) * 2))
            .collect()
    })
}

/// The wire id of a static string.
pub fn static_id(s: &str) -> Option<u32> {
    static_ids().get(s).copied()
}

/// One direction's MC-NBFSE session strings (ids 1, 3, 5, …).
#[derive(Debug, Default, Clone)]
pub struct Session {
    strings: Vec<String>,
    bytes: usize,
}

impl Session {
    fn get(&self, id: u32) -> Option<&str> {
        self.strings.get((id / 2) as usize).map(|s| s.as_str())
    }

    /// Reads the string table at the front of a message and returns the
    /// rest (the binary XML).
    pub fn read_table<'a>(&mut self, msg: &'a [u8], limits: &Limits) -> R<&'a [u8]> {
        let (n, used) = read_mbi31(msg)
            .map_err(|_| NbfxError::Truncated)?
            .ok_or(NbfxError::Truncated)?;
        let end = used
            .checked_add(n as usize)
            .filter(|e| *e <= msg.len())
            .ok_or(NbfxError::Truncated)?;
        let mut at = used;
        while at < end {
            let (len, u) = read_mbi31(&msg[at..end])
                .map_err(|_| NbfxError::Truncated)?
                .ok_or(NbfxError::Truncated)?;
            at += u;
            let s = msg
                .get(at..at + len as usize)
                .filter(|_| at + len as usize <= end)
                .ok_or(NbfxError::Truncated)?;
            at += len as usize;
            let s = std::str::from_utf8(s).map_err(|_| NbfxError::Text)?;
            if self.strings.len() >= limits.max_session_strings
                || self.bytes + s.len() > limits.max_session_bytes
            {
                return Err(NbfxError::SessionFull);
            }
            self.bytes += s.len();
            self.strings.push(s.to_string());
        }
        Ok(&msg[end..])
    }
}

/// How an element or attribute names its namespace before resolution.
struct Pending {
    prefix: String,
    name: String,
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn u8(&mut self) -> R<u8> {
        let v = *self.b.get(self.at).ok_or(NbfxError::Truncated)?;
        self.at += 1;
        Ok(v)
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }
    fn bytes(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self.at.checked_add(n).ok_or(NbfxError::Truncated)?;
        let s = self.b.get(self.at..end).ok_or(NbfxError::Truncated)?;
        self.at = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> R<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }
    fn mbi(&mut self) -> R<u32> {
        let (v, n) = read_mbi31(self.b.get(self.at..).unwrap_or_default())
            .map_err(|_| NbfxError::Truncated)?
            .ok_or(NbfxError::Truncated)?;
        self.at += n;
        Ok(v)
    }
    fn string(&mut self) -> R<String> {
        let n = self.mbi()? as usize;
        let b = self.bytes(n)?;
        std::str::from_utf8(b)
            .map(|s| s.to_string())
            .map_err(|_| NbfxError::Text)
    }
}

/// Reads one message's binary XML (after its string table) into a tree,
/// resolving dictionary ids against the static table and `session`.
pub fn read(b: &[u8], session: &Session, limits: &Limits) -> R<Element> {
    let mut c = Cursor { b, at: 0 };
    let dict = |id: u32| -> R<String> {
        if id.is_multiple_of(2) {
            dict::STRINGS
                .get((id / 2) as usize)
                .map(|s| s.to_string())
                .ok_or(NbfxError::UnknownString(id))
        } else {
            session
                .get(id)
                .map(|s| s.to_string())
                .ok_or(NbfxError::UnknownString(id))
        }
    };
    // Stack of open elements with their namespace scopes.
    let mut stack: Vec<(Element, Vec<(String, String)>)> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    while c.at < b.len() {
        let pos = c.at;
        let rec = c.u8()?;
        match rec {
            0x01 => close(&mut stack, &mut root)?,
            0x02 => {
                // Comment: skipped.
                c.string()?;
            }
            0x40..=0x77 => {
                if root.is_some() {
                    return Err(NbfxError::Unexpected(rec, pos));
                }
                elements += 1;
                if elements > limits.max_elements || stack.len() >= limits.max_depth {
                    return Err(NbfxError::TooBig);
                }
                let el = match rec {
                    0x40 => Pending {
                        prefix: String::new(),
                        name: c.string()?,
                    },
                    0x41 => Pending {
                        prefix: c.string()?,
                        name: c.string()?,
                    },
                    0x42 => Pending {
                        prefix: String::new(),
                        name: dict(c.mbi()?)?,
                    },
                    0x43 => Pending {
                        prefix: c.string()?,
                        name: dict(c.mbi()?)?,
                    },
                    0x44..=0x5d => Pending {
                        prefix: letter(rec - 0x44),
                        name: dict(c.mbi()?)?,
                    },
                    _ => Pending {
                        prefix: letter(rec - 0x5e),
                        name: c.string()?,
                    },
                };
                // Attributes follow the element record.
                let mut scope: Vec<(String, String)> = Vec::new();
                let mut attrs: Vec<(Pending, String)> = Vec::new();
                while let Some(a) = c.peek() {
                    if !(0x04..=0x3f).contains(&a) {
                        break;
                    }
                    c.at += 1;
                    if attrs.len() + scope.len() >= limits.max_attributes {
                        return Err(NbfxError::TooBig);
                    }
                    match a {
                        0x04 => {
                            let name = c.string()?;
                            let v = text(&mut c, &dict, false)?.0;
                            attrs.push((
                                Pending {
                                    prefix: String::new(),
                                    name,
                                },
                                v,
                            ));
                        }
                        0x05 => {
                            let prefix = c.string()?;
                            let name = c.string()?;
                            let v = text(&mut c, &dict, false)?.0;
                            attrs.push((Pending { prefix, name }, v));
                        }
                        0x06 => {
                            let name = dict(c.mbi()?)?;
                            let v = text(&mut c, &dict, false)?.0;
                            attrs.push((
                                Pending {
                                    prefix: String::new(),
                                    name,
                                },
                                v,
                            ));
                        }
                        0x07 => {
                            let prefix = c.string()?;
                            let name = dict(c.mbi()?)?;
                            let v = text(&mut c, &dict, false)?.0;
                            attrs.push((Pending { prefix, name }, v));
                        }
                        0x08 => scope.push((String::new(), c.string()?)),
                        0x09 => {
                            let p = c.string()?;
                            scope.push((p, c.string()?));
                        }
                        0x0a => scope.push((String::new(), dict(c.mbi()?)?)),
                        0x0b => {
                            let p = c.string()?;
                            scope.push((p, dict(c.mbi()?)?));
                        }
                        0x0c..=0x25 => {
                            let prefix = letter(a - 0x0c);
                            let name = dict(c.mbi()?)?;
                            let v = text(&mut c, &dict, false)?.0;
                            attrs.push((Pending { prefix, name }, v));
                        }
                        _ => {
                            let prefix = letter(a - 0x26);
                            let name = c.string()?;
                            let v = text(&mut c, &dict, false)?.0;
                            attrs.push((Pending { prefix, name }, v));
                        }
                    }
                }
                let lookup = |p: &str| -> R<String> {
                    if p == "xml" {
                        return Ok("http://www.w3.org/XML/1998/namespace".into());
                    }
                    if let Some((_, u)) = scope.iter().rev().find(|(q, _)| q == p) {
                        return Ok(u.clone());
                    }
                    for (_, s) in stack.iter().rev() {
                        if let Some((_, u)) = s.iter().rev().find(|(q, _)| q == p) {
                            return Ok(u.clone());
                        }
                    }
                    if p.is_empty() {
                        Ok(String::new())
                    } else {
                        Err(NbfxError::UnknownPrefix(p.to_string()))
                    }
                };
                let ns = lookup(&el.prefix)?;
                let mut e = Element {
                    ns: Cow::Owned(ns),
                    name: Cow::Owned(el.name),
                    ..Element::default()
                };
                for (a, v) in attrs {
                    let ans = if a.prefix.is_empty() {
                        String::new()
                    } else {
                        lookup(&a.prefix)?
                    };
                    e.attrs.push((Cow::Owned(ans), Cow::Owned(a.name), v));
                }
                stack.push((e, scope));
            }
            0x80..=0xbd => {
                c.at = pos;
                let (t, end) = text(&mut c, &dict, true)?;
                let (top, _) = stack.last_mut().ok_or(NbfxError::Unexpected(rec, pos))?;
                top.text.push_str(&t);
                if end {
                    close(&mut stack, &mut root)?;
                }
            }
            0x03 => return Err(NbfxError::Unsupported("the Array record")),
            _ => return Err(NbfxError::UnknownRecord(rec, pos)),
        }
    }
    if !stack.is_empty() {
        return Err(NbfxError::Unbalanced);
    }
    root.ok_or(NbfxError::Unbalanced)
}

fn close(stack: &mut Vec<(Element, Vec<(String, String)>)>, root: &mut Option<Element>) -> R<()> {
    let (e, _) = stack.pop().ok_or(NbfxError::Unbalanced)?;
    match stack.last_mut() {
        Some((parent, _)) => parent.children.push(e),
        None => *root = Some(e),
    }
    Ok(())
}

fn letter(i: u8) -> String {
    char::from(b'a' + i).to_string()
}

/// Reads one text record; returns its text and whether it also ended the
/// element (the odd record types). `content`: element content (odd types
/// allowed) rather than an attribute value.
fn text(c: &mut Cursor<'_>, dict: &dyn Fn(u32) -> R<String>, content: bool) -> R<(String, bool)> {
    let pos = c.at;
    let rec = c.u8()?;
    if !(0x80..=0xbd).contains(&rec) {
        return Err(NbfxError::Unexpected(rec, pos));
    }
    let end = rec & 1 == 1;
    if end && !content {
        return Err(NbfxError::Unexpected(rec, pos));
    }
    let s = match rec & !1 {
        0x80 => "0".to_string(),
        0x82 => "1".to_string(),
        0x84 => "false".to_string(),
        0x86 => "true".to_string(),
        0x88 => (c.u8()? as i8).to_string(),
        0x8a => i16::from_le_bytes(c.arr()?).to_string(),
        0x8c => i32::from_le_bytes(c.arr()?).to_string(),
        0x8e => i64::from_le_bytes(c.arr()?).to_string(),
        0x90 => float(f64::from(f32::from_le_bytes(c.arr()?))),
        0x92 => float(f64::from_le_bytes(c.arr()?)),
        0x94 => decimal(c.arr()?),
        0x96 => datetime(u64::from_le_bytes(c.arr()?)),
        0x98 | 0x9a | 0x9c => {
            let n = match rec & !1 {
                0x98 => usize::from(c.u8()?),
                0x9a => usize::from(u16::from_le_bytes(c.arr()?)),
                _ => usize::try_from(i32::from_le_bytes(c.arr()?)).map_err(|_| NbfxError::Text)?,
            };
            std::str::from_utf8(c.bytes(n)?)
                .map_err(|_| NbfxError::Text)?
                .to_string()
        }
        0x9e | 0xa0 | 0xa2 => {
            let n = match rec & !1 {
                0x9e => usize::from(c.u8()?),
                0xa0 => usize::from(u16::from_le_bytes(c.arr()?)),
                _ => usize::try_from(i32::from_le_bytes(c.arr()?)).map_err(|_| NbfxError::Text)?,
            };
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(c.bytes(n)?)
        }
        0xa4 | 0xa6 => return Err(NbfxError::Unsupported("list text")),
        0xa8 => String::new(),
        0xaa => dict(c.mbi()?)?,
        0xac => format!("urn:uuid:{}", guid(c.arr()?)),
        0xae => timespan(i64::from_le_bytes(c.arr()?)),
        0xb0 => guid(c.arr()?),
        0xb2 => u64::from_le_bytes(c.arr()?).to_string(),
        0xb4 => match c.u8()? {
            0 => "false".to_string(),
            1 => "true".to_string(),
            _ => return Err(NbfxError::Text),
        },
        0xb6 | 0xb8 | 0xba => {
            let n = match rec & !1 {
                0xb6 => usize::from(c.u8()?),
                0xb8 => usize::from(u16::from_le_bytes(c.arr()?)),
                _ => usize::try_from(i32::from_le_bytes(c.arr()?)).map_err(|_| NbfxError::Text)?,
            };
            let b = c.bytes(n)?;
            if n % 2 != 0 {
                return Err(NbfxError::Text);
            }
            let units: Vec<u16> = b
                .chunks_exact(2)
                .map(|p| u16::from_le_bytes([p[0], p[1]]))
                .collect();
            String::from_utf16(&units).map_err(|_| NbfxError::Text)?
        }
        0xbc => {
            let p = c.u8()?;
            if p > 25 {
                return Err(NbfxError::Text);
            }
            format!("{}:{}", letter(p), dict(c.mbi()?)?)
        }
        _ => return Err(NbfxError::UnknownRecord(rec, pos)),
    };
    Ok((s, end))
}

fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "INF" } else { "-INF" }.into()
    } else {
        format!("{v}")
    }
}

/// A .NET `decimal` (MC-NBFX 2.2.3.15): reserved u16, scale u8, sign u8,
/// high u32, low u64.
fn decimal(b: [u8; 16]) -> String {
    let scale = u32::from(b[2]).min(28);
    let neg = b[3] & 0x80 != 0;
    let hi = u128::from(u32::from_le_bytes([b[4], b[5], b[6], b[7]]));
    let lo = u128::from(u64::from_le_bytes([
        b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15],
    ]));
    let v = (hi << 64) | lo;
    let digits = v.to_string();
    let s = if scale == 0 {
        digits
    } else {
        let scale = scale as usize;
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (i, f) = padded.split_at(padded.len() - scale);
        format!("{i}.{f}")
    };
    if neg {
        format!("-{s}")
    } else {
        s
    }
}

/// A .NET GUID's 16 bytes (Data1-3 little-endian) as text.
fn guid(b: [u8; 16]) -> String {
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    )
}

/// Parses a GUID's text into .NET byte order.
pub fn guid_bytes(s: &str) -> Option<[u8; 16]> {
    let h: String = s.chars().filter(|c| *c != '-').collect();
    if h.len() != 32 {
        return None;
    }
    let mut v = [0u8; 16];
    for (i, slot) in v.iter_mut().enumerate() {
        *slot = u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some([
        v[3], v[2], v[1], v[0], v[5], v[4], v[7], v[6], v[8], v[9], v[10], v[11], v[12], v[13],
        v[14], v[15],
    ])
}

const TICKS_PER_SEC: i64 = 10_000_000;
/// Days from 0001-01-01 to 1970-01-01.
const UNIX_EPOCH_DAYS: i64 = 719_162;

/// Ticks (100 ns since 0001-01-01) of a Unix time in milliseconds.
pub fn ticks_from_unix_millis(ms: i64) -> i64 {
    (UNIX_EPOCH_DAYS * 86_400 * TICKS_PER_SEC).saturating_add(ms.saturating_mul(10_000))
}

/// A DateTime record's value as xs:dateTime text (kind 1 = UTC gets `Z`).
fn datetime(v: u64) -> String {
    let kind = v >> 62;
    let ticks = (v & 0x3fff_ffff_ffff_ffff) as i64;
    let secs = ticks / TICKS_PER_SEC;
    let frac = ticks % TICKS_PER_SEC;
    let days = secs / 86_400 - UNIX_EPOCH_DAYS;
    let sod = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    if frac != 0 {
        let f = format!("{frac:07}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    if kind == 1 {
        s.push('Z');
    }
    s
}

fn timespan(t: i64) -> String {
    let neg = t < 0;
    let t = t.unsigned_abs();
    let secs = t / 10_000_000;
    let frac = t % 10_000_000;
    let mut s = String::from(if neg { "-P" } else { "P" });
    let (d, h, m, sec) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        s.push_str(&format!("{d}D"));
    }
    s.push('T');
    if h > 0 {
        s.push_str(&format!("{h}H"));
    }
    if m > 0 {
        s.push_str(&format!("{m}M"));
    }
    if frac > 0 {
        s.push_str(&format!(
            "{sec}.{}S",
            format!("{frac:07}").trim_end_matches('0')
        ));
    } else {
        s.push_str(&format!("{sec}S"));
    }
    s
}

// ---------------------------------------------------------------- writing

/// A typed text value: written as WCF writes it (typed records in binary,
/// the XML Schema lexical form in text).
#[derive(Debug, Clone, PartialEq)]
pub enum Text {
    Str(String),
    Int(i64),
    Bool(bool),
    /// Ticks since 0001-01-01, UTC.
    DateTimeUtc(i64),
    /// A `urn:uuid:` message id, .NET byte order.
    UniqueId([u8; 16]),
}

impl Text {
    /// The XML Schema lexical form.
    pub fn lexical(&self) -> String {
        match self {
            Text::Str(s) => s.clone(),
            Text::Int(i) => i.to_string(),
            Text::Bool(b) => b.to_string(),
            Text::DateTimeUtc(t) => datetime((*t as u64 & 0x3fff_ffff_ffff_ffff) | (1 << 62)),
            Text::UniqueId(g) => format!("urn:uuid:{}", guid(*g)),
        }
    }
}

/// An element to write, with its prefix and the namespace declarations it
/// carries (the writer does not invent prefixes: documents here are built
/// with the prefixes WCF uses).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Node {
    pub prefix: String,
    pub name: String,
    /// (prefix, uri); an empty prefix declares the default namespace.
    pub xmlns: Vec<(String, String)>,
    /// (prefix, name, value).
    pub attrs: Vec<(String, String, String)>,
    pub children: Vec<Node>,
    pub text: Option<Text>,
}

impl Node {
    pub fn new(prefix: &str, name: &str) -> Node {
        Node {
            prefix: prefix.into(),
            name: name.into(),
            ..Node::default()
        }
    }
    pub fn ns(mut self, prefix: &str, uri: &str) -> Node {
        self.xmlns.push((prefix.into(), uri.into()));
        self
    }
    pub fn attr(mut self, prefix: &str, name: &str, value: &str) -> Node {
        self.attrs.push((prefix.into(), name.into(), value.into()));
        self
    }
    pub fn child(mut self, c: Node) -> Node {
        self.children.push(c);
        self
    }
    pub fn text(mut self, t: Text) -> Node {
        self.text = Some(t);
        self
    }
    pub fn str(self, s: &str) -> Node {
        self.text(Text::Str(s.into()))
    }

    /// Text XML (no declaration); values escaped.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write_xml(&mut out);
        out
    }

    fn write_xml(&self, out: &mut String) {
        let qn = |p: &str, n: &str| {
            if p.is_empty() {
                n.to_string()
            } else {
                format!("{p}:{n}")
            }
        };
        let name = qn(&self.prefix, &self.name);
        out.push('<');
        out.push_str(&name);
        for (p, u) in &self.xmlns {
            out.push_str(&format!(
                " {}=\"{}\"",
                qn(
                    if p.is_empty() { "" } else { "xmlns" },
                    if p.is_empty() { "xmlns" } else { p }
                ),
                escape(u)
            ));
        }
        for (p, n, v) in &self.attrs {
            out.push_str(&format!(" {}=\"{}\"", qn(p, n), escape(v)));
        }
        if self.children.is_empty() && self.text.is_none() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        if let Some(t) = &self.text {
            out.push_str(&escape(&t.lexical()));
        }
        for c in &self.children {
            c.write_xml(out);
        }
        out.push_str("</");
        out.push_str(&name);
        out.push('>');
    }

    /// Binary XML (MC-NBFX) with static dictionary ids where the string is
    /// in MC-NBFS; other strings literal (an empty session table).
    pub fn to_nbfx(&self, out: &mut Vec<u8>) {
        let pidx = |p: &str| -> Option<u8> {
            let b = p.as_bytes();
            (b.len() == 1 && b[0].is_ascii_lowercase()).then(|| b[0] - b'a')
        };
        match (static_id(&self.name), pidx(&self.prefix)) {
            (Some(id), Some(i)) => {
                out.push(0x44 + i);
                write_mbi31(out, id as usize);
            }
            (None, Some(i)) => {
                out.push(0x5e + i);
                wstr(out, &self.name);
            }
            (Some(id), None) if self.prefix.is_empty() => {
                out.push(0x42);
                write_mbi31(out, id as usize);
            }
            (None, None) if self.prefix.is_empty() => {
                out.push(0x40);
                wstr(out, &self.name);
            }
            (Some(id), None) => {
                out.push(0x43);
                wstr(out, &self.prefix);
                write_mbi31(out, id as usize);
            }
            (None, None) => {
                out.push(0x41);
                wstr(out, &self.prefix);
                wstr(out, &self.name);
            }
        }
        for (p, u) in &self.xmlns {
            match (p.is_empty(), static_id(u)) {
                (true, Some(id)) => {
                    out.push(0x0a);
                    write_mbi31(out, id as usize);
                }
                (true, None) => {
                    out.push(0x08);
                    wstr(out, u);
                }
                (false, Some(id)) => {
                    out.push(0x0b);
                    wstr(out, p);
                    write_mbi31(out, id as usize);
                }
                (false, None) => {
                    out.push(0x09);
                    wstr(out, p);
                    wstr(out, u);
                }
            }
        }
        for (p, n, v) in &self.attrs {
            match (pidx(p), static_id(n)) {
                (Some(i), Some(id)) => {
                    out.push(0x0c + i);
                    write_mbi31(out, id as usize);
                }
                (Some(i), None) => {
                    out.push(0x26 + i);
                    wstr(out, n);
                }
                (None, _) if p.is_empty() => {
                    out.push(0x04);
                    wstr(out, n);
                }
                (None, _) => {
                    out.push(0x05);
                    wstr(out, p);
                    wstr(out, n);
                }
            }
            // "1" as One, as WCF writes mustUnderstand.
            if v == "1" {
                out.push(0x82);
            } else {
                write_text(out, &Text::Str(v.clone()), false);
            }
        }
        match (&self.text, self.children.is_empty()) {
            (Some(t), true) => write_text(out, t, true),
            (t, _) => {
                if let Some(t) = t {
                    write_text(out, t, false);
                }
                for c in &self.children {
                    c.to_nbfx(out);
                }
                out.push(0x01);
            }
        }
    }
}

fn wstr(out: &mut Vec<u8>, s: &str) {
    write_mbi31(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// One text record; `end` folds the EndElement in (odd record types).
fn write_text(out: &mut Vec<u8>, t: &Text, end: bool) {
    let e = u8::from(end);
    match t {
        Text::Str(s) => {
            if let Some(id) = static_id(s) {
                out.push(0xaa | e);
                write_mbi31(out, id as usize);
            } else if s.is_empty() {
                out.push(0xa8 | e);
            } else if s.len() < 256 {
                out.push(0x98 | e);
                out.push(s.len() as u8);
                out.extend_from_slice(s.as_bytes());
            } else if s.len() < 65_536 {
                out.push(0x9a | e);
                out.extend_from_slice(&(s.len() as u16).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            } else {
                out.push(0x9c | e);
                out.extend_from_slice(&(s.len().min(i32::MAX as usize) as i32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
        Text::Int(0) => out.push(0x80 | e),
        Text::Int(1) => out.push(0x82 | e),
        Text::Int(i) => {
            if let Ok(v) = i8::try_from(*i) {
                out.push(0x88 | e);
                out.push(v as u8);
            } else if let Ok(v) = i16::try_from(*i) {
                out.push(0x8a | e);
                out.extend_from_slice(&v.to_le_bytes());
            } else if let Ok(v) = i32::try_from(*i) {
                out.push(0x8c | e);
                out.extend_from_slice(&v.to_le_bytes());
            } else {
                out.push(0x8e | e);
                out.extend_from_slice(&i.to_le_bytes());
            }
        }
        Text::Bool(b) => out.push(if *b { 0x86 } else { 0x84 } | e),
        Text::DateTimeUtc(t) => {
            out.push(0x96 | e);
            let v = (*t as u64 & 0x3fff_ffff_ffff_ffff) | (1 << 62);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Text::UniqueId(g) => {
            out.push(0xac | e);
            out.extend_from_slice(g);
        }
    }
}

/// XML text/attribute escaping.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\r' => o.push_str("&#xD;"),
            _ => o.push(ch),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Vec<u8> {
        crate::golden::bytes(crate::golden::REQUEST).unwrap()[3..].to_vec()
    }
    fn reply() -> Vec<u8> {
        crate::golden::bytes(crate::golden::REPLY).unwrap()[3..].to_vec()
    }

    #[test]
    fn reads_the_captured_request() {
        let b = request();
        let mut s = Session::default();
        let rest = s.read_table(&b, &Limits::default()).unwrap();
        let e = read(rest, &s, &Limits::default()).unwrap();
        assert_eq!(e.name, "Envelope");
        assert_eq!(e.ns, "http://www.w3.org/2003/05/soap-envelope");
        let h = &e.children[0];
        assert_eq!(h.children[0].name, "Action");
        assert_eq!(
            h.children[0].text,
            "http://schemas.microsoft.com/VirtualManager/2006/07/ITimeSync/GetTime"
        );
        assert_eq!(h.children[0].attrs[0].1, "mustUnderstand");
        assert_eq!(
            h.children[1].text,
            "urn:uuid:03f1ca34-1f37-437f-8438-8c9da907bd43"
        );
        assert_eq!(
            h.children[2].children[0].text,
            "http://www.w3.org/2005/08/addressing/anonymous"
        );
        let body = &e.children[1].children[0];
        assert_eq!(body.name, "GetTime");
        assert_eq!(
            body.ns,
            "http://schemas.microsoft.com/VirtualManager/2006/07"
        );
        assert_eq!(body.children[0].name, "who");
        assert_eq!(body.children[0].text, "winpe-agent");
    }

    #[test]
    fn reads_the_captured_reply_and_writes_the_same_envelope() {
        let b = reply();
        let mut s = Session::default();
        let rest = s.read_table(&b, &Limits::default()).unwrap();
        let e = read(rest, &s, &Limits::default()).unwrap();
        let result = &e.children[1].children[0].children[0];
        assert_eq!(result.name, "GetTimeResult");
        assert_eq!(result.text, "2026-01-02T03:04:05Z");
        // Our writer's form of the same reply reads back to the same tree
        // (we write GetTimeResult literally, not as a session string).
        let ns = "http://schemas.microsoft.com/VirtualManager/2006/07";
        let ticks = ticks_from_unix_millis(
            fakedc_model::timefmt::days_from_civil(2026, 1, 2) * 86_400_000
                + (3 * 3600 + 4 * 60 + 5) * 1000,
        );
        let node = Node::new("s", "Envelope")
            .ns("s", "http://www.w3.org/2003/05/soap-envelope")
            .ns("a", "http://www.w3.org/2005/08/addressing")
            .child(
                Node::new("s", "Header")
                    .child(
                        Node::new("a", "Action")
                            .attr("s", "mustUnderstand", "1")
                            .str(&format!("{ns}/ITimeSync/GetTimeResponse")),
                    )
                    .child(Node::new("a", "RelatesTo").text(Text::UniqueId(
                        guid_bytes("03f1ca34-1f37-437f-8438-8c9da907bd43").unwrap(),
                    ))),
            )
            .child(
                Node::new("s", "Body").child(
                    Node::new("", "GetTimeResponse")
                        .ns("", ns)
                        .child(Node::new("", "GetTimeResult").text(Text::DateTimeUtc(ticks))),
                ),
            );
        let mut out = vec![0u8];
        node.to_nbfx(&mut out);
        let mut s2 = Session::default();
        let rest = s2.read_table(&out, &Limits::default()).unwrap();
        let back = read(rest, &s2, &Limits::default()).unwrap();
        assert_eq!(back, e);
        // Byte-identical where both use the same forms: the envelope start.
        assert_eq!(out[1..13], b[15..27]);
    }

    #[test]
    fn refuses_bad_input() {
        let l = Limits::default();
        let s = Session::default();
        assert!(read(&[0x42, 0x03], &s, &l).is_err(), "unknown session id");
        assert!(read(&[0x40, 0x01, b'a'], &s, &l).is_err(), "unclosed");
        assert!(
            read(&[0x45, 0x02, 0x01], &s, &l).is_err(),
            "undeclared prefix b"
        );
        let deep: Vec<u8> = std::iter::repeat_n([0x40, 0x01, b'a'], 100)
            .flatten()
            .collect();
        assert_eq!(read(&deep, &s, &l), Err(NbfxError::TooBig));
        assert_eq!(
            decimal([0, 0, 2, 0x80, 0, 0, 0, 0, 0x39, 0x30, 0, 0, 0, 0, 0, 0]),
            "-123.45"
        );
        assert_eq!(datetime(0), "0001-01-01T00:00:00");
        assert_eq!(timespan(15_000_000), "PT1.5S");
    }
}
