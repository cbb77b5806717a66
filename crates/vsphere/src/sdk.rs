//! One SDK endpoint (an ESXi host's hostd or a vCenter's vpxd): sessions,
//! views, property filters, tasks and events, and the method dispatcher.
//!
//! Protocol bookkeeping only: power and guest state are the model's, read
//! and changed through it, so `vim-cmd`, IPMI and WinRM agree with the SDK.
//! Every call resolves `_this` (else `ManagedObjectNotFound`), checks the
//! session (else `NotAuthenticated`), then dispatches by method name; a
//! method fakedc does not implement is `MethodNotFound` naming it.

use crate::inventory::{Api, Inventory, Kind};
use crate::pc::{self, Content, FilterSpec, Reported};
use crate::props::Target;
use crate::soap::{self, Request, VimFault};
use crate::types::types;
use crate::value::{child, child_text, children, read_moref, write_elem, Data, MoRef, Value};
use fakedc_model::{MachineId, Model, PowerAction};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// Idle sessions expire after this (vCenter's default `sessionTimeout`).
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
/// Most sessions kept per endpoint; the least recently used goes first.
pub const MAX_SESSIONS: usize = 4096;
/// Most views, filters, collectors and pending result pages per endpoint.
pub const MAX_OBJECTS: usize = 10_000;
/// Tasks kept for `recentTask` and property reads.
pub const MAX_TASKS: usize = 500;
/// Events kept for `QueryEvents`.
pub const MAX_EVENTS: usize = 1000;
/// Longest a legacy `WaitForUpdates` blocks before answering empty-handed
/// with the same version (a real one blocks forever; clients loop).
pub const MAX_WAIT: Duration = Duration::from_secs(600);

/// The methods implemented, by the managed type that serves them (for
/// `/about` and the dispatcher's own check).
pub const METHODS: &[(&str, &[&str])] = &[
    (
        "ServiceInstance",
        &["RetrieveServiceContent", "CurrentTime"],
    ),
    ("SessionManager", &["Login", "Logout", "SessionIsActive"]),
    ("(any managed object)", &["Fetch"]),
    (
        "PropertyCollector",
        &[
            "RetrieveProperties",
            "RetrievePropertiesEx",
            "ContinueRetrievePropertiesEx",
            "CancelRetrievePropertiesEx",
            "CreateFilter",
            "WaitForUpdates",
            "WaitForUpdatesEx",
            "CheckForUpdates",
            "CancelWaitForUpdates",
            "CreatePropertyCollector",
            "DestroyPropertyCollector",
        ],
    ),
    ("PropertyFilter", &["DestroyPropertyFilter"]),
    ("ViewManager", &["CreateContainerView"]),
    ("ContainerView", &["DestroyView"]),
    (
        "SearchIndex",
        &[
            "FindByInventoryPath",
            "FindByUuid",
            "FindAllByUuid",
            "FindByIp",
            "FindAllByIp",
            "FindByDnsName",
            "FindAllByDnsName",
            "FindChild",
        ],
    ),
    (
        "VirtualMachine",
        &[
            "PowerOnVM_Task",
            "PowerOffVM_Task",
            "ResetVM_Task",
            "SuspendVM_Task",
            "ShutdownGuest",
            "RebootGuest",
        ],
    ),
    (
        "HostDatastoreBrowser",
        &["SearchDatastore_Task", "SearchDatastoreSubFolders_Task"],
    ),
    ("EventManager", &["QueryEvents"]),
];

pub struct Session {
    pub cookie: String,
    pub key: String,
    pub user: Option<String>,
    pub login_time: SystemTime,
    pub last_active: Instant,
    pub last_active_wall: SystemTime,
    pub ip: String,
    pub agent: String,
    pub calls: i64,
}

impl Session {
    pub fn user_session(&self) -> Data {
        let user = self.user.clone().unwrap_or_default();
        let full = if user.contains('@') || user.contains('\\') {
            "Administrator vsphere.local".to_string()
        } else {
            "Administrator".to_string()
        };
        Data::new("UserSession")
            .with("key", self.key.clone())
            .with("userName", user)
            .with("fullName", full)
            .with("loginTime", self.login_time)
            .with("lastActiveTime", self.last_active_wall)
            .with("locale", "en")
            .with("messageLocale", "en")
            .with("extensionSession", false)
            .with("ipAddress", self.ip.clone())
            .with("userAgent", self.agent.clone())
            .with("callCount", self.calls)
    }
}

pub struct View {
    pub session: String,
    pub container: usize,
    pub types: Vec<String>,
    pub recursive: bool,
}

pub struct Filter {
    pub session: String,
    pub pc: MoRef,
    pub spec: FilterSpec,
    pub partial_updates: bool,
    pub last: Reported,
}

pub struct Task {
    pub mo: MoRef,
    pub description_id: String,
    pub entity: Option<MoRef>,
    pub entity_name: String,
    pub error: Option<VimFault>,
    pub result: Option<Value>,
    pub queued: SystemTime,
    pub user: String,
    pub chain: i64,
}

impl Task {
    pub fn info(&self) -> Data {
        let state = if self.error.is_some() {
            "error"
        } else {
            "success"
        };
        let name = self
            .description_id
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_string();
        Data::new("TaskInfo")
            .with("key", self.mo.id.clone())
            .with("task", self.mo.clone())
            .with("name", name)
            .with("descriptionId", self.description_id.clone())
            .opt("entity", self.entity.clone())
            .with("entityName", self.entity_name.clone())
            .with("state", state)
            .with("cancelled", false)
            .with("cancelable", false)
            // On the wire a task's error is a LocalizedMethodFault
            // wrapping the fault (pyvmomi deserialises it so).
            .opt(
                "error",
                self.error.as_ref().map(|f| {
                    Data::new("LocalizedMethodFault")
                        .with(
                            "fault",
                            Data {
                                ty: f.kind,
                                fields: f.fields.clone(),
                            },
                        )
                        .with("localizedMessage", f.msg.clone())
                }),
            )
            .opt("result", self.result.clone())
            .with("progress", 100)
            .with(
                "reason",
                Data::new("TaskReasonUser").with("userName", self.user.clone()),
            )
            .with("queueTime", self.queued)
            .with("startTime", self.queued)
            .with("completeTime", self.queued)
            .with("eventChainId", self.chain)
    }
}

pub struct Event {
    pub key: i64,
    pub data: Data,
    pub vm: Option<MoRef>,
}

/// A paged `RetrievePropertiesEx` result waiting for its continuation.
pub struct Page {
    pub session: String,
    pub rest: VecDeque<Content>,
    pub size: usize,
}

#[derive(Default)]
pub struct State {
    /// By cookie.
    pub sessions: HashMap<String, Session>,
    /// The cookie of the session whose call is being served.
    pub current: Option<String>,
    pub views: HashMap<String, View>,
    pub filters: HashMap<String, Filter>,
    /// Extra collectors (CreatePropertyCollector): id -> owning session.
    pub collectors: HashMap<String, String>,
    /// Update versions per (session, collector).
    pub versions: HashMap<(String, String), u64>,
    pub tasks: VecDeque<Task>,
    pub events: VecDeque<Event>,
    pub pages: HashMap<String, Page>,
    /// (session, collector) pairs whose pending wait was cancelled.
    pub cancelled: std::collections::HashSet<(String, String)>,
    pub seq: u64,
}

impl State {
    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

/// One endpoint's SDK.
pub struct Sdk {
    pub model: Arc<Model>,
    pub machine: MachineId,
    pub inv: Inventory,
    pub state: Mutex<State>,
    /// Woken on any change a `WaitForUpdates` may be waiting for.
    pub notify: tokio::sync::Notify,
    /// `RetrieveServiceContent`'s answer never changes: written once.
    content_xml: std::sync::OnceLock<String>,
}

/// The answer to one call.
pub struct Answer {
    pub xml: String,
    pub fault: Option<&'static str>,
    /// A new session cookie to set (`Login`).
    pub set_cookie: Option<String>,
    pub user: Option<String>,
    /// What the journal names (`PowerOffVM_Task vm-12`).
    pub op: String,
}

/// Who is calling.
pub struct Caller {
    pub cookie: Option<String>,
    pub ip: IpAddr,
    pub agent: String,
}

fn is_wait(method: &str) -> bool {
    matches!(method, "WaitForUpdates" | "WaitForUpdatesEx")
}

const NO_SESSION: &[&str] = &["RetrieveServiceContent", "Login", "CurrentTime"];

fn random_hex(n: usize) -> String {
    use rand::Rng;
    let mut r = rand::thread_rng();
    (0..n)
        .map(|_| char::from_digit(r.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

impl Sdk {
    pub fn new(model: Arc<Model>, machine: MachineId, manages: Option<&[String]>) -> Sdk {
        let inv = Inventory::build(&model, machine, manages);
        Sdk {
            model,
            machine,
            inv,
            state: Mutex::new(State::default()),
            notify: tokio::sync::Notify::new(),
            content_xml: std::sync::OnceLock::new(),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The user of a live session cookie (for `/folder`); refreshes it.
    pub fn session_user(&self, cookie: &str) -> Option<String> {
        let now = self.model.clock.now();
        let wall = self.model.clock.wall();
        let mut st = self.lock();
        let s = st.sessions.get_mut(cookie)?;
        if self.model.clock.since(s.last_active) > SESSION_IDLE {
            st.sessions.remove(cookie);
            return None;
        }
        s.last_active = now;
        s.last_active_wall = wall;
        s.user.clone()
    }

    /// Serves one decoded call (waiting, for `WaitForUpdates*`).
    pub async fn call(self: &Arc<Self>, req: Request, caller: Caller) -> Answer {
        if is_wait(&req.method) {
            let mut user = None;
            let r = match self.begin(&req, &caller, &mut user) {
                Err(f) => Err(f),
                Ok(()) => self.wait_for_updates(&req, &caller).await,
            };
            return self.answer(&req, r, user);
        }
        self.call_now(&req, &caller).unwrap_or_else(|| {
            self.answer(&req, Err(VimFault::invalid_request("unreachable")), None)
        })
    }

    /// Serves a call that never waits; `None` for `WaitForUpdates` and
    /// `WaitForUpdatesEx` (see [`Sdk::call`]). The fuzz target drives the
    /// dispatcher through here.
    pub fn call_now(&self, req: &Request, caller: &Caller) -> Option<Answer> {
        if is_wait(&req.method) {
            return None;
        }
        let mut user = None;
        let now = self.model.clock.now();
        let r = self.begin(req, caller, &mut user).and_then(|()| {
            let mut st = self.lock();
            st.current = caller.cookie.clone();
            let r = self.dispatch(&mut st, req, caller, now);
            st.current = None;
            r
        });
        Some(self.answer(req, r, user))
    }

    #[allow(clippy::type_complexity)]
    fn answer(
        &self,
        req: &Request,
        result: Result<(String, Option<String>, Option<String>), VimFault>,
        mut user: Option<String>,
    ) -> Answer {
        let op = format!("{} {}", req.method, req.this.id);
        match result {
            Ok((xml, set_cookie, login)) => {
                if login.is_some() {
                    user = login;
                }
                self.notify.notify_waiters();
                Answer {
                    xml,
                    fault: None,
                    set_cookie,
                    user,
                    op,
                }
            }
            Err(f) => Answer {
                xml: soap::fault(&f),
                fault: Some(f.kind),
                set_cookie: None,
                user,
                op,
            },
        }
    }

    /// Object and session checks common to every call.
    fn begin(
        &self,
        req: &Request,
        caller: &Caller,
        user: &mut Option<String>,
    ) -> Result<(), VimFault> {
        let mut st = self.lock();
        let now = self.model.clock.now();
        st.current = caller.cookie.clone();
        let target = self.resolve(&st, &req.this);
        st.current = None;
        let Some(target) = target else {
            return Err(VimFault::not_found(&req.this));
        };
        // A session (and its user) when there is one.
        if let Some(c) = &caller.cookie {
            let expired = st
                .sessions
                .get(c)
                .map(|s| self.model.clock.since(s.last_active) > SESSION_IDLE)
                .unwrap_or(false);
            if expired {
                st.sessions.remove(c);
                self.drop_session_objects(&mut st, c);
            }
            let wall = self.model.clock.wall();
            if let Some(s) = st.sessions.get_mut(c) {
                s.last_active = now;
                s.last_active_wall = wall;
                s.calls += 1;
                *user = s.user.clone();
            }
        }
        if user.is_none() && !NO_SESSION.contains(&req.method.as_str()) {
            return Err(VimFault::not_authenticated(&req.this));
        }
        // The method must exist for the object's type.
        let ty = match &target {
            Target::Inv(i) => self.inv.obj(*i).mo.ty.clone(),
            _ => req.this.ty.clone(),
        };
        if req.method != "Fetch" && !types().has_method(&ty, &req.method) {
            return Err(VimFault::method_not_found(&req.this, &req.method));
        }
        Ok(())
    }

    fn drop_session_objects(&self, st: &mut State, cookie: &str) {
        st.views.retain(|_, v| v.session != cookie);
        st.filters.retain(|_, f| f.session != cookie);
        st.collectors.retain(|_, s| s != cookie);
        st.pages.retain(|_, p| p.session != cookie);
        st.versions.retain(|(s, _), _| s != cookie);
        st.cancelled.retain(|(s, _)| s != cookie);
    }

    fn target(&self, st: &State, mo: &MoRef) -> Result<Target, VimFault> {
        self.resolve(st, mo).ok_or_else(|| VimFault::not_found(mo))
    }

    #[allow(clippy::type_complexity)]
    fn dispatch(
        &self,
        st: &mut State,
        req: &Request,
        caller: &Caller,
        now: Instant,
    ) -> Result<(String, Option<String>, Option<String>), VimFault> {
        let m = req.method.as_str();
        let b = &req.body;
        let ok = |x: String| Ok((x, None, None));
        let cookie = caller.cookie.clone().unwrap_or_default();
        match m {
            "RetrieveServiceContent" => ok(self
                .content_xml
                .get_or_init(|| {
                    soap::returnval(m, "ServiceContent", Some(&self.service_content().into()))
                })
                .clone()),
            "CurrentTime" => ok(soap::returnval(
                m,
                "xsd:dateTime",
                Some(&self.model.clock.wall().into()),
            )),
            "Login" => self.login(st, req, caller, now),
            "Logout" => {
                st.sessions.remove(&cookie);
                self.drop_session_objects(st, &cookie);
                ok(soap::returnval(m, "void", None))
            }
            "SessionIsActive" => {
                let id = child_text(b, "sessionID").unwrap_or_default();
                let name = child_text(b, "userName").unwrap_or_default();
                let active = st
                    .sessions
                    .values()
                    .any(|s| s.key == id && s.user.as_deref() == Some(name));
                ok(soap::returnval(m, "xsd:boolean", Some(&active.into())))
            }
            "Fetch" => {
                let prop = child_text(b, "prop").unwrap_or_default();
                let target = self.target(st, &req.this)?;
                let ty = match &target {
                    Target::Inv(i) => self.inv.obj(*i).mo.ty.clone(),
                    _ => req.this.ty.clone(),
                };
                let Some(declared) = types().path_type(&ty, prop) else {
                    return Err(VimFault::invalid_property(prop));
                };
                let declared = declared.ty;
                let v = self.get_path(st, &target, prop, now);
                ok(soap::response(m, |out| {
                    if let Some(v) = &v {
                        crate::value::write_top(out, "returnval", declared, v);
                    }
                }))
            }
            "RetrieveProperties" | "RetrievePropertiesEx" => {
                let mut all = Vec::new();
                for s in children(b, "specSet") {
                    let spec = pc::read_spec(s)?;
                    all.extend(self.collect(st, &spec, now)?);
                }
                if m == "RetrieveProperties" {
                    return ok(soap::response(m, |out| {
                        for c in &all {
                            pc::write_content(out, "returnval", c);
                        }
                    }));
                }
                let max = child(b, "options")
                    .and_then(|o| child_text(o, "maxObjects"))
                    .and_then(|t| t.parse::<i64>().ok())
                    .filter(|n| *n > 0)
                    .map(|n| n as usize);
                self.page(st, m, &cookie, all.into(), max)
            }
            "ContinueRetrievePropertiesEx" => {
                let token = child_text(b, "token").unwrap_or_default().to_string();
                let Some(p) = st.pages.remove(&token).filter(|p| p.session == cookie) else {
                    return Err(VimFault::invalid_argument("token"));
                };
                let size = p.size;
                self.page(st, m, &cookie, p.rest, Some(size))
            }
            "CancelRetrievePropertiesEx" => {
                let token = child_text(b, "token").unwrap_or_default();
                st.pages.remove(token);
                ok(soap::returnval(m, "void", None))
            }
            "CreateFilter" => {
                let spec = child(b, "spec").ok_or_else(|| VimFault::invalid_argument("spec"))?;
                let spec = pc::read_spec(spec)?;
                // Checked now, so a bad path is the caller's fault here.
                self.collect(st, &spec, now)?;
                if st.filters.len() >= MAX_OBJECTS {
                    return Err(VimFault::invalid_state("too many property filters"));
                }
                let n = st.next();
                let key = st
                    .sessions
                    .get(&cookie)
                    .map(|s| s.key.clone())
                    .unwrap_or_default();
                let id = format!("session[{key}]{n}");
                st.filters.insert(
                    id.clone(),
                    Filter {
                        session: cookie.clone(),
                        pc: req.this.clone(),
                        spec,
                        partial_updates: child_text(b, "partialUpdates") == Some("true"),
                        last: Reported::new(),
                    },
                );
                ok(soap::returnval(
                    m,
                    "mor:PropertyFilter",
                    Some(&MoRef::new("PropertyFilter", id).into()),
                ))
            }
            "DestroyPropertyFilter" => {
                st.filters.remove(&req.this.id);
                ok(soap::returnval(m, "void", None))
            }
            "CreatePropertyCollector" => {
                if st.collectors.len() >= MAX_OBJECTS {
                    return Err(VimFault::invalid_state("too many property collectors"));
                }
                let n = st.next();
                let key = st
                    .sessions
                    .get(&cookie)
                    .map(|s| s.key.clone())
                    .unwrap_or_default();
                let id = format!("session[{key}]pc-{n}");
                st.collectors.insert(id.clone(), cookie.clone());
                ok(soap::returnval(
                    m,
                    "mor:PropertyCollector",
                    Some(&MoRef::new("PropertyCollector", id).into()),
                ))
            }
            "DestroyPropertyCollector" => {
                if req.this == self.inv.managers.property_collector {
                    return Err(VimFault::invalid_argument("_this"));
                }
                st.collectors.remove(&req.this.id);
                let pc = req.this.clone();
                st.filters.retain(|_, f| f.pc != pc);
                ok(soap::returnval(m, "void", None))
            }
            "CancelWaitForUpdates" => {
                if st.cancelled.len() < MAX_OBJECTS {
                    st.cancelled.insert((cookie.clone(), req.this.id.clone()));
                }
                ok(soap::returnval(m, "void", None))
            }
            "CheckForUpdates" => {
                let version = child_text(b, "version").unwrap_or_default().to_string();
                let set = self.updates(st, &cookie, &req.this, &version, None, now)?;
                ok(soap::response(m, |out| {
                    if let Some(x) = set {
                        out.push_str(
                            &x.replace("<UpdateSet", "<returnval")
                                .replace("</UpdateSet>", "</returnval>"),
                        );
                    }
                }))
            }
            "CreateContainerView" => {
                let container = child(b, "container")
                    .and_then(read_moref)
                    .ok_or_else(|| VimFault::invalid_argument("container"))?;
                let Some(ci) = self.inv.lookup(&container) else {
                    return Err(VimFault::not_found(&container));
                };
                let tys: Vec<String> = children(b, "type")
                    .map(|t| t.text_trim().to_string())
                    .collect();
                if tys.len() > 64 {
                    return Err(VimFault::invalid_argument("type"));
                }
                if let Some(bad) = tys.iter().find(|t| !types().is_managed(t)) {
                    return Err(VimFault::invalid_type(bad));
                }
                if st.views.len() >= MAX_OBJECTS {
                    return Err(VimFault::invalid_state("too many views"));
                }
                let n = st.next();
                let key = st
                    .sessions
                    .get(&cookie)
                    .map(|s| s.key.clone())
                    .unwrap_or_default();
                let id = format!("session[{key}]view-{n}");
                st.views.insert(
                    id.clone(),
                    View {
                        session: cookie.clone(),
                        container: ci,
                        types: tys,
                        recursive: child_text(b, "recursive") == Some("true"),
                    },
                );
                ok(soap::returnval(
                    m,
                    "mor:ContainerView",
                    Some(&MoRef::new("ContainerView", id).into()),
                ))
            }
            "DestroyView" => {
                st.views.remove(&req.this.id);
                ok(soap::returnval(m, "void", None))
            }
            "FindByInventoryPath" => {
                let path = child_text(b, "inventoryPath").unwrap_or_default();
                let found = self.inv.find_path(path).map(|i| self.inv.obj(i).mo.clone());
                ok(soap::returnval(
                    m,
                    "mor:ManagedEntity",
                    found.map(Value::MoRef).as_ref(),
                ))
            }
            "FindChild" => {
                let entity = child(b, "entity")
                    .and_then(read_moref)
                    .ok_or_else(|| VimFault::invalid_argument("entity"))?;
                let Some(ei) = self.inv.lookup(&entity) else {
                    return Err(VimFault::not_found(&entity));
                };
                let name = child_text(b, "name").unwrap_or_default();
                // A datacenter's children are its four folders.
                let found = self
                    .inv
                    .obj(ei)
                    .children
                    .iter()
                    .find(|c| self.inv.obj(**c).name == name)
                    .map(|c| self.inv.obj(*c).mo.clone());
                ok(soap::returnval(
                    m,
                    "mor:ManagedEntity",
                    found.map(Value::MoRef).as_ref(),
                ))
            }
            "FindByUuid" | "FindAllByUuid" | "FindByIp" | "FindAllByIp" | "FindByDnsName"
            | "FindAllByDnsName" => {
                let found = self.find(st, m, b, now);
                let all = m.starts_with("FindAll");
                ok(soap::response(m, |out| {
                    let ti = types();
                    let take = if all { found.len() } else { found.len().min(1) };
                    for mo in found.iter().take(take) {
                        write_elem(
                            ti,
                            out,
                            "returnval",
                            "mor:ManagedEntity",
                            &Value::MoRef(mo.clone()),
                        );
                    }
                }))
            }
            "PowerOnVM_Task" | "PowerOffVM_Task" | "ResetVM_Task" | "SuspendVM_Task"
            | "ShutdownGuest" | "RebootGuest" => self.power(st, req, &cookie, now),
            "SearchDatastore_Task" | "SearchDatastoreSubFolders_Task" => {
                self.search_datastore(st, req, &cookie)
            }
            "QueryEvents" => {
                let filter = child(b, "filter");
                let entity = filter
                    .and_then(|f| child(f, "entity"))
                    .and_then(|e| child(e, "entity"))
                    .and_then(read_moref);
                let max = filter
                    .and_then(|f| child_text(f, "maxCount"))
                    .and_then(|t| t.parse::<usize>().ok())
                    .unwrap_or(1000)
                    .min(MAX_EVENTS);
                let evs: Vec<&Event> = st
                    .events
                    .iter()
                    .rev()
                    .filter(|e| entity.is_none() || e.vm == entity)
                    .take(max)
                    .collect();
                ok(soap::response(m, |out| {
                    let ti = types();
                    for e in evs {
                        write_elem(ti, out, "returnval", "Event", &Value::Data(e.data.clone()));
                    }
                }))
            }
            _ => Err(VimFault::method_not_found(&req.this, m)),
        }
    }

    fn login(
        &self,
        st: &mut State,
        req: &Request,
        caller: &Caller,
        now: Instant,
    ) -> Result<(String, Option<String>, Option<String>), VimFault> {
        let b = &req.body;
        let name = child_text(b, "userName").unwrap_or_default();
        let password = child(b, "password")
            .map(|p| p.text.as_str())
            .unwrap_or_default();
        let Some(user) = self.model.authenticate(self.machine, name, password) else {
            return Err(VimFault::invalid_login());
        };
        if st.sessions.len() >= MAX_SESSIONS {
            // Drop the least recently used.
            if let Some(old) = st
                .sessions
                .values()
                .min_by_key(|s| s.last_active)
                .map(|s| s.cookie.clone())
            {
                st.sessions.remove(&old);
                self.drop_session_objects(st, &old);
            }
        }
        let cookie = random_hex(40);
        let k = random_hex(32);
        let key = format!(
            "52{}-{}-{}-{}-{}",
            &k[2..8],
            &k[8..12],
            &k[12..16],
            &k[16..20],
            &k[20..32]
        );
        let wall = self.model.clock.wall();
        let s = Session {
            cookie: cookie.clone(),
            key,
            user: Some(name.to_string()),
            login_time: wall,
            last_active: now,
            last_active_wall: wall,
            ip: caller.ip.to_string(),
            agent: caller.agent.clone(),
            calls: 1,
        };
        let xml = soap::returnval("Login", "UserSession", Some(&s.user_session().into()));
        st.sessions.insert(cookie.clone(), s);
        let _ = user;
        Ok((xml, Some(cookie), Some(name.to_string())))
    }

    fn page(
        &self,
        st: &mut State,
        m: &str,
        cookie: &str,
        mut all: VecDeque<Content>,
        max: Option<usize>,
    ) -> Result<(String, Option<String>, Option<String>), VimFault> {
        let n = max.unwrap_or(all.len()).min(all.len());
        let now_part: Vec<Content> = all.drain(..n).collect();
        let token = if all.is_empty() {
            None
        } else {
            if st.pages.len() >= MAX_OBJECTS {
                return Err(VimFault::invalid_state("too many pending results"));
            }
            let t = st.next().to_string();
            st.pages.insert(
                t.clone(),
                Page {
                    session: cookie.to_string(),
                    rest: all,
                    size: max.unwrap_or(n),
                },
            );
            Some(t)
        };
        Ok((
            soap::response(m, |out| {
                if now_part.is_empty() && token.is_none() {
                    return;
                }
                out.push_str("<returnval xsi:type=\"RetrieveResult\">");
                if let Some(t) = &token {
                    out.push_str("<token xsi:type=\"xsd:string\">");
                    out.push_str(t);
                    out.push_str("</token>");
                }
                for c in &now_part {
                    pc::write_content(out, "objects", c);
                }
                out.push_str("</returnval>");
            }),
            None,
            None,
        ))
    }

    /// Members of a container view, computed now.
    pub fn view_members(&self, v: &View) -> Vec<usize> {
        let ti = types();
        let mut out = Vec::new();
        let mut stack: Vec<usize> = self
            .inv
            .obj(v.container)
            .children
            .iter()
            .rev()
            .copied()
            .collect();
        while let Some(i) = stack.pop() {
            let o = self.inv.obj(i);
            if v.types.is_empty() || v.types.iter().any(|t| ti.managed_is_a(&o.mo.ty, t)) {
                out.push(i);
            }
            if v.recursive {
                stack.extend(o.children.iter().rev().copied());
            }
        }
        out
    }

    fn find(&self, _st: &State, m: &str, b: &fakedc_xml::Element, now: Instant) -> Vec<MoRef> {
        let want_vm = child_text(b, "vmSearch") != Some("false");
        let inv = &self.inv;
        let mut out = Vec::new();
        if m.ends_with("Uuid") {
            let uuid = child_text(b, "uuid")
                .unwrap_or_default()
                .to_ascii_lowercase();
            let instance = child_text(b, "instanceUuid") == Some("true");
            if want_vm {
                for v in inv.vms() {
                    if let Kind::Vm(h, vi) = inv.obj(v).kind {
                        let Some(vm) = self.model.machine(h).vms.get(vi) else {
                            continue;
                        };
                        let id = if instance {
                            crate::inventory::uuid_of(&format!(
                                "{}/{}/instance",
                                self.model.machine(h).name,
                                vm.name
                            ))
                        } else {
                            self.model
                                .with_chassis(vm.chassis, now, |c| c.hardware.guid_string())
                        };
                        if id == uuid {
                            out.push(inv.obj(v).mo.clone());
                        }
                    }
                }
            } else {
                for h in &inv.hosts {
                    let c = self.model.machine(h.machine).chassis;
                    if self
                        .model
                        .with_chassis(c, now, |c| c.hardware.guid_string())
                        == uuid
                    {
                        out.push(inv.obj(h.host).mo.clone());
                    }
                }
            }
        } else if m.ends_with("Ip") {
            let ip = child_text(b, "ip").unwrap_or_default();
            if want_vm {
                for v in inv.vms() {
                    if let Kind::Vm(h, vi) = inv.obj(v).kind {
                        let g = self.model.machine(h).vms.get(vi).and_then(|vm| vm.guest);
                        if let Some(g) = g {
                            let gm = self.model.machine(g);
                            let up = self.model.with_chassis(gm.chassis, now, |c| c.os_up());
                            if up && gm.address.to_string() == ip {
                                out.push(inv.obj(v).mo.clone());
                            }
                        }
                    }
                }
            } else {
                for h in &inv.hosts {
                    if self.model.machine(h.machine).address.to_string() == ip {
                        out.push(inv.obj(h.host).mo.clone());
                    }
                }
            }
        } else {
            let dns = child_text(b, "dnsName")
                .unwrap_or_default()
                .to_ascii_lowercase();
            if want_vm {
                for v in inv.vms() {
                    if let Kind::Vm(h, vi) = inv.obj(v).kind {
                        let g = self.model.machine(h).vms.get(vi).and_then(|vm| vm.guest);
                        if let Some(g) = g {
                            let gm = self.model.machine(g);
                            let up = self.model.with_chassis(gm.chassis, now, |c| c.os_up());
                            if up
                                && (gm.dns_name.eq_ignore_ascii_case(&dns)
                                    || gm.name.eq_ignore_ascii_case(&dns))
                            {
                                out.push(inv.obj(v).mo.clone());
                            }
                        }
                    }
                }
            } else {
                for h in &inv.hosts {
                    let hm = self.model.machine(h.machine);
                    if hm.dns_name.eq_ignore_ascii_case(&dns) || hm.name.eq_ignore_ascii_case(&dns)
                    {
                        out.push(inv.obj(h.host).mo.clone());
                    }
                }
            }
        }
        out
    }

    /// Records a finished task (and its event) and returns its reference.
    #[allow(clippy::too_many_arguments)]
    pub fn task(
        &self,
        st: &mut State,
        cookie: &str,
        description_id: &str,
        entity: Option<MoRef>,
        entity_name: &str,
        error: Option<VimFault>,
        result: Option<Value>,
    ) -> MoRef {
        let n = st.next();
        let id = match self.inv.api {
            Api::VirtualCenter => format!("task-{n}"),
            Api::HostAgent => format!(
                "haTask-{}-vim.{}-{n}",
                entity.as_ref().map(|e| e.id.as_str()).unwrap_or("ha-host"),
                description_id
            ),
        };
        let mo = MoRef::new("Task", id);
        let user = st
            .sessions
            .get(cookie)
            .and_then(|s| s.user.clone())
            .unwrap_or_default();
        if st.tasks.len() >= MAX_TASKS {
            st.tasks.pop_front();
        }
        st.tasks.push_back(Task {
            mo: mo.clone(),
            description_id: description_id.to_string(),
            entity,
            entity_name: entity_name.to_string(),
            error,
            result,
            queued: self.model.clock.wall(),
            user,
            chain: n as i64,
        });
        mo
    }

    fn event(&self, st: &mut State, cookie: &str, kind: &'static str, vm: usize, msg: String) {
        let key = st.next() as i64;
        let user = st
            .sessions
            .get(cookie)
            .and_then(|s| s.user.clone())
            .unwrap_or_default();
        let o = self.inv.obj(vm);
        let host = match o.kind {
            Kind::Vm(h, _) => self.inv.host_of(h).map(|h| self.inv.obj(h.host)),
            _ => None,
        };
        let dc = self.inv.obj(self.inv.datacenter);
        let data = Data::new(kind)
            .with("key", key)
            .with("chainId", key)
            .with("createdTime", self.model.clock.wall())
            .with("userName", user)
            .with(
                "datacenter",
                Data::new("DatacenterEventArgument")
                    .with("name", dc.name.clone())
                    .with("datacenter", dc.mo.clone()),
            )
            .opt(
                "host",
                host.map(|h| {
                    Data::new("HostEventArgument")
                        .with("name", h.name.clone())
                        .with("host", h.mo.clone())
                }),
            )
            .with(
                "vm",
                Data::new("VmEventArgument")
                    .with("name", o.name.clone())
                    .with("vm", o.mo.clone()),
            )
            .with("fullFormattedMessage", msg);
        if st.events.len() >= MAX_EVENTS {
            st.events.pop_front();
        }
        st.events.push_back(Event {
            key,
            data,
            vm: Some(o.mo.clone()),
        });
    }

    fn power(
        &self,
        st: &mut State,
        req: &Request,
        cookie: &str,
        now: Instant,
    ) -> Result<(String, Option<String>, Option<String>), VimFault> {
        let m = req.method.as_str();
        let Some(i) = self.inv.lookup(&req.this) else {
            return Err(VimFault::not_found(&req.this));
        };
        let Kind::Vm(h, vi) = self.inv.obj(i).kind else {
            return Err(VimFault::method_not_found(&req.this, m));
        };
        let Some(vm) = self.model.machine(h).vms.get(vi).cloned() else {
            return Err(VimFault::not_found(&req.this));
        };
        let name = self.inv.obj(i).name.clone();
        let host = self
            .inv
            .host_of(h)
            .map(|hh| self.inv.obj(hh.host).name.clone())
            .unwrap_or_default();
        let state = self.vm_power(h, vi, now);
        let guest_up = vm
            .guest
            .map(|g| {
                self.model
                    .with_chassis(self.model.machine(g).chassis, now, |c| c.os_up())
            })
            .unwrap_or(false);
        let (need_on, action, desc, event): (
            bool,
            Option<PowerAction>,
            &str,
            (&'static str, String),
        ) = match m {
            "PowerOnVM_Task" => (
                false,
                Some(PowerAction::On),
                "VirtualMachine.powerOn",
                (
                    "VmPoweredOnEvent",
                    format!(
                        "{name} on {host} in {} is powered on",
                        self.inv.obj(self.inv.datacenter).name
                    ),
                ),
            ),
            "PowerOffVM_Task" => (
                true,
                Some(PowerAction::Off),
                "VirtualMachine.powerOff",
                (
                    "VmPoweredOffEvent",
                    format!(
                        "{name} on {host} in {} is powered off",
                        self.inv.obj(self.inv.datacenter).name
                    ),
                ),
            ),
            "ResetVM_Task" => (
                true,
                Some(PowerAction::Reset),
                "VirtualMachine.reset",
                ("VmResettingEvent", format!("{name} on {host} is reset")),
            ),
            "SuspendVM_Task" => (
                true,
                None,
                "VirtualMachine.suspend",
                ("VmSuspendedEvent", format!("{name} on {host} is suspended")),
            ),
            "ShutdownGuest" => (
                true,
                Some(PowerAction::Soft),
                "VirtualMachine.shutdownGuest",
                (
                    "VmGuestShutdownEvent",
                    format!("Guest OS shut down for {name} on {host}"),
                ),
            ),
            _ => (
                true,
                Some(PowerAction::Reset),
                "VirtualMachine.rebootGuest",
                (
                    "VmGuestRebootEvent",
                    format!("Guest OS reboot for {name} on {host}"),
                ),
            ),
        };
        let is_on = state == "poweredOn";
        let wrong = if need_on { !is_on } else { is_on };
        let guest_op = matches!(m, "ShutdownGuest" | "RebootGuest");
        if guest_op {
            // Guest operations fail at once, not as tasks.
            if wrong {
                return Err(VimFault::invalid_power_state("poweredOn", state));
            }
            if !guest_up {
                return Err(VimFault::new(
                    "ToolsUnavailable",
                    "Cannot complete operation because VMware Tools is not running in this virtual machine.",
                ));
            }
        }
        let error = if wrong && !guest_op {
            Some(VimFault::invalid_power_state(
                if need_on { "poweredOn" } else { "poweredOff" },
                state,
            ))
        } else {
            match action {
                Some(a) => self
                    .model
                    .with_chassis(vm.chassis, now, |c| c.power_action(a, now)),
                None => self.model.with_chassis(vm.chassis, now, |c| c.save(now)),
            }
            self.event(st, cookie, event.0, i, event.1);
            None
        };
        if guest_op {
            return Ok((soap::returnval(m, "void", None), None, None));
        }
        let task = self.task(st, cookie, desc, Some(req.this.clone()), &name, error, None);
        Ok((
            soap::returnval(m, "mor:Task", Some(&task.into())),
            None,
            None,
        ))
    }

    /// Property updates for a session's filters on one collector since
    /// `version`: `Some(UpdateSet XML)` when something changed.
    pub fn updates(
        &self,
        st: &mut State,
        cookie: &str,
        pc_ref: &MoRef,
        version: &str,
        max_updates: Option<usize>,
        now: Instant,
    ) -> Result<Option<String>, VimFault> {
        let mut budget = max_updates;
        let mut truncated = false;
        let vkey = (cookie.to_string(), pc_ref.id.clone());
        let current = st.versions.get(&vkey).copied().unwrap_or(0);
        if !version.is_empty() {
            match version.parse::<u64>() {
                Ok(v) if v == current => {}
                _ => {
                    return Err(VimFault::new(
                        "InvalidCollectorVersion",
                        "The collector version is not valid",
                    ))
                }
            }
        }
        let ids: Vec<String> = st
            .filters
            .iter()
            .filter(|(_, f)| f.session == cookie && f.pc == *pc_ref)
            .map(|(id, _)| id.clone())
            .collect();
        let mut out = String::new();
        let mut any = false;
        for id in ids {
            let Some(spec) = st.filters.get(&id).map(|f| f.spec.clone()) else {
                continue;
            };
            let contents = self.collect(st, &spec, now).unwrap_or_default();
            let Some(f) = st.filters.get_mut(&id) else {
                continue;
            };
            if version.is_empty() {
                f.last.clear();
            }
            let ups = pc::diff(&f.last, contents);
            if ups.is_empty() {
                continue;
            }
            let mut body = String::new();
            for u in ups {
                if budget == Some(0) {
                    truncated = true;
                    break;
                }
                body.push_str(&pc::apply(&mut f.last, u));
                budget = budget.map(|b| b - 1);
            }
            if body.is_empty() {
                continue;
            }
            any = true;
            out.push_str("<filterSet xsi:type=\"PropertyFilterUpdate\">");
            pc::write_obj(
                &mut out,
                "filter",
                &MoRef::new("PropertyFilter", id.clone()),
            );
            out.push_str(&body);
            out.push_str("</filterSet>");
        }
        if !any && !version.is_empty() {
            return Ok(None);
        }
        let next = current + 1;
        st.versions.insert(vkey, next);
        if truncated {
            out.push_str("<truncated xsi:type=\"xsd:boolean\">true</truncated>");
        }
        Ok(Some(format!(
            "<UpdateSet xsi:type=\"UpdateSet\"><version xsi:type=\"xsd:string\">{next}</version>{out}</UpdateSet>"
        )))
    }

    #[allow(clippy::type_complexity)]
    async fn wait_for_updates(
        self: &Arc<Self>,
        req: &Request,
        caller: &Caller,
    ) -> Result<(String, Option<String>, Option<String>), VimFault> {
        let m = req.method.as_str();
        let b = &req.body;
        let version = child_text(b, "version").unwrap_or_default().to_string();
        let cookie = caller.cookie.clone().unwrap_or_default();
        let max_wait = if m == "WaitForUpdatesEx" {
            child(b, "options")
                .and_then(|o| child_text(o, "maxWaitSeconds"))
                .and_then(|t| t.parse::<i64>().ok())
                .map(|s| Duration::from_secs(s.clamp(0, 3600) as u64))
        } else {
            None
        };
        // WaitForUpdatesEx's maxObjectUpdates: the rest comes next time,
        // with `truncated` set.
        let max_updates = child(b, "options")
            .and_then(|o| child_text(o, "maxObjectUpdates"))
            .and_then(|t| t.parse::<i64>().ok())
            .filter(|n| *n > 0)
            .map(|n| n as usize);
        let limit = max_wait.unwrap_or(MAX_WAIT);
        let deadline = tokio::time::Instant::now() + limit;
        let key = (cookie.clone(), req.this.id.clone());
        self.lock().cancelled.remove(&key);
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let now = self.model.clock.now();
                let mut st = self.lock();
                if st.cancelled.remove(&key) {
                    return Err(VimFault::new(
                        "RequestCanceled",
                        "The task was canceled by a user.",
                    ));
                }
                st.current = Some(cookie.clone());
                let r = self.updates(&mut st, &cookie, &req.this, &version, max_updates, now);
                st.current = None;
                if let Some(set) = r? {
                    let body = set
                        .replacen("<UpdateSet", "<returnval", 1)
                        .replace("</UpdateSet>", "</returnval>");
                    return Ok((soap::response(m, |out| out.push_str(&body)), None, None));
                }
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok((soap::response(m, |_| {}), None, None));
            }
            // Woken by any change; re-checked at least every second so
            // transitions the model applies lazily (a boot finishing) show.
            let _ = tokio::time::timeout(left.min(Duration::from_secs(1)), notified).await;
        }
    }

    fn search_datastore(
        &self,
        st: &mut State,
        req: &Request,
        cookie: &str,
    ) -> Result<(String, Option<String>, Option<String>), VimFault> {
        let m = req.method.as_str();
        let path = child_text(&req.body, "datastorePath")
            .unwrap_or_default()
            .to_string();
        let pattern: Vec<String> = child(&req.body, "searchSpec")
            .map(|s| {
                children(s, "matchPattern")
                    .map(|p| p.text_trim().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let result =
            crate::folder::search(self, &path, &pattern, m == "SearchDatastoreSubFolders_Task");
        let (error, value) = match result {
            Ok(v) => (None, Some(v)),
            Err(f) => (Some(f), None),
        };
        let ds = self
            .inv
            .hosts
            .first()
            .map(|h| self.inv.obj(h.datastore).clone());
        let desc = if m == "SearchDatastore_Task" {
            "host.DatastoreBrowser.search"
        } else {
            "host.DatastoreBrowser.searchSubFolders"
        };
        let task = self.task(
            st,
            cookie,
            desc,
            ds.as_ref().map(|d| d.mo.clone()),
            ds.as_ref().map(|d| d.name.as_str()).unwrap_or(""),
            error,
            value,
        );
        Ok((
            soap::returnval(m, "mor:Task", Some(&task.into())),
            None,
            None,
        ))
    }
}
