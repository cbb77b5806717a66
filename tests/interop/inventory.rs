//! One machine, whoever asks: a host's processors and memory set once in
//! the scenario (`cpus`, `cores_per_cpu`, `cpu_mhz`, `memory_gib`; a VM's
//! `cpus` and `memory_mb`) read back by every real client that reports
//! them: pywinrm running PowerShell on the Hyper-V host (WMI's
//! Win32_ComputerSystem and Win32_OperatingSystem, Get-ComputerInfo,
//! Get-VMHost, Get-VM) and on a VM's guest, pypsrp on the BMC's SMASH, the
//! DMTF `redfish` library on the BMC's Redfish, and pyvmomi on an ESXi
//! host (its hardware summary and its VMs' configuration) whose BMC's
//! Redfish says the same. VMM reads a host over WMI and its BMC over
//! SMASH; the two must describe one machine.

use crate::common::{ca_file, line, lines, python, start};
use fakedc::{Datacenter, ServiceKind};

const SCENARIO: &str = r#"
[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.86.0.1"
bmc = "bmc01"
cpus = 1
cores_per_cpu = 6
cpu_mhz = 2400
memory_gib = 48
[machine.options.winrm]
allow_unencrypted = true

[[machine.vm]]
name = "web01"
guest = "guest01"
cpus = 4
memory_mb = 6144

[[machine]]
name = "guest01"
role = "vm-guest"
address = "127.86.0.2"
[machine.options.winrm]
allow_unencrypted = true

[[machine]]
name = "bmc01"
role = "bmc"
address = "127.86.0.3"

[[machine]]
name = "esxi01"
role = "esxi-host"
address = "127.86.0.4"
bmc = "bmc02"
memory_gib = 128

[[machine.vm]]
name = "app01"
cpus = 8
memory_mb = 16384

[[machine.vm]]
name = "db01"

[[machine]]
name = "bmc02"
role = "bmc"
address = "127.86.0.5"
[machine.options.smash]
cores_per_cpu = 10
cpu_mhz = 2100
"#;

/// What PowerShell on `machine` says of its processors and memory, one
/// line: WMI's then Get-ComputerInfo's (then Get-VMHost's and web01's
/// Get-VM on the host).
fn powershell(dc: &Datacenter, machine: &str, script: &str) -> String {
    let a = dc
        .endpoint(machine, ServiceKind::WinrmHttp)
        .expect("winrm endpoint");
    let path = std::env::temp_dir().join(format!(
        "fakedc-inventory-{}-{machine}.json",
        std::process::id()
    ));
    std::fs::write(
        &path,
        serde_json::to_string(&[("SHAPE", script)]).expect("json"),
    )
    .expect("write script");
    let out = python(
        "winrm",
        "pwsh_run_ps.py",
        &[
            &format!("http://{a}/wsman"),
            "basic",
            "Administrator",
            "P@ssw0rd!",
            path.to_str().expect("path"),
        ],
    );
    let _ = std::fs::remove_file(&path);
    let v: serde_json::Value = serde_json::from_str(
        out.lines()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("no result: {out}")),
    )
    .expect("json line");
    assert_eq!(v["exit"], 0, "{out}");
    v["out"].as_str().unwrap_or_default().trim().to_string()
}

const WMI: &str = "$c = Get-CimInstance Win32_ComputerSystem; $o = Get-CimInstance Win32_OperatingSystem; $i = Get-ComputerInfo; \"$($c.NumberOfProcessors) $($c.NumberOfLogicalProcessors) $($c.TotalPhysicalMemory) $($o.TotalVisibleMemorySize) $($i.CsNumberOfProcessors) $($i.CsNumberOfLogicalProcessors) $($i.CsTotalPhysicalMemory)\"";

fn redfish(dc: &Datacenter, ca: &std::path::Path, bmc: &str) -> String {
    let ep = dc.endpoint(bmc, ServiceKind::Redfish).expect("redfish");
    let (ip, port) = (ep.ip().to_string(), ep.port().to_string());
    python(
        "redfish",
        "redfish_lib.py",
        &[
            &ip,
            &port,
            "admin",
            "password",
            ca.to_str().expect("path"),
            "basic",
            "inventory",
        ],
    )
}

#[test]
fn every_front_reports_the_same_processors_and_memory() {
    let dc = start(SCENARIO);
    let ca = ca_file(&dc, "inventory");
    // 48 GiB installed; Windows sees it less the firmware's 512 KiB.
    let seen = 48u64 * (1 << 30) - 512 * 1024;
    let host = powershell(
        &dc,
        "hv01",
        &format!(
            "{WMI}; $h = Get-VMHost; $v = Get-VM web01; \"$($h.LogicalProcessorCount) $($h.MemoryCapacity) $($v.ProcessorCount) $($v.MemoryStartup)\""
        ),
    );
    assert_eq!(
        host.lines().map(str::trim).collect::<Vec<_>>(),
        [
            format!("1 12 {seen} {} 1 12 {seen}", seen / 1024),
            format!("12 {seen} 4 {}", 6144u64 << 20),
        ],
        "{host}"
    );
    // The VM's guest sees the VM's processors and memory.
    let vm_seen = (6144u64 << 20) - 512 * 1024;
    assert_eq!(
        powershell(&dc, "guest01", WMI),
        format!("1 4 {vm_seen} {} 1 4 {vm_seen}", vm_seen / 1024)
    );

    // The BMC: SMASH's CIM_Processor and CIM_Memory, Redfish's summary.
    let ep = dc.endpoint("bmc01", ServiceKind::Smash).expect("smash");
    let (ip, port) = (ep.ip().to_string(), ep.port().to_string());
    let smash = python(
        "pypsrp",
        "smash_pypsrp.py",
        &[
            &ip,
            &port,
            "admin",
            "password",
            ca.to_str().expect("path"),
            "discover",
        ],
    );
    assert_eq!(line(&smash, "CPUS"), "1", "{smash}");
    assert_eq!(
        line(&smash, "MEMORY_BLOCKS"),
        format!("{} 1048576", 48 * 1024),
        "{smash}"
    );
    let rf = redfish(&dc, &ca, "bmc01");
    assert_eq!(line(&rf, "SUMMARY"), "1 12 48", "{rf}");
    assert_eq!(
        line(&rf, "CPU_MODEL"),
        "Intel(R) Xeon(R) CPU 6C @ 2.40GHz",
        "{rf}"
    );

    // ESXi: its shape comes from the host (memory) and its BMC's older
    // smash spelling (cores, clock); pyvmomi and Redfish agree.
    let a = dc
        .endpoint("esxi01", ServiceKind::EsxiHttps)
        .expect("sdk endpoint");
    let (h, p) = (a.ip().to_string(), a.port().to_string());
    let vs = python(
        "pyVmomi",
        "inventory_pyvmomi.py",
        &[&h, &p, "root", "VMware1!", ca.to_str().expect("path")],
    );
    assert_eq!(
        line(&vs, "HOST"),
        format!(
            "2 20 40 {} 2100 Intel(R) Xeon(R) CPU 10C @ 2.10GHz",
            128u64 << 30
        ),
        "{vs}"
    );
    assert_eq!(
        lines(&vs, "VM"),
        ["app01 8 16384 8 16384", "db01 2 4096 2 4096"],
        "{vs}"
    );
    let rf = redfish(&dc, &ca, "bmc02");
    assert_eq!(line(&rf, "SUMMARY"), "2 40 128", "{rf}");
    assert_eq!(
        line(&rf, "CPU_MODEL"),
        "Intel(R) Xeon(R) CPU 10C @ 2.10GHz",
        "{rf}"
    );
}
