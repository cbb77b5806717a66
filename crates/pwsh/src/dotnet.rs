//! The .NET surface scripts reach: type literals and casts, static members
//! of the types tool scripts use (`[Environment]`, `[Convert]`,
//! `[System.IO.File]`, `[System.Text.Encoding]`, `[Math]`, hash
//! algorithms...), instance members and methods of PowerShell's values,
//! and live objects (`FileStream`, hash algorithms, encodings). Anything
//! else answers NotImplemented naming the type and member, so a script
//! never gets `$null` where .NET would have given a value.

use crate::eval::{Flow, Interp, Res};
use crate::fs;
use crate::ops::{self, runtime};
use crate::value::{self, DateTime, Live, PsObject, Value, Version};
use crate::{ErrorCategory, ErrorRecord};
use base64::Engine as _;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::{Arc, Mutex};

/// A live .NET object's state.
pub enum LiveObject {
    FileStream {
        file: Option<cap_std::fs::File>,
        path: String,
        read: bool,
        write: bool,
    },
    Hash(Hasher),
    Encoding(Enc),
    StringBuilder(String),
}

impl std::fmt::Debug for LiveObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.type_name())
    }
}

/// Text encodings `[System.Text.Encoding]` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enc {
    Utf8,
    Unicode,
    BigEndianUnicode,
    Ascii,
    Utf32,
}

/// A hash algorithm's running state.
pub struct Hasher {
    kind: HashKind,
    state: HashState,
    hash: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HashKind {
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

enum HashState {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    fn new(kind: HashKind) -> Hasher {
        use sha2::Digest;
        let state = match kind {
            HashKind::Md5 => HashState::Md5(md5::Md5::new()),
            HashKind::Sha1 => HashState::Sha1(sha1::Sha1::new()),
            HashKind::Sha256 => HashState::Sha256(sha2::Sha256::new()),
            HashKind::Sha384 => HashState::Sha384(sha2::Sha384::new()),
            HashKind::Sha512 => HashState::Sha512(sha2::Sha512::new()),
        };
        Hasher {
            kind,
            state,
            hash: None,
        }
    }

    fn update(&mut self, b: &[u8]) {
        use sha2::Digest;
        match &mut self.state {
            HashState::Md5(h) => h.update(b),
            HashState::Sha1(h) => h.update(b),
            HashState::Sha256(h) => h.update(b),
            HashState::Sha384(h) => h.update(b),
            HashState::Sha512(h) => h.update(b),
        }
    }

    fn finish(&mut self) -> Vec<u8> {
        use sha2::Digest;
        let fresh = Hasher::new(self.kind).state;
        let old = std::mem::replace(&mut self.state, fresh);
        let out = match old {
            HashState::Md5(h) => h.finalize().to_vec(),
            HashState::Sha1(h) => h.finalize().to_vec(),
            HashState::Sha256(h) => h.finalize().to_vec(),
            HashState::Sha384(h) => h.finalize().to_vec(),
            HashState::Sha512(h) => h.finalize().to_vec(),
        };
        self.hash = Some(out.clone());
        out
    }

    fn type_name(&self) -> &'static str {
        match self.kind {
            HashKind::Md5 => "System.Security.Cryptography.MD5CryptoServiceProvider",
            HashKind::Sha1 => "System.Security.Cryptography.SHA1CryptoServiceProvider",
            HashKind::Sha256 => "System.Security.Cryptography.SHA256Managed",
            HashKind::Sha384 => "System.Security.Cryptography.SHA384Managed",
            HashKind::Sha512 => "System.Security.Cryptography.SHA512Managed",
        }
    }
}

/// One-shot digest (Get-FileHash).
pub(crate) fn digest(alg: &str, data: &[u8]) -> Option<Vec<u8>> {
    let kind = hash_kind(alg)?;
    let mut h = Hasher::new(kind);
    h.update(data);
    Some(h.finish())
}

fn hash_kind(t: &str) -> Option<HashKind> {
    let t = t.to_ascii_lowercase();
    let t = t.trim_start_matches("system.");
    let t = t.trim_start_matches("security.cryptography.");
    Some(match t {
        "md5" | "md5cryptoserviceprovider" => HashKind::Md5,
        "sha1" | "sha1cryptoserviceprovider" | "sha1managed" => HashKind::Sha1,
        "sha256" | "sha256cryptoserviceprovider" | "sha256managed" => HashKind::Sha256,
        "sha384" | "sha384cryptoserviceprovider" | "sha384managed" => HashKind::Sha384,
        "sha512" | "sha512cryptoserviceprovider" | "sha512managed" => HashKind::Sha512,
        _ => return None,
    })
}

impl LiveObject {
    /// The .NET type name.
    pub fn type_name(&self) -> &str {
        match self {
            LiveObject::FileStream { .. } => "System.IO.FileStream",
            LiveObject::Hash(h) => h.type_name(),
            LiveObject::Encoding(e) => match e {
                Enc::Utf8 => "System.Text.UTF8Encoding",
                Enc::Unicode | Enc::BigEndianUnicode => "System.Text.UnicodeEncoding",
                Enc::Ascii => "System.Text.ASCIIEncoding",
                Enc::Utf32 => "System.Text.UTF32Encoding",
            },
            LiveObject::StringBuilder(_) => "System.Text.StringBuilder",
        }
    }
}

fn live(o: LiveObject) -> Value {
    Value::Live(Live(Arc::new(Mutex::new(o))))
}

/// Normalises a type name: lower case, no `System.` prefix, accelerators
/// resolved.
pub(crate) fn norm_type(t: &str) -> String {
    let t = t.trim().to_ascii_lowercase();
    let t = t.strip_prefix("system.").unwrap_or(&t).to_string();
    match t.as_str() {
        "int" | "int32" => "int32".into(),
        "long" | "int64" => "int64".into(),
        "bool" | "boolean" => "boolean".into(),
        "float" | "single" => "single".into(),
        "management.automation.pscustomobject" => "pscustomobject".into(),
        "management.automation.psobject" => "psobject".into(),
        "management.automation.scriptblock" => "scriptblock".into(),
        "collections.hashtable" => "hashtable".into(),
        "collections.arraylist" => "arraylist".into(),
        "text.regularexpressions.regex" => "regex".into(),
        _ => t,
    }
}

/// `[type]` as a value: a RuntimeType object.
pub(crate) fn type_object(t: &str) -> Value {
    let full = full_type_name(t);
    let name = full.rsplit('.').next().unwrap_or(&full).to_string();
    Value::Object(PsObject {
        type_names: vec![
            "System.RuntimeType".into(),
            "System.Type".into(),
            "System.Object".into(),
        ],
        properties: vec![
            ("Name".into(), Value::String(name)),
            ("FullName".into(), Value::String(full.clone())),
            ("IsPublic".into(), Value::Bool(true)),
            ("IsSerial".into(), Value::Bool(true)),
            ("BaseType".into(), Value::str("System.Object")),
        ],
        to_string: full,
    })
}

fn full_type_name(t: &str) -> String {
    match norm_type(t).as_str() {
        "int32" => "System.Int32".into(),
        "int64" => "System.Int64".into(),
        "string" => "System.String".into(),
        "boolean" => "System.Boolean".into(),
        "double" => "System.Double".into(),
        "decimal" => "System.Decimal".into(),
        "char" => "System.Char".into(),
        "byte" => "System.Byte".into(),
        "version" => "System.Version".into(),
        "datetime" => "System.DateTime".into(),
        "timespan" => "System.TimeSpan".into(),
        "guid" => "System.Guid".into(),
        "hashtable" => "System.Collections.Hashtable".into(),
        "pscustomobject" => "System.Management.Automation.PSCustomObject".into(),
        "psobject" => "System.Management.Automation.PSObject".into(),
        "scriptblock" => "System.Management.Automation.ScriptBlock".into(),
        "object[]" | "array" => "System.Object[]".into(),
        "byte[]" => "System.Byte[]".into(),
        "string[]" => "System.String[]".into(),
        "object" => "System.Object".into(),
        _ => {
            let t = t.trim();
            if t.contains('.') {
                t.to_string()
            } else {
                format!("System.{t}")
            }
        }
    }
}

/// Whether `v` is of type `t` (`-is`).
pub(crate) fn is_type(v: &Value, t: &str) -> bool {
    let n = norm_type(t);
    if n == "object" {
        return !matches!(v, Value::Null);
    }
    if n == "psobject" {
        return matches!(v, Value::Object(_));
    }
    if n == "array" || n == "object[]" {
        return matches!(v, Value::Array(_));
    }
    if n == "valuetype" {
        return matches!(
            v,
            Value::Bool(_)
                | Value::Byte(_)
                | Value::Int32(_)
                | Value::Int64(_)
                | Value::Double(_)
                | Value::Decimal(_)
                | Value::Char(_)
                | Value::DateTime(_)
                | Value::TimeSpan(_)
                | Value::Guid(_)
        );
    }
    match v {
        Value::Object(o) => o.type_names.iter().any(|tn| norm_type(tn) == n),
        Value::List(_) => {
            n == "collections.arraylist"
                || n == "arraylist"
                || n.starts_with("collections.generic.list")
        }
        other => norm_type(&other.type_name()) == n,
    }
}

fn not_impl_type(t: &str) -> ErrorRecord {
    ErrorRecord::not_implemented(&format!("the type [{t}]"))
}

fn not_impl_member(t: &str, m: &str) -> Flow {
    Flow::Error(
        Box::new(ErrorRecord::not_implemented(&format!("[{t}]::{m}"))),
        crate::eval::Term::Script,
    )
}

fn method_error(name: &str, n: usize, msg: &str) -> ErrorRecord {
    ErrorRecord::new(
        "System.Management.Automation.MethodInvocationException",
        format!("Exception calling \"{name}\" with \"{n}\" argument(s): \"{msg}\""),
        &format!("{}Exception", strip_get(name)),
        ErrorCategory::NotSpecified,
    )
}

fn strip_get(n: &str) -> &str {
    n
}

fn arg<'a>(args: &'a [Value], i: usize, method: &str) -> Result<&'a Value, ErrorRecord> {
    args.get(i).ok_or_else(|| {
        runtime(
            format!(
                "Cannot find an overload for \"{method}\" and the argument count: \"{}\".",
                args.len()
            ),
            "MethodCountCouldNotFindBest",
        )
    })
}

fn arg_int(args: &[Value], i: usize, method: &str) -> Result<i64, ErrorRecord> {
    Ok(match ops::to_num(arg(args, i, method)?)? {
        ops::Num::I(i) => i,
        ops::Num::D(d) => d.round() as i64,
    })
}

/// Bytes from a value (`byte[]`, or an array of numbers).
pub(crate) fn to_bytes(v: &Value) -> Result<Vec<u8>, ErrorRecord> {
    match v {
        Value::Bytes(b) => Ok(b.clone()),
        Value::Null => Ok(Vec::new()),
        Value::Array(a) | Value::List(a) => a
            .iter()
            .map(|x| match ops::to_num(x)? {
                ops::Num::I(i) if (0..=255).contains(&i) => Ok(i as u8),
                _ => Err(ops::conversion_error(
                    x,
                    "System.Byte",
                    "Value was either too large or too small for an unsigned byte.",
                )),
            })
            .collect(),
        Value::Byte(b) => Ok(vec![*b]),
        other => Err(ops::conversion_error(
            other,
            "System.Byte[]",
            "Invalid cast.",
        )),
    }
}

// ---- casts ----

/// `[type]value`.
pub(crate) fn cast(it: &mut Interp<'_>, ty: &str, v: Value) -> Result<Value, ErrorRecord> {
    let t = norm_type(ty);
    if let Some(elem) = t.strip_suffix("[]") {
        if elem == "byte" {
            return Ok(Value::Bytes(match v {
                Value::String(s) => {
                    return Err(ops::conversion_error(
                        &Value::String(s),
                        "System.Byte[]",
                        "Input string was not in a correct format.",
                    ))
                }
                other => to_bytes(&other)?,
            }));
        }
        let items = match v {
            Value::Null => Vec::new(),
            Value::Hashtable(_) | Value::Object(_) => vec![v],
            other => other.into_items(),
        };
        if elem == "object" || elem == "psobject" {
            return Ok(Value::Array(items));
        }
        let mut out = Vec::with_capacity(items.len());
        for x in items {
            out.push(cast(it, elem, x)?);
        }
        return Ok(Value::Array(out));
    }
    Ok(match t.as_str() {
        "object" | "psobject" => v,
        "void" => Value::Null,
        "array" => Value::Array(match v {
            Value::Null => Vec::new(),
            other => other.into_items(),
        }),
        "string" => match v {
            Value::Null => Value::String(String::new()),
            other => Value::String(it.to_text(&other)),
        },
        "boolean" => Value::Bool(v.truthy()),
        "int32" | "int16" | "uint16" | "uint32" | "sbyte" => {
            let n = num_for_cast(&v, "System.Int32")?;
            let r = match n {
                ops::Num::I(i) => i,
                ops::Num::D(d) => round_even(d) as i64,
            };
            Value::Int32(i32::try_from(r).map_err(|_| ops::conversion_error(&v, "System.Int32", "Value was either too large or too small for an Int32."))?)
        }
        "int64" | "uint64" => Value::Int64(match num_for_cast(&v, "System.Int64")? {
            ops::Num::I(i) => i,
            ops::Num::D(d) => round_even(d) as i64,
        }),
        "byte" => {
            let n = match num_for_cast(&v, "System.Byte")? {
                ops::Num::I(i) => i,
                ops::Num::D(d) => round_even(d) as i64,
            };
            Value::Byte(u8::try_from(n).map_err(|_| ops::conversion_error(&v, "System.Byte", "Value was either too large or too small for an unsigned byte."))?)
        }
        "double" | "single" => Value::Double(num_for_cast(&v, "System.Double")?.f()),
        "decimal" => Value::Decimal(value::format_double(num_for_cast(&v, "System.Decimal")?.f())),
        "char" => match &v {
            Value::Char(_) => v,
            Value::String(s) if s.chars().count() == 1 => Value::Char(s.chars().next().unwrap_or('\0')),
            other => match ops::to_num(other) {
                Ok(ops::Num::I(i)) => Value::Char(char::from_u32(i as u32).unwrap_or('\0')),
                _ => return Err(ops::conversion_error(other, "System.Char", "String must be exactly one character long.")),
            },
        },
        "version" => match &v {
            Value::Version(_) => v,
            other => Value::Version(Version::parse(&other.to_string()).ok_or_else(|| {
                ops::conversion_error(other, "System.Version", "Version string portion was too short or too long.")
            })?),
        },
        "datetime" => match &v {
            Value::DateTime(_) => v,
            other => Value::DateTime(parse_datetime(&other.to_string()).ok_or_else(|| {
                ops::conversion_error(other, "System.DateTime", "String was not recognized as a valid DateTime.")
            })?),
        },
        "timespan" => match &v {
            Value::TimeSpan(_) => v,
            Value::String(s) => Value::TimeSpan(parse_timespan(s).ok_or_else(|| {
                ops::conversion_error(&v, "System.TimeSpan", "String was not recognized as a valid TimeSpan.")
            })?),
            other => Value::TimeSpan(match ops::to_num(other)? {
                ops::Num::I(i) => i,
                ops::Num::D(d) => d as i64,
            }),
        },
        "guid" => match &v {
            Value::Guid(_) => v,
            other => Value::Guid(parse_guid(&other.to_string()).ok_or_else(|| {
                ops::conversion_error(other, "System.Guid", "Guid should contain 32 digits with 4 dashes (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).")
            })?),
        },
        "hashtable" | "ordered" | "collections.specialized.ordereddictionary" => match v {
            Value::Hashtable(_) => v,
            other => return Err(ops::conversion_error(&other, "System.Collections.Hashtable", "Invalid cast.")),
        },
        "pscustomobject" => match v {
            Value::Hashtable(h) => Value::Object(PsObject::custom(h.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
            other => other,
        },
        "scriptblock" => Value::ScriptBlock(v.to_string()),
        "arraylist" | "collections.generic.list[object]" | "collections.generic.list[string]" | "collections.generic.list[int]" => Value::List(v.into_items()),
        "regex" => Value::String(v.to_string()),
        "reflection.bindingflags" => Value::String(v.to_string()),
        "text.encoding" => v,
        "management.automation.actionpreference" => match crate::eval::parse_error_action(&v) {
            Some(_) => v,
            None => return Err(ops::conversion_error(&v, "System.Management.Automation.ActionPreference", "Unable to match the identifier name to a valid enumerator name.")),
        },
        "uint8" => Value::Byte(num_for_cast(&v, "System.Byte")?.f() as u8),
        _ => {
            if is_type(&v, ty) {
                return Ok(v);
            }
            return Err(not_impl_type(ty));
        }
    })
}

fn num_for_cast(v: &Value, ty: &str) -> Result<ops::Num, ErrorRecord> {
    match v {
        Value::String(s) => ops::parse_num_text(s).ok_or_else(|| {
            ops::conversion_error(v, ty, "Input string was not in a correct format.")
        }),
        Value::Null => Ok(ops::Num::I(0)),
        other => ops::to_num(other).map_err(|_| ops::conversion_error(other, ty, "Invalid cast.")),
    }
}

/// Banker's rounding, as .NET's conversions round.
fn round_even(d: f64) -> f64 {
    let r = d.round();
    if (d - d.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - d.signum()
    } else {
        r
    }
}

/// `[datetime]"..."`: ISO 8601 and the invariant `MM/dd/yyyy HH:mm:ss`.
pub(crate) fn parse_datetime(s: &str) -> Option<DateTime> {
    let s = s.trim();
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, t.trim()),
        None => (s, ""),
    };
    let (y, m, d) = if date.contains('-') {
        let mut it = date.split('-');
        (
            it.next()?.parse::<i64>().ok()?,
            it.next()?.parse::<u8>().ok()?,
            it.next()?.parse::<u8>().ok()?,
        )
    } else if date.contains('/') {
        let mut it = date.split('/');
        let m = it.next()?.parse::<u8>().ok()?;
        let d = it.next()?.parse::<u8>().ok()?;
        (it.next()?.parse::<i64>().ok()?, m, d)
    } else {
        return None;
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1..=9999).contains(&y) {
        return None;
    }
    let utc = time.ends_with('Z');
    let time = time.trim_end_matches('Z');
    let (time, pm) = match time.strip_suffix(" PM").or_else(|| time.strip_suffix("PM")) {
        Some(t) => (t.trim(), Some(true)),
        None => match time.strip_suffix(" AM").or_else(|| time.strip_suffix("AM")) {
            Some(t) => (t.trim(), Some(false)),
            None => (time, None),
        },
    };
    let time = time.split(['+']).next().unwrap_or("");
    let mut secs = 0i64;
    let mut frac = 0i64;
    if !time.is_empty() {
        let mut it = time.split(':');
        let mut h: i64 = it.next()?.parse().ok()?;
        let mi: i64 = it.next().unwrap_or("0").parse().ok()?;
        let sec = it.next().unwrap_or("0");
        let (sw, sf) = sec.split_once('.').unwrap_or((sec, ""));
        let se: i64 = sw.parse().ok()?;
        if let Some(pm) = pm {
            if h == 12 {
                h = 0;
            }
            if pm {
                h += 12;
            }
        }
        secs = h * 3600 + mi * 60 + se;
        let digits: String = sf.chars().take(7).collect();
        if !digits.is_empty() {
            frac = format!("{digits:0<7}").parse().ok()?;
        }
    }
    let days = value::days_from_civil(y, m, d);
    Some(DateTime {
        ticks: value::UNIX_EPOCH_TICKS + (days * 86_400 + secs) * value::TICKS_PER_SECOND + frac,
        utc,
    })
}

fn parse_timespan(s: &str) -> Option<i64> {
    let s = s.trim();
    let (days, rest) = match s.split_once('.') {
        Some((d, r)) if r.contains(':') && !d.contains(':') => (d.parse::<i64>().ok()?, r),
        _ => (0, s),
    };
    let mut it = rest.split(':');
    let h: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next().unwrap_or("0").parse().ok()?;
    let sec = it.next().unwrap_or("0");
    let (sw, sf) = sec.split_once('.').unwrap_or((sec, ""));
    let se: i64 = sw.parse().ok()?;
    let frac: i64 = if sf.is_empty() {
        0
    } else {
        format!("{:0<7}", &sf[..sf.len().min(7)]).parse().ok()?
    };
    Some(((days * 86_400 + h * 3600 + m * 60 + se) * value::TICKS_PER_SECOND) + frac)
}

/// A GUID's canonical text, if `s` is one.
pub(crate) fn cast_guid_text(s: &str) -> Option<String> {
    parse_guid(s)
}

fn parse_guid(s: &str) -> Option<String> {
    let hex: String = s
        .trim()
        .trim_matches(['{', '}', '(', ')'])
        .chars()
        .filter(|c| *c != '-')
        .collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let h = hex.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// `DateTime.ToString(format)` for the standard and custom formats scripts
/// use (`o`, `s`, `u`, `yyyy-MM-dd HH:mm:ss`...).
pub(crate) fn format_datetime(d: &DateTime, f: &str) -> String {
    let (y, mo, da, h, mi, s, frac) = d.fields();
    match f {
        "o" | "O" => return d.to_iso8601(),
        "s" => return format!("{y:04}-{mo:02}-{da:02}T{h:02}:{mi:02}:{s:02}"),
        "u" => return format!("{y:04}-{mo:02}-{da:02} {h:02}:{mi:02}:{s:02}Z"),
        "" | "G" => return value::format_datetime_en_us(d),
        "d" => return format!("{mo}/{da}/{y}"),
        _ => {}
    }
    let mut out = String::new();
    let chars: Vec<char> = f.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        let piece = match c {
            'y' => {
                if n <= 2 {
                    format!("{:02}", y % 100)
                } else {
                    format!("{y:04}")
                }
            }
            'M' => match n {
                1 => mo.to_string(),
                2 => format!("{mo:02}"),
                3 => MONTHS[(mo as usize + 11) % 12][..3].to_string(),
                _ => MONTHS[(mo as usize + 11) % 12].to_string(),
            },
            'd' => match n {
                1 => da.to_string(),
                2 => format!("{da:02}"),
                3 => DAYS[d.weekday() as usize][..3].to_string(),
                _ => DAYS[d.weekday() as usize].to_string(),
            },
            'H' => {
                if n == 1 {
                    h.to_string()
                } else {
                    format!("{h:02}")
                }
            }
            'h' => {
                let h12 = if h % 12 == 0 { 12 } else { h % 12 };
                if n == 1 {
                    h12.to_string()
                } else {
                    format!("{h12:02}")
                }
            }
            'm' => {
                if n == 1 {
                    mi.to_string()
                } else {
                    format!("{mi:02}")
                }
            }
            's' => {
                if n == 1 {
                    s.to_string()
                } else {
                    format!("{s:02}")
                }
            }
            'f' | 'F' => format!("{frac:07}")[..n.min(7)].to_string(),
            't' => (if h < 12 { "AM" } else { "PM" })[..n.min(2)].to_string(),
            'K' | 'z' => {
                if d.utc {
                    "Z".into()
                } else {
                    "+00:00".into()
                }
            }
            '\\' if i + 1 < chars.len() => {
                i += 2;
                out.push(chars[i - 1]);
                continue;
            }
            '\'' | '"' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|x| *x == c)
                    .map_or(chars.len(), |k| i + 1 + k);
                out.extend(&chars[i + 1..end]);
                i = end + 1;
                continue;
            }
            other => other.to_string().repeat(n),
        };
        out.push_str(&piece);
        i += n;
    }
    out
}

/// English month and day names (.NET's invariant culture); `format` uses them too.
pub(crate) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
pub(crate) const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Now on the model's clock, as local (UTC) time.
pub(crate) fn now(it: &Interp<'_>, utc: bool) -> DateTime {
    DateTime::from_unix_millis(it.rs.ctx.model.clock.unix_millis() as i64, utc)
}

/// A version-4 GUID from the clock and a counter (no randomness source is
/// needed for uniqueness within a run).
pub(crate) fn new_guid(it: &mut Interp<'_>) -> String {
    use sha2::Digest;
    let n = it.rs.guid_counter;
    it.rs.guid_counter += 1;
    let mut h = sha2::Sha256::new();
    h.update(it.rs.ctx.model.clock.unix_millis().to_le_bytes());
    h.update(n.to_le_bytes());
    h.update(it.rs.ctx.machine.0.to_le_bytes());
    let mut b: Vec<u8> = h.finalize()[..16].to_vec();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

// ---- well-known objects ----

fn obj(types: &[&str], props: Vec<(&str, Value)>, to_string: &str) -> Value {
    Value::Object(PsObject {
        type_names: types
            .iter()
            .map(|s| s.to_string())
            .chain(std::iter::once("System.Object".to_string()))
            .collect(),
        properties: props.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        to_string: to_string.to_string(),
    })
}

/// `$Host`: a non-interactive server-side host, as over WinRM.
pub(crate) fn host_object() -> Value {
    obj(
        &["System.Management.Automation.Internal.Host.InternalHost"],
        vec![
            ("Name", Value::str("ServerRemoteHost")),
            (
                "Version",
                Value::Version(Version {
                    major: 1,
                    minor: 0,
                    build: 0,
                    revision: 0,
                }),
            ),
            (
                "InstanceId",
                Value::Guid("3f0a3a8e-6f2b-4a7e-9b53-4c1a6e0d2b11".into()),
            ),
            ("CurrentCulture", Value::str("en-US")),
            ("CurrentUICulture", Value::str("en-US")),
        ],
        "System.Management.Automation.Internal.Host.InternalHost",
    )
}

/// `$ExecutionContext` (for `SessionState.Path`).
pub(crate) fn execution_context() -> Value {
    let path = obj(
        &["System.Management.Automation.PathIntrinsics"],
        vec![],
        "System.Management.Automation.PathIntrinsics",
    );
    let ss = obj(
        &["System.Management.Automation.SessionState"],
        vec![("Path", path)],
        "System.Management.Automation.SessionState",
    );
    obj(
        &["System.Management.Automation.EngineIntrinsics"],
        vec![("SessionState", ss)],
        "System.Management.Automation.EngineIntrinsics",
    )
}

/// `$MyInvocation` with the unbound arguments (pypsrp's copy/fetch read
/// them).
pub(crate) fn my_invocation(unbound: Vec<Value>) -> Value {
    obj(
        &["System.Management.Automation.InvocationInfo"],
        vec![
            ("UnboundArguments", Value::List(unbound)),
            ("BoundParameters", Value::Hashtable(Vec::new())),
            ("InvocationName", Value::str("")),
            ("Line", Value::str("")),
            ("PositionMessage", Value::str("")),
        ],
        "System.Management.Automation.InvocationInfo",
    )
}

/// An error record as a value (`$_` in catch, `$Error[0]`, `2>&1`).
pub(crate) fn error_value(r: &ErrorRecord) -> Value {
    let ex = obj(
        &[&r.exception_type, "System.Exception"],
        vec![
            ("Message", Value::String(r.message.clone())),
            ("Source", Value::str("")),
            ("HResult", Value::Int32(-2146233087)),
        ],
        &r.message,
    );
    let ci = obj(
        &["System.Management.Automation.ErrorCategoryInfo"],
        vec![
            ("Category", Value::str(r.category.name())),
            ("Activity", Value::String(r.activity.clone())),
            ("Reason", Value::String(r.reason.clone())),
            ("TargetName", Value::String(r.target_name.clone())),
            ("TargetType", Value::String(r.target_type.clone())),
        ],
        &r.category_info(),
    );
    let ii = obj(
        &["System.Management.Automation.InvocationInfo"],
        vec![
            ("ScriptLineNumber", Value::Int32(r.line as i32)),
            ("OffsetInLine", Value::Int32(r.column as i32)),
            ("PositionMessage", Value::String(r.position.clone())),
            ("MyCommand", Value::String(r.command.clone())),
            (
                "Line",
                Value::String(
                    r.position
                        .lines()
                        .nth(1)
                        .map(|l| l.trim_start_matches("+ ").to_string())
                        .unwrap_or_default(),
                ),
            ),
        ],
        "System.Management.Automation.InvocationInfo",
    );
    obj(
        &["System.Management.Automation.ErrorRecord"],
        vec![
            ("Exception", ex),
            (
                "TargetObject",
                if r.target_name.is_empty() {
                    Value::Null
                } else {
                    Value::String(r.target_name.clone())
                },
            ),
            ("CategoryInfo", ci),
            (
                "FullyQualifiedErrorId",
                Value::String(r.fully_qualified_error_id.clone()),
            ),
            ("ErrorDetails", Value::Null),
            ("InvocationInfo", ii),
            (
                "ScriptStackTrace",
                Value::String(format!("at <ScriptBlock>, <No file>: line {}", r.line)),
            ),
            ("PipelineIterationInfo", Value::Array(Vec::new())),
        ],
        &r.message,
    )
}

/// Back from a value to a record (rethrowing `$_`).
fn record_of(v: &Value) -> Option<ErrorRecord> {
    let Value::Object(o) = v else { return None };
    if o.type_name() != "System.Management.Automation.ErrorRecord" {
        return None;
    }
    let ex = match o.get("Exception") {
        Some(Value::Object(e)) => e.clone(),
        _ => return None,
    };
    let msg = ex.get("Message").map(|m| m.to_string()).unwrap_or_default();
    let mut r = ErrorRecord::new(
        ex.type_name(),
        msg,
        &o.get("FullyQualifiedErrorId")
            .map(|v| v.to_string())
            .unwrap_or_default(),
        ErrorCategory::NotSpecified,
    );
    if let Some(Value::Object(ci)) = o.get("CategoryInfo") {
        r.target_name = ci
            .get("TargetName")
            .map(|v| v.to_string())
            .unwrap_or_default();
        r.target_type = ci
            .get("TargetType")
            .map(|v| v.to_string())
            .unwrap_or_default();
        r.activity = ci
            .get("Activity")
            .map(|v| v.to_string())
            .unwrap_or_default();
        r.reason = ci.get("Reason").map(|v| v.to_string()).unwrap_or_default();
    }
    Some(r)
}

/// The record `throw <value>` raises.
pub(crate) fn thrown_record(v: &Value) -> ErrorRecord {
    if let Some(r) = record_of(v) {
        return r;
    }
    let msg = match v {
        Value::Null => "ScriptHalted".to_string(),
        other => other.to_string(),
    };
    let mut r = ErrorRecord::new(
        "System.Management.Automation.RuntimeException",
        msg.clone(),
        &msg,
        ErrorCategory::OperationStopped,
    );
    r.target_name = msg;
    r.target_type = "String".into();
    r
}

/// A PSCustomObject in string expansion: `@{a=1; b=2}`.
pub(crate) fn custom_object_text(o: &PsObject) -> String {
    let inner: Vec<String> = o
        .properties
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!("@{{{}}}", inner.join("; "))
}

// ---- members ----

/// `$value.Name`.
#[allow(clippy::only_used_in_recursion)]
pub(crate) fn member(it: &mut Interp<'_>, v: &Value, name: &str) -> Res<Value> {
    let n = name.to_ascii_lowercase();
    Ok(match v {
        Value::Null => Value::Null,
        Value::Hashtable(h) => {
            if let Some((_, x)) = h
                .iter()
                .find(|(k, _)| matches!(k, Value::String(s) if s.eq_ignore_ascii_case(name)))
            {
                return Ok(x.clone());
            }
            match n.as_str() {
                "count" => Value::Int32(h.len() as i32),
                "keys" => Value::Array(h.iter().map(|(k, _)| k.clone()).collect()),
                "values" => Value::Array(h.iter().map(|(_, v)| v.clone()).collect()),
                _ => Value::Null,
            }
        }
        Value::Object(o) => {
            if let Some(x) = o.get(name) {
                return Ok(x.clone());
            }
            match n.as_str() {
                "psobject" => v.clone(),
                "pstypenames" => Value::Array(o.type_names.iter().map(Value::str).collect()),
                _ => Value::Null,
            }
        }
        Value::Array(a) | Value::List(a) => match n.as_str() {
            "count" | "length" | "longlength" => Value::Int32(a.len() as i32),
            "rank" => Value::Int32(1),
            "issynchronized" | "isfixedsize" | "isreadonly" => {
                Value::Bool(matches!(v, Value::Array(_)) && n == "isfixedsize")
            }
            _ => {
                // Member enumeration (PowerShell 3+).
                let mut out = Vec::new();
                for x in a {
                    let m = member(it, x, name)?;
                    match m {
                        Value::Null => {}
                        Value::Array(inner) => out.extend(inner),
                        other => out.push(other),
                    }
                }
                match out.len() {
                    0 => Value::Null,
                    1 => out.pop().unwrap_or(Value::Null),
                    _ => Value::Array(out),
                }
            }
        },
        Value::Bytes(b) => match n.as_str() {
            "count" | "length" | "longlength" => Value::Int32(b.len() as i32),
            _ => Value::Null,
        },
        Value::String(s) => match n.as_str() {
            "length" => Value::Int32(s.encode_utf16().count() as i32),
            "count" => Value::Int32(1),
            _ => Value::Null,
        },
        Value::Version(ver) => match n.as_str() {
            "major" => Value::Int32(ver.major),
            "minor" => Value::Int32(ver.minor),
            "build" => Value::Int32(ver.build),
            "revision" => Value::Int32(ver.revision),
            "majorrevision" => Value::Int32(ver.revision.max(0) >> 16),
            "minorrevision" => Value::Int32(ver.revision.max(0) & 0xffff),
            _ => Value::Null,
        },
        Value::DateTime(d) => {
            let (y, mo, da, h, mi, s, frac) = d.fields();
            match n.as_str() {
                "year" => Value::Int32(y as i32),
                "month" => Value::Int32(i32::from(mo)),
                "day" => Value::Int32(i32::from(da)),
                "hour" => Value::Int32(i32::from(h)),
                "minute" => Value::Int32(i32::from(mi)),
                "second" => Value::Int32(i32::from(s)),
                "millisecond" => Value::Int32((frac / 10_000) as i32),
                "ticks" => Value::Int64(d.ticks),
                "dayofweek" => Value::str(DAYS[d.weekday() as usize]),
                "dayofyear" => Value::Int32(
                    (value::days_from_civil(y, mo, da) - value::days_from_civil(y, 1, 1) + 1)
                        as i32,
                ),
                "date" => Value::DateTime(DateTime {
                    ticks: d.ticks - d.ticks.rem_euclid(86_400 * value::TICKS_PER_SECOND),
                    utc: d.utc,
                }),
                "timeofday" => {
                    Value::TimeSpan(d.ticks.rem_euclid(86_400 * value::TICKS_PER_SECOND))
                }
                "kind" => Value::str(if d.utc { "Utc" } else { "Local" }),
                _ => Value::Null,
            }
        }
        Value::TimeSpan(t) => {
            let tps = value::TICKS_PER_SECOND as f64;
            let secs = t / value::TICKS_PER_SECOND;
            match n.as_str() {
                "ticks" => Value::Int64(*t),
                "days" => Value::Int32((secs / 86_400) as i32),
                "hours" => Value::Int32(((secs / 3600) % 24) as i32),
                "minutes" => Value::Int32(((secs / 60) % 60) as i32),
                "seconds" => Value::Int32((secs % 60) as i32),
                "milliseconds" => Value::Int32(((t / 10_000) % 1000) as i32),
                "totaldays" => Value::Double(*t as f64 / tps / 86_400.0),
                "totalhours" => Value::Double(*t as f64 / tps / 3600.0),
                "totalminutes" => Value::Double(*t as f64 / tps / 60.0),
                "totalseconds" => Value::Double(*t as f64 / tps),
                "totalmilliseconds" => Value::Double(*t as f64 / 10_000.0),
                _ => Value::Null,
            }
        }
        Value::Live(l) => live_member(l, &n)?,
        _ => Value::Null,
    })
}

fn lock(l: &Live) -> std::sync::MutexGuard<'_, LiveObject> {
    l.0.lock().unwrap_or_else(|p| p.into_inner())
}

fn live_member(l: &Live, n: &str) -> Res<Value> {
    let mut o = lock(l);
    let t = o.type_name().to_string();
    Ok(match &mut *o {
        LiveObject::FileStream {
            file,
            path,
            read,
            write,
        } => match n {
            "length" => match file {
                Some(f) => Value::Int64(f.metadata().map(|m| m.len() as i64).unwrap_or(0)),
                None => return Err(disposed("FileStream")),
            },
            "position" => match file {
                Some(f) => Value::Int64(f.stream_position().map(|p| p as i64).unwrap_or(0)),
                None => return Err(disposed("FileStream")),
            },
            "name" => Value::String(path.clone()),
            "canread" => Value::Bool(*read && file.is_some()),
            "canwrite" => Value::Bool(*write && file.is_some()),
            "canseek" => Value::Bool(file.is_some()),
            _ => return Err(not_impl_member(&t, n)),
        },
        LiveObject::Hash(h) => match n {
            "hash" => match &h.hash {
                Some(b) => Value::Bytes(b.clone()),
                None => {
                    return Err(method_error(
                        "Hash",
                        0,
                        "Hash must be finalized before the hash value is retrieved.",
                    )
                    .into())
                }
            },
            "hashsize" => Value::Int32(match h.kind {
                HashKind::Md5 => 128,
                HashKind::Sha1 => 160,
                HashKind::Sha256 => 256,
                HashKind::Sha384 => 384,
                HashKind::Sha512 => 512,
            }),
            _ => return Err(not_impl_member(&t, n)),
        },
        LiveObject::Encoding(e) => match n {
            "webname" | "bodyname" | "headername" => Value::str(match e {
                Enc::Utf8 => "utf-8",
                Enc::Unicode => "utf-16",
                Enc::BigEndianUnicode => "utf-16BE",
                Enc::Ascii => "us-ascii",
                Enc::Utf32 => "utf-32",
            }),
            "codepage" => Value::Int32(match e {
                Enc::Utf8 => 65001,
                Enc::Unicode => 1200,
                Enc::BigEndianUnicode => 1201,
                Enc::Ascii => 20127,
                Enc::Utf32 => 12000,
            }),
            "encodingname" => Value::str(match e {
                Enc::Utf8 => "Unicode (UTF-8)",
                Enc::Unicode => "Unicode",
                Enc::BigEndianUnicode => "Unicode (Big-Endian)",
                Enc::Ascii => "US-ASCII",
                Enc::Utf32 => "Unicode (UTF-32)",
            }),
            _ => return Err(not_impl_member(&t, n)),
        },
        LiveObject::StringBuilder(s) => match n {
            "length" => Value::Int32(s.encode_utf16().count() as i32),
            _ => return Err(not_impl_member(&t, n)),
        },
    })
}

pub(crate) fn live_set(l: &Live, name: &str, v: Value) -> Res<()> {
    let mut o = lock(l);
    let t = o.type_name().to_string();
    match (&mut *o, name.to_ascii_lowercase().as_str()) {
        (LiveObject::FileStream { file: Some(f), .. }, "position") => {
            let p = match ops::to_num(&v)? {
                ops::Num::I(i) => i.max(0) as u64,
                ops::Num::D(d) => d.max(0.0) as u64,
            };
            f.seek(SeekFrom::Start(p))
                .map_err(|e| method_error("Position", 1, &e.to_string()))?;
            Ok(())
        }
        _ => Err(not_impl_member(&t, name)),
    }
}

fn disposed(what: &str) -> Flow {
    method_error("Read", 0, &format!("Cannot access a closed file. ({what})")).into()
}

fn encode(e: Enc, s: &str) -> Vec<u8> {
    match e {
        Enc::Utf8 => s.as_bytes().to_vec(),
        Enc::Unicode => s.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        Enc::BigEndianUnicode => s.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        Enc::Ascii => s
            .chars()
            .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
            .collect(),
        Enc::Utf32 => s.chars().flat_map(|c| (c as u32).to_le_bytes()).collect(),
    }
}

pub(crate) fn decode(e: Enc, b: &[u8]) -> String {
    match e {
        Enc::Utf8 => String::from_utf8_lossy(b.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(b))
            .into_owned(),
        Enc::Unicode => String::from_utf16_lossy(
            &b.chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect::<Vec<_>>(),
        ),
        Enc::BigEndianUnicode => String::from_utf16_lossy(
            &b.chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect::<Vec<_>>(),
        ),
        Enc::Ascii => b
            .iter()
            .map(|x| if *x < 128 { *x as char } else { '?' })
            .collect(),
        Enc::Utf32 => b
            .chunks_exact(4)
            .map(|c| {
                char::from_u32(u32::from_le_bytes([c[0], c[1], c[2], c[3]])).unwrap_or('\u{FFFD}')
            })
            .collect(),
    }
}

/// A method call on a value: (result, the receiver's new value when the
/// method changed it, arguments the method wrote into).
pub(crate) type CallResult = (Value, Option<Value>, Vec<(usize, Value)>);

/// `$value.Method(args)`.
pub(crate) fn call_method(
    it: &mut Interp<'_>,
    v: Value,
    name: &str,
    args: Vec<Value>,
) -> Res<CallResult> {
    let n = name.to_ascii_lowercase();
    let plain = |x: Value| -> Res<CallResult> { Ok((x, None, Vec::new())) };
    // Universal methods.
    match n.as_str() {
        "gettype" if args.is_empty() => {
            let t = match &v {
                Value::Null => {
                    return Err(runtime(
                        "You cannot call a method on a null-valued expression.",
                        "InvokeMethodOnNull",
                    )
                    .into())
                }
                Value::Object(o) if o.is_custom() => {
                    "System.Management.Automation.PSCustomObject".to_string()
                }
                other => other.type_name(),
            };
            return plain(type_object(&t));
        }
        "tostring" if args.is_empty() && !matches!(v, Value::Live(_)) => {
            return plain(Value::String(match &v {
                Value::Object(o) if o.is_custom() => String::new(),
                other => it.to_text(other),
            }))
        }
        "equals" if args.len() == 1 => {
            return plain(Value::Bool(ops::compare_eq(&v, &args[0], true)))
        }
        "gethashcode" if args.is_empty() => return plain(Value::Int32(0)),
        _ => {}
    }
    match v {
        Value::Null => Err(runtime(
            "You cannot call a method on a null-valued expression.",
            "InvokeMethodOnNull",
        )
        .into()),
        Value::String(s) => string_method(it, &s, &n, name, &args).map(|x| (x, None, Vec::new())),
        Value::Array(a) => match n.as_str() {
            "contains" => plain(Value::Bool(a.iter().any(|x| {
                ops::compare_eq(x, arg(&args, 0, name).unwrap_or(&Value::Null), true)
            }))),
            "indexof" => {
                let t = arg(&args, 0, name)?;
                plain(Value::Int32(
                    a.iter()
                        .position(|x| ops::compare_eq(x, t, true))
                        .map_or(-1, |p| p as i32),
                ))
            }
            "clone" => plain(Value::Array(a)),
            "add" | "remove" | "insert" | "removeat" | "clear" => {
                Err(method_error(name, args.len(), "Collection was of a fixed size.").into())
            }
            "getenumerator" => plain(Value::Array(a)),
            "foreach" | "where" => Err(not_impl_member("System.Object[]", name)),
            _ => Err(method_not_found("System.Object[]", name)),
        },
        Value::List(mut a) => {
            let r = match n.as_str() {
                "add" => {
                    a.push(arg(&args, 0, name)?.clone());
                    Value::Int32(a.len() as i32 - 1)
                }
                "addrange" => {
                    a.extend(arg(&args, 0, name)?.clone().into_items());
                    Value::Null
                }
                "remove" => {
                    let t = arg(&args, 0, name)?;
                    if let Some(p) = a.iter().position(|x| ops::compare_eq(x, t, true)) {
                        a.remove(p);
                    }
                    Value::Null
                }
                "removeat" => {
                    let i = arg_int(&args, 0, name)?;
                    if i < 0 || i as usize >= a.len() {
                        return Err(method_error(name, 1, "Index was out of range. Must be non-negative and less than the size of the collection.").into());
                    }
                    a.remove(i as usize);
                    Value::Null
                }
                "insert" => {
                    let i = arg_int(&args, 0, name)?;
                    if i < 0 || i as usize > a.len() {
                        return Err(method_error(
                            name,
                            2,
                            "Index must be within the bounds of the List.",
                        )
                        .into());
                    }
                    a.insert(i as usize, arg(&args, 1, name)?.clone());
                    Value::Null
                }
                "clear" => {
                    a.clear();
                    Value::Null
                }
                "contains" => {
                    return plain(Value::Bool(a.iter().any(|x| {
                        ops::compare_eq(x, arg(&args, 0, name).unwrap_or(&Value::Null), true)
                    })))
                }
                "indexof" => {
                    let t = arg(&args, 0, name)?;
                    return plain(Value::Int32(
                        a.iter()
                            .position(|x| ops::compare_eq(x, t, true))
                            .map_or(-1, |p| p as i32),
                    ));
                }
                "toarray" => return plain(Value::Array(a)),
                _ => return Err(method_not_found("System.Collections.ArrayList", name)),
            };
            if a.len() > it.max_items() {
                return Err(ops::too_big().into());
            }
            Ok((r, Some(Value::List(a)), Vec::new()))
        }
        Value::Hashtable(mut h) => {
            let r = match n.as_str() {
                "add" => {
                    let k = arg(&args, 0, name)?.clone();
                    if h.iter().any(|(x, _)| ops::keys_equal(x, &k)) {
                        return Err(method_error(name, 2, &format!("Item has already been added. Key in dictionary: '{k}'  Key being added: '{k}'")).into());
                    }
                    h.push((k, arg(&args, 1, name)?.clone()));
                    Value::Null
                }
                "remove" => {
                    let k = arg(&args, 0, name)?.clone();
                    h.retain(|(x, _)| !ops::keys_equal(x, &k));
                    Value::Null
                }
                "clear" => {
                    h.clear();
                    Value::Null
                }
                "containskey" | "contains" => {
                    let k = arg(&args, 0, name)?;
                    return plain(Value::Bool(h.iter().any(|(x, _)| ops::keys_equal(x, k))));
                }
                "containsvalue" => {
                    let k = arg(&args, 0, name)?;
                    return plain(Value::Bool(
                        h.iter().any(|(_, x)| ops::compare_eq(x, k, false)),
                    ));
                }
                "clone" => return plain(Value::Hashtable(h)),
                "getenumerator" => {
                    return plain(Value::Array(
                        h.into_iter()
                            .map(|(k, v)| {
                                obj(
                                    &["System.Collections.DictionaryEntry"],
                                    vec![("Name", k.clone()), ("Key", k), ("Value", v)],
                                    "System.Collections.DictionaryEntry",
                                )
                            })
                            .collect(),
                    ))
                }
                _ => return Err(method_not_found("System.Collections.Hashtable", name)),
            };
            Ok((r, Some(Value::Hashtable(h)), Vec::new()))
        }
        Value::Version(ver) => match n.as_str() {
            "tostring" => {
                let k = arg_int(&args, 0, name)?;
                let parts = [ver.major, ver.minor, ver.build, ver.revision];
                let s: Vec<String> = parts
                    .iter()
                    .take(k.clamp(0, 4) as usize)
                    .map(|p| p.to_string())
                    .collect();
                plain(Value::String(s.join(".")))
            }
            "compareto" => {
                let o = ops::compare(&Value::Version(ver), arg(&args, 0, name)?, false)?;
                plain(Value::Int32(match o {
                    Some(std::cmp::Ordering::Less) => -1,
                    Some(std::cmp::Ordering::Greater) => 1,
                    _ => 0,
                }))
            }
            _ => Err(method_not_found("System.Version", name)),
        },
        Value::DateTime(d) => {
            let add = |unit: f64| -> Res<CallResult> {
                let x = ops::to_num(arg(&args, 0, name)?)?.f();
                Ok((
                    Value::DateTime(DateTime {
                        ticks: d.ticks.saturating_add((x * unit) as i64),
                        utc: d.utc,
                    }),
                    None,
                    Vec::new(),
                ))
            };
            let tps = value::TICKS_PER_SECOND as f64;
            match n.as_str() {
                "tostring" => plain(Value::String(format_datetime(
                    &d,
                    &arg(&args, 0, name)?.to_string(),
                ))),
                "adddays" => add(86_400.0 * tps),
                "addhours" => add(3600.0 * tps),
                "addminutes" => add(60.0 * tps),
                "addseconds" => add(tps),
                "addmilliseconds" => add(10_000.0),
                "addticks" => add(1.0),
                "addyears" | "addmonths" => Err(not_impl_member("System.DateTime", name)),
                "touniversaltime" => plain(Value::DateTime(DateTime {
                    ticks: d.ticks,
                    utc: true,
                })),
                "tolocaltime" => plain(Value::DateTime(DateTime {
                    ticks: d.ticks,
                    utc: false,
                })),
                "tofiletime" | "tofiletimeutc" => {
                    plain(Value::Int64(d.ticks - 504_911_232_000_000_000))
                }
                "subtract" => match arg(&args, 0, name)? {
                    Value::DateTime(o) => plain(Value::TimeSpan(d.ticks - o.ticks)),
                    Value::TimeSpan(t) => plain(Value::DateTime(DateTime {
                        ticks: d.ticks - t,
                        utc: d.utc,
                    })),
                    _ => Err(method_error(name, 1, "Invalid argument.").into()),
                },
                "tostring_" => plain(Value::Null),
                _ => Err(method_not_found("System.DateTime", name)),
            }
        }
        Value::ScriptBlock(text) => match n.as_str() {
            "invoke" | "invokereturnasis" => {
                let sb = it.parse_block(&text)?;
                let args = args.into_iter().map(crate::eval::BoundArg::Pos).collect();
                let out = it.invoke_block(&sb, false, args, Vec::new(), Vec::new(), None)?;
                plain(if n == "invoke" {
                    Value::Array(out)
                } else {
                    crate::eval::collect(out)
                })
            }
            _ => Err(method_not_found(
                "System.Management.Automation.ScriptBlock",
                name,
            )),
        },
        Value::Live(l) => live_call(it, &l, &n, name, args),
        Value::Object(o) => object_method(it, o, &n, name, args),
        Value::Bytes(b) => match n.as_str() {
            "clone" => plain(Value::Bytes(b)),
            _ => Err(method_not_found("System.Byte[]", name)),
        },
        Value::Int32(_)
        | Value::Int64(_)
        | Value::Double(_)
        | Value::Byte(_)
        | Value::Decimal(_) => match n.as_str() {
            "tostring" => plain(Value::String(ops::format_one(
                &v,
                &arg(&args, 0, name)?.to_string(),
            )?)),
            "compareto" => {
                let o = ops::compare(&v, arg(&args, 0, name)?, false)?;
                plain(Value::Int32(match o {
                    Some(std::cmp::Ordering::Less) => -1,
                    Some(std::cmp::Ordering::Greater) => 1,
                    _ => 0,
                }))
            }
            _ => Err(method_not_found(&v.type_name(), name)),
        },
        other => Err(method_not_found(&other.type_name(), name)),
    }
}

fn method_not_found(t: &str, name: &str) -> Flow {
    runtime(
        format!("Method invocation failed because [{t}] does not contain a method named '{name}'."),
        "MethodNotFound",
    )
    .into()
}

fn string_method(it: &mut Interp<'_>, s: &str, n: &str, name: &str, args: &[Value]) -> Res<Value> {
    let a0 = || arg(args, 0, name).map(|v| v.to_string());
    let chars_of = |v: &Value| -> Vec<char> {
        match v {
            Value::Array(a) => a
                .iter()
                .flat_map(|x| x.to_string().chars().collect::<Vec<_>>())
                .collect(),
            other => other.to_string().chars().collect(),
        }
    };
    Ok(match n {
        "toupper" | "toupperinvariant" => Value::String(s.to_uppercase()),
        "tolower" | "tolowerinvariant" => Value::String(s.to_lowercase()),
        "trim" | "trimstart" | "trimend" => {
            let set: Vec<char> = args.first().map(chars_of).unwrap_or_default();
            let pred = |c: char| {
                if set.is_empty() {
                    c.is_whitespace()
                } else {
                    set.contains(&c)
                }
            };
            Value::String(
                match n {
                    "trim" => s.trim_matches(pred),
                    "trimstart" => s.trim_start_matches(pred),
                    _ => s.trim_end_matches(pred),
                }
                .to_string(),
            )
        }
        "replace" => {
            let from = a0()?;
            let to = arg(args, 1, name)?.to_string();
            if from.is_empty() {
                return Err(method_error(
                    name,
                    2,
                    "String cannot be of zero length.\r\nParameter name: oldValue",
                )
                .into());
            }
            let r = s.replace(&from, &to);
            if r.len() > it.max_items() {
                return Err(ops::too_big().into());
            }
            Value::String(r)
        }
        "split" => {
            let set: Vec<char> = match args.first() {
                None => vec![' ', '\t', '\n', '\r'],
                Some(v) => chars_of(v),
            };
            Value::Array(s.split(|c| set.contains(&c)).map(Value::str).collect())
        }
        "substring" => {
            let start = arg_int(args, 0, name)?;
            let u: Vec<char> = s.chars().collect();
            if start < 0 || start as usize > u.len() {
                return Err(method_error(name, args.len(), "startIndex cannot be larger than length of string.\r\nParameter name: startIndex").into());
            }
            let len = if args.len() > 1 {
                arg_int(args, 1, name)?
            } else {
                u.len() as i64 - start
            };
            if len < 0 || (start + len) as usize > u.len() {
                return Err(method_error(name, args.len(), "Index and length must refer to a location within the string.\r\nParameter name: length").into());
            }
            Value::String(u[start as usize..(start + len) as usize].iter().collect())
        }
        "contains" => Value::Bool(s.contains(&a0()?)),
        "startswith" => Value::Bool(s.starts_with(&a0()?)),
        "endswith" => Value::Bool(s.ends_with(&a0()?)),
        "indexof" => {
            let t = a0()?;
            Value::Int32(s.find(&t).map_or(-1, |b| s[..b].chars().count() as i32))
        }
        "lastindexof" => {
            let t = a0()?;
            Value::Int32(s.rfind(&t).map_or(-1, |b| s[..b].chars().count() as i32))
        }
        "padleft" | "padright" => {
            let w = arg_int(args, 0, name)?.clamp(0, it.max_items() as i64) as usize;
            let c = args
                .get(1)
                .map(|v| v.to_string().chars().next().unwrap_or(' '))
                .unwrap_or(' ');
            let len = s.chars().count();
            let pad: String = std::iter::repeat_n(c, w.saturating_sub(len)).collect();
            Value::String(if n == "padleft" {
                format!("{pad}{s}")
            } else {
                format!("{s}{pad}")
            })
        }
        "insert" => {
            let i = arg_int(args, 0, name)?;
            let u: Vec<char> = s.chars().collect();
            if i < 0 || i as usize > u.len() {
                return Err(method_error(
                    name,
                    2,
                    "Specified argument was out of the range of valid values.",
                )
                .into());
            }
            let mut r: String = u[..i as usize].iter().collect();
            r.push_str(&arg(args, 1, name)?.to_string());
            r.extend(&u[i as usize..]);
            Value::String(r)
        }
        "remove" => {
            let i = arg_int(args, 0, name)?;
            let u: Vec<char> = s.chars().collect();
            let cnt = if args.len() > 1 {
                arg_int(args, 1, name)?
            } else {
                u.len() as i64 - i
            };
            if i < 0 || cnt < 0 || (i + cnt) as usize > u.len() {
                return Err(method_error(
                    name,
                    args.len(),
                    "Index and count must refer to a location within the string.",
                )
                .into());
            }
            Value::String(
                u[..i as usize]
                    .iter()
                    .chain(u[(i + cnt) as usize..].iter())
                    .collect(),
            )
        }
        "tochararray" => Value::Array(s.chars().map(Value::Char).collect()),
        "compareto" => Value::Int32(match s.to_lowercase().cmp(&a0()?.to_lowercase()) {
            std::cmp::Ordering::Less => -1,
            std::cmp::Ordering::Equal => 0,
            std::cmp::Ordering::Greater => 1,
        }),
        "normalize" | "clone" => Value::String(s.to_string()),
        "getenumerator" => Value::Array(s.chars().map(Value::Char).collect()),
        _ => return Err(method_not_found("System.String", name)),
    })
}

fn object_method(
    it: &mut Interp<'_>,
    o: PsObject,
    n: &str,
    name: &str,
    args: Vec<Value>,
) -> Res<CallResult> {
    let plain = |x: Value| -> Res<CallResult> { Ok((x, None, Vec::new())) };
    match (o.type_name(), n) {
        ("System.Management.Automation.PathIntrinsics", "getunresolvedproviderpathfrompspath") => {
            let p = arg(&args, 0, name)?.to_string();
            let sp = fs::resolve(&it.rs.location, &p)?;
            plain(Value::String(sp.windows()))
        }
        ("System.IO.FileInfo", "openread") | ("System.IO.FileInfo", "openwrite") => {
            let path = o.get("FullName").map(|v| v.to_string()).unwrap_or_default();
            let mode = if n == "openread" {
                "open"
            } else {
                "openorcreate"
            };
            plain(open_stream(it, &path, mode, n == "openwrite")?)
        }
        ("System.IO.FileInfo", "delete") => {
            let path = o.get("FullName").map(|v| v.to_string()).unwrap_or_default();
            file_delete(it, &path)?;
            plain(Value::Null)
        }
        ("System.IO.FileInfo" | "System.IO.DirectoryInfo", "tostring") => {
            plain(o.get("FullName").cloned().unwrap_or(Value::Null))
        }
        (t, _) if t == "System.Management.Automation.PSCustomObject" => {
            Err(method_not_found(t, name))
        }
        (t, _) => Err(not_impl_member(t, name)),
    }
}

fn live_call(
    it: &mut Interp<'_>,
    l: &Live,
    n: &str,
    name: &str,
    args: Vec<Value>,
) -> Res<CallResult> {
    let mut o = lock(l);
    let t = o.type_name().to_string();
    let plain = |x: Value| -> Res<CallResult> { Ok((x, None, Vec::new())) };
    match &mut *o {
        LiveObject::FileStream { file, path, .. } => {
            if matches!(n, "close" | "dispose" | "flush") {
                if n != "flush" {
                    if let Some(f) = file.take() {
                        let _ = f.sync_all();
                    }
                } else if let Some(f) = file {
                    let _ = f.flush();
                }
                return plain(Value::Null);
            }
            let Some(f) = file.as_mut() else {
                return Err(method_error(name, args.len(), "Cannot access a closed file.").into());
            };
            match n {
                "write" => {
                    let b = to_bytes(arg(&args, 0, name)?)?;
                    let off = if args.len() > 1 {
                        arg_int(&args, 1, name)?
                    } else {
                        0
                    };
                    let cnt = if args.len() > 2 {
                        arg_int(&args, 2, name)?
                    } else {
                        b.len() as i64 - off
                    };
                    if off < 0 || cnt < 0 || (off + cnt) as usize > b.len() {
                        return Err(method_error(name, args.len(), "Offset and length were out of bounds for the array or count is greater than the number of elements from index to the end of the source collection.").into());
                    }
                    // Growth past the file's end counts against the
                    // share's quota before anything is written.
                    let len = f.metadata().map_or(0, |m| m.len());
                    let at = std::io::Seek::stream_position(f).unwrap_or(len);
                    let end = at.saturating_add(cnt as u64);
                    if end > len {
                        if let Some(dir) = it.rs.ctx.share.as_deref() {
                            fs::resize(&it.rs.ctx, dir, len, end, path)?;
                        }
                    }
                    f.write_all(&b[off as usize..(off + cnt) as usize])
                        .map_err(|e| Flow::from(fs::io_error(&e, path, true)))?;
                    plain(Value::Null)
                }
                "read" => {
                    let mut b = to_bytes(arg(&args, 0, name)?)?;
                    let off = arg_int(&args, 1, name)?;
                    let cnt = arg_int(&args, 2, name)?;
                    if off < 0 || cnt < 0 || (off + cnt) as usize > b.len() {
                        return Err(method_error(name, 3, "Offset and length were out of bounds for the array or count is greater than the number of elements from index to the end of the source collection.").into());
                    }
                    let mut got = 0usize;
                    let want = cnt as usize;
                    while got < want {
                        let k = f
                            .read(&mut b[off as usize + got..off as usize + want])
                            .map_err(|e| Flow::from(fs::io_error(&e, path, false)))?;
                        if k == 0 {
                            break;
                        }
                        got += k;
                    }
                    Ok((Value::Int32(got as i32), None, vec![(0, Value::Bytes(b))]))
                }
                "seek" => {
                    let off = arg_int(&args, 0, name)?;
                    let origin = args
                        .get(1)
                        .map(|v| v.to_string().to_ascii_lowercase())
                        .unwrap_or_else(|| "begin".into());
                    let pos = match origin.as_str() {
                        "current" | "1" => SeekFrom::Current(off),
                        "end" | "2" => SeekFrom::End(off),
                        _ => SeekFrom::Start(off.max(0) as u64),
                    };
                    let p = f
                        .seek(pos)
                        .map_err(|e| Flow::from(fs::io_error(&e, path, false)))?;
                    plain(Value::Int64(p as i64))
                }
                "setlength" => {
                    let len = arg_int(&args, 0, name)?;
                    f.set_len(len.max(0) as u64)
                        .map_err(|e| Flow::from(fs::io_error(&e, path, true)))?;
                    plain(Value::Null)
                }
                "tostring" => plain(Value::String(t)),
                _ => Err(not_impl_member(&t, name)),
            }
        }
        LiveObject::Hash(h) => match n {
            "computehash" => {
                let data = match arg(&args, 0, name)? {
                    Value::Live(s) if !Arc::ptr_eq(&s.0, &l.0) => {
                        let mut so = lock(s);
                        match &mut *so {
                            LiveObject::FileStream { file: Some(f), .. } => {
                                let mut v = Vec::new();
                                f.read_to_end(&mut v).map_err(|e| {
                                    Flow::from(method_error(name, 1, &e.to_string()))
                                })?;
                                v
                            }
                            _ => return Err(method_error(name, 1, "Invalid stream.").into()),
                        }
                    }
                    other => {
                        let b = to_bytes(other)?;
                        let off = if args.len() > 1 {
                            arg_int(&args, 1, name)?
                        } else {
                            0
                        };
                        let cnt = if args.len() > 2 {
                            arg_int(&args, 2, name)?
                        } else {
                            b.len() as i64 - off
                        };
                        if off < 0 || cnt < 0 || (off + cnt) as usize > b.len() {
                            return Err(method_error(
                                name,
                                args.len(),
                                "Offset and length were out of bounds.",
                            )
                            .into());
                        }
                        b[off as usize..(off + cnt) as usize].to_vec()
                    }
                };
                h.update(&data);
                plain(Value::Bytes(h.finish()))
            }
            "transformblock" | "transformfinalblock" => {
                let b = to_bytes(arg(&args, 0, name)?)?;
                let off = arg_int(&args, 1, name)?;
                let cnt = arg_int(&args, 2, name)?;
                if off < 0 || cnt < 0 || (off + cnt) as usize > b.len() {
                    return Err(method_error(name, args.len(), "Value was invalid.").into());
                }
                let slice = &b[off as usize..(off + cnt) as usize];
                h.update(slice);
                if n == "transformfinalblock" {
                    h.finish();
                    plain(Value::Bytes(slice.to_vec()))
                } else {
                    plain(Value::Int32(cnt as i32))
                }
            }
            "initialize" => {
                *h = Hasher::new(h.kind);
                plain(Value::Null)
            }
            "dispose" | "clear" => plain(Value::Null),
            "tostring" => plain(Value::String(t)),
            _ => Err(not_impl_member(&t, name)),
        },
        LiveObject::Encoding(e) => match n {
            "getbytes" => {
                let s = match arg(&args, 0, name)? {
                    Value::Array(a) => a.iter().map(|x| x.to_string()).collect(),
                    other => other.to_string(),
                };
                plain(Value::Bytes(encode(*e, &s)))
            }
            "getstring" => {
                let b = to_bytes(arg(&args, 0, name)?)?;
                let (off, cnt) = if args.len() >= 3 {
                    (arg_int(&args, 1, name)?, arg_int(&args, 2, name)?)
                } else {
                    (0, b.len() as i64)
                };
                if off < 0 || cnt < 0 || (off + cnt) as usize > b.len() {
                    return Err(method_error(
                        name,
                        args.len(),
                        "Index and count must refer to a location within the buffer.",
                    )
                    .into());
                }
                plain(Value::String(decode(
                    *e,
                    &b[off as usize..(off + cnt) as usize],
                )))
            }
            "getpreamble" => plain(Value::Bytes(match e {
                Enc::Utf8 => vec![0xEF, 0xBB, 0xBF],
                Enc::Unicode => vec![0xFF, 0xFE],
                Enc::BigEndianUnicode => vec![0xFE, 0xFF],
                Enc::Utf32 => vec![0xFF, 0xFE, 0, 0],
                Enc::Ascii => vec![],
            })),
            "getbytecount" => plain(Value::Int32(
                encode(*e, &arg(&args, 0, name)?.to_string()).len() as i32,
            )),
            "tostring" => plain(Value::String(t)),
            _ => Err(not_impl_member(&t, name)),
        },
        LiveObject::StringBuilder(s) => {
            let r = match n {
                "append" => {
                    s.push_str(&args.first().map(|v| it.to_text(v)).unwrap_or_default());
                    None
                }
                "appendline" => {
                    s.push_str(&args.first().map(|v| it.to_text(v)).unwrap_or_default());
                    s.push_str("\r\n");
                    None
                }
                "appendformat" => {
                    let f = arg(&args, 0, name)?.to_string();
                    s.push_str(&ops::format_op(&f, &args[1..])?);
                    None
                }
                "clear" => {
                    s.clear();
                    None
                }
                "tostring" => Some(Value::String(s.clone())),
                _ => return Err(not_impl_member(&t, name)),
            };
            if s.len() > it.max_items() {
                return Err(ops::too_big().into());
            }
            drop(o);
            plain(r.unwrap_or_else(|| Value::Live(l.clone())))
        }
    }
}

// ---- files ----

fn share_path(it: &Interp<'_>, p: &str) -> Result<(fs::SharePath, String), ErrorRecord> {
    let sp = fs::resolve(&it.rs.location, p)?;
    let dir = fs::share(&it.rs.ctx.share, &sp.windows())?;
    let sp = fs::canonical(dir, &sp);
    let w = sp.windows();
    Ok((sp, w))
}

/// Opens a FileStream on the share (`[IO.File]::Open`, `Create`,
/// `OpenRead`, `FileInfo.OpenRead()`).
pub(crate) fn open_stream(it: &mut Interp<'_>, path: &str, mode: &str, write: bool) -> Res<Value> {
    let (sp, w) = share_path(it, path)?;
    let dir = fs::share(&it.rs.ctx.share, &w)?;
    let mut oo = cap_std::fs::OpenOptions::new();
    let mode = mode.to_ascii_lowercase();
    oo.read(true);
    match mode.as_str() {
        "create" | "2" => {
            oo.write(true).create(true).truncate(true);
        }
        "createnew" | "1" => {
            oo.write(true).create_new(true);
        }
        "openorcreate" | "4" => {
            oo.write(write).create(write);
        }
        "append" | "6" => {
            oo.append(true).create(true);
        }
        "truncate" | "5" => {
            oo.write(true).truncate(true);
        }
        _ => {
            oo.write(write);
        }
    }
    let truncated = if matches!(mode.as_str(), "create" | "2" | "truncate" | "5") {
        fs::file_len(dir, &sp.rel())
    } else {
        0
    };
    let f = dir
        .open_with(sp.rel(), &oo)
        .map_err(|e| Flow::from(fs::io_error(&e, &w, write)))?;
    fs::release(&it.rs.ctx, truncated);
    crate::eval::record(
        it.rs,
        &format!("pwsh file open {w}"),
        if write { "write" } else { "read" },
    );
    Ok(live(LiveObject::FileStream {
        file: Some(f),
        path: w,
        read: true,
        write,
    }))
}

fn file_delete(it: &mut Interp<'_>, path: &str) -> Res<()> {
    let (sp, w) = share_path(it, path)?;
    let dir = fs::share(&it.rs.ctx.share, &w)?;
    let len = fs::file_len(dir, &sp.rel());
    match dir.remove_file(sp.rel()) {
        Ok(()) => {
            fs::release(&it.rs.ctx, len);
            crate::eval::record(it.rs, &format!("pwsh file delete {w}"), "ok");
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(fs::io_error(&e, &w, true).into()),
    }
}

fn ensure_parent(dir: &cap_std::fs::Dir, sp: &fs::SharePath) {
    let parent = sp.parent();
    if !parent.parts.is_empty() {
        let _ = dir.create_dir_all(parent.rel());
    }
}

/// A FileInfo/DirectoryInfo object for a share path.
pub(crate) fn file_info(it: &Interp<'_>, sp: &fs::SharePath) -> Value {
    let w = sp.windows();
    let dir = it.rs.ctx.share.as_deref();
    let md = dir.and_then(|d| d.metadata(sp.rel()).ok());
    let is_dir = md.as_ref().is_some_and(|m| m.is_dir());
    let len = md.as_ref().map_or(0, |m| m.len() as i64);
    let mtime = md
        .as_ref()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.into_std().duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| DateTime::from_unix_millis(d.as_millis() as i64, false))
        .unwrap_or(DateTime::from_unix_millis(0, false));
    let name = if sp.parts.is_empty() {
        "C:\\".to_string()
    } else {
        sp.name()
    };
    let ext = name
        .rfind('.')
        .filter(|_| !is_dir)
        .map(|i| name[i..].to_string())
        .unwrap_or_default();
    let parent = sp.parent().windows();
    let mut props = vec![
        ("Name".to_string(), Value::String(name.clone())),
        ("FullName".to_string(), Value::String(w.clone())),
        ("Exists".to_string(), Value::Bool(md.is_some())),
        (
            "Mode".to_string(),
            Value::str(if is_dir { "d-----" } else { "-a----" }),
        ),
        ("LastWriteTime".to_string(), Value::DateTime(mtime)),
        ("CreationTime".to_string(), Value::DateTime(mtime)),
        ("LastAccessTime".to_string(), Value::DateTime(mtime)),
        ("Extension".to_string(), Value::String(ext)),
        (
            "Attributes".to_string(),
            Value::str(if is_dir { "Directory" } else { "Archive" }),
        ),
        ("PSIsContainer".to_string(), Value::Bool(is_dir)),
        (
            "PSPath".to_string(),
            Value::String(format!("Microsoft.PowerShell.Core\\FileSystem::{w}")),
        ),
        (
            "PSParentPath".to_string(),
            Value::String(format!("Microsoft.PowerShell.Core\\FileSystem::{parent}")),
        ),
        ("PSChildName".to_string(), Value::String(name.clone())),
    ];
    if is_dir {
        props.push(("Parent".to_string(), Value::String(parent)));
    } else {
        props.push(("Length".to_string(), Value::Int64(len)));
        props.push(("DirectoryName".to_string(), Value::String(parent)));
        props.push(("IsReadOnly".to_string(), Value::Bool(false)));
    }
    let t = if is_dir {
        "System.IO.DirectoryInfo"
    } else {
        "System.IO.FileInfo"
    };
    Value::Object(PsObject {
        type_names: vec![
            t.into(),
            "System.IO.FileSystemInfo".into(),
            "System.MarshalByRefObject".into(),
            "System.Object".into(),
        ],
        properties: props,
        to_string: if is_dir { name } else { w },
    })
}

/// `New-Object -TypeName T -ArgumentList args`.
pub(crate) fn new_object(it: &mut Interp<'_>, ty: &str, args: Vec<Value>) -> Res<Value> {
    let t = norm_type(ty);
    if let Some(k) = hash_kind(&t) {
        return Ok(live(LiveObject::Hash(Hasher::new(k))));
    }
    Ok(match t.as_str() {
        "byte[]" => {
            let n = arg_int(&args, 0, "byte[]")?;
            if n < 0 || n as usize > it.max_items() {
                return Err(ops::too_big().into());
            }
            let v = Value::Bytes(vec![0; n as usize]);
            it.hold(&v)?;
            v
        }
        "io.fileinfo" => {
            let p = arg(&args, 0, "FileInfo")?.to_string();
            let (sp, _) = share_path(it, &p)?;
            match file_info(it, &sp) {
                Value::Object(mut o) => {
                    o.type_names[0] = "System.IO.FileInfo".into();
                    Value::Object(o)
                }
                other => other,
            }
        }
        "io.directoryinfo" => {
            let p = arg(&args, 0, "DirectoryInfo")?.to_string();
            let (sp, _) = share_path(it, &p)?;
            file_info(it, &sp)
        }
        "version" => {
            if args.len() == 1 {
                cast(it, "version", args[0].clone())?
            } else {
                let mut n = [-1i32; 4];
                for (i, a) in args.iter().take(4).enumerate() {
                    n[i] = arg_int(std::slice::from_ref(a), 0, "Version")? as i32;
                }
                Value::Version(Version {
                    major: n[0],
                    minor: n[1],
                    build: n[2],
                    revision: n[3],
                })
            }
        }
        "collections.arraylist" | "arraylist" => Value::List(Vec::new()),
        t if t.starts_with("collections.generic.list[") => Value::List(Vec::new()),
        "collections.hashtable" | "hashtable" => Value::Hashtable(Vec::new()),
        "text.stringbuilder" => live(LiveObject::StringBuilder(
            args.first().map(|v| v.to_string()).unwrap_or_default(),
        )),
        "text.utf8encoding" => live(LiveObject::Encoding(Enc::Utf8)),
        "psobject" | "object" | "pscustomobject" => Value::Object(PsObject::custom(Vec::new())),
        "guid" => cast(it, "guid", arg(&args, 0, "Guid")?.clone())?,
        "datetime" => {
            let y = arg_int(&args, 0, "DateTime")?;
            let m = arg_int(&args, 1, "DateTime")?;
            let d = arg_int(&args, 2, "DateTime")?;
            let hh = if args.len() > 3 {
                arg_int(&args, 3, "DateTime")?
            } else {
                0
            };
            let mm = if args.len() > 4 {
                arg_int(&args, 4, "DateTime")?
            } else {
                0
            };
            let ss = if args.len() > 5 {
                arg_int(&args, 5, "DateTime")?
            } else {
                0
            };
            if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1..=9999).contains(&y) {
                return Err(method_error(
                    "DateTime",
                    args.len(),
                    "Year, Month, and Day parameters describe an un-representable DateTime.",
                )
                .into());
            }
            let days = value::days_from_civil(y, m as u8, d as u8);
            Value::DateTime(DateTime {
                ticks: value::UNIX_EPOCH_TICKS
                    + (days * 86_400 + hh * 3600 + mm * 60 + ss) * value::TICKS_PER_SECOND,
                utc: false,
            })
        }
        "timespan" => {
            let n: Vec<i64> = (0..args.len())
                .map(|i| arg_int(&args, i, "TimeSpan"))
                .collect::<Result<_, _>>()?;
            let ticks = match n.as_slice() {
                [t] => *t,
                [h, m, s] => (h * 3600 + m * 60 + s) * value::TICKS_PER_SECOND,
                [d, h, m, s] => (d * 86_400 + h * 3600 + m * 60 + s) * value::TICKS_PER_SECOND,
                _ => return Err(method_error("TimeSpan", args.len(), "Invalid arguments.").into()),
            };
            Value::TimeSpan(ticks)
        }
        _ => {
            let mut e = ErrorRecord::not_implemented(&format!("New-Object for the type [{ty}]"));
            e.fully_qualified_error_id =
                "NotImplemented,Microsoft.PowerShell.Commands.NewObjectCommand".into();
            return Err(Flow::Error(Box::new(e), crate::eval::Term::Script));
        }
    })
}

// ---- statics ----

fn env_target_ok(args: &[Value], i: usize) -> bool {
    args.get(i)
        .is_none_or(|v| v.to_string().eq_ignore_ascii_case("process") || v.to_string() == "0")
}

/// `[Type]::Member`.
pub(crate) fn static_member(it: &mut Interp<'_>, ty: &str, name: &str) -> Res<Value> {
    let t = norm_type(ty);
    let n = name.to_ascii_lowercase();
    let m = it.rs.ctx.model.machine(it.rs.ctx.machine);
    let host = m.name.to_ascii_uppercase();
    Ok(match (t.as_str(), n.as_str()) {
        ("environment", "machinename") => Value::String(host),
        ("environment", "username") => Value::String(it.rs.ctx.user.clone()),
        ("environment", "userdomainname") => Value::String(host),
        ("environment", "osversion") => obj(
            &["System.OperatingSystem"],
            vec![
                ("Platform", Value::str("Win32NT")),
                ("ServicePack", Value::str("")),
                (
                    "Version",
                    Value::Version(Version {
                        major: 10,
                        minor: 0,
                        build: 17763,
                        revision: 0,
                    }),
                ),
                (
                    "VersionString",
                    Value::str("Microsoft Windows NT 10.0.17763.0"),
                ),
            ],
            "Microsoft Windows NT 10.0.17763.0",
        ),
        ("environment", "newline") => Value::str("\r\n"),
        ("environment", "is64bitoperatingsystem") | ("environment", "is64bitprocess") => {
            Value::Bool(true)
        }
        ("environment", "processorcount") => Value::Int32(2),
        ("environment", "currentdirectory") => {
            Value::String(format!("C:\\Users\\{}", it.rs.ctx.user))
        }
        ("environment", "systemdirectory") => Value::str("C:\\Windows\\system32"),
        ("environment", "version") => Value::Version(Version {
            major: 4,
            minor: 0,
            build: 30319,
            revision: 42000,
        }),
        ("environment", "tickcount") => {
            Value::Int32((it.rs.ctx.model.clock.unix_millis() % (i32::MAX as u64)) as i32)
        }
        ("environment", "commandline") => {
            Value::str("C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe")
        }
        ("environment", "userinteractive") => Value::Bool(false),
        ("text.encoding", e) => match e {
            "utf8" => live(LiveObject::Encoding(Enc::Utf8)),
            "unicode" => live(LiveObject::Encoding(Enc::Unicode)),
            "bigendianunicode" => live(LiveObject::Encoding(Enc::BigEndianUnicode)),
            "ascii" | "default" => live(LiveObject::Encoding(Enc::Ascii)),
            "utf32" => live(LiveObject::Encoding(Enc::Utf32)),
            _ => return Err(not_impl_member(ty, name)),
        },
        ("math", "pi") => Value::Double(std::f64::consts::PI),
        ("math", "e") => Value::Double(std::f64::consts::E),
        ("int32", "maxvalue") => Value::Int32(i32::MAX),
        ("int32", "minvalue") => Value::Int32(i32::MIN),
        ("int64", "maxvalue") => Value::Int64(i64::MAX),
        ("int64", "minvalue") => Value::Int64(i64::MIN),
        ("byte", "maxvalue") => Value::Byte(255),
        ("byte", "minvalue") => Value::Byte(0),
        ("double", "maxvalue") => Value::Double(f64::MAX),
        ("double", "minvalue") => Value::Double(f64::MIN),
        ("string", "empty") => Value::str(""),
        ("datetime", "now") => Value::DateTime(now(it, false)),
        ("datetime", "utcnow") => Value::DateTime(now(it, true)),
        ("datetime", "today") => {
            let d = now(it, false);
            Value::DateTime(DateTime {
                ticks: d.ticks - d.ticks.rem_euclid(86_400 * value::TICKS_PER_SECOND),
                utc: false,
            })
        }
        ("datetime", "minvalue") => Value::DateTime(DateTime {
            ticks: 0,
            utc: false,
        }),
        ("datetime", "maxvalue") => Value::DateTime(DateTime {
            ticks: 3_155_378_975_999_999_999,
            utc: false,
        }),
        ("guid", "empty") => Value::Guid("00000000-0000-0000-0000-000000000000".into()),
        ("timespan", "zero") => Value::TimeSpan(0),
        ("io.path", "directoryseparatorchar") => Value::Char('\\'),
        ("io.path", "pathseparator") => Value::Char(';'),
        (
            "management.automation.psversioninfo" | "management.automation.psversiontable",
            "psversion",
        ) => Value::Version(crate::PS_VERSION),
        _ => {
            // A static method named without parentheses prints its
            // overloads in PowerShell; not something scripts rely on.
            return Err(not_impl_member(ty, name));
        }
    })
}

/// `[Type]::Method(args)`: (result, arguments written into).
pub(crate) fn static_call(
    it: &mut Interp<'_>,
    ty: &str,
    name: &str,
    args: Vec<Value>,
) -> Res<(Value, Vec<(usize, Value)>)> {
    let t = norm_type(ty);
    let n = name.to_ascii_lowercase();
    let plain = |v: Value| -> Res<(Value, Vec<(usize, Value)>)> { Ok((v, Vec::new())) };
    if hash_kind(&t).is_some() && n == "create" {
        return plain(live(LiveObject::Hash(Hasher::new(
            hash_kind(&t).unwrap_or(HashKind::Sha1),
        ))));
    }
    if t == "security.cryptography.hashalgorithm" && n == "create" {
        let alg = args
            .first()
            .map(|v| v.to_string())
            .unwrap_or_else(|| "SHA1".into());
        return match hash_kind(&alg) {
            Some(k) => plain(live(LiveObject::Hash(Hasher::new(k)))),
            None => Err(not_impl_member(ty, &format!("Create('{alg}')"))),
        };
    }
    let s0 = || arg(&args, 0, name).map(|v| v.to_string());
    let num = |i: usize| -> Result<f64, ErrorRecord> { Ok(ops::to_num(arg(&args, i, name)?)?.f()) };
    match (t.as_str(), n.as_str()) {
        ("environment", "getenvironmentvariable") => {
            if !env_target_ok(&args, 1) {
                return Err(not_impl_member(ty, "GetEnvironmentVariable(Machine|User)"));
            }
            let k = s0()?;
            plain(it.env_get(&k).map_or(Value::Null, Value::String))
        }
        ("environment", "setenvironmentvariable") => {
            if !env_target_ok(&args, 2) {
                return Err(not_impl_member(ty, "SetEnvironmentVariable(Machine|User)"));
            }
            let k = s0()?;
            let v = args.get(1).cloned().unwrap_or(Value::Null);
            it.set_var(&format!("env:{k}"), v)?;
            plain(Value::Null)
        }
        ("environment", "getenvironmentvariables") => plain(Value::Hashtable(
            it.env_all()
                .into_iter()
                .map(|(k, v)| (Value::String(k), Value::String(v)))
                .collect(),
        )),
        ("environment", "expandenvironmentvariables") => {
            let s = s0()?;
            let env = it.env_all();
            plain(Value::String(expand_percent(&s, &env)))
        }
        ("environment", "getfolderpath") => {
            let f = s0()?.to_ascii_lowercase();
            let u = it.rs.ctx.user.clone();
            plain(Value::String(match f.as_str() {
                "applicationdata" => format!("C:\\Users\\{u}\\AppData\\Roaming"),
                "localapplicationdata" => format!("C:\\Users\\{u}\\AppData\\Local"),
                "userprofile" => format!("C:\\Users\\{u}"),
                "mydocuments" | "personal" => format!("C:\\Users\\{u}\\Documents"),
                "desktop" | "desktopdirectory" => format!("C:\\Users\\{u}\\Desktop"),
                "programfiles" => "C:\\Program Files".into(),
                "programfilesx86" => "C:\\Program Files (x86)".into(),
                "system" => "C:\\Windows\\system32".into(),
                "windows" => "C:\\Windows".into(),
                "commonapplicationdata" => "C:\\ProgramData".into(),
                _ => return Err(not_impl_member(ty, &format!("GetFolderPath('{f}')"))),
            }))
        }
        ("environment", "getlogicaldrives") => plain(Value::Array(vec![Value::str("C:\\")])),
        ("convert", "tobase64string") => {
            let b = to_bytes(arg(&args, 0, name)?)?;
            let (off, cnt) = if args.len() >= 3 {
                (arg_int(&args, 1, name)?, arg_int(&args, 2, name)?)
            } else {
                (0, b.len() as i64)
            };
            if off < 0 || cnt < 0 || (off + cnt) as usize > b.len() {
                return Err(method_error(name, args.len(), "Index was out of range. Must be non-negative and less than the size of the collection.").into());
            }
            plain(Value::String(
                base64::engine::general_purpose::STANDARD
                    .encode(&b[off as usize..(off + cnt) as usize]),
            ))
        }
        ("convert", "frombase64string") => {
            let s: String = s0()?.chars().filter(|c| !c.is_whitespace()).collect();
            match base64::engine::general_purpose::STANDARD.decode(s.as_bytes()) {
                Ok(b) => {
                    let v = Value::Bytes(b);
                    it.hold(&v)?;
                    plain(v)
                }
                Err(_) => Err(method_error(name, 1, "The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters. ").into()),
            }
        }
        ("convert", "toint32") | ("convert", "toint64") | ("convert", "tobyte") => {
            let v = arg(&args, 0, name)?;
            let r = if let Some(b) = args.get(1) {
                let base = arg_int(std::slice::from_ref(b), 0, name)? as u32;
                let s = v.to_string();
                let s = s.trim_start_matches("0x").trim_start_matches("0X");
                i64::from_str_radix(s, base)
                    .map_err(|_| method_error(name, 2, "Could not find any recognizable digits."))?
            } else {
                match num_for_cast(v, "System.Int32")? {
                    ops::Num::I(i) => i,
                    ops::Num::D(d) => round_even(d) as i64,
                }
            };
            plain(match n.as_str() {
                "toint32" => Value::Int32(i32::try_from(r).map_err(|_| {
                    method_error(
                        name,
                        args.len(),
                        "Value was either too large or too small for an Int32.",
                    )
                })?),
                "tobyte" => Value::Byte(u8::try_from(r).map_err(|_| {
                    method_error(
                        name,
                        args.len(),
                        "Value was either too large or too small for an unsigned byte.",
                    )
                })?),
                _ => Value::Int64(r),
            })
        }
        ("convert", "tostring") => {
            let v = arg(&args, 0, name)?;
            if let Some(b) = args.get(1) {
                let base = arg_int(std::slice::from_ref(b), 0, name)?;
                let i = arg_int(&args, 0, name)?;
                return plain(Value::String(match base {
                    2 => format!("{i:b}"),
                    8 => format!("{i:o}"),
                    16 => format!("{i:x}"),
                    _ => i.to_string(),
                }));
            }
            plain(Value::String(v.to_string()))
        }
        ("convert", "toboolean") => plain(Value::Bool(match arg(&args, 0, name)? {
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(method_error(
                        name,
                        1,
                        "String was not recognized as a valid Boolean.",
                    )
                    .into())
                }
            },
            other => other.truthy(),
        })),
        ("convert", "todouble") => plain(Value::Double(
            num_for_cast(arg(&args, 0, name)?, "System.Double")?.f(),
        )),
        ("io.file", "exists") => {
            let p = s0()?;
            let Ok((sp, _)) = share_path(it, &p) else {
                return plain(Value::Bool(false));
            };
            let ok = it
                .rs
                .ctx
                .share
                .as_deref()
                .and_then(|d| d.metadata(sp.rel()).ok())
                .is_some_and(|m| m.is_file());
            plain(Value::Bool(ok))
        }
        ("io.directory", "exists") => {
            let p = s0()?;
            let Ok((sp, _)) = share_path(it, &p) else {
                return plain(Value::Bool(false));
            };
            let ok = it
                .rs
                .ctx
                .share
                .as_deref()
                .and_then(|d| d.metadata(sp.rel()).ok())
                .is_some_and(|m| m.is_dir());
            plain(Value::Bool(ok))
        }
        ("io.directory", "createdirectory") => {
            let p = s0()?;
            let (sp, w) = share_path(it, &p)?;
            let dir = fs::share(&it.rs.ctx.share, &w)?;
            dir.create_dir_all(sp.rel())
                .map_err(|e| Flow::from(fs::io_error(&e, &w, true)))?;
            plain(file_info(it, &sp))
        }
        ("io.file", "readallbytes") => {
            let p = s0()?;
            let b = read_file(it, &p)?;
            let v = Value::Bytes(b);
            it.hold(&v)?;
            plain(v)
        }
        ("io.file", "readalltext") | ("io.file", "readalllines") => {
            let p = s0()?;
            let b = read_file(it, &p)?;
            let text = decode_text(&b);
            if n == "readalllines" {
                let mut lines: Vec<Value> = text
                    .split('\n')
                    .map(|l| Value::str(l.trim_end_matches('\r')))
                    .collect();
                if text.ends_with('\n') {
                    lines.pop();
                }
                return plain(Value::Array(lines));
            }
            plain(Value::String(text))
        }
        ("io.file", "writeallbytes") => {
            let p = s0()?;
            let b = to_bytes(arg(&args, 1, name)?)?;
            write_file(it, &p, &b, false)?;
            plain(Value::Null)
        }
        ("io.file", "writealltext") | ("io.file", "appendalltext") => {
            let p = s0()?;
            let text = arg(&args, 1, name)?.to_string();
            write_file(it, &p, text.as_bytes(), n == "appendalltext")?;
            plain(Value::Null)
        }
        ("io.file", "delete") => {
            let p = s0()?;
            file_delete(it, &p)?;
            plain(Value::Null)
        }
        ("io.file", "move") | ("io.file", "copy") => {
            let (a, aw) = share_path(it, &s0()?)?;
            let (b, bw) = share_path(it, &arg(&args, 1, name)?.to_string())?;
            let overwrite = args.get(2).is_some_and(Value::truthy);
            let dir = fs::share(&it.rs.ctx.share, &aw)?;
            if !overwrite && dir.metadata(b.rel()).is_ok() {
                return Err(method_error(
                    name,
                    args.len(),
                    &format!("Cannot create a file when that file already exists.\r\n{bw}"),
                )
                .into());
            }
            let replaced = fs::file_len(dir, &b.rel());
            let r = if n == "move" {
                dir.rename(a.rel(), dir, b.rel()).map(|()| {
                    fs::release(&it.rs.ctx, replaced);
                })
            } else {
                fs::resize(&it.rs.ctx, dir, replaced, fs::file_len(dir, &a.rel()), &bw)?;
                dir.copy(a.rel(), dir, b.rel()).map(|_| ())
            };
            r.map_err(|e| Flow::from(fs::io_error(&e, &aw, true)))?;
            crate::eval::record(it.rs, &format!("pwsh file {n} {aw} -> {bw}"), "ok");
            plain(Value::Null)
        }
        ("io.file", "create") | ("io.file", "openwrite") => {
            let p = s0()?;
            plain(open_stream(
                it,
                &p,
                if n == "create" {
                    "create"
                } else {
                    "openorcreate"
                },
                true,
            )?)
        }
        ("io.file", "openread") => {
            let p = s0()?;
            plain(open_stream(it, &p, "open", false)?)
        }
        ("io.file", "open") => {
            let p = s0()?;
            let mode = arg(&args, 1, name)?.to_string();
            let access = args
                .get(2)
                .map(|v| v.to_string().to_ascii_lowercase())
                .unwrap_or_else(|| "readwrite".into());
            plain(open_stream(it, &p, &mode, access.contains("write"))?)
        }
        ("io.path", "combine") => {
            let mut out = String::new();
            for a in &args {
                let s = a.to_string();
                if s.starts_with('\\') || s.get(1..2) == Some(":") {
                    out = s;
                } else if out.is_empty() || out.ends_with('\\') {
                    out.push_str(&s);
                } else {
                    out.push('\\');
                    out.push_str(&s);
                }
            }
            plain(Value::String(out))
        }
        ("io.path", "getfilename") => plain(Value::String(
            s0()?.rsplit(['\\', '/']).next().unwrap_or("").to_string(),
        )),
        ("io.path", "getfilenamewithoutextension") => {
            let f = s0()?.rsplit(['\\', '/']).next().unwrap_or("").to_string();
            plain(Value::String(match f.rfind('.') {
                Some(i) => f[..i].to_string(),
                None => f,
            }))
        }
        ("io.path", "getextension") => {
            let f = s0()?.rsplit(['\\', '/']).next().unwrap_or("").to_string();
            plain(Value::String(
                f.rfind('.').map(|i| f[i..].to_string()).unwrap_or_default(),
            ))
        }
        ("io.path", "getdirectoryname") => {
            let s = s0()?;
            plain(match s.rfind(['\\', '/']) {
                Some(i) if i > 2 => Value::String(s[..i].to_string()),
                Some(i) => Value::String(s[..=i].to_string()),
                None => Value::str(""),
            })
        }
        ("io.path", "ispathrooted") => {
            let s = s0()?;
            plain(Value::Bool(s.starts_with('\\') || s.get(1..2) == Some(":")))
        }
        ("io.path", "getfullpath") => {
            let (sp, _) = share_path(it, &s0()?)?;
            plain(Value::String(sp.windows()))
        }
        ("io.path", "gettemppath") => plain(Value::String(format!(
            "C:\\Users\\{}\\AppData\\Local\\Temp\\",
            it.rs.ctx.user
        ))),
        ("io.path", "getrandomfilename") => {
            let g = new_guid(it).replace('-', "");
            plain(Value::String(format!("{}.{}", &g[..8], &g[8..11])))
        }
        ("io.path", "gettempfilename") => {
            let g = new_guid(it).replace('-', "");
            let p = format!(
                "C:\\Users\\{}\\AppData\\Local\\Temp\\tmp{}.tmp",
                it.rs.ctx.user,
                g[..4].to_ascii_uppercase()
            );
            let (sp, w) = share_path(it, &p)?;
            let dir = fs::share(&it.rs.ctx.share, &w)?;
            ensure_parent(dir, &sp);
            dir.write(sp.rel(), b"")
                .map_err(|e| Flow::from(fs::io_error(&e, &w, true)))?;
            plain(Value::String(w))
        }
        ("math", f) => {
            let x = num(0)?;
            plain(match f {
                "round" => {
                    let d = if args.len() > 1 {
                        arg_int(&args, 1, name)?
                    } else {
                        0
                    };
                    let m = 10f64.powi(d.clamp(0, 15) as i32);
                    let r = round_even(x * m) / m;
                    Value::Double(r)
                }
                "floor" => Value::Double(x.floor()),
                "ceiling" => Value::Double(x.ceil()),
                "truncate" => Value::Double(x.trunc()),
                "abs" => match arg(&args, 0, name)? {
                    Value::Int32(i) => Value::Int32(i.wrapping_abs()),
                    Value::Int64(i) => Value::Int64(i.wrapping_abs()),
                    _ => Value::Double(x.abs()),
                },
                "max" | "min" => {
                    let a = arg(&args, 0, name)?.clone();
                    let b = arg(&args, 1, name)?.clone();
                    let pick_a = ops::compare(&a, &b, false)?
                        == Some(if f == "max" {
                            std::cmp::Ordering::Greater
                        } else {
                            std::cmp::Ordering::Less
                        });
                    if pick_a {
                        a
                    } else {
                        b
                    }
                }
                "pow" => Value::Double(x.powf(num(1)?)),
                "sqrt" => Value::Double(x.sqrt()),
                "log" => Value::Double(if args.len() > 1 {
                    x.log(num(1)?)
                } else {
                    x.ln()
                }),
                "log10" => Value::Double(x.log10()),
                "exp" => Value::Double(x.exp()),
                "sign" => Value::Int32(if x > 0.0 {
                    1
                } else if x < 0.0 {
                    -1
                } else {
                    0
                }),
                _ => return Err(not_impl_member(ty, name)),
            })
        }
        ("string", "isnullorempty") => plain(Value::Bool(
            args.first().is_none_or(|v| v.to_string().is_empty()),
        )),
        ("string", "isnullorwhitespace") => plain(Value::Bool(
            args.first().is_none_or(|v| v.to_string().trim().is_empty()),
        )),
        ("string", "join") => {
            let sep = s0()?;
            let items: Vec<Value> = if args.len() == 2 {
                args[1].clone().into_items()
            } else {
                args[1..].to_vec()
            };
            plain(Value::String(
                items
                    .iter()
                    .map(|x| it.to_text(x))
                    .collect::<Vec<_>>()
                    .join(&sep),
            ))
        }
        ("string", "format") => {
            let f = s0()?;
            let rest: Vec<Value> = if args.len() == 2 {
                args[1].clone().into_items()
            } else {
                args[1..].to_vec()
            };
            plain(Value::String(ops::format_op(&f, &rest)?))
        }
        ("string", "concat") => plain(Value::String(args.iter().map(|v| it.to_text(v)).collect())),
        ("string", "equals") => plain(Value::Bool(s0()? == arg(&args, 1, name)?.to_string())),
        ("string", "compare") => {
            let a = s0()?;
            let b = arg(&args, 1, name)?.to_string();
            let ci = args.get(2).is_some_and(Value::truthy);
            let o = if ci {
                a.to_lowercase().cmp(&b.to_lowercase())
            } else {
                a.cmp(&b)
            };
            plain(Value::Int32(o as i32))
        }
        ("datetime", "parse") => plain(cast(it, "datetime", arg(&args, 0, name)?.clone())?),
        ("datetime", "fromfiletime") | ("datetime", "fromfiletimeutc") => {
            let ft = arg_int(&args, 0, name)?;
            plain(Value::DateTime(DateTime {
                ticks: ft + 504_911_232_000_000_000,
                utc: n.ends_with("utc"),
            }))
        }
        ("guid", "newguid") => plain(Value::Guid(new_guid(it))),
        ("guid", "parse") => plain(cast(it, "guid", arg(&args, 0, name)?.clone())?),
        ("version", "parse") => plain(cast(it, "version", arg(&args, 0, name)?.clone())?),
        ("version", "new")
        | ("io.fileinfo", "new")
        | ("text.stringbuilder", "new")
        | ("collections.arraylist", "new")
        | ("datetime", "new")
        | ("timespan", "new") => plain(new_object(it, ty, args)?),
        ("int32", "parse") | ("int64", "parse") | ("double", "parse") => {
            plain(cast(it, &t, Value::String(s0()?))?)
        }
        ("bitconverter", "tostring") => {
            let b = to_bytes(arg(&args, 0, name)?)?;
            plain(Value::String(
                b.iter()
                    .map(|x| format!("{x:02X}"))
                    .collect::<Vec<_>>()
                    .join("-"),
            ))
        }
        ("bitconverter", "getbytes") => plain(Value::Bytes(match arg(&args, 0, name)? {
            Value::Int64(i) => i.to_le_bytes().to_vec(),
            Value::Double(d) => d.to_le_bytes().to_vec(),
            Value::Bool(b) => vec![u8::from(*b)],
            other => (arg_int(std::slice::from_ref(other), 0, name)? as i32)
                .to_le_bytes()
                .to_vec(),
        })),
        ("net.dns", "gethostname") => {
            let m = it.rs.ctx.model.machine(it.rs.ctx.machine);
            plain(Value::String(m.name.to_ascii_uppercase()))
        }
        ("timespan", f) => {
            let x = num(0)?;
            let tps = value::TICKS_PER_SECOND as f64;
            plain(Value::TimeSpan(match f {
                "fromdays" => x * 86_400.0 * tps,
                "fromhours" => x * 3600.0 * tps,
                "fromminutes" => x * 60.0 * tps,
                "fromseconds" => x * tps,
                "frommilliseconds" => x * 10_000.0,
                "fromticks" => x,
                _ => return Err(not_impl_member(ty, name)),
            } as i64))
        }
        ("regex", "escape") => plain(Value::String(regex::escape(&s0()?))),
        ("regex", "ismatch") => {
            let re = ops::regex(&arg(&args, 1, name)?.to_string(), true)?;
            plain(Value::Bool(re.is_match(&s0()?)))
        }
        ("regex", "replace") => {
            let re = ops::regex(&arg(&args, 1, name)?.to_string(), true)?;
            let rep = arg(&args, 2, name)?.to_string();
            plain(Value::String(
                re.replace_all(&s0()?, rep.as_str()).into_owned(),
            ))
        }
        ("regex", "split") => {
            let re = ops::regex(&arg(&args, 1, name)?.to_string(), true)?;
            plain(Value::Array(re.split(&s0()?).map(Value::str).collect()))
        }
        ("char", "isdigit") => plain(Value::Bool(
            s0()?.chars().next().is_some_and(|c| c.is_ascii_digit()),
        )),
        ("char", "isletter") => plain(Value::Bool(
            s0()?.chars().next().is_some_and(char::is_alphabetic),
        )),
        ("char", "iswhitespace") => plain(Value::Bool(
            s0()?.chars().next().is_some_and(char::is_whitespace),
        )),
        ("text.encoding", "getencoding") => {
            let e = s0()?.to_ascii_lowercase();
            plain(live(LiveObject::Encoding(match e.as_str() {
                "utf-8" | "utf8" | "65001" => Enc::Utf8,
                "utf-16" | "unicode" | "1200" => Enc::Unicode,
                "us-ascii" | "ascii" | "20127" => Enc::Ascii,
                "utf-32" | "12000" => Enc::Utf32,
                _ => return Err(not_impl_member(ty, &format!("GetEncoding('{e}')"))),
            })))
        }
        _ => Err(not_impl_member(ty, name)),
    }
}

/// `%NAME%` expansion as cmd.exe and `[Environment]::ExpandEnvironmentVariables`
/// do it: names match in any case, unknown names stay as typed. The cmd
/// shell (fakedc-wsman) uses this one too.
pub fn expand_percent<K: AsRef<str>, V: AsRef<str>>(s: &str, env: &[(K, V)]) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.find('%') {
            Some(j) if j > 0 => match env
                .iter()
                .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(&after[..j]))
            {
                Some((_, v)) => {
                    out.push_str(v.as_ref());
                    rest = &after[j + 1..];
                }
                None => {
                    out.push('%');
                    rest = after;
                }
            },
            _ => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Text from file bytes: BOMs decide the encoding, else UTF-8.
pub(crate) fn decode_text(b: &[u8]) -> String {
    if b.starts_with(&[0xFF, 0xFE]) {
        return decode(Enc::Unicode, &b[2..]);
    }
    if b.starts_with(&[0xFE, 0xFF]) {
        return decode(Enc::BigEndianUnicode, &b[2..]);
    }
    decode(Enc::Utf8, b)
}

/// Reads a whole file from the share (bounded by the memory budget).
pub(crate) fn read_file(it: &mut Interp<'_>, p: &str) -> Res<Vec<u8>> {
    let (sp, w) = share_path(it, p)?;
    let dir = fs::share(&it.rs.ctx.share, &w)?;
    let md = dir
        .metadata(sp.rel())
        .map_err(|e| Flow::from(fs::io_error(&e, &w, false)))?;
    if md.is_dir() {
        return Err(fs::io_error(&std::io::Error::other("is a directory"), &w, false).into());
    }
    if md.len() as usize > it.rs.ctx.limits.max_memory {
        return Err(ops::too_big().into());
    }
    let b = dir
        .read(sp.rel())
        .map_err(|e| Flow::from(fs::io_error(&e, &w, false)))?;
    crate::eval::record(
        it.rs,
        &format!("pwsh file read {w}"),
        &format!("{} bytes", b.len()),
    );
    Ok(b)
}

/// Writes (or appends to) a file on the share.
pub(crate) fn write_file(it: &mut Interp<'_>, p: &str, data: &[u8], append: bool) -> Res<()> {
    let (sp, w) = share_path(it, p)?;
    let dir = fs::share(&it.rs.ctx.share, &w)?;
    let old = fs::file_len(dir, &sp.rel());
    let mut oo = cap_std::fs::OpenOptions::new();
    oo.write(true).create(true);
    if append {
        oo.append(true);
    } else {
        oo.truncate(true);
    }
    let mut f = dir
        .open_with(sp.rel(), &oo)
        .map_err(|e| Flow::from(fs::io_error(&e, &w, true)))?;
    // As on NTFS under a hard quota: the open has created (or truncated)
    // the file; the write that does not fit then fails, leaving it so.
    let base = if append {
        old
    } else {
        fs::release(&it.rs.ctx, old);
        0
    };
    fs::resize(&it.rs.ctx, dir, base, base + data.len() as u64, &w)?;
    f.write_all(data)
        .map_err(|e| Flow::from(fs::io_error(&e, &w, true)))?;
    crate::eval::record(
        it.rs,
        &format!("pwsh file write {w}"),
        &format!("{} bytes", data.len()),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_and_format() {
        let d = parse_datetime("2026-12-06T10:08:06Z").expect("iso");
        assert_eq!(
            format_datetime(&d, "yyyy-MM-dd HH:mm:ss"),
            "2026-12-06 10:08:06"
        );
        assert_eq!(format_datetime(&d, "o"), "2026-12-06T10:08:06.0000000Z");
        let d = parse_datetime("12/06/2026 10:08:06 PM").expect("us");
        assert_eq!(format_datetime(&d, "HH"), "22");
        assert_eq!(
            parse_guid("{A1B2C3D4-0000-0000-0000-00000000000F}").as_deref(),
            Some("a1b2c3d4-0000-0000-0000-00000000000f")
        );
    }

    #[test]
    fn hashes_match_known_vectors() {
        let h = digest("SHA1", b"abc").expect("sha1");
        assert_eq!(
            h.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }
}
