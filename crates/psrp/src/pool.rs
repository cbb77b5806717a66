//! A runspace pool: the server side of one PSRP session, sans-IO.
//!
//! The WinRM glue feeds it the bytes of `creationXml`, of Command
//! arguments and of Send streams, and takes fragments out for Receive. A
//! pipeline runs on the pool's [`Runspace`] (the evaluator) once its input
//! is complete; its messages wait in the pipeline's queue for Receive.
//! By default it runs inline, to its end, inside the call that completed
//! its input; after [`Pool::defer_runs`] the glue takes it as a [`Job`]
//! (the runspace lent with it), runs it off the pool's lock with a sink
//! that queues what it writes as it writes it ([`Pool::events`]), and
//! gives the runspace back with [`Pool::finish`]: output streams to the
//! client and a stop reaches a running pipeline. The pool keeps no clock:
//! nothing here waits.

use crate::clixml::{self, Value, Writer};
use crate::fragment::{self, Defragmenter, FragmentError};
use crate::message::{self, types, Guid, Message, MessageError};
use crate::messages::{self, pipeline_state, pool_state, ErrorInfo, Event, Finish, PipelineSpec};
use std::collections::{HashMap, VecDeque};

/// The evaluator behind a pool: one runspace, state kept across pipelines.
pub trait Runspace: Send {
    /// Runs one pipeline to its end.
    fn invoke(&mut self, pipeline: &PipelineSpec, input: Vec<Value>) -> Outcome;

    /// Runs one pipeline to its end, handing events to `sink` as they are
    /// written; the outcome carries those not handed out. By default all
    /// of them, at the end.
    fn invoke_streaming(
        &mut self,
        pipeline: &PipelineSpec,
        input: Vec<Value>,
        sink: EventSink,
    ) -> Outcome {
        drop(sink);
        self.invoke(pipeline, input)
    }
}

/// Where a running pipeline's events go as they are written.
pub type EventSink = Box<dyn FnMut(Vec<Event>) + Send>;

/// A pipeline ready to run, with the pool's runspace lent to it (see
/// [`Pool::next_job`]).
pub struct Job {
    pub pipeline: Guid,
    spec: PipelineSpec,
    input: Vec<Value>,
    runspace: Box<dyn Runspace>,
}

impl Job {
    /// Runs the pipeline (blocking, possibly long: off any lock the pool
    /// is under), events to `sink` as they are written.
    pub fn run(mut self, sink: EventSink) -> Done {
        let outcome = self.runspace.invoke_streaming(&self.spec, self.input, sink);
        Done {
            pipeline: self.pipeline,
            spec: self.spec,
            runspace: self.runspace,
            outcome,
        }
    }
}

/// A job that ran, for [`Pool::finish`].
pub struct Done {
    pub pipeline: Guid,
    spec: PipelineSpec,
    runspace: Box<dyn Runspace>,
    outcome: Outcome,
}

/// What a pipeline produced and how it ended.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    pub events: Vec<Event>,
    pub finish: Finish,
}

/// Limits on what one client may make a pool hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// One reassembled message.
    pub max_message: usize,
    /// Messages half-received at once, per stream.
    pub max_partial: usize,
    /// Pipelines alive in one pool.
    pub max_pipelines: usize,
    /// PIPELINE_INPUT objects one pipeline may receive.
    pub max_input_objects: usize,
    /// Serialised output a pool may hold queued, all pipelines together;
    /// a pipeline whose output would pass it fails with `LimitsExceeded`.
    pub max_output_bytes: usize,
    /// The largest fragment blob the server writes.
    pub out_fragment: usize,
    pub clixml: clixml::Limits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message: 16 << 20,
            max_partial: 16,
            max_pipelines: 64,
            max_input_objects: 1_000_000,
            max_output_bytes: 128 << 20,
            out_fragment: 32 << 10,
            clixml: clixml::Limits::default(),
        }
    }
}

/// Why the pool refused what a client sent; the WinRM glue turns each into
/// a WS-Man fault, and the pool stays usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PsrpError {
    #[error("{0}")]
    Fragment(#[from] FragmentError),
    #[error("{0}")]
    Message(#[from] MessageError),
    #[error("{0}")]
    Clixml(#[from] clixml::ClixmlError),
    #[error("{0}")]
    Field(#[from] messages::MissingField),
    #[error("the PSRP message type 0x{0:08X} is not known")]
    UnknownType(u32),
    #[error("the PSRP message {0} is not implemented by this server")]
    NotImplemented(&'static str),
    #[error("the PSRP message {got} was not expected here ({expected})")]
    Unexpected { got: String, expected: &'static str },
    #[error("the message names runspace pool {0}, not this one")]
    WrongPool(Guid),
    #[error("the pipeline {0} does not exist")]
    UnknownPipeline(Guid),
    #[error("the pipeline {0} already exists")]
    PipelineExists(Guid),
    #[error("the runspace pool already has {0} pipelines")]
    TooManyPipelines(usize),
    #[error("more than {0} input objects for one pipeline")]
    TooMuchInput(usize),
    #[error("the runspace pool is not open")]
    NotOpen,
}

fn type_label(t: u32) -> String {
    message::type_name(t)
        .map(str::to_string)
        .unwrap_or_else(|| format!("0x{t:08X}"))
}

#[derive(Debug)]
struct Pipeline {
    /// Creation order, so the oldest finished pipeline goes first when the
    /// pool is full.
    seq: u64,
    defrag: Defragmenter,
    spec: Option<PipelineSpec>,
    input: Vec<Value>,
    out: VecDeque<Vec<u8>>,
    finished: bool,
    /// Input complete, waiting for the runspace (deferred runs).
    ready: bool,
    /// Lent the runspace as a [`Job`].
    running: bool,
    /// Its output passed the pool's limit: the rest is dropped and it ends
    /// Failed.
    over: bool,
    outputs: usize,
    errors: usize,
}

/// What the glue should journal about a step.
#[derive(Debug, Clone, PartialEq)]
pub struct Ran {
    pub pipeline: Guid,
    pub summary: String,
    pub outcome: &'static str,
    pub outputs: usize,
    pub errors: usize,
}

/// Output taken by one Receive.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Taken {
    /// Whole fragments, back to back.
    pub bytes: Vec<u8>,
    /// The pipeline has ended and everything it produced has been taken:
    /// WinRM's CommandState Done.
    pub done: bool,
}

/// One runspace pool.
pub struct Pool {
    pub rpid: Guid,
    limits: Limits,
    /// `None` while lent to a running [`Job`].
    runspace: Option<Box<dyn Runspace>>,
    deferred: bool,
    defrag: Defragmenter,
    out: VecDeque<Vec<u8>>,
    pipelines: HashMap<Guid, Pipeline>,
    next_object: u64,
    next_seq: u64,
    pub min_runspaces: i32,
    pub max_runspaces: i32,
    /// Who and where, for information records.
    pub user: String,
    pub computer: String,
    open: bool,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("rpid", &self.rpid)
            .field("pipelines", &self.pipelines.len())
            .finish()
    }
}

impl Pool {
    /// Opens a pool from `creationXml`'s bytes: SESSION_CAPABILITY then
    /// INIT_RUNSPACEPOOL. The answer (the server's capability, the
    /// application private data, the Opened state) waits for the first
    /// Receive.
    pub fn open(
        rpid: Guid,
        creation: &[u8],
        runspace: Box<dyn Runspace>,
        limits: Limits,
    ) -> Result<Pool, PsrpError> {
        let mut pool = Pool {
            rpid,
            limits,
            runspace: Some(runspace),
            deferred: false,
            defrag: Defragmenter::new(limits.max_message, limits.max_partial),
            out: VecDeque::new(),
            pipelines: HashMap::new(),
            next_object: 1,
            next_seq: 0,
            min_runspaces: 1,
            max_runspaces: 1,
            user: String::new(),
            computer: String::new(),
            open: false,
        };
        let msgs = pool.defrag.push(creation)?;
        let mut saw_cap = false;
        for raw in msgs {
            let m = pool.decode(&raw)?;
            match (m.message_type, saw_cap) {
                (types::SESSION_CAPABILITY, false) => {
                    clixml::read(&m.data, &limits.clixml)?;
                    saw_cap = true;
                }
                (types::INIT_RUNSPACEPOOL, true) => {
                    let v = clixml::read(&m.data, &limits.clixml)?;
                    let o = v.as_object();
                    let get = |n| o.and_then(|o| o.get(n)).and_then(Value::as_i64);
                    pool.min_runspaces = get("MinRunspaces").unwrap_or(1).clamp(1, 1024) as i32;
                    pool.max_runspaces = get("MaxRunspaces")
                        .unwrap_or(1)
                        .clamp(pool.min_runspaces as i64, 1024)
                        as i32;
                    pool.open = true;
                }
                (t, _) => {
                    return Err(PsrpError::Unexpected {
                        got: type_label(t),
                        expected: "SESSION_CAPABILITY then INIT_RUNSPACEPOOL",
                    })
                }
            }
        }
        if !pool.open {
            return Err(PsrpError::Unexpected {
                got: "end of creationXml".into(),
                expected: "SESSION_CAPABILITY then INIT_RUNSPACEPOOL",
            });
        }
        pool.queue(
            None,
            types::SESSION_CAPABILITY,
            messages::session_capability(),
        );
        pool.queue(
            None,
            types::APPLICATION_PRIVATE_DATA,
            messages::application_private_data(),
        );
        pool.queue(
            None,
            types::RUNSPACEPOOL_STATE,
            messages::runspace_pool_state(pool_state::OPENED, None),
        );
        Ok(pool)
    }

    fn decode(&self, raw: &[u8]) -> Result<Message, PsrpError> {
        let m = Message::decode(raw)?;
        if m.rpid != self.rpid {
            return Err(PsrpError::WrongPool(m.rpid));
        }
        Ok(m)
    }

    /// Queues a message for the pool (`pid` None) or a pipeline.
    fn queue(&mut self, pid: Option<Guid>, ty: u32, data: String) {
        let m = Message::new(ty, self.rpid, pid.unwrap_or(Guid::NIL), data);
        let bytes = m.encode();
        let object = self.next_object;
        self.next_object += 1;
        let frags = fragment::fragment(object, &bytes, self.limits.out_fragment);
        let q = match pid.and_then(|p| self.pipelines.get_mut(&p)) {
            Some(p) => &mut p.out,
            None => &mut self.out,
        };
        for f in frags {
            let mut b = Vec::with_capacity(fragment::HEADER_LEN + f.blob.len());
            f.encode(&mut b);
            q.push_back(b);
        }
    }

    pub fn pipeline_count(&self) -> usize {
        self.pipelines.len()
    }

    /// A WinRM Command: a new pipeline, its first fragments in `data`.
    pub fn command(&mut self, pid: Guid, data: &[u8]) -> Result<Option<Ran>, PsrpError> {
        if !self.open {
            return Err(PsrpError::NotOpen);
        }
        if self.pipelines.contains_key(&pid) {
            return Err(PsrpError::PipelineExists(pid));
        }
        if self.pipelines.len() >= self.limits.max_pipelines {
            // A client that stops a pipeline and never receives its end
            // (pypsrp's `stop()`) leaves it finished here: the oldest such
            // one makes room, as it can no longer change.
            let oldest = self
                .pipelines
                .iter()
                .filter(|(_, p)| p.finished)
                .min_by_key(|(_, p)| p.seq)
                .map(|(id, _)| *id);
            match oldest {
                Some(id) => {
                    self.pipelines.remove(&id);
                }
                None => return Err(PsrpError::TooManyPipelines(self.limits.max_pipelines)),
            }
        }
        self.next_seq += 1;
        self.pipelines.insert(
            pid,
            Pipeline {
                seq: self.next_seq,
                defrag: Defragmenter::new(self.limits.max_message, self.limits.max_partial),
                spec: None,
                input: Vec::new(),
                out: VecDeque::new(),
                finished: false,
                ready: false,
                running: false,
                over: false,
                outputs: 0,
                errors: 0,
            },
        );
        match self.send(Some(pid), data) {
            Ok(r) => Ok(r),
            Err(e) => {
                self.pipelines.remove(&pid);
                Err(e)
            }
        }
    }

    /// A WinRM Send: stdin for a pipeline (`pid`) or for the pool itself.
    pub fn send(&mut self, pid: Option<Guid>, data: &[u8]) -> Result<Option<Ran>, PsrpError> {
        if !self.open {
            return Err(PsrpError::NotOpen);
        }
        let msgs = match pid {
            Some(p) => self
                .pipelines
                .get_mut(&p)
                .ok_or(PsrpError::UnknownPipeline(p))?
                .defrag
                .push(data)?,
            None => self.defrag.push(data)?,
        };
        let mut ran = None;
        for raw in msgs {
            let m = self.decode(&raw)?;
            if let Some(r) = self.handle(pid, m)? {
                ran = Some(r);
            }
        }
        Ok(ran)
    }

    fn handle(&mut self, stream: Option<Guid>, m: Message) -> Result<Option<Ran>, PsrpError> {
        let lim = self.limits.clixml;
        match m.message_type {
            types::CREATE_PIPELINE => {
                let pid = stream.ok_or(PsrpError::Unexpected {
                    got: "CREATE_PIPELINE".into(),
                    expected: "a pipeline's message on the pool's stream",
                })?;
                if pid != m.pid {
                    return Err(PsrpError::UnknownPipeline(m.pid));
                }
                let spec = messages::parse_create_pipeline(&clixml::read(&m.data, &lim)?)?;
                let no_input = spec.no_input;
                let p = self
                    .pipelines
                    .get_mut(&pid)
                    .ok_or(PsrpError::UnknownPipeline(pid))?;
                if p.spec.is_some() {
                    return Err(PsrpError::PipelineExists(pid));
                }
                p.spec = Some(spec);
                if no_input {
                    return Ok(self.run(pid));
                }
                Ok(None)
            }
            types::PIPELINE_INPUT | types::END_OF_PIPELINE_INPUT => {
                let p = self
                    .pipelines
                    .get_mut(&m.pid)
                    .ok_or(PsrpError::UnknownPipeline(m.pid))?;
                if p.spec.is_none() || p.finished || p.ready || p.running {
                    return Err(PsrpError::Unexpected {
                        got: type_label(m.message_type),
                        expected: "input only for a pipeline created and still running",
                    });
                }
                if m.message_type == types::END_OF_PIPELINE_INPUT {
                    return Ok(self.run(m.pid));
                }
                if p.input.len() >= self.limits.max_input_objects {
                    return Err(PsrpError::TooMuchInput(self.limits.max_input_objects));
                }
                p.input.push(clixml::read(&m.data, &lim)?);
                Ok(None)
            }
            types::SET_MAX_RUNSPACES | types::SET_MIN_RUNSPACES => {
                let v = clixml::read(&m.data, &lim)?;
                let ci = messages::call_id(&v).ok_or(messages::MissingField {
                    message: "SET_MAX/MIN_RUNSPACES",
                    field: "ci",
                })?;
                let (field, max) = if m.message_type == types::SET_MAX_RUNSPACES {
                    ("MaxRunspaces", true)
                } else {
                    ("MinRunspaces", false)
                };
                let n = v
                    .as_object()
                    .and_then(|o| o.get(field))
                    .and_then(Value::as_i64);
                // As Windows: a maximum below the minimum, or a minimum
                // above the maximum or below one, is refused with false.
                let ok = match (n, max) {
                    (Some(n), true) if n >= self.min_runspaces as i64 && n <= 1024 => {
                        self.max_runspaces = n as i32;
                        true
                    }
                    (Some(n), false) if n >= 1 && n <= self.max_runspaces as i64 => {
                        self.min_runspaces = n as i32;
                        true
                    }
                    _ => false,
                };
                self.queue(
                    None,
                    types::RUNSPACE_AVAILABILITY,
                    messages::runspace_availability(Value::Bool(ok), ci),
                );
                Ok(None)
            }
            types::GET_AVAILABLE_RUNSPACES => {
                let v = clixml::read(&m.data, &lim)?;
                let ci = messages::call_id(&v).ok_or(messages::MissingField {
                    message: "GET_AVAILABLE_RUNSPACES",
                    field: "ci",
                })?;
                let busy = self.pipelines.values().filter(|p| !p.finished).count() as i64;
                let free = (self.max_runspaces as i64 - busy).max(0);
                self.queue(
                    None,
                    types::RUNSPACE_AVAILABILITY,
                    messages::runspace_availability(Value::I64(free), ci),
                );
                Ok(None)
            }
            // Answers to host calls: the server makes none (its host is
            // not interactive), so any that arrives is dropped.
            types::PIPELINE_HOST_RESPONSE | types::RUNSPACEPOOL_HOST_RESPONSE => {
                clixml::read(&m.data, &lim)?;
                tracing::debug!(rpid = %self.rpid, "host response without a host call, ignored");
                Ok(None)
            }
            types::GET_COMMAND_METADATA => {
                // A pipeline-shaped request: it fails as a pipeline would,
                // with the operation named.
                let pid = stream.unwrap_or(m.pid);
                if let Some(p) = self.pipelines.get_mut(&pid) {
                    p.finished = true;
                    let e = ErrorInfo::not_implemented("GET_COMMAND_METADATA");
                    self.queue(
                        Some(pid),
                        types::PIPELINE_STATE,
                        messages::pipeline_state(pipeline_state::FAILED, Some(&e)),
                    );
                    return Ok(None);
                }
                Err(PsrpError::NotImplemented("GET_COMMAND_METADATA"))
            }
            types::PUBLIC_KEY => Err(PsrpError::NotImplemented("PUBLIC_KEY")),
            types::RESET_RUNSPACE_STATE => Err(PsrpError::NotImplemented("RESET_RUNSPACE_STATE")),
            types::CONNECT_RUNSPACEPOOL => Err(PsrpError::NotImplemented("CONNECT_RUNSPACEPOOL")),
            t if message::type_name(t).is_some() => Err(PsrpError::Unexpected {
                got: type_label(t),
                expected: "a message a client sends",
            }),
            t => Err(PsrpError::UnknownType(t)),
        }
    }

    /// A pipeline's input is complete: it runs now (inline), or waits for
    /// the glue's [`Pool::next_job`] when runs are deferred.
    fn run(&mut self, pid: Guid) -> Option<Ran> {
        if let Some(p) = self.pipelines.get_mut(&pid) {
            p.ready = true;
        }
        if self.deferred {
            return None;
        }
        let Job {
            pipeline,
            spec,
            input,
            mut runspace,
        } = self.next_job()?;
        let outcome = runspace.invoke(&spec, input);
        Some(self.finish(Done {
            pipeline,
            spec,
            runspace,
            outcome,
        }))
    }

    /// From now on pipelines wait for [`Pool::next_job`] instead of running
    /// inside the call that completed their input.
    pub fn defer_runs(&mut self) {
        self.deferred = true;
    }

    /// The oldest pipeline ready to run, with the runspace lent to it;
    /// `None` when none is ready or the runspace is busy (one runspace:
    /// pipelines run one at a time, in order).
    pub fn next_job(&mut self) -> Option<Job> {
        self.runspace.as_ref()?;
        let pid = self
            .pipelines
            .iter()
            .filter(|(_, p)| p.ready && !p.running && !p.finished)
            .min_by_key(|(_, p)| p.seq)
            .map(|(id, _)| *id)?;
        let runspace = self.runspace.take()?;
        let p = self.pipelines.get_mut(&pid)?;
        p.ready = false;
        p.running = true;
        Some(Job {
            pipeline: pid,
            spec: p.spec.clone().unwrap_or_default(),
            input: std::mem::take(&mut p.input),
            runspace,
        })
    }

    /// Queues what a running pipeline wrote; dropped if the pipeline is
    /// gone (terminated) or past the output limit.
    pub fn events(&mut self, pid: Guid, events: Vec<Event>) {
        let merge = match self.pipelines.get(&pid) {
            Some(p) if !p.over => p
                .spec
                .iter()
                .flat_map(|s| s.statements.iter().flatten())
                .any(|c| c.merge_error_to_output),
            _ => return,
        };
        // What every queue holds already counts against the pool's limit.
        let mut written: usize = self.out.iter().map(Vec::len).sum::<usize>()
            + self
                .pipelines
                .values()
                .flat_map(|p| p.out.iter())
                .map(Vec::len)
                .sum::<usize>();
        let (mut outputs, mut errors) = (0, 0);
        let mut over = false;
        for ev in &events {
            let (ty, data) = match ev {
                Event::Output(v) => {
                    outputs += 1;
                    (types::PIPELINE_OUTPUT, Writer::write(v))
                }
                Event::Error(e) => {
                    errors += 1;
                    let rec = messages::error_record(e, true);
                    if merge {
                        (types::PIPELINE_OUTPUT, Writer::write(&rec))
                    } else {
                        (types::ERROR_RECORD, Writer::write(&rec))
                    }
                }
                Event::Warning(s) => (
                    types::WARNING_RECORD,
                    messages::informational_record("Warning", s),
                ),
                Event::Verbose(s) => (
                    types::VERBOSE_RECORD,
                    messages::informational_record("Verbose", s),
                ),
                Event::Debug(s) => (
                    types::DEBUG_RECORD,
                    messages::informational_record("Debug", s),
                ),
                Event::Information {
                    data,
                    source,
                    time,
                    tags,
                } => (
                    types::INFORMATION_RECORD,
                    messages::information_record(
                        data,
                        source,
                        time,
                        tags,
                        &self.user,
                        &self.computer,
                    ),
                ),
            };
            written += data.len();
            if written > self.limits.max_output_bytes {
                over = true;
                break;
            }
            self.queue(Some(pid), ty, data);
        }
        if let Some(p) = self.pipelines.get_mut(&pid) {
            p.outputs += outputs;
            p.errors += errors;
            p.over |= over;
        }
    }

    /// A job ended: the runspace comes back, what it wrote last is queued
    /// and then its PIPELINE_STATE (unless it was terminated meanwhile).
    pub fn finish(&mut self, done: Done) -> Ran {
        let Done {
            pipeline: pid,
            spec,
            runspace,
            outcome,
        } = done;
        self.runspace = Some(runspace);
        self.events(pid, outcome.events);
        let summary = spec.summary(200);
        let Some(p) = self.pipelines.get_mut(&pid) else {
            return Ran {
                pipeline: pid,
                summary,
                outcome: "terminated",
                outputs: 0,
                errors: 0,
            };
        };
        p.running = false;
        p.finished = true;
        let (over, outputs, errors) = (p.over, p.outputs, p.errors);
        let (state, err, label) = if over {
            let e = ErrorInfo {
                message: format!(
                    "The pipeline's output exceeded the server's limit of {} bytes queued.",
                    self.limits.max_output_bytes
                ),
                fq_error_id: "PipelineOutputLimitExceeded".into(),
                category: messages::category::LIMITS_EXCEEDED,
                reason: "PSInvalidOperationException".into(),
                exception_type: "System.Management.Automation.PSInvalidOperationException".into(),
                ..Default::default()
            };
            (pipeline_state::FAILED, Some(e), "failed")
        } else {
            match &outcome.finish {
                Finish::Completed => (pipeline_state::COMPLETED, None, "completed"),
                Finish::Failed(e) => (pipeline_state::FAILED, Some(e.clone()), "failed"),
                Finish::Stopped => (pipeline_state::STOPPED, Some(stopped()), "stopped"),
            }
        };
        self.queue(
            Some(pid),
            types::PIPELINE_STATE,
            messages::pipeline_state(state, err.as_ref()),
        );
        Ran {
            pipeline: pid,
            summary,
            outcome: label,
            outputs,
            errors,
        }
    }

    /// Takes queued fragments for a Receive, at most `budget` bytes (and at
    /// least one fragment, so a small budget still moves).
    pub fn receive(&mut self, pid: Option<Guid>, budget: usize) -> Result<Taken, PsrpError> {
        let (q, finished) = match pid {
            Some(p) => {
                let pl = self
                    .pipelines
                    .get_mut(&p)
                    .ok_or(PsrpError::UnknownPipeline(p))?;
                (&mut pl.out, pl.finished)
            }
            None => (&mut self.out, false),
        };
        let mut t = Taken::default();
        while let Some(f) = q.front() {
            if !t.bytes.is_empty() && t.bytes.len() + f.len() > budget {
                break;
            }
            if let Some(f) = q.pop_front() {
                t.bytes.extend_from_slice(&f);
            }
        }
        t.done = finished && q.is_empty();
        if let (Some(p), true) = (pid, t.done) {
            self.pipelines.remove(&p);
        }
        Ok(t)
    }

    /// Whether a Receive would get anything now.
    pub fn has_output(&self, pid: Option<Guid>) -> bool {
        match pid {
            Some(p) => self
                .pipelines
                .get(&p)
                .is_none_or(|pl| !pl.out.is_empty() || pl.finished),
            None => !self.out.is_empty(),
        }
    }

    /// A stop signal (`powershell/signal/crtl_c`): a pipeline still
    /// waiting for input or for the runspace ends Stopped; one that ran
    /// keeps its result. True when it is running: the caller stops the
    /// evaluator, and the pipeline ends Stopped when its job finishes.
    pub fn stop(&mut self, pid: Guid) -> Result<bool, PsrpError> {
        let p = self
            .pipelines
            .get_mut(&pid)
            .ok_or(PsrpError::UnknownPipeline(pid))?;
        if p.running {
            return Ok(true);
        }
        if !p.finished {
            p.finished = true;
            p.ready = false;
            self.queue(
                Some(pid),
                types::PIPELINE_STATE,
                messages::pipeline_state(pipeline_state::STOPPED, Some(&stopped())),
            );
        }
        Ok(false)
    }

    /// A terminate signal: the pipeline and what it queued go. True when
    /// it is running: the caller stops the evaluator.
    pub fn terminate(&mut self, pid: Guid) -> Result<bool, PsrpError> {
        self.pipelines
            .remove(&pid)
            .map(|p| p.running)
            .ok_or(PsrpError::UnknownPipeline(pid))
    }
}

/// PowerShell's record for a stopped pipeline, which PIPELINE_STATE
/// Stopped carries.
fn stopped() -> ErrorInfo {
    ErrorInfo {
        message: "The pipeline has been stopped.".into(),
        fq_error_id: "PipelineStopped".into(),
        category: messages::category::OPERATION_STOPPED,
        reason: "PipelineStoppedException".into(),
        exception_type: "System.Management.Automation.PipelineStoppedException".into(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::TO_SERVER;

    struct Echo;
    impl Runspace for Echo {
        fn invoke(&mut self, p: &PipelineSpec, input: Vec<Value>) -> Outcome {
            let mut events: Vec<Event> = input.into_iter().map(Event::Output).collect();
            events.push(Event::Output(Value::str(p.summary(100))));
            events.push(Event::Warning("careful".into()));
            Outcome {
                events,
                finish: Finish::Completed,
            }
        }
    }

    fn client_msg(ty: u32, rpid: Guid, pid: Guid, data: &str, object: u64) -> Vec<u8> {
        let mut m = Message::new(ty, rpid, pid, data.into());
        m.destination = TO_SERVER;
        let mut out = Vec::new();
        for f in fragment::fragment(object, &m.encode(), 50) {
            f.encode(&mut out);
        }
        out
    }

    fn messages_of(bytes: &[u8]) -> Vec<(u32, String)> {
        let mut d = Defragmenter::new(1 << 20, 8);
        d.push(bytes)
            .unwrap()
            .into_iter()
            .map(|raw| {
                let ty = u32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]);
                (ty, String::from_utf8_lossy(&raw[43..]).into_owned())
            })
            .collect()
    }

    const CAP: &str = r#"<Obj RefId="0"><MS><Version N="protocolversion">2.3</Version><Version N="PSVersion">2.0</Version><Version N="SerializationVersion">1.1.0.1</Version></MS></Obj>"#;
    const INIT: &str = r#"<Obj RefId="0"><MS><I32 N="MinRunspaces">1</I32><I32 N="MaxRunspaces">2</I32></MS></Obj>"#;
    const CREATE: &str = r#"<Obj RefId="0"><MS><B N="NoInput">false</B><Obj RefId="4" N="PowerShell"><MS><Obj RefId="7" N="Cmds"><LST><Obj RefId="8"><MS><S N="Cmd">Get-VM</S><B N="IsScript">false</B></MS></Obj></LST></Obj></MS></Obj></MS></Obj>"#;

    #[test]
    fn open_run_receive() {
        let rpid = Guid::parse("11111111-2222-3333-4444-555555555555").unwrap();
        let pid = Guid::parse("AAAAAAAA-2222-3333-4444-555555555555").unwrap();
        let mut creation = client_msg(types::SESSION_CAPABILITY, rpid, Guid::NIL, CAP, 1);
        creation.extend(client_msg(
            types::INIT_RUNSPACEPOOL,
            rpid,
            Guid::NIL,
            INIT,
            2,
        ));
        let mut pool = Pool::open(rpid, &creation, Box::new(Echo), Limits::default()).unwrap();
        assert_eq!(pool.max_runspaces, 2);
        let got = messages_of(&pool.receive(None, 1 << 20).unwrap().bytes);
        let tys: Vec<u32> = got.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            tys,
            [
                types::SESSION_CAPABILITY,
                types::APPLICATION_PRIVATE_DATA,
                types::RUNSPACEPOOL_STATE
            ]
        );
        assert!(got[2].1.contains("<I32 N=\"RunspaceState\">2</I32>"));

        assert!(pool
            .command(
                pid,
                &client_msg(types::CREATE_PIPELINE, rpid, pid, CREATE, 3)
            )
            .unwrap()
            .is_none());
        let mut input = client_msg(types::PIPELINE_INPUT, rpid, pid, "<S>in</S>", 4);
        input.extend(client_msg(types::END_OF_PIPELINE_INPUT, rpid, pid, "", 5));
        let ran = pool.send(Some(pid), &input).unwrap().unwrap();
        assert_eq!(ran.summary, "Get-VM");
        let t = pool.receive(Some(pid), 1 << 20).unwrap();
        assert!(t.done);
        let got = messages_of(&t.bytes);
        assert_eq!(got[0], (types::PIPELINE_OUTPUT, "<S>in</S>".into()));
        assert_eq!(got[1], (types::PIPELINE_OUTPUT, "<S>Get-VM</S>".into()));
        assert_eq!(got[2].0, types::WARNING_RECORD);
        assert_eq!(got[3].0, types::PIPELINE_STATE);
        assert_eq!(pool.pipeline_count(), 0);
    }

    #[test]
    fn hostile_messages_fail_and_pool_lives() {
        let rpid = Guid::parse("11111111-2222-3333-4444-555555555555").unwrap();
        let other = Guid::parse("99999999-2222-3333-4444-555555555555").unwrap();
        assert!(Pool::open(rpid, b"junk", Box::new(Echo), Limits::default()).is_err());
        let only_init = client_msg(types::INIT_RUNSPACEPOOL, rpid, Guid::NIL, INIT, 1);
        assert!(Pool::open(rpid, &only_init, Box::new(Echo), Limits::default()).is_err());
        let mut creation = client_msg(types::SESSION_CAPABILITY, rpid, Guid::NIL, CAP, 1);
        creation.extend(client_msg(
            types::INIT_RUNSPACEPOOL,
            rpid,
            Guid::NIL,
            INIT,
            2,
        ));
        let mut pool = Pool::open(rpid, &creation, Box::new(Echo), Limits::default()).unwrap();
        assert_eq!(
            pool.send(None, &client_msg(0x0004_9999, rpid, Guid::NIL, "<Nil/>", 3)),
            Err(PsrpError::UnknownType(0x0004_9999))
        );
        assert_eq!(
            pool.send(
                None,
                &client_msg(
                    types::GET_AVAILABLE_RUNSPACES,
                    other,
                    Guid::NIL,
                    "<Nil/>",
                    4
                )
            ),
            Err(PsrpError::WrongPool(other))
        );
        assert!(matches!(
            pool.send(
                None,
                &client_msg(types::PUBLIC_KEY, rpid, Guid::NIL, "<Nil/>", 5)
            ),
            Err(PsrpError::NotImplemented("PUBLIC_KEY"))
        ));
        let ci = r#"<Obj RefId="0"><MS><I64 N="ci">7</I64></MS></Obj>"#;
        pool.receive(None, 1 << 20).unwrap();
        pool.send(
            None,
            &client_msg(types::GET_AVAILABLE_RUNSPACES, rpid, Guid::NIL, ci, 6),
        )
        .unwrap();
        let got = messages_of(&pool.receive(None, 1 << 20).unwrap().bytes);
        assert_eq!(got[0].0, types::RUNSPACE_AVAILABILITY);
        assert!(got[0]
            .1
            .contains("<I64 N=\"SetMinMaxRunspacesResponse\">2</I64>"));
        assert!(got[0].1.contains("<I64 N=\"ci\">7</I64>"));
    }

    /// Writes two batches through the sink, then stops (as if signalled).
    struct Streamer;
    impl Runspace for Streamer {
        fn invoke(&mut self, _: &PipelineSpec, _: Vec<Value>) -> Outcome {
            Outcome::default()
        }
        fn invoke_streaming(
            &mut self,
            _: &PipelineSpec,
            _: Vec<Value>,
            mut sink: EventSink,
        ) -> Outcome {
            sink(vec![Event::Output(Value::str("a"))]);
            sink(vec![Event::Output(Value::str("b"))]);
            Outcome {
                events: vec![Event::Warning("last".into())],
                finish: Finish::Stopped,
            }
        }
    }

    #[test]
    fn deferred_runs_stream_and_stop() {
        let rpid = Guid::parse("11111111-2222-3333-4444-555555555555").unwrap();
        let mut creation = client_msg(types::SESSION_CAPABILITY, rpid, Guid::NIL, CAP, 1);
        creation.extend(client_msg(
            types::INIT_RUNSPACEPOOL,
            rpid,
            Guid::NIL,
            INIT,
            2,
        ));
        let mut pool = Pool::open(rpid, &creation, Box::new(Streamer), Limits::default()).unwrap();
        pool.defer_runs();
        let no_input = CREATE.replace(">false<", ">true<");
        for n in 1..=2 {
            let c = client_msg(
                types::CREATE_PIPELINE,
                rpid,
                pid(n),
                &no_input,
                10 + n as u64,
            );
            assert_eq!(pool.command(pid(n), &c), Ok(None));
        }
        let job = pool.next_job().unwrap();
        assert_eq!(job.pipeline, pid(1));
        // One runspace: the second pipeline waits for it.
        assert!(pool.next_job().is_none());
        let batches = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let b = batches.clone();
        let done = job.run(Box::new(move |evs| b.lock().unwrap().push(evs)));
        for evs in batches.lock().unwrap().drain(..) {
            pool.events(pid(1), evs);
        }
        let t = pool.receive(Some(pid(1)), 1 << 20).unwrap();
        assert!(!t.done, "still running");
        let got = messages_of(&t.bytes);
        assert_eq!(got[0], (types::PIPELINE_OUTPUT, "<S>a</S>".into()));
        assert_eq!(got[1], (types::PIPELINE_OUTPUT, "<S>b</S>".into()));
        // A stop while running is the caller's to deliver to the runspace.
        assert_eq!(pool.stop(pid(1)), Ok(true));
        // A waiting pipeline stops here and now.
        assert_eq!(pool.stop(pid(2)), Ok(false));
        let ran = pool.finish(done);
        assert_eq!((ran.outcome, ran.outputs), ("stopped", 2));
        let t = pool.receive(Some(pid(1)), 1 << 20).unwrap();
        assert!(t.done);
        let got = messages_of(&t.bytes);
        assert_eq!(got[0].0, types::WARNING_RECORD);
        assert_eq!(got[1].0, types::PIPELINE_STATE);
        assert!(got[1].1.contains("<I32 N=\"PipelineState\">3</I32>"));
        assert!(got[1].1.contains("PipelineStopped"));
        assert!(pool.next_job().is_none(), "the stopped one does not run");
    }

    struct Big;
    impl Runspace for Big {
        fn invoke(&mut self, _: &PipelineSpec, _: Vec<Value>) -> Outcome {
            Outcome {
                events: vec![Event::Output(Value::str("x".repeat(5000)))],
                finish: Finish::Completed,
            }
        }
    }

    fn pid(n: u8) -> Guid {
        Guid([n; 16])
    }

    #[test]
    fn full_pool_drops_oldest_finished_and_output_is_bounded() {
        let rpid = Guid::parse("11111111-2222-3333-4444-555555555555").unwrap();
        let mut creation = client_msg(types::SESSION_CAPABILITY, rpid, Guid::NIL, CAP, 1);
        creation.extend(client_msg(
            types::INIT_RUNSPACEPOOL,
            rpid,
            Guid::NIL,
            INIT,
            2,
        ));
        let lim = Limits {
            max_pipelines: 2,
            max_output_bytes: 2000,
            ..Default::default()
        };
        let no_input = CREATE.replace(">false<", ">true<");
        let mut pool = Pool::open(rpid, &creation, Box::new(Echo), lim).unwrap();
        for n in 1..=3 {
            let c = client_msg(
                types::CREATE_PIPELINE,
                rpid,
                pid(n),
                &no_input,
                10 + n as u64,
            );
            assert!(pool.command(pid(n), &c).unwrap().is_some());
        }
        // The first finished pipeline made room for the third.
        assert_eq!(pool.pipeline_count(), 2);
        assert_eq!(
            pool.receive(Some(pid(1)), 1 << 20),
            Err(PsrpError::UnknownPipeline(pid(1)))
        );
        // Two pipelines still waiting for input fill the pool for good.
        let mut pool = Pool::open(rpid, &creation, Box::new(Echo), lim).unwrap();
        for n in 1..=2 {
            let c = client_msg(types::CREATE_PIPELINE, rpid, pid(n), CREATE, 10 + n as u64);
            pool.command(pid(n), &c).unwrap();
        }
        let c = client_msg(types::CREATE_PIPELINE, rpid, pid(3), CREATE, 13);
        assert_eq!(
            pool.command(pid(3), &c),
            Err(PsrpError::TooManyPipelines(2))
        );

        let mut pool = Pool::open(rpid, &creation, Box::new(Big), lim).unwrap();
        let c = client_msg(types::CREATE_PIPELINE, rpid, pid(1), &no_input, 20);
        let ran = pool.command(pid(1), &c).unwrap().unwrap();
        assert_eq!(ran.outcome, "failed");
        let got = messages_of(&pool.receive(Some(pid(1)), 1 << 20).unwrap().bytes);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, types::PIPELINE_STATE);
        assert!(got[0].1.contains("<I32 N=\"PipelineState\">5</I32>"));
        assert!(got[0].1.contains("LimitsExceeded"));
    }
}
