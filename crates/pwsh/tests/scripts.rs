//! The evaluator against scripts, on the default scenario's Hyper-V host
//! with a share in a temporary directory.

use fakedc_pwsh::console::{self, ConsoleOutput};
use fakedc_pwsh::{
    CimError, CimInstance, ExternalOutput, Host, HostContext, Limits, Runspace, Value,
};
use std::sync::Arc;

struct TestHost;

impl Host for TestHost {
    fn run_external(&self, line: &str) -> ExternalOutput {
        if line.to_ascii_lowercase().starts_with("ipconfig") {
            return ExternalOutput {
                stdout: b"\r\nWindows IP Configuration\r\n".to_vec(),
                ..Default::default()
            };
        }
        ExternalOutput {
            stderr: b"nope\r\n".to_vec(),
            exit_code: 1,
            ..Default::default()
        }
    }
    fn cim_instances(&self, ns: &str, class: &str) -> Result<Vec<CimInstance>, CimError> {
        if ns != "root/cimv2" {
            return Err(CimError::InvalidNamespace);
        }
        if class != "Win32_Service" {
            return Err(CimError::InvalidClass);
        }
        Ok(vec![CimInstance {
            class: "Win32_Service".into(),
            namespace: ns.into(),
            properties: vec![
                ("Name".into(), Value::str("WinRM")),
                (
                    "DisplayName".into(),
                    Value::str("Windows Remote Management (WS-Management)"),
                ),
                ("State".into(), Value::str("Running")),
                ("StartMode".into(), Value::str("Auto")),
            ],
        }])
    }
    fn environment(&self) -> Vec<(String, String)> {
        vec![
            ("COMPUTERNAME".into(), "HV01".into()),
            (
                "TEMP".into(),
                "C:\\Users\\Administrator\\AppData\\Local\\Temp".into(),
            ),
        ]
    }
}

fn runspace() -> Runspace {
    let sc = fakedc_scenario::Scenario::default_scenario();
    let model = Arc::new(sc.model());
    let hv = model.find("hv01").expect("hv01").id;
    let dir = std::env::temp_dir().join(format!(
        "pwsh-test-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let share =
        cap_std::fs::Dir::open_ambient_dir(&dir, cap_std::ambient_authority()).expect("share");
    Runspace::new(HostContext {
        model,
        machine: hv,
        user: "Administrator".into(),
        share: Some(Arc::new(share)),
        host: Arc::new(TestHost),
        limits: Limits::default(),
        service: "test".into(),
    })
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn run(script: &str) -> ConsoleOutput {
    let mut rs = runspace();
    console::run(&mut rs, script)
}

fn out(script: &str) -> String {
    let o = run(script);
    assert!(o.stderr.is_empty(), "{script}: {:?}", o.stderr);
    o.stdout
}

#[test]
fn arithmetic_and_variables() {
    assert_eq!(out("$x = 1 + 1; $x"), "2\r\n");
    assert_eq!(
        out("2 * 3 + 4; 7 / 2; 10 % 3; '5' + 1; 5 + '1'"),
        "10\r\n3.5\r\n1\r\n51\r\n6\r\n"
    );
    assert_eq!(
        out("$a = @(1,2,3); $a.Count; $a[-1]; ($a | Measure-Object -Sum).Sum"),
        "3\r\n3\r\n6\r\n"
    );
    assert_eq!(
        out("\"{0}-{1:N1}\" -f 'a', 2.25"),
        "a-2.3\r\n".replace("2.3", &format!("{:.1}", 2.25f64))
    );
    assert_eq!(
        out("$h = @{a=1}; $h.b = 2; $h['c'] = 3; $h.Count; $h.b"),
        "3\r\n2\r\n"
    );
    assert_eq!(
        out("$s = 'abc'; $s.ToUpper(); $s.Length; \"x$($s.Substring(1))y\""),
        "ABC\r\n3\r\nxbcy\r\n"
    );
}

#[test]
fn version_comparison_and_psversiontable() {
    assert_eq!(
        out("if ($PSVersionTable.PSVersion -lt [Version]'5.1') { 'old'; exit 1 } else { 'ok' }"),
        "ok\r\n"
    );
    assert_eq!(
        out("$PSVersionTable.PSVersion.ToString()"),
        "5.1.17763.5458\r\n"
    );
    assert_eq!(out("$PSVersionTable.PSVersion.Major"), "5\r\n");
    let o = out("[Environment]::OSVersion.Version");
    assert!(
        o.contains("Major  Minor  Build  Revision") && o.contains("10     0      17763  0"),
        "{o:?}"
    );
}

#[test]
fn control_flow() {
    assert_eq!(
        out("$s = 0; foreach ($i in 1..4) { if ($i -eq 3) { continue }; $s += $i }; $s"),
        "7\r\n"
    );
    assert_eq!(
        out("for ($i = 0; $i -lt 3; $i++) { $i }"),
        "0\r\n1\r\n2\r\n"
    );
    assert_eq!(
        out("$i = 0; while ($true) { $i++; if ($i -gt 4) { break } }; $i"),
        "5\r\n"
    );
    assert_eq!(
        out("switch (2) { 1 { 'one' } 2 { 'two' } default { 'd' } }"),
        "two\r\n"
    );
    assert_eq!(
        out("try { throw 'boom' } catch { \"caught $($_.Exception.Message)\" } finally { 'f' }"),
        "caught boom\r\nf\r\n"
    );
    assert_eq!(
        out("function f([int]$a, $b = 'x') { \"$a$b\" }; f 4; f -b y -a 5"),
        "4x\r\n5y\r\n"
    );
    assert_eq!(
        out("function g { param($n) if ($n -le 1) { return 1 }; $n * (g ($n - 1)) }; g 5"),
        "120\r\n"
    );
    assert_eq!(
        out("1..5 | Where-Object { $_ % 2 } | ForEach-Object { $_ * 10 }"),
        "10\r\n30\r\n50\r\n"
    );
}

#[test]
fn hyper_v_cmdlets_over_the_model() {
    let o = out("Get-VM | Where-Object State -eq 'Running' | Select-Object -ExpandProperty Name");
    assert!(!o.is_empty(), "some VM runs in the default scenario");
    let all = out("(Get-VM).Count");
    assert!(all.trim().parse::<i32>().expect("count") >= 1);
    let mut rs = runspace();
    let first = console::run(&mut rs, "(Get-VM | Select-Object -First 1).Name")
        .stdout
        .trim()
        .to_string();
    let r = console::run(
        &mut rs,
        &format!("Stop-VM -Name '{first}' -TurnOff; (Get-VM -Name '{first}').State"),
    );
    assert_eq!(r.stdout, "Off\r\n", "{r:?}");
    let r = console::run(&mut rs, "Get-VM -Name nosuchvm");
    assert_eq!(r.exit_code, 1);
    assert!(
        r.stderr[0]
            .1
            .contains("Hyper-V was unable to find a virtual machine with name \"nosuchvm\"."),
        "{r:?}"
    );
}

#[test]
fn errors_and_not_implemented() {
    let r = run("Get-Frob");
    assert_eq!(r.exit_code, 1);
    assert!(
        r.stderr[0]
            .1
            .starts_with("Get-Frob : The term 'Get-Frob' is not recognized"),
        "{r:?}"
    );
    for (script, needle) in [
        ("Add-Type -TypeDefinition 'public class X {}'", "Add-Type"),
        ("trap { 'x' }; 1", "trap"),
        ("class Foo { }", "class"),
        ("Get-WinEvent -LogName System", "Get-WinEvent"),
        ("[System.Xml.XmlDocument]::new()", "System.Xml.XmlDocument"),
        ("New-Object -ComObject WScript.Shell", "ComObject"),
        (
            "Invoke-Command -ComputerName other01 -ScriptBlock { 1 }",
            "Invoke-Command -ComputerName",
        ),
        ("ping 127.0.0.1", "ping"),
    ] {
        let r = run(script);
        assert_eq!(r.exit_code, 1, "{script}: {r:?}");
        assert!(
            r.stderr
                .iter()
                .any(|(_, t)| t.contains(needle) && t.contains("NotImplemented")),
            "{script}: {r:?}"
        );
    }
    let r = run("'before'; Add-Type -AssemblyName System.Web; 'after'");
    assert_eq!(
        r.stdout, "before\r\n",
        "a missing construct stops the script"
    );
}

#[test]
fn native_programs_go_through_the_host() {
    let r = run("ipconfig");
    assert!(r.stdout.contains("Windows IP Configuration"), "{r:?}");
    assert_eq!(r.exit_code, 0);
}

#[test]
fn files_on_the_share() {
    let mut rs = runspace();
    let r = console::run(&mut rs, "New-Item -ItemType Directory C:\\temp | Out-Null; Set-Content -Path C:\\temp\\a.txt -Value 'hello'; Get-Content C:\\temp\\a.txt; Test-Path C:\\TEMP\\A.TXT; (Get-FileHash C:\\temp\\a.txt -Algorithm SHA1).Hash");
    assert_eq!(
        r.stdout,
        "hello\r\nTrue\r\n7D7C3B8B5E9D3E0F8A56D3E5C7F71C9E9C1B12D7\r\n".replace(
            "7D7C3B8B5E9D3E0F8A56D3E5C7F71C9E9C1B12D7",
            &sha1_hex(b"hello\r\n")
        ),
        "{r:?}"
    );
    let r = console::run(
        &mut rs,
        "Test-Path C:\\..\\..\\etc\\passwd; Get-Content D:\\x",
    );
    assert!(r.stdout.starts_with("False"), "{r:?}");
}

fn sha1_hex(b: &[u8]) -> String {
    use sha1::Digest;
    sha1::Sha1::digest(b)
        .iter()
        .map(|x| format!("{x:02X}"))
        .collect()
}

#[test]
fn limits_stop_runaway_scripts() {
    let mut rs = runspace();
    let r = console::run(&mut rs, "while ($true) { $x++ }");
    assert_eq!(r.exit_code, 1);
    assert!(r.stderr[0].1.contains("ScriptBudgetExceeded"), "{r:?}");
    let r = console::run(&mut rs, "function f { f }; f");
    assert!(r.stderr[0].1.contains("CallDepthOverflow"), "{r:?}");
    let r = console::run(&mut rs, "$s = 'x' * 100000000");
    assert_eq!(r.exit_code, 1, "{r:?}");
}

#[test]
fn copy_and_fetch_scripts_of_pypsrp() {
    use base64::Engine as _;
    use fakedc_pwsh::{Command, Pipeline};
    let copy = include_str!("data/copy.ps1");
    let fetch = include_str!("data/fetch.ps1");
    let mut rs = runspace();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut input: Vec<Value> = data
        .chunks(30_000)
        .map(|c| Value::String(b64.encode(c)))
        .collect();
    let hash: String = {
        use sha1::Digest;
        sha1::Sha1::digest(&data)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
    };
    input.push(Value::String(b64.encode(hash.as_bytes())));
    let p = Pipeline::Commands(vec![Command::script(copy)
        .arg(Value::str("C:\\dest.bin"))
        .arg(Value::Bool(false))]);
    let inv = rs.invoke(&p, input);
    assert!(inv.errors.is_empty(), "{:?}", inv.errors);
    assert_eq!(inv.output, vec![Value::str("C:\\dest.bin")]);
    let p = Pipeline::Commands(vec![Command::script(fetch)
        .arg(Value::str("C:\\dest.bin"))
        .arg(Value::Bool(false))]);
    let inv = rs.invoke(&p, Vec::new());
    assert!(inv.errors.is_empty(), "{:?}", inv.errors);
    let (last, chunks) = inv.output.split_last().expect("output");
    assert_eq!(last, &Value::String(hash));
    let mut back = Vec::new();
    for c in chunks {
        back.extend(b64.decode(c.to_string()).expect("b64"));
    }
    assert_eq!(back, data);
}

/// A bare `&` where an argument would start is PowerShell's
/// AmpersandNotAllowed parse error (the argument loop once pushed empty
/// arguments forever on it: the fuzz target's out-of-memory).
#[test]
fn an_ampersand_in_argument_position_is_a_parse_error() {
    for s in ["& &", "&\t\0&", "echo a & b", "Write-Output 1 &"] {
        let o = run(s);
        assert!(o.stdout.is_empty(), "{s:?}: {:?}", o.stdout);
        let err: String = o.stderr.iter().map(|(_, t)| t.as_str()).collect();
        assert!(err.contains("AmpersandNotAllowed"), "{s:?}: {err}");
    }
}

/// A streaming invocation hands items out as statements end, loop bodies
/// at the top level included, in the order written; what a captured loop
/// (`$x = foreach ...`) or a function writes is not handed out early; the
/// sink plus the rest is exactly what `invoke` returns.
#[test]
fn streaming_hands_out_items_as_statements_end() {
    use fakedc_pwsh::{Pipeline, Stream};
    use std::sync::Mutex;
    let script = "foreach ($i in 1..3) { $i; Write-Host \"h$i\" }\n\
                  $x = foreach ($j in 1..2) { $j }\n\
                  function f { 'f1'; 'f2' }\n\
                  f; \"x=$x\"";
    let batches: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let b = batches.clone();
    let mut rs = runspace();
    let (inv, given) = rs.invoke_streaming(
        &Pipeline::Script(script.into()),
        Vec::new(),
        Box::new(move |inv, range| {
            let items = inv.order[range]
                .iter()
                .map(|(s, i)| match s {
                    Stream::Output => inv.output[*i].to_string(),
                    Stream::Information => format!("host:{}", inv.information[*i].message),
                    other => format!("{other:?}"),
                })
                .collect();
            b.lock().unwrap().push(items);
        }),
    );
    assert_eq!(given, inv.order.len());
    let batches = batches.lock().unwrap().clone();
    // Each loop statement's item is out before the next one runs.
    assert_eq!(batches[0], ["1"]);
    assert_eq!(batches[1], ["host:h1"]);
    assert_eq!(batches[2], ["2"]);
    let all: Vec<String> = batches.concat();
    assert_eq!(
        all,
        ["1", "host:h1", "2", "host:h2", "3", "host:h3", "f1", "f2", "x=1 2"]
    );
    // The function's two items come together, after it returns.
    assert!(batches.iter().any(|b| b == &["f1", "f2"]), "{batches:?}");
    let plain = runspace().invoke(&Pipeline::Script(script.into()), Vec::new());
    assert_eq!(plain.order, inv.order);
    assert_eq!(plain.output, inv.output);
}

/// A VM's State is Hyper-V's `VMState` enum: it prints and compares with
/// strings by name (any case), with numbers by value, reports its type,
/// converts to its number; ordering it against a name that is no member
/// is PowerShell's conversion error.
#[test]
fn vm_state_is_an_enum() {
    let o = out(
        "$s = (Get-VM | Where-Object State -eq 'Running' | Select-Object -First 1).State\n\
         $s.GetType().Name; $s.GetType().FullName; \"$s\"; $s -eq 'RUNNING'; $s -eq 2; [int]$s\n\
         $s -ne 'Off'; $s.ToString(); $s | ConvertTo-Json",
    );
    assert_eq!(
        o.lines().collect::<Vec<_>>(),
        [
            "VMState",
            "Microsoft.HyperV.PowerShell.VMState",
            "Running",
            "True",
            "True",
            "2",
            "True",
            "Running",
            "2"
        ]
    );
    // -eq with a value that does not convert is False, as
    // LanguagePrimitives.Equals; -lt must convert, and fails.
    assert_eq!(
        out("(Get-VM | Select-Object -First 1).State -eq 'Sideways'"),
        "False\r\n"
    );
    let r = run("(Get-VM | Select-Object -First 1).State -lt 'Sideways'");
    let err: String = r.stderr.iter().map(|(_, t)| t.as_str()).collect();
    assert!(
        err.contains(
            "Cannot convert value \"Sideways\" to type \"Microsoft.HyperV.PowerShell.VMState\""
        ),
        "{err}"
    );
}

/// Checkpoints over the model: Checkpoint-VM takes them (named, or with
/// Hyper-V's default name), Get-VMSnapshot/Get-VMCheckpoint list them with
/// their parent, Restore-VMSnapshot leaves a running VM off, and
/// Remove-VMSnapshot deletes one piped in; a name that matches nothing is
/// Hyper-V's error.
#[test]
fn checkpoints_over_the_model() {
    let mut rs = runspace();
    let vm = console::run(
        &mut rs,
        "Get-VM | Where-Object State -eq 'Running' | Select-Object -First 1 -ExpandProperty Name",
    )
    .stdout
    .trim()
    .to_string();
    assert!(!vm.is_empty());
    let o = console::run(
        &mut rs,
        &format!(
            "Checkpoint-VM -Name {vm} -SnapshotName before\n\
             (Checkpoint-VM {vm} second -Passthru).ParentSnapshotName\n\
             Checkpoint-VM -Name {vm}\n\
             (Get-VMSnapshot -VMName {vm}).Count\n\
             (Get-VMSnapshot {vm})[2].Name -like \"{vm} - (*/*/* - *:*:* ?M)\"\n\
             Get-VMCheckpoint -VMName {vm} -Name sec* | Select-Object -ExpandProperty Name\n\
             (Get-VMSnapshot {vm} -Name second).GetType().FullName\n\
             Restore-VMSnapshot -Name before -VMName {vm}\n\
             (Get-VM -Name {vm}).State\n\
             Get-VMSnapshot -VMName {vm} -Name second | Remove-VMSnapshot\n\
             (Get-VMSnapshot -VMName {vm}).Name -join ','\n\
             (Get-VMSnapshot -VMName {vm})[1].ParentSnapshotName"
        ),
    );
    assert!(o.stderr.is_empty(), "{:?}", o.stderr);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0], "before");
    assert_eq!(lines[1], "3");
    assert_eq!(lines[2], "True");
    assert_eq!(lines[3], "second");
    assert_eq!(lines[4], "Microsoft.HyperV.PowerShell.VMSnapshot");
    assert_eq!(lines[5], "Off");
    assert!(lines[6].starts_with("before,"), "{lines:?}");
    // The removed one's child now hangs from its parent.
    assert_eq!(lines[7], "before");
    // Out-Default's table, with the Hyper-V module's columns.
    let t = console::run(&mut rs, &format!("Get-VMSnapshot -VMName {vm}")).stdout;
    let head: Vec<&str> = t.lines().filter(|l| !l.trim().is_empty()).take(3).collect();
    assert_eq!(
        head[0].split_whitespace().collect::<Vec<_>>(),
        [
            "VMName",
            "Name",
            "SnapshotType",
            "CreationTime",
            "ParentSnapshotName"
        ],
        "{t}"
    );
    assert!(
        head[2].starts_with(&format!("{vm} ")) && head[2].contains("Production"),
        "{t}"
    );
    let r = console::run(
        &mut rs,
        &format!("Get-VMSnapshot -VMName {vm} -Name nosuch"),
    );
    let err: String = r.stderr.iter().map(|(_, t)| t.as_str()).collect();
    assert!(
        err.contains("Hyper-V was unable to find a checkpoint with name \"nosuch\""),
        "{err}"
    );
}
