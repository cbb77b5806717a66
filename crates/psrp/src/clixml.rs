//! CLIXML (MS-PSRP 2.2.5): PowerShell's object serialisation, read and
//! written.
//!
//! The reader builds a [`Value`] tree from a bounded `fakedc-xml` tree (so
//! no DTD or entity is ever expanded) and resolves `<Ref>`s by copying the
//! object they name; since a `<Ref>` can name an object that itself holds
//! `<Ref>`s, copies are charged against a node budget ([`Limits::max_nodes`])
//! so a small document cannot expand into a huge tree. The writer numbers
//! `RefId`s itself and writes a type-name list once, then `<TNRef>`s, as
//! PowerShell does.

use base64::Engine as _;
use fakedc_xml::Element;
use std::collections::HashMap;
use std::fmt::Write as _;

/// One serialised value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    String(String),
    /// A UTF-16 code unit, as `System.Char` is.
    Char(u16),
    Bool(bool),
    /// `xs:dateTime` text as PowerShell writes it; kept as text because the
    /// sub-microsecond digits and the offset matter to the peer.
    DateTime(String),
    /// `xs:duration` text.
    Duration(String),
    Byte(u8),
    SByte(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    Single(f32),
    Double(f64),
    Decimal(String),
    Bytes(Vec<u8>),
    Guid(String),
    Uri(String),
    Version(String),
    Xml(String),
    ScriptBlock(String),
    /// A SecureString's ciphertext (base64). fakedc does no session key
    /// exchange, so it never has the key to open one.
    SecureString(String),
    Object(Box<Object>),
}

/// A complex object: `<Obj>`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object {
    /// `<TN>`: most derived type first.
    pub type_names: Vec<String>,
    pub to_string: Option<String>,
    /// A primitive the object wraps (an enum's `I32`, a string with notes).
    pub base: Option<Value>,
    pub items: Option<Items>,
    /// `<Props>`: adapted properties.
    pub adapted: Vec<(String, Value)>,
    /// `<MS>`: extended (note) properties.
    pub extended: Vec<(String, Value)>,
}

/// What a collection object holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Items {
    List(ListKind, Vec<Value>),
    Dict(Vec<(Value, Value)>),
}

/// The four list shapes (`LST` is also what arrays are written as).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    List,
    Enumerable,
    Stack,
    Queue,
}

impl ListKind {
    fn tag(self) -> &'static str {
        match self {
            ListKind::List => "LST",
            ListKind::Enumerable => "IE",
            ListKind::Stack => "STK",
            ListKind::Queue => "QUE",
        }
    }
}

/// The type names of a `[hashtable]`.
pub const HASHTABLE_TYPES: &[&str] = &["System.Collections.Hashtable", "System.Object"];
/// The type names of an `[object[]]`.
pub const ARRAY_TYPES: &[&str] = &["System.Object[]", "System.Array", "System.Object"];
/// The type names of a `[pscustomobject]`.
pub const PSCUSTOMOBJECT_TYPES: &[&str] = &[
    "System.Management.Automation.PSCustomObject",
    "System.Object",
];

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// An object with type names and extended properties.
    pub fn object(types: &[&str], extended: Vec<(String, Value)>) -> Value {
        Value::Object(Box::new(Object {
            type_names: types.iter().map(|s| s.to_string()).collect(),
            extended,
            ..Default::default()
        }))
    }

    /// A PSCustomObject with these properties.
    pub fn custom(props: Vec<(String, Value)>) -> Value {
        Value::object(PSCUSTOMOBJECT_TYPES, props)
    }

    /// An `[object[]]`.
    pub fn array(items: Vec<Value>) -> Value {
        Value::Object(Box::new(Object {
            type_names: ARRAY_TYPES.iter().map(|s| s.to_string()).collect(),
            items: Some(Items::List(ListKind::List, items)),
            ..Default::default()
        }))
    }

    /// A `[hashtable]`.
    pub fn hashtable(entries: Vec<(Value, Value)>) -> Value {
        Value::Object(Box::new(Object {
            type_names: HASHTABLE_TYPES.iter().map(|s| s.to_string()).collect(),
            items: Some(Items::Dict(entries)),
            ..Default::default()
        }))
    }

    /// An enum value: its type names, its name and its integer.
    pub fn enumeration(type_name: &str, name: &str, value: i32) -> Value {
        Value::Object(Box::new(Object {
            type_names: vec![
                type_name.to_string(),
                "System.Enum".into(),
                "System.ValueType".into(),
                "System.Object".into(),
            ],
            to_string: Some(name.to_string()),
            base: Some(Value::I32(value)),
            ..Default::default()
        }))
    }

    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// A string, or the text of a string-like primitive.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s)
            | Value::Version(s)
            | Value::Uri(s)
            | Value::Guid(s)
            | Value::Xml(s)
            | Value::ScriptBlock(s) => Some(s),
            Value::Object(o) => o.base.as_ref().and_then(Value::as_str),
            _ => None,
        }
    }

    /// Any integer, or an object wrapping one (an enum).
    pub fn as_i64(&self) -> Option<i64> {
        Some(match self {
            Value::Byte(n) => *n as i64,
            Value::SByte(n) => *n as i64,
            Value::U16(n) => *n as i64,
            Value::I16(n) => *n as i64,
            Value::U32(n) => *n as i64,
            Value::I32(n) => *n as i64,
            Value::U64(n) => i64::try_from(*n).ok()?,
            Value::I64(n) => *n,
            Value::Object(o) => return o.base.as_ref().and_then(Value::as_i64),
            _ => return None,
        })
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A list's items (`LST`, `IE`, `STK`, `QUE`).
    pub fn as_list(&self) -> Option<&[Value]> {
        match self.as_object()?.items.as_ref()? {
            Items::List(_, v) => Some(v),
            Items::Dict(_) => None,
        }
    }
}

impl Object {
    /// A property by name, extended first (where messages keep theirs).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.extended
            .iter()
            .chain(self.adapted.iter())
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// Why CLIXML was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClixmlError {
    #[error("CLIXML is not well-formed: {0}")]
    Xml(#[from] fakedc_xml::XmlError),
    #[error("unknown CLIXML element <{0}>")]
    UnknownElement(String),
    #[error("bad value in <{0}>")]
    BadValue(String),
    #[error("<Ref> or <TNRef> to an unknown RefId {0}")]
    UnknownRef(String),
    #[error("the object graph is larger than {0} values")]
    TooLarge(usize),
}

/// Limits on what a peer's CLIXML may build.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub xml: fakedc_xml::Limits,
    /// Values built, counting every copy a `<Ref>` makes.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            xml: fakedc_xml::Limits {
                max_depth: 100,
                max_elements: 200_000,
                max_attributes: 8,
            },
            max_nodes: 400_000,
        }
    }
}

/// Reads one CLIXML value (a message's data, without a UTF-8 BOM).
pub fn read(xml: &[u8], limits: &Limits) -> Result<Value, ClixmlError> {
    let root = fakedc_xml::parse(xml, &limits.xml)?;
    Reader::new(limits.max_nodes).value(&root)
}

/// Reads one CLIXML value from an element already parsed.
pub fn read_element(e: &Element, limits: &Limits) -> Result<Value, ClixmlError> {
    Reader::new(limits.max_nodes).value(e)
}

struct Reader {
    objs: HashMap<String, (Value, usize)>,
    types: HashMap<String, Vec<String>>,
    nodes: usize,
    max: usize,
}

impl Reader {
    fn new(max: usize) -> Reader {
        Reader {
            objs: HashMap::new(),
            types: HashMap::new(),
            nodes: 0,
            max,
        }
    }

    fn charge(&mut self, n: usize) -> Result<(), ClixmlError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > self.max {
            return Err(ClixmlError::TooLarge(self.max));
        }
        Ok(())
    }

    fn value(&mut self, e: &Element) -> Result<Value, ClixmlError> {
        self.charge(1)?;
        let tag = e.name.as_ref();
        let bad = || ClixmlError::BadValue(tag.to_string());
        let t = e.text.as_str();
        Ok(match tag {
            "Nil" => Value::Nil,
            "S" => Value::String(decode_string(t)),
            "C" => Value::Char(t.trim().parse().map_err(|_| bad())?),
            "B" => match t.trim() {
                b if b.eq_ignore_ascii_case("true") => Value::Bool(true),
                b if b.eq_ignore_ascii_case("false") => Value::Bool(false),
                _ => return Err(bad()),
            },
            "DT" => Value::DateTime(decode_string(t.trim())),
            "TS" => Value::Duration(decode_string(t.trim())),
            "By" => Value::Byte(t.trim().parse().map_err(|_| bad())?),
            "SB" => Value::SByte(t.trim().parse().map_err(|_| bad())?),
            "U16" => Value::U16(t.trim().parse().map_err(|_| bad())?),
            "I16" => Value::I16(t.trim().parse().map_err(|_| bad())?),
            "U32" => Value::U32(t.trim().parse().map_err(|_| bad())?),
            "I32" => Value::I32(t.trim().parse().map_err(|_| bad())?),
            "U64" => Value::U64(t.trim().parse().map_err(|_| bad())?),
            "I64" => Value::I64(t.trim().parse().map_err(|_| bad())?),
            "Sg" => Value::Single(parse_float(t).ok_or_else(bad)? as f32),
            "Db" => Value::Double(parse_float(t).ok_or_else(bad)?),
            "D" => Value::Decimal(decode_string(t.trim())),
            "BA" => Value::Bytes(
                base64::engine::general_purpose::STANDARD
                    .decode(t.trim())
                    .map_err(|_| bad())?,
            ),
            "G" => Value::Guid(decode_string(t.trim())),
            "URI" => Value::Uri(decode_string(t)),
            "Version" => Value::Version(decode_string(t.trim())),
            "XD" => Value::Xml(decode_string(t)),
            "SBK" => Value::ScriptBlock(decode_string(t)),
            "SS" => Value::SecureString(decode_string(t.trim())),
            "Ref" => {
                let id = e.attr("RefId").ok_or_else(bad)?;
                let (v, cost) = self
                    .objs
                    .get(id)
                    .cloned()
                    .ok_or_else(|| ClixmlError::UnknownRef(id.to_string()))?;
                self.charge(cost)?;
                v
            }
            "Obj" => {
                let before = self.nodes;
                let v = Value::Object(Box::new(self.object(e)?));
                if let Some(id) = e.attr("RefId") {
                    let cost = self.nodes - before + 1;
                    self.objs.insert(id.to_string(), (v.clone(), cost));
                }
                v
            }
            other => return Err(ClixmlError::UnknownElement(other.to_string())),
        })
    }

    fn object(&mut self, e: &Element) -> Result<Object, ClixmlError> {
        let mut o = Object::default();
        for c in &e.children {
            match c.name.as_ref() {
                "TN" => {
                    let names: Vec<String> = c
                        .children
                        .iter()
                        .filter(|t| t.name == "T")
                        .map(|t| decode_string(&t.text))
                        .collect();
                    self.charge(names.len())?;
                    if let Some(id) = c.attr("RefId") {
                        self.types.insert(id.to_string(), names.clone());
                    }
                    o.type_names = names;
                }
                "TNRef" => {
                    let id = c.attr("RefId").unwrap_or_default();
                    let names = self
                        .types
                        .get(id)
                        .cloned()
                        .ok_or_else(|| ClixmlError::UnknownRef(id.to_string()))?;
                    self.charge(names.len())?;
                    o.type_names = names;
                }
                "ToString" => o.to_string = Some(decode_string(&c.text)),
                "Props" => o.adapted = self.props(c)?,
                "MS" => o.extended = self.props(c)?,
                "LST" | "IE" | "STK" | "QUE" => {
                    let kind = match c.name.as_ref() {
                        "LST" => ListKind::List,
                        "IE" => ListKind::Enumerable,
                        "STK" => ListKind::Stack,
                        _ => ListKind::Queue,
                    };
                    let mut items = Vec::with_capacity(c.children.len());
                    for i in &c.children {
                        items.push(self.value(i)?);
                    }
                    o.items = Some(Items::List(kind, items));
                }
                "DCT" => {
                    let mut entries = Vec::with_capacity(c.children.len());
                    for en in &c.children {
                        if en.name != "En" {
                            return Err(ClixmlError::UnknownElement(en.name.to_string()));
                        }
                        let mut k = None;
                        let mut v = None;
                        for kv in &en.children {
                            match kv.attr("N") {
                                Some("Key") => k = Some(self.value(kv)?),
                                Some("Value") => v = Some(self.value(kv)?),
                                _ => {}
                            }
                        }
                        let k = k.ok_or_else(|| ClixmlError::BadValue("En".into()))?;
                        entries.push((k, v.unwrap_or(Value::Nil)));
                    }
                    o.items = Some(Items::Dict(entries));
                }
                _ => o.base = Some(self.value(c)?),
            }
        }
        Ok(o)
    }

    fn props(&mut self, e: &Element) -> Result<Vec<(String, Value)>, ClixmlError> {
        let mut out = Vec::with_capacity(e.children.len());
        for c in &e.children {
            let name = c.attr("N").map(decode_string).unwrap_or_default();
            out.push((name, self.value(c)?));
        }
        Ok(out)
    }
}

fn parse_float(t: &str) -> Option<f64> {
    match t.trim() {
        "INF" | "Infinity" => Some(f64::INFINITY),
        "-INF" | "-Infinity" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        s => s.parse().ok(),
    }
}

fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "INF" } else { "-INF" }.into()
    } else {
        format!("{f}")
    }
}

/// Decodes `_xHHHH_` escapes (UTF-16 code units, hex in either case);
/// surrogate pairs combine, and a lone surrogate becomes U+FFFD.
pub fn decode_string(s: &str) -> String {
    if !s.contains('_') {
        return s.to_string();
    }
    let mut units: Vec<u16> = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < s.len() {
        if b[i] == b'_'
            && i + 7 <= b.len()
            && (b[i + 1] == b'x' || b[i + 1] == b'X')
            && b[i + 6] == b'_'
        {
            if let Some(u) = s
                .get(i + 2..i + 6)
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                .and_then(|h| u16::from_str_radix(h, 16).ok())
            {
                units.push(u);
                i += 7;
                continue;
            }
        }
        // A whole character from here (i is always on a boundary).
        let ch = s[i..].chars().next().unwrap_or('\u{FFFD}');
        let mut buf = [0u16; 2];
        units.extend_from_slice(ch.encode_utf16(&mut buf));
        i += ch.len_utf8();
    }
    String::from_utf16_lossy(&units)
}

/// Encodes a string as PowerShell does: `_x` and `_X` get their underscore
/// escaped, C0/C1 controls and characters outside the BMP become
/// `_xHHHH_` (the latter as two surrogates), as do U+FFFE and U+FFFF,
/// which XML cannot carry, so any string survives XML.
pub fn encode_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let cp = c as u32;
        if c == '_' && matches!(chars.peek(), Some('x' | 'X')) {
            out.push_str("_x005F_");
        } else if cp < 0x20 || (0x7f..=0x9f).contains(&cp) || cp >= 0xfffe {
            let mut buf = [0u16; 2];
            for u in c.encode_utf16(&mut buf) {
                let _ = write!(out, "_x{u:04X}_");
            }
        } else {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                _ => out.push(c),
            }
        }
    }
    out
}

/// Writes values as CLIXML, numbering `RefId`s as PowerShell does (one
/// counter for objects, one for type-name lists).
#[derive(Default)]
pub struct Writer {
    next_obj: usize,
    types: HashMap<Vec<String>, usize>,
    out: String,
}

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    /// One value as a whole document (a message's data).
    pub fn write(v: &Value) -> String {
        let mut w = Writer::new();
        w.value(None, v);
        w.out
    }

    /// Appends a value, with `N="name"` when it is a property.
    pub fn value(&mut self, name: Option<&str>, v: &Value) {
        let n = match name {
            Some(n) => format!(" N=\"{}\"", encode_string(n).replace('"', "&quot;")),
            None => String::new(),
        };
        let prim = |w: &mut Writer, tag: &str, text: &str| {
            let _ = write!(w.out, "<{tag}{n}>{text}</{tag}>");
        };
        match v {
            Value::Nil => {
                let _ = write!(self.out, "<Nil{n} />");
            }
            Value::String(s) => prim(self, "S", &encode_string(s)),
            Value::Char(c) => prim(self, "C", &c.to_string()),
            Value::Bool(b) => prim(self, "B", if *b { "true" } else { "false" }),
            Value::DateTime(s) => prim(self, "DT", &encode_string(s)),
            Value::Duration(s) => prim(self, "TS", &encode_string(s)),
            Value::Byte(x) => prim(self, "By", &x.to_string()),
            Value::SByte(x) => prim(self, "SB", &x.to_string()),
            Value::U16(x) => prim(self, "U16", &x.to_string()),
            Value::I16(x) => prim(self, "I16", &x.to_string()),
            Value::U32(x) => prim(self, "U32", &x.to_string()),
            Value::I32(x) => prim(self, "I32", &x.to_string()),
            Value::U64(x) => prim(self, "U64", &x.to_string()),
            Value::I64(x) => prim(self, "I64", &x.to_string()),
            Value::Single(x) => prim(self, "Sg", &format_float(*x as f64)),
            Value::Double(x) => prim(self, "Db", &format_float(*x)),
            Value::Decimal(s) => prim(self, "D", &encode_string(s)),
            Value::Bytes(b) => prim(
                self,
                "BA",
                &base64::engine::general_purpose::STANDARD.encode(b),
            ),
            Value::Guid(s) => prim(self, "G", &encode_string(s)),
            Value::Uri(s) => prim(self, "URI", &encode_string(s)),
            Value::Version(s) => prim(self, "Version", &encode_string(s)),
            Value::Xml(s) => prim(self, "XD", &encode_string(s)),
            Value::ScriptBlock(s) => prim(self, "SBK", &encode_string(s)),
            Value::SecureString(s) => prim(self, "SS", &encode_string(s)),
            Value::Object(o) => self.object(&n, o),
        }
    }

    fn object(&mut self, n: &str, o: &Object) {
        let id = self.next_obj;
        self.next_obj += 1;
        let _ = write!(self.out, "<Obj{n} RefId=\"{id}\">");
        if !o.type_names.is_empty() {
            if let Some(t) = self.types.get(&o.type_names) {
                let _ = write!(self.out, "<TNRef RefId=\"{t}\" />");
            } else {
                let t = self.types.len();
                self.types.insert(o.type_names.clone(), t);
                let _ = write!(self.out, "<TN RefId=\"{t}\">");
                for name in &o.type_names {
                    let _ = write!(self.out, "<T>{}</T>", encode_string(name));
                }
                self.out.push_str("</TN>");
            }
        }
        if let Some(s) = &o.to_string {
            let _ = write!(self.out, "<ToString>{}</ToString>", encode_string(s));
        }
        if let Some(b) = &o.base {
            self.value(None, b);
        }
        match &o.items {
            Some(Items::List(kind, items)) => {
                let tag = kind.tag();
                if items.is_empty() {
                    let _ = write!(self.out, "<{tag} />");
                } else {
                    let _ = write!(self.out, "<{tag}>");
                    for i in items {
                        self.value(None, i);
                    }
                    let _ = write!(self.out, "</{tag}>");
                }
            }
            Some(Items::Dict(entries)) => {
                self.out.push_str("<DCT>");
                for (k, v) in entries {
                    self.out.push_str("<En>");
                    self.value(Some("Key"), k);
                    self.value(Some("Value"), v);
                    self.out.push_str("</En>");
                }
                self.out.push_str("</DCT>");
            }
            None => {}
        }
        for (tag, props) in [("Props", &o.adapted), ("MS", &o.extended)] {
            if props.is_empty() {
                continue;
            }
            let _ = write!(self.out, "<{tag}>");
            for (k, v) in props {
                self.value(Some(k), v);
            }
            let _ = write!(self.out, "</{tag}>");
        }
        self.out.push_str("</Obj>");
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_and_come_back() {
        for s in [
            "plain",
            "a_x0041_b",
            "line\r\nnext",
            "tab\there",
            "emoji \u{1F600}",
            "<&>",
            "_X_x_",
            "\u{85}",
        ] {
            let e = encode_string(s);
            assert!(!e.contains('\r') && !e.contains('\n'));
            // What the XML reader gives back is the unescaped markup.
            let unxml = e
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&");
            assert_eq!(decode_string(&unxml), s, "{e}");
        }
        assert_eq!(encode_string("a\r\n"), "a_x000D__x000A_");
        assert_eq!(decode_string("_x0041__x0042_"), "AB");
        assert_eq!(decode_string("_xD83D_"), "\u{FFFD}");
    }

    #[test]
    fn pypsrp_create_pipeline_reads() {
        // pypsrp 0.9.1's CREATE_PIPELINE for `Get-Service -Name WinRM`.
        let xml = r#"<Obj RefId="0"><MS><B N="NoInput">true</B><Obj RefId="1" N="ApartmentState"><TN RefId="0"><T>System.Management.Automation.Runspaces.ApartmentState</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN><ToString>UNKNOWN</ToString><I32>2</I32></Obj><Obj RefId="4" N="PowerShell"><MS><B N="IsNested">false</B><Obj RefId="7" N="Cmds"><TN RefId="2"><T>System.Collections.Generic.List`1</T><T>System.Object</T></TN><LST><Obj RefId="8"><MS><S N="Cmd">Get-Service</S><B N="IsScript">false</B><Nil N="UseLocalScope" /><Obj RefId="12" N="Args"><TNRef RefId="2" /><LST><Obj RefId="13"><MS><S N="N">Name</S><S N="V">WinRM</S></MS></Obj></LST></Obj></MS></Obj></LST></Obj></MS></Obj></MS></Obj>"#;
        let v = read(xml.as_bytes(), &Limits::default()).unwrap();
        let o = v.as_object().unwrap();
        assert_eq!(o.get("NoInput"), Some(&Value::Bool(true)));
        assert_eq!(o.get("ApartmentState").and_then(Value::as_i64), Some(2));
        let ps = o.get("PowerShell").and_then(Value::as_object).unwrap();
        let cmds = ps.get("Cmds").and_then(Value::as_list).unwrap();
        let c = cmds[0].as_object().unwrap();
        assert_eq!(c.get("Cmd").and_then(Value::as_str), Some("Get-Service"));
        let args = c.get("Args").unwrap();
        assert_eq!(
            args.as_object().unwrap().type_names[0],
            "System.Collections.Generic.List`1"
        );
    }

    #[test]
    fn round_trip_with_refs_and_types() {
        let vm = Value::object(
            &[
                "Microsoft.HyperV.PowerShell.VirtualMachine",
                "System.Object",
            ],
            vec![
                ("Name".into(), Value::str("vm-01")),
                (
                    "State".into(),
                    Value::enumeration("Microsoft.HyperV.PowerShell.VMState", "Running", 2),
                ),
                ("MemoryStartup".into(), Value::I64(1 << 30)),
                (
                    "Tags".into(),
                    Value::array(vec![Value::str("a"), Value::Nil]),
                ),
                (
                    "Env".into(),
                    Value::hashtable(vec![(Value::str("k"), Value::Double(1.5))]),
                ),
            ],
        );
        let list = Value::array(vec![vm.clone(), vm.clone()]);
        let xml = Writer::write(&list);
        assert_eq!(xml.matches("<TN ").count(), 4, "{xml}");
        let back = read(xml.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(back, list);
    }

    #[test]
    fn ref_bombs_hit_the_budget() {
        let mut xml = String::from(r#"<Obj RefId="0"><LST><S>x</S><S>x</S></LST></Obj>"#);
        for i in 1..40 {
            xml = format!(
                r#"<Obj RefId="{i}"><LST>{xml}<Ref RefId="{p}" /><Ref RefId="{p}" /></LST></Obj>"#,
                p = i - 1
            );
        }
        assert!(matches!(
            read(xml.as_bytes(), &Limits::default()),
            Err(ClixmlError::TooLarge(_))
        ));
        assert!(read(b"<Ref RefId=\"9\"/>", &Limits::default()).is_err());
        assert!(read(b"<Bogus/>", &Limits::default()).is_err());
        assert!(read(b"<I32>x</I32>", &Limits::default()).is_err());
    }
}
