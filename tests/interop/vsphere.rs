//! The vSphere SDK (vim25 on `/sdk`, datastore transfer on `/folder`) with
//! pyvmomi, the real client (`tests/python/vsphere_pyvmomi.py`): SmartConnect
//! verifying the scenario CA, a container view of every VM, PropertyCollector
//! paging, power tasks seen by the ESXi shell over SSH and by the guest's
//! WinRM, SearchIndex, the datastore browser and `/folder` byte-exact and
//! seen over SFTP, faults (InvalidLogin, MethodNotFound, InvalidProperty);
//! and govmomi, the Go library govc and Terraform's provider are built on
//! (Debian's package, driven by `tests/govmomi/main.go`): about, ls, power,
//! datastore upload/download/browse. A missing client fails these tests; it
//! never skips them.

use crate::common::{ca_file, line, lines, python, wait_until, Temp};
use fakedc::{Datacenter, ServiceKind};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

const ESXI: &str = r#"
[defaults]
boot_delay_ms = 300
shutdown_delay_ms = 200

[[machine]]
name = "esxi01"
role = "esxi-host"
address = "127.84.0.1"

[[machine.vm]]
name = "web01"
guest = "guest01"
state = "running"

[[machine.vm]]
name = "db01"
state = "off"

[[machine.vm]]
name = "app01"
state = "running"

[[machine]]
name = "guest01"
role = "vm-guest"
address = "127.84.0.2"
"#;

const VCENTER: &str = r#"
[[machine]]
name = "esxi01"
role = "esxi-host"
address = "127.84.1.1"

[[machine.vm]]
name = "web01"
state = "running"

[[machine]]
name = "esxi02"
role = "esxi-host"
address = "127.84.1.2"

[[machine.vm]]
name = "db01"
state = "off"

[[machine]]
name = "esxi03"
role = "esxi-host"
address = "127.84.1.3"

[[machine.vm]]
name = "lonely01"

[[machine]]
name = "vc01"
role = "vcenter"
address = "127.84.1.10"
[machine.options.vsphere]
manages = ["esxi01", "esxi02"]
"#;

fn start(scenario: &str, protocols: &[&str]) -> Datacenter {
    Datacenter::builder()
        .scenario_str(scenario)
        .ephemeral()
        .protocols(protocols)
        .start()
        .expect("start")
}

/// Runs one command of the pyvmomi driver against a machine's SDK.
fn pyvmomi(
    dc: &Datacenter,
    ca: &std::path::Path,
    machine: &str,
    creds: (&str, &str),
    args: &[&str],
) -> String {
    let kind = if machine.starts_with("vc") {
        ServiceKind::VmwareWebServices
    } else {
        ServiceKind::EsxiHttps
    };
    let a = dc.endpoint(machine, kind).expect("sdk endpoint");
    let (host, port) = (a.ip().to_string(), a.port().to_string());
    let ca = ca.display().to_string();
    let mut all = vec![host.as_str(), port.as_str(), creds.0, creds.1, ca.as_str()];
    all.extend_from_slice(args);
    python("pyVmomi", "vsphere_pyvmomi.py", &all)
}

const ROOT: (&str, &str) = ("root", "VMware1!");

fn require(program: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "{program} is missing: ./scripts/test installs it");
}

fn ssh_opts(addr: SocketAddr) -> Vec<String> {
    vec![
        "-o".into(),
        "StrictHostKeyChecking=no".into(),
        "-o".into(),
        "UserKnownHostsFile=/dev/null".into(),
        "-o".into(),
        "LogLevel=ERROR".into(),
        "-o".into(),
        "PubkeyAuthentication=no".into(),
        // `sftp -b` implies BatchMode, which would forbid the password.
        "-o".into(),
        "BatchMode=no".into(),
        "-P".into(),
        addr.port().to_string(),
    ]
}

/// `vim-cmd` over the ESXi host's SSH.
fn vim_cmd(dc: &Datacenter, machine: &str, cmd: &str) -> String {
    require("sshpass");
    let a = dc
        .endpoint(machine, ServiceKind::Ssh)
        .expect("ssh endpoint");
    let mut opts = ssh_opts(a);
    opts[10] = "-p".into();
    let o = Command::new("sshpass")
        .env("SSHPASS", ROOT.1)
        .args(["-e", "ssh"])
        .args(&opts)
        .arg(format!("root@{}", a.ip()))
        .arg(cmd)
        .stdin(Stdio::null())
        .output()
        .expect("ssh");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn winrm_answers(dc: &Datacenter) -> bool {
    let a = dc
        .endpoint("guest01", ServiceKind::WinrmHttp)
        .expect("winrm");
    TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_ok()
}

#[test]
fn vsphere_pyvmomi_session_inventory_paging_and_faults_on_esxi() {
    let dc = start(ESXI, &["vsphere", "bits"]);
    let ca = ca_file(&dc, "vsphere-esxi");
    let out = pyvmomi(&dc, &ca, "esxi01", ROOT, &["about"]);
    assert_eq!(line(&out, "apiType"), "HostAgent", "{out}");
    assert_eq!(line(&out, "apiVersion"), "8.0.3.0");
    assert_eq!(line(&out, "session-user"), "root");
    assert_eq!(line(&out, "active"), "True");
    assert_eq!(line(&out, "clock"), "True");
    assert_eq!(line(&out, "root"), "ha-folder-root");
    assert_eq!(line(&out, "after-logout"), "NotAuthenticated");

    let out = pyvmomi(&dc, &ca, "esxi01", ROOT, &["vms"]);
    let vms = lines(&out, "vm");
    assert_eq!(vms.len(), 3, "{out}");
    assert!(
        vms[0].starts_with(
            "app01 poweredOn None toolsNotInstalled [datastore1] app01/app01.vmx esxi01."
        ),
        "{out}"
    );
    assert!(vms[1].starts_with("db01 poweredOff None"), "{out}");
    assert!(
        vms[2].starts_with("web01 poweredOn 127.84.0.2 toolsOk [datastore1] web01/web01.vmx"),
        "{out}"
    );
    assert_eq!(line(&out, "datacenter"), "ha-datacenter");
    assert!(line(&out, "host").ends_with("connected 3"), "{out}");
    assert_eq!(line(&out, "datastore"), "datastore1 VMFS");
    // An unset property (no snapshot) reads as None, never a fault.
    assert_eq!(line(&out, "snapshot"), "None");

    let out = pyvmomi(&dc, &ca, "esxi01", ROOT, &["page", "1"]);
    assert_eq!(
        lines(&out, "page"),
        vec!["1 1 token", "2 1 token", "3 1 last"],
        "{out}"
    );
    assert_eq!(
        line(&out, "objects"),
        "app01=poweredOn,db01=poweredOff,web01=poweredOn"
    );
    assert_eq!(line(&out, "legacy"), "3");
    let out = pyvmomi(&dc, &ca, "esxi01", ROOT, &["page", "2"]);
    assert_eq!(lines(&out, "page"), vec!["1 2 token", "2 1 last"], "{out}");

    let out = pyvmomi(
        &dc,
        &ca,
        "esxi01",
        ROOT,
        &["find", "ha-datacenter/vm/web01"],
    );
    assert_eq!(line(&out, "found"), "vim.VirtualMachine:1:web01", "{out}");
    let out = pyvmomi(&dc, &ca, "esxi01", ROOT, &["find", "ha-datacenter/vm/nope"]);
    assert_eq!(line(&out, "found"), "None");

    let out = pyvmomi(&dc, &ca, "esxi01", ("root", "wrong"), &["badlogin"]);
    assert!(line(&out, "fault").starts_with("InvalidLogin"), "{out}");
    let out = pyvmomi(&dc, &ca, "esxi01", ROOT, &["unimplemented"]);
    assert_eq!(
        line(&out, "fault"),
        "MethodNotFound AcquireMksTicket",
        "{out}"
    );
    assert_eq!(line(&out, "still-serving"), "ha-folder-root");
    let out = pyvmomi(&dc, &ca, "esxi01", ROOT, &["badprop"]);
    assert_eq!(line(&out, "fault"), "InvalidProperty no.such.path", "{out}");
    assert_eq!(line(&out, "still-serving"), "ha-folder-root");

    // Every call is journaled with method, object, user and outcome.
    let j = dc.journal(&fakedc::Query::default());
    assert!(j
        .iter()
        .any(|e| e.operation == "Login ha-sessionmgr" && e.outcome == "fault InvalidLogin"));
    assert!(j
        .iter()
        .any(|e| e.operation.starts_with("AcquireMksTicket ")
            && e.user.as_deref() == Some("root")
            && e.outcome == "fault MethodNotFound"));
}

#[test]
fn vsphere_power_tasks_are_the_models_seen_by_ssh_and_winrm() {
    let dc = start(ESXI, &["vsphere", "ssh", "wsman"]);
    let ca = ca_file(&dc, "vsphere-power");
    assert!(vim_cmd(&dc, "esxi01", "vim-cmd vmsvc/power.getstate 1").contains("Powered on"));
    assert!(
        winrm_answers(&dc),
        "guest01's WinRM should answer while web01 runs"
    );

    let out = pyvmomi(&dc, &ca, "esxi01", ROOT, &["power", "web01", "off"]);
    assert_eq!(
        line(&out, "task"),
        "success VirtualMachine.powerOff web01",
        "{out}"
    );
    assert_eq!(line(&out, "power"), "poweredOff");
    assert_eq!(line(&out, "again"), "InvalidPowerState poweredOff");
    assert_eq!(line(&out, "event"), "vim.event.VmPoweredOffEvent");
    let st = vim_cmd(&dc, "esxi01", "vim-cmd vmsvc/power.getstate 1");
    assert!(st.contains("Powered off"), "{st}");
    assert!(
        wait_until(Duration::from_secs(5), || !winrm_answers(&dc)),
        "guest01's WinRM still answers after PowerOffVM_Task"
    );

    let out = pyvmomi(&dc, &ca, "esxi01", ROOT, &["power", "web01", "on"]);
    assert_eq!(
        line(&out, "task"),
        "success VirtualMachine.powerOn web01",
        "{out}"
    );
    assert_eq!(line(&out, "power"), "poweredOn");
    assert_eq!(line(&out, "again"), "InvalidPowerState poweredOn");
    let st = vim_cmd(&dc, "esxi01", "vim-cmd vmsvc/power.getstate 1");
    assert!(st.contains("Powered on"), "{st}");
    assert!(
        wait_until(Duration::from_secs(10), || winrm_answers(&dc)),
        "guest01's WinRM did not come back after PowerOnVM_Task"
    );
}

/// Tasks as vCenter runs them (queued, running with progress, success) and
/// the operations that need model state: maintenance mode on the host and
/// Destroy_Task of a powered-off VM, which `vim-cmd` then no longer lists.
#[test]
fn vsphere_tasks_run_on_the_clock_maintenance_mode_and_destroy() {
    // Long enough phases that pyvmomi's first read sees `queued`.
    let scenario = ESXI.replace(
        "address = \"127.84.0.1\"\n",
        "address = \"127.84.0.1\"\n[machine.options.vsphere]\ntask_queued_ms = 1000\ntask_running_ms = 1000\n",
    );
    assert_ne!(scenario, ESXI);
    let dc = start(&scenario, &["vsphere", "ssh"]);
    let ca = ca_file(&dc, "vsphere-lifecycle");
    assert!(vim_cmd(&dc, "esxi01", "vim-cmd vmsvc/getallvms").contains("db01"));
    let out = pyvmomi(&dc, &ca, "esxi01", ROOT, &["lifecycle"]);
    assert_eq!(line(&out, "first"), "queued", "{out}");
    assert_eq!(line(&out, "states"), "queued,running,success", "{out}");
    assert_eq!(line(&out, "progress-rises"), "True", "{out}");
    assert_eq!(line(&out, "times"), "True", "{out}");
    assert_eq!(line(&out, "power"), "poweredOff", "{out}");
    assert_eq!(
        line(&out, "destroy-on"),
        "InvalidPowerState poweredOn",
        "{out}"
    );
    assert_eq!(line(&out, "enter-busy"), "Timedout", "{out}");
    assert_eq!(line(&out, "enter"), "success True", "{out}");
    assert_eq!(
        line(&out, "poweron-in-maintenance"),
        "InvalidHostState",
        "{out}"
    );
    assert_eq!(line(&out, "exit"), "success False", "{out}");
    assert_eq!(line(&out, "exit-again"), "InvalidState", "{out}");
    assert_eq!(line(&out, "destroy"), "success", "{out}");
    assert_eq!(line(&out, "left"), "app01,web01 2", "{out}");
    assert_eq!(line(&out, "destroyed"), "ManagedObjectNotFound", "{out}");
    let events = line(&out, "events");
    for e in [
        "EnteredMaintenanceModeEvent",
        "ExitMaintenanceModeEvent",
        "VmRemovedEvent",
        "VmPoweredOffEvent",
    ] {
        assert!(events.contains(e), "{e} missing: {out}");
    }
    // The ESXi shell agrees: db01 (vmid 2) is gone, the others keep their ids.
    let all = vim_cmd(&dc, "esxi01", "vim-cmd vmsvc/getallvms");
    assert!(!all.contains("db01"), "{all}");
    assert!(all.contains("web01") && all.contains("app01"), "{all}");
    let st = vim_cmd(&dc, "esxi01", "vim-cmd vmsvc/power.getstate 2");
    assert!(!st.contains("Powered"), "{st}");
    let st = vim_cmd(&dc, "esxi01", "vim-cmd vmsvc/power.getstate 3");
    assert!(st.contains("Powered off"), "{st}");
}

/// `curl` output (headers and body) of one request, certificate unchecked.
fn curl(url: &str, args: &[&str]) -> String {
    require("curl");
    let o = Command::new("curl")
        .args(["-k", "-sS", "-i"])
        .args(args)
        .arg(url)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// ESXi's welcome page on `GET /` beside BITS on the same 443: nmap
/// recognises the ESXi Web UI, BITS still answers its Ping on `/`, and
/// vCenter answers its getting-started page.
#[test]
fn vsphere_welcome_page_on_get_slash_beside_bits() {
    let dc = start(VCENTER, &["vsphere", "bits"]);
    let esxi = dc
        .endpoint("esxi01", ServiceKind::EsxiHttps)
        .expect("esxi 443");
    let vc = dc
        .endpoint("vc01", ServiceKind::VmwareWebServices)
        .expect("vcenter 443");
    let page = curl(&format!("https://{esxi}/"), &[]);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("\r\nX-Frame-Options: DENY\r\n"), "{page}");
    assert!(page.contains("content=\"0;URL='/ui'\""), "{page}");
    let head = curl(&format!("https://{esxi}/"), &["-I"]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // BITS keeps every other method on `/`: its Ping is acknowledged.
    let ping = curl(
        &format!("https://{esxi}/"),
        &[
            "-X",
            "BITS_POST",
            "-H",
            "BITS-Packet-Type: Ping",
            "-u",
            "root:VMware1!",
        ],
    );
    assert!(
        ping.to_ascii_lowercase().contains("bits-packet-type: ack"),
        "{ping}"
    );
    let page = curl(&format!("https://{vc}/"), &[]);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("href=\"/ui/\""), "{page}");

    require("nmap");
    let o = Command::new("nmap")
        .args(["-sV", "-Pn", "-n", "-p"])
        .arg(esxi.port().to_string())
        .arg(esxi.ip().to_string())
        .output()
        .expect("nmap");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let port = text
        .lines()
        .find(|l| l.starts_with(&format!("{}/tcp", esxi.port())))
        .unwrap_or_default();
    assert!(port.contains("VMware ESXi Web UI"), "{text}");
}

#[test]
fn vsphere_folder_transfer_is_byte_exact_jailed_and_seen_over_sftp() {
    let dc = start(ESXI, &["vsphere", "ssh"]);
    let ca = ca_file(&dc, "vsphere-folder");
    let tmp = Temp::new("vsphere-folder");
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let up = tmp.path("up.bin");
    std::fs::write(&up, &data).expect("write");
    let down = tmp.path("down.bin");
    let up_s = up.display().to_string();
    let down_s = down.display().to_string();

    let out = pyvmomi(
        &dc,
        &ca,
        "esxi01",
        ROOT,
        &["put", "datastore1", "iso/up.bin", &up_s],
    );
    assert_eq!(line(&out, "status"), "404", "no parent folder yet: {out}");
    std::fs::create_dir_all(dc.share("esxi01").expect("share").join("iso")).expect("mkdir");
    let out = pyvmomi(
        &dc,
        &ca,
        "esxi01",
        ROOT,
        &["put", "datastore1", "iso/up.bin", &up_s],
    );
    assert_eq!(line(&out, "status"), "201", "{out}");
    let out = pyvmomi(
        &dc,
        &ca,
        "esxi01",
        ROOT,
        &["put", "datastore1", "iso/up.bin", &up_s],
    );
    assert_eq!(line(&out, "status"), "200", "replacing: {out}");
    let out = pyvmomi(
        &dc,
        &ca,
        "esxi01",
        ROOT,
        &["get", "datastore1", "iso/up.bin", &down_s],
    );
    assert_eq!(line(&out, "status"), "200");
    assert!(
        std::fs::read(&down).expect("read") == data,
        "GET is not byte-exact"
    );
    let out = pyvmomi(
        &dc,
        &ca,
        "esxi01",
        ROOT,
        &["basic", "datastore1", "iso/up.bin"],
    );
    assert_eq!(line(&out, "status"), "200 3000000");
    let out = pyvmomi(
        &dc,
        &ca,
        "esxi01",
        ROOT,
        &["anon", "datastore1", "iso/up.bin"],
    );
    assert_eq!(
        line(&out, "status"),
        "401 Basic realm=\"VMware HTTP server\""
    );
    // `..` escaped so the client does not normalise it away: refused.
    let out = pyvmomi(
        &dc,
        &ca,
        "esxi01",
        ROOT,
        &["get", "datastore1", "raw:%2e%2e/%2e%2e/etc/passwd", &down_s],
    );
    assert_eq!(line(&out, "status"), "400", "{out}");
    // A symlink planted in the share that leads out of it: the cap-std
    // jail refuses it at the open.
    std::os::unix::fs::symlink("/etc", dc.share("esxi01").expect("share").join("etc"))
        .expect("symlink");
    let out = pyvmomi(
        &dc,
        &ca,
        "esxi01",
        ROOT,
        &["get", "datastore1", "etc/passwd", &down_s],
    );
    assert_ne!(line(&out, "status"), "200", "{out}");

    // The same file over SFTP, from the datastore SFTP serves.
    require("sshpass");
    require("sftp");
    let a = dc.endpoint("esxi01", ServiceKind::Ssh).expect("ssh");
    let batch = tmp.path("batch");
    let via = tmp.path("via-sftp.bin");
    std::fs::write(
        &batch,
        format!(
            "get /vmfs/volumes/datastore1/iso/up.bin {}\n",
            via.display()
        ),
    )
    .expect("batch");
    let o = Command::new("sshpass")
        .env("SSHPASS", ROOT.1)
        .args(["-e", "sftp"])
        .args(ssh_opts(a))
        .arg("-b")
        .arg(&batch)
        .arg(format!("root@{}", a.ip()))
        .stdin(Stdio::null())
        .output()
        .expect("sftp");
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        std::fs::read(&via).expect("read") == data,
        "SFTP sees other bytes"
    );

    // The datastore browser lists it.
    let out = pyvmomi(&dc, &ca, "esxi01", ROOT, &["browse", "", "is*"]);
    assert_eq!(line(&out, "folder"), "[datastore1]", "{out}");
    assert_eq!(lines(&out, "file").len(), 1, "{out}");
    assert!(line(&out, "file").starts_with("iso "), "{out}");
    let out = pyvmomi(&dc, &ca, "esxi01", ROOT, &["browse", "iso", "*.bin"]);
    assert_eq!(line(&out, "folder"), "[datastore1] iso", "{out}");
    assert_eq!(lines(&out, "file"), vec!["up.bin 3000000"], "{out}");

    // HEAD, then DELETE: gone for SFTP's datastore too.
    let out = pyvmomi(
        &dc,
        &ca,
        "esxi01",
        ROOT,
        &["head", "datastore1", "iso/up.bin"],
    );
    assert_eq!(line(&out, "status"), "200 3000000", "{out}");
    let out = pyvmomi(
        &dc,
        &ca,
        "esxi01",
        ROOT,
        &["delete", "datastore1", "iso/up.bin"],
    );
    assert_eq!(line(&out, "status"), "204", "{out}");
    assert!(!dc
        .share("esxi01")
        .expect("share")
        .join("iso/up.bin")
        .exists());
    let out = pyvmomi(
        &dc,
        &ca,
        "esxi01",
        ROOT,
        &["delete", "datastore1", "iso/up.bin"],
    );
    assert_eq!(line(&out, "status"), "404", "{out}");
    // Nothing fakedc keeps for itself (staging names) was left behind.
    let left: Vec<_> = std::fs::read_dir(dc.share("esxi01").expect("share").join("iso"))
        .expect("iso")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn vsphere_vcenter_manages_the_scenarios_esxi_hosts() {
    let dc = start(VCENTER, &["vsphere"]);
    let ca = ca_file(&dc, "vsphere-vc");
    let admin = ("administrator@vsphere.local", "VMware1!");
    let out = pyvmomi(&dc, &ca, "vc01", admin, &["about"]);
    assert_eq!(line(&out, "apiType"), "VirtualCenter", "{out}");
    assert_eq!(line(&out, "session-user"), "administrator@vsphere.local");
    let out = pyvmomi(&dc, &ca, "vc01", admin, &["vms"]);
    let vms = lines(&out, "vm");
    assert_eq!(vms.len(), 2, "{out}");
    assert!(
        vms[0].starts_with(
            "db01 poweredOff None toolsNotInstalled [datastore1 (1)] db01/db01.vmx esxi02."
        ),
        "{out}"
    );
    assert!(
        vms[1].starts_with(
            "web01 poweredOn None toolsNotInstalled [datastore1] web01/web01.vmx esxi01."
        ),
        "{out}"
    );
    assert_eq!(line(&out, "datacenter"), "Datacenter");
    assert_eq!(lines(&out, "host").len(), 2);
    let out = pyvmomi(&dc, &ca, "vc01", admin, &["find", "Datacenter/vm/db01"]);
    assert!(
        line(&out, "found").starts_with("vim.VirtualMachine:vm-"),
        "{out}"
    );
    let out = pyvmomi(&dc, &ca, "vc01", admin, &["power", "db01", "on"]);
    assert_eq!(
        line(&out, "task"),
        "success VirtualMachine.powerOn db01",
        "{out}"
    );
    let st = dc.machine_state("esxi02").expect("state");
    assert_eq!(st.vms[0].state, "booting", "{:?}", st.vms);
    // The ESXi host's own SDK sees the same VM on.
    let out = pyvmomi(&dc, &ca, "esxi02", ROOT, &["vms"]);
    assert!(line(&out, "vm").starts_with("db01 poweredOn"), "{out}");
}

#[test]
fn vsphere_hostile_input_gets_vsphere_faults_and_the_service_keeps_serving() {
    let dc = start(ESXI, &["vsphere"]);
    let ca = ca_file(&dc, "vsphere-hostile");
    let out = pyvmomi(&dc, &ca, "esxi01", ROOT, &["hostile"]);
    let case = |name: &str| {
        lines(&out, "case")
            .into_iter()
            .find(|l| l.split(' ').next() == Some(name))
            .unwrap_or_else(|| panic!("no case {name}:\n{out}"))
            .split_once(' ')
            .map(|(_, r)| r.trim().to_string())
            .unwrap_or_default()
    };
    for (name, want) in [
        ("malformed", "500 InvalidRequest"),
        ("entity", "500 InvalidRequest"),
        ("external", "500 InvalidRequest"),
        ("huge", "500 InvalidRequest"),
        ("deep", "500 InvalidRequest"),
        ("soap12", "500 InvalidRequest"),
        ("no-this", "500 InvalidRequest"),
        ("other-ns", "500 InvalidRequest"),
        ("unknown-object", "500 ManagedObjectNotFound"),
        ("unknown-method", "500 MethodNotFound"),
        ("unknown-type", "500 InvalidType"),
        ("bad-path", "500 InvalidProperty"),
        ("bad-view-type", "500 InvalidType"),
        ("spec-bomb", "500 InvalidArgument"),
    ] {
        assert_eq!(case(name), want, "{name}:\n{out}");
    }
    assert_eq!(line(&out, "still-serving"), "ha-folder-root");
}

#[test]
fn vsphere_wait_for_updates_ex_pages_idles_and_sees_power_changes() {
    let dc = start(ESXI, &["vsphere"]);
    let ca = ca_file(&dc, "vsphere-updates");
    let out = pyvmomi(&dc, &ca, "esxi01", ROOT, &["updates", "app01"]);
    assert_eq!(
        lines(&out, "batch"),
        vec!["2 truncated enter,enter", "1 complete enter"],
        "{out}"
    );
    assert_eq!(line(&out, "idle"), "None");
    assert_eq!(
        lines(&out, "change"),
        vec!["modify app01 runtime.powerState poweredOff"],
        "{out}"
    );
}

/// `fakedc check` probes vCenter's SDK and ESXi's 443 (BITS and the SDK on
/// one port) with each machine's own administrator.
#[test]
fn vsphere_check_logs_in_to_vcenter_and_esxi() {
    let tmp = Temp::new("vsphere-check");
    let file = tmp.path("vc.toml");
    std::fs::write(&file, VCENTER).expect("scenario");
    let out = Command::new(env!("CARGO_BIN_EXE_fakedc"))
        .arg("check")
        .arg(&file)
        .args(["--start", "--json"])
        .output()
        .expect("fakedc check");
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let row = |machine: &str, service: &str| -> serde_json::Value {
        rows.as_array()
            .expect("rows")
            .iter()
            .find(|r| r["machine"] == machine && r["service"] == service)
            .cloned()
            .unwrap_or_else(|| panic!("no {machine} {service} row in {rows}"))
    };
    let vc = row("vc01", "vmware-web-services");
    assert_eq!(vc["verdict"], "verified", "{vc}");
    let d = vc["detail"].as_str().expect("detail");
    assert!(
        d.contains("VirtualCenter") && d.contains("logged in"),
        "{d}"
    );
    let esxi = row("esxi01", "esxi-https");
    assert_eq!(esxi["verdict"], "verified", "{esxi}");
    let d = esxi["detail"].as_str().expect("detail");
    assert!(d.contains("HostAgent") && d.contains("logged in"), "{d}");
}

/// Sessions expire after 30 idle minutes of the model's clock: the cookie
/// then gets NotAuthenticated (fakedc's own client; pyvmomi cannot idle
/// across a clock jump).
#[test]
fn vsphere_sessions_expire_on_the_models_clock() {
    use fakedc_vsphere::client::{envelope, login, Client};
    let dc = start(ESXI, &["vsphere"]);
    let addr = dc.endpoint("esxi01", ServiceKind::EsxiHttps).expect("sdk");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let fetch = envelope(
        "<Fetch xmlns=\"urn:vim25\"><_this type=\"Folder\">ha-folder-root</_this><prop>name</prop></Fetch>",
    );
    rt.block_on(async {
        let mut c = Client::connect(addr, true).await.expect("connect");
        let r = c.post(fetch.clone()).await.expect("anonymous fetch");
        assert!(
            r.status == 500 && r.body.contains("NotAuthenticated"),
            "{}",
            r.body
        );
        let r = c
            .post(login("ha-sessionmgr", ROOT.0, ROOT.1))
            .await
            .expect("login");
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(c.cookie.is_some());
        let r = c.post(fetch.clone()).await.expect("fetch");
        assert!(r.body.contains(">ha-folder-root</returnval>"), "{}", r.body);
        dc.advance(Duration::from_secs(29 * 60));
        let r = c.post(fetch.clone()).await.expect("fetch");
        assert_eq!(r.status, 200, "29 idle minutes are not 30: {}", r.body);
        dc.advance(Duration::from_secs(31 * 60));
        let r = c.post(fetch.clone()).await.expect("fetch");
        assert!(
            r.status == 500 && r.body.contains("NotAuthenticated"),
            "{}",
            r.body
        );
    });
}

/// The govmomi client of `tests/govmomi`, built once per test run offline
/// over Debian's govmomi library (GOPATH mode, as benches/vsphere.rs builds
/// vcsim). Built under a per-process name and renamed, so concurrent test
/// processes never run a half-written binary.
fn govmomi_binary() -> std::path::PathBuf {
    static BUILT: std::sync::Mutex<Option<std::path::PathBuf>> = std::sync::Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = built.as_ref() {
        return p.clone();
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = root.join("target/govmomi");
    std::fs::create_dir_all(&out).expect("target/govmomi");
    let exe = out.join("govmomi-client");
    let tmp = out.join(format!("govmomi-client.{}", std::process::id()));
    let o = Command::new("go")
        .args(["build", "-o"])
        .arg(&tmp)
        .arg(".")
        .current_dir(root.join("tests/govmomi"))
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOCACHE", out.join("gocache"))
        .output()
        .expect("go (./scripts/test installs golang-go)");
    assert!(
        o.status.success(),
        "building tests/govmomi failed (./scripts/test installs golang-go and golang-github-vmware-govmomi-dev):\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::rename(&tmp, &exe).expect("rename govmomi-client");
    *built = Some(exe.clone());
    exe
}

/// Runs the govmomi client against a machine's SDK, verifying the scenario
/// CA. Returns (success, stdout + stderr).
fn govmomi(
    dc: &Datacenter,
    ca: &std::path::Path,
    machine: &str,
    creds: (&str, &str),
    args: &[&str],
) -> (bool, String) {
    let kind = if machine.starts_with("vc") {
        ServiceKind::VmwareWebServices
    } else {
        ServiceKind::EsxiHttps
    };
    let a = dc.endpoint(machine, kind).expect("sdk endpoint");
    let o = Command::new(govmomi_binary())
        .args(args)
        .env("GOVMOMI_URL", format!("https://{a}/sdk"))
        .env("GOVMOMI_USERNAME", creds.0)
        .env("GOVMOMI_PASSWORD", creds.1)
        .env("GOVMOMI_CA", ca)
        .stdin(Stdio::null())
        .output()
        .expect("govmomi-client");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

/// govmomi, the Go client library govc, Terraform's vSphere provider and
/// many in-house tools are built on, through the library calls govc makes:
/// `About`, the finder's inventory listing, PowerOff/PowerOn tasks waited
/// for and seen by the ESXi shell, a datastore upload/download round trip
/// byte-exact through `/folder` and seen in the share, the datastore
/// browser, and a wrong password refused with vSphere's InvalidLogin text.
#[test]
fn vsphere_govmomi_about_ls_power_and_datastore_transfer() {
    let dc = start(ESXI, &["vsphere", "ssh"]);
    let ca = ca_file(&dc, "vsphere-govmomi");
    let tmp = Temp::new("vsphere-govmomi");
    let run = |args: &[&str]| govmomi(&dc, &ca, "esxi01", ROOT, args);

    let (ok, out) = run(&["about"]);
    assert!(ok, "{out}");
    assert!(out.contains("API type: HostAgent"), "{out}");
    assert!(out.contains("API version: 8.0.3.0"), "{out}");

    let (ok, out) = run(&["ls", "/"]);
    assert!(ok, "{out}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec!["/ha-datacenter"],
        "{out}"
    );
    let (ok, out) = run(&["ls", "/ha-datacenter/vm"]);
    assert!(ok, "{out}");
    let mut vms: Vec<&str> = out.lines().collect();
    vms.sort();
    assert_eq!(
        vms,
        vec![
            "/ha-datacenter/vm/app01",
            "/ha-datacenter/vm/db01",
            "/ha-datacenter/vm/web01"
        ],
        "{out}"
    );

    let (ok, out) = run(&["power", "-off", "web01"]);
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "/ha-datacenter/vm/web01 poweredOff", "{out}");
    let st = vim_cmd(&dc, "esxi01", "vim-cmd vmsvc/power.getstate 1");
    assert!(st.contains("Powered off"), "{st}");
    // Off already: vSphere's InvalidPowerState, as the task's error.
    let (ok, out) = run(&["power", "-off", "web01"]);
    assert!(!ok, "{out}");
    assert!(out.contains("current state (Powered off)"), "{out}");
    let (ok, out) = run(&["power", "-on", "web01"]);
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "/ha-datacenter/vm/web01 poweredOn", "{out}");
    let st = vim_cmd(&dc, "esxi01", "vim-cmd vmsvc/power.getstate 1");
    assert!(st.contains("Powered on"), "{st}");

    let data: Vec<u8> = (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(2_246_822_519) >> 11) as u8)
        .collect();
    let up = tmp.path("up.bin");
    std::fs::write(&up, &data).expect("write");
    let up_s = up.display().to_string();
    let (ok, out) = run(&["upload", "datastore1", &up_s, "govmomi.bin"]);
    assert!(ok, "{out}");
    let share = dc.share("esxi01").expect("share");
    assert!(
        std::fs::read(share.join("govmomi.bin")).expect("in the share") == data,
        "the share holds other bytes"
    );
    let down = tmp.path("down.bin");
    let down_s = down.display().to_string();
    let (ok, out) = run(&["download", "datastore1", "govmomi.bin", &down_s]);
    assert!(ok, "{out}");
    assert!(
        std::fs::read(&down).expect("read") == data,
        "download is not byte-exact"
    );
    let (ok, out) = run(&["dsls", "datastore1"]);
    assert!(ok, "{out}");
    assert!(out.lines().any(|l| l == "govmomi.bin"), "{out}");

    let (ok, out) = govmomi(&dc, &ca, "esxi01", ("root", "wrong"), &["about"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("Cannot complete login due to an incorrect user name or password"),
        "{out}"
    );
}

/// `/folder` uploads count against the machine's share quota, the one
/// SFTP, SMB and BITS count against: an upload that does not fit is
/// refused with hostd's 500 and leaves nothing behind (not even its
/// staging file), and a DELETE gives the room back.
#[test]
fn vsphere_folder_upload_respects_the_share_quota() {
    let dc = start(
        r#"
[[machine]]
name = "esxi01"
role = "esxi-host"
address = "127.84.0.21"
quota_bytes = 2000000
"#,
        &["vsphere"],
    );
    let ca = ca_file(&dc, "vsphere-quota");
    let tmp = Temp::new("vsphere-quota");
    let big = tmp.path("big.bin");
    std::fs::write(&big, vec![7u8; 1_500_000]).expect("write");
    let small = tmp.path("small.bin");
    std::fs::write(&small, vec![9u8; 1_000_000]).expect("write");
    let (big, small) = (big.display().to_string(), small.display().to_string());
    let put = |remote: &str, file: &str| {
        let out = pyvmomi(
            &dc,
            &ca,
            "esxi01",
            ROOT,
            &["put", "datastore1", remote, file],
        );
        line(&out, "status").to_string()
    };
    assert_eq!(put("a.bin", &big), "201");
    assert_eq!(put("b.bin", &small), "500", "only 500,000 bytes are left");
    let share = dc.share("esxi01").expect("share");
    let mut names: Vec<String> = std::fs::read_dir(&share)
        .expect("share")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a.bin"], "nothing of the refused upload is left");
    let out = pyvmomi(&dc, &ca, "esxi01", ROOT, &["delete", "datastore1", "a.bin"]);
    assert_eq!(line(&out, "status"), "204", "{out}");
    assert_eq!(
        put("b.bin", &small),
        "201",
        "room came back with the DELETE"
    );
    assert_eq!(
        std::fs::metadata(share.join("b.bin")).expect("b.bin").len(),
        1_000_000
    );
}
