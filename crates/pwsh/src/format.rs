//! Default formatting (`Out-Default`, `Format-Table`, `Format-List`,
//! `Out-String`) as powershell.exe prints to a redirected stdout: tables
//! for the types PowerShell has table views for (with the views' columns),
//! tables for objects of up to four properties and lists beyond, and the
//! console's 120 columns. Trailing spaces are trimmed from every line
//! (PowerShell 5.1 pads the last column; readers trim it).
//!
//! Also JSON (`ConvertTo-Json`/`ConvertFrom-Json`) in Windows PowerShell
//! 5.1's layout.

use crate::ast::ScriptBlock;
use crate::eval::{Interp, Res};
use crate::value::{self, PsObject, Value};
use std::sync::Arc;

/// A column of Format-Table / Select-Object.
pub(crate) enum Column {
    /// (label, property name).
    Prop(String, String),
    /// (label, expression).
    Script(String, Arc<ScriptBlock>),
}

/// Format-Table/-List output: the rendered text as one string.
pub(crate) fn formatted(text: String) -> Value {
    let t = text
        .strip_suffix("\r\n")
        .map(str::to_string)
        .unwrap_or(text);
    Value::String(t)
}

/// `$FormatEnumerationLimit`.
const ENUM_LIMIT: usize = 4;

/// A value inside a table cell or list entry.
pub(crate) fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Array(a) | Value::List(a) => {
            let mut parts: Vec<String> = a.iter().take(ENUM_LIMIT).map(cell).collect();
            if a.len() > ENUM_LIMIT {
                if let Some(l) = parts.last_mut() {
                    l.push_str("...");
                }
            }
            format!("{{{}}}", parts.join(", "))
        }
        Value::Bytes(b) => {
            let mut parts: Vec<String> = b.iter().take(ENUM_LIMIT).map(|x| x.to_string()).collect();
            if b.len() > ENUM_LIMIT {
                if let Some(l) = parts.last_mut() {
                    l.push_str("...");
                }
            }
            format!("{{{}}}", parts.join(", "))
        }
        Value::DateTime(d) => value::format_datetime_en_us(d),
        Value::Object(o) if o.is_custom() => summary(v),
        Value::Object(o) => o.to_string.clone(),
        Value::Hashtable(_) => "{}".into(),
        other => other.to_string(),
    }
}

/// `@{a=1; b=2}` for a custom object, the ToString otherwise.
pub(crate) fn summary(v: &Value) -> String {
    match v {
        Value::Object(o) if o.is_custom() || o.type_name().starts_with("Selected.") => {
            crate::dotnet::custom_object_text(o)
        }
        other => other.to_string(),
    }
}

/// Every property of a value, for `Select-Object *` and lists.
pub(crate) fn all_properties(v: &Value) -> Vec<(String, Value)> {
    match v {
        Value::Object(o) => o.properties.clone(),
        Value::Hashtable(h) => h.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        Value::Version(x) => vec![
            ("Major".into(), Value::Int32(x.major)),
            ("Minor".into(), Value::Int32(x.minor)),
            ("Build".into(), Value::Int32(x.build)),
            ("Revision".into(), Value::Int32(x.revision)),
            (
                "MajorRevision".into(),
                Value::Int32(x.revision.max(0) >> 16),
            ),
            (
                "MinorRevision".into(),
                Value::Int32(x.revision.max(0) & 0xffff),
            ),
        ],
        Value::TimeSpan(t) => {
            let tps = value::TICKS_PER_SECOND;
            let s = t / tps;
            vec![
                ("Days".into(), Value::Int32((s / 86_400) as i32)),
                ("Hours".into(), Value::Int32(((s / 3600) % 24) as i32)),
                ("Minutes".into(), Value::Int32(((s / 60) % 60) as i32)),
                ("Seconds".into(), Value::Int32((s % 60) as i32)),
                (
                    "Milliseconds".into(),
                    Value::Int32(((t / 10_000) % 1000) as i32),
                ),
                ("Ticks".into(), Value::Int64(*t)),
                (
                    "TotalDays".into(),
                    Value::Double(*t as f64 / tps as f64 / 86_400.0),
                ),
                (
                    "TotalHours".into(),
                    Value::Double(*t as f64 / tps as f64 / 3600.0),
                ),
                (
                    "TotalMinutes".into(),
                    Value::Double(*t as f64 / tps as f64 / 60.0),
                ),
                ("TotalSeconds".into(), Value::Double(*t as f64 / tps as f64)),
                (
                    "TotalMilliseconds".into(),
                    Value::Double(*t as f64 / 10_000.0),
                ),
            ]
        }
        Value::String(s) => vec![(
            "Length".into(),
            Value::Int32(s.encode_utf16().count() as i32),
        )],
        Value::Guid(g) => vec![("Guid".into(), Value::String(g.clone()))],
        _ => Vec::new(),
    }
}

/// How a type is shown by default.
enum View {
    /// (header, property, width or 0 for auto, right-aligned, transform).
    Table(Vec<Col>),
    List(Vec<String>),
    /// Text as-is (strings, numbers).
    Text,
    Date,
    Files,
}

struct Col {
    header: &'static str,
    prop: &'static str,
    width: usize,
    right: bool,
    f: fn(&Value) -> String,
}

fn plain(v: &Value) -> String {
    cell(v)
}
fn mb(v: &Value) -> String {
    crate::ops::to_num(v)
        .map(|n| ((n.f() / 1_048_576.0) as i64).to_string())
        .unwrap_or_default()
}
fn kb(v: &Value) -> String {
    crate::ops::to_num(v)
        .map(|n| ((n.f() / 1024.0) as i64).to_string())
        .unwrap_or_default()
}
fn n2(v: &Value) -> String {
    crate::ops::to_num(v)
        .map(|n| format!("{:.2}", n.f()))
        .unwrap_or_default()
}
fn hhmmss(v: &Value) -> String {
    match v {
        Value::TimeSpan(t) => {
            let s = t / value::TICKS_PER_SECOND;
            format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
        }
        other => cell(other),
    }
}

const fn col(
    header: &'static str,
    prop: &'static str,
    width: usize,
    right: bool,
    f: fn(&Value) -> String,
) -> Col {
    Col {
        header,
        prop,
        width,
        right,
        f,
    }
}

fn view_of(v: &Value) -> View {
    match v {
        Value::Object(o) => {
            let t = o.type_name();
            match t {
                "Microsoft.HyperV.PowerShell.VirtualMachine" => View::Table(vec![
                    col("Name", "Name", 0, false, plain),
                    col("State", "State", 0, false, plain),
                    col("CPUUsage(%)", "CPUUsage", 11, true, plain),
                    col("MemoryAssigned(M)", "MemoryAssigned", 17, true, mb),
                    col("Uptime", "Uptime", 16, false, hhmmss),
                    col("Status", "Status", 0, false, plain),
                    col("Version", "Version", 0, false, plain),
                ]),
                "Microsoft.HyperV.PowerShell.VMSnapshot" => View::Table(vec![
                    col("VMName", "VMName", 0, false, plain),
                    col("Name", "Name", 0, false, plain),
                    col("SnapshotType", "SnapshotType", 0, false, plain),
                    col("CreationTime", "CreationTime", 0, false, plain),
                    col("ParentSnapshotName", "ParentSnapshotName", 0, false, plain),
                ]),
                "System.ServiceProcess.ServiceController" => View::Table(vec![
                    col("Status", "Status", 8, false, plain),
                    col("Name", "Name", 18, false, plain),
                    col("DisplayName", "DisplayName", 38, false, plain),
                ]),
                "System.Diagnostics.Process" => View::Table(vec![
                    col("Handles", "Handles", 7, true, plain),
                    col("NPM(K)", "NPM", 7, true, kb),
                    col("PM(K)", "PM", 8, true, kb),
                    col("WS(K)", "WS", 10, true, kb),
                    col("CPU(s)", "CPU", 10, true, n2),
                    col("Id", "Id", 6, true, plain),
                    col("SI", "SI", 3, true, plain),
                    col("ProcessName", "ProcessName", 0, false, plain),
                ]),
                "Microsoft.HyperV.PowerShell.VMHost" => View::Table(vec![
                    col("Name", "Name", 0, false, plain),
                    col(
                        "LogicalProcessorCount",
                        "LogicalProcessorCount",
                        0,
                        true,
                        plain,
                    ),
                    col("MemoryCapacity(M)", "MemoryCapacity", 0, true, mb),
                    col(
                        "VirtualMachineMigrationEnabled",
                        "VirtualMachineMigrationEnabled",
                        0,
                        false,
                        plain,
                    ),
                ]),
                "Microsoft.HyperV.PowerShell.VMNetworkAdapter" => View::Table(vec![
                    col("Name", "Name", 0, false, plain),
                    col("IsManagementOs", "IsManagementOs", 0, false, plain),
                    col("VMName", "VMName", 0, false, plain),
                    col("SwitchName", "SwitchName", 0, false, plain),
                    col("MacAddress", "MacAddress", 0, false, plain),
                    col("Status", "Status", 0, false, plain),
                    col("IPAddresses", "IPAddresses", 0, false, plain),
                ]),
                "System.OperatingSystem" => View::Table(vec![
                    col("Platform", "Platform", 0, false, plain),
                    col("ServicePack", "ServicePack", 0, false, plain),
                    col("Version", "Version", 0, false, plain),
                    col("VersionString", "VersionString", 0, false, plain),
                ]),
                "System.IO.FileInfo" | "System.IO.DirectoryInfo" => View::Files,
                "System.RuntimeType" => View::Table(vec![
                    col("IsPublic", "IsPublic", 0, false, plain),
                    col("IsSerial", "IsSerial", 0, false, plain),
                    col("Name", "Name", 0, false, plain),
                    col("BaseType", "BaseType", 0, false, plain),
                ]),
                "System.Management.Automation.PSVariable"
                | "System.Collections.DictionaryEntry" => View::Table(vec![
                    col("Name", "Name", 30, false, plain),
                    col("Value", "Value", 0, false, plain),
                ]),
                "System.Management.Automation.PathInfo" => {
                    View::Table(vec![col("Path", "Path", 0, false, plain)])
                }
                "System.Management.Automation.CmdletInfo"
                | "System.Management.Automation.FunctionInfo" => View::Table(vec![
                    col("CommandType", "CommandType", 15, false, plain),
                    col("Name", "Name", 50, false, plain),
                    col("Version", "Version", 10, false, plain),
                    col("Source", "Source", 0, false, plain),
                ]),
                "Microsoft.PowerShell.Commands.GroupInfo" => View::Table(vec![
                    col("Count", "Count", 5, true, plain),
                    col("Name", "Name", 0, false, plain),
                    col("Group", "Group", 0, false, plain),
                ]),
                "Microsoft.Powershell.Utility.FileHash" => View::Table(vec![
                    col("Algorithm", "Algorithm", 0, false, plain),
                    col("Hash", "Hash", 0, false, plain),
                    col("Path", "Path", 0, false, plain),
                ]),
                t if t.ends_with("/Win32_Service") || t.ends_with("\\Win32_Service") => {
                    View::Table(vec![
                        col("ProcessId", "ProcessId", 9, true, plain),
                        col("Name", "Name", 0, false, plain),
                        col("StartMode", "StartMode", 9, false, plain),
                        col("State", "State", 7, false, plain),
                        col("Status", "Status", 6, false, plain),
                        col("ExitCode", "ExitCode", 8, true, plain),
                    ])
                }
                t if t.ends_with("/Win32_OperatingSystem")
                    || t.ends_with("\\Win32_OperatingSystem") =>
                {
                    View::Table(vec![
                        col("SystemDirectory", "SystemDirectory", 0, false, plain),
                        col("Organization", "Organization", 0, false, plain),
                        col("BuildNumber", "BuildNumber", 0, false, plain),
                        col("RegisteredUser", "RegisteredUser", 0, false, plain),
                        col("SerialNumber", "SerialNumber", 0, false, plain),
                        col("Version", "Version", 0, false, plain),
                    ])
                }
                _ => {
                    let names: Vec<String> = o.properties.iter().map(|(k, _)| k.clone()).collect();
                    if names.len() <= 4 && !names.is_empty() {
                        View::Table(Vec::new())
                    } else {
                        View::List(names)
                    }
                }
            }
        }
        Value::Hashtable(_) => View::Table(vec![
            col("Name", "Name", 30, false, plain),
            col("Value", "Value", 0, false, plain),
        ]),
        Value::Version(_) => View::Table(vec![
            col("Major", "Major", 6, false, plain),
            col("Minor", "Minor", 6, false, plain),
            col("Build", "Build", 6, false, plain),
            col("Revision", "Revision", 8, false, plain),
        ]),
        Value::Guid(_) => View::Table(vec![col("Guid", "Guid", 0, false, plain)]),
        Value::TimeSpan(_) => View::List(
            [
                "Days",
                "Hours",
                "Minutes",
                "Seconds",
                "Milliseconds",
                "Ticks",
                "TotalDays",
                "TotalHours",
                "TotalMinutes",
                "TotalSeconds",
                "TotalMilliseconds",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ),
        Value::DateTime(_) => View::Date,
        _ => View::Text,
    }
}

/// The key grouping consecutive objects into one table or list.
fn group_key(v: &Value) -> String {
    match v {
        Value::Object(o) => {
            if matches!(
                o.type_name(),
                "System.IO.FileInfo" | "System.IO.DirectoryInfo"
            ) {
                return "files".into();
            }
            let props: Vec<&str> = o.properties.iter().map(|(k, _)| k.as_str()).collect();
            format!("{}|{}", o.type_name(), props.join(","))
        }
        Value::Hashtable(_) => "hashtable".into(),
        other => other.type_name(),
    }
}

fn get(v: &Value, p: &str) -> Value {
    match v {
        Value::Hashtable(h) => {
            // Rows of a hashtable are its entries (handled by the caller).
            let _ = h;
            Value::Null
        }
        Value::Object(o) => o.get(p).cloned().unwrap_or(Value::Null),
        other => all_properties(other)
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(p))
            .map(|(_, v)| v)
            .unwrap_or(Value::Null),
    }
}

/// Out-String / Out-Default of a sequence of values.
pub(crate) fn out_string(items: &[Value], width: usize) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < items.len() {
        let key = group_key(&items[i]);
        let mut j = i + 1;
        while j < items.len() && group_key(&items[j]) == key {
            j += 1;
        }
        let group = &items[i..j];
        match view_of(&items[i]) {
            View::Text => {
                for v in group {
                    match v {
                        Value::Null => {}
                        Value::Array(a) | Value::List(a) => out.push_str(&out_string(a, width)),
                        other => {
                            out.push_str(&text_of(other));
                            out.push_str("\r\n");
                        }
                    }
                }
            }
            View::Date => {
                for v in group {
                    if let Value::DateTime(d) = v {
                        out.push_str(&format!("\r\n{}\r\n\r\n\r\n", long_date(d)));
                    }
                }
            }
            View::Table(cols) => {
                let rows: Vec<Value> = match &items[i] {
                    Value::Hashtable(_) => group
                        .iter()
                        .flat_map(|h| match h {
                            Value::Hashtable(pairs) => pairs
                                .iter()
                                .map(|(k, v)| {
                                    Value::Object(PsObject::custom(vec![
                                        ("Name".into(), k.clone()),
                                        ("Value".into(), v.clone()),
                                    ]))
                                })
                                .collect::<Vec<_>>(),
                            _ => Vec::new(),
                        })
                        .collect(),
                    _ => group.to_vec(),
                };
                if cols.is_empty() {
                    let names: Vec<String> = all_properties(&rows[0])
                        .into_iter()
                        .map(|(k, _)| k)
                        .collect();
                    out.push_str(&render_table(
                        &rows,
                        &names
                            .iter()
                            .map(|n| (n.clone(), 0usize, None))
                            .collect::<Vec<_>>(),
                        width,
                        false,
                    ));
                } else {
                    let spec: Vec<(String, usize, Option<&Col>)> = cols
                        .iter()
                        .map(|c| (c.header.to_string(), c.width, Some(c)))
                        .collect();
                    out.push_str(&render_table(&rows, &spec, width, false));
                }
            }
            View::List(names) => out.push_str(&render_list(group, &names)),
            View::Files => out.push_str(&render_files(group, width)),
        }
        i = j;
    }
    out
}

/// A scalar as Out-Default prints it (en-US).
fn text_of(v: &Value) -> String {
    match v {
        Value::Object(o) if o.type_name() == "System.Management.Automation.ErrorRecord" => {
            o.to_string.clone()
        }
        Value::Live(l) => l.type_name(),
        other => other.to_string(),
    }
}

fn long_date(d: &value::DateTime) -> String {
    let (y, mo, da, h, mi, s, _) = d.fields();
    use crate::dotnet::{DAYS, MONTHS};
    let (h12, ampm) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    format!(
        "{}, {} {}, {} {}:{:02}:{:02} {}",
        DAYS[d.weekday() as usize],
        MONTHS[(mo as usize + 11) % 12],
        da,
        y,
        h12,
        mi,
        s,
        ampm
    )
}

fn is_numeric(v: &Value) -> bool {
    v.is_number()
}

/// A table: header, dashes, rows; auto-sized columns get the width of
/// their longest cell (PowerShell's Out-Default sizes from the first
/// objects), fixed ones truncate with `...`.
fn render_table(
    rows: &[Value],
    spec: &[(String, usize, Option<&Col>)],
    width: usize,
    hide: bool,
) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            spec.iter()
                .map(|(h, _, c)| match c {
                    Some(c) => (c.f)(&get(r, c.prop)),
                    None => cell(&get(r, h)),
                })
                .collect()
        })
        .collect();
    let right: Vec<bool> = spec
        .iter()
        .enumerate()
        .map(|(k, (_, _, c))| match c {
            Some(c) => c.right,
            None => rows
                .first()
                .is_some_and(|r| is_numeric(&get(r, &spec[k].0))),
        })
        .collect();
    let mut widths: Vec<usize> = spec
        .iter()
        .enumerate()
        .map(|(k, (h, w, _))| {
            if *w > 0 {
                *w
            } else {
                cells
                    .iter()
                    .map(|r| r[k].chars().count())
                    .max()
                    .unwrap_or(0)
                    .max(h.chars().count())
            }
        })
        .collect();
    // Fit the screen: shrink the widest auto column.
    let total = |w: &Vec<usize>| w.iter().sum::<usize>() + w.len().saturating_sub(1);
    while total(&widths) > width {
        let Some((k, _)) = widths.iter().enumerate().max_by_key(|(_, w)| **w) else {
            break;
        };
        if widths[k] <= 4 {
            break;
        }
        widths[k] -= 1;
    }
    let fit = |s: &str, w: usize, r: bool| -> String {
        let n = s.chars().count();
        let t = if n > w {
            if w > 3 {
                format!("{}...", s.chars().take(w - 3).collect::<String>())
            } else {
                s.chars().take(w).collect()
            }
        } else {
            s.to_string()
        };
        if r {
            format!("{t:>w$}")
        } else {
            format!("{t:<w$}")
        }
    };
    let mut out = String::from("\r\n");
    let line = |parts: Vec<String>| -> String {
        let l = parts.join(" ");
        format!("{}\r\n", l.trim_end())
    };
    if !hide {
        out.push_str(&line(
            spec.iter()
                .enumerate()
                .map(|(k, (h, _, _))| fit(h, widths[k], right[k]))
                .collect(),
        ));
        out.push_str(&line(
            spec.iter()
                .enumerate()
                .map(|(k, (h, _, _))| {
                    fit(
                        &"-".repeat(h.chars().count().min(widths[k])),
                        widths[k],
                        right[k],
                    )
                })
                .collect(),
        ));
    }
    for r in &cells {
        out.push_str(&line(
            r.iter()
                .enumerate()
                .map(|(k, c)| fit(c, widths[k], right[k]))
                .collect(),
        ));
    }
    out.push_str("\r\n\r\n");
    out
}

fn render_list(group: &[Value], names: &[String]) -> String {
    let mut out = String::from("\r\n");
    for v in group {
        let props: Vec<(String, Value)> = match v {
            Value::Object(o) => names
                .iter()
                .map(|n| (n.clone(), o.get(n).cloned().unwrap_or(Value::Null)))
                .collect(),
            other => {
                let all = all_properties(other);
                names
                    .iter()
                    .map(|n| {
                        (
                            n.clone(),
                            all.iter()
                                .find(|(k, _)| k == n)
                                .map(|(_, v)| v.clone())
                                .unwrap_or(Value::Null),
                        )
                    })
                    .collect()
            }
        };
        let w = props
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        for (k, v) in props {
            let text = cell(&v);
            out.push_str(format!("{k:<w$} : {text}").trim_end());
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out
}

fn render_files(group: &[Value], width: usize) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < group.len() {
        let parent = |v: &Value| match v {
            Value::Object(o) => o
                .get("PSParentPath")
                .map(|p| {
                    p.to_string()
                        .trim_start_matches("Microsoft.PowerShell.Core\\FileSystem::")
                        .to_string()
                })
                .unwrap_or_default(),
            _ => String::new(),
        };
        let dir = parent(&group[i]);
        let mut j = i + 1;
        while j < group.len() && parent(&group[j]) == dir {
            j += 1;
        }
        out.push_str(&format!("\r\n\r\n    Directory: {dir}\r\n\r\n\r\n"));
        out.push_str(
            format!(
                "{:<10} {:>22} {:>14} {}",
                "Mode", "LastWriteTime", "Length", "Name"
            )
            .trim_end(),
        );
        out.push_str("\r\n");
        out.push_str(
            format!(
                "{:<10} {:>22} {:>14} {}",
                "----", "-------------", "------", "----"
            )
            .trim_end(),
        );
        out.push_str("\r\n");
        for v in &group[i..j] {
            let Value::Object(o) = v else { continue };
            let mode = o.get("Mode").map(|v| v.to_string()).unwrap_or_default();
            let lwt = match o.get("LastWriteTime") {
                Some(Value::DateTime(d)) => {
                    let (y, mo, da, h, mi, _, _) = d.fields();
                    let (h12, ampm) = match h {
                        0 => (12, "AM"),
                        1..=11 => (h, "AM"),
                        12 => (12, "PM"),
                        _ => (h - 12, "PM"),
                    };
                    format!(
                        "{:>10} {:>8}",
                        format!("{mo}/{da}/{y}"),
                        format!("{h12}:{mi:02} {ampm}")
                    )
                }
                _ => String::new(),
            };
            let len = match o.get("Length") {
                Some(v) if o.type_name() == "System.IO.FileInfo" => v.to_string(),
                _ => String::new(),
            };
            let name = o.get("Name").map(|v| v.to_string()).unwrap_or_default();
            let l = format!("{mode:<10} {lwt:>22} {len:>14} {name}");
            let l: String = l.chars().take(width.max(40)).collect();
            out.push_str(l.trim_end());
            out.push_str("\r\n");
        }
        out.push_str("\r\n\r\n");
        i = j;
    }
    out
}

/// Format-Table with optional explicit columns.
pub(crate) fn table(
    it: &mut Interp<'_>,
    items: &[Value],
    cols: Option<&[Column]>,
    hide: bool,
) -> Res<String> {
    let Some(cols) = cols else {
        let mut out = String::new();
        // Default views, but lists become tables.
        let mut i = 0;
        while i < items.len() {
            let key = group_key(&items[i]);
            let mut j = i + 1;
            while j < items.len() && group_key(&items[j]) == key {
                j += 1;
            }
            match view_of(&items[i]) {
                View::List(names) => {
                    let spec: Vec<(String, usize, Option<&Col>)> =
                        names.iter().map(|n| (n.clone(), 0, None)).collect();
                    out.push_str(&render_table(&items[i..j], &spec, 120, hide));
                }
                _ => out.push_str(&out_string(&items[i..j], 120)),
            }
            i = j;
        }
        return Ok(out);
    };
    let rows = materialize(it, items, cols)?;
    let spec: Vec<(String, usize, Option<&Col>)> =
        cols.iter().map(|c| (label(c), 0, None)).collect();
    Ok(render_table(&rows, &spec, 120, hide))
}

fn label(c: &Column) -> String {
    match c {
        Column::Prop(l, _) | Column::Script(l, _) => l.clone(),
    }
}

/// Objects with just the requested columns (expressions evaluated).
fn materialize(it: &mut Interp<'_>, items: &[Value], cols: &[Column]) -> Res<Vec<Value>> {
    let mut rows = Vec::new();
    for v in items {
        let mut props = Vec::new();
        for c in cols {
            match c {
                Column::Prop(l, p) if p == "*" => {
                    let _ = l;
                    props.extend(all_properties(v));
                }
                Column::Prop(l, p) => props.push((l.clone(), crate::dotnet::member(it, v, p)?)),
                Column::Script(l, sb) => {
                    let r = it.invoke_block(
                        sb,
                        true,
                        Vec::new(),
                        Vec::new(),
                        Vec::new(),
                        Some(v.clone()),
                    )?;
                    props.push((l.clone(), crate::eval::collect(r)));
                }
            }
        }
        rows.push(Value::Object(PsObject::custom(props)));
    }
    Ok(rows)
}

/// Format-List.
pub(crate) fn list(it: &mut Interp<'_>, items: &[Value], cols: Option<&[Column]>) -> Res<String> {
    let rows = match cols {
        Some(c) => materialize(it, items, c)?,
        None => items.to_vec(),
    };
    let mut out = String::new();
    for v in &rows {
        let names: Vec<String> = all_properties(v).into_iter().map(|(k, _)| k).collect();
        if names.is_empty() {
            out.push_str(&out_string(std::slice::from_ref(v), 120));
            continue;
        }
        let s = render_list(std::slice::from_ref(v), &names);
        // One blank line between objects, two at the end.
        out.push_str(s.strip_suffix("\r\n").unwrap_or(&s));
    }
    if !rows.is_empty() {
        out.push_str("\r\n");
    }
    Ok(out)
}

// ---- JSON ----

/// ConvertTo-Json's view of a value (depth-limited: deeper objects become
/// their ToString, as Windows PowerShell does).
#[allow(clippy::only_used_in_recursion)]
pub(crate) fn to_json(it: &mut Interp<'_>, v: &Value, depth: usize) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Byte(n) => J::from(*n),
        Value::Int32(n) => J::from(*n),
        Value::Int64(n) => J::from(*n),
        Value::Double(d) => serde_json::Number::from_f64(*d).map_or(J::Null, J::Number),
        Value::Decimal(s) => s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(J::Null, J::Number),
        Value::String(s) => J::String(s.clone()),
        Value::Char(c) => J::from(*c as u32),
        // Windows PowerShell 5.1 writes an enum as its number.
        Value::Enum(e) => J::from(e.value),
        Value::Guid(g) => J::String(g.clone()),
        Value::ScriptBlock(s) => J::String(s.clone()),
        Value::DateTime(d) => J::String(format!(
            "/Date({})/",
            (d.ticks - value::UNIX_EPOCH_TICKS) / 10_000
        )),
        Value::Array(a) | Value::List(a) => {
            if depth == 0 {
                return J::String(
                    a.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join(" "),
                );
            }
            J::Array(a.iter().map(|x| to_json(it, x, depth - 1)).collect())
        }
        Value::Bytes(b) => J::Array(b.iter().map(|x| J::from(*x)).collect()),
        Value::Hashtable(h) => {
            if depth == 0 {
                return J::String("System.Collections.Hashtable".into());
            }
            J::Object(
                h.iter()
                    .map(|(k, v)| (k.to_string(), to_json(it, v, depth - 1)))
                    .collect(),
            )
        }
        other => {
            let props = all_properties(other);
            if props.is_empty() {
                return J::String(other.to_string());
            }
            if depth == 0 {
                return J::String(match other {
                    Value::Object(o) if o.is_custom() => String::new(),
                    o => o.to_string(),
                });
            }
            J::Object(
                props
                    .iter()
                    .map(|(k, v)| (k.clone(), to_json(it, v, depth - 1)))
                    .collect(),
            )
        }
    }
}

/// Windows PowerShell 5.1's JSON layout: four-space indents and two spaces
/// after each colon.
pub(crate) fn json_pretty(j: &serde_json::Value) -> String {
    let mut out = String::new();
    pretty(j, 0, &mut out);
    out
}

fn pretty(j: &serde_json::Value, ind: usize, out: &mut String) {
    use serde_json::Value as J;
    let pad = |n: usize| "    ".repeat(n);
    match j {
        J::Array(a) if !a.is_empty() => {
            out.push_str("[\r\n");
            for (i, x) in a.iter().enumerate() {
                out.push_str(&pad(ind + 1));
                pretty(x, ind + 1, out);
                if i + 1 < a.len() {
                    out.push(',');
                }
                out.push_str("\r\n");
            }
            out.push_str(&pad(ind));
            out.push(']');
        }
        J::Object(o) if !o.is_empty() => {
            out.push_str("{\r\n");
            let n = o.len();
            for (i, (k, v)) in o.iter().enumerate() {
                out.push_str(&pad(ind + 1));
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push_str(":  ");
                pretty(v, ind + 1, out);
                if i + 1 < n {
                    out.push(',');
                }
                out.push_str("\r\n");
            }
            out.push_str(&pad(ind));
            out.push('}');
        }
        other => out.push_str(&serde_json::to_string(other).unwrap_or_default()),
    }
}

/// ConvertFrom-Json: objects become PSCustomObjects.
pub(crate) fn from_json(j: &serde_json::Value, depth: usize) -> Value {
    use serde_json::Value as J;
    if depth > 100 {
        return Value::Null;
    }
    match j {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => i32::try_from(i).map_or(Value::Int64(i), Value::Int32),
            None => Value::Double(n.as_f64().unwrap_or(0.0)),
        },
        J::String(s) => match s
            .strip_prefix("/Date(")
            .and_then(|x| x.strip_suffix(")/"))
            .and_then(|x| x.parse::<i64>().ok())
        {
            Some(ms) => Value::DateTime(value::DateTime::from_unix_millis(ms, true)),
            None => Value::String(s.clone()),
        },
        J::Array(a) => Value::Array(a.iter().map(|x| from_json(x, depth + 1)).collect()),
        J::Object(o) => Value::Object(PsObject::custom(
            o.iter()
                .map(|(k, v)| (k.clone(), from_json(v, depth + 1)))
                .collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_and_lists() {
        let o = Value::Object(PsObject::custom(vec![
            ("a".into(), Value::Int32(1)),
            ("b".into(), Value::str("hello")),
        ]));
        assert_eq!(
            out_string(&[o], 120),
            "\r\na b\r\n- -\r\n1 hello\r\n\r\n\r\n"
        );
        let v = Value::Version(crate::PS_VERSION);
        assert_eq!(
            out_string(&[v], 120),
            "\r\nMajor  Minor  Build  Revision\r\n-----  -----  -----  --------\r\n5      1      17763  5458\r\n\r\n\r\n"
        );
        let big = Value::Object(PsObject::custom(
            (0..5).map(|i| (format!("p{i}"), Value::Int32(i))).collect(),
        ));
        assert!(out_string(&[big], 120).starts_with("\r\np0 : 0\r\np1 : 1\r\n"));
        assert_eq!(
            out_string(&[Value::str("x"), Value::Int32(3)], 120),
            "x\r\n3\r\n"
        );
    }

    #[test]
    fn json_layout_is_windows_powershells() {
        let j: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":[1,2]}"#).expect("json");
        assert_eq!(json_pretty(&j), "{\r\n    \"a\":  1,\r\n    \"b\":  [\r\n              1,\r\n              2\r\n          ]\r\n}".replace("              1", "        1").replace("              2", "        2").replace("          ]", "    ]"));
    }
}
