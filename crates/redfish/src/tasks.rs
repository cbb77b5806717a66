//! TaskService and task monitors (DSP0266 "Asynchronous operations"): a
//! long action answers 202 with a `Location` naming a task monitor; the
//! monitor answers 202 while the task runs and the operation's own final
//! answer once it is done; `Tasks/{id}` shows `TaskState`,
//! `PercentComplete` and the task's `Messages` throughout.
//!
//! The one long action is `UpdateService.SimpleUpdate` (`update`): its task
//! waits for the image transfer (made by the HTTP glue, which reports back
//! through [`Tasks::transferred`]), then installs for the BMC's update time
//! on the model clock and writes the new version into the chassis's
//! hardware identity, where IPMI's Get Device ID and SMASH's
//! SoftwareIdentity read it too. Tasks are settled lazily, on every request
//! for the BMC and when the glue's timer or a clock `advance` wakes it, so
//! no task needs a thread of its own.

use crate::api::{error, method_not_allowed, not_found, Reply};
use fakedc_model::timefmt::utc_date_time_or_epoch;
use fakedc_model::{MachineId, Model};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const SERVICE: &str = "/redfish/v1/TaskService";
pub const TASKS: &str = "/redfish/v1/TaskService/Tasks";
pub const MONITORS: &str = "/redfish/v1/TaskService/TaskMonitors";
/// Tasks kept per BMC; the oldest finished one makes room
/// (`CompletedTaskOverWritePolicy: Oldest`).
pub const MAX_TASKS: usize = 16;
/// The TaskEvent registry the task messages cite.
const TASK_EVENT: &str = "TaskEvent.1.0";
/// The Update registry the update messages cite.
pub(crate) const UPDATE: &str = "Update.1.0";

/// The firmware a SimpleUpdate writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The BMC's firmware (`Hardware::bmc_firmware`: IPMI Get Device ID).
    Bmc,
    /// The host's BIOS (`Hardware::bios_version`: SMBIOS, FRU, CIM).
    Bios,
}

impl Target {
    pub fn id(self) -> &'static str {
        match self {
            Target::Bmc => "BMC",
            Target::Bios => "BIOS",
        }
    }
}

/// Where a task is.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// Waiting for the glue to fetch the image.
    Transferring,
    /// Image received and verified; the flash ends at `until`.
    Installing { since: Instant, until: Instant },
    /// Finished: `Completed`, `Exception` or `Cancelled`.
    Done { state: &'static str, end_unix: u64 },
}

/// One firmware update task.
#[derive(Debug, Clone)]
struct Task {
    id: u32,
    start_unix: u64,
    phase: Phase,
    image: String,
    targets: Vec<Target>,
    /// The version the image carries (from its file name), if any.
    version: Option<String>,
    install: Duration,
    messages: Vec<Value>,
}

#[derive(Default)]
struct BmcTasks {
    next: u32,
    list: Vec<Task>,
}

/// Every BMC's tasks: the only task state, kept beside the sessions.
#[derive(Default)]
pub struct Tasks {
    by_bmc: Mutex<HashMap<MachineId, BmcTasks>>,
    /// Tasks not yet done, over every BMC: requests skip the settle
    /// (a lock and a scan) when it is 0, which is nearly always.
    open: AtomicUsize,
}

/// What the glue must fetch for a new task.
pub struct Fetch {
    pub bmc: MachineId,
    pub task: u32,
    pub url: String,
    /// `Username`/`Password` of the action, sent as Basic to the image's
    /// server; never journaled nor shown in the task.
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for Fetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetch")
            .field("bmc", &self.bmc)
            .field("task", &self.task)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// A registry message as a task's `Messages` carries it.
pub(crate) fn message(
    registry: &str,
    key: &str,
    text: String,
    severity: &str,
    args: &[&str],
) -> Value {
    json!({
        "MessageId": format!("{registry}.{key}"),
        "Message": text,
        "MessageArgs": args,
        "MessageSeverity": severity,
    })
}

fn task_uri(id: u32) -> String {
    format!("{TASKS}/{id}")
}

pub fn monitor_uri(id: u32) -> String {
    format!("{MONITORS}/{id}")
}

fn datetime(unix: u64) -> String {
    format!(
        "{}+00:00",
        utc_date_time_or_epoch(i64::try_from(unix).unwrap_or(i64::MAX))
    )
}

impl Task {
    fn done(&self) -> bool {
        matches!(self.phase, Phase::Done { .. })
    }

    fn percent(&self, now: Instant) -> u64 {
        match &self.phase {
            Phase::Transferring => 10,
            Phase::Installing { since, until } => {
                let total = until.saturating_duration_since(*since).as_millis().max(1);
                let gone = now.saturating_duration_since(*since).as_millis().min(total);
                // 30% once the image is verified, the rest while flashing.
                30 + u64::try_from(gone * 69 / total).unwrap_or(69)
            }
            Phase::Done { .. } => 100,
        }
    }

    fn state(&self) -> &'static str {
        match &self.phase {
            Phase::Transferring | Phase::Installing { .. } => "Running",
            Phase::Done { state, .. } => state,
        }
    }

    fn json(&self, now: Instant) -> Value {
        let state = self.state();
        let status = match state {
            "Exception" => "Critical",
            "Cancelled" => "Warning",
            _ => "OK",
        };
        let mut v = json!({
            "@odata.id": task_uri(self.id),
            "@odata.type": "#Task.v1_7_4.Task",
            "Id": self.id.to_string(),
            "Name": "Firmware update",
            "TaskState": state,
            "TaskStatus": status,
            "StartTime": datetime(self.start_unix),
            "PercentComplete": self.percent(now),
            "TaskMonitor": monitor_uri(self.id),
            "Messages": self.messages,
        });
        if let Phase::Done { end_unix, .. } = self.phase {
            v["EndTime"] = json!(datetime(end_unix));
        }
        v
    }

    fn finish(&mut self, state: &'static str, end_unix: u64, msgs: Vec<Value>) {
        let id = self.id.to_string();
        self.messages.extend(msgs);
        self.messages.push(match state {
            "Completed" => message(
                TASK_EVENT,
                "TaskCompletedOK",
                format!("The task with Id '{id}' has completed."),
                "OK",
                &[&id],
            ),
            "Cancelled" => message(
                TASK_EVENT,
                "TaskCancelled",
                format!("Work on the task with Id '{id}' was halted prior to completion due to an explicit request."),
                "Warning",
                &[&id],
            ),
            _ => message(
                TASK_EVENT,
                "TaskAborted",
                format!("The task with Id '{id}' has completed with errors."),
                "Critical",
                &[&id],
            ),
        });
        self.phase = Phase::Done { state, end_unix };
    }
}

/// The new task a SimpleUpdate asks for.
pub struct NewUpdate {
    pub image: String,
    pub targets: Vec<Target>,
    pub version: Option<String>,
    pub install: Duration,
    pub credentials: Option<(String, String)>,
}

impl Tasks {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<MachineId, BmcTasks>> {
        self.by_bmc.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts an update task; `Err` is the refusal (one update at a time,
    /// a full table of running tasks).
    pub fn start_update(
        &self,
        model: &Model,
        bmc: MachineId,
        u: NewUpdate,
    ) -> Result<(Reply, Fetch), Reply> {
        let mut t = self.table();
        let b = t.entry(bmc).or_default();
        if b.list.iter().any(|x| !x.done()) {
            // A BMC flashes one image at a time.
            return Err(error(
                409,
                "ResourceInUse",
                "The change to the requested resource failed because the resource is in use or in transition.".into(),
                "Warning",
                "Remove the condition and resubmit the request if the operation failed.",
            ));
        }
        if b.list.len() >= MAX_TASKS {
            // Every kept task is done here: the oldest goes.
            b.list.remove(0);
        }
        b.next = b.next.wrapping_add(1).max(1);
        let id = b.next;
        let ids = id.to_string();
        let mut messages = vec![message(
            TASK_EVENT,
            "TaskStarted",
            format!("The task with Id '{ids}' has started."),
            "OK",
            &[&ids],
        )];
        for tg in &u.targets {
            messages.push(message(
                UPDATE,
                "TransferringToComponent",
                format!("Image '{}' is being transferred to '{}'.", u.image, tg.id()),
                "OK",
                &[&u.image, tg.id()],
            ));
        }
        let task = Task {
            id,
            start_unix: model.clock.unix_secs(),
            phase: Phase::Transferring,
            image: u.image.clone(),
            targets: u.targets,
            version: u.version,
            install: u.install,
            messages,
        };
        let body = task.json(model.clock.now());
        b.list.push(task);
        self.open.fetch_add(1, Ordering::Relaxed);
        let mut r = Reply::json(202, &body);
        r.headers.push(("Location", monitor_uri(id)));
        r.headers.push(("Retry-After", "1".into()));
        Ok((
            r,
            Fetch {
                bmc,
                task: id,
                url: u.image,
                credentials: u.credentials,
            },
        ))
    }

    /// The glue's report on a task's image transfer: `Ok(bytes)` or why
    /// it failed. Returns when the install ends (for the glue's timer).
    pub fn transferred(
        &self,
        model: &Model,
        bmc: MachineId,
        id: u32,
        result: Result<usize, String>,
        now: Instant,
    ) -> Option<Instant> {
        let mut t = self.table();
        let task = t
            .get_mut(&bmc)?
            .list
            .iter_mut()
            .find(|x| x.id == id && x.phase == Phase::Transferring)?;
        let end = model.clock.unix_secs();
        let image = task.image.clone();
        let fail = |task: &mut Task, key: &str, verb: &str, why: Option<&str>| {
            let msgs = task
                .targets
                .iter()
                .map(|tg| {
                    let mut m = message(
                        UPDATE,
                        key,
                        format!("{verb} of image '{image}' to '{}' failed.", tg.id()),
                        "Critical",
                        &[&image, tg.id()],
                    );
                    if let Some(w) = why {
                        m["Resolution"] = json!(w);
                    }
                    m
                })
                .collect();
            task.finish("Exception", end, msgs);
        };
        match result {
            Err(why) => {
                fail(task, "TransferFailed", "Transfer", Some(&why));
                self.open.fetch_sub(1, Ordering::Relaxed);
                None
            }
            Ok(_) if task.version.is_none() => {
                // The image names no version: the BMC cannot tell what it is.
                let msgs = task
                    .targets
                    .iter()
                    .map(|tg| {
                        message(
                            UPDATE,
                            "VerificationFailed",
                            format!("Verification of image '{image}' at '{}' failed.", tg.id()),
                            "Critical",
                            &[&image, tg.id()],
                        )
                    })
                    .collect();
                task.finish("Exception", end, msgs);
                self.open.fetch_sub(1, Ordering::Relaxed);
                None
            }
            Ok(_) => {
                for tg in task.targets.clone() {
                    task.messages.push(message(
                        UPDATE,
                        "InstallingOnComponent",
                        format!("Image '{image}' is being installed on '{}'.", tg.id()),
                        "OK",
                        &[&image, tg.id()],
                    ));
                }
                let until = now + task.install;
                task.phase = Phase::Installing { since: now, until };
                Some(until)
            }
        }
    }

    /// Finishes every install of `bmc` that is due: the new version goes
    /// into the chassis (one state: IPMI and SMASH read it there).
    pub fn settle(&self, model: &Model, bmc: MachineId, now: Instant) {
        if self.open.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut t = self.table();
        let Some(b) = t.get_mut(&bmc) else { return };
        for task in b.list.iter_mut() {
            let Phase::Installing { until, .. } = task.phase else {
                continue;
            };
            if now < until {
                continue;
            }
            let version = task.version.clone().unwrap_or_default();
            let targets = task.targets.clone();
            model.with_chassis(model.machine(bmc).chassis, now, |c| {
                for tg in &targets {
                    match tg {
                        Target::Bmc => c.hardware.bmc_firmware = version.clone(),
                        Target::Bios => c.hardware.bios_version = version.clone(),
                    }
                }
            });
            let image = task.image.clone();
            let msgs = targets
                .iter()
                .map(|tg| {
                    message(
                        UPDATE,
                        "UpdateSuccessful",
                        format!(
                            "Device '{}' successfully updated with image '{image}'.",
                            tg.id()
                        ),
                        "OK",
                        &[tg.id(), &image],
                    )
                })
                .collect();
            // The end is when the install was due, on the wall clock.
            let late = now.saturating_duration_since(until).as_secs();
            let end = model.clock.unix_secs().saturating_sub(late);
            task.finish("Completed", end, msgs);
            self.open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The TaskService resources: the service, the collection, a task and
    /// its monitor. `None` when `path` is none of them.
    pub fn route(
        &self,
        model: &Model,
        bmc: MachineId,
        now: Instant,
        m: &str,
        path: &str,
        may_cancel: bool,
    ) -> Option<Reply> {
        if path == SERVICE {
            return Some(match m {
                "GET" => Reply::resource(&json!({
                    "@odata.id": SERVICE,
                    "@odata.type": "#TaskService.v1_3_0.TaskService",
                    "Id": "TaskService",
                    "Name": "Task Service",
                    "ServiceEnabled": true,
                    "CompletedTaskOverWritePolicy": "Oldest",
                    "LifeCycleEventOnTaskStateChange": false,
                    "DateTime": datetime(model.clock.unix_secs()),
                    "Status": { "State": "Enabled", "Health": "OK" },
                    "Tasks": { "@odata.id": TASKS },
                })),
                _ => method_not_allowed(m, path, "GET"),
            });
        }
        if path == TASKS {
            let members: Vec<Value> = self
                .table()
                .get(&bmc)
                .map(|b| {
                    b.list
                        .iter()
                        .map(|t| json!({ "@odata.id": task_uri(t.id) }))
                        .collect()
                })
                .unwrap_or_default();
            return Some(match m {
                "GET" => Reply::resource(&json!({
                    "@odata.id": TASKS,
                    "@odata.type": "#TaskCollection.TaskCollection",
                    "Name": "Task Collection",
                    "Members@odata.count": members.len(),
                    "Members": members,
                })),
                _ => method_not_allowed(m, path, "GET"),
            });
        }
        let (monitor, id) = if let Some(id) = path.strip_prefix(&format!("{TASKS}/")) {
            (false, id)
        } else if let Some(id) = path.strip_prefix(&format!("{MONITORS}/")) {
            (true, id)
        } else if path == MONITORS {
            return Some(not_found(path));
        } else {
            return None;
        };
        let Some(id) = id.parse::<u32>().ok().filter(|n| n.to_string() == id) else {
            return Some(not_found(path));
        };
        let mut t = self.table();
        let Some(b) = t.get_mut(&bmc) else {
            return Some(not_found(path));
        };
        let Some(pos) = b.list.iter().position(|x| x.id == id) else {
            return Some(not_found(path));
        };
        Some(match (monitor, m) {
            (false, "GET") => Reply::resource(&b.list[pos].json(now)),
            (false, _) => method_not_allowed(m, path, "GET"),
            (true, "GET") => monitor_answer(&b.list[pos], now),
            (true, "DELETE") if !may_cancel => crate::api::insufficient(),
            (true, "DELETE") => {
                // Cancels a running task; a finished one's monitor goes.
                let task = &mut b.list[pos];
                if task.done() {
                    b.list.remove(pos);
                } else {
                    task.finish("Cancelled", model.clock.unix_secs(), Vec::new());
                    self.open.fetch_sub(1, Ordering::Relaxed);
                }
                Reply::empty(204)
            }
            (true, _) => method_not_allowed(m, path, "GET, DELETE"),
        })
    }
}

/// A task monitor's answer: 202 with the task while it runs; when done,
/// the action's own answer (204 for an update that completed; an error
/// carrying the task's failure messages otherwise).
fn monitor_answer(task: &Task, now: Instant) -> Reply {
    match task.state() {
        "Running" => {
            let mut r = Reply::json(202, &task.json(now));
            r.headers.push(("Location", monitor_uri(task.id)));
            r.headers.push(("Retry-After", "1".into()));
            r
        }
        "Completed" => Reply::empty(204),
        state => {
            // Base's GeneralError: "see @Message.ExtendedInfo", which
            // carries the task's own messages saying what went wrong.
            let mut r = error(
                if state == "Cancelled" { 409 } else { 500 },
                "GeneralError",
                "A general error has occurred.  See Resolution for information on how to resolve the error, or @Message.ExtendedInfo if Resolution is not provided.".into(),
                "Critical",
                "None.",
            );
            // The task's own failure messages, after the Base one.
            if let Ok(mut v) = serde_json::from_slice::<Value>(&r.body) {
                if let Some(Value::Array(info)) = v
                    .get_mut("error")
                    .and_then(|e| e.get_mut("@Message.ExtendedInfo"))
                {
                    info.extend(
                        task.messages
                            .iter()
                            .filter(|m| m["MessageSeverity"] != "OK")
                            .cloned(),
                    );
                }
                r.body = v.to_string().into_bytes();
            }
            r
        }
    }
}
