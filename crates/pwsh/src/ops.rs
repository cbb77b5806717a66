//! PowerShell's operators and conversions: the left operand decides the
//! type (`"5" + 1` is `"51"`, `5 + "1"` is `6`), collections filter under
//! comparison operators, Int32 widens to Int64 and then Double on
//! overflow, and string comparisons ignore case unless the operator is a
//! `-c` one.

use crate::ast::{BinOp, CmpOp};
use crate::value::{DateTime, Value, Version};
use crate::{ErrorCategory, ErrorRecord};
use std::cmp::Ordering;

/// A failed operation: PowerShell's error for it.
pub(crate) type OpResult<T> = Result<T, ErrorRecord>;

pub(crate) fn runtime(message: impl Into<String>, id: &str) -> ErrorRecord {
    ErrorRecord::new(
        "System.Management.Automation.RuntimeException",
        message,
        id,
        ErrorCategory::InvalidOperation,
    )
}

/// `Cannot convert value "x" to type "System.Int32". Error: "..."`.
pub(crate) fn conversion_error(v: &Value, ty: &str, detail: &str) -> ErrorRecord {
    ErrorRecord::new(
        "System.Management.Automation.PSInvalidCastException",
        format!(
            "Cannot convert value \"{}\" to type \"{ty}\". Error: \"{detail}\"",
            v
        ),
        "InvalidCastFromStringToInteger",
        ErrorCategory::InvalidArgument,
    )
}

/// PowerShell's error for a value that names no member of an enum.
fn enum_error(v: &Value, ty: &str) -> ErrorRecord {
    let names: Vec<&str> = crate::value::EnumValue::members(ty)
        .unwrap_or_default()
        .iter()
        .map(|(n, _)| *n)
        .collect();
    let mut e = conversion_error(
        v,
        ty,
        &format!(
            "Unable to match the identifier name {v} to a valid enumerator name. Specify one of the following enumerator names and try again:\r\n{}",
            names.join(", ")
        ),
    );
    e.fully_qualified_error_id = "RuntimeException".into();
    e
}

/// A number as PowerShell reads one from a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    I(i64),
    D(f64),
}

impl Num {
    pub(crate) fn f(self) -> f64 {
        match self {
            Num::I(i) => i as f64,
            Num::D(d) => d,
        }
    }
}

/// Text to a number (`"0x10"`, `" 42 "`, `"1.5"`, `"1kb"`, `""` is 0).
pub(crate) fn parse_num_text(s: &str) -> Option<Num> {
    let t = s.trim();
    if t.is_empty() {
        return Some(Num::I(0));
    }
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let v = crate::parser::parse_number(body)?;
    let n = match v {
        Value::Int32(i) => Num::I(i64::from(i)),
        Value::Int64(i) => Num::I(i),
        Value::Double(d) => Num::D(d),
        Value::Decimal(d) => Num::D(d.parse().ok()?),
        _ => return None,
    };
    Some(match (neg, n) {
        (true, Num::I(i)) => Num::I(-i),
        (true, Num::D(d)) => Num::D(-d),
        (false, n) => n,
    })
}

/// A value as a number, for arithmetic.
pub(crate) fn to_num(v: &Value) -> OpResult<Num> {
    Ok(match v {
        Value::Null => Num::I(0),
        Value::Bool(b) => Num::I(i64::from(*b)),
        Value::Byte(n) => Num::I(i64::from(*n)),
        Value::Int32(n) => Num::I(i64::from(*n)),
        Value::Int64(n) => Num::I(*n),
        Value::Double(d) => Num::D(*d),
        Value::Decimal(s) => Num::D(s.parse().unwrap_or(0.0)),
        Value::Char(c) => Num::I(i64::from(*c as u32)),
        Value::String(s) => parse_num_text(s).ok_or_else(|| {
            conversion_error(
                v,
                "System.Int32",
                "Input string was not in a correct format.",
            )
        })?,
        Value::TimeSpan(t) => Num::I(*t),
        Value::Enum(e) => Num::I(i64::from(e.value)),
        Value::Array(a) | Value::List(a) if a.len() == 1 => return to_num(&a[0]),
        other => {
            return Err(runtime(
                format!(
                    "Cannot convert the \"{other}\" value of type \"{}\" to type \"System.Int32\".",
                    other.type_name()
                ),
                "ConvertToFinalInvalidCastException",
            ))
        }
    })
}

/// A number result in PowerShell's type: Int32 when it fits, then Int64.
pub(crate) fn num_value(n: Num, wide: bool) -> Value {
    match n {
        Num::I(i) if !wide => i32::try_from(i).map_or(Value::Int64(i), Value::Int32),
        Num::I(i) => Value::Int64(i),
        Num::D(d) => Value::Double(d),
    }
}

fn is_wide(v: &Value) -> bool {
    matches!(v, Value::Int64(_))
}

fn is_double(v: &Value) -> bool {
    matches!(v, Value::Double(_) | Value::Decimal(_))
        || matches!(v, Value::String(s) if s.contains(['.', 'e', 'E']) && !s.trim_start().starts_with("0x"))
}

/// Integer arithmetic with PowerShell's widening (Int64 overflow → Double).
fn arith(op: BinOp, a: Num, b: Num, dbl: bool) -> OpResult<Num> {
    if let (Num::I(x), Num::I(y), false) = (a, b, dbl) {
        let r = match op {
            BinOp::Add => x.checked_add(y),
            BinOp::Sub => x.checked_sub(y),
            BinOp::Mul => x.checked_mul(y),
            BinOp::Div => {
                if y == 0 {
                    return Err(divide_by_zero());
                }
                if x % y == 0 {
                    x.checked_div(y)
                } else {
                    return Ok(Num::D(x as f64 / y as f64));
                }
            }
            BinOp::Rem => {
                if y == 0 {
                    return Err(divide_by_zero());
                }
                x.checked_rem(y)
            }
            _ => None,
        };
        if let Some(r) = r {
            return Ok(Num::I(r));
        }
    }
    let (x, y) = (a.f(), b.f());
    Ok(Num::D(match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div => {
            if y == 0.0 && !dbl {
                return Err(divide_by_zero());
            }
            x / y
        }
        BinOp::Rem => x % y,
        _ => 0.0,
    }))
}

fn divide_by_zero() -> ErrorRecord {
    ErrorRecord::new(
        "System.Management.Automation.RuntimeException",
        "Attempted to divide by zero.",
        "RuntimeException",
        ErrorCategory::NotSpecified,
    )
}

/// `+ - * / %` with PowerShell's rules for the left operand's type.
/// `max_items` bounds string and array growth.
pub(crate) fn binary_arith(op: BinOp, l: &Value, r: &Value, max_items: usize) -> OpResult<Value> {
    match (op, l) {
        (BinOp::Add, Value::String(s)) => {
            let rs = r.to_string();
            if s.len() + rs.len() > max_items {
                return Err(too_big());
            }
            Ok(Value::String(format!("{s}{rs}")))
        }
        (BinOp::Add, Value::Char(c)) if matches!(r, Value::String(_) | Value::Char(_)) => {
            Ok(Value::String(format!("{c}{r}")))
        }
        (BinOp::Add, Value::Array(a) | Value::List(a)) => {
            let mut out = a.clone();
            let add = r.clone().into_items();
            if out.len() + add.len() > max_items {
                return Err(too_big());
            }
            match r {
                Value::Null => out.push(Value::Null),
                _ => out.extend(add),
            }
            Ok(Value::Array(out))
        }
        (BinOp::Add, Value::Bytes(b)) => {
            let mut out: Vec<Value> = b.iter().map(|x| Value::Byte(*x)).collect();
            out.extend(r.clone().into_items());
            Ok(Value::Array(out))
        }
        (BinOp::Add, Value::Hashtable(h)) => {
            let Value::Hashtable(o) = r else {
                return Err(runtime(
                    "A hash table can only be added to another hash table.",
                    "AddHashTableToNonHashTable",
                ));
            };
            let mut out = h.clone();
            for (k, v) in o {
                if out.iter().any(|(x, _)| keys_equal(x, k)) {
                    return Err(runtime(
                        format!("Item has already been added. Key in dictionary: '{k}'  Key being added: '{k}'"),
                        "DuplicateKeyInHashLiteral",
                    ));
                }
                out.push((k.clone(), v.clone()));
            }
            Ok(Value::Hashtable(out))
        }
        (BinOp::Add | BinOp::Sub, Value::DateTime(d)) => {
            let t = match r {
                Value::TimeSpan(t) => *t,
                Value::DateTime(o) if op == BinOp::Sub => {
                    return Ok(Value::TimeSpan(d.ticks - o.ticks))
                }
                other => match to_num(other)? {
                    Num::I(i) => i,
                    Num::D(f) => f as i64,
                },
            };
            let t = if op == BinOp::Sub { -t } else { t };
            Ok(Value::DateTime(DateTime {
                ticks: d.ticks.saturating_add(t),
                utc: d.utc,
            }))
        }
        (BinOp::Add | BinOp::Sub, Value::TimeSpan(a)) => {
            let b = match r {
                Value::TimeSpan(t) => *t,
                other => match to_num(other)? {
                    Num::I(i) => i,
                    Num::D(f) => f as i64,
                },
            };
            Ok(Value::TimeSpan(if op == BinOp::Add {
                a.saturating_add(b)
            } else {
                a.saturating_sub(b)
            }))
        }
        (BinOp::Mul, Value::String(s)) => {
            let n = match to_num(r)? {
                Num::I(i) => i,
                Num::D(d) => d.round() as i64,
            };
            let n = usize::try_from(n.max(0)).unwrap_or(0);
            if s.len().saturating_mul(n) > max_items {
                return Err(too_big());
            }
            Ok(Value::String(s.repeat(n)))
        }
        (BinOp::Mul, Value::Array(a) | Value::List(a)) => {
            let n = match to_num(r)? {
                Num::I(i) => i,
                Num::D(d) => d.round() as i64,
            };
            let n = usize::try_from(n.max(0)).unwrap_or(0);
            if a.len().saturating_mul(n) > max_items {
                return Err(too_big());
            }
            let mut out = Vec::with_capacity(a.len() * n);
            for _ in 0..n {
                out.extend(a.iter().cloned());
            }
            Ok(Value::Array(out))
        }
        (BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem, _) => {
            if matches!(
                l,
                Value::Object(_) | Value::Hashtable(_) | Value::Live(_) | Value::ScriptBlock(_)
            ) {
                let verb = match op {
                    BinOp::Add => "op_Addition",
                    BinOp::Sub => "op_Subtraction",
                    BinOp::Mul => "op_Multiply",
                    BinOp::Div => "op_Division",
                    _ => "op_Modulus",
                };
                return Err(runtime(
                    format!("Method invocation failed because [{}] does not contain a method named '{verb}'.", l.type_name()),
                    "MethodNotFound",
                ));
            }
            let a = to_num(l)?;
            let b = to_num(r)?;
            let dbl = is_double(l) || is_double(r);
            let wide = is_wide(l) || is_wide(r);
            Ok(num_value(arith(op, a, b, dbl)?, wide))
        }
        _ => Err(runtime("Unsupported operator.", "OperatorNotSupported")),
    }
}

pub(crate) fn too_big() -> ErrorRecord {
    ErrorRecord::new(
        "System.OutOfMemoryException",
        "Array dimensions exceeded supported range.",
        "System.OutOfMemoryException",
        ErrorCategory::LimitsExceeded,
    )
}

/// Hashtable key equality: strings ignore case.
pub(crate) fn keys_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.eq_ignore_ascii_case(y),
        _ => compare_eq(a, b, false),
    }
}

/// Converts `r` to `l`'s type and compares, as `-eq`, `-lt`... do.
pub(crate) fn compare(l: &Value, r: &Value, cs: bool) -> OpResult<Option<Ordering>> {
    Ok(match l {
        Value::Null => match r {
            Value::Null => Some(Ordering::Equal),
            _ => Some(Ordering::Less),
        },
        Value::String(s) => {
            if matches!(r, Value::Null) {
                return Ok(Some(Ordering::Greater));
            }
            let t = r.to_string();
            Some(if cs {
                s.as_str().cmp(t.as_str())
            } else {
                cmp_ci(s, &t)
            })
        }
        Value::Char(c) => {
            let t = r.to_string();
            let s = c.to_string();
            Some(if cs {
                s.as_str().cmp(t.as_str())
            } else {
                cmp_ci(&s, &t)
            })
        }
        Value::Bool(b) => Some(b.cmp(&r.truthy())),
        Value::Byte(_)
        | Value::Int32(_)
        | Value::Int64(_)
        | Value::Double(_)
        | Value::Decimal(_) => {
            if matches!(r, Value::Null) {
                return Ok(Some(Ordering::Greater));
            }
            let a = to_num(l)?;
            let b = match to_num(r) {
                Ok(b) => b,
                Err(_) => return Ok(None),
            };
            match (a, b) {
                (Num::I(x), Num::I(y)) => Some(x.cmp(&y)),
                (x, y) => x.f().partial_cmp(&y.f()),
            }
        }
        Value::Version(v) => {
            let o = match r {
                Value::Version(o) => *o,
                Value::Null => return Ok(Some(Ordering::Greater)),
                other => Version::parse(&other.to_string()).ok_or_else(|| {
                    conversion_error(
                        other,
                        "System.Version",
                        "Version string portion was too short or too long.",
                    )
                })?,
            };
            Some(v.cmp(&o))
        }
        Value::DateTime(d) => {
            let o = match r {
                Value::DateTime(o) => *o,
                Value::Null => return Ok(Some(Ordering::Greater)),
                other => crate::dotnet::parse_datetime(&other.to_string()).ok_or_else(|| {
                    conversion_error(
                        other,
                        "System.DateTime",
                        "String was not recognized as a valid DateTime.",
                    )
                })?,
            };
            Some(d.ticks.cmp(&o.ticks))
        }
        Value::TimeSpan(t) => match r {
            Value::TimeSpan(o) => Some(t.cmp(o)),
            other => Some(t.cmp(&match to_num(other)? {
                Num::I(i) => i,
                Num::D(d) => d as i64,
            })),
        },
        Value::Guid(g) => Some(cmp_ci(g, &r.to_string())),
        // The right side converts to the enum: a member's name (any case)
        // or a number; anything else is PowerShell's conversion error.
        Value::Enum(e) => {
            let v = match r {
                Value::Null => return Ok(Some(Ordering::Greater)),
                Value::Enum(o) => i64::from(o.value),
                Value::String(t) => match crate::value::EnumValue::member(&e.type_name, t.trim()) {
                    Some(m) => i64::from(m.value),
                    None => match parse_num_text(t) {
                        Some(Num::I(i)) => i,
                        _ => return Err(enum_error(r, &e.type_name)),
                    },
                },
                other => match to_num(other) {
                    Ok(Num::I(i)) => i,
                    _ => return Err(enum_error(r, &e.type_name)),
                },
            };
            Some(i64::from(e.value).cmp(&v))
        }
        _ => {
            if l == r {
                Some(Ordering::Equal)
            } else {
                None
            }
        }
    })
}

fn cmp_ci(a: &str, b: &str) -> Ordering {
    let x = a.to_lowercase();
    let y = b.to_lowercase();
    x.cmp(&y)
}

pub(crate) fn compare_eq(l: &Value, r: &Value, cs: bool) -> bool {
    matches!(compare(l, r, cs), Ok(Some(Ordering::Equal)))
}

/// `-like`'s wildcard match (`*`, `?`, `[a-z]`), `` ` `` escaping.
pub(crate) fn wildcard(pattern: &str, text: &str, cs: bool) -> bool {
    let norm = |s: &str| if cs { s.to_string() } else { s.to_lowercase() };
    let p: Vec<char> = norm(pattern).chars().collect();
    let t: Vec<char> = norm(text).chars().collect();
    wild(&p, &t)
}

fn wild(p: &[char], t: &[char]) -> bool {
    // Iterative with one backtrack point for `*` (linear in practice).
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' => Some(1),
                '[' => {
                    let close = p[pi..].iter().position(|c| *c == ']').map(|k| pi + k);
                    match close {
                        Some(end) => {
                            let set = &p[pi + 1..end];
                            let mut hit = false;
                            let mut k = 0;
                            while k < set.len() {
                                if k + 2 < set.len() && set[k + 1] == '-' {
                                    if set[k] <= t[ti] && t[ti] <= set[k + 2] {
                                        hit = true;
                                    }
                                    k += 3;
                                } else {
                                    if set[k] == t[ti] {
                                        hit = true;
                                    }
                                    k += 1;
                                }
                            }
                            if hit {
                                ti += 1;
                                pi = end + 1;
                                continue;
                            }
                            None
                        }
                        None => (p[pi] == t[ti]).then_some(1),
                    }
                }
                '`' if pi + 1 < p.len() => {
                    if p[pi + 1] == t[ti] {
                        pi += 2;
                        ti += 1;
                        continue;
                    }
                    None
                }
                c => (c == t[ti]).then_some(1),
            }
        } else {
            None
        };
        match step {
            Some(_) => {
                pi += 1;
                ti += 1;
            }
            None => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// A .NET-flavoured regex compiled with the `regex` crate. Constructs it
/// lacks (look-around, back-references) fail with a clear error rather
/// than matching differently.
pub(crate) fn regex(pattern: &str, cs: bool) -> OpResult<regex::Regex> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(!cs)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            ErrorRecord::new(
                "System.Management.Automation.RuntimeException",
                format!("The regular expression pattern {pattern} is not valid (or uses a .NET construct fakedc's PowerShell does not implement: look-around or back-references): {e}"),
                "InvalidRegularExpression",
                ErrorCategory::InvalidOperation,
            )
        })
}

/// A comparison operator on a scalar left operand.
pub(crate) fn cmp_scalar(op: CmpOp, l: &Value, r: &Value, cs: bool) -> OpResult<bool> {
    Ok(match op {
        CmpOp::Eq => compare_eq(l, r, cs),
        CmpOp::Ne => !compare_eq(l, r, cs),
        CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => {
            let o = compare(l, r, cs)?.ok_or_else(|| {
                runtime(
                    format!("Cannot compare \"{l}\" because it is not IComparable."),
                    "NotIcomparable",
                )
            })?;
            match op {
                CmpOp::Lt => o == Ordering::Less,
                CmpOp::Le => o != Ordering::Greater,
                CmpOp::Gt => o == Ordering::Greater,
                _ => o != Ordering::Less,
            }
        }
        CmpOp::Like => wildcard(&r.to_string(), &l.to_string(), cs),
        CmpOp::NotLike => !wildcard(&r.to_string(), &l.to_string(), cs),
        CmpOp::Match | CmpOp::NotMatch => {
            let re = regex(&r.to_string(), cs)?;
            let hit = re.is_match(&l.to_string());
            if op == CmpOp::Match {
                hit
            } else {
                !hit
            }
        }
        CmpOp::Contains | CmpOp::NotContains => {
            let hit = l.clone().into_items().iter().any(|x| compare_eq(x, r, cs));
            if op == CmpOp::Contains {
                hit
            } else {
                !hit
            }
        }
        CmpOp::In | CmpOp::NotIn => {
            let hit = r.clone().into_items().iter().any(|x| compare_eq(x, l, cs));
            if op == CmpOp::In {
                hit
            } else {
                !hit
            }
        }
    })
}

/// `"{0} {1:N2}" -f a, b`: .NET composite formatting for the specifiers
/// scripts use (N, D, X, F, P, alignment).
pub(crate) fn format_op(fmt: &str, args: &[Value]) -> OpResult<String> {
    let mut out = String::new();
    let chars: Vec<char> = fmt.chars().collect();
    let mut i = 0;
    let bad = || {
        runtime(
            format!("Error formatting a string: Input string was not in a correct format.: {fmt}"),
            "FormatError",
        )
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            if chars.get(i + 1) == Some(&'{') {
                out.push('{');
                i += 2;
                continue;
            }
            let end = chars[i..]
                .iter()
                .position(|c| *c == '}')
                .map(|k| i + k)
                .ok_or_else(bad)?;
            let spec: String = chars[i + 1..end].iter().collect();
            i = end + 1;
            let (head, fmtspec) = match spec.split_once(':') {
                Some((h, f)) => (h.to_string(), Some(f.to_string())),
                None => (spec.clone(), None),
            };
            let (idx, align) = match head.split_once(',') {
                Some((a, b)) => (a.trim().to_string(), b.trim().parse::<i64>().ok()),
                None => (head.trim().to_string(), None),
            };
            let idx: usize = idx.parse().map_err(|_| bad())?;
            let v = args.get(idx).ok_or_else(|| {
                runtime(
                    "Error formatting a string: Index (zero based) must be greater than or equal to zero and less than the size of the argument list..",
                    "FormatError",
                )
            })?;
            let s = match fmtspec {
                Some(f) => format_one(v, &f)?,
                None => v.to_string(),
            };
            match align {
                Some(w) if w > 0 => out.push_str(&format!("{s:>width$}", width = w as usize)),
                Some(w) if w < 0 => out.push_str(&format!("{s:<width$}", width = (-w) as usize)),
                _ => out.push_str(&s),
            }
        } else if c == '}' {
            if chars.get(i + 1) == Some(&'}') {
                out.push('}');
                i += 2;
                continue;
            }
            return Err(bad());
        } else {
            out.push(c);
            i += 1;
        }
    }
    Ok(out)
}

/// One `{0:spec}`.
pub(crate) fn format_one(v: &Value, spec: &str) -> OpResult<String> {
    if let Value::DateTime(d) = v {
        return Ok(crate::dotnet::format_datetime(d, spec));
    }
    let mut cs = spec.chars();
    let kind = cs.next().map(|c| c.to_ascii_uppercase());
    let prec: Option<usize> = cs.as_str().parse().ok();
    let n = match to_num(v) {
        Ok(n) => n,
        Err(_) => return Ok(v.to_string()),
    };
    Ok(match kind {
        Some('N') => group(&format!("{:.*}", prec.unwrap_or(2), n.f())),
        Some('F') => format!("{:.*}", prec.unwrap_or(2), n.f()),
        Some('D') => match n {
            Num::I(i) => format!("{:0width$}", i, width = prec.unwrap_or(0)),
            Num::D(_) => return Err(runtime("Format specifier was invalid.", "FormatError")),
        },
        Some('X') => match n {
            Num::I(i) => {
                let s = format!("{:0width$X}", i, width = prec.unwrap_or(0));
                if spec.starts_with('x') {
                    s.to_lowercase()
                } else {
                    s
                }
            }
            Num::D(_) => return Err(runtime("Format specifier was invalid.", "FormatError")),
        },
        Some('P') => format!(
            "{} %",
            group(&format!("{:.*}", prec.unwrap_or(2), n.f() * 100.0))
        ),
        Some('0') | Some('#') => {
            let decimals = spec.split_once('.').map_or(0, |(_, d)| d.len());
            format!("{:.*}", decimals, n.f())
        }
        _ => v.to_string(),
    })
}

/// Thousands separators (en-US).
fn group(s: &str) -> String {
    let (sign, rest) = match s.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", s),
    };
    let (int, frac) = match rest.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let mut g = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            g.push(',');
        }
        g.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{g}.{f}"),
        None => format!("{sign}{g}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_widens_like_powershell() {
        let m = 1 << 20;
        assert_eq!(
            binary_arith(BinOp::Add, &Value::Int32(1), &Value::Int32(1), m),
            Ok(Value::Int32(2))
        );
        assert_eq!(
            binary_arith(BinOp::Add, &Value::Int32(i32::MAX), &Value::Int32(1), m),
            Ok(Value::Int64(1 << 31))
        );
        assert_eq!(
            binary_arith(BinOp::Div, &Value::Int32(7), &Value::Int32(2), m),
            Ok(Value::Double(3.5))
        );
        assert_eq!(
            binary_arith(BinOp::Add, &Value::str("5"), &Value::Int32(1), m),
            Ok(Value::str("51"))
        );
        assert_eq!(
            binary_arith(BinOp::Add, &Value::Int32(5), &Value::str("1"), m),
            Ok(Value::Int32(6))
        );
        assert!(binary_arith(BinOp::Div, &Value::Int32(1), &Value::Int32(0), m).is_err());
    }

    #[test]
    fn comparisons() {
        let v = Value::Version(Version::parse("5.1.17763.5458").expect("v"));
        assert_eq!(
            cmp_scalar(CmpOp::Lt, &v, &Value::str("5.1"), false),
            Ok(false)
        );
        assert_eq!(
            cmp_scalar(CmpOp::Eq, &Value::str("ABC"), &Value::str("abc"), false),
            Ok(true)
        );
        assert_eq!(
            cmp_scalar(CmpOp::Eq, &Value::str("ABC"), &Value::str("abc"), true),
            Ok(false)
        );
        assert!(wildcard("Run*", "running", false));
        assert!(wildcard("h?[a-c]", "hxb", false));
        assert!(!wildcard("a*b", "acd", false));
        assert_eq!(
            format_op(
                "{0:N2}|{1,4}|{0:F1}",
                &[Value::Double(1234.5), Value::Int32(7)]
            ),
            Ok("1,234.50|   7|1234.5".into())
        );
    }
}
