//! PowerShell remoting (MS-PSRP) with the real client: pypsrp's
//! `RunspacePool`/`PowerShell` API against a Hyper-V host's
//! `.../powershell/Microsoft.PowerShell` shell, over Basic on HTTPS and
//! over NTLM with message encryption on HTTP. Hostile PSRP data on a live
//! pool gets WS-Man faults and the pool keeps serving. A missing client
//! fails these tests (`./scripts/test` installs pypsrp).

use fakedc::{Query, ServiceKind};

use crate::common;
use crate::common::{ca_file, line, lines, python as run};

const SCENARIO: &str = r#"
[defaults]
boot_delay_ms = 300
shutdown_delay_ms = 300

[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.82.0.1"
[machine.options.winrm]
psrp_configurations = ["Fabrikam.Jea"]

[[machine.vm]]
name = "web01"
guest = "guest01"
state = "running"

[[machine.vm]]
name = "db01"
state = "off"

[[machine]]
name = "guest01"
role = "vm-guest"
address = "127.82.0.2"
"#;

const USER: &str = "Administrator";
const PASSWORD: &str = "P@ssw0rd!";

fn pypsrp(dc: &fakedc::Datacenter, ssl: bool, auth: &str, steps: &[&str]) -> String {
    let ca = ca_file(dc, &format!("psrp-{auth}-{ssl}-{}", steps.join("-")));
    let kind = if ssl {
        ServiceKind::WinrmHttps
    } else {
        ServiceKind::WinrmHttp
    };
    let ep = dc.endpoint("hv01", kind).expect("endpoint");
    let mut args = vec![
        ep.ip().to_string(),
        ep.port().to_string(),
        if ssl { "1" } else { "0" }.to_string(),
        auth.to_string(),
        USER.to_string(),
        PASSWORD.to_string(),
        ca.to_str().expect("path").to_string(),
    ];
    args.extend(steps.iter().map(|s| s.to_string()));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run("pypsrp", "psrp_pypsrp.py", &a);
    let _ = std::fs::remove_file(ca);
    out
}

/// The pool opens as on Windows (state Opened, protocol 2.3, the
/// `$PSVersionTable` in the application private data), answers
/// GET_AVAILABLE_RUNSPACES and SET_MAX/MIN_RUNSPACES, and closes.
fn assert_pool(out: &str) {
    assert_eq!(line(out, "OPENED"), "2", "{out}");
    assert_eq!(line(out, "PROTOCOL"), "2.3");
    // Windows Server 2019's PowerShell 5.1 (build 17763).
    assert!(
        line(out, "APD_PSVERSION").starts_with("5.1.17763."),
        "{out}"
    );
    assert_eq!(lines(out, "AVAILABLE"), ["1", "3"], "{out}");
    assert_eq!(line(out, "MAX"), "3");
    // A minimum above the maximum is refused (false in
    // RUNSPACE_AVAILABILITY), which pypsrp raises as an error.
    assert_eq!(line(out, "MIN_REFUSED"), "InvalidPSRPOperation", "{out}");
    assert_eq!(line(out, "CLOSED"), "ok");
}

#[test]
fn pypsrp_pool_basic_https_and_hostile_data() {
    let dc = common::start(SCENARIO);
    let out = pypsrp(
        &dc,
        true,
        "basic",
        &["pool", "hostile", "timeout", "unknown_config"],
    );
    assert_pool(&out);
    let hostile = lines(&out, "HOSTILE");
    assert_eq!(hostile.len(), 8, "{out}");
    for h in &hostile {
        // Every one is a WS-Man fault (a WSManFault code), none accepted.
        let code = h.split_whitespace().nth(1).unwrap_or_default();
        assert!(code.parse::<u64>().is_ok(), "{h}");
    }
    assert!(
        hostile
            .iter()
            .any(|h| h.starts_with("public_key") && h.contains("PUBLIC_KEY is not implemented")),
        "{out}"
    );
    assert!(
        hostile
            .iter()
            .any(|h| h.starts_with("unknown_type") && h.contains("0x00049999")),
        "{out}"
    );
    // The pool still answers after all of it.
    assert_eq!(line(&out, "HOSTILE_AFTER"), "3");
    // An empty Receive waits its OperationTimeout (1 s), then w:TimedOut.
    let t = line(&out, "TIMEOUT");
    assert!(t.starts_with("2150858793 "), "{out}");
    let waited: f64 = t[11..].parse().expect("seconds");
    assert!((0.9..5.0).contains(&waited), "{out}");
    // A configuration the host has not registered: WinRM's fault.
    assert!(line(&out, "UNKNOWN_CONFIG").parse::<u64>().is_ok(), "{out}");
    // The journal has the pool's life under `psrp`, never the password.
    let j = dc.journal(&Query {
        machine: Some("hv01".into()),
        service: Some("psrp".into()),
        ..Default::default()
    });
    assert!(
        j.iter().any(|e| e.operation.starts_with("psrp open")),
        "{j:?}"
    );
    assert!(
        j.iter().any(|e| e.operation.starts_with("psrp close")),
        "{j:?}"
    );
    let all = serde_json::to_string(&dc.journal(&Query::default())).expect("json");
    assert!(!all.contains(PASSWORD));
}

#[test]
fn pypsrp_pool_ntlm_encrypted_http() {
    let dc = common::start(SCENARIO);
    let out = pypsrp(&dc, false, "ntlm", &["pool"]);
    assert_pool(&out);
}

/// A long pipeline streams: pypsrp's `begin_invoke` returns at once and
/// `poll_invoke` receives each item as the loop writes it, while the
/// pipeline still runs; MS-PSRP's stop Signal ends it Stopped with
/// PipelineStopped (what it had not written never comes), pypsrp's own
/// `stop()` ends another, and the pool's runspace is free at once after.
#[test]
fn pypsrp_streamed_output_and_stop() {
    let dc = common::start(SCENARIO);
    let out = pypsrp(&dc, false, "ntlm", &["stream"]);
    // Three items in hand while the pipeline is still Running (1): they
    // came as the loop wrote them, not at its end (40 s of sleep later).
    assert_eq!(
        line(&out, "STREAM_OUTPUT"),
        "['item 1', 'item 2', 'item 3']",
        "{out}"
    );
    assert_eq!(line(&out, "STREAM_RUNNING_STATE"), "1", "{out}");
    // The stop Signal: Stopped (3), PowerShell's PipelineStopped record,
    // and nothing after the items ('never' is not written).
    assert_eq!(line(&out, "STREAM_STOPPED_STATE"), "3", "{out}");
    assert_eq!(line(&out, "STREAM_FINAL"), line(&out, "STREAM_OUTPUT"));
    let errs = lines(&out, "STREAM_ERROR");
    assert_eq!(errs.len(), 1, "{out}");
    assert!(
        errs[0].starts_with("PipelineStopped|OperationStopped"),
        "{out}"
    );
    assert_eq!(line(&out, "STREAM_STOP2_STATE"), "3", "{out}");
    assert_eq!(line(&out, "STREAM_AFTER"), "['after']", "{out}");
    // Both sleeping pipelines ended stopped in the evaluator (the journal
    // says so), so neither held the runspace for its 40 s.
    let j = dc.journal(&Query {
        machine: Some("hv01".into()),
        service: Some("psrp".into()),
        operation: Some("psrp pipeline".into()),
        ..Default::default()
    });
    for what in ["'never'", "'late'"] {
        assert!(
            j.iter()
                .any(|e| e.outcome.contains(what) && e.outcome.contains(") stopped")),
            "{what}: {j:?}"
        );
    }
    assert!(
        j.iter()
            .any(|e| e.outcome.contains("('after') completed: 1 output")),
        "{j:?}"
    );
}

/// Checkpoints over PSRP: pypsrp runs Checkpoint-VM -Passthru and gets a
/// typed VMSnapshot; Get-VMCheckpoint piped into Restore-VMSnapshot applies
/// it, the running VM is off after, and WMI sees it off too.
#[test]
fn pypsrp_checkpoint_and_restore() {
    let dc = common::start(SCENARIO);
    let out = pypsrp(
        &dc,
        false,
        "ntlm",
        &["wmi:web01", "checkpoint:web01", "wmi:web01"],
    );
    assert_eq!(line(&out, "CHECKPOINT_STATE"), "4", "{out}");
    assert_eq!(
        line(&out, "CHECKPOINT_OBJ"),
        "Microsoft.HyperV.PowerShell.VMSnapshot web01 before-patch Production",
        "{out}"
    );
    assert_eq!(
        line(&out, "CHECKPOINT_RESTORE"),
        "['before-patch', 'Off']",
        "{out}"
    );
    assert_eq!(lines(&out, "WMI_STATE"), ["web01 2", "web01 3"], "{out}");
}

/// A configuration the scenario registers opens like the default one.
#[test]
fn scenario_configuration_opens() {
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, "psrp-jea");
    let ep = dc
        .endpoint("hv01", ServiceKind::WinrmHttps)
        .expect("endpoint");
    let out = run(
        "pypsrp",
        "psrp_config.py",
        &[
            &ep.ip().to_string(),
            &ep.port().to_string(),
            USER,
            PASSWORD,
            ca.to_str().expect("path"),
            "Fabrikam.Jea",
        ],
    );
    let _ = std::fs::remove_file(ca);
    assert_eq!(line(&out, "OPENED"), "2", "{out}");
}

/// Pipelines on the evaluator, as pypsrp sees them: a script's answer, the
/// VMs as typed `Microsoft.HyperV.PowerShell.VirtualMachine` objects with
/// their properties, a service as `System.ServiceProcess.ServiceController`,
/// a missing command's CommandNotFoundException, input objects through
/// `process {}`, the warning stream; then `Stop-VM -TurnOff` on a running
/// VM, which WMI (Msvm_ComputerSystem) sees off and whose guest goes dark.
#[test]
fn pypsrp_pipelines_typed_objects_and_stop_vm() {
    let dc = common::start(SCENARIO);
    let guest = dc
        .endpoint("guest01", ServiceKind::WinrmHttp)
        .expect("guest endpoint");
    assert!(
        std::net::TcpStream::connect(guest).is_ok(),
        "guest up first"
    );
    let out = pypsrp(
        &dc,
        false,
        "ntlm",
        &[
            "version",
            "getvm",
            "service",
            "error",
            "input",
            "merge",
            "wmi:web01",
            "stopvm:web01",
            "wmi:web01",
        ],
    );
    assert_eq!(
        line(&out, "VERSION"),
        format!("['{}']", line(&out, "APD_PSVERSION")),
        "{out}"
    );
    assert_eq!(line(&out, "VERSION_STATE"), "4", "{out}"); // Completed
                                                           // The runspace sees the host's process environment, as powershell.exe does.
    assert_eq!(line(&out, "ENV_COMPUTERNAME"), "['HV01']", "{out}");
    assert_eq!(line(&out, "GETVM_COUNT"), "2", "{out}");
    assert_eq!(
        lines(&out, "GETVM_TYPE"),
        ["Microsoft.HyperV.PowerShell.VirtualMachine"; 2]
    );
    assert_eq!(lines(&out, "GETVM_VM"), ["web01 Running", "db01 Off"]);
    // State is Hyper-V's VMState enum: its type, its name, its number.
    assert_eq!(
        lines(&out, "GETVM_STATE_ENUM"),
        [
            "Microsoft.HyperV.PowerShell.VMState Running [2]",
            "Microsoft.HyperV.PowerShell.VMState Off [3]"
        ],
        "{out}"
    );
    assert_eq!(
        line(&out, "SERVICE_TYPE"),
        "System.ServiceProcess.ServiceController"
    );
    assert_eq!(line(&out, "SERVICE"), "WinRM Running");
    // A command that does not exist fails the pipeline with PowerShell's
    // CommandNotFoundException, once.
    assert_eq!(line(&out, "ERROR_STATE"), "5", "{out}"); // Failed
    let errs = lines(&out, "ERROR_ERROR");
    assert_eq!(errs.len(), 1, "{out}");
    assert!(
        errs[0].starts_with("CommandNotFoundException|ObjectNotFound (Get-Frobnicator:String)"),
        "{out}"
    );
    // Strings in, `$_ * 2` repeats them, as PowerShell does.
    assert_eq!(line(&out, "INPUT"), "['11', '22', '33']");
    assert_eq!(line(&out, "MERGE_OUT"), "['out']");
    assert_eq!(line(&out, "MERGE_WARN"), "['careful']");
    assert_eq!(lines(&out, "WMI_STATE"), ["web01 2", "web01 3"], "{out}");
    assert_eq!(line(&out, "STOPVM_STATE"), "4", "{out}");
    assert_eq!(line(&out, "STOPVM_AFTER"), "['Off']");
    assert_eq!(dc.machine_state("guest01").expect("guest").power, "off");
    assert!(
        common::wait_until(std::time::Duration::from_secs(5), || {
            std::net::TcpStream::connect(guest).is_err()
        }),
        "the guest's WinRM still answers after Stop-VM"
    );
    // One journal entry per pipeline, under psrp, naming what ran.
    let j = dc.journal(&Query {
        machine: Some("hv01".into()),
        service: Some("psrp".into()),
        operation: Some("psrp pipeline".into()),
        ..Default::default()
    });
    assert!(
        j.iter().any(|e| e.outcome.contains("(Get-VM) completed")),
        "{j:?}"
    );
    assert!(
        j.iter()
            .any(|e| e.outcome.contains("(Get-Frobnicator) failed")),
        "{j:?}"
    );
}

/// Ansible's `psrp` connection (ansible-core with pypsrp) running
/// `ansible.builtin.raw` PowerShell over Basic on HTTPS.
#[test]
fn ansible_psrp_raw() {
    let dc = common::start(SCENARIO);
    let tmp = common::Temp::new("psrp-ansible");
    let ep = dc
        .endpoint("hv01", ServiceKind::WinrmHttps)
        .expect("endpoint");
    let inv = tmp.path("inventory.ini");
    std::fs::write(
        &inv,
        format!(
            "[win]\nhv01 ansible_host={} ansible_port={}\n\n[win:vars]\nansible_connection=psrp\nansible_user={USER}\nansible_password={PASSWORD}\nansible_psrp_protocol=https\nansible_psrp_auth=basic\nansible_psrp_cert_validation=ignore\n",
            ep.ip(),
            ep.port()
        ),
    )
    .expect("inventory");
    let ansible = |cmd: &str| {
        let out = std::process::Command::new("ansible")
            .args([
                "-i",
                inv.to_str().expect("path"),
                "hv01",
                "-m",
                "ansible.builtin.raw",
                "-a",
                cmd,
            ])
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_LOCAL_TEMP", tmp.path("ansible-tmp"))
            .env("ANSIBLE_HOME", tmp.path("ansible-home"))
            .env("NO_PROXY", "*")
            .output()
            .expect("ansible is installed (./scripts/test installs ansible-core)");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "ansible {cmd}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let out = ansible("$PSVersionTable.PSVersion");
    assert!(out.contains("hv01 | CHANGED | rc=0 >>"), "{out}");
    assert!(out.lines().any(|l| l.trim() == "5.1.17763.5458"), "{out}");
    let out = ansible("Get-VM | Select-Object -ExpandProperty Name");
    let names: Vec<&str> = out.lines().skip(1).map(str::trim).collect();
    assert_eq!(names, ["web01", "db01"], "{out}");
    // Ansible's modules compile C# with Add-Type: that fails naming it.
    let out = std::process::Command::new("ansible")
        .args([
            "-i",
            inv.to_str().expect("path"),
            "hv01",
            "-m",
            "ansible.builtin.raw",
            "-a",
            "Add-Type -TypeDefinition 'public class X {}'",
        ])
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_LOCAL_TEMP", tmp.path("ansible-tmp"))
        .env("ANSIBLE_HOME", tmp.path("ansible-home"))
        .output()
        .expect("ansible");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("hv01 | FAILED | rc=1 >>"), "{text}");
    assert!(text.contains("Add-Type"), "{text}");
}

/// pypsrp's `Client.fetch()` (its fetch.ps1 over PSRP: FileStream, SHA-1,
/// base64 chunks) of a file put into the host's `C$` over SMB with
/// smbclient comes back byte for byte.
#[test]
fn pypsrp_fetch_of_a_file_put_over_smb() {
    let dc = common::start(SCENARIO);
    let tmp = common::Temp::new("psrp-fetch");
    // 300 KB that do not compress or repeat: several fetch chunks.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let data: Vec<u8> = (0..300_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(tmp.path("src.bin"), &data).expect("write");
    let smb = dc.endpoint("hv01", ServiceKind::Smb).expect("smb");
    let out = std::process::Command::new("smbclient")
        .arg(format!("//{}/C$", smb.ip()))
        .args(["-p", &smb.port().to_string()])
        .args(["-U", &format!("{USER}%{PASSWORD}")])
        .args(["-c", "mkdir data; put src.bin data\\put.bin"])
        .current_dir(&tmp.0)
        .output()
        .expect("smbclient is installed (./scripts/test installs it)");
    assert!(
        out.status.success(),
        "smbclient: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ca = ca_file(&dc, "psrp-fetch");
    let ep = dc
        .endpoint("hv01", ServiceKind::WinrmHttps)
        .expect("endpoint");
    let local = tmp.path("back.bin");
    let out = run(
        "pypsrp",
        "psrp_fetch.py",
        &[
            &ep.ip().to_string(),
            &ep.port().to_string(),
            USER,
            PASSWORD,
            ca.to_str().expect("path"),
            "C:\\data\\put.bin",
            local.to_str().expect("path"),
        ],
    );
    let _ = std::fs::remove_file(ca);
    assert!(out.contains("FETCHED"), "{out}");
    assert!(
        std::fs::read(&local).expect("fetched") == data,
        "not byte-exact"
    );
}

/// pypsrp's `Client.copy()` (its copy.ps1 over PSRP: base64 chunks as
/// pipeline input, FileStream writes, a SHA-1 check) puts a file into the
/// host's `C$`, and smbclient gets it back byte for byte.
#[test]
fn pypsrp_copy_then_smb_get() {
    let dc = common::start(SCENARIO);
    let tmp = common::Temp::new("psrp-copy");
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let data: Vec<u8> = (0..200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let src = tmp.path("src.bin");
    std::fs::write(&src, &data).expect("write");
    let ca = ca_file(&dc, "psrp-copy");
    let ep = dc
        .endpoint("hv01", ServiceKind::WinrmHttps)
        .expect("endpoint");
    let out = run(
        "pypsrp",
        "psrp_copy.py",
        &[
            &ep.ip().to_string(),
            &ep.port().to_string(),
            USER,
            PASSWORD,
            ca.to_str().expect("path"),
            src.to_str().expect("path"),
            "C:\\up.bin",
        ],
    );
    let _ = std::fs::remove_file(ca);
    assert!(out.contains("COPIED"), "{out}");
    let smb = dc.endpoint("hv01", ServiceKind::Smb).expect("smb");
    let got = std::process::Command::new("smbclient")
        .arg(format!("//{}/C$", smb.ip()))
        .args(["-p", &smb.port().to_string()])
        .args(["-U", &format!("{USER}%{PASSWORD}")])
        .args(["-c", "get up.bin back.bin"])
        .current_dir(&tmp.0)
        .output()
        .expect("smbclient is installed (./scripts/test installs it)");
    assert!(
        got.status.success(),
        "smbclient: {}{}",
        String::from_utf8_lossy(&got.stdout),
        String::from_utf8_lossy(&got.stderr)
    );
    assert!(
        std::fs::read(tmp.path("back.bin")).expect("got") == data,
        "not byte-exact"
    );
}
