//! PowerShell's values, shaped as PSRP must serialise them (MS-PSRP 2.2.5):
//! each variant is one CLIXML element kind (`<Nil/>`, `<B>`, `<I32>`,
//! `<I64>`, `<Db>`, `<D>`, `<S>`, `<C>`, `<DT>`, `<TS>`, `<G>`,
//! `<Version>`, `<BA>`, `<SBK>`, `<LST>`/`<IE>`, `<DCT>`, `<Obj>` with
//! `<TN>` and `<Props>`), so the PSRP serialiser is a match with no
//! guessing. Values are plain data (arrays and hashtables are copied, not
//! shared); the evaluator writes mutations back to the variable they came
//! from, which is what scripts observe in practice. Live .NET objects a
//! script holds between statements (a `FileStream`, a hash algorithm) are
//! [`Value::Live`], shared by reference as .NET shares them.

use std::fmt;
use std::sync::{Arc, Mutex};

/// .NET ticks (100 ns) between 0001-01-01 and 1970-01-01.
pub const UNIX_EPOCH_TICKS: i64 = 621_355_968_000_000_000;
/// Ticks per second.
pub const TICKS_PER_SECOND: i64 = 10_000_000;

/// A PowerShell value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// `$null` (`<Nil/>`).
    Null,
    /// `System.Boolean` (`<B>`).
    Bool(bool),
    /// `System.Byte` (`<By>`): an element of a `byte[]`.
    Byte(u8),
    /// `System.Int32` (`<I32>`), what integer literals are.
    Int32(i32),
    /// `System.Int64` (`<I64>`), what an Int32 overflows into.
    Int64(i64),
    /// `System.Double` (`<Db>`).
    Double(f64),
    /// `System.Decimal` (`<D>`), kept as its invariant text (`1.50`).
    Decimal(String),
    /// `System.String` (`<S>`).
    String(String),
    /// `System.Char` (`<C>`, serialised as its UTF-16 code unit).
    Char(char),
    /// `System.DateTime` (`<DT>`).
    DateTime(DateTime),
    /// `System.TimeSpan` (`<TS>`), in ticks of 100 ns.
    TimeSpan(i64),
    /// `System.Guid` (`<G>`), lower-case `8-4-4-4-12` text.
    Guid(String),
    /// `System.Version` (`<Version>`).
    Version(Version),
    /// `System.Byte[]` (`<BA>`).
    Bytes(Vec<u8>),
    /// `System.Management.Automation.ScriptBlock` (`<SBK>`), its text.
    ScriptBlock(String),
    /// `System.Object[]` (`<LST>` under an `<Obj>` typed `System.Object[]`).
    Array(Vec<Value>),
    /// `System.Collections.ArrayList` / `List[T]` (`<LST>`).
    List(Vec<Value>),
    /// `System.Collections.Hashtable` (`<DCT>`): pairs in insertion order.
    Hashtable(Vec<(Value, Value)>),
    /// Any other object: a PSCustomObject, a deserialised typed object
    /// (`Microsoft.HyperV.PowerShell.VirtualMachine`), a CIM instance.
    Object(PsObject),
    /// A live .NET object the evaluator keeps state in (a `FileStream`, a
    /// hash algorithm, an encoding). PSRP serialises it as
    /// [`Live::to_psobject`] gives it.
    Live(Live),
    /// A .NET enum value (`Microsoft.HyperV.PowerShell.VMState` Running):
    /// prints and compares with strings by its name, with numbers by its
    /// value; PSRP writes it as an object with the enum's type names, its
    /// name as `ToString` and its value as the base (`<I32>`).
    Enum(EnumValue),
}

/// A .NET enum value: its type, name and number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumValue {
    /// The full type name (`Microsoft.HyperV.PowerShell.VMState`).
    pub type_name: String,
    pub name: String,
    pub value: i32,
}

/// `Microsoft.HyperV.PowerShell.VMState`'s members.
const VM_STATE: &[(&str, i32)] = &[
    ("Other", 1),
    ("Running", 2),
    ("Off", 3),
    ("Stopping", 4),
    ("Saved", 6),
    ("Paused", 9),
    ("Starting", 10),
    ("Reset", 11),
    ("Saving", 32773),
    ("Pausing", 32776),
    ("Resuming", 32777),
    ("FastSaved", 32779),
    ("FastSaving", 32780),
];

impl EnumValue {
    /// A member of an enum the evaluator knows, by name (any case).
    pub fn member(type_name: &str, name: &str) -> Option<EnumValue> {
        Self::members(type_name)?
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(n, v)| EnumValue {
                type_name: type_name.to_string(),
                name: n.to_string(),
                value: *v,
            })
    }

    /// The members of an enum the evaluator knows, in declaration order.
    pub fn members(type_name: &str) -> Option<&'static [(&'static str, i32)]> {
        match type_name {
            "Microsoft.HyperV.PowerShell.VMState" => Some(VM_STATE),
            _ => None,
        }
    }

    /// The type names PSRP writes, most specific first.
    pub fn type_names(&self) -> Vec<String> {
        vec![
            self.type_name.clone(),
            "System.Enum".into(),
            "System.ValueType".into(),
            "System.Object".into(),
        ]
    }
}

/// An object with type names and ordered properties, as PSRP's `<Obj>`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PsObject {
    /// Most specific first, ending with `System.Object`
    /// (`Microsoft.HyperV.PowerShell.VirtualMachine`, ...,
    /// `System.Object`). PSRP writes them as `<TN>`, prefixed
    /// `Deserialized.` by the receiving side.
    pub type_names: Vec<String>,
    /// Properties in display order (`<Props>`/`<MS>`).
    pub properties: Vec<(String, Value)>,
    /// What `ToString()` returns (`<ToString>`).
    pub to_string: String,
}

impl PsObject {
    /// A `PSCustomObject` with these properties.
    pub fn custom(properties: Vec<(String, Value)>) -> PsObject {
        PsObject {
            type_names: vec![
                "System.Management.Automation.PSCustomObject".into(),
                "System.Object".into(),
            ],
            properties,
            to_string: String::new(),
        }
    }

    /// A property by name, case-insensitively as PowerShell looks it up.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.properties
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Sets (or adds) a property.
    pub fn set(&mut self, name: &str, v: Value) {
        match self
            .properties
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some((_, slot)) => *slot = v,
            None => self.properties.push((name.to_string(), v)),
        }
    }

    /// The most specific type name.
    pub fn type_name(&self) -> &str {
        self.type_names
            .first()
            .map(String::as_str)
            .unwrap_or("System.Object")
    }

    /// Whether this is a PSCustomObject (its `ToString()` is empty).
    pub fn is_custom(&self) -> bool {
        self.type_name() == "System.Management.Automation.PSCustomObject"
    }
}

/// `System.Version`: unset build and revision are -1, as in .NET.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: i32,
    pub minor: i32,
    pub build: i32,
    pub revision: i32,
}

impl Version {
    /// `major.minor[.build[.revision]]` as `[Version]::Parse` reads it.
    pub fn parse(s: &str) -> Option<Version> {
        let parts: Vec<&str> = s.trim().split('.').collect();
        if !(2..=4).contains(&parts.len()) {
            return None;
        }
        let mut n = [-1i32; 4];
        for (i, p) in parts.iter().enumerate() {
            let v: i32 = p.trim().parse().ok()?;
            if v < 0 {
                return None;
            }
            n[i] = v;
        }
        Some(Version {
            major: n[0],
            minor: n[1],
            build: n[2],
            revision: n[3],
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if self.build >= 0 {
            write!(f, ".{}", self.build)?;
            if self.revision >= 0 {
                write!(f, ".{}", self.revision)?;
            }
        }
        Ok(())
    }
}

/// `System.DateTime`: ticks since 0001-01-01 and whether it is UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime {
    pub ticks: i64,
    /// `DateTimeKind.Utc`; otherwise Local (fakedc's hosts run in UTC, so
    /// local time reads the same).
    pub utc: bool,
}

impl DateTime {
    /// From milliseconds since the Unix epoch.
    pub fn from_unix_millis(ms: i64, utc: bool) -> DateTime {
        DateTime {
            ticks: UNIX_EPOCH_TICKS.saturating_add(ms.saturating_mul(10_000)),
            utc,
        }
    }

    /// Seconds since the Unix epoch (floor).
    pub fn unix_secs(&self) -> i64 {
        (self.ticks - UNIX_EPOCH_TICKS).div_euclid(TICKS_PER_SECOND)
    }

    /// Calendar fields (year, month, day, hour, minute, second, ticks of
    /// the second).
    pub fn fields(&self) -> (i64, u8, u8, u8, u8, u8, i64) {
        let secs = self.unix_secs();
        let frac = (self.ticks - UNIX_EPOCH_TICKS).rem_euclid(TICKS_PER_SECOND);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil(days);
        (
            y,
            m,
            d,
            (rem / 3600) as u8,
            ((rem / 60) % 60) as u8,
            (rem % 60) as u8,
            frac,
        )
    }

    /// ISO 8601 as CLIXML's `<DT>` carries it (`2026-12-06T10:08:06.1234567Z`
    /// for UTC, `+00:00` for local time on these UTC hosts).
    pub fn to_iso8601(&self) -> String {
        let (y, mo, d, h, mi, s, frac) = self.fields();
        format!(
            "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac:07}{}",
            if self.utc { "Z" } else { "+00:00" }
        )
    }

    /// The day of the week, 0 = Sunday.
    pub fn weekday(&self) -> u8 {
        (self.unix_secs().div_euclid(86_400) + 4).rem_euclid(7) as u8
    }
}

/// Civil date from days since 1970-01-01, through fakedc_model's one
/// algorithm (month 1–12 and day 1–31 fit a byte).
pub(crate) fn civil(days: i64) -> (i64, u8, u8) {
    let (y, m, d) = fakedc_model::timefmt::civil_from_days(days);
    (y, m as u8, d as u8)
}

/// Days since 1970-01-01 of a civil date.
pub(crate) fn days_from_civil(y: i64, m: u8, d: u8) -> i64 {
    fakedc_model::timefmt::days_from_civil(y, m.into(), d.into())
}

/// A live .NET object, shared by reference (cloning a `Live` is copying the
/// reference, as assigning a .NET object in PowerShell is).
#[derive(Clone)]
pub struct Live(pub(crate) Arc<Mutex<crate::dotnet::LiveObject>>);

impl Live {
    /// The .NET type name (`System.IO.FileStream`).
    pub fn type_name(&self) -> String {
        self.0
            .lock()
            .map(|o| o.type_name().to_string())
            .unwrap_or_else(|p| p.into_inner().type_name().to_string())
    }

    /// What PSRP serialises: an object with the type name and `ToString()`.
    pub fn to_psobject(&self) -> PsObject {
        let t = self.type_name();
        PsObject {
            type_names: vec![t.clone(), "System.Object".into()],
            properties: Vec::new(),
            to_string: t,
        }
    }
}

impl fmt::Debug for Live {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Live({})", self.type_name())
    }
}

impl PartialEq for Live {
    fn eq(&self, other: &Live) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// The .NET type name, as `.GetType().FullName` prints it.
    pub fn type_name(&self) -> String {
        match self {
            Value::Null => "null".into(),
            Value::Bool(_) => "System.Boolean".into(),
            Value::Byte(_) => "System.Byte".into(),
            Value::Int32(_) => "System.Int32".into(),
            Value::Int64(_) => "System.Int64".into(),
            Value::Double(_) => "System.Double".into(),
            Value::Decimal(_) => "System.Decimal".into(),
            Value::String(_) => "System.String".into(),
            Value::Char(_) => "System.Char".into(),
            Value::DateTime(_) => "System.DateTime".into(),
            Value::TimeSpan(_) => "System.TimeSpan".into(),
            Value::Guid(_) => "System.Guid".into(),
            Value::Version(_) => "System.Version".into(),
            Value::Bytes(_) => "System.Byte[]".into(),
            Value::ScriptBlock(_) => "System.Management.Automation.ScriptBlock".into(),
            Value::Array(_) => "System.Object[]".into(),
            Value::List(_) => "System.Collections.ArrayList".into(),
            Value::Hashtable(_) => "System.Collections.Hashtable".into(),
            Value::Object(o) => o.type_name().to_string(),
            Value::Live(l) => l.type_name(),
            Value::Enum(e) => e.type_name.clone(),
        }
    }

    /// Whether PowerShell enumerates this value in a pipeline.
    pub fn is_collection(&self) -> bool {
        matches!(self, Value::Array(_) | Value::List(_) | Value::Bytes(_))
    }

    /// The elements a pipeline sees: a collection's items, `$null` as
    /// nothing, anything else as itself.
    pub fn into_items(self) -> Vec<Value> {
        match self {
            Value::Array(v) | Value::List(v) => v,
            Value::Bytes(b) => b.into_iter().map(Value::Byte).collect(),
            Value::Null => Vec::new(),
            v => vec![v],
        }
    }

    /// PowerShell's conversion to Boolean (`if ($x)`).
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Byte(n) => *n != 0,
            Value::Int32(n) => *n != 0,
            Value::Int64(n) => *n != 0,
            Value::Double(d) => *d != 0.0,
            Value::Decimal(s) => s.parse::<f64>().map(|d| d != 0.0).unwrap_or(true),
            Value::String(s) => !s.is_empty(),
            Value::Char(c) => *c != '\0',
            Value::TimeSpan(t) => *t != 0,
            Value::Array(v) | Value::List(v) => match v.as_slice() {
                [] => false,
                [one] => one.truthy(),
                _ => true,
            },
            Value::Bytes(b) => match b.as_slice() {
                [] => false,
                [one] => *one != 0,
                _ => true,
            },
            _ => true,
        }
    }

    /// Whether this is one of the numeric types.
    pub fn is_number(&self) -> bool {
        matches!(
            self,
            Value::Byte(_)
                | Value::Int32(_)
                | Value::Int64(_)
                | Value::Double(_)
                | Value::Decimal(_)
        )
    }
}

/// Double to text as .NET Core's `ToString()` does for the values scripts
/// meet: integers without a fraction, `1E+20` beyond 15 digits.
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if d == d.trunc() && d.abs() < 1e15 {
        return format!("{}", d as i64);
    }
    if d.abs() >= 1e15 || (d != 0.0 && d.abs() < 1e-5) {
        let s = format!("{d:E}");
        // Rust: 1E20, 1.5E-7; .NET: 1E+20, 1.5E-07.
        if let Some((m, e)) = s.split_once('E') {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(x) => ('-', x),
                None => ('+', e),
            };
            return format!("{m}E{sign}{digits:0>2}");
        }
        return s;
    }
    // Shortest round-trip text, at most 15 significant digits as .NET
    // Framework prints.
    let s = format!("{}", d);
    let sig: usize = s.chars().filter(|c| c.is_ascii_digit()).count();
    if sig > 15 {
        let p = format!(
            "{:.*}",
            15usize.saturating_sub(d.abs().log10().floor() as usize + 1),
            d
        );
        let p = p.trim_end_matches('0').trim_end_matches('.').to_string();
        return p;
    }
    s
}

/// Ticks as `TimeSpan.ToString()` prints them (`[-][d.]hh:mm:ss[.fffffff]`).
pub fn format_timespan(t: i64) -> String {
    let neg = t < 0;
    let a = t.unsigned_abs();
    let tps = TICKS_PER_SECOND as u64;
    let frac = a % tps;
    let secs = a / tps;
    let (d, h, m, s) = (
        secs / 86400,
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60,
    );
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if d > 0 {
        out.push_str(&format!("{d}."));
    }
    out.push_str(&format!("{h:02}:{m:02}:{s:02}"));
    if frac > 0 {
        out.push_str(&format!(".{frac:07}"));
    }
    out
}

/// `DateTime.ToString()` in the invariant culture PowerShell converts with
/// (`12/06/2026 10:08:06`).
pub fn format_datetime_invariant(d: &DateTime) -> String {
    let (y, mo, da, h, mi, s, _) = d.fields();
    format!("{mo:02}/{da:02}/{y:04} {h:02}:{mi:02}:{s:02}")
}

/// `DateTime` as en-US output formatting prints it (`12/6/2026 10:08:06 AM`).
pub fn format_datetime_en_us(d: &DateTime) -> String {
    let (y, mo, da, h, mi, s, _) = d.fields();
    let (h12, ampm) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    format!("{mo}/{da}/{y} {h12}:{mi:02}:{s:02} {ampm}")
}

impl fmt::Display for Value {
    /// PowerShell's conversion to string (`[string]$x`, `"$x"`): invariant
    /// culture, arrays joined with a space.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Bool(b) => f.write_str(if *b { "True" } else { "False" }),
            Value::Byte(n) => write!(f, "{n}"),
            Value::Int32(n) => write!(f, "{n}"),
            Value::Int64(n) => write!(f, "{n}"),
            Value::Double(d) => f.write_str(&format_double(*d)),
            Value::Decimal(s) => f.write_str(s),
            Value::String(s) => f.write_str(s),
            Value::Char(c) => write!(f, "{c}"),
            Value::DateTime(d) => f.write_str(&format_datetime_invariant(d)),
            Value::TimeSpan(t) => f.write_str(&format_timespan(*t)),
            Value::Guid(g) => f.write_str(g),
            Value::Version(v) => write!(f, "{v}"),
            Value::ScriptBlock(s) => f.write_str(s),
            Value::Array(v) | Value::List(v) => {
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{x}")?;
                }
                Ok(())
            }
            Value::Bytes(b) => {
                for (i, x) in b.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{x}")?;
                }
                Ok(())
            }
            Value::Hashtable(_) => f.write_str("System.Collections.Hashtable"),
            Value::Object(o) => f.write_str(&o.to_string),
            Value::Live(l) => f.write_str(&l.type_name()),
            Value::Enum(e) => f.write_str(&e.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_print() {
        let v = Version::parse("5.1.17763.5458").expect("valid");
        assert_eq!(v.to_string(), "5.1.17763.5458");
        assert!(Version::parse("5.1").expect("valid") < v);
        assert_eq!(Version::parse("5"), None);
        assert_eq!(Version::parse("5.x"), None);
    }

    #[test]
    fn dates_round_trip() {
        let d = DateTime::from_unix_millis(1_700_000_000_000, true);
        assert_eq!(d.to_iso8601(), "2023-11-14T22:13:20.0000000Z");
        assert_eq!(days_from_civil(2023, 11, 14), 1_700_000_000 / 86400);
        assert_eq!(format_datetime_en_us(&d), "11/14/2023 10:13:20 PM");
    }

    #[test]
    fn numbers_print_like_dotnet() {
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(2.5), "2.5");
        assert_eq!(format_double(1e20), "1E+20");
        assert_eq!(format_double(0.1 + 0.2), "0.3");
        assert_eq!(format_timespan(TICKS_PER_SECOND * 3661), "01:01:01");
    }
}
