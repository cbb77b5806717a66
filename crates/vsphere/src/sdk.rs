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
            "Destroy_Task",
        ],
    ),
    (
        "HostSystem",
        &["EnterMaintenanceMode_Task", "ExitMaintenanceMode_Task"],
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

/// What a task does when it has run its time (see [`TASK_QUEUED`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// The result was computed at creation (a datastore search); it shows
    /// when the task completes.
    Ready,
    /// A power operation on the VM at this inventory index.
    Power { vm: usize, method: &'static str },
    /// Enter (or leave) maintenance mode on the host at this index; an
    /// entering task waits while VMs run there, until `timeout` (none when
    /// `None`), as a host without DRS does.
    Maintenance {
        host: usize,
        enter: bool,
        timeout: Option<Duration>,
    },
    /// Unregister and delete the VM at this index.
    Destroy { vm: usize },
}

/// How long a task stays `queued`, then `running`, on the model clock, by
/// default (`task_queued_ms`/`task_running_ms` in the scenario change
/// them). vCenter queues a task briefly and runs a power operation for
/// about a second; clients poll or wait for updates, so both states must
/// be visible rather than a task born `success`.
pub const TASK_QUEUED: Duration = Duration::from_millis(200);
pub const TASK_RUNNING: Duration = Duration::from_millis(800);

/// How long this SDK's tasks stay queued and run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskTiming {
    pub queued: Duration,
    pub running: Duration,
}

impl Default for TaskTiming {
    fn default() -> Self {
        TaskTiming {
            queued: TASK_QUEUED,
            running: TASK_RUNNING,
        }
    }
}
/// How often a running task's progress moves (and waiters are woken).
pub const TASK_TICK: Duration = Duration::from_millis(200);

pub struct Task {
    pub mo: MoRef,
    pub description_id: String,
    pub entity: Option<MoRef>,
    pub entity_name: String,
    pub error: Option<VimFault>,
    pub result: Option<Value>,
    /// Model-clock instant of creation: the state follows from it.
    pub created: Instant,
    pub queued: SystemTime,
    /// What is left to do; `None` once the task has completed.
    pub work: Option<Work>,
    /// Wall time of completion, once completed.
    pub completed: Option<SystemTime>,
    /// The timing it was created with.
    pub timing: TaskTiming,
    pub user: String,
    pub chain: i64,
}

impl Task {
    /// `TaskInfo` as of `now`: queued, then running with progress, then
    /// success or error (with start and completion times).
    pub fn info(&self, now: Instant) -> Data {
        let TaskTiming { queued, running } = self.timing;
        let elapsed = now.saturating_duration_since(self.created);
        let started = elapsed >= queued || self.work.is_none();
        let (state, progress) = match self.work {
            None if self.error.is_some() => ("error", Some(100)),
            None => ("success", Some(100)),
            Some(_) if !started => ("queued", None),
            Some(_) => {
                let run =
                    elapsed.saturating_sub(queued).as_millis() * 100 / running.as_millis().max(1);
                ("running", Some(run.min(99) as i64))
            }
        };
        // `name` is the method's WSDL name (pyvmomi resolves it to the
        // method and reads its info while the task runs).
        let name = match self.description_id.as_str() {
            "VirtualMachine.powerOn" => "PowerOnVM_Task",
            "VirtualMachine.powerOff" => "PowerOffVM_Task",
            "VirtualMachine.reset" => "ResetVM_Task",
            "VirtualMachine.suspend" => "SuspendVM_Task",
            "VirtualMachine.destroy" => "Destroy_Task",
            "HostSystem.enterMaintenanceMode" => "EnterMaintenanceMode_Task",
            "HostSystem.exitMaintenanceMode" => "ExitMaintenanceMode_Task",
            "host.DatastoreBrowser.search" => "SearchDatastore_Task",
            "host.DatastoreBrowser.searchSubFolders" => "SearchDatastoreSubFolders_Task",
            other => other.rsplit('.').next().unwrap_or_default(),
        };
        let start = self.queued + queued;
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
                self.error
                    .as_ref()
                    .filter(|_| self.work.is_none())
                    .map(|f| {
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
            .opt(
                "result",
                self.result.clone().filter(|_| self.work.is_none()),
            )
            .opt("progress", progress)
            .with(
                "reason",
                Data::new("TaskReasonUser").with("userName", self.user.clone()),
            )
            .with("queueTime", self.queued)
            .opt("startTime", started.then_some(start))
            .opt("completeTime", self.completed)
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
    /// Some task has not completed (see [`Sdk::settle`]).
    pending: std::sync::atomic::AtomicBool,
    /// A settler task is running (see [`Sdk::call`]).
    settler: std::sync::atomic::AtomicBool,
    /// How long tasks stay queued and run.
    pub timing: TaskTiming,
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
    pub fn new(
        model: Arc<Model>,
        machine: MachineId,
        manages: Option<&[String]>,
        timing: TaskTiming,
    ) -> Sdk {
        let inv = Inventory::build(&model, machine, manages);
        Sdk {
            model,
            machine,
            inv,
            state: Mutex::new(State::default()),
            notify: tokio::sync::Notify::new(),
            content_xml: std::sync::OnceLock::new(),
            pending: std::sync::atomic::AtomicBool::new(false),
            settler: std::sync::atomic::AtomicBool::new(false),
            timing,
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
            let begun = {
                let mut st = self.lock();
                let now = self.model.clock.now();
                self.begin(&mut st, &req, &caller, &mut user, now)
            };
            let r = match begun {
                Err(f) => Err(f),
                Ok(()) => self.wait_for_updates(&req, &caller).await,
            };
            return self.answer(&req, r, user);
        }
        let answer = self.call_now(&req, &caller).unwrap_or_else(|| {
            self.answer(&req, Err(VimFault::invalid_request("unreachable")), None)
        });
        self.kick();
        answer
    }

    /// Starts the settler while tasks are pending: it completes them on
    /// time and wakes waiters at each step (queued → running, progress,
    /// success), so `vim-cmd` sees a power change when the task says
    /// success even if no SDK call comes, and `WaitForUpdates` reports each
    /// state. It ends when nothing is pending; sleeps are capped at a tick
    /// so a clock `advance` is picked up.
    fn kick(self: &Arc<Self>) {
        use std::sync::atomic::Ordering::SeqCst;
        if !self.pending.load(SeqCst) || self.settler.swap(true, SeqCst) {
            return;
        }
        let sdk = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(TASK_TICK).await;
                {
                    let now = sdk.model.clock.now();
                    let mut st = sdk.lock();
                    if !sdk.settle(&mut st, now) {
                        sdk.settler.store(false, SeqCst);
                        drop(st);
                        sdk.notify.notify_waiters();
                        break;
                    }
                }
                sdk.notify.notify_waiters();
            }
        });
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
        // One lock for the checks and the call.
        let mut st = self.lock();
        let r = self
            .begin(&mut st, req, caller, &mut user, now)
            .and_then(|()| {
                if self.pending.load(std::sync::atomic::Ordering::SeqCst) {
                    self.settle(&mut st, now);
                }
                st.current.clone_from(&caller.cookie);
                let r = self.dispatch(&mut st, req, caller, now);
                st.current = None;
                r
            });
        drop(st);
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

    /// Object and session checks common to every call, at the call's
    /// `now` (one clock read per call: each was a `clock_gettime`).
    fn begin(
        &self,
        st: &mut State,
        req: &Request,
        caller: &Caller,
        user: &mut Option<String>,
        now: Instant,
    ) -> Result<(), VimFault> {
        st.current.clone_from(&caller.cookie);
        let target = self.resolve(st, &req.this);
        st.current = None;
        let Some(target) = target else {
            return Err(VimFault::not_found(&req.this));
        };
        // A session (and its user) when there is one.
        if let Some(c) = &caller.cookie {
            let expired = st
                .sessions
                .get(c)
                .map(|s| now.saturating_duration_since(s.last_active) > SESSION_IDLE)
                .unwrap_or(false);
            if expired {
                st.sessions.remove(c);
                self.drop_session_objects(st, c);
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
            Target::Inv(i) => self.inv.obj(*i).mo.ty.as_str(),
            _ => req.this.ty.as_str(),
        };
        if req.method != "Fetch" && !types().has_method(ty, &req.method) {
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
                let found = self
                    .inv
                    .find_path(path)
                    .filter(|i| !self.gone(*i))
                    .map(|i| self.inv.obj(i).mo.clone());
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
                    .find(|c| self.inv.obj(**c).name == name && !self.gone(**c))
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
            "Destroy_Task" | "EnterMaintenanceMode_Task" | "ExitMaintenanceMode_Task" => {
                self.entity_task(st, req, &cookie)
            }
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
            if self.gone(i) {
                continue;
            }
            let o = self.inv.obj(i);
            if v.types.is_empty() || v.types.iter().any(|t| self.inv.is_a(i, t)) {
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
                for v in self.live_vms() {
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
                for v in self.live_vms() {
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
                for v in self.live_vms() {
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

    /// Records a task and returns its reference. `work` is what it does
    /// when it has run; `Work::Ready` with `error`/`result` already known.
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
        work: Work,
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
            // The oldest completed task goes; a full queue of running
            // ones drops the oldest (its work is lost, as on a restart).
            let i = st.tasks.iter().position(|t| t.work.is_none()).unwrap_or(0);
            st.tasks.remove(i);
        }
        st.tasks.push_back(Task {
            mo: mo.clone(),
            description_id: description_id.to_string(),
            entity,
            entity_name: entity_name.to_string(),
            error,
            result,
            created: self.model.clock.now(),
            queued: self.model.clock.wall(),
            work: Some(work),
            completed: None,
            timing: self.timing,
            user,
            chain: n as i64,
        });
        self.pending
            .store(true, std::sync::atomic::Ordering::SeqCst);
        mo
    }

    /// Completes every task whose time has come (doing its work on the
    /// model now, so the change and `success` show together, as on
    /// vCenter). Returns whether any task is still pending.
    pub fn settle(&self, st: &mut State, now: Instant) -> bool {
        let mut pending = false;
        for i in 0..st.tasks.len() {
            let Some((work, created, queued, user, timing)) = st.tasks.get(i).and_then(|t| {
                t.work
                    .map(|w| (w, t.created, t.queued, t.user.clone(), t.timing))
            }) else {
                continue;
            };
            let elapsed = now.saturating_duration_since(created);
            let due = timing.queued + timing.running;
            if elapsed < due {
                pending = true;
                continue;
            }
            let outcome = self.run(st, work, &user, elapsed.saturating_sub(due), now);
            let Some(t) = st.tasks.get_mut(i) else {
                continue;
            };
            match outcome {
                None => pending = true,
                Some(Err(f)) => {
                    t.error = Some(f);
                    t.work = None;
                }
                Some(Ok(())) => t.work = None,
            }
            if t.work.is_none() {
                let took = match work {
                    Work::Maintenance { .. } => elapsed,
                    _ => due,
                };
                t.completed = Some(queued + took);
            }
        }
        self.pending
            .store(pending, std::sync::atomic::Ordering::SeqCst);
        pending
    }

    /// Does a task's work; `None` while it must keep waiting (`waited`:
    /// how long past its due time).
    fn run(
        &self,
        st: &mut State,
        work: Work,
        user: &str,
        waited: Duration,
        now: Instant,
    ) -> Option<Result<(), VimFault>> {
        match work {
            Work::Ready => Some(Ok(())),
            Work::Power { vm, method } => Some(self.power_now(st, vm, method, user, now)),
            Work::Destroy { vm } => Some(self.destroy_now(st, vm, user, now)),
            Work::Maintenance {
                host,
                enter,
                timeout,
            } => {
                let Kind::Host(m) = self.inv.obj(host).kind else {
                    return Some(Err(VimFault::invalid_state("not a host")));
                };
                let chassis = self.model.machine(m).chassis;
                let inside = self.model.with_chassis(chassis, now, |c| c.maintenance);
                let host_state = || {
                    VimFault::new(
                        "InvalidState",
                        "The operation is not allowed in the current state.",
                    )
                };
                if !enter {
                    if !inside {
                        return Some(Err(host_state()));
                    }
                    self.model.with_chassis(chassis, now, |c| {
                        c.maintenance = false;
                        c.generation += 1;
                    });
                    self.host_event(
                        st,
                        user,
                        "ExitMaintenanceModeEvent",
                        host,
                        "has exited maintenance mode",
                    );
                    return Some(Ok(()));
                }
                if inside {
                    return Some(Err(host_state()));
                }
                // A host without DRS enters once its VMs are off.
                let running = self
                    .live_vms()
                    .filter(|v| matches!(self.inv.obj(*v).kind, Kind::Vm(h, _) if h == m))
                    .any(|v| match self.inv.obj(v).kind {
                        Kind::Vm(h, vi) => self.vm_power(h, vi, now) != "poweredOff",
                        _ => false,
                    });
                if running {
                    return match timeout {
                        Some(t) if waited >= t => {
                            Some(Err(VimFault::new("Timedout", "Operation timed out.")))
                        }
                        _ => None,
                    };
                }
                self.model.with_chassis(chassis, now, |c| {
                    c.maintenance = true;
                    c.generation += 1;
                });
                self.host_event(
                    st,
                    user,
                    "EnteredMaintenanceModeEvent",
                    host,
                    "has entered maintenance mode",
                );
                Some(Ok(()))
            }
        }
    }

    /// A host event (`Host esx01 in DC0 has entered maintenance mode`).
    fn host_event(&self, st: &mut State, user: &str, kind: &'static str, host: usize, what: &str) {
        let o = self.inv.obj(host);
        let dc = self.inv.obj(self.inv.datacenter).name.clone();
        let msg = format!("Host {} in {dc} {what}", o.name);
        self.event(st, user, kind, host, msg);
    }

    fn event(&self, st: &mut State, user: &str, kind: &'static str, obj: usize, msg: String) {
        let key = st.next() as i64;
        let o = self.inv.obj(obj);
        let (host, vm) = match o.kind {
            Kind::Vm(h, _) => (self.inv.host_of(h).map(|h| self.inv.obj(h.host)), Some(o)),
            Kind::Host(_) => (Some(o), None),
            _ => (None, None),
        };
        let dc = self.inv.obj(self.inv.datacenter);
        let data = Data::new(kind)
            .with("key", key)
            .with("chainId", key)
            .with("createdTime", self.model.clock.wall())
            .with("userName", user.to_string())
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
            .opt(
                "vm",
                vm.map(|v| {
                    Data::new("VmEventArgument")
                        .with("name", v.name.clone())
                        .with("vm", v.mo.clone())
                }),
            )
            .with("fullFormattedMessage", msg)
            .opt("template", vm.map(|_| false));
        if st.events.len() >= MAX_EVENTS {
            st.events.pop_front();
        }
        st.events.push_back(Event {
            key,
            data,
            vm: Some(o.mo.clone()),
        });
    }

    /// A power method: guest operations act at once (they are not tasks);
    /// the others return a task that does the work when it has run.
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
        let Kind::Vm(..) = self.inv.obj(i).kind else {
            return Err(VimFault::method_not_found(&req.this, m));
        };
        let (method, desc): (&'static str, &str) = match m {
            "PowerOnVM_Task" => ("PowerOnVM_Task", "VirtualMachine.powerOn"),
            "PowerOffVM_Task" => ("PowerOffVM_Task", "VirtualMachine.powerOff"),
            "ResetVM_Task" => ("ResetVM_Task", "VirtualMachine.reset"),
            "SuspendVM_Task" => ("SuspendVM_Task", "VirtualMachine.suspend"),
            "ShutdownGuest" => ("ShutdownGuest", ""),
            _ => ("RebootGuest", ""),
        };
        let user = st
            .sessions
            .get(cookie)
            .and_then(|s| s.user.clone())
            .unwrap_or_default();
        if desc.is_empty() {
            self.power_now(st, i, method, &user, now)?;
            return Ok((soap::returnval(m, "void", None), None, None));
        }
        let name = self.inv.obj(i).name.clone();
        let task = self.task(
            st,
            cookie,
            desc,
            Some(req.this.clone()),
            &name,
            None,
            None,
            Work::Power { vm: i, method },
        );
        Ok((
            soap::returnval(m, "mor:Task", Some(&task.into())),
            None,
            None,
        ))
    }

    /// Does a power method on the model (when its task completes, or at
    /// once for the guest operations), with its event.
    fn power_now(
        &self,
        st: &mut State,
        i: usize,
        m: &'static str,
        user: &str,
        now: Instant,
    ) -> Result<(), VimFault> {
        let Kind::Vm(h, vi) = self.inv.obj(i).kind else {
            return Err(VimFault::invalid_state("not a virtual machine"));
        };
        let Some(vm) = self.model.machine(h).vms.get(vi).cloned() else {
            return Err(VimFault::not_found(&self.inv.obj(i).mo));
        };
        if !self.model.vm_present(&vm) {
            return Err(VimFault::not_found(&self.inv.obj(i).mo));
        }
        let name = self.inv.obj(i).name.clone();
        let host = self
            .inv
            .host_of(h)
            .map(|hh| self.inv.obj(hh.host).name.clone())
            .unwrap_or_default();
        let dc = self.inv.obj(self.inv.datacenter).name.clone();
        let state = self.vm_power(h, vi, now);
        let guest_up = vm
            .guest
            .map(|g| {
                self.model
                    .with_chassis(self.model.machine(g).chassis, now, |c| c.os_up())
            })
            .unwrap_or(false);
        let (need_on, action, event): (bool, Option<PowerAction>, (&'static str, String)) = match m
        {
            "PowerOnVM_Task" => (
                false,
                Some(PowerAction::On),
                (
                    "VmPoweredOnEvent",
                    format!("{name} on {host} in {dc} is powered on"),
                ),
            ),
            "PowerOffVM_Task" => (
                true,
                Some(PowerAction::Off),
                (
                    "VmPoweredOffEvent",
                    format!("{name} on {host} in {dc} is powered off"),
                ),
            ),
            "ResetVM_Task" => (
                true,
                Some(PowerAction::Reset),
                ("VmResettingEvent", format!("{name} on {host} is reset")),
            ),
            "SuspendVM_Task" => (
                true,
                None,
                ("VmSuspendedEvent", format!("{name} on {host} is suspended")),
            ),
            "ShutdownGuest" => (
                true,
                Some(PowerAction::Soft),
                (
                    "VmGuestShutdownEvent",
                    format!("Guest OS shut down for {name} on {host}"),
                ),
            ),
            _ => (
                true,
                Some(PowerAction::Reset),
                (
                    "VmGuestRebootEvent",
                    format!("Guest OS reboot for {name} on {host}"),
                ),
            ),
        };
        let is_on = state == "poweredOn";
        if need_on != is_on {
            return Err(VimFault::invalid_power_state(
                if need_on { "poweredOn" } else { "poweredOff" },
                state,
            ));
        }
        if matches!(m, "ShutdownGuest" | "RebootGuest") && !guest_up {
            return Err(VimFault::new(
                "ToolsUnavailable",
                "Cannot complete operation because VMware Tools is not running in this virtual machine.",
            ));
        }
        if m == "PowerOnVM_Task" {
            let host_chassis = self.model.machine(h).chassis;
            if self
                .model
                .with_chassis(host_chassis, now, |c| c.maintenance)
            {
                // vCenter refuses to start a VM on a host in maintenance.
                return Err(VimFault::new(
                    "InvalidHostState",
                    "The operation is not allowed in the current state of the host.",
                )
                .with(
                    "host",
                    self.inv
                        .host_of(h)
                        .map(|hh| self.inv.obj(hh.host).mo.clone())
                        .unwrap_or_else(|| MoRef::new("HostSystem", "ha-host")),
                ));
            }
        }
        match action {
            Some(a) => self
                .model
                .with_chassis(vm.chassis, now, |c| c.power_action(a, now)),
            None => self.model.with_chassis(vm.chassis, now, |c| c.save(now)),
        }
        self.event(st, user, event.0, i, event.1);
        Ok(())
    }

    /// `Destroy_Task` of a VM: only a powered-off VM can be destroyed.
    fn destroy_now(
        &self,
        st: &mut State,
        i: usize,
        user: &str,
        now: Instant,
    ) -> Result<(), VimFault> {
        let Kind::Vm(h, vi) = self.inv.obj(i).kind else {
            return Err(VimFault::invalid_state("not a virtual machine"));
        };
        let Some(vm) = self.model.machine(h).vms.get(vi).cloned() else {
            return Err(VimFault::not_found(&self.inv.obj(i).mo));
        };
        let state = self.vm_power(h, vi, now);
        if state != "poweredOff" {
            return Err(VimFault::invalid_power_state("poweredOff", state));
        }
        let name = self.inv.obj(i).name.clone();
        let host = self
            .inv
            .host_of(h)
            .map(|hh| self.inv.obj(hh.host).name.clone())
            .unwrap_or_default();
        let dc = self.inv.obj(self.inv.datacenter).name.clone();
        // The event names the VM, so it is written before it goes.
        self.event(
            st,
            user,
            "VmRemovedEvent",
            i,
            format!("Removed {name} on {host} from {dc}"),
        );
        let gone = self.model.with_chassis(vm.chassis, now, |c| {
            let was = c.removed;
            c.removed = true;
            c.generation += 1;
            was
        });
        if gone {
            return Err(VimFault::not_found(&self.inv.obj(i).mo));
        }
        Ok(())
    }

    /// `EnterMaintenanceMode_Task`, `ExitMaintenanceMode_Task` and
    /// `Destroy_Task`: a task whose work is done when it completes.
    fn entity_task(
        &self,
        st: &mut State,
        req: &Request,
        cookie: &str,
    ) -> Result<(String, Option<String>, Option<String>), VimFault> {
        let m = req.method.as_str();
        let Some(i) = self.inv.lookup(&req.this) else {
            return Err(VimFault::not_found(&req.this));
        };
        let o = self.inv.obj(i);
        let (desc, work) = match (m, &o.kind) {
            ("Destroy_Task", Kind::Vm(..)) => ("VirtualMachine.destroy", Work::Destroy { vm: i }),
            ("EnterMaintenanceMode_Task", Kind::Host(_)) => {
                let timeout = child_text(&req.body, "timeout")
                    .and_then(|t| t.trim().parse::<i64>().ok())
                    .filter(|t| *t > 0)
                    .map(|t| Duration::from_secs(t.min(86_400) as u64));
                (
                    "HostSystem.enterMaintenanceMode",
                    Work::Maintenance {
                        host: i,
                        enter: true,
                        timeout,
                    },
                )
            }
            ("ExitMaintenanceMode_Task", Kind::Host(_)) => (
                "HostSystem.exitMaintenanceMode",
                Work::Maintenance {
                    host: i,
                    enter: false,
                    timeout: None,
                },
            ),
            // Destroying folders, hosts, datacenters... is not built.
            _ => return Err(VimFault::method_not_found(&req.this, m)),
        };
        let name = o.name.clone();
        let task = self.task(
            st,
            cookie,
            desc,
            Some(req.this.clone()),
            &name,
            None,
            None,
            work,
        );
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
                if self.pending.load(std::sync::atomic::Ordering::SeqCst) {
                    self.settle(&mut st, now);
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
            Work::Ready,
        );
        Ok((
            soap::returnval(m, "mor:Task", Some(&task.into())),
            None,
            None,
        ))
    }
}
