//! The messages' CLIXML bodies (MS-PSRP 2.2.2): what the server reads out
//! of the client's, and the server's as Windows PowerShell 5.1 writes them.

use crate::clixml::{Items, Object, Value, Writer};

/// PowerShell's `ErrorCategory` values the server uses.
pub mod category {
    pub const NOT_SPECIFIED: i32 = 0;
    pub const INVALID_ARGUMENT: i32 = 5;
    pub const INVALID_DATA: i32 = 6;
    pub const INVALID_OPERATION: i32 = 7;
    pub const NOT_IMPLEMENTED: i32 = 11;
    pub const OBJECT_NOT_FOUND: i32 = 13;
    pub const OPERATION_STOPPED: i32 = 14;
    pub const PARSER_ERROR: i32 = 17;
    pub const PERMISSION_DENIED: i32 = 18;
    pub const LIMITS_EXCEEDED: i32 = 29;

    /// The category's name as `CategoryInfo` prints it.
    pub fn name(c: i32) -> &'static str {
        const NAMES: [&str; 32] = [
            "NotSpecified",
            "OpenError",
            "CloseError",
            "DeviceError",
            "DeadlockDetected",
            "InvalidArgument",
            "InvalidData",
            "InvalidOperation",
            "InvalidResult",
            "InvalidType",
            "MetadataError",
            "NotImplemented",
            "NotInstalled",
            "ObjectNotFound",
            "OperationStopped",
            "OperationTimeout",
            "SyntaxError",
            "ParserError",
            "PermissionDenied",
            "ResourceBusy",
            "ResourceExists",
            "ResourceUnavailable",
            "ReadError",
            "WriteError",
            "FromStdErr",
            "SecurityError",
            "ProtocolError",
            "ConnectionError",
            "AuthenticationError",
            "LimitsExceeded",
            "QuotaExceeded",
            "NotEnabled",
        ];
        usize::try_from(c)
            .ok()
            .and_then(|i| NAMES.get(i))
            .copied()
            .unwrap_or("NotSpecified")
    }
}

/// What an error record says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErrorInfo {
    pub message: String,
    /// `FullyQualifiedErrorId`, e.g. `CommandNotFoundException`.
    pub fq_error_id: String,
    pub category: i32,
    /// `CategoryInfo.Reason`: the exception's short type name.
    pub reason: String,
    pub target_name: String,
    pub target_type: String,
    /// The exception's full type name, e.g.
    /// `System.Management.Automation.RuntimeException`.
    pub exception_type: String,
    /// The command that raised it, when there is one.
    pub command: Option<String>,
}

impl ErrorInfo {
    /// The record for an operation fakedc has not built: PowerShell's
    /// `NotImplemented` category with the operation named in the message.
    pub fn not_implemented(operation: &str) -> ErrorInfo {
        ErrorInfo {
            message: format!("The operation '{operation}' is not implemented by this server."),
            fq_error_id: "NotImplemented".into(),
            category: category::NOT_IMPLEMENTED,
            reason: "NotImplementedException".into(),
            target_name: operation.into(),
            target_type: "String".into(),
            exception_type: "System.NotImplementedException".into(),
            command: None,
        }
    }
}

/// One thing a pipeline produced, in the order it produced it.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Output(Value),
    Error(ErrorInfo),
    Warning(String),
    Verbose(String),
    Debug(String),
    /// `Write-Information` / `Write-Host`: the data, the source, the time
    /// (xs:dateTime text from the model's clock) and the tags.
    Information {
        data: Value,
        source: String,
        time: String,
        tags: Vec<String>,
    },
}

/// How a pipeline ended.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Finish {
    #[default]
    Completed,
    /// A terminating error.
    Failed(ErrorInfo),
    Stopped,
}

/// PSInvocationState values.
pub mod pipeline_state {
    pub const RUNNING: i32 = 1;
    pub const STOPPED: i32 = 3;
    pub const COMPLETED: i32 = 4;
    pub const FAILED: i32 = 5;
}

/// RunspacePoolState values.
pub mod pool_state {
    pub const OPENED: i32 = 2;
    pub const CLOSED: i32 = 3;
    pub const BROKEN: i32 = 5;
}

fn ms(props: Vec<(&str, Value)>) -> Value {
    Value::Object(Box::new(Object {
        extended: props.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        ..Default::default()
    }))
}

/// The server's SESSION_CAPABILITY: the versions Windows PowerShell 5.1
/// announces.
pub fn session_capability() -> String {
    Writer::write(&ms(vec![
        ("protocolversion", Value::Version("2.3".into())),
        ("PSVersion", Value::Version("2.0".into())),
        ("SerializationVersion", Value::Version("1.1.0.1".into())),
    ]))
}

/// APPLICATION_PRIVATE_DATA: `$PSVersionTable` as Windows Server 2019's
/// PowerShell 5.1 reports it, in a PSPrimitiveDictionary.
pub fn application_private_data() -> String {
    let dict = |entries: Vec<(&str, Value)>| {
        Value::Object(Box::new(Object {
            type_names: vec![
                "System.Management.Automation.PSPrimitiveDictionary".into(),
                "System.Collections.Hashtable".into(),
                "System.Object".into(),
            ],
            items: Some(Items::Dict(
                entries
                    .into_iter()
                    .map(|(k, v)| (Value::str(k), v))
                    .collect(),
            )),
            ..Default::default()
        }))
    };
    let v = |s: &str| Value::Version(s.into());
    // The evaluator's `$PSVersionTable.PSVersion`, so the two never differ.
    let ps = fakedc_pwsh::PS_VERSION.to_string();
    let build = format!(
        "10.0.{}.{}",
        fakedc_pwsh::PS_VERSION.build,
        fakedc_pwsh::PS_VERSION.revision
    );
    let table = dict(vec![
        ("PSRemotingProtocolVersion", v("2.3")),
        ("PSVersion", v(&ps)),
        ("PSEdition", Value::str("Desktop")),
        ("SerializationVersion", v("1.1.0.1")),
        ("BuildVersion", v(&build)),
        ("CLRVersion", v("4.0.30319.42000")),
        ("WSManStackVersion", v("3.0")),
        (
            "PSCompatibleVersions",
            Value::Object(Box::new(Object {
                type_names: vec![
                    "System.Version[]".into(),
                    "System.Array".into(),
                    "System.Object".into(),
                ],
                items: Some(Items::List(
                    crate::clixml::ListKind::List,
                    ["1.0", "2.0", "3.0", "4.0", "5.0", ps.as_str()]
                        .iter()
                        .map(|s| v(s))
                        .collect(),
                )),
                ..Default::default()
            })),
        ),
    ]);
    Writer::write(&ms(vec![(
        "ApplicationPrivateData",
        dict(vec![("PSVersionTable", table)]),
    )]))
}

/// RUNSPACEPOOL_STATE, with the error that broke it if it broke.
pub fn runspace_pool_state(state: i32, error: Option<&ErrorInfo>) -> String {
    let mut props = vec![("RunspaceState", Value::I32(state))];
    if let Some(e) = error {
        props.push(("ExceptionAsErrorRecord", error_record(e, false)));
    }
    Writer::write(&ms(props))
}

/// RUNSPACE_AVAILABILITY: the answer to SET_MAX/MIN_RUNSPACES (a bool) or
/// to GET_AVAILABLE_RUNSPACES (a count), with the call id.
pub fn runspace_availability(response: Value, ci: i64) -> String {
    Writer::write(&ms(vec![
        ("SetMinMaxRunspacesResponse", response),
        ("ci", Value::I64(ci)),
    ]))
}

/// PIPELINE_STATE, with the terminating error when it failed or stopped.
pub fn pipeline_state(state: i32, error: Option<&ErrorInfo>) -> String {
    let mut props = vec![("PipelineState", Value::I32(state))];
    if let Some(e) = error {
        props.push(("ExceptionAsErrorRecord", error_record(e, false)));
    }
    Writer::write(&ms(props))
}

/// An ErrorRecord as PowerShell serialises one (without invocation info:
/// `SerializeExtendedInfo` false).
pub fn error_record(e: &ErrorInfo, write_error_stream: bool) -> Value {
    let exc_types: Vec<String> = {
        let mut t = vec![e.exception_type.clone()];
        for base in [
            "System.Management.Automation.RuntimeException",
            "System.SystemException",
            "System.Exception",
            "System.Object",
        ] {
            if !t.iter().any(|x| x == base) {
                t.push(base.into());
            }
        }
        t
    };
    let exception = Value::Object(Box::new(Object {
        type_names: exc_types,
        to_string: Some(e.message.clone()),
        adapted: vec![
            ("Message".into(), Value::str(&e.message)),
            ("Data".into(), Value::hashtable(Vec::new())),
            ("InnerException".into(), Value::Nil),
            ("TargetSite".into(), Value::Nil),
            ("StackTrace".into(), Value::Nil),
            ("HelpLink".into(), Value::Nil),
            ("Source".into(), Value::Nil),
            ("HResult".into(), Value::I32(-2146233087)),
        ],
        ..Default::default()
    }));
    let activity = e.command.clone().unwrap_or_default();
    let cat = category::name(e.category);
    let cat_msg = format!(
        "{cat} ({}:{}) [{activity}], {}",
        e.target_name, e.target_type, e.reason
    );
    let mut props: Vec<(String, Value)> = vec![
        ("Exception".into(), exception),
        (
            "TargetObject".into(),
            if e.target_name.is_empty() {
                Value::Nil
            } else {
                Value::str(&e.target_name)
            },
        ),
        ("FullyQualifiedErrorId".into(), Value::str(&e.fq_error_id)),
        ("InvocationInfo".into(), Value::Nil),
        ("ErrorCategory_Category".into(), Value::I32(e.category)),
        ("ErrorCategory_Activity".into(), Value::str(activity)),
        ("ErrorCategory_Reason".into(), Value::str(&e.reason)),
        (
            "ErrorCategory_TargetName".into(),
            Value::str(&e.target_name),
        ),
        (
            "ErrorCategory_TargetType".into(),
            Value::str(&e.target_type),
        ),
        ("ErrorCategory_Message".into(), Value::str(cat_msg)),
        ("SerializeExtendedInfo".into(), Value::Bool(false)),
        (
            "ErrorDetails_ScriptStackTrace".into(),
            Value::str("at <ScriptBlock>, <No file>: line 1"),
        ),
    ];
    if write_error_stream {
        props.push(("writeErrorStream".into(), Value::Bool(true)));
    }
    Value::Object(Box::new(Object {
        type_names: vec![
            "System.Management.Automation.ErrorRecord".into(),
            "System.Object".into(),
        ],
        to_string: Some(e.message.clone()),
        extended: props,
        ..Default::default()
    }))
}

/// A WARNING/VERBOSE/DEBUG record.
pub fn informational_record(kind: &str, message: &str) -> String {
    Writer::write(&Value::Object(Box::new(Object {
        type_names: vec![
            format!("System.Management.Automation.{kind}Record"),
            "System.Management.Automation.InformationalRecord".into(),
            "System.Object".into(),
        ],
        to_string: Some(message.into()),
        extended: vec![
            ("InformationalRecord_Message".into(), Value::str(message)),
            (
                "InformationalRecord_SerializeInvocationInfo".into(),
                Value::Bool(false),
            ),
        ],
        ..Default::default()
    })))
}

/// An INFORMATION_RECORD.
pub fn information_record(
    data: &Value,
    source: &str,
    time: &str,
    tags: &[String],
    user: &str,
    computer: &str,
) -> String {
    let text = match data {
        Value::String(s) => s.clone(),
        v => v
            .as_object()
            .and_then(|o| o.to_string.clone())
            .unwrap_or_default(),
    };
    Writer::write(&Value::Object(Box::new(Object {
        type_names: vec![
            "System.Management.Automation.InformationRecord".into(),
            "System.Object".into(),
        ],
        to_string: Some(text),
        extended: vec![
            ("MessageData".into(), data.clone()),
            ("Source".into(), Value::str(source)),
            ("TimeGenerated".into(), Value::DateTime(time.into())),
            (
                "Tags".into(),
                Value::Object(Box::new(Object {
                    type_names: vec![
                        "System.Collections.Generic.List`1[[System.String, mscorlib, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089]]".into(),
                        "System.Object".into(),
                    ],
                    items: Some(Items::List(
                        crate::clixml::ListKind::List,
                        tags.iter().map(Value::str).collect(),
                    )),
                    ..Default::default()
                })),
            ),
            ("User".into(), Value::str(user)),
            ("Computer".into(), Value::str(computer)),
            ("ProcessId".into(), Value::U32(4242)),
            ("NativeThreadId".into(), Value::U32(1)),
            ("ManagedThreadId".into(), Value::U32(1)),
        ],
        ..Default::default()
    })))
}

/// One command of a pipeline, as CREATE_PIPELINE names it.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// A command name, or a script's text when `is_script`.
    pub name: String,
    pub is_script: bool,
    /// (parameter name, value); a positional argument has no name.
    pub args: Vec<(Option<String>, Value)>,
    pub use_local_scope: Option<bool>,
    /// `2>&1`: the error stream merged into output.
    pub merge_error_to_output: bool,
}

/// What CREATE_PIPELINE asks for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PipelineSpec {
    /// Statements, each a pipeline of commands.
    pub statements: Vec<Vec<Command>>,
    pub no_input: bool,
    pub is_nested: bool,
    pub add_to_history: bool,
    pub history: String,
    /// The client has a host (`_isHostNull` false).
    pub has_host: bool,
}

impl PipelineSpec {
    /// A one-line summary for the journal: commands joined as a pipeline,
    /// scripts as their first line.
    pub fn summary(&self, max: usize) -> String {
        let s = self
            .statements
            .iter()
            .map(|st| {
                st.iter()
                    .map(|c| c.name.lines().next().unwrap_or_default().trim().to_string())
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .collect::<Vec<_>>()
            .join("; ");
        if s.chars().count() > max {
            let mut t: String = s.chars().take(max).collect();
            t.push('…');
            t
        } else {
            s
        }
    }
}

/// A mandatory part of a client's message was missing or of the wrong type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {message} message has no valid {field}")]
pub struct MissingField {
    pub message: &'static str,
    pub field: &'static str,
}

fn need<'a>(
    o: &'a Object,
    message: &'static str,
    field: &'static str,
) -> Result<&'a Value, MissingField> {
    o.get(field).ok_or(MissingField { message, field })
}

/// Reads CREATE_PIPELINE's body.
pub fn parse_create_pipeline(v: &Value) -> Result<PipelineSpec, MissingField> {
    const M: &str = "CREATE_PIPELINE";
    let miss = |field| MissingField { message: M, field };
    let o = v.as_object().ok_or(miss("body"))?;
    let no_input = need(o, M, "NoInput")?.as_bool().ok_or(miss("NoInput"))?;
    let add_to_history = o
        .get("AddToHistory")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let is_nested = o.get("IsNested").and_then(Value::as_bool).unwrap_or(false);
    let has_host = o
        .get("HostInfo")
        .and_then(Value::as_object)
        .and_then(|h| h.get("_isHostNull"))
        .and_then(Value::as_bool)
        .is_some_and(|null| !null);
    let ps = need(o, M, "PowerShell")?
        .as_object()
        .ok_or(miss("PowerShell"))?;
    let history = ps
        .get("History")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut statements = Vec::new();
    match ps.get("ExtraCmds").and_then(Value::as_list) {
        Some(extra) => {
            for st in extra {
                let cmds = st
                    .as_object()
                    .and_then(|s| s.get("Cmds"))
                    .and_then(Value::as_list)
                    .ok_or(miss("ExtraCmds"))?;
                statements.push(parse_commands(cmds)?);
            }
        }
        None => {
            let cmds = need(ps, M, "Cmds")?.as_list().ok_or(miss("Cmds"))?;
            statements.push(parse_commands(cmds)?);
        }
    }
    if statements.iter().all(|s| s.is_empty()) {
        return Err(miss("Cmds"));
    }
    Ok(PipelineSpec {
        statements,
        no_input,
        is_nested,
        add_to_history,
        history,
        has_host,
    })
}

fn parse_commands(cmds: &[Value]) -> Result<Vec<Command>, MissingField> {
    const M: &str = "CREATE_PIPELINE";
    let miss = |field| MissingField { message: M, field };
    let mut out = Vec::with_capacity(cmds.len());
    for c in cmds {
        let c = c.as_object().ok_or(miss("Cmds"))?;
        let name = need(c, M, "Cmd")?.as_str().ok_or(miss("Cmd"))?.to_string();
        let is_script = c.get("IsScript").and_then(Value::as_bool).unwrap_or(false);
        let use_local_scope = c.get("UseLocalScope").and_then(Value::as_bool);
        let mut args = Vec::new();
        if let Some(list) = c.get("Args").and_then(Value::as_list) {
            for a in list {
                let a = a.as_object().ok_or(miss("Args"))?;
                let n = a.get("N").and_then(Value::as_str).map(str::to_string);
                let v = a.get("V").cloned().unwrap_or(Value::Nil);
                args.push((n, v));
            }
        }
        // Protocol 2.2+ says it with MergeError; 2.1 with MergeMyResult
        // (Error = 2) to MergeToResult (Output = 1).
        let merge_error_to_output = c.get("MergeError").and_then(Value::as_i64) == Some(1)
            || (c.get("MergeMyResult").and_then(Value::as_i64) == Some(2)
                && c.get("MergeToResult").and_then(Value::as_i64) == Some(1));
        out.push(Command {
            name,
            is_script,
            args,
            use_local_scope,
            merge_error_to_output,
        });
    }
    Ok(out)
}

/// Reads the `ci` (call id) of a pool-level request.
pub fn call_id(v: &Value) -> Option<i64> {
    v.as_object()?.get("ci").and_then(Value::as_i64)
}
