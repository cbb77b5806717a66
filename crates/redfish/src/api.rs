//! The Redfish resources, sans-IO: one decoded request in, one reply out,
//! read from and written to the shared model (chassis power and boot, the
//! BMC's users). Nothing here keeps a copy of the chassis, so a change
//! through IPMI or SMASH shows on the next GET.
//!
//! Errors are Redfish's own: an HTTP status with an `error` object whose
//! `@Message.ExtendedInfo` entries come from the DMTF Base message
//! registry ([`BASE`]).

use crate::logs;
use crate::query;
use fakedc_model::{
    BootDevice, BootOverride, MachineId, Model, PowerAction, PowerState, Privilege,
};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// The Base message registry version the error bodies cite.
pub const BASE: &str = "Base.1.10";
/// Largest request body accepted (a PATCH or an action is a few hundred bytes).
pub const MAX_BODY: usize = 64 * 1024;
/// Event deliveries waiting for the glue to send them, at most.
const MAX_PENDING: usize = 1024;
/// Open sessions per BMC; the next POST gets CreateLimitReachedForResource.
pub const MAX_SESSIONS: usize = 64;
/// Longest user name or password accepted in a session login.
const MAX_CRED: usize = 256;

pub(crate) const SYSTEM: &str = "/redfish/v1/Systems/1";
const CHASSIS: &str = "/redfish/v1/Chassis/1";
const MANAGER: &str = "/redfish/v1/Managers/1";
const SESSIONS: &str = "/redfish/v1/SessionService/Sessions";
use crate::accounts::{self, ACCOUNTS, ROLES};
/// The standard roles and their privileges (DSP0266 "Roles"): the three
/// IPMI privilege levels an account can have, in Redfish's words.
const ROLE_PRIVILEGES: &[(&str, &[&str])] = &[
    (
        "Administrator",
        &[
            "Login",
            "ConfigureManager",
            "ConfigureUsers",
            "ConfigureSelf",
            "ConfigureComponents",
        ],
    ),
    (
        "Operator",
        &["Login", "ConfigureSelf", "ConfigureComponents"],
    ),
    ("ReadOnly", &["Login", "ConfigureSelf"]),
];
const RESET: &str = "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset";

/// The reset types the model can carry out, in Redfish's words.
pub const RESET_TYPES: &[&str] = &[
    "On",
    "ForceOff",
    "GracefulShutdown",
    "ForceRestart",
    "PowerCycle",
    "Nmi",
];

/// Boot targets the model's override can hold, in Redfish's words.
const BOOT_TARGETS: &[(&str, BootDevice)] = &[
    ("None", BootDevice::None),
    ("Pxe", BootDevice::Pxe),
    ("Hdd", BootDevice::Disk),
    ("Cd", BootDevice::Cdrom),
    ("BiosSetup", BootDevice::Bios),
    ("Floppy", BootDevice::Floppy),
    ("Diags", BootDevice::Diag),
];

/// One request, already taken apart by the HTTP glue.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub token: Option<&'a str>,
    /// Decoded `Authorization: Basic` credentials.
    pub basic: Option<(String, String)>,
    pub if_match: Option<&'a str>,
    /// The query string ($select, $expand, $top, $skip; see `query`).
    pub query: Option<&'a str>,
    /// The `OData-Version` request header: only 4.0 is served.
    pub odata_version: Option<&'a str>,
    pub body: &'a [u8],
}

/// One reply: status, extra headers, body and its media type.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    /// The body's `@odata.type`, kept when the body is written so the
    /// `Link: rel=describedby` header needs no second parse of the body.
    pub odata_type: Option<String>,
}

impl Reply {
    pub(crate) fn json(status: u16, v: &Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            // Writing a `Value` to a Vec cannot fail (string keys only).
            body: serde_json::to_vec(v).unwrap_or_default(),
            content_type: "application/json;charset=utf-8",
            odata_type: v
                .get("@odata.type")
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }

    /// A resource with its ETag (a hash of its representation, the body
    /// as written: one serialization for both).
    pub(crate) fn resource(v: &Value) -> Reply {
        let mut r = Reply::json(200, v);
        r.headers.push(("ETag", etag_of(&r.body)));
        r
    }

    pub(crate) fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            content_type: "application/json;charset=utf-8",
            odata_type: None,
        }
    }
}

/// A weak ETag over the resource's JSON: it changes when the resource does.
pub fn etag(v: &Value) -> String {
    etag_of(&serde_json::to_vec(v).unwrap_or_default())
}

/// The weak ETag of a representation's bytes (what [`etag`] hashes).
fn etag_of(body: &[u8]) -> String {
    use std::fmt::Write;
    let h = Sha256::digest(body);
    let mut s = String::with_capacity(20);
    s.push_str("W/\"");
    for b in h.iter().take(8) {
        let _ = write!(s, "{b:02x}");
    }
    s.push('"');
    s
}

/// A Redfish error body with one Base registry message.
pub fn error(status: u16, id: &str, message: String, severity: &str, resolution: &str) -> Reply {
    let v = json!({
        "error": {
            "code": format!("{BASE}.{id}"),
            "message": message,
            "@Message.ExtendedInfo": [{
                "@odata.type": "#Message.v1_1_1.Message",
                "MessageId": format!("{BASE}.{id}"),
                "Message": message,
                "Severity": severity,
                "MessageSeverity": severity,
                "Resolution": resolution,
            }]
        }
    });
    Reply::json(status, &v)
}

/// The Base registry error for a refused query string.
pub(crate) fn query_error(e: &query::QueryError) -> Reply {
    use query::QueryError as Q;
    let fix = "Correct the value for the query parameter in the request and resubmit the request if the operation failed.";
    match e {
        Q::NotSupported(p) => {
            let mut r = error(
                501,
                "QueryNotSupported",
                "Querying is not supported by the implementation.".into(),
                "Warning",
                "Remove the query parameters and resubmit the request if the operation failed.",
            );
            // The registry message has no argument; the error's own
            // message names the parameter refused.
            if let Ok(mut v) = serde_json::from_slice::<Value>(&r.body) {
                v["error"]["message"] = json!(format!(
                    "Querying is not supported by the implementation: the query parameter {p} is not supported."
                ));
                r.body = v.to_string().into_bytes();
            }
            r
        }
        Q::Format(value, param) => error(
            400,
            "QueryParameterValueFormatError",
            format!("The value '{value}' for the parameter {param} is of a different format than the parameter can accept."),
            "Warning",
            fix,
        ),
        Q::OutOfRange(value, param, range) => error(
            400,
            "QueryParameterOutOfRange",
            format!("The value '{value}' for the query parameter {param} is out of range {range}."),
            "Warning",
            "Reduce the value for the query parameter to a value that is within range, such as a start or count value that is within bounds of the number of resources in a collection or a page that is within the range of valid pages.",
        ),
        Q::NotOnResource => error(
            400,
            "QueryNotSupportedOnResource",
            "Querying is not supported on the requested resource.".into(),
            "Warning",
            "Remove the query parameters and resubmit the request if the operation failed.",
        ),
        Q::TooLong => error(
            400,
            "QueryParameterValueFormatError",
            format!("The value '...' for the parameter query string is of a different format than the parameter can accept (longer than {} bytes).", query::MAX_QUERY),
            "Warning",
            fix,
        ),
    }
}

pub(crate) fn not_found(path: &str) -> Reply {
    error(
        404,
        "ResourceMissingAtURI",
        format!("The resource at the URI '{path}' was not found."),
        "Critical",
        "Place a valid resource at the URI or correct the URI and resubmit the request.",
    )
}

/// A Base-registry 400 for an action parameter (InsertMedia's Image,
/// SimpleUpdate's ImageURI): what the client sent is named in `message`.
pub(crate) fn param_error(id: &str, message: String) -> Reply {
    error(
        400,
        id,
        message,
        "Warning",
        "Correct the invalid parameter and resubmit the request if the operation failed.",
    )
}

pub(crate) fn malformed() -> Reply {
    error(
        400,
        "MalformedJSON",
        "The request body submitted was malformed JSON and could not be parsed by the receiving service.".into(),
        "Critical",
        "Ensure that the request body is valid JSON and resubmit the request.",
    )
}

fn no_session() -> Reply {
    let mut r = error(
        401,
        "NoValidSession",
        "There is no valid session established with the implementation.".into(),
        "Critical",
        "Establish a session before attempting any operations.",
    );
    r.headers
        .push(("WWW-Authenticate", "Basic realm=\"Redfish\"".into()));
    r
}

pub(crate) fn insufficient() -> Reply {
    error(
        403,
        "InsufficientPrivilege",
        "There are insufficient privileges for the account or credentials associated with the current session to perform the requested operation.".into(),
        "Critical",
        "Either abandon the operation or change the associated access rights and resubmit the request if the operation failed.",
    )
}

pub(crate) fn method_not_allowed(method: &str, path: &str, allow: &str) -> Reply {
    let mut r = error(
        405,
        "OperationNotAllowed",
        format!("The HTTP method {method} is not allowed on the URI '{path}'."),
        "Critical",
        "Do not repeat the operation.",
    );
    r.headers.push(("Allow", allow.into()));
    r
}

fn not_in_list(value: &str, prop: &str) -> Reply {
    error(
        400,
        "PropertyValueNotInList",
        format!("The value '{value}' for the property {prop} is not in the list of acceptable values."),
        "Warning",
        "Choose a value from the enumeration list that the implementation can support and resubmit the request if the operation failed.",
    )
}

fn prop_unknown(prop: &str) -> Reply {
    error(
        400,
        "PropertyUnknown",
        format!("The property {prop} is not in the list of valid properties for the resource."),
        "Warning",
        "Remove the unknown property from the request body and resubmit the request if the operation failed.",
    )
}

fn odata(id: &str, ty: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("@odata.id".into(), json!(id));
    m.insert("@odata.type".into(), json!(ty));
    m
}

fn link(id: &str) -> Value {
    json!({ "@odata.id": id })
}

fn collection(id: &str, ty: &str, name: &str, members: Vec<String>) -> Value {
    let mut m = odata(id, ty);
    m.insert("Name".into(), json!(name));
    m.insert("Members@odata.count".into(), json!(members.len()));
    m.insert(
        "Members".into(),
        Value::Array(members.iter().map(|s| link(s)).collect()),
    );
    Value::Object(m)
}

/// An open session.
struct Session {
    id: u64,
    token: String,
    user: String,
}

/// Who a request authenticated as.
pub struct Caller {
    pub user: String,
    pub privilege: Privilege,
    /// The session it came through, if any.
    pub(crate) session: Option<u64>,
}

/// Redfish over every BMC of one model: the sessions are the only state
/// not in the model.
#[derive(Default)]
pub struct Api {
    sessions: Mutex<HashMap<MachineId, Vec<Session>>>,
    next_session: Mutex<u64>,
    /// Accounts with `PasswordChangeRequired` set (Redfish-only; see
    /// `accounts`), by BMC and account name.
    pw_change: Mutex<std::collections::HashSet<(MachineId, String)>>,
    /// EventService: subscriptions, SSE streams, what was last seen.
    pub events: crate::events::Hub,
    /// Event deliveries raised by requests, for the glue to make.
    pending: Mutex<Vec<crate::events::Delivery>>,
    /// TaskService: the firmware update tasks.
    pub tasks: crate::tasks::Tasks,
    /// Image transfers started by SimpleUpdate, for the glue to make.
    fetches: Mutex<Vec<crate::tasks::Fetch>>,
}

/// What the glue journals for one request.
pub struct Outcome {
    pub reply: Reply,
    pub op: String,
    pub user: Option<String>,
}

pub(crate) fn redfish_power(p: PowerState) -> &'static str {
    match p {
        PowerState::Off => "Off",
        PowerState::Booting { .. } | PowerState::On => "On",
        PowerState::ShuttingDown { .. } => "PoweringOff",
        PowerState::Cycling { .. } => "PoweringOn",
    }
}

/// The model's action for a ResetType.
pub fn reset_action(t: &str) -> Option<PowerAction> {
    Some(match t {
        "On" => PowerAction::On,
        "ForceOff" => PowerAction::Off,
        "GracefulShutdown" => PowerAction::Soft,
        "ForceRestart" => PowerAction::Reset,
        "PowerCycle" => PowerAction::Cycle,
        "Nmi" => PowerAction::Nmi,
        _ => return None,
    })
}

impl Api {
    fn pw_change(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashSet<(MachineId, String)>> {
        self.pw_change.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The event deliveries raised since the last call (by
    /// `SubmitTestEvent`), for the glue to send.
    pub fn take_deliveries(&self) -> Vec<crate::events::Delivery> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The image transfers SimpleUpdate started since the last call, for
    /// the glue to make (and report through `tasks.transferred`).
    pub fn take_fetches(&self) -> Vec<crate::tasks::Fetch> {
        std::mem::take(&mut *self.fetches.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Who a request authenticates as, for the SSE stream the glue serves:
    /// `Err` is the 401, or the 403 of an account that must change its
    /// password first.
    pub fn stream_caller(
        &self,
        model: &Model,
        bmc: MachineId,
        req: &Request<'_>,
    ) -> Result<Caller, Reply> {
        let caller = self.caller(model, bmc, req).ok_or_else(no_session)?;
        if self.must_change(bmc, &caller.user) {
            let own = model
                .users(bmc)
                .iter()
                .find(|u| u.name == caller.user)
                .map(|u| format!("{ACCOUNTS}/{}", u.id))
                .unwrap_or_default();
            return Err(accounts::password_change_required(&own));
        }
        Ok(caller)
    }

    fn must_change(&self, bmc: MachineId, name: &str) -> bool {
        self.pw_change().contains(&(bmc, name.to_string()))
    }

    fn apply(&self, bmc: MachineId, effect: accounts::Effect) {
        match effect {
            accounts::Effect::None => {}
            accounts::Effect::Created { name, pw_change } => {
                if pw_change {
                    self.pw_change().insert((bmc, name));
                } else {
                    self.pw_change().remove(&(bmc, name));
                }
            }
            accounts::Effect::Gone { old } => {
                self.pw_change().remove(&(bmc, old.clone()));
                if let Some(l) = self.sessions().get_mut(&bmc) {
                    l.retain(|s| s.user != old);
                }
            }
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<MachineId, Vec<Session>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn caller(&self, model: &Model, bmc: MachineId, req: &Request<'_>) -> Option<Caller> {
        if let Some(t) = req.token {
            let (user, id) = {
                let s = self.sessions();
                let x = s.get(&bmc)?.iter().find(|x| x.token == t)?;
                (x.user.clone(), x.id)
            };
            // A session ends with its account (deleted or disabled).
            let u = model.find_user(bmc, &user)?;
            return Some(Caller {
                user: u.name,
                privilege: u.privilege,
                session: Some(id),
            });
        }
        let (name, password) = req.basic.as_ref()?;
        let u = model.authenticate(bmc, name, password)?;
        Some(Caller {
            user: u.name,
            privilege: u.privilege,
            session: None,
        })
    }

    /// Answers one request for the BMC `bmc`. HEAD is GET without the
    /// body; every successful read carries `Allow` and a `Link` to its
    /// JSON schema (`rel=describedby`).
    pub fn handle(
        &self,
        model: &Model,
        bmc: MachineId,
        now: Instant,
        req: &Request<'_>,
    ) -> Outcome {
        // A firmware install that came due shows in what this request reads.
        self.tasks.settle(model, bmc, now);
        if req.odata_version.is_some_and(|v| v.trim() != "4.0") {
            let mut reply = error(
                412,
                "PreconditionFailed",
                "The ETag supplied did not match the ETag required to change this resource.".into(),
                "Critical",
                "Try the operation again using OData-Version 4.0.",
            );
            if req.method == "HEAD" {
                reply.body.clear();
            }
            return Outcome {
                reply,
                op: format!("{} {}", req.method, normalize(req.path)),
                user: None,
            };
        }
        let query = match req.query.map(query::parse).transpose() {
            Ok(q) => q.unwrap_or_default(),
            Err(e) => {
                let mut reply = query_error(&e);
                if req.method == "HEAD" {
                    reply.body.clear();
                }
                return Outcome {
                    reply,
                    op: format!("{} {}?", req.method, normalize(req.path)),
                    user: None,
                };
            }
        };
        let head = req.method == "HEAD";
        let get = Request {
            query: None,
            method: if head { "GET" } else { req.method },
            path: req.path,
            token: req.token,
            basic: req.basic.clone(),
            if_match: req.if_match,
            odata_version: req.odata_version,
            body: req.body,
        };
        let mut out = self.dispatch(model, bmc, now, &get);
        let path = normalize(req.path);
        if out.reply.status == 200
            && get.method == "GET"
            && !query.is_empty()
            && out.reply.content_type.starts_with("application/json")
        {
            if let Err(e) = self.apply_query(model, bmc, now, &get, path, &query, &mut out.reply) {
                out.reply = query_error(&e);
            }
        }
        if out.reply.status == 200 && get.method == "GET" {
            out.reply.headers.push(("Allow", allow(path).into()));
            if let Some(ty) = &out.reply.odata_type {
                let schema = ty.trim_start_matches('#');
                let schema = schema.rsplit_once('.').map_or(schema, |p| p.0);
                out.reply.headers.push((
                    "Link",
                    format!("<http://redfish.dmtf.org/schemas/v1/{schema}.json>; rel=describedby"),
                ));
            }
        }
        if head {
            out.reply.body.clear();
        }
        out
    }

    /// `$top`/`$skip`, then `$expand` (each link read as a GET with the
    /// request's own credentials, so nothing the caller may not read is
    /// expanded), then `$select`, on a successful JSON read.
    #[allow(clippy::too_many_arguments)]
    fn apply_query(
        &self,
        model: &Model,
        bmc: MachineId,
        now: Instant,
        req: &Request<'_>,
        path: &str,
        q: &query::Query,
        reply: &mut Reply,
    ) -> Result<(), query::QueryError> {
        let Ok(mut v) = serde_json::from_slice::<Value>(&reply.body) else {
            return Ok(());
        };
        query::page(&mut v, path, q)?;
        if let Some(e) = q.expand {
            let mut fetch = |target: &str| {
                let sub = Request {
                    method: "GET",
                    path: target,
                    token: req.token,
                    basic: req.basic.clone(),
                    if_match: None,
                    query: None,
                    odata_version: None,
                    body: b"",
                };
                let r = self.dispatch(model, bmc, now, &sub).reply;
                (r.status == 200)
                    .then(|| serde_json::from_slice::<Value>(&r.body).ok())
                    .flatten()
            };
            query::expand_links(&mut v, e, &mut fetch);
        }
        if let Some(sel) = &q.select {
            v = query::select_props(&v, sel);
        }
        reply.body = v.to_string().into_bytes();
        Ok(())
    }

    fn dispatch(&self, model: &Model, bmc: MachineId, now: Instant, req: &Request<'_>) -> Outcome {
        let path = normalize(req.path);
        let op = format!("{} {}", req.method, path);
        let anon = |reply| Outcome {
            reply,
            op: op.clone(),
            user: None,
        };
        match (req.method, path) {
            ("GET", "/redfish") => return anon(Reply::json(200, &json!({"v1": "/redfish/v1/"}))),
            ("GET", "/redfish/v1") => return anon(Reply::resource(&service_root(model, bmc))),
            ("GET", "/redfish/v1/odata") => return anon(Reply::json(200, &odata_document())),
            ("GET", "/redfish/v1/$metadata") => {
                return anon(Reply {
                    status: 200,
                    headers: Vec::new(),
                    body: metadata().into_bytes(),
                    content_type: "application/xml",
                    odata_type: None,
                })
            }
            // POST to a collection's Members property is POST to the collection.
            ("POST", SESSIONS | "/redfish/v1/SessionService/Sessions/Members") => {
                return self.login(model, bmc, req, op)
            }
            _ => {}
        }
        let Some(caller) = self.caller(model, bmc, req) else {
            return anon(no_session());
        };
        let user = Some(caller.user.clone());
        if self.must_change(bmc, &caller.user) {
            // Only the account itself (GET, PATCH) and logging out.
            let own = model
                .users(bmc)
                .iter()
                .find(|u| u.name == caller.user)
                .map(|u| format!("{ACCOUNTS}/{}", u.id))
                .unwrap_or_default();
            let allowed = (path == own && matches!(req.method, "GET" | "PATCH"))
                || (req.method == "DELETE"
                    && caller
                        .session
                        .is_some_and(|id| path == format!("{SESSIONS}/{id}")));
            if !allowed {
                return Outcome {
                    reply: accounts::password_change_required(&own),
                    op,
                    user,
                };
            }
        }
        let reply = self.route(model, bmc, now, req, path, &caller);
        Outcome { reply, op, user }
    }

    fn login(&self, model: &Model, bmc: MachineId, req: &Request<'_>, op: String) -> Outcome {
        let out = |reply, user| Outcome {
            reply,
            op: op.clone(),
            user,
        };
        let Ok(v) = serde_json::from_slice::<Value>(req.body) else {
            return out(malformed(), None);
        };
        let (Some(name), Some(password)) = (
            v.get("UserName").and_then(Value::as_str),
            v.get("Password").and_then(Value::as_str),
        ) else {
            return out(
                error(
                    400,
                    "PropertyMissing",
                    "The property UserName or Password is a required property and must be included in the request.".into(),
                    "Warning",
                    "Ensure that the property is in the request body and has a valid value and resubmit the request if the operation failed.",
                ),
                None,
            );
        };
        if name.len() > MAX_CRED || password.len() > MAX_CRED {
            return out(no_session(), None);
        }
        let Some(u) = model.authenticate(bmc, name, password) else {
            return out(no_session(), Some(name.to_string()));
        };
        let token: [u8; 16] = rand::random();
        let token: String = token.iter().map(|b| format!("{b:02x}")).collect();
        let id = {
            let mut n = self.next_session.lock().unwrap_or_else(|p| p.into_inner());
            *n += 1;
            *n
        };
        {
            let mut s = self.sessions();
            let list = s.entry(bmc).or_default();
            if list.len() >= MAX_SESSIONS {
                return out(
                    error(
                        503,
                        "CreateLimitReachedForResource",
                        "The create operation failed because the resource has reached the limit of possible resources.".into(),
                        "Critical",
                        "Either delete resources and resubmit the request if the operation failed or do not resubmit the request.",
                    ),
                    Some(u.name),
                );
            }
            list.push(Session {
                id,
                token: token.clone(),
                user: u.name.clone(),
            });
        }
        let loc = format!("{SESSIONS}/{id}");
        let mut body = session_json(id, &u.name);
        if self.must_change(bmc, &u.name) {
            // The login works; the answer says what must happen first.
            let uri = format!("{ACCOUNTS}/{}", u.id);
            body["@Message.ExtendedInfo"] = json!([accounts::password_change_message(&uri)]);
        }
        let mut r = Reply::json(201, &body);
        r.headers.push(("X-Auth-Token", token));
        r.headers.push(("Location", loc));
        out(r, Some(u.name))
    }

    fn route(
        &self,
        model: &Model,
        bmc: MachineId,
        now: Instant,
        req: &Request<'_>,
        path: &str,
        caller: &Caller,
    ) -> Reply {
        if caller.privilege < Privilege::User {
            return insufficient();
        }
        let m = req.method;
        match path {
            "/redfish" | "/redfish/v1" | "/redfish/v1/odata" | "/redfish/v1/$metadata" => {
                method_not_allowed(m, path, "GET, HEAD")
            }
            "/redfish/v1/Systems" => get_only(m, path, || {
                collection(
                    path,
                    "#ComputerSystemCollection.ComputerSystemCollection",
                    "Computer System Collection",
                    vec![SYSTEM.into()],
                )
            }),
            SYSTEM => match m {
                "GET" => Reply::resource(&system(model, bmc, now)),
                "PATCH" => {
                    if caller.privilege < Privilege::Operator {
                        return insufficient();
                    }
                    let current = system(model, bmc, now);
                    if let Some(r) = precondition(req.if_match, &current) {
                        return r;
                    }
                    self.patch_system(model, bmc, now, req.body)
                }
                _ => method_not_allowed(m, path, "GET, PATCH"),
            },
            RESET => match m {
                "POST" => {
                    if caller.privilege < Privilege::Operator {
                        return insufficient();
                    }
                    reset(model, bmc, now, req.body)
                }
                _ => method_not_allowed(m, path, "POST"),
            },
            "/redfish/v1/Chassis" => get_only(m, path, || {
                collection(
                    path,
                    "#ChassisCollection.ChassisCollection",
                    "Chassis Collection",
                    vec![CHASSIS.into()],
                )
            }),
            CHASSIS => get_only(m, path, || chassis(model, bmc, now)),
            logs::LOGS => get_only(m, path, logs::log_services),
            logs::SEL => get_only(m, path, || logs::sel(&model.chassis(ch(model, bmc), now))),
            logs::ENTRIES => get_only(m, path, || {
                logs::entries(&model.chassis(ch(model, bmc), now))
            }),
            logs::CLEAR => match m {
                "POST" => {
                    if caller.privilege < Privilege::Operator {
                        return insufficient();
                    }
                    // As SMASH's ClearLog and IPMI's Clear SEL: one entry remains.
                    model.with_chassis(ch(model, bmc), now, |c| {
                        c.log.clear();
                        c.log.push(fakedc_model::EventKind::LogCleared);
                    });
                    Reply::empty(204)
                }
                _ => method_not_allowed(m, path, "POST"),
            },
            logs::SENSORS => get_only(m, path, || {
                logs::sensors(&model.chassis(ch(model, bmc), now))
            }),
            "/redfish/v1/Managers" => get_only(m, path, || {
                collection(
                    path,
                    "#ManagerCollection.ManagerCollection",
                    "Manager Collection",
                    vec![MANAGER.into()],
                )
            }),
            MANAGER => get_only(m, path, || manager(model, bmc, now)),
            "/redfish/v1/SessionService" => get_only(m, path, || {
                let mut o = odata(path, "#SessionService.v1_1_8.SessionService");
                o.insert("Id".into(), json!("SessionService"));
                o.insert("Name".into(), json!("Session Service"));
                o.insert("ServiceEnabled".into(), json!(true));
                o.insert("SessionTimeout".into(), json!(1800));
                o.insert("Sessions".into(), link(SESSIONS));
                Value::Object(o)
            }),
            SESSIONS => get_only(m, path, || {
                let ids = self
                    .sessions()
                    .get(&bmc)
                    .map(|l| l.iter().map(|s| format!("{SESSIONS}/{}", s.id)).collect())
                    .unwrap_or_default();
                collection(
                    path,
                    "#SessionCollection.SessionCollection",
                    "Session Collection",
                    ids,
                )
            }),
            "/redfish/v1/AccountService" => get_only(m, path, || {
                let mut o = odata(path, "#AccountService.v1_13_0.AccountService");
                o.insert("Id".into(), json!("AccountService"));
                o.insert("Name".into(), json!("Account Service"));
                o.insert("ServiceEnabled".into(), json!(true));
                o.insert("Accounts".into(), link(ACCOUNTS));
                // IPMI's limits: RMCP+ keys are at most 20 bytes.
                o.insert("MinPasswordLength".into(), json!(1));
                o.insert("MaxPasswordLength".into(), json!(accounts::MAX_PASSWORD));
                o.insert("Roles".into(), link(ROLES));
                Value::Object(o)
            }),
            ACCOUNTS => match m {
                "GET" => Reply::resource(&accounts::collection(model, bmc)),
                "POST" => {
                    let (r, effect) = accounts::create(model, bmc, req.body, caller);
                    self.apply(bmc, effect);
                    r
                }
                _ => method_not_allowed(m, path, "GET, POST"),
            },
            ROLES => get_only(m, path, || {
                collection(
                    path,
                    "#RoleCollection.RoleCollection",
                    "Roles Collection",
                    ROLE_PRIVILEGES
                        .iter()
                        .map(|r| format!("{ROLES}/{}", r.0))
                        .collect(),
                )
            }),
            _ => {
                if let Some(role) = path
                    .strip_prefix(&format!("{ROLES}/"))
                    .and_then(|id| ROLE_PRIVILEGES.iter().find(|r| r.0 == id))
                {
                    return get_only(m, path, || {
                        json!({
                            "@odata.id": path,
                            "@odata.type": "#Role.v1_3_1.Role",
                            "Id": role.0,
                            "Name": format!("{} Role", role.0),
                            "RoleId": role.0,
                            "IsPredefined": true,
                            "AssignedPrivileges": role.1,
                        })
                    });
                }
                let snapshot = || model.chassis(ch(model, bmc), now);
                if let Some(id) = path.strip_prefix(&format!("{}/", logs::ENTRIES)) {
                    return match logs::entry(&snapshot(), id) {
                        Some(v) => get_only(m, path, || v),
                        None => not_found(path),
                    };
                }
                if let Some(id) = path.strip_prefix(&format!("{}/", logs::SENSORS)) {
                    return match logs::sensor(&snapshot(), id) {
                        Some(v) => get_only(m, path, || v),
                        None => not_found(path),
                    };
                }
                if let Some((r, d)) = self.events.route(model, bmc, m, path, req.body, caller) {
                    if !d.is_empty() {
                        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                        // Bounded even if nothing drains it (the sans-IO
                        // dispatcher alone, as the fuzz target runs it).
                        if p.len() < MAX_PENDING {
                            p.extend(d);
                        }
                    }
                    return r;
                }
                if let Some(r) = crate::media::route(
                    model,
                    bmc,
                    now,
                    m,
                    path,
                    req.body,
                    // DSP8011: VirtualMedia actions need ConfigureManager.
                    caller.privilege >= Privilege::Admin,
                ) {
                    return r;
                }
                if let Some(id) = path.strip_prefix(&format!("{SESSIONS}/")) {
                    return self.session_item(bmc, m, path, id, caller);
                }
                // DSP8011: updates and cancelling them need ConfigureComponents.
                let operator = caller.privilege >= Privilege::Operator;
                if let Some(r) = self.tasks.route(model, bmc, now, m, path, operator) {
                    return r;
                }
                if let Some((r, fetch)) =
                    crate::update::route(&self.tasks, model, bmc, now, m, path, req.body, operator)
                {
                    if let Some(f) = fetch {
                        // At most one per BMC is running (tasks refuses a
                        // second), so this stays small even undrained.
                        let mut p = self.fetches.lock().unwrap_or_else(|p| p.into_inner());
                        if p.len() < MAX_PENDING {
                            p.push(f);
                        }
                    }
                    return r;
                }
                if let Some(r) = crate::environment::route(model, bmc, now, m, path) {
                    return r;
                }
                if path.starts_with(crate::inventory::REGISTRIES) {
                    let inv = crate::inventory::Inventory::serving(model, bmc);
                    let bios = glance(model, bmc, now).hardware.bios_version;
                    return match crate::inventory::registries(&inv, &bios, path) {
                        Some(v) if path == crate::inventory::REGISTRY_JSON => {
                            // The registry file is a document, not a resource.
                            match m {
                                "GET" => Reply::json(200, &v),
                                _ => method_not_allowed(m, path, "GET"),
                            }
                        }
                        Some(v) => get_only(m, path, || v),
                        None => not_found(path),
                    };
                }
                if path.starts_with(SYSTEM) {
                    let inv = crate::inventory::Inventory::serving(model, bmc);
                    let g = glance(model, bmc, now);
                    let host = crate::inventory::Host {
                        guid: &g.hardware.smbios_guid,
                        powered: g.power.power_on(),
                        vendor: &g.hardware.vendor,
                    };
                    match crate::inventory::read(&inv, &host, path) {
                        Some(Some(v)) => return get_only(m, path, || v),
                        Some(None) => return not_found(path),
                        None => {}
                    }
                }
                if let Some(id) = path.strip_prefix(&format!("{ACCOUNTS}/")) {
                    let flag = |name: &str| self.must_change(bmc, name);
                    let (r, effect, new_flag) =
                        accounts::item(model, bmc, req, path, id, caller, &flag);
                    if let Some((name, f)) = new_flag {
                        self.apply(bmc, accounts::Effect::Created { name, pw_change: f });
                    }
                    self.apply(bmc, effect);
                    return r;
                }
                not_found(path)
            }
        }
    }

    fn session_item(
        &self,
        bmc: MachineId,
        m: &str,
        path: &str,
        id: &str,
        caller: &Caller,
    ) -> Reply {
        let Ok(id) = id.parse::<u64>() else {
            return not_found(path);
        };
        let mut s = self.sessions();
        let list = s.entry(bmc).or_default();
        let Some(pos) = list.iter().position(|x| x.id == id) else {
            return not_found(path);
        };
        // Anyone may end their own session; an administrator any session.
        let own = caller.session == Some(id) || list[pos].user == caller.user;
        match m {
            "GET" => Reply::resource(&session_json(id, &list[pos].user)),
            "DELETE" if own || caller.privilege >= Privilege::Admin => {
                list.remove(pos);
                Reply::empty(204)
            }
            "DELETE" => insufficient(),
            _ => method_not_allowed(m, path, "GET, DELETE"),
        }
    }

    fn patch_system(&self, model: &Model, bmc: MachineId, now: Instant, body: &[u8]) -> Reply {
        let Ok(Value::Object(v)) = serde_json::from_slice::<Value>(body) else {
            return malformed();
        };
        for k in v.keys() {
            if k != "Boot" {
                return prop_unknown(k);
            }
        }
        let Some(Value::Object(b)) = v.get("Boot") else {
            return not_in_list(
                &v.get("Boot").map(Value::to_string).unwrap_or_default(),
                "Boot",
            );
        };
        let c = model.machine(bmc).chassis;
        let mut boot = model.with_chassis(c, now, |ch| ch.boot);
        for (k, val) in b {
            let Some(s) = val.as_str() else {
                return not_in_list(&val.to_string(), k);
            };
            match k.as_str() {
                "BootSourceOverrideTarget" => match BOOT_TARGETS.iter().find(|t| t.0 == s) {
                    Some(t) => boot.device = t.1,
                    None => return not_in_list(s, "BootSourceOverrideTarget"),
                },
                "BootSourceOverrideEnabled" => match s {
                    "Once" => boot.persistent = false,
                    "Continuous" => boot.persistent = true,
                    "Disabled" => boot.device = BootDevice::None,
                    _ => return not_in_list(s, "BootSourceOverrideEnabled"),
                },
                "BootSourceOverrideMode" => match s {
                    "UEFI" => boot.efi = true,
                    "Legacy" => boot.efi = false,
                    _ => return not_in_list(s, "BootSourceOverrideMode"),
                },
                other => return prop_unknown(&format!("Boot/{other}")),
            }
        }
        if b.get("BootSourceOverrideEnabled").and_then(Value::as_str) == Some("Disabled") {
            boot = BootOverride::default();
        }
        model.with_chassis(c, now, |ch| ch.set_boot(boot));
        Reply::resource(&system(model, bmc, now))
    }
}

/// The `Allow` header of a resource.
fn allow(path: &str) -> &'static str {
    match path {
        SYSTEM => "GET, HEAD, PATCH",
        RESET
        | crate::media::INSERT
        | crate::media::EJECT
        | crate::events::TEST
        | crate::update::SIMPLE_UPDATE => "POST",
        crate::events::SUBS => "GET, HEAD, POST",
        p if p.starts_with(crate::events::SUBS) => "GET, HEAD, DELETE",
        SESSIONS => "GET, HEAD, POST",
        p if p.starts_with(SESSIONS) => "GET, HEAD, DELETE",
        ACCOUNTS => "GET, HEAD, POST",
        p if p.starts_with(ACCOUNTS) => "GET, HEAD, PATCH, DELETE",
        _ => "GET, HEAD",
    }
}

fn get_only(m: &str, path: &str, f: impl FnOnce() -> Value) -> Reply {
    if m == "GET" {
        Reply::resource(&f())
    } else {
        method_not_allowed(m, path, "GET")
    }
}

/// Whether an `If-Match` allows a write: absent, `*`, or the current ETag.
pub(crate) fn etag_matches(if_match: Option<&str>, current: &Value) -> bool {
    let Some(want) = if_match.map(str::trim) else {
        return true;
    };
    let tag = etag(current);
    want == "*" || want.split(',').any(|t| t.trim() == tag)
}

pub(crate) fn precondition_failed() -> Reply {
    error(
        412,
        "PreconditionFailed",
        "The ETag supplied did not match the ETag required to change this resource.".into(),
        "Critical",
        "Try the operation again using the appropriate ETag.",
    )
}

/// `If-Match` on a PATCH: the ETag must be the current one (or `*`).
fn precondition(if_match: Option<&str>, current: &Value) -> Option<Reply> {
    (!etag_matches(if_match, current)).then(precondition_failed)
}

/// `/redfish/v1/` and `/redfish/v1` are one resource; so are the other
/// paths with and without a trailing slash.
fn normalize(path: &str) -> &str {
    let p = path.trim_end_matches('/');
    if p.is_empty() {
        "/"
    } else {
        p
    }
}

fn ch(model: &Model, bmc: MachineId) -> fakedc_model::ChassisId {
    model.machine(bmc).chassis
}

fn host_name(model: &Model, bmc: MachineId) -> String {
    let b = model.machine(bmc);
    model
        .machines_on(b.chassis)
        .iter()
        .map(|m| model.machine(*m))
        .find(|m| m.id != bmc)
        .map(|m| m.name.clone())
        .unwrap_or_else(|| b.name.clone())
}

fn service_root(model: &Model, bmc: MachineId) -> Value {
    let c = model.machine(bmc).chassis;
    let guid = model.with_chassis(c, model.clock.now(), |ch| ch.hardware.guid_string());
    json!({
        "@odata.id": "/redfish/v1/",
        "@odata.type": "#ServiceRoot.v1_17_0.ServiceRoot",
        "Id": "RootService",
        "Name": "Root Service",
        "RedfishVersion": "1.17.0",
        "UUID": guid,
        "Systems": link("/redfish/v1/Systems"),
        "Chassis": link("/redfish/v1/Chassis"),
        "Managers": link("/redfish/v1/Managers"),
        "SessionService": link("/redfish/v1/SessionService"),
        "AccountService": link("/redfish/v1/AccountService"),
        "EventService": link(crate::events::SERVICE),
        "Tasks": link(crate::tasks::SERVICE),
        "UpdateService": link(crate::update::SERVICE),
        "Registries": link(crate::inventory::REGISTRIES),
        "Links": { "Sessions": link(SESSIONS) },
        "ProtocolFeaturesSupported": query::features(),
    })
}

fn odata_document() -> Value {
    let names = [
        ("Systems", "/redfish/v1/Systems"),
        ("Chassis", "/redfish/v1/Chassis"),
        ("Managers", "/redfish/v1/Managers"),
        ("SessionService", "/redfish/v1/SessionService"),
        ("AccountService", "/redfish/v1/AccountService"),
        ("EventService", crate::events::SERVICE),
        ("Tasks", crate::tasks::SERVICE),
        ("UpdateService", crate::update::SERVICE),
        ("Registries", crate::inventory::REGISTRIES),
    ];
    let mut v = vec![json!({"name": "Service", "kind": "Singleton", "url": "/redfish/v1/"})];
    v.extend(
        names
            .iter()
            .map(|(n, u)| json!({"name": n, "kind": "Singleton", "url": u})),
    );
    json!({ "@odata.context": "/redfish/v1/$metadata", "value": v })
}

/// The CSDL service document: references to the DMTF schemas of every
/// resource type served, by their published URIs.
fn metadata() -> String {
    let refs = [
        ("ServiceRoot", "ServiceRoot.v1_17_0"),
        ("ComputerSystemCollection", "ComputerSystemCollection"),
        ("ComputerSystem", "ComputerSystem.v1_20_0"),
        ("ChassisCollection", "ChassisCollection"),
        ("Chassis", "Chassis.v1_23_0"),
        ("ManagerCollection", "ManagerCollection"),
        ("Manager", "Manager.v1_17_0"),
        ("SessionService", "SessionService.v1_1_8"),
        ("SessionCollection", "SessionCollection"),
        ("Session", "Session.v1_6_0"),
        ("AccountService", "AccountService.v1_13_0"),
        ("ManagerAccountCollection", "ManagerAccountCollection"),
        ("ManagerAccount", "ManagerAccount.v1_10_0"),
        ("RoleCollection", "RoleCollection"),
        ("Role", "Role.v1_3_1"),
        ("LogServiceCollection", "LogServiceCollection"),
        ("LogService", "LogService.v1_5_0"),
        ("LogEntryCollection", "LogEntryCollection"),
        ("LogEntry", "LogEntry.v1_15_0"),
        ("SensorCollection", "SensorCollection"),
        ("Sensor", "Sensor.v1_9_0"),
        ("Message", "Message.v1_1_1"),
        ("VirtualMediaCollection", "VirtualMediaCollection"),
        ("VirtualMedia", "VirtualMedia.v1_6_5"),
        ("EventService", "EventService.v1_10_0"),
        ("EventDestinationCollection", "EventDestinationCollection"),
        ("EventDestination", "EventDestination.v1_14_0"),
        ("Event", "Event.v1_7_0"),
        ("ProcessorCollection", "ProcessorCollection"),
        ("Processor", "Processor.v1_20_0"),
        ("MemoryCollection", "MemoryCollection"),
        ("Memory", "Memory.v1_20_0"),
        ("EthernetInterfaceCollection", "EthernetInterfaceCollection"),
        ("EthernetInterface", "EthernetInterface.v1_12_0"),
        ("StorageCollection", "StorageCollection"),
        ("Storage", "Storage.v1_15_0"),
        ("Drive", "Drive.v1_20_0"),
        ("SimpleStorageCollection", "SimpleStorageCollection"),
        ("SimpleStorage", "SimpleStorage.v1_3_0"),
        ("Bios", "Bios.v1_2_0"),
        ("TaskService", "TaskService.v1_3_0"),
        ("TaskCollection", "TaskCollection"),
        ("Task", "Task.v1_7_4"),
        ("UpdateService", "UpdateService.v1_11_0"),
        ("SoftwareInventoryCollection", "SoftwareInventoryCollection"),
        ("SoftwareInventory", "SoftwareInventory.v1_10_0"),
        ("PowerSubsystem", "PowerSubsystem.v1_1_3"),
        ("ThermalSubsystem", "ThermalSubsystem.v1_5_0"),
        ("ThermalMetrics", "ThermalMetrics.v1_3_2"),
        ("FanCollection", "FanCollection"),
        ("Fan", "Fan.v1_6_0"),
        ("EnvironmentMetrics", "EnvironmentMetrics.v1_5_0"),
        ("Power", "Power.v1_7_3"),
        ("Thermal", "Thermal.v1_7_3"),
        (
            "MessageRegistryFileCollection",
            "MessageRegistryFileCollection",
        ),
        ("MessageRegistryFile", "MessageRegistryFile.v1_1_5"),
        ("AttributeRegistry", "AttributeRegistry.v1_3_8"),
    ];
    let mut s = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">
"#,
    );
    for (file, ns) in refs {
        s.push_str(&format!(
            "  <edmx:Reference Uri=\"http://redfish.dmtf.org/schemas/v1/{file}_v1.xml\">\n    <edmx:Include Namespace=\"{base}\"/>\n    <edmx:Include Namespace=\"{ns}\"/>\n  </edmx:Reference>\n",
            base = file,
        ));
    }
    s.push_str(
        r#"  <edmx:DataServices>
    <Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="Service">
      <EntityContainer Name="Service" Extends="ServiceRoot.v1_16_0.ServiceContainer"/>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>
"#,
    );
    s
}

/// What a resource reads of a chassis: not its event log or sensors, so a
/// read copies a few strings instead of the whole chassis.
struct Glance {
    power: PowerState,
    boot: BootOverride,
    hardware: fakedc_model::Hardware,
}

fn glance(model: &Model, bmc: MachineId, now: Instant) -> Glance {
    model.with_chassis(model.machine(bmc).chassis, now, |c| Glance {
        power: c.power,
        boot: c.boot,
        hardware: c.hardware.clone(),
    })
}

fn system(model: &Model, bmc: MachineId, now: Instant) -> Value {
    let c = glance(model, bmc, now);
    let hw = &c.hardware;
    let inv = crate::inventory::Inventory::serving(model, bmc);
    let target = BOOT_TARGETS
        .iter()
        .find(|t| t.1 == c.boot.device)
        .map(|t| t.0)
        // IPMI's "safe mode" boot has no Redfish target.
        .unwrap_or("None");
    let enabled = if c.boot.device == BootDevice::None {
        "Disabled"
    } else if c.boot.persistent {
        "Continuous"
    } else {
        "Once"
    };
    let mut v = json!({
        "@odata.id": SYSTEM,
        "@odata.type": "#ComputerSystem.v1_20_0.ComputerSystem",
        "Id": "1",
        "Name": host_name(model, bmc),
        "SystemType": "Physical",
        "Manufacturer": hw.vendor,
        "Model": hw.model,
        "SerialNumber": hw.serial,
        "PartNumber": hw.part_number,
        "AssetTag": hw.asset_tag,
        "BiosVersion": hw.bios_version,
        "UUID": hw.guid_string(),
        "PowerState": redfish_power(c.power),
        "Status": { "State": "Enabled", "Health": "OK" },
        "Boot": {
            "BootSourceOverrideTarget": target,
            "BootSourceOverrideEnabled": enabled,
            "BootSourceOverrideMode": if c.boot.efi { "UEFI" } else { "Legacy" },
            "BootSourceOverrideTarget@Redfish.AllowableValues":
                BOOT_TARGETS.iter().map(|t| t.0).collect::<Vec<_>>(),
        },
        "Actions": {
            "#ComputerSystem.Reset": {
                "target": RESET,
                "ResetType@Redfish.AllowableValues": RESET_TYPES,
            }
        },
        "LogServices": link(crate::logs::LOGS),
        "Links": {
            "Chassis": [link(CHASSIS)],
            "ManagedBy": [link(MANAGER)],
        },
    });
    if let Value::Object(m) = &mut v {
        inv.summaries(m);
    }
    v
}

fn chassis(model: &Model, bmc: MachineId, now: Instant) -> Value {
    let c = glance(model, bmc, now);
    let hw = &c.hardware;
    json!({
        "@odata.id": CHASSIS,
        "@odata.type": "#Chassis.v1_23_0.Chassis",
        "Id": "1",
        "Name": "Chassis",
        "ChassisType": "RackMount",
        "Manufacturer": hw.vendor,
        "Model": hw.model,
        "SerialNumber": hw.serial,
        "PartNumber": hw.part_number,
        "AssetTag": hw.asset_tag,
        "PowerState": redfish_power(c.power),
        "Status": { "State": "Enabled", "Health": "OK" },
        "Sensors": link(crate::logs::SENSORS),
        "PowerSubsystem": link(crate::environment::POWER_SUBSYSTEM),
        "ThermalSubsystem": link(crate::environment::THERMAL_SUBSYSTEM),
        "EnvironmentMetrics": link(crate::environment::ENVIRONMENT),
        "Power": link(crate::environment::POWER),
        "Thermal": link(crate::environment::THERMAL),
        "Links": {
            "ComputerSystems": [link(SYSTEM)],
            "ManagedBy": [link(MANAGER)],
        },
    })
}

fn manager(model: &Model, bmc: MachineId, now: Instant) -> Value {
    let c = glance(model, bmc, now);
    json!({
        "@odata.id": MANAGER,
        "@odata.type": "#Manager.v1_17_0.Manager",
        "Id": "1",
        "Name": model.machine(bmc).name,
        "ManagerType": "BMC",
        "FirmwareVersion": c.hardware.bmc_firmware,
        "VirtualMedia": link(crate::media::COLLECTION),
        "Status": { "State": "Enabled", "Health": "OK" },
        "Links": {
            "ManagerForServers": [link(SYSTEM)],
            "ManagerForChassis": [link(CHASSIS)],
        },
    })
}

fn session_json(id: u64, user: &str) -> Value {
    json!({
        "@odata.id": format!("{SESSIONS}/{id}"),
        "@odata.type": "#Session.v1_6_0.Session",
        "Id": id.to_string(),
        "Name": "User Session",
        "UserName": user,
    })
}

fn reset(model: &Model, bmc: MachineId, now: Instant, body: &[u8]) -> Reply {
    let Ok(Value::Object(v)) = serde_json::from_slice::<Value>(body) else {
        return malformed();
    };
    for k in v.keys() {
        if k != "ResetType" {
            return error(
                400,
                "ActionParameterUnknown",
                format!(
                    "The action ComputerSystem.Reset was submitted with the invalid parameter {k}."
                ),
                "Warning",
                "Correct the invalid parameter and resubmit the request if the operation failed.",
            );
        }
    }
    let Some(t) = v.get("ResetType") else {
        return error(
            400,
            "ActionParameterMissing",
            "The action ComputerSystem.Reset requires the parameter ResetType to be present in the request body.".into(),
            "Critical",
            "Supply the action with the required parameter in the request body when the request is resubmitted.",
        );
    };
    let ts = t
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| t.to_string());
    let Some(action) = reset_action(&ts) else {
        let shown: String = ts.chars().take(64).collect();
        return error(
            400,
            "ActionParameterValueNotInList",
            format!("The value '{shown}' for the parameter ResetType in the action ComputerSystem.Reset is not in the list of acceptable values."),
            "Warning",
            "Choose a value from the enumeration list that the implementation can support and resubmit the request if the operation failed.",
        );
    };
    model.power_action(bmc, action, now);
    Reply::empty(204)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    const SCENARIO: &str = r#"
[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.99.0.1"
bmc = "bmc01"
[[machine]]
name = "bmc01"
role = "bmc"
address = "127.99.1.1"
"#;

    fn setup() -> (Arc<Model>, MachineId, Api) {
        let opts = fakedc_scenario::ParseOptions::default();
        let sc = fakedc_scenario::Scenario::parse("t.toml", SCENARIO, &opts).unwrap();
        let model = Arc::new(sc.model());
        let bmc = model.find("bmc01").unwrap().id;
        (model, bmc, Api::default())
    }

    fn call(
        t: &(Arc<Model>, MachineId, Api),
        method: &str,
        path: &str,
        auth: bool,
        body: &str,
    ) -> (u16, Value) {
        let req = Request {
            method,
            path,
            token: None,
            basic: auth.then(|| ("admin".to_string(), "password".to_string())),
            if_match: None,
            query: None,
            odata_version: None,
            body: body.as_bytes(),
        };
        let r = t.2.handle(&t.0, t.1, t.0.clock.now(), &req).reply;
        let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        (r.status, v)
    }

    fn message_id(v: &Value) -> &str {
        v["error"]["@Message.ExtendedInfo"][0]["MessageId"]
            .as_str()
            .unwrap()
    }

    #[test]
    fn anonymous_reads_only_the_root() {
        let t = setup();
        assert_eq!(call(&t, "GET", "/redfish/v1/", false, "").0, 200);
        let (s, v) = call(&t, "GET", "/redfish/v1/Systems/1", false, "");
        assert_eq!(s, 401);
        assert_eq!(message_id(&v), "Base.1.10.NoValidSession");
    }

    #[test]
    fn hostile_bodies_get_base_registry_errors() {
        let t = setup();
        let reset = "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset";
        for (body, id) in [
            ("{", "MalformedJSON"),
            ("[]", "MalformedJSON"),
            ("{}", "ActionParameterMissing"),
            (r#"{"ResetType":1}"#, "ActionParameterValueNotInList"),
            (r#"{"ResetType":"On","X":1}"#, "ActionParameterUnknown"),
        ] {
            let (s, v) = call(&t, "POST", reset, true, body);
            assert_eq!(s, 400, "{body}");
            assert_eq!(message_id(&v), format!("{BASE}.{id}"), "{body}");
        }
        let (s, v) = call(
            &t,
            "PATCH",
            SYSTEM,
            true,
            r#"{"Boot":{"BootSourceOverrideTarget":"Moon"}}"#,
        );
        assert_eq!(
            (s, message_id(&v)),
            (400, "Base.1.10.PropertyValueNotInList")
        );
        let (s, v) = call(&t, "DELETE", SYSTEM, true, "");
        assert_eq!((s, message_id(&v)), (405, "Base.1.10.OperationNotAllowed"));
        let (s, v) = call(&t, "GET", "/redfish/v1/Systems/2", true, "");
        assert_eq!((s, message_id(&v)), (404, "Base.1.10.ResourceMissingAtURI"));
        let long = "a".repeat(10_000);
        let body = format!(r#"{{"UserName":"{long}","Password":"x"}}"#);
        assert_eq!(call(&t, "POST", SESSIONS, false, &body).0, 401);
    }

    #[test]
    fn queries_are_refused_and_head_has_no_body() {
        let t = setup();
        let mut req = Request {
            method: "GET",
            path: SYSTEM,
            token: None,
            basic: Some(("admin".into(), "password".into())),
            if_match: None,
            query: Some("$filter=PowerState%20eq%20%27On%27"),
            odata_version: None,
            body: b"",
        };
        let r = t.2.handle(&t.0, t.1, t.0.clock.now(), &req).reply;
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            (r.status, message_id(&v)),
            (501, "Base.1.10.QueryNotSupported")
        );
        assert!(v["error"]["message"].as_str().unwrap().contains("$filter"));
        // What is built: $select keeps the annotations and the property.
        req.query = Some("$select=PowerState");
        let r = t.2.handle(&t.0, t.1, t.0.clock.now(), &req).reply;
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(v.as_object().unwrap().len(), 3, "{v}");
        assert_eq!(v["PowerState"], "On");
        // $expand=. on the root: Systems becomes the collection itself.
        req.path = "/redfish/v1/";
        req.query = Some("$expand=.($levels=2)");
        let r = t.2.handle(&t.0, t.1, t.0.clock.now(), &req).reply;
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["Systems"]["Members"][0]["PowerState"], "On", "{v}");
        // $top on a resource that is not a collection.
        req.path = SYSTEM;
        req.query = Some("$top=1");
        let r = t.2.handle(&t.0, t.1, t.0.clock.now(), &req).reply;
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            (r.status, message_id(&v)),
            (400, "Base.1.10.QueryNotSupportedOnResource")
        );
        req.query = None;
        req.method = "HEAD";
        let r = t.2.handle(&t.0, t.1, t.0.clock.now(), &req).reply;
        assert_eq!(r.status, 200);
        assert!(r.body.is_empty());
        assert!(r
            .headers
            .iter()
            .any(|h| h.0 == "Allow" && h.1 == "GET, HEAD, PATCH"));
        assert!(r.headers.iter().any(|h| h.0 == "Link"
            && h.1 == "<http://redfish.dmtf.org/schemas/v1/ComputerSystem.v1_20_0.json>; rel=describedby"));
    }

    #[test]
    fn sessions_are_limited_and_deleted() {
        let t = setup();
        let login = r#"{"UserName":"admin","Password":"password"}"#;
        for _ in 0..MAX_SESSIONS {
            assert_eq!(call(&t, "POST", SESSIONS, false, login).0, 201);
        }
        let (s, v) = call(&t, "POST", SESSIONS, false, login);
        assert_eq!(
            (s, message_id(&v)),
            (503, "Base.1.10.CreateLimitReachedForResource")
        );
        assert_eq!(
            call(&t, "DELETE", &format!("{SESSIONS}/1"), true, "").0,
            204
        );
        assert_eq!(
            call(&t, "DELETE", &format!("{SESSIONS}/1"), true, "").0,
            404
        );
        assert_eq!(call(&t, "POST", SESSIONS, false, login).0, 201);
    }

    #[test]
    fn accounts_are_created_flagged_and_deleted() {
        let t = setup();
        let body = r#"{"UserName":"ops","Password":"Secret-1","RoleId":"Operator","PasswordChangeRequired":true}"#;
        let (s, v) = call(&t, "POST", ACCOUNTS, true, body);
        assert_eq!(s, 201, "{v}");
        let uri = v["@odata.id"].as_str().unwrap().to_string();
        assert_eq!(uri, format!("{ACCOUNTS}/5"));
        assert!(t.0.authenticate(t.1, "ops", "Secret-1").is_some());
        let (s, v) = call(&t, "POST", ACCOUNTS, true, body);
        assert_eq!(
            (s, message_id(&v)),
            (409, "Base.1.10.ResourceAlreadyExists")
        );
        for (b, id) in [
            (
                r#"{"UserName":"x","Password":"y"}"#,
                "CreateFailedMissingReqProperties",
            ),
            (
                r#"{"UserName":"a:b","Password":"y","RoleId":"Operator"}"#,
                "PropertyValueFormatError",
            ),
            (
                r#"{"UserName":"x","Password":"123456789012345678901","RoleId":"Operator"}"#,
                "PropertyValueFormatError",
            ),
            (
                r#"{"UserName":"x","Password":"y","RoleId":"Root"}"#,
                "PropertyValueNotInList",
            ),
            (
                r#"{"UserName":"x","Password":"y","RoleId":"Operator","Bogus":1}"#,
                "PropertyUnknown",
            ),
        ] {
            let (s, v) = call(&t, "POST", ACCOUNTS, true, b);
            assert_eq!(
                (s, message_id(&v)),
                (400, format!("{BASE}.{id}").as_str()),
                "{b}"
            );
        }
        // Flagged: login works with the message; other reads are 403.
        let as_ops = |method: &'static str, path: &str, body: &str| {
            let req = Request {
                method,
                path,
                token: None,
                basic: Some(("ops".into(), "Secret-1".into())),
                if_match: None,
                query: None,
                odata_version: None,
                body: body.as_bytes(),
            };
            let r = t.2.handle(&t.0, t.1, t.0.clock.now(), &req).reply;
            (
                r.status,
                serde_json::from_slice::<Value>(&r.body).unwrap_or(Value::Null),
            )
        };
        let (s, v) = call(
            &t,
            "POST",
            SESSIONS,
            false,
            r#"{"UserName":"ops","Password":"Secret-1"}"#,
        );
        assert_eq!(s, 201);
        assert_eq!(
            v["@Message.ExtendedInfo"][0]["MessageId"],
            "Base.1.10.PasswordChangeRequired"
        );
        let (s, v) = as_ops("GET", SYSTEM, "");
        assert_eq!(
            (s, message_id(&v)),
            (403, "Base.1.10.PasswordChangeRequired")
        );
        assert_eq!(as_ops("GET", &uri, "").0, 200);
        assert_eq!(
            as_ops("PATCH", &uri, r#"{"RoleId":"Administrator"}"#).0,
            403
        );
        let (s, v) = as_ops("PATCH", &uri, r#"{"Password":"Secret-2"}"#);
        assert_eq!(s, 200);
        assert_eq!(v["PasswordChangeRequired"], false);
        // Old password gone, new one works everywhere.
        assert_eq!(as_ops("GET", SYSTEM, "").0, 401);
        assert!(t.0.authenticate(t.1, "ops", "Secret-2").is_some());
        let (s, _) = call(&t, "PATCH", &uri, true, r#"{"@odata.id":"x"}"#);
        assert_eq!(s, 400);
        assert_eq!(call(&t, "DELETE", &uri, true, "").0, 204);
        assert!(t.0.find_user(t.1, "ops").is_none());
        assert_eq!(call(&t, "GET", &uri, true, "").0, 404);
        // An administrator cannot delete the account they are using.
        let (s, v) = call(&t, "DELETE", &format!("{ACCOUNTS}/2"), true, "");
        assert_eq!((s, message_id(&v)), (409, "Base.1.10.ResourceInUse"));
    }

    #[test]
    fn virtual_media_is_inserted_booted_and_ejected() {
        let t = setup();
        let (insert, eject) = (crate::media::INSERT, crate::media::EJECT);
        for (b, s, id) in [
            (
                r#"{"Image":"http://example.com/x.iso"}"#,
                400,
                "CouldNotEstablishConnection",
            ),
            (
                r#"{"Image":"nfs://127.0.0.1/x.iso"}"#,
                400,
                "ActionParameterValueFormatError",
            ),
            (r#"{"Inserted":true}"#, 400, "ActionParameterMissing"),
            (
                r#"{"Image":"http://hv01/x.iso","Bogus":1}"#,
                400,
                "ActionParameterUnknown",
            ),
        ] {
            let (st, v) = call(&t, "POST", insert, true, b);
            assert_eq!(
                (st, message_id(&v)),
                (s, format!("{BASE}.{id}").as_str()),
                "{b}"
            );
        }
        let img = "http://127.0.0.1:8000/boot.iso";
        let (s, _) = call(
            &t,
            "POST",
            insert,
            true,
            &format!(r#"{{"Image":"{img}","Inserted":true}}"#),
        );
        assert_eq!(s, 204);
        let (_, v) = call(&t, "GET", crate::media::CD, true, "");
        assert_eq!(
            (v["Image"].as_str(), v["Inserted"].as_bool()),
            (Some(img), Some(true))
        );
        assert_eq!(v["ImageName"], "boot.iso");
        // A second image needs an eject first.
        assert_eq!(
            call(&t, "POST", insert, true, &format!(r#"{{"Image":"{img}"}}"#)).0,
            409
        );
        // A one-time CD boot reads the image.
        let boot =
            r#"{"Boot":{"BootSourceOverrideTarget":"Cd","BootSourceOverrideEnabled":"Once"}}"#;
        assert_eq!(call(&t, "PATCH", SYSTEM, true, boot).0, 200);
        t.0.power_action(t.1, PowerAction::Reset, t.0.clock.now());
        let c = t.0.chassis(t.0.machine(t.1).chassis, t.0.clock.now());
        assert_eq!(c.last_boot_device, BootDevice::Cdrom);
        assert_eq!(c.booted_media.as_deref(), Some(img));
        assert_eq!(call(&t, "POST", eject, true, "{}").0, 204);
        let (_, v) = call(&t, "GET", crate::media::CD, true, "");
        assert_eq!(
            (v["Image"].clone(), v["Inserted"].as_bool()),
            (Value::Null, Some(false))
        );
        // The next boot is from disk, with no media.
        t.0.power_action(t.1, PowerAction::Reset, t.0.clock.now());
        let c = t.0.chassis(t.0.machine(t.1).chassis, t.0.clock.now());
        assert_eq!(
            (c.last_boot_device, c.booted_media),
            (BootDevice::Disk, None)
        );
    }

    #[test]
    fn simple_update_runs_as_a_task_and_sets_the_version() {
        let t = setup();
        let upd = crate::update::SIMPLE_UPDATE;
        for (b, s, id) in [
            (
                r#"{"ImageURI":"http://example.com/bmc-1.2.bin"}"#,
                400,
                "CouldNotEstablishConnection",
            ),
            (
                r#"{"ImageURI":"http://u:p@127.0.0.1/bmc-1.2.bin"}"#,
                400,
                "CouldNotEstablishConnection",
            ),
            (
                r#"{"ImageURI":"ftp://127.0.0.1/bmc-1.2.bin"}"#,
                400,
                "ActionParameterValueFormatError",
            ),
            (
                r#"{"ImageURI":"127.0.0.1/x","TransferProtocol":"TFTP"}"#,
                400,
                "ActionParameterNotSupported",
            ),
            (
                r#"{"ImageURI":"http://127.0.0.1/x","Targets":["/redfish/v1/Systems/1"]}"#,
                400,
                "ActionParameterValueNotInList",
            ),
            (r#"{"Targets":[]}"#, 400, "ActionParameterMissing"),
            (
                r#"{"ImageURI":"http://127.0.0.1/x","Bogus":1}"#,
                400,
                "ActionParameterUnknown",
            ),
            ("[", 400, "MalformedJSON"),
        ] {
            let (st, v) = call(&t, "POST", upd, true, b);
            assert_eq!(
                (st, message_id(&v)),
                (s, format!("{BASE}.{id}").as_str()),
                "{b}"
            );
        }
        // No scheme: TransferProtocol's. The BMC is the default target.
        let req = Request {
            method: "POST",
            path: upd,
            token: None,
            basic: Some(("admin".into(), "password".into())),
            if_match: None,
            query: None,
            odata_version: None,
            body: br#"{"ImageURI":"127.0.0.1:8080/fw/bmc-7.20.00.bin","TransferProtocol":"HTTP"}"#,
        };
        let r = t.2.handle(&t.0, t.1, t.0.clock.now(), &req).reply;
        assert_eq!(r.status, 202);
        let loc = r
            .headers
            .iter()
            .find(|h| h.0 == "Location")
            .unwrap()
            .1
            .clone();
        assert_eq!(loc, format!("{}/1", crate::tasks::MONITORS));
        let fetches = t.2.take_fetches();
        assert_eq!(fetches.len(), 1);
        assert_eq!(fetches[0].url, "http://127.0.0.1:8080/fw/bmc-7.20.00.bin");
        // One update at a time.
        let (s, v) = call(
            &t,
            "POST",
            upd,
            true,
            r#"{"ImageURI":"http://127.0.0.1/bmc-8.0.bin"}"#,
        );
        assert_eq!((s, message_id(&v)), (409, "Base.1.10.ResourceInUse"));
        let (s, v) = call(&t, "GET", &loc, true, "");
        assert_eq!((s, v["TaskState"].as_str()), (202, Some("Running")));
        let now = t.0.clock.now();
        let until = t.2.tasks.transferred(&t.0, t.1, 1, Ok(1024), now).unwrap();
        assert_eq!(until - now, Duration::from_millis(20_000));
        let (_, v) = call(&t, "GET", "/redfish/v1/TaskService/Tasks/1", true, "");
        assert_eq!(v["TaskState"], "Running");
        assert!(v["PercentComplete"].as_u64().unwrap() >= 30, "{v}");
        t.0.advance(Duration::from_secs(21));
        let (s, _) = call(&t, "GET", &loc, true, "");
        assert_eq!(s, 204);
        let (_, v) = call(&t, "GET", "/redfish/v1/TaskService/Tasks/1", true, "");
        assert_eq!(
            (v["TaskState"].as_str(), v["PercentComplete"].as_u64()),
            (Some("Completed"), Some(100))
        );
        let ids: Vec<&str> = v["Messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["MessageId"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                "TaskEvent.1.0.TaskStarted",
                "Update.1.0.TransferringToComponent",
                "Update.1.0.InstallingOnComponent",
                "Update.1.0.UpdateSuccessful",
                "TaskEvent.1.0.TaskCompletedOK"
            ]
        );
        let (_, v) = call(
            &t,
            "GET",
            "/redfish/v1/UpdateService/FirmwareInventory/BMC",
            true,
            "",
        );
        assert_eq!(v["Version"], "7.20.00");
        let c = t.0.chassis(t.0.machine(t.1).chassis, t.0.clock.now());
        assert_eq!(c.hardware.bmc_firmware, "7.20.00");
        // A failed transfer ends the task in Exception; the monitor says why.
        let (s, _) = call(
            &t,
            "POST",
            upd,
            true,
            r#"{"ImageURI":"http://127.0.0.1/bios_2.1.0.bin"}"#,
        );
        assert_eq!(s, 202);
        let f = t.2.take_fetches().remove(0);
        assert!(t
            .2
            .tasks
            .transferred(&t.0, t.1, f.task, Err("HTTP 404".into()), t.0.clock.now())
            .is_none());
        let (s, v) = call(&t, "GET", &crate::tasks::monitor_uri(f.task), true, "");
        assert_eq!(s, 500);
        assert_eq!(
            v["error"]["@Message.ExtendedInfo"][1]["MessageId"],
            "Update.1.0.TransferFailed"
        );
        let (_, v) = call(
            &t,
            "GET",
            "/redfish/v1/UpdateService/FirmwareInventory/BIOS",
            true,
            "",
        );
        assert_ne!(v["Version"], "2.1.0");
        // A running task is cancelled through its monitor.
        let (s, _) = call(
            &t,
            "POST",
            upd,
            true,
            r#"{"ImageURI":"http://127.0.0.1/bmc-9.1.bin"}"#,
        );
        assert_eq!(s, 202);
        let f = t.2.take_fetches().remove(0);
        assert_eq!(
            call(&t, "DELETE", &crate::tasks::monitor_uri(f.task), true, "").0,
            204
        );
        let (_, v) = call(
            &t,
            "GET",
            &format!("/redfish/v1/TaskService/Tasks/{}", f.task),
            true,
            "",
        );
        assert_eq!(v["TaskState"], "Cancelled");
        assert!(t
            .2
            .tasks
            .transferred(&t.0, t.1, f.task, Ok(1), t.0.clock.now())
            .is_none());
        let (_, v) = call(&t, "GET", "/redfish/v1/TaskService/Tasks", true, "");
        assert_eq!(v["Members@odata.count"], 3);
    }

    #[test]
    fn environment_views_share_the_sensors() {
        let t = setup();
        let (_, v) = call(&t, "GET", crate::environment::THERMAL_METRICS, true, "");
        let inlet = &v["TemperatureReadingsCelsius"][0];
        assert_eq!(inlet["Reading"], 24.0);
        let (_, s) = call(
            &t,
            "GET",
            inlet["DataSourceUri"].as_str().unwrap(),
            true,
            "",
        );
        assert_eq!(
            (s["Name"].as_str(), s["Reading"].as_f64()),
            (Some("Inlet Temp"), Some(24.0))
        );
        let (_, v) = call(&t, "GET", crate::environment::FANS, true, "");
        let fan = v["Members"][0]["@odata.id"].as_str().unwrap().to_string();
        let (_, v) = call(&t, "GET", &fan, true, "");
        assert_eq!(v["SpeedPercent"]["SpeedRPM"], 7200.0);
        let (_, v) = call(&t, "GET", crate::environment::ENVIRONMENT, true, "");
        assert_eq!(v["PowerWatts"]["Reading"], 286.0);
        t.0.power_action(t.1, PowerAction::Off, t.0.clock.now());
        let (_, v) = call(&t, "GET", &fan, true, "");
        assert_eq!(
            (
                v["SpeedPercent"]["SpeedRPM"].clone(),
                v["Status"]["State"].as_str()
            ),
            (Value::Null, Some("StandbyOffline"))
        );
        let (_, v) = call(&t, "GET", crate::environment::THERMAL, true, "");
        assert_eq!(v["Fans"][0]["Reading"], Value::Null);
        assert_eq!(v["Temperatures"][0]["ReadingCelsius"], 22.0);
        let (_, v) = call(&t, "GET", crate::environment::POWER, true, "");
        assert_eq!(v["PowerControl"][0]["PowerConsumedWatts"], 12.0);
        assert_eq!(
            call(&t, "PATCH", crate::environment::POWER, true, "{}").0,
            405
        );
        assert_eq!(
            call(
                &t,
                "GET",
                &format!("{}/Fan9", crate::environment::FANS),
                true,
                ""
            )
            .0,
            404
        );
    }

    #[test]
    fn bios_attribute_registry_describes_the_attributes() {
        let t = setup();
        let (_, bios) = call(&t, "GET", crate::inventory::BIOS, true, "");
        let (_, files) = call(&t, "GET", crate::inventory::REGISTRIES, true, "");
        let file = files["Members"][0]["@odata.id"]
            .as_str()
            .unwrap()
            .to_string();
        let (_, file) = call(&t, "GET", &file, true, "");
        let (s, reg) = call(
            &t,
            "GET",
            file["Location"][0]["Uri"].as_str().unwrap(),
            true,
            "",
        );
        assert_eq!(s, 200);
        assert_eq!(reg["Id"], bios["AttributeRegistry"]);
        let attrs = reg["RegistryEntries"]["Attributes"].as_array().unwrap();
        assert_eq!(attrs.len(), bios["Attributes"].as_object().unwrap().len());
        for a in attrs {
            let name = a["AttributeName"].as_str().unwrap();
            assert_eq!(a["CurrentValue"], bios["Attributes"][name], "{name}");
            assert_eq!(a["ReadOnly"], true);
        }
        assert_eq!(
            call(&t, "GET", "/redfish/v1/Registries/Base", true, "").0,
            404
        );
        assert_eq!(
            call(&t, "POST", crate::inventory::REGISTRIES, true, "{}").0,
            405
        );
    }

    #[test]
    fn etag_follows_the_chassis() {
        let t = setup();
        let before = etag(&call(&t, "GET", SYSTEM, true, "").1);
        t.0.power_action(t.1, PowerAction::Off, t.0.clock.now());
        let (_, v) = call(&t, "GET", SYSTEM, true, "");
        assert_eq!(v["PowerState"], "Off");
        assert_ne!(etag(&v), before);
    }
}
