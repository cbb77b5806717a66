//! Storage management with real clients: pywbem 1.9 against an array's
//! SMI-S provider (CIM-XML on 5988 and 5989, `tests/python/smis_pywbem.py`),
//! then pypsrp's WSMan Enumerate of the VMM server's Storage Management
//! Service classes and of a host's MSFT_Disk (`tests/python/storage_wmi.py`)
//! over the same storage state. Hostile CIM-XML over raw TCP. A missing
//! client fails these tests; `./scripts/test` installs pywbem and pypsrp.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use crate::common::{ca_file, line, lines, python};
use fakedc::{Datacenter, Query, ServiceKind};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const SCENARIO: &str = r#"
[[machine]]
name = "vmm01"
role = "vmm-server"
address = "127.86.0.10"
[machine.options.storage]
arrays = ["array01"]

[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.86.0.20"

[[machine]]
name = "hv02"
role = "hyperv-host"
address = "127.86.0.21"

[[machine]]
name = "array01"
role = "storage-array"
address = "127.86.0.50"

[machine.options.storage]
target_ports = 2

[[machine.options.storage.pool]]
name = "Gold"
capacity_gib = 2048

[[machine.options.storage.pool]]
name = "Tiny"
capacity_gib = 10

[[machine.options.storage.volume]]
name = "csv01"
pool = "Gold"
size_gib = 500
hosts = ["hv01"]

[[machine.options.storage.volume]]
name = "scratch"
pool = "Tiny"
size_gib = 8
"#;

const USER: &str = "Administrator";
const PASS: &str = "P@ssw0rd!";

fn start() -> Datacenter {
    Datacenter::builder()
        .scenario_str(SCENARIO)
        .ephemeral()
        .protocols(&["smis", "wsman"])
        .start()
        .expect("start")
}

fn url(dc: &Datacenter, kind: ServiceKind) -> String {
    let ep = dc.endpoint("array01", kind).expect("smis endpoint");
    let scheme = if kind == ServiceKind::SmisHttps {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{ep}")
}

fn wmi(dc: &Datacenter, machine: &str, class: &str) -> Vec<String> {
    let ep = dc
        .endpoint(machine, ServiceKind::WinrmHttp)
        .expect("winrm endpoint");
    let out = python(
        "pypsrp",
        "storage_wmi.py",
        &[
            &ep.ip().to_string(),
            &ep.port().to_string(),
            USER,
            PASS,
            class,
        ],
    );
    lines(&out, "ITEM").iter().map(|s| s.to_string()).collect()
}

/// hv02's iSCSI initiator name, as Windows names it by default.
fn hv02_iqn(dc: &Datacenter) -> String {
    fakedc_model::storage::initiator_iqn(&dc.model().find("hv02").unwrap().dns_name)
}

fn run_pywbem(dc: &Datacenter, kind: ServiceKind, pull: &str, volume: &str) -> String {
    let ca = ca_file(dc, &format!("smis-{pull}"));
    let out = python(
        "pywbem",
        "smis_pywbem.py",
        &[
            &url(dc, kind),
            USER,
            PASS,
            ca.to_str().unwrap(),
            pull,
            &hv02_iqn(dc),
            volume,
        ],
    );
    let _ = std::fs::remove_file(ca);
    out
}

/// Everything the issue's "done when" asks, through pywbem (classic
/// operations, HTTP 5988), then the same volume seen over WinRM.
#[test]
fn pywbem_profiles_pools_volumes_jobs_and_masking_then_wmi_sees_them() {
    let dc = start();
    let out = run_pywbem(&dc, ServiceKind::SmisHttp, "no", "smis-vol1");
    let profiles = lines(&out, "PROFILE");
    for p in [
        "Array 1.6.1 11",
        "Block Services 1.6.1 11",
        "Masking and Mapping 1.6.1 11",
        "Server 1.6.1 11",
    ] {
        assert!(profiles.contains(&p), "{p} missing from {profiles:?}");
    }
    assert_eq!(line(&out, "SUBPROFILES"), "4");
    assert_eq!(line(&out, "SYSTEM"), "array01 root/cimv2");
    let pools = lines(&out, "POOL");
    assert!(
        pools.contains(&"Gold False 2199023255552 1662152343552"),
        "{pools:?}"
    );
    assert!(pools
        .iter()
        .any(|p| p.starts_with("Primordial True 2209760673792")));
    let vols = lines(&out, "VOLUME");
    assert_eq!(vols.len(), 2, "{vols:?}");
    assert!(
        vols[0].starts_with("csv01 536870912000 60A0B0C"),
        "{vols:?}"
    );
    assert_eq!(line(&out, "VOLUME_NAMES"), "2");
    assert_eq!(line(&out, "GOLD_VOLUMES"), "1");
    assert_eq!(line(&out, "REFS"), "3", "primordial + Gold + Tiny");
    assert_eq!(line(&out, "CREATE"), "4096");
    assert_eq!(line(&out, "JOB"), "7 100");
    let new = line(&out, "NEWVOLUME");
    assert!(new.starts_with("smis-vol1 10737418240 60A0B0C"), "{new}");
    let wwn = new.rsplit(' ').next().unwrap().to_string();
    assert_eq!(line(&out, "EXPOSE"), "0 1");
    assert_eq!(line(&out, "VIEW"), hv02_iqn(&dc));
    assert_eq!(line(&out, "RETURN"), "4 0 0 CIM_ERR_NOT_FOUND");
    assert_eq!(line(&out, "SMALLPOOL_CREATE"), "4096");
    let bad = line(&out, "SMALLPOOL_JOB");
    assert!(
        bad.starts_with("10 Insufficient free space in pool Tiny"),
        "{bad}"
    );
    assert_eq!(line(&out, "OVERSIZE"), "4097 2147483648");
    assert_eq!(line(&out, "UNKNOWN_CLASS"), "5 CIM_ERR_INVALID_CLASS");
    assert_eq!(line(&out, "BAD_NAMESPACE"), "CIM_ERR_INVALID_NAMESPACE");
    assert!(line(&out, "WRONG_PASSWORD").starts_with("AuthError"));

    // The VMM server's Storage Management Service sees the new volume...
    let vds = wmi(&dc, "vmm01", "MSFT_VirtualDisk");
    assert!(
        vds.iter()
            .any(|v| v.starts_with(&format!("smis-vol1|{wwn}|10737418240"))),
        "{vds:?}"
    );
    assert!(wmi(&dc, "vmm01", "MSFT_StorageSubSystem")[0].starts_with("array01|"));
    assert_eq!(wmi(&dc, "vmm01", "MSFT_StoragePool").len(), 2);
    // ... and hv02, to whose initiator it was exposed, has it as a disk;
    // hv01 sees only csv01.
    let hv02 = wmi(&dc, "hv02", "MSFT_Disk");
    assert!(
        hv02.iter()
            .any(|d| d.starts_with(&format!("Contoso FakeArray 9000|{wwn}|"))),
        "{hv02:?}"
    );
    let hv01 = wmi(&dc, "hv01", "MSFT_Disk");
    assert_eq!(hv01.len(), 2, "boot disk + csv01: {hv01:?}");
    assert!(!hv01.iter().any(|d| d.contains(&wwn)));

    // Journal: one entry per operation, with the outcome.
    let j = dc.journal(&Query {
        machine: Some("array01".into()),
        ..Default::default()
    });
    assert!(j
        .iter()
        .any(|e| e.operation == "CreateOrModifyElementFromStoragePool"
            && e.outcome == "ReturnValue 4096"));
    assert!(j.iter().any(|e| e.outcome.starts_with("auth failure")));
}

/// pywbem's default (pull operations first) over HTTPS 5989 verifying the
/// scenario CA: IterEnumerateInstances opens an enumeration and pulls the
/// rest two at a time; its other Iter operations fall back to the classic
/// ones where the provider answers CIM_ERR_NOT_SUPPORTED.
#[test]
fn pywbem_over_https_with_pull_operations() {
    let dc = start();
    let out = run_pywbem(&dc, ServiceKind::SmisHttps, "either", "smis-tls");
    assert!(lines(&out, "PROFILE").contains(&"Array 1.6.1 11"));
    assert_eq!(lines(&out, "PROFILE").len(), 6);
    assert_eq!(line(&out, "JOB"), "7 100");
    let j = dc.journal(&Query {
        machine: Some("array01".into()),
        ..Default::default()
    });
    let ops = |name: &str| j.iter().filter(|e| e.operation == name).count();
    assert!(j
        .iter()
        .any(|e| e.operation == "OpenEnumerateInstances" && e.outcome == "ok (2)"));
    assert!(ops("PullInstancesWithPath") >= 2, "{j:?}");
}

/// A virtual disk created through the VMM server's WMI
/// (MSFT_StoragePool.CreateVirtualDisk) is a CIM_StorageVolume of the
/// array, and DeleteObject returns it to the pool.
#[test]
fn a_wmi_virtual_disk_is_an_smis_volume() {
    let dc = start();
    let ep = dc.endpoint("vmm01", ServiceKind::WinrmHttp).unwrap();
    let (ip, port) = (ep.ip().to_string(), ep.port().to_string());
    let run = |args: &[&str]| {
        let mut all = vec![ip.as_str(), port.as_str(), USER, PASS];
        all.extend_from_slice(args);
        python("pypsrp", "storage_wmi.py", &all)
    };
    let out = run(&["create", "Gold", "wmi-vd1", "21474836480"]);
    assert_eq!(line(&out, "CREATE"), "0");
    let out = run(&["create", "Tiny", "wmi-toobig", "5368709120"]);
    assert_eq!(line(&out, "CREATE"), "4", "no room in Tiny");
    let smis = dc.endpoint("array01", ServiceKind::SmisHttp).unwrap();
    let names = enumerate_volume_names(smis);
    assert_eq!(names.matches("<INSTANCENAME ").count(), 3, "{names}");
    // The pool's virtual disks through MSFT_StoragePoolToVirtualDisk.
    let out = run(&[
        "assoc",
        "MSFT_StoragePool",
        "Gold",
        "MSFT_StoragePoolToVirtualDisk",
        "MSFT_VirtualDisk",
    ]);
    let mut names: Vec<&str> = lines(&out, "ITEM")
        .iter()
        .map(|l| l.split('|').next().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["csv01", "wmi-vd1"], "{out}");
    let out = run(&["delete", "wmi-vd1"]);
    assert_eq!(line(&out, "DELETE"), "0");
    // csv01 is exposed to hv01: the array refuses to delete it.
    let out = run(&["delete", "csv01"]);
    assert_eq!(line(&out, "DELETE"), "4");
    assert_eq!(
        enumerate_volume_names(smis)
            .matches("<INSTANCENAME ")
            .count(),
        2
    );
}

fn raw_post(addr: SocketAddr, headers: &str, body: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "POST /cimom HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

const GOOD: &str = "Content-Type: application/xml\r\nCIMOperation: MethodCall\r\nCIMMethod: EnumerateInstanceNames\r\nCIMObject: root/cimv2\r\nAuthorization: Basic QWRtaW5pc3RyYXRvcjpQQHNzdzByZCE=\r\n";

fn enumerate_volume_names(addr: SocketAddr) -> String {
    raw_post(
        addr,
        GOOD,
        br#"<?xml version="1.0" encoding="utf-8" ?><CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="9" PROTOCOLVERSION="1.0"><SIMPLEREQ><IMETHODCALL NAME="EnumerateInstanceNames"><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="cimv2"/></LOCALNAMESPACEPATH><IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="CIM_StorageVolume"/></IPARAMVALUE></IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>"#,
    )
}

/// Malformed CIM-XML, an entity bomb, a huge body, a missing CIMOperation
/// and no credentials each get their DSP0200 answer, and the provider
/// keeps serving.
#[test]
fn hostile_cim_xml_is_refused_and_the_provider_keeps_serving() {
    let dc = start();
    let ep = dc.endpoint("array01", ServiceKind::SmisHttp).unwrap();
    let r = raw_post(ep, GOOD, b"<CIM><MESSAGE ID=\"1\"><SIMPLEREQ><IMETHODCALL");
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    assert!(
        r.to_ascii_lowercase()
            .contains("cimerror: request-not-well-formed"),
        "{r}"
    );
    let bomb = br#"<?xml version="1.0"?><!DOCTYPE CIM [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="&c;" PROTOCOLVERSION="1.0"/></CIM>"#;
    let r = raw_post(ep, GOOD, bomb);
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    assert!(r
        .to_ascii_lowercase()
        .contains("cimerror: request-not-well-formed"));
    let r = raw_post(
        ep,
        GOOD,
        b"<CIM><MESSAGE ID=\"1\"><SIMPLEREQ/></MESSAGE></CIM>",
    );
    assert!(
        r.to_ascii_lowercase()
            .contains("cimerror: request-not-valid"),
        "{r}"
    );
    let huge = vec![b'<'; 5 << 20];
    let r = raw_post(ep, GOOD, &huge);
    assert!(r.starts_with("HTTP/1.1 413"), "{}", &r[..r.len().min(200)]);
    let r = raw_post(
        ep,
        "Content-Type: application/xml\r\nAuthorization: Basic QWRtaW5pc3RyYXRvcjpQQHNzdzByZCE=\r\n",
        b"<CIM/>",
    );
    assert!(
        r.to_ascii_lowercase()
            .contains("cimerror: unsupported-operation"),
        "{r}"
    );
    let r = raw_post(
        ep,
        "Content-Type: application/xml\r\nCIMOperation: MethodCall\r\n",
        b"<CIM/>",
    );
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    assert!(
        r.contains("WWW-Authenticate: Basic realm=\"array01 SMI-S\""),
        "{r}"
    );
    // An unknown intrinsic operation is CIM_ERR_NOT_SUPPORTED inside a 200.
    let r = raw_post(
        ep,
        GOOD,
        br#"<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="5" PROTOCOLVERSION="1.0"><SIMPLEREQ><IMETHODCALL NAME="ExecQuery"><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="cimv2"/></LOCALNAMESPACEPATH></IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>"#,
    );
    assert!(
        r.contains("<ERROR CODE=\"7\" DESCRIPTION=\"ExecQuery is not implemented"),
        "{r}"
    );
    // A forged enumeration context is CIM_ERR_INVALID_ENUMERATION_CONTEXT.
    let r = raw_post(
        ep,
        GOOD,
        br#"<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="6" PROTOCOLVERSION="1.0"><SIMPLEREQ><IMETHODCALL NAME="PullInstancesWithPath"><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="cimv2"/></LOCALNAMESPACEPATH><IPARAMVALUE NAME="EnumerationContext"><VALUE>smis1:root/interop:CIM_Nope:x</VALUE></IPARAMVALUE><IPARAMVALUE NAME="MaxObjectCount"><VALUE>5</VALUE></IPARAMVALUE></IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>"#,
    );
    assert!(r.contains("<ERROR CODE=\"21\""), "{r}");
    // Still serving.
    let ok = enumerate_volume_names(ep);
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(
        ok.to_ascii_lowercase()
            .contains("cimoperation: methodresponse"),
        "{ok}"
    );
    assert_eq!(ok.matches("<INSTANCENAME ").count(), 2);
}

/// `check`'s probe: profiles with credentials over HTTPS.
#[test]
fn probe_reports_the_registered_profiles() {
    let dc = start();
    let ep = dc.endpoint("array01", ServiceKind::SmisHttps).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(fakedc_smis::probe::probe(
        ep,
        true,
        Some((USER, PASS)),
        Duration::from_secs(10),
    ));
    assert_eq!(
        r.verdict,
        fakedc_net::ProbeVerdict::Verified,
        "{}",
        r.detail
    );
    assert!(r.detail.contains("Array"), "{}", r.detail);
    let r = rt.block_on(fakedc_smis::probe::probe(
        ep,
        true,
        Some((USER, "nope")),
        Duration::from_secs(10),
    ));
    assert_eq!(r.verdict, fakedc_net::ProbeVerdict::AuthFailure);
    // WinRM's probe on the VMM server lists the Storage Management
    // Service's subsystems (an NTLM-sealed Enumerate of MSFT_StorageSubSystem).
    let winrm = dc.endpoint("vmm01", ServiceKind::WinrmHttp).unwrap();
    let r = rt.block_on(fakedc_wsman::probe::probe(
        winrm,
        false,
        Some((USER, PASS)),
        Duration::from_secs(10),
    ));
    assert_eq!(
        r.verdict,
        fakedc_net::ProbeVerdict::Verified,
        "{}",
        r.detail
    );
    assert!(
        r.detail.ends_with("; storage subsystems: array01"),
        "{}",
        r.detail
    );
}

/// The busy fault rule: every CIM-XML request answers 503 until the rule
/// goes, and the array answers again; journaled.
#[test]
fn busy_fault_answers_503_until_removed() {
    let dc = start();
    let ep = dc.endpoint("array01", ServiceKind::SmisHttp).unwrap();
    let id = dc.add_fault(fakedc::FaultRule {
        id: 0,
        machine: Some("array01".into()),
        service: Some("smis-http".into()),
        kind: fakedc::FaultKind::Busy,
    });
    let r = enumerate_volume_names(ep);
    assert!(r.starts_with("HTTP/1.1 503"), "{r}");
    assert!(dc.remove_fault(id));
    let r = enumerate_volume_names(ep);
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    let j = dc.journal(&Query {
        machine: Some("array01".into()),
        ..Default::default()
    });
    assert!(j.iter().any(|e| e.outcome == "busy (fault rule): 503"));
}
