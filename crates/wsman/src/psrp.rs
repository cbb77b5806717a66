//! PowerShell remoting's WinRM side: the `.../powershell/<configuration>`
//! shell resource URIs, routed from the engine to `fakedc-psrp`'s runspace
//! pools. A pool is a shell (Create carries `creationXml`), a pipeline is a
//! command (its id the pipeline id, its argument the first fragments),
//! Send is stdin, Receive takes fragments, Signal stops or terminates a
//! pipeline and Delete closes the pool. A pipeline whose input is complete
//! runs on tokio's blocking pool, off the pool's lock, so the evaluator
//! never holds an async worker: the Command or Send that completed it
//! answers at once, what it writes is queued as it is written (Receive
//! streams it), and a stop Signal reaches it while it runs.

use crate::engine::{Call, ShellConfig};
use crate::fault::Fault;
use crate::message::{action, ns, Request};
use crate::provider::{Ctx, ResourceProvider};
use crate::shell;
use crate::xml::escape;
use base64::Engine as _;
use fakedc_model::journal::Record;
use fakedc_model::Privilege;
use fakedc_model::{MachineId, Model};
use fakedc_psrp::{Guid, Pool, PsrpError};
use fakedc_pwsh as ps;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where PSRP's resource URIs start.
pub const PREFIX: &str = "http://schemas.microsoft.com/powershell/";
/// The default configuration, which every Windows host has.
pub const DEFAULT_CONFIGURATION: &str = "Microsoft.PowerShell";
const CREATION_NS: &str = "http://schemas.microsoft.com/powershell";
const SIGNAL_TERMINATE: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate";
/// MS-PSRP's stop code, with the spec's spelling.
const SIGNAL_STOP: &str = "powershell/signal/crtl_c";
/// The spelling pypsrp's `PowerShell.stop()` sends; taken as the same stop.
const SIGNAL_STOP_CTRL: &str = "powershell/signal/ctrl_c";
const DISCONNECT: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Disconnect";
const RECONNECT: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Reconnect";
const CONNECT: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Connect";
/// How often a waiting Receive looks again (real time), at most: it
/// starts at 1 ms and doubles, so a short pipeline's answer (running on
/// the blocking pool since its Command) is picked up at once.
const POLL: Duration = Duration::from_millis(20);
/// The longest a Receive waits.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// The largest `creationXml`, Command argument or Send stream, decoded.
const MAX_BLOB: usize = 1 << 20;

/// The configuration a resource URI names, if it is a PSRP one this host
/// serves (`Microsoft.PowerShell` in any case, or one the scenario adds).
pub fn configuration<'a>(uri: &'a str, extra: &[String]) -> Option<&'a str> {
    let rest = uri
        .get(..PREFIX.len())
        .filter(|p| p.eq_ignore_ascii_case(PREFIX))
        .and_then(|_| uri.get(PREFIX.len()..))?;
    (rest.eq_ignore_ascii_case(DEFAULT_CONFIGURATION)
        || extra.iter().any(|c| c.eq_ignore_ascii_case(rest)))
    .then_some(rest)
}

/// Whether a URI is under PSRP's prefix at all (an unknown configuration
/// gets WinRM's own fault, not the CIM path's).
pub fn is_psrp(uri: &str) -> bool {
    uri.get(..PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(PREFIX))
}

struct Entry {
    machine: MachineId,
    owner: String,
    uri: String,
    pool: Pool,
    stop: Arc<std::sync::atomic::AtomicBool>,
    last_used: Instant,
}

/// The open runspace pools of every machine.
#[derive(Default)]
pub struct Pools {
    pools: Mutex<HashMap<String, Arc<Mutex<Entry>>>>,
}

impl Pools {
    pub fn count(&self) -> usize {
        self.pools.lock().map(|p| p.len()).unwrap_or(0)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A PSRP refusal as WS-Man says it: every one is the shell plugin's
/// error, so the connection and the pool stay usable.
fn fault(e: PsrpError) -> Fault {
    match e {
        PsrpError::UnknownPipeline(_) => Fault::invalid_selectors(e.to_string()),
        PsrpError::TooManyPipelines(_) | PsrpError::TooMuchInput(_) => {
            Fault::quota_limit(e.to_string())
        }
        PsrpError::NotImplemented(m) => {
            Fault::action_not_supported(&format!("PSRP {m}")).with_message(e.to_string())
        }
        _ => Fault::invalid_parameter(format!("The PowerShell remoting data is not valid: {e}")),
    }
}

fn b64(s: &str) -> Result<Vec<u8>, Fault> {
    let t = s.trim();
    if t.len() / 4 * 3 > MAX_BLOB {
        return Err(Fault::quota_limit(format!(
            "A PowerShell remoting stream larger than {MAX_BLOB} bytes"
        )));
    }
    base64::engine::general_purpose::STANDARD
        .decode(t)
        .map_err(|_| Fault::schema("The stream is not base64"))
}

fn guid(s: &str, what: &str) -> Result<Guid, Fault> {
    Guid::parse(s).ok_or_else(|| Fault::invalid_selectors(format!("The {what} {s} is not a GUID.")))
}

/// The WinRM side the evaluator reaches through [`ps::Host`]: the cmd
/// shell's command table and the WMI providers the engine serves.
pub struct WinrmHost {
    pub model: Arc<Model>,
    pub machine: MachineId,
    pub user: String,
    pub rules: Vec<shell::CommandRule>,
    pub facts: shell::HostFacts,
    pub providers: Vec<Arc<dyn ResourceProvider>>,
}

impl ps::Host for WinrmHost {
    /// The process environment powershell.exe inherits on this host (what
    /// the cmd shell's `set` lists), for `$env:` in both the cmd shell's
    /// powershell.exe and a PSRP runspace.
    fn environment(&self) -> Vec<(String, String)> {
        shell::environment(&self.facts)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    fn run_external(&self, line: &str) -> ps::ExternalOutput {
        let (cmd, args) = line.trim().split_once(' ').unwrap_or((line.trim(), ""));
        let o = shell::run(&self.rules, &self.facts, cmd, args);
        ps::ExternalOutput {
            stdout: o.stdout,
            stderr: o.stderr,
            exit_code: o.exit_code,
        }
    }

    fn cim_instances(
        &self,
        namespace: &str,
        class: &str,
    ) -> Result<Vec<ps::CimInstance>, ps::CimError> {
        let want = namespace.replace('\\', "/");
        let in_ns: Vec<_> = self
            .providers
            .iter()
            .filter(|p| p.cim_namespace().eq_ignore_ascii_case(&want))
            .collect();
        if in_ns.is_empty() {
            return Err(ps::CimError::InvalidNamespace);
        }
        let Some((p, cls)) = in_ns.iter().find_map(|p| {
            p.classes()
                .iter()
                .find(|c| c.eq_ignore_ascii_case(class))
                .map(|c| (p, *c))
        }) else {
            return Err(ps::CimError::InvalidClass);
        };
        let ctx = Ctx {
            model: &self.model,
            machine: self.machine,
            user: &self.user,
            privilege: Privilege::Admin,
            now: self.model.clock.now(),
        };
        let list = p
            .instances(&ctx, cls)
            .map_err(|f| ps::CimError::Other(f.message))?;
        Ok(list
            .into_iter()
            .map(|i| ps::CimInstance {
                class: i.class.clone(),
                namespace: want.clone(),
                properties: i
                    .props
                    .iter()
                    .map(|(k, v)| (k.to_string(), cim_value(v)))
                    .collect(),
            })
            .collect())
    }

    fn rule(&self, text: &str) -> Option<ps::ExternalOutput> {
        let line = format!("powershell {}", text.trim()).to_ascii_lowercase();
        self.rules
            .iter()
            .find(|r| shell::glob(&r.pattern.to_ascii_lowercase(), &line))
            .map(|r| ps::ExternalOutput {
                stdout: r.stdout.clone().into_bytes(),
                stderr: r.stderr.clone().into_bytes(),
                exit_code: r.exit_code,
            })
    }
}

fn cim_value(v: &crate::provider::Value) -> ps::Value {
    use crate::provider::Value as V;
    match v {
        V::Null => ps::Value::Null,
        V::Str(s) => ps::Value::String(s.to_string()),
        V::Datetime(s) => ps::Value::String(s.clone()),
        V::Int(n) => i32::try_from(*n)
            .map(ps::Value::Int32)
            .unwrap_or(ps::Value::Int64(*n)),
        V::Bool(b) => ps::Value::Bool(*b),
        V::Ref(r) => ps::Value::String(r.resource_uri.clone()),
        V::Array(a) => ps::Value::Array(a.iter().map(cim_value).collect()),
    }
}

/// Everything the hook needs from the engine besides the call.
pub struct Hook<'a> {
    pub pools: &'a Pools,
    pub providers: &'a [Arc<dyn ResourceProvider>],
    pub configurations: &'a [String],
}

impl Hook<'_> {
    /// Handles one shell operation on a PSRP resource URI; the answer is
    /// the body (the engine wraps it).
    pub async fn handle(
        &self,
        call: &Call<'_>,
        req: &Request,
        act: &str,
        uri: &str,
        max_env: usize,
    ) -> Result<String, Fault> {
        if configuration(uri, self.configurations).is_none() {
            // What WinRM says for a configuration it has not registered.
            return Err(Fault::invalid_resource_uri(uri));
        }
        self.expire(call);
        match act {
            action::CREATE => self.create(call, req, uri),
            action::COMMAND => self.command(call, req).await,
            action::SEND => self.send(call, req).await,
            action::RECEIVE => self.receive(call, req, max_env).await,
            action::SIGNAL => self.signal(call, req),
            action::DELETE => {
                let id = shell_id(req)?;
                let e = self.entry(call, id)?;
                // A pipeline still running stops with its pool.
                lock(&e)
                    .stop
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                lock(&self.pools.pools).remove(&id.to_ascii_uppercase());
                journal(call, "psrp close", id, "ok");
                Ok(String::new())
            }
            // Disconnected sessions are not kept: as a server whose
            // configuration does not support them, these are refused.
            DISCONNECT | RECONNECT | CONNECT => Err(Fault::action_not_supported(act)),
            other => Err(Fault::action_not_supported(other)),
        }
    }

    /// Drops pools idle past the shell idle timeout.
    fn expire(&self, call: &Call<'_>) {
        let now = call.ctx.now;
        let idle = call.shell.limits.idle_timeout;
        lock(&self.pools.pools).retain(|_, e| {
            let e = lock(e);
            now.saturating_duration_since(e.last_used) < idle
        });
    }

    fn entry(&self, call: &Call<'_>, id: &str) -> Result<Arc<Mutex<Entry>>, Fault> {
        let e = lock(&self.pools.pools)
            .get(&id.to_ascii_uppercase())
            .cloned()
            .ok_or_else(|| Fault::shell_not_found(id))?;
        {
            let mut g = lock(&e);
            // Another user's or another machine's pool is not there for
            // this caller, as WinRM hides other users' shells.
            if g.machine != call.ctx.machine || !g.owner.eq_ignore_ascii_case(call.ctx.user) {
                return Err(Fault::shell_not_found(id));
            }
            g.last_used = call.ctx.now;
        }
        Ok(e)
    }

    fn create(&self, call: &Call<'_>, req: &Request, uri: &str) -> Result<String, Fault> {
        let sh = req
            .body
            .find(ns::RSP, "Shell")
            .ok_or_else(|| Fault::schema("rsp:Shell is missing"))?;
        let creation = sh
            .child(CREATION_NS, "creationXml")
            .ok_or_else(|| Fault::schema("creationXml is missing"))?;
        let creation = b64(&creation.text)?;
        // The client names the pool: its ShellId is the runspace pool id.
        let rpid = match sh.attr("ShellId") {
            Some(s) => guid(s, "ShellId")?,
            None => {
                // Without one, the pool id is read from the first message.
                let m = fakedc_psrp::fragment::Fragment::decode(&creation)
                    .ok()
                    .and_then(|(f, _)| fakedc_psrp::message::Message::decode(&f.blob).ok())
                    .ok_or_else(|| fault(PsrpError::NotOpen))?;
                m.rpid
            }
        };
        let id = rpid.to_upper();
        {
            let pools = lock(&self.pools.pools);
            if pools.contains_key(&id) {
                return Err(Fault::invalid_parameter(format!(
                    "The shell {id} already exists."
                )));
            }
            let mine = pools
                .values()
                .filter(|e| {
                    let e = lock(e);
                    e.machine == call.ctx.machine && e.owner.eq_ignore_ascii_case(call.ctx.user)
                })
                .count();
            if mine >= call.shell.limits.max_shells_per_user {
                return Err(Fault::quota_limit(format!(
                    "The WS-Management service cannot process the request. This user is allowed a maximum number of {} concurrent shells, which has been exceeded.",
                    call.shell.limits.max_shells_per_user
                )));
            }
        }
        let rs = runspace(call, self.providers);
        let stop = rs.stop_handle();
        let mut pool = Pool::open(
            rpid,
            &creation,
            Box::new(rs),
            fakedc_psrp::Limits::default(),
        )
        .map_err(fault)?;
        pool.defer_runs();
        pool.user = account(call.ctx.user).to_string();
        pool.computer = call.shell.facts.hostname.clone();
        lock(&self.pools.pools).insert(
            id.clone(),
            Arc::new(Mutex::new(Entry {
                machine: call.ctx.machine,
                owner: call.ctx.user.to_string(),
                uri: uri.to_string(),
                pool,
                stop,
                last_used: call.ctx.now,
            })),
        );
        journal(call, "psrp open", &id, "ok");
        Ok(format!(
            concat!(
                "<x:ResourceCreated><a:Address>http://{host}:5985/wsman</a:Address><a:ReferenceParameters>",
                "<w:ResourceURI>{uri}</w:ResourceURI><w:SelectorSet><w:Selector Name=\"ShellId\">{id}</w:Selector></w:SelectorSet>",
                "</a:ReferenceParameters></x:ResourceCreated>",
                "<rsp:Shell><rsp:ShellId>{id}</rsp:ShellId><rsp:Name>Runspace1</rsp:Name><rsp:ResourceUri>{uri}</rsp:ResourceUri>",
                "<rsp:Owner>{owner}</rsp:Owner><rsp:ClientIP>127.0.0.1</rsp:ClientIP><rsp:ProcessId>4242</rsp:ProcessId>",
                "<rsp:IdleTimeOut>PT{idle}.000S</rsp:IdleTimeOut><rsp:InputStreams>stdin pr</rsp:InputStreams>",
                "<rsp:OutputStreams>stdout</rsp:OutputStreams><rsp:MaxIdleTimeOut>PT2147483.647S</rsp:MaxIdleTimeOut>",
                "<rsp:Locale>en-US</rsp:Locale><rsp:DataLocale>en-US</rsp:DataLocale><rsp:CompressionMode>NoCompression</rsp:CompressionMode>",
                "<rsp:ProfileLoaded>Yes</rsp:ProfileLoaded><rsp:Encoding>UTF8</rsp:Encoding><rsp:BufferMode>Block</rsp:BufferMode>",
                "<rsp:State>Connected</rsp:State><rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>"
            ),
            host = escape(call.machine_name),
            uri = escape(uri),
            id = id,
            owner = escape(call.ctx.user),
            idle = call.shell.limits.idle_timeout.as_secs()
        ))
    }

    async fn command(&self, call: &Call<'_>, req: &Request) -> Result<String, Fault> {
        let id = shell_id(req)?;
        let e = self.entry(call, id)?;
        let line = req
            .body
            .find(ns::RSP, "CommandLine")
            .ok_or_else(|| Fault::schema("rsp:CommandLine is missing"))?;
        let pid = guid(
            line.attr("CommandId")
                .ok_or_else(|| Fault::schema("rsp:CommandLine has no CommandId"))?,
            "CommandId",
        )?;
        let args = line
            .child(ns::RSP, "Arguments")
            .map(|a| b64(&a.text))
            .transpose()?
            .unwrap_or_default();
        let e2 = e.clone();
        blocking(e2, move |g| g.pool.command(pid, &args)).await?;
        start_jobs(&e, Journal::new(call, id));
        Ok(format!(
            "<rsp:CommandResponse><rsp:CommandId>{}</rsp:CommandId></rsp:CommandResponse>",
            pid.to_upper()
        ))
    }

    async fn send(&self, call: &Call<'_>, req: &Request) -> Result<String, Fault> {
        let id = shell_id(req)?;
        let e = self.entry(call, id)?;
        let mut streams = Vec::new();
        for s in req
            .body
            .find(ns::RSP, "Send")
            .map(|s| s.children_named(ns::RSP, "Stream").collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let pid = s
                .attr("CommandId")
                .map(|c| guid(c, "CommandId"))
                .transpose()?;
            streams.push((pid, b64(&s.text)?));
        }
        let e2 = e.clone();
        blocking(e2, move |g| {
            for (pid, data) in streams {
                g.pool.send(pid, &data)?;
            }
            Ok(())
        })
        .await?;
        start_jobs(&e, Journal::new(call, id));
        Ok("<rsp:SendResponse/>".into())
    }

    async fn receive(
        &self,
        call: &Call<'_>,
        req: &Request,
        max_env: usize,
    ) -> Result<String, Fault> {
        let id = shell_id(req)?;
        let e = self.entry(call, id)?;
        let ds = req
            .body
            .find(ns::RSP, "DesiredStream")
            .ok_or_else(|| Fault::schema("rsp:DesiredStream is missing"))?;
        let pid = ds
            .attr("CommandId")
            .map(|c| guid(c, "CommandId"))
            .transpose()?;
        let timeout = req
            .operation_timeout
            .unwrap_or(Duration::from_secs(60))
            .min(MAX_WAIT);
        let clock = &call.ctx.model.clock;
        let deadline = clock.now() + timeout;
        // Raw bytes that fit base64-encoded in the envelope, with room for
        // the elements around each fragment.
        let budget = max_env.saturating_sub(4096) / 4 * 3;
        let mut wait = Duration::from_millis(1);
        loop {
            let taken = {
                let mut g = lock(&e);
                g.pool.receive(pid, budget).map_err(fault)?
            };
            if !taken.bytes.is_empty() || taken.done {
                return Ok(receive_xml(pid, &taken.bytes, taken.done));
            }
            let now = clock.now();
            if now >= deadline {
                return Err(Fault::timed_out());
            }
            tokio::time::sleep(wait.min(deadline.saturating_duration_since(now))).await;
            wait = (wait * 2).min(POLL);
        }
    }

    fn signal(&self, call: &Call<'_>, req: &Request) -> Result<String, Fault> {
        let id = shell_id(req)?;
        let e = self.entry(call, id)?;
        let sig = req
            .body
            .find(ns::RSP, "Signal")
            .ok_or_else(|| Fault::schema("rsp:Signal is missing"))?;
        let code = sig
            .child(ns::RSP, "Code")
            .map(|c| c.text_trim().to_string())
            .unwrap_or_default();
        let Some(cmd) = sig.attr("CommandId") else {
            return Ok("<rsp:SignalResponse/>".into());
        };
        let pid = guid(cmd, "CommandId")?;
        let mut g = lock(&e);
        if code.eq_ignore_ascii_case(SIGNAL_STOP) || code.eq_ignore_ascii_case(SIGNAL_STOP_CTRL) {
            if g.pool.stop(pid).map_err(fault)? {
                // Running: the evaluator stops at its next step and the
                // job ends the pipeline Stopped.
                g.stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            journal(call, "psrp stop", id, "ok");
        } else if code.eq_ignore_ascii_case(SIGNAL_TERMINATE) {
            // Terminating a pipeline that already ended and was received
            // is what clients do on close: nothing is left to drop.
            if let Ok(true) = g.pool.terminate(pid) {
                g.stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        } else {
            return Err(Fault::invalid_parameter(format!(
                "The signal code {code} is not valid for a PowerShell shell."
            )));
        }
        let _ = &g.uri;
        Ok("<rsp:SignalResponse/>".into())
    }
}

fn shell_id(req: &Request) -> Result<&str, Fault> {
    req.selector("ShellId")
        .ok_or_else(|| Fault::invalid_selectors("The ShellId selector is missing."))
}

fn account(user: &str) -> &str {
    let a = user.rsplit('\\').next().unwrap_or(user);
    a.split('@').next().unwrap_or(a)
}

/// A fresh evaluator runspace for a pool, on the caller's machine and
/// share, as the caller.
fn runspace(
    call: &Call<'_>,
    providers: &[Arc<dyn ResourceProvider>],
) -> fakedc_psrp::pwsh::PwshRunspace {
    let model = call.ctx.model.clone();
    let m = model.machine(call.ctx.machine);
    let share = m.share.as_ref().and_then(|p| {
        std::fs::create_dir_all(p).ok()?;
        cap_std::fs::Dir::open_ambient_dir(p, cap_std::ambient_authority())
            .ok()
            .map(Arc::new)
    });
    let user = account(call.ctx.user).to_string();
    let cfg: &ShellConfig = call.shell;
    let host = WinrmHost {
        model: model.clone(),
        machine: call.ctx.machine,
        user: user.clone(),
        rules: cfg.rules.clone(),
        facts: shell::HostFacts {
            user: user.clone(),
            ..cfg.facts.clone()
        },
        providers: providers.to_vec(),
    };
    let ctx = ps::HostContext {
        model,
        machine: call.ctx.machine,
        user,
        share,
        host: Arc::new(host),
        limits: ps::Limits::default(),
        service: "psrp".into(),
    };
    fakedc_psrp::pwsh::PwshRunspace::new(ps::Runspace::new(ctx))
}

/// Runs a pool step on the blocking pool (a pipeline may run a while).
async fn blocking<T: Send + 'static>(
    e: Arc<Mutex<Entry>>,
    f: impl FnOnce(&mut Entry) -> Result<T, PsrpError> + Send + 'static,
) -> Result<T, Fault> {
    tokio::task::spawn_blocking(move || {
        let mut g = lock(&e);
        f(&mut g)
    })
    .await
    .map_err(|_| Fault::invalid_parameter("The pipeline's worker failed."))?
    .map_err(fault)
}

fn receive_xml(pid: Option<Guid>, bytes: &[u8], done: bool) -> String {
    let mut out = String::from("<rsp:ReceiveResponse>");
    let cmd = pid
        .map(|p| format!(" CommandId=\"{}\"", p.to_upper()))
        .unwrap_or_default();
    // One stream element per fragment, as Windows writes them.
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = match fakedc_psrp::fragment::Fragment::decode(rest) {
            Ok((_, after)) => rest.len() - after.len(),
            Err(_) => rest.len(),
        };
        out.push_str(&format!(
            "<rsp:Stream Name=\"stdout\"{cmd}>{}</rsp:Stream>",
            base64::engine::general_purpose::STANDARD.encode(&rest[..n])
        ));
        rest = &rest[n..];
    }
    if pid.is_some() {
        out.push_str(&format!(
            "<rsp:CommandState{cmd} State=\"{}\"/>",
            if done {
                shell::STATE_DONE
            } else {
                shell::STATE_RUNNING
            }
        ));
    }
    out.push_str("</rsp:ReceiveResponse>");
    out
}

/// One journal entry under the `psrp` service (the HTTP request has its
/// own under `wsman`).
fn journal(call: &Call<'_>, op: &str, shell: &str, outcome: &str) {
    call.ctx.model.journal.record(Record {
        machine: call.machine_name.to_string(),
        service: "psrp".into(),
        user: Some(call.ctx.user.to_string()),
        operation: format!("{op} {shell}"),
        outcome: outcome.to_string(),
        ..Default::default()
    });
}

/// What a pipeline's job needs to journal its end after the request that
/// started it has been answered.
struct Journal {
    model: Arc<Model>,
    machine: String,
    user: String,
    shell: String,
}

impl Journal {
    fn new(call: &Call<'_>, shell: &str) -> Journal {
        Journal {
            model: call.ctx.model.clone(),
            machine: call.machine_name.to_string(),
            user: call.ctx.user.to_string(),
            shell: shell.to_string(),
        }
    }

    fn ran(&self, r: &fakedc_psrp::pool::Ran) {
        self.model.journal.record(Record {
            machine: self.machine.clone(),
            service: "psrp".into(),
            user: Some(self.user.clone()),
            operation: format!("psrp pipeline {}", self.shell),
            outcome: format!(
                "{} ({}) {}: {} output, {} errors",
                r.pipeline, r.summary, r.outcome, r.outputs, r.errors
            ),
            ..Default::default()
        });
    }
}

/// Runs the pool's ready pipelines, one after the other (one runspace),
/// on the blocking pool; each queues what it writes as it writes it. Does
/// nothing when none is ready or one is already running (that job takes
/// the next one when it ends).
/// Runs the pool's queued pipelines one after another on the blocking
/// pool. The evaluator's stop flag is cleared when a job is taken, under
/// the entry's lock that a stop Signal also takes: a stop that arrives
/// after the pipeline is marked running but before the evaluator starts is
/// kept, not wiped by the start (it used to be, and such a stop was lost).
fn start_jobs(e: &Arc<Mutex<Entry>>, journal: Journal) {
    let Some(first) = take_job(&mut lock(e)) else {
        return;
    };
    let e = e.clone();
    tokio::task::spawn_blocking(move || {
        let mut next = Some(first);
        while let Some(job) = next.take() {
            let pid = job.pipeline;
            let sink = e.clone();
            let done = job.run(Box::new(move |events| {
                lock(&sink).pool.events(pid, events);
            }));
            let mut g = lock(&e);
            let ran = g.pool.finish(done);
            journal.ran(&ran);
            next = take_job(&mut g);
        }
    });
}

/// The pool's next job, with the stop flag cleared for it (see
/// [`start_jobs`]).
fn take_job(g: &mut Entry) -> Option<fakedc_psrp::pool::Job> {
    let job = g.pool.next_job()?;
    g.stop.store(false, std::sync::atomic::Ordering::Relaxed);
    Some(job)
}
