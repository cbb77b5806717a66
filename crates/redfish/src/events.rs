//! EventService, sans-IO: subscriptions (EventDestination), the events a
//! BMC raises, Server-Sent Events filtering, and `SubmitTestEvent`.
//!
//! Events come from the shared chassis, so a power change made by ipmitool
//! or SMASH is an event here too: [`Hub::observe`] compares the system's
//! Redfish `PowerState` and the SEL's `added()` count with what it saw
//! last, and raises `ResourceEvent` messages (`ResourcePoweredOn`,
//! `ResourcePoweredOff`, `ResourcePoweringOff`, `ResourcePoweringOn`; and
//! `ResourceCreated` with the new SEL entry as `OriginOfCondition`).
//!
//! Delivery is the HTTP glue's (`service.rs`): a POST to each matching
//! subscription's destination, and a line on each open SSE stream.

use crate::api::{error, insufficient, malformed, method_not_allowed, not_found, Caller, Reply};
use fakedc_model::{MachineId, Model, Privilege};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::broadcast;

pub const SERVICE: &str = "/redfish/v1/EventService";
pub const SUBS: &str = "/redfish/v1/EventService/Subscriptions";
pub const SSE: &str = "/redfish/v1/EventService/SSE";
pub const TEST: &str = "/redfish/v1/EventService/Actions/EventService.SubmitTestEvent";
/// The ResourceEvent registry version the messages cite.
pub const RESOURCE_EVENT: &str = "ResourceEvent.1.4.3";
/// Subscriptions per BMC.
pub const MAX_SUBSCRIPTIONS: usize = 16;
/// Open SSE streams per BMC.
pub const MAX_STREAMS: usize = 8;
/// Events an SSE stream may fall behind before it misses some.
const SSE_BACKLOG: usize = 256;
/// Longest destination URL, context or filter.
const MAX_TEXT: usize = 1024;
/// Most entries in a subscription's filter lists and custom headers.
const MAX_LIST: usize = 32;

/// One event, as every delivery renders it.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: u64,
    pub message_id: String,
    pub message: String,
    pub args: Vec<String>,
    pub severity: String,
    pub origin: Option<String>,
    /// The schema of the origin (`ComputerSystem`, `LogEntry`).
    pub resource_type: String,
    pub timestamp: String,
}

impl Event {
    fn record(&self) -> Value {
        let mut r = json!({
            "EventId": self.id.to_string(),
            "EventTimestamp": self.timestamp,
            "MessageId": self.message_id,
            "Message": self.message,
            "MessageArgs": self.args,
            "MessageSeverity": self.severity,
        });
        if let Some(o) = &self.origin {
            r["OriginOfCondition"] = json!({ "@odata.id": o });
        }
        r
    }

    /// The `Event` payload (EventFormatType `Event`) with one record.
    pub fn payload(&self, context: Option<&str>) -> Value {
        let mut v = json!({
            "@odata.type": "#Event.v1_7_0.Event",
            "Id": self.id.to_string(),
            "Name": "Event Array",
            "Events": [self.record()],
        });
        if let Some(c) = context {
            v["Context"] = json!(c);
        }
        v
    }

    fn registry_prefix(&self) -> &str {
        self.message_id.split('.').next().unwrap_or("")
    }

    /// `Prefix.Name`, without the registry version.
    fn bare_id(&self) -> String {
        let parts: Vec<&str> = self.message_id.split('.').collect();
        match (parts.first(), parts.last()) {
            (Some(p), Some(n)) if parts.len() > 1 => format!("{p}.{n}"),
            _ => self.message_id.clone(),
        }
    }

    fn message_matches(&self, want: &str) -> bool {
        want == self.message_id
            || want == self.bare_id()
            || Some(want) == self.message_id.rsplit('.').next()
    }
}

/// One event destination (a subscription).
#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: u64,
    pub destination: String,
    pub context: Option<String>,
    pub registry_prefixes: Vec<String>,
    pub resource_types: Vec<String>,
    pub message_ids: Vec<String>,
    pub origin_resources: Vec<String>,
    /// `HttpHeaders`: sent with each delivery, never shown back.
    pub headers: Vec<(String, String)>,
}

impl Subscription {
    /// DSP0266: an event goes to a subscription when it passes every
    /// non-empty filter list.
    pub fn wants(&self, e: &Event) -> bool {
        (self.registry_prefixes.is_empty()
            || self
                .registry_prefixes
                .iter()
                .any(|p| p == e.registry_prefix()))
            && (self.resource_types.is_empty() || self.resource_types.contains(&e.resource_type))
            && (self.message_ids.is_empty()
                || self.message_ids.iter().any(|m| e.message_matches(m)))
            && (self.origin_resources.is_empty()
                || self
                    .origin_resources
                    .iter()
                    .any(|o| e.origin.as_deref() == Some(o.as_str())))
    }

    fn view(&self) -> Value {
        json!({
            "@odata.id": format!("{SUBS}/{}", self.id),
            "@odata.type": "#EventDestination.v1_14_0.EventDestination",
            "Id": self.id.to_string(),
            "Name": "Event Subscription",
            "Destination": self.destination,
            "Context": self.context,
            "Protocol": "Redfish",
            "SubscriptionType": "RedfishEvent",
            "EventFormatType": "Event",
            "DeliveryRetryPolicy": "SuspendRetries",
            "RegistryPrefixes": self.registry_prefixes,
            "ResourceTypes": self.resource_types,
            "MessageIds": self.message_ids,
            "OriginResources": self.origin_resources.iter().map(|o| json!({"@odata.id": o})).collect::<Vec<_>>(),
            "HttpHeaders": [],
            "Status": { "State": "Enabled", "Health": "OK" },
        })
    }
}

/// What one BMC's event service keeps.
struct Bmc {
    subs: Vec<Subscription>,
    tx: broadcast::Sender<Arc<Event>>,
    /// What [`Hub::observe`] last saw: the system's Redfish power state and
    /// the SEL's entries-ever-added count.
    power: &'static str,
    sel_added: u64,
}

/// A delivery to make: one event to one destination.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub bmc: MachineId,
    pub destination: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Every BMC's event service.
#[derive(Default)]
pub struct Hub {
    bmcs: Mutex<HashMap<MachineId, Bmc>>,
    next_event: AtomicU64,
    next_sub: AtomicU64,
}

fn timestamp(model: &Model) -> String {
    let secs = i64::try_from(model.clock.unix_secs()).unwrap_or(i64::MAX);
    format!(
        "{}+00:00",
        fakedc_model::timefmt::utc_date_time_or_epoch(secs)
    )
}

fn power_message(state: &str) -> Option<(&'static str, &'static str)> {
    Some(match state {
        "On" => ("ResourcePoweredOn", "has powered on"),
        "Off" => ("ResourcePoweredOff", "has powered off"),
        "PoweringOff" => ("ResourcePoweringOff", "is powering off"),
        "PoweringOn" => ("ResourcePoweringOn", "is powering on"),
        _ => return None,
    })
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<MachineId, Bmc>> {
        self.bmcs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Power, the log's count of entries ever added, and the ids of the
    /// entries added after the first `seen` (newest last; at most what the
    /// log still holds). Only those are formatted: a full SEL is hundreds
    /// of entries, and this runs on every model change.
    fn state(
        model: &Model,
        bmc: MachineId,
        now: Instant,
        seen: u64,
    ) -> (&'static str, u64, Vec<String>) {
        // Read in place: a snapshot would copy the whole event log.
        model.with_chassis(model.machine(bmc).chassis, now, |c| {
            let added = c.log.added();
            let entries = c.log.entries();
            let fresh = entries
                .len()
                .min(usize::try_from(added.saturating_sub(seen)).unwrap_or(usize::MAX));
            let ids = entries
                .iter()
                .skip(entries.len() - fresh)
                .map(|e| e.id.to_string())
                .collect();
            (crate::api::redfish_power(c.power), added, ids)
        })
    }

    /// Records the current state as seen (no events): at start, so what
    /// happened before is not reported.
    pub fn baseline(&self, model: &Model, bmc: MachineId, now: Instant) {
        let (power, added, _) = Self::state(model, bmc, now, u64::MAX);
        let mut g = self.lock();
        let b = g.entry(bmc).or_insert_with(|| Bmc {
            subs: Vec::new(),
            tx: broadcast::channel(SSE_BACKLOG).0,
            power,
            sel_added: added,
        });
        b.power = power;
        b.sel_added = added;
    }

    /// Raises the events for what changed on `bmc`'s chassis since the
    /// last look, sends them to its SSE streams, and returns the
    /// subscription deliveries to make.
    pub fn observe(&self, model: &Model, bmc: MachineId, now: Instant) -> Vec<Delivery> {
        // What was seen, read first (the hub's lock is never held while
        // the chassis's is taken); a concurrent observe can only have
        // seen more, so the ids read here cover what is new below.
        let seen = self.lock().get(&bmc).map_or(u64::MAX, |b| b.sel_added);
        let (power, added, ids) = Self::state(model, bmc, now, seen);
        let ts = timestamp(model);
        let mut events = Vec::new();
        let mut g = self.lock();
        let Some(b) = g.get_mut(&bmc) else {
            drop(g);
            self.baseline(model, bmc, now);
            return Vec::new();
        };
        let new_sel = usize::try_from(added.saturating_sub(b.sel_added)).unwrap_or(usize::MAX);
        for id in ids.iter().skip(ids.len().saturating_sub(new_sel)) {
            events.push(Event {
                id: 0,
                message_id: format!("{RESOURCE_EVENT}.ResourceCreated"),
                message: "The resource was created successfully.".into(),
                args: Vec::new(),
                severity: "OK".into(),
                origin: Some(format!("{}/{id}", crate::logs::ENTRIES)),
                resource_type: "LogEntry".into(),
                timestamp: ts.clone(),
            });
        }
        if power != b.power {
            if let Some((name, text)) = power_message(power) {
                events.push(Event {
                    id: 0,
                    message_id: format!("{RESOURCE_EVENT}.{name}"),
                    message: format!("The resource '{}' {text}.", crate::api::SYSTEM),
                    args: vec![crate::api::SYSTEM.into()],
                    severity: "OK".into(),
                    origin: Some(crate::api::SYSTEM.into()),
                    resource_type: "ComputerSystem".into(),
                    timestamp: ts.clone(),
                });
            }
        }
        b.power = power;
        b.sel_added = added;
        let mut out = Vec::new();
        for mut e in events {
            e.id = self.next_event.fetch_add(1, Ordering::Relaxed) + 1;
            out.extend(Self::deliver(bmc, b, Arc::new(e)));
        }
        out
    }

    fn deliver(bmc: MachineId, b: &Bmc, e: Arc<Event>) -> Vec<Delivery> {
        // No open stream is not an error.
        let _ = b.tx.send(e.clone());
        b.subs
            .iter()
            .filter(|s| s.wants(&e))
            .map(|s| Delivery {
                bmc,
                destination: s.destination.clone(),
                headers: s.headers.clone(),
                body: e.payload(s.context.as_deref()).to_string().into_bytes(),
            })
            .collect()
    }

    /// A receiver for a new SSE stream, or `None` at the stream limit.
    pub fn stream(&self, bmc: MachineId) -> Option<broadcast::Receiver<Arc<Event>>> {
        let mut g = self.lock();
        let b = g.entry(bmc).or_insert_with(|| Bmc {
            subs: Vec::new(),
            tx: broadcast::channel(SSE_BACKLOG).0,
            power: "On",
            sel_added: 0,
        });
        (b.tx.receiver_count() < MAX_STREAMS).then(|| b.tx.subscribe())
    }

    /// Routes the EventService URIs (not the SSE stream, which the glue
    /// serves); `None` when `path` is not one of them.
    #[allow(clippy::too_many_arguments)]
    pub fn route(
        &self,
        model: &Model,
        bmc: MachineId,
        method: &str,
        path: &str,
        body: &[u8],
        caller: &Caller,
    ) -> Option<(Reply, Vec<Delivery>)> {
        let none = |r| Some((r, Vec::new()));
        let admin = caller.privilege >= Privilege::Admin;
        match path {
            SERVICE => match method {
                "GET" => none(Reply::resource(&service())),
                m => none(method_not_allowed(m, path, "GET")),
            },
            SUBS => match method {
                "GET" => {
                    let ids: Vec<Value> = self
                        .lock()
                        .get(&bmc)
                        .map(|b| {
                            b.subs
                                .iter()
                                .map(|s| json!({"@odata.id": format!("{SUBS}/{}", s.id)}))
                                .collect()
                        })
                        .unwrap_or_default();
                    none(Reply::resource(&json!({
                        "@odata.id": SUBS,
                        "@odata.type": "#EventDestinationCollection.EventDestinationCollection",
                        "Name": "Event Subscriptions",
                        "Members@odata.count": ids.len(),
                        "Members": ids,
                    })))
                }
                // DSP8011: subscriptions need ConfigureComponents.
                "POST" if caller.privilege < Privilege::Operator => none(insufficient()),
                "POST" => none(self.subscribe(bmc, body)),
                m => none(method_not_allowed(m, path, "GET, POST")),
            },
            TEST => match method {
                "POST" if !admin => none(insufficient()),
                "POST" => Some(self.submit_test(model, bmc, body)),
                m => none(method_not_allowed(m, path, "POST")),
            },
            SSE => none(method_not_allowed(method, path, "GET")),
            p => {
                let id = p.strip_prefix(SUBS)?.strip_prefix('/')?;
                let Ok(id) = id.parse::<u64>() else {
                    return none(not_found(p));
                };
                let mut g = self.lock();
                let Some(b) = g.get_mut(&bmc) else {
                    return none(not_found(p));
                };
                let Some(pos) = b.subs.iter().position(|s| s.id == id) else {
                    return none(not_found(p));
                };
                match method {
                    "GET" => none(Reply::resource(&b.subs[pos].view())),
                    "DELETE" if caller.privilege < Privilege::Operator => none(insufficient()),
                    "DELETE" => {
                        b.subs.remove(pos);
                        none(Reply::empty(204))
                    }
                    m => none(method_not_allowed(m, p, "GET, DELETE")),
                }
            }
        }
    }

    fn subscribe(&self, bmc: MachineId, body: &[u8]) -> Reply {
        let Ok(Value::Object(v)) = serde_json::from_slice::<Value>(body) else {
            return malformed();
        };
        let mut s = Subscription {
            id: 0,
            destination: String::new(),
            context: None,
            registry_prefixes: Vec::new(),
            resource_types: Vec::new(),
            message_ids: Vec::new(),
            origin_resources: Vec::new(),
            headers: Vec::new(),
        };
        for (k, val) in &v {
            let list = || -> Result<Vec<String>, Reply> {
                let a = val.as_array().filter(|a| a.len() <= MAX_LIST);
                a.and_then(|a| {
                    a.iter()
                        .map(|x| {
                            x.as_str()
                                .or_else(|| x.get("@odata.id").and_then(Value::as_str))
                                .filter(|s| s.len() <= MAX_TEXT)
                                .map(str::to_string)
                        })
                        .collect::<Option<Vec<_>>>()
                })
                .ok_or_else(|| format_error(&shown(val), k))
            };
            let r = match k.as_str() {
                "Destination" => match val.as_str() {
                    Some(d) if d.len() <= MAX_TEXT => {
                        s.destination = d.into();
                        Ok(())
                    }
                    _ => Err(format_error(&shown(val), k)),
                },
                "Context" => match val.as_str() {
                    Some(c) if c.len() <= MAX_TEXT => {
                        s.context = Some(c.into());
                        Ok(())
                    }
                    _ => Err(format_error(&shown(val), k)),
                },
                "Protocol" => only(val, k, "Redfish"),
                "EventFormatType" => only(val, k, "Event"),
                "SubscriptionType" => only(val, k, "RedfishEvent"),
                "RegistryPrefixes" => list().map(|l| s.registry_prefixes = l),
                "ResourceTypes" => list().map(|l| s.resource_types = l),
                "MessageIds" => list().map(|l| s.message_ids = l),
                "OriginResources" => list().map(|l| s.origin_resources = l),
                "DeliveryRetryPolicy" | "Name" => Ok(()),
                "HttpHeaders" => match headers(val) {
                    Some(h) => {
                        s.headers = h;
                        Ok(())
                    }
                    None => Err(format_error("(redacted)", k)),
                },
                k if k.starts_with('@') => Ok(()),
                other => {
                    let k: String = other.chars().take(64).collect();
                    Err(error(
                        400,
                        "PropertyUnknown",
                        format!("The property {k} is not in the list of valid properties for the resource."),
                        "Warning",
                        "Remove the unknown property from the request body and resubmit the request if the operation failed.",
                    ))
                }
            };
            if let Err(r) = r {
                return r;
            }
        }
        for prop in ["Destination", "Protocol"] {
            if !v.contains_key(prop) {
                return error(
                    400,
                    "CreateFailedMissingReqProperties",
                    format!("The create operation failed because the required property {prop} was missing from the request."),
                    "Critical",
                    "Correct the body to include the required property with a valid value and resubmit the request if the operation failed.",
                );
            }
        }
        if let Err(r) = check_destination(&s.destination) {
            return r;
        }
        let mut g = self.lock();
        let b = g.entry(bmc).or_insert_with(|| Bmc {
            subs: Vec::new(),
            tx: broadcast::channel(SSE_BACKLOG).0,
            power: "On",
            sel_added: 0,
        });
        if b.subs.len() >= MAX_SUBSCRIPTIONS {
            return error(
                400,
                "EventSubscriptionLimitExceeded",
                "The event subscription failed due to the number of simultaneous subscriptions exceeding the limit of the implementation.".into(),
                "Critical",
                "Reduce the number of other subscriptions before trying to establish the event subscription or increase the limit of simultaneous subscriptions, if supported.",
            );
        }
        s.id = self.next_sub.fetch_add(1, Ordering::Relaxed) + 1;
        let view = s.view();
        let id = s.id;
        b.subs.push(s);
        let mut r = Reply::json(201, &view);
        r.headers.push(("Location", format!("{SUBS}/{id}")));
        r
    }

    /// `EventService.SubmitTestEvent`: the event described, delivered as
    /// any other.
    fn submit_test(&self, model: &Model, bmc: MachineId, body: &[u8]) -> (Reply, Vec<Delivery>) {
        let Ok(Value::Object(v)) = serde_json::from_slice::<Value>(body) else {
            return (malformed(), Vec::new());
        };
        let text = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .filter(|s| s.len() <= MAX_TEXT)
                .map(str::to_string)
        };
        for (k, val) in &v {
            let ok = match k.as_str() {
                "MessageId" | "Message" | "EventId" | "EventTimestamp" | "Severity"
                | "MessageSeverity" | "EventType" | "EventGroupId" => {
                    val.as_str().is_some_and(|s| s.len() <= MAX_TEXT)
                        || (k == "EventGroupId" && val.is_i64())
                }
                "MessageArgs" => val.as_array().is_some_and(|a| {
                    a.len() <= MAX_LIST
                        && a.iter()
                            .all(|x| x.as_str().is_some_and(|s| s.len() <= MAX_TEXT))
                }),
                "OriginOfCondition" => val.is_string() || val.get("@odata.id").is_some(),
                _ => {
                    let k: String = k.chars().take(64).collect();
                    return (
                        error(
                            400,
                            "ActionParameterUnknown",
                            format!("The action EventService.SubmitTestEvent was submitted with the invalid parameter {k}."),
                            "Warning",
                            "Correct the invalid parameter and resubmit the request if the operation failed.",
                        ),
                        Vec::new(),
                    );
                }
            };
            if !ok {
                let shown: String = val.to_string().chars().take(64).collect();
                return (
                    error(
                        400,
                        "ActionParameterValueFormatError",
                        format!("The value '{shown}' for the parameter {k} in the action EventService.SubmitTestEvent is of a different format than the parameter can accept."),
                        "Warning",
                        "Correct the invalid parameter and resubmit the request if the operation failed.",
                    ),
                    Vec::new(),
                );
            }
        }
        let Some(message_id) = text("MessageId") else {
            return (
                error(
                    400,
                    "ActionParameterMissing",
                    "The action EventService.SubmitTestEvent requires the parameter MessageId to be present in the request body.".into(),
                    "Critical",
                    "Supply the action with the required parameter in the request body when the request is resubmitted.",
                ),
                Vec::new(),
            );
        };
        let origin = v.get("OriginOfCondition").and_then(|o| {
            o.as_str()
                .or_else(|| o.get("@odata.id").and_then(Value::as_str))
                .filter(|s| s.len() <= MAX_TEXT)
                .map(str::to_string)
        });
        let e = Event {
            id: self.next_event.fetch_add(1, Ordering::Relaxed) + 1,
            message_id,
            message: text("Message").unwrap_or_else(|| "Test event.".into()),
            args: v
                .get("MessageArgs")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            severity: text("MessageSeverity")
                .or_else(|| text("Severity"))
                .unwrap_or_else(|| "OK".into()),
            origin,
            resource_type: String::new(),
            timestamp: text("EventTimestamp").unwrap_or_else(|| timestamp(model)),
        };
        let mut g = self.lock();
        let b = g.entry(bmc).or_insert_with(|| Bmc {
            subs: Vec::new(),
            tx: broadcast::channel(SSE_BACKLOG).0,
            power: "On",
            sel_added: 0,
        });
        let d = Self::deliver(bmc, b, Arc::new(e));
        (Reply::empty(204), d)
    }
}

fn only(val: &Value, k: &str, want: &str) -> Result<(), Reply> {
    if val.as_str() == Some(want) {
        Ok(())
    } else {
        Err(error(
            400,
            "PropertyValueNotInList",
            format!(
                "The value '{}' for the property {k} is not in the list of acceptable values.",
                shown(val)
            ),
            "Warning",
            "Choose a value from the enumeration list that the implementation can support and resubmit the request if the operation failed.",
        ))
    }
}

fn headers(val: &Value) -> Option<Vec<(String, String)>> {
    let a = val.as_array().filter(|a| a.len() <= MAX_LIST)?;
    let mut out = Vec::new();
    for h in a {
        let o: &Map<String, Value> = h.as_object()?;
        for (k, v) in o {
            let v = v.as_str()?;
            let token = !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !token || v.len() > MAX_TEXT || v.bytes().any(|b| b == b'\r' || b == b'\n') {
                return None;
            }
            out.push((k.clone(), v.to_string()));
        }
    }
    (out.len() <= MAX_LIST).then_some(out)
}

fn shown(v: &Value) -> String {
    let s = v.as_str().map_or_else(|| v.to_string(), str::to_string);
    s.chars().take(64).collect()
}

fn format_error(shown: &str, prop: &str) -> Reply {
    error(
        400,
        "PropertyValueFormatError",
        format!("The value '{shown}' for the property {prop} is of a different format than the property can accept."),
        "Warning",
        "Correct the value for the property in the request body and resubmit the request if the operation failed.",
    )
}

/// A destination must be an `http(s)://host[:port]/path` URL. Where it
/// points is not checked here: a BMC takes the subscription and finds out
/// at delivery; fakedc delivers only to loopback and datacenter machines
/// and journals the rest as refused.
fn check_destination(d: &str) -> Result<(), Reply> {
    match parse_destination(d) {
        Some(_) => Ok(()),
        None => Err(format_error(
            &d.chars().take(64).collect::<String>(),
            "Destination",
        )),
    }
}

/// (TLS, host, port, authority, path) of an `http(s)` URL.
fn parse_destination(d: &str) -> Option<(bool, String, u16, String, String)> {
    let (tls, rest) = if let Some(r) = strip_ci(d, "https://") {
        (true, r)
    } else {
        (false, strip_ci(d, "http://")?)
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.contains('@') || authority.is_empty() {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, p) = v6.split_once(']')?;
        (h, p.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse::<u16>().ok()?,
        None if tls => 443,
        None => 80,
    };
    if host.is_empty() || path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return None;
    }
    Some((
        tls,
        host.to_string(),
        port,
        authority.to_string(),
        path.to_string(),
    ))
}

/// (TLS, socket address, host header, path) of a destination fakedc can
/// deliver to: loopback, or a machine of the datacenter (by name or
/// address); `None` for anything else.
pub fn destination_addr(
    model: &Model,
    d: &str,
) -> Option<(bool, std::net::SocketAddr, String, String)> {
    let (tls, host, port, authority, path) = parse_destination(d)?;
    let ip = match host.parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_loopback() => ip,
        Ok(ip) => model.machines().iter().find(|m| m.address == ip)?.address,
        Err(_) if host.eq_ignore_ascii_case("localhost") => {
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        }
        Err(_) => {
            let short = host.split('.').next().unwrap_or(&host);
            model.find(&host).or_else(|| model.find(short))?.address
        }
    };
    Some((tls, std::net::SocketAddr::new(ip, port), authority, path))
}

fn strip_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn service() -> Value {
    json!({
        "@odata.id": SERVICE,
        "@odata.type": "#EventService.v1_10_0.EventService",
        "Id": "EventService",
        "Name": "Event Service",
        "ServiceEnabled": true,
        "Status": { "State": "Enabled", "Health": "OK" },
        "DeliveryRetryAttempts": 1,
        "DeliveryRetryIntervalSeconds": 1,
        "EventFormatTypes": ["Event"],
        "RegistryPrefixes": ["ResourceEvent"],
        "ResourceTypes": ["ComputerSystem", "LogEntry"],
        "ServerSentEventUri": SSE,
        "SSEFilterPropertiesSupported": {
            "EventFormatType": true,
            "MessageId": true,
            "OriginResource": true,
            "RegistryPrefix": true,
            "ResourceType": true,
            "EventType": false,
            "MetricReportDefinition": false,
            "SubordinateResources": false,
        },
        "Subscriptions": { "@odata.id": SUBS },
        "Actions": {
            "#EventService.SubmitTestEvent": { "target": TEST },
        },
    })
}

/// An SSE `$filter` (DSP0266 "Server-sent events"): `Property eq 'value'`
/// terms joined by `or` and `and` (`and` binds tighter), over
/// EventFormatType, MessageId, OriginResource, RegistryPrefix and
/// ResourceType.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    any_of: Vec<Vec<(String, String)>>,
}

impl Filter {
    pub fn matches(&self, e: &Event) -> bool {
        self.any_of.is_empty()
            || self.any_of.iter().any(|all| {
                all.iter().all(|(p, v)| match p.as_str() {
                    "EventFormatType" => v == "Event",
                    "MessageId" => e.message_matches(v),
                    "OriginResource" => e.origin.as_deref() == Some(v.as_str()),
                    "RegistryPrefix" => e.registry_prefix() == v,
                    "ResourceType" => e.resource_type == *v,
                    _ => false,
                })
            })
    }
}

/// Parses an SSE stream's query string: `$filter` only; `Err` is the 400.
pub fn sse_filter(query: Option<&str>) -> Result<Filter, Reply> {
    let mut filter = Filter { any_of: Vec::new() };
    let Some(q) = query else {
        return Ok(filter);
    };
    if q.len() > MAX_TEXT {
        return Err(bad_filter(q));
    }
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = crate::query::decode(k);
        if k != "$filter" {
            if k.starts_with('$') {
                return Err(crate::api::query_error(
                    &crate::query::QueryError::NotSupported(k.chars().take(64).collect()),
                ));
            }
            continue;
        }
        let v = crate::query::decode(v);
        for alt in v.split(" or ") {
            let mut all = Vec::new();
            for term in alt.split(" and ") {
                let term = term.trim().trim_start_matches('(').trim_end_matches(')');
                let mut it = term.splitn(3, ' ');
                let (Some(p), Some("eq"), Some(val)) = (it.next(), it.next(), it.next()) else {
                    return Err(bad_filter(&v));
                };
                let Some(val) = val
                    .trim()
                    .strip_prefix('\'')
                    .and_then(|x| x.strip_suffix('\''))
                else {
                    return Err(bad_filter(&v));
                };
                if !matches!(
                    p,
                    "EventFormatType"
                        | "MessageId"
                        | "OriginResource"
                        | "RegistryPrefix"
                        | "ResourceType"
                ) {
                    return Err(bad_filter(&v));
                }
                all.push((p.to_string(), val.to_string()));
            }
            filter.any_of.push(all);
        }
    }
    Ok(filter)
}

fn bad_filter(v: &str) -> Reply {
    let shown: String = v.chars().take(64).collect();
    error(
        400,
        "QueryParameterValueFormatError",
        format!("The value '{shown}' for the parameter $filter is of a different format than the parameter can accept."),
        "Warning",
        "Correct the value for the query parameter in the request and resubmit the request if the operation failed.",
    )
}

/// One event as an SSE message (`id:` and one `data:` line).
pub fn sse_message(e: &Event) -> String {
    format!("id: {}\ndata: {}\n\n", e.id, e.payload(None))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ev(id: &str, origin: &str, ty: &str) -> Event {
        Event {
            id: 1,
            message_id: id.into(),
            message: String::new(),
            args: Vec::new(),
            severity: "OK".into(),
            origin: Some(origin.into()),
            resource_type: ty.into(),
            timestamp: String::new(),
        }
    }

    #[test]
    fn filters_match_as_the_spec_says() {
        let off = ev(
            "ResourceEvent.1.4.3.ResourcePoweredOff",
            "/redfish/v1/Systems/1",
            "ComputerSystem",
        );
        let sel = ev(
            "ResourceEvent.1.4.3.ResourceCreated",
            "/redfish/v1/Systems/1/LogServices/SEL/Entries/3",
            "LogEntry",
        );
        let f = sse_filter(Some(
            "$filter=MessageId%20eq%20%27ResourceEvent.ResourcePoweredOff%27",
        ))
        .unwrap();
        assert!(f.matches(&off) && !f.matches(&sel));
        let f = sse_filter(Some(
            "$filter=ResourceType eq 'LogEntry' or OriginResource eq '/redfish/v1/Systems/1'",
        ))
        .unwrap();
        assert!(f.matches(&off) && f.matches(&sel));
        let f = sse_filter(Some(
            "$filter=RegistryPrefix eq 'ResourceEvent' and ResourceType eq 'LogEntry'",
        ))
        .unwrap();
        assert!(!f.matches(&off) && f.matches(&sel));
        assert!(sse_filter(Some("$filter=Bogus eq 'x'")).is_err());
        assert!(sse_filter(Some("$filter=MessageId ne 'x'")).is_err());
        assert!(sse_filter(Some("$filter=MessageId eq x")).is_err());
        assert_eq!(sse_filter(Some("$top=1")).unwrap_err().status, 501);
        assert!(sse_filter(None).unwrap().matches(&off));
    }

    #[test]
    fn observe_reports_each_new_sel_entry_once() {
        let sc = fakedc_scenario::Scenario::parse(
            "t.toml",
            "[[machine]]\nname = \"hv01\"\nrole = \"hyperv-host\"\naddress = \"127.99.0.1\"\nbmc = \"bmc01\"\n[[machine]]\nname = \"bmc01\"\nrole = \"bmc\"\naddress = \"127.99.1.1\"\n",
            &fakedc_scenario::ParseOptions::default(),
        )
        .unwrap();
        let model = sc.model();
        let bmc = model.find("bmc01").unwrap().id;
        let hub = Hub::default();
        let now = model.clock.now();
        hub.baseline(&model, bmc, now);
        let mut rx = hub.stream(bmc).unwrap();
        let c = model.machine(bmc).chassis;
        let origins = |rx: &mut broadcast::Receiver<Arc<Event>>| {
            let mut v = Vec::new();
            loop {
                match rx.try_recv() {
                    Ok(e) => v.push(e.origin.clone().unwrap_or_default()),
                    // The stream's backlog is shorter than a full log.
                    Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                    Err(_) => break,
                }
            }
            v
        };
        // A full log, then two more: only those two are new.
        let cap = model.with_chassis(c, now, |ch| ch.log.capacity());
        model.with_chassis(c, now, |ch| {
            for _ in 0..cap {
                ch.log.push(fakedc_model::EventKind::Nmi);
            }
        });
        hub.observe(&model, bmc, now);
        assert_eq!(
            origins(&mut rx).len(),
            cap.min(SSE_BACKLOG),
            "every entry of the full log is new"
        );
        let ids = model.with_chassis(c, now, |ch| {
            [
                ch.log.push(fakedc_model::EventKind::Nmi),
                ch.log.push(fakedc_model::EventKind::Nmi),
            ]
        });
        hub.observe(&model, bmc, now);
        let want: Vec<String> = ids
            .iter()
            .map(|id| format!("{}/{id}", crate::logs::ENTRIES))
            .collect();
        assert_eq!(origins(&mut rx), want);
        hub.observe(&model, bmc, now);
        assert!(origins(&mut rx).is_empty());
    }

    #[test]
    fn destinations_stay_on_loopback() {
        let sc = fakedc_scenario::Scenario::parse(
            "t.toml",
            "[[machine]]\nname = \"lib01\"\nrole = \"library-server\"\naddress = \"127.99.0.9\"\n",
            &fakedc_scenario::ParseOptions::default(),
        )
        .unwrap();
        let model = sc.model();
        let (tls, addr, _, path) =
            destination_addr(&model, "http://127.0.0.1:8080/events").unwrap();
        assert_eq!((tls, addr.port(), path.as_str()), (false, 8080, "/events"));
        assert_eq!(
            destination_addr(&model, "https://lib01/x").unwrap().1,
            "127.99.0.9:443".parse().unwrap()
        );
        assert!(destination_addr(&model, "http://10.0.0.1/x").is_none());
        assert!(destination_addr(&model, "http://example.com/x").is_none());
        assert!(destination_addr(&model, "ftp://127.0.0.1/x").is_none());
        assert!(destination_addr(&model, "http://u:p@127.0.0.1/x").is_none());
        assert!(destination_addr(&model, "http://127.0.0.1:99999/x").is_none());
    }
}
