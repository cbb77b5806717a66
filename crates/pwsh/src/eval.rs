//! The evaluator: walks the syntax tree with PowerShell's semantics for
//! scopes, pipelines, error streams and terminating errors. Pipelines are
//! evaluated element by element (each element sees all of the previous
//! one's output), which keeps `begin/process/end` and `$input` simple; the
//! observable difference from streaming is only in how Write-Host
//! interleaves with the output of a long pipeline.
//!
//! Errors follow PowerShell's three kinds: non-terminating (written to the
//! error stream, `$?` false, the script goes on), statement-terminating (a
//! .NET exception or a runtime error: the statement stops, the error is
//! written, the next statement runs) and script-terminating (`throw`,
//! `-ErrorAction Stop`, and everything this evaluator does not implement:
//! the script stops, so it can never go on with a silently wrong value).
//! Inside `try` every terminating error goes to `catch`.

use crate::ast::*;
use crate::cmdlets;
use crate::dotnet;
use crate::ops::{self, runtime};
use crate::parser;
use crate::value::{PsObject, Value};
use crate::{
    ErrorCategory, ErrorRecord, InformationRecord, Invocation, Pipeline as PipelineIn,
    PipelineState, Runspace, Stream,
};
use std::collections::HashMap;
use std::sync::Arc;

/// How far an error reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Term {
    Statement,
    Script,
}

/// Control flow out of a statement.
#[derive(Debug)]
pub(crate) enum Flow {
    Break(Option<String>),
    Continue(Option<String>),
    Return,
    Exit(i32),
    Error(Box<ErrorRecord>, Term),
    /// A budget ran out or the pipeline was stopped: nothing catches it.
    Halt(Box<PipelineState>),
}

pub(crate) type Res<T> = Result<T, Flow>;

impl From<ErrorRecord> for Flow {
    fn from(e: ErrorRecord) -> Flow {
        Flow::Error(Box::new(e), Term::Statement)
    }
}

/// `$ErrorActionPreference` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorAction {
    Continue,
    SilentlyContinue,
    Stop,
    Ignore,
}

pub(crate) fn parse_error_action(v: &Value) -> Option<ErrorAction> {
    let s = v.to_string().to_ascii_lowercase();
    Some(match s.as_str() {
        "continue" | "inquire" | "suspend" | "2" | "3" => ErrorAction::Continue,
        "silentlycontinue" | "0" => ErrorAction::SilentlyContinue,
        "stop" | "1" => ErrorAction::Stop,
        "ignore" | "4" => ErrorAction::Ignore,
        _ => return None,
    })
}

/// The interpreter for one invocation.
pub(crate) struct Interp<'r> {
    pub rs: &'r mut Runspace,
    /// Local scopes, innermost last; the global scope is `rs.globals`.
    pub scopes: Vec<HashMap<String, Value>>,
    pub inv: Invocation,
    steps: u64,
    depth: usize,
    try_depth: usize,
    /// `$?`.
    pub last_ok: bool,
    /// Set by any error written while the current pipeline runs.
    pipeline_failed: bool,
    /// `-ErrorAction` of the commands being run, innermost last.
    pub ea_stack: Vec<ErrorAction>,
    /// The script text positions point into.
    script: Arc<str>,
    /// Where the current statement/command is (for error records).
    cur_pos: Pos,
    cur_end: usize,
    pub cur_command: String,
    /// Bytes held in stream output (approximate), for the memory budget.
    held: usize,
    /// Output of a `return` on its way out of the block.
    returned: Vec<Value>,
    /// Top-level output goes to the invocation's stream statement by
    /// statement, so it interleaves with Write-Host as in powershell.exe.
    emit_top: bool,
    /// The address of the top-level block's output vector while it runs
    /// (0 otherwise): a loop body writing straight into it is at the top
    /// level too, so its statements' output is emitted as each one ends
    /// (a long loop's output reaches a PSRP client as it is produced).
    /// Compared, never dereferenced.
    top_out: usize,
    /// Entries of `inv.order` already handed to the runspace's sink.
    flushed: usize,
    /// Whether written items may be handed out before the end: not when
    /// a merge (`2>&1` on the whole pipeline) may still take errors back.
    streaming: bool,
}

/// PowerShell's automatic variables for a new runspace.
pub(crate) fn init_globals(rs: &mut Runspace) {
    let m = rs.ctx.model.machine(rs.ctx.machine);
    let host = m.name.to_ascii_uppercase();
    let psv = Value::Version(crate::PS_VERSION);
    let ver =
        |s: &str| Value::Version(crate::value::Version::parse(s).unwrap_or(crate::PS_VERSION));
    let table = Value::Hashtable(vec![
        (Value::str("PSVersion"), psv),
        (Value::str("PSEdition"), Value::str("Desktop")),
        (
            Value::str("PSCompatibleVersions"),
            Value::Array(
                ["1.0", "2.0", "3.0", "4.0", "5.0", "5.1.17763.5458"]
                    .iter()
                    .map(|v| ver(v))
                    .collect(),
            ),
        ),
        (Value::str("BuildVersion"), ver("10.0.17763.5458")),
        (Value::str("CLRVersion"), ver("4.0.30319.42000")),
        (Value::str("WSManStackVersion"), ver("3.0")),
        (Value::str("PSRemotingProtocolVersion"), ver("2.3")),
        (Value::str("SerializationVersion"), ver("1.1.0.1")),
    ]);
    let user = rs.ctx.user.clone();
    let vars: Vec<(&str, Value)> = vec![
        ("true", Value::Bool(true)),
        ("false", Value::Bool(false)),
        ("null", Value::Null),
        ("psversiontable", table),
        ("pid", Value::Int32(4242)),
        (
            "pshome",
            Value::str("C:\\Windows\\System32\\WindowsPowerShell\\v1.0"),
        ),
        ("home", Value::str(format!("C:\\Users\\{user}"))),
        ("erroractionpreference", Value::str("Continue")),
        ("warningpreference", Value::str("Continue")),
        ("verbosepreference", Value::str("SilentlyContinue")),
        ("debugpreference", Value::str("SilentlyContinue")),
        ("informationpreference", Value::str("SilentlyContinue")),
        ("progresspreference", Value::str("Continue")),
        ("confirmpreference", Value::str("High")),
        ("whatifpreference", Value::Bool(false)),
        ("error", Value::List(Vec::new())),
        ("pscukture", Value::Null),
        ("psculture", Value::str("en-US")),
        ("psuiculture", Value::str("en-US")),
        ("shellid", Value::str("Microsoft.PowerShell")),
        ("nestedpromptlevel", Value::Int32(0)),
        ("maximumhistorycount", Value::Int32(4096)),
        ("ofs", Value::Null),
        ("host", dotnet::host_object()),
        ("executioncontext", dotnet::execution_context()),
        ("psscriptroot", Value::str("")),
        ("pscommandpath", Value::str("")),
        ("computername_", Value::str(host)),
    ];
    for (k, v) in vars {
        if k == "ofs" || k == "pscukture" || k == "computername_" {
            continue;
        }
        rs.globals.insert(k.to_string(), v);
    }
}

/// Runs a pipeline (see [`Runspace::invoke`]); also returns how many
/// entries of the invocation's `order` the runspace's sink was given.
pub(crate) fn invoke(
    rs: &mut Runspace,
    pipeline: &PipelineIn,
    input: Vec<Value>,
) -> (Invocation, usize) {
    let script: Arc<str> = match pipeline {
        PipelineIn::Script(s) => Arc::from(s.as_str()),
        PipelineIn::Commands(c) => Arc::from(
            c.iter()
                .find(|c| c.is_script)
                .map(|c| c.text.as_str())
                .unwrap_or(""),
        ),
    };
    let journal_text: String = match pipeline {
        PipelineIn::Script(s) => s.clone(),
        PipelineIn::Commands(c) => c
            .iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
    };
    let mut it = Interp {
        rs,
        scopes: Vec::new(),
        inv: Invocation::new(),
        steps: 0,
        depth: 0,
        try_depth: 0,
        last_ok: true,
        pipeline_failed: false,
        ea_stack: Vec::new(),
        script,
        cur_pos: Pos::default(),
        cur_end: 0,
        cur_command: String::new(),
        held: 0,
        returned: Vec::new(),
        emit_top: false,
        top_out: 0,
        flushed: 0,
        streaming: false,
    };
    it.emit_top = match pipeline {
        PipelineIn::Script(_) => true,
        PipelineIn::Commands(c) => c.len() == 1,
    };
    it.streaming = it.rs.sink.is_some()
        && match pipeline {
            PipelineIn::Script(_) => true,
            PipelineIn::Commands(c) => !c.iter().any(|c| c.merge_error_to_output),
        };
    let r = match pipeline {
        PipelineIn::Script(s) => it.run_script_text(s, input),
        PipelineIn::Commands(cmds) => it.run_commands(cmds, input),
    };
    match r {
        Ok(vals) => {
            for v in vals {
                it.emit(v);
            }
        }
        Err(Flow::Exit(code)) => {
            it.inv.exit_code = Some(code);
        }
        Err(Flow::Error(rec, _)) => {
            let rec = *rec;
            it.push_error(rec.clone());
            it.last_ok = false;
            it.inv.state = PipelineState::Failed(rec);
        }
        Err(Flow::Halt(state)) => {
            if let PipelineState::Failed(rec) = state.as_ref() {
                it.push_error(rec.clone());
            }
            it.inv.state = *state;
        }
        Err(Flow::Return) | Err(Flow::Break(_)) | Err(Flow::Continue(_)) => {
            let rest = std::mem::take(&mut it.returned);
            for v in rest {
                it.emit(v);
            }
        }
    }
    it.inv.last_succeeded = it.last_ok;
    let flushed = it.flushed;
    let inv = std::mem::replace(&mut it.inv, Invocation::new());
    journal(it.rs, &journal_text, &inv);
    (inv, flushed)
}

/// One journal entry per script: text truncated, outcome.
fn journal(rs: &Runspace, text: &str, inv: &Invocation) {
    let mut t: String = text.chars().take(200).collect();
    if t.len() < text.len() {
        t.push_str("...");
    }
    let outcome = match &inv.state {
        PipelineState::Completed if inv.had_errors => {
            format!("completed with {} error(s)", inv.errors.len())
        }
        PipelineState::Completed => match inv.exit_code {
            Some(c) => format!("ok, exit {c}"),
            None => "ok".into(),
        },
        PipelineState::Failed(e) => format!("failed: {}", e.fully_qualified_error_id),
        PipelineState::Stopped => "stopped".into(),
    };
    record(
        rs,
        &format!("pwsh script {}", t.replace(['\r', '\n'], " ")),
        &outcome,
    );
}

/// Writes a journal entry for this runspace's machine and user.
pub(crate) fn record(rs: &Runspace, operation: &str, outcome: &str) {
    let m = rs.ctx.model.machine(rs.ctx.machine);
    rs.ctx.model.journal.record(fakedc_model::journal::Record {
        machine: m.name.clone(),
        service: rs.ctx.service.clone(),
        peer: None,
        user: Some(rs.ctx.user.clone()),
        operation: operation.to_string(),
        outcome: outcome.to_string(),
        latency: std::time::Duration::ZERO,
    });
}

/// The record PowerShell writes for a parse error.
pub(crate) fn parse_error_record(e: &parser::ParseError, script: &str) -> ErrorRecord {
    let mut r = ErrorRecord::new(
        "System.Management.Automation.ParseException",
        e.message.clone(),
        &e.id,
        ErrorCategory::ParserError,
    );
    r.reason = "ParseException".into();
    r.line = e.pos.line as usize;
    r.column = e.pos.col as usize;
    r.position = position_message(script, e.pos, e.pos.offset + 1, true);
    r.category = ErrorCategory::ParserError;
    r.activity = String::new();
    r.reason = "ParentContainsErrorRecordException".into();
    r
}

/// `At line:L char:C`, the source line and the underline, as PowerShell's
/// `PositionMessage` (for a parse error, `At line:L char:C` then the line).
pub(crate) fn position_message(script: &str, pos: Pos, end: usize, parse: bool) -> String {
    let line_start = script
        .get(..pos.offset)
        .and_then(|b| b.rfind('\n'))
        .map_or(0, |n| n + 1);
    let line_end = script
        .get(pos.offset..)
        .and_then(|a| a.find('\n'))
        .map_or(script.len(), |n| pos.offset + n);
    let Some(line) = script.get(line_start..line_end) else {
        return format!("At line:{} char:{}", pos.line, pos.col);
    };
    let line = line.trim_end_matches('\r');
    let col = pos.col.max(1) as usize;
    let width = script
        .get(pos.offset..end.min(line_end).max(pos.offset))
        .map_or(1, |s| s.trim_end().chars().count())
        .max(1);
    let _ = parse;
    format!(
        "At line:{} char:{}\n+ {}\n+ {}{}",
        pos.line,
        pos.col,
        line,
        " ".repeat(col - 1),
        "~".repeat(width)
    )
}

impl<'r> Interp<'r> {
    /// Budgets: steps, stop requests.
    pub(crate) fn tick(&mut self) -> Res<()> {
        self.steps += 1;
        if self.steps > self.rs.ctx.limits.max_steps {
            let mut e = ErrorRecord::new(
                "System.Management.Automation.PipelineStoppedException",
                format!(
                    "The script exceeded fakedc's budget of {} evaluation steps and was stopped.",
                    self.rs.ctx.limits.max_steps
                ),
                "ScriptBudgetExceeded",
                ErrorCategory::LimitsExceeded,
            );
            self.locate(&mut e);
            return Err(Flow::Halt(Box::new(PipelineState::Failed(e))));
        }
        if self.steps.is_multiple_of(256) && self.rs.stopping() {
            return Err(Flow::Halt(Box::new(PipelineState::Stopped)));
        }
        Ok(())
    }

    /// Fills an error record's position from the current statement.
    pub(crate) fn locate(&self, e: &mut ErrorRecord) {
        if e.position.is_empty() && self.cur_pos.line > 0 {
            e.line = self.cur_pos.line as usize;
            e.column = self.cur_pos.col as usize;
            e.position = position_message(&self.script, self.cur_pos, self.cur_end, false);
        }
    }

    fn run_script_text(&mut self, text: &str, input: Vec<Value>) -> Res<Vec<Value>> {
        if text.len() > self.rs.ctx.limits.max_script {
            return Err(Flow::Error(
                Box::new(ErrorRecord::new(
                    "System.Management.Automation.ParseException",
                    "The script is larger than fakedc accepts.",
                    "ScriptTooLarge",
                    ErrorCategory::LimitsExceeded,
                )),
                Term::Script,
            ));
        }
        if let Some(o) = self.rs.ctx.host.rule(text) {
            return self.external_output(o);
        }
        let sb = parser::parse(text)
            .map_err(|e| Flow::Error(Box::new(parse_error_record(&e, text)), Term::Script))?;
        let sb = Arc::new(sb);
        // powershell.exe -Command runs in the global scope.
        self.invoke_block(&sb, true, Vec::new(), Vec::new(), input, None)
    }

    /// A PSRP pipeline: each command's output is the next one's input.
    fn run_commands(&mut self, cmds: &[crate::Command], input: Vec<Value>) -> Res<Vec<Value>> {
        let mut cur = input;
        for (i, c) in cmds.iter().enumerate() {
            let errs_before = self.inv.errors.len();
            let mut items = if c.is_script {
                if let Some(o) = self.rs.ctx.host.rule(&c.text) {
                    self.external_output(o)?
                } else {
                    let sb = parser::parse(&c.text).map_err(|e| {
                        Flow::Error(Box::new(parse_error_record(&e, &c.text)), Term::Script)
                    })?;
                    self.script = Arc::from(c.text.as_str());
                    let sb = Arc::new(sb);
                    let mut named = Vec::new();
                    let mut positional = Vec::new();
                    for (n, v) in &c.parameters {
                        match n {
                            Some(n) => named.push((n.clone(), Some(v.clone()))),
                            None => positional.push(v.clone()),
                        }
                    }
                    let args = named
                        .into_iter()
                        .map(|(n, v)| BoundArg::Named(n, v))
                        .chain(positional.into_iter().map(BoundArg::Pos))
                        .collect();
                    let input = if i == 0 && cur.is_empty() {
                        Vec::new()
                    } else {
                        std::mem::take(&mut cur)
                    };
                    self.invoke_block(&sb, c.use_local_scope, args, Vec::new(), input, None)?
                }
            } else {
                let args: Vec<BoundArg> = c
                    .parameters
                    .iter()
                    .map(|(n, v)| match n {
                        Some(n) => BoundArg::Named(n.clone(), Some(v.clone())),
                        None => BoundArg::Pos(v.clone()),
                    })
                    .collect();
                let input = std::mem::take(&mut cur);
                self.cur_command = c.text.clone();
                self.call_by_name(&c.text, args, input, None)?
            };
            if c.merge_error_to_output && self.inv.errors.len() > errs_before {
                let errs = self.take_errors_since(errs_before);
                items.extend(errs.iter().map(dotnet::error_value));
            }
            cur = items;
        }
        Ok(cur)
    }

    /// Removes and returns errors written since `n` (for `2>&1`, `2>$null`).
    pub(crate) fn take_errors_since(&mut self, n: usize) -> Vec<ErrorRecord> {
        let taken: Vec<ErrorRecord> = self.inv.errors.drain(n..).collect();
        self.inv
            .order
            .retain(|(s, i)| !(*s == Stream::Error && *i >= n));
        self.inv.had_errors = !self.inv.errors.is_empty();
        taken
    }

    pub(crate) fn emit(&mut self, v: Value) {
        self.inv.order.push((Stream::Output, self.inv.output.len()));
        self.inv.output.push(v);
    }

    /// Hands what was written since the last flush to the runspace's sink
    /// (PSRP sends it to the client while the pipeline goes on).
    fn flush(&mut self) {
        let n = self.inv.order.len();
        if !self.streaming || n <= self.flushed {
            return;
        }
        if let Some(sink) = self.rs.sink.as_mut() {
            sink(&self.inv, self.flushed..n);
        }
        self.flushed = n;
    }

    fn push_error(&mut self, rec: ErrorRecord) {
        if self.inv.errors.len() >= self.rs.ctx.limits.max_output {
            return;
        }
        self.inv.order.push((Stream::Error, self.inv.errors.len()));
        self.inv.errors.push(rec.clone());
        self.inv.had_errors = true;
        // `$Error`, newest first, bounded as PowerShell's (256).
        let ev = dotnet::error_value(&rec);
        if let Some(Value::List(l)) = self.rs.globals.get_mut("error") {
            l.insert(0, ev);
            l.truncate(256);
        }
    }

    /// The error action in force.
    pub(crate) fn error_action(&self) -> ErrorAction {
        if let Some(a) = self.ea_stack.last() {
            return *a;
        }
        self.get_var("erroractionpreference")
            .and_then(|v| parse_error_action(&v))
            .unwrap_or(ErrorAction::Continue)
    }

    /// Writes a non-terminating error (or throws it under `Stop`).
    pub(crate) fn write_error(&mut self, mut rec: ErrorRecord) -> Res<()> {
        self.locate(&mut rec);
        if rec.activity.is_empty() {
            rec.activity = self.cur_command.clone();
        }
        self.pipeline_failed = true;
        self.last_ok = false;
        match self.error_action() {
            ErrorAction::Stop => Err(Flow::Error(Box::new(rec), Term::Script)),
            ErrorAction::Ignore => Ok(()),
            ErrorAction::SilentlyContinue => {
                if let Some(Value::List(l)) = self.rs.globals.get_mut("error") {
                    l.insert(0, dotnet::error_value(&rec));
                    l.truncate(256);
                }
                Ok(())
            }
            ErrorAction::Continue => {
                self.push_error(rec);
                Ok(())
            }
        }
    }

    pub(crate) fn write_warning(&mut self, msg: String) {
        let pref = self
            .get_var("warningpreference")
            .map(|v| v.to_string().to_ascii_lowercase())
            .unwrap_or_default();
        if pref == "silentlycontinue" || pref == "ignore" {
            return;
        }
        self.inv
            .order
            .push((Stream::Warning, self.inv.warnings.len()));
        self.inv.warnings.push(msg);
    }

    pub(crate) fn write_verbose(&mut self, msg: String, debug: bool) {
        let pref = self
            .get_var(if debug {
                "debugpreference"
            } else {
                "verbosepreference"
            })
            .map(|v| v.to_string().to_ascii_lowercase())
            .unwrap_or_default();
        if pref == "silentlycontinue" || pref == "ignore" || pref.is_empty() {
            return;
        }
        if debug {
            self.inv.order.push((Stream::Debug, self.inv.debug.len()));
            self.inv.debug.push(msg);
        } else {
            self.inv
                .order
                .push((Stream::Verbose, self.inv.verbose.len()));
            self.inv.verbose.push(msg);
        }
    }

    pub(crate) fn write_information(&mut self, rec: InformationRecord) {
        self.inv
            .order
            .push((Stream::Information, self.inv.information.len()));
        self.inv.information.push(rec);
    }

    /// Accounts bytes held by a value (strings, arrays), failing past the
    /// memory budget.
    pub(crate) fn hold(&mut self, v: &Value) -> Res<()> {
        let n = approx_size(v);
        self.held = self.held.saturating_add(n);
        if self.held > self.rs.ctx.limits.max_memory {
            let mut e = ErrorRecord::new(
                "System.OutOfMemoryException",
                "Exception of type 'System.OutOfMemoryException' was thrown.",
                "System.OutOfMemoryException",
                ErrorCategory::LimitsExceeded,
            );
            self.locate(&mut e);
            return Err(Flow::Halt(Box::new(PipelineState::Failed(e))));
        }
        Ok(())
    }

    pub(crate) fn max_items(&self) -> usize {
        self.rs.ctx.limits.max_items
    }

    // ---- variables ----

    pub(crate) fn get_var(&self, name: &str) -> Option<Value> {
        if let Some(e) = name.strip_prefix("env:") {
            let find = |m: &[(String, String)]| {
                m.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(e))
                    .map(|(_, v)| Value::String(v.clone()))
            };
            return match &self.rs.env {
                Some(m) => find(m),
                None => find(&self.rs.ctx.host.environment()),
            };
        }
        let bare = strip_scope(name);
        if bare == "?" {
            return Some(Value::Bool(self.last_ok));
        }
        if name.starts_with("global:") {
            return self.rs.globals.get(bare).cloned();
        }
        if name.starts_with("script:") {
            return self
                .scopes
                .first()
                .and_then(|s| s.get(bare))
                .or_else(|| self.rs.globals.get(bare))
                .cloned();
        }
        for s in self.scopes.iter().rev() {
            if let Some(v) = s.get(bare) {
                return Some(v.clone());
            }
        }
        self.rs.globals.get(bare).cloned()
    }

    pub(crate) fn set_var(&mut self, name: &str, v: Value) -> Res<()> {
        self.hold(&v)?;
        if let Some(e) = name.strip_prefix("env:") {
            let m = self.env_map();
            m.retain(|(k, _)| !k.eq_ignore_ascii_case(e));
            if !matches!(v, Value::Null) && !v.to_string().is_empty() {
                m.push((e.to_string(), v.to_string()));
            }
            return Ok(());
        }
        let bare = strip_scope(name).to_string();
        if matches!(
            bare.as_str(),
            "true" | "false" | "null" | "?" | "pid" | "host" | "home" | "pshome"
        ) {
            if bare == "null" {
                return Ok(());
            }
            let mut e = ErrorRecord::new(
                "System.Management.Automation.SessionStateUnauthorizedAccessException",
                format!("Cannot overwrite variable {bare} because it is read-only or constant."),
                "VariableNotWritable",
                ErrorCategory::WriteError,
            );
            e.target_name = bare;
            e.target_type = "String".into();
            return Err(e.into());
        }
        if name.starts_with("global:") || self.scopes.is_empty() {
            self.rs.globals.insert(bare, v);
        } else if name.starts_with("script:") {
            match self.scopes.first_mut() {
                Some(s) => {
                    s.insert(bare, v);
                }
                None => {
                    self.rs.globals.insert(bare, v);
                }
            }
        } else if let Some(s) = self.scopes.last_mut() {
            s.insert(bare, v);
        }
        Ok(())
    }

    fn env_map(&mut self) -> &mut Vec<(String, String)> {
        let host = self.rs.ctx.host.clone();
        self.rs.env.get_or_insert_with(|| host.environment())
    }

    pub(crate) fn env_get(&mut self, name: &str) -> Option<String> {
        self.env_map()
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    pub(crate) fn env_all(&mut self) -> Vec<(String, String)> {
        self.env_map().clone()
    }

    // ---- blocks and statements ----

    /// Runs a script block: binds parameters, runs begin/process/end.
    /// `dot` runs in the current scope (dot-sourcing, ForEach-Object).
    pub(crate) fn invoke_block(
        &mut self,
        sb: &Arc<ScriptBlock>,
        dot: bool,
        args: Vec<BoundArg>,
        extra: Vec<(String, Value)>,
        input: Vec<Value>,
        underscore: Option<Value>,
    ) -> Res<Vec<Value>> {
        self.depth += 1;
        if self.depth > self.rs.ctx.limits.max_depth {
            self.depth -= 1;
            let mut e = ErrorRecord::new(
                "System.Management.Automation.ScriptCallDepthException",
                format!(
                    "The script failed due to call depth overflow. The call depth reached {} and the maximum is {}.",
                    self.rs.ctx.limits.max_depth + 1,
                    self.rs.ctx.limits.max_depth
                ),
                "CallDepthOverflow",
                ErrorCategory::InvalidOperation,
            );
            self.locate(&mut e);
            return Err(Flow::Error(Box::new(e), Term::Script));
        }
        let pushed = !dot;
        let saved_underscore = if dot { self.get_local("_") } else { None };
        if pushed {
            self.scopes.push(HashMap::new());
        }
        let r = self.invoke_block_inner(sb, args, extra, input, underscore);
        if pushed {
            self.scopes.pop();
        } else if let Some(u) = saved_underscore {
            let _ = self.set_var("_", u);
        }
        self.depth -= 1;
        match r {
            Err(Flow::Return) => Ok(self.take_returned()),
            other => other,
        }
    }

    fn get_local(&self, name: &str) -> Option<Value> {
        match self.scopes.last() {
            Some(s) => s.get(name).cloned(),
            None => self.rs.globals.get(name).cloned(),
        }
    }

    fn take_returned(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.returned)
    }

    fn invoke_block_inner(
        &mut self,
        sb: &Arc<ScriptBlock>,
        args: Vec<BoundArg>,
        extra: Vec<(String, Value)>,
        input: Vec<Value>,
        underscore: Option<Value>,
    ) -> Res<Vec<Value>> {
        let (bound, rest) = self.bind_params(&sb.params, args, &input)?;
        for (k, v) in bound {
            self.set_var(&k, v)?;
        }
        let unbound = Value::Array(rest.clone());
        self.set_var("args", unbound.clone())?;
        self.set_var("myinvocation", dotnet::my_invocation(rest))?;
        for (k, v) in extra {
            self.set_var(&k, v)?;
        }
        if let Some(u) = underscore {
            self.set_var("_", u)?;
        }
        let mut out = Vec::new();
        let pipeline_params: Vec<&Param> = sb.params.iter().filter(|p| p.from_pipeline).collect();
        if let Some(b) = &sb.begin {
            self.set_var("input", Value::Array(Vec::new()))?;
            self.exec_block(b, &mut out)
                .or_else(|f| self.catch_return(f, &mut out))?;
        }
        if let Some(p) = &sb.process {
            let items = if input.is_empty() {
                vec![Value::Null]
            } else {
                input.clone()
            };
            let real = !input.is_empty();
            for item in items {
                self.tick()?;
                if real {
                    self.set_var("_", item.clone())?;
                    for pp in &pipeline_params {
                        self.set_var(&pp.name.to_ascii_lowercase(), item.clone())?;
                    }
                }
                self.set_var(
                    "input",
                    Value::Array(if real { vec![item] } else { Vec::new() }),
                )?;
                self.exec_block(p, &mut out)
                    .or_else(|f| self.catch_return(f, &mut out))?;
            }
            self.set_var("input", Value::Array(Vec::new()))?;
        } else {
            self.set_var("input", Value::Array(input))?;
        }
        if self.emit_top && self.depth == 1 && sb.process.is_none() && sb.begin.is_none() {
            let outer = self.top_out;
            self.top_out = &out as *const Vec<Value> as usize;
            for st in &sb.end {
                let r = self.exec_block(std::slice::from_ref(st), &mut out);
                for v in out.drain(..) {
                    self.emit(v);
                }
                self.flush();
                if r.is_err() {
                    self.top_out = outer;
                }
                r?;
            }
            self.top_out = outer;
            return Ok(out);
        }
        self.exec_block(&sb.end, &mut out)
            .or_else(|f| self.catch_return(f, &mut out))?;
        Ok(out)
    }

    fn catch_return(&mut self, f: Flow, out: &mut Vec<Value>) -> Res<()> {
        match f {
            Flow::Return => {
                out.append(&mut self.returned);
                Ok(())
            }
            f => Err(f),
        }
    }

    /// Binds a param block from named and positional arguments; what is
    /// left becomes `$args`.
    fn bind_params(
        &mut self,
        params: &[Param],
        args: Vec<BoundArg>,
        input: &[Value],
    ) -> Res<Bound> {
        let mut bound: Vec<(String, Value)> = Vec::new();
        let mut rest = Vec::new();
        let mut positional = Vec::new();
        let mut it = args.into_iter().peekable();
        while let Some(a) = it.next() {
            match a {
                BoundArg::Named(n, v) => {
                    let ln = n.to_ascii_lowercase();
                    let matches: Vec<&Param> = params
                        .iter()
                        .filter(|p| p.name.to_ascii_lowercase() == ln)
                        .chain(params.iter().filter(|p| {
                            let pn = p.name.to_ascii_lowercase();
                            pn != ln && pn.starts_with(&ln)
                        }))
                        .collect();
                    let Some(p) = matches.first() else {
                        if params.is_empty() {
                            rest.push(Value::String(format!("-{n}")));
                            if let Some(v) = v {
                                rest.push(v);
                            }
                            continue;
                        }
                        if is_common_param(&ln) {
                            if v.is_none() && !is_common_switch(&ln) {
                                it.next();
                            }
                            continue;
                        }
                        let mut e = param_not_found(&n);
                        e.activity = self.cur_command.clone();
                        return Err(e.into());
                    };
                    let is_switch = p.ty.as_deref() == Some("switch");
                    let v = match v {
                        Some(v) => v,
                        None if is_switch => Value::Bool(true),
                        None => match it.next() {
                            Some(BoundArg::Pos(v)) => v,
                            _ => {
                                return Err(missing_argument(
                                    &p.name,
                                    p.ty.as_deref().unwrap_or("System.Object"),
                                )
                                .into());
                            }
                        },
                    };
                    let v = self.coerce_param(p, v)?;
                    bound.push((p.name.to_ascii_lowercase(), v));
                }
                BoundArg::Pos(v) => positional.push(v),
            }
        }
        // Positional: params with Position first, then in declaration order.
        let mut order: Vec<&Param> = params
            .iter()
            .filter(|p| p.ty.as_deref() != Some("switch"))
            .collect();
        order.sort_by_key(|p| p.position.unwrap_or(usize::MAX));
        let mut pos_iter = positional.into_iter();
        for p in order {
            let ln = p.name.to_ascii_lowercase();
            if bound.iter().any(|(n, _)| *n == ln) {
                continue;
            }
            if p.from_pipeline && !input.is_empty() {
                continue;
            }
            match pos_iter.next() {
                Some(v) => {
                    let v = self.coerce_param(p, v)?;
                    bound.push((ln, v));
                }
                None => break,
            }
        }
        rest.extend(pos_iter);
        for p in params {
            let ln = p.name.to_ascii_lowercase();
            if bound.iter().any(|(n, _)| *n == ln) {
                continue;
            }
            if p.from_pipeline && !input.is_empty() {
                continue;
            }
            let v = match &p.default {
                Some(e) => self.eval(e)?,
                None if p.mandatory => {
                    let mut e = ErrorRecord::new(
                        "System.Management.Automation.ParameterBindingException",
                        format!("Cannot process command because of one or more missing mandatory parameters: {}.", p.name),
                        "MissingMandatoryParameter",
                        ErrorCategory::InvalidArgument,
                    );
                    e.activity = self.cur_command.clone();
                    return Err(e.into());
                }
                None if p.ty.as_deref() == Some("switch") => Value::Bool(false),
                None => Value::Null,
            };
            bound.push((ln, v));
        }
        Ok((bound, rest))
    }

    fn coerce_param(&mut self, p: &Param, v: Value) -> Res<Value> {
        match p.ty.as_deref() {
            None | Some("object") | Some("system.object") | Some("psobject") => Ok(v),
            Some("switch") => Ok(Value::Bool(v.truthy())),
            Some(t) => {
                let t = t.to_string();
                dotnet::cast(self, &t, v).map_err(|mut e| {
                    e.fully_qualified_error_id =
                        format!("ParameterArgumentTransformationError,{}", p.name);
                    e.message = format!(
                        "Cannot process argument transformation on parameter '{}'. {}",
                        p.name, e.message
                    );
                    Flow::Error(Box::new(e), Term::Statement)
                })
            }
        }
    }

    /// Runs statements, handling statement-terminating errors outside `try`.
    pub(crate) fn exec_block(&mut self, stmts: &[Stmt], out: &mut Vec<Value>) -> Res<()> {
        let top = self.top_out != 0 && self.top_out == out as *const Vec<Value> as usize;
        for s in stmts {
            if top {
                for v in out.drain(..) {
                    self.emit(v);
                }
                self.flush();
            }
            match self.exec(s, out) {
                Ok(()) => {}
                // What is not implemented stops the script: going on
                // would give a silently different result.
                Err(Flow::Error(rec, Term::Statement))
                    if rec.category == ErrorCategory::NotImplemented =>
                {
                    return Err(Flow::Error(rec, Term::Script));
                }
                Err(Flow::Error(rec, Term::Statement))
                    if self.try_depth == 0 && self.error_action() != ErrorAction::Stop =>
                {
                    let mut rec = *rec;
                    self.locate(&mut rec);
                    self.push_error(rec);
                    self.last_ok = false;
                }
                Err(Flow::Error(rec, Term::Statement)) => {
                    return Err(Flow::Error(rec, Term::Script));
                }
                Err(f) => return Err(f),
            }
        }
        Ok(())
    }

    fn exec(&mut self, s: &Stmt, out: &mut Vec<Value>) -> Res<()> {
        self.tick()?;
        self.cur_pos = s.pos;
        self.cur_end = s.end;
        match &s.kind {
            StmtKind::Pipeline(p) => {
                // `$i++` as a statement writes nothing.
                if let [Element::Expr(
                    Expr::Unary(UnOp::PreInc | UnOp::PreDec | UnOp::PostInc | UnOp::PostDec, _),
                    r,
                )] = p.elements.as_slice()
                {
                    if r.is_empty() {
                        self.pipeline(p, None)?;
                        return Ok(());
                    }
                }
                let vals = self.pipeline(p, None)?;
                for v in vals {
                    self.hold(&v)?;
                    out.push(v);
                }
            }
            StmtKind::Assign { target, op, value } => {
                let v = self.stmt_value(value)?;
                self.cur_pos = s.pos;
                self.cur_end = s.end;
                self.assign(target, *op, v)?;
                self.last_ok = true;
            }
            StmtKind::If { clauses, otherwise } => {
                for (cond, body) in clauses {
                    let c = self.pipeline_value(cond)?;
                    if c.truthy() {
                        return self.exec_block(body, out);
                    }
                }
                if let Some(b) = otherwise {
                    self.exec_block(b, out)?;
                }
            }
            StmtKind::While { label, cond, body } => loop {
                self.tick()?;
                if !self.pipeline_value(cond)?.truthy() {
                    break;
                }
                if self.loop_body(label, body, out)? {
                    break;
                }
            },
            StmtKind::Do {
                label,
                body,
                cond,
                until,
            } => loop {
                self.tick()?;
                if self.loop_body(label, body, out)? {
                    break;
                }
                let c = self.pipeline_value(cond)?.truthy();
                if c == *until {
                    break;
                }
            },
            StmtKind::For {
                label,
                init,
                cond,
                step,
                body,
            } => {
                if let Some(i) = init {
                    self.exec(i, out)?;
                }
                loop {
                    self.tick()?;
                    if let Some(c) = cond {
                        if !self.pipeline_value(c)?.truthy() {
                            break;
                        }
                    }
                    if self.loop_body(label, body, out)? {
                        break;
                    }
                    if let Some(st) = step {
                        let mut sink = Vec::new();
                        self.exec(st, &mut sink)?;
                    }
                }
            }
            StmtKind::Foreach {
                label,
                var,
                items,
                body,
            } => {
                let coll = self.pipeline_value(items)?;
                let items = match coll {
                    Value::Hashtable(_) => vec![coll],
                    other => other.into_items(),
                };
                for item in items {
                    self.tick()?;
                    self.set_var(var, item)?;
                    if self.loop_body(label, body, out)? {
                        break;
                    }
                }
            }
            StmtKind::Switch {
                label,
                mode,
                case_sensitive,
                subject,
                clauses,
                default,
            } => {
                self.switch(
                    label,
                    *mode,
                    *case_sensitive,
                    subject,
                    clauses,
                    default,
                    out,
                )?;
            }
            StmtKind::Try {
                body,
                catches,
                finally,
            } => {
                self.try_depth += 1;
                let mut r = self.exec_block(body, out);
                self.try_depth -= 1;
                if let Err(Flow::Error(rec, _)) = &r {
                    let rec = (**rec).clone();
                    if let Some((_, cbody)) =
                        catches.iter().find(|(types, _)| catch_matches(types, &rec))
                    {
                        let saved = self.get_local("_");
                        self.set_var("_", dotnet::error_value(&rec))?;
                        self.set_var("psitem", dotnet::error_value(&rec))?;
                        r = self.exec_block(cbody, out);
                        if let Some(u) = saved {
                            self.set_var("_", u)?;
                        }
                    }
                }
                if let Some(f) = finally {
                    self.exec_block(f, out)?;
                }
                r?;
            }
            StmtKind::Function(f) => {
                self.rs
                    .functions
                    .insert(f.name.to_ascii_lowercase(), f.clone());
            }
            StmtKind::Return(p) => {
                if let Some(p) = p {
                    let vals = self.pipeline(p, None)?;
                    out.extend(vals);
                }
                self.returned.append(out);
                return Err(Flow::Return);
            }
            StmtKind::Break(l) => return Err(Flow::Break(l.clone())),
            StmtKind::Continue(l) => return Err(Flow::Continue(l.clone())),
            StmtKind::Throw(p) => {
                let v = match p {
                    Some(p) => self.pipeline_value(p)?,
                    None => Value::Null,
                };
                let mut rec = dotnet::thrown_record(&v);
                self.locate(&mut rec);
                return Err(Flow::Error(Box::new(rec), Term::Script));
            }
            StmtKind::Exit(p) => {
                let code = match p {
                    Some(p) => {
                        let v = self.pipeline_value(p)?;
                        match ops::to_num(&v) {
                            Ok(ops::Num::I(i)) => i as i32,
                            Ok(ops::Num::D(d)) => d as i32,
                            Err(_) => 0,
                        }
                    }
                    None => 0,
                };
                return Err(Flow::Exit(code));
            }
            StmtKind::Unsupported(what) => {
                let mut rec = ErrorRecord::not_implemented(what);
                self.locate(&mut rec);
                return Err(Flow::Error(Box::new(rec), Term::Script));
            }
        }
        Ok(())
    }

    /// Runs a loop body; `Ok(true)` means break out of this loop.
    fn loop_body(
        &mut self,
        label: &Option<String>,
        body: &[Stmt],
        out: &mut Vec<Value>,
    ) -> Res<bool> {
        match self.exec_block(body, out) {
            Ok(()) => Ok(false),
            Err(Flow::Break(None)) => Ok(true),
            Err(Flow::Continue(None)) => Ok(false),
            Err(Flow::Break(Some(l))) if Some(&l) == label.as_ref() => Ok(true),
            Err(Flow::Continue(Some(l))) if Some(&l) == label.as_ref() => Ok(false),
            Err(f) => Err(f),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn switch(
        &mut self,
        label: &Option<String>,
        mode: SwitchMode,
        cs: bool,
        subject: &Pipeline,
        clauses: &[(Expr, Vec<Stmt>)],
        default: &Option<Vec<Stmt>>,
        out: &mut Vec<Value>,
    ) -> Res<()> {
        let v = self.pipeline_value(subject)?;
        let items = match v {
            Value::Array(_) | Value::List(_) => v.into_items(),
            other => vec![other],
        };
        let saved = self.get_local("_");
        'items: for item in items {
            self.tick()?;
            self.set_var("_", item.clone())?;
            let mut matched = false;
            for (cond, body) in clauses {
                let hit = match cond {
                    Expr::ScriptBlock(sb) => {
                        let r = self.invoke_block(
                            sb,
                            true,
                            Vec::new(),
                            Vec::new(),
                            Vec::new(),
                            Some(item.clone()),
                        )?;
                        Value::Array(r).truthy()
                    }
                    e => {
                        let c = self.eval(e)?;
                        match mode {
                            SwitchMode::Exact => ops::compare_eq(&item, &c, cs),
                            SwitchMode::Wildcard => {
                                ops::wildcard(&c.to_string(), &item.to_string(), cs)
                            }
                            SwitchMode::Regex => {
                                let re = ops::regex(&c.to_string(), cs)?;
                                let s = item.to_string();
                                match re.captures(&s) {
                                    Some(caps) => {
                                        self.set_matches(&re, &caps)?;
                                        true
                                    }
                                    None => false,
                                }
                            }
                        }
                    }
                };
                if hit {
                    matched = true;
                    match self.exec_block(body, out) {
                        Ok(()) => {}
                        Err(Flow::Break(None)) => break 'items,
                        Err(Flow::Continue(None)) => continue 'items,
                        Err(Flow::Break(Some(l))) if Some(&l) == label.as_ref() => break 'items,
                        Err(f) => return Err(f),
                    }
                }
            }
            if !matched {
                if let Some(d) = default {
                    match self.exec_block(d, out) {
                        Ok(()) => {}
                        Err(Flow::Break(None)) => break,
                        Err(Flow::Continue(None)) => continue,
                        Err(f) => return Err(f),
                    }
                }
            }
        }
        if let Some(u) = saved {
            self.set_var("_", u)?;
        }
        Ok(())
    }

    pub(crate) fn set_matches(&mut self, re: &regex::Regex, caps: &regex::Captures<'_>) -> Res<()> {
        let mut h = Vec::new();
        for (i, name) in re.capture_names().enumerate() {
            if let Some(m) = caps.get(i) {
                let key = match name {
                    Some(n) => Value::str(n),
                    None => Value::Int32(i as i32),
                };
                h.push((key, Value::str(m.as_str())));
            }
        }
        self.set_var("matches", Value::Hashtable(h))
    }

    /// A statement's value where one is assigned: a lone expression keeps
    /// its value (`$a = @(1)` stays an array); a pipeline's output is
    /// collected (none → `$null`, one → it, more → an array).
    pub(crate) fn stmt_value(&mut self, s: &Stmt) -> Res<Value> {
        match &s.kind {
            StmtKind::Pipeline(p) => self.pipeline_value(p),
            StmtKind::Assign { .. } => {
                let mut out = Vec::new();
                self.exec(s, &mut out)?;
                // `$a = $b = 1`: the inner assignment's value.
                if let StmtKind::Assign { target, .. } = &s.kind {
                    return self.eval(target);
                }
                Ok(collect(out))
            }
            _ => {
                let mut out = Vec::new();
                self.exec(s, &mut out)?;
                Ok(collect(out))
            }
        }
    }

    pub(crate) fn pipeline_value(&mut self, p: &Pipeline) -> Res<Value> {
        if let [Element::Expr(e, r)] = p.elements.as_slice() {
            if r.is_empty() {
                return self.eval(e);
            }
        }
        let v = self.pipeline(p, None)?;
        Ok(collect(v))
    }

    /// Runs a pipeline and returns its output.
    pub(crate) fn pipeline(&mut self, p: &Pipeline, input: Option<Vec<Value>>) -> Res<Vec<Value>> {
        self.pipeline_failed = false;
        let mut cur = input;
        for el in &p.elements {
            self.tick()?;
            let errs_before = self.inv.errors.len();
            let (items, redirects) = match el {
                Element::Expr(e, r) => {
                    let v = self.eval(e)?;
                    (v.into_items(), r)
                }
                Element::Command(c) => {
                    let input = cur.take().unwrap_or_default();
                    let r = self.command(c, input);
                    let items = match r {
                        Ok(v) => v,
                        Err(Flow::Error(rec, t))
                            if c.redirects.iter().any(|r| r.from == 2 || r.from == 0) =>
                        {
                            // `2>$null` still lets a terminating error stop
                            // the statement, but the record is not shown.
                            let _ = t;
                            self.pipeline_failed = true;
                            self.last_ok = false;
                            let _ = rec;
                            Vec::new()
                        }
                        Err(f) => return Err(f),
                    };
                    (items, &c.redirects)
                }
            };
            let items = self.apply_redirects(items, redirects, errs_before)?;
            cur = Some(items);
        }
        self.last_ok = !self.pipeline_failed;
        Ok(cur.unwrap_or_default())
    }

    fn apply_redirects(
        &mut self,
        mut items: Vec<Value>,
        redirects: &[Redirect],
        errs_before: usize,
    ) -> Res<Vec<Value>> {
        for r in redirects {
            match (&r.target, r.from) {
                (RedirectTarget::Merge(1), 2) => {
                    let errs = self.take_errors_since(errs_before);
                    items.extend(errs.iter().map(dotnet::error_value));
                }
                (RedirectTarget::Merge(_), _) => {}
                (RedirectTarget::File(t), from) => {
                    let target = self.eval(t)?;
                    let is_null = matches!(target, Value::Null);
                    if from == 2 || from == 0 {
                        self.take_errors_since(errs_before);
                    }
                    if from == 1 || from == 0 {
                        let out = std::mem::take(&mut items);
                        if !is_null {
                            let text = crate::format::out_string(&out, 120);
                            cmdlets::write_text_file(
                                self,
                                &target.to_string(),
                                &text,
                                r.append,
                                "unicode",
                            )?;
                        }
                    } else if !is_null {
                        return Err(ErrorRecord::not_implemented(&format!(
                            "redirecting stream {from} to a file"
                        ))
                        .into());
                    }
                }
            }
        }
        Ok(items)
    }

    /// Evaluates arguments and runs one command.
    fn command(&mut self, c: &CommandCall, input: Vec<Value>) -> Res<Vec<Value>> {
        self.cur_pos = c.pos;
        self.cur_end = c.end;
        let mut args = Vec::new();
        for a in &c.args {
            match a {
                Arg::Param(n, v) => {
                    let v = match v {
                        Some(e) => Some(self.eval(e)?),
                        None => None,
                    };
                    args.push(BoundArg::Named(n.clone(), v));
                }
                Arg::Value(e) => {
                    let v = self.eval(e)?;
                    args.push(BoundArg::Pos(v));
                }
                Arg::Splat(n) => match self.get_var(n) {
                    Some(Value::Hashtable(h)) => {
                        for (k, v) in h {
                            args.push(BoundArg::Named(k.to_string(), Some(v)));
                        }
                    }
                    Some(v @ (Value::Array(_) | Value::List(_))) => {
                        args.extend(v.into_items().into_iter().map(BoundArg::Pos));
                    }
                    Some(Value::Null) | None => {}
                    Some(v) => args.push(BoundArg::Pos(v)),
                },
            }
        }
        match &c.name {
            CommandName::Bare(name) => {
                if let Some(o) = self
                    .rs
                    .ctx
                    .host
                    .rule(format!("{name} {}", c.arg_text).trim())
                {
                    return self.external_output(o);
                }
                let saved = std::mem::replace(&mut self.cur_command, name.clone());
                let r = self.call_by_name(name, args, input, Some(c));
                self.cur_command = saved;
                r
            }
            CommandName::Expr(e) => {
                let v = self.eval(e)?;
                match v {
                    Value::ScriptBlock(_) => {
                        let sb = self.script_block_of(e, &v)?;
                        self.invoke_block(&sb, c.dot, args, Vec::new(), input, None)
                    }
                    other => {
                        let name = other.to_string();
                        self.cur_command = name.clone();
                        self.call_by_name(&name, args, input, Some(c))
                    }
                }
            }
        }
    }

    /// The parsed script block behind a ScriptBlock value.
    pub(crate) fn script_block_of(&mut self, e: &Expr, v: &Value) -> Res<Arc<ScriptBlock>> {
        if let Expr::ScriptBlock(sb) = e {
            return Ok(sb.clone());
        }
        let text = match v {
            Value::ScriptBlock(t) => t.clone(),
            other => other.to_string(),
        };
        self.parse_block(&text)
    }

    pub(crate) fn parse_block(&mut self, text: &str) -> Res<Arc<ScriptBlock>> {
        if let Some(sb) = self.rs.block_cache.get(text) {
            return Ok(sb.clone());
        }
        let sb = parser::parse(text)
            .map_err(|e| Flow::Error(Box::new(parse_error_record(&e, text)), Term::Script))?;
        let sb = Arc::new(sb);
        if self.rs.block_cache.len() > 1024 {
            self.rs.block_cache.clear();
        }
        self.rs.block_cache.insert(text.to_string(), sb.clone());
        Ok(sb)
    }

    /// Resolves a command name: alias, function, cmdlet, native program.
    pub(crate) fn call_by_name(
        &mut self,
        name: &str,
        args: Vec<BoundArg>,
        input: Vec<Value>,
        call: Option<&CommandCall>,
    ) -> Res<Vec<Value>> {
        let lname = name.to_ascii_lowercase();
        let resolved = cmdlets::alias(&lname).unwrap_or(&lname).to_string();
        if let Some(f) = self.rs.functions.get(&resolved).cloned() {
            let sb = f.body.clone();
            let saved = std::mem::replace(&mut self.cur_command, f.name.clone());
            let r = self.invoke_block(&sb, false, args, Vec::new(), input, None);
            self.cur_command = saved;
            return r;
        }
        if let Some(def) = cmdlets::find(&resolved) {
            return cmdlets::run(self, def, args, input);
        }
        if cmdlets::NOT_IMPLEMENTED.contains(&resolved.as_str()) {
            let hyperv_only = resolved.contains("-vm");
            let on_hyperv = self.rs.ctx.model.machine(self.rs.ctx.machine).role
                == fakedc_model::Role::HypervHost;
            if !hyperv_only || on_hyperv {
                return cmdlets::not_implemented_cmdlet(self, name);
            }
        }
        if let Some(v) = native_program(&resolved) {
            return match v {
                Native::Shell => {
                    let line = match call {
                        Some(c) if !c.arg_text.is_empty() => format!("{name} {}", c.arg_text),
                        _ => {
                            let mut l = name.to_string();
                            for a in &args {
                                if let BoundArg::Pos(v) = a {
                                    l.push(' ');
                                    l.push_str(&v.to_string());
                                }
                            }
                            l
                        }
                    };
                    record(self.rs, &format!("pwsh native {line}"), "run");
                    let o = self.rs.ctx.host.run_external(&line);
                    self.external_output(o)
                }
                Native::Unsupported => {
                    let mut e =
                        ErrorRecord::not_implemented(&format!("the native program '{name}'"));
                    self.locate(&mut e);
                    Err(Flow::Error(Box::new(e), Term::Script))
                }
            };
        }
        let mut e = ErrorRecord::new(
            "System.Management.Automation.CommandNotFoundException",
            format!("The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."),
            "CommandNotFoundException",
            ErrorCategory::ObjectNotFound,
        );
        e.target_name = name.to_string();
        e.target_type = "String".into();
        e.command = name.to_string();
        if let Some(c) = call {
            e.line = c.pos.line as usize;
            e.column = c.pos.col as usize;
            let name_end = c.pos.offset + name.len();
            e.position = position_message(&self.script, c.pos, name_end, false);
        }
        Err(e.into())
    }

    /// A native program's output: stdout lines as strings, stderr lines as
    /// error records (NativeCommandError), `$LASTEXITCODE`.
    pub(crate) fn external_output(&mut self, o: crate::ExternalOutput) -> Res<Vec<Value>> {
        let text = String::from_utf8_lossy(&o.stdout);
        let mut lines: Vec<Value> = text
            .split('\n')
            .map(|l| Value::str(l.trim_end_matches('\r')))
            .collect();
        if text.ends_with('\n') {
            lines.pop();
        }
        if text.is_empty() {
            lines.clear();
        }
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        if !err.is_empty() {
            for (i, l) in err.lines().enumerate() {
                let mut e = ErrorRecord::new(
                    "System.Management.Automation.RemoteException",
                    l.to_string(),
                    "NativeCommandError",
                    ErrorCategory::NotSpecified,
                );
                if i > 0 {
                    e.fully_qualified_error_id = "NativeCommandErrorMessage".into();
                }
                e.target_name = l.to_string();
                e.target_type = "String".into();
                self.write_error(e)?;
            }
        }
        self.rs
            .globals
            .insert("lastexitcode".into(), Value::Int32(o.exit_code));
        if o.exit_code != 0 {
            self.pipeline_failed = true;
        }
        Ok(lines)
    }

    // ---- assignment ----

    pub(crate) fn assign(&mut self, target: &Expr, op: AssignOp, v: Value) -> Res<()> {
        let v = if op == AssignOp::Set {
            v
        } else {
            let cur = self.eval(target)?;
            let bop = match op {
                AssignOp::Add => BinOp::Add,
                AssignOp::Sub => BinOp::Sub,
                AssignOp::Mul => BinOp::Mul,
                AssignOp::Div => BinOp::Div,
                _ => BinOp::Rem,
            };
            ops::binary_arith(bop, &cur, &v, self.max_items())?
        };
        self.store(target, v)
    }

    /// Writes `v` to an lvalue (variable, property, index), copying the
    /// container back to its variable.
    pub(crate) fn store(&mut self, target: &Expr, v: Value) -> Res<()> {
        match target {
            Expr::Var(n) => self.set_var(n, v),
            Expr::Cast(ty, inner) => {
                let ty = ty.clone();
                let v = dotnet::cast(self, &ty, v)?;
                self.store(inner, v)
            }
            Expr::List(items) => {
                let vals = v.into_items();
                let n = items.len();
                for (i, t) in items.iter().enumerate() {
                    let x = if i + 1 == n {
                        let rest: Vec<Value> = vals.iter().skip(i).cloned().collect();
                        if rest.len() == 1 {
                            rest.into_iter().next().unwrap_or(Value::Null)
                        } else if rest.is_empty() {
                            Value::Null
                        } else {
                            Value::Array(rest)
                        }
                    } else {
                        vals.get(i).cloned().unwrap_or(Value::Null)
                    };
                    self.store(t, x)?;
                }
                Ok(())
            }
            Expr::Member {
                target: t, name, ..
            } => {
                let name = self.eval(name)?.to_string();
                let mut container = self.eval(t)?;
                match &mut container {
                    Value::Object(o) => o.set(&name, v),
                    Value::Hashtable(h) => hash_set(h, Value::String(name), v),
                    Value::Live(l) => {
                        dotnet::live_set(l, &name, v)?;
                        return Ok(());
                    }
                    other => {
                        return Err(runtime(
                            format!("The property '{name}' cannot be found on this object. Verify that the property exists and can be set."),
                            "PropertyAssignmentException",
                        )
                        .with_target(&other.to_string(), "")
                        .into())
                    }
                }
                self.store(t, container)
            }
            Expr::Index(t, idx) => {
                let i = self.eval(idx)?;
                let mut container = self.eval(t)?;
                match &mut container {
                    Value::Hashtable(h) => hash_set(h, i, v),
                    Value::Array(a) | Value::List(a) => {
                        let k = index_of(&i, a.len())?;
                        a[k] = v;
                    }
                    Value::Bytes(b) => {
                        let k = index_of(&i, b.len())?;
                        b[k] = match ops::to_num(&v)? {
                            ops::Num::I(n) => u8::try_from(n).map_err(|_| {
                                runtime(
                                    "Value was either too large or too small for an unsigned byte.",
                                    "InvalidCastIConvertible",
                                )
                            })?,
                            ops::Num::D(d) => d as u8,
                        };
                    }
                    Value::Object(o) => o.set(&i.to_string(), v),
                    Value::Null => {
                        return Err(runtime("Cannot index into a null array.", "NullArray").into());
                    }
                    other => {
                        return Err(runtime(
                            format!(
                                "Unable to index into an object of type {}.",
                                other.type_name()
                            ),
                            "CannotIndex",
                        )
                        .into())
                    }
                }
                self.store(t, container)
            }
            _ => Err(runtime(
                "The assignment expression is not valid.",
                "InvalidLeftHandSide",
            )
            .into()),
        }
    }

    // ---- expressions ----

    pub(crate) fn eval(&mut self, e: &Expr) -> Res<Value> {
        self.tick()?;
        match e {
            Expr::Const(v) => Ok(v.clone()),
            Expr::Var(n) => Ok(self.get_var(n).unwrap_or(Value::Null)),
            Expr::Expand(parts) => {
                let mut s = String::new();
                for p in parts {
                    match p {
                        StrPart::Lit(l) => s.push_str(l),
                        StrPart::Expr(e) => {
                            let v = self.eval(e)?;
                            s.push_str(&self.to_text(&v));
                        }
                    }
                    if s.len() > self.max_items() {
                        return Err(ops::too_big().into());
                    }
                }
                Ok(Value::String(s))
            }
            Expr::ArraySub(stmts) => {
                let mut out = Vec::new();
                self.exec_block(stmts, &mut out)?;
                Ok(Value::Array(out))
            }
            Expr::SubExpr(stmts) => {
                let mut out = Vec::new();
                self.exec_block(stmts, &mut out)?;
                Ok(collect(out))
            }
            Expr::Paren(s) => self.stmt_value(s),
            Expr::Hash(pairs) => {
                let mut h: Vec<(Value, Value)> = Vec::new();
                for (k, v) in pairs {
                    let k = self.eval(k)?;
                    let v = self.stmt_value(v)?;
                    if h.iter().any(|(x, _)| ops::keys_equal(x, &k)) {
                        return Err(runtime(
                            format!("Duplicate keys '{k}' are not allowed in hash literals."),
                            "DuplicateKeyInHashLiteral",
                        )
                        .into());
                    }
                    h.push((k, v));
                }
                Ok(Value::Hashtable(h))
            }
            Expr::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.eval(i)?);
                }
                Ok(Value::Array(out))
            }
            Expr::Unary(op, inner) => self.unary(*op, inner),
            Expr::Binary(op, l, r) => self.binary(*op, l, r),
            Expr::Member {
                target,
                name,
                is_static,
            } => {
                let name = self.eval(name)?.to_string();
                if *is_static {
                    let Expr::Type(t) = target.as_ref() else {
                        let tv = self.eval(target)?;
                        return dotnet::static_member(self, &tv.type_name(), &name);
                    };
                    return dotnet::static_member(self, t, &name);
                }
                let t = self.eval(target)?;
                dotnet::member(self, &t, &name)
            }
            Expr::Invoke {
                target,
                name,
                args,
                is_static,
            } => {
                let name = self.eval(name)?.to_string();
                let mut argv = Vec::with_capacity(args.len());
                for a in args {
                    argv.push(self.eval(a)?);
                }
                if *is_static {
                    let ty = match target.as_ref() {
                        Expr::Type(t) => t.clone(),
                        other => self.eval(other)?.type_name(),
                    };
                    let (r, back) = dotnet::static_call(self, &ty, &name, argv)?;
                    self.write_back_args(args, back)?;
                    return Ok(r);
                }
                let t = self.eval(target)?;
                let (r, new_self, back) = dotnet::call_method(self, t, &name, argv)?;
                if let Some(ns) = new_self {
                    if is_assignable(target) {
                        self.store(target, ns)?;
                    }
                }
                self.write_back_args(args, back)?;
                Ok(r)
            }
            Expr::Index(t, i) => {
                let tv = self.eval(t)?;
                let iv = self.eval(i)?;
                index(&tv, &iv)
            }
            Expr::Type(t) => Ok(dotnet::type_object(t)),
            Expr::Cast(t, inner) => {
                let v = self.eval(inner)?;
                let t = t.clone();
                Ok(dotnet::cast(self, &t, v)?)
            }
            Expr::ScriptBlock(sb) => Ok(Value::ScriptBlock(sb.text.clone())),
        }
    }

    /// Arguments a .NET method wrote into (`$fs.Read($bytes, ...)` fills
    /// `$bytes`, a reference type in .NET) copied back to their variables.
    fn write_back_args(&mut self, args: &[Expr], back: Vec<(usize, Value)>) -> Res<()> {
        for (i, v) in back {
            if let Some(a) = args.get(i) {
                if is_assignable(a) {
                    self.store(a, v)?;
                }
            }
        }
        Ok(())
    }

    /// A value as string expansion shows it (`$OFS` between array items).
    pub(crate) fn to_text(&self, v: &Value) -> String {
        match v {
            Value::Array(a) | Value::List(a) => {
                let sep = self
                    .get_var("ofs")
                    .filter(|v| !matches!(v, Value::Null))
                    .map_or(" ".to_string(), |v| v.to_string());
                a.iter()
                    .map(|x| self.to_text(x))
                    .collect::<Vec<_>>()
                    .join(&sep)
            }
            Value::Hashtable(_) => "System.Collections.Hashtable".into(),
            Value::Object(o) if o.is_custom() => dotnet::custom_object_text(o),
            other => other.to_string(),
        }
    }

    fn unary(&mut self, op: UnOp, inner: &Expr) -> Res<Value> {
        match op {
            UnOp::Not => Ok(Value::Bool(!self.eval(inner)?.truthy())),
            UnOp::Comma => Ok(Value::Array(vec![self.eval(inner)?])),
            UnOp::Neg => {
                let v = self.eval(inner)?;
                Ok(ops::binary_arith(
                    BinOp::Sub,
                    &Value::Int32(0),
                    &v,
                    self.max_items(),
                )?)
            }
            UnOp::Plus => {
                let v = self.eval(inner)?;
                Ok(ops::num_value(
                    ops::to_num(&v)?,
                    matches!(v, Value::Int64(_)),
                ))
            }
            UnOp::Bnot => {
                let v = self.eval(inner)?;
                match ops::to_num(&v)? {
                    ops::Num::I(i) => Ok(ops::num_value(
                        ops::Num::I(!i),
                        matches!(v, Value::Int64(_)),
                    )),
                    ops::Num::D(d) => Ok(Value::Int64(!(d as i64))),
                }
            }
            UnOp::Join => {
                let v = self.eval(inner)?;
                Ok(Value::String(
                    v.into_items().iter().map(|x| x.to_string()).collect(),
                ))
            }
            UnOp::Split => {
                let v = self.eval(inner)?;
                let parts: Vec<Value> = v.to_string().split_whitespace().map(Value::str).collect();
                Ok(Value::Array(parts))
            }
            UnOp::PreInc | UnOp::PreDec | UnOp::PostInc | UnOp::PostDec => {
                let cur = self.eval(inner)?;
                let delta = if matches!(op, UnOp::PreInc | UnOp::PostInc) {
                    1
                } else {
                    -1
                };
                let new = ops::binary_arith(
                    BinOp::Add,
                    &if matches!(cur, Value::Null) {
                        Value::Int32(0)
                    } else {
                        cur.clone()
                    },
                    &Value::Int32(delta),
                    self.max_items(),
                )?;
                self.store(inner, new.clone())?;
                Ok(if matches!(op, UnOp::PreInc | UnOp::PreDec) {
                    new
                } else {
                    cur
                })
            }
        }
    }

    fn binary(&mut self, op: BinOp, l: &Expr, r: &Expr) -> Res<Value> {
        match op {
            BinOp::And => {
                let a = self.eval(l)?.truthy();
                if !a {
                    return Ok(Value::Bool(false));
                }
                return Ok(Value::Bool(self.eval(r)?.truthy()));
            }
            BinOp::Or => {
                let a = self.eval(l)?.truthy();
                if a {
                    return Ok(Value::Bool(true));
                }
                return Ok(Value::Bool(self.eval(r)?.truthy()));
            }
            _ => {}
        }
        let lv = self.eval(l)?;
        let rv = self.eval(r)?;
        let max = self.max_items();
        Ok(match op {
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
                ops::binary_arith(op, &lv, &rv, max)?
            }
            BinOp::Xor => Value::Bool(lv.truthy() ^ rv.truthy()),
            BinOp::Band | BinOp::Bor | BinOp::Bxor | BinOp::Shl | BinOp::Shr => {
                let (a, b) = (int_of(&lv)?, int_of(&rv)?);
                let r = match op {
                    BinOp::Band => a & b,
                    BinOp::Bor => a | b,
                    BinOp::Bxor => a ^ b,
                    BinOp::Shl => a.checked_shl((b & 63) as u32).unwrap_or(0),
                    _ => a.checked_shr((b & 63) as u32).unwrap_or(0),
                };
                ops::num_value(
                    ops::Num::I(r),
                    matches!(lv, Value::Int64(_)) || matches!(rv, Value::Int64(_)),
                )
            }
            BinOp::Range => {
                let a = int_of(&lv)?;
                let b = int_of(&rv)?;
                let n = (a - b).unsigned_abs() as usize + 1;
                if n > max {
                    return Err(ops::too_big().into());
                }
                let mut out = Vec::with_capacity(n);
                let step = if a <= b { 1 } else { -1 };
                let mut x = a;
                loop {
                    out.push(ops::num_value(ops::Num::I(x), false));
                    if x == b {
                        break;
                    }
                    x += step;
                }
                let v = Value::Array(out);
                self.hold(&v)?;
                v
            }
            BinOp::Format => {
                let args = match rv {
                    Value::Array(a) | Value::List(a) => a,
                    other => vec![other],
                };
                Value::String(ops::format_op(&lv.to_string(), &args)?)
            }
            BinOp::Cmp(cop, cs) => {
                if let Value::Array(items) | Value::List(items) = &lv {
                    if !matches!(cop, CmpOp::Contains | CmpOp::NotContains) {
                        let mut out = Vec::new();
                        for x in items {
                            if ops::cmp_scalar(cop, x, &rv, cs)? {
                                out.push(x.clone());
                            }
                        }
                        return Ok(Value::Array(out));
                    }
                }
                if matches!(cop, CmpOp::Match | CmpOp::NotMatch) {
                    let re = ops::regex(&rv.to_string(), cs)?;
                    let s = self.to_text(&lv);
                    let caps = re.captures(&s);
                    let hit = caps.is_some();
                    if let Some(c) = caps {
                        self.set_matches(&re, &c)?;
                    }
                    return Ok(Value::Bool(if cop == CmpOp::Match { hit } else { !hit }));
                }
                Value::Bool(ops::cmp_scalar(cop, &lv, &rv, cs)?)
            }
            BinOp::Is | BinOp::IsNot => {
                let t = match &rv {
                    Value::Object(o) if o.type_name() == "System.RuntimeType" => {
                        o.get("FullName").map(|v| v.to_string()).unwrap_or_default()
                    }
                    other => other.to_string(),
                };
                let hit = dotnet::is_type(&lv, &t);
                Value::Bool(if op == BinOp::Is { hit } else { !hit })
            }
            BinOp::As => {
                let t = match &rv {
                    Value::Object(o) if o.type_name() == "System.RuntimeType" => {
                        o.get("FullName").map(|v| v.to_string()).unwrap_or_default()
                    }
                    other => other.to_string(),
                };
                dotnet::cast(self, &t.to_ascii_lowercase(), lv).unwrap_or(Value::Null)
            }
            BinOp::Join => {
                let sep = rv.to_string();
                let s = lv
                    .into_items()
                    .iter()
                    .map(|x| self.to_text(x))
                    .collect::<Vec<_>>()
                    .join(&sep);
                if s.len() > max {
                    return Err(ops::too_big().into());
                }
                Value::String(s)
            }
            BinOp::Split(cs) => {
                let (pat, limit) = match &rv {
                    Value::Array(a) if !a.is_empty() => {
                        (a[0].to_string(), a.get(1).and_then(|v| int_of(v).ok()))
                    }
                    other => (other.to_string(), None),
                };
                let re = ops::regex(&pat, cs)?;
                let mut out = Vec::new();
                for item in lv.into_items() {
                    let s = item.to_string();
                    let parts: Vec<Value> = match limit {
                        Some(n) if n > 0 => re.splitn(&s, n as usize).map(Value::str).collect(),
                        _ => re.split(&s).map(Value::str).collect(),
                    };
                    out.extend(parts);
                }
                Value::Array(out)
            }
            BinOp::Replace(cs) => {
                let (pat, rep) = match &rv {
                    Value::Array(a) => (
                        a.first().map(|v| v.to_string()).unwrap_or_default(),
                        a.get(1).map(|v| v.to_string()).unwrap_or_default(),
                    ),
                    other => (other.to_string(), String::new()),
                };
                let re = ops::regex(&pat, cs)?;
                let rep = dotnet_replacement(&rep);
                let apply = |s: String| re.replace_all(&s, rep.as_str()).into_owned();
                match lv {
                    Value::Array(a) | Value::List(a) => Value::Array(
                        a.into_iter()
                            .map(|x| Value::String(apply(x.to_string())))
                            .collect(),
                    ),
                    other => Value::String(apply(other.to_string())),
                }
            }
            BinOp::And | BinOp::Or => Value::Null,
        })
    }
}

/// .NET's `$1`/`${name}` replacement syntax in the `regex` crate's form.
fn dotnet_replacement(r: &str) -> String {
    // Both use `$1` and `${name}`; .NET's `$$` is a literal `$`, as in regex.
    r.to_string()
}

fn int_of(v: &Value) -> Res<i64> {
    Ok(match ops::to_num(v)? {
        ops::Num::I(i) => i,
        ops::Num::D(d) => d.round() as i64,
    })
}

/// Parameters bound by name, and the arguments left for `$args`.
type Bound = (Vec<(String, Value)>, Vec<Value>);

/// An argument as evaluated, before binding.
#[derive(Debug, Clone)]
pub(crate) enum BoundArg {
    Named(String, Option<Value>),
    Pos(Value),
}

/// Collected pipeline output as one value.
pub(crate) fn collect(mut out: Vec<Value>) -> Value {
    match out.len() {
        0 => Value::Null,
        1 => out.pop().unwrap_or(Value::Null),
        _ => Value::Array(out),
    }
}

fn strip_scope(name: &str) -> &str {
    for p in ["global:", "script:", "local:", "private:", "variable:"] {
        if let Some(n) = name.strip_prefix(p) {
            return n;
        }
    }
    name
}

fn is_assignable(e: &Expr) -> bool {
    match e {
        Expr::Var(n) => !matches!(
            n.as_str(),
            "true" | "false" | "null" | "_" | "args" | "input" | "host"
        ),
        Expr::Member {
            target,
            is_static: false,
            ..
        }
        | Expr::Index(target, _) => is_assignable(target),
        _ => false,
    }
}

fn catch_matches(types: &[String], rec: &ErrorRecord) -> bool {
    if types.is_empty() {
        return true;
    }
    let et = rec.exception_type.to_ascii_lowercase();
    let short = et.rsplit('.').next().unwrap_or(&et).to_string();
    types.iter().any(|t| {
        let t = t.trim().to_ascii_lowercase();
        let ts = t.rsplit('.').next().unwrap_or(&t).to_string();
        t == et
            || ts == short
            || ts == "exception"
            || ts == "systemexception" && !et.starts_with("system.management.automation")
            || ts == "runtimeexception" && et.starts_with("system.management.automation")
    })
}

fn hash_set(h: &mut Vec<(Value, Value)>, k: Value, v: Value) {
    match h.iter_mut().find(|(x, _)| ops::keys_equal(x, &k)) {
        Some((_, slot)) => *slot = v,
        None => h.push((k, v)),
    }
}

fn index_of(i: &Value, len: usize) -> Res<usize> {
    let n = int_of(i)?;
    let k = if n < 0 { len as i64 + n } else { n };
    if k < 0 || k as usize >= len {
        return Err(ErrorRecord::new(
            "System.IndexOutOfRangeException",
            "Index was outside the bounds of the array.",
            "System.IndexOutOfRangeException",
            ErrorCategory::OperationStopped,
        )
        .into());
    }
    Ok(k as usize)
}

/// `$a[i]`: arrays (negative indexes count from the end; an array of
/// indexes slices), strings (chars), hashtables (keys), objects.
pub(crate) fn index(t: &Value, i: &Value) -> Res<Value> {
    if let (
        Value::Array(_) | Value::List(_) | Value::Bytes(_) | Value::String(_),
        Value::Array(idx),
    ) = (t, i)
    {
        let mut out = Vec::new();
        for x in idx {
            let v = index(t, x)?;
            if !matches!(v, Value::Null) {
                out.push(v);
            }
        }
        return Ok(Value::Array(out));
    }
    Ok(match t {
        Value::Array(a) | Value::List(a) => {
            let n = int_of(i)?;
            let k = if n < 0 { a.len() as i64 + n } else { n };
            if k < 0 {
                Value::Null
            } else {
                a.get(k as usize).cloned().unwrap_or(Value::Null)
            }
        }
        Value::Bytes(b) => {
            let n = int_of(i)?;
            let k = if n < 0 { b.len() as i64 + n } else { n };
            if k < 0 {
                Value::Null
            } else {
                b.get(k as usize).map_or(Value::Null, |x| Value::Byte(*x))
            }
        }
        Value::String(s) => {
            let n = int_of(i)?;
            let len = s.chars().count() as i64;
            let k = if n < 0 { len + n } else { n };
            if k < 0 {
                Value::Null
            } else {
                s.chars().nth(k as usize).map_or(Value::Null, Value::Char)
            }
        }
        Value::Hashtable(h) => h
            .iter()
            .find(|(k, _)| ops::keys_equal(k, i))
            .map_or(Value::Null, |(_, v)| v.clone()),
        Value::Object(o) => o.get(&i.to_string()).cloned().unwrap_or(Value::Null),
        Value::Null => return Err(runtime("Cannot index into a null array.", "NullArray").into()),
        other => {
            if int_of(i).ok() == Some(0) {
                other.clone()
            } else {
                return Err(runtime(
                    format!(
                        "Unable to index into an object of type {}.",
                        other.type_name()
                    ),
                    "CannotIndex",
                )
                .into());
            }
        }
    })
}

fn approx_size(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len(),
        Value::Bytes(b) => b.len(),
        Value::Array(a) | Value::List(a) => {
            a.len() * 16 + a.iter().take(64).map(approx_size).sum::<usize>()
        }
        Value::Hashtable(h) => h.len() * 32,
        Value::Object(o) => o.properties.len() * 32,
        _ => 0,
    }
}

fn is_common_param(n: &str) -> bool {
    [
        "erroraction",
        "ea",
        "warningaction",
        "wa",
        "informationaction",
        "infa",
        "verbose",
        "vb",
        "debug",
        "db",
        "errorvariable",
        "ev",
        "warningvariable",
        "wv",
        "informationvariable",
        "iv",
        "outvariable",
        "ov",
        "outbuffer",
        "ob",
        "pipelinevariable",
        "pv",
        "confirm",
        "cf",
    ]
    .contains(&n)
}

fn is_common_switch(n: &str) -> bool {
    ["verbose", "vb", "debug", "db", "confirm", "cf"].contains(&n)
}

pub(crate) fn param_not_found(n: &str) -> ErrorRecord {
    ErrorRecord::new(
        "System.Management.Automation.ParameterBindingException",
        format!("A parameter cannot be found that matches parameter name '{n}'."),
        "NamedParameterNotFound",
        ErrorCategory::InvalidArgument,
    )
}

pub(crate) fn missing_argument(n: &str, ty: &str) -> ErrorRecord {
    ErrorRecord::new(
        "System.Management.Automation.ParameterBindingException",
        format!("Missing an argument for parameter '{n}'. Specify a parameter of type '{ty}' and try again."),
        "MissingArgument",
        ErrorCategory::InvalidArgument,
    )
}

/// How a native program name is run.
enum Native {
    /// Through the host's cmd shell command table.
    Shell,
    /// A Windows program the cmd shell does not implement.
    Unsupported,
}

fn native_program(name: &str) -> Option<Native> {
    let n = name.rsplit(['\\', '/']).next().unwrap_or(name);
    let n = n.strip_suffix(".exe").unwrap_or(n);
    if ["ipconfig", "hostname", "whoami", "systeminfo", "cmd"].contains(&n) {
        return Some(Native::Shell);
    }
    if [
        "ping",
        "netstat",
        "nslookup",
        "sc",
        "net",
        "net1",
        "reg",
        "wmic",
        "tasklist",
        "taskkill",
        "netsh",
        "certutil",
        "icacls",
        "robocopy",
        "xcopy",
        "shutdown",
        "bcdedit",
        "dism",
        "sfc",
        "winrm",
        "wevtutil",
        "schtasks",
        "fsutil",
        "findstr",
        "where",
        "route",
        "arp",
        "tracert",
        "query",
        "quser",
        "msiexec",
        "powershell",
        "pwsh",
        "cscript",
        "wscript",
        "diskpart",
        "gpupdate",
        "gpresult",
        "klist",
        "setspn",
        "dcdiag",
        "repadmin",
        "vssadmin",
        "wbadmin",
        "attrib",
        "cacls",
        "takeown",
        "expand",
        "makecab",
        "curl",
        "tar",
        "ssh",
        "scp",
        "nltest",
        "w32tm",
        "auditpol",
        "secedit",
        "mountvol",
        "chkdsk",
        "format",
        "manage-bde",
        "hvc",
    ]
    .contains(&n)
    {
        return Some(Native::Unsupported);
    }
    None
}

#[allow(dead_code)]
pub(crate) fn custom(props: Vec<(&str, Value)>) -> Value {
    Value::Object(PsObject::custom(
        props.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    ))
}
