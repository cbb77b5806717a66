//! The pool's [`Runspace`](crate::pool::Runspace) over `fakedc-pwsh`: its
//! values to and from CLIXML, CREATE_PIPELINE's statements to its
//! pipelines, and its invocation's streams, in the order they were
//! written, to PSRP events.

use crate::clixml::{Items, ListKind, Object, Value};
use crate::messages::{ErrorInfo, Event, Finish, PipelineSpec};
use crate::pool::{EventSink, Outcome, Runspace};
use fakedc_pwsh as ps;
use std::sync::{Arc, Mutex};

/// How deep objects are serialised: PowerShell remoting's default depth of
/// 1 writes an object's properties, and a property that is itself an
/// object as its `ToString()` text.
const DEPTH: usize = 1;

/// A PSRP runspace backed by the evaluator.
pub struct PwshRunspace {
    rs: ps::Runspace,
}

impl PwshRunspace {
    pub fn new(rs: ps::Runspace) -> PwshRunspace {
        PwshRunspace { rs }
    }

    /// The evaluator's stop flag, for Signal.
    pub fn stop_handle(&self) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
        self.rs.stop_handle()
    }
}

impl Runspace for PwshRunspace {
    fn invoke(&mut self, spec: &PipelineSpec, input: Vec<Value>) -> Outcome {
        self.run(spec, input, None)
    }

    fn invoke_streaming(
        &mut self,
        spec: &PipelineSpec,
        input: Vec<Value>,
        sink: EventSink,
    ) -> Outcome {
        self.run(spec, input, Some(Arc::new(Mutex::new(sink))))
    }
}

impl PwshRunspace {
    /// Runs the statements one after the other; with a sink, what each
    /// writes goes to it as the evaluator hands it out, and the outcome
    /// carries no events.
    fn run(
        &mut self,
        spec: &PipelineSpec,
        input: Vec<Value>,
        sink: Option<Arc<Mutex<EventSink>>>,
    ) -> Outcome {
        let mut input: Vec<ps::Value> = input.iter().map(from_clixml).collect();
        let mut out = Outcome::default();
        let wall = self.rs.context().model.clock.wall();
        let ms = wall
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let now = ps::DateTime::from_unix_millis(ms, false).to_iso8601();
        for st in &spec.statements {
            let cmds: Vec<ps::Command> = st
                .iter()
                .map(|c| {
                    let mut pc = if c.is_script {
                        ps::Command::script(&c.name)
                    } else {
                        ps::Command::new(&c.name)
                    };
                    pc.parameters = c
                        .args
                        .iter()
                        .map(|(n, v)| (n.clone(), from_clixml(v)))
                        .collect();
                    pc.use_local_scope = c.use_local_scope.unwrap_or(false);
                    pc.merge_error_to_output = c.merge_error_to_output;
                    pc
                })
                .collect();
            let pipeline = ps::Pipeline::Commands(cmds);
            let input = std::mem::take(&mut input);
            let (inv, given) = match &sink {
                Some(sink) => {
                    let (sink, now) = (sink.clone(), now.clone());
                    self.rs.invoke_streaming(
                        &pipeline,
                        input,
                        Box::new(move |inv, range| {
                            let evs = events(inv, range, &now);
                            if !evs.is_empty() {
                                let mut f = sink.lock().unwrap_or_else(|p| p.into_inner());
                                f(evs);
                            }
                        }),
                    )
                }
                None => (self.rs.invoke(&pipeline, input), 0),
            };
            let mut rest = events(&inv, given..inv.order.len(), &now);
            let finish = match inv.state {
                ps::PipelineState::Completed => None,
                ps::PipelineState::Failed(e) => {
                    let e = error_info(&e);
                    // The terminating error travels in PIPELINE_STATE, as
                    // Windows sends it; the evaluator also lists it among
                    // the errors written (last, after anything streamed),
                    // which would show it twice.
                    if let Some(i) = rest
                        .iter()
                        .rposition(|ev| matches!(ev, Event::Error(x) if *x == e))
                    {
                        rest.remove(i);
                    }
                    Some(Finish::Failed(e))
                }
                ps::PipelineState::Stopped => Some(Finish::Stopped),
            };
            match &sink {
                Some(sink) if !rest.is_empty() => {
                    let mut f = sink.lock().unwrap_or_else(|p| p.into_inner());
                    f(rest);
                }
                Some(_) => {}
                None => out.events.extend(rest),
            }
            if let Some(f) = finish {
                out.finish = f;
                break;
            }
        }
        out
    }
}

/// The invocation's items in `range` of its `order`, as PSRP events.
fn events(inv: &ps::Invocation, range: std::ops::Range<usize>, now: &str) -> Vec<Event> {
    let mut out = Vec::new();
    for (stream, i) in inv.order.get(range).unwrap_or_default() {
        let ev = match stream {
            ps::Stream::Output => inv.output.get(*i).map(|v| Event::Output(to_clixml(v, 0))),
            ps::Stream::Error => inv.errors.get(*i).map(|e| Event::Error(error_info(e))),
            ps::Stream::Warning => inv.warnings.get(*i).cloned().map(Event::Warning),
            ps::Stream::Verbose => inv.verbose.get(*i).cloned().map(Event::Verbose),
            ps::Stream::Debug => inv.debug.get(*i).cloned().map(Event::Debug),
            ps::Stream::Information => inv.information.get(*i).map(|r| {
                let mut tags = r.tags.clone();
                if r.from_host && !tags.iter().any(|t| t == "PSHOST") {
                    tags.push("PSHOST".into());
                }
                Event::Information {
                    data: to_clixml(&r.message, 0),
                    source: r.source.clone(),
                    time: now.to_string(),
                    tags,
                }
            }),
        };
        out.extend(ev);
    }
    out
}

/// The evaluator's error record as PSRP writes one.
pub fn error_info(e: &ps::ErrorRecord) -> ErrorInfo {
    ErrorInfo {
        message: e.message.clone(),
        fq_error_id: e.fully_qualified_error_id.clone(),
        category: e.category as i32,
        reason: e.reason.clone(),
        target_name: e.target_name.clone(),
        target_type: e.target_type.clone(),
        exception_type: e.exception_type.clone(),
        command: (!e.command.is_empty()).then(|| e.command.clone()),
    }
}

fn types(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// `xs:duration` as .NET's `XmlConvert.ToString(TimeSpan)` writes it.
fn duration(ticks: i64) -> String {
    let neg = ticks < 0;
    let t = ticks.unsigned_abs();
    let days = t / 864_000_000_000;
    let rem = t % 864_000_000_000;
    let h = rem / 36_000_000_000;
    let m = (rem / 600_000_000) % 60;
    let s = (rem / 10_000_000) % 60;
    let frac = rem % 10_000_000;
    let mut out = String::from(if neg { "-P" } else { "P" });
    if days > 0 {
        out.push_str(&format!("{days}D"));
    }
    out.push('T');
    if h > 0 {
        out.push_str(&format!("{h}H"));
    }
    if m > 0 {
        out.push_str(&format!("{m}M"));
    }
    if frac > 0 {
        let f = format!("{frac:07}");
        out.push_str(&format!("{s}.{}S", f.trim_end_matches('0')));
    } else {
        out.push_str(&format!("{s}S"));
    }
    out
}

/// An evaluator value as CLIXML; `depth` is how many object levels are
/// above it (objects past [`DEPTH`] are written as their text). A
/// collection's items are at the collection's own depth, as PowerShell's
/// serializer enumerates them without spending depth.
pub fn to_clixml(v: &ps::Value, depth: usize) -> Value {
    use ps::Value as P;
    match v {
        P::Null => Value::Nil,
        P::Bool(b) => Value::Bool(*b),
        P::Byte(b) => Value::Byte(*b),
        P::Int32(n) => Value::I32(*n),
        P::Int64(n) => Value::I64(*n),
        P::Double(d) => Value::Double(*d),
        P::Decimal(s) => Value::Decimal(s.clone()),
        P::String(s) => Value::String(s.clone()),
        P::Char(c) => {
            let mut b = [0u16; 2];
            Value::Char(c.encode_utf16(&mut b)[0])
        }
        P::DateTime(d) => Value::DateTime(d.to_iso8601()),
        P::TimeSpan(t) => Value::Duration(duration(*t)),
        P::Guid(g) => Value::Guid(g.clone()),
        P::Version(ver) => Value::Version(ver.to_string()),
        P::Bytes(b) => Value::Bytes(b.clone()),
        P::ScriptBlock(s) => Value::ScriptBlock(s.clone()),
        P::Array(items) | P::List(items) => {
            let names: &[&str] = if matches!(v, P::Array(_)) {
                crate::clixml::ARRAY_TYPES
            } else {
                &["System.Collections.ArrayList", "System.Object"]
            };
            Value::Object(Box::new(Object {
                type_names: types(names),
                items: Some(Items::List(
                    ListKind::List,
                    items.iter().map(|i| to_clixml(i, depth)).collect(),
                )),
                ..Default::default()
            }))
        }
        P::Hashtable(entries) => Value::Object(Box::new(Object {
            type_names: types(crate::clixml::HASHTABLE_TYPES),
            items: Some(Items::Dict(
                entries
                    .iter()
                    .map(|(k, v)| (to_clixml(k, depth), to_clixml(v, depth)))
                    .collect(),
            )),
            ..Default::default()
        })),
        // An enum is written whole at any depth, as PowerShell's
        // serializer does: its type names, its name, its number.
        P::Enum(e) => Value::Object(Box::new(Object {
            type_names: e.type_names(),
            to_string: Some(e.name.clone()),
            base: Some(Value::I32(e.value)),
            ..Default::default()
        })),
        P::Object(o) => object(o, v, depth),
        P::Live(l) => {
            let o = l.to_psobject();
            object(&o, v, depth)
        }
        other => Value::String(other.to_string()),
    }
}

fn object(o: &ps::PsObject, v: &ps::Value, depth: usize) -> Value {
    let text = if o.to_string.is_empty() {
        v.to_string()
    } else {
        o.to_string.clone()
    };
    if depth >= DEPTH {
        return Value::String(text);
    }
    let props: Vec<(String, Value)> = o
        .properties
        .iter()
        .map(|(k, pv)| (k.clone(), to_clixml(pv, depth + 1)))
        .collect();
    // A PSCustomObject's properties are note properties (`<MS>`); a typed
    // object's are its adapted .NET properties (`<Props>`).
    let (adapted, extended) = if o.is_custom() {
        (Vec::new(), props)
    } else {
        (props, Vec::new())
    };
    Value::Object(Box::new(Object {
        type_names: o.type_names.clone(),
        to_string: Some(text),
        adapted,
        extended,
        ..Default::default()
    }))
}

/// A client's CLIXML value (an argument, an input object) as an evaluator
/// value. Types the evaluator has no variant for widen as PowerShell's
/// arithmetic would (UInt32 to Int64, Single to Double); xs:dateTime and
/// xs:duration text the evaluator cannot hold yet stay strings.
pub fn from_clixml(v: &Value) -> ps::Value {
    use ps::Value as P;
    match v {
        Value::Nil => P::Null,
        Value::String(s) | Value::Uri(s) | Value::Xml(s) => P::String(s.clone()),
        Value::Char(c) => P::Char(char::from_u32(*c as u32).unwrap_or('\u{FFFD}')),
        Value::Bool(b) => P::Bool(*b),
        Value::DateTime(s) | Value::Duration(s) => P::String(s.clone()),
        Value::Byte(n) => P::Byte(*n),
        Value::SByte(n) => P::Int32(*n as i32),
        Value::U16(n) => P::Int32(*n as i32),
        Value::I16(n) => P::Int32(*n as i32),
        Value::I32(n) => P::Int32(*n),
        Value::U32(n) => P::Int64(*n as i64),
        Value::I64(n) => P::Int64(*n),
        Value::U64(n) => i64::try_from(*n)
            .map(P::Int64)
            .unwrap_or(P::Double(*n as f64)),
        Value::Single(f) => P::Double(*f as f64),
        Value::Double(f) => P::Double(*f),
        Value::Decimal(s) => P::Decimal(s.clone()),
        Value::Bytes(b) => P::Bytes(b.clone()),
        Value::Guid(g) => P::Guid(g.to_ascii_lowercase()),
        Value::Version(s) => ps::Version::parse(s)
            .map(P::Version)
            .unwrap_or_else(|| P::String(s.clone())),
        Value::ScriptBlock(s) => P::ScriptBlock(s.clone()),
        Value::SecureString(_) => P::Object(ps::PsObject {
            type_names: types(&["System.Security.SecureString", "System.Object"]),
            properties: Vec::new(),
            to_string: "System.Security.SecureString".into(),
        }),
        Value::Object(o) => match &o.items {
            Some(Items::List(_, items)) => {
                let items = items.iter().map(from_clixml).collect();
                if o.type_names.first().is_none_or(|t| t.ends_with("[]")) {
                    P::Array(items)
                } else {
                    P::List(items)
                }
            }
            Some(Items::Dict(entries)) => P::Hashtable(
                entries
                    .iter()
                    .map(|(k, v)| (from_clixml(k), from_clixml(v)))
                    .collect(),
            ),
            None => match (&o.base, o.adapted.is_empty() && o.extended.is_empty()) {
                // An enum (`System.Enum` among its types, an integer base):
                // its name and number, under its type without the
                // `Deserialized.` a PowerShell client would add.
                (Some(b), true) if o.type_names.iter().any(|t| t == "System.Enum") => {
                    match (b.as_i64().and_then(|n| i32::try_from(n).ok()), &o.to_string) {
                        (Some(value), Some(name)) => P::Enum(ps::EnumValue {
                            type_name: o
                                .type_names
                                .first()
                                .map(|t| t.trim_start_matches("Deserialized.").to_string())
                                .unwrap_or_default(),
                            name: name.clone(),
                            value,
                        }),
                        _ => from_clixml(b),
                    }
                }
                (Some(b), true) => from_clixml(b),
                _ => P::Object(ps::PsObject {
                    type_names: if o.type_names.is_empty() {
                        types(&[
                            "System.Management.Automation.PSCustomObject",
                            "System.Object",
                        ])
                    } else {
                        o.type_names.clone()
                    },
                    properties: o
                        .adapted
                        .iter()
                        .chain(o.extended.iter())
                        .map(|(k, v)| (k.clone(), from_clixml(v)))
                        .collect(),
                    to_string: o.to_string.clone().unwrap_or_default(),
                }),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_xmlconvert() {
        assert_eq!(duration(0), "PT0S");
        assert_eq!(duration(15_000_000), "PT1.5S");
        assert_eq!(duration(864_000_000_000 + 36_000_000_000 * 2), "P1DT2H0S");
        assert_eq!(duration(-10_000), "-PT0.001S");
    }

    #[test]
    fn values_round_trip() {
        let vm = ps::Value::Object(ps::PsObject {
            type_names: types(&[
                "Microsoft.HyperV.PowerShell.VirtualMachine",
                "System.Object",
            ]),
            properties: vec![
                ("Name".into(), ps::Value::str("vm1")),
                (
                    "Nested".into(),
                    ps::Value::Object(ps::PsObject::custom(vec![])),
                ),
            ],
            to_string: "VirtualMachine (Name = 'vm1')".into(),
        });
        let c = to_clixml(&vm, 0);
        let o = c.as_object().unwrap();
        assert_eq!(o.adapted[0], ("Name".into(), Value::str("vm1")));
        assert!(matches!(o.adapted[1].1, Value::String(_)));
        let back = from_clixml(&c);
        assert!(
            matches!(back, ps::Value::Object(ref p) if p.type_name() == "Microsoft.HyperV.PowerShell.VirtualMachine")
        );
        let arr = ps::Value::Array(vec![ps::Value::Int32(1), ps::Value::str("x")]);
        assert_eq!(from_clixml(&to_clixml(&arr, 0)), arr);
    }
}
