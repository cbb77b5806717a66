//! SMASH over WS-Management on BMC 443 with real clients: pypsrp's `WSMan`
//! over HTTPS with Basic (`tests/python/smash_pypsrp.py`) and raw SOAP over
//! `curl --digest` (SHA-256 and MD5), cross-checked against ipmitool on the
//! same BMC and against the model: one state, whichever protocol asks.
//! A missing client (python3 + pypsrp, curl, ipmitool) fails these tests;
//! it never skips them (`./scripts/test` installs them).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use crate::common;

use crate::common::{ca_file, line, lines, python, wait_until};
use fakedc::{Datacenter, PowerAction, Query, ServiceKind};
use fakedc_model::EventKind;
use fakedc_wsman::xml::{parse, Element, Limits};
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SCENARIO: &str = r#"
[defaults]
boot_delay_ms = 300
shutdown_delay_ms = 300
cycle_interval_ms = 300

[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.81.0.1"
bmc = "bmc01"
vendor = "Fabrikam"
model = "FX-9000"
serial = "FXSERIAL01"

[[machine]]
name = "bmc01"
role = "bmc"
address = "127.81.1.1"

[[machine]]
name = "hv02"
role = "hyperv-host"
address = "127.81.0.2"
bmc = "bmc02"

# A BMC that offers only MD5 Digest, with short-lived nonces.
[[machine]]
name = "bmc02"
role = "bmc"
address = "127.81.1.2"
[machine.options.smash]
digest = ["MD5"]
nonce_ttl_ms = 1000
cpus = 4
"#;

const CIM: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/";

// ---------------------------------------------------------------- pypsrp

fn pypsrp(dc: &Datacenter, bmc: &str, user: &str, pass: &str, ca: &Path, args: &[&str]) -> String {
    let ep = dc
        .endpoint(bmc, ServiceKind::Smash)
        .expect("smash endpoint");
    let (ip, port) = (ep.ip().to_string(), ep.port().to_string());
    let mut all = vec![
        ip.as_str(),
        port.as_str(),
        user,
        pass,
        ca.to_str().expect("path"),
    ];
    all.extend_from_slice(args);
    python("pypsrp", "smash_pypsrp.py", &all)
}

// -------------------------------------------------------------- ipmitool

fn ipmitool(dc: &Datacenter, bmc: &str, cmd: &str) -> String {
    let ok = Command::new("ipmitool")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "ipmitool is not installed (./scripts/test installs it)");
    let a = dc.endpoint(bmc, ServiceKind::Ipmi).expect("ipmi endpoint");
    let o = Command::new("ipmitool")
        .args(["-I", "lanplus", "-C", "17", "-H", &a.ip().to_string()])
        .args(["-p", &a.port().to_string(), "-U", "admin", "-P", "password"])
        .args(["-N", "1", "-R", "2"])
        .args(cmd.split_whitespace())
        .stdin(Stdio::null())
        .output()
        .expect("run ipmitool");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "ipmitool {cmd} failed: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

fn field(out: &str, key: &str) -> Option<String> {
    out.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

// ------------------------------------------------------------------ curl

/// One raw SOAP request with curl; returns (HTTP status, response headers
/// of every response, body).
fn curl(
    dc: &Datacenter,
    bmc: &str,
    auth: &[&str],
    ca: &Path,
    envelope: &str,
) -> (u16, String, String) {
    let ep = dc
        .endpoint(bmc, ServiceKind::Smash)
        .expect("smash endpoint");
    let url = format!("https://{}:{}/wsman", ep.ip(), ep.port());
    let headers = std::env::temp_dir().join(format!(
        "fakedc-smash-h-{}-{:?}.txt",
        std::process::id(),
        std::thread::current().id()
    ));
    let mut child = Command::new("curl")
        .args(["-s", "-S", "--noproxy", "*", "--max-time", "10"])
        .args(auth)
        .args(["--cacert", ca.to_str().expect("path")])
        .args(["-H", "Content-Type: application/soap+xml;charset=UTF-8"])
        .args(["-D", headers.to_str().expect("path")])
        .args(["-w", "\n%{http_code}", "--data-binary", "@-", &url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("curl is not installed (./scripts/test installs it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(envelope.as_bytes())
        .expect("write body");
    let o = child.wait_with_output().expect("curl");
    assert!(
        o.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = out.rsplit_once('\n').expect("status line");
    let h = std::fs::read_to_string(&headers).unwrap_or_default();
    let _ = std::fs::remove_file(&headers);
    (code.trim().parse().expect("code"), h, body.to_string())
}

fn envelope(action: &str, class_uri: &str, selectors: &[(&str, &str)], body: &str) -> String {
    fakedc_wsman::client::request(action, class_uri, selectors, body)
}

const ENUMERATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate";
const GET: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get";
const ASSOC_DIALECT: &str = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter";

fn epr_xml(class: &str, selectors: &[(&str, &str)]) -> String {
    let mut s = format!(
        "<a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address><a:ReferenceParameters><w:ResourceURI>{CIM}{class}</w:ResourceURI><w:SelectorSet>"
    );
    for (k, v) in selectors {
        s.push_str(&format!(r#"<w:Selector Name="{k}">{v}</w:Selector>"#));
    }
    s.push_str("</w:SelectorSet></a:ReferenceParameters>");
    s
}

fn assoc_body(references: bool, class: &str, selectors: &[(&str, &str)], extra: &str) -> String {
    let kind = if references {
        "AssociationInstances"
    } else {
        "AssociatedInstances"
    };
    format!(
        r#"<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>100</w:MaxElements><w:Filter Dialect="{ASSOC_DIALECT}"><b:{kind} xmlns:b="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd"><b:Object>{}</b:Object>{extra}</b:{kind}></w:Filter></n:Enumerate>"#,
        epr_xml(class, selectors)
    )
}

fn xml(body: &str) -> Element {
    parse(body.as_bytes(), &Limits::default()).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Texts of every element with this local name, any namespace.
fn texts(e: &Element, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(e: &Element, name: &str, out: &mut Vec<String>) {
        if e.name == name {
            out.push(e.text_trim().to_string());
        }
        for c in &e.children {
            walk(c, name, out);
        }
    }
    walk(e, name, &mut out);
    out
}

/// A whole Invoke envelope: `method` of the `class` instance the selectors
/// name, with `params` inside `<p:{method}_INPUT>`.
fn invoke(class: &str, selectors: &[(&str, &str)], method: &str, params: &str) -> String {
    envelope(
        &format!("{CIM}{class}/{method}"),
        &format!("{CIM}{class}"),
        selectors,
        &format!(r#"<p:{method}_INPUT xmlns:p="{CIM}{class}">{params}</p:{method}_INPUT>"#),
    )
}

fn ipmi_guid(dc: &Datacenter, bmc: &str) -> String {
    let g = ipmitool(dc, bmc, "mc guid");
    field(&g, "System GUID")
        .unwrap_or_else(|| panic!("no GUID in {g}"))
        .replace('-', "")
        .to_ascii_uppercase()
}

fn host_answers(dc: &Datacenter, host: &str) -> bool {
    let a = dc.endpoint(host, ServiceKind::WinrmHttp).expect("5985");
    TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_ok()
}

fn log_kinds(dc: &Datacenter, machine: &str) -> Vec<EventKind> {
    let m = dc.model();
    let c = m.find(machine).expect("machine").chassis;
    m.chassis(c, Instant::now())
        .log
        .entries()
        .iter()
        .map(|e| e.kind)
        .collect()
}

// ----------------------------------------------------------------- tests

#[test]
fn pypsrp_discovers_profiles_inventory_sensors_and_log() {
    let dc = common::start(SCENARIO);
    dc.power("hv01", PowerAction::Nmi).unwrap();
    let ca = ca_file(&dc, "discover");
    let out = pypsrp(&dc, "bmc01", "admin", "password", &ca, &["discover"]);
    assert!(out.contains("DONE"), "{out}");
    let profiles = lines(&out, "PROFILE");
    for name in [
        "Profile Registration 1.0.0 2",
        "Base Server 1.0.0 2",
        "Power State Management 1.0.0 2",
        "Boot Control 1.0.0 2",
        "Physical Asset 1.0.0 2",
        "Software Inventory 1.0.0 2",
        "CPU 1.0.0 2",
        "System Memory 1.0.0 2",
        "Sensors 1.0.0 2",
        "Record Log 1.0.0 2",
    ] {
        assert!(profiles.contains(&name), "{name} missing: {profiles:?}");
    }
    assert_eq!(line(&out, "CS"), "hv01 2");
    // PlatformGUID is what ipmitool mc guid prints for the same BMC.
    let guid = line(&out, "PLATFORM_GUID");
    assert_eq!(guid.len(), 32, "{guid}");
    assert_eq!(guid, ipmi_guid(&dc, "bmc01"));
    assert_eq!(
        guid,
        dc.machine_state("hv01")
            .unwrap()
            .guid
            .replace('-', "")
            .to_ascii_uppercase()
    );
    assert!(line(&out, "CHASSIS").starts_with("Fabrikam|FX-9000|FXSERIAL01|"));
    let sw = lines(&out, "SOFTWARE");
    assert!(
        sw.contains(&"11 2.19.1") && sw.contains(&"10 7.10.30"),
        "{sw:?}"
    );
    assert_eq!(line(&out, "CPUS"), "2");
    assert_eq!(line(&out, "MEMORY_BLOCKS"), "262144 1048576");
    // The same sensors IPMI's SDR shows.
    let sensors = lines(&out, "SENSOR");
    assert_eq!(sensors.len(), 9, "{sensors:?}");
    assert!(sensors.contains(&"Inlet_Temp=24e0 Normal"), "{sensors:?}");
    assert!(sensors.contains(&"12V=1210e-2 Normal"), "{sensors:?}");
    assert_eq!(line(&out, "SENSORS_VIA_SYSTEM"), "9");
    let sdr = ipmitool(&dc, "bmc01", "sdr type Temperature");
    assert!(sdr.contains("Inlet Temp"), "{sdr}");
    // The same event log IPMI's SEL shows.
    let n = log_kinds(&dc, "hv01").len();
    assert_eq!(line(&out, "LOG_COUNT"), format!("{n} {n}"));
    assert!(
        lines(&out, "LOG").contains(&"1 Diagnostic interrupt (NMI)"),
        "{out}"
    );
    assert!(ipmitool(&dc, "bmc01", "sel list").contains("Critical Interrupt"));
    assert_eq!(line(&out, "PMS"), "PowerManagementService");
    assert_eq!(
        line(&out, "POWER_STATES_SUPPORTED"),
        "2 5 6 8 9 10 11 12 13 14 15 16"
    );
    assert_eq!(line(&out, "POWER_STATE"), "2");
    assert_eq!(line(&out, "AVAILABLE"), "5 6 8 9 10 11 12 13 14 15 16");
    // Every request is journaled with its user; the password never is.
    let j = dc.journal(&Query {
        machine: Some("bmc01".into()),
        service: Some("smash".into()),
        ..Default::default()
    });
    assert!(j.len() > 20, "{}", j.len());
    assert!(j
        .iter()
        .any(|e| e.operation == "Enumerate CIM_RegisteredProfile"
            && e.user.as_deref() == Some("admin")));
    assert!(!serde_json::to_string(&j).unwrap().contains("password"));
    let _ = std::fs::remove_file(ca);
}

#[test]
fn power_through_smash_and_ipmi_share_one_state() {
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, "power");
    assert!(host_answers(&dc, "hv01"));
    // Hard off through SMASH: ipmitool, the model and the host agree.
    let out = pypsrp(&dc, "bmc01", "admin", "password", &ca, &["power", "6"]);
    assert_eq!(line(&out, "RETURN"), "0");
    let st = ipmitool(&dc, "bmc01", "chassis power status");
    assert!(st.contains("Chassis Power is off"), "{st}");
    assert_eq!(dc.machine_state("hv01").unwrap().power, "off");
    assert!(wait_until(Duration::from_secs(3), || !host_answers(
        &dc, "hv01"
    )));
    let out = pypsrp(&dc, "bmc01", "admin", "password", &ca, &["powerstate"]);
    assert_eq!(line(&out, "POWER_STATE"), "8");
    assert_eq!(line(&out, "AVAILABLE"), "2 5 9");
    assert_eq!(line(&out, "ENABLED_STATE"), "3");
    // On through ipmitool: SMASH sees PowerState 2, the host comes back.
    ipmitool(&dc, "bmc01", "chassis power on");
    let out = pypsrp(&dc, "bmc01", "admin", "password", &ca, &["powerstate"]);
    assert_eq!(line(&out, "POWER_STATE"), "2");
    assert!(wait_until(Duration::from_secs(5), || host_answers(
        &dc, "hv01"
    )));
    assert_eq!(dc.machine_state("hv01").unwrap().power, "on");
    // A graceful (soft) off: the OS shuts down, then power goes off.
    let out = pypsrp(&dc, "bmc01", "admin", "password", &ca, &["power", "12"]);
    assert_eq!(line(&out, "RETURN"), "0");
    assert!(wait_until(Duration::from_secs(3), || dc
        .machine_state("hv01")
        .unwrap()
        .power
        == "off"));
    assert!(ipmitool(&dc, "bmc01", "chassis power status").contains("off"));
    let out = pypsrp(&dc, "bmc01", "admin", "password", &ca, &["power", "2"]);
    assert_eq!(line(&out, "RETURN"), "0");
    assert!(ipmitool(&dc, "bmc01", "chassis power status").contains("on"));
    let j = dc.journal(&Query {
        machine: Some("bmc01".into()),
        operation: Some("RequestPowerStateChange".into()),
        ..Default::default()
    });
    assert_eq!(j.len(), 3, "{j:?}");
    assert!(j.iter().all(|e| e.outcome == "ok (ReturnValue 0)"), "{j:?}");
    let _ = std::fs::remove_file(ca);
}

#[test]
fn power_cycle_logs_the_same_sel_entries_whichever_protocol_asks() {
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, "cycle");
    let before = log_kinds(&dc, "hv01").len();
    let out = pypsrp(&dc, "bmc01", "admin", "password", &ca, &["power", "9"]);
    assert_eq!(line(&out, "RETURN"), "0");
    assert!(wait_until(Duration::from_secs(5), || dc
        .machine_state("hv01")
        .unwrap()
        .os_up));
    let mid = log_kinds(&dc, "hv01");
    let by_smash = mid[before..].to_vec();
    let sel_mid = ipmitool(&dc, "bmc01", "sel list");
    ipmitool(&dc, "bmc01", "chassis power cycle");
    assert!(wait_until(Duration::from_secs(5), || log_kinds(
        &dc, "hv01"
    )
    .len()
        >= mid.len() + by_smash.len()
        && dc.machine_state("hv01").unwrap().os_up));
    let by_ipmi = log_kinds(&dc, "hv01")[mid.len()..].to_vec();
    assert!(!by_smash.is_empty());
    assert_eq!(by_smash, by_ipmi);
    // ipmitool's SEL shows the same records for both (ids and times aside).
    let strip = |l: &str| l.splitn(4, '|').nth(3).unwrap_or("").trim().to_string();
    let sel = ipmitool(&dc, "bmc01", "sel list");
    let all: Vec<String> = sel.lines().map(strip).collect();
    let first: Vec<String> = sel_mid.lines().map(strip).collect();
    let second = all[first.len()..].to_vec();
    assert_eq!(first[first.len() - second.len()..], second[..], "{sel}");
    let _ = std::fs::remove_file(ca);
}

#[test]
fn boot_override_is_the_one_ipmi_reads_and_writes() {
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, "boot");
    // ipmitool sets PXE for the next boot: IsNext points at CIM:Network:1.
    ipmitool(&dc, "bmc01", "chassis bootdev pxe");
    let out = pypsrp(&dc, "bmc01", "admin", "password", &ca, &["boot"]);
    assert_eq!(line(&out, "IS_NEXT"), "3");
    assert_eq!(line(&out, "FIRST_SOURCE"), "CIM:Network:1");
    // pypsrp: CD/DVD first, persistent (Role 0 = IsNext).
    let out = pypsrp(
        &dc,
        "bmc01",
        "admin",
        "password",
        &ca,
        &["changeboot", "CIM:CD/DVD:1", "0"],
    );
    assert_eq!(line(&out, "CHANGE_RETURN"), "0");
    assert_eq!(line(&out, "ROLE_RETURN"), "0");
    let p = ipmitool(&dc, "bmc01", "chassis bootparam get 5");
    assert!(p.contains("Force Boot from CD/DVD"), "{p}");
    assert!(p.contains("Options apply to all future boots"), "{p}");
    let st = dc.machine_state("hv01").unwrap();
    assert_eq!(
        (st.boot.device, st.boot.persistent),
        (fakedc::BootDevice::Cdrom, true)
    );
    let out = pypsrp(&dc, "bmc01", "admin", "password", &ca, &["boot"]);
    assert_eq!(line(&out, "IS_NEXT"), "1");
    assert_eq!(line(&out, "FIRST_SOURCE"), "CIM:CD/DVD:1");
    // Raw SOAP over curl --digest: network first, next boot only.
    let digest = |envelope: &str| {
        curl(
            &dc,
            "bmc01",
            &["--digest", "-u", "admin:password"],
            &ca,
            envelope,
        )
    };
    let change_boot_order = |source: &str| {
        invoke(
            "CIM_BootConfigSetting",
            &[("InstanceID", "BootConfigSetting:1")],
            "ChangeBootOrder",
            &format!(
                "<p:Source>{}</p:Source>",
                epr_xml("CIM_BootSourceSetting", &[("InstanceID", source)])
            ),
        )
    };
    let (code, _, body) = digest(&change_boot_order("BootSourceSetting:CIM:Network:1"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(texts(&xml(&body), "ReturnValue"), ["0"]);
    let (code, _, body) = digest(&invoke(
        "CIM_BootService",
        &[("Name", "BootService")],
        "SetBootConfigRole",
        &format!(
            "<p:BootConfigSetting>{}</p:BootConfigSetting><p:Role>1</p:Role>",
            epr_xml(
                "CIM_BootConfigSetting",
                &[("InstanceID", "BootConfigSetting:1")]
            )
        ),
    ));
    assert_eq!(code, 200, "{body}");
    assert_eq!(texts(&xml(&body), "ReturnValue"), ["0"]);
    let p = ipmitool(&dc, "bmc01", "chassis bootparam get 5");
    assert!(p.contains("Force PXE"), "{p}");
    assert!(p.contains("Options apply to only next boot"), "{p}");
    // ChangeBootOrder with a bogus source reference: 4 Invalid Reference.
    let (_, _, body) = digest(&change_boot_order("BootSourceSetting:CIM:Tape:9"));
    assert_eq!(texts(&xml(&body), "ReturnValue"), ["4"]);
    assert_eq!(
        dc.machine_state("hv01").unwrap().boot.device,
        fakedc::BootDevice::Pxe
    );
    let _ = std::fs::remove_file(ca);
}

#[test]
fn curl_digest_sha256_and_md5_discover_profiles_and_guid() {
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, "digest");
    let digest = ["--digest", "-u", "admin:password"];
    // bmc01 offers SHA-256 first: curl answers it (with userhash).
    let (code, headers, body) = curl(
        &dc,
        "bmc01",
        &digest,
        &ca,
        &envelope(
            ENUMERATE,
            &format!("{CIM}CIM_RegisteredProfile"),
            &[("__cimnamespace", "root/interop")],
            "<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>100</w:MaxElements></n:Enumerate>",
        ),
    );
    assert_eq!(code, 200, "{body}");
    assert!(headers.contains("algorithm=SHA-256"), "{headers}");
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("authentication-info: qop=auth, rspauth="),
        "{headers}"
    );
    let names = texts(&xml(&body), "RegisteredName");
    assert_eq!(names.len(), 10, "{names:?}");
    assert!(names.iter().any(|n| n == "Base Server"));
    // Association walks over curl --digest, with the "all classes"
    // ResourceURI as SMASH clients send it.
    let walk = |references: bool, class: &str, selectors: &[(&str, &str)], extra: &str| {
        curl(
            &dc,
            "bmc01",
            &digest,
            &ca,
            &envelope(
                ENUMERATE,
                "http://schemas.dmtf.org/wbem/wscim/1/*",
                &[],
                &assoc_body(references, class, selectors, extra),
            ),
        )
    };
    // Profile → CIM_ElementConformsToProfile → CIM_ComputerSystem.
    let (code, _, body) = walk(
                false,
                "CIM_RegisteredProfile",
                &[
                    ("InstanceID", "DMTF:DSP1004:Base Server:1.0.0"),
                    ("__cimnamespace", "root/interop"),
                ],
                "<b:AssociationClassName>CIM_ElementConformsToProfile</b:AssociationClassName><b:ResultClassName>CIM_ComputerSystem</b:ResultClassName>");
    assert_eq!(code, 200, "{body}");
    let x = xml(&body);
    assert_eq!(texts(&x, "Name"), ["hv01"]);
    // CIM_ComputerSystem → References CIM_ComputerSystemPackage.
    let (code, _, body) = walk(
        true,
        "CIM_ComputerSystem",
        &[
            ("CreationClassName", "CIM_ComputerSystem"),
            ("Name", "hv01"),
        ],
        "<b:ResultClassName>CIM_ComputerSystemPackage</b:ResultClassName>",
    );
    assert_eq!(code, 200, "{body}");
    let guid = texts(&xml(&body), "PlatformGUID");
    assert_eq!(guid, [ipmi_guid(&dc, "bmc01")]);
    // A superclass as ResultClassName: every logical device of the system
    // (processors, memory, sensors) through CIM_SystemDevice.
    let (code, _, body) = walk(
                false,
                "CIM_ComputerSystem",
                &[
                    ("CreationClassName", "CIM_ComputerSystem"),
                    ("Name", "hv01"),
                ],
                "<b:AssociationClassName>CIM_SystemDevice</b:AssociationClassName><b:ResultClassName>CIM_LogicalDevice</b:ResultClassName>");
    assert_eq!(code, 200, "{body}");
    let classes = texts(&xml(&body), "CreationClassName");
    for c in ["CIM_Processor", "CIM_Memory", "CIM_NumericSensor"] {
        assert!(classes.iter().any(|x| x == c), "{c} in {classes:?}");
    }
    // Role/ResultRole narrow the same walk: from the chassis side only.
    let (_, _, body) = walk(
                false,
                "CIM_ComputerSystem",
                &[("CreationClassName", "CIM_ComputerSystem"), ("Name", "hv01")],
                "<b:AssociationClassName>CIM_ComputerSystemPackage</b:AssociationClassName><b:Role>Dependent</b:Role><b:ResultRole>Antecedent</b:ResultRole>");
    assert_eq!(texts(&xml(&body), "SerialNumber"), ["FXSERIAL01"]);

    // bmc02 offers MD5 only.
    let (code, headers, body) = curl(
        &dc,
        "bmc02",
        &digest,
        &ca,
        &envelope(GET, &format!("{CIM}CIM_Chassis"), &[], ""),
    );
    assert_eq!(code, 200, "{body}");
    assert!(
        headers.contains("algorithm=MD5") && !headers.contains("SHA-256"),
        "{headers}"
    );
    assert_eq!(texts(&xml(&body), "Manufacturer").len(), 1);
    let (_, _, body) = curl(
        &dc,
        "bmc02",
        &digest,
        &ca,
        &envelope(
            ENUMERATE,
            &format!("{CIM}CIM_Processor"),
            &[],
            "<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>100</w:MaxElements></n:Enumerate>",
        ),
    );
    assert_eq!(
        texts(&xml(&body), "DeviceID"),
        ["CPU1", "CPU2", "CPU3", "CPU4"]
    );
    // An association class with one instance can be read by Get too.
    let (_, _, body) = curl(
        &dc,
        "bmc02",
        &digest,
        &ca,
        &envelope(GET, &format!("{CIM}CIM_ComputerSystemPackage"), &[], ""),
    );
    assert_eq!(
        texts(&xml(&body), "PlatformGUID"),
        [ipmi_guid(&dc, "bmc02")]
    );
    let _ = std::fs::remove_file(ca);
}

#[test]
fn wrong_credentials_read_only_user_and_stale_nonce() {
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, "auth");
    let enum_cs = envelope(
        ENUMERATE,
        &format!("{CIM}CIM_ComputerSystem"),
        &[],
        "<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>10</w:MaxElements></n:Enumerate>",
    );
    for auth in [
        ["--digest", "-u", "admin:Wr0ngPass"],
        ["--basic", "-u", "admin:Wr0ngPass"],
        ["--digest", "-u", "nobody:password"],
    ] {
        let (code, _, _) = curl(&dc, "bmc01", &auth, &ca, &enum_cs);
        assert_eq!(code, 401, "{auth:?}");
    }
    let fails = dc.journal(&Query {
        machine: Some("bmc01".into()),
        operation: Some("auth".into()),
        ..Default::default()
    });
    assert!(
        fails
            .iter()
            .filter(|e| e.outcome.starts_with("auth failure"))
            .count()
            >= 3
    );
    assert!(!serde_json::to_string(&fails).unwrap().contains("Wr0ngPass"));

    // A user-privilege account reads but cannot change power.
    let out = pypsrp(&dc, "bmc01", "user", "user", &ca, &["powerstate"]);
    assert_eq!(line(&out, "POWER_STATE"), "2");
    let out = pypsrp(&dc, "bmc01", "user", "user", &ca, &["power", "6"]);
    let fault = line(&out, "FAULT");
    assert!(fault.starts_with("5 Access is denied"), "{out}");
    assert_eq!(dc.machine_state("hv01").unwrap().power, "on");
    let (code, _, body) = curl(
        &dc,
        "bmc01",
        &["--digest", "-u", "user:user"],
        &ca,
        &invoke(
            "CIM_BootConfigSetting",
            &[("InstanceID", "BootConfigSetting:1")],
            "ChangeBootOrder",
            "",
        ),
    );
    assert_eq!(code, 500);
    assert_eq!(texts(&xml(&body), "Value")[1], "w:AccessDenied");
    // The operator account may.
    let out = pypsrp(&dc, "bmc01", "operator", "operator", &ca, &["power", "11"]);
    assert_eq!(line(&out, "RETURN"), "0");

    // A stale Digest nonce: 401 with stale=true, then the fresh nonce works.
    let addr = dc.endpoint("bmc02", ServiceKind::Smash).unwrap();
    let body = enum_cs.as_bytes();
    let model = dc.model().clone();
    dc.block_on(async move {
        let mut c = fakedc_wsman::client::Client::connect(
            addr,
            Some(fakedc_wsman::client::insecure_tls()),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let ct = "application/soap+xml;charset=UTF-8";
        let r = c.post(&[], ct, body).await.unwrap();
        assert_eq!(r.status, 401);
        let ch = r.header("WWW-Authenticate").unwrap().to_string();
        assert!(ch.contains("algorithm=MD5"), "{ch}");
        let auth = |ch: &str, nc: &str| digest_header(ch, "admin", "password", nc);
        // Past the nonce's lifetime, on the datacenter's clock (no sleep).
        model.advance(Duration::from_millis(1200));
        let r = c
            .post(&[("Authorization", &auth(&ch, "00000001"))], ct, body)
            .await
            .unwrap();
        assert_eq!(r.status, 401);
        let fresh = r.header("WWW-Authenticate").unwrap().to_string();
        assert!(fresh.contains("stale=true"), "{fresh}");
        let r = c
            .post(&[("Authorization", &auth(&fresh, "00000001"))], ct, body)
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        // Replaying the same nonce count is refused.
        let r = c
            .post(&[("Authorization", &auth(&fresh, "00000001"))], ct, body)
            .await
            .unwrap();
        assert_eq!(r.status, 401);
        let r = c
            .post(&[("Authorization", &auth(&fresh, "00000002"))], ct, body)
            .await
            .unwrap();
        assert_eq!(r.status, 200);
    })
    .unwrap();
    let stale = dc.journal(&Query {
        machine: Some("bmc02".into()),
        operation: Some("auth digest".into()),
        ..Default::default()
    });
    assert!(
        stale.iter().any(|e| e.outcome.contains("stale nonce")),
        "{stale:?}"
    );
    assert!(
        stale.iter().any(|e| e.outcome.contains("replayed")),
        "{stale:?}"
    );
    let _ = std::fs::remove_file(ca);
}

/// An `Authorization: Digest` answer to a challenge (MD5, qop=auth).
fn digest_header(challenge: &str, user: &str, pass: &str, nc: &str) -> String {
    let get = |k: &str| {
        let at = challenge.find(&format!("{k}=\"")).unwrap() + k.len() + 2;
        let rest = &challenge[at..];
        rest[..rest.find('"').unwrap()].to_string()
    };
    let (realm, nonce, opaque) = (get("realm"), get("nonce"), get("opaque"));
    let alg = fakedc_smash::digest::Algorithm::Md5;
    let cnonce = "0a4f113b";
    let resp = fakedc_smash::digest::request_digest(
        alg, user, &realm, pass, "POST", "/wsman", &nonce, nc, cnonce,
    );
    format!(
        r#"Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="/wsman", algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}", response="{resp}", opaque="{opaque}""#
    )
}

#[test]
fn invalid_power_state_bogus_reference_unknown_class_and_method() {
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, "invalid");
    let basic = ["--basic", "-u", "admin:password"];
    let rpsc = |state: &str, element: &str| {
        let params = format!(
            "<p:PowerState>{state}</p:PowerState><p:ManagedElement>{element}</p:ManagedElement>"
        );
        let (code, _, body) = curl(
            &dc,
            "bmc01",
            &basic,
            &ca,
            &invoke(
                "CIM_PowerManagementService",
                &[("Name", "PowerManagementService")],
                "RequestPowerStateChange",
                &params,
            ),
        );
        assert_eq!(code, 200, "{body}");
        texts(&xml(&body), "ReturnValue").join("")
    };
    let cs = epr_xml(
        "CIM_ComputerSystem",
        &[
            ("CreationClassName", "CIM_ComputerSystem"),
            ("Name", "hv01"),
        ],
    );
    let bogus = epr_xml(
        "CIM_ComputerSystem",
        &[
            ("CreationClassName", "CIM_ComputerSystem"),
            ("Name", "nosuchhost"),
        ],
    );
    assert_eq!(rpsc("42", &cs), "5", "not a PowerState: Invalid Parameter");
    assert_eq!(rpsc("banana", &cs), "5");
    assert_eq!(rpsc("4", &cs), "1", "sleep: Not Supported");
    assert_eq!(rpsc("6", &bogus), "5", "bogus ManagedElement");
    assert_eq!(dc.machine_state("hv01").unwrap().power, "on");
    assert_eq!(rpsc("10", &cs), "0", "master bus reset");
    assert_eq!(dc.machine_state("hv01").unwrap().power, "booting");

    // Unknown class and unknown method: faults that name them.
    let out = pypsrp(&dc, "bmc01", "admin", "password", &ca, &["faults"]);
    let f = line(&out, "UNKNOWN_CLASS_FAULT");
    assert!(
        f.starts_with("2150858752 ") && f.contains("CIM_NoSuchClass"),
        "{f}"
    );
    let f = line(&out, "UNKNOWN_METHOD_FAULT");
    assert!(
        f.starts_with("2150858771 ") && f.contains("SelfDestruct"),
        "{f}"
    );
    // The WinRM shell is not a BMC resource.
    let (code, _, body) = curl(
        &dc,
        "bmc01",
        &basic,
        &ca,
        &envelope(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd",
            &[],
            "",
        ),
    );
    assert_eq!(code, 500);
    assert!(body.contains("w:DestinationUnreachable"), "{body}");
    let _ = std::fs::remove_file(ca);
}

#[test]
fn anonymous_identify_and_check_probe() {
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, "identify");
    let (code, _, body) = curl(
        &dc,
        "bmc01",
        &[],
        &ca,
        &fakedc_wsman::client::identify_request(),
    );
    assert_eq!(code, 200, "{body}");
    let x = xml(&body);
    assert_eq!(texts(&x, "ProductVendor"), ["Fabrikam"]);
    assert_eq!(texts(&x, "ProductVersion"), ["BMC firmware 7.10.30"]);
    // Anything else without credentials is a 401 with the challenges.
    let (code, headers, _) = curl(
        &dc,
        "bmc01",
        &[],
        &ca,
        &envelope(GET, &format!("{CIM}CIM_Chassis"), &[], ""),
    );
    assert_eq!(code, 401);
    assert!(
        headers.contains("Digest realm=\"bmc01 BMC\"") && headers.contains("Basic"),
        "{headers}"
    );

    let eps: Vec<_> = dc
        .endpoints()
        .iter()
        .filter(|e| e.service == ServiceKind::Smash)
        .cloned()
        .collect();
    assert_eq!(eps.len(), 2);
    let rt = tokio::runtime::Runtime::new().unwrap();
    for creds in [None, Some(("admin".to_string(), "password".to_string()))] {
        let opts = fakedc::check::CheckOptions {
            credentials: creds.clone(),
            ..Default::default()
        };
        let rows = rt.block_on(fakedc::check::run(&eps, &opts, |_, _| {}));
        let smash: Vec<_> = rows
            .iter()
            .filter(|r| r.service == Some(ServiceKind::Smash))
            .collect();
        assert_eq!(smash.len(), 2);
        for r in smash {
            assert_eq!(r.verdict, fakedc::check::Verdict::Verified, "{}", r.detail);
            if creds.is_some() {
                assert!(
                    r.detail.contains("Base Server") && r.detail.contains("Record Log"),
                    "{}",
                    r.detail
                );
            }
        }
    }
    let wrong = fakedc::check::CheckOptions {
        credentials: Some(("admin".into(), "nope".into())),
        ..Default::default()
    };
    let rows = rt.block_on(fakedc::check::run(&eps, &wrong, |_, _| {}));
    assert!(rows
        .iter()
        .filter(|r| r.service == Some(ServiceKind::Smash))
        .all(|r| r.verdict == fakedc::check::Verdict::AuthFailure));
    let _ = std::fs::remove_file(ca);
}

#[test]
fn hostile_input_and_the_busy_fault_rule() {
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, "hostile");
    let basic = ["--basic", "-u", "admin:password"];
    for (body, subcode) in [
        ("<s:Envelope", "w:SchemaValidationError"),
        (
            r#"<!DOCTYPE x [<!ENTITY a "aaaa">]><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&a;</s:Body></s:Envelope>"#,
            "w:SchemaValidationError",
        ),
        (
            r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body/></s:Envelope>"#,
            "a:MessageInformationHeaderRequired",
        ),
    ] {
        let (code, _, answer) = curl(&dc, "bmc01", &basic, &ca, body);
        assert_eq!(code, 500, "{body}: {answer}");
        assert_eq!(
            texts(&xml(&answer), "Value")[1],
            subcode,
            "{body}: {answer}"
        );
    }
    let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
    let (code, _, answer) = curl(&dc, "bmc01", &basic, &ca, &deep);
    assert_eq!(code, 500, "{answer}");
    // The BMC still serves.
    let (code, _, _) = curl(
        &dc,
        "bmc01",
        &basic,
        &ca,
        &envelope(GET, &format!("{CIM}CIM_Chassis"), &[], ""),
    );
    assert_eq!(code, 200);
    // busy: every request answers 503 until the rule goes.
    let id = dc.add_fault(fakedc::FaultRule {
        id: 0,
        machine: Some("bmc01".into()),
        service: Some("smash".into()),
        kind: fakedc::FaultKind::Busy,
    });
    let (code, _, _) = curl(
        &dc,
        "bmc01",
        &basic,
        &ca,
        &envelope(GET, &format!("{CIM}CIM_Chassis"), &[], ""),
    );
    assert_eq!(code, 503);
    assert!(dc.remove_fault(id));
    let (code, _, _) = curl(
        &dc,
        "bmc01",
        &basic,
        &ca,
        &envelope(GET, &format!("{CIM}CIM_Chassis"), &[], ""),
    );
    assert_eq!(code, 200);
    let _ = std::fs::remove_file(ca);
}
