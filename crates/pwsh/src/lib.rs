//! PowerShell 5.1 for fakedc: a tokenizer and parser for PowerShell's
//! grammar, an evaluator with PowerShell's semantics for what it supports,
//! and cmdlets over the model (Hyper-V VMs, services, processes, the jailed
//! share, WMI through the host). It is honest: a construct or command it
//! does not implement fails with a PowerShell error record naming it,
//! never with a silently different answer.
//!
//! Two front ends use it: the WinRM cmd shell's `powershell.exe` (pywinrm's
//! `run_ps`, Ansible's `winrm` connection), through [`console`], and PSRP
//! (pypsrp, Ansible's `psrp` connection), through [`Runspace::invoke`].
//! It knows nothing of WS-Management: what it needs from the WinRM side
//! (the WMI providers, the cmd shell's command table, scenario rules)
//! reaches it through the [`Host`] trait, which `fakedc-wsman` implements.
//!
//! Everything is sans-IO except the share, which is a cap-std `Dir` (the
//! same jail SMB, BITS and SFTP use); time comes from the model's clock.

// Error records are large (a dozen strings) and travel in `Result`s on
// every evaluation path; boxing each would cost an allocation per error
// for no gain in a tree-walking interpreter.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

pub mod ast;
pub mod console;
pub mod dotnet;
pub mod eval;
pub mod format;
pub mod parser;
pub mod value;

mod cmdlets;
mod fs;
mod ops;

pub use value::{DateTime, EnumValue, Live, PsObject, Value, Version};

use fakedc_model::{MachineId, Model};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The version every fakedc Windows host reports: Windows Server 2019's
/// Windows PowerShell 5.1.
pub const PS_VERSION: Version = Version {
    major: 5,
    minor: 1,
    build: 17763,
    revision: 5458,
};

/// Default stack for the evaluator's thread: enough for the call-depth
/// budget (100) and the parser's nesting budget in a debug build.
const EVAL_STACK: usize = 256 << 20;

/// The result when the evaluator thread could not run or panicked (a bug:
/// reported as a failed pipeline rather than taking the service down).
fn panicked() -> Invocation {
    let e = ErrorRecord::new(
        "System.Management.Automation.RuntimeException",
        "fakedc's PowerShell evaluator failed internally.",
        "InternalEvaluatorError",
        ErrorCategory::NotSpecified,
    );
    let mut inv = Invocation::new();
    inv.errors.push(e.clone());
    inv.order.push((Stream::Error, 0));
    inv.had_errors = true;
    inv.state = PipelineState::Failed(e);
    inv
}

/// What a native program (`ipconfig`, `cmd /c ...`) printed, from the
/// host's cmd shell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExternalOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i32,
}

/// A CIM instance as the host's WMI providers list it, for
/// `Get-CimInstance`/`Get-WmiObject`.
#[derive(Debug, Clone, PartialEq)]
pub struct CimInstance {
    pub class: String,
    pub namespace: String,
    pub properties: Vec<(String, Value)>,
}

/// Why a CIM query failed, as the host's WMI says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CimError {
    /// No such class in that namespace (`Invalid class`).
    InvalidClass,
    /// No such namespace (`Invalid namespace`).
    InvalidNamespace,
    /// Anything else, with WMI's message.
    Other(String),
}

/// What the evaluator needs from the WinRM side, implemented by
/// `fakedc-wsman` (this crate never depends on it: psrp and wsman depend
/// on this one).
pub trait Host: Send + Sync {
    /// Runs a native command line through the cmd shell's command table
    /// (scenario rules first, then its built-ins), as `ipconfig /all` or
    /// `cmd /c ver` typed at a PowerShell prompt would.
    fn run_external(&self, line: &str) -> ExternalOutput;

    /// Every instance of `class` in `namespace` (`root/cimv2`), from the
    /// same providers WS-Management's Enumerate reads.
    fn cim_instances(&self, namespace: &str, class: &str) -> Result<Vec<CimInstance>, CimError>;

    /// A scenario rule answering this PowerShell text (a whole script, or
    /// one command line `Get-Thing -All`), which overrides the evaluator.
    fn rule(&self, text: &str) -> Option<ExternalOutput> {
        let _ = text;
        None
    }

    /// The process environment (`$env:`): what the cmd shell's `set`
    /// lists on this host.
    fn environment(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// A host with no cmd shell, no WMI and no rules (tests, the fuzz target).
#[derive(Debug, Default)]
pub struct NoHost;

impl Host for NoHost {
    fn run_external(&self, line: &str) -> ExternalOutput {
        let cmd = line.split_whitespace().next().unwrap_or_default();
        ExternalOutput {
            stderr: format!(
                "'{cmd}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
            )
            .into_bytes(),
            exit_code: 1,
            ..Default::default()
        }
    }

    fn cim_instances(&self, _: &str, _: &str) -> Result<Vec<CimInstance>, CimError> {
        Err(CimError::InvalidNamespace)
    }
}

/// Budgets a script runs within; exceeding one fails the pipeline with
/// PowerShell's own error for it (or a `ScriptBudgetExceeded` record when
/// PowerShell has none), so a hostile script cannot hold a core or memory.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Evaluation steps (statements, expressions, pipeline items) per
    /// invocation.
    pub max_steps: u64,
    /// Call depth (functions, script blocks); PowerShell's own limit is
    /// about 1,000 (`The script failed due to call depth overflow`).
    pub max_depth: usize,
    /// Largest string or array (characters or elements).
    pub max_items: usize,
    /// Bytes a script may hold in strings, arrays and streams at once,
    /// approximately.
    pub max_memory: usize,
    /// Largest script text accepted.
    pub max_script: usize,
    /// Objects kept per stream of one invocation.
    pub max_output: usize,
    /// Longest real-time wait one command may make (Start-Sleep, Stop-VM
    /// waiting for the guest's shutdown).
    pub max_wait: std::time::Duration,
    /// Stack of the evaluator's thread, bytes. The default fits the call
    /// depth and parser nesting budgets in a debug build; a caller with
    /// smaller depth budgets (the fuzz target, whose sanitizer also maps
    /// shadow memory for each stack) can ask for less.
    pub eval_stack: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: 5_000_000,
            max_depth: 100,
            max_items: 16 << 20,
            max_memory: 256 << 20,
            max_script: 1 << 20,
            max_output: 100_000,
            max_wait: std::time::Duration::from_secs(60),
            eval_stack: EVAL_STACK,
        }
    }
}

/// Where a runspace runs: the machine, who is logged in and what it may
/// reach.
#[derive(Clone)]
pub struct HostContext {
    pub model: Arc<Model>,
    pub machine: MachineId,
    /// The authenticated account (`Administrator`, without the domain).
    pub user: String,
    /// The machine's share, jailed (`None` when it has none): `C:\` maps
    /// onto it, as ADMIN$/C$ do over SMB.
    pub share: Option<Arc<cap_std::fs::Dir>>,
    /// The WinRM side: cmd shell, WMI, scenario rules.
    pub host: Arc<dyn Host>,
    pub limits: Limits,
    /// The journal's service name for entries this runspace writes
    /// (`wsman` for powershell.exe in a cmd shell, `psrp` for PSRP).
    pub service: String,
}

/// PowerShell's pipeline states, as PSRP's PIPELINE_STATE carries them.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineState {
    /// Ran to the end (non-terminating errors may still have been written).
    Completed,
    /// Stopped by a terminating error (`throw`, a parse error, a budget).
    Failed(ErrorRecord),
    /// Stopped by [`Runspace::stop_handle`].
    Stopped,
}

/// PowerShell's error categories (`System.Management.Automation.ErrorCategory`),
/// with their numbers as PSRP serialises them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCategory {
    NotSpecified = 0,
    OpenError = 1,
    CloseError = 2,
    DeviceError = 3,
    DeadlockDetected = 4,
    InvalidArgument = 5,
    InvalidData = 6,
    InvalidOperation = 7,
    InvalidResult = 8,
    InvalidType = 9,
    MetadataError = 10,
    NotImplemented = 11,
    NotInstalled = 12,
    ObjectNotFound = 13,
    OperationStopped = 14,
    OperationTimeout = 15,
    SyntaxError = 16,
    ParserError = 17,
    PermissionDenied = 18,
    ResourceBusy = 19,
    ResourceExists = 20,
    ResourceUnavailable = 21,
    ReadError = 22,
    WriteError = 23,
    FromStdErr = 24,
    SecurityError = 25,
    ProtocolError = 26,
    ConnectionError = 27,
    AuthenticationError = 28,
    LimitsExceeded = 29,
    QuotaExceeded = 30,
    NotEnabled = 31,
}

impl ErrorCategory {
    /// The name PowerShell prints in `CategoryInfo`.
    pub fn name(self) -> &'static str {
        use ErrorCategory::*;
        match self {
            NotSpecified => "NotSpecified",
            OpenError => "OpenError",
            CloseError => "CloseError",
            DeviceError => "DeviceError",
            DeadlockDetected => "DeadlockDetected",
            InvalidArgument => "InvalidArgument",
            InvalidData => "InvalidData",
            InvalidOperation => "InvalidOperation",
            InvalidResult => "InvalidResult",
            InvalidType => "InvalidType",
            MetadataError => "MetadataError",
            NotImplemented => "NotImplemented",
            NotInstalled => "NotInstalled",
            ObjectNotFound => "ObjectNotFound",
            OperationStopped => "OperationStopped",
            OperationTimeout => "OperationTimeout",
            SyntaxError => "SyntaxError",
            ParserError => "ParserError",
            PermissionDenied => "PermissionDenied",
            ResourceBusy => "ResourceBusy",
            ResourceExists => "ResourceExists",
            ResourceUnavailable => "ResourceUnavailable",
            ReadError => "ReadError",
            WriteError => "WriteError",
            FromStdErr => "FromStdErr",
            SecurityError => "SecurityError",
            ProtocolError => "ProtocolError",
            ConnectionError => "ConnectionError",
            AuthenticationError => "AuthenticationError",
            LimitsExceeded => "LimitsExceeded",
            QuotaExceeded => "QuotaExceeded",
            NotEnabled => "NotEnabled",
        }
    }
}

/// A PowerShell `ErrorRecord`, with what PSRP's ERROR_RECORD and the
/// console's error view need.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRecord {
    /// The exception's .NET type (`System.Management.Automation.CommandNotFoundException`).
    pub exception_type: String,
    /// The exception's message.
    pub message: String,
    /// `FullyQualifiedErrorId` (`CommandNotFoundException`,
    /// `VMNotFound,Microsoft.HyperV.PowerShell.Commands.GetVM`).
    pub fully_qualified_error_id: String,
    pub category: ErrorCategory,
    /// `CategoryInfo.Activity` (the command that failed, or empty).
    pub activity: String,
    /// `CategoryInfo.Reason`: the exception's short type name.
    pub reason: String,
    /// The target object's text and type (`Get-Frob`, `String`).
    pub target_name: String,
    pub target_type: String,
    /// `InvocationInfo.PositionMessage` (`At line:1 char:1` + the line +
    /// the underline), empty when there is none.
    pub position: String,
    /// The script line and column (1-based) the error points at.
    pub line: usize,
    pub column: usize,
    /// The command that wrote it (`Get-VM`), empty for the language.
    pub command: String,
}

impl ErrorRecord {
    /// A record with these essentials; the rest is filled in by the
    /// evaluator as the error travels.
    pub fn new(
        exception_type: &str,
        message: impl Into<String>,
        error_id: &str,
        category: ErrorCategory,
    ) -> ErrorRecord {
        let reason = exception_type
            .rsplit('.')
            .next()
            .unwrap_or(exception_type)
            .to_string();
        ErrorRecord {
            exception_type: exception_type.to_string(),
            message: message.into(),
            fully_qualified_error_id: error_id.to_string(),
            category,
            activity: String::new(),
            reason,
            target_name: String::new(),
            target_type: String::new(),
            position: String::new(),
            line: 0,
            column: 0,
            command: String::new(),
        }
    }

    /// The record for something the evaluator does not implement: a
    /// `NotImplemented` error naming it, so a script never gets a silently
    /// different answer.
    pub fn not_implemented(what: &str) -> ErrorRecord {
        ErrorRecord::new(
            "System.NotImplementedException",
            format!("fakedc's PowerShell does not implement {what}."),
            "NotImplemented",
            ErrorCategory::NotImplemented,
        )
        .with_target(what, "String")
    }

    /// Sets the target object.
    pub fn with_target(mut self, name: &str, ty: &str) -> ErrorRecord {
        self.target_name = name.to_string();
        self.target_type = ty.to_string();
        self
    }

    /// `CategoryInfo` as the console prints it
    /// (`ObjectNotFound: (Get-Frob:String) [], CommandNotFoundException`).
    pub fn category_info(&self) -> String {
        format!(
            "{}: ({}:{}) [{}], {}",
            self.category.name(),
            self.target_name,
            self.target_type,
            self.activity,
            self.reason
        )
    }
}

/// One command of a PSRP pipeline (MS-PSRP 2.2.3.11's `Cmds` entry).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Command {
    /// A command name (`Get-VM`) or, with `is_script`, script text.
    pub text: String,
    pub is_script: bool,
    /// Parameters in order: `Some(name)` for `-Name value` (a switch is
    /// `Bool(true)`), `None` for a positional argument.
    pub parameters: Vec<(Option<String>, Value)>,
    /// Run in the current scope instead of a child one (`UseLocalScope`).
    pub use_local_scope: bool,
    /// `MergeMyResult`/`MergeToResult`: this command's error stream goes to
    /// its output (`2>&1`).
    pub merge_error_to_output: bool,
    /// `MergePreviousResults`: earlier commands' error records join this
    /// one's input.
    pub merge_previous: bool,
    /// Warning, verbose, debug and information streams merged into output
    /// (PSRP protocol 2.2+ `MergeWarning` and friends).
    pub merge_warning: bool,
    pub merge_verbose: bool,
    pub merge_debug: bool,
    pub merge_information: bool,
}

impl Command {
    /// A command by name with no parameters.
    pub fn new(text: impl Into<String>) -> Command {
        Command {
            text: text.into(),
            ..Default::default()
        }
    }

    /// Script text as a command (`AddScript`).
    pub fn script(text: impl Into<String>) -> Command {
        Command {
            text: text.into(),
            is_script: true,
            ..Default::default()
        }
    }

    /// Adds a named parameter.
    pub fn param(mut self, name: &str, v: Value) -> Command {
        self.parameters.push((Some(name.to_string()), v));
        self
    }

    /// Adds a positional argument.
    pub fn arg(mut self, v: Value) -> Command {
        self.parameters.push((None, v));
        self
    }
}

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub enum Pipeline {
    /// Script text, as powershell.exe `-Command` runs it.
    Script(String),
    /// Commands piped into each other, as PSRP's CREATE_PIPELINE carries
    /// them.
    Commands(Vec<Command>),
}

/// Which stream an item was written to, for [`Invocation::order`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Output,
    Error,
    Warning,
    Verbose,
    Debug,
    Information,
}

/// An information record (`Write-Information`, and `Write-Host`, which
/// PowerShell 5 writes to the information stream tagged `PSHOST`).
#[derive(Debug, Clone, PartialEq)]
pub struct InformationRecord {
    pub message: Value,
    pub tags: Vec<String>,
    /// The command that wrote it (`Write-Host`).
    pub source: String,
    /// Written by `Write-Host` (the host displays it even with
    /// `$InformationPreference` at SilentlyContinue).
    pub from_host: bool,
    /// `Write-Host -NoNewline`.
    pub no_newline: bool,
}

/// What one [`Runspace::invoke`] produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub output: Vec<Value>,
    pub errors: Vec<ErrorRecord>,
    pub warnings: Vec<String>,
    pub verbose: Vec<String>,
    pub debug: Vec<String>,
    pub information: Vec<InformationRecord>,
    /// The order items were written in, across streams: (stream, index in
    /// that stream's vector). A console interleaves by it; PSRP sends by it.
    pub order: Vec<(Stream, usize)>,
    /// Whether any error record was written (PSRP's `HadErrors`).
    pub had_errors: bool,
    pub state: PipelineState,
    /// `exit N` in the script, when it ran one.
    pub exit_code: Option<i32>,
    /// `$?` after the last statement.
    pub last_succeeded: bool,
}

impl Invocation {
    pub(crate) fn new() -> Invocation {
        Invocation {
            output: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            verbose: Vec::new(),
            debug: Vec::new(),
            information: Vec::new(),
            order: Vec::new(),
            had_errors: false,
            state: PipelineState::Completed,
            exit_code: None,
            last_succeeded: true,
        }
    }
}

/// State that persists across invocations of one runspace (PSRP: one per
/// runspace pool; powershell.exe: one per process): variables, functions,
/// `$LASTEXITCODE`, the current location.
pub struct Runspace {
    pub(crate) ctx: HostContext,
    pub(crate) globals: HashMap<String, Value>,
    pub(crate) functions: HashMap<String, Arc<ast::FunctionDef>>,
    pub(crate) location: String,
    /// `$env:`, copied from the host on first use, changed by scripts.
    pub(crate) env: Option<Vec<(String, String)>>,
    /// Parsed script blocks by text (ForEach-Object runs one per item).
    pub(crate) block_cache: HashMap<String, Arc<ast::ScriptBlock>>,
    /// Feeds `[guid]::NewGuid()` and Get-Random (with the clock).
    pub(crate) guid_counter: u64,
    stop: Arc<AtomicBool>,
    /// Set while [`Runspace::invoke_streaming`] runs.
    pub(crate) sink: Option<Sink>,
}

impl Runspace {
    /// A fresh runspace on the context's machine, with PowerShell's
    /// automatic variables.
    pub fn new(ctx: HostContext) -> Runspace {
        let mut rs = Runspace {
            ctx,
            globals: HashMap::new(),
            functions: HashMap::new(),
            location: String::new(),
            env: None,
            block_cache: HashMap::new(),
            guid_counter: 0,
            stop: Arc::new(AtomicBool::new(false)),
            sink: None,
        };
        rs.location = format!("C:\\Users\\{}\\Documents", rs.ctx.user);
        eval::init_globals(&mut rs);
        rs
    }

    /// The context this runspace runs in.
    pub fn context(&self) -> &HostContext {
        &self.ctx
    }

    /// Setting this stops the running pipeline at its next step (PSRP's
    /// Signal with `powershell/signal/crtl_c`). The owner clears it when
    /// it hands the runspace a new pipeline, under the same lock its stop
    /// signal takes; clearing it here, when the evaluator starts, would
    /// lose a stop that came between the two.
    pub fn stop_handle(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sets a global variable (`$PSSenderInfo`, application arguments).
    pub fn set_variable(&mut self, name: &str, v: Value) {
        self.globals.insert(name.to_ascii_lowercase(), v);
    }

    /// A global variable's value.
    pub fn variable(&self, name: &str) -> Option<&Value> {
        self.globals.get(&name.to_ascii_lowercase())
    }

    /// The current location (`Get-Location`), a Windows path.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Runs a pipeline with `input` as its input objects (PSRP's
    /// PIPELINE_INPUT; `$input` in a script). Never panics; every failure
    /// is in the result.
    ///
    /// The evaluation runs on a scoped thread with a large stack (the
    /// recursion budget, not the caller's stack, is what bounds a deep
    /// script), so it is safe to call from an async worker's thread; it
    /// does block the caller until the pipeline finishes.
    pub fn invoke(&mut self, pipeline: &Pipeline, input: Vec<Value>) -> Invocation {
        self.sink = None;
        self.run(pipeline, input).0
    }

    /// [`Runspace::invoke`], handing items to `sink` as they are written
    /// (after each top-level statement, and each statement of a loop at
    /// the top level) rather than only at the end: PSRP streams a long
    /// pipeline's output to the client while it runs. Returns the
    /// invocation and how many of its `order` entries the sink was given
    /// (the rest are the caller's to deliver).
    pub fn invoke_streaming(
        &mut self,
        pipeline: &Pipeline,
        input: Vec<Value>,
        sink: Sink,
    ) -> (Invocation, usize) {
        self.sink = Some(sink);
        let r = self.run(pipeline, input);
        self.sink = None;
        r
    }

    fn run(&mut self, pipeline: &Pipeline, input: Vec<Value>) -> (Invocation, usize) {
        std::thread::scope(|s| {
            let h = std::thread::Builder::new()
                .name("pwsh".into())
                .stack_size(self.ctx.limits.eval_stack.max(1 << 20))
                .spawn_scoped(s, || eval::invoke(self, pipeline, input));
            match h {
                Ok(h) => h.join().unwrap_or_else(|_| (panicked(), 0)),
                Err(_) => (panicked(), 0),
            }
        })
    }
}

/// Where [`Runspace::invoke_streaming`] hands written items: the
/// invocation so far and the range of its `order` not handed out before.
pub type Sink = Box<dyn FnMut(&Invocation, std::ops::Range<usize>) + Send>;
