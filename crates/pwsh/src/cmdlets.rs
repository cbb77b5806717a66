//! Cmdlets: the language's utility cmdlets (Where-Object, Select-Object,
//! ...), the file cmdlets on the jailed share, and the Windows and Hyper-V
//! cmdlets over the model. Each declares its parameters (name, aliases,
//! position, switch), so binding follows PowerShell's rules: a named
//! parameter by unique prefix, positionals by position, an unknown name or
//! a missing value fails with PowerShell's ParameterBindingException.
//!
//! Cmdlets that exist in Windows PowerShell 5.1 but are not built here are
//! listed in [`NOT_IMPLEMENTED`] and fail with a NotImplemented error
//! naming them, rather than CommandNotFound (which would tell a script the
//! cmdlet does not exist on the host).

use crate::dotnet;
use crate::eval::{BoundArg, ErrorAction, Flow, Interp, Res, Term};
use crate::format;
use crate::fs;
use crate::ops;
use crate::value::{DateTime, PsObject, Value, Version};
use crate::{ErrorCategory, ErrorRecord, InformationRecord};
use fakedc_model::{PowerAction, PowerState, Role, Suspension};
use std::sync::Arc;

/// A cmdlet parameter.
pub(crate) struct P {
    name: &'static str,
    aliases: &'static [&'static str],
    switch: bool,
    pos: Option<u8>,
    /// `ValueFromRemainingArguments`: every positional left over.
    rest: bool,
}

const fn p(name: &'static str) -> P {
    P {
        name,
        aliases: &[],
        switch: false,
        pos: None,
        rest: false,
    }
}
const fn pos(name: &'static str, at: u8) -> P {
    P {
        name,
        aliases: &[],
        switch: false,
        pos: Some(at),
        rest: false,
    }
}
const fn rest(name: &'static str) -> P {
    P {
        name,
        aliases: &[],
        switch: false,
        pos: Some(0),
        rest: true,
    }
}
const fn sw(name: &'static str) -> P {
    P {
        name,
        aliases: &[],
        switch: true,
        pos: None,
        rest: false,
    }
}
const fn al(name: &'static str, aliases: &'static [&'static str], at: Option<u8>) -> P {
    P {
        name,
        aliases,
        switch: false,
        pos: at,
        rest: false,
    }
}

type Run = fn(&mut Interp<'_>, &mut Args, Vec<Value>) -> Res<Vec<Value>>;

/// A cmdlet: name, parameters, body, and whether each call is journaled
/// (the ones that read or change the model or the share).
pub(crate) struct Def {
    pub name: &'static str,
    params: &'static [P],
    run: Run,
    journal: bool,
    /// Supports `-WhatIf` in PowerShell (state-changing cmdlets).
    should_process: bool,
}

/// Bound parameter values.
pub(crate) struct Args {
    cmd: &'static str,
    vals: Vec<(&'static str, Value)>,
}

impl Args {
    fn get(&self, n: &str) -> Option<&Value> {
        self.vals
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v)
    }
    fn has(&self, n: &str) -> bool {
        self.get(n).is_some()
    }
    fn str(&self, n: &str) -> Option<String> {
        self.get(n).map(|v| v.to_string())
    }
    fn switch(&self, n: &str) -> bool {
        self.get(n).is_some_and(Value::truthy)
    }
    fn int(&self, n: &str) -> Res<Option<i64>> {
        match self.get(n) {
            None => Ok(None),
            Some(v) => Ok(Some(match ops::to_num(v)? {
                ops::Num::I(i) => i,
                ops::Num::D(d) => d.round() as i64,
            })),
        }
    }
    /// A parameter as a list of strings (`-Name a,b`).
    fn strs(&self, n: &str) -> Vec<String> {
        self.get(n)
            .map(|v| {
                v.clone()
                    .into_items()
                    .iter()
                    .map(|x| x.to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// PowerShell 5.1's aliases.
pub(crate) fn alias(n: &str) -> Option<&'static str> {
    Some(match n {
        "?" | "where" => "where-object",
        "%" | "foreach" => "foreach-object",
        "select" => "select-object",
        "sort" => "sort-object",
        "measure" => "measure-object",
        "ft" => "format-table",
        "fl" => "format-list",
        "gci" | "ls" | "dir" => "get-childitem",
        "gc" | "cat" | "type" => "get-content",
        "sc" => "set-content",
        "ac" => "add-content",
        "echo" | "write" => "write-output",
        "gi" => "get-item",
        "ni" | "md" | "mkdir" => "new-item",
        "ri" | "rm" | "del" | "erase" | "rd" | "rmdir" => "remove-item",
        "cp" | "copy" | "cpi" => "copy-item",
        "mv" | "move" | "mi" => "move-item",
        "cd" | "sl" | "chdir" => "set-location",
        "pwd" | "gl" => "get-location",
        "iex" => "invoke-expression",
        "icm" => "invoke-command",
        "gsv" => "get-service",
        "sasv" => "start-service",
        "spsv" => "stop-service",
        "gps" | "ps" => "get-process",
        "gwmi" => "get-wmiobject",
        "gcim" => "get-ciminstance",
        "gv" => "get-variable",
        "sv" | "set" => "set-variable",
        "rv" => "remove-variable",
        "gcm" => "get-command",
        "ipmo" => "import-module",
        "sleep" => "start-sleep",
        "oh" => "out-host",
        "group" => "group-object",
        "h" | "history" => "get-history",
        "clear" | "cls" => "clear-host",
        "rvpa" => "resolve-path",
        "gm" => "get-member",
        "ogv" => "out-gridview",
        "saps" | "start" => "start-process",
        "spps" | "kill" => "stop-process",
        // The Hyper-V module's checkpoint names for its snapshot cmdlets.
        "get-vmcheckpoint" => "get-vmsnapshot",
        "restore-vmcheckpoint" => "restore-vmsnapshot",
        "remove-vmcheckpoint" => "remove-vmsnapshot",
        _ => return None,
    })
}

/// Windows PowerShell 5.1 cmdlets (and Hyper-V module ones) that exist on a
/// real host but are not built here: they fail naming themselves.
pub(crate) const NOT_IMPLEMENTED: &[&str] = &[
    "add-type",
    "get-winevent",
    "get-eventlog",
    "write-eventlog",
    "get-hotfix",
    "get-netadapter",
    "get-netipaddress",
    "get-netipconfiguration",
    "test-connection",
    "test-netconnection",
    "invoke-webrequest",
    "invoke-restmethod",
    "get-acl",
    "set-acl",
    "get-itemproperty",
    "set-itemproperty",
    "new-itemproperty",
    "remove-itemproperty",
    "get-itempropertyvalue",
    "new-pssession",
    "enter-pssession",
    "exit-pssession",
    "remove-pssession",
    "get-pssession",
    "register-scheduledtask",
    "get-scheduledtask",
    "start-scheduledtask",
    "get-disk",
    "get-volume",
    "get-partition",
    "get-windowsfeature",
    "install-windowsfeature",
    "get-localuser",
    "new-localuser",
    "get-localgroupmember",
    "restart-computer",
    "stop-computer",
    "rename-computer",
    "add-computer",
    "get-culture",
    "get-timezone",
    "set-timezone",
    "get-counter",
    "start-process",
    "stop-process",
    "wait-process",
    "start-job",
    "get-job",
    "receive-job",
    "wait-job",
    "remove-job",
    "export-csv",
    "import-csv",
    "convertto-csv",
    "convertfrom-csv",
    "convertto-xml",
    "export-clixml",
    "import-clixml",
    "compress-archive",
    "expand-archive",
    "get-credential",
    "convertto-securestring",
    "convertfrom-securestring",
    "new-psdrive",
    "get-psdrive",
    "get-psprovider",
    "clear-content",
    "rename-item",
    "get-member",
    "tee-object",
    "compare-object",
    "get-history",
    "clear-host",
    "get-alias",
    "set-alias",
    "new-alias",
    "get-help",
    "update-help",
    "get-pssessionconfiguration",
    "enable-psremoting",
    "register-pssessionconfiguration",
    "select-string",
    "select-xml",
    "get-uptime",
    "get-vmswitch",
    "new-vm",
    "remove-vm",
    "set-vm",
    "get-vmharddiskdrive",
    "get-vhd",
    "new-vhd",
    "get-vmprocessor",
    "set-vmprocessor",
    "get-vmmemory",
    "set-vmmemory",
    "export-vm",
    "import-vm",
    "move-vm",
    "measure-vm",
    "get-vmintegrationservice",
    "enable-vmintegrationservice",
    "connect-vmnetworkadapter",
    "add-vmnetworkadapter",
    "set-vmnetworkadapter",
    "get-vmdvddrive",
    "set-vmfirmware",
    "get-vmfirmware",
    "invoke-cimmethod",
    "invoke-wmimethod",
    "set-ciminstance",
    "new-ciminstance",
    "remove-ciminstance",
    "new-cimsession",
    "get-cimclass",
    "register-wmievent",
    "register-objectevent",
    "wait-event",
    "get-smbshare",
    "new-smbshare",
    "get-printer",
    "out-gridview",
    "out-printer",
    "get-authenticodesignature",
    "set-authenticodesignature",
    "unblock-file",
    "get-package",
    "install-package",
    "install-module",
    "find-module",
    "get-installedmodule",
    "get-dnsclientserveraddress",
    "resolve-dnsname",
    "get-nettcpconnection",
    "new-netfirewallrule",
    "get-netfirewallrule",
    "set-netfirewallrule",
    "get-childitem2",
    "new-event",
    "trace-command",
    "set-psdebug",
    "set-psbreakpoint",
    "get-filehash2",
    "get-psreadlineoption",
    "get-wmiobject2",
    "measure-command",
    "format-wide",
    "format-custom",
    "export-modulemember",
    "new-module",
    "get-module",
    "remove-module",
    "get-pscallstack",
    "start-transcript",
    "stop-transcript",
    "get-executionpolicy2",
    "get-unique",
    "get-random2",
    "update-typedata",
    "update-formatdata",
    "add-member",
    "invoke-item",
    "set-date",
    "get-computerrestorepoint",
    "get-windowsoptionalfeature",
    "enable-windowsoptionalfeature",
    "get-scvmmserver",
    "get-scvirtualmachine",
];

macro_rules! def {
    ($name:expr, $params:expr, $run:expr) => {
        Def {
            name: $name,
            params: $params,
            run: $run,
            journal: false,
            should_process: false,
        }
    };
    ($name:expr, $params:expr, $run:expr, journal) => {
        Def {
            name: $name,
            params: $params,
            run: $run,
            journal: true,
            should_process: false,
        }
    };
    ($name:expr, $params:expr, $run:expr, change) => {
        Def {
            name: $name,
            params: $params,
            run: $run,
            journal: true,
            should_process: true,
        }
    };
}

static CMDLETS: &[Def] = &[
    def!(
        "Write-Output",
        &[rest("InputObject"), sw("NoEnumerate")],
        write_output
    ),
    def!(
        "Write-Host",
        &[
            rest("Object"),
            sw("NoNewline"),
            p("Separator"),
            p("ForegroundColor"),
            p("BackgroundColor")
        ],
        write_host
    ),
    def!(
        "Write-Error",
        &[
            al("Message", &["Msg"], Some(0)),
            p("Exception"),
            p("ErrorRecord"),
            p("Category"),
            p("ErrorId"),
            p("TargetObject"),
            p("RecommendedAction"),
            p("CategoryActivity"),
            p("CategoryReason"),
            p("CategoryTargetName"),
            p("CategoryTargetType")
        ],
        write_error
    ),
    def!(
        "Write-Warning",
        &[al("Message", &["Msg"], Some(0))],
        write_warning
    ),
    def!(
        "Write-Verbose",
        &[al("Message", &["Msg"], Some(0))],
        write_verbose
    ),
    def!(
        "Write-Debug",
        &[al("Message", &["Msg"], Some(0))],
        write_debug
    ),
    def!(
        "Write-Information",
        &[
            al("MessageData", &["Msg", "Message"], Some(0)),
            al("Tags", &[], Some(1))
        ],
        write_information
    ),
    def!(
        "Write-Progress",
        &[
            pos("Activity", 0),
            pos("Status", 1),
            pos("Id", 2),
            p("PercentComplete"),
            p("SecondsRemaining"),
            p("CurrentOperation"),
            p("ParentId"),
            sw("Completed"),
            p("SourceId")
        ],
        write_progress
    ),
    def!("Out-Null", &[p("InputObject")], out_null),
    def!(
        "Out-String",
        &[p("InputObject"), sw("Stream"), p("Width")],
        out_string
    ),
    def!("Out-Host", &[p("InputObject"), sw("Paging")], out_host),
    def!(
        "Out-Default",
        &[p("InputObject"), sw("Transcript")],
        out_host
    ),
    def!(
        "Format-Table",
        &[
            al("Property", &[], Some(0)),
            sw("AutoSize"),
            sw("Wrap"),
            sw("HideTableHeaders"),
            p("GroupBy"),
            p("InputObject")
        ],
        format_table
    ),
    def!(
        "Format-List",
        &[al("Property", &[], Some(0)), p("InputObject"), p("GroupBy")],
        format_list
    ),
    def!(
        "Select-Object",
        &[
            al("Property", &[], Some(0)),
            p("ExpandProperty"),
            p("ExcludeProperty"),
            p("First"),
            p("Last"),
            p("Skip"),
            sw("Unique"),
            p("Index"),
            p("InputObject")
        ],
        select_object
    ),
    def!(
        "Where-Object",
        &[
            al("FilterScript", &[], Some(0)),
            al("Property", &[], Some(0)),
            al("Value", &[], Some(1)),
            p("InputObject"),
            sw("EQ"),
            sw("NE"),
            sw("GT"),
            sw("LT"),
            sw("GE"),
            sw("LE"),
            sw("Like"),
            sw("NotLike"),
            sw("Match"),
            sw("NotMatch"),
            sw("Contains"),
            sw("NotContains"),
            sw("In"),
            sw("NotIn"),
            sw("Is"),
            sw("IsNot"),
            sw("CEQ"),
            sw("CNE"),
            sw("CLike"),
            sw("CMatch"),
            sw("Not")
        ],
        where_object
    ),
    def!(
        "ForEach-Object",
        &[
            al("Process", &[], Some(0)),
            p("Begin"),
            p("End"),
            al("MemberName", &[], None),
            p("ArgumentList"),
            p("InputObject"),
            p("RemainingScripts")
        ],
        foreach_object
    ),
    def!(
        "Sort-Object",
        &[
            al("Property", &[], Some(0)),
            sw("Descending"),
            sw("Unique"),
            sw("CaseSensitive"),
            p("InputObject")
        ],
        sort_object
    ),
    def!(
        "Measure-Object",
        &[
            al("Property", &[], Some(0)),
            sw("Sum"),
            sw("Average"),
            sw("Maximum"),
            sw("Minimum"),
            sw("Line"),
            sw("Word"),
            sw("Character"),
            p("InputObject")
        ],
        measure_object
    ),
    def!(
        "Group-Object",
        &[
            al("Property", &[], Some(0)),
            sw("NoElement"),
            sw("AsHashTable"),
            sw("AsString"),
            p("InputObject")
        ],
        group_object
    ),
    def!(
        "ConvertTo-Json",
        &[al("InputObject", &[], Some(0)), p("Depth"), sw("Compress")],
        convertto_json
    ),
    def!(
        "ConvertFrom-Json",
        &[al("InputObject", &[], Some(0))],
        convertfrom_json
    ),
    def!(
        "Get-Date",
        &[
            al("Date", &[], Some(0)),
            p("Format"),
            p("UFormat"),
            p("Year"),
            p("Month"),
            p("Day"),
            p("Hour"),
            p("Minute"),
            p("Second")
        ],
        get_date
    ),
    def!(
        "Start-Sleep",
        &[
            al("Seconds", &["s"], Some(0)),
            al("Milliseconds", &["ms"], None)
        ],
        start_sleep
    ),
    def!(
        "Get-Variable",
        &[al("Name", &[], Some(0)), sw("ValueOnly"), p("Scope")],
        get_variable
    ),
    def!(
        "Set-Variable",
        &[
            al("Name", &[], Some(0)),
            al("Value", &[], Some(1)),
            p("Scope"),
            p("Option"),
            sw("PassThru"),
            sw("Force")
        ],
        set_variable
    ),
    def!(
        "New-Variable",
        &[
            al("Name", &[], Some(0)),
            al("Value", &[], Some(1)),
            p("Scope"),
            p("Option"),
            sw("PassThru"),
            sw("Force")
        ],
        set_variable
    ),
    def!(
        "Remove-Variable",
        &[al("Name", &[], Some(0)), p("Scope"), sw("Force")],
        remove_variable
    ),
    def!("Get-Location", &[], get_location),
    def!(
        "Set-Location",
        &[al("Path", &["LiteralPath"], Some(0)), sw("PassThru")],
        set_location
    ),
    def!(
        "Invoke-Expression",
        &[al("Command", &[], Some(0))],
        invoke_expression
    ),
    def!(
        "Invoke-Command",
        &[
            al("ScriptBlock", &[], Some(0)),
            al("ArgumentList", &["Args"], None),
            p("ComputerName"),
            p("Session"),
            p("Credential"),
            sw("NoNewScope"),
            p("InputObject")
        ],
        invoke_command
    ),
    def!(
        "New-Object",
        &[
            al("TypeName", &[], Some(0)),
            al("ArgumentList", &["Args"], Some(1)),
            p("Property"),
            p("ComObject"),
            sw("Strict")
        ],
        new_object
    ),
    def!(
        "Get-Command",
        &[
            al("Name", &[], Some(0)),
            p("Module"),
            p("CommandType"),
            sw("ListImported")
        ],
        get_command
    ),
    def!(
        "Import-Module",
        &[
            al("Name", &[], Some(0)),
            sw("Force"),
            sw("Global"),
            p("Prefix"),
            sw("PassThru"),
            sw("DisableNameChecking"),
            p("MinimumVersion"),
            p("RequiredVersion")
        ],
        import_module
    ),
    def!(
        "Set-StrictMode",
        &[p("Version"), sw("Off")],
        set_strict_mode
    ),
    def!(
        "Get-ExecutionPolicy",
        &[p("Scope"), sw("List")],
        get_execution_policy
    ),
    def!(
        "Set-ExecutionPolicy",
        &[al("ExecutionPolicy", &[], Some(0)), p("Scope"), sw("Force")],
        set_execution_policy
    ),
    def!("Get-Host", &[], get_host),
    def!(
        "Get-Random",
        &[
            al("Maximum", &[], Some(0)),
            p("Minimum"),
            p("InputObject"),
            p("Count"),
            p("SetSeed")
        ],
        get_random
    ),
    // Files on the share.
    def!(
        "Test-Path",
        &[
            al("Path", &[], Some(0)),
            p("LiteralPath"),
            p("PathType"),
            sw("IsValid")
        ],
        test_path,
        journal
    ),
    def!(
        "Get-ChildItem",
        &[
            al("Path", &[], Some(0)),
            p("LiteralPath"),
            al("Filter", &[], Some(1)),
            sw("Recurse"),
            sw("File"),
            sw("Directory"),
            sw("Force"),
            sw("Name"),
            p("Include"),
            p("Exclude"),
            p("Depth")
        ],
        get_child_item,
        journal
    ),
    def!(
        "Get-Item",
        &[al("Path", &[], Some(0)), p("LiteralPath"), sw("Force")],
        get_item,
        journal
    ),
    def!(
        "Get-Content",
        &[
            al("Path", &[], Some(0)),
            p("LiteralPath"),
            sw("Raw"),
            p("Encoding"),
            al("TotalCount", &["First", "Head"], None),
            p("Tail"),
            sw("Force")
        ],
        get_content,
        journal
    ),
    def!(
        "Set-Content",
        &[
            al("Path", &[], Some(0)),
            p("LiteralPath"),
            al("Value", &[], Some(1)),
            p("Encoding"),
            sw("NoNewline"),
            sw("Force"),
            sw("PassThru")
        ],
        set_content,
        change
    ),
    def!(
        "Add-Content",
        &[
            al("Path", &[], Some(0)),
            p("LiteralPath"),
            al("Value", &[], Some(1)),
            p("Encoding"),
            sw("NoNewline"),
            sw("Force"),
            sw("PassThru")
        ],
        add_content,
        change
    ),
    def!(
        "Out-File",
        &[
            al("FilePath", &["Path"], Some(0)),
            p("LiteralPath"),
            al("Encoding", &[], Some(1)),
            sw("Append"),
            sw("Force"),
            sw("NoNewline"),
            sw("NoClobber"),
            p("Width"),
            p("InputObject")
        ],
        out_file,
        change
    ),
    def!(
        "New-Item",
        &[
            al("Path", &[], Some(0)),
            p("Name"),
            al("ItemType", &["Type"], None),
            p("Value"),
            sw("Force")
        ],
        new_item,
        change
    ),
    def!(
        "Remove-Item",
        &[
            al("Path", &[], Some(0)),
            p("LiteralPath"),
            sw("Recurse"),
            sw("Force"),
            p("Include"),
            p("Exclude"),
            p("Filter")
        ],
        remove_item,
        change
    ),
    def!(
        "Copy-Item",
        &[
            al("Path", &[], Some(0)),
            p("LiteralPath"),
            al("Destination", &[], Some(1)),
            sw("Recurse"),
            sw("Force"),
            sw("PassThru"),
            p("ToSession"),
            p("FromSession")
        ],
        copy_item,
        change
    ),
    def!(
        "Move-Item",
        &[
            al("Path", &[], Some(0)),
            p("LiteralPath"),
            al("Destination", &[], Some(1)),
            sw("Force"),
            sw("PassThru")
        ],
        move_item,
        change
    ),
    def!(
        "Get-FileHash",
        &[
            al("Path", &[], Some(0)),
            p("LiteralPath"),
            p("Algorithm"),
            p("InputStream")
        ],
        get_file_hash,
        journal
    ),
    def!(
        "Split-Path",
        &[
            al("Path", &[], Some(0)),
            sw("Parent"),
            sw("Leaf"),
            sw("Qualifier"),
            sw("NoQualifier"),
            sw("IsAbsolute"),
            p("LiteralPath")
        ],
        split_path
    ),
    def!(
        "Join-Path",
        &[
            al("Path", &[], Some(0)),
            al("ChildPath", &[], Some(1)),
            p("AdditionalChildPath"),
            sw("Resolve")
        ],
        join_path
    ),
    def!(
        "Resolve-Path",
        &[al("Path", &[], Some(0)), p("LiteralPath"), sw("Relative")],
        resolve_path,
        journal
    ),
    def!(
        "Convert-Path",
        &[al("Path", &[], Some(0)), p("LiteralPath")],
        resolve_path
    ),
    // Windows.
    def!(
        "Get-Service",
        &[
            al("Name", &["ServiceName"], Some(0)),
            p("DisplayName"),
            p("Include"),
            p("Exclude"),
            p("InputObject"),
            sw("DependentServices"),
            sw("RequiredServices"),
            p("ComputerName")
        ],
        get_service,
        journal
    ),
    def!(
        "Start-Service",
        &[
            al("Name", &["ServiceName"], Some(0)),
            p("DisplayName"),
            p("InputObject"),
            sw("PassThru")
        ],
        start_service,
        change
    ),
    def!(
        "Stop-Service",
        &[
            al("Name", &["ServiceName"], Some(0)),
            p("DisplayName"),
            p("InputObject"),
            sw("PassThru"),
            sw("Force"),
            sw("NoWait")
        ],
        stop_service,
        change
    ),
    def!(
        "Restart-Service",
        &[
            al("Name", &["ServiceName"], Some(0)),
            p("DisplayName"),
            p("InputObject"),
            sw("PassThru"),
            sw("Force")
        ],
        restart_service,
        change
    ),
    def!(
        "Get-Process",
        &[
            al("Name", &["ProcessName"], Some(0)),
            p("Id"),
            sw("IncludeUserName"),
            p("ComputerName")
        ],
        get_process,
        journal
    ),
    def!(
        "Get-ComputerInfo",
        &[al("Property", &[], Some(0))],
        get_computer_info,
        journal
    ),
    def!(
        "Get-CimInstance",
        &[
            al("ClassName", &[], Some(0)),
            p("Namespace"),
            p("Filter"),
            p("Query"),
            p("ComputerName"),
            p("CimSession"),
            p("Property"),
            sw("Shallow"),
            p("KeyOnly"),
            p("QueryDialect"),
            p("InputObject")
        ],
        get_cim_instance,
        journal
    ),
    def!(
        "Get-WmiObject",
        &[
            al("Class", &[], Some(0)),
            p("Namespace"),
            p("Filter"),
            p("Query"),
            p("ComputerName"),
            p("Credential"),
            p("Property"),
            sw("List")
        ],
        get_wmi_object,
        journal
    ),
    // Hyper-V.
    def!(
        "Get-VM",
        &[
            al("Name", &["VMName"], Some(0)),
            p("Id"),
            p("ComputerName"),
            p("ClusterObject")
        ],
        get_vm,
        journal
    ),
    def!(
        "Start-VM",
        &[
            al("Name", &["VMName"], Some(0)),
            p("VM"),
            sw("Passthru"),
            sw("AsJob"),
            p("ComputerName")
        ],
        start_vm,
        change
    ),
    def!(
        "Stop-VM",
        &[
            al("Name", &["VMName"], Some(0)),
            p("VM"),
            sw("Force"),
            sw("TurnOff"),
            sw("Save"),
            sw("Passthru"),
            sw("AsJob"),
            p("ComputerName")
        ],
        stop_vm,
        change
    ),
    def!(
        "Restart-VM",
        &[
            al("Name", &["VMName"], Some(0)),
            p("VM"),
            sw("Force"),
            p("Type"),
            sw("Wait"),
            sw("Passthru"),
            sw("AsJob"),
            p("ComputerName")
        ],
        restart_vm,
        change
    ),
    def!(
        "Suspend-VM",
        &[
            al("Name", &["VMName"], Some(0)),
            p("VM"),
            sw("Passthru"),
            sw("AsJob"),
            p("ComputerName")
        ],
        suspend_vm,
        change
    ),
    def!(
        "Resume-VM",
        &[
            al("Name", &["VMName"], Some(0)),
            p("VM"),
            sw("Passthru"),
            sw("AsJob"),
            p("ComputerName")
        ],
        resume_vm,
        change
    ),
    def!(
        "Save-VM",
        &[
            al("Name", &["VMName"], Some(0)),
            p("VM"),
            sw("Passthru"),
            sw("AsJob"),
            p("ComputerName")
        ],
        save_vm,
        change
    ),
    def!(
        "Checkpoint-VM",
        &[
            al("Name", &["VMName"], Some(0)),
            al("SnapshotName", &["CheckpointName"], Some(1)),
            p("VM"),
            sw("Passthru"),
            sw("AsJob"),
            p("ComputerName")
        ],
        checkpoint_vm,
        change
    ),
    def!(
        "Get-VMSnapshot",
        &[
            pos("VMName", 0),
            pos("Name", 1),
            p("VM"),
            p("SnapshotType"),
            p("ComputerName")
        ],
        get_vm_snapshot,
        journal
    ),
    def!(
        "Restore-VMSnapshot",
        &[
            pos("Name", 0),
            pos("VMName", 1),
            p("VMSnapshot"),
            sw("Passthru"),
            sw("AsJob"),
            p("ComputerName")
        ],
        restore_vm_snapshot,
        change
    ),
    def!(
        "Remove-VMSnapshot",
        &[
            pos("Name", 0),
            pos("VMName", 1),
            p("VMSnapshot"),
            p("VM"),
            sw("IncludeAllChildSnapshots"),
            sw("Passthru"),
            sw("AsJob"),
            p("ComputerName")
        ],
        remove_vm_snapshot,
        change
    ),
    def!(
        "Get-VMHost",
        &[al("ComputerName", &[], Some(0))],
        get_vmhost,
        journal
    ),
    def!(
        "Get-VMNetworkAdapter",
        &[
            al("VMName", &["Name"], Some(0)),
            p("VM"),
            sw("All"),
            sw("ManagementOS"),
            p("ComputerName")
        ],
        get_vm_network_adapter,
        journal
    ),
];

/// The cmdlet by (lower-case) name.
pub(crate) fn find(name: &str) -> Option<&'static Def> {
    CMDLETS.iter().find(|d| d.name.eq_ignore_ascii_case(name))
}

/// Whether a name is a cmdlet of the Hyper-V module.
fn hyperv(name: &str) -> bool {
    name.to_ascii_lowercase().contains("-vm")
}

/// Binds and runs a cmdlet.
pub(crate) fn run(
    it: &mut Interp<'_>,
    def: &'static Def,
    raw: Vec<BoundArg>,
    input: Vec<Value>,
) -> Res<Vec<Value>> {
    if NOT_IMPLEMENTED.contains(&def.name.to_ascii_lowercase().as_str()) {
        return not_implemented_cmdlet(it, def.name);
    }
    if hyperv(def.name) {
        let m = it.rs.ctx.model.machine(it.rs.ctx.machine);
        if m.role != Role::HypervHost {
            return Err(not_recognized(def.name));
        }
    }
    let mut vals: Vec<(&'static str, Value)> = Vec::new();
    let mut positional = Vec::new();
    let mut ea: Option<ErrorAction> = None;
    let mut out_var = None;
    let mut err_var = None;
    let mut it_raw = raw.into_iter();
    while let Some(a) = it_raw.next() {
        match a {
            BoundArg::Pos(v) => positional.push(v),
            BoundArg::Named(n, v) => {
                let ln = n.to_ascii_lowercase();
                // Common parameters.
                let common = match ln.as_str() {
                    "erroraction" | "ea" => Some("ea"),
                    "warningaction" | "wa" | "informationaction" | "infa" => Some("wa"),
                    "verbose" | "vb" | "debug" | "db" | "confirm" | "cf" => Some("sw"),
                    "outvariable" | "ov" => Some("ov"),
                    "errorvariable" | "ev" => Some("ev"),
                    "whatif" | "wi" => Some("whatif"),
                    "warningvariable"
                    | "wv"
                    | "informationvariable"
                    | "iv"
                    | "outbuffer"
                    | "ob"
                    | "pipelinevariable"
                    | "pv" => Some("other"),
                    _ => None,
                };
                if let Some(c) = common {
                    let value = match (c, v) {
                        ("sw" | "whatif", v) => v.unwrap_or(Value::Bool(true)),
                        (_, Some(v)) => v,
                        (_, None) => match it_raw.next() {
                            Some(BoundArg::Pos(v)) => v,
                            _ => {
                                return Err(
                                    crate::eval::missing_argument(&n, "System.Object").into()
                                )
                            }
                        },
                    };
                    match c {
                        "ea" => {
                            ea = Some(crate::eval::parse_error_action(&value).ok_or_else(|| {
                                Flow::from(ops::conversion_error(&value, "System.Management.Automation.ActionPreference", "Unable to match the identifier name to a valid enumerator name."))
                            })?)
                        }
                        "ov" => out_var = Some(value.to_string()),
                        "ev" => err_var = Some(value.to_string()),
                        "whatif" if value.truthy() => {
                            if def.should_process {
                                let mut e = ErrorRecord::not_implemented(&format!("-WhatIf on {}", def.name));
                                e.activity = def.name.to_string();
                                return Err(Flow::Error(Box::new(e), Term::Script));
                            }
                            return Err(param_not_found(def, &n).into());
                        }
                        _ => {}
                    }
                    continue;
                }
                let exact: Vec<&P> = def
                    .params
                    .iter()
                    .filter(|p| {
                        p.name.eq_ignore_ascii_case(&n)
                            || p.aliases.iter().any(|a| a.eq_ignore_ascii_case(&n))
                    })
                    .collect();
                let cands: Vec<&P> = if exact.is_empty() {
                    let mut c: Vec<&P> = def
                        .params
                        .iter()
                        .filter(|p| p.name.to_ascii_lowercase().starts_with(&ln))
                        .collect();
                    c.dedup_by_key(|p| p.name);
                    c
                } else {
                    exact
                };
                let p = match cands.as_slice() {
                    [] => return Err(param_not_found(def, &n).into()),
                    [one] => *one,
                    many => {
                        // Parameters sharing a name across sets (Where-Object's
                        // Property/FilterScript) count once.
                        if many.iter().all(|x| x.name == many[0].name) {
                            many[0]
                        } else {
                            let names: Vec<&str> = many.iter().map(|x| x.name).collect();
                            let mut e = ErrorRecord::new(
                                "System.Management.Automation.ParameterBindingException",
                                format!("Parameter cannot be processed because the parameter name '{n}' is ambiguous. Possible matches include: -{}.", names.join(" -")),
                                &format!("AmbiguousParameter,{}", cmdlet_class(def.name)),
                                ErrorCategory::InvalidArgument,
                            );
                            e.activity = def.name.to_string();
                            return Err(e.into());
                        }
                    }
                };
                let value = match v {
                    Some(v) => v,
                    None if p.switch => Value::Bool(true),
                    None => match it_raw.next() {
                        Some(BoundArg::Pos(v)) => v,
                        _ => {
                            let mut e = crate::eval::missing_argument(p.name, "System.Object");
                            e.fully_qualified_error_id =
                                format!("MissingArgument,{}", cmdlet_class(def.name));
                            e.activity = def.name.to_string();
                            return Err(e.into());
                        }
                    },
                };
                vals.retain(|(k, _)| *k != p.name);
                vals.push((p.name, value));
            }
        }
    }
    // Positionals: parameters in position order not yet bound (a
    // parameter set's alternatives share a position; the first free one
    // takes it).
    let mut slots: Vec<&P> = def.params.iter().filter(|p| p.pos.is_some()).collect();
    slots.sort_by_key(|p| p.pos);
    let mut taken_pos: Vec<u8> = vals
        .iter()
        .filter_map(|(k, _)| def.params.iter().find(|p| p.name == *k).and_then(|p| p.pos))
        .collect();
    let mut rest_started = false;
    for v in positional {
        if let Some(r) = slots.iter().find(|p| p.rest) {
            if let Some((_, cur)) = vals.iter_mut().find(|(k, _)| *k == r.name) {
                let prev = std::mem::replace(cur, Value::Null);
                *cur = match prev {
                    Value::Array(mut a) if rest_started => {
                        a.push(v);
                        Value::Array(a)
                    }
                    other => Value::Array(vec![other, v]),
                };
                rest_started = true;
                continue;
            }
        }
        let slot = slots.iter().find(|p| {
            let at = p.pos.unwrap_or(u8::MAX);
            !taken_pos.contains(&at) && !vals.iter().any(|(k, _)| *k == p.name)
        });
        match slot {
            Some(p) if p.rest => {
                // Every positional from here on: an array once there are two.
                match vals.iter_mut().find(|(k, _)| *k == p.name) {
                    Some((_, Value::Array(a))) => a.push(v),
                    _ => vals.push((p.name, v)),
                }
            }
            Some(p) => {
                taken_pos.push(p.pos.unwrap_or(u8::MAX));
                vals.push((p.name, v));
            }
            None => {
                let mut e = ErrorRecord::new(
                    "System.Management.Automation.ParameterBindingException",
                    format!(
                        "A positional parameter cannot be found that accepts argument '{}'.",
                        v
                    ),
                    &format!("PositionalParameterNotFound,{}", cmdlet_class(def.name)),
                    ErrorCategory::InvalidArgument,
                );
                e.activity = def.name.to_string();
                e.target_name = v.to_string();
                return Err(e.into());
            }
        }
    }
    let mut args = Args {
        cmd: def.name,
        vals,
    };
    if let Some(a) = ea {
        it.ea_stack.push(a);
    }
    let saved_cmd = std::mem::replace(&mut it.cur_command, def.name.to_string());
    let errs_before = it.inv.errors.len();
    let target = args
        .vals
        .iter()
        .find(|(k, _)| {
            matches!(
                *k,
                "Name" | "Path" | "LiteralPath" | "ClassName" | "Class" | "VMName"
            )
        })
        .map(|(_, v)| v.to_string());
    let r = (def.run)(it, &mut args, input).map_err(|f| match f {
        Flow::Error(mut e, t) => {
            if e.activity.is_empty() {
                e.activity = def.name.to_string();
            }
            Flow::Error(e, t)
        }
        other => other,
    });
    if ea.is_some() {
        it.ea_stack.pop();
    }
    it.cur_command = saved_cmd;
    if def.journal {
        let outcome = match &r {
            Ok(v) if it.inv.errors.len() > errs_before => format!(
                "{} object(s), {} error(s)",
                v.len(),
                it.inv.errors.len() - errs_before
            ),
            Ok(v) => format!("ok, {} object(s)", v.len()),
            Err(Flow::Error(e, _)) => format!("error: {}", e.fully_qualified_error_id),
            Err(_) => "stopped".into(),
        };
        let op = match &target {
            Some(t) => format!(
                "pwsh cmdlet {} {}",
                def.name,
                t.chars().take(120).collect::<String>()
            ),
            None => format!("pwsh cmdlet {}", def.name),
        };
        crate::eval::record(it.rs, &op, &outcome);
    }
    if let Some(n) = err_var {
        let errs: Vec<Value> = it.inv.errors[errs_before.min(it.inv.errors.len())..]
            .iter()
            .map(dotnet::error_value)
            .collect();
        it.set_var(&n.to_ascii_lowercase(), Value::List(errs))?;
    }
    let out = r?;
    if let Some(n) = out_var {
        it.set_var(&n.to_ascii_lowercase(), Value::List(out.clone()))?;
    }
    Ok(out)
}

fn cmdlet_class(name: &str) -> String {
    let (verb, noun) = name.split_once('-').unwrap_or((name, ""));
    // Hyper-V's cmdlet classes drop the `Command` suffix.
    if hyperv(name) {
        return format!("Microsoft.HyperV.PowerShell.Commands.{verb}{noun}");
    }
    format!("Microsoft.PowerShell.Commands.{verb}{noun}Command")
}

fn param_not_found(def: &Def, n: &str) -> ErrorRecord {
    let mut e = crate::eval::param_not_found(n);
    e.fully_qualified_error_id = format!("NamedParameterNotFound,{}", cmdlet_class(def.name));
    e.activity = def.name.to_string();
    e.target_name = n.to_string();
    e.target_type = String::new();
    e
}

fn not_recognized(name: &str) -> Flow {
    ErrorRecord::new(
        "System.Management.Automation.CommandNotFoundException",
        format!("The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."),
        "CommandNotFoundException",
        ErrorCategory::ObjectNotFound,
    )
    .with_target(name, "String")
    .into()
}

pub(crate) fn not_implemented_cmdlet(it: &mut Interp<'_>, name: &str) -> Res<Vec<Value>> {
    let canonical = canonical_name(name);
    let what = if canonical.eq_ignore_ascii_case("Add-Type") {
        "Add-Type (compiling C# or loading .NET assemblies)".to_string()
    } else {
        format!("the cmdlet {canonical}")
    };
    let mut e = ErrorRecord::not_implemented(&what);
    e.fully_qualified_error_id = format!("NotImplemented,{}", cmdlet_class(&canonical));
    e.activity = canonical.clone();
    e.command = canonical.clone();
    e.target_name = canonical;
    it.locate(&mut e);
    Err(Flow::Error(Box::new(e), Term::Script))
}

/// `get-vm` → `Get-VM`.
fn canonical_name(n: &str) -> String {
    if let Some(d) = find(n) {
        return d.name.to_string();
    }
    n.split('-')
        .map(|w| {
            let lw = w.to_ascii_lowercase();
            let up = [
                "vm", "vmhost", "vhd", "ip", "cim", "wmi", "xml", "csv", "json",
            ];
            if let Some(rest) = lw.strip_prefix("vm") {
                return format!("VM{}", cap(rest));
            }
            if up.contains(&lw.as_str()) {
                return lw.to_ascii_uppercase();
            }
            cap(&lw)
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn cap(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Input objects: `-InputObject` or the pipeline.
fn inputs(a: &Args, input: Vec<Value>) -> Vec<Value> {
    match a.get("InputObject") {
        Some(v) => v.clone().into_items(),
        None => input,
    }
}

// ---- output ----

fn write_output(_: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    Ok(match a.get("InputObject") {
        Some(v) if a.switch("NoEnumerate") => vec![v.clone()],
        Some(v) => v.clone().into_items(),
        None => input,
    })
}

fn write_host(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let sep = a.str("Separator").unwrap_or_else(|| " ".into());
    let items = match a.get("Object") {
        Some(v) => v.clone().into_items(),
        None => input,
    };
    let text = items
        .iter()
        .map(|v| it.to_text(v))
        .collect::<Vec<_>>()
        .join(&sep);
    it.write_information(InformationRecord {
        message: Value::String(text),
        tags: vec!["PSHOST".into()],
        source: "Write-Host".into(),
        from_host: true,
        no_newline: a.switch("NoNewline"),
    });
    Ok(Vec::new())
}

fn write_error(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let msg = match a.get("Message").or_else(|| a.get("Exception")) {
        Some(v) => v.to_string(),
        None => input
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(" "),
    };
    let cat = a.str("Category").unwrap_or_else(|| "NotSpecified".into());
    let mut e = ErrorRecord::new(
        "Microsoft.PowerShell.Commands.WriteErrorException",
        msg,
        &a.str("ErrorId")
            .unwrap_or_else(|| "Microsoft.PowerShell.Commands.WriteErrorException".into()),
        category(&cat),
    );
    if let Some(t) = a.get("TargetObject") {
        e.target_name = t.to_string();
        e.target_type = t.type_name().rsplit('.').next().unwrap_or("").to_string();
    }
    it.write_error(e)?;
    Ok(Vec::new())
}

fn category(s: &str) -> ErrorCategory {
    use ErrorCategory::*;
    let all = [
        NotSpecified,
        OpenError,
        CloseError,
        DeviceError,
        DeadlockDetected,
        InvalidArgument,
        InvalidData,
        InvalidOperation,
        InvalidResult,
        InvalidType,
        MetadataError,
        NotImplemented,
        NotInstalled,
        ObjectNotFound,
        OperationStopped,
        OperationTimeout,
        SyntaxError,
        ParserError,
        PermissionDenied,
        ResourceBusy,
        ResourceExists,
        ResourceUnavailable,
        ReadError,
        WriteError,
        FromStdErr,
        SecurityError,
        ProtocolError,
        ConnectionError,
        AuthenticationError,
        LimitsExceeded,
        QuotaExceeded,
        NotEnabled,
    ];
    all.into_iter()
        .find(|c| c.name().eq_ignore_ascii_case(s))
        .unwrap_or(NotSpecified)
}

fn message(a: &Args, input: &[Value]) -> String {
    match a.get("Message") {
        Some(v) => v.to_string(),
        None => input
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn write_warning(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let m = message(a, &input);
    it.write_warning(m);
    Ok(Vec::new())
}

fn write_verbose(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let m = message(a, &input);
    it.write_verbose(m, false);
    Ok(Vec::new())
}

fn write_debug(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let m = message(a, &input);
    it.write_verbose(m, true);
    Ok(Vec::new())
}

fn write_information(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let m = a
        .get("MessageData")
        .cloned()
        .unwrap_or_else(|| crate::eval::collect(input));
    it.write_information(InformationRecord {
        message: m,
        tags: a.strs("Tags"),
        source: "Write-Information".into(),
        from_host: false,
        no_newline: false,
    });
    Ok(Vec::new())
}

/// Progress records are display only; the activity is accepted and not
/// sent (PSRP's PROGRESS_RECORD is not produced).
fn write_progress(_: &mut Interp<'_>, _: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    Ok(Vec::new())
}

fn out_null(_: &mut Interp<'_>, _: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    Ok(Vec::new())
}

fn out_string(_: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let items = inputs(a, input);
    let width = a.int("Width")?.unwrap_or(120).clamp(10, 4096) as usize;
    let text = format::out_string(&items, width);
    if a.switch("Stream") {
        let mut lines: Vec<Value> = text.split("\r\n").map(Value::str).collect();
        if text.ends_with("\r\n") {
            lines.pop();
        }
        return Ok(lines);
    }
    Ok(vec![Value::String(text)])
}

fn out_host(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let items = inputs(a, input);
    let text = format::out_string(&items, 120);
    let text = text.strip_suffix("\r\n").unwrap_or(&text).to_string();
    it.write_information(InformationRecord {
        message: Value::String(text),
        tags: vec!["PSHOST".into()],
        source: "Out-Host".into(),
        from_host: true,
        no_newline: false,
    });
    Ok(Vec::new())
}

fn property_names(it: &mut Interp<'_>, a: &Args) -> Res<Option<Vec<format::Column>>> {
    let Some(v) = a.get("Property") else {
        return Ok(None);
    };
    let mut cols = Vec::new();
    for p in v.clone().into_items() {
        match p {
            Value::Hashtable(h) => {
                let get = |k: &[&str]| {
                    h.iter()
                        .find(|(x, _)| k.iter().any(|k| x.to_string().eq_ignore_ascii_case(k)))
                        .map(|(_, v)| v.clone())
                };
                let label = get(&["Name", "N", "Label", "L"]).map(|v| v.to_string());
                let expr = get(&["Expression", "E"]);
                match expr {
                    Some(Value::ScriptBlock(t)) => {
                        let sb = it.parse_block(&t)?;
                        cols.push(format::Column::Script(
                            label.unwrap_or_else(|| t.trim().to_string()),
                            sb,
                        ));
                    }
                    Some(other) => cols.push(format::Column::Prop(
                        label.unwrap_or_else(|| other.to_string()),
                        other.to_string(),
                    )),
                    None => {
                        return Err(ops::runtime(
                            "The hash table is missing the 'Expression' key.",
                            "DictionaryKeyMissing",
                        )
                        .into())
                    }
                }
            }
            Value::ScriptBlock(t) => {
                let sb = it.parse_block(&t)?;
                cols.push(format::Column::Script(t.trim().to_string(), sb));
            }
            other => {
                let n = other.to_string();
                cols.push(format::Column::Prop(n.clone(), n));
            }
        }
    }
    Ok(Some(cols))
}

fn format_table(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let items = inputs(a, input);
    let cols = property_names(it, a)?;
    let text = format::table(it, &items, cols.as_deref(), a.switch("HideTableHeaders"))?;
    Ok(vec![format::formatted(text)])
}

fn format_list(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let items = inputs(a, input);
    let cols = property_names(it, a)?;
    let text = format::list(it, &items, cols.as_deref())?;
    Ok(vec![format::formatted(text)])
}

/// A property of any value, as `Select-Object`/`Sort-Object` read it.
pub(crate) fn prop(it: &mut Interp<'_>, v: &Value, name: &str) -> Res<Value> {
    dotnet::member(it, v, name)
}

fn select_object(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let mut items = inputs(a, input);
    if a.switch("Unique") {
        let mut seen: Vec<Value> = Vec::new();
        items.retain(|x| {
            if seen.iter().any(|s| ops::compare_eq(s, x, true)) {
                false
            } else {
                seen.push(x.clone());
                true
            }
        });
    }
    if let Some(s) = a.int("Skip")? {
        items = items.into_iter().skip(s.max(0) as usize).collect();
    }
    if let Some(idx) = a.get("Index") {
        let idx: Vec<i64> = idx
            .clone()
            .into_items()
            .iter()
            .filter_map(|v| ops::to_num(v).ok())
            .map(|n| match n {
                ops::Num::I(i) => i,
                ops::Num::D(d) => d as i64,
            })
            .collect();
        items = idx
            .iter()
            .filter_map(|i| items.get(*i as usize).cloned())
            .collect();
    }
    if let Some(f) = a.int("First")? {
        items.truncate(f.max(0) as usize);
    }
    if let Some(l) = a.int("Last")? {
        let n = items.len().saturating_sub(l.max(0) as usize);
        items = items.split_off(n);
    }
    if let Some(x) = a.str("ExpandProperty") {
        let mut out = Vec::new();
        for v in &items {
            let m = prop(it, v, &x)?;
            let exists = match v {
                Value::Object(o) => o.get(&x).is_some(),
                Value::Hashtable(h) => h
                    .iter()
                    .any(|(k, _)| k.to_string().eq_ignore_ascii_case(&x)),
                _ => !matches!(m, Value::Null),
            };
            if !exists {
                let mut e = ErrorRecord::new(
                    "System.ArgumentException",
                    format!("Property \"{x}\" cannot be found."),
                    "ExpandPropertyNotFound,Microsoft.PowerShell.Commands.SelectObjectCommand",
                    ErrorCategory::InvalidArgument,
                );
                e.activity = "Select-Object".into();
                e.target_name = format::summary(v);
                e.target_type = "PSObject".into();
                it.write_error(e)?;
                continue;
            }
            match m {
                Value::Array(_) | Value::List(_) => out.extend(m.into_items()),
                other => out.push(other),
            }
        }
        return Ok(out);
    }
    let Some(cols) = property_names(it, a)? else {
        return Ok(items);
    };
    let exclude = a.strs("ExcludeProperty");
    let mut out = Vec::new();
    for v in items {
        let mut props = Vec::new();
        for c in &cols {
            match c {
                format::Column::Prop(label, p) if p.contains('*') => {
                    for (k, val) in format::all_properties(&v) {
                        if ops::wildcard(p, &k, false)
                            && !exclude.iter().any(|e| ops::wildcard(e, &k, false))
                        {
                            props.push((k, val));
                        }
                    }
                    let _ = label;
                }
                format::Column::Prop(label, p) => props.push((label.clone(), prop(it, &v, p)?)),
                format::Column::Script(label, sb) => {
                    let r = it.invoke_block(
                        sb,
                        true,
                        Vec::new(),
                        Vec::new(),
                        Vec::new(),
                        Some(v.clone()),
                    )?;
                    props.push((label.clone(), crate::eval::collect(r)));
                }
            }
        }
        let mut o = PsObject::custom(props);
        if let Value::Object(src) = &v {
            o.type_names
                .insert(0, format!("Selected.{}", src.type_name()));
        }
        out.push(Value::Object(o));
    }
    Ok(out)
}

fn where_object(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let items = inputs(a, input);
    let ops_list: &[(&str, crate::ast::CmpOp, bool)] = {
        use crate::ast::CmpOp::*;
        &[
            ("EQ", Eq, false),
            ("NE", Ne, false),
            ("GT", Gt, false),
            ("LT", Lt, false),
            ("GE", Ge, false),
            ("LE", Le, false),
            ("Like", Like, false),
            ("NotLike", NotLike, false),
            ("Match", Match, false),
            ("NotMatch", NotMatch, false),
            ("Contains", Contains, false),
            ("NotContains", NotContains, false),
            ("In", In, false),
            ("NotIn", NotIn, false),
            ("CEQ", Eq, true),
            ("CNE", Ne, true),
            ("CLike", Like, true),
            ("CMatch", Match, true),
        ]
    };
    let op = ops_list.iter().find(|(n, _, _)| a.switch(n));
    let mut out = Vec::new();
    match (
        op,
        a.get("FilterScript").or_else(|| a.get("Property")).cloned(),
    ) {
        (None, Some(Value::ScriptBlock(t))) => {
            let sb = it.parse_block(&t)?;
            for v in items {
                it.tick()?;
                let r = it.invoke_block(
                    &sb,
                    true,
                    Vec::new(),
                    Vec::new(),
                    Vec::new(),
                    Some(v.clone()),
                )?;
                if Value::Array(r).truthy() {
                    out.push(v);
                }
            }
        }
        (Some((_, cop, cs)), Some(p)) => {
            let name = p.to_string();
            let val = a.get("Value").cloned().unwrap_or(Value::Bool(true));
            for v in items {
                it.tick()?;
                let pv = prop(it, &v, &name)?;
                if ops::cmp_scalar(*cop, &pv, &val, *cs)? {
                    out.push(v);
                }
            }
        }
        (None, Some(p)) => {
            // `Where-Object Name`: truthiness of the property.
            let name = p.to_string();
            for v in items {
                if a.switch("Not") != prop(it, &v, &name)?.truthy() {
                    out.push(v);
                }
            }
        }
        (_, None) => {
            if a.switch("Is") || a.switch("IsNot") {
                return not_implemented_cmdlet(it, "Where-Object -Is");
            }
            return Err(crate::eval::missing_argument(
                "FilterScript",
                "System.Management.Automation.ScriptBlock",
            )
            .into());
        }
    }
    Ok(out)
}

fn foreach_object(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let items = inputs(a, input);
    let mut out = Vec::new();
    if let Some(Value::ScriptBlock(b)) = a.get("Begin").cloned() {
        let sb = it.parse_block(&b)?;
        out.extend(it.invoke_block(&sb, true, Vec::new(), Vec::new(), Vec::new(), None)?);
    }
    match a.get("Process").or_else(|| a.get("MemberName")).cloned() {
        Some(Value::ScriptBlock(t)) => {
            let sb = it.parse_block(&t)?;
            for v in items {
                it.tick()?;
                match it.invoke_block(&sb, true, Vec::new(), Vec::new(), Vec::new(), Some(v)) {
                    Ok(r) => out.extend(r),
                    // `continue`/`break` in ForEach-Object leave the pipeline.
                    Err(Flow::Break(None)) | Err(Flow::Continue(None)) => break,
                    Err(f) => return Err(f),
                }
            }
        }
        Some(Value::Array(blocks)) => {
            let _ = blocks;
            return not_implemented_cmdlet(it, "ForEach-Object with several script blocks");
        }
        Some(member) => {
            let name = member.to_string();
            let args: Vec<Value> = a
                .get("ArgumentList")
                .map(|v| v.clone().into_items())
                .unwrap_or_default();
            for v in items {
                it.tick()?;
                let has_prop = matches!(&v, Value::Object(o) if o.get(&name).is_some());
                if has_prop || (args.is_empty() && !matches!(v, Value::String(_))) {
                    let m = prop(it, &v, &name)?;
                    out.extend(m.into_items());
                } else {
                    let (r, _, _) = dotnet::call_method(it, v, &name, args.clone())?;
                    out.extend(r.into_items());
                }
            }
        }
        None => {
            return Err(crate::eval::missing_argument(
                "Process",
                "System.Management.Automation.ScriptBlock[]",
            )
            .into())
        }
    }
    if let Some(Value::ScriptBlock(b)) = a.get("End").cloned() {
        let sb = it.parse_block(&b)?;
        out.extend(it.invoke_block(&sb, true, Vec::new(), Vec::new(), Vec::new(), None)?);
    }
    Ok(out)
}

fn sort_object(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let items = inputs(a, input);
    let cols = property_names(it, a)?;
    let cs = a.switch("CaseSensitive");
    let mut keyed: Vec<(Vec<Value>, Value)> = Vec::with_capacity(items.len());
    for v in items {
        let key = match &cols {
            None => vec![v.clone()],
            Some(cols) => {
                let mut k = Vec::new();
                for c in cols {
                    k.push(match c {
                        format::Column::Prop(_, p) => prop(it, &v, p)?,
                        format::Column::Script(_, sb) => {
                            let r = it.invoke_block(
                                sb,
                                true,
                                Vec::new(),
                                Vec::new(),
                                Vec::new(),
                                Some(v.clone()),
                            )?;
                            crate::eval::collect(r)
                        }
                    });
                }
                k
            }
        };
        keyed.push((key, v));
    }
    keyed.sort_by(|x, y| {
        for (a, b) in x.0.iter().zip(y.0.iter()) {
            let o = ops::compare(a, b, cs)
                .ok()
                .flatten()
                .unwrap_or(std::cmp::Ordering::Equal);
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
    if a.switch("Descending") {
        keyed.reverse();
    }
    let mut out: Vec<Value> = keyed.into_iter().map(|(_, v)| v).collect();
    if a.switch("Unique") {
        let mut seen: Vec<Value> = Vec::new();
        out.retain(|x| {
            if seen.iter().any(|s| ops::compare_eq(s, x, cs)) {
                false
            } else {
                seen.push(x.clone());
                true
            }
        });
    }
    Ok(out)
}

fn measure_object(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let items = inputs(a, input);
    if a.switch("Line") || a.switch("Word") || a.switch("Character") {
        let text: Vec<String> = items.iter().map(|v| v.to_string()).collect();
        let mut props = Vec::new();
        if a.switch("Line") {
            props.push((
                "Lines".to_string(),
                Value::Int32(text.iter().map(|t| t.lines().count().max(1)).sum::<usize>() as i32),
            ));
        }
        if a.switch("Word") {
            props.push((
                "Words".to_string(),
                Value::Int32(
                    text.iter()
                        .map(|t| t.split_whitespace().count())
                        .sum::<usize>() as i32,
                ),
            ));
        }
        if a.switch("Character") {
            props.push((
                "Characters".to_string(),
                Value::Int32(text.iter().map(|t| t.chars().count()).sum::<usize>() as i32),
            ));
        }
        props.push(("Property".to_string(), Value::Null));
        return Ok(vec![Value::Object(PsObject {
            type_names: vec![
                "Microsoft.PowerShell.Commands.TextMeasureInfo".into(),
                "Microsoft.PowerShell.Commands.MeasureInfo".into(),
                "System.Object".into(),
            ],
            properties: props,
            to_string: "Microsoft.PowerShell.Commands.TextMeasureInfo".into(),
        })]);
    }
    let propname = a.str("Property");
    let mut vals = Vec::new();
    for v in &items {
        let x = match &propname {
            Some(p) => prop(it, v, p)?,
            None => v.clone(),
        };
        vals.push(x);
    }
    let want = |n: &str| a.switch(n);
    let nums: Vec<f64> = if want("Sum") || want("Average") || want("Maximum") || want("Minimum") {
        let mut out = Vec::new();
        for v in &vals {
            if matches!(v, Value::Null) {
                continue;
            }
            out.push(
                ops::to_num(v)
                    .map_err(|_| {
                        Flow::from(ErrorRecord::new(
                    "System.Management.Automation.PSInvalidOperationException",
                    format!("Input object \"{v}\" is not numeric."),
                    "NonNumericInputObject,Microsoft.PowerShell.Commands.MeasureObjectCommand",
                    ErrorCategory::InvalidType,
                ))
                    })?
                    .f(),
            );
        }
        out
    } else {
        Vec::new()
    };
    let count = if propname.is_some() {
        vals.iter().filter(|v| !matches!(v, Value::Null)).count()
    } else {
        vals.len()
    };
    let opt = |on: bool, v: f64| if on { Value::Double(v) } else { Value::Null };
    let sum: f64 = nums.iter().sum();
    let props = vec![
        ("Count".to_string(), Value::Int32(count as i32)),
        (
            "Average".to_string(),
            opt(
                want("Average"),
                if nums.is_empty() {
                    0.0
                } else {
                    sum / nums.len() as f64
                },
            ),
        ),
        ("Sum".to_string(), opt(want("Sum"), sum)),
        (
            "Maximum".to_string(),
            opt(
                want("Maximum"),
                nums.iter().cloned().fold(f64::MIN, f64::max),
            ),
        ),
        (
            "Minimum".to_string(),
            opt(
                want("Minimum"),
                nums.iter().cloned().fold(f64::MAX, f64::min),
            ),
        ),
        (
            "Property".to_string(),
            propname.map_or(Value::Null, Value::String),
        ),
    ];
    Ok(vec![Value::Object(PsObject {
        type_names: vec![
            "Microsoft.PowerShell.Commands.GenericMeasureInfo".into(),
            "Microsoft.PowerShell.Commands.MeasureInfo".into(),
            "System.Object".into(),
        ],
        properties: props,
        to_string: "Microsoft.PowerShell.Commands.GenericMeasureInfo".into(),
    })])
}

fn group_object(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let items = inputs(a, input);
    let p = a.str("Property");
    let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
    for v in items {
        let k = match &p {
            Some(p) => prop(it, &v, p)?.to_string(),
            None => v.to_string(),
        };
        match groups.iter_mut().find(|(g, _)| g.eq_ignore_ascii_case(&k)) {
            Some((_, l)) => l.push(v),
            None => groups.push((k, vec![v])),
        }
    }
    if a.switch("AsHashTable") {
        return Ok(vec![Value::Hashtable(
            groups
                .into_iter()
                .map(|(k, l)| {
                    (
                        Value::String(k),
                        if l.len() == 1 {
                            l.into_iter().next().unwrap_or(Value::Null)
                        } else {
                            Value::Array(l)
                        },
                    )
                })
                .collect(),
        )]);
    }
    Ok(groups
        .into_iter()
        .map(|(k, l)| {
            let mut props = vec![
                ("Count".to_string(), Value::Int32(l.len() as i32)),
                ("Name".to_string(), Value::String(k.clone())),
            ];
            if !a.switch("NoElement") {
                props.push(("Group".to_string(), Value::Array(l)));
            }
            Value::Object(PsObject {
                type_names: vec![
                    "Microsoft.PowerShell.Commands.GroupInfo".into(),
                    "System.Object".into(),
                ],
                properties: props,
                to_string: "Microsoft.PowerShell.Commands.GroupInfo".into(),
            })
        })
        .collect())
}

fn convertto_json(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let depth = a.int("Depth")?.unwrap_or(2).clamp(0, 100) as usize;
    let v = match a.get("InputObject") {
        Some(v) => v.clone(),
        None if input.len() == 1 => input.into_iter().next().unwrap_or(Value::Null),
        None => Value::Array(input),
    };
    let j = format::to_json(it, &v, depth);
    let s = if a.switch("Compress") {
        serde_json::to_string(&j).unwrap_or_default()
    } else {
        format::json_pretty(&j)
    };
    Ok(vec![Value::String(s)])
}

fn convertfrom_json(_: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let text = match a.get("InputObject") {
        Some(v) => v
            .clone()
            .into_items()
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
        None => input
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let j: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Flow::from(ErrorRecord::new(
            "System.ArgumentException",
            format!("Invalid JSON primitive: {e}."),
            "System.ArgumentException,Microsoft.PowerShell.Commands.ConvertFromJsonCommand",
            ErrorCategory::NotSpecified,
        ))
    })?;
    let v = format::from_json(&j, 0);
    Ok(match v {
        Value::Array(a) => a,
        other => vec![other],
    })
}

fn get_date(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    let mut d = match a.get("Date") {
        Some(v) => match dotnet::cast(it, "datetime", v.clone()) {
            Ok(Value::DateTime(d)) => d,
            _ => {
                return Err(ops::conversion_error(
                    v,
                    "System.DateTime",
                    "String was not recognized as a valid DateTime.",
                )
                .into())
            }
        },
        None => dotnet::now(it, false),
    };
    if a.has("Year")
        || a.has("Month")
        || a.has("Day")
        || a.has("Hour")
        || a.has("Minute")
        || a.has("Second")
    {
        let (y, mo, da, h, mi, s, _) = d.fields();
        let y = a.int("Year")?.unwrap_or(y);
        let mo = a.int("Month")?.unwrap_or(i64::from(mo)).clamp(1, 12) as u8;
        let da = a.int("Day")?.unwrap_or(i64::from(da)).clamp(1, 31) as u8;
        let h = a.int("Hour")?.unwrap_or(i64::from(h));
        let mi = a.int("Minute")?.unwrap_or(i64::from(mi));
        let s = a.int("Second")?.unwrap_or(i64::from(s));
        let days = crate::value::days_from_civil(y, mo, da);
        d = DateTime {
            ticks: crate::value::UNIX_EPOCH_TICKS
                + (days * 86_400 + h * 3600 + mi * 60 + s) * crate::value::TICKS_PER_SECOND,
            utc: d.utc,
        };
    }
    if let Some(f) = a.str("Format") {
        return Ok(vec![Value::String(dotnet::format_datetime(&d, &f))]);
    }
    if a.has("UFormat") {
        return not_implemented_cmdlet(it, "Get-Date -UFormat");
    }
    Ok(vec![Value::DateTime(d)])
}

/// Sleeps real time (bounded), checking for a stop request.
fn start_sleep(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    let ms = match (a.get("Seconds"), a.int("Milliseconds")?) {
        (Some(s), _) => (ops::to_num(s)?.f() * 1000.0) as i64,
        (None, Some(ms)) => ms,
        (None, None) => return Err(crate::eval::missing_argument("Seconds", "System.Int32").into()),
    };
    let cap = it.rs.ctx.limits.max_wait.as_millis() as i64;
    let mut left = ms.clamp(0, cap) as u64;
    while left > 0 {
        let step = left.min(50);
        std::thread::sleep(std::time::Duration::from_millis(step));
        left -= step;
        it.tick()?;
        if it.rs.stopping() {
            return Err(Flow::Halt(Box::new(crate::PipelineState::Stopped)));
        }
    }
    Ok(Vec::new())
}

fn get_variable(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    let mut out = Vec::new();
    for n in a.strs("Name") {
        match it.get_var(&n.to_ascii_lowercase()) {
            Some(v) if a.switch("ValueOnly") => out.push(v),
            Some(v) => out.push(Value::Object(PsObject {
                type_names: vec![
                    "System.Management.Automation.PSVariable".into(),
                    "System.Object".into(),
                ],
                properties: vec![
                    ("Name".into(), Value::String(n.clone())),
                    ("Value".into(), v),
                ],
                to_string: n,
            })),
            None => {
                let mut e = ErrorRecord::new(
                    "System.Management.Automation.ItemNotFoundException",
                    format!("Cannot find a variable with the name '{n}'."),
                    "VariableNotFound,Microsoft.PowerShell.Commands.GetVariableCommand",
                    ErrorCategory::ObjectNotFound,
                );
                e.target_name = n;
                e.target_type = "String".into();
                it.write_error(e)?;
            }
        }
    }
    Ok(out)
}

fn set_variable(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let v = a
        .get("Value")
        .cloned()
        .unwrap_or_else(|| crate::eval::collect(input));
    let scope = a.str("Scope").map(|s| s.to_ascii_lowercase());
    for n in a.strs("Name") {
        let name = match scope.as_deref() {
            Some("global") => format!("global:{}", n.to_ascii_lowercase()),
            Some("script") => format!("script:{}", n.to_ascii_lowercase()),
            _ => n.to_ascii_lowercase(),
        };
        it.set_var(&name, v.clone())?;
    }
    Ok(Vec::new())
}

fn remove_variable(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    for n in a.strs("Name") {
        let ln = n.to_ascii_lowercase();
        let mut found = false;
        for s in it.scopes.iter_mut().rev() {
            if s.remove(&ln).is_some() {
                found = true;
                break;
            }
        }
        if !found && it.rs.globals.remove(&ln).is_none() {
            let mut e = ErrorRecord::new(
                "System.Management.Automation.ItemNotFoundException",
                format!("Cannot find a variable with the name '{n}'."),
                "VariableNotFound,Microsoft.PowerShell.Commands.RemoveVariableCommand",
                ErrorCategory::ObjectNotFound,
            );
            e.target_name = n;
            it.write_error(e)?;
        }
    }
    Ok(Vec::new())
}

fn path_object(p: &str) -> Value {
    Value::Object(PsObject {
        type_names: vec![
            "System.Management.Automation.PathInfo".into(),
            "System.Object".into(),
        ],
        properties: vec![
            ("Drive".into(), Value::str("C")),
            (
                "Provider".into(),
                Value::str("Microsoft.PowerShell.Core\\FileSystem"),
            ),
            ("ProviderPath".into(), Value::str(p)),
            ("Path".into(), Value::str(p)),
        ],
        to_string: p.to_string(),
    })
}

fn get_location(it: &mut Interp<'_>, _: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    Ok(vec![path_object(&it.rs.location.clone())])
}

fn set_location(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    let p = a
        .str("Path")
        .unwrap_or_else(|| format!("C:\\Users\\{}", it.rs.ctx.user));
    let sp = fs::resolve(&it.rs.location, &p)?;
    let dir = fs::share(&it.rs.ctx.share, &sp.windows())?;
    let sp = fs::canonical(dir, &sp);
    if !dir.metadata(sp.rel()).is_ok_and(|m| m.is_dir()) {
        return Err(fs::not_found(&sp.windows()).into());
    }
    it.rs.location = sp.windows();
    Ok(if a.switch("PassThru") {
        vec![path_object(&sp.windows())]
    } else {
        Vec::new()
    })
}

fn invoke_expression(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    let text = a.str("Command").unwrap_or_default();
    let sb = it.parse_block(&text)?;
    it.invoke_block(&sb, true, Vec::new(), Vec::new(), Vec::new(), None)
}

fn invoke_command(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    if let Some(c) = a.get("ComputerName") {
        let me = it
            .rs
            .ctx
            .model
            .machine(it.rs.ctx.machine)
            .name
            .to_ascii_lowercase();
        let local = c.clone().into_items().iter().all(|x| {
            let s = x.to_string().to_ascii_lowercase();
            s == "localhost"
                || s == "."
                || s == "127.0.0.1"
                || s == me
                || s.split('.').next() == Some(me.as_str())
        });
        if !local {
            return not_implemented_cmdlet(
                it,
                "Invoke-Command -ComputerName (remoting to another host)",
            );
        }
    }
    if a.has("Session") {
        return not_implemented_cmdlet(it, "Invoke-Command -Session");
    }
    let Some(Value::ScriptBlock(t)) = a.get("ScriptBlock").cloned() else {
        return Err(crate::eval::missing_argument(
            "ScriptBlock",
            "System.Management.Automation.ScriptBlock",
        )
        .into());
    };
    let sb = it.parse_block(&t)?;
    let args = a
        .get("ArgumentList")
        .map(|v| v.clone().into_items())
        .unwrap_or_default()
        .into_iter()
        .map(BoundArg::Pos)
        .collect();
    let input = inputs(a, input);
    it.invoke_block(&sb, a.switch("NoNewScope"), args, Vec::new(), input, None)
}

fn new_object(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    if a.has("ComObject") {
        return not_implemented_cmdlet(it, "New-Object -ComObject");
    }
    let t = a.str("TypeName").unwrap_or_default();
    let args = a
        .get("ArgumentList")
        .map(|v| match v {
            Value::Array(x) => x.clone(),
            other => vec![other.clone()],
        })
        .unwrap_or_default();
    let mut v = dotnet::new_object(it, &t, args)?;
    if let Some(Value::Hashtable(props)) = a.get("Property") {
        if let Value::Object(o) = &mut v {
            for (k, x) in props {
                o.set(&k.to_string(), x.clone());
            }
        }
    }
    Ok(vec![v])
}

fn get_command(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    let names = a.strs("Name");
    let mut out = Vec::new();
    let role = it.rs.ctx.model.machine(it.rs.ctx.machine).role;
    for n in &names {
        let mut any = false;
        for d in CMDLETS.iter().filter(|d| ops::wildcard(n, d.name, false)) {
            if hyperv(d.name) && role != Role::HypervHost {
                continue;
            }
            any = true;
            out.push(Value::Object(PsObject {
                type_names: vec![
                    "System.Management.Automation.CmdletInfo".into(),
                    "System.Management.Automation.CommandInfo".into(),
                    "System.Object".into(),
                ],
                properties: vec![
                    ("CommandType".into(), Value::str("Cmdlet")),
                    ("Name".into(), Value::str(d.name)),
                    (
                        "Version".into(),
                        Value::Version(Version {
                            major: 3,
                            minor: 1,
                            build: 0,
                            revision: 0,
                        }),
                    ),
                    (
                        "Source".into(),
                        Value::str(if hyperv(d.name) {
                            "Hyper-V"
                        } else {
                            "Microsoft.PowerShell.Management"
                        }),
                    ),
                ],
                to_string: d.name.to_string(),
            }));
        }
        for (k, f) in it.rs.functions.iter() {
            if ops::wildcard(n, k, false) {
                any = true;
                out.push(Value::Object(PsObject {
                    type_names: vec![
                        "System.Management.Automation.FunctionInfo".into(),
                        "System.Management.Automation.CommandInfo".into(),
                        "System.Object".into(),
                    ],
                    properties: vec![
                        ("CommandType".into(), Value::str("Function")),
                        ("Name".into(), Value::String(f.name.clone())),
                        ("Version".into(), Value::str("")),
                        ("Source".into(), Value::str("")),
                    ],
                    to_string: f.name.clone(),
                }));
            }
        }
        if !any && !n.contains('*') {
            let mut e = ErrorRecord::new(
                "System.Management.Automation.CommandNotFoundException",
                format!("The term '{n}' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."),
                "CommandNotFoundException,Microsoft.PowerShell.Commands.GetCommandCommand",
                ErrorCategory::ObjectNotFound,
            );
            e.target_name = n.clone();
            e.target_type = "String".into();
            it.write_error(e)?;
        }
    }
    if names.is_empty() {
        return not_implemented_cmdlet(it, "Get-Command without -Name");
    }
    Ok(out)
}

fn import_module(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    let role = it.rs.ctx.model.machine(it.rs.ctx.machine).role;
    for n in a.strs("Name") {
        let l = n.to_ascii_lowercase();
        let ok = l.starts_with("microsoft.powershell.")
            || l == "cimcmdlets"
            || (l == "hyper-v" && role == Role::HypervHost);
        if !ok {
            let mut e = ErrorRecord::new(
                "System.IO.FileNotFoundException",
                format!("The specified module '{n}' was not loaded because no valid module file was found in any module directory."),
                "Modules_ModuleNotFound,Microsoft.PowerShell.Commands.ImportModuleCommand",
                ErrorCategory::ResourceUnavailable,
            );
            e.target_name = n;
            e.target_type = "String".into();
            it.write_error(e)?;
        }
    }
    Ok(Vec::new())
}

/// Strict mode only adds errors for scripts that read unset variables; it
/// is accepted and not enforced.
fn set_strict_mode(_: &mut Interp<'_>, _: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    Ok(Vec::new())
}

fn get_execution_policy(_: &mut Interp<'_>, _: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    Ok(vec![Value::str("RemoteSigned")])
}

fn set_execution_policy(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    if a.str("Scope")
        .is_some_and(|s| s.eq_ignore_ascii_case("process"))
    {
        return Ok(Vec::new());
    }
    not_implemented_cmdlet(it, "Set-ExecutionPolicy outside -Scope Process")
}

fn get_host(it: &mut Interp<'_>, _: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    Ok(vec![it.get_var("host").unwrap_or(Value::Null)])
}

fn get_random(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let g = dotnet::new_guid(it);
    let r = u64::from_str_radix(&g.replace('-', "")[..15], 16).unwrap_or(0);
    let pool = match a.get("InputObject") {
        Some(v) => v.clone().into_items(),
        None => input,
    };
    if !pool.is_empty() {
        return Ok(vec![pool[(r % pool.len() as u64) as usize].clone()]);
    }
    let min = a.int("Minimum")?.unwrap_or(0);
    let max = a.int("Maximum")?.unwrap_or(i32::MAX as i64);
    if max <= min {
        return Err(ops::runtime(format!("The Minimum value ({min}) cannot be greater than or equal to the Maximum value ({max})."), "MinGreaterThanOrEqualMax,Microsoft.PowerShell.Commands.GetRandomCommand").into());
    }
    let span = (max - min) as u64;
    Ok(vec![ops::num_value(
        ops::Num::I(min + (r % span) as i64),
        false,
    )])
}

// ---- files ----

fn path_arg(a: &Args) -> Vec<String> {
    let mut v = a.strs("LiteralPath");
    if v.is_empty() {
        v = a.strs("Path");
    }
    v
}

fn resolve_existing(it: &mut Interp<'_>, p: &str) -> Res<(fs::SharePath, bool)> {
    let sp = fs::resolve(&it.rs.location, p)?;
    let dir = fs::share(&it.rs.ctx.share, &sp.windows())?;
    let sp = fs::canonical(dir, &sp);
    match dir.metadata(sp.rel()) {
        Ok(m) => Ok((sp, m.is_dir())),
        Err(_) => Err(fs::not_found(&sp.windows()).into()),
    }
}

/// Paths with wildcards in the last component, expanded in their directory.
fn expand(it: &mut Interp<'_>, p: &str, literal: bool) -> Res<Vec<(fs::SharePath, bool)>> {
    if literal || !p.contains(['*', '?']) {
        return Ok(vec![resolve_existing(it, p)?]);
    }
    let (parent, pat) = match p.rfind(['\\', '/']) {
        Some(i) => (&p[..i.max(1)], &p[i + 1..]),
        None => (".", p),
    };
    if parent.contains(['*', '?']) {
        return Err(
            ErrorRecord::not_implemented("wildcards before the last path component").into(),
        );
    }
    let (dp, _) = resolve_existing(it, if parent.is_empty() { "\\" } else { parent })?;
    let mut out = Vec::new();
    for (name, is_dir) in list_dir(it, &dp)? {
        if ops::wildcard(pat, &name, false) {
            out.push((dp.join(&name), is_dir));
        }
    }
    Ok(out)
}

fn list_dir(it: &mut Interp<'_>, dp: &fs::SharePath) -> Res<Vec<(String, bool)>> {
    let dir = fs::share(&it.rs.ctx.share, &dp.windows())?;
    let rd = dir
        .read_dir(dp.rel())
        .map_err(|e| Flow::from(fs::io_error(&e, &dp.windows(), false)))?;
    let mut out: Vec<(String, bool)> = rd
        .filter_map(Result::ok)
        .map(|e| {
            (
                e.file_name().to_string_lossy().to_string(),
                e.file_type().map(|t| t.is_dir()).unwrap_or(false),
            )
        })
        .filter(|(n, _)| !n.starts_with(".bits-sessions") && !n.starts_with(".fakedc"))
        .collect();
    out.sort_by_key(|(n, d)| (!d, n.to_ascii_lowercase()));
    if out.len() > it.max_items() {
        return Err(ops::too_big().into());
    }
    Ok(out)
}

fn test_path(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    let kind = a
        .str("PathType")
        .unwrap_or_else(|| "Any".into())
        .to_ascii_lowercase();
    let mut out = Vec::new();
    for p in path_arg(a) {
        if a.switch("IsValid") {
            out.push(Value::Bool(fs::resolve(&it.rs.location, &p).is_ok()));
            continue;
        }
        if p.to_ascii_lowercase().starts_with("env:") {
            let name = &p[4..];
            out.push(Value::Bool(
                it.env_get(name.trim_start_matches('\\')).is_some(),
            ));
            continue;
        }
        let ok = match fs::resolve(&it.rs.location, &p) {
            Ok(sp) => match it.rs.ctx.share.as_deref() {
                Some(dir) => {
                    let sp = fs::canonical(dir, &sp);
                    match dir.metadata(sp.rel()) {
                        Ok(m) => match kind.as_str() {
                            "container" => m.is_dir(),
                            "leaf" => !m.is_dir(),
                            _ => true,
                        },
                        Err(_) => false,
                    }
                }
                None => false,
            },
            Err(_) => false,
        };
        out.push(Value::Bool(ok));
    }
    Ok(out)
}

fn get_child_item(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    let mut paths = path_arg(a);
    if paths.is_empty() {
        paths.push(it.rs.location.clone());
    }
    let filter = a.str("Filter");
    let mut out = Vec::new();
    for p in paths {
        let literal = a.has("LiteralPath");
        let targets = match expand(it, &p, literal) {
            Ok(t) => t,
            Err(Flow::Error(e, Term::Statement)) => {
                it.write_error(*e)?;
                continue;
            }
            Err(f) => return Err(f),
        };
        for (sp, is_dir) in targets {
            if !is_dir {
                out.push(dotnet::file_info(it, &sp));
                continue;
            }
            let mut stack = vec![(sp, 0usize)];
            while let Some((dp, depth)) = stack.pop() {
                for (name, d) in list_dir(it, &dp)? {
                    let child = dp.join(&name);
                    let matches = filter
                        .as_ref()
                        .is_none_or(|f| ops::wildcard(f, &name, false));
                    if matches && (!a.switch("File") || !d) && (!a.switch("Directory") || d) {
                        out.push(if a.switch("Name") {
                            Value::String(name.clone())
                        } else {
                            dotnet::file_info(it, &child)
                        });
                    }
                    if d && a.switch("Recurse")
                        && a.int("Depth")?.is_none_or(|m| (depth as i64) < m)
                    {
                        stack.push((child, depth + 1));
                    }
                    if out.len() > it.max_items() {
                        return Err(ops::too_big().into());
                    }
                }
            }
        }
    }
    Ok(out)
}

fn get_item(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    let mut out = Vec::new();
    for p in path_arg(a) {
        match expand(it, &p, a.has("LiteralPath")) {
            Ok(t) => out.extend(t.iter().map(|(sp, _)| dotnet::file_info(it, sp))),
            Err(Flow::Error(e, Term::Statement)) => it.write_error(*e)?,
            Err(f) => return Err(f),
        }
    }
    Ok(out)
}

fn get_content(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    let mut out = Vec::new();
    for p in path_arg(a) {
        let (sp, is_dir) = match resolve_existing(it, &p) {
            Ok(x) => x,
            Err(Flow::Error(e, Term::Statement)) => {
                it.write_error(*e)?;
                continue;
            }
            Err(f) => return Err(f),
        };
        if is_dir {
            let mut e = ErrorRecord::new(
                "System.UnauthorizedAccessException",
                format!("Access to the path '{}' is denied.", sp.windows()),
                "GetContentReaderUnauthorizedAccessError,Microsoft.PowerShell.Commands.GetContentCommand",
                ErrorCategory::PermissionDenied,
            );
            e.target_name = sp.windows();
            it.write_error(e)?;
            continue;
        }
        let b = dotnet::read_file(it, &sp.windows())?;
        let enc = a.str("Encoding").map(|e| e.to_ascii_lowercase());
        if enc.as_deref() == Some("byte") {
            out.push(Value::Bytes(b));
            continue;
        }
        let text = dotnet::decode_text(&b);
        if a.switch("Raw") {
            out.push(Value::String(text));
            continue;
        }
        let mut lines: Vec<Value> = text
            .split('\n')
            .map(|l| Value::str(l.trim_end_matches('\r')))
            .collect();
        if text.ends_with('\n') {
            lines.pop();
        }
        if let Some(n) = a.int("TotalCount")? {
            lines.truncate(n.max(0) as usize);
        }
        if let Some(n) = a.int("Tail")? {
            let k = lines.len().saturating_sub(n.max(0) as usize);
            lines = lines.split_off(k);
        }
        out.extend(lines);
    }
    Ok(out)
}

/// Writes text in a PowerShell 5.1 encoding (`unicode` is UTF-16LE with a
/// BOM, Out-File's default; `utf8` has a BOM; `ascii` and `default` are
/// what Set-Content writes).
pub(crate) fn write_text_file(
    it: &mut Interp<'_>,
    path: &str,
    text: &str,
    append: bool,
    encoding: &str,
) -> Res<()> {
    let enc = encoding.to_ascii_lowercase();
    let (sp, w) = {
        let sp = fs::resolve(&it.rs.location, path)?;
        let dir = fs::share(&it.rs.ctx.share, &sp.windows())?;
        let sp = fs::canonical(dir, &sp);
        let w = sp.windows();
        (sp, w)
    };
    let dir = fs::share(&it.rs.ctx.share, &w)?;
    if !sp.parent().parts.is_empty() && !dir.metadata(sp.parent().rel()).is_ok_and(|m| m.is_dir()) {
        let mut e = ErrorRecord::new(
            "System.IO.DirectoryNotFoundException",
            format!("Could not find a part of the path '{w}'."),
            "System.IO.DirectoryNotFoundException",
            ErrorCategory::WriteError,
        );
        e.target_name = w.clone();
        return Err(e.into());
    }
    let exists = dir.metadata(sp.rel()).is_ok();
    let bytes: Vec<u8> = match enc.as_str() {
        "unicode" | "utf16" | "utf-16" => {
            let mut b = if append && exists {
                Vec::new()
            } else {
                vec![0xFF, 0xFE]
            };
            b.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
            b
        }
        "utf8" | "utf-8" => {
            let mut b = if append && exists {
                Vec::new()
            } else {
                vec![0xEF, 0xBB, 0xBF]
            };
            b.extend(text.as_bytes());
            b
        }
        "bigendianunicode" => {
            let mut b = if append && exists {
                Vec::new()
            } else {
                vec![0xFE, 0xFF]
            };
            b.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
            b
        }
        "utf8nobom" | "ascii" | "default" | "oem" | "string" | "unknown" => {
            text.as_bytes().to_vec()
        }
        other => {
            return Err(ErrorRecord::not_implemented(&format!("the encoding '{other}'")).into())
        }
    };
    dotnet::write_file(it, &w, &bytes, append)
}

fn content_text(it: &Interp<'_>, a: &Args, input: Vec<Value>) -> String {
    let items = match a.get("Value") {
        Some(v) => v.clone().into_items(),
        None => input,
    };
    let mut s = String::new();
    for v in items {
        s.push_str(&it.to_text(&v));
        if !a.switch("NoNewline") {
            s.push_str("\r\n");
        }
    }
    s
}

fn set_content(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let text = content_text(it, a, input);
    let enc = a.str("Encoding").unwrap_or_else(|| "default".into());
    for p in path_arg(a) {
        write_text_file(it, &p, &text, false, &enc)?;
    }
    Ok(Vec::new())
}

fn add_content(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let text = content_text(it, a, input);
    let enc = a.str("Encoding").unwrap_or_else(|| "default".into());
    for p in path_arg(a) {
        write_text_file(it, &p, &text, true, &enc)?;
    }
    Ok(Vec::new())
}

fn out_file(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let items = inputs(a, input);
    let width = a.int("Width")?.unwrap_or(120).clamp(10, 4096) as usize;
    let mut text = format::out_string(&items, width);
    if a.switch("NoNewline") {
        text = text.trim_end_matches("\r\n").to_string();
    }
    let enc = a.str("Encoding").unwrap_or_else(|| "unicode".into());
    let path = a
        .str("FilePath")
        .or_else(|| a.str("LiteralPath"))
        .unwrap_or_default();
    write_text_file(it, &path, &text, a.switch("Append"), &enc)?;
    Ok(Vec::new())
}

fn new_item(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    let mut out = Vec::new();
    let ty = a
        .str("ItemType")
        .unwrap_or_else(|| "File".into())
        .to_ascii_lowercase();
    let mut paths = a.strs("Path");
    if paths.is_empty() {
        paths.push(it.rs.location.clone());
    }
    for base in paths {
        if base.to_ascii_lowercase().starts_with("env:") {
            let name = a
                .str("Name")
                .unwrap_or_else(|| base[4..].trim_start_matches('\\').to_string());
            let v = a.get("Value").cloned().unwrap_or(Value::str(""));
            if it.env_get(&name).is_some() && !a.switch("Force") {
                return Err(ErrorRecord::new(
                    "System.Management.Automation.SessionStateException",
                    format!("The item at path '{name}' already exists."),
                    "NewItemAlreadyExists,Microsoft.PowerShell.Commands.NewItemCommand",
                    ErrorCategory::ResourceExists,
                )
                .into());
            }
            it.set_var(&format!("env:{name}"), v.clone())?;
            out.push(Value::Object(PsObject {
                type_names: vec![
                    "System.Collections.DictionaryEntry".into(),
                    "System.Object".into(),
                ],
                properties: vec![
                    ("Name".into(), Value::String(name.clone())),
                    ("Value".into(), v),
                ],
                to_string: "System.Collections.DictionaryEntry".into(),
            }));
            continue;
        }
        let full = match a.str("Name") {
            Some(n) => format!("{}\\{n}", base.trim_end_matches('\\')),
            None => base,
        };
        let sp = fs::resolve(&it.rs.location, &full)?;
        let dir = fs::share(&it.rs.ctx.share, &sp.windows())?;
        let sp = fs::canonical(dir, &sp);
        let w = sp.windows();
        let exists = dir.metadata(sp.rel()).is_ok();
        match ty.as_str() {
            "directory" | "container" => {
                if exists && !a.switch("Force") {
                    let mut e = ErrorRecord::new(
                        "System.IO.IOException",
                        format!("An item with the specified name {w} already exists."),
                        "DirectoryExist,Microsoft.PowerShell.Commands.NewItemCommand",
                        ErrorCategory::ResourceExists,
                    );
                    e.target_name = w.clone();
                    e.target_type = "String".into();
                    it.write_error(e)?;
                    continue;
                }
                dir.create_dir_all(sp.rel())
                    .map_err(|e| Flow::from(fs::io_error(&e, &w, true)))?;
                crate::eval::record(it.rs, &format!("pwsh file mkdir {w}"), "ok");
            }
            "file" => {
                if exists && !a.switch("Force") {
                    let mut e = ErrorRecord::new(
                        "System.IO.IOException",
                        format!("The file '{w}' already exists."),
                        "NewItemIOError,Microsoft.PowerShell.Commands.NewItemCommand",
                        ErrorCategory::WriteError,
                    );
                    e.target_name = w.clone();
                    e.target_type = "String".into();
                    it.write_error(e)?;
                    continue;
                }
                if a.switch("Force") {
                    let parent = sp.parent();
                    if !parent.parts.is_empty() {
                        let _ = dir.create_dir_all(parent.rel());
                    }
                }
                let text = a.get("Value").map(|v| v.to_string()).unwrap_or_default();
                write_text_file(it, &w, &text, false, "default")?;
            }
            other => {
                return Err(
                    ErrorRecord::not_implemented(&format!("New-Item -ItemType {other}")).into(),
                )
            }
        }
        out.push(dotnet::file_info(it, &sp));
    }
    Ok(out)
}

fn remove_item(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    for p in path_arg(a) {
        let targets = match expand(it, &p, a.has("LiteralPath")) {
            Ok(t) => t,
            Err(Flow::Error(e, Term::Statement)) => {
                it.write_error(*e)?;
                continue;
            }
            Err(f) => return Err(f),
        };
        for (sp, is_dir) in targets {
            let w = sp.windows();
            if sp.parts.is_empty() {
                return Err(ErrorRecord::not_implemented("removing the root of C:").into());
            }
            let dir = fs::share(&it.rs.ctx.share, &w)?;
            let r = if is_dir {
                let empty = dir
                    .read_dir(sp.rel())
                    .map(|mut r| r.next().is_none())
                    .unwrap_or(true);
                if !empty && !a.switch("Recurse") {
                    return Err(ErrorRecord::not_implemented(&format!(
                        "the confirmation prompt Remove-Item shows for the non-empty directory {w} (pass -Recurse)"
                    ))
                    .into());
                }
                dir.remove_dir_all(sp.rel())
            } else {
                let len = fs::file_len(dir, &sp.rel());
                dir.remove_file(sp.rel())
                    .map(|()| fs::release(&it.rs.ctx, len))
            };
            r.map_err(|e| Flow::from(fs::io_error(&e, &w, true)))?;
            crate::eval::record(it.rs, &format!("pwsh file delete {w}"), "ok");
        }
    }
    Ok(Vec::new())
}

fn copy_or_move(it: &mut Interp<'_>, a: &mut Args, mv: bool) -> Res<Vec<Value>> {
    if a.has("ToSession") || a.has("FromSession") {
        return not_implemented_cmdlet(it, "Copy-Item -ToSession/-FromSession");
    }
    let dest = a
        .str("Destination")
        .unwrap_or_else(|| it.rs.location.clone());
    let mut out = Vec::new();
    for p in path_arg(a) {
        let targets = expand(it, &p, a.has("LiteralPath"))?;
        for (src, is_dir) in targets {
            let (dsp, dest_is_dir) = {
                let d = fs::resolve(&it.rs.location, &dest)?;
                let dir = fs::share(&it.rs.ctx.share, &d.windows())?;
                let d = fs::canonical(dir, &d);
                let isd = dir.metadata(d.rel()).is_ok_and(|m| m.is_dir());
                (d, isd)
            };
            let target = if dest_is_dir {
                dsp.join(&src.name())
            } else {
                dsp
            };
            let sw = src.windows();
            let tw = target.windows();
            let dir = fs::share(&it.rs.ctx.share, &sw)?;
            if is_dir && !mv {
                if !a.switch("Recurse") {
                    dir.create_dir_all(target.rel())
                        .map_err(|e| Flow::from(fs::io_error(&e, &tw, true)))?;
                } else {
                    copy_tree(&it.rs.ctx, dir, &src, &target, it.max_items())?;
                }
            } else if mv {
                if dir.metadata(target.rel()).is_ok() && !a.switch("Force") {
                    let mut e = ErrorRecord::new(
                        "System.IO.IOException",
                        "Cannot create a file when that file already exists.",
                        "MoveFileInfoItemIOError,Microsoft.PowerShell.Commands.MoveItemCommand",
                        ErrorCategory::WriteError,
                    );
                    e.target_name = sw.clone();
                    it.write_error(e)?;
                    continue;
                }
                let replaced = fs::file_len(dir, &target.rel());
                dir.rename(src.rel(), dir, target.rel())
                    .map_err(|e| Flow::from(fs::io_error(&e, &sw, true)))?;
                fs::release(&it.rs.ctx, replaced);
            } else {
                let (had, size) = (
                    fs::file_len(dir, &target.rel()),
                    fs::file_len(dir, &src.rel()),
                );
                fs::resize(&it.rs.ctx, dir, had, size, &tw)?;
                dir.copy(src.rel(), dir, target.rel())
                    .map_err(|e| Flow::from(fs::io_error(&e, &sw, true)))?;
            }
            crate::eval::record(
                it.rs,
                &format!(
                    "pwsh file {} {sw} -> {tw}",
                    if mv { "move" } else { "copy" }
                ),
                "ok",
            );
            if a.switch("PassThru") {
                out.push(dotnet::file_info(it, &target));
            }
        }
    }
    Ok(out)
}

/// `Copy-Item -Recurse`: each file's bytes count against the share's
/// quota before it is copied, so a copy that runs out of room stops at the
/// file that did not fit, as Windows' does.
fn copy_tree(
    ctx: &crate::HostContext,
    dir: &cap_std::fs::Dir,
    src: &fs::SharePath,
    dst: &fs::SharePath,
    max: usize,
) -> Result<(), ErrorRecord> {
    let io = |e: std::io::Error, p: &fs::SharePath| fs::io_error(&e, &p.windows(), true);
    let mut stack = vec![(src.clone(), dst.clone())];
    let mut n = 0usize;
    while let Some((s, d)) = stack.pop() {
        dir.create_dir_all(d.rel()).map_err(|e| io(e, &d))?;
        for e in dir.read_dir(s.rel()).map_err(|e| io(e, &s))? {
            let e = e.map_err(|e| io(e, &s))?;
            n += 1;
            if n > max {
                return Err(io(std::io::Error::other("too many files"), &d));
            }
            let name = e.file_name().to_string_lossy().to_string();
            let (from, to) = (s.join(&name), d.join(&name));
            if e.file_type().map_err(|e| io(e, &from))?.is_dir() {
                stack.push((from, to));
            } else {
                let had = fs::file_len(dir, &to.rel());
                fs::resize(ctx, dir, had, fs::file_len(dir, &from.rel()), &to.windows())?;
                dir.copy(from.rel(), dir, to.rel())
                    .map_err(|e| io(e, &from))?;
            }
        }
    }
    Ok(())
}

fn copy_item(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    copy_or_move(it, a, false)
}

fn move_item(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    copy_or_move(it, a, true)
}

fn get_file_hash(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    if a.has("InputStream") {
        return not_implemented_cmdlet(it, "Get-FileHash -InputStream");
    }
    let alg = a
        .str("Algorithm")
        .unwrap_or_else(|| "SHA256".into())
        .to_ascii_uppercase();
    let mut out = Vec::new();
    for p in path_arg(a) {
        for (sp, is_dir) in expand(it, &p, a.has("LiteralPath"))? {
            if is_dir {
                continue;
            }
            let b = dotnet::read_file(it, &sp.windows())?;
            let Some(h) = dotnet::digest(&alg, &b) else {
                return Err(ops::conversion_error(&Value::String(alg.clone()), "System.String", "The argument does not belong to the set \"SHA1,SHA256,SHA384,SHA512,MACTripleDES,MD5,RIPEMD160\".").into());
            };
            out.push(Value::Object(PsObject {
                type_names: vec![
                    "Microsoft.Powershell.Utility.FileHash".into(),
                    "System.Object".into(),
                ],
                properties: vec![
                    ("Algorithm".into(), Value::String(alg.clone())),
                    (
                        "Hash".into(),
                        Value::String(h.iter().map(|b| format!("{b:02X}")).collect()),
                    ),
                    ("Path".into(), Value::String(sp.windows())),
                ],
                to_string: "@{Algorithm=...}".into(),
            }));
        }
    }
    Ok(out)
}

fn split_path(_: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    let mut out = Vec::new();
    for p in path_arg(a) {
        let t = p.trim_end_matches('\\');
        let (parent, leaf) = match t.rfind(['\\', '/']) {
            Some(i) if i == 2 && t.as_bytes().get(1) == Some(&b':') => {
                (t[..=i].to_string(), t[i + 1..].to_string())
            }
            Some(i) => (t[..i].to_string(), t[i + 1..].to_string()),
            None => (String::new(), t.to_string()),
        };
        out.push(Value::String(if a.switch("Leaf") {
            leaf
        } else if a.switch("Qualifier") {
            t.get(..2).unwrap_or("").to_string()
        } else if a.switch("NoQualifier") {
            if t.get(1..2) == Some(":") {
                t[2..].to_string()
            } else {
                t.to_string()
            }
        } else if a.switch("IsAbsolute") {
            return Ok(vec![Value::Bool(
                t.get(1..2) == Some(":") || t.starts_with('\\'),
            )]);
        } else {
            parent
        }));
    }
    Ok(out)
}

fn join_path(_: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    let child = a.str("ChildPath").unwrap_or_default();
    let extra = a.strs("AdditionalChildPath");
    Ok(a.strs("Path")
        .into_iter()
        .map(|p| {
            let mut s = p.trim_end_matches('\\').to_string();
            for c in std::iter::once(&child).chain(extra.iter()) {
                s.push('\\');
                s.push_str(c.trim_start_matches('\\'));
            }
            Value::String(s)
        })
        .collect())
}

fn resolve_path(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    let mut out = Vec::new();
    for p in path_arg(a) {
        for (sp, _) in expand(it, &p, a.has("LiteralPath"))? {
            out.push(if a.cmd == "Convert-Path" {
                Value::String(sp.windows())
            } else {
                path_object(&sp.windows())
            });
        }
    }
    Ok(out)
}

// ---- Windows ----

fn service_object(inst: &crate::CimInstance, state: &str) -> Value {
    let g = |k: &str| {
        inst.properties
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null)
    };
    let name = g("Name").to_string();
    let start = g("StartMode").to_string();
    Value::Object(PsObject {
        type_names: vec![
            "System.ServiceProcess.ServiceController".into(),
            "System.ComponentModel.Component".into(),
            "System.MarshalByRefObject".into(),
            "System.Object".into(),
        ],
        properties: vec![
            ("Name".into(), Value::String(name.clone())),
            ("RequiredServices".into(), Value::Array(Vec::new())),
            ("CanPauseAndContinue".into(), Value::Bool(false)),
            ("CanShutdown".into(), Value::Bool(state == "Running")),
            ("CanStop".into(), Value::Bool(state == "Running")),
            ("DisplayName".into(), g("DisplayName")),
            ("DependentServices".into(), Value::Array(Vec::new())),
            ("MachineName".into(), Value::str(".")),
            ("ServiceName".into(), Value::String(name.clone())),
            ("ServicesDependedOn".into(), Value::Array(Vec::new())),
            ("ServiceHandle".into(), Value::Null),
            ("Status".into(), Value::str(state)),
            ("ServiceType".into(), Value::str("Win32ShareProcess")),
            (
                "StartType".into(),
                Value::str(match start.as_str() {
                    "Auto" => "Automatic",
                    "Manual" => "Manual",
                    _ => "Disabled",
                }),
            ),
            ("Site".into(), Value::Null),
            ("Container".into(), Value::Null),
        ],
        to_string: "System.ServiceProcess.ServiceController".into(),
    })
}

/// Services from the host's Win32_Service (the one list), with their
/// state from the model.
fn services(it: &mut Interp<'_>) -> Res<Vec<(crate::CimInstance, String)>> {
    let list = it
        .rs
        .ctx
        .host
        .cim_instances("root/cimv2", "Win32_Service")
        .map_err(|e| Flow::from(cim_error(&e, "root/cimv2", "Win32_Service")))?;
    Ok(list
        .into_iter()
        .map(|i| {
            let st = i
                .properties
                .iter()
                .find(|(n, _)| n == "State")
                .map(|(_, v)| v.to_string())
                .unwrap_or_default();
            (i, st)
        })
        .collect())
}

fn select_services(
    it: &mut Interp<'_>,
    a: &Args,
    input: Vec<Value>,
) -> Res<Vec<(crate::CimInstance, String)>> {
    let all = services(it)?;
    let mut names = a.strs("Name");
    for v in input.iter().chain(
        a.get("InputObject")
            .map(|v| v.clone().into_items())
            .unwrap_or_default()
            .iter(),
    ) {
        match v {
            Value::Object(o) => {
                names.push(o.get("Name").map(|n| n.to_string()).unwrap_or_default())
            }
            other => names.push(other.to_string()),
        }
    }
    let displays = a.strs("DisplayName");
    if names.is_empty() && displays.is_empty() {
        return Ok(all);
    }
    let mut out = Vec::new();
    for n in &names {
        let hits: Vec<_> = all
            .iter()
            .filter(|(i, _)| {
                let nm = i
                    .properties
                    .iter()
                    .find(|(k, _)| k == "Name")
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_default();
                ops::wildcard(n, &nm, false)
            })
            .cloned()
            .collect();
        if hits.is_empty() && !n.contains('*') {
            let mut e = ErrorRecord::new(
                "Microsoft.PowerShell.Commands.ServiceCommandException",
                format!("Cannot find any service with service name '{n}'."),
                &format!(
                    "NoServiceFoundForGivenName,{}",
                    cmdlet_class(&it.cur_command)
                ),
                ErrorCategory::ObjectNotFound,
            );
            e.target_name = n.clone();
            e.target_type = "String".into();
            it.write_error(e)?;
        }
        out.extend(hits);
    }
    for d in &displays {
        out.extend(
            all.iter()
                .filter(|(i, _)| {
                    let nm = i
                        .properties
                        .iter()
                        .find(|(k, _)| k == "DisplayName")
                        .map(|(_, v)| v.to_string())
                        .unwrap_or_default();
                    ops::wildcard(d, &nm, false)
                })
                .cloned(),
        );
    }
    Ok(out)
}

fn get_service(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    if a.switch("DependentServices") || a.switch("RequiredServices") {
        return not_implemented_cmdlet(it, "Get-Service -DependentServices/-RequiredServices");
    }
    if a.has("ComputerName") {
        return not_implemented_cmdlet(it, "Get-Service -ComputerName");
    }
    let mut list = select_services(it, a, input)?;
    list.sort_by_key(|(i, _)| {
        i.properties
            .iter()
            .find(|(k, _)| k == "Name")
            .map(|(_, v)| v.to_string().to_ascii_lowercase())
            .unwrap_or_default()
    });
    Ok(list.iter().map(|(i, s)| service_object(i, s)).collect())
}

fn change_service(
    it: &mut Interp<'_>,
    a: &mut Args,
    input: Vec<Value>,
    to: &str,
) -> Res<Vec<Value>> {
    let list = select_services(it, a, input)?;
    let machine = it.rs.ctx.machine;
    let mut out = Vec::new();
    for (inst, state) in list {
        let name = inst
            .properties
            .iter()
            .find(|(k, _)| k == "Name")
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        let display = inst
            .properties
            .iter()
            .find(|(k, _)| k == "DisplayName")
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        let start = inst
            .properties
            .iter()
            .find(|(k, _)| k == "StartMode")
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        if to == "Running" && start == "Disabled" {
            let mut e = ErrorRecord::new(
                "Microsoft.PowerShell.Commands.ServiceCommandException",
                format!("Service '{display} ({name})' cannot be started due to the following error: Cannot start service {name} on computer '.'."),
                "CouldNotStartService,Microsoft.PowerShell.Commands.StartServiceCommand",
                ErrorCategory::OpenError,
            );
            e.target_name = "System.ServiceProcess.ServiceController".into();
            e.target_type = "ServiceController".into();
            it.write_error(e)?;
            continue;
        }
        let _ = state;
        it.rs.ctx.model.set_service_state(machine, &name, to);
        if a.switch("PassThru") {
            out.push(service_object(&inst, to));
        }
    }
    Ok(out)
}

fn start_service(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    change_service(it, a, input, "Running")
}

fn stop_service(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    change_service(it, a, input, "Stopped")
}

fn restart_service(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    change_service(it, a, input, "Running")
}

fn get_process(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    let model = it.rs.ctx.model.clone();
    let m = model.machine(it.rs.ctx.machine);
    let mut procs: Vec<(&str, i32, i64, i64)> = vec![
        ("Idle", 0, 0, 8),
        ("System", 4, 2_900, 140),
        ("Registry", 88, 0, 40_000),
        ("smss", 312, 52, 1_200),
        ("csrss", 412, 520, 5_000),
        ("wininit", 488, 160, 6_600),
        ("services", 560, 640, 9_800),
        ("lsass", 576, 1_260, 19_000),
        ("svchost", 700, 1_100, 22_000),
        ("svchost", 764, 820, 12_400),
        ("svchost", 1028, 1_900, 31_000),
        ("WmiPrvSE", 2140, 380, 17_500),
        ("wsmprovhost", 3120, 620, 68_000),
        ("powershell", 4242, 560, 72_000),
    ];
    if m.role == Role::HypervHost {
        procs.push(("vmms", 1860, 1_400, 48_000));
        procs.push(("vmcompute", 1904, 300, 12_000));
        for (i, vm) in m.vms.iter().enumerate() {
            let on = model.with_chassis(vm.chassis, it.rs.ctx.model.clock.now(), |c| {
                c.power.power_on()
            });
            if on {
                procs.push(("vmwp", 5000 + 4 * i as i32, 900, 24_000));
            }
        }
    }
    let names = a.strs("Name");
    let ids: Vec<i64> = a
        .get("Id")
        .map(|v| {
            v.clone()
                .into_items()
                .iter()
                .filter_map(|x| ops::to_num(x).ok())
                .map(|n| n.f() as i64)
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for (name, id, handles_k, ws_k) in &procs {
        if !names.is_empty() && !names.iter().any(|n| ops::wildcard(n, name, false)) {
            continue;
        }
        if !ids.is_empty() && !ids.contains(&i64::from(*id)) {
            continue;
        }
        out.push(Value::Object(PsObject {
            type_names: vec![
                "System.Diagnostics.Process".into(),
                "System.ComponentModel.Component".into(),
                "System.MarshalByRefObject".into(),
                "System.Object".into(),
            ],
            properties: vec![
                (
                    "Handles".into(),
                    Value::Int32((*handles_k / 2).max(0) as i32),
                ),
                ("NPM".into(), Value::Int64(ws_k / 40 * 1024)),
                ("PM".into(), Value::Int64(ws_k / 2 * 1024)),
                ("WS".into(), Value::Int64(ws_k * 1024)),
                ("CPU".into(), Value::Double(*handles_k as f64 / 100.0)),
                ("Id".into(), Value::Int32(*id)),
                ("SI".into(), Value::Int32(0)),
                ("ProcessName".into(), Value::str(*name)),
                ("Name".into(), Value::str(*name)),
                ("SessionId".into(), Value::Int32(0)),
            ],
            to_string: format!("System.Diagnostics.Process ({name})"),
        }));
    }
    for n in &names {
        if !n.contains('*') && !procs.iter().any(|(p, ..)| p.eq_ignore_ascii_case(n)) {
            let mut e = ErrorRecord::new(
                "Microsoft.PowerShell.Commands.ProcessCommandException",
                format!("Cannot find a process with the name \"{n}\". Verify the process name and call the cmdlet again."),
                "NoProcessFoundForGivenName,Microsoft.PowerShell.Commands.GetProcessCommand",
                ErrorCategory::ObjectNotFound,
            );
            e.target_name = n.clone();
            e.target_type = "String".into();
            it.write_error(e)?;
        }
    }
    Ok(out)
}

fn get_computer_info(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    let model = it.rs.ctx.model.clone();
    let m = model.machine(it.rs.ctx.machine);
    let (hw, cpu) = model.with_chassis(m.chassis, model.clock.now(), |c| {
        (c.hardware.clone(), c.compute)
    });
    let host = m.name.to_ascii_uppercase();
    let domain = m
        .dns_name
        .split_once('.')
        .map_or("", |(_, d)| d)
        .to_string();
    let props: Vec<(String, Value)> = vec![
        (
            "WindowsBuildLabEx".into(),
            Value::str("17763.1.amd64fre.rs5_release.180914-1434"),
        ),
        ("WindowsCurrentVersion".into(), Value::str("6.3")),
        ("WindowsEditionId".into(), Value::str("ServerDatacenter")),
        ("WindowsInstallationType".into(), Value::str("Server")),
        (
            "WindowsProductName".into(),
            Value::str("Windows Server 2019 Datacenter"),
        ),
        ("WindowsVersion".into(), Value::str("1809")),
        ("BiosManufacturer".into(), Value::String(hw.vendor.clone())),
        ("BiosSeralNumber".into(), Value::String(hw.serial.clone())),
        ("CsDNSHostName".into(), Value::String(m.name.clone())),
        ("CsDomain".into(), Value::String(domain)),
        ("CsManufacturer".into(), Value::String(hw.vendor.clone())),
        ("CsModel".into(), Value::String(hw.model.clone())),
        ("CsName".into(), Value::String(host.clone())),
        (
            "CsNumberOfLogicalProcessors".into(),
            Value::Int32(i32::try_from(cpu.logical_processors()).unwrap_or(i32::MAX)),
        ),
        (
            "CsNumberOfProcessors".into(),
            Value::Int32(i32::try_from(cpu.cpus).unwrap_or(i32::MAX)),
        ),
        ("CsPartOfDomain".into(), Value::Bool(true)),
        (
            "CsTotalPhysicalMemory".into(),
            Value::Int64(i64::try_from(cpu.visible_memory_bytes()).unwrap_or(i64::MAX)),
        ),
        (
            "OsName".into(),
            Value::str("Microsoft Windows Server 2019 Datacenter"),
        ),
        ("OsType".into(), Value::str("WINNT")),
        ("OsVersion".into(), Value::str("10.0.17763")),
        ("OsBuildNumber".into(), Value::str("17763")),
        ("OsArchitecture".into(), Value::str("64-bit")),
        ("OsLanguage".into(), Value::str("en-US")),
        (
            "OsTotalVisibleMemorySize".into(),
            Value::Int64(i64::try_from(cpu.visible_memory_bytes() / 1024).unwrap_or(i64::MAX)),
        ),
        ("OsWindowsDirectory".into(), Value::str("C:\\Windows")),
        (
            "TimeZone".into(),
            Value::str("(UTC) Coordinated Universal Time"),
        ),
        (
            "HyperVisorPresent".into(),
            Value::Bool(m.role == Role::HypervHost),
        ),
    ];
    let want = a.strs("Property");
    let props = if want.is_empty() {
        props
    } else {
        props
            .into_iter()
            .filter(|(k, _)| want.iter().any(|w| ops::wildcard(w, k, false)))
            .collect()
    };
    Ok(vec![Value::Object(PsObject {
        type_names: vec![
            "Microsoft.PowerShell.Commands.ComputerInfo".into(),
            "System.Object".into(),
        ],
        properties: props,
        to_string: "Microsoft.PowerShell.Commands.ComputerInfo".into(),
    })])
}

fn cim_error(e: &crate::CimError, ns: &str, class: &str) -> ErrorRecord {
    match e {
        crate::CimError::InvalidClass => ErrorRecord::new(
            "Microsoft.Management.Infrastructure.CimException",
            "Invalid class ",
            "HRESULT 0x80041010,Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand",
            ErrorCategory::MetadataError,
        )
        .with_target(&format!("{ns}:{class}"), "String"),
        crate::CimError::InvalidNamespace => ErrorRecord::new(
            "Microsoft.Management.Infrastructure.CimException",
            "Invalid namespace ",
            "HRESULT 0x8004100e,Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand",
            ErrorCategory::MetadataError,
        )
        .with_target(ns, "String"),
        crate::CimError::Other(m) => ErrorRecord::new(
            "Microsoft.Management.Infrastructure.CimException",
            m.clone(),
            "CimException,Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand",
            ErrorCategory::NotSpecified,
        ),
    }
}

/// A WQL `WHERE` clause of `prop = 'value'` terms joined by AND (what
/// scripts pass to -Filter); anything richer is not implemented.
fn wql_where(filter: &str) -> Result<Vec<(String, String, bool)>, ErrorRecord> {
    let mut out = Vec::new();
    for term in split_and(filter) {
        let t = term.trim();
        let (k, v, neg) = if let Some((k, v)) = t.split_once("!=").or_else(|| t.split_once("<>")) {
            (k, v, true)
        } else if let Some((k, v)) = t.split_once('=') {
            (k, v, false)
        } else if let Some((k, v)) = split_ci(t, " like ") {
            let v = v
                .trim()
                .trim_matches(['\'', '"'])
                .replace('%', "*")
                .replace('_', "?");
            out.push((k.trim().to_string(), v, false));
            continue;
        } else {
            return Err(ErrorRecord::not_implemented(&format!(
                "the WQL filter '{filter}'"
            )));
        };
        out.push((
            k.trim().to_string(),
            v.trim().trim_matches(['\'', '"']).to_string(),
            neg,
        ));
    }
    Ok(out)
}

fn split_ci<'a>(s: &'a str, pat: &str) -> Option<(&'a str, &'a str)> {
    let l = s.to_ascii_lowercase();
    l.find(pat).map(|i| (&s[..i], &s[i + pat.len()..]))
}

fn split_and(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let l = s.to_ascii_lowercase();
    let mut start = 0;
    let mut i = 0;
    let b = l.as_bytes();
    let mut q = false;
    while i < b.len() {
        if b[i] == b'\'' {
            q = !q;
        }
        if !q && l[i..].starts_with(" and ") {
            out.push(s[start..i].to_string());
            i += 5;
            start = i;
            continue;
        }
        i += 1;
    }
    out.push(s[start..].to_string());
    out
}

fn cim_query(it: &mut Interp<'_>, a: &Args, class_param: &str, wmi: bool) -> Res<Vec<Value>> {
    let mut ns = a
        .str("Namespace")
        .unwrap_or_else(|| "root/cimv2".into())
        .replace('\\', "/");
    if ns.starts_with("root") || ns.starts_with("ROOT") {
        ns = ns.to_ascii_lowercase();
    }
    let (class, filter) = if let Some(q) = a.str("Query") {
        let lq = q.to_ascii_lowercase();
        let rest = lq
            .strip_prefix("select ")
            .and_then(|r| r.split_once(" from "))
            .map(|(_, r)| r.to_string());
        let Some(rest) = rest else {
            return Err(ErrorRecord::not_implemented(&format!("the WQL query '{q}'")).into());
        };
        let start = q.len() - rest.len();
        let orig = &q[start..];
        match split_ci(orig, " where ") {
            Some((c, f)) => (c.trim().to_string(), Some(f.to_string())),
            None => (orig.trim().to_string(), None),
        }
    } else {
        (a.str(class_param).unwrap_or_default(), a.str("Filter"))
    };
    if class.is_empty() {
        return Err(crate::eval::missing_argument(class_param, "System.String").into());
    }
    if let Some(c) = a.get("ComputerName") {
        let me = it
            .rs
            .ctx
            .model
            .machine(it.rs.ctx.machine)
            .name
            .to_ascii_lowercase();
        let s = c.to_string().to_ascii_lowercase();
        if !(s == "localhost" || s == "." || s == me) {
            return not_implemented_cmdlet(it, "Get-CimInstance -ComputerName (another host)");
        }
    }
    let terms = match &filter {
        Some(f) => wql_where(f)?,
        None => Vec::new(),
    };
    let list = it.rs.ctx.host.cim_instances(&ns, &class).map_err(|e| {
        let mut r = cim_error(&e, &ns, &class);
        if wmi {
            r.exception_type = "System.Management.ManagementException".into();
            r.fully_qualified_error_id = r.fully_qualified_error_id.replace(
                "Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand",
                "Microsoft.PowerShell.Commands.GetWmiObjectCommand",
            );
        }
        Flow::from(r)
    })?;
    let host = it
        .rs
        .ctx
        .model
        .machine(it.rs.ctx.machine)
        .name
        .to_ascii_uppercase();
    let mut out = Vec::new();
    for inst in list {
        let ok = terms.iter().all(|(k, v, neg)| {
            let pv = inst
                .properties
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, x)| x.to_string())
                .unwrap_or_default();
            let m = if v.contains(['*', '?']) {
                ops::wildcard(v, &pv, false)
            } else {
                pv.eq_ignore_ascii_case(v)
            };
            m != *neg
        });
        if !ok {
            continue;
        }
        let mut props = inst.properties.clone();
        props.push((
            "PSComputerName".into(),
            if wmi {
                Value::String(host.clone())
            } else {
                Value::Null
            },
        ));
        let tn = if wmi {
            vec![
                format!(
                    "System.Management.ManagementObject#{}\\{}",
                    ns.replace('/', "\\"),
                    inst.class
                ),
                "System.Management.ManagementObject".into(),
                "System.Management.ManagementBaseObject".into(),
                "System.ComponentModel.Component".into(),
                "System.MarshalByRefObject".into(),
                "System.Object".into(),
            ]
        } else {
            vec![
                format!(
                    "Microsoft.Management.Infrastructure.CimInstance#{}/{}",
                    ns, inst.class
                ),
                "Microsoft.Management.Infrastructure.CimInstance".into(),
                "System.Object".into(),
            ]
        };
        out.push(Value::Object(PsObject {
            type_names: tn,
            properties: props,
            to_string: inst.class.clone(),
        }));
    }
    Ok(out)
}

fn get_cim_instance(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    if a.has("CimSession") || a.has("InputObject") {
        return not_implemented_cmdlet(it, "Get-CimInstance -CimSession/-InputObject");
    }
    cim_query(it, a, "ClassName", false)
}

fn get_wmi_object(it: &mut Interp<'_>, a: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    if a.switch("List") || a.has("Credential") {
        return not_implemented_cmdlet(it, "Get-WmiObject -List/-Credential");
    }
    cim_query(it, a, "Class", true)
}

// ---- Hyper-V ----

fn vm_state(c: &fakedc_model::Chassis) -> &'static str {
    match (c.power, c.suspended) {
        (_, Some(Suspension::Saved)) => "Saved",
        (_, Some(Suspension::Paused)) => "Paused",
        (PowerState::Off, None) | (PowerState::Cycling { .. }, None) => "Off",
        (PowerState::Booting { .. } | PowerState::On, None) => "Running",
        (PowerState::ShuttingDown { .. }, None) => "Stopping",
    }
}

fn vm_guid(vm: &fakedc_model::Vm, model: &fakedc_model::Model) -> String {
    if let Some(g) = crate::dotnet::cast_guid_text(&vm.id) {
        return g;
    }
    model
        .chassis(vm.chassis, model.clock.now())
        .hardware
        .guid_string()
}

fn vm_object(it: &Interp<'_>, vm: &fakedc_model::Vm) -> Value {
    let model = &it.rs.ctx.model;
    let host = model.machine(it.rs.ctx.machine).name.to_ascii_uppercase();
    let now = model.clock.now();
    let (state, uptime, cpu) = model.with_chassis(vm.chassis, now, |c| {
        let st = vm_state(c);
        (
            st,
            if st == "Running" {
                3_600 * crate::value::TICKS_PER_SECOND
            } else {
                0
            },
            c.compute,
        )
    });
    let memory = i64::try_from(cpu.memory_bytes()).unwrap_or(i64::MAX);
    let running = state == "Running";
    let id = vm_guid(vm, model);
    Value::Object(PsObject {
        type_names: vec![
            "Microsoft.HyperV.PowerShell.VirtualMachine".into(),
            "Microsoft.HyperV.PowerShell.VirtualMachineBase".into(),
            "Microsoft.HyperV.PowerShell.VirtualizationObject".into(),
            "System.Object".into(),
        ],
        properties: vec![
            ("Name".into(), Value::String(vm.name.clone())),
            (
                "State".into(),
                crate::value::EnumValue::member("Microsoft.HyperV.PowerShell.VMState", state)
                    .map_or_else(|| Value::str(state), Value::Enum),
            ),
            ("CPUUsage".into(), Value::Int32(if running { 2 } else { 0 })),
            (
                "MemoryAssigned".into(),
                Value::Int64(if running { memory } else { 0 }),
            ),
            (
                "MemoryDemand".into(),
                Value::Int64(if running { memory / 2 } else { 0 }),
            ),
            ("MemoryStartup".into(), Value::Int64(memory)),
            ("Uptime".into(), Value::TimeSpan(uptime)),
            ("Status".into(), Value::str("Operating normally")),
            ("Version".into(), Value::str("9.0")),
            ("Generation".into(), Value::Int32(2)),
            (
                "ProcessorCount".into(),
                Value::Int64(i64::from(cpu.logical_processors())),
            ),
            ("ComputerName".into(), Value::String(host)),
            ("VMName".into(), Value::String(vm.name.clone())),
            ("VMId".into(), Value::Guid(id.clone())),
            ("Id".into(), Value::Guid(id)),
            ("IsClustered".into(), Value::Bool(false)),
            (
                "Path".into(),
                Value::String(format!(
                    "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V\\{}",
                    vm.name
                )),
            ),
            ("Notes".into(), Value::str("")),
            (
                "Heartbeat".into(),
                if running {
                    Value::str("OkApplicationsUnknown")
                } else {
                    Value::Null
                },
            ),
            ("ReplicationState".into(), Value::str("Disabled")),
            ("AutomaticStartAction".into(), Value::str("StartIfRunning")),
            ("AutomaticStopAction".into(), Value::str("Save")),
        ],
        to_string: format!("VirtualMachine (Name = '{}') [Id = '{}']", vm.name, vm.id),
    })
}

/// The VMs a Hyper-V cmdlet names: `-Name` (wildcards), `-VM` objects, or
/// VM objects from the pipeline. A name matching none writes Hyper-V's
/// error for it.
fn select_vms(
    it: &mut Interp<'_>,
    a: &Args,
    input: &[Value],
    default_all: bool,
) -> Res<Vec<fakedc_model::Vm>> {
    select_vms_by(it, a, "Name", input, default_all)
}

/// [`select_vms`] with the VM names in parameter `by` (`VMName` for the
/// snapshot cmdlets, whose `-Name` is the checkpoint's).
fn select_vms_by(
    it: &mut Interp<'_>,
    a: &Args,
    by: &str,
    input: &[Value],
    default_all: bool,
) -> Res<Vec<fakedc_model::Vm>> {
    let model = it.rs.ctx.model.clone();
    let me = it.rs.ctx.machine;
    if let Some(c) = a.get("ComputerName") {
        let name = model.machine(me).name.to_ascii_lowercase();
        let s = c.to_string().to_ascii_lowercase();
        if !(s == "localhost"
            || s == "."
            || s == name
            || s.split('.').next() == Some(name.as_str()))
        {
            let mut e = ErrorRecord::not_implemented(
                "Hyper-V cmdlets against another computer (-ComputerName)",
            );
            e.activity = it.cur_command.clone();
            return Err(Flow::Error(Box::new(e), Term::Script));
        }
    }
    let all: Vec<fakedc_model::Vm> = model.machine(me).vms.clone();
    let mut names: Vec<String> = a.strs(by);
    let from_objs: Vec<Value> = a
        .get("VM")
        .map(|v| v.clone().into_items())
        .unwrap_or_default()
        .into_iter()
        .chain(input.iter().cloned())
        .collect();
    for v in &from_objs {
        match v {
            Value::Object(o) => names.push(
                o.get("Name")
                    .or_else(|| o.get("VMName"))
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
            ),
            other => names.push(other.to_string()),
        }
    }
    if let Some(id) = a.get("Id").filter(|_| by == "Name") {
        let want = id.to_string().to_ascii_lowercase();
        let hits: Vec<_> = all
            .iter()
            .filter(|vm| {
                vm_guid(vm, &model).eq_ignore_ascii_case(&want) || vm.id.eq_ignore_ascii_case(&want)
            })
            .cloned()
            .collect();
        if hits.is_empty() {
            let mut e = ErrorRecord::new(
                "Microsoft.HyperV.PowerShell.VirtualizationException",
                format!(
                    "Hyper-V was unable to find a virtual machine with id \"{}\".",
                    id
                ),
                &format!("InvalidParameter,{}", cmdlet_class(&it.cur_command)),
                ErrorCategory::InvalidArgument,
            );
            e.target_name = id.to_string();
            e.target_type = "Guid".into();
            it.write_error(e)?;
        }
        return Ok(hits);
    }
    if names.is_empty() {
        return Ok(if default_all { all } else { Vec::new() });
    }
    let mut out: Vec<fakedc_model::Vm> = Vec::new();
    for n in &names {
        let hits: Vec<_> = all
            .iter()
            .filter(|vm| ops::wildcard(n, &vm.name, false))
            .cloned()
            .collect();
        if hits.is_empty() && !n.contains(['*', '?']) {
            let mut e = ErrorRecord::new(
                "Microsoft.HyperV.PowerShell.VirtualizationException",
                format!("Hyper-V was unable to find a virtual machine with name \"{n}\"."),
                &format!("InvalidParameter,{}", cmdlet_class(&it.cur_command)),
                ErrorCategory::InvalidArgument,
            );
            e.target_name = n.clone();
            e.target_type = "String".into();
            it.write_error(e)?;
        }
        for h in hits {
            if !out.iter().any(|o| o.id == h.id) {
                out.push(h);
            }
        }
    }
    Ok(out)
}

fn get_vm(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let vms = select_vms(it, a, &input, true)?;
    Ok(vms.iter().map(|vm| vm_object(it, vm)).collect())
}

/// Applies a power change to each VM through the model (the chassis WMI's
/// RequestStateChange and SMASH act on); `Err(message)` is Hyper-V's
/// refusal for the VM's current state.
fn vm_action(
    it: &mut Interp<'_>,
    a: &Args,
    input: Vec<Value>,
    act: fn(&mut fakedc_model::Chassis, std::time::Instant) -> Result<(), &'static str>,
) -> Res<Vec<Value>> {
    let vms = select_vms(it, a, &input, false)?;
    if vms.is_empty() && a.strs("Name").is_empty() && a.get("VM").is_none() && input.is_empty() {
        return Err(crate::eval::missing_argument("Name", "System.String[]").into());
    }
    let model = it.rs.ctx.model.clone();
    let mut out = Vec::new();
    for vm in vms {
        let now = model.clock.now();
        let r = model.with_chassis(vm.chassis, now, |c| act(c, now));
        if let Err(why) = r {
            let mut e = ErrorRecord::new(
                "Microsoft.HyperV.PowerShell.VirtualizationException",
                why.to_string(),
                &format!("InvalidState,{}", cmdlet_class(&it.cur_command)),
                ErrorCategory::InvalidOperation,
            );
            e.target_name = vm.name.clone();
            e.target_type = "VirtualMachine".into();
            it.write_error(e)?;
            continue;
        }
        if a.switch("Passthru") {
            out.push(vm_object(it, &vm));
        }
    }
    Ok(out)
}

fn start_vm(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    if a.switch("AsJob") {
        return not_implemented_cmdlet(it, "Start-VM -AsJob");
    }
    vm_action(it, a, input, |c, now| {
        if c.suspended.is_some() {
            c.resume(now);
        } else if c.power == PowerState::Off {
            c.power_action(PowerAction::On, now);
        }
        Ok(())
    })
}

fn stop_vm(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    if a.switch("AsJob") {
        return not_implemented_cmdlet(it, "Stop-VM -AsJob");
    }
    if a.switch("Save") {
        return vm_action(it, a, input, |c, now| {
            if c.power == PowerState::Off {
                return Err("The operation cannot be performed while the virtual machine is in its current state.");
            }
            c.save(now);
            Ok(())
        });
    }
    if a.switch("TurnOff") {
        return vm_action(it, a, input, |c, now| {
            c.power_action(PowerAction::Off, now);
            Ok(())
        });
    }
    // A guest shutdown, as Hyper-V's shutdown integration service does;
    // Stop-VM returns once the VM is off, so wait (bounded, in real time)
    // for the model's shutdown delay.
    let vms = select_vms(it, a, &input, false)?;
    let r = vm_action(it, a, input, |c, now| {
        match (c.power, c.suspended) {
            (PowerState::Off, None) => {}
            (_, Some(_)) => c.power_action(PowerAction::Off, now),
            _ => c.power_action(PowerAction::Soft, now),
        }
        Ok(())
    })?;
    let model = it.rs.ctx.model.clone();
    for vm in &vms {
        let rounds = it.rs.ctx.limits.max_wait.as_millis() / 50;
        for _ in 0..rounds.min(600) {
            let off = model.with_chassis(vm.chassis, model.clock.now(), |c| {
                c.power == PowerState::Off
            });
            if off {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            it.tick()?;
            if it.rs.stopping() {
                return Err(Flow::Halt(Box::new(crate::PipelineState::Stopped)));
            }
        }
    }
    Ok(r)
}

fn restart_vm(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    if a.switch("AsJob") || a.switch("Wait") {
        return not_implemented_cmdlet(it, "Restart-VM -AsJob/-Wait");
    }
    vm_action(it, a, input, |c, now| {
        if c.power == PowerState::Off {
            return Err("The operation cannot be performed while the virtual machine is in its current state.");
        }
        c.power_action(PowerAction::Reset, now);
        Ok(())
    })
}

fn suspend_vm(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    vm_action(it, a, input, |c, now| {
        if c.power == PowerState::Off {
            return Err("The operation cannot be performed while the virtual machine is in its current state.");
        }
        c.pause(now);
        Ok(())
    })
}

fn resume_vm(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    vm_action(it, a, input, |c, now| {
        if c.suspended != Some(Suspension::Paused) {
            return Err("The operation cannot be performed while the virtual machine is in its current state.");
        }
        c.resume(now);
        Ok(())
    })
}

fn save_vm(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    vm_action(it, a, input, |c, now| {
        if c.power == PowerState::Off {
            return Err("The operation cannot be performed while the virtual machine is in its current state.");
        }
        c.save(now);
        Ok(())
    })
}

fn get_vmhost(it: &mut Interp<'_>, _: &mut Args, _: Vec<Value>) -> Res<Vec<Value>> {
    let model = it.rs.ctx.model.clone();
    let m = model.machine(it.rs.ctx.machine);
    let fqdn = m.dns_name.clone();
    let cpu = model.compute(m.chassis);
    Ok(vec![Value::Object(PsObject {
        type_names: vec![
            "Microsoft.HyperV.PowerShell.VMHost".into(),
            "Microsoft.HyperV.PowerShell.VirtualizationObject".into(),
            "System.Object".into(),
        ],
        properties: vec![
            ("Name".into(), Value::String(m.name.to_ascii_uppercase())),
            (
                "LogicalProcessorCount".into(),
                Value::Int32(i32::try_from(cpu.logical_processors()).unwrap_or(i32::MAX)),
            ),
            (
                "MemoryCapacity".into(),
                Value::Int64(i64::try_from(cpu.visible_memory_bytes()).unwrap_or(i64::MAX)),
            ),
            ("FullyQualifiedDomainName".into(), Value::String(fqdn)),
            (
                "VirtualMachinePath".into(),
                Value::str("C:\\ProgramData\\Microsoft\\Windows\\Hyper-V"),
            ),
            (
                "VirtualHardDiskPath".into(),
                Value::str("C:\\Users\\Public\\Documents\\Hyper-V\\Virtual Hard Disks"),
            ),
            ("VirtualMachineMigrationEnabled".into(), Value::Bool(false)),
            ("NumaSpanningEnabled".into(), Value::Bool(true)),
            ("MacAddressMinimum".into(), Value::str("00155D000000")),
            ("MacAddressMaximum".into(), Value::str("00155D00FFFF")),
            (
                "SupportedVmVersions".into(),
                Value::Array(
                    ["5.0", "6.2", "7.0", "8.0", "9.0"]
                        .iter()
                        .map(|s| Value::str(*s))
                        .collect(),
                ),
            ),
        ],
        to_string: "Microsoft.HyperV.PowerShell.VMHost".into(),
    })])
}

fn get_vm_network_adapter(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    if a.switch("ManagementOS") || a.switch("All") {
        return not_implemented_cmdlet(it, "Get-VMNetworkAdapter -ManagementOS/-All");
    }
    let vms = select_vms(it, a, &input, false)?;
    if vms.is_empty() && a.strs("Name").is_empty() && input.is_empty() && a.get("VM").is_none() {
        return Err(crate::eval::missing_argument("VMName", "System.String[]").into());
    }
    let model = it.rs.ctx.model.clone();
    let mut out = Vec::new();
    for vm in vms {
        let now = model.clock.now();
        let (hw, up) = model.with_chassis(vm.chassis, now, |c| (c.hardware.clone(), c.os_up()));
        let g = hw.smbios_guid;
        let mac = format!("00155D{:02X}{:02X}{:02X}", g[13], g[14], g[15]);
        let ips: Vec<Value> = match (vm.guest, up) {
            (Some(gm), true) => vec![Value::String(model.machine(gm).address.to_string())],
            _ => Vec::new(),
        };
        let running = model.with_chassis(vm.chassis, now, |c| c.power.power_on());
        out.push(Value::Object(PsObject {
            type_names: vec![
                "Microsoft.HyperV.PowerShell.VMNetworkAdapter".into(),
                "Microsoft.HyperV.PowerShell.VirtualizationObject".into(),
                "System.Object".into(),
            ],
            properties: vec![
                ("Name".into(), Value::str("Network Adapter")),
                ("IsManagementOs".into(), Value::Bool(false)),
                ("VMName".into(), Value::String(vm.name.clone())),
                ("SwitchName".into(), Value::str("External")),
                ("MacAddress".into(), Value::String(mac)),
                (
                    "Status".into(),
                    Value::Array(if running {
                        vec![Value::str("Ok")]
                    } else {
                        Vec::new()
                    }),
                ),
                ("IPAddresses".into(), Value::Array(ips)),
                ("Connected".into(), Value::Bool(true)),
                ("DynamicMacAddressEnabled".into(), Value::Bool(true)),
            ],
            to_string: format!(
                "VMNetworkAdapter (Name = 'Network Adapter', VMName = '{}')",
                vm.name
            ),
        }));
    }
    Ok(out)
}

#[allow(dead_code)]
fn unused(_: Arc<()>) {}

/// Hyper-V's most checkpoints per VM.
const MAX_CHECKPOINTS: usize = 50;
/// Hyper-V's longest checkpoint name.
const MAX_CHECKPOINT_NAME: usize = 100;
const VM_SNAPSHOT: &str = "Microsoft.HyperV.PowerShell.VMSnapshot";

/// A checkpoint as `Get-VMSnapshot` writes it.
fn snapshot_object(
    it: &Interp<'_>,
    vm: &fakedc_model::Vm,
    cp: &fakedc_model::chassis::Checkpoint,
    all: &[fakedc_model::chassis::Checkpoint],
) -> Value {
    let model = &it.rs.ctx.model;
    let host = model.machine(it.rs.ctx.machine).name.to_ascii_uppercase();
    let parent = cp
        .parent
        .as_ref()
        .and_then(|p| all.iter().find(|c| &c.id == p));
    Value::Object(PsObject {
        type_names: vec![
            VM_SNAPSHOT.into(),
            "Microsoft.HyperV.PowerShell.VirtualMachineBase".into(),
            "Microsoft.HyperV.PowerShell.VirtualizationObject".into(),
            "System.Object".into(),
        ],
        properties: vec![
            ("VMName".into(), Value::String(vm.name.clone())),
            ("Name".into(), Value::String(cp.name.clone())),
            ("SnapshotType".into(), Value::str("Production")),
            (
                "CreationTime".into(),
                Value::DateTime(crate::value::DateTime::from_unix_millis(
                    cp.created_unix_ms,
                    false,
                )),
            ),
            (
                "ParentSnapshotName".into(),
                parent.map_or(Value::Null, |p| Value::String(p.name.clone())),
            ),
            (
                "ParentSnapshotId".into(),
                parent.map_or(Value::Null, |p| Value::Guid(p.id.clone())),
            ),
            ("Id".into(), Value::Guid(cp.id.clone())),
            ("VMId".into(), Value::Guid(vm_guid(vm, model))),
            ("ComputerName".into(), Value::String(host)),
            ("IsDeleted".into(), Value::Bool(false)),
        ],
        to_string: format!("VMSnapshot (Name = '{}') [VMName = '{}']", cp.name, vm.name),
    })
}

/// Hyper-V's error for something it cannot do to a VM or checkpoint.
fn hyperv_error(
    it: &mut Interp<'_>,
    msg: String,
    id: &str,
    category: ErrorCategory,
    target: &str,
    ty: &str,
) -> Res<()> {
    let mut e = ErrorRecord::new(
        "Microsoft.HyperV.PowerShell.VirtualizationException",
        msg,
        &format!("{id},{}", cmdlet_class(&it.cur_command)),
        category,
    );
    e.target_name = target.to_string();
    e.target_type = ty.to_string();
    it.write_error(e)
}

fn checkpoint_vm(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    if a.switch("AsJob") {
        return not_implemented_cmdlet(it, "Checkpoint-VM -AsJob");
    }
    let vms = select_vms(it, a, &input, false)?;
    if vms.is_empty() && a.strs("Name").is_empty() && a.get("VM").is_none() && input.is_empty() {
        return Err(crate::eval::missing_argument("Name", "System.String[]").into());
    }
    let model = it.rs.ctx.model.clone();
    let mut out = Vec::new();
    for vm in vms {
        let now = dotnet::now(it, false);
        // Hyper-V's default: "<VM> - (M/d/yyyy - h:mm:ss tt)".
        let name = match a.get("SnapshotName") {
            Some(n) => n.to_string(),
            None => {
                let t = crate::value::format_datetime_en_us(&now);
                let (d, tm) = t.split_once(' ').unwrap_or((t.as_str(), ""));
                format!("{} - ({d} - {tm})", vm.name)
            }
        };
        if name.is_empty() || name.chars().count() > MAX_CHECKPOINT_NAME {
            hyperv_error(
                it,
                format!("The checkpoint name must be 1 to {MAX_CHECKPOINT_NAME} characters long."),
                "InvalidParameter",
                ErrorCategory::InvalidArgument,
                &vm.name,
                "VirtualMachine",
            )?;
            continue;
        }
        let mut id = dotnet::new_guid(it);
        let ms = model.clock.unix_millis() as i64;
        let taken = loop {
            let r = model.with_chassis(vm.chassis, model.clock.now(), |c| {
                if c.checkpoints.len() >= MAX_CHECKPOINTS {
                    return Err(false);
                }
                if c.checkpoints.iter().any(|x| x.id == id) {
                    return Err(true);
                }
                let cp = fakedc_model::chassis::Checkpoint {
                    id: id.clone(),
                    name: name.clone(),
                    created_unix_ms: ms,
                    parent: c.checkpoints.last().map(|x| x.id.clone()),
                };
                c.checkpoints.push(cp.clone());
                c.generation += 1;
                Ok((cp, c.checkpoints.clone()))
            });
            match r {
                Err(true) => id = dotnet::new_guid(it),
                other => break other,
            }
        };
        match taken {
            Ok((cp, all)) => {
                if a.switch("Passthru") {
                    out.push(snapshot_object(it, &vm, &cp, &all));
                }
            }
            Err(_) => hyperv_error(
                it,
                format!(
                    "Checkpoint operation failed for '{}': the virtual machine already has the maximum of {MAX_CHECKPOINTS} checkpoints.",
                    vm.name
                ),
                "OperationFailed",
                ErrorCategory::LimitsExceeded,
                &vm.name,
                "VirtualMachine",
            )?,
        }
    }
    Ok(out)
}

/// The checkpoints a snapshot cmdlet names: VMSnapshot objects (from
/// `-VMSnapshot` or the pipeline), or `-Name` (wildcards, all when absent
/// and `all_by_default`) on the VMs `-VMName`/`-VM` name. A name matching
/// none writes Hyper-V's error for it.
fn select_checkpoints(
    it: &mut Interp<'_>,
    a: &Args,
    input: Vec<Value>,
    all_by_default: bool,
) -> Res<Vec<(fakedc_model::Vm, fakedc_model::chassis::Checkpoint)>> {
    let model = it.rs.ctx.model.clone();
    let me = it.rs.ctx.machine;
    let mut snaps: Vec<(String, String)> = Vec::new();
    let mut vm_objs = Vec::new();
    for v in a
        .get("VMSnapshot")
        .map(|v| v.clone().into_items())
        .unwrap_or_default()
        .into_iter()
        .chain(input)
    {
        match &v {
            Value::Object(o) if o.type_name() == VM_SNAPSHOT => snaps.push((
                o.get("VMName").map(|n| n.to_string()).unwrap_or_default(),
                o.get("Id").map(|n| n.to_string()).unwrap_or_default(),
            )),
            _ => vm_objs.push(v),
        }
    }
    let mut out = Vec::new();
    if !snaps.is_empty() {
        for (vm_name, id) in snaps {
            let vm = model
                .machine(me)
                .vms
                .iter()
                .find(|v| v.name.eq_ignore_ascii_case(&vm_name))
                .cloned();
            let cp = vm.as_ref().and_then(|vm| {
                model.with_chassis(vm.chassis, model.clock.now(), |c| {
                    c.checkpoints
                        .iter()
                        .find(|x| x.id.eq_ignore_ascii_case(&id))
                        .cloned()
                })
            });
            match (vm, cp) {
                (Some(vm), Some(cp)) => out.push((vm, cp)),
                _ => hyperv_error(
                    it,
                    format!("Hyper-V was unable to find a checkpoint with id \"{id}\"."),
                    "ObjectNotFound",
                    ErrorCategory::ObjectNotFound,
                    &id,
                    "Guid",
                )?,
            }
        }
        return Ok(out);
    }
    let vms = select_vms_by(it, a, "VMName", &vm_objs, false)?;
    if vms.is_empty() && a.strs("VMName").is_empty() && a.get("VM").is_none() && vm_objs.is_empty()
    {
        return Err(crate::eval::missing_argument("VMName", "System.String[]").into());
    }
    let names = a.strs("Name");
    for vm in vms {
        let all = model.with_chassis(vm.chassis, model.clock.now(), |c| c.checkpoints.clone());
        if names.is_empty() {
            if all_by_default {
                out.extend(all.into_iter().map(|cp| (vm.clone(), cp)));
            }
            continue;
        }
        for n in &names {
            let hits: Vec<_> = all
                .iter()
                .filter(|cp| ops::wildcard(n, &cp.name, false))
                .cloned()
                .collect();
            if hits.is_empty() && !n.contains(['*', '?']) {
                hyperv_error(
                    it,
                    format!(
                        "Hyper-V was unable to find a checkpoint with name \"{n}\" for the virtual machine \"{}\".",
                        vm.name
                    ),
                    "ObjectNotFound",
                    ErrorCategory::ObjectNotFound,
                    n,
                    "String",
                )?;
            }
            for h in hits {
                if !out
                    .iter()
                    .any(|(_, o): &(_, fakedc_model::chassis::Checkpoint)| o.id == h.id)
                {
                    out.push((vm.clone(), h));
                }
            }
        }
    }
    Ok(out)
}

fn get_vm_snapshot(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    let want = a.get("SnapshotType").map(|t| t.to_string());
    let list = select_checkpoints(it, a, input, true)?;
    let model = it.rs.ctx.model.clone();
    let mut out = Vec::new();
    for (vm, cp) in list {
        if want
            .as_ref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("Production"))
        {
            continue;
        }
        let all = model.with_chassis(vm.chassis, model.clock.now(), |c| c.checkpoints.clone());
        out.push(snapshot_object(it, &vm, &cp, &all));
    }
    Ok(out)
}

/// Applies a checkpoint: a production checkpoint holds no running state,
/// so the VM is off afterwards (turned off first if it was on).
fn restore_vm_snapshot(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    if a.switch("AsJob") {
        return not_implemented_cmdlet(it, "Restore-VMSnapshot -AsJob");
    }
    let list = select_checkpoints(it, a, input, false)?;
    let model = it.rs.ctx.model.clone();
    let mut out = Vec::new();
    for (vm, cp) in list {
        let now = model.clock.now();
        let all = model.with_chassis(vm.chassis, now, |c| {
            if c.power != PowerState::Off || c.suspended.is_some() {
                c.power_action(PowerAction::Off, now);
            }
            c.generation += 1;
            c.checkpoints.clone()
        });
        if a.switch("Passthru") {
            out.push(snapshot_object(it, &vm, &cp, &all));
        }
    }
    Ok(out)
}

/// Deletes checkpoints; a deleted one's children hang from its parent, or
/// go with it under `-IncludeAllChildSnapshots`.
fn remove_vm_snapshot(it: &mut Interp<'_>, a: &mut Args, input: Vec<Value>) -> Res<Vec<Value>> {
    if a.switch("AsJob") {
        return not_implemented_cmdlet(it, "Remove-VMSnapshot -AsJob");
    }
    let list = select_checkpoints(it, a, input, true)?;
    let model = it.rs.ctx.model.clone();
    let mut out = Vec::new();
    for (vm, cp) in list {
        let subtree = a.switch("IncludeAllChildSnapshots");
        let before = model.with_chassis(vm.chassis, model.clock.now(), |c| {
            let before = c.checkpoints.clone();
            let mut gone = vec![cp.id.clone()];
            if subtree {
                // Parents come before children: one pass collects the tree.
                for x in &before {
                    if x.parent.as_ref().is_some_and(|p| gone.contains(p)) {
                        gone.push(x.id.clone());
                    }
                }
            }
            c.checkpoints.retain(|x| !gone.contains(&x.id));
            for x in &mut c.checkpoints {
                if x.parent.as_ref() == Some(&cp.id) {
                    x.parent = cp.parent.clone();
                }
            }
            c.generation += 1;
            before
        });
        if a.switch("Passthru") {
            out.push(snapshot_object(it, &vm, &cp, &before));
        }
    }
    Ok(out)
}
